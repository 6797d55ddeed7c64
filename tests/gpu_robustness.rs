//! Limits, the memory budget, validation errors and device loss: each one clear error, never a panic.
//!
//! The limit checks of [`JobPlan`] need no adapter (they run against a made-up one); the rest runs on lavapipe
//! (Vulkan) or whatever adapter exists, and skips without one unless CONVFLOPS_REQUIRE_ADAPTER=1.

mod common;

use convflops::bench::BenchSettings;
use convflops::compare;
use convflops::cost::ConvKind;
use convflops::gpu::conv::{read_bytes, LLVMPIPE_MAX_LOOP_STEPS, MAX_SHADER_ELEMENTS};
use convflops::gpu::{AdapterSummary, ConvJob, ConvKernels, GpuContext, GpuError, JobPlan, ShaderKind, Variant};
use convflops::layer::ConvLayer;

/// An adapter with WebGPU's default limits: 128 MiB bindings, 256 MiB buffers, 65 535 workgroups per dimension.
fn small_adapter(name: &str) -> AdapterSummary {
    AdapterSummary::with_default_limits(name)
}

fn plan_error(adapter: &AdapterSummary, layer: ConvLayer, shader: ShaderKind) -> String {
    JobPlan::new(adapter, &layer, shader).unwrap_err().to_string()
}

#[test]
fn every_limit_is_checked_before_allocation_and_named() {
    let gpu = small_adapter("Test GPU");
    let plan = JobPlan::new(&gpu, &ConvLayer::default(), ShaderKind::Conv2dTiled).unwrap();
    assert_eq!(plan.input_bytes, 512 * 14 * 14 * 4);
    assert_eq!(plan.weight_bytes, 512 * 512 * 9 * 4);
    assert_eq!(plan.bias_bytes, 4, "an empty bias still binds 4 bytes");
    assert_eq!(plan.total, 512 * 14 * 14);
    assert_eq!(plan.buffer_bytes(true) + plan.input_bytes, plan.buffer_bytes(false));

    // 64 GiB of input: beyond the kernels' index range before any buffer limit.
    let huge = ConvLayer {
        batch: 64,
        in_channels: 4096,
        height: 256,
        width: 256,
        ..ConvLayer::default()
    };
    let message = plan_error(&gpu, huge, ShaderKind::Conv2dTiled);
    assert!(
        message.contains("the input tensor needs 17,179,869,184 elements"),
        "{message}"
    );
    assert!(
        message.contains("index range (u32 indices) of 2,147,483,647 elements"),
        "{message}"
    );
    assert_eq!(MAX_SHADER_ELEMENTS, 2_147_483_647);

    // Within the index range, above the binding size.
    let binding = ConvLayer {
        batch: 8,
        height: 128,
        width: 128,
        ..ConvLayer::default()
    };
    let message = plan_error(&gpu, binding, ShaderKind::Conv2dTiled);
    assert!(
        message.contains("the input buffer needs 256 MiB (268,435,456 bytes)")
            && message.contains("max_storage_buffer_binding_size of 128 MiB (134,217,728 bytes)"),
        "{message}"
    );
    let big_binding = AdapterSummary {
        max_storage_buffer_binding_size: 1 << 30,
        ..gpu.clone()
    };
    let message = plan_error(
        &big_binding,
        ConvLayer { batch: 16, ..binding },
        ShaderKind::Conv2dTiled,
    );
    assert!(message.contains("max_buffer_size of 256 MiB"), "{message}");

    // 2^31 output channels: the weight tensor.
    let channels = ConvLayer {
        out_channels: 1 << 31,
        ..ConvLayer::default()
    };
    let message = plan_error(&gpu, channels, ShaderKind::Conv2dTiled);
    assert!(
        message.contains("the weight tensor needs 9,895,604,649,984 elements"),
        "{message}"
    );

    // Padding beyond the kernels' i32 coordinates, with a stride that keeps the output tiny.
    let padded = ConvLayer {
        padding: [1 << 30, 0],
        stride: [1 << 30, 1],
        ..ConvLayer::default()
    };
    let message = plan_error(&gpu, padded, ShaderKind::Conv2d);
    assert!(
        message.contains("the padded height") && message.contains("coordinate range"),
        "{message}"
    );

    // Too many workgroups along one dimension: the depthwise kernel's batch × channels planes.
    let planes = ConvLayer {
        batch: 200,
        in_channels: 512,
        out_channels: 512,
        groups: 512,
        height: 4,
        width: 4,
        ..ConvLayer::default()
    };
    let message = plan_error(&gpu, planes, ShaderKind::DepthwiseTiled);
    assert!(
        message.contains("needs 102,400, above the adapter's max_compute_workgroups_per_dimension of 65,535"),
        "{message}"
    );
    // The naive kernel folds its grid into two dimensions and fits.
    assert!(JobPlan::new(&gpu, &planes, ShaderKind::Depthwise).is_ok());

    // A kernel that does not apply, and a layer that is not valid.
    assert!(plan_error(&gpu, ConvLayer::default(), ShaderKind::Depthwise).contains("groups = C_in = C_out"));
    let zero = ConvLayer {
        batch: 0,
        ..ConvLayer::default()
    };
    assert!(plan_error(&gpu, zero, ShaderKind::Conv2d).contains("batch must be at least 1"));
}

