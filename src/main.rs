//! The `convflops` binary: parse, run the subcommand, map errors to exit codes (1 error, 2 usage).

use std::process::ExitCode;

use clap::Parser;
use convflops::cli::Cli;

mod commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}
