//! The .npy reader on arbitrary bytes: it returns a tensor or an error, never panics, and never allocates more than
//! the bytes it was given justify. A tensor it accepts survives a write-and-read round trip unchanged.
#![no_main]

use std::path::Path;

use convflops::npy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let path = Path::new("fuzz.npy");
    let _ = npy::parse_header(bytes);
    for rank in [0, 1, 4] {
        if let Ok(tensor) = npy::parse(bytes, path, rank, "[fuzz]") {
            let encoded = npy::encode(&tensor.shape, &tensor.data).expect("encoding an accepted tensor");
            let again = npy::parse(&encoded, path, rank, "[fuzz]").expect("reading back an accepted tensor");
            assert_eq!(again.shape, tensor.shape);
            let bits = |data: &[f32]| data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&again.data), bits(&tensor.data));
        }
    }
});
