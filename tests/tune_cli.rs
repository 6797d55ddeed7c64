//! `convflops tune` and `compare --tune` end to end: every tuned family's kernel and every candidate tile runs and is
//! checked, the fastest tile per kernel and the fastest kernel per conv are cached per adapter and shape class, and
//! `compare` (auto) then runs the chosen kernels with those tiles. Timings are never asserted.

mod common;

use serde_json::Value;

use common::{convflops_cached as convflops, json_cached as json_of};

/// A small layer whose three convs all have vec4 kernels (H·W = 24, a multiple of 4; W = 6 is not).
const LAYER: [&str; 8] = [
    "--in-channels",
    "8",
    "--out-channels",
    "12",
    "--height",
    "4",
    "--width",
    "6",
];
const QUICK: [&str; 6] = ["--samples", "1", "--min-time", "0", "--warmup", "1"];

#[test]
fn tune_times_every_tile_and_caches_the_fastest() {
    if common::vulkan().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let args: Vec<&str> = ["tune", "--json"].iter().chain(&LAYER).chain(&QUICK).copied().collect();
    let tuned = json_of(cache.path(), &args);
    let kernels = tuned["kernels"].as_array().unwrap();
    let names: Vec<&str> = kernels.iter().map(|k| k["kernel"].as_str().unwrap()).collect();
    // Per conv, the kernel of each tuned family: vec4 and cpu.
    assert_eq!(
        names,
        [
            "conv2d-vec4",
            "conv2d-lanes",
            "depthwise-vec4",
            "depthwise-cpu",
            "pointwise-vec4",
            "pointwise-lanes"
        ]
    );
    for k in kernels {
        let candidates = k["candidates"].as_array().unwrap();
        let tunable = k["family"] == "vec4";
        if tunable {
            assert!(candidates.len() >= 12, "{}: {} tiles", k["kernel"], candidates.len());
        } else {
            assert_eq!(candidates.len(), 1, "{}: one candidate, no tile", k["kernel"]);
            assert_eq!(k["default_tile"], "generated per layer");
        }
        let best = k["best_tile"].as_str().unwrap();
        let fastest = candidates
            .iter()
            .min_by(|a, b| {
                a["median_s"]
                    .as_f64()
                    .unwrap()
                    .total_cmp(&b["median_s"].as_f64().unwrap())
            })
            .unwrap();
        assert_eq!(fastest["tile"].as_str().unwrap(), best);
        assert!(candidates.iter().all(|c| c["median_s"].as_f64().unwrap() > 0.0));
        assert!(candidates.iter().any(|c| c["tile"] == k["default_tile"]));
        assert!(k["speedup_over_default"].as_f64().unwrap() >= 1.0);
        assert!(k["shape_class"]
            .as_str()
            .unwrap()
            .starts_with(k["kernel"].as_str().unwrap()));
    }
    // One choice per conv: the fastest kernel of those tried on it.
    let choices = tuned["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    for (choice, conv) in choices.iter().zip(["standard", "depthwise", "pointwise"]) {
        assert_eq!(choice["conv"], conv);
        let fastest = kernels
            .iter()
            .filter(|k| k["conv"] == conv)
            .flat_map(|k| k["candidates"].as_array().unwrap())
            .map(|c| c["median_s"].as_f64().unwrap())
            .fold(f64::INFINITY, f64::min);
        assert_eq!(choice["median_s"].as_f64().unwrap(), fastest);
        assert!(choice["shape_class"].as_str().unwrap().starts_with(conv));
    }
    let entries = |key: &str| -> usize {
        let file = tuned[key].as_str().expect("cached");
        let cached: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let adapter = cached.as_object().unwrap().values().next().unwrap();
        adapter.as_object().unwrap().len()
    };
    assert_eq!(entries("cache_file"), 3, "one tile per tunable kernel's shape class");
    assert_eq!(entries("kernels_file"), 3, "one kernel per conv shape class");

    // compare (auto) runs each conv on the chosen kernel, with the cached tile, and names it in every result.
    let args: Vec<&str> = ["compare", "--json"]
        .iter()
        .chain(&LAYER)
        .chain(&QUICK)
        .copied()
        .collect();
    let compared = json_of(cache.path(), &args);
    assert_eq!(compared["variant"], "auto");
    let results = compared["results"].as_array().unwrap();
    for (result, choice) in results.iter().zip(choices) {
        let expected = format!(
            "{} ({})",
            choice["kernel"].as_str().unwrap(),
            choice["tile"].as_str().unwrap_or("generated per layer")
        );
        assert_eq!(result["kernel"].as_str().unwrap(), expected);
    }
    assert!(
        results[3]["kernel"].as_str().unwrap().contains(" + "),
        "the separable pair names both kernels"
    );
}

#[test]
fn tune_no_store_and_layers_without_vec4_kernels() {
    if common::vulkan().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    // A 7×7 plane (49 pixels) has no vec4 kernel: the tiled fallback is set against the cpu family, no tile is
    // tuned, and with --no-store nothing is cached.
    let out = convflops(
        cache.path(),
        &[
            "tune",
            "--no-store",
            "--size",
            "7",
            "--in-channels",
            "4",
            "--out-channels",
            "4",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("conv2d-tiled") && text.contains("conv2d-lanes"), "{text}");
    assert!(!text.contains("-vec4"), "{text}");
    assert!(text.contains("Chosen per conv"), "{text}");
    assert!(text.contains("Nothing cached"), "{text}");
    assert!(!cache.path().join("tiles.json").exists());
    assert!(!cache.path().join("kernels.json").exists());
    // Bad sampling settings name the flag.
    let out = convflops(cache.path(), &["tune", "--samples", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("samples"));
}

#[test]
fn compare_tune_tunes_then_compares() {
    if common::vulkan().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let args: Vec<&str> = ["compare", "--tune", "--json"]
        .iter()
        .chain(&LAYER)
        .chain(&QUICK)
        .copied()
        .collect();
    let compared = json_of(cache.path(), &args);
    assert_eq!(compared["results"].as_array().unwrap().len(), 4);
    assert!(cache.path().join("tiles.json").exists());
    assert!(cache.path().join("kernels.json").exists());
}
