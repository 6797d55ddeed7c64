//! The GEMV of the cpu family (`gemv-cpu`): a pointwise conv whose GEMM has few columns, N = batch·H_out·W_out ≤
//! [`GEMV_MAX_COLUMNS`] (fully connected layers, the squeeze-excitation convs of EfficientNet, any 1×1 conv on a
//! tiny plane), generated per layer for llvmpipe (Mesa 25.0.7):
//!
//! - **lanes over output channels**: invocation `co` computes out[n, co, p] for all N columns (n, p), so the 8 lanes
//!   of a SIMD vector do 8 channels' work (the GEMM kernel, lanes over 4-pixel groups, leaves 7 of 8 lanes idle on a
//!   1×1 input and wastes 3 of its 4 pixels);
//! - **the input at compile-time-constant addresses**: every input value a step reads, in[n, k, p], sits at
//!   `(n·C_in + k)·H·W + p` relative to the slice's binding, a constant of the generated code, so llvmpipe loads it
//!   once and broadcasts it to the lanes;
//! - **each lane's weights from an rgba32float texture**: the weight is written at upload, before any timing, into a
//!   2-D array texture ([`gemv_weights`], [`GemvShape::texture`]) whose texel (co, g) of the slice's layer holds
//!   weight[co, 4g .. 4g+4] of the slice, so one `textureLoad` brings a lane its 4 weights for 4 K steps, each used
//!   N times. On llvmpipe that fetch costs about 5 instructions per value per lane against about 9 for the same
//!   `vec4` read from a storage buffer (4 bounds-checked scalar loads per lane, GALLIVM_DEBUG=asm), and the program
//!   compiles several times faster; measured in BENCHMARKS.md (2026-12-02);
//! - **K in unrolled slices**: at most [`MAX_GEMV_UNROLL`] multiply-adds (K steps × N columns) per invocation per
//!   slice, one dispatch per slice, the input bound at the slice's offset (256-byte aligned: slices are multiples
//!   of [`SLICE_ALIGN`] steps) and the slice's texture layer given by its slice record; the first slice stores
//!   acc + bias, the later ones add to the output. The last slice, when shorter, is its own program (so no read goes
//!   past K: no padding values multiply Inf or NaN of the next image into the result).
//!
//! Every weight is read once: 2 FLOPs per 4 bytes at batch 1, so its roof is memory bandwidth.

use std::fmt::Write as _;

use crate::gpu::cpu::{MAX_TEXTURE_LAYERS, MAX_TEXTURE_SIDE, SLICE_ALIGN};
use crate::layer::ConvLayer;

/// The most GEMM columns (N = batch·H_out·W_out) the GEMV takes. Per 4 K steps and SIMD vector its cost is one
/// weight fetch per lane (a `textureLoad`, about 5 instructions per value per lane on Mesa 25.0.7) plus 4·N
/// broadcast input values and 4·N multiply-adds, so more columns share the weight fetch; the GEMM (lanes over
/// 4-pixel groups) fills its 8 lanes only from N = 32. Measured in BENCHMARKS.md (2026-12-02), with the weights
/// then read from a storage buffer (about 9 instructions per value per lane): at N = 16 (the classifiers at batch
/// 16) the GEMV 1.05–1.28× the GEMM.
pub const GEMV_MAX_COLUMNS: u64 = 16;

/// The most multiply-adds (K steps × N columns) one GEMV invocation unrolls per slice. llvmpipe compiles at the
/// first dispatch in time that grows faster than linearly with the code's length; with the weights in a texture,
/// on Mesa 25.0.7 (2-core machine, 2026-12-02, Mesa's shader cache off) one slice of 1 024 steps compiled in 6.0 s,
/// two of 640 in 1.7 s, slices of 512 in 0.7–1.8 s, while fewer, longer slices ran the three classifiers and the
/// large squeeze-excitation convs 1.05–1.4× faster than slices of 256 (fewer dispatches); 768 keeps every program
/// in the few-second range.
pub const MAX_GEMV_UNROLL: u32 = 768;

/// The most invocations per GEMV workgroup.
pub const MAX_GEMV_WORKGROUP: u32 = 64;

/// Workgroups a GEMV dispatch should at least have (while its workgroups hold 8 invocations or more), so both
/// llvmpipe threads, and more, get work.
pub const MIN_GEMV_WORKGROUPS: u32 = 8;

/// llvmpipe's SIMD width in f32 lanes (256-bit vectors): GEMV workgroups are whole multiples of it.
pub const GEMV_LANES: u32 = 8;

