//! The GPU side: context (adapter and device), the kernel abstraction, the conv kernels built on it.

pub mod context;
pub mod conv;
pub mod kernel;
pub mod timer;

use thiserror::Error;

use crate::error::ShapeError;

pub use context::{AdapterChoice, AdapterSummary, GpuContext};
pub use conv::{ConvJob, ConvKernels, ShaderKind, Variant};
pub use timer::{PassTimer, TimerKind, Timing};

/// Everything that can go wrong on the GPU side, as values rather than panics.
#[derive(Debug, Error)]
pub enum GpuError {
    #[error(
        "no GPU adapter found. On Linux without a GPU, install Mesa's software Vulkan driver (lavapipe): \
         `sudo apt-get install mesa-vulkan-drivers`; check with `convflops devices`"
    )]
    NoAdapter,
    #[error("--adapter '{wanted}' matches no adapter; available: {available}")]
    AdapterNotFound { wanted: String, available: String },
    #[error("could not open a device on adapter '{adapter}': {message}")]
    RequestDevice { adapter: String, message: String },
    #[error("wgpu validation error during {during}: {message}")]
    Validation { during: String, message: String },
    #[error("the GPU ran out of memory during {during}: {message}")]
    OutOfMemory { during: String, message: String },
    #[error("the device on adapter '{adapter}' was lost: {reason}")]
    DeviceLost { adapter: String, reason: String },
    #[error("reading results back from the GPU failed: {0}")]
    Readback(String),
    #[error("{what} needs {needed}, above the adapter's {limit} of {available}")]
    Limit {
        what: String,
        needed: u64,
        limit: &'static str,
        available: u64,
    },
    #[error("the {shader} shader cannot run this layer: {reason}")]
    KernelDoesNotApply { shader: &'static str, reason: String },
    #[error("{what}: expected {expected} values, got {got}")]
    DataLength {
        what: &'static str,
        expected: u64,
        got: u64,
    },
    #[error(
        "the {conv} kernel's output disagrees with the CPU reference at {mismatches} of {checked} checked outputs: \
         its speed is not reported (run `convflops verify`)"
    )]
    WrongResult {
        conv: &'static str,
        mismatches: u64,
        checked: u64,
    },
    #[error(transparent)]
    Shape(#[from] ShapeError),
}
