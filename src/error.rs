//! Typed errors of the library. The binary adds context with `anyhow`; every message names the field or limit a
//! user can change.

use thiserror::Error;

/// A field of a conv layer, named as `ConvLayer` (and the JSON layer file) names it. The binary
/// spells it as its flag, the layer-file reader as its JSON key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Batch,
    InChannels,
    OutChannels,
    Height,
    Width,
    Kernel,
    Stride,
    Padding,
    Dilation,
    Groups,
}

impl Field {
    /// The field's name: `in_channels`, `kernel`, ….
    pub fn name(self) -> &'static str {
        match self {
            Field::Batch => "batch",
            Field::InChannels => "in_channels",
            Field::OutChannels => "out_channels",
            Field::Height => "height",
            Field::Width => "width",
            Field::Kernel => "kernel",
            Field::Stride => "stride",
            Field::Padding => "padding",
            Field::Dilation => "dilation",
            Field::Groups => "groups",
        }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A layer shape that does not describe a computable convolution. Messages name the layer's fields; the binary
/// rewords them with its flags.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ShapeError {
    #[error("{field} must be at least 1 (got 0)")]
    Zero { field: Field },
    #[error("groups {groups} must divide both in_channels {in_channels} and out_channels {out_channels}")]
    GroupsDoNotDivide {
        groups: u32,
        in_channels: u32,
        out_channels: u32,
    },
    /// `axis` is [`Field::Height`] or [`Field::Width`].
    #[error(
        "{axis} {size} with padding {padding} is smaller than the dilated kernel ({kernel} taps, dilation {dilation}): \
         the output would be empty"
    )]
    EmptyOutput {
        axis: Field,
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
    #[error("the {what} count of this layer overflows 64 bits: reduce the batch, the channels or the spatial size")]
    Overflow { what: &'static str },
}
