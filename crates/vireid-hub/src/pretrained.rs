//! What a training run starts from, and finding or fetching it.

use crate::catalog::{torchvision, KnownWeights};
use crate::error::{HubError, Result};
use crate::fetch::{download, BASE_URL_ENV, DEFAULT_BASE_URL};
use crate::places::Places;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::PathBuf;
use std::str::FromStr;

/// The weights a fresh run's backbone starts from. Written in configs as `"imagenet"`,
/// `"none"` or a path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Pretrained {
    /// torchvision's ImageNet weights for the backbone (the paper's start), found or fetched
    /// by [`Hub::imagenet`].
    #[default]
    ImageNet,
    /// Random initialisation.
    None,
    /// A weights file of the user's (torchvision layout, `.pth` or safetensors).
    File(PathBuf),
}

impl FromStr for Pretrained {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "" => Err("expected imagenet, none or the path of a weights file".into()),
            "imagenet" => Ok(Pretrained::ImageNet),
            "none" => Ok(Pretrained::None),
            path => Ok(Pretrained::File(PathBuf::from(path))),
        }
    }
}

impl std::fmt::Display for Pretrained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pretrained::ImageNet => f.write_str("imagenet"),
            Pretrained::None => f.write_str("none"),
            Pretrained::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl Serialize for Pretrained {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Reads the three spellings, and `null`, which run states written before the key had a
/// default hold for random weights.
impl<'de> Deserialize<'de> for Pretrained {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(Pretrained::None),
            Some(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Weights found on this machine (or just downloaded to it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    pub weights: KnownWeights,
    pub path: PathBuf,
    /// Fetched by this call (and verified).
    pub downloaded: bool,
}

/// The known weights, where they are looked for, and where they are downloaded from.
#[derive(Debug, Clone)]
pub struct Hub {
    pub places: Places,
    /// The address the file names are appended to.
    pub base_url: String,
    pub catalog: Vec<KnownWeights>,
}

impl Hub {
    /// torchvision's files, the folders of this environment, and torchvision's address (or
    /// the one in `VIREID_WEIGHTS_URL`).
    pub fn from_env() -> Hub {
        Hub {
            places: Places::from_env(),
            base_url: std::env::var(BASE_URL_ENV)
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_string()),
            catalog: torchvision(),
        }
    }

    /// Where `w` is downloaded from.
    pub fn url(&self, w: &KnownWeights) -> String {
        let sep = if self.base_url.ends_with('/') {
            ""
        } else {
            "/"
        };
        format!("{}{sep}{}", self.base_url, w.file)
    }

    /// The known files of `backbone`, the paper's first.
    pub fn known(&self, backbone: &str) -> Result<Vec<&KnownWeights>> {
        let mut all: Vec<&KnownWeights> = self
            .catalog
            .iter()
            .filter(|w| w.backbone == backbone)
            .collect();
        if all.is_empty() {
            return Err(HubError::UnknownBackbone(backbone.to_string()));
        }
        all.sort_by_key(|w| !w.paper);
        Ok(all)
    }

    /// Where `w` is on this machine: the first folder of the search order holding it.
    pub fn find(&self, w: &KnownWeights) -> Option<PathBuf> {
        self.places
            .search_order()
            .map(|dir| dir.join(&w.file))
            .find(|p| p.is_file())
    }

    /// Any known file of `backbone` on this machine, the paper's preferred.
    pub fn locate(&self, backbone: &str) -> Result<Option<Found>> {
        Ok(self.known(backbone)?.into_iter().find_map(|w| {
            self.find(w).map(|path| Found {
                weights: w.clone(),
                path,
                downloaded: false,
            })
        }))
    }

    /// Downloads `w` into vireid's cache (verified, atomically) and returns its path.
    /// `progress` hears each chunk's size, and the total once when the server says it.
    pub fn fetch(
        &self,
        w: &KnownWeights,
        progress: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<PathBuf> {
        let dir = self.places.own.as_ref().ok_or(HubError::NoCacheFolder)?;
        std::fs::create_dir_all(dir).map_err(|source| HubError::Io {
            path: dir.clone(),
            source,
        })?;
        let dest = dir.join(&w.file);
        download(&self.url(w), &dest, w.hash_prefix(), progress)?;
        Ok(dest)
    }

    /// The ImageNet weights of `backbone`: a known file already on this machine, else the
    /// paper's file downloaded ([`Hub::download_paper`]).
    pub fn imagenet(
        &self,
        backbone: &str,
        progress: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<Found> {
        match self.locate(backbone)? {
            Some(found) => Ok(found),
            None => self.download_paper(backbone, progress),
        }
    }

    /// Downloads the paper's file of `backbone` into vireid's cache. When that fails, one
    /// error says which file, from where, and where to put it.
    pub fn download_paper(
        &self,
        backbone: &str,
        progress: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<Found> {
        let paper = self.known(backbone)?[0].clone();
        match self.fetch(&paper, progress) {
            Ok(path) => Ok(Found {
                weights: paper,
                path,
                downloaded: true,
            }),
            Err(e) => {
                let why = match e {
                    HubError::Download { why, .. } => why,
                    HubError::HashMismatch {
                        expected, found, ..
                    } => format!(
                        "its sha256 {found} does not start with {expected} (damaged or \
                         substituted; nothing was kept)"
                    ),
                    other => other.to_string(),
                };
                Err(HubError::Unavailable {
                    url: self.url(&paper),
                    file: paper.file,
                    places: self.places.describe(),
                    why,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_spell_it_as_a_word_or_a_path() {
        for (text, value) in [
            ("imagenet", Pretrained::ImageNet),
            ("none", Pretrained::None),
            ("w/resnet50.pth", Pretrained::File("w/resnet50.pth".into())),
        ] {
            assert_eq!(text.parse::<Pretrained>().unwrap(), value);
            assert_eq!(value.to_string(), text);
            let json = serde_json::to_string(&value).unwrap();
            assert_eq!(serde_json::from_str::<Pretrained>(&json).unwrap(), value);
        }
        assert!("".parse::<Pretrained>().is_err());
        assert_eq!(
            serde_json::from_str::<Pretrained>("null").unwrap(),
            Pretrained::None
        );
    }

    #[test]
    fn an_unknown_backbone_is_named() {
        let hub = Hub::from_env();
        let err = hub.known("resnet101").unwrap_err().to_string();
        assert!(err.contains("resnet101"), "{err}");
    }
}
