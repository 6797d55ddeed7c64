//! The shape of one 2-D convolution layer (PyTorch `Conv2d` semantics) and the sizes derived from it.
//!
//! One type, [`ConvLayer`], holds everything that fixes a conv's cost; the derived sizes (output height and
//! width, element counts) are methods, so they can never disagree with the fields.

use serde::{Deserialize, Serialize};

use crate::error::{Field, ShapeError};

/// A pair of per-axis values: `[height axis, width axis]`.
pub type Pair = [u32; 2];

/// A 2-D convolution over an NCHW input: `batch × in_channels × height × width` →
/// `batch × out_channels × out_height × out_width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvLayer {
    pub batch: u32,
    pub in_channels: u32,
    pub out_channels: u32,
    pub height: u32,
    pub width: u32,
    /// `[kh, kw]`
    pub kernel: Pair,
    /// `[sh, sw]`
    pub stride: Pair,
    /// `[ph, pw]`, zero padding added on both sides
    pub padding: Pair,
    /// `[dh, dw]`
    pub dilation: Pair,
    pub groups: u32,
    pub bias: bool,
}

impl Default for ConvLayer {
    /// The MobileNet v1 paper's Table 3 example: 14×14×512 → 512 with a 3×3 kernel, stride 1, "same" padding.
    fn default() -> Self {
        ConvLayer {
            batch: 1,
            in_channels: 512,
            out_channels: 512,
            height: 14,
            width: 14,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
            groups: 1,
            bias: false,
        }
    }
}

/// `floor((size + 2·pad − dil·(k−1) − 1) / stride) + 1`, PyTorch's rule; `None` when the dilated kernel is larger
/// than the padded input (the output would be empty) or the stride is zero.
pub fn output_size(size: u32, kernel: u32, stride: u32, padding: u32, dilation: u32) -> Option<u32> {
    let padded = u64::from(size) + 2 * u64::from(padding);
    let span = u64::from(dilation) * (u64::from(kernel).checked_sub(1)?) + 1;
    if stride == 0 || padded < span {
        return None;
    }
    u32::try_from((padded - span) / u64::from(stride) + 1).ok()
}

/// The padding that keeps the output size equal to the input size at stride 1 for odd kernels: `d·(k−1)/2`.
pub fn half_padding(kernel: u32, dilation: u32) -> u32 {
    let span = u64::from(dilation) * u64::from(kernel.saturating_sub(1));
    u32::try_from(span / 2).unwrap_or(u32::MAX)
}

impl ConvLayer {
    /// Checks every field and returns the layer unchanged when it describes a non-empty convolution. That its
    /// counts also fit in 64 bits is `ConvLayer::validated`'s check (in the `cost` module, which counts them).
    pub fn shape_checked(self) -> Result<Self, ShapeError> {
        let positive = [
            (Field::Batch, self.batch),
            (Field::InChannels, self.in_channels),
            (Field::OutChannels, self.out_channels),
            (Field::Height, self.height),
            (Field::Width, self.width),
            (Field::Kernel, self.kernel[0]),
            (Field::Kernel, self.kernel[1]),
            (Field::Stride, self.stride[0]),
            (Field::Stride, self.stride[1]),
            (Field::Dilation, self.dilation[0]),
            (Field::Dilation, self.dilation[1]),
            (Field::Groups, self.groups),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(ShapeError::Zero { field });
            }
        }
        if !self.in_channels.is_multiple_of(self.groups) || !self.out_channels.is_multiple_of(self.groups) {
            return Err(ShapeError::GroupsDoNotDivide {
                groups: self.groups,
                in_channels: self.in_channels,
                out_channels: self.out_channels,
            });
        }
        for axis in 0..2 {
            let (size, name) = if axis == 0 {
                (self.height, Field::Height)
            } else {
                (self.width, Field::Width)
            };
            if output_size(
                size,
                self.kernel[axis],
                self.stride[axis],
                self.padding[axis],
                self.dilation[axis],
            )
            .is_none()
            {
                return Err(ShapeError::EmptyOutput {
                    axis: name,
                    size,
                    padding: self.padding[axis],
                    kernel: self.kernel[axis],
                    dilation: self.dilation[axis],
                });
            }
        }
        Ok(self)
    }

    pub fn out_height(&self) -> u32 {
        output_size(
            self.height,
            self.kernel[0],
            self.stride[0],
            self.padding[0],
            self.dilation[0],
        )
        .unwrap_or(0)
    }

    pub fn out_width(&self) -> u32 {
        output_size(
            self.width,
            self.kernel[1],
            self.stride[1],
            self.padding[1],
            self.dilation[1],
        )
        .unwrap_or(0)
    }

    /// Input channels seen by one output channel: `C_in / groups`.
    pub fn in_channels_per_group(&self) -> u32 {
        self.in_channels / self.groups.max(1)
    }

    pub fn out_channels_per_group(&self) -> u32 {
        self.out_channels / self.groups.max(1)
    }

    pub fn kernel_area(&self) -> u64 {
        u64::from(self.kernel[0]) * u64::from(self.kernel[1])
    }

    /// True for the depthwise case the dedicated kernel handles: groups = C_in = C_out.
    pub fn is_depthwise(&self) -> bool {
        self.groups == self.in_channels && self.groups == self.out_channels
    }

    /// True for a plain 1×1 conv: 1×1 kernel, stride 1, no padding, one group.
    pub fn is_pointwise(&self) -> bool {
        self.is_unpadded_one_by_one() && self.stride == [1, 1]
    }

    /// A 1×1 kernel, no padding, one group, any stride: a pointwise conv on a (possibly subsampled) input.
    pub fn is_unpadded_one_by_one(&self) -> bool {
        self.kernel == [1, 1] && self.padding == [0, 0] && self.groups == 1
    }

    /// The depthwise half of the separable pair built from this layer: kh×kw, groups = C_in, C_in → C_in, with this
    /// layer's stride, padding and dilation.
    pub fn depthwise(&self) -> ConvLayer {
        ConvLayer {
            out_channels: self.in_channels,
            groups: self.in_channels,
            ..*self
        }
    }

    /// The pointwise half of the separable pair: 1×1, C_in → C_out, stride 1, on the depthwise output.
    pub fn pointwise(&self) -> ConvLayer {
        ConvLayer {
            height: self.out_height(),
            width: self.out_width(),
            kernel: [1, 1],
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
            ..*self
        }
    }

    /// Elements of the input tensor, `N·C_in·H·W`.
    pub fn input_len(&self) -> Option<u64> {
        mul(&[self.batch, self.in_channels, self.height, self.width])
    }

    /// Elements of the weight tensor `[C_out, C_in/groups, kh, kw]`.
    pub fn weight_len(&self) -> Option<u64> {
        mul(&[
            self.out_channels,
            self.in_channels_per_group(),
            self.kernel[0],
            self.kernel[1],
        ])
    }

    /// Elements of the bias vector (0 without bias).
    pub fn bias_len(&self) -> u64 {
        if self.bias {
            u64::from(self.out_channels)
        } else {
            0
        }
    }

    /// Elements of the output tensor, `N·C_out·H_out·W_out`.
    pub fn output_len(&self) -> Option<u64> {
        mul(&[self.batch, self.out_channels, self.out_height(), self.out_width()])
    }

    /// A short human description, e.g. `1×512×14×14 → 512, 3×3 s1 p1`.
    pub fn describe(&self) -> String {
        let pair = |p: Pair| {
            if p[0] == p[1] {
                p[0].to_string()
            } else {
                format!("{}x{}", p[0], p[1])
            }
        };
        let mut text = format!(
            "{}×{}×{}×{} → {}×{}×{}×{}, kernel {}×{}, stride {}, padding {}",
            self.batch,
            self.in_channels,
            self.height,
            self.width,
            self.batch,
            self.out_channels,
            self.out_height(),
            self.out_width(),
            self.kernel[0],
            self.kernel[1],
            pair(self.stride),
            pair(self.padding)
        );
        if self.dilation != [1, 1] {
            text.push_str(&format!(", dilation {}", pair(self.dilation)));
        }
        if self.groups != 1 {
            text.push_str(&format!(", groups {}", self.groups));
        }
        if self.bias {
            text.push_str(", bias");
        }
        text
    }
}

