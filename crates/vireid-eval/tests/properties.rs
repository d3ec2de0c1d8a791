//! The counting algorithm against a literal statement of docs/reference-behaviour.md (Evaluation):
//! sort each row (stable, ties by gallery index), drop what the protocol drops, walk the list.

use ndarray::Array2;
use proptest::prelude::*;
use vireid_eval::{evaluate, Dataset, EvalError, Labels};

struct Naive {
    cmc: Vec<f64>,
    map: f64,
    minp: f64,
}

fn naive(
    d: &Array2<f64>,
    qi: &[i64],
    gi: &[i64],
    qc: &[i64],
    gc: &[i64],
    p: Dataset,
    max_rank: usize,
) -> Option<Naive> {
    let (nq, ng) = d.dim();
    let max_rank = max_rank.min(ng);
    let mut cmc_sum = vec![0.0; max_rank];
    let (mut ap_sum, mut inp_sum, mut valid) = (0.0, 0.0, 0usize);
    for q in 0..nq {
        let mut order: Vec<usize> = (0..ng).collect();
        order.sort_by(|&a, &b| d[[q, a]].partial_cmp(&d[[q, b]]).unwrap()); // stable
        let kept: Vec<usize> = order
            .into_iter()
            .filter(|&j| match p {
                Dataset::Sysu => !(qc[q] == 3 && gc[j] == 2),
                Dataset::Llcm => !(gi[j] == qi[q] && gc[j] == qc[q]),
                Dataset::Regdb => true,
            })
            .collect();
        let hits: Vec<bool> = kept.iter().map(|&j| gi[j] == qi[q]).collect();
        let n_hits = hits.iter().filter(|&&h| h).count();
        if n_hits == 0 {
            continue;
        }
        valid += 1;
        let (mut seen, mut ap, mut last) = (0usize, 0.0, 0usize);
        for (k, &h) in hits.iter().enumerate() {
            if h {
                seen += 1;
                ap += seen as f64 / (k + 1) as f64;
                last = k;
            }
        }
        ap_sum += ap / n_hits as f64;
        inp_sum += n_hits as f64 / (last + 1) as f64;
        let ranked_ids: Vec<i64> = if p == Dataset::Regdb {
            kept.iter().map(|&j| gi[j]).collect()
        } else {
            let mut distinct = Vec::new();
            for &j in &kept {
                if !distinct.contains(&gi[j]) {
                    distinct.push(gi[j]);
                }
            }
            distinct
        };
        let first = ranked_ids.iter().position(|&id| id == qi[q]).unwrap();
        for (r, c) in cmc_sum.iter_mut().enumerate() {
            if first <= r {
                *c += 1.0;
            }
        }
    }
    (valid > 0).then(|| Naive {
        cmc: cmc_sum.iter().map(|c| c / valid as f64).collect(),
        map: ap_sum / valid as f64,
        minp: inp_sum / valid as f64,
    })
}

/// (queries, gallery, distances, query ids, gallery ids, query cams, gallery cams, protocol)
type Problem = (
    usize,
    usize,
    Vec<f64>,
    Vec<i64>,
    Vec<i64>,
    Vec<i64>,
    Vec<i64>,
    u8,
);

fn problem() -> impl Strategy<Value = Problem> {
    // Up to 80 gallery items over as few as 2 ids: queries with more than 16 matches take
    // the multi-shot path.
    (1usize..12, 1usize..80, prop_oneof![Just(2i64), Just(8)]).prop_flat_map(|(nq, ng, ids)| {
        (
            Just(nq),
            Just(ng),
            // Few distinct values: many ties.
            prop::collection::vec(
                prop_oneof![(0i32..4).prop_map(f64::from), -2.0f64..2.0],
                nq * ng,
            ),
            prop::collection::vec(0i64..ids, nq),
            prop::collection::vec(0i64..ids, ng),
            prop::collection::vec(1i64..7, nq),
            prop::collection::vec(1i64..7, ng),
            0u8..3,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn counting_equals_sorting((nq, ng, d, qi, gi, qc, gc, p) in problem()) {
        let p = [Dataset::Sysu, Dataset::Llcm, Dataset::Regdb][p as usize];
        let d = Array2::from_shape_vec((nq, ng), d).unwrap();
        let q = Labels { ids: &qi, cams: Some(&qc) };
        let g = Labels { ids: &gi, cams: Some(&gc) };
        for max_rank in [1usize, 5, 20] {
            let want = naive(&d, &qi, &gi, &qc, &gc, p, max_rank);
            match (evaluate(&d.view(), q, g, p, max_rank), want) {
                (Ok((m, per)), Some(w)) => {
                    prop_assert_eq!(m.cmc.len(), w.cmc.len());
                    for (a, b) in m.cmc.iter().zip(&w.cmc) {
                        prop_assert!((a - b).abs() < 1e-12);
                    }
                    prop_assert!((m.map - w.map).abs() < 1e-12);
                    prop_assert!((m.minp - w.minp).abs() < 1e-12);
                    prop_assert_eq!(per.len(), nq);
                    prop_assert!(m.cmc.windows(2).all(|x| x[0] <= x[1]), "CMC is monotone");
                    prop_assert!(m.minp > 0.0 && m.minp <= 1.0 && m.map > 0.0 && m.map <= 1.0);
                }
                (Err(EvalError::NoValidQuery), None) => {}
                (got, want) => prop_assert!(false, "mismatch: {:?} vs {}", got.map(|x| x.0), want.is_some()),
            }
        }
    }

    /// Any permutation of the gallery gives the same metrics when distances are distinct.
    #[test]
    fn gallery_order_does_not_matter(seed in 0u64..1000, nq in 1usize..8, ng in 2usize..30) {
        use rand::{Rng, SeedableRng, seq::SliceRandom};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let d: Vec<f64> = (0..nq * ng).map(|_| rng.random::<f64>()).collect();
        let qi: Vec<i64> = (0..nq).map(|_| rng.random_range(0..5)).collect();
        let mut gi: Vec<i64> = (0..ng).map(|_| rng.random_range(0..5)).collect();
        gi[0] = qi[0];
        let d = Array2::from_shape_vec((nq, ng), d).unwrap();
        let q = Labels { ids: &qi, cams: None };
        let (m1, _) = evaluate(&d.view(), q, Labels { ids: &gi, cams: None }, Dataset::Regdb, 20).unwrap();
        let mut perm: Vec<usize> = (0..ng).collect();
        perm.shuffle(&mut rng);
        let d2 = Array2::from_shape_fn((nq, ng), |(r, c)| d[[r, perm[c]]]);
        let gi2: Vec<i64> = perm.iter().map(|&c| gi[c]).collect();
        let (m2, _) = evaluate(&d2.view(), q, Labels { ids: &gi2, cams: None }, Dataset::Regdb, 20).unwrap();
        prop_assert!((m1.map - m2.map).abs() < 1e-12);
        prop_assert_eq!(m1.cmc, m2.cmc);
    }
}
