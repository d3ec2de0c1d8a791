//! Scores of many runs summarised: each kind of run's mean and standard deviation over its
//! seeds, and the paired difference between two kinds (same seeds) with a 95% interval.
//!
//! One seed says little on a small test: on the demo's 32 test people a Rank-1 moves by
//! several points between seeds of the same configuration. A difference between two kinds
//! is judged on the seeds both were run with, paired (each seed shares its dataset and
//! sampling with the other kind), by Student's t on the per-seed differences.

use crate::error::{EvalError, Result};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// The three scores a paper reports, as percentages.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub rank1: f64,
    #[serde(rename = "mAP")]
    pub map: f64,
    #[serde(rename = "mINP")]
    pub minp: f64,
}

impl Scores {
    pub const NAMES: [&'static str; 3] = ["Rank-1", "mAP", "mINP"];

    pub fn get(&self, k: usize) -> f64 {
        [self.rank1, self.map, self.minp][k]
    }

    fn from_fn(f: impl Fn(usize) -> f64) -> Self {
        Self {
            rank1: f(0),
            map: f(1),
            minp: f(2),
        }
    }

    /// The fused score's means of a test report, as percentages.
    pub fn of(report: &crate::TrialReport) -> Self {
        let m = &report.score(crate::Score::Fused).mean;
        Self {
            rank1: 100.0 * m.cmc[0],
            map: 100.0 * m.map,
            minp: 100.0 * m.minp,
        }
    }
}

/// The file in a training run's folder that records its final test.
pub const TEST_FILE: &str = "test.json";

/// What `test.json` holds besides the whole report (under `report`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestRecord {
    /// The weights tested, relative to the run folder.
    pub checkpoint: String,
    /// Epochs trained when the weights were tested.
    pub epochs: usize,
    pub protocol: String,
    pub trials: usize,
    /// The fused score's means over the trials, in percent.
    pub scores: Scores,
}

impl TestRecord {
    /// The file's text: the record and, under `report`, every score of every trial.
    pub fn document(&self, report: &crate::TrialReport) -> String {
        let mut doc = serde_json::to_value(self).expect("a test record serialises");
        doc["report"] = serde_json::to_value(report).expect("a trial report serialises");
        serde_json::to_string_pretty(&doc).expect("a JSON value serialises")
    }
}

/// One run's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// What kind of run (runs of one kind differ only in their seed).
    pub kind: String,
    pub seed: u64,
    pub scores: Scores,
    /// Where the scores come from (a run folder, a demo's seed).
    pub source: String,
}

/// Mean and sample standard deviation (n - 1; zero for one run).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    pub mean: f64,
    pub sd: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Self {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd = if values.len() > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Self { mean, sd }
    }
}

/// One kind's runs.
#[derive(Debug, Clone, Serialize)]
pub struct KindSummary {
    pub kind: String,
    pub seeds: Vec<u64>,
    /// Rank-1, mAP, mINP in that order.
    pub scores: [Spread; 3],
}

/// A paired difference (first kind minus second) on the seeds both kinds ran.
#[derive(Debug, Clone, Serialize)]
pub struct Paired {
    pub first: String,
    pub second: String,
    pub seeds: Vec<u64>,
    /// Per score (Rank-1, mAP, mINP): the mean difference, its standard deviation, the 95%
    /// interval of the mean (absent with one pair) and on how many seeds the first was ahead.
    pub differences: [Difference; 3],
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Difference {
    pub mean: f64,
    pub sd: f64,
    pub ci95: Option<(f64, f64)>,
    pub first_ahead: usize,
}

impl Difference {
    /// The mean difference and Student's t interval of `d` (per-seed differences).
    pub fn of(d: &[f64]) -> Self {
        let Spread { mean, sd } = Spread::of(d);
        let ci95 = (d.len() > 1).then(|| {
            let n = d.len() as f64;
            let half = t_quantile(0.975, n - 1.0) * sd / n.sqrt();
            (mean - half, mean + half)
        });
        Self {
            mean,
            sd,
            ci95,
            first_ahead: d.iter().filter(|&&v| v > 0.0).count(),
        }
    }

    /// Whether the interval excludes zero.
    pub fn decided(&self) -> bool {
        self.ci95.is_some_and(|(lo, hi)| lo > 0.0 || hi < 0.0)
    }
}

/// The `p` quantile of Student's t with `dof` degrees of freedom.
pub fn t_quantile(p: f64, dof: f64) -> f64 {
    StudentsT::new(0.0, 1.0, dof)
        .expect("a positive number of degrees of freedom")
        .inverse_cdf(p)
}

/// Everything summarised.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub kinds: Vec<KindSummary>,
    pub comparison: Option<Paired>,
    pub samples: Vec<Sample>,
}

