//! The conv kernels built on [`Kernel`]: standard (grouped), depthwise and pointwise, and [`ConvJob`], one layer's
//! buffers and bind group, created once and dispatched as often as needed.

use bytemuck::{Pod, Zeroable};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::gpu::cpu::{self, DepthwiseTile, GemmShape};
use crate::gpu::kernel::{self, Access, Binding, Checks, Kernel};
use crate::gpu::{AdapterSummary, GpuContext, GpuError, Reservation};
use crate::layer::ConvLayer;

/// Invocations per workgroup of the naive kernels.
pub const WORKGROUP_SIZE: u32 = 64;

/// Which WGSL program computes a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShaderKind {
    /// `shaders/conv2d.wgsl`: any layer; one output per invocation (the naive reference variant).
    Conv2d,
    /// `shaders/conv2d_tiled.wgsl`: any layer; implicit GEMM with an 8 channels × 4 pixels register tile.
    Conv2dTiled,
    /// `shaders/conv2d_vec4.wgsl`: kernels 3 wide, stride 1, "same" along x, one group, H·W and H_out·W multiples
    /// of 4; implicit GEMM on vec4 pixel groups with a [`Tile`] register tile and packed weights.
    Conv2dVec4,
    /// `shaders/depthwise.wgsl`: groups = C_in = C_out; one output per invocation (the naive reference variant).
    Depthwise,
    /// `shaders/depthwise_tiled.wgsl`: groups = C_in = C_out; 4 outputs per invocation on a 3-D grid.
    DepthwiseTiled,
    /// `shaders/depthwise_vec4.wgsl`: depthwise 3×3, stride 1, padding 1, H·W a multiple of 4; vec4 sliding window.
    DepthwiseVec4,
    /// `shaders/pointwise.wgsl`: 1×1 kernel, stride 1, no padding, one group (the naive reference variant).
    Pointwise,
    /// `shaders/pointwise_vec4.wgsl`: the pointwise layers with H·W a multiple of 4; a GEMM on vec4 pixel groups
    /// with a [`Tile`] register tile and packed weights.
    PointwiseVec4,
    /// Generated for CPU adapters ([`cpu::depthwise_source`]): groups = C_in = C_out, kernels up to 7×7, any stride,
    /// padding, dilation and H·W; lanes over channels, a whole output tile per invocation in straight-line code.
    DepthwiseCpu,
    /// Generated for CPU adapters ([`cpu::gemm_source`]): the pointwise layers as a GEMM reading B from a texture.
    PointwiseCpu,
    /// Generated for CPU adapters: the standard conv (one group) as the same GEMM on im2col(input), K = C_in·KH·KW.
    Conv2dCpu,
}

/// The register tile and workgroup of a vec4 kernel (its override constants `TILE_PIXELS`, `TILE_CHANNELS` and
/// `WORKGROUP_SIZE`): one invocation computes `4·pixels` pixels × `4·channels` output channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Tile {
    /// vec4 pixel groups per invocation (1–8).
    pub pixels: u32,
    /// vec4 output-channel groups per invocation (1–8; 1 for the depthwise kernel, whose channel is its plane).
    pub channels: u32,
    /// Invocations per workgroup.
    pub workgroup: u32,
}

impl Tile {
    /// The most vec4 groups along one side of a tile (the shaders' `MAX_SIDE`).
    pub const MAX_SIDE: u32 = 8;
    /// The most 4×4 blocks in a tile (the shaders' `MAX_TILE`).
    pub const MAX_BLOCKS: u32 = 16;

    pub const fn new(pixels: u32, channels: u32, workgroup: u32) -> Tile {
        Tile {
            pixels,
            channels,
            workgroup,
        }
    }

    /// Ok when the shaders' fixed-size register arrays hold the tile and the adapter runs its workgroup.
    pub fn check(self, max_invocations: u32) -> Result<Tile, GpuError> {
        let fits = (1..=Self::MAX_SIDE).contains(&self.pixels)
            && (1..=Self::MAX_SIDE).contains(&self.channels)
            && self.pixels * self.channels <= Self::MAX_BLOCKS;
        if !fits {
            return Err(GpuError::KernelDoesNotApply {
                shader: "vec4 kernels",
                reason: format!(
                    "tile {self} does not fit: pixel and channel groups 1–{} each, at most {} blocks in all",
                    Self::MAX_SIDE,
                    Self::MAX_BLOCKS
                ),
            });
        }
        if self.workgroup == 0 || self.workgroup > max_invocations {
            return Err(GpuError::Limit {
                what: format!("tile {self} (invocations per workgroup)"),
                needed: u64::from(self.workgroup),
                limit: "max_compute_invocations_per_workgroup",
                available: u64::from(max_invocations),
            });
        }
        Ok(self)
    }
}

impl std::fmt::Display for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // u64: a tile read from a cache file may hold any u32.
        write!(
            f,
            "{}px×{}ch/wg{}",
            4 * u64::from(self.pixels),
            4 * u64::from(self.channels),
            self.workgroup
        )
    }
}

/// The tile each vec4 kernel is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileTable {
    pub conv2d: Tile,
    pub depthwise: Tile,
    pub pointwise: Tile,
}

impl Default for TileTable {
    /// The built-in defaults: the best tiles of `convflops tune` on lavapipe for the default layer, and modest
    /// enough for GPUs (at most 32 accumulator vec4 per invocation).
    fn default() -> Self {
        TileTable {
            conv2d: Tile::new(1, 4, 64),
            depthwise: Tile::new(2, 1, 32),
            pointwise: Tile::new(2, 4, 32),
        }
    }
}

impl TileTable {
    /// The tile of `kind`, or `None` for the scalar kernels.
    pub fn get(&self, kind: ShaderKind) -> Option<Tile> {
        match kind {
            ShaderKind::Conv2dVec4 => Some(self.conv2d),
            ShaderKind::DepthwiseVec4 => Some(self.depthwise),
            ShaderKind::PointwiseVec4 => Some(self.pointwise),
            _ => None,
        }
    }

    /// This table with `kind`'s tile replaced (no change for a scalar kernel).
    pub fn with(mut self, kind: ShaderKind, tile: Tile) -> TileTable {
        match kind {
            ShaderKind::Conv2dVec4 => self.conv2d = tile,
            ShaderKind::DepthwiseVec4 => self.depthwise = tile,
            ShaderKind::PointwiseVec4 => self.pointwise = tile,
            _ => {}
        }
        self
    }
}

impl ShaderKind {
    pub const ALL: [ShaderKind; 11] = [
        ShaderKind::Conv2d,
        ShaderKind::Conv2dTiled,
        ShaderKind::Conv2dVec4,
        ShaderKind::Depthwise,
        ShaderKind::DepthwiseTiled,
        ShaderKind::DepthwiseVec4,
        ShaderKind::Pointwise,
        ShaderKind::PointwiseVec4,
        ShaderKind::DepthwiseCpu,
        ShaderKind::PointwiseCpu,
        ShaderKind::Conv2dCpu,
    ];

    /// `tile` as this kernel uses it: `4px×8ch/wg64`, or `4px/wg64` for the depthwise kernel (one plane).
    pub fn describe_tile(self, tile: Tile) -> String {
        if self == ShaderKind::DepthwiseVec4 {
            format!("{}px/wg{}", 4 * tile.pixels, tile.workgroup)
        } else {
            tile.to_string()
        }
    }

    /// Whether this is a vec4 kernel, built with a [`Tile`].
    pub fn is_vec4(self) -> bool {
        matches!(
            self,
            ShaderKind::Conv2dVec4 | ShaderKind::DepthwiseVec4 | ShaderKind::PointwiseVec4
        )
    }

