//! `pointwise-lanes`: the cpu family's 1×1 conv (any stride, output planes of at least 4 pixels), a GEMM with
//! **lanes over output channels** and no pack pass, generated per layer for llvmpipe (Mesa 25.0.7):
//!
//! - a workgroup owns up to [`LANES_MAX_GROUPS`] groups of 4 output pixels of one image and up to
//!   [`MAX_LANES_WORKGROUP`] output channels, one per lane;
//! - per K stage of at most [`LANES_SLICE`] steps ([`LANES_STAGES`] per slice, one dispatch per slice, the same
//!   program for every slice) its lanes copy the stage's B tile (the slice's input channels × the workgroup's pixels, straight from the input
//!   `[N, C_in, H·W]`: `vec4` loads on planes of whole vec4s, scalars on others such as 7×7 and on strided convs,
//!   which read output pixel p at input row (p / W_out)·stride_y, column (p % W_out)·stride_x; zero past the plane
//!   and past K) into workgroup memory, then each lane reads B at compile-time-constant indices (llvmpipe folds them
//!   into its multiplies as a broadcast from memory) and its own channel's weights 4 K steps at a time, one
//!   `textureLoad` of an rgba32float texture (texel (k/4, co) = weight[co, k..k+3]) that
//!   [`crate::gpu::ConvJob::upload`] fills once from the weight;
//! - the multiply-adds in fenced steps of 4·[`LANES_CHUNK`] K steps (`emit_fenced_steps`: without the fence LLVM
//!   parked every product on the stack);
//! - one `vec4` accumulator per pixel group across the slice's stages; the first slice stores acc + bias, the later
//!   ones add to the output.
//!
//! Measured in CPU time on lavapipe (BENCHMARKS.md, 2026-12-02 "fenced lanes"): 1.3–3.3× the texture-fed GEMM of
//! [`crate::gpu::cpu`] (lanes over pixel groups) and 1.1–6× pointwise-vec4 on every pointwise conv of MobileNet
//! v1/v2 and EfficientNet-B0 measured, from 112²×32→16 to 7²×1024→1024. Its slices compile in 1–1.6 s cold.
//!
//! `conv2d-lanes` ([`conv_lanes_source`], [`ConvLanesShape`]): the same scheme for the standard conv (one group,
//! dilation 1, any kernel past 1×1, any stride) with no im2col pack: per K slice of [`CONV_LANES_CHANNELS`] input
//! channels ([`CONV_LANES_SCALAR_CHANNELS`] on planes stored by scalars, where they fit; C_in when fewer) × the taps the
//! lanes stage the input window of the workgroup's pixel block (its output rows and columns plus the halo, zero
//! padding filled there) in workgroup memory, and each lane reads the taps at constant indices and its weights from
//! the same texture layout (OIHW rows, K = C_in·9, zero-padded to whole slices), in the same fenced steps. About 2×
//! conv2d-cpu on 56²×128→128 and 14²×512→512 in CPU time (6.0× and 6.9× conv2d-vec4); its slices compile in about
//! 1.3 s.

use std::fmt::Write as _;

use crate::gpu::cpu::{MAX_TEXTURE_SIDE, SLICE_ALIGN};
use crate::gpu::kernels::rules;
use crate::layer::ConvLayer;

/// K steps per slice (one dispatch each, fully unrolled). With the add fence (`emit_fenced_steps`) 128 ran
/// 1.2–1.5× faster than 64 on 14²×512 (half the read-modify-writes of the output) and compiles in about a second;
/// without the fence 64 had been the fastest. The weight texture's rows are padded to whole slices (a multiple of
/// 256 bytes, the row alignment of a texture copy). One slice's B tile is 128 × 7 × 16 bytes = 14 KiB of workgroup
/// memory, within the 16 KiB every adapter offers.
pub const LANES_SLICE: u32 = 2 * SLICE_ALIGN;

/// The most stages per slice (one dispatch): 2 ran 1.15–1.25× faster than 1 in CPU time on 14²×512 and 7²×1024
/// (half the read-modify-writes of the output, each a bounds-checked access per lane) and compiles in 1.5–2.5 s
/// cold; 4 ran no faster and compiled in 3.5–6 s.
pub const LANES_STAGES: u32 = 2;

/// Weight texels (4 K steps each) one fenced step of the lanes kernels loads before its multiply-adds: 2 (8 K steps,
/// 8 registers of weights). 1 and 4 ran within the noise of 2 on 14²×512, 28²×256 and 56²×128.
pub const LANES_CHUNK: u32 = 2;

/// The most groups of 4 pixels per workgroup (28 pixels: one `vec4` accumulator each per lane). 16 and 56 pixels
/// ran slower than 28–32.
pub const LANES_MAX_GROUPS: u32 = 7;

/// The most workgroup memory a lanes kernel stages: WebGPU's default `max_compute_workgroup_storage_size`.
pub const MAX_LANES_TILE_BYTES: u64 = 16_384;

/// The most lanes (output channels) per workgroup: WebGPU's default `max_compute_invocations_per_workgroup`.
pub const MAX_LANES_WORKGROUP: u32 = 256;

/// The kernel's view of a pointwise conv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LanesShape {
    /// Groups of 4 output pixels per image: H_out·W_out / 4.
    pub groups: u32,
    /// Pixel groups per workgroup (the last pixel block may be shorter).
    pub per_block: u32,
    /// Pixel blocks per image (grid x).
    pub blocks: u32,
    /// K = C_in.
    pub k: u32,
    /// Slices (one dispatch each), each of `stages` stages.
    pub slices: u32,
    /// Stages per slice: each stages its own B tile (a barrier before and after) and adds to the accumulators, so
    /// the output is read and written once per slice, not once per stage.
    pub stages: u32,
    /// K steps per stage: K split evenly over the slices' stages (K / [`LANES_SLICE`] rounded up), rounded up to
    /// whole fenced steps (4·[`LANES_CHUNK`]), so a C_in of 32 runs 32 steps, not a zero-padded [`LANES_SLICE`]
    /// (that padding had made it 0.4–0.8× vec4).
    pub slice: u32,
    /// Lanes (output channels) per workgroup, a multiple of 8.
    pub workgroup: u32,
    /// Channel blocks (grid y).
    pub channel_blocks: u32,
}

impl LanesShape {
    /// The documented rule: pixel blocks of at most [`LANES_MAX_GROUPS`] groups, as even as they go; channel
    /// blocks of at most [`MAX_LANES_WORKGROUP`] lanes, as even as they go, rounded up to llvmpipe's SIMD width of 8;
    /// K slices of at most [`LANES_SLICE`] steps, as even as they go.
    pub fn for_layer(layer: &ConvLayer) -> LanesShape {
        // Saturated: callers may ask about a layer before it is validated (its plan then refuses it).
        let plane = u64::from(layer.out_height()) * u64::from(layer.out_width());
        let groups = u32::try_from(plane.div_ceil(4).max(1)).unwrap_or(u32::MAX);
        let blocks = groups.div_ceil(LANES_MAX_GROUPS);
        let per_block = groups.div_ceil(blocks);
        let k = layer.in_channels.max(1);
        let sub = k.div_ceil(LANES_SLICE);
        let slices = sub.div_ceil(LANES_STAGES);
        let stages = sub.div_ceil(slices);
        let channels = layer.out_channels.max(1);
        let channel_blocks = channels.div_ceil(MAX_LANES_WORKGROUP);
        let workgroup = channels.div_ceil(channel_blocks).next_multiple_of(8);
        LanesShape {
            groups,
            per_block,
            blocks,
            k,
            slices,
            stages,
            slice: k.div_ceil(slices * stages).next_multiple_of(4 * LANES_CHUNK),
            workgroup,
            channel_blocks,
        }
    }

    /// K zero-padded to whole slices (the weight texture's width is a quarter of it).
    pub fn k_padded(&self) -> u32 {
        // Saturated: callers may ask about a layer before it is validated (C_in = u32::MAX pads past u32).
        self.slices.saturating_mul(self.stages).saturating_mul(self.slice)
    }

