// conv2d_tiled.wgsl — the 2-D convolution (PyTorch Conv2d semantics: cross-correlation, zero padding; stride,
// padding, dilation, non-square kernels, groups, optional bias) as an implicit GEMM with a register tile:
// M = output channels of a group, N = output pixels (N·H_out·W_out), K = C_in/groups · KH · KW, no im2col buffer.
//
// Layout (f32, row-major):
//   input  [N, C_in, H, W]            weight [C_out, C_in/groups, KH, KW]
//   bias   [C_out] (a 1-element dummy when has_bias = 0)
//   output [N, C_out, H_out, W_out]
//
// Dispatch: a 2-D grid of workgroups of WORKGROUP_SIZE (override constant, 64 by default) invocations.
// workgroup_id.y is a channel tile: 8 consecutive output channels of one group (groups × ceil(C_out/groups / 8)
// rows); workgroup_id.x × WORKGROUP_SIZE + local index is a pixel tile: 4 consecutive output pixels in the
// flattened N·H_out·W_out order. One invocation computes the 8×4 register tile (8 vec4 accumulators): per K step
// it loads 4 inputs and 8 weights for 32 FMAs. The channel tile is uniform across a workgroup, so weight loads are
// the same address for every invocation (a broadcast); neighbouring invocations read neighbouring pixels.
// Tiles past the edge clamp their loads and skip their stores; there are no barriers. Every load index is clamped
// into its tensor (padding taps read a clamped element and select 0), so the kernel is safe to compile without
// runtime bounds checks.

// Params, WORKGROUP_SIZE and p come from conv_params.wgsl, the bindings input, weight, bias, output from
// conv_common.wgsl; the host prepends both to this file.

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let hw_out = p.out_height * p.out_width;
    let pixels = p.batch * hw_out;
    let pixel_tile = wg.x * WORKGROUP_SIZE + local;
    if (pixel_tile * 4u >= pixels) {
        return;
    }
    let out_per_group = p.out_channels / p.groups;
    let channel_tiles = (out_per_group + 7u) / 8u;
    let group = wg.y / channel_tiles;
    let oc0 = group * out_per_group + (wg.y % channel_tiles) * 8u;
    let oc_end = (group + 1u) * out_per_group; // first channel of the next group
    let in_per_group = p.in_channels / p.groups;
    let k_len = in_per_group * p.kernel_h * p.kernel_w;

    // Where each of the 4 pixels reads: the input plane offset of its image and group, and the top-left corner
    // (pixels past the end are clamped to the last pixel; their results are not stored).
    let first = pixel_tile * 4u;
    let lanes = vec4<u32>(0u, 1u, 2u, 3u);
    let pixel = min(vec4<u32>(first) + lanes, vec4<u32>(pixels - 1u));
    let live = vec4<u32>(first) + lanes < vec4<u32>(pixels);
    let image = pixel / hw_out;
    let rest = pixel % hw_out;
    let y0 = vec4<i32>((rest / p.out_width) * p.stride_h) - i32(p.pad_h);
    let x0 = vec4<i32>((rest % p.out_width) * p.stride_w) - i32(p.pad_w);
    let in_hw = p.in_height * p.in_width;
    let plane = (image * p.in_channels + group * in_per_group) * in_hw;
    // Weight rows of the 8 channels, clamped to the group's last channel (their results are not stored).
    let last = vec4<u32>(oc_end - 1u);
    let w_lo = min(vec4<u32>(oc0) + lanes, last) * k_len;
    let w_hi = min(vec4<u32>(oc0 + 4u) + lanes, last) * k_len;

    let height = vec4<i32>(i32(p.in_height));
    let width = vec4<i32>(i32(p.in_width));
    var acc0 = vec4<f32>();
    var acc1 = vec4<f32>();
    var acc2 = vec4<f32>();
    var acc3 = vec4<f32>();
    var acc4 = vec4<f32>();
    var acc5 = vec4<f32>();
    var acc6 = vec4<f32>();
    var acc7 = vec4<f32>();
    var k = 0u;
    for (var ci = 0u; ci < in_per_group; ci++) {
        let channel = plane + vec4<u32>(ci * in_hw);
        for (var ky = 0u; ky < p.kernel_h; ky++) {
            let iy = y0 + vec4<i32>(i32(ky * p.dilation_h));
            let row_ok = iy >= vec4<i32>(0) & iy < height;
            let row = channel + vec4<u32>(clamp(iy, vec4<i32>(0), height - 1)) * p.in_width;
            for (var kx = 0u; kx < p.kernel_w; kx++) {
                let ix = x0 + vec4<i32>(i32(kx * p.dilation_w));
                let ok = row_ok & ix >= vec4<i32>(0) & ix < width;
                let at = row + vec4<u32>(clamp(ix, vec4<i32>(0), width - 1));
                let loaded = vec4<f32>(input[at.x], input[at.y], input[at.z], input[at.w]);
                let xs = select(vec4<f32>(), loaded, ok);
                acc0 = fma(vec4<f32>(weight[w_lo.x + k]), xs, acc0);
                acc1 = fma(vec4<f32>(weight[w_lo.y + k]), xs, acc1);
                acc2 = fma(vec4<f32>(weight[w_lo.z + k]), xs, acc2);
                acc3 = fma(vec4<f32>(weight[w_lo.w + k]), xs, acc3);
                acc4 = fma(vec4<f32>(weight[w_hi.x + k]), xs, acc4);
                acc5 = fma(vec4<f32>(weight[w_hi.y + k]), xs, acc5);
                acc6 = fma(vec4<f32>(weight[w_hi.z + k]), xs, acc6);
                acc7 = fma(vec4<f32>(weight[w_hi.w + k]), xs, acc7);
                k++;
            }
        }
    }
    store(acc0, oc0, oc_end, pixel, live, hw_out);
    store(acc1, oc0 + 1u, oc_end, pixel, live, hw_out);
    store(acc2, oc0 + 2u, oc_end, pixel, live, hw_out);
    store(acc3, oc0 + 3u, oc_end, pixel, live, hw_out);
    store(acc4, oc0 + 4u, oc_end, pixel, live, hw_out);
    store(acc5, oc0 + 5u, oc_end, pixel, live, hw_out);
    store(acc6, oc0 + 6u, oc_end, pixel, live, hw_out);
    store(acc7, oc0 + 7u, oc_end, pixel, live, hw_out);
}

// Writes one output channel's 4 pixels (plus its bias), skipping channels past the group and pixels past the end.
fn store(acc: vec4<f32>, oc: u32, oc_end: u32, pixel: vec4<u32>, live: vec4<bool>, hw_out: u32) {
    if (oc >= oc_end) {
        return;
    }
    var b = 0.0;
    if (p.has_bias != 0u) {
        b = bias[oc];
    }
    let at = ((pixel / hw_out) * p.out_channels + oc) * hw_out + pixel % hw_out;
    for (var j = 0u; j < 4u; j++) {
        if (live[j]) {
            output[at[j]] = acc[j] + b;
        }
    }
}
