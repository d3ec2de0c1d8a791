//! Multi-trial evaluation from features, with the reference's four scores.
//!
//! The reference scores every trial four ways from its two L2-normalised features: pool,
//! bn, pool + bn, and the headline fused (1 - a) pool + a bn. Query features are computed once
//! (SYSU-MM01, LLCM) and each trial brings its gallery; RegDB brings a query per trial too.

use crate::error::{EvalError, Result};
use crate::metrics::{
    aggregate, all_finite, evaluate, per_query_multi, Labels, Metrics, QueryResult, Rows,
};
use crate::rerank::{rerank, RerankParams};
use crate::similarity::dot_t;
use multiversion::multiversion;
use ndarray::{Array2, ArrayView2, Zip};
use serde::Serialize;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use vireid_data::{Dataset, Direction};

/// The two evaluation features of a set of images (rows), as the network's eval forward
/// gives them.
#[derive(Debug, Clone, Copy)]
pub struct Features<'a> {
    pub pool: ArrayView2<'a, f32>,
    pub bn: ArrayView2<'a, f32>,
}

impl Features<'_> {
    /// The same features under a shorter borrow.
    pub fn view(&self) -> Features<'_> {
        Features {
            pool: self.pool.view(),
            bn: self.bn.view(),
        }
    }

    fn check(&self, what: &str, n: usize) -> Result<()> {
        if self.pool.dim() != self.bn.dim() {
            return Err(EvalError::Shape(format!(
                "{what}: pool features are {:?} but bn features {:?}",
                self.pool.dim(),
                self.bn.dim()
            )));
        }
        if self.pool.nrows() != n {
            return Err(EvalError::Shape(format!(
                "{what}: {} feature rows for {n} labels",
                self.pool.nrows()
            )));
        }
        for (name, m) in [("pool", &self.pool), ("bn", &self.bn)] {
            // The vectorised check first; the element-wise search only to name a bad value.
            if all_finite(m.iter().copied()) {
                continue;
            }
            if let Some((idx, v)) = m.indexed_iter().find(|(_, v)| !v.is_finite()) {
                return Err(EvalError::NonFinite {
                    what: format!("{what} {name} features"),
                    row: idx.0,
                    col: idx.1,
                    value: f64::from(*v),
                });
            }
        }
        Ok(())
    }
}

/// The reference's four scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Score {
    Pool,
    Bn,
    PoolBn,
    Fused,
}

impl Score {
    pub const ALL: [Score; 4] = [Score::Pool, Score::Bn, Score::PoolBn, Score::Fused];

    /// Weights of the pool and bn similarities.
    pub fn weights(self, alpha: f32) -> (f32, f32) {
        match self {
            Score::Pool => (1.0, 0.0),
            Score::Bn => (0.0, 1.0),
            Score::PoolBn => (1.0, 1.0),
            Score::Fused => (1.0 - alpha, alpha),
        }
    }

    pub fn label(self, alpha: f32) -> String {
        match self {
            Score::Pool => "pool".into(),
            Score::Bn => "bn".into(),
            Score::PoolBn => "pool+bn".into(),
            Score::Fused => format!("fused (a={alpha})"),
        }
    }
}

/// The fused weight `a` the reference uses for a dataset and search direction (its
/// description's `fused_alpha`).
pub fn reference_alpha(dataset: Dataset, thermal_to_visible: bool) -> f32 {
    dataset.fused_alpha(if thermal_to_visible {
        Direction::InfraredToVisible
    } else {
        Direction::VisibleToInfrared
    })
}

/// One trial: its gallery and, for RegDB, its own query.
#[derive(Debug, Clone, Copy)]
pub struct Trial<'a> {
    pub trial: u32,
    pub query: Option<(Features<'a>, Labels<'a>)>,
    pub gallery: Features<'a>,
    pub gallery_labels: Labels<'a>,
}

