//! The reference's test protocol on a network: features of a protocol's query and galleries
//! (test transform, flip), each image once however many trials share it, and the four scores
//! over the trials. Used by `vireid test` and by training's periodic evaluation.

use crate::error::{EngineError, Result};
use crate::progress::Progress;
use ndarray::ArrayView2;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::Device;
use vireid_augment::test_time::to_normalized_chw;
use vireid_data::image_io::{ImageResizer, Size};
use vireid_data::{Dataset, Direction, Entry, Split, TrialSplit};
use vireid_eval::{evaluate_trials, trial_inputs, RerankParams, TrialOptions, TrialReport};
pub use vireid_eval::{Side, TrialSides};
use vireid_nn::features::{extract_with, ExtractOptions, FeatureSet, Geometry};
use vireid_nn::{weights, Modality, NetConfig, PartNet};

/// The test transform's normalisation (ImageNet's).
pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// How images become features.
#[derive(Debug, Clone, Copy)]
pub struct ExtractionSettings {
    pub size: Size,
    pub flip: bool,
    pub batch: usize,
    pub device: Device,
}

/// The unique images of a list (galleries of different trials share many) and, for each
/// path, its row among them.
pub fn unique<'a>(
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

/// Test images decoded and resized once and kept in memory: training's periodic evaluations
/// see the same images every time, and decoding them (JPEG, then Lanczos) again each time is
/// work the network waits for. Keyed by the image's path under the root; images stop being
/// added once the budget is spent (the rest are decoded each time).
#[derive(Debug)]
pub struct DecodedImages {
    size: Option<Size>,
    kept: HashMap<String, Vec<u8>>,
    bytes: usize,
    budget: usize,
}

impl Default for DecodedImages {
    /// Keeps up to 2 GiB (SYSU-MM01's query and one gallery at 288 x 144 are 4,104 images,
    /// 510 MB).
    fn default() -> Self {
        Self::with_budget(2 << 30)
    }
}

impl DecodedImages {
    /// Keeps at most `bytes` of decoded images.
    pub fn with_budget(bytes: usize) -> Self {
        DecodedImages {
            size: None,
            kept: HashMap::new(),
            bytes: 0,
            budget: bytes,
        }
    }

    /// How many images are kept.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// Forgets everything when the images are now wanted at another size.
    fn at_size(&mut self, size: Size) {
        if self.size != Some(size) {
            self.kept.clear();
            self.bytes = 0;
            self.size = Some(size);
        }
    }

    fn keep(&mut self, path: &str, rgb: Vec<u8>) {
        if self.bytes + rgb.len() <= self.budget {
            self.bytes += rgb.len();
            self.kept.insert(path.to_string(), rgb);
        }
    }
}

/// One rayon worker's test transform: its resizer and the RGB bytes of the image in hand.
pub(crate) struct TestTransform {
    resizer: ImageResizer,
    rgb: Vec<u8>,
}

impl TestTransform {
    pub(crate) fn new(size: Size) -> Self {
        TestTransform {
            resizer: ImageResizer::new(),
            rgb: vec![0u8; size.rgb_len()],
        }
    }

    /// The image at `path` decoded, resized to `size` and normalised into `slot` (CHW
    /// floats); its resized RGB bytes.
    pub(crate) fn apply(
        &mut self,
        path: &Path,
        size: Size,
        slot: &mut [f32],
    ) -> vireid_data::Result<&[u8]> {
        self.resizer.load_into(path, size, &mut self.rgb)?;
        to_normalized_chw(&self.rgb, MEAN, STD, slot);
        Ok(&self.rgb)
    }
}

/// Test transform and network features of `images` under `root`, batch by batch; decoding and
/// resizing run on all cores (rayon), each worker with its own resizer, while the network
/// runs on the batch before. With `decoded`, images it holds are not decoded again and the
/// others are added to it. `progress(n)` is called with the number of images just finished.
pub fn image_features(
    net: &PartNet,
    root: &Path,
    images: &[&Entry],
    modality: Modality,
    settings: &ExtractionSettings,
    mut decoded: Option<&mut DecodedImages>,
    progress: &mut dyn FnMut(usize),
) -> Result<FeatureSet> {
    let size = settings.size;
    let len = size.rgb_len();
    let geometry = Geometry {
        channels: 3,
        height: size.height as usize,
        width: size.width as usize,
    };
    if let Some(d) = decoded.as_deref_mut() {
        d.at_size(size);
    }
    let load = |first: usize, slots: &mut [f32]| -> Result<()> {
        let store = decoded.as_deref();
        let room = store.is_some_and(|d| d.bytes < d.budget);
        // Each image normalised from its kept bytes, or decoded (and returned to be kept).
        let fresh: Vec<Option<Vec<u8>>> = slots
            .par_chunks_mut(len)
            .zip(images[first..].par_iter())
            .map_init(
                || TestTransform::new(size),
                |t, (slot, entry)| -> Result<Option<Vec<u8>>> {
                    if let Some(kept) = store.and_then(|d| d.kept.get(&entry.path)) {
                        to_normalized_chw(kept, MEAN, STD, slot);
                        return Ok(None);
                    }
                    let rgb = t.apply(&root.join(&entry.path), size, slot)?;
                    Ok(room.then(|| rgb.to_vec()))
                },
            )
            .collect::<Result<_>>()?;
        if let Some(d) = decoded.as_deref_mut() {
            for (entry, rgb) in images[first..].iter().zip(fresh) {
                if let Some(rgb) = rgb {
                    d.keep(&entry.path, rgb);
                }
            }
        }
        Ok(())
    };
    let options = ExtractOptions {
        device: settings.device,
        modality,
        flip: settings.flip,
        batch: settings.batch,
    };
    let mut last = 0;
    extract_with(net, images.len(), geometry, &options, load, |done| {
        progress(done - last);
        last = done;
    })
}

