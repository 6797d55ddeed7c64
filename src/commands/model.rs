//! `convflops model`: count a whole network layer by layer (a built-in or a JSON layer file); with `--run` or
//! `--compare`, run it on the adapter and time every layer.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{FormatArg, ModelArgs};
use convflops::bench::BenchSettings;
use convflops::export::{self, csv, json, markdown, plot, table, write_atomically};
use convflops::gpu::GpuContext;
use convflops::models::run::{self, NetworkComparison, NetworkRun, Step};
use convflops::models::{self, Network, Report};

pub fn run(args: ModelArgs) -> Result<()> {
    let plot_path = args.plot.as_deref();
    let outputs = [
        ("--export-layers", args.export_layers.as_deref()),
        ("--export-json", args.export_json.as_deref()),
        ("--export-csv", args.export_csv.as_deref()),
        ("--export-markdown", args.export_markdown.as_deref()),
        ("--plot", plot_path),
    ];
    let mut inputs: Vec<(&str, Option<&Path>)> = vec![("--file", args.file.as_deref())];
    for text in args.compare.iter().flatten() {
        inputs.push(("--compare", Some(Path::new(text))));
    }
    let format = FormatArg::chosen(args.format, args.json);
    let on_gpu = args.run || args.compare.is_some();
    if !on_gpu && matches!(format, FormatArg::Csv | FormatArg::Markdown) {
        anyhow::bail!(
            "--format {}: the counts print as table, wide or json; csv and markdown need --run or --compare",
            format!("{format:?}").to_lowercase()
        );
    }
    if format == FormatArg::Wide {
        convflops::export::table::set_width(None);
    }
    super::check_outputs(&outputs, &inputs)?;
    if on_gpu {
        return run_on_gpu(&args);
    }
    let network = match (&args.name, &args.file) {
        (Some(name), _) => models::builtin(name, args.batch)?,
        (None, Some(file)) => models::open(file, args.batch, args.input_shape.as_ref())?,
        (None, None) => anyhow::bail!(
            "give a model name ({}) or --file FILE",
            models::BUILTIN_NAMES.join(", ")
        ),
    };
    if let Some(path) = &args.export_layers {
        // The layer file has one batch for all layers (--batch when read); an ONNX graph can reshape it.
        if let (Some(first), Some(odd)) = (
            network.layers.first(),
            network
                .layers
                .iter()
                .find(|l| l.layer.batch != network.layers[0].layer.batch),
        ) {
            anyhow::bail!(
                "--export-layers: layer \"{}\" has batch {} but \"{}\" has {}; the layer file format has one batch \
                 for all layers",
                first.name,
                first.layer.batch,
                odd.name,
                odd.layer.batch
            );
        }
        let text = network.to_file_json().context("serialising the layer file")?;
        write_atomically(path, text.as_bytes())
            .with_context(|| format!("writing the layer file {}", path.display()))?;
        // A status line, on stderr: stdout may be the export itself (`--export-layers /dev/stdout`).
        eprintln!(
            "wrote the {} layers of {} to {}",
            network.layers.len(),
            network.name,
            path.display()
        );
        return Ok(());
    }
    let report = Report::of(&network)?;
    if format == FormatArg::Json {
        print!(
            "{}",
            json::to_string(&json::ModelJson::from(&report)).context("serialising the model report")?
        );
    } else {
        print!("{}", table::model_report(&report));
    }
    Ok(())
}

/// A `--compare` operand: a built-in name, else a layer file or an ONNX model.
fn network_named(text: &str, batch: u32) -> Result<Network> {
    let path = Path::new(text);
    let named_file = path.extension().is_some_and(|e| e == "json" || e == "onnx");
    if !models::BUILTIN_NAMES.contains(&text) && (named_file || path.is_file()) {
        Ok(models::open(path, batch, None)?)
    } else {
        Ok(models::builtin(text, batch)?)
    }
}

