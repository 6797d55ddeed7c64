//! Reading and writing f32 tensors in NumPy's .npy format, with errors that say what is wrong with the file rather
//! than failing later.
//!
//! Reading is [`parse`], a small parser of the format's header written for untrusted bytes: the header length is
//! checked against the file before anything is allocated, the shape's element count is checked arithmetic and must
//! match the data that follows, and the header's Python literal is parsed with a depth limit. (It is fuzzed: see
//! `fuzz/fuzz_targets/npy.rs`.) Writing goes through npyz.

use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum NpyError {
    /// The cause is the error's source: `{:#}` (anyhow) prints it after the path.
    #[error("cannot read or write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
    #[error("{path}: axis {axis} of shape {shape:?} is larger than convflops supports (each must fit in 32 bits)")]
    TooLarge {
        path: PathBuf,
        axis: String,
        shape: Vec<u64>,
    },
    #[error("{path}: axis {axis} of shape {shape:?} is 0: the tensor is empty; every axis needs at least 1")]
    EmptyAxis {
        path: PathBuf,
        axis: String,
        shape: Vec<u64>,
    },
    #[error("{path}: not a valid .npy file: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: the shape {shape:?} needs {expected} bytes of data, the file has {got}")]
    DataLength {
        path: PathBuf,
        shape: Vec<u64>,
        expected: u64,
        got: u64,
    },
}

/// A dense f32 tensor in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<u32>,
    pub data: Vec<f32>,
}

/// Reads an f32, C-ordered .npy file of rank `rank` (`layout` names the axes for error messages); see [`parse`].
pub fn read(path: &Path, rank: usize, layout: &'static str) -> Result<Tensor, NpyError> {
    let bytes = std::fs::read(path).map_err(|source| NpyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes, path, rank, layout)
}

/// The header of a .npy file: what its dictionary says and where the data begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The `descr` value as written (`'<f4'` for little-endian f32).
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
    /// Offset of the first data byte.
    pub data_offset: usize,
}

/// Parses the bytes of an f32, C-ordered .npy file of rank `rank`; `path` only names the file in errors.
pub fn parse(bytes: &[u8], path: &Path, rank: usize, layout: &'static str) -> Result<Tensor, NpyError> {
    let header = parse_header(bytes).map_err(|reason| NpyError::Format {
        path: path.to_path_buf(),
        reason,
    })?;
    if header.descr != "<f4" {
        return Err(NpyError::Dtype {
            path: path.to_path_buf(),
            dtype: header.descr,
        });
    }
    if header.fortran_order && header.shape.iter().filter(|&&d| d > 1).count() > 1 {
        return Err(NpyError::FortranOrder {
            path: path.to_path_buf(),
        });
    }
    if header.shape.len() != rank {
        return Err(NpyError::Rank {
            path: path.to_path_buf(),
            expected: rank,
            layout,
            shape: header.shape,
        });
    }
    // The axis names of `layout` ("[N, C_in, H, W]" → N, C_in, H, W), for errors about one axis.
    let axis_name = |index: usize| {
        let name = layout.trim_matches(['[', ']']).split(',').nth(index).map(str::trim);
        format!("{index} ({})", name.unwrap_or("?"))
    };
    if let Some(index) = header.shape.iter().position(|&d| d == 0) {
        return Err(NpyError::EmptyAxis {
            path: path.to_path_buf(),
            axis: axis_name(index),
            shape: header.shape,
        });
    }
    if let Some(index) = header.shape.iter().position(|&d| u32::try_from(d).is_err()) {
        return Err(NpyError::TooLarge {
            path: path.to_path_buf(),
            axis: axis_name(index),
            shape: header.shape,
        });
    }
    let shape: Vec<u32> = header.shape.iter().map(|&d| d as u32).collect();
    let data = bytes.get(header.data_offset..).unwrap_or_default();
    let expected = header
        .shape
        .iter()
        .try_fold(4u64, |acc, &d| acc.checked_mul(d))
        .unwrap_or(u64::MAX);
    if data.len() as u64 != expected {
        return Err(NpyError::DataLength {
            path: path.to_path_buf(),
            shape: header.shape,
            expected,
            got: data.len() as u64,
        });
    }
    let data = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Tensor { shape, data })
}

