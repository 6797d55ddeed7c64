// conv_params.wgsl — what every conv shader shares, prepended by the host to each conv shader: the uniform block of
// the layer's shape (the same field order as `ConvParams` in src/gpu/conv/params.rs) and the workgroup-size override
// constant. The scalar kernels then get conv_common.wgsl (their five bindings); the vec4 kernels declare their own.
//
// Layout (f32, row-major, PyTorch Conv2d): input [N, C_in, H, W], weight [C_out, C_in/groups, KH, KW],
// bias [C_out] (a 1-element dummy when has_bias = 0), output [N, C_out, H_out, W_out].
// Dispatch: each including shader states its own geometry.

struct Params {
    batch: u32, in_channels: u32, in_height: u32, in_width: u32,
    out_channels: u32, out_height: u32, out_width: u32, kernel_h: u32,
    kernel_w: u32, stride_h: u32, stride_w: u32, pad_h: u32,
    pad_w: u32, dilation_h: u32, dilation_w: u32, groups: u32,
    has_bias: u32, total: u32, _pad0: u32, _pad1: u32,
}

override WORKGROUP_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
