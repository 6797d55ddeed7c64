//! Times `pointwise-lanes` (the product kernel, src/gpu/lanes.rs) against the vec4 family's kernel for the layer and
//! `pointwise-cpu` in one process (issue 13): the process CPU time per run (interleaved, medians: CPU time, unlike
//! wall time, stays comparable on a busy 2-core machine), each job's compile time, and every job's output checked
//! against the CPU reference. Measured in BENCHMARKS.md (2026-12-02); the kernel's own tests are in
//! tests/gpu_kernels.rs.
//!
//! Usage: `cargo run --release --example lanes_probe -- REPS SIZE:C_IN:C_OUT...`, e.g. `31 14:512:512 14:256:512`.
use convflops::gpu::conv::ConvJob;
use convflops::gpu::{AdapterChoice, ConvKernels, GpuContext, ShaderKind, Variant};
use convflops::layer::ConvLayer;
use convflops::reference;

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

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(args.len() >= 2, "usage: lanes_probe REPS SIZE:C_IN:C_OUT...");
    let reps: usize = args[0].parse()?;
    let ctx = GpuContext::new(&AdapterChoice {
        backends: Some(wgpu::Backends::VULKAN),
        adapter: None,
        max_memory: None,
    })?;
    let kernels = ConvKernels::new(&ctx)?;
    let mut rng = convflops::rng::SplitMix64::new(7);
    println!("| layer | vec4 family | pointwise-cpu | pointwise-lanes | vec4/cpu | vec4/lanes | cpu/lanes | compile cpu, lanes |");
    for shape in &args[1..] {
        let v: Vec<u32> = shape.split(':').map(str::parse).collect::<Result<_, _>>()?;
        anyhow::ensure!(v.len() == 3, "'{shape}': SIZE:C_IN:C_OUT");
        let layer = ConvLayer {
            in_channels: v[1],
            out_channels: v[2],
            height: v[0],
            width: v[0],
            kernel: [1, 1],
            padding: [0, 0],
            bias: true,
            ..ConvLayer::default()
        };
        let mut random =
            |n: u64| -> Vec<f32> { (0..n).map(|_| (rng.next_u64() % 2001) as f32 / 1000.0 - 1.0).collect() };
        let input = random(layer.input_len().unwrap_or(0));
        let weight = random(layer.weight_len().unwrap_or(0));
        let bias = random(u64::from(layer.out_channels));
        let want = reference::conv2d(&layer, &input, &weight, Some(&bias))?;
        let shaders = [
            Variant::Vec4.shader_for(&layer),
            ShaderKind::PointwiseCpu,
            ShaderKind::PointwiseLanes,
        ];
        let mut jobs = Vec::new();
        for shader in shaders {
            let job = ConvJob::new(&ctx, &kernels, &layer, shader, None)?;
            job.upload(&ctx, Some(&input), &weight, Some(&bias))?;
            job.run(&ctx, &kernels)?;
            let agreement = reference::compare(&layer, &job.read_output(&ctx)?, &want);
            anyhow::ensure!(agreement.passed(), "{} on {shape}: {agreement:?}", shader.name());
            jobs.push(job);
        }
        let mut samples = vec![Vec::new(); jobs.len()];
        for _ in 0..reps {
            for (i, job) in jobs.iter().enumerate() {
                let c0 = cpu_seconds();
                job.run(&ctx, &kernels)?;
                samples[i].push(cpu_seconds() - c0);
            }
        }
        let m: Vec<f64> = samples
            .iter_mut()
            .map(|v| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            })
            .collect();
        let compile = |i: usize| jobs[i].compile_s.map_or("cached".into(), |s| format!("{s:.2} s"));
        println!(
            "| pointwise {}²×{}→{} | {:.3} ms ({}) | {:.3} ms | {:.3} ms | {:.2}× | **{:.2}×** | **{:.2}×** | {}, {} |",
            v[0],
            v[1],
            v[2],
            m[0] * 1e3,
            shaders[0].name(),
            m[1] * 1e3,
            m[2] * 1e3,
            m[0] / m[1],
            m[0] / m[2],
            m[1] / m[2],
            compile(1),
            compile(2)
        );
    }
    Ok(())
}
