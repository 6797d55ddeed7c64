//! [`ConvJob`]: one layer on one device: its buffers and the kernel's dispatches, made once and run as often as
//! needed.

use std::time::Instant;

use crate::gpu::conv::params::{params_buffer, storage_buffer, ConvParams};
use crate::gpu::conv::plan::{check_chained_input, expect_len, JobPlan};
use crate::gpu::conv::readback::read_buffer;
use crate::gpu::conv::ConvKernels;
use crate::gpu::kernels::{Dispatch, JobBuffers, ShaderKind};
use crate::gpu::{GpuContext, GpuError, Reservation};
use crate::layer::ConvLayer;

/// One layer on one device: its buffers and its kernel's dispatches, made once.
#[derive(Debug)]
pub struct ConvJob {
    pub layer: ConvLayer,
    pub shader: ShaderKind,
    pub input: wgpu::Buffer,
    pub weight: wgpu::Buffer,
    pub bias: wgpu::Buffer,
    pub output: wgpu::Buffer,
    grid: [u32; 3],
    output_len: u64,
    /// The kernel's dispatches, in order (one, or a generated GEMM's pack and K slices).
    dispatches: Vec<Dispatch>,
    /// The texture a generated kernel binds (the GEMM's B; the GEMV's weight, written by [`ConvJob::upload`]).
    texture: Option<wgpu::Texture>,
    /// The job's buffers in the context's memory budget, given back when the job is dropped.
    reservation: Reservation,
    /// Seconds its generated kernels took to compile at their first dispatch, when this job compiled them (a job
    /// whose kernels another job compiled, or a fixed kernel's, has none).
    pub compile_s: Option<f64>,
}

impl ConvJob {
    /// Allocates the layer's buffers (the input may be another job's output, to chain layers on the device) and
    /// binds them to the chosen kernel, building its pipeline if no job has yet.
    pub fn new(
        ctx: &GpuContext,
        kernels: &ConvKernels,
        layer: &ConvLayer,
        shader: ShaderKind,
        input: Option<&wgpu::Buffer>,
    ) -> Result<ConvJob, GpuError> {
        let plan = JobPlan::with_tile(&ctx.summary, layer, shader, kernels.tiles().get(shader))?;
        let JobPlan {
            layer,
            input_bytes,
            weight_bytes,
            bias_bytes,
            output_bytes,
            grid,
            total,
            ..
        } = plan;
        check_chained_input(input, input_bytes)?;
        let reservation = ctx.memory.reserve(
            &format!("the {} kernel's buffers for {}", shader.name(), layer.describe()),
            plan.buffer_bytes(input.is_some()),
        )?;
        let output_len = u64::from(total);

        ctx.scoped("allocating the conv buffers", || {
            let storage = |label: &str, size: u64, extra| storage_buffer(ctx, label, size, extra);
            let params = params_buffer(ctx, "conv params", &ConvParams::new(&layer, total));
            let input = match input {
                Some(buffer) => buffer.clone(),
                None => storage("conv input", input_bytes, wgpu::BufferUsages::COPY_DST),
            };
            let weight = storage("conv weight", weight_bytes, wgpu::BufferUsages::COPY_DST);
            let bias = storage("conv bias", bias_bytes, wgpu::BufferUsages::COPY_DST);
            let output = storage("conv output", output_bytes, wgpu::BufferUsages::COPY_SRC);
            (params, input, weight, bias, output)
        })
        .and_then(|(params, input, weight, bias, output)| {
            let buffers = JobBuffers {
                params: &params,
                input: &input,
                weight: &weight,
                bias: &bias,
                output: &output,
            };
            let bound = shader.spec().bind(ctx, kernels, &plan, &buffers)?;
            if bound.dispatches.is_empty() {
                return Err(GpuError::KernelDoesNotApply {
                    shader: shader.name(),
                    reason: "its binding gave no dispatch".into(),
                });
            }
            let mut job = ConvJob {
                layer,
                shader,
                input,
                weight,
                bias,
                output,
                grid,
                output_len,
                dispatches: bound.dispatches,
                texture: bound.texture,
                reservation,
                compile_s: None,
            };
            job.compile_s = job.compile(ctx)?;
            Ok(job)
        })
    }

    /// Runs the job once when one of its generated kernels has never run: llvmpipe compiles a shader at its first
    /// dispatch, so this keeps compile time out of every timed sample, and records it on the kernel.
    fn compile(&self, ctx: &GpuContext) -> Result<Option<f64>, GpuError> {
        let fresh = |d: &Dispatch| d.kernel.generated && d.kernel.compile_time().is_none();
        if !self.dispatches.iter().any(fresh) {
            return Ok(None);
        }
        let start = Instant::now();
        Self::submit(ctx, |pass| self.encode_dispatches(pass))?;
        let seconds = start.elapsed().as_secs_f64();
        for d in self.dispatches.iter().filter(|d| d.kernel.generated) {
            d.kernel.record_compile(seconds);
        }
        Ok(Some(seconds))
    }

