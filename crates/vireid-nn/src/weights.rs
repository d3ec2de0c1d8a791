//! Weights in and out. In: the reference's `.t` checkpoints (`torch.save({'net': state_dict,
//! ...})`), torchvision ImageNet files (`resnet50-19c8e357.pth`), either as safetensors too,
//! and our own safetensors checkpoints. Out: safetensors with the reference's key names, plus
//! a JSON sidecar written by the caller.
//!
//! The architecture of a checkpoint is read from its shapes, so `extract` and `test` need no
//! flags to say what was trained.

use crate::error::{NnError, Result};
use crate::network::{NetConfig, PARTS};
use crate::resnet::Depth;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// The tensors of a checkpoint by name, with the file they came from (for messages). Those
/// of a safetensors file are views of one copy-on-write map of it (see [`read`]).
pub struct Weights {
    pub path: PathBuf,
    pub tensors: HashMap<String, Tensor>,
}

fn kind_of(dtype: pytorch_reader::DType) -> Option<Kind> {
    use pytorch_reader::DType as D;
    Some(match dtype {
        D::F64 => Kind::Double,
        D::F32 => Kind::Float,
        D::F16 => Kind::Half,
        D::BF16 => Kind::BFloat16,
        D::I64 => Kind::Int64,
        D::I32 => Kind::Int,
        D::I16 => Kind::Int16,
        D::I8 => Kind::Int8,
        D::U8 => Kind::Uint8,
        D::Bool => Kind::Bool,
        _ => return None,
    })
}

enum Format {
    Torch,
    SafeTensors,
}

fn sniff(path: &Path) -> Result<Format> {
    let io = |source| NnError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut head = [0u8; 9];
    let mut file = std::fs::File::open(path).map_err(io)?;
    let n = file.read(&mut head).map_err(io)?;
    let not = |why: &str| NnError::NotACheckpoint {
        path: path.to_path_buf(),
        why: why.to_string(),
    };
    if n >= 4 && &head[..4] == b"PK\x03\x04" {
        return Ok(Format::Torch); // torch.save's zip archive
    }
    if n >= 2 && head[0] == 0x80 && head[1] <= 5 {
        return Ok(Format::Torch); // the legacy pickle format
    }
    if n == 9 && head[8] == b'{' {
        return Ok(Format::SafeTensors);
    }
    if n == 0 {
        return Err(not("the file is empty"));
    }
    Err(not(
        "expected a torch.save archive (.t/.pth/.pt) or a safetensors file",
    ))
}

/// Strips a common wrapper from the keys: `net.` (the reference's checkpoint dict),
/// `state_dict.` / `model.` (other training scripts) and `module.` (DataParallel).
fn strip_wrappers(mut tensors: HashMap<String, Tensor>) -> HashMap<String, Tensor> {
    for prefix in ["net.", "state_dict.", "model.", "module."] {
        if !tensors.is_empty() && tensors.keys().all(|k| k.starts_with(prefix)) {
            tensors = tensors
                .into_iter()
                .map(|(k, v)| (k[prefix.len()..].to_string(), v))
                .collect();
        }
    }
    tensors
}

/// The whole file as bytes in a private (copy-on-write) memory map that libtorch owns and
/// unmaps when the last tensor viewing it goes: `from_file` without `shared` opens the file
/// read-only, and writes to a view stay in this process. None where libtorch cannot map it
/// (the caller then copies each tensor out).
fn mapped_by_libtorch(path: &Path, len: usize) -> Option<Tensor> {
    let name = path.to_str()?;
    Tensor::f_from_file(name, false, len as i64, (Kind::Uint8, Device::Cpu))
        .ok()
        .filter(|t| t.numel() == len)
}

