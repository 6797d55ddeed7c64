//! The binary against generated hostile argument vectors: random subcommands (count, model, compare, run, verify,
//! explain, devices) with random flags and values (0, -1, huge numbers, 2^32, "NaN", "1x", "x3", empty strings,
//! unicode, paths that do not exist or are not files, …). Every run must end with exit code 0, 1 (an error) or 2
//! (usage), never panic, never die from a signal, and finish within 10 s.
//!
//! The generator is deterministic (a seed), and keeps GPU commands cheap: `compare` always gets `--samples 1
//! --min-time 0 --warmup 0` and a small layer for the flags it did not pick, a `compare` vector whose layer is valid
//! but heavy is drawn again, and `verify` runs at most 3 cases. `cargo test` runs a few hundred vectors; the
//! acceptance run of 10 000 is `#[ignore]`d: `bash tests/fuzz_args.sh` (or `CONVFLOPS_ARG_VECTORS=N cargo test
//! --test cli_robustness -- --ignored --nocapture`).
//!
//! Also here: the named-limit errors for requests far beyond an adapter (64 GiB, a 100 000 × 100 000 input,
//! 2^31 output channels, a memory budget), each in under a second.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Parser;
use cli::{Cli, Command as Subcommand};

/// The binary's command line, compiled into this test to tell heavy `compare` vectors from light ones.
#[allow(dead_code)]
#[path = "../src/cli.rs"]
mod cli;
use convflops::cost::Cost;
use convflops::gpu::{AdapterSummary, JobPlan, Variant};
use convflops::rng::SplitMix64;

/// A run slower than this is a failure.
const TIME_LIMIT: Duration = Duration::from_secs(10);

/// Numbers and near-numbers for count-like flags.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "7",
    "-1",
    "-0",
    "65535",
    "65536",
    "100000",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e9",
    "1.5",
    "0x10",
    "+3",
    "1_000",
    "",
    " ",
    "3 ",
    "\n",
    "٣",
    "３",
    "🦀",
    "abc",
    "-",
    "--",
];

/// Pair values (`K` or `KHxKW`) on top of [`NUMBERS`].
const PAIRS: &[&str] = &[
    "1x",
    "x3",
    "3x",
    "x",
    "3x5",
    "1x1",
    "0x0",
    "0x3",
    "3x0",
    "1x2x3",
    "3×3",
    "3X3",
    "4294967295x1",
    "1x4294967296",
    "65535x1",
    "1x65535",
    "100000x0",
    "0x100000",
    "2x-1",
    "NaNxNaN",
    "3x🦀",
];

const SIZES: &[&str] = &[
    "0",
    "1",
    "1KiB",
    "64k",
    "512MiB",
    "1.5GB",
    "2GiB",
    "64GiB",
    "16EiB",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "NaN",
    "1e9",
    "1..5G",
    ".5G",
    "",
    "GiB",
    "12 parsecs",
    "🦀",
];

const BACKENDS: &[&str] = &["vulkan", "gl", "metal", "dx12", "VULKAN", "cuda", "", "🦀"];
const ADAPTERS: &[&str] = &[
    "0",
    "1",
    "2",
    "99",
    "-1",
    "4294967296",
    "18446744073709551616",
    "llvmpipe",
    "LLVMPIPE",
    "no such adapter",
    "",
    "🦀",
];
const MODEL_NAMES: &[&str] = &[
    "mobilenet-v1",
    "conv-mobilenet-v1",
    "resnet-50",
    "",
    "MOBILENET-V1",
    "🦀",
    "-",
];
const SHADERS: &[&str] = &[
    "conv2d",
    "conv2d-tiled",
    "depthwise",
    "depthwise-tiled",
    "pointwise",
    "conv2d-vec4",
    "depthwise-vec4",
    "pointwise-vec4",
    "tiled",
    "",
    "🦀",
];
const VARIANTS: &[&str] = &["vec4", "tiled", "naive", "fast", ""];
const UNKNOWN_FLAGS: &[&str] = &[
    "--frobnicate",
    "-x",
    "--",
    "--size=3=4",
    "--batch=",
    "---batch",
    "--BATCH",
    "-",
];

const LAYER_FLAGS: &[&str] = &[
    "--batch",
    "--in-channels",
    "--out-channels",
    "--height",
    "--width",
    "--size",
    "--kernel-size",
    "--stride",
    "--padding",
    "--dilation",
    "--groups",
];

