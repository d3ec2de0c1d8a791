//! CMC, mAP and mINP of one distance matrix, per query and aggregated as the reference does.
//!
//! The reference argsorts each row and walks the ranked list. Only the positions of the
//! query's matches matter, so each is found by counting what ranks before it: one pass over
//! the row per query, no sort, parallel over queries. Ties are broken by gallery index (a
//! stable sort's order), where numpy's default quicksort leaves their order unspecified.

use crate::error::{EvalError, Result};
use multiversion::multiversion;
use ndarray::ArrayView2;
use rayon::prelude::*;
use serde::Serialize;
use vireid_data::{CameraRule, Dataset};

/// Identity and camera labels of one side (query or gallery).
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    pub ids: &'a [i64],
    pub cams: Option<&'a [i64]>,
}

/// The result of one query.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QueryResult {
    /// 1-based rank of the first correct match in the protocol's CMC list (distinct ids for
    /// SYSU-MM01 and LLCM, the raw list for RegDB); `None` when the query has no match.
    pub first_hit: Option<usize>,
    /// Average precision (0 when the query has no match and is not counted).
    pub ap: f64,
    /// Inverse negative penalty: matches / position of the last match.
    pub inp: f64,
    /// Correct matches left after the protocol's filtering.
    pub matches: usize,
}

/// Aggregated metrics: the reference's `(cmc, mAP, mINP)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// CMC at ranks 1..=max_rank, as fractions.
    pub cmc: Vec<f64>,
    #[serde(rename = "mAP")]
    pub map: f64,
    #[serde(rename = "mINP")]
    pub minp: f64,
    /// Queries with at least one match: the denominator of every average.
    pub valid_queries: usize,
}

impl QueryResult {
    /// A query whose id has no image left in the gallery: not counted.
    pub const NO_MATCH: QueryResult = QueryResult {
        first_hit: None,
        ap: 0.0,
        inp: 0.0,
        matches: 0,
    };
}

impl Metrics {
    /// CMC at 1-based `rank`, clamped to the curve's length.
    pub fn rank(&self, rank: usize) -> f64 {
        let i = rank.clamp(1, self.cmc.len().max(1)) - 1;
        self.cmc.get(i).copied().unwrap_or(0.0)
    }
}

/// A float the ranking can use: compared by value, then by gallery index.
pub trait Distance: Copy + PartialOrd + Send + Sync {
    fn to_f64(self) -> f64;
}
impl Distance for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}
impl Distance for f64 {
    fn to_f64(self) -> f64 {
        self
    }
}

/// Rows of distances, stored or computed on demand.
pub trait Rows<T>: Sync {
    fn dim(&self) -> (usize, usize);
    /// Row `i`, borrowed from storage or written into `buf`.
    fn distances<'a>(&'a self, i: usize, buf: &'a mut Vec<T>) -> &'a [T];
}

impl<T: Distance> Rows<T> for ArrayView2<'_, T> {
    fn dim(&self) -> (usize, usize) {
        ArrayView2::dim(self)
    }

    fn distances<'a>(&'a self, i: usize, buf: &'a mut Vec<T>) -> &'a [T] {
        let view = self.index_axis(ndarray::Axis(0), i);
        match view.to_slice() {
            Some(r) => r,
            None => {
                buf.clear();
                buf.extend(view.iter().copied());
                buf
            }
        }
    }
}

/// Whether every value is finite, in one vectorisable pass: `v - v` is 0 for finite values
/// and NaN otherwise, and NaN survives the sum.
pub fn all_finite<T: Distance>(values: impl Iterator<Item = T>) -> bool {
    values.map(|v| v.to_f64() - v.to_f64()).sum::<f64>() == 0.0
}

