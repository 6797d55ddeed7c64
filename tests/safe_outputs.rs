//! Output paths and argument limits without an adapter: devices, FIFOs and `/proc/self/fd` links are written through
//! and left as they were, a symlink's target is replaced and the link kept, bad output paths and out-of-range
//! numbers are refused by name in well under a second, before any adapter work. Every file lives in a temporary
//! folder; device nodes are made with `mknod` there (as root only), never in the real `/dev`.

mod common;

use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{convflops, fails_naming};

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success());
}

fn export_layers(path: &Path) -> std::process::Output {
    convflops(&["model", "mobilenet-v1", "--export-layers", path.to_str().unwrap()])
}

/// Valid layer-file JSON of mobilenet-v1.
fn is_layer_file(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v["name"] == "mobilenet-v1" && v["layers"].is_array())
}

#[test]
fn a_fifo_with_a_reader_gets_the_content_and_stays_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            std::fs::File::open(&fifo).unwrap().read_to_string(&mut text).unwrap();
            text
        })
    };
    let out = export_layers(&fifo);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = reader.join().unwrap();
    assert!(is_layer_file(&text), "the reader got: {text:.200}");
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn a_symlink_is_followed_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("real.json");
    std::fs::write(&target, "old").unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let link = sub.join("link.json");
    std::os::unix::fs::symlink("../real.json", &link).unwrap();
    let out = export_layers(&link);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(is_layer_file(&std::fs::read_to_string(&target).unwrap()));
    // A dangling link: its target is created, the link stays.
    let dangling = dir.path().join("dangling.json");
    std::os::unix::fs::symlink("new.json", &dangling).unwrap();
    assert!(export_layers(&dangling).status.success());
    assert!(std::fs::symlink_metadata(&dangling).unwrap().file_type().is_symlink());
    assert!(is_layer_file(
        &std::fs::read_to_string(dir.path().join("new.json")).unwrap()
    ));
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
}

#[test]
fn a_link_to_proc_self_fd_1_writes_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("out");
    std::os::unix::fs::symlink("/proc/self/fd/1", &link).unwrap();
    let out = export_layers(&link);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(is_layer_file(&stdout), "{stdout:.300}");
}

#[test]
fn dev_stdout_itself_carries_exactly_the_export() {
    for redirect_to_file in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("captured.json");
        let mut command = Command::new(env!("CARGO_BIN_EXE_convflops"));
        command.args(["model", "mobilenet-v1", "--export-layers", "/dev/stdout"]);
        let text = if redirect_to_file {
            // A shell's `> file`: stdout is a regular file opened without O_APPEND.
            command.stdout(std::fs::File::create(&file).unwrap());
            assert!(command.status().unwrap().success());
            std::fs::read_to_string(&file).unwrap()
        } else {
            let out = command.output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        assert!(
            is_layer_file(&text),
            "redirected to a file: {redirect_to_file}: {text:.200}"
        );
    }
    assert!(std::fs::symlink_metadata("/dev/stdout").is_ok_and(|m| m.file_type().is_symlink()));
}

#[test]
fn character_devices_are_written_through_as_root() {
    if !is_root() {
        eprintln!("skipping: mknod needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mknod = |name: &str, minor: &str| {
        let path = dir.path().join(name);
        let status = Command::new("mknod")
            .arg(&path)
            .args(["c", "1", minor])
            .status()
            .unwrap();
        assert!(status.success(), "mknod {name}");
        path
    };
    // A null device takes the content and stays a device.
    let null = mknod("null", "3");
    let out = export_layers(&null);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::symlink_metadata(&null).unwrap().file_type().is_char_device());
    // A full device refuses it: the error names the path given, and the node stays a device.
    let full = mknod("full", "7");
    let out = export_layers(&full);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(full.to_str().unwrap()), "{stderr}");
    assert!(std::fs::symlink_metadata(&full).unwrap().file_type().is_char_device());
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 2, "no temporary file left beside the devices");
}

/// Runs `args`, asserting it fails in under a second with exit code `code` and stderr naming every needle.
fn fails_fast(args: &[&str], code: i32, needles: &[&str]) {
    let start = Instant::now();
    let out = convflops(args);
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(elapsed < Duration::from_secs(1), "{args:?} took {elapsed:?}");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{args:?}: stderr does not name {needle:?}: {stderr}"
        );
    }
    assert!(
        !stderr.contains("adapter:"),
        "{args:?} opened an adapter first: {stderr}"
    );
}

