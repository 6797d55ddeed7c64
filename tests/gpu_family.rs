//! The GPU family's kernels (workgroup-memory tiled implicit GEMM, halo-tiled depthwise) against the CPU reference
//! on a spread of shapes, on lavapipe (Vulkan) and llvmpipe (GL) or whatever adapters exist. With
//! CONVFLOPS_REQUIRE_ADAPTER=1 a missing adapter fails the test instead of skipping it.

mod common;

use convflops::gpu::conv::{pack_weights, read_buffer, ConvParams};
use convflops::gpu::kernel::Kernel;
use convflops::gpu::kernels::depthwise_gpu::{self, DepthwiseGpuTile};
use convflops::gpu::kernels::gemm_gpu::{self, GemmTile};
use convflops::gpu::{ConvKernels, GpuContext, ShaderKind, Variant};
use convflops::layer::ConvLayer;
use convflops::reference::{self, Agreement};
use convflops::{rng::SplitMix64, verify};

/// Which kernel of the family and with which tile, for the runner below (a tile the rule would not pick).
#[derive(Debug, Clone, Copy)]
enum Family {
    Gemm(GemmTile),
    Depthwise(DepthwiseGpuTile),
}

/// Runs `layer` through the kernel with a forced tile, outside the registry (its own buffers, one dispatch), and
/// returns the output.
fn run(ctx: &GpuContext, layer: &ConvLayer, family: Family, data: (&[f32], &[f32], Option<&[f32]>)) -> Vec<f32> {
    let (input, weight, bias) = data;
    let max = ctx.summary.max_compute_workgroups_per_dimension;
    let (kernel, grid, weight): (Kernel, [u32; 3], Vec<f32>) = match family {
        Family::Gemm(tile) => (
            gemm_gpu::build(ctx, layer, tile).unwrap(),
            gemm_gpu::grid(layer, tile, 1, max).unwrap(),
            pack_weights(layer, weight),
        ),
        Family::Depthwise(tile) => (
            depthwise_gpu::build(ctx, layer, tile).unwrap(),
            depthwise_gpu::grid(layer, tile, max).unwrap(),
            weight.to_vec(),
        ),
    };
    let total = layer.output_len().unwrap();
    let params = ConvParams::new(layer, u32::try_from(total).unwrap());
    let buffer = |label: &str, data: &[u8], usage: wgpu::BufferUsages| {
        let padded = data.len().max(4) as u64;
        let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: padded,
            usage: usage | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if !data.is_empty() {
            ctx.queue.write_buffer(&buffer, 0, data);
        }
        buffer
    };
    let storage = wgpu::BufferUsages::STORAGE;
    let params = buffer("params", bytemuck::bytes_of(&params), wgpu::BufferUsages::UNIFORM);
    let input = buffer("input", bytemuck::cast_slice(input), storage);
    let weight = buffer("weight", bytemuck::cast_slice(&weight), storage);
    let bias = buffer("bias", bytemuck::cast_slice(bias.unwrap_or(&[])), storage);
    // The output starts as NaN, so an output the kernel never writes cannot pass.
    let nan = vec![f32::NAN; total as usize];
    let output = buffer(
        "output",
        bytemuck::cast_slice(&nan),
        storage | wgpu::BufferUsages::COPY_SRC,
    );
    let bind_group = kernel.bind(ctx, &params, &[&input, &weight, &bias, &output]).unwrap();
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        kernel.dispatch(&mut pass, &bind_group, grid);
    }
    ctx.queue.submit([encoder.finish()]);
    ctx.wait().unwrap();
    ctx.check().unwrap();
    read_buffer(ctx, &output, total * 4).unwrap()
}

/// `layer` with random data through `family` with its forced tile, compared with the reference.
fn check_tile(ctx: &GpuContext, layer: &ConvLayer, family: Family, seed: u64) -> Agreement {
    let mut rng = SplitMix64::new(seed);
    let (input, weight, bias) = verify::random_tensors(layer, &mut rng);
    let expected = reference::conv2d(layer, &input, &weight, bias.as_deref()).unwrap();
    let output = run(ctx, layer, family, (&input, &weight, bias.as_deref()));
    let agreement = reference::compare(layer, &output, &expected);
    assert!(agreement.passed(), "{family:?} on {}: {agreement:?}", layer.describe());
    agreement
}