/// What to compute.
#[derive(Debug, Clone, Copy)]
pub struct TrialOptions {
    pub protocol: Dataset,
    pub alpha: f32,
    pub max_rank: usize,
    pub rerank: Option<RerankParams>,
    /// Keep every query's result (first hit, AP, INP) per trial and score.
    pub per_query: bool,
}

/// One score across the trials.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreReport {
    pub score: Score,
    pub label: String,
    pub mean: Metrics,
    pub trials: Vec<Metrics>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_query: Vec<Vec<QueryResult>>,
}

/// Every score across the trials.
#[derive(Debug, Clone, Serialize)]
pub struct TrialReport {
    pub protocol: Dataset,
    pub alpha: f32,
    pub trials: Vec<u32>,
    pub reranked: bool,
    pub scores: Vec<ScoreReport>,
    /// Wall time spent on similarities (the matrix products) and on everything else.
    pub seconds_similarity: f64,
    pub seconds_ranking: f64,
    /// Gallery rows the queries were compared with: every trial's, or each distinct row once
    /// when the trials share their query and draw from one set of images.
    pub similarity_columns: usize,
}

impl TrialReport {
    pub fn score(&self, score: Score) -> &ScoreReport {
        self.scores
            .iter()
            .find(|s| s.score == score)
            .expect("all four scores")
    }
}

/// The distances of one score, computed row by row when a query needs them: the negated
/// weighted similarity, as the reference ranks by `-distmat`.
struct ScoreRows<'a> {
    pool: &'a Array2<f32>,
    bn: &'a Array2<f32>,
    weights: (f32, f32),
}

impl Rows<f32> for ScoreRows<'_> {
    fn dim(&self) -> (usize, usize) {
        self.pool.dim()
    }

    fn distances<'a>(&'a self, i: usize, buf: &'a mut Vec<f32>) -> &'a [f32] {
        let p = self
            .pool
            .row(i)
            .to_slice()
            .expect("similarities are row-major");
        let b = self
            .bn
            .row(i)
            .to_slice()
            .expect("similarities are row-major");
        buf.resize(p.len(), 0.0);
        fill_distances(buf, p, b, self.weights);
        buf
    }
}

/// `out[j] = -(wp pool[j] + wb bn[j])`. Compiled for AVX-512 and AVX2 too, chosen at run time
/// as the ranking's loops are; no fused multiply-add (Rust never contracts), so every version
/// gives the same bits.
#[multiversion(targets("x86_64+avx512f+avx512bw+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn fill_distances(out: &mut [f32], pool: &[f32], bn: &[f32], (wp, wb): (f32, f32)) {
    for ((d, &p), &b) in out.iter_mut().zip(pool).zip(bn) {
        *d = -(wp * p + wb * b);
    }
}

/// The columns `columns` of the row-major `m`, in that order (rows in parallel).
fn gather_columns(m: &Array2<f32>, columns: &[u32]) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((m.nrows(), columns.len()));
    Zip::from(out.rows_mut())
        .and(m.rows())
        .par_for_each(|mut to, from| {
            gather(
                to.as_slice_mut().expect("a fresh array is row-major"),
                from.as_slice().expect("similarities are row-major"),
                columns,
            )
        });
    out
}

/// `to[k] = from[columns[k]]`, compiled for AVX-512 and AVX2 too (chosen at run time).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2", "x86_64+avx2"))]
fn gather(to: &mut [f32], from: &[f32], columns: &[u32]) {
    for (t, &c) in to.iter_mut().zip(columns) {
        *t = from[c as usize];
    }
}

/// Largest similarity matrices (both features, bytes) worth computing once for all trials.
const SHARED_SIMILARITY_BYTES: usize = 1 << 31;

/// The gallery rows of every trial, each distinct row once. SYSU-MM01's and LLCM's trials
/// draw their galleries from one set of images (a multi-shot gallery holds most of them in
/// every trial), so the query's similarities to all of them, computed once, serve every
/// trial: multi-shot SYSU-MM01 needs a quarter of the multiply-adds of trial-by-trial
/// products.
struct SharedGallery {
    pool: Array2<f32>,
    bn: Array2<f32>,
    /// Per trial, the distinct row of each of its gallery items.
    columns: Vec<Vec<u32>>,
}