    /// Bytes of the weight texture: C_out rows of [`LanesShape::k_padded`] f32.
    pub fn texture_bytes(&self, layer: &ConvLayer) -> u64 {
        u64::from(layer.out_channels) * u64::from(self.k_padded()) * 4
    }

    /// Bytes of one workgroup's B tile: slice × pixels of the block, f32.
    pub fn tile_bytes(&self) -> u64 {
        u64::from(self.slice) * u64::from(self.per_block) * 16
    }
}

/// Ok when the kernel takes the (pointwise) `layer`: an output plane of at least 4 pixels (one group of 4), the
/// weight texture within the 8 192 texels a side every adapter offers.
pub fn lanes_fits(layer: &ConvLayer) -> Result<(), String> {
    let plane = u64::from(layer.out_height()) * u64::from(layer.out_width());
    if plane < 4 {
        return Err(format!(
            "it takes output planes of at least 4 pixels (one group of 4), got {}×{}; pointwise-cpu folds the batch \
             into its pixel groups",
            layer.out_height(),
            layer.out_width()
        ));
    }
    let shape = LanesShape::for_layer(layer);
    let width = u64::from(shape.k_padded()) / 4;
    if width > MAX_TEXTURE_SIDE || u64::from(layer.out_channels) > MAX_TEXTURE_SIDE {
        return Err(format!(
            "its weight texture needs C_in/4 = {width} texels across (C_in padded to {}) and C_out = {} rows, \
             beyond the {MAX_TEXTURE_SIDE} texels a side every adapter offers",
            shape.k_padded(),
            layer.out_channels
        ));
    }
    Ok(())
}

/// The f32 in a row of the weight texture of `layer` (one output channel's weights, zero-padded): C_in padded to
/// whole slices of [`LANES_SLICE`] for a pointwise layer (`pointwise-lanes`), C_in·KH·KW padded to whole slices of
/// [`ConvLanesShape`] otherwise (`conv2d-lanes`).
pub fn texture_row(layer: &ConvLayer) -> u32 {
    if layer.kernel == [1, 1] {
        LanesShape::for_layer(layer).k_padded()
    } else {
        ConvLanesShape::for_layer(layer).map_or(0, |shape| shape.k_padded())
    }
}

/// The extent of the weight texture of `layer`: [`texture_row`] / 4 texels across, C_out rows, 1 layer.
pub fn weight_extent(layer: &ConvLayer) -> wgpu::Extent3d {
    wgpu::Extent3d {
        width: texture_row(layer) / 4,
        height: layer.out_channels,
        depth_or_array_layers: 1,
    }
}

/// The weight as the texture holds it: OIHW rows `[C_out, C_in·KH·KW]` zero-padded to [`texture_row`] (texel
/// (k/4, co) = weight[co, k..k+3]).
pub fn lanes_weights(layer: &ConvLayer, weight: &[f32]) -> Vec<f32> {
    let k = weight.len() / (layer.out_channels.max(1) as usize);
    let padded = (texture_row(layer) as usize).max(k);
    let mut out = vec![0.0; layer.out_channels as usize * padded];
    for (row, chunk) in out.chunks_exact_mut(padded).zip(weight.chunks_exact(k.max(1))) {
        row[..k].copy_from_slice(chunk);
    }
    out
}

