//! `convflops count` end to end.

mod common;
use common::{fails_naming, stdout_of};

#[test]
fn table3_layer_by_default() {
    let text = stdout_of(&["count"]);
    assert!(text.contains("462,422,016"), "{text}");
    assert!(text.contains("2,359,296"), "{text}");
    assert!(text.contains("52,283,392"), "{text}");
    assert!(text.contains("266,752"), "{text}");
    assert!(text.contains("1/512 + 1/9 = 0.1131"), "{text}");
}

#[test]
fn json_has_the_documented_shape() {
    let value: serde_json::Value =
        serde_json::from_str(&stdout_of(&["count", "--json", "--bias", "--stride", "2"])).unwrap();
    let layer = &value["layer"];
    for key in [
        "batch",
        "in_channels",
        "out_channels",
        "height",
        "width",
        "groups",
        "out_height",
        "out_width",
    ] {
        assert!(layer[key].is_u64(), "layer.{key}: {layer}");
    }
    assert_eq!(layer["kernel"], serde_json::json!([3, 3]));
    assert_eq!(layer["stride"], serde_json::json!([2, 2]));
    assert_eq!(layer["padding"], serde_json::json!([1, 1]));
    assert_eq!(layer["dilation"], serde_json::json!([1, 1]));
    assert_eq!(layer["bias"], serde_json::json!(true));
    assert_eq!(layer["out_height"], 7);
    for conv in ["standard", "depthwise", "pointwise", "separable"] {
        for key in ["params", "macs", "flops", "flops_exact", "outputs", "bytes"] {
            assert!(value[conv][key].is_u64(), "{conv}.{key}: {value}");
        }
        assert_eq!(
            value[conv]["flops"].as_u64().unwrap(),
            2 * value[conv]["macs"].as_u64().unwrap()
        );
    }
    assert_eq!(value["standard"]["params"], 512 * 512 * 9 + 512);
    assert_eq!(value["separable"]["params"], 512 * 9 + 512 + 512 * 512 + 512);
}

#[test]
fn explain_walks_through_the_formulas() {
    let text = stdout_of(&[
        "count",
        "--explain",
        "--in-channels",
        "3",
        "--out-channels",
        "8",
        "--size",
        "5",
        "--padding",
        "0",
    ]);
    assert!(text.contains("3·3·3·8 = 216"), "{text}");
    assert!(text.contains("(2·27 − 1)·72 = 3,816"), "{text}");
    assert!(text.contains("1/8 + 1/9"), "{text}");
}

#[test]
fn bad_input_names_the_argument() {
    fails_naming(&["count", "--in-channels", "0"], 1, "--in-channels");
    fails_naming(&["count", "--stride", "0"], 1, "--stride");
    fails_naming(&["count", "--groups", "3"], 1, "--groups");
    fails_naming(&["count", "--size", "2", "--padding", "0"], 1, "--height");
    fails_naming(&["count", "--kernel-size", "3x40", "--padding", "1"], 1, "--width");
    fails_naming(&["count", "--batch", "abc"], 2, "--batch");
    fails_naming(&["count", "--kernel-size", "3x"], 2, "--kernel-size");
    fails_naming(&["count", "--out-channels=-1"], 2, "--out-channels");
    fails_naming(
        &[
            "count",
            "--batch",
            "4294967295",
            "--in-channels",
            "4294967295",
            "--out-channels",
            "4294967295",
        ],
        1,
        "overflow",
    );
}
