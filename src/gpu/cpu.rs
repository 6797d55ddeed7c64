//! The kernel family for CPU adapters (lavapipe, llvmpipe GL): WGSL generated per layer with every shape constant
//! baked in, written for how llvmpipe compiles compute shaders (measured on Mesa 25.0.7):
//!
//! - the lanes of one SIMD vector are consecutive invocations of a workgroup, and a load is one scalar load plus a
//!   broadcast only when its address is a compile-time constant; any other address (from `workgroup_id`,
//!   `local_invocation_index` or a loop counter) is loaded lane by lane, about 10 instructions per value per lane;
//! - a `textureLoad` of an rgba32float texel is one call for 4 values, far cheaper than 4 such loads;
//! - straight-line code compiles at the first dispatch, in time that grows faster than linearly with its length.
//!
//! Hence three generators:
//! - [`depthwise_source`]: lanes over channels (or groups of 4 channels for planes of an odd size); one invocation
//!   computes a whole output tile in straight-line code: the whole plane when it fits, else bands of whole rows, read
//!   and written 16 bytes at a time where rows start on 16-byte boundaries (a per-lane access pays the exec-mask
//!   test and the buffer lookup once for its 4 values; as `vec2<u64>` where the device has 64-bit integers, 2 bounds
//!   checks instead of 4, see [`Vec4Access`]); taps and input window loaded once each, each load just before its
//!   first use; zero padding by `select` on clamped indices; no loops. See [`DepthwiseTile::for_layer`].
//! - [`pack_source`] + [`gemm_source`]: the pointwise and the standard conv as one GEMM, M = C_out,
//!   N = N·H_out·W_out, K = C_in·KH·KW. The pack kernel writes B (im2col: for each tap k and vec4 group of 4 output
//!   pixels, the 4 input values) into an rgba32float 2-D array texture — one invocation per texel, or, where a
//!   group's 4 pixels share an output row ([`packs_by_channel`]), one per input channel and group writing all KH·KW
//!   taps from input values loaded once (a 3×3 conv: 18 loads for 9 texels instead of 36; the 56²×128 pack went from
//!   14 to 6 ms of CPU time); the GEMM kernel gives each invocation
//!   [`GEMM_CHANNELS`] output channels × 4 pixels, lanes over pixel groups, reads B with one `textureLoad` per K
//!   step and the channel block's weights from workgroup memory at constant indices. K runs in slices of at most
//!   [`MAX_GEMM_UNROLL`] / channels unrolled steps, one dispatch of the same pipeline per slice, so compile time
//!   stays bounded whatever C_in is (a loop over slices inside the shader, with its barriers, compiled for minutes
//!   and ran 6× slower). Workgroups are as large as [`gemm_workgroup`] allows: each one first copies its weights
//!   lane by lane, about one SIMD vector's worth of GEMM work, so fewer, larger workgroups waste less.
//!
//! Every generated source begins with a header comment that states what it computes, its layout and its dispatch.

use std::fmt::Write as _;

use crate::layer::ConvLayer;

/// The most multiply-adds one depthwise invocation unrolls: a whole 14×14 plane of a 5×5 kernel (4 900) fits.
/// Larger tiles compile for seconds per shader on llvmpipe for no gain. A tile is shrunk until it fits.
pub const MAX_DEPTHWISE_UNROLL: u32 = 4_900;

/// The most values one depthwise invocation loads and stores (its input window plus its outputs, over all its
/// channels). On llvmpipe each is a per-lane memory access, the bulk of the generated code (and of its compile
/// time): a band of 4 rows of a 56-wide plane with a 3×3 kernel (6×56 + 4×56 = 560) fits, 7 rows (896) do not.
/// Raised to 900 (7-row bands on 56²), depthwise-cpu ran 1.1–1.5× faster in CPU time on 56²×128, 56²×144 and
/// 112²×32 (2026-12-02, `gemm_probe S C C 3 R 1 1`), but compiled cold in 13–21 s against 5–15 s (those three and
/// 28²×256, `MESA_SHADER_CACHE_DISABLE=1`): not taken.
pub const MAX_DEPTHWISE_VALUES: u32 = 700;

/// Output channels per GEMM invocation (the register tile is `GEMM_CHANNELS` × 4 pixels) when C_out > 8; else 8.
/// Each `textureLoad` of B (a call into llvmpipe's sampler, about 170 instructions with its trampoline and argument
/// set-up) then feeds 64 multiply-adds instead of 32: measured on Mesa 25.0.7, 1.2–1.4× the GEMM's rate of 8
/// channels. 32 channels spill the accumulators and ran slower than 8.
pub const GEMM_CHANNELS: u32 = 16;

/// The most channel·K steps one GEMM slice unrolls (channels per invocation × K steps of the slice): 16 × 128.
/// Compile time grows with it (llvmpipe compiles a shader at its first dispatch): on Mesa 25.0.7 a slice of
/// 16 × 128 took 5–17 s the first time (2-core machine, quiet to busy; then Mesa's disk cache), 16 × 256 took
/// 26 s for no gain. Larger K runs in slices.
pub const MAX_GEMM_UNROLL: u32 = 2_048;

/// Invocations per workgroup of the depthwise and pack kernels.
pub const CPU_WORKGROUP: u32 = 64;

/// The texture limits every WebGPU adapter offers (the spec's defaults), checked by [`gemm_fits`] so a layer
/// that passes runs on every adapter.
pub const MAX_TEXTURE_SIDE: u64 = 8_192;
pub const MAX_TEXTURE_LAYERS: u64 = 256;

/// How a generated kernel moves 16 bytes of f32 (4 values) through a storage buffer in one access.
///
/// On llvmpipe an access at a per-lane address is a loop over the lanes, and each lane checks every scalar of the
/// access against the buffer's size: a `vec4<f32>` is 4 bounds checks per lane, a `vec2<u64>` 2 for the same 16
/// bytes. A kernel that only loads and stores ran 1.33–1.42× faster per dispatch with `vec2<u64>` (CPU time,
/// lavapipe, Mesa 25.0.7, `examples/access_probe.rs`; BENCHMARKS.md 2026-12-02 "64-bit accesses"). The values are bit-cast, never converted: every f32,
/// NaNs and infinities included, arrives bit for bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vec4Access {
    /// `array<vec4<f32>>`: every adapter.
    F32,
    /// `array<vec2<u64>>`, each u64 two f32 (the lower address in the low half), unpacked by `unpack4` and packed by
    /// `pack4`: on a device with 64-bit shader integers (`wgpu::Features::SHADER_INT64`).
    U64Pairs,
}

impl Vec4Access {
    /// U64Pairs where the device has 64-bit shader integers.
    pub fn for_device(int64: bool) -> Vec4Access {
        if int64 {
            Vec4Access::U64Pairs
        } else {
            Vec4Access::F32
        }
    }

    /// The storage array's element type.
    pub fn element(self) -> &'static str {
        match self {
            Vec4Access::F32 => "vec4<f32>",
            Vec4Access::U64Pairs => "vec2<u64>",
        }
    }

    /// `element` read as a `vec4<f32>`.
    pub fn load(self, element: &str) -> String {
        match self {
            Vec4Access::F32 => element.to_string(),
            Vec4Access::U64Pairs => format!("unpack4({element})"),
        }
    }

    /// A `vec4<f32>` expression as the element stored.
    pub fn store(self, value: &str) -> String {
        match self {
            Vec4Access::F32 => value.to_string(),
            Vec4Access::U64Pairs => format!("pack4({value})"),
        }
    }

    /// How the header comment names the access.
    pub fn describe(self) -> &'static str {
        match self {
            Vec4Access::F32 => "vec4<f32> (16-byte) accesses",
            Vec4Access::U64Pairs => "16-byte accesses of vec2<u64>, bit-cast from and to vec4<f32>",
        }
    }

    /// The WGSL helpers `load` and `store` use (none for F32).
    pub fn helpers(self) -> &'static str {
        match self {
            Vec4Access::F32 => "",
            Vec4Access::U64Pairs => {
                "fn unpack4(q: vec2<u64>) -> vec4<f32> {\n    return vec4<f32>(bitcast<f32>(u32(q.x)), \
                 bitcast<f32>(u32(q.x >> 32u)), bitcast<f32>(u32(q.y)), bitcast<f32>(u32(q.y >> 32u)));\n}\n\
                 fn pack4(v: vec4<f32>) -> vec2<u64> {\n    let b = bitcast<vec4<u32>>(v);\n    \
                 return vec2<u64>(u64(b.x) | (u64(b.y) << 32u), u64(b.z) | (u64(b.w) << 32u));\n}\n"
            }
        }
    }
}

