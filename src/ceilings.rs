//! The device's own ceilings, measured: peak FMA throughput (FLOP/s) and memory bandwidth (bytes/s), and the
//! roofline they make. A conv's roofline bound is `min(peak FLOP/s, bandwidth × FLOPs per byte)`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bench::{self, BenchSettings};
use crate::cache;
use crate::gpu::kernel::{Access, Checks, Kernel};
use crate::gpu::{AdapterSummary, GpuContext, GpuError, PassTimer};

/// A sample should take about this long, so launch overhead and timer resolution do not matter.
pub const TARGET_SAMPLE: Duration = Duration::from_millis(100);

/// Which roof bounds a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    /// Peak FMA throughput: the kernel's FLOPs per byte are above the ridge point.
    Compute,
    /// Memory bandwidth: the kernel's FLOPs per byte are below the ridge point.
    Memory,
}

impl Bound {
    pub fn name(self) -> &'static str {
        match self {
            Bound::Compute => "compute",
            Bound::Memory => "memory",
        }
    }
}

/// The measured ceilings of one adapter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ceilings {
    /// Best median FMA throughput over the variants tried, counting 2 FLOPs per FMA.
    pub fma_flops_per_s: f64,
    /// Streaming copy bandwidth: (bytes read + bytes written) / time. The roofline uses this one.
    pub bandwidth_bytes_per_s: f64,
    /// Read-only bandwidth: bytes read / time.
    pub read_bytes_per_s: f64,
    /// The FMA variant that gave the peak, e.g. "256 invocations × 8 vec4 chains".
    pub fma_variant: String,
    /// Bytes of the buffers the bandwidth was measured over.
    pub bandwidth_buffer_bytes: u64,
    /// "timestamp" or "wall".
    pub timer: String,
}

impl Ceilings {
    /// FLOPs per byte where the two roofs meet.
    pub fn ridge_flops_per_byte(&self) -> f64 {
        self.fma_flops_per_s / self.bandwidth_bytes_per_s
    }

    /// The roofline bound at `flops_per_byte` and which roof it is.
    pub fn bound(&self, flops_per_byte: f64) -> (f64, Bound) {
        let memory = self.bandwidth_bytes_per_s * flops_per_byte;
        if memory < self.fma_flops_per_s {
            (memory, Bound::Memory)
        } else {
            (self.fma_flops_per_s, Bound::Compute)
        }
    }
}

/// The FMA variants tried: (workgroup size, vec4 chains per invocation).
pub const FMA_VARIANTS: [(u32, u32); 4] = [(64, 4), (64, 8), (256, 4), (256, 8)];

/// The FMA loop count stays below llvmpipe's cap of 65 535 loop iterations per invocation (past it Mesa silently
/// ends the loop, which would inflate the figure); at 16 384 workgroups this is still far above what a GPU needs
/// for a 100 ms sample.
const MAX_FMA_ITERATIONS: u32 = 1 << 15;

/// FMAs one invocation of `peak_fma.wgsl` performs per loop iteration: 8 unrolled steps × chains × 4 lanes.
fn fmas_per_iteration(chains: u32) -> u64 {
    8 * u64::from(chains) * 4
}

fn settings() -> BenchSettings {
    BenchSettings {
        warmup_runs: 1,
        warmup_time: Duration::ZERO,
        min_samples: 5,
        min_time: Duration::from_millis(300),
        max_samples: 20,
        max_time: Duration::from_secs(5),
        target_sample_time: TARGET_SAMPLE,
        max_repetitions: 64,
    }
}

