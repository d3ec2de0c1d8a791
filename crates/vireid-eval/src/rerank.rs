//! k-reciprocal re-ranking (Zhong, Zheng, Cao and Li, "Re-ranking Person Re-identification
//! with k-reciprocal Encoding", CVPR 2017).
//!
//! Each image is encoded by its k-reciprocal neighbourhood (people who are in its top k and
//! have it in theirs), expanded by the neighbourhoods of its reciprocal neighbours that mostly
//! agree with it, weighted by a Gaussian of the distance and averaged over its k2 nearest
//! neighbours (local query expansion). The final distance mixes the Jaccard distance of those
//! encodings with the original one: (1 - lambda) * jaccard + lambda * original.

use crate::error::{EvalError, Result};
use ndarray::Array2;
use rayon::prelude::*;
use serde::Serialize;

/// The method's three parameters; the paper's defaults are k1 = 20, k2 = 6, lambda = 0.3.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RerankParams {
    pub k1: usize,
    pub k2: usize,
    pub lambda: f32,
}

impl Default for RerankParams {
    fn default() -> Self {
        Self {
            k1: 20,
            k2: 6,
            lambda: 0.3,
        }
    }
}

/// Names the first NaN or infinity of `m`.
fn first_non_finite(m: &Array2<f32>, what: &str) -> Result<()> {
    match m.indexed_iter().find(|(_, v)| !v.is_finite()) {
        Some(((row, col), v)) => Err(EvalError::NonFinite {
            what: what.to_string(),
            row,
            col,
            value: f64::from(*v),
        }),
        None => Ok(()),
    }
}

/// A sparse row: (column, value) sorted by column.
type Sparse = Vec<(u32, f32)>;

