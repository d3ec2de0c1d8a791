//! The two-stream part network (docs/reference-behaviour.md, Network): separate visible and thermal
//! stems, shared layer1..layer3 (and layer4 unless the width is the RegDB one), three horizontal
//! stripes plus the whole map pooled, four BNNecks with frozen bias and four bias-free classifiers.

use crate::resnet::{self, Depth, Fill, Layer, Stem};
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

/// Which stem an image goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Visible,
    Thermal,
}

impl Modality {
    pub fn by_name(name: &str) -> Option<Modality> {
        match name {
            "visible" | "rgb" | "vis" => Some(Modality::Visible),
            "thermal" | "ir" | "infrared" | "nir" => Some(Modality::Thermal),
            _ => None,
        }
    }

    /// The name `by_name` reads first.
    pub fn name(self) -> &'static str {
        match self {
            Modality::Visible => "visible",
            Modality::Thermal => "thermal",
        }
    }
}

/// What fixes the shapes of the network: everything a checkpoint's tensors tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetConfig {
    pub depth: Depth,
    /// false for the reference's RegDB network, which stops after layer3.
    pub layer4: bool,
    /// Number of training identities (rows of each classifier).
    pub classes: i64,
}

impl NetConfig {
    /// Width of each pooled part feature (2048 / 1024 for ResNet-50).
    pub fn width(&self) -> i64 {
        self.depth.stage_channels(if self.layer4 { 3 } else { 2 })
    }

    /// Rows of the last feature map for input images `height` rows high: four halvings
    /// (stem convolution, max-pool, layer2, layer3), each ceil(h / 2).
    pub fn map_height(height: usize) -> usize {
        (0..4).fold(height, |h, _| h.div_ceil(2))
    }

    /// The reference splits the map with torch.chunk(x, 3, 2), which gives three stripes only
    /// for 3 rows or at least 5 (4 rows give two chunks of 2 and the reference crashes):
    /// refuse such heights up front instead of failing inside libtorch.
    pub fn check_height(height: usize) -> Result<(), String> {
        let h = Self::map_height(height);
        if h == 3 || h >= 5 {
            return Ok(());
        }
        Err(format!(
            "images {height} rows high give a feature map {h} rows high, which torch.chunk \
             cannot cut into the network's three stripes; use a height of at least 65 \
             (the paper's is 384)"
        ))
    }

    /// Width of the evaluation features (four parts concatenated).
    pub fn feature_dim(&self) -> i64 {
        4 * self.width()
    }
}

/// Optimiser groups: the backbone learns at 0.1 lr, the heads at lr (docs/reference-behaviour.md,
/// Optimisation).
pub const GROUP_BACKBONE: usize = 0;
pub const GROUP_HEADS: usize = 1;

/// The names of the four parts, in the reference's order (stripes top to bottom, then global).
pub const PARTS: [&str; 4] = ["1", "2", "3", "g"];

#[derive(Debug)]
pub struct PartNet {
    pub config: NetConfig,
    /// Whether inputs are laid out NHWC before the stem (see [`PartNet::channels_last`]).
    nhwc: bool,
    visible: Stem,
    thermal: Stem,
    layers: Vec<Layer>,
    necks: Vec<BnNeck>,
    classifiers: Vec<nn::Linear>,
}

/// What a training forward gives: the pooled features (pre-BNNeck, for the triplet loss) and
/// the classifier logits, each for parts 1, 2, 3, g.
pub struct TrainOutput {
    pub pooled: Vec<Tensor>,
    pub logits: Vec<Tensor>,
}

/// BatchNorm1d with weight N(1, 0.01) and a bias of 0 that is not a trainable variable: the
/// reference freezes it (`requires_grad_(False)`), so no optimiser ever sees it.
#[derive(Debug)]
struct BnNeck {
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
}

