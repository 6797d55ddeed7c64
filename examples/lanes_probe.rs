//! Probe of a pointwise GEMM with lanes over output channels and no pack pass, for the cpu family on lavapipe
//! (issue 13), against the vec4 kernel and today's `pointwise-cpu` in the same process: the process CPU time per
//! run (interleaved, medians: CPU time, unlike wall time, stays comparable on a busy 2-core machine), the first
//! run's wall time (compile included), and the probe's output checked against the CPU reference.
//!
//! The probed kernel (generated here, not part of the product): a workgroup owns P output pixels and WG output
//! channels (one per lane). Per K slice (one dispatch each) it copies the slice's B tile, in[k0 .. k0+Ks, pixels]
//! (Ks × P values, read as vec4 straight from the input [C_in, H·W], zero past the plane), into workgroup memory,
//! barrier, then each lane reads B at compile-time-constant indices (scalar + broadcast on llvmpipe) and its own
//! channel's weights 4 K steps at a time: `tex`, one `textureLoad` of an rgba32float texture (texel (k/4, co) =
//! weight[co, k..k+4]); `ssbo`, one per-lane vec4 load from a layout interleaving 8 channels' rows by 4 K steps.
//! P/4 vec4 accumulators per lane; the first slice stores acc + bias, the later ones add to the output (vec4).
//!
//! Usage: `cargo run --release --example lanes_probe -- SIZE C P KS MODE [REPS]` (MODE `tex` or `ssbo`, C_in =
//! C_out = C, H·W and P multiples of 4, KS a multiple of 4 dividing C), e.g. `14 512 28 64 tex 15`.
//! `LANES_DUMP=1` prints the generated WGSL. Measured in BENCHMARKS.md (2026-12-02, the lanes probe).
use std::fmt::Write as _;
use std::time::Instant;

use convflops::gpu::conv::ConvJob;
use convflops::gpu::{AdapterChoice, ConvKernels, GpuContext, ShaderKind};
use convflops::layer::ConvLayer;
use convflops::reference;
use wgpu::util::DeviceExt;

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

/// The probe's shape: pixels per workgroup, K steps per slice, lanes (channels) per workgroup, weight source.
#[derive(Clone, Copy)]
struct Shape {
    p: u32,
    ks: u32,
    wg: u32,
    tex: bool,
}

