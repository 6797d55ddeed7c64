//! convflops: FLOPs (a count, fixed by a layer's shape) versus FLOP/s (a rate, measured on hardware) for 2-D
//! convolutions.
//!
//! The modules follow the pipeline: [`layer`] (the shape) → [`cost`] (exact analytic counts) → `gpu` (WGSL kernels)
//! → timing → [`export`] (reports). Everything here is usable without the command line.

pub mod bench;
pub mod cache;
pub mod ceilings;
pub mod compare;
pub mod cost;
pub mod error;
pub mod explain;
pub mod export;
pub mod gpu;
pub mod layer;
pub mod measure;
pub mod models;
pub mod npy;
pub mod output;
pub mod reference;
pub mod rng;
pub mod sweep;
pub mod tune;
pub mod units;
pub mod verify;

pub use cost::{ConvKind, Cost, LayerCost};
pub use error::ShapeError;
pub use layer::ConvLayer;
