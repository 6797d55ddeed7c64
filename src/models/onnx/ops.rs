//! Shape rules (with constant folding of small tensors) for the ONNX operators exporters emit, and the conv and fc
//! layers that Conv, Gemm and MatMul become. Each rule takes the node and its inputs (`None` for an absent optional
//! input) and gives the outputs, or a reason it cannot.

use crate::layer::ConvLayer;

use super::values::{broadcast, broadcast_map, dtype, index_map, numel, strides, Data, Val, FOLD_MAX, MAX_RANK};
use super::wire::{AttributeValue, Node};

type Rule = Result<Vec<Val>, String>;

fn attribute<'a>(node: &'a Node, name: &str) -> Option<&'a AttributeValue> {
    node.attributes.iter().find(|a| a.name == name).map(|a| &a.value)
}

fn attr_int(node: &Node, name: &str, default: i64) -> Result<i64, String> {
    match attribute(node, name) {
        None => Ok(default),
        Some(AttributeValue::Int(v)) => Ok(*v),
        Some(_) => Err(format!("attribute `{name}` is not an integer")),
    }
}

fn attr_ints(node: &Node, name: &str) -> Result<Option<Vec<i64>>, String> {
    match attribute(node, name) {
        None => Ok(None),
        Some(AttributeValue::Ints(v)) => Ok(Some(v.clone())),
        Some(AttributeValue::Int(v)) => Ok(Some(vec![*v])),
        Some(_) => Err(format!("attribute `{name}` is not a list of integers")),
    }
}

fn attr_floats(node: &Node, name: &str) -> Result<Option<Vec<f64>>, String> {
    match attribute(node, name) {
        None => Ok(None),
        Some(AttributeValue::Floats(v)) => Ok(Some(v.iter().map(|&x| f64::from(x)).collect())),
        Some(AttributeValue::Float(v)) => Ok(Some(vec![f64::from(*v)])),
        Some(_) => Err(format!("attribute `{name}` is not a list of floats")),
    }
}

fn attr_string(node: &Node, name: &str) -> Result<Option<String>, String> {
    match attribute(node, name) {
        None => Ok(None),
        Some(AttributeValue::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("attribute `{name}` is not a string")),
    }
}

/// Input `i`, which the operator requires.
fn required<'a>(inputs: &'a [Option<Val>], i: usize, what: &str) -> Result<&'a Val, String> {
    inputs
        .get(i)
        .and_then(Option::as_ref)
        .ok_or_else(|| format!("its input {i} ({what}) is missing"))
}

/// Input `i` when present and not an empty tensor (opset 11+ marks an absent `scales` with an empty tensor).
fn optional(inputs: &[Option<Val>], i: usize) -> Option<&Val> {
    inputs
        .get(i)
        .and_then(Option::as_ref)
        .filter(|v| v.numel() != Some(0) || v.rank() != 1)
}

/// The integer data of input `i`, which must be known when the graph is loaded (a shape, axes, pads...).
fn known_ints(inputs: &[Option<Val>], i: usize, what: &str) -> Result<Vec<i64>, String> {
    let value = required(inputs, i, what)?;
    value
        .data
        .as_ref()
        .and_then(Data::to_ints)
        .ok_or_else(|| format!("its {what} input is computed at run time, not from constants and shapes"))
}

fn known_floats(value: &Val, what: &str) -> Result<Vec<f64>, String> {
    value
        .data
        .as_ref()
        .map(Data::to_floats)
        .ok_or_else(|| format!("its {what} input is computed at run time, not from constants and shapes"))
}

/// `axis` in `[-rank, rank)` made non-negative.
fn axis_of(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(format!("axis {axis} is out of range for rank {rank}"))
    }
}

fn dim(value: i64, what: &str) -> Result<u64, String> {
    u64::try_from(value).map_err(|_| format!("{what} {value} is negative"))
}

fn checked_numel(shape: &[u64]) -> Result<u64, String> {
    numel(shape).ok_or_else(|| format!("the shape {shape:?} has more than 2^64 elements"))
}

fn same(input: &Val) -> Val {
    Val {
        dtype: input.dtype,
        shape: input.shape.clone(),
        data: None,
        constant: input.constant,
    }
}

fn constant_of(inputs: &[Option<Val>]) -> bool {
    inputs.iter().flatten().all(|v| v.constant)
}

