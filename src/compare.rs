//! The comparison at the heart of convflops: one layer as a standard conv, a depthwise conv, a pointwise conv and
//! the separable pair (depthwise then pointwise in one submission), each timed, checked against the CPU reference,
//! and turned into achieved FLOP/s.

use crate::bench::{self, BenchSettings, Measurement};
use crate::ceilings::{Bound, Ceilings};
use crate::cost::{ratio, ConvKind, Cost, LayerCost};
use crate::gpu::conv::Tile;
use crate::gpu::{
    AdapterSummary, ConvJob, ConvKernels, FusedJob, FusedSeparable, GpuContext, GpuError, JobPlan, PassTimer,
    ShaderKind, TimerKind, Variant,
};
use crate::layer::ConvLayer;
use crate::measure::{self, Input};
use crate::reference::{self, sample_indices, Agreement, CHECKED_OUTPUTS};
use crate::rng::SplitMix64;

/// The fused separable kernel's tile: 32 output channels per invocation (the best of 8, 16 and 32 on lavapipe: each
/// channel tile recomputes the depthwise step, so wider tiles recompute it less often).
pub const FUSED_TILE: Tile = Tile::new(1, 8, 32);

/// One timed conv.
#[derive(Debug, Clone)]
pub struct ConvResult {
    pub kind: ConvKind,
    pub cost: Cost,
    pub timer: TimerKind,
    pub measurement: Measurement,
    /// The check of the output against the CPU reference on a sample of outputs.
    pub check: Agreement,
    pub checked_outputs: usize,
    /// The kernel that ran, with its tile (`conv2d-vec4 (4px×8ch/wg64)`); two joined by " + " for the pair.
    pub kernel: String,
    /// The dispatches one run of it issues (a generated GEMM's pack and K slices count each; the pair sums both).
    pub dispatches: u32,
}

impl ConvResult {
    /// What a report calls this result: the conv, or "separable (fused)" for the fused kernel's pair.
    pub fn label(&self) -> String {
        if self.kernel.starts_with(crate::gpu::fused::FUSED_NAME) {
            format!("{} (fused)", self.kind)
        } else {
            self.kind.to_string()
        }
    }

    /// The quoted time: median GPU time per dispatch (wall time where timestamps are missing).
    pub fn time_s(&self) -> f64 {
        self.measurement.median_s()
    }

    /// Achieved FLOP/s = FLOPs (2·MACs) / median time.
    pub fn flops_per_s(&self) -> f64 {
        self.measurement.rate(self.cost.flops)
    }
}

/// Every conv of one layer on one adapter.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub adapter: AdapterSummary,
    /// The kernel family that was timed.
    pub variant: Variant,
    pub layer: ConvLayer,
    pub cost: LayerCost,
    pub results: Vec<ConvResult>,
    /// The separable pair as one fused kernel (`separable_fused_vec4.wgsl`), timed beside the two-kernel pair when
    /// the vec4 family runs and the kernel applies; the same analytic FLOPs as the pair.
    pub fused: Option<ConvResult>,
    /// The adapter's measured ceilings, when known: they place each conv on the roofline.
    pub ceilings: Option<Ceilings>,
    /// The compile time in seconds of each conv whose generated kernels (a GEMM's pack and slice kernels together)
    /// compiled in this run, labelled "standard (conv2d-cpu)": llvmpipe compiles a shader at its first dispatch,
    /// which every job runs once before timing, so this time is in no timed sample.
    pub compile_s: Vec<(String, f64)>,
}

/// Where one conv sits on the roofline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RooflinePoint {
    /// min(peak FLOP/s, bandwidth × FLOPs per byte, FLOPs / launch floor): see [`Ceilings::bound_for`].
    pub bound_flops_per_s: f64,
    pub bound: Bound,
    pub percent_of_peak: f64,
    pub percent_of_roofline: f64,
    /// Its time is within [`crate::ceilings::LAUNCH_FACTOR`] of its launch floor.
    pub launch_limited: bool,
    /// Its dispatches × the adapter's launch latency, when known.
    pub launch_floor_s: Option<f64>,
}