    /// Whether this kernel is generated per layer for CPU adapters (the "cpu" family).
    pub fn is_generated(self) -> bool {
        matches!(
            self,
            ShaderKind::DepthwiseCpu | ShaderKind::PointwiseCpu | ShaderKind::Conv2dCpu
        )
    }

    /// Whether the kernel reads the weight packed as [`pack_weights`] lays it out rather than as OIHW.
    pub fn packs_weights(self) -> bool {
        matches!(self, ShaderKind::Conv2dVec4 | ShaderKind::PointwiseVec4)
    }

    /// The workgroup grid of one dispatch of this kernel on `layer` with `tile` (the vec4 kernels; the others use
    /// [`WORKGROUP_SIZE`]), within `max_per_dimension` workgroups per dimension.
    pub fn grid(self, layer: &ConvLayer, tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        let workgroup_size = tile.map_or(WORKGROUP_SIZE, |t| t.workgroup);
        let limit = |sizes: [u64; 3], axes: [&str; 3]| -> Result<[u32; 3], GpuError> {
            let max = u64::from(max_per_dimension);
            for (needed, axis) in sizes.into_iter().zip(axes) {
                if needed > max {
                    return Err(GpuError::Limit {
                        what: format!("the {} dispatch ({axis}, workgroups)", self.name()),
                        needed,
                        limit: "max_compute_workgroups_per_dimension",
                        available: max,
                    });
                }
            }
            Ok(sizes.map(|v| v as u32))
        };
        let batch = u64::from(layer.batch);
        let plane4 = u64::from(layer.out_height()) * u64::from(layer.out_width()) / 4;
        let co4 = u64::from(layer.out_channels).div_ceil(4);
        match (self, tile) {
            (ShaderKind::Conv2dVec4 | ShaderKind::PointwiseVec4, Some(tile)) => {
                // x: pixel tiles of every image; y: channel tiles.
                let tiles = batch * plane4.div_ceil(u64::from(tile.pixels));
                let x = tiles.div_ceil(u64::from(tile.workgroup));
                let y = co4.div_ceil(u64::from(tile.channels));
                limit([x, y, 1], ["pixel tiles", "channel tiles", "-"])
            }
            (ShaderKind::DepthwiseVec4, Some(tile)) => {
                // x: pixel tiles of one plane; y: planes n·C + c.
                let x = plane4
                    .div_ceil(u64::from(tile.pixels))
                    .div_ceil(u64::from(tile.workgroup));
                let y = batch * u64::from(layer.in_channels);
                limit([x, y, 1], ["pixel tiles", "batch × channels", "-"])
            }
            (ShaderKind::Conv2dVec4 | ShaderKind::PointwiseVec4 | ShaderKind::DepthwiseVec4, None) => {
                Err(GpuError::KernelDoesNotApply {
                    shader: self.name(),
                    reason: "a vec4 kernel needs a tile".into(),
                })
            }
            (ShaderKind::Conv2dTiled, _) => {
                // x: pixel tiles of 4 outputs; y: channel tiles of 8 output channels, per group.
                let pixels = batch * u64::from(layer.out_height()) * u64::from(layer.out_width());
                let x = pixels.div_ceil(4).div_ceil(u64::from(workgroup_size.max(1)));
                let y = u64::from(layer.out_channels_per_group()).div_ceil(8) * u64::from(layer.groups);
                limit([x, y, 1], ["pixel tiles", "channel tiles", "-"])
            }
            (ShaderKind::DepthwiseTiled, _) => {
                // x: groups of 4 invocations × 4 columns; y: workgroup_size / 4 rows; z: image planes n·C + c.
                let x = u64::from(layer.out_width()).div_ceil(16);
                let y = u64::from(layer.out_height()).div_ceil(u64::from(workgroup_size / 4).max(1));
                let z = batch * u64::from(layer.in_channels);
                limit([x, y, z], ["columns", "rows", "batch × channels"])
            }
            (ShaderKind::DepthwiseCpu, _) => kernel::grid(
                DepthwiseTile::for_layer(layer).invocations(layer),
                cpu::CPU_WORKGROUP,
                max_per_dimension,
                self.name(),
            ),
            (ShaderKind::PointwiseCpu | ShaderKind::Conv2dCpu, _) => {
                // x: blocks of pixel groups; y: blocks of `shape.channels` output channels.
                let shape = GemmShape::for_layer(layer);
                let x = shape.pixel_groups(layer).div_ceil(u64::from(shape.workgroup));
                let y = u64::from(layer.out_channels).div_ceil(u64::from(shape.channels));
                limit([x, y, 1], ["pixel-group blocks", "channel blocks", "-"])
            }
            (ShaderKind::Conv2d | ShaderKind::Depthwise | ShaderKind::Pointwise, _) => kernel::grid(
                layer.output_len().unwrap_or(u64::MAX),
                workgroup_size,
                max_per_dimension,
                self.name(),
            ),
        }
    }

