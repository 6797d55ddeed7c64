//! Output files, written safely: every export, chart, cache and `run --output` goes through here.
//!
//! Where an output goes: a regular file (or a path that does not exist yet) is replaced atomically through a
//! temporary file in its own folder; a symlink is followed first, so its target is replaced and the link stays; a
//! device, FIFO or socket, and a `/dev/stdout`-style name (a path under `/proc` or `/dev/fd`, or a link into one), is
//! opened and written through, never replaced. [`check_outputs`] checks every output path before any work is done.

use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// An output path that cannot be written, found before any work is done.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{flag} {path}: {message}")]
pub struct OutputError {
    /// The flag that named the path (`--export-json`).
    pub flag: String,
    /// The path as the user gave it.
    pub path: String,
    pub message: String,
}

/// Where writing a path ends up.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A regular file, or nothing yet: replaced atomically; the path is the final one, symlinks followed.
    Replace(PathBuf),
    /// A device, FIFO, socket or `/proc`/`/dev/fd` name: opened and written through.
    Through,
    /// This process's own stdout or stderr (`/dev/stdout`, `/proc/self/fd/1`, …): written through the process's
    /// handle, so the export lands in order with what was printed, whatever the stream is redirected to.
    Own(Stream),
}

/// One of the process's own output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// The process's own stream a path names, if any.
fn own_stream(path: &Path) -> Option<Stream> {
    match path.to_str()? {
        "/dev/stdout" | "/proc/self/fd/1" | "/dev/fd/1" => Some(Stream::Stdout),
        "/dev/stderr" | "/proc/self/fd/2" | "/dev/fd/2" => Some(Stream::Stderr),
        _ => None,
    }
}

/// At most this many symlinks are followed (as Linux's ELOOP limit).
const MAX_LINKS: usize = 40;

fn is_stream_name(path: &Path) -> bool {
    path.starts_with("/proc") || path.starts_with("/dev/fd")
}

/// Where writing `path` ends up: follows symlinks one by one (a dangling link's target is created).
fn resolve(path: &Path) -> std::io::Result<Target> {
    if path.as_os_str().is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path is empty",
        ));
    }
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        if let Some(stream) = own_stream(&current) {
            return Ok(Target::Own(stream));
        }
        let metadata = match std::fs::symlink_metadata(&current) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return if is_stream_name(&current) {
                    Err(e)
                } else {
                    Ok(Target::Replace(current))
                };
            }
            Err(e) => return Err(e),
            Ok(m) => m,
        };
        let kind = metadata.file_type();
        if kind.is_symlink() {
            let link = std::fs::read_link(&current)?;
            current = if link.is_absolute() {
                link
            } else {
                folder_of(&current).join(link)
            };
            if let Some(stream) = own_stream(&current) {
                return Ok(Target::Own(stream));
            }
            if is_stream_name(&current) {
                return Ok(Target::Through);
            }
        } else if kind.is_dir() {
            return Err(std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"));
        } else if kind.is_file() && !is_stream_name(&current) {
            return Ok(Target::Replace(current));
        } else {
            return Ok(Target::Through);
        }
    }
    Err(std::io::Error::other(format!("more than {MAX_LINKS} symlinks")))
}

fn named(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// The identity of a written file, to catch two outputs (or an output and an input) that are one file: the
/// device and inode where the file exists, else its folder's canonical path and its name.
fn identity(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = std::fs::metadata(path) {
            return Some(format!("inode {}:{}", m.dev(), m.ino()));
        }
    }
    let folder = std::fs::canonicalize(folder_of(path)).ok()?;
    Some(folder.join(path.file_name()?).display().to_string())
}

/// Checks every output path before any work: each can be written (its folder exists and takes a new file; it is
/// not a directory), no two name the same file, and none is one of the `inputs`. `outputs` and `inputs` are
/// (flag, path) pairs; the error names the flag and the path as given.
pub fn check_outputs(outputs: &[(&str, &Path)], inputs: &[(&str, &Path)]) -> Result<(), OutputError> {
    let fail = |flag: &str, path: &Path, message: String| OutputError {
        flag: flag.to_string(),
        path: path.display().to_string(),
        message,
    };
    let mut seen: Vec<(&str, &Path, String)> = Vec::new();
    for &(flag, path) in outputs {
        let target = resolve(path).map_err(|e| fail(flag, path, e.to_string()))?;
        if let Target::Replace(file) = &target {
            let folder = folder_of(file);
            if !folder.is_dir() {
                return Err(fail(
                    flag,
                    path,
                    format!("the folder {} does not exist", folder.display()),
                ));
            }
            tempfile::NamedTempFile::new_in(folder)
                .map_err(|e| fail(flag, path, format!("cannot create a file in {}: {e}", folder.display())))?;
        }
        // Streams are told apart by name: /dev/stdout and /dev/stderr may well be one terminal.
        let id = match &target {
            Target::Replace(file) => identity(file),
            Target::Through => None,
            Target::Own(stream) => Some(format!("{stream:?}")),
        }
        .unwrap_or_else(|| path.display().to_string());
        if let Some((other, _, _)) = seen.iter().find(|(_, _, i)| *i == id) {
            return Err(fail(
                flag,
                path,
                format!("{other} names the same file; give each output its own"),
            ));
        }
        for &(input_flag, input) in inputs {
            if std::fs::metadata(input).is_ok() && identity(input).is_some_and(|i| i == id) {
                return Err(fail(
                    flag,
                    path,
                    format!("is also {input_flag}: writing it would overwrite the input; choose another file"),
                ));
            }
        }
        seen.push((flag, path, id));
    }
    Ok(())
}

