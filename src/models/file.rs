//! The JSON layer file: a network read with `convflops model --file FILE` and written by `--export-layers FILE`.
//!
//! ```json
//! {
//!   "name": "mobilenet-v1",
//!   "layers": [
//!     {
//!       "name": "conv1",
//!       "kind": "standard",
//!       "in_channels": 3,
//!       "out_channels": 32,
//!       "height": 224,
//!       "width": 224,
//!       "kernel": [3, 3],
//!       "stride": [2, 2],
//!       "padding": [1, 1],
//!       "dilation": [1, 1],
//!       "groups": 1,
//!       "bias": false
//!     }
//!   ]
//! }
//! ```
//!
//! - `name` (string) names the network; `layers` is a non-empty array of layers in order.
//! - Every layer needs `name` (string), `in_channels`, `out_channels`, `height`, `width` (the layer's input size),
//!   `kernel`, `stride` and `padding` (`[height axis, width axis]`, padding added on both sides).
//! - Optional: `kind` (`standard`, `depthwise`, `pointwise` or `fc`; when absent it is derived from the shape by
//!   [`LayerKind::of_layer`]: a 1×1 kernel with one group on a 1×1 input is `fc`, any other 1×1 kernel with one group
//!   `pointwise`, groups = C_in = C_out > 1 `depthwise`, anything else `standard`; when given it must agree with the
//!   shape (a 1×1 conv on a 1×1 input may be called `pointwise`, a non-depthwise shape `standard`) and labels the
//!   by-kind sums), `dilation` (default `[1, 1]`), `groups` (default 1), `bias` (default false).
//! - There is no batch: it comes from `--batch`. Counts are whole numbers from 0 to 4294967295; every layer must pass
//!   [`ConvLayer::validated`]. Unknown fields are errors, at the top level and in layers.
//!
//! Errors name the file, the layer (`layers[INDEX]`, from 0, with its name) and the field.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Field, ShapeError};
use crate::layer::{ConvLayer, Pair};

use super::{check_batch, LayerKind, ModelError, Network, NetworkLayer};

/// One layer as the file spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLayer {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<LayerKind>,
    pub in_channels: u32,
    pub out_channels: u32,
    pub height: u32,
    pub width: u32,
    pub kernel: Pair,
    pub stride: Pair,
    pub padding: Pair,
    #[serde(default = "ones")]
    pub dilation: Pair,
    #[serde(default = "one")]
    pub groups: u32,
    #[serde(default)]
    pub bias: bool,
}

fn ones() -> Pair {
    [1, 1]
}

fn one() -> u32 {
    1
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkFile {
    pub name: String,
    pub layers: Vec<FileLayer>,
}

/// The top level read first, so that an error in a layer can name the layer.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetworkFile {
    name: String,
    layers: Vec<Value>,
}

impl FileLayer {
    /// The layer at batch size `batch`, not yet validated.
    pub fn layer(&self, batch: u32) -> ConvLayer {
        ConvLayer {
            batch,
            in_channels: self.in_channels,
            out_channels: self.out_channels,
            height: self.height,
            width: self.width,
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
            groups: self.groups,
            bias: self.bias,
        }
    }
}

impl From<&NetworkLayer> for FileLayer {
    fn from(layer: &NetworkLayer) -> Self {
        let l = &layer.layer;
        FileLayer {
            name: layer.name.clone(),
            kind: Some(layer.kind),
            in_channels: l.in_channels,
            out_channels: l.out_channels,
            height: l.height,
            width: l.width,
            kernel: l.kernel,
            stride: l.stride,
            padding: l.padding,
            dilation: l.dilation,
            groups: l.groups,
            bias: l.bias,
        }
    }
}

impl From<&Network> for NetworkFile {
    fn from(network: &Network) -> Self {
        NetworkFile {
            name: network.name.clone(),
            layers: network.layers.iter().map(FileLayer::from).collect(),
        }
    }
}

