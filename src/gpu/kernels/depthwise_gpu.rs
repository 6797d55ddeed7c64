//! `depthwise-gpu`, the GPU family's depthwise conv: the input tile plus its halo staged in workgroup memory
//! (`shaders/depthwise_gpu.wgsl`, whose header states the computation, the layout and the dispatch).
//!
//! The host bakes the tile ([`DepthwiseGpuTile`]) and the kernel geometry (size, stride, dilation) into the source
//! as WGSL constants, so the tap loops unroll; padding, sizes and channel counts stay in the parameter block, so
//! layers of one geometry and tile share a pipeline. Before a pipeline is built,
//! [`DepthwiseGpuTile::check_device`] compares its workgroup memory and invocations with the adapter's limits.

use crate::gpu::conv::{proven_safe_checks, ConvKernels, JobPlan};
use crate::gpu::kernel::Kernel;
use crate::gpu::kernels::gemm_gpu::{SPEC_INVOCATIONS, SPEC_WORKGROUP_STORAGE};
use crate::gpu::kernels::{rules, Bound, ConvKernel, Dispatch, JobBuffers, Role, Source, Tile, Variant, CONV_BINDINGS};
use crate::gpu::{AdapterSummary, GpuContext, GpuError};
use crate::layer::ConvLayer;

pub const NAME: &str = "depthwise-gpu";

/// The largest kernel side the kernel takes (its taps unroll).
pub const MAX_KERNEL: u32 = 7;

/// The largest output tile side: 16×16 outputs per plane and workgroup.
pub const MAX_TILE_SIDE: u32 = 16;

/// How a workgroup splits the output: a `tile_h × tile_w` tile of `planes` consecutive planes (n·C + c), one
/// output per invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DepthwiseGpuTile {
    pub tile_h: u32,
    pub tile_w: u32,
    pub planes: u32,
}

impl DepthwiseGpuTile {
    /// The documented rule: the output plane rounded up to a power of two per side, at most 16×16; then as many
    /// planes as fill [`SPEC_INVOCATIONS`] invocations (a 7×7 plane: 8×8 × 4 planes; a 1×1 plane: 256 planes),
    /// no more than the layer has. While the staged windows exceed [`SPEC_WORKGROUP_STORAGE`] (large strides or
    /// dilations), the planes are halved, then the longer tile side.
    pub fn for_layer(layer: &ConvLayer) -> DepthwiseGpuTile {
        let side = |size: u32| size.clamp(1, MAX_TILE_SIDE).next_power_of_two();
        let (tile_h, tile_w) = (side(layer.out_height()), side(layer.out_width()));
        let all_planes = (u64::from(layer.batch) * u64::from(layer.in_channels)).clamp(1, 1 << 16);
        let planes = u64::from(SPEC_INVOCATIONS / (tile_h * tile_w))
            .min(all_planes.next_power_of_two())
            .max(1) as u32;
        let mut tile = DepthwiseGpuTile { tile_h, tile_w, planes };
        while tile.workgroup_bytes(layer) > u64::from(SPEC_WORKGROUP_STORAGE) {
            if tile.planes > 1 {
                tile.planes /= 2;
            } else if tile.tile_h >= tile.tile_w && tile.tile_h > 1 {
                tile.tile_h /= 2;
            } else if tile.tile_w > 1 {
                tile.tile_w /= 2;
            } else {
                break;
            }
        }
        tile
    }

    pub fn invocations(self) -> u32 {
        self.tile_h * self.tile_w * self.planes
    }

    /// The staged input window of one plane: `(rows, columns)` (saturating: a layer far beyond every limit still
    /// gets an answer, and is refused for it).
    pub fn window(self, layer: &ConvLayer) -> (u64, u64) {
        let extent = |tile: u32, stride: u32, kernel: u32, dilation: u32| {
            u64::from(tile.max(1) - 1)
                .saturating_mul(u64::from(stride))
                .saturating_add(u64::from(kernel.max(1) - 1).saturating_mul(u64::from(dilation)))
                .saturating_add(1)
        };
        (
            extent(self.tile_h, layer.stride[0], layer.kernel[0], layer.dilation[0]),
            extent(self.tile_w, layer.stride[1], layer.kernel[1], layer.dilation[1]),
        )
    }

