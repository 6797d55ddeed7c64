//! `convflops model --run` and `--compare` end to end: JSON fields and their arithmetic, the FLOPs totals against
//! the counting mode, the shares, the exports and the charts, bad flags. Small networks from layer files and quick
//! sampling flags; timings are never asserted.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Quick sampling: one warm-up, two samples, no minimum time.
const QUICK: [&str; 8] = [
    "--backend",
    "vulkan",
    "--warmup",
    "1",
    "--samples",
    "2",
    "--min-time",
    "0",
];

/// A separable network (stem, depthwise, pointwise with bias, fc on a 1×1 input that the pointwise output does not
/// feed) and its all-standard twin.
const TINY: &str = r#"{"name": "tiny-net", "layers": [
 {"name": "conv1", "in_channels": 3, "out_channels": 8, "height": 16, "width": 16, "kernel": [3, 3], "stride": [2, 2], "padding": [1, 1]},
 {"name": "dw2", "in_channels": 8, "out_channels": 8, "height": 8, "width": 8, "kernel": [3, 3], "stride": [1, 1], "padding": [1, 1], "groups": 8},
 {"name": "pw2", "in_channels": 8, "out_channels": 16, "height": 8, "width": 8, "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0], "bias": true},
 {"name": "fc", "in_channels": 16, "out_channels": 10, "height": 1, "width": 1, "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0]}
]}"#;

const TINY_CONV: &str = r#"{"name": "tiny-conv-net", "layers": [
 {"name": "conv1", "in_channels": 3, "out_channels": 8, "height": 16, "width": 16, "kernel": [3, 3], "stride": [2, 2], "padding": [1, 1]},
 {"name": "conv2", "in_channels": 8, "out_channels": 16, "height": 8, "width": 8, "kernel": [3, 3], "stride": [1, 1], "padding": [1, 1]},
 {"name": "fc", "in_channels": 16, "out_channels": 10, "height": 1, "width": 1, "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0]}
]}"#;

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tiny.json"), TINY).unwrap();
        std::fs::write(dir.path().join("tiny-conv.json"), TINY_CONV).unwrap();
        Files { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }
}

fn stdout_of(args: &[&str]) -> String {
    common::stdout_of(args)
}

fn json_of(args: &[&str]) -> Value {
    serde_json::from_str(&stdout_of(args)).expect("JSON on stdout")
}

fn with_quick<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.iter().copied().chain(QUICK).collect()
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * a.abs().max(b.abs()).max(1e-300)
}

