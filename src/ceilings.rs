//! The device's own ceilings, measured: peak FMA throughput (FLOP/s), memory bandwidth (bytes/s) and launch latency
//! (the fixed time of one dispatch), and the roofline they make. A conv of F FLOPs, B bytes of minimal traffic and
//! n dispatches cannot take less than `max(n × launch, F / peak, B / bandwidth)`: its bound is F divided by that
//! time, `min(peak, bandwidth × F/B, F / (n × launch))`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bench::{self, BenchSettings};
use crate::cache;
use crate::gpu::kernel::{Access, Checks, Kernel};
use crate::gpu::{AdapterSummary, GpuContext, GpuError, PassTimer};

/// A sample should take about this long, so launch overhead and timer resolution do not matter.
pub const TARGET_SAMPLE: Duration = Duration::from_millis(100);

/// Which roof bounds a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    /// Peak FMA throughput: the kernel's FLOPs per byte are above the ridge point.
    Compute,
    /// Memory bandwidth: the kernel's FLOPs per byte are below the ridge point.
    Memory,
    /// Launch latency: the conv has so little work that its dispatches' fixed time is longer than its FLOPs at the
    /// FMA peak or its bytes at the copy bandwidth would take.
    Launch,
}

impl Bound {
    pub fn name(self) -> &'static str {
        match self {
            Bound::Compute => "compute",
            Bound::Memory => "memory",
            Bound::Launch => "launch",
        }
    }

    /// How a sentence names it: "the compute roof", "the memory roof", "the launch floor".
    pub fn phrase(self) -> &'static str {
        match self {
            Bound::Compute => "the compute roof",
            Bound::Memory => "the memory roof",
            Bound::Launch => "the launch floor",
        }
    }
}

/// How the ceilings are measured, as a number: cached entries measured by an older method are measured again
/// (method 2 added the straight-line FMA kernels and the loop-free bandwidth kernels, method 3 the driver's buffer
/// copy; method 1 read loops only and understated llvmpipe's roofs).
pub const METHOD: u32 = 3;

/// The measured ceilings of one adapter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ceilings {
    /// The [`METHOD`] that measured them (0 for entries cached before it existed).
    #[serde(default)]
    pub method: u32,
    /// Best median FMA throughput over the variants tried, counting 2 FLOPs per FMA.
    pub fma_flops_per_s: f64,
    /// Streaming copy bandwidth: (bytes read + bytes written) / time, the best copy variant. The roofline uses
    /// this one.
    pub bandwidth_bytes_per_s: f64,
    /// Read-only bandwidth: bytes read / time, the best read variant.
    pub read_bytes_per_s: f64,
    /// The FMA variant that gave the peak, e.g. "straight-line, 64 invocations × 12 scalar chains × 32 steps".
    pub fma_variant: String,
    /// The copy variant that gave the bandwidth.
    #[serde(default)]
    pub bandwidth_variant: String,
    /// The read variant that gave the read bandwidth.
    #[serde(default)]
    pub read_variant: String,
    /// Every FMA variant's FLOP/s, best first.
    #[serde(default)]
    pub fma_variants: Vec<VariantRate>,
    /// Every bandwidth variant's bytes/s (copies, then reads; each best first).
    #[serde(default)]
    pub bandwidth_variants: Vec<VariantRate>,
    /// Bytes of the buffers the bandwidth was measured over.
    pub bandwidth_buffer_bytes: u64,
    /// "timestamp" or "wall".
    pub timer: String,
    /// The launch latency, when measured (entries cached before it existed have none; `peak` then measures it and
    /// adds it to the entry).
    #[serde(default)]
    pub launch: Option<LaunchLatency>,
}

/// The launch latency of an adapter: the median time of a one-invocation dispatch that does almost nothing
/// (`shaders/launch.wgsl`), timed exactly as a conv job is (`measure::time`: back-to-back dependent dispatches in
/// one compute pass per sample, the sample's time divided by its dispatches).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchLatency {
    /// Seconds per dispatch in a sequence of dependent dispatches in one pass, as the conv jobs issue them: the
    /// floor a conv's quoted time is compared with.
    pub dispatch_s: f64,
    /// Seconds of one dispatch alone in its pass and submission (one dispatch per sample): what a dispatch costs
    /// with nothing to overlap it; shown beside, not used as a floor.
    pub single_s: f64,
    /// Dispatches per sample behind `dispatch_s`.
    pub dispatches_per_sample: u32,
    /// "timestamp" (GPU timestamps around the pass) or "wall" (submit to completion).
    pub timer: String,
}

/// A conv whose median time is at most this many times its launch floor (its dispatches × the adapter's
/// [`LaunchLatency::dispatch_s`]) has its time set by launch overhead: up to 2× the measured fixed cost is at least
/// half of the time, more than any other part can be, the same rule as [`NEAR_ROOF_PERCENT`] for the roofs. A larger
/// factor would call a conv launch-bound whose floor the figures show to be the smaller part of its time. On
/// lavapipe (BENCHMARKS.md, 2026-12-02) EfficientNet-B0's 32 squeeze-excitation convs spread evenly from 0.96× to
/// 6.4× their floor, 9 of them within 2×, and every other conv sits at 7× or more: the factor divides the SE convs
/// by what the measurement can vouch for, not by a gap.
pub const LAUNCH_FACTOR: f64 = 2.0;

impl Ceilings {
    /// FLOPs per byte where the two roofs meet.
    pub fn ridge_flops_per_byte(&self) -> f64 {
        self.fma_flops_per_s / self.bandwidth_bytes_per_s
    }

    /// Where a conv of `flops` FLOPs and `bytes` bytes of minimal traffic, issued as `dispatches` dispatches, that
    /// took `seconds` sits against the roofs and the launch floor.
    pub fn diagnose(&self, flops: u64, bytes: u64, seconds: f64, dispatches: u64) -> Diagnosis {
        let (bound_flops_per_s, bound) = self.bound_for(flops, bytes, dispatches);
        let flops_per_s = flops as f64 / seconds;
        let bytes_per_s = bytes as f64 / seconds;
        Diagnosis {
            bound,
            bound_flops_per_s,
            flops_per_s,
            bytes_per_s,
            percent_of_roofline: 100.0 * flops_per_s / bound_flops_per_s,
            percent_of_peak: 100.0 * flops_per_s / self.fma_flops_per_s,
            percent_of_bandwidth: 100.0 * bytes_per_s / self.bandwidth_bytes_per_s,
            time_s: seconds,
            launch_floor_s: self.launch_floor_s(dispatches),
            launch_dispatch_s: self.launch.as_ref().map(|l| l.dispatch_s),
            dispatches,
        }
    }