/// The outputs of `node` from its inputs. `opset` is the model's default-domain opset.
pub fn infer(node: &Node, inputs: &[Option<Val>], opset: i64) -> Rule {
    let op = node.op_type.as_str();
    let constant = constant_of(inputs);
    let mut outputs = match op {
        "Identity" | "Dropout" => {
            let x = required(inputs, 0, "input")?;
            let mut out = vec![x.clone()];
            if node.outputs.len() > 1 {
                out.push(Val::shaped(dtype::BOOL, x.shape.clone()));
            }
            out
        }
        "Cast" | "CastLike" => {
            let x = required(inputs, 0, "input")?;
            let to = if op == "Cast" {
                attr_int(node, "to", 0)? as i32
            } else {
                required(inputs, 1, "target_type")?.dtype
            };
            let data = x.data.as_ref().and_then(|d| d.cast(to));
            vec![Val::shaped(to, x.shape.clone()).with_data(data)]
        }
        "Neg" | "Abs" | "Floor" | "Ceil" | "Round" | "Sqrt" | "Reciprocal" | "Relu" | "Not" | "Sign" => {
            let x = required(inputs, 0, "input")?;
            vec![same(x).with_data(x.data.as_ref().and_then(|d| unary(op, d)))]
        }
        "Sigmoid"
        | "HardSigmoid"
        | "HardSwish"
        | "Clip"
        | "Tanh"
        | "LeakyRelu"
        | "Elu"
        | "Selu"
        | "Celu"
        | "Gelu"
        | "Erf"
        | "Softplus"
        | "Softsign"
        | "Mish"
        | "Exp"
        | "Log"
        | "Sin"
        | "Cos"
        | "ThresholdedRelu"
        | "Softmax"
        | "LogSoftmax"
        | "Hardmax"
        | "LRN"
        | "InstanceNormalization"
        | "GroupNormalization"
        | "MeanVarianceNormalization"
        | "IsNaN"
        | "IsInf"
        | "Shrink"
        | "Trilu" => {
            let x = required(inputs, 0, "input")?;
            let mut out = same(x);
            if matches!(op, "IsNaN" | "IsInf") {
                out.dtype = dtype::BOOL;
            }
            vec![out]
        }
        "BatchNormalization" => {
            let x = required(inputs, 0, "input")?;
            if x.rank() < 2 {
                return Err(format!("its input has rank {}, needs at least 2", x.rank()));
            }
            let channels = vec![x.shape[1]];
            let mut out = vec![same(x)];
            for _ in 1..node.outputs.len() {
                out.push(Val::shaped(x.dtype, channels.clone()));
            }
            out
        }
        "LayerNormalization" => {
            let x = required(inputs, 0, "input")?;
            let axis = axis_of(attr_int(node, "axis", -1)?, x.rank())?;
            let mut reduced = x.shape.clone();
            for d in reduced.iter_mut().skip(axis) {
                *d = 1;
            }
            let mut out = vec![same(x)];
            for _ in 1..node.outputs.len() {
                out.push(Val::shaped(dtype::FLOAT, reduced.clone()));
            }
            out
        }
        "PRelu" => {
            let x = required(inputs, 0, "input")?;
            let slope = required(inputs, 1, "slope")?;
            vec![Val::shaped(x.dtype, broadcast(&x.shape, &slope.shape)?)]
        }
        "Add" | "Sub" | "Mul" | "Div" | "Mod" | "Pow" | "Equal" | "Less" | "Greater" | "LessOrEqual"
        | "GreaterOrEqual" | "And" | "Or" | "Xor" | "BitShift" => {
            let a = required(inputs, 0, "A")?;
            let b = required(inputs, 1, "B")?;
            let shape = broadcast(&a.shape, &b.shape)?;
            let comparison = matches!(
                op,
                "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "And" | "Or" | "Xor"
            );
            let out_type = if comparison { dtype::BOOL } else { a.dtype };
            let fmod = attr_int(node, "fmod", 0)? != 0;
            let data = fold_binary(op, a, b, &shape, fmod)?;
            vec![Val::shaped(out_type, shape).with_data(data)]
        }
        "Max" | "Min" | "Sum" | "Mean" => {
            let present: Vec<&Val> = inputs.iter().flatten().collect();
            let first = present.first().ok_or("it has no inputs")?;
            let mut shape = first.shape.clone();
            for v in &present[1..] {
                shape = broadcast(&shape, &v.shape)?;
            }
            let mut data = None;
            if matches!(op, "Max" | "Min") && present.len() == 2 {
                data = fold_binary(op, present[0], present[1], &shape, false)?;
            } else if present.len() == 1 {
                data = first.data.clone();
            }
            vec![Val::shaped(first.dtype, shape).with_data(data)]
        }
        "Where" => {
            let c = required(inputs, 0, "condition")?;
            let x = required(inputs, 1, "X")?;
            let y = required(inputs, 2, "Y")?;
            let shape = broadcast(&broadcast(&c.shape, &x.shape)?, &y.shape)?;
            let data = match (&c.data, &x.data, &y.data) {
                (Some(cd), Some(xd), Some(yd)) if numel(&shape).is_some_and(|n| n <= FOLD_MAX) => {
                    let (ci, xi, yi) = (
                        broadcast_map(&c.shape, &shape),
                        broadcast_map(&x.shape, &shape),
                        broadcast_map(&y.shape, &shape),
                    );
                    let cond = cd.to_floats();
                    match (xd, yd) {
                        (Data::I(xv), Data::I(yv)) => Some(Data::I(
                            (0..ci.len())
                                .map(|i| if cond[ci[i]] != 0.0 { xv[xi[i]] } else { yv[yi[i]] })
                                .collect(),
                        )),
                        _ => {
                            let (xv, yv) = (xd.to_floats(), yd.to_floats());
                            Some(Data::F(
                                (0..ci.len())
                                    .map(|i| if cond[ci[i]] != 0.0 { xv[xi[i]] } else { yv[yi[i]] })
                                    .collect(),
                            ))
                        }
                    }
                }
                _ => None,
            };
            vec![Val::shaped(x.dtype, shape).with_data(data)]
        }
        "Constant" => vec![constant_node(node)?],
        "Shape" => {
            let x = required(inputs, 0, "data")?;
            let rank = x.rank() as i64;
            let clamp = |v: i64| if v < 0 { (v + rank).max(0) } else { v.min(rank) } as usize;
            let start = clamp(attr_int(node, "start", 0)?);
            let end = clamp(attr_int(node, "end", rank)?);
            let dims: Vec<i64> = x.shape[start..end.max(start)].iter().map(|&d| d as i64).collect();
            vec![Val::ints(dims)]
        }
        "Size" => {
            let x = required(inputs, 0, "data")?;
            let n = checked_numel(&x.shape)?;
            let mut v = Val::ints(vec![n as i64]);
            v.shape = vec![];
            vec![v]
        }
        "Flatten" => {
            let x = required(inputs, 0, "input")?;
            let r = x.rank() as i64;
            let axis = attr_int(node, "axis", 1)?;
            let axis = if axis < 0 { axis + r } else { axis };
            if !(0..=r).contains(&axis) {
                return Err(format!("axis {axis} is out of range for rank {r}"));
            }
            let axis = axis as usize;
            let shape = vec![checked_numel(&x.shape[..axis])?, checked_numel(&x.shape[axis..])?];
            vec![Val::shaped(x.dtype, shape).with_data(x.data.clone())]
        }
        "Reshape" => {
            let x = required(inputs, 0, "data")?;
            let target = if opset < 5 {
                attr_ints(node, "shape")?.ok_or("it has no `shape` attribute")?
            } else {
                known_ints(inputs, 1, "shape")?
            };
            let allow_zero = attr_int(node, "allowzero", 0)? != 0;
            let shape = reshape(&x.shape, &target, allow_zero)?;
            vec![Val::shaped(x.dtype, shape).with_data(x.data.clone())]
        }
        "Transpose" => {
            let x = required(inputs, 0, "data")?;
            let rank = x.rank();
            let perm = match attr_ints(node, "perm")? {
                Some(p) => p.iter().map(|&a| axis_of(a, rank)).collect::<Result<Vec<_>, _>>()?,
                None => (0..rank).rev().collect(),
            };
            let mut seen = vec![false; rank];
            if perm.len() != rank || perm.iter().any(|&a| std::mem::replace(&mut seen[a], true)) {
                return Err(format!("perm {perm:?} is not a permutation of {rank} axes"));
            }
            let shape: Vec<u64> = perm.iter().map(|&a| x.shape[a]).collect();
            let data = x.data.as_ref().map(|d| {
                let in_strides = strides(&x.shape);
                d.pick(&index_map(&shape, |p| {
                    p.iter()
                        .enumerate()
                        .map(|(i, &pi)| pi * in_strides[perm[i]])
                        .sum::<u64>() as usize
                }))
            });
            vec![Val::shaped(x.dtype, shape).with_data(data)]
        }
        "Squeeze" | "Unsqueeze" => {
            let x = required(inputs, 0, "data")?;
            let axes = if opset >= 13 {
                if optional(inputs, 1).is_some() {
                    Some(known_ints(inputs, 1, "axes")?)
                } else {
                    None
                }
            } else {
                attr_ints(node, "axes")?
            };
            let shape = if op == "Squeeze" {
                squeeze(&x.shape, axes.as_deref())?
            } else {
                unsqueeze(&x.shape, &axes.ok_or("it has no axes")?)?
            };
            vec![Val::shaped(x.dtype, shape).with_data(x.data.clone())]
        }
        "Concat" => {
            let present: Vec<&Val> = inputs.iter().flatten().collect();
            let first = present.first().ok_or("it has no inputs")?;
            let axis = axis_of(attr_int(node, "axis", 0)?, first.rank())?;
            let mut shape = first.shape.clone();
            shape[axis] = 0;
            for v in &present {
                if v.rank() != first.rank()
                    || v.shape
                        .iter()
                        .enumerate()
                        .any(|(i, &d)| i != axis && d != first.shape[i])
                {
                    return Err(format!(
                        "its inputs {:?} and {:?} differ outside axis {axis}",
                        first.shape, v.shape
                    ));
                }
                shape[axis] = shape[axis]
                    .checked_add(v.shape[axis])
                    .ok_or("the concatenation overflows")?;
            }
            let data = concat_data(&present, axis, &shape);
            vec![Val::shaped(first.dtype, shape).with_data(data)]
        }
        "Split" => split(node, inputs, opset)?,
        "Slice" => vec![slice(node, inputs, opset)?],
        "Gather" => {
            let x = required(inputs, 0, "data")?;
            let indices = required(inputs, 1, "indices")?;
            let axis = axis_of(attr_int(node, "axis", 0)?, x.rank())?;
            let mut shape = x.shape[..axis].to_vec();
            shape.extend_from_slice(&indices.shape);
            shape.extend_from_slice(&x.shape[axis + 1..]);
            let small = numel(&shape).is_some_and(|n| n <= FOLD_MAX);
            let data = match (&x.data, indices.data.as_ref().and_then(Data::to_ints)) {
                (Some(d), Some(idx)) if small => {
                    let size = x.shape[axis] as i64;
                    let mut fixed = Vec::with_capacity(idx.len());
                    for i in idx {
                        let j = if i < 0 { i + size } else { i };
                        if !(0..size).contains(&j) {
                            return Err(format!("index {i} is out of range for axis {axis} of size {size}"));
                        }
                        fixed.push(j as u64);
                    }
                    let in_strides = strides(&x.shape);
                    let index_rank = indices.rank();
                    let index_strides = strides(&indices.shape);
                    Some(d.pick(&index_map(&shape, |p| {
                        let mut flat = 0u64;
                        for a in 0..axis {
                            flat += p[a] * in_strides[a];
                        }
                        let k: u64 = (0..index_rank).map(|i| p[axis + i] * index_strides[i]).sum();
                        flat += fixed[k as usize] * in_strides[axis];
                        for a in axis + 1..x.rank() {
                            flat += p[a - 1 + index_rank] * in_strides[a];
                        }
                        flat as usize
                    })))
                }
                _ => None,
            };
            vec![Val::shaped(x.dtype, shape).with_data(data)]
        }
        "ConstantOfShape" => {
            let dims = known_ints(inputs, 0, "shape")?;
            let shape = dims
                .iter()
                .map(|&d| dim(d, "dimension"))
                .collect::<Result<Vec<_>, _>>()?;
            let (dtype, fill) = match attribute(node, "value") {
                Some(AttributeValue::Tensor(t)) => {
                    let v = super::values::tensor_value(t)?;
                    (v.dtype, v.data)
                }
                _ => (dtype::FLOAT, Some(Data::F(vec![0.0]))),
            };
            let n = checked_numel(&shape)?;
            let data = match fill {
                Some(Data::I(v)) if n <= FOLD_MAX && v.len() == 1 => Some(Data::I(vec![v[0]; n as usize])),
                Some(Data::F(v)) if n <= FOLD_MAX && v.len() == 1 => Some(Data::F(vec![v[0]; n as usize])),
                _ => None,
            };
            vec![Val::shaped(dtype, shape).with_data(data)]
        }
        "Range" => {
            let start = required(inputs, 0, "start")?;
            let read = |i: usize, what: &str| -> Result<f64, String> {
                let v = known_floats(required(inputs, i, what)?, what)?;
                v.first().copied().ok_or_else(|| format!("its {what} is empty"))
            };
            let (s, l, d) = (read(0, "start")?, read(1, "limit")?, read(2, "delta")?);
            if d == 0.0 {
                return Err("its delta is 0".to_string());
            }
            let n = ((l - s) / d).ceil().max(0.0);
            if n > 1e12 {
                return Err(format!("it would have {n} elements"));
            }
            let n = n as u64;
            let data = (n <= FOLD_MAX).then(|| {
                if dtype::is_integer(start.dtype) {
                    Data::I((0..n).map(|i| (s + d * i as f64) as i64).collect())
                } else {
                    Data::F((0..n).map(|i| s + d * i as f64).collect())
                }
            });
            vec![Val::shaped(start.dtype, vec![n]).with_data(data)]
        }
        "Expand" => {
            let x = required(inputs, 0, "input")?;
            let target = known_ints(inputs, 1, "shape")?;
            let target = target
                .iter()
                .map(|&d| dim(d, "dimension"))
                .collect::<Result<Vec<_>, _>>()?;
            let shape = broadcast(&x.shape, &target)?;
            let data = match &x.data {
                Some(d) if numel(&shape).is_some_and(|n| n <= FOLD_MAX) => {
                    Some(d.pick(&broadcast_map(&x.shape, &shape)))
                }
                _ => None,
            };
            vec![Val::shaped(x.dtype, shape).with_data(data)]
        }
        "Tile" => {
            let x = required(inputs, 0, "input")?;
            let repeats = known_ints(inputs, 1, "repeats")?;
            if repeats.len() != x.rank() {
                return Err(format!("repeats {repeats:?} do not match rank {}", x.rank()));
            }
            let mut shape = Vec::with_capacity(x.rank());
            for (&d, &r) in x.shape.iter().zip(&repeats) {
                shape.push(d.checked_mul(dim(r, "repeat")?).ok_or("the tiled shape overflows")?);
            }
            vec![Val::shaped(x.dtype, shape)]
        }
        "Pad" => {
            let x = required(inputs, 0, "data")?;
            let pads = if opset >= 11 {
                known_ints(inputs, 1, "pads")?
            } else {
                attr_ints(node, "pads")?
                    .or(attr_ints(node, "paddings")?)
                    .ok_or("it has no pads")?
            };
            let axes: Vec<usize> = match optional(inputs, 3) {
                Some(_) => known_ints(inputs, 3, "axes")?
                    .iter()
                    .map(|&a| axis_of(a, x.rank()))
                    .collect::<Result<_, _>>()?,
                None => (0..x.rank()).collect(),
            };
            if pads.len() != 2 * axes.len() {
                return Err(format!("pads {pads:?} do not match {} axes", axes.len()));
            }
            let mut shape = x.shape.clone();
            for (i, &a) in axes.iter().enumerate() {
                let size = shape[a] as i128 + pads[i] as i128 + pads[i + axes.len()] as i128;
                shape[a] = u64::try_from(size).map_err(|_| format!("padding makes axis {a} negative"))?;
            }
            vec![Val::shaped(x.dtype, shape)]
        }
        "MaxPool" | "AveragePool" | "LpPool" => {
            let x = required(inputs, 0, "X")?;
            let shape = pool(node, x)?;
            let mut out = vec![Val::shaped(x.dtype, shape.clone())];
            if node.outputs.len() > 1 {
                out.push(Val::shaped(dtype::INT64, shape));
            }
            out
        }
        "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => {
            let x = required(inputs, 0, "X")?;
            if x.rank() < 3 {
                return Err(format!("its input has rank {}, needs at least 3", x.rank()));
            }
            let mut shape = x.shape.clone();
            for d in shape.iter_mut().skip(2) {
                *d = 1;
            }
            vec![Val::shaped(x.dtype, shape)]
        }
        "Resize" | "Upsample" => vec![resize(node, inputs, opset)?],
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceL1" | "ReduceL2"
        | "ReduceLogSum" | "ReduceLogSumExp" | "ReduceSumSquare" => vec![reduce(node, inputs, opset)?],
        "ArgMax" | "ArgMin" => {
            let x = required(inputs, 0, "data")?;
            let axis = axis_of(attr_int(node, "axis", 0)?, x.rank())?;
            let mut shape = x.shape.clone();
            if attr_int(node, "keepdims", 1)? != 0 {
                shape[axis] = 1;
            } else {
                shape.remove(axis);
            }
            vec![Val::shaped(dtype::INT64, shape)]
        }
        "Einsum" | "NonZero" | "NonMaxSuppression" | "Loop" | "If" | "Scan" | "Unique" | "TopK" => {
            return Err(format!(
                "convflops has no shape rule for {op}, whose output shape depends on data or sub-graphs"
            ))
        }
        _ => return Err(format!("convflops has no shape rule for the operator {op}")),
    };
    for out in &mut outputs {
        out.constant = out.constant || constant;
    }
    if outputs.len() < node.outputs.len() {
        return Err(format!(
            "it has {} outputs, convflops infers {}",
            node.outputs.len(),
            outputs.len()
        ));
    }
    Ok(outputs)
}

