//! An approximate index for galleries too large to scan for every query (README, "Search at
//! scale"): an HNSW graph (the hnsw_rs crate) over each gallery image's two features side by
//! side, `[pool, bn]` scaled to unit length, searched in the direction of the query's
//! `[(1 - a) pool, a bn]` (whose inner product with the gallery's `[pool, bn]` is the fused
//! score). The graph only proposes candidates; they are ranked by the exact fused score, so
//! every score shown is exact and only which images are found is approximate.
//!
//! Built on several threads, the graph's shape depends on the order the threads insert in;
//! its recall against the exact search is what the benchmark reports.

use crate::error::{EvalError, Result};
use crate::search::{check, hit_order, FeaturePair, Hit};
use anndists::dist::Distance;
use hnsw_rs::api::AnnT;
use hnsw_rs::hnsw::Hnsw;
use hnsw_rs::hnswio::HnswIo;
use multiversion::multiversion;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The base name of the graph's files in an index folder.
const BASENAME: &str = "gallery";
/// The index folder's description of what it holds.
const META: &str = "index.json";
/// Images inserted per progress report.
const CHUNK: usize = 2048;

/// How the graph is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexConfig {
    /// Links per node (HNSW's M): more links, better recall, more memory and build time.
    pub connections: usize,
    /// Candidates kept while inserting (efConstruction).
    pub ef_construction: usize,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            connections: 16,
            ef_construction: 100,
        }
    }
}

/// What an index folder holds, written beside the graph: enough to tell whether it still
/// describes a gallery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexMeta {
    pub rows: usize,
    /// Width of one feature (pool or bn).
    pub dim: usize,
    pub config: IndexConfig,
    /// Whatever the caller uses to recognise its gallery (a file's size and time, say).
    pub source: String,
}

/// 1 - a.b: a distance for unit vectors, ordering neighbours by inner product.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitDot;

impl Distance<f32> for UnitDot {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

/// a.b in sixteen running sums, which the compiler keeps in vector registers (compiled for
/// AVX2 and AVX-512 too, chosen when the machine has them): the graph's build and search are
/// almost all of these on 4096 values.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            sums[i] += x[i] * y[i];
        }
    }
    sums.iter().sum::<f32>() + tail
}

