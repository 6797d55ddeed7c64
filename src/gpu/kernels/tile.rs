//! The tunable parameters of a kernel ([`Tile`]), their candidate space ([`TileSpace`]) and the tile each tunable
//! kernel is built with in a run ([`TileTable`]).

use crate::gpu::kernels::ShaderKind;
use crate::gpu::GpuError;

/// The register tile and workgroup of a tunable kernel (the vec4 kernels' override constants `TILE_PIXELS`,
/// `TILE_CHANNELS` and `WORKGROUP_SIZE`): one invocation computes `4·pixels` pixels × `4·channels` output channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Tile {
    /// vec4 pixel groups per invocation (1–8).
    pub pixels: u32,
    /// vec4 output-channel groups per invocation (1–8; 1 for the depthwise kernel, whose channel is its plane).
    pub channels: u32,
    /// Invocations per workgroup.
    pub workgroup: u32,
}

impl Tile {
    /// The most vec4 groups along one side of a tile (the shaders' `MAX_SIDE`).
    pub const MAX_SIDE: u32 = 8;
    /// The most 4×4 blocks in a tile (the shaders' `MAX_TILE`).
    pub const MAX_BLOCKS: u32 = 16;

    pub const fn new(pixels: u32, channels: u32, workgroup: u32) -> Tile {
        Tile {
            pixels,
            channels,
            workgroup,
        }
    }

    /// Ok when the shaders' fixed-size register arrays hold the tile and the adapter runs its workgroup.
    pub fn check(self, max_invocations: u32) -> Result<Tile, GpuError> {
        let fits = (1..=Self::MAX_SIDE).contains(&self.pixels)
            && (1..=Self::MAX_SIDE).contains(&self.channels)
            && self.pixels * self.channels <= Self::MAX_BLOCKS;
        if !fits {
            return Err(GpuError::KernelDoesNotApply {
                shader: "vec4 kernels",
                reason: format!(
                    "tile {self} does not fit: pixel and channel groups 1–{} each, at most {} blocks in all",
                    Self::MAX_SIDE,
                    Self::MAX_BLOCKS
                ),
            });
        }
        if self.workgroup == 0 || self.workgroup > max_invocations {
            return Err(GpuError::Limit {
                what: format!("tile {self} (invocations per workgroup)"),
                needed: u64::from(self.workgroup),
                limit: "max_compute_invocations_per_workgroup",
                available: u64::from(max_invocations),
            });
        }
        Ok(self)
    }
}

impl std::fmt::Display for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // u64: a tile read from a cache file may hold any u32.
        write!(
            f,
            "{}px×{}ch/wg{}",
            4 * u64::from(self.pixels),
            4 * u64::from(self.channels),
            self.workgroup
        )
    }
}

/// A tunable kernel's candidate space: every (pixel groups, channel groups) shape at every workgroup size, and the
/// built-in default among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileSpace {
    /// The tile a run uses without a tuned one.
    pub default: Tile,
    /// (pixel groups, channel groups) per invocation.
    pub shapes: &'static [(u32, u32)],
    /// Invocations per workgroup.
    pub workgroups: &'static [u32],
}

impl TileSpace {
    /// Every candidate tile, shapes in order, each at every workgroup size.
    pub fn candidates(&self) -> Vec<Tile> {
        self.shapes
            .iter()
            .flat_map(|&(pixels, channels)| {
                self.workgroups
                    .iter()
                    .map(move |&workgroup| Tile::new(pixels, channels, workgroup))
            })
            .collect()
    }
}

/// The tile each tunable kernel is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileTable {
    tiles: [Option<Tile>; ShaderKind::ALL.len()],
}

impl Default for TileTable {
    /// The built-in defaults: each tunable kernel's [`TileSpace::default`].
    fn default() -> Self {
        TileTable {
            tiles: ShaderKind::ALL.map(|kind| kind.spec().tuning().map(|space| space.default)),
        }
    }
}

impl TileTable {
    /// The tile of `kind`, or `None` for a kernel without one.
    pub fn get(&self, kind: ShaderKind) -> Option<Tile> {
        self.tiles[kind as usize]
    }

    /// This table with `kind`'s tile replaced (no change for a kernel without a tile).
    pub fn with(mut self, kind: ShaderKind, tile: Tile) -> TileTable {
        let slot = &mut self.tiles[kind as usize];
        if slot.is_some() {
            *slot = Some(tile);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_are_checked_against_the_register_arrays_and_the_adapter() {
        assert!(Tile::new(1, 8, 64).check(256).is_ok());
        assert!(Tile::new(2, 8, 64).check(256).is_ok());
        assert!(Tile::new(4, 8, 64).check(256).is_err()); // 32 blocks > 16
        assert!(Tile::new(0, 1, 64).check(256).is_err());
        assert!(Tile::new(1, 9, 64).check(256).is_err());
        let limit = Tile::new(1, 1, 512).check(256).unwrap_err().to_string();
        assert!(limit.contains("max_compute_invocations_per_workgroup"), "{limit}");
        assert_eq!(Tile::new(1, 8, 64).to_string(), "4px×32ch/wg64");
    }

    #[test]
    fn the_table_holds_tiles_of_tunable_kernels_only() {
        let table = TileTable::default();
        for kind in ShaderKind::ALL {
            assert_eq!(table.get(kind).is_some(), kind.is_tunable(), "{}", kind.name());
            let changed = table.with(kind, Tile::new(1, 1, 16));
            assert_eq!(changed.get(kind).is_some(), kind.is_tunable());
        }
        assert_eq!(table.get(ShaderKind::Conv2dVec4), Some(Tile::new(1, 4, 64)));
    }
}
