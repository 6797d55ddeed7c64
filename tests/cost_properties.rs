//! Property tests: the cost model agrees exactly with the article's four formulas and never panics.

use convflops::cost::{Cost, LayerCost};
use convflops::layer::ConvLayer;
use proptest::prelude::*;

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
