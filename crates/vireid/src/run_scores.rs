//! A training run folder's scores, read without libtorch: its final test (`test.json`,
//! which the demo writes) when that tested the run's last epoch, else its last periodic
//! evaluation (the `eval` of the last evaluated epoch in `state.json`'s history); and runs
//! grouped into kinds (configs equal but for `seed`) for `vireid summary`.
//!
//! `state.json` is read as JSON by the keys the trainer writes (`config`, `next_epoch`,
//! `history[].eval` with `rank1`, `map`, `minp` as fractions), not through the trainer's
//! types: those live beside libtorch, which this executable never loads.

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use vireid_eval::summary::{Sample, Scores, TestRecord, TEST_FILE};

/// Config keys that do not make another kind of run: the seed (what a summary varies) and
/// how many batches are prepared ahead (speed only).
const NOT_KIND: [&str; 2] = ["seed", "prefetch"];

/// Where a run's scores come from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreSource {
    /// `test.json`, written after the last epoch.
    Test { trials: usize, protocol: String },
    /// The periodic evaluation after this epoch (1-based) over `trials` gallery trials.
    Periodic { epoch: usize, trials: u64 },
}

/// One run folder's scores.
#[derive(Debug, Clone)]
pub struct RunScores {
    pub dir: PathBuf,
    pub config: Map<String, Value>,
    pub seed: u64,
    pub scores: Scores,
    pub source: ScoreSource,
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))
}

/// Reads the scores of the run in `dir`.
pub fn read_run(dir: &Path) -> Result<RunScores> {
    let state_path = dir.join("state.json");
    anyhow::ensure!(
        state_path.is_file(),
        "{}: no state.json: not a training run folder (vireid train --out, or a demo's rle/ or baseline/)",
        dir.display()
    );
    let state = read_json(&state_path)?;
    let bad = |what: &str| anyhow!("{}: not a vireid run state ({what})", state_path.display());
    let config = state
        .get("config")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("no config table"))?
        .clone();
    let seed = config
        .get("seed")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("no config.seed"))?;
    let next_epoch = state
        .get("next_epoch")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("no next_epoch"))? as usize;
    let test_path = dir.join(TEST_FILE);
    if test_path.exists() {
        let record: TestRecord =
            serde_json::from_value(read_json(&test_path)?).with_context(|| {
                format!(
                    "{}: not a vireid test record; remove it to use the periodic evaluation",
                    test_path.display()
                )
            })?;
        // A record of an earlier epoch (training went on after the test) says nothing about
        // the weights the run has now.
        if record.epochs == next_epoch {
            return Ok(RunScores {
                dir: dir.to_path_buf(),
                config,
                seed,
                scores: record.scores,
                source: ScoreSource::Test {
                    trials: record.trials,
                    protocol: record.protocol,
                },
            });
        }
    }
    let history = state
        .get("history")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no history"))?;
    let last = history.iter().rev().find_map(|r| {
        let eval = r.get("eval").filter(|e| !e.is_null())?;
        let f = |k: &str| eval.get(k).and_then(Value::as_f64);
        Some((
            r.get("epoch").and_then(Value::as_u64)?,
            f("rank1")?,
            f("map")?,
            f("minp")?,
        ))
    });
    let Some((epoch, rank1, map, minp)) = last else {
        bail!(
            "{}: no evaluation yet ({next_epoch} epochs trained, none evaluated, no current {TEST_FILE}); \
             train with eval_every, or run the demo",
            dir.display()
        );
    };
    Ok(RunScores {
        dir: dir.to_path_buf(),
        scores: Scores {
            rank1: 100.0 * rank1,
            map: 100.0 * map,
            minp: 100.0 * minp,
        },
        source: ScoreSource::Periodic {
            epoch: epoch as usize + 1,
            trials: config
                .get("eval_trials")
                .and_then(Value::as_u64)
                .unwrap_or(1),
        },
        config,
        seed,
    })
}

fn kind_key(config: &Map<String, Value>) -> Map<String, Value> {
    let mut key = config.clone();
    for k in NOT_KIND {
        key.remove(k);
    }
    key
}

/// The runs as samples of kinds, in the runs' order. A kind is named by its runs' folder
/// name when that is shared within the kind and tells the kinds apart (the demo's `rle`,
/// `baseline`), else by the config keys whose values tell it from the other kinds
/// (`rle=false`), or `all` when there is one kind.
pub fn samples(runs: &[RunScores]) -> Vec<Sample> {
    let keys: Vec<_> = runs.iter().map(|r| kind_key(&r.config)).collect();
    let mut groups: Vec<(&Map<String, Value>, Vec<usize>)> = Vec::new();
    let mut group_of = Vec::with_capacity(runs.len());
    for (i, k) in keys.iter().enumerate() {
        match groups.iter().position(|g| g.0 == k) {
            Some(g) => {
                groups[g].1.push(i);
                group_of.push(g);
            }
            None => {
                group_of.push(groups.len());
                groups.push((k, vec![i]));
            }
        }
    }
    let folder = |i: usize| {
        runs[i]
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let folder_names: Vec<Option<String>> = groups
        .iter()
        .map(|(_, members)| {
            let name = folder(members[0]);
            members.iter().all(|&i| folder(i) == name).then_some(name)
        })
        .collect();
    let by_folder = folder_names.iter().all(Option::is_some)
        && (1..folder_names.len()).all(|i| !folder_names[..i].contains(&folder_names[i]));
    let names: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(g, (key, _))| {
            if by_folder {
                return folder_names[g].clone().unwrap_or_default();
            }
            let differing: Vec<String> = key
                .iter()
                .filter(|(k, v)| groups.iter().any(|o| o.0.get(*k) != Some(*v)))
                .map(|(k, v)| format!("{k}={}", v.to_string().trim_matches('"')))
                .collect();
            if differing.is_empty() {
                "all".to_string()
            } else {
                differing.join(",")
            }
        })
        .collect();
    runs.iter()
        .zip(group_of)
        .map(|(run, g)| Sample {
            kind: names[g].clone(),
            seed: run.seed,
            scores: run.scores,
            source: run.dir.display().to_string(),
        })
        .collect()
}

/// The two kinds a comparison pairs, first minus second: with RLE minus without when the
/// kinds differ in `rle`, else in the order the runs came. `samples` are `runs`'.
pub fn comparison_order(runs: &[RunScores], samples: &[Sample]) -> Result<(String, String)> {
    let mut kinds: Vec<&str> = Vec::new();
    for s in samples {
        if !kinds.contains(&s.kind.as_str()) {
            kinds.push(&s.kind);
        }
    }
    anyhow::ensure!(
        kinds.len() == 2,
        "--compare needs exactly two kinds of run (configs that differ in more than their seed), \
         found {}: {}",
        kinds.len(),
        kinds.join("; ")
    );
    let rle_of = |kind: &str| {
        samples
            .iter()
            .zip(runs)
            .find(|(s, _)| s.kind == kind)
            .and_then(|(_, r)| r.config.get("rle").and_then(Value::as_bool))
    };
    let (a, b) = (kinds[0].to_string(), kinds[1].to_string());
    Ok(if rle_of(&b) == Some(true) && rle_of(&a) == Some(false) {
        (b, a)
    } else {
        (a, b)
    })
}
