// gemm_gpu.wgsl — the standard conv (groups 1: any kernel, stride, padding, dilation) and the pointwise conv as a
// workgroup-memory tiled implicit GEMM for GPUs: out[n, m, y, x] = Σ_k A[m, k] · B[k, (n, y, x)] (+ bias[m]) with
// M = C_out, N = batch·H_out·W_out (output pixels), K = C_in·KH·KW; B is im2col(input), never written out: each
// element is addressed on the fly (k = (ci·KH + ky)·KW + kx reads in[n, ci, y·SH − PH + ky·DH, x·SW − PW + kx·DW],
// zero outside the plane). POINTWISE (1×1, stride 1, no padding) reads B[k, pixel] = in[n, k, pixel] directly.
//
// Layout (f32, row-major): input [N, C_in, H, W]; weight packed K-major as [K, ceil(C_out/4)·4] (row k holds the
// output channels' k-th tap, zero-padded to whole vec4, read as vec4 over 4 output channels: `pack_weights` in
// src/gpu/conv.rs); bias [C_out] (a 1-element dummy when has_bias = 0); output [N, C_out, H_out, W_out].
//
// Tiling (CUTLASS / tfjs conv2d_mm style; the host bakes the constants below the file, see src/gpu/gemm_gpu.rs):
// a workgroup of GROUPS_X × GROUPS_Y invocations computes a TILE_M × TILE_N output tile (TILE_M = 4·GROUPS_Y·REG_M
// output channels, TILE_N = 4·GROUPS_X·REG_N pixels). K runs in slices of TILE_K: per slice the workgroup copies
// A[TILE_K × TILE_M] (vec4 loads of the packed weight) and B[TILE_K × TILE_N] (4 consecutive pixels per load
// slot, coalesced across neighbouring invocations) into `var<workgroup>` arrays of vec4, one barrier, then each
// invocation runs TILE_K steps of its register tile: REG_M × REG_N blocks of 4 channels × 4 pixels, fed per step by
// REG_M + REG_N vec4 reads of workgroup memory (channel blocks ty + GROUPS_Y·r: one address per row of invocations,
// a broadcast; pixel blocks tx + GROUPS_X·c: consecutive vec4 across a row, no bank conflicts) for 16·REG_M·REG_N
// multiply-adds. The next slice's global loads are issued into registers before the current slice's arithmetic
// (register prefetch), so they overlap it; a second barrier guards the copy into workgroup memory.
//
// Dispatch: grid (ceil(N / TILE_N), ceil(C_out / TILE_M), SPLITS), GROUPS_X·GROUPS_Y invocations each; every
// invocation reaches every barrier (the loop bounds are uniform). Split-K (SPLITS > 1, for layers with too few output
// tiles to fill a GPU): workgroup z runs the z-th of SPLITS equal runs of K slices and writes its partial sums,
// without bias, to copy z of the output layout in a scratch buffer bound as `output` ([SPLITS, N, C_out, H_out,
// W_out]); a second dispatch (gemm_gpu_reduce.wgsl) adds the copies and the bias. Bounds: load slots past K, past the last pixel or
// past the padded C_out read a clamped element and select 0; stores skip channels ≥ C_out and pixels ≥ N. Every
// load index is clamped into its tensor by construction, so the kernel is safe without runtime bounds checks, and
// every workgroup-memory element is written before it is read (behind a barrier), so the host builds the pipeline
// without wgpu's zero-fill of workgroup memory.

// Params, p (binding 0) come from conv_params.wgsl, which the host prepends.
@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> output: array<f32>;

const THREADS: u32 = GROUPS_X * GROUPS_Y;
const A_VEC: u32 = TILE_M / 4u; // vec4 per K row of the A tile
const B_VEC: u32 = TILE_N / 4u; // vec4 (pixel groups) per K row of the B tile
const A_LOADS: u32 = TILE_K * A_VEC / THREADS; // A-tile vec4 each invocation copies per slice
const B_LOADS: u32 = TILE_K * B_VEC / THREADS;
const A_ROW_STEP: u32 = THREADS / A_VEC; // K rows between one invocation's copy slots
const B_ROW_STEP: u32 = THREADS / B_VEC;
const ACC: u32 = 4u * REG_M * REG_N;

