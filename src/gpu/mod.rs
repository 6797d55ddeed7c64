//! The GPU side: context (adapter and device), the kernel abstraction, the conv kernels built on it.

pub mod context;
pub mod conv;
pub mod cpu;
pub mod fused;
pub mod gemv;
pub mod kernel;
pub mod kernels;
pub mod lanes;
pub mod timer;

use thiserror::Error;

use crate::error::ShapeError;
use crate::units::{bytes_exact, group_digits};

pub use context::{AdapterChoice, AdapterSummary, GpuContext, MemoryBudget, Reservation};
pub use conv::{ConvJob, ConvKernels, JobPlan};
pub use fused::{FusedJob, FusedSeparable};
pub use kernels::{ShaderKind, Variant};
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
    #[error("{what} needs {}, above the adapter's {limit} of {}", group_digits(*needed), group_digits(*available))]
    Limit {
        what: String,
        needed: u64,
        limit: &'static str,
        available: u64,
    },
    /// A buffer larger than one of the adapter's size limits (`max_storage_buffer_binding_size`, `max_buffer_size`).
    #[error(
        "{what} needs {}, above the adapter's {limit} of {}: reduce --batch, the channels or the size",
        bytes_exact(*needed),
        bytes_exact(*available)
    )]
    BufferLimit {
        what: String,
        needed: u64,
        limit: &'static str,
        available: u64,
    },
    /// A tensor or coordinate beyond the integer range the WGSL kernels compute in (u32 indices, i32 coordinates).
    #[error(
        "{what} needs {} {unit}, beyond the WGSL kernels' {range} of {} {unit}",
        group_digits(*needed),
        group_digits(*available)
    )]
    ShaderRange {
        what: String,
        needed: u64,
        unit: &'static str,
        range: &'static str,
        available: u64,
    },
    /// More loop iterations per invocation than llvmpipe runs before it cuts a shader's loops short.
    #[error(
        "the {shader} kernel needs {} loop steps per invocation on this layer (C_in/groups · (1 + kh · (1 + kw))), \
         above the {} that llvmpipe computes correctly: it ends a shader's loops after 65,535 iterations and returns \
         partial sums. Reduce --in-channels or the kernel size, or use a GPU adapter",
        group_digits(*needed),
        group_digits(*available)
    )]
    LoopLimit {
        shader: &'static str,
        needed: u64,
        available: u64,
    },
    /// More device memory than the budget (`--max-memory`, or the default for the adapter type).
    #[error(
        "{what} needs {} of device memory{}, above {}",
        bytes_exact(*needed),
        if *in_use > 0 { format!(" on top of {} already held", bytes_exact(*in_use)) } else { String::new() },
        match default_for {
            Some(kind) => format!("the default budget of {} on {kind}: raise it with --max-memory", bytes_exact(*budget)),
            None => format!("--max-memory {}", bytes_exact(*budget)),
        }
    )]
    MemoryBudget {
        what: String,
        needed: u64,
        in_use: u64,
        budget: u64,
        /// `Some("CPU adapters")` when the budget is the default, `None` when `--max-memory` set it.
        default_for: Option<&'static str>,
    },
    #[error("the {shader} shader cannot run this layer: {reason}")]
    KernelDoesNotApply { shader: &'static str, reason: String },
    #[error("{what}: expected {expected} values, got {got}")]
    DataLength {
        what: &'static str,
        expected: u64,
        got: u64,
    },
    /// `conv` names the conv or its kernel; a name with "fused" in it is the fused separable kernel.
    #[error(
        "the {conv} output disagrees with the CPU reference at {mismatches} of {checked} checked outputs: its speed \
         is not reported ({})",
        if conv.contains("fused") {
            "the fused separable kernel, which `convflops verify` does not run; `--variant tiled` avoids it"
        } else {
            "`convflops verify` checks every unfused kernel on random layers"
        }
    )]
    WrongResult {
        conv: &'static str,
        mismatches: u64,
        checked: u64,
    },
    #[error(transparent)]
    Shape(#[from] ShapeError),
}