fn unary(op: &str, data: &Data) -> Option<Data> {
    match data {
        Data::I(v) => Some(Data::I(match op {
            "Neg" => v.iter().map(|x| x.checked_neg()).collect::<Option<_>>()?,
            "Abs" => v.iter().map(|x| x.checked_abs()).collect::<Option<_>>()?,
            "Floor" | "Ceil" | "Round" => v.clone(),
            "Relu" => v.iter().map(|&x| x.max(0)).collect(),
            "Not" => v.iter().map(|&x| i64::from(x == 0)).collect(),
            "Sign" => v.iter().map(|&x| x.signum()).collect(),
            _ => return None,
        })),
        Data::F(v) => Some(Data::F(match op {
            "Neg" => v.iter().map(|x| -x).collect(),
            "Abs" => v.iter().map(|x| x.abs()).collect(),
            "Floor" => v.iter().map(|x| x.floor()).collect(),
            "Ceil" => v.iter().map(|x| x.ceil()).collect(),
            "Round" => v.iter().map(|x| x.round_ties_even()).collect(),
            "Sqrt" => v.iter().map(|x| x.sqrt()).collect(),
            "Reciprocal" => v.iter().map(|x| 1.0 / x).collect(),
            "Relu" => v.iter().map(|&x| x.max(0.0)).collect(),
            "Sign" => v.iter().map(|&x| if x == 0.0 { 0.0 } else { x.signum() }).collect(),
            _ => return None,
        })),
    }
}