#[test]
fn llvmpipe_gets_its_loop_limit_and_gpus_do_not() {
    let deep = ConvLayer {
        in_channels: 4096,
        out_channels: 8,
        height: 4,
        width: 4,
        ..ConvLayer::default()
    };
    let steps = ShaderKind::Conv2dTiled.loop_steps(&deep);
    assert!(steps > LLVMPIPE_MAX_LOOP_STEPS);
    assert!(JobPlan::new(&small_adapter("NVIDIA GeForce"), &deep, ShaderKind::Conv2dTiled).is_ok());
    let message = plan_error(
        &small_adapter("llvmpipe (LLVM 15.0.6, 256 bits)"),
        deep,
        ShaderKind::Conv2dTiled,
    );
    assert!(
        message.contains("needs 53,280 loop steps per invocation") && message.contains("65,535 iterations"),
        "{message}"
    );
    // The default layer is far below it.
    assert!(ShaderKind::Conv2dTiled.loop_steps(&ConvLayer::default()) < LLVMPIPE_MAX_LOOP_STEPS);
}

fn small_layer() -> ConvLayer {
    ConvLayer {
        in_channels: 4,
        out_channels: 6,
        height: 8,
        width: 8,
        ..ConvLayer::default()
    }
}

fn quick_settings() -> BenchSettings {
    BenchSettings::new(0, 1, 0.0).unwrap()
}

#[test]
fn the_memory_budget_refuses_before_allocating_and_frees_on_drop() {
    let Some(mut ctx) = common::vulkan() else { return };
    let kernels = ConvKernels::new(&ctx).unwrap();
    let layer = small_layer();
    let plan = JobPlan::new(&ctx.summary, &layer, ShaderKind::Conv2dTiled).unwrap();
    assert_eq!(ctx.memory.default_for, Some("CPU adapters"));
    {
        let job = ConvJob::new(&ctx, &kernels, &layer, ShaderKind::Conv2dTiled, None).unwrap();
        assert_eq!(job.device_bytes(), plan.buffer_bytes(false));
        assert_eq!(ctx.memory.held(), plan.buffer_bytes(false));
        // A chained job holds only its own buffers.
        let chained = ConvJob::new(&ctx, &kernels, &layer, ShaderKind::Conv2d, Some(&job.input)).unwrap();
        assert_eq!(chained.device_bytes(), plan.buffer_bytes(true));
        // A chained input that is too small is refused before anything is allocated.
        let wider = ConvLayer { width: 9, ..layer };
        let error = ConvJob::new(&ctx, &kernels, &wider, ShaderKind::Conv2d, Some(&job.input)).unwrap_err();
        assert!(matches!(error, GpuError::DataLength { .. }), "{error}");
    }
    assert_eq!(ctx.memory.held(), 0, "dropped jobs give their bytes back");

    ctx.memory = convflops::gpu::MemoryBudget::new(Some(plan.buffer_bytes(false) - 1), true);
    let error = ConvJob::new(&ctx, &kernels, &layer, ShaderKind::Conv2dTiled, None).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, GpuError::MemoryBudget { .. }), "{message}");
    let budget = convflops::units::bytes_exact(plan.buffer_bytes(false) - 1);
    assert!(message.contains(&format!("--max-memory {budget}")), "{message}");

    // compare checks the whole run (three jobs and a readback) up front.
    ctx.memory = convflops::gpu::MemoryBudget::new(Some(3 * plan.buffer_bytes(false)), false);
    let error = compare::run(&ctx, &ConvLayer::default(), Variant::Tiled, &quick_settings(), |_| {
        panic!("nothing is timed when the budget refuses")
    })
    .unwrap_err();
    assert!(error.to_string().starts_with("comparing 1×512×14×14"), "{error}");
    assert_eq!(ctx.memory.held(), 0);
}

