//! `conv2d-tiled` (`shaders/conv2d_tiled.wgsl`): any conv as an implicit GEMM with an 8 channels × 4 pixels
//! register tile per invocation.

use crate::gpu::conv::proven_safe_checks;
use crate::gpu::kernels::{rules, ConvKernel, Role, Source, Tile, Variant, WORKGROUP_SIZE};
use crate::gpu::GpuError;
use crate::layer::ConvLayer;

pub struct Conv2dTiled;

impl ConvKernel for Conv2dTiled {
    fn name(&self) -> &'static str {
        "conv2d-tiled"
    }
    fn summary(&self) -> &'static str {
        "The general conv as an implicit GEMM with a register tile."
    }
    fn family(&self) -> Variant {
        Variant::Tiled
    }
    fn role(&self) -> Role {
        Role::Standard
    }
    fn source(&self) -> Source {
        Source::Wgsl {
            text: conv_source!("conv2d_tiled"),
            checks: proven_safe_checks(),
        }
    }
    fn applies(&self, _layer: &ConvLayer) -> Result<(), String> {
        Ok(())
    }
    fn grid(&self, layer: &ConvLayer, _tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        // x: pixel tiles of 4 outputs; y: channel tiles of 8 output channels, per group.
        let pixels = u64::from(layer.batch) * u64::from(layer.out_height()) * u64::from(layer.out_width());
        let x = pixels.div_ceil(4).div_ceil(u64::from(WORKGROUP_SIZE));
        let y = u64::from(layer.out_channels_per_group()).div_ceil(8) * u64::from(layer.groups);
        rules::within_limit(
            self.name(),
            [x, y, 1],
            ["pixel tiles", "channel tiles", "-"],
            max_per_dimension,
        )
    }
    fn loop_steps(&self, layer: &ConvLayer) -> u64 {
        // Plus the stores: 8 channels × 4 pixels.
        rules::general_steps(layer).saturating_add(32)
    }
}