/// The product of the factors, `None` on u64 overflow.
pub(crate) fn mul(factors: &[u32]) -> Option<u64> {
    factors.iter().try_fold(1u64, |acc, &f| acc.checked_mul(u64::from(f)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_size_follows_pytorch() {
        assert_eq!(output_size(14, 3, 1, 1, 1), Some(14));
        assert_eq!(output_size(224, 3, 2, 1, 1), Some(112));
        assert_eq!(output_size(7, 3, 1, 0, 2), Some(3));
        assert_eq!(output_size(5, 3, 1, 0, 1), Some(3));
        assert_eq!(output_size(2, 3, 1, 0, 1), None);
        assert_eq!(output_size(2, 3, 1, 1, 1), Some(2));
        assert_eq!(output_size(10, 3, 0, 1, 1), None);
    }

    #[test]
    fn a_layer_whose_separable_twin_overflows_is_refused() {
        // Its own counts fit in 64 bits, but the depthwise twin's output (2³⁰ channels × 65 537²) does not.
        let layer = ConvLayer {
            in_channels: 1 << 30,
            out_channels: 1,
            height: 1,
            width: 1,
            kernel: [1, 1],
            padding: [32_768, 32_768],
            ..ConvLayer::default()
        };
        assert!(crate::cost::Cost::of_layer(&layer).is_ok());
        assert!(matches!(layer.validated(), Err(ShapeError::Overflow { .. })));
    }

    #[test]
    fn validation_names_the_field() {
        let zero = ConvLayer {
            in_channels: 0,
            ..ConvLayer::default()
        }
        .validated()
        .unwrap_err();
        assert_eq!(
            zero,
            ShapeError::Zero {
                field: Field::InChannels
            }
        );
        assert_eq!(zero.to_string(), "in_channels must be at least 1 (got 0)");
        let groups = ConvLayer {
            groups: 3,
            ..ConvLayer::default()
        }
        .validated()
        .unwrap_err();
        assert!(
            groups
                .to_string()
                .starts_with("groups 3 must divide both in_channels 512"),
            "{groups}"
        );
        let empty = ConvLayer {
            height: 2,
            padding: [0, 0],
            ..ConvLayer::default()
        }
        .validated()
        .unwrap_err();
        assert!(
            matches!(
                empty,
                ShapeError::EmptyOutput {
                    axis: Field::Height,
                    ..
                }
            ) && !empty.to_string().contains("--"),
            "{empty}"
        );
        let huge = ConvLayer {
            batch: u32::MAX,
            in_channels: u32::MAX,
            out_channels: u32::MAX,
            ..ConvLayer::default()
        };
        assert!(huge.validated().unwrap_err().to_string().contains("overflow"));
    }

    #[test]
    fn separable_halves() {
        let layer = ConvLayer {
            stride: [2, 2],
            ..ConvLayer::default()
        };
        let dw = layer.depthwise();
        assert!(dw.is_depthwise());
        assert_eq!(dw.out_height(), 7);
        let pw = layer.pointwise();
        assert!(pw.is_pointwise());
        assert_eq!((pw.height, pw.out_height(), pw.out_channels), (7, 7, 512));
    }
}
