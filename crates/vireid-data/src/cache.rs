//! The training cache: every training image decoded, resized and stored as one uint8
//! `N x H x W x 3` `.npy` per modality, with int64 labels beside it, exactly the files the
//! reference's `SYSUData` loader reads.
//!
//! Writing goes to temporary files that are renamed into place, and a manifest naming the
//! inputs is written last; a cache without a matching manifest (a killed run, changed
//! inputs) is rebuilt, one with a matching manifest makes `prepare` a no-op.

use crate::atomic::temp_path;
use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::image_io::{ImageResizer, Size};
use crate::trainset::{TrainItem, TrainSet};
use memmap2::Mmap;
use ndarray::{Array1, ArrayView4};
use ndarray_npy::ViewNpyExt;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bumped whenever the bytes a cache holds for the same inputs would change.
const CACHE_FORMAT: u32 = 1;

/// The four files of a cache and its manifest.
#[derive(Debug, Clone)]
pub struct CachePaths {
    pub visible_images: PathBuf,
    pub visible_labels: PathBuf,
    pub thermal_images: PathBuf,
    pub thermal_labels: PathBuf,
    pub manifest: PathBuf,
}

impl CachePaths {
    /// The four array files.
    pub fn data_files(&self) -> [&PathBuf; 4] {
        [
            &self.visible_images,
            &self.visible_labels,
            &self.thermal_images,
            &self.thermal_labels,
        ]
    }

    /// File names in `dir`. At the paper's 384 x 192, SYSU-MM01's are the reference's own
    /// (`train_rgb_resized_img192.npy`, ...); other sizes say `HxW` instead of `192`, and RegDB
    /// (per trial) and LLCM caches carry a prefix so that they never collide.
    pub fn new(dir: &Path, dataset: Dataset, trial: u32, size: Size) -> Self {
        let prefix = match dataset {
            Dataset::Sysu => String::new(),
            Dataset::Regdb => format!("regdb_trial{trial}_"),
            Dataset::Llcm => "llcm_".to_string(),
        };
        let tag = if size == Size::REFERENCE {
            "192".to_string()
        } else {
            size.to_string()
        };
        let f = |name: &str| dir.join(format!("{prefix}{name}{tag}.npy"));
        Self {
            visible_images: f("train_rgb_resized_img"),
            visible_labels: f("train_rgb_resized_label"),
            thermal_images: f("train_ir_resized_img"),
            thermal_labels: f("train_ir_resized_label"),
            manifest: dir.join(format!("{prefix}vireid_cache{tag}.json")),
        }
    }
}

/// What a cache was built from; equal manifests mean equal caches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub dataset: Dataset,
    pub size: Size,
    pub visible: usize,
    pub thermal: usize,
    /// SHA-256 over every input's path, label, byte length and modification time.
    pub inputs: String,
}

/// What `prepare` did.
#[derive(Debug, Clone, Serialize)]
pub struct PrepareReport {
    pub dataset: Dataset,
    pub size: Size,
    pub visible: usize,
    pub thermal: usize,
    pub classes: usize,
    /// True when a complete cache of the same inputs was already there.
    pub up_to_date: bool,
    pub files: Vec<PathBuf>,
}

impl PrepareReport {
    /// The report of a training set, before anything is written.
    pub fn new(set: &TrainSet, dataset: Dataset, size: Size) -> Self {
        Self {
            dataset,
            size,
            visible: set.visible.len(),
            thermal: set.thermal.len(),
            classes: set.num_classes(),
            up_to_date: false,
            files: Vec::new(),
        }
    }
}

fn fingerprint(root: &Path, set: &TrainSet) -> Result<String> {
    let stamp = |item: &TrainItem| -> Result<(u64, u128)> {
        let path = root.join(&item.path);
        let meta = std::fs::metadata(&path).map_err(|e| DataError::io(&path, e))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok((meta.len(), mtime))
    };
    let mut hasher = Sha256::new();
    for (tag, items) in [("visible", &set.visible), ("thermal", &set.thermal)] {
        let stamps: Vec<(u64, u128)> = items.par_iter().map(stamp).collect::<Result<_>>()?;
        hasher.update(tag.as_bytes());
        for (item, (len, mtime)) in items.iter().zip(stamps) {
            hasher.update(item.path.to_string_lossy().as_bytes());
            hasher.update([0]);
            hasher.update(item.label.to_le_bytes());
            hasher.update(len.to_le_bytes());
            hasher.update(mtime.to_le_bytes());
        }
    }
    Ok(format!("{:x}", hasher.finalize()))
}

fn read_manifest(path: &Path) -> Option<Manifest> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// [`crate::atomic::write_atomic`] with the file named in the error.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::atomic::write_atomic(path, bytes).map_err(|e| DataError::io(path, e))
}

