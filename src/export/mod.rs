//! Reports and exports: tables for people, JSON/CSV/Markdown for programs, written atomically.

pub mod csv;
pub mod json;
pub mod markdown;
pub mod plot;
pub mod table;

use std::io::Write;
use std::path::Path;

/// Writes several files all or none: each goes to a temporary file beside its target first, and only when every
/// one is complete are they renamed into place.
pub fn write_all_atomically(files: &[(&Path, &[u8])]) -> std::io::Result<()> {
    let mut staged = Vec::with_capacity(files.len());
    for (path, contents) in files {
        let mut file = tempfile::NamedTempFile::new_in(folder_of(path))
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        file.write_all(contents)?;
        file.as_file().sync_all()?;
        staged.push((file, *path));
    }
    for (file, path) in staged {
        // Temporary files are private (0600); a result file gets the usual 0644.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        file.persist(path)
            .map_err(|e| std::io::Error::new(e.error.kind(), format!("{}: {}", path.display(), e.error)))?;
    }
    Ok(())
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Writes `contents` to `path` through a temporary file in the same folder, renamed into place only when complete,
/// so a failed run never leaves a half-written file.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_all_atomically(&[(path, contents)])
}
