//! The one measure-and-check path of `compare` (and so `sweep`), `tune` and `model --run`: a conv's job is built
//! and its data uploaded ([`prepare`], also the way `verify`, `run` and `explain` build theirs), its dispatches timed in one pass per sample ([`time`]), its output read
//! back and checked against the CPU reference on sampled values ([`read_and_check`]), and a disagreement becomes
//! [`GpuError::WrongResult`] ([`Checked::passed`]), so a broken kernel cannot report a speed.

use crate::bench::{self, BenchSettings, Measurement};
use crate::gpu::{ConvJob, ConvKernels, GpuContext, GpuError, PassTimer, ShaderKind};
use crate::layer::ConvLayer;
use crate::reference::{self, sample_indices, Agreement, CHECKED_OUTPUTS};
use crate::rng::SplitMix64;

/// Where a job's input comes from.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// Host data, uploaded into the job's own input buffer.
    Data(&'a [f32]),
    /// Another job's buffer on the device (the previous layer's output, or a shared input).
    Buffer(&'a wgpu::Buffer),
}

/// Builds `layer`'s job on the `shader` kernel and uploads its data: its input (when it has its own buffer), its
/// weight and its bias.
pub fn prepare(
    ctx: &GpuContext,
    kernels: &ConvKernels,
    layer: &ConvLayer,
    shader: ShaderKind,
    input: Input<'_>,
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Result<ConvJob, GpuError> {
    let (data, buffer) = match input {
        Input::Data(data) => (Some(data), None),
        Input::Buffer(buffer) => (None, Some(buffer)),
    };
    let job = ConvJob::new(ctx, kernels, layer, shader, buffer)?;
    job.upload(ctx, data, weight, bias)?;
    Ok(job)
}

/// Times what `encode` records: `repetitions` back-to-back copies of it in one compute pass per sample, as
/// [`bench::measure`] asks.
pub fn time(
    ctx: &GpuContext,
    timer: &PassTimer,
    settings: &BenchSettings,
    encode: impl Fn(&mut wgpu::ComputePass<'_>),
) -> Result<Measurement, GpuError> {
    bench::measure(settings, |repetitions| {
        timer.time_pass(ctx, |pass| {
            for _ in 0..repetitions {
                encode(pass);
            }
        })
    })
}

/// A job's output as read back, and how it agrees with the CPU reference on the sampled outputs.
#[derive(Debug, Clone)]
pub struct Checked {
    pub output: Vec<f32>,
    pub agreement: Agreement,
    /// How many outputs were sampled and checked.
    pub checked: usize,
}

impl Checked {
    /// The agreement, or the wrong-result error naming `conv` when a sampled output disagrees.
    pub fn passed(&self, conv: &'static str) -> Result<Agreement, GpuError> {
        require(conv, self.agreement, self.checked)
    }
}

/// `agreement` over `checked` sampled outputs, or the wrong-result error naming `conv` when one disagrees.
pub fn require(conv: &'static str, agreement: Agreement, checked: usize) -> Result<Agreement, GpuError> {
    if agreement.passed() {
        Ok(agreement)
    } else {
        Err(GpuError::WrongResult {
            conv,
            mismatches: agreement.mismatches,
            checked: checked as u64,
        })
    }
}

/// Reads `job`'s output back and compares up to [`CHECKED_OUTPUTS`] outputs, sampled with `rng`, with the CPU
/// reference computed from `input` (what the job read: its uploaded data, or the previous job's output as read
/// back), `weight` and `bias`. A length that does not match the layer is an error; a disagreement is not (see
/// [`Checked::passed`]), so that a chain can still hand the output on.
pub fn read_and_check(
    ctx: &GpuContext,
    job: &ConvJob,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    rng: &mut SplitMix64,
) -> Result<Checked, GpuError> {
    let output = job.read_output(ctx)?;
    let expected_input = job.layer.input_len().unwrap_or(u64::MAX);
    if input.len() as u64 != expected_input {
        return Err(GpuError::DataLength {
            what: "input for the CPU reference",
            expected: expected_input,
            got: input.len() as u64,
        });
    }
    let expected_output = job.layer.output_len().unwrap_or(u64::MAX);
    if output.len() as u64 != expected_output {
        return Err(GpuError::DataLength {
            what: "output as read back",
            expected: expected_output,
            got: output.len() as u64,
        });
    }
    let indices = sample_indices(output.len(), CHECKED_OUTPUTS, rng);
    let agreement = reference::compare_at(&job.layer, &output, input, weight, bias, &indices);
    Ok(Checked {
        output,
        agreement,
        checked: indices.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disagreement_is_the_wrong_result_error_with_the_checked_count() {
        let good = Agreement::default();
        assert!(require("standard", good, 12).is_ok());
        let bad = Agreement {
            mismatches: 3,
            ..Agreement::default()
        };
        match require("pointwise", bad, 40) {
            Err(GpuError::WrongResult {
                conv,
                mismatches,
                checked,
            }) => assert_eq!((conv, mismatches, checked), ("pointwise", 3, 40)),
            other => panic!("expected WrongResult, got {other:?}"),
        }
    }
}
