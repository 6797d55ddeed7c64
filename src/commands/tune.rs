//! `convflops tune`: time, for each conv of a layer, the kernel of every tuned family at every tile of its
//! candidate space; print them, and cache the fastest tile per kernel and the fastest kernel per conv.

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::TuneArgs;
use convflops::bench::BenchSettings;
use convflops::export::{json, table::new_table};
use convflops::gpu::GpuContext;
use convflops::tune::{self, Stored, Tuning};
use convflops::units::{flops_rate, seconds};

#[derive(Serialize)]
struct CandidateJson {
    tile: String,
    pixels: Option<u32>,
    channels: Option<u32>,
    workgroup: Option<u32>,
    median_s: f64,
    flops_per_s: f64,
}

#[derive(Serialize)]
struct KernelJson {
    conv: convflops::cost::ConvKind,
    kernel: &'static str,
    family: &'static str,
    layer: json::LayerJson,
    shape_class: String,
    default_tile: String,
    best_tile: Option<String>,
    /// default time / best time.
    speedup_over_default: Option<f64>,
    candidates: Vec<CandidateJson>,
}

#[derive(Serialize)]
struct ChoiceJson {
    conv: convflops::cost::ConvKind,
    shape_class: String,
    kernel: &'static str,
    family: &'static str,
    tile: Option<String>,
    median_s: f64,
    flops_per_s: f64,
    /// The kernel `auto` runs without this choice (the adapter's default family).
    default_kernel: &'static str,
    /// The default kernel's best time / the chosen kernel's time.
    speedup_over_default: Option<f64>,
}

#[derive(Serialize)]
struct TuneJson {
    adapter: json::AdapterJson,
    layer: json::LayerJson,
    kernels: Vec<KernelJson>,
    choices: Vec<ChoiceJson>,
    /// Where the best tiles were cached (null with --no-store, when no tunable kernel ran, or when the cache could
    /// not be written).
    cache_file: Option<String>,
    /// Where the chosen kernels were cached (null likewise).
    kernels_file: Option<String>,
}

/// Tunes `ctx`'s kernels for `layer` with `settings`; stores the result unless `store` is false. Returns the
/// tuning and the cache files written.
pub fn tune_and_store(
    ctx: &GpuContext,
    layer: &convflops::layer::ConvLayer,
    settings: &BenchSettings,
    store: bool,
    talk: bool,
) -> Result<(Tuning, Stored)> {
    let total = tune::candidate_count(layer);
    let mut tried = 0usize;
    let tuning = tune::tune(ctx, layer, settings, |conv, kind, tile| {
        tried += 1;
        if talk {
            let tile = tile.map_or_else(String::new, |t| format!(" {}", kind.describe_tile(t)));
            eprintln!("  [{tried}/{total}] tuning {conv}: {}{tile}…", kind.name());
        }
    })
    .with_context(|| format!("tuning on {}", ctx.summary.name))?;
    let stored = if store {
        match tune::store(&tuning) {
            Ok(stored) => stored,
            Err(error) => {
                eprintln!("warning: could not cache the tuning: {error}");
                Stored::default()
            }
        }
    } else {
        Stored::default()
    };
    Ok((tuning, stored))
}