#[test]
fn bad_output_paths_fail_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let missing = format!("{d}/missing/x.json");
    fails_fast(
        &["compare", "--export-json", &missing],
        1,
        &["--export-json", &missing, "does not exist"],
    );
    fails_fast(&["compare", "--export-csv", d], 1, &["--export-csv", "is a directory"]);
    let same = format!("{d}/same");
    fails_fast(
        &[
            "compare",
            "--export-json",
            &same,
            "--export-csv",
            &format!("{d}/./same"),
        ],
        1,
        &["--export-csv", "--export-json names the same file"],
    );
    fails_fast(
        &["sweep", "--vary", "size=8,16", "--plot", &format!("{d}/nope/p.png")],
        1,
        &["--plot", "does not exist"],
    );
    fails_fast(
        &["model", "mobilenet-v1", "--run", "--export-markdown", d],
        1,
        &["--export-markdown", "is a directory"],
    );
    // The output of `run` may not be one of its inputs.
    let x = dir.path().join("x.npy");
    std::fs::write(&x, convflops::npy::encode(&[1, 1, 3, 3], &[0.0; 9]).unwrap()).unwrap();
    let w = dir.path().join("w.npy");
    std::fs::write(&w, convflops::npy::encode(&[1, 1, 1, 1], &[1.0]).unwrap()).unwrap();
    let (x, w) = (x.to_str().unwrap(), w.to_str().unwrap());
    fails_fast(
        &["run", "--input", x, "--weight", w, "--output", x],
        1,
        &["--output", "is also --input"],
    );
    assert_eq!(
        std::fs::read(x).unwrap(),
        convflops::npy::encode(&[1, 1, 3, 3], &[0.0; 9]).unwrap()
    );
    // A layer file exported over itself would be read and replaced at once.
    let file = dir.path().join("net.json");
    assert!(export_layers(&file).status.success());
    let f = file.to_str().unwrap();
    fails_fast(
        &["model", "--file", f, "--export-layers", f],
        1,
        &["--export-layers", "is also --file"],
    );
}

#[test]
fn an_empty_npy_axis_names_the_file_and_axis() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    std::fs::write(&x, convflops::npy::encode(&[0, 1, 3, 3], &[]).unwrap()).unwrap();
    let w = dir.path().join("w.npy");
    std::fs::write(&w, convflops::npy::encode(&[1, 1, 1, 1], &[1.0]).unwrap()).unwrap();
    let out_path = dir.path().join("y.npy");
    let args = [
        "run",
        "--input",
        x.to_str().unwrap(),
        "--weight",
        w.to_str().unwrap(),
        "--output",
        out_path.to_str().unwrap(),
    ];
    fails_fast(&args, 1, &["--input", x.to_str().unwrap(), "axis 0 (N)"]);
    let out = convflops(&args);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("--batch"));
}

#[test]
fn numeric_flags_have_named_limits() {
    // Negative numbers get a message about the value, not "unexpected argument".
    for args in [
        &["count", "--padding", "-1"][..],
        &["count", "--batch", "-3"],
        &["compare", "--warmup", "-1"],
        &["compare", "--min-time", "-0.5"],
    ] {
        let out = convflops(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("negative") || stderr.contains("not a whole number"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("unexpected argument"), "{args:?}: {stderr}");
    }
    fails_naming(&["compare", "--warmup", "1000000000"], 2, "--warmup");
    fails_naming(&["compare", "--warmup", "1000000000"], 2, "0 to 1000");
    fails_naming(&["compare", "--samples", "0"], 2, "--samples");
    fails_naming(&["tune", "--min-time", "1e9"], 2, "0 to 3600");
    fails_naming(
        &["model", "mobilenet-v1", "--run", "--samples", "1000001"],
        2,
        "--samples",
    );
    fails_naming(&["verify", "--cases", "0"], 2, "--cases");
    fails_naming(&["verify", "--cases", "0"], 2, "1 to 100000");
}

#[test]
fn ratios_read_both_ways_in_count() {
    // 512 groups: the "separable" pair costs more than the grouped conv.
    let out = common::stdout_of(&["count", "--groups", "512"]);
    assert!(out.contains("× more)"), "{out}");
    assert!(!out.contains("0.0") || !out.contains("× fewer"), "{out}");
    for line in out.lines().filter(|l| l.contains('×') && l.contains("fewer")) {
        let factor: f64 = line
            .split("(")
            .nth(1)
            .and_then(|s| s.split('×').next())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1.0);
        assert!(factor >= 1.0, "{line}");
    }
}

#[test]
fn every_help_has_examples() {
    for command in [
        "count", "model", "devices", "run", "verify", "explain", "compare", "peak", "sweep", "tune",
    ] {
        let out = convflops(&[command, "--help"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success());
        let examples = text
            .lines()
            .filter(|l| l.trim_start().starts_with("convflops "))
            .count();
        assert!(text.contains("Examples:") && examples >= 2, "{command} --help: {text}");
    }
}

#[test]
fn count_and_model_fit_100_columns() {
    for args in [&["count"][..], &["count", "--explain"], &["model", "mobilenet-v1"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_convflops"))
            .args(args)
            .env("COLUMNS", "100")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            assert!(
                line.chars().count() <= 100,
                "{args:?}: {} columns: {line}",
                line.chars().count()
            );
        }
    }
}

#[test]
fn a_layer_kind_that_contradicts_the_shape_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("net.json");
    std::fs::write(
        &file,
        r#"{"name": "n", "layers": [{"name": "conv\u001b[31m", "kind": "depthwise", "in_channels": 8,
            "out_channels": 8, "height": 8, "width": 8, "kernel": [3, 3], "stride": [1, 1], "padding": [1, 1]}]}"#,
    )
    .unwrap();
    let out = convflops(&["model", "--file", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("kind") && stderr.contains("depthwise needs groups"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "a raw escape reached the terminal: {stderr:?}"
    );
}