fn bnneck(p: nn::Path, fill: Fill, n: i64) -> BnNeck {
    let weight = fill.or(nn::Init::Randn {
        mean: 1.0,
        stdev: 0.01,
    });
    BnNeck {
        weight: p.var("weight", &[n], weight),
        bias: p.zeros_no_train("bias", &[n]),
        running_mean: p.zeros_no_train("running_mean", &[n]),
        running_var: p.ones_no_train("running_var", &[n]),
    }
}

impl ModuleT for BnNeck {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        // torch.nn.BatchNorm1d's defaults: momentum 0.1, eps 1e-5.
        Tensor::batch_norm(
            xs,
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            0.1,
            1e-5,
            true,
        )
    }
}

fn classifier(p: nn::Path, fill: Fill, width: i64, classes: i64) -> nn::Linear {
    let config = nn::LinearConfig {
        ws_init: fill.or(nn::Init::Randn {
            mean: 0.0,
            stdev: 0.001,
        }),
        bs_init: None,
        bias: false,
    };
    nn::linear(p, width, classes, config)
}

/// Builds the network under `root` (usually `vs.root()`), with the reference's key names and
/// initialisation.
pub fn part_net(root: &nn::Path, config: NetConfig) -> PartNet {
    build(root, config, Fill::Reference)
}

/// [`part_net`] with every tensor zero, for loading a checkpoint into: the random stream is
/// left untouched, and nothing is drawn that loading would overwrite.
pub fn part_net_to_load(root: &nn::Path, config: NetConfig) -> PartNet {
    build(root, config, Fill::Zeros)
}

fn build(root: &nn::Path, config: NetConfig, fill: Fill) -> PartNet {
    let backbone = root.set_group(GROUP_BACKBONE);
    let heads = root.set_group(GROUP_HEADS);
    let depth = config.depth;
    let base = &backbone / "base_resnet" / "base";
    let mut layers = Vec::new();
    let mut cin = 64;
    let stages = if config.layer4 { 4 } else { 3 };
    for (i, &blocks) in depth.blocks().iter().enumerate().take(stages) {
        // layer4 keeps stride 1 (the reference's last_conv_stride = 1).
        let stride = if i == 0 || i == 3 { 1 } else { 2 };
        let name = format!("layer{}", i + 1);
        layers.push(resnet::layer(
            &base / name.as_str(),
            fill,
            depth,
            cin,
            64 << i,
            blocks,
            stride,
        ));
        cin = depth.stage_channels(i);
    }
    let width = config.width();
    PartNet {
        config,
        nhwc: false,
        visible: resnet::stem(&backbone / "visible_module" / "visible", fill),
        thermal: resnet::stem(&backbone / "thermal_module" / "thermal", fill),
        layers,
        necks: PARTS
            .iter()
            .map(|p| bnneck(&heads / format!("bottleneck{p}").as_str(), fill, width))
            .collect(),
        classifiers: PARTS
            .iter()
            .map(|p| {
                classifier(
                    &heads / format!("classifier{p}").as_str(),
                    fill,
                    width,
                    config.classes,
                )
            })
            .collect(),
    }
}

fn l2_normalize(x: &Tensor) -> Tensor {
    // The reference divides by the plain norm, with no epsilon; so do we.
    let norm = x
        .pow_tensor_scalar(2)
        .sum_dim_intlist(1, true, Kind::Float)
        .sqrt();
    x / norm
}

/// The same NCHW tensor with channels-last (NHWC) strides: what PyTorch's
/// `memory_format=torch.channels_last` gives, which tch has no name for. oneDNN's CPU
/// convolutions run 35-45% faster on it than on NCHW (measured on ResNet-50 at 384 x 192),
/// with the same results within float rounding.
pub fn nhwc(t: &Tensor) -> Tensor {
    if t.dim() == 4 {
        t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
    } else {
        t.shallow_clone()
    }
}

