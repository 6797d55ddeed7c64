//! The analytic cost model: exact integer counts of parameters, multiply-accumulates (MACs), floating-point
//! operations (FLOPs, a count, never a rate) and memory traffic for one conv layer and for the depthwise-separable
//! pair built from it.
//!
//! Conventions, all stated so that no one confuses them:
//! - 1 MAC = one multiply and one add = 2 FLOPs. `flops` is the article's simplified form `2·MACs`.
//! - `flops_exact` counts the operations actually performed: each output takes `K` multiplications and `K − 1`
//!   additions (`K = C_in/groups · kh · kw`), plus one addition for the bias when there is one. Without bias that is
//!   `2·MACs − outputs`; with bias the bias add cancels the −1 and it is `2·MACs`.
//! - `bytes` is the minimal traffic of f32 tensors: input, weights and biases read once, output written once.

use serde::{Deserialize, Serialize};

use crate::error::ShapeError;
use crate::layer::{mul, ConvLayer};

/// Bytes of one f32 element.
pub const F32_BYTES: u64 = 4;

/// Exact counts for one convolution (or a sum of convolutions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cost {
    /// Weights plus biases.
    pub params: u64,
    /// Multiply-accumulates.
    pub macs: u64,
    /// `2·macs`: the article's (and most papers') FLOPs count.
    pub flops: u64,
    /// Multiplications plus additions actually performed.
    pub flops_exact: u64,
    /// Output elements.
    pub outputs: u64,
    /// Minimal f32 memory traffic in bytes.
    pub bytes: u64,
}

impl ConvLayer {
    /// Checks every field ([`ConvLayer::shape_checked`]) and every count the cost model makes (all four convs and
    /// their bytes), and returns the layer unchanged when it describes a non-empty convolution whose counts fit in
    /// 64 bits: a valid layer can never overflow later.
    pub fn validated(self) -> Result<Self, ShapeError> {
        let layer = self.shape_checked()?;
        LayerCost::of(&layer)?;
        Ok(layer)
    }
}

fn overflow(what: &'static str) -> ShapeError {
    ShapeError::Overflow { what }
}

impl Cost {
    /// The counts of one conv layer, general grouped case. Errors only on u64 overflow.
    pub fn of_layer(layer: &ConvLayer) -> Result<Cost, ShapeError> {
        let weights = layer.weight_len().ok_or(overflow("parameter"))?;
        let biases = layer.bias_len();
        let params = weights.checked_add(biases).ok_or(overflow("parameter"))?;
        let outputs = layer.output_len().ok_or(overflow("output"))?;
        let per_output =
            mul(&[layer.in_channels_per_group(), layer.kernel[0], layer.kernel[1]]).ok_or(overflow("MAC"))?;
        let macs = outputs.checked_mul(per_output).ok_or(overflow("MAC"))?;
        let flops = macs.checked_mul(2).ok_or(overflow("FLOP"))?;
        // A valid layer has at least one term per output, so 2·MACs ≥ outputs; saturating keeps a layer that was
        // never validated (K = 0) from panicking.
        let flops_exact = if layer.bias {
            flops
        } else {
            flops.saturating_sub(outputs)
        };
        let elements = [layer.input_len().ok_or(overflow("input"))?, weights, biases, outputs];
        let bytes = elements
            .iter()
            .try_fold(0u64, |acc, &n| acc.checked_add(n.checked_mul(F32_BYTES)?))
            .ok_or(overflow("byte"))?;
        Ok(Cost {
            params,
            macs,
            flops,
            flops_exact,
            outputs,
            bytes,
        })
    }

    /// Field-by-field sum (the separable pair is depthwise + pointwise).
    pub fn checked_add(&self, other: &Cost) -> Result<Cost, ShapeError> {
        let add = |a: u64, b: u64, what| a.checked_add(b).ok_or(overflow(what));
        Ok(Cost {
            params: add(self.params, other.params, "parameter")?,
            macs: add(self.macs, other.macs, "MAC")?,
            flops: add(self.flops, other.flops, "FLOP")?,
            flops_exact: add(self.flops_exact, other.flops_exact, "FLOP")?,
            outputs: add(self.outputs, other.outputs, "output")?,
            bytes: add(self.bytes, other.bytes, "byte")?,
        })
    }