/// Checks shapes, camera presence and finiteness before any work.
pub fn validate<T: Distance>(
    dist: &ArrayView2<T>,
    query: Labels,
    gallery: Labels,
    protocol: Dataset,
) -> Result<()> {
    let (nq, ng) = dist.dim();
    if nq == 0 || ng == 0 {
        return Err(EvalError::Empty(format!(
            "the distance matrix is {nq} x {ng}"
        )));
    }
    if query.ids.len() != nq {
        return Err(EvalError::Shape(format!(
            "the distance matrix has {nq} rows but there are {} query ids",
            query.ids.len()
        )));
    }
    if gallery.ids.len() != ng {
        return Err(EvalError::Shape(format!(
            "the distance matrix has {ng} columns but there are {} gallery ids",
            gallery.ids.len()
        )));
    }
    if protocol.needs_cameras() {
        let (Some(qc), Some(gc)) = (query.cams, gallery.cams) else {
            return Err(EvalError::MissingCameras(protocol.name()));
        };
        if qc.len() != nq || gc.len() != ng {
            return Err(EvalError::Shape(format!(
                "{} query and {} gallery camera ids for a {nq} x {ng} distance matrix",
                qc.len(),
                gc.len()
            )));
        }
    }
    let bad = (0..nq).into_par_iter().find_map_any(|r| {
        let row = dist.row(r);
        if all_finite(row.iter().copied()) {
            return None;
        }
        row.iter()
            .position(|v| !v.to_f64().is_finite())
            .map(|c| (r, c, row[c].to_f64()))
    });
    if let Some((row, col, value)) = bad {
        return Err(EvalError::NonFinite {
            what: "the distance matrix".into(),
            row,
            col,
            value,
        });
    }
    Ok(())
}

/// Scratch space of one worker, reused across queries.
struct Scratch<T> {
    /// Gallery indices of the query's matches (after the protocol's removals).
    hit_index: Vec<usize>,
    /// 1 for each gallery item that is another person's and not dropped by the protocol.
    keep: Vec<u32>,
    /// The row, when it has to be computed or copied.
    row: Vec<T>,
    score: ScoreScratch<T>,
}

/// Scratch space for one query under one score.
struct ScoreScratch<T> {
    /// Matches as (distance, gallery index), sorted.
    hits: Vec<(T, usize)>,
    /// Kept non-matches ranked before each match.
    before: Vec<usize>,
    /// hist[t]: kept non-matches ranked after exactly t matches (many-match path).
    hist: Vec<usize>,
    /// Per dense gallery id: seen before the first match (distinct-id counting).
    flags: Vec<u8>,
}

/// Whether `a` ranks before `b`: smaller distance, or equal distance and smaller index.
/// Non-short-circuit operators keep it free of branches.
#[inline(always)]
fn before<T: Distance>(a: (T, usize), b: (T, usize)) -> bool {
    (a.0 < b.0) | ((a.0 == b.0) & (a.1 < b.1))
}

/// For each sorted match, the kept non-matches ranked before it; also marks in `flags` the
/// ids of kept items ranked before the first match.
///
/// One pass per match over contiguous memory, branch-free (the data's order relative to the
/// matches is random, so branches would be mispredicted half of the time) so that it
/// vectorises; an item at the match's own distance ranks before it when its index is smaller.
/// Inlined into [`score_query`]'s per-CPU versions, so that its loops use their vectors.
#[inline(always)]
fn count_before<T: Distance>(
    row: &[T],
    keep: &[u32],
    hits: &[(T, usize)],
    dense: &[usize],
    flags: Option<&mut [u8]>,
    out: &mut Vec<usize>,
) {
    // 32-bit lanes throughout (a row has far fewer than 2^32 items), so that the compiler
    // packs eight comparisons in a vector.
    let count = |r: &[T], k: &[u32], dh: T, or_equal: bool| -> usize {
        let n: u32 = if or_equal {
            r.iter().zip(k).map(|(&d, &k)| u32::from(d <= dh) & k).sum()
        } else {
            r.iter().zip(k).map(|(&d, &k)| u32::from(d < dh) & k).sum()
        };
        n as usize
    };
    for &(dh, jh) in hits {
        out.push(
            count(&row[..jh], &keep[..jh], dh, true)
                + count(&row[jh + 1..], &keep[jh + 1..], dh, false),
        );
    }
    if let Some(flags) = flags {
        // Distinct people among the kept items ranked before the first match.
        let (d0, j0) = hits[0];
        for (j, ((&d, &k), &id)) in row.iter().zip(keep).zip(dense).enumerate() {
            flags[id] |= u8::from((d < d0) | ((d == d0) & (j < j0))) & k as u8;
        }
    }
}

