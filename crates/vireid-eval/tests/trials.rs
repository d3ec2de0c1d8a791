//! Multi-trial evaluation from features against the reference's test.py scoring (see
//! data/README.md), and re-ranking's behaviour.

mod common;

use ndarray::{Array2, ArrayView2};
use vireid_eval::{
    evaluate_trials, reference_alpha, rerank, Dataset, Features, Labels, RerankParams, Score,
    Trial, TrialOptions,
};

#[derive(serde::Deserialize)]
struct Side {
    ids: Vec<i64>,
    cams: Vec<i64>,
    pool: String,
    bn: String,
}

impl Side {
    fn arrays(&self, dim: usize) -> (Array2<f32>, Array2<f32>) {
        let parse = |s: &str| -> Array2<f32> {
            let v: Vec<f32> = s.split(' ').map(|x| x.parse().unwrap()).collect();
            Array2::from_shape_vec((v.len() / dim, dim), v).unwrap()
        };
        (parse(&self.pool), parse(&self.bn))
    }
}

#[derive(serde::Deserialize)]
struct TrialCase {
    trial: u32,
    query: Option<Side>,
    gallery: Side,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    protocol: String,
    alpha: f32,
    dim: usize,
    query: Option<Side>,
    trials: Vec<TrialCase>,
    expected: Vec<common::Reference>,
}

fn feats<'a>(a: &'a (Array2<f32>, Array2<f32>)) -> Features<'a> {
    Features {
        pool: a.0.view(),
        bn: a.1.view(),
    }
}

#[test]
fn four_scores_equal_the_reference_test_script() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/reference_trials.json"
    );
    let cases: Vec<Case> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(cases.len(), 4);
    for c in &cases {
        let protocol: Dataset = c.protocol.parse().unwrap();
        assert_eq!(
            reference_alpha(protocol, c.name.ends_with("t2v")),
            c.alpha,
            "{}",
            c.name
        );
        let q_arrays = c.query.as_ref().map(|q| q.arrays(c.dim));
        let arrays: Vec<_> = c
            .trials
            .iter()
            .map(|t| {
                (
                    t.query.as_ref().map(|q| q.arrays(c.dim)),
                    t.gallery.arrays(c.dim),
                )
            })
            .collect();
        let trials: Vec<Trial> = c
            .trials
            .iter()
            .zip(&arrays)
            .map(|(t, (qa, ga))| Trial {
                trial: t.trial,
                query: t.query.as_ref().zip(qa.as_ref()).map(|(q, a)| {
                    (
                        feats(a),
                        Labels {
                            ids: &q.ids,
                            cams: Some(&q.cams),
                        },
                    )
                }),
                gallery: feats(ga),
                gallery_labels: Labels {
                    ids: &t.gallery.ids,
                    cams: Some(&t.gallery.cams),
                },
            })
            .collect();
        let query = c.query.as_ref().zip(q_arrays.as_ref()).map(|(q, a)| {
            (
                feats(a),
                Labels {
                    ids: &q.ids,
                    cams: Some(&q.cams),
                },
            )
        });
        let opts = TrialOptions {
            protocol,
            alpha: c.alpha,
            max_rank: 20,
            rerank: None,
            per_query: true,
        };
        let report = evaluate_trials(query, &trials, &opts).unwrap();
        for (score, want) in Score::ALL.iter().zip(&c.expected) {
            let got = &report.score(*score).mean;
            common::assert_matches(&format!("{} {score:?}", c.name), got, want);
            assert_eq!(report.score(*score).per_query.len(), 3);
        }
    }
}

