//! Whole networks on the adapter: every conv layer of a [`Network`] runs as a [`ConvJob`] whose input buffer is the
//! previous layer's output buffer, so activations stay on the device from layer to layer with no host round trip.
//!
//! - Only the convs run. Activations stay linear: no ReLU, batch-norm or pooling runs between them, since conv cost
//!   is what is measured. Weights are uniform in ±√(3/fan-in), so activations keep their scale through the network.
//! - A layer whose input shape is not the previous layer's output shape (MobileNet's fc after the 7×7 average pool,
//!   which is not run) gets its own input buffer, filled with random data; [`LayerInput::Random`] marks it.
//! - The whole network first runs once, so every buffer holds real activations. Each layer is then timed on its
//!   own (its dispatch repeated R times in one timed pass, as `compare` does), then the whole network in one
//!   submission.
//! - Afterwards every layer's output is read back once and up to [`CHECKED_OUTPUTS`] sampled values are checked
//!   against the CPU reference, computed from the layer's actual input (the previous layer's output as read back),
//!   so a broken kernel cannot report a speed.

use std::sync::Arc;

use serde::Serialize;
use thiserror::Error;

use crate::bench::{BenchSettings, Measurement};
use crate::ceilings::Ceilings;
use crate::compare::RooflinePoint;
use crate::cost::{ratio, Cost};
use crate::gpu::conv::TileTable;
use crate::gpu::{
    AdapterSummary, ConvJob, ConvKernels, GpuContext, GpuError, JobPlan, PassTimer, ShaderKind, TimerKind, Variant,
};
use crate::layer::ConvLayer;
use crate::measure::{self, Input};
use crate::reference::{Agreement, CHECKED_OUTPUTS};
use crate::rng::SplitMix64;
use crate::units::{flops_count, flops_rate, seconds};

use super::{LayerKind, ModelError, Network, NetworkLayer, Report};

/// The seed of the random weights and inputs; layer `i` draws from its own generator, so its data can be made
/// again for the check without keeping it.
pub const SEED: u64 = 0x6d6f_6465_6c5f_7275;

/// What a layer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerInput {
    /// The previous layer's output buffer, on the device.
    Chained,
    /// Its own buffer of random data: the first layer, or a layer whose input shape is not the previous output's.
    Random,
}

impl LayerInput {
    pub fn name(self) -> &'static str {
        match self {
            LayerInput::Chained => "chained",
            LayerInput::Random => "random",
        }
    }
}

/// What [`run`] is doing, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// Allocating the buffers, uploading the data and running the network once.
    Preparing,
    /// Timing layer `index` on its own.
    Layer { index: usize, name: &'a str },
    /// Timing the whole network in one submission.
    Whole,
    /// Reading the outputs back and checking them against the CPU reference.
    Checking,
}

/// Why a network could not be run at all (a layer that fails is a [`LayerFailure`] of the run instead).
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("model {model}: the network has no layers")]
    Empty { model: String },
    #[error("model {model}")]
    Gpu {
        model: String,
        #[source]
        source: Box<GpuError>,
    },
    #[error("model {model}: no layer could be run: {}", failures.iter().map(LayerFailure::to_string).collect::<Vec<_>>().join("; "))]
    NoLayerRan { model: String, failures: Vec<LayerFailure> },
}

/// A layer that could not be planned, built, timed, read back or checked (or whose output disagrees with the CPU
/// reference): it is reported by name with its error, and the network's other layers are still run and reported.
#[derive(Debug, Clone)]
pub struct LayerFailure {
    /// Its position in the network.
    pub index: usize,
    pub layer: NetworkLayer,
    /// The kernel it would have run on.
    pub shader: &'static str,
    pub error: Arc<GpuError>,
}

impl LayerFailure {
    /// The error and its causes on one line.
    pub fn message(&self) -> String {
        let mut text = self.error.to_string();
        let mut source = std::error::Error::source(self.error.as_ref());
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

impl std::fmt::Display for LayerFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "layers[{}] \"{}\" ({}, {} kernel): {}",
            self.index,
            self.layer.name,
            self.layer.kind,
            self.shader,
            self.message()
        )
    }
}

/// One layer, timed on its own and checked.
#[derive(Debug, Clone)]
pub struct LayerRun {
    /// Its position in the network.
    pub index: usize,
    pub layer: NetworkLayer,
    pub cost: Cost,
    /// The WGSL kernel that ran it.
    pub shader: &'static str,
    pub input: LayerInput,
    pub timer: TimerKind,
    pub measurement: Measurement,
    pub check: Agreement,
    pub checked_outputs: usize,
    /// The dispatches its job issues (a generated GEMM's pack and K slices count each).
    pub dispatches: u32,
}

impl LayerRun {
    /// Median GPU time per dispatch (wall time where timestamps are missing).
    pub fn time_s(&self) -> f64 {
        self.measurement.median_s()
    }

    /// FLOPs (2·MACs) / median time.
    pub fn flops_per_s(&self) -> f64 {
        self.measurement.rate(self.cost.flops)
    }
}

/// The layers of one kind: their FLOPs and measured time, each as a share of the network's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KindTime {
    pub kind: LayerKind,
    pub layers: usize,
    pub cost: Cost,
    /// Percent of the network's FLOPs.
    pub flops_share: f64,
    /// Sum of the kind's per-layer median times.
    pub time_s: f64,
    /// Percent of the sum of every layer's median time.
    pub time_share: f64,
}

impl KindTime {
    pub fn flops_per_s(&self) -> f64 {
        self.cost.flops as f64 / self.time_s
    }
}

