//! Where weights are looked for, and where downloads go.

use std::path::{Path, PathBuf};

/// The folders weights are looked up in, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Places {
    /// torch.hub's checkpoint folder, where torchvision caches what it downloads:
    /// `$TORCH_HOME/hub/checkpoints`, by default `$XDG_CACHE_HOME/torch/hub/checkpoints` or
    /// `~/.cache/torch/hub/checkpoints` (torch's own rule, on every platform).
    pub torch: Option<PathBuf>,
    /// vireid's own cache, where downloads are written: `vireid/weights` in the platform's
    /// cache folder (`$XDG_CACHE_HOME` or `~/.cache` on Linux).
    pub own: Option<PathBuf>,
}

impl Places {
    /// The folders this process's environment names.
    pub fn from_env() -> Places {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let xdg_cache = var("XDG_CACHE_HOME").filter(|p| p.is_absolute());
        let torch_home = var("TORCH_HOME").or_else(|| {
            xdg_cache
                .clone()
                .or_else(|| dirs::home_dir().map(|h| h.join(".cache")))
                .map(|c| c.join("torch"))
        });
        let own = xdg_cache.or_else(dirs::cache_dir);
        Places {
            torch: torch_home.map(|t| t.join("hub").join("checkpoints")),
            own: own.map(|c| c.join("vireid").join("weights")),
        }
    }

    /// The folders to search, torch's first.
    pub fn search_order(&self) -> impl Iterator<Item = &Path> {
        self.torch
            .iter()
            .chain(self.own.iter())
            .map(PathBuf::as_path)
    }

    /// The folders in words, for messages.
    pub fn describe(&self) -> String {
        let all: Vec<String> = self
            .search_order()
            .map(|p| p.display().to_string())
            .collect();
        match all.len() {
            0 => "torch's or vireid's cache folder (none is set here)".to_string(),
            _ => all.join(" or "),
        }
    }
}
