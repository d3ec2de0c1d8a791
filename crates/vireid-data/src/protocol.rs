//! Query/gallery splits shared by the three datasets: the types, and the per-trial gallery
//! draw that SYSU-MM01 and LLCM have in common. Each layout module builds its splits from
//! these; [`crate::splits`] picks the module.

use crate::dataset::{Dataset, Direction, Mode, Shot};
use crate::error::Result;
use crate::listing::{id_folder, require_dir, sorted_entries};
use crate::pyrandom::PyRandom;
use serde::Serialize;
use std::path::Path;

/// A fully specified evaluation protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    pub dataset: Dataset,
    pub mode: Mode,
    pub shot: Shot,
    pub direction: Direction,
}

impl Protocol {
    /// The reference's test-script direction for a dataset (see [`crate::DatasetSpec`]).
    pub fn default_direction(dataset: Dataset) -> Direction {
        dataset.spec().test_direction
    }

    /// The trial numbers the benchmark uses: 0..=9, except RegDB's 1..=10.
    pub fn default_trials(dataset: Dataset) -> Vec<u32> {
        dataset.test_trials()
    }
}

/// One image of a query or gallery list, with its path relative to the dataset root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub path: String,
    pub id: u32,
    pub cam: u32,
}

/// The gallery (and, for RegDB, the query) of one trial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrialSplit {
    pub trial: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<Vec<Entry>>,
    pub gallery: Vec<Entry>,
}

/// A protocol's query and per-trial galleries, in the reference's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Split {
    /// The query, when it does not change with the trial (SYSU-MM01, LLCM).
    pub query: Option<Vec<Entry>>,
    pub trials: Vec<TrialSplit>,
    /// Things the user should know (a multi-shot folder with fewer than ten images, ...).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Split {
    /// The query of a trial, whether it is shared or per trial.
    pub fn query_of<'a>(&'a self, trial: &'a TrialSplit) -> &'a [Entry] {
        trial
            .query
            .as_deref()
            .or(self.query.as_deref())
            .unwrap_or(&[])
    }
}

/// All images of one person in one camera, in sorted order.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: u32,
    pub cam: u32,
    pub files: Vec<String>,
}

/// A camera folder (relative to the root) and the camera number the protocol gives it.
pub struct Camera {
    pub dir: &'static str,
    pub cam: u32,
}

/// Lists `root/camera/NNNN/*` for each id (sorted as the reference sorts its `%04d` names)
/// and each camera in order, skipping person folders that do not exist as the reference
/// does. A missing camera folder means a wrong root, so it is an error.
pub(crate) fn collect_groups(root: &Path, ids: &[u32], cameras: &[Camera]) -> Result<Vec<Group>> {
    for camera in cameras {
        require_dir(&root.join(camera.dir), "camera folder")?;
    }
    let mut names: Vec<(String, u32)> = ids.iter().map(|&id| (id_folder(id), id)).collect();
    names.sort();
    let mut groups = Vec::new();
    for (name, id) in &names {
        for camera in cameras {
            let dir = root.join(camera.dir).join(name);
            if !dir.is_dir() {
                continue;
            }
            let files = sorted_entries(&dir)?
                .into_iter()
                .map(|f| format!("{}/{}/{}", camera.dir, name, f))
                .collect();
            groups.push(Group {
                id: *id,
                cam: camera.cam,
                files,
            });
        }
    }
    Ok(groups)
}

/// Every image of every group, in order: the query lists of SYSU-MM01 and LLCM.
pub(crate) fn all_entries(groups: &[Group]) -> Vec<Entry> {
    groups
        .iter()
        .flat_map(|g| {
            g.files.iter().map(move |f| Entry {
                path: f.clone(),
                id: g.id,
                cam: g.cam,
            })
        })
        .collect()
}

/// The gallery of one trial: `random.seed(trial)`, then one `random.choice` (single-shot) or
/// one `random.sample(files, 10)` (multi-shot) per group in order.
pub(crate) fn draw_gallery(
    groups: &[Group],
    trial: u32,
    shot: Shot,
    warnings: &mut Vec<String>,
) -> Vec<Entry> {
    let mut rng = PyRandom::new(i64::from(trial));
    let mut gallery = Vec::new();
    let entry = |g: &Group, f: &String| Entry {
        path: f.clone(),
        id: g.id,
        cam: g.cam,
    };
    for g in groups {
        if g.files.is_empty() {
            // Python's random.choice would raise here; an empty folder contributes nothing.
            let msg = format!(
                "person {:04} has an empty folder in camera {}: skipped",
                g.id, g.cam
            );
            if !warnings.contains(&msg) {
                warnings.push(msg);
            }
            continue;
        }
        match shot {
            Shot::Single => {
                let f = rng.choice(&g.files).expect("non-empty");
                gallery.push(entry(g, f));
            }
            Shot::Multi => match rng.sample_indices(g.files.len(), 10) {
                Some(idx) => gallery.extend(idx.into_iter().map(|i| entry(g, &g.files[i]))),
                None => {
                    let msg = format!(
                        "person {:04}, camera {}: {} images, fewer than the 10 of multi-shot; all are used, in sorted order",
                        g.id,
                        g.cam,
                        g.files.len()
                    );
                    if !warnings.contains(&msg) {
                        warnings.push(msg);
                    }
                    gallery.extend(g.files.iter().map(|f| entry(g, f)));
                }
            },
        }
    }
    gallery
}

/// The shared shape of SYSU-MM01 and LLCM splits: the query once, a drawn gallery per trial.
pub(crate) fn shared_query_split(
    query_groups: &[Group],
    gallery_groups: &[Group],
    shot: Shot,
    trials: &[u32],
) -> Split {
    let mut warnings = Vec::new();
    let trials = trials
        .iter()
        .map(|&t| TrialSplit {
            trial: t,
            query: None,
            gallery: draw_gallery(gallery_groups, t, shot, &mut warnings),
        })
        .collect();
    Split {
        query: Some(all_entries(query_groups)),
        trials,
        warnings,
    }
}