/// People are clusters of noisy images around a centre. Re-ranking exploits the gallery's
/// neighbourhood structure, so on such data it must raise mAP, never lower it.
fn clustered(n_ids: usize, per_id: usize, noise: f32, seed: u64) -> (Array2<f32>, Vec<i64>) {
    use rand::{Rng, SeedableRng};
    let dim = 16;
    // The same people (centres) whatever the seed; the seed draws the images around them.
    let mut centre_rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    let centres: Vec<Vec<f32>> = (0..n_ids)
        .map(|_| {
            (0..dim)
                .map(|_| centre_rng.random_range(-1.0..1.0))
                .collect()
        })
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut rows = Vec::new();
    let mut ids = Vec::new();
    for (id, c) in centres.iter().enumerate() {
        for _ in 0..per_id {
            rows.extend(c.iter().map(|v| v + noise * rng.random_range(-1.0f32..1.0)));
            ids.push(id as i64);
        }
    }
    (Array2::from_shape_vec((ids.len(), dim), rows).unwrap(), ids)
}

fn euclid(a: &ArrayView2<f32>, b: &ArrayView2<f32>) -> Array2<f32> {
    Array2::from_shape_fn((a.nrows(), b.nrows()), |(i, j)| {
        a.row(i)
            .iter()
            .zip(b.row(j))
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>()
            .sqrt()
    })
}

#[test]
fn reranking_keeps_or_improves_accuracy_on_clustered_data() {
    let (q, qi) = clustered(30, 2, 0.6, 1);
    let (g, gi) = clustered(30, 6, 0.6, 2);
    let qg = euclid(&q.view(), &g.view());
    let qq = euclid(&q.view(), &q.view());
    let gg = euclid(&g.view(), &g.view());
    let eval = |d: &Array2<f32>| {
        vireid_eval::evaluate(
            &d.view(),
            Labels {
                ids: &qi,
                cams: None,
            },
            Labels {
                ids: &gi,
                cams: None,
            },
            Dataset::Regdb,
            20,
        )
        .unwrap()
        .0
    };
    let before = eval(&qg);
    let after = eval(&rerank(&qg, &qq, &gg, &RerankParams::default()).unwrap());
    assert!(
        after.map >= before.map - 1e-6,
        "re-ranking lost mAP: {} -> {}",
        before.map,
        after.map
    );
    assert!(
        after.map > before.map + 0.01,
        "re-ranking did not help on clustered data: {} -> {}",
        before.map,
        after.map
    );

    // lambda = 1 keeps only the original distance: the ranking cannot change.
    let only_original = rerank(
        &qg,
        &qq,
        &gg,
        &RerankParams {
            lambda: 1.0,
            ..Default::default()
        },
    )
    .unwrap();
    let m = eval(&only_original);
    assert!((m.map - before.map).abs() < 1e-9);
    assert_eq!(m.cmc, before.cmc);

    // Wrong shapes are refused.
    assert!(rerank(&qg, &gg, &qq, &RerankParams::default()).is_err());
    assert!(rerank(
        &qg,
        &qq,
        &gg,
        &RerankParams {
            k1: 0,
            ..Default::default()
        }
    )
    .is_err());
}

#[test]
fn reranking_is_available_in_the_trial_path() {
    let (q, qi) = clustered(20, 2, 0.5, 3);
    let (g, gi) = clustered(20, 4, 0.5, 4);
    let norm = |m: &Array2<f32>| {
        let mut m = m.clone();
        for mut r in m.rows_mut() {
            let n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
            r.mapv_inplace(|v| v / n);
        }
        m
    };
    let (q, g) = (norm(&q), norm(&g));
    let ql = Labels {
        ids: &qi,
        cams: None,
    };
    let trial = Trial {
        trial: 0,
        query: None,
        gallery: Features {
            pool: g.view(),
            bn: g.view(),
        },
        gallery_labels: Labels {
            ids: &gi,
            cams: None,
        },
    };
    let query = Some((
        Features {
            pool: q.view(),
            bn: q.view(),
        },
        ql,
    ));
    let plain = TrialOptions {
        protocol: Dataset::Regdb,
        alpha: 0.1,
        max_rank: 20,
        rerank: None,
        per_query: false,
    };
    let a = evaluate_trials(query, &[trial], &plain).unwrap();
    let b = evaluate_trials(
        query,
        &[trial],
        &TrialOptions {
            rerank: Some(RerankParams::default()),
            ..plain
        },
    )
    .unwrap();
    assert!(b.reranked && !a.reranked);
    assert!(b.score(Score::Fused).mean.map >= a.score(Score::Fused).mean.map - 0.02);
    // Identical pool and bn features: every score is the same ranking.
    let m = |s| a.score(s).mean.map;
    assert!(
        (m(Score::Pool) - m(Score::Fused)).abs() < 1e-9
            && (m(Score::Bn) - m(Score::PoolBn)).abs() < 1e-9
    );
}