macro_rules! emit {
    ($out:expr) => {
        $out.push('\n')
    };
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// The multiply-adds of one slice of `steps` K steps (a multiple of 4·[`LANES_CHUNK`]) of a lanes kernel, in
/// fenced steps: each loads [`LANES_CHUNK`] weight texels (`textureLoad(w_tex, (k0/4 + t, co))`, 4 K steps each),
/// then adds to every accumulator `accs[q]` (`vec4<f32>` when `vec4`, else `f32`) the sum of its 4·[`LANES_CHUNK`] products `w · operand(k, q)` (one
/// dependent chain per accumulator, in K order).
///
/// The fence: every weight fetch after the first step adds to its x coordinate `fence`, the bit pattern of the sum
/// of all the accumulators ANDed with `zero`, a word of the uniform slice record that is always 0. The compiler
/// cannot prove it zero, so each accumulator's adds must be done before the next `textureLoad`. Without it LLVM
/// (llvmpipe, Mesa 25.0.7, `GALLIVM_DEBUG=asm`) sinks every add below the last `textureLoad` of the slice (their
/// only use is the final store) and parks every product on the stack: on 14²×512 1 792 multiplies, 1 856 stack
/// stores and 1 600 adds from the stack per slice of 64 steps; fenced, 419 stores and 395 such adds, and the kernel
/// ran 1.3× faster in CPU time (the fence costs one add per accumulator per step).
fn emit_fenced_steps(
    s: &mut String,
    steps: u32,
    accs: &[String],
    vec4: bool,
    zero: &str,
    first_texel: u32,
    operand: impl Fn(u32, usize) -> Option<String>,
) {
    let comps = ["x", "y", "z", "w"];
    let per_step = 4 * LANES_CHUNK;
    for step in 0..steps / per_step {
        emit!(s, "    {{");
        let fence = if step == 0 {
            ""
        } else {
            emit!(s, "        let sum = {};", accs.join(" + "));
            let total = if vec4 { "sum.x + sum.y + sum.z + sum.w" } else { "sum" };
            emit!(s, "        let fence = bitcast<u32>({total}) & {zero};");
            " + fence"
        };
        for t in 0..LANES_CHUNK {
            emit!(
                s,
                "        let w{t} = textureLoad(w_tex, vec2<u32>(k0 / 4u + {}u{fence}, co), 0);",
                first_texel + step * LANES_CHUNK + t
            );
        }
        for (q, acc) in accs.iter().enumerate() {
            let mut terms = Vec::new();
            for t in 0..LANES_CHUNK {
                for (c, comp) in comps.iter().enumerate() {
                    let k = (step * LANES_CHUNK + t) * 4 + c as u32;
                    if let Some(x) = operand(k, q) {
                        terms.push(format!("w{t}.{comp} * {x}"));
                    }
                }
            }
            if !terms.is_empty() {
                emit!(s, "        {acc} = {acc} + ({});", terms.join(" + "));
            }
        }
        emit!(s, "    }}");
    }
}

/// The end of one round of a lanes kernel's staging (lane `i` of the round copies element `i` of the `tile`):
/// `body`, guarded by `i < tile` in the `last` round where the lanes pass the tile's end; closes the round's block.
fn emit_staging_store(s: &mut String, last: bool, tile: u32, body: &str) {
    if last {
        emit!(s, "        if (i < {tile}u) {{ {body} }}");
    } else {
        emit!(s, "        {body}");
    }
    emit!(s, "    }}");
}

/// The program of one K slice of `layer` (the same for every slice; the slice record says which).
pub fn lanes_source(layer: &ConvLayer) -> String {
    let sh = LanesShape::for_layer(layer);
    let (m, k, kp, batch) = (layer.out_channels, sh.k, sh.k_padded(), layer.batch);
    let (g, p4, wg, ks) = (sh.groups, sh.per_block, sh.workgroup, sh.slice);
    let (wo, hw) = (layer.out_width(), layer.out_height() * layer.out_width());
    let in_hw = layer.height.saturating_mul(layer.width);
    let strided = layer.stride != [1, 1];
    // Planes of whole vec4s are read and written as vec4s; others (7×7: 49 pixels) by scalars, the last pixel group
    // partial (zero past the plane, stored only within it). A strided conv reads its input by scalars (output pixel
    // p at input row (p / W_out)·stride_y, column (p % W_out)·stride_x) and writes vec4s where its plane allows.
    let vec_io = hw.is_multiple_of(4);
    let vec_in = vec_io && !strided;
    let row_step = layer.stride[0].saturating_mul(layer.width);
    let sx = layer.stride[1];
    let input_pixel = |p: String| {
        if strided {
            format!("({p}) / {wo}u * {row_step}u + ({p}) % {wo}u * {sx}u")
        } else {
            p
        }
    };
    let tile = ks * p4;
    let mut s = String::new();
    emit!(
        s,
        "// pointwise-lanes (generated) — the pointwise conv as a GEMM, lanes over output channels:"
    );
    if strided {
        emit!(s, "// out[n, co, y, x] = Σ_{{k<{k}}} weight[co, k] · in[n, k, {}y, {}x] (+ bias[co]); C_out = {m}, C_in = {k}, input {}×{}, output {}×{wo}", layer.stride[0], sx, layer.height, layer.width, layer.out_height());
        emit!(s, "// (stride {}×{sx}), N = {batch}.", layer.stride[0]);
    } else {
        emit!(s, "// out[n, co, p] = Σ_{{k<{k}}} weight[co, k] · in[n, k, p] (+ bias[co]); C_out = {m}, C_in = {k}, H·W = {hw}, N = {batch}.");
    }
    emit!(s, "// K runs in {} slice(s) of {} stage(s) of {ks} steps (zero-padded to {kp}), one dispatch per slice; this program", sh.slices, sh.stages);
    emit!(s, "// computes one slice, its accumulators kept across its stages;");
    emit!(s, "// binding 0 its record: k0 (its first K step), first = 1 for the first slice (store acc + bias), 0 after (add).");
    if vec_in {
        emit!(
            s,
            "// Layout: input [N, C_in, H·W] and output [N, C_out, H·W] as vec4<f32> (H·W a multiple of 4); weight an"
        );
    } else if vec_io {
        emit!(
            s,
            "// Layout: input [N, C_in, H_in·W_in] f32, read by scalars; output [N, C_out, H_out·W_out] as vec4<f32>; weight an"
        );
    } else {
        let planes = if strided {
            "input [N, C_in, H_in·W_in] and output [N, C_out, H_out·W_out]"
        } else {
            "input [N, C_in, H·W] and output [N, C_out, H·W]"
        };
        emit!(
            s,
            "// Layout: {planes} f32, read and written by scalars ({g} groups of 4 pixels,"
        );
        emit!(
            s,
            "// the last one partial: zero past the plane, stored within it); weight an"
        );
    }
    emit!(s, "// rgba32float texture {} × {m}, texel (k/4, co) = weight[co, k..k+3] (zero past K); bias [C_out] (a dummy without).", kp / 4);
    emit!(s, "// Dispatch: workgroups of {wg} lanes (one output channel each) on a grid x = {} pixel blocks of {p4} groups of 4", sh.blocks);
    emit!(
        s,
        "// pixels, y = {} channel blocks, z = N images. Per stage the lanes copy its B tile ({ks} K steps × {p4} pixel",
        sh.channel_blocks
    );
    emit!(
        s,
        "// groups, zero past the plane and past K) into workgroup memory (a barrier after, and before the next copy);"
    );
    emit!(s, "// then {} fenced steps, each {LANES_CHUNK} textureLoad(s) of the lane's weights ({} K steps) and {} × {p4} multiply-adds", ks / (4 * LANES_CHUNK), 4 * LANES_CHUNK, 4 * LANES_CHUNK);
    emit!(s, "// with B read at constant indices; each step's textureLoads wait for the previous step's adds (the fence: a zero the");
    emit!(
        s,
        "// compiler cannot see, from the accumulators and the record's _pad0)."
    );
    emit!(
        s,
        "// Lanes past C_out compute a clamped copy and store nothing. No loops."
    );
    emit!(s);
    emit!(s, "struct Slice {{ k0: u32, first: u32, _pad0: u32, _pad1: u32 }}");
    emit!(s, "@group(0) @binding(0) var<uniform> slice: Slice;");
    let io = if vec_io { "vec4<f32>" } else { "f32" };
    let io_in = if vec_in { "vec4<f32>" } else { "f32" };
    emit!(s, "@group(0) @binding(1) var<storage, read> input: array<{io_in}>;");
    emit!(s, "@group(0) @binding(2) var w_tex: texture_2d<f32>;");
    emit!(s, "@group(0) @binding(3) var<storage, read> bias: array<f32>;");
    emit!(s, "@group(0) @binding(4) var<storage, read_write> output: array<{io}>;");
    emit!(s);
    emit!(s, "var<workgroup> b_tile: array<vec4<f32>, {tile}>;");
    emit!(s);
    emit!(s, "@compute @workgroup_size({wg})");
    // `local_invocation_id.x`, not `local_invocation_index`: with the latter, llvmpipe recomputed the lane's channel
    // (8 scalar `divl`, one per lane) before every `textureLoad` call (GALLIVM_DEBUG=asm, Mesa 25.0.7).
    emit!(
        s,
        "fn main(@builtin(workgroup_id) wgid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{"
    );
    emit!(s, "    let local = lid.x;");
    emit!(s, "    let g0 = wgid.x * {p4}u;");
    emit!(s, "    let co_raw = wgid.y * {wg}u + local;");
    emit!(s, "    let co = min(co_raw, {}u);", m - 1);
    emit!(s, "    let k0 = slice.k0;");
    // One image: no image offsets (the code measured at batch 1).
    let (image_in, image_out) = if batch == 1 {
        (String::new(), String::new())
    } else {
        // In units of the buffers' elements (vec4s or scalars).
        let unit_in = if vec_in { g } else { in_hw };
        let unit_out = if vec_io { g } else { hw };
        emit!(s, "    let image_in = wgid.z * {}u;", k * unit_in);
        emit!(s, "    let image_out = wgid.z * {}u;", m * unit_out);
        ("image_in + ".to_string(), "image_out + ".to_string())
    };
    // The B tile, slice × p4 vec4s, staged by the lanes (per-lane loads).
    let partial_block = !g.is_multiple_of(p4);
    let partial_k = k != kp;
    for q in 0..p4 {
        emit!(s, "    var acc{q} = vec4<f32>();");
    }
    let accs: Vec<String> = (0..p4).map(|q| format!("acc{q}")).collect();
    for stage in 0..sh.stages {
        if stage > 0 {
            // Every lane is done reading the previous stage's tile.
            emit!(s, "    workgroupBarrier();");
        }
        for j in 0..tile.div_ceil(wg) {
            emit!(s, "    {{");
            emit!(s, "        let i = local + {}u;", j * wg);
            let mut ok = Vec::new();
            let pixel = if partial_block {
                ok.push("g < ".to_string() + &format!("{g}u"));
                format!("min(g, {}u)", g - 1)
            } else {
                "g".to_string()
            };
            let step = if partial_k {
                ok.push(format!("kk < {k}u"));
                format!("min(kk, {}u)", k - 1)
            } else {
                "kk".to_string()
            };
            let value = if vec_in {
                let load = format!("input[{image_in}{step} * {g}u + {pixel}]");
                if ok.is_empty() {
                    load
                } else {
                    format!("select(vec4<f32>(), {load}, {})", ok.join(" && "))
                }
            } else {
                // Four scalars; the pixels past the plane (the last group's tail) read as zero.
                let lanes: Vec<String> = (0..4)
                    .map(|j| {
                        let mut ok = ok.clone();
                        if 4 * (g - 1) + j >= hw {
                            ok.push(format!("4u * g + {j}u < {hw}u"));
                        }
                        let load = format!(
                            "input[{image_in}{step} * {in_hw}u + {}]",
                            input_pixel(format!("min(4u * {pixel} + {j}u, {}u)", hw - 1))
                        );
                        if ok.is_empty() {
                            load
                        } else {
                            format!("select(0.0, {load}, {})", ok.join(" && "))
                        }
                    })
                    .collect();
                format!("vec4<f32>({})", lanes.join(", "))
            };
            let body = format!(
                "let g = g0 + i % {p4}u; let kk = k0 + {}u + i / {p4}u; b_tile[i] = {value};",
                stage * ks
            );
            emit_staging_store(&mut s, (j + 1) * wg > tile, tile, &body);
        }
        emit!(s, "    workgroupBarrier();");
        emit_fenced_steps(&mut s, ks, &accs, true, "slice._pad0", stage * ks / 4, |k, q| {
            Some(format!("b_tile[{}]", k * p4 + q as u32))
        });
    }
    emit!(s, "    if (co_raw >= {m}u) {{ return; }}");
    let b = if layer.bias { "bias[co]" } else { "0.0" };
    emit!(s, "    let b = {b};");
    emit!(s, "    let first = slice.first != 0u;");
    for q in 0..p4 {
        let store = if vec_io {
            format!(
                "let at = {image_out}co * {g}u + g0 + {q}u; if (first) {{ output[at] = acc{q} + b; }} else {{ output[at] += acc{q}; }}"
            )
        } else {
            let comps = ["x", "y", "z", "w"];
            let mut parts = vec![format!("let at = {image_out}co * {hw}u + 4u * (g0 + {q}u);")];
            for (j, comp) in (0u32..).zip(comps) {
                let one = format!(
                    "if (first) {{ output[at + {j}u] = acc{q}.{comp} + b; }} else {{ output[at + {j}u] += acc{q}.{comp}; }}"
                );
                // Only the last group can reach past the plane.
                if 4 * (g - 1) + j >= hw {
                    parts.push(format!("if (4u * (g0 + {q}u) + {j}u < {hw}u) {{ {one} }}"));
                } else {
                    parts.push(one);
                }
            }
            parts.join(" ")
        };
        if partial_block {
            emit!(s, "    if (g0 + {q}u < {g}u) {{ {store} }}");
        } else {
            emit!(s, "    {{ {store} }}");
        }
    }
    emit!(s, "}}");
    s
}

/// Input channels per K slice of `conv2d-lanes` (a slice is these channels × the 9 taps = 144 K steps, one
/// dispatch each). On lavapipe (2026-12-02, 56²×128→128 and 14²×512→512) 16 ran 1.2–1.3× faster than 8 (more
/// dispatches, each adding to the output) and 4–6 % slower than 32, whose slices took 3 s to compile against 1.3 s.
pub const CONV_LANES_CHANNELS: u32 = 16;

/// Input channels per K slice of `conv2d-lanes` where the output is stored by scalars (planes such as 7×7 that no
/// block of whole vec4s tiles), when the staged window fits: each slice reads and writes every output of the block
/// by a bounds-checked scalar access per lane, so fewer, longer slices pay off there. On 7²×512→512 (lavapipe,
/// 2026-12-02, `gemm_probe 7 512 512 3 15`, CPU time, two runs) 32 ran 1.21× and 64 1.38× faster than 16; 64
/// compiled in 3–6 s cold (16: 0.3 s). Where 64 channels' window does not fit [`MAX_LANES_TILE_BYTES`], or their
/// K steps pass [`MAX_CONV_LANES_SCALAR_SLICE`], 32, then [`CONV_LANES_CHANNELS`].
pub const CONV_LANES_SCALAR_CHANNELS: u32 = 64;

/// The most K steps (channels × taps) a slice of [`CONV_LANES_SCALAR_CHANNELS`] or half of it may unroll: 64
/// channels of a 3×3 kernel, the longest measured (its compile time grows faster than linearly with the length).
pub const MAX_CONV_LANES_SCALAR_SLICE: u32 = 64 * 9;

/// The most output pixels a `conv2d-lanes` workgroup owns (one accumulator each per lane), as for
/// `pointwise-lanes`.
pub const CONV_LANES_MAX_PIXELS: u32 = 4 * LANES_MAX_GROUPS;

/// `conv2d-lanes`' view of a standard conv (one group, dilation 1): a workgroup owns a block of `rows` × `cols`
/// output pixels (whole rows when `cols` = W_out, else a segment of one row) and up to 256 output channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvLanesShape {
    /// Output rows per pixel block.
    pub rows: u32,
    /// Output columns per pixel block.
    pub cols: u32,
    /// Pixel blocks across an output row (W_out / cols, rounded up).
    pub segments: u32,
    /// Pixel blocks per image (grid x): H_out/rows (rounded up) · segments.
    pub blocks: u32,
    /// The blocks tile the plane exactly in whole vec4s, stored as `vec4`s; else (7×7: blocks of 4 rows, the last
    /// one of 3) the output is stored by scalars, each pixel within the plane only.
    pub vec4_out: bool,
    /// Input channels per slice: [`CONV_LANES_CHANNELS`], or C_in when fewer (one slice).
    pub channels: u32,
    /// K steps per slice: `channels` · KH · KW rounded up to whole fenced steps (4·[`LANES_CHUNK`]; the steps past
    /// the slice's taps are not emitted).
    pub slice: u32,
    /// Slices: C_in in blocks of `channels` (zero-padded).
    pub slices: u32,
    /// Lanes (output channels) per workgroup, a multiple of 8.
    pub workgroup: u32,
    /// Channel blocks (grid y).
    pub channel_blocks: u32,
}

