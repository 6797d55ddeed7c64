//! `conv2d-lanes`: the standard conv (one group, dilation 1, any kernel past 1×1 and any stride) as an implicit
//! GEMM generated per layer for CPU adapters, lanes over output channels and no im2col pack: per K slice (16 input channels, 64 or 32 on planes stored by scalars, or C_in when fewer, × the taps) a workgroup stages the input window of its pixel block in workgroup memory, zero padding filled there, and
//! each lane reads the taps at constant indices and its weights from the rgba32float texture of `pointwise-lanes`.
//! The generator and the [`ConvLanesShape`] rule live in [`crate::gpu::lanes`].

use crate::gpu::conv::{ConvKernels, JobPlan};
use crate::gpu::kernels::{rules, Bound, ConvKernel, JobBuffers, Role, Source, Tile, Variant, WeightLayout};
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
        vec4_out: true,
        channels: CONV_LANES_CHANNELS,
        slice: 4 * lanes::LANES_CHUNK,
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
        "The standard conv (one group, dilation 1, kernels past 1×1, any stride) as an implicit GEMM generated for \
         CPU adapters, lanes over output channels, the input window staged in workgroup memory, no im2col pack."
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
        let program = kernels.generated(
            ctx,
            self.name(),
            lanes::conv_lanes_source(layer),
            &super::lanes_cpu::LANES_BINDINGS,
            shape.workgroup,
        )?;
        // Per record: c0 (the slice's first input channel), k0 (its first K step), first (1 for slice 0).
        let records = super::slice_records(ctx, "conv2d-lanes slices", shape.slices, |slice| {
            [slice * shape.channels, slice * shape.slice, u32::from(slice == 0)]
        })?;
        super::lanes_cpu::bind_slices(
            ctx,
            plan,
            buffers,
            "conv2d-lanes weight",
            program,
            &records,
            shape.slices,
        )
    }
}
