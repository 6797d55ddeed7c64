//! The conv kernels built on [`Kernel`]: standard (grouped), depthwise and pointwise, and [`ConvJob`], one layer's
//! buffers and bind group, created once and dispatched as often as needed.

use bytemuck::{Pod, Zeroable};

use crate::gpu::kernel::{self, Access, Checks, Kernel};
use crate::gpu::{AdapterSummary, GpuContext, GpuError, Reservation};
use crate::layer::ConvLayer;

/// Invocations per workgroup of the naive kernels.
pub const WORKGROUP_SIZE: u32 = 64;

/// Which WGSL program computes a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShaderKind {
    /// `shaders/conv2d.wgsl`: any layer; one output per invocation (the naive reference variant).
    Conv2d,
    /// `shaders/conv2d_tiled.wgsl`: any layer; implicit GEMM with a 4×4 register tile per invocation.
    Conv2dTiled,
    /// `shaders/depthwise.wgsl`: groups = C_in = C_out; one output per invocation (the naive reference variant).
    Depthwise,
    /// `shaders/depthwise_tiled.wgsl`: groups = C_in = C_out; 4 outputs per invocation on a 3-D grid.
    DepthwiseTiled,
    /// `shaders/pointwise.wgsl`: 1×1 kernel, stride 1, no padding, one group.
    Pointwise,
}

impl ShaderKind {
    pub const ALL: [ShaderKind; 5] = [
        ShaderKind::Conv2d,
        ShaderKind::Conv2dTiled,
        ShaderKind::Depthwise,
        ShaderKind::DepthwiseTiled,
        ShaderKind::Pointwise,
    ];

    /// The workgroup grid of one dispatch of this kernel on `layer`, within `max_per_dimension` workgroups per
    /// dimension.
    pub fn grid(self, layer: &ConvLayer, workgroup_size: u32, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        match self {
            ShaderKind::Conv2dTiled => {
                // x: pixel tiles of 4 outputs; y: channel tiles of 8 output channels, per group.
                let pixels = u64::from(layer.batch) * u64::from(layer.out_height()) * u64::from(layer.out_width());
                let x = pixels.div_ceil(4).div_ceil(u64::from(workgroup_size.max(1)));
                let y = u64::from(layer.out_channels_per_group()).div_ceil(8) * u64::from(layer.groups);
                let max = u64::from(max_per_dimension);
                for (needed, axis) in [(x, "pixel tiles"), (y, "channel tiles")] {
                    if needed > max {
                        return Err(GpuError::Limit {
                            what: format!("the conv2d-tiled dispatch ({axis}, workgroups)"),
                            needed,
                            limit: "max_compute_workgroups_per_dimension",
                            available: max,
                        });
                    }
                }
                Ok([x as u32, y as u32, 1])
            }
            ShaderKind::DepthwiseTiled => {
                // x: groups of 4 invocations × 4 columns; y: workgroup_size / 4 rows; z: image planes n·C + c.
                let x = u64::from(layer.out_width()).div_ceil(16);
                let y = u64::from(layer.out_height()).div_ceil(u64::from(workgroup_size / 4).max(1));
                let z = u64::from(layer.batch) * u64::from(layer.in_channels);
                let max = u64::from(max_per_dimension);
                for (needed, axis) in [(x, "columns"), (y, "rows"), (z, "batch × channels")] {
                    if needed > max {
                        return Err(GpuError::Limit {
                            what: format!("the depthwise-tiled dispatch ({axis}, workgroups)"),
                            needed,
                            limit: "max_compute_workgroups_per_dimension",
                            available: max,
                        });
                    }
                }
                Ok([x as u32, y as u32, z as u32])
            }
            _ => kernel::grid(
                layer.output_len().unwrap_or(u64::MAX),
                workgroup_size,
                max_per_dimension,
                self.name(),
            ),
        }
    }

