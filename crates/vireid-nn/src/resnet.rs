//! torchvision-layout ResNet units. Each builder takes the path of its unit, so the variable
//! names are the state-dict keys of torchvision and of the reference (`layer1.0.conv1.weight`,
//! `layer1.0.downsample.1.running_mean`).

use crate::fused::{self, Window};
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

/// What a new network's tensors start as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// The reference's initialisation (random convolutions and classifiers).
    Reference,
    /// Zeros, for a network whose every tensor a checkpoint is about to overwrite: drawing
    /// ResNet-50's 25 million random numbers costs a tenth of a second that loading then
    /// throws away (and would move the random stream for nothing).
    Zeros,
}

impl Fill {
    /// `init`, unless everything is about to be loaded.
    pub fn or(self, init: nn::Init) -> nn::Init {
        match self {
            Fill::Reference => init,
            Fill::Zeros => nn::Init::Const(0.0),
        }
    }
}

/// The reference's ResNet initialisation: N(0, sqrt(2 / (k * k * out))) for convolutions.
fn conv(p: nn::Path, fill: Fill, shape: [i64; 5]) -> nn::Conv2D {
    let [cin, cout, k, stride, padding] = shape;
    let std = (2.0 / (k * k * cout) as f64).sqrt();
    let config = nn::ConvConfig {
        stride,
        padding,
        bias: false,
        ws_init: fill.or(nn::Init::Randn {
            mean: 0.0,
            stdev: std,
        }),
        ..Default::default()
    };
    nn::conv2d(p, cin, cout, k, config)
}

/// torch.nn.BatchNorm2d's default epsilon, which every BatchNorm here keeps.
const BN_EPS: f64 = 1e-5;

/// BatchNorm2d with weight 1 and bias 0, as the reference initialises it.
pub fn batch_norm2d(p: nn::Path, n: i64) -> nn::BatchNorm {
    let config = nn::BatchNormConfig {
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        eps: BN_EPS,
        ..Default::default()
    };
    nn::batch_norm2d(p, n, config)
}

/// A bias-free convolution and the BatchNorm after it: how every ResNet unit pairs them.
#[derive(Debug)]
struct ConvBn {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
    stride: i64,
    padding: i64,
    /// The pair as one convolution with a bias, once [`ConvBn::fold`] has run.
    folded: Option<Folded>,
}

/// A convolution and BatchNorm folded into one convolution with a bias.
#[derive(Debug)]
struct Folded {
    weight: Tensor,
    bias: Tensor,
    /// Whether oneDNN's fused kernels run it (with the ReLU or residual after it).
    fused: bool,
}

/// `conv` then `bn`, under their own paths (`conv1` / `bn1`, or `downsample.0` / `.1`);
/// `shape` is [in, out, kernel, stride, padding].
fn conv_bn(conv_path: nn::Path, bn_path: nn::Path, fill: Fill, shape: [i64; 5]) -> ConvBn {
    let [_, cout, _, stride, padding] = shape;
    ConvBn {
        conv: conv(conv_path, fill, shape),
        bn: batch_norm2d(bn_path, cout),
        stride,
        padding,
        folded: None,
    }
}

impl ConvBn {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match (&self.folded, train) {
            (Some(f), false) => xs.conv2d(
                &f.weight,
                Some(&f.bias),
                [self.stride; 2],
                [self.padding; 2],
                [1, 1],
                1,
            ),
            _ => xs.apply(&self.conv).apply_t(&self.bn, train),
        }
    }

    fn window(&self) -> Window {
        Window {
            stride: self.stride,
            padding: self.padding,
        }
    }

    /// The folded convolution (and ReLU) in one fused kernel; None when not folded or fused.
    fn fused(&self, xs: &Tensor, relu: bool) -> Option<Tensor> {
        let f = self.folded.as_ref().filter(|f| f.fused)?;
        fused::conv(xs, &f.weight, &f.bias, self.window(), relu)
    }

    /// ReLU(the folded convolution + `residual`) in one fused kernel.
    fn fused_add_relu(&self, xs: &Tensor, residual: &Tensor) -> Option<Tensor> {
        let f = self.folded.as_ref().filter(|f| f.fused)?;
        fused::conv_add_relu(xs, residual, &f.weight, &f.bias, self.window())
    }

    /// Folds the BatchNorm's running statistics into the convolution: in evaluation the
    /// BatchNorm is the affine map y = s x + (beta - s mean) with s = gamma / sqrt(var + eps)
    /// per output channel, so the pair is the convolution with weights s w and that bias.
    /// One pass over the activations instead of two; equal up to float rounding. The folded
    /// copies are taken now: later changes to the weights do not reach them, so only a
    /// network that has stopped training folds. `layout` gives the weights the layout the
    /// convolution's own have; with `fuse`, the evaluation runs the folded convolution in
    /// oneDNN's fused kernels (see [`crate::fused`]).
    fn fold(&mut self, layout: &dyn Fn(&Tensor) -> Tensor, fuse: bool) {
        let bn = &self.bn;
        let (Some(gamma), Some(beta)) = (&bn.ws, &bn.bs) else {
            return;
        };
        let scale = gamma / (&bn.running_var + BN_EPS).sqrt();
        let weight = layout(&(&self.conv.ws * scale.view([-1, 1, 1, 1])));
        let bias = beta - &bn.running_mean * &scale;
        self.folded = Some(Folded {
            weight,
            bias,
            fused: fuse,
        });
    }
}

