//! The GPU commands that check correctness: `devices`, `run`, `verify`, `explain`.

use anyhow::{bail, Context, Result};

use crate::cli::{DevicesArgs, GpuArgs, RunArgs, VerifyArgs};
use convflops::cost::Cost;
use convflops::error::Field;
use convflops::explain::{example_layer, EXAMPLE_INPUT, EXAMPLE_KERNEL, EXAMPLE_OUTPUT};
use convflops::export::{json, table::new_table};
use convflops::gpu::{context, ConvKernels, GpuContext, ShaderKind, Variant};
use convflops::layer::ConvLayer;
use convflops::measure::{self, Input};
use convflops::units::{bytes, group_digits};
use convflops::{npy, reference, verify as check};

pub fn devices(args: DevicesArgs) -> Result<()> {
    let adapters = context::list_adapters(args.gpu.choice().backends);
    if args.json {
        print!("{}", json::to_string(&adapters)?);
        return Ok(());
    }
    if adapters.is_empty() {
        return Err(convflops::gpu::GpuError::NoAdapter.into());
    }
    let mut table = new_table(&[
        "#",
        "name",
        "backend",
        "type",
        "driver",
        "timestamps",
        "max storage binding",
        "max buffer",
        "max workgroups/dim",
    ]);
    for a in &adapters {
        let kind = if a.software {
            format!("{} (software)", a.device_type)
        } else {
            a.device_type.clone()
        };
        table.add_row(vec![
            a.index.to_string(),
            a.name.clone(),
            a.backend.clone(),
            kind,
            format!("{} {}", a.driver, a.driver_info).trim().to_string(),
            if a.timestamps { "yes" } else { "no" }.to_string(),
            bytes(a.max_storage_buffer_binding_size),
            bytes(a.max_buffer_size),
            group_digits(u64::from(a.max_compute_workgroups_per_dimension)),
        ]);
    }
    println!("{table}");
    if adapters.iter().any(|a| a.software) {
        println!("Software adapters run on the CPU: their timings are CPU numbers, not GPU numbers.");
    }
    Ok(())
}

fn open(gpu: &GpuArgs) -> Result<GpuContext> {
    Ok(GpuContext::new(&gpu.choice())?)
}

pub fn run(args: RunArgs) -> Result<()> {
    super::check_outputs(
        &[("--output", Some(&args.output))],
        &[
            ("--input", Some(&args.input)),
            ("--weight", Some(&args.weight)),
            ("--bias", args.bias.as_deref()),
        ],
    )?;
    let input = npy::read(&args.input, 4, "[N, C_in, H, W]").context("--input")?;
    let weight = npy::read(&args.weight, 4, "[C_out, C_in/groups, kh, kw]").context("--weight")?;
    let bias = args
        .bias
        .as_deref()
        .map(|path| npy::read(path, 1, "[C_out]"))
        .transpose()
        .context("--bias")?;
    let (x, w) = (&input.shape, &weight.shape);
    if args.groups == 0 {
        bail!("--groups must be at least 1 (got 0)");
    }
    if u64::from(x[1]) != u64::from(w[1]) * u64::from(args.groups) {
        bail!(
            "--weight has {} input channels per group and --groups is {}, so the input needs {} channels, but --input has {}",
            w[1],
            args.groups,
            u64::from(w[1]) * u64::from(args.groups),
            x[1]
        );
    }
    if let Some(b) = &bias {
        if b.shape[0] != w[0] {
            bail!(
                "--bias has {} values but --weight has {} output channels",
                b.shape[0],
                w[0]
            );
        }
    }
    let layer = ConvLayer {
        batch: x[0],
        in_channels: x[1],
        out_channels: w[0],
        height: x[2],
        width: x[3],
        kernel: [w[2], w[3]],
        stride: args.stride,
        padding: args.padding,
        dilation: args.dilation,
        groups: args.groups,
        bias: bias.is_some(),
    }
    .validated()
    .map_err(|error| {
        // The shape comes from the files' axes; stride, padding, dilation and groups from the flags.
        anyhow::anyhow!(crate::cli::shape_error(&error, |field| match field {
            Field::Batch => "--input's N".to_string(),
            Field::InChannels => "--input's C_in".to_string(),
            Field::Height => "--input's H".to_string(),
            Field::Width => "--input's W".to_string(),
            Field::OutChannels => "--weight's C_out".to_string(),
            Field::Kernel => "--weight's kh×kw".to_string(),
            other => crate::cli::flag(other).to_string(),
        }))
    })?;
    let ctx = open(&args.gpu)?;
    let shader = match args.shader {
        None => convflops::tune::AutoKernels::load(&ctx.summary).shader_for(Variant::Auto, &layer),
        Some(kind) => kind,
    };
    shader.check(&layer).context("--shader")?;
    let kernels = ConvKernels::new(&ctx)?;
    let job = measure::prepare(
        &ctx,
        &kernels,
        &layer,
        shader,
        Input::Data(&input.data),
        &weight.data,
        bias.as_ref().map(|b| b.data.as_slice()),
    )?;
    job.run(&ctx, &kernels)?;
    let output = job.read_output(&ctx)?;
    let shape = [layer.batch, layer.out_channels, layer.out_height(), layer.out_width()];
    npy::write(&args.output, &shape, &output).context("--output")?;
    eprintln!(
        "{}\nwrote {} [{}×{}×{}×{}] computed by the {} kernel",
        ctx.summary.headline(),
        args.output.display(),
        shape[0],
        shape[1],
        shape[2],
        shape[3],
        shader.name()
    );
    Ok(())
}

