//! The user's cache folder: measured ceilings (`ceilings.json`) and tuned tiles (`tiles.json`), each a JSON map
//! keyed by adapter, driver and driver version, so a driver update measures again.

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::gpu::AdapterSummary;

/// The cache folder: `$CONVFLOPS_CACHE_DIR`, else `$XDG_CACHE_HOME/convflops`, else `~/.cache/convflops`.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("CONVFLOPS_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("convflops")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("convflops")))
}

/// The cache key of an adapter: name, backend, driver and driver version.
pub fn cache_key(adapter: &AdapterSummary) -> String {
    format!(
        "{} | {} | {} | {}",
        adapter.name, adapter.backend, adapter.driver, adapter.driver_info
    )
}

/// The cache file `name`, parsed; the default (empty) value when it is missing or unreadable: a cache is never
/// worth failing a run for.
pub fn read<T: DeserializeOwned + Default>(name: &str) -> T {
    cache_dir()
        .and_then(|dir| std::fs::read_to_string(dir.join(name)).ok())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// Writes `value` as the cache file `name` (atomically), creating the folder; returns the file's path.
pub fn write<T: Serialize>(name: &str, value: &T) -> std::io::Result<PathBuf> {
    let dir = cache_dir().ok_or_else(|| std::io::Error::other("no cache folder: set HOME or CONVFLOPS_CACHE_DIR"))?;
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    crate::export::write_atomically(&path, text.as_bytes())?;
    Ok(path)
}
