//! `gemv-cpu`: a pointwise conv with few GEMM columns (N = batch·H_out·W_out ≤ [`gemv::GEMV_MAX_COLUMNS`]: fully
//! connected layers, squeeze-excitation convs) as a GEMV generated per layer for CPU adapters, lanes over output
//! channels, the input at compile-time-constant addresses, each lane's 4 weights per `textureLoad` from an
//! rgba32float texture written at upload; K in slices of one dispatch each. The generator, the [`GemvShape`] rule
//! and the texture's layout live in [`crate::gpu::gemv`].

use crate::gpu::conv::{ConvKernels, JobPlan};
use crate::gpu::cpu::SLICE_RECORD_BYTES;
use crate::gpu::gemv::{self, GemvShape};
use crate::gpu::kernel::Binding;
use crate::gpu::kernels::CONV_BINDINGS;
use crate::gpu::kernels::{rules, Bound, ConvKernel, Dispatch, JobBuffers, Role, Source, Tile, Variant, WeightLayout};
use crate::gpu::{GpuContext, GpuError};
use crate::layer::ConvLayer;

pub struct GemvCpu;

impl ConvKernel for GemvCpu {
    fn name(&self) -> &'static str {
        "gemv-cpu"
    }
    fn summary(&self) -> &'static str {
        "The 1×1 conv with few columns (batch·H_out·W_out ≤ 16: fc layers, SE convs) as a GEMV generated for CPU \
         adapters, lanes over output channels."
    }
    fn family(&self) -> Variant {
        Variant::Cpu
    }
    fn role(&self) -> Role {
        Role::Pointwise
    }
    fn source(&self) -> Source {
        Source::Generated
    }
    fn applies(&self, layer: &ConvLayer) -> Result<(), String> {
        rules::pointwise_only(layer)?;
        gemv::gemv_fits(layer)
    }
    fn grid(&self, layer: &ConvLayer, _tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        let shape = GemvShape::for_layer(layer);
        rules::within_limit(
            self.name(),
            [u64::from(layer.out_channels).div_ceil(u64::from(shape.workgroup)), 1, 1],
            ["output-channel blocks", "-", "-"],
            max_per_dimension,
        )
    }
    fn loop_steps(&self, _layer: &ConvLayer) -> u64 {
        // Straight-line code, one dispatch per K slice.
        1
    }
    fn weights(&self) -> WeightLayout {
        WeightLayout::GemvTexture
    }
    fn texture_bytes(&self, layer: &ConvLayer) -> u64 {
        let shape = GemvShape::for_layer(layer);
        shape.texture(layer).bytes()
    }
    fn workgroup_size(&self, layer: &ConvLayer, _tile: Option<Tile>) -> u32 {
        GemvShape::for_layer(layer).workgroup
    }
    /// One dispatch per K slice: the slice's record, its input channels bound at their offset, the weight texture
    /// (returned: the job writes the weight into it at upload); the last slice, when shorter, with its own program.
    fn bind(
        &self,
        ctx: &GpuContext,
        kernels: &ConvKernels,
        plan: &JobPlan,
        buffers: &JobBuffers<'_>,
    ) -> Result<Bound, GpuError> {
        let layer = &plan.layer;
        let shape = GemvShape::for_layer(layer);
        let mut bindings = CONV_BINDINGS;
        bindings[2] = Binding::TextureArray;
        let program = |len: u32| {
            kernels.generated(
                ctx,
                self.name(),
                gemv::gemv_source(layer, len),
                &bindings,
                shape.workgroup,
            )
        };
        let body = program(shape.slice)?;
        let tail = if shape.tail == shape.slice {
            body.clone()
        } else {
            program(shape.tail)?
        };
        let geometry = shape.texture(layer);
        let texture = super::weight_texture(ctx, "gemv weight", geometry.extent())?;
        let view = texture.create_view(&wgpu::TextureViewDescriptor {
            dimension: Some(wgpu::TextureViewDimension::D2Array),
            ..Default::default()
        });
        // Per record: first (1 for slice 0), then the slice's first texture layer.
        let records = super::slice_records(ctx, "gemv slices", shape.slices, |slice| {
            [u32::from(slice == 0), slice * geometry.column_blocks]
        })?;
        let plane = u64::from(layer.out_height()) * u64::from(layer.out_width());
        let input = buffers.input;
        let mut dispatches = Vec::new();
        for slice in 0..shape.slices {
            let input_offset = u64::from(slice) * u64::from(shape.slice) * plane * 4;
            let kernel = if slice + 1 == shape.slices { &tail } else { &body };
            let bind_group = kernel.kernel.bind_resources(
                ctx,
                &[
                    super::slice_record(&records, slice, SLICE_RECORD_BYTES),
                    super::binding_from(input, input_offset),
                    wgpu::BindingResource::TextureView(&view),
                    buffers.bias.as_entire_binding(),
                    buffers.output.as_entire_binding(),
                ],
            )?;
            dispatches.push(Dispatch {
                kernel: kernel.clone(),
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
