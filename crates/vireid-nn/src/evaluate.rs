//! The reference's test protocol on a network: features of a protocol's query and galleries
//! (test transform, flip), each image once however many trials share it, and the four scores
//! over the trials. Used by `vireid test` and by training's periodic evaluation.

use crate::error::{NnError, Result};
use crate::features::{extract_with, ExtractOptions, FeatureSet, Geometry};
use crate::network::{Modality, PartNet};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::Path;
use tch::Device;
use vireid_augment::test_time::to_normalized_chw;
use vireid_data::image_io::{ImageResizer, Size};
use vireid_data::{Dataset, Direction, Entry, Split, TrialSplit};
use vireid_eval::{
    evaluate_trials, reference_alpha, EvalProtocol, Features, Labels, RerankParams, Trial,
    TrialOptions, TrialReport,
};

/// The test transform's normalisation (ImageNet's).
pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Features and labels of one side (query or gallery) of a trial.
pub struct Side {
    pub pool: Array2<f32>,
    pub bn: Array2<f32>,
    pub ids: Vec<i64>,
    pub cams: Vec<i64>,
}

impl Side {
    pub fn features(&self) -> Features<'_> {
        Features {
            pool: self.pool.view(),
            bn: self.bn.view(),
        }
    }

    pub fn labels(&self) -> Labels<'_> {
        Labels {
            ids: &self.ids,
            cams: Some(&self.cams),
        }
    }
}

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

/// Test transform and network features of `images` under `root`, batch by batch; decoding and
/// resizing run on all cores (rayon), each worker with its own resizer. `progress(n)` is
/// called with the number of images just finished.
pub fn image_features(
    net: &PartNet,
    root: &Path,
    images: &[&Entry],
    modality: Modality,
    settings: &ExtractionSettings,
    progress: &mut dyn FnMut(usize),
) -> Result<FeatureSet> {
    let size = settings.size;
    let len = size.rgb_len();
    let geometry = Geometry {
        channels: 3,
        height: size.height as usize,
        width: size.width as usize,
    };
    let load = |first: usize, slots: &mut [f32]| -> Result<()> {
        slots
            .par_chunks_mut(len)
            .zip(images[first..].par_iter())
            .try_for_each_init(
                || (ImageResizer::new(), vec![0u8; len]),
                |(resizer, rgb), (slot, entry)| {
                    resizer
                        .load_into(&root.join(&entry.path), size, rgb)
                        .map_err(|e| NnError::Input(e.to_string()))?;
                    to_normalized_chw(rgb, MEAN, STD, slot);
                    Ok(())
                },
            )
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
        cams: entries.iter().map(|e| i64::from(e.cam)).collect(),
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

/// One trial's features: its own query (RegDB) or none (the shared one), and its gallery.
pub type TrialSides = (u32, Option<Side>, Side);

/// Features of the trials `members` (indices into `split.trials`) with one network. With
/// `shared_query`, the query (the same for every trial) is returned once, apart.
pub fn trial_features(
    net: &PartNet,
    images: ProtocolImages<'_>,
    members: &[usize],
    settings: &ExtractionSettings,
    shared_query: bool,
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
    let qf = image_features(net, root, &queries, query_modality, settings, progress)?;
    let gf = image_features(net, root, &galleries, gallery_modality, settings, progress)?;
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

/// The evaluation protocol of a dataset.
pub fn eval_protocol(dataset: Dataset) -> EvalProtocol {
    match dataset {
        Dataset::Sysu => EvalProtocol::Sysu,
        Dataset::Regdb => EvalProtocol::Regdb,
        Dataset::Llcm => EvalProtocol::Llcm,
    }
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
    let protocol = eval_protocol(dataset);
    let options = TrialOptions {
        protocol,
        alpha: alpha.unwrap_or_else(|| {
            reference_alpha(protocol, direction == Direction::InfraredToVisible)
        }),
        max_rank: 20,
        rerank: rerank.then(RerankParams::default),
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
    evaluate_trials(
        shared.map(|s| (s.features(), s.labels())),
        &inputs,
        &options,
    )
    .map_err(|e| NnError::Input(e.to_string()))
}
