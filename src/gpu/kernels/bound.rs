//! What binding a kernel to a job's buffers gives: the dispatches the job records, in order.

use std::sync::{Arc, Mutex};

use crate::gpu::kernel::Kernel;

/// A built pipeline, shared by every job that uses it, and (a generated kernel) how long its first dispatch took:
/// llvmpipe compiles a shader there.
#[derive(Debug)]
pub struct PipelineRecord {
    pub kernel: Kernel,
    /// Whether the pipeline is generated per layer: its first dispatch is run once, untimed, by the job.
    pub generated: bool,
    /// Seconds of the warm-up dispatch that compiled it, once run (generated pipelines).
    pub compile_s: Mutex<Option<f64>>,
}

impl PipelineRecord {
    pub fn new(kernel: Kernel, generated: bool) -> Arc<PipelineRecord> {
        Arc::new(PipelineRecord {
            kernel,
            generated,
            compile_s: Mutex::new(None),
        })
    }

    /// The recorded compile time.
    pub fn compile_time(&self) -> Option<f64> {
        *self.compile_s.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `seconds` as the compile time unless one is recorded.
    pub fn record_compile(&self, seconds: f64) {
        self.compile_s
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get_or_insert(seconds);
    }
}

/// One dispatch of a job.
#[derive(Debug)]
pub struct Dispatch {
    pub kernel: Arc<PipelineRecord>,
    pub bind_group: wgpu::BindGroup,
    pub grid: [u32; 3],
}

/// A kernel bound to a job: its dispatches, in order, and the texture a generated kernel binds (the GEMM's B; the
/// weight of gemv-cpu and pointwise-lanes, which [`crate::gpu::ConvJob::upload`] writes from the kernel's
/// [`crate::gpu::kernels::WeightLayout`]).
#[derive(Debug)]
pub struct Bound {
    pub dispatches: Vec<Dispatch>,
    pub texture: Option<wgpu::Texture>,
}

impl Bound {
    /// One dispatch of `kernel` with `bind_group` over `grid`, no texture.
    pub fn one(kernel: Arc<PipelineRecord>, bind_group: wgpu::BindGroup, grid: [u32; 3]) -> Bound {
        Bound {
            dispatches: vec![Dispatch {
                kernel,
                bind_group,
                grid,
            }],
            texture: None,
        }
    }
}

/// The buffers of one job, as a kernel's [`crate::gpu::kernels::ConvKernel::bind`] gets them.
#[derive(Debug, Clone, Copy)]
pub struct JobBuffers<'a> {
    /// The [`crate::gpu::conv::ConvParams`] uniform block.
    pub params: &'a wgpu::Buffer,
    pub input: &'a wgpu::Buffer,
    /// The weight, in the kernel's [`crate::gpu::kernels::WeightLayout`].
    pub weight: &'a wgpu::Buffer,
    pub bias: &'a wgpu::Buffer,
    pub output: &'a wgpu::Buffer,
}

impl<'a> JobBuffers<'a> {
    /// The storage buffers in the conv bindings' order (1 input, 2 weight, 3 bias, 4 output).
    pub fn storage(&self) -> [&'a wgpu::Buffer; 4] {
        [self.input, self.weight, self.bias, self.output]
    }
}
