//! Whole networks: an ordered list of named conv layers, counted layer by layer with the exact cost model.
//!
//! A [`Network`] comes from a built-in ([`builtin`]: MobileNet v1 and its all-standard-conv twin from the paper's
//! Table 4; torchvision's MobileNetV2, ResNet-18 and EfficientNet-B0, [`torchvision`]) or from a JSON layer file
//! ([`file`], whose doc comment gives the format). [`Report::of`] counts it: one [`Cost`](crate::cost::Cost) per
//! layer, the totals and the sums by [`LayerKind`] with their shares (the MobileNet paper's Table 2 view). [`run`]
//! runs it on an adapter, layer after layer on chained device buffers, and times each layer and the whole network.

pub mod file;
pub mod mobilenet;
pub mod onnx;
pub mod report;
pub mod run;
pub mod torchvision;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::error::ShapeError;
use crate::layer::ConvLayer;

pub use file::{load, parse, FileLayer, NetworkFile};
pub use mobilenet::{conv_mobilenet_v1, mobilenet_v1};
pub use report::{KindReport, LayerReport, Report};
pub use run::{NetworkComparison, NetworkRun};
pub use torchvision::{efficientnet_b0, mobilenet_v2, resnet18};

/// What a layer is, for the by-kind sums. Serialised in lowercase: `standard`, `depthwise`, `pointwise`, `fc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    /// A full (possibly grouped) conv, e.g. MobileNet's 3×3 stem.
    Standard,
    /// groups = C_in = C_out: one filter per channel.
    Depthwise,
    /// A 1×1 conv with one group.
    Pointwise,
    /// A fully connected layer, counted as a 1×1 conv on a 1×1 input.
    Fc,
}

impl LayerKind {
    /// Every kind, in report order.
    pub const ALL: [LayerKind; 4] = [
        LayerKind::Standard,
        LayerKind::Depthwise,
        LayerKind::Pointwise,
        LayerKind::Fc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LayerKind::Standard => "standard",
            LayerKind::Depthwise => "depthwise",
            LayerKind::Pointwise => "pointwise",
            LayerKind::Fc => "fc",
        }
    }

    /// The kind a layer file gets when it does not say: a 1×1 kernel with one group on an unpadded 1×1 input is `fc`, any
    /// other 1×1 kernel with one group `pointwise`, groups = C_in = C_out > 1 `depthwise`, everything else
    /// `standard`.
    pub fn of_layer(layer: &ConvLayer) -> LayerKind {
        if layer.kernel == [1, 1] && layer.groups == 1 {
            // A padded 1×1 conv on a 1×1 input has a larger output than one pixel: a conv, not a matrix–vector product.
            if layer.height == 1 && layer.width == 1 && layer.padding == [0, 0] {
                LayerKind::Fc
            } else {
                LayerKind::Pointwise
            }
        } else if layer.groups > 1 && layer.is_depthwise() {
            LayerKind::Depthwise
        } else {
            LayerKind::Standard
        }
    }
}

impl std::fmt::Display for LayerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One named layer of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkLayer {
    pub name: String,
    pub kind: LayerKind,
    pub layer: ConvLayer,
}

impl NetworkLayer {
    /// A layer whose kind is derived from its shape ([`LayerKind::of_layer`]).
    pub fn new(name: impl Into<String>, layer: ConvLayer) -> Self {
        NetworkLayer {
            name: name.into(),
            kind: LayerKind::of_layer(&layer),
            layer,
        }
    }
}

/// A network: its name and its conv layers in order. Pooling, activations and batch-norm cost nothing here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub name: String,
    pub layers: Vec<NetworkLayer>,
}

/// The names [`builtin`] accepts.
pub const BUILTIN_NAMES: [&str; 5] = [
    "mobilenet-v1",
    "conv-mobilenet-v1",
    "mobilenet-v2",
    "resnet-18",
    "efficientnet-b0",
];

/// A built-in network by name (one of [`BUILTIN_NAMES`]) with every layer at batch size `batch`.
pub fn builtin(name: &str, batch: u32) -> Result<Network, ModelError> {
    check_batch(batch)?;
    match name {
        "mobilenet-v1" => Ok(mobilenet_v1(batch)),
        "conv-mobilenet-v1" => Ok(conv_mobilenet_v1(batch)),
        "mobilenet-v2" => Ok(mobilenet_v2(batch)),
        "resnet-18" => Ok(resnet18(batch)),
        "efficientnet-b0" => Ok(efficientnet_b0(batch)),
        _ => Err(ModelError::UnknownModel { name: name.to_string() }),
    }
}

pub(crate) fn check_batch(batch: u32) -> Result<(), ModelError> {
    if batch == 0 {
        Err(ModelError::ZeroBatch)
    } else {
        Ok(())
    }
}

/// Why a network could not be built, read or counted. Every message names what to change: the model name,
/// `--batch`, or the file with the layer (`layers[INDEX]` and its name) and the field.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error("unknown model '{name}': the built-in models are {}", BUILTIN_NAMES.join(", "))]
    UnknownModel { name: String },
    #[error("--batch must be at least 1 (got 0)")]
    ZeroBatch,
    #[error("cannot read the model file {}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a valid model file", file.display())]
    Parse {
        file: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: the network has no layers (\"layers\" is empty)", file.display())]
    NoLayers { file: PathBuf },
    #[error("{}: {}{}: {reason}", file.display(), layer_label(*index, name.as_deref()), field_label(field.as_deref()))]
    Layer {
        file: PathBuf,
        /// Position in the file's `layers` array, from 0.
        index: usize,
        /// The layer's name when the file gives one.
        name: Option<String>,
        /// The offending field, when one can be named.
        field: Option<String>,
        reason: String,
    },
    #[error("model {model}: {}", layer_label(*index, Some(name)))]
    Overflow {
        model: String,
        index: usize,
        name: String,
        #[source]
        source: ShapeError,
    },
    #[error("model {model}: the total {what} count overflows 64 bits: reduce --batch")]
    TotalOverflow { model: String, what: &'static str },
    #[error("{}: {error}", file.display())]
    Onnx { file: PathBuf, error: Box<onnx::OnnxError> },
    #[error("{}: --input-shape applies to ONNX models only, this is a JSON layer file", file.display())]
    InputShapeOnJson { file: PathBuf },
}

