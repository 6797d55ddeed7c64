//! The GPU kernels against the CPU reference, on lavapipe (Vulkan) and llvmpipe (GL) or whatever adapters exist.
//! With CONVFLOPS_REQUIRE_ADAPTER=1 a missing adapter fails the test instead of skipping it.

mod common;

use convflops::explain::{example_layer, EXAMPLE_INPUT, EXAMPLE_KERNEL, EXAMPLE_OUTPUT};
use convflops::gpu::{ConvJob, ConvKernels, GpuContext, ShaderKind, Variant};
use convflops::layer::ConvLayer;
use convflops::{npy, reference, rng::SplitMix64, verify};

fn worked_example(ctx: &GpuContext) {
    let kernels = ConvKernels::new(ctx).unwrap();
    let input: Vec<f32> = EXAMPLE_INPUT.iter().flatten().copied().collect();
    let kernel: Vec<f32> = EXAMPLE_KERNEL.iter().flatten().copied().collect();
    let job = ConvJob::new(ctx, &kernels, &example_layer(), ShaderKind::Conv2d, None).unwrap();
    job.upload(ctx, Some(&input), &kernel, None).unwrap();
    job.run(ctx, &kernels).unwrap();
    let want: Vec<f32> = EXAMPLE_OUTPUT.iter().flatten().copied().collect();
    assert_eq!(job.read_output(ctx).unwrap(), want);
}

/// `cases` random layers; each generated kernel (the cpu and gpu families, compiled anew per shape: seconds to
/// minutes each on a cold Mesa cache) runs on the first `generated` cases it applies to, none when 0.
/// tests/gpu_family.rs and the cpu_family tests below check those families on chosen shapes on both backends.
fn verify_cases(ctx: &GpuContext, cases: u32, seed: u64, generated: u32) {
    let share = verify::GeneratedShare {
        every: 1,
        at_most: generated,
    };
    let results = verify::run_with(ctx, cases, seed, share, |_, _| {}).unwrap();
    let summary = verify::summarize(&results);
    for kind in ShaderKind::ALL {
        let count = summary.get(kind.name()).map_or(0, |(count, _)| *count);
        if kind.is_generated() {
            assert_eq!(
                count,
                generated,
                "{} ran {count} cases, not its {generated}",
                kind.name()
            );
        } else {
            assert!(count > 10, "{} ran only {count} cases", kind.name());
        }
    }
    for (kernel, (_, agreement)) in &summary {
        assert!(
            agreement.passed(),
            "{kernel} disagrees with the reference: {agreement:?}"
        );
    }
    assert_eq!(summary["conv2d"].0, cases, "the general kernel runs every case");
    assert_eq!(
        summary["conv2d-tiled"].0, cases,
        "the tiled general kernel runs every case"
    );
}

#[test]
fn worked_example_on_vulkan() {
    if let Some(ctx) = common::vulkan() {
        worked_example(&ctx);
    }
}

#[test]
fn worked_example_on_gl() {
    if let Some(ctx) = common::gl() {
        worked_example(&ctx);
    }
}

#[test]
fn verify_200_cases_on_vulkan() {
    if let Some(ctx) = common::vulkan() {
        verify_cases(&ctx, 200, 1, 6);
    }
}

#[test]
fn verify_200_cases_on_gl() {
    // The fixed kernels only: llvmpipe GL compiled one generated kernel of an odd random shape (kernel 1×3,
    // dilation 2×3) for many minutes on a cold cache; cpu_family_matches_the_reference_on_gl and
    // tests/gpu_family.rs run both generated families on GL.
    if let Some(ctx) = common::gl() {
        verify_cases(&ctx, 200, 2, 0);
    }
}

#[test]
fn a_broken_result_is_caught() {
    // The comparison the verify command relies on flags a single wrong output.
    let layer = ConvLayer {
        in_channels: 4,
        out_channels: 4,
        height: 6,
        width: 6,
        ..ConvLayer::default()
    };
    let mut rng = SplitMix64::new(3);
    let (input, weight, _) = verify::random_tensors(&layer, &mut rng);
    let expected = reference::conv2d(&layer, &input, &weight, None).unwrap();
    let mut output: Vec<f32> = expected.values.iter().map(|&v| v as f32).collect();
    assert!(reference::compare(&layer, &output, &expected).passed());
    output[17] += 1e-3;
    assert_eq!(reference::compare(&layer, &output, &expected).mismatches, 1);
}

#[test]
fn nan_and_inf_propagate() {
    let Some(ctx) = common::vulkan() else { return };
    let kernels = ConvKernels::new(&ctx).unwrap();
    let layer = ConvLayer {
        in_channels: 2,
        out_channels: 2,
        height: 4,
        width: 4,
        padding: [0, 0],
        ..ConvLayer::default()
    };
    let mut input = vec![1.0f32; 32];
    input[0] = f32::NAN; // reaches output (0, 0) of both channels
    input[16 + 15] = f32::INFINITY; // reaches output (1, 1)
    let weight = vec![0.5f32; 36];
    let expected = reference::conv2d(&layer, &input, &weight, None).unwrap();
    let job = ConvJob::new(&ctx, &kernels, &layer, ShaderKind::Conv2d, None).unwrap();
    job.upload(&ctx, Some(&input), &weight, None).unwrap();
    job.run(&ctx, &kernels).unwrap();
    let output = job.read_output(&ctx).unwrap();
    assert!(output[0].is_nan() && output[4].is_nan());
    assert_eq!(output[3], f32::INFINITY);
    let agreement = reference::compare(&layer, &output, &expected);
    assert!(agreement.passed(), "{agreement:?}");
    assert!(agreement.non_finite >= 4);
}