    /// The least time `dispatches` dependent dispatches take on this adapter, when the launch latency is known.
    pub fn launch_floor_s(&self, dispatches: u64) -> Option<f64> {
        let launch = self.launch.as_ref()?;
        (launch.dispatch_s > 0.0 && dispatches > 0).then_some(launch.dispatch_s * dispatches as f64)
    }

    /// The bound of a conv of `flops` FLOPs, `bytes` bytes of minimal traffic and `dispatches` dispatches:
    /// `flops / max(launch floor, flops / peak, bytes / bandwidth)`, and which of the three it is. Without a
    /// measured launch latency it is the roofline's [`Ceilings::bound`].
    pub fn bound_for(&self, flops: u64, bytes: u64, dispatches: u64) -> (f64, Bound) {
        let roof = self.bound(flops as f64 / bytes.max(1) as f64);
        match self.launch_floor_s(dispatches) {
            Some(floor) if flops > 0 && (flops as f64 / floor) < roof.0 => (flops as f64 / floor, Bound::Launch),
            _ => roof,
        }
    }

    /// The roofline bound at `flops_per_byte` and which roof it is.
    pub fn bound(&self, flops_per_byte: f64) -> (f64, Bound) {
        let memory = self.bandwidth_bytes_per_s * flops_per_byte;
        if memory < self.fma_flops_per_s {
            (memory, Bound::Memory)
        } else {
            (self.fma_flops_per_s, Bound::Compute)
        }
    }
}

/// Below this share of its roofline bound a conv is "far from its roof": the figures then name neither roof as
/// what limited it.
pub const NEAR_ROOF_PERCENT: f64 = 50.0;

/// Where one timed conv sits against both roofs, from its analytic FLOPs and minimal bytes and its median time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diagnosis {
    pub bound: Bound,
    /// min(peak FLOP/s, bandwidth × FLOPs per byte).
    pub bound_flops_per_s: f64,
    pub flops_per_s: f64,
    /// Minimal traffic (every tensor read or written once) divided by the time.
    pub bytes_per_s: f64,
    pub percent_of_roofline: f64,
    pub percent_of_peak: f64,
    /// `bytes_per_s` as a percentage of the copy bandwidth.
    pub percent_of_bandwidth: f64,
    /// The conv's median time, seconds.
    pub time_s: f64,
    /// Its dispatches × the adapter's launch latency, when that is known.
    pub launch_floor_s: Option<f64>,
    /// The adapter's launch latency per dependent dispatch, when known.
    pub launch_dispatch_s: Option<f64>,
    /// The dispatches the conv's job issues.
    pub dispatches: u64,
}

impl Diagnosis {
    /// Whether the conv reached at least [`NEAR_ROOF_PERCENT`] of its bound, so that its roof may be named as
    /// what limited it.
    pub fn near_roof(&self) -> bool {
        self.percent_of_roofline >= NEAR_ROOF_PERCENT
    }

    /// Whether the conv's time is within [`LAUNCH_FACTOR`] of its launch floor: launch overhead sets its time.
    pub fn launch_limited(&self) -> bool {
        self.launch_floor_s
            .is_some_and(|floor| self.time_s <= LAUNCH_FACTOR * floor)
    }

    /// The launch clause, when [`Diagnosis::launch_limited`]: "its 41 µs is 1.3× an empty dispatch's 31 µs: launch
    /// overhead, not its arithmetic or memory, sets its time". Names no roof and no instructions.
    pub fn launch_clause(&self) -> Option<String> {
        use crate::units::seconds;
        if !self.launch_limited() {
            return None;
        }
        let floor = self.launch_floor_s?;
        Some(format!(
            "its {} is {:.1}× {}: launch overhead, not its arithmetic or memory, sets its time",
            seconds(self.time_s),
            self.time_s / floor,
            self.floor_phrase(),
        ))
    }

    /// "an empty dispatch's 31.0 µs", or "its 3 dispatches' floor of 93.0 µs (3 × an empty dispatch's 31.0 µs)";
    /// empty when the launch latency is unknown.
    fn floor_phrase(&self) -> String {
        use crate::units::seconds;
        match (self.launch_floor_s, self.launch_dispatch_s) {
            (Some(_), Some(per)) if self.dispatches == 1 => format!("an empty dispatch's {}", seconds(per)),
            (Some(floor), Some(per)) => format!(
                "its {} dispatches' floor of {} ({} × an empty dispatch's {})",
                self.dispatches,
                seconds(floor),
                self.dispatches,
                seconds(per)
            ),
            _ => String::new(),
        }
    }

