//! `depthwise-vec4` (`shaders/depthwise_vec4.wgsl`): the depthwise 3×3 conv (stride 1, padding 1, H·W a multiple
//! of 4) as a vec4 sliding window over one plane, a tunable number of pixel groups per invocation.

use crate::gpu::conv::proven_safe_checks;
use crate::gpu::kernels::conv2d_vec4::VEC4_WORKGROUPS;
use crate::gpu::kernels::{rules, ConvKernel, Role, Source, Tile, TileSpace, Variant};
use crate::gpu::GpuError;
use crate::layer::ConvLayer;

pub struct DepthwiseVec4;

impl ConvKernel for DepthwiseVec4 {
    fn name(&self) -> &'static str {
        "depthwise-vec4"
    }
    fn summary(&self) -> &'static str {
        "The depthwise 3×3 conv (stride 1, padding 1) on vec4 pixel groups."
    }
    fn family(&self) -> Variant {
        Variant::Vec4
    }
    fn role(&self) -> Role {
        Role::Depthwise
    }
    fn source(&self) -> Source {
        Source::Wgsl {
            text: vec4_source!("depthwise_vec4"),
            checks: proven_safe_checks(),
        }
    }
    fn applies(&self, layer: &ConvLayer) -> Result<(), String> {
        rules::depthwise_only(layer)?;
        let fits = layer.kernel == [3, 3]
            && layer.stride == [1, 1]
            && layer.padding == [1, 1]
            && layer.dilation == [1, 1]
            && rules::plane_of_vec4(layer.height, layer.width);
        if fits {
            Ok(())
        } else {
            Err(format!(
                "it needs a 3×3 kernel, stride 1, padding 1, dilation 1 and H·W a multiple of 4; got {}",
                rules::geometry(layer)
            ))
        }
    }
    fn grid(&self, layer: &ConvLayer, tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        // x: pixel tiles of one plane; y: planes n·C + c.
        let tile = rules::needs_tile(self.name(), tile)?;
        let x = rules::plane4(layer)
            .div_ceil(u64::from(tile.pixels))
            .div_ceil(u64::from(tile.workgroup));
        let y = u64::from(layer.batch) * u64::from(layer.in_channels);
        rules::within_limit(
            self.name(),
            [x, y, 1],
            ["pixel tiles", "batch × channels", "-"],
            max_per_dimension,
        )
    }
    fn loop_steps(&self, _layer: &ConvLayer) -> u64 {
        4
    }
    fn tuning(&self) -> Option<TileSpace> {
        Some(TileSpace {
            default: Tile::new(2, 1, 32),
            shapes: &[(1, 1), (2, 1), (4, 1)],
            workgroups: VEC4_WORKGROUPS,
        })
    }
    fn tile_rule(&self, tile: Tile) -> Result<(), String> {
        if tile.channels == 1 {
            Ok(())
        } else {
            Err(format!("tile {tile}: a depthwise tile has one channel group"))
        }
    }
    fn describe_tile(&self, tile: Tile) -> String {
        // One plane per invocation: no channel groups.
        format!("{}px/wg{}", 4 * tile.pixels, tile.workgroup)
    }
    fn overrides(&self, tile: Option<Tile>) -> Vec<(&'static str, u32)> {
        match tile {
            Some(t) => vec![("WORKGROUP_SIZE", t.workgroup), ("TILE_PIXELS", t.pixels)],
            None => Vec::new(),
        }
    }
}
