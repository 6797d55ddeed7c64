//! One function per subcommand: turn parsed arguments into library calls and print the result.

use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::{layer_flags_error, Cli, Command, CountArgs};
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
    table::set_width(if cli.wide { None } else { table::terminal_width() });
    let backend = requested_backend(&cli.command);
    dispatch(cli).map_err(|error| with_adapter_hint(error, backend))
}

/// The `--backend` a GPU command asked for, if any.
fn requested_backend(command: &Option<Command>) -> Option<crate::cli::BackendArg> {
    match command.as_ref()? {
        Command::Model(a) => a.gpu.backend,
        Command::Devices(a) => a.gpu.backend,
        Command::Run(a) => a.gpu.backend,
        Command::Verify(a) => a.gpu.backend,
        Command::Explain(a) => a.backend,
        Command::Compare(a) => a.gpu.backend,
        Command::Peak(a) => a.gpu.backend,
        Command::Sweep(a) => a.gpu.backend,
        Command::Tune(a) => a.gpu.backend,
        Command::Count(_) => None,
    }
}

/// "No adapter" with a hint that fits: when a backend was asked for and other adapters exist, it names them;
/// otherwise it says what to install on this platform.
fn with_adapter_hint(error: anyhow::Error, backend: Option<crate::cli::BackendArg>) -> anyhow::Error {
    let no_adapter = error.chain().any(|e| {
        matches!(
            e.downcast_ref::<convflops::gpu::GpuError>(),
            Some(convflops::gpu::GpuError::NoAdapter)
        )
    });
    if !no_adapter {
        return error;
    }
    let others = convflops::gpu::context::list_adapters(None);
    let asked = backend
        .map(|b| format!("{b:?}").to_lowercase())
        .or_else(|| std::env::var("WGPU_BACKEND").ok().filter(|v| !v.is_empty()));
    if let (Some(asked), false) = (&asked, others.is_empty()) {
        let list: Vec<String> = others
            .iter()
            .map(|a| format!("{}: {} ({})", a.index, convflops::units::printable(&a.name), a.backend))
            .collect();
        let platform_note = match (asked.as_str(), std::env::consts::OS) {
            ("metal", os) if os != "macos" => " (Metal exists only on macOS)",
            ("dx12", os) if os != "windows" => " (DX12 exists only on Windows)",
            _ => "",
        };
        return anyhow::anyhow!(
            "no adapter of backend {asked}{platform_note}; this machine has {}: drop --backend (and WGPU_BACKEND) or \
             pick one of those",
            list.join(", ")
        );
    }
    let install = match std::env::consts::OS {
        "linux" => {
            "install Mesa's Vulkan drivers (lavapipe runs on the CPU): `sudo apt-get install mesa-vulkan-drivers`"
        }
        "macos" => "Metal ships with macOS 10.13 and later; check that the process may use the GPU",
        "windows" => "install or update the GPU driver (DX12, or Vulkan from the vendor)",
        _ => "install a Vulkan or OpenGL ES driver for this platform",
    };
    anyhow::anyhow!(
        "no GPU adapter found{}: {install}; check with `convflops devices`",
        asked.map_or(String::new(), |b| format!(" for backend {b}"))
    )
}

fn dispatch(cli: Cli) -> Result<()> {
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
fn default_compare() -> Result<crate::cli::CompareArgs> {
    use clap::Parser;
    match Cli::try_parse_from(["convflops", "compare"])?.command {
        Some(Command::Compare(args)) => Ok(args),
        _ => anyhow::bail!("`convflops compare` did not parse as the compare command"),
    }
}

/// True when stdout and stderr are one terminal: the adapter line printed on stderr before the work is then left
/// out of the stdout report, so it shows once.
pub(crate) fn same_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

/// `report` without its `headline` line when that line was already printed on stderr to the same terminal.
pub(crate) fn once(report: &str, headline: &str, announced: bool) -> String {
    if !(announced && same_terminal()) {
        return report.to_string();
    }
    let wrapped = convflops::export::table::wrap(headline);
    let without = |h: &str| report.replacen(&format!("{h}\n"), "", 1);
    if report.contains(&format!("{wrapped}\n")) {
        without(&wrapped)
    } else {
        without(headline)
    }
}

/// Every output path checked before any work (see [`convflops::export::check_outputs`]); `None`s are skipped.
pub(crate) fn check_outputs(outputs: &[(&str, Option<&Path>)], inputs: &[(&str, Option<&Path>)]) -> Result<()> {
    fn some<'a>(list: &[(&'a str, Option<&'a Path>)]) -> Vec<(&'a str, &'a Path)> {
        list.iter().filter_map(|&(flag, path)| Some((flag, path?))).collect()
    }
    Ok(convflops::export::check_outputs(&some(outputs), &some(inputs))?)
}

fn count(args: CountArgs) -> Result<()> {
    let layer = args.layer.layer().validated().map_err(layer_flags_error)?;
    let cost = LayerCost::of(&layer).map_err(layer_flags_error)?;
    if args.json {
        print!(
            "{}",
            json::to_string(&json::CountJson::new(&layer)?).context("serialising the count")?
        );
    } else if args.explain {
        print!("{}", table::wrap(&explain::formulas(&layer, &cost)));
    } else {
        print!("{}", table::count(&layer, &cost));
    }
    Ok(())
}
