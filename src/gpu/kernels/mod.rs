//! The kernel registry: every conv kernel described once, in its own file beside its shader, and [`ShaderKind`], the
//! one list of them. `--shader`, the families of `--variant`, `tune`, `verify` and the job planner read everything
//! they know about a kernel from its [`ConvKernel`] description, never from a `match` of their own.
//!
//! A new kernel is one `.wgsl` file in `shaders/` (or a generator), one Rust file here implementing [`ConvKernel`],
//! and one line in the [`registry!`] list below (plus its tests); docs/kernels.md says the same.

use crate::gpu::conv::{ConvKernels, JobPlan};
use crate::gpu::kernel::{Access, Binding, Checks, Kernel};
use crate::gpu::{AdapterSummary, GpuContext, GpuError};
use crate::layer::ConvLayer;

/// A scalar conv shader's source: `shaders/conv_params.wgsl` (the uniform block), `shaders/conv_common.wgsl` (the
/// f32 bindings), then the shader's own file.
macro_rules! conv_source {
    ($name:literal) => {
        concat!(
            include_str!("../../../shaders/conv_params.wgsl"),
            include_str!("../../../shaders/conv_common.wgsl"),
            include_str!(concat!("../../../shaders/", $name, ".wgsl"))
        )
    };
}

/// A vec4 conv shader's source: `shaders/conv_params.wgsl`, `shaders/vec4_window.wgsl` (the sliding window), then
/// the shader's own file (with its own bindings).
macro_rules! vec4_source {
    ($name:literal) => {
        concat!(
            include_str!("../../../shaders/conv_params.wgsl"),
            include_str!("../../../shaders/vec4_window.wgsl"),
            include_str!(concat!("../../../shaders/", $name, ".wgsl"))
        )
    };
}

mod bound;
pub mod rules;
pub mod tile;
pub mod weights;

mod conv2d;
mod conv2d_tiled;
mod conv2d_vec4;
mod conv_lanes_cpu;
mod depthwise;
mod depthwise_cpu;
pub mod depthwise_gpu;
mod depthwise_tiled;
mod depthwise_vec4;
mod gemm_cpu;
pub mod gemm_gpu;
mod gemv_cpu;
mod lanes_cpu;
mod pointwise;
mod pointwise_vec4;

pub use bound::{Bound, Dispatch, JobBuffers, PipelineRecord};
pub use tile::{Tile, TileSpace, TileTable};
pub use weights::WeightLayout;

/// Invocations per workgroup of the kernels without a tunable tile (the naive and scalar tiled ones).
pub const WORKGROUP_SIZE: u32 = 64;

/// The bindings of every fixed conv kernel: 0 the uniform [`crate::gpu::conv::ConvParams`], 1 input, 2 weight,
/// 3 bias (read), 4 output (read-write).
pub const CONV_BINDINGS: [Binding; 5] = [
    Binding::Uniform,
    Binding::Storage(Access::Read),
    Binding::Storage(Access::Read),
    Binding::Storage(Access::Read),
    Binding::Storage(Access::ReadWrite),
];

/// A kernel family: the kernels `--variant NAME` runs; or `auto`, each layer's kernel chosen for the adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Variant {
    /// One output per invocation: the reference kernels.
    Naive,
    /// Scalar register tiles; every shape.
    Tiled,
    /// vec4 pixel groups with tunable register tiles, where the shape allows.
    #[default]
    Vec4,
    /// WGSL generated per layer for CPU adapters (lavapipe, llvmpipe).
    Cpu,
    /// Workgroup-memory tiles for GPUs: a tiled implicit GEMM, a depthwise with its input tile and halo staged.
    Gpu,
    /// Not a family: per layer, the kernel `convflops tune` chose for the layer's shape class on the adapter, else
    /// the adapter's default family ([`Variant::for_adapter`]). Resolved per adapter by `tune::AutoKernels`;
    /// without an adapter ([`Variant::shader_for`]) it means the GPU default, vec4.
    Auto,
}

/// Which convs a kernel is written for. A family picks, for a layer, its kernel of the layer's role (a pointwise
/// layer may also take the family's standard kernel), then falls back to [`Variant::fallback`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Any conv the kernel's rule allows (groups, strides, …).
    Standard,
    /// groups = C_in = C_out.
    Depthwise,
    /// 1×1, stride 1, no padding, one group.
    Pointwise,
}

