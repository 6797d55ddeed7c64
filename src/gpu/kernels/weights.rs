//! How a kernel reads the weight: as given (OIHW), or repacked by the host before upload, into the weight buffer or
//! (the GEMV) into a texture the kernel binds.

use std::borrow::Cow;

use crate::gpu::cpu::{self, GemmShape};
use crate::gpu::gemv::{self, GemvShape};
use crate::gpu::lanes;
use crate::layer::ConvLayer;

/// The weight layout a kernel reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightLayout {
    /// OIHW `[C_out, C_in/groups, KH, KW]`, as the user gives it.
    Oihw,
    /// K-major with the output channels padded to vec4 ([`pack_weights`]): the vec4 GEMM kernels.
    PackedKMajor,
    /// OIHW with each row zero-padded to whole K slices ([`cpu::pad_weights`]): the generated GEMM.
    PaddedK,
    /// The texels of the generated GEMV's rgba32float weight texture ([`gemv::gemv_weights`]): per K slice and
    /// block of output channels a layer, texel (co, g) holding 4 consecutive K steps of row co. The job writes them
    /// into the texture its kernel bound; its weight buffer is a 1-element dummy.
    GemvTexture,
    /// OIHW `[C_out, C_in·KH·KW]` with each row zero-padded to whole K slices ([`lanes::lanes_weights`],
    /// [`lanes::texture_row`]: stages of up to 128 K steps for `pointwise-lanes`, 16 input channels × the taps for
    /// `conv2d-lanes`): the
    /// rows of the rgba32float texture those kernels read (texel (k/4, co) = weight[co, k..k+3]); the job writes
    /// them into the texture its kernel bound, its weight buffer a 1-element dummy.
    LanesTexture,
}

impl WeightLayout {
    /// Elements of the weight buffer in this layout, or `None` past u64.
    pub fn len(self, layer: &ConvLayer) -> Option<u64> {
        match self {
            WeightLayout::Oihw => layer.weight_len(),
            WeightLayout::PackedKMajor => packed_weight_len(layer),
            WeightLayout::PaddedK => {
                u64::from(layer.out_channels).checked_mul(u64::from(GemmShape::for_layer(layer).k_padded()))
            }
            WeightLayout::GemvTexture => {
                let shape = GemvShape::for_layer(layer);
                Some(shape.texture(layer).values())
            }
            WeightLayout::LanesTexture => {
                u64::from(layer.out_channels).checked_mul(u64::from(lanes::texture_row(layer)))
            }
        }
    }

    /// Elements of the weight buffer: [`WeightLayout::len`], or 1 (a dummy) when the weight goes to a texture.
    pub fn buffer_len(self, layer: &ConvLayer) -> Option<u64> {
        match self.texture(layer) {
            Some(_) => Some(1),
            None => self.len(layer),
        }
    }

    /// The extent of the rgba32float texture the prepared weight is written into, or `None` when it goes to the
    /// weight buffer.
    pub fn texture(self, layer: &ConvLayer) -> Option<wgpu::Extent3d> {
        match self {
            WeightLayout::GemvTexture => Some(GemvShape::for_layer(layer).texture(layer).extent()),
            WeightLayout::LanesTexture => Some(lanes::weight_extent(layer)),
            _ => None,
        }
    }

    /// The OIHW `weight` in this layout.
    pub fn prepare<'a>(self, layer: &ConvLayer, weight: &'a [f32]) -> Cow<'a, [f32]> {
        match self {
            WeightLayout::Oihw => Cow::Borrowed(weight),
            WeightLayout::PackedKMajor => Cow::Owned(pack_weights(layer, weight)),
            WeightLayout::PaddedK => Cow::Owned(cpu::pad_weights(layer, weight)),
            WeightLayout::GemvTexture => Cow::Owned(gemv::gemv_weights(layer, weight)),
            WeightLayout::LanesTexture => Cow::Owned(lanes::lanes_weights(layer, weight)),
        }
    }
}

/// The weight as the vec4 GEMM kernels read it: OIHW `[C_out, C_in, KH, KW]` (one group) repacked K-major as
/// `[C_in·KH·KW, ceil(C_out/4)·4]`, row `(ci·KH + ky)·KW + kx`, the output channels padded with zeros to a multiple
/// of 4 so each row is whole vec4.
pub fn pack_weights(layer: &ConvLayer, weight: &[f32]) -> Vec<f32> {
    let co = layer.out_channels as usize;
    let k = weight.len() / co.max(1);
    let co_padded = co.div_ceil(4) * 4;
    let mut packed = vec![0.0; k * co_padded];
    for (o, row) in weight.chunks_exact(k.max(1)).enumerate() {
        for (kk, &value) in row.iter().enumerate() {
            packed[kk * co_padded + o] = value;
        }
    }
    packed
}

/// Elements of the packed weight of `layer` (see [`pack_weights`]).
pub(crate) fn packed_weight_len(layer: &ConvLayer) -> Option<u64> {
    let k = u64::from(layer.in_channels_per_group())
        .checked_mul(u64::from(layer.kernel[0]))?
        .checked_mul(u64::from(layer.kernel[1]))?;
    k.checked_mul(u64::from(layer.out_channels).div_ceil(4) * 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_weights_are_k_major_with_zero_padded_channels() {
        // C_out 5 (padded to 8), C_in 2, 1×3 kernel: K = 6 rows of 8.
        let layer = ConvLayer {
            in_channels: 2,
            out_channels: 5,
            kernel: [1, 3],
            padding: [0, 1],
            ..ConvLayer::default()
        };
        let weight: Vec<f32> = (0..30).map(|v| v as f32).collect(); // OIHW: [5][2][1][3]
        let packed = pack_weights(&layer, &weight);
        assert_eq!(packed.len() as u64, packed_weight_len(&layer).unwrap());
        assert_eq!(packed.len(), 6 * 8);
        for o in 0..5 {
            for k in 0..6 {
                assert_eq!(packed[k * 8 + o], weight[o * 6 + k], "o {o} k {k}");
            }
        }
        assert!((0..6).all(|k| packed[k * 8 + 5..k * 8 + 8].iter().all(|&v| v == 0.0)));
    }

    #[test]
    fn every_layout_prepares_as_many_values_as_it_says() {
        let layer = ConvLayer {
            in_channels: 200,
            out_channels: 6,
            ..ConvLayer::default()
        };
        let weight = vec![1.0; layer.weight_len().unwrap() as usize];
        for layout in [
            WeightLayout::Oihw,
            WeightLayout::PackedKMajor,
            WeightLayout::PaddedK,
            WeightLayout::GemvTexture,
            WeightLayout::LanesTexture,
        ] {
            let prepared = layout.prepare(&layer, &weight).len() as u64;
            assert_eq!(prepared, layout.len(&layer).unwrap(), "{layout:?}");
            // A texture layout: 4 values per texel of its extent, a dummy buffer; the others fill their buffer.
            match layout.texture(&layer) {
                Some(e) => {
                    let texels = u64::from(e.width) * u64::from(e.height) * u64::from(e.depth_or_array_layers);
                    assert_eq!(prepared, texels * 4, "{layout:?}");
                    assert_eq!(layout.buffer_len(&layer), Some(1));
                }
                None => assert_eq!(layout.buffer_len(&layer), Some(prepared), "{layout:?}"),
            }
        }
    }
}
