//! Tile tuning: every candidate register tile of the vec4 kernels, timed on the current adapter for the three convs
//! of a layer (standard, depthwise, pointwise), each output checked against the CPU reference, and the fastest
//! remembered per adapter, driver, kernel and shape class in the cache (`tiles.json`). `compare`, `sweep` and
//! `model --run` then build their vec4 kernels with the cached tile of the layer's class, or the built-in default.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::bench::BenchSettings;
use crate::cache;
use crate::cost::ConvKind;
use crate::gpu::conv::{Tile, TileTable};
use crate::gpu::{AdapterSummary, ConvJob, ConvKernels, GpuContext, GpuError, PassTimer, ShaderKind, Variant};
use crate::layer::ConvLayer;
use crate::measure::{self, Input};
use crate::rng::SplitMix64;

/// The cache file of tuned tiles.
const CACHE_FILE: &str = "tiles.json";

/// A tile whose first dispatch takes over this many times the best median so far is not sampled further.
const PRUNE_FACTOR: f64 = 3.0;

/// How many of the fastest tiles are timed a second time (plus the default).
const RETIMED: usize = 3;

/// The median time per dispatch of `job` under `settings`.
fn time_job(
    ctx: &GpuContext,
    timer: &PassTimer,
    kernels: &ConvKernels,
    job: &ConvJob,
    settings: &BenchSettings,
) -> Result<f64, GpuError> {
    Ok(measure::time(ctx, timer, settings, |pass| job.encode(kernels, pass))?.median_s())
}

/// The tiles `tune` tries for `kind`: its registry entry's candidate space ([`crate::gpu::kernels::TileSpace`]),
/// none for a kernel without a tile.
pub fn candidates(kind: ShaderKind) -> Vec<Tile> {
    kind.spec().tuning().map(|space| space.candidates()).unwrap_or_default()
}

/// The shape class a tuned tile is remembered for: the kernel, the batch, and H_out·W_out, C_in and C_out each
/// rounded down to a power of two (`pointwise-vec4 · N 1 · H·W 2^7 · C_in 2^9 · C_out 2^9`).
pub fn shape_class(kind: ShaderKind, layer: &ConvLayer) -> String {
    let log2 = |v: u64| 63 - v.max(1).leading_zeros();
    let plane = u64::from(layer.out_height()) * u64::from(layer.out_width());
    format!(
        "{} · N {} · H·W 2^{} · C_in 2^{} · C_out 2^{}",
        kind.name(),
        layer.batch,
        log2(plane),
        log2(u64::from(layer.in_channels)),
        log2(u64::from(layer.out_channels))
    )
}

/// One timed tile.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    pub tile: Tile,
    /// Median time per dispatch.
    pub median_s: f64,
    pub flops_per_s: f64,
}

/// The candidates of one conv of the layer.
#[derive(Debug, Clone)]
pub struct KernelTuning {
    pub conv: ConvKind,
    pub kernel: ShaderKind,
    pub layer: ConvLayer,
    pub class: String,
    /// Every candidate that ran, in the order tried.
    pub candidates: Vec<Candidate>,
    /// The built-in default tile of the kernel.
    pub default: Tile,
}

impl KernelTuning {
    /// The fastest candidate.
    pub fn best(&self) -> Option<&Candidate> {
        self.candidates.iter().min_by(|a, b| a.median_s.total_cmp(&b.median_s))
    }

    /// The default tile's candidate, when it was among those tried.
    pub fn default_candidate(&self) -> Option<&Candidate> {
        self.candidates.iter().find(|c| c.tile == self.default)
    }
}

/// `tune` on one layer and adapter.
#[derive(Debug, Clone)]
pub struct Tuning {
    pub adapter: AdapterSummary,
    pub layer: ConvLayer,
    pub kernels: Vec<KernelTuning>,
}

/// One remembered tile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TunedTile {
    pub tile: Tile,
    pub median_s: f64,
    pub flops_per_s: f64,
}

