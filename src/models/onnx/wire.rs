//! A streaming reader for the subset of onnx.proto that counting needs: `ModelProto` → `GraphProto` → `NodeProto`,
//! `AttributeProto`, `TensorProto` (dims, type and small data only), `ValueInfoProto` → `TypeProto.Tensor` →
//! `TensorShapeProto`.
//!
//! It decodes the protobuf wire format by hand over any `Read + Seek` source, so weight bytes are never held: a
//! tensor's `raw_data` larger than [`KEEP_BYTES`] is skipped with a seek and only its length is kept (a 100 MB
//! ResNet-50 file costs a few hundred kilobytes of memory). Every length is checked against the enclosing message
//! and the file before anything is read or allocated, so a truncated or hostile file gives an error, never a panic
//! or an allocation larger than the file. Sub-graphs (`If`/`Loop` bodies) and non-tensor types are skipped, so the
//! decoder never recurses more than the fixed depth of the messages above.
//!
//! Field numbers are onnx.proto's (IR version 10). Unknown fields are skipped, as protobuf requires.

use std::io::{BufReader, Read, Seek};

use super::OnnxError;

/// `raw_data` (and packed typed data) up to this many bytes is kept for constant folding; larger data is skipped.
pub const KEEP_BYTES: u64 = 64 * 1024;

/// A decoded `ModelProto`.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub ir_version: i64,
    /// `(domain, version)` of each `opset_import`; the default domain is "" (or "ai.onnx").
    pub opsets: Vec<(String, i64)>,
    pub graph: Graph,
}

impl Model {
    /// The opset version of the default (ai.onnx) domain; 1 when the model imports none.
    pub fn default_opset(&self) -> i64 {
        self.opsets
            .iter()
            .find(|(domain, _)| domain.is_empty() || domain == "ai.onnx")
            .map_or(1, |(_, version)| *version)
    }
}

/// A decoded `GraphProto`.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    pub initializers: Vec<Tensor>,
    /// Names of `sparse_initializer`s, which are not supported as weights.
    pub sparse_initializers: Vec<String>,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
    pub value_info: Vec<ValueInfo>,
}

/// A decoded `NodeProto`.
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub name: String,
    pub op_type: String,
    pub domain: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: Vec<Attribute>,
}

/// A decoded `AttributeProto`: its name and the value it holds.
#[derive(Debug, Clone)]
pub struct Attribute {
    pub name: String,
    pub value: AttributeValue,
}

/// The value of an attribute. Graph-valued and other attributes are kept only as [`AttributeValue::Other`].
#[derive(Debug, Clone)]
pub enum AttributeValue {
    Float(f32),
    Int(i64),
    String(String),
    Tensor(Box<Tensor>),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<String>),
    Other,
}

/// One dimension of a declared shape: a number, a symbolic name, or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    Value(i64),
    Param(String),
    Unknown,
}

/// A decoded `ValueInfoProto`: a name and, for tensors, the element type and the shape when the file gives one.
#[derive(Debug, Clone, Default)]
pub struct ValueInfo {
    pub name: String,
    pub elem_type: i32,
    pub shape: Option<Vec<Dim>>,
}

/// A decoded `TensorProto`: dims, type, where its data is and, when small, the data itself.
#[derive(Debug, Clone, Default)]
pub struct Tensor {
    pub name: String,
    pub dims: Vec<i64>,
    pub data_type: i32,
    /// `data_location = EXTERNAL`, or `external_data` entries present.
    pub external: bool,
    /// Length of `raw_data` in bytes, when present.
    pub raw_len: Option<u64>,
    /// `raw_data` itself when at most [`KEEP_BYTES`].
    pub raw: Option<Vec<u8>>,
    /// Number of entries in the typed data fields (`float_data`, `int32_data`, `int64_data`, ...).
    pub typed_len: u64,
    /// Number of `string_data` entries.
    pub strings: u64,
    /// The typed entries, as f64 or i64, when there are few enough to keep.
    pub typed: Option<TypedData>,
}

