use super::extract::set_threads;
use super::splits::{ModeArg, ShotArg};
use super::{print_json, DatasetArg};
use crate::npy::write_atomic;
use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use ndarray::{Array1, Array2, ArrayView2};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use vireid_augment::test_time::to_normalized_chw;
use vireid_data::image_io::{ImageResizer, Size};
use vireid_data::{splits, Dataset, Direction, Entry, Mode, Protocol, Shot};
use vireid_eval::report::trial_table;
use vireid_eval::{
    evaluate_trials, reference_alpha, EvalProtocol, Features, Labels, RerankParams, Score, Trial,
    TrialOptions, TrialReport,
};
use vireid_nn::features::{extract_with, ExtractOptions, FeatureSet, Geometry};
use vireid_nn::{parse_device, weights, Modality, PartNet};

const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The reference's test protocol on a checkpoint: features of the query and of each trial's
/// gallery (test transform: Lanczos resize, normalise; plus the mirrored image), the four
/// scores (pool, bn, pool+bn, fused) over the trials, and the headline table.
#[derive(clap::Args)]
pub struct Args {
    /// Which dataset the root holds: sysu, regdb or llcm.
    #[arg(long, value_enum)]
    dataset: DatasetArg,
    /// The dataset's root folder.
    #[arg(long)]
    root: PathBuf,
    /// A reference `.t` checkpoint or a vireid `.safetensors` one. For RegDB, whose models are
    /// trained per trial, a pattern with `{trial}` (`regdb_trial{trial}.t`) gives each trial
    /// its own; a single file is used for every trial with a warning (it has seen the other
    /// trials' test identities in training).
    #[arg(long)]
    checkpoint: String,
    /// SYSU-MM01 search mode: all (cameras 1, 2, 4, 5) or indoor (cameras 1, 2).
    #[arg(long, value_enum, default_value = "all")]
    mode: ModeArg,
    /// Gallery images per person and camera: single (1) or multi (10).
    #[arg(long, value_enum, default_value = "single")]
    shot: ShotArg,
    /// Search direction: v2t/t2v for RegDB, v2i/i2v for LLCM (SYSU-MM01 is always i2v).
    /// Default: RegDB v2t, LLCM v2i (as the reference's test.py), SYSU-MM01 i2v.
    #[arg(long)]
    direction: Option<String>,
    /// Number of trials, from the first (0 for SYSU-MM01 and LLCM, 1 for RegDB).
    #[arg(long, default_value_t = 10, conflicts_with = "trial")]
    trials: u32,
    /// One trial only.
    #[arg(long)]
    trial: Option<u32>,
    /// Test image height (the reference's --img_h).
    #[arg(long, default_value_t = 384)]
    height: u32,
    /// Test image width (the reference's --img_w).
    #[arg(long, default_value_t = 192)]
    width: u32,
    /// Images per forward pass.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Leave out the mirrored image (the reference's test script adds its features; its
    /// periodic evaluation during training does not).
    #[arg(long)]
    no_flip: bool,
    /// Weight a of the fused score (1 - a) pool + a bn. Default: the reference's (SYSU-MM01
    /// 0.2, LLCM 0.1, RegDB v2t 0.1, RegDB t2v 0.0).
    #[arg(long)]
    alpha: Option<f32>,
    /// k-reciprocal re-ranking (k1 = 20, k2 = 6, lambda = 0.3) of every score.
    #[arg(long)]
    rerank: bool,
    /// cpu, cuda or cuda:K.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// libtorch intra-op threads (0: libtorch's default, one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Also write the features and labels in the layout `vireid metrics --features` reads.
    #[arg(long)]
    save_features: Option<PathBuf>,
    /// Print one JSON document on stdout (the report, the checkpoints, the timings).
    #[arg(long)]
    json: bool,
}

/// Features and labels of one side (query or gallery) of a trial.
struct Side {
    pool: Array2<f32>,
    bn: Array2<f32>,
    ids: Vec<i64>,
    cams: Vec<i64>,
}

impl Side {
    fn features(&self) -> Features<'_> {
        Features {
            pool: self.pool.view(),
            bn: self.bn.view(),
        }
    }

    fn labels(&self) -> Labels<'_> {
        Labels {
            ids: &self.ids,
            cams: Some(&self.cams),
        }
    }

    fn save(&self, dir: &Path, prefix: &str) -> Result<()> {
        let f = |name: &str| dir.join(format!("{prefix}_{name}.npy"));
        write_atomic(&f("pool"), &self.pool)?;
        write_atomic(&f("bn"), &self.bn)?;
        write_atomic(&f("ids"), &Array1::from(self.ids.clone()))?;
        write_atomic(&f("cams"), &Array1::from(self.cams.clone()))
    }
}

/// The unique images of a list (galleries of different trials share many) and, for each
/// entry of the list, its row among them.
fn unique<'a>(
    entries: impl Iterator<Item = &'a Entry>,
) -> (Vec<&'a Entry>, HashMap<&'a str, usize>) {
    let mut rows = HashMap::new();
    let mut list = Vec::new();
    for e in entries {
        rows.entry(e.path.as_str()).or_insert_with(|| {
            list.push(e);
            list.len() - 1
        });
    }
    (list, rows)
}