/// Builds (or confirms) the training cache of `set` in `out_dir`.
///
/// `progress` is called with the number of images finished since the last call.
pub fn prepare(
    root: &Path,
    set: &TrainSet,
    dataset: Dataset,
    paths: &CachePaths,
    size: Size,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<PrepareReport> {
    check_size(size)?;
    if set.visible.is_empty() || set.thermal.is_empty() {
        return Err(DataError::Protocol(format!(
            "{}: the training set has {} visible and {} thermal images; both modalities are needed",
            root.display(),
            set.visible.len(),
            set.thermal.len()
        )));
    }
    let manifest = Manifest {
        format: CACHE_FORMAT,
        dataset,
        size,
        visible: set.visible.len(),
        thermal: set.thermal.len(),
        inputs: fingerprint(root, set)?,
    };
    let mut report = PrepareReport::new(set, dataset, size);
    report.files = vec![
        paths.visible_images.clone(),
        paths.visible_labels.clone(),
        paths.thermal_images.clone(),
        paths.thermal_labels.clone(),
    ];
    if read_manifest(&paths.manifest).as_ref() == Some(&manifest)
        && cache_complete(paths, &manifest)
    {
        report.up_to_date = true;
        return Ok(report);
    }
    // From here on the old cache is no longer described by any manifest.
    if paths.manifest.exists() {
        std::fs::remove_file(&paths.manifest).map_err(|e| DataError::io(&paths.manifest, e))?;
    }
    remove_stale_temporaries(paths);
    let written = write_modality(
        root,
        &set.visible,
        &paths.visible_images,
        &paths.visible_labels,
        size,
        progress,
    )
    .and_then(|()| {
        write_modality(
            root,
            &set.thermal,
            &paths.thermal_images,
            &paths.thermal_labels,
            size,
            progress,
        )
    })
    .and_then(|()| {
        let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
        write_atomic(&paths.manifest, text.as_bytes())
    });
    if written.is_err() {
        // Half a cache is no cache: nothing a failed run wrote stays behind.
        for f in paths.data_files() {
            let _ = std::fs::remove_file(f);
        }
    }
    written.map(|()| report)
}

fn check_size(size: Size) -> Result<()> {
    if size.height == 0 || size.width == 0 {
        return Err(DataError::Protocol(format!(
            "cannot cache images of {size}: both sides must be at least one pixel"
        )));
    }
    Ok(())
}

/// Removes the temporary files (`NAME.<pid>.tmp`) that a killed process left beside the
/// cache's files. Those of a process still running (another `prepare` on the same root) are
/// left alone.
fn remove_stale_temporaries(paths: &CachePaths) {
    for file in paths.data_files().into_iter().chain([&paths.manifest]) {
        let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
            continue;
        };
        let prefix = format!("{}.", name.to_string_lossy());
        let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        }) else {
            continue;
        };
        for entry in entries.flatten() {
            let entry_name = entry.file_name().to_string_lossy().into_owned();
            let pid = entry_name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(".tmp"))
                .and_then(|pid| pid.parse::<u32>().ok());
            if let Some(pid) = pid {
                if !process_alive(pid) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

/// Whether a process with this id runs (Linux's /proc; elsewhere assumed gone unless it is
/// this one).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        false
    }
}

fn cache_complete(paths: &CachePaths, manifest: &Manifest) -> bool {
    let ok = |img: &Path, lab: &Path, n: usize| {
        ImageCache::open(img, lab)
            .map(|c| c.len() == n && c.size() == manifest.size)
            .unwrap_or(false)
    };
    ok(
        &paths.visible_images,
        &paths.visible_labels,
        manifest.visible,
    ) && ok(
        &paths.thermal_images,
        &paths.thermal_labels,
        manifest.thermal,
    )
}

/// Images decoded per batch: enough to keep every thread busy, small enough to stay in cache.
const WRITE_BATCH: usize = 64;