/// Element-wise folding of a broadcasting binary operator; `Ok(None)` when an input has no data.
fn fold_binary(op: &str, a: &Val, b: &Val, shape: &[u64], fmod: bool) -> Result<Option<Data>, String> {
    let (Some(ad), Some(bd)) = (&a.data, &b.data) else {
        return Ok(None);
    };
    if numel(shape).is_none_or(|n| n > FOLD_MAX) {
        return Ok(None);
    }
    let (ai, bi) = (broadcast_map(&a.shape, shape), broadcast_map(&b.shape, shape));
    let compare = |x: f64, y: f64| -> Option<i64> {
        Some(i64::from(match op {
            "Equal" => x == y,
            "Less" => x < y,
            "Greater" => x > y,
            "LessOrEqual" => x <= y,
            "GreaterOrEqual" => x >= y,
            "And" => x != 0.0 && y != 0.0,
            "Or" => x != 0.0 || y != 0.0,
            "Xor" => (x != 0.0) != (y != 0.0),
            _ => return None,
        }))
    };
    if let (Data::I(av), Data::I(bv)) = (ad, bd) {
        let mut out = Vec::with_capacity(ai.len());
        for k in 0..ai.len() {
            let (x, y) = (av[ai[k]], bv[bi[k]]);
            let v = match op {
                "Add" => x.checked_add(y),
                "Sub" => x.checked_sub(y),
                "Mul" => x.checked_mul(y),
                "Div" => x.checked_div(y),
                "Mod" => {
                    if fmod {
                        x.checked_rem(y)
                    } else {
                        x.checked_rem(y)
                            .map(|r| if r != 0 && (r < 0) != (y < 0) { r + y } else { r })
                    }
                }
                "Max" => Some(x.max(y)),
                "Min" => Some(x.min(y)),
                "Pow" => u32::try_from(y).ok().and_then(|e| x.checked_pow(e)),
                _ => compare(x as f64, y as f64),
            };
            match v {
                Some(v) => out.push(v),
                None => {
                    return Err(format!(
                        "folding {op} of {x} and {y} fails (division by zero or overflow)"
                    ))
                }
            }
        }
        return Ok(Some(Data::I(out)));
    }
    let (av, bv) = (ad.to_floats(), bd.to_floats());
    let comparison = compare(0.0, 0.0).is_some();
    let mut out = Vec::with_capacity(ai.len());
    let mut flags = Vec::new();
    for k in 0..ai.len() {
        let (x, y) = (av[ai[k]], bv[bi[k]]);
        if comparison {
            flags.push(compare(x, y).unwrap_or(0));
            continue;
        }
        out.push(match op {
            "Add" => x + y,
            "Sub" => x - y,
            "Mul" => x * y,
            "Div" => x / y,
            "Mod" => x % y,
            "Max" => x.max(y),
            "Min" => x.min(y),
            "Pow" => x.powf(y),
            _ => return Ok(None),
        });
    }
    Ok(Some(if comparison {
        Data::I(flags)
    } else if dtype::is_integer(a.dtype) {
        Data::I(out.iter().map(|x| x.trunc() as i64).collect())
    } else {
        Data::F(out)
    }))
}

fn constant_node(node: &Node) -> Result<Val, String> {
    let attr = node.attributes.first().ok_or("it has no value attribute")?;
    let mut v = match (&attr.name[..], &attr.value) {
        ("value", AttributeValue::Tensor(t)) => super::values::tensor_value(t)?,
        ("value_float", AttributeValue::Float(f)) => {
            Val::shaped(dtype::FLOAT, vec![]).with_data(Some(Data::F(vec![f64::from(*f)])))
        }
        ("value_floats", AttributeValue::Floats(f)) => Val::shaped(dtype::FLOAT, vec![f.len() as u64])
            .with_data(Some(Data::F(f.iter().map(|&x| f64::from(x)).collect()))),
        ("value_int", AttributeValue::Int(i)) => Val::shaped(dtype::INT64, vec![]).with_data(Some(Data::I(vec![*i]))),
        ("value_ints", AttributeValue::Ints(i)) => {
            Val::shaped(dtype::INT64, vec![i.len() as u64]).with_data(Some(Data::I(i.clone())))
        }
        (name, _) => return Err(format!("its attribute `{name}` is not a supported constant value")),
    };
    v.constant = true;
    Ok(v)
}

fn reshape(input: &[u64], target: &[i64], allow_zero: bool) -> Result<Vec<u64>, String> {
    let total = checked_numel(input)?;
    let mut shape = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            -1 => {
                if infer.replace(i).is_some() {
                    return Err(format!("the shape {target:?} has more than one -1"));
                }
                shape.push(1);
            }
            0 if !allow_zero => shape.push(
                *input
                    .get(i)
                    .ok_or_else(|| format!("the shape {target:?} copies a missing dimension {i}"))?,
            ),
            t => shape.push(dim(t, "a target dimension")?),
        }
    }
    let known = checked_numel(&shape)?;
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("cannot reshape {input:?} ({total} elements) to {target:?}"));
        }
        shape[i] = total / known;
    } else if known != total {
        return Err(format!(
            "cannot reshape {input:?} ({total} elements) to {target:?} ({known} elements)"
        ));
    }
    Ok(shape)
}

fn squeeze(shape: &[u64], axes: Option<&[i64]>) -> Result<Vec<u64>, String> {
    match axes {
        None => Ok(shape.iter().copied().filter(|&d| d != 1).collect()),
        Some(axes) => {
            let axes = axes
                .iter()
                .map(|&a| axis_of(a, shape.len()))
                .collect::<Result<Vec<_>, _>>()?;
            for &a in &axes {
                if shape[a] != 1 {
                    return Err(format!("it squeezes axis {a} of size {}", shape[a]));
                }
            }
            Ok(shape
                .iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, &d)| d)
                .collect())
        }
    }
}

fn unsqueeze(shape: &[u64], axes: &[i64]) -> Result<Vec<u64>, String> {
    let rank = shape.len() + axes.len();
    if rank > MAX_RANK {
        return Err(format!("its output would have {rank} dimensions, at most {MAX_RANK}"));
    }
    let mut axes = axes.iter().map(|&a| axis_of(a, rank)).collect::<Result<Vec<_>, _>>()?;
    axes.sort_unstable();
    if axes.windows(2).any(|w| w[0] == w[1]) {
        return Err(format!("axes {axes:?} repeat"));
    }
    let mut out = Vec::with_capacity(rank);
    let mut rest = shape.iter();
    for i in 0..rank {
        if axes.contains(&i) {
            out.push(1);
        } else {
            out.push(*rest.next().ok_or("the axes do not fit")?);
        }
    }
    Ok(out)
}

fn concat_data(inputs: &[&Val], axis: usize, shape: &[u64]) -> Option<Data> {
    if numel(shape)? > FOLD_MAX {
        return None;
    }
    let outer = numel(&shape[..axis])? as usize;
    let all_int = inputs.iter().all(|v| matches!(v.data, Some(Data::I(_))));
    let mut ints = Vec::new();
    let mut floats = Vec::new();
    for o in 0..outer {
        for v in inputs {
            let data = v.data.as_ref()?;
            let chunk = numel(&v.shape[axis..])? as usize;
            let range = o * chunk..(o + 1) * chunk;
            match data {
                Data::I(d) if all_int => ints.extend_from_slice(d.get(range)?),
                _ => floats.extend(data.to_floats().get(range)?.iter()),
            }
        }
    }
    Some(if all_int { Data::I(ints) } else { Data::F(floats) })
}

/// A slice of `x` along each axis: `(axis, start, step, length)`.
fn slice_data(x: &Val, shape: &[u64], spec: &[(usize, i64, i64)]) -> Option<Data> {
    let data = x.data.as_ref()?;
    let in_strides = strides(&x.shape);
    let mut start = vec![0i64; x.rank()];
    let mut step = vec![1i64; x.rank()];
    for &(a, s, st) in spec {
        start[a] = s;
        step[a] = st;
    }
    Some(data.pick(&index_map(shape, |p| {
        p.iter()
            .enumerate()
            .map(|(a, &pa)| (start[a] + pa as i64 * step[a]) as u64 * in_strides[a])
            .sum::<u64>() as usize
    })))
}

