//! Probe for the cpu family's GEMV on lavapipe: today's `gemv-cpu` program (weights read per lane as `vec4`s from a
//! storage buffer) against the same program reading each lane's 4 weights with one `textureLoad` of an rgba32float
//! texture filled before timing, in two texel layouts (x = output channel, y = K/4: the 8 lanes of a SIMD vector
//! read 128 consecutive bytes; and x = K/4, y = output channel: each lane its own row). Per layer: wall time and
//! process CPU time per run (all K slices in one submission), interleaved, medians.
//! Usage: `cargo run --release --example gemv_probe -- [REPS]`.
//! A measuring aid, not a benchmark: `convflops model --run` gives the figures.
use std::time::Instant;

use convflops::gpu::cpu::SLICE_RECORD_BYTES;
use convflops::gpu::gemv::{self, GemvShape, GEMV_LANES};
use convflops::gpu::kernel::{Access, Binding, Checks, Kernel};
use convflops::gpu::{AdapterChoice, GpuContext};
use convflops::layer::ConvLayer;
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

#[cfg(not(unix))]
fn cpu_seconds() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Form {
    /// Today's gemv-cpu.
    Buffer,
    /// Texel (co, k/4), slices of at most this many multiply-adds.
    TexChannelX(u32),
    /// Texel (k/4, co), the same.
    TexKX(u32),
}

/// Slices of K: (slice, slices, tail) for an unroll cap.
fn slicing(k: u32, columns: u32, cap: u32) -> (u32, u32, u32) {
    let max_slice = cap / columns;
    if k <= max_slice {
        return (k, 1, k);
    }
    let aligned = (max_slice / 64).max(1) * 64;
    let slices = k.div_ceil(aligned);
    let slice = k.div_ceil(slices).next_multiple_of(64);
    let slices = k.div_ceil(slice);
    (slice, slices, k - (slices - 1) * slice)
}