impl Role {
    /// The role of `layer`: depthwise first (a 1-channel 1×1 layer is both), then pointwise.
    pub fn of(layer: &ConvLayer) -> Role {
        if layer.is_depthwise() {
            Role::Depthwise
        } else if layer.is_pointwise() {
            Role::Pointwise
        } else {
            Role::Standard
        }
    }
}

/// Where a kernel's WGSL comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// A fixed program (one `.wgsl` in `shaders/` with its shared prelude), compiled once per run and tile.
    Wgsl { text: &'static str, checks: Checks },
    /// Generated per layer by the kernel's [`ConvKernel::bind`] (shape constants baked in), compiled once per
    /// source text per run.
    Generated,
}

/// Everything the tool knows about one conv kernel. The defaults fit a fixed kernel with the five
/// [`CONV_BINDINGS`], OIHW weights, no tile, [`WORKGROUP_SIZE`] invocations and no workgroup memory.
pub trait ConvKernel: Sync {
    /// The name `--shader` takes and every report prints.
    fn name(&self) -> &'static str;
    /// One line for `--shader`'s help: what it computes and how.
    fn summary(&self) -> &'static str;
    /// Its family (`--variant`).
    fn family(&self) -> Variant;
    /// The convs it is written for.
    fn role(&self) -> Role;
    /// Its WGSL.
    fn source(&self) -> Source;
    /// Ok when it computes the (valid) layer correctly, else the reason it does not apply.
    fn applies(&self, layer: &ConvLayer) -> Result<(), String>;
    /// Whether its family picks it for `layer` when it applies: `false` where a measured rule says the family's
    /// fallback runs the layer faster (the kernel can still be asked for by name).
    fn chosen_for(&self, _layer: &ConvLayer) -> bool {
        true
    }
    /// The workgroup grid of one dispatch on `layer` (with `tile`, for a tiled kernel), each dimension within
    /// `max_per_dimension` workgroups.
    fn grid(&self, layer: &ConvLayer, tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError>;
    /// Loop steps one invocation takes on `layer`: every iteration of every loop it runs, outer loops counted once
    /// per iteration (llvmpipe ends an invocation's loops after a fixed number, see
    /// [`crate::gpu::conv::LLVMPIPE_MAX_LOOP_STEPS`]).
    fn loop_steps(&self, layer: &ConvLayer) -> u64;

    /// How it reads the weight.
    fn weights(&self) -> WeightLayout {
        WeightLayout::Oihw
    }
    /// Its tunable parameters and their candidate space (`tune` tries them), or `None`.
    fn tuning(&self) -> Option<TileSpace> {
        None
    }
    /// Extra rule a tile of this kernel must meet beyond [`Tile::check`] (for a cached tile).
    fn tile_rule(&self, _tile: Tile) -> Result<(), String> {
        Ok(())
    }
    /// `tile` as this kernel uses it (`4px×8ch/wg64`).
    fn describe_tile(&self, tile: Tile) -> String {
        tile.to_string()
    }
    /// Invocations per workgroup on `layer` with `tile`.
    fn workgroup_size(&self, _layer: &ConvLayer, tile: Option<Tile>) -> u32 {
        tile.map_or(WORKGROUP_SIZE, |t| t.workgroup)
    }
    /// Bytes of workgroup memory one workgroup uses on `layer` (checked against the adapter's
    /// `max_compute_workgroup_storage_size`).
    fn workgroup_storage_bytes(&self, _layer: &ConvLayer) -> u64 {
        0
    }
    /// Device bytes the job allocates beside its tensors and parameter block: a generated GEMM's B texture, a
    /// split-K GEMM's partial sums.
    fn texture_bytes(&self, _layer: &ConvLayer) -> u64 {
        0
    }
    /// The override constants of a fixed program built with `tile`.
    fn overrides(&self, _tile: Option<Tile>) -> Vec<(&'static str, u32)> {
        vec![("WORKGROUP_SIZE", WORKGROUP_SIZE)]
    }
    /// The job's dispatches on its buffers. The default binds the fixed program (built once per run and tile by
    /// `kernels`) to the [`CONV_BINDINGS`] in one dispatch; a generated kernel builds its own.
    fn bind(
        &self,
        ctx: &GpuContext,
        kernels: &ConvKernels,
        plan: &JobPlan,
        buffers: &JobBuffers<'_>,
    ) -> Result<Bound, GpuError> {
        let record = kernels.pipeline(ctx, plan.shader, plan.tile)?;
        if record.kernel.workgroup_size != plan.workgroup_size() {
            return Err(GpuError::KernelDoesNotApply {
                shader: self.name(),
                reason: format!(
                    "its pipeline was built with {} invocations per workgroup, the plan assumes {}",
                    record.kernel.workgroup_size,
                    plan.workgroup_size()
                ),
            });
        }
        let bind_group = record.kernel.bind(ctx, buffers.params, &buffers.storage())?;
        Ok(Bound::one(record, bind_group, plan.grid))
    }
}

/// The binding of `buffer` from `offset` to its end (a K slice's inputs or weights).
pub(crate) fn binding_from(buffer: &wgpu::Buffer, offset: u64) -> wgpu::BindingResource<'_> {
    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
        buffer,
        offset,
        size: wgpu::BufferSize::new(buffer.size() - offset),
    })
}

