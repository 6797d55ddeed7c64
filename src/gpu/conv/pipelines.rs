//! [`ConvKernels`]: the conv pipelines of one device, each built the first time a job uses it (per tile for a
//! tunable kernel, per source text for a generated one) and shared after.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::gpu::kernel::{Binding, Checks, Kernel};
use crate::gpu::kernels::{self, PipelineRecord, ShaderKind, Tile, TileTable};
use crate::gpu::{GpuContext, GpuError};

/// A fixed program's pipeline is built once per kernel and tile.
type FixedKey = (ShaderKind, Option<Tile>);

/// The conv pipelines of one device, built lazily: a run compiles only the kernels its jobs use (the tunable ones
/// with the tiles of a [`TileTable`]).
#[derive(Debug)]
pub struct ConvKernels {
    tiles: TileTable,
    /// The fixed programs built so far, by kernel and tile.
    fixed: Mutex<HashMap<FixedKey, Arc<PipelineRecord>>>,
    /// The generated programs built so far, by source text: each compiles once per run.
    generated: Mutex<HashMap<String, Arc<PipelineRecord>>>,
}

impl ConvKernels {
    /// The conv pipelines of `ctx`'s device, the tunable kernels with the built-in [`TileTable::default`] tiles.
    /// Nothing is compiled yet; a lost device is reported here.
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Self::with_tiles(ctx, TileTable::default())
    }

    /// The conv pipelines, the tunable kernels with `tiles` (built when first used).
    pub fn with_tiles(ctx: &GpuContext, tiles: TileTable) -> Result<Self, GpuError> {
        ctx.check()?;
        Ok(ConvKernels {
            tiles,
            fixed: Mutex::new(HashMap::new()),
            generated: Mutex::new(HashMap::new()),
        })
    }

    /// The pipeline of fixed kernel `kind` built with `tile` (a tunable kernel needs one, checked against the
    /// adapter), compiled on first use and shared after.
    pub fn pipeline(
        &self,
        ctx: &GpuContext,
        kind: ShaderKind,
        tile: Option<Tile>,
    ) -> Result<Arc<PipelineRecord>, GpuError> {
        let tile = match (kind.is_tunable(), tile) {
            (true, Some(tile)) => Some(tile.check(ctx.summary.max_compute_invocations_per_workgroup)?),
            (true, None) => {
                return Err(GpuError::KernelDoesNotApply {
                    shader: kind.name(),
                    reason: "a vec4 kernel needs a tile".into(),
                })
            }
            (false, _) => None,
        };
        let mut cache = self.fixed.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(record) = cache.get(&(kind, tile)) {
            return Ok(record.clone());
        }
        let record = PipelineRecord::new(kernels::build_fixed(ctx, kind.spec(), tile)?, false);
        cache.insert((kind, tile), record.clone());
        Ok(record)
    }

    /// The pipeline of a generated `source` (built once per run, then shared), with `bindings` and `workgroup`
    /// invocations per workgroup. Its compile happens at its first dispatch (see [`crate::gpu::ConvJob::new`]).
    pub fn generated(
        &self,
        ctx: &GpuContext,
        label: &'static str,
        source: String,
        bindings: &[Binding],
        workgroup: u32,
    ) -> Result<Arc<PipelineRecord>, GpuError> {
        self.generated_cached(source, workgroup, |source| {
            Kernel::with_bindings(ctx, label, source, "main", &[], bindings, proven_safe_checks())
        })
    }

    /// [`ConvKernels::generated`] for a program that writes every workgroup-memory element before reading it: its
    /// pipeline skips wgpu's zero-fill of workgroup memory ([`Kernel::with_bindings_unzeroed`]).
    pub fn generated_unzeroed(
        &self,
        ctx: &GpuContext,
        label: &'static str,
        source: String,
        bindings: &[Binding],
        workgroup: u32,
    ) -> Result<Arc<PipelineRecord>, GpuError> {
        self.generated_cached(source, workgroup, |source| {
            Kernel::with_bindings_unzeroed(ctx, label, source, bindings, proven_safe_checks())
        })
    }

    /// The cached pipeline of `source`, else the one `build` makes, recorded with `workgroup` invocations.
    fn generated_cached(
        &self,
        source: String,
        workgroup: u32,
        build: impl FnOnce(&str) -> Result<Kernel, GpuError>,
    ) -> Result<Arc<PipelineRecord>, GpuError> {
        let mut cache = self.generated.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(kernel) = cache.get(&source) {
            return Ok(kernel.clone());
        }
        let kernel = build(&source)?.with_workgroup_size(workgroup);
        let record = PipelineRecord::new(kernel, true);
        cache.insert(source, record.clone());
        Ok(record)
    }

    /// Every generated kernel compiled so far: its label and the seconds its compiling dispatch took, longest first.
    pub fn compile_times(&self) -> Vec<(&'static str, f64)> {
        let cache = self.generated.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut times: Vec<(&'static str, f64)> = cache
            .values()
            .filter_map(|k| k.compile_time().map(|s| (k.kernel.label, s)))
            .collect();
        times.sort_by(|a, b| b.1.total_cmp(&a.1));
        times
    }

    /// The names of the fixed kernels built so far (with their tiles), in registry order.
    pub fn built(&self) -> Vec<String> {
        let cache = self.fixed.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut keys: Vec<FixedKey> = cache.keys().copied().collect();
        keys.sort();
        keys.into_iter()
            .map(|(kind, tile)| match tile {
                Some(tile) => format!("{} ({})", kind.name(), kind.describe_tile(tile)),
                None => kind.name().to_string(),
            })
            .collect()
    }

    /// The tiles the tunable kernels are built with.
    pub fn tiles(&self) -> TileTable {
        self.tiles
    }

    /// Builds `kind`'s later jobs with `tile` (a tunable kernel; nothing to do for the others). The tile is
    /// checked against the adapter here; the pipeline is compiled by the first job that uses it.
    pub fn set_tile(&mut self, ctx: &GpuContext, kind: ShaderKind, tile: Tile) -> Result<(), GpuError> {
        if !kind.is_tunable() {
            return Ok(());
        }
        let tile = tile.check(ctx.summary.max_compute_invocations_per_workgroup)?;
        self.tiles = self.tiles.with(kind, tile);
        Ok(())
    }

    /// The kernel's name, with its tile for a tunable kernel: `conv2d-vec4 (4px×8ch/wg64)`.
    pub fn describe(&self, kind: ShaderKind) -> String {
        if kind.is_generated() {
            return format!("{} (generated per layer)", kind.name());
        }
        match self.tiles.get(kind) {
            Some(tile) => format!("{} ({})", kind.name(), kind.describe_tile(tile)),
            None => kind.name().to_string(),
        }
    }
}

/// The checks of the kernels whose every index is clamped into its buffer by construction (the tiled and vec4
/// ones): none, unless CONVFLOPS_RUNTIME_CHECKS=1 asks for naga's (to rule them out when a result looks wrong).
pub(crate) fn proven_safe_checks() -> Checks {
    if std::env::var("CONVFLOPS_RUNTIME_CHECKS").is_ok_and(|v| v == "1") {
        Checks::Runtime
    } else {
        Checks::ProvenSafe
    }
}
