//! Reading and writing f32 tensors in NumPy's .npy format (through npyz), with errors that say what is wrong with
//! the file rather than failing later.

use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum NpyError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: dtype is {dtype}, convflops needs float32 ('<f4'); convert with x.astype(np.float32)")]
    Dtype { path: PathBuf, dtype: String },
    #[error("{path}: the array is in Fortran order; save a C-ordered copy (np.ascontiguousarray)")]
    FortranOrder { path: PathBuf },
    #[error("{path}: expected {expected} dimensions ({layout}), got shape {shape:?}")]
    Rank {
        path: PathBuf,
        expected: usize,
        layout: &'static str,
        shape: Vec<u64>,
    },
    #[error("{path}: dimension {shape:?} is larger than convflops supports (each dimension must fit in 32 bits)")]
    TooLarge { path: PathBuf, shape: Vec<u64> },
}

/// A dense f32 tensor in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<u32>,
    pub data: Vec<f32>,
}

/// Reads an f32, C-ordered .npy file of rank `rank` (`layout` names the axes for error messages).
pub fn read(path: &Path, rank: usize, layout: &'static str) -> Result<Tensor, NpyError> {
    let io = |source| NpyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let file = npyz::NpyFile::new(&bytes[..]).map_err(io)?;
    let dtype = file.dtype();
    let is_f32 = matches!(&dtype, npyz::DType::Plain(ts) if ts.to_string() == "<f4");
    if !is_f32 {
        return Err(NpyError::Dtype {
            path: path.to_path_buf(),
            dtype: dtype.descr(),
        });
    }
    if file.order() == npyz::Order::Fortran && file.shape().iter().filter(|&&d| d > 1).count() > 1 {
        return Err(NpyError::FortranOrder {
            path: path.to_path_buf(),
        });
    }
    let shape64 = file.shape().to_vec();
    if shape64.len() != rank {
        return Err(NpyError::Rank {
            path: path.to_path_buf(),
            expected: rank,
            layout,
            shape: shape64,
        });
    }
    let shape: Vec<u32> = shape64
        .iter()
        .map(|&d| u32::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| NpyError::TooLarge {
            path: path.to_path_buf(),
            shape: shape64.clone(),
        })?;
    let data = file.into_vec::<f32>().map_err(io)?;
    Ok(Tensor { shape, data })
}

/// Encodes an f32 tensor as .npy bytes (C order).
pub fn encode(shape: &[u32], data: &[f32]) -> std::io::Result<Vec<u8>> {
    let shape: Vec<u64> = shape.iter().map(|&d| u64::from(d)).collect();
    let mut bytes = Vec::new();
    {
        use npyz::WriterBuilder;
        let mut writer = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut bytes)
            .begin_nd()?;
        writer.extend(data.iter().copied())?;
        writer.finish()?;
    }
    Ok(bytes)
}

/// Writes an f32 tensor to `path` atomically.
pub fn write(path: &Path, shape: &[u32], data: &[f32]) -> Result<(), NpyError> {
    let io = |source| NpyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = encode(shape, data).map_err(io)?;
    crate::export::write_atomically(path, &bytes).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5).collect();
        write(&path, &[1, 2, 3, 4], &data).unwrap();
        let back = read(&path, 4, "[N, C, H, W]").unwrap();
        assert_eq!(back.shape, vec![1, 2, 3, 4]);
        assert_eq!(back.data, data);
        let rank = read(&path, 1, "[C_out]").unwrap_err();
        assert!(rank.to_string().contains("expected 1 dimensions"), "{rank}");
    }

    #[test]
    fn rejects_f64_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.npy");
        let mut bytes = Vec::new();
        {
            use npyz::WriterBuilder;
            let mut w = npyz::WriteOptions::<f64>::new()
                .default_dtype()
                .shape(&[2])
                .writer(&mut bytes)
                .begin_nd()
                .unwrap();
            w.extend([1.0, 2.0]).unwrap();
            w.finish().unwrap();
        }
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(read(&path, 1, "[C]"), Err(NpyError::Dtype { .. })));
        std::fs::write(&path, b"not a numpy file").unwrap();
        assert!(matches!(read(&path, 1, "[C]"), Err(NpyError::Io { .. })));
    }
}
