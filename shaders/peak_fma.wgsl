// peak_fma.wgsl — the FMA-throughput ceiling, on clpeak's rules: independent dependency chains x = fma(x, x, c)
// (c comes from a uniform and each invocation starts from its own x, so nothing can be folded or hoisted), CHAINS
// vec4 chains per invocation, each loop iteration 8 dependent steps per chain written out by `steps8`, and the sum of the chains stored so none is dead.
// With c = -0.25 the iteration converges to (1 − √2)/2 from any start in (−0.5, 0.5): no overflow, no denormals.
//
// Layout: output [invocations] f32, one value per invocation.
//
// Dispatch: workgroups of WORKGROUP_SIZE (override constant) invocations on a 1-D grid. One invocation performs
// iterations × 8 × CHAINS × 4 FMAs (2 FLOPs each); the host grows `iterations` until a dispatch takes ~100 ms.

struct Params {
    iterations: u32,
    c: f32,
    _pad0: u32,
    _pad1: u32,
}

override WORKGROUP_SIZE: u32 = 256u;
override CHAINS: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

// Eight dependent FMA steps of one chain (the compiler inlines it: the loop body is straight-line code).
fn steps8(x: vec4<f32>, c: vec4<f32>) -> vec4<f32> {
    let a = fma(x, x, c);
    let b = fma(a, a, c);
    let d = fma(b, b, c);
    let e = fma(d, d, c);
    let f = fma(e, e, c);
    let g = fma(f, f, c);
    let h = fma(g, g, c);
    return fma(h, h, c);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) grid: vec3<u32>) {
    let id = gid.x + gid.y * grid.x * WORKGROUP_SIZE;
    let seed = f32(id % 1024u) / 4096.0;
    let c = vec4<f32>(p.c);
    var x0 = vec4<f32>(seed, seed + 0.01, seed + 0.02, seed + 0.03);
    var x1 = x0 + 0.04;
    var x2 = x0 + 0.08;
    var x3 = x0 + 0.12;
    var x4 = x0 - 0.04;
    var x5 = x0 - 0.08;
    var x6 = x0 - 0.12;
    var x7 = x0 - 0.16;
    if (CHAINS > 4u) {
        for (var i = 0u; i < p.iterations; i++) {
            x0 = steps8(x0, c);
            x1 = steps8(x1, c);
            x2 = steps8(x2, c);
            x3 = steps8(x3, c);
            x4 = steps8(x4, c);
            x5 = steps8(x5, c);
            x6 = steps8(x6, c);
            x7 = steps8(x7, c);
        }
    } else {
        for (var i = 0u; i < p.iterations; i++) {
            x0 = steps8(x0, c);
            x1 = steps8(x1, c);
            x2 = steps8(x2, c);
            x3 = steps8(x3, c);
        }
    }
    let sum = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;
    output[id] = sum.x + sum.y + sum.z + sum.w;
}
