//! Values flowing through the graph during shape inference: a dtype, a concrete shape and, for small tensors (shape
//! computations: `Shape → Gather → Concat → Reshape`), the folded data. Tensors larger than [`FOLD_MAX`] elements
//! keep their shape only.

use super::wire::{Tensor, TypedData};

/// Tensors of at most this many elements carry their data for constant folding.
pub const FOLD_MAX: u64 = 4096;

/// The highest tensor rank accepted (ONNX models use a handful of dimensions; a hostile file may claim millions).
pub const MAX_RANK: usize = 64;

/// ONNX TensorProto.DataType codes.
pub mod dtype {
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const INT8: i32 = 3;
    pub const UINT16: i32 = 4;
    pub const INT16: i32 = 5;
    pub const INT32: i32 = 6;
    pub const INT64: i32 = 7;
    pub const STRING: i32 = 8;
    pub const BOOL: i32 = 9;
    pub const FLOAT16: i32 = 10;
    pub const DOUBLE: i32 = 11;
    pub const UINT32: i32 = 12;
    pub const UINT64: i32 = 13;
    pub const COMPLEX64: i32 = 14;
    pub const COMPLEX128: i32 = 15;
    pub const BFLOAT16: i32 = 16;

    /// True for the integer and boolean types, whose folded data is kept as i64.
    pub fn is_integer(dtype: i32) -> bool {
        matches!(
            dtype,
            UINT8 | INT8 | UINT16 | INT16 | INT32 | INT64 | BOOL | UINT32 | UINT64
        )
    }

    /// Bits per element; `None` for strings and unknown codes.
    pub fn bits(dtype: i32) -> Option<u64> {
        match dtype {
            FLOAT | INT32 | UINT32 => Some(32),
            UINT8 | INT8 | BOOL | 17..=20 => Some(8),
            UINT16 | INT16 | FLOAT16 | BFLOAT16 => Some(16),
            INT64 | DOUBLE | UINT64 | COMPLEX64 => Some(64),
            COMPLEX128 => Some(128),
            21..=23 => Some(4),
            _ => None,
        }
    }
}

/// Folded data, widened: integers and booleans as i64, floating point as f64.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    I(Vec<i64>),
    F(Vec<f64>),
}

