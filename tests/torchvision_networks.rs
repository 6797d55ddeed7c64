//! The built-in torchvision networks (`mobilenet-v2`, `resnet-18`, `efficientnet-b0`) against figures that do not
//! come from their Rust tables:
//! - tests/data/torchvision_layers.json: every Conv2d and Linear that torchvision 0.29.2's own model code calls on a
//!   1×3×224×224 input, recorded by tests/torchvision_reference.py (torchvision's model files run on a shape-only
//!   stand-in for torch; its parameter count equals torchvision's published `num_params` for all three);
//! - torchvision's published weights metadata (`num_params`, `_ops` in GMACs), written here as literals;
//! - MobileNetV2's conv MACs from PyTorch forward hooks (299,494,272, quoted in issue 13).
//!
//! Through the binary: `model NAME --json`, `--export-layers` then `--file`, and `--run` on lavapipe.

mod common;

use serde_json::Value;

const NETWORKS: [&str; 3] = ["mobilenet-v2", "resnet-18", "efficientnet-b0"];

/// What torchvision publishes for each network in its `*_Weights.IMAGENET1K_V1.meta`: `num_params` (all
/// parameters, batch-norm weights and biases included) and `_ops` (GMACs at 224×224, in thousandths).
const PUBLISHED: [(&str, u64, u64); 3] = [
    ("mobilenet-v2", 3_504_872, 301),
    ("resnet-18", 11_689_512, 1_814),
    ("efficientnet-b0", 5_288_548, 386),
];

fn reference() -> Value {
    serde_json::from_str(include_str!("data/torchvision_layers.json")).unwrap()
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&common::stdout_of(args)).unwrap()
}

fn is_classifier(layer: &Value) -> bool {
    let name = layer["name"].as_str().unwrap();
    name == "fc" || name.starts_with("classifier.")
}

fn sum(layers: &[&Value], key: &str) -> u64 {
    layers.iter().map(|l| l[key].as_u64().unwrap()).sum()
}

/// Every layer, in forward order, has torchvision's name, shape, hyper-parameters, bias and MACs.
#[test]
fn every_layer_is_torchvisions() {
    let reference = reference();
    let dir = tempfile::tempdir().unwrap();
    for name in NETWORKS {
        let file = dir.path().join(format!("{name}.json"));
        common::stdout_of(&["model", name, "--export-layers", file.to_str().unwrap()]);
        let exported: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let counted = json(&["model", name, "--json"]);
        let ours = exported["layers"].as_array().unwrap();
        let theirs = reference[name]["layers"].as_array().unwrap();
        assert_eq!(ours.len(), theirs.len(), "{name}");
        for ((layer, counts), torch) in ours.iter().zip(counted["layers"].as_array().unwrap()).zip(theirs) {
            for key in [
                "name",
                "in_channels",
                "out_channels",
                "height",
                "width",
                "kernel",
                "stride",
                "padding",
                "dilation",
                "groups",
                "bias",
            ] {
                assert_eq!(layer[key], torch[key], "{name} {}: {key}", torch["name"]);
            }
            assert_eq!(counts["macs"], torch["macs"], "{name} {}", torch["name"]);
            assert_eq!(counts["batch"], 1);
        }
    }
}