/// The rows of `entries` out of the features of their unique images.
pub fn side(features: &FeatureSet, rows: &HashMap<&str, usize>, entries: &[Entry]) -> Side {
    let shape = (features.rows(), features.dim);
    let pool = ArrayView2::from_shape(shape, &features.pool[..]).expect("rows x dim");
    let bn = ArrayView2::from_shape(shape, &features.bn[..]).expect("rows x dim");
    let index: Vec<usize> = entries.iter().map(|e| rows[e.path.as_str()]).collect();
    Side {
        pool: pool.select(ndarray::Axis(0), &index),
        bn: bn.select(ndarray::Axis(0), &index),
        ids: entries.iter().map(|e| i64::from(e.id)).collect(),
        cams: Some(entries.iter().map(|e| i64::from(e.cam)).collect()),
    }
}

/// Query and gallery modalities of a direction.
pub fn modalities(direction: Direction) -> (Modality, Modality) {
    match direction {
        Direction::InfraredToVisible => (Modality::Thermal, Modality::Visible),
        Direction::VisibleToInfrared => (Modality::Visible, Modality::Thermal),
    }
}

/// Images the features of `trials` (indices into `split.trials`) need: (query, gallery).
pub fn image_count(split: &Split, trials: &[usize]) -> (usize, usize) {
    let q = unique(
        trials
            .iter()
            .flat_map(|&i| split.query_of(&split.trials[i])),
    )
    .0;
    let g = unique(trials.iter().flat_map(|&i| &split.trials[i].gallery)).0;
    (q.len(), g.len())
}

/// A protocol's lists on disk.
#[derive(Clone, Copy)]
pub struct ProtocolImages<'a> {
    pub root: &'a Path,
    pub split: &'a Split,
    pub direction: Direction,
}

/// Features of the trials `members` (indices into `split.trials`) with one network. With
/// `shared_query`, the query (the same for every trial) is returned once, apart.
pub fn trial_features(
    net: &PartNet,
    images: ProtocolImages<'_>,
    members: &[usize],
    settings: &ExtractionSettings,
    shared_query: bool,
    mut decoded: Option<&mut DecodedImages>,
    progress: &mut dyn FnMut(usize),
) -> Result<(Option<Side>, Vec<TrialSides>)> {
    let ProtocolImages {
        root,
        split,
        direction,
    } = images;
    let (query_modality, gallery_modality) = modalities(direction);
    let (queries, qrows) = unique(
        members
            .iter()
            .flat_map(|&i| split.query_of(&split.trials[i])),
    );
    let (galleries, grows) = unique(members.iter().flat_map(|&i| &split.trials[i].gallery));
    let qf = image_features(
        net,
        root,
        &queries,
        query_modality,
        settings,
        decoded.as_deref_mut(),
        progress,
    )?;
    let gf = image_features(
        net,
        root,
        &galleries,
        gallery_modality,
        settings,
        decoded,
        progress,
    )?;
    let mut shared = None;
    let mut out = Vec::with_capacity(members.len());
    for &i in members {
        let t: &TrialSplit = &split.trials[i];
        let query = side(&qf, &qrows, split.query_of(t));
        let query = if shared_query {
            shared.get_or_insert(query);
            None
        } else {
            Some(query)
        };
        out.push((t.trial, query, side(&gf, &grows, &t.gallery)));
    }
    Ok((shared, out))
}

/// The four scores over the trials, with the reference's fusion weight unless `alpha`.
pub fn score_trials(
    dataset: Dataset,
    direction: Direction,
    shared: Option<&Side>,
    per_trial: &[TrialSides],
    alpha: Option<f32>,
    rerank: bool,
) -> Result<TrialReport> {
    let options = TrialOptions {
        protocol: dataset,
        alpha: alpha.unwrap_or_else(|| dataset.fused_alpha(direction)),
        max_rank: 20,
        rerank: rerank.then(RerankParams::default),
        per_query: false,
    };
    let inputs = trial_inputs(per_trial);
    Ok(evaluate_trials(
        shared.map(|s| (s.features(), s.labels())),
        &inputs,
        &options,
    )?)
}