/// A tensor of the file viewed in place (no copy), or None where its bytes cannot be viewed
/// as its type (an offset that is not a multiple of the element size, a type libtorch has
/// not): the caller copies that one.
fn in_place(
    whole: &Tensor,
    offset: usize,
    view: &safetensors::tensor::TensorView,
) -> Option<Tensor> {
    let kind = Kind::try_from(view.dtype()).ok()?;
    let bytes = view.data().len();
    let element = kind.elt_size_in_bytes();
    if offset % element != 0 || bytes % element != 0 {
        return None;
    }
    let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
    let t = whole.f_narrow(0, offset as i64, bytes as i64).ok()?;
    let t = if bytes == 0 {
        Tensor::f_empty(&shape, (kind, Device::Cpu)).ok()?
    } else {
        t.f_view_dtype(kind).ok()?.f_view(shape.as_slice()).ok()?
    };
    Some(t)
}

/// Reads a safetensors file: the header through a memory map (checked by the library, its
/// errors said in words), the tensors as views of the file mapped by libtorch, so that
/// loading a checkpoint copies each weight once, into the network (a copy out of the file
/// first cost 0.05 s of a 0.35 s `embed` start for ResNet-50's 100 MB).
fn read_safetensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    use safetensors::SafeTensorError as E;
    let file = std::fs::File::open(path).map_err(|source| NnError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // SAFETY: read-only map of a file we only read; a concurrent writer would at worst make
    // this check fail.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| NnError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let why = match safetensors::SafeTensors::deserialize(&map) {
        Ok(st) => {
            let whole = mapped_by_libtorch(path, map.len());
            return st
                .tensors()
                .into_iter()
                .map(|(name, view)| {
                    let offset = view.data().as_ptr() as usize - map.as_ptr() as usize;
                    let t = match &whole {
                        Some(whole) => in_place(whole, offset, &view),
                        None => None,
                    };
                    Ok((name, t.map_or_else(|| Tensor::try_from(view), Ok)?))
                })
                .collect::<std::result::Result<_, tch::TchError>>()
                .map_err(|e| NnError::Unreadable {
                    path: path.to_path_buf(),
                    what: "not a readable safetensors checkpoint",
                    source: Box::new(e),
                });
        }
        Err(E::MetadataIncompleteBuffer) => {
            "the tensors the header lists do not fill the file: it is truncated or has bytes \
             appended"
                .to_string()
        }
        Err(E::HeaderTooSmall | E::InvalidHeaderLength | E::HeaderTooLarge) => {
            "the header's length field does not fit the file (truncated or not safetensors)"
                .to_string()
        }
        Err(E::InvalidHeader | E::InvalidHeaderStart | E::InvalidHeaderDeserialization) => {
            "the header is not the JSON a safetensors file starts with (damaged file)".to_string()
        }
        Err(E::InvalidOffset(name)) => {
            format!("tensor {name}: its byte range does not fit the file (damaged or truncated)")
        }
        Err(E::TensorInvalidInfo | E::ValidationOverflow | E::InvalidTensorView(..)) => {
            "a tensor's shape and data type do not match its bytes (damaged file)".to_string()
        }
        Err(e) => format!("damaged safetensors file ({e:?})"),
    };
    Err(NnError::NotACheckpoint {
        path: path.to_path_buf(),
        why,
    })
}

/// Reads every tensor of a checkpoint into memory (CPU).
pub fn read(path: &Path) -> Result<Weights> {
    let tensors = match sniff(path)? {
        Format::SafeTensors => read_safetensors(path)?,
        Format::Torch => {
            let bad = |why: String| NnError::NotACheckpoint {
                path: path.to_path_buf(),
                why,
            };
            let reader =
                pytorch_reader::PytorchReader::new(path).map_err(|e| NnError::Unreadable {
                    path: path.to_path_buf(),
                    what: "a torch.save file that cannot be read (truncated or corrupt?)",
                    source: Box::new(e),
                })?;
            let mut out = HashMap::new();
            for (name, t) in reader.into_tensors() {
                let kind = kind_of(t.dtype())
                    .ok_or_else(|| bad(format!("{name}: unsupported dtype {:?}", t.dtype())))?;
                let bytes = t.read().map_err(|e| NnError::Unreadable {
                    path: path.to_path_buf(),
                    what: "a tensor's data cannot be read (truncated or corrupt?)",
                    source: Box::new(e),
                })?;
                let shape: Vec<i64> = t.shape().iter().map(|&d| d as i64).collect();
                let tensor = Tensor::f_from_data_size(&bytes, &shape, kind)?;
                out.insert(name, tensor);
            }
            out
        }
    };
    Ok(Weights {
        path: path.to_path_buf(),
        tensors: strip_wrappers(tensors),
    })
}