    /// Loop steps one invocation of this kernel takes on `layer`: every iteration of every loop it runs, the outer
    /// loops counted once per iteration (`C_in/groups · (1 + kh · (1 + kw))` for the general kernels).
    pub fn loop_steps(self, layer: &ConvLayer) -> u64 {
        // Saturating: a layer far beyond every limit still gets an answer.
        let window = u64::from(layer.kernel[0])
            .saturating_mul(1 + u64::from(layer.kernel[1]))
            .saturating_add(1);
        let general = u64::from(layer.in_channels_per_group()).saturating_mul(window);
        match self {
            ShaderKind::Conv2d => general,
            // Plus the stores: 8 channels × 4 pixels.
            ShaderKind::Conv2dTiled => general.saturating_add(32),
            ShaderKind::Depthwise => window,
            ShaderKind::DepthwiseTiled => window.saturating_add(4),
            ShaderKind::Pointwise => u64::from(layer.in_channels) + 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ShaderKind::Conv2d => "conv2d",
            ShaderKind::Conv2dTiled => "conv2d-tiled",
            ShaderKind::Depthwise => "depthwise",
            ShaderKind::DepthwiseTiled => "depthwise-tiled",
            ShaderKind::Pointwise => "pointwise",
        }
    }

    /// The default (tiled) kernel for the layer's shape.
    pub fn for_layer(layer: &ConvLayer) -> ShaderKind {
        Variant::Tiled.shader_for(layer)
    }

    /// Every kernel that can compute the layer.
    pub fn applicable(layer: &ConvLayer) -> Vec<ShaderKind> {
        ShaderKind::ALL
            .into_iter()
            .filter(|kind| kind.check(layer).is_ok())
            .collect()
    }

    /// Ok when this kernel computes the layer correctly.
    pub fn check(self, layer: &ConvLayer) -> Result<(), GpuError> {
        let refuse = |reason: String| {
            Err(GpuError::KernelDoesNotApply {
                shader: self.name(),
                reason,
            })
        };
        match self {
            ShaderKind::Conv2d | ShaderKind::Conv2dTiled => Ok(()),
            ShaderKind::Depthwise | ShaderKind::DepthwiseTiled if !layer.is_depthwise() => refuse(format!(
                "it needs groups = C_in = C_out, got groups {}, C_in {}, C_out {}",
                layer.groups, layer.in_channels, layer.out_channels
            )),
            ShaderKind::Pointwise if !layer.is_pointwise() => refuse(format!(
                "it needs a 1×1 kernel, stride 1, padding 0 and groups 1, got kernel {}×{}, stride {}×{}, padding {}×{}, groups {}",
                layer.kernel[0], layer.kernel[1], layer.stride[0], layer.stride[1], layer.padding[0], layer.padding[1], layer.groups
            )),
            _ => Ok(()),
        }
    }
}

