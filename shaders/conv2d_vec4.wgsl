// conv2d_vec4.wgsl — the standard conv with kernels 3 wide (any height) as an implicit GEMM on vec4 values, without
// an im2col buffer: M = C_out, N = N·H_out·W_out, K = C_in·KH·3. It needs one group, stride 1, and along x
// padding 1 and dilation 1 (so W_out = W); along y any padding and dilation; H·W and H_out·W multiples of 4.
// Cross-correlation with zero padding, as PyTorch's Conv2d.
//
// Layout: every image plane is flattened (pixel q = y·W + x) and read as vec4 of 4 consecutive pixels: input
// [N, C_in, H·W/4] and output [N, C_out, H_out·W/4]. Tap (ky, kx) of output pixel q reads input pixel
// q + (ky·dilation_h − pad_h)·W + kx − 1 of the same plane, an offset shared by every pixel; taps that leave the
// image (a neighbouring row, or above or below the plane) are masked to 0. The weight is packed by the host as
// [C_in·KH·3, ceil(C_out/4)] vec4 of 4 consecutive output channels (tap-major, row (ci·KH + ky)·3 + kx, zero-filled
// past C_out); bias [C_out] f32 (a 1-element dummy without bias).
//
// Dispatch: a 2-D grid of WORKGROUP_SIZE-invocation workgroups. workgroup_id.y picks TILE_CHANNELS consecutive
// channel groups (4 channels each), the same for the whole workgroup; workgroup_id.x × WORKGROUP_SIZE + local index
// picks TILE_PIXELS consecutive pixel groups (4 pixels each) of one output plane. One invocation computes
// 4·TILE_PIXELS pixels × 4·TILE_CHANNELS channels. Per input channel and kernel row it loads the TILE_PIXELS + 2
// aligned vec4 that hold the three taps of all its pixels (a register sliding window: each tap is a 4-lane window
// at a shift the layer fixes) and 3·TILE_CHANNELS weight vec4, for 48·TILE_PIXELS·TILE_CHANNELS multiply-adds.
// TILE_PIXELS and TILE_CHANNELS are override constants, so the inner loops have constant trip counts and unroll.
// Loads are clamped into the plane and masked taps are selected away, so every index stays inside its buffer;
// tiles past the end skip their stores; no barriers.

// Params, WORKGROUP_SIZE and p come from conv_params.wgsl, taps3 and lanes_of from vec4_window.wgsl; the host
// prepends both to this file.

@group(0) @binding(1) var<storage, read> input: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> weight: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> output: array<vec4<f32>>;

override TILE_PIXELS: u32 = 2u;
override TILE_CHANNELS: u32 = 4u;
const MAX_TILE: u32 = 16u;
const MAX_SIDE: u32 = 8u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let width = i32(p.in_width);
    let in4 = p.in_height * p.in_width / 4u; // vec4 groups of an input plane
    let out4 = p.out_height * p.in_width / 4u; // vec4 groups of an output plane
    let tiles_per_plane = (out4 + TILE_PIXELS - 1u) / TILE_PIXELS;
    let tiles = p.batch * tiles_per_plane;
    let raw = wg.x * WORKGROUP_SIZE + local;
    let tile = min(raw, tiles - 1u);
    let image = tile / tiles_per_plane;
    let g0 = (tile % tiles_per_plane) * TILE_PIXELS; // first vec4 group of the tile in its output plane
    let co4 = (p.out_channels + 3u) / 4u;
    let c_first = wg.y * TILE_CHANNELS;
    var cg: array<u32, MAX_SIDE>;
    for (var c = 0u; c < TILE_CHANNELS; c++) {
        cg[c] = min(c_first + c, co4 - 1u);
    }

    // Row and column of each pixel (lane) of each group, and which of its x taps stay inside the row.
    var lanes: array<Lanes, MAX_SIDE>;
    for (var i = 0u; i < TILE_PIXELS; i++) {
        lanes[i] = lanes_of(g0 + i, width);
    }

    // acc[i · TILE_CHANNELS + c][j]: the 4 pixels of group g0 + i for output channel 4·(c_first + c) + j.
    var acc: array<mat4x4<f32>, MAX_TILE>;
    for (var ci = 0u; ci < p.in_channels; ci++) {
        let plane = (image * p.in_channels + ci) * in4;
        for (var ky = 0u; ky < p.kernel_h; ky++) {
            let dy = i32(ky * p.dilation_h) - i32(p.pad_h);
            // Flattened offset of tap (ky, 0) from the output pixel, split into whole vec4 groups and a lane shift.
            let offset = dy * width - 1;
            let shift = u32(offset & 3);
            let first = i32(g0) + ((offset - i32(shift)) >> 2u);
            var v: array<vec4<f32>, 10>;
            for (var t = 0u; t < TILE_PIXELS + 2u; t++) {
                v[t] = input[plane + u32(clamp(first + i32(t), 0, i32(in4) - 1))];
            }
            let tap = (ci * p.kernel_h + ky) * 3u * co4;
            for (var i = 0u; i < TILE_PIXELS; i++) {
                let iy = lanes[i].oy + vec4<i32>(dy);
                let row_ok = iy >= vec4<i32>(0) & iy < vec4<i32>(i32(p.in_height));
                let t = taps3(v[i], v[i + 1u], v[i + 2u], shift);
                let left = select(vec4<f32>(), t.left, row_ok & lanes[i].left_ok);
                let mid = select(vec4<f32>(), t.mid, row_ok);
                let right = select(vec4<f32>(), t.right, row_ok & lanes[i].right_ok);
                for (var c = 0u; c < TILE_CHANNELS; c++) {
                    let w_left = weight[tap + cg[c]];
                    let w_mid = weight[tap + co4 + cg[c]];
                    let w_right = weight[tap + 2u * co4 + cg[c]];
                    let t = i * TILE_CHANNELS + c;
                    acc[t] += mat4x4<f32>(left * w_left.x, left * w_left.y, left * w_left.z, left * w_left.w);
                    acc[t] += mat4x4<f32>(mid * w_mid.x, mid * w_mid.y, mid * w_mid.z, mid * w_mid.w);
                    acc[t] += mat4x4<f32>(right * w_right.x, right * w_right.y, right * w_right.z, right * w_right.w);
                }
            }
        }
    }

    if (raw >= tiles) {
        return;
    }
    for (var i = 0u; i < TILE_PIXELS; i++) {
        let g = g0 + i;
        if (g >= out4) {
            break;
        }
        for (var c = 0u; c < TILE_CHANNELS; c++) {
            for (var j = 0u; j < 4u; j++) {
                let co = 4u * (c_first + c) + j;
                if (co < p.out_channels) {
                    var b = 0.0;
                    if (p.has_bias != 0u) {
                        b = bias[co];
                    }
                    output[(image * p.out_channels + co) * out4 + g] = acc[i * TILE_CHANNELS + c][j] + vec4<f32>(b);
                }
            }
        }
    }
}
