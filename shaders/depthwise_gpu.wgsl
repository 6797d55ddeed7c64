// depthwise_gpu.wgsl — the depthwise conv (groups = C_in = C_out; kernels up to 7×7, any stride, padding and
// dilation) for GPUs, with the input tile plus its halo staged in workgroup memory:
// out[n, c, y, x] = Σ_{ky, kx} weight[c, 0, ky, kx] · in[n, c, y·SH − PH + ky·DH, x·SW − PW + kx·DW] (+ bias[c]),
// zero outside the plane.
//
// Layout (f32, row-major, PyTorch Conv2d): input [N, C, H, W], weight [C, 1, KH, KW], bias [C] (a 1-element dummy
// when has_bias = 0), output [N, C, H_out, W_out]. A plane is one (n, c) pair, plane index n·C + c.
//
// Tiling (the host bakes the constants below the file for each layer, see src/gpu/depthwise_gpu.rs): a workgroup
// computes a TILE_H × TILE_W output tile of PLANES consecutive planes, one output per invocation
// (TILE_H·TILE_W·PLANES invocations; the host picks small tiles and more planes for small output planes, so a 7×7
// or 1×1 plane does not leave most invocations idle). The workgroup first copies each plane's input window, the
// tile plus its halo, IN_H × IN_W = ((TILE_H − 1)·SH + (KH − 1)·DH + 1) × ((TILE_W − 1)·SW + (KW − 1)·DW + 1), into
// `var<workgroup>` memory (coalesced row-major loads, zero outside the plane), one barrier, then each invocation
// reads its KH·KW taps from there (the tap loops have constant trip counts and unroll); its channel's weights are
// the same address across the plane's invocations (a broadcast).
//
// Dispatch: grid (tiles_y·tiles_x, ceil(N·C / PLANES), 1) with tiles_y = ceil(H_out / TILE_H), tiles_x =
// ceil(W_out / TILE_W); workgroup_id.x = tile_y·tiles_x + tile_x. Every invocation reaches the barrier; outputs
// past the plane's edge or past the last plane are not stored. Every load index is clamped into its tensor by
// construction, so the kernel is safe without runtime bounds checks, and every workgroup-memory element is written
// before it is read (behind the barrier), so the host builds the pipeline without wgpu's zero-fill of workgroup
// memory.

// Params, p (binding 0) come from conv_params.wgsl, which the host prepends.
@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> output: array<f32>;

const THREADS: u32 = TILE_H * TILE_W * PLANES;
const IN_H: u32 = (TILE_H - 1u) * STRIDE_H + (KERNEL_H - 1u) * DILATION_H + 1u;
const IN_W: u32 = (TILE_W - 1u) * STRIDE_W + (KERNEL_W - 1u) * DILATION_W + 1u;
const WINDOW: u32 = IN_H * IN_W;
const COPIES: u32 = (PLANES * WINDOW + THREADS - 1u) / THREADS; // window elements each invocation copies

var<workgroup> staged: array<f32, PLANES * WINDOW>;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let planes = p.batch * p.in_channels;
    let tiles_x = (p.out_width + TILE_W - 1u) / TILE_W;
    let oy0 = (wg.x / tiles_x) * TILE_H;
    let ox0 = (wg.x % tiles_x) * TILE_W;
    let plane0 = wg.y * PLANES;
    // The window's top-left corner in input coordinates (may be negative: padding).
    let iy0 = i32(oy0 * STRIDE_H) - i32(p.pad_h);
    let ix0 = i32(ox0 * STRIDE_W) - i32(p.pad_w);
    let in_hw = p.in_height * p.in_width;
    let height = i32(p.in_height);
    let width = i32(p.in_width);

    for (var i = 0u; i < COPIES; i++) {
        let slot = local + i * THREADS;
        let q = slot / WINDOW; // plane within the workgroup
        let rest = slot % WINDOW;
        let iy = iy0 + i32(rest / IN_W);
        let ix = ix0 + i32(rest % IN_W);
        let plane = min(plane0 + q, planes - 1u);
        let ok = slot < PLANES * WINDOW && plane0 + q < planes && iy >= 0 && iy < height && ix >= 0 && ix < width;
        let at = plane * in_hw + u32(clamp(iy, 0, height - 1)) * p.in_width + u32(clamp(ix, 0, width - 1));
        let v = select(0.0, input[at], ok);
        if (slot < PLANES * WINDOW) {
            staged[slot] = v;
        }
    }
    workgroupBarrier();

    let q = local / (TILE_H * TILE_W);
    let ty = (local / TILE_W) % TILE_H;
    let tx = local % TILE_W;
    let oy = oy0 + ty;
    let ox = ox0 + tx;
    let plane = plane0 + q;
    if (plane >= planes || oy >= p.out_height || ox >= p.out_width) {
        return;
    }
    let channel = plane % p.in_channels;
    let taps = channel * (KERNEL_H * KERNEL_W);
    let origin = q * WINDOW + ty * STRIDE_H * IN_W + tx * STRIDE_W;
    var sum = 0.0;
    for (var ky = 0u; ky < KERNEL_H; ky++) {
        for (var kx = 0u; kx < KERNEL_W; kx++) {
            let v = staged[origin + ky * DILATION_H * IN_W + kx * DILATION_W];
            sum = fma(weight[taps + ky * KERNEL_W + kx], v, sum);
        }
    }
    if (p.has_bias != 0u) {
        sum += bias[channel];
    }
    output[plane * (p.out_height * p.out_width) + oy * p.out_width + ox] = sum;
}