/// Conv counts, MACs and parameters against the independent figures.
#[test]
fn totals_match_torchvision() {
    // (network, convs, conv MACs, classifier MACs, conv + classifier parameters). The MACs are PyTorch's hook
    // convention (C_in/groups · kh · kw per output, the bias not a MAC); with the bias as one more MAC per output
    // the 1280 → 1000 classifier is the 1,281,000 some counters print.
    let expected: [(&str, usize, u64, u64, u64); 3] = [
        ("mobilenet-v2", 52, 299_494_272, 1_280_000, 3_470_760),
        ("resnet-18", 20, 1_813_561_344, 512_000, 11_679_912),
        ("efficientnet-b0", 81, 384_534_752, 1_280_000, 5_246_532),
    ];
    let reference = reference();
    for ((name, convs, conv_macs, fc_macs, params), (published_name, num_params, gmacs_thousandths)) in
        expected.into_iter().zip(PUBLISHED)
    {
        assert_eq!(name, published_name);
        // The recorded forward pass agrees with these figures and with the published parameter count.
        let torch = &reference[name];
        assert_eq!(torch["convs"].as_u64(), Some(convs as u64), "{name}");
        assert_eq!(torch["conv_macs"].as_u64(), Some(conv_macs), "{name}");
        assert_eq!(torch["linear_macs"].as_u64(), Some(fc_macs), "{name}");
        assert_eq!(torch["conv_and_linear_params"].as_u64(), Some(params), "{name}");
        assert_eq!(torch["all_params"].as_u64(), Some(num_params), "{name}");

        let report = json(&["model", name, "--json"]);
        assert_eq!(report["model"], name);
        let layers: Vec<&Value> = report["layers"].as_array().unwrap().iter().collect();
        let (fc, conv): (Vec<&Value>, Vec<&Value>) = layers.iter().partition(|l| is_classifier(l));
        assert_eq!((conv.len(), fc.len()), (convs, 1), "{name}");
        assert_eq!(sum(&conv, "macs"), conv_macs, "{name}");
        assert_eq!(sum(&fc, "macs"), fc_macs, "{name}");
        let totals = &report["totals"];
        assert_eq!(totals["macs"].as_u64(), Some(conv_macs + fc_macs), "{name}");
        assert_eq!(totals["params"].as_u64(), Some(params), "{name}");
        assert_eq!(totals["flops"].as_u64(), Some(2 * (conv_macs + fc_macs)), "{name}");

        // Every bias-less conv is followed by a BatchNorm2d (a weight and a bias per channel): with those, the
        // parameters are torchvision's published `num_params`.
        let batch_norm: u64 = layers
            .iter()
            .filter(|l| l["bias"] == false)
            .map(|l| 2 * l["out_channels"].as_u64().unwrap())
            .sum();
        assert_eq!(params + batch_norm, num_params, "{name}");
        // The published GMACs, to the thousandth it is printed with.
        let total = conv_macs + fc_macs;
        assert_eq!((total + 500_000) / 1_000_000, gmacs_thousandths, "{name}: {total}");
    }
}

/// The structure the issue names: ResNet-18's 7×7 stride-2 stem and 1×1 stride-2 downsamples, EfficientNet-B0's
/// 5×5 and stride-2 depthwise convs and its squeeze-excitation convs on 1×1 inputs with bias, the classifiers'
/// bias, and the by-kind sums.
#[test]
fn the_shapes_the_issue_names() {
    let resnet = json(&["model", "resnet-18", "--json"]);
    let stem = &resnet["layers"][0];
    assert_eq!(
        (
            &stem["kernel"],
            &stem["stride"],
            &stem["padding"],
            stem["out_height"].as_u64()
        ),
        (
            &serde_json::json!([7, 7]),
            &serde_json::json!([2, 2]),
            &serde_json::json!([3, 3]),
            Some(112)
        )
    );
    let downsamples: Vec<&Value> = resnet["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["name"].as_str().unwrap().ends_with("downsample.0"))
        .collect();
    assert_eq!(downsamples.len(), 3);
    for d in downsamples {
        assert_eq!(
            (&d["kernel"], &d["stride"]),
            (&serde_json::json!([1, 1]), &serde_json::json!([2, 2]))
        );
        assert_eq!(d["kind"], "pointwise");
    }
    assert_eq!(resnet["layers"][20]["name"], "fc");
    assert_eq!(resnet["layers"][20]["bias"], true);
    assert_eq!(resnet["layers"][20]["params"], 513_000);

    let efficientnet = json(&["model", "efficientnet-b0", "--json"]);
    let layers = efficientnet["layers"].as_array().unwrap();
    let depthwise: Vec<&Value> = layers.iter().filter(|l| l["kind"] == "depthwise").collect();
    assert_eq!(depthwise.len(), 16);
    let count = |k: u64, s: u64| {
        depthwise
            .iter()
            .filter(|l| l["kernel"][0] == k && l["stride"][0] == s)
            .count()
    };
    // Stages 3, 5 and 6 are 5×5 (2 + 3 + 4 blocks); stages 2, 3, 4 and 6 start with stride 2.
    assert_eq!((count(3, 1), count(3, 2), count(5, 1), count(5, 2)), (5, 2, 7, 2));
    let se: Vec<&Value> = layers
        .iter()
        .filter(|l| l["name"].as_str().unwrap().contains(".fc"))
        .collect();
    assert_eq!(se.len(), 32);
    for l in &se {
        assert_eq!((l["height"].as_u64(), l["width"].as_u64()), (Some(1), Some(1)), "{l}");
        assert_eq!(
            (&l["bias"], &l["kind"]),
            (&Value::Bool(true), &Value::from("fc")),
            "{l}"
        );
    }
    assert_eq!(efficientnet["by_kind"]["fc"]["macs"], sum(&se, "macs") + 1_280_000);
}

/// `--export-layers` then `--file` gives the same report, at another batch size too.
#[test]
fn export_then_file_gives_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    for name in NETWORKS {
        let file = dir.path().join(format!("{name}.json"));
        let path = file.to_str().unwrap();
        common::stdout_of(&["model", name, "--export-layers", path]);
        for batch in ["1", "3"] {
            assert_eq!(
                common::stdout_of(&["model", name, "--json", "--batch", batch]),
                common::stdout_of(&["model", "--file", path, "--json", "--batch", batch]),
                "{name}"
            );
        }
        let three = json(&["model", name, "--json", "--batch", "3"]);
        let one = json(&["model", name, "--json"]);
        assert_eq!(
            three["totals"]["macs"].as_u64().unwrap(),
            3 * one["totals"]["macs"].as_u64().unwrap()
        );
    }
}

