//! The reference's answers as the committed test data states them, and the comparison.

use vireid_eval::Metrics;

/// CMC, mAP and mINP as the reference computed them.
#[derive(Debug, serde::Deserialize)]
pub struct Reference {
    pub cmc: Vec<f64>,
    #[serde(rename = "mAP")]
    pub map: f64,
    #[serde(rename = "mINP")]
    pub minp: f64,
}

/// Every number within 1e-6 of the reference's, and a CMC of the same length.
pub fn assert_matches(what: &str, got: &Metrics, want: &Reference) {
    assert_eq!(got.cmc.len(), want.cmc.len(), "{what}: CMC length");
    for (r, (a, b)) in got.cmc.iter().zip(&want.cmc).enumerate() {
        assert!(
            (a - b).abs() < 1e-6,
            "{what}: rank {} CMC {a} vs reference {b}",
            r + 1
        );
    }
    assert!(
        (got.map - want.map).abs() < 1e-6,
        "{what}: mAP {} vs reference {}",
        got.map,
        want.map
    );
    assert!(
        (got.minp - want.minp).abs() < 1e-6,
        "{what}: mINP {} vs reference {}",
        got.minp,
        want.minp
    );
}
