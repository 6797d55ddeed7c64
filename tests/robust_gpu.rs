//! Robustness end to end on whatever adapter exists (skipped without one, failed with CONVFLOPS_REQUIRE_ADAPTER=1):
//! caches with bad entries are kept and warned about, absurd cached values are ignored, "cached" is said only when
//! true, a sweep keeps the values it measured when one fails, reports fit `COLUMNS=100`, charts carry a legend and
//! say "CPU adapter", and a backend that does not exist here names the adapters that do. Every cache folder is a
//! temporary one (CONVFLOPS_CACHE_DIR); timings are never asserted.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};

const QUICK: [&str; 6] = ["--samples", "1", "--min-time", "0", "--warmup", "0"];
const SMALL: [&str; 6] = ["--in-channels", "16", "--out-channels", "16", "--size", "8"];

fn run(cache: &Path, args: &[&str], columns: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_convflops"));
    command.args(args).env("CONVFLOPS_CACHE_DIR", cache);
    match columns {
        Some(c) => command.env("COLUMNS", c),
        None => command.env_remove("COLUMNS"),
    };
    command.output().expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The cache key of the Vulkan adapter, as `convflops devices --json` describes it.
fn vulkan_key() -> Option<String> {
    common::vulkan()?;
    let out = common::stdout_of(&["devices", "--json", "--backend", "vulkan"]);
    let devices: Value = serde_json::from_str(&out).unwrap();
    let a = &devices[0];
    Some(format!(
        "{} | {} | {} | {}",
        a["name"].as_str()?,
        a["backend"].as_str()?,
        a["driver"].as_str()?,
        a["driver_info"].as_str()?
    ))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_malformed_cache_entry_is_kept_and_warned_about_once() {
    if vulkan_key().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let file = cache.path().join("ceilings.json");
    let other = json!({
        "fma_flops_per_s": 1e12, "bandwidth_bytes_per_s": 1e11, "read_bytes_per_s": 1e11,
        "fma_variant": "x", "bandwidth_buffer_bytes": 1024, "timer": "wall"
    });
    let malformed = json!({"fma_flops_per_s": "fast"});
    std::fs::write(
        &file,
        json!({"another adapter": other, "broken adapter": malformed}).to_string(),
    )
    .unwrap();
    let out = run(
        cache.path(),
        &["peak", "--refresh", "--json", "--backend", "vulkan"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let peak: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(peak["cached"], false);
    assert_eq!(peak["cache_file"], file.to_str().unwrap());
    let after = read_json(&file);
    assert_eq!(after["another adapter"], other);
    assert_eq!(after["broken adapter"], malformed);
    assert_eq!(after.as_object().unwrap().len(), 3, "{after}");
    let warnings = stderr(&out).matches("ignoring the entry \"broken adapter\"").count();
    assert_eq!(warnings, 1, "{}", stderr(&out));
    assert!(stderr(&out).contains(file.to_str().unwrap()));
}

#[test]
fn absurd_cached_values_are_ignored_and_compare_falls_back() {
    let Some(key) = vulkan_key() else { return };
    let cache = tempfile::tempdir().unwrap();
    let ceilings = json!({ &key: {
        "fma_flops_per_s": -5.1e11, "bandwidth_bytes_per_s": 1e308, "read_bytes_per_s": 0.0,
        "fma_variant": "x", "bandwidth_buffer_bytes": 1024, "timer": "wall"
    }});
    std::fs::write(cache.path().join("ceilings.json"), ceilings.to_string()).unwrap();
    // Absurd tiles for every vec4 conv of the layer.
    let layer = convflops::layer::ConvLayer {
        in_channels: 16,
        out_channels: 16,
        height: 8,
        width: 8,
        ..convflops::layer::ConvLayer::default()
    };
    let mut classes = serde_json::Map::new();
    for (l, tile) in [
        (layer, json!({"pixels": 0, "channels": 0, "workgroup": 0})),
        (
            layer.depthwise(),
            json!({"pixels": 4294967295u32, "channels": 1, "workgroup": 64}),
        ),
        (
            layer.pointwise(),
            json!({"pixels": 1, "channels": 1, "workgroup": 4096}),
        ),
    ] {
        let kind = convflops::gpu::Variant::Vec4.shader_for(&l);
        classes.insert(
            convflops::tune::shape_class(kind, &l),
            json!({"tile": tile, "median_s": 1e-3, "flops_per_s": 1e9}),
        );
    }
    std::fs::write(cache.path().join("tiles.json"), json!({ &key: classes }).to_string()).unwrap();
    let mut args = vec!["compare", "--json", "--backend", "vulkan"];
    args.extend(QUICK);
    args.extend(SMALL);
    let out = run(cache.path(), &args, None);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("ceilings.json") && err.contains("fma_flops_per_s -510000000000"),
        "{err}"
    );
    assert!(err.contains("tiles.json"), "{err}");
    let compared: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = compared.to_string();
    assert!(!text.contains("-510") && !text.contains("inf"), "{text:.400}");
}

#[test]
fn peak_says_not_cached_when_the_cache_cannot_be_written() {
    if common::vulkan().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let not_a_folder = dir.path().join("file");
    std::fs::write(&not_a_folder, "x").unwrap();
    let out = run(&not_a_folder, &["peak", "--json", "--backend", "vulkan"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let peak: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(peak["cached"], false);
    assert_eq!(peak["cache_file"], Value::Null);
    assert!(stderr(&out).contains("not cached") && stderr(&out).contains(not_a_folder.to_str().unwrap()));
    let out = run(&not_a_folder, &["peak", "--backend", "vulkan"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("not cached") && !text.contains("Measured now and cached"),
        "{text}"
    );
}

#[test]
fn a_sweep_keeps_the_values_it_measured() {
    if common::vulkan().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let export = cache.path().join("sweep.json");
    let mut args = vec![
        "sweep",
        "--vary",
        "size=8,16,512",
        "--max-memory",
        "2MiB",
        "--backend",
        "vulkan",
        "--export-json",
        export.to_str().unwrap(),
        "--in-channels",
        "16",
        "--out-channels",
        "16",
    ];
    args.extend(QUICK);
    let out = run(cache.path(), &args, None);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--size 512") && err.contains("1 of 3 values failed"),
        "{err}"
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("│ 8 ") || table.contains("│    8 ") || table.contains(" 8 │"),
        "{table}"
    );
    let exported = read_json(&export);
    let values: Vec<u64> = exported["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_u64().unwrap())
        .collect();
    assert_eq!(values, [8, 16]);
    assert_eq!(exported["failures"][0]["value"], 512);
    assert!(exported["failures"][0]["error"].as_str().unwrap().contains("MiB"));
}

const TINY: &str = r#"{"name": "tiny-net", "layers": [
    {"name": "conv1", "in_channels": 3, "out_channels": 8, "height": 16, "width": 16, "kernel": [3, 3], "stride": [2, 2], "padding": [1, 1]},
    {"name": "dw", "in_channels": 8, "out_channels": 8, "height": 8, "width": 8, "kernel": [3, 3], "stride": [1, 1], "padding": [1, 1], "groups": 8},
    {"name": "pw", "in_channels": 8, "out_channels": 16, "height": 8, "width": 8, "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0]}]}"#;

#[test]
fn reports_fit_100_columns() {
    if common::vulkan().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let file = cache.path().join("tiny.json");
    std::fs::write(&file, TINY).unwrap();
    let mut compare = vec!["compare", "--backend", "vulkan", "--variant", "tiled,vec4"];
    compare.extend(QUICK);
    compare.extend(SMALL);
    let mut sweep = vec![
        "sweep",
        "--vary",
        "out-channels=8,16",
        "--backend",
        "vulkan",
        "--size",
        "8",
    ];
    sweep.extend(QUICK);
    let mut model = vec![
        "model",
        "--file",
        file.to_str().unwrap(),
        "--run",
        "--backend",
        "vulkan",
    ];
    model.extend(QUICK);
    for args in [compare, sweep, model] {
        let out = run(cache.path(), &args, Some("100"));
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines().chain(stderr(&out).lines()) {
            assert!(
                line.chars().count() <= 100,
                "{args:?}: {} columns: {line}",
                line.chars().count()
            );
        }
        assert!(
            text.contains("--wide"),
            "{args:?}: a narrowed table says how to see all: {text}"
        );
        // --wide shows every column again.
        let mut wide = args.clone();
        wide.push("--wide");
        let out = run(cache.path(), &wide, Some("100"));
        let widest = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.chars().count())
            .max();
        assert!(widest > Some(100), "{args:?} --wide");
        // --format wide is --wide; csv, json and markdown print what the matching --export-* file holds.
        let mut wide = args.clone();
        wide.extend(["--format", "wide"]);
        let out = run(cache.path(), &wide, Some("100"));
        let widest = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.chars().count())
            .max();
        assert!(widest > Some(100), "{args:?} --format wide");
        for (format, flag) in [
            ("csv", "--export-csv"),
            ("json", "--export-json"),
            ("markdown", "--export-markdown"),
        ] {
            let export = cache.path().join(format!("export.{format}"));
            let mut with = args.clone();
            with.extend(["--format", format, flag, export.to_str().unwrap()]);
            let out = run(cache.path(), &with, Some("100"));
            assert!(out.status.success(), "{with:?}: {}", stderr(&out));
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(text, std::fs::read_to_string(&export).unwrap(), "{with:?}");
            match format {
                "csv" => assert!(
                    csv::Reader::from_reader(text.as_bytes()).records().count() > 0,
                    "{text}"
                ),
                "json" => assert!(serde_json::from_str::<Value>(&text).is_ok(), "{text}"),
                _ => assert!(text.lines().any(|l| l.starts_with("|:---")), "{text}"),
            }
            assert!(
                !text.lines().any(|l| l.starts_with("adapter: ")) && !text.contains('┌'),
                "{with:?}: no human report on stdout: {text}"
            );
        }
    }
    // The counts alone have no CSV or Markdown form; --format and --json are one choice.
    let out = run(cache.path(), &["model", "mobilenet-v1", "--format", "csv"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--format csv") && stderr(&out).contains("--run"),
        "{}",
        stderr(&out)
    );
    let out = run(cache.path(), &["model", "mobilenet-v1", "--format", "json"], None);
    assert!(serde_json::from_slice::<Value>(&out.stdout).is_ok());
    let out = run(cache.path(), &["compare", "--json", "--format", "csv"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--format"), "{}", stderr(&out));
}

#[test]
fn charts_have_a_legend_per_conv_type_and_say_cpu_adapter() {
    if common::vulkan().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let out = run(cache.path(), &["peak", "--json", "--backend", "vulkan"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let software = serde_json::from_slice::<Value>(&out.stdout).unwrap()["adapter"]["software"] == true;
    let roof = cache.path().join("roof.svg");
    let mut args = vec!["compare", "--backend", "vulkan", "--roofline", roof.to_str().unwrap()];
    args.extend(QUICK);
    args.extend(SMALL);
    let out = run(cache.path(), &args, None);
    assert!(out.status.success(), "{}", stderr(&out));
    let sweep_roof = cache.path().join("sweep-roof.svg");
    let mut args = vec![
        "sweep",
        "--vary",
        "out-channels=8,16,32",
        "--size",
        "8",
        "--backend",
        "vulkan",
        "--roofline",
        sweep_roof.to_str().unwrap(),
    ];
    args.extend(QUICK);
    let out = run(cache.path(), &args, None);
    assert!(out.status.success(), "{}", stderr(&out));
    for svg in [roof, sweep_roof] {
        let text = std::fs::read_to_string(&svg).unwrap();
        for legend in [
            "\nstandard\n",
            "\ndepthwise\n",
            "\npointwise\n",
            "\nseparable\n",
            "\nroofline:\n",
        ] {
            assert!(text.contains(legend), "{}: no legend entry {legend}", svg.display());
        }
        assert_eq!(text.contains("CPU adapter"), software, "{}", svg.display());
    }
}

#[test]
fn a_backend_missing_here_names_the_adapters_that_exist() {
    if common::vulkan().is_none() || cfg!(target_os = "macos") {
        return;
    }
    let out = common::convflops(&["devices", "--backend", "metal"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no adapter of backend metal"), "{err}");
    assert!(
        err.contains("Metal exists only on macOS") && err.contains("Vulkan"),
        "{err}"
    );
    assert!(!err.contains("mesa-vulkan-drivers"), "{err}");
}

#[test]
fn on_a_terminal_the_adapter_line_shows_once() {
    if common::vulkan().is_none() {
        return;
    }
    // `script` runs the command on a pseudo-terminal: stdout and stderr are one terminal.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipping: no `script` to make a terminal");
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let mut args = vec![env!("CARGO_BIN_EXE_convflops"), "compare", "--backend", "vulkan"];
    args.extend(QUICK);
    args.extend(SMALL);
    let out = Command::new("script")
        .args(["-qec", &args.join(" "), "/dev/null"])
        .env("CONVFLOPS_CACHE_DIR", cache.path())
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let headlines = text.lines().filter(|l| l.trim_start().starts_with("adapter: ")).count();
    assert_eq!(headlines, 1, "{text}");
    assert!(text.contains("separable needs"), "{text}");
}