/// Files the vectors point at: valid ones, broken ones, and names that are not there.
struct Fixtures {
    dir: tempfile::TempDir,
}

impl Fixtures {
    fn new() -> Fixtures {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let p = |name: &str| dir.path().join(name);
        let data = |n: usize| (0..n).map(|i| (i % 7) as f32 - 3.0).collect::<Vec<f32>>();
        convflops::npy::write(&p("x.npy"), &[1, 2, 5, 5], &data(50)).expect("x.npy");
        convflops::npy::write(&p("w.npy"), &[2, 2, 3, 3], &data(36)).expect("w.npy");
        convflops::npy::write(&p("w_dw.npy"), &[2, 1, 3, 3], &data(18)).expect("w_dw.npy");
        convflops::npy::write(&p("w_1x1.npy"), &[3, 2, 1, 1], &data(6)).expect("w_1x1.npy");
        convflops::npy::write(&p("b.npy"), &[2], &data(2)).expect("b.npy");
        convflops::npy::write(&p("b3.npy"), &[3], &data(3)).expect("b3.npy");
        convflops::npy::write(&p("rank3.npy"), &[2, 5, 5], &data(50)).expect("rank3.npy");
        let mut nan = data(50);
        nan[0] = f32::NAN;
        nan[7] = f32::INFINITY;
        convflops::npy::write(&p("x_nan.npy"), &[1, 2, 5, 5], &nan).expect("x_nan.npy");
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967295, 4294967295, 1, 1), }";
        let mut huge = b"\x93NUMPY\x01\x00".to_vec();
        let text = format!("{header:<117}\n");
        huge.extend((text.len() as u16).to_le_bytes());
        huge.extend(text.as_bytes());
        std::fs::write(p("huge_header.npy"), huge).expect("huge_header.npy");
        std::fs::write(p("garbage.npy"), b"\x93NUMPY garbage").expect("garbage.npy");
        std::fs::write(p("empty"), b"").expect("empty");
        std::fs::write(
            p("net.json"),
            r#"{"name": "tiny", "layers": [{"name": "a", "in_channels": 2, "out_channels": 4, "height": 8,
                "width": 8, "kernel": [3, 3], "stride": [1, 1], "padding": [1, 1]}]}"#,
        )
        .expect("net.json");
        std::fs::write(
            p("net_huge.json"),
            r#"{"name": "huge", "layers": [{"name": "a", "in_channels": 4294967295, "out_channels": 4294967295,
                "height": 4294967295, "width": 4294967295, "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0]}]}"#,
        )
        .expect("net_huge.json");
        std::fs::write(p("net_bad.json"), r#"{"name": "x", "layers": [{"name": 7}"#).expect("net_bad.json");
        std::fs::create_dir(p("a_directory")).expect("a directory");
        Fixtures { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// An input path: mostly real files, sometimes hostile names.
    fn input(&self, rng: &mut SplitMix64, preferred: &[&str]) -> String {
        const OTHERS: &[&str] = &[
            "garbage.npy",
            "empty",
            "a_directory",
            "no_such_file.npy",
            "rank3.npy",
            "huge_header.npy",
            "x_nan.npy",
            "net.json",
        ];
        match rng.range(0, 9) {
            0..=5 => self.path(pick(rng, preferred)),
            6..=7 => self.path(pick(rng, OTHERS)),
            8 => pick(rng, &["", "/", "/dev/null", "/no/such/dir/x.npy", "🦀.npy", "-"]).to_string(),
            _ => self.path(&format!("{}/x.npy", pick(rng, &["a_directory", "missing_dir"]))),
        }
    }

    /// An output path: a fresh name in the fixture directory, or one that cannot be written.
    fn output(&self, rng: &mut SplitMix64, serial: usize) -> String {
        match rng.range(0, 7) {
            0..=4 => self.path(&format!("out_{serial}.bin")),
            5 => self.path("a_directory"),
            6 => "/no/such/dir/out.bin".to_string(),
            _ => "".to_string(),
        }
    }
}

fn pick<'a>(rng: &mut SplitMix64, items: &[&'a str]) -> &'a str {
    items[rng.range(0, items.len() as u32 - 1) as usize]
}

