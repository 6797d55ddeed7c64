//! The fused depthwise-separable kernel (depthwise 3×3 + pointwise 1×1 in one dispatch) against the CPU reference
//! composition: `reference::conv2d` on the layer's depthwise half, then on its pointwise half with that output.
//! With CONVFLOPS_REQUIRE_ADAPTER=1 a missing adapter fails the test instead of skipping it.

mod common;

use convflops::gpu::conv::Tile;
use convflops::gpu::fused::FUSED_NAME;
use convflops::gpu::{ConvJob, ConvKernels, FusedJob, FusedSeparable, GpuContext, GpuError, PassTimer, ShaderKind};
use convflops::layer::ConvLayer;
use convflops::reference::{self, Reference};
use convflops::rng::SplitMix64;

/// A separable layer's tensors: input, depthwise weight and bias, pointwise weight and bias.
struct Tensors {
    input: Vec<f32>,
    dw: Vec<f32>,
    dw_bias: Option<Vec<f32>>,
    pw: Vec<f32>,
    pw_bias: Option<Vec<f32>>,
}

fn len(n: Option<u64>) -> usize {
    usize::try_from(n.unwrap()).unwrap()
}

fn random_tensors(layer: &ConvLayer, rng: &mut SplitMix64) -> Tensors {
    let (depthwise, pointwise) = (layer.depthwise(), layer.pointwise());
    Tensors {
        input: rng.fill(len(layer.input_len())),
        dw: rng.fill(len(depthwise.weight_len())),
        dw_bias: layer.bias.then(|| rng.fill(layer.in_channels as usize)),
        pw: rng.fill(len(pointwise.weight_len())),
        pw_bias: layer.bias.then(|| rng.fill(layer.out_channels as usize)),
    }
}

/// The reference composition. Its magnitudes are those of the composed sum's terms, `Σ_ci |pw|·Σ|x·dw| + |bias|`:
/// the GPU's depthwise rounding error scales with the depthwise magnitudes, not with the (possibly cancelled)
/// depthwise values, so the pointwise reference's own magnitudes would be too tight. With the standard layer's term
/// count (9·C_in + 1) in `reference::tolerance`, this is the verify formula for the expanded sum.
fn expected(layer: &ConvLayer, input: &[f32], t: &Tensors) -> Reference {
    let depthwise = reference::conv2d(&layer.depthwise(), input, &t.dw, t.dw_bias.as_deref()).unwrap();
    let values: Vec<f32> = depthwise.values.iter().map(|&v| v as f32).collect();
    let out = reference::conv2d(&layer.pointwise(), &values, &t.pw, t.pw_bias.as_deref()).unwrap();
    let magnitudes: Vec<f32> = depthwise.magnitudes.iter().map(|&v| v as f32).collect();
    let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<f32>>();
    let pw_bias = t.pw_bias.as_deref().map(abs);
    let bound = reference::conv2d(&layer.pointwise(), &magnitudes, &abs(&t.pw), pw_bias.as_deref()).unwrap();
    Reference {
        values: out.values,
        magnitudes: bound.values,
    }
}

fn upload(ctx: &GpuContext, job: &FusedJob<'_>, input: Option<&[f32]>, t: &Tensors) -> Result<(), GpuError> {
    job.upload(ctx, input, &t.dw, t.dw_bias.as_deref(), &t.pw, t.pw_bias.as_deref())
}

/// Runs `layer` through `fused` and asserts agreement with the reference.
fn check(ctx: &GpuContext, fused: &FusedSeparable, layer: &ConvLayer, rng: &mut SplitMix64) {
    let t = random_tensors(layer, rng);
    let job = FusedJob::new(ctx, fused, layer, None).unwrap();
    upload(ctx, &job, Some(&t.input), &t).unwrap();
    job.run(ctx).unwrap();
    let output = job.read_output(ctx).unwrap();
    let agreement = reference::compare(layer, &output, &expected(layer, &t.input, &t));
    assert!(
        agreement.passed(),
        "{} with tile {}: {agreement:?}",
        layer.describe(),
        fused.tile()
    );
}

/// A separable layer (3×3, stride 1, padding 1) with the given shape.
fn layer(batch: u32, c_in: u32, c_out: u32, height: u32, width: u32, bias: bool) -> ConvLayer {
    ConvLayer {
        batch,
        in_channels: c_in,
        out_channels: c_out,
        height,
        width,
        bias,
        ..ConvLayer::default()
    }
}