/// A network run on one adapter: every layer timed on its own, and the whole network in one submission.
#[derive(Debug, Clone)]
pub struct NetworkRun {
    pub adapter: AdapterSummary,
    pub variant: Variant,
    /// The counts, exactly as `convflops model` prints them without `--run`.
    pub report: Report,
    /// The counts of the layers in [`NetworkRun::layers`] (equal to `report` when no layer failed): shares and
    /// rates are taken over these.
    pub measured: Report,
    /// The layers timed and checked, in network order.
    pub layers: Vec<LayerRun>,
    /// Every layer that got its buffers, in order, in one compute pass per sample.
    pub whole: Measurement,
    /// How many layers ran in the whole-network pass (all of them unless some failed).
    pub whole_layers: usize,
    /// The counts of the layers in the whole-network pass.
    pub whole_cost: Cost,
    /// The layers that failed, in network order, with their errors.
    pub failed: Vec<LayerFailure>,
    pub timer: TimerKind,
    /// The adapter's measured ceilings, when known (`convflops peak` caches them).
    pub ceilings: Option<Ceilings>,
}

/// Does `next` read exactly what `previous` writes (same batch, channels, height and width)?
pub fn feeds(previous: &ConvLayer, next: &ConvLayer) -> bool {
    previous.batch == next.batch
        && previous.out_channels == next.in_channels
        && previous.out_height() == next.height
        && previous.out_width() == next.width
}

/// Which input each layer reads: chained where the previous output has its input's shape, else random.
pub fn inputs(network: &Network) -> Vec<LayerInput> {
    let mut previous: Option<&ConvLayer> = None;
    network
        .layers
        .iter()
        .map(|l| {
            let input = match previous {
                Some(p) if feeds(p, &l.layer) => LayerInput::Chained,
                _ => LayerInput::Random,
            };
            previous = Some(&l.layer);
            input
        })
        .collect()
}

/// Unchained layers up to which each gets its own note; past it, one line names them all.
const MAX_UNCHAINED_NOTES: usize = 3;

/// One layer's random data: its input (only when it does not read the previous layer's output), its weights
/// (uniform in ±√(3/fan-in), which keeps the activations' scale) and its bias.
struct LayerData {
    input: Option<Vec<f32>>,
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
}

fn scaled(rng: &mut SplitMix64, len: Option<u64>, scale: f32) -> Vec<f32> {
    let len = len.and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
    (0..len).map(|_| rng.signed_unit() * scale).collect()
}