/// Entries of a typed data field, widened.
#[derive(Debug, Clone)]
pub enum TypedData {
    Float(Vec<f64>),
    Int(Vec<i64>),
}

/// Entries kept from one tensor's typed fields, at most this many.
const KEEP_ENTRIES: u64 = KEEP_BYTES / 8;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// The wire-format cursor: a buffered source, the current offset and the file length.
struct Wire<R> {
    source: BufReader<R>,
    pos: u64,
    len: u64,
}

/// Decodes a whole model from `source`, whose length is `len` bytes.
pub fn read_model<R: Read + Seek>(source: R, len: u64) -> Result<Model, OnnxError> {
    let mut wire = Wire {
        source: BufReader::with_capacity(64 * 1024, source),
        pos: 0,
        len,
    };
    wire.model()
}

/// A message decoder: reads fields until the message's end offset and hands each to `field`.
macro_rules! fields {
    ($wire:ident, $end:ident, $what:expr, |$number:ident, $kind:ident| $body:block) => {
        while $wire.pos < $end {
            let ($number, $kind) = $wire.key($end, $what)?;
            $body
        }
    };
}

impl<R: Read + Seek> Wire<R> {
    fn malformed(&self, what: &str, reason: impl Into<String>) -> OnnxError {
        OnnxError::Malformed {
            offset: self.pos,
            what: what.to_string(),
            reason: reason.into(),
        }
    }

    fn byte(&mut self, end: u64, what: &str) -> Result<u8, OnnxError> {
        if self.pos >= end {
            return Err(self.ends_inside(what, end));
        }
        let mut one = [0u8; 1];
        self.source
            .read_exact(&mut one)
            .map_err(|error| self.io_error(what, error))?;
        self.pos += 1;
        Ok(one[0])
    }

    fn ends_inside(&self, what: &str, end: u64) -> OnnxError {
        if end >= self.len {
            OnnxError::Truncated {
                offset: self.pos,
                what: what.to_string(),
            }
        } else {
            self.malformed(what, "a field runs past the end of its message")
        }
    }

    fn io_error(&self, what: &str, error: std::io::Error) -> OnnxError {
        if error.kind() == std::io::ErrorKind::UnexpectedEof {
            OnnxError::Truncated {
                offset: self.pos,
                what: what.to_string(),
            }
        } else {
            OnnxError::Io {
                what: what.to_string(),
                source: error,
            }
        }
    }