/// The GEMV view of a pointwise conv: N columns, K steps in slices, the workgroup over output channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemvShape {
    /// N = batch·H_out·W_out (saturated at u32::MAX for a layer asked about before validation).
    pub columns: u32,
    /// K = C_in.
    pub k: u32,
    /// K steps of every slice but the last (a multiple of [`SLICE_ALIGN`] when there are several).
    pub slice: u32,
    /// Slices (one dispatch each).
    pub slices: u32,
    /// K steps of the last slice (`slice` when K divides evenly).
    pub tail: u32,
    /// Invocations per workgroup (lanes over output channels), a multiple of 8.
    pub workgroup: u32,
}

impl GemvShape {
    /// The documented rule: K in one slice when K·N ≤ [`MAX_GEMV_UNROLL`]; else in slices of equal length rounded
    /// up to [`SLICE_ALIGN`] (the last one shorter by the rounding); workgroups of [`MAX_GEMV_WORKGROUP`]
    /// invocations, shrunk 8 at a time while the dispatch has fewer than [`MIN_GEMV_WORKGROUPS`] workgroups.
    pub fn for_layer(layer: &ConvLayer) -> GemvShape {
        let columns = u64::from(layer.batch)
            .saturating_mul(u64::from(layer.out_height()))
            .saturating_mul(u64::from(layer.out_width()))
            .max(1);
        let columns = u32::try_from(columns).unwrap_or(u32::MAX);
        let k = layer.in_channels.max(1);
        let max_slice = MAX_GEMV_UNROLL / columns;
        let (slice, slices) = if k <= max_slice {
            (k, 1)
        } else {
            let aligned = (max_slice / SLICE_ALIGN).max(1) * SLICE_ALIGN;
            let slices = k.div_ceil(aligned);
            let slice = k.div_ceil(slices).next_multiple_of(SLICE_ALIGN);
            (slice, k.div_ceil(slice))
        };
        let tail = k - (slices - 1) * slice;
        GemvShape {
            columns,
            k,
            slice,
            slices,
            tail,
            workgroup: gemv_workgroup(layer.out_channels),
        }
    }

    /// K steps of slice `s`.
    pub fn slice_len(&self, s: u32) -> u32 {
        if s + 1 == self.slices {
            self.tail
        } else {
            self.slice
        }
    }

    /// The weight texture of `layer` (see [`GemvTexture`]).
    pub fn texture(&self, layer: &ConvLayer) -> GemvTexture {
        let side = MAX_TEXTURE_SIDE as u32;
        let channels = layer.out_channels.max(1);
        let column_blocks = channels.div_ceil(side);
        GemvTexture {
            width: channels.min(side),
            height: self.slice.div_ceil(4),
            column_blocks,
            layers: self.slices.saturating_mul(column_blocks).max(2),
        }
    }
}

/// The weight texture of a GEMV (rgba32float, 2-D array): texel (x, y) of layer `slice·column_blocks + co / width`
/// holds weight[co, k .. k+4] for co = x + (layer % column_blocks)·width and k = slice·`slice` + 4y.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemvTexture {
    /// Texels across: output channels, at most [`MAX_TEXTURE_SIDE`].
    pub width: u32,
    /// Rows: groups of 4 K steps of the longest slice.
    pub height: u32,
    /// Blocks of `width` output channels (one layer each per slice).
    pub column_blocks: u32,
    /// slices · column_blocks, at least 2 (wgpu's GL backend makes a 1-layer texture a plain 2-D one, which cannot
    /// be bound as an array).
    pub layers: u32,
}

impl GemvTexture {
    /// The texture's extent.
    pub fn extent(&self) -> wgpu::Extent3d {
        wgpu::Extent3d {
            width: self.width,
            height: self.height,
            depth_or_array_layers: self.layers,
        }
    }

    /// f32 values of the texture's data (4 per texel).
    pub fn values(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height) * u64::from(self.layers) * 4
    }

    /// Bytes of the texture (16 per texel).
    pub fn bytes(&self) -> u64 {
        self.values() * 4
    }
}

/// The GEMV's workgroup for `out_channels` lanes: [`MAX_GEMV_WORKGROUP`], shrunk 8 at a time while the dispatch has
/// fewer than [`MIN_GEMV_WORKGROUPS`] workgroups (a GEMV has no per-workgroup set-up to share).
pub fn gemv_workgroup(out_channels: u32) -> u32 {
    let channels = out_channels.max(1);
    let mut size = MAX_GEMV_WORKGROUP.min(channels.next_multiple_of(GEMV_LANES));
    while size > GEMV_LANES && channels.div_ceil(size) < MIN_GEMV_WORKGROUPS {
        size -= GEMV_LANES;
    }
    size
}

