//! Criterion benchmarks of the standard, depthwise and pointwise convs on a few layers, each with the naive, the
//! tiled, the vec4 and the cpu (generated) kernels (bench names say which: e.g. "tiled standard (conv2d-tiled)";
//! the vec4 kernels use the built-in tiles, not the `convflops tune` cache).
//!
//! Time comes from GPU timestamps written at the beginning and end of one compute pass that holds all of criterion's
//! iterations (wall time from submit to completion where the adapter has no timestamp queries), fed to criterion
//! through `iter_custom`. Pipelines, buffers and uploads are made once, outside the timed loop.
//!
//! Units: each bench's throughput is `Throughput::Elements(flops)`, with `flops` the layer's FLOPs count from
//! `Cost::of_layer` (2·MACs, a count). So one criterion "element" is one FLOP, and the `elem/s` criterion prints
//! is the achieved FLOP/s (a rate); the bench names say so.
//!
//! Run with `cargo bench --bench kernels`. Without an adapter the bench prints why and measures nothing, unless
//! `CONVFLOPS_REQUIRE_ADAPTER=1`, which turns a missing adapter into a failure.

use std::time::Duration;

use convflops::gpu::{AdapterChoice, ConvJob, ConvKernels, GpuContext, PassTimer, Variant};
use convflops::layer::ConvLayer;
use convflops::rng::SplitMix64;
use convflops::Cost;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

/// Samples per bench: criterion's minimum, because the standard conv takes seconds per dispatch on CPU adapters.
const SAMPLES: usize = 10;
/// The shortest measurement per bench; slow kernels get enough time for [`SAMPLES`] single-dispatch samples.
const MIN_MEASUREMENT: Duration = Duration::from_secs(2);
const WARM_UP: Duration = Duration::from_millis(500);
/// At most this many dispatches go into one timed pass; larger iteration counts are split into several passes.
const MAX_DISPATCHES_PER_PASS: u64 = 1024;

/// What a bench name says about the units.
const UNITS: &str = "[1 elem = 1 FLOP = 2 MACs; thrpt elem/s = FLOP/s]";

fn adapter_required() -> bool {
    std::env::var("CONVFLOPS_REQUIRE_ADAPTER").is_ok_and(|v| v == "1")
}

/// The layers benchmarked: MobileNet v1's Table 3 layer and a smaller 3×3 layer from earlier in the network.
fn layers() -> [ConvLayer; 2] {
    let table3 = ConvLayer::default();
    let smaller = ConvLayer {
        in_channels: 128,
        out_channels: 128,
        height: 28,
        width: 28,
        ..ConvLayer::default()
    };
    [table3, smaller]
}

/// `conv_14x14x512to512_k3x3`
fn group_name(layer: &ConvLayer) -> String {
    format!(
        "conv_{}x{}x{}to{}_k{}x{}",
        layer.height, layer.width, layer.in_channels, layer.out_channels, layer.kernel[0], layer.kernel[1]
    )
}

/// Records `iters` dispatches of `job` in timed passes and returns their summed time: GPU timestamps when the
/// adapter has them, wall time otherwise.
fn timed_dispatches(ctx: &GpuContext, kernels: &ConvKernels, timer: &PassTimer, job: &ConvJob, iters: u64) -> Duration {
    let mut total_s = 0.0;
    let mut left = iters;
    while left > 0 {
        let batch = left.min(MAX_DISPATCHES_PER_PASS);
        let timing = timer
            .time_pass(ctx, |pass| {
                for _ in 0..batch {
                    job.encode(kernels, pass);
                }
            })
            .unwrap_or_else(|e| panic!("timing the {} kernel failed: {e}", job.shader.name()));
        // A zero or non-finite timestamp difference is a broken timer, not a fast kernel: use the wall clock then.
        total_s += timing
            .gpu_s
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(timing.wall_s);
        left -= batch;
    }
    Duration::from_secs_f64(total_s)
}