/// NaN and ±Inf in the input (and in the weights, without padding) propagate through every kernel as IEEE 754
/// says, and the comparison `verify` uses reports them as propagated non-finite values, not as errors. The NaN
/// sits in a corner, where the tiled kernels' clamped padding loads read it and must select 0 instead.
#[test]
fn nan_and_inf_propagate_through_every_kernel() {
    let Some(ctx) = common::vulkan() else { return };
    let kernels = ConvKernels::new(&ctx).unwrap();
    let standard = ConvLayer {
        batch: 2,
        in_channels: 3,
        out_channels: 3,
        height: 7,
        width: 9,
        padding: [1, 1],
        bias: true,
        ..ConvLayer::default()
    };
    let depthwise = standard.depthwise();
    let pointwise = ConvLayer {
        kernel: [1, 1],
        padding: [0, 0],
        ..standard
    };
    // The vec4 kernels need H·W a multiple of 4: 6×10 (W is not, so vec4 groups straddle rows).
    let standard4 = ConvLayer {
        height: 6,
        width: 10,
        ..standard
    };
    let depthwise4 = standard4.depthwise();
    let pointwise4 = ConvLayer {
        height: 6,
        width: 10,
        ..pointwise
    };
    let cases = [
        (standard, ShaderKind::Conv2d),
        (standard, ShaderKind::Conv2dTiled),
        (standard4, ShaderKind::Conv2dVec4),
        (depthwise, ShaderKind::Depthwise),
        (depthwise, ShaderKind::DepthwiseTiled),
        (depthwise4, ShaderKind::DepthwiseVec4),
        (pointwise, ShaderKind::Pointwise),
        (pointwise, ShaderKind::Conv2dTiled),
        (pointwise4, ShaderKind::PointwiseVec4),
        (standard, ShaderKind::Conv2dGpu),
        (depthwise, ShaderKind::DepthwiseGpu),
        (pointwise, ShaderKind::PointwiseGpu),
        (pointwise, ShaderKind::Conv2dGpu),
    ];
    for (layer, shader) in cases {
        let plane = (layer.height * layer.width) as usize;
        let mut rng = SplitMix64::new(5);
        let (mut input, weight, bias) = verify::random_tensors(&layer, &mut rng);
        input[0] = f32::NAN; // image 0, channel 0, top-left corner
        input[plane + 4 * layer.width as usize + 4] = f32::INFINITY; // image 0, channel 1, interior
        input[plane + 4 * layer.width as usize + 5] = f32::NEG_INFINITY; // its neighbour: ∞ − ∞ = NaN where both meet
        input[3 * plane + plane - 1] = f32::INFINITY; // image 1, channel 0, bottom-right corner
        let (agreement, expected) = non_finite_agree(&ctx, &kernels, &layer, shader, &input, &weight, bias.as_deref());
        assert!(agreement.non_finite > 0, "{}: no non-finite output", shader.name());
        assert!(
            (agreement.non_finite as usize) < expected.values.len() / 2,
            "{}: the non-finite values spread beyond their windows",
            shader.name()
        );

        // A NaN weight, no padding: every output of that channel is NaN, the others stay finite. (The vec4
        // conv2d and depthwise kernels need padding along x, where a non-finite weight meets a zero padding tap
        // and gives 0·NaN = NaN as an explicitly padded conv does, while the reference skips padding taps: the
        // documented difference, so they skip this part.)
        let unpadded = ConvLayer {
            padding: [0, 0],
            ..layer
        };
        if shader.check(&unpadded).is_err() {
            continue;
        }
        let (input, mut weight, bias) = verify::random_tensors(&unpadded, &mut rng);
        weight[0] = f32::NAN;
        let expected = reference::conv2d(&unpadded, &input, &weight, bias.as_deref()).unwrap();
        let agreement = verify::check_layer(
            &ctx,
            &kernels,
            &unpadded,
            shader,
            (&input, &weight, bias.as_deref()),
            &expected,
        )
        .unwrap();
        assert!(agreement.passed(), "{} NaN weight: {agreement:?}", shader.name());
        let per_channel = u64::from(unpadded.out_height() * unpadded.out_width() * unpadded.batch);
        assert_eq!(agreement.non_finite, per_channel, "{} NaN weight", shader.name());
    }
}

/// The cpu family's generated kernels (each on a layer it takes): a NaN, two infinities meeting (∞ − ∞ = NaN) and an
/// infinity in another image's corner reach exactly the outputs the CPU reference makes non-finite, and no others.
#[test]
fn nan_and_inf_propagate_through_the_cpu_family() {
    let Some(ctx) = common::vulkan() else { return };
    let kernels = ConvKernels::new(&ctx).unwrap();
    let conv = |c_in: u32, c_out: u32, size: u32, k: u32| ConvLayer {
        batch: 2,
        in_channels: c_in,
        out_channels: c_out,
        height: size,
        width: size,
        kernel: [k, k],
        padding: [k / 2, k / 2],
        bias: true,
        ..ConvLayer::default()
    };
    let cases = [
        (conv(16, 24, 8, 3), ShaderKind::Conv2dLanes),
        (conv(3, 8, 8, 3), ShaderKind::Conv2dLanes),
        // Dilated: conv2d-cpu.
        (
            ConvLayer {
                dilation: [2, 2],
                padding: [2, 2],
                ..conv(3, 8, 8, 3)
            },
            ShaderKind::Conv2dCpu,
        ),
        (conv(8, 8, 8, 3).depthwise(), ShaderKind::DepthwiseCpu),
        (conv(16, 72, 6, 1), ShaderKind::PointwiseLanes),
        (conv(16, 72, 7, 1), ShaderKind::PointwiseLanes),
        // 1×1 planes past the GEMV's 16 columns: the GEMM.
        (
            ConvLayer {
                batch: 17,
                ..conv(16, 72, 1, 1)
            },
            ShaderKind::PointwiseCpu,
        ),
        (conv(32, 12, 1, 1), ShaderKind::GemvCpu),
    ];
    for (layer, shader) in cases {
        assert_eq!(Variant::Cpu.shader_for(&layer), shader, "{}", layer.describe());
        let (w, plane) = (layer.width as usize, (layer.height * layer.width) as usize);
        let c = layer.in_channels as usize;
        let mut rng = SplitMix64::new(9);
        let (mut input, weight, bias) = verify::random_tensors(&layer, &mut rng);
        input[0] = f32::NAN; // image 0, channel 0, top-left corner
        let inner = if plane > 1 { plane + (w + 1).min(plane - 2) } else { 1 };
        input[inner] = f32::INFINITY; // image 0, channel 1
        input[inner + 1] = f32::NEG_INFINITY; // its neighbour: ∞ − ∞ = NaN where both meet
        input[c * plane + plane - 1] = f32::INFINITY; // image 1, channel 0, last pixel
        let (agreement, _) = non_finite_agree(&ctx, &kernels, &layer, shader, &input, &weight, bias.as_deref());
        assert!(agreement.non_finite > 0, "{}", shader.name());
    }
}