impl ConvLanesShape {
    /// The documented rule: planes at most [`CONV_LANES_MAX_PIXELS`] wide take blocks of the most whole rows that
    /// fit, divide H_out and hold a multiple of 4 pixels; wider ones segments of one row, the widest multiple of 4
    /// up to [`CONV_LANES_MAX_PIXELS`] that divides W_out. Where neither exists (7×7, 15×15, 57 wide) the blocks
    /// are the most whole rows that fit (or segments of [`CONV_LANES_MAX_PIXELS`]), the last one partial, stored
    /// by scalars. `None` only for an empty plane. Channel blocks as for [`LanesShape`].
    pub fn for_layer(layer: &ConvLayer) -> Option<ConvLanesShape> {
        let (h, w) = (layer.out_height(), layer.out_width());
        if h == 0 || w == 0 {
            return None;
        }
        let exact = if w <= CONV_LANES_MAX_PIXELS {
            (1..=CONV_LANES_MAX_PIXELS / w)
                .rev()
                .find(|&r| h.is_multiple_of(r) && (r * w).is_multiple_of(4))
                .map(|rows| (rows, w))
        } else {
            (1..=CONV_LANES_MAX_PIXELS / 4)
                .rev()
                .map(|g| 4 * g)
                .find(|&c| w.is_multiple_of(c))
                .map(|cols| (1, cols))
        };
        let vec4_out = exact.is_some();
        let (rows, cols) = exact.unwrap_or(if w <= CONV_LANES_MAX_PIXELS {
            (CONV_LANES_MAX_PIXELS / w, w)
        } else {
            (1, CONV_LANES_MAX_PIXELS)
        });
        let segments = w.div_ceil(cols);
        let channels = layer.out_channels.max(1);
        let channel_blocks = channels.div_ceil(MAX_LANES_WORKGROUP);
        let shape = ConvLanesShape {
            rows,
            cols,
            segments,
            blocks: h.div_ceil(rows).saturating_mul(segments),
            vec4_out,
            channels: CONV_LANES_CHANNELS,
            slice: 0,
            slices: 0,
            workgroup: channels.div_ceil(channel_blocks).next_multiple_of(8),
            channel_blocks,
        };
        // Scalar stores: the most channels per slice (of 64, 32) whose window fits and whose K steps stay within
        // the cap; else 16.
        let taps = u64::from(layer.kernel[0]) * u64::from(layer.kernel[1]);
        let wide = [CONV_LANES_SCALAR_CHANNELS, CONV_LANES_SCALAR_CHANNELS / 2]
            .into_iter()
            .filter(|_| !vec4_out)
            .find(|&c| {
                u64::from(c).saturating_mul(taps) <= u64::from(MAX_CONV_LANES_SCALAR_SLICE)
                    && ConvLanesShape { channels: c, ..shape }.tile_bytes(layer) <= MAX_LANES_TILE_BYTES
            });
        let per_slice = layer.in_channels.clamp(1, wide.unwrap_or(CONV_LANES_CHANNELS));
        Some(ConvLanesShape {
            channels: per_slice,
            // Saturated: callers may ask about a layer before it is validated (its plan then refuses it).
            slice: per_slice
                .saturating_mul(layer.kernel[0])
                .saturating_mul(layer.kernel[1])
                .checked_next_multiple_of(4 * LANES_CHUNK)
                .unwrap_or(u32::MAX),
            slices: layer.in_channels.max(1).div_ceil(per_slice),
            ..shape
        })
    }

    /// K = C_in·KH·KW zero-padded to whole slices.
    pub fn k_padded(&self) -> u32 {
        self.slices.saturating_mul(self.slice)
    }