/// How the depthwise kernel splits its output planes: one invocation computes a `tile_h × tile_w` tile of
/// `channels` consecutive planes; a plane has `tiles_y × tiles_x` tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthwiseTile {
    /// Consecutive channels (planes) per invocation: more than 1 only when a whole plane is the tile and its size is
    /// not a multiple of 4, so that the invocation's planes start on a 16-byte boundary (a 7×7 plane: 4 channels).
    pub channels: u32,
    pub tile_h: u32,
    pub tile_w: u32,
    pub tiles_y: u32,
    pub tiles_x: u32,
    /// The input is read as `vec4<f32>` (16-byte loads, 4 values per per-lane access on llvmpipe): the tile's
    /// input rows are whole rows starting on 16-byte boundaries.
    pub vec4_input: bool,
    /// The output is written as `vec4<f32>` likewise.
    pub vec4_output: bool,
}

impl DepthwiseTile {
    /// The documented rule, in order (a tile fits when its multiply-adds fit [`MAX_DEPTHWISE_UNROLL`] and its
    /// loaded plus stored values [`MAX_DEPTHWISE_VALUES`]):
    /// 1. the whole output plane when it fits, of the fewest channels (1, 2 or 4, dividing C) whose planes are
    ///    both whole vec4s (H·W and H_out·W_out multiples of 4 across them); else of one channel;
    /// 2. else bands of whole output rows, as many rows as fit, the bands of equal height (the last one shorter
    ///    only when H_out leaves a remainder); vec4 input when W is a multiple of 4, vec4 output when W_out is;
    /// 3. else (a row does not fit) square tiles of at most 8×8, shrunk until they fit, read and written by scalars.
    ///
    /// Whole rows and planes keep the halo re-read from the tiles above and below only, and let 4 consecutive
    /// values travel in one access: on llvmpipe each per-lane access, not the arithmetic, is what costs.
    pub fn for_layer(layer: &ConvLayer) -> DepthwiseTile {
        let (h, w) = (u64::from(layer.height), u64::from(layer.width));
        let (oh, ow) = (layer.out_height().max(1), layer.out_width().max(1));
        let [kh, kw] = layer.kernel.map(|k| u64::from(k.max(1)));
        let [sh, sw] = layer.stride.map(u64::from);
        let [dh, dw] = layer.dilation.map(u64::from);
        let fits = |rows: u32, cols: u32, channels: u32| {
            let (rows, cols, g) = (u64::from(rows), u64::from(cols), u64::from(channels));
            let macs = g.saturating_mul(rows * cols).saturating_mul(kh * kw);
            let win_h = ((rows - 1) * sh + (kh - 1) * dh + 1).min(h);
            let win_w = ((cols - 1) * sw + (kw - 1) * dw + 1).min(w);
            let values = g.saturating_mul(win_h * win_w + rows * cols);
            macs <= u64::from(MAX_DEPTHWISE_UNROLL) && values <= u64::from(MAX_DEPTHWISE_VALUES)
        };
        let plane = |channels: u32, vec4_input: bool, vec4_output: bool| DepthwiseTile {
            channels,
            tile_h: oh,
            tile_w: ow,
            tiles_y: 1,
            tiles_x: 1,
            vec4_input,
            vec4_output,
        };
        let (hw, ohw) = (h * w, u64::from(oh) * u64::from(ow));
        if fits(oh, ow, 1) {
            let aligned = |g: u32| (u64::from(g) * hw).is_multiple_of(4) && (u64::from(g) * ohw).is_multiple_of(4);
            if let Some(g) = [1, 2, 4]
                .into_iter()
                .find(|&g| layer.in_channels.is_multiple_of(g) && aligned(g) && fits(oh, ow, g))
            {
                return plane(g, true, true);
            }
            return plane(1, hw.is_multiple_of(4), ohw.is_multiple_of(4));
        }
        // Of the band heights that fit, the one that reads the fewest input rows over the plane (the halo is read
        // once per band); on a tie the one without a shorter last band, then the taller.
        let band = (1..oh).filter(|&rows| fits(rows, ow, 1)).min_by_key(|&rows| {
            let tiles_y = oh.div_ceil(rows);
            let tile_h = oh.div_ceil(tiles_y);
            let read = u64::from(tiles_y) * ((u64::from(tile_h) - 1) * sh + (kh - 1) * dh + 1);
            (read, !oh.is_multiple_of(tile_h), std::cmp::Reverse(tile_h))
        });
        if let Some(rows) = band {
            let tiles_y = oh.div_ceil(rows);
            let tile_h = oh.div_ceil(tiles_y);
            return DepthwiseTile {
                channels: 1,
                tile_h,
                tile_w: ow,
                tiles_y,
                tiles_x: 1,
                vec4_input: w.is_multiple_of(4),
                vec4_output: ohw.is_multiple_of(4) && (u64::from(tile_h) * u64::from(ow)).is_multiple_of(4),
            };
        }
        let side = (1..=8).rev().find(|&side| fits(side, side, 1)).unwrap_or(1);
        let (th, tw) = (side.min(oh), side.min(ow));
        DepthwiseTile {
            channels: 1,
            tile_h: th,
            tile_w: tw,
            tiles_y: oh.div_ceil(th),
            tiles_x: ow.div_ceil(tw),
            vec4_input: false,
            vec4_output: false,
        }
    }

    /// Invocations one dispatch needs: N·(C / channels)·tiles.
    pub fn invocations(&self, layer: &ConvLayer) -> u64 {
        u64::from(layer.batch)
            * u64::from(layer.in_channels / self.channels)
            * u64::from(self.tiles_y)
            * u64::from(self.tiles_x)
    }
}

