//! The layer-file parser (`convflops model --file`) on arbitrary text, at batch sizes 1 and 2^32 − 1: it returns a
//! network or an error naming the file, never panics. A network it accepts can be counted without panicking, and
//! written back in the file format it reads the same.
#![no_main]

use std::path::Path;

use convflops::models::{self, Report};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let path = Path::new("fuzz.json");
    for batch in [1, u32::MAX] {
        match models::parse(text, path, batch) {
            Ok(network) => {
                let _ = Report::of(&network);
                let written = network.to_file_json().expect("serialising an accepted network");
                let again = models::parse(&written, path, batch).expect("reading back an accepted network");
                assert_eq!(again, network);
            }
            Err(error) => assert!(error.to_string().contains("fuzz.json") || error.to_string().contains("--batch")),
        }
    }
});