/// Writes several files all or none (as far as a stream allows): each regular file goes to a temporary file beside
/// its target first; devices, FIFOs and `/dev/stdout`-style names are then written through; only when every one is
/// complete are the temporary files renamed into place. Errors name the path as given.
pub fn write_all_atomically(files: &[(&Path, &[u8])]) -> std::io::Result<()> {
    let mut staged = Vec::with_capacity(files.len());
    let mut streams = Vec::new();
    let mut own = Vec::new();
    for (path, contents) in files {
        match resolve(path).map_err(|e| named(path, e))? {
            Target::Replace(target) => {
                let mut file = tempfile::NamedTempFile::new_in(folder_of(&target)).map_err(|e| named(path, e))?;
                file.write_all(contents).map_err(|e| named(path, e))?;
                file.as_file().sync_all().map_err(|e| named(path, e))?;
                staged.push((file, target, *path));
            }
            Target::Through => streams.push((*path, *contents)),
            Target::Own(stream) => own.push((*path, stream, *contents)),
        }
    }
    for (path, stream, contents) in own {
        let written = match stream {
            Stream::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(contents).and_then(|()| out.flush())
            }
            Stream::Stderr => std::io::stderr().lock().write_all(contents),
        };
        written.map_err(|e| named(path, e))?;
    }
    for (path, contents) in streams {
        // Appending: a `/dev/stdout` redirected to a file keeps what was printed before.
        let mut stream = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| named(path, e))?;
        stream.write_all(contents).map_err(|e| named(path, e))?;
        stream.flush().map_err(|e| named(path, e))?;
    }
    for (file, target, path) in staged {
        // Temporary files are private (0600); a result file gets the usual 0644.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(|e| named(path, e))?;
        }
        file.persist(&target).map_err(|e| named(path, e.error))?;
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
/// so a failed run never leaves a half-written file (devices and FIFOs are written through, see the module).
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_all_atomically(&[(path, contents)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.json");
        assert_eq!(resolve(&file).unwrap(), Target::Replace(file.clone()));
        std::fs::write(&file, "x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("a.json", &link).unwrap();
        let chain = dir.path().join("chain");
        std::os::unix::fs::symlink(&link, &chain).unwrap();
        assert_eq!(resolve(&chain).unwrap(), Target::Replace(dir.path().join("a.json")));
        let fd = dir.path().join("fd");
        std::os::unix::fs::symlink("/proc/self/fd/1", &fd).unwrap();
        assert_eq!(resolve(&fd).unwrap(), Target::Own(Stream::Stdout));
        assert_eq!(resolve(Path::new("/dev/stdout")).unwrap(), Target::Own(Stream::Stdout));
        assert_eq!(resolve(Path::new("/dev/fd/2")).unwrap(), Target::Own(Stream::Stderr));
        let other = dir.path().join("fd3");
        std::os::unix::fs::symlink("/proc/self/fd/0", &other).unwrap();
        assert_eq!(resolve(&other).unwrap(), Target::Through);
        assert!(resolve(dir.path()).unwrap_err().to_string().contains("directory"));
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        assert_eq!(resolve(&fifo).unwrap(), Target::Through);
        let looped = dir.path().join("loop");
        std::os::unix::fs::symlink("loop", &looped).unwrap();
        assert!(resolve(&looped).is_err());
        assert!(resolve(Path::new("")).is_err());
    }

    #[test]
    fn outputs_are_checked_before_the_work() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (a, b) = (d.join("a.csv"), d.join("b.csv"));
        assert!(check_outputs(&[("--x", &a), ("--y", &b)], &[]).is_ok());
        let same = check_outputs(&[("--x", &a), ("--y", &d.join(".").join("a.csv"))], &[]).unwrap_err();
        assert_eq!(same.flag, "--y");
        assert!(same.message.contains("--x names the same file"), "{same}");
        let missing = check_outputs(&[("--x", &d.join("no/a.csv"))], &[]).unwrap_err();
        assert!(missing.to_string().contains("does not exist"), "{missing}");
        std::fs::write(&a, "input").unwrap();
        let link = d.join("link");
        std::os::unix::fs::symlink(&a, &link).unwrap();
        let clash = check_outputs(&[("--output", &link)], &[("--input", &a)]).unwrap_err();
        assert!(clash.to_string().contains("is also --input"), "{clash}");
        // Two terminals or pipes named differently are fine.
        assert!(check_outputs(
            &[("--x", Path::new("/dev/stdout")), ("--y", Path::new("/dev/stderr"))],
            &[]
        )
        .is_ok());
        // No probe file is left behind.
        assert_eq!(std::fs::read_dir(d).unwrap().count(), 2);
    }

    #[test]
    fn a_link_keeps_pointing_at_its_replaced_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t.txt");
        std::fs::write(&target, "old").unwrap();
        let link = dir.path().join("l.txt");
        std::os::unix::fs::symlink("t.txt", &link).unwrap();
        write_all_atomically(&[(link.as_path(), b"new".as_slice())]).unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
    }

    #[test]
    fn a_fifo_is_written_through() {
        use std::io::Read;
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let mut text = String::new();
                std::fs::File::open(fifo).unwrap().read_to_string(&mut text).unwrap();
                text
            })
        };
        let file = dir.path().join("f.txt");
        write_all_atomically(&[
            (fifo.as_path(), b"through".as_slice()),
            (file.as_path(), b"file".as_slice()),
        ])
        .unwrap();
        assert_eq!(reader.join().unwrap(), "through");
        assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(std::fs::read_to_string(file).unwrap(), "file");
    }
}
