mod common;
use convflops::gpu::{ConvJob, ConvKernels, ShaderKind};
use convflops::layer::ConvLayer;
use std::time::Instant;

#[test]
fn probe() {
    let ctx = common::vulkan().unwrap();
    let spec = std::env::var("PROBE").unwrap();
    // kind,ci,co,hw,k,s,batch
    for item in spec.split(';') {
        let v: Vec<&str> = item.split(',').collect();
        let n = |i: usize| v[i].parse::<u32>().unwrap();
        let base = ConvLayer {
            batch: n(6),
            in_channels: n(1),
            out_channels: n(2),
            height: n(3),
            width: n(3),
            kernel: [n(4), n(4)],
            stride: [n(5), n(5)],
            padding: [n(4) / 2, n(4) / 2],
            ..ConvLayer::default()
        };
        let (layer, kind) = match v[0] {
            "dw" => (
                ConvLayer {
                    out_channels: n(1),
                    groups: n(1),
                    ..base
                },
                ShaderKind::DepthwiseCpu,
            ),
            "dwv" => (
                ConvLayer {
                    out_channels: n(1),
                    groups: n(1),
                    ..base
                },
                ShaderKind::DepthwiseVec4,
            ),
            "pw" => (base.pointwise(), ShaderKind::PointwiseCpu),
            "pwv" => (base.pointwise(), ShaderKind::PointwiseVec4),
            "cv" => (base, ShaderKind::Conv2dCpu),
            "cvv" => (base, ShaderKind::Conv2dVec4),
            _ => panic!(),
        };
        let kernels = ConvKernels::new(&ctx).unwrap();
        let t = Instant::now();
        let job = ConvJob::new(&ctx, &kernels, &layer, kind, None).unwrap();
        let create = t.elapsed().as_secs_f64();
        job.run(&ctx, &kernels).unwrap();
        let mut best = f64::INFINITY;
        let reps = 5;
        for _ in 0..reps {
            let t = Instant::now();
            job.run(&ctx, &kernels).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
        }
        let flops = 2.0
            * layer.output_len().unwrap() as f64
            * (layer.in_channels_per_group() * layer.kernel[0] * layer.kernel[1]) as f64;
        eprintln!(
            "{item}: {} create+compile {create:.2}s, best {:.3} ms, {:.2} GFLOP/s; compile {:?}",
            kind.name(),
            best * 1e3,
            flops / best / 1e9,
            kernels.compile_times()
        );
    }
}