impl RooflinePoint {
    /// The placement of a conv of `cost` and `dispatches` dispatches that took `seconds`.
    pub fn of(ceilings: &Ceilings, cost: &crate::cost::Cost, seconds: f64, dispatches: u32) -> RooflinePoint {
        let d = ceilings.diagnose(cost.flops, cost.bytes, seconds, u64::from(dispatches));
        RooflinePoint {
            bound_flops_per_s: d.bound_flops_per_s,
            bound: d.bound,
            percent_of_peak: d.percent_of_peak,
            percent_of_roofline: d.percent_of_roofline,
            launch_limited: d.launch_limited(),
            launch_floor_s: d.launch_floor_s,
        }
    }

    /// The bound column: the bound's name, with [`LAUNCH_MARK`] when the conv is launch-limited.
    pub fn bound_cell(&self) -> String {
        if self.launch_limited {
            format!("{} {LAUNCH_MARK}", self.bound.name())
        } else {
            self.bound.name().to_string()
        }
    }
}

/// Marks a conv whose time is within [`crate::ceilings::LAUNCH_FACTOR`] of its launch floor in the tables.
pub const LAUNCH_MARK: &str = "†";

/// The legend line of [`LAUNCH_MARK`], when the ceilings know the launch latency.
pub fn launch_legend(ceilings: &Ceilings) -> Option<String> {
    let l = ceilings.launch.as_ref()?;
    Some(format!(
        "{LAUNCH_MARK} launch-bound: its median time is at most {}× its launch floor (its dispatches × the {} an \
         empty dependent dispatch takes here): launch overhead, not its arithmetic or memory, sets its time. The \
         bound is FLOPs ÷ max(launch floor, FLOPs ÷ peak, bytes ÷ bandwidth).",
        crate::ceilings::LAUNCH_FACTOR,
        crate::units::seconds(l.dispatch_s),
    ))
}

impl Comparison {
    /// The roofline placement of `result`, when the ceilings are known.
    pub fn roofline(&self, result: &ConvResult) -> Option<RooflinePoint> {
        let ceilings = self.ceilings.as_ref()?;
        Some(RooflinePoint::of(
            ceilings,
            &result.cost,
            result.time_s(),
            result.dispatches,
        ))
    }

    /// Every timed result: the four convs, then the fused pair when it ran.
    pub fn all_results(&self) -> impl Iterator<Item = &ConvResult> {
        self.results.iter().chain(self.fused.as_ref())
    }

    pub fn get(&self, kind: ConvKind) -> Option<&ConvResult> {
        self.results.iter().find(|r| r.kind == kind)
    }

    /// standard / separable FLOPs (2·MACs, the convention of the FLOPs column and of every FLOP/s figure): the
    /// speedup FLOPs predict.
    pub fn predicted_speedup(&self) -> f64 {
        ratio(self.cost.standard.flops, self.cost.separable.flops)
    }

    /// standard / separable measured time: the speedup the run gave.
    pub fn measured_speedup(&self) -> Option<f64> {
        Some(self.get(ConvKind::Standard)?.time_s() / self.get(ConvKind::Separable)?.time_s())
    }

    /// Results timed with wall time, if any (the adapter has no timestamp queries).
    pub fn uses_wall_time(&self) -> bool {
        self.results.iter().any(|r| r.timer == TimerKind::Wall)
    }

    /// Convs whose samples spread more than [`bench::statistics::NOISY_REL_STDDEV`].
    pub fn noisy(&self) -> Vec<(ConvKind, f64)> {
        self.results
            .iter()
            .map(|r| (r.kind, r.measurement.best().rel_stddev))
            .filter(|(_, spread)| *spread > bench::statistics::NOISY_REL_STDDEV)
            .collect()
    }