    /// One clause saying what the figures show limited the conv, e.g. "the memory roof bounds it at 5.5 GFLOP/s
    /// and it reached 9 % of that …". Never names a roof as the cause unless the conv came near it; a conv within
    /// [`LAUNCH_FACTOR`] of its launch floor gets the launch clause and no roof at all.
    pub fn why(&self) -> String {
        use crate::units::{flops_rate, si};
        let achieved = format!(
            "{} and {} of minimal traffic, {:.0} % of the FMA peak and {:.0} % of the copy bandwidth",
            flops_rate(self.flops_per_s),
            si(self.bytes_per_s, "B/s"),
            self.percent_of_peak,
            self.percent_of_bandwidth
        );
        if let Some(clause) = self.launch_clause() {
            return format!("{clause} ({achieved})");
        }
        if self.near_roof() {
            let limiter = match self.bound {
                Bound::Memory => "memory bandwidth sets its speed",
                Bound::Compute => "the FMA units set its speed",
                // Unreachable: near its launch floor a conv is launch-limited, answered above.
                Bound::Launch => "launch overhead sets its time",
            };
            format!(
                "it reached {:.0} % of its {} roof ({}; {achieved}): {limiter}",
                self.percent_of_roofline,
                self.bound.name(),
                flops_rate(self.bound_flops_per_s),
            )
        } else {
            if let (Bound::Launch, Some(floor)) = (self.bound, self.launch_floor_s) {
                // A small conv past LAUNCH_FACTOR × its floor: the floor is the largest of the three measured times,
                // yet most of its time is none of them.
                return format!(
                    "the launch floor bounds it at {} and it reached {:.0} % of that ({achieved}): its {} is {:.1}× \
                     {}, and its FLOPs at the FMA peak and its bytes at the copy bandwidth would take less still; \
                     what takes the rest (its dispatches' cost beyond an empty one's, such as its workgroups, or its \
                     instructions) these ceilings do not separate",
                    flops_rate(self.bound_flops_per_s),
                    self.percent_of_roofline,
                    crate::units::seconds(self.time_s),
                    self.time_s / floor,
                    self.floor_phrase(),
                );
            }
            format!(
                "{} bounds it at {} and it reached {:.0} % of that ({achieved}): neither roof limits it — on this \
                 adapter its kernel's own instructions (memory accesses, address arithmetic, control flow), not \
                 memory bandwidth or FMA throughput, do",
                self.bound.phrase(),
                flops_rate(self.bound_flops_per_s),
                self.percent_of_roofline,
            )
        }
    }
}

/// One way of keeping the FMA units busy. The ceiling is the best of them: a conv kernel is straight-line code
/// with loops around it, and on some adapters (llvmpipe) the loop itself costs more than the FMAs in it, so a looped
/// kernel alone would understate the roof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FmaVariant {
    /// `shaders/peak_fma.wgsl`: `chains` vec4 chains, 8 dependent steps per chain in each loop iteration.
    Looped { workgroup_size: u32, chains: u32 },
    /// Generated by [`straight_line_fma_source`]: `chains` scalar chains of `steps` dependent FMAs each, written out
    /// with no loop at all.
    StraightLine {
        workgroup_size: u32,
        chains: u32,
        steps: u32,
    },
}

impl FmaVariant {
    pub fn workgroup_size(self) -> u32 {
        match self {
            FmaVariant::Looped { workgroup_size, .. } | FmaVariant::StraightLine { workgroup_size, .. } => {
                workgroup_size
            }
        }
    }

    /// FMAs one invocation performs per loop iteration (the whole invocation for straight-line code).
    pub fn fmas_per_iteration(self) -> u64 {
        match self {
            FmaVariant::Looped { chains, .. } => 8 * u64::from(chains) * 4,
            FmaVariant::StraightLine { chains, steps, .. } => u64::from(chains) * u64::from(steps),
        }
    }

    /// How a report names it, e.g. "straight-line, 64 invocations × 12 scalar chains × 32 steps".
    pub fn describe(self) -> String {
        match self {
            FmaVariant::Looped { workgroup_size, chains } => {
                format!("looped, {workgroup_size} invocations × {chains} vec4 chains")
            }
            FmaVariant::StraightLine {
                workgroup_size,
                chains,
                steps,
            } => format!("straight-line, {workgroup_size} invocations × {chains} scalar chains × {steps} steps"),
        }
    }
}

/// The FMA variants tried: the looped kernel in four shapes and straight-line code in four. On lavapipe (Mesa
/// 25.0.7, AVX2) 24 scalar chains were fastest; 32 spill registers and ran at a third of that (BENCHMARKS.md).
pub const FMA_VARIANTS: [FmaVariant; 8] = [
    FmaVariant::Looped {
        workgroup_size: 64,
        chains: 4,
    },
    FmaVariant::Looped {
        workgroup_size: 64,
        chains: 8,
    },
    FmaVariant::Looped {
        workgroup_size: 256,
        chains: 4,
    },
    FmaVariant::Looped {
        workgroup_size: 256,
        chains: 8,
    },
    FmaVariant::StraightLine {
        workgroup_size: 64,
        chains: 12,
        steps: 32,
    },
    FmaVariant::StraightLine {
        workgroup_size: 64,
        chains: 16,
        steps: 32,
    },
    FmaVariant::StraightLine {
        workgroup_size: 64,
        chains: 24,
        steps: 32,
    },
    FmaVariant::StraightLine {
        workgroup_size: 256,
        chains: 16,
        steps: 32,
    },
];

/// The FMA loop count stays below llvmpipe's cap of 65 535 loop iterations per invocation (past it Mesa silently
/// ends the loop, which would inflate the figure); at 16 384 workgroups this is still far above what a GPU needs
/// for a 100 ms sample.
const MAX_FMA_ITERATIONS: u32 = 1 << 15;

/// The straight-line FMA kernel: `chains` independent scalar chains `x = fma(x, x, c)`, each `steps` long, written
/// out one statement per FMA (no loop, no branch), then summed into one store so none is dead.
pub fn straight_line_fma_source(chains: u32, steps: u32) -> String {
    let mut s = format!(
        "// Generated by convflops (ceilings.rs, straight_line_fma_source): the FMA ceiling from straight-line code.\n\
         // {chains} independent scalar chains x = fma(x, x, c), {steps} dependent steps each, written out with no loop, so\n\
         // the figure measures the FMA units and not loop overhead. c = p.c (a uniform, -0.25): the iteration converges\n\
         // to (1 - sqrt 2)/2 from any start in (-0.5, 0.5), with no overflow or denormals.\n\
         //\n\
         // Layout: output [invocations] f32, one sum per invocation.\n\
         // Dispatch: workgroups of WORKGROUP_SIZE on a 1-D grid; each invocation performs {chains}·{steps} FMAs.\n\n\
         struct Params {{ iterations: u32, c: f32, _pad0: u32, _pad1: u32, }}\n\
         override WORKGROUP_SIZE: u32 = 64u;\n\
         @group(0) @binding(0) var<uniform> p: Params;\n\
         @group(0) @binding(1) var<storage, read_write> output: array<f32>;\n\n\
         @compute @workgroup_size(WORKGROUP_SIZE)\n\
         fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{\n\
         \x20   let seed = f32(gid.x % 1024u) / 4096.0;\n\
         \x20   let c = p.c;\n"
    );
    for chain in 0..chains {
        s.push_str(&format!("    var x{chain} = seed - {:.3};\n", 0.01 * f64::from(chain)));
    }
    for _ in 0..steps {
        for chain in 0..chains {
            s.push_str(&format!("    x{chain} = fma(x{chain}, x{chain}, c);\n"));
        }
    }
    let sum: Vec<String> = (0..chains).map(|chain| format!("x{chain}")).collect();
    s.push_str(&format!("    output[gid.x] = {};\n}}\n", sum.join(" + ")));
    s
}

