//! `convflops sweep`: one layer flag varied over a list of values; for each value the analytic FLOPs and the
//! measured time of the standard conv and the separable pair (all four convs are timed, as in `compare`).

use thiserror::Error;

use crate::bench::BenchSettings;
use crate::compare::{self, Comparison};
use crate::cost::ConvKind;
use crate::gpu::{GpuContext, GpuError, Variant};
use crate::layer::ConvLayer;

/// The layer flag a sweep varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    OutChannels,
    InChannels,
    Size,
    KernelSize,
    Batch,
}

impl Axis {
    pub const ALL: [Axis; 5] = [
        Axis::OutChannels,
        Axis::InChannels,
        Axis::Size,
        Axis::KernelSize,
        Axis::Batch,
    ];

    pub fn flag(self) -> &'static str {
        match self {
            Axis::OutChannels => "out-channels",
            Axis::InChannels => "in-channels",
            Axis::Size => "size",
            Axis::KernelSize => "kernel-size",
            Axis::Batch => "batch",
        }
    }

    /// `base` with this axis set to `value`. A swept kernel size keeps "same" padding (d·(k−1)/2).
    pub fn apply(self, base: &ConvLayer, value: u32) -> ConvLayer {
        let mut layer = *base;
        match self {
            Axis::OutChannels => layer.out_channels = value,
            Axis::InChannels => layer.in_channels = value,
            Axis::Size => (layer.height, layer.width) = (value, value),
            Axis::KernelSize => {
                layer.kernel = [value, value];
                layer.padding = [0, 1].map(|a| crate::layer::half_padding(value, base.dilation[a]));
            }
            Axis::Batch => layer.batch = value,
        }
        layer
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SweepSpecError {
    #[error("--vary {0:?}: expected AXIS=VALUES with AXIS one of out-channels, in-channels, size, kernel-size, batch")]
    Axis(String),
    #[error(
        "--vary {0:?}: VALUES must be a list (16,32,64), a doubling range (16..512), a stepped range (16..512:16) or \
         a geometric range (16..512x4), of whole numbers ≥ 1"
    )]
    Values(String),
    #[error("--vary {spec:?}: {count} values; at most {max} per sweep")]
    TooMany { spec: String, count: u64, max: u64 },
}

/// At most this many values in one sweep.
pub const MAX_VALUES: u64 = 64;

/// A parsed `--vary AXIS=VALUES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepSpec {
    pub axis: Axis,
    pub values: Vec<u32>,
}

impl std::str::FromStr for SweepSpec {
    type Err = SweepSpecError;

    /// `out-channels=16,32,64`, `size=7..56` (doubling), `in-channels=16..128:16` (step 16), `batch=1..64x4`.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (name, values) = spec
            .split_once('=')
            .ok_or_else(|| SweepSpecError::Axis(spec.to_string()))?;
        let axis = Axis::ALL
            .into_iter()
            .find(|a| a.flag() == name.trim())
            .ok_or_else(|| SweepSpecError::Axis(spec.to_string()))?;
        let bad = || SweepSpecError::Values(spec.to_string());
        let number = |s: &str| s.trim().parse::<u32>().ok().filter(|&v| v >= 1).ok_or_else(bad);
        let too_many = |count: u64| SweepSpecError::TooMany {
            spec: spec.to_string(),
            count,
            max: MAX_VALUES,
        };
        let values = if let Some((from, rest)) = values.split_once("..") {
            let from = number(from)?;
            let (to, next): (u32, Box<dyn Fn(u64) -> u64>) = if let Some((to, step)) = rest.split_once(':') {
                let step = u64::from(number(step)?);
                (number(to)?, Box::new(move |v| v + step))
            } else if let Some((to, factor)) = rest.split_once('x') {
                let factor = u64::from(number(factor)?);
                if factor < 2 {
                    return Err(bad());
                }
                (number(to)?, Box::new(move |v| v * factor))
            } else {
                (number(rest)?, Box::new(|v| v * 2))
            };
            if to < from {
                return Err(bad());
            }
            let mut values = Vec::new();
            let mut v = u64::from(from);
            while v <= u64::from(to) {
                if values.len() as u64 >= MAX_VALUES {
                    return Err(too_many(values.len() as u64 + 1));
                }
                values.push(v as u32);
                v = next(v);
            }
            values
        } else {
            let values: Vec<u32> = values.split(',').map(number).collect::<Result<_, _>>()?;
            if values.len() as u64 > MAX_VALUES {
                return Err(too_many(values.len() as u64));
            }
            values
        };
        Ok(SweepSpec { axis, values })
    }
}