/// The uniform buffer of a sliced kernel's per-slice records, [`crate::gpu::cpu::SLICE_RECORD_BYTES`] apart (every
/// adapter's uniform offset alignment), record `slice` starting with the words `words(slice)`.
pub(crate) fn slice_records<const N: usize>(
    ctx: &GpuContext,
    label: &'static str,
    slices: u32,
    words: impl Fn(u32) -> [u32; N],
) -> Result<wgpu::Buffer, GpuError> {
    let stride = crate::gpu::cpu::SLICE_RECORD_BYTES;
    ctx.scoped("allocating the slice records", || {
        let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: u64::from(slices) * stride,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let per_record = (stride / 4) as usize;
        let mut data = vec![0u32; slices as usize * per_record];
        for (slice, record) in (0u32..).zip(data.chunks_exact_mut(per_record)) {
            record[..N].copy_from_slice(&words(slice));
        }
        ctx.queue.write_buffer(&buffer, 0, bytemuck::cast_slice(&data));
        buffer
    })
}

/// An rgba32float 2-D texture of `extent` holding a kernel's weights, written by [`crate::gpu::ConvJob::upload`]
/// from the kernel's [`WeightLayout`] and bound with `textureLoad`.
pub(crate) fn weight_texture(
    ctx: &GpuContext,
    label: &'static str,
    extent: wgpu::Extent3d,
) -> Result<wgpu::Texture, GpuError> {
    ctx.scoped("allocating the weight texture", || {
        ctx.device.create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size: extent,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Float,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        })
    })
}

/// The 16-byte record of K slice `slice` in a buffer of records `stride` bytes apart.
pub(crate) fn slice_record(records: &wgpu::Buffer, slice: u32, stride: u64) -> wgpu::BindingResource<'_> {
    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
        buffer: records,
        offset: u64::from(slice) * stride,
        size: wgpu::BufferSize::new(16),
    })
}

/// Compiles a fixed kernel's program with `tile` (its [`Source::Wgsl`], [`ConvKernel::overrides`] and the
/// [`CONV_BINDINGS`]).
pub(crate) fn build_fixed(ctx: &GpuContext, kernel: &dyn ConvKernel, tile: Option<Tile>) -> Result<Kernel, GpuError> {
    match kernel.source() {
        Source::Wgsl { text, checks } => Kernel::with_bindings(
            ctx,
            kernel.name(),
            text,
            "main",
            &kernel.overrides(tile),
            &CONV_BINDINGS,
            checks,
        ),
        Source::Generated => Err(GpuError::KernelDoesNotApply {
            shader: kernel.name(),
            reason: "it is generated per layer, not a fixed program".into(),
        }),
    }
}