fn settings() -> BenchSettings {
    BenchSettings {
        warmup_runs: 1,
        warmup_time: Duration::ZERO,
        min_samples: 5,
        min_time: Duration::from_millis(300),
        max_samples: 20,
        max_time: Duration::from_secs(5),
        target_sample_time: TARGET_SAMPLE,
        max_repetitions: 64,
    }
}

/// One measured variant of a ceiling: what ran and the rate it reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantRate {
    pub variant: String,
    /// FLOP/s for the FMA ceiling, bytes/s for bandwidth.
    pub rate: f64,
}

/// Measures the FMA ceiling: for each variant, grows the grid and then the loop count until a dispatch takes about
/// [`TARGET_SAMPLE`], then takes the median of a few samples. Returns every variant's FLOP/s, best first.
pub fn measure_fma(ctx: &GpuContext, mut progress: impl FnMut(&str)) -> Result<Vec<VariantRate>, GpuError> {
    let timer = PassTimer::new(ctx)?;
    let mut rates = Vec::new();
    for variant in FMA_VARIANTS {
        let workgroup_size = variant.workgroup_size();
        if workgroup_size > ctx.summary.max_compute_invocations_per_workgroup {
            continue;
        }
        let label = variant.describe();
        progress(&label);
        // Straight-line code has no loop count to raise, so it may use a larger grid.
        let looped = matches!(variant, FmaVariant::Looped { .. });
        let max_groups = ctx
            .summary
            .max_compute_workgroups_per_dimension
            .min(if looped { 16_384 } else { 65_535 });
        let generated;
        let (source, overrides): (&str, Vec<(&str, u32)>) = match variant {
            FmaVariant::Looped { chains, .. } => (
                include_str!("../shaders/peak_fma.wgsl"),
                vec![("WORKGROUP_SIZE", workgroup_size), ("CHAINS", chains)],
            ),
            FmaVariant::StraightLine { chains, steps, .. } => {
                generated = straight_line_fma_source(chains, steps);
                (&generated, vec![("WORKGROUP_SIZE", workgroup_size)])
            }
        };
        // SAFETY: both FMA kernels index only `output[id]` (id = the global invocation index), and the output
        // buffer is sized for every invocation of the largest grid dispatched below; the looped kernel's loop count
        // is a uniform, bounded by the host.
        let kernel = Kernel::with_options(
            ctx,
            "peak FMA",
            source,
            "main",
            &overrides,
            &[Access::ReadWrite],
            Checks::ProvenSafe,
        )?;
        let output_bytes = u64::from(max_groups) * u64::from(workgroup_size) * 4;
        let _reservation = ctx.memory.reserve("the FMA peak's output buffer", output_bytes + 16)?;
        let (params, output) = ctx.scoped("allocating the FMA buffers", || {
            let params = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("peak FMA params"),
                size: 16,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let output = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("peak FMA output"),
                size: output_bytes,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            });
            (params, output)
        })?;
        let bind_group = kernel.bind(ctx, &params, &[&output])?;
        let write_params = |iterations: u32| {
            let words: [u32; 4] = [iterations, (-0.25f32).to_bits(), 0, 0];
            ctx.queue.write_buffer(&params, 0, bytemuck::cast_slice(&words));
        };
        let run = |groups: u32| {
            timer
                .time_pass(ctx, |pass| kernel.dispatch(pass, &bind_group, [groups, 1, 1]))
                .map(|t| t.gpu_s.unwrap_or(t.wall_s))
        };
        // Grow the grid (to fill the device), then the loop count (looped kernel only), until one dispatch takes
        // ~TARGET_SAMPLE. The first dispatch also compiles the kernel on adapters that compile lazily (llvmpipe);
        // it is never a sample.
        let (mut groups, mut iterations) = (64u32, 1u32);
        write_params(iterations);
        run(groups)?;
        let mut seconds = run(groups)?;
        while seconds < TARGET_SAMPLE.as_secs_f64() {
            if groups < max_groups {
                groups = (groups * 2).min(max_groups);
            } else if looped && iterations < MAX_FMA_ITERATIONS {
                iterations *= 2;
                write_params(iterations);
            } else {
                break;
            }
            seconds = run(groups)?;
        }
        let measurement = bench::measure(&settings(), |repetitions| {
            timer.time_pass(ctx, |pass| {
                for _ in 0..repetitions {
                    kernel.dispatch(pass, &bind_group, [groups, 1, 1]);
                }
            })
        })?;
        let fmas = u64::from(groups) * u64::from(workgroup_size) * u64::from(iterations) * variant.fmas_per_iteration();
        rates.push(VariantRate {
            variant: label,
            rate: 2.0 * fmas as f64 / measurement.best().median,
        });
    }
    rates.sort_by(|a, b| b.rate.total_cmp(&a.rate));
    Ok(rates)
}

/// The bandwidth entry points of `shaders/bandwidth.wgsl`: (entry point, how a report names it, true for a copy).
pub const BANDWIDTH_VARIANTS: [(&str, &str, bool); 4] = [
    ("copy", "vec4 copy, grid-stride loop", true),
    ("copy_flat", "vec4 copy, one vec4 per invocation", true),
    ("reduce", "read-only reduction, grid-stride loop", false),
    ("reduce_flat", "read-only reduction, 16 vec4 per invocation", false),
];

/// How a report names the bandwidth of the driver's buffer-to-buffer copy command.
pub const BUFFER_COPY_VARIANT: &str = "buffer copy command (copy_buffer_to_buffer, wall clock)";

/// The measured bandwidth ceilings: every variant's bytes/s, copies and reads apart, best first, and the size of
/// the buffers.
#[derive(Debug, Clone, PartialEq)]
pub struct Bandwidth {
    pub copy: Vec<VariantRate>,
    pub read: Vec<VariantRate>,
    pub buffer_bytes: u64,
}

