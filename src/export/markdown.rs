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
        for r in &c.results {
            let t = r.measurement.best();
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {:.1} % | {} | {} | {:.2} |\n",
                r.kind,
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
