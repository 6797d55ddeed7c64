//! The ONNX reader and shape inference (`convflops model --file NET.onnx`) on arbitrary bytes, at batch sizes 1
//! and 2^32 − 1: it returns a network or an error, never panics, and never allocates more than the input's size
//! (lengths are checked against the bytes that remain). A network it accepts can be counted without panicking and
//! written in the JSON layer format, which reads back the same when its layers share one batch.
#![no_main]

use std::path::Path;

use convflops::models::{self, onnx, Report};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    for batch in [1, u32::MAX] {
        if let Ok(network) = onnx::parse(bytes, "fuzz", batch, None) {
            let _ = Report::of(&network);
            // The layer file has one batch for all layers: round trip when the graph kept it uniform.
            let first = network.layers[0].layer.batch;
            if network.layers.iter().all(|l| l.layer.batch == first) {
                let written = network.to_file_json().expect("serialising an accepted network");
                let again = models::parse(&written, Path::new("fuzz.json"), first).expect("reading back");
                assert_eq!(again, network);
            }
        }
    }
});