fn layer_data(index: usize, layer: &ConvLayer, input: LayerInput) -> LayerData {
    let mut rng = SplitMix64::new(SEED ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let input = (input == LayerInput::Random).then(|| scaled(&mut rng, layer.input_len(), 1.0));
    let fan_in = f64::from(layer.in_channels_per_group()) * layer.kernel_area() as f64;
    let weight = scaled(&mut rng, layer.weight_len(), (3.0 / fan_in.max(1.0)).sqrt() as f32);
    let bias = layer.bias.then(|| scaled(&mut rng, Some(layer.bias_len()), 0.1));
    LayerData { input, weight, bias }
}

/// A network's layers planned for a run: each layer's kernel and tiles, its plan (None when a limit refused it, the
/// failure recorded), and what each layer reads.
struct Planned {
    shaders: Vec<(ConvLayer, ShaderKind)>,
    layer_tiles: Vec<TileTable>,
    plans: Vec<Option<JobPlan>>,
    failed: Vec<LayerFailure>,
    inputs: Vec<LayerInput>,
}

/// Plans every layer of `network` with `variant`'s kernels and checks the memory budget of the whole run, before any
/// kernel is built or buffer allocated. A layer that a limit refuses is recorded as failed; the budget refuses the run.
fn plan(ctx: &GpuContext, network: &Network, variant: Variant) -> Result<Planned, RunError> {
    let model = network.name.clone();
    let gpu_error = |source: GpuError| RunError::Gpu {
        model: model.clone(),
        source: Box::new(source),
    };
    // Each layer's vec4 kernel gets the tile `convflops tune` cached for its shape class, else the built-in one.
    // `auto`: each layer on the kernel `tune` chose for its class, else on the adapter's default family.
    let auto = crate::tune::AutoKernels::load(&ctx.summary);
    let shaders: Vec<(ConvLayer, ShaderKind)> = network
        .layers
        .iter()
        .map(|l| (l.layer, auto.shader_for(variant, &l.layer)))
        .collect();
    let layer_tiles = crate::tune::tiles_per_layer(&ctx.summary, &shaders);
    let mut failed: Vec<LayerFailure> = Vec::new();
    let fail = |failed: &mut Vec<LayerFailure>, index: usize, error: GpuError| {
        failed.push(LayerFailure {
            index,
            layer: network.layers[index].clone(),
            shader: shaders[index].1.name(),
            error: Arc::new(error),
        });
    };

    // Every limit and the memory budget are checked before any kernel is built or buffer allocated.
    let mut plans: Vec<Option<JobPlan>> = Vec::with_capacity(network.layers.len());
    for (index, ((layer, shader), tiles)) in shaders.iter().zip(&layer_tiles).enumerate() {
        match JobPlan::with_tile(&ctx.summary, layer, *shader, tiles.get(*shader)) {
            Ok(plan) => plans.push(Some(plan)),
            Err(error) => {
                fail(&mut failed, index, error);
                plans.push(None);
            }
        }
    }
    // A layer reads the previous output only when the previous layer is planned too.
    let mut inputs = inputs(network);
    for index in 1..inputs.len() {
        if plans[index - 1].is_none() {
            inputs[index] = LayerInput::Random;
        }
    }
    let device_bytes = plans
        .iter()
        .zip(&inputs)
        .filter_map(|(p, input)| Some(p.as_ref()?.buffer_bytes(*input == LayerInput::Chained)))
        .chain(plans.iter().flatten().map(JobPlan::readback_bytes).max())
        .fold(0u64, u64::saturating_add);
    let batch = network.layers.first().map_or(1, |l| l.layer.batch);
    ctx.memory
        .check(&format!("running {model} (batch {batch}) layer by layer"), device_bytes)
        .map_err(gpu_error)?;
    Ok(Planned {
        shaders,
        layer_tiles,
        plans,
        failed,
        inputs,
    })
}

/// Whether [`run`] would refuse `network` on `ctx` (no layers, a count overflow, or the memory budget), checked
/// without building a kernel or allocating a buffer: for callers that do other long work (measuring ceilings)
/// before the run, so that a run that cannot fit is refused first.
pub fn check(ctx: &GpuContext, network: &Network, variant: Variant) -> Result<(), RunError> {
    if network.layers.is_empty() {
        return Err(RunError::Empty {
            model: network.name.clone(),
        });
    }
    Report::of(network)?;
    plan(ctx, network, variant).map(|_| ())
}

/// Runs every layer of `network` on `ctx` with the `variant` kernels: chained buffers, each layer timed on its own,
/// the whole network timed in one submission, every output checked. `progress` hears each step.
///
/// A layer that fails (a limit, a kernel that refuses it, a failed measurement or read-back, an output that
/// disagrees with the CPU reference) becomes a [`LayerFailure`] of the run and the others go on; a layer that read
/// a layer that could not be run reads its own random data instead. Only what concerns the whole network (the
/// memory budget, the timer, the whole-network pass) or a network where no layer ran is an error.
pub fn run(
    ctx: &GpuContext,
    network: &Network,
    variant: Variant,
    settings: &BenchSettings,
    mut progress: impl FnMut(Step<'_>),
) -> Result<NetworkRun, RunError> {
    let model = network.name.clone();
    if network.layers.is_empty() {
        return Err(RunError::Empty { model });
    }
    let report = Report::of(network)?;
    let gpu_error = |source: GpuError| RunError::Gpu {
        model: model.clone(),
        source: Box::new(source),
    };
    progress(Step::Preparing);

    let Planned {
        shaders,
        layer_tiles,
        plans,
        mut failed,
        mut inputs,
    } = plan(ctx, network, variant)?;
    let fail = |failed: &mut Vec<LayerFailure>, index: usize, error: GpuError| {
        failed.push(LayerFailure {
            index,
            layer: network.layers[index].clone(),
            shader: shaders[index].1.name(),
            error: Arc::new(error),
        });
    };
    let timer = PassTimer::new(ctx).map_err(gpu_error)?;

    // One set of pipelines per distinct tile table; a table whose pipelines cannot be built fails its layers.
    let mut pipelines: Vec<(TileTable, ConvKernels)> = Vec::new();
    // (network index, pipelines used, job) of every layer that got its buffers.
    let mut jobs: Vec<(usize, usize, ConvJob)> = Vec::with_capacity(plans.len());
    for (index, plan) in plans.iter().enumerate() {
        let Some(plan) = plan else { continue };
        let tiles = layer_tiles[index];
        let at = match pipelines.iter().position(|(t, _)| *t == tiles) {
            Some(at) => at,
            None => match ConvKernels::with_tiles(ctx, tiles) {
                Ok(kernels) => {
                    pipelines.push((tiles, kernels));
                    pipelines.len() - 1
                }
                Err(error) => {
                    fail(&mut failed, index, error);
                    continue;
                }
            },
        };
        let chained = match (inputs[index], jobs.last()) {
            (LayerInput::Chained, Some((previous, _, job))) if *previous + 1 == index => Some(job.output.clone()),
            _ => None,
        };
        // A layer whose previous layer got no buffers reads random data after all.
        if chained.is_none() {
            inputs[index] = LayerInput::Random;
        }
        let data = layer_data(index, &plan.layer, inputs[index]);
        let input = match (&chained, &data.input) {
            (Some(buffer), _) => Input::Buffer(buffer),
            (None, random) => Input::Data(random.as_deref().unwrap_or(&[])),
        };
        let kernels = &pipelines[at].1;
        match measure::prepare(
            ctx,
            kernels,
            &plan.layer,
            plan.shader,
            input,
            &data.weight,
            data.bias.as_deref(),
        ) {
            Ok(job) => jobs.push((index, at, job)),
            Err(error) => fail(&mut failed, index, error),
        }
    }
    let forward = |pass: &mut wgpu::ComputePass<'_>| {
        for (_, at, job) in &jobs {
            job.encode(&pipelines[*at].1, pass);
        }
    };
    // One untimed run first, so each layer is then timed on real activations rather than zeros.
    timer.time_pass(ctx, forward).map_err(gpu_error)?;

    let mut measurements = Vec::with_capacity(jobs.len());
    for (index, at, job) in &jobs {
        progress(Step::Layer {
            index: *index,
            name: &network.layers[*index].name,
        });
        measurements.push(measure::time(ctx, &timer, settings, |pass| {
            job.encode(&pipelines[*at].1, pass)
        }));
    }
    progress(Step::Whole);
    // The whole-network pass runs last, so afterwards every output is its layer applied to the output before it.
    let whole = measure::time(ctx, &timer, settings, forward).map_err(gpu_error)?;

    progress(Step::Checking);
    let mut rng = SplitMix64::new(SEED);
    // The output of the layer before, as read back (its network index and values).
    let mut previous: Option<(usize, Vec<f32>)> = None;
    let mut layers = Vec::with_capacity(jobs.len());
    for ((index, _, job), measurement) in jobs.iter().zip(measurements) {
        let (index, input) = (*index, inputs[*index]);
        let checked = measurement.and_then(|measurement| {
            let data = layer_data(index, &job.layer, input);
            let layer_input = match (&data.input, &previous) {
                (Some(random), _) => random.as_slice(),
                (None, Some((p, chained))) if p + 1 == index => chained.as_slice(),
                // The previous layer's output could not be read back: the length check names it.
                _ => &[],
            };
            let checked = measure::read_and_check(ctx, job, layer_input, &data.weight, data.bias.as_deref(), &mut rng)?;
            let check = checked.passed(job.shader.name());
            // The next layer's reference reads this output, right or wrong: it checks that layer, not this one.
            let count = checked.checked;
            previous = Some((index, checked.output));
            Ok((measurement, check?, count))
        });
        match checked {
            Ok((measurement, check, checked_outputs)) => layers.push(LayerRun {
                index,
                layer: network.layers[index].clone(),
                cost: report.layers[index].cost,
                shader: job.shader.name(),
                input,
                timer: timer.kind(),
                measurement,
                check,
                checked_outputs,
                dispatches: u32::try_from(job.dispatch_count()).unwrap_or(u32::MAX),
            }),
            Err(error) => fail(&mut failed, index, error),
        }
    }
    failed.sort_by_key(|f| f.index);
    if layers.is_empty() {
        return Err(RunError::NoLayerRan {
            model,
            failures: failed,
        });
    }
    let counts = |name: &str, members: Vec<NetworkLayer>| {
        Report::of(&Network {
            name: name.to_string(),
            layers: members,
        })
    };
    let measured = counts(&network.name, layers.iter().map(|l| l.layer.clone()).collect())?;
    let whole_cost = counts(
        &network.name,
        jobs.iter().map(|(i, _, _)| network.layers[*i].clone()).collect(),
    )?
    .totals;
    Ok(NetworkRun {
        adapter: ctx.summary.clone(),
        variant,
        report,
        measured,
        layers,
        whole,
        whole_layers: jobs.len(),
        whole_cost,
        failed,
        timer: timer.kind(),
        ceilings: None,
    })
}

/// `standard convs`, `pointwise convs`, `fc layers`: a kind in the plural, for sentences.
pub fn plural(kind: LayerKind) -> &'static str {
    match kind {
        LayerKind::Standard => "standard convs",
        LayerKind::Depthwise => "depthwise convs",
        LayerKind::Pointwise => "pointwise convs",
        LayerKind::Fc => "fc layers",
    }
}