/// What every extraction of a run shares.
struct Extraction<'a> {
    root: &'a Path,
    size: Size,
    options: ExtractOptions,
    progress: &'a ProgressBar,
}

impl Extraction<'_> {
    /// Test transform and network features of `images`, batch by batch; decoding and resizing
    /// run on all cores (rayon), each worker with its own resizer.
    fn features(&self, net: &PartNet, images: &[&Entry], modality: Modality) -> Result<FeatureSet> {
        let len = self.size.rgb_len();
        let geometry = Geometry {
            channels: 3,
            height: self.size.height as usize,
            width: self.size.width as usize,
        };
        let load = |first: usize, slots: &mut [f32]| -> vireid_nn::Result<()> {
            slots
                .par_chunks_mut(len)
                .zip(images[first..].par_iter())
                .try_for_each_init(
                    || (ImageResizer::new(), vec![0u8; len]),
                    |(resizer, rgb), (slot, entry)| {
                        resizer
                            .load_into(&self.root.join(&entry.path), self.size, rgb)
                            .map_err(|e| vireid_nn::NnError::Input(e.to_string()))?;
                        to_normalized_chw(rgb, MEAN, STD, slot);
                        Ok(())
                    },
                )
        };
        let options = ExtractOptions {
            modality,
            ..self.options
        };
        let mut last = 0;
        Ok(extract_with(
            net,
            images.len(),
            geometry,
            &options,
            load,
            |done| {
                self.progress.inc((done - last) as u64);
                last = done;
            },
        )?)
    }
}

/// The rows of `entries` out of the features of their unique images.
fn side(features: &FeatureSet, rows: &HashMap<&str, usize>, entries: &[Entry]) -> Side {
    let dim = features.dim;
    let shape = (features.rows(), dim);
    let pool = ArrayView2::from_shape(shape, &features.pool[..]).expect("rows x dim");
    let bn = ArrayView2::from_shape(shape, &features.bn[..]).expect("rows x dim");
    let index: Vec<usize> = entries.iter().map(|e| rows[e.path.as_str()]).collect();
    Side {
        pool: pool.select(ndarray::Axis(0), &index),
        bn: bn.select(ndarray::Axis(0), &index),
        ids: entries.iter().map(|e| i64::from(e.id)).collect(),
        cams: entries.iter().map(|e| i64::from(e.cam)).collect(),
    }
}

#[derive(Serialize)]
struct Summary<'a> {
    dataset: String,
    mode: String,
    shot: String,
    direction: String,
    flip: bool,
    checkpoints: Vec<String>,
    network: vireid_nn::NetConfig,
    images: usize,
    seconds_features: f64,
    images_per_second: f64,
    seconds_evaluation: f64,
    report: &'a TrialReport,
}