/// A family of kernels: the naive reference kernels (one output per invocation) or the tiled ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Variant {
    Naive,
    #[default]
    Tiled,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Naive => "naive",
            Variant::Tiled => "tiled",
        }
    }

    /// The kernel of this family for `layer`: depthwise layers get the depthwise kernel, 1×1 layers the pointwise
    /// kernel (naive) or the tiled GEMM, everything else the general conv.
    pub fn shader_for(self, layer: &ConvLayer) -> ShaderKind {
        match (self, layer.is_depthwise(), layer.is_pointwise()) {
            (Variant::Naive, true, _) => ShaderKind::Depthwise,
            (Variant::Naive, false, true) => ShaderKind::Pointwise,
            (Variant::Naive, false, false) => ShaderKind::Conv2d,
            (Variant::Tiled, true, _) => ShaderKind::DepthwiseTiled,
            (Variant::Tiled, false, _) => ShaderKind::Conv2dTiled,
        }
    }
}

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
    fn new(layer: &ConvLayer, total: u32) -> Self {
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

/// The three conv pipelines of one device, compiled once.
#[derive(Debug)]
pub struct ConvKernels {
    conv2d: Kernel,
    conv2d_tiled: Kernel,
    depthwise: Kernel,
    depthwise_tiled: Kernel,
    pointwise: Kernel,
}

/// A conv shader's source: `shaders/conv_common.wgsl` (the shared uniform block and bindings) followed by the
/// shader's own file.
macro_rules! conv_source {
    ($name:literal) => {
        concat!(
            include_str!("../../shaders/conv_common.wgsl"),
            include_str!(concat!("../../shaders/", $name, ".wgsl"))
        )
    };
}

const CONV_BINDINGS: [Access; 4] = [Access::Read, Access::Read, Access::Read, Access::ReadWrite];

impl ConvKernels {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        let build = |label, source, checks| Kernel::new(ctx, label, source, &CONV_BINDINGS, WORKGROUP_SIZE, checks);
        // The tiled kernels clamp every index by construction and run without naga's runtime checks, unless
        // CONVFLOPS_RUNTIME_CHECKS=1 asks for them (to rule the checks out when a result looks wrong).
        let forced = std::env::var("CONVFLOPS_RUNTIME_CHECKS").is_ok_and(|v| v == "1");
        let tiled_checks = if forced { Checks::Runtime } else { Checks::ProvenSafe };
        Ok(ConvKernels {
            conv2d: build("conv2d", conv_source!("conv2d"), Checks::Runtime)?,
            conv2d_tiled: build("conv2d-tiled", conv_source!("conv2d_tiled"), tiled_checks)?,
            depthwise: build("depthwise", conv_source!("depthwise"), Checks::Runtime)?,
            depthwise_tiled: build("depthwise-tiled", conv_source!("depthwise_tiled"), tiled_checks)?,
            pointwise: build("pointwise", conv_source!("pointwise"), Checks::Runtime)?,
        })
    }

    pub fn get(&self, kind: ShaderKind) -> &Kernel {
        match kind {
            ShaderKind::Conv2d => &self.conv2d,
            ShaderKind::Conv2dTiled => &self.conv2d_tiled,
            ShaderKind::Depthwise => &self.depthwise,
            ShaderKind::DepthwiseTiled => &self.depthwise_tiled,
            ShaderKind::Pointwise => &self.pointwise,
        }
    }
}

/// The most elements a tensor may have: the kernels index with u32 and their flat invocation index may overshoot the
/// last output by up to a row of workgroups, so tensors stay below 2^31 and no index expression wraps.
pub const MAX_SHADER_ELEMENTS: u64 = i32::MAX as u64;

/// The largest padded extent (`size + 2·padding`) along an axis: the kernels compute input coordinates in i32.
pub const MAX_SHADER_COORDINATE: u64 = i32::MAX as u64;

/// Loop steps one invocation may take on llvmpipe (lavapipe's and Mesa GL's CPU rasteriser). llvmpipe ends every
/// shader invocation's loops after 65 535 iterations shared between all its loops (`LP_MAX_TGSI_LOOP_ITERATIONS`)
/// and then silently returns a partial sum; measured, our kernels' outputs go wrong from about 33 000 of the steps
/// [`ShaderKind::loop_steps`] counts (3×3 standard conv: C_in ≈ 4 000; 1×1: C_in ≈ 11 000). Half the limiter stays
/// safely below every case measured.
pub const LLVMPIPE_MAX_LOOP_STEPS: u64 = 32_767;

/// Bytes of the uniform parameter block of one job.
const PARAMS_BYTES: u64 = std::mem::size_of::<ConvParams>() as u64;

/// Bytes of `elements` f32 values (at least 4: wgpu has no empty bindings), checked against the kernels' index range
/// and the adapter's buffer limits.
fn checked_buffer_bytes(limits: &AdapterSummary, what: &str, elements: Option<u64>) -> Result<u64, GpuError> {
    let elements = elements.unwrap_or(u64::MAX);
    if elements > MAX_SHADER_ELEMENTS {
        return Err(GpuError::ShaderRange {
            what: format!("the {what} tensor"),
            needed: elements,
            unit: "elements",
            range: "index range (u32 indices)",
            available: MAX_SHADER_ELEMENTS,
        });
    }
    let bytes = (elements * 4).max(4);
    let limits = [
        (
            "max_storage_buffer_binding_size",
            limits.max_storage_buffer_binding_size,
        ),
        ("max_buffer_size", limits.max_buffer_size),
    ];
    for (limit, available) in limits {
        if bytes > available {
            return Err(GpuError::BufferLimit {
                what: format!("the {what} buffer"),
                needed: bytes,
                limit,
                available,
            });
        }
    }
    Ok(bytes)
}