/// Every field of one network run, and the arithmetic between them.
fn check_run(run: &Value, layers: usize) {
    for key in ["name", "backend", "device_type", "driver"] {
        assert!(run["adapter"][key].is_string(), "adapter.{key}");
    }
    assert_eq!(run["activations"], "linear");
    assert!(["auto", "cpu", "vec4", "tiled", "naive"].contains(&run["variant"].as_str().unwrap()));
    let list = run["layers"].as_array().expect("layers");
    assert_eq!(list.len(), layers);
    let mut flops = 0;
    let mut time = 0.0;
    for l in list {
        for key in ["name", "kind", "shader", "input", "timer"] {
            assert!(l[key].is_string(), "{key}: {l}");
        }
        for key in ["params", "macs", "flops", "flops_exact", "bytes", "batch", "out_height"] {
            assert!(l[key].is_u64(), "{key}: {l}");
        }
        for times in ["gpu_time_s", "wall_time_s"] {
            for key in ["median", "min", "max", "mean", "rel_stddev"] {
                assert!(l[times][key].is_f64(), "{times}.{key}: {l}");
            }
            assert!(l[times]["samples"].as_u64().unwrap() >= 2, "{l}");
            assert!(l[times]["min"].as_f64() <= l[times]["median"].as_f64());
            assert!(l[times]["median"].as_f64() <= l[times]["max"].as_f64());
        }
        let median = l["gpu_time_s"]["median"].as_f64().unwrap();
        let layer_flops = l["flops"].as_u64().unwrap();
        assert!(
            close(l["flops_per_s"].as_f64().unwrap(), layer_flops as f64 / median, 1e-9),
            "{l}"
        );
        assert!(l["dispatches_per_sample"].as_u64().unwrap() >= 1);
        assert!(l["checked_outputs"].as_u64().unwrap() > 0, "{l}");
        assert!(["chained", "random"].contains(&l["input"].as_str().unwrap()));
        flops += layer_flops;
        time += median;
    }
    assert_eq!(list[0]["input"], "random");
    assert_eq!(run["totals"]["flops"].as_u64().unwrap(), flops);
    assert!(close(run["totals"]["gpu_time_s"].as_f64().unwrap(), time, 1e-9));
    let whole = &run["whole_network"];
    let whole_median = whole["gpu_time_s"]["median"].as_f64().unwrap();
    assert!(whole_median > 0.0);
    assert!(close(
        whole["flops_per_s"].as_f64().unwrap(),
        flops as f64 / whole_median,
        1e-9
    ));

    // Shares: per layer and per kind, of the FLOPs and of the time, each summing to 100 %.
    let sum = |values: Vec<f64>| values.into_iter().sum::<f64>();
    let layer_time: Vec<f64> = list.iter().map(|l| l["time_share"].as_f64().unwrap()).collect();
    let layer_flops: Vec<f64> = list.iter().map(|l| l["flops_share"].as_f64().unwrap()).collect();
    assert!((sum(layer_time) - 100.0).abs() < 1e-6);
    assert!((sum(layer_flops) - 100.0).abs() < 1e-6);
    let kinds = run["by_kind"].as_object().expect("by_kind");
    let kind_time: Vec<f64> = kinds.values().map(|k| k["time_share"].as_f64().unwrap()).collect();
    let kind_flops: Vec<f64> = kinds.values().map(|k| k["flops_share"].as_f64().unwrap()).collect();
    assert!((sum(kind_time) - 100.0).abs() < 1e-6, "{kinds:?}");
    assert!((sum(kind_flops) - 100.0).abs() < 1e-6, "{kinds:?}");
    let kind_flops: u64 = kinds.values().map(|k| k["flops"].as_u64().unwrap()).sum();
    assert_eq!(kind_flops, flops);
    assert!(
        run["headline"].as_str().unwrap().contains("of the FLOPs and took"),
        "{run}"
    );
}

