// launch.wgsl — the launch-latency ceiling: a dispatch that does (almost) nothing, so its time is the fixed cost of
// one dispatch. One invocation adds p.step to data[0]: each dispatch reads what the dispatch before it wrote, so the
// dispatches of a pass depend on each other (wgpu orders them with a barrier) exactly as a conv job's repeated
// dispatches do when `measure::time` batches them.
//
// Layout: data [1] f32 (read-write), p.step a uniform f32.
//
// Dispatch: one workgroup of one invocation.

struct Params {
    step: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> data: array<f32>;

@compute @workgroup_size(1)
fn main() {
    data[0] = data[0] + p.step;
}
