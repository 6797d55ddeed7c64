//! `convflops tune`: time every tile of the vec4 kernels on a layer, print them, cache the fastest.

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::TuneArgs;
use convflops::bench::BenchSettings;
use convflops::export::{json, table::new_table};
use convflops::gpu::GpuContext;
use convflops::tune::{self, Tuning};
use convflops::units::{flops_rate, seconds};

#[derive(Serialize)]
struct CandidateJson {
    tile: String,
    pixels: u32,
    channels: u32,
    workgroup: u32,
    median_s: f64,
    flops_per_s: f64,
}

#[derive(Serialize)]
struct KernelJson {
    conv: convflops::cost::ConvKind,
    kernel: &'static str,
    layer: json::LayerJson,
    shape_class: String,
    default_tile: String,
    best_tile: Option<String>,
    /// default time / best time.
    speedup_over_default: Option<f64>,
    candidates: Vec<CandidateJson>,
}

#[derive(Serialize)]
struct TuneJson {
    adapter: json::AdapterJson,
    layer: json::LayerJson,
    kernels: Vec<KernelJson>,
    /// Where the best tiles were cached (null with --no-store or when the cache could not be written).
    cache_file: Option<String>,
}

/// Tunes `ctx`'s vec4 kernels for `layer` with `settings`; stores the result unless `store` is false. Returns the
/// tuning and the cache file written.
pub fn tune_and_store(
    ctx: &GpuContext,
    layer: &convflops::layer::ConvLayer,
    settings: &BenchSettings,
    store: bool,
    talk: bool,
) -> Result<(Tuning, Option<std::path::PathBuf>)> {
    let total = tune::candidate_count(layer);
    let mut tried = 0usize;
    let tuning = tune::tune(ctx, layer, settings, |conv, kind, tile| {
        tried += 1;
        if talk {
            eprintln!(
                "  [{tried}/{total}] tuning {conv}: {} {}…",
                kind.name(),
                kind.describe_tile(tile)
            );
        }
    })
    .with_context(|| format!("tuning on {}", ctx.summary.name))?;
    let path = if store {
        match tune::store(&tuning) {
            Ok(path) => Some(path),
            Err(error) => {
                eprintln!("warning: could not cache the tuned tiles: {error}");
                None
            }
        }
    } else {
        None
    };
    Ok((tuning, path))
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
    let (tuning, path) = tune_and_store(&ctx, &layer, &settings, !args.no_store, !args.json)?;
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
                    layer: (&k.layer).into(),
                    shape_class: k.class.clone(),
                    default_tile: k.kernel.describe_tile(k.default),
                    best_tile: k.best().map(|b| k.kernel.describe_tile(b.tile)),
                    speedup_over_default: k
                        .default_candidate()
                        .zip(k.best())
                        .map(|(d, b)| d.median_s / b.median_s),
                    candidates: k
                        .candidates
                        .iter()
                        .map(|c| CandidateJson {
                            tile: k.kernel.describe_tile(c.tile),
                            pixels: c.tile.pixels,
                            channels: c.tile.channels,
                            workgroup: c.tile.workgroup,
                            median_s: c.median_s,
                            flops_per_s: c.flops_per_s,
                        })
                        .collect(),
                })
                .collect(),
            cache_file: path.map(|p| p.display().to_string()),
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
    if tuning.kernels.is_empty() {
        println!("No vec4 kernel applies to this layer's convs (they run the tiled kernels): nothing to tune.");
    }
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
                format!("{}{mark}", k.kernel.describe_tile(c.tile)),
                seconds(c.median_s),
                flops_rate(c.flops_per_s),
                default_time.map_or("—".into(), |d| format!("{:.2}×", d / c.median_s)),
            ]);
        }
        println!("\n{} · {} on {}\n{table}", k.conv, k.kernel.name(), k.layer.describe());
    }
    println!(
        "\n★ fastest (median time per dispatch, every output checked against the CPU reference); vs default = the \
         built-in tile's time / this tile's time."
    );
    match path {
        Some(path) => println!(
            "The fastest tiles are cached in {} for this adapter, driver and shape class; compare, sweep and model \
             --run use them.",
            path.display()
        ),
        None => println!("Nothing cached (--no-store, or the cache could not be written)."),
    }
    if ctx.summary.software {
        println!("(A CPU adapter: these are CPU numbers, not GPU numbers.)");
    }
    Ok(())
}