/// The registry: `Variant => path::Type` per kernel, in the order reports list them. It defines [`ShaderKind`] (one
/// variant per kernel), [`ShaderKind::ALL`] and [`ShaderKind::spec`].
macro_rules! registry {
    ($($(#[$doc:meta])* $kind:ident => $spec:path,)+) => {
        /// A conv kernel: one entry of the registry. Everything about it is in its [`ConvKernel`] description
        /// ([`ShaderKind::spec`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ShaderKind {
            $($(#[$doc])* $kind,)+
        }

        impl ShaderKind {
            /// Every kernel, in registry order.
            pub const ALL: [ShaderKind; [$(ShaderKind::$kind),+].len()] = [$(ShaderKind::$kind),+];

            /// The kernel's description.
            pub fn spec(self) -> &'static dyn ConvKernel {
                match self {
                    $(ShaderKind::$kind => &$spec,)+
                }
            }
        }
    };
}

registry! {
    /// `shaders/conv2d.wgsl`: any layer; one output per invocation (the naive reference).
    Conv2d => conv2d::Conv2d,
    /// `shaders/conv2d_tiled.wgsl`: any layer; implicit GEMM with an 8 channels × 4 pixels register tile.
    Conv2dTiled => conv2d_tiled::Conv2dTiled,
    /// `shaders/conv2d_vec4.wgsl`: kernels 3 wide, stride 1, "same" along x; vec4 implicit GEMM with a [`Tile`].
    Conv2dVec4 => conv2d_vec4::Conv2dVec4,
    /// `shaders/depthwise.wgsl`: groups = C_in = C_out; one output per invocation (the naive reference).
    Depthwise => depthwise::Depthwise,
    /// `shaders/depthwise_tiled.wgsl`: groups = C_in = C_out; 4 outputs per invocation on a 3-D grid.
    DepthwiseTiled => depthwise_tiled::DepthwiseTiled,
    /// `shaders/depthwise_vec4.wgsl`: depthwise 3×3, stride 1, padding 1; vec4 sliding window.
    DepthwiseVec4 => depthwise_vec4::DepthwiseVec4,
    /// `shaders/pointwise.wgsl`: 1×1, stride 1, no padding, one group (the naive reference).
    Pointwise => pointwise::Pointwise,
    /// `shaders/pointwise_vec4.wgsl`: pointwise layers with H·W a multiple of 4; vec4 GEMM with a [`Tile`].
    PointwiseVec4 => pointwise_vec4::PointwiseVec4,
    /// Generated for CPU adapters ([`crate::gpu::cpu::depthwise_source`]): depthwise up to 7×7, any shape.
    DepthwiseCpu => depthwise_cpu::DepthwiseCpu,
    /// Generated for CPU adapters ([`crate::gpu::gemv::gemv_source`]): the pointwise conv with few GEMM columns
    /// (fc layers, SE convs) as a GEMV, lanes over output channels.
    GemvCpu => gemv_cpu::GemvCpu,
    /// Generated for CPU adapters ([`crate::gpu::lanes::lanes_source`]): the 1×1 conv (any stride, output
    /// planes of at least 4 pixels) as a GEMM with lanes over output channels, no pack pass.
    PointwiseLanes => lanes_cpu::LanesCpu,
    /// Generated for CPU adapters ([`crate::gpu::lanes::conv_lanes_source`]): the standard conv (one group,
    /// dilation 1, kernels past 1×1, any stride) as an implicit GEMM with lanes over output channels, no im2col pack.
    Conv2dLanes => conv_lanes_cpu::ConvLanesCpu,
    /// Generated for CPU adapters ([`crate::gpu::cpu::gemm_source`]): the pointwise conv as a texture-fed GEMM.
    PointwiseCpu => gemm_cpu::POINTWISE,
    /// Generated for CPU adapters: the standard conv (one group) as the same GEMM on im2col(input).
    Conv2dCpu => gemm_cpu::CONV2D,
    /// `shaders/depthwise_gpu.wgsl` (tile baked per layer): depthwise up to 7×7, input tile plus halo staged in
    /// workgroup memory.
    DepthwiseGpu => depthwise_gpu::DepthwiseGpu,
    /// `shaders/gemm_gpu.wgsl` (tile baked per layer): the pointwise conv as a workgroup-memory tiled GEMM.
    PointwiseGpu => gemm_gpu::POINTWISE,
    /// `shaders/gemm_gpu.wgsl`: the standard conv (one group) as the same GEMM, im2col addressed on the fly.
    Conv2dGpu => gemm_gpu::CONV2D,
}

impl ShaderKind {
    pub fn name(self) -> &'static str {
        self.spec().name()
    }

    /// The kernel `--shader NAME` names.
    pub fn from_name(name: &str) -> Option<ShaderKind> {
        ShaderKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Ok when this kernel computes the layer correctly.
    pub fn check(self, layer: &ConvLayer) -> Result<(), GpuError> {
        self.spec()
            .applies(layer)
            .map_err(|reason| GpuError::KernelDoesNotApply {
                shader: self.name(),
                reason,
            })
    }

    /// Every kernel that can compute the layer.
    pub fn applicable(layer: &ConvLayer) -> Vec<ShaderKind> {
        ShaderKind::ALL
            .into_iter()
            .filter(|kind| kind.check(layer).is_ok())
            .collect()
    }

    /// The default kernel for the layer's shape ([`Variant::default`]).
    pub fn for_layer(layer: &ConvLayer) -> ShaderKind {
        Variant::default().shader_for(layer)
    }

    /// See [`ConvKernel::grid`].
    pub fn grid(self, layer: &ConvLayer, tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        self.spec().grid(layer, tile, max_per_dimension)
    }

    /// See [`ConvKernel::loop_steps`].
    pub fn loop_steps(self, layer: &ConvLayer) -> u64 {
        self.spec().loop_steps(layer)
    }

    /// Whether the kernel has a tunable [`Tile`].
    pub fn is_tunable(self) -> bool {
        self.spec().tuning().is_some()
    }

    /// Whether the kernel is generated per layer (its compile is paid per shape).
    pub fn is_generated(self) -> bool {
        matches!(self.spec().source(), Source::Generated)
    }

    /// See [`ConvKernel::describe_tile`].
    pub fn describe_tile(self, tile: Tile) -> String {
        self.spec().describe_tile(tile)
    }
}

/// How one family falls back where its kernels do not apply.
struct FamilySpec {
    variant: Variant,
    name: &'static str,
    /// `--variant`'s help line.
    summary: &'static str,
    /// The family whose kernel runs a layer none of this family's kernels take.
    fallback: Option<Variant>,
    /// Whether `tune` sets this family's kernels against the others' (the families a default may pick; the
    /// reference kernels and the tiled fallback are not candidates of their own).
    tuned: bool,
}

/// The families, in `--variant`'s order.
const FAMILIES: [FamilySpec; 5] = [
    FamilySpec {
        variant: Variant::Naive,
        name: "naive",
        summary: "One output per invocation (the reference kernels).",
        fallback: None,
        tuned: false,
    },
    FamilySpec {
        variant: Variant::Tiled,
        name: "tiled",
        summary: "Scalar register tiles, any shape.",
        fallback: None,
        tuned: false,
    },
    FamilySpec {
        variant: Variant::Vec4,
        name: "vec4",
        summary: "vec4 register tiles where the shape allows; tiled elsewhere.",
        fallback: Some(Variant::Tiled),
        tuned: true,
    },
    FamilySpec {
        variant: Variant::Cpu,
        name: "cpu",
        summary: "WGSL generated per layer for CPU adapters; vec4 where it does not apply.",
        fallback: Some(Variant::Vec4),
        tuned: true,
    },
    FamilySpec {
        variant: Variant::Gpu,
        name: "gpu",
        summary: "Workgroup-memory tiled kernels for GPUs (implicit GEMM, halo-tiled depthwise); vec4 where they do \
                  not apply.",
        fallback: Some(Variant::Vec4),
        // Not timed by `tune` yet: written for GPUs and not yet measured on one.
        tuned: false,
    },
];

impl Variant {
    /// Every family, in `--variant`'s order (not [`Variant::Auto`]).
    pub const ALL: [Variant; 5] = [
        Variant::Naive,
        Variant::Tiled,
        Variant::Vec4,
        Variant::Cpu,
        Variant::Gpu,
    ];

    fn family(self) -> Option<&'static FamilySpec> {
        FAMILIES.iter().find(|f| f.variant == self)
    }

    pub fn name(self) -> &'static str {
        self.family().map_or("auto", |f| f.name)
    }

    /// `--variant`'s help line for this family.
    pub fn summary(self) -> &'static str {
        self.family().map_or(
            "Per layer, the kernel `convflops tune` chose for its shape class on this adapter, else the adapter's \
             default family: cpu on CPU adapters (lavapipe, llvmpipe), vec4 on GPUs.",
            |f| f.summary,
        )
    }

    /// The family `--variant NAME` names.
    pub fn from_name(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name)
    }

    /// The families `tune` sets against each other for every conv.
    pub fn tuned() -> impl Iterator<Item = Variant> {
        Variant::ALL.into_iter().filter(|v| v.family().is_some_and(|f| f.tuned))
    }

    /// The default family on an adapter (what `auto` runs where `tune` chose nothing): the generated cpu family on
    /// CPU adapters, vec4 on GPUs. See [`Variant::reason_for_adapter`].
    pub fn for_adapter(summary: &AdapterSummary) -> Variant {
        if summary.software {
            Variant::Cpu
        } else {
            Variant::Vec4
        }
    }

    /// Why [`Variant::for_adapter`] picks its family on `summary`, for the output.
    pub fn reason_for_adapter(summary: &AdapterSummary) -> &'static str {
        if summary.software {
            "a CPU adapter: the kernels generated for llvmpipe ran faster than vec4 on lavapipe (docs/kernels.md); \
             vec4 where they do not apply"
        } else {
            "a GPU: the vec4 kernels with their register tiles; tiled where they do not apply"
        }
    }

    /// The family whose kernels run the layers this one's do not take.
    pub fn fallback(self) -> Option<Variant> {
        self.family().and_then(|f| f.fallback)
    }

    /// This family's kernels, in registry order (none for [`Variant::Auto`]).
    pub fn kernels(self) -> impl Iterator<Item = ShaderKind> {
        ShaderKind::ALL.into_iter().filter(move |k| k.spec().family() == self)
    }

    /// The kernel of this family for `layer`: its kernel of the layer's [`Role`] that applies (for a pointwise
    /// layer, then its standard kernel; for a strided 1×1 layer, a pointwise kernel that takes strides first), else the [`Variant::fallback`] family's choice, else the family's
    /// standard kernel (which, without a fallback, takes every layer).
    pub fn shader_for(self, layer: &ConvLayer) -> ShaderKind {
        if self == Variant::Auto {
            return Variant::Vec4.shader_for(layer);
        }
        let roles: &[Role] = match Role::of(layer) {
            Role::Depthwise => &[Role::Depthwise],
            Role::Pointwise => &[Role::Pointwise, Role::Standard],
            // A strided 1×1 conv is a pointwise conv on a subsampled input: a pointwise kernel whose rule takes
            // strides (pointwise-lanes) comes first.
            Role::Standard if layer.is_unpadded_one_by_one() => &[Role::Pointwise, Role::Standard],
            Role::Standard => &[Role::Standard],
        };
        for role in roles {
            if let Some(kind) = self
                .kernels()
                .find(|k| k.spec().role() == *role && k.check(layer).is_ok() && k.spec().chosen_for(layer))
            {
                return kind;
            }
        }
        match self.fallback() {
            Some(fallback) => fallback.shader_for(layer),
            None => self
                .kernels()
                .find(|k| k.spec().role() == Role::Standard)
                .unwrap_or(ShaderKind::Conv2d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_consistent() {
        let mut names = std::collections::HashSet::new();
        for kind in ShaderKind::ALL {
            assert!(names.insert(kind.name()), "{} twice", kind.name());
            assert_eq!(ShaderKind::from_name(kind.name()), Some(kind));
            assert!(!kind.spec().summary().is_empty());
            if let Some(space) = kind.spec().tuning() {
                assert!(space.candidates().contains(&space.default), "{}", kind.name());
            }
        }
        for variant in Variant::ALL {
            assert_eq!(variant.family().map(|f| f.variant), Some(variant));
            assert_eq!(Variant::from_name(variant.name()), Some(variant));
            assert!(variant.kernels().next().is_some(), "{} has kernels", variant.name());
            if variant.fallback().is_none() {
                // A family without fallback has a standard kernel taking every layer.
                let general = variant.kernels().find(|k| k.spec().role() == Role::Standard).unwrap();
                assert!(general.check(&ConvLayer::default()).is_ok());
            }
        }
    }

    #[test]
    fn families_pick_their_kernel_or_fall_back() {
        let layer = ConvLayer::default();
        assert_eq!(Variant::Naive.shader_for(&layer.pointwise()), ShaderKind::Pointwise);
        assert_eq!(Variant::Naive.shader_for(&layer.depthwise()), ShaderKind::Depthwise);
        assert_eq!(Variant::Tiled.shader_for(&layer.pointwise()), ShaderKind::Conv2dTiled);
        assert_eq!(Variant::Vec4.shader_for(&layer), ShaderKind::Conv2dVec4);
        assert_eq!(Variant::Cpu.shader_for(&layer.depthwise()), ShaderKind::DepthwiseCpu);
        // A 9×9 depthwise: neither cpu (up to 7×7) nor vec4 (3×3) applies, so cpu → vec4 → tiled.
        let odd = ConvLayer {
            height: 7,
            width: 7,
            kernel: [9, 9],
            padding: [4, 4],
            ..layer
        }
        .depthwise();
        assert_eq!(Variant::Cpu.shader_for(&odd), ShaderKind::DepthwiseTiled);
        // One channel, 1×1: depthwise first.
        let one = ConvLayer {
            in_channels: 1,
            out_channels: 1,
            kernel: [1, 1],
            padding: [0, 0],
            ..layer
        };
        assert_eq!(Variant::Naive.shader_for(&one), ShaderKind::Depthwise);
    }

    /// The cpu family's pointwise rule: the GEMV up to 16 columns, pointwise-lanes on planes of at least 4 pixels
    /// whose weight texture fits (it beat pointwise-cpu and vec4 on every plane measured: BENCHMARKS.md,
    /// 2026-12-02), pointwise-cpu elsewhere.
    /// A 1×1 conv of `c_in` → `c_out` channels on `size`² planes, `batch` images.
    fn pointwise(size: u32, c_in: u32, c_out: u32, batch: u32) -> ConvLayer {
        ConvLayer {
            batch,
            in_channels: c_in,
            out_channels: c_out,
            height: size,
            width: size,
            ..ConvLayer::default()
        }
        .pointwise()
    }

    #[test]
    fn every_kernel_answers_for_any_layer_without_overflow() {
        // Callers ask before a layer is validated (the family's choice, `applies`, `chosen_for`): extreme sizes get
        // an answer, never an arithmetic overflow.
        let extremes = [0, 1, 3, 4, 7, 16, 64, 196, 65_535, 1 << 20, u32::MAX / 2, u32::MAX];
        for &big in &extremes {
            for (kernel, stride) in [([1, 1], [1, 1]), ([3, 3], [1, 1]), ([3, 3], [2, 2]), ([7, 7], [2, 2])] {
                let layer = ConvLayer {
                    batch: big.max(1),
                    in_channels: big,
                    out_channels: big,
                    height: big,
                    width: big,
                    kernel,
                    stride,
                    padding: [kernel[0] / 2, kernel[1] / 2],
                    ..ConvLayer::default()
                };
                for l in [layer, layer.depthwise(), layer.pointwise()] {
                    for kind in ShaderKind::ALL {
                        let _ = kind.spec().applies(&l);
                        let _ = kind.spec().chosen_for(&l);
                    }
                    for variant in [Variant::Cpu, Variant::Vec4, Variant::Gpu, Variant::Tiled] {
                        let _ = variant.shader_for(&l);
                    }
                }
            }
        }
    }

    #[test]
    fn pointwise_cpu_leaves_narrow_pointwise_convs_to_vec4() {
        let pw = |size: u32, c_in: u32, c_out: u32| pointwise(size, c_in, c_out, 1);
        // Few output channels or a small C_in·C_out on a plane pointwise-vec4 takes: the GEMM declines them (its
        // pack outweighs it there), so where pointwise-lanes cannot run them the family's fallback (vec4) does.
        for layer in [
            pw(112, 32, 16),
            pw(112, 16, 96),
            pw(112, 32, 64),
            pw(56, 144, 24),
            pw(28, 240, 40),
        ] {
            assert!(
                !ShaderKind::PointwiseCpu.spec().chosen_for(&layer),
                "{}",
                layer.describe()
            );
            // Still there by name.
            assert!(ShaderKind::PointwiseCpu.check(&layer).is_ok());
            // pointwise-lanes comes first and takes them.
            assert_eq!(Variant::Cpu.shader_for(&layer), ShaderKind::PointwiseLanes);
        }
        // At or above both bars, and at 7×7 (pointwise-vec4 does not apply) whatever the channels: the GEMM's.
        for layer in [
            pw(56, 64, 128),
            pw(28, 40, 240),
            pw(56, 128, 128),
            pw(7, 1152, 192),
            pw(7, 96, 24),
        ] {
            assert!(
                ShaderKind::PointwiseCpu.spec().chosen_for(&layer),
                "{}",
                layer.describe()
            );
        }
        // Past pointwise-lanes' texture (C_out = 8 193 rows): the GEMM, above both of its bars.
        let wide_out = pw(56, 16, 8_193);
        assert!(ShaderKind::PointwiseLanes.check(&wide_out).is_err());
        assert_eq!(Variant::Cpu.shader_for(&wide_out), ShaderKind::PointwiseCpu);
    }

    #[test]
    fn the_cpu_family_runs_pointwise_convs_on_lanes() {
        let pw = pointwise;
        for (layer, want) in [
            (pw(14, 512, 512, 1), ShaderKind::PointwiseLanes),
            (pw(14, 672, 112, 1), ShaderKind::PointwiseLanes),
            (pw(14, 512, 512, 16), ShaderKind::PointwiseLanes),
            (pw(8, 512, 512, 1), ShaderKind::PointwiseLanes),
            (pw(28, 256, 256, 1), ShaderKind::PointwiseLanes),
            (pw(56, 128, 128, 1), ShaderKind::PointwiseLanes),
            (pw(112, 32, 16, 1), ShaderKind::PointwiseLanes),
            // Planes of a size not a multiple of 4 (read and written by scalars).
            (pw(7, 512, 1024, 1), ShaderKind::PointwiseLanes),
            (pw(15, 64, 64, 1), ShaderKind::PointwiseLanes),
            // 2×2 at batch 5: 20 columns, past the GEMV's 16; at batch 4 the GEMV's.
            (pw(2, 64, 64, 5), ShaderKind::PointwiseLanes),
            (pw(2, 64, 64, 4), ShaderKind::GemvCpu),
            (pw(1, 1024, 1000, 1), ShaderKind::GemvCpu),
            // 1×1 planes past the GEMV's batch: one pixel in a group of 4, the GEMM folds the batch into its groups.
            (pw(1, 1024, 1000, 17), ShaderKind::PointwiseCpu),
            // A weight texture past 8 192 texels a side (C_out rows): the GEMM.
            (pw(14, 64, 8_193, 1), ShaderKind::PointwiseCpu),
        ] {
            assert_eq!(Variant::Cpu.shader_for(&layer), want, "{}", layer.describe());
        }
        let error = ShaderKind::PointwiseLanes
            .check(&pw(14, 64, 8_193, 1))
            .unwrap_err()
            .to_string();
        assert!(error.contains("8192 texels a side"), "{error}");
        // Other families never pick it.
        assert_eq!(
            Variant::Vec4.shader_for(&pw(14, 512, 512, 1)),
            ShaderKind::PointwiseVec4
        );
        // Strided 1×1 convs (ResNet-18's downsamples): pointwise-lanes, ahead of the family's standard kernel; with
        // padding, or on an output plane under 4 pixels, conv2d-cpu; other families keep their standard kernel.
        let strided = |size: u32, c_in: u32, c_out: u32| ConvLayer {
            stride: [2, 2],
            ..pw(size, c_in, c_out, 1)
        };
        for layer in [strided(56, 64, 128), strided(28, 128, 256), strided(14, 256, 512)] {
            assert_eq!(
                Variant::Cpu.shader_for(&layer),
                ShaderKind::PointwiseLanes,
                "{}",
                layer.describe()
            );
            assert_ne!(
                Variant::Vec4.shader_for(&layer),
                ShaderKind::PointwiseLanes,
                "{}",
                layer.describe()
            );
        }
        let padded = ConvLayer {
            padding: [1, 1],
            ..strided(14, 64, 64)
        };
        assert_eq!(Variant::Cpu.shader_for(&padded), ShaderKind::Conv2dCpu);
        assert!(ShaderKind::PointwiseLanes.check(&padded).is_err());
        assert_eq!(Variant::Cpu.shader_for(&strided(2, 64, 64)), ShaderKind::Conv2dCpu);
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