    /// The staged input window of a block: ((rows − 1)·stride + KH) × ((cols − 1)·stride + KW).
    fn window(&self, layer: &ConvLayer) -> (u32, u32) {
        let side = |out: u32, stride: u32, k: u32| out.saturating_sub(1).saturating_mul(stride).saturating_add(k);
        (
            side(self.rows, layer.stride[0], layer.kernel[0]),
            side(self.cols, layer.stride[1], layer.kernel[1]),
        )
    }

    /// Bytes of one workgroup's staged input: `channels` × its window, f32.
    pub fn tile_bytes(&self, layer: &ConvLayer) -> u64 {
        let (r, c) = self.window(layer);
        // Saturated: a layer asked about before validation may have a window of u32::MAX a side.
        (u64::from(self.channels) * u64::from(r))
            .saturating_mul(u64::from(c))
            .saturating_mul(4)
    }
}

/// Ok when `conv2d-lanes` takes `layer`: one group, dilation 1, padding below the kernel's size, a pixel block by
/// [`ConvLanesShape`]'s rule whose staged window fits [`MAX_LANES_TILE_BYTES`], the weight texture within 8 192
/// texels a side. Any kernel size and stride; C_in below [`CONV_LANES_CHANNELS`] is one slice of C_in channels
/// (an RGB input: 3·KH·KW steps, not a slice of 16 channels mostly zeros, which had run 0.53× `conv2d-cpu`).
pub fn conv_lanes_fits(layer: &ConvLayer) -> Result<(), String> {
    if layer.groups != 1 || layer.dilation != [1, 1] {
        return Err(format!(
            "it takes one group and dilation 1, got {}",
            rules::geometry(layer)
        ));
    }
    if layer.kernel == [1, 1] {
        return Err(
            "it takes kernels larger than 1×1 (pointwise-lanes runs 1×1 convs, strided or not, without staging the \
             input columns a strided one never reads)"
                .to_string(),
        );
    }
    if layer.padding[0] >= layer.kernel[0] || layer.padding[1] >= layer.kernel[1] {
        return Err(format!(
            "it takes padding below the kernel's size, got {}×{} for a {}×{} kernel",
            layer.padding[0], layer.padding[1], layer.kernel[0], layer.kernel[1]
        ));
    }
    let Some(shape) = ConvLanesShape::for_layer(layer) else {
        return Err(format!(
            "it needs an output plane of at least one pixel, got {}×{}",
            layer.out_height(),
            layer.out_width()
        ));
    };
    if shape.tile_bytes(layer) > MAX_LANES_TILE_BYTES {
        return Err(format!(
            "its staged input window ({} channels × {}×{}) needs {} bytes of workgroup memory, beyond the {} every \
             adapter offers",
            shape.channels,
            shape.window(layer).0,
            shape.window(layer).1,
            shape.tile_bytes(layer),
            MAX_LANES_TILE_BYTES
        ));
    }
    let width = u64::from(shape.k_padded()) / 4;
    if width > MAX_TEXTURE_SIDE || u64::from(layer.out_channels) > MAX_TEXTURE_SIDE {
        return Err(format!(
            "its weight texture needs C_in·KH·KW/4 = {width} texels across and C_out = {} rows, beyond the \
             {MAX_TEXTURE_SIDE} texels a side every adapter offers",
            layer.out_channels
        ));
    }
    Ok(())
}

