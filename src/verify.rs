//! `convflops verify`: random layers through every kernel that applies, compared with the CPU reference.

use std::collections::BTreeMap;

use crate::gpu::{ConvKernels, GpuContext, GpuError, ShaderKind};
use crate::layer::{output_size, ConvLayer};
use crate::measure;
use crate::reference::{self, Agreement};
use crate::rng::SplitMix64;

/// A random layer in the ranges `verify` covers: batch 1–2, channels 1–64, sizes 1–40, kernel 1–7, stride 1–3,
/// padding 0–3, dilation 1–3, with and without bias. Six flavours, equally likely, so every kernel gets many
/// cases: depthwise (any kernel); pointwise; the vec4 standard conv's shape (3 wide, stride 1) and the vec4
/// depthwise shape (3×3, stride 1, padding 1), both with H·W a multiple of 4; and two of grouped convs with groups
/// among the common divisors. A third of the cases are depthwise, a sixth pointwise (more, by chance, from the
/// others).
pub fn random_layer(rng: &mut SplitMix64) -> ConvLayer {
    loop {
        let flavour = rng.range(0, 5);
        let mut layer = ConvLayer {
            batch: rng.range(1, 2),
            in_channels: rng.range(1, 64),
            out_channels: rng.range(1, 64),
            height: rng.range(1, 40),
            width: rng.range(1, 40),
            kernel: [rng.range(1, 7), rng.range(1, 7)],
            stride: [rng.range(1, 3), rng.range(1, 3)],
            padding: [rng.range(0, 3), rng.range(0, 3)],
            dilation: [rng.range(1, 3), rng.range(1, 3)],
            groups: 1,
            bias: rng.chance(50),
        };
        match flavour {
            0 => {
                layer.out_channels = layer.in_channels;
                layer.groups = layer.in_channels;
            }
            1 => {
                layer.kernel = [1, 1];
                layer.stride = [1, 1];
                layer.padding = [0, 0];
                // Two in five of them on a 1×1 (a fully connected layer) or a 2×2 plane (one vec4 group): the GEMV's
                // shapes; the rest keep planes up to 40×40 for the GEMM kernels.
                if rng.chance(40) {
                    layer.height = rng.range(1, 2);
                    layer.width = layer.height;
                }
            }
            // The shapes of the vec4 kernels: 3 wide with stride 1 ("same" along x, any height, padding and
            // dilation along y), and depthwise 3×3; H·W a multiple of 4, made so through H or through W.
            3 | 4 => {
                layer.kernel[1] = 3;
                layer.stride = [1, 1];
                layer.padding[1] = 1;
                layer.dilation[1] = 1;
                if flavour == 4 {
                    layer.kernel = [3, 3];
                    layer.padding = [1, 1];
                    layer.dilation = [1, 1];
                    layer.out_channels = layer.in_channels;
                    layer.groups = layer.in_channels;
                } else if rng.chance(50) {
                    layer.kernel[0] = 2 * rng.range(0, 3) + 1;
                    layer.padding[0] = layer.dilation[0] * (layer.kernel[0] - 1) / 2;
                } else if rng.chance(70) {
                    // conv2d-lanes' shapes: 3×3 undilated, at least 16 input channels, W a multiple of 4, planes
                    // small enough for the work bound below.
                    layer.kernel[0] = 3;
                    layer.padding[0] = layer.padding[0].min(2);
                    layer.dilation[0] = 1;
                    layer.in_channels = layer.in_channels.max(16);
                    layer.height = layer.height.min(12);
                    layer.width = layer.width.min(12).next_multiple_of(4);
                }
                if !(layer.height * layer.width).is_multiple_of(4) {
                    if rng.chance(50) {
                        layer.height = layer.height.next_multiple_of(4);
                    } else {
                        layer.width = layer.width.next_multiple_of(4);
                    }
                }
            }
            _ => {
                let divisors: Vec<u32> = (1..=layer.in_channels)
                    .filter(|&g| layer.in_channels.is_multiple_of(g) && layer.out_channels.is_multiple_of(g))
                    .collect();
                layer.groups = divisors[rng.range(0, divisors.len() as u32 - 1) as usize];
            }
        }
        // Keep each case small enough for a CPU reference in debug builds.
        let work = layer
            .output_len()
            .unwrap_or(u64::MAX)
            .saturating_mul(u64::from(layer.in_channels_per_group()) * layer.kernel_area());
        let fits = (0..2).all(|a| {
            let size = if a == 0 { layer.height } else { layer.width };
            output_size(
                size,
                layer.kernel[a],
                layer.stride[a],
                layer.padding[a],
                layer.dilation[a],
            )
            .is_some()
        });
        if fits && work <= 4_000_000 && layer.validated().is_ok() {
            return layer;
        }
    }
}

