//! CSV export of comparisons: one row per adapter and conv, times in seconds, rates in FLOP/s; the roofline columns
//! (bound, % of peak, % of roofline, the launch floor and whether the conv sat within the launch factor of it) are
//! empty when the adapter's ceilings are unknown; the layer-shape columns describe the compared layer.

use crate::compare::Comparison;

pub const HEADER: [&str; 40] = [
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
    "kernel",
    "variant",
    "bound",
    "percent_of_peak",
    "percent_of_roofline",
    "launch_floor_s",
    "launch_bound",
    "batch",
    "in_channels",
    "out_channels",
    "height",
    "width",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "groups",
    "bias",
];

/// The CSV rows of one comparison, in [`HEADER`] order.
fn rows(c: &Comparison) -> Vec<Vec<String>> {
    c.all_results()
        .map(|r| {
            let t = r.measurement.best();
            let roof = c.roofline(r);
            let l = &c.layer;
            vec![
                c.adapter.name.clone(),
                c.adapter.backend.clone(),
                c.adapter.device_type.clone(),
                c.adapter.software.to_string(),
                r.label(),
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
                r.kernel.clone(),
                c.variant.name().to_string(),
                roof.map_or(String::new(), |p| p.bound.name().to_string()),
                roof.map_or(String::new(), |p| p.percent_of_peak.to_string()),
                roof.map_or(String::new(), |p| p.percent_of_roofline.to_string()),
                roof.and_then(|p| p.launch_floor_s)
                    .map_or(String::new(), |s| s.to_string()),
                roof.map_or(String::new(), |p| p.launch_limited.to_string()),
                l.batch.to_string(),
                l.in_channels.to_string(),
                l.out_channels.to_string(),
                l.height.to_string(),
                l.width.to_string(),
                pair(l.kernel),
                pair(l.stride),
                pair(l.padding),
                pair(l.dilation),
                l.groups.to_string(),
                l.bias.to_string(),
            ]
        })
        .collect()
}

/// `[3, 3]` → `3x3`.
fn pair(p: [u32; 2]) -> String {
    format!("{}x{}", p[0], p[1])
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

/// The columns of `model --run --export-csv`.
pub const MODEL_HEADER: [&str; 45] = [
    "model",
    "adapter",
    "backend",
    "device_type",
    "software",
    "variant",
    "batch",
    "layer",
    "kind",
    "shader",
    "input",
    "params",
    "macs",
    "flops",
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
    "flops_share",
    "time_share",
    "percent_of_peak",
    "bound",
    "launch_floor_s",
    "launch_bound",
    "arithmetic_intensity",
    "in_channels",
    "out_channels",
    "height",
    "width",
    "out_height",
    "out_width",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "groups",
    "bias",
    "error",
];

/// `model --run --export-csv`: one row per network and layer, then one row per network for the whole network in
/// one submission (`kind` "network", `layer` "whole network"; its shares are empty). A layer that failed has its
/// counts, its shape and its `error`, and no times.
pub fn model_runs_to_string(runs: &[&crate::models::NetworkRun]) -> Result<String, csv::Error> {
    let rows = runs.iter().flat_map(|run| {
        let a = &run.adapter;
        let common = move |layer: &str, kind: &str, shader: &str, input: &str| {
            vec![
                run.model().to_string(),
                a.name.clone(),
                a.backend.clone(),
                a.device_type.clone(),
                a.software.to_string(),
                run.variant.name().to_string(),
                run.batch().to_string(),
                layer.to_string(),
                kind.to_string(),
                shader.to_string(),
                input.to_string(),
            ]
        };
        let timing = |cost: &crate::cost::Cost, m: &crate::bench::Measurement, timer: crate::gpu::TimerKind| {
            let t = m.best();
            vec![
                cost.params.to_string(),
                cost.macs.to_string(),
                cost.flops.to_string(),
                cost.bytes.to_string(),
                format!("{timer:?}").to_lowercase(),
                m.repetitions.to_string(),
                t.median.to_string(),
                t.min.to_string(),
                t.max.to_string(),
                t.mean.to_string(),
                t.rel_stddev.to_string(),
                t.samples.to_string(),
                m.wall.median.to_string(),
                (cost.flops as f64 / t.median).to_string(),
            ]
        };
        let shape = |cost: &crate::cost::Cost, s: &crate::layer::ConvLayer| {
            vec![
                cost.arithmetic_intensity().to_string(),
                s.in_channels.to_string(),
                s.out_channels.to_string(),
                s.height.to_string(),
                s.width.to_string(),
                s.out_height().to_string(),
                s.out_width().to_string(),
                pair(s.kernel),
                pair(s.stride),
                pair(s.padding),
                pair(s.dilation),
                s.groups.to_string(),
                s.bias.to_string(),
            ]
        };
        let ran = run.layers.iter().map(move |l| {
            let roof = run.roofline(l);
            let mut row = common(&l.layer.name, l.layer.kind.name(), l.shader, l.input.name());
            row.extend(timing(&l.cost, &l.measurement, l.timer));
            row.extend([
                run.flops_share(l).to_string(),
                run.time_share(l).to_string(),
                roof.map_or(String::new(), |p| p.percent_of_peak.to_string()),
                roof.map_or(String::new(), |p| p.bound.name().to_string()),
                roof.and_then(|p| p.launch_floor_s)
                    .map_or(String::new(), |s| s.to_string()),
                roof.map_or(String::new(), |p| p.launch_limited.to_string()),
            ]);
            row.extend(shape(&l.cost, &l.layer.layer));
            row.push(String::new());
            (l.index, row)
        });
        let failed = run.failed.iter().map(move |f| {
            let cost = run.report.layers.get(f.index).map(|l| l.cost).unwrap_or_default();
            let mut row = common(&f.layer.name, f.layer.kind.name(), f.shader, "");
            row.extend([
                cost.params.to_string(),
                cost.macs.to_string(),
                cost.flops.to_string(),
                cost.bytes.to_string(),
            ]);
            row.extend(std::iter::repeat_n(String::new(), 16));
            row.extend(shape(&cost, &f.layer.layer));
            row.push(f.message());
            (f.index, row)
        });
        let mut layers: Vec<(usize, Vec<String>)> = ran.chain(failed).collect();
        layers.sort_by_key(|(index, _)| *index);
        let layers = layers.into_iter().map(|(_, row)| row);
        let mut whole = common("whole network", "network", "", "");
        whole.extend(timing(&run.whole_cost, &run.whole, run.timer));
        // No shares, % of peak, bound or launch floor for the whole network; its FLOPs per byte; no single shape.
        whole.extend(std::iter::repeat_n(String::new(), 6));
        whole.push(run.whole_cost.arithmetic_intensity().to_string());
        whole.extend(std::iter::repeat_n(String::new(), 13));
        layers.chain(std::iter::once(whole))
    });
    write(&MODEL_HEADER, rows)
}
