//! ONNX models in: `convflops model --file NET.onnx` reads an ONNX file and yields the same [`Network`] as a JSON
//! layer file, one layer per 2-D `Conv` and per `Gemm`/`MatMul` with a constant weight (an fc layer), named after
//! the ONNX node.
//!
//! - Reading ([`wire`]): a hand-written protobuf reader for the few onnx.proto messages needed. It streams the file
//!   and skips weight bytes with a seek, so memory stays at the size of the graph's structure, and it needs no
//!   protobuf compiler or generated code.
//! - Shapes ([`ops`]): from the graph input (its shape in the file, the batch from `--batch`, or all of it from
//!   `--input-shape`), propagated node by node in topological order with convflops' own rules, which fold the small
//!   shape computations exporters emit (`Shape → Gather → Div → Concat → Reshape`). A node whose output cannot be
//!   inferred makes an error only when a counted layer depends on it, and the error names that node, its op and
//!   what to do. Where the file's `value_info` gives a complete shape it must agree with the inferred one.
//! - What is counted: each `Conv` as a conv layer of kind standard, depthwise or pointwise (never fc, even a 1×1
//!   conv on a 1×1 input), with its bias, groups, dilation, strides and padding (`auto_pad` included; asymmetric
//!   padding becomes the symmetric padding with the same output size, which has the same cost); each `Gemm` or
//!   `MatMul` whose weight is a constant as an fc layer: `[batch, rows…, K] × [K, N]` is a 1×1 conv from K to N
//!   channels on a `rows`×1 input. Nothing else carries MACs in convflops' model; a `ConvTranspose` or quantised
//!   conv is refused rather than left out.

pub mod builder;
pub mod ops;
pub mod values;
pub mod wire;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{Cursor, Read, Seek};
use std::path::Path;
use std::str::FromStr;

use thiserror::Error;

use super::{check_batch, LayerKind, ModelError, Network, NetworkLayer};
use values::{tensor_value, Val};
use wire::{Dim, Model, Node};

/// Why an ONNX file could not be read or counted. Every message names the node, tensor or input at fault.
#[derive(Debug, Error)]
pub enum OnnxError {
    #[error("not an ONNX model: an ONNX file begins with its IR version (byte 0x08), this one with {found}")]
    WrongMagic { found: String },
    #[error("the file is truncated: it ends inside {what} at byte {offset}")]
    Truncated { offset: u64, what: String },
    #[error("malformed protobuf in {what} at byte {offset}: {reason} (not an ONNX model, or a damaged one)")]
    Malformed { offset: u64, what: String, reason: String },
    #[error("reading {what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the model has no graph")]
    NoGraph,
    #[error("initializer '{name}' {reason}")]
    Initializer { name: String, reason: String },
    #[error("'{name}' is defined twice (by {first} and by {second})")]
    Duplicate {
        name: String,
        first: String,
        second: String,
    },
    #[error(
        "node '{node}' ({op}) reads '{input}', which no initializer, graph input or node defines (a missing \
         initializer?)"
    )]
    Missing { node: String, op: String, input: String },
    #[error("the graph has a cycle through node '{node}' ({op}): a node depends on its own output")]
    Cycle { node: String, op: String },
    #[error("graph input '{name}': {reason}")]
    Input { name: String, reason: String },
    #[error("node '{node}' ({op}): {reason}")]
    Node { node: String, op: String, reason: String },
    #[error(
        "node '{node}' ({op}): cannot infer its output shape: {reason}; the layer '{layer}' depends on it. {advice}"
    )]
    Infer {
        node: String,
        op: String,
        reason: String,
        layer: String,
        /// What to do: count at the file's own input shape, or simplify the model.
        advice: String,
    },
    #[error(
        "node '{node}' ({op}): convflops counts Conv, Gemm and MatMul only, so this layer's cost would be missing \
         from the total"
    )]
    Uncounted { node: String, op: String },
    #[error(
        "node '{node}' ({op}): inferred shape {inferred:?} for '{value}', but the file's value_info says {declared:?}"
    )]
    Disagrees {
        node: String,
        op: String,
        value: String,
        inferred: Vec<u64>,
        declared: Vec<u64>,
    },
    #[error("the model has no Conv, and no Gemm or MatMul with a constant weight: nothing to count")]
    NoLayers,
    #[error("--input-shape: {0}")]
    InputShape(String),
}

