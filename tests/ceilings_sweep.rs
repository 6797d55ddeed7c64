//! `peak`, the roofline columns of `compare`, `sweep` and the charts, end to end on whatever adapter exists.
//! Timings are never asserted; shapes, arithmetic and files are.

mod common;

use serde_json::Value;

use common::{convflops_cached as convflops, json_cached as json_of};

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let word = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (word(16), word(20))
}

const QUICK: [&str; 6] = ["--samples", "2", "--min-time", "0", "--warmup", "1"];

#[test]
fn peak_is_cached_and_feeds_the_roofline() {
    if common::vulkan().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path();
    let peak = json_of(cache, &["peak", "--json", "--backend", "vulkan"]);
    let fma = peak["fma_flops_per_s"].as_f64().unwrap();
    let bw = peak["bandwidth_bytes_per_s"].as_f64().unwrap();
    assert!(fma > 0.0 && bw > 0.0, "{peak}");
    assert!((peak["ridge_flops_per_byte"].as_f64().unwrap() - fma / bw).abs() <= 1e-9 * fma / bw);
    assert_eq!(peak["cached"], false);
    assert!(peak["adapter"]["name"].is_string());
    assert!(cache.join("ceilings.json").exists());
    let again = json_of(cache, &["peak", "--json", "--backend", "vulkan"]);
    assert_eq!(again["cached"], true);
    assert_eq!(again["fma_flops_per_s"], peak["fma_flops_per_s"]);

    // The launch latency: positive, below a generous second, with its timer; the same from the cache.
    let launch = &peak["launch"];
    for key in ["dispatch_s", "single_s"] {
        let s = launch[key].as_f64().unwrap();
        assert!(s > 0.0 && s < 1.0, "{key}: {launch}");
    }
    assert!(launch["dispatches_per_sample"].as_u64().unwrap() >= 1, "{launch}");
    let timer = launch["timer"].as_str().unwrap();
    assert!(timer == "timestamp" || timer == "wall", "{launch}");
    assert_eq!(peak["launch_factor"], 2.0);
    assert_eq!(again["launch"], peak["launch"]);
    let text = String::from_utf8(convflops(cache, &["peak", "--backend", "vulkan"]).stdout).unwrap();
    assert!(text.contains("launch latency (dependent)"), "{text}");

    // An entry cached before the launch latency existed still serves: peak measures the launch latency alone,
    // keeps the other ceilings and writes the entry back with it.
    let file = cache.join("ceilings.json");
    let mut entries: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    for entry in entries.as_object_mut().unwrap().values_mut() {
        entry.as_object_mut().unwrap().remove("launch");
    }
    std::fs::write(&file, serde_json::to_string(&entries).unwrap()).unwrap();
    let old = json_of(cache, &["peak", "--json", "--backend", "vulkan"]);
    assert_eq!(old["cached"], true);
    assert_eq!(old["fma_flops_per_s"], peak["fma_flops_per_s"]);
    assert!(old["launch"]["dispatch_s"].as_f64().unwrap() > 0.0, "{old}");
    assert!(std::fs::read_to_string(&file).unwrap().contains("dispatch_s"));

    // compare picks the cached ceilings up and places each conv on the roofline.
    let svg = cache.join("roof.svg");
    let svg_arg = svg.to_string_lossy().into_owned();
    let mut args = vec![
        "compare",
        "--json",
        "--backend",
        "vulkan",
        "--in-channels",
        "16",
        "--out-channels",
        "32",
    ];
    args.extend(QUICK);
    args.extend(["--roofline", svg_arg.as_str()]);
    let compare = json_of(cache, &args);
    assert_eq!(compare["ceilings"]["fma_flops_per_s"], peak["fma_flops_per_s"]);
    for r in compare["results"].as_array().unwrap() {
        let rate = r["flops_per_s"].as_f64().unwrap();
        let intensity = r["arithmetic_intensity"].as_f64().unwrap();
        // The bound is FLOPs over the longest of the launch floor, FLOPs at the peak and bytes at the bandwidth.
        let flops = r["flops"].as_f64().unwrap();
        let launch = flops / r["launch_floor_s"].as_f64().unwrap();
        let roof = (bw * intensity).min(fma);
        let bound = roof.min(launch);
        let kind = if launch < roof {
            "launch"
        } else if bw * intensity < fma {
            "memory"
        } else {
            "compute"
        };
        let time = r["gpu_time_s"]["median"].as_f64().unwrap();
        let floor = r["launch_floor_s"].as_f64().unwrap();
        assert_eq!(r["launch_bound"], time <= 2.0 * floor, "{r}");
        assert_eq!(r["bound"], kind, "{r}");
        assert!(
            (r["percent_of_peak"].as_f64().unwrap() - 100.0 * rate / fma).abs() < 1e-6,
            "{r}"
        );
        assert!(
            (r["percent_of_roofline"].as_f64().unwrap() - 100.0 * rate / bound).abs() < 1e-6,
            "{r}"
        );
    }
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "an SVG file");
    for label in ["standard", "depthwise", "pointwise", "separable", "roofline:", "peak "] {
        assert!(text.contains(label), "the roofline chart shows {label}");
    }
}

