// bandwidth.wgsl — the memory-bandwidth ceiling, in two shapes each for copying and for reading, since adapters
// differ in which one they run best (llvmpipe pays for loops; GPUs for too few bytes in flight):
// - `copy`: vec4 streaming copy, every element read once and written once, on a grid-stride loop;
// - `copy_flat`: the same copy with one vec4 per invocation and no loop;
// - `reduce`: read-only reduction on a grid-stride loop, one partial sum per invocation so the reads are not dead;
// - `reduce_flat`: read-only, 16 vec4 per invocation (elements id + k·T, k < 16, T = p.stride) and no loop; its
//   partial sums (1/16 of the bytes read) are not counted, so the figure errs low.
// Buffers are far larger than the caches and filled with varied data.
//
// Layout: source [n] vec4<f32>, destination [n] vec4<f32> (copies) or partial sums (reductions).
//
// Dispatch: workgroups of WORKGROUP_SIZE (override constant) on a 2-D grid (x × y workgroups, x ≤ the adapter's
// per-dimension limit); the invocation index is gid.x + gid.y · x · WORKGROUP_SIZE. Neighbouring invocations touch
// neighbouring vec4s on every access (coalesced on GPUs, contiguous for CPU SIMD lanes). `copy` and `reduce` use
// the invocation count as their loop stride; the flat entry points guard every index against n.

struct Params {
    n: u32,
    stride: u32,
    _pad1: u32,
    _pad2: u32,
}

override WORKGROUP_SIZE: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> source: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> destination: array<vec4<f32>>;

fn invocation(gid: vec3<u32>, grid: vec3<u32>) -> u32 {
    return gid.x + gid.y * grid.x * WORKGROUP_SIZE;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) grid: vec3<u32>) {
    let stride = grid.x * grid.y * WORKGROUP_SIZE;
    for (var i = invocation(gid, grid); i < p.n; i += stride) {
        destination[i] = source[i];
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn copy_flat(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) grid: vec3<u32>) {
    let i = invocation(gid, grid);
    if (i < p.n) {
        destination[i] = source[i];
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) grid: vec3<u32>) {
    let stride = grid.x * grid.y * WORKGROUP_SIZE;
    let id = invocation(gid, grid);
    var sum = vec4<f32>();
    for (var i = id; i < p.n; i += stride) {
        sum += source[i];
    }
    // One partial sum per invocation, in the first `stride` vec4s of the destination.
    if (id < p.n) {
        destination[id] = sum;
    }
}

fn load(i: u32) -> vec4<f32> {
    return select(vec4<f32>(), source[min(i, p.n - 1u)], i < p.n);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn reduce_flat(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) grid: vec3<u32>) {
    let id = invocation(gid, grid);
    let t = p.stride;
    let a = load(id) + load(id + t) + load(id + 2u * t) + load(id + 3u * t);
    let b = load(id + 4u * t) + load(id + 5u * t) + load(id + 6u * t) + load(id + 7u * t);
    let c = load(id + 8u * t) + load(id + 9u * t) + load(id + 10u * t) + load(id + 11u * t);
    let d = load(id + 12u * t) + load(id + 13u * t) + load(id + 14u * t) + load(id + 15u * t);
    if (id < p.n) {
        destination[id] = a + b + c + d;
    }
}