/// `--run` and `--compare`: every network is read and checked, then run on one adapter.
fn run_on_gpu(args: &ModelArgs) -> Result<()> {
    let networks = match (&args.compare, &args.name, &args.file) {
        (Some(pair), _, _) => pair
            .iter()
            .map(|text| network_named(text, args.batch))
            .collect::<Result<Vec<_>>>()?,
        (None, Some(name), _) => vec![models::builtin(name, args.batch)?],
        (None, None, Some(file)) => vec![models::open(file, args.batch, args.input_shape.as_ref())?],
        (None, None, None) => anyhow::bail!(
            "give a model name ({}), --file FILE or --compare A B",
            models::BUILTIN_NAMES.join(", ")
        ),
    };
    for network in &networks {
        Report::of(network)?;
    }
    if let Some(path) = &args.plot {
        plot::check_path("--plot", path)?;
    }
    let settings = BenchSettings::new(args.warmup, args.samples, args.min_time).map_err(anyhow::Error::msg)?;
    let ctx = GpuContext::new(&args.gpu.choice())?;
    let format = FormatArg::chosen(args.format, args.json);
    let talk = format.is_table() || std::io::stderr().is_terminal();
    if talk {
        eprint!(
            "{}",
            convflops::export::table::wrap(&format!("{}\n", ctx.summary.headline()))
        );
    }
    let variant = args.variant.resolve(&ctx.summary);
    if talk && variant == convflops::gpu::Variant::Auto {
        let layers: Vec<_> = networks.iter().flat_map(|n| n.layers.iter().map(|l| l.layer)).collect();
        let note = convflops::tune::AutoKernels::load(&ctx.summary).note(&ctx.summary, &layers);
        eprint!("{}", convflops::export::table::wrap(&format!("{note}\n")));
    }
    // A run that cannot fit (the memory budget) is refused before the ceilings are measured; with two networks the
    // other one still runs, and the refused one is reported by name below.
    let refusals: Vec<String> = networks
        .iter()
        .filter_map(|network| {
            let error = run::check(&ctx, network, variant).err()?;
            let error = anyhow::Error::new(error).context(format!("running {} on {}", network.name, ctx.summary.name));
            Some(format!("{error:#}"))
        })
        .collect();
    if refusals.len() == networks.len() {
        anyhow::bail!("{}", refusals.join("; "));
    }
    let ceilings = super::peak::cached_ceilings(&ctx, &settings, talk);

    // One step per layer, one for the whole network and one for the check, per network.
    let steps: usize = networks.iter().map(|n| n.layers.len() + 2).sum();
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}, about {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut runs: Vec<NetworkRun> = Vec::with_capacity(networks.len());
    let mut failed: Vec<String> = Vec::new();
    let mut done = 0u64;
    for network in &networks {
        bar.set_prefix(network.name.clone());
        let layers = network.layers.len() as u64;
        let result = run::run(&ctx, network, variant, &settings, |step| match step {
            Step::Preparing => bar.set_message("preparing the buffers"),
            Step::Layer { index, name } => {
                bar.set_position(done + index as u64);
                bar.set_message(format!("timing {name}"));
            }
            Step::Whole => {
                bar.set_position(done + layers);
                bar.set_message("timing the whole network");
            }
            Step::Checking => {
                bar.set_position(done + layers + 1);
                bar.set_message("checking against the CPU reference");
            }
        });
        done += layers + 2;
        bar.set_position(done);
        match result {
            Ok(mut run) => {
                run.ceilings = ceilings.clone();
                runs.push(run);
            }
            // A network that fails is reported by name; the other one is still shown and exported.
            Err(error) => {
                let error =
                    anyhow::Error::new(error).context(format!("running {} on {}", network.name, ctx.summary.name));
                bar.suspend(|| eprintln!("failed: {error:#}"));
                failed.push(format!("{error:#}"));
            }
        }
    }
    bar.finish_and_clear();
    if runs.is_empty() {
        anyhow::bail!("{}", failed.join("; "));
    }

    let comparison = match <[NetworkRun; 2]>::try_from(runs) {
        Ok([first, second]) => Output::Two(Box::new(NetworkComparison { first, second })),
        Err(mut runs) => match runs.pop() {
            Some(run) => Output::One(Box::new(run)),
            None => anyhow::bail!("no network was run"),
        },
    };
    let as_json = || -> Result<String> {
        Ok(match &comparison {
            Output::One(run) => json::to_string(&json::RunJson::from(run.as_ref()))?,
            Output::Two(c) => json::to_string(&json::ComparisonJson::from(c.as_ref()))?,
        })
    };
    if format.is_table() {
        match &comparison {
            Output::One(run) => print!(
                "{}",
                super::once(&table::network_run(run), &ctx.summary.headline(), talk)
            ),
            Output::Two(c) => {
                let first = super::once(&table::network_run(&c.first), &ctx.summary.headline(), talk);
                print!(
                    "{first}\n{}\n{}",
                    table::network_run(&c.second),
                    table::network_comparison(c)
                );
            }
        }
    }
    // Every export is rendered before any is written, and all are written or none.
    let run_refs = comparison.runs();
    let as_csv = || csv::model_runs_to_string(&run_refs).context("rendering CSV");
    let as_markdown = || {
        let lesson = match &comparison {
            Output::Two(c) => Some(format!("{}\n\n{}", c.ratios(), c.lesson())),
            Output::One(_) => None,
        };
        markdown::model_runs_to_string(&run_refs, lesson.as_deref())
    };
    let mut files: Vec<(&Path, String)> = Vec::new();
    if let Some(path) = &args.export_json {
        files.push((path, as_json()?));
    }
    if let Some(path) = &args.export_csv {
        files.push((path, as_csv()?));
    }
    if let Some(path) = &args.export_markdown {
        files.push((path, as_markdown()));
    }
    let files: Vec<(&Path, &[u8])> = files.iter().map(|(p, t)| (*p, t.as_bytes())).collect();
    export::write_all_atomically(&files).context("writing the exports (none was written)")?;
    if let Some(path) = &args.plot {
        draw_shares(path, &ctx, &run_refs)?;
    }
    match format {
        FormatArg::Table | FormatArg::Wide => {}
        FormatArg::Json => print!("{}", as_json()?),
        FormatArg::Csv => print!("{}", as_csv()?),
        FormatArg::Markdown => print!("{}", as_markdown()),
    }
    // A network or a layer that failed is named with its error; what ran is shown and exported above.
    let mut problems = Vec::new();
    if !failed.is_empty() {
        problems.push(format!(
            "{} of {} networks failed (the other is shown and exported): {}",
            failed.len(),
            networks.len(),
            failed.join("; ")
        ));
    }
    let layer_failures: Vec<String> = run_refs
        .iter()
        .flat_map(|run| run.failed.iter().map(move |f| format!("{}: {f}", run.model())))
        .collect();
    if !layer_failures.is_empty() {
        problems.push(format!(
            "{} layer{} failed (the others are shown and exported): {}",
            layer_failures.len(),
            if layer_failures.len() == 1 { "" } else { "s" },
            layer_failures.join("; ")
        ));
    }
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("; "));
    }
    Ok(())
}

