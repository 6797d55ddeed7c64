//! The teaching views: the article's formulas with the user's numbers substituted, and the article's worked example.

use crate::cost::{closed_form_ratio, LayerCost};
use crate::layer::ConvLayer;
use crate::units::group_digits as g;

/// The article's worked example: a 5×5 single-channel input …
pub const EXAMPLE_INPUT: [[f32; 5]; 5] = [
    [3.0, 3.0, 2.0, 1.0, 0.0],
    [0.0, 0.0, 1.0, 3.0, 1.0],
    [3.0, 1.0, 2.0, 2.0, 3.0],
    [2.0, 0.0, 0.0, 2.0, 2.0],
    [2.0, 0.0, 0.0, 0.0, 1.0],
];
/// … a 3×3 kernel (cross-correlation, no padding, stride 1) …
pub const EXAMPLE_KERNEL: [[f32; 3]; 3] = [[0.0, 1.0, 2.0], [2.0, 2.0, 0.0], [0.0, 1.0, 2.0]];
/// … and the 3×3 output it gives.
pub const EXAMPLE_OUTPUT: [[f32; 3]; 3] = [[12.0, 12.0, 17.0], [10.0, 17.0, 19.0], [9.0, 6.0, 14.0]];

/// The layer of the worked example: 1×1×5×5 → 1×1×3×3, 3×3 kernel, no padding, no bias.
pub fn example_layer() -> ConvLayer {
    ConvLayer {
        batch: 1,
        in_channels: 1,
        out_channels: 1,
        height: 5,
        width: 5,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
        groups: 1,
        bias: false,
    }
}

