//! GPU time from timestamp queries written at the beginning and end of a compute pass, and wall-clock time from
//! submit to completion.

use std::time::Instant;

use crate::gpu::conv::read_bytes;
use crate::gpu::{GpuContext, GpuError};

/// How a sample's time was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimerKind {
    /// GPU timestamps around the compute pass.
    Timestamp,
    /// Host clock from submit to completion (the adapter has no timestamp queries).
    Wall,
}

/// One timed submission.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Seconds between the pass's begin and end timestamps, when the adapter has them.
    pub gpu_s: Option<f64>,
    /// Seconds from just before submit until the device reported the work done.
    pub wall_s: f64,
}

/// Timestamp queries for one compute pass, created once and reused by every sample.
#[derive(Debug)]
pub struct PassTimer {
    queries: Option<Queries>,
}

#[derive(Debug)]
struct Queries {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    /// Nanoseconds per timestamp tick.
    period_ns: f64,
}

impl PassTimer {
    /// Uses timestamp queries when the device has TIMESTAMP_QUERY, wall time otherwise.
    pub fn new(ctx: &GpuContext) -> Result<PassTimer, GpuError> {
        if !ctx.timestamps {
            return Ok(PassTimer { queries: None });
        }
        let queries = ctx.scoped("creating the timestamp queries", || Queries {
            set: ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("pass begin/end timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            }),
            resolve: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamp resolve"),
                size: 2 * 8,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            period_ns: f64::from(ctx.queue.get_timestamp_period()),
        })?;
        Ok(PassTimer { queries: Some(queries) })
    }

    pub fn kind(&self) -> TimerKind {
        if self.queries.is_some() {
            TimerKind::Timestamp
        } else {
            TimerKind::Wall
        }
    }

    /// Encodes one compute pass (timestamps at its beginning and end when available) whose contents `record`
    /// writes, submits it, waits for it and returns its time.
    pub fn time_pass(
        &self,
        ctx: &GpuContext,
        record: impl FnOnce(&mut wgpu::ComputePass<'_>),
    ) -> Result<Timing, GpuError> {
        let commands = ctx.scoped("recording a timed pass", || {
            let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("timed pass"),
            });
            {
                let timestamp_writes = self.queries.as_ref().map(|q| wgpu::ComputePassTimestampWrites {
                    query_set: &q.set,
                    beginning_of_pass_write_index: Some(0),
                    end_of_pass_write_index: Some(1),
                });
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("timed pass"),
                    timestamp_writes,
                });
                record(&mut pass);
            }
            if let Some(q) = &self.queries {
                // Resolve exactly the two queries this pass wrote.
                encoder.resolve_query_set(&q.set, 0..2, &q.resolve, 0);
            }
            encoder.finish()
        })?;
        let start = Instant::now();
        ctx.queue.submit([commands]);
        ctx.wait()?;
        let wall_s = start.elapsed().as_secs_f64();
        let gpu_s = match &self.queries {
            Some(q) => {
                let bytes = read_bytes(ctx, &q.resolve, 16)?;
                let tick = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
                let ticks = tick(1).wrapping_sub(tick(0));
                Some(ticks as f64 * q.period_ns * 1e-9)
            }
            None => None,
        };
        Ok(Timing { gpu_s, wall_s })
    }
}
