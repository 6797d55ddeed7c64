//! Probe (temporary) for conv2d-lanes on lavapipe: each kernel's output checked against the CPU reference, then the
//! process CPU time per run of conv2d-vec4, conv2d-cpu and conv2d-lanes on one 3×3 layer (interleaved, medians).
//! Usage: `cargo run --release --example lanes_conv_probe -- SIZE C_IN C_OUT [REPS]`.
use std::time::Instant;

use convflops::gpu::conv::ConvJob;
use convflops::gpu::{AdapterChoice, ConvKernels, GpuContext, ShaderKind};
use convflops::layer::ConvLayer;

#[cfg(unix)]
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given; RUSAGE_SELF cannot fail.
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    let u = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr());
        u.assume_init()
    };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 * 1e-6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// Without getrusage: wall seconds since the first call.
#[cfg(not(unix))]
fn cpu_seconds() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

fn main() -> anyhow::Result<()> {
    let args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u32>().map_err(|e| anyhow::anyhow!("argument '{a}': {e}")))
        .collect::<anyhow::Result<Vec<u32>>>()?;
    if args.len() < 3 {
        anyhow::bail!("usage: lanes_conv_probe SIZE C_IN C_OUT [REPS]");
    }
    let (size, cin, cout) = (args[0], args[1], args[2]);
    let reps = args.get(3).copied().unwrap_or(15);
    let layer = ConvLayer {
        in_channels: cin,
        out_channels: cout,
        height: size,
        width: size,
        bias: true,
        ..ConvLayer::default()
    };
    let ctx = GpuContext::new(&AdapterChoice {
        backends: Some(wgpu::Backends::VULKAN),
        adapter: None,
        max_memory: None,
    })?;
    let kernels = ConvKernels::new(&ctx)?;
    let mut rng = convflops::rng::SplitMix64::new(7);
    let input: Vec<f32> = (0..layer.input_len().unwrap()).map(|_| rng.signed_unit()).collect();
    let weight: Vec<f32> = (0..layer.weight_len().unwrap()).map(|_| rng.signed_unit()).collect();
    let bias: Vec<f32> = (0..cout).map(|_| rng.signed_unit()).collect();
    let reference = convflops::reference::conv2d(&layer, &input, &weight, Some(&bias))?;
    let flops = 2.0 * f64::from(cin) * f64::from(cout) * f64::from(size * size) * 9.0;
    let kinds = [ShaderKind::Conv2dVec4, ShaderKind::Conv2dCpu, ShaderKind::Conv2dLanes];
    let mut jobs = Vec::new();
    for shader in kinds {
        let t = Instant::now();
        let job = ConvJob::new(&ctx, &kernels, &layer, shader, None)?;
        job.upload(&ctx, Some(&input), &weight, Some(&bias))?;
        job.run(&ctx, &kernels)?;
        let agreement = convflops::reference::compare(&layer, &job.read_output(&ctx)?, &reference);
        println!(
            "{:>14}: setup+compile+first run {:.2} s, {} mismatches, max abs error {:.2e}",
            shader.name(),
            t.elapsed().as_secs_f64(),
            agreement.mismatches,
            agreement.max_abs_error
        );
        jobs.push(job);
    }
    let mut samples = vec![Vec::new(); kinds.len()];
    for _ in 0..reps {
        for (i, job) in jobs.iter().enumerate() {
            let c0 = cpu_seconds();
            job.run(&ctx, &kernels)?;
            samples[i].push(cpu_seconds() - c0);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let m: Vec<f64> = samples.iter_mut().map(median).collect();
    for (i, shader) in kinds.iter().enumerate() {
        println!(
            "{:>14}: cpu {:.3} ms/run ({:.1} GFLOP per cpu-s), {:.2}x vec4",
            shader.name(),
            m[i] * 1e3,
            flops / m[i] / 1e9,
            m[0] / m[i]
        );
    }
    println!("lanes vs cpu (cpu time) = {:.2}x", m[1] / m[2]);
    Ok(())
}