    /// The lesson, in the run's own figures: FLOPs predicted one speedup, the clock measured another, and why.
    pub fn lesson(&self) -> Vec<String> {
        let (Some(standard), Some(separable), Some(depthwise), Some(measured)) = (
            self.get(ConvKind::Standard),
            self.get(ConvKind::Separable),
            self.get(ConvKind::Depthwise),
            self.measured_speedup(),
        ) else {
            return Vec::new();
        };
        let predicted = self.predicted_speedup();
        let share = 100.0 * separable.flops_per_s() / standard.flops_per_s();
        // "but" when the clock gave less than the FLOPs promised; a pair that needs more FLOPs and ran slower "and".
        let verb = if measured < predicted && predicted >= 1.0 {
            "but ran"
        } else {
            "and ran"
        };
        let mut lines = vec![format!(
            "separable needs {} FLOPs than standard {verb} {}: it achieved {share:.0} % of standard's FLOP/s.",
            crate::units::times(predicted, "fewer", "more"),
            crate::units::times(measured, "faster", "slower"),
        )];
        let pointwise = self.get(ConvKind::Pointwise);
        let dw_time_share = 100.0 * depthwise.time_s() / separable.time_s();
        let dw_flops_share = 100.0 * ratio(self.cost.depthwise.flops, self.cost.separable.flops);
        let relative = |r: &ConvResult| 100.0 * r.flops_per_s() / standard.flops_per_s();
        let diagnosis = |r: &ConvResult| {
            self.ceilings
                .as_ref()
                .map(|c| c.diagnose(r.cost.flops, r.cost.bytes, r.time_s(), u64::from(r.dispatches)))
        };
        let intensity = format!(
            "The depthwise conv does only {:.1} FLOPs per byte it must move (the standard conv {:.1}): about kh·kw = \
             {} multiply-adds per input element it loads",
            self.cost.depthwise.arithmetic_intensity(),
            self.cost.standard.arithmetic_intensity(),
            self.layer.kernel_area(),
        );
        // Name memory as the cause only when the depthwise conv came near its memory roof.
        let cause = match diagnosis(depthwise) {
            Some(d) if d.launch_limited() || d.bound == Bound::Launch => format!("yet here {}", d.why()),
            Some(d) if d.near_roof() && d.bound == Bound::Memory => {
                "so memory, not arithmetic, sets its speed".to_string()
            }
            Some(d) if d.near_roof() => format!("yet here {}", d.why()),
            Some(d) => format!(
                "yet it reached only {:.0} % of {}: on this adapter its kernel's instructions, not memory \
                 bandwidth, limit it",
                d.percent_of_roofline,
                d.bound.phrase().replacen("the ", "its ", 1)
            ),
            None => "so a memory roof is close for it; whether memory or its kernel's instructions limited it here \
                     needs the adapter's ceilings (`convflops peak`)"
                .to_string(),
        };
        let depthwise_sentence = format!(
            "{intensity}, {cause}. It ran at {:.0} % of the standard conv's FLOP/s and took {dw_time_share:.0} % of the \
             pair's time for {dw_flops_share:.1} % of its FLOPs.",
            relative(depthwise),
        );
        let pointwise_sentence = pointwise.map_or(String::new(), |p| {
            format!(
                " The pointwise conv, a GEMM with K = C_in = {}, ran at {:.0} % of the standard conv's FLOP/s.",
                self.layer.in_channels,
                relative(p)
            )
        });
        if measured < predicted {
            lines.push(format!(
                "Why: FLOPs count work, not time. {depthwise_sentence}{pointwise_sentence}"
            ));
        } else {
            // The pair gained more than its FLOPs: the standard conv's kernel used this device less well.
            lines.push(format!(
                "Why: FLOPs count work, not time, and here the standard conv's kernel used the device less well than \
                 the pair's.{pointwise_sentence} {depthwise_sentence}"
            ));
        }
        for r in [Some(standard), Some(depthwise), pointwise].into_iter().flatten() {
            if let Some(d) = diagnosis(r) {
                lines.push(format!("Roofline, {}: {}.", r.kind, d.why()));
            }
        }
        if let Some(fused) = &self.fused {
            let tiles = u64::from(self.layer.out_channels)
                .div_ceil(4)
                .div_ceil(u64::from(FUSED_TILE.channels));
            let verb = if fused.time_s() < separable.time_s() {
                "faster"
            } else {
                "slower"
            };
            let factor = (separable.time_s() / fused.time_s()).max(fused.time_s() / separable.time_s());
            let cost_of_fusion = if tiles > 1 {
                format!(
                    "but each of the {tiles} output-channel tiles computes it again, so the kernel executes the \
                     depthwise FLOPs {tiles} times for the same analytic count"
                )
            } else {
                "and with a single output-channel tile it is computed once".to_string()
            };
            lines.push(format!(
                "Fused into one kernel the pair ran {factor:.1}× {verb} than as two ({} against {}): the depthwise \
                 result never goes to memory, {cost_of_fusion}.",
                crate::units::seconds(fused.time_s()),
                crate::units::seconds(separable.time_s()),
            ));
        }
        lines
    }
}

