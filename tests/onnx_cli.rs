//! `convflops model --file NET.onnx`: small ONNX models built here with the library's minimal writer (no Python),
//! counted and checked against hand-computed values; and hostile files, each one error line with exit 1.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use convflops::models::onnx::builder::{Attr, InputDim, ModelBuilder};
use serde_json::Value;

fn convflops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_convflops"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

fn json(args: &[&str]) -> Value {
    let out = convflops(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

/// The one-line error of a failing run.
fn failure(args: &[&str]) -> String {
    let out = convflops(args);
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail with exit 1");
    let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// (name, kind, macs, params) of every layer.
fn layers(report: &Value) -> Vec<(String, String, u64, u64)> {
    report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_string(),
                l["kind"].as_str().unwrap().to_string(),
                l["macs"].as_u64().unwrap(),
                l["params"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn totals(report: &Value) -> (u64, u64) {
    (
        report["totals"]["macs"].as_u64().unwrap(),
        report["totals"]["params"].as_u64().unwrap(),
    )
}

/// conv (3→8, 3×3, pad 1, bias) → Relu → conv (8→16, 3×3, stride 2, pad 1) → GlobalAveragePool → Flatten →
/// Gemm (16→10, bias).
fn plain_chain() -> ModelBuilder {
    ModelBuilder::new("chain", 17)
        .input_fixed("x", &[1, 3, 32, 32])
        .weight("w1", &[8, 3, 3, 3])
        .weight("b1", &[8])
        .weight("w2", &[16, 8, 3, 3])
        .weight("fc.w", &[10, 16])
        .weight("fc.b", &[10])
        .node(
            "Conv",
            "conv1",
            &["x", "w1", "b1"],
            &["c1"],
            &[
                Attr::Ints("pads", vec![1, 1, 1, 1]),
                Attr::Ints("kernel_shape", vec![3, 3]),
            ],
        )
        .node("Relu", "relu1", &["c1"], &["r1"], &[])
        .node(
            "Conv",
            "conv2",
            &["r1", "w2"],
            &["c2"],
            &[Attr::Ints("pads", vec![1, 1, 1, 1]), Attr::Ints("strides", vec![2, 2])],
        )
        .node("GlobalAveragePool", "gap", &["c2"], &["g"], &[])
        .node("Flatten", "flatten", &["g"], &["f"], &[Attr::Int("axis", 1)])
        .node("Gemm", "fc", &["f", "fc.w", "fc.b"], &["y"], &[Attr::Int("transB", 1)])
        .output("y")
}

// Hand-computed: conv1 32·32·8 outputs × 3·9 = 221,184 MACs, 8·3·9 + 8 = 224 params; conv2 16·16·16 × 8·9 =
// 294,912 MACs, 16·8·9 = 1,152 params; fc 16·10 = 160 MACs, 170 params.
const CHAIN: [(&str, &str, u64, u64); 3] = [
    ("conv1", "standard", 221_184, 224),
    ("conv2", "standard", 294_912, 1_152),
    ("fc", "fc", 160, 170),
];

fn expected(rows: &[(&str, &str, u64, u64)], batch: u64) -> Vec<(String, String, u64, u64)> {
    rows.iter()
        .map(|(n, k, m, p)| (n.to_string(), k.to_string(), m * batch, *p))
        .collect()
}

#[test]
fn plain_chain_counts_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "chain.onnx", &plain_chain().to_bytes());
    let report = json(&["model", "--file", &file, "--json"]);
    assert_eq!(report["model"], "chain");
    assert_eq!(layers(&report), expected(&CHAIN, 1));
    assert_eq!(totals(&report), (516_256, 1_546));
    // --batch replaces the input's first dimension and flows through Flatten into the fc's rows.
    let report = json(&["model", "--file", &file, "--json", "--batch", "3"]);
    assert_eq!(layers(&report), expected(&CHAIN, 3));
    // Recognised by content, whatever the name; the human table names the layers too.
    let odd = write(dir.path(), "chain.model", &plain_chain().to_bytes());
    assert_eq!(layers(&json(&["model", "--file", &odd, "--json"])), expected(&CHAIN, 1));
    let table = convflops(&["model", "--file", &odd]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("conv2") && text.contains("516,256"), "{text}");
}

#[test]
fn export_layers_round_trips_to_the_json_format() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "chain.onnx", &plain_chain().to_bytes());
    let exported = dir.path().join("chain.json");
    let out = convflops(&["model", "--file", &file, "--export-layers", exported.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let from_onnx = json(&["model", "--file", &file, "--json", "--batch", "2"]);
    let from_json = json(&["model", "--file", exported.to_str().unwrap(), "--json", "--batch", "2"]);
    assert_eq!(from_onnx, from_json);
}

#[test]
fn aliased_and_constant_weights() {
    // Two convs share one weight, the second through an Identity alias (as torch.onnx.export writes identical
    // initializers); a third takes its weight from a Constant node.
    let model = ModelBuilder::new("alias", 17)
        .input_fixed("x", &[1, 4, 10, 10])
        .weight("w", &[4, 4, 3, 3])
        .node("Identity", "alias", &["w"], &["w_copy"], &[])
        .node(
            "Conv",
            "a",
            &["x", "w"],
            &["y1"],
            &[Attr::Ints("pads", vec![1, 1, 1, 1])],
        )
        .node(
            "Conv",
            "b",
            &["y1", "w_copy"],
            &["y2"],
            &[Attr::Ints("pads", vec![1, 1, 1, 1])],
        )
        .node(
            "Constant",
            "const_w",
            &[],
            &["w3"],
            &[Attr::TensorF32("value", vec![2, 4, 1, 1])],
        )
        .node("Conv", "c", &["y2", "w3"], &["y3"], &[])
        .output("y3");
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "alias.onnx", &model.to_bytes());
    let report = json(&["model", "--file", &file, "--json"]);
    // a, b: 10·10·4 × 4·9 = 14,400 MACs, 144 params; c: 10·10·2 × 4 = 800 MACs, 8 params (pointwise).
    assert_eq!(
        layers(&report),
        expected(
            &[
                ("a", "standard", 14_400, 144),
                ("b", "standard", 14_400, 144),
                ("c", "pointwise", 800, 8),
            ],
            1
        )
    );
}

/// ShuffleNet's channel shuffle, with a symbolic batch: Shape → Gather → Unsqueeze → Concat → Reshape →
/// Transpose → Reshape, then a grouped conv and a depthwise conv.
fn shuffle() -> ModelBuilder {
    ModelBuilder::new("shuffle", 17)
        .input(
            "x",
            &[
                InputDim::Param("N"),
                InputDim::Value(8),
                InputDim::Value(6),
                InputDim::Value(6),
            ],
        )
        .ints("zero", &[], &[0])
        .ints("axes0", &[1], &[0])
        .ints("groups_and_rest", &[4], &[2, 4, 6, 6])
        .ints("back", &[3], &[-1, 6, 6])
        .weight("wg", &[16, 2, 3, 3])
        .weight("wd", &[16, 1, 3, 3])
        .node("Shape", "shape", &["x"], &["s"], &[])
        .node("Gather", "batch", &["s", "zero"], &["n"], &[Attr::Int("axis", 0)])
        .node("Unsqueeze", "n1", &["n", "axes0"], &["n_1d"], &[])
        .node(
            "Concat",
            "target",
            &["n_1d", "groups_and_rest"],
            &["t"],
            &[Attr::Int("axis", 0)],
        )
        .node("Reshape", "split_groups", &["x", "t"], &["x5"], &[])
        .node(
            "Transpose",
            "swap",
            &["x5"],
            &["x5t"],
            &[Attr::Ints("perm", vec![0, 2, 1, 3, 4])],
        )
        .node("Concat", "target2", &["n_1d", "back"], &["t2"], &[Attr::Int("axis", 0)])
        .node("Reshape", "merge", &["x5t", "t2"], &["xs"], &[])
        .node(
            "Conv",
            "grouped",
            &["xs", "wg"],
            &["g"],
            &[Attr::Int("group", 4), Attr::Ints("pads", vec![1, 1, 1, 1])],
        )
        .node(
            "Conv",
            "depthwise",
            &["g", "wd"],
            &["y"],
            &[Attr::Int("group", 16), Attr::Ints("strides", vec![2, 2])],
        )
        .output("y")
}

#[test]
fn dynamic_reshape_subgraph_and_groups() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "shuffle.onnx", &shuffle().to_bytes());
    // grouped: 6·6·16 outputs × (8/4)·9 = 10,368 MACs per image, 16·2·9 = 288 params; depthwise 3×3 stride 2 on
    // 6×6: 2·2·16 × 9 = 576 MACs, 144 params.
    let rows = [
        ("grouped", "standard", 10_368, 288),
        ("depthwise", "depthwise", 576, 144),
    ];
    for batch in [1u64, 2] {
        let report = json(&["model", "--file", &file, "--json", "--batch", &batch.to_string()]);
        assert_eq!(layers(&report), expected(&rows, batch));
        assert_eq!(report["layers"][0]["groups"], 4);
    }
}

