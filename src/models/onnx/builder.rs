//! A minimal ONNX writer: just enough of the protobuf wire format to build small models for the tests and the fuzz
//! corpus without Python. Weights are written as `raw_data` of the right length, filled with zeros.

/// A dimension of a graph input: a number or a symbolic name.
#[derive(Debug, Clone)]
pub enum InputDim {
    Value(i64),
    Param(&'static str),
}

/// A node attribute.
#[derive(Debug, Clone)]
pub enum Attr {
    Int(&'static str, i64),
    Ints(&'static str, Vec<i64>),
    Float(&'static str, f32),
    Floats(&'static str, Vec<f32>),
    Str(&'static str, &'static str),
    /// A tensor attribute (`Constant`'s `value`): int64 values with their dims.
    TensorI64(&'static str, Vec<i64>, Vec<i64>),
    /// A float tensor attribute of zeros with these dims (a weight held by a `Constant` node).
    TensorF32(&'static str, Vec<i64>),
}

/// ONNX's TensorProto.DataType codes used here.
pub const FLOAT: i32 = 1;
pub const INT64: i32 = 7;

/// A model under construction: one graph, opset `opset` of the default domain.
#[derive(Debug, Clone)]
pub struct ModelBuilder {
    opset: i64,
    name: String,
    nodes: Vec<Vec<u8>>,
    initializers: Vec<Vec<u8>>,
    inputs: Vec<Vec<u8>>,
    outputs: Vec<Vec<u8>>,
    value_info: Vec<Vec<u8>>,
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn key(out: &mut Vec<u8>, field: u64, kind: u64) {
    varint(out, (field << 3) | kind);
}

fn int_field(out: &mut Vec<u8>, field: u64, value: i64) {
    key(out, field, 0);
    varint(out, value as u64);
}

fn bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    key(out, field, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A TensorProto: `name`, `dims`, `data_type` and its raw bytes.
pub fn tensor_bytes(name: &str, dims: &[i64], data_type: i32, raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &dim in dims {
        int_field(&mut out, 1, dim);
    }
    int_field(&mut out, 2, i64::from(data_type));
    bytes_field(&mut out, 8, name.as_bytes());
    bytes_field(&mut out, 9, raw);
    out
}

/// Little-endian bytes of int64 values.
pub fn i64_bytes(values: &[i64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn value_info_bytes(name: &str, elem_type: i32, dims: &[InputDim]) -> Vec<u8> {
    let mut shape = Vec::new();
    for dim in dims {
        let mut d = Vec::new();
        match dim {
            InputDim::Value(v) => int_field(&mut d, 1, *v),
            InputDim::Param(p) => bytes_field(&mut d, 2, p.as_bytes()),
        }
        bytes_field(&mut shape, 1, &d);
    }
    let mut tensor_type = Vec::new();
    int_field(&mut tensor_type, 1, i64::from(elem_type));
    bytes_field(&mut tensor_type, 2, &shape);
    let mut type_proto = Vec::new();
    bytes_field(&mut type_proto, 1, &tensor_type);
    let mut out = Vec::new();
    bytes_field(&mut out, 1, name.as_bytes());
    bytes_field(&mut out, 2, &type_proto);
    out
}

fn attribute_bytes(attr: &Attr) -> Vec<u8> {
    let mut out = Vec::new();
    let (name, kind) = match attr {
        Attr::Float(name, value) => {
            key(&mut out, 2, 5);
            out.extend_from_slice(&value.to_le_bytes());
            (name, 1)
        }
        Attr::Int(name, value) => {
            int_field(&mut out, 3, *value);
            (name, 2)
        }
        Attr::Str(name, value) => {
            bytes_field(&mut out, 4, value.as_bytes());
            (name, 3)
        }
        Attr::TensorI64(name, dims, values) => {
            bytes_field(&mut out, 5, &tensor_bytes("", dims, INT64, &i64_bytes(values)));
            (name, 4)
        }
        Attr::TensorF32(name, dims) => {
            let count: i64 = dims.iter().product();
            let raw = vec![0u8; usize::try_from(count.max(0) * 4).unwrap_or(0)];
            bytes_field(&mut out, 5, &tensor_bytes("", dims, FLOAT, &raw));
            (name, 4)
        }
        Attr::Floats(name, values) => {
            let packed: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            bytes_field(&mut out, 7, &packed);
            (name, 6)
        }
        Attr::Ints(name, values) => {
            let mut packed = Vec::new();
            for &v in values {
                varint(&mut packed, v as u64);
            }
            bytes_field(&mut out, 8, &packed);
            (name, 7)
        }
    };
    let mut named = Vec::new();
    bytes_field(&mut named, 1, name.as_bytes());
    named.extend_from_slice(&out);
    int_field(&mut named, 20, kind);
    named
}

impl ModelBuilder {
    pub fn new(name: &str, opset: i64) -> Self {
        ModelBuilder {
            opset,
            name: name.to_string(),
            nodes: Vec::new(),
            initializers: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            value_info: Vec::new(),
        }
    }

    /// A float graph input.
    pub fn input(mut self, name: &str, dims: &[InputDim]) -> Self {
        self.inputs.push(value_info_bytes(name, FLOAT, dims));
        self
    }

    /// A graph input of fixed dims.
    pub fn input_fixed(self, name: &str, dims: &[i64]) -> Self {
        let dims: Vec<InputDim> = dims.iter().map(|&d| InputDim::Value(d)).collect();
        self.input(name, &dims)
    }

    /// A graph output (no shape).
    pub fn output(mut self, name: &str) -> Self {
        let mut out = Vec::new();
        bytes_field(&mut out, 1, name.as_bytes());
        self.outputs.push(out);
        self
    }

    /// A `value_info` entry with a fixed shape.
    pub fn value_info(mut self, name: &str, dims: &[i64]) -> Self {
        let dims: Vec<InputDim> = dims.iter().map(|&d| InputDim::Value(d)).collect();
        self.value_info.push(value_info_bytes(name, FLOAT, &dims));
        self
    }

    /// A float initializer of zeros.
    pub fn weight(mut self, name: &str, dims: &[i64]) -> Self {
        let count: i64 = dims.iter().product();
        let raw = vec![0u8; usize::try_from(count.max(0) * 4).unwrap_or(0)];
        self.initializers.push(tensor_bytes(name, dims, FLOAT, &raw));
        self
    }

    /// An int64 initializer.
    pub fn ints(mut self, name: &str, dims: &[i64], values: &[i64]) -> Self {
        self.initializers
            .push(tensor_bytes(name, dims, INT64, &i64_bytes(values)));
        self
    }

    /// An initializer given as encoded TensorProto bytes (for hostile tensors).
    pub fn raw_initializer(mut self, tensor: Vec<u8>) -> Self {
        self.initializers.push(tensor);
        self
    }

    /// A node of the default domain.
    pub fn node(mut self, op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: &[Attr]) -> Self {
        let mut out = Vec::new();
        for input in inputs {
            bytes_field(&mut out, 1, input.as_bytes());
        }
        for output in outputs {
            bytes_field(&mut out, 2, output.as_bytes());
        }
        bytes_field(&mut out, 3, name.as_bytes());
        bytes_field(&mut out, 4, op.as_bytes());
        for attr in attrs {
            bytes_field(&mut out, 5, &attribute_bytes(attr));
        }
        self.nodes.push(out);
        self
    }

    /// The encoded ModelProto: ir_version 8, producer "convflops-tests", the opset import and the graph.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut graph = Vec::new();
        for node in &self.nodes {
            bytes_field(&mut graph, 1, node);
        }
        bytes_field(&mut graph, 2, self.name.as_bytes());
        for init in &self.initializers {
            bytes_field(&mut graph, 5, init);
        }
        for input in &self.inputs {
            bytes_field(&mut graph, 11, input);
        }
        for output in &self.outputs {
            bytes_field(&mut graph, 12, output);
        }
        for info in &self.value_info {
            bytes_field(&mut graph, 13, info);
        }
        let mut model = Vec::new();
        int_field(&mut model, 1, 8);
        bytes_field(&mut model, 2, b"convflops-tests");
        bytes_field(&mut model, 7, &graph);
        let mut opset = Vec::new();
        bytes_field(&mut opset, 1, b"");
        int_field(&mut opset, 2, self.opset);
        bytes_field(&mut model, 8, &opset);
        model
    }
}
