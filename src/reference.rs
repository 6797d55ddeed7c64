//! The CPU reference convolution: plain Rust, f64 accumulation, PyTorch Conv2d semantics. The ground truth that
//! every GPU kernel is checked against.

use crate::error::ShapeError;
use crate::layer::ConvLayer;

/// The reference output and, per output element, the sum of the absolute values of the terms that made it
/// (`Σ|x·w| + |bias|`), which scales the f32 rounding error a GPU result may carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub values: Vec<f64>,
    pub magnitudes: Vec<f64>,
}

/// Computes `layer` on the CPU. `input` is `[N, C_in, H, W]`, `weight` `[C_out, C_in/groups, kh, kw]`, `bias`
/// `[C_out]` when the layer has one.
pub fn conv2d(layer: &ConvLayer, input: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Result<Reference, ShapeError> {
    let layer = layer.validated()?;
    let too_big = ShapeError::Overflow {
        what: "reference tensor",
    };
    let len = |n: Option<u64>| n.and_then(|n| usize::try_from(n).ok()).ok_or(too_big.clone());
    let expect = |what, data: usize, wanted: usize| {
        if data == wanted {
            Ok(())
        } else {
            Err(ShapeError::TensorLength {
                what,
                expected: wanted as u64,
                got: data as u64,
            })
        }
    };
    expect("input", input.len(), len(layer.input_len())?)?;
    expect("weight", weight.len(), len(layer.weight_len())?)?;
    expect("bias", bias.map_or(0, <[f32]>::len), layer.bias_len() as usize)?;
    let total = len(layer.output_len())?;
    let (values, magnitudes) = (0..total)
        .map(|index| output_at(&layer, input, weight, bias, index))
        .unzip();
    Ok(Reference { values, magnitudes })
}

/// One output element of `layer` (flat NCHW `index`) and the sum of the absolute values of its terms. The caller
/// guarantees the tensors have the layer's sizes and `index` is below the output length.
pub fn output_at(layer: &ConvLayer, input: &[f32], weight: &[f32], bias: Option<&[f32]>, index: usize) -> (f64, f64) {
    let (cin, h, w) = (layer.in_channels as usize, layer.height as usize, layer.width as usize);
    let (cout, ho, wo) = (
        layer.out_channels as usize,
        layer.out_height() as usize,
        layer.out_width() as usize,
    );
    let (kh, kw) = (layer.kernel[0] as usize, layer.kernel[1] as usize);
    let cin_g = layer.in_channels_per_group() as usize;
    let cout_g = layer.out_channels_per_group() as usize;
    let ox = index % wo;
    let oy = (index / wo) % ho;
    let oc = (index / (wo * ho)) % cout;
    let n = index / (wo * ho * cout);
    let first_in = (oc / cout_g) * cin_g;
    let (mut acc, mut mag) = (0f64, 0f64);
    for ci in 0..cin_g {
        let plane = (n * cin + first_in + ci) * h;
        let taps = (oc * cin_g + ci) * kh;
        for ky in 0..kh {
            let iy =
                (oy * layer.stride[0] as usize + ky * layer.dilation[0] as usize) as i64 - i64::from(layer.padding[0]);
            if iy < 0 || iy >= h as i64 {
                continue;
            }
            for kx in 0..kw {
                let ix = (ox * layer.stride[1] as usize + kx * layer.dilation[1] as usize) as i64
                    - i64::from(layer.padding[1]);
                if ix < 0 || ix >= w as i64 {
                    continue;
                }
                let product = f64::from(input[(plane + iy as usize) * w + ix as usize])
                    * f64::from(weight[(taps + ky) * kw + kx]);
                acc += product;
                mag += product.abs();
            }
        }
    }
    let b = bias.and_then(|b| b.get(oc)).map_or(0.0, |&b| f64::from(b));
    (acc + b, mag + b.abs())
}

/// Compares selected outputs of a GPU result (`gpu[i]` for each `i` in `indices`) with the reference computed at
/// just those outputs: the check for layers too large for a full CPU reference.
pub fn compare_at(
    layer: &ConvLayer,
    gpu: &[f32],
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    indices: &[usize],
) -> Agreement {
    let mut reference = Reference {
        values: Vec::with_capacity(indices.len()),
        magnitudes: Vec::with_capacity(indices.len()),
    };
    let mut picked = Vec::with_capacity(indices.len());
    for &i in indices.iter().filter(|&&i| i < gpu.len()) {
        let (value, magnitude) = output_at(layer, input, weight, bias, i);
        reference.values.push(value);
        reference.magnitudes.push(magnitude);
        picked.push(gpu[i]);
    }
    compare(layer, &picked, &reference)
}

/// The tensors of a depthwise-separable pair: depthwise weight `[C_in, 1, kh, kw]` and bias `[C_in]`, pointwise
/// weight `[C_out, C_in, 1, 1]` and bias `[C_out]` (biases when the layer has them).
#[derive(Debug, Clone, Copy)]
pub struct SeparableWeights<'a> {
    pub dw: &'a [f32],
    pub dw_bias: Option<&'a [f32]>,
    pub pw: &'a [f32],
    pub pw_bias: Option<&'a [f32]>,
}

