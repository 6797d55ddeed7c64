//! JSON shapes. Later commands extend the `count` shape and never rename its keys.

use serde::Serialize;

use crate::cost::{Cost, LayerCost};
use crate::error::ShapeError;
use crate::layer::ConvLayer;

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
    /// "compute" or "memory": the roof that bounds this conv (null without ceilings).
    pub bound: Option<crate::ceilings::Bound>,
}

/// The ceilings as the compare JSON prints them.
#[derive(Debug, Clone, Serialize)]
pub struct CeilingsJson {
    pub fma_flops_per_s: f64,
    pub bandwidth_bytes_per_s: f64,
    pub ridge_flops_per_byte: f64,
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
    /// "vec4", "tiled" or "naive": the kernel family that was timed (each result names its kernel).
    pub variant: &'static str,
    pub layer: LayerJson,
    pub results: Vec<ResultJson>,
    /// The separable pair as one fused kernel, when it ran (the vec4 family, on layers it applies to): the fields
    /// of a result, with "conv": "separable" and "kernel" naming the fused kernel.
    pub fused_separable: Option<ResultJson>,
    pub speedup: SpeedupJson,
    /// The adapter's measured ceilings (null when neither cached nor measured).
    pub ceilings: Option<CeilingsJson>,
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
            }),
        }
    }
}
