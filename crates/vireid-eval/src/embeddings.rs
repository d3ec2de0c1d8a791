//! The embeddings file `vireid embed` writes and `vireid search` reads: one safetensors file
//! with `pool` and `bn` (N x D float32, a row an image) and, under the one metadata key
//! [`METADATA_KEY`], a JSON document (the image paths and how they were embedded). One key,
//! because the safetensors crate writes several in hash order, and the same run should give
//! the same bytes.

use crate::error::{EvalError, Result};
use ndarray::Array2;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The metadata key of the JSON document.
pub const METADATA_KEY: &str = "embedding";

/// A file's features and its document.
#[derive(Debug, Clone)]
pub struct Embeddings {
    pub pool: Array2<f32>,
    pub bn: Array2<f32>,
    pub document: serde_json::Value,
}

impl Embeddings {
    /// The image paths the document lists, a row each.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.document
            .get("paths")
            .and_then(|p| serde_json::from_value(p.clone()).ok())
            .unwrap_or_default()
    }

    /// Both features, as search takes them.
    pub fn features(&self) -> crate::search::FeaturePair<'_> {
        crate::search::FeaturePair {
            pool: self.pool.view(),
            bn: self.bn.view(),
        }
    }

    /// The document's string field `key`, if any.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.document.get(key).and_then(|v| v.as_str())
    }
}

fn le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The bytes of a file holding `pool` and `bn` (`rows x dim`, row-major) and `document`.
pub fn encode(pool: &[f32], bn: &[f32], dim: usize, document: &serde_json::Value) -> Vec<u8> {
    let rows = pool.len().checked_div(dim).unwrap_or(0);
    let metadata = HashMap::from([(METADATA_KEY.to_string(), document.to_string())]);
    let (pool, bn) = (le_bytes(pool), le_bytes(bn));
    let bn_view = TensorView::new(Dtype::F32, vec![rows, dim], &bn).expect("rows x dim");
    let pool_view = TensorView::new(Dtype::F32, vec![rows, dim], &pool).expect("rows x dim");
    safetensors::tensor::serialize([("bn", bn_view), ("pool", pool_view)], &Some(metadata))
        .expect("float32 tensors of matching shapes serialise")
}

/// Parses the bytes of an embeddings file; `Err` says what is wrong, in words.
pub fn decode(bytes: &[u8]) -> std::result::Result<Embeddings, String> {
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| format!("not a safetensors file ({e:?})"))?;
    let text = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY))
        .ok_or("no \"embedding\" document in the metadata: not written by vireid embed")?;
    let document: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("the embedding document: {e}"))?;
    let tensors =
        SafeTensors::deserialize(bytes).map_err(|e| format!("damaged safetensors ({e:?})"))?;
    let matrix = |name: &str| -> std::result::Result<Array2<f32>, String> {
        let t = tensors
            .tensor(name)
            .map_err(|_| format!("no tensor {name:?}"))?;
        match (t.dtype(), t.shape()) {
            (Dtype::F32, &[rows, dim]) => {
                let values = t
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                Array2::from_shape_vec((rows, dim), values).map_err(|e| e.to_string())
            }
            (dtype, shape) => Err(format!(
                "{name}: expected a float32 matrix, found {dtype:?} {shape:?}"
            )),
        }
    };
    let (pool, bn) = (matrix("pool")?, matrix("bn")?);
    if pool.dim() != bn.dim() {
        return Err(format!("pool is {:?} but bn is {:?}", pool.dim(), bn.dim()));
    }
    Ok(Embeddings { pool, bn, document })
}

/// Reads the embeddings file at `path`; every problem names it.
pub fn read(path: &Path) -> Result<Embeddings> {
    let bad = |why: String| EvalError::File {
        path: path.to_path_buf(),
        why,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let e = decode(&bytes).map_err(bad)?;
    if e.paths().len() != e.pool.nrows() {
        return Err(bad(format!(
            "{} rows but {} paths",
            e.pool.nrows(),
            e.paths().len()
        )));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_the_same_bytes_each_time() {
        let doc = serde_json::json!({"paths": ["a.jpg", "b.jpg"], "flip": true, "width": 3});
        let pool = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let bn = [0.5f32, -1.0, 0.0, 1.5, 2.5, -3.5];
        let bytes = encode(&pool, &bn, 3, &doc);
        assert_eq!(bytes, encode(&pool, &bn, 3, &doc));
        let e = decode(&bytes).unwrap();
        assert_eq!(e.pool.as_slice().unwrap(), &pool);
        assert_eq!(e.bn.as_slice().unwrap(), &bn);
        assert_eq!(e.document, doc);
        assert_eq!(e.paths(), [PathBuf::from("a.jpg"), PathBuf::from("b.jpg")]);
    }

    #[test]
    fn foreign_and_damaged_files_are_refused() {
        assert!(decode(b"not safetensors").is_err());
        let bytes = encode(&[1.0], &[1.0], 1, &serde_json::json!({"paths": ["a"]}));
        assert!(decode(&bytes[..bytes.len() - 2]).is_err());
    }
}