/// Reads a model file of either format, told apart by content: an ONNX model ([`onnx::load`]; a file named
/// `.onnx` is always read as one) or a JSON layer file ([`load`]). `input_shape` (`--input-shape`) is for ONNX
/// models only.
pub fn open(file: &std::path::Path, batch: u32, input_shape: Option<&onnx::InputShape>) -> Result<Network, ModelError> {
    use std::io::Read;
    check_batch(batch)?;
    let mut head = [0u8; 1];
    let got = std::fs::File::open(file)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|source| ModelError::Read {
            file: file.to_path_buf(),
            source,
        })?;
    let named_onnx = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    if named_onnx || onnx::looks_like_onnx(&head[..got]) {
        onnx::load(file, batch, input_shape)
    } else if input_shape.is_some() {
        Err(ModelError::InputShapeOnJson {
            file: file.to_path_buf(),
        })
    } else {
        load(file, batch)
    }
}

fn layer_label(index: usize, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("layers[{index}] \"{name}\""),
        None => format!("layers[{index}]"),
    }
}

fn field_label(field: Option<&str>) -> String {
    match field {
        Some(field) => format!(", field `{field}`"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every fc layer of the built-in networks (the classifiers and EfficientNet-B0's 32 squeeze-excitation convs)
    /// runs on the cpu family's GEMV, at batch 1 and 16; at batch 17 they go to the GEMM.
    #[test]
    fn the_fc_layers_of_every_builtin_network_run_on_the_gemv() {
        use crate::gpu::{ShaderKind, Variant};
        for batch in [1, 16, 17] {
            let mut fc = 0;
            for name in BUILTIN_NAMES {
                for layer in builtin(name, batch).unwrap().layers {
                    if layer.kind != LayerKind::Fc {
                        continue;
                    }
                    fc += 1;
                    let want = if batch <= 16 {
                        ShaderKind::GemvCpu
                    } else {
                        ShaderKind::PointwiseCpu
                    };
                    assert_eq!(
                        Variant::Cpu.shader_for(&layer.layer),
                        want,
                        "{name} {} at batch {batch}",
                        layer.name
                    );
                }
            }
            // The classifiers of the five networks and EfficientNet-B0's 16 fc1 and 16 fc2.
            assert_eq!(fc, 5 + 32);
        }
    }

    #[test]
    fn a_padded_1x1_conv_on_a_1x1_input_is_not_fc() {
        let fc = ConvLayer {
            in_channels: 64,
            out_channels: 16,
            height: 1,
            width: 1,
            kernel: [1, 1],
            padding: [0, 0],
            ..ConvLayer::default()
        };
        assert_eq!(LayerKind::of_layer(&fc), LayerKind::Fc);
        let padded = ConvLayer { padding: [1, 1], ..fc };
        assert_eq!(LayerKind::of_layer(&padded), LayerKind::Pointwise);
    }

    #[test]
    fn kinds_from_shapes() {
        let base = ConvLayer::default();
        assert_eq!(LayerKind::of_layer(&base), LayerKind::Standard);
        assert_eq!(LayerKind::of_layer(&base.depthwise()), LayerKind::Depthwise);
        assert_eq!(LayerKind::of_layer(&base.pointwise()), LayerKind::Pointwise);
        let fc = ConvLayer {
            height: 1,
            width: 1,
            ..base.pointwise()
        };
        assert_eq!(LayerKind::of_layer(&fc), LayerKind::Fc);
        // groups = C_in = C_out = 1 is an ordinary conv, not a depthwise one.
        let single = ConvLayer {
            in_channels: 1,
            out_channels: 1,
            ..base
        };
        assert_eq!(LayerKind::of_layer(&single), LayerKind::Standard);
        let grouped = ConvLayer { groups: 4, ..base };
        assert_eq!(LayerKind::of_layer(&grouped), LayerKind::Standard);
    }

    #[test]
    fn kinds_serialise_in_lowercase() {
        let names: Vec<String> = LayerKind::ALL
            .iter()
            .map(|k| serde_json::to_string(k).unwrap())
            .collect();
        assert_eq!(names, ["\"standard\"", "\"depthwise\"", "\"pointwise\"", "\"fc\""]);
        for kind in LayerKind::ALL {
            assert_eq!(kind.to_string(), kind.name());
        }
    }

    #[test]
    fn builtin_names_and_errors() {
        for name in BUILTIN_NAMES {
            assert_eq!(builtin(name, 1).unwrap().name, name);
        }
        let unknown = builtin("resnet-50", 1).unwrap_err().to_string();
        assert!(
            unknown.contains("resnet-50") && unknown.contains("mobilenet-v1, conv-mobilenet-v1"),
            "{unknown}"
        );
        let zero = builtin("mobilenet-v1", 0).unwrap_err().to_string();
        assert!(zero.contains("--batch"), "{zero}");
    }
}