/// `gemv_source` with the weight fetched from the texture: each `let w = weight[row + 8g]` becomes one textureLoad.
fn texture_source(layer: &ConvLayer, len: u32, form: Form) -> String {
    let source = gemv::gemv_source(layer, len);
    let mut out = String::new();
    for line in source.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("@group(0) @binding(2)") {
            out.push_str("@group(0) @binding(2) var wt: texture_2d_array<f32>;\n");
        } else if trimmed.starts_with("struct Slice") {
            out.push_str("struct Slice { first: u32, base: u32, _pad1: u32, _pad2: u32 }\n");
        } else if let Some(rest) = trimmed.strip_prefix("let w = weight[row + ") {
            let n: u32 = rest.trim_end_matches("u];").parse().expect("offset");
            let g = n / GEMV_LANES;
            let coord = match form {
                Form::TexChannelX(_) => format!("vec2<u32>(co, slice.base + {g}u)"),
                _ => format!("vec2<u32>(slice.base + {g}u, co)"),
            };
            out.push_str(&format!("        let w = textureLoad(wt, {coord}, 0, 0);\n"));
        } else if trimmed.starts_with("let row =") {
            continue;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

struct Job {
    dispatches: Vec<(std::sync::Arc<Kernel>, wgpu::BindGroup)>,
    grid: u32,
    _keep: Vec<wgpu::Buffer>,
    _tex: Option<wgpu::Texture>,
}

fn build(ctx: &GpuContext, layer: &ConvLayer, form: Form, weight: &[f32]) -> anyhow::Result<Job> {
    let shape = GemvShape::for_layer(layer);
    let (m, k) = (layer.out_channels, shape.k);
    let (slice, slices, tail) = match form {
        Form::Buffer => (shape.slice, shape.slices, shape.tail),
        Form::TexChannelX(cap) | Form::TexKX(cap) => slicing(k, shape.columns, cap),
    };
    let slice_len = |s: u32| if s + 1 == slices { tail } else { slice };
    let dev = &ctx.device;
    let input: Vec<f32> = (0..layer.batch * k).map(|i| ((i % 13) as f32 - 6.0) * 0.1).collect();
    let input = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: None,
        contents: bytemuck::cast_slice(&input),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let bias = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: None,
        contents: bytemuck::cast_slice(&vec![0.5f32; m as usize]),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let output = dev.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: u64::from(layer.batch * m) * 4,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let words = (SLICE_RECORD_BYTES / 4) as usize;
    let mut rec = vec![0u32; slices as usize * words];
    for s in 0..slices as usize {
        rec[s * words] = u32::from(s == 0);
        rec[s * words + 1] = s as u32 * slice / 4;
    }
    let records = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: None,
        contents: bytemuck::cast_slice(&rec),
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let mut bindings = vec![
        Binding::Uniform,
        Binding::Storage(Access::Read),
        Binding::Storage(Access::Read),
        Binding::Storage(Access::Read),
        Binding::Storage(Access::ReadWrite),
    ];
    let padded = m.div_ceil(8) * 8;
    let k4 = k.div_ceil(4);
    let (wbuf, tex) = if form == Form::Buffer {
        let packed = gemv::gemv_weights(layer, weight);
        let b = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: bytemuck::cast_slice(&packed),
            usage: wgpu::BufferUsages::STORAGE,
        });
        (Some(b), None)
    } else {
        bindings[2] = Binding::TextureArray;
        let cx = matches!(form, Form::TexChannelX(_));
        let (w, h) = if cx { (padded, k4) } else { (k4, padded) };
        let mut data = vec![0f32; (w * h * 4) as usize];
        for co in 0..m {
            for kk in 0..k {
                let (x, y) = if cx { (co, kk / 4) } else { (kk / 4, co) };
                data[((y * w + x) * 4 + kk % 4) as usize] = weight[(co * k + kk) as usize];
            }
        }
        let t = dev.create_texture_with_data(
            &ctx.queue,
            &wgpu::TextureDescriptor {
                label: None,
                size: wgpu::Extent3d {
                    width: w,
                    height: h,
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
            bytemuck::cast_slice(&data),
        );
        (None, Some(t))
    };
    let view = tex.as_ref().map(|t| {
        t.create_view(&wgpu::TextureViewDescriptor {
            dimension: Some(wgpu::TextureViewDimension::D2Array),
            ..Default::default()
        })
    });
    let mut programs = std::collections::HashMap::new();
    let mut dispatches = Vec::new();
    for s in 0..slices {
        let len = slice_len(s);
        let kernel = programs
            .entry(len)
            .or_insert_with(|| {
                let source = if form == Form::Buffer {
                    gemv::gemv_source(layer, len)
                } else {
                    texture_source(layer, len, form)
                };
                std::sync::Arc::new(
                    Kernel::with_bindings(ctx, "probe", &source, "main", &[], &bindings, Checks::ProvenSafe)
                        .expect("kernel"),
                )
            })
            .clone();
        let in_off = u64::from(s * slice) * 4;
        let weight_res = match (&wbuf, &view) {
            (Some(b), _) => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: b,
                offset: shape.weight_offset(layer, s) * 4,
                size: None,
            }),
            (None, Some(v)) => wgpu::BindingResource::TextureView(v),
            _ => unreachable!(),
        };
        let bg = kernel.bind_resources(
            ctx,
            &[
                wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &records,
                    offset: u64::from(s) * SLICE_RECORD_BYTES,
                    size: wgpu::BufferSize::new(16),
                }),
                wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &input,
                    offset: in_off,
                    size: None,
                }),
                weight_res,
                bias.as_entire_binding(),
                output.as_entire_binding(),
            ],
        )?;
        dispatches.push((kernel, bg));
    }
    let mut keep = vec![input, bias, output, records];
    keep.extend(wbuf);
    Ok(Job {
        dispatches,
        grid: m.div_ceil(shape.workgroup),
        _keep: keep,
        _tex: tex,
    })
}

fn run(ctx: &GpuContext, job: &Job) {
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        for (k, bg) in &job.dispatches {
            k.dispatch(&mut pass, bg, [job.grid, 1, 1]);
        }
    }
    ctx.queue.submit([enc.finish()]);
    let _ = ctx.device.poll(wgpu::PollType::wait_indefinitely());
}

fn read(ctx: &GpuContext, job: &Job, len: u64) -> Vec<f32> {
    let out = &job._keep[2];
    let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: len * 4,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(out, 0, &staging, 0, len * 4);
    ctx.queue.submit([enc.finish()]);
    staging.slice(..).map_async(wgpu::MapMode::Read, |_| {});
    let _ = ctx.device.poll(wgpu::PollType::wait_indefinitely());
    let range = staging.slice(..).get_mapped_range().expect("mapped");
    let v: Vec<f32> = bytemuck::cast_slice(&range[..]).to_vec();
    drop(range);
    v
}