pub fn verify(args: VerifyArgs) -> Result<()> {
    let ctx = open(&args.gpu)?;
    println!("{}", ctx.summary.headline());
    println!(
        "verifying {} random layers (seed {}) against the CPU reference (f64)…",
        args.cases, args.seed
    );
    let mut failures = Vec::new();
    let results = check::run(&ctx, args.cases, args.seed, |case, results| {
        for r in results.iter().filter(|r| !r.agreement.passed()) {
            failures.push(format!(
                "case {case}: {} kernel on {}: {} outputs outside tolerance (max abs error {:.3e})",
                r.shader.name(),
                r.layer.describe(),
                r.agreement.mismatches,
                r.agreement.max_abs_error
            ));
        }
    })?;
    let mut table = new_table(&[
        "kernel",
        "cases",
        "max abs error",
        "max rel error",
        "non-finite (propagated)",
        "outside tolerance",
    ]);
    for (name, (cases, agreement)) in check::summarize(&results) {
        table.add_row(vec![
            name.to_string(),
            cases.to_string(),
            format!("{:.3e}", agreement.max_abs_error),
            format!("{:.3e}", agreement.max_rel_error),
            agreement.non_finite.to_string(),
            agreement.mismatches.to_string(),
        ]);
    }
    println!("{table}");
    for failure in &failures {
        println!("{failure}");
    }
    if failures.is_empty() {
        println!("all kernels agree with the reference within tolerance");
        Ok(())
    } else {
        bail!("{} kernel runs disagree with the CPU reference", failures.len())
    }
}

fn matrix<const W: usize>(rows: &[[f32; W]]) -> String {
    rows.iter()
        .map(|row| {
            format!(
                "    [{}]",
                row.iter().map(|v| format!("{v:>4}")).collect::<Vec<_>>().join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn explain(args: GpuArgs) -> Result<()> {
    let ctx = open(&args)?;
    let kernels = ConvKernels::new(&ctx)?;
    let layer = example_layer();
    let input: Vec<f32> = EXAMPLE_INPUT.iter().flatten().copied().collect();
    let kernel: Vec<f32> = EXAMPLE_KERNEL.iter().flatten().copied().collect();
    let job = measure::prepare(
        &ctx,
        &kernels,
        &layer,
        ShaderKind::Conv2d,
        Input::Data(&input),
        &kernel,
        None,
    )?;
    job.run(&ctx, &kernels)?;
    let output = job.read_output(&ctx)?;
    let rows: Vec<[f32; 3]> = output.chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
    let expected: Vec<f32> = EXAMPLE_OUTPUT.iter().flatten().copied().collect();
    let cost = Cost::of_layer(&layer)?;

    println!("The article's worked example, computed on the GPU");
    println!("{}", ctx.summary.headline());
    println!("\ninput (5×5):\n{}", matrix(&EXAMPLE_INPUT));
    println!(
        "kernel (3×3, cross-correlation, stride 1, no padding):\n{}",
        matrix(&EXAMPLE_KERNEL)
    );
    println!("output (3×3), computed by the conv2d kernel:\n{}", matrix(&rows));
    println!(
        "\nEach output is 9 multiplications and 8 additions: {} outputs × 17 = {} exact FLOPs;",
        cost.outputs, cost.flops_exact
    );
    println!(
        "the 2·MAC rule counts {} MACs × 2 = {} FLOPs (it adds one addition per output, which a bias add would use).",
        cost.macs, cost.flops
    );
    println!(
        "That count is fixed by the shape. A rate — FLOP/s — needs a clock: `convflops compare` times real layers."
    );
    let agreement = reference::compare(&layer, &output, &reference::conv2d(&layer, &input, &kernel, None)?);
    if output != expected || !agreement.passed() {
        bail!("the GPU result differs from the article's output {expected:?}");
    }
    println!("matches the article's output exactly");
    Ok(())
}
