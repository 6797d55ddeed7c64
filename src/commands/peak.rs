//! `convflops peak`: the adapter's measured ceilings, cached per adapter and driver.

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::PeakArgs;
use convflops::bench::BenchSettings;
use convflops::ceilings::{self, Ceilings};
use convflops::export::{json, table::new_table};
use convflops::gpu::GpuContext;
use convflops::units::{bytes, flops_rate, printable, seconds, si};

#[derive(Serialize)]
struct PeakJson<'a> {
    adapter: json::AdapterJson,
    fma_flops_per_s: f64,
    bandwidth_bytes_per_s: f64,
    ridge_flops_per_byte: f64,
    read_bytes_per_s: f64,
    fma_variant: &'a str,
    bandwidth_variant: &'a str,
    read_variant: &'a str,
    /// Every variant measured, best first: FLOP/s for FMA, bytes/s for bandwidth.
    fma_variants: &'a [ceilings::VariantRate],
    bandwidth_variants: &'a [ceilings::VariantRate],
    bandwidth_buffer_bytes: u64,
    timer: &'a str,
    /// The launch latency: seconds per dispatch of one-invocation dependent dispatches back to back in one pass
    /// (`dispatch_s`, as conv jobs are timed) and of one dispatch alone (`single_s`), with its own timer.
    launch: Option<&'a ceilings::LaunchLatency>,
    /// A conv within this factor of its launch floor (dispatches × `launch.dispatch_s`) is called launch-bound.
    launch_factor: f64,
    /// True when the ceilings were read from the cache, false when measured in this run (an old entry whose launch
    /// latency was measured now counts as cached).
    cached: bool,
    /// Where they were read from or stored; null when measured and the cache could not be written.
    cache_file: Option<String>,
}

/// Where ceilings came from.
pub enum Origin {
    /// Read from the cache.
    Cache,
    /// Read from an entry cached before the launch latency existed; the launch latency measured now and added to
    /// the entry (the path, or `None` when the cache could not be written).
    CacheLaunchMeasured(Option<std::path::PathBuf>),
    /// Measured now; the cache file written, or `None` when it could not be (a warning said why).
    Measured(Option<std::path::PathBuf>),
}

/// Stores `c` and says where; a cache that cannot be written is a warning, not an error.
fn store(ctx: &GpuContext, c: &Ceilings, what: &str) -> Option<std::path::PathBuf> {
    match ceilings::store(&ctx.summary, c) {
        Ok(path) => Some(path),
        Err(error) => {
            eprintln!("warning: {what} measured but not cached: {error}");
            None
        }
    }
}

/// Adds the launch latency, measured now with the default sampling, to `c`, an entry cached before it existed, and
/// stores the entry again.
fn add_launch(ctx: &GpuContext, mut c: Ceilings, talk: bool) -> Result<(Ceilings, Option<std::path::PathBuf>)> {
    if talk {
        eprintln!("  measuring launch latency (not in the cached entry)…");
    }
    c.launch = Some(launch_now(ctx, &BenchSettings::default())?);
    let path = store(ctx, &c, "the launch latency was");
    Ok((c, path))
}

fn launch_now(ctx: &GpuContext, settings: &BenchSettings) -> Result<ceilings::LaunchLatency> {
    ceilings::measure_launch(ctx, settings)
        .with_context(|| format!("measuring the launch latency of {}", ctx.summary.name))
}

/// The cached ceilings, for the commands that time convs beside them (compare, sweep, model --run), with the launch
/// latency measured again now with the run's own `settings`, so that a conv's time and its launch floor come from
/// one run under one load. An entry cached before the launch latency existed gets it stored too; if the
/// measurement fails, a warning says so and the cached value (if any) is used.
pub fn cached_ceilings(ctx: &GpuContext, settings: &BenchSettings, talk: bool) -> Option<Ceilings> {
    let mut cached = ceilings::cached(&ctx.summary)?;
    if talk {
        eprintln!("  measuring launch latency…");
    }
    match launch_now(ctx, settings) {
        Ok(launch) => {
            let first = cached.launch.is_none();
            cached.launch = Some(launch);
            if first {
                store(ctx, &cached, "the launch latency was");
            }
        }
        Err(error) => eprintln!("warning: {error:#}; the cached launch latency (if any) is used"),
    }
    Some(cached)
}

/// The ceilings of `ctx`'s adapter: from the cache unless `refresh`, else measured (and then cached).
pub fn ceilings_for(ctx: &GpuContext, refresh: bool, talk: bool) -> Result<(Ceilings, Origin)> {
    if !refresh {
        if let Some(cached) = ceilings::cached(&ctx.summary) {
            if cached.launch.is_none() {
                let (c, path) = add_launch(ctx, cached, talk)?;
                return Ok((c, Origin::CacheLaunchMeasured(path)));
            }
            return Ok((cached, Origin::Cache));
        }
    }
    let measured = ceilings::measure(ctx, |step| {
        if talk {
            eprintln!("  measuring {step}…");
        }
    })
    .with_context(|| format!("measuring the ceilings of {}", ctx.summary.name))?;
    let stored = store(ctx, &measured, "the ceilings were");
    Ok((measured, Origin::Measured(stored)))
}