    /// Loop steps one invocation of this kernel takes on `layer`: every iteration of every loop it runs, the outer
    /// loops counted once per iteration (`C_in/groups · (1 + kh · (1 + kw))` for the general kernels).
    pub fn loop_steps(self, layer: &ConvLayer) -> u64 {
        // Saturating: a layer far beyond every limit still gets an answer.
        let window = u64::from(layer.kernel[0])
            .saturating_mul(1 + u64::from(layer.kernel[1]))
            .saturating_add(1);
        let general = u64::from(layer.in_channels_per_group()).saturating_mul(window);
        match self {
            ShaderKind::Conv2d => general,
            // Plus the stores: 8 channels × 4 pixels.
            ShaderKind::Conv2dTiled => general.saturating_add(32),
            ShaderKind::Depthwise => window,
            ShaderKind::DepthwiseTiled => window.saturating_add(4),
            ShaderKind::Pointwise => u64::from(layer.in_channels) + 1,
            // The loops over the tile have constant trip counts and unroll; what is left loops over C_in (and KH).
            ShaderKind::PointwiseVec4 => u64::from(layer.in_channels) + 1,
            ShaderKind::Conv2dVec4 => u64::from(layer.in_channels).saturating_mul(1 + u64::from(layer.kernel[0])) + 1,
            ShaderKind::DepthwiseVec4 => 4,
            // Straight-line code.
            ShaderKind::DepthwiseCpu => 1,
            // One dispatch per K slice; in each, the weight copy's loop (8 · slice / workgroup iterations).
            ShaderKind::PointwiseCpu | ShaderKind::Conv2dCpu => {
                let shape = GemmShape::for_layer(layer);
                1 + u64::from(shape.channels * shape.slice).div_ceil(u64::from(shape.workgroup))
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ShaderKind::Conv2d => "conv2d",
            ShaderKind::Conv2dTiled => "conv2d-tiled",
            ShaderKind::Depthwise => "depthwise",
            ShaderKind::DepthwiseTiled => "depthwise-tiled",
            ShaderKind::Pointwise => "pointwise",
            ShaderKind::Conv2dVec4 => "conv2d-vec4",
            ShaderKind::DepthwiseVec4 => "depthwise-vec4",
            ShaderKind::PointwiseVec4 => "pointwise-vec4",
            ShaderKind::DepthwiseCpu => "depthwise-cpu",
            ShaderKind::PointwiseCpu => "pointwise-cpu",
            ShaderKind::Conv2dCpu => "conv2d-cpu",
        }
    }

    /// The default kernel for the layer's shape ([`Variant::default`]).
    pub fn for_layer(layer: &ConvLayer) -> ShaderKind {
        Variant::default().shader_for(layer)
    }

    /// Every kernel that can compute the layer.
    pub fn applicable(layer: &ConvLayer) -> Vec<ShaderKind> {
        ShaderKind::ALL
            .into_iter()
            .filter(|kind| kind.check(layer).is_ok())
            .collect()
    }

    /// Ok when this kernel computes the layer correctly.
    pub fn check(self, layer: &ConvLayer) -> Result<(), GpuError> {
        let refuse = |reason: String| {
            Err(GpuError::KernelDoesNotApply {
                shader: self.name(),
                reason,
            })
        };
        match self {
            ShaderKind::Conv2d | ShaderKind::Conv2dTiled => Ok(()),
            ShaderKind::Depthwise | ShaderKind::DepthwiseTiled | ShaderKind::DepthwiseVec4 | ShaderKind::DepthwiseCpu
                if !layer.is_depthwise() =>
            {
                refuse(format!(
                "it needs groups = C_in = C_out, got groups {}, C_in {}, C_out {}",
                layer.groups, layer.in_channels, layer.out_channels
            ))
            }
            ShaderKind::Pointwise | ShaderKind::PointwiseVec4 | ShaderKind::PointwiseCpu if !layer.is_pointwise() => refuse(format!(
                "it needs a 1×1 kernel, stride 1, padding 0 and groups 1, got kernel {}×{}, stride {}×{}, padding {}×{}, groups {}",
                layer.kernel[0], layer.kernel[1], layer.stride[0], layer.stride[1], layer.padding[0], layer.padding[1], layer.groups
            )),
            ShaderKind::PointwiseVec4 if !plane_of_vec4(layer.height, layer.width) => {
                refuse(format!("it needs H·W a multiple of 4, got {}×{}", layer.height, layer.width))
            }
            ShaderKind::Conv2dVec4 => {
                let fits = layer.groups == 1
                    && layer.kernel[1] == 3
                    && layer.stride == [1, 1]
                    && layer.padding[1] == 1
                    && layer.dilation[1] == 1
                    && plane_of_vec4(layer.height, layer.width)
                    && plane_of_vec4(layer.out_height(), layer.width);
                if fits {
                    Ok(())
                } else {
                    refuse(format!(
                        "it needs one group, stride 1, a kernel 3 wide with padding 1 and dilation 1 along x, and H·W \
                         and H_out·W multiples of 4; got {}",
                        geometry(layer)
                    ))
                }
            }
            ShaderKind::DepthwiseVec4 => {
                let fits = layer.kernel == [3, 3]
                    && layer.stride == [1, 1]
                    && layer.padding == [1, 1]
                    && layer.dilation == [1, 1]
                    && plane_of_vec4(layer.height, layer.width);
                if fits {
                    Ok(())
                } else {
                    refuse(format!(
                        "it needs a 3×3 kernel, stride 1, padding 1, dilation 1 and H·W a multiple of 4; got {}",
                        geometry(layer)
                    ))
                }
            }
            ShaderKind::DepthwiseCpu if layer.kernel[0] > 7 || layer.kernel[1] > 7 => refuse(format!(
                "it takes kernels up to 7×7, got {}×{}",
                layer.kernel[0], layer.kernel[1]
            )),
            ShaderKind::PointwiseCpu | ShaderKind::Conv2dCpu => cpu::gemm_fits(layer).or_else(refuse),
            _ => Ok(()),
        }
    }
}

/// The geometry a kernel's shape rules look at, for a refusal: `groups 1, kernel 3×3, stride 2×2, padding 1×1,
/// dilation 1×1, 14×14 → 7×7`.
fn geometry(layer: &ConvLayer) -> String {
    format!(
        "groups {}, kernel {}×{}, stride {}×{}, padding {}×{}, dilation {}×{}, {}×{} → {}×{}",
        layer.groups,
        layer.kernel[0],
        layer.kernel[1],
        layer.stride[0],
        layer.stride[1],
        layer.padding[0],
        layer.padding[1],
        layer.dilation[0],
        layer.dilation[1],
        layer.height,
        layer.width,
        layer.out_height(),
        layer.out_width()
    )
}

/// Whether an `height`×`width` plane splits into whole vec4 groups.
fn plane_of_vec4(height: u32, width: u32) -> bool {
    (u64::from(height) * u64::from(width)).is_multiple_of(4)
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

/// A family of kernels: the naive reference kernels (one output per invocation), the scalar tiled ones (any
/// layer), or the vec4 ones (the shapes they allow; the tiled kernels elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Variant {
    Naive,
    Tiled,
    #[default]
    Vec4,
    /// The kernels generated for CPU adapters (lavapipe, llvmpipe); the vec4 family where they do not apply.
    Cpu,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Naive => "naive",
            Variant::Tiled => "tiled",
            Variant::Vec4 => "vec4",
            Variant::Cpu => "cpu",
        }
    }

    /// The default family on an adapter: vec4 on every adapter for now. The generated (cpu) family beats it on
    /// CPU adapters for depthwise and standard convs but not yet for every pointwise shape (BENCHMARKS.md,
    /// 2026-12-01), and each new layer shape costs it 1–4 s of shader compiling per generated kernel on llvmpipe
    /// (0.1 s once in Mesa's disk cache); `--variant cpu` selects it.
    pub fn for_adapter(summary: &AdapterSummary) -> Variant {
        let _ = summary.software;
        Variant::Vec4
    }

    /// The kernel of this family for `layer`: depthwise layers get a depthwise kernel, 1×1 layers the pointwise
    /// kernel (naive), the pointwise GEMM (vec4) or the tiled GEMM, everything else a general conv. The vec4 family
    /// falls back to the tiled kernel where its shape rules do not hold.
    pub fn shader_for(self, layer: &ConvLayer) -> ShaderKind {
        let tiled = if layer.is_depthwise() {
            ShaderKind::DepthwiseTiled
        } else {
            ShaderKind::Conv2dTiled
        };
        match self {
            Variant::Naive if layer.is_depthwise() => ShaderKind::Depthwise,
            Variant::Naive if layer.is_pointwise() => ShaderKind::Pointwise,
            Variant::Naive => ShaderKind::Conv2d,
            Variant::Tiled => tiled,
            Variant::Vec4 => {
                let candidate = if layer.is_depthwise() {
                    ShaderKind::DepthwiseVec4
                } else if layer.is_pointwise() {
                    ShaderKind::PointwiseVec4
                } else {
                    ShaderKind::Conv2dVec4
                };
                if candidate.check(layer).is_ok() {
                    candidate
                } else {
                    tiled
                }
            }
            Variant::Cpu => {
                let candidate = if layer.is_depthwise() {
                    ShaderKind::DepthwiseCpu
                } else if layer.is_pointwise() {
                    ShaderKind::PointwiseCpu
                } else {
                    ShaderKind::Conv2dCpu
                };
                if candidate.check(layer).is_ok() {
                    candidate
                } else {
                    Variant::Vec4.shader_for(layer)
                }
            }
        }
    }
}

/// The uniform block every conv shader reads (`struct Params` in the WGSL files; same field order).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct ConvParams {
    pub batch: u32,
    pub in_channels: u32,
    pub in_height: u32,
    pub in_width: u32,
    pub out_channels: u32,
    pub out_height: u32,
    pub out_width: u32,
    pub kernel_h: u32,
    pub kernel_w: u32,
    pub stride_h: u32,
    pub stride_w: u32,
    pub pad_h: u32,
    pub pad_w: u32,
    pub dilation_h: u32,
    pub dilation_w: u32,
    pub groups: u32,
    pub has_bias: u32,
    pub total: u32,
    pub _pad: [u32; 2],
}

