//! `conv2d-gpu` and `pointwise-gpu`, the GPU family's standard and pointwise conv: a workgroup-memory tiled implicit
//! GEMM (`shaders/gemm_gpu.wgsl`, whose header states the computation, the layout and the dispatch). M = C_out, N = batch·H_out·W_out,
//! K = C_in·KH·KW; the weight is packed K-major ([`crate::gpu::conv::pack_weights`]) so the A tile is copied with
//! vec4 loads; B is im2col(input), addressed on the fly.
//!
//! The host bakes the tile ([`GemmTile`]) into the source as WGSL constants, so each tile is its own pipeline;
//! [`GemmTile::for_layer`] picks one per layer. Before a pipeline is built, [`GemmTile::check_device`] compares
//! the tile's workgroup memory and invocations with the adapter's limits.

use crate::gpu::conv::{proven_safe_checks, ConvKernels, JobPlan};
use crate::gpu::kernel::Kernel;
use crate::gpu::kernels::{
    Bound, ConvKernel, Dispatch, JobBuffers, Role, Source, Tile, Variant, WeightLayout, CONV_BINDINGS,
};
use crate::gpu::{AdapterSummary, GpuContext, GpuError};
use crate::layer::ConvLayer;

/// The kernel's name on standard layers (groups 1, anything but the pointwise shape).
pub const CONV2D_NAME: &str = "conv2d-gpu";
/// The kernel's name on pointwise layers (1×1, stride 1, no padding, groups 1): the same GEMM without im2col.
pub const POINTWISE_NAME: &str = "pointwise-gpu";

/// The WebGPU default limits every adapter offers: a tile within them runs everywhere, which is what the shape
/// rule ([`fits`]) assumes; [`GemmTile::check_device`] checks the real adapter before building.
pub const SPEC_WORKGROUP_STORAGE: u32 = 16_384;
pub const SPEC_INVOCATIONS: u32 = 256;

/// Workgroups a layer should give before a larger tile is preferred: enough to spread over the streaming
/// multiprocessors of a large GPU (132 on an H100/H200) with some left for latency hiding.
pub const ENOUGH_WORKGROUPS: u64 = 256;

/// One tile of the GEMM: `groups_x × groups_y` invocations, each `4·reg_m` channels × `4·reg_n` pixels, K in
/// slices of `tile_k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct GemmTile {
    pub groups_x: u32,
    pub groups_y: u32,
    pub reg_m: u32,
    pub reg_n: u32,
    pub tile_k: u32,
}

impl GemmTile {
    /// 128 channels × 128 pixels, 256 invocations of 8×8 outputs (16 KiB of workgroup memory).
    pub const LARGE: GemmTile = GemmTile::new(16, 16, 2, 2, 16);
    /// 128 channels × 64 pixels, 256 invocations of 8×4 outputs (12 KiB).
    pub const TALL: GemmTile = GemmTile::new(16, 16, 2, 1, 16);
    /// 64 × 64, 256 invocations of 4×4 outputs (8 KiB).
    pub const MEDIUM: GemmTile = GemmTile::new(16, 16, 1, 1, 16);
    /// 32 × 32, 64 invocations of 4×4 outputs (4 KiB): small layers and small planes (7×7, 1×1).
    pub const SMALL: GemmTile = GemmTile::new(8, 8, 1, 1, 16);
    /// The tiles [`GemmTile::for_layer`] chooses from, largest first.
    pub const CANDIDATES: [GemmTile; 4] = [Self::LARGE, Self::TALL, Self::MEDIUM, Self::SMALL];

    pub const fn new(groups_x: u32, groups_y: u32, reg_m: u32, reg_n: u32, tile_k: u32) -> GemmTile {
        GemmTile {
            groups_x,
            groups_y,
            reg_m,
            reg_n,
            tile_k,
        }
    }

    /// Output channels per workgroup.
    pub fn tile_m(self) -> u32 {
        4 * self.groups_y * self.reg_m
    }

    /// Output pixels per workgroup.
    pub fn tile_n(self) -> u32 {
        4 * self.groups_x * self.reg_n
    }

    pub fn invocations(self) -> u32 {
        self.groups_x * self.groups_y
    }

    /// Bytes of workgroup memory: the A and B tiles, `tile_k` rows each.
    pub fn workgroup_bytes(self) -> u32 {
        4 * self.tile_k * (self.tile_m() + self.tile_n())
    }