/// A network's features of every trial of a protocol, and their scores.
pub struct Evaluation {
    /// The query's features when the trials share one (SYSU-MM01, LLCM).
    pub shared: Option<Side>,
    pub per_trial: Vec<TrialSides>,
    pub report: TrialReport,
}

/// Evaluates one network on every trial of `images.split` under `dataset`'s rules, with the
/// reference's fused weight; `decoded` keeps the decoded images for the next evaluation of
/// the same images (see [`DecodedImages`]).
pub fn evaluate_network(
    net: &PartNet,
    dataset: Dataset,
    images: ProtocolImages<'_>,
    settings: &ExtractionSettings,
    decoded: Option<&mut DecodedImages>,
    progress: &dyn Progress,
    phase: &str,
) -> Result<Evaluation> {
    let members: Vec<usize> = (0..images.split.trials.len()).collect();
    let (q, g) = image_count(images.split, &members);
    let tick = progress.phase(phase, (q + g) as u64);
    let shared_query = images.split.query.is_some();
    let (shared, per_trial) = trial_features(
        net,
        images,
        &members,
        settings,
        shared_query,
        decoded,
        &mut |n| tick.inc(n as u64),
    )?;
    drop(tick);
    let report = score_trials(
        dataset,
        images.direction,
        shared.as_ref(),
        &per_trial,
        None,
        false,
    )?;
    Ok(Evaluation {
        shared,
        per_trial,
        report,
    })
}

/// The reference's test protocol on checkpoints: which checkpoint scores which trial.
pub struct TestRequest<'a> {
    pub dataset: Dataset,
    pub images: ProtocolImages<'a>,
    /// A checkpoint path, or a pattern in which `{trial}` stands for each trial's number.
    pub checkpoint: &'a str,
    pub settings: ExtractionSettings,
    pub alpha: Option<f32>,
    pub rerank: bool,
}

/// What [`test_checkpoints`] found.
pub struct TestOutcome {
    pub evaluation: Evaluation,
    /// The checkpoints in trial order (one unless a `{trial}` pattern).
    pub checkpoints: Vec<PathBuf>,
    pub network: NetConfig,
    pub images: usize,
    pub seconds_features: f64,
    pub seconds_evaluation: f64,
}

/// Features of every trial with its checkpoint (trials sharing a checkpoint share one
/// extraction, and the query is extracted once when one checkpoint serves all), then the four
/// scores over the trials. The checkpoints must all be of one architecture.
pub fn test_checkpoints(request: &TestRequest<'_>, progress: &dyn Progress) -> Result<TestOutcome> {
    let split = request.images.split;
    // Trials grouped by checkpoint, in trial order: one group unless a {trial} pattern.
    let mut groups: Vec<(PathBuf, Vec<usize>)> = Vec::new();
    for (i, t) in split.trials.iter().enumerate() {
        let path = PathBuf::from(request.checkpoint.replace("{trial}", &t.trial.to_string()));
        match groups.iter_mut().find(|(p, _)| *p == path) {
            Some((_, members)) => members.push(i),
            None => groups.push((path, vec![i])),
        }
    }
    let shared_query = split.query.is_some() && groups.len() == 1;
    let total: usize = groups
        .iter()
        .map(|(_, members)| {
            let (q, g) = image_count(split, members);
            q + g
        })
        .sum();
    let tick = progress.phase("features", total as u64);
    let start = Instant::now();
    let mut shared: Option<Side> = None;
    let mut per_trial: Vec<TrialSides> = Vec::new();
    let mut network: Option<NetConfig> = None;
    for (path, members) in &groups {
        let (_vs, net, _ignored) = weights::load_network(path, request.settings.device)?;
        if let Some(previous) = network {
            if previous != net.config {
                return Err(EngineError::MixedCheckpoints {
                    path: path.clone(),
                    found: format!("{:?}", net.config),
                    previous: format!("{previous:?}"),
                });
            }
        }
        network = Some(net.config);
        let (q, trials) = trial_features(
            &net,
            request.images,
            members,
            &request.settings,
            shared_query,
            None,
            &mut |n| tick.inc(n as u64),
        )?;
        if q.is_some() {
            shared = q;
        }
        per_trial.extend(trials);
    }
    drop(tick);
    let seconds_features = start.elapsed().as_secs_f64();
    let eval_start = Instant::now();
    let report = score_trials(
        request.dataset,
        request.images.direction,
        shared.as_ref(),
        &per_trial,
        request.alpha,
        request.rerank,
    )?;
    Ok(TestOutcome {
        evaluation: Evaluation {
            shared,
            per_trial,
            report,
        },
        checkpoints: groups.into_iter().map(|(p, _)| p).collect(),
        network: network.expect("a split has at least one trial"),
        images: total,
        seconds_features,
        seconds_evaluation: eval_start.elapsed().as_secs_f64(),
    })
}
