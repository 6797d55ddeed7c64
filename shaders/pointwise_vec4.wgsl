// pointwise_vec4.wgsl — the pointwise (1×1, stride 1, no padding, one group) conv as a register-tiled GEMM on vec4
// values: out[n, co, q] = Σ_ci weight[co, ci] · in[n, ci, q] (+ bias[co]), M = C_out, N = N·H·W, K = C_in.
//
// Layout: input [N, C_in, H·W/4] and output [N, C_out, H·W/4] as vec4 of 4 neighbouring pixels (H·W must be a
// multiple of 4, so no vec4 straddles two images); weight packed by the host as [C_in, ceil(C_out/4)] vec4 of 4
// consecutive output channels (K-major, zero-filled past C_out); bias [C_out] f32 (a 1-element dummy without bias).
//
// Dispatch: a 2-D grid of WORKGROUP_SIZE-invocation workgroups. workgroup_id.y picks TILE_CHANNELS consecutive
// channel groups (4 channels each), the same for the whole workgroup; workgroup_id.x × WORKGROUP_SIZE + local index
// picks TILE_PIXELS consecutive pixel groups (4 pixels each). One invocation computes a (4·TILE_PIXELS) pixels ×
// (4·TILE_CHANNELS) channels register tile as TILE_PIXELS × TILE_CHANNELS 4×4 blocks: per K step it loads
// TILE_PIXELS + TILE_CHANNELS vec4 for 16·TILE_PIXELS·TILE_CHANNELS multiply-adds. TILE_PIXELS and TILE_CHANNELS are
// override constants (their product at most MAX_TILE), so the inner loops have constant trip counts and unroll.
// Tiles past the edge clamp their loads (every index stays inside its buffer) and skip their stores; no barriers.

// Params, WORKGROUP_SIZE and p come from conv_params.wgsl, which the host prepends to this file (with
// vec4_window.wgsl, which this kernel does not use).

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
    let hw4 = p.out_height * p.out_width / 4u;
    let groups = p.batch * hw4;
    let first = (wg.x * WORKGROUP_SIZE + local) * TILE_PIXELS;
    let co4 = (p.out_channels + 3u) / 4u;
    let c_first = wg.y * TILE_CHANNELS;

    // Where each pixel group reads (clamped to the last group; clamped groups are not stored).
    var at: array<u32, MAX_SIDE>;
    for (var i = 0u; i < TILE_PIXELS; i++) {
        let g = min(first + i, groups - 1u);
        at[i] = (g / hw4) * p.in_channels * hw4 + g % hw4;
    }
    var cg: array<u32, MAX_SIDE>;
    for (var c = 0u; c < TILE_CHANNELS; c++) {
        cg[c] = min(c_first + c, co4 - 1u);
    }

    // acc[i · TILE_CHANNELS + c][j]: the 4 pixels of group i for output channel 4·(c_first + c) + j.
    var acc: array<mat4x4<f32>, MAX_TILE>;
    for (var k = 0u; k < p.in_channels; k++) {
        var x: array<vec4<f32>, MAX_SIDE>;
        for (var i = 0u; i < TILE_PIXELS; i++) {
            x[i] = input[at[i] + k * hw4];
        }
        let row = k * co4;
        for (var c = 0u; c < TILE_CHANNELS; c++) {
            let w = weight[row + cg[c]];
            for (var i = 0u; i < TILE_PIXELS; i++) {
                let t = i * TILE_CHANNELS + c;
                acc[t] += mat4x4<f32>(x[i] * w.x, x[i] * w.y, x[i] * w.z, x[i] * w.w);
            }
        }
    }

    for (var i = 0u; i < TILE_PIXELS; i++) {
        let g = first + i;
        if (g >= groups) {
            break;
        }
        let base = (g / hw4) * p.out_channels * hw4 + g % hw4;
        for (var c = 0u; c < TILE_CHANNELS; c++) {
            for (var j = 0u; j < 4u; j++) {
                let co = 4u * (c_first + c) + j;
                if (co < p.out_channels) {
                    var b = 0.0;
                    if (p.has_bias != 0u) {
                        b = bias[co];
                    }
                    output[base + co * hw4] = acc[i * TILE_CHANNELS + c][j] + vec4<f32>(b);
                }
            }
        }
    }
}