fn fill(rng: &mut SplitMix64, len: Option<u64>) -> Vec<f32> {
    rng.fill(len.and_then(|n| usize::try_from(n).ok()).unwrap_or(0))
}

/// What [`run`] is timing, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// One of the four convs (the separable pair as its two kernels in one submission).
    Conv(ConvKind),
    /// The separable pair as one fused kernel (vec4 kernels, where it applies).
    Fused,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Conv(kind) => write!(f, "{kind}"),
            Step::Fused => write!(f, "{} (fused)", ConvKind::Separable),
        }
    }
}

/// Times the four convs of `layer` on `ctx` with the `variant` kernels. `progress` hears each step before it is
/// timed.
/// A comparison's three jobs planned on `ctx`: the layer validated, its cost, the tiles, the plans.
struct Plans {
    layer: ConvLayer,
    cost: LayerCost,
    tiles: crate::gpu::kernels::TileTable,
    standard: JobPlan,
    depthwise: JobPlan,
    pointwise: JobPlan,
}

/// Plans the three jobs of a comparison of `layer` with `variant`'s kernels and checks every limit and the memory
/// budget (the three jobs, depthwise and pointwise reading the buffers before them, plus the largest readback),
/// before any kernel is built or buffer allocated.
fn plans(ctx: &GpuContext, layer: &ConvLayer, variant: Variant) -> Result<Plans, GpuError> {
    let layer = layer.validated()?;
    let cost = LayerCost::of(&layer)?;
    // The vec4 kernels get the tiles `convflops tune` cached for these shapes on this adapter, else the defaults.
    let tiles = crate::tune::tiles_for(&ctx.summary, &layer);
    // `auto` runs each conv on the kernel `tune` chose for its class, else on the adapter's default family.
    let auto = crate::tune::AutoKernels::load(&ctx.summary);
    let plan = |l: &ConvLayer| {
        let shader = auto.shader_for(variant, l);
        JobPlan::with_tile(&ctx.summary, l, shader, tiles.get(shader))
    };
    let (standard, depthwise, pointwise) = (plan(&layer)?, plan(&layer.depthwise())?, plan(&layer.pointwise())?);
    let readback = [standard, depthwise, pointwise].map(|p| p.readback_bytes());
    let device_bytes = standard.buffer_bytes(false)
        + depthwise.buffer_bytes(true)
        + pointwise.buffer_bytes(true)
        + readback.into_iter().max().unwrap_or(0);
    ctx.memory
        .check(&format!("comparing {}", layer.describe()), device_bytes)?;
    Ok(Plans {
        layer,
        cost,
        tiles,
        standard,
        depthwise,
        pointwise,
    })
}

/// Whether [`run`] would refuse `layer` with `variant`'s kernels on `ctx` (a limit or the memory budget), checked
/// without building a kernel or allocating a buffer: for callers that do other long work (measuring ceilings,
/// tuning) before the run, so that a bad layer is refused first.
pub fn check(ctx: &GpuContext, layer: &ConvLayer, variant: Variant) -> Result<(), GpuError> {
    plans(ctx, layer, variant).map(|_| ())
}

