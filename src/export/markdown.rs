//! Markdown export of comparisons: a table per adapter and the lesson under it.

use crate::compare::Comparison;
use crate::units::{flops_count, flops_rate, group_digits, seconds};

pub fn to_string(comparisons: &[Comparison]) -> String {
    let mut out = String::new();
    for c in comparisons {
        out.push_str(&format!(
            "### {}\n\n",
            c.adapter.headline().trim_start_matches("adapter: ")
        ));
        out.push_str(&format!(
            "Layer: {} · {} kernels\n\n",
            c.layer.describe(),
            c.variant.name()
        ));
        out.push_str("| conv | FLOPs | MACs | bytes | time (median) | ± | wall time | FLOP/s | FLOPs/byte |\n");
        out.push_str("|:---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in c.all_results() {
            let t = r.measurement.best();
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {:.1} % | {} | {} | {:.2} |\n",
                r.label(),
                flops_count(r.cost.flops),
                group_digits(r.cost.macs),
                group_digits(r.cost.bytes),
                seconds(t.median),
                100.0 * t.rel_stddev,
                seconds(r.measurement.wall.median),
                flops_rate(r.flops_per_s()),
                r.cost.arithmetic_intensity(),
            ));
        }
        out.push('\n');
        for line in c.lesson() {
            out.push_str(&line);
            out.push_str("\n\n");
        }
    }
    out
}

/// `model --run --export-markdown`: per network the layer table, the by-kind table and the lesson; for two networks
/// the FLOPs ratio against the time ratio.
pub fn model_runs_to_string(runs: &[&crate::models::NetworkRun], comparison: Option<&str>) -> String {
    let mut out = String::new();
    for run in runs {
        out.push_str(&format!(
            "### {} · {}\n\nbatch {} · {} input · {} kernels · {}\n\n",
            run.model(),
            run.adapter.headline().trim_start_matches("adapter: "),
            run.batch(),
            run.input_shape(),
            run.variant.name(),
            if run.timer == crate::gpu::TimerKind::Wall {
                "wall-clock times"
            } else {
                "GPU timestamps"
            },
        ));
        out.push_str("| layer | kind | input | FLOPs | time (median) | ± | FLOP/s | % of peak | bound | share of FLOPs | share of time |\n");
        out.push_str("|:---|:---|:---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for l in &run.layers {
            let t = l.measurement.best();
            let roof = run.roofline(l);
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {:.1} % | {} | {} | {} | {:.2} % | {:.1} % |\n",
                l.layer.name,
                l.layer.kind,
                l.input.name(),
                flops_count(l.cost.flops),
                seconds(t.median),
                100.0 * t.rel_stddev,
                flops_rate(l.flops_per_s()),
                roof.map_or("—".to_string(), |p| format!("{:.1} %", p.percent_of_peak)),
                roof.map_or("—".to_string(), |p| p.bound.name().to_string()),
                run.flops_share(l),
                run.time_share(l),
            ));
        }
        let flops = run.report.totals.flops;
        for (label, time) in [
            ("total (sum of layers)", run.layer_time_s()),
            ("whole network (one submission)", run.whole_time_s()),
        ] {
            out.push_str(&format!(
                "| **{label}** | | | {} | {} | | {} | | | 100.00 % | |\n",
                flops_count(flops),
                seconds(time),
                flops_rate(flops as f64 / time),
            ));
        }
        out.push_str("\n| kind | layers | FLOPs | share of FLOPs | time | share of time | FLOP/s |\n");
        out.push_str("|:---|---:|---:|---:|---:|---:|---:|\n");
        for k in run.by_kind() {
            out.push_str(&format!(
                "| {} | {} | {} | {:.2} % | {} | {:.1} % | {} |\n",
                k.kind,
                k.layers,
                group_digits(k.cost.flops),
                k.flops_share,
                seconds(k.time_s),
                k.time_share,
                flops_rate(k.flops_per_s()),
            ));
        }
        out.push('\n');
        for line in run.lesson().into_iter().chain(run.notes()) {
            out.push_str(&line);
            out.push_str("\n\n");
        }
    }
    if let Some(text) = comparison {
        out.push_str(text);
        out.push_str("\n\n");
    }
    out
}