/// `layer` with random data through the gpu family as `--variant gpu` runs it (the registry's choice, a job of its
/// own), compared with the reference; the kernel must be one of the family's.
fn check(ctx: &GpuContext, kernels: &ConvKernels, layer: &ConvLayer, seed: u64) -> ShaderKind {
    let shader = Variant::Gpu.shader_for(layer);
    assert_eq!(shader.spec().family(), Variant::Gpu, "{}", layer.describe());
    let mut rng = SplitMix64::new(seed);
    let (input, weight, bias) = verify::random_tensors(layer, &mut rng);
    let expected = reference::conv2d(layer, &input, &weight, bias.as_deref()).unwrap();
    let data = (input.as_slice(), weight.as_slice(), bias.as_deref());
    let agreement = verify::check_layer(ctx, kernels, layer, shader, data, &expected).unwrap();
    assert!(
        agreement.passed(),
        "{} on {}: {agreement:?}",
        shader.name(),
        layer.describe()
    );
    shader
}

fn conv(batch: u32, c_in: u32, c_out: u32, size: [u32; 2], kernel: u32, stride: u32, padding: u32) -> ConvLayer {
    ConvLayer {
        batch,
        in_channels: c_in,
        out_channels: c_out,
        height: size[0],
        width: size[1],
        kernel: [kernel, kernel],
        stride: [stride, stride],
        padding: [padding, padding],
        dilation: [1, 1],
        groups: 1,
        bias: true,
    }
}

fn depthwise(batch: u32, channels: u32, size: [u32; 2], kernel: u32, stride: u32, padding: u32) -> ConvLayer {
    ConvLayer {
        groups: channels,
        ..conv(batch, channels, channels, size, kernel, stride, padding)
    }
}

/// Standard and pointwise shapes: odd sizes, stride 2, 5×5 and 7×7 kernels, a 1×1 input (a GEMV), batch 2,
/// channel counts that are not multiples of 4, dilation, asymmetric kernels, and M, N, K tails of every tile.
fn gemm_layers() -> Vec<ConvLayer> {
    let mut layers = vec![
        conv(1, 3, 8, [13, 11], 3, 2, 1),
        conv(2, 5, 7, [7, 7], 3, 1, 1),
        conv(1, 6, 10, [9, 9], 5, 1, 2),
        conv(1, 3, 5, [16, 15], 7, 2, 3),
        conv(2, 17, 33, [7, 7], 1, 1, 0), // pointwise on 7×7 planes, batch 2
        conv(1, 35, 9, [1, 1], 1, 1, 0),  // a 1×1 conv on a 1×1 input: a GEMV
        conv(2, 40, 70, [1, 1], 1, 1, 0),
        conv(1, 1, 1, [1, 1], 1, 1, 0),
        conv(1, 1, 1, [3, 3], 3, 1, 0),
        conv(1, 9, 6, [6, 5], 1, 2, 1), // 1×1 with stride and padding: the im2col form
        conv(2, 20, 130, [10, 13], 3, 1, 1),
        conv(1, 64, 129, [14, 14], 3, 1, 1),
        conv(1, 100, 40, [12, 12], 1, 1, 0),
        // Few output tiles, long K: split-K (16 and 4 runs) with the reduce dispatch.
        conv(1, 256, 66, [7, 7], 3, 1, 1),
        conv(2, 512, 40, [3, 5], 1, 1, 0),
    ];
    layers.push(ConvLayer {
        dilation: [2, 3],
        padding: [2, 3],
        kernel: [3, 2],
        bias: false,
        ..conv(1, 4, 6, [11, 12], 3, 1, 0)
    });
    layers
}

/// Depthwise shapes: 3×3, 5×5 and 7×7, stride 1 and 2, padding, dilation, 7×7 and 1×1 planes, batch 2, odd
/// channel counts, a plane larger than one tile.
fn depthwise_layers() -> Vec<ConvLayer> {
    let mut layers = vec![
        depthwise(1, 5, [14, 14], 3, 1, 1),
        depthwise(2, 7, [7, 7], 3, 1, 1),
        depthwise(1, 9, [15, 13], 3, 2, 1),
        depthwise(1, 6, [28, 28], 5, 2, 2),
        depthwise(2, 3, [9, 9], 5, 1, 2),
        depthwise(1, 4, [19, 17], 7, 1, 3),
        depthwise(1, 300, [1, 1], 3, 1, 1),
        depthwise(1, 2, [37, 40], 3, 1, 1),
        depthwise(1, 3, [8, 8], 3, 1, 0),
    ];
    layers.push(ConvLayer {
        dilation: [2, 3],
        padding: [2, 3],
        stride: [2, 1],
        bias: false,
        ..depthwise(1, 5, [20, 21], 3, 1, 0)
    });
    layers
}