/// One value of the sweep: its layer and the comparison measured for it.
#[derive(Debug, Clone)]
pub struct SweepPoint {
    pub value: u32,
    pub comparison: Comparison,
}

impl SweepPoint {
    /// (FLOPs, median seconds) of one conv.
    pub fn flops_and_time(&self, kind: ConvKind) -> Option<(u64, f64)> {
        self.comparison.get(kind).map(|r| (r.cost.flops, r.time_s()))
    }
}

/// Validates every layer of the sweep before measuring any.
pub fn layers(base: &ConvLayer, spec: &SweepSpec) -> Result<Vec<ConvLayer>, crate::error::ShapeError> {
    spec.values
        .iter()
        .map(|&v| spec.axis.apply(base, v).validated())
        .collect()
}

/// A value of the sweep that could not be measured, and why.
#[derive(Debug)]
pub struct SweepFailure {
    pub value: u32,
    pub error: GpuError,
}

/// A whole sweep: the values measured, in order, and those that failed.
#[derive(Debug, Default)]
pub struct SweepRun {
    pub points: Vec<SweepPoint>,
    pub failures: Vec<SweepFailure>,
}

/// Measures every value; a value that fails (a buffer over the adapter's limits, say) is recorded with its error
/// and the sweep goes on, so what was measured is kept. `progress(index, value)` is called before each.
pub fn run(
    ctx: &GpuContext,
    base: &ConvLayer,
    spec: &SweepSpec,
    variant: Variant,
    settings: &BenchSettings,
    mut progress: impl FnMut(usize, u32),
) -> Result<SweepRun, GpuError> {
    let layers = layers(base, spec)?;
    let mut run = SweepRun::default();
    for (i, (layer, &value)) in layers.iter().zip(&spec.values).enumerate() {
        progress(i, value);
        match compare::run(ctx, layer, variant, settings, |_| {}) {
            Ok(comparison) => run.points.push(SweepPoint { value, comparison }),
            Err(error) => run.failures.push(SweepFailure { value, error }),
        }
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<SweepSpec, SweepSpecError> {
        s.parse()
    }

    #[test]
    fn lists_and_ranges() {
        assert_eq!(
            parse("out-channels=16,32,64").unwrap(),
            SweepSpec {
                axis: Axis::OutChannels,
                values: vec![16, 32, 64]
            }
        );
        assert_eq!(parse("size=7..56").unwrap().values, vec![7, 14, 28, 56]);
        assert_eq!(parse("in-channels=16..64:16").unwrap().values, vec![16, 32, 48, 64]);
        assert_eq!(parse("batch=1..64x4").unwrap().values, vec![1, 4, 16, 64]);
        assert_eq!(parse("kernel-size=1..7:2").unwrap().values, vec![1, 3, 5, 7]);
    }

    #[test]
    fn bad_specs_name_the_flag() {
        for bad in [
            "channels=1,2",
            "out-channels",
            "size=0,1",
            "size=a",
            "size=8..4",
            "size=1..8x1",
            "size=1..",
            "",
        ] {
            let error = parse(bad).unwrap_err().to_string();
            assert!(error.starts_with("--vary"), "{bad}: {error}");
        }
        assert!(matches!(parse("size=1..1000:1"), Err(SweepSpecError::TooMany { .. })));
        assert!(parse("size=4294967295..4294967295x2").is_ok());
    }

    #[test]
    fn kernel_sweep_keeps_same_padding() {
        let base = ConvLayer::default();
        let layer = Axis::KernelSize.apply(&base, 5);
        assert_eq!((layer.kernel, layer.padding, layer.out_height()), ([5, 5], [2, 2], 14));
        let all = layers(&base, &parse("kernel-size=1..7:2").unwrap()).unwrap();
        assert!(all.iter().all(|l| l.out_height() == 14));
        assert!(layers(&base, &parse("size=1,2").unwrap()).is_ok());
        assert!(layers(&base, &parse("out-channels=3").unwrap()).is_ok());
    }
}