/// Everything one conv job needs, worked out from the layer and the adapter's limits before anything is allocated:
/// each limit is checked here, so wgpu never sees a buffer or a dispatch it would refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobPlan {
    pub layer: ConvLayer,
    pub shader: ShaderKind,
    pub input_bytes: u64,
    pub weight_bytes: u64,
    pub bias_bytes: u64,
    pub output_bytes: u64,
    /// The workgroup grid of one dispatch.
    pub grid: [u32; 3],
    /// Output elements (the kernels' `total`).
    pub total: u32,
}

impl JobPlan {
    /// Checks `layer` for `shader` on an adapter with `limits`: the layer's validity, the kernel's applicability,
    /// every tensor against the kernels' index range and the adapter's buffer limits, the padded extents against
    /// the kernels' coordinate range, and the dispatch against the workgroup limits.
    pub fn new(limits: &AdapterSummary, layer: &ConvLayer, shader: ShaderKind) -> Result<JobPlan, GpuError> {
        let layer = layer.validated()?;
        shader.check(&layer)?;
        for (axis, size, padding) in [
            ("height", layer.height, layer.padding[0]),
            ("width", layer.width, layer.padding[1]),
        ] {
            let extent = u64::from(size) + 2 * u64::from(padding);
            if extent > MAX_SHADER_COORDINATE {
                return Err(GpuError::ShaderRange {
                    what: format!("the padded {axis} (--{axis} {size} + 2 × --padding {padding})"),
                    needed: extent,
                    unit: "pixels",
                    range: "coordinate range (i32 coordinates)",
                    available: MAX_SHADER_COORDINATE,
                });
            }
        }
        let input_bytes = checked_buffer_bytes(limits, "input", layer.input_len())?;
        let weight_bytes = checked_buffer_bytes(limits, "weight", layer.weight_len())?;
        let bias_bytes = checked_buffer_bytes(limits, "bias", Some(layer.bias_len()))?;
        let output_len = layer.output_len().unwrap_or(u64::MAX);
        let output_bytes = checked_buffer_bytes(limits, "output", Some(output_len))?;
        let total = u32::try_from(output_len).map_err(|_| GpuError::ShaderRange {
            what: "the output tensor".into(),
            needed: output_len,
            unit: "elements",
            range: "index range (u32 indices)",
            available: MAX_SHADER_ELEMENTS,
        })?;
        let grid = shader.grid(&layer, WORKGROUP_SIZE, limits.max_compute_workgroups_per_dimension)?;
        let steps = shader.loop_steps(&layer);
        if limits.name.to_lowercase().contains("llvmpipe") && steps > LLVMPIPE_MAX_LOOP_STEPS {
            return Err(GpuError::LoopLimit {
                shader: shader.name(),
                needed: steps,
                available: LLVMPIPE_MAX_LOOP_STEPS,
            });
        }
        Ok(JobPlan {
            layer,
            shader,
            input_bytes,
            weight_bytes,
            bias_bytes,
            output_bytes,
            grid,
            total,
        })
    }

    /// Device bytes the job allocates: its input (unless it reads another job's buffer), weight, bias, output and
    /// parameter block.
    pub fn buffer_bytes(&self, chained_input: bool) -> u64 {
        let input = if chained_input { 0 } else { self.input_bytes };
        input + self.weight_bytes + self.bias_bytes + self.output_bytes + PARAMS_BYTES
    }

    /// Device bytes of the staging buffer that reads the output back.
    pub fn readback_bytes(&self) -> u64 {
        self.output_bytes
    }
}

