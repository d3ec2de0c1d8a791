//! The ImageNet weights vireid knows: torchvision's published ResNet files.

use serde::Serialize;

/// One of torchvision's ImageNet weight files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownWeights {
    /// resnet18, resnet34 or resnet50.
    pub backbone: String,
    /// The file name, as torchvision publishes and caches it.
    pub file: String,
    /// The file the RLE paper's code loads (torchvision's first release of these weights);
    /// fetched by default, and preferred when several are on the machine.
    pub paper: bool,
    /// What the file is, for `vireid weights list`.
    pub about: String,
}

impl KnownWeights {
    fn new(backbone: &str, file: &str, paper: bool, about: &str) -> KnownWeights {
        KnownWeights {
            backbone: backbone.into(),
            file: file.into(),
            paper,
            about: about.into(),
        }
    }

    /// The sha256 prefix the file's name promises.
    pub fn hash_prefix(&self) -> &str {
        hash_prefix(&self.file).unwrap_or_default()
    }
}

/// torchvision's ResNet files: for each depth its first release (the legacy serialisation
/// the reference's `model_zoo` URLs point at) and the same ImageNet-1k weights as torchvision
/// serves them today (`IMAGENET1K_V1`, torch's zip format). The later `IMAGENET1K_V2`
/// ResNet-50 is a different training recipe and not what the paper starts from, so it is not
/// listed (pass it with `--pretrained PATH` to try it).
pub fn torchvision() -> Vec<KnownWeights> {
    let first = "ImageNet-1k, torchvision's first release: what the reference code loads";
    let today = "the same ImageNet-1k weights as torchvision serves them today (IMAGENET1K_V1)";
    vec![
        KnownWeights::new("resnet50", "resnet50-19c8e357.pth", true, first),
        KnownWeights::new("resnet50", "resnet50-0676ba61.pth", false, today),
        KnownWeights::new("resnet34", "resnet34-333f7ec4.pth", true, first),
        KnownWeights::new("resnet34", "resnet34-b627a593.pth", false, today),
        KnownWeights::new("resnet18", "resnet18-5c106cde.pth", true, first),
        KnownWeights::new("resnet18", "resnet18-f37072fd.pth", false, today),
    ]
}

/// The hexadecimal sha256 prefix in a file name, by torchvision's convention
/// (`NAME-HASH.EXT`: the hex digits after the last `-` of the stem), if it has one.
pub fn hash_prefix(file: &str) -> Option<&str> {
    let stem = file.split('.').next()?;
    let (_, hash) = stem.rsplit_once('-')?;
    let hex = !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then_some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_hex_after_the_last_dash_of_the_stem() {
        assert_eq!(hash_prefix("resnet50-19c8e357.pth"), Some("19c8e357"));
        assert_eq!(
            hash_prefix("wide_resnet50_2-95faca4d.pth"),
            Some("95faca4d")
        );
        assert_eq!(hash_prefix("my-net-0a1b.tar.gz"), Some("0a1b"));
        assert_eq!(hash_prefix("resnet50.pth"), None);
        assert_eq!(hash_prefix("resnet50-v2.pth"), None);
        assert_eq!(hash_prefix("resnet50-.pth"), None);
    }

    #[test]
    fn every_backbone_has_one_paper_file_and_every_file_a_hash() {
        let all = torchvision();
        for depth in ["resnet18", "resnet34", "resnet50"] {
            let papers = all
                .iter()
                .filter(|w| w.backbone == depth && w.paper)
                .count();
            assert_eq!(papers, 1, "{depth}");
        }
        for w in &all {
            assert_eq!(w.hash_prefix().len(), 8, "{}", w.file);
            assert!(w.file.starts_with(&w.backbone), "{}", w.file);
        }
    }
}