impl Network {
    /// The network in the file format (every field written, `kind` included), pretty JSON with a trailing newline.
    /// Reading it back with [`parse`] at the same batch size gives this network again.
    pub fn to_file_json(&self) -> Result<String, serde_json::Error> {
        let mut text = serde_json::to_string_pretty(&NetworkFile::from(self))?;
        text.push('\n');
        Ok(text)
    }
}

/// Reads and parses a layer file ([`parse`]).
pub fn load(file: &Path, batch: u32) -> Result<Network, ModelError> {
    check_batch(batch)?;
    let text = std::fs::read_to_string(file).map_err(|source| ModelError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    parse(&text, file, batch)
}

/// Parses the text of a layer file; `file` only names it in errors. Every layer is validated at batch size `batch`.
pub fn parse(text: &str, file: &Path, batch: u32) -> Result<Network, ModelError> {
    check_batch(batch)?;
    let raw: RawNetworkFile = serde_json::from_str(text).map_err(|source| ModelError::Parse {
        file: file.to_path_buf(),
        source,
    })?;
    if raw.layers.is_empty() {
        return Err(ModelError::NoLayers {
            file: file.to_path_buf(),
        });
    }
    let layers = raw
        .layers
        .iter()
        .enumerate()
        .map(|(index, value)| parse_layer(value, index, file, batch))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Network {
        name: crate::units::printable(&raw.name).into_owned(),
        layers,
    })
}

fn parse_layer(value: &Value, index: usize, file: &Path, batch: u32) -> Result<NetworkLayer, ModelError> {
    let layer_error = |name: Option<String>, field: Option<String>, reason: String| ModelError::Layer {
        file: file.to_path_buf(),
        index,
        name,
        field,
        reason,
    };
    let given_name = value.get("name").and_then(Value::as_str).map(str::to_string);
    let parsed = FileLayer::deserialize(value)
        .map_err(|error| layer_error(given_name.clone(), culprit(value), error.to_string()))?;
    let layer = parsed.layer(batch).validated().map_err(|error| {
        let (field, reason) = explain_shape_error(&error);
        layer_error(Some(parsed.name.clone()), field.map(str::to_string), reason)
    })?;
    let derived = LayerKind::of_layer(&layer);
    let kind = parsed.kind.unwrap_or(derived);
    // A given kind must agree with the shape: it decides where the layer's FLOPs are filed.
    let agrees = match kind {
        LayerKind::Depthwise => derived == LayerKind::Depthwise,
        LayerKind::Pointwise => matches!(derived, LayerKind::Pointwise | LayerKind::Fc),
        LayerKind::Fc => derived == LayerKind::Fc,
        LayerKind::Standard => derived != LayerKind::Depthwise,
    };
    if !agrees {
        let rule = match kind {
            LayerKind::Depthwise => "depthwise needs groups = in_channels = out_channels > 1",
            LayerKind::Pointwise => "pointwise needs a 1×1 kernel with groups 1",
            LayerKind::Fc => "fc needs a 1×1 kernel with groups 1 on a 1×1 input, unpadded",
            LayerKind::Standard => "a layer with groups = in_channels = out_channels > 1 is depthwise",
        };
        return Err(layer_error(
            Some(parsed.name.clone()),
            Some("kind".to_string()),
            format!(
                "\"{kind}\" does not match the shape ({}×{} kernel, groups {}, {}→{} channels, which is {derived}): \
                 {rule}; correct `kind` or leave it out to derive it",
                layer.kernel[0], layer.kernel[1], layer.groups, layer.in_channels, layer.out_channels
            ),
        ));
    }
    Ok(NetworkLayer {
        // Names only label the layer: control characters (ANSI escapes) are escaped so they cannot reach a terminal.
        name: crate::units::printable(&parsed.name).into_owned(),
        kind,
        layer,
    })
}

