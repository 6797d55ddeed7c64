//! JSON shapes. Later commands extend the `count` shape and never rename its keys.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::bench::Statistics;
use crate::ceilings::Bound;
use crate::cost::{Cost, LayerCost};
use crate::error::ShapeError;
use crate::gpu::TimerKind;
use crate::layer::ConvLayer;
use crate::models::run::{LayerInput, NetworkComparison, NetworkRun};
use crate::models::{LayerKind, Report};

/// The layer with its derived output size, as every JSON report prints it.
#[derive(Debug, Clone, Serialize)]
pub struct LayerJson {
    #[serde(flatten)]
    pub layer: ConvLayer,
    pub out_height: u32,
    pub out_width: u32,
}

impl From<&ConvLayer> for LayerJson {
    fn from(layer: &ConvLayer) -> Self {
        LayerJson {
            layer: *layer,
            out_height: layer.out_height(),
            out_width: layer.out_width(),
        }
    }
}

/// `convflops count --json`.
#[derive(Debug, Clone, Serialize)]
pub struct CountJson {
    pub layer: LayerJson,
    pub standard: Cost,
    pub depthwise: Cost,
    pub pointwise: Cost,
    pub separable: Cost,
}

impl CountJson {
    pub fn new(layer: &ConvLayer) -> Result<Self, ShapeError> {
        let cost = LayerCost::of(layer)?;
        Ok(CountJson {
            layer: layer.into(),
            standard: cost.standard,
            depthwise: cost.depthwise,
            pointwise: cost.pointwise,
            separable: cost.separable,
        })
    }
}

/// Pretty JSON with a trailing newline.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

/// The adapter as JSON reports print it.
#[derive(Debug, Clone, Serialize)]
pub struct AdapterJson {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    /// True for CPU adapters: their numbers are CPU numbers.
    pub software: bool,
}

impl From<&crate::gpu::AdapterSummary> for AdapterJson {
    fn from(a: &crate::gpu::AdapterSummary) -> Self {
        AdapterJson {
            name: a.name.clone(),
            backend: a.backend.clone(),
            device_type: a.device_type.clone(),
            driver: format!("{} {}", a.driver, a.driver_info).trim().to_string(),
            software: a.software,
        }
    }
}

/// One conv of `convflops compare --json`.
#[derive(Debug, Clone, Serialize)]
pub struct ResultJson {
    pub conv: crate::cost::ConvKind,
    /// The kernel that ran, with its tile for a vec4 kernel (two joined by " + " for the separable pair).
    pub kernel: String,
    #[serde(flatten)]
    pub cost: Cost,
    /// Per dispatch; from timestamps where `timer` is "timestamp", else the wall time.
    pub gpu_time_s: crate::bench::Statistics,
    pub wall_time_s: crate::bench::Statistics,
    pub timer: crate::gpu::TimerKind,
    /// Dispatches batched in one sample (times are divided by it).
    pub dispatches_per_sample: u32,
    /// FLOPs / gpu_time_s.median.
    pub flops_per_s: f64,
    /// FLOPs per byte of minimal traffic.
    pub arithmetic_intensity: f64,
    /// Outputs checked against the CPU reference, and the largest error among them.
    pub checked_outputs: usize,
    pub max_abs_error: f64,
    /// Achieved FLOP/s as a percentage of the measured peak FMA FLOP/s (null without ceilings).
    pub percent_of_peak: Option<f64>,
    /// Achieved FLOP/s as a percentage of this conv's roofline bound (null without ceilings).
    pub percent_of_roofline: Option<f64>,
    /// "compute", "memory" or "launch": what bounds this conv, min(peak, bandwidth × FLOPs/byte, FLOPs ÷ launch
    /// floor) (null without ceilings).
    pub bound: Option<crate::ceilings::Bound>,
    /// Its dispatches × the adapter's launch latency, seconds (null when that is not known).
    pub launch_floor_s: Option<f64>,
    /// Its median time is within the launch factor (2×) of its launch floor (null without ceilings).
    pub launch_bound: Option<bool>,
}

