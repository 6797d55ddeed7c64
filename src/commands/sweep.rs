//! `convflops sweep`: vary one layer flag, measure at each value, tabulate, export and plot.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::cli::{FormatArg, SweepArgs};
use convflops::bench::BenchSettings;
use convflops::cost::ConvKind;
use convflops::export::{self, csv, json, plot, table::new_table};
use convflops::gpu::GpuContext;
use convflops::sweep::{self, SweepPoint};
use convflops::units::{flops_count, flops_rate, seconds};

#[derive(Serialize)]
struct PointJson {
    value: u32,
    comparison: json::CompareJson,
}

#[derive(Serialize)]
struct SweepJson {
    adapter: json::AdapterJson,
    vary: &'static str,
    points: Vec<PointJson>,
    /// The values that could not be measured, each with its error.
    failures: Vec<FailureJson>,
}

#[derive(Serialize)]
struct FailureJson {
    value: u32,
    error: String,
}

pub fn run(args: SweepArgs) -> Result<()> {
    let base = args.layer.layer();
    // Every layer of the sweep is checked before anything is measured.
    sweep::layers(&base, &args.vary).map_err(crate::cli::layer_flags_error)?;
    if let Some(path) = &args.plot {
        plot::check_path("--plot", path)?;
    }
    if let Some(path) = &args.roofline {
        plot::check_path("--roofline", path)?;
    }
    let mut outputs: Vec<(&str, Option<&std::path::Path>)> =
        args.export.files().into_iter().map(|(f, p)| (f, Some(p))).collect();
    outputs.push(("--plot", args.plot.as_deref()));
    outputs.push(("--roofline", args.roofline.as_deref()));
    super::check_outputs(&outputs, &[])?;
    let settings =
        BenchSettings::new(args.bench.warmup, args.bench.samples, args.bench.min_time).map_err(anyhow::Error::msg)?;
    let ctx = GpuContext::new(&args.gpu.choice())?;
    let format = args.export.format();
    if format == FormatArg::Wide {
        convflops::export::table::set_width(None);
    }
    let talk = format.is_table() || std::io::stderr().is_terminal();
    if talk {
        eprint!(
            "{}",
            convflops::export::table::wrap(&format!("{}\n", ctx.summary.headline()))
        );
    }
    if talk && args.variant.resolve(&ctx.summary) == convflops::gpu::Variant::Auto {
        let note = convflops::tune::AutoKernels::load(&ctx.summary).note(&ctx.summary, &[]);
        eprint!("{}", convflops::export::table::wrap(&format!("{note}\n")));
    }
    let ceilings = if args.ceilings {
        Some(super::peak::ceilings_for(&ctx, true, talk)?.0)
    } else {
        super::peak::cached_ceilings(&ctx, &settings, talk)
    };
    let bar = ProgressBar::new(args.vary.values.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix("sweep");
    let flag = args.vary.axis.flag();
    let swept = sweep::run(
        &ctx,
        &base,
        &args.vary,
        args.variant.resolve(&ctx.summary),
        &settings,
        |i, value| {
            bar.set_position(i as u64);
            bar.set_message(format!("--{flag} {value}"));
        },
    )
    .with_context(|| format!("sweeping --{flag} on {}", ctx.summary.name))?;
    bar.finish_and_clear();
    let (mut points, failures) = (swept.points, swept.failures);
    let failed: Vec<String> = failures
        .iter()
        .map(|f| format!("--{flag} {}: {}", f.value, f.error))
        .collect();
    for line in &failed {
        eprintln!("failed: {line}");
    }
    if points.is_empty() {
        anyhow::bail!(
            "no value of --{flag} could be measured ({} failed); nothing is exported",
            failures.len()
        );
    }
    for point in &mut points {
        point.comparison.ceilings = ceilings.clone();
    }

    if format.is_table() {
        print!(
            "{}",
            super::once(&render_table(&ctx, flag, &points), &ctx.summary.headline(), talk)
        );
    }
    let as_json = || -> Result<String> {
        let out = SweepJson {
            adapter: (&ctx.summary).into(),
            vary: flag,
            points: points
                .iter()
                .map(|p| PointJson {
                    value: p.value,
                    comparison: (&p.comparison).into(),
                })
                .collect(),
            failures: failures
                .iter()
                .map(|f| FailureJson {
                    value: f.value,
                    error: f.error.to_string(),
                })
                .collect(),
        };
        Ok(json::to_string(&out)?)
    };
    let mut files: Vec<(&std::path::Path, String)> = Vec::new();
    if let Some(path) = &args.export.export_json {
        files.push((path, as_json()?));
    }
    if let Some(path) = &args.export.export_csv {
        files.push((path, csv::sweep_to_string(flag, &points).context("rendering CSV")?));
    }
    if let Some(path) = &args.export.export_markdown {
        files.push((path, convflops::export::markdown::sweep_to_string(flag, &points)));
    }
    let files: Vec<(&std::path::Path, &[u8])> = files.iter().map(|(p, t)| (*p, t.as_bytes())).collect();
    export::write_all_atomically(&files).context("writing the exports (none was written)")?;

    let cpu = if ctx.summary.software { " · CPU adapter" } else { "" };
    if let Some(path) = &args.plot {
        let series = |kind: ConvKind| plot::Series {
            label: format!("{kind} (measured)"),
            points: points
                .iter()
                .filter_map(|p| p.flops_and_time(kind))
                .map(|(f, t)| (f as f64, t))
                .collect(),
        };
        let standard = series(ConvKind::Standard);
        // The line FLOPs alone predict: the standard conv's seconds per FLOP, fitted through the origin.
        let (xy, xx) = standard
            .points
            .iter()
            .fold((0.0, 0.0), |(xy, xx), (x, y)| (xy + x * y, xx + x * x));
        let title = format!(
            "FLOPs vs time, --{flag} swept · {} · {}{cpu}",
            ctx.summary.name, ctx.summary.backend
        );
        plot::flops_vs_time(
            path,
            &title,
            &[standard, series(ConvKind::Separable)],
            if xx > 0.0 { xy / xx } else { 0.0 },
        )?;
    }
    if let Some(path) = &args.roofline {
        let ceilings = ceilings.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "--roofline needs the ceilings of {}: run `convflops peak` first, or add --ceilings",
                ctx.summary.name
            )
        })?;
        let marks: Vec<plot::RooflineMark> = points
            .iter()
            .flat_map(|p| plot::RooflineMark::of_comparison(&p.comparison, None, &format!("{flag}={}", p.value)))
            .collect();
        let title = format!(
            "roofline, --{flag} swept · {} · {}{cpu}",
            ctx.summary.name, ctx.summary.backend
        );
        plot::roofline(path, &title, ceilings, &marks)?;
    }
    match format {
        FormatArg::Table | FormatArg::Wide => {}
        FormatArg::Json => print!("{}", as_json()?),
        FormatArg::Csv => print!("{}", csv::sweep_to_string(flag, &points).context("rendering CSV")?),
        FormatArg::Markdown => print!("{}", convflops::export::markdown::sweep_to_string(flag, &points)),
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} values failed (the others are shown and exported): {}",
            failed.len(),
            args.vary.values.len(),
            failed.join("; ")
        );
    }
    Ok(())
}