impl PartNet {
    /// Moves every convolution weight of `vs` (the store this network was built in) to the
    /// channels-last layout, and makes the forwards lay their inputs out the same way. The
    /// variables stay the same tensors (their data is replaced), so optimisers and loading
    /// keep working; saving writes ordinary contiguous tensors.
    pub fn channels_last(mut self, vs: &nn::VarStore) -> Self {
        tch::no_grad(|| {
            for (_, mut var) in vs.variables() {
                if var.dim() == 4 {
                    let data = nhwc(&var);
                    var.set_data(&data);
                }
            }
        });
        self.nhwc = true;
        self
    }

    /// Folds each BatchNorm of the backbone into the convolution before it, for a network
    /// that only infers from here on (`embed`): the evaluation forward then makes one pass
    /// over each activation where it made two, and its features move by float rounding. The
    /// folded weights are copies: a network that trains on after this would evaluate with
    /// stale ones, so the trainer never folds. With `fuse`, each folded convolution runs
    /// with the ReLU (or the residual add and ReLU) after it as one oneDNN kernel where this
    /// libtorch can on the network's device (see [`crate::fused`]). Call after loading and
    /// after [`PartNet::channels_last`].
    pub fn fold_batch_norms(mut self, fuse: bool) -> Self {
        let layout = |t: &Tensor| if self.nhwc { nhwc(t) } else { t.contiguous() };
        let fuse = fuse && crate::fused::available(&self.visible.weight());
        self.visible.fold(&layout, fuse);
        self.thermal.fold(&layout, fuse);
        for l in &mut self.layers {
            l.fold(&layout, fuse);
        }
        self
    }

    fn layout(&self, xs: &Tensor) -> Tensor {
        if self.nhwc {
            nhwc(xs)
        } else {
            xs.shallow_clone()
        }
    }

    fn stem(&self, modality: Modality) -> &Stem {
        match modality {
            Modality::Visible => &self.visible,
            Modality::Thermal => &self.thermal,
        }
    }

    fn shared(&self, x: Tensor, train: bool) -> Tensor {
        self.layers.iter().fold(x, |x, l| l.forward_t(&x, train))
    }

    /// p1, p2, p3 (torch.chunk into 3 along the height: chunks of ceil(h/3)) and g, each
    /// average-pooled to N x width.
    fn pool_parts(map: &Tensor) -> Vec<Tensor> {
        let mut parts: Vec<Tensor> = map
            .chunk(3, 2)
            .iter()
            .map(|s| s.adaptive_avg_pool2d([1, 1]).flatten(1, -1))
            .collect();
        parts.push(map.adaptive_avg_pool2d([1, 1]).flatten(1, -1));
        parts
    }

    /// The training forward: visible batch then thermal batch through their stems,
    /// concatenated (visible first), shared layers, parts, BNNecks in training mode.
    pub fn forward_train(&self, visible: &Tensor, thermal: &Tensor) -> TrainOutput {
        let v = self.visible.forward_t(&self.layout(visible), true);
        let t = self.thermal.forward_t(&self.layout(thermal), true);
        let map = self.shared(Tensor::cat(&[v, t], 0), true);
        let pooled = Self::pool_parts(&map);
        let logits = pooled
            .iter()
            .zip(&self.necks)
            .zip(&self.classifiers)
            .map(|((p, neck), cls)| p.apply_t(neck, true).apply(cls))
            .collect();
        TrainOutput { pooled, logits }
    }

    /// The evaluation forward: (pool, bn), each l2-normalised N x 4*width.
    pub fn forward_eval(&self, xs: &Tensor, modality: Modality) -> (Tensor, Tensor) {
        let map = self.shared(
            self.stem(modality).forward_t(&self.layout(xs), false),
            false,
        );
        let pooled = Self::pool_parts(&map);
        let bn: Vec<Tensor> = pooled
            .iter()
            .zip(&self.necks)
            .map(|(p, neck)| p.apply_t(neck, false))
            .collect();
        (
            l2_normalize(&Tensor::cat(&pooled, 1)),
            l2_normalize(&Tensor::cat(&bn, 1)),
        )
    }
}