thread_local! {
    /// Half the vectors use only values that parse, so they get past clap into the commands' own checks; the
    /// other half use anything.
    static PARSEABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn parseable() -> bool {
    PARSEABLE.with(|p| p.get())
}

/// From `good` (values that parse) in a parseable vector, else from either list.
fn hostile<'a>(rng: &mut SplitMix64, good: &[&'a str], bad: &[&'a str]) -> &'a str {
    if parseable() || rng.chance(50) {
        pick(rng, good)
    } else {
        pick(rng, bad)
    }
}

/// Values that parse as u32 but are hostile: zero and the edges of the 16-, 31- and 32-bit ranges.
const EDGES: &[&str] = &[
    "0",
    "1",
    "65535",
    "65536",
    "100000",
    "2147483647",
    "2147483648",
    "4294967295",
];

/// A value for a count flag: a small valid number, a parseable edge value, or something that is not a u32.
fn number(rng: &mut SplitMix64) -> String {
    match rng.range(0, 99) {
        0..=29 => rng.range(1, 9).to_string(),
        30..=64 => pick(rng, EDGES).to_string(),
        _ if parseable() => pick(rng, EDGES).to_string(),
        _ => pick(rng, NUMBERS).to_string(),
    }
}

/// Pairs that parse: `K` or `KHxKW` with edge values.
const GOOD_PAIRS: &[&str] = &[
    "3x5",
    "1x1",
    "0x0",
    "0x3",
    "3x0",
    "3×3",
    "3X3",
    "4294967295x1",
    "1x4294967296",
    "65535x1",
    "1x65535",
    "100000x0",
    "0x100000",
];

fn pair(rng: &mut SplitMix64) -> String {
    if rng.chance(50) {
        hostile(rng, GOOD_PAIRS, PAIRS).to_string()
    } else {
        number(rng)
    }
}

fn layer_value(rng: &mut SplitMix64, flag: &str) -> String {
    match flag {
        "--kernel-size" | "--stride" | "--padding" | "--dilation" => pair(rng),
        _ => number(rng),
    }
}

/// Adds `count` distinct layer flags with hostile values; returns the flags used.
fn layer_flags(rng: &mut SplitMix64, args: &mut Vec<String>, count: u32) -> Vec<&'static str> {
    let mut used = Vec::new();
    for _ in 0..count {
        let flag = pick(rng, LAYER_FLAGS);
        if used.contains(&flag) && !rng.chance(10) {
            continue; // a repeated flag now and then: a usage error
        }
        used.push(flag);
        args.push(flag.to_string());
        args.push(layer_value(rng, flag));
    }
    if rng.chance(20) {
        args.push("--bias".into());
    }
    used
}

fn gpu_flags(rng: &mut SplitMix64, args: &mut Vec<String>) {
    if rng.chance(30) {
        args.extend([
            "--backend".to_string(),
            hostile(rng, &["vulkan", "gl", "metal", "dx12"], BACKENDS).to_string(),
        ]);
    }
    if rng.chance(25) {
        args.extend(["--adapter".to_string(), pick(rng, ADAPTERS).to_string()]);
    }
    if rng.chance(30) {
        let good = &[
            "0",
            "1",
            "1KiB",
            "64k",
            "512MiB",
            "1.5GB",
            "2GiB",
            "64GiB",
            "18446744073709551615",
        ];
        args.extend(["--max-memory".to_string(), hostile(rng, good, SIZES).to_string()]);
    }
}

/// Noise any vector may get: an unknown flag, a flag without its value, a stray positional.
fn noise(rng: &mut SplitMix64, args: &mut Vec<String>) {
    if parseable() {
        return;
    }
    match rng.range(0, 39) {
        0 => args.push(pick(rng, UNKNOWN_FLAGS).to_string()),
        1 => args.push("--batch".into()),
        2 => args.push(pick(rng, &["stray", "", "🦀", "-1"]).to_string()),
        3 => {
            let at = rng.range(0, args.len() as u32) as usize;
            args.insert(at, pick(rng, &["--json", "--help", "-h", "--version"]).to_string());
        }
        _ => {}
    }
}

/// lavapipe's limits, as `convflops devices` lists them.
fn lavapipe() -> AdapterSummary {
    AdapterSummary {
        device_type: "CPU".into(),
        software: true,
        max_buffer_size: 2 << 30,
        ..AdapterSummary::with_default_limits("llvmpipe (LLVM 15.0.6, 256 bits)")
    }
}