/// The most invocations per workgroup a cached tile may ask for (adapters allow 256 to 1024).
const MAX_CACHED_WORKGROUP: u32 = 1024;

impl cache::Validate for TunedTile {
    /// Within the shaders' register arrays (`Tile::check`), a workgroup of 1–1024, and a finite positive time
    /// and rate.
    fn problem(&self) -> Option<String> {
        if let Err(error) = self.tile.check(MAX_CACHED_WORKGROUP) {
            return Some(error.to_string());
        }
        cache::positive("median_s", self.median_s, 1e6)
            .or_else(|| cache::positive("flops_per_s", self.flops_per_s, 1e18))
    }
}

/// The three convs of `layer` that have a vec4 kernel: (conv, layer, kernel).
fn tunable_convs(layer: &ConvLayer) -> Vec<(ConvKind, ConvLayer, ShaderKind)> {
    [
        (ConvKind::Standard, *layer),
        (ConvKind::Depthwise, layer.depthwise()),
        (ConvKind::Pointwise, layer.pointwise()),
    ]
    .into_iter()
    .map(|(conv, l)| (conv, l, Variant::Vec4.shader_for(&l)))
    .filter(|(_, _, kind)| kind.is_tunable())
    .collect()
}

/// How many (conv, tile) candidates `tune` tries on `layer` at most (some may be skipped on an adapter).
pub fn candidate_count(layer: &ConvLayer) -> usize {
    tunable_convs(layer)
        .iter()
        .map(|(_, _, kind)| candidates(*kind).len())
        .sum()
}

/// The valid tiles cached for `adapter`, by shape class: each within the kernel's rules (a depthwise tile has one
/// channel group) and a workgroup the adapter runs; any other entry is warned about and skipped.
fn cached_tiles(adapter: &AdapterSummary) -> BTreeMap<String, TunedTile> {
    let key = cache::cache_key(adapter);
    let mut tiles: BTreeMap<String, TunedTile> = cache::read_nested(CACHE_FILE, &key);
    tiles.retain(|class, tuned| {
        let problem = if tuned.tile.workgroup > adapter.max_compute_invocations_per_workgroup {
            Some(format!(
                "workgroup {} is above this adapter's {} invocations",
                tuned.tile.workgroup, adapter.max_compute_invocations_per_workgroup
            ))
        } else {
            // The class begins with the kernel's name (see `shape_class`).
            let kind = ShaderKind::ALL
                .into_iter()
                .find(|k| class.split(" · ").next() == Some(k.name()));
            kind.and_then(|k| k.spec().tile_rule(tuned.tile).err())
        };
        if let Some(problem) = &problem {
            let file = cache::cache_dir().map_or(CACHE_FILE.into(), |d| d.join(CACHE_FILE).display().to_string());
            cache::warn_once(format!(
                "cache {file}: ignoring the entry \"{key} › {class}\": {problem}; the built-in tile is used (the \
                 entry is kept in the file)"
            ));
        }
        problem.is_none()
    });
    tiles
}

/// The tiles for `layer`'s convs (standard, depthwise, pointwise) on `adapter`: the cached tile of each conv's shape
/// class, else the built-in one.
pub fn tiles_for(adapter: &AdapterSummary, layer: &ConvLayer) -> TileTable {
    let cached = cached_tiles(adapter);
    tunable_convs(layer)
        .into_iter()
        .fold(TileTable::default(), |table, (_, l, kind)| {
            match cached.get(&shape_class(kind, &l)) {
                Some(tuned) => table.with(kind, tuned.tile),
                None => table,
            }
        })
}