/// The result of one kernel on one layer.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub layer: ConvLayer,
    pub shader: ShaderKind,
    pub agreement: Agreement,
}

/// Random input, weight and bias for `layer`.
pub fn random_tensors(layer: &ConvLayer, rng: &mut SplitMix64) -> (Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
    let size = |n: Option<u64>| n.and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
    let input = rng.fill(size(layer.input_len()));
    let weight = rng.fill(size(layer.weight_len()));
    let bias = layer.bias.then(|| rng.fill(layer.bias_len() as usize));
    (input, weight, bias)
}

/// Runs `layer` with the given data through `shader` and compares with the reference.
pub fn check_layer(
    ctx: &GpuContext,
    kernels: &ConvKernels,
    layer: &ConvLayer,
    shader: ShaderKind,
    data: (&[f32], &[f32], Option<&[f32]>),
    expected: &reference::Reference,
) -> Result<Agreement, GpuError> {
    let (input, weight, bias) = data;
    let job = measure::prepare(ctx, kernels, layer, shader, measure::Input::Data(input), weight, bias)?;
    job.run(ctx, kernels)?;
    let output = job.read_output(ctx)?;
    Ok(reference::compare(layer, &output, expected))
}

/// Which cases the generated kernels (the cpu and gpu families) run on: each case compiles them anew for its shape,
/// 1–4 s per kernel on llvmpipe with a warm machine and far more on a cold shader cache, while a fixed kernel compiles
/// once. A generated kernel runs on every `every`-th case (the `every`-th, 2·`every`-th, …) where it applies, until it
/// has run `at_most` cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratedShare {
    pub every: u32,
    pub at_most: u32,
}

impl GeneratedShare {
    /// What `convflops verify` runs: every 5th case, no cap.
    pub const DEFAULT: GeneratedShare = GeneratedShare {
        every: 5,
        at_most: u32::MAX,
    };

    fn runs(self, case: u32, already: u32) -> bool {
        let every = self.every.max(1);
        case % every == every - 1 && already < self.at_most
    }
}

/// `cases` random layers (from `seed`) through every applicable kernel, the generated ones on the cases
/// [`GeneratedShare::DEFAULT`] gives them. `progress` is called after each case.
pub fn run(
    ctx: &GpuContext,
    cases: u32,
    seed: u64,
    progress: impl FnMut(u32, &[CaseResult]),
) -> Result<Vec<CaseResult>, GpuError> {
    run_with(ctx, cases, seed, GeneratedShare::DEFAULT, progress)
}

