//! Reading the small text files and folders that describe a dataset, the way the reference
//! reads them (so that its lists and ours agree item for item).

use crate::error::{DataError, Result};
use std::path::{Path, PathBuf};

/// Reads a one-line, comma-separated id list (`exp/test_id.txt`, `idx/test_id.txt`).
///
/// Like the reference, only the first line counts and each field may carry white space.
pub fn read_id_list(path: &Path) -> Result<Vec<u32>> {
    let text = read_text(path, "id list")?;
    let first = text.lines().next().unwrap_or("");
    if first.trim().is_empty() {
        return Err(DataError::parse(
            path,
            1,
            "expected one line of comma-separated person ids, found an empty line",
        ));
    }
    first
        .split(',')
        .map(|field| {
            field.trim().parse::<u32>().map_err(|_| {
                DataError::parse(
                    path,
                    1,
                    format!("expected comma-separated integer ids, found {field:?}"),
                )
            })
        })
        .collect()
}

/// One line of an index list (`relative/path label`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedImage {
    pub path: PathBuf,
    pub label: i64,
    pub line: usize,
}

/// Reads a `path label` index list (RegDB `idx/*.txt`, LLCM `idx/train_*.txt`) and checks
/// that every listed image exists below `root`.
///
/// The reference splits on single spaces and takes the first two fields; blank lines are
/// skipped here rather than crashing.
pub fn read_index_list(root: &Path, path: &Path) -> Result<Vec<ListedImage>> {
    let text = read_text(path, "index list")?;
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split(' ').filter(|f| !f.is_empty());
        let rel = fields.next().unwrap_or_default();
        let label = fields.next().ok_or_else(|| {
            DataError::parse(
                path,
                line_no,
                format!("expected `relative/path label`, found {line:?} (no label)"),
            )
        })?;
        let label = label.trim().parse::<i64>().map_err(|_| {
            DataError::parse(
                path,
                line_no,
                format!("expected an integer label, found {label:?}"),
            )
        })?;
        let rel = PathBuf::from(rel.trim_start_matches('/'));
        if !root.join(&rel).is_file() {
            return Err(DataError::MissingImage {
                list: path.to_path_buf(),
                line: line_no,
                image: root.join(&rel),
            });
        }
        items.push(ListedImage {
            path: rel,
            label,
            line: line_no,
        });
    }
    if items.is_empty() {
        return Err(DataError::parse(
            path,
            1,
            "expected lines of `relative/path label`, found none",
        ));
    }
    Ok(items)
}

/// The entries of a folder sorted by name, as `sorted(os.listdir(dir))` gives them (Python
/// compares code points, which is the byte order of UTF-8).
pub fn sorted_entries(dir: &Path) -> Result<Vec<String>> {
    let read = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut names = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

pub(crate) fn read_text(path: &Path, what: &str) -> Result<String> {
    if !path.is_file() {
        return Err(DataError::missing(path, what));
    }
    std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))
}

pub(crate) fn require_root(root: &Path) -> Result<()> {
    if root.is_dir() {
        Ok(())
    } else {
        Err(DataError::MissingRoot(root.to_path_buf()))
    }
}

pub(crate) fn require_dir(path: &Path, what: &str) -> Result<()> {
    if path.is_dir() {
        Ok(())
    } else {
        Err(DataError::missing(path, what))
    }
}

/// The person folder name the reference builds with `"%04d" % id`.
pub(crate) fn id_folder(id: u32) -> String {
    format!("{id:04}")
}