    /// Ok when the shader's copy loops divide evenly: every invocation copies whole vec4 slots of both tiles, from
    /// a fixed column.
    pub fn valid(self) -> Result<GemmTile, String> {
        let threads = self.invocations();
        let (a_vec, b_vec) = (self.tile_m() / 4, self.tile_n() / 4);
        let even = |vec: u32| vec > 0 && threads.is_multiple_of(vec) && (self.tile_k * vec).is_multiple_of(threads);
        if (1..=4).contains(&self.reg_m)
            && (1..=4).contains(&self.reg_n)
            && (1..=64).contains(&self.tile_k)
            && even(a_vec)
            && even(b_vec)
        {
            Ok(self)
        } else {
            Err(format!(
                "tile {self} does not divide into whole copy slots: the invocations must be a multiple of the tile's \
                 vec4 columns (M/4, N/4), tile_k × those columns a multiple of the invocations, registers 1–4 \
                 blocks a side"
            ))
        }
    }

    /// Workgroups this tile gives on `layer`.
    pub fn workgroups(self, layer: &ConvLayer) -> u64 {
        pixels(layer)
            .div_ceil(u64::from(self.tile_n()))
            .saturating_mul(u64::from(layer.out_channels).div_ceil(u64::from(self.tile_m())))
    }

    /// The documented rule: the largest candidate that gives at least [`ENOUGH_WORKGROUPS`] workgroups on the
    /// layer, else [`GemmTile::SMALL`] (the most workgroups).
    pub fn for_layer(layer: &ConvLayer) -> GemmTile {
        Self::CANDIDATES
            .into_iter()
            .find(|tile| tile.workgroups(layer) >= ENOUGH_WORKGROUPS)
            .unwrap_or(Self::SMALL)
    }

    /// Ok when the adapter runs the tile's workgroup: its invocations and its workgroup memory.
    pub fn check_device(self, summary: &AdapterSummary) -> Result<(), GpuError> {
        self.valid().map_err(|reason| GpuError::KernelDoesNotApply {
            shader: CONV2D_NAME,
            reason,
        })?;
        if self.invocations() > summary.max_compute_invocations_per_workgroup {
            return Err(GpuError::Limit {
                what: format!("the GEMM tile {self} (invocations per workgroup)"),
                needed: u64::from(self.invocations()),
                limit: "max_compute_invocations_per_workgroup",
                available: u64::from(summary.max_compute_invocations_per_workgroup),
            });
        }
        if self.workgroup_bytes() > summary.max_compute_workgroup_storage_size {
            return Err(GpuError::Limit {
                what: format!("the GEMM tile {self} (bytes of workgroup memory)"),
                needed: u64::from(self.workgroup_bytes()),
                limit: "max_compute_workgroup_storage_size",
                available: u64::from(summary.max_compute_workgroup_storage_size),
            });
        }
        Ok(())
    }
}

impl std::fmt::Display for GemmTile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}ch×{}px×k{}/wg{}",
            u64::from(self.tile_m()),
            u64::from(self.tile_n()),
            self.tile_k,
            u64::from(self.groups_x) * u64::from(self.groups_y)
        )
    }
}

/// Output pixels of `layer`: the GEMM's N (saturating: a layer far beyond every limit still gets an answer).
fn pixels(layer: &ConvLayer) -> u64 {
    u64::from(layer.batch)
        .saturating_mul(u64::from(layer.out_height()))
        .saturating_mul(u64::from(layer.out_width()))
}

/// The most K runs a split-K job uses.
pub const MAX_SPLITS: u64 = 16;
/// The fewest K slices (of `tile_k` each) one run of a split-K job takes: shorter runs would spend more on the
/// partial sums' traffic than they gain.
pub const MIN_SLICES_PER_SPLIT: u64 = 8;
/// The WebGPU default `max_storage_buffer_binding_size`: the partial sums' scratch buffer stays within it.
pub const SPEC_STORAGE_BINDING: u64 = 128 << 20;

/// K slices of `tile` on `layer` (saturating).
fn slices(layer: &ConvLayer, tile: GemmTile) -> u64 {
    u64::from(layer.in_channels)
        .saturating_mul(u64::from(layer.kernel[0]))
        .saturating_mul(u64::from(layer.kernel[1]))
        .div_ceil(u64::from(tile.tile_k.max(1)))
}