/// The tiles for a sequence of `layers`, each with the kernel it runs on (a network): per layer, the built-in table,
/// with that layer's kernel given the tile cached for its shape class when the kernel is tunable and one is cached.
pub fn tiles_per_layer(adapter: &AdapterSummary, layers: &[(ConvLayer, ShaderKind)]) -> Vec<TileTable> {
    let cached = cached_tiles(adapter);
    layers
        .iter()
        .map(|(layer, kind)| match cached.get(&shape_class(*kind, layer)) {
            Some(tuned) if kind.is_tunable() => TileTable::default().with(*kind, tuned.tile),
            _ => TileTable::default(),
        })
        .collect()
}

/// Stores the best tile of every kernel of `tuning` in the cache (atomically), keeping the other entries.
pub fn store(tuning: &Tuning) -> Result<PathBuf, cache::CacheError> {
    let mut best_tiles = Vec::new();
    for k in &tuning.kernels {
        if let Some(best) = k.best() {
            let tuned = TunedTile {
                tile: best.tile,
                median_s: best.median_s,
                flops_per_s: best.flops_per_s,
            };
            let value = serde_json::to_value(tuned).map_err(|e| cache::CacheError::Io {
                path: CACHE_FILE.into(),
                source: e.into(),
            })?;
            best_tiles.push((k.class.clone(), value));
        }
    }
    // Reading first warns (once) about any bad entry; the update keeps it in the file.
    let _ = cached_tiles(&tuning.adapter);
    cache::update(CACHE_FILE, |entries| {
        let adapter = entries
            .entry(cache::cache_key(&tuning.adapter))
            .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
        if !adapter.is_object() {
            *adapter = serde_json::Value::Object(serde_json::Map::new());
        }
        if let serde_json::Value::Object(classes) = adapter {
            classes.extend(best_tiles);
        }
    })
}

