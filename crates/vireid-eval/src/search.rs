//! Ranking a gallery for queries by the reference's fused similarity of the two features as
//! extraction gives them (L2-normalised; with flip, the sum of the image's and its mirror's),
//! `(1 - a) pool_q . pool_g + a bn_q . bn_g` (the test protocol's fused score, here without
//! the protocol's same-camera exclusions): exact, on all cores, a block of queries at a time
//! so that memory stays `block x gallery` scores.

use crate::error::{EvalError, Result};
use crate::similarity::dot_t;
use ndarray::{s, ArrayView2};
use rayon::prelude::*;
use serde::Serialize;

/// Queries scored against the whole gallery at once: bounds the score matrix.
const QUERY_BLOCK: usize = 64;

/// One gallery row and its score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Hit {
    pub index: usize,
    pub score: f32,
}

/// Both features of one side (rows are images).
#[derive(Debug, Clone, Copy)]
pub struct FeaturePair<'a> {
    pub pool: ArrayView2<'a, f32>,
    pub bn: ArrayView2<'a, f32>,
}

/// For each query, the `k` gallery rows of highest fused score with weight `alpha`, best
/// first; equal scores keep the gallery's order.
pub fn top_k(
    queries: FeaturePair<'_>,
    gallery: FeaturePair<'_>,
    alpha: f32,
    k: usize,
) -> Result<Vec<Vec<Hit>>> {
    check(queries, gallery, alpha)?;
    let k = k.min(gallery.pool.nrows());
    let mut out = Vec::with_capacity(queries.pool.nrows());
    for start in (0..queries.pool.nrows()).step_by(QUERY_BLOCK) {
        let end = (start + QUERY_BLOCK).min(queries.pool.nrows());
        let mut scores = dot_t(&queries.pool.slice(s![start..end, ..]), &gallery.pool);
        scores *= 1.0 - alpha;
        scores.scaled_add(
            alpha,
            &dot_t(&queries.bn.slice(s![start..end, ..]), &gallery.bn),
        );
        let block: Vec<Vec<Hit>> = scores
            .outer_iter()
            .into_par_iter()
            .map(|row| best(row.as_slice().expect("a row of a standard matrix"), k))
            .collect();
        out.extend(block);
    }
    Ok(out)
}

/// The weight in [0, 1], each side's pool and bn of one shape, both sides of one width.
pub(crate) fn check(queries: FeaturePair<'_>, gallery: FeaturePair<'_>, alpha: f32) -> Result<()> {
    if !(0.0..=1.0).contains(&alpha) {
        return Err(EvalError::Invalid(format!(
            "the fused weight must be in [0, 1], got {alpha}"
        )));
    }
    for (what, pool, bn) in [
        ("queries", queries.pool.dim(), queries.bn.dim()),
        ("gallery", gallery.pool.dim(), gallery.bn.dim()),
    ] {
        if pool != bn {
            return Err(EvalError::Shape(format!(
                "{what}: pool is {pool:?} but bn is {bn:?}"
            )));
        }
    }
    if queries.pool.ncols() != gallery.pool.ncols() {
        return Err(EvalError::Shape(format!(
            "query features are {} wide, gallery features {}: not the same network",
            queries.pool.ncols(),
            gallery.pool.ncols()
        )));
    }
    Ok(())
}

/// Best first: higher score, then lower index among equals; NaN last.
pub(crate) fn hit_order(a: &Hit, b: &Hit) -> std::cmp::Ordering {
    b.score
        .partial_cmp(&a.score)
        .unwrap_or_else(|| a.score.is_nan().cmp(&b.score.is_nan()))
        .then(a.index.cmp(&b.index))
}

/// The `k` best of `scores` (highest first, lower index first among equals); NaN last.
fn best(scores: &[f32], k: usize) -> Vec<Hit> {
    let order = hit_order;
    let mut hits: Vec<Hit> = scores
        .iter()
        .enumerate()
        .map(|(index, &score)| Hit { index, score })
        .collect();
    if k == 0 {
        return Vec::new();
    }
    if k < hits.len() {
        hits.select_nth_unstable_by(k - 1, order);
        hits.truncate(k);
    }
    hits.sort_by(order);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use proptest::prelude::*;

    fn matrix(rows: usize, dim: usize, seed: &[f32]) -> Array2<f32> {
        Array2::from_shape_fn((rows, dim), |(i, j)| {
            seed[(i * dim + j) % seed.len()] * ((i + 2 * j) % 5) as f32
        })
    }

    proptest! {
        /// The top k equal the first k of a full sort of every pair's fused score, computed
        /// one pair at a time.
        #[test]
        fn equals_a_full_sort(
            nq in 1usize..80, ng in 1usize..40, dim in 1usize..6, k in 1usize..12,
            alpha in 0.0f32..=1.0,
            seed in proptest::collection::vec(-1.0f32..1.0, 7..20),
        ) {
            let (qp, qb) = (matrix(nq, dim, &seed), matrix(nq, dim, &seed[1..]));
            let (gp, gb) = (matrix(ng, dim, &seed[2..]), matrix(ng, dim, &seed[3..]));
            let q = FeaturePair { pool: qp.view(), bn: qb.view() };
            let g = FeaturePair { pool: gp.view(), bn: gb.view() };
            let got = top_k(q, g, alpha, k).unwrap();
            prop_assert_eq!(got.len(), nq);
            for (i, hits) in got.iter().enumerate() {
                let exact: Vec<f32> = (0..ng).map(|j| {
                    let p: f32 = (0..dim).map(|d| qp[[i, d]] * gp[[j, d]]).sum();
                    let b: f32 = (0..dim).map(|d| qb[[i, d]] * gb[[j, d]]).sum();
                    (1.0 - alpha) * p + alpha * b
                }).collect();
                let mut sorted = exact.clone();
                sorted.sort_by(|a, b| b.partial_cmp(a).unwrap());
                prop_assert_eq!(hits.len(), k.min(ng));
                let close = |a: f32, b: f32| (a - b).abs() <= 1e-5 * (1.0 + b.abs());
                for (rank, h) in hits.iter().enumerate() {
                    // Each hit's score is its pair's, and the rank-th best of all pairs (to
                    // float rounding, which may swap near-equal pairs).
                    prop_assert!(close(h.score, exact[h.index]));
                    prop_assert!(close(h.score, sorted[rank]));
                }
                for w in hits.windows(2) {
                    prop_assert!(w[0].score >= w[1].score);
                }
            }
        }
    }

    #[test]
    fn bad_inputs_are_named() {
        let a = Array2::<f32>::zeros((2, 3));
        let b = Array2::<f32>::zeros((2, 4));
        let q = FeaturePair {
            pool: a.view(),
            bn: a.view(),
        };
        let g = FeaturePair {
            pool: b.view(),
            bn: b.view(),
        };
        assert!(top_k(q, g, 0.5, 3)
            .unwrap_err()
            .to_string()
            .contains("not the same network"));
        assert!(top_k(q, q, 1.5, 3).is_err());
        let mixed = FeaturePair {
            pool: a.view(),
            bn: b.view(),
        };
        assert!(top_k(mixed, q, 0.5, 1).is_err());
    }
}