/// The documented split-K rule: a layer whose tile gives fewer than [`ENOUGH_WORKGROUPS`] workgroups splits K into
/// as many runs as bring it there, at most [`MAX_SPLITS`], each run at least [`MIN_SLICES_PER_SPLIT`] slices, and
/// the partial sums (runs × the output) within [`SPEC_STORAGE_BINDING`] and the kernels' index range. 1: no split.
pub fn splits(layer: &ConvLayer, tile: GemmTile) -> u32 {
    let workgroups = tile.workgroups(layer).max(1);
    if workgroups >= ENOUGH_WORKGROUPS {
        return 1;
    }
    let total = layer.output_len().unwrap_or(u64::MAX).max(1);
    ENOUGH_WORKGROUPS
        .div_ceil(workgroups)
        .min(MAX_SPLITS)
        .min(slices(layer, tile) / MIN_SLICES_PER_SPLIT)
        .min(SPEC_STORAGE_BINDING / 4 / total)
        .min(crate::gpu::conv::MAX_SHADER_ELEMENTS / total)
        .max(1) as u32
}

/// The shape rule: one group (the GEMM has one A per layer). Any kernel, stride, padding, dilation, size, batch and
/// channel count; the tiles of [`GemmTile::CANDIDATES`] all fit the WebGPU default limits.
pub fn fits(layer: &ConvLayer) -> Result<(), String> {
    if layer.groups != 1 {
        return Err(format!("it needs groups 1, got {}", layer.groups));
    }
    Ok(())
}

/// The kernel's name on `layer`.
pub fn name(layer: &ConvLayer) -> &'static str {
    if layer.is_pointwise() {
        POINTWISE_NAME
    } else {
        CONV2D_NAME
    }
}

/// The WGSL of the GEMM with `tile` and `splits` K runs for `layer` (the pointwise form when the layer is
/// pointwise): `conv_params.wgsl`, `gemm_gpu.wgsl`, then the baked constants. Only the tile, the splits and the
/// form vary the source, so layers share pipelines.
pub fn source(layer: &ConvLayer, tile: GemmTile, splits: u32) -> String {
    format!(
        "{}{}\n// Baked by the host (src/gpu/kernels/gemm_gpu.rs): the tile {tile}, {splits} K run(s){}.\n\
         const GROUPS_X: u32 = {}u;\nconst GROUPS_Y: u32 = {}u;\nconst REG_M: u32 = {}u;\nconst REG_N: u32 = {}u;\n\
         const TILE_K: u32 = {}u;\nconst TILE_M: u32 = {}u;\nconst TILE_N: u32 = {}u;\nconst SPLITS: u32 = {splits}u;\n\
         const POINTWISE: bool = {};\n",
        include_str!("../../../shaders/conv_params.wgsl"),
        include_str!("../../../shaders/gemm_gpu.wgsl"),
        if layer.is_pointwise() {
            ", pointwise (no im2col)"
        } else {
            ""
        },
        tile.groups_x,
        tile.groups_y,
        tile.reg_m,
        tile.reg_n,
        tile.tile_k,
        tile.tile_m(),
        tile.tile_n(),
        layer.is_pointwise()
    )
}

/// The pipeline for `layer` with `tile` (any candidate, not only the one the rule picks) and no split, after the
/// shape rule and the adapter's limits are checked. Its bindings are the [`CONV_BINDINGS`]; the weight it reads is packed
/// ([`crate::gpu::conv::pack_weights`]). Jobs get theirs through the registry ([`ConvKernel::bind`]).
pub fn build(ctx: &GpuContext, layer: &ConvLayer, tile: GemmTile) -> Result<Kernel, GpuError> {
    fits(layer).map_err(|reason| GpuError::KernelDoesNotApply {
        shader: name(layer),
        reason,
    })?;
    tile.check_device(&ctx.summary)?;
    let source = source(layer, tile, 1);
    Ok(
        Kernel::with_bindings_unzeroed(ctx, name(layer), &source, &CONV_BINDINGS, proven_safe_checks())?
            .with_workgroup_size(tile.invocations()),
    )
}

/// The workgroup grid: x over pixel tiles, y over channel tiles, z over `splits` K runs, each within
/// `max_per_dimension`.
pub fn grid(layer: &ConvLayer, tile: GemmTile, splits: u32, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
    let x = pixels(layer).div_ceil(u64::from(tile.tile_n()));
    let y = u64::from(layer.out_channels).div_ceil(u64::from(tile.tile_m()));
    let z = u64::from(splits);
    for (needed, axis) in [(x, "pixel tiles"), (y, "channel tiles"), (z, "K runs")] {
        if needed > u64::from(max_per_dimension) {
            return Err(GpuError::Limit {
                what: format!("the {} dispatch ({axis}, workgroups)", name(layer)),
                needed,
                limit: "max_compute_workgroups_per_dimension",
                available: u64::from(max_per_dimension),
            });
        }
    }
    Ok([x as u32, y as u32, splits])
}