/// Measures the bandwidth ceilings over buffers of up to 256 MiB (or the adapter's binding limit): each shader of
/// [`BANDWIDTH_VARIANTS`] and the driver's buffer copy command, copies as (bytes read + bytes written) / time, reads
/// as bytes read / time.
pub fn measure_bandwidth(ctx: &GpuContext, mut progress: impl FnMut(&str)) -> Result<Bandwidth, GpuError> {
    let limit = ctx
        .summary
        .max_storage_buffer_binding_size
        .min(ctx.summary.max_buffer_size);
    let bytes = (256u64 << 20).min(limit) / 16 * 16;
    let n = bytes / 16;
    let workgroup_size = 256u32.min(ctx.summary.max_compute_invocations_per_workgroup);
    let max_x = ctx.summary.max_compute_workgroups_per_dimension.max(1);
    // A 2-D grid of at least `invocations` invocations: x × y workgroups, x within the per-dimension limit.
    let grid = |invocations: u64| -> [u32; 3] {
        let groups = invocations.div_ceil(u64::from(workgroup_size)).max(1);
        let x = groups.min(u64::from(max_x));
        let y = groups.div_ceil(x).min(u64::from(max_x));
        [x as u32, y as u32, 1]
    };
    let timer = PassTimer::new(ctx)?;
    let _reservation = ctx.memory.reserve("the bandwidth buffers", 2 * bytes + 16)?;
    let (params, source, destination) = ctx.scoped("allocating the bandwidth buffers", || {
        let buffer = |label| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            })
        };
        let params = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("bandwidth params"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        (params, buffer("bandwidth source"), buffer("bandwidth destination"))
    })?;
    // Varied data: a cheap integer hash per element, written in 16 MiB pieces.
    let chunk = 4usize << 20;
    let mut state = 0x9E37_79B9u32;
    let mut offset = 0u64;
    while offset < bytes {
        let count = chunk.min(((bytes - offset) / 4) as usize);
        let data: Vec<f32> = (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 8) as f32 / (1u32 << 24) as f32
            })
            .collect();
        ctx.queue.write_buffer(&source, offset, bytemuck::cast_slice(&data));
        offset += count as u64 * 4;
    }
    ctx.wait()?;
    let mut result = Bandwidth {
        copy: Vec::new(),
        read: Vec::new(),
        buffer_bytes: bytes,
    };
    for (entry, label, is_copy) in BANDWIDTH_VARIANTS {
        progress(label);
        // One invocation per vec4 for `copy_flat`, one per 16 for `reduce_flat`, one per 8 for the loops.
        let (invocations, stride) = match entry {
            "copy_flat" => (n, 0),
            "reduce_flat" => (n.div_ceil(16), n.div_ceil(16)),
            _ => (n.div_ceil(8), 0),
        };
        let dispatch = grid(invocations);
        let words: [u32; 4] = [
            u32::try_from(n).unwrap_or(u32::MAX),
            u32::try_from(stride).unwrap_or(u32::MAX),
            0,
            0,
        ];
        ctx.queue.write_buffer(&params, 0, bytemuck::cast_slice(&words));
        // SAFETY: every entry point of bandwidth.wgsl reads source[i] and writes destination[i] only for i < n
        // (loop bounds, `if (i < p.n)` guards and `min(i, n - 1)` clamps), both buffers holding n vec4s.
        let kernel = Kernel::with_options(
            ctx,
            "bandwidth",
            include_str!("../shaders/bandwidth.wgsl"),
            entry,
            &[("WORKGROUP_SIZE", workgroup_size)],
            &[Access::Read, Access::ReadWrite],
            Checks::ProvenSafe,
        )?;
        let group = kernel.bind(ctx, &params, &[&source, &destination])?;
        let m = bench::measure(&settings(), |repetitions| {
            timer.time_pass(ctx, |pass| {
                for _ in 0..repetitions {
                    kernel.dispatch(pass, &group, dispatch);
                }
            })
        })?;
        let moved = if is_copy { 2 * bytes } else { bytes };
        let rate = VariantRate {
            variant: label.to_string(),
            rate: moved as f64 / m.best().median,
        };
        if is_copy {
            result.copy.push(rate);
        } else {
            result.read.push(rate);
        }
    }
    // The driver's own copy command: what the memory system moves without a shader's loads and stores in the way.
    // Copy commands sit outside compute passes, so this one is timed by the wall clock (submit to completion) over a
    // batch of copies, which errs low.
    progress(BUFFER_COPY_VARIANT);
    let m = bench::measure(&settings(), |repetitions| {
        let commands = ctx.scoped("recording the buffer copies", || {
            let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("bandwidth buffer copies"),
            });
            for _ in 0..repetitions {
                encoder.copy_buffer_to_buffer(&source, 0, &destination, 0, bytes);
            }
            encoder.finish()
        })?;
        let start = std::time::Instant::now();
        ctx.queue.submit([commands]);
        ctx.wait()?;
        Ok(crate::gpu::Timing {
            gpu_s: None,
            wall_s: start.elapsed().as_secs_f64(),
        })
    })?;
    result.copy.push(VariantRate {
        variant: BUFFER_COPY_VARIANT.to_string(),
        rate: (2 * bytes) as f64 / m.best().median,
    });
    result.copy.sort_by(|a, b| b.rate.total_cmp(&a.rate));
    result.read.sort_by(|a, b| b.rate.total_cmp(&a.rate));
    Ok(result)
}