impl Weights {
    fn shape(&self, key: &str) -> Option<Vec<i64>> {
        self.tensors.get(key).map(Tensor::size)
    }

    fn arch_error(&self, why: String) -> NnError {
        NnError::Architecture {
            path: self.path.clone(),
            why,
        }
    }

    /// The network a checkpoint holds: depth from the units of the shared layers, width from
    /// the BNNecks (which says whether layer4 is used: the reference's RegDB checkpoints keep
    /// an unused layer4), classes from the classifiers.
    pub fn net_config(&self) -> Result<NetConfig> {
        let base = "base_resnet.base";
        if self
            .shape(&format!("{base}.layer1.0.conv1.weight"))
            .is_none()
        {
            let hint = if self.tensors.contains_key("layer1.0.conv1.weight") {
                " (this looks like an ImageNet backbone: pass it as --pretrained)"
            } else {
                ""
            };
            return Err(self.arch_error(format!(
                "no tensor {base}.layer1.0.conv1.weight: not an RLE / vireid network{hint}"
            )));
        }
        let bottleneck = self
            .tensors
            .contains_key(&format!("{base}.layer1.0.conv3.weight"));
        let units_in_layer3 = (0..)
            .take_while(|i| {
                self.tensors
                    .contains_key(&format!("{base}.layer3.{i}.conv1.weight"))
            })
            .count();
        let depth = match (bottleneck, units_in_layer3) {
            (true, 6) => Depth::R50,
            (false, 6) => Depth::R34,
            (false, 2) => Depth::R18,
            (b, n) => {
                return Err(self.arch_error(format!(
                    "a ResNet with {} units and {n} units in layer3 is not one of resnet18/34/50",
                    if b { "bottleneck" } else { "basic" }
                )))
            }
        };
        let width = match self.shape("bottleneck1.weight").as_deref() {
            Some([w]) => *w,
            other => {
                return Err(self.arch_error(format!(
                    "bottleneck1.weight: expected a vector of the feature width, found {}",
                    describe(other)
                )))
            }
        };
        let layer4 = if width == depth.stage_channels(3) {
            true
        } else if width == depth.stage_channels(2) {
            false
        } else {
            return Err(self.arch_error(format!(
                "feature width {width} fits neither layer3 ({}) nor layer4 ({}) of {}",
                depth.stage_channels(2),
                depth.stage_channels(3),
                depth.name()
            )));
        };
        let classes = match self.shape("classifier1.weight").as_deref() {
            Some([c, w]) if *w == width => *c,
            other => {
                return Err(self.arch_error(format!(
                    "classifier1.weight: expected [classes, {width}], found {}",
                    describe(other)
                )))
            }
        };
        Ok(NetConfig {
            depth,
            layer4,
            classes,
        })
    }
}

fn describe(shape: Option<&[i64]>) -> String {
    match shape {
        Some(s) => format!("{s:?}"),
        None => "nothing".to_string(),
    }
}

