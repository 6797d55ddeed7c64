//! `pointwise-vec4` (`shaders/pointwise_vec4.wgsl`): the 1×1 conv as a GEMM on vec4 pixel groups, a tunable
//! [`Tile`] register tile and K-major packed weights; H·W a multiple of 4.

use crate::gpu::conv::proven_safe_checks;
use crate::gpu::kernels::conv2d_vec4::{gemm_grid, gemm_overrides, GEMM_TILES, VEC4_WORKGROUPS};
use crate::gpu::kernels::{rules, ConvKernel, Role, Source, Tile, TileSpace, Variant, WeightLayout};
use crate::gpu::GpuError;
use crate::layer::ConvLayer;

pub struct PointwiseVec4;

impl ConvKernel for PointwiseVec4 {
    fn name(&self) -> &'static str {
        "pointwise-vec4"
    }
    fn summary(&self) -> &'static str {
        "The 1×1 conv as a GEMM on vec4 pixel groups."
    }
    fn family(&self) -> Variant {
        Variant::Vec4
    }
    fn role(&self) -> Role {
        Role::Pointwise
    }
    fn source(&self) -> Source {
        Source::Wgsl {
            text: vec4_source!("pointwise_vec4"),
            checks: proven_safe_checks(),
        }
    }
    fn applies(&self, layer: &ConvLayer) -> Result<(), String> {
        rules::pointwise_only(layer)?;
        if rules::plane_of_vec4(layer.height, layer.width) {
            Ok(())
        } else {
            Err(format!(
                "it needs H·W a multiple of 4, got {}×{}",
                layer.height, layer.width
            ))
        }
    }
    fn grid(&self, layer: &ConvLayer, tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        gemm_grid(self.name(), layer, tile, max_per_dimension)
    }
    fn loop_steps(&self, layer: &ConvLayer) -> u64 {
        // The loops over the tile unroll; what is left loops over C_in.
        u64::from(layer.in_channels) + 1
    }
    fn weights(&self) -> WeightLayout {
        WeightLayout::PackedKMajor
    }
    fn tuning(&self) -> Option<TileSpace> {
        Some(TileSpace {
            default: Tile::new(2, 4, 32),
            shapes: GEMM_TILES,
            workgroups: VEC4_WORKGROUPS,
        })
    }
    fn overrides(&self, tile: Option<Tile>) -> Vec<(&'static str, u32)> {
        gemm_overrides(tile)
    }
}
