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
//! - **each lane's own weights as `vec4`s**: the weight is repacked ([`gemv_weights`]) so lane `co` reads 4
//!   consecutive K steps of its own row in one 16-byte access, and the 8 lanes of a SIMD vector read 128
//!   consecutive bytes (rows interleaved in blocks of 8 channels): one per-lane access (about 10 instructions per
//!   lane) brings 4 weights, each used N times;
//! - **K in unrolled slices**: at most [`MAX_GEMV_UNROLL`] multiply-adds (K steps × N columns) per invocation per
//!   slice, one dispatch per slice, the input and weight bound at the slice's offset (both 256-byte aligned: slices
//!   are multiples of [`SLICE_ALIGN`] steps); the first slice stores acc + bias, the later ones add to the output.
//!   The last slice, when shorter, is its own program (so no read goes past K: no padding values multiply Inf or
//!   NaN of the next image into the result).
//!
//! Every weight is read once: 2 FLOPs per 4 bytes, so its roof is memory bandwidth.

use std::fmt::Write as _;

use crate::gpu::cpu::SLICE_ALIGN;
use crate::layer::ConvLayer;

/// The most GEMM columns (N = batch·H_out·W_out) the GEMV takes. Per 4 K steps and SIMD vector its cost is one
/// per-lane `vec4` weight access (GALLIVM_DEBUG=asm, Mesa 25.0.7: 4 bounds-checked scalar loads per lane, about 36
/// instructions per lane) plus 4·N broadcast input values and 4·N multiply-adds, so more columns share the weight
/// access; the GEMM (lanes over 4-pixel groups) fills its 8 lanes only from N = 32. Measured in BENCHMARKS.md
/// (2026-12-02): at N = 16 (the classifiers at batch 16) the GEMV against the GEMM.
pub const GEMV_MAX_COLUMNS: u64 = 16;

/// The most multiply-adds (K steps × N columns) one GEMV invocation unrolls per slice. llvmpipe compiles at the
/// first dispatch in time that grows faster than linearly with the code's length: on Mesa 25.0.7 (2-core machine,
/// 2026-12-02) slices of 1 024 steps made the three classifiers (K = 1 024, 1 280, 512) compile for about 5 minutes
/// and ran no faster than slices of 64, 128 or 256 (0.7–0.95 GFLOP/s each, within the machine's noise), whose
/// compile is seconds.
pub const MAX_GEMV_UNROLL: u32 = 256;

/// The most invocations per GEMV workgroup.
pub const MAX_GEMV_WORKGROUP: u32 = 64;

/// Workgroups a GEMV dispatch should at least have (while its workgroups hold 8 invocations or more), so both
/// llvmpipe threads, and more, get work.
pub const MIN_GEMV_WORKGROUPS: u32 = 8;

/// Channels whose weight rows are interleaved (one SIMD vector of llvmpipe's 8 lanes).
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

    /// Output channels padded to whole blocks of [`GEMV_LANES`] (the weight's interleave).
    pub fn channels_padded(layer: &ConvLayer) -> u64 {
        u64::from(layer.out_channels).div_ceil(u64::from(GEMV_LANES)) * u64::from(GEMV_LANES)
    }

    /// K steps of slice `s`.
    pub fn slice_len(&self, s: u32) -> u32 {
        if s + 1 == self.slices {
            self.tail
        } else {
            self.slice
        }
    }

    /// f32 elements of the repacked weight: per slice, the padded channels × its K steps rounded up to 4.
    pub fn weight_len(&self, layer: &ConvLayer) -> u64 {
        let body = u64::from(self.slices - 1) * u64::from(self.slice);
        Self::channels_padded(layer) * (body + u64::from(self.tail.next_multiple_of(4)))
    }

    /// Where slice `s` starts in the repacked weight, in f32.
    pub fn weight_offset(&self, layer: &ConvLayer, s: u32) -> u64 {
        Self::channels_padded(layer) * u64::from(s) * u64::from(self.slice)
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
    let columns = u64::from(layer.batch) * u64::from(layer.out_height()) * u64::from(layer.out_width());
    if columns > GEMV_MAX_COLUMNS {
        return Err(format!(
            "it takes GEMMs of at most {GEMV_MAX_COLUMNS} columns (batch · H_out · W_out), got {} · {} · {} = \
             {columns}; the GEMM kernel fills its lanes there",
            layer.batch,
            layer.out_height(),
            layer.out_width()
        ));
    }
    Ok(())
}