/// Each network runs on lavapipe with every layer checked against the CPU reference, and the run's FLOPs are the
/// counted ones. Timings are not asserted. ResNet-18 runs on the default kernels (`auto`: the cpu family on
/// lavapipe, one generated kernel per layer shape); the other two on the fixed vec4 family, because Mesa compiles
/// each generated shape for seconds on a cold shader cache (the three on the cpu family took 27 min cold on 2
/// cores); the cpu family's kernels on those networks' shapes are checked in tests/gpu_kernels.rs.
#[test]
fn each_network_runs_on_the_adapter() {
    if common::vulkan().is_none() {
        return;
    }
    for name in NETWORKS {
        let variant = if name == "resnet-18" { "auto" } else { "vec4" };
        let run = json(&[
            "model",
            name,
            "--run",
            "--json",
            "--variant",
            variant,
            "--backend",
            "vulkan",
            "--warmup",
            "1",
            "--samples",
            "2",
            "--min-time",
            "0",
        ]);
        let counted = json(&["model", name, "--json"]);
        let layers = run["layers"].as_array().unwrap();
        assert_eq!(layers.len(), counted["layers"].as_array().unwrap().len(), "{name}");
        for (ran, count) in layers.iter().zip(counted["layers"].as_array().unwrap()) {
            assert_eq!(ran["name"], count["name"]);
            assert_eq!(ran["flops"], count["flops"], "{name} {}", ran["name"]);
            assert!(ran["checked_outputs"].as_u64().unwrap() > 0, "{name} {}", ran["name"]);
        }
        assert_eq!(run["totals"]["flops"], counted["totals"]["flops"], "{name}");
    }
}

/// docs/networks.md lists every built-in once, with the MACs and params the binary counts.
#[test]
fn the_docs_table_matches_the_counts() {
    let doc = include_str!("../docs/networks.md");
    let number = |cell: &str| -> u64 {
        let digits: String = cell
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ',')
            .filter(char::is_ascii_digit)
            .collect();
        digits.parse().unwrap_or_else(|_| panic!("no number in {cell:?}"))
    };
    let mut listed = Vec::new();
    for row in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').collect();
        let name = cells[1].trim().trim_matches('`');
        let report = json(&["model", name, "--json"]);
        let layers = report["layers"].as_array().unwrap();
        let convs = layers.iter().filter(|l| !is_classifier(l)).count() as u64;
        assert_eq!(number(cells[2]), convs, "{name}: {row}");
        assert_eq!(
            number(cells[3]),
            report["totals"]["macs"].as_u64().unwrap(),
            "{name}: {row}"
        );
        assert_eq!(
            number(cells[4]),
            report["totals"]["params"].as_u64().unwrap(),
            "{name}: {row}"
        );
        listed.push(name.to_string());
    }
    let builtins = convflops::models::BUILTIN_NAMES.map(String::from);
    assert_eq!(listed, builtins);
}