macro_rules! emit {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// The WGSL of one K slice (the same program for every slice; `slice.k0` is the slice's first K step).
fn lanes_source(layer: &ConvLayer, sh: Shape) -> String {
    let (m, k) = (layer.out_channels, layer.in_channels);
    let hw = layer.height * layer.width;
    let hw4 = hw.div_ceil(4);
    let aligned = hw.is_multiple_of(4);
    let elem = if aligned { "vec4<f32>" } else { "f32" };
    let (p4, ks, wg) = (sh.p / 4, sh.ks, sh.wg);
    let tile = ks * p4;
    let mut s = String::new();
    emit!(s, "// lanes probe — pointwise GEMM, lanes over output channels: out[co, p] = Σ_k weight[co, k] · in[k, p] (+ bias).");
    emit!(
        s,
        "// M = {m}, K = {k}, H·W = {hw}; slice of {ks} K steps; workgroup: {} pixels × {wg} channels.",
        sh.p
    );
    emit!(s, "struct Slice {{ k0: u32, first: u32, _a: u32, _b: u32 }}");
    emit!(s, "@group(0) @binding(0) var<uniform> slice: Slice;");
    emit!(s, "@group(0) @binding(1) var<storage, read> input: array<{elem}>;");
    if sh.tex {
        emit!(s, "@group(0) @binding(2) var w_tex: texture_2d<f32>;");
    } else {
        emit!(s, "@group(0) @binding(2) var<storage, read> weight: array<vec4<f32>>;");
    }
    emit!(s, "@group(0) @binding(3) var<storage, read> bias: array<f32>;");
    emit!(
        s,
        "@group(0) @binding(4) var<storage, read_write> output: array<{elem}>;"
    );
    emit!(s, "var<workgroup> b_tile: array<vec4<f32>, {tile}>;");
    emit!(s, "@compute @workgroup_size({wg})");
    // `local_invocation_id.x`, not `local_invocation_index`: with the latter, llvmpipe recomputed the lane's channel
    // (8 scalar `divl`, one per lane) before every `textureLoad` call (GALLIVM_DEBUG=asm, Mesa 25.0.7).
    emit!(
        s,
        "fn main(@builtin(workgroup_id) wgid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{"
    );
    emit!(s, "    let local = lid.x;");
    emit!(s, "    let g0 = wgid.x * {p4}u;");
    emit!(s, "    let co_raw = wgid.y * {wg}u + local;");
    emit!(s, "    let co = min(co_raw, {}u);", m - 1);
    emit!(s, "    let k0 = slice.k0;");
    // The B tile, Ks × P/4 vec4s, staged by the workgroup's lanes (per-lane loads), zero past the plane.
    for j in 0..tile.div_ceil(wg) {
        emit!(s, "    {{");
        emit!(s, "        let i = local + {}u;", j * wg);
        let body = if aligned {
            format!(
                "let g = g0 + i % {p4}u; b_tile[i] = select(vec4<f32>(), input[(k0 + i / {p4}u) * {hw4}u + min(g, {}u)], g < {hw4}u);",
                hw4 - 1
            )
        } else {
            let parts: Vec<String> = (0..4)
                .map(|j| {
                    format!(
                        "select(0.0, input[row + min(4u * g + {j}u, {}u)], 4u * g + {j}u < {hw}u)",
                        hw - 1
                    )
                })
                .collect();
            format!(
                "let g = g0 + i % {p4}u; let row = (k0 + i / {p4}u) * {hw}u; b_tile[i] = vec4<f32>({});",
                parts.join(", ")
            )
        };
        if (j + 1) * wg > tile {
            emit!(s, "        if (i < {tile}u) {{ {body} }}");
        } else {
            emit!(s, "        {body}");
        }
        emit!(s, "    }}");
    }
    emit!(s, "    workgroupBarrier();");
    if !sh.tex {
        emit!(s, "    let row = (co / 8u) * {}u + co % 8u + k0 * 2u;", k / 4 * 8);
    }
    for q in 0..p4 {
        emit!(s, "    var acc{q} = vec4<f32>();");
    }
    let comps = ["x", "y", "z", "w"];
    for kg in 0..ks / 4 {
        emit!(s, "    {{");
        if sh.tex {
            emit!(
                s,
                "        let w = textureLoad(w_tex, vec2<u32>(k0 / 4u + {kg}u, co), 0);"
            );
        } else {
            emit!(s, "        let w = weight[row + {}u];", kg * 8);
        }
        for c in 0..4 {
            for q in 0..p4 {
                emit!(
                    s,
                    "        acc{q} += w.{} * b_tile[{}];",
                    comps[c as usize],
                    (4 * kg + c) * p4 + q
                );
            }
        }
        emit!(s, "    }}");
    }
    emit!(s, "    if (co_raw >= {m}u) {{ return; }}");
    let b = if layer.bias { "bias[co]" } else { "0.0" };
    emit!(s, "    let b = {b};");
    emit!(s, "    let first = slice.first != 0u;");
    for q in 0..p4 {
        if !aligned {
            for j in 0..4 {
                let c = comps[j as usize];
                emit!(s, "    if (4u * (g0 + {q}u) + {j}u < {hw}u) {{ let at = co * {hw}u + 4u * (g0 + {q}u) + {j}u; if (first) {{ output[at] = acc{q}.{c} + b; }} else {{ output[at] += acc{q}.{c}; }} }}");
            }
            continue;
        }
        let st = format!(
            "let at = co * {hw4}u + g0 + {q}u; if (first) {{ output[at] = acc{q} + b; }} else {{ output[at] += acc{q}; }}"
        );
        if !hw4.is_multiple_of(p4) {
            emit!(s, "    if (g0 + {q}u < {hw4}u) {{ {st} }}");
        } else {
            emit!(s, "    {{ {st} }}");
        }
    }
    emit!(s, "}}");
    s
}

struct Lanes {
    pipeline: wgpu::ComputePipeline,
    groups: Vec<wgpu::BindGroup>,
    grid: [u32; 2],
    output: wgpu::Buffer,
}

impl Lanes {
    fn new(ctx: &GpuContext, layer: &ConvLayer, sh: Shape, input: &[f32], weight: &[f32], bias: &[f32]) -> Lanes {
        let dev = &ctx.device;
        let (m, k) = (layer.out_channels, layer.in_channels);
        let hw = layer.height * layer.width;
        let source = lanes_source(layer, sh);
        if std::env::var_os("LANES_DUMP").is_some() {
            println!("{source}");
        }
        let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("lanes"),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("lanes"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        let storage = |data: &[f32], usage| {
            dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: bytemuck::cast_slice(data),
                usage,
            })
        };
        let input_buf = storage(input, wgpu::BufferUsages::STORAGE);
        let bias_buf = storage(bias, wgpu::BufferUsages::STORAGE);
        let output = dev.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: u64::from(m * hw) * 4,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        // The weight, prepared by the host: texel (k/4, co) = weight[co, k..k+4] (OIHW rows are already that), or
        // vec4 index ((co/8)·(K/4) + k/4)·8 + co%8.
        let (texture, view, weight_buf);
        let weight_res = if sh.tex {
            texture = ctx.device.create_texture_with_data(
                &ctx.queue,
                &wgpu::TextureDescriptor {
                    label: None,
                    size: wgpu::Extent3d {
                        width: k / 4,
                        height: m,
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: wgpu::TextureFormat::Rgba32Float,
                    usage: wgpu::TextureUsages::TEXTURE_BINDING,
                    view_formats: &[],
                },
                wgpu::util::TextureDataOrder::LayerMajor,
                bytemuck::cast_slice(weight),
            );
            view = texture.create_view(&Default::default());
            wgpu::BindingResource::TextureView(&view)
        } else {
            let blocks = m.div_ceil(8) as usize;
            let (k, m) = (k as usize, m as usize);
            let mut packed = vec![0.0f32; blocks * 8 * k];
            for co in 0..m {
                for kk in 0..k {
                    packed[((co / 8) * (k / 4) + kk / 4) * 32 + (co % 8) * 4 + kk % 4] = weight[co * k + kk];
                }
            }
            weight_buf = storage(&packed, wgpu::BufferUsages::STORAGE);
            weight_buf.as_entire_binding()
        };
        let layout = pipeline.get_bind_group_layout(0);
        let groups = (0..k / sh.ks)
            .map(|s| {
                let record: [u32; 4] = [s * sh.ks, u32::from(s == 0), 0, 0];
                let uniform = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: None,
                    contents: bytemuck::cast_slice(&record),
                    usage: wgpu::BufferUsages::UNIFORM,
                });
                dev.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout: &layout,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: uniform.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 1,
                            resource: input_buf.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 2,
                            resource: weight_res.clone(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 3,
                            resource: bias_buf.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 4,
                            resource: output.as_entire_binding(),
                        },
                    ],
                })
            })
            .collect();
        Lanes {
            pipeline,
            groups,
            grid: [hw.div_ceil(4).div_ceil(sh.p / 4), m.div_ceil(sh.wg)],
            output,
        }
    }

    fn run(&self, ctx: &GpuContext, only: Option<usize>) -> anyhow::Result<()> {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&self.pipeline);
            for (i, g) in self.groups.iter().enumerate() {
                if only.is_some_and(|o| o != i) {
                    continue;
                }
                pass.set_bind_group(0, g, &[]);
                pass.dispatch_workgroups(self.grid[0], self.grid[1], 1);
            }
        }
        ctx.queue.submit([encoder.finish()]);
        ctx.wait()?;
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 6 {
        anyhow::bail!("usage: lanes_probe SIZE C_IN C_OUT P KS tex|ssbo [REPS]");
    }
    let num = |i: usize| {
        args[i]
            .parse::<u32>()
            .map_err(|e| anyhow::anyhow!("argument '{}': {e}", args[i]))
    };
    let (size, c, co, p, ks) = (num(0)?, num(1)?, num(2)?, num(3)?, num(4)?);
    let tex = args[5] == "tex";
    let reps = if args.len() > 6 { num(6)? } else { 15 };
    let layer = ConvLayer {
        in_channels: c,
        out_channels: co,
        height: size,
        width: size,
        kernel: [1, 1],
        padding: [0, 0],
        bias: true,
        ..ConvLayer::default()
    };
    let hw = size * size;
    anyhow::ensure!(
        p.is_multiple_of(4) && ks.is_multiple_of(4) && c.is_multiple_of(ks),
        "needs P, KS multiples of 4, KS dividing C_in"
    );
    let sh = Shape {
        p,
        ks,
        wg: co.min(256).next_multiple_of(8),
        tex,
    };
    let ctx = GpuContext::new(&AdapterChoice {
        backends: Some(wgpu::Backends::VULKAN),
        adapter: None,
        max_memory: None,
    })?;
    let kernels = ConvKernels::new(&ctx)?;
    let mut rng = convflops::rng::SplitMix64::new(7);
    let mut random = |n: u32| -> Vec<f32> { (0..n).map(|_| (rng.next_u64() % 2001) as f32 / 1000.0 - 1.0).collect() };
    let input = random(c * hw);
    let weight = random(co * c);
    let bias = random(co);
    let flops = 2.0 * f64::from(c) * f64::from(co) * f64::from(hw);

    let mut jobs = Vec::new();
    // The vec4 family's kernel for the layer (conv2d-tiled where H·W is not a multiple of 4), and pointwise-cpu.
    let vec4 = convflops::gpu::Variant::Vec4.shader_for(&layer);
    for shader in [vec4, ShaderKind::PointwiseCpu] {
        let t = Instant::now();
        let job = ConvJob::new(&ctx, &kernels, &layer, shader, None)?;
        job.upload(&ctx, Some(&input), &weight, Some(&bias))?;
        job.run(&ctx, &kernels)?;
        println!(
            "{:>14}: setup + first run {:.2} s",
            shader.name(),
            t.elapsed().as_secs_f64()
        );
        jobs.push(job);
    }
    let t = Instant::now();
    let lanes = Lanes::new(&ctx, &layer, sh, &input, &weight, &bias);
    lanes.run(&ctx, None)?;
    println!(
        "{:>14}: setup + first run {:.2} s (P {p}, KS {ks}, WG {}, {} slices, grid {:?}, weights {})",
        "lanes",
        t.elapsed().as_secs_f64(),
        sh.wg,
        c / ks,
        lanes.grid,
        if tex { "texture" } else { "ssbo" }
    );
    let got = convflops::gpu::conv::read_buffer(&ctx, &lanes.output, u64::from(co * hw) * 4)?;
    let want = reference::conv2d(&layer, &input, &weight, Some(&bias))?;
    let agreement = reference::compare(&layer, &got, &want);
    println!(
        "lanes against the CPU reference: {} mismatches, max abs error {:.2e}",
        agreement.mismatches, agreement.max_abs_error
    );
    anyhow::ensure!(agreement.passed(), "the probe's output is wrong");

    let mut samples = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..reps {
        for (i, job) in jobs.iter().enumerate() {
            let c0 = cpu_seconds();
            job.run(&ctx, &kernels)?;
            samples[i].push(cpu_seconds() - c0);
        }
        let c0 = cpu_seconds();
        lanes.run(&ctx, None)?;
        samples[2].push(cpu_seconds() - c0);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let m: Vec<f64> = samples.iter_mut().map(median).collect();
    for (i, name) in [vec4.name(), "pointwise-cpu", "lanes"].iter().enumerate() {
        println!(
            "{name:>14}: cpu {:.3} ms/run ({:.1} GFLOP per cpu-s)",
            m[i] * 1e3,
            flops / m[i] / 1e9
        );
    }
    let mut parts = Vec::new();
    for i in 0..lanes.groups.len().min(3) {
        let mut v = Vec::new();
        for _ in 0..reps {
            let c0 = cpu_seconds();
            lanes.run(&ctx, Some(i))?;
            v.push(cpu_seconds() - c0);
        }
        parts.push(format!("{:.3}", median(&mut v) * 1e3));
    }
    println!("lanes slices 0.. (cpu ms): {parts:?}");
    println!(
        "ratios (cpu time): vec4/cpu {:.2}, vec4/lanes {:.2}, cpu/lanes {:.2}",
        m[0] / m[1],
        m[0] / m[2],
        m[1] / m[2]
    );
    Ok(())
}
