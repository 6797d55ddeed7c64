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

use serde::Serialize;
use thiserror::Error;

use crate::bench::{self, BenchSettings, Measurement, Statistics};
use crate::ceilings::{Bound, Ceilings};
use crate::compare::RooflinePoint;
use crate::cost::{ratio, Cost};
use crate::export::json::{AdapterJson, CeilingsJson, LayerJson};
use crate::gpu::conv::TileTable;
use crate::gpu::{
    AdapterSummary, ConvJob, ConvKernels, GpuContext, GpuError, JobPlan, PassTimer, ShaderKind, TimerKind, Variant,
};
use crate::layer::ConvLayer;
use crate::reference::{self, Agreement};
use crate::reference::{sample_indices, CHECKED_OUTPUTS};
use crate::rng::SplitMix64;
use crate::units::{flops_count, flops_rate, group_digits, seconds};

use super::report::CountsJson;
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

/// Why a network could not be run.
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("model {model}: the network has no layers")]
    Empty { model: String },
    #[error("model {model}: layers[{index}] \"{name}\"")]
    Layer {
        model: String,
        index: usize,
        name: String,
        #[source]
        source: Box<GpuError>,
    },
    #[error("model {model}")]
    Gpu {
        model: String,
        #[source]
        source: Box<GpuError>,
    },
    #[error(
        "model {model}: layer {name} ({kind}, {shader} kernel): its output disagrees with the CPU reference at \
         {mismatches} of {checked} checked outputs: its speed is not reported (run `convflops verify`)"
    )]
    WrongResult {
        model: String,
        name: String,
        kind: LayerKind,
        shader: &'static str,
        mismatches: u64,
        checked: u64,
    },
}

/// One layer, timed on its own and checked.
#[derive(Debug, Clone)]
pub struct LayerRun {
    pub layer: NetworkLayer,
    pub cost: Cost,
    /// The WGSL kernel that ran it.
    pub shader: &'static str,
    pub input: LayerInput,
    pub timer: TimerKind,
    pub measurement: Measurement,
    pub check: Agreement,
    pub checked_outputs: usize,
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
    pub layers: Vec<LayerRun>,
    /// Every layer in order, in one compute pass per sample.
    pub whole: Measurement,
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

/// Runs every layer of `network` on `ctx` with the `variant` kernels: chained buffers, each layer timed on its own,
/// the whole network timed in one submission, every output checked. `progress` hears each step.
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
    let layer_error = |index: usize, source: GpuError| RunError::Layer {
        model: model.clone(),
        index,
        name: network.layers.get(index).map_or_else(String::new, |l| l.name.clone()),
        source: Box::new(source),
    };
    let gpu_error = |source: GpuError| RunError::Gpu {
        model: model.clone(),
        source: Box::new(source),
    };
    progress(Step::Preparing);

    // Every limit and the memory budget are checked before any kernel is built or buffer allocated.
    let inputs = inputs(network);
    let mut plans = Vec::with_capacity(network.layers.len());
    // Each layer's vec4 kernel gets the tile `convflops tune` cached for its shape class, else the built-in one;
    // one set of pipelines per distinct tile table.
    // `auto`: each layer on the kernel `tune` chose for its class, else on the adapter's default family.
    let auto = crate::tune::AutoKernels::load(&ctx.summary);
    let shaders: Vec<(ConvLayer, ShaderKind)> = network
        .layers
        .iter()
        .map(|l| (l.layer, auto.shader_for(variant, &l.layer)))
        .collect();
    let layer_tiles = crate::tune::tiles_per_layer(&ctx.summary, &shaders);
    for (index, ((layer, shader), tiles)) in shaders.iter().zip(&layer_tiles).enumerate() {
        let plan = JobPlan::with_tile(&ctx.summary, layer, *shader, tiles.get(*shader))
            .map_err(|source| layer_error(index, source))?;
        plans.push(plan);
    }
    let device_bytes = plans
        .iter()
        .zip(&inputs)
        .map(|(p, input)| p.buffer_bytes(*input == LayerInput::Chained))
        .chain(plans.iter().map(JobPlan::readback_bytes).max())
        .fold(0u64, u64::saturating_add);
    let batch = network.layers.first().map_or(1, |l| l.layer.batch);
    ctx.memory
        .check(&format!("running {model} (batch {batch}) layer by layer"), device_bytes)
        .map_err(gpu_error)?;
    let mut pipelines: Vec<(TileTable, ConvKernels)> = Vec::new();
    let mut uses = Vec::with_capacity(plans.len());
    for tiles in &layer_tiles {
        let at = match pipelines.iter().position(|(t, _)| t == tiles) {
            Some(at) => at,
            None => {
                pipelines.push((*tiles, ConvKernels::with_tiles(ctx, *tiles).map_err(gpu_error)?));
                pipelines.len() - 1
            }
        };
        uses.push(at);
    }
    let kernels_of = |index: usize| &pipelines[uses[index]].1;
    let timer = PassTimer::new(ctx).map_err(gpu_error)?;

