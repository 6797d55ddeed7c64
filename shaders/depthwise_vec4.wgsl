// depthwise_vec4.wgsl — the depthwise 3×3 conv (groups = C_in = C_out, stride 1, padding 1, dilation 1, so the
// output is H × W) on vec4 values: out[n, c, y, x] = Σ_{ky,kx} weight[c, 0, ky, kx] · in[n, c, y + ky − 1, x + kx − 1]
// (+ bias[c]), zero padding. H·W must be a multiple of 4.
//
// Layout: every image plane is flattened (pixel q = y·W + x) and read as vec4 of 4 consecutive pixels: input and
// output [N, C, H·W/4]. Tap (ky, kx) of pixel q reads pixel q + (ky − 1)·W + kx − 1 of the same plane, an offset
// shared by every pixel; taps that leave the image are masked to 0. weight [C, 1, 3, 3] and bias [C] as f32 (bias a
// 1-element dummy without bias).
//
// Dispatch: a 2-D grid of WORKGROUP_SIZE-invocation workgroups. workgroup_id.y is the plane n·C + c, the same for
// the whole workgroup, so its 9 weights are loaded once at the top (uniform loads); workgroup_id.x × WORKGROUP_SIZE
// + local index picks TILE_PIXELS consecutive pixel groups (4 pixels each) of that plane. Per kernel row an
// invocation loads the TILE_PIXELS + 2 aligned vec4 that hold all three taps of its pixels (a register sliding
// window) for 12·TILE_PIXELS multiply-adds. TILE_PIXELS is an override constant, so the inner loops unroll. Loads
// are clamped into the plane and masked taps are selected away, so every index stays inside its buffer; tiles past
// the end skip their stores; no barriers.

// Params, WORKGROUP_SIZE and p come from conv_params.wgsl, taps3 and lanes_of from vec4_window.wgsl; the host
// prepends both to this file.

@group(0) @binding(1) var<storage, read> input: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> output: array<vec4<f32>>;

override TILE_PIXELS: u32 = 4u;
const MAX_SIDE: u32 = 8u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let plane_id = wg.y;
    let channel = plane_id % p.in_channels;
    // Uniform loads first, outside any control flow: the plane's 9 taps and its bias.
    let w = 9u * channel;
    let w0 = vec3<f32>(weight[w], weight[w + 1u], weight[w + 2u]);
    let w1 = vec3<f32>(weight[w + 3u], weight[w + 4u], weight[w + 5u]);
    let w2 = vec3<f32>(weight[w + 6u], weight[w + 7u], weight[w + 8u]);
    let b = select(0.0, bias[min(channel, arrayLength(&bias) - 1u)], p.has_bias != 0u);
    let taps = array<vec3<f32>, 3>(w0, w1, w2);

    let width = i32(p.in_width);
    let plane4 = p.in_height * p.in_width / 4u;
    let plane = plane_id * plane4;
    let g0 = (wg.x * WORKGROUP_SIZE + local) * TILE_PIXELS;

    var lanes: array<Lanes, MAX_SIDE>;
    for (var i = 0u; i < TILE_PIXELS; i++) {
        lanes[i] = lanes_of(g0 + i, width);
    }

    var acc: array<vec4<f32>, MAX_SIDE>;
    for (var ky = 0u; ky < 3u; ky++) {
        let dy = i32(ky) - 1;
        let offset = dy * width - 1;
        let shift = u32(offset & 3);
        let first = i32(g0) + ((offset - i32(shift)) >> 2u);
        var v: array<vec4<f32>, 10>;
        for (var t = 0u; t < TILE_PIXELS + 2u; t++) {
            v[t] = input[plane + u32(clamp(first + i32(t), 0, i32(plane4) - 1))];
        }
        let k = taps[ky];
        for (var i = 0u; i < TILE_PIXELS; i++) {
            let iy = lanes[i].oy + vec4<i32>(dy);
            let row_ok = iy >= vec4<i32>(0) & iy < vec4<i32>(i32(p.in_height));
            let t = taps3(v[i], v[i + 1u], v[i + 2u], shift);
            let left = select(vec4<f32>(), t.left, row_ok & lanes[i].left_ok);
            let mid = select(vec4<f32>(), t.mid, row_ok);
            let right = select(vec4<f32>(), t.right, row_ok & lanes[i].right_ok);
            acc[i] += left * k.x + mid * k.y + right * k.z;
        }
    }

    for (var i = 0u; i < TILE_PIXELS; i++) {
        let g = g0 + i;
        if (g < plane4) {
            output[plane + g] = acc[i] + vec4<f32>(b);
        }
    }
}