/// The multiply-adds `compare` would time, when the arguments parse and describe a layer that lavapipe's limits
/// let run (a layer beyond them is refused at once, so it is not heavy).
fn compare_macs(args: &[String]) -> Option<u64> {
    let cli = Cli::try_parse_from(std::iter::once("convflops".to_string()).chain(args.iter().cloned())).ok()?;
    let Some(Subcommand::Compare(compare)) = cli.command else {
        return None;
    };
    let layer = compare.layer.layer().validated().ok()?;
    for v in &compare.variant {
        // `auto` without a tuned choice: the adapter's default family.
        let variant = match v.resolve(&lavapipe()) {
            Variant::Auto => Variant::for_adapter(&lavapipe()),
            family => family,
        };
        for l in [layer, layer.depthwise(), layer.pointwise()] {
            JobPlan::new(&lavapipe(), &l, variant.shader_for(&l)).ok()?;
        }
    }
    let standard = Cost::of_layer(&layer).ok()?.macs;
    let separable = Cost::of_layer(&layer.depthwise()).ok()?.macs + Cost::of_layer(&layer.pointwise()).ok()?.macs;
    let adapters = if compare.all_adapters { 2 } else { 1 };
    // The pair, and the fused pair, per variant timed.
    Some((standard + 3 * separable) * adapters * compare.variant.len() as u64)
}

/// The most multiply-adds a generated `compare` may ask for: well under a second per conv on lavapipe.
const COMPARE_MACS: u64 = 60_000_000;