/// Measures the launch latency with `shaders/launch.wgsl` (one invocation that adds to one value), timed by
/// [`crate::measure::time`] with `settings`, the path and sampling the conv jobs are timed by: dependent dispatches
/// back to back in one pass per sample, divided by their count. Then the same dispatch alone, one per pass and
/// submission.
pub fn measure_launch(ctx: &GpuContext, settings: &BenchSettings) -> Result<LaunchLatency, GpuError> {
    let timer = PassTimer::new(ctx)?;
    // SAFETY: the kernel writes data[0] only, and the buffer holds 4 f32s.
    let kernel = Kernel::with_options(
        ctx,
        "launch latency",
        include_str!("../shaders/launch.wgsl"),
        "main",
        &[],
        &[Access::ReadWrite],
        Checks::ProvenSafe,
    )?;
    let (params, data) = ctx.scoped("allocating the launch-latency buffers", || {
        let buffer = |label, usage| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: 16,
                usage,
                mapped_at_creation: false,
            })
        };
        (
            buffer(
                "launch params",
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            ),
            buffer("launch data", wgpu::BufferUsages::STORAGE),
        )
    })?;
    // A step of 2^-24: the sum stays exact and finite for far more dispatches than any measurement makes.
    let words: [f32; 4] = [1.0 / 16_777_216.0, 0.0, 0.0, 0.0];
    ctx.queue.write_buffer(&params, 0, bytemuck::cast_slice(&words));
    let bind_group = kernel.bind(ctx, &params, &[&data])?;
    let dependent = crate::measure::time(ctx, &timer, settings, |pass| {
        kernel.dispatch(pass, &bind_group, [1, 1, 1])
    })?;
    let alone = BenchSettings {
        max_repetitions: 1,
        ..*settings
    };
    let single = crate::measure::time(ctx, &timer, &alone, |pass| {
        kernel.dispatch(pass, &bind_group, [1, 1, 1])
    })?;
    Ok(LaunchLatency {
        dispatch_s: dependent.median_s(),
        single_s: single.median_s(),
        dispatches_per_sample: dependent.repetitions,
        timer: if dependent.gpu.is_some() { "timestamp" } else { "wall" }.to_string(),
    })
}

/// Measures every ceiling, each the best of its variants, and the launch latency.
pub fn measure(ctx: &GpuContext, mut progress: impl FnMut(&str)) -> Result<Ceilings, GpuError> {
    let fma = measure_fma(ctx, |v| progress(&format!("FMA peak, {v}")))?;
    let bandwidth = measure_bandwidth(ctx, |v| progress(&format!("bandwidth, {v}")))?;
    progress("launch latency, one-invocation dispatches");
    let launch = measure_launch(ctx, &BenchSettings::default())?;
    let best = |rates: &[VariantRate]| {
        rates.first().cloned().unwrap_or(VariantRate {
            variant: String::new(),
            rate: 0.0,
        })
    };
    let (fma_best, copy_best, read_best) = (best(&fma), best(&bandwidth.copy), best(&bandwidth.read));
    let timer = if ctx.timestamps { "timestamp" } else { "wall" }.to_string();
    Ok(Ceilings {
        method: METHOD,
        fma_flops_per_s: fma_best.rate,
        bandwidth_bytes_per_s: copy_best.rate,
        read_bytes_per_s: read_best.rate,
        fma_variant: fma_best.variant,
        bandwidth_variant: copy_best.variant,
        read_variant: read_best.variant,
        fma_variants: fma,
        bandwidth_variants: bandwidth.copy.into_iter().chain(bandwidth.read).collect(),
        bandwidth_buffer_bytes: bandwidth.buffer_bytes,
        timer,
        launch: Some(launch),
    })
}

/// The cache file of measured ceilings.
const CACHE_FILE: &str = "ceilings.json";

/// The cached ceilings of `adapter`, if it was measured before with the same driver and the entry is valid.
/// Entries measured by an older [`METHOD`] do not count: they are measured again.
pub fn cached(adapter: &AdapterSummary) -> Option<Ceilings> {
    cache::read_entry::<Ceilings>(CACHE_FILE, &cache::cache_key(adapter)).filter(|c| c.method >= METHOD)
}

/// Stores `ceilings` for `adapter` in the cache (atomically, under the cache's lock), keeping every other entry.
pub fn store(adapter: &AdapterSummary, ceilings: &Ceilings) -> Result<PathBuf, cache::CacheError> {
    let value = serde_json::to_value(ceilings).map_err(|e| cache::CacheError::Io {
        path: CACHE_FILE.into(),
        source: e.into(),
    })?;
    // Reading first warns (once) about any bad entry; the update keeps it in the file.
    let _ = cache::read_entries::<Ceilings>(CACHE_FILE);
    cache::update(CACHE_FILE, |entries| {
        entries.insert(cache::cache_key(adapter), value);
    })
}

impl cache::Validate for Ceilings {
    /// Peaks up to 10^18 FLOP/s and bandwidths up to 10^16 B/s: far above any device, so only nonsense is refused.
    fn problem(&self) -> Option<String> {
        cache::positive("fma_flops_per_s", self.fma_flops_per_s, 1e18)
            .or_else(|| cache::positive("bandwidth_bytes_per_s", self.bandwidth_bytes_per_s, 1e16))
            .or_else(|| cache::positive("read_bytes_per_s", self.read_bytes_per_s, 1e16))
            .or_else(|| (self.bandwidth_buffer_bytes == 0).then(|| "bandwidth_buffer_bytes is 0".to_string()))
            .or_else(|| cache::plain_text("fma_variant", &self.fma_variant))
            .or_else(|| cache::plain_text("bandwidth_variant", &self.bandwidth_variant))
            .or_else(|| cache::plain_text("read_variant", &self.read_variant))
            .or_else(|| {
                self.fma_variants.iter().find_map(|v| {
                    cache::plain_text("an FMA variant", &v.variant)
                        .or_else(|| cache::positive("an FMA variant's rate", v.rate, 1e18))
                })
            })
            .or_else(|| {
                self.bandwidth_variants.iter().find_map(|v| {
                    cache::plain_text("a bandwidth variant", &v.variant)
                        .or_else(|| cache::positive("a bandwidth variant's rate", v.rate, 1e16))
                })
            })
            .or_else(|| {
                (!matches!(self.timer.as_str(), "timestamp" | "wall"))
                    .then(|| format!("timer {:?} is neither \"timestamp\" nor \"wall\"", self.timer))
            })
            .or_else(|| self.launch.as_ref().and_then(LaunchLatency::problem))
    }
}