/// Keys a reference checkpoint holds that the network does not use: the whole `middle_module`
/// ResNet, the layers of the stem copies, the shared copy's own stem, fc layers, BatchNorm's
/// `num_batches_tracked`, and layer4 when the width says it is skipped.
fn ignorable(key: &str, config: &NetConfig) -> bool {
    let stem_copies = ["visible_module.visible.", "thermal_module.thermal."];
    key.starts_with("middle_module.")
        || key.ends_with(".num_batches_tracked")
        || stem_copies.iter().any(|s| {
            key.strip_prefix(s)
                .is_some_and(|rest| rest.starts_with("layer") || rest.starts_with("fc."))
        })
        || ["conv1.", "bn1.", "fc."]
            .iter()
            .any(|s| key.starts_with(&format!("base_resnet.base.{s}")))
        || (!config.layer4 && key.starts_with("base_resnet.base.layer4."))
}

/// Copies `weights` into every variable of `vs` (a network built with `config`). Every
/// missing or mis-shaped tensor, and every tensor the network has no place for, is reported
/// by name in one error. Returns the names of the ignored reference-only tensors.
pub fn load_into(vs: &VarStore, weights: &Weights, config: &NetConfig) -> Result<Vec<String>> {
    let vars = vs.variables();
    let mut problems = Vec::new();
    for (name, var) in sorted(&vars) {
        match weights.tensors.get(name) {
            None => problems.push(format!("missing {name} (expected {:?})", var.size())),
            Some(t) if t.size() != var.size() => problems.push(format!(
                "{name}: expected shape {:?}, found {:?}",
                var.size(),
                t.size()
            )),
            Some(_) => {}
        }
    }
    let mut ignored = Vec::new();
    for key in weights.tensors.keys() {
        if !vars.contains_key(key) {
            if ignorable(key, config) {
                ignored.push(key.clone());
            } else {
                problems.push(format!("unexpected {key}: the network has no such tensor"));
            }
        }
    }
    if !problems.is_empty() {
        problems.sort();
        return Err(NnError::Mismatch {
            path: weights.path.clone(),
            problems,
        });
    }
    tch::no_grad(|| -> Result<()> {
        for (name, var) in vars {
            let src = &weights.tensors[&name];
            let mut var = var;
            var.f_copy_(&src.to_kind(var.kind()).to_device(var.device()))?;
        }
        Ok(())
    })?;
    ignored.sort();
    Ok(ignored)
}

