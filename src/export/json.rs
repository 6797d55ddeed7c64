//! JSON shapes. Later commands extend the `count` shape and never rename its keys.

use serde::Serialize;

use crate::cost::{Cost, LayerCost};
use crate::error::ShapeError;
use crate::layer::ConvLayer;

/// The layer with its derived output size, as every JSON report prints it.
#[derive(Debug, Clone, Serialize)]
pub struct LayerJson {
    #[serde(flatten)]
    pub layer: ConvLayer,
    pub out_height: u32,
    pub out_width: u32,
}

impl From<&ConvLayer> for LayerJson {
    fn from(layer: &ConvLayer) -> Self {
        LayerJson {
            layer: *layer,
            out_height: layer.out_height(),
            out_width: layer.out_width(),
        }
    }
}

/// `convflops count --json`.
#[derive(Debug, Clone, Serialize)]
pub struct CountJson {
    pub layer: LayerJson,
    pub standard: Cost,
    pub depthwise: Cost,
    pub pointwise: Cost,
    pub separable: Cost,
}

impl CountJson {
    pub fn new(layer: &ConvLayer) -> Result<Self, ShapeError> {
        let cost = LayerCost::of(layer)?;
        Ok(CountJson {
            layer: layer.into(),
            standard: cost.standard,
            depthwise: cost.depthwise,
            pointwise: cost.pointwise,
            separable: cost.separable,
        })
    }
}

/// Pretty JSON with a trailing newline.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}