impl NetworkRun {
    pub fn model(&self) -> &str {
        &self.report.model
    }

    pub fn batch(&self) -> u32 {
        self.report.layers.first().map_or(1, |l| l.layer.layer.batch)
    }

    /// The network's input as `HxWxC`.
    pub fn input_shape(&self) -> String {
        self.report.layers.first().map_or_else(String::new, |l| {
            let l = &l.layer.layer;
            format!("{}x{}x{}", l.height, l.width, l.in_channels)
        })
    }

    /// The sum of every layer's median time.
    pub fn layer_time_s(&self) -> f64 {
        self.layers.iter().map(LayerRun::time_s).sum()
    }

    /// The whole network's median time in one submission.
    pub fn whole_time_s(&self) -> f64 {
        self.whole.best().median
    }

    /// A layer's share of the summed per-layer time, in percent.
    pub fn time_share(&self, layer: &LayerRun) -> f64 {
        100.0 * layer.time_s() / self.layer_time_s()
    }

    /// A layer's share of the FLOPs of the layers that ran (the network's, when none failed), in percent.
    pub fn flops_share(&self, layer: &LayerRun) -> f64 {
        100.0 * ratio(layer.cost.flops, self.measured.totals.flops)
    }

    /// The FLOPs of the whole-network pass over its median time.
    pub fn whole_flops_per_s(&self) -> f64 {
        self.whole_cost.flops as f64 / self.whole_time_s()
    }

    /// The FLOPs of the layers that ran over the sum of their median times.
    pub fn layers_flops_per_s(&self) -> f64 {
        self.measured.totals.flops as f64 / self.layer_time_s()
    }

    /// "N of M layers" when some layers could not run in the whole-network pass.
    fn partial(&self) -> Option<String> {
        (self.whole_layers != self.report.layers.len())
            .then(|| format!("{} of {} layers", self.whole_layers, self.report.layers.len()))
    }

    /// "whole network (one submission)", with "N of M layers" when some could not run.
    pub fn whole_label(&self) -> String {
        match self.partial() {
            None => "whole network (one submission)".to_string(),
            Some(p) => format!("whole network (one submission, {p})"),
        }
    }

    /// "total (sum of layers)", with "N of M layers" when some failed.
    pub fn total_label(&self) -> String {
        if self.failed.is_empty() {
            "total (sum of layers)".to_string()
        } else {
            format!(
                "total (sum of {} of {} layers)",
                self.layers.len(),
                self.report.layers.len()
            )
        }
    }