/// Re-ranks query-gallery distances given the query-query and gallery-gallery ones (all
/// Euclidean, smaller is closer). Returns the new query-gallery distances.
pub fn rerank(
    q_g: &Array2<f32>,
    q_q: &Array2<f32>,
    g_g: &Array2<f32>,
    p: &RerankParams,
) -> Result<Array2<f32>> {
    let (nq, ng) = q_g.dim();
    if q_q.dim() != (nq, nq) || g_g.dim() != (ng, ng) {
        return Err(EvalError::Shape(format!(
            "re-ranking needs {nq} x {nq} query-query and {ng} x {ng} gallery-gallery distances, got {:?} and {:?}",
            q_q.dim(),
            g_g.dim()
        )));
    }
    if p.k1 == 0 || p.k2 == 0 || !(0.0..=1.0).contains(&p.lambda) {
        return Err(EvalError::Invalid(format!(
            "re-ranking needs k1 >= 1, k2 >= 1 and 0 <= lambda <= 1, got {p:?}"
        )));
    }
    for (what, m) in [
        ("query-gallery distances", q_g),
        ("query-query distances", q_q),
        ("gallery-gallery distances", g_g),
    ] {
        first_non_finite(m, what)?;
    }
    let n = nq + ng;
    // Squared distances over all images, each row scaled by its maximum.
    let mut dist = Array2::<f32>::zeros((n, n));
    dist.axis_iter_mut(ndarray::Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(i, mut row)| {
            for j in 0..n {
                let d = match (i < nq, j < nq) {
                    (true, true) => q_q[[i, j]],
                    (true, false) => q_g[[i, j - nq]],
                    (false, true) => q_g[[j, i - nq]],
                    (false, false) => g_g[[i - nq, j - nq]],
                };
                row[j] = d * d;
            }
            let max = row.iter().copied().fold(0.0f32, f32::max);
            if max > 0.0 {
                row.mapv_inplace(|v| v / max);
            }
        });
    // Finite inputs whose squares exceed float32's range (above ~1.8e19) leave infinities and
    // NaN here: the inputs were valid, the arithmetic was not.
    if let Some(i) = (0..n).find(|&i| dist.row(i).iter().any(|v| !v.is_finite())) {
        let largest = [q_g, q_q, g_g]
            .iter()
            .flat_map(|m| m.iter())
            .fold(0.0f32, |a, &b| a.max(b.abs()));
        return Err(EvalError::Overflow(format!(
            "re-ranking squares the distances in float32, and distances up to {largest:e} \
             overflow it (row {i} of the joint matrix); scale the distances down"
        )));
    }

    let k1 = p.k1.min(n - 1);
    let half = ((p.k1 as f64) / 2.0).round_ties_even() as usize;
    let depth = (k1 + 1).max(p.k2).max(half + 1).min(n);
    // The nearest `depth` images of each image, itself first (ties by index).
    let nearest: Vec<Vec<u32>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let row = dist.row(i);
            let mut idx: Vec<u32> = (0..n as u32).collect();
            let key =
                |a: &u32, b: &u32| row[*a as usize].total_cmp(&row[*b as usize]).then(a.cmp(b));
            if depth < n {
                idx.select_nth_unstable_by(depth - 1, key);
                idx.truncate(depth);
            }
            idx.sort_unstable_by(key);
            idx
        })
        .collect();

    let reciprocal = |i: usize, k: usize| -> Vec<u32> {
        let k = (k + 1).min(depth);
        nearest[i][..k]
            .iter()
            .copied()
            .filter(|&c| nearest[c as usize][..k].contains(&(i as u32)))
            .collect()
    };

    // Gaussian-weighted k-reciprocal encodings.
    let encodings: Vec<Sparse> = (0..n)
        .into_par_iter()
        .map(|i| {
            let base = reciprocal(i, k1);
            let mut expanded = base.clone();
            for &c in &base {
                let candidate = reciprocal(c as usize, half);
                let overlap = candidate.iter().filter(|x| base.contains(x)).count();
                if overlap as f64 > 2.0 / 3.0 * candidate.len() as f64 {
                    expanded.extend(candidate);
                }
            }
            expanded.sort_unstable();
            expanded.dedup();
            let row = dist.row(i);
            let weights: Vec<f32> = expanded.iter().map(|&j| (-row[j as usize]).exp()).collect();
            let total: f32 = weights.iter().sum();
            expanded
                .into_iter()
                .zip(weights)
                .map(|(j, w)| (j, w / total))
                .collect()
        })
        .collect();

    // Local query expansion: average the encodings of the k2 nearest images.
    let encodings: Vec<Sparse> = if p.k2 > 1 {
        (0..n)
            .into_par_iter()
            .map(|i| {
                let mut acc: Vec<(u32, f32)> = nearest[i][..p.k2.min(depth)]
                    .iter()
                    .flat_map(|&j| encodings[j as usize].iter().copied())
                    .collect();
                acc.sort_unstable_by_key(|e| e.0);
                let mut out: Sparse = Vec::with_capacity(acc.len());
                for (j, v) in acc {
                    match out.last_mut() {
                        Some(last) if last.0 == j => last.1 += v,
                        _ => out.push((j, v)),
                    }
                }
                let k = p.k2.min(depth) as f32;
                out.iter_mut().for_each(|e| e.1 /= k);
                out
            })
            .collect()
    } else {
        encodings
    };

    // Inverted index: for each image j, the gallery images whose encoding involves it.
    let mut involved: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n];
    for g in 0..ng {
        for &(j, v) in &encodings[nq + g] {
            involved[j as usize].push((g as u32, v));
        }
    }

    let mut out = Array2::<f32>::zeros((nq, ng));
    out.axis_iter_mut(ndarray::Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(qi, mut row)| {
            let mut shared = vec![0.0f32; ng];
            for &(j, v) in &encodings[qi] {
                for &(g, w) in &involved[j as usize] {
                    shared[g as usize] += v.min(w);
                }
            }
            let original = dist.row(qi);
            for g in 0..ng {
                let jaccard = 1.0 - shared[g] / (2.0 - shared[g]);
                row[g] = (1.0 - p.lambda) * jaccard + p.lambda * original[nq + g];
            }
        });
    Ok(out)
}