/// Compares selected outputs of a fused separable pair (`layer` is the standard layer; the pair is its depthwise then
/// its pointwise half) with the reference composition: the depthwise half in full, then the pointwise half at just
/// those outputs. The magnitudes are carried through `|pw|` (`Σ_ci |pw|·Σ|x·dw| + |bias|`), because the GPU's
/// depthwise rounding scales with the depthwise terms, not with their possibly cancelled sums; the tolerance then
/// counts the standard layer's terms.
pub fn compare_separable_at(
    layer: &ConvLayer,
    gpu: &[f32],
    input: &[f32],
    weights: SeparableWeights<'_>,
    indices: &[usize],
) -> Result<Agreement, ShapeError> {
    let (dw_layer, pw_layer) = (layer.depthwise(), layer.pointwise());
    let depthwise = conv2d(&dw_layer, input, weights.dw, weights.dw_bias)?;
    let values: Vec<f32> = depthwise.values.iter().map(|&v| v as f32).collect();
    let magnitudes: Vec<f32> = depthwise.magnitudes.iter().map(|&v| v as f32).collect();
    let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<f32>>();
    let (pw_abs, bias_abs) = (abs(weights.pw), weights.pw_bias.map(abs));
    let mut reference = Reference {
        values: Vec::with_capacity(indices.len()),
        magnitudes: Vec::with_capacity(indices.len()),
    };
    let mut picked = Vec::with_capacity(indices.len());
    for &i in indices.iter().filter(|&&i| i < gpu.len()) {
        reference
            .values
            .push(output_at(&pw_layer, &values, weights.pw, weights.pw_bias, i).0);
        reference
            .magnitudes
            .push(output_at(&pw_layer, &magnitudes, &pw_abs, bias_abs.as_deref(), i).0);
        picked.push(gpu[i]);
    }
    Ok(compare(layer, &picked, &reference))
}

/// f32 unit roundoff, 2^-24.
pub const F32_UNIT_ROUNDOFF: f64 = 1.0 / 16_777_216.0;

/// The error a GPU result may carry: `1e-5 + 4·K·ε·Σ|x·w|`, with K = C_in/groups·kh·kw + 1 terms (the bias being
/// the last), the worst-case bound of f32 summation with a safety factor 4.
pub fn tolerance(layer: &ConvLayer, magnitude: f64) -> f64 {
    let terms = f64::from(layer.in_channels_per_group()) * layer.kernel_area() as f64 + 1.0;
    1e-5 + 4.0 * terms * F32_UNIT_ROUNDOFF * magnitude
}

/// The comparison of a GPU output with the reference.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Agreement {
    pub max_abs_error: f64,
    /// Largest `|gpu − ref| / max(|ref|, 1e-6)`.
    pub max_rel_error: f64,
    /// Outputs outside the tolerance (a NaN where the reference is finite counts here).
    pub mismatches: u64,
    /// Outputs where both are NaN or equal infinities (IEEE 754 propagation, not an error).
    pub non_finite: u64,
}

impl Agreement {
    pub fn passed(&self) -> bool {
        self.mismatches == 0
    }

    /// The worse of two comparisons, field by field.
    pub fn merge(self, other: Agreement) -> Agreement {
        Agreement {
            max_abs_error: self.max_abs_error.max(other.max_abs_error),
            max_rel_error: self.max_rel_error.max(other.max_rel_error),
            mismatches: self.mismatches + other.mismatches,
            non_finite: self.non_finite + other.non_finite,
        }
    }
}

