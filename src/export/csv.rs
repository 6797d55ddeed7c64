//! CSV export of comparisons: one row per adapter and conv, times in seconds, rates in FLOP/s.

use crate::compare::Comparison;

pub const HEADER: [&str; 22] = [
    "adapter",
    "backend",
    "device_type",
    "software",
    "conv",
    "params",
    "macs",
    "flops",
    "flops_exact",
    "bytes",
    "timer",
    "dispatches_per_sample",
    "gpu_time_median_s",
    "gpu_time_min_s",
    "gpu_time_max_s",
    "gpu_time_mean_s",
    "gpu_time_rel_stddev",
    "samples",
    "wall_time_median_s",
    "flops_per_s",
    "arithmetic_intensity",
    "max_abs_error",
];

/// The CSV rows of one comparison, in [`HEADER`] order.
fn rows(c: &Comparison) -> Vec<Vec<String>> {
    c.results
        .iter()
        .map(|r| {
            let t = r.measurement.best();
            vec![
                c.adapter.name.clone(),
                c.adapter.backend.clone(),
                c.adapter.device_type.clone(),
                c.adapter.software.to_string(),
                r.kind.name().to_string(),
                r.cost.params.to_string(),
                r.cost.macs.to_string(),
                r.cost.flops.to_string(),
                r.cost.flops_exact.to_string(),
                r.cost.bytes.to_string(),
                format!("{:?}", r.timer).to_lowercase(),
                r.measurement.repetitions.to_string(),
                t.median.to_string(),
                t.min.to_string(),
                t.max.to_string(),
                t.mean.to_string(),
                t.rel_stddev.to_string(),
                t.samples.to_string(),
                r.measurement.wall.median.to_string(),
                r.flops_per_s().to_string(),
                r.cost.arithmetic_intensity().to_string(),
                r.check.max_abs_error.to_string(),
            ]
        })
        .collect()
}

fn write(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header)?;
    for row in rows {
        writer.write_record(row)?;
    }
    let bytes = writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `compare --export-csv`: one row per adapter and conv.
pub fn to_string(comparisons: &[Comparison]) -> Result<String, csv::Error> {
    write(&HEADER, comparisons.iter().flat_map(rows))
}

/// `sweep --export-csv`: the compare columns after `vary` (the flag) and `value`.
pub fn sweep_to_string(vary: &str, points: &[crate::sweep::SweepPoint]) -> Result<String, csv::Error> {
    let header: Vec<&str> = ["vary", "value"].into_iter().chain(HEADER).collect();
    let rows = points.iter().flat_map(|p| {
        rows(&p.comparison)
            .into_iter()
            .map(move |row| [vary.to_string(), p.value.to_string()].into_iter().chain(row).collect())
    });
    write(&header, rows)
}
