//! The fused depthwise-separable kernel: a layer's depthwise 3×3 half and its pointwise 1×1 half in one dispatch
//! (`shaders/separable_fused_vec4.wgsl`), so the `C_in·H·W` intermediate never goes through memory.

use crate::gpu::conv::{
    check_chained_input, check_loop_steps, checked_buffer_bytes, expect_len, output_plan, pack_weights,
    packed_weight_len, params_buffer, proven_safe_checks, read_buffer, storage_buffer, ConvParams, ShaderKind, Tile,
};
use crate::gpu::kernel::{Access, Kernel};
use crate::gpu::{GpuContext, GpuError, Reservation};
use crate::layer::ConvLayer;

/// The kernel's name in errors and labels.
pub const FUSED_NAME: &str = "separable-fused-vec4";

/// `shaders/conv_params.wgsl` (the uniform block), `shaders/vec4_window.wgsl` (the sliding window), then the fused
/// kernel with its own bindings.
const SOURCE: &str = concat!(
    include_str!("../../shaders/conv_params.wgsl"),
    include_str!("../../shaders/vec4_window.wgsl"),
    include_str!("../../shaders/separable_fused_vec4.wgsl")
);

/// Bindings 1–5: input, packed depthwise weight, packed pointwise weight, pointwise bias, output.
const BINDINGS: [Access; 5] = [
    Access::Read,
    Access::Read,
    Access::Read,
    Access::Read,
    Access::ReadWrite,
];

/// f32 values of the packed depthwise weight per input channel: 3 rows and the bias, one vec4 each.
const DW_PACKED_PER_CHANNEL: u64 = 16;

/// Bytes of the uniform parameter block.
const PARAMS_BYTES: u64 = std::mem::size_of::<ConvParams>() as u64;

/// The fused depthwise 3×3 + pointwise 1×1 pipeline of one device, built once with one [`Tile`] (one pixel group
/// per invocation, `4·tile.channels` output channels, `tile.workgroup` invocations per workgroup).
#[derive(Debug)]
pub struct FusedSeparable {
    kernel: Kernel,
    tile: Tile,
}

impl FusedSeparable {
    /// Compiles the kernel with `tile`, which must have `pixels` 1 (the kernel computes one pixel group per
    /// invocation) and fit the register arrays and the adapter's workgroup limit ([`Tile::check`]).
    pub fn new(ctx: &GpuContext, tile: Tile) -> Result<FusedSeparable, GpuError> {
        if tile.pixels != 1 {
            return Err(GpuError::KernelDoesNotApply {
                shader: FUSED_NAME,
                reason: format!(
                    "tile {tile} has {} pixel groups per invocation; the fused kernel computes exactly 1",
                    tile.pixels
                ),
            });
        }
        let tile = tile.check(ctx.summary.max_compute_invocations_per_workgroup)?;
        let kernel = Kernel::with_options(
            ctx,
            FUSED_NAME,
            SOURCE,
            "main",
            &[("WORKGROUP_SIZE", tile.workgroup), ("TILE_CHANNELS", tile.channels)],
            &BINDINGS,
            proven_safe_checks(),
        )?;
        Ok(FusedSeparable { kernel, tile })
    }

    /// The tile the kernel was built with.
    pub fn tile(&self) -> Tile {
        self.tile
    }

    /// Ok when the fused kernel computes `layer`'s separable pair: `layer` is the standard layer (one group) whose
    /// depthwise half ([`ConvLayer::depthwise`]) is 3×3 with stride 1, padding 1 and dilation 1 and whose planes
    /// hold whole vec4 (H·W a multiple of 4), the rules of the depthwise and pointwise vec4 kernels.
    pub fn applies(layer: &ConvLayer) -> Result<(), GpuError> {
        let layer = layer.validated()?;
        let refuse = |reason: String| GpuError::KernelDoesNotApply {
            shader: FUSED_NAME,
            reason,
        };
        if layer.groups != 1 {
            return Err(refuse(format!(
                "it fuses the depthwise-separable pair of a standard layer, which needs groups 1, got groups {}",
                layer.groups
            )));
        }
        let half = |kind: ShaderKind, half_layer: &ConvLayer, which: &str| {
            kind.check(half_layer).map_err(|error| match error {
                GpuError::KernelDoesNotApply { reason, .. } => refuse(format!("its {which} half: {reason}")),
                other => other,
            })
        };
        half(ShaderKind::DepthwiseVec4, &layer.depthwise(), "depthwise")?;
        half(ShaderKind::PointwiseVec4, &layer.pointwise(), "pointwise")
    }