/// Hand-picked edges (planes of one row or one column, W not a multiple of 4, one channel, C_out not a multiple of
/// 4) and random layers: batch 1–2, C_in and C_out 1–40, H·W a multiple of 4 made so through H or through W.
fn cases() -> Vec<ConvLayer> {
    let mut layers = vec![
        layer(1, 1, 1, 1, 4, false),
        layer(1, 3, 5, 4, 1, true),
        layer(2, 2, 7, 2, 2, true),
        layer(1, 5, 3, 2, 6, false),
        layer(2, 4, 9, 6, 2, true),
        layer(1, 7, 40, 3, 4, false),
        layer(1, 40, 33, 5, 12, true),
        layer(2, 9, 13, 1, 12, false),
        layer(1, 6, 4, 12, 1, true),
        layer(1, 17, 29, 7, 20, true),
    ];
    let mut rng = SplitMix64::new(42);
    while layers.len() < 32 {
        let mut l = layer(
            rng.range(1, 2),
            rng.range(1, 40),
            rng.range(1, 40),
            rng.range(1, 20),
            rng.range(1, 20),
            rng.chance(50),
        );
        if !(l.height * l.width).is_multiple_of(4) {
            if rng.chance(50) {
                l.height = l.height.next_multiple_of(4);
            } else {
                l.width = l.width.next_multiple_of(4);
            }
        }
        layers.push(l);
    }
    layers
}

#[test]
fn random_layers_match_the_reference_composition() {
    let Some(ctx) = common::vulkan() else { return };
    let tiles = [
        Tile::new(1, 1, 64),
        Tile::new(1, 2, 32),
        Tile::new(1, 4, 64),
        Tile::new(1, 8, 16),
    ];
    let kernels: Vec<FusedSeparable> = tiles
        .iter()
        .map(|&tile| FusedSeparable::new(&ctx, tile).unwrap())
        .collect();
    let layers = cases();
    assert!(layers.iter().filter(|l| !l.width.is_multiple_of(4)).count() >= 5);
    assert!(layers.iter().filter(|l| !l.out_channels.is_multiple_of(4)).count() >= 10);
    assert!(layers.iter().filter(|l| l.bias).count() >= 5 && layers.iter().filter(|l| !l.bias).count() >= 5);
    let mut rng = SplitMix64::new(7);
    for (i, l) in layers.iter().enumerate() {
        assert!(FusedSeparable::applies(l).is_ok(), "{}", l.describe());
        check(&ctx, &kernels[i % kernels.len()], l, &mut rng);
    }
}

#[test]
fn chained_layers_read_the_previous_output_on_the_device() {
    let Some(ctx) = common::vulkan() else { return };
    let fused = FusedSeparable::new(&ctx, Tile::new(1, 2, 64)).unwrap();
    let first = layer(2, 6, 10, 5, 4, true);
    let second = layer(2, 10, 7, 5, 4, false);
    let mut rng = SplitMix64::new(11);
    let (t1, t2) = (random_tensors(&first, &mut rng), random_tensors(&second, &mut rng));
    let job1 = FusedJob::new(&ctx, &fused, &first, None).unwrap();
    let job2 = FusedJob::new(&ctx, &fused, &second, Some(&job1.output)).unwrap();
    upload(&ctx, &job1, Some(&t1.input), &t1).unwrap();
    upload(&ctx, &job2, None, &t2).unwrap();
    job1.run(&ctx).unwrap();
    job2.run(&ctx).unwrap();
    let middle = job1.read_output(&ctx).unwrap();
    let agreement = reference::compare(
        &second,
        &job2.read_output(&ctx).unwrap(),
        &expected(&second, &middle, &t2),
    );
    assert!(agreement.passed(), "{agreement:?}");
    assert!(
        job2.device_bytes() < job1.device_bytes(),
        "a chained job allocates no input"
    );

    // A chained buffer too small for the layer's input is refused before anything is allocated.
    let wider = layer(2, 12, 7, 5, 4, false);
    let error = FusedJob::new(&ctx, &fused, &wider, Some(&job1.output)).unwrap_err();
    assert!(matches!(error, GpuError::DataLength { .. }), "{error}");
}

