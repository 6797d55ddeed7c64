//! `convflops compare` end to end: the JSON fields and their arithmetic, the exports, bad flags. Never timings.

mod common;

use serde_json::Value;

const QUICK: [&str; 14] = [
    "compare",
    "--in-channels",
    "8",
    "--out-channels",
    "16",
    "--size",
    "12",
    "--warmup",
    "1",
    "--samples",
    "3",
    "--min-time",
    "0.01",
    "--bias",
];

fn quick(extra: &[&str]) -> Vec<String> {
    QUICK.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn run_json(extra: &[&str]) -> Value {
    let args = quick(extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    serde_json::from_str(&common::stdout_of(&args)).expect("compare --json prints JSON")
}

fn check_comparison(value: &Value) {
    for key in ["name", "backend", "device_type", "driver"] {
        assert!(value["adapter"][key].is_string(), "adapter.{key}: {value}");
    }
    assert_eq!(value["layer"]["in_channels"], 8);
    assert_eq!(value["layer"]["out_height"], 12);
    let results = value["results"].as_array().expect("results array");
    let convs: Vec<&str> = results.iter().map(|r| r["conv"].as_str().unwrap()).collect();
    assert_eq!(convs, ["standard", "depthwise", "pointwise", "separable"]);
    for r in results {
        for key in ["params", "macs", "flops", "flops_exact", "bytes"] {
            assert!(r[key].is_u64(), "{key}: {r}");
        }
        for times in ["gpu_time_s", "wall_time_s"] {
            for key in ["median", "min", "max", "mean", "rel_stddev"] {
                assert!(r[times][key].is_f64(), "{times}.{key}: {r}");
            }
            assert!(r[times]["samples"].as_u64().unwrap() >= 3);
            assert!(r[times]["min"].as_f64() <= r[times]["median"].as_f64());
            assert!(r[times]["median"].as_f64() <= r[times]["max"].as_f64());
        }
        assert!(["timestamp", "wall"].contains(&r["timer"].as_str().unwrap()));
        let flops = r["flops"].as_u64().unwrap() as f64;
        let median = r["gpu_time_s"]["median"].as_f64().unwrap();
        let rate = r["flops_per_s"].as_f64().unwrap();
        assert!(
            (rate - flops / median).abs() <= 1e-9 * rate,
            "flops_per_s {rate} != {flops} / {median}"
        );
        let intensity = flops / r["bytes"].as_u64().unwrap() as f64;
        assert!((r["arithmetic_intensity"].as_f64().unwrap() - intensity).abs() < 1e-12);
        assert!(r["checked_outputs"].as_u64().unwrap() > 0);
    }
    let flops = |i: usize| results[i]["flops"].as_f64().unwrap();
    let predicted = value["speedup"]["predicted_by_flops"].as_f64().unwrap();
    assert!(
        (predicted - flops(0) / flops(3)).abs() < 1e-12,
        "predicted speedup is the FLOPs (2·MACs) ratio, the FLOPs column's convention"
    );
    let time = |i: usize| results[i]["gpu_time_s"]["median"].as_f64().unwrap();
    let measured = value["speedup"]["measured"].as_f64().unwrap();
    assert!(
        (measured - time(0) / time(3)).abs() <= 1e-9 * measured,
        "measured speedup comes from the times"
    );
    // A pair on the vec4 kernels (--variant vec4, or auto choosing them) is also timed as one fused kernel (the cpu
    // family's is not): the same FLOPs, fewer bytes (the intermediate is never stored), its own time, checked like
    // the others.
    let fused = &value["fused_separable"];
    let kernel = |i: usize| results[i]["kernel"].as_str().unwrap_or("").to_string();
    let vec4_pair = kernel(1).starts_with("depthwise-vec4") && kernel(2).starts_with("pointwise-vec4");
    if vec4_pair && (value["variant"] == "vec4" || value["variant"] == "auto") {
        assert_eq!(fused["conv"], "separable", "{value}");
        assert!(fused["kernel"].as_str().unwrap().starts_with("separable-fused-vec4 ("));
        assert_eq!(fused["flops"], results[3]["flops"]);
        assert!(fused["bytes"].as_u64().unwrap() < results[3]["bytes"].as_u64().unwrap());
        assert!(fused["checked_outputs"].as_u64().unwrap() > 0);
        let rate = fused["flops_per_s"].as_f64().unwrap();
        let median = fused["gpu_time_s"]["median"].as_f64().unwrap();
        assert!((rate - fused["flops"].as_f64().unwrap() / median).abs() <= 1e-9 * rate);
    } else {
        assert!(fused.is_null(), "{value}");
    }
    for r in results {
        assert!(r["kernel"].is_string(), "{r}");
    }
}

#[test]
fn json_has_every_field_and_consistent_arithmetic() {
    if common::vulkan().is_none() {
        return;
    }
    check_comparison(&run_json(&["--json", "--backend", "vulkan"]));
}

#[test]
fn several_variants_are_timed_side_by_side() {
    if common::vulkan().is_none() {
        return;
    }
    let value = run_json(&["--json", "--backend", "vulkan", "--variant", "naive,vec4,naive"]);
    let list = value.as_array().expect("an array, one comparison per variant");
    let variants: Vec<&str> = list.iter().map(|c| c["variant"].as_str().unwrap()).collect();
    assert_eq!(variants, ["naive", "vec4"], "each variant once, in the order given");
    list.iter().for_each(check_comparison);
    assert!(list[0]["results"][0]["kernel"].as_str().unwrap() == "conv2d");
    let args = quick(&["--backend", "vulkan", "--variant", "tiled,vec4"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = common::stdout_of(&args);
    assert!(text.contains("summary") && text.contains("kernels"), "{text}");
    assert!(
        text.contains("· tiled kernels") && text.contains("· vec4 kernels"),
        "{text}"
    );
    common::fails_naming(&["compare", "--variant", "vec4,fast"], 2, "fast");
}

#[test]
fn all_adapters_gives_one_comparison_each() {
    if common::vulkan().is_none() || common::gl().is_none() {
        return;
    }
    let value = run_json(&["--json", "--all-adapters"]);
    let list = value.as_array().expect("an array, one comparison per adapter");
    assert!(list.len() >= 2, "{value}");
    list.iter().for_each(check_comparison);
    let args = quick(&["--all-adapters"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = common::stdout_of(&args);
    assert!(text.contains("summary"), "{text}");
    assert!(text.contains("Vulkan") && text.contains("GL"), "{text}");
}

#[test]
fn human_output_has_adapter_table_and_lesson() {
    if common::vulkan().is_none() {
        return;
    }
    let args = quick(&["--backend", "vulkan"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = common::stdout_of(&args);
    assert!(text.starts_with("adapter: "), "{text}");
    assert!(text.contains("achieved FLOP/s"), "{text}");
    assert!(text.contains("fewer FLOPs than standard"), "{text}");
    assert!(text.contains("FLOPs per byte"), "{text}");
    if text.contains("CPU adapter") {
        assert!(text.contains("not GPU numbers"), "{text}");
    }
}

#[test]
fn exports_parse() {
    if common::vulkan().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (j, c, m) = (
        dir.path().join("r.json"),
        dir.path().join("r.csv"),
        dir.path().join("r.md"),
    );
    let (js, cs, ms) = (j.to_string_lossy(), c.to_string_lossy(), m.to_string_lossy());
    // The vec4 kernels, so the fused pair has its own row in every export.
    let args = quick(&[
        "--backend",
        "vulkan",
        "--variant",
        "vec4",
        "--export-json",
        &js,
        "--export-csv",
        &cs,
        "--export-markdown",
        &ms,
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::stdout_of(&args);
    check_comparison(&serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap());

    let mut reader = csv::Reader::from_path(&c).unwrap();
    let header = reader.headers().unwrap().clone();
    assert_eq!(header.iter().collect::<Vec<_>>(), convflops::export::csv::HEADER);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5, "four convs and the fused pair");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    for row in &rows {
        let flops: f64 = row[col("flops")].parse().unwrap();
        let median: f64 = row[col("gpu_time_median_s")].parse().unwrap();
        let rate: f64 = row[col("flops_per_s")].parse().unwrap();
        assert!((rate - flops / median).abs() <= 1e-9 * rate);
    }
    assert_eq!(&rows[3][col("conv")], "separable");
    assert_eq!(&rows[4][col("conv")], "separable (fused)");
    assert!(rows[4][col("kernel")].starts_with("separable-fused-vec4"));

    let md = std::fs::read_to_string(&m).unwrap();
    assert!(md.contains("| conv | FLOPs | MACs |"), "{md}");
    assert_eq!(
        md.lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| conv"))
            .count(),
        5,
        "{md}"
    );
    assert!(md.contains("| separable (fused) |"), "{md}");
    assert!(md.contains("fewer FLOPs than standard"), "{md}");
}

#[test]
fn bad_flags_are_refused_before_any_work() {
    common::fails_naming(&["compare", "--min-time=-1"], 2, "--min-time");
    common::fails_naming(&["compare", "--samples", "0"], 2, "--samples");
    common::fails_naming(&["compare", "--in-channels", "0"], 1, "--in-channels");
    common::fails_naming(&["compare", "--adapter", "no-such-adapter-anywhere"], 1, "--adapter");
}

#[test]
fn a_failed_export_leaves_nothing_behind() {
    if common::vulkan().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("ok.csv");
    let bad = dir.path().join("missing-folder").join("r.json");
    let (g, b) = (good.to_string_lossy(), bad.to_string_lossy());
    let args = quick(&["--backend", "vulkan", "--export-csv", &g, "--export-json", &b]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::fails_naming(&args, 1, "missing-folder");
    assert!(!bad.exists());
    assert!(!good.exists(), "exports are all written or none");
}