pub fn run(args: PeakArgs) -> Result<()> {
    let ctx = GpuContext::new(&args.gpu.choice())?;
    if !args.json {
        eprint!(
            "{}",
            convflops::export::table::wrap(&format!("{}\n", ctx.summary.headline()))
        );
    }
    let (c, origin) = ceilings_for(&ctx, args.refresh, !args.json)?;
    let cache_file = match &origin {
        Origin::Cache => convflops::cache::cache_dir().map(|d| d.join("ceilings.json")),
        Origin::Measured(path) | Origin::CacheLaunchMeasured(path) => path.clone(),
    };
    if args.json {
        let out = PeakJson {
            adapter: (&ctx.summary).into(),
            fma_flops_per_s: c.fma_flops_per_s,
            bandwidth_bytes_per_s: c.bandwidth_bytes_per_s,
            ridge_flops_per_byte: c.ridge_flops_per_byte(),
            read_bytes_per_s: c.read_bytes_per_s,
            fma_variant: &c.fma_variant,
            bandwidth_variant: &c.bandwidth_variant,
            read_variant: &c.read_variant,
            fma_variants: &c.fma_variants,
            bandwidth_variants: &c.bandwidth_variants,
            bandwidth_buffer_bytes: c.bandwidth_buffer_bytes,
            timer: &c.timer,
            launch: c.launch.as_ref(),
            launch_factor: ceilings::LAUNCH_FACTOR,
            cached: matches!(origin, Origin::Cache | Origin::CacheLaunchMeasured(_)),
            cache_file: cache_file.map(|p| p.display().to_string()),
        };
        print!("{}", json::to_string(&out)?);
        return Ok(());
    }
    let mut table = new_table(&["ceiling", "measured", "how"]);
    table.add_row(vec![
        "peak FMA throughput".to_string(),
        flops_rate(c.fma_flops_per_s),
        format!(
            "best of {} variants: {}; 2 FLOPs per FMA",
            c.fma_variants.len().max(1),
            printable(&c.fma_variant)
        ),
    ]);
    table.add_row(vec![
        "memory bandwidth (copy)".to_string(),
        si(c.bandwidth_bytes_per_s, "B/s"),
        format!(
            "{} of {}: bytes read + bytes written",
            c.bandwidth_variant,
            bytes(c.bandwidth_buffer_bytes)
        ),
    ]);
    table.add_row(vec![
        "memory bandwidth (read)".to_string(),
        si(c.read_bytes_per_s, "B/s"),
        format!("{} of {}: bytes read", c.read_variant, bytes(c.bandwidth_buffer_bytes)),
    ]);
    table.add_row(vec![
        "ridge point".to_string(),
        format!("{:.1} FLOPs/byte", c.ridge_flops_per_byte()),
        "peak FLOP/s ÷ copy bandwidth: below it the memory roof is the lower one".to_string(),
    ]);
    if let Some(l) = &c.launch {
        let timer = match l.timer.as_str() {
            "timestamp" => "GPU timestamps",
            _ => "wall clock",
        };
        table.add_row(vec![
            "launch latency (dependent)".to_string(),
            seconds(l.dispatch_s),
            format!(
                "one-invocation dispatches, each reading the last one's write, {} per pass (as conv jobs are \
                 timed); {timer}",
                l.dispatches_per_sample,
            ),
        ]);
        table.add_row(vec![
            "launch latency (alone)".to_string(),
            seconds(l.single_s),
            format!("the same dispatch alone in its pass and submission; {timer}"),
        ]);
        table.add_row(vec![
            "launch-bound below".to_string(),
            format!("{}× the floor", ceilings::LAUNCH_FACTOR),
            "a conv whose median time is at most this × (its dispatches × the dependent latency)".to_string(),
        ]);
    }
    print!(
        "{}",
        super::once(
            &convflops::export::table::wrap(&format!("{}\n{table}\n", ctx.summary.headline())),
            &ctx.summary.headline(),
            true
        )
    );
    if !c.fma_variants.is_empty() {
        let mut variants = new_table(&["variant", "measured"]);
        for v in &c.fma_variants {
            variants.add_row(vec![format!("FMA, {}", printable(&v.variant)), flops_rate(v.rate)]);
        }
        for v in &c.bandwidth_variants {
            variants.add_row(vec![printable(&v.variant).to_string(), si(v.rate, "B/s")]);
        }
        println!("Every variant (each ceiling is the best of its kind):\n{variants}");
    }
    let place = |p: &Option<std::path::PathBuf>| p.as_ref().map_or(String::new(), |p| format!(" in {}", p.display()));
    print!(
        "{}",
        convflops::export::table::wrap(&format!(
            "{} (timer: {}). `convflops peak --refresh` measures again.\n",
            match &origin {
                Origin::Cache => format!("From the cache{}", place(&cache_file)),
                Origin::CacheLaunchMeasured(Some(_)) => format!(
                    "From the cache, the launch latency measured now and added{}",
                    place(&cache_file)
                ),
                Origin::CacheLaunchMeasured(None) => {
                    "From the cache, the launch latency measured now, not cached (see the warning)".to_string()
                }
                Origin::Measured(Some(_)) => format!("Measured now and cached{}", place(&cache_file)),
                Origin::Measured(None) => "Measured now, not cached (see the warning)".to_string(),
            },
            printable(&c.timer)
        ))
    );
    if ctx.summary.software {
        println!("(A CPU adapter: these are CPU numbers, not GPU numbers.)");
    }
    Ok(())
}