#[test]
fn auto_pad_same_upper() {
    // 16×16, 3×3, stride 2, SAME_UPPER: output 8×8, padding (0, 1) per axis — asymmetric, counted as the symmetric
    // padding with the same output size: 8·8·4 × 3·9 = 6,912 MACs. SAME_LOWER and VALID beside it.
    let model = ModelBuilder::new("same", 17)
        .input_fixed("x", &[1, 3, 16, 16])
        .weight("w", &[4, 3, 3, 3])
        .weight("w2", &[4, 4, 3, 3])
        .weight("w3", &[4, 4, 3, 3])
        .node(
            "Conv",
            "upper",
            &["x", "w"],
            &["a"],
            &[Attr::Str("auto_pad", "SAME_UPPER"), Attr::Ints("strides", vec![2, 2])],
        )
        .node(
            "Conv",
            "lower",
            &["a", "w2"],
            &["b"],
            &[Attr::Str("auto_pad", "SAME_LOWER")],
        )
        .node("Conv", "valid", &["b", "w3"], &["c"], &[Attr::Str("auto_pad", "VALID")])
        .output("c");
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "same.onnx", &model.to_bytes());
    let report = json(&["model", "--file", &file, "--json"]);
    // lower: 8·8·4 × 4·9 = 9,216; valid: 6·6·4 × 36 = 5,184.
    assert_eq!(
        layers(&report),
        expected(
            &[
                ("upper", "standard", 6_912, 108),
                ("lower", "standard", 9_216, 144),
                ("valid", "standard", 5_184, 144),
            ],
            1
        )
    );
    assert_eq!(report["layers"][0]["out_height"], 8);
}