fn bench_layer(
    c: &mut Criterion,
    ctx: &GpuContext,
    kernels: &ConvKernels,
    timer: &PassTimer,
    layer: &ConvLayer,
    variant: Variant,
) {
    let (dw_layer, pw_layer) = (layer.depthwise(), layer.pointwise());
    // As in `compare`: the depthwise conv reads the standard conv's input, the pointwise conv the depthwise output.
    let make = |l: &ConvLayer, shader, input| {
        ConvJob::new(ctx, kernels, l, shader, input)
            .unwrap_or_else(|e| panic!("setting up the {} kernel on {l:?} failed: {e}", shader.name()))
    };
    let standard = make(layer, variant.shader_for(layer), None);
    let depthwise = make(&dw_layer, variant.shader_for(&dw_layer), Some(&standard.input));
    let pointwise = make(&pw_layer, variant.shader_for(&pw_layer), Some(&depthwise.output));

    let mut rng = SplitMix64::new(0x5eed);
    let mut fill = |len: Option<u64>| rng.fill(len.and_then(|n| usize::try_from(n).ok()).unwrap_or(0));
    let input = fill(layer.input_len());
    let uploads = [
        (&standard, Some(input.as_slice()), fill(layer.weight_len())),
        (&depthwise, None, fill(dw_layer.weight_len())),
        (&pointwise, None, fill(pw_layer.weight_len())),
    ];
    for (job, input, weight) in &uploads {
        let bias = job.layer.bias.then(|| vec![0.0; job.layer.bias_len() as usize]);
        job.upload(ctx, *input, weight, bias.as_deref())
            .unwrap_or_else(|e| panic!("uploading the {} tensors failed: {e}", job.shader.name()));
    }

    let mut group = c.benchmark_group(group_name(layer));
    group
        .sample_size(SAMPLES)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(WARM_UP);
    for (name, job) in [
        ("standard", &standard),
        ("depthwise", &depthwise),
        ("pointwise", &pointwise),
    ] {
        let cost = Cost::of_layer(&job.layer).unwrap_or_else(|e| panic!("costing the {name} conv failed: {e}"));
        // One untimed-by-criterion dispatch: checks that the kernel runs and sizes the measurement so that even a
        // kernel taking seconds per dispatch fits SAMPLES samples without criterion's "unable to complete" warning.
        let probe = timed_dispatches(ctx, kernels, timer, job, 1);
        group.measurement_time(MIN_MEASUREMENT.max(probe.mul_f64(SAMPLES as f64 * 1.2)));
        group.throughput(Throughput::Elements(cost.flops));
        group.bench_function(
            format!("{} {name} ({}) {UNITS}", variant.name(), job.shader.name()),
            |b| b.iter_custom(|iters| timed_dispatches(ctx, kernels, timer, job, iters)),
        );
    }
    group.finish();
}

fn kernels(c: &mut Criterion) {
    let ctx = match GpuContext::new(&AdapterChoice::default()) {
        Ok(ctx) => ctx,
        Err(error) => {
            assert!(
                !adapter_required(),
                "CONVFLOPS_REQUIRE_ADAPTER=1 but no usable adapter: {error}"
            );
            eprintln!("kernels bench: no usable adapter ({error}); nothing benchmarked");
            return;
        }
    };
    let conv_kernels = ConvKernels::new(&ctx).unwrap_or_else(|e| panic!("compiling the conv kernels failed: {e}"));
    let timer = PassTimer::new(&ctx).unwrap_or_else(|e| panic!("creating the pass timer failed: {e}"));
    eprintln!("{}", ctx.summary.headline());
    eprintln!(
        "timer: {} (one pass per up to {MAX_DISPATCHES_PER_PASS} dispatches); throughput: 1 elem = 1 FLOP (2 MACs), \
         so elem/s = FLOP/s",
        if ctx.timestamps {
            "GPU timestamps around each compute pass"
        } else {
            "wall clock from submit to completion (the adapter has no timestamp queries)"
        }
    );
    for layer in layers() {
        for variant in [Variant::Naive, Variant::Tiled, Variant::Vec4, Variant::Cpu] {
            bench_layer(c, &ctx, &conv_kernels, &timer, &layer, variant);
        }
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);