/// `--input-shape NxCxHxW`: the whole shape of the model's input, every dimension at least 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputShape(pub Vec<u64>);

impl FromStr for InputShape {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let dims = text
            .split(['x', 'X', ','])
            .map(|part| match part.trim().parse::<u32>() {
                Ok(d) if d >= 1 => Ok(u64::from(d)),
                _ => Err(format!(
                    "'{text}' is not a shape like 1x3x224x224 (whole numbers from 1 to 4294967295, separated by x)"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if dims.len() > 8 {
            return Err(format!("'{text}' has {} dimensions, at most 8", dims.len()));
        }
        Ok(InputShape(dims))
    }
}

impl std::fmt::Display for InputShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join("x"))
    }
}

/// True when `head` (the first bytes of a file) is an ONNX model: a protobuf `ModelProto` begins with its
/// `ir_version` field, key byte 0x08, which every ONNX writer puts first.
pub fn looks_like_onnx(head: &[u8]) -> bool {
    head.first() == Some(&0x08)
}

/// Reads and counts the ONNX model in `file` at batch size `batch` (which replaces the input's first dimension),
/// or with the whole `input_shape`.
pub fn load(file: &Path, batch: u32, input_shape: Option<&InputShape>) -> Result<Network, ModelError> {
    check_batch(batch)?;
    let wrap = |error| ModelError::Onnx {
        file: file.to_path_buf(),
        error: Box::new(error),
    };
    let read_error = |source| ModelError::Read {
        file: file.to_path_buf(),
        source,
    };
    let mut handle = File::open(file).map_err(read_error)?;
    let len = handle.metadata().map_err(read_error)?.len();
    let mut head = [0u8; 4];
    let got = handle.read(&mut head).map_err(read_error)?;
    handle.rewind().map_err(read_error)?;
    let name = file
        .file_stem()
        .map_or_else(|| "onnx".to_string(), |s| s.to_string_lossy().into_owned());
    read(handle, len, &head[..got], &name, batch, input_shape).map_err(wrap)
}

/// Counts the ONNX model held in `bytes` (for tests and fuzzing); `name` names the network.
pub fn parse(bytes: &[u8], name: &str, batch: u32, input_shape: Option<&InputShape>) -> Result<Network, OnnxError> {
    let head = &bytes[..bytes.len().min(4)];
    read(Cursor::new(bytes), bytes.len() as u64, head, name, batch, input_shape)
}

fn read<R: Read + Seek>(
    source: R,
    len: u64,
    head: &[u8],
    name: &str,
    batch: u32,
    input_shape: Option<&InputShape>,
) -> Result<Network, OnnxError> {
    if !looks_like_onnx(head) {
        let found = if head.is_empty() {
            "nothing (the file is empty)".to_string()
        } else {
            head.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
        };
        return Err(OnnxError::WrongMagic { found });
    }
    let model = wire::read_model(source, len)?;
    let layers = count(&model, batch, input_shape)?;
    Ok(Network {
        name: name.to_string(),
        layers,
    })
}

/// Where a value came from, for the "defined twice" message.
fn origin(kind: &str, name: &str) -> String {
    format!("{kind} '{name}'")
}

/// A node's name for messages and layers: its own, or `Op_INDEX` when it has none.
fn node_name(node: &Node, index: usize) -> String {
    if node.name.is_empty() {
        format!("{}_{index}", node.op_type)
    } else {
        // Control characters would break the one-line messages and the tables.
        node.name
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    }
}

/// Why a value is unknown: the node that could not be inferred.
#[derive(Debug, Clone)]
struct Unknown {
    node: String,
    op: String,
    reason: String,
}

type Slot = Result<Val, std::rc::Rc<Unknown>>;

/// Records that `name` is defined by `by`; an error when something defined it already.
fn claim<'a>(defined_by: &mut HashMap<&'a str, String>, name: &'a str, by: String) -> Result<(), OnnxError> {
    if let Some(first) = defined_by.get(name) {
        return Err(OnnxError::Duplicate {
            name: name.to_string(),
            first: first.clone(),
            second: by,
        });
    }
    defined_by.insert(name, by);
    Ok(())
}

