//! Multi-trial evaluation from features, with the reference's four scores.
//!
//! The reference scores every trial four ways from its two L2-normalised features: pool,
//! bn, pool + bn, and the headline fused (1 - a) pool + a bn. Query features are computed once
//! (SYSU-MM01, LLCM) and each trial brings its gallery; RegDB brings a query per trial too.

use crate::error::{EvalError, Result};
use crate::metrics::{
    aggregate, all_finite, evaluate, per_query_multi, Labels, Metrics, QueryResult, Rows,
};
use crate::protocol::EvalProtocol;
use crate::rerank::{rerank, RerankParams};
use crate::similarity::dot_t;
use ndarray::{Array2, ArrayView2, Zip};
use serde::Serialize;

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

/// The fused weight `a` the reference uses: 0.2 for SYSU-MM01, 0.1 for LLCM and RegDB
/// visible-to-thermal, 0.0 for RegDB thermal-to-visible.
pub fn reference_alpha(protocol: EvalProtocol, thermal_to_visible: bool) -> f32 {
    match protocol {
        EvalProtocol::Sysu => 0.2,
        EvalProtocol::Llcm => 0.1,
        EvalProtocol::Regdb if thermal_to_visible => 0.0,
        EvalProtocol::Regdb => 0.1,
    }
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
    pub protocol: EvalProtocol,
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
    pub protocol: EvalProtocol,
    pub alpha: f32,
    pub trials: Vec<u32>,
    pub reranked: bool,
    pub scores: Vec<ScoreReport>,
    /// Wall time spent on similarities (the matrix products) and on everything else.
    pub seconds_similarity: f64,
    pub seconds_ranking: f64,
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
        let (wp, wb) = self.weights;
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
        for ((d, &p), &b) in buf.iter_mut().zip(p).zip(b) {
            *d = -(wp * p + wb * b);
        }
        buf
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
    if let Some((f, l)) = &query {
        f.check("query", l.ids.len())?;
    }
    let (mut seconds_similarity, mut seconds_ranking) = (0.0, 0.0);
    let mut per_score: Vec<(Vec<Metrics>, Vec<Vec<QueryResult>>)> = Score::ALL
        .iter()
        .map(|_| (Vec::new(), Vec::new()))
        .collect();
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
            qf.check(&format!("trial {} query", t.trial), ql.ids.len())?;
        }
        t.gallery.check(
            &format!("trial {} gallery", t.trial),
            t.gallery_labels.ids.len(),
        )?;
        if qf.pool.ncols() != t.gallery.pool.ncols() {
            return Err(EvalError::Shape(format!(
                "trial {}: query features are {}-d, gallery features {}-d",
                t.trial,
                qf.pool.ncols(),
                t.gallery.pool.ncols()
            )));
        }
        let clock = std::time::Instant::now();
        let sp = dot_t(&qf.pool, &t.gallery.pool);
        let sb = dot_t(&qf.bn, &t.gallery.bn);
        seconds_similarity += clock.elapsed().as_secs_f64();
        let clock = std::time::Instant::now();
        let (sp_all, sb_all) = (
            sp.as_slice().expect("row-major"),
            sb.as_slice().expect("row-major"),
        );
        if !all_finite(sp_all.iter().chain(sb_all).copied()) {
            return Err(EvalError::Invalid(format!(
                "trial {}: the similarities overflow (features are expected L2-normalised)",
                t.trial
            )));
        }
        let self_sims = opts.rerank.map(|_| {
            (
                (dot_t(&qf.pool, &qf.pool), dot_t(&qf.bn, &qf.bn)),
                (
                    dot_t(&t.gallery.pool, &t.gallery.pool),
                    dot_t(&t.gallery.bn, &t.gallery.bn),
                ),
            )
        });
        let results: Vec<(Metrics, Vec<QueryResult>)> = match (&opts.rerank, &self_sims) {
            (Some(params), Some(((qqp, qqb), (ggp, ggb)))) => Score::ALL
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
                        &to_dist(qqp, qqb),
                        &to_dist(ggp, ggb),
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
                .collect::<Result<_>>()?,
            _ => {
                let rows: Vec<ScoreRows> = Score::ALL
                    .iter()
                    .map(|score| ScoreRows {
                        pool: &sp,
                        bn: &sb,
                        weights: score.weights(opts.alpha),
                    })
                    .collect();
                per_query_multi(&rows, ql, t.gallery_labels, opts.protocol)
                    .into_iter()
                    .map(|per| Ok((aggregate(&per, opts.max_rank, sp.ncols())?, per)))
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
