// separable_fused_vec4.wgsl — a depthwise-separable pair in one dispatch: the depthwise 3×3 conv (groups = C_in,
// stride 1, padding 1, dilation 1) followed by the pointwise 1×1 conv C_in → C_out, on vec4 values:
// d[n, ci, q] = Σ_{ky,kx} dw[ci, 0, ky, kx] · in[n, ci, y + ky − 1, x + kx − 1] (+ dw_bias[ci]), zero padding, and
// out[n, co, q] = Σ_ci pw[co, ci] · d[n, ci, q] (+ bias[co]). The C_in·H·W intermediate d lives in registers only:
// it is never written to memory. H·W must be a multiple of 4. `p` is the standard layer's block (C_in, C_out,
// kernel 3×3, padding 1; has_bias = whether both convs have a bias, which only the pointwise bias reads here).
//
// Layout: every image plane is flattened (pixel q = y·W + x) and read as vec4 of 4 consecutive pixels: input
// [N, C_in, H·W/4] and output [N, C_out, H·W/4]. Tap (ky, kx) of pixel q reads pixel q + (ky − 1)·W + kx − 1 of the
// same plane, an offset shared by every pixel; taps that leave the image are masked to 0. dw packed by the host as
// [C_in][4] vec4: rows ky = 0, 1, 2 as (w[ky][0], w[ky][1], w[ky][2], 0), then (dw_bias or 0, 0, 0, 0). pw packed as
// [C_in, ceil(C_out/4)] vec4 of 4 consecutive output channels (K-major, zero-filled past C_out); bias [C_out] f32 (the
// pointwise bias, a 1-element dummy without bias).
//
// Dispatch: a 2-D grid of WORKGROUP_SIZE-invocation workgroups. workgroup_id.y picks TILE_CHANNELS consecutive
// output-channel groups (4 channels each), the same for the whole workgroup; workgroup_id.x × WORKGROUP_SIZE + local
// index picks one pixel group (4 pixels) among the N·H·W/4 of the batch. Per input channel an invocation loads the
// channel's 4 dw vec4 (uniform loads) and, per kernel row, the 3 aligned vec4 that hold all three taps of its pixels,
// computes the 4 depthwise values in registers, then loads TILE_CHANNELS pw vec4 for 16·TILE_CHANNELS multiply-adds
// into a 4 pixels × 4·TILE_CHANNELS channels register tile. TILE_CHANNELS is an override constant (at most MAX_SIDE),
// so the loops over the tile have constant trip counts and unroll; the only loop left runs over C_in. Each of the
// ceil(C_out/4)/TILE_CHANNELS channel tiles recomputes the depthwise values of its pixels (9 loads, 12 window and
// 9 mask selects, 36 multiply-adds per input channel and pixel group): the price of keeping them out of memory.
// Input loads are clamped into their plane and masked taps are selected away, weight and bias loads are clamped
// into their buffers, so every index stays inside its buffer; invocations past the end skip their stores; no
// barriers.

// Params, WORKGROUP_SIZE and p come from conv_params.wgsl, taps3 and lanes_of from vec4_window.wgsl; the host
// prepends both to this file.

@group(0) @binding(1) var<storage, read> input: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dw: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> pw: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> output: array<vec4<f32>>;

override TILE_CHANNELS: u32 = 4u;
const MAX_SIDE: u32 = 8u;

// One kernel row of an invocation's depthwise taps, the same for every input channel: the 3 aligned vec4 (as
// offsets into a plane, clamped) that hold its taps, the lane shift of its left tap, and which of the 4 pixels may
// read each of its three taps.
struct Row {
    at: vec3<u32>,
    shift: u32,
    left: vec4<bool>,
    mid: vec4<bool>,
    right: vec4<bool>,
}

