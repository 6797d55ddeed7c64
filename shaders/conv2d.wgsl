// conv2d.wgsl — the standard 2-D convolution (PyTorch Conv2d semantics: cross-correlation, zero padding), with
// stride, padding, dilation, non-square kernels, groups and an optional bias. The naive reference kernel.
//
// Layout (f32, row-major):
//   input  [N, C_in, H, W]            weight [C_out, C_in/groups, KH, KW]
//   bias   [C_out] (a 1-element dummy when has_bias = 0)
//   output [N, C_out, H_out, W_out]
//
// Dispatch: workgroups of WORKGROUP_SIZE (override constant, 64 by default) invocations on a 2-D grid of
// workgroups; the flat invocation index (wg.y * num_workgroups.x + wg.x) * WORKGROUP_SIZE + local index is the
// output element it computes, so more than 65 535 workgroups never truncate. One invocation computes one output
// element: a sum of C_in/groups * KH * KW products, plus the bias. Invocations past `total` return at once.

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
    rest = rest / p.out_height;
    let oc = rest % p.out_channels;
    let n = rest / p.out_channels;

    let in_per_group = p.in_channels / p.groups;
    let out_per_group = p.out_channels / p.groups;
    let first_in = (oc / out_per_group) * in_per_group;
    let y0 = i32(oy * p.stride_h) - i32(p.pad_h);
    let x0 = i32(ox * p.stride_w) - i32(p.pad_w);

    var acc = 0.0;
    for (var ci = 0u; ci < in_per_group; ci++) {
        let plane = (n * p.in_channels + first_in + ci) * p.in_height;
        let taps = (oc * in_per_group + ci) * p.kernel_h;
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
    }
    if (p.has_bias != 0u) {
        acc += bias[oc];
    }
    output[index] = acc;
}