#[test]
fn compare_without_ceilings_says_how_to_get_them() {
    if common::vulkan().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let mut args = vec![
        "compare",
        "--backend",
        "vulkan",
        "--in-channels",
        "8",
        "--out-channels",
        "8",
    ];
    args.extend(QUICK);
    let out = convflops(cache.path(), &args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("convflops peak"), "{text}");
    let mut json_args = args.clone();
    json_args.push("--json");
    let value = json_of(cache.path(), &json_args);
    assert!(value["ceilings"].is_null());
    assert!(value["results"][0]["percent_of_peak"].is_null());
    let roof = cache.path().join("r.svg");
    args.extend(["--roofline", roof.to_str().unwrap()]);
    let out = convflops(cache.path(), &args);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("convflops peak"));
    assert!(!roof.exists());
}

#[test]
fn sweep_tables_exports_and_plots() {
    if common::vulkan().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let (svg, png, csv_path, json_path) = (path("p.svg"), path("p.png"), path("s.csv"), path("s.json"));
    let (svg_s, png_s, csv_s, json_s) = (
        svg.to_string_lossy().into_owned(),
        png.to_string_lossy().into_owned(),
        csv_path.to_string_lossy().into_owned(),
        json_path.to_string_lossy().into_owned(),
    );
    let mut args = vec![
        "sweep",
        "--vary",
        "out-channels=8,16,32",
        "--in-channels",
        "8",
        "--size",
        "10",
        "--backend",
        "vulkan",
    ];
    args.extend(QUICK);
    let mut with_svg = args.clone();
    with_svg.extend([
        "--plot",
        svg_s.as_str(),
        "--export-csv",
        csv_s.as_str(),
        "--export-json",
        json_s.as_str(),
    ]);
    let out = convflops(dir.path(), &with_svg);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("out-channels") && text.contains("FLOPs ratio") && text.contains("time ratio"),
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("│ 8 ") || l.starts_with("│ 16 ") || l.starts_with("│ 32 "))
            .count(),
        3,
        "{text}"
    );

    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg"));
    for series in [
        "standard (measured)",
        "separable (measured)",
        "time if every FLOP cost the same",
    ] {
        assert!(chart.contains(series), "the chart has {series}");
    }
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().take(2).collect::<Vec<_>>(),
        ["vary", "value"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    // Four convs per value, plus the fused pair where the vec4 kernels run it.
    let fused = rows.iter().filter(|r| &r[6] == "separable (fused)").count();
    assert_eq!(rows.len(), 3 * 4 + fused);
    assert!(fused <= 3);
    let mut values: Vec<&str> = rows.iter().map(|r| &r[1]).collect();
    values.dedup();
    assert_eq!(values.len(), 3, "each value's rows are together: {values:?}");
    assert_eq!(values[1], "16");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(json["vary"], "out-channels");
    let points = json["points"].as_array().unwrap();
    assert_eq!(
        points.iter().map(|p| p["value"].as_u64().unwrap()).collect::<Vec<_>>(),
        [8, 16, 32]
    );
    assert_eq!(points[2]["comparison"]["layer"]["out_channels"], 32);

    let mut with_png = args.clone();
    with_png.extend(["--plot", png_s.as_str()]);
    let out = convflops(dir.path(), &with_png);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(png_size(&std::fs::read(&png).unwrap()), (1024, 640));
}

#[test]
fn bad_sweeps_are_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    for (args, code, needle) in [
        (vec!["sweep", "--vary", "colour=1,2"], 2, "--vary"),
        (vec!["sweep", "--vary", "size=0..4"], 2, "--vary"),
        (vec!["sweep", "--vary", "size=1..1000:1"], 2, "at most 64"),
        (vec!["sweep", "--vary", "size=1,2", "--padding", "0"], 1, "--height"),
        (
            vec!["sweep", "--vary", "out-channels=8", "--plot", "chart.gif"],
            1,
            "--plot chart.gif",
        ),
        (vec!["compare", "--roofline", "roof.jpeg"], 1, "--roofline roof.jpeg"),
    ] {
        let out = convflops(dir.path(), &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}