/// Runs `shader` on `layer` with these tensors and checks it against the CPU reference: it passes, and it has
/// exactly as many non-finite outputs as the reference. Returns its agreement and the reference.
fn non_finite_agree(
    ctx: &GpuContext,
    kernels: &ConvKernels,
    layer: &ConvLayer,
    shader: ShaderKind,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> (convflops::reference::Agreement, reference::Reference) {
    let expected = reference::conv2d(layer, input, weight, bias).unwrap();
    let agreement = verify::check_layer(ctx, kernels, layer, shader, (input, weight, bias), &expected).unwrap();
    assert!(
        agreement.passed(),
        "{} on {}: {agreement:?}",
        shader.name(),
        layer.describe()
    );
    let reference_non_finite = expected.values.iter().filter(|v| !v.is_finite()).count() as u64;
    assert_eq!(agreement.non_finite, reference_non_finite, "{}", shader.name());
    (agreement, expected)
}

#[test]
fn wrong_kernel_for_the_shape_is_refused() {
    let layer = ConvLayer::default();
    assert!(ShaderKind::Depthwise.check(&layer).is_err());
    assert!(ShaderKind::Pointwise.check(&layer).is_err());
    // The default layer (14×14: H·W = 196 is a multiple of 4) gets the vec4 kernels, ...
    assert_eq!(ShaderKind::for_layer(&layer), ShaderKind::Conv2dVec4);
    assert_eq!(ShaderKind::for_layer(&layer.depthwise()), ShaderKind::DepthwiseVec4);
    assert_eq!(ShaderKind::for_layer(&layer.pointwise()), ShaderKind::PointwiseVec4);
    assert_eq!(Variant::Tiled.shader_for(&layer), ShaderKind::Conv2dTiled);
    assert_eq!(Variant::Tiled.shader_for(&layer.pointwise()), ShaderKind::Conv2dTiled);
    // ... and a 7×7 plane (49 pixels), a stride-2 or a 5-wide layer falls back to the tiled kernels.
    let odd = ConvLayer {
        height: 7,
        width: 7,
        ..layer
    };
    assert_eq!(ShaderKind::for_layer(&odd), ShaderKind::Conv2dTiled);
    assert_eq!(ShaderKind::for_layer(&odd.depthwise()), ShaderKind::DepthwiseTiled);
    assert_eq!(ShaderKind::for_layer(&odd.pointwise()), ShaderKind::Conv2dTiled);
    let strided = ConvLayer {
        stride: [2, 2],
        ..layer
    };
    assert_eq!(ShaderKind::for_layer(&strided), ShaderKind::Conv2dTiled);
    let wide = ConvLayer {
        kernel: [3, 5],
        padding: [1, 2],
        ..layer
    };
    assert_eq!(ShaderKind::for_layer(&wide), ShaderKind::Conv2dTiled);
    let tall = ConvLayer {
        kernel: [5, 3],
        padding: [2, 1],
        ..layer
    };
    assert_eq!(ShaderKind::for_layer(&tall), ShaderKind::Conv2dVec4);
    let message = ShaderKind::Conv2dVec4.check(&strided).unwrap_err().to_string();
    assert!(
        message.contains("stride 1") && message.contains("stride 2×2"),
        "{message}"
    );
    // Every kernel takes the default pointwise conv but the depthwise ones, the vec4 standard conv (3 wide only),
    // conv2d-lanes (3×3 only) and the GEMV (at most 16 output pixels; this one has 196).
    for shader in ShaderKind::ALL {
        let refused = shader.name().starts_with("depthwise")
            || [ShaderKind::Conv2dVec4, ShaderKind::Conv2dLanes, ShaderKind::GemvCpu].contains(&shader);
        assert_eq!(
            ShaderKind::applicable(&layer.pointwise()).contains(&shader),
            !refused,
            "{}",
            shader.name()
        );
    }
    let fc = ConvLayer {
        height: 1,
        width: 1,
        padding: [0, 0],
        ..layer.pointwise()
    };
    assert!(ShaderKind::applicable(&fc).contains(&ShaderKind::GemvCpu));
}

/// `convflops run` with .npy files equals the CPU reference, for every kernel that applies.
#[test]
fn run_with_npy_files_matches_the_reference() {
    if common::vulkan().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let cases: [(ConvLayer, &[&str]); 3] = [
        (
            ConvLayer {
                batch: 2,
                in_channels: 6,
                out_channels: 4,
                height: 9,
                width: 7,
                kernel: [3, 2],
                stride: [2, 1],
                padding: [1, 0],
                dilation: [1, 2],
                groups: 2,
                bias: true,
            },
            &["conv2d", "conv2d-tiled"],
        ),
        (
            ConvLayer {
                batch: 1,
                in_channels: 5,
                out_channels: 5,
                height: 8,
                width: 8,
                kernel: [3, 3],
                stride: [1, 1],
                padding: [1, 1],
                dilation: [1, 1],
                groups: 5,
                bias: false,
            },
            &["depthwise", "depthwise-tiled", "conv2d", "conv2d-tiled"],
        ),
        (
            ConvLayer {
                batch: 1,
                in_channels: 7,
                out_channels: 3,
                height: 5,
                width: 6,
                kernel: [1, 1],
                stride: [1, 1],
                padding: [0, 0],
                dilation: [1, 1],
                groups: 1,
                bias: true,
            },
            &["pointwise", "conv2d", "conv2d-tiled"],
        ),
    ];
    let mut rng = SplitMix64::new(11);
    for (layer, shaders) in cases {
        let (input, weight, bias) = verify::random_tensors(&layer, &mut rng);
        npy::write(
            dir.path().join("x.npy").as_path(),
            &[layer.batch, layer.in_channels, layer.height, layer.width],
            &input,
        )
        .unwrap();
        let wshape = [
            layer.out_channels,
            layer.in_channels_per_group(),
            layer.kernel[0],
            layer.kernel[1],
        ];
        npy::write(dir.path().join("w.npy").as_path(), &wshape, &weight).unwrap();
        if let Some(b) = &bias {
            npy::write(dir.path().join("b.npy").as_path(), &[layer.out_channels], b).unwrap();
        }
        let expected = reference::conv2d(&layer, &input, &weight, bias.as_deref()).unwrap();
        for shader in shaders {
            let pair = |p: [u32; 2]| format!("{}x{}", p[0], p[1]);
            let (stride, padding, dilation, groups) = (
                pair(layer.stride),
                pair(layer.padding),
                pair(layer.dilation),
                layer.groups.to_string(),
            );
            let (x, w, b, y) = (path("x.npy"), path("w.npy"), path("b.npy"), path("y.npy"));
            let mut args = vec![
                "run",
                "--input",
                &x,
                "--weight",
                &w,
                "--output",
                &y,
                "--stride",
                &stride,
                "--padding",
                &padding,
                "--dilation",
                &dilation,
                "--groups",
                &groups,
                "--shader",
                shader,
                "--backend",
                "vulkan",
            ];
            if bias.is_some() {
                args.extend(["--bias", b.as_str()]);
            }
            common::stdout_of(&args);
            let out = npy::read(dir.path().join("y.npy").as_path(), 4, "[N, C_out, H_out, W_out]").unwrap();
            assert_eq!(
                out.shape,
                vec![layer.batch, layer.out_channels, layer.out_height(), layer.out_width()]
            );
            let agreement = reference::compare(&layer, &out.data, &expected);
            assert!(agreement.passed(), "{shader} on {layer:?}: {agreement:?}");
            std::fs::remove_file(dir.path().join("y.npy")).unwrap();
        }
    }
}

#[test]
fn bad_npy_input_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let s = |name: &str| p(name).to_string_lossy().into_owned();
    npy::write(&p("x.npy"), &[1, 4, 5, 5], &vec![1.0; 100]).unwrap();
    npy::write(&p("w.npy"), &[2, 4, 3, 3], &vec![1.0; 72]).unwrap();
    npy::write(&p("w_bad_channels.npy"), &[2, 3, 3, 3], &vec![1.0; 54]).unwrap();
    npy::write(&p("w_rank3.npy"), &[2, 4, 9], &vec![1.0; 72]).unwrap();
    npy::write(&p("w_big.npy"), &[2, 4, 9, 9], &vec![1.0; 648]).unwrap();
    npy::write(&p("b_wrong.npy"), &[3], &[1.0; 3]).unwrap();
    std::fs::write(p("garbage.npy"), b"\x93NUMPY garbage").unwrap();
    // An f64 file: header then 100 doubles.
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 4, 5, 5), }";
    std::fs::write(p("x_f64.npy"), npy_with_header(header, 800)).unwrap();
    let fortran = npy_with_header(
        &header.replace("'<f8', 'fortran_order': False", "'<f4', 'fortran_order': True"),
        400,
    );
    std::fs::write(p("x_fortran.npy"), &fortran).unwrap();

    let y = s("y.npy");
    let cases: [(&[&str], &str); 7] = [
        (&["--input", &s("x_f64.npy"), "--weight", &s("w.npy")], "float32"),
        (&["--input", &s("x_fortran.npy"), "--weight", &s("w.npy")], "Fortran"),
        (
            &["--input", &s("x.npy"), "--weight", &s("w_bad_channels.npy")],
            "channels",
        ),
        (&["--input", &s("x.npy"), "--weight", &s("w_rank3.npy")], "dimensions"),
        (&["--input", &s("x.npy"), "--weight", &s("w_big.npy")], "--input's H"),
        (
            &[
                "--input",
                &s("x.npy"),
                "--weight",
                &s("w.npy"),
                "--bias",
                &s("b_wrong.npy"),
            ],
            "--bias",
        ),
        (&["--input", &s("garbage.npy"), "--weight", &s("w.npy")], "--input"),
    ];
    for (args, needle) in cases {
        let mut all = vec!["run", "--output", y.as_str()];
        all.extend_from_slice(args);
        common::fails_naming(&all, 1, needle);
        assert!(!p("y.npy").exists(), "{args:?} left an output file");
    }
    common::fails_naming(
        &[
            "run",
            "--input",
            &s("missing.npy"),
            "--weight",
            &s("w.npy"),
            "--output",
            &y,
        ],
        1,
        "missing.npy",
    );
    common::fails_naming(
        &[
            "run",
            "--input",
            &s("x.npy"),
            "--weight",
            &s("w.npy"),
            "--output",
            &y,
            "--shader",
            "depthwise",
        ],
        1,
        "groups = C_in = C_out",
    );
    assert!(!p("y.npy").exists());
}