/// Measures the FMA ceiling: for each variant, grows the grid and then the loop count until a dispatch takes about
/// [`TARGET_SAMPLE`], then takes the median of a few samples. Returns the best FLOP/s and its variant.
pub fn measure_fma(ctx: &GpuContext, mut progress: impl FnMut(&str)) -> Result<(f64, String), GpuError> {
    let timer = PassTimer::new(ctx)?;
    let max_groups = ctx.summary.max_compute_workgroups_per_dimension.min(16_384);
    let mut best = (0.0f64, String::new());
    for (workgroup_size, chains) in FMA_VARIANTS {
        if workgroup_size > ctx.summary.max_compute_invocations_per_workgroup {
            continue;
        }
        let label = format!("{workgroup_size} invocations × {chains} vec4 chains");
        progress(&label);
        // SAFETY: peak_fma.wgsl indexes only `output[id]`, and the output buffer is sized for every invocation
        // of the largest grid dispatched below; its loop count is a uniform, bounded by the host.
        let kernel = Kernel::with_options(
            ctx,
            "peak FMA",
            include_str!("../shaders/peak_fma.wgsl"),
            "main",
            &[("WORKGROUP_SIZE", workgroup_size), ("CHAINS", chains)],
            &[Access::ReadWrite],
            Checks::ProvenSafe,
        )?;
        let output_bytes = u64::from(max_groups) * u64::from(workgroup_size) * 4;
        let _reservation = ctx.memory.reserve("the FMA peak's output buffer", output_bytes + 16)?;
        let (params, output) = ctx.scoped("allocating the FMA buffers", || {
            let params = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("peak FMA params"),
                size: 16,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let output = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("peak FMA output"),
                size: output_bytes,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            });
            (params, output)
        })?;
        let bind_group = kernel.bind(ctx, &params, &[&output])?;
        let write_params = |iterations: u32| {
            let words: [u32; 4] = [iterations, (-0.25f32).to_bits(), 0, 0];
            ctx.queue.write_buffer(&params, 0, bytemuck::cast_slice(&words));
        };
        let run = |groups: u32| {
            timer
                .time_pass(ctx, |pass| kernel.dispatch(pass, &bind_group, [groups, 1, 1]))
                .map(|t| t.gpu_s.unwrap_or(t.wall_s))
        };
        // Grow the grid (to fill the device), then the loop count, until one dispatch takes ~TARGET_SAMPLE.
        let (mut groups, mut iterations) = (64u32, 1u32);
        write_params(iterations);
        let mut seconds = run(groups)?;
        while seconds < TARGET_SAMPLE.as_secs_f64() {
            if groups < max_groups {
                groups = (groups * 2).min(max_groups);
            } else if iterations < MAX_FMA_ITERATIONS {
                iterations *= 2;
                write_params(iterations);
            } else {
                break;
            }
            seconds = run(groups)?;
        }
        let measurement = bench::measure(&settings(), |repetitions| {
            timer.time_pass(ctx, |pass| {
                for _ in 0..repetitions {
                    kernel.dispatch(pass, &bind_group, [groups, 1, 1]);
                }
            })
        })?;
        let fmas = u64::from(groups) * u64::from(workgroup_size) * u64::from(iterations) * fmas_per_iteration(chains);
        let flops_per_s = 2.0 * fmas as f64 / measurement.best().median;
        if flops_per_s > best.0 {
            best = (flops_per_s, label);
        }
    }
    Ok(best)
}

/// Measures the bandwidth ceilings over buffers of up to 256 MiB (or the adapter's binding limit): the copy
/// (read + write) and the read-only reduction, in bytes/s.
pub fn measure_bandwidth(ctx: &GpuContext, mut progress: impl FnMut(&str)) -> Result<(f64, f64, u64), GpuError> {
    let limit = ctx
        .summary
        .max_storage_buffer_binding_size
        .min(ctx.summary.max_buffer_size);
    let bytes = (256u64 << 20).min(limit) / 16 * 16;
    let n = bytes / 16;
    let workgroup_size = 256u32.min(ctx.summary.max_compute_invocations_per_workgroup);
    let groups = u32::try_from(n.div_ceil(u64::from(workgroup_size) * 8).max(1))
        .unwrap_or(u32::MAX)
        .min(ctx.summary.max_compute_workgroups_per_dimension);
    let timer = PassTimer::new(ctx)?;
    let _reservation = ctx.memory.reserve("the bandwidth buffers", 2 * bytes + 16)?;
    let build = |entry| {
        // SAFETY: bandwidth.wgsl reads source[i] and writes destination[i] only for i < n (grid-stride loop), and
        // `read` writes destination[gid.x] with gid.x < groups × workgroup size ≤ n, both buffers holding n vec4s.
        Kernel::with_options(
            ctx,
            "bandwidth",
            include_str!("../shaders/bandwidth.wgsl"),
            entry,
            &[("WORKGROUP_SIZE", workgroup_size)],
            &[Access::Read, Access::ReadWrite],
            Checks::ProvenSafe,
        )
    };
    let (copy, read) = (build("copy")?, build("reduce")?);
    let (params, source, destination) = ctx.scoped("allocating the bandwidth buffers", || {
        let buffer = |label| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let params = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("bandwidth params"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        (params, buffer("bandwidth source"), buffer("bandwidth destination"))
    })?;
    let words: [u32; 4] = [u32::try_from(n).unwrap_or(u32::MAX), 0, 0, 0];
    ctx.queue.write_buffer(&params, 0, bytemuck::cast_slice(&words));
    // Varied data: a cheap integer hash per element, written in 16 MiB pieces.
    let chunk = 4usize << 20;
    let mut state = 0x9E37_79B9u32;
    let mut offset = 0u64;
    while offset < bytes {
        let count = chunk.min(((bytes - offset) / 4) as usize);
        let data: Vec<f32> = (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 8) as f32 / (1u32 << 24) as f32
            })
            .collect();
        ctx.queue.write_buffer(&source, offset, bytemuck::cast_slice(&data));
        offset += count as u64 * 4;
    }
    ctx.wait()?;
    let copy_group = copy.bind(ctx, &params, &[&source, &destination])?;
    let read_group = read.bind(ctx, &params, &[&source, &destination])?;
    let rate = |kernel: &Kernel, group: &wgpu::BindGroup, moved: u64| -> Result<f64, GpuError> {
        let m = bench::measure(&settings(), |repetitions| {
            timer.time_pass(ctx, |pass| {
                for _ in 0..repetitions {
                    kernel.dispatch(pass, group, [groups, 1, 1]);
                }
            })
        })?;
        Ok(moved as f64 / m.best().median)
    };
    progress("copy (read + write)");
    let copy_rate = rate(&copy, &copy_group, 2 * bytes)?;
    progress("read-only reduction");
    let read_rate = rate(&read, &read_group, bytes)?;
    Ok((copy_rate, read_rate, bytes))
}