#[test]
fn matmul_with_a_constant_weight_is_fc_and_without_is_not() {
    let model = ModelBuilder::new("mm", 17)
        .input_fixed("x", &[2, 5, 12])
        .weight("w", &[12, 7])
        .node("MatMul", "proj", &["x", "w"], &["p"], &[])
        .node("Transpose", "t", &["p"], &["pt"], &[Attr::Ints("perm", vec![0, 2, 1])])
        .node("MatMul", "scores", &["p", "pt"], &["s"], &[])
        .output("s");
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "mm.onnx", &model.to_bytes());
    // batch × 5 rows × 12 × 7 = 420 MACs per batch item, 84 params (--batch replaces the file's 2); the
    // activation × activation product is no layer.
    for batch in [1u64, 2] {
        let report = json(&["model", "--file", &file, "--json", "--batch", &batch.to_string()]);
        assert_eq!(layers(&report), expected(&[("proj", "fc", 420, 84)], batch));
        assert_eq!(
            (
                report["layers"][0]["height"].as_u64(),
                report["layers"][0]["batch"].as_u64()
            ),
            (Some(5), Some(batch))
        );
    }
}

#[test]
fn symbolic_input_needs_input_shape() {
    let model = ModelBuilder::new("sym", 17)
        .input(
            "image",
            &[
                InputDim::Param("N"),
                InputDim::Value(3),
                InputDim::Param("H"),
                InputDim::Param("W"),
            ],
        )
        .weight("w", &[8, 3, 3, 3])
        .node("Conv", "conv", &["image", "w"], &["y"], &[])
        .output("y");
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "sym.onnx", &model.to_bytes());
    let error = failure(&["model", "--file", &file]);
    assert!(
        error.contains("graph input 'image'") && error.contains("'H'") && error.contains("--input-shape"),
        "{error}"
    );
    let report = json(&["model", "--file", &file, "--json", "--input-shape", "2x3x10x12"]);
    // 2 · 8·10 outputs · 8 channels × 27 = 34,560 MACs.
    assert_eq!(layers(&report), expected(&[("conv", "standard", 34_560, 216)], 1));
    let bad = failure(&["model", "--file", &file, "--input-shape", "1x3x10"]);
    assert!(bad.contains("--input-shape") && bad.contains("4"), "{bad}");
    let usage = convflops(&["model", "--file", &file, "--input-shape", "1x3x0x4"]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn uninferable_nodes_fail_only_when_a_layer_needs_them() {
    // An op convflops has no rule for, feeding the conv: one error naming that node and what to do.
    let model = ModelBuilder::new("custom", 17)
        .input_fixed("x", &[1, 3, 8, 8])
        .weight("w", &[4, 3, 1, 1])
        .node("MysteryOp", "mystery", &["x"], &["m"], &[])
        .node("Conv", "conv", &["m", "w"], &["y"], &[])
        .output("y");
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "custom.onnx", &model.to_bytes());
    let error = failure(&["model", "--file", &file]);
    assert!(
        error.contains("node 'mystery' (MysteryOp)") && error.contains("onnxsim") && error.contains("'conv'"),
        "{error}"
    );
    // The same op after the last layer does not matter: 8·8·4 outputs × 3 = 768 MACs.
    let model = ModelBuilder::new("tail", 17)
        .input_fixed("x", &[1, 3, 8, 8])
        .weight("w", &[4, 3, 1, 1])
        .node("Conv", "conv", &["x", "w"], &["y"], &[])
        .node("MysteryOp", "mystery", &["y"], &["m"], &[])
        .output("m");
    let file = write(dir.path(), "tail.onnx", &model.to_bytes());
    assert_eq!(
        layers(&json(&["model", "--file", &file, "--json"])),
        expected(&[("conv", "pointwise", 768, 12)], 1)
    );
    // A shape the file declares that disagrees with convflops' inference is an error, not a silent choice.
    let model = plain_chain().value_info("c2", &[1, 16, 15, 15]);
    let file = write(dir.path(), "disagree.onnx", &model.to_bytes());
    let error = failure(&["model", "--file", &file]);
    assert!(error.contains("value_info") && error.contains("conv2"), "{error}");
}

