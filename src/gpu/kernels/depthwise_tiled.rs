//! `depthwise-tiled` (`shaders/depthwise_tiled.wgsl`): the depthwise conv, 4 outputs of one row per invocation on a
//! 3-D grid; groups = C_in = C_out, any kernel, stride, padding and dilation.

use crate::gpu::conv::proven_safe_checks;
use crate::gpu::kernels::{rules, ConvKernel, Role, Source, Tile, Variant, WORKGROUP_SIZE};
use crate::gpu::GpuError;
use crate::layer::ConvLayer;

pub struct DepthwiseTiled;

impl ConvKernel for DepthwiseTiled {
    fn name(&self) -> &'static str {
        "depthwise-tiled"
    }
    fn summary(&self) -> &'static str {
        "The depthwise conv, 4 outputs per invocation."
    }
    fn family(&self) -> Variant {
        Variant::Tiled
    }
    fn role(&self) -> Role {
        Role::Depthwise
    }
    fn source(&self) -> Source {
        Source::Wgsl {
            text: conv_source!("depthwise_tiled"),
            checks: proven_safe_checks(),
        }
    }
    fn applies(&self, layer: &ConvLayer) -> Result<(), String> {
        rules::depthwise_only(layer)
    }
    fn grid(&self, layer: &ConvLayer, _tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        // x: groups of 4 invocations × 4 columns; y: WORKGROUP_SIZE / 4 rows; z: image planes n·C + c.
        let x = u64::from(layer.out_width()).div_ceil(16);
        let y = u64::from(layer.out_height()).div_ceil(u64::from(WORKGROUP_SIZE / 4).max(1));
        let z = u64::from(layer.batch) * u64::from(layer.in_channels);
        rules::within_limit(
            self.name(),
            [x, y, z],
            ["columns", "rows", "batch × channels"],
            max_per_dimension,
        )
    }
    fn loop_steps(&self, layer: &ConvLayer) -> u64 {
        rules::window_steps(layer).saturating_add(4)
    }
}