    /// The workgroup grid of one dispatch on `layer`: x covers the `N·H·W/4` pixel groups, y the `ceil(C_out/4)`
    /// channel groups in tiles of `tile.channels`; each within `max_per_dimension` workgroups.
    pub fn grid(&self, layer: &ConvLayer, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        let groups = u64::from(layer.batch) * (u64::from(layer.height) * u64::from(layer.width) / 4);
        let x = groups.div_ceil(u64::from(self.tile.workgroup.max(1)));
        let y = u64::from(layer.out_channels)
            .div_ceil(4)
            .div_ceil(u64::from(self.tile.channels.max(1)));
        let max = u64::from(max_per_dimension);
        for (needed, axis) in [(x, "pixel groups"), (y, "channel tiles")] {
            if needed > max {
                return Err(GpuError::Limit {
                    what: format!("the {FUSED_NAME} dispatch ({axis}, workgroups)"),
                    needed,
                    limit: "max_compute_workgroups_per_dimension",
                    available: max,
                });
            }
        }
        Ok([x as u32, y as u32, 1])
    }
}

/// One separable layer on one device for the fused kernel: its buffers, bind group and dispatch geometry, made
/// once and dispatched as often as needed.
#[derive(Debug)]
pub struct FusedJob<'k> {
    fused: &'k FusedSeparable,
    /// The standard layer whose separable pair the job computes (validated).
    pub layer: ConvLayer,
    /// The input tensor `[N, C_in, H, W]` (another job's buffer when chained).
    pub input: wgpu::Buffer,
    dw: wgpu::Buffer,
    pw: wgpu::Buffer,
    bias: wgpu::Buffer,
    /// The output tensor `[N, C_out, H, W]`.
    pub output: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    grid: [u32; 3],
    output_len: u64,
    /// The job's buffers in the context's memory budget, given back when the job is dropped.
    reservation: Reservation,
}

impl<'k> FusedJob<'k> {
    /// Checks `layer` against the kernel's rules, every buffer against the kernels' index range and the adapter's
    /// buffer limits and the grid against the workgroup limits, reserves the memory, then allocates the buffers
    /// (the input may be another job's output, to chain layers on the device) and binds them to `fused`.
    pub fn new(
        ctx: &GpuContext,
        fused: &'k FusedSeparable,
        layer: &ConvLayer,
        input: Option<&wgpu::Buffer>,
    ) -> Result<FusedJob<'k>, GpuError> {
        let layer = layer.validated()?;
        FusedSeparable::applies(&layer)?;
        let limits = &ctx.summary;
        let input_bytes = checked_buffer_bytes(limits, "input", layer.input_len())?;
        let dw_len = u64::from(layer.in_channels) * DW_PACKED_PER_CHANNEL;
        let dw_bytes = checked_buffer_bytes(limits, "packed depthwise weight", Some(dw_len))?;
        let pw_len = packed_weight_len(&layer.pointwise());
        let pw_bytes = checked_buffer_bytes(limits, "packed pointwise weight", pw_len)?;
        let bias_bytes = checked_buffer_bytes(limits, "pointwise bias", Some(layer.bias_len()))?;
        let (output_bytes, total) = output_plan(limits, &layer)?;
        let grid = fused.grid(&layer, limits.max_compute_workgroups_per_dimension)?;
        // The inner loops unroll; the loop over C_in is what llvmpipe counts.
        check_loop_steps(limits, FUSED_NAME, u64::from(layer.in_channels) + 1)?;
        check_chained_input(input, input_bytes)?;
        let own_input = if input.is_some() { 0 } else { input_bytes };
        let reservation = ctx.memory.reserve(
            &format!("the {FUSED_NAME} kernel's buffers for {}", layer.describe()),
            own_input + dw_bytes + pw_bytes + bias_bytes + output_bytes + PARAMS_BYTES,
        )?;
        let params_block = ConvParams::new(&layer, total);