#[test]
fn hostile_files_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = plain_chain().to_bytes();
    let mut cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("truncated.onnx", good[..good.len() / 2].to_vec(), vec!["truncated"]),
        ("empty.onnx", Vec::new(), vec!["not an ONNX model", "empty"]),
        (
            "png.onnx",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(),
            vec!["not an ONNX model", "89 50 4e 47"],
        ),
        (
            "text.onnx",
            b"{\"name\": \"x\", \"layers\": []}".to_vec(),
            vec!["not an ONNX model"],
        ),
    ];
    let cycle = ModelBuilder::new("cycle", 17)
        .input_fixed("x", &[1, 3, 8, 8])
        .weight("w", &[4, 3, 1, 1])
        .node("Add", "loop_a", &["x", "b"], &["a"], &[])
        .node("Relu", "loop_b", &["a"], &["b"], &[])
        .node("Conv", "conv", &["a", "w"], &["y"], &[])
        .output("y");
    cases.push(("cycle.onnx", cycle.to_bytes(), vec!["cycle", "loop_"]));
    let huge = convflops::models::onnx::builder::tensor_bytes("huge", &[1000, 1000, 1000], 1, &[0, 0, 0, 0]);
    let claimed = ModelBuilder::new("huge", 17)
        .input_fixed("x", &[1, 3, 8, 8])
        .raw_initializer(huge)
        .node("Conv", "conv", &["x", "huge"], &["y"], &[])
        .output("y");
    cases.push((
        "huge.onnx",
        claimed.to_bytes(),
        vec!["initializer 'huge'", "1000000000 elements", "holds 4"],
    ));
    let missing = ModelBuilder::new("missing", 17)
        .input_fixed("x", &[1, 3, 8, 8])
        .node("Conv", "conv", &["x", "w_gone"], &["y"], &[])
        .output("y");
    cases.push((
        "missing.onnx",
        missing.to_bytes(),
        vec!["'conv' (Conv)", "'w_gone'", "missing initializer"],
    ));
    for (rank, dims) in [(3usize, vec![1i64, 3, 8]), (5, vec![1, 3, 8, 8, 8])] {
        let mut w = vec![4i64, 3];
        w.extend(std::iter::repeat_n(3, rank - 2));
        let model = ModelBuilder::new("nd", 17)
            .input_fixed("x", &dims)
            .weight("w", &w)
            .node("Conv", "conv_nd", &["x", "w"], &["y"], &[])
            .output("y");
        let name = if rank == 3 { "conv1d.onnx" } else { "conv3d.onnx" };
        let what = if rank == 3 {
            "1-D convolution"
        } else {
            "3-D convolution"
        };
        cases.push((
            name,
            model.to_bytes(),
            vec!["'conv_nd' (Conv)", what, "2-D convolutions only"],
        ));
    }
    let transpose = ModelBuilder::new("deconv", 17)
        .input_fixed("x", &[1, 3, 8, 8])
        .weight("w", &[3, 4, 3, 3])
        .node("ConvTranspose", "up", &["x", "w"], &["y"], &[])
        .output("y");
    cases.push((
        "deconv.onnx",
        transpose.to_bytes(),
        vec!["'up' (ConvTranspose)", "missing from the total"],
    ));
    let nothing = ModelBuilder::new("relu", 17)
        .input_fixed("x", &[1, 3, 8, 8])
        .node("Relu", "r", &["x"], &["y"], &[])
        .output("y");
    cases.push(("relu.onnx", nothing.to_bytes(), vec!["nothing to count"]));
    for (name, bytes, needles) in cases {
        let file = write(dir.path(), name, &bytes);
        let error = failure(&["model", "--file", &file, "--json"]);
        assert!(error.contains(name), "{error}");
        for needle in needles {
            assert!(error.contains(needle), "{name}: {error} lacks {needle}");
        }
    }
}