/// Evaluates every query of `dist` (smaller is closer). Inputs must have passed [`validate`].
pub fn per_query<T: Distance, R: Rows<T>>(
    dist: &R,
    query: Labels,
    gallery: Labels,
    protocol: Dataset,
) -> Vec<QueryResult> {
    per_query_multi(std::slice::from_ref(dist), query, gallery, protocol)
        .pop()
        .expect("one score")
}

/// Evaluates every query under several distance matrices of the same gallery at once (the
/// reference's four scores): what depends only on the labels (the protocol's removals, the
/// query's matches) is worked out once per query. Returns one result list per matrix.
pub fn per_query_multi<T: Distance, R: Rows<T>>(
    scores: &[R],
    query: Labels,
    gallery: Labels,
    protocol: Dataset,
) -> Vec<Vec<QueryResult>> {
    let Some(first) = scores.first() else {
        return Vec::new();
    };
    let (nq, ng) = first.dim();
    // Dense gallery ids, so that distinct-id counting is an array lookup.
    let mut sorted_ids: Vec<i64> = gallery.ids.to_vec();
    sorted_ids.sort_unstable();
    sorted_ids.dedup();
    let dense: Vec<usize> = gallery
        .ids
        .iter()
        .map(|id| sorted_ids.binary_search(id).expect("present"))
        .collect();
    let n_ids = sorted_ids.len();
    let no_cams = vec![0i64; ng.max(query.ids.len())];
    let g_cams = &gallery.cams.unwrap_or(&no_cams[..ng])[..ng];
    let q_cams = query.cams.unwrap_or(&no_cams[..query.ids.len()]);
    let distinct = protocol.distinct_id_cmc();
    // Per trial, not per query: each id's gallery images, and the two removal masks.
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); n_ids];
    for (j, &d) in dense.iter().enumerate() {
        members[d].push(j);
    }
    let keep_all = vec![1u32; ng];
    let keep_without_cam2: Vec<u32> = g_cams.iter().map(|&c| u32::from(c != 2)).collect();

    let per_query: Vec<Vec<QueryResult>> = (0..nq)
        .into_par_iter()
        .map_init(
            || Scratch::<T> {
                hit_index: Vec::new(),
                keep: Vec::new(),
                row: Vec::new(),
                score: ScoreScratch {
                    hits: Vec::new(),
                    before: Vec::new(),
                    hist: Vec::new(),
                    flags: Vec::new(),
                },
            },
            |s, qi| {
                let (q_id, q_cam) = (query.ids[qi], q_cams[qi]);
                let Ok(q_dense) = sorted_ids.binary_search(&q_id) else {
                    return vec![QueryResult::NO_MATCH; scores.len()];
                };
                let own = &members[q_dense];
                s.hit_index.clear();
                s.hit_index.extend(
                    own.iter()
                        .copied()
                        .filter(|&j| !protocol.ignores(q_id, q_cam, q_id, g_cams[j])),
                );
                if s.hit_index.is_empty() {
                    return vec![QueryResult::NO_MATCH; scores.len()];
                }
                // 1 for the other people's images that stay in the ranking, else 0: of those,
                // only SYSU-MM01 drops any (camera 2 for camera-3 queries); LLCM's rule
                // concerns the query's own id, whose images are all matches or dropped.
                let same_room = protocol.spec().camera_rule == CameraRule::SameRoom;
                let base = if same_room && q_cam == 3 {
                    &keep_without_cam2
                } else {
                    &keep_all
                };
                s.keep.clear();
                s.keep.extend_from_slice(base);
                for &j in own {
                    s.keep[j] = 0;
                }
                scores
                    .iter()
                    .map(|score| {
                        let row = score.distances(qi, &mut s.row);
                        score_query(
                            row,
                            &s.keep,
                            &s.hit_index,
                            &dense,
                            n_ids,
                            distinct,
                            &mut s.score,
                        )
                    })
                    .collect()
            },
        )
        .collect();
    (0..scores.len())
        .map(|k| per_query.iter().map(|r| r[k]).collect())
        .collect()
}