/// A complete declared shape (every dimension a number ≥ 0).
fn complete(shape: &Option<Vec<Dim>>) -> Option<Vec<u64>> {
    shape
        .as_ref()?
        .iter()
        .map(|d| match d {
            Dim::Value(v) => u64::try_from(*v).ok(),
            _ => None,
        })
        .collect()
}

/// The shape of graph input `info` at batch `batch` or as `--input-shape` gives it, and whether it differs from
/// the file's own (complete) shape.
fn input_value(info: &wire::ValueInfo, batch: u32, input_shape: Option<&InputShape>) -> Result<(Val, bool), OnnxError> {
    let error = |reason: String| OnnxError::Input {
        name: info.name.clone(),
        reason,
    };
    let declared = info.shape.as_ref();
    if declared.is_some_and(|d| d.len() > values::MAX_RANK) {
        return Err(error(format!(
            "its shape has more than {} dimensions",
            values::MAX_RANK
        )));
    }
    let shape: Vec<u64> = match (input_shape, declared) {
        (Some(given), Some(dims)) if given.0.len() != dims.len() => {
            return Err(OnnxError::InputShape(format!(
                "{given} has {} dimensions, the graph input '{}' has {}",
                given.0.len(),
                info.name,
                dims.len()
            )))
        }
        (Some(given), _) => given.0.clone(),
        (None, None) => return Err(error("the file gives no shape: give --input-shape NxCxHxW".to_string())),
        (None, Some(dims)) => {
            let mut shape = Vec::with_capacity(dims.len());
            for (i, d) in dims.iter().enumerate() {
                if i == 0 && dims.len() >= 2 {
                    shape.push(u64::from(batch));
                    continue;
                }
                match d {
                    Dim::Value(v) if *v >= 1 => shape.push(*v as u64),
                    Dim::Value(v) => return Err(error(format!("dimension {i} is {v}"))),
                    Dim::Param(p) => {
                        return Err(error(format!(
                            "dimension {i} is symbolic ('{p}'): give --input-shape NxCxHxW"
                        )))
                    }
                    Dim::Unknown => return Err(error(format!("dimension {i} is unknown: give --input-shape NxCxHxW"))),
                }
            }
            shape
        }
    };
    let changed = complete(&info.shape).is_none_or(|file| file != shape);
    let elem = if info.elem_type == 0 {
        values::dtype::FLOAT
    } else {
        info.elem_type
    };
    Ok((Val::shaped(elem, shape), changed))
}

/// The ops that are convolutions or matrix products convflops cannot count: refused, never left out.
const UNCOUNTED: [&str; 7] = [
    "ConvTranspose",
    "ConvInteger",
    "QLinearConv",
    "DeformConv",
    "QLinearMatMul",
    "MatMulInteger",
    "FusedConv",
];