/// One layer on one device: its buffers, bind group and dispatch geometry, made once.
#[derive(Debug)]
pub struct ConvJob {
    pub layer: ConvLayer,
    pub shader: ShaderKind,
    pub input: wgpu::Buffer,
    pub weight: wgpu::Buffer,
    pub bias: wgpu::Buffer,
    pub output: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    grid: [u32; 3],
    output_len: u64,
    /// The job's buffers in the context's memory budget, given back when the job is dropped.
    reservation: Reservation,
}

impl ConvJob {
    /// Allocates the layer's buffers (the input may be another job's output, to chain layers on the device) and
    /// binds them to the chosen kernel.
    pub fn new(
        ctx: &GpuContext,
        kernels: &ConvKernels,
        layer: &ConvLayer,
        shader: ShaderKind,
        input: Option<&wgpu::Buffer>,
    ) -> Result<ConvJob, GpuError> {
        let plan = JobPlan::new(&ctx.summary, layer, shader)?;
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
        if let Some(buffer) = input {
            if buffer.size() < input_bytes {
                return Err(GpuError::DataLength {
                    what: "chained input buffer (bytes)",
                    expected: input_bytes,
                    got: buffer.size(),
                });
            }
        }
        let reservation = ctx.memory.reserve(
            &format!("the {} kernel's buffers for {}", shader.name(), layer.describe()),
            plan.buffer_bytes(input.is_some()),
        )?;
        let kernel = kernels.get(shader);
        if kernel.workgroup_size != WORKGROUP_SIZE {
            return Err(GpuError::KernelDoesNotApply {
                shader: shader.name(),
                reason: format!(
                    "its pipeline was built with {} invocations per workgroup, the plan assumes {WORKGROUP_SIZE}",
                    kernel.workgroup_size
                ),
            });
        }
        let output_len = u64::from(total);

        ctx.scoped("allocating the conv buffers", || {
            let storage = |label: &str, size: u64, extra: wgpu::BufferUsages| {
                ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size,
                    usage: wgpu::BufferUsages::STORAGE | extra,
                    mapped_at_creation: false,
                })
            };
            // Not `create_buffer_init`: it maps the buffer at creation and panics when the device is lost.
            let params = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("conv params"),
                size: PARAMS_BYTES,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            ctx.queue
                .write_buffer(&params, 0, bytemuck::bytes_of(&ConvParams::new(&layer, total)));
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
            let bind_group = kernel.bind(ctx, &params, &[&input, &weight, &bias, &output])?;
            Ok(ConvJob {
                layer,
                shader,
                input,
                weight,
                bias,
                output,
                bind_group,
                grid,
                output_len,
                reservation,
            })
        })
    }

    /// Copies the tensors into the job's buffers (`input` may be skipped for a chained job).
    pub fn upload(
        &self,
        ctx: &GpuContext,
        input: Option<&[f32]>,
        weight: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<(), GpuError> {
        let expect = |what, data: &[f32], expected: Option<u64>| {
            let expected = expected.unwrap_or(u64::MAX);
            if data.len() as u64 == expected {
                Ok(())
            } else {
                Err(GpuError::DataLength {
                    what,
                    expected,
                    got: data.len() as u64,
                })
            }
        };
        if let Some(input) = input {
            expect("input", input, self.layer.input_len())?;
            ctx.queue.write_buffer(&self.input, 0, bytemuck::cast_slice(input));
        }
        expect("weight", weight, self.layer.weight_len())?;
        ctx.queue.write_buffer(&self.weight, 0, bytemuck::cast_slice(weight));
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

    /// Records this job's dispatch into a compute pass.
    pub fn encode(&self, kernels: &ConvKernels, pass: &mut wgpu::ComputePass<'_>) {
        kernels.get(self.shader).dispatch(pass, &self.bind_group, self.grid);
    }

    /// Submits one dispatch and waits for it.
    pub fn run(&self, ctx: &GpuContext, kernels: &ConvKernels) -> Result<(), GpuError> {
        ctx.scoped("running the conv", || {
            let mut encoder = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("conv") });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("conv"),
                    timestamp_writes: None,
                });
                self.encode(kernels, &mut pass);
            }
            ctx.queue.submit([encoder.finish()]);
        })?;
        ctx.wait()
    }

    /// The workgroup grid of the dispatch.
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