#[test]
fn inapplicable_layers_are_refused_naming_the_rule() {
    let Some(ctx) = common::vulkan() else { return };
    let fused = FusedSeparable::new(&ctx, Tile::new(1, 4, 64)).unwrap();
    let base = layer(1, 8, 8, 8, 8, false);
    let refused = [
        (ConvLayer { stride: [2, 2], ..base }, "stride 1"),
        (
            ConvLayer {
                kernel: [5, 5],
                padding: [2, 2],
                ..base
            },
            "3×3 kernel",
        ),
        (
            ConvLayer {
                padding: [0, 0],
                ..base
            },
            "padding 1",
        ),
        (
            ConvLayer {
                dilation: [2, 2],
                padding: [2, 2],
                ..base
            },
            "dilation 1",
        ),
        (ConvLayer { groups: 2, ..base }, "groups 1"),
        (
            ConvLayer {
                height: 5,
                width: 3,
                ..base
            },
            "H·W a multiple of 4",
        ),
    ];
    for (l, rule) in refused {
        for error in [
            FusedSeparable::applies(&l).unwrap_err(),
            FusedJob::new(&ctx, &fused, &l, None).unwrap_err(),
        ] {
            let message = error.to_string();
            assert!(
                matches!(error, GpuError::KernelDoesNotApply { shader, .. } if shader == FUSED_NAME),
                "{message}"
            );
            assert!(message.contains(rule), "{} → {message} (wanted {rule:?})", l.describe());
        }
    }
    // An invalid layer is an error too.
    let empty = ConvLayer { in_channels: 0, ..base };
    assert!(matches!(FusedSeparable::applies(&empty), Err(GpuError::Shape(_))));
    assert!(FusedJob::new(&ctx, &fused, &empty, None).is_err());
}

#[test]
fn wrong_tensor_lengths_and_tiles_are_errors() {
    let Some(ctx) = common::vulkan() else { return };
    for tile in [Tile::new(2, 4, 64), Tile::new(1, 9, 64), Tile::new(1, 4, 0)] {
        assert!(FusedSeparable::new(&ctx, tile).is_err(), "{tile}");
    }
    let fused = FusedSeparable::new(&ctx, Tile::new(1, 4, 64)).unwrap();
    let with_bias = layer(1, 5, 6, 4, 3, true);
    let job = FusedJob::new(&ctx, &fused, &with_bias, None).unwrap();
    let mut rng = SplitMix64::new(5);
    let good = random_tensors(&with_bias, &mut rng);
    let short = |v: &Vec<f32>| v[..v.len() - 1].to_vec();
    let mut bad = Vec::new();
    bad.push(("input", short(&good.input), None));
    let mut t = random_tensors(&with_bias, &mut rng);
    t.dw = short(&t.dw);
    bad.push(("depthwise weight", good.input.clone(), Some(t)));
    let mut t = random_tensors(&with_bias, &mut rng);
    t.dw_bias = None;
    bad.push(("depthwise bias", good.input.clone(), Some(t)));
    let mut t = random_tensors(&with_bias, &mut rng);
    t.pw.push(0.0);
    bad.push(("pointwise weight", good.input.clone(), Some(t)));
    let mut t = random_tensors(&with_bias, &mut rng);
    t.pw_bias = t.pw_bias.map(|b| short(&b));
    bad.push(("pointwise bias", good.input.clone(), Some(t)));
    for (what, input, tensors) in bad {
        let tensors = tensors.as_ref().unwrap_or(&good);
        let error = upload(&ctx, &job, Some(&input), tensors).unwrap_err();
        assert!(
            matches!(error, GpuError::DataLength { what: got, .. } if got.starts_with(what)),
            "{what}: {error}"
        );
    }
    // Biases for a layer without one, and an empty input.
    let no_bias = ConvLayer {
        bias: false,
        ..with_bias
    };
    let job = FusedJob::new(&ctx, &fused, &no_bias, None).unwrap();
    let error = upload(&ctx, &job, Some(&good.input), &good).unwrap_err();
    assert!(error.to_string().contains("the layer has none"), "{error}");
    let plain = Tensors {
        dw_bias: None,
        pw_bias: None,
        ..random_tensors(&no_bias, &mut rng)
    };
    assert!(upload(&ctx, &job, Some(&[]), &plain).is_err());
    // The job still works after the refusals.
    upload(&ctx, &job, Some(&plain.input), &plain).unwrap();
    job.run(&ctx).unwrap();
    let agreement = reference::compare(
        &no_bias,
        &job.read_output(&ctx).unwrap(),
        &expected(&no_bias, &plain.input, &plain),
    );
    assert!(agreement.passed(), "{agreement:?}");
}

