//! The uniform parameter block every conv shader reads, and the buffers a job allocates.

use bytemuck::{Pod, Zeroable};

use crate::gpu::GpuContext;
use crate::layer::ConvLayer;

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
    /// The uniform block of `layer` with `total` outputs.
    pub fn new(layer: &ConvLayer, total: u32) -> Self {
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

/// Bytes of the uniform parameter block of one job.
pub(crate) const PARAMS_BYTES: u64 = std::mem::size_of::<ConvParams>() as u64;