fn row_of(dy: i32, group: u32, plane4: u32, lanes: Lanes) -> Row {
    let width = i32(p.in_width);
    let offset = dy * width - 1;
    let shift = u32(offset & 3);
    let first = i32(group) + ((offset - i32(shift)) >> 2u);
    let at = clamp(vec3<i32>(first) + vec3<i32>(0, 1, 2), vec3<i32>(0), vec3<i32>(i32(plane4) - 1));
    let iy = lanes.oy + vec4<i32>(dy);
    let row_ok = iy >= vec4<i32>(0) & iy < vec4<i32>(i32(p.in_height));
    return Row(vec3<u32>(at), shift, row_ok & lanes.left_ok, row_ok, row_ok & lanes.right_ok);
}

// The row's three taps of the plane starting at `plane`, weighted by k.xyz.
fn taps(plane: u32, r: Row, k: vec4<f32>) -> vec4<f32> {
    let a = input[plane + r.at.x];
    let b = input[plane + r.at.y];
    let c = input[plane + r.at.z];
    let t = taps3(a, b, c, r.shift);
    let left = select(vec4<f32>(), t.left, r.left);
    let mid = select(vec4<f32>(), t.mid, r.mid);
    let right = select(vec4<f32>(), t.right, r.right);
    return left * k.x + mid * k.y + right * k.z;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let plane4 = p.in_height * p.in_width / 4u;
    let groups = p.batch * plane4;
    let id = wg.x * WORKGROUP_SIZE + local;
    // Invocations past the end compute the last group (every load stays in bounds) and store nothing.
    let g = min(id, groups - 1u);
    let n = g / plane4;
    let group = g % plane4;
    let co4 = (p.out_channels + 3u) / 4u;
    let c_first = wg.y * TILE_CHANNELS;

    // Where the taps of the 4 pixels q..q+3 sit, and which of them the image edges mask.
    let lanes = lanes_of(group, i32(p.in_width));
    let r0 = row_of(-1, group, plane4, lanes);
    let r1 = row_of(0, group, plane4, lanes);
    let r2 = row_of(1, group, plane4, lanes);

    var cg: array<u32, MAX_SIDE>;
    for (var c = 0u; c < TILE_CHANNELS; c++) {
        cg[c] = min(c_first + c, co4 - 1u);
    }
    let dw_last = arrayLength(&dw) - 1u;
    let pw_last = arrayLength(&pw) - 1u;

    // acc[c][j]: the 4 pixels for output channel 4·(c_first + c) + j.
    var acc: array<mat4x4<f32>, MAX_SIDE>;
    let image = n * p.in_channels;
    for (var ci = 0u; ci < p.in_channels; ci++) {
        // The depthwise values of the 4 pixels in channel ci (uniform weight loads).
        let k = 4u * ci;
        let k0 = dw[min(k, dw_last)];
        let k1 = dw[min(k + 1u, dw_last)];
        let k2 = dw[min(k + 2u, dw_last)];
        let kb = dw[min(k + 3u, dw_last)];
        let plane = (image + ci) * plane4;
        var x = taps(plane, r0, k0);
        x += taps(plane, r1, k1);
        x += taps(plane, r2, k2);
        x += vec4<f32>(kb.x);

        // The pointwise step: one row of the packed weight.
        let row = ci * co4;
        for (var c = 0u; c < TILE_CHANNELS; c++) {
            let w = pw[min(row + cg[c], pw_last)];
            acc[c] += mat4x4<f32>(x * w.x, x * w.y, x * w.z, x * w.w);
        }
    }

    if (id >= groups) {
        return;
    }
    let bias_last = arrayLength(&bias) - 1u;
    let base = n * p.out_channels * plane4 + group;
    for (var c = 0u; c < TILE_CHANNELS; c++) {
        for (var j = 0u; j < 4u; j++) {
            let co = 4u * (c_first + c) + j;
            if (co < p.out_channels) {
                let b = select(0.0, bias[min(co, bias_last)], p.has_bias != 0u);
                output[base + co * plane4] = acc[c][j] + vec4<f32>(b);
            }
        }
    }
}
