//! `pointwise`: the naive reference of the 1×1 conv (`shaders/pointwise.wgsl`): one output per invocation; 1×1
//! kernel, stride 1, no padding, one group.

use crate::gpu::kernel::Checks;
use crate::gpu::kernels::{rules, ConvKernel, Role, Source, Tile, Variant};
use crate::gpu::GpuError;
use crate::layer::ConvLayer;

pub struct Pointwise;

impl ConvKernel for Pointwise {
    fn name(&self) -> &'static str {
        "pointwise"
    }
    fn summary(&self) -> &'static str {
        "The 1×1 conv, one output per invocation (naive reference)."
    }
    fn family(&self) -> Variant {
        Variant::Naive
    }
    fn role(&self) -> Role {
        Role::Pointwise
    }
    fn source(&self) -> Source {
        Source::Wgsl {
            text: conv_source!("pointwise"),
            checks: Checks::Runtime,
        }
    }
    fn applies(&self, layer: &ConvLayer) -> Result<(), String> {
        rules::pointwise_only(layer)
    }
    fn grid(&self, layer: &ConvLayer, _tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        rules::one_per_output(self.name(), layer, max_per_dimension)
    }
    fn loop_steps(&self, layer: &ConvLayer) -> u64 {
        u64::from(layer.in_channels) + 1
    }
}