    /// FLOPs and time per kind present, in [`LayerKind::ALL`] order.
    pub fn by_kind(&self) -> Vec<KindTime> {
        let total = self.layer_time_s();
        LayerKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let counts = self.measured.kind(kind)?;
                let of_kind = || self.layers.iter().filter(move |l| l.layer.kind == kind);
                let time_s: f64 = of_kind().map(LayerRun::time_s).sum();
                Some(KindTime {
                    kind,
                    layers: of_kind().count(),
                    cost: counts.cost,
                    flops_share: 100.0 * ratio(counts.cost.flops, self.measured.totals.flops),
                    time_s,
                    time_share: 100.0 * time_s / total,
                })
            })
            .collect()
    }

    /// The roofline placement of `layer`, when the ceilings are known.
    pub fn roofline(&self, layer: &LayerRun) -> Option<RooflinePoint> {
        let ceilings = self.ceilings.as_ref()?;
        Some(RooflinePoint::of(
            ceilings,
            &layer.cost,
            layer.time_s(),
            layer.dispatches,
        ))
    }

    /// The layers that read random data because their input shape is not the previous layer's output shape, each
    /// with the layer before it.
    pub fn unchained(&self) -> Vec<(&NetworkLayer, &LayerRun)> {
        self.layers
            .iter()
            .filter(|l| l.input == LayerInput::Random && l.index > 0)
            .filter_map(|l| {
                let previous = &self.report.layers.get(l.index - 1)?.layer;
                (!feeds(&previous.layer, &l.layer.layer)).then_some((previous, l))
            })
            .collect()
    }

    /// The headline: the pointwise convs' share of the time against their share of the FLOPs (the kind with the
    /// most FLOPs when there is no pointwise conv).
    pub fn headline(&self) -> String {
        let kinds = self.by_kind();
        let main = kinds
            .iter()
            .find(|k| k.kind == LayerKind::Pointwise)
            .or_else(|| kinds.iter().max_by(|a, b| a.flops_share.total_cmp(&b.flops_share)));
        match main {
            Some(k) => format!(
                "{} are {:.2} % of the FLOPs and took {:.1} % of the time.",
                plural(k.kind),
                k.flops_share,
                k.time_share
            ),
            None => String::new(),
        }
    }

    /// The headline, then why: the depthwise convs' share and rate against the pointwise convs', and the whole
    /// network's time.
    pub fn lesson(&self) -> Vec<String> {
        let kinds = self.by_kind();
        let mut lines = vec![self.headline()];
        let get = |kind| kinds.iter().find(|k| k.kind == kind);
        if let (Some(dw), Some(pw)) = (get(LayerKind::Depthwise), get(LayerKind::Pointwise)) {
            lines.push(format!(
                "depthwise convs are {:.2} % of the FLOPs and took {:.1} % of the time: at {:.1} FLOPs per byte they \
                 ran at {}, against {} for the pointwise convs ({:.1} FLOPs per byte). FLOPs count work, not time.",
                dw.flops_share,
                dw.time_share,
                dw.cost.arithmetic_intensity(),
                flops_rate(dw.flops_per_s()),
                flops_rate(pw.flops_per_s()),
                pw.cost.arithmetic_intensity(),
            ));
        }
        if let Some(ceilings) = &self.ceilings {
            for k in &kinds {
                // The kind's launch floor is every dispatch of its layers, each timed on its own.
                let dispatches: u64 = self
                    .layers
                    .iter()
                    .filter(|l| l.layer.kind == k.kind)
                    .map(|l| u64::from(l.dispatches))
                    .sum();
                let d = ceilings.diagnose(k.cost.flops, k.cost.bytes, k.time_s, dispatches);
                lines.push(format!("Roofline, {} together: {}.", plural(k.kind), d.why()));
            }
            let launch_bound: Vec<&LayerRun> = self
                .layers
                .iter()
                .filter(|l| self.roofline(l).is_some_and(|p| p.launch_limited))
                .collect();
            if !launch_bound.is_empty() {
                let time: f64 = launch_bound.iter().map(|l| l.time_s()).sum();
                let flops: u64 = launch_bound.iter().map(|l| l.cost.flops).sum();
                lines.push(format!(
                    "{} of {} layers are launch-bound ({}): {:.2} % of the FLOPs and {:.1} % of the time, set by \
                     launch overhead, not their arithmetic or memory.",
                    launch_bound.len(),
                    self.layers.len(),
                    crate::compare::LAUNCH_MARK,
                    100.0 * ratio(flops, self.measured.totals.flops),
                    100.0 * time / self.layer_time_s(),
                ));
            }
        }
        lines.push(format!(
            "whole network in one submission{}: {} for {} = {}; the per-layer medians sum to {}.",
            self.partial().map_or(String::new(), |p| format!(" ({p})")),
            seconds(self.whole_time_s()),
            flops_count(self.whole_cost.flops),
            flops_rate(self.whole_flops_per_s()),
            seconds(self.layer_time_s()),
        ));
        lines
    }

    /// The notes under the table: what runs and what does not, how times are taken, the ceilings.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = vec![
            "Activations stay linear: only the convs run (no ReLU, batch-norm or pooling), chained on the device \
             from layer to layer with no host round trip; conv cost is what is measured."
                .to_string(),
        ];
        if !self.failed.is_empty() {
            let list: Vec<String> = self.failed.iter().map(LayerFailure::to_string).collect();
            notes.push(format!(
                "Failed layers ({} of {}), left out of the times, shares and rates above (a layer that would read \
                 one reads its own random data instead): {}.",
                self.failed.len(),
                self.report.layers.len(),
                list.join("; ")
            ));
        }
        let unchained = self.unchained();
        if unchained.len() > MAX_UNCHAINED_NOTES {
            // One line for a network with branches (EfficientNet's squeeze-excitation blocks give dozens).
            let names: Vec<&str> = unchained.iter().map(|(_, l)| l.layer.name.as_str()).collect();
            notes.push(format!(
                "{} layers read their own buffer of random data, their input shape not being the previous layer's \
                 output (what sits between them, e.g. pooling or a squeeze-excitation branch, is not run): {}.",
                names.len(),
                names.join(", ")
            ));
        }
        for (previous, layer) in unchained.iter().filter(|_| unchained.len() <= MAX_UNCHAINED_NOTES) {
            let p = &previous.layer;
            let l = &layer.layer.layer;
            notes.push(format!(
                "Layer {} reads its own buffer of random data: its input {}x{}x{} is not the previous layer's output \
                 {}x{}x{} (what sits between them, e.g. a pooling layer, is not run).",
                layer.layer.name,
                l.height,
                l.width,
                l.in_channels,
                p.out_height(),
                p.out_width(),
                p.out_channels,
            ));
        }
        let samples = self
            .layers
            .iter()
            .map(|l| l.measurement.best().samples)
            .min()
            .unwrap_or(0);
        let timer = match self.timer {
            TimerKind::Timestamp => "GPU timestamps at the beginning and end of each pass",
            TimerKind::Wall => "wall-clock time, submit to completion (this adapter has no timestamp queries)",
        };
        notes.push(format!(
            "Each layer is timed on its own: the median of at least {samples} samples, each `dispatches/sample` \
             back-to-back dispatches divided by that count, from {timer}. The whole network is timed in one \
             submission. Every layer's output checked against the CPU reference on up to {CHECKED_OUTPUTS} sampled \
             values."
        ));
        match &self.ceilings {
            Some(k) => {
                notes.push(format!(
                    "Ceilings of this adapter: peak {} (FMA), bandwidth {} (copy); lower roof = the smaller of peak and bandwidth × FLOPs/byte{}.",
                    flops_rate(k.fma_flops_per_s),
                    crate::units::si(k.bandwidth_bytes_per_s, "B/s"),
                    if k.launch.is_some() {
                        ", or \"launch\" where the layer's dispatches take longer than either"
                    } else {
                        ""
                    },
                ));
                match crate::compare::launch_legend(k) {
                    Some(legend) => notes.push(legend),
                    None => notes.push(
                        "The launch latency of this adapter is not known: `convflops peak` measures it.".to_string(),
                    ),
                }
            }
            None => notes.push(
                "No ceilings known for this adapter: run `convflops peak` (cached) for the % of peak and bound columns."
                    .to_string(),
            ),
        }
        if self.adapter.software {
            notes.push("(A CPU adapter: these are CPU numbers, not GPU numbers.)".to_string());
        }
        notes
    }
}