/// [`run`] with the generated kernels' share of the cases chosen by the caller.
pub fn run_with(
    ctx: &GpuContext,
    cases: u32,
    seed: u64,
    generated: GeneratedShare,
    mut progress: impl FnMut(u32, &[CaseResult]),
) -> Result<Vec<CaseResult>, GpuError> {
    let kernels = ConvKernels::new(ctx)?;
    let mut rng = SplitMix64::new(seed);
    let mut results = Vec::new();
    let mut generated_runs: BTreeMap<ShaderKind, u32> = BTreeMap::new();
    for case in 0..cases {
        let layer = random_layer(&mut rng);
        let (input, weight, bias) = random_tensors(&layer, &mut rng);
        let expected = reference::conv2d(&layer, &input, &weight, bias.as_deref())?;
        let start = results.len();
        for shader in ShaderKind::applicable(&layer) {
            if shader.is_generated() {
                let already = generated_runs.entry(shader).or_default();
                if !generated.runs(case, *already) {
                    continue;
                }
                *already += 1;
            }
            let agreement = check_layer(
                ctx,
                &kernels,
                &layer,
                shader,
                (&input, &weight, bias.as_deref()),
                &expected,
            )?;
            results.push(CaseResult {
                layer,
                shader,
                agreement,
            });
        }
        progress(case, &results[start..]);
    }
    Ok(results)
}

/// Per kernel: cases run and the worst agreement.
pub fn summarize(results: &[CaseResult]) -> BTreeMap<&'static str, (u32, Agreement)> {
    let mut summary: BTreeMap<&'static str, (u32, Agreement)> = BTreeMap::new();
    for result in results {
        let entry = summary.entry(result.shader.name()).or_default();
        entry.0 += 1;
        entry.1 = entry.1.merge(result.agreement);
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_layers_are_valid_and_cover_every_kernel() {
        let mut rng = SplitMix64::new(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..300 {
            let layer = random_layer(&mut rng);
            assert!(layer.validated().is_ok());
            assert!((1..=2).contains(&layer.batch) && (1..=64).contains(&layer.in_channels));
            seen.extend(ShaderKind::applicable(&layer));
        }
        assert_eq!(seen.len(), ShaderKind::ALL.len());
    }

    #[test]
    fn generated_share_picks_every_nth_case_up_to_its_cap() {
        let share = GeneratedShare { every: 5, at_most: 2 };
        let picked: Vec<u32> = (0..20).filter(|&case| share.runs(case, 0)).collect();
        assert_eq!(picked, [4, 9, 14, 19]);
        assert!(share.runs(4, 1) && !share.runs(4, 2));
        let all = GeneratedShare { every: 1, at_most: 3 };
        assert!((0..10).all(|case| all.runs(case, 2)) && !all.runs(0, 3));
        // every = 0 is read as 1, not a division by zero.
        assert!(GeneratedShare { every: 0, at_most: 1 }.runs(7, 0));
    }

    /// What tests/gpu_kernels.rs asserts on the adapters, checked here without one: with its seeds and caps
    /// (200 cases; seed 1 on Vulkan, each generated kernel on its first 6 cases; seed 2 on GL, none), every generated
    /// kernel reaches its cap and every fixed kernel runs more than 10 cases; and `convflops verify`'s default
    /// share runs every generated kernel in 200 cases.
    #[test]
    fn the_seeds_of_the_gpu_tests_reach_every_kernel_often_enough() {
        let capped = |at_most| GeneratedShare { every: 1, at_most };
        for (seed, share) in [(1, capped(6)), (2, capped(0)), (1, GeneratedShare::DEFAULT)] {
            let mut rng = SplitMix64::new(seed);
            let mut counts: BTreeMap<ShaderKind, u32> = BTreeMap::new();
            for case in 0..200 {
                let layer = random_layer(&mut rng);
                let _ = random_tensors(&layer, &mut rng);
                for shader in ShaderKind::applicable(&layer) {
                    let count = counts.entry(shader).or_default();
                    if !shader.is_generated() || share.runs(case, *count) {
                        *count += 1;
                    }
                }
            }
            for kind in ShaderKind::ALL {
                let count = counts.get(&kind).copied().unwrap_or(0);
                let enough = match (kind.is_generated(), share.at_most) {
                    (true, u32::MAX) => count > 0,
                    (true, cap) => count == cap,
                    (false, _) => count > 10,
                };
                assert!(enough, "seed {seed}, {share:?}: {} in {count} cases", kind.name());
            }
        }
    }
}
