//! The user's cache folder: measured ceilings (`ceilings.json`) and tuned tiles (`tiles.json`), each a JSON map
//! keyed by adapter, driver and driver version, so a driver update measures again.
//!
//! A cache is never trusted: every entry is parsed and checked on read ([`Validate`]); a malformed or implausible
//! entry is ignored with one warning naming the file and the entry, and stays in the file when it is rewritten.
//! Writes hold a lock on a lock file beside the cache, re-read the file and change only their own entry
//! (merge-on-write), then rename a complete file into place, so two processes never lose each other's entries.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::gpu::AdapterSummary;

/// Why a cache could not be written. Every variant names the file or folder.
#[derive(Debug, Error)]
pub enum CacheError {
    #[error("no cache folder: set HOME, XDG_CACHE_HOME or CONVFLOPS_CACHE_DIR")]
    NoFolder,
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A cached value that can say whether it is usable: finite, positive and in range, within the rules of what it
/// describes.
pub trait Validate {
    /// Why this entry cannot be used, or `None` when it can.
    fn problem(&self) -> Option<String>;
}

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

/// Prints `message` as a warning once per process.
pub fn warn_once(message: String) {
    static SEEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let first = SEEN.lock().map(|mut seen| seen.insert(message.clone())).unwrap_or(true);
    if first {
        eprintln!("warning: {}", crate::units::printable(&message));
    }
}

/// The top-level JSON object of cache file `name`, or `None` (with a warning when the file exists but is not a
/// JSON object).
fn read_object(name: &str) -> Option<(PathBuf, Map<String, Value>)> {
    read_object_at(cache_dir()?.join(name))
}

fn read_object_at(path: PathBuf) -> Option<(PathBuf, Map<String, Value>)> {
    if let Some(problem) = not_a_file(&path) {
        warn_once(format!("cache {}: {problem}; it is not used", path.display()));
        return None;
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warn_once(format!("cache {}: {e}; it is not used", path.display()));
            return None;
        }
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(object)) => Some((path, object)),
        Ok(_) => {
            warn_once(format!("cache {}: not a JSON object; it is not used", path.display()));
            None
        }
        Err(e) => {
            warn_once(format!(
                "cache {}: not valid JSON ({e}); it is not used",
                path.display()
            ));
            None
        }
    }
}

/// The entries of `object` that parse as `T` and pass [`Validate`]; each other one is warned about once (naming the
/// file and `prefix` + its key) and skipped.
fn valid_entries<T: DeserializeOwned + Validate>(
    path: &Path,
    prefix: &str,
    object: &Map<String, Value>,
) -> BTreeMap<String, T> {
    let mut entries = BTreeMap::new();
    for (key, value) in object {
        let problem = match serde_json::from_value::<T>(value.clone()) {
            Ok(entry) => match entry.problem() {
                None => {
                    entries.insert(key.clone(), entry);
                    continue;
                }
                Some(problem) => problem,
            },
            Err(e) => format!("malformed ({e})"),
        };
        warn_once(format!(
            "cache {}: ignoring the entry \"{prefix}{key}\": {problem} (it is kept in the file; delete it to be rid \
             of this warning)",
            path.display()
        ));
    }
    entries
}

/// Why `path` (when it exists) cannot be a cache file: a FIFO would block the read, a device is no cache.
fn not_a_file(path: &Path) -> Option<String> {
    let kind = std::fs::metadata(path).ok()?.file_type();
    (!kind.is_file()).then(|| "not a regular file".to_string())
}

/// Every valid entry of cache file `name` (a map key → `T`); bad entries are warned about once and skipped.
pub fn read_entries<T: DeserializeOwned + Validate>(name: &str) -> BTreeMap<String, T> {
    match read_object(name) {
        Some((path, object)) => valid_entries(&path, "", &object),
        None => BTreeMap::new(),
    }
}

/// The valid entry `key` of cache file `name`, if any.
pub fn read_entry<T: DeserializeOwned + Validate>(name: &str, key: &str) -> Option<T> {
    read_entries(name).remove(key)
}

/// The valid entries under `key` of cache file `name`, a two-level map (key → inner key → `T`).
pub fn read_nested<T: DeserializeOwned + Validate>(name: &str, key: &str) -> BTreeMap<String, T> {
    let Some((path, object)) = read_object(name) else {
        return BTreeMap::new();
    };
    match object.get(key) {
        Some(Value::Object(inner)) => valid_entries(&path, &format!("{key} › "), inner),
        Some(_) => {
            warn_once(format!(
                "cache {}: ignoring the entry \"{key}\": not a JSON object (it is kept in the file)",
                path.display()
            ));
            BTreeMap::new()
        }
        None => BTreeMap::new(),
    }
}

