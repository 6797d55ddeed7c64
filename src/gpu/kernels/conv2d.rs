//! `conv2d`: the naive reference of the standard conv (`shaders/conv2d.wgsl`): one output per invocation, any layer.

use crate::gpu::kernel::Checks;
use crate::gpu::kernels::{rules, ConvKernel, Role, Source, Tile, Variant};
use crate::gpu::GpuError;
use crate::layer::ConvLayer;

pub struct Conv2d;

impl ConvKernel for Conv2d {
    fn name(&self) -> &'static str {
        "conv2d"
    }
    fn summary(&self) -> &'static str {
        "The general conv, one output per invocation (naive reference)."
    }
    fn family(&self) -> Variant {
        Variant::Naive
    }
    fn role(&self) -> Role {
        Role::Standard
    }
    fn source(&self) -> Source {
        Source::Wgsl {
            text: conv_source!("conv2d"),
            checks: Checks::Runtime,
        }
    }
    fn applies(&self, _layer: &ConvLayer) -> Result<(), String> {
        Ok(())
    }
    fn grid(&self, layer: &ConvLayer, _tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        rules::one_per_output(self.name(), layer, max_per_dimension)
    }
    fn loop_steps(&self, layer: &ConvLayer) -> u64 {
        rules::general_steps(layer)
    }
}
