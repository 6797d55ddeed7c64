//! The `convflops` binary: parse, run the subcommand, map errors to exit codes (1 error, 2 usage).

use std::process::ExitCode;

use clap::Parser;

use cli::Cli;

mod cli;
mod commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Control characters from file names or file contents (ANSI escapes) are escaped, line by line.
            let message = format!("{error:#}");
            let lines: Vec<_> = message.lines().map(convflops::units::printable).collect();
            eprintln!("error: {}", lines.join("\n"));
            ExitCode::from(1)
        }
    }
}