/// Milliseconds per dispatch of the fused kernel on the default layer (1×512×14×14 → 512, 3×3) with 2, 4 and 8
/// channel groups per invocation, and of the unfused pair (depthwise-vec4 then pointwise-vec4, the built-in tiles)
/// for comparison: `cargo test --release --test fused -- --ignored --nocapture`. Each sample is one pass of 20
/// dispatches; the configurations take turns for 5 rounds, so a busy machine slows them all alike.
#[test]
#[ignore = "a timing run, not a check"]
fn time_the_default_layer() {
    let Some(ctx) = common::vulkan() else { return };
    const DISPATCHES: u32 = 20;
    const ROUNDS: usize = 5;
    let layer = ConvLayer::default();
    let mut rng = SplitMix64::new(1);
    let t = random_tensors(&layer, &mut rng);
    let want = expected(&layer, &t.input, &t);
    let timer = PassTimer::new(&ctx).unwrap();
    let fused: Vec<FusedSeparable> = [2, 4, 8]
        .into_iter()
        .map(|channels| FusedSeparable::new(&ctx, Tile::new(1, channels, 64)).unwrap())
        .collect();
    let jobs: Vec<FusedJob<'_>> = fused
        .iter()
        .map(|f| {
            let job = FusedJob::new(&ctx, f, &layer, None).unwrap();
            upload(&ctx, &job, Some(&t.input), &t).unwrap();
            job.run(&ctx).unwrap();
            let agreement = reference::compare(&layer, &job.read_output(&ctx).unwrap(), &want);
            assert!(agreement.passed(), "{agreement:?}");
            job
        })
        .collect();
    let kernels = ConvKernels::new(&ctx).unwrap();
    let dw = ConvJob::new(&ctx, &kernels, &layer.depthwise(), ShaderKind::DepthwiseVec4, None).unwrap();
    let pw = ConvJob::new(
        &ctx,
        &kernels,
        &layer.pointwise(),
        ShaderKind::PointwiseVec4,
        Some(&dw.output),
    )
    .unwrap();
    dw.upload(&ctx, Some(&t.input), &t.dw, None).unwrap();
    pw.upload(&ctx, None, &t.pw, None).unwrap();
    dw.run(&ctx, &kernels).unwrap();
    pw.run(&ctx, &kernels).unwrap();

    let seconds = |timing: convflops::gpu::Timing| timing.gpu_s.unwrap_or(timing.wall_s);
    let mut samples = vec![Vec::new(); jobs.len() + 1];
    for _ in 0..ROUNDS {
        for (job, times) in jobs.iter().zip(&mut samples) {
            let timing = timer
                .time_pass(&ctx, |pass| (0..DISPATCHES).for_each(|_| job.encode(pass)))
                .unwrap();
            times.push(seconds(timing));
        }
        let timing = timer
            .time_pass(&ctx, |pass| {
                (0..DISPATCHES).for_each(|_| {
                    dw.encode(&kernels, pass);
                    pw.encode(&kernels, pass);
                })
            })
            .unwrap();
        samples[jobs.len()].push(seconds(timing));
    }
    println!(
        "adapter {}, {} timer, {DISPATCHES} dispatches per sample, {ROUNDS} rounds",
        ctx.summary.name,
        if ctx.timestamps { "timestamp" } else { "wall" }
    );
    let tiles = kernels.tiles();
    let names: Vec<String> = jobs
        .iter()
        .map(|job| format!("fused, TILE_CHANNELS {} (grid {:?})", job.tile().channels, job.grid()))
        .chain([format!(
            "unfused depthwise-vec4 {} + pointwise-vec4 {}",
            ShaderKind::DepthwiseVec4.describe_tile(tiles.get(ShaderKind::DepthwiseVec4).unwrap()),
            ShaderKind::PointwiseVec4.describe_tile(tiles.get(ShaderKind::PointwiseVec4).unwrap())
        )])
        .collect();
    for (name, mut times) in names.into_iter().zip(samples) {
        times.sort_by(f64::total_cmp);
        let per = |s: f64| s * 1e3 / f64::from(DISPATCHES);
        println!(
            "{name}: min {:.2} ms, median {:.2} ms per dispatch",
            per(times[0]),
            per(times[times.len() / 2])
        );
    }
}

/// `compare`'s progress names each step once: the four convs, then the fused pair as its own step (the separable
/// pair is no longer announced twice).
#[test]
fn compare_announces_the_fused_step_once() {
    use convflops::compare::{self, Step};
    use convflops::cost::ConvKind;
    let Some(ctx) = common::vulkan() else { return };
    let layer = ConvLayer {
        in_channels: 8,
        out_channels: 16,
        height: 12,
        width: 12,
        ..ConvLayer::default()
    };
    assert!(FusedSeparable::applies(&layer).is_ok());
    let settings = convflops::bench::BenchSettings::new(0, 1, 0.0).unwrap();
    let mut steps = Vec::new();
    let comparison = compare::run(&ctx, &layer, convflops::gpu::Variant::Vec4, &settings, |s| {
        steps.push(s)
    })
    .unwrap();
    assert_eq!(
        steps,
        [
            Step::Conv(ConvKind::Standard),
            Step::Conv(ConvKind::Depthwise),
            Step::Conv(ConvKind::Pointwise),
            Step::Conv(ConvKind::Separable),
            Step::Fused,
        ]
    );
    assert!(comparison.fused.is_some());
    assert_eq!(Step::Fused.to_string(), "separable (fused)");
}
