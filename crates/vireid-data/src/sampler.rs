//! The identity sampler of docs/reference-behaviour.md (Sampler): each batch holds B distinct
//! people, and K visible and K thermal images of each, drawn with replacement within the person.

use crate::error::{DataError, Result};
use rand::seq::index::sample;
use rand::Rng;
use std::collections::BTreeMap;

/// One batch: positions into the visible and thermal image lists, and the labels, person by
/// person (person 1's K images, then person 2's, ...). The network sees the visible images
/// then the thermal ones, so `labels` serves both halves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub visible: Vec<usize>,
    pub thermal: Vec<usize>,
    pub labels: Vec<i64>,
}

/// Draws the batches of an epoch.
#[derive(Debug, Clone)]
pub struct IdentitySampler {
    /// Each person's label and the positions of its visible and thermal images.
    people: Vec<(i64, Vec<usize>, Vec<usize>)>,
    per_batch: usize,
    per_person: usize,
    batches: usize,
}

impl IdentitySampler {
    /// `per_batch` people (B) with `per_person` images per modality (K) a batch. An epoch has
    /// floor(N / (B K)) + 1 batches, N the larger modality's image count, as the reference.
    pub fn new(
        visible_labels: &[i64],
        thermal_labels: &[i64],
        per_batch: usize,
        per_person: usize,
    ) -> Result<Self> {
        if per_batch == 0 || per_person == 0 {
            return Err(DataError::Protocol(format!(
                "a batch needs at least one person and one image per person, got B = {per_batch}, K = {per_person}"
            )));
        }
        if visible_labels.is_empty() || thermal_labels.is_empty() {
            return Err(DataError::Protocol(format!(
                "the training set has {} visible and {} thermal images; both modalities are needed",
                visible_labels.len(),
                thermal_labels.len()
            )));
        }
        let mut by_label: BTreeMap<i64, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
        for (i, &l) in visible_labels.iter().enumerate() {
            by_label.entry(l).or_default().0.push(i);
        }
        for (i, &l) in thermal_labels.iter().enumerate() {
            by_label.entry(l).or_default().1.push(i);
        }
        // The reference indexes thermal positions by visible labels and crashes on a person
        // seen in one modality only; a batch with such a person has nothing to pair.
        let one_sided: Vec<String> = by_label
            .iter()
            .filter(|(_, (v, t))| v.is_empty() || t.is_empty())
            .map(|(l, (v, _))| {
                format!(
                    "{l} ({})",
                    if v.is_empty() {
                        "thermal only"
                    } else {
                        "visible only"
                    }
                )
            })
            .collect();
        if !one_sided.is_empty() {
            return Err(DataError::Protocol(format!(
                "{} training label(s) have images in one modality only: {}{}",
                one_sided.len(),
                one_sided
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                if one_sided.len() > 10 { ", ..." } else { "" }
            )));
        }
        if by_label.len() < per_batch {
            return Err(DataError::Protocol(format!(
                "a batch takes {per_batch} distinct people but the training set has {}",
                by_label.len()
            )));
        }
        let n = visible_labels.len().max(thermal_labels.len());
        Ok(Self {
            people: by_label.into_iter().map(|(l, (v, t))| (l, v, t)).collect(),
            per_batch,
            per_person,
            batches: n / (per_batch * per_person) + 1,
        })
    }

    pub fn batches_per_epoch(&self) -> usize {
        self.batches
    }

    /// One batch: B people without replacement, K images of each modality with replacement.
    pub fn batch(&self, rng: &mut impl Rng) -> Batch {
        let (b, k) = (self.per_batch, self.per_person);
        let mut batch = Batch {
            visible: Vec::with_capacity(b * k),
            thermal: Vec::with_capacity(b * k),
            labels: Vec::with_capacity(b * k),
        };
        for p in sample(rng, self.people.len(), b) {
            let (label, vis, th) = &self.people[p];
            for _ in 0..k {
                batch.visible.push(vis[rng.random_range(0..vis.len())]);
            }
            for _ in 0..k {
                batch.thermal.push(th[rng.random_range(0..th.len())]);
            }
            batch.labels.extend(std::iter::repeat_n(*label, k));
        }
        batch
    }

    /// The batches of one epoch.
    pub fn epoch(&self, rng: &mut impl Rng) -> Vec<Batch> {
        (0..self.batches).map(|_| self.batch(rng)).collect()
    }
}