/// Writes `args` as a line of `out` (generation cannot fail: `String` as a `fmt::Write` never errors).
macro_rules! emit {
    ($out:expr) => {{
        let _ = writeln!($out);
    }};
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// The flat invocation index of a 2-D grid of `wg`-invocation workgroups (see [`crate::gpu::kernel::grid`]).
/// The entry point of a generated kernel up to its flat invocation index `index`, with invocations at or past
/// `total` (the grid's overshoot) returning at once.
fn entry_point(out: &mut String, total: impl std::fmt::Display) {
    emit!(out, "@compute @workgroup_size({CPU_WORKGROUP})");
    emit!(
        out,
        "fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups_in_grid: vec3<u32>,"
    );
    emit!(out, "        @builtin(local_invocation_index) local: u32) {{");
    emit!(
        out,
        "    let index = (wg.y * groups_in_grid.x + wg.x) * {CPU_WORKGROUP}u + local;"
    );
    emit!(out, "    if (index >= {total}u) {{ return; }}");
}

/// The depthwise conv of `layer` (groups = C_in = C_out) as straight-line WGSL, its 16-byte accesses as `vec4`
/// says; see the module docs and [`DepthwiseTile::for_layer`].
pub fn depthwise_source(layer: &ConvLayer, vec4: Vec4Access) -> String {
    let t = DepthwiseTile::for_layer(layer);
    let (c, h, w) = (layer.in_channels, layer.height, layer.width);
    let (oh, ow) = (layer.out_height(), layer.out_width());
    let [kh, kw] = layer.kernel;
    let [sh, sw] = layer.stride;
    let [ph, pw] = layer.padding;
    let [dh, dw] = layer.dilation;
    let taps = kh * kw;
    let g = t.channels;
    let total = t.invocations(layer);
    let whole_plane = t.tiles_y == 1 && t.tiles_x == 1;
    let (win_h, win_w) = (
        (t.tile_h - 1) * sh + (kh - 1) * dh + 1,
        (t.tile_w - 1) * sw + (kw - 1) * dw + 1,
    );
    let access = |wide: bool| if wide { vec4.describe() } else { "f32 accesses" };
    let mut s = String::new();
    emit!(s, "// depthwise-cpu (generated) — the depthwise conv, groups = C = {c}: out[n, c, y, x] = Σ_{{ky<{kh},kx<{kw}}} weight[c, 0, ky, kx] ·");
    emit!(s, "// in[n, c, {sh}·y − {ph} + {dh}·ky, {sw}·x − {pw} + {dw}·kx] (+ bias[c]), zero padding; N = {}, {h}×{w} → {oh}×{ow}.", layer.batch);
    emit!(
        s,
        "// Layout (f32, row-major, PyTorch Conv2d): input [N, C, H, W], weight [C, 1, KH, KW], bias [C] (a 1-element"
    );
    emit!(
        s,
        "// dummy without bias), output [N, C, H_out, W_out]; binding 0 (the parameter block) is not read: every shape"
    );
    emit!(
        s,
        "// constant is baked in. The input is read by {}, the output written by {}.",
        access(t.vec4_input),
        access(t.vec4_output)
    );
    emit!(s, "// Dispatch: workgroups of {CPU_WORKGROUP} on a 2-D grid, flat invocation index i < {total} = N·(C/{g})·tiles; lanes run over");
    emit!(s, "// channel groups: channels c0 = {g}·(i % {}) .. c0 + {}, then the tile, then the image. One invocation computes a", c / g, g - 1);
    emit!(s, "// {}×{} output tile ({}×{} tiles per plane) of its {g} channel(s) in straight-line code: its {taps} taps and its", t.tile_h, t.tile_w, t.tiles_y, t.tiles_x);
    emit!(s, "// {win_h}×{win_w} input window are loaded once each (rows clamped into the plane, values outside it selected to 0),");
    emit!(
        s,
        "// then {} multiply-adds. No loops, no barriers.",
        g * t.tile_h * t.tile_w * taps
    );
    emit!(s);
    let ty = |wide: bool| if wide { vec4.element() } else { "f32" };
    emit!(
        s,
        "@group(0) @binding(1) var<storage, read> input: array<{}>;",
        ty(t.vec4_input)
    );
    emit!(s, "@group(0) @binding(2) var<storage, read> weight: array<f32>;");
    emit!(s, "@group(0) @binding(3) var<storage, read> bias: array<f32>;");
    emit!(
        s,
        "@group(0) @binding(4) var<storage, read_write> output: array<{}>;",
        ty(t.vec4_output)
    );
    emit!(s);
    if t.vec4_input || t.vec4_output {
        s.push_str(vec4.helpers());
    }
    entry_point(&mut s, total);
    emit!(s, "    let cg = index % {}u;", c / g);
    emit!(s, "    let rest = index / {}u;", c / g);
    emit!(s, "    let tile = rest % {}u;", t.tiles_y * t.tiles_x);
    emit!(s, "    let n = rest / {}u;", t.tiles_y * t.tiles_x);
    emit!(s, "    let oy0 = i32(tile / {}u) * {};", t.tiles_x, t.tile_h);
    emit!(s, "    let ox0 = i32(tile % {}u) * {};", t.tiles_x, t.tile_w);
    // Plane offsets of the group's first channel, in the unit of each binding's element.
    let unit = |vec4: bool| if vec4 { 4 } else { 1 };
    emit!(
        s,
        "    let plane = (n * {}u + cg) * {}u;",
        c / g,
        g * h * w / unit(t.vec4_input)
    );
    emit!(
        s,
        "    let out_plane = (n * {}u + cg) * {}u;",
        c / g,
        g * oh * ow / unit(t.vec4_output)
    );
    for j in 0..g {
        for k in 0..taps {
            emit!(s, "    let w{j}_{k} = weight[cg * {}u + {}u];", g * taps, j * taps + k);
        }
        if layer.bias {
            emit!(s, "    let b{j} = bias[cg * {g}u + {j}u];");
        } else {
            emit!(s, "    let b{j} = 0.0;");
        }
    }
    // Window rows and columns: the offset of each into the plane (clamped, in input elements) and whether it is
    // inside. A row that is inside (or outside) for every tile needs no test.
    let axis = |s: &mut String, name: &str, count: u32, stride: u32, pad: u32, tiles: u32, tile: u32, size: u32| {
        let mut state = Vec::new();
        for r in 0..count {
            let lo = i64::from(r) - i64::from(pad);
            let hi = lo + i64::from((tiles - 1) * tile * stride);
            let origin = if name == "r" { "oy0" } else { "ox0" };
            if hi < 0 || lo >= i64::from(size) {
                state.push(Some(false));
            } else if lo >= 0 && hi < i64::from(size) {
                if tiles > 1 {
                    emit!(s, "    let {name}{r} = u32({origin} * {stride} + {lo});");
                }
                state.push(Some(true));
            } else {
                emit!(s, "    let {name}{r}_at = {origin} * {stride} + {lo};");
                emit!(s, "    let {name}{r}_ok = {name}{r}_at >= 0 && {name}{r}_at < {size};");
                emit!(s, "    let {name}{r} = u32(clamp({name}{r}_at, 0, {}));", size - 1);
                state.push(None);
            }
        }
        state
    };
    let rows = axis(&mut s, "r", win_h, sh, ph, t.tiles_y, t.tile_h, h);
    let cols = axis(&mut s, "q", win_w, sw, pw, t.tiles_x, t.tile_w, w);
    // The row (column) index of window row r (column q) as an expression: a constant when there is one tile along
    // the axis and the row is inside.
    let at = |name: &str, i: u32, pad: u32, tiles: u32, state: Option<bool>| {
        if tiles == 1 && state == Some(true) {
            format!("{}u", i64::from(i) - i64::from(pad))
        } else {
            format!("{name}{i}")
        }
    };
    // The window values actually used (with stride and dilation some are skipped).
    let mut used = vec![false; (win_h * win_w) as usize];
    for y in 0..t.tile_h {
        for x in 0..t.tile_w {
            for ky in 0..kh {
                for kx in 0..kw {
                    used[((y * sh + ky * dh) * win_w + x * sw + kx * dw) as usize] = true;
                }
            }
        }
    }
    // value[j][r·win_w + q]: the expression of window value (r, q) of channel j, None where it is the padding.
    // Each value is (its load's name, its expression); the loads wait in `loads` until the first output that
    // needs them, so that few values are live at once (all loads first spilled most of them to the stack).
    let mut value: Vec<Vec<Option<(String, String)>>> = vec![vec![None; used.len()]; g as usize];
    let mut loads: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let comp = |i: u32| ["x", "y", "z", "w"][(i % 4) as usize];
    if t.vec4_input && whole_plane {
        // The group's planes are one run of g·H·W values starting on a 16-byte boundary: load each vec4 of it
        // that holds a used value, at a constant offset from `plane`.
        let mut vectors = std::collections::BTreeSet::new();
        for j in 0..g {
            for r in 0..win_h {
                for q in 0..win_w {
                    let i = (r * win_w + q) as usize;
                    if !used[i] || rows[r as usize] != Some(true) || cols[q as usize] != Some(true) {
                        continue;
                    }
                    let flat = j * h * w + (r - ph) * w + (q - pw);
                    vectors.insert(flat / 4);
                    value[j as usize][i] = Some((format!("v{}", flat / 4), format!("v{}.{}", flat / 4, comp(flat))));
                }
            }
        }
        for v in vectors {
            let load = vec4.load(&format!("input[plane + {v}u]"));
            loads.insert(format!("v{v}"), format!("    let v{v} = {load};"));
        }
    } else if t.vec4_input {
        // Bands of whole rows (W a multiple of 4): each window row is W/4 vec4s starting on a 16-byte boundary.
        for r in 0..win_h {
            let state = rows[r as usize];
            if state == Some(false) {
                continue;
            }
            let mut vectors = std::collections::BTreeSet::new();
            for q in 0..win_w {
                let i = (r * win_w + q) as usize;
                if !used[i] || cols[q as usize] != Some(true) {
                    continue;
                }
                let x = q - pw;
                vectors.insert(x / 4);
                value[0][i] = Some((format!("v{r}_{}", x / 4), format!("v{r}_{}.{}", x / 4, comp(x))));
            }
            let row = at("r", r, ph, t.tiles_y, state);
            for k in vectors {
                let load = vec4.load(&format!("input[plane + {row} * {}u + {k}u]", w / 4));
                if state.is_none() {
                    let line = format!("    let v{r}_{k} = select(vec4<f32>(), {load}, r{r}_ok);");
                    loads.insert(format!("v{r}_{k}"), line);
                } else {
                    loads.insert(format!("v{r}_{k}"), format!("    let v{r}_{k} = {load};"));
                }
            }
        }
    } else {
        for r in 0..win_h {
            for q in 0..win_w {
                let i = (r * win_w + q) as usize;
                let (row, col) = (rows[r as usize], cols[q as usize]);
                if !used[i] || row == Some(false) || col == Some(false) {
                    continue;
                }
                let load = format!(
                    "input[plane + {} * {w}u + {}]",
                    at("r", r, ph, t.tiles_y, row),
                    at("q", q, pw, t.tiles_x, col)
                );
                let mut ok = Vec::new();
                if row.is_none() {
                    ok.push(format!("r{r}_ok"));
                }
                if col.is_none() {
                    ok.push(format!("q{q}_ok"));
                }
                if ok.is_empty() {
                    loads.insert(format!("x{r}_{q}"), format!("    let x{r}_{q} = {load};"));
                } else {
                    let line = format!("    let x{r}_{q} = select(0.0, {load}, {});", ok.join(" && "));
                    loads.insert(format!("x{r}_{q}"), line);
                }
                value[0][i] = Some((format!("x{r}_{q}"), format!("x{r}_{q}")));
            }
        }
    }
    // The output (j, y, x) of the tile as an expression.
    // The output (j, y, x) of the tile as an expression, and the loads it needs.
    let sum = |j: u32, y: u32, x: u32| {
        let mut terms = vec![format!("b{j}")];
        let mut keys = Vec::new();
        for ky in 0..kh {
            for kx in 0..kw {
                let (r, q) = (y * sh + ky * dh, x * sw + kx * dw);
                if let Some((key, v)) = &value[j as usize][(r * win_w + q) as usize] {
                    terms.push(format!("w{j}_{} * {v}", ky * kw + kx));
                    keys.push(key.clone());
                }
            }
        }
        (terms.join(" + "), keys)
    };
    // Emits the loads among `keys` not emitted yet (outside any guard, so later outputs see them).
    fn flush(s: &mut String, loads: &mut std::collections::HashMap<String, String>, keys: &[String]) {
        for key in keys {
            if let Some(line) = loads.remove(key) {
                emit!(s, "{line}");
            }
        }
    }
    let partial_y = !oh.is_multiple_of(t.tile_h);
    let partial_x = !ow.is_multiple_of(t.tile_w);
    if t.vec4_output {
        // Whole planes: the group's output planes are one run of g·H_out·W_out values on a 16-byte boundary.
        // Bands: a band of whole rows is one run of tile_h·W_out values, a multiple of 4 starting on a 16-byte
        // boundary (H_out·W_out is a multiple of 4 too, so a vec4 is either inside the plane or past its end).
        let per = t.tile_h * ow;
        emit!(s, "    let band = out_plane + u32(oy0) * {ow}u / 4u;");
        for k in 0..g * per / 4 {
            let mut parts = Vec::new();
            for f in 4 * k..4 * k + 4 {
                let (expr, keys) = sum(f / per, f % per / ow, f % ow);
                flush(&mut s, &mut loads, &keys);
                parts.push(expr);
            }
            let value = vec4.store(&format!("vec4<f32>({})", parts.join(", ")));
            let store = format!("output[band + {k}u] = {value};");
            if partial_y {
                emit!(s, "    if (u32(oy0) * {ow}u + {}u < {}u) {{ {store} }}", 4 * k, oh * ow);
            } else {
                emit!(s, "    {store}");
            }
        }
    } else {
        for y in 0..t.tile_h {
            let row: Vec<String> = (0..t.tile_w)
                .map(|x| {
                    let (expr, keys) = sum(0, y, x);
                    flush(&mut s, &mut loads, &keys);
                    expr
                })
                .collect();
            if partial_y {
                emit!(s, "    if (oy0 + {y} < {oh}) {{");
            }
            for (x, expr) in row.iter().enumerate() {
                let at = format!("out_plane + u32(oy0 + {y}) * {ow}u + u32(ox0 + {x})");
                if partial_x {
                    emit!(s, "    if (ox0 + {x} < {ow}) {{ output[{at}] = {expr}; }}");
                } else {
                    emit!(s, "    output[{at}] = {expr};");
                }
            }
            if partial_y {
                emit!(s, "    }}");
            }
        }
    }
    emit!(s, "}}");
    s
}

/// The GEMM view of a conv: B's pixel groups, K steps, the slices K runs in, the workgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmShape {
    /// vec4 groups of output pixels per image: ceil(H_out·W_out / 4).
    pub groups: u32,
    /// K = C_in·KH·KW.
    pub k: u32,
    /// K steps per slice (one dispatch each, unrolled): K itself when `channels`·K ≤ [`MAX_GEMM_UNROLL`], else a
    /// multiple of [`SLICE_ALIGN`] of at most [`MAX_GEMM_UNROLL`] / `channels`.
    pub slice: u32,
    /// Slices: K is zero-padded to `slices · slice`.
    pub slices: u32,
    /// GEMM invocations per workgroup (along pixel groups).
    pub workgroup: u32,
    /// Output channels per invocation (the register tile is `channels` × 4 pixels).
    pub channels: u32,
}