/// The ceilings as the compare JSON prints them.
#[derive(Debug, Clone, Serialize)]
pub struct CeilingsJson {
    pub fma_flops_per_s: f64,
    pub bandwidth_bytes_per_s: f64,
    pub ridge_flops_per_byte: f64,
    /// Seconds per dependent one-invocation dispatch (null when not measured).
    pub launch_dispatch_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SpeedupJson {
    /// standard / separable exact FLOPs.
    pub predicted_by_flops: f64,
    /// standard / separable median time.
    pub measured: Option<f64>,
}

/// `convflops compare --json`: the `count` layer, the adapter, one entry per conv, and the two speedups.
#[derive(Debug, Clone, Serialize)]
pub struct CompareJson {
    pub adapter: AdapterJson,
    /// The `--variant` asked for: "auto" (per layer, the tuned or the adapter's default family), "cpu", "gpu",
    /// "vec4", "tiled" or "naive" (each result names the kernel that was timed).
    pub variant: &'static str,
    pub layer: LayerJson,
    pub results: Vec<ResultJson>,
    /// The separable pair as one fused kernel, when it ran (the vec4 family, on layers it applies to): the fields
    /// of a result, with "conv": "separable" and "kernel" naming the fused kernel.
    pub fused_separable: Option<ResultJson>,
    pub speedup: SpeedupJson,
    /// The adapter's measured ceilings (null when neither cached nor measured).
    pub ceilings: Option<CeilingsJson>,
    /// Per conv ("standard (conv2d-cpu)"), its generated kernels' compile time at their first dispatch, in seconds
    /// (outside every timed sample); empty when only fixed or already-compiled kernels ran.
    pub compile_s: BTreeMap<String, f64>,
}

/// One result as the compare JSON prints it, with its place on the roofline when the ceilings are known.
fn result_json(c: &crate::compare::Comparison, r: &crate::compare::ConvResult) -> ResultJson {
    let roof = c.roofline(r);
    ResultJson {
        conv: r.kind,
        kernel: r.kernel.clone(),
        cost: r.cost,
        gpu_time_s: *r.measurement.best(),
        wall_time_s: r.measurement.wall,
        timer: r.timer,
        dispatches_per_sample: r.measurement.repetitions,
        flops_per_s: r.flops_per_s(),
        arithmetic_intensity: r.cost.arithmetic_intensity(),
        checked_outputs: r.checked_outputs,
        max_abs_error: r.check.max_abs_error,
        percent_of_peak: roof.map(|p| p.percent_of_peak),
        percent_of_roofline: roof.map(|p| p.percent_of_roofline),
        bound: roof.map(|p| p.bound),
        launch_floor_s: roof.and_then(|p| p.launch_floor_s),
        launch_bound: roof.map(|p| p.launch_limited),
    }
}

impl From<&crate::compare::Comparison> for CompareJson {
    fn from(c: &crate::compare::Comparison) -> Self {
        CompareJson {
            adapter: (&c.adapter).into(),
            variant: c.variant.name(),
            layer: (&c.layer).into(),
            results: c.results.iter().map(|r| result_json(c, r)).collect(),
            fused_separable: c.fused.as_ref().map(|r| result_json(c, r)),
            speedup: SpeedupJson {
                predicted_by_flops: c.predicted_speedup(),
                measured: c.measured_speedup(),
            },
            ceilings: c.ceilings.as_ref().map(|k| CeilingsJson {
                fma_flops_per_s: k.fma_flops_per_s,
                bandwidth_bytes_per_s: k.bandwidth_bytes_per_s,
                ridge_flops_per_byte: k.ridge_flops_per_byte(),
                launch_dispatch_s: k.launch.as_ref().map(|l| l.dispatch_s),
            }),
            compile_s: c.compile_s.iter().cloned().collect(),
        }
    }
}

/// Params, MACs and FLOPs (2·MACs) as JSON integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CountsJson {
    pub params: u64,
    pub macs: u64,
    pub flops: u64,
}

impl From<&Cost> for CountsJson {
    fn from(cost: &Cost) -> Self {
        CountsJson {
            params: cost.params,
            macs: cost.macs,
            flops: cost.flops,
        }
    }
}

/// One layer of `convflops model --json`: name, kind, counts, then the layer's fields and output size.
#[derive(Debug, Clone, Serialize)]
pub struct LayerEntryJson {
    pub name: String,
    pub kind: LayerKind,
    #[serde(flatten)]
    pub counts: CountsJson,
    #[serde(flatten)]
    pub layer: LayerJson,
}

/// `convflops model --json`.
#[derive(Debug, Clone, Serialize)]
pub struct ModelJson {
    pub model: String,
    pub layers: Vec<LayerEntryJson>,
    pub totals: CountsJson,
    /// Keyed by kind, in [`LayerKind::ALL`] order; only the kinds present.
    pub by_kind: BTreeMap<LayerKind, CountsJson>,
}