    /// The job's dispatches (one, or a generated GEMM's pack kernel then each K slice).
    pub fn dispatch_count(&self) -> usize {
        self.dispatches.len()
    }

    /// Submits dispatch `index` of the job alone and waits for it (to see where a multi-dispatch job's time goes).
    pub fn run_dispatch(&self, ctx: &GpuContext, index: usize) -> Result<(), GpuError> {
        let d = self.dispatches.get(index).ok_or_else(|| GpuError::KernelDoesNotApply {
            shader: self.shader.name(),
            reason: format!("it has {} dispatches, not {}", self.dispatches.len(), index + 1),
        })?;
        Self::submit(ctx, |pass| d.kernel.kernel.dispatch(pass, &d.bind_group, d.grid))
    }

    fn encode_dispatches(&self, pass: &mut wgpu::ComputePass<'_>) {
        for d in &self.dispatches {
            d.kernel.kernel.dispatch(pass, &d.bind_group, d.grid);
        }
    }

    /// One submission of `record` in a compute pass, waited for.
    fn submit(ctx: &GpuContext, record: impl FnOnce(&mut wgpu::ComputePass<'_>)) -> Result<(), GpuError> {
        ctx.scoped("running the conv", || {
            let mut encoder = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("conv") });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("conv"),
                    timestamp_writes: None,
                });
                record(&mut pass);
            }
            ctx.queue.submit([encoder.finish()]);
        })?;
        ctx.wait()
    }

    /// Copies the tensors into the job's buffers (`input` may be skipped for a chained job).
    pub fn upload(
        &self,
        ctx: &GpuContext,
        input: Option<&[f32]>,
        weight: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<(), GpuError> {
        let expect = expect_len;
        if let Some(input) = input {
            expect("input", input, self.layer.input_len())?;
            ctx.queue.write_buffer(&self.input, 0, bytemuck::cast_slice(input));
        }
        expect("weight", weight, self.layer.weight_len())?;
        let layout = self.shader.spec().weights();
        let prepared = layout.prepare(&self.layer, weight);
        match (layout.texture(&self.layer), &self.texture) {
            (None, _) => ctx.queue.write_buffer(&self.weight, 0, bytemuck::cast_slice(&prepared)),
            (Some(extent), Some(texture)) => ctx.queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d::ZERO,
                    aspect: wgpu::TextureAspect::All,
                },
                bytemuck::cast_slice(&prepared),
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(extent.width * 16),
                    rows_per_image: Some(extent.height),
                },
                extent,
            ),
            (Some(_), None) => {
                return Err(GpuError::Validation {
                    during: "uploading the weight".into(),
                    message: format!("the {} kernel bound no weight texture", self.shader.name()),
                })
            }
        }
        match (self.layer.bias, bias) {
            (true, Some(bias)) => {
                expect("bias", bias, Some(self.layer.bias_len()))?;
                ctx.queue.write_buffer(&self.bias, 0, bytemuck::cast_slice(bias));
            }
            (false, None) => {}
            (true, None) => {
                return Err(GpuError::DataLength {
                    what: "bias",
                    expected: self.layer.bias_len(),
                    got: 0,
                })
            }
            (false, Some(bias)) => {
                return Err(GpuError::DataLength {
                    what: "bias (the layer has none)",
                    expected: 0,
                    got: bias.len() as u64,
                })
            }
        }
        Ok(())
    }

    /// Records this job's dispatches into a compute pass (a generated GEMM's: the pack kernel's first). `kernels`
    /// is the set the job was made with; the job holds its pipelines.
    pub fn encode(&self, _kernels: &ConvKernels, pass: &mut wgpu::ComputePass<'_>) {
        self.encode_dispatches(pass);
    }

    /// Submits one dispatch and waits for it.
    pub fn run(&self, ctx: &GpuContext, kernels: &ConvKernels) -> Result<(), GpuError> {
        Self::submit(ctx, |pass| self.encode(kernels, pass))
    }

    /// The workgroup grid of the kernel's (main) dispatch.
    pub fn grid(&self) -> [u32; 3] {
        self.grid
    }

    /// Device bytes this job holds in the context's memory budget (its buffers; not a chained input).
    pub fn device_bytes(&self) -> u64 {
        self.reservation.bytes()
    }

    /// Reads the output tensor back to the host.
    pub fn read_output(&self, ctx: &GpuContext) -> Result<Vec<f32>, GpuError> {
        read_buffer(ctx, &self.output, self.output_len * 4)
    }
}