pub fn run(a: Args) -> Result<()> {
    set_threads(a.threads);
    let device = parse_device(&a.device)?;
    let dataset: Dataset = a.dataset.into();
    let direction = match &a.direction {
        Some(d) => d.parse::<Direction>()?,
        None => Protocol::default_direction(dataset),
    };
    let protocol = Protocol {
        dataset,
        mode: match a.mode {
            ModeArg::All => Mode::All,
            ModeArg::Indoor => Mode::Indoor,
        },
        shot: match a.shot {
            ShotArg::Single => Shot::Single,
            ShotArg::Multi => Shot::Multi,
        },
        direction,
    };
    let first = if dataset == Dataset::Regdb { 1 } else { 0 };
    let trials: Vec<u32> = match a.trial {
        Some(t) => vec![t],
        None => (first..first + a.trials).collect(),
    };
    let split = splits(&a.root, &protocol, &trials)?;
    for w in &split.warnings {
        eprintln!("warning: {w}");
    }
    let (query_modality, gallery_modality) = match direction {
        Direction::InfraredToVisible => (Modality::Thermal, Modality::Visible),
        Direction::VisibleToInfrared => (Modality::Visible, Modality::Thermal),
    };
    let pattern = a.checkpoint.contains("{trial}");
    if dataset == Dataset::Regdb && !pattern && trials.len() > 1 {
        eprintln!(
            "warning: one checkpoint for {} RegDB trials: a RegDB model is trained on one trial's \
             split, so the other trials' test identities were in its training set and their \
             scores are optimistic. Pass a pattern with {{trial}} to use each trial's own model.",
            trials.len()
        );
    }
    // Trials grouped by checkpoint, in trial order: one group unless a {trial} pattern.
    let mut groups: Vec<(PathBuf, Vec<usize>)> = Vec::new();
    for (i, t) in split.trials.iter().enumerate() {
        let path = PathBuf::from(a.checkpoint.replace("{trial}", &t.trial.to_string()));
        match groups.iter_mut().find(|(p, _)| *p == path) {
            Some((_, members)) => members.push(i),
            None => groups.push((path, vec![i])),
        }
    }
    let shared_query = split.query.is_some() && groups.len() == 1;
    // What will be extracted, for one progress bar over the whole run.
    let plan: Vec<(usize, usize)> = groups
        .iter()
        .map(|(_, members)| {
            let q = unique(
                members
                    .iter()
                    .flat_map(|&i| split.query_of(&split.trials[i])),
            )
            .0
            .len();
            let g = unique(members.iter().flat_map(|&i| &split.trials[i].gallery))
                .0
                .len();
            (q, g)
        })
        .collect();
    let total: usize = plan.iter().map(|(q, g)| q + g).sum();
    let progress = crate::progress::bar(total as u64, "features", a.json);
    let extraction = Extraction {
        root: &a.root,
        size: Size::new(a.height, a.width),
        options: ExtractOptions {
            device,
            modality: Modality::Visible,
            flip: !a.no_flip,
            batch: a.batch,
        },
        progress: &progress,
    };
    let start = Instant::now();
    let mut shared: Option<Side> = None;
    let mut per_trial: Vec<(u32, Option<Side>, Side)> = Vec::new();
    let mut network = None;
    for (path, members) in &groups {
        let (_vs, net, _ignored) = weights::load_network(path, device)
            .with_context(|| format!("loading the checkpoint for trial(s) {members:?}"))?;
        if let Some(previous) = network {
            if previous != net.config {
                bail!(
                    "{}: a {:?} network, but the previous trials' was {previous:?}",
                    path.display(),
                    net.config
                );
            }
        }
        network = Some(net.config);
        let (queries, qrows) = unique(
            members
                .iter()
                .flat_map(|&i| split.query_of(&split.trials[i])),
        );
        let (galleries, grows) = unique(members.iter().flat_map(|&i| &split.trials[i].gallery));
        let qf = extraction.features(&net, &queries, query_modality)?;
        let gf = extraction.features(&net, &galleries, gallery_modality)?;
        for &i in members {
            let t = &split.trials[i];
            let query = side(&qf, &qrows, split.query_of(t));
            let query = if shared_query {
                shared.get_or_insert(query);
                None
            } else {
                Some(query)
            };
            per_trial.push((t.trial, query, side(&gf, &grows, &t.gallery)));
        }
    }
    progress.finish_and_clear();
    let seconds_features = start.elapsed().as_secs_f64();
    let eval_protocol = match dataset {
        Dataset::Sysu => EvalProtocol::Sysu,
        Dataset::Regdb => EvalProtocol::Regdb,
        Dataset::Llcm => EvalProtocol::Llcm,
    };
    let options = TrialOptions {
        protocol: eval_protocol,
        alpha: a.alpha.unwrap_or_else(|| {
            reference_alpha(eval_protocol, direction == Direction::InfraredToVisible)
        }),
        max_rank: 20,
        rerank: a.rerank.then(RerankParams::default),
        per_query: false,
    };
    let inputs: Vec<Trial> = per_trial
        .iter()
        .map(|(t, q, g)| Trial {
            trial: *t,
            query: q.as_ref().map(|q| (q.features(), q.labels())),
            gallery: g.features(),
            gallery_labels: g.labels(),
        })
        .collect();
    let eval_start = Instant::now();
    let report = evaluate_trials(
        shared.as_ref().map(|s| (s.features(), s.labels())),
        &inputs,
        &options,
    )?;
    let seconds_evaluation = eval_start.elapsed().as_secs_f64();
    if let Some(dir) = &a.save_features {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        if let Some(q) = &shared {
            q.save(dir, "query")?;
        }
        for (t, q, g) in &per_trial {
            if let Some(q) = q {
                q.save(dir, &format!("trial{t}_query"))?;
            }
            g.save(dir, &format!("trial{t}_gallery"))?;
        }
    }
    let summary = Summary {
        dataset: dataset.to_string(),
        mode: format!("{:?}", protocol.mode).to_lowercase(),
        shot: format!("{:?}", protocol.shot).to_lowercase(),
        direction: match direction {
            Direction::InfraredToVisible => "infrared-to-visible",
            Direction::VisibleToInfrared => "visible-to-infrared",
        }
        .to_string(),
        flip: !a.no_flip,
        checkpoints: groups
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect(),
        network: network.expect("at least one trial"),
        images: total,
        seconds_features,
        images_per_second: total as f64 / seconds_features.max(1e-9),
        seconds_evaluation,
        report: &report,
    };
    if a.json {
        return print_json(&summary);
    }
    println!(
        "{} {} ({}-shot, {}), {} trial(s), flip {}",
        summary.dataset,
        summary.mode,
        summary.shot,
        summary.direction,
        trials.len(),
        if summary.flip { "on" } else { "off" }
    );
    print!("{}", trial_table(&report));
    let fused = report.score(Score::Fused);
    println!(
        "headline (fused): Rank-1 {:.2}%  mAP {:.2}%  mINP {:.2}%",
        100.0 * fused.mean.cmc[0],
        100.0 * fused.mean.map,
        100.0 * fused.mean.minp
    );
    println!(
        "features of {total} images in {seconds_features:.1} s ({:.1} images/s); evaluation {seconds_evaluation:.2} s",
        summary.images_per_second
    );
    Ok(())
}
