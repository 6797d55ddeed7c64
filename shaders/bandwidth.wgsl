// bandwidth.wgsl — the memory-bandwidth ceiling: a vec4 streaming copy (`copy`: every element read once and
// written once) and a read-only reduction (`reduce`: every element read once, one partial sum stored per
// invocation so the reads are not dead). Buffers are far larger than the caches and filled with varied data.
//
// Layout: source [n] vec4<f32>, destination [n] vec4<f32> (`copy`) or partial sums [invocations] f32 (`read`).
//
// Dispatch: workgroups of WORKGROUP_SIZE (override constant) invocations on a 1-D grid; a grid-stride loop:
// invocation i handles elements i, i + T, i + 2T, … where T is the number of invocations, so neighbouring
// invocations touch neighbouring vec4s on every step (coalesced on GPUs, contiguous for CPU SIMD lanes).

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override WORKGROUP_SIZE: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> source: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> destination: array<vec4<f32>>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) grid: vec3<u32>) {
    let stride = grid.x * WORKGROUP_SIZE;
    for (var i = gid.x; i < p.n; i += stride) {
        destination[i] = source[i];
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) grid: vec3<u32>) {
    let stride = grid.x * WORKGROUP_SIZE;
    var sum = vec4<f32>();
    for (var i = gid.x; i < p.n; i += stride) {
        sum += source[i];
    }
    // One partial sum per invocation, in the first `stride` vec4s of the destination.
    destination[gid.x] = sum;
}
