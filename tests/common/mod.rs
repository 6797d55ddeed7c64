//! Shared helpers of the integration tests.
#![allow(dead_code)]

use std::process::{Command, Output};

use convflops::gpu::{AdapterChoice, GpuContext, GpuError};

/// True when CONVFLOPS_REQUIRE_ADAPTER=1: a GPU test without an adapter then fails instead of skipping.
pub fn adapter_required() -> bool {
    std::env::var("CONVFLOPS_REQUIRE_ADAPTER").is_ok_and(|v| v == "1")
}

/// A context on the adapter `choice` picks, or `None` (with a note) when there is none and none is required.
pub fn gpu(choice: AdapterChoice) -> Option<GpuContext> {
    match GpuContext::new(&choice) {
        Ok(ctx) => Some(ctx),
        Err(error @ (GpuError::NoAdapter | GpuError::AdapterNotFound { .. })) => {
            assert!(
                !adapter_required(),
                "CONVFLOPS_REQUIRE_ADAPTER=1 but no adapter for {choice:?}: {error}"
            );
            eprintln!("skipping: no adapter for {choice:?} ({error})");
            None
        }
        Err(error) => panic!("opening {choice:?} failed: {error}"),
    }
}

pub fn vulkan() -> Option<GpuContext> {
    gpu(AdapterChoice {
        backends: Some(wgpu::Backends::VULKAN),
        adapter: None,
        max_memory: None,
    })
}

pub fn gl() -> Option<GpuContext> {
    gpu(AdapterChoice {
        backends: Some(wgpu::Backends::GL),
        adapter: None,
        max_memory: None,
    })
}

/// Runs the binary with `args` (without `COLUMNS`, so tables keep every column).
pub fn convflops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_convflops"))
        .args(args)
        .env_remove("COLUMNS")
        .output()
        .expect("the binary runs")
}

/// Runs the binary with `args` and its cache folder (`CONVFLOPS_CACHE_DIR`) at `cache` (without `COLUMNS`).
pub fn convflops_cached(cache: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_convflops"))
        .args(args)
        .env_remove("COLUMNS")
        .env("CONVFLOPS_CACHE_DIR", cache)
        .output()
        .expect("the binary runs")
}

/// The JSON the binary prints with `args` and its cache folder at `cache`, asserting success.
pub fn json_cached(cache: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = convflops_cached(cache, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

/// The binary's stdout, asserting success.
pub fn stdout_of(args: &[&str]) -> String {
    let out = convflops(args);
    assert!(
        out.status.success(),
        "convflops {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Asserts that the binary fails cleanly with `code`, one "error:" line naming `needle`, and no panic.
pub fn fails_naming(args: &[&str], code: i32, needle: &str) {
    let out = convflops(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "convflops {args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "convflops {args:?} panicked: {stderr}");
    assert!(
        stderr.contains(needle),
        "convflops {args:?}: stderr does not name {needle:?}: {stderr}"
    );
}
