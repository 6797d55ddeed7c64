//! [`JobPlan`]: everything one conv job needs, worked out from the layer, the kernel's registry entry and the
//! adapter's limits before anything is allocated, and the limits it checks.

use crate::gpu::conv::params::PARAMS_BYTES;
use crate::gpu::kernels::{ShaderKind, Tile, TileTable};
use crate::gpu::{AdapterSummary, GpuError};
use crate::layer::ConvLayer;

/// `Ok` when `data` holds exactly `expected` values (`None`: more than fit in u64), else the `DataLength` error
/// naming `what`.
pub(crate) fn expect_len(what: &'static str, data: &[f32], expected: Option<u64>) -> Result<(), GpuError> {
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
}

/// The output buffer's bytes and the kernels' `total` (output elements, u32), checked against the index range and
/// the adapter's buffer limits.
pub(crate) fn output_plan(limits: &AdapterSummary, layer: &ConvLayer) -> Result<(u64, u32), GpuError> {
    let output_len = layer.output_len().unwrap_or(u64::MAX);
    let output_bytes = checked_buffer_bytes(limits, "output", Some(output_len))?;
    let total = u32::try_from(output_len).map_err(|_| GpuError::ShaderRange {
        what: "the output tensor".into(),
        needed: output_len,
        unit: "elements",
        range: "index range (u32 indices)",
        available: MAX_SHADER_ELEMENTS,
    })?;
    Ok((output_bytes, total))
}

/// On llvmpipe, refuses a kernel whose invocations would take more than [`LLVMPIPE_MAX_LOOP_STEPS`] loop steps.
pub(crate) fn check_loop_steps(limits: &AdapterSummary, shader: &'static str, steps: u64) -> Result<(), GpuError> {
    if limits.name.to_lowercase().contains("llvmpipe") && steps > LLVMPIPE_MAX_LOOP_STEPS {
        return Err(GpuError::LoopLimit {
            shader,
            needed: steps,
            available: LLVMPIPE_MAX_LOOP_STEPS,
        });
    }
    Ok(())
}

/// Ok when a chained input buffer (another job's output) holds at least `input_bytes`.
pub(crate) fn check_chained_input(input: Option<&wgpu::Buffer>, input_bytes: u64) -> Result<(), GpuError> {
    match input {
        Some(buffer) if buffer.size() < input_bytes => Err(GpuError::DataLength {
            what: "chained input buffer (bytes)",
            expected: input_bytes,
            got: buffer.size(),
        }),
        _ => Ok(()),
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

/// Bytes of `elements` f32 values (at least 4: wgpu has no empty bindings), checked against the kernels' index range
/// and the adapter's buffer limits.
pub(crate) fn checked_buffer_bytes(
    limits: &AdapterSummary,
    what: &str,
    elements: Option<u64>,
) -> Result<u64, GpuError> {
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
    /// The tile of a tunable kernel.
    pub tile: Option<Tile>,
    /// Bytes of the texture a generated kernel binds (the GEMM's B, the GEMV's weight; 0 for the others).
    pub texture_bytes: u64,
}

impl JobPlan {
    /// [`JobPlan::with_tile`] with the built-in tile of a tunable kernel ([`TileTable::default`]).
    pub fn new(limits: &AdapterSummary, layer: &ConvLayer, shader: ShaderKind) -> Result<JobPlan, GpuError> {
        Self::with_tile(limits, layer, shader, TileTable::default().get(shader))
    }

    /// Checks `layer` for `shader` (built with `tile`, for a tunable kernel) on an adapter with `limits`: the layer's
    /// validity, the kernel's applicability, every tensor against the kernels' index range and the adapter's buffer
    /// limits, the padded extents against the kernels' coordinate range, the dispatch against the workgroup
    /// limits, and the kernel's workgroup size and workgroup memory against the adapter's.
    pub fn with_tile(
        limits: &AdapterSummary,
        layer: &ConvLayer,
        shader: ShaderKind,
        tile: Option<Tile>,
    ) -> Result<JobPlan, GpuError> {
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
        let spec = shader.spec();
        let input_bytes = checked_buffer_bytes(limits, "input", layer.input_len())?;
        let weight_bytes = checked_buffer_bytes(limits, "weight", spec.weights().buffer_len(&layer))?;
        let bias_bytes = checked_buffer_bytes(limits, "bias", Some(layer.bias_len()))?;
        let (output_bytes, total) = output_plan(limits, &layer)?;
        let tile = match tile {
            Some(tile) if shader.is_tunable() => Some(tile.check(limits.max_compute_invocations_per_workgroup)?),
            _ => None,
        };
        let grid = shader.grid(&layer, tile, limits.max_compute_workgroups_per_dimension)?;
        check_loop_steps(limits, shader.name(), shader.loop_steps(&layer))?;
        let device_limits = [
            (
                "invocations per workgroup",
                u64::from(spec.workgroup_size(&layer, tile)),
                "max_compute_invocations_per_workgroup",
                limits.max_compute_invocations_per_workgroup,
            ),
            (
                "workgroup memory, bytes",
                spec.workgroup_storage_bytes(&layer),
                "max_compute_workgroup_storage_size",
                limits.max_compute_workgroup_storage_size,
            ),
        ];
        for (what, needed, limit, available) in device_limits {
            if needed > u64::from(available) {
                return Err(GpuError::Limit {
                    what: format!("the {} kernel on {} ({what})", shader.name(), layer.describe()),
                    needed,
                    limit,
                    available: u64::from(available),
                });
            }
        }
        let texture_bytes = spec.texture_bytes(&layer);
        Ok(JobPlan {
            layer,
            shader,
            input_bytes,
            weight_bytes,
            bias_bytes,
            output_bytes,
            grid,
            total,
            tile,
            texture_bytes,
        })
    }

    /// Invocations per workgroup of the plan's kernel.
    pub fn workgroup_size(&self) -> u32 {
        self.shader.spec().workgroup_size(&self.layer, self.tile)
    }

    /// Device bytes the job allocates: its input (unless it reads another job's buffer), weight, bias, output,
    /// parameter block and (a generated GEMM) B texture.
    pub fn buffer_bytes(&self, chained_input: bool) -> u64 {
        let input = if chained_input { 0 } else { self.input_bytes };
        input + self.weight_bytes + self.bias_bytes + self.output_bytes + PARAMS_BYTES + self.texture_bytes
    }

    /// Device bytes of the staging buffer that reads the output back.
    pub fn readback_bytes(&self) -> u64 {
        self.output_bytes
    }
}