/// Times every candidate tile of every vec4 kernel `layer`'s convs use. A tile the adapter cannot run (workgroup too
/// large) is skipped; a tile whose output disagrees with the CPU reference is an error. `progress` hears each
/// (conv, tile) before it is timed.
pub fn tune(
    ctx: &GpuContext,
    layer: &ConvLayer,
    settings: &BenchSettings,
    mut progress: impl FnMut(ConvKind, ShaderKind, Tile),
) -> Result<Tuning, GpuError> {
    let layer = layer.validated()?;
    let mut kernels = ConvKernels::new(ctx)?;
    let timer = PassTimer::new(ctx)?;
    let mut rng = SplitMix64::new(0x7e57);
    let mut tunings = Vec::new();
    for (conv, conv_layer, kind) in tunable_convs(&layer) {
        let flops = crate::cost::Cost::of_layer(&conv_layer)?.flops;
        let input = rng.fill(conv_layer.input_len().unwrap_or(0) as usize);
        let weight = rng.fill(conv_layer.weight_len().unwrap_or(0) as usize);
        let bias = conv_layer.bias.then(|| rng.fill(conv_layer.bias_len() as usize));
        let mut tuning = KernelTuning {
            conv,
            kernel: kind,
            layer: conv_layer,
            class: shape_class(kind, &conv_layer),
            candidates: Vec::new(),
            default: TileTable::default().get(kind).unwrap_or(Tile::new(1, 1, 64)),
        };
        // The default first, so the pruning below has a good time to compare with from the start.
        let mut tiles = candidates(kind);
        tiles.sort_by_key(|t| *t != tuning.default);
        for tile in tiles {
            if tile.check(ctx.summary.max_compute_invocations_per_workgroup).is_err() {
                continue;
            }
            progress(conv, kind, tile);
            kernels.set_tile(ctx, kind, tile)?;
            // A tile whose grid the adapter cannot dispatch on this layer (too many workgroups along an axis) is
            // not a candidate here; every other failure is an error.
            let job = match measure::prepare(
                ctx,
                &kernels,
                &conv_layer,
                kind,
                Input::Data(&input),
                &weight,
                bias.as_deref(),
            ) {
                Ok(job) => job,
                Err(GpuError::Limit { .. }) => continue,
                Err(error) => return Err(error),
            };
            // Checked before it is timed: a tile that computes wrong ends the tuning.
            job.run(ctx, &kernels)?;
            measure::read_and_check(ctx, &job, &input, &weight, bias.as_deref(), &mut rng)?.passed(conv.name())?;
            // One timed dispatch first: a tile over PRUNE_FACTOR × the best so far keeps that single time.
            let once = timer.time_pass(ctx, |pass| job.encode(&kernels, pass))?;
            let best_so_far = tuning.best().map_or(f64::INFINITY, |b| b.median_s);
            let first_s = once.gpu_s.unwrap_or(once.wall_s);
            let median_s = if first_s > PRUNE_FACTOR * best_so_far {
                first_s
            } else {
                time_job(ctx, &timer, &kernels, &job, settings)?
            };
            tuning.candidates.push(Candidate {
                tile,
                median_s,
                flops_per_s: flops as f64 / median_s,
            });
        }
        // The machine's speed drifts: time the leaders once more and keep each one's better median.
        let mut leaders: Vec<usize> = (0..tuning.candidates.len()).collect();
        leaders.sort_by(|&a, &b| tuning.candidates[a].median_s.total_cmp(&tuning.candidates[b].median_s));
        leaders.truncate(RETIMED);
        if let Some(d) = tuning.candidates.iter().position(|c| c.tile == tuning.default) {
            if !leaders.contains(&d) {
                leaders.push(d);
            }
        }
        for i in leaders {
            let tile = tuning.candidates[i].tile;
            progress(conv, kind, tile);
            kernels.set_tile(ctx, kind, tile)?;
            let job = measure::prepare(
                ctx,
                &kernels,
                &conv_layer,
                kind,
                Input::Data(&input),
                &weight,
                bias.as_deref(),
            )?;
            let again = time_job(ctx, &timer, &kernels, &job, settings)?;
            let candidate = &mut tuning.candidates[i];
            candidate.median_s = candidate.median_s.min(again);
            candidate.flops_per_s = flops as f64 / candidate.median_s;
        }
        tunings.push(tuning);
    }
    Ok(Tuning {
        adapter: ctx.summary.clone(),
        layer,
        kernels: tunings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_candidate_fits_the_register_arrays() {
        for kind in ShaderKind::ALL {
            let tiles = candidates(kind);
            assert_eq!(tiles.is_empty(), !kind.is_tunable(), "{}", kind.name());
            for tile in tiles {
                assert!(tile.check(256).is_ok(), "{} {tile}", kind.name());
            }
            if let Some(default) = TileTable::default().get(kind) {
                assert!(
                    candidates(kind).contains(&default),
                    "{}: default {default} is tried",
                    kind.name()
                );
            }
        }
    }

    #[test]
    fn shape_classes_bucket_by_powers_of_two() {
        let layer = ConvLayer::default(); // 14×14 (196 → 2^7), 512 → 2^9
        assert_eq!(
            shape_class(ShaderKind::PointwiseVec4, &layer.pointwise()),
            "pointwise-vec4 · N 1 · H·W 2^7 · C_in 2^9 · C_out 2^9"
        );
        let wider = ConvLayer {
            out_channels: 1024,
            ..layer
        };
        assert_eq!(
            shape_class(ShaderKind::Conv2dVec4, &layer),
            shape_class(
                ShaderKind::Conv2dVec4,
                &ConvLayer {
                    out_channels: 700,
                    ..layer
                }
            )
        );
        assert_ne!(
            shape_class(ShaderKind::Conv2dVec4, &layer),
            shape_class(ShaderKind::Conv2dVec4, &wider)
        );
    }

    #[test]
    fn without_a_cache_entry_the_defaults_apply() {
        let adapter = AdapterSummary::with_default_limits("no such adapter in any cache");
        assert_eq!(tiles_for(&adapter, &ConvLayer::default()), TileTable::default());
    }
}
