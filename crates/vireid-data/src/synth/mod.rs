//! A synthetic cross-spectral re-ID dataset, written in the real on-disk layout of SYSU-MM01,
//! RegDB or LLCM.
//!
//! People are built from materials. A material has an RGB reflectance and its own infrared
//! response, a linear function of that reflectance with material-specific weights and offset,
//! so an infrared view is a different, per-material linear function of the same scene: exactly
//! the relation Random Linear Enhancement models. Identity lives in body shape, clothing
//! layout and which materials are worn; colour alone does not survive into the infrared view.
//! Pose and position jitter, camera colour casts and gains, background clutter and sensor
//! noise keep it from being trivial. Structure is irregular like the real data: people miss
//! some cameras, image counts vary, id numbers have gaps.

mod config;
mod layouts;
mod render;

pub use config::{SynthConfig, MARKER};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use config::people_count;
use layouts::{plan_llcm, plan_regdb, plan_sysu};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use render::{render, Material, Person, View};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What was written.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SynthReport {
    pub dataset: Dataset,
    pub root: PathBuf,
    pub ids: usize,
    pub train_ids: usize,
    pub test_ids: usize,
    pub visible_images: usize,
    pub infrared_images: usize,
}

/// Writes the dataset under `root`; `progress(finished, total)` is called as images are written.
pub fn generate(
    root: &Path,
    cfg: &SynthConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SynthReport> {
    cfg.validate()?;
    let replacing = check_destination(root, cfg.replace)?;
    // Written beside the destination and renamed into place when whole: a killed run leaves
    // only this folder, which the next run removes, and never a half-made dataset.
    let staging = staging_path(root);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| DataError::io(&staging, e))?;
    }
    let written = write_dataset(&staging, cfg, progress).and_then(|report| {
        let marker = serde_json::json!({
            "written_by": "vireid synth",
            "dataset": cfg.dataset,
            "ids": cfg.ids,
            "seed": cfg.seed,
            "size": cfg.size,
            "images_per_camera": cfg.images_per_camera,
            "noise": cfg.noise,
            "test_ids": report.test_ids,
        });
        let path = staging.join(MARKER);
        let text = serde_json::to_string_pretty(&marker).expect("the marker serialises");
        std::fs::write(&path, text).map_err(|e| DataError::io(&path, e))?;
        Ok(report)
    });
    let mut report = match written {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if replacing {
        std::fs::remove_dir_all(root).map_err(|e| DataError::io(root, e))?;
    } else if root.exists() {
        std::fs::remove_dir(root).map_err(|e| DataError::io(root, e))?;
    }
    std::fs::rename(&staging, root).map_err(|e| DataError::io(root, e))?;
    report.root = root.to_path_buf();
    Ok(report)
}

/// Whether `root` holds a dataset to replace; an error when it holds anything else (or a
/// generated dataset that may not be replaced). Missing and empty folders are fine.
fn check_destination(root: &Path, replace: bool) -> Result<bool> {
    if !root.exists() {
        return Ok(false);
    }
    let mut entries = std::fs::read_dir(root).map_err(|e| DataError::io(root, e))?;
    if entries.next().is_none() {
        return Ok(false);
    }
    if !root.join(MARKER).is_file() {
        return Err(DataError::Protocol(format!(
            "{} is not empty and holds no dataset written by vireid synth; choose an empty \
             or new folder",
            root.display()
        )));
    }
    if !replace {
        return Err(DataError::Protocol(format!(
            "{} already holds a synthetic dataset; pass --replace to write a new one in its \
             place, or choose another folder",
            root.display()
        )));
    }
    Ok(true)
}

/// The sibling folder a dataset is written into before it is renamed to `root`.
fn staging_path(root: &Path) -> PathBuf {
    let name = root
        .file_name()
        .map_or_else(|| "dataset".into(), |n| n.to_string_lossy().into_owned());
    let parent = root
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parent.join(format!(".{name}.synth-partial"))
}