impl ConvParams {
    pub(crate) fn new(layer: &ConvLayer, total: u32) -> Self {
        ConvParams {
            batch: layer.batch,
            in_channels: layer.in_channels,
            in_height: layer.height,
            in_width: layer.width,
            out_channels: layer.out_channels,
            out_height: layer.out_height(),
            out_width: layer.out_width(),
            kernel_h: layer.kernel[0],
            kernel_w: layer.kernel[1],
            stride_h: layer.stride[0],
            stride_w: layer.stride[1],
            pad_h: layer.padding[0],
            pad_w: layer.padding[1],
            dilation_h: layer.dilation[0],
            dilation_w: layer.dilation[1],
            groups: layer.groups,
            has_bias: u32::from(layer.bias),
            total,
            _pad: [0; 2],
        }
    }
}

/// The conv pipelines of one device, compiled once (the vec4 ones with the tiles of a [`TileTable`]).
#[derive(Debug)]
pub struct ConvKernels {
    conv2d: Kernel,
    conv2d_tiled: Kernel,
    conv2d_vec4: Kernel,
    depthwise: Kernel,
    depthwise_tiled: Kernel,
    depthwise_vec4: Kernel,
    pointwise: Kernel,
    pointwise_vec4: Kernel,
    tiles: TileTable,
    /// The generated kernels built so far, by source text: each compiles once per run.
    generated: Mutex<HashMap<String, Arc<GeneratedKernel>>>,
}

/// A kernel generated for one layer, and how long its first dispatch (llvmpipe compiles there) took.
#[derive(Debug)]
pub struct GeneratedKernel {
    pub kernel: Kernel,
    /// Seconds of the warm-up dispatch that compiled it, once run.
    pub compile_s: Mutex<Option<f64>>,
}

/// A scalar conv shader's source: `shaders/conv_params.wgsl` (the uniform block), `shaders/conv_common.wgsl` (the
/// f32 bindings), then the shader's own file.
macro_rules! conv_source {
    ($name:literal) => {
        concat!(
            include_str!("../../shaders/conv_params.wgsl"),
            include_str!("../../shaders/conv_common.wgsl"),
            include_str!(concat!("../../shaders/", $name, ".wgsl"))
        )
    };
}

/// A vec4 conv shader's source: `shaders/conv_params.wgsl`, `shaders/vec4_window.wgsl` (the sliding window), then
/// the shader's own file (with its own bindings).
macro_rules! vec4_source {
    ($name:literal) => {
        concat!(
            include_str!("../../shaders/conv_params.wgsl"),
            include_str!("../../shaders/vec4_window.wgsl"),
            include_str!(concat!("../../shaders/", $name, ".wgsl"))
        )
    };
}

pub(crate) const CONV_BINDINGS: [Access; 4] = [Access::Read, Access::Read, Access::Read, Access::ReadWrite];

impl ConvKernels {
    /// Every conv pipeline, the vec4 ones with the built-in [`TileTable::default`] tiles.
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Self::with_tiles(ctx, TileTable::default())
    }

    /// Every conv pipeline, the vec4 ones with `tiles`.
    pub fn with_tiles(ctx: &GpuContext, tiles: TileTable) -> Result<Self, GpuError> {
        let build = |label, source, checks| Kernel::new(ctx, label, source, &CONV_BINDINGS, WORKGROUP_SIZE, checks);
        let tiled_checks = proven_safe_checks();
        let vec4 = |kind: ShaderKind| Self::build_vec4(ctx, kind, tiles.get(kind));
        Ok(ConvKernels {
            conv2d: build("conv2d", conv_source!("conv2d"), Checks::Runtime)?,
            conv2d_tiled: build("conv2d-tiled", conv_source!("conv2d_tiled"), tiled_checks)?,
            conv2d_vec4: vec4(ShaderKind::Conv2dVec4)?,
            depthwise: build("depthwise", conv_source!("depthwise"), Checks::Runtime)?,
            depthwise_tiled: build("depthwise-tiled", conv_source!("depthwise_tiled"), tiled_checks)?,
            depthwise_vec4: vec4(ShaderKind::DepthwiseVec4)?,
            pointwise: build("pointwise", conv_source!("pointwise"), Checks::Runtime)?,
            pointwise_vec4: vec4(ShaderKind::PointwiseVec4)?,
            tiles,
            generated: Mutex::new(HashMap::new()),
        })
    }

    fn build_vec4(ctx: &GpuContext, kind: ShaderKind, tile: Option<Tile>) -> Result<Kernel, GpuError> {
        let source = match kind {
            ShaderKind::Conv2dVec4 => vec4_source!("conv2d_vec4"),
            ShaderKind::DepthwiseVec4 => vec4_source!("depthwise_vec4"),
            ShaderKind::PointwiseVec4 => vec4_source!("pointwise_vec4"),
            _ => {
                return Err(GpuError::KernelDoesNotApply {
                    shader: kind.name(),
                    reason: "it is not a vec4 kernel".into(),
                })
            }
        };
        let tile = tile
            .ok_or_else(|| GpuError::KernelDoesNotApply {
                shader: kind.name(),
                reason: "a vec4 kernel needs a tile".into(),
            })?
            .check(ctx.summary.max_compute_invocations_per_workgroup)?;
        let mut overrides = vec![("WORKGROUP_SIZE", tile.workgroup), ("TILE_PIXELS", tile.pixels)];
        if kind != ShaderKind::DepthwiseVec4 {
            overrides.push(("TILE_CHANNELS", tile.channels));
        }
        Kernel::with_options(
            ctx,
            kind.name(),
            source,
            "main",
            &overrides,
            &CONV_BINDINGS,
            proven_safe_checks(),
        )
    }

    /// The pipeline of a fixed kernel; `None` for the generated ones, built per layer by [`ConvKernels::generated`].
    pub fn get(&self, kind: ShaderKind) -> Option<&Kernel> {
        match kind {
            ShaderKind::Conv2d => Some(&self.conv2d),
            ShaderKind::Conv2dTiled => Some(&self.conv2d_tiled),
            ShaderKind::Conv2dVec4 => Some(&self.conv2d_vec4),
            ShaderKind::Depthwise => Some(&self.depthwise),
            ShaderKind::DepthwiseTiled => Some(&self.depthwise_tiled),
            ShaderKind::DepthwiseVec4 => Some(&self.depthwise_vec4),
            ShaderKind::Pointwise => Some(&self.pointwise),
            ShaderKind::PointwiseVec4 => Some(&self.pointwise_vec4),
            ShaderKind::DepthwiseCpu | ShaderKind::PointwiseCpu | ShaderKind::Conv2dCpu => None,
        }
    }

    /// The pipeline of a generated `source` (built once per run, then shared), with `bindings` and `workgroup`
    /// invocations per workgroup. Its compile happens at its first dispatch (see [`ConvJob::new`]).
    pub fn generated(
        &self,
        ctx: &GpuContext,
        label: &'static str,
        source: String,
        bindings: &[Binding],
        workgroup: u32,
    ) -> Result<Arc<GeneratedKernel>, GpuError> {
        let mut cache = self.generated.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(kernel) = cache.get(&source) {
            return Ok(kernel.clone());
        }
        let kernel = Kernel::with_bindings(ctx, label, &source, "main", &[], bindings, proven_safe_checks())?
            .with_workgroup_size(workgroup);
        let kernel = Arc::new(GeneratedKernel {
            kernel,
            compile_s: Mutex::new(None),
        });
        cache.insert(source, kernel.clone());
        Ok(kernel)
    }

    /// Every generated kernel compiled so far: its label and the seconds its compiling dispatch took, longest first.
    pub fn compile_times(&self) -> Vec<(&'static str, f64)> {
        let cache = self.generated.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut times: Vec<(&'static str, f64)> = cache
            .values()
            .filter_map(|k| {
                let s = *k.compile_s.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                s.map(|s| (k.kernel.label, s))
            })
            .collect();
        times.sort_by(|a, b| b.1.total_cmp(&a.1));
        times
    }

    /// The tiles the vec4 kernels were built with.
    pub fn tiles(&self) -> TileTable {
        self.tiles
    }

    /// Rebuilds `kind`'s pipeline with `tile` (for a vec4 kernel; nothing to do for the others).
    pub fn set_tile(&mut self, ctx: &GpuContext, kind: ShaderKind, tile: Tile) -> Result<(), GpuError> {
        let slot = match kind {
            ShaderKind::Conv2dVec4 => &mut self.conv2d_vec4,
            ShaderKind::DepthwiseVec4 => &mut self.depthwise_vec4,
            ShaderKind::PointwiseVec4 => &mut self.pointwise_vec4,
            _ => return Ok(()),
        };
        *slot = Self::build_vec4(ctx, kind, Some(tile))?;
        self.tiles = self.tiles.with(kind, tile);
        Ok(())
    }

    /// The kernel's name, with its tile for a vec4 kernel: `conv2d-vec4 (4px×8ch/wg64)`.
    pub fn describe(&self, kind: ShaderKind) -> String {
        if kind.is_generated() {
            return format!("{} (generated per layer)", kind.name());
        }
        match self.tiles.get(kind) {
            Some(tile) => format!("{} ({})", kind.name(), kind.describe_tile(tile)),
            None => kind.name().to_string(),
        }
    }
}