    let mut jobs: Vec<ConvJob> = Vec::with_capacity(plans.len());
    for (index, (plan, input)) in plans.iter().zip(&inputs).enumerate() {
        let chained = match (input, jobs.last()) {
            (LayerInput::Chained, Some(previous)) => Some(previous.output.clone()),
            _ => None,
        };
        let job = ConvJob::new(ctx, kernels_of(index), &plan.layer, plan.shader, chained.as_ref())
            .map_err(|source| layer_error(index, source))?;
        let data = layer_data(index, &plan.layer, *input);
        job.upload(ctx, data.input.as_deref(), &data.weight, data.bias.as_deref())
            .map_err(|source| layer_error(index, source))?;
        jobs.push(job);
    }
    let forward = |pass: &mut wgpu::ComputePass<'_>| {
        for (index, job) in jobs.iter().enumerate() {
            job.encode(kernels_of(index), pass);
        }
    };
    // One untimed run first, so each layer is then timed on real activations rather than zeros.
    timer.time_pass(ctx, forward).map_err(gpu_error)?;

    let mut measurements = Vec::with_capacity(jobs.len());
    for (index, (job, l)) in jobs.iter().zip(&network.layers).enumerate() {
        progress(Step::Layer { index, name: &l.name });
        let measurement = bench::measure(settings, |repetitions| {
            timer.time_pass(ctx, |pass| {
                for _ in 0..repetitions {
                    job.encode(kernels_of(index), pass);
                }
            })
        })
        .map_err(|source| layer_error(index, source))?;
        measurements.push(measurement);
    }
    progress(Step::Whole);
    // The whole-network pass runs last, so afterwards every output is its layer applied to the output before it.
    let whole = bench::measure(settings, |repetitions| {
        timer.time_pass(ctx, |pass| {
            for _ in 0..repetitions {
                forward(pass);
            }
        })
    })
    .map_err(gpu_error)?;

    progress(Step::Checking);
    let mut rng = SplitMix64::new(SEED);
    let mut previous: Option<Vec<f32>> = None;
    let mut layers = Vec::with_capacity(jobs.len());
    for (index, ((job, measurement), input)) in jobs.iter().zip(measurements).zip(&inputs).enumerate() {
        let output = job.read_output(ctx).map_err(|source| layer_error(index, source))?;
        let data = layer_data(index, &job.layer, *input);
        let layer_input = match (&data.input, &previous) {
            (Some(random), _) => random.as_slice(),
            (None, Some(chained)) => chained.as_slice(),
            (None, None) => &[],
        };
        let expected_input = job.layer.input_len().unwrap_or(u64::MAX);
        if layer_input.len() as u64 != expected_input || output.len() as u64 != job.layer.output_len().unwrap_or(0) {
            return Err(layer_error(
                index,
                GpuError::DataLength {
                    what: "layer input for the CPU reference",
                    expected: expected_input,
                    got: layer_input.len() as u64,
                },
            ));
        }
        let indices = sample_indices(output.len(), CHECKED_OUTPUTS, &mut rng);
        let check = reference::compare_at(
            &job.layer,
            &output,
            layer_input,
            &data.weight,
            data.bias.as_deref(),
            &indices,
        );
        let l = &network.layers[index];
        if !check.passed() {
            return Err(RunError::WrongResult {
                model,
                name: l.name.clone(),
                kind: l.kind,
                shader: job.shader.name(),
                mismatches: check.mismatches,
                checked: indices.len() as u64,
            });
        }
        layers.push(LayerRun {
            layer: l.clone(),
            cost: report.layers[index].cost,
            shader: job.shader.name(),
            input: *input,
            timer: timer.kind(),
            measurement,
            check,
            checked_outputs: indices.len(),
        });
        previous = Some(output);
    }
    Ok(NetworkRun {
        adapter: ctx.summary.clone(),
        variant,
        report,
        layers,
        whole,
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
        self.layers.first().map_or(1, |l| l.layer.layer.batch)
    }

    /// The network's input as `HxWxC`.
    pub fn input_shape(&self) -> String {
        self.layers.first().map_or_else(String::new, |l| {
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

    /// A layer's share of the network's FLOPs, in percent.
    pub fn flops_share(&self, layer: &LayerRun) -> f64 {
        100.0 * ratio(layer.cost.flops, self.report.totals.flops)
    }

    /// FLOPs and time per kind present, in [`LayerKind::ALL`] order.
    pub fn by_kind(&self) -> Vec<KindTime> {
        let total = self.layer_time_s();
        LayerKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let counts = self.report.kind(kind)?;
                let of_kind = || self.layers.iter().filter(move |l| l.layer.kind == kind);
                let time_s: f64 = of_kind().map(LayerRun::time_s).sum();
                Some(KindTime {
                    kind,
                    layers: of_kind().count(),
                    cost: counts.cost,
                    flops_share: 100.0 * ratio(counts.cost.flops, self.report.totals.flops),
                    time_s,
                    time_share: 100.0 * time_s / total,
                })
            })
            .collect()
    }

    /// The roofline placement of `layer`, when the ceilings are known.
    pub fn roofline(&self, layer: &LayerRun) -> Option<RooflinePoint> {
        let ceilings = self.ceilings.as_ref()?;
        let (bound_flops_per_s, bound) = ceilings.bound(layer.cost.arithmetic_intensity());
        Some(RooflinePoint {
            bound_flops_per_s,
            bound,
            percent_of_peak: 100.0 * layer.flops_per_s() / ceilings.fma_flops_per_s,
            percent_of_roofline: 100.0 * layer.flops_per_s() / bound_flops_per_s,
        })
    }

    /// The layers that read random data although they are not the first (their input shape is not the previous
    /// layer's output shape).
    pub fn unchained(&self) -> Vec<(&LayerRun, &LayerRun)> {
        self.layers
            .windows(2)
            .filter(|pair| pair[1].input == LayerInput::Random)
            .map(|pair| (&pair[0], &pair[1]))
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
                let d = ceilings.diagnose(k.cost.flops, k.cost.bytes, k.time_s);
                lines.push(format!("Roofline, {} together: {}.", plural(k.kind), d.why()));
            }
        }
        lines.push(format!(
            "whole network in one submission: {} for {} = {}; the per-layer medians sum to {}.",
            seconds(self.whole_time_s()),
            flops_count(self.report.totals.flops),
            flops_rate(self.report.totals.flops as f64 / self.whole_time_s()),
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
        for (previous, layer) in self.unchained() {
            let p = &previous.layer.layer;
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
            Some(k) => notes.push(format!(
                "Ceilings of this adapter: peak {} (FMA), bandwidth {} (copy); lower roof = the smaller of peak and bandwidth × FLOPs/byte.",
                flops_rate(k.fma_flops_per_s),
                crate::units::si(k.bandwidth_bytes_per_s, "B/s"),
            )),
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

    /// The human report: per-layer table with totals, then the by-kind table, the lesson and the notes.
    pub fn table(&self) -> String {
        let time_header = match self.timer {
            TimerKind::Timestamp => "GPU time (median)",
            TimerKind::Wall => "time (wall, median)",
        };
        let mut layers = crate::export::table::new_table(&[
            "layer",
            "kind",
            "input",
            "output HxWxC",
            "FLOPs",
            "FLOPs/byte",
            time_header,
            "±",
            "dispatches/sample",
            "FLOP/s",
            "% of peak",
            "lower roof",
            "share of FLOPs",
            "share of time",
        ]);
        for column in [1, 2] {
            if let Some(column) = layers.column_mut(column) {
                column.set_cell_alignment(comfy_table::CellAlignment::Left);
            }
        }
        for l in &self.layers {
            let roof = self.roofline(l);
            let shape = &l.layer.layer;
            let t = l.measurement.best();
            layers.add_row(vec![
                l.layer.name.clone(),
                l.layer.kind.name().to_string(),
                l.input.name().to_string(),
                format!("{}x{}x{}", shape.out_height(), shape.out_width(), shape.out_channels),
                flops_count(l.cost.flops),
                format!("{:.2}", l.cost.arithmetic_intensity()),
                seconds(t.median),
                format!("{:.1} %", 100.0 * t.rel_stddev),
                l.measurement.repetitions.to_string(),
                flops_rate(l.flops_per_s()),
                roof.map_or("—".to_string(), |p| format!("{:.1} %", p.percent_of_peak)),
                roof.map_or("—".to_string(), |p| p.bound.name().to_string()),
                format!("{:.2} %", self.flops_share(l)),
                format!("{:.1} %", self.time_share(l)),
            ]);
        }
        let totals = &self.report.totals;
        let total_row = |label: &str, time: f64, stats: Option<&Statistics>, reps: String| {
            vec![
                label.to_string(),
                String::new(),
                String::new(),
                String::new(),
                flops_count(totals.flops),
                format!("{:.2}", totals.arithmetic_intensity()),
                seconds(time),
                stats.map_or(String::new(), |s| format!("{:.1} %", 100.0 * s.rel_stddev)),
                reps,
                flops_rate(totals.flops as f64 / time),
                self.ceilings.as_ref().map_or("—".to_string(), |k| {
                    format!("{:.1} %", 100.0 * totals.flops as f64 / time / k.fma_flops_per_s)
                }),
                String::new(),
                "100.00 %".to_string(),
                String::new(),
            ]
        };
        layers.add_row(total_row(
            "total (sum of layers)",
            self.layer_time_s(),
            None,
            String::new(),
        ));
        layers.add_row(total_row(
            "whole network (one submission)",
            self.whole_time_s(),
            Some(self.whole.best()),
            self.whole.repetitions.to_string(),
        ));

        let mut kinds = crate::export::table::new_table(&[
            "kind",
            "layers",
            "FLOPs",
            "share of FLOPs",
            time_header,
            "share of time",
            "FLOP/s",
        ]);
        for k in self.by_kind() {
            kinds.add_row(vec![
                k.kind.name().to_string(),
                k.layers.to_string(),
                flops_count(k.cost.flops),
                format!("{:.2} %", k.flops_share),
                seconds(k.time_s),
                format!("{:.1} %", k.time_share),
                flops_rate(k.flops_per_s()),
            ]);
        }
        let hidden = crate::export::table::fit(
            &mut layers,
            &[
                "dispatches/sample",
                "input",
                "±",
                "FLOPs/byte",
                "output HxWxC",
                "% of peak",
                "kind",
            ],
        );
        let mut text = format!(
            "{}\nmodel {} on the adapter · batch {} · {} input · {} conv layers · {} kernels\n{layers}\n{hidden}\
             total: {} params, {} MACs, {} FLOPs (2·MACs), as counted without --run\n\
             by kind: share of FLOPs against share of measured time (the MobileNet paper's Table 2, with time):\n\
             {kinds}\n",
            self.adapter.headline(),
            self.model(),
            self.batch(),
            self.input_shape(),
            self.layers.len(),
            self.variant.name(),
            group_digits(totals.params),
            group_digits(totals.macs),
            group_digits(totals.flops),
        );
        for line in self.lesson() {
            text.push_str(&line);
            text.push('\n');
        }
        for note in self.notes() {
            text.push_str(&note);
            text.push('\n');
        }
        crate::export::table::wrap(&text)
    }

    /// The `--json` shape.
    pub fn to_json(&self) -> RunJson {
        let totals = &self.report.totals;
        RunJson {
            adapter: (&self.adapter).into(),
            variant: self.variant.name(),
            model: self.model().to_string(),
            batch: self.batch(),
            activations: "linear",
            layers: self
                .layers
                .iter()
                .map(|l| {
                    let roof = self.roofline(l);
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
                        flops_share: self.flops_share(l),
                        time_share: self.time_share(l),
                        percent_of_peak: roof.map(|p| p.percent_of_peak),
                        percent_of_roofline: roof.map(|p| p.percent_of_roofline),
                        bound: roof.map(|p| p.bound),
                        checked_outputs: l.checked_outputs,
                        max_abs_error: l.check.max_abs_error,
                    }
                })
                .collect(),
            totals: TotalsJson {
                counts: totals.into(),
                gpu_time_s: self.layer_time_s(),
                flops_per_s: totals.flops as f64 / self.layer_time_s(),
            },
            whole_network: WholeJson {
                gpu_time_s: *self.whole.best(),
                wall_time_s: self.whole.wall,
                timer: self.timer,
                dispatches_per_sample: self.whole.repetitions,
                flops_per_s: totals.flops as f64 / self.whole_time_s(),
            },
            by_kind: self
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
            headline: self.headline(),
            ceilings: self.ceilings.as_ref().map(|k| CeilingsJson {
                fma_flops_per_s: k.fma_flops_per_s,
                bandwidth_bytes_per_s: k.bandwidth_bytes_per_s,
                ridge_flops_per_byte: k.ridge_flops_per_byte(),
            }),
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
    pub bound: Option<Bound>,
    pub checked_outputs: usize,
    pub max_abs_error: f64,
}

/// The network's counts, with the sum of the per-layer median times.
#[derive(Debug, Clone, Serialize)]
pub struct TotalsJson {
    #[serde(flatten)]
    pub counts: CountsJson,
    /// Sum of the per-layer medians, seconds.
    pub gpu_time_s: f64,
    pub flops_per_s: f64,
}

/// The whole network timed in one submission.
#[derive(Debug, Clone, Serialize)]
pub struct WholeJson {
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
    pub by_kind: std::collections::BTreeMap<LayerKind, KindJson>,
    pub headline: String,
    pub ceilings: Option<CeilingsJson>,
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
        format!(
            "{} needs {flops:.2}× fewer FLOPs than {} {ran} (whole network in one submission; {layers:.2}× by the \
             sum of the per-layer medians). FLOPs predict {flops:.2}×, the clock says {whole:.2}×.",
            cheap.model(),
            dear.model(),
        )
    }

    /// The summary table of the two runs and the lesson.
    pub fn table(&self) -> String {
        let mut table = crate::export::table::new_table(&[
            "network",
            "FLOPs",
            "time, whole network",
            "time, sum of layers",
            "FLOP/s (whole network)",
        ]);
        for run in [&self.first, &self.second] {
            table.add_row(vec![
                run.model().to_string(),
                flops_count(run.report.totals.flops),
                seconds(run.whole_time_s()),
                seconds(run.layer_time_s()),
                flops_rate(run.report.totals.flops as f64 / run.whole_time_s()),
            ]);
        }
        crate::export::table::wrap(&format!(
            "{} against {} (batch {}, {} kernels):\n{table}\n{}\n{}\n",
            self.first.model(),
            self.second.model(),
            self.first.batch(),
            self.first.variant.name(),
            self.ratios(),
            self.lesson(),
        ))
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

    pub fn to_json(&self) -> ComparisonJson {
        ComparisonJson {
            networks: [self.first.to_json(), self.second.to_json()],
            ratios: RatiosJson {
                flops: self.flops_ratio(),
                time_whole_network: self.time_ratio_whole(),
                time_sum_of_layers: self.time_ratio_layers(),
            },
            lesson: self.lesson(),
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
            let stats = Statistics::of(&[t * 0.9, t, t * 1.1]).unwrap();
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
            .map(|((l, counted), input)| LayerRun {
                layer: l.clone(),
                cost: counted.cost,
                shader: "conv2d-tiled",
                input,
                timer: TimerKind::Timestamp,
                measurement: measured(time(l)),
                check: Agreement::default(),
                checked_outputs: 512,
            })
            .collect();
        NetworkRun {
            adapter: crate::gpu::AdapterSummary {
                index: 0,
                name: "Test Adapter".into(),
                backend: "Vulkan".into(),
                device_type: "CPU".into(),
                software: true,
                driver: "test".into(),
                driver_info: "1.0".into(),
                timestamps: true,
                max_storage_buffer_binding_size: 1 << 27,
                max_buffer_size: 1 << 30,
                max_compute_workgroups_per_dimension: 65_535,
                max_compute_invocations_per_workgroup: 256,
                max_compute_workgroup_storage_size: 16_384,
            },
            variant: Variant::Tiled,
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
        let text = run.table();
        assert!(
            text.contains("whole network (one submission)") && text.contains("50.0 ms"),
            "{text}"
        );
        assert!(text.contains("Layer fc reads its own buffer of random data"), "{text}");
        assert!(text.contains("run `convflops peak`"), "{text}");
        let json = serde_json::to_value(run.to_json()).unwrap();
        assert_eq!(json["totals"]["flops"], 1_137_480_704u64);
        assert_eq!(json["layers"][27]["input"], "random");
        assert_eq!(json["layers"][1]["input"], "chained");
        assert!(json["layers"][0]["percent_of_peak"].is_null());
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
        let json = serde_json::to_value(c.to_json()).unwrap();
        assert!((json["ratios"]["time_whole_network"].as_f64().unwrap() - 3.0).abs() < 1e-12);
        assert_eq!(json["networks"][1]["model"], "conv-mobilenet-v1");
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(LayerKind::Pointwise), "pointwise convs");
        assert_eq!(plural(LayerKind::Fc), "fc layers");
    }
}