/// Trials that draw their galleries from one set of images (SYSU-MM01's, LLCM's) have the
/// query's similarities to each distinct image computed once for all of them; each trial
/// must still score exactly as when evaluated on its own, re-ranked or not.
#[test]
fn trials_sharing_gallery_images_score_as_each_trial_alone() {
    use rand::{Rng, SeedableRng};
    let norm = |mut m: Array2<f32>| {
        for mut r in m.rows_mut() {
            let n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
            r.mapv_inplace(|v| v / n);
        }
        m
    };
    // 20 people, 8 gallery images each (two per visible camera), pool and bn features apart.
    let (gp, gi) = clustered(20, 8, 0.8, 11);
    let (gb, _) = clustered(20, 8, 0.8, 12);
    let (gp, gb) = (norm(gp), norm(gb));
    let g_cams: Vec<i64> = (0..gi.len()).map(|j| [1, 2, 4, 5][(j / 2) % 4]).collect();
    let (qp, qi) = clustered(20, 3, 0.8, 13);
    let (qb, _) = clustered(20, 3, 0.8, 14);
    let (qp, qb) = (norm(qp), norm(qb));
    let q_cams: Vec<i64> = (0..qi.len()).map(|i| [3, 6][i % 2]).collect();
    // Five trials, each one image of every person and camera, drawn at random: images recur.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let drawn: Vec<Vec<usize>> = (0..5)
        .map(|_| {
            (0..gi.len() / 2)
                .map(|pair| 2 * pair + rng.random_range(0..2))
                .collect()
        })
        .collect();
    let sides: Vec<_> = drawn
        .iter()
        .map(|rows| {
            let pick = |m: &Array2<f32>| m.select(ndarray::Axis(0), rows);
            let ids: Vec<i64> = rows.iter().map(|&r| gi[r]).collect();
            let cams: Vec<i64> = rows.iter().map(|&r| g_cams[r]).collect();
            (pick(&gp), pick(&gb), ids, cams)
        })
        .collect();
    let trials: Vec<Trial> = sides
        .iter()
        .enumerate()
        .map(|(t, (p, b, ids, cams))| Trial {
            trial: t as u32,
            query: None,
            gallery: Features {
                pool: p.view(),
                bn: b.view(),
            },
            gallery_labels: Labels {
                ids,
                cams: Some(cams),
            },
        })
        .collect();
    let query = Some((
        Features {
            pool: qp.view(),
            bn: qb.view(),
        },
        Labels {
            ids: &qi,
            cams: Some(&q_cams),
        },
    ));
    let mut distinct: Vec<usize> = drawn.concat();
    distinct.sort_unstable();
    distinct.dedup();
    for rerank in [None, Some(RerankParams::default())] {
        let opts = TrialOptions {
            protocol: Dataset::Sysu,
            alpha: 0.2,
            max_rank: 20,
            rerank,
            per_query: true,
        };
        let together = evaluate_trials(query, &trials, &opts).unwrap();
        assert_eq!(together.similarity_columns, distinct.len());
        assert!(distinct.len() < trials.len() * gi.len() / 2);
        for (t, trial) in trials.iter().enumerate() {
            let alone = evaluate_trials(query, std::slice::from_ref(trial), &opts).unwrap();
            assert_eq!(alone.similarity_columns, gi.len() / 2);
            for score in Score::ALL {
                let (a, b) = (together.score(score), alone.score(score));
                assert_eq!(a.trials[t], b.trials[0], "trial {t} {score:?} {rerank:?}");
                assert_eq!(a.per_query[t], b.per_query[0], "trial {t} {score:?}");
            }
        }
    }
}