fn slice(node: &Node, inputs: &[Option<Val>], opset: i64) -> Result<Val, String> {
    let x = required(inputs, 0, "data")?;
    let (starts, ends, axes, steps) = if opset >= 10 {
        let starts = known_ints(inputs, 1, "starts")?;
        let ends = known_ints(inputs, 2, "ends")?;
        let axes = if optional(inputs, 3).is_some() {
            Some(known_ints(inputs, 3, "axes")?)
        } else {
            None
        };
        let steps = if optional(inputs, 4).is_some() {
            Some(known_ints(inputs, 4, "steps")?)
        } else {
            None
        };
        (starts, ends, axes, steps)
    } else {
        (
            attr_ints(node, "starts")?.ok_or("it has no starts")?,
            attr_ints(node, "ends")?.ok_or("it has no ends")?,
            attr_ints(node, "axes")?,
            None,
        )
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err("its starts, ends, axes and steps differ in length".to_string());
    }
    let mut shape = x.shape.clone();
    let mut spec = Vec::new();
    for i in 0..starts.len() {
        let a = axis_of(axes[i], x.rank())?;
        let size = i64::try_from(x.shape[a]).map_err(|_| format!("axis {a} is too long to slice"))?;
        let step = steps[i];
        if step == 0 {
            return Err("a step is 0".to_string());
        }
        if size == 0 {
            shape[a] = 0;
            spec.push((a, 0, 1));
            continue;
        }
        let fix = |v: i64| if v < 0 { v.saturating_add(size) } else { v };
        let (s, e) = if step > 0 {
            (fix(starts[i]).clamp(0, size), fix(ends[i]).clamp(0, size))
        } else {
            (fix(starts[i]).clamp(0, size - 1), fix(ends[i]).clamp(-1, size - 1))
        };
        // In i128: a step of ±2^63 must not overflow.
        let (s128, e128, step128) = (i128::from(s), i128::from(e), i128::from(step));
        let length = if step > 0 {
            if e > s {
                (e128 - s128 + step128 - 1) / step128
            } else {
                0
            }
        } else if s > e {
            (s128 - e128 - step128 - 1) / (-step128)
        } else {
            0
        };
        shape[a] = length as u64;
        spec.push((a, s, step));
    }
    let data = if numel(&shape).is_some_and(|n| n <= FOLD_MAX) {
        slice_data(x, &shape, &spec)
    } else {
        None
    };
    Ok(Val::shaped(x.dtype, shape).with_data(data))
}

fn split(node: &Node, inputs: &[Option<Val>], opset: i64) -> Rule {
    let x = required(inputs, 0, "input")?;
    let axis = axis_of(attr_int(node, "axis", 0)?, x.rank())?;
    let size = x.shape[axis];
    let count = node.outputs.len() as u64;
    let given = if opset >= 13 && optional(inputs, 1).is_some() {
        Some(known_ints(inputs, 1, "split")?)
    } else {
        attr_ints(node, "split")?
    };
    let parts: Vec<u64> = match given {
        Some(parts) => parts.iter().map(|&p| dim(p, "a split")).collect::<Result<_, _>>()?,
        None => {
            let n = attr_int(node, "num_outputs", count as i64)?;
            if n != count as i64 {
                return Err(format!("num_outputs {n} differs from its {count} outputs"));
            }
            let chunk = size.div_ceil(count.max(1));
            let n = count;
            (0..n).map(|i| chunk.min(size.saturating_sub(i * chunk))).collect()
        }
    };
    if parts.iter().sum::<u64>() != size || parts.len() as u64 != count {
        return Err(format!(
            "split {parts:?} does not cut axis {axis} of size {size} into {count} outputs"
        ));
    }
    let mut outputs = Vec::new();
    let mut start = 0u64;
    for part in parts {
        let mut shape = x.shape.clone();
        shape[axis] = part;
        let data = if numel(&shape).is_some_and(|n| n <= FOLD_MAX) {
            slice_data(x, &shape, &[(axis, start as i64, 1)])
        } else {
            None
        };
        outputs.push(Val::shaped(x.dtype, shape).with_data(data));
        start += part;
    }
    Ok(outputs)
}

fn reduce(node: &Node, inputs: &[Option<Val>], opset: i64) -> Result<Val, String> {
    let x = required(inputs, 0, "data")?;
    let op = node.op_type.as_str();
    let axes_from_input = opset >= 18 || (op == "ReduceSum" && opset >= 13);
    let axes = if axes_from_input {
        if optional(inputs, 1).is_some() {
            Some(known_ints(inputs, 1, "axes")?)
        } else {
            None
        }
    } else {
        attr_ints(node, "axes")?
    };
    let keep = attr_int(node, "keepdims", 1)? != 0;
    let axes: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => a.iter().map(|&a| axis_of(a, x.rank())).collect::<Result<_, _>>()?,
        _ => {
            if attr_int(node, "noop_with_empty_axes", 0)? != 0 {
                return Ok(same(x).with_data(x.data.clone()));
            }
            (0..x.rank()).collect()
        }
    };
    let mut shape = Vec::new();
    for (i, &d) in x.shape.iter().enumerate() {
        if axes.contains(&i) {
            if keep {
                shape.push(1);
            }
        } else {
            shape.push(d);
        }
    }
    let data = match (&x.data, op) {
        (Some(Data::I(v)), "ReduceProd" | "ReduceSum" | "ReduceMax" | "ReduceMin")
            if x.rank() == 1 && !v.is_empty() =>
        {
            let folded = match op {
                "ReduceProd" => v.iter().try_fold(1i64, |a, &b| a.checked_mul(b)),
                "ReduceSum" => v.iter().try_fold(0i64, |a, &b| a.checked_add(b)),
                "ReduceMax" => v.iter().copied().max(),
                _ => v.iter().copied().min(),
            };
            folded.map(|f| Data::I(vec![f]))
        }
        _ => None,
    };
    Ok(Val::shaped(x.dtype, shape).with_data(data))
}

fn resize(node: &Node, inputs: &[Option<Val>], opset: i64) -> Result<Val, String> {
    let x = required(inputs, 0, "X")?;
    let (scales_at, sizes_at) = if node.op_type == "Upsample" || opset < 11 {
        (1, usize::MAX)
    } else {
        (2, 3)
    };
    let axes: Vec<usize> = match attr_ints(node, "axes")? {
        Some(a) => a.iter().map(|&a| axis_of(a, x.rank())).collect::<Result<_, _>>()?,
        None => (0..x.rank()).collect(),
    };
    let mut shape = x.shape.clone();
    if let Some(sizes) = optional(inputs, sizes_at) {
        let policy = attr_string(node, "keep_aspect_ratio_policy")?.unwrap_or_else(|| "stretch".into());
        if policy != "stretch" {
            return Err(format!("keep_aspect_ratio_policy {policy} is not supported"));
        }
        let sizes = sizes
            .data
            .as_ref()
            .and_then(Data::to_ints)
            .ok_or("its sizes are computed at run time")?;
        if sizes.len() != axes.len() {
            return Err(format!("sizes {sizes:?} do not match {} axes", axes.len()));
        }
        for (&a, &s) in axes.iter().zip(&sizes) {
            shape[a] = dim(s, "a size")?;
        }
    } else {
        let scales = match optional(inputs, scales_at) {
            Some(scales) => known_floats(scales, "scales")?,
            None => attr_floats(node, "scales")?.ok_or("it has neither scales nor sizes")?,
        };
        if scales.len() != axes.len() {
            return Err(format!("scales {scales:?} do not match {} axes", axes.len()));
        }
        for (&a, &s) in axes.iter().zip(&scales) {
            let size = (shape[a] as f64 * s).floor();
            if !(0.0..1e15).contains(&size) {
                return Err(format!("scale {s} gives axis {a} the size {size}"));
            }
            shape[a] = size as u64;
        }
    }
    Ok(Val::shaped(x.dtype, shape))
}

