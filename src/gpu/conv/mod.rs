//! Running the registry's conv kernels ([`crate::gpu::kernels`]) on a device: [`JobPlan`] checks a layer against
//! a kernel and the adapter's limits, [`ConvKernels`] builds each pipeline the first time a job needs it, and
//! [`ConvJob`] holds one layer's buffers and dispatches.

mod job;
mod params;
mod pipelines;
mod plan;
mod readback;

pub use job::ConvJob;
pub use params::ConvParams;
pub(crate) use params::{params_buffer, storage_buffer};
pub(crate) use pipelines::proven_safe_checks;
pub use pipelines::ConvKernels;
pub(crate) use plan::{check_chained_input, check_loop_steps, checked_buffer_bytes, expect_len, output_plan};
pub use plan::{JobPlan, LLVMPIPE_MAX_LOOP_STEPS, MAX_SHADER_COORDINATE, MAX_SHADER_ELEMENTS};
pub use readback::{read_buffer, read_bytes};

pub use crate::gpu::kernels::weights::pack_weights;
pub(crate) use crate::gpu::kernels::weights::packed_weight_len;
pub use crate::gpu::kernels::{ShaderKind, Tile, TileTable, Variant, WORKGROUP_SIZE};