/// The checks of the kernels whose every index is clamped into its buffer by construction (the tiled and vec4
/// ones): none, unless CONVFLOPS_RUNTIME_CHECKS=1 asks for naga's (to rule them out when a result looks wrong).
pub(crate) fn proven_safe_checks() -> Checks {
    if std::env::var("CONVFLOPS_RUNTIME_CHECKS").is_ok_and(|v| v == "1") {
        Checks::Runtime
    } else {
        Checks::ProvenSafe
    }
}

/// `Ok` when `data` holds exactly `expected` values (`None`: more than fit in u64), else the `DataLength` error
/// naming `what`.
pub(crate) fn expect_len(what: &'static str, data: &[f32], expected: Option<u64>) -> Result<(), GpuError> {
    let expected = expected.unwrap_or(u64::MAX);
    if data.len() as u64 == expected {
        Ok(())
    } else {
        Err(GpuError::DataLength {
            what,
            expected,
            got: data.len() as u64,
        })
    }
}

/// The output buffer's bytes and the kernels' `total` (output elements, u32), checked against the index range and
/// the adapter's buffer limits.
pub(crate) fn output_plan(limits: &AdapterSummary, layer: &ConvLayer) -> Result<(u64, u32), GpuError> {
    let output_len = layer.output_len().unwrap_or(u64::MAX);
    let output_bytes = checked_buffer_bytes(limits, "output", Some(output_len))?;
    let total = u32::try_from(output_len).map_err(|_| GpuError::ShaderRange {
        what: "the output tensor".into(),
        needed: output_len,
        unit: "elements",
        range: "index range (u32 indices)",
        available: MAX_SHADER_ELEMENTS,
    })?;
    Ok((output_bytes, total))
}

/// On llvmpipe, refuses a kernel whose invocations would take more than [`LLVMPIPE_MAX_LOOP_STEPS`] loop steps.
pub(crate) fn check_loop_steps(limits: &AdapterSummary, shader: &'static str, steps: u64) -> Result<(), GpuError> {
    if limits.name.to_lowercase().contains("llvmpipe") && steps > LLVMPIPE_MAX_LOOP_STEPS {
        return Err(GpuError::LoopLimit {
            shader,
            needed: steps,
            available: LLVMPIPE_MAX_LOOP_STEPS,
        });
    }
    Ok(())
}

/// Ok when a chained input buffer (another job's output) holds at least `input_bytes`.
pub(crate) fn check_chained_input(input: Option<&wgpu::Buffer>, input_bytes: u64) -> Result<(), GpuError> {
    match input {
        Some(buffer) if buffer.size() < input_bytes => Err(GpuError::DataLength {
            what: "chained input buffer (bytes)",
            expected: input_bytes,
            got: buffer.size(),
        }),
        _ => Ok(()),
    }
}

/// A storage buffer of `size` bytes with `extra` usages.
pub(crate) fn storage_buffer(ctx: &GpuContext, label: &str, size: u64, extra: wgpu::BufferUsages) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage: wgpu::BufferUsages::STORAGE | extra,
        mapped_at_creation: false,
    })
}

/// The uniform buffer of a kernel's parameter block, written. Not `create_buffer_init`: that maps the buffer at
/// creation and panics when the device is lost.
pub(crate) fn params_buffer(ctx: &GpuContext, label: &str, params: &ConvParams) -> wgpu::Buffer {
    let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: PARAMS_BYTES,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    ctx.queue.write_buffer(&buffer, 0, bytemuck::bytes_of(params));
    buffer
}

/// The most elements a tensor may have: the kernels index with u32 and their flat invocation index may overshoot the
/// last output by up to a row of workgroups, so tensors stay below 2^31 and no index expression wraps.
pub const MAX_SHADER_ELEMENTS: u64 = i32::MAX as u64;

/// The largest padded extent (`size + 2·padding`) along an axis: the kernels compute input coordinates in i32.
pub const MAX_SHADER_COORDINATE: u64 = i32::MAX as u64;

/// Loop steps one invocation may take on llvmpipe (lavapipe's and Mesa GL's CPU rasteriser). llvmpipe ends every
/// shader invocation's loops after 65 535 iterations shared between all its loops (`LP_MAX_TGSI_LOOP_ITERATIONS`)
/// and then silently returns a partial sum; measured, our kernels' outputs go wrong from about 33 000 of the steps
/// [`ShaderKind::loop_steps`] counts (3×3 standard conv: C_in ≈ 4 000; 1×1: C_in ≈ 11 000). Half the limiter stays
/// safely below every case measured.
pub const LLVMPIPE_MAX_LOOP_STEPS: u64 = 32_767;

/// Bytes of the uniform parameter block of one job.
pub(crate) const PARAMS_BYTES: u64 = std::mem::size_of::<ConvParams>() as u64;

/// Bytes of `elements` f32 values (at least 4: wgpu has no empty bindings), checked against the kernels' index range
/// and the adapter's buffer limits.
pub(crate) fn checked_buffer_bytes(
    limits: &AdapterSummary,
    what: &str,
    elements: Option<u64>,
) -> Result<u64, GpuError> {
    let elements = elements.unwrap_or(u64::MAX);
    if elements > MAX_SHADER_ELEMENTS {
        return Err(GpuError::ShaderRange {
            what: format!("the {what} tensor"),
            needed: elements,
            unit: "elements",
            range: "index range (u32 indices)",
            available: MAX_SHADER_ELEMENTS,
        });
    }
    let bytes = (elements * 4).max(4);
    let limits = [
        (
            "max_storage_buffer_binding_size",
            limits.max_storage_buffer_binding_size,
        ),
        ("max_buffer_size", limits.max_buffer_size),
    ];
    for (limit, available) in limits {
        if bytes > available {
            return Err(GpuError::BufferLimit {
                what: format!("the {what} buffer"),
                needed: bytes,
                limit,
                available,
            });
        }
    }
    Ok(bytes)
}

/// Everything one conv job needs, worked out from the layer and the adapter's limits before anything is allocated:
/// each limit is checked here, so wgpu never sees a buffer or a dispatch it would refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobPlan {
    pub layer: ConvLayer,
    pub shader: ShaderKind,
    pub input_bytes: u64,
    pub weight_bytes: u64,
    pub bias_bytes: u64,
    pub output_bytes: u64,
    /// The workgroup grid of one dispatch.
    pub grid: [u32; 3],
    /// Output elements (the kernels' `total`).
    pub total: u32,
    /// The register tile of a vec4 kernel.
    pub tile: Option<Tile>,
    /// Bytes of the B texture of a generated GEMM kernel (0 for the others).
    pub texture_bytes: u64,
}