impl From<&Report> for ModelJson {
    fn from(report: &Report) -> Self {
        ModelJson {
            model: report.model.clone(),
            layers: report
                .layers
                .iter()
                .map(|l| LayerEntryJson {
                    name: l.layer.name.clone(),
                    kind: l.layer.kind,
                    counts: (&l.cost).into(),
                    layer: (&l.layer.layer).into(),
                })
                .collect(),
            totals: (&report.totals).into(),
            by_kind: report.by_kind.iter().map(|k| (k.kind, (&k.cost).into())).collect(),
        }
    }
}

/// One layer of `convflops model --run --json`.
#[derive(Debug, Clone, Serialize)]
pub struct LayerRunJson {
    pub name: String,
    pub kind: LayerKind,
    #[serde(flatten)]
    pub cost: Cost,
    #[serde(flatten)]
    pub layer: LayerJson,
    pub shader: &'static str,
    /// "chained" (the previous layer's output buffer) or "random" (its own buffer of random data).
    pub input: LayerInput,
    /// Per dispatch; from timestamps where `timer` is "timestamp", else the wall time.
    pub gpu_time_s: Statistics,
    pub wall_time_s: Statistics,
    pub timer: TimerKind,
    pub dispatches_per_sample: u32,
    /// flops / gpu_time_s.median.
    pub flops_per_s: f64,
    pub arithmetic_intensity: f64,
    /// Percent of the network's FLOPs.
    pub flops_share: f64,
    /// Percent of the sum of the per-layer median times.
    pub time_share: f64,
    pub percent_of_peak: Option<f64>,
    pub percent_of_roofline: Option<f64>,
    /// "compute", "memory" or "launch" (see the compare JSON).
    pub bound: Option<Bound>,
    /// The layer's dispatches × the adapter's launch latency, seconds.
    pub launch_floor_s: Option<f64>,
    /// Its median time is within the launch factor (2×) of its launch floor.
    pub launch_bound: Option<bool>,
    pub checked_outputs: usize,
    pub max_abs_error: f64,
}

/// The network's counts, with the sum of the per-layer median times.
#[derive(Debug, Clone, Serialize)]
pub struct TotalsJson {
    /// The whole network's counts, as without `--run`.
    #[serde(flatten)]
    pub counts: CountsJson,
    /// The layers timed and checked (all of them unless `failed_layers` lists some).
    pub layers_run: usize,
    /// Their FLOPs.
    pub flops_run: u64,
    /// Sum of their per-layer medians, seconds.
    pub gpu_time_s: f64,
    /// flops_run / gpu_time_s.
    pub flops_per_s: f64,
}

/// A layer that failed, with its error.
#[derive(Debug, Clone, Serialize)]
pub struct FailedLayerJson {
    pub index: usize,
    pub name: String,
    pub kind: LayerKind,
    #[serde(flatten)]
    pub layer: LayerJson,
    pub shader: &'static str,
    pub error: String,
}

/// The whole network timed in one submission.
#[derive(Debug, Clone, Serialize)]
pub struct WholeJson {
    /// The layers in the pass (every layer that got its buffers).
    pub layers: usize,
    /// Their FLOPs.
    pub flops: u64,
    pub gpu_time_s: Statistics,
    pub wall_time_s: Statistics,
    pub timer: TimerKind,
    pub dispatches_per_sample: u32,
    pub flops_per_s: f64,
}

/// One kind's sums and shares.
#[derive(Debug, Clone, Serialize)]
pub struct KindJson {
    pub layers: usize,
    #[serde(flatten)]
    pub counts: CountsJson,
    pub flops_share: f64,
    /// Sum of the kind's per-layer medians, seconds.
    pub gpu_time_s: f64,
    pub time_share: f64,
    pub flops_per_s: f64,
}

/// `convflops model NAME --run --json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunJson {
    pub adapter: AdapterJson,
    pub variant: &'static str,
    pub model: String,
    pub batch: u32,
    /// Always "linear": only the convs run, no activation function between them.
    pub activations: &'static str,
    pub layers: Vec<LayerRunJson>,
    pub totals: TotalsJson,
    pub whole_network: WholeJson,
    /// The layers that failed, each with its error (empty when every layer ran).
    pub failed_layers: Vec<FailedLayerJson>,
    pub by_kind: BTreeMap<LayerKind, KindJson>,
    pub headline: String,
    pub ceilings: Option<CeilingsJson>,
}