/// The OIHW weight `[C_out, C_in]` of a pointwise `layer` as the GEMV reads it: per slice (K steps
/// `s·slice ..`, its length L rounded up to 4 with zeros), per block of 8 output channels (padded with zero
/// rows), per group of 4 K steps, the 8 channels' 4 weights: f32 index
/// `slice_offset + ((co / 8)·(L₄/4) + k/4)·32 + (co % 8)·4 + k % 4`.
pub fn gemv_weights(layer: &ConvLayer, weight: &[f32]) -> Vec<f32> {
    let shape = GemvShape::for_layer(layer);
    let mut out = vec![0.0; usize::try_from(shape.weight_len(layer)).unwrap_or(0)];
    let (co_n, k) = (layer.out_channels as usize, shape.k as usize);
    let lanes = GEMV_LANES as usize;
    for s in 0..shape.slices {
        let base = shape.weight_offset(layer, s) as usize;
        let len = shape.slice_len(s) as usize;
        let groups = len.div_ceil(4);
        let start = (s * shape.slice) as usize;
        for co in 0..co_n {
            for kk in 0..len {
                let at = base + ((co / lanes) * groups + kk / 4) * 4 * lanes + (co % lanes) * 4 + kk % 4;
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
    let lanes = GEMV_LANES;
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
    emit!(
        s,
        "// Layout: input [N, C_in, H·W] f32 bound at the slice's first channel (addresses below are constants);"
    );
    emit!(s, "// weight repacked per slice: blocks of {lanes} channels (rows past C_out zero), per 4 K steps the {lanes} channels' vec4s");
    emit!(s, "// (vec4 index ((co / {lanes})·{groups} + k/4)·{lanes} + co % {lanes}), bound at the slice's block; bias [C_out] (a 1-element");
    emit!(s, "// dummy without bias); output [N, C_out, H_out·W_out] f32; binding 0 the slice record: first = 1 for the first slice");
    emit!(s, "// (store acc + bias), 0 after (add to the output).");
    emit!(s, "// Dispatch: workgroups of {wg} on a grid x = ceil({m} / {wg}); lanes over output channels, co = invocation index");
    emit!(s, "// (clamped to {} for reading; past it nothing is stored). One invocation: {groups} vec4 weight loads of its own row, each", m - 1);
    emit!(s, "// feeding 4 K steps × {n_cols} columns of multiply-adds with input values read at constant addresses. No loops.");
    emit!(s);
    emit!(s, "struct Slice {{ first: u32, _pad0: u32, _pad1: u32, _pad2: u32 }}");
    emit!(s, "@group(0) @binding(0) var<uniform> slice: Slice;");
    emit!(s, "@group(0) @binding(1) var<storage, read> input: array<f32>;");
    emit!(s, "@group(0) @binding(2) var<storage, read> weight: array<vec4<f32>>;");
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
    emit!(
        s,
        "    let row = (co / {lanes}u) * {}u + co % {lanes}u;",
        groups * lanes
    );
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
        emit!(s, "        let w = weight[row + {}u];", g * lanes);
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
                assert!(s.slices == 1 || s.slice.is_multiple_of(SLICE_ALIGN));
                // Every slice's weight block starts on a 256-byte boundary.
                for i in 0..s.slices {
                    assert!((s.weight_offset(&layer, i) * 4).is_multiple_of(256));
                }
            }
        }
        // The three classifiers: slices of 256 steps.
        let s = GemvShape::for_layer(&fc(1280, 1000, 1));
        assert_eq!((s.slice, s.slices, s.tail), (256, 5, 256));
        assert_eq!(GemvShape::for_layer(&fc(512, 1000, 1)).slices, 2);
        // K = 1000 at batch 2: 8 slices of 128, the last 104 steps; one slice of 48 (an SE conv).
        let s = GemvShape::for_layer(&fc(1000, 10, 2));
        assert_eq!((s.slice, s.slices, s.tail), (128, 8, 104));
        assert_eq!(GemvShape::for_layer(&fc(48, 1152, 1)).slices, 1);
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
    fn the_weight_is_repacked_per_slice_in_lane_blocks() {
        // C_out 10 (two blocks of 8), K = 1000 at batch 2: 7 slices of 128 and one of 104.
        let layer = fc(1000, 10, 2);
        let s = GemvShape::for_layer(&layer);
        let weight: Vec<f32> = (0..10_000).map(|v| v as f32 + 1.0).collect();
        let packed = gemv_weights(&layer, &weight);
        assert_eq!(packed.len() as u64, s.weight_len(&layer));
        assert_eq!(packed.len(), 16 * 1000);
        for co in 0..10usize {
            for k in 0..1000usize {
                let (slice, kk) = (k / 128, k % 128);
                let groups = s.slice_len(slice as u32).div_ceil(4) as usize;
                let at = s.weight_offset(&layer, slice as u32) as usize
                    + ((co / 8) * groups + kk / 4) * 32
                    + (co % 8) * 4
                    + kk % 4;
                assert_eq!(packed[at], weight[co * 1000 + k], "co {co} k {k}");
            }
        }
        // Every weight once; the padding rows are zero.
        assert_eq!(packed.iter().filter(|&&v| v != 0.0).count(), 10_000);
    }

    #[test]
    fn the_source_states_its_shape_and_reads_the_input_at_constants() {
        let layer = fc(1280, 1000, 1);
        let source = gemv_source(&layer, 256);
        assert!(
            source.starts_with("// gemv-cpu (generated) — a pointwise conv as a GEMV"),
            "{source}"
        );
        assert!(source.contains("M = C_out = 1000, K = C_in = 1280, N = batch·H_out·W_out = 1 · 1 = 1 columns"));
        assert!(source.contains("K runs in 5 slice(s) of 256 steps (the last 256)"));
        assert!(source.contains("Dispatch: workgroups of 64 on a grid x = ceil(1000 / 64)"));
        assert!(source.contains("@compute @workgroup_size(64)"));
        // 64 vec4 weight loads, each with its 4 input values at constant addresses; one vec4 accumulator.
        assert_eq!(source.matches("let w = weight[row + ").count(), 64);
        assert!(source.contains("acc0 += w * vec4<f32>(input[252u], input[253u], input[254u], input[255u]);"));
        assert!(!source.contains("input[256u]"));
        // Batch 3 of a 1×1 input: scalar accumulators, image n's values at n·C_in + k; a 5-step tail reads 5.
        let layer = fc(5, 7, 3);
        let source = gemv_source(&layer, 5);
        assert!(source.contains("acc2 += w.x * input[14u];"), "{source}");
        assert!(!source.contains("input[15u]"));
        assert!(source.contains("let at = 14u + co * 1u;"));
        assert!(source.contains("if (raw >= 7u) { return; }"));
    }
}