/// One query under one distance row, given the items it keeps and its matches. Compiled for
/// AVX-512 and AVX2 as well as the baseline, the best chosen at run time: the comparison
/// passes then test 16 or 8 items an instruction instead of SSE2's 4.
#[multiversion(targets("x86_64+avx512f+avx512bw+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn score_query<T: Distance>(
    row: &[T],
    keep: &[u32],
    hit_index: &[usize],
    dense: &[usize],
    n_ids: usize,
    distinct: bool,
    s: &mut ScoreScratch<T>,
) -> QueryResult {
    s.hits.clear();
    s.hits.extend(hit_index.iter().map(|&j| (row[j], j)));
    s.hits
        .sort_unstable_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(a.1.cmp(&b.1)));
    let n_hits = s.hits.len();
    // before[i]: kept non-matches ranked before the i-th match.
    s.before.clear();
    s.flags.clear();
    s.flags.resize(n_ids, 0);
    let flags = distinct.then_some(&mut s.flags[..]);
    match n_hits {
        0..=64 => count_before(row, keep, &s.hits, dense, flags, &mut s.before),
        _ => {
            // Very many matches: place each kept item among the sorted matches.
            s.hist.clear();
            s.hist.resize(n_hits + 1, 0);
            for (j, &k) in keep.iter().enumerate() {
                if k == 1 {
                    let key = (row[j], j);
                    let t = s.hits.partition_point(|&h| before(h, key));
                    s.hist[t] += 1;
                    if t == 0 && distinct {
                        s.flags[dense[j]] = 1;
                    }
                }
            }
            let mut acc = 0;
            for &h in &s.hist[..n_hits] {
                acc += h;
                s.before.push(acc);
            }
        }
    }
    let distinct_before: usize = s.flags.iter().map(|&f| f as usize).sum();
    // Position (0-based) of the i-th match = i + non-matches ranked before it.
    let mut ap = 0.0;
    for (i, &b) in s.before.iter().enumerate() {
        ap += (i + 1) as f64 / (i + b + 1) as f64;
    }
    let last_pos = n_hits - 1 + s.before[n_hits - 1];
    let first_raw = s.before[0];
    QueryResult {
        first_hit: Some(if distinct { distinct_before } else { first_raw } + 1),
        ap: ap / n_hits as f64,
        inp: n_hits as f64 / (last_pos + 1) as f64,
        matches: n_hits,
    }
}

/// Aggregates per-query results the reference's way: averages over the queries with a match;
/// CMC at ranks 1..=min(max_rank, gallery size).
pub fn aggregate(results: &[QueryResult], max_rank: usize, gallery_len: usize) -> Result<Metrics> {
    let max_rank = max_rank.min(gallery_len).max(1);
    let mut hits_at = vec![0usize; max_rank + 1];
    let (mut n, mut ap, mut inp) = (0usize, 0.0, 0.0);
    for r in results {
        if let Some(rank) = r.first_hit {
            n += 1;
            ap += r.ap;
            inp += r.inp;
            if rank <= max_rank {
                hits_at[rank] += 1;
            }
        }
    }
    if n == 0 {
        return Err(EvalError::NoValidQuery);
    }
    let mut cmc = Vec::with_capacity(max_rank);
    let mut cumulative = 0usize;
    for count in &hits_at[1..] {
        cumulative += count;
        cmc.push(cumulative as f64 / n as f64);
    }
    Ok(Metrics {
        cmc,
        map: ap / n as f64,
        minp: inp / n as f64,
        valid_queries: n,
    })
}

/// Validates, evaluates and aggregates one distance matrix.
pub fn evaluate<T: Distance>(
    dist: &ArrayView2<T>,
    query: Labels,
    gallery: Labels,
    protocol: Dataset,
    max_rank: usize,
) -> Result<(Metrics, Vec<QueryResult>)> {
    validate(dist, query, gallery, protocol)?;
    let per = per_query(dist, query, gallery, protocol);
    let metrics = aggregate(&per, max_rank, dist.ncols())?;
    Ok((metrics, per))
}
