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
        out.push_str(
            "| conv | FLOPs | MACs | bytes | time (median) | ± | wall time | dispatches/sample | FLOP/s | FLOPs/byte \
             | bound | % of peak | % of roofline |\n",
        );
        out.push_str("|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in c.all_results() {
            let t = r.measurement.best();
            let roof = c.roofline(r);
            let percent = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.1} %"));
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {:.1} % | {} | {} | {} | {:.2} | {} | {} | {} |\n",
                r.label(),
                flops_count(r.cost.flops),
                group_digits(r.cost.macs),
                group_digits(r.cost.bytes),
                seconds(t.median),
                100.0 * t.rel_stddev,
                seconds(r.measurement.wall.median),
                r.measurement.repetitions,
                flops_rate(r.flops_per_s()),
                r.cost.arithmetic_intensity(),
                roof.map_or("—".to_string(), |p| p.bound_cell()),
                percent(roof.map(|p| p.percent_of_peak)),
                percent(roof.map(|p| p.percent_of_roofline)),
            ));
        }
        out.push('\n');
        if let Some(k) = &c.ceilings {
            out.push_str(&format!(
                "Ceilings: peak {} (FMA), bandwidth {} (copy); ridge point {:.1} FLOPs/byte.\n\n",
                flops_rate(k.fma_flops_per_s),
                crate::units::si(k.bandwidth_bytes_per_s, "B/s"),
                k.ridge_flops_per_byte()
            ));
        }
        if let Some(legend) = crate::export::table::launch_legend_if_marked(c) {
            out.push_str(&legend);
            out.push_str("\n\n");
        }
        for line in c.lesson() {
            out.push_str(&line);
            out.push_str("\n\n");
        }
    }
    out
}

/// `sweep --export-markdown`: first the FLOPs ratio against the time ratio at every swept value, then each value's
/// comparison as `compare` exports it.
pub fn sweep_to_string(vary: &str, points: &[crate::sweep::SweepPoint]) -> String {
    use crate::cost::ConvKind;
    let mut out = format!(
        "### --{vary} swept: what FLOPs predict against what the clock says\n\n\
         | {vary} | standard FLOPs | separable FLOPs | FLOPs ratio | standard time | separable time | time ratio |\n\
         |---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for p in points {
        let c = &p.comparison;
        let (Some(s), Some(d)) = (c.get(ConvKind::Standard), c.get(ConvKind::Separable)) else {
            continue;
        };
        out.push_str(&format!(
            "| {} | {} | {} | {:.1}× | {} | {} | {} |\n",
            p.value,
            flops_count(s.cost.flops),
            flops_count(d.cost.flops),
            c.predicted_speedup(),
            seconds(s.time_s()),
            seconds(d.time_s()),
            c.measured_speedup().map_or("—".to_string(), |m| format!("{m:.1}×")),
        ));
    }
    out.push_str(
        "\nFLOPs ratio = standard / separable exact FLOPs; time ratio = standard / separable median time.\n\n",
    );
    let comparisons: Vec<Comparison> = points.iter().map(|p| p.comparison.clone()).collect();
    out.push_str(&to_string(&comparisons));
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
                roof.map_or("—".to_string(), |p| p.bound_cell()),
                run.flops_share(l),
                run.time_share(l),
            ));
        }
        for (label, flops, time) in [
            (run.total_label(), run.measured.totals.flops, run.layer_time_s()),
            (run.whole_label(), run.whole_cost.flops, run.whole_time_s()),
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