pub fn run(
    ctx: &GpuContext,
    layer: &ConvLayer,
    variant: Variant,
    settings: &BenchSettings,
    mut progress: impl FnMut(Step),
) -> Result<Comparison, GpuError> {
    let Plans {
        layer,
        cost,
        tiles,
        standard: standard_plan,
        depthwise: dw_plan,
        pointwise: pw_plan,
    } = plans(ctx, layer, variant)?;
    let (dw_layer, pw_layer) = (layer.depthwise(), layer.pointwise());
    let kernels = ConvKernels::with_tiles(ctx, tiles)?;
    let timer = PassTimer::new(ctx)?;

    let mut rng = SplitMix64::new(0x5eed);
    let input = fill(&mut rng, layer.input_len());
    let weights = [
        fill(&mut rng, layer.weight_len()),
        fill(&mut rng, dw_layer.weight_len()),
        fill(&mut rng, pw_layer.weight_len()),
    ];
    let biases =
        [layer.bias_len(), dw_layer.bias_len(), pw_layer.bias_len()].map(|n| layer.bias.then(|| rng.fill(n as usize)));
    // Buffers once: the depthwise conv reads the standard conv's input, the pointwise conv reads the depthwise
    // output, so "pointwise" alone and the separable pair use the same data.
    let prepare = |plan: &JobPlan, input, i: usize| {
        measure::prepare(
            ctx,
            &kernels,
            &plan.layer,
            plan.shader,
            input,
            &weights[i],
            biases[i].as_deref(),
        )
    };
    let standard = prepare(&standard_plan, Input::Data(&input), 0)?;
    let depthwise = prepare(&dw_plan, Input::Buffer(&standard.input), 1)?;
    let pointwise = prepare(&pw_plan, Input::Buffer(&depthwise.output), 2)?;

    let names = [&standard, &depthwise, &pointwise].map(|job| kernels.describe(job.shader));
    let kernel_names = [
        names[0].clone(),
        names[1].clone(),
        names[2].clone(),
        format!("{} + {}", names[1], names[2]),
    ];
    let count = |job: &ConvJob| u32::try_from(job.dispatch_count()).unwrap_or(u32::MAX);
    let dispatches = [
        count(&standard),
        count(&depthwise),
        count(&pointwise),
        count(&depthwise).saturating_add(count(&pointwise)),
    ];
    let chains: [(ConvKind, Vec<&ConvJob>); 4] = [
        (ConvKind::Standard, vec![&standard]),
        (ConvKind::Depthwise, vec![&depthwise]),
        (ConvKind::Pointwise, vec![&pointwise]),
        (ConvKind::Separable, vec![&depthwise, &pointwise]),
    ];
    let mut measurements = Vec::new();
    for (kind, jobs) in &chains {
        progress(Step::Conv(*kind));
        let measurement = measure::time(ctx, &timer, settings, |pass| {
            for job in jobs {
                job.encode(&kernels, pass);
            }
        })?;
        measurements.push((*kind, measurement));
    }

    let compile_s: Vec<(String, f64)> = [
        (ConvKind::Standard, &standard),
        (ConvKind::Depthwise, &depthwise),
        (ConvKind::Pointwise, &pointwise),
    ]
    .into_iter()
    .filter_map(|(kind, job)| job.compile_s.map(|s| (format!("{kind} ({})", job.shader.name()), s)))
    .collect();
    // Read each output back once and check a sample of it; the pointwise conv read the depthwise output.
    let s = measure::read_and_check(ctx, &standard, &input, &weights[0], biases[0].as_deref(), &mut rng)?;
    let d = measure::read_and_check(ctx, &depthwise, &input, &weights[1], biases[1].as_deref(), &mut rng)?;
    let p = measure::read_and_check(ctx, &pointwise, &d.output, &weights[2], biases[2].as_deref(), &mut rng)?;
    let checks = [
        (s.passed(ConvKind::Standard.name())?, s.checked),
        (d.passed(ConvKind::Depthwise.name())?, d.checked),
        (p.passed(ConvKind::Pointwise.name())?, p.checked),
        (d.agreement.merge(p.agreement), d.checked + p.checked),
    ];

    // The fused pair reads the same input and weights; its output is checked against the reference composition.
    // It is the vec4 pair's fused form: timed when the pair ran on the vec4 kernels (vec4, or auto choosing them).
    let vec4_pair = depthwise.shader == ShaderKind::DepthwiseVec4 && pointwise.shader == ShaderKind::PointwiseVec4;
    let fused =
        if matches!(variant, Variant::Vec4 | Variant::Auto) && vec4_pair && FusedSeparable::applies(&layer).is_ok() {
            progress(Step::Fused);
            let kernel = FusedSeparable::new(ctx, FUSED_TILE)?;
            let job = FusedJob::new(ctx, &kernel, &layer, Some(&standard.input))?;
            job.upload(
                ctx,
                None,
                &weights[1],
                biases[1].as_deref(),
                &weights[2],
                biases[2].as_deref(),
            )?;
            let measurement = measure::time(ctx, &timer, settings, |pass| job.encode(pass))?;
            let output = job.read_output(ctx)?;
            let indices = sample_indices(output.len(), CHECKED_OUTPUTS, &mut rng);
            let separable = reference::SeparableWeights {
                dw: &weights[1],
                dw_bias: biases[1].as_deref(),
                pw: &weights[2],
                pw_bias: biases[2].as_deref(),
            };
            let check = reference::compare_separable_at(&layer, &output, &input, separable, &indices)?;
            // The same counts as the pair, less the intermediate's write and read: the fused kernel never stores it.
            let intermediate = cost.depthwise.outputs.saturating_mul(2 * 4);
            Some(ConvResult {
                kind: ConvKind::Separable,
                cost: Cost {
                    bytes: cost.separable.bytes.saturating_sub(intermediate),
                    ..cost.separable
                },
                timer: timer.kind(),
                measurement,
                check: measure::require("separable (fused)", check, indices.len())?,
                checked_outputs: indices.len(),
                kernel: format!("{} ({})", crate::gpu::fused::FUSED_NAME, FUSED_TILE),
                dispatches: 1,
            })
        } else {
            None
        };

    let results = measurements
        .into_iter()
        .zip(checks)
        .zip(kernel_names)
        .zip(dispatches)
        .map(
            |((((kind, measurement), (check, checked_outputs)), kernel), dispatches)| ConvResult {
                kind,
                cost: *cost.get(kind),
                timer: timer.kind(),
                measurement,
                check,
                checked_outputs,
                kernel,
                dispatches,
            },
        )
        .collect();
    Ok(Comparison {
        adapter: ctx.summary.clone(),
        variant,
        layer,
        cost,
        results,
        fused,
        ceilings: None,
        compile_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Statistics;

    /// A comparison of the default layer with made-up times (seconds per dispatch).
    pub(crate) fn fake(times: [f64; 4], software: bool) -> Comparison {
        let layer = ConvLayer::default();
        let cost = LayerCost::of(&layer).unwrap();
        let adapter = AdapterSummary {
            device_type: if software { "CPU" } else { "discrete GPU" }.into(),
            software,
            ..AdapterSummary::with_default_limits("Test Adapter, rev 2")
        };
        let results = ConvKind::ALL
            .into_iter()
            .zip(times)
            .map(|(kind, t)| {
                let stats = Statistics::of(&[t * 0.95, t, t * 1.05]).unwrap();
                ConvResult {
                    kind,
                    cost: *cost.get(kind),
                    timer: TimerKind::Timestamp,
                    measurement: Measurement {
                        gpu: Some(stats),
                        wall: stats,
                        repetitions: 1,
                    },
                    check: Agreement::default(),
                    checked_outputs: 512,
                    kernel: "conv2d-vec4 (4px×8ch/wg64)".into(),
                    dispatches: if kind == ConvKind::Separable { 2 } else { 1 },
                }
            })
            .collect();
        Comparison {
            adapter,
            variant: Variant::Tiled,
            layer,
            cost,
            results,
            fused: None,
            ceilings: None,
            compile_s: Vec::new(),
        }
    }

    #[test]
    fn lesson_uses_the_runs_own_figures() {
        let c = fake([4e-3, 0.3e-3, 0.7e-3, 1e-3], false);
        assert!((c.predicted_speedup() - 924_844_032.0 / 104_566_784.0).abs() < 1e-12);
        assert!((c.measured_speedup().unwrap() - 4.0).abs() < 1e-12);
        let lesson = c.lesson().join("\n");
        assert!(
            lesson.contains("separable needs 8.8× fewer FLOPs than standard but ran 4.0× faster"),
            "{lesson}"
        );
        // separable FLOP/s / standard FLOP/s = (104566784 / 1e-3) / (924844032 / 4e-3) = 45 %
        assert!(lesson.contains("it achieved 45 % of standard's FLOP/s"), "{lesson}");
        assert!(lesson.contains("2.2 FLOPs per byte"), "{lesson}");
        assert!(
            lesson.contains("took 30 % of the pair's time for 1.7 % of its FLOPs"),
            "{lesson}"
        );
        // depthwise: (1806336 / 0.3e-3) / (924844032 / 4e-3) = 2.6 %; pointwise: (102760448 / 0.7e-3) / … = 63 %
        assert!(lesson.contains("ran at 3 % of the standard conv's FLOP/s"), "{lesson}");
        assert!(
            lesson.contains("K = C_in = 512, ran at 63 % of the standard conv's FLOP/s"),
            "{lesson}"
        );
        assert!(c.noisy().is_empty());
    }

    /// Ceilings with every variant list empty: `peak` FLOP/s and `copy` bytes/s.
    fn ceilings(peak: f64, copy: f64) -> Ceilings {
        Ceilings {
            method: crate::ceilings::METHOD,
            fma_flops_per_s: peak,
            bandwidth_bytes_per_s: copy,
            read_bytes_per_s: copy,
            fma_variant: "recorded".into(),
            bandwidth_variant: "recorded".into(),
            read_variant: "recorded".into(),
            fma_variants: Vec::new(),
            bandwidth_variants: Vec::new(),
            bandwidth_buffer_bytes: 1 << 28,
            timer: "timestamp".into(),
            launch: None,
        }
    }

    /// Recorded on lavapipe (Mesa 25.0.7, 2-core Zen 2), 2026-12-01, default layer, vec4 kernels: standard
    /// 5.2 GFLOP/s, depthwise 1.3, pointwise 8.0; straight-line FMA peak 161 GFLOP/s, copy 10.5 GB/s. The depthwise
    /// conv moved its minimal traffic at about 0.6 GB/s, 6 % of the copy bandwidth: memory did not limit it.
    #[test]
    fn lavapipe_lesson_names_no_roof_the_figures_contradict() {
        let flops = |kind: ConvKind| *LayerCost::of(&ConvLayer::default()).unwrap().get(kind);
        let t = |kind, rate: f64| flops(kind).flops as f64 / rate;
        let (standard, depthwise, pointwise) = (
            t(ConvKind::Standard, 5.2e9),
            t(ConvKind::Depthwise, 1.3e9),
            t(ConvKind::Pointwise, 8.0e9),
        );
        let mut c = fake([standard, depthwise, pointwise, depthwise + pointwise], true);
        c.ceilings = Some(ceilings(161e9, 10.5e9));
        let lesson = c.lesson().join("\n");
        assert!(!lesson.contains("memory, not arithmetic"), "{lesson}");
        assert!(!lesson.contains("sets its speed"), "{lesson}");
        assert!(
            lesson.contains("yet it reached only 6 % of its memory roof: on this adapter its kernel's instructions"),
            "{lesson}"
        );
        assert!(
            lesson.contains("Roofline, depthwise: the memory roof bounds it at"),
            "{lesson}"
        );
        assert!(
            lesson.contains("Roofline, standard: the compute roof bounds it at 161"),
            "{lesson}"
        );
        // The printed percentages agree with the table's: depthwise 1.3 GFLOP/s of a 10.5 GB/s × 2.24 FLOPs/byte roof.
        let d = c.roofline(c.get(ConvKind::Depthwise).unwrap()).unwrap();
        assert!(
            lesson.contains(&format!("reached {:.0} % of that", d.percent_of_roofline)),
            "{lesson}"
        );

        // Near its memory roof (80 %), the same lesson may say memory sets the depthwise conv's speed.
        let near = 0.8 * 10.5e9 * flops(ConvKind::Depthwise).arithmetic_intensity();
        let depthwise = t(ConvKind::Depthwise, near);
        let mut c = fake([standard, depthwise, pointwise, depthwise + pointwise], true);
        c.ceilings = Some(ceilings(161e9, 10.5e9));
        let lesson = c.lesson().join("\n");
        assert!(lesson.contains("so memory, not arithmetic, sets its speed"), "{lesson}");
        assert!(lesson.contains("memory bandwidth sets its speed"), "{lesson}");

        // Without ceilings nothing is claimed about the cause.
        let c = fake([standard, depthwise, pointwise, depthwise + pointwise], true);
        let lesson = c.lesson().join("\n");
        assert!(!lesson.contains("sets its speed"), "{lesson}");
        assert!(lesson.contains("needs the adapter's ceilings"), "{lesson}");
    }

    /// The same lavapipe figures with a launch latency of 51.9 µs: the default layer's convs take milliseconds, so
    /// the lesson is word for word the same. A tiny layer (8 → 8 channels on 4×4) whose convs take 60–90 µs gets the
    /// launch clause for each conv, and no roof or instructions as their cause.
    #[test]
    fn the_launch_clause_only_where_the_times_sit_on_the_launch_floor() {
        let launch = crate::ceilings::LaunchLatency {
            dispatch_s: 51.9e-6,
            single_s: 82.4e-6,
            dispatches_per_sample: 86,
            timer: "timestamp".into(),
        };
        let flops = |kind: ConvKind| *LayerCost::of(&ConvLayer::default()).unwrap().get(kind);
        let t = |kind, rate: f64| flops(kind).flops as f64 / rate;
        let (standard, depthwise, pointwise) = (
            t(ConvKind::Standard, 5.2e9),
            t(ConvKind::Depthwise, 1.3e9),
            t(ConvKind::Pointwise, 8.0e9),
        );
        let mut c = fake([standard, depthwise, pointwise, depthwise + pointwise], true);
        c.ceilings = Some(ceilings(161e9, 10.5e9));
        let without = c.lesson();
        c.ceilings.as_mut().unwrap().launch = Some(launch.clone());
        assert_eq!(c.lesson(), without);
        assert!(c.all_results().all(|r| !c.roofline(r).unwrap().launch_limited));

        let mut tiny = fake([90e-6, 60e-6, 62e-6, 125e-6], true);
        tiny.layer = ConvLayer {
            in_channels: 8,
            out_channels: 8,
            height: 4,
            width: 4,
            ..ConvLayer::default()
        };
        tiny.cost = LayerCost::of(&tiny.layer).unwrap();
        for r in &mut tiny.results {
            r.cost = *tiny.cost.get(r.kind);
        }
        tiny.ceilings = Some(Ceilings {
            launch: Some(launch),
            ..ceilings(161e9, 10.5e9)
        });
        let lesson = tiny.lesson().join("\n");
        assert!(
            lesson.contains("yet here its 60.0 µs is 1.2× an empty dispatch's 51.9 µs: launch overhead"),
            "{lesson}"
        );
        assert!(
            lesson.contains("Roofline, standard: its 90.0 µs is 1.7× an empty dispatch's"),
            "{lesson}"
        );
        assert!(lesson.contains("Roofline, pointwise: its 62.0 µs is 1.2×"), "{lesson}");
        for line in tiny.lesson().iter().filter(|l| l.starts_with("Roofline")) {
            assert!(!line.contains("roof ") && !line.contains("instructions"), "{line}");
        }
        // The pair is 2 dispatches: 125 µs is 1.2× their 104 µs floor.
        let pair = tiny.roofline(tiny.get(ConvKind::Separable).unwrap()).unwrap();
        assert!(pair.launch_limited);
        assert!((pair.launch_floor_s.unwrap() - 2.0 * 51.9e-6).abs() < 1e-12);
        let table = crate::export::table::compare(&tiny);
        assert!(
            table.contains("launch †") && table.contains("† launch-bound"),
            "{table}"
        );
    }

    #[test]
    fn a_pair_that_costs_more_reads_more_and_slower() {
        // 512 groups: the standard conv is nearly depthwise, and the "separable" pair needs far more FLOPs.
        let mut c = fake([1e-3, 0.3e-3, 0.7e-3, 3.2e-3], false);
        c.layer.groups = 512;
        c.cost = LayerCost::of(&c.layer).unwrap();
        for r in &mut c.results {
            r.cost = *c.cost.get(r.kind);
        }
        let lesson = c.lesson().join("\n");
        assert!(
            lesson.contains("separable needs 57.9× more FLOPs than standard and ran 3.2× slower"),
            "{lesson}"
        );
        let first = &c.lesson()[0];
        assert!(!first.contains("fewer") && !first.contains(" 0."), "{first}");
    }

    #[test]
    fn faster_than_predicted_reads_differently() {
        let c = fake([40e-3, 0.3e-3, 0.7e-3, 1e-3], true);
        let lesson = c.lesson().join("\n");
        assert!(lesson.contains("and ran 40.0× faster"), "{lesson}");
        assert!(
            lesson.contains("the standard conv's kernel used the device less well"),
            "{lesson}"
        );
        assert!(lesson.contains("2.2 FLOPs per byte"), "{lesson}");
        let slower = fake([10e-3, 0.3e-3, 0.7e-3, 2e-3], true).lesson().join("\n");
        assert!(!slower.contains("used the device less well"), "{slower}");
    }

    #[test]
    fn sample_indices_cover_the_ends() {
        let mut rng = SplitMix64::new(1);
        assert_eq!(sample_indices(5, 512, &mut rng), vec![0, 1, 2, 3, 4]);
        let picked = sample_indices(100_000, 512, &mut rng);
        assert_eq!(picked.len(), 512);
        assert_eq!((picked[0], picked[1]), (0, 99_999));
        assert!(picked.iter().all(|&i| i < 100_000));
    }
}
