//! Reading a buffer back to the host.

use crate::gpu::{GpuContext, GpuError};

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
