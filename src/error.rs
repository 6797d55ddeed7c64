//! Typed errors of the library. The binary adds context with `anyhow`; every message names the argument or limit
//! a user can change.

use thiserror::Error;

/// A layer shape that does not describe a computable convolution.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ShapeError {
    #[error("--{argument} must be at least 1 (got 0)")]
    Zero { argument: &'static str },
    #[error("--groups {groups} must divide both --in-channels {in_channels} and --out-channels {out_channels}")]
    GroupsDoNotDivide {
        groups: u32,
        in_channels: u32,
        out_channels: u32,
    },
    #[error(
        "--{axis} {size} with padding {padding} is smaller than the dilated kernel ({kernel} taps, dilation {dilation}): \
         the output would be empty"
    )]
    EmptyOutput {
        axis: &'static str,
        size: u32,
        padding: u32,
        kernel: u32,
        dilation: u32,
    },
    #[error("the {what} tensor has {got} elements, the layer needs {expected}")]
    TensorLength {
        what: &'static str,
        expected: u64,
        got: u64,
    },
    #[error("the {what} count of this layer overflows 64 bits: reduce --batch, the channels or the spatial size")]
    Overflow { what: &'static str },
}
