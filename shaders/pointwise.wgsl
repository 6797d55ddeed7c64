// pointwise.wgsl — the 1×1 convolution: out[n, o, y, x] = sum_c in[n, c, y, x] * w[o, c] (+ bias[o]), i.e. a GEMM
// over channels, stride 1, no padding, one group. The naive reference kernel.
//
// Layout (f32, row-major):
//   input  [N, C_in, H, W]      weight [C_out, C_in, 1, 1]      bias [C_out] (a 1-element dummy when has_bias = 0)
//   output [N, C_out, H, W]
//
// Dispatch: workgroups of WORKGROUP_SIZE (override constant, 64 by default) invocations on a 2-D grid of
// workgroups; the flat invocation index (wg.y * num_workgroups.x + wg.x) * WORKGROUP_SIZE + local index is the
// output element it computes. One invocation computes one output element: C_in products plus the bias.
// Neighbouring invocations take neighbouring pixels, so the input reads of a workgroup are contiguous.
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
    let pixels = p.out_height * p.out_width;
    let pixel = index % pixels;
    let rest = index / pixels;
    let o = rest % p.out_channels;
    let n = rest / p.out_channels;

    var at = n * p.in_channels * pixels + pixel;
    let taps = o * p.in_channels;
    var acc = 0.0;
    for (var c = 0u; c < p.in_channels; c++) {
        acc = fma(input[at], weight[taps + c], acc);
        at += pixels;
    }
    if (p.has_bias != 0u) {
        acc += bias[o];
    }
    output[index] = acc;
}
