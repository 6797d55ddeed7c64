// depthwise_tiled.wgsl — the depthwise 2-D convolution: groups = C_in = C_out (channel multiplier 1), each channel
// convolved with its own KH×KW filter; stride, padding, dilation, non-square kernels and an optional bias, with
// PyTorch Conv2d semantics (cross-correlation, zero padding).
//
// Layout (f32, row-major):
//   input  [N, C, H, W]      weight [C, 1, KH, KW]      bias [C] (a 1-element dummy when has_bias = 0)
//   output [N, C, H_out, W_out]
//
// Dispatch: a 3-D grid of 4×(WORKGROUP_SIZE/4) workgroups (override constant, 64 by default: 4×16). workgroup_id.z is the image plane n·C + c, so the
// channel — and with it every weight and the bias — is uniform across a workgroup (broadcast loads, no integer
// division per invocation); workgroup_id.y·(WORKGROUP_SIZE/4) + local y is the output row; (workgroup_id.x·4 + local x)·4 is the
// first of the 4 consecutive output columns one invocation computes. Per kernel tap an invocation loads one weight
// and 4 inputs for 4 FMAs: a depthwise conv has about KH·KW FLOPs per input element, so it is bound by memory
// traffic, not arithmetic. Outputs past the edge are not stored; there are no barriers. Every load index is
// clamped into its tensor (padding taps read a clamped element and select 0), so the kernel is safe to compile
// without runtime bounds checks.

// Params, WORKGROUP_SIZE and p come from conv_params.wgsl, the bindings input, weight, bias, output from
// conv_common.wgsl; the host prepends both to this file.

@compute @workgroup_size(4, WORKGROUP_SIZE / 4u)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>) {
    let oy = wg.y * (WORKGROUP_SIZE / 4u) + local.y;
    let ox0 = (wg.x * 4u + local.x) * 4u;
    if (oy >= p.out_height || ox0 >= p.out_width) {
        return;
    }
    let plane = wg.z; // n * C + c
    let c = plane % p.in_channels;
    let in_plane = plane * p.in_height * p.in_width;
    let taps = c * p.kernel_h * p.kernel_w;

    let x0 = vec4<i32>(vec4<u32>(ox0) + vec4<u32>(0u, 1u, 2u, 3u)) * i32(p.stride_w) - i32(p.pad_w);
    let y0 = i32(oy * p.stride_h) - i32(p.pad_h);
    let width = vec4<i32>(i32(p.in_width));
    var acc = vec4<f32>();
    for (var ky = 0u; ky < p.kernel_h; ky++) {
        let iy = y0 + i32(ky * p.dilation_h);
        if (iy < 0 || iy >= i32(p.in_height)) {
            continue;
        }
        let row = in_plane + u32(iy) * p.in_width;
        for (var kx = 0u; kx < p.kernel_w; kx++) {
            let ix = x0 + vec4<i32>(i32(kx * p.dilation_w));
            let ok = ix >= vec4<i32>(0) & ix < width;
            let at = vec4<u32>(row) + vec4<u32>(clamp(ix, vec4<i32>(0), width - 1));
            let loaded = vec4<f32>(input[at.x], input[at.y], input[at.z], input[at.w]);
            acc = fma(vec4<f32>(weight[taps + ky * p.kernel_w + kx]), select(vec4<f32>(), loaded, ok), acc);
        }
    }
    if (p.has_bias != 0u) {
        acc += vec4<f32>(bias[c]);
    }
    let out_row = (plane * p.out_height + oy) * p.out_width;
    for (var j = 0u; j < 4u; j++) {
        if (ox0 + j < p.out_width) {
            output[out_row + ox0 + j] = acc[j];
        }
    }
}