        ctx.scoped("allocating the fused separable buffers", || {
            let storage = |label: &str, size: u64, extra| storage_buffer(ctx, label, size, extra);
            let params = params_buffer(ctx, "fused separable params", &params_block);
            let input = match input {
                Some(buffer) => buffer.clone(),
                None => storage("fused separable input", input_bytes, wgpu::BufferUsages::COPY_DST),
            };
            let dw = storage("fused separable dw", dw_bytes, wgpu::BufferUsages::COPY_DST);
            let pw = storage("fused separable pw", pw_bytes, wgpu::BufferUsages::COPY_DST);
            let bias = storage("fused separable bias", bias_bytes, wgpu::BufferUsages::COPY_DST);
            let output = storage("fused separable output", output_bytes, wgpu::BufferUsages::COPY_SRC);
            (params, input, dw, pw, bias, output)
        })
        .and_then(|(params, input, dw, pw, bias, output)| {
            let bind_group = fused.kernel.bind(ctx, &params, &[&input, &dw, &pw, &bias, &output])?;
            Ok(FusedJob {
                fused,
                layer,
                input,
                dw,
                pw,
                bias,
                output,
                bind_group,
                grid,
                output_len: u64::from(total),
                reservation,
            })
        })
    }

    /// Checks every tensor's length, then copies them into the job's buffers (`input` may be skipped for a chained
    /// job): `dw_weight` OIHW `[C_in, 1, 3, 3]`, `dw_bias` `[C_in]`, `pw_weight` OIHW `[C_out, C_in, 1, 1]`,
    /// `pw_bias` `[C_out]`; both biases are given exactly when the layer has a bias.
    pub fn upload(
        &self,
        ctx: &GpuContext,
        input: Option<&[f32]>,
        dw_weight: &[f32],
        dw_bias: Option<&[f32]>,
        pw_weight: &[f32],
        pw_bias: Option<&[f32]>,
    ) -> Result<(), GpuError> {
        let layer = &self.layer;
        let expect = expect_len;
        let bias = |what, what_none, data: Option<&[f32]>, expected: u64| match (layer.bias, data) {
            (true, Some(data)) => expect(what, data, Some(expected)),
            (false, None) => Ok(()),
            (true, None) => Err(GpuError::DataLength { what, expected, got: 0 }),
            (false, Some(data)) => Err(GpuError::DataLength {
                what: what_none,
                expected: 0,
                got: data.len() as u64,
            }),
        };
        // Every length first, so a wrong tensor leaves the buffers untouched.
        if let Some(input) = input {
            expect("input", input, layer.input_len())?;
        }
        let depthwise = layer.depthwise();
        let pointwise = layer.pointwise();
        expect("depthwise weight", dw_weight, depthwise.weight_len())?;
        bias(
            "depthwise bias",
            "depthwise bias (the layer has none)",
            dw_bias,
            u64::from(layer.in_channels),
        )?;
        expect("pointwise weight", pw_weight, pointwise.weight_len())?;
        bias(
            "pointwise bias",
            "pointwise bias (the layer has none)",
            pw_bias,
            u64::from(layer.out_channels),
        )?;

        if let Some(input) = input {
            ctx.queue.write_buffer(&self.input, 0, bytemuck::cast_slice(input));
        }
        let dw = pack_depthwise(dw_weight, dw_bias);
        ctx.queue.write_buffer(&self.dw, 0, bytemuck::cast_slice(&dw));
        let pw = pack_weights(&pointwise, pw_weight);
        ctx.queue.write_buffer(&self.pw, 0, bytemuck::cast_slice(&pw));
        if let Some(pw_bias) = pw_bias {
            ctx.queue.write_buffer(&self.bias, 0, bytemuck::cast_slice(pw_bias));
        }
        Ok(())
    }

    /// Records this job's dispatch into a compute pass.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.fused.kernel.dispatch(pass, &self.bind_group, self.grid);
    }

    /// Submits one dispatch and waits for it.
    pub fn run(&self, ctx: &GpuContext) -> Result<(), GpuError> {
        ctx.scoped("running the fused separable conv", || {
            let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some(FUSED_NAME),
            });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(FUSED_NAME),
                    timestamp_writes: None,
                });
                self.encode(&mut pass);
            }
            ctx.queue.submit([encoder.finish()]);
        })?;
        ctx.wait()
    }

    /// The workgroup grid of the dispatch.
    pub fn grid(&self) -> [u32; 3] {
        self.grid
    }

    /// The tile of the kernel the job dispatches.
    pub fn tile(&self) -> Tile {
        self.fused.tile()
    }

    /// Device bytes this job holds in the context's memory budget (its buffers; not a chained input).
    pub fn device_bytes(&self) -> u64 {
        self.reservation.bytes()
    }

    /// Reads the output tensor `[N, C_out, H, W]` back to the host.
    pub fn read_output(&self, ctx: &GpuContext) -> Result<Vec<f32>, GpuError> {
        read_buffer(ctx, &self.output, self.output_len * 4)
    }
}