/// Ok when the GEMV takes the (pointwise) `layer`: N = batch·H_out·W_out ≤ [`GEMV_MAX_COLUMNS`].
pub fn gemv_fits(layer: &ConvLayer) -> Result<(), String> {
    // Saturating: a layer may be asked about before it is validated.
    let columns = u64::from(layer.batch)
        .saturating_mul(u64::from(layer.out_height()))
        .saturating_mul(u64::from(layer.out_width()));
    if columns > GEMV_MAX_COLUMNS {
        return Err(format!(
            "it takes GEMMs of at most {GEMV_MAX_COLUMNS} columns (batch · H_out · W_out), got {} · {} · {} = \
             {columns}; the GEMM kernel fills its lanes there",
            layer.batch,
            layer.out_height(),
            layer.out_width()
        ));
    }
    let shape = GemvShape::for_layer(layer);
    let texture = shape.texture(layer);
    let layers = u64::from(shape.slices) * u64::from(texture.column_blocks);
    if layers > MAX_TEXTURE_LAYERS {
        return Err(format!(
            "its weight texture needs {} slices of K × {} blocks of {MAX_TEXTURE_SIDE} output channels = {layers} \
             layers, beyond the {MAX_TEXTURE_LAYERS} layers every adapter offers",
            shape.slices, texture.column_blocks
        ));
    }
    Ok(())
}

/// The OIHW weight `[C_out, C_in]` of a pointwise `layer` as the GEMV's texture holds it ([`GemvTexture`]), texels
/// in layer-major, row-major order: f32 index `((l·height + y)·width + x)·4 + c` holds weight[co, k] for
/// k = s·slice + 4y + c, co = b·width + x, l = s·column_blocks + b; texels past C_out or past a slice's K steps are
/// zero.
pub fn gemv_weights(layer: &ConvLayer, weight: &[f32]) -> Vec<f32> {
    let shape = GemvShape::for_layer(layer);
    let texture = shape.texture(layer);
    let mut out = vec![0.0; usize::try_from(texture.values()).unwrap_or(0)];
    let (co_n, k) = (layer.out_channels as usize, shape.k as usize);
    let (width, height, blocks) = (
        texture.width as usize,
        texture.height as usize,
        texture.column_blocks as usize,
    );
    for s in 0..shape.slices as usize {
        let start = s * shape.slice as usize;
        let len = shape.slice_len(s as u32) as usize;
        for co in 0..co_n {
            let (b, x) = (co / width, co % width);
            let plane = (s * blocks + b) * height;
            for kk in 0..len {
                let at = ((plane + kk / 4) * width + x) * 4 + kk % 4;
                if let (Some(slot), Some(&value)) = (out.get_mut(at), weight.get(co * k + start + kk)) {
                    *slot = value;
                }
            }
        }
    }
    out
}

