//! One function per subcommand: turn parsed arguments into library calls and print the result.

use anyhow::{Context, Result};

use convflops::cli::{Cli, Command, CountArgs};
use convflops::cost::LayerCost;
use convflops::explain;
use convflops::export::{json, table};

mod compare;
mod gpu;
mod model;
mod peak;
mod sweep;
mod tune;

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Count(args)) => count(args),
        Some(Command::Model(args)) => model::run(args),
        Some(Command::Devices(args)) => gpu::devices(args),
        Some(Command::Run(args)) => gpu::run(args),
        Some(Command::Verify(args)) => gpu::verify(args),
        Some(Command::Explain(args)) => gpu::explain(args),
        Some(Command::Compare(args)) => compare::run(args),
        Some(Command::Peak(args)) => peak::run(args),
        Some(Command::Sweep(args)) => sweep::run(args),
        Some(Command::Tune(args)) => tune::run(args),
        None => compare::run(default_compare()?),
    }
}

/// `convflops` with no subcommand: `compare` with every default.
fn default_compare() -> Result<convflops::cli::CompareArgs> {
    use clap::Parser;
    match Cli::try_parse_from(["convflops", "compare"])?.command {
        Some(Command::Compare(args)) => Ok(args),
        _ => anyhow::bail!("`convflops compare` did not parse as the compare command"),
    }
}

fn count(args: CountArgs) -> Result<()> {
    let layer = args.layer.layer().validated()?;
    let cost = LayerCost::of(&layer)?;
    if args.json {
        print!(
            "{}",
            json::to_string(&json::CountJson::new(&layer)?).context("serialising the count")?
        );
    } else if args.explain {
        print!("{}", explain::formulas(&layer, &cost));
    } else {
        print!("{}", table::count(&layer, &cost));
    }
    Ok(())
}