impl From<&NetworkRun> for RunJson {
    fn from(run: &NetworkRun) -> Self {
        let totals = &run.report.totals;
        RunJson {
            adapter: (&run.adapter).into(),
            variant: run.variant.name(),
            model: run.model().to_string(),
            batch: run.batch(),
            activations: "linear",
            layers: run
                .layers
                .iter()
                .map(|l| {
                    let roof = run.roofline(l);
                    LayerRunJson {
                        name: l.layer.name.clone(),
                        kind: l.layer.kind,
                        cost: l.cost,
                        layer: (&l.layer.layer).into(),
                        shader: l.shader,
                        input: l.input,
                        gpu_time_s: *l.measurement.best(),
                        wall_time_s: l.measurement.wall,
                        timer: l.timer,
                        dispatches_per_sample: l.measurement.repetitions,
                        flops_per_s: l.flops_per_s(),
                        arithmetic_intensity: l.cost.arithmetic_intensity(),
                        flops_share: run.flops_share(l),
                        time_share: run.time_share(l),
                        percent_of_peak: roof.map(|p| p.percent_of_peak),
                        percent_of_roofline: roof.map(|p| p.percent_of_roofline),
                        bound: roof.map(|p| p.bound),
                        launch_floor_s: roof.and_then(|p| p.launch_floor_s),
                        launch_bound: roof.map(|p| p.launch_limited),
                        checked_outputs: l.checked_outputs,
                        max_abs_error: l.check.max_abs_error,
                    }
                })
                .collect(),
            totals: TotalsJson {
                counts: totals.into(),
                layers_run: run.layers.len(),
                flops_run: run.measured.totals.flops,
                gpu_time_s: run.layer_time_s(),
                flops_per_s: run.layers_flops_per_s(),
            },
            whole_network: WholeJson {
                layers: run.whole_layers,
                flops: run.whole_cost.flops,
                gpu_time_s: *run.whole.best(),
                wall_time_s: run.whole.wall,
                timer: run.timer,
                dispatches_per_sample: run.whole.repetitions,
                flops_per_s: run.whole_flops_per_s(),
            },
            failed_layers: run
                .failed
                .iter()
                .map(|f| FailedLayerJson {
                    index: f.index,
                    name: f.layer.name.clone(),
                    kind: f.layer.kind,
                    layer: (&f.layer.layer).into(),
                    shader: f.shader,
                    error: f.message(),
                })
                .collect(),
            by_kind: run
                .by_kind()
                .into_iter()
                .map(|k| {
                    (
                        k.kind,
                        KindJson {
                            layers: k.layers,
                            counts: (&k.cost).into(),
                            flops_share: k.flops_share,
                            gpu_time_s: k.time_s,
                            time_share: k.time_share,
                            flops_per_s: k.flops_per_s(),
                        },
                    )
                })
                .collect(),
            headline: run.headline(),
            ceilings: run.ceilings.as_ref().map(|k| CeilingsJson {
                fma_flops_per_s: k.fma_flops_per_s,
                bandwidth_bytes_per_s: k.bandwidth_bytes_per_s,
                ridge_flops_per_byte: k.ridge_flops_per_byte(),
                launch_dispatch_s: k.launch.as_ref().map(|l| l.dispatch_s),
            }),
        }
    }
}

/// second / first.
#[derive(Debug, Clone, Serialize)]
pub struct RatiosJson {
    pub flops: f64,
    pub time_whole_network: f64,
    pub time_sum_of_layers: f64,
}

/// `convflops model --compare A B --json`.
#[derive(Debug, Clone, Serialize)]
pub struct ComparisonJson {
    pub networks: [RunJson; 2],
    /// The second network's figure over the first's.
    pub ratios: RatiosJson,
    pub lesson: String,
}

impl From<&NetworkComparison> for ComparisonJson {
    fn from(c: &NetworkComparison) -> Self {
        ComparisonJson {
            networks: [(&c.first).into(), (&c.second).into()],
            ratios: RatiosJson {
                flops: c.flops_ratio(),
                time_whole_network: c.time_ratio_whole(),
                time_sum_of_layers: c.time_ratio_layers(),
            },
            lesson: c.lesson(),
        }
    }
}
