//! The export formats on a comparison with made-up times: parsed back, never timed.

use convflops::bench::{Measurement, Statistics};
use convflops::compare::{Comparison, ConvResult};
use convflops::cost::{ConvKind, LayerCost};
use convflops::export::{csv as csv_export, json, markdown, table};
use convflops::gpu::{AdapterSummary, TimerKind};
use convflops::layer::ConvLayer;
use convflops::reference::Agreement;

fn comparison(name: &str, software: bool, times: [f64; 4], timer: TimerKind) -> Comparison {
    let layer = ConvLayer {
        bias: true,
        ..ConvLayer::default()
    };
    let cost = LayerCost::of(&layer).unwrap();
    let adapter = AdapterSummary {
        device_type: if software { "CPU" } else { "discrete GPU" }.into(),
        software,
        driver: "drv".into(),
        driver_info: "1".into(),
        timestamps: timer == TimerKind::Timestamp,
        ..AdapterSummary::with_default_limits(name)
    };
    let results = ConvKind::ALL
        .into_iter()
        .zip(times)
        .map(|(kind, t)| {
            let gpu = Statistics::of(&[t, t * 1.5, t * 0.5, t]).unwrap();
            let wall = Statistics::of(&[t * 2.0]).unwrap();
            let gpu = (timer == TimerKind::Timestamp).then_some(gpu);
            ConvResult {
                kind,
                cost: *cost.get(kind),
                timer,
                measurement: Measurement {
                    gpu,
                    wall,
                    repetitions: 8,
                },
                check: Agreement {
                    max_abs_error: 1e-6,
                    ..Agreement::default()
                },
                checked_outputs: 512,
                kernel: "conv2d-vec4 (4px×8ch/wg64)".into(),
                dispatches: 1,
            }
        })
        .collect();
    Comparison {
        adapter,
        variant: convflops::gpu::Variant::Tiled,
        layer,
        cost,
        results,
        fused: None,
        ceilings: None,
        compile_s: vec![("standard (conv2d-cpu)".into(), 1.25)],
    }
}

#[test]
fn json_shape_and_arithmetic() {
    let c = comparison(
        "GPU \"quoted\", with comma",
        false,
        [4e-3, 1e-4, 6e-4, 8e-4],
        TimerKind::Timestamp,
    );
    let value: serde_json::Value =
        serde_json::from_str(&json::to_string(&json::CompareJson::from(&c)).unwrap()).unwrap();
    assert_eq!(value["adapter"]["name"], "GPU \"quoted\", with comma");
    assert_eq!(value["adapter"]["software"], false);
    // A generated kernel's compile time is reported, outside every timed sample.
    assert_eq!(value["compile_s"]["standard (conv2d-cpu)"], 1.25);
    assert_eq!(value["layer"]["bias"], true);
    assert_eq!(value["results"][0]["conv"], "standard");
    assert_eq!(value["results"][0]["flops"], 924_844_032u64);
    assert_eq!(value["results"][0]["timer"], "timestamp");
    assert_eq!(value["results"][0]["gpu_time_s"]["median"], 4e-3);
    assert_eq!(value["results"][0]["wall_time_s"]["median"], 8e-3);
    assert_eq!(value["results"][0]["flops_per_s"], 924_844_032.0 / 4e-3);
    assert_eq!(value["speedup"]["measured"], 5.0);
    assert_eq!(value["speedup"]["predicted_by_flops"], 924_844_032.0 / 104_566_784.0);
}

#[test]
fn wall_timer_reports_wall_time_as_the_quoted_time() {
    let c = comparison("CPU thing", true, [4e-3, 1e-4, 6e-4, 8e-4], TimerKind::Wall);
    let value: serde_json::Value =
        serde_json::from_str(&json::to_string(&json::CompareJson::from(&c)).unwrap()).unwrap();
    assert_eq!(value["results"][1]["timer"], "wall");
    assert_eq!(value["results"][1]["gpu_time_s"], value["results"][1]["wall_time_s"]);
    let text = table::compare(&c);
    assert!(text.contains("no timestamp queries"), "{text}");
    assert!(text.contains("time (wall, median)"), "{text}");
    assert!(text.contains("not GPU numbers"), "{text}");
}