impl LaunchLatency {
    /// Latencies from 1 ns to 10 s: far outside any device, so only nonsense is refused.
    fn problem(&self) -> Option<String> {
        let latency = |name: &str, s: f64| {
            (!(1e-9..=10.0).contains(&s)).then(|| format!("launch {name} {s} s is not between 1 ns and 10 s"))
        };
        latency("dispatch_s", self.dispatch_s)
            .or_else(|| latency("single_s", self.single_s))
            .or_else(|| (self.dispatches_per_sample == 0).then(|| "launch dispatches_per_sample is 0".to_string()))
            .or_else(|| {
                (!matches!(self.timer.as_str(), "timestamp" | "wall"))
                    .then(|| format!("launch timer {:?} is neither \"timestamp\" nor \"wall\"", self.timer))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ceilings() -> Ceilings {
        Ceilings {
            method: METHOD,
            fma_flops_per_s: 100e9,
            bandwidth_bytes_per_s: 10e9,
            read_bytes_per_s: 12e9,
            fma_variant: "test".into(),
            bandwidth_variant: "test copy".into(),
            read_variant: "test read".into(),
            fma_variants: Vec::new(),
            bandwidth_variants: Vec::new(),
            bandwidth_buffer_bytes: 1 << 27,
            timer: "timestamp".into(),
            launch: None,
        }
    }

    /// Recorded on lavapipe (Mesa 25.0.7, 2-core Zen 2), 2026-12-02, `convflops peak`: FMA 43.0 GFLOP/s, copy
    /// 16.3 GB/s, 51.9 µs per dependent one-invocation dispatch (82.4 µs alone).
    fn lavapipe() -> Ceilings {
        Ceilings {
            fma_flops_per_s: 43.0e9,
            bandwidth_bytes_per_s: 16.3e9,
            launch: Some(LaunchLatency {
                dispatch_s: 51.9e-6,
                single_s: 82.4e-6,
                dispatches_per_sample: 86,
                timer: "timestamp".into(),
            }),
            ..ceilings()
        }
    }

    #[test]
    fn roofline_arithmetic() {
        let c = ceilings();
        assert_eq!(c.ridge_flops_per_byte(), 10.0);
        assert_eq!(c.bound(2.2), (22e9, Bound::Memory));
        assert_eq!(c.bound(90.0), (100e9, Bound::Compute));
        assert_eq!(c.bound(10.0), (100e9, Bound::Compute));
    }

    #[test]
    fn why_names_a_roof_only_near_it() {
        let c = ceilings();
        // Depthwise-like: 2.2 FLOPs/byte, memory roof 22 GFLOP/s; 1.1 GFLOP/s achieved is 5 % of it.
        let far = c.diagnose(2_200_000_000, 1_000_000_000, 2.0, 1);
        assert_eq!(far.bound, Bound::Memory);
        assert!((far.percent_of_roofline - 5.0).abs() < 1e-9);
        assert!((far.percent_of_bandwidth - 5.0).abs() < 1e-9);
        assert!(!far.near_roof());
        let why = far.why();
        assert!(why.contains("neither roof limits it"), "{why}");
        assert!(!why.contains("sets its speed"), "{why}");
        assert!(why.contains("5 % of that"), "{why}");
        // The same conv at 80 % of its memory roof: memory is named.
        let near = c.diagnose(2_200_000_000, 1_000_000_000, 0.125, 1);
        assert!(near.near_roof());
        assert!(near.why().contains("memory bandwidth sets its speed"), "{}", near.why());
        // A compute-bound conv at 60 % of peak.
        let compute = c.diagnose(90_000_000_000, 1_000_000_000, 1.5, 1);
        assert_eq!(compute.bound, Bound::Compute);
        assert!(
            compute.why().contains("the FMA units set its speed"),
            "{}",
            compute.why()
        );
        // With a launch latency of 51.9 µs these convs (seconds, not microseconds) read the same: the floor is far
        // below their times and never their bound.
        let with_launch = Ceilings {
            launch: lavapipe().launch,
            ..c.clone()
        };
        for (flops, seconds) in [(2_200_000_000u64, 2.0), (2_200_000_000, 0.125), (90_000_000_000, 1.5)] {
            let before = c.diagnose(flops, 1_000_000_000, seconds, 1);
            let after = with_launch.diagnose(flops, 1_000_000_000, seconds, 1);
            assert_eq!((before.bound, before.why()), (after.bound, after.why()));
        }
        // A tiny conv near its launch floor: no roof is named, and no instructions.
        let tiny = with_launch.diagnose(776, 1_952, 64e-6, 1);
        assert!(!tiny.why().contains("roof"), "{}", tiny.why());
        assert_launch_clause_is_true(&tiny);
    }

    /// The launch clause quotes the conv's time, the floor and their ratio as the figures beside it give them, and
    /// names no roof and no instructions.
    fn assert_launch_clause_is_true(d: &Diagnosis) {
        use crate::units::seconds;
        let why = d.why();
        let floor = d.launch_floor_s.unwrap();
        assert!(d.launch_limited(), "{why}");
        assert!(d.time_s <= LAUNCH_FACTOR * floor, "{why}");
        assert!(
            why.contains("launch overhead, not its arithmetic or memory, sets its time"),
            "{why}"
        );
        assert!(
            why.contains(&format!("its {} is {:.1}× ", seconds(d.time_s), d.time_s / floor)),
            "{why}"
        );
        assert!(
            why.contains(&format!(
                "an empty dispatch's {}",
                seconds(d.launch_dispatch_s.unwrap())
            )),
            "{why}"
        );
        for word in ["roof", "instructions", "bandwidth sets", "FMA units set"] {
            assert!(!why.contains(word), "{word}: {why}");
        }
    }

    #[test]
    fn tiny_convs_get_the_launch_clause_and_big_ones_do_not() {
        let c = lavapipe();
        // EfficientNet-B0's SE fc1 of block 2 (1×1 conv 96 → 4 on a 1×1 input, bias): 776 FLOPs, 1,952 bytes,
        // timed at 64 µs: 1.2× its one dispatch's floor.
        let tiny = c.diagnose(776, 1_952, 64e-6, 1);
        assert_eq!(tiny.bound, Bound::Launch);
        assert_launch_clause_is_true(&tiny);
        assert!(
            tiny.why().contains("its 64.0 µs is 1.2× an empty dispatch's 51.9 µs"),
            "{}",
            tiny.why()
        );
        // Its bound is FLOPs / floor, and % of that bound is floor / time.
        assert!((tiny.bound_flops_per_s - 776.0 / 51.9e-6).abs() < 1e-6);
        assert!((tiny.percent_of_roofline - 100.0 * 51.9 / 64.0).abs() < 1e-9);

        // A generated GEMM of 3 dispatches at 1.3× its 3-dispatch floor: the clause counts them.
        let gemm = c.diagnose(20_000, 40_000, 200e-6, 3);
        assert_launch_clause_is_true(&gemm);
        assert!(
            gemm.why()
                .contains("its 3 dispatches' floor of 156 µs (3 × an empty dispatch's 51.9 µs)"),
            "{}",
            gemm.why()
        );

        // A pointwise conv 80 → 480 on 14×14 (15.1 MFLOPs) at 3 ms: 58× the floor, far from its roofs.
        let big = c.diagnose(15_052_800, 1_093_120, 3e-3, 1);
        assert!(!big.launch_limited());
        assert_eq!(big.bound, Bound::Compute);
        let why = big.why();
        assert!(!why.contains("launch"), "{why}");
        assert!(why.contains("the compute roof bounds it at"), "{why}");

        // Just past 2× the floor a tiny conv is no longer launch-bound, though the floor still bounds it: the why
        // then says neither the floor nor a roof limits it.
        let past = c.diagnose(776, 1_952, 2.1 * 51.9e-6, 1);
        assert!(!past.launch_limited());
        assert_eq!(past.bound, Bound::Launch);
        let why = past.why();
        assert!(!why.contains("launch overhead"), "{why}");
        assert!(why.contains("the launch floor bounds it at"), "{why}");
        assert!(why.contains("its 109 µs is 2.1× an empty dispatch's 51.9 µs"), "{why}");
        assert!(why.contains("these ceilings do not separate"), "{why}");
        // It names neither roof as the cause, nor instructions alone.
        assert!(!why.contains("roof limits") && !why.contains("sets its"), "{why}");

        // Without a measured launch latency nothing changes: the roofline's bound, no launch clause.
        let old = ceilings().diagnose(776, 1_952, 64e-6, 1);
        assert_ne!(old.bound, Bound::Launch);
        assert!(!old.launch_limited());
        assert!(!old.why().contains("launch"), "{}", old.why());
    }

    #[test]
    fn bound_is_flops_over_the_longest_of_the_three_times() {
        let c = lavapipe();
        for (flops, bytes, dispatches) in [
            (776u64, 1_952u64, 1u64),
            (15_052_800, 1_093_120, 1),
            (1 << 30, 1 << 20, 4),
        ] {
            let (bound, kind) = c.bound_for(flops, bytes, dispatches);
            let times = [
                51.9e-6 * dispatches as f64,
                flops as f64 / c.fma_flops_per_s,
                bytes as f64 / c.bandwidth_bytes_per_s,
            ];
            let longest = times.iter().cloned().fold(0.0, f64::max);
            assert!(
                (bound - flops as f64 / longest).abs() <= 1e-9 * bound,
                "{flops}: {bound} vs {}",
                flops as f64 / longest
            );
            let expected =
                [Bound::Launch, Bound::Compute, Bound::Memory][times.iter().position(|&t| t == longest).unwrap()];
            assert_eq!(kind, expected, "{flops}");
        }
    }

    #[test]
    fn launch_latency_in_the_cache_is_validated() {
        use crate::cache::Validate;
        assert_eq!(lavapipe().problem(), None);
        let mut bad = lavapipe();
        bad.launch.as_mut().unwrap().dispatch_s = f64::NAN;
        assert!(bad.problem().unwrap().contains("dispatch_s"));
        let mut bad = lavapipe();
        bad.launch.as_mut().unwrap().single_s = 3600.0;
        assert!(bad.problem().unwrap().contains("single_s"));
        let mut bad = lavapipe();
        bad.launch.as_mut().unwrap().timer = "\u{1b}[31m".into();
        assert!(bad.problem().unwrap().contains("launch timer"));
        // A method-3 entry cached before the launch latency existed still reads, with none.
        let old: Ceilings = serde_json::from_str(
            r#"{"method":3,"fma_flops_per_s":1e9,"bandwidth_bytes_per_s":1e9,"read_bytes_per_s":1e9,
               "fma_variant":"x","bandwidth_buffer_bytes":16,"timer":"wall"}"#,
        )
        .unwrap();
        assert_eq!(old.launch, None);
        assert_eq!(old.problem(), None);
        assert_eq!(old.method, METHOD);
        // And the entry written back round-trips with it.
        let text = serde_json::to_string(&lavapipe()).unwrap();
        assert_eq!(serde_json::from_str::<Ceilings>(&text).unwrap(), lavapipe());
    }

    #[test]
    fn fma_count_per_iteration() {
        let looped = |chains| FmaVariant::Looped {
            workgroup_size: 64,
            chains,
        };
        assert_eq!(looped(8).fmas_per_iteration(), 256);
        assert_eq!(looped(4).fmas_per_iteration(), 128);
        let straight = FmaVariant::StraightLine {
            workgroup_size: 64,
            chains: 12,
            steps: 32,
        };
        assert_eq!(straight.fmas_per_iteration(), 384);
    }

    #[test]
    fn straight_line_source_has_one_fma_per_step_and_no_loop() {
        let source = straight_line_fma_source(3, 5);
        let code = source.lines().filter(|l| !l.trim_start().starts_with("//"));
        assert_eq!(code.filter(|l| l.contains("= fma(")).count(), 15);
        assert!(!source.contains("for ("), "{source}");
        assert!(!source.contains("loop {"), "{source}");
        assert!(source.contains("output[gid.x] = x0 + x1 + x2;"), "{source}");
    }

    #[test]
    fn entries_of_an_older_method_are_stale() {
        let old: Ceilings = serde_json::from_str(
            r#"{"fma_flops_per_s":1e9,"bandwidth_bytes_per_s":1e9,"read_bytes_per_s":1e9,
               "fma_variant":"x","bandwidth_buffer_bytes":16,"timer":"wall"}"#,
        )
        .unwrap();
        assert!(old.method < METHOD);
    }
}
