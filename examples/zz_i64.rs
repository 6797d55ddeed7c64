// Throwaway probe: per-lane storage access cost on llvmpipe, vec4<f32> against vec4<u64> (8 floats per access).
use convflops::gpu::{AdapterChoice, GpuContext};
use std::fmt::Write;
fn cpu_seconds() -> f64 {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    let u = unsafe { libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr()); u.assume_init() };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 * 1e-6;
    t(u.ru_utime) + t(u.ru_stime)
}
fn main() {
    let a: Vec<u32> = std::env::args().skip(1).map(|s| s.parse().unwrap()).collect();
    let (c, plane, reps) = (a[0], a[1], a[2]); // plane: floats per lane, multiple of 8
    let inst = wgpu::Instance::default();
    let adapter = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::VULKAN)).into_iter().next().unwrap();
    println!("int64: {}", adapter.features().contains(wgpu::Features::SHADER_INT64));
    let (d, q) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor { required_features: wgpu::Features::SHADER_INT64 | wgpu::Features::TIMESTAMP_QUERY, ..Default::default() })).unwrap();
    let _ = (AdapterChoice { backends: None, adapter: None, max_memory: None }, std::marker::PhantomData::<GpuContext>);
    let n = (c * plane) as usize;
    let input: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
    use wgpu::util::DeviceExt;
    let inp = d.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: None, contents: bytemuck::cast_slice(&input), usage: wgpu::BufferUsages::STORAGE });
    let outs: Vec<wgpu::Buffer> = (0..2).map(|_| d.create_buffer(&wgpu::BufferDescriptor { label: None, size: (n * 4) as u64, usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC, mapped_at_creation: false })).collect();
    // A: vec4<f32>
    let mut sa = String::new();
    writeln!(sa, "@group(0) @binding(0) var<storage, read> input: array<vec4<f32>>;\n@group(0) @binding(1) var<storage, read_write> output: array<vec4<f32>>;\n@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {{ let c = g.x; if (c >= {c}u) {{ return; }} let base = c * {}u;", plane / 4).unwrap();
    for k in 0..plane / 4 { writeln!(sa, "  let v{k} = input[base + {k}u]; output[base + {k}u] = v{k} * 2.0 + 1.0;").unwrap(); }
    sa.push_str("}\n");
    // B: vec4<u64>
    let mut sb = String::new();
    writeln!(sb, "@group(0) @binding(0) var<storage, read> input: array<vec4<u64>>;\n@group(0) @binding(1) var<storage, read_write> output: array<vec4<u64>>;\nfn lo(x: u64) -> f32 {{ return bitcast<f32>(u32(x & 0xffffffffu)); }}\nfn hi(x: u64) -> f32 {{ return bitcast<f32>(u32(x >> 32u)); }}\nfn pk(a: f32, b: f32) -> u64 {{ return u64(bitcast<u32>(a)) | (u64(bitcast<u32>(b)) << 32u); }}\n@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {{ let c = g.x; if (c >= {c}u) {{ return; }} let base = c * {}u;", plane / 8).unwrap();
    for k in 0..plane / 8 {
        writeln!(sb, "  let q{k} = input[base + {k}u];").unwrap();
        let comps = ["x", "y", "z", "w"];
        let mut parts = vec![];
        for cc in comps { parts.push(format!("pk(lo(q{k}.{cc}) * 2.0 + 1.0, hi(q{k}.{cc}) * 2.0 + 1.0)")); }
        writeln!(sb, "  output[base + {k}u] = vec4<u64>({});", parts.join(", ")).unwrap();
    }
    sb.push_str("}\n");
    let srcs = [("vec4<f32>", sa), ("vec4<u64>", sb)];
    let mut pipes = vec![];
    for (i, (name, s)) in srcs.iter().enumerate() {
        let m = d.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(name), source: wgpu::ShaderSource::Wgsl(s.as_str().into()) });
        let p = d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor { label: Some(name), layout: None, module: &m, entry_point: Some("main"), compilation_options: Default::default(), cache: None });
        let bg = d.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &p.get_bind_group_layout(0), entries: &[
            wgpu::BindGroupEntry { binding: 0, resource: inp.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 1, resource: outs[i].as_entire_binding() } ] });
        pipes.push((p, bg));
    }
    let run = |i: usize, times: u32| {
        let mut e = d.create_command_encoder(&Default::default());
        { let mut pass = e.begin_compute_pass(&Default::default()); pass.set_pipeline(&pipes[i].0); pass.set_bind_group(0, &pipes[i].1, &[]); for _ in 0..times { pass.dispatch_workgroups(c.div_ceil(64), 1, 1); } }
        q.submit([e.finish()]);
        d.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    };
    for i in 0..2 { run(i, 1); }
    // check equal outputs
    let read = |b: &wgpu::Buffer| {
        let st = d.create_buffer(&wgpu::BufferDescriptor { label: None, size: (n * 4) as u64, usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST, mapped_at_creation: false });
        let mut e = d.create_command_encoder(&Default::default()); e.copy_buffer_to_buffer(b, 0, &st, 0, (n * 4) as u64); q.submit([e.finish()]);
        st.slice(..).map_async(wgpu::MapMode::Read, |_| {}); d.poll(wgpu::PollType::wait_indefinitely()).unwrap();
        let v: Vec<f32> = bytemuck::cast_slice(&st.slice(..).get_mapped_range()).to_vec(); v };
    let (o0, o1) = (read(&outs[0]), read(&outs[1]));
    println!("outputs equal: {} (first {} {} expect {})", o0 == o1, o0[1], o1[1], input[1] * 2.0 + 1.0);
    let per = 10;
    let mut s = vec![vec![]; 2];
    for _ in 0..reps { for i in 0..2 { let c0 = cpu_seconds(); run(i, per); s[i].push((cpu_seconds() - c0) / per as f64); } }
    for i in 0..2 { s[i].sort_by(f64::total_cmp); println!("{}: {:.1} us cpu per dispatch", srcs[i].0, s[i][reps as usize / 2] * 1e6); }
}