/// `(begin, end)` padding for `auto_pad` SAME_UPPER / SAME_LOWER: output `ceil(size / stride)`.
fn same_pads(size: u64, kernel: u64, stride: u64, dilation: u64, upper: bool) -> (u64, u64) {
    // In u128: strides and dilations come from the file and may be huge.
    let (size, kernel, stride, dilation) = (
        u128::from(size),
        u128::from(kernel),
        u128::from(stride),
        u128::from(dilation),
    );
    let out = size.div_ceil(stride.max(1));
    let span = dilation * kernel.saturating_sub(1) + 1;
    let total = (out.saturating_sub(1) * stride + span).saturating_sub(size);
    let total = u64::try_from(total).unwrap_or(u64::MAX);
    let small = total / 2;
    if upper {
        (small, total - small)
    } else {
        (total - small, small)
    }
}

/// Per spatial axis: kernel, stride, dilation, begin and end padding, from the node's attributes.
struct Window {
    kernel: Vec<u64>,
    stride: Vec<u64>,
    dilation: Vec<u64>,
    begin: Vec<u64>,
    end: Vec<u64>,
}

fn window(node: &Node, spatial: &[u64], kernel: Vec<u64>) -> Result<Window, String> {
    let n = spatial.len();
    let list = |name: &str, default: u64| -> Result<Vec<u64>, String> {
        match attr_ints(node, name)? {
            None => Ok(vec![default; n]),
            Some(v) if v.len() == n => v.iter().map(|&x| dim(x, name)).collect(),
            Some(v) => Err(format!("`{name}` {v:?} has {} entries for {n} spatial axes", v.len())),
        }
    };
    let stride = list("strides", 1)?;
    let dilation = list("dilations", 1)?;
    if stride.contains(&0) || dilation.contains(&0) || kernel.contains(&0) {
        return Err("a kernel size, stride or dilation is 0".to_string());
    }
    let auto_pad = attr_string(node, "auto_pad")?.unwrap_or_default();
    let (mut begin, mut end) = (vec![0u64; n], vec![0u64; n]);
    match auto_pad.as_str() {
        "" | "NOTSET" => {
            if let Some(pads) = attr_ints(node, "pads")? {
                if pads.len() != 2 * n {
                    return Err(format!(
                        "`pads` {pads:?} has {} entries for {n} spatial axes",
                        pads.len()
                    ));
                }
                for i in 0..n {
                    begin[i] = dim(pads[i], "a pad")?;
                    end[i] = dim(pads[i + n], "a pad")?;
                }
            }
        }
        "VALID" => {}
        "SAME_UPPER" | "SAME_LOWER" => {
            for i in 0..n {
                (begin[i], end[i]) = same_pads(spatial[i], kernel[i], stride[i], dilation[i], auto_pad == "SAME_UPPER");
            }
        }
        other => {
            return Err(format!(
                "auto_pad {other} is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID"
            ))
        }
    }
    Ok(Window {
        kernel,
        stride,
        dilation,
        begin,
        end,
    })
}

fn window_out(size: u64, w: &Window, i: usize, ceil: bool) -> Result<u64, String> {
    let span = w.dilation[i]
        .checked_mul(w.kernel[i] - 1)
        .and_then(|s| s.checked_add(1))
        .ok_or("the kernel span overflows")?;
    let padded = size
        .checked_add(w.begin[i])
        .and_then(|p| p.checked_add(w.end[i]))
        .ok_or("the padded size overflows")?;
    if padded < span {
        return Err(format!(
            "its window ({} taps, dilation {}) is larger than the padded input {padded} along spatial axis {i}",
            w.kernel[i], w.dilation[i]
        ));
    }
    let s = w.stride[i];
    let mut out = if ceil {
        (padded - span).div_ceil(s)
    } else {
        (padded - span) / s
    } + 1;
    if ceil && u128::from(out - 1) * u128::from(s) >= u128::from(size) + u128::from(w.begin[i]) {
        out -= 1;
    }
    Ok(out)
}

fn pool(node: &Node, x: &Val) -> Result<Vec<u64>, String> {
    if x.rank() < 3 {
        return Err(format!("its input has rank {}, needs at least 3", x.rank()));
    }
    let kernel = attr_ints(node, "kernel_shape")?.ok_or("it has no kernel_shape")?;
    let kernel = kernel
        .iter()
        .map(|&k| dim(k, "kernel size"))
        .collect::<Result<Vec<_>, _>>()?;
    let spatial = &x.shape[2..];
    if kernel.len() != spatial.len() {
        return Err(format!(
            "kernel_shape {kernel:?} does not match the input {:?}",
            x.shape
        ));
    }
    let w = window(node, spatial, kernel)?;
    let ceil = attr_int(node, "ceil_mode", 0)? != 0;
    let mut shape = x.shape[..2].to_vec();
    for (i, &size) in spatial.iter().enumerate() {
        shape.push(window_out(size, &w, i, ceil)?);
    }
    Ok(shape)
}

fn u32_of(value: u64, what: &str) -> Result<u32, String> {
    u32::try_from(value).map_err(|_| format!("its {what} {value} exceeds 4294967295"))
}

/// The symmetric padding that gives the same output size as `(begin, end)`; asymmetric padding costs the same
/// MACs whenever the output size is the same.
fn symmetric(size: u64, w: &Window, i: usize) -> Result<u64, String> {
    if w.begin[i] == w.end[i] {
        return Ok(w.begin[i]);
    }
    let want = window_out(size, w, i, false)?;
    let total = w.begin[i] + w.end[i];
    for p in [total / 2, total.div_ceil(2)] {
        let trial = Window {
            kernel: w.kernel.clone(),
            stride: w.stride.clone(),
            dilation: w.dilation.clone(),
            begin: vec![p; w.kernel.len()],
            end: vec![p; w.kernel.len()],
        };
        if window_out(size, &trial, i, false).ok() == Some(want) {
            return Ok(p);
        }
    }
    Err(format!(
        "its padding ({}, {}) along spatial axis {i} is asymmetric and no symmetric padding gives the same output \
         size at stride {}; convflops' conv layers pad both sides alike",
        w.begin[i], w.end[i], w.stride[i]
    ))
}

/// A 2-D Conv: its output and the conv layer it is.
pub fn conv(node: &Node, inputs: &[Option<Val>]) -> Result<(Val, ConvLayer), String> {
    let x = required(inputs, 0, "X")?;
    let w = required(inputs, 1, "W")?;
    if w.rank() != 4 || x.rank() != 4 {
        let rank = if w.rank() != 4 { w.rank() } else { x.rank() };
        let spatial = rank.saturating_sub(2);
        return Err(format!(
            "a {spatial}-D convolution (weight {:?}, input {:?}): convflops counts 2-D convolutions only",
            w.shape, x.shape
        ));
    }
    let groups = dim(attr_int(node, "group", 1)?, "group")?;
    let (batch, channels) = (x.shape[0], x.shape[1]);
    let out_channels = w.shape[0];
    if groups == 0 || w.shape[1].checked_mul(groups) != Some(channels) || !out_channels.is_multiple_of(groups) {
        return Err(format!(
            "its weight {:?} with group {groups} does not fit the input's {channels} channels",
            w.shape
        ));
    }
    let kernel = vec![w.shape[2], w.shape[3]];
    if let Some(declared) = attr_ints(node, "kernel_shape")? {
        if declared.iter().map(|&k| k as u64).ne(kernel.iter().copied()) {
            return Err(format!(
                "kernel_shape {declared:?} disagrees with the weight {:?}",
                w.shape
            ));
        }
    }
    let spatial = [x.shape[2], x.shape[3]];
    let win = window(node, &spatial, kernel)?;
    let bias = match optional(inputs, 2) {
        Some(b) => {
            if b.shape != [out_channels] {
                return Err(format!("its bias {:?} is not [{out_channels}]", b.shape));
            }
            true
        }
        None => false,
    };
    let out = vec![
        batch,
        out_channels,
        window_out(spatial[0], &win, 0, false)?,
        window_out(spatial[1], &win, 1, false)?,
    ];
    let layer = ConvLayer {
        batch: u32_of(batch, "batch")?,
        in_channels: u32_of(channels, "input channel count")?,
        out_channels: u32_of(out_channels, "output channel count")?,
        height: u32_of(spatial[0], "input height")?,
        width: u32_of(spatial[1], "input width")?,
        kernel: [u32_of(win.kernel[0], "kernel")?, u32_of(win.kernel[1], "kernel")?],
        stride: [u32_of(win.stride[0], "stride")?, u32_of(win.stride[1], "stride")?],
        padding: [
            u32_of(symmetric(spatial[0], &win, 0)?, "padding")?,
            u32_of(symmetric(spatial[1], &win, 1)?, "padding")?,
        ],
        dilation: [
            u32_of(win.dilation[0], "dilation")?,
            u32_of(win.dilation[1], "dilation")?,
        ],
        groups: u32_of(groups, "group")?,
        bias,
    };
    let value = Val::shaped(x.dtype, out);
    Ok((value, layer))
}