    /// Bytes of workgroup memory: every plane's window (saturating).
    pub fn workgroup_bytes(self, layer: &ConvLayer) -> u64 {
        let (rows, columns) = self.window(layer);
        (4 * u64::from(self.planes))
            .saturating_mul(rows)
            .saturating_mul(columns)
    }

    /// Ok when the adapter runs the tile's workgroup on `layer`: its invocations and its workgroup memory.
    pub fn check_device(self, layer: &ConvLayer, summary: &AdapterSummary) -> Result<(), GpuError> {
        if self.invocations() > summary.max_compute_invocations_per_workgroup {
            return Err(GpuError::Limit {
                what: format!("the {NAME} tile {self} (invocations per workgroup)"),
                needed: u64::from(self.invocations()),
                limit: "max_compute_invocations_per_workgroup",
                available: u64::from(summary.max_compute_invocations_per_workgroup),
            });
        }
        let bytes = self.workgroup_bytes(layer);
        if bytes > u64::from(summary.max_compute_workgroup_storage_size) {
            return Err(GpuError::Limit {
                what: format!("the {NAME} tile {self} (bytes of workgroup memory for its input windows)"),
                needed: bytes,
                limit: "max_compute_workgroup_storage_size",
                available: u64::from(summary.max_compute_workgroup_storage_size),
            });
        }
        Ok(())
    }
}

impl std::fmt::Display for DepthwiseGpuTile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}×{}px×{}planes", self.tile_h, self.tile_w, self.planes)
    }
}

/// The shape rule: groups = C_in = C_out, kernels up to 7×7, and a window of one output that fits the WebGPU
/// default workgroup memory (it fails only for dilations far beyond any network's).
pub fn fits(layer: &ConvLayer) -> Result<(), String> {
    rules::depthwise_only(layer)?;
    if layer.kernel[0] > MAX_KERNEL || layer.kernel[1] > MAX_KERNEL {
        return Err(format!(
            "it takes kernels up to {MAX_KERNEL}×{MAX_KERNEL}, got {}×{}",
            layer.kernel[0], layer.kernel[1]
        ));
    }
    let tile = DepthwiseGpuTile::for_layer(layer);
    let bytes = tile.workgroup_bytes(layer);
    if bytes > u64::from(SPEC_WORKGROUP_STORAGE) {
        let (rows, columns) = tile.window(layer);
        return Err(format!(
            "the input window of one output ({rows}×{columns} with dilation {}×{}) needs {bytes} bytes of workgroup \
             memory, above the {SPEC_WORKGROUP_STORAGE} every adapter offers",
            layer.dilation[0], layer.dilation[1]
        ));
    }
    Ok(())
}

/// The WGSL for `layer` with `tile`: `conv_params.wgsl`, `depthwise_gpu.wgsl`, then the baked constants.
pub fn source(layer: &ConvLayer, tile: DepthwiseGpuTile) -> String {
    format!(
        "{}{}\n// Baked by the host (src/gpu/depthwise_gpu.rs): the tile {tile}, the kernel {}×{}, stride {}×{}, \
         dilation {}×{}.\nconst TILE_H: u32 = {}u;\nconst TILE_W: u32 = {}u;\nconst PLANES: u32 = {}u;\n\
         const KERNEL_H: u32 = {}u;\nconst KERNEL_W: u32 = {}u;\nconst STRIDE_H: u32 = {}u;\n\
         const STRIDE_W: u32 = {}u;\nconst DILATION_H: u32 = {}u;\nconst DILATION_W: u32 = {}u;\n",
        include_str!("../../../shaders/conv_params.wgsl"),
        include_str!("../../../shaders/depthwise_gpu.wgsl"),
        layer.kernel[0],
        layer.kernel[1],
        layer.stride[0],
        layer.stride[1],
        layer.dilation[0],
        layer.dilation[1],
        tile.tile_h,
        tile.tile_w,
        tile.planes,
        layer.kernel[0],
        layer.kernel[1],
        layer.stride[0],
        layer.stride[1],
        layer.dilation[0],
        layer.dilation[1],
    )
}