/// Groups `samples` by kind (in order of first appearance, the compared kinds first) and,
/// when `compare` names two kinds, pairs them by seed. A kind with one seed twice is refused (which run is meant?).
pub fn summarise(samples: Vec<Sample>, compare: Option<(&str, &str)>) -> Result<Summary> {
    if samples.is_empty() {
        return Err(EvalError::Invalid("no runs to summarise".into()));
    }
    let mut kinds: Vec<KindSummary> = Vec::new();
    let mut order: Vec<&str> = Vec::new();
    for s in &samples {
        if !order.contains(&s.kind.as_str()) {
            order.push(&s.kind);
        }
    }
    // The compared kinds lead, in their order (the difference reads left to right).
    if let Some((first, second)) = compare {
        order.sort_by_key(|k| [first, second].iter().position(|c| c == k).unwrap_or(2));
    }
    for kind in &order {
        let runs: Vec<&Sample> = samples.iter().filter(|s| s.kind == *kind).collect();
        let mut seeds: Vec<u64> = runs.iter().map(|s| s.seed).collect();
        seeds.sort_unstable();
        if let Some(w) = seeds.windows(2).find(|w| w[0] == w[1]) {
            let twice: Vec<&str> = runs
                .iter()
                .filter(|s| s.seed == w[0])
                .map(|s| s.source.as_str())
                .collect();
            return Err(EvalError::Invalid(format!(
                "{kind}: seed {} appears twice ({}); give each seed of a kind once",
                w[0],
                twice.join(", ")
            )));
        }
        let scores = std::array::from_fn(|k| {
            Spread::of(&runs.iter().map(|s| s.scores.get(k)).collect::<Vec<_>>())
        });
        kinds.push(KindSummary {
            kind: kind.to_string(),
            seeds,
            scores,
        });
    }
    let comparison = match compare {
        None => None,
        Some((first, second)) => Some(paired(&samples, first, second)?),
    };
    Ok(Summary {
        kinds,
        comparison,
        samples,
    })
}

fn paired(samples: &[Sample], first: &str, second: &str) -> Result<Paired> {
    let of = |kind: &str| -> Result<Vec<&Sample>> {
        let runs: Vec<&Sample> = samples.iter().filter(|s| s.kind == kind).collect();
        if runs.is_empty() {
            return Err(EvalError::Invalid(format!(
                "no runs of kind {kind:?} to compare"
            )));
        }
        Ok(runs)
    };
    let (a, b) = (of(first)?, of(second)?);
    let mut pairs: Vec<(u64, Scores)> = a
        .iter()
        .filter_map(|x| {
            b.iter().find(|y| y.seed == x.seed).map(|y| {
                (
                    x.seed,
                    Scores::from_fn(|k| x.scores.get(k) - y.scores.get(k)),
                )
            })
        })
        .collect();
    if pairs.is_empty() {
        return Err(EvalError::Invalid(format!(
            "{first} and {second} share no seed: a paired comparison needs both kinds run with \
             the same seeds"
        )));
    }
    pairs.sort_by_key(|p| p.0);
    let differences = std::array::from_fn(|k| {
        Difference::of(&pairs.iter().map(|p| p.1.get(k)).collect::<Vec<_>>())
    });
    Ok(Paired {
        first: first.into(),
        second: second.into(),
        seeds: pairs.iter().map(|p| p.0).collect(),
        differences,
    })
}

