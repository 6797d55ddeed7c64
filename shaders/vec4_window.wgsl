// vec4_window.wgsl — the register sliding window and the lane geometry the vec4 conv kernels share (conv2d_vec4,
// depthwise_vec4, separable_fused_vec4), prepended by the host after conv_params.wgsl. A kernel 3 wide at stride 1 reads, for the 4
// pixels of a vec4 group, the pixels x − 1, x and x + 1 of a row: 6 consecutive values that start `shift` lanes into
// the 3 aligned vec4 a, b, c around them (the shift is the same for every pixel of a layer and kernel row). No
// loads here: the callers load a, b, c (clamped into their plane) and mask the taps that leave the image.

// The 4 values starting `shift` (0..3) lanes into the 8 values a, b.
fn window(a: vec4<f32>, b: vec4<f32>, shift: u32) -> vec4<f32> {
    var w = a;
    w = select(w, vec4<f32>(a.yzw, b.x), shift == 1u);
    w = select(w, vec4<f32>(a.zw, b.xy), shift == 2u);
    w = select(w, vec4<f32>(a.w, b.xyz), shift == 3u);
    return w;
}

// The three taps of 4 pixels: left (x − 1), middle (x) and right (x + 1).
struct Taps3 {
    left: vec4<f32>,
    mid: vec4<f32>,
    right: vec4<f32>,
}

// The taps whose left one starts `shift` lanes into a, b, c: two windows (6 selects), the middle and right taps
// being swizzles of them.
fn taps3(a: vec4<f32>, b: vec4<f32>, c: vec4<f32>, shift: u32) -> Taps3 {
    let lo = window(a, b, shift);
    let hi = window(b, c, shift);
    return Taps3(lo, vec4<f32>(lo.yzw, hi.x), vec4<f32>(lo.zw, hi.xy));
}

// Where the 4 pixels of vec4 group `group` of a flattened plane `width` wide sit: their rows, and which of them may
// read their left (x − 1) and right (x + 1) taps without leaving their row.
struct Lanes {
    oy: vec4<i32>,
    left_ok: vec4<bool>,
    right_ok: vec4<bool>,
}

fn lanes_of(group: u32, width: i32) -> Lanes {
    let q = vec4<i32>(vec4<u32>(4u * group) + vec4<u32>(0u, 1u, 2u, 3u));
    let ox = q % width;
    return Lanes(q / width, ox >= vec4<i32>(1), ox < vec4<i32>(width - 1));
}
