// depthwise.wgsl — the depthwise 2-D convolution: groups = C_in = C_out (channel multiplier 1), each channel
// convolved with its own KH×KW filter; stride, padding, dilation, non-square kernels and an optional bias, with
// PyTorch Conv2d semantics (cross-correlation, zero padding). The naive reference kernel.
//
// Layout (f32, row-major):
//   input  [N, C, H, W]      weight [C, 1, KH, KW]      bias [C] (a 1-element dummy when has_bias = 0)
//   output [N, C, H_out, W_out]
//
// Dispatch: workgroups of WORKGROUP_SIZE (override constant, 64 by default) invocations on a 2-D grid of
// workgroups; the flat invocation index (wg.y * num_workgroups.x + wg.x) * WORKGROUP_SIZE + local index is the
// output element it computes. One invocation computes one output element: KH * KW products plus the bias.
// Invocations past `total` return at once.

// Params, WORKGROUP_SIZE and p come from conv_params.wgsl, the bindings input, weight, bias, output from
// conv_common.wgsl; the host prepends both to this file.

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups_in_grid: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let index = (wg.y * groups_in_grid.x + wg.x) * WORKGROUP_SIZE + local;
    if (index >= p.total) {
        return;
    }
    let ox = index % p.out_width;
    var rest = index / p.out_width;
    let oy = rest % p.out_height;
    let nc = rest / p.out_height; // n * C + c
    let c = nc % p.out_channels;

    let plane = nc * p.in_height;
    let taps = c * p.kernel_h;
    let y0 = i32(oy * p.stride_h) - i32(p.pad_h);
    let x0 = i32(ox * p.stride_w) - i32(p.pad_w);

    var acc = 0.0;
    for (var ky = 0u; ky < p.kernel_h; ky++) {
        let iy = y0 + i32(ky * p.dilation_h);
        if (iy < 0 || iy >= i32(p.in_height)) {
            continue;
        }
        let row = (plane + u32(iy)) * p.in_width;
        let wrow = (taps + ky) * p.kernel_w;
        for (var kx = 0u; kx < p.kernel_w; kx++) {
            let ix = x0 + i32(kx * p.dilation_w);
            if (ix < 0 || ix >= i32(p.in_width)) {
                continue;
            }
            acc = fma(input[row + u32(ix)], weight[wrow + kx], acc);
        }
    }
    if (p.has_bias != 0u) {
        acc += bias[c];
    }
    output[index] = acc;
}
