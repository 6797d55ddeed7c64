//! `conv2d-vec4` (`shaders/conv2d_vec4.wgsl`): the standard conv with kernels 3 wide as an implicit GEMM on vec4
//! pixel groups, a tunable [`Tile`] register tile and K-major packed weights.

use crate::gpu::conv::proven_safe_checks;
use crate::gpu::kernels::{rules, ConvKernel, Role, Source, Tile, TileSpace, Variant, WeightLayout};
use crate::gpu::GpuError;
use crate::layer::ConvLayer;

pub struct Conv2dVec4;

/// One to two pixel groups per invocation (more spill on llvmpipe), 1–8 channel groups, four workgroup sizes (16
/// for layers with few pixels, where wider workgroups idle); the default is `tune`'s best on lavapipe for the
/// default layer, modest enough for GPUs.
pub(super) const GEMM_TILES: &[(u32, u32)] = &[(1, 1), (1, 2), (1, 4), (1, 8), (2, 2), (2, 4)];
/// The workgroup sizes `tune` tries for the vec4 kernels.
pub(super) const VEC4_WORKGROUPS: &[u32] = &[16, 32, 64, 128];

impl ConvKernel for Conv2dVec4 {
    fn name(&self) -> &'static str {
        "conv2d-vec4"
    }
    fn summary(&self) -> &'static str {
        "The standard conv (kernels 3 wide, stride 1) as an implicit GEMM on vec4 pixel groups."
    }
    fn family(&self) -> Variant {
        Variant::Vec4
    }
    fn role(&self) -> Role {
        Role::Standard
    }
    fn source(&self) -> Source {
        Source::Wgsl {
            text: vec4_source!("conv2d_vec4"),
            checks: proven_safe_checks(),
        }
    }
    fn applies(&self, layer: &ConvLayer) -> Result<(), String> {
        let fits = layer.groups == 1
            && layer.kernel[1] == 3
            && layer.stride == [1, 1]
            && layer.padding[1] == 1
            && layer.dilation[1] == 1
            && rules::plane_of_vec4(layer.height, layer.width)
            && rules::plane_of_vec4(layer.out_height(), layer.width);
        if fits {
            Ok(())
        } else {
            Err(format!(
                "it needs one group, stride 1, a kernel 3 wide with padding 1 and dilation 1 along x, and H·W and \
                 H_out·W multiples of 4; got {}",
                rules::geometry(layer)
            ))
        }
    }
    fn grid(&self, layer: &ConvLayer, tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        gemm_grid(self.name(), layer, tile, max_per_dimension)
    }
    fn loop_steps(&self, layer: &ConvLayer) -> u64 {
        // The loops over the tile have constant trip counts and unroll; what is left loops over C_in and KH.
        u64::from(layer.in_channels).saturating_mul(1 + u64::from(layer.kernel[0])) + 1
    }
    fn weights(&self) -> WeightLayout {
        WeightLayout::PackedKMajor
    }
    fn tuning(&self) -> Option<TileSpace> {
        Some(TileSpace {
            default: Tile::new(1, 4, 64),
            shapes: GEMM_TILES,
            workgroups: VEC4_WORKGROUPS,
        })
    }
    fn overrides(&self, tile: Option<Tile>) -> Vec<(&'static str, u32)> {
        gemm_overrides(tile)
    }
}

/// The grid of the vec4 GEMM kernels: x pixel tiles of every image, y channel tiles.
pub(super) fn gemm_grid(
    name: &'static str,
    layer: &ConvLayer,
    tile: Option<Tile>,
    max_per_dimension: u32,
) -> Result<[u32; 3], GpuError> {
    let tile = rules::needs_tile(name, tile)?;
    let tiles = u64::from(layer.batch) * rules::plane4(layer).div_ceil(u64::from(tile.pixels));
    let x = tiles.div_ceil(u64::from(tile.workgroup));
    let y = u64::from(layer.out_channels)
        .div_ceil(4)
        .div_ceil(u64::from(tile.channels));
    rules::within_limit(
        name,
        [x, y, 1],
        ["pixel tiles", "channel tiles", "-"],
        max_per_dimension,
    )
}

/// The override constants of the vec4 GEMM kernels: the tile's workgroup, pixel and channel groups.
pub(super) fn gemm_overrides(tile: Option<Tile>) -> Vec<(&'static str, u32)> {
    match tile {
        Some(t) => vec![
            ("WORKGROUP_SIZE", t.workgroup),
            ("TILE_PIXELS", t.pixels),
            ("TILE_CHANNELS", t.channels),
        ],
        None => Vec::new(),
    }
}