/// Vector number `serial` of the run seeded with `seed`.
fn vector(seed: u64, serial: usize, fixtures: &Fixtures) -> Vec<String> {
    let mut rng = SplitMix64::new(seed ^ (serial as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    PARSEABLE.with(|p| p.set(rng.chance(50)));
    loop {
        let args = draw(&mut rng, serial, fixtures);
        if args.first().map(String::as_str) != Some("compare") {
            return args;
        }
        // A compare that parses to a valid but heavy layer would time real work for seconds: draw again.
        match compare_macs(&args) {
            Some(macs) if macs > COMPARE_MACS => continue,
            _ => return args,
        }
    }
}

fn draw(rng: &mut SplitMix64, serial: usize, fixtures: &Fixtures) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    match rng.range(0, 99) {
        // count: pure arithmetic, so every flag is fair game.
        0..=21 => {
            args.push("count".into());
            let n = rng.range(0, 6);
            layer_flags(rng, &mut args, n);
            match rng.range(0, 4) {
                0 => args.push("--json".into()),
                1 => args.push("--explain".into()),
                2 => args.extend(["--json".into(), "--explain".into()]),
                _ => {}
            }
        }
        22..=35 => {
            args.push("model".into());
            match rng.range(0, 3) {
                0 | 1 => args.push(pick(rng, MODEL_NAMES).to_string()),
                2 => {
                    let file = fixtures.input(rng, &["net.json", "net_huge.json", "net_bad.json"]);
                    args.extend(["--file".into(), file]);
                }
                _ => {
                    let file = fixtures.input(rng, &["net.json"]);
                    args.extend([pick(rng, MODEL_NAMES).to_string(), "--file".into(), file]);
                }
            }
            if rng.chance(40) {
                args.extend(["--batch".into(), number(rng)]);
            }
            if rng.chance(25) {
                args.extend(["--export-layers".into(), fixtures.output(rng, serial)]);
            }
            if rng.chance(30) {
                args.push("--json".into());
            }
        }
        36..=57 => {
            args.push("compare".into());
            let n = rng.range(0, 4);
            let used = layer_flags(rng, &mut args, n);
            // A small layer for whatever was not picked, so a valid vector is quick.
            for (flag, value) in [
                ("--in-channels", "2"),
                ("--out-channels", "3"),
                ("--size", "5"),
                ("--batch", "1"),
            ] {
                if !used.contains(&flag)
                    && !(flag == "--size" && (used.contains(&"--height") || used.contains(&"--width")))
                {
                    args.extend([flag.to_string(), value.to_string()]);
                }
            }
            args.extend(["--samples", "1", "--min-time", "0", "--warmup", "0"].map(String::from));
            gpu_flags(rng, &mut args);
            if rng.chance(15) {
                args.extend([
                    "--variant".into(),
                    hostile(rng, &["vec4", "tiled", "naive"], VARIANTS).to_string(),
                ]);
            }
            if rng.chance(5) {
                args.push("--all-adapters".into());
            }
            if rng.chance(20) {
                args.push("--json".into());
            }
            for export in ["--export-json", "--export-csv", "--export-markdown"] {
                if rng.chance(10) {
                    args.extend([export.into(), fixtures.output(rng, serial)]);
                }
            }
        }
        58..=75 => {
            args.push("run".into());
            if rng.chance(95) {
                args.extend(["--input".into(), fixtures.input(rng, &["x.npy", "x_nan.npy"])]);
            }
            if rng.chance(95) {
                let weight = fixtures.input(rng, &["w.npy", "w_dw.npy", "w_1x1.npy"]);
                args.extend(["--weight".into(), weight]);
            }
            if rng.chance(30) {
                args.extend(["--bias".into(), fixtures.input(rng, &["b.npy", "b3.npy"])]);
            }
            if rng.chance(95) {
                args.extend(["--output".into(), fixtures.output(rng, serial)]);
            }
            for flag in ["--stride", "--padding", "--dilation"] {
                if rng.chance(30) {
                    args.extend([flag.into(), pair(rng)]);
                }
            }
            if rng.chance(30) {
                args.extend(["--groups".into(), number(rng)]);
            }
            if rng.chance(30) {
                args.extend(["--shader".into(), hostile(rng, &SHADERS[..5], SHADERS).to_string()]);
            }
            gpu_flags(rng, &mut args);
        }
        76..=83 => {
            args.push("verify".into());
            let cases = hostile(rng, &["0", "1", "2", "3"], &["-1", "NaN", "", "4294967296", "🦀"]);
            args.extend(["--cases".into(), cases.to_string()]);
            if rng.chance(60) {
                let seed = hostile(
                    rng,
                    &["0", "1", "18446744073709551615"],
                    &["18446744073709551616", "-1", "x", ""],
                );
                args.extend(["--seed".into(), seed.to_string()]);
            }
            gpu_flags(rng, &mut args);
        }
        84..=91 => {
            args.push("explain".into());
            gpu_flags(rng, &mut args);
        }
        92..=97 => {
            args.push("devices".into());
            gpu_flags(rng, &mut args);
            if rng.chance(50) {
                args.push("--json".into());
            }
        }
        // No subcommand or an unknown one: only flags that stop before any work.
        _ => {
            let first = pick(
                rng,
                &[
                    "--help",
                    "-h",
                    "--version",
                    "-V",
                    "frobnicate",
                    "COUNT",
                    "",
                    "🦀",
                    "--size",
                ],
            );
            args.push(first.to_string());
        }
    }
    noise(rng, &mut args);
    args
}

/// How one run ended.
#[derive(Debug)]
struct Outcome {
    code: Option<i32>,
    stderr: String,
    elapsed: Duration,
    timed_out: bool,
}

/// Runs the binary with `args`, killing it after [`TIME_LIMIT`].
fn run(args: &[String]) -> Outcome {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_convflops"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdout = child.stdout.take().expect("stdout pipe");
    let mut stderr = child.stderr.take().expect("stderr pipe");
    let drain_out = std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let drain_err = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the binary") {
            break status;
        }
        if start.elapsed() > TIME_LIMIT {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("reaping the killed binary");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let _ = drain_out.join();
    let stderr = drain_err.join().unwrap_or_default();
    Outcome {
        code: status.code(),
        stderr,
        elapsed,
        timed_out,
    }
}

/// Counts of a batch of runs.
#[derive(Debug, Default)]
struct Tally {
    runs: usize,
    exit0: usize,
    exit1: usize,
    exit2: usize,
    panics: usize,
    crashes: usize,
    timeouts: usize,
    slowest: Duration,
    failures: Vec<String>,
    /// Exit codes 0, 1, 2 per subcommand (the first argument).
    by_command: std::collections::BTreeMap<String, [usize; 3]>,
}

/// Runs vectors `0..count` of `seed` on `threads` threads. With `CONVFLOPS_ARG_LOG=FILE` every run is logged there
/// (exit code, seconds, arguments, last line of stderr).
fn run_vectors(seed: u64, count: usize, threads: usize) -> Tally {
    let fixtures = Fixtures::new();
    let log = std::env::var_os("CONVFLOPS_ARG_LOG").and_then(|path| std::fs::File::create(path).ok());
    let log = Mutex::new(log);
    let next = AtomicUsize::new(0);
    let tally = Mutex::new(Tally::default());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let serial = next.fetch_add(1, Ordering::SeqCst);
                if serial >= count {
                    break;
                }
                let args = vector(seed, serial, &fixtures);
                let outcome = run(&args);
                let panicked = outcome.stderr.contains("panicked") || outcome.stderr.contains("RUST_BACKTRACE");
                let crashed = !matches!(outcome.code, Some(0..=2));
                let unexplained = outcome.code == Some(1) && !outcome.stderr.contains("error:");
                if let Some(file) = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).as_mut() {
                    use std::io::Write;
                    let last = outcome.stderr.lines().last().unwrap_or_default();
                    let _ = writeln!(
                        file,
                        "{:?}\t{:.2}\t{args:?}\t{last}",
                        outcome.code,
                        outcome.elapsed.as_secs_f64()
                    );
                }
                let mut t = tally.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                t.runs += 1;
                let command = args.first().cloned().unwrap_or_default();
                let command = if ["count", "model", "compare", "run", "verify", "explain", "devices"]
                    .contains(&command.as_str())
                {
                    command
                } else {
                    "(other)".to_string()
                };
                if let Some(code @ 0..=2) = outcome.code {
                    t.by_command.entry(command).or_default()[code as usize] += 1;
                }
                match outcome.code {
                    Some(0) => t.exit0 += 1,
                    Some(1) => t.exit1 += 1,
                    Some(2) => t.exit2 += 1,
                    _ => {}
                }
                t.panics += usize::from(panicked);
                t.crashes += usize::from(crashed && !outcome.timed_out);
                t.timeouts += usize::from(outcome.timed_out);
                t.slowest = t.slowest.max(outcome.elapsed);
                if panicked || crashed || outcome.timed_out || unexplained {
                    t.failures.push(format!(
                        "vector {serial}: convflops {args:?} → exit {:?} in {:.1} s{}: {}",
                        outcome.code,
                        outcome.elapsed.as_secs_f64(),
                        if outcome.timed_out { " (killed: over 10 s)" } else { "" },
                        outcome.stderr.trim()
                    ));
                }
            });
        }
    });
    tally.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn report(tally: &Tally) -> String {
    let by_command: Vec<String> = tally
        .by_command
        .iter()
        .map(|(command, [ok, error, usage])| format!("{command} {ok}/{error}/{usage}"))
        .collect();
    format!(
        "{} vectors: {} exit 0, {} exit 1, {} exit 2; {} panics, {} crashes, {} runs over 10 s; slowest {:.2} s\n\
         exit 0/1/2 by command: {}",
        tally.runs,
        tally.exit0,
        tally.exit1,
        tally.exit2,
        tally.panics,
        tally.crashes,
        tally.timeouts,
        tally.slowest.as_secs_f64(),
        by_command.join(", ")
    )
}