fn write_modality(
    root: &Path,
    items: &[TrainItem],
    images: &Path,
    labels: &Path,
    size: Size,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<()> {
    let tmp = temp_path(images);
    let result = write_images(root, items, &tmp, size, progress)
        .and_then(|()| std::fs::rename(&tmp, images).map_err(|e| DataError::io(images, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    let label_array: Array1<i64> = items.iter().map(|i| i.label).collect();
    let mut bytes = Vec::new();
    ndarray_npy::WriteNpyExt::write_npy(&label_array, &mut bytes).map_err(|e| {
        DataError::Cache {
            path: labels.to_path_buf(),
            message: e.to_string(),
        }
    })?;
    write_atomic(labels, &bytes)
}

/// Decodes batches in parallel while the previous batch is written, in order, behind the
/// .npy header: one sequential pass over the file, two batch buffers reused throughout.
fn write_images(
    root: &Path,
    items: &[TrainItem],
    tmp: &Path,
    size: Size,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<()> {
    let io = |e: std::io::Error| DataError::io(tmp, e);
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)
        .map_err(io)?;
    let image_len = size.rgb_len();
    let shape = (items.len(), size.height as usize, size.width as usize, 3);
    // The crate writes the header and sizes the file; the pixels then follow the header.
    ndarray_npy::write_zeroed_npy::<u8, _>(&file, shape).map_err(|e| DataError::Cache {
        path: tmp.to_path_buf(),
        message: e.to_string(),
    })?;
    let header = file.metadata().map_err(io)?.len() - (items.len() * image_len) as u64;
    file.seek(SeekFrom::Start(header)).map_err(io)?;

    let mut current = vec![0u8; WRITE_BATCH * image_len];
    let mut previous = vec![0u8; WRITE_BATCH * image_len];
    let mut pending = 0usize;
    for batch in items.chunks(WRITE_BATCH) {
        let bytes = batch.len() * image_len;
        let (written, decoded) = rayon::join(
            || file.write_all(&previous[..pending]).map_err(io),
            || {
                current[..bytes]
                    .par_chunks_mut(image_len)
                    .zip(batch.par_iter())
                    .try_for_each_init(ImageResizer::new, |resizer, (out, item)| {
                        resizer.load_into(&root.join(&item.path), size, out)?;
                        progress(1);
                        Ok::<(), DataError>(())
                    })
            },
        );
        written?;
        decoded?;
        std::mem::swap(&mut current, &mut previous);
        pending = bytes;
    }
    file.write_all(&previous[..pending]).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Decodes and resizes every training image without writing anything: the same work as
/// `prepare` short of the cache files, to validate a dataset or to measure decoding speed.
pub fn check(
    root: &Path,
    set: &TrainSet,
    size: Size,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<()> {
    check_size(size)?;
    set.visible
        .par_iter()
        .chain(set.thermal.par_iter())
        .try_for_each_init(
            || (ImageResizer::new(), vec![0u8; size.rgb_len()]),
            |(resizer, out), item| {
                resizer.load_into(&root.join(&item.path), size, out)?;
                progress(1);
                Ok(())
            },
        )
}

/// A memory-mapped image cache with its labels: ours or the reference's own files.
pub struct ImageCache {
    map: Mmap,
    offset: usize,
    len: usize,
    size: Size,
    labels: Vec<i64>,
}

impl std::fmt::Debug for ImageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageCache")
            .field("len", &self.len)
            .field("size", &self.size)
            .finish()
    }
}

impl ImageCache {
    /// Opens a uint8 `N x H x W x 3` image file and its `N` labels (int64, or int32).
    pub fn open(images: &Path, labels: &Path) -> Result<Self> {
        let bad = |path: &Path, message: String| DataError::Cache {
            path: path.to_path_buf(),
            message,
        };
        let file = File::open(images).map_err(|e| DataError::io(images, e))?;
        // SAFETY: caches are written once through a rename and only read afterwards.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| DataError::io(images, e))?;
        let (offset, len, size) = {
            let view = ArrayView4::<u8>::view_npy(&map).map_err(|e| {
                bad(
                    images,
                    format!("expected a uint8 N x H x W x 3 array in C order: {e}"),
                )
            })?;
            let (n, h, w, c) = view.dim();
            if c != 3 {
                return Err(bad(images, format!("expected 3 channels, found {c}")));
            }
            let offset = view.as_ptr() as usize - map.as_ptr() as usize;
            (offset, n, Size::new(h as u32, w as u32))
        };
        let labels_vec = read_labels(labels)?;
        if labels_vec.len() != len {
            return Err(bad(
                labels,
                format!(
                    "expected {len} labels (one per image), found {}",
                    labels_vec.len()
                ),
            ));
        }
        Ok(Self {
            map,
            offset,
            len,
            size,
            labels: labels_vec,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn size(&self) -> Size {
        self.size
    }

    pub fn labels(&self) -> &[i64] {
        &self.labels
    }

    /// The `i`-th image, `H x W x 3` bytes.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.size.rgb_len();
        let start = self.offset + i * n;
        &self.map[start..start + n]
    }
}

fn read_labels(path: &Path) -> Result<Vec<i64>> {
    if let Some(a) = crate::npy::read::<i64, _, ndarray::Ix1>(path)? {
        let a: Array1<i64> = a;
        return Ok(a.to_vec());
    }
    match crate::npy::read::<i32, _, ndarray::Ix1>(path)? {
        Some(a) => {
            let a: Array1<i32> = a;
            Ok(a.iter().map(|&v| i64::from(v)).collect())
        }
        None => Err(DataError::Cache {
            path: path.to_path_buf(),
            message: "expected a 1-D int64 (or int32) label array".into(),
        }),
    }
}