/// `count --explain`: each formula, then the same formula with this layer's numbers, then the value.
pub fn formulas(layer: &ConvLayer, cost: &LayerCost) -> String {
    let (cin, cout) = (layer.in_channels, layer.out_channels);
    let (kh, kw) = (layer.kernel[0], layer.kernel[1]);
    let (ho, wo) = (layer.out_height(), layer.out_width());
    let n = layer.batch;
    let cin_g = layer.in_channels_per_group();
    let k_terms = u64::from(cin_g) * u64::from(kh) * u64::from(kw);
    let batch = if n == 1 { "" } else { "N·" };
    let batch_n = if n == 1 { String::new() } else { format!("{n}·") };
    let cin_name = if layer.groups == 1 {
        "C_in".to_string()
    } else {
        "(C_in/groups)".to_string()
    };
    let cin_val = if layer.groups == 1 {
        cin.to_string()
    } else {
        format!("({cin}/{})", layer.groups)
    };

    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "Layer: N = {n}, C_in = {cin}, C_out = {cout}, kernel kh×kw = {kh}×{kw}, output H_out×W_out = {ho}×{wo}, groups = {}, {}",
        layer.groups,
        if layer.bias { "with bias" } else { "no bias" }
    ));
    line(format!("  ({})", layer.describe()));
    line(String::new());
    line("1. Standard conv: parameters".into());
    line(format!(
        "   one kernel holds {cin_name}·kh·kw = {cin_val}·{kh}·{kw} = {} weights, and there is one kernel per output channel",
        g(k_terms)
    ));
    line(format!(
        "   params = kh·kw·{cin_name}·C_out = {kh}·{kw}·{cin_val}·{cout} = {}",
        g(cost.standard.params - layer.bias_len())
    ));
    if layer.bias {
        line(format!(
            "   + one bias per output channel: + {cout} = {}",
            g(cost.standard.params)
        ));
    }
    line(String::new());
    line("2. Standard conv: FLOPs (a count of operations, not a rate)".into());
    line(format!(
        "   each output value needs {} multiplications and {} additions to sum them",
        g(k_terms),
        g(k_terms.saturating_sub(1))
    ));
    line(format!(
        "   outputs = {batch}H_out·W_out·C_out = {batch_n}{ho}·{wo}·{cout} = {}",
        g(cost.standard.outputs)
    ));
    if layer.bias {
        line("   with bias, one more addition per output: the bias add cancels the −1, so".into());
        line(format!(
            "   exact FLOPs = 2·{cin_name}·kh·kw·{batch}H_out·W_out·C_out = 2·{}·{} = {}",
            g(k_terms),
            g(cost.standard.outputs),
            g(cost.standard.flops_exact)
        ));
    } else {
        line(format!(
            "   exact FLOPs = (2·{cin_name}·kh·kw − 1)·{batch}H_out·W_out·C_out = (2·{} − 1)·{} = {}",
            g(k_terms),
            g(cost.standard.outputs),
            g(cost.standard.flops_exact)
        ));
        line("   adding a bias (one addition per output) would cancel the −1; the article drops it either way:".into());
    }
    line(format!(
        "   FLOPs = 2·kh·kw·{batch}H_out·W_out·{cin_name}·C_out = 2·{kh}·{kw}·{batch_n}{ho}·{wo}·{cin_val}·{cout} = {}",
        g(cost.standard.flops)
    ));
    line(format!(
        "   MACs (1 MAC = 1 multiply + 1 add = 2 FLOPs) = FLOPs / 2 = {}",
        g(cost.standard.macs)
    ));
    line(String::new());
    line("3. Depthwise conv: one kh×kw filter per input channel (groups = C_in)".into());
    line(format!(
        "   params = kh·kw·C_in = {kh}·{kw}·{cin} = {}{}",
        g(cost.depthwise.params - u64::from(if layer.bias { cin } else { 0 })),
        if layer.bias {
            format!(" (+ {cin} biases = {})", g(cost.depthwise.params))
        } else {
            String::new()
        }
    ));
    line(format!(
        "   FLOPs = 2·kh·kw·{batch}H_out·W_out·C_in = 2·{kh}·{kw}·{batch_n}{ho}·{wo}·{cin} = {}",
        g(cost.depthwise.flops)
    ));
    line(String::new());
    line("4. Pointwise conv: 1×1, C_in → C_out, on the depthwise output".into());
    line(format!(
        "   params = C_in·C_out = {cin}·{cout} = {}{}",
        g(cost.pointwise.params - layer.bias_len()),
        if layer.bias {
            format!(" (+ {cout} biases = {})", g(cost.pointwise.params))
        } else {
            String::new()
        }
    ));
    line(format!(
        "   FLOPs = 2·C_in·{batch}H_out·W_out·C_out = 2·{cin}·{batch_n}{ho}·{wo}·{cout} = {}",
        g(cost.pointwise.flops)
    ));
    line(String::new());
    line("5. Separable = depthwise + pointwise".into());
    line(format!(
        "   params = (kh·kw + C_out)·C_in = ({} + {cout})·{cin} = {}{}",
        u64::from(kh) * u64::from(kw),
        g(cost.separable.params - layer.bias_len() - u64::from(if layer.bias { cin } else { 0 })),
        if layer.bias {
            format!(" (+ biases of both convs = {})", g(cost.separable.params))
        } else {
            String::new()
        }
    ));
    line(format!(
        "   FLOPs = 2·(kh·kw + C_out)·{batch}H_out·W_out·C_in = 2·({} + {cout})·{batch_n}{ho}·{wo}·{cin} = {}",
        u64::from(kh) * u64::from(kw),
        g(cost.separable.flops)
    ));
    line(String::new());
    line("6. Separable / standard".into());
    line(format!(
        "   FLOPs ratio = {} / {} = {:.4}",
        g(cost.separable.flops),
        g(cost.standard.flops),
        cost.flops_ratio()
    ));
    line(format!(
        "   the article's closed form (groups 1): (kh·kw + C_out)·C_in / (kh·kw·C_in·C_out) = 1/C_out + 1/(kh·kw) = 1/{cout} + 1/{} = {:.4}",
        u64::from(kh) * u64::from(kw),
        closed_form_ratio(layer)
    ));
    line(format!(
        "   so the separable pair needs {} FLOPs. Whether it also runs {} is a question of FLOP/s, a rate only a \
         measurement gives: run `convflops compare`.",
        crate::units::times(1.0 / cost.flops_ratio(), "fewer", "more"),
        crate::units::times(1.0 / cost.flops_ratio(), "faster", "slower")
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explain_substitutes_the_numbers() {
        let layer = ConvLayer::default();
        let text = formulas(&layer, &LayerCost::of(&layer).unwrap());
        assert!(text.contains("3·3·512·512 = 2,359,296"), "{text}");
        assert!(text.contains("(2·4,608 − 1)·100,352 = 924,743,680"), "{text}");
        assert!(text.contains("= 924,844,032"), "{text}");
        assert!(text.contains("(9 + 512)·512 = 266,752"), "{text}");
        assert!(text.contains("1/512 + 1/9 = 0.1131"), "{text}");
    }

    #[test]
    fn explain_with_bias_says_the_minus_one_cancels() {
        let layer = ConvLayer {
            bias: true,
            ..ConvLayer::default()
        };
        let text = formulas(&layer, &LayerCost::of(&layer).unwrap());
        assert!(text.contains("cancels the −1"), "{text}");
        assert!(text.contains("+ 512 = 2,359,808"), "{text}");
    }
}
