// gemm_gpu_reduce.wgsl — the second dispatch of a split-K `gemm_gpu.wgsl` job: out[i] = Σ_{z < SPLITS}
// partial[z·total + i] (+ bias[c] of output i's channel c), for every output element i < total.
//
// Layout (f32, row-major): partial [SPLITS, N, C_out, H_out, W_out] (the GEMM's partial sums, one copy of the
// output layout per K run); bias [C_out] (a 1-element dummy when has_bias = 0); output [N, C_out, H_out, W_out].
// The job binds the five conv bindings: binding 1 (input) is the partial sums; binding 2 (the weight) is not read.
//
// Dispatch: a 2-D grid of workgroups of 256 invocations (`kernel::grid`), flat invocation index i; invocations at or
// past `total` return at once. Every index is in range by construction (i < total, the channel < C_out), so the
// kernel is safe without runtime bounds checks. The host appends SPLITS.

// Params, p (binding 0) come from conv_params.wgsl, which the host prepends.
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let i = (wg.y * groups.x + wg.x) * 256u + local;
    if (i >= p.total) {
        return;
    }
    var sum = 0.0;
    for (var z = 0u; z < SPLITS; z++) {
        sum += partial[z * p.total + i];
    }
    if (p.has_bias != 0u) {
        sum += bias[(i / (p.out_height * p.out_width)) % p.out_channels];
    }
    output[i] = sum;
}