impl JobPlan {
    /// [`JobPlan::with_tile`] with the built-in tile of a vec4 kernel ([`TileTable::default`]).
    pub fn new(limits: &AdapterSummary, layer: &ConvLayer, shader: ShaderKind) -> Result<JobPlan, GpuError> {
        Self::with_tile(limits, layer, shader, TileTable::default().get(shader))
    }

    /// Checks `layer` for `shader` (built with `tile`, for a vec4 kernel) on an adapter with `limits`: the layer's
    /// validity, the kernel's applicability, every tensor against the kernels' index range and the adapter's buffer
    /// limits, the padded extents against the kernels' coordinate range, and the dispatch against the workgroup
    /// limits.
    pub fn with_tile(
        limits: &AdapterSummary,
        layer: &ConvLayer,
        shader: ShaderKind,
        tile: Option<Tile>,
    ) -> Result<JobPlan, GpuError> {
        let layer = layer.validated()?;
        shader.check(&layer)?;
        for (axis, size, padding) in [
            ("height", layer.height, layer.padding[0]),
            ("width", layer.width, layer.padding[1]),
        ] {
            let extent = u64::from(size) + 2 * u64::from(padding);
            if extent > MAX_SHADER_COORDINATE {
                return Err(GpuError::ShaderRange {
                    what: format!("the padded {axis} (--{axis} {size} + 2 × --padding {padding})"),
                    needed: extent,
                    unit: "pixels",
                    range: "coordinate range (i32 coordinates)",
                    available: MAX_SHADER_COORDINATE,
                });
            }
        }
        let input_bytes = checked_buffer_bytes(limits, "input", layer.input_len())?;
        let weight_len = if shader.packs_weights() {
            packed_weight_len(&layer)
        } else if matches!(shader, ShaderKind::PointwiseCpu | ShaderKind::Conv2dCpu) {
            u64::from(layer.out_channels).checked_mul(u64::from(GemmShape::for_layer(&layer).k_padded()))
        } else {
            layer.weight_len()
        };
        let weight_bytes = checked_buffer_bytes(limits, "weight", weight_len)?;
        let bias_bytes = checked_buffer_bytes(limits, "bias", Some(layer.bias_len()))?;
        let (output_bytes, total) = output_plan(limits, &layer)?;
        let tile = match tile {
            Some(tile) if shader.is_vec4() => Some(tile.check(limits.max_compute_invocations_per_workgroup)?),
            _ => None,
        };
        let grid = shader.grid(&layer, tile, limits.max_compute_workgroups_per_dimension)?;
        check_loop_steps(limits, shader.name(), shader.loop_steps(&layer))?;
        let texture_bytes = match shader {
            ShaderKind::PointwiseCpu | ShaderKind::Conv2dCpu => GemmShape::for_layer(&layer).texture_bytes(&layer),
            _ => 0,
        };
        Ok(JobPlan {
            layer,
            shader,
            input_bytes,
            weight_bytes,
            bias_bytes,
            output_bytes,
            grid,
            total,
            tile,
            texture_bytes,
        })
    }

    /// Invocations per workgroup of the plan's kernel.
    pub fn workgroup_size(&self) -> u32 {
        match self.shader {
            ShaderKind::DepthwiseCpu => cpu::CPU_WORKGROUP,
            ShaderKind::PointwiseCpu | ShaderKind::Conv2dCpu => GemmShape::for_layer(&self.layer).workgroup,
            _ => self.tile.map_or(WORKGROUP_SIZE, |t| t.workgroup),
        }
    }

    /// Device bytes the job allocates: its input (unless it reads another job's buffer), weight, bias, output,
    /// parameter block and (a generated GEMM) B texture.
    pub fn buffer_bytes(&self, chained_input: bool) -> u64 {
        let input = if chained_input { 0 } else { self.input_bytes };
        input + self.weight_bytes + self.bias_bytes + self.output_bytes + PARAMS_BYTES + self.texture_bytes
    }

    /// Device bytes of the staging buffer that reads the output back.
    pub fn readback_bytes(&self) -> u64 {
        self.output_bytes
    }
}

/// One layer on one device: its buffers, bind group and dispatch geometry, made once.
#[derive(Debug)]
pub struct ConvJob {
    pub layer: ConvLayer,
    pub shader: ShaderKind,
    pub input: wgpu::Buffer,
    pub weight: wgpu::Buffer,
    pub bias: wgpu::Buffer,
    pub output: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    grid: [u32; 3],
    output_len: u64,
    /// The generated kernels' dispatches, in order (a generated kernel's job), else empty.
    generated: Vec<GeneratedDispatch>,
    /// The B texture of a generated GEMM, held for its bind groups.
    _texture: Option<wgpu::Texture>,
    /// The job's buffers in the context's memory budget, given back when the job is dropped.
    reservation: Reservation,
}

/// One dispatch of a generated kernel.
#[derive(Debug)]
struct GeneratedDispatch {
    kernel: Arc<GeneratedKernel>,
    bind_group: wgpu::BindGroup,
    grid: [u32; 3],
}

impl ConvJob {
    /// Allocates the layer's buffers (the input may be another job's output, to chain layers on the device) and
    /// binds them to the chosen kernel.
    pub fn new(
        ctx: &GpuContext,
        kernels: &ConvKernels,
        layer: &ConvLayer,
        shader: ShaderKind,
        input: Option<&wgpu::Buffer>,
    ) -> Result<ConvJob, GpuError> {
        let plan = JobPlan::with_tile(&ctx.summary, layer, shader, kernels.tiles().get(shader))?;
        let JobPlan {
            layer,
            input_bytes,
            weight_bytes,
            bias_bytes,
            output_bytes,
            grid,
            total,
            ..
        } = plan;
        check_chained_input(input, input_bytes)?;
        let reservation = ctx.memory.reserve(
            &format!("the {} kernel's buffers for {}", shader.name(), layer.describe()),
            plan.buffer_bytes(input.is_some()),
        )?;
        if let Some(kernel) = kernels.get(shader) {
            if kernel.workgroup_size != plan.workgroup_size() {
                return Err(GpuError::KernelDoesNotApply {
                    shader: shader.name(),
                    reason: format!(
                        "its pipeline was built with {} invocations per workgroup, the plan assumes {}",
                        kernel.workgroup_size,
                        plan.workgroup_size()
                    ),
                });
            }
        }
        let output_len = u64::from(total);

        ctx.scoped("allocating the conv buffers", || {
            let storage = |label: &str, size: u64, extra| storage_buffer(ctx, label, size, extra);
            let params = params_buffer(ctx, "conv params", &ConvParams::new(&layer, total));
            let input = match input {
                Some(buffer) => buffer.clone(),
                None => storage("conv input", input_bytes, wgpu::BufferUsages::COPY_DST),
            };
            let weight = storage("conv weight", weight_bytes, wgpu::BufferUsages::COPY_DST);
            let bias = storage("conv bias", bias_bytes, wgpu::BufferUsages::COPY_DST);
            let output = storage("conv output", output_bytes, wgpu::BufferUsages::COPY_SRC);
            (params, input, weight, bias, output)
        })
        .and_then(|(params, input, weight, bias, output)| {
            let (bind_group, generated, texture) = match kernels.get(shader) {
                Some(kernel) => (
                    kernel.bind(ctx, &params, &[&input, &weight, &bias, &output])?,
                    Vec::new(),
                    None,
                ),
                None => {
                    let (generated, texture) =
                        Self::generated_dispatches(ctx, kernels, &plan, [&params, &input, &weight, &bias, &output])?;
                    let bind_group =
                        generated
                            .last()
                            .map(|d| d.bind_group.clone())
                            .ok_or_else(|| GpuError::KernelDoesNotApply {
                                shader: shader.name(),
                                reason: "no generated dispatch".into(),
                            })?;
                    (bind_group, generated, texture)
                }
            };
            let job = ConvJob {
                layer,
                shader,
                input,
                weight,
                bias,
                output,
                bind_group,
                grid,
                output_len,
                generated,
                _texture: texture,
                reservation,
            };
            job.compile(ctx)?;
            Ok(job)
        })
    }