var<workgroup> a_tile: array<vec4<f32>, TILE_K * A_VEC>;
var<workgroup> b_tile: array<vec4<f32>, TILE_K * B_VEC>;

// Per invocation, fixed for the whole K loop: where its B copy slots read (4 consecutive pixels of one column),
// and where its A copy slots read (one vec4 column of the packed weight).
var<private> b_base: vec4<u32>; // standard: the image's input offset n·C_in·H·W; pointwise: that plus the pixel
var<private> b_y0: vec4<i32>; // top-left input row of each pixel's window
var<private> b_x0: vec4<i32>;
var<private> b_live: vec4<bool>; // pixel < N
var<private> a_column: u32; // vec4 column of the packed weight
var<private> a_live: bool; // column < ceil(C_out/4)

// The 4 pixels of this invocation's B column at im2col row `k` (0 past K, outside the plane or past the last pixel).
fn load_b(k: u32, k_len: u32) -> vec4<f32> {
    let kc = min(k, k_len - 1u);
    let in_hw = p.in_height * p.in_width;
    if (POINTWISE) {
        let at = b_base + vec4<u32>(kc * in_hw);
        let v = vec4<f32>(input[at.x], input[at.y], input[at.z], input[at.w]);
        return select(vec4<f32>(), v, b_live & vec4<bool>(k < k_len));
    }
    let taps = p.kernel_h * p.kernel_w;
    let ci = kc / taps;
    let tap = kc % taps;
    let iy = b_y0 + vec4<i32>(i32((tap / p.kernel_w) * p.dilation_h));
    let ix = b_x0 + vec4<i32>(i32((tap % p.kernel_w) * p.dilation_w));
    let height = vec4<i32>(i32(p.in_height));
    let width = vec4<i32>(i32(p.in_width));
    let inside = (iy >= vec4<i32>(0)) & (iy < height) & (ix >= vec4<i32>(0)) & (ix < width);
    let ok = b_live & vec4<bool>(k < k_len) & inside;
    let at = b_base + vec4<u32>(ci * in_hw) + vec4<u32>(clamp(iy, vec4<i32>(0), height - 1)) * p.in_width
        + vec4<u32>(clamp(ix, vec4<i32>(0), width - 1));
    let v = vec4<f32>(input[at.x], input[at.y], input[at.z], input[at.w]);
    return select(vec4<f32>(), v, ok);
}