/// The pipeline for `layer` with `tile`, after the shape rule and the adapter's limits are checked. Its bindings
/// are the [`CONV_BINDINGS`]; the weight is OIHW as given. Jobs get theirs through the registry
/// ([`ConvKernel::bind`]).
pub fn build(ctx: &GpuContext, layer: &ConvLayer, tile: DepthwiseGpuTile) -> Result<Kernel, GpuError> {
    fits(layer).map_err(|reason| GpuError::KernelDoesNotApply { shader: NAME, reason })?;
    tile.check_device(layer, &ctx.summary)?;
    let source = source(layer, tile);
    Ok(
        Kernel::with_bindings_unzeroed(ctx, NAME, &source, &CONV_BINDINGS, proven_safe_checks())?
            .with_workgroup_size(tile.invocations()),
    )
}

/// The workgroup grid: x over the output tiles of a plane, y over groups of `tile.planes` planes.
pub fn grid(layer: &ConvLayer, tile: DepthwiseGpuTile, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
    let tiles = u64::from(layer.out_height())
        .div_ceil(u64::from(tile.tile_h.max(1)))
        .saturating_mul(u64::from(layer.out_width()).div_ceil(u64::from(tile.tile_w.max(1))));
    let planes = (u64::from(layer.batch) * u64::from(layer.in_channels)).div_ceil(u64::from(tile.planes.max(1)));
    for (needed, axis) in [(tiles, "output tiles"), (planes, "plane groups")] {
        if needed > u64::from(max_per_dimension) {
            return Err(GpuError::Limit {
                what: format!("the {NAME} dispatch ({axis}, workgroups)"),
                needed,
                limit: "max_compute_workgroups_per_dimension",
                available: u64::from(max_per_dimension),
            });
        }
    }
    Ok([tiles as u32, planes as u32, 1])
}

/// Loop iterations one invocation runs: the window copy, then the tap loops.
pub fn loop_steps(layer: &ConvLayer, tile: DepthwiseGpuTile) -> u64 {
    let (rows, columns) = tile.window(layer);
    let copies = u64::from(tile.planes)
        .saturating_mul(rows)
        .saturating_mul(columns)
        .div_ceil(u64::from(tile.invocations().max(1)));
    copies.saturating_add(u64::from(layer.kernel[0]) * (1 + u64::from(layer.kernel[1])))
}

pub struct DepthwiseGpu;

