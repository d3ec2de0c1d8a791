//! The features folder: what `vireid test --save-features` writes and `vireid metrics
//! --features` reads, in one place. Per side (query or gallery) four `.npy` files named
//! `<prefix>_{pool,bn,ids,cams}.npy`: float32 N x D features, int64 ids and cameras. The
//! prefixes: `query` for a query every trial shares (SYSU-MM01, LLCM), `trial<T>_query` for a
//! trial's own query (RegDB), `trial<T>_gallery` for each trial's gallery.

use crate::npy::{read_labels, read_matrix, write_atomic};
use anyhow::{bail, Context, Result};
use ndarray::Array1;
use std::path::{Path, PathBuf};
use vireid_data::Dataset;
pub use vireid_eval::{Side, TrialSides};

fn file(dir: &Path, prefix: &str, name: &str) -> PathBuf {
    dir.join(format!("{prefix}_{name}.npy"))
}

/// The prefix of a shared query, of trial `t`'s own query, and of its gallery.
pub const SHARED_QUERY: &str = "query";
pub fn trial_query(t: u32) -> String {
    format!("trial{t}_query")
}
pub fn trial_gallery(t: u32) -> String {
    format!("trial{t}_gallery")
}

/// Writes one side's files (each atomically; no cameras file when the cameras are unknown).
pub fn write_side(dir: &Path, prefix: &str, side: &Side) -> Result<()> {
    write_atomic(&file(dir, prefix, "pool"), &side.pool)?;
    write_atomic(&file(dir, prefix, "bn"), &side.bn)?;
    write_atomic(&file(dir, prefix, "ids"), &Array1::from(side.ids.clone()))?;
    if let Some(cams) = &side.cams {
        write_atomic(&file(dir, prefix, "cams"), &Array1::from(cams.clone()))?;
    }
    Ok(())
}

/// A side's four files; the cameras may be absent only where `protocol` does not use them.
pub fn read_side(dir: &Path, prefix: &str, protocol: Dataset) -> Result<Side> {
    let cams = file(dir, prefix, "cams");
    if !cams.exists() && protocol.needs_cameras() {
        bail!(
            "{} is missing: the {} protocol needs the camera of every image",
            cams.display(),
            protocol.name()
        );
    }
    Ok(Side {
        pool: read_matrix(&file(dir, prefix, "pool"), "pool features")?.into_f32(),
        bn: read_matrix(&file(dir, prefix, "bn"), "bn features")?.into_f32(),
        ids: read_labels(&file(dir, prefix, "ids"), "ids")?,
        cams: if cams.exists() {
            Some(read_labels(&cams, "cameras")?)
        } else {
            None
        },
    })
}

/// Every side in `dir`: the shared query, if any, and each trial's sides, trials ascending.
pub fn read(dir: &Path, protocol: Dataset) -> Result<(Option<Side>, Vec<TrialSides>)> {
    let trials = trial_numbers(dir)?;
    let shared = if file(dir, SHARED_QUERY, "pool").exists() {
        Some(read_side(dir, SHARED_QUERY, protocol)?)
    } else {
        None
    };
    let mut sides = Vec::new();
    for &t in &trials {
        let query = if file(dir, &trial_query(t), "pool").exists() {
            Some(read_side(dir, &trial_query(t), protocol)?)
        } else if shared.is_none() {
            bail!(
                "{}: trial {t} has no query (need query_pool.npy or trial{t}_query_pool.npy)",
                dir.display()
            );
        } else {
            None
        };
        sides.push((t, query, read_side(dir, &trial_gallery(t), protocol)?));
    }
    Ok((shared, sides))
}

/// Trial numbers present in the folder, ascending.
fn trial_numbers(dir: &Path) -> Result<Vec<u32>> {
    let mut trials = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix("trial") {
            if let Some((num, "gallery_pool.npy")) = rest.split_once('_') {
                if let Ok(t) = num.parse() {
                    trials.push(t);
                }
            }
        }
    }
    trials.sort_unstable();
    if trials.is_empty() {
        bail!("{}: no trial<T>_gallery_pool.npy files", dir.display());
    }
    Ok(trials)
}