/// A fully connected layer `[batch, rows, k] × [k, n]`: a 1×1 conv on a `rows`×1 input.
fn fc(batch: u64, rows: u64, k: u64, n: u64, bias: bool) -> Result<ConvLayer, String> {
    Ok(ConvLayer {
        batch: u32_of(batch, "batch")?,
        in_channels: u32_of(k, "input feature count")?,
        out_channels: u32_of(n, "output feature count")?,
        height: u32_of(
            rows,
            "row count (the product of the dimensions between the batch and the features)",
        )?,
        width: 1,
        kernel: [1, 1],
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
        groups: 1,
        bias,
    })
}

/// Gemm: its output and, when B is a constant, the fc layer it is.
pub fn gemm(node: &Node, inputs: &[Option<Val>]) -> Result<(Val, Option<ConvLayer>), String> {
    let a = required(inputs, 0, "A")?;
    let b = required(inputs, 1, "B")?;
    if a.rank() != 2 || b.rank() != 2 {
        return Err(format!("its inputs {:?} and {:?} are not matrices", a.shape, b.shape));
    }
    let (m, k) = if attr_int(node, "transA", 0)? != 0 {
        (a.shape[1], a.shape[0])
    } else {
        (a.shape[0], a.shape[1])
    };
    let (kb, n) = if attr_int(node, "transB", 0)? != 0 {
        (b.shape[1], b.shape[0])
    } else {
        (b.shape[0], b.shape[1])
    };
    if k != kb {
        return Err(format!("A {:?} and B {:?} do not multiply", a.shape, b.shape));
    }
    let bias = match optional(inputs, 2) {
        Some(c) => {
            broadcast(&c.shape, &[m, n]).map_err(|e| format!("its C does not broadcast to [{m}, {n}]: {e}"))?;
            attr_floats(node, "beta")?.is_none_or(|b| b.first() != Some(&0.0))
        }
        None => false,
    };
    let out = Val::shaped(a.dtype, vec![m, n]);
    let layer = if b.constant { Some(fc(m, 1, k, n, bias)?) } else { None };
    Ok((out, layer))
}

