//! Probe for the cpu family's GEMM on lavapipe: the process CPU time per run of the vec4 kernel, of the cpu GEMM and
//! (a 3×3 conv it takes) of conv2d-lanes on one layer (interleaved, medians: CPU time, unlike wall time, stays
//! comparable on a busy 2-core machine), each output first checked against the CPU reference; then the cpu GEMM's
//! time per dispatch (the pack kernel, then each K slice of the GEMM).
//! Usage: `cargo run --release --example gemm_probe -- SIZE C_IN C_OUT KERNEL [REPS [STRIDE [DEPTHWISE]]]`, e.g.
//! `14 512 512 1` (padding KERNEL/2; DEPTHWISE = 1 for groups = C_in = C_out: vec4 against depthwise-cpu).
//! A measuring aid, not a benchmark: `convflops compare` gives the figures.
use std::time::Instant;

use convflops::gpu::conv::ConvJob;
use convflops::gpu::{AdapterChoice, ConvKernels, GpuContext, ShaderKind, Variant};
use convflops::layer::ConvLayer;

#[path = "common/cpu_time.rs"]
mod cpu_time;
use cpu_time::cpu_seconds;

fn main() -> anyhow::Result<()> {
    let args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u32>().map_err(|e| anyhow::anyhow!("argument '{a}': {e}")))
        .collect::<anyhow::Result<Vec<u32>>>()?;
    if args.len() < 4 {
        anyhow::bail!("usage: gemm_probe SIZE C_IN C_OUT KERNEL [REPS [STRIDE [DEPTHWISE]]]");
    }
    let (size, cin, cout, k) = (args[0], args[1], args[2], args[3]);
    let reps = args.get(4).copied().unwrap_or(20);
    let stride = args.get(5).copied().unwrap_or(1);
    // DEPTHWISE = 1: a depthwise conv (groups = C_in = C_out), the vec4 family's kernel against depthwise-cpu.
    let depthwise = args.get(6).is_some_and(|&d| d == 1);
    let layer = ConvLayer {
        in_channels: cin,
        out_channels: cout,
        height: size,
        width: size,
        kernel: [k, k],
        stride: [stride, stride],
        padding: [k / 2, k / 2],
        groups: if depthwise { cin } else { 1 },
        ..ConvLayer::default()
    };
    let ctx = GpuContext::new(&AdapterChoice {
        backends: Some(wgpu::Backends::VULKAN),
        adapter: None,
        max_memory: None,
    })?;
    let kernels = ConvKernels::new(&ctx)?;
    let flops = 2.0
        * f64::from(cin)
        * f64::from(cout / layer.groups)
        * f64::from(layer.out_height() * layer.out_width())
        * f64::from(k * k);
    let mut kinds = if depthwise {
        vec![Variant::Vec4.shader_for(&layer), ShaderKind::DepthwiseCpu]
    } else if k == 1 && stride == 1 {
        vec![Variant::Vec4.shader_for(&layer), ShaderKind::PointwiseCpu]
    } else {
        vec![Variant::Vec4.shader_for(&layer), ShaderKind::Conv2dCpu]
    };
    if !depthwise && k == 1 && ShaderKind::PointwiseLanes.check(&layer).is_ok() {
        kinds.push(ShaderKind::PointwiseLanes);
    }
    if !(depthwise || k == 1 && stride == 1) && ShaderKind::Conv2dLanes.check(&layer).is_ok() {
        kinds.push(ShaderKind::Conv2dLanes);
    }
    let mut rng = convflops::rng::SplitMix64::new(7);
    let (input, weight, bias) = convflops::verify::random_tensors(&layer, &mut rng);
    let reference = convflops::reference::conv2d(&layer, &input, &weight, bias.as_deref())?;
    let mut jobs = Vec::new();
    for &shader in &kinds {
        let t = Instant::now();
        let job = ConvJob::new(&ctx, &kernels, &layer, shader, None)?;
        job.upload(&ctx, Some(&input), &weight, bias.as_deref())?;
        job.run(&ctx, &kernels)?;
        let agreement = convflops::reference::compare(&layer, &job.read_output(&ctx)?, &reference);
        println!(
            "{:>14}: setup+compile+first run {:.2} s, {} of {} outputs outside the reference's tolerance",
            shader.name(),
            t.elapsed().as_secs_f64(),
            agreement.mismatches,
            reference.values.len()
        );
        if !agreement.passed() {
            anyhow::bail!("{} disagrees with the CPU reference: {agreement:?}", shader.name());
        }
        jobs.push(job);
    }
    // Interleaved: a load change hits every kernel alike; medians of process CPU time per run.
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
            "{:>14}: cpu {:.3} ms/run ({:.1} GFLOP per cpu-s)",
            shader.name(),
            m[i] * 1e3,
            flops / m[i] / 1e9
        );
    }
    let job = &jobs[1];
    let mut parts = Vec::new();
    for i in 0..job.dispatch_count() {
        let mut v = Vec::new();
        for _ in 0..reps {
            let c0 = cpu_seconds();
            job.run_dispatch(&ctx, i)?;
            v.push(cpu_seconds() - c0);
        }
        parts.push(format!("{:.3}", median(&mut v) * 1e3));
    }
    println!("   dispatches (cpu ms): {parts:?}");
    println!("ratio vec4/cpu (cpu time) = {:.2}", m[0] / m[1]);
    if let Some(lanes) = m.get(2) {
        println!(
            "ratio vec4/lanes = {:.2}, cpu/lanes = {:.2} (cpu time)",
            m[0] / lanes,
            m[1] / lanes
        );
    }
    Ok(())
}
