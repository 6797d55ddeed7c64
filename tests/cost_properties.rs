//! Property tests: the cost model agrees exactly with the article's four formulas and never panics.

use convflops::cost::{Cost, LayerCost};
use convflops::gpu::{AdapterSummary, JobPlan, ShaderKind};
use convflops::layer::ConvLayer;
use convflops::units::parse_bytes;
use convflops::ShapeError;
use proptest::prelude::*;

/// Small values and the edges of the 16-, 31- and 32-bit ranges, where products overflow.
fn edge_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..=8,
        Just(65_535),
        Just(65_536),
        Just(i32::MAX as u32),
        Just(1 << 31),
        Just(u32::MAX - 1),
        Just(u32::MAX),
        any::<u32>(),
    ]
}

/// A made-up GPU with WebGPU's default limits.
fn adapter() -> AdapterSummary {
    AdapterSummary::with_default_limits("Test GPU")
}

fn square_layer() -> impl Strategy<Value = ConvLayer> {
    (
        1u32..=4,
        1u32..=2048,
        1u32..=2048,
        1u32..=256,
        1u32..=11,
        1u32..=4,
        0u32..=5,
        1u32..=3,
    )
        .prop_filter_map("non-empty output", |(batch, cin, cout, size, k, s, p, d)| {
            ConvLayer {
                batch,
                in_channels: cin,
                out_channels: cout,
                height: size,
                width: size,
                kernel: [k, k],
                stride: [s, s],
                padding: [p, p],
                dilation: [d, d],
                groups: 1,
                bias: false,
            }
            .validated()
            .ok()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn article_formulas_hold_exactly(layer in square_layer()) {
        let cost = LayerCost::of(&layer).unwrap();
        let (cin, cout, k) = (u128::from(layer.in_channels), u128::from(layer.out_channels), u128::from(layer.kernel[0]));
        let hw = u128::from(layer.batch) * u128::from(layer.out_height()) * u128::from(layer.out_width());
        // standard: params k²·C_in·C_out, FLOPs 2k²·H_out·W_out·C_in·C_out
        prop_assert_eq!(u128::from(cost.standard.params), k * k * cin * cout);
        prop_assert_eq!(u128::from(cost.standard.flops), 2 * k * k * hw * cin * cout);
        // exact, no bias: (2·C_in·k² − 1)·H_out·W_out·C_out
        prop_assert_eq!(u128::from(cost.standard.flops_exact), (2 * cin * k * k - 1) * hw * cout);
        // separable: params (k² + C_out)·C_in, FLOPs 2(k² + C_out)·H_out·W_out·C_in
        prop_assert_eq!(u128::from(cost.separable.params), (k * k + cout) * cin);
        prop_assert_eq!(u128::from(cost.separable.flops), 2 * (k * k + cout) * hw * cin);
        // 1 MAC = 2 FLOPs everywhere
        for c in [cost.standard, cost.depthwise, cost.pointwise, cost.separable] {
            prop_assert_eq!(c.flops, 2 * c.macs);
        }
    }

    #[test]
    fn bias_cancels_the_minus_one(layer in square_layer()) {
        let with_bias = Cost::of_layer(&ConvLayer { bias: true, ..layer }).unwrap();
        let without = Cost::of_layer(&layer).unwrap();
        prop_assert_eq!(with_bias.flops_exact, with_bias.flops);
        prop_assert_eq!(with_bias.flops_exact - without.flops_exact, without.outputs);
        prop_assert_eq!(with_bias.params - without.params, u64::from(layer.out_channels));
    }

    /// Any fields at all, validated or not: the cost model and the GPU planner answer with a value or an error,
    /// and a count whose exact value does not fit in 64 bits is an overflow error, never a wrapped number.
    #[test]
    fn overflow_is_an_error_and_nothing_panics(
        batch in edge_u32(), cin in edge_u32(), cout in edge_u32(), h in edge_u32(), w in edge_u32(),
        k in [edge_u32(), edge_u32()], s in [edge_u32(), edge_u32()], p in [edge_u32(), edge_u32()],
        d in [edge_u32(), edge_u32()], groups in edge_u32(), bias in any::<bool>(),
    ) {
        let layer = ConvLayer { batch, in_channels: cin, out_channels: cout, height: h, width: w, kernel: k, stride: s,
            padding: p, dilation: d, groups, bias };
        let _ = Cost::of_layer(&layer);
        let _ = LayerCost::of(&layer);
        let _ = layer.describe();
        for shader in ShaderKind::ALL {
            let _ = JobPlan::new(&adapter(), &layer, shader);
            let _ = shader.loop_steps(&layer);
        }
        // Seven u32 factors can exceed even u128: saturate, which still compares as "above u64::MAX".
        let exact_macs = |l: &ConvLayer| {
            [l.batch, l.out_channels, l.out_height(), l.out_width(), l.in_channels_per_group(), l.kernel[0], l.kernel[1]]
                .iter()
                .fold(1u128, |acc, &f| acc.saturating_mul(u128::from(f)))
        };
        match layer.validated() {
            Ok(valid) => {
                let cost = LayerCost::of(&valid).unwrap();
                prop_assert_eq!(u128::from(cost.standard.macs), exact_macs(&valid));
                prop_assert_eq!(u128::from(cost.standard.flops), 2 * exact_macs(&valid));
                if let Ok(plan) = JobPlan::new(&adapter(), &valid, ShaderKind::Conv2dTiled) {
                    prop_assert!(plan.input_bytes <= adapter().max_storage_buffer_binding_size);
                    prop_assert!(plan.grid.iter().all(|&g| g <= adapter().max_compute_workgroups_per_dimension));
                    prop_assert_eq!(u64::from(plan.total), valid.output_len().unwrap());
                }
            }
            Err(ShapeError::Overflow { .. }) => {}
            // Every other refusal has a reason this test can see in the fields themselves.
            Err(ShapeError::Zero { .. }) => {
                let fields = [layer.batch, layer.in_channels, layer.out_channels, layer.height, layer.width, layer.groups];
                let pairs = [layer.kernel, layer.stride, layer.dilation];
                prop_assert!(fields.contains(&0) || pairs.iter().any(|p| p.contains(&0)));
            }
            Err(ShapeError::GroupsDoNotDivide { .. }) => {
                prop_assert!(!layer.in_channels.is_multiple_of(layer.groups) || !layer.out_channels.is_multiple_of(layer.groups));
            }
            Err(ShapeError::EmptyOutput { .. }) => {
                // (size + 2·padding − dilation·(kernel − 1) − 1) / stride + 1 is ≤ 0 on some axis, or beyond u32,
                // in exact integers.
                let empty = (0..2).any(|a| {
                    let size = i128::from([layer.height, layer.width][a]) + 2 * i128::from(layer.padding[a]);
                    let room = size - i128::from(layer.dilation[a]) * (i128::from(layer.kernel[a]) - 1) - 1;
                    room < 0 || room / i128::from(layer.stride[a]) + 1 > i128::from(u32::MAX)
                });
                prop_assert!(empty);
            }
            Err(other) => prop_assert!(false, "unexpected refusal: {other}"),
        }
        // Whenever the exact standard-conv FLOPs exceed u64 on a layer that is otherwise valid, validation says so.
        let otherwise_valid = matches!(layer.validated(), Ok(_) | Err(ShapeError::Overflow { .. }));
        if otherwise_valid && exact_macs(&layer).saturating_mul(2) > u128::from(u64::MAX) {
            let is_overflow = matches!(layer.validated(), Err(ShapeError::Overflow { .. }));
            prop_assert!(is_overflow);
        }
    }

    /// The byte-size parser (--max-memory) answers every string with a value or a message. (The binary's own
    /// parsers are checked in src/cli.rs.)
    #[test]
    fn the_byte_parser_never_panics(text in ".{0,24}", number in any::<u64>(), unit in "(|[kKmMgGtT]i?[bB]?|B|EiB| GiB)") {
        let _ = parse_bytes(&text);
        let written = format!("{number}{unit}");
        if let Ok(bytes) = parse_bytes(&written) {
            prop_assert!(bytes >= number || number == 0);
        }
    }

    #[test]
    fn never_panics_on_any_fields(
        batch in any::<u32>(), cin in any::<u32>(), cout in any::<u32>(), h in any::<u32>(), w in any::<u32>(),
        k in any::<[u32; 2]>(), s in any::<[u32; 2]>(), p in any::<[u32; 2]>(), d in any::<[u32; 2]>(),
        groups in any::<u32>(), bias in any::<bool>(),
    ) {
        let layer = ConvLayer { batch, in_channels: cin, out_channels: cout, height: h, width: w, kernel: k, stride: s,
            padding: p, dilation: d, groups, bias };
        if let Ok(valid) = layer.validated() {
            prop_assert!(LayerCost::of(&valid).is_ok());
        }
    }
}

#[test]
fn grouped_standard_conv() {
    let layer = ConvLayer {
        groups: 8,
        bias: true,
        ..ConvLayer::default()
    };
    let cost = Cost::of_layer(&layer).unwrap();
    assert_eq!(cost.params, 512 * 64 * 9 + 512);
    assert_eq!(cost.macs, 14 * 14 * 512 * 64 * 9);
}