/// The layers of `model`: shapes propagated from the inputs, every counted node turned into a layer.
fn count(model: &Model, batch: u32, input_shape: Option<&InputShape>) -> Result<Vec<NetworkLayer>, OnnxError> {
    let graph = &model.graph;
    let opset = model.default_opset();
    let mut values: HashMap<&str, Slot> = HashMap::new();
    let mut defined_by: HashMap<&str, String> = HashMap::new();

    for tensor in &graph.initializers {
        claim(&mut defined_by, &tensor.name, origin("initializer", &tensor.name))?;
        let value = tensor_value(tensor).map_err(|reason| OnnxError::Initializer {
            name: tensor.name.clone(),
            reason,
        })?;
        values.insert(&tensor.name, Ok(value));
    }
    for name in &graph.sparse_initializers {
        claim(&mut defined_by, name, origin("sparse initializer", name))?;
        values.insert(
            name,
            Err(std::rc::Rc::new(Unknown {
                node: name.clone(),
                op: "sparse initializer".to_string(),
                reason: "sparse initializers are not supported".to_string(),
            })),
        );
    }
    // Graph inputs that are not initializers (before IR 4 every initializer was listed as an input too).
    let real_inputs: Vec<&wire::ValueInfo> = graph
        .inputs
        .iter()
        .filter(|i| !values.contains_key(i.name.as_str()))
        .collect();
    if input_shape.is_some() && real_inputs.len() != 1 {
        return Err(OnnxError::InputShape(format!(
            "the model has {} inputs, --input-shape sets one",
            real_inputs.len()
        )));
    }
    let mut overridden = false;
    for info in &real_inputs {
        claim(&mut defined_by, &info.name, origin("graph input", &info.name))?;
        let (value, changed) = input_value(info, batch, input_shape)?;
        overridden |= changed;
        values.insert(&info.name, Ok(value));
    }
    // A graph exported at a fixed input shape may hold that shape in constants (a Reshape to [1, 2, 58, 28, 28]),
    // so an error after --batch or --input-shape changed it says so.
    let advice = if overridden {
        let fixed: Vec<String> = real_inputs
            .iter()
            .filter_map(|i| complete(&i.shape).map(|s| format!("'{}' {:?}", i.name, s)))
            .collect();
        if fixed.is_empty() {
            "Simplify the model first (`onnxsim in.onnx out.onnx`)".to_string()
        } else {
            format!(
                "The file fixes its input shape ({}) and may hold it in constants: count it at that shape \
                 (--batch 1 or the file's own batch, no --input-shape), or export it with dynamic axes",
                fixed.join(", ")
            )
        }
    } else {
        "Simplify the model first (`onnxsim in.onnx out.onnx`), or give --input-shape if an input is symbolic"
            .to_string()
    };
    // The file's own complete shapes, used (and checked) only when the input is the file's.
    let mut declared: HashMap<&str, Vec<u64>> = HashMap::new();
    if !overridden {
        for info in graph.value_info.iter().chain(&graph.outputs) {
            if let Some(shape) = complete(&info.shape) {
                declared.insert(&info.name, shape);
            }
        }
    }

    let names: Vec<String> = graph.nodes.iter().enumerate().map(|(i, n)| node_name(n, i)).collect();
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (index, node) in graph.nodes.iter().enumerate() {
        for output in node.outputs.iter().filter(|o| !o.is_empty()) {
            claim(
                &mut defined_by,
                output,
                format!("node '{}' ({})", names[index], node.op_type),
            )?;
            producer.insert(output, index);
        }
    }
    // Dependencies, and inputs nothing defines.
    let mut waiting = vec![0usize; graph.nodes.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); graph.nodes.len()];
    for (index, node) in graph.nodes.iter().enumerate() {
        for input in node.inputs.iter().filter(|i| !i.is_empty()) {
            if let Some(&from) = producer.get(input.as_str()) {
                waiting[index] += 1;
                users[from].push(index);
            } else if !values.contains_key(input.as_str()) {
                return Err(OnnxError::Missing {
                    node: names[index].clone(),
                    op: node.op_type.clone(),
                    input: input.clone(),
                });
            }
        }
    }
    // Kahn's algorithm, taking ready nodes in file order.
    let mut ready: BinaryHeap<Reverse<usize>> = (0..graph.nodes.len())
        .filter(|&i| waiting[i] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(graph.nodes.len());
    while let Some(Reverse(index)) = ready.pop() {
        order.push(index);
        for &user in &users[index] {
            waiting[user] -= 1;
            if waiting[user] == 0 {
                ready.push(Reverse(user));
            }
        }
    }
    if order.len() < graph.nodes.len() {
        // Walk back through unfinished producers: after as many steps as there are nodes, the walk is on a cycle.
        let mut at = (0..graph.nodes.len()).find(|&i| waiting[i] > 0).unwrap_or(0);
        for _ in 0..graph.nodes.len() {
            let next = graph.nodes[at]
                .inputs
                .iter()
                .filter_map(|i| producer.get(i.as_str()))
                .find(|&&p| waiting[p] > 0);
            match next {
                Some(&p) => at = p,
                None => break,
            }
        }
        return Err(OnnxError::Cycle {
            node: names[at].clone(),
            op: graph.nodes[at].op_type.clone(),
        });
    }

    let mut layers = Vec::new();
    for index in order {
        let node = &graph.nodes[index];
        let name = &names[index];
        let op = node.op_type.as_str();
        let node_error = |reason: String| OnnxError::Node {
            node: name.clone(),
            op: node.op_type.clone(),
            reason,
        };
        if UNCOUNTED.contains(&op) {
            return Err(OnnxError::Uncounted {
                node: name.clone(),
                op: node.op_type.clone(),
            });
        }
        let counted = matches!(op, "Conv" | "Gemm" | "MatMul") && (node.domain.is_empty() || node.domain == "ai.onnx");
        let mut inputs: Vec<Option<Val>> = Vec::with_capacity(node.inputs.len());
        let mut unknown: Option<std::rc::Rc<Unknown>> = None;
        for input in &node.inputs {
            if input.is_empty() {
                inputs.push(None);
                continue;
            }
            match values.get(input.as_str()) {
                Some(Ok(v)) => inputs.push(Some(v.clone())),
                Some(Err(u)) => {
                    unknown.get_or_insert_with(|| u.clone());
                    inputs.push(None);
                }
                None => inputs.push(None),
            }
        }
        if let Some(u) = unknown {
            if counted {
                return Err(OnnxError::Infer {
                    node: u.node.clone(),
                    op: u.op.clone(),
                    reason: u.reason.clone(),
                    layer: name.clone(),
                    advice: advice.clone(),
                });
            }
            for output in node.outputs.iter().filter(|o| !o.is_empty()) {
                values.insert(output, Err(u.clone()));
            }
            continue;
        }
        let outputs: Result<Vec<Val>, ()> = match counted {
            true => {
                let result = match op {
                    "Conv" => ops::conv(node, &inputs).map(|(v, l)| (v, Some(l))),
                    "Gemm" => ops::gemm(node, &inputs),
                    _ => ops::matmul(&inputs),
                };
                let (value, layer) = result.map_err(node_error)?;
                if let Some(layer) = layer {
                    let layer = layer.validated().map_err(|e| node_error(e.to_string()))?;
                    // A Conv stays a conv in the by-kind sums, even a 1×1 one on a 1×1 input (a squeeze-and-
                    // excitation block's), which the layer-file rule would call fc; Gemm and MatMul are fc.
                    let kind = match (op, LayerKind::of_layer(&layer)) {
                        ("Conv", LayerKind::Fc) => LayerKind::Pointwise,
                        ("Conv", kind) => kind,
                        _ => LayerKind::Fc,
                    };
                    layers.push(NetworkLayer {
                        name: name.clone(),
                        kind,
                        layer,
                    });
                }
                Ok(vec![value])
            }
            false => {
                let result = if node.domain.is_empty() || node.domain == "ai.onnx" {
                    ops::infer(node, &inputs, opset)
                } else {
                    Err(format!("convflops has no shape rule for the {} domain", node.domain))
                };
                match result {
                    Ok(outputs) => Ok(outputs),
                    Err(reason) => {
                        // The file's complete value_info shapes stand in where convflops has no rule.
                        let known: Option<Vec<Val>> = node
                            .outputs
                            .iter()
                            .map(|o| {
                                declared
                                    .get(o.as_str())
                                    .map(|s| Val::shaped(values::dtype::FLOAT, s.clone()))
                            })
                            .collect();
                        match known {
                            Some(outputs) if !outputs.is_empty() => Ok(outputs),
                            _ => {
                                let u = std::rc::Rc::new(Unknown {
                                    node: name.clone(),
                                    op: node.op_type.clone(),
                                    reason,
                                });
                                for output in node.outputs.iter().filter(|o| !o.is_empty()) {
                                    values.insert(output, Err(u.clone()));
                                }
                                Err(())
                            }
                        }
                    }
                }
            }
        };
        let Ok(outputs) = outputs else { continue };
        for (output, value) in node.outputs.iter().zip(outputs) {
            if output.is_empty() {
                continue;
            }
            if value.rank() > values::MAX_RANK {
                return Err(node_error(format!(
                    "its output '{output}' has {} dimensions, at most {}",
                    value.rank(),
                    values::MAX_RANK
                )));
            }
            if let Some(shape) = declared.get(output.as_str()) {
                if *shape != value.shape {
                    return Err(OnnxError::Disagrees {
                        node: name.clone(),
                        op: node.op_type.clone(),
                        value: output.clone(),
                        inferred: value.shape.clone(),
                        declared: shape.clone(),
                    });
                }
            }
            values.insert(output, Ok(value));
        }
    }
    if layers.is_empty() {
        return Err(OnnxError::NoLayers);
    }
    Ok(layers)
}

