//! `pointwise-cpu` and `conv2d-cpu`: the conv as one GEMM generated per layer for CPU adapters
//! (M = C_out, N = N·H_out·W_out, K = C_in·KH·KW; the pointwise conv is the case KH = KW = 1). Two generated
//! programs per job ([`cpu::pack_source`] writes B = im2col(input) into an rgba32float texture, [`cpu::gemm_source`]
//! multiplies), K in slices of one dispatch each; the generators and the [`GemmShape`] rule live in
//! [`crate::gpu::cpu`].

use crate::gpu::conv::{ConvKernels, JobPlan};
use crate::gpu::cpu::{self, GemmShape};
use crate::gpu::kernel::{self, Binding};
use crate::gpu::kernels::CONV_BINDINGS;
use crate::gpu::kernels::{rules, Bound, ConvKernel, Dispatch, JobBuffers, Role, Source, Tile, Variant, WeightLayout};
use crate::gpu::{GpuContext, GpuError, ShaderKind};
use crate::layer::ConvLayer;

/// The least C_out, and the least C_in·C_out, at which the cpu family runs a pointwise conv on this GEMM where
/// pointwise-vec4 also applies (where it does not, e.g. 7×7 planes, the vec4 family falls back to the scalar tiled
/// kernel, and the GEMM is kept). Below either, the pack pass (one texel per K step and pixel group, whatever C_out)
/// outweighs a GEMM of few channel blocks. Measured on lavapipe (Mesa 25.0.7, BENCHMARKS.md 2026-12-02,
/// `gemm_probe S C_IN C_OUT 1 15`, CPU time, vec4 / cpu): 112²×32→16 0.52, 112²×16→96 0.81, 112²×32→64 0.82,
/// 56²×144→24 0.36, 56²×96→24 0.61, 28²×240→40 0.75 (vec4 faster), against 56²×24→144 1.03, 56²×64→128 1.10,
/// 28²×40→240 1.38, 56²×128→128 1.40, 28²×128→256 1.58, 28²×256→256 1.71.
pub const MIN_POINTWISE_OUT: u32 = 64;
pub const MIN_POINTWISE_PRODUCT: u64 = 4_096;

/// One of the two GEMM kernels: they differ in name and in the convs they take.
pub struct GemmCpu {
    name: &'static str,
    summary: &'static str,
    role: Role,
}

/// The pointwise conv as the GEMM.
pub const POINTWISE: GemmCpu = GemmCpu {
    name: "pointwise-cpu",
    summary: "The 1×1 conv as a GEMM generated for CPU adapters (B read from a texture).",
    role: Role::Pointwise,
};

/// The standard conv (one group) as the same GEMM on im2col(input).
pub const CONV2D: GemmCpu = GemmCpu {
    name: "conv2d-cpu",
    summary: "The standard conv (one group) as the same generated GEMM on im2col(input).",
    role: Role::Standard,
};