/// The program of one K slice of `conv2d-lanes` (the same for every slice; the slice record says which). `layer`
/// must pass [`conv_lanes_fits`].
pub fn conv_lanes_source(layer: &ConvLayer) -> String {
    let Some(sh) = ConvLanesShape::for_layer(layer) else {
        return String::new();
    };
    let (m, cin, batch) = (layer.out_channels, layer.in_channels, layer.batch);
    let [kh, kw] = layer.kernel;
    let [ph, pw] = layer.padding;
    let [sy, sx] = layer.stride;
    let (h, w) = (layer.height, layer.width);
    let (ho, wo) = (layer.out_height(), layer.out_width());
    let (rows, cols, wg, cs) = (sh.rows, sh.cols, sh.workgroup, sh.channels);
    let (sr, sw) = sh.window(layer);
    let tile = cs * sr * sw;
    let pixels = rows * cols;
    let mut s = String::new();
    emit!(
        s,
        "// conv2d-lanes (generated) — the standard conv as an implicit GEMM, lanes over output channels, no pack:"
    );
    emit!(s, "// out[n, co, y, x] = Σ_{{ci<{cin}, ky<{kh}, kx<{kw}}} weight[co, ci, ky, kx] · in[n, ci, {sy}·y+ky−{ph}, {sx}·x+kx−{pw}] (+ bias[co]);");
    emit!(
        s,
        "// C_out = {m}, input {h}×{w}, output {ho}×{wo}, stride {sy}×{sx}, N = {batch}. K = C_in·KH·KW in {} slice(s) of {cs}",
        sh.slices
    );
    emit!(
        s,
        "// input channels × {} taps = {} K steps (C_in zero-padded), one dispatch each; binding 0 the slice record:",
        kh * kw,
        sh.slice
    );
    emit!(s, "// c0 (its first input channel), k0 (its first K step), first = 1 for slice 0 (store acc + bias), 0 after (add).");
    let out_as = if sh.vec4_out {
        "as vec4<f32>"
    } else {
        "f32 (blocks past the plane's edge: only pixels within it stored)"
    };
    emit!(
        s,
        "// Layout: input [N, C_in, H, W] f32, output [N, C_out, H_out·W_out] {out_as}; weight an rgba32float texture"
    );
    emit!(s, "// {} × {m}, texel (k/4, co) = weight[co, k..k+3] with k = (ci·KH + ky)·KW + kx (zero past C_in); bias [C_out].", sh.k_padded() / 4);
    emit!(s, "// Dispatch: workgroups of {wg} lanes (one output channel each) on a grid x = {} pixel blocks of {rows} row(s) ×", sh.blocks);
    emit!(s, "// {cols} columns ({} per row), y = {} channel blocks, z = N. The lanes stage the slice's input window ({cs} channels", sh.segments, sh.channel_blocks);
    emit!(
        s,
        "// × {sr} rows × {sw} columns, zero outside the input and past C_in) in workgroup memory (one barrier); then"
    );
    emit!(
        s,
        "// {} fenced steps of {} K steps, each {LANES_CHUNK} textureLoad(s) of the lane's weights and {} × {pixels} multiply-adds with",
        sh.slice / (4 * LANES_CHUNK),
        4 * LANES_CHUNK,
        4 * LANES_CHUNK
    );
    emit!(
        s,
        "// the window read at constant indices, each step's textureLoads after the previous step's adds (the fence: a zero"
    );
    emit!(s, "// the compiler cannot see, from the accumulators and the record's _pad). Lanes past C_out compute a clamped copy");
    emit!(s, "// and store nothing. No loops.");
    emit!(s);
    emit!(s, "struct Slice {{ c0: u32, k0: u32, first: u32, _pad: u32 }}");
    emit!(s, "@group(0) @binding(0) var<uniform> slice: Slice;");
    emit!(s, "@group(0) @binding(1) var<storage, read> input: array<f32>;");
    emit!(s, "@group(0) @binding(2) var w_tex: texture_2d<f32>;");
    emit!(s, "@group(0) @binding(3) var<storage, read> bias: array<f32>;");
    emit!(
        s,
        "@group(0) @binding(4) var<storage, read_write> output: array<{}>;",
        if sh.vec4_out { "vec4<f32>" } else { "f32" }
    );
    emit!(s);
    emit!(s, "var<workgroup> window: array<f32, {tile}>;");
    emit!(s);
    emit!(s, "@compute @workgroup_size({wg})");
    emit!(
        s,
        "fn main(@builtin(workgroup_id) wgid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{"
    );
    emit!(s, "    let local = lid.x;");
    emit!(s, "    let y0 = (wgid.x / {}u) * {rows}u;", sh.segments);
    emit!(s, "    let x0 = (wgid.x % {}u) * {cols}u;", sh.segments);
    emit!(s, "    let co_raw = wgid.y * {wg}u + local;");
    emit!(s, "    let co = min(co_raw, {}u);", m - 1);
    emit!(s, "    let c0 = slice.c0;");
    emit!(s, "    let k0 = slice.k0;");
    let (image_in, image_out) = if batch == 1 {
        (String::new(), String::new())
    } else {
        emit!(s, "    let image_in = wgid.z * {}u;", cin * h * w);
        let unit = if sh.vec4_out { 4 } else { 1 };
        emit!(s, "    let image_out = wgid.z * {}u;", m * ho * wo / unit);
        ("image_in + ".to_string(), "image_out + ".to_string())
    };
    let partial_c = !cin.is_multiple_of(cs);
    for j in 0..tile.div_ceil(wg) {
        emit!(s, "    {{");
        emit!(s, "        let i = local + {}u;", j * wg);
        emit!(s, "        let c = c0 + i / {}u;", sr * sw);
        emit!(s, "        let r = i % {}u;", sr * sw);
        // Signed: the window starts `padding` above and left of the block.
        emit!(s, "        let y = i32(y0 * {sy}u + r / {sw}u) - {ph};");
        emit!(s, "        let x = i32(x0 * {sx}u + r % {sw}u) - {pw};");
        let mut ok = vec![format!("y >= 0 && y < {h} && x >= 0 && x < {w}")];
        if partial_c {
            ok.push(format!("c < {cin}u"));
        }
        let at = format!(
            "{image_in}min(c, {}u) * {}u + u32(clamp(y, 0, {})) * {w}u + u32(clamp(x, 0, {}))",
            cin - 1,
            h * w,
            h - 1,
            w - 1
        );
        let body = format!("window[i] = select(0.0, input[{at}], {});", ok.join(" && "));
        emit_staging_store(&mut s, (j + 1) * wg > tile, tile, &body);
    }
    emit!(s, "    workgroupBarrier();");
    for p in 0..pixels {
        emit!(s, "    var a{p} = 0.0;");
    }
    let accs: Vec<String> = (0..pixels).map(|p| format!("a{p}")).collect();
    emit_fenced_steps(&mut s, sh.slice, &accs, false, "slice._pad", 0, |k, p| {
        let (ci, tap) = (k / (kh * kw), k % (kh * kw));
        let (ky, kx) = (tap / kw, tap % kw);
        let (r, x) = (p as u32 / cols, p as u32 % cols);
        // The steps past the slice's taps (its K rounded up to whole fenced steps) have no operand.
        (ci < cs).then(|| format!("window[{}]", ci * sr * sw + (r * sy + ky) * sw + x * sx + kx))
    });
    emit!(s, "    if (co_raw >= {m}u) {{ return; }}");
    let b = if layer.bias { "bias[co]" } else { "0.0" };
    emit!(s, "    let first = slice.first != 0u;");
    if sh.vec4_out {
        emit!(s, "    let b = vec4<f32>({b});");
        emit!(
            s,
            "    let base = {image_out}co * {}u + (y0 * {wo}u + x0) / 4u;",
            ho * wo / 4
        );
        for q in 0..pixels / 4 {
            let v = format!("vec4<f32>(a{}, a{}, a{}, a{})", 4 * q, 4 * q + 1, 4 * q + 2, 4 * q + 3);
            emit!(
                s,
                "    {{ let at = base + {q}u; if (first) {{ output[at] = {v} + b; }} else {{ output[at] += {v}; }} }}"
            );
        }
    } else {
        // Scalars; only the pixels within the plane (the last block's rows or columns may fall past it).
        emit!(s, "    let b = {b};");
        emit!(s, "    let base = {image_out}co * {}u + y0 * {wo}u + x0;", ho * wo);
        // Only the last block's rows (columns) can fall past the plane: the guards where they can.
        let (last_y, last_x) = ((ho.div_ceil(rows) - 1) * rows, (sh.segments - 1) * cols);
        for r in 0..rows {
            for x in 0..cols {
                let p = r * cols + x;
                let mut ok = Vec::new();
                if last_y + r >= ho {
                    ok.push(format!("y0 + {r}u < {ho}u"));
                }
                if last_x + x >= wo {
                    ok.push(format!("x0 + {x}u < {wo}u"));
                }
                let store = format!(
                    "let at = base + {}u; if (first) {{ output[at] = a{p} + b; }} else {{ output[at] += a{p}; }}",
                    r * wo + x
                );
                if ok.is_empty() {
                    emit!(s, "    {{ {store} }}");
                } else {
                    emit!(s, "    if ({}) {{ {store} }}", ok.join(" && "));
                }
            }
        }
    }
    emit!(s, "}}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(size: u32, c_in: u32, c_out: u32) -> ConvLayer {
        ConvLayer {
            in_channels: c_in,
            out_channels: c_out,
            height: size,
            width: size,
            ..ConvLayer::default()
        }
        .pointwise()
    }

    #[test]
    fn shapes_follow_the_rule() {
        // 14²: 49 pixel groups in 7 blocks of 7; 512 channels in 2 blocks of 256; K 512 in 2 slices of 2 stages.
        let s = LanesShape::for_layer(&pw(14, 512, 512));
        assert_eq!((s.groups, s.per_block, s.blocks), (49, 7, 7));
        assert_eq!(
            (s.workgroup, s.channel_blocks, s.slices, s.stages, s.slice, s.k_padded()),
            (256, 2, 2, 2, 128, 512)
        );
        // 56²: 784 pixel groups in 112 blocks of 7.
        let s = LanesShape::for_layer(&pw(56, 128, 128));
        assert_eq!((s.groups, s.per_block, s.blocks, s.slices), (784, 7, 112, 1));
        // 6²: 9 groups in 2 blocks of 5 (the last one partial); 300 channels in 2 blocks of 152; K 100 → 128.
        let s = LanesShape::for_layer(&pw(6, 100, 300));
        assert_eq!((s.groups, s.per_block, s.blocks), (9, 5, 2));
        assert_eq!(
            (s.workgroup, s.channel_blocks, s.slices, s.k_padded()),
            (152, 2, 1, 104)
        );
        // K 200: 1 slice of 2 stages of 104 (not 128 + 72 padded to 128); K 300: 2 slices of 2 stages of 80.
        let s = LanesShape::for_layer(&pw(14, 200, 64));
        assert_eq!((s.slices, s.stages, s.slice, s.k_padded()), (1, 2, 104, 208));
        let s = LanesShape::for_layer(&pw(14, 300, 64));
        assert_eq!((s.slices, s.stages, s.slice, s.k_padded()), (2, 2, 80, 320));
        // The fenced steps cover a slice exactly.
        assert!(LANES_SLICE.is_multiple_of(4 * LANES_CHUNK));
        for size in [2u32, 4, 6, 8, 10, 12, 14, 28, 56, 112] {
            for c in [1u32, 7, 8, 64, 112, 257, 1024, 8192] {
                let layer = pw(size, c, c);
                let s = LanesShape::for_layer(&layer);
                assert!(s.per_block <= LANES_MAX_GROUPS && s.per_block * s.blocks >= s.groups);
                assert!(
                    (s.blocks - 1) * s.per_block < s.groups,
                    "no empty pixel block: {size} {c}"
                );
                assert!(s.workgroup.is_multiple_of(8) && s.workgroup <= MAX_LANES_WORKGROUP);
                assert!(s.workgroup * s.channel_blocks >= c && (s.channel_blocks - 1) * s.workgroup < c);
                assert!(s.slice <= LANES_SLICE && s.slice.is_multiple_of(4 * LANES_CHUNK));
                assert!(s.stages <= LANES_STAGES);
                assert!(s.k_padded() >= c && s.k_padded() - c < 4 * LANES_CHUNK * s.slices * s.stages);
                // The tile fits WebGPU's 16 KiB of workgroup memory.
                assert!(s.tile_bytes() <= 16_384);
            }
        }
    }

    #[test]
    fn it_takes_planes_of_4_pixels_or_more_within_the_texture_limits() {
        for layer in [
            pw(14, 512, 512),
            pw(2, 8, 8),
            pw(14, 8192, 8192),
            pw(28, 256, 256),
            pw(112, 32, 16),
            pw(7, 512, 1024),
            pw(15, 64, 64),
        ] {
            assert!(lanes_fits(&layer).is_ok(), "{}", layer.describe());
        }
        for (layer, needle) in [
            (pw(1, 512, 1024), "got 1×1"),
            (pw(14, 32_772, 8), "weight texture"),
            (pw(14, 8, 8193), "weight texture"),
        ] {
            let error = lanes_fits(&layer).unwrap_err();
            assert!(error.contains(needle), "{error}");
        }
    }

    #[test]
    fn weights_are_rows_padded_to_whole_slices() {
        let layer = pw(4, 3, 2);
        let weight: Vec<f32> = (1..=6).map(|v| v as f32).collect();
        let padded = lanes_weights(&layer, &weight);
        assert_eq!(padded.len(), 2 * 8);
        assert_eq!(&padded[..4], &[1.0, 2.0, 3.0, 0.0]);
        assert_eq!(&padded[8..12], &[4.0, 5.0, 6.0, 0.0]);
        assert!(padded[12..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn the_source_states_its_shape_and_guards_only_what_needs_it() {
        let source = lanes_source(&pw(14, 512, 512));
        assert!(source.contains("@compute @workgroup_size(256)"));
        assert!(source.contains("x = 7 pixel blocks of 7 groups"), "{source}");
        assert!(!source.contains("select("), "no partial block, K a multiple of 128");
        assert!(!source.contains("image_in"), "batch 1");
        assert_eq!(source.matches("textureLoad(w_tex").count(), 64);
        // 2 stages of 16 fenced steps of 8 K steps: every one after a stage's first waits for the adds of the one
        // before (the barrier between the stages already does).
        let fence = "let fence = bitcast<u32>(sum.x + sum.y + sum.z + sum.w) & slice._pad0;";
        assert_eq!(source.matches(fence).count(), 30);
        assert_eq!(source.matches(" + fence, co), 0);").count(), 60);
        assert_eq!(source.matches("workgroupBarrier();").count(), 3);
        assert!(source.contains("let kk = k0 + 128u + i / 7u;"), "{source}");
        assert!(
            source.contains("textureLoad(w_tex, vec2<u32>(k0 / 4u + 32u, co), 0);"),
            "{source}"
        );
        let odd = ConvLayer {
            batch: 2,
            bias: false,
            ..pw(6, 100, 300)
        };
        let source = lanes_source(&odd);
        assert!(source.contains("g < 9u && kk < 100u"), "{source}");
        assert!(source.contains("let image_in = wgid.z * 900u;"), "{source}");
        assert!(source.contains("if (g0 + 4u < 9u)"), "{source}");
        assert!(source.contains("let b = 0.0;"));
        // 7×7 (49 pixels): scalar input and output, the last group's 3 missing pixels zero and not stored.
        let source = lanes_source(&pw(7, 64, 64));
        assert!(source.contains("var<storage, read> input: array<f32>;"), "{source}");
        assert!(source.contains("4u * g + 1u < 49u"), "{source}");
        assert!(!source.contains("4u * g + 0u < 49u"), "{source}");
        assert!(source.contains("if (4u * (g0 + 5u) + 3u < 49u)"), "{source}");
        assert!(!source.contains("+ 0u < 49u) {"), "{source}");
        // A strided 1×1 (ResNet's 28²×128 → 14²×256 downsample): scalar reads at the strided pixels of the 28×28
        // input (output pixel p at row (p / 14)·2, column (p % 14)·2), vec4 output on the 14×14 plane.
        let strided = ConvLayer {
            stride: [2, 2],
            ..pw(28, 128, 256)
        };
        assert!(lanes_fits(&strided).is_ok());
        let source = lanes_source(&strided);
        assert!(source.contains("var<storage, read> input: array<f32>;"), "{source}");
        assert!(
            source.contains("var<storage, read_write> output: array<vec4<f32>>;"),
            "{source}"
        );
        assert!(
            source.contains(
                "input[kk * 784u + (min(4u * g + 3u, 195u)) / 14u * 56u + (min(4u * g + 3u, 195u)) % 14u * 2u]"
            ),
            "{source}"
        );
        assert!(source.contains("input 28×28, output 14×14"), "{source}");
    }

    fn conv3(size: u32, c_in: u32, c_out: u32) -> ConvLayer {
        ConvLayer {
            in_channels: c_in,
            out_channels: c_out,
            height: size,
            width: size,
            ..ConvLayer::default()
        }
    }

    #[test]
    fn conv_shapes_follow_the_rule() {
        // 14 wide: blocks of 2 whole rows (28 pixels), 7 per image; 512 channels in 2 blocks of 256; K 4608 in 32
        // slices of 16 channels × 9 taps.
        let s = ConvLanesShape::for_layer(&conv3(14, 512, 512)).unwrap();
        assert_eq!((s.rows, s.cols, s.segments, s.blocks), (2, 14, 1, 7));
        assert_eq!((s.slice, s.slices, s.k_padded()), (144, 32, 4608));
        assert_eq!((s.workgroup, s.channel_blocks), (256, 2));
        // 56 wide: segments of 28 of one row, 2 per row.
        let s = ConvLanesShape::for_layer(&conv3(56, 128, 128)).unwrap();
        assert_eq!(
            (s.rows, s.cols, s.segments, s.blocks, s.vec4_out),
            (1, 28, 2, 112, true)
        );
        assert_eq!((s.workgroup, s.channel_blocks, s.slices), (128, 1, 8));
        // 7 wide: no block of whole rows divides 7 in a multiple of 4: blocks of 4 rows, the last one of 3, stored
        // by scalars; 57 wide: segments of 28, 28 and 1.
        let s = ConvLanesShape::for_layer(&conv3(7, 64, 64)).unwrap();
        assert_eq!((s.rows, s.cols, s.segments, s.blocks, s.vec4_out), (4, 7, 1, 2, false));
        let s = ConvLanesShape::for_layer(&conv3(57, 64, 64)).unwrap();
        assert_eq!(
            (s.rows, s.cols, s.segments, s.blocks, s.vec4_out),
            (1, 28, 3, 171, false)
        );
        let source = conv_lanes_source(&conv3(7, 64, 64));
        assert!(
            source.contains("var<storage, read_write> output: array<f32>;"),
            "{source}"
        );
        assert!(
            source.contains("    if (y0 + 3u < 7u) { let at = base + 21u;"),
            "{source}"
        );
        assert!(source.contains("    { let at = base + 20u;"), "{source}");
        assert_eq!(source.matches("< 7u) { let at").count(), 7, "{source}");
        // 12 wide: 2 rows (24 pixels); 40 wide: segments of 20; C_in 20 → 2 slices (K padded to 288).
        let s = ConvLanesShape::for_layer(&conv3(12, 20, 300)).unwrap();
        assert_eq!((s.rows, s.cols, s.blocks, s.k_padded()), (2, 12, 6, 288));
        assert_eq!((s.workgroup, s.channel_blocks), (152, 2));
        let s = ConvLanesShape::for_layer(&conv3(40, 16, 16)).unwrap();
        assert_eq!((s.rows, s.cols, s.segments), (1, 20, 2));
        for size in [4u32, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 56, 112, 224] {
            let layer = conv3(size, 64, 64);
            let s = ConvLanesShape::for_layer(&layer).unwrap();
            assert!((s.rows * s.cols).is_multiple_of(4) && s.rows * s.cols <= CONV_LANES_MAX_PIXELS);
            assert!(s.rows == 1 || s.cols == size, "whole rows or a segment of one: {size}");
            assert_eq!(
                s.blocks * s.rows * s.cols,
                size * size,
                "the blocks tile the plane: {size}"
            );
            assert!(s.tile_bytes(&layer) <= 16_384, "{size}");
        }
        // Scalar stores take 64 input channels per slice where the window fits and K stays within the cap: 7² with
        // 512 channels in 8 slices of 576 steps; 14² → 7² at stride 2 (a 9×15 window: 32 channels would need
        // 17 280 bytes) and a 5×5 kernel on 7² (64 · 25 and 32 · 25 steps pass the cap) keep 16; vec4 stores keep
        // 16; fewer input channels than 64 are one slice of C_in.
        let s = ConvLanesShape::for_layer(&conv3(7, 512, 512)).unwrap();
        assert_eq!((s.vec4_out, s.channels, s.slice, s.slices), (false, 64, 576, 8));
        let stride2 = ConvLayer {
            stride: [2, 2],
            ..conv3(14, 256, 512)
        };
        let s = ConvLanesShape::for_layer(&stride2).unwrap();
        assert_eq!((s.vec4_out, s.channels, s.slices), (false, 16, 16));
        assert!(ConvLanesShape { channels: 32, ..s }.tile_bytes(&stride2) > MAX_LANES_TILE_BYTES);
        let five = ConvLayer {
            kernel: [5, 5],
            padding: [2, 2],
            ..conv3(7, 128, 128)
        };
        assert_eq!(ConvLanesShape::for_layer(&five).unwrap().channels, 16);
        assert_eq!(ConvLanesShape::for_layer(&conv3(14, 512, 512)).unwrap().channels, 16);
        assert_eq!(ConvLanesShape::for_layer(&conv3(7, 40, 24)).unwrap().channels, 40);
        for size in 1u32..=60 {
            let layer = conv3(size, 256, 16);
            let s = ConvLanesShape::for_layer(&layer).unwrap();
            assert!(s.tile_bytes(&layer) <= MAX_LANES_TILE_BYTES, "{size}");
            assert!(s.slice <= MAX_CONV_LANES_SCALAR_SLICE, "{size}");
        }
        // Any plane: blocks cover it, no block lies wholly past it.
        for size in 1u32..=60 {
            let s = ConvLanesShape::for_layer(&conv3(size, 16, 16)).unwrap();
            assert!(s.rows * s.cols <= CONV_LANES_MAX_PIXELS);
            let (by, bx) = (s.blocks / s.segments, s.segments);
            assert!(by * s.rows >= size && (by - 1) * s.rows < size, "{size}");
            assert!(bx * s.cols >= size && (bx - 1) * s.cols < size, "{size}");
        }
    }

    #[test]
    fn conv_lanes_takes_any_kernel_and_stride_without_dilation() {
        assert!(conv_lanes_fits(&conv3(14, 512, 512)).is_ok());
        assert!(conv_lanes_fits(&conv3(56, 16, 8)).is_ok());
        let valid = ConvLayer {
            padding: [0, 0],
            ..conv3(30, 33, 12)
        };
        assert!(conv_lanes_fits(&valid).is_ok(), "28×28 output");
        // Fewer than 16 input channels (one slice), stride 2, a 5×5 and a 7×7 kernel (ResNet's stem).
        assert!(conv_lanes_fits(&conv3(14, 8, 8)).is_ok());
        let stride2 = ConvLayer {
            stride: [2, 2],
            ..conv3(224, 3, 32)
        };
        assert!(conv_lanes_fits(&stride2).is_ok());
        let s = ConvLanesShape::for_layer(&stride2).unwrap();
        // 112 wide out: segments of 28 → windows of 3 rows × 57 columns of 3 channels; K = 27 → one slice of 32.
        assert_eq!((s.rows, s.cols, s.channels, s.slice, s.slices), (1, 28, 3, 32, 1));
        assert_eq!(s.tile_bytes(&stride2), 3 * 3 * 57 * 4);
        let source = conv_lanes_source(&stride2);
        assert!(source.contains("let y = i32(y0 * 2u + r / 57u) - 1;"), "{source}");
        // Output pixel 27 of the segment, tap (2, 2) of channel 2: window row 2, column 27·2 + 2.
        assert!(
            source.contains(&format!("window[{}]", 2 * 3 * 57 + 2 * 57 + 56)),
            "{source}"
        );
        // 27 taps in 4 fenced steps of 8: the last step's 5 padded steps have no products.
        assert_eq!(source.matches(" * window[").count(), 27 * 28);
        let five = ConvLayer {
            kernel: [5, 5],
            padding: [2, 2],
            ..conv3(14, 64, 64)
        };
        assert!(conv_lanes_fits(&five).is_ok());
        let stem = ConvLayer {
            kernel: [7, 7],
            stride: [2, 2],
            padding: [3, 3],
            ..conv3(224, 3, 64)
        };
        assert!(conv_lanes_fits(&stem).is_ok());
        for (layer, needle) in [
            (
                ConvLayer {
                    dilation: [2, 2],
                    padding: [2, 2],
                    ..conv3(14, 64, 64)
                },
                "dilation 2×2",
            ),
            (
                ConvLayer {
                    stride: [2, 2],
                    ..conv3(14, 64, 64).pointwise()
                },
                "larger than 1×1",
            ),
            (
                ConvLayer {
                    padding: [3, 3],
                    ..conv3(14, 64, 64)
                },
                "padding below the kernel's size",
            ),
            // Stride 4 with an 11×11 kernel: 16 channels × 11 rows × 119 columns, 83 776 bytes.
            (
                ConvLayer {
                    kernel: [11, 11],
                    stride: [4, 4],
                    padding: [2, 2],
                    ..conv3(227, 64, 64)
                },
                "bytes of workgroup memory",
            ),
            (conv3(14, 4000, 8), "weight texture"),
        ] {
            let error = conv_lanes_fits(&layer).unwrap_err();
            assert!(error.contains(needle), "{error}");
        }
        // Layers not yet validated: no overflow on the way to the refusal.
        for kernel in [[u32::MAX, u32::MAX], [0, 3], [3, 0]] {
            let layer = ConvLayer {
                kernel,
                ..conv3(u32::MAX, u32::MAX, u32::MAX)
            };
            assert!(conv_lanes_fits(&layer).is_err());
            let _ = (texture_row(&layer), ConvLanesShape::for_layer(&layer));
        }
    }

    #[test]
    fn conv_weights_are_oihw_rows_padded_to_whole_slices() {
        let layer = conv3(4, 20, 2);
        assert_eq!(texture_row(&layer), 288);
        assert_eq!(weight_extent(&layer).width, 72);
        let weight: Vec<f32> = (0..2 * 180).map(|v| v as f32 + 1.0).collect();
        let padded = lanes_weights(&layer, &weight);
        assert_eq!(padded.len(), 2 * 288);
        assert_eq!(&padded[..180], &weight[..180]);
        assert!(padded[180..288].iter().all(|&v| v == 0.0));
        assert_eq!(&padded[288..468], &weight[180..]);
        // pointwise-lanes' rows: C_in padded to whole fenced steps of 8.
        assert_eq!(texture_row(&conv3(4, 100, 2).pointwise()), 104);
    }

    #[test]
    fn the_conv_source_states_its_shape_and_guards_only_what_needs_it() {
        let source = conv_lanes_source(&conv3(14, 512, 512));
        assert!(source.contains("@compute @workgroup_size(256)"));
        assert!(source.contains("x = 7 pixel blocks of 2 row(s) ×"), "{source}");
        assert!(!source.contains("c < 512u"), "C_in a multiple of 16");
        assert!(!source.contains("image_in"), "batch 1");
        assert_eq!(source.matches("textureLoad(w_tex").count(), 36);
        // 144 K steps × 28 pixels, in 18 fenced steps of 8 K steps: one chain of 8 products per pixel and step.
        assert_eq!(source.matches("w0.x * window[").count(), 18 * 28);
        assert_eq!(source.matches(" * window[").count(), 144 * 28);
        assert_eq!(
            source.matches("let fence = bitcast<u32>(sum) & slice._pad;").count(),
            17
        );
        let odd = ConvLayer {
            batch: 2,
            bias: false,
            ..conv3(12, 20, 300)
        };
        let source = conv_lanes_source(&odd);
        assert!(source.contains("&& c < 20u"), "{source}");
        assert!(source.contains("let image_in = wgid.z * 2880u;"), "{source}");
        assert!(source.contains("vec4<f32>(0.0)"));
        assert!(
            source.contains("if (i < 896u)"),
            "16 × 4 × 14 staged by 152 lanes: {source}"
        );
    }
}