#[cfg(test)]
mod tests {
    use super::builder::{Attr, ModelBuilder};
    use super::*;
    use crate::rng::SplitMix64;

    fn chain() -> Vec<u8> {
        ModelBuilder::new("chain", 13)
            .input_fixed("x", &[1, 3, 16, 16])
            .weight("w", &[8, 3, 3, 3])
            .weight("b", &[8])
            .ints("shape", &[2], &[1, -1])
            .weight("fc", &[8 * 8 * 8, 10])
            .node(
                "Conv",
                "conv",
                &["x", "w", "b"],
                &["c"],
                &[Attr::Ints("strides", vec![2, 2]), Attr::Ints("pads", vec![1, 1, 1, 1])],
            )
            .node("Clip", "clip", &["c"], &["r"], &[])
            .node("Reshape", "flat", &["r", "shape"], &["f"], &[])
            .node("MatMul", "fc", &["f", "fc"], &["y"], &[])
            .output("y")
            .to_bytes()
    }

    #[test]
    fn reads_a_chain() {
        let net = parse(&chain(), "chain", 1, None).unwrap();
        let summary: Vec<(&str, LayerKind, u32, u32)> = net
            .layers
            .iter()
            .map(|l| (l.name.as_str(), l.kind, l.layer.in_channels, l.layer.out_channels))
            .collect();
        assert_eq!(
            summary,
            [("conv", LayerKind::Standard, 3, 8), ("fc", LayerKind::Fc, 512, 10)]
        );
        assert!(net.layers[0].layer.bias && !net.layers[1].layer.bias);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = chain();
        for end in 0..bytes.len() {
            let error = parse(&bytes[..end], "cut", 1, None).expect_err("a truncated model must not count");
            assert!(!error.to_string().contains('\n'), "{error}");
        }
    }

