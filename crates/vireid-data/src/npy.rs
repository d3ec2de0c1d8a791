//! Reading `.npy` files without trusting their headers.
//!
//! A `.npy` header states the array's shape, and a reader allocates that much before it reads
//! the data: a damaged or hostile header claiming `(10**15,)` elements aborts the process on
//! the allocation. Every `.npy` vireid reads goes through [`open`], which compares what the
//! header promises with what the file holds before anything is allocated.

use crate::error::{DataError, Result};
use ndarray::{ArrayBase, DataOwned, Dimension};
use ndarray_npy::npy::header::Header;
use ndarray_npy::{ReadNpyError, ReadNpyExt, ReadableElement};
use py_literal::Value as PyValue;
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::Path;

/// What a `.npy` header says, once checked against the file's length.
#[derive(Debug, Clone)]
pub struct NpyInfo {
    /// numpy's type string, e.g. `<f4`, `|u1`.
    pub dtype: String,
    pub shape: Vec<usize>,
}

fn bad(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Cache {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Bytes of one element of a dtype string (`<f8` -> 8, `<U3` -> 12); None where numpy's
/// string does not say (objects, structured arrays: arrays vireid never reads, whose
/// descriptor is refused before anything is allocated).
fn item_size(dtype: &str) -> Option<u64> {
    let body = dtype.trim_start_matches(['<', '>', '|', '=']);
    let kind = body.chars().next()?;
    let n: u64 = body.get(1..)?.parse().ok()?;
    match kind {
        'b' | 'i' | 'u' | 'f' | 'c' | 'S' | 'a' | 'V' => Some(n),
        'U' => n.checked_mul(4),
        _ => None,
    }
}

/// Opens `path`, reads its header and checks that the data the header describes is exactly
/// what follows it in the file. The file is returned positioned at the start.
pub fn open(path: &Path) -> Result<(NpyInfo, File)> {
    let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    // The dictionary's length field is read (and allocated) before the dictionary: a damaged
    // one is caught here, against the file's length.
    let header_len = header_length(&mut file, path)?;
    if header_len > file_len {
        return Err(bad(
            path,
            format!(
                "the header claims to be {header_len} bytes long in a file of {file_len} \
                 (damaged or truncated file)"
            ),
        ));
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| DataError::io(path, e))?;
    let header = Header::from_reader(&mut BufReader::new(&mut file))
        .map_err(|e| bad(path, format!("not a .npy file: {e}")))?;
    let info = NpyInfo {
        dtype: match &header.type_descriptor {
            PyValue::String(s) => s.clone(),
            other => other.to_string(),
        },
        shape: header.shape.clone(),
    };
    if let Some(size) = item_size(&info.dtype) {
        let promised = info
            .shape
            .iter()
            .try_fold(size, |acc, &d| acc.checked_mul(d as u64));
        let held = file_len.saturating_sub(header_len);
        match promised {
            Some(p) if p == held => {}
            Some(p) => {
                return Err(bad(
                    path,
                    format!(
                        "the header promises a {:?} {} array ({p} bytes of data) but the file \
                         holds {held} bytes after it (damaged or truncated file)",
                        info.shape, info.dtype
                    ),
                ))
            }
            None => {
                return Err(bad(
                    path,
                    format!(
                        "the header's shape {:?} is too large to be real (damaged file)",
                        info.shape
                    ),
                ))
            }
        }
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| DataError::io(path, e))?;
    Ok((info, file))
}

/// The length of the magic string, version, length field and header dictionary.
fn header_length(file: &mut File, path: &Path) -> Result<u64> {
    use std::io::Read;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| DataError::io(path, e))?;
    let mut prelude = [0u8; 12];
    file.read_exact(&mut prelude)
        .map_err(|e| bad(path, format!("not a .npy file: {e}")))?;
    if &prelude[..6] != b"\x93NUMPY" {
        return Err(bad(
            path,
            "not a .npy file (it does not start with \\x93NUMPY)",
        ));
    }
    // Format 1.0 stores the dictionary's length in two bytes, 2.0 and 3.0 in four.
    Ok(match prelude[6] {
        1 => 10 + u64::from(u16::from_le_bytes([prelude[8], prelude[9]])),
        _ => {
            12 + u64::from(u32::from_le_bytes([
                prelude[8],
                prelude[9],
                prelude[10],
                prelude[11],
            ]))
        }
    })
}

/// Reads an array of element type `A`: Ok(None) when the file holds another element type
/// (so that a caller can try the next one), an error naming the file for anything else.
pub fn read<A, S, D>(path: &Path) -> Result<Option<ArrayBase<S, D>>>
where
    A: ReadableElement,
    S: DataOwned<Elem = A>,
    D: Dimension,
{
    let (info, file) = open(path)?;
    match ArrayBase::<S, D>::read_npy(BufReader::new(file)) {
        Ok(a) => Ok(Some(a)),
        Err(ReadNpyError::WrongDescriptor(_)) => Ok(None),
        Err(ReadNpyError::WrongNdim(want, _)) => Err(bad(
            path,
            format!(
                "expected a {}-D array, found shape {:?}",
                want.map_or("?".to_string(), |w| w.to_string()),
                info.shape
            ),
        )),
        Err(e) => Err(bad(path, format!("not a readable .npy array: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};
    use ndarray_npy::WriteNpyExt;

    fn header_with_shape(shape: &str, data: &[u8]) -> Vec<u8> {
        let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
        let mut text = dict.into_bytes();
        while (10 + text.len() + 1) % 64 != 0 {
            text.push(b' ');
        }
        text.push(b'\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(text.len() as u16).to_le_bytes());
        out.extend_from_slice(&text);
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn a_header_promising_more_than_the_file_holds_is_refused_before_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.npy");
        std::fs::write(&path, header_with_shape("(1000000000000000,)", &[0u8; 16])).unwrap();
        let err = read::<f64, _, ndarray::Ix1>(&path)
            .map(|a: Option<Array1<f64>>| a.map(|a| a.len()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("huge.npy") && err.contains("promises"),
            "{err}"
        );
        let path = dir.path().join("overflow.npy");
        std::fs::write(
            &path,
            header_with_shape("(4294967296, 4294967296, 4294967296)", &[]),
        )
        .unwrap();
        let err = open(&path).unwrap_err().to_string();
        assert!(err.contains("too large"), "{err}");
    }

    #[test]
    fn a_well_formed_file_reads_and_a_truncated_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.npy");
        let m = Array2::from_shape_fn((3, 5), |(i, j)| (i * 5 + j) as f32);
        let mut bytes = Vec::new();
        m.write_npy(&mut bytes).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let back: Array2<f32> = read(&path).unwrap().unwrap();
        assert_eq!(back, m);
        // Another element type is not an error: the caller tries the next.
        assert!(read::<f64, _, ndarray::Ix2>(&path)
            .map(|a: Option<Array2<f64>>| a.is_none())
            .unwrap());
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        let err = open(&path).unwrap_err().to_string();
        assert!(err.contains("m.npy") && err.contains("60 bytes"), "{err}");
    }
}
