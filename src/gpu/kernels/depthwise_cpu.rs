//! `depthwise-cpu`: the depthwise conv generated per layer for CPU adapters ([`cpu::depthwise_source`]): lanes over
//! channels, a whole output tile per invocation in straight-line code; kernels up to 7×7, any stride, padding,
//! dilation and H·W.

use crate::gpu::conv::{ConvKernels, JobPlan};
use crate::gpu::cpu::{self, DepthwiseTile};
use crate::gpu::kernel;
use crate::gpu::kernels::{rules, Bound, ConvKernel, JobBuffers, Role, Source, Tile, Variant, CONV_BINDINGS};
use crate::gpu::{GpuContext, GpuError};
use crate::layer::ConvLayer;

pub struct DepthwiseCpu;

impl ConvKernel for DepthwiseCpu {
    fn name(&self) -> &'static str {
        "depthwise-cpu"
    }
    fn summary(&self) -> &'static str {
        "The depthwise conv generated for CPU adapters (kernels up to 7×7, any stride and size)."
    }
    fn family(&self) -> Variant {
        Variant::Cpu
    }
    fn role(&self) -> Role {
        Role::Depthwise
    }
    fn source(&self) -> Source {
        Source::Generated
    }
    fn applies(&self, layer: &ConvLayer) -> Result<(), String> {
        rules::depthwise_only(layer)?;
        if layer.kernel[0] > 7 || layer.kernel[1] > 7 {
            return Err(format!(
                "it takes kernels up to 7×7, got {}×{}",
                layer.kernel[0], layer.kernel[1]
            ));
        }
        Ok(())
    }
    fn grid(&self, layer: &ConvLayer, _tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        kernel::grid(
            DepthwiseTile::for_layer(layer).invocations(layer),
            cpu::CPU_WORKGROUP,
            max_per_dimension,
            self.name(),
        )
    }
    fn loop_steps(&self, _layer: &ConvLayer) -> u64 {
        // Straight-line code.
        1
    }
    fn workgroup_size(&self, _layer: &ConvLayer, _tile: Option<Tile>) -> u32 {
        cpu::CPU_WORKGROUP
    }
    fn bind(
        &self,
        ctx: &GpuContext,
        kernels: &ConvKernels,
        plan: &JobPlan,
        buffers: &JobBuffers<'_>,
    ) -> Result<Bound, GpuError> {
        let kernel = kernels.generated(
            ctx,
            self.name(),
            cpu::depthwise_source(&plan.layer, cpu::Vec4Access::for_device(ctx.int64)),
            &CONV_BINDINGS,
            cpu::CPU_WORKGROUP,
        )?;
        let bind_group = kernel.kernel.bind(ctx, buffers.params, &buffers.storage())?;
        Ok(Bound::one(kernel, bind_group, plan.grid))
    }
}