fn main() -> anyhow::Result<()> {
    let reps: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(25);
    let only: Option<String> = std::env::args().nth(2);
    let ctx = GpuContext::new(&AdapterChoice {
        backends: Some(wgpu::Backends::VULKAN),
        adapter: None,
        max_memory: None,
    })?;
    let fc = |c_in: u32, c_out: u32, batch: u32| {
        ConvLayer {
            batch,
            in_channels: c_in,
            out_channels: c_out,
            height: 1,
            width: 1,
            bias: true,
            ..ConvLayer::default()
        }
        .pointwise()
    };
    let layers = [
        ("fc 1024→1000", fc(1024, 1000, 1)),
        ("fc 1280→1000", fc(1280, 1000, 1)),
        ("fc 512→1000", fc(512, 1000, 1)),
        ("SE 1152→48", fc(1152, 48, 1)),
        ("SE 48→1152", fc(48, 1152, 1)),
        ("SE 672→28", fc(672, 28, 1)),
        ("SE 28→672", fc(28, 672, 1)),
        ("SE 32→8", fc(32, 8, 1)),
        ("fc 1024→1000 b4", fc(1024, 1000, 4)),
    ];
    let forms: Vec<Form> = match std::env::var("PROBE_FORMS").as_deref() {
        Ok("caps") => vec![
            Form::Buffer,
            Form::TexChannelX(256),
            Form::TexChannelX(512),
            Form::TexChannelX(1024),
        ],
        _ => vec![Form::Buffer, Form::TexChannelX(256), Form::TexKX(256)],
    };
    for (name, layer) in layers {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let (m, k) = (layer.out_channels, layer.in_channels);
        let weight: Vec<f32> = (0..m * k).map(|i| ((i % 17) as f32 - 8.0) * 0.01).collect();
        let mut jobs = Vec::new();
        let mut compile = Vec::new();
        for &form in &forms {
            let job = build(&ctx, &layer, form, &weight)?;
            let t = Instant::now();
            run(&ctx, &job);
            compile.push(t.elapsed().as_secs_f64());
            jobs.push(job);
        }
        // Correctness against the host.
        let outs: Vec<Vec<f32>> = jobs.iter().map(|j| read(&ctx, j, u64::from(layer.batch * m))).collect();
        let mut max_err = 0f32;
        for n in 0..layer.batch {
            for co in 0..m {
                let mut r = 0.5f64;
                for kk in 0..k {
                    let x = (((n * k + kk) % 13) as f32 - 6.0) * 0.1;
                    r += f64::from(weight[(co * k + kk) as usize]) * f64::from(x);
                }
                for o in &outs {
                    max_err = max_err.max((o[(n * m + co) as usize] - r as f32).abs());
                }
            }
        }
        let mut wall = vec![Vec::new(); forms.len()];
        let mut cpu = vec![Vec::new(); forms.len()];
        for _ in 0..reps {
            for (i, job) in jobs.iter().enumerate() {
                let (c0, t0) = (cpu_seconds(), Instant::now());
                run(&ctx, job);
                wall[i].push(t0.elapsed().as_secs_f64());
                cpu[i].push(cpu_seconds() - c0);
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let flops = 2.0 * f64::from(m) * f64::from(k) * f64::from(layer.batch);
        let mut line = format!("{name:>16} (err {max_err:.1e}):");
        let (w0, c0) = (median(&mut wall[0].clone()), median(&mut cpu[0].clone()));
        for (i, form) in forms.iter().enumerate() {
            let (w, c) = (median(&mut wall[i]), median(&mut cpu[i]));
            line += &format!(
                "  {form:?} wall {:.0} µs ({:.2} GFLOP/s, ×{:.2}) cpu {:.0} µs (×{:.2}) compile {:.2}s;",
                w * 1e6,
                flops / w / 1e9,
                w0 / w,
                c * 1e6,
                c0 / c,
                compile[i]
            );
        }
        println!("{line}");
    }
    Ok(())
}