fn write_dataset(
    root: &Path,
    cfg: &SynthConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SynthReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let palette = render::palette(&mut rng);
    // Background clutter has materials of its own, less textured than clothing: a person's
    // clothes, not the scenery, should be what tells people apart.
    let scenery: Vec<Material> = (0..12)
        .map(|_| {
            let mut m = Material::random(&mut rng);
            m.texture_amp *= 0.5;
            m
        })
        .collect();
    let people: Vec<Person> = (0..people_count(cfg))
        .map(|_| Person::random(&mut rng, &palette))
        .collect();
    let plan = match cfg.dataset {
        Dataset::Sysu => plan_sysu(cfg, &mut rng),
        Dataset::Regdb => plan_regdb(cfg, &mut rng),
        Dataset::Llcm => plan_llcm(cfg, &mut rng),
    };
    let mkdir = |d: &Path| std::fs::create_dir_all(d).map_err(|e| DataError::io(d, e));
    mkdir(root)?;
    for d in &plan.dirs {
        mkdir(&root.join(d))?;
    }
    for (rel, text) in &plan.text_files {
        let path = root.join(rel);
        mkdir(path.parent().expect("relative file has a folder"))?;
        std::fs::write(&path, text).map_err(|e| DataError::io(&path, e))?;
    }
    plan.jobs.par_iter().try_for_each(|job| {
        let mut rng = ChaCha8Rng::seed_from_u64(job.seed);
        let cam = &plan.cams[job.cam];
        let clutter = (0..rng.random_range(0..4))
            .map(|_| {
                let (x, y) = (
                    rng.random_range(-0.2..0.9f32),
                    rng.random_range(-0.2..0.9f32),
                );
                let (w, h) = (rng.random_range(0.1..0.5f32), rng.random_range(0.1..0.5f32));
                (
                    [x, y, x + w, y + h],
                    scenery[rng.random_range(0..scenery.len())],
                )
            })
            .collect();
        let brightness = rng.random_range(0.8..1.15f32);
        let view = View {
            cx: rng.random_range(0.42..0.58),
            top: rng.random_range(0.02..0.08),
            scale: people[job.person].height * rng.random_range(0.93..1.03),
            arm_swing: rng.random_range(-0.15..0.15),
            leg_spread: rng.random_range(-0.02..0.12),
            light: cam.light.map(|l| l * brightness),
            ir_gain: cam.ir_gain * rng.random_range(0.9..1.1),
            ir_bias: rng.random_range(-0.05..0.05),
            background: cam.background,
            clutter,
        };
        let single_channel = cam.infrared && cfg.dataset == Dataset::Regdb;
        let channels = if single_channel { 1 } else { 3 };
        let pixels = render(
            &people[job.person],
            &view,
            cam.infrared,
            cam.size,
            cfg.noise,
            &mut rng,
            channels,
        );
        let path = root.join(&job.path);
        mkdir(path.parent().expect("image has a folder"))?;
        let color = if single_channel {
            image::ExtendedColorType::L8
        } else {
            image::ExtendedColorType::Rgb8
        };
        let (w, h) = (cam.size.width, cam.size.height);
        let file = std::fs::File::create(&path).map_err(|e| DataError::io(&path, e))?;
        let mut writer = std::io::BufWriter::new(file);
        let encoded = if path.extension().is_some_and(|e| e == "bmp") {
            image::codecs::bmp::BmpEncoder::new(&mut writer).encode(&pixels, w, h, color)
        } else {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut writer, 92)
                .encode(&pixels, w, h, color)
        };
        encoded.map_err(|e| DataError::Image {
            path: path.clone(),
            message: e.to_string(),
        })?;
        progress(1, plan.jobs.len());
        Ok(())
    })?;
    let infrared_images = plan
        .jobs
        .iter()
        .filter(|j| plan.cams[j.cam].infrared)
        .count();
    Ok(SynthReport {
        dataset: cfg.dataset,
        root: root.to_path_buf(),
        ids: people.len(),
        train_ids: plan.train_ids,
        test_ids: plan.test_ids,
        visible_images: plan.jobs.len() - infrared_images,
        infrared_images,
    })
}