#[test]
fn input_shape_is_for_onnx_files() {
    let dir = tempfile::tempdir().unwrap();
    let json_file = write(
        dir.path(),
        "net.json",
        br#"{"name": "t", "layers": [{"name": "a", "in_channels": 1, "out_channels": 1, "height": 4, "width": 4,
            "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0]}]}"#,
    );
    let error = failure(&["model", "--file", &json_file, "--input-shape", "1x1x4x4"]);
    assert!(error.contains("ONNX models only"), "{error}");
    let usage = convflops(&["model", "mobilenet-v1", "--input-shape", "1x3x224x224"]);
    assert_eq!(usage.status.code(), Some(2));
}

/// Quick sampling for the runs on the adapter: one warm-up, two samples, no minimum time.
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

#[test]
fn onnx_models_run_and_compare_on_the_adapter() {
    if common::vulkan().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let chain = write(dir.path(), "chain.onnx", &plain_chain().to_bytes());
    let shuffle = write(dir.path(), "shuffle.onnx", &shuffle().to_bytes());
    let mut args = vec!["model", "--file", chain.as_str(), "--run", "--json", "--batch", "2"];
    args.extend(QUICK);
    let run = json(&args);
    let counted = json(&["model", "--file", &chain, "--json", "--batch", "2"]);
    assert_eq!(run["totals"]["flops"], counted["totals"]["flops"]);
    let list = run["layers"].as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["conv1", "conv2", "fc"]);
    // Every layer's output was checked against the CPU reference (a mismatch fails the run).
    for layer in list {
        assert!(layer["checked_outputs"].as_u64().unwrap() > 0, "{layer}");
    }
    let mut args = vec!["model", "--compare", chain.as_str(), shuffle.as_str(), "--json"];
    args.extend(QUICK);
    let comparison = json(&args);
    assert_eq!(comparison["networks"][0]["model"], "chain", "{comparison}");
    assert_eq!(comparison["networks"][1]["model"], "shuffle", "{comparison}");
}