/// K steps of a slice after the first start at a weight-buffer offset that every adapter accepts: 256 bytes
/// (WebGPU's largest `min_storage_buffer_offset_alignment`), 64 f32.
pub const SLICE_ALIGN: u32 = 64;

/// Bytes between the per-slice records of the GEMM's uniform buffer (WebGPU's largest
/// `min_uniform_buffer_offset_alignment`).
pub const SLICE_RECORD_BYTES: u64 = 256;

impl GemmShape {
    /// The documented rule: [`GEMM_CHANNELS`] channels per invocation (8 when C_out ≤ 8); K in one slice when
    /// `channels`·K fits [`MAX_GEMM_UNROLL`], else in slices of equal length rounded up to [`SLICE_ALIGN`]; the
    /// workgroup from [`gemm_workgroup`].
    pub fn for_layer(layer: &ConvLayer) -> GemmShape {
        // In u64 and saturated: callers may ask about a layer before it is validated (its plan then refuses it).
        let hw = u64::from(layer.out_height()) * u64::from(layer.out_width());
        let groups = u32::try_from(hw.div_ceil(4).max(1)).unwrap_or(u32::MAX);
        let k = u64::from(layer.in_channels)
            .saturating_mul(u64::from(layer.kernel[0]))
            .saturating_mul(u64::from(layer.kernel[1]));
        let k = u32::try_from(k.max(1)).unwrap_or(u32::MAX);
        let channels = if layer.out_channels > 8 { GEMM_CHANNELS } else { 8 };
        let max_slice = MAX_GEMM_UNROLL / channels;
        let (slice, slices) = if k <= max_slice {
            (k, 1)
        } else {
            let slices = k.div_ceil(max_slice);
            let slice = k.div_ceil(slices).next_multiple_of(SLICE_ALIGN);
            (slice, k.div_ceil(slice))
        };
        let workgroup = gemm_workgroup(
            u64::from(layer.batch) * u64::from(groups),
            u64::from(layer.out_channels).div_ceil(u64::from(channels)),
        );
        GemmShape {
            groups,
            k,
            slice,
            slices,
            workgroup,
            channels,
        }
    }

    /// K zero-padded to whole slices.
    pub fn k_padded(&self) -> u32 {
        self.slice * self.slices
    }

    /// Pixel groups of the whole batch.
    pub fn pixel_groups(&self, layer: &ConvLayer) -> u64 {
        u64::from(layer.batch) * u64::from(self.groups)
    }

    /// Layers of the B texture: slices·N, at least 2 (wgpu's GL backend makes a 1-layer texture a plain 2-D one,
    /// which cannot be bound as an array: measured, every output of such a layer came out wrong on llvmpipe GL).
    pub fn texture_layers(&self, layer: &ConvLayer) -> u32 {
        (self.slices * layer.batch).max(2)
    }

