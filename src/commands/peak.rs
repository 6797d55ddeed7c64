//! `convflops peak`: the adapter's measured ceilings, cached per adapter and driver.

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::PeakArgs;
use convflops::ceilings::{self, Ceilings};
use convflops::export::{json, table::new_table};
use convflops::gpu::GpuContext;
use convflops::units::{bytes, flops_rate, printable, si};

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
    /// True when the ceilings were read from the cache, false when measured in this run.
    cached: bool,
    /// Where they were read from or stored; null when measured and the cache could not be written.
    cache_file: Option<String>,
}

/// Where ceilings came from.
pub enum Origin {
    /// Read from the cache.
    Cache,
    /// Measured now; the cache file written, or `None` when it could not be (a warning said why).
    Measured(Option<std::path::PathBuf>),
}

/// The ceilings of `ctx`'s adapter: from the cache unless `refresh`, else measured (and then cached).
pub fn ceilings_for(ctx: &GpuContext, refresh: bool, talk: bool) -> Result<(Ceilings, Origin)> {
    if !refresh {
        if let Some(cached) = ceilings::cached(&ctx.summary) {
            return Ok((cached, Origin::Cache));
        }
    }
    let measured = ceilings::measure(ctx, |step| {
        if talk {
            eprintln!("  measuring {step}…");
        }
    })
    .with_context(|| format!("measuring the ceilings of {}", ctx.summary.name))?;
    let stored = match ceilings::store(&ctx.summary, &measured) {
        Ok(path) => Some(path),
        Err(error) => {
            eprintln!("warning: the ceilings were measured but not cached: {error}");
            None
        }
    };
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
        Origin::Measured(path) => path.clone(),
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
            cached: matches!(origin, Origin::Cache),
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
    println!(
        "{} (timer: {}). `convflops peak --refresh` measures again.",
        match &origin {
            Origin::Cache => format!("From the cache{}", place(&cache_file)),
            Origin::Measured(Some(_)) => format!("Measured now and cached{}", place(&cache_file)),
            Origin::Measured(None) => "Measured now, not cached (see the warning)".to_string(),
        },
        printable(&c.timer)
    );
    if ctx.summary.software {
        println!("(A CPU adapter: these are CPU numbers, not GPU numbers.)");
    }
    Ok(())
}