/// Two networks run on the same adapter (`convflops model --compare A B`).
#[derive(Debug, Clone)]
pub struct NetworkComparison {
    pub first: NetworkRun,
    pub second: NetworkRun,
}

impl NetworkComparison {
    /// second / first FLOPs.
    pub fn flops_ratio(&self) -> f64 {
        ratio(self.second.report.totals.flops, self.first.report.totals.flops)
    }

    /// second / first time of the whole network in one submission.
    pub fn time_ratio_whole(&self) -> f64 {
        self.second.whole_time_s() / self.first.whole_time_s()
    }

    /// second / first sum of the per-layer median times.
    pub fn time_ratio_layers(&self) -> f64 {
        self.second.layer_time_s() / self.first.layer_time_s()
    }

    /// FLOPs ratio against time ratio, in words: which network is cheaper by FLOPs and how much faster it ran.
    pub fn lesson(&self) -> String {
        let (cheap, dear, flops, whole, layers) = if self.flops_ratio() >= 1.0 {
            (
                &self.first,
                &self.second,
                self.flops_ratio(),
                self.time_ratio_whole(),
                self.time_ratio_layers(),
            )
        } else {
            (
                &self.second,
                &self.first,
                1.0 / self.flops_ratio(),
                1.0 / self.time_ratio_whole(),
                1.0 / self.time_ratio_layers(),
            )
        };
        let ran = if whole >= flops {
            format!("and ran {whole:.2}× faster")
        } else if whole >= 1.005 {
            format!("but ran only {whole:.2}× faster")
        } else if whole > 1.0 / 1.005 {
            "but ran no faster".to_string()
        } else {
            format!("but ran {:.2}× slower", 1.0 / whole)
        };
        let mut lesson = format!(
            "{} needs {flops:.2}× fewer FLOPs than {} {ran} (whole network in one submission; {layers:.2}× by the \
             sum of the per-layer medians). FLOPs predict {flops:.2}×, the clock says {whole:.2}×.",
            cheap.model(),
            dear.model(),
        );
        for run in [&self.first, &self.second] {
            if !run.failed.is_empty() {
                lesson.push_str(&format!(
                    " But {} of {}'s {} layers failed: its times leave them out, so the time ratio is not the \
                     networks'.",
                    run.failed.len(),
                    run.model(),
                    run.report.layers.len()
                ));
            }
        }
        lesson
    }