impl Data {
    pub fn len(&self) -> usize {
        match self {
            Data::I(v) => v.len(),
            Data::F(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements at `indices`, in that order.
    pub fn pick(&self, indices: &[usize]) -> Data {
        match self {
            Data::I(v) => Data::I(indices.iter().map(|&i| v[i]).collect()),
            Data::F(v) => Data::F(indices.iter().map(|&i| v[i]).collect()),
        }
    }

    /// As i64 (floats truncated toward zero, as Cast does); `None` for non-finite floats.
    pub fn to_ints(&self) -> Option<Vec<i64>> {
        match self {
            Data::I(v) => Some(v.clone()),
            Data::F(v) => v
                .iter()
                .map(|&x| if x.is_finite() { Some(x.trunc() as i64) } else { None })
                .collect(),
        }
    }

    pub fn to_floats(&self) -> Vec<f64> {
        match self {
            Data::I(v) => v.iter().map(|&x| x as f64).collect(),
            Data::F(v) => v.clone(),
        }
    }

    /// The data converted to `dtype`'s family (integers, booleans or floats).
    pub fn cast(&self, to: i32) -> Option<Data> {
        if to == dtype::BOOL {
            return Some(Data::I(self.to_floats().iter().map(|&x| i64::from(x != 0.0)).collect()));
        }
        if dtype::is_integer(to) {
            self.to_ints().map(Data::I)
        } else {
            Some(Data::F(self.to_floats()))
        }
    }
}

/// A value of the graph: element type, concrete shape, folded data when small and known, and whether it is a
/// constant (an initializer, a `Constant`, a `Shape`, or computed from constants only).
#[derive(Debug, Clone, PartialEq)]
pub struct Val {
    pub dtype: i32,
    pub shape: Vec<u64>,
    pub data: Option<Data>,
    pub constant: bool,
}

impl Val {
    /// A value of known shape and no data.
    pub fn shaped(dtype: i32, shape: Vec<u64>) -> Val {
        Val {
            dtype,
            shape,
            data: None,
            constant: false,
        }
    }

    /// A constant 1-D int64 tensor (a `Shape` output).
    pub fn ints(values: Vec<i64>) -> Val {
        Val {
            dtype: dtype::INT64,
            shape: vec![values.len() as u64],
            data: Some(Data::I(values)),
            constant: true,
        }
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The element count; `None` when it overflows 64 bits.
    pub fn numel(&self) -> Option<u64> {
        numel(&self.shape)
    }

    /// Attaches `data` when it has the shape's element count and is small enough to keep.
    pub fn with_data(mut self, data: Option<Data>) -> Val {
        self.data = match data {
            Some(d) if self.numel() == Some(d.len() as u64) && (d.len() as u64) <= FOLD_MAX => Some(d),
            _ => None,
        };
        self
    }
}

/// The product of `shape`, checked.
pub fn numel(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

/// Row-major strides of `shape` (in elements).
pub fn strides(shape: &[u64]) -> Vec<u64> {
    let mut strides = vec![1u64; shape.len()];
    for axis in (0..shape.len().saturating_sub(1)).rev() {
        strides[axis] = strides[axis + 1].saturating_mul(shape[axis + 1]);
    }
    strides
}

/// For every element of a tensor of shape `out` (row-major, at most [`FOLD_MAX`] of them), the flat index that
/// `source` gives for its multi-index.
pub fn index_map(out: &[u64], mut source: impl FnMut(&[u64]) -> usize) -> Vec<usize> {
    let total = numel(out).unwrap_or(0);
    let mut indices = Vec::with_capacity(total as usize);
    if total == 0 {
        return indices;
    }
    let mut position = vec![0u64; out.len()];
    loop {
        indices.push(source(&position));
        let mut axis = out.len();
        loop {
            if axis == 0 {
                return indices;
            }
            axis -= 1;
            position[axis] += 1;
            if position[axis] < out[axis] {
                break;
            }
            position[axis] = 0;
        }
    }
}

/// Numpy-style multidirectional broadcasting of two shapes.
pub fn broadcast(a: &[u64], b: &[u64]) -> Result<Vec<u64>, String> {
    let rank = a.len().max(b.len());
    let mut out = vec![0u64; rank];
    for (i, slot) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        *slot = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(format!("shapes {a:?} and {b:?} do not broadcast"));
        };
    }
    Ok(out)
}

/// The flat index in a tensor of shape `input` broadcast to `out`, for each element of `out`.
pub fn broadcast_map(input: &[u64], out: &[u64]) -> Vec<usize> {
    let offset = out.len() - input.len();
    let in_strides = strides(input);
    index_map(out, |position| {
        let mut flat = 0u64;
        for (axis, &dim) in input.iter().enumerate() {
            let p = if dim == 1 { 0 } else { position[axis + offset] };
            flat += p * in_strides[axis];
        }
        flat as usize
    })
}

/// The value an initializer or a `Constant` tensor gives: its dims checked against its data.
pub fn tensor_value(tensor: &Tensor) -> Result<Val, String> {
    if tensor.dims.len() > MAX_RANK {
        return Err(format!("has {} dimensions, at most {MAX_RANK}", tensor.dims.len()));
    }
    let mut shape = Vec::with_capacity(tensor.dims.len());
    for &dim in &tensor.dims {
        shape.push(u64::try_from(dim).map_err(|_| format!("has a negative dimension {dim} (dims {:?})", tensor.dims))?);
    }
    let count = numel(&shape).ok_or_else(|| format!("dims {:?} overflow 64 bits", tensor.dims))?;
    let dtype = tensor.data_type;
    let claims = || format!("claims {count} elements (dims {:?})", tensor.dims);
    if !tensor.external {
        if let Some(raw) = tensor.raw_len {
            let bits = dtype::bits(dtype).ok_or_else(|| format!("has raw data of unknown data type {dtype}"))?;
            let expected = count
                .checked_mul(bits)
                .map(|b| b.div_ceil(8))
                .ok_or_else(|| format!("{} overflowing 64 bits of data", claims()))?;
            if raw != expected {
                return Err(format!(
                    "{} of {bits}-bit type {dtype}, which needs {expected} bytes, but holds {raw}",
                    claims()
                ));
            }
        } else if tensor.typed_len > 0 || tensor.strings > 0 {
            let expected = match dtype {
                dtype::COMPLEX64 | dtype::COMPLEX128 => count.saturating_mul(2),
                21..=23 => count.div_ceil(2),
                _ => count,
            };
            let held = tensor.typed_len.max(tensor.strings);
            if held != expected {
                return Err(format!("{} but holds {held} values", claims()));
            }
        } else if count > 0 {
            return Err(format!("{} but holds no data", claims()));
        }
    }
    let data = if count <= FOLD_MAX { decode(tensor) } else { None };
    Ok(Val {
        dtype,
        shape,
        data,
        constant: true,
    }
    .with_data_checked())
}

impl Val {
    fn with_data_checked(self) -> Val {
        let data = self.data.clone();
        self.with_data(data)
    }
}

fn half_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let mantissa = f64::from(bits & 0x3ff);
    match exponent {
        0 => sign * mantissa * 2f64.powi(-24),
        31 => {
            if mantissa == 0.0 {
                sign * f64::INFINITY
            } else {
                f64::NAN
            }
        }
        _ => sign * (1.0 + mantissa / 1024.0) * 2f64.powi(exponent - 15),
    }
}

/// The tensor's elements, when kept by the reader and of a type folding handles.
fn decode(tensor: &Tensor) -> Option<Data> {
    use dtype::*;
    let dtype = tensor.data_type;
    if let Some(raw) = &tensor.raw {
        let chunks = |width: usize| raw.chunks_exact(width);
        return Some(match dtype {
            FLOAT => Data::F(
                chunks(4)
                    .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
            ),
            DOUBLE => Data::F(
                chunks(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
            FLOAT16 => Data::F(
                chunks(2)
                    .map(|c| half_to_f64(u16::from_le_bytes([c[0], c[1]])))
                    .collect(),
            ),
            BFLOAT16 => Data::F(
                chunks(2)
                    .map(|c| f64::from(f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16)))
                    .collect(),
            ),
            INT64 | UINT64 => Data::I(
                chunks(8)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
            INT32 => Data::I(
                chunks(4)
                    .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
            ),
            UINT32 => Data::I(
                chunks(4)
                    .map(|c| i64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
            ),
            INT16 => Data::I(chunks(2).map(|c| i64::from(i16::from_le_bytes([c[0], c[1]]))).collect()),
            UINT16 => Data::I(chunks(2).map(|c| i64::from(u16::from_le_bytes([c[0], c[1]]))).collect()),
            INT8 => Data::I(raw.iter().map(|&b| i64::from(b as i8)).collect()),
            UINT8 | BOOL => Data::I(raw.iter().map(|&b| i64::from(b)).collect()),
            _ => return None,
        });
    }
    match (&tensor.typed, dtype) {
        (Some(TypedData::Float(values)), FLOAT | DOUBLE) => Some(Data::F(values.clone())),
        (Some(TypedData::Int(values)), FLOAT16) => {
            Some(Data::F(values.iter().map(|&v| half_to_f64(v as u16)).collect()))
        }
        (Some(TypedData::Int(values)), BFLOAT16) => Some(Data::F(
            values
                .iter()
                .map(|&v| f64::from(f32::from_bits(u32::from(v as u16) << 16)))
                .collect(),
        )),
        (Some(TypedData::Int(values)), d) if is_integer(d) => Some(Data::I(values.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast(&[2, 1, 4], &[3, 1]).unwrap(), vec![2, 3, 4]);
        assert!(broadcast(&[2, 3], &[4]).is_err());
        assert_eq!(broadcast_map(&[1, 2], &[2, 2]), vec![0, 1, 0, 1]);
        assert_eq!(broadcast_map(&[2, 1], &[2, 2]), vec![0, 0, 1, 1]);
    }

    #[test]
    fn halves() {
        assert_eq!(half_to_f64(0x3c00), 1.0);
        assert_eq!(half_to_f64(0x4000), 2.0);
        assert_eq!(half_to_f64(0xc000), -2.0);
        assert_eq!(half_to_f64(0x3800), 0.5);
    }

    #[test]
    fn tensors_must_hold_what_they_claim() {
        let mut t = Tensor {
            name: "w".into(),
            dims: vec![1000, 1000, 1000],
            data_type: dtype::FLOAT,
            raw_len: Some(4),
            ..Tensor::default()
        };
        let error = tensor_value(&t).unwrap_err();
        assert!(
            error.contains("1000000000 elements") && error.contains("holds 4"),
            "{error}"
        );
        t.raw_len = None;
        assert!(tensor_value(&t).unwrap_err().contains("holds no data"));
        t.external = true;
        assert_eq!(tensor_value(&t).unwrap().shape, vec![1000, 1000, 1000]);
        t.dims = vec![-1];
        assert!(tensor_value(&t).unwrap_err().contains("negative"));
        let ints = Tensor {
            dims: vec![2],
            data_type: dtype::INT64,
            raw_len: Some(16),
            raw: Some([3i64, -1].iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Tensor::default()
        };
        assert_eq!(tensor_value(&ints).unwrap().data, Some(Data::I(vec![3, -1])));
    }
}