    /// FLOPs per byte of minimal traffic (a ratio, so a float).
    pub fn arithmetic_intensity(&self) -> f64 {
        ratio(self.flops, self.bytes)
    }
}

/// `a / b` as a float for display; 0 when `b` is 0.
pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The four convolutions convflops compares, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum ConvKind {
    Standard,
    Depthwise,
    Pointwise,
    Separable,
}

impl ConvKind {
    pub const ALL: [ConvKind; 4] = [
        ConvKind::Standard,
        ConvKind::Depthwise,
        ConvKind::Pointwise,
        ConvKind::Separable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ConvKind::Standard => "standard",
            ConvKind::Depthwise => "depthwise",
            ConvKind::Pointwise => "pointwise",
            ConvKind::Separable => "separable",
        }
    }
}

impl std::fmt::Display for ConvKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The cost of the layer as a standard conv and as the depthwise-separable pair built from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerCost {
    pub standard: Cost,
    pub depthwise: Cost,
    pub pointwise: Cost,
    pub separable: Cost,
}

impl LayerCost {
    pub fn of(layer: &ConvLayer) -> Result<LayerCost, ShapeError> {
        let standard = Cost::of_layer(layer)?;
        let depthwise = Cost::of_layer(&layer.depthwise())?;
        let pointwise = Cost::of_layer(&layer.pointwise())?;
        let separable = depthwise.checked_add(&pointwise)?;
        Ok(LayerCost {
            standard,
            depthwise,
            pointwise,
            separable,
        })
    }

    pub fn get(&self, kind: ConvKind) -> &Cost {
        match kind {
            ConvKind::Standard => &self.standard,
            ConvKind::Depthwise => &self.depthwise,
            ConvKind::Pointwise => &self.pointwise,
            ConvKind::Separable => &self.separable,
        }
    }

    /// separable FLOPs / standard FLOPs, exact counts divided once.
    pub fn flops_ratio(&self) -> f64 {
        ratio(self.separable.flops, self.standard.flops)
    }

    pub fn params_ratio(&self) -> f64 {
        ratio(self.separable.params, self.standard.params)
    }
}

/// The article's closed form for separable / standard cost: `1/C_out + 1/(kh·kw)` (groups 1, no bias).
pub fn closed_form_ratio(layer: &ConvLayer) -> f64 {
    1.0 / f64::from(layer.out_channels) + 1.0 / layer.kernel_area() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobilenet_table3() {
        let cost = LayerCost::of(&ConvLayer::default()).unwrap();
        assert_eq!(cost.standard.macs, 462_422_016);
        assert_eq!(cost.standard.params, 2_359_296);
        assert_eq!(cost.separable.macs, 52_283_392);
        assert_eq!(cost.separable.params, 266_752);
        assert_eq!(cost.standard.flops, 2 * 462_422_016);
    }

    #[test]
    fn article_worked_example() {
        // 5×5 input, 3×3 kernel, one channel, no padding: 9 outputs of 9 multiplications and 8 additions.
        let layer = ConvLayer {
            in_channels: 1,
            out_channels: 1,
            height: 5,
            width: 5,
            padding: [0, 0],
            ..ConvLayer::default()
        };
        let cost = Cost::of_layer(&layer).unwrap();
        assert_eq!(
            (cost.outputs, cost.macs, cost.flops, cost.flops_exact),
            (9, 81, 162, 153)
        );
        let with_bias = Cost::of_layer(&ConvLayer { bias: true, ..layer }).unwrap();
        assert_eq!((with_bias.flops_exact, with_bias.params), (162, 10));
    }

    #[test]
    fn bytes_count_every_tensor_once() {
        let layer = ConvLayer {
            bias: true,
            ..ConvLayer::default()
        };
        let cost = Cost::of_layer(&layer).unwrap();
        let elements = 512 * 14 * 14 + 512 * 512 * 9 + 512 + 512 * 14 * 14;
        assert_eq!(cost.bytes, 4 * elements);
    }

    #[test]
    fn grouped_macs() {
        let layer = ConvLayer {
            groups: 4,
            ..ConvLayer::default()
        };
        let cost = Cost::of_layer(&layer).unwrap();
        assert_eq!(cost.macs, 14 * 14 * 512 * 128 * 9);
        assert_eq!(cost.params, 512 * 128 * 9);
    }
}