pub fn run(args: TuneArgs) -> Result<()> {
    let layer = args.layer.layer().validated().map_err(crate::cli::layer_flags_error)?;
    let settings = BenchSettings::new(args.warmup, args.samples, args.min_time).map_err(anyhow::Error::msg)?;
    let ctx = GpuContext::new(&args.gpu.choice())?;
    if !args.json {
        eprint!(
            "{}",
            convflops::export::table::wrap(&format!("{}\n", ctx.summary.headline()))
        );
    }
    let (tuning, stored) = tune_and_store(&ctx, &layer, &settings, !args.no_store, !args.json)?;
    let choices = tuning.choices();
    let speedup = |c: &tune::ConvChoice| c.default_median_s.map(|d| d / c.median_s);
    if args.json {
        let out = TuneJson {
            adapter: (&ctx.summary).into(),
            layer: (&layer).into(),
            kernels: tuning
                .kernels
                .iter()
                .map(|k| KernelJson {
                    conv: k.conv,
                    kernel: k.kernel.name(),
                    family: k.kernel.spec().family().name(),
                    layer: (&k.layer).into(),
                    shape_class: k.class.clone(),
                    default_tile: k.describe(k.default),
                    best_tile: k.best().map(|b| k.describe(b.tile)),
                    speedup_over_default: k
                        .default_candidate()
                        .zip(k.best())
                        .map(|(d, b)| d.median_s / b.median_s),
                    candidates: k
                        .candidates
                        .iter()
                        .map(|c| CandidateJson {
                            tile: k.describe(c.tile),
                            pixels: c.tile.map(|t| t.pixels),
                            channels: c.tile.map(|t| t.channels),
                            workgroup: c.tile.map(|t| t.workgroup),
                            median_s: c.median_s,
                            flops_per_s: c.flops_per_s,
                        })
                        .collect(),
                })
                .collect(),
            choices: choices
                .iter()
                .map(|c| ChoiceJson {
                    conv: c.conv,
                    shape_class: c.class.clone(),
                    kernel: c.kernel.name(),
                    family: c.kernel.spec().family().name(),
                    tile: c.tile.map(|t| c.kernel.describe_tile(t)),
                    median_s: c.median_s,
                    flops_per_s: c.flops_per_s,
                    default_kernel: c.default_kernel.name(),
                    speedup_over_default: speedup(c),
                })
                .collect(),
            cache_file: stored.tiles.map(|p| p.display().to_string()),
            kernels_file: stored.kernels.map(|p| p.display().to_string()),
        };
        println!("{}", json::to_string(&out)?);
        return Ok(());
    }
    if !super::same_terminal() {
        print!(
            "{}",
            convflops::export::table::wrap(&format!("{}\n", ctx.summary.headline()))
        );
    }
    println!("layer: {}", layer.describe());
    for k in &tuning.kernels {
        let best = k.best().map(|b| b.tile);
        let mut table = new_table(&["tile", "median time", "achieved FLOP/s", "vs default"]);
        let default_time = k.default_candidate().map(|d| d.median_s);
        for c in &k.candidates {
            let mark = match (Some(c.tile) == best, c.tile == k.default) {
                (true, true) => " ★ (default)",
                (true, false) => " ★",
                (false, true) => " (default)",
                (false, false) => "",
            };
            table.add_row(vec![
                format!("{}{mark}", k.describe(c.tile)),
                seconds(c.median_s),
                flops_rate(c.flops_per_s),
                default_time.map_or("—".into(), |d| format!("{:.2}×", d / c.median_s)),
            ]);
        }
        println!(
            "\n{} · {} ({} family) on {}\n{table}",
            k.conv,
            k.kernel.name(),
            k.kernel.spec().family().name(),
            k.layer.describe()
        );
    }
    println!(
        "\n★ fastest of the kernel (median time per dispatch, every output checked against the CPU reference); vs \
         default = the built-in tile's time / this tile's time."
    );
    let mut table = new_table(&[
        "conv",
        "chosen kernel",
        "family",
        "median time",
        "achieved FLOP/s",
        "vs default",
    ]);
    for c in &choices {
        table.add_row(vec![
            c.conv.to_string(),
            match c.tile {
                Some(tile) => format!("{} ({})", c.kernel.name(), c.kernel.describe_tile(tile)),
                None => c.kernel.name().to_string(),
            },
            c.kernel.spec().family().name().to_string(),
            seconds(c.median_s),
            flops_rate(c.flops_per_s),
            match speedup(c) {
                Some(s) => format!("{s:.2}× over {}", c.default_kernel.name()),
                None => "—".into(),
            },
        ]);
    }
    println!(
        "\nChosen per conv (the fastest kernel of every family tried; the default is what the {} family, this \
         adapter's default, runs):\n{table}",
        convflops::gpu::Variant::for_adapter(&ctx.summary).name()
    );
    match (&stored.tiles, &stored.kernels) {
        (None, None) => println!("Nothing cached (--no-store, or the cache could not be written)."),
        (tiles, kernels) => {
            if let Some(path) = tiles {
                println!(
                    "The fastest tiles are cached in {} for this adapter, driver and shape class; every family uses \
                     them.",
                    path.display()
                );
            }
            if let Some(path) = kernels {
                println!(
                    "The chosen kernels are cached in {} for this adapter, driver and conv shape class; \
                     --variant auto (the default of compare, sweep and model --run) runs them.",
                    path.display()
                );
            }
        }
    }
    if ctx.summary.software {
        println!("(A CPU adapter: these are CPU numbers, not GPU numbers.)");
    }
    Ok(())
}