    /// The dispatches of a generated kernel's job: the depthwise kernel, or the pack kernel (writing B, the texture
    /// returned) then the GEMM. `buffers`: params, input, weight, bias, output.
    fn generated_dispatches(
        ctx: &GpuContext,
        kernels: &ConvKernels,
        plan: &JobPlan,
        buffers: [&wgpu::Buffer; 5],
    ) -> Result<(Vec<GeneratedDispatch>, Option<wgpu::Texture>), GpuError> {
        let [params, input, weight, bias, output] = buffers;
        let layer = &plan.layer;
        let max = ctx.summary.max_compute_workgroups_per_dimension;
        let conv_bindings = [
            Binding::Uniform,
            Binding::Storage(Access::Read),
            Binding::Storage(Access::Read),
            Binding::Storage(Access::Read),
            Binding::Storage(Access::ReadWrite),
        ];
        match plan.shader {
            ShaderKind::DepthwiseCpu => {
                let kernel = kernels.generated(
                    ctx,
                    "depthwise-cpu",
                    cpu::depthwise_source(layer),
                    &conv_bindings,
                    cpu::CPU_WORKGROUP,
                )?;
                let bind_group = kernel.kernel.bind(ctx, params, &[input, weight, bias, output])?;
                Ok((
                    vec![GeneratedDispatch {
                        kernel,
                        bind_group,
                        grid: plan.grid,
                    }],
                    None,
                ))
            }
            ShaderKind::PointwiseCpu | ShaderKind::Conv2dCpu => {
                let shape = GemmShape::for_layer(layer);
                let texture = ctx.scoped("allocating the B texture", || {
                    ctx.device.create_texture(&wgpu::TextureDescriptor {
                        label: Some("gemm B"),
                        size: wgpu::Extent3d {
                            width: shape.groups,
                            height: shape.slice,
                            depth_or_array_layers: shape.texture_layers(layer),
                        },
                        mip_level_count: 1,
                        sample_count: 1,
                        dimension: wgpu::TextureDimension::D2,
                        format: wgpu::TextureFormat::Rgba32Float,
                        usage: wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::TEXTURE_BINDING,
                        view_formats: &[],
                    })
                })?;
                let pack = kernels.generated(
                    ctx,
                    "gemm-cpu pack",
                    cpu::pack_source(layer),
                    &[
                        Binding::Uniform,
                        Binding::Storage(Access::Read),
                        Binding::StorageTextureArray,
                    ],
                    cpu::CPU_WORKGROUP,
                )?;
                let whole = texture.create_view(&wgpu::TextureViewDescriptor {
                    dimension: Some(wgpu::TextureViewDimension::D2Array),
                    ..Default::default()
                });
                let pack_bind = pack.kernel.bind_resources(
                    ctx,
                    &[
                        params.as_entire_binding(),
                        input.as_entire_binding(),
                        wgpu::BindingResource::TextureView(&whole),
                    ],
                )?;
                let pack_grid = kernel::grid(
                    shape.pixel_groups(layer) * u64::from(shape.k_padded()),
                    cpu::CPU_WORKGROUP,
                    max,
                    "gemm-cpu pack",
                )?;
                let mut dispatches = vec![GeneratedDispatch {
                    kernel: pack,
                    bind_group: pack_bind,
                    grid: pack_grid,
                }];
                let mut gemm_bindings = conv_bindings;
                gemm_bindings[1] = Binding::TextureArray;
                let gemm = kernels.generated(
                    ctx,
                    plan.shader.name(),
                    cpu::gemm_source(layer),
                    &gemm_bindings,
                    shape.workgroup,
                )?;
                // One 256-byte record per slice: `first` = 1 for slice 0.
                let records = ctx.scoped("allocating the slice records", || {
                    let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("gemm slices"),
                        size: u64::from(shape.slices) * cpu::SLICE_RECORD_BYTES,
                        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    });
                    // Per record: first (1 for slice 0), then the slice's first texture layer.
                    let words = (cpu::SLICE_RECORD_BYTES / 4) as usize;
                    let mut data = vec![0u32; shape.slices as usize * words];
                    for (slice, record) in data.chunks_exact_mut(words).enumerate() {
                        record[0] = u32::from(slice == 0);
                        record[1] = slice as u32 * layer.batch;
                    }
                    ctx.queue.write_buffer(&buffer, 0, bytemuck::cast_slice(&data));
                    buffer
                })?;
                let slice_bytes = u64::from(shape.slice) * 4;
                for slice in 0..shape.slices {
                    let weight_offset = u64::from(slice) * slice_bytes;
                    let bind_group = gemm.kernel.bind_resources(
                        ctx,
                        &[
                            wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: &records,
                                offset: u64::from(slice) * cpu::SLICE_RECORD_BYTES,
                                size: wgpu::BufferSize::new(16),
                            }),
                            wgpu::BindingResource::TextureView(&whole),
                            wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: weight,
                                offset: weight_offset,
                                size: wgpu::BufferSize::new(weight.size() - weight_offset),
                            }),
                            bias.as_entire_binding(),
                            output.as_entire_binding(),
                        ],
                    )?;
                    dispatches.push(GeneratedDispatch {
                        kernel: gemm.clone(),
                        bind_group,
                        grid: plan.grid,
                    });
                }
                Ok((dispatches, Some(texture)))
            }
            _ => Err(GpuError::KernelDoesNotApply {
                shader: plan.shader.name(),
                reason: "it is not a generated kernel".into(),
            }),
        }
    }

    /// Runs the job once when one of its generated kernels has never run: llvmpipe compiles a shader at its first
    /// dispatch, so this keeps compile time out of every timed sample, and records it on the kernel.
    fn compile(&self, ctx: &GpuContext) -> Result<(), GpuError> {
        let fresh = |d: &GeneratedDispatch| {
            d.kernel
                .compile_s
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .is_none()
        };
        if !self.generated.iter().any(fresh) {
            return Ok(());
        }
        let start = Instant::now();
        Self::submit(ctx, |pass| self.encode_generated(pass))?;
        let seconds = start.elapsed().as_secs_f64();
        for d in &self.generated {
            let mut slot = d
                .kernel
                .compile_s
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            slot.get_or_insert(seconds);
        }
        Ok(())
    }

    /// Dispatches of a generated kernel's job (the pack kernel, then each K slice of the GEMM); 0 for the fixed kernels.
    pub fn dispatch_count(&self) -> usize {
        self.generated.len()
    }

    /// Submits dispatch `index` of a generated kernel's job alone and waits for it (to see where its time goes).
    pub fn run_dispatch(&self, ctx: &GpuContext, index: usize) -> Result<(), GpuError> {
        let d = self.generated.get(index).ok_or_else(|| GpuError::KernelDoesNotApply {
            shader: self.shader.name(),
            reason: format!(
                "it has {} generated dispatches, not {}",
                self.generated.len(),
                index + 1
            ),
        })?;
        Self::submit(ctx, |pass| d.kernel.kernel.dispatch(pass, &d.bind_group, d.grid))
    }

    fn encode_generated(&self, pass: &mut wgpu::ComputePass<'_>) {
        for d in &self.generated {
            d.kernel.kernel.dispatch(pass, &d.bind_group, d.grid);
        }
    }

    /// One submission of `record` in a compute pass, waited for.
    fn submit(ctx: &GpuContext, record: impl FnOnce(&mut wgpu::ComputePass<'_>)) -> Result<(), GpuError> {
        ctx.scoped("running the conv", || {
            let mut encoder = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("conv") });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("conv"),
                    timestamp_writes: None,
                });
                record(&mut pass);
            }
            ctx.queue.submit([encoder.finish()]);
        })?;
        ctx.wait()
    }

    /// Copies the tensors into the job's buffers (`input` may be skipped for a chained job).
    pub fn upload(
        &self,
        ctx: &GpuContext,
        input: Option<&[f32]>,
        weight: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<(), GpuError> {
        let expect = expect_len;
        if let Some(input) = input {
            expect("input", input, self.layer.input_len())?;
            ctx.queue.write_buffer(&self.input, 0, bytemuck::cast_slice(input));
        }
        expect("weight", weight, self.layer.weight_len())?;
        if self.shader.packs_weights() {
            let packed = pack_weights(&self.layer, weight);
            ctx.queue.write_buffer(&self.weight, 0, bytemuck::cast_slice(&packed));
        } else if matches!(self.shader, ShaderKind::PointwiseCpu | ShaderKind::Conv2dCpu) {
            let padded = cpu::pad_weights(&self.layer, weight);
            ctx.queue.write_buffer(&self.weight, 0, bytemuck::cast_slice(&padded));
        } else {
            ctx.queue.write_buffer(&self.weight, 0, bytemuck::cast_slice(weight));
        }
        match (self.layer.bias, bias) {
            (true, Some(bias)) => {
                expect("bias", bias, Some(self.layer.bias_len()))?;
                ctx.queue.write_buffer(&self.bias, 0, bytemuck::cast_slice(bias));
            }
            (false, None) => {}
            (true, None) => {
                return Err(GpuError::DataLength {
                    what: "bias",
                    expected: self.layer.bias_len(),
                    got: 0,
                })
            }
            (false, Some(bias)) => {
                return Err(GpuError::DataLength {
                    what: "bias (the layer has none)",
                    expected: 0,
                    got: bias.len() as u64,
                })
            }
        }
        Ok(())
    }

    /// Records this job's dispatch into a compute pass.
    /// (A generated kernel's job: its dispatches, the pack kernel's first.)
    pub fn encode(&self, kernels: &ConvKernels, pass: &mut wgpu::ComputePass<'_>) {
        match kernels.get(self.shader) {
            Some(kernel) => kernel.dispatch(pass, &self.bind_group, self.grid),
            None => self.encode_generated(pass),
        }
    }

    /// Submits one dispatch and waits for it.
    pub fn run(&self, ctx: &GpuContext, kernels: &ConvKernels) -> Result<(), GpuError> {
        Self::submit(ctx, |pass| self.encode(kernels, pass))
    }

    /// The workgroup grid of the dispatch.
    pub fn grid(&self) -> [u32; 3] {
        self.grid
    }

    /// Device bytes this job holds in the context's memory budget (its buffers; not a chained input).
    pub fn device_bytes(&self) -> u64 {
        self.reservation.bytes()
    }

    /// Reads the output tensor back to the host.
    pub fn read_output(&self, ctx: &GpuContext) -> Result<Vec<f32>, GpuError> {
        read_buffer(ctx, &self.output, self.output_len * 4)
    }
}