/// Measures both ceilings.
pub fn measure(ctx: &GpuContext, mut progress: impl FnMut(&str)) -> Result<Ceilings, GpuError> {
    let (fma_flops_per_s, fma_variant) = measure_fma(ctx, |v| progress(&format!("FMA peak, {v}")))?;
    let (bandwidth_bytes_per_s, read_bytes_per_s, bandwidth_buffer_bytes) =
        measure_bandwidth(ctx, |v| progress(&format!("bandwidth, {v}")))?;
    let timer = if ctx.timestamps { "timestamp" } else { "wall" }.to_string();
    Ok(Ceilings {
        fma_flops_per_s,
        bandwidth_bytes_per_s,
        read_bytes_per_s,
        fma_variant,
        bandwidth_buffer_bytes,
        timer,
    })
}

/// The cache file of measured ceilings.
const CACHE_FILE: &str = "ceilings.json";

/// The cached ceilings of `adapter`, if it was measured before with the same driver and the entry is valid.
pub fn cached(adapter: &AdapterSummary) -> Option<Ceilings> {
    cache::read_entry(CACHE_FILE, &cache::cache_key(adapter))
}

/// Stores `ceilings` for `adapter` in the cache (atomically, under the cache's lock), keeping every other entry.
pub fn store(adapter: &AdapterSummary, ceilings: &Ceilings) -> Result<PathBuf, cache::CacheError> {
    let value = serde_json::to_value(ceilings).map_err(|e| cache::CacheError::Io {
        path: CACHE_FILE.into(),
        source: e.into(),
    })?;
    // Reading first warns (once) about any bad entry; the update keeps it in the file.
    let _ = cache::read_entries::<Ceilings>(CACHE_FILE);
    cache::update(CACHE_FILE, |entries| {
        entries.insert(cache::cache_key(adapter), value);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ceilings() -> Ceilings {
        Ceilings {
            fma_flops_per_s: 100e9,
            bandwidth_bytes_per_s: 10e9,
            read_bytes_per_s: 12e9,
            fma_variant: "test".into(),
            bandwidth_buffer_bytes: 1 << 27,
            timer: "timestamp".into(),
        }
    }

    #[test]
    fn roofline_arithmetic() {
        let c = ceilings();
        assert_eq!(c.ridge_flops_per_byte(), 10.0);
        assert_eq!(c.bound(2.2), (22e9, Bound::Memory));
        assert_eq!(c.bound(90.0), (100e9, Bound::Compute));
        assert_eq!(c.bound(10.0), (100e9, Bound::Compute));
    }

    #[test]
    fn fma_count_per_iteration() {
        assert_eq!(fmas_per_iteration(8), 256);
        assert_eq!(fmas_per_iteration(4), 128);
    }
}