/// The depthwise weight `[C_in, 1, 3, 3]` and bias as the kernel reads them: per channel 4 vec4, the rows
/// `(w[ky][0], w[ky][1], w[ky][2], 0)` for ky = 0, 1, 2, then `(bias or 0, 0, 0, 0)`.
fn pack_depthwise(weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let mut packed = Vec::with_capacity(weight.len() / 9 * DW_PACKED_PER_CHANNEL as usize);
    for (channel, taps) in weight.chunks_exact(9).enumerate() {
        for row in taps.chunks_exact(3) {
            packed.extend_from_slice(row);
            packed.push(0.0);
        }
        let b = bias.and_then(|b| b.get(channel)).copied().unwrap_or(0.0);
        packed.extend_from_slice(&[b, 0.0, 0.0, 0.0]);
    }
    packed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depthwise_weights_pack_as_rows_and_bias() {
        let weight: Vec<f32> = (0..18).map(|v| v as f32).collect();
        let packed = pack_depthwise(&weight, Some(&[100.0, 200.0]));
        #[rustfmt::skip]
        let want = [
            0.0, 1.0, 2.0, 0.0, 3.0, 4.0, 5.0, 0.0, 6.0, 7.0, 8.0, 0.0, 100.0, 0.0, 0.0, 0.0,
            9.0, 10.0, 11.0, 0.0, 12.0, 13.0, 14.0, 0.0, 15.0, 16.0, 17.0, 0.0, 200.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(packed, want);
        assert!(pack_depthwise(&weight, None).chunks_exact(16).all(|c| c[12] == 0.0));
    }

    #[test]
    fn applies_names_the_rule() {
        assert!(FusedSeparable::applies(&ConvLayer::default()).is_ok());
        let stride = ConvLayer {
            stride: [2, 2],
            ..ConvLayer::default()
        };
        let error = FusedSeparable::applies(&stride).unwrap_err().to_string();
        assert!(error.contains(FUSED_NAME) && error.contains("stride 1"), "{error}");
        let grouped = ConvLayer {
            groups: 2,
            ..ConvLayer::default()
        };
        let error = FusedSeparable::applies(&grouped).unwrap_err().to_string();
        assert!(error.contains("groups 1"), "{error}");
        let odd = ConvLayer {
            height: 5,
            width: 3,
            ..ConvLayer::default()
        };
        let error = FusedSeparable::applies(&odd).unwrap_err().to_string();
        assert!(error.contains("H·W a multiple of 4"), "{error}");
    }
}