    fn varint(&mut self, end: u64, what: &str) -> Result<u64, OnnxError> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.byte(end, what)?;
            if shift == 63 && byte > 1 {
                return Err(self.malformed(what, "a varint longer than 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.malformed(what, "a varint longer than 10 bytes"))
    }

    fn key(&mut self, end: u64, what: &str) -> Result<(u64, u8), OnnxError> {
        let key = self.varint(end, what)?;
        let number = key >> 3;
        let kind = (key & 7) as u8;
        if number == 0 {
            return Err(self.malformed(what, "field number 0"));
        }
        Ok((number, kind))
    }

    /// Reads a length prefix and returns the end offset of the length-delimited field, checked against `end`.
    fn delimited(&mut self, end: u64, what: &str) -> Result<u64, OnnxError> {
        let length = self.varint(end, what)?;
        let remaining = end - self.pos;
        if length > remaining {
            return Err(if end >= self.len {
                OnnxError::Truncated {
                    offset: self.pos,
                    what: format!("{what} (it claims {length} bytes, {remaining} remain)"),
                }
            } else {
                self.malformed(
                    what,
                    format!("a field claims {length} bytes but its message has {remaining} left"),
                )
            });
        }
        Ok(self.pos + length)
    }

    fn bytes_to(&mut self, field_end: u64, what: &str) -> Result<Vec<u8>, OnnxError> {
        let length = field_end - self.pos;
        let mut bytes = Vec::new();
        (&mut self.source)
            .take(length)
            .read_to_end(&mut bytes)
            .map_err(|error| self.io_error(what, error))?;
        if bytes.len() as u64 != length {
            self.pos += bytes.len() as u64;
            return Err(OnnxError::Truncated {
                offset: self.pos,
                what: what.to_string(),
            });
        }
        self.pos = field_end;
        Ok(bytes)
    }

    fn string(&mut self, end: u64, what: &str) -> Result<String, OnnxError> {
        let field_end = self.delimited(end, what)?;
        let bytes = self.bytes_to(field_end, what)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Moves to `target` (at or after the current offset, within the file) without reading what lies between.
    fn skip_to(&mut self, target: u64, what: &str) -> Result<(), OnnxError> {
        if target > self.len {
            return Err(OnnxError::Truncated {
                offset: self.pos,
                what: what.to_string(),
            });
        }
        let distance = i64::try_from(target - self.pos).map_err(|_| self.malformed(what, "a field too long"))?;
        self.source
            .seek_relative(distance)
            .map_err(|error| self.io_error(what, error))?;
        self.pos = target;
        Ok(())
    }

    /// Skips one field of wire type `kind` whose key was just read.
    fn skip(&mut self, kind: u8, end: u64, what: &str) -> Result<(), OnnxError> {
        match kind {
            VARINT => self.varint(end, what).map(|_| ()),
            FIXED64 | FIXED32 => {
                let width = if kind == FIXED64 { 8 } else { 4 };
                if end - self.pos < width {
                    return Err(self.ends_inside(what, end));
                }
                self.skip_to(self.pos + width, what)
            }
            LEN => {
                let field_end = self.delimited(end, what)?;
                self.skip_to(field_end, what)
            }
            other => Err(self.malformed(what, format!("wire type {other} (groups are not used by ONNX)"))),
        }
    }

    fn expect(&self, kind: u8, wanted: u8, what: &str, field: &str) -> Result<(), OnnxError> {
        if kind == wanted {
            Ok(())
        } else {
            Err(self.malformed(what, format!("field `{field}` has wire type {kind}, not {wanted}")))
        }
    }

    fn fixed32(&mut self, end: u64, what: &str) -> Result<u32, OnnxError> {
        let mut bytes = [0u8; 4];
        for byte in &mut bytes {
            *byte = self.byte(end, what)?;
        }
        Ok(u32::from_le_bytes(bytes))
    }

    fn fixed64(&mut self, end: u64, what: &str) -> Result<u64, OnnxError> {
        let mut bytes = [0u8; 8];
        for byte in &mut bytes {
            *byte = self.byte(end, what)?;
        }
        Ok(u64::from_le_bytes(bytes))
    }

    /// A repeated varint field, packed (LEN) or one entry (VARINT); entries go to `sink`.
    fn varints(&mut self, kind: u8, end: u64, what: &str, sink: &mut dyn FnMut(u64)) -> Result<(), OnnxError> {
        match kind {
            VARINT => {
                let value = self.varint(end, what)?;
                sink(value);
            }
            LEN => {
                let field_end = self.delimited(end, what)?;
                while self.pos < field_end {
                    let value = self.varint(field_end, what)?;
                    sink(value);
                }
            }
            other => return Err(self.malformed(what, format!("a repeated integer field has wire type {other}"))),
        }
        Ok(())
    }

    /// A repeated fixed-width field (float: 4, double: 8), packed or one entry.
    fn fixeds(
        &mut self,
        kind: u8,
        width: u64,
        end: u64,
        what: &str,
        sink: &mut dyn FnMut(u64),
    ) -> Result<(), OnnxError> {
        let single = if width == 4 { FIXED32 } else { FIXED64 };
        if kind == single {
            let value = if width == 4 {
                u64::from(self.fixed32(end, what)?)
            } else {
                self.fixed64(end, what)?
            };
            sink(value);
            return Ok(());
        }
        if kind != LEN {
            return Err(self.malformed(what, format!("a repeated float field has wire type {kind}")));
        }
        let field_end = self.delimited(end, what)?;
        if !(field_end - self.pos).is_multiple_of(width) {
            return Err(self.malformed(what, "packed floats whose length is not a multiple of their width"));
        }
        while self.pos < field_end {
            let value = if width == 4 {
                u64::from(self.fixed32(field_end, what)?)
            } else {
                self.fixed64(field_end, what)?
            };
            sink(value);
        }
        Ok(())
    }

    fn model(&mut self) -> Result<Model, OnnxError> {
        let end = self.len;
        let what = "ModelProto";
        let mut model = Model::default();
        let mut graph = None;
        fields!(self, end, what, |number, kind| {
            match number {
                1 => {
                    self.expect(kind, VARINT, what, "ir_version")?;
                    model.ir_version = self.varint(end, what)? as i64;
                }
                7 => {
                    self.expect(kind, LEN, what, "graph")?;
                    let field_end = self.delimited(end, "the graph")?;
                    graph = Some(self.graph(field_end)?);
                }
                8 => {
                    self.expect(kind, LEN, what, "opset_import")?;
                    let field_end = self.delimited(end, "an opset_import")?;
                    model.opsets.push(self.opset(field_end)?);
                }
                _ => self.skip(kind, end, what)?,
            }
        });
        model.graph = graph.ok_or(OnnxError::NoGraph)?;
        Ok(model)
    }

    fn opset(&mut self, end: u64) -> Result<(String, i64), OnnxError> {
        let what = "OperatorSetIdProto";
        let (mut domain, mut version) = (String::new(), 0i64);
        fields!(self, end, what, |number, kind| {
            match (number, kind) {
                (1, LEN) => domain = self.string(end, what)?,
                (2, VARINT) => version = self.varint(end, what)? as i64,
                _ => self.skip(kind, end, what)?,
            }
        });
        Ok((domain, version))
    }

    fn graph(&mut self, end: u64) -> Result<Graph, OnnxError> {
        let what = "GraphProto";
        let mut graph = Graph::default();
        fields!(self, end, what, |number, kind| {
            if kind != LEN && matches!(number, 1 | 2 | 5 | 11 | 12 | 13 | 15) {
                return Err(self.malformed(what, format!("field {number} has wire type {kind}, not 2")));
            }
            match number {
                1 => {
                    let field_end = self.delimited(end, "a node")?;
                    graph.nodes.push(self.node(field_end)?);
                }
                2 => graph.name = self.string(end, what)?,
                5 => {
                    let field_end = self.delimited(end, "an initializer")?;
                    graph.initializers.push(self.tensor(field_end)?);
                }
                11..=13 => {
                    let field_end = self.delimited(end, "a value_info")?;
                    let info = self.value_info(field_end)?;
                    match number {
                        11 => graph.inputs.push(info),
                        12 => graph.outputs.push(info),
                        _ => graph.value_info.push(info),
                    }
                }
                15 => {
                    // SparseTensorProto: values (1) is a TensorProto whose name is the initializer's.
                    let field_end = self.delimited(end, "a sparse_initializer")?;
                    let mut name = String::new();
                    fields!(self, field_end, "SparseTensorProto", |inner, inner_kind| {
                        if inner == 1 && inner_kind == LEN {
                            let values_end = self.delimited(field_end, "SparseTensorProto")?;
                            name = self.tensor(values_end)?.name;
                        } else {
                            self.skip(inner_kind, field_end, "SparseTensorProto")?;
                        }
                    });
                    graph.sparse_initializers.push(name);
                }
                _ => self.skip(kind, end, what)?,
            }
        });
        Ok(graph)
    }

    fn node(&mut self, end: u64) -> Result<Node, OnnxError> {
        let what = "NodeProto";
        let mut node = Node::default();
        fields!(self, end, what, |number, kind| {
            match (number, kind) {
                (1, LEN) => node.inputs.push(self.string(end, what)?),
                (2, LEN) => node.outputs.push(self.string(end, what)?),
                (3, LEN) => node.name = self.string(end, what)?,
                (4, LEN) => node.op_type = self.string(end, what)?,
                (7, LEN) => node.domain = self.string(end, what)?,
                (5, LEN) => {
                    let field_end = self.delimited(end, "an attribute")?;
                    node.attributes.push(self.attribute(field_end)?);
                }
                (1..=5 | 7, _) => {
                    return Err(self.malformed(what, format!("field {number} has wire type {kind}, not 2")));
                }
                _ => self.skip(kind, end, what)?,
            }
        });
        Ok(node)
    }

    fn attribute(&mut self, end: u64) -> Result<Attribute, OnnxError> {
        let what = "AttributeProto";
        let mut name = String::new();
        let mut value = AttributeValue::Other;
        let mut floats = Vec::new();
        let mut ints = Vec::new();
        let mut strings = Vec::new();
        let mut declared = 0u64;
        fields!(self, end, what, |number, kind| {
            match (number, kind) {
                (1, LEN) => name = self.string(end, what)?,
                (2, FIXED32) => value = AttributeValue::Float(f32::from_bits(self.fixed32(end, what)?)),
                (3, VARINT) => value = AttributeValue::Int(self.varint(end, what)? as i64),
                (4, LEN) => value = AttributeValue::String(self.string(end, what)?),
                (5, LEN) => {
                    let field_end = self.delimited(end, "a tensor attribute")?;
                    value = AttributeValue::Tensor(Box::new(self.tensor(field_end)?));
                }
                (7, FIXED32 | LEN) => self.fixeds(kind, 4, end, what, &mut |bits| {
                    floats.push(f32::from_bits(bits as u32));
                })?,
                (8, VARINT | LEN) => self.varints(kind, end, what, &mut |v| ints.push(v as i64))?,
                (9, LEN) => strings.push(self.string(end, what)?),
                (20, VARINT) => declared = self.varint(end, what)?,
                _ => self.skip(kind, end, what)?,
            }
        });
        // AttributeType: FLOATS = 6, INTS = 7, STRINGS = 8. A repeated attribute with no entries is still that type.
        if !floats.is_empty() || declared == 6 {
            value = AttributeValue::Floats(floats);
        } else if !ints.is_empty() || declared == 7 {
            value = AttributeValue::Ints(ints);
        } else if !strings.is_empty() || declared == 8 {
            value = AttributeValue::Strings(strings);
        }
        Ok(Attribute { name, value })
    }

    fn tensor(&mut self, end: u64) -> Result<Tensor, OnnxError> {
        let what = "TensorProto";
        let mut tensor = Tensor::default();
        let mut floats: Vec<f64> = Vec::new();
        let mut ints: Vec<i64> = Vec::new();
        let mut count = 0u64;
        fields!(self, end, what, |number, kind| {
            match number {
                1 => self.varints(kind, end, what, &mut |v| tensor.dims.push(v as i64))?,
                2 => {
                    self.expect(kind, VARINT, what, "data_type")?;
                    tensor.data_type = self.varint(end, what)? as i32;
                }
                4 => self.fixeds(kind, 4, end, what, &mut |bits| {
                    count += 1;
                    if count <= KEEP_ENTRIES {
                        floats.push(f64::from(f32::from_bits(bits as u32)));
                    }
                })?,
                10 => self.fixeds(kind, 8, end, what, &mut |bits| {
                    count += 1;
                    if count <= KEEP_ENTRIES {
                        floats.push(f64::from_bits(bits));
                    }
                })?,
                5 => self.varints(kind, end, what, &mut |v| {
                    count += 1;
                    if count <= KEEP_ENTRIES {
                        ints.push(i64::from(v as u32 as i32));
                    }
                })?,
                7 | 11 => self.varints(kind, end, what, &mut |v| {
                    count += 1;
                    if count <= KEEP_ENTRIES {
                        ints.push(v as i64);
                    }
                })?,
                6 => {
                    self.expect(kind, LEN, what, "string_data")?;
                    self.skip(kind, end, what)?;
                    tensor.strings += 1;
                }
                8 => {
                    self.expect(kind, LEN, what, "name")?;
                    tensor.name = self.string(end, what)?;
                }
                9 => {
                    self.expect(kind, LEN, what, "raw_data")?;
                    let field_end = self.delimited(end, "raw_data")?;
                    let length = field_end - self.pos;
                    tensor.raw_len = Some(length);
                    if length <= KEEP_BYTES {
                        tensor.raw = Some(self.bytes_to(field_end, "raw_data")?);
                    } else {
                        tensor.raw = None;
                        self.skip_to(field_end, "raw_data")?;
                    }
                }
                13 => {
                    self.skip(kind, end, what)?;
                    tensor.external = true;
                }
                14 => {
                    self.expect(kind, VARINT, what, "data_location")?;
                    if self.varint(end, what)? == 1 {
                        tensor.external = true;
                    }
                }
                _ => self.skip(kind, end, what)?,
            }
        });
        tensor.typed_len = count;
        if count > 0 && count <= KEEP_ENTRIES {
            tensor.typed = Some(if floats.is_empty() {
                TypedData::Int(ints)
            } else {
                TypedData::Float(floats)
            });
        }
        Ok(tensor)
    }

    fn value_info(&mut self, end: u64) -> Result<ValueInfo, OnnxError> {
        let what = "ValueInfoProto";
        let mut info = ValueInfo::default();
        fields!(self, end, what, |number, kind| {
            match (number, kind) {
                (1, LEN) => info.name = self.string(end, what)?,
                (2, LEN) => {
                    // TypeProto: only tensor_type (1) matters.
                    let type_end = self.delimited(end, "TypeProto")?;
                    fields!(self, type_end, "TypeProto", |inner, inner_kind| {
                        if inner == 1 && inner_kind == LEN {
                            let tensor_end = self.delimited(type_end, "TypeProto.Tensor")?;
                            self.tensor_type(tensor_end, &mut info)?;
                        } else {
                            self.skip(inner_kind, type_end, "TypeProto")?;
                        }
                    });
                }
                _ => self.skip(kind, end, what)?,
            }
        });
        Ok(info)
    }

    fn tensor_type(&mut self, end: u64, info: &mut ValueInfo) -> Result<(), OnnxError> {
        let what = "TypeProto.Tensor";
        fields!(self, end, what, |number, kind| {
            match (number, kind) {
                (1, VARINT) => info.elem_type = self.varint(end, what)? as i32,
                (2, LEN) => {
                    let shape_end = self.delimited(end, "TensorShapeProto")?;
                    let mut dims = Vec::new();
                    fields!(self, shape_end, "TensorShapeProto", |inner, inner_kind| {
                        if inner == 1 && inner_kind == LEN {
                            let dim_end = self.delimited(shape_end, "a shape dimension")?;
                            let mut dim = Dim::Unknown;
                            fields!(self, dim_end, "TensorShapeProto.Dimension", |d, d_kind| {
                                match (d, d_kind) {
                                    (1, VARINT) => dim = Dim::Value(self.varint(dim_end, "a dimension")? as i64),
                                    (2, LEN) => dim = Dim::Param(self.string(dim_end, "a dimension")?),
                                    _ => self.skip(d_kind, dim_end, "a dimension")?,
                                }
                            });
                            dims.push(dim);
                        } else {
                            self.skip(inner_kind, shape_end, "TensorShapeProto")?;
                        }
                    });
                    info.shape = Some(dims);
                }
                _ => self.skip(kind, end, what)?,
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
        varint(out, (number << 3) | 2);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    fn model_with_node(node: &[u8]) -> Vec<u8> {
        let mut graph = Vec::new();
        field(&mut graph, 1, node);
        let mut model = vec![0x08, 0x08];
        field(&mut model, 7, &graph);
        model
    }

    fn read(bytes: &[u8]) -> Result<Model, OnnxError> {
        read_model(Cursor::new(bytes), bytes.len() as u64)
    }

    #[test]
    fn unpacked_ints_floats_and_unknown_fields() {
        let mut attr = Vec::new();
        field(&mut attr, 1, b"pads");
        for v in [1u64, 2, 3, 4] {
            varint(&mut attr, (8 << 3) | VARINT as u64);
            varint(&mut attr, v);
        }
        // An unknown fixed64 field (number 99) is skipped.
        varint(&mut attr, (99 << 3) | FIXED64 as u64);
        attr.extend_from_slice(&[0; 8]);
        let mut alpha = Vec::new();
        field(&mut alpha, 1, b"alpha");
        varint(&mut alpha, (2 << 3) | FIXED32 as u64);
        alpha.extend_from_slice(&0.5f32.to_le_bytes());
        let mut node = Vec::new();
        field(&mut node, 4, b"Conv");
        field(&mut node, 5, &attr);
        field(&mut node, 5, &alpha);
        let model = read(&model_with_node(&node)).unwrap();
        assert_eq!(model.ir_version, 8);
        assert_eq!(model.default_opset(), 1);
        let node = &model.graph.nodes[0];
        assert_eq!(node.op_type, "Conv");
        assert!(matches!(&node.attributes[0].value, AttributeValue::Ints(v) if v == &[1, 2, 3, 4]));
        assert!(matches!(node.attributes[1].value, AttributeValue::Float(f) if f == 0.5));
    }

    #[test]
    fn large_raw_data_is_skipped_and_measured() {
        let mut tensor = Vec::new();
        varint(&mut tensor, 1 << 3);
        varint(&mut tensor, 100_000);
        varint(&mut tensor, 2 << 3);
        varint(&mut tensor, 1);
        field(&mut tensor, 8, b"w");
        field(&mut tensor, 9, &vec![0u8; 400_000]);
        let mut graph = Vec::new();
        field(&mut graph, 5, &tensor);
        let mut bytes = vec![0x08, 0x08];
        field(&mut bytes, 7, &graph);
        let model = read(&bytes).unwrap();
        let w = &model.graph.initializers[0];
        assert_eq!(
            (w.dims.as_slice(), w.raw_len, w.raw.is_none()),
            (&[100_000i64][..], Some(400_000), true)
        );
    }

    #[test]
    fn lengths_past_the_end_are_errors() {
        // A graph field claiming 1000 bytes in a 10-byte file: truncated.
        let bytes = [0x08, 0x08, 0x3a, 0xe8, 0x07, 0, 0, 0, 0, 0];
        assert!(matches!(read(&bytes), Err(OnnxError::Truncated { .. })));
        // A node inside the graph claiming more than the graph holds: malformed, not truncated.
        let mut graph = vec![0x0a, 0x05, 0x22, 0x09];
        graph.extend_from_slice(b"Con");
        let mut model = vec![0x08, 0x08];
        field(&mut model, 7, &graph);
        model.extend_from_slice(&[0x12, 0x02, b'x', b'y']);
        assert!(
            matches!(read(&model), Err(OnnxError::Malformed { .. })),
            "{:?}",
            read(&model)
        );
        // Wire type 3 (groups) and an 11-byte varint.
        assert!(matches!(read(&[0x08, 0x08, 0x0b]), Err(OnnxError::Malformed { .. })));
        assert!(matches!(
            read(&[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(OnnxError::Malformed { .. })
        ));
        assert!(matches!(read(&[0x08, 0x08]), Err(OnnxError::NoGraph)));
    }
}