/// An exclusive lock on `<folder>/.<name>.lock`, held until dropped.
struct Lock(#[allow(dead_code)] std::fs::File);

impl Lock {
    fn take(folder: &Path, name: &str) -> Result<Lock, CacheError> {
        let path = folder.join(format!(".{name}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            // SAFETY: flock on a file descriptor this process owns; the lock ends when the file is closed.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(io_error(&path)(std::io::Error::last_os_error()));
            }
        }
        Ok(Lock(file))
    }
}

/// Changes cache file `name` under its lock: reads the file again, lets `change` edit its top-level object (every
/// entry `change` leaves alone is written back as it was, bad ones too), and renames a complete file into place.
/// A file that is not a JSON object is moved aside to `<name>.bad` (with a warning) rather than overwritten.
/// Returns the file's path.
pub fn update(name: &str, change: impl FnOnce(&mut Map<String, Value>)) -> Result<PathBuf, CacheError> {
    update_in(&cache_dir().ok_or(CacheError::NoFolder)?, name, change)
}

fn update_in(dir: &Path, name: &str, change: impl FnOnce(&mut Map<String, Value>)) -> Result<PathBuf, CacheError> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let _lock = Lock::take(dir, name)?;
    let path = dir.join(name);
    if let Some(problem) = not_a_file(&path) {
        return Err(io_error(&path)(std::io::Error::other(problem)));
    }
    let mut object = match std::fs::read_to_string(&path) {
        Ok(text) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(object)) => object,
            _ => {
                let aside = dir.join(format!("{name}.bad"));
                std::fs::rename(&path, &aside).map_err(io_error(&path))?;
                warn_once(format!(
                    "cache {}: not a JSON object; moved to {} and started afresh",
                    path.display(),
                    aside.display()
                ));
                Map::new()
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
        Err(e) => return Err(io_error(&path)(e)),
    };
    change(&mut object);
    let text = serde_json::to_string_pretty(&Value::Object(object)).map_err(|e| io_error(&path)(e.into()))?;
    crate::output::write_atomically(&path, text.as_bytes()).map_err(io_error(&path))?;
    Ok(path)
}

/// A number that is finite, above zero and at most `max`; else why not.
pub fn positive(what: &str, value: f64, max: f64) -> Option<String> {
    (!(value.is_finite() && value > 0.0 && value <= max)).then(|| format!("{what} {value} is not in (0, {max:e}]"))
}

/// A cached string must be short and free of control characters (they would reach the terminal).
pub fn plain_text(what: &str, value: &str) -> Option<String> {
    if value.chars().count() > 200 {
        Some(format!("{what} is longer than 200 characters"))
    } else if value.chars().any(char::is_control) {
        Some(format!("{what} holds control characters"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Entry {
        value: f64,
    }

    impl Validate for Entry {
        fn problem(&self) -> Option<String> {
            positive("value", self.value, 10.0)
        }
    }

    #[test]
    fn bad_entries_are_skipped_and_the_good_ones_kept() {
        let object: Map<String, Value> = serde_json::from_str(
            r#"{"good": {"value": 2.5}, "negative": {"value": -1}, "huge": {"value": 1e308},
                "malformed": {"valu": 1}, "not an object": 3}"#,
        )
        .unwrap();
        let entries = valid_entries::<Entry>(Path::new("test.json"), "", &object);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries["good"], Entry { value: 2.5 });
    }

    #[test]
    fn updates_keep_every_other_entry_and_move_garbage_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, r#"{"bad": {"valu": 1}, "old": {"value": 1.0}}"#).unwrap();
        update_in(dir.path(), "c.json", |o| {
            o.insert("new".into(), serde_json::json!({"value": 3.0}));
        })
        .unwrap();
        let (_, object) = read_object_at(path.clone()).unwrap();
        assert_eq!(object["bad"], serde_json::json!({"valu": 1}));
        assert_eq!(object["old"], serde_json::json!({"value": 1.0}));
        assert_eq!(object["new"], serde_json::json!({"value": 3.0}));

        std::fs::write(&path, "{ not json").unwrap();
        update_in(dir.path(), "c.json", |o| {
            o.insert("fresh".into(), serde_json::json!({"value": 1.0}));
        })
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("c.json.bad")).unwrap(),
            "{ not json"
        );
        assert_eq!(read_object_at(path).unwrap().1.len(), 1);
    }

    #[test]
    fn a_fifo_in_place_of_the_cache_is_neither_read_nor_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        assert!(std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap()
            .success());
        assert!(read_object_at(path.clone()).is_none());
        let error = update_in(dir.path(), "c.json", |_| {}).unwrap_err().to_string();
        assert!(
            error.contains("not a regular file") && error.contains("c.json"),
            "{error}"
        );
        assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_fifo());
    }

    #[test]
    fn two_writers_at_once_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::thread::scope(|scope| {
            for writer in 0..4 {
                let dir = dir.path();
                scope.spawn(move || {
                    for i in 0..25 {
                        update_in(dir, "c.json", |o| {
                            o.insert(format!("{writer}-{i}"), serde_json::json!({"value": 1.0}));
                        })
                        .unwrap();
                    }
                });
            }
        });
        let (_, object) = read_object_at(dir.path().join("c.json")).unwrap();
        assert_eq!(object.len(), 100);
    }

    #[test]
    fn ranges_and_text() {
        assert!(positive("x", 1.0, 2.0).is_none());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 3.0] {
            assert!(positive("x", bad, 2.0).is_some(), "{bad}");
        }
        assert!(plain_text("s", "256 invocations × 8 vec4 chains").is_none());
        assert!(plain_text("s", "\u{1b}[31mred").is_some());
    }
}
