//! `convflops model`: the built-in networks against the MobileNet v1 paper, the layer file format and its errors,
//! run through the binary.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn convflops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_convflops"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Runs `convflops ARGS`, expects success, parses stdout as JSON.
fn json(args: &[&str]) -> Value {
    let output = convflops(args);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

/// Expects exit code 1 and exactly one stderr line starting with `error:`, which it returns.
fn failure(args: &[&str]) -> String {
    let output = convflops(args);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{args:?}: {text}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(text.starts_with("error:"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(stdout(&output).is_empty());
    text
}

fn totals(report: &Value) -> (u64, u64, u64) {
    let t = &report["totals"];
    (
        t["macs"].as_u64().unwrap(),
        t["params"].as_u64().unwrap(),
        t["flops"].as_u64().unwrap(),
    )
}

/// Rounds to three significant digits, the precision the paper prints.
fn three_significant(n: u64) -> f64 {
    let x = n as f64;
    let scale = 10f64.powi(x.log10().floor() as i32 - 2);
    (x / scale).round() * scale
}

fn share(report: &Value, kind: &str, count: &str) -> f64 {
    let part = report["by_kind"][kind][count].as_u64().unwrap() as f64;
    let total = report["totals"][count].as_u64().unwrap() as f64;
    100.0 * part / total
}

#[test]
fn mobilenet_v1_totals_match_the_paper() {
    let report = json(&["model", "mobilenet-v1", "--json"]);
    assert_eq!(report["model"], "mobilenet-v1");
    assert_eq!(report["layers"].as_array().unwrap().len(), 28);
    let (macs, params, flops) = totals(&report);
    assert_eq!((macs, params), (568_740_352, 4_209_088));
    assert_eq!(flops, 2 * macs);
    assert_eq!(three_significant(macs), 569e6);
    assert_eq!(three_significant(params), 4.21e6);
}

/// Paper Table 4: 4866 M mult-adds (the conv layers alone; 4867 M with the fc) and 29.3 M parameters.
#[test]
fn conv_mobilenet_v1_totals_match_the_paper() {
    let report = json(&["model", "conv-mobilenet-v1", "--json"]);
    let (macs, params, flops) = totals(&report);
    assert_eq!((macs, params), (4_867_293_184, 29_281_120));
    assert_eq!(flops, 2 * macs);
    assert_eq!(three_significant(macs), 4.87e9);
    assert_eq!(three_significant(params), 29.3e6);
    assert_eq!(report["layers"].as_array().unwrap().len(), 15);
}

/// Paper Table 2 to 0.01 percentage points. The paper prints 1.19 % for the mult-adds of the standard 3×3 conv (the
/// stem): a typo, the true share is 1.91 % (10,838,016 of 568,740,352).
#[test]
fn mobilenet_v1_shares_match_table2() {
    let report = json(&["model", "mobilenet-v1", "--json"]);
    let expected = [
        ("pointwise", 94.86, 74.59),
        ("depthwise", 3.06, 1.06),
        ("standard", 1.91, 0.02),
        ("fc", 0.18, 24.33),
    ];
    for (kind, macs, params) in expected {
        let (got_macs, got_params) = (share(&report, kind, "macs"), share(&report, kind, "params"));
        assert!(
            (got_macs - macs).abs() <= 0.01,
            "{kind}: {got_macs} % of MACs, paper {macs}"
        );
        assert!(
            (got_params - params).abs() <= 0.01,
            "{kind}: {got_params} % of params, paper {params}"
        );
    }
    assert_eq!(report["by_kind"].as_object().unwrap().len(), 4);
}

#[test]
fn json_layers_carry_counts_and_shape() {
    let report = json(&["model", "mobilenet-v1", "--json", "--batch", "2"]);
    let layers = report["layers"].as_array().unwrap();
    let dw = &layers[1];
    assert_eq!(
        (dw["name"].as_str(), dw["kind"].as_str()),
        (Some("dw2"), Some("depthwise"))
    );
    assert_eq!(dw["groups"], 32);
    assert_eq!(dw["batch"], 2);
    assert_eq!(dw["macs"], 2 * 3_612_672u64);
    assert_eq!(dw["params"], 288);
    assert_eq!(dw["flops"], 4 * 3_612_672u64);
    for key in [
        "in_channels",
        "out_channels",
        "height",
        "width",
        "kernel",
        "stride",
        "padding",
        "dilation",
        "bias",
        "out_height",
        "out_width",
    ] {
        assert!(dw.get(key).is_some(), "{key} missing");
    }
    let fc = layers.last().unwrap();
    assert_eq!(
        (fc["kind"].as_str(), fc["height"].as_u64(), fc["out_channels"].as_u64()),
        (Some("fc"), Some(1), Some(1000))
    );
    let sum: u64 = layers.iter().map(|l| l["macs"].as_u64().unwrap()).sum();
    assert_eq!(sum, report["totals"]["macs"].as_u64().unwrap());
    assert_eq!(report["totals"]["macs"], 2 * 568_740_352u64);
    assert_eq!(report["totals"]["params"], 4_209_088);
}

#[test]
fn human_report_has_the_layer_and_kind_tables() {
    let output = convflops(&["model", "mobilenet-v1"]);
    assert!(output.status.success());
    let text = stdout(&output);
    for needle in [
        "conv1",
        "pw14",
        "224x224x3",
        "112x112x32",
        "568,740,352",
        "4,209,088",
        "1,137,480,704",
        "94.86 %",
        "24.33 %",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
}

#[test]
fn export_then_file_gives_identical_json() {
    let dir = tempfile::tempdir().unwrap();
    for model in ["mobilenet-v1", "conv-mobilenet-v1"] {
        let file = dir.path().join(format!("{model}.json"));
        let path = file.to_str().unwrap();
        let output = convflops(&["model", model, "--export-layers", path]);
        assert!(output.status.success(), "{}", stderr(&output));
        let exported: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(exported["name"], model);
        assert!(exported["layers"][0].get("batch").is_none());

        let builtin = convflops(&["model", model, "--json", "--batch", "3"]);
        let from_file = convflops(&["model", "--file", path, "--json", "--batch", "3"]);
        assert!(from_file.status.success(), "{}", stderr(&from_file));
        assert_eq!(stdout(&builtin), stdout(&from_file));
        let human = convflops(&["model", "--file", path]);
        assert_eq!(stdout(&human), stdout(&convflops(&["model", model])));
    }
}

/// A file with the kind, dilation, groups and bias left out: defaults and the derived kind.
#[test]
fn minimal_file_uses_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.json");
    std::fs::write(
        &file,
        r#"{"name": "tiny", "layers": [
            {"name": "dw", "in_channels": 4, "out_channels": 4, "groups": 4, "height": 8, "width": 8,
             "kernel": [3, 3], "stride": [2, 2], "padding": [1, 1]},
            {"name": "pw", "in_channels": 4, "out_channels": 6, "height": 4, "width": 4,
             "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0]}]}"#,
    )
    .unwrap();
    let report = json(&["model", "--file", file.to_str().unwrap(), "--json"]);
    assert_eq!(report["model"], "tiny");
    assert_eq!(report["layers"][0]["kind"], "depthwise");
    assert_eq!(report["layers"][1]["kind"], "pointwise");
    assert_eq!(report["layers"][0]["dilation"], serde_json::json!([1, 1]));
    assert_eq!(report["layers"][0]["bias"], false);
    // depthwise: 4·4·4 outputs × 9 taps; pointwise: 4·4·6 outputs × 4 inputs.
    assert_eq!(report["totals"]["macs"], 4 * 4 * 4 * 9 + 4 * 4 * 6 * 4);
    assert_eq!(report["totals"]["params"], 4 * 9 + 6 * 4);
}

const GOOD_LAYER: &str = r#"{"name": "c1", "in_channels": 3, "out_channels": 8, "height": 6, "width": 6,
    "kernel": [3, 3], "stride": [1, 1], "padding": [0, 0]}"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file.to_str().unwrap().to_string()
}

#[test]
fn malformed_files_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let network = |layer: &str| format!(r#"{{"name": "bad", "layers": [{GOOD_LAYER}, {layer}]}}"#);
    let second = |from: &str, to: &str| network(&GOOD_LAYER.replace("c1", "c2").replace(from, to));
    let cases = [
        (
            "bad-json.json",
            r#"{"name": "bad", "layers": [ {"#.to_string(),
            vec!["not a valid model file", "line"],
        ),
        (
            "top-field.json",
            r#"{"name": "x", "layers": [], "batch": 2}"#.to_string(),
            vec!["unknown field `batch`"],
        ),
        (
            "empty.json",
            r#"{"name": "x", "layers": []}"#.to_string(),
            vec!["no layers"],
        ),
        (
            "unknown-field.json",
            second("\"width\": 6", "\"width\": 6, \"colour\": \"red\""),
            vec!["layers[1] \"c2\"", "field `colour`", "unknown field `colour`"],
        ),
        (
            "zero-channels.json",
            second("\"out_channels\": 8", "\"out_channels\": 0"),
            vec!["layers[1] \"c2\"", "field `out_channels`", "at least 1"],
        ),
        (
            "big-kernel.json",
            second("\"kernel\": [3, 3]", "\"kernel\": [7, 3]"),
            vec!["layers[1] \"c2\"", "field `kernel`", "height 6"],
        ),
        (
            "unknown-kind.json",
            second("\"width\": 6", "\"width\": 6, \"kind\": \"dense\""),
            vec!["layers[1] \"c2\"", "field `kind`", "unknown variant `dense`"],
        ),
        (
            "wrong-type.json",
            second("\"height\": 6", "\"height\": \"six\""),
            vec!["layers[1] \"c2\"", "field `height`"],
        ),
        (
            "missing.json",
            second("\"padding\": [0, 0]", "\"bias\": true"),
            vec!["layers[1] \"c2\"", "missing field `padding`"],
        ),
        (
            "groups.json",
            second("\"padding\": [0, 0]", "\"padding\": [0, 0], \"groups\": 2"),
            vec!["layers[1] \"c2\"", "field `groups`"],
        ),
    ];
    for (name, text, needles) in cases {
        let path = write(dir.path(), name, &text);
        let message = failure(&["model", "--file", &path, "--json"]);
        assert!(message.contains(&path), "{name}: {message}");
        for needle in needles {
            assert!(message.contains(needle), "{name}: '{needle}' missing from {message}");
        }
    }
    let missing = dir.path().join("absent.json");
    let message = failure(&["model", "--file", missing.to_str().unwrap()]);
    assert!(message.contains("absent.json"), "{message}");
}

#[test]
fn unknown_model_lists_the_valid_names() {
    let message = failure(&["model", "resnet-50"]);
    assert!(message.contains("resnet-50"), "{message}");
    assert!(
        message.contains("mobilenet-v1") && message.contains("conv-mobilenet-v1"),
        "{message}"
    );
}

#[test]
fn zero_batch_names_the_flag() {
    assert!(failure(&["model", "mobilenet-v1", "--batch", "0"]).contains("--batch"));
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "ok.json",
        &format!(r#"{{"name": "ok", "layers": [{GOOD_LAYER}]}}"#),
    );
    assert!(failure(&["model", "--file", &path, "--batch", "0"]).contains("--batch"));
}

#[test]
fn huge_batch_overflow_is_an_error_not_a_panic() {
    let message = failure(&["model", "conv-mobilenet-v1", "--batch", "4294967295", "--json"]);
    assert!(message.contains("overflows 64 bits"), "{message}");
}

#[test]
fn export_to_a_missing_folder_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("no-such-folder").join("layers.json");
    let message = failure(&["model", "mobilenet-v1", "--export-layers", target.to_str().unwrap()]);
    assert!(message.contains("layers.json"), "{message}");
    assert!(!target.exists());
}