/// Row `i` of `pair` as `[wp pool, wb bn]`, scaled to unit length (zero stays zero).
fn joined(pair: FeaturePair<'_>, i: usize, wp: f32, wb: f32) -> Vec<f32> {
    let mut v: Vec<f32> = pair
        .pool
        .row(i)
        .iter()
        .map(|x| wp * x)
        .chain(pair.bn.row(i).iter().map(|x| wb * x))
        .collect();
    let norm = dot(&v, &v).sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// The exact fused score of query row `q` and gallery row `g`.
fn fused(
    queries: FeaturePair<'_>,
    q: usize,
    gallery: FeaturePair<'_>,
    g: usize,
    alpha: f32,
) -> f32 {
    let (qp, gp) = (queries.pool.row(q), gallery.pool.row(g));
    let (qb, gb) = (queries.bn.row(q), gallery.bn.row(g));
    let p: f32 = match (qp.as_slice(), gp.as_slice()) {
        (Some(a), Some(b)) => dot(a, b),
        _ => qp.dot(&gp),
    };
    let b: f32 = match (qb.as_slice(), gb.as_slice()) {
        (Some(a), Some(b)) => dot(a, b),
        _ => qb.dot(&gb),
    };
    (1.0 - alpha) * p + alpha * b
}

/// A gallery's HNSW graph.
pub struct GalleryIndex {
    hnsw: Hnsw<'static, f32, UnitDot>,
    meta: IndexMeta,
}

impl GalleryIndex {
    /// Builds the graph of `gallery` on all cores, calling `progress` with the images done
    /// after each chunk. `source` is recorded (see [`IndexMeta::source`]).
    pub fn build(
        gallery: FeaturePair<'_>,
        config: IndexConfig,
        source: String,
        progress: &dyn Fn(usize),
    ) -> Result<GalleryIndex> {
        // The gallery's pool and bn of one shape (the same checks a search makes).
        check(gallery, gallery, 0.5)?;
        if config.connections < 2 || config.ef_construction < 1 {
            return Err(EvalError::Invalid(format!(
                "an index needs at least 2 connections and an ef_construction of 1, got {} and {}",
                config.connections, config.ef_construction
            )));
        }
        let rows = gallery.pool.nrows();
        let mut hnsw = Hnsw::new(
            config.connections,
            rows.max(1),
            // hnsw_rs writes only graphs of its full 16 layers (few are ever used).
            16,
            config.ef_construction,
            UnitDot,
        );
        for start in (0..rows).step_by(CHUNK) {
            let end = (start + CHUNK).min(rows);
            let vectors: Vec<Vec<f32>> = (start..end)
                .into_par_iter()
                .map(|i| joined(gallery, i, 1.0, 1.0))
                .collect();
            let items: Vec<(&[f32], usize)> = vectors
                .iter()
                .zip(start..end)
                .map(|(v, i)| (v.as_slice(), i))
                .collect();
            hnsw.parallel_insert_slice(&items);
            progress(end - start);
        }
        hnsw.set_searching_mode(true);
        Ok(GalleryIndex {
            hnsw,
            meta: IndexMeta {
                rows,
                dim: gallery.pool.ncols(),
                config,
                source,
            },
        })
    }

    pub fn meta(&self) -> &IndexMeta {
        &self.meta
    }

    /// For each query, the `k` gallery rows of highest fused score among the `max(ef, k)`
    /// candidates the graph finds, best first, with their exact scores. `gallery` must be the
    /// one the index was built on.
    pub fn top_k(
        &self,
        queries: FeaturePair<'_>,
        gallery: FeaturePair<'_>,
        alpha: f32,
        k: usize,
        ef: usize,
    ) -> Result<Vec<Vec<Hit>>> {
        check(queries, gallery, alpha)?;
        if gallery.pool.dim() != (self.meta.rows, self.meta.dim) {
            return Err(EvalError::Shape(format!(
                "the index was built on {} images of {} dimensions, the gallery has {:?}",
                self.meta.rows,
                self.meta.dim,
                gallery.pool.dim()
            )));
        }
        let k = k.min(self.meta.rows);
        let wanted = ef.max(k);
        Ok((0..queries.pool.nrows())
            .into_par_iter()
            .map(|q| {
                let direction = joined(queries, q, 1.0 - alpha, alpha);
                let mut hits: Vec<Hit> = self
                    .hnsw
                    .search(&direction, wanted, wanted)
                    .into_iter()
                    .map(|n| Hit {
                        index: n.d_id,
                        score: fused(queries, q, gallery, n.d_id, alpha),
                    })
                    .collect();
                hits.sort_by(hit_order);
                hits.truncate(k);
                hits
            })
            .collect())
    }

    /// Writes the index into folder `dir` (created; what it held before is replaced).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let io = |e: std::io::Error| EvalError::File {
            path: dir.to_path_buf(),
            why: format!("cannot write the index: {e}"),
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        for f in [
            format!("{BASENAME}.hnsw.graph"),
            format!("{BASENAME}.hnsw.data"),
        ] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        let _ = std::fs::remove_file(dir.join(META));
        self.hnsw
            .file_dump(dir, BASENAME)
            .map_err(|e| EvalError::File {
                path: dir.to_path_buf(),
                why: format!("cannot write the index: {e}"),
            })?;
        // Last: a folder without its description is not an index (an interrupted save).
        let text = serde_json::to_vec_pretty(&self.meta).expect("plain data");
        vireid_data::atomic::write_atomic(&dir.join(META), &text).map_err(io)
    }

    /// The description of the index in `dir`, if there is a readable one.
    pub fn read_meta(dir: &Path) -> Option<IndexMeta> {
        serde_json::from_slice(&std::fs::read(dir.join(META)).ok()?).ok()
    }

    /// Reads the index that [`GalleryIndex::save`] wrote into `dir`. (hnsw_rs's reloaded
    /// graph borrows its reader, which therefore lives as long as the process.)
    pub fn load(dir: &Path) -> Result<GalleryIndex> {
        let meta = Self::read_meta(dir).ok_or_else(|| EvalError::File {
            path: dir.to_path_buf(),
            why: format!("no readable {META}: not an index"),
        })?;
        let reader: &'static HnswIo = Box::leak(Box::new(HnswIo::new(dir, BASENAME)));
        let mut hnsw: Hnsw<'static, f32, UnitDot> =
            reader
                .load_hnsw_with_dist(UnitDot)
                .map_err(|e| EvalError::File {
                    path: dir.to_path_buf(),
                    why: format!("cannot read the index: {e}"),
                })?;
        if hnsw.get_nb_point() != meta.rows {
            return Err(EvalError::File {
                path: dir.to_path_buf(),
                why: format!(
                    "the graph holds {} images but {META} says {}",
                    hnsw.get_nb_point(),
                    meta.rows
                ),
            });
        }
        hnsw.set_searching_mode(true);
        Ok(GalleryIndex { hnsw, meta })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::top_k;
    use ndarray::Array2;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};

    /// `people` x `per` unit rows near each person's centre (pool and bn alike), as a
    /// trained network's features cluster by identity.
    fn clustered(people: usize, per: usize, dim: usize, seed: u64) -> (Array2<f32>, Array2<f32>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let centres: Vec<Vec<f32>> = (0..2 * people)
            .map(|_| (0..dim).map(|_| rng.random::<f32>() - 0.5).collect())
            .collect();
        let mut side = |offset: usize| {
            let mut m = Array2::<f32>::zeros((people * per, dim));
            for (i, mut row) in m.outer_iter_mut().enumerate() {
                let c = &centres[offset + i / per];
                for (x, c) in row.iter_mut().zip(c) {
                    *x = c + 0.15 * (rng.random::<f32>() - 0.5);
                }
                let n = row.dot(&row).sqrt();
                row.mapv_inplace(|x| x / n);
            }
            m
        };
        (side(0), side(people))
    }

    fn pair<'a>(m: &'a (Array2<f32>, Array2<f32>)) -> FeaturePair<'a> {
        FeaturePair {
            pool: m.0.view(),
            bn: m.1.view(),
        }
    }

    #[test]
    fn finds_nearly_all_of_the_exact_top_ten_with_exact_scores() {
        let gallery = clustered(60, 8, 32, 1);
        let queries = clustered(60, 1, 32, 1);
        let index = GalleryIndex::build(
            pair(&gallery),
            IndexConfig::default(),
            "test".into(),
            &|_| {},
        )
        .unwrap();
        for alpha in [0.5f32, 0.2] {
            let exact = top_k(pair(&queries), pair(&gallery), alpha, 10).unwrap();
            let approx = index
                .top_k(pair(&queries), pair(&gallery), alpha, 10, 64)
                .unwrap();
            let mut found = 0;
            for (qi, (e, a)) in exact.iter().zip(&approx).enumerate() {
                assert_eq!(a.len(), 10);
                for h in a {
                    found += e.iter().any(|x| x.index == h.index) as usize;
                }
                for w in a.windows(2) {
                    assert!(w[0].score >= w[1].score);
                }
                // Every score is the pair's exact fused score.
                for h in a {
                    let want = (1.0 - alpha) * queries.0.row(qi).dot(&gallery.0.row(h.index))
                        + alpha * queries.1.row(qi).dot(&gallery.1.row(h.index));
                    assert!((want - h.score).abs() < 1e-5, "{want} vs {}", h.score);
                }
            }
            let recall = found as f64 / (10 * exact.len()) as f64;
            assert!(recall > 0.95, "recall@10 {recall} at alpha {alpha}");
        }
    }

    #[test]
    fn saved_index_answers_alike_and_bad_folders_are_refused() {
        let gallery = clustered(20, 5, 16, 2);
        let queries = clustered(20, 1, 16, 2);
        let index = GalleryIndex::build(
            pair(&gallery),
            IndexConfig::default(),
            "g.safetensors 1 2".into(),
            &|_| {},
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx");
        index.save(&path).unwrap();
        let back = GalleryIndex::load(&path).unwrap();
        assert_eq!(back.meta(), index.meta());
        let a = index
            .top_k(pair(&queries), pair(&gallery), 0.5, 5, 32)
            .unwrap();
        let b = back
            .top_k(pair(&queries), pair(&gallery), 0.5, 5, 32)
            .unwrap();
        assert_eq!(a, b);
        // Another index saved into the folder replaces it (as a rebuilt one does).
        let again = GalleryIndex::build(
            pair(&gallery),
            IndexConfig::default(),
            "later".into(),
            &|_| {},
        )
        .unwrap();
        again.save(&path).unwrap();
        assert_eq!(GalleryIndex::load(&path).unwrap().meta().source, "later");
        let other = clustered(20, 4, 16, 3);
        let err = index
            .top_k(pair(&queries), pair(&other), 0.5, 5, 32)
            .unwrap_err()
            .to_string();
        assert!(err.contains("built on 100 images"), "{err}");
        std::fs::remove_file(path.join(META)).unwrap();
        let err = GalleryIndex::load(&path).err().unwrap().to_string();
        assert!(err.contains("not an index"), "{err}");
        let err = GalleryIndex::build(
            pair(&gallery),
            IndexConfig {
                connections: 1,
                ef_construction: 10,
            },
            String::new(),
            &|_| {},
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("connections"), "{err}");
    }

    proptest! {
        #[test]
        fn dot_is_the_sum_of_products(v in proptest::collection::vec(-1.0f32..1.0, 0..70)) {
            let w: Vec<f32> = v.iter().rev().copied().collect();
            let naive: f64 = v.iter().zip(&w).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
            prop_assert!((dot(&v, &w) as f64 - naive).abs() < 1e-4);
        }
    }
}