    /// `B / A: FLOPs …×, time …× (whole network), …× (sum of layers)`.
    pub fn ratios(&self) -> String {
        format!(
            "{} / {}: FLOPs {:.2}×, time {:.2}× (whole network), {:.2}× (sum of layers)",
            self.second.model(),
            self.first.model(),
            self.flops_ratio(),
            self.time_ratio_whole(),
            self.time_ratio_layers(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::mobilenet_v1;

    #[test]
    fn mobilenet_chains_every_layer_but_the_first_and_the_fc() {
        let net = mobilenet_v1(2);
        let inputs = inputs(&net);
        assert_eq!(inputs.len(), 28);
        assert_eq!(inputs[0], LayerInput::Random);
        assert_eq!(inputs[27], LayerInput::Random);
        assert!(inputs[1..27].iter().all(|i| *i == LayerInput::Chained));
        // The fc reads 1×1×1024, the last pointwise conv writes 7×7×1024.
        assert!(!feeds(&net.layers[26].layer, &net.layers[27].layer));
    }

    #[test]
    fn weights_keep_the_scale_and_data_is_reproducible() {
        let net = mobilenet_v1(1);
        let layer = &net.layers[2].layer; // pw2: 32 → 64, fan-in 32
        let a = layer_data(2, layer, LayerInput::Chained);
        let b = layer_data(2, layer, LayerInput::Chained);
        assert_eq!(a.weight, b.weight);
        assert!(a.input.is_none() && a.bias.is_none());
        let bound = (3.0f32 / 32.0).sqrt();
        assert!(a.weight.iter().all(|w| w.abs() <= bound));
        let variance = a.weight.iter().map(|w| f64::from(w * w)).sum::<f64>() / a.weight.len() as f64;
        // Uniform in ±√(3/fan-in) has variance 1/fan-in.
        assert!((variance * 32.0 - 1.0).abs() < 0.1, "{variance}");
        let first = layer_data(0, &net.layers[0].layer, LayerInput::Random);
        assert_eq!(first.input.map(|i| i.len()), Some(3 * 224 * 224));
    }

    /// A run of `network` with made-up per-layer times (seconds per dispatch) and a whole-network time.
    fn fake(network: &Network, time: impl Fn(&NetworkLayer) -> f64, whole: f64) -> NetworkRun {
        let report = Report::of(network).unwrap();
        let measured = |t: f64| {
            let stats = crate::bench::Statistics::of(&[t * 0.9, t, t * 1.1]).unwrap();
            Measurement {
                gpu: Some(stats),
                wall: stats,
                repetitions: 1,
            }
        };
        let layers = network
            .layers
            .iter()
            .zip(&report.layers)
            .zip(super::inputs(network))
            .enumerate()
            .map(|(index, ((l, counted), input))| LayerRun {
                index,
                layer: l.clone(),
                cost: counted.cost,
                shader: "conv2d-tiled",
                input,
                timer: TimerKind::Timestamp,
                measurement: measured(time(l)),
                check: Agreement::default(),
                checked_outputs: 512,
                dispatches: 1,
            })
            .collect();
        NetworkRun {
            adapter: crate::gpu::AdapterSummary {
                device_type: "CPU".into(),
                software: true,
                ..crate::gpu::AdapterSummary::with_default_limits("Test Adapter")
            },
            variant: Variant::Tiled,
            measured: report.clone(),
            whole_layers: report.layers.len(),
            whole_cost: report.totals,
            failed: Vec::new(),
            report,
            layers,
            whole: measured(whole),
            timer: TimerKind::Timestamp,
            ceilings: None,
        }
    }

    #[test]
    fn shares_sum_to_100_and_the_headline_quotes_pointwise() {
        // Every layer takes 1 ms, except the pointwise convs (13 of 28 layers) at 2 ms: 26 of 41 ms.
        let run = fake(
            &mobilenet_v1(1),
            |l| if l.kind == LayerKind::Pointwise { 2e-3 } else { 1e-3 },
            50e-3,
        );
        let kinds = run.by_kind();
        let sum = |f: fn(&KindTime) -> f64| kinds.iter().map(f).sum::<f64>();
        assert!((sum(|k| k.flops_share) - 100.0).abs() < 1e-9);
        assert!((sum(|k| k.time_share) - 100.0).abs() < 1e-9);
        let layer_shares: f64 = run.layers.iter().map(|l| run.time_share(l)).sum();
        assert!((layer_shares - 100.0).abs() < 1e-9);
        assert!((run.layer_time_s() - 41e-3).abs() < 1e-12);
        assert_eq!(
            run.headline(),
            format!(
                "pointwise convs are 94.86 % of the FLOPs and took {:.1} % of the time.",
                2600.0 / 41.0
            )
        );
        let text = crate::export::table::network_run(&run);
        assert!(
            text.contains("whole network (one submission)") && text.contains("50.0 ms"),
            "{text}"
        );
        assert!(text.contains("Layer fc reads its own buffer of random data"), "{text}");
        assert!(text.contains("run `convflops peak`"), "{text}");
        let json = serde_json::to_value(crate::export::json::RunJson::from(&run)).unwrap();
        assert_eq!(json["totals"]["flops"], 1_137_480_704u64);
        assert_eq!(json["layers"][27]["input"], "random");
        assert_eq!(json["layers"][1]["input"], "chained");
        assert!(json["layers"][0]["percent_of_peak"].is_null());
    }

    #[test]
    fn many_unchained_layers_make_one_note() {
        let net = crate::models::efficientnet_b0(1);
        let run = fake(&net, |_| 1e-3, 0.1);
        let unchained = run.unchained();
        assert!(unchained.len() > MAX_UNCHAINED_NOTES);
        let notes = run.notes();
        let random: Vec<&String> = notes.iter().filter(|n| n.contains("random data")).collect();
        assert_eq!(random.len(), 1, "{notes:?}");
        assert!(random[0].starts_with(&format!("{} layers read their own buffer", unchained.len())));
        for (_, layer) in unchained {
            assert!(random[0].contains(&layer.layer.name), "{}", layer.layer.name);
        }
    }

    /// EfficientNet-B0 with a lavapipe-like cost model per layer (55 µs of fixed cost plus its FLOPs at 10 GFLOP/s)
    /// beside lavapipe's ceilings with a 51.9 µs launch latency: the squeeze-excitation convs (a few thousand FLOPs on a
    /// 1×1 input) are launch-bound and marked, every big conv is not, and each mark agrees with the times beside it.
    #[test]
    fn launch_bound_layers_are_marked_where_the_times_say_so() {
        let net = crate::models::efficientnet_b0(1);
        let time = |l: &NetworkLayer| 55e-6 + Cost::of_layer(&l.layer).unwrap().flops as f64 / 10e9;
        let mut run = fake(&net, time, 0.1);
        let launch = 51.9e-6;
        run.ceilings = Some(Ceilings {
            method: crate::ceilings::METHOD,
            fma_flops_per_s: 43.0e9,
            bandwidth_bytes_per_s: 16.3e9,
            read_bytes_per_s: 1.84e9,
            fma_variant: "recorded".into(),
            bandwidth_variant: "recorded".into(),
            read_variant: "recorded".into(),
            fma_variants: Vec::new(),
            bandwidth_variants: Vec::new(),
            bandwidth_buffer_bytes: 1 << 27,
            timer: "timestamp".into(),
            launch: Some(crate::ceilings::LaunchLatency {
                dispatch_s: launch,
                single_s: 82.4e-6,
                dispatches_per_sample: 86,
                timer: "timestamp".into(),
            }),
        });
        let mut marked = 0;
        for l in &run.layers {
            let p = run.roofline(l).unwrap();
            assert_eq!(p.launch_limited, l.time_s() <= 2.0 * launch, "{}", l.layer.name);
            if l.layer.name.contains(".fc") {
                assert!(p.launch_limited, "{} {}", l.layer.name, l.time_s());
            }
            if l.cost.flops > 1_000_000 {
                assert!(!p.launch_limited, "{}", l.layer.name);
            }
            marked += usize::from(p.launch_limited);
        }
        // 16 blocks, each with an SE fc1 and fc2.
        assert_eq!(marked, 32);
        let text = crate::export::table::network_run(&run);
        assert!(text.contains("launch †"), "{text}");
        assert!(
            text.contains("† launch-bound: its median time is at most 2× its launch floor"),
            "{text}"
        );
        let lesson = run.lesson().join("\n");
        assert!(
            lesson.contains(&format!("32 of {} layers are launch-bound (†)", run.layers.len())),
            "{lesson}"
        );
        // A kind's line calls it launch-bound exactly when its summed time is within 2× of its layers' floors (here
        // the fc kind: the SE convs and the classifier), and never names a roof then.
        let lines = run.lesson();
        for k in run.by_kind() {
            let line = lines
                .iter()
                .find(|l| l.starts_with(&format!("Roofline, {} together", plural(k.kind))))
                .unwrap();
            let layers = run.layers.iter().filter(|l| l.layer.kind == k.kind).count();
            let bound = k.time_s <= 2.0 * launch * layers as f64;
            assert_eq!(line.contains("launch overhead"), bound, "{line}");
            assert_eq!(line.contains("roof"), !bound, "{line}");
        }
        let markdown = crate::export::markdown::model_runs_to_string(&[&run], None);
        assert!(markdown.contains("| launch † |"), "{markdown}");
        let json = serde_json::to_value(crate::export::json::RunJson::from(&run)).unwrap();
        let bound = json["layers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["launch_bound"] == true)
            .count();
        assert_eq!(bound, 32);
    }

    #[test]
    fn the_comparison_sets_flops_against_time() {
        let cheap = fake(&mobilenet_v1(1), |_| 1e-3, 30e-3);
        let dear = fake(&crate::models::conv_mobilenet_v1(1), |_| 5e-3, 90e-3);
        let c = NetworkComparison {
            first: cheap,
            second: dear,
        };
        assert!((c.flops_ratio() - 9_734_586_368.0 / 1_137_480_704.0).abs() < 1e-12);
        assert!((c.time_ratio_whole() - 3.0).abs() < 1e-12);
        assert!((c.time_ratio_layers() - (15.0 * 5.0) / 28.0).abs() < 1e-12);
        let lesson = c.lesson();
        assert!(
            lesson.starts_with("mobilenet-v1 needs 8.56× fewer FLOPs than conv-mobilenet-v1 but ran only 3.00× faster"),
            "{lesson}"
        );
        let swapped = NetworkComparison {
            first: c.second.clone(),
            second: c.first.clone(),
        };
        assert!(
            swapped.lesson().starts_with("mobilenet-v1 needs 8.56× fewer FLOPs"),
            "{}",
            swapped.lesson()
        );
        let json = serde_json::to_value(crate::export::json::ComparisonJson::from(&c)).unwrap();
        assert!((json["ratios"]["time_whole_network"].as_f64().unwrap() - 3.0).abs() < 1e-12);
        assert_eq!(json["networks"][1]["model"], "conv-mobilenet-v1");
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(LayerKind::Pointwise), "pointwise convs");
        assert_eq!(plural(LayerKind::Fc), "fc layers");
    }
}
