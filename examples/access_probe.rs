//! Probe for what one per-lane storage access costs on llvmpipe: a kernel whose lanes each read a run of f32 and
//! write it back scaled, once with `array<vec4<f32>>` and once with `array<vec2<u64>>` (the same 16 bytes, bit-cast
//! to and from `vec4<f32>`), both in one process, interleaved; process CPU time per dispatch (medians). The outputs
//! must agree bit for bit. Needs an adapter with SHADER_INT64 (lavapipe has it).
//! Usage: `cargo run --release --example access_probe -- LANES FLOATS_PER_LANE [REPS]` (FLOATS_PER_LANE a multiple
//! of 4), e.g. `512 256 30`. A measuring aid, not a benchmark.
use std::fmt::Write as _;

use anyhow::{bail, Context as _, Result};
use convflops::gpu::cpu::Vec4Access;
use wgpu::util::DeviceExt as _;

#[path = "common/cpu_time.rs"]
mod cpu_time;
use cpu_time::cpu_seconds;

/// Lane `i` reads its `floats` values at `i · floats`, 4 per access, and writes `2·v + 1` back, straight-line.
fn source(access: Vec4Access, lanes: u32, floats: u32) -> String {
    let ty = access.element();
    let mut s = format!(
        "@group(0) @binding(0) var<storage, read> input: array<{ty}>;\n\
         @group(0) @binding(1) var<storage, read_write> output: array<{ty}>;\n{}\
         @compute @workgroup_size(64)\nfn main(@builtin(global_invocation_id) id: vec3<u32>) {{\n\
         \x20   if (id.x >= {lanes}u) {{ return; }}\n    let base = id.x * {}u;\n",
        access.helpers(),
        floats / 4
    );
    for k in 0..floats / 4 {
        let value = access.load(&format!("input[base + {k}u]"));
        let store = access.store(&format!("v{k} * 2.0 + 1.0"));
        let _ = writeln!(s, "    let v{k} = {value};\n    output[base + {k}u] = {store};");
    }
    s.push_str("}\n");
    s
}

fn main() -> Result<()> {
    let args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u32>().with_context(|| format!("argument '{a}'")))
        .collect::<Result<Vec<u32>>>()?;
    let (lanes, floats, reps) = match args[..] {
        [l, f] => (l, f, 30),
        [l, f, r] => (l, f, r.max(1)),
        _ => bail!("usage: access_probe LANES FLOATS_PER_LANE [REPS]"),
    };
    if floats == 0 || !floats.is_multiple_of(4) || lanes == 0 {
        bail!("LANES must be at least 1 and FLOATS_PER_LANE a positive multiple of 4");
    }
    let instance = wgpu::Instance::default();
    let adapter = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN))
        .into_iter()
        .find(|a| a.features().contains(wgpu::Features::SHADER_INT64))
        .context("no Vulkan adapter with SHADER_INT64")?;
    println!("adapter: {}", adapter.get_info().name);
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_features: wgpu::Features::SHADER_INT64,
        ..Default::default()
    }))?;
    let n = usize::try_from(u64::from(lanes) * u64::from(floats))?;
    let input: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 / 1000.0 - 0.5).collect();
    let input_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("probe input"),
        contents: bytemuck::cast_slice(&input),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let bytes = (n * 4) as u64;
    let accesses = [Vec4Access::F32, Vec4Access::U64Pairs];
    let mut runs = Vec::new();
    for access in accesses {
        let output = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("probe output"),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(access.element()),
            source: wgpu::ShaderSource::Wgsl(source(access, lanes, floats).into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(access.element()),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: input_buffer.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: output.as_entire_binding(),
                },
            ],
        });
        runs.push((pipeline, bind_group, output));
    }
    // `per` dispatches in one pass, waited for.
    let run = |i: usize, per: u32| -> Result<()> {
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&runs[i].0);
            pass.set_bind_group(0, &runs[i].1, &[]);
            for _ in 0..per {
                pass.dispatch_workgroups(lanes.div_ceil(64), 1, 1);
            }
        }
        queue.submit([encoder.finish()]);
        device.poll(wgpu::PollType::wait_indefinitely())?;
        Ok(())
    };
    let mut outputs = Vec::new();
    for (i, (_, _, output)) in runs.iter().enumerate() {
        run(i, 1)?;
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("probe readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(output, 0, &staging, 0, bytes);
        queue.submit([encoder.finish()]);
        staging.slice(..).map_async(wgpu::MapMode::Read, |_| {});
        device.poll(wgpu::PollType::wait_indefinitely())?;
        let view = staging.slice(..).get_mapped_range()?;
        outputs.push(bytemuck::cast_slice::<u8, u32>(&view).to_vec());
    }
    let expected: Vec<u32> = input.iter().map(|v| (v * 2.0 + 1.0).to_bits()).collect();
    for (access, output) in accesses.iter().zip(&outputs) {
        if *output != expected {
            bail!("{} wrote a wrong output", access.element());
        }
    }
    const PER: u32 = 10;
    let mut samples = vec![Vec::new(); accesses.len()];
    for _ in 0..reps {
        for (i, sample) in samples.iter_mut().enumerate() {
            let c0 = cpu_seconds();
            run(i, PER)?;
            sample.push((cpu_seconds() - c0) / f64::from(PER));
        }
    }
    let mut medians = Vec::new();
    for (access, sample) in accesses.iter().zip(&mut samples) {
        sample.sort_by(f64::total_cmp);
        let median = sample[sample.len() / 2];
        println!(
            "{:>9}: {:.1} µs of CPU time per dispatch",
            access.element(),
            median * 1e6
        );
        medians.push(median);
    }
    println!(
        "vec4<f32> / vec2<u64> = {:.2} (both outputs bit for bit as expected)",
        medians[0] / medians[1]
    );
    Ok(())
}