    #[test]
    fn corrupted_bytes_never_panic() {
        let bytes = chain();
        let mut rng = SplitMix64::new(14);
        for _ in 0..3000 {
            let mut damaged = bytes.clone();
            for _ in 0..1 + rng.next_u64() % 4 {
                let at = (rng.next_u64() % damaged.len() as u64) as usize;
                damaged[at] = rng.next_u64() as u8;
            }
            if let Ok(network) = parse(&damaged, "damaged", 1, None) {
                crate::models::Report::of(&network).unwrap();
            }
        }
    }

    #[test]
    fn input_shapes_parse() {
        assert_eq!("1x3x224x224".parse::<InputShape>().unwrap().0, vec![1, 3, 224, 224]);
        assert_eq!("2X3X8X8".parse::<InputShape>().unwrap().to_string(), "2x3x8x8");
        for bad in [
            "",
            "1x0x2x2",
            "1x3xax2",
            "-1x3x2x2",
            "1x2x3x4x5x6x7x8x9",
            "5000000000x1",
        ] {
            assert!(bad.parse::<InputShape>().is_err(), "{bad}");
        }
    }

    #[test]
    fn opset_before_13_takes_axes_from_attributes() {
        let bytes = ModelBuilder::new("old", 11)
            .input_fixed("x", &[1, 4, 6, 6])
            .weight("w", &[4, 4, 1, 1])
            .node("Unsqueeze", "u", &["x"], &["x5"], &[Attr::Ints("axes", vec![0])])
            .node("Squeeze", "s", &["x5"], &["x4"], &[Attr::Ints("axes", vec![0])])
            .node("Conv", "conv", &["x4", "w"], &["y"], &[])
            .output("y")
            .to_bytes();
        let net = parse(&bytes, "old", 1, None).unwrap();
        assert_eq!(net.layers[0].layer.height, 6);
    }
}