/// Loop iterations one invocation runs (every loop, as written, none assumed unrolled): per K slice the copy
/// loops, the prefetch loops and `tile_k` register-tile steps, over one K run of `splits`; then the stores.
pub fn loop_steps(layer: &ConvLayer, tile: GemmTile, splits: u32) -> u64 {
    let slices = slices(layer, tile).div_ceil(u64::from(splits.max(1)));
    let threads = u64::from(tile.invocations().max(1));
    let a_loads = u64::from(tile.tile_k * tile.tile_m() / 4) / threads;
    let b_loads = u64::from(tile.tile_k * tile.tile_n() / 4) / threads;
    let (reg_m, reg_n) = (u64::from(tile.reg_m), u64::from(tile.reg_n));
    let per_slice = 1 + 2 * (a_loads + b_loads) + u64::from(tile.tile_k) * (1 + reg_n + reg_m * (1 + reg_n));
    let stores = reg_n * (1 + 4 * (1 + reg_m * 5));
    slices
        .saturating_mul(per_slice)
        .saturating_add(a_loads + b_loads + stores)
}

/// One of the two GEMM kernels: they differ in name and in the convs they take.
pub struct GemmGpu {
    name: &'static str,
    summary: &'static str,
    role: Role,
}

/// The standard conv (one group) as the implicit GEMM.
pub const CONV2D: GemmGpu = GemmGpu {
    name: CONV2D_NAME,
    summary: "The standard conv (one group) as a workgroup-memory tiled implicit GEMM for GPUs (im2col on the fly).",
    role: Role::Standard,
};

/// The pointwise conv as the same GEMM without im2col.
pub const POINTWISE: GemmGpu = GemmGpu {
    name: POINTWISE_NAME,
    summary: "The 1×1 conv as the same workgroup-memory tiled GEMM for GPUs.",
    role: Role::Pointwise,
};

impl ConvKernel for GemmGpu {
    fn name(&self) -> &'static str {
        self.name
    }
    fn summary(&self) -> &'static str {
        self.summary
    }
    fn family(&self) -> Variant {
        Variant::Gpu
    }
    fn role(&self) -> Role {
        self.role
    }
    fn source(&self) -> Source {
        Source::Generated
    }
    fn applies(&self, layer: &ConvLayer) -> Result<(), String> {
        if self.role == Role::Pointwise {
            crate::gpu::kernels::rules::pointwise_only(layer)?;
        }
        fits(layer)
    }
    fn grid(&self, layer: &ConvLayer, _tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        let tile = GemmTile::for_layer(layer);
        grid(layer, tile, splits(layer, tile), max_per_dimension)
    }
    fn loop_steps(&self, layer: &ConvLayer) -> u64 {
        let tile = GemmTile::for_layer(layer);
        loop_steps(layer, tile, splits(layer, tile))
    }
    fn weights(&self) -> WeightLayout {
        WeightLayout::PackedKMajor
    }
    fn workgroup_size(&self, layer: &ConvLayer, _tile: Option<Tile>) -> u32 {
        GemmTile::for_layer(layer).invocations()
    }
    fn workgroup_storage_bytes(&self, layer: &ConvLayer) -> u64 {
        u64::from(GemmTile::for_layer(layer).workgroup_bytes())
    }
    /// The partial sums of a split-K job: one copy of the output per K run.
    fn texture_bytes(&self, layer: &ConvLayer) -> u64 {
        match splits(layer, GemmTile::for_layer(layer)) {
            1 => 0,
            splits => scratch_bytes(layer, splits),
        }
    }
    /// One dispatch of the GEMM with the layer's tile (the pipeline shared by every layer of that tile, splits and
    /// form); with split-K, its partial sums go to a scratch buffer and a second dispatch adds them.
    fn bind(
        &self,
        ctx: &GpuContext,
        kernels: &ConvKernels,
        plan: &JobPlan,
        buffers: &JobBuffers<'_>,
    ) -> Result<Bound, GpuError> {
        let layer = &plan.layer;
        let tile = GemmTile::for_layer(layer);
        let splits = splits(layer, tile);
        tile.check_device(&ctx.summary)?;
        let kernel = kernels.generated_unzeroed(
            ctx,
            self.name,
            source(layer, tile, splits),
            &CONV_BINDINGS,
            tile.invocations(),
        )?;
        if splits == 1 {
            let bind_group = kernel.kernel.bind(
                ctx,
                buffers.params,
                &[buffers.input, buffers.weight, buffers.bias, buffers.output],
            )?;
            return Ok(Bound {
                dispatches: vec![Dispatch {
                    kernel,
                    bind_group,
                    grid: plan.grid,
                }],
                texture: None,
            });
        }
        // The scratch buffer is counted in the job's memory budget (`texture_bytes`); the bind groups keep it.
        let bytes = scratch_bytes(layer, splits);
        let scratch = ctx.scoped("allocating the split-K partial sums", || {
            crate::gpu::conv::storage_buffer(ctx, "gemm-gpu partial sums", bytes, wgpu::BufferUsages::empty())
        })?;
        let gemm_bind = kernel.kernel.bind(
            ctx,
            buffers.params,
            &[buffers.input, buffers.weight, buffers.bias, &scratch],
        )?;
        let reduce = kernels.generated_unzeroed(
            ctx,
            "gemm-gpu reduce",
            reduce_source(splits),
            &CONV_BINDINGS,
            REDUCE_WORKGROUP,
        )?;
        let reduce_bind = reduce.kernel.bind(
            ctx,
            buffers.params,
            &[&scratch, buffers.weight, buffers.bias, buffers.output],
        )?;
        let reduce_grid = crate::gpu::kernel::grid(
            layer.output_len().unwrap_or(u64::MAX),
            REDUCE_WORKGROUP,
            ctx.summary.max_compute_workgroups_per_dimension,
            "gemm-gpu reduce",
        )?;
        Ok(Bound {
            dispatches: vec![
                Dispatch {
                    kernel,
                    bind_group: gemm_bind,
                    grid: plan.grid,
                },
                Dispatch {
                    kernel: reduce,
                    bind_group: reduce_bind,
                    grid: reduce_grid,
                },
            ],
            texture: None,
        })
    }
}

