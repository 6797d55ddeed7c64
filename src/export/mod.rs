//! Reports and exports: tables for people, JSON/CSV/Markdown for programs, written atomically.

pub mod json;
pub mod table;

use std::io::Write;
use std::path::Path;

/// Writes `contents` to `path` through a temporary file in the same folder, renamed into place only when complete,
/// so a failed run never leaves a half-written file.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(folder)?;
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}
