//! Similarity of L2-normalised features: `q . g` for every pair, one SGEMM.

use ndarray::{Array2, ArrayView2};

/// `a . b^T` for row-major `a` (n x d) and `b` (m x d), in f32 with f32 accumulation as
/// PyTorch/numpy float32 would; the SGEMM kernel is multi-threaded.
pub fn dot_t(a: &ArrayView2<f32>, b: &ArrayView2<f32>) -> Array2<f32> {
    let (n, d) = a.dim();
    let (m, d2) = b.dim();
    assert_eq!(d, d2, "feature widths differ");
    let mut out = Array2::<f32>::zeros((n, m));
    if n == 0 || m == 0 {
        return out;
    }
    let (ars, acs) = (a.strides()[0], a.strides()[1]);
    let (brs, bcs) = (b.strides()[0], b.strides()[1]);
    // SAFETY: the pointers and strides describe the live views `a`, `b` and the owned,
    // contiguous `out` of the stated shapes; `b` is read transposed by swapping its strides.
    unsafe {
        matrixmultiply::sgemm(
            n,
            d,
            m,
            1.0,
            a.as_ptr(),
            ars,
            acs,
            b.as_ptr(),
            bcs,
            brs,
            0.0,
            out.as_mut_ptr(),
            m as isize,
            1,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn matches_a_plain_triple_loop() {
        let a = array![[1.0f32, 2.0, 3.0], [0.5, -1.0, 2.0]];
        let b = array![
            [1.0f32, 0.0, 1.0],
            [2.0, 2.0, -1.0],
            [0.0, 0.0, 0.0],
            [1.0, 1.0, 1.0]
        ];
        let s = dot_t(&a.view(), &b.view());
        for i in 0..2 {
            for j in 0..4 {
                let want: f32 = (0..3).map(|k| a[[i, k]] * b[[j, k]]).sum();
                assert_eq!(s[[i, j]], want);
            }
        }
        // A transposed (non-contiguous) view works too.
        let bt = b.t().to_owned();
        let s2 = dot_t(&a.view(), &bt.t());
        assert_eq!(s, s2);
    }
}
