//! The approximate index against the exact search on one synthetic gallery: N images of
//! people seen 8 times each (features near each person's centre, as a trained network's
//! cluster by identity) and Q queries of the other modality near the same people. Prints the
//! index's build time, queries/s of both searches (top 10, fused score, a = 0.5), the
//! index's recall@10 against the exact top 10 for each candidate count EF (default 40 and
//! 200), and this process's peak memory:
//!   cargo run --release -p vireid-eval --example search_index -- N [QUERIES] [D] [EF...]
//! scripts/bench-search.sh runs it after the exact-search table.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use std::time::Instant;

#[path = "common/peak.rs"]
mod peak;
use peak::peak_mb;
use vireid_eval::ann::{GalleryIndex, IndexConfig};
use vireid_eval::search::{top_k, FeaturePair};

const PER_PERSON: usize = 8;

/// Rows near `centres[row / per]` (offset by a modality shift), unit length.
fn near(centres: &Array2<f32>, rows: usize, per: usize, shift: f32, seed: u64) -> Array2<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let dim = centres.ncols();
    let mut m = Array2::<f32>::zeros((rows, dim));
    for (i, mut row) in m.outer_iter_mut().enumerate() {
        let c = centres.row((i / per) % centres.nrows());
        for (j, (x, c)) in row.iter_mut().zip(c).enumerate() {
            let modality = if j % 2 == 0 { shift } else { -shift };
            *x = c + modality + 0.6 * (rng.random::<f32>() - 0.5);
        }
        let n = row.dot(&row).sqrt();
        row.mapv_inplace(|x| x / n);
    }
    m
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("whole numbers: N [QUERIES] [D] [EF]"))
        .collect();
    let n = *args
        .first()
        .expect("usage: search_index N [QUERIES] [D] [EF]");
    let queries = args.get(1).copied().unwrap_or(256);
    let dim = args.get(2).copied().unwrap_or(2048);
    let efs: Vec<usize> = match args.get(3..) {
        Some(e) if !e.is_empty() => e.to_vec(),
        _ => vec![40, 200],
    };
    let people = n.div_ceil(PER_PERSON);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let centres = Array2::from_shape_simple_fn((people, dim), || rng.random::<f32>() - 0.5);
    let (gp, gb) = (
        near(&centres, n, PER_PERSON, 0.05, 1),
        near(&centres, n, PER_PERSON, 0.05, 2),
    );
    // Query i shows person i of the gallery, through the other modality's shift.
    let (qp, qb) = (
        near(&centres, queries, 1, -0.05, 3),
        near(&centres, queries, 1, -0.05, 4),
    );
    let gallery = FeaturePair {
        pool: gp.view(),
        bn: gb.view(),
    };
    let q = FeaturePair {
        pool: qp.view(),
        bn: qb.view(),
    };
    let t = Instant::now();
    let index = GalleryIndex::build(gallery, IndexConfig::default(), String::new(), &|_| {})
        .expect("valid inputs");
    let build = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let exact = top_k(q, gallery, 0.5, 10).expect("valid inputs");
    let exact_qps = queries as f64 / t.elapsed().as_secs_f64();
    for ef in efs {
        let t = Instant::now();
        let approx = index.top_k(q, gallery, 0.5, 10, ef).expect("valid inputs");
        let approx_qps = queries as f64 / t.elapsed().as_secs_f64();
        let found: usize = exact
            .iter()
            .zip(&approx)
            .map(|(e, a)| {
                a.iter()
                    .filter(|h| e.iter().any(|x| x.index == h.index))
                    .count()
            })
            .sum();
        let recall = found as f64 / exact.iter().map(Vec::len).sum::<usize>() as f64;
        // gallery, build s, ef, exact q/s, hnsw q/s, recall@10, peak MB (bench-search.sh's
        // columns)
        println!(
            "{n:<10} {build:>9.1} {ef:>5} {exact_qps:>12.1} {approx_qps:>12.1} {recall:>10.3} {:>10.0}",
            peak_mb()
        );
    }
}
