//! torchvision-layout ResNet units. Each builder takes the path of its unit, so the variable
//! names are the state-dict keys of torchvision and of the reference (`layer1.0.conv1.weight`,
//! `layer1.0.downsample.1.running_mean`).

use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// The backbone depth. 50 is the paper's; 18 and 34 keep the same interface for small runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Depth {
    #[serde(rename = "resnet18")]
    R18,
    #[serde(rename = "resnet34")]
    R34,
    #[serde(rename = "resnet50")]
    R50,
}

impl Depth {
    pub fn blocks(self) -> [usize; 4] {
        match self {
            Depth::R18 => [2, 2, 2, 2],
            Depth::R34 | Depth::R50 => [3, 4, 6, 3],
        }
    }

    pub fn is_bottleneck(self) -> bool {
        self == Depth::R50
    }

    /// Channels out of a unit: 4x the planes for bottlenecks.
    pub fn expansion(self) -> i64 {
        if self.is_bottleneck() {
            4
        } else {
            1
        }
    }

    /// Output channels of stage `i` (0-based: layer1 .. layer4).
    pub fn stage_channels(self, i: usize) -> i64 {
        (64 << i) * self.expansion()
    }

    pub fn name(self) -> &'static str {
        match self {
            Depth::R18 => "resnet18",
            Depth::R34 => "resnet34",
            Depth::R50 => "resnet50",
        }
    }

    pub fn by_name(name: &str) -> Option<Depth> {
        match name {
            "resnet18" | "18" => Some(Depth::R18),
            "resnet34" | "34" => Some(Depth::R34),
            "resnet50" | "50" => Some(Depth::R50),
            _ => None,
        }
    }
}

impl std::fmt::Display for Depth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The reference's ResNet initialisation: N(0, sqrt(2 / (k * k * out))) for convolutions.
fn conv(p: nn::Path, cin: i64, cout: i64, k: i64, stride: i64, padding: i64) -> nn::Conv2D {
    let std = (2.0 / (k * k * cout) as f64).sqrt();
    let config = nn::ConvConfig {
        stride,
        padding,
        bias: false,
        ws_init: nn::Init::Randn {
            mean: 0.0,
            stdev: std,
        },
        ..Default::default()
    };
    nn::conv2d(p, cin, cout, k, config)
}

/// BatchNorm2d with weight 1 and bias 0, as the reference initialises it.
pub fn batch_norm2d(p: nn::Path, n: i64) -> nn::BatchNorm {
    let config = nn::BatchNormConfig {
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    };
    nn::batch_norm2d(p, n, config)
}

/// conv1 + bn1 (+ relu + max-pool in the forward): the part the two modalities do not share.
#[derive(Debug)]
pub struct Stem {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
}

pub fn stem(p: nn::Path) -> Stem {
    Stem {
        conv1: conv(&p / "conv1", 3, 64, 7, 2, 3),
        bn1: batch_norm2d(&p / "bn1", 64),
    }
}

impl ModuleT for Stem {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = xs.apply(&self.conv1).apply_t(&self.bn1, train);
        let _ = x.relu_();
        x.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false)
    }
}

#[derive(Debug)]
struct Downsample {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
}

fn downsample(p: nn::Path, cin: i64, cout: i64, stride: i64) -> Option<Downsample> {
    (stride != 1 || cin != cout).then(|| Downsample {
        conv: conv(&p / "0", cin, cout, 1, stride, 0),
        bn: batch_norm2d(&p / "1", cout),
    })
}

/// One residual unit: the convolutions in order, the shortcut, and in-place relu and add as
/// torchvision does (they are worth a sixth of the inference time).
#[derive(Debug)]
struct Unit {
    convs: Vec<(nn::Conv2D, nn::BatchNorm)>,
    downsample: Option<Downsample>,
}

fn bottleneck(p: nn::Path, cin: i64, planes: i64, stride: i64) -> Unit {
    let out = planes * 4;
    Unit {
        convs: vec![
            (
                conv(&p / "conv1", cin, planes, 1, 1, 0),
                batch_norm2d(&p / "bn1", planes),
            ),
            (
                conv(&p / "conv2", planes, planes, 3, stride, 1),
                batch_norm2d(&p / "bn2", planes),
            ),
            (
                conv(&p / "conv3", planes, out, 1, 1, 0),
                batch_norm2d(&p / "bn3", out),
            ),
        ],
        downsample: downsample(&p / "downsample", cin, out, stride),
    }
}

fn basic(p: nn::Path, cin: i64, planes: i64, stride: i64) -> Unit {
    Unit {
        convs: vec![
            (
                conv(&p / "conv1", cin, planes, 3, stride, 1),
                batch_norm2d(&p / "bn1", planes),
            ),
            (
                conv(&p / "conv2", planes, planes, 3, 1, 1),
                batch_norm2d(&p / "bn2", planes),
            ),
        ],
        downsample: downsample(&p / "downsample", cin, planes, stride),
    }
}

impl ModuleT for Unit {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let last = self.convs.len() - 1;
        let mut out = xs.shallow_clone();
        for (i, (c, bn)) in self.convs.iter().enumerate() {
            out = out.apply(c).apply_t(bn, train);
            if i < last {
                let _ = out.relu_();
            }
        }
        match &self.downsample {
            Some(d) => out += xs.apply(&d.conv).apply_t(&d.bn, train),
            None => out += xs,
        }
        let _ = out.relu_();
        out
    }
}

/// A stage (`layerN`): `blocks` units, the first with the stride and the shortcut.
#[derive(Debug)]
pub struct Layer(Vec<Unit>);

pub fn layer(
    p: nn::Path,
    depth: Depth,
    cin: i64,
    planes: i64,
    blocks: usize,
    stride: i64,
) -> Layer {
    let unit = if depth.is_bottleneck() {
        bottleneck
    } else {
        basic
    };
    let mut units = Vec::with_capacity(blocks);
    let mut c = cin;
    for i in 0..blocks {
        units.push(unit(&p / i, c, planes, if i == 0 { stride } else { 1 }));
        c = planes * depth.expansion();
    }
    Layer(units)
}

impl ModuleT for Layer {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = xs.shallow_clone();
        for u in &self.0 {
            x = x.apply_t(u, train);
        }
        x
    }
}
