//! `convflops compare` (the main job, and what `convflops` with no subcommand runs).

use std::io::IsTerminal;

use anyhow::{Context, Result};

use crate::cli::{CompareArgs, FormatArg};
use convflops::bench::BenchSettings;
use convflops::compare::{self, Comparison};
use convflops::export::{self, csv, json, markdown, table};
use convflops::gpu::{GpuContext, Variant};

pub fn run(args: CompareArgs) -> Result<()> {
    let layer = args.layer.layer().validated().map_err(crate::cli::layer_flags_error)?;
    if let Some(path) = &args.roofline {
        convflops::export::plot::check_path("--roofline", path)?;
    }
    let mut outputs: Vec<(&str, Option<&std::path::Path>)> =
        args.export.files().into_iter().map(|(f, p)| (f, Some(p))).collect();
    outputs.push(("--roofline", args.roofline.as_deref()));
    super::check_outputs(&outputs, &[])?;
    let settings =
        BenchSettings::new(args.bench.warmup, args.bench.samples, args.bench.min_time).map_err(anyhow::Error::msg)?;
    let contexts = if args.all_adapters {
        GpuContext::every(&args.gpu.choice())?
    } else {
        vec![GpuContext::new(&args.gpu.choice())?]
    };
    let format = args.export.format();
    if format == FormatArg::Wide {
        table::set_width(None);
    }
    let talk = format.is_table() || std::io::stderr().is_terminal();
    // `--variant naive,tiled,vec4` compares kernel families side by side, each once.
    let mut comparisons: Vec<Comparison> = Vec::new();
    for ctx in &contexts {
        // `auto` resolves per adapter.
        let mut variants: Vec<Variant> = Vec::new();
        for v in &args.variant {
            let v = v.resolve(&ctx.summary);
            if !variants.contains(&v) {
                variants.push(v);
            }
        }
        if talk {
            eprint!(
                "{}",
                convflops::export::table::wrap(&format!("{}\n", ctx.summary.headline()))
            );
        }
        if talk && variants.contains(&Variant::Auto) {
            let auto = convflops::tune::AutoKernels::load(&ctx.summary);
            let note = auto.note(&ctx.summary, &[layer, layer.depthwise(), layer.pointwise()]);
            eprint!("{}", convflops::export::table::wrap(&format!("{note}\n")));
        }
        // A layer that a limit or the memory budget refuses is refused before any tuning or ceiling measurement.
        for variant in &variants {
            compare::check(ctx, &layer, *variant)
                .with_context(|| format!("comparing on {} ({} kernels)", ctx.summary.name, variant.name()))?;
        }
        if args.tune {
            let tune_settings = BenchSettings::new(1, 3, 0.2).map_err(anyhow::Error::msg)?;
            super::tune::tune_and_store(ctx, &layer, &tune_settings, true, talk)?;
        }
        let ceilings = if args.ceilings {
            Some(super::peak::ceilings_for(ctx, true, talk)?.0)
        } else {
            super::peak::cached_ceilings(ctx, &settings, talk)
        };
        for variant in &variants {
            if talk && variants.len() > 1 {
                eprintln!("  {} kernels:", variant.name());
            }
            let mut comparison = compare::run(ctx, &layer, *variant, &settings, |step| {
                if talk {
                    eprintln!("  timing {step}…");
                }
            })
            .with_context(|| format!("comparing on {} ({} kernels)", ctx.summary.name, variant.name()))?;
            comparison.ceilings = ceilings.clone();
            if format.is_table() {
                println!(
                    "{}",
                    super::once(&table::compare(&comparison), &ctx.summary.headline(), talk)
                );
            }
            comparisons.push(comparison);
        }
    }
    if comparisons.len() > 1 && format.is_table() {
        print!("{}", table::compare_summary(&comparisons));
    }
    // Every export is rendered before any is written, and each is written atomically. One adapter and one variant
    // give one JSON object, more give an array.
    let as_json = |comparisons: &[Comparison]| -> Result<String> {
        Ok(if args.all_adapters || comparisons.len() > 1 {
            json::to_string(&comparisons.iter().map(json::CompareJson::from).collect::<Vec<_>>())?
        } else {
            json::to_string(&json::CompareJson::from(&comparisons[0]))?
        })
    };
    let mut files = Vec::new();
    if let Some(path) = &args.export.export_json {
        files.push((path, as_json(&comparisons)?));
    }
    if let Some(path) = &args.export.export_csv {
        files.push((path, csv::to_string(&comparisons).context("rendering CSV")?));
    }
    if let Some(path) = &args.export.export_markdown {
        files.push((path, markdown::to_string(&comparisons)));
    }
    let files: Vec<(&std::path::Path, &[u8])> = files.iter().map(|(p, t)| (p.as_path(), t.as_bytes())).collect();
    export::write_all_atomically(&files).context("writing the exports (none was written)")?;
    if let Some(path) = &args.roofline {
        draw_roofline(path, &comparisons)?;
    }
    match format {
        FormatArg::Table | FormatArg::Wide => {}
        FormatArg::Json => print!("{}", as_json(&comparisons)?),
        FormatArg::Csv => print!("{}", csv::to_string(&comparisons).context("rendering CSV")?),
        FormatArg::Markdown => print!("{}", markdown::to_string(&comparisons)),
    }
    Ok(())
}

/// `--roofline FILE`: the first adapter's roofline with its convs, for every variant timed on it (labelled by variant
/// when there are several); the ceilings must be known.
fn draw_roofline(path: &std::path::Path, comparisons: &[Comparison]) -> Result<()> {
    let Some(c) = comparisons.first() else { return Ok(()) };
    let same_adapter: Vec<&Comparison> = comparisons
        .iter()
        .filter(|o| o.adapter.index == c.adapter.index)
        .collect();
    let ceilings = c.ceilings.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "--roofline needs the ceilings of {}: run `convflops peak` first, or add --ceilings",
            c.adapter.name
        )
    })?;
    let l = &c.layer;
    let title = format!(
        "roofline · {} · {}{} · {}×{}×{} → {}, {}×{}",
        c.adapter.name,
        c.adapter.backend,
        if c.adapter.software { " · CPU adapter" } else { "" },
        l.in_channels,
        l.height,
        l.width,
        l.out_channels,
        l.kernel[0],
        l.kernel[1]
    );
    let marks: Vec<_> = same_adapter
        .iter()
        .flat_map(|o| {
            export::plot::RooflineMark::of_comparison(o, (same_adapter.len() > 1).then(|| o.variant.name()), "")
        })
        .collect();
    convflops::export::plot::roofline(path, &title, ceilings, &marks)?;
    Ok(())
}