/// A version-1 .npy file with the given header dictionary and `data_bytes` zero bytes of data.
fn npy_with_header(header: &str, data_bytes: usize) -> Vec<u8> {
    let mut file = b"\x93NUMPY\x01\x00".to_vec();
    let padded = format!("{header:<117}\n");
    file.extend((padded.len() as u16).to_le_bytes());
    file.extend(padded.as_bytes());
    file.extend(std::iter::repeat_n(0u8, data_bytes));
    file
}

#[test]
fn devices_lists_cpu_adapters_as_software() {
    if common::vulkan().is_none() {
        return;
    }
    let text = common::stdout_of(&["devices"]);
    assert!(text.contains("Vulkan"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&common::stdout_of(&["devices", "--json"])).unwrap();
    for adapter in json.as_array().unwrap() {
        let cpu = adapter["device_type"] == "CPU";
        assert_eq!(adapter["software"].as_bool(), Some(cpu), "{adapter}");
        if cpu {
            assert!(text.contains("(software)"));
        }
    }
}

#[test]
fn explain_command_reproduces_the_article() {
    if common::vulkan().is_none() {
        return;
    }
    let text = common::stdout_of(&["explain"]);
    assert!(text.contains("[  12   12   17]"), "{text}");
    assert!(text.contains("153 exact FLOPs"), "{text}");
    assert!(text.contains("162 FLOPs"), "{text}");
    assert!(text.contains("adapter:"), "{text}");
}

/// The kernels generated for CPU adapters on the shapes of real networks: depthwise 3×3, 5×5 and 7×7 at stride 1
/// and 2 on 7…112 planes, pointwise on 7×7 and 16×16 planes (the GEMM), on 1×1, 2×2 and 4×4 ones (the GEMV) and on
/// 2×2, 6×6 and 14×14 ones (pointwise-lanes) with batch > 1 and K in several slices, the
/// standard conv as an implicit GEMM at stride 1 and 2 with 3×3, 5×5 and 7×7 kernels.
fn cpu_family(ctx: &GpuContext, every: usize) {
    let kernels = ConvKernels::new(ctx).unwrap();
    let mut rng = SplitMix64::new(13);
    let dw = |c: u32, hw: u32, k: u32, s: u32, batch: u32| ConvLayer {
        batch,
        in_channels: c,
        out_channels: c,
        groups: c,
        height: hw,
        width: hw,
        kernel: [k, k],
        stride: [s, s],
        padding: [k / 2, k / 2],
        bias: s == 1,
        ..ConvLayer::default()
    };
    let conv = |ci: u32, co: u32, hw: u32, k: u32, s: u32, batch: u32| ConvLayer {
        batch,
        in_channels: ci,
        out_channels: co,
        height: hw,
        width: hw,
        kernel: [k, k],
        stride: [s, s],
        padding: [k / 2, k / 2],
        bias: k != 5,
        ..ConvLayer::default()
    };
    let mut cases = vec![
        (dw(16, 112, 3, 1, 1), ShaderKind::DepthwiseCpu),
        (dw(16, 112, 3, 2, 1), ShaderKind::DepthwiseCpu),
        (dw(12, 57, 5, 2, 1), ShaderKind::DepthwiseCpu),
        (
            ConvLayer {
                dilation: [2, 1],
                padding: [2, 1],
                ..dw(5, 9, 3, 1, 1)
            },
            ShaderKind::DepthwiseCpu,
        ),
        (conv(24, 20, 7, 1, 1, 2).pointwise(), ShaderKind::PointwiseCpu),
        (conv(40, 12, 1, 1, 1, 3).pointwise(), ShaderKind::GemvCpu),
        // The GEMV: K = 300 in 2 slices of 192 steps (the last 108, its own program) at batch 3; a 2×2 plane at batch
        // 2 (8 columns) without bias, K = 70 in slices of 64 and 6; a 4×4 plane (16 columns, the rule's limit).
        (conv(300, 20, 1, 1, 1, 3).pointwise(), ShaderKind::GemvCpu),
        (
            ConvLayer {
                bias: false,
                ..conv(70, 9, 2, 1, 1, 2).pointwise()
            },
            ShaderKind::GemvCpu,
        ),
        (conv(20, 9, 4, 1, 1, 1).pointwise(), ShaderKind::GemvCpu),
        (conv(300, 9, 5, 1, 1, 1).pointwise(), ShaderKind::PointwiseCpu),
        // 16×16 planes (whole vec4s; planes up to 14×14 go to pointwise-lanes), the second one at batch 2 with 20
        // output channels (a partial block) and K = 300 in 3 slices padded to 384.
        (conv(16, 24, 16, 1, 1, 1).pointwise(), ShaderKind::PointwiseCpu),
        (conv(300, 20, 16, 1, 1, 2).pointwise(), ShaderKind::PointwiseCpu),
        (conv(16, 24, 14, 3, 1, 2), ShaderKind::Conv2dCpu),
        (conv(20, 8, 15, 3, 2, 1), ShaderKind::Conv2dCpu),
        (conv(6, 10, 17, 5, 2, 1), ShaderKind::Conv2dCpu),
        (conv(3, 8, 32, 7, 2, 2), ShaderKind::Conv2dCpu),
        (conv(33, 7, 6, 3, 1, 1), ShaderKind::Conv2dCpu),
    ];
    for (hw, k, s) in [(7, 3, 1), (7, 5, 2), (14, 7, 1), (14, 3, 2), (28, 5, 1), (56, 3, 2)] {
        cases.push((dw(8, hw, k, s, 2), ShaderKind::DepthwiseCpu));
    }
    // The depthwise tile rules (cpu::DepthwiseTile): vec4 bands of whole rows (batch 2), bands with a shorter last
    // band (52 rows in bands of 5, the last vec4s guarded), scalar rows with vec4 output (30 wide), a vec4 plane
    // with scalar output (14×14 → 7×7 on 6 channels, which cannot make groups of 4), 4-channel groups of 7×7
    // planes with a 5×5 kernel, and a whole 14×14 plane of a 5×5 kernel.
    for (c, hw, k, s, batch) in [
        (16, 56, 3, 1, 2),
        (8, 52, 3, 1, 1),
        (4, 30, 3, 1, 1),
        (6, 14, 3, 2, 1),
        (8, 7, 5, 1, 2),
        (4, 14, 5, 1, 1),
        (4, 28, 5, 2, 1),
    ] {
        cases.push((dw(c, hw, k, s, batch), ShaderKind::DepthwiseCpu));
    }
    // The pack by input channel (W_out a multiple of 4, as for (20, 8, 15, 3, 2) and (3, 8, 32, 7, 2) above):
    // K = 360 padded to 384, so the pack's last channel row writes 6 of its 9 taps (zeros) and guards 3; a dilated
    // 3×3 (padding 2) at batch 2. Appended last so that GL's every-4th selection of the cases above stays the same.
    cases.push((conv(40, 12, 8, 3, 1, 1), ShaderKind::Conv2dCpu));
    cases.push((
        ConvLayer {
            dilation: [2, 2],
            padding: [2, 2],
            ..conv(8, 8, 12, 3, 1, 2)
        },
        ShaderKind::Conv2dCpu,
    ));
    // A 3×5 kernel at stride 2×1 on 12×8 (pack by channel: 8 columns, 3 rows at stride 2).
    cases.push((
        ConvLayer {
            height: 12,
            width: 8,
            kernel: [3, 5],
            stride: [2, 1],
            padding: [1, 2],
            ..conv(5, 8, 8, 3, 1, 1)
        },
        ShaderKind::Conv2dCpu,
    ));
    // pointwise-lanes (planes of a multiple of 4 pixels), appended so that GL's every-4th selection of
    // the cases above stays the same: a 2×2 plane at batch 5 (20 columns, past the GEMV's
    // 16), K = 64 in one stage; a 14×14 plane without bias, K = 300 in 2 slices of 2 stages of 80 steps (zero past
    // K), 300 output channels (2 channel blocks of 152, the second partial); a 6×6 plane at batch 2 (9 pixel groups
    // in blocks of 5, the second partial), K = 100 in one stage of 104, 20 output channels (a partial lane block).
    cases.push((conv(64, 8, 2, 1, 1, 5).pointwise(), ShaderKind::PointwiseLanes));
    cases.push((
        ConvLayer {
            bias: false,
            ..conv(300, 300, 14, 1, 1, 1).pointwise()
        },
        ShaderKind::PointwiseLanes,
    ));
    cases.push((conv(100, 20, 6, 1, 1, 2).pointwise(), ShaderKind::PointwiseLanes));
    // conv2d-lanes (3×3, stride 1, C_in ≥ 16), appended likewise: 2-row blocks of a 14×14 plane at batch 2 without
    // bias, C_in = 20 in 2 slices of 16 (the second reading zeros past C_in), 300 output channels (2 blocks of
    // 152, the second partial); row segments of 28 on a 56×56 plane, 8 output channels; a "valid" 3×3 (padding 0,
    // 30×30 → 28×28) with C_in = 33 in 3 slices; padding 2 at batch 3 (12×12 in, 14×14 out in 2-row blocks),
    // C_in = 24.
    cases.push((
        ConvLayer {
            bias: false,
            ..conv(20, 300, 14, 3, 1, 2)
        },
        ShaderKind::Conv2dLanes,
    ));
    cases.push((conv(16, 8, 56, 3, 1, 1), ShaderKind::Conv2dLanes));
    cases.push((
        ConvLayer {
            height: 30,
            width: 30,
            padding: [0, 0],
            ..conv(33, 12, 30, 3, 1, 1)
        },
        ShaderKind::Conv2dLanes,
    ));
    cases.push((
        ConvLayer {
            padding: [2, 2],
            ..conv(24, 20, 12, 3, 1, 3)
        },
        ShaderKind::Conv2dLanes,
    ));
    // pointwise-lanes on planes not of whole vec4s (scalar input and output, the last pixel group partial),
    // appended likewise: 7×7 at batch 2 with bias, K = 136 in 2 stages of 72 (the second reading zeros past K),
    // 20 output channels; 5×5 (25 pixels: 7 groups, one block) with K = 8, 260 output channels (2 blocks).
    cases.push((conv(136, 20, 7, 1, 1, 2).pointwise(), ShaderKind::PointwiseLanes));
    cases.push((conv(8, 260, 5, 1, 1, 1).pointwise(), ShaderKind::PointwiseLanes));
    // conv2d-lanes past 3×3 stride 1, appended likewise: a 3×3 stride 2 on 3 input channels (one slice of 27 steps
    // padded to 32) at batch 2; ResNet's stem shape (7×7, stride 2, padding 3) on a 20×20 input; a 5×5 with C_in =
    // 20 (2 slices, the second staging zeros past C_in) without bias; a 3×3 stride 2 on 15×15 (8×8 out) with C_in
    // = 33 in 3 slices.
    cases.push((
        ConvLayer {
            stride: [2, 2],
            ..conv(3, 16, 16, 3, 1, 2)
        },
        ShaderKind::Conv2dLanes,
    ));
    cases.push((
        ConvLayer {
            kernel: [7, 7],
            stride: [2, 2],
            padding: [3, 3],
            ..conv(3, 24, 20, 3, 1, 1)
        },
        ShaderKind::Conv2dLanes,
    ));
    cases.push((
        ConvLayer {
            bias: false,
            ..conv(20, 12, 12, 5, 1, 1)
        },
        ShaderKind::Conv2dLanes,
    ));
    cases.push((
        ConvLayer {
            stride: [2, 2],
            ..conv(33, 16, 15, 3, 1, 1)
        },
        ShaderKind::Conv2dLanes,
    ));
    // conv2d-lanes on planes its blocks do not tile in whole vec4s (scalar stores, the last block partial),
    // appended likewise: 7×7 at batch 2 (blocks of 4 rows and 3), C_in = 40 in one slice (scalar stores take up to
    // 64 channels a slice); 15×15 (blocks of one row of 15), C_in = 8; 30×30 (segments of 28 and 2).
    cases.push((conv(40, 24, 7, 3, 1, 2), ShaderKind::Conv2dLanes));
    cases.push((conv(8, 16, 15, 3, 1, 1), ShaderKind::Conv2dLanes));
    cases.push((conv(16, 8, 30, 3, 1, 1), ShaderKind::Conv2dLanes));
    // pointwise-lanes on strided 1×1 convs (ResNet's downsamples: scalar input reads at the strided pixels),
    // appended likewise: 14×14 → 7×7 at batch 2 without bias (scalar output, the last group partial), C_in = 40;
    // 16×16 → 8×8 (vec4 output) with K = 136 in 2 stages; stride 2×1 on 9×8 → 5×8 (40 pixels). A strided 1×1 with
    // padding stays on conv2d-cpu.
    cases.push((
        ConvLayer {
            bias: false,
            ..conv(40, 24, 14, 1, 2, 2)
        },
        ShaderKind::PointwiseLanes,
    ));
    cases.push((conv(136, 20, 16, 1, 2, 1), ShaderKind::PointwiseLanes));
    cases.push((
        ConvLayer {
            height: 9,
            width: 8,
            stride: [2, 1],
            ..conv(12, 16, 8, 1, 1, 1)
        },
        ShaderKind::PointwiseLanes,
    ));
    cases.push((
        ConvLayer {
            padding: [1, 1],
            ..conv(12, 16, 8, 1, 2, 1)
        },
        ShaderKind::Conv2dCpu,
    ));
    // conv2d-lanes with 64 input channels a slice (scalar stores), appended last: 7×7 at batch 2 without bias,
    // C_in = 80 in 2 slices (the second staging zeros past C_in).
    cases.push((
        ConvLayer {
            bias: false,
            ..conv(80, 24, 7, 3, 1, 2)
        },
        ShaderKind::Conv2dLanes,
    ));
    for (layer, shader) in cases.into_iter().step_by(every) {
        // conv2d-cpu's stride-1 3×3 cases with C_in ≥ 16 on planes conv2d-lanes blocks: the family picks
        // conv2d-lanes for them, and they still run conv2d-cpu (its pack paths). Likewise pointwise-cpu's cases
        // that pointwise-lanes takes (the family picks lanes; they still run the GEMM), and its narrow cases
        // (C_out < 64 on a plane pointwise-vec4 takes), which the GEMM leaves to vec4 where lanes does not run them.
        let picked = if shader == ShaderKind::Conv2dCpu && ShaderKind::Conv2dLanes.check(&layer).is_ok() {
            ShaderKind::Conv2dLanes
        } else if shader == ShaderKind::PointwiseCpu && ShaderKind::PointwiseLanes.check(&layer).is_ok() {
            ShaderKind::PointwiseLanes
        } else if shader == ShaderKind::PointwiseCpu && !shader.spec().chosen_for(&layer) {
            ShaderKind::PointwiseVec4
        } else {
            shader
        };
        assert_eq!(Variant::Cpu.shader_for(&layer), picked, "{}", layer.describe());
        let (input, weight, bias) = verify::random_tensors(&layer, &mut rng);
        let expected = reference::conv2d(&layer, &input, &weight, bias.as_deref()).unwrap();
        let agreement = verify::check_layer(
            ctx,
            &kernels,
            &layer,
            shader,
            (&input, &weight, bias.as_deref()),
            &expected,
        )
        .unwrap();
        assert!(
            agreement.passed(),
            "{} on {}: {agreement:?}",
            shader.name(),
            layer.describe()
        );
    }
    // Each generated kernel compiled once, at a warm-up dispatch, and its time was recorded.
    assert!(!kernels.compile_times().is_empty());
}

/// K in slices at batch 3: an Inf in every pixel of image 1's last input channel and a NaN in every pixel of image
/// 2's first reach every output of their own image and none of another's (a slice reading past K would multiply the
/// next image's values into the sum).
fn slices_keep_the_images_apart(ctx: &GpuContext, layer: ConvLayer, shader: ShaderKind) {
    let kernels = ConvKernels::new(ctx).unwrap();
    assert_eq!(Variant::Cpu.shader_for(&layer), shader);
    let mut rng = SplitMix64::new(21);
    let (mut input, weight, bias) = verify::random_tensors(&layer, &mut rng);
    let (c, hw) = (layer.in_channels as usize, (layer.height * layer.width) as usize);
    for p in 0..hw {
        input[(c + c - 1) * hw + p] = f32::INFINITY;
        input[2 * c * hw + p] = f32::NAN;
    }
    let expected = reference::conv2d(&layer, &input, &weight, bias.as_deref()).unwrap();
    let job = ConvJob::new(ctx, &kernels, &layer, shader, None).unwrap();
    job.upload(ctx, Some(&input), &weight, bias.as_deref()).unwrap();
    job.run(ctx, &kernels).unwrap();
    let output = job.read_output(ctx).unwrap();
    let image = layer.out_channels as usize * hw;
    assert!(
        output[..image].iter().all(|v| v.is_finite()),
        "{}, image 0: {:?}",
        shader.name(),
        &output[..image]
    );
    assert!(output[image..].iter().all(|v| !v.is_finite()), "{}", shader.name());
    let agreement = reference::compare(&layer, &output, &expected);
    assert!(agreement.passed(), "{}: {agreement:?}", shader.name());
    assert_eq!(agreement.non_finite, 2 * image as u64, "{}", shader.name());
}

/// The GEMV (K = 300 in slices of 64, the last one shorter and its own program) and pointwise-lanes (K = 300 in 2
/// slices of 2 stages of 80 steps, the last stage reading zeros past K) on 1×1 and 4×4 planes at batch 3, and conv2d-lanes (a 3×3, C_in
/// = 20 in 2 slices) on a 6×6 plane at batch 3.
#[test]
fn k_slices_keep_the_images_apart() {
    let Some(ctx) = common::vulkan() else { return };
    let pw = |c_in: u32, size: u32| {
        ConvLayer {
            batch: 3,
            in_channels: c_in,
            out_channels: 20,
            height: size,
            width: size,
            bias: true,
            ..ConvLayer::default()
        }
        .pointwise()
    };
    slices_keep_the_images_apart(&ctx, pw(300, 1), ShaderKind::GemvCpu);
    slices_keep_the_images_apart(&ctx, pw(300, 4), ShaderKind::PointwiseLanes);
    // conv2d-lanes: a 3×3 on a 6×6 plane, C_in = 20 in 2 slices of 16 (the second staging zeros past C_in).
    let conv = ConvLayer {
        batch: 3,
        in_channels: 20,
        out_channels: 20,
        height: 6,
        width: 6,
        bias: true,
        ..ConvLayer::default()
    };
    slices_keep_the_images_apart(&ctx, conv, ShaderKind::Conv2dLanes);
}

/// The GEMV on more output channels than a texture row holds (8 200: two blocks of 8 192 texture columns, each
/// slice's weight in two layers) with K = 130 in 3 slices (64, 64, 2) at batch 16: every output against the CPU
/// reference.
fn gemv_wide(ctx: &GpuContext) {
    let kernels = ConvKernels::new(ctx).unwrap();
    let layer = ConvLayer {
        batch: 16,
        in_channels: 130,
        out_channels: 8200,
        height: 1,
        width: 1,
        bias: true,
        ..ConvLayer::default()
    }
    .pointwise();
    assert_eq!(Variant::Cpu.shader_for(&layer), ShaderKind::GemvCpu);
    let mut rng = SplitMix64::new(34);
    let (input, weight, bias) = verify::random_tensors(&layer, &mut rng);
    let expected = reference::conv2d(&layer, &input, &weight, bias.as_deref()).unwrap();
    let agreement = verify::check_layer(
        ctx,
        &kernels,
        &layer,
        ShaderKind::GemvCpu,
        (&input, &weight, bias.as_deref()),
        &expected,
    )
    .unwrap();
    assert!(agreement.passed(), "{agreement:?}");
}

#[test]
fn gemv_takes_more_channels_than_a_texture_row_on_vulkan() {
    if let Some(ctx) = common::vulkan() {
        gemv_wide(&ctx);
    }
}

#[test]
fn gemv_takes_more_channels_than_a_texture_row_on_gl() {
    if let Some(ctx) = common::gl() {
        gemv_wide(&ctx);
    }
}

#[test]
fn cpu_family_matches_the_reference_on_vulkan() {
    if let Some(ctx) = common::vulkan() {
        cpu_family(&ctx, 1);
    }
}

#[test]
fn cpu_family_matches_the_reference_on_gl() {
    // GL runs the same generated WGSL through another front end; every 4th case (each of the three kernels and
    // both depthwise tile rules) keeps its cold-cache compile time (Mesa compiles each shape for seconds) bounded.
    if let Some(ctx) = common::gl() {
        cpu_family(&ctx, 4);
    }
}

/// Pipelines are built lazily: making the kernel set compiles nothing, a job builds its own kernel's pipeline
/// (per tile for a tunable one), and a second job of the same kernel and tile reuses it.
#[test]
fn pipelines_are_built_only_for_the_kernels_a_run_uses() {
    let Some(ctx) = common::vulkan() else { return };
    let kernels = ConvKernels::new(&ctx).unwrap();
    assert!(
        kernels.built().is_empty(),
        "nothing compiled up front: {:?}",
        kernels.built()
    );
    let layer = ConvLayer::default();
    let _tiled = ConvJob::new(&ctx, &kernels, &layer, ShaderKind::Conv2dTiled, None).unwrap();
    assert_eq!(kernels.built(), ["conv2d-tiled"]);
    let _again = ConvJob::new(&ctx, &kernels, &layer, ShaderKind::Conv2dTiled, None).unwrap();
    let _vec4 = ConvJob::new(&ctx, &kernels, &layer.pointwise(), ShaderKind::PointwiseVec4, None).unwrap();
    let tile = kernels.tiles().get(ShaderKind::PointwiseVec4).unwrap();
    assert_eq!(
        kernels.built(),
        [
            "conv2d-tiled".to_string(),
            format!("pointwise-vec4 ({})", ShaderKind::PointwiseVec4.describe_tile(tile))
        ]
    );
}