/// Parses the magic string, version, header length and header dictionary of a .npy file (versions 1.0, 2.0, 3.0).
/// The error says what is wrong, in words.
pub fn parse_header(bytes: &[u8]) -> Result<Header, String> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if !bytes.starts_with(MAGIC) {
        return Err("it does not begin with the .npy magic string \\x93NUMPY".into());
    }
    let (major, minor) = match bytes.get(6..8) {
        Some(&[major, minor]) => (major, minor),
        _ => return Err("the file ends inside the version number".into()),
    };
    let (length, start) = match major {
        1 => match bytes.get(8..10) {
            Some(&[a, b]) => (usize::from(u16::from_le_bytes([a, b])), 10usize),
            _ => return Err("the file ends inside the header length".into()),
        },
        2 | 3 => match bytes.get(8..12) {
            Some(&[a, b, c, d]) => (u32::from_le_bytes([a, b, c, d]) as usize, 12),
            _ => return Err("the file ends inside the header length".into()),
        },
        _ => {
            return Err(format!(
                "format version {major}.{minor} is not one convflops reads (1.0, 2.0, 3.0)"
            ))
        }
    };
    let end = start
        .checked_add(length)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| format!("the header claims {length} bytes, the file has {}", bytes.len() - start))?;
    let raw = &bytes[start..end];
    let text: String = if major == 3 {
        std::str::from_utf8(raw)
            .map_err(|_| "the header is not UTF-8".to_string())?
            .to_string()
    } else {
        // Versions 1 and 2 are latin-1.
        raw.iter().map(|&b| char::from(b)).collect()
    };
    let mut parser = Literal::parser(&text);
    let dict = parser.value(0)?;
    parser.skip_space();
    if !parser.rest().is_empty() {
        return Err(format!(
            "unexpected text after the header dictionary: {:?}",
            clip(parser.rest())
        ));
    }
    let Literal::Dict(entries) = dict else {
        return Err("the header is not a dictionary".into());
    };
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    for (key, value) in entries {
        let Literal::Str(key) = key else {
            return Err("a header key is not a string".into());
        };
        match (key.as_str(), value) {
            ("descr", Literal::Str(text)) => descr = Some(text),
            ("descr", other) => descr = Some(other.to_string()),
            ("fortran_order", Literal::Bool(b)) => fortran_order = Some(b),
            ("fortran_order", _) => return Err("'fortran_order' is not True or False".into()),
            ("shape", Literal::Tuple(items)) => {
                let dims = items
                    .into_iter()
                    .map(|item| match item {
                        Literal::Int(n) => Ok(n),
                        _ => Err("'shape' holds something other than a whole number".to_string()),
                    })
                    .collect::<Result<Vec<u64>, String>>()?;
                shape = Some(dims);
            }
            ("shape", _) => return Err("'shape' is not a tuple".into()),
            (other, _) => return Err(format!("unexpected header key {other:?}")),
        }
    }
    Ok(Header {
        descr: descr.ok_or("the header has no 'descr'")?,
        fortran_order: fortran_order.ok_or("the header has no 'fortran_order'")?,
        shape: shape.ok_or("the header has no 'shape'")?,
        data_offset: end,
    })
}

/// At most 40 characters of `text`, for error messages.
fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

/// The Python literals a .npy header may hold.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    Int(u64),
    Bool(bool),
    None,
    Tuple(Vec<Literal>),
    List(Vec<Literal>),
    Dict(Vec<(Literal, Literal)>),
}

impl std::fmt::Display for Literal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let join = |f: &mut std::fmt::Formatter<'_>, items: &[Literal]| {
            items.iter().enumerate().try_for_each(|(i, item)| {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{item}")
            })
        };
        match self {
            Literal::Str(s) => write!(f, "'{s}'"),
            Literal::Int(n) => write!(f, "{n}"),
            Literal::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Literal::None => f.write_str("None"),
            Literal::Tuple(items) => {
                f.write_str("(")?;
                join(f, items)?;
                f.write_str(if items.len() == 1 { ",)" } else { ")" })
            }
            Literal::List(items) => {
                f.write_str("[")?;
                join(f, items)?;
                f.write_str("]")
            }
            Literal::Dict(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// A recursive-descent parser of Python literals over a string, with a nesting limit.
struct LiteralParser<'a> {
    text: &'a str,
    at: usize,
}

/// Deeper nesting than any real header has (a structured dtype nests a few levels).
const MAX_DEPTH: usize = 32;

impl Literal {
    fn parser(text: &str) -> LiteralParser<'_> {
        LiteralParser { text, at: 0 }
    }
}