impl ConvKernel for DepthwiseGpu {
    fn name(&self) -> &'static str {
        NAME
    }
    fn summary(&self) -> &'static str {
        "The depthwise conv for GPUs: an input tile plus halo in workgroup memory (kernels up to 7×7, any stride)."
    }
    fn family(&self) -> Variant {
        Variant::Gpu
    }
    fn role(&self) -> Role {
        Role::Depthwise
    }
    fn source(&self) -> Source {
        Source::Generated
    }
    fn applies(&self, layer: &ConvLayer) -> Result<(), String> {
        fits(layer)
    }
    fn grid(&self, layer: &ConvLayer, _tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        grid(layer, DepthwiseGpuTile::for_layer(layer), max_per_dimension)
    }
    fn loop_steps(&self, layer: &ConvLayer) -> u64 {
        loop_steps(layer, DepthwiseGpuTile::for_layer(layer))
    }
    fn workgroup_size(&self, layer: &ConvLayer, _tile: Option<Tile>) -> u32 {
        DepthwiseGpuTile::for_layer(layer).invocations()
    }
    fn workgroup_storage_bytes(&self, layer: &ConvLayer) -> u64 {
        DepthwiseGpuTile::for_layer(layer).workgroup_bytes(layer)
    }
    /// One dispatch with the layer's tile (the pipeline shared by every layer of that tile and kernel geometry).
    fn bind(
        &self,
        ctx: &GpuContext,
        kernels: &ConvKernels,
        plan: &JobPlan,
        buffers: &JobBuffers<'_>,
    ) -> Result<Bound, GpuError> {
        let tile = DepthwiseGpuTile::for_layer(&plan.layer);
        tile.check_device(&plan.layer, &ctx.summary)?;
        let kernel =
            kernels.generated_unzeroed(ctx, NAME, source(&plan.layer, tile), &CONV_BINDINGS, tile.invocations())?;
        let bind_group = kernel.kernel.bind(
            ctx,
            buffers.params,
            &[buffers.input, buffers.weight, buffers.bias, buffers.output],
        )?;
        Ok(Bound {
            dispatches: vec![Dispatch {
                kernel,
                bind_group,
                grid: plan.grid,
            }],
            texture: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depthwise(size: u32, kernel: u32, stride: u32, dilation: u32) -> ConvLayer {
        ConvLayer {
            in_channels: 32,
            out_channels: 32,
            groups: 32,
            height: size,
            width: size,
            kernel: [kernel, kernel],
            stride: [stride, stride],
            padding: [dilation * (kernel - 1) / 2; 2],
            dilation: [dilation, dilation],
            ..ConvLayer::default()
        }
    }

    #[test]
    fn small_planes_get_small_tiles_and_more_planes() {
        let tile = DepthwiseGpuTile::for_layer(&depthwise(7, 3, 1, 1));
        assert_eq!((tile.tile_h, tile.tile_w, tile.planes), (8, 8, 4));
        let tile = DepthwiseGpuTile::for_layer(&depthwise(1, 3, 1, 1));
        assert_eq!((tile.tile_h, tile.tile_w, tile.planes), (1, 1, 32)); // 32 planes in all
        let tile = DepthwiseGpuTile::for_layer(&depthwise(112, 3, 1, 1));
        assert_eq!((tile.tile_h, tile.tile_w, tile.planes), (16, 16, 1));
        assert_eq!(tile.window(&depthwise(112, 3, 1, 1)), (18, 18));
        // 5×5 stride 2 on 28×28 → 14×14: a 16×16 tile reads a 35×35 window.
        let layer = depthwise(28, 5, 2, 1);
        let tile = DepthwiseGpuTile::for_layer(&layer);
        assert_eq!(tile.window(&layer), (35, 35));
        assert!(tile.workgroup_bytes(&layer) <= u64::from(SPEC_WORKGROUP_STORAGE));
    }

    #[test]
    fn large_dilations_shrink_the_tile_or_are_refused() {
        let layer = depthwise(200, 7, 3, 6); // window of one output: 37×37
        let tile = DepthwiseGpuTile::for_layer(&layer);
        assert!(
            tile.workgroup_bytes(&layer) <= u64::from(SPEC_WORKGROUP_STORAGE),
            "{tile}"
        );
        assert!(fits(&layer).is_ok());
        let huge = depthwise(2_000, 7, 1, 20); // 121×121 floats for one output
        let reason = fits(&huge).unwrap_err();
        assert!(reason.contains("workgroup memory"), "{reason}");
        assert!(fits(&depthwise(20, 9, 1, 1)).unwrap_err().contains("up to 7×7"));
        assert!(fits(&ConvLayer::default()).is_err());
    }

    #[test]
    fn the_device_check_names_the_limit() {
        let layer = depthwise(56, 3, 1, 1);
        let tile = DepthwiseGpuTile::for_layer(&layer);
        let mut summary = AdapterSummary::with_default_limits("WebGPU defaults");
        assert!(tile.check_device(&layer, &summary).is_ok());
        summary.max_compute_invocations_per_workgroup = 128;
        let error = tile.check_device(&layer, &summary).unwrap_err().to_string();
        assert!(error.contains("max_compute_invocations_per_workgroup"), "{error}");
        summary.max_compute_invocations_per_workgroup = 256;
        summary.max_compute_workgroup_storage_size = 1_024;
        let error = tile.check_device(&layer, &summary).unwrap_err().to_string();
        assert!(error.contains("max_compute_workgroup_storage_size"), "{error}");
    }

    #[test]
    fn the_grid_covers_every_tile_and_plane() {
        let layer = ConvLayer {
            batch: 2,
            ..depthwise(7, 5, 2, 1)
        }; // 7×7 → 4×4; 64 planes
        let tile = DepthwiseGpuTile::for_layer(&layer);
        assert_eq!((tile.tile_h, tile.tile_w, tile.planes), (4, 4, 16));
        assert_eq!(grid(&layer, tile, 65_535).unwrap(), [1, 4, 1]);
        assert!(grid(&layer, tile, 3).is_err());
        assert!(source(&layer, tile).contains("const STRIDE_H: u32 = 2u;"));
    }
}