fn every_shape(ctx: &GpuContext) {
    let kernels = ConvKernels::new(ctx).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for (i, layer) in gemm_layers().iter().chain(&depthwise_layers()).enumerate() {
        seen.insert(check(ctx, &kernels, layer, 100 + i as u64));
    }
    let family: std::collections::BTreeSet<ShaderKind> = Variant::Gpu.kernels().collect();
    assert_eq!(seen, family, "every kernel of the family ran");
    let split = gemm_layers()
        .iter()
        .filter(|layer| gemm_gpu::splits(layer, GemmTile::for_layer(layer)) > 1)
        .count();
    assert!(split >= 2, "split-K ran on {split} layers");
}

/// Every tile of the GEMM on shapes with tails in M, N and K, and depthwise tiles the rule would not pick (several
/// tiles per plane, tiles straddling the plane's edge, planes past the last): not only the tiles the rules pick.
fn forced_tiles(ctx: &GpuContext) {
    let layers = [conv(2, 19, 131, [9, 11], 3, 1, 1), conv(1, 33, 70, [15, 15], 1, 1, 0)];
    for tile in GemmTile::CANDIDATES {
        for (i, layer) in layers.iter().enumerate() {
            check_tile(ctx, layer, Family::Gemm(tile), 7 + i as u64);
        }
    }
    let layers = [depthwise(2, 5, [13, 11], 3, 1, 1), depthwise(1, 7, [17, 16], 5, 2, 2)];
    for (tile_h, tile_w, planes) in [(4, 4, 2), (1, 8, 4), (2, 1, 3), (16, 16, 1)] {
        let tile = DepthwiseGpuTile { tile_h, tile_w, planes };
        for (i, layer) in layers.iter().enumerate() {
            check_tile(ctx, layer, Family::Depthwise(tile), 9 + i as u64);
        }
    }
}

/// Random layers of `verify`'s ranges through whichever of the family's kernels applies.
fn random_layers(ctx: &GpuContext, count: u32, seed: u64) {
    let kernels = ConvKernels::new(ctx).unwrap();
    let mut rng = SplitMix64::new(seed);
    let mut ran = 0;
    while ran < count {
        let layer = verify::random_layer(&mut rng);
        if gemm_gpu::fits(&layer).is_err() && depthwise_gpu::fits(&layer).is_err() {
            continue;
        }
        check(ctx, &kernels, &layer, seed + u64::from(ran));
        ran += 1;
    }
}

/// The family takes every conv of the networks' shapes; grouped convs and depthwise kernels past 7×7 fall back.
#[test]
fn the_family_takes_the_shapes_of_real_networks_and_falls_back_elsewhere() {
    for layer in gemm_layers().iter().chain(&depthwise_layers()) {
        let shader = Variant::Gpu.shader_for(layer);
        assert_eq!(shader.spec().family(), Variant::Gpu, "{}", layer.describe());
    }
    let pointwise = conv(1, 16, 8, [7, 7], 1, 1, 0);
    assert_eq!(Variant::Gpu.shader_for(&pointwise), ShaderKind::PointwiseGpu);
    assert_eq!(
        Variant::Gpu.shader_for(&conv(1, 16, 8, [7, 7], 3, 2, 1)),
        ShaderKind::Conv2dGpu
    );
    assert_eq!(
        Variant::Gpu.shader_for(&depthwise(1, 16, [7, 7], 5, 2, 2)),
        ShaderKind::DepthwiseGpu
    );
    let grouped = ConvLayer {
        groups: 4,
        ..conv(1, 16, 8, [7, 7], 3, 1, 1)
    };
    assert_ne!(Variant::Gpu.shader_for(&grouped).spec().family(), Variant::Gpu);
    let wide = depthwise(1, 16, [20, 20], 9, 1, 4);
    assert_ne!(Variant::Gpu.shader_for(&wide).spec().family(), Variant::Gpu);
}

#[test]
fn gpu_family_on_vulkan() {
    if let Some(ctx) = common::vulkan() {
        every_shape(&ctx);
        forced_tiles(&ctx);
        random_layers(&ctx, 30, 11);
    }
}

#[test]
fn gpu_family_on_gl() {
    if let Some(ctx) = common::gl() {
        every_shape(&ctx);
        forced_tiles(&ctx);
        random_layers(&ctx, 30, 12);
    }
}
