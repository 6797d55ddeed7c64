// conv_common.wgsl — the five bindings of the scalar conv kernels (conv2d, conv2d_tiled, depthwise, depthwise_tiled,
// pointwise), prepended by the host after conv_params.wgsl: f32 arrays in the layouts conv_params.wgsl states.

@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> output: array<f32>;