impl ConvKernel for GemmCpu {
    fn name(&self) -> &'static str {
        self.name
    }
    fn summary(&self) -> &'static str {
        self.summary
    }
    fn family(&self) -> Variant {
        Variant::Cpu
    }
    fn role(&self) -> Role {
        self.role
    }
    fn source(&self) -> Source {
        Source::Generated
    }
    fn applies(&self, layer: &ConvLayer) -> Result<(), String> {
        if self.role == Role::Pointwise {
            rules::pointwise_only(layer)?;
        }
        cpu::gemm_fits(layer)
    }
    /// Not for a pointwise conv that pointwise-vec4 takes with fewer than [`MIN_POINTWISE_OUT`] output channels or a
    /// C_in·C_out below [`MIN_POINTWISE_PRODUCT`]: there the pack pass outweighs a GEMM of few channel blocks, and
    /// the family's fallback (vec4) runs it faster.
    fn chosen_for(&self, layer: &ConvLayer) -> bool {
        !layer.is_pointwise()
            || ShaderKind::PointwiseVec4.check(layer).is_err()
            || (layer.out_channels >= MIN_POINTWISE_OUT
                && u64::from(layer.in_channels) * u64::from(layer.out_channels) >= MIN_POINTWISE_PRODUCT)
    }
    fn grid(&self, layer: &ConvLayer, _tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        // x: blocks of pixel groups; y: blocks of `shape.channels` output channels.
        let shape = GemmShape::for_layer(layer);
        let x = shape.pixel_groups(layer).div_ceil(u64::from(shape.workgroup));
        let y = u64::from(layer.out_channels).div_ceil(u64::from(shape.channels));
        rules::within_limit(
            self.name,
            [x, y, 1],
            ["pixel-group blocks", "channel blocks", "-"],
            max_per_dimension,
        )
    }
    fn loop_steps(&self, layer: &ConvLayer) -> u64 {
        // One dispatch per K slice; in each, the weight copy's loop (channels · slice / workgroup iterations).
        let shape = GemmShape::for_layer(layer);
        1 + u64::from(shape.channels * shape.slice).div_ceil(u64::from(shape.workgroup))
    }
    fn weights(&self) -> WeightLayout {
        WeightLayout::PaddedK
    }
    fn workgroup_size(&self, layer: &ConvLayer, _tile: Option<Tile>) -> u32 {
        GemmShape::for_layer(layer).workgroup
    }
    fn workgroup_storage_bytes(&self, layer: &ConvLayer) -> u64 {
        // The channel block's weights of one slice: channels × slice f32.
        let shape = GemmShape::for_layer(layer);
        u64::from(shape.channels) * u64::from(shape.slice) * 4
    }
    fn texture_bytes(&self, layer: &ConvLayer) -> u64 {
        GemmShape::for_layer(layer).texture_bytes(layer)
    }
    /// The pack kernel's dispatch (writing B, the texture returned), then one GEMM dispatch per K slice.
    fn bind(
        &self,
        ctx: &GpuContext,
        kernels: &ConvKernels,
        plan: &JobPlan,
        buffers: &JobBuffers<'_>,
    ) -> Result<Bound, GpuError> {
        let layer = &plan.layer;
        let max = ctx.summary.max_compute_workgroups_per_dimension;
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
                Binding::Storage(kernel::Access::Read),
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
                buffers.params.as_entire_binding(),
                buffers.input.as_entire_binding(),
                wgpu::BindingResource::TextureView(&whole),
            ],
        )?;
        let pack_grid = kernel::grid(cpu::pack_invocations(layer), cpu::CPU_WORKGROUP, max, "gemm-cpu pack")?;
        let mut dispatches = vec![Dispatch {
            kernel: pack,
            bind_group: pack_bind,
            grid: pack_grid,
        }];
        let mut gemm_bindings = CONV_BINDINGS;
        gemm_bindings[1] = Binding::TextureArray;
        let gemm = kernels.generated(ctx, self.name, cpu::gemm_source(layer), &gemm_bindings, shape.workgroup)?;
        // One 256-byte record per slice: `first` = 1 for slice 0.
        // Per record: first (1 for slice 0), then the slice's first texture layer.
        let records = super::slice_records(ctx, "gemm slices", shape.slices, |slice| {
            [u32::from(slice == 0), slice * layer.batch]
        })?;
        let slice_bytes = u64::from(shape.slice) * 4;
        let weight = buffers.weight;
        for slice in 0..shape.slices {
            let weight_offset = u64::from(slice) * slice_bytes;
            let bind_group = gemm.kernel.bind_resources(
                ctx,
                &[
                    super::slice_record(&records, slice, cpu::SLICE_RECORD_BYTES),
                    wgpu::BindingResource::TextureView(&whole),
                    super::binding_from(weight, weight_offset),
                    buffers.bias.as_entire_binding(),
                    buffers.output.as_entire_binding(),
                ],
            )?;
            dispatches.push(Dispatch {
                kernel: gemm.clone(),
                bind_group,
                grid: plan.grid,
            });
        }
        Ok(Bound {
            dispatches,
            texture: Some(texture),
        })
    }
}
