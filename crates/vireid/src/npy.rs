//! Reading .npy inputs whatever their numeric type, with errors that name the file.

use anyhow::{bail, Context, Result};
use ndarray::{Array2, ArrayD};
use ndarray_npy::ReadableElement;
use std::path::Path;

fn try_read<T: ReadableElement>(path: &Path) -> Result<Option<ArrayD<T>>> {
    Ok(vireid_data::npy::read(path)?)
}

/// Integer labels of any integer width (and integral floats), as a flat vector; a 1-D array
/// or an N x 1 / 1 x N one.
pub fn read_labels(path: &Path, what: &str) -> Result<Vec<i64>> {
    macro_rules! attempt {
        ($($t:ty),*) => {$(
            if let Some(a) = try_read::<$t>(path)? {
                return flat(path, what, a.iter().map(|&v| v as i64).collect(), a.shape());
            }
        )*};
    }
    attempt!(i64, i32, i16, i8, u64, u32, u16, u8);
    // Labels saved from float arrays are accepted when every value is a whole number.
    let floats = match try_read::<f64>(path)? {
        Some(a) => Some((a.iter().copied().collect::<Vec<f64>>(), a.shape().to_vec())),
        None => try_read::<f32>(path)?.map(|a| {
            (
                a.iter().map(|&v| f64::from(v)).collect(),
                a.shape().to_vec(),
            )
        }),
    };
    if let Some((values, shape)) = floats {
        if let Some(v) = values.iter().find(|v| v.fract() != 0.0 || !v.is_finite()) {
            bail!("{}: {what} must be integers, found {v}", path.display());
        }
        return flat(
            path,
            what,
            values.into_iter().map(|v| v as i64).collect(),
            &shape,
        );
    }
    bail!(
        "{}: {what} must be an integer array (int8..int64, uint8..uint64)",
        path.display()
    )
}

fn flat(path: &Path, what: &str, v: Vec<i64>, shape: &[usize]) -> Result<Vec<i64>> {
    let vector = shape.len() == 1 || (shape.len() == 2 && (shape[0] == 1 || shape[1] == 1));
    if !vector {
        bail!(
            "{}: {what} must be a vector, found shape {shape:?}",
            path.display()
        );
    }
    Ok(v)
}

/// A float32 or float64 matrix.
pub enum Matrix {
    F32(Array2<f32>),
    F64(Array2<f64>),
}

impl Matrix {
    pub fn into_f32(self) -> Array2<f32> {
        match self {
            Matrix::F32(a) => a,
            Matrix::F64(a) => a.mapv(|v| v as f32),
        }
    }
}

pub fn read_matrix(path: &Path, what: &str) -> Result<Matrix> {
    let two_d = |shape: &[usize]| -> Result<()> {
        match shape {
            [_, _] => Ok(()),
            _ => bail!(
                "{}: {what} must be 2-D, found shape {shape:?}",
                path.display()
            ),
        }
    };
    if let Some(a) = try_read::<f32>(path)? {
        two_d(a.shape())?;
        return Ok(Matrix::F32(a.into_dimensionality()?));
    }
    if let Some(a) = try_read::<f64>(path)? {
        two_d(a.shape())?;
        return Ok(Matrix::F64(a.into_dimensionality()?));
    }
    bail!(
        "{}: {what} must be a float32 or float64 array",
        path.display()
    )
}

/// A float32 or float64 N x C x H x W batch, as float32 in standard order.
pub fn read_matrix4(path: &Path) -> Result<ndarray::Array4<f32>> {
    let array: ArrayD<f32> = match try_read::<f32>(path)? {
        Some(a) => a,
        None => match try_read::<f64>(path)? {
            Some(a) => a.mapv(|v| v as f32),
            None => bail!("{}: expected a float32 or float64 array", path.display()),
        },
    };
    let shape = array.shape().to_vec();
    match shape.as_slice() {
        [n, 3, h, w] if *n > 0 && *h > 0 && *w > 0 => {}
        _ => bail!(
            "{}: expected an N x 3 x H x W image batch, found shape {shape:?}",
            path.display()
        ),
    }
    Ok(array
        .into_dimensionality::<ndarray::Ix4>()?
        .as_standard_layout()
        .into_owned())
}

/// Writes an array as .npy through a temporary file and a rename, so a reader never sees a
/// half-written file.
pub fn write_atomic<A, D>(path: &Path, array: &ndarray::ArrayBase<A, D>) -> Result<()>
where
    A: ndarray::Data,
    A::Elem: ndarray_npy::WritableElement,
    D: ndarray::Dimension,
{
    use ndarray_npy::WriteNpyExt;
    let mut bytes = Vec::new();
    array
        .write_npy(&mut bytes)
        .with_context(|| format!("cannot encode {}", path.display()))?;
    vireid_data::atomic::write_atomic(path, &bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
