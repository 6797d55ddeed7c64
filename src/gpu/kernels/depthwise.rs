//! `depthwise`: the naive reference of the depthwise conv (`shaders/depthwise.wgsl`): one output per invocation,
//! groups = C_in = C_out.

use crate::gpu::kernel::Checks;
use crate::gpu::kernels::{rules, ConvKernel, Role, Source, Tile, Variant};
use crate::gpu::GpuError;
use crate::layer::ConvLayer;

pub struct Depthwise;

impl ConvKernel for Depthwise {
    fn name(&self) -> &'static str {
        "depthwise"
    }
    fn summary(&self) -> &'static str {
        "The depthwise conv, one output per invocation (naive reference)."
    }
    fn family(&self) -> Variant {
        Variant::Naive
    }
    fn role(&self) -> Role {
        Role::Depthwise
    }
    fn source(&self) -> Source {
        Source::Wgsl {
            text: conv_source!("depthwise"),
            checks: Checks::Runtime,
        }
    }
    fn applies(&self, layer: &ConvLayer) -> Result<(), String> {
        rules::depthwise_only(layer)
    }
    fn grid(&self, layer: &ConvLayer, _tile: Option<Tile>, max_per_dimension: u32) -> Result<[u32; 3], GpuError> {
        rules::one_per_output(self.name(), layer, max_per_dimension)
    }
    fn loop_steps(&self, layer: &ConvLayer) -> u64 {
        rules::window_steps(layer)
    }
}