/// The first field of a layer object that is unknown or does not have its field's type, so that serde's message
/// ("unknown variant `conv` …", "invalid type: string …") can be given with the field's name. `None` when every
/// present field is fine (a missing field: serde's message names it) or the layer is not an object.
fn culprit(value: &Value) -> Option<String> {
    let object = value.as_object()?;
    object
        .iter()
        .find(|(key, value)| {
            let fits = match key.as_str() {
                "name" => String::deserialize(*value).is_ok(),
                "kind" => Option::<LayerKind>::deserialize(*value).is_ok(),
                "in_channels" | "out_channels" | "height" | "width" | "groups" => u32::deserialize(*value).is_ok(),
                "kernel" | "stride" | "padding" | "dilation" => Pair::deserialize(*value).is_ok(),
                "bias" => bool::deserialize(*value).is_ok(),
                _ => false,
            };
            !fits
        })
        .map(|(key, _)| key.clone())
}

/// The file field a [`ShapeError`] is about (its JSON key) and a reason in the file's terms.
fn explain_shape_error(error: &ShapeError) -> (Option<&'static str>, String) {
    match error {
        // The batch is not a field of the file: it is the reader's argument (`--batch`).
        ShapeError::Zero { field: Field::Batch } => (None, "--batch must be at least 1 (got 0)".to_string()),
        ShapeError::Zero { field } => (Some(field.name()), "must be at least 1 (got 0)".to_string()),
        ShapeError::GroupsDoNotDivide {
            groups,
            in_channels,
            out_channels,
        } => (
            Some("groups"),
            format!("groups {groups} must divide both in_channels {in_channels} and out_channels {out_channels}"),
        ),
        ShapeError::EmptyOutput {
            axis,
            size,
            padding,
            kernel,
            dilation,
        } => (
            Some("kernel"),
            format!(
                "the kernel ({kernel} taps, dilation {dilation}) is larger than the padded input along {axis} \
                 ({axis} {size} + 2·padding {padding}): the output would be empty"
            ),
        ),
        // Overflow (and any later variant): not one field's fault; the message says what to reduce.
        _ => (None, error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{conv_mobilenet_v1, mobilenet_v1};

    fn path() -> &'static Path {
        Path::new("net.json")
    }

    fn error_of(text: &str) -> String {
        parse(text, path(), 1).unwrap_err().to_string()
    }

    const ONE_LAYER: &str = r#"{"name": "tiny", "layers": [
        {"name": "a", "in_channels": 8, "out_channels": 16, "height": 10, "width": 12,
         "kernel": [3, 3], "stride": [1, 1], "padding": [1, 1]}]}"#;

    #[test]
    fn a_kind_that_contradicts_the_shape_is_refused_by_layer() {
        let text = r#"{"name": "n", "layers": [
            {"name": "dw?", "kind": "depthwise", "in_channels": 8, "out_channels": 8, "height": 4, "width": 4,
             "kernel": [3, 3], "stride": [1, 1], "padding": [1, 1]}]}"#;
        let error = parse(text, path(), 1).unwrap_err().to_string();
        assert!(error.contains("\"dw?\"") && error.contains("kind"), "{error}");
        assert!(error.contains("depthwise needs groups"), "{error}");
        let fine = text.replace("\"kind\": \"depthwise\"", "\"kind\": \"depthwise\", \"groups\": 8");
        assert!(parse(&fine, path(), 1).is_ok());
        let fc = text.replace("\"depthwise\"", "\"fc\"");
        assert!(parse(&fc, path(), 1).is_err());
    }

    #[test]
    fn defaults_and_derived_kind() {
        let net = parse(ONE_LAYER, path(), 3).unwrap();
        assert_eq!(net.name, "tiny");
        let layer = &net.layers[0];
        assert_eq!((layer.name.as_str(), layer.kind), ("a", LayerKind::Standard));
        assert_eq!(layer.layer.batch, 3);
        assert_eq!(
            (layer.layer.dilation, layer.layer.groups, layer.layer.bias),
            ([1, 1], 1, false)
        );
    }

    #[test]
    fn every_kind_is_derived() {
        let text = r#"{"name": "kinds", "layers": [
            {"name": "dw", "in_channels": 8, "out_channels": 8, "groups": 8, "height": 4, "width": 4,
             "kernel": [3, 3], "stride": [1, 1], "padding": [1, 1]},
            {"name": "pw", "in_channels": 8, "out_channels": 16, "height": 4, "width": 4,
             "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0]},
            {"name": "fc", "in_channels": 16, "out_channels": 10, "height": 1, "width": 1,
             "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0], "bias": true},
            {"name": "labelled", "kind": "pointwise", "in_channels": 8, "out_channels": 8, "height": 1, "width": 1,
             "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0]}]}"#;
        let kinds: Vec<LayerKind> = parse(text, path(), 1).unwrap().layers.iter().map(|l| l.kind).collect();
        assert_eq!(
            kinds,
            [
                LayerKind::Depthwise,
                LayerKind::Pointwise,
                LayerKind::Fc,
                LayerKind::Pointwise
            ]
        );
    }

    #[test]
    fn round_trip() {
        for net in [mobilenet_v1(4), conv_mobilenet_v1(4)] {
            let text = net.to_file_json().unwrap();
            assert!(!text.contains("batch"));
            assert_eq!(parse(&text, path(), 4).unwrap(), net);
        }
    }

    #[test]
    fn errors_name_the_file_layer_and_field() {
        let bad_json = error_of("{\"name\": \"x\", \"layers\": [");
        assert!(bad_json.starts_with("net.json: not a valid model file"), "{bad_json}");

        let top = error_of(r#"{"name": "x", "layers": [], "batch": 1}"#);
        assert!(top.contains("net.json"), "{top}");
        let empty = error_of(r#"{"name": "x", "layers": []}"#);
        assert!(empty.contains("no layers"), "{empty}");

        let unknown = error_of(&ONE_LAYER.replace("\"width\": 12", "\"width\": 12, \"colour\": 1"));
        assert!(
            unknown.contains("net.json: layers[0] \"a\", field `colour`: unknown field `colour`"),
            "{unknown}"
        );

        let kind = error_of(&ONE_LAYER.replace("\"width\": 12", "\"width\": 12, \"kind\": \"conv\""));
        assert!(
            kind.contains("layers[0] \"a\", field `kind`: unknown variant `conv`"),
            "{kind}"
        );

        let zero = error_of(&ONE_LAYER.replace("\"in_channels\": 8", "\"in_channels\": 0"));
        assert!(
            zero.contains("layers[0] \"a\", field `in_channels`: must be at least 1"),
            "{zero}"
        );

        let big = error_of(&ONE_LAYER.replace("\"kernel\": [3, 3]", "\"kernel\": [3, 15]"));
        assert!(big.contains("field `kernel`") && big.contains("width 12"), "{big}");

        let negative = error_of(&ONE_LAYER.replace("\"height\": 10", "\"height\": -1"));
        assert!(negative.contains("field `height`"), "{negative}");

        let short = error_of(&ONE_LAYER.replace("\"stride\": [1, 1]", "\"stride\": [1]"));
        assert!(short.contains("field `stride`"), "{short}");

        let missing = error_of(&ONE_LAYER.replace("\"padding\": [1, 1]", "\"dilation\": [1, 1]"));
        assert!(
            missing.contains("layers[0] \"a\": missing field `padding`"),
            "{missing}"
        );

        let groups = error_of(&ONE_LAYER.replace("\"kernel\"", "\"groups\": 3, \"kernel\""));
        assert!(groups.contains("field `groups`"), "{groups}");

        let not_object = error_of(r#"{"name": "x", "layers": [7]}"#);
        assert!(not_object.starts_with("net.json: layers[0]: "), "{not_object}");

        let overflow = ONE_LAYER.replace("\"in_channels\": 8, \"out_channels\": 16", {
            "\"in_channels\": 4294967295, \"out_channels\": 4294967295"
        });
        let overflow = parse(&overflow, path(), u32::MAX).unwrap_err().to_string();
        assert!(overflow.contains("overflows 64 bits"), "{overflow}");

        assert!(parse(ONE_LAYER, path(), 0).unwrap_err().to_string().contains("--batch"));
    }

    #[test]
    fn read_errors_name_the_file() {
        let missing = load(Path::new("no/such/model.json"), 1).unwrap_err().to_string();
        assert!(missing.contains("no/such/model.json"), "{missing}");
    }
}
