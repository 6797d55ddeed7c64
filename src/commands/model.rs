//! `convflops model`: count a whole network layer by layer (a built-in or a JSON layer file).

use anyhow::{Context, Result};

use convflops::cli::ModelArgs;
use convflops::export::{json, write_atomically};
use convflops::models::{self, Report};

pub fn run(args: ModelArgs) -> Result<()> {
    let network = match (&args.name, &args.file) {
        (Some(name), _) => models::builtin(name, args.batch)?,
        (None, Some(file)) => models::load(file, args.batch)?,
        (None, None) => anyhow::bail!(
            "give a model name ({}) or --file FILE",
            models::BUILTIN_NAMES.join(", ")
        ),
    };
    if let Some(path) = &args.export_layers {
        let text = network.to_file_json().context("serialising the layer file")?;
        write_atomically(path, text.as_bytes())
            .with_context(|| format!("writing the layer file {}", path.display()))?;
        println!(
            "wrote the {} layers of {} to {}",
            network.layers.len(),
            network.name,
            path.display()
        );
        return Ok(());
    }
    let report = Report::of(&network)?;
    if args.json {
        print!(
            "{}",
            json::to_string(&report.to_json()).context("serialising the model report")?
        );
    } else {
        print!("{}", report.table());
    }
    Ok(())
}