/// conv1 + bn1 (+ relu + max-pool in the forward): the part the two modalities do not share.
#[derive(Debug)]
pub struct Stem {
    conv1: ConvBn,
}

pub fn stem(p: nn::Path, fill: Fill) -> Stem {
    Stem {
        conv1: conv_bn(&p / "conv1", &p / "bn1", fill, [3, 64, 7, 2, 3]),
    }
}

impl Stem {
    /// The first convolution's weights (where the network lives, in its layout).
    pub fn weight(&self) -> Tensor {
        self.conv1.conv.ws.shallow_clone()
    }

    /// See [`ConvBn::fold`].
    pub fn fold(&mut self, layout: &dyn Fn(&Tensor) -> Tensor, fuse: bool) {
        tch::no_grad(|| self.conv1.fold(layout, fuse));
    }
}

impl ModuleT for Stem {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let fused = if train {
            None
        } else {
            self.conv1.fused(xs, true)
        };
        let x = fused.unwrap_or_else(|| {
            let mut x = self.conv1.forward_t(xs, train);
            let _ = x.relu_();
            x
        });
        x.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false)
    }
}

/// The shortcut's 1x1 convolution, where the unit changes stride or width.
fn downsample(p: nn::Path, fill: Fill, cin: i64, cout: i64, stride: i64) -> Option<ConvBn> {
    (stride != 1 || cin != cout)
        .then(|| conv_bn(&p / "0", &p / "1", fill, [cin, cout, 1, stride, 0]))
}

/// One residual unit: the convolutions in order, the shortcut, and in-place relu and add as
/// torchvision does (they are worth a sixth of the inference time).
#[derive(Debug)]
struct Unit {
    convs: Vec<ConvBn>,
    downsample: Option<ConvBn>,
}

fn bottleneck(p: nn::Path, fill: Fill, cin: i64, planes: i64, stride: i64) -> Unit {
    let out = planes * 4;
    Unit {
        convs: vec![
            conv_bn(&p / "conv1", &p / "bn1", fill, [cin, planes, 1, 1, 0]),
            conv_bn(
                &p / "conv2",
                &p / "bn2",
                fill,
                [planes, planes, 3, stride, 1],
            ),
            conv_bn(&p / "conv3", &p / "bn3", fill, [planes, out, 1, 1, 0]),
        ],
        downsample: downsample(&p / "downsample", fill, cin, out, stride),
    }
}

fn basic(p: nn::Path, fill: Fill, cin: i64, planes: i64, stride: i64) -> Unit {
    Unit {
        convs: vec![
            conv_bn(&p / "conv1", &p / "bn1", fill, [cin, planes, 3, stride, 1]),
            conv_bn(&p / "conv2", &p / "bn2", fill, [planes, planes, 3, 1, 1]),
        ],
        downsample: downsample(&p / "downsample", fill, cin, planes, stride),
    }
}

impl Unit {
    /// The evaluation forward in fused kernels: each convolution with its ReLU, the last
    /// with the shortcut's add and the ReLU after them. None unless every convolution is fused.
    fn forward_fused(&self, xs: &Tensor) -> Option<Tensor> {
        let (last, first) = self.convs.split_last()?;
        let mut out = xs.shallow_clone();
        for c in first {
            out = c.fused(&out, true)?;
        }
        let shortcut = match &self.downsample {
            Some(d) => d.fused(xs, false)?,
            None => xs.shallow_clone(),
        };
        last.fused_add_relu(&out, &shortcut)
    }
}

impl ModuleT for Unit {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        if !train {
            if let Some(out) = self.forward_fused(xs) {
                return out;
            }
        }
        let last = self.convs.len() - 1;
        let mut out = xs.shallow_clone();
        for (i, c) in self.convs.iter().enumerate() {
            out = c.forward_t(&out, train);
            if i < last {
                let _ = out.relu_();
            }
        }
        match &self.downsample {
            Some(d) => out += d.forward_t(xs, train),
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
    fill: Fill,
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
        units.push(unit(
            &p / i,
            fill,
            c,
            planes,
            if i == 0 { stride } else { 1 },
        ));
        c = planes * depth.expansion();
    }
    Layer(units)
}

impl Layer {
    /// Folds every unit's BatchNorms into their convolutions (see [`ConvBn::fold`]).
    pub fn fold(&mut self, layout: &dyn Fn(&Tensor) -> Tensor, fuse: bool) {
        tch::no_grad(|| {
            for u in &mut self.0 {
                u.convs
                    .iter_mut()
                    .chain(u.downsample.as_mut())
                    .for_each(|c| c.fold(layout, fuse));
            }
        });
    }
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