// The 4 output channels of this invocation's A column at row `k` of the packed weight (0 past K or C_out).
fn load_a(k: u32, k_len: u32, co4: u32) -> vec4<f32> {
    let at = min(min(k, k_len - 1u) * co4 + a_column, k_len * co4 - 1u);
    return select(vec4<f32>(), weight[at], a_live && k < k_len);
}

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let hw_out = p.out_height * p.out_width;
    let pixels = p.batch * hw_out;
    let in_hw = p.in_height * p.in_width;
    let k_len = p.in_channels * p.kernel_h * p.kernel_w;
    let co4 = (p.out_channels + 3u) / 4u;
    let n0 = wg.x * TILE_N;
    let m0 = wg.y * TILE_M;

    // The B copy slots: column b_col (pixels n0 + 4·b_col + 0..3), rows b_row + B_ROW_STEP·l.
    let b_col = local % B_VEC;
    let b_row = local / B_VEC;
    let first = n0 + 4u * b_col;
    let pixel = vec4<u32>(first) + vec4<u32>(0u, 1u, 2u, 3u);
    b_live = pixel < vec4<u32>(pixels);
    let clamped = min(pixel, vec4<u32>(pixels - 1u));
    let image = clamped / hw_out;
    let rest = clamped % hw_out;
    if (POINTWISE) {
        b_base = image * (p.in_channels * in_hw) + rest;
    } else {
        b_base = image * (p.in_channels * in_hw);
    }
    b_y0 = vec4<i32>((rest / p.out_width) * p.stride_h) - i32(p.pad_h);
    b_x0 = vec4<i32>((rest % p.out_width) * p.stride_w) - i32(p.pad_w);
    // The A copy slots: vec4 column a_col of the tile, rows a_row + A_ROW_STEP·l.
    let a_col = local % A_VEC;
    let a_row = local / A_VEC;
    a_column = m0 / 4u + a_col;
    a_live = a_column < co4;

    // The register tile: acc[(r·4 + i)·REG_N + c] holds channel 4·(ty + GROUPS_Y·r) + i of the tile for the 4
    // pixels of group tx + GROUPS_X·c.
    let tx = local % GROUPS_X;
    let ty = local / GROUPS_X;
    var acc: array<vec4<f32>, ACC>;
    var a_next: array<vec4<f32>, A_LOADS>;
    var b_next: array<vec4<f32>, B_LOADS>;
    // This workgroup's K slices: all of them, or with SPLITS > 1 the wg.z-th of SPLITS equal runs (split-K).
    let slices = (k_len + TILE_K - 1u) / TILE_K;
    let per_split = (slices + SPLITS - 1u) / SPLITS;
    let s_begin = min(wg.z * per_split, slices);
    let s_end = min(s_begin + per_split, slices);
    for (var l = 0u; l < A_LOADS; l++) {
        a_next[l] = load_a(s_begin * TILE_K + a_row + A_ROW_STEP * l, k_len, co4);
    }
    for (var l = 0u; l < B_LOADS; l++) {
        b_next[l] = load_b(s_begin * TILE_K + b_row + B_ROW_STEP * l, k_len);
    }
    for (var s = s_begin; s < s_end; s++) {
        workgroupBarrier(); // every invocation is done reading the previous slice
        for (var l = 0u; l < A_LOADS; l++) {
            a_tile[(a_row + A_ROW_STEP * l) * A_VEC + a_col] = a_next[l];
        }
        for (var l = 0u; l < B_LOADS; l++) {
            b_tile[(b_row + B_ROW_STEP * l) * B_VEC + b_col] = b_next[l];
        }
        workgroupBarrier();
        if (s + 1u < s_end) {
            let k0 = (s + 1u) * TILE_K;
            for (var l = 0u; l < A_LOADS; l++) {
                a_next[l] = load_a(k0 + a_row + A_ROW_STEP * l, k_len, co4);
            }
            for (var l = 0u; l < B_LOADS; l++) {
                b_next[l] = load_b(k0 + b_row + B_ROW_STEP * l, k_len);
            }
        }
        for (var kk = 0u; kk < TILE_K; kk++) {
            var b: array<vec4<f32>, REG_N>;
            for (var c = 0u; c < REG_N; c++) {
                b[c] = b_tile[kk * B_VEC + tx + GROUPS_X * c];
            }
            for (var r = 0u; r < REG_M; r++) {
                let a = a_tile[kk * A_VEC + ty + GROUPS_Y * r];
                for (var c = 0u; c < REG_N; c++) {
                    let at = r * 4u * REG_N + c;
                    acc[at] = fma(vec4<f32>(a.x), b[c], acc[at]);
                    acc[at + REG_N] = fma(vec4<f32>(a.y), b[c], acc[at + REG_N]);
                    acc[at + 2u * REG_N] = fma(vec4<f32>(a.z), b[c], acc[at + 2u * REG_N]);
                    acc[at + 3u * REG_N] = fma(vec4<f32>(a.w), b[c], acc[at + 3u * REG_N]);
                }
            }
        }
    }

    // Stores: per pixel of the tile that exists, every channel of the tile below C_out (plus its bias).
    for (var c = 0u; c < REG_N; c++) {
        let group_first = n0 + 4u * (tx + GROUPS_X * c);
        for (var j = 0u; j < 4u; j++) {
            let pix = group_first + j;
            if (pix >= pixels) {
                break;
            }
            let out_base = (pix / hw_out) * p.out_channels * hw_out + pix % hw_out;
            for (var r = 0u; r < REG_M; r++) {
                for (var i = 0u; i < 4u; i++) {
                    let m = m0 + 4u * (ty + GROUPS_Y * r) + i;
                    if (m < p.out_channels) {
                        let sum = acc[(r * 4u + i) * REG_N + c][j];
                        if (SPLITS == 1u) {
                            var shift = 0.0;
                            if (p.has_bias != 0u) {
                                shift = bias[m];
                            }
                            output[out_base + m * hw_out] = sum + shift;
                        } else {
                            // A partial sum, into the wg.z-th copy of the output layout; gemm_gpu_reduce.wgsl adds
                            // the copies and the bias.
                            output[wg.z * p.total + out_base + m * hw_out] = sum;
                        }
                    }
                }
            }
        }
    }
}