impl SharedGallery {
    /// The distinct rows (same pool and bn features, value for value), or None when there is
    /// nothing to share or the shared matrices of `n_query` rows would be too large.
    fn find(trials: &[Trial<'_>], n_query: usize) -> Option<SharedGallery> {
        let total: usize = trials.iter().map(|t| t.gallery.pool.nrows()).sum();
        if trials.len() < 2 || total == 0 {
            return None;
        }
        let dim = trials[0].gallery.pool.ncols();
        // A short prefix finds candidates; equality of whole rows decides.
        let prefix = dim.min(16);
        let key = |f: &Features<'_>, r: usize| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            for v in f
                .pool
                .row(r)
                .iter()
                .chain(f.bn.row(r).iter())
                .take(prefix * 2)
            {
                v.to_bits().hash(&mut h);
            }
            h.finish()
        };
        let mut by_key: HashMap<u64, Vec<usize>> = HashMap::new();
        let mut distinct: Vec<(usize, usize)> = Vec::new();
        let mut columns = Vec::with_capacity(trials.len());
        for (ti, t) in trials.iter().enumerate() {
            let f = &t.gallery;
            let mut cols = Vec::with_capacity(f.pool.nrows());
            for r in 0..f.pool.nrows() {
                let candidates = by_key.entry(key(f, r)).or_default();
                let same = candidates.iter().copied().find(|&d| {
                    let (tj, rj) = distinct[d];
                    let g = &trials[tj].gallery;
                    g.pool.row(rj) == f.pool.row(r) && g.bn.row(rj) == f.bn.row(r)
                });
                let d = match same {
                    Some(d) => d,
                    None => {
                        distinct.push((ti, r));
                        candidates.push(distinct.len() - 1);
                        distinct.len() - 1
                    }
                };
                cols.push(d as u32);
            }
            columns.push(cols);
        }
        let bytes = n_query * distinct.len() * 2 * std::mem::size_of::<f32>();
        if distinct.len() == total || bytes > SHARED_SIMILARITY_BYTES {
            return None;
        }
        let gather = |bn: bool| {
            let mut out = Array2::<f32>::zeros((distinct.len(), dim));
            for (mut row, &(t, r)) in out.rows_mut().into_iter().zip(&distinct) {
                let f = &trials[t].gallery;
                row.assign(&if bn { f.bn } else { f.pool }.row(r));
            }
            out
        };
        Some(SharedGallery {
            pool: gather(false),
            bn: gather(true),
            columns,
        })
    }
}

/// A protocol that drops gallery items by camera needs every camera; leaving them out would
/// silently score another protocol.
fn check_cameras(what: &str, labels: &Labels<'_>, protocol: Dataset) -> Result<()> {
    match labels.cams {
        None if protocol.needs_cameras() => Err(EvalError::Invalid(format!(
            "{what}: the {} protocol needs camera ids, and there are none",
            protocol.name()
        ))),
        Some(c) if c.len() != labels.ids.len() => Err(EvalError::Shape(format!(
            "{what}: {} camera ids for {} person ids",
            c.len(),
            labels.ids.len()
        ))),
        _ => Ok(()),
    }
}

/// Refuses similarities that overflowed (features far from unit length).
fn check_similarities((sp, sb): &(Array2<f32>, Array2<f32>), what: &str) -> Result<()> {
    let all = sp.iter().chain(sb.iter()).copied();
    if all_finite(all) {
        Ok(())
    } else {
        Err(EvalError::Invalid(format!(
            "{what}: the similarities overflow (features are expected L2-normalised)"
        )))
    }
}

/// The whole distance matrix of one score (for re-ranking, which needs it all).
fn score_distance(sp: &Array2<f32>, sb: &Array2<f32>, (wp, wb): (f32, f32)) -> Array2<f32> {
    let mut d = Array2::<f32>::zeros(sp.dim());
    Zip::from(&mut d).and(sp).and(sb).par_for_each(|d, &p, &b| {
        *d = -(wp * p + wb * b);
    });
    d
}