fn render_table(ctx: &GpuContext, flag: &str, points: &[SweepPoint]) -> String {
    let header = [
        flag,
        "standard FLOPs",
        "standard time",
        "standard FLOP/s",
        "separable FLOPs",
        "separable time",
        "separable FLOP/s",
        "FLOPs ratio",
        "time ratio",
    ];
    let mut table = new_table(&header);
    for p in points {
        let c = &p.comparison;
        let (Some(s), Some(d)) = (c.get(ConvKind::Standard), c.get(ConvKind::Separable)) else {
            continue;
        };
        table.add_row(vec![
            p.value.to_string(),
            flops_count(s.cost.flops),
            seconds(s.time_s()),
            flops_rate(s.flops_per_s()),
            flops_count(d.cost.flops),
            seconds(d.time_s()),
            flops_rate(d.flops_per_s()),
            format!("{:.1}×", c.predicted_speedup()),
            c.measured_speedup().map_or("—".into(), |m| format!("{m:.1}×")),
        ]);
    }
    let hidden = convflops::export::table::fit(
        &mut table,
        &["standard time", "separable time", "standard FLOPs", "separable FLOPs"],
    );
    let mut text = format!("{}\n{table}\n{hidden}", ctx.summary.headline());
    text.push_str("FLOPs ratio = standard / separable exact FLOPs (what FLOPs predict); time ratio = standard / separable median time (what the clock says).\n");
    if ctx.summary.software {
        text.push_str("(A CPU adapter: these are CPU numbers, not GPU numbers.)\n");
    }
    convflops::export::table::wrap(&text)
}