/// Writes `args` as a line of `out` (a `String` as `fmt::Write` never fails).
macro_rules! emit {
    ($out:expr) => {{
        let _ = writeln!($out);
    }};
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// The GEMV program of a pointwise `layer` for a slice of `len` K steps (the same program for every slice of that
/// length): out (+)= weight · in (+ bias), see the module docs.
pub fn gemv_source(layer: &ConvLayer, len: u32) -> String {
    let shape = GemvShape::for_layer(layer);
    let (m, k, n_cols, wg) = (layer.out_channels, shape.k, shape.columns, shape.workgroup);
    let hw = layer.out_height() * layer.out_width();
    let groups = len.div_ceil(4);
    // One vec4 accumulator per column (4 independent addition chains) when there are too few columns to hide the
    // latency of one chain; else one scalar per column.
    let vec_acc = n_cols <= 2;
    let mut s = String::new();
    emit!(s, "// gemv-cpu (generated) — a pointwise conv as a GEMV: out[n, co, p] = Σ_{{k<{k}}} weight[co, k] · in[n, k, p] (+ bias[co]),");
    emit!(
        s,
        "// M = C_out = {m}, K = C_in = {k}, N = batch·H_out·W_out = {} · {hw} = {n_cols} columns.",
        layer.batch
    );
    emit!(s, "// K runs in {} slice(s) of {} steps (the last {}), one dispatch each; this program computes a slice of {len} steps.", shape.slices, shape.slice, shape.tail);
    let texture = shape.texture(layer);
    let (width, blocks) = (texture.width, texture.column_blocks);
    emit!(
        s,
        "// Layout: input [N, C_in, H·W] f32 bound at the slice's first channel (addresses below are constants);"
    );
    emit!(s, "// weight: an rgba32float 2-D array texture written at upload, {width} texels across × {} rows × {} layers: texel", texture.height, texture.layers);
    emit!(s, "// (co % {width}, g) of layer slice·{blocks} + co / {width} holds weight[co, 4g .. 4g+4] of the slice (zero past K);");
    emit!(s, "// bias [C_out] (a 1-element dummy without bias); output [N, C_out, H_out·W_out] f32; binding 0 the slice record:");
    emit!(
        s,
        "// first = 1 for the first slice (store acc + bias), 0 after (add to the output); layer = slice·{blocks}."
    );
    emit!(s, "// Dispatch: workgroups of {wg} on a grid x = ceil({m} / {wg}); lanes over output channels, co = invocation index");
    emit!(s, "// (clamped to {} for reading; past it nothing is stored). One invocation: {groups} textureLoads of its own 4 weights,", m - 1);
    emit!(s, "// each feeding 4 K steps × {n_cols} columns of multiply-adds with input values read at constant addresses. No loops.");
    emit!(s);
    emit!(s, "struct Slice {{ first: u32, layer: u32, _pad1: u32, _pad2: u32 }}");
    emit!(s, "@group(0) @binding(0) var<uniform> slice: Slice;");
    emit!(s, "@group(0) @binding(1) var<storage, read> input: array<f32>;");
    emit!(s, "@group(0) @binding(2) var weight: texture_2d_array<f32>;");
    emit!(s, "@group(0) @binding(3) var<storage, read> bias: array<f32>;");
    emit!(s, "@group(0) @binding(4) var<storage, read_write> output: array<f32>;");
    emit!(s);
    emit!(s, "@compute @workgroup_size({wg})");
    emit!(
        s,
        "fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) local: u32) {{"
    );
    emit!(s, "    let raw = wg.x * {wg}u + local;");
    emit!(s, "    let co = min(raw, {}u);", m - 1);
    if blocks == 1 {
        emit!(s, "    let x = co;");
        emit!(s, "    let layer = slice.layer;");
    } else {
        emit!(s, "    let x = co % {width}u;");
        emit!(s, "    let layer = slice.layer + co / {width}u;");
    }
    let columns: Vec<(u32, u32)> = (0..layer.batch).flat_map(|n| (0..hw).map(move |p| (n, p))).collect();
    for j in 0..columns.len() {
        if vec_acc {
            emit!(s, "    var acc{j} = vec4<f32>();");
        } else {
            emit!(s, "    var acc{j} = 0.0;");
        }
    }
    let at = |n: u32, kk: u32, p: u32| (n * k + kk) * hw + p;
    let comps = ["x", "y", "z", "w"];
    for g in 0..groups {
        emit!(s, "    {{");
        emit!(s, "        let w = textureLoad(weight, vec2<u32>(x, {g}u), layer, 0);");
        let steps = (len - 4 * g).min(4);
        for (j, &(n, p)) in columns.iter().enumerate() {
            if vec_acc {
                let values: Vec<String> = (0..4)
                    .map(|c| {
                        if c < steps {
                            format!("input[{}u]", at(n, 4 * g + c, p))
                        } else {
                            "0.0".to_string()
                        }
                    })
                    .collect();
                emit!(s, "        acc{j} += w * vec4<f32>({});", values.join(", "));
            } else {
                for c in 0..steps {
                    emit!(
                        s,
                        "        acc{j} += w.{} * input[{}u];",
                        comps[c as usize],
                        at(n, 4 * g + c, p)
                    );
                }
            }
        }
        emit!(s, "    }}");
    }
    emit!(s, "    if (raw >= {m}u) {{ return; }}");
    emit!(s, "    let first = slice.first != 0u;");
    if layer.bias {
        emit!(s, "    let b = bias[co];");
    } else {
        emit!(s, "    let b = 0.0;");
    }
    for (j, &(n, p)) in columns.iter().enumerate() {
        let value = if vec_acc {
            format!("(acc{j}.x + acc{j}.y) + (acc{j}.z + acc{j}.w)")
        } else {
            format!("acc{j}")
        };
        emit!(s, "    {{");
        emit!(s, "        let at = {}u + co * {hw}u;", n * m * hw + p);
        emit!(s, "        let v = {value};");
        emit!(
            s,
            "        if (first) {{ output[at] = v + b; }} else {{ output[at] += v; }}"
        );
        emit!(s, "    }}");
    }
    emit!(s, "}}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fc(c_in: u32, c_out: u32, batch: u32) -> ConvLayer {
        ConvLayer {
            batch,
            in_channels: c_in,
            out_channels: c_out,
            height: 1,
            width: 1,
            bias: true,
            ..ConvLayer::default()
        }
        .pointwise()
    }

    #[test]
    fn the_rule_takes_few_columns_only() {
        assert!(gemv_fits(&fc(1280, 1000, 1)).is_ok());
        assert!(gemv_fits(&fc(1280, 1000, 16)).is_ok());
        let error = gemv_fits(&fc(1280, 1000, 17)).unwrap_err();
        assert!(
            error.contains("at most 16 columns") && error.contains("= 17"),
            "{error}"
        );
        // A 4×4 plane is 16 columns, a 7×7 plane (49) goes to the GEMM.
        let plane = |h: u32, batch: u32| ConvLayer {
            height: h,
            width: h,
            ..fc(64, 64, batch)
        };
        assert!(gemv_fits(&plane(4, 1)).is_ok());
        assert!(gemv_fits(&plane(4, 2)).is_err());
        assert!(gemv_fits(&plane(7, 1)).is_err());
    }

    #[test]
    fn slices_cover_k_within_the_cap_at_aligned_offsets() {
        for batch in [1, 2, 3, 5, 8, 16] {
            for c in [1, 3, 4, 7, 48, 64, 65, 127, 512, 1000, 1024, 1152, 1280, 4096] {
                let layer = fc(c, 10, batch);
                let s = GemvShape::for_layer(&layer);
                assert_eq!((s.k, s.columns), (c, batch));
                assert!(
                    s.slice * s.columns <= MAX_GEMV_UNROLL || s.slice == SLICE_ALIGN,
                    "{c} {batch}"
                );
                assert!(s.tail >= 1 && s.tail <= s.slice);
                assert_eq!((s.slices - 1) * s.slice + s.tail, c);
                // Every slice's input starts on a 256-byte boundary.
                assert!(s.slices == 1 || s.slice.is_multiple_of(SLICE_ALIGN));
                // The texture: one layer per slice (at least 2), rows for the longest slice.
                let t = s.texture(&layer);
                assert_eq!((t.width, t.column_blocks), (10, 1));
                assert_eq!(t.layers, s.slices.max(2));
                assert_eq!(t.height, s.slice.div_ceil(4));
            }
        }
        // The three classifiers: K = 1 280 in two slices of 640, 1 024 in two of 512, 512 in one.
        let s = GemvShape::for_layer(&fc(1280, 1000, 1));
        assert_eq!((s.slice, s.slices, s.tail), (640, 2, 640));
        assert_eq!(GemvShape::for_layer(&fc(1024, 1000, 1)).slices, 2);
        assert_eq!(GemvShape::for_layer(&fc(512, 1000, 1)).slices, 1);
        // K = 1000 at batch 2: 3 slices of 384, the last 232 steps; one slice of 48 (an SE conv).
        let s = GemvShape::for_layer(&fc(1000, 10, 2));
        assert_eq!((s.slice, s.slices, s.tail), (384, 3, 232));
        assert_eq!(GemvShape::for_layer(&fc(48, 1152, 1)).slices, 1);
    }

    #[test]
    fn wide_layers_take_blocks_of_texture_columns_within_the_layer_limit() {
        // 20 000 output channels: 3 blocks of 8 192 texels; K = 4 096 in 6 slices: 18 layers.
        let layer = fc(4096, 20_000, 1);
        let s = GemvShape::for_layer(&layer);
        let t = s.texture(&layer);
        assert_eq!((t.width, t.column_blocks, t.layers), (8192, 3, 3 * s.slices));
        assert!(gemv_fits(&layer).is_ok());
        // K = 65 536 at batch 16 (slices of 64): 1 024 layers, refused with the limit named.
        let error = gemv_fits(&fc(65_536, 10, 16)).unwrap_err();
        assert!(
            error.contains("1024 layers") && error.contains("256 layers every adapter offers"),
            "{error}"
        );
    }

    #[test]
    fn workgroups_are_whole_simd_vectors_and_enough_of_them() {
        assert_eq!(gemv_workgroup(1000), 64);
        assert_eq!(gemv_workgroup(48), 8);
        assert_eq!(gemv_workgroup(1), 8);
        assert_eq!(gemv_workgroup(256), 32);
        for c in [1, 7, 8, 9, 100, 1000, 100_000] {
            let size = gemv_workgroup(c);
            assert!(size.is_multiple_of(8) && size <= MAX_GEMV_WORKGROUP);
            assert!(c.div_ceil(size) >= MIN_GEMV_WORKGROUPS || size == 8);
        }
    }

    #[test]
    fn the_weight_fills_the_texture_per_slice_and_column_block() {
        // C_out 10, K = 1000 at batch 2: 2 slices of 384 and one of 232; 96 rows, 3 layers.
        let layer = fc(1000, 10, 2);
        let s = GemvShape::for_layer(&layer);
        let t = s.texture(&layer);
        assert_eq!((t.width, t.height, t.layers), (10, 96, 3));
        let weight: Vec<f32> = (0..10_000).map(|v| v as f32 + 1.0).collect();
        let texels = gemv_weights(&layer, &weight);
        assert_eq!(texels.len() as u64, t.values());
        for co in 0..10usize {
            for k in 0..1000usize {
                let (slice, kk) = (k / 384, k % 384);
                let at = ((slice * 96 + kk / 4) * 10 + co) * 4 + kk % 4;
                assert_eq!(texels[at], weight[co * 1000 + k], "co {co} k {k}");
            }
        }
        // Every weight once; the rest (the short slice's rows past K) is zero.
        assert_eq!(texels.iter().filter(|&&v| v != 0.0).count(), 10_000);
        // Two column blocks: channel 8 192 + x of slice 0 sits in layer 1 at x.
        let layer = fc(8, 8200, 1);
        let t = GemvShape::for_layer(&layer).texture(&layer);
        assert_eq!((t.width, t.height, t.column_blocks, t.layers), (8192, 2, 2, 2));
        let weight: Vec<f32> = (0..8 * 8200).map(|v| v as f32).collect();
        let texels = gemv_weights(&layer, &weight);
        let at = |l: usize, y: usize, x: usize, c: usize| ((l * 2 + y) * 8192 + x) * 4 + c;
        assert_eq!(texels[at(1, 1, 3, 2)], weight[(8192 + 3) * 8 + 6]);
        assert_eq!(texels[at(0, 0, 5, 1)], weight[5 * 8 + 1]);
    }

    #[test]
    fn the_source_states_its_shape_and_reads_the_input_at_constants() {
        let layer = fc(1280, 1000, 1);
        let source = gemv_source(&layer, 640);
        assert!(
            source.starts_with("// gemv-cpu (generated) — a pointwise conv as a GEMV"),
            "{source}"
        );
        assert!(source.contains("M = C_out = 1000, K = C_in = 1280, N = batch·H_out·W_out = 1 · 1 = 1 columns"));
        assert!(source.contains("K runs in 2 slice(s) of 640 steps (the last 640)"));
        assert!(source.contains("1000 texels across × 160 rows × 2 layers"));
        assert!(source.contains("Dispatch: workgroups of 64 on a grid x = ceil(1000 / 64)"));
        assert!(source.contains("@compute @workgroup_size(64)"));
        // 160 weight fetches, each with its 4 input values at constant addresses; one vec4 accumulator.
        assert_eq!(source.matches("textureLoad(weight, ").count(), 160);
        assert!(source.contains("let w = textureLoad(weight, vec2<u32>(x, 159u), layer, 0);"));
        assert!(source.contains("acc0 += w * vec4<f32>(input[636u], input[637u], input[638u], input[639u]);"));
        assert!(!source.contains("input[640u]"));
        assert!(source.contains("let x = co;") && source.contains("let layer = slice.layer;"));
        // Batch 3 of a 1×1 input: scalar accumulators, image n's values at n·C_in + k; a 5-step tail reads 5.
        let layer = fc(5, 7, 3);
        let source = gemv_source(&layer, 5);
        assert!(source.contains("acc2 += w.x * input[14u];"), "{source}");
        assert!(!source.contains("input[15u]"));
        assert!(source.contains("let at = 14u + co * 1u;"));
        assert!(source.contains("if (raw >= 7u) { return; }"));
        // More than 8 192 output channels: the lane's column and layer follow its channel block.
        let source = gemv_source(&fc(8, 8200, 1), 8);
        assert!(source.contains("let x = co % 8192u;") && source.contains("let layer = slice.layer + co / 8192u;"));
    }
}