#[test]
fn a_validation_error_is_one_error_and_the_device_stays_usable() {
    let Some(ctx) = common::vulkan() else { return };
    let kernels = ConvKernels::new(&ctx).unwrap();
    let layer = small_layer();
    let job = ConvJob::new(&ctx, &kernels, &layer, ShaderKind::Conv2dTiled, None).unwrap();
    // The weight buffer cannot be copied from: wgpu's validation error comes back as a value.
    let error = read_bytes(&ctx, &job.weight, 16).unwrap_err();
    assert!(
        matches!(&error, GpuError::Validation { during, .. } if during == "reading back"),
        "{error}"
    );
    assert!(error.to_string().contains("COPY_SRC"), "{error}");
    // Reading past the end of a buffer is refused before wgpu sees it.
    let error = read_bytes(&ctx, &job.output, job.output.size() + 4).unwrap_err();
    assert!(matches!(error, GpuError::DataLength { .. }), "{error}");
    // The error was consumed: the next run works and the context reports nothing left over.
    job.upload(&ctx, Some(&vec![1.0; 256]), &vec![1.0; 216], None).unwrap();
    job.run(&ctx, &kernels).unwrap();
    assert_eq!(job.read_output(&ctx).unwrap().len(), 6 * 64);
    ctx.check().unwrap();
}

#[test]
fn device_loss_mid_run_is_one_error() {
    let Some(ctx) = common::vulkan() else { return };
    let layer = small_layer();
    // The device goes away while the third conv is being timed.
    let result = compare::run(&ctx, &layer, Variant::Tiled, &quick_settings(), |step| {
        if step == compare::Step::Conv(ConvKind::Pointwise) {
            ctx.device.destroy();
        }
    });
    let error = result.unwrap_err();
    assert!(matches!(error, GpuError::DeviceLost { .. }), "{error}");
    assert!(error.to_string().contains("was lost"), "{error}");
    // Everything after it reports the loss, nothing panics.
    let kernels = ConvKernels::new(&ctx);
    assert!(matches!(kernels, Err(GpuError::DeviceLost { .. })));
    assert!(matches!(ctx.check(), Err(GpuError::DeviceLost { .. })));
    assert_eq!(ctx.memory.held(), 0);
}

#[test]
fn device_loss_before_a_job_is_one_error() {
    let Some(ctx) = common::vulkan() else { return };
    let kernels = ConvKernels::new(&ctx).unwrap();
    let layer = small_layer();
    let job = ConvJob::new(&ctx, &kernels, &layer, ShaderKind::Conv2dTiled, None).unwrap();
    ctx.device.destroy();
    assert!(matches!(job.run(&ctx, &kernels), Err(GpuError::DeviceLost { .. })));
    assert!(matches!(job.read_output(&ctx), Err(GpuError::DeviceLost { .. })));
    let again = ConvJob::new(&ctx, &kernels, &layer, ShaderKind::Conv2dTiled, None);
    assert!(matches!(again, Err(GpuError::DeviceLost { .. })));
    let _ = GpuContext::check(&ctx);
}