/// One network run, or two compared.
enum Output {
    One(Box<NetworkRun>),
    Two(Box<NetworkComparison>),
}

impl Output {
    fn runs(&self) -> Vec<&NetworkRun> {
        match self {
            Output::One(run) => vec![run],
            Output::Two(c) => vec![&c.first, &c.second],
        }
    }
}

/// `--plot FILE`: each layer kind's share of the FLOPs beside its share of the time, per network.
fn draw_shares(path: &Path, ctx: &GpuContext, runs: &[&NetworkRun]) -> Result<()> {
    let two = runs.len() > 1;
    let groups: Vec<plot::ShareBars> = runs
        .iter()
        .flat_map(|run| {
            run.by_kind().into_iter().map(move |k| plot::ShareBars {
                label: if two {
                    format!("{}\n{}", k.kind, run.model())
                } else {
                    k.kind.name().to_string()
                },
                flops_share: k.flops_share,
                time_share: k.time_share,
            })
        })
        .collect();
    let title = format!(
        "{}share of FLOPs vs share of time per layer kind · {} · {}{}",
        match runs {
            [one] => format!("{}: ", one.model()),
            _ => String::new(),
        },
        ctx.summary.name,
        ctx.summary.backend,
        if ctx.summary.software { " · CPU adapter" } else { "" }
    );
    plot::shares(path, &title, &groups)?;
    Ok(())
}
