//! Pieces the kernels' shape rules and grids share: the geometry a refusal quotes, the vec4 plane test, the
//! per-dimension dispatch limit.

use crate::gpu::GpuError;
use crate::layer::ConvLayer;

/// The geometry a kernel's shape rules look at, for a refusal: `groups 1, kernel 3×3, stride 2×2, padding 1×1,
/// dilation 1×1, 14×14 → 7×7`.
pub fn geometry(layer: &ConvLayer) -> String {
    format!(
        "groups {}, kernel {}×{}, stride {}×{}, padding {}×{}, dilation {}×{}, {}×{} → {}×{}",
        layer.groups,
        layer.kernel[0],
        layer.kernel[1],
        layer.stride[0],
        layer.stride[1],
        layer.padding[0],
        layer.padding[1],
        layer.dilation[0],
        layer.dilation[1],
        layer.height,
        layer.width,
        layer.out_height(),
        layer.out_width()
    )
}

/// Whether an `height`×`width` plane splits into whole vec4 groups.
pub fn plane_of_vec4(height: u32, width: u32) -> bool {
    (u64::from(height) * u64::from(width)).is_multiple_of(4)
}

/// The refusal of a depthwise kernel on a layer that is not depthwise, else Ok.
pub fn depthwise_only(layer: &ConvLayer) -> Result<(), String> {
    if layer.is_depthwise() {
        Ok(())
    } else {
        Err(format!(
            "it needs groups = C_in = C_out, got groups {}, C_in {}, C_out {}",
            layer.groups, layer.in_channels, layer.out_channels
        ))
    }
}

/// The refusal of a kernel for 1×1 convs of any stride (a pointwise conv on a subsampled input, such as ResNet's
/// strided downsamples) on a layer that is not one: it needs a 1×1 kernel, padding 0 and one group, else Ok.
pub fn one_by_one_only(layer: &ConvLayer) -> Result<(), String> {
    if layer.is_unpadded_one_by_one() {
        Ok(())
    } else {
        Err(format!(
            "it needs a 1×1 kernel, padding 0 and groups 1 (any stride), got kernel {}×{}, padding {}×{}, groups {}",
            layer.kernel[0], layer.kernel[1], layer.padding[0], layer.padding[1], layer.groups
        ))
    }
}

/// The refusal of a pointwise kernel on a layer that is not pointwise, else Ok.
pub fn pointwise_only(layer: &ConvLayer) -> Result<(), String> {
    if layer.is_pointwise() {
        Ok(())
    } else {
        Err(format!(
            "it needs a 1×1 kernel, stride 1, padding 0 and groups 1, got kernel {}×{}, stride {}×{}, padding {}×{}, \
             groups {}",
            layer.kernel[0],
            layer.kernel[1],
            layer.stride[0],
            layer.stride[1],
            layer.padding[0],
            layer.padding[1],
            layer.groups
        ))
    }
}

/// `sizes` as a grid when each is within `max_per_dimension` workgroups, else the limit error naming `kernel` and
/// the axis.
pub fn within_limit(
    kernel: &str,
    sizes: [u64; 3],
    axes: [&str; 3],
    max_per_dimension: u32,
) -> Result<[u32; 3], GpuError> {
    let max = u64::from(max_per_dimension);
    for (needed, axis) in sizes.into_iter().zip(axes) {
        if needed > max {
            return Err(GpuError::Limit {
                what: format!("the {kernel} dispatch ({axis}, workgroups)"),
                needed,
                limit: "max_compute_workgroups_per_dimension",
                available: max,
            });
        }
    }
    Ok(sizes.map(|v| v as u32))
}

/// The grid of a kernel with one output per invocation ([`WORKGROUP_SIZE`](super::WORKGROUP_SIZE) per workgroup).
pub fn one_per_output(kernel: &str, layer: &ConvLayer, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
    crate::gpu::kernel::grid(
        layer.output_len().unwrap_or(u64::MAX),
        super::WORKGROUP_SIZE,
        max_per_dimension,
        kernel,
    )
}

/// The tile a tiled kernel's grid needs, else the error saying it has none.
pub fn needs_tile(
    kernel: &'static str,
    tile: Option<crate::gpu::kernels::Tile>,
) -> Result<crate::gpu::kernels::Tile, GpuError> {
    tile.ok_or_else(|| GpuError::KernelDoesNotApply {
        shader: kernel,
        reason: "a vec4 kernel needs a tile".into(),
    })
}

/// `u64` pixels of one output plane divided into vec4 groups (H_out·W_out / 4).
pub fn plane4(layer: &ConvLayer) -> u64 {
    u64::from(layer.out_height()) * u64::from(layer.out_width()) / 4
}

/// Loop steps of one kernel window: `1 + KH·(1 + KW)` (the row loop, and per row the column loop).
pub fn window_steps(layer: &ConvLayer) -> u64 {
    // Saturating: a layer far beyond every limit still gets an answer.
    u64::from(layer.kernel[0])
        .saturating_mul(1 + u64::from(layer.kernel[1]))
        .saturating_add(1)
}

/// Loop steps of the general kernels: `C_in/groups · (1 + KH·(1 + KW))`.
pub fn general_steps(layer: &ConvLayer) -> u64 {
    u64::from(layer.in_channels_per_group()).saturating_mul(window_steps(layer))
}