/// MatMul: its output and, when B is a constant matrix (leading dimensions all 1), the fc layer it is.
pub fn matmul(inputs: &[Option<Val>]) -> Result<(Val, Option<ConvLayer>), String> {
    let a = required(inputs, 0, "A")?;
    let b = required(inputs, 1, "B")?;
    if a.rank() == 0 || b.rank() == 0 {
        return Err("an input is a scalar".to_string());
    }
    let a2 = if a.rank() == 1 {
        vec![1, a.shape[0]]
    } else {
        a.shape.clone()
    };
    let b2 = if b.rank() == 1 {
        vec![b.shape[0], 1]
    } else {
        b.shape.clone()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != kb {
        return Err(format!("A {:?} and B {:?} do not multiply", a.shape, b.shape));
    }
    let batch = broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
    let mut shape = batch.clone();
    if a.rank() > 1 {
        shape.push(m);
    }
    if b.rank() > 1 {
        shape.push(n);
    }
    let out = Val::shaped(a.dtype, shape);
    let weight_batch = checked_numel(&b2[..b2.len() - 2])?;
    let layer = if b.constant && weight_batch == 1 {
        // [batch, ..., m, k]: the batch is the first dimension, the rows all the others but the features.
        let (batch, rows) = if a2.len() >= 3 {
            (a2[0], checked_numel(&a2[1..a2.len() - 1])?)
        } else {
            (a2[0], 1)
        };
        Some(fc(batch, rows, k, n, false)?)
    } else if b.constant {
        return Err(format!(
            "its constant B {:?} is a batch of matrices, which convflops does not count",
            b.shape
        ));
    } else {
        None
    };
    Ok((out, layer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::onnx::wire::Attribute;

    fn node(op: &str, attrs: Vec<(&str, AttributeValue)>) -> Node {
        Node {
            op_type: op.to_string(),
            outputs: vec!["y".to_string()],
            attributes: attrs
                .into_iter()
                .map(|(name, value)| Attribute {
                    name: name.to_string(),
                    value,
                })
                .collect(),
            ..Node::default()
        }
    }

    fn x(shape: &[u64]) -> Option<Val> {
        Some(Val::shaped(dtype::FLOAT, shape.to_vec()))
    }

    fn ints(v: &[i64]) -> Option<Val> {
        Some(Val::ints(v.to_vec()))
    }

    #[test]
    fn same_padding_matches_the_onnx_rule() {
        // 224, k3, s2: out 112, total pad 1 → SAME_UPPER (0, 1), SAME_LOWER (1, 0).
        assert_eq!(same_pads(224, 3, 2, 1, true), (0, 1));
        assert_eq!(same_pads(224, 3, 2, 1, false), (1, 0));
        assert_eq!(same_pads(7, 3, 1, 1, true), (1, 1));
        assert_eq!(same_pads(5, 4, 1, 1, true), (1, 2));
    }

    #[test]
    fn conv_with_asymmetric_same_upper_padding() {
        let n = node(
            "Conv",
            vec![
                ("auto_pad", AttributeValue::String("SAME_UPPER".into())),
                ("strides", AttributeValue::Ints(vec![2, 2])),
            ],
        );
        let (out, layer) = conv(&n, &[x(&[1, 8, 224, 224]), x(&[16, 8, 3, 3])]).unwrap();
        assert_eq!(out.shape, vec![1, 16, 112, 112]);
        assert_eq!((layer.padding, layer.out_height()), ([1, 1], 112));
        // Stride 1 with an even kernel cannot be made symmetric.
        let n = node("Conv", vec![("auto_pad", AttributeValue::String("SAME_UPPER".into()))]);
        let error = conv(&n, &[x(&[1, 8, 10, 10]), x(&[16, 8, 2, 2])]).unwrap_err();
        assert!(error.contains("asymmetric"), "{error}");
    }

    #[test]
    fn conv_rejects_other_ranks_and_bad_groups() {
        let n = node("Conv", vec![]);
        assert!(conv(&n, &[x(&[1, 8, 10]), x(&[16, 8, 3])]).unwrap_err().contains("1-D"));
        assert!(conv(&n, &[x(&[1, 8, 4, 4, 4]), x(&[16, 8, 3, 3, 3])])
            .unwrap_err()
            .contains("3-D"));
        let g = node("Conv", vec![("group", AttributeValue::Int(3))]);
        assert!(conv(&g, &[x(&[1, 8, 4, 4]), x(&[16, 8, 3, 3])])
            .unwrap_err()
            .contains("group 3"));
    }

    #[test]
    fn shape_subgraph_folds() {
        // Shape → Gather(0) → Unsqueeze → Concat with [2, -1] → Reshape: ShuffleNet's channel shuffle.
        let shape = infer(&node("Shape", vec![]), &[x(&[1, 116, 28, 28])], 17).unwrap();
        assert_eq!(shape[0].data, Some(Data::I(vec![1, 116, 28, 28])));
        let first = infer(
            &node("Gather", vec![]),
            &[
                Some(shape[0].clone()),
                Some(Val {
                    shape: vec![],
                    ..Val::ints(vec![1])
                }),
            ],
            17,
        )
        .unwrap();
        assert_eq!(
            (first[0].shape.clone(), first[0].data.clone()),
            (vec![], Some(Data::I(vec![116])))
        );
        let half = infer(
            &node("Div", vec![]),
            &[
                Some(first[0].clone()),
                Some(Val {
                    shape: vec![],
                    ..Val::ints(vec![2])
                }),
            ],
            17,
        )
        .unwrap();
        let unsq = infer(&node("Unsqueeze", vec![]), &[Some(half[0].clone()), ints(&[0])], 17).unwrap();
        assert_eq!(unsq[0].data, Some(Data::I(vec![58])));
        let cat = infer(
            &node("Concat", vec![("axis", AttributeValue::Int(0))]),
            &[ints(&[1, 2]), Some(unsq[0].clone()), ints(&[28, 28])],
            17,
        )
        .unwrap();
        assert_eq!(cat[0].data, Some(Data::I(vec![1, 2, 58, 28, 28])));
        let reshaped = infer(
            &node("Reshape", vec![]),
            &[x(&[1, 116, 28, 28]), Some(cat[0].clone())],
            17,
        )
        .unwrap();
        assert_eq!(reshaped[0].shape, vec![1, 2, 58, 28, 28]);
        let t = infer(
            &node("Transpose", vec![("perm", AttributeValue::Ints(vec![0, 2, 1, 3, 4]))]),
            &[Some(reshaped[0].clone())],
            17,
        )
        .unwrap();
        assert_eq!(t[0].shape, vec![1, 58, 2, 28, 28]);
        let bad = infer(&node("Reshape", vec![]), &[x(&[1, 116, 28, 28]), ints(&[1, 3, -1])], 17).unwrap_err();
        assert!(bad.contains("cannot reshape"), "{bad}");
        let runtime = infer(&node("Reshape", vec![]), &[x(&[1, 4]), x(&[2])], 17).unwrap_err();
        assert!(runtime.contains("run time"), "{runtime}");
    }

    #[test]
    fn slices_and_gathers_fold() {
        let s = infer(
            &node("Slice", vec![]),
            &[ints(&[1, 3, 224, 224]), ints(&[-2]), ints(&[i64::MAX])],
            17,
        )
        .unwrap();
        assert_eq!(s[0].data, Some(Data::I(vec![224, 224])));
        let rev = infer(
            &node("Slice", vec![]),
            &[
                ints(&[1, 2, 3, 4]),
                ints(&[-1]),
                ints(&[i64::MIN]),
                ints(&[0]),
                ints(&[-2]),
            ],
            17,
        )
        .unwrap();
        assert_eq!(rev[0].data, Some(Data::I(vec![4, 2])));
        let g = infer(&node("Gather", vec![]), &[ints(&[5, 6, 7]), ints(&[2, -3])], 17).unwrap();
        assert_eq!(g[0].data, Some(Data::I(vec![7, 5])));
    }

    #[test]
    fn pooling_and_resize() {
        let n = node(
            "MaxPool",
            vec![
                ("kernel_shape", AttributeValue::Ints(vec![3, 3])),
                ("strides", AttributeValue::Ints(vec![2, 2])),
                ("pads", AttributeValue::Ints(vec![1, 1, 1, 1])),
            ],
        );
        assert_eq!(pool(&n, &x(&[1, 64, 112, 112]).unwrap()).unwrap(), vec![1, 64, 56, 56]);
        // ShuffleNet's ceil-mode pool: 112 → 56 with k3 s2 p1.
        let c = node(
            "MaxPool",
            vec![
                ("kernel_shape", AttributeValue::Ints(vec![3, 3])),
                ("strides", AttributeValue::Ints(vec![2, 2])),
                ("ceil_mode", AttributeValue::Int(1)),
            ],
        );
        assert_eq!(pool(&c, &x(&[1, 24, 112, 112]).unwrap()).unwrap(), vec![1, 24, 56, 56]);
        let r = infer(
            &node("Resize", vec![]),
            &[
                x(&[1, 8, 7, 7]),
                None,
                Some(Val::shaped(dtype::FLOAT, vec![4]).with_data(Some(Data::F(vec![1.0, 1.0, 2.0, 2.0])))),
            ],
            13,
        )
        .unwrap();
        assert_eq!(r[0].shape, vec![1, 8, 14, 14]);
    }

    #[test]
    fn gemm_and_matmul_are_fc_with_a_constant_weight() {
        let mut w = Val::shaped(dtype::FLOAT, vec![1000, 1280]);
        w.constant = true;
        let n = node("Gemm", vec![("transB", AttributeValue::Int(1))]);
        let (out, layer) = gemm(&n, &[x(&[2, 1280]), Some(w.clone()), x(&[1000])]).unwrap();
        assert_eq!(out.shape, vec![2, 1000]);
        let layer = layer.unwrap();
        assert_eq!(
            (layer.batch, layer.in_channels, layer.out_channels, layer.bias),
            (2, 1280, 1000, true)
        );
        let mut wt = Val::shaped(dtype::FLOAT, vec![64, 32]);
        wt.constant = true;
        let (out, layer) = matmul(&[x(&[2, 10, 64]), Some(wt)]).unwrap();
        assert_eq!(out.shape, vec![2, 10, 32]);
        let layer = layer.unwrap();
        assert_eq!((layer.batch, layer.height, layer.width), (2, 10, 1));
        let (_, none) = matmul(&[x(&[2, 10, 64]), x(&[2, 64, 10])]).unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn hostile_attributes_are_errors_not_panics() {
        let huge = i64::MAX;
        let n = node("Slice", vec![]);
        assert_eq!(
            infer(
                &n,
                &[x(&[0, 4]), ints(&[-1]), ints(&[i64::MIN]), ints(&[0]), ints(&[-1])],
                17
            )
            .unwrap()[0]
                .shape,
            vec![0, 4]
        );
        let big_step = infer(
            &n,
            &[ints(&[1, 2, 3]), ints(&[0]), ints(&[3]), ints(&[0]), ints(&[huge])],
            17,
        )
        .unwrap();
        assert_eq!(big_step[0].data, Some(Data::I(vec![1])));
        let back = infer(
            &n,
            &[
                ints(&[1, 2, 3]),
                ints(&[-1]),
                ints(&[-4]),
                ints(&[0]),
                ints(&[i64::MIN]),
            ],
            17,
        )
        .unwrap();
        assert_eq!(back[0].data, Some(Data::I(vec![3])));
        let pool_node = node(
            "MaxPool",
            vec![
                ("kernel_shape", AttributeValue::Ints(vec![3, 3])),
                ("pads", AttributeValue::Ints(vec![huge, huge, huge, huge])),
            ],
        );
        assert!(pool(&pool_node, &x(&[1, 1, 4, 4]).unwrap())
            .unwrap_err()
            .contains("overflows"));
        let same = node(
            "MaxPool",
            vec![
                ("kernel_shape", AttributeValue::Ints(vec![huge, 3])),
                ("strides", AttributeValue::Ints(vec![huge, huge])),
                ("auto_pad", AttributeValue::String("SAME_UPPER".into())),
            ],
        );
        // SAME keeps ceil(size / stride) outputs whatever the kernel: one here.
        assert_eq!(pool(&same, &x(&[1, 1, 4, 4]).unwrap()).unwrap(), vec![1, 1, 1, 1]);
        let split = node("Split", vec![("num_outputs", AttributeValue::Int(huge))]);
        assert!(infer(&split, &[x(&[4, 4])], 18).unwrap_err().contains("num_outputs"));
        // A Gather whose result would be large keeps its shape only.
        let g = infer(
            &node("Gather", vec![]),
            &[ints(&[7; 4096]), Some(Val::ints(vec![0; 4096]))],
            17,
        )
        .unwrap();
        assert_eq!(g[0].shape, vec![4096]);
        let wide = Val::shaped(dtype::INT64, vec![64, 64]).with_data(Some(Data::I(vec![1; 4096])));
        let g = infer(
            &node("Gather", vec![]),
            &[Some(wide), Some(Val::ints(vec![0; 4096]))],
            17,
        )
        .unwrap();
        assert_eq!((g[0].shape.clone(), g[0].data.is_none()), (vec![4096, 64], true));
    }
}
