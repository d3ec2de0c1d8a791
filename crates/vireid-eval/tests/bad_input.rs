//! Bad inputs give one clear error, never a panic.

use ndarray::{array, Array2};
use vireid_eval::{evaluate, evaluate_trials, Dataset, Features, Labels, Trial, TrialOptions};

fn err(d: &Array2<f64>, q: Labels, g: Labels, p: Dataset) -> String {
    evaluate(&d.view(), q, g, p, 20).unwrap_err().to_string()
}

#[test]
fn distance_matrix_problems() {
    let d = array![[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]];
    let (qi, gi, qc, gc) = ([1i64, 2], [1i64, 2, 3], [3i64, 6], [1i64, 2, 4]);
    let q = Labels {
        ids: &qi,
        cams: Some(&qc),
    };
    let g = Labels {
        ids: &gi,
        cams: Some(&gc),
    };
    let e = err(
        &d,
        Labels {
            ids: &qi[..1],
            cams: None,
        },
        g,
        Dataset::Regdb,
    );
    assert!(e.contains("2 rows") && e.contains("1 query ids"), "{e}");
    let e = err(
        &d,
        q,
        Labels {
            ids: &gi[..2],
            cams: Some(&gc),
        },
        Dataset::Regdb,
    );
    assert!(
        e.contains("3 columns") && e.contains("2 gallery ids"),
        "{e}"
    );
    let e = err(
        &d,
        Labels {
            ids: &qi,
            cams: None,
        },
        g,
        Dataset::Sysu,
    );
    assert!(e.contains("sysu") && e.contains("camera"), "{e}");
    let e = err(
        &d,
        q,
        Labels {
            ids: &gi,
            cams: Some(&gc[..1]),
        },
        Dataset::Llcm,
    );
    assert!(e.contains("camera ids"), "{e}");
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut d2 = d.clone();
        d2[[1, 2]] = bad;
        let e = err(&d2, q, g, Dataset::Sysu);
        assert!(
            e.contains("row 1, column 2") && e.contains("non-finite"),
            "{e}"
        );
    }
    let empty = Array2::<f64>::zeros((0, 3));
    assert!(err(
        &empty,
        Labels {
            ids: &[],
            cams: None
        },
        g,
        Dataset::Regdb
    )
    .contains("empty"));
    let e = err(
        &d,
        Labels {
            ids: &[8, 9],
            cams: None,
        },
        g,
        Dataset::Regdb,
    );
    assert!(e.contains("no query has a match"), "{e}");
}

#[test]
fn feature_problems() {
    let q = Array2::<f32>::ones((2, 4));
    let g = Array2::<f32>::ones((3, 4));
    let g_wide = Array2::<f32>::ones((3, 5));
    let mut g_nan = g.clone();
    g_nan[[2, 1]] = f32::NAN;
    let (qi, gi) = ([1i64, 2], [1i64, 2, 3]);
    let opts = TrialOptions {
        protocol: Dataset::Regdb,
        alpha: 0.1,
        max_rank: 20,
        rerank: None,
        per_query: false,
    };
    let query = Some((
        Features {
            pool: q.view(),
            bn: q.view(),
        },
        Labels {
            ids: &qi,
            cams: None,
        },
    ));
    let run = |gp: &Array2<f32>, gb: &Array2<f32>, ids: &[i64]| {
        let t = Trial {
            trial: 4,
            query: None,
            gallery: Features {
                pool: gp.view(),
                bn: gb.view(),
            },
            gallery_labels: Labels { ids, cams: None },
        };
        evaluate_trials(query, &[t], &opts).unwrap_err().to_string()
    };
    assert!(run(&g_wide, &g_wide, &gi).contains("4-d"));
    assert!(run(&g, &g_wide, &gi).contains("bn features"));
    assert!(run(&g, &g, &gi[..2]).contains("3 feature rows for 2 labels"));
    let e = run(&g_nan, &g, &gi);
    assert!(
        e.contains("trial 4 gallery pool") && e.contains("row 2, column 1"),
        "{e}"
    );
    assert!(evaluate_trials(query, &[], &opts)
        .unwrap_err()
        .to_string()
        .contains("no trials"));
}