    /// Bytes of the B texture (`groups` × slice × [`GemmShape::texture_layers`] texels of 16 bytes).
    pub fn texture_bytes(&self, layer: &ConvLayer) -> u64 {
        u64::from(self.groups) * u64::from(self.slice) * u64::from(self.texture_layers(layer)) * 16
    }
}

/// The most GEMM invocations per workgroup: WebGPU's default `max_compute_invocations_per_workgroup`.
pub const MAX_GEMM_WORKGROUP: u64 = 256;

/// Workgroups a GEMM dispatch should at least have, so every llvmpipe thread gets work.
pub const MIN_GEMM_WORKGROUPS: u64 = 8;

/// The GEMM's workgroup for `pixel_groups` pixel groups and `channel_blocks` blocks of output channels: as few
/// pixel-group blocks as fit [`MAX_GEMM_WORKGROUP`] (each workgroup copies its channel block's weights into
/// workgroup memory, lane by lane, at a cost of about one SIMD vector's GEMM work; fewer, larger workgroups share
/// it), in multiples of llvmpipe's SIMD width of 8 (the lanes past the last pixel group are wasted work), shrunk 8 at
/// a time while the dispatch has fewer than [`MIN_GEMM_WORKGROUPS`] workgroups.
pub fn gemm_workgroup(pixel_groups: u64, channel_blocks: u64) -> u32 {
    let (pixel_groups, channel_blocks) = (pixel_groups.max(1), channel_blocks.max(1));
    let blocks = pixel_groups.div_ceil(MAX_GEMM_WORKGROUP);
    let mut size = pixel_groups
        .div_ceil(blocks)
        .next_multiple_of(8)
        .min(MAX_GEMM_WORKGROUP);
    // Saturating: a layer asked about before validation may have any size, and gets an answer, not an overflow.
    while size > 8 && pixel_groups.div_ceil(size).saturating_mul(channel_blocks) < MIN_GEMM_WORKGROUPS {
        size -= 8;
    }
    size as u32
}

/// Ok when the GEMM kernels can run `layer`: one group, and B within every adapter's texture limits.
pub fn gemm_fits(layer: &ConvLayer) -> Result<(), String> {
    if layer.groups != 1 {
        return Err(format!("it needs groups 1, got {}", layer.groups));
    }
    let shape = GemmShape::for_layer(layer);
    let layers = u64::from(shape.slices) * u64::from(layer.batch);
    if u64::from(shape.groups) > MAX_TEXTURE_SIDE || layers > MAX_TEXTURE_LAYERS {
        return Err(format!(
            "its B texture needs ceil(H_out·W_out/4) = {} texels across and {} slices of K × {} images = {layers} \
             layers, beyond the {MAX_TEXTURE_SIDE} texels and {MAX_TEXTURE_LAYERS} layers every adapter offers",
            shape.groups, shape.slices, layer.batch
        ));
    }
    Ok(())
}

/// The weight as the GEMM reads it: OIHW `[C_out, K]` with each row zero-padded to [`GemmShape::k_padded`].
pub fn pad_weights(layer: &ConvLayer, weight: &[f32]) -> Vec<f32> {
    let shape = GemmShape::for_layer(layer);
    let (k, padded) = (shape.k as usize, shape.k_padded() as usize);
    let mut out = vec![0.0; layer.out_channels as usize * padded];
    for (row, chunk) in out.chunks_exact_mut(padded).zip(weight.chunks_exact(k)) {
        row[..k].copy_from_slice(chunk);
    }
    out
}

/// Whether the pack kernel of `layer` gathers by input channel ([`pack_by_channel_source`]): a kernel larger than
/// 1×1 and output rows of whole pixel groups (W_out a multiple of 4), so one group's 4 pixels share an output row
/// and, tap after tap, most of their input values.
pub fn packs_by_channel(layer: &ConvLayer) -> bool {
    layer.kernel != [1, 1] && layer.out_width().is_multiple_of(4)
}

/// Invocations of the pack kernel of `layer`: one per texel of B, or one per input channel (and K's zero padding
/// past the last channel) and pixel group when [`packs_by_channel`].
pub fn pack_invocations(layer: &ConvLayer) -> u64 {
    let shape = GemmShape::for_layer(layer);
    if packs_by_channel(layer) {
        let taps = layer.kernel[0] * layer.kernel[1];
        shape.pixel_groups(layer) * u64::from(shape.k_padded().div_ceil(taps))
    } else {
        shape.pixel_groups(layer) * u64::from(shape.k_padded())
    }
}

/// A pack kernel's bindings (the input, B as a storage texture) and entry point up to its pixel group
/// `g = index % groups` (lanes along pixel groups) and `rest = index / groups`.
fn pack_entry_point(s: &mut String, total: u64, groups: u32) {
    emit!(s);
    emit!(s, "@group(0) @binding(1) var<storage, read> input: array<f32>;");
    emit!(
        s,
        "@group(0) @binding(2) var b_out: texture_storage_2d_array<rgba32float, write>;"
    );
    emit!(s);
    entry_point(s, total);
    emit!(s, "    let g = index % {groups}u;");
    emit!(s, "    let rest = index / {groups}u;");
}

/// The pack kernel of `layer`: B = im2col(input) into the rgba32float texture the GEMM reads.
pub fn pack_source(layer: &ConvLayer) -> String {
    if packs_by_channel(layer) {
        return pack_by_channel_source(layer);
    }
    let shape = GemmShape::for_layer(layer);
    let (c, h, w) = (layer.in_channels, layer.height, layer.width);
    let (oh, ow) = (layer.out_height(), layer.out_width());
    let [kh, kw] = layer.kernel;
    let [sh, sw] = layer.stride;
    let [ph, pw] = layer.padding;
    let [dh, dw] = layer.dilation;
    let (g, k, kp, ks, batch) = (shape.groups, shape.k, shape.k_padded(), shape.slice, layer.batch);
    let total = shape.pixel_groups(layer) * u64::from(kp);
    let mut s = String::new();
    emit!(s, "// gemm-cpu pack (generated) — B of the conv as a GEMM: for tap k = (ci·{kh} + ky)·{kw} + kx < K = {k} and the 4 output");
    emit!(
        s,
        "// pixels p = 4g..4g+3 of image n, texel (g, k % {ks}) of layer (k / {ks})·N + n holds"
    );
    emit!(s, "// in[n, ci, {sh}·oy − {ph} + {dh}·ky, {sw}·ox − {pw} + {dw}·kx] (0 outside the image, past the {oh}×{ow} plane and for");
    emit!(
        s,
        "// k ≥ K up to {kp}, K padded to {} slice(s) of {ks}). N = {batch}, C_in = {c}, {h}×{w}.",
        shape.slices
    );
    emit!(
        s,
        "// Layout: input [N, C_in, H, W] f32; B an rgba32float 2-D array texture {g} × {ks} × ({}·N) layers.",
        shape.slices
    );
    emit!(
        s,
        "// Dispatch: workgroups of {CPU_WORKGROUP} on a 2-D grid, one invocation per texel, flat index i < {total}:"
    );
    emit!(
        s,
        "// g = i % {g} (lanes along pixel groups), then k, then n. No loops."
    );
    pack_entry_point(&mut s, total, g);
    emit!(s, "    let k = rest % {kp}u;");
    emit!(s, "    let n = rest / {kp}u;");
    emit!(s, "    let tap = min(k, {}u);", k - 1);
    emit!(s, "    let ci = tap / {}u;", kh * kw);
    emit!(s, "    let ky = i32((tap / {kw}u) % {kh}u);");
    emit!(s, "    let kx = i32(tap % {kw}u);");
    emit!(s, "    let plane = (n * {c}u + ci) * {}u;", h * w);
    let mut values = Vec::new();
    // A pointwise conv reads its B straight from the input planes: no coordinates to divide out, no padding.
    let direct = layer.kernel == [1, 1] && layer.stride == [1, 1] && layer.padding == [0, 0];
    let hw = oh * ow;
    for j in 0..4 {
        emit!(s, "    let p{j} = 4u * g + {j}u;");
        if direct {
            let mut ok = Vec::new();
            if k != kp {
                ok.push(format!("k < {k}u"));
            }
            if !hw.is_multiple_of(4) {
                ok.push(format!("p{j} < {hw}u"));
            }
            if ok.is_empty() {
                values.push(format!("input[plane + p{j}]"));
            } else {
                emit!(s, "    let ok{j} = {};", ok.join(" && "));
                values.push(format!("select(0.0, input[plane + min(p{j}, {}u)], ok{j})", hw - 1));
            }
            continue;
        }
        emit!(s, "    let iy{j} = i32(p{j} / {ow}u) * {sh} - {ph} + {dh} * ky;");
        emit!(s, "    let ix{j} = i32(p{j} % {ow}u) * {sw} - {pw} + {dw} * kx;");
        emit!(
            s,
            "    let ok{j} = k < {k}u && p{j} < {}u && iy{j} >= 0 && iy{j} < {h} && ix{j} >= 0 && ix{j} < {w};",
            oh * ow
        );
        emit!(
            s,
            "    let at{j} = plane + u32(clamp(iy{j}, 0, {})) * {w}u + u32(clamp(ix{j}, 0, {}));",
            h - 1,
            w - 1
        );
        values.push(format!("select(0.0, input[at{j}], ok{j})"));
    }
    emit!(
        s,
        "    textureStore(b_out, vec2<u32>(g, k % {ks}u), (k / {ks}u) * {batch}u + n, vec4<f32>({}));",
        values.join(", ")
    );
    emit!(s, "}}");
    s
}

