//! `pointwise-lanes`: the pointwise conv (planes of at least 4 pixels) as a GEMM generated per layer for CPU
//! adapters, lanes over output channels, B staged in workgroup memory straight from the input
//! (no pack pass), each lane's weights from an rgba32float texture filled once at upload; K in slices of one
//! dispatch each. The generator, the [`LanesShape`] rule and the weight layout live in [`crate::gpu::lanes`].

use std::sync::Arc;

use crate::gpu::conv::{ConvKernels, JobPlan};
use crate::gpu::cpu::SLICE_RECORD_BYTES;
use crate::gpu::kernel::Binding;
use crate::gpu::kernels::CONV_BINDINGS;
use crate::gpu::kernels::{
    rules, Bound, ConvKernel, Dispatch, JobBuffers, PipelineRecord, Role, Source, Tile, Variant, WeightLayout,
};
use crate::gpu::lanes::{self, LanesShape};
use crate::gpu::{GpuContext, GpuError};
use crate::layer::ConvLayer;

pub struct LanesCpu;

impl ConvKernel for LanesCpu {
    fn name(&self) -> &'static str {
        "pointwise-lanes"
    }
    fn summary(&self) -> &'static str {
        "The 1×1 conv (any stride, output planes of at least 4 pixels) as a GEMM generated for CPU adapters, \
         lanes over output channels, no pack pass."
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
        rules::one_by_one_only(layer)?;
        lanes::lanes_fits(layer)
    }
    fn grid(&self, layer: &ConvLayer, _tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        let shape = LanesShape::for_layer(layer);
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
        LanesShape::for_layer(layer).workgroup
    }
    fn workgroup_storage_bytes(&self, layer: &ConvLayer) -> u64 {
        LanesShape::for_layer(layer).tile_bytes()
    }
    fn texture_bytes(&self, layer: &ConvLayer) -> u64 {
        LanesShape::for_layer(layer).texture_bytes(layer)
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
        let shape = LanesShape::for_layer(layer);
        let program = kernels.generated(
            ctx,
            self.name(),
            lanes::lanes_source(layer),
            &LANES_BINDINGS,
            shape.workgroup,
        )?;
        // Per record: k0 (the slice's first K step), first (1 for slice 0).
        let records = super::slice_records(ctx, "pointwise-lanes slices", shape.slices, |slice| {
            [slice * shape.stages * shape.slice, u32::from(slice == 0)]
        })?;
        bind_slices(
            ctx,
            plan,
            buffers,
            "pointwise-lanes weight",
            program,
            &records,
            shape.slices,
        )
    }
}

/// The bindings of both lanes kernels: [`CONV_BINDINGS`] with the weight as a 2-D texture.
pub(super) const LANES_BINDINGS: [Binding; 5] = {
    let mut bindings = CONV_BINDINGS;
    bindings[2] = Binding::Texture;
    bindings
};

/// The dispatches of a lanes kernel (pointwise-lanes, conv2d-lanes): its weight texture (returned in the
/// [`Bound`] for [`crate::gpu::ConvJob::upload`] to fill), then one dispatch of `program` per K slice, each with its
/// record of `records`.
pub(super) fn bind_slices(
    ctx: &GpuContext,
    plan: &JobPlan,
    buffers: &JobBuffers<'_>,
    label: &'static str,
    program: Arc<PipelineRecord>,
    records: &wgpu::Buffer,
    slices: u32,
) -> Result<Bound, GpuError> {
    let texture = super::weight_texture(ctx, label, lanes::weight_extent(&plan.layer))?;
    let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
    let mut dispatches = Vec::new();
    for slice in 0..slices {
        let bind_group = program.kernel.bind_resources(
            ctx,
            &[
                super::slice_record(records, slice, SLICE_RECORD_BYTES),
                buffers.input.as_entire_binding(),
                wgpu::BindingResource::TextureView(&view),
                buffers.bias.as_entire_binding(),
                buffers.output.as_entire_binding(),
            ],
        )?;
        dispatches.push(Dispatch {
            kernel: program.clone(),
            bind_group,
            grid: plan.grid,
        });
    }
    Ok(Bound {
        dispatches,
        texture: Some(texture),
    })
}