/// Copies the first `bytes` of `buffer` (which needs COPY_SRC) to the host as f32 values.
pub fn read_buffer(ctx: &GpuContext, buffer: &wgpu::Buffer, bytes: u64) -> Result<Vec<f32>, GpuError> {
    let raw = read_bytes(ctx, buffer, bytes)?;
    Ok(raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Copies the first `bytes` (a multiple of 4) of `buffer` (which needs COPY_SRC) to the host.
pub fn read_bytes(ctx: &GpuContext, buffer: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, GpuError> {
    let size = bytes.max(4);
    if !size.is_multiple_of(4) || size > buffer.size() {
        return Err(GpuError::DataLength {
            what: "readback (bytes, a multiple of 4 within the buffer)",
            expected: buffer.size(),
            got: bytes,
        });
    }
    if size > ctx.summary.max_buffer_size {
        return Err(GpuError::BufferLimit {
            what: "the readback staging buffer".into(),
            needed: size,
            limit: "max_buffer_size",
            available: ctx.summary.max_buffer_size,
        });
    }
    let length =
        usize::try_from(bytes).map_err(|_| GpuError::Readback(format!("{bytes} bytes do not fit in memory")))?;
    let _reservation = ctx.memory.reserve("the readback staging buffer", size)?;
    let staging = ctx.scoped("reading back", || {
        let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback staging"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("readback"),
        });
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, size);
        ctx.queue.submit([encoder.finish()]);
        staging
    })?;
    let (sender, receiver) = futures_intrusive::channel::shared::oneshot_channel();
    staging.slice(..).map_async(wgpu::MapMode::Read, move |result| {
        // The receiver only goes away if the waiting side already failed; nothing is left to tell then.
        let _ = sender.send(result);
    });
    ctx.wait()?;
    match pollster::block_on(receiver.receive()) {
        Some(Ok(())) => {}
        Some(Err(e)) => return Err(GpuError::Readback(e.to_string())),
        None => return Err(GpuError::Readback("the map callback never ran".into())),
    }
    let data = {
        let view = staging
            .slice(..)
            .get_mapped_range()
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        view.get(..length)
            .ok_or_else(|| GpuError::Readback(format!("the mapped range is shorter than {bytes} bytes")))?
            .to_vec()
    };
    staging.unmap();
    Ok(data)
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
    fn tiles_are_checked_against_the_register_arrays_and_the_adapter() {
        assert!(Tile::new(1, 8, 64).check(256).is_ok());
        assert!(Tile::new(2, 8, 64).check(256).is_ok());
        assert!(Tile::new(4, 8, 64).check(256).is_err()); // 32 blocks > 16
        assert!(Tile::new(0, 1, 64).check(256).is_err());
        assert!(Tile::new(1, 9, 64).check(256).is_err());
        let limit = Tile::new(1, 1, 512).check(256).unwrap_err().to_string();
        assert!(limit.contains("max_compute_invocations_per_workgroup"), "{limit}");
        assert_eq!(Tile::new(1, 8, 64).to_string(), "4px×32ch/wg64");
    }

    #[test]
    fn vec4_grids_cover_every_tile() {
        let layer = ConvLayer::default(); // 14×14: 49 pixel groups, 128 channel groups
        let tile = Tile::new(2, 4, 32);
        let grid = ShaderKind::PointwiseVec4
            .grid(&layer.pointwise(), Some(tile), 65_535)
            .unwrap();
        assert_eq!(grid, [1, 32, 1]); // ceil(ceil(49 / 2) / 32) = 1, 128 / 4
        let grid = ShaderKind::DepthwiseVec4
            .grid(&layer.depthwise(), Some(tile), 65_535)
            .unwrap();
        assert_eq!(grid, [1, 512, 1]);
        let many = ConvLayer { batch: 200, ..layer };
        let error = ShaderKind::DepthwiseVec4
            .grid(&many.depthwise(), Some(tile), 65_535)
            .unwrap_err();
        assert!(error.to_string().contains("batch × channels"), "{error}");
        assert!(ShaderKind::Conv2dVec4.grid(&layer, None, 65_535).is_err());
    }
}