fn sorted(vars: &HashMap<String, Tensor>) -> Vec<(&String, &Tensor)> {
    let mut v: Vec<_> = vars.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

/// Copies an ImageNet ResNet (torchvision keys: `conv1.weight`, `layer1.0.bn1.running_mean`,
/// ...) into both stems and the shared layers, as the reference's constructor does. The
/// BNNecks and classifiers keep their initialisation; `fc` is ignored.
pub fn load_imagenet(vs: &VarStore, weights: &Weights) -> Result<usize> {
    let vars = vs.variables();
    let mut problems = Vec::new();
    let mut pairs = Vec::new();
    for (name, var) in sorted(&vars) {
        let source = if let Some(rest) = name
            .strip_prefix("visible_module.visible.")
            .or_else(|| name.strip_prefix("thermal_module.thermal."))
            .or_else(|| name.strip_prefix("base_resnet.base."))
        {
            rest
        } else {
            continue; // the heads
        };
        match weights.tensors.get(source) {
            None => problems.push(format!(
                "missing {source} (for {name}, expected {:?})",
                var.size()
            )),
            Some(t) if t.size() != var.size() => problems.push(format!(
                "{source}: expected shape {:?}, found {:?} (a backbone of another depth?)",
                var.size(),
                t.size()
            )),
            Some(t) => pairs.push((var.shallow_clone(), t)),
        }
    }
    if !problems.is_empty() {
        return Err(NnError::Mismatch {
            path: weights.path.clone(),
            problems,
        });
    }
    tch::no_grad(|| -> Result<()> {
        for (var, src) in &pairs {
            let mut var = var.shallow_clone();
            var.f_copy_(&src.to_kind(var.kind()).to_device(var.device()))?;
        }
        Ok(())
    })?;
    Ok(pairs.len())
}

/// Writes every variable of `vs` as safetensors (CPU, contiguous), atomically.
pub fn save(vs: &VarStore, path: &Path) -> Result<()> {
    save_tensors(vs.variables(), path)
}

/// Writes named tensors as safetensors (CPU, contiguous, sorted by name), atomically: a
/// temporary file in the same folder, then a rename. Used for weights and optimiser state.
pub fn save_tensors(
    tensors: impl IntoIterator<Item = (String, Tensor)>,
    path: &Path,
) -> Result<()> {
    let sorted: BTreeMap<String, Tensor> = tensors
        .into_iter()
        .map(|(k, v)| (k, v.detach().to_device(Device::Cpu).contiguous()))
        .collect();
    let named: Vec<(&String, &Tensor)> = sorted.iter().collect();
    let tmp = path.with_extension("safetensors.tmp");
    let werr = |e: Box<dyn std::error::Error + Send + Sync>| NnError::Write {
        path: path.to_path_buf(),
        source: e,
    };
    Tensor::write_safetensors(&named, &tmp).map_err(|e| werr(Box::new(e)))?;
    std::fs::rename(&tmp, path).map_err(|e| werr(Box::new(e)))?;
    Ok(())
}

/// Builds the network a checkpoint describes on `device`, loads it and lays its convolutions
/// out channels-last (for `extract`/`test`: faster, and features within float rounding).
pub fn load_network(
    path: &Path,
    device: Device,
) -> Result<(VarStore, crate::PartNet, Vec<String>)> {
    let (vs, net, ignored) = load_network_nchw(path, device)?;
    let net = net.channels_last(&vs);
    Ok((vs, net, ignored))
}

/// [`load_network`] keeping PyTorch's default NCHW layout, whose training steps equal the
/// reference's to float rounding (channels-last gradients reduce in another order).
pub fn load_network_nchw(
    path: &Path,
    device: Device,
) -> Result<(VarStore, crate::PartNet, Vec<String>)> {
    let weights = read(path)?;
    let config = weights.net_config()?;
    let vs = VarStore::new(device);
    let net = crate::network::part_net_to_load(&vs.root(), config);
    let ignored = load_into(&vs, &weights, &config)?;
    check_finite(&vs, path)?;
    Ok((vs, net, ignored))
}

/// A network with a NaN or infinite weight gives NaN features for every image; say so at
/// load, naming the tensor, instead of evaluating garbage.
fn check_finite(vs: &VarStore, path: &Path) -> Result<()> {
    let mut floats: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.is_floating_point())
        .collect();
    floats.sort_by(|a, b| a.0.cmp(&b.0));
    // A sum is finite only when every term is (NaN and the infinities carry through it), so
    // one reduction a tensor and one read settle the usual case in one pass over the weights;
    // isfinite().all() made five (0.07 s of a 0.45 s `embed` start). Huge finite weights can
    // overflow a sum: the exact test below then decides.
    let sums: Vec<Tensor> = tch::no_grad(|| {
        floats
            .iter()
            .map(|(_, t)| t.sum(t.kind()).to_kind(Kind::Double))
            .collect()
    });
    if sums.is_empty() || bool::try_from(Tensor::stack(&sums, 0).isfinite().all())? {
        return Ok(());
    }
    for (name, t) in floats {
        if !bool::try_from(t.isfinite().all())? {
            return Err(NnError::Architecture {
                path: path.to_path_buf(),
                why: format!("tensor {name} holds NaN or infinite values (a diverged run?)"),
            });
        }
    }
    Ok(())
}

/// The reference key names of the heads, for tests and tools.
pub fn head_keys() -> Vec<String> {
    PARTS
        .iter()
        .flat_map(|p| {
            [
                format!("bottleneck{p}.weight"),
                format!("bottleneck{p}.bias"),
                format!("bottleneck{p}.running_mean"),
                format!("bottleneck{p}.running_var"),
                format!("classifier{p}.weight"),
            ]
        })
        .collect()
}