impl LiteralParser<'_> {
    fn rest(&self) -> &str {
        self.text.get(self.at..).unwrap_or_default()
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Literal, String> {
        if depth > MAX_DEPTH {
            return Err(format!("the header nests deeper than {MAX_DEPTH} levels"));
        }
        self.skip_space();
        match self.peek() {
            Some('{') => {
                self.at += 1;
                let entries = self.sequence('}', depth, |p, depth| {
                    let key = p.value(depth + 1)?;
                    p.skip_space();
                    if !p.eat(':') {
                        return Err(format!("expected ':' in the header at {:?}", clip(p.rest())));
                    }
                    Ok((key, p.value(depth + 1)?))
                })?;
                Ok(Literal::Dict(entries.0))
            }
            Some('(') => {
                self.at += 1;
                let (items, trailing_comma) = self.sequence(')', depth, |p, depth| p.value(depth + 1))?;
                // `(x)` is x in Python; `(x,)` a 1-tuple.
                if items.len() == 1 && !trailing_comma {
                    Ok(items.into_iter().next().unwrap_or(Literal::None))
                } else {
                    Ok(Literal::Tuple(items))
                }
            }
            Some('[') => {
                self.at += 1;
                Ok(Literal::List(
                    self.sequence(']', depth, |p, depth| p.value(depth + 1))?.0,
                ))
            }
            Some(quote @ ('\'' | '"')) => {
                self.at += 1;
                let mut out = String::new();
                let mut chars = self.rest().char_indices();
                while let Some((i, c)) = chars.next() {
                    match c {
                        c if c == quote => {
                            self.at += i + 1;
                            return Ok(Literal::Str(out));
                        }
                        '\\' => match chars.next() {
                            Some((_, escaped)) => out.push(escaped),
                            None => break,
                        },
                        c => out.push(c),
                    }
                }
                Err("a string in the header is not closed".into())
            }
            Some(c) if c.is_ascii_digit() => {
                let rest = self.rest();
                let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
                let number = rest[..digits].parse::<u64>().map_err(|_| {
                    format!(
                        "the number {} in the header does not fit in 64 bits",
                        clip(&rest[..digits])
                    )
                })?;
                self.at += digits;
                // Python 2 wrote long integers as `3L`.
                self.eat('L');
                Ok(Literal::Int(number))
            }
            Some(_) => {
                let rest = self.rest();
                let word = rest
                    .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                    .unwrap_or(rest.len());
                let literal = match &rest[..word] {
                    "True" => Literal::Bool(true),
                    "False" => Literal::Bool(false),
                    "None" => Literal::None,
                    _ => return Err(format!("unexpected text in the header: {:?}", clip(rest))),
                };
                self.at += word;
                Ok(literal)
            }
            None => Err("the header ends too early".into()),
        }
    }

    /// Comma-separated items up to `close` (a trailing comma allowed); also says whether there was one.
    fn sequence<T>(
        &mut self,
        close: char,
        depth: usize,
        mut item: impl FnMut(&mut Self, usize) -> Result<T, String>,
    ) -> Result<(Vec<T>, bool), String> {
        let mut items = Vec::new();
        loop {
            self.skip_space();
            if self.eat(close) {
                return Ok((items, false));
            }
            items.push(item(self, depth)?);
            self.skip_space();
            if self.eat(',') {
                self.skip_space();
                if self.eat(close) {
                    return Ok((items, true));
                }
            } else if self.eat(close) {
                return Ok((items, false));
            } else {
                return Err(format!(
                    "expected ',' or '{close}' in the header at {:?}",
                    clip(self.rest())
                ));
            }
        }
    }
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
    fn an_empty_axis_is_named_with_the_file() {
        let bytes = encode(&[0, 3, 4, 4], &[]).unwrap();
        let error = parse(&bytes, Path::new("x.npy"), 4, "[N, C_in, H, W]")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("x.npy: axis 0 (N)") && error.contains("is 0"),
            "{error}"
        );
        assert!(!error.contains("--batch"), "{error}");
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
        assert!(matches!(read(&path, 1, "[C]"), Err(NpyError::Format { .. })));
        assert!(matches!(
            read(&dir.path().join("missing.npy"), 1, "[C]"),
            Err(NpyError::Io { .. })
        ));
    }

    /// A version-1 file with the header dictionary `dict` and `data` after it.
    fn file(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let text = format!("{dict}\n");
        bytes.extend((text.len() as u16).to_le_bytes());
        bytes.extend(text.as_bytes());
        bytes.extend(data);
        bytes
    }

    fn parse_error(bytes: &[u8]) -> String {
        parse(bytes, Path::new("t.npy"), 2, "[A, B]").unwrap_err().to_string()
    }

    #[test]
    fn parses_what_numpy_writes_and_names_what_is_wrong() {
        let ok = file(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }",
            &[0, 0, 128, 63, 0, 0, 0, 64],
        );
        let tensor = parse(&ok, Path::new("t.npy"), 2, "[A, B]").unwrap();
        assert_eq!((tensor.shape, tensor.data), (vec![1, 2], vec![1.0, 2.0]));
        // Key order, double quotes, Python 2 longs and a version-2 header are fine too.
        let v2 = {
            let text = "{\"shape\": (2L, 1L), \"fortran_order\": False, \"descr\": \"<f4\"}\n";
            let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
            bytes.extend((text.len() as u32).to_le_bytes());
            bytes.extend(text.as_bytes());
            bytes.extend([0u8; 8]);
            bytes
        };
        assert_eq!(parse(&v2, Path::new("t.npy"), 2, "[A, B]").unwrap().shape, vec![2, 1]);

        let f64s = file("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }", &[0; 8]);
        assert!(parse_error(&f64s).contains("dtype is <f8"));
        let structured = file(
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 1), }",
            &[0; 4],
        );
        assert!(parse_error(&structured).contains("dtype is [('a', '<f4')]"));
        let short = file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", &[0; 12]);
        assert!(
            parse_error(&short).contains("needs 16 bytes of data, the file has 12"),
            "{}",
            parse_error(&short)
        );
        let huge = file(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
            &[],
        );
        assert!(parse_error(&huge).contains("larger than convflops supports"));
        let product = file(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967295, 4294967295), }",
            &[],
        );
        assert!(
            parse_error(&product).contains("needs 18446744073709551615 bytes"),
            "{}",
            parse_error(&product)
        );
        let overflow = file(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 1), }",
            &[],
        );
        assert!(parse_error(&overflow).contains("does not fit in 64 bits"));

        let mut claims_more = file("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }", &[]);
        claims_more[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(parse_error(&claims_more).contains("the header claims 65535 bytes"));
        let mut v9 = ok.clone();
        v9[6] = 9;
        assert!(parse_error(&v9).contains("format version 9.0"));
        assert!(parse_error(b"\x93NUMPY").contains("ends inside the version"));
        assert!(parse_error(b"\x93NUMPY\x01\x00\x05").contains("ends inside the header length"));
        let deep = file(&format!("{}1{}", "(".repeat(100), ")".repeat(100)), &[]);
        assert!(parse_error(&deep).contains("nests deeper"));
        for bad in [
            "{'descr': '<f4', 'fortran_order': False}",
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (1, 1)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, -1)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': [1, 1]}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), 'extra': 1}",
            "{'descr': '<f4 ",
            "{'descr' '<f4'}",
            "[1, 2]",
            "{1: 2}",
            "{} trailing",
            "",
        ] {
            let message = parse_error(&file(bad, &[0; 4]));
            assert!(
                message.starts_with("t.npy: not a valid .npy file: "),
                "{bad}: {message}"
            );
        }
    }
}