/// Invocations per workgroup of the split-K reduce dispatch (`shaders/gemm_gpu_reduce.wgsl`).
pub const REDUCE_WORKGROUP: u32 = 256;

/// Bytes of the partial sums of `splits` K runs on `layer` (saturating).
fn scratch_bytes(layer: &ConvLayer, splits: u32) -> u64 {
    layer
        .output_len()
        .unwrap_or(u64::MAX)
        .saturating_mul(4 * u64::from(splits))
}

/// The WGSL of the split-K reduce dispatch: `conv_params.wgsl`, `gemm_gpu_reduce.wgsl`, then SPLITS.
pub fn reduce_source(splits: u32) -> String {
    format!(
        "{}{}\n// Baked by the host (src/gpu/kernels/gemm_gpu.rs).\nconst SPLITS: u32 = {splits}u;\n",
        include_str!("../../../shaders/conv_params.wgsl"),
        include_str!("../../../shaders/gemm_gpu_reduce.wgsl"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_candidate_is_valid_and_within_the_webgpu_defaults() {
        let limits = wgpu::Limits::default();
        assert_eq!(SPEC_WORKGROUP_STORAGE, limits.max_compute_workgroup_storage_size);
        assert_eq!(SPEC_INVOCATIONS, limits.max_compute_invocations_per_workgroup);
        assert_eq!(SPEC_STORAGE_BINDING, limits.max_storage_buffer_binding_size);
        for tile in GemmTile::CANDIDATES {
            assert!(tile.valid().is_ok(), "{tile}");
            assert!(tile.invocations() <= SPEC_INVOCATIONS, "{tile}");
            assert!(tile.workgroup_bytes() <= SPEC_WORKGROUP_STORAGE, "{tile}");
        }
        assert_eq!(GemmTile::LARGE.workgroup_bytes(), 16_384);
        assert_eq!(GemmTile::LARGE.to_string(), "128ch×128px×k16/wg256");
        // 8 invocations across a 32-pixel-wide tile (8 columns) but K slices of 4: 4·8 = 32 slots for 64 threads.
        assert!(GemmTile::new(8, 8, 1, 1, 4).valid().is_err());
        assert!(GemmTile::new(16, 16, 5, 1, 16).valid().is_err());
    }

    #[test]
    fn the_tile_rule_prefers_large_tiles_only_where_they_give_enough_workgroups() {
        // 56×56×128 → 128: N = 3136, M = 128: 128×128 gives 25 workgroups, 64×64 98, 32×32 392.
        let layer = ConvLayer {
            in_channels: 128,
            out_channels: 128,
            height: 56,
            width: 56,
            ..ConvLayer::default()
        };
        assert_eq!(GemmTile::for_layer(&layer), GemmTile::SMALL);
        let big = ConvLayer {
            batch: 16,
            in_channels: 256,
            out_channels: 256,
            height: 56,
            width: 56,
            ..ConvLayer::default()
        };
        // N = 50 176: 392 × 2 = 784 workgroups of 128×128.
        assert_eq!(GemmTile::for_layer(&big), GemmTile::LARGE);
    }

    #[test]
    fn split_k_fills_the_gpu_only_where_the_output_tiles_do_not() {
        // 14×14×512 → 512, K = 4 608 (288 slices): 112 workgroups of 32×32, so 3 runs of 96 slices.
        let layer = ConvLayer::default();
        assert_eq!(GemmTile::for_layer(&layer), GemmTile::SMALL);
        assert_eq!(splits(&layer, GemmTile::SMALL), 3);
        // 7×7×256 → 64, K = 2 304 (144 slices): 4 workgroups; capped at MAX_SPLITS.
        let small = ConvLayer {
            in_channels: 256,
            out_channels: 64,
            height: 7,
            width: 7,
            ..ConvLayer::default()
        };
        assert_eq!(splits(&small, GemmTile::for_layer(&small)), MAX_SPLITS as u32);
        // A short K: 100 channels of a 1×1 kernel is 7 slices, too few to split.
        let short = ConvLayer {
            in_channels: 100,
            ..small.pointwise()
        };
        assert_eq!(splits(&short, GemmTile::for_layer(&short)), 1);
        // Enough output tiles: no split.
        let big = ConvLayer {
            batch: 16,
            in_channels: 256,
            out_channels: 256,
            height: 56,
            width: 56,
            ..ConvLayer::default()
        };
        assert_eq!(splits(&big, GemmTile::for_layer(&big)), 1);
        assert_eq!(CONV2D.texture_bytes(&big), 0);
        assert_eq!(CONV2D.texture_bytes(&layer), 3 * 4 * 512 * 196);
        // The loop steps count one run.
        assert!(loop_steps(&layer, GemmTile::SMALL, 3) < loop_steps(&layer, GemmTile::SMALL, 1) / 2);
    }

    #[test]
    fn a_tile_beyond_the_adapter_is_refused_with_the_limit_named() {
        let mut summary = AdapterSummary::with_default_limits("WebGPU defaults");
        summary.max_compute_workgroup_storage_size = 8_192;
        let error = GemmTile::LARGE.check_device(&summary).unwrap_err().to_string();
        assert!(error.contains("max_compute_workgroup_storage_size"), "{error}");
        assert!(GemmTile::MEDIUM.check_device(&summary).is_ok());
        summary.max_compute_invocations_per_workgroup = 64;
        let error = GemmTile::MEDIUM.check_device(&summary).unwrap_err().to_string();
        assert!(error.contains("max_compute_invocations_per_workgroup"), "{error}");
        assert!(GemmTile::SMALL.check_device(&summary).is_ok());
    }

    #[test]
    fn the_grid_covers_every_output_and_respects_the_dimension_limit() {
        let layer = ConvLayer {
            batch: 2,
            height: 7,
            width: 7,
            out_channels: 65,
            ..ConvLayer::default()
        };
        let grid = grid(&layer, GemmTile::SMALL, 1, 65_535).unwrap();
        assert_eq!(grid, [4, 3, 1]); // ceil(98 / 32), ceil(65 / 32)
        assert!(super::grid(&layer, GemmTile::SMALL, 1, 3).is_err());
        assert_eq!(super::grid(&layer, GemmTile::SMALL, 5, 65_535).unwrap(), [4, 3, 5]);
    }

    #[test]
    fn the_source_bakes_the_tile_and_the_form() {
        let layer = ConvLayer::default();
        let standard = source(&layer, GemmTile::MEDIUM, 1);
        assert!(standard.contains("const POINTWISE: bool = false;"));
        assert!(standard.contains("const TILE_M: u32 = 64u;"));
        let pointwise = source(&layer.pointwise(), GemmTile::MEDIUM, 3);
        assert!(pointwise.contains("const SPLITS: u32 = 3u;"));
        assert!(pointwise.contains("const POINTWISE: bool = true;"));
        assert_eq!(name(&layer.pointwise()), POINTWISE_NAME);
    }
}