/// The pack kernel of `layer` when [`packs_by_channel`]: the same texels as the per-texel pack, written by one
/// invocation per (image, input channel, pixel group) for all KH·KW taps of that channel. Its 4 pixels lie in one
/// output row, so each input value the taps share is loaded once: a 3×3 kernel at stride 1 loads 3 rows × 6 columns
/// (18 per-lane loads) for its 9 texels instead of 36.
pub fn pack_by_channel_source(layer: &ConvLayer) -> String {
    let shape = GemmShape::for_layer(layer);
    let (c, h, w) = (layer.in_channels, layer.height, layer.width);
    let (oh, ow) = (layer.out_height(), layer.out_width());
    let [kh, kw] = layer.kernel;
    let [sh, sw] = layer.stride;
    let [ph, pw] = layer.padding;
    let [dh, dw] = layer.dilation;
    let (g, k, kp, ks, batch) = (shape.groups, shape.k, shape.k_padded(), shape.slice, layer.batch);
    let taps = kh * kw;
    let channel_rows = kp.div_ceil(taps);
    let total = pack_invocations(layer);
    // The input columns the group reads, relative to its first pixel's x·stride: j·sw − pw + kx·dw.
    let offset = |j: u32, kx: u32| i64::from(j * sw + kx * dw) - i64::from(pw);
    let mut columns: Vec<i64> = (0..4).flat_map(|j| (0..kw).map(move |kx| offset(j, kx))).collect();
    columns.sort_unstable();
    columns.dedup();
    let name = |col: i64| {
        if col < 0 {
            format!("m{}", -col)
        } else {
            format!("p{col}")
        }
    };
    let mut s = String::new();
    emit!(s, "// gemm-cpu pack by channel (generated) — B of the conv as a GEMM: for tap k = (ci·{kh} + ky)·{kw} + kx < K = {k}");
    emit!(
        s,
        "// and the 4 output pixels p = 4g..4g+3 of image n (one output row: W_out = {ow} is a multiple of 4), texel"
    );
    emit!(s, "// (g, k % {ks}) of layer (k / {ks})·N + n holds in[n, ci, {sh}·oy − {ph} + {dh}·ky, {sw}·ox − {pw} + {dw}·kx] (0 outside the");
    emit!(s, "// image, and for k ≥ K up to {kp}: K padded to {} slice(s) of {ks}). N = {batch}, C_in = {c}, {h}×{w} → {oh}×{ow}.", shape.slices);
    emit!(
        s,
        "// Layout: input [N, C_in, H, W] f32; B an rgba32float 2-D array texture {g} × {ks} × ({}·N) layers.",
        shape.slices
    );
    emit!(s, "// Dispatch: workgroups of {CPU_WORKGROUP} on a 2-D grid, one invocation per (n, ci, g), flat index i < {total}:");
    emit!(s, "// g = i % {g} (lanes along pixel groups), then ci < {channel_rows} (the rows past C_in write K's zero padding),");
    emit!(
        s,
        "// then n. Each invocation loads its {kh} × {} input values once and writes its {taps} texels. No loops.",
        columns.len()
    );
    pack_entry_point(&mut s, total, g);
    emit!(s, "    let ci = rest % {channel_rows}u;");
    emit!(s, "    let n = rest / {channel_rows}u;");
    emit!(s, "    let real = ci < {c}u;");
    emit!(s, "    let plane = (n * {c}u + min(ci, {}u)) * {}u;", c - 1, h * w);
    emit!(s, "    let oy = (4u * g) / {ow}u;");
    emit!(s, "    let x0 = i32((4u * g) % {ow}u) * {sw};");
    emit!(s, "    let top = i32(oy) * {sh} - {ph};");
    for col in &columns {
        let n = name(*col);
        emit!(s, "    let x_{n} = x0 + {col};");
        emit!(s, "    let okx_{n} = real && x_{n} >= 0 && x_{n} < {w};");
        emit!(s, "    let cx_{n} = u32(clamp(x_{n}, 0, {}));", w - 1);
    }
    for ky in 0..kh {
        emit!(s, "    let y{ky} = top + {};", ky * dh);
        emit!(s, "    let oky{ky} = y{ky} >= 0 && y{ky} < {h};");
        emit!(s, "    let row{ky} = plane + u32(clamp(y{ky}, 0, {})) * {w}u;", h - 1);
        for col in &columns {
            let n = name(*col);
            emit!(
                s,
                "    let v{ky}_{n} = select(0.0, input[row{ky} + cx_{n}], oky{ky} && okx_{n});"
            );
        }
    }
    for ky in 0..kh {
        for kx in 0..kw {
            let tap = ky * kw + kx;
            let texel: Vec<String> = (0..4).map(|j| format!("v{ky}_{}", name(offset(j, kx)))).collect();
            emit!(s, "    {{");
            emit!(s, "        let k = ci * {taps}u + {tap}u;");
            // The last channel row may run past K's padding when KH·KW does not divide it.
            let guard = !kp.is_multiple_of(taps) && (channel_rows - 1) * taps + tap >= kp;
            let store = format!(
                "textureStore(b_out, vec2<u32>(g, k % {ks}u), (k / {ks}u) * {batch}u + n, vec4<f32>({}));",
                texel.join(", ")
            );
            if guard {
                emit!(s, "        if (k < {kp}u) {{ {store} }}");
            } else {
                emit!(s, "        {store}");
            }
            emit!(s, "    }}");
        }
    }
    emit!(s, "}}");
    s
}