/// The summary as text: one row per kind (mean ± sd over n seeds), then the comparison.
pub fn table(s: &Summary) -> String {
    let width = s
        .kinds
        .iter()
        .map(|k| k.kind.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!(
        "{:<width$}  {:>5}  {:>16}  {:>16}  {:>16}\n",
        "kind", "seeds", "Rank-1", "mAP", "mINP"
    );
    for k in &s.kinds {
        out += &format!("{:<width$}  {:>5}", k.kind, k.seeds.len());
        for sp in &k.scores {
            out += &format!("  {:>16}", format!("{:.2} ± {:.2}%", sp.mean, sp.sd));
        }
        out += "\n";
    }
    if let Some(p) = &s.comparison {
        out += &format!(
            "\n{} minus {}, paired on {} seed{} ({}):\n",
            p.first,
            p.second,
            p.seeds.len(),
            if p.seeds.len() == 1 { "" } else { "s" },
            p.seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        for (name, d) in Scores::NAMES.iter().zip(&p.differences) {
            let interval = match d.ci95 {
                Some((lo, hi)) => format!(
                    "95% interval [{lo:+.2}, {hi:+.2}]{}",
                    if d.decided() { "" } else { ", includes 0" }
                ),
                None => "one seed: no interval".into(),
            };
            out += &format!(
                "  {name:<7} {:+.2} points (sd {:.2}), {interval}; ahead on {} of {}\n",
                d.mean,
                d.sd,
                d.first_ahead,
                p.seeds.len()
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(kind: &str, seed: u64, rank1: f64) -> Sample {
        Sample {
            kind: kind.into(),
            seed,
            scores: Scores {
                rank1,
                map: rank1 / 2.0,
                minp: 1.0,
            },
            source: format!("{kind}/{seed}"),
        }
    }

    #[test]
    fn t_quantiles_match_the_printed_tables() {
        // Two-sided 95% critical values from any statistics table.
        for (dof, t) in [(1.0, 12.706), (2.0, 4.303), (4.0, 2.776), (9.0, 2.262)] {
            assert!((t_quantile(0.975, dof) - t).abs() < 1e-3, "dof {dof}");
        }
    }

    #[test]
    fn paired_interval_by_hand() {
        // Differences 2, 4, 6: mean 4, sd 2, half-width 4.303 * 2 / sqrt(3) = 4.968.
        let samples = vec![
            sample("rle", 0, 52.0),
            sample("rle", 1, 44.0),
            sample("rle", 2, 36.0),
            sample("base", 2, 30.0),
            sample("base", 0, 50.0),
            sample("base", 1, 40.0),
            sample("base", 7, 10.0),
        ];
        let s = summarise(samples, Some(("rle", "base"))).unwrap();
        assert_eq!(s.kinds[0].seeds, vec![0, 1, 2]);
        assert_eq!(s.kinds[1].seeds, vec![0, 1, 2, 7]);
        assert!((s.kinds[0].scores[0].mean - 44.0).abs() < 1e-12);
        assert!((s.kinds[0].scores[0].sd - 8.0).abs() < 1e-12);
        let p = s.comparison.as_ref().unwrap();
        assert_eq!(p.seeds, vec![0, 1, 2]);
        let d = p.differences[0];
        assert!((d.mean - 4.0).abs() < 1e-12 && (d.sd - 2.0).abs() < 1e-12);
        let (lo, hi) = d.ci95.unwrap();
        assert!((lo - (4.0 - 4.968)).abs() < 1e-3 && (hi - (4.0 + 4.968)).abs() < 1e-3);
        assert!(!d.decided());
        assert_eq!(d.first_ahead, 3);
        // mAP is half of Rank-1 here, so is its difference; mINP equal: no difference.
        assert!((p.differences[1].mean - 2.0).abs() < 1e-12);
        assert_eq!(p.differences[2].first_ahead, 0);
        let text = table(&s);
        assert!(
            text.contains("rle minus base, paired on 3 seeds (0, 1, 2)"),
            "{text}"
        );
        assert!(text.contains("[-0.97, +8.97], includes 0"), "{text}");
    }

    #[test]
    fn one_pair_has_no_interval_and_bad_requests_are_named() {
        let s = summarise(
            vec![sample("a", 3, 10.0), sample("b", 3, 5.0)],
            Some(("a", "b")),
        )
        .unwrap();
        let p = s.comparison.unwrap();
        assert!(p.differences[0].ci95.is_none() && !p.differences[0].decided());
        assert_eq!(s.kinds[0].scores[0].sd, 0.0);
        let e = summarise(
            vec![sample("a", 1, 10.0), sample("b", 2, 5.0)],
            Some(("a", "b")),
        )
        .unwrap_err();
        assert!(e.to_string().contains("share no seed"), "{e}");
        let e = summarise(vec![sample("a", 1, 10.0)], Some(("a", "c"))).unwrap_err();
        assert!(e.to_string().contains("\"c\""), "{e}");
        let e = summarise(vec![sample("a", 1, 10.0), sample("a", 1, 11.0)], None).unwrap_err();
        assert!(
            e.to_string().contains("seed 1 appears twice (a/1, a/1)"),
            "{e}"
        );
        assert!(summarise(vec![], None).is_err());
    }

    proptest::proptest! {
        /// The interval is centred on the mean difference, shrinks as seeds agree, and a
        /// shift of every difference moves it by as much.
        #[test]
        fn interval_is_centred_and_shifts(d in proptest::collection::vec(-30.0f64..30.0, 2..12), shift in -10.0f64..10.0) {
            let a = Difference::of(&d);
            let moved: Vec<f64> = d.iter().map(|v| v + shift).collect();
            let b = Difference::of(&moved);
            let (lo, hi) = a.ci95.unwrap();
            proptest::prop_assert!(((lo + hi) / 2.0 - a.mean).abs() < 1e-9);
            let (lo2, hi2) = b.ci95.unwrap();
            proptest::prop_assert!((lo2 - lo - shift).abs() < 1e-9 && (hi2 - hi - shift).abs() < 1e-9);
            proptest::prop_assert!(lo <= a.mean && a.mean <= hi);
        }
    }
}