#[test]
fn run_json_fields_and_totals_equal_the_counting_mode() {
    if common::vulkan().is_none() {
        return;
    }
    let files = Files::new();
    let tiny = files.arg("tiny.json");
    let run = json_of(&with_quick(&[
        "model", "--file", &tiny, "--batch", "2", "--run", "--json",
    ]));
    check_run(&run, 4);
    assert_eq!(run["model"], "tiny-net");
    assert_eq!(run["batch"], 2);
    let inputs: Vec<&str> = run["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["input"].as_str().unwrap())
        .collect();
    // The fc's 1×1×16 input is not the pointwise conv's 8×8×16 output: it reads random data.
    assert_eq!(inputs, ["random", "chained", "chained", "random"]);
    let counted = json_of(&["model", "--file", &tiny, "--batch", "2", "--json"]);
    for key in ["params", "macs", "flops"] {
        assert_eq!(run["totals"][key], counted["totals"][key], "totals.{key}");
    }
    for (measured, counted) in run["layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(counted["layers"].as_array().unwrap())
    {
        assert_eq!(measured["flops"], counted["flops"]);
        assert_eq!(measured["batch"], 2);
    }
    let headline = run["headline"].as_str().unwrap();
    assert!(
        headline.starts_with("pointwise convs are 30.59 % of the FLOPs"),
        "{headline}"
    );
}

/// The acceptance run: MobileNet v1 at 224×224, every layer, totals as counted, the pointwise headline.
#[test]
fn mobilenet_v1_runs_at_224_with_the_counted_totals() {
    if common::vulkan().is_none() {
        return;
    }
    let run = json_of(&[
        "model",
        "mobilenet-v1",
        "--run",
        "--json",
        "--backend",
        "vulkan",
        "--warmup",
        "1",
        "--samples",
        "2",
        "--min-time",
        "0",
    ]);
    check_run(&run, 28);
    let first = &run["layers"][0];
    assert_eq!(
        (first["height"].as_u64(), first["width"].as_u64()),
        (Some(224), Some(224))
    );
    let counted = json_of(&["model", "mobilenet-v1", "--json"]);
    assert_eq!(run["totals"]["flops"], counted["totals"]["flops"]);
    assert_eq!(run["totals"]["flops"], 1_137_480_704u64);
    let pointwise = run["by_kind"]["pointwise"]["flops_share"].as_f64().unwrap();
    assert!((pointwise - 94.86).abs() < 0.005, "{pointwise}");
    assert!(run["headline"]
        .as_str()
        .unwrap()
        .starts_with("pointwise convs are 94.86 % of the FLOPs and took "));
    assert_eq!(run["layers"][27]["name"], "fc");
    assert_eq!(run["layers"][27]["input"], "random");
}

#[test]
fn human_output_has_the_tables_the_headline_and_the_notes() {
    if common::vulkan().is_none() {
        return;
    }
    let files = Files::new();
    let tiny = files.arg("tiny.json");
    let text = stdout_of(&with_quick(&["model", "--file", &tiny, "--run", "--variant", "naive"]));
    assert!(text.starts_with("adapter: "), "{text}");
    for needle in [
        "model tiny-net on the adapter · batch 1 · 16x16x3 input · 4 conv layers · naive kernels",
        "share of FLOPs",
        "share of time",
        "total (sum of layers)",
        "whole network (one submission)",
        "the MobileNet paper's Table 2, with time",
        "pointwise convs are 30.59 % of the FLOPs and took",
        "depthwise convs are 17.20 % of the FLOPs and took",
        "Activations stay linear",
        "Layer fc reads its own buffer of random data: its input 1x1x16 is not the previous layer's output 8x8x16",
        "checked against the CPU reference",
    ] {
        assert!(text.contains(needle), "missing {needle:?}:\n{text}");
    }
    if text.contains("CPU adapter") {
        assert!(text.contains("not GPU numbers"), "{text}");
    }
}

#[test]
fn compare_sets_the_flops_ratio_against_the_time_ratio() {
    if common::vulkan().is_none() {
        return;
    }
    let files = Files::new();
    let (tiny, conv) = (files.arg("tiny.json"), files.arg("tiny-conv.json"));
    let value = json_of(&with_quick(&["model", "--compare", &tiny, &conv, "--json"]));
    let networks = value["networks"].as_array().expect("two networks");
    assert_eq!(networks.len(), 2);
    check_run(&networks[0], 4);
    check_run(&networks[1], 3);
    let flops = |i: usize| networks[i]["totals"]["flops"].as_u64().unwrap() as f64;
    let whole = |i: usize| networks[i]["whole_network"]["gpu_time_s"]["median"].as_f64().unwrap();
    let layers = |i: usize| networks[i]["totals"]["gpu_time_s"].as_f64().unwrap();
    let ratios = &value["ratios"];
    assert!(close(ratios["flops"].as_f64().unwrap(), flops(1) / flops(0), 1e-12));
    assert!(close(
        ratios["time_whole_network"].as_f64().unwrap(),
        whole(1) / whole(0),
        1e-9
    ));
    assert!(close(
        ratios["time_sum_of_layers"].as_f64().unwrap(),
        layers(1) / layers(0),
        1e-9
    ));
    let lesson = value["lesson"].as_str().unwrap();
    assert!(
        lesson.starts_with("tiny-net needs 3.27× fewer FLOPs than tiny-conv-net"),
        "{lesson}"
    );

    // In the other order the ratios invert, the lesson does not.
    let text = stdout_of(&with_quick(&["model", "--compare", &conv, &tiny]));
    assert!(text.contains("tiny-net / tiny-conv-net: FLOPs 0.31×"), "{text}");
    assert!(
        text.contains("tiny-net needs 3.27× fewer FLOPs than tiny-conv-net"),
        "{text}"
    );
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let word = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (word(16), word(20))
}

fn assert_svg_with_kinds(path: &Path, kinds: &[&str]) {
    let svg = std::fs::read_to_string(path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    for kind in kinds {
        assert!(svg.contains(kind), "the chart does not name {kind}");
    }
    assert!(svg.contains("share of FLOPs") && svg.contains("share of measured time"));
}

#[test]
fn exports_and_charts_parse() {
    if common::vulkan().is_none() {
        return;
    }
    let files = Files::new();
    let tiny = files.arg("tiny.json");
    let (j, c, m, svg, png) = (
        files.arg("run.json"),
        files.arg("run.csv"),
        files.arg("run.md"),
        files.arg("shares.svg"),
        files.arg("shares.png"),
    );
    let args = with_quick(&[
        "model",
        "--file",
        &tiny,
        "--run",
        "--export-json",
        &j,
        "--export-csv",
        &c,
        "--export-markdown",
        &m,
        "--plot",
        &svg,
    ]);
    stdout_of(&args);
    check_run(&serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap(), 4);

    let mut reader = csv::Reader::from_path(&c).unwrap();
    let header = reader.headers().unwrap().clone();
    assert_eq!(header.iter().collect::<Vec<_>>(), convflops::export::csv::MODEL_HEADER);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5, "4 layers and the whole network");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let kinds: Vec<&str> = rows.iter().map(|r| &r[col("kind")]).collect();
    assert_eq!(kinds, ["standard", "depthwise", "pointwise", "fc", "network"]);
    for row in &rows {
        let flops: f64 = row[col("flops")].parse().unwrap();
        let median: f64 = row[col("gpu_time_median_s")].parse().unwrap();
        let rate: f64 = row[col("flops_per_s")].parse().unwrap();
        assert!(close(rate, flops / median, 1e-9));
    }
    let shares: f64 = rows[..4]
        .iter()
        .map(|r| r[col("time_share")].parse::<f64>().unwrap())
        .sum();
    assert!((shares - 100.0).abs() < 1e-6);

    let md = std::fs::read_to_string(&m).unwrap();
    assert!(md.contains("| layer | kind | input | FLOPs |"), "{md}");
    assert!(
        md.contains("| kind | layers | FLOPs | share of FLOPs | time | share of time |"),
        "{md}"
    );
    assert!(md.contains("pointwise convs are 30.59 % of the FLOPs"), "{md}");
    assert_svg_with_kinds(Path::new(&svg), &["standard", "depthwise", "pointwise", "fc"]);

    // A PNG, from a comparison: one bar pair per kind and network.
    let conv = files.arg("tiny-conv.json");
    stdout_of(&with_quick(&["model", "--compare", &tiny, &conv, "--plot", &png]));
    assert_eq!(png_size(&std::fs::read(&png).unwrap()), (1024, 640));
}

/// TINY with a layer between the depthwise and the pointwise conv whose input buffer (600,000 channels of 8×8,
/// 146 MiB) exceeds every adapter's 128 MiB minimum storage-binding limit: it cannot run, the others can.
const TINY_BIG: &str = r#"{"name": "tiny-big", "layers": [
 {"name": "conv1", "in_channels": 3, "out_channels": 8, "height": 16, "width": 16, "kernel": [3, 3], "stride": [2, 2], "padding": [1, 1]},
 {"name": "dw2", "in_channels": 8, "out_channels": 8, "height": 8, "width": 8, "kernel": [3, 3], "stride": [1, 1], "padding": [1, 1], "groups": 8},
 {"name": "big", "in_channels": 600000, "out_channels": 8, "height": 8, "width": 8, "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0]},
 {"name": "pw2", "in_channels": 8, "out_channels": 16, "height": 8, "width": 8, "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0], "bias": true},
 {"name": "fc", "in_channels": 16, "out_channels": 10, "height": 1, "width": 1, "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0]}
]}"#;

#[test]
fn a_layer_that_fails_is_named_and_the_others_are_reported_and_exported() {
    let Some(ctx) = common::vulkan() else {
        return;
    };
    assert!(
        ctx.summary.max_storage_buffer_binding_size < 153_600_000,
        "this test needs an adapter whose storage bindings stop below 146 MiB"
    );
    let files = Files::new();
    let path = files.path("tiny-big.json");
    std::fs::write(&path, TINY_BIG).unwrap();
    let (file, csv_path, md_path) = (files.arg("tiny-big.json"), files.arg("big.csv"), files.arg("big.md"));
    let args = with_quick(&[
        "model",
        "--file",
        &file,
        "--run",
        "--json",
        "--export-csv",
        &csv_path,
        "--export-markdown",
        &md_path,
    ]);
    let out = common::convflops(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("1 layer failed (the others are shown and exported)")
            && stderr.contains("layers[2] \"big\"")
            && stderr.contains("max_storage_buffer_binding_size"),
        "{stderr}"
    );

    let run: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let names: Vec<&str> = run["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["conv1", "dw2", "pw2", "fc"]);
    // pw2 read big's output: with big not run, it reads its own random data.
    assert_eq!(run["layers"][2]["input"], "random");
    let failed = run["failed_layers"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["name"], "big");
    assert_eq!(failed[0]["index"], 2);
    assert_eq!(failed[0]["in_channels"], 600_000);
    assert!(
        failed[0]["error"].as_str().unwrap().contains("input buffer"),
        "{}",
        failed[0]
    );
    // The counts are the whole network's; the rates and shares cover the layers that ran.
    let counted = json_of(&["model", "--file", &file, "--json"]);
    assert_eq!(run["totals"]["flops"], counted["totals"]["flops"]);
    assert_eq!(run["totals"]["layers_run"], 4);
    assert_eq!(run["whole_network"]["layers"], 4);
    let ran: u64 = run["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["flops"].as_u64().unwrap())
        .sum();
    assert_eq!(run["totals"]["flops_run"], ran);
    assert_eq!(run["whole_network"]["flops"], ran);
    let shares: f64 = run["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["flops_share"].as_f64().unwrap())
        .sum();
    assert!((shares - 100.0).abs() < 1e-9, "{shares}");

    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let layers: Vec<&str> = rows.iter().map(|r| &r[col("layer")]).collect();
    assert_eq!(layers, ["conv1", "dw2", "big", "pw2", "fc", "whole network"]);
    assert!(rows[2][col("error")].contains("input buffer") && rows[2][col("gpu_time_median_s")].is_empty());
    assert!(rows
        .iter()
        .enumerate()
        .all(|(i, r)| (i == 2) != r[col("error")].is_empty()));
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(
        md.contains("Failed layers (1 of 5)") && md.contains("whole network (one submission, 4 of 5 layers)"),
        "{md}"
    );
}

#[test]
fn a_failed_export_leaves_nothing_behind() {
    if common::vulkan().is_none() {
        return;
    }
    let files = Files::new();
    let tiny = files.arg("tiny.json");
    let good = files.path("ok.csv");
    let bad = files.path("missing-folder").join("r.json");
    let (g, b) = (good.to_string_lossy(), bad.to_string_lossy());
    let args = with_quick(&[
        "model",
        "--file",
        &tiny,
        "--run",
        "--export-csv",
        &g,
        "--export-json",
        &b,
    ]);
    common::fails_naming(&args, 1, "missing-folder");
    assert!(!bad.exists() && !good.exists(), "exports are all written or none");
}

#[test]
fn bad_flags_are_refused_before_any_work() {
    // Run-only flags without --run or --compare are usage errors; counting stays as it was.
    common::fails_naming(&["model", "mobilenet-v1", "--samples", "3"], 2, "--run");
    common::fails_naming(&["model", "mobilenet-v1", "--plot", "x.svg"], 2, "--run");
    common::fails_naming(&["model", "--compare", "mobilenet-v1"], 2, "--compare");
    common::fails_naming(&["model", "mobilenet-v1", "--run", "--plot", "x.txt"], 1, "--plot");
    common::fails_naming(&["model", "mobilenet-v1", "--run", "--min-time=-1"], 2, "--min-time");
    common::fails_naming(&["model", "mobilenet-v1", "--run", "--samples", "0"], 2, "--samples");
    common::fails_naming(&["model", "mobilenet-v1", "--run", "--batch", "0"], 1, "--batch");
    common::fails_naming(&["model", "--compare", "mobilenet-v1", "resnet-50"], 1, "resnet-50");
    common::fails_naming(
        &["model", "mobilenet-v1", "--run", "--export-layers", "x.json"],
        2,
        "--export-layers",
    );
    let help = stdout_of(&["model", "--help"]);
    assert!(help.contains("--min-time 0.2"), "{help}");
}
