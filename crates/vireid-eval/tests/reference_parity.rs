//! vireid's metrics against the reference's eval functions on committed cases (see
//! data/README.md): equal within 1e-6.

mod common;

use ndarray::Array2;
use vireid_eval::{evaluate, Dataset, Labels};

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    protocol: String,
    dtype: String,
    shape: [usize; 2],
    distmat: String,
    query_ids: Vec<i64>,
    gallery_ids: Vec<i64>,
    query_cams: Option<Vec<i64>>,
    gallery_cams: Option<Vec<i64>>,
    #[serde(flatten)]
    expected: common::Reference,
}

fn cases() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/reference_cases.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn equals_the_reference_within_1e6() {
    let cases = cases();
    assert!(cases.len() >= 50);
    for c in &cases {
        let values: Vec<f32> = c.distmat.split(' ').map(|v| v.parse().unwrap()).collect();
        let protocol: Dataset = c.protocol.parse().unwrap();
        let q = Labels {
            ids: &c.query_ids,
            cams: c.query_cams.as_deref(),
        };
        let g = Labels {
            ids: &c.gallery_ids,
            cams: c.gallery_cams.as_deref(),
        };
        let (m, _) = if c.dtype == "float32" {
            let d = Array2::from_shape_vec(c.shape, values).unwrap();
            evaluate(&d.view(), q, g, protocol, 20).unwrap()
        } else {
            let d = Array2::from_shape_vec(c.shape, values.into_iter().map(f64::from).collect())
                .unwrap();
            evaluate(&d.view(), q, g, protocol, 20).unwrap()
        };
        common::assert_matches(&c.name, &m, &c.expected);
    }
}