fn assert_clean(tally: &Tally) {
    eprintln!("{}", report(tally));
    assert!(
        tally.failures.is_empty(),
        "{}\n{}",
        report(tally),
        tally.failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// A few hundred vectors, in every `cargo test`.
#[test]
fn hostile_argument_vectors() {
    let tally = run_vectors(0xC0FFEE, 300, 2);
    assert_clean(&tally);
    // The generator reaches every outcome: successes, errors and usage errors.
    assert!(
        tally.exit0 > 0 && tally.exit1 > 0 && tally.exit2 > 0,
        "{}",
        report(&tally)
    );
}

/// The acceptance run: 10 000 vectors (or `CONVFLOPS_ARG_VECTORS`), seed `CONVFLOPS_ARG_SEED` (default 1).
#[test]
#[ignore = "about 10 minutes on 2 cores; run with tests/fuzz_args.sh"]
fn ten_thousand_argument_vectors() {
    let count = std::env::var("CONVFLOPS_ARG_VECTORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let seed = std::env::var("CONVFLOPS_ARG_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let threads = std::env::var("CONVFLOPS_ARG_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let tally = run_vectors(seed, count, threads);
    assert_clean(&tally);
}

#[test]
fn the_generator_is_deterministic_and_keeps_compare_cheap() {
    let fixtures = Fixtures::new();
    for serial in 0..300 {
        let a = vector(7, serial, &fixtures);
        assert_eq!(a, vector(7, serial, &fixtures));
        if let Some(macs) = compare_macs(&a) {
            assert!(macs <= COMPARE_MACS, "{a:?}");
        }
    }
}

/// Runs `args`, asserting one named-limit error (exit 1, no panic) in under a second; returns stderr.
fn refused_quickly(args: &[&str], needles: &[&str]) -> String {
    if common::vulkan().is_none() {
        return String::new();
    }
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let outcome = run(&args);
    assert_eq!(outcome.code, Some(1), "convflops {args:?}: {}", outcome.stderr);
    assert!(!outcome.stderr.contains("panicked"), "{}", outcome.stderr);
    let errors: Vec<&str> = outcome.stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line: {}", outcome.stderr);
    for needle in needles {
        assert!(errors[0].contains(needle), "{needle:?} not in {}", errors[0]);
    }
    // Refused before any long work: no ceilings (the launch latency) measured first.
    assert!(!outcome.stderr.contains("measuring"), "{}", outcome.stderr);
    assert!(
        outcome.elapsed < Duration::from_secs(1),
        "convflops {args:?} took {:.2} s to refuse",
        outcome.elapsed.as_secs_f64()
    );
    outcome.stderr
}

#[test]
fn a_64_gib_request_is_refused_by_name() {
    // 64 × 4096 × 256 × 256 f32 = 64 GiB of input.
    refused_quickly(
        &[
            "compare",
            "--batch",
            "64",
            "--in-channels",
            "4096",
            "--size",
            "256",
            "--backend",
            "vulkan",
        ],
        &[
            "the input tensor needs 17,179,869,184 elements",
            "index range",
            "2,147,483,647",
        ],
    );
    // Within every index and buffer limit, but above the budget: named as --max-memory (the vec4 kernels' buffers).
    refused_quickly(
        &[
            "compare",
            "--backend",
            "vulkan",
            "--variant",
            "vec4",
            "--max-memory",
            "4MiB",
        ],
        &[
            "needs 11.9 MiB (12,511,484 bytes) of device memory",
            "--max-memory 4.00 MiB (4,194,304 bytes)",
        ],
    );
    // The cpu family's kernels also hold their textures (conv2d-lanes its weight, 1 152 × 512 texels, and
    // pointwise-lanes its weight, 128 × 512 texels, each in place of its weight buffer, a 1-element dummy).
    refused_quickly(
        &[
            "compare",
            "--backend",
            "vulkan",
            "--variant",
            "cpu",
            "--max-memory",
            "4MiB",
        ],
        &[
            "needs 11.9 MiB (12,511,492 bytes) of device memory",
            "--max-memory 4.00 MiB (4,194,304 bytes)",
        ],
    );
    refused_quickly(
        &[
            "compare",
            "--backend",
            "vulkan",
            "--max-memory",
            "64GiB",
            "--batch",
            "64",
            "--size",
            "64",
        ],
        &["the input buffer needs", "max_storage_buffer_binding_size"],
    );
}

#[test]
fn a_network_beyond_the_memory_budget_is_refused_before_any_measurement() {
    refused_quickly(
        &[
            "model",
            "mobilenet-v1",
            "--run",
            "--batch",
            "64",
            "--max-memory",
            "1MiB",
            "--backend",
            "vulkan",
        ],
        &[
            "running mobilenet-v1 (batch 64) layer by layer needs",
            "above --max-memory 1.00 MiB (1,048,576 bytes)",
        ],
    );
}

#[test]
fn a_100000_square_input_is_refused_by_name() {
    refused_quickly(
        &["compare", "--size", "100000", "--backend", "vulkan"],
        &[
            "the input tensor needs 5,120,000,000,000 elements",
            "index range",
            "2,147,483,647",
        ],
    );
}

#[test]
fn two_to_the_31_output_channels_are_refused_by_name() {
    refused_quickly(
        &["compare", "--out-channels", "2147483648", "--backend", "vulkan"],
        &["the weight tensor needs 9,895,604,649,984 elements", "index range"],
    );
    // Counting them is fine: counts are exact u64 arithmetic.
    let text = common::stdout_of(&["count", "--out-channels", "2147483648", "--json"]);
    assert!(text.contains("\"out_channels\": 2147483648"), "{text}");
}

#[test]
fn a_failed_run_leaves_no_export() {
    if common::vulkan().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let (json, csv) = (file("r.json"), file("r.csv"));
    common::fails_naming(
        &[
            "compare",
            "--backend",
            "vulkan",
            "--max-memory",
            "1KiB",
            "--export-json",
            &json,
            "--export-csv",
            &csv,
        ],
        1,
        "--max-memory",
    );
    assert!(std::fs::read_dir(dir.path()).expect("the directory").next().is_none());
    assert!(!Path::new(&json).exists());
}