/// The GEMM kernel of `layer` for one slice of K (the same pipeline for every slice): out (+)= weight · B, see the
/// module docs.
pub fn gemm_source(layer: &ConvLayer) -> String {
    let shape = GemmShape::for_layer(layer);
    let m = layer.out_channels;
    let (g, k, ks, kp, wg) = (shape.groups, shape.k, shape.slice, shape.k_padded(), shape.workgroup);
    let hw = layer.out_height() * layer.out_width();
    let cb = shape.channels;
    let pixel_groups = shape.pixel_groups(layer);
    let mut s = String::new();
    emit!(s, "// gemm-cpu (generated) — the conv as a GEMM: out[n, co, p] = Σ_{{k<{k}}} weight[co, k] · B[n, k, p] (+ bias[co]),");
    emit!(s, "// M = C_out = {m}, K = C_in·KH·KW = {k}, {pixel_groups} pixel groups of 4 (N = {}, {hw} output pixels per image).", layer.batch);
    emit!(
        s,
        "// K runs in {} slice(s) of {ks} steps, one dispatch each; this kernel computes one slice.",
        shape.slices
    );
    emit!(s, "// Layout: B (written by the pack kernel) an rgba32float 2-D array texture {g} × {ks} × ({}·N), the slice's N layers from", shape.slices);
    emit!(s, "// `slice.layer`; weight [C_out, {kp}] f32 (OIHW, rows zero-padded to whole slices), bound at the slice's first column;");
    emit!(s, "// bias [C_out] (a 1-element dummy without bias); output [N, C_out, H_out·W_out] f32; binding 0 the slice record:");
    emit!(
        s,
        "// first = 1 for the first slice (store weight·B + bias), 0 after (add to the output); layer = slice·N."
    );
    emit!(s, "// Dispatch: workgroups of {wg} on a grid x = ceil({pixel_groups} / {wg}) pixel-group blocks, y = ceil({m} / {cb}) channel");
    emit!(s, "// blocks. One invocation computes {cb} channels × 4 pixels (lanes along pixel groups). The workgroup copies its block's");
    emit!(s, "// {cb} × {ks} weights into workgroup memory (one barrier); then {ks} unrolled steps, each one textureLoad of B and {cb}");
    emit!(s, "// weights read at constant indices. Invocations past the last pixel group compute a clamped copy, store nothing.");
    emit!(s);
    emit!(s, "struct Slice {{ first: u32, layer: u32, _pad0: u32, _pad1: u32 }}");
    emit!(s, "@group(0) @binding(0) var<uniform> slice: Slice;");
    emit!(s, "@group(0) @binding(1) var b_in: texture_2d_array<f32>;");
    emit!(s, "@group(0) @binding(2) var<storage, read> weight: array<f32>;");
    emit!(s, "@group(0) @binding(3) var<storage, read> bias: array<f32>;");
    emit!(s, "@group(0) @binding(4) var<storage, read_write> output: array<f32>;");
    emit!(s);
    emit!(s, "var<workgroup> w_block: array<f32, {}>;", cb * ks);
    emit!(s);
    emit!(s, "@compute @workgroup_size({wg})");
    emit!(
        s,
        "fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) local: u32) {{"
    );
    emit!(s, "    let raw = wg.x * {wg}u + local;");
    emit!(s, "    let q = min(raw, {}u);", pixel_groups - 1);
    if layer.batch == 1 {
        // One image: the pixel group is the flat index (no division to recompute at every textureLoad).
        emit!(s, "    let n = 0u;");
        emit!(s, "    let g = q;");
    } else {
        emit!(s, "    let n = q / {g}u;");
        emit!(s, "    let g = q % {g}u;");
    }
    emit!(s, "    let layer = slice.layer + n;");
    emit!(s, "    let c0 = wg.y * {cb}u;");
    emit!(s, "    for (var i = local; i < {}u; i += {wg}u) {{", cb * ks);
    emit!(s, "        let co = min(c0 + i % {cb}u, {}u);", m - 1);
    emit!(s, "        w_block[i] = weight[co * {kp}u + i / {cb}u];");
    emit!(s, "    }}");
    emit!(s, "    workgroupBarrier();");
    for c in 0..cb {
        emit!(s, "    var acc{c} = vec4<f32>();");
    }
    for kk in 0..ks {
        emit!(s, "    {{");
        emit!(s, "        let v = textureLoad(b_in, vec2<u32>(g, {kk}u), layer, 0);");
        for c in 0..cb {
            emit!(s, "        acc{c} += v * w_block[{}];", kk * cb + c);
        }
        emit!(s, "    }}");
    }
    emit!(s, "    if (raw >= {pixel_groups}u) {{ return; }}");
    emit!(s, "    let out_image = n * {}u;", m * hw);
    emit!(s, "    let first = slice.first != 0u;");
    for c in 0..cb {
        let guard = !m.is_multiple_of(cb);
        if guard {
            emit!(s, "    if (c0 + {c}u < {m}u) {{");
        } else {
            emit!(s, "    {{");
        }
        let b = if layer.bias {
            format!("bias[c0 + {c}u]")
        } else {
            "0.0".to_string()
        };
        emit!(s, "        let at = out_image + (c0 + {c}u) * {hw}u + 4u * g;");
        for j in 0..4 {
            let comp = ["x", "y", "z", "w"][j as usize];
            let store = format!(
                "if (first) {{ output[at + {j}u] = acc{c}.{comp} + {b}; }} else {{ output[at + {j}u] += acc{c}.{comp}; }}"
            );
            if !hw.is_multiple_of(4) {
                emit!(s, "        if (4u * g + {j}u < {hw}u) {{ {store} }}");
            } else {
                emit!(s, "        {store}");
            }
        }
        emit!(s, "    }}");
    }
    emit!(s, "}}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A depthwise conv of 8 channels on an h×h plane, kernel k×k, stride s, "same" padding.
    fn dw(h: u32, k: u32, s: u32) -> ConvLayer {
        ConvLayer {
            in_channels: 8,
            out_channels: 8,
            groups: 8,
            height: h,
            width: h,
            kernel: [k, k],
            stride: [s, s],
            padding: [k / 2, k / 2],
            ..ConvLayer::default()
        }
    }

    #[test]
    fn depthwise_tiles_follow_the_rule_and_the_unroll_cap() {
        let t = DepthwiseTile::for_layer(&dw(14, 3, 1));
        assert_eq!(
            (t.tile_h, t.tile_w, t.tiles_y, t.tiles_x, t.channels),
            (14, 14, 1, 1, 1)
        );
        assert!(t.vec4_input && t.vec4_output);
        // 56×56: bands of whole rows, 4 rows each (the most that fit without a shorter last band).
        let t = DepthwiseTile::for_layer(&dw(56, 3, 1));
        assert_eq!((t.tile_h, t.tile_w, t.tiles_y, t.tiles_x), (4, 56, 14, 1));
        assert!(t.vec4_input && t.vec4_output);
        // 7×7 (49 values): 4 channels per invocation make whole vec4s.
        let t = DepthwiseTile::for_layer(&dw(7, 3, 1));
        assert_eq!((t.channels, t.tiles_y, t.vec4_input, t.vec4_output), (4, 1, true, true));
        // A whole 14×14 plane of a 5×5 kernel fits.
        let t = DepthwiseTile::for_layer(&dw(14, 5, 1));
        assert_eq!((t.tile_h, t.tiles_y, t.channels), (14, 1, 1));
        // 57 wide: no vec4 rows.
        let t = DepthwiseTile::for_layer(&dw(57, 3, 1));
        assert_eq!((t.tile_w, t.vec4_input, t.vec4_output), (57, false, false));
        // 8 channels of 7×7 with a 7×7 kernel: 4 channels would pass the unroll cap; one channel, scalars.
        let t = DepthwiseTile::for_layer(&dw(7, 7, 1));
        assert_eq!((t.channels, t.vec4_input), (1, false));
        for k in [3, 5, 7] {
            for s in [1, 2] {
                for h in [1, 2, 7, 14, 15, 28, 57, 112, 224, 1000] {
                    let layer = dw(h, k, s);
                    let t = DepthwiseTile::for_layer(&layer);
                    let macs = t.channels * t.tile_h * t.tile_w * k * k;
                    assert!(macs <= MAX_DEPTHWISE_UNROLL || t.tile_h * t.tile_w == 1, "{h} {k} {s}");
                    assert!(t.tile_h * t.tiles_y >= layer.out_height() && t.tile_w * t.tiles_x >= layer.out_width());
                    assert!(
                        (t.tiles_y - 1) * t.tile_h < layer.out_height(),
                        "no empty band: {h} {k} {s}"
                    );
                    assert!(layer.in_channels.is_multiple_of(t.channels));
                    assert!(t.channels == 1 || (t.tiles_y == 1 && t.tiles_x == 1));
                    // A vec4 access starts on a 16-byte boundary: whole planes of the channel group, or whole
                    // rows (bands) of a width that is a multiple of 4.
                    let plane_in = t.channels * h * h;
                    let plane_out = t.channels * layer.out_height() * layer.out_width();
                    if t.vec4_input {
                        assert!(
                            plane_in.is_multiple_of(4) && (t.tiles_y == 1 || h.is_multiple_of(4)),
                            "{h} {k} {s}"
                        );
                        assert_eq!(t.tiles_x, 1);
                    }
                    if t.vec4_output {
                        assert!(
                            plane_out.is_multiple_of(4)
                                && (t.tiles_y == 1 || (t.tile_h * layer.out_width()).is_multiple_of(4)),
                            "{h} {k} {s}"
                        );
                        assert_eq!(t.tiles_x, 1);
                    }
                    assert_eq!(t.invocations(&layer), u64::from(8 / t.channels * t.tiles_y * t.tiles_x));
                }
            }
        }
        // The generated source states its tile and reads vec4s only where the rule says so.
        let source = depthwise_source(&dw(56, 3, 1), Vec4Access::F32);
        assert!(source.contains("var<storage, read> input: array<vec4<f32>>"));
        assert!(source.contains("4×56 output tile (14×1 tiles per plane)"), "{source}");
        let source = depthwise_source(&dw(57, 3, 1), Vec4Access::F32);
        assert!(source.contains("var<storage, read> input: array<f32>"));
    }

    #[test]
    fn depthwise_moves_vec4s_as_u64_pairs_where_the_device_has_int64() {
        // 14²: the whole plane, vec4 in and out; 56²: bands, vec4 in and out; 57²: scalars only.
        for (size, wide) in [(14, true), (56, true), (57, false)] {
            let f32s = depthwise_source(&dw(size, 3, 1), Vec4Access::F32);
            let pairs = depthwise_source(&dw(size, 3, 1), Vec4Access::U64Pairs);
            assert!(!f32s.contains("u64"), "{f32s}");
            if !wide {
                // Nothing to pair: the same program either way.
                assert_eq!(pairs, f32s);
                continue;
            }
            assert!(pairs.contains("var<storage, read> input: array<vec2<u64>>"), "{pairs}");
            assert!(
                pairs.contains("var<storage, read_write> output: array<vec2<u64>>"),
                "{pairs}"
            );
            assert!(pairs.contains("fn unpack4(q: vec2<u64>) -> vec4<f32>"), "{pairs}");
            // Every load is unpacked, every store packed: the same accesses, the same count.
            let count = |s: &str, pat: &str| s.matches(pat).count();
            assert_eq!(count(&pairs, "unpack4(input["), count(&f32s, "input["));
            assert_eq!(count(&pairs, "= pack4(vec4<f32>("), count(&f32s, "] = vec4<f32>("));
            assert!(count(&f32s, "input[") > 0 && count(&f32s, "] = vec4<f32>(") > 0);
            // Line for line the same program, plus the helpers.
            let helpers = Vec4Access::U64Pairs.helpers().lines().count();
            assert_eq!(pairs.lines().count(), f32s.lines().count() + helpers);
        }
    }

    #[test]
    fn gemm_slices_cover_k_within_the_cap() {
        for c in [1, 3, 127, 128, 129, 512, 1152] {
            let layer = ConvLayer {
                in_channels: c,
                ..ConvLayer::default()
            };
            let s = GemmShape::for_layer(&layer);
            assert_eq!(s.k, 9 * c);
            assert!(s.slice * s.channels <= MAX_GEMM_UNROLL && s.slice >= 1);
            assert!(s.k_padded() >= s.k && s.k_padded() - s.k < s.slice);
            assert!(s.slices == 1 || s.slice.is_multiple_of(SLICE_ALIGN));
            assert!(s.workgroup.is_multiple_of(8) && u64::from(s.workgroup) <= MAX_GEMM_WORKGROUP);
            assert_eq!(s.channels, GEMM_CHANNELS);
        }
        // At most 8 output channels: one block of 8, and the slice may be twice as long.
        let narrow = GemmShape::for_layer(&ConvLayer {
            out_channels: 8,
            ..ConvLayer::default()
        });
        assert_eq!((narrow.channels, narrow.slice * narrow.channels), (8, MAX_GEMM_UNROLL));
        let pw = |hw: u32| {
            ConvLayer {
                height: hw,
                width: hw,
                ..ConvLayer::default()
            }
            .pointwise()
        };
        // The issue's three GEMM shapes: one workgroup along the 49 and 196 pixel groups, 4 along 784.
        assert_eq!(GemmShape::for_layer(&pw(14)).workgroup, 56);
        assert_eq!(GemmShape::for_layer(&pw(28)).workgroup, 200);
        assert_eq!(GemmShape::for_layer(&pw(56)).workgroup, 200);
        // K = 512 in 4 slices of 128, K = 4 608 (3×3 on 512 channels) in 36.
        let (p, s) = (
            GemmShape::for_layer(&pw(14)),
            GemmShape::for_layer(&ConvLayer::default()),
        );
        assert_eq!((p.slice, p.slices, s.slice, s.slices), (128, 4, 128, 36));
    }

    #[test]
    fn the_pack_gathers_by_channel_where_a_group_is_one_output_row() {
        let conv = |c: u32, hw: u32, k: u32, s: u32| ConvLayer {
            in_channels: c,
            out_channels: 12,
            height: hw,
            width: hw,
            kernel: [k, k],
            stride: [s, s],
            padding: [k / 2, k / 2],
            ..ConvLayer::default()
        };
        // 56 wide at stride 1: by channel, 18 loads (3 rows × 6 columns) for the 9 texels, one invocation per
        // (channel, pixel group); K = 1 152 is 9 slices of 128, a whole number of channel rows.
        let layer = conv(128, 56, 3, 1);
        assert!(packs_by_channel(&layer));
        assert_eq!(pack_invocations(&layer), 784 * 128);
        let source = pack_source(&layer);
        assert!(source.contains("pack by channel"), "{source}");
        assert_eq!(source.matches("input[").count(), 18, "{source}");
        assert_eq!(source.matches("textureStore(").count(), 9);
        assert!(
            !source.contains("if (k < "),
            "no channel row runs past the padding: {source}"
        );
        // K = 360 padded to 384: 43 channel rows, the last one's taps 6..8 (k = 384..386) guarded.
        let padded = conv(40, 8, 3, 1);
        assert_eq!(GemmShape::for_layer(&padded).k_padded(), 384);
        assert_eq!(pack_invocations(&padded), 16 * 43);
        assert_eq!(pack_source(&padded).matches("if (k < 384u)").count(), 3);
        // 7×7 at stride 2 on 32 → 16 wide: columns 2j − 3 + kx, 13 of them, 7 rows.
        let seven = conv(3, 32, 7, 2);
        assert!(packs_by_channel(&seven));
        assert_eq!(pack_source(&seven).matches("input[").count(), 7 * 13);
        // 14 wide (a group crosses rows) and the pointwise conv: one invocation per texel.
        for layer in [conv(16, 14, 3, 1), conv(16, 56, 1, 1)] {
            assert!(!packs_by_channel(&layer));
            let shape = GemmShape::for_layer(&layer);
            assert_eq!(
                pack_invocations(&layer),
                shape.pixel_groups(&layer) * u64::from(shape.k_padded())
            );
            assert!(!pack_source(&layer).contains("pack by channel"));
        }
    }

    #[test]
    fn gemm_workgroups_cover_the_pixels_and_keep_every_thread_busy() {
        for groups in [1u64, 2, 7, 8, 9, 13, 49, 196, 255, 256, 257, 784, 3136, 100_000] {
            for blocks in [1u64, 2, 4, 32, 64, 1_000] {
                let wg = u64::from(gemm_workgroup(groups, blocks));
                assert!(
                    wg.is_multiple_of(8) && (8..=MAX_GEMM_WORKGROUP).contains(&wg),
                    "{groups} {blocks}"
                );
                let along = groups.div_ceil(wg);
                // No workgroup is all waste: the last block starts inside the pixel groups.
                assert!((along - 1) * wg < groups, "{groups} {blocks}: {wg}");
                // Enough workgroups for the threads when the pixels allow it (workgroups of at least 8).
                let most = groups.div_ceil(8) * blocks;
                assert!(
                    along * blocks >= MIN_GEMM_WORKGROUPS.min(most),
                    "{groups} {blocks}: {wg}"
                );
            }
        }
        // A GEMV (a 1×1 input: one pixel group) gets the smallest workgroup.
        assert_eq!(gemm_workgroup(1, 64), 8);
        // Few channel blocks: the pixels split so that 8 workgroups run.
        assert_eq!(gemm_workgroup(784, 1), 104);
        // Any sizes get an answer (tests/cost_properties.rs found the product of both overflowing).
        assert_eq!(gemm_workgroup(u64::MAX / 2, u64::MAX / 2), MAX_GEMM_WORKGROUP as u32);
        assert_eq!(gemm_workgroup(9, u64::MAX), 16);
    }
}
