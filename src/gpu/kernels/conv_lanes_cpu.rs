//! `conv2d-lanes`: the standard conv (stride 1, one group, kernels up to 3×3) as an implicit GEMM generated per
//! layer for CPU adapters, lanes over output channels and no im2col pack: per K slice (8 input channels × the
//! taps) a workgroup stages the input window of its pixel block in workgroup memory, zero padding filled there, and
//! each lane reads the taps at constant indices and its weights from the rgba32float texture of `pointwise-lanes`.
//! The generator and the [`ConvLanesShape`] rule live in [`crate::gpu::lanes`].

use crate::gpu::conv::{ConvKernels, JobPlan};
use crate::gpu::cpu::SLICE_RECORD_BYTES;
use crate::gpu::kernel::Binding;
use crate::gpu::kernels::CONV_BINDINGS;
use crate::gpu::kernels::{rules, Bound, ConvKernel, Dispatch, JobBuffers, Role, Source, Tile, Variant, WeightLayout};
use crate::gpu::lanes::{self, ConvLanesShape, CONV_LANES_CHANNELS};
use crate::gpu::{GpuContext, GpuError};
use crate::layer::ConvLayer;

pub struct ConvLanesCpu;

/// The shape of a layer the kernel was checked to take (a 1-pixel placeholder otherwise, never dispatched).
fn shape(layer: &ConvLayer) -> ConvLanesShape {
    ConvLanesShape::for_layer(layer).unwrap_or(ConvLanesShape {
        rows: 1,
        cols: 4,
        segments: 1,
        blocks: 1,
        slice: CONV_LANES_CHANNELS,
        slices: 1,
        workgroup: 8,
        channel_blocks: 1,
    })
}

impl ConvKernel for ConvLanesCpu {
    fn name(&self) -> &'static str {
        "conv2d-lanes"
    }
    fn summary(&self) -> &'static str {
        "The standard conv (stride 1, one group, up to 3×3) as an implicit GEMM generated for CPU adapters, lanes \
         over output channels, the input window staged in workgroup memory, no im2col pack."
    }
    fn family(&self) -> Variant {
        Variant::Cpu
    }
    fn role(&self) -> Role {
        Role::Standard
    }
    fn source(&self) -> Source {
        Source::Generated
    }
    fn applies(&self, layer: &ConvLayer) -> Result<(), String> {
        lanes::conv_lanes_fits(layer)
    }
    fn grid(&self, layer: &ConvLayer, _tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        let shape = shape(layer);
        rules::within_limit(
            self.name(),
            [
                u64::from(shape.blocks),
                u64::from(shape.channel_blocks),
                u64::from(layer.batch),
            ],
            ["pixel blocks", "channel blocks", "images"],
            max_per_dimension,
        )
    }
    fn loop_steps(&self, _layer: &ConvLayer) -> u64 {
        // Straight-line code, one dispatch per K slice.
        1
    }
    fn weights(&self) -> WeightLayout {
        WeightLayout::LanesTexture
    }
    fn workgroup_size(&self, layer: &ConvLayer, _tile: Option<Tile>) -> u32 {
        shape(layer).workgroup
    }
    fn workgroup_storage_bytes(&self, layer: &ConvLayer) -> u64 {
        shape(layer).tile_bytes(layer)
    }
    fn texture_bytes(&self, layer: &ConvLayer) -> u64 {
        u64::from(layer.out_channels) * u64::from(lanes::texture_row(layer)) * 4
    }
    /// One dispatch per K slice, each with its slice record; the weight texture is returned for
    /// [`crate::gpu::ConvJob::upload`] to fill.
    fn bind(
        &self,
        ctx: &GpuContext,
        kernels: &ConvKernels,
        plan: &JobPlan,
        buffers: &JobBuffers<'_>,
    ) -> Result<Bound, GpuError> {
        let layer = &plan.layer;
        let shape = shape(layer);
        let texture = ctx.scoped("allocating the weight texture", || {
            ctx.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("conv2d-lanes weight"),
                size: lanes::weight_extent(layer),
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba32Float,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            })
        })?;
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        let mut bindings = CONV_BINDINGS;
        bindings[2] = Binding::Texture;
        let kernel = kernels.generated(
            ctx,
            self.name(),
            lanes::conv_lanes_source(layer),
            &bindings,
            shape.workgroup,
        )?;
        let records = ctx.scoped("allocating the slice records", || {
            let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("conv2d-lanes slices"),
                size: u64::from(shape.slices) * SLICE_RECORD_BYTES,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            // Per record: c0 (the slice's first input channel), k0 (its first K step), first (1 for slice 0).
            let words = (SLICE_RECORD_BYTES / 4) as usize;
            let mut data = vec![0u32; shape.slices as usize * words];
            for (slice, record) in data.chunks_exact_mut(words).enumerate() {
                record[0] = slice as u32 * CONV_LANES_CHANNELS;
                record[1] = slice as u32 * shape.slice;
                record[2] = u32::from(slice == 0);
            }
            ctx.queue.write_buffer(&buffer, 0, bytemuck::cast_slice(&data));
            buffer
        })?;
        let mut dispatches = Vec::new();
        for slice in 0..shape.slices {
            let bind_group = kernel.kernel.bind_resources(
                ctx,
                &[
                    super::slice_record(&records, slice, SLICE_RECORD_BYTES),
                    buffers.input.as_entire_binding(),
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