/// Compares `gpu` with `reference` under [`tolerance`].
pub fn compare(layer: &ConvLayer, gpu: &[f32], reference: &Reference) -> Agreement {
    let mut agreement = Agreement::default();
    if gpu.len() != reference.values.len() {
        agreement.mismatches = gpu.len().abs_diff(reference.values.len()) as u64;
    }
    for ((&got, &want), &mag) in gpu.iter().zip(&reference.values).zip(&reference.magnitudes) {
        let got = f64::from(got);
        if !want.is_finite() || !got.is_finite() {
            let same = (want.is_nan() && got.is_nan()) || want == got;
            if same {
                agreement.non_finite += 1;
            } else {
                agreement.mismatches += 1;
            }
            continue;
        }
        let abs = (got - want).abs();
        agreement.max_abs_error = agreement.max_abs_error.max(abs);
        agreement.max_rel_error = agreement.max_rel_error.max(abs / want.abs().max(1e-6));
        if abs > tolerance(layer, mag) {
            agreement.mismatches += 1;
        }
    }
    agreement
}

/// Outputs per kernel checked against the CPU reference after timing.
pub const CHECKED_OUTPUTS: usize = 512;

/// Indices of up to `count` outputs out of `total`: the first, the last, and the rest spread at random.
pub fn sample_indices(total: usize, count: usize, rng: &mut crate::rng::SplitMix64) -> Vec<usize> {
    if total <= count {
        return (0..total).collect();
    }
    let mut indices = vec![0, total - 1];
    indices.extend((2..count).map(|_| (rng.next_u64() % total as u64) as usize));
    indices
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::{example_layer, EXAMPLE_INPUT, EXAMPLE_KERNEL, EXAMPLE_OUTPUT};

    #[test]
    fn worked_example() {
        let input: Vec<f32> = EXAMPLE_INPUT.iter().flatten().copied().collect();
        let kernel: Vec<f32> = EXAMPLE_KERNEL.iter().flatten().copied().collect();
        let out = conv2d(&example_layer(), &input, &kernel, None).unwrap();
        let want: Vec<f64> = EXAMPLE_OUTPUT.iter().flatten().map(|&v| f64::from(v)).collect();
        assert_eq!(out.values, want);
    }

    #[test]
    fn grouped_bias_stride_padding_dilation() {
        // 2 groups, 4 → 2 channels: out[0] sees channels 0-1, out[1] channels 2-3. All-ones input 3×3, kernel 2×2,
        // dilation 2, padding 1, stride 2.
        let layer = ConvLayer {
            batch: 1,
            in_channels: 4,
            out_channels: 2,
            height: 3,
            width: 3,
            kernel: [2, 2],
            stride: [2, 2],
            padding: [1, 1],
            dilation: [2, 2],
            groups: 2,
            bias: true,
        };
        assert_eq!((layer.out_height(), layer.out_width()), (2, 2));
        let input: Vec<f32> = (0..36).map(|i| if i < 18 { 1.0 } else { 2.0 }).collect();
        let weight = vec![1.0f32; 16];
        let out = conv2d(&layer, &input, &weight, Some(&[10.0, 20.0])).unwrap();
        // Output (0,0) reads input rows/cols {-1, 1}: only (1,1) is inside → 1 tap per channel.
        // Output (1,1) reads {1, 3}: only (1,1) inside. Output (0,1) reads rows {-1,1} cols {1,3}: (1,1) only.
        assert_eq!(out.values, vec![12.0, 12.0, 12.0, 12.0, 24.0, 24.0, 24.0, 24.0]);
    }

    #[test]
    fn agreement_flags_wrong_values_and_accepts_nan_propagation() {
        let layer = example_layer();
        let reference = Reference {
            values: vec![1.0, f64::NAN, f64::INFINITY],
            magnitudes: vec![1.0, 1.0, 1.0],
        };
        let ok = compare(&layer, &[1.0, f32::NAN, f32::INFINITY], &reference);
        assert!(ok.passed());
        assert_eq!(ok.non_finite, 2);
        let bad = compare(&layer, &[1.01, 0.0, f32::INFINITY], &reference);
        assert_eq!(bad.mismatches, 2);
    }
}
