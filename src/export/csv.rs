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

pub fn to_string(comparisons: &[Comparison]) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(HEADER)?;
    for c in comparisons {
        for r in &c.results {
            let t = r.measurement.best();
            writer.write_record([
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
            ])?;
        }
    }
    let bytes = writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