#[test]
fn csv_round_trips_with_quoting() {
    let a = comparison(
        "GPU \"quoted\", with comma",
        false,
        [4e-3, 1e-4, 6e-4, 8e-4],
        TimerKind::Timestamp,
    );
    let b = comparison(
        "llvmpipe (LLVM 15, 256 bits)",
        true,
        [4.0, 1e-2, 6e-2, 8e-2],
        TimerKind::Timestamp,
    );
    let text = csv_export::to_string(&[a, b]).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), csv_export::HEADER);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 8);
    assert_eq!(&rows[0][0], "GPU \"quoted\", with comma");
    assert_eq!(&rows[4][0], "llvmpipe (LLVM 15, 256 bits)");
    assert_eq!(&rows[4][3], "true");
    assert_eq!(&rows[4][4], "standard");
    assert_eq!(rows[4][12].parse::<f64>().unwrap(), 4.0);
    assert_eq!(rows[1][11].parse::<u32>().unwrap(), 8);
}

#[test]
fn csv_carries_each_convs_launch_floor_and_whether_it_sat_near_it() {
    let mut c = comparison("llvmpipe", true, [4e-3, 1e-4, 6e-4, 30e-6], TimerKind::Timestamp);
    let empty = csv_export::to_string(std::slice::from_ref(&c)).unwrap();
    let column = |text: &str, name: &str| -> Vec<String> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let at = reader.headers().unwrap().iter().position(|h| h == name).unwrap();
        reader.records().map(|r| r.unwrap()[at].to_string()).collect()
    };
    // Without ceilings the columns are empty, not zero.
    assert!(column(&empty, "launch_floor_s").iter().all(String::is_empty));
    assert!(column(&empty, "launch_bound").iter().all(String::is_empty));
    // The fields a cached entry has (the optional ones default): 20 µs per dependent dispatch.
    let ceilings = serde_json::json!({
        "fma_flops_per_s": 100e9, "bandwidth_bytes_per_s": 10e9, "read_bytes_per_s": 10e9,
        "fma_variant": "", "bandwidth_buffer_bytes": 0, "timer": "timestamp",
        "launch": {"dispatch_s": 20e-6, "single_s": 40e-6, "dispatches_per_sample": 64, "timer": "timestamp"}
    });
    c.ceilings = Some(serde_json::from_value(ceilings).unwrap());
    let text = csv_export::to_string(std::slice::from_ref(&c)).unwrap();
    // One dispatch each: a 20 µs floor; the separable conv's 30 µs median is within 2× of it, the others are not.
    let floors: Vec<f64> = column(&text, "launch_floor_s")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(floors.iter().all(|f| (f - 20e-6).abs() < 1e-12), "{floors:?}");
    assert_eq!(column(&text, "launch_bound"), ["false", "false", "false", "true"]);
}

#[test]
fn markdown_and_table_name_rates_and_counts_apart() {
    let c = comparison("Card", false, [4e-3, 1e-4, 6e-4, 8e-4], TimerKind::Timestamp);
    let md = markdown::to_string(std::slice::from_ref(&c));
    assert!(md.starts_with("### Card · Vulkan · discrete GPU"), "{md}");
    assert!(md.contains("| standard | 925 MFLOPs | 462,422,016 |"), "{md}");
    assert!(md.contains("231 GFLOP/s"), "{md}");
    let text = table::compare(&c);
    assert!(text.contains("925 MFLOPs") && text.contains("231 GFLOP/s"), "{text}");
    assert!(text.contains("warning: standard: the samples spread"), "{text}");
    assert!(
        text.contains("Compiled at their first dispatch, outside every timed sample: standard (conv2d-cpu) 1.25 s"),
        "{text}"
    );
    let summary = table::compare_summary(&[c]);
    assert!(summary.contains("5.0×") && summary.contains("8.8×"), "{summary}");
}