/// Mean of per-trial metrics (the reference sums over trials and divides by their number).
pub fn mean_metrics(per_trial: &[Metrics]) -> Metrics {
    let n = per_trial.len() as f64;
    let len = per_trial.iter().map(|m| m.cmc.len()).min().unwrap_or(0);
    Metrics {
        cmc: (0..len)
            .map(|r| per_trial.iter().map(|m| m.cmc[r]).sum::<f64>() / n)
            .collect(),
        map: per_trial.iter().map(|m| m.map).sum::<f64>() / n,
        minp: per_trial.iter().map(|m| m.minp).sum::<f64>() / n,
        valid_queries: per_trial.iter().map(|m| m.valid_queries).sum::<usize>()
            / per_trial.len().max(1),
    }
}

/// Evaluates every trial under the four scores.
pub fn evaluate_trials(
    query: Option<(Features<'_>, Labels<'_>)>,
    trials: &[Trial<'_>],
    opts: &TrialOptions,
) -> Result<TrialReport> {
    evaluate_trials_with(query, trials, opts, &|_| {})
}

/// [`evaluate_trials`], calling `on_trial(trial)` as each trial is finished (progress bars).
pub fn evaluate_trials_with(
    query: Option<(Features<'_>, Labels<'_>)>,
    trials: &[Trial<'_>],
    opts: &TrialOptions,
    on_trial: &dyn Fn(u32),
) -> Result<TrialReport> {
    if trials.is_empty() {
        return Err(EvalError::Empty("no trials to evaluate".into()));
    }
    if !(0.0..=1.0).contains(&opts.alpha) {
        return Err(EvalError::Invalid(format!(
            "the fused score's weight a must lie in [0, 1], got {}",
            opts.alpha
        )));
    }
    if let Some((f, l)) = &query {
        f.check("query", l.ids.len())?;
        check_cameras("query", l, opts.protocol)?;
    }
    let (mut seconds_similarity, mut seconds_ranking) = (0.0, 0.0);
    let mut per_score: Vec<(Vec<Metrics>, Vec<Vec<QueryResult>>)> = Score::ALL
        .iter()
        .map(|_| (Vec::new(), Vec::new()))
        .collect();
    // Every trial's inputs are checked before any work.
    let mut sides = Vec::with_capacity(trials.len());
    for t in trials {
        let (qf, ql) = match (&t.query, &query) {
            (Some((f, l)), _) => (f.view(), *l),
            (None, Some((f, l))) => (f.view(), *l),
            (None, None) => {
                return Err(EvalError::Invalid(format!(
                    "trial {} has no query features",
                    t.trial
                )))
            }
        };
        if t.query.is_some() {
            let what = format!("trial {} query", t.trial);
            qf.check(&what, ql.ids.len())?;
            check_cameras(&what, &ql, opts.protocol)?;
        }
        let what = format!("trial {} gallery", t.trial);
        t.gallery.check(&what, t.gallery_labels.ids.len())?;
        check_cameras(&what, &t.gallery_labels, opts.protocol)?;
        if qf.pool.ncols() != t.gallery.pool.ncols() {
            return Err(EvalError::Shape(format!(
                "trial {}: query features are {}-d, gallery features {}-d",
                t.trial,
                qf.pool.ncols(),
                t.gallery.pool.ncols()
            )));
        }
        sides.push((qf, ql));
    }
    // One query for all trials: its similarities to every distinct gallery row, once.
    let clock = std::time::Instant::now();
    let shared = match &query {
        Some((qf, _)) if trials.iter().all(|t| t.query.is_none()) => {
            SharedGallery::find(trials, qf.pool.nrows())
        }
        _ => None,
    };
    let shared_sims = match (&shared, &query) {
        (Some(g), Some((qf, _))) => {
            let sims = (dot_t(&qf.pool, &g.pool.view()), dot_t(&qf.bn, &g.bn.view()));
            check_similarities(&sims, "the trials' galleries")?;
            Some(sims)
        }
        _ => None,
    };
    seconds_similarity += clock.elapsed().as_secs_f64();
    for (ti, (t, (qf, ql))) in trials.iter().zip(&sides).enumerate() {
        let clock = std::time::Instant::now();
        let (sp, sb) = match (&shared_sims, &shared) {
            (Some((sp, sb)), Some(g)) => (
                gather_columns(sp, &g.columns[ti]),
                gather_columns(sb, &g.columns[ti]),
            ),
            _ => {
                let sims = (
                    dot_t(&qf.pool, &t.gallery.pool),
                    dot_t(&qf.bn, &t.gallery.bn),
                );
                check_similarities(&sims, &format!("trial {}", t.trial))?;
                sims
            }
        };
        seconds_similarity += clock.elapsed().as_secs_f64();
        let clock = std::time::Instant::now();
        let ql = *ql;
        let results: Vec<(Metrics, Vec<QueryResult>)> = match &opts.rerank {
            Some(params) => {
                let (qqp, qqb) = (dot_t(&qf.pool, &qf.pool), dot_t(&qf.bn, &qf.bn));
                let (ggp, ggb) = (
                    dot_t(&t.gallery.pool, &t.gallery.pool),
                    dot_t(&t.gallery.bn, &t.gallery.bn),
                );
                Score::ALL
                    .iter()
                    .map(|score| {
                        let w = score.weights(opts.alpha);
                        let to_dist = |p: &Array2<f32>, b: &Array2<f32>| {
                            let total = w.0 + w.1;
                            let mut d = score_distance(p, b, w);
                            // Euclidean distance of unit vectors from their weighted cosine.
                            d.mapv_inplace(|neg_sim| (2.0 + 2.0 * neg_sim / total).max(0.0).sqrt());
                            d
                        };
                        let d = rerank(
                            &to_dist(&sp, &sb),
                            &to_dist(&qqp, &qqb),
                            &to_dist(&ggp, &ggb),
                            params,
                        )?;
                        evaluate(
                            &d.view(),
                            ql,
                            t.gallery_labels,
                            opts.protocol,
                            opts.max_rank,
                        )
                    })
                    .collect::<Result<_>>()?
            }
            None => {
                let rows: Vec<ScoreRows> = Score::ALL
                    .iter()
                    .map(|score| ScoreRows {
                        pool: &sp,
                        bn: &sb,
                        weights: score.weights(opts.alpha),
                    })
                    .collect();
                let gallery_len = rows[0].dim().1;
                per_query_multi(&rows, ql, t.gallery_labels, opts.protocol)
                    .into_iter()
                    .map(|per| Ok((aggregate(&per, opts.max_rank, gallery_len)?, per)))
                    .collect::<Result<_>>()?
            }
        };
        for (si, (m, per)) in results.into_iter().enumerate() {
            per_score[si].0.push(m);
            if opts.per_query {
                per_score[si].1.push(per);
            }
        }
        seconds_ranking += clock.elapsed().as_secs_f64();
        on_trial(t.trial);
    }
    Ok(TrialReport {
        protocol: opts.protocol,
        alpha: opts.alpha,
        trials: trials.iter().map(|t| t.trial).collect(),
        reranked: opts.rerank.is_some(),
        seconds_similarity,
        seconds_ranking,
        similarity_columns: shared.as_ref().map_or_else(
            || trials.iter().map(|t| t.gallery.pool.nrows()).sum(),
            |g| g.pool.nrows(),
        ),
        scores: Score::ALL
            .iter()
            .zip(per_score)
            .map(|(&score, (metrics, per_query))| ScoreReport {
                score,
                label: score.label(opts.alpha),
                mean: mean_metrics(&metrics),
                trials: metrics,
                per_query,
            })
            .collect(),
    })
}
