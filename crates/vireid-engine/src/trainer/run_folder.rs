//! The run folder: its state.json (everything a resume needs besides two tensor files), the
//! resume rules, and the commit that makes a killed run resumable at any moment: tensors
//! first under new names, then the state that points at them (atomically), then the old
//! files removed.

use super::records::{EpochRecord, EvalScores, Partial};
use super::RunOptions;
use crate::amp::{LossScale, Precision};
use crate::config::TrainConfig;
use crate::error::{write_atomic, EngineError, Result};
use crate::sgd::Sgd;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::{Device, Tensor};
use vireid_nn::{weights, NetConfig};

/// The run folder's state.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub config: TrainConfig,
    pub network: NetConfig,
    /// The first epoch not yet done.
    pub next_epoch: usize,
    pub weights: Option<String>,
    pub optimizer: Option<String>,
    pub best: Option<(usize, EvalScores)>,
    pub history: Vec<EpochRecord>,
    /// Set when the run stopped inside epoch `next_epoch`: how far it got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
    /// The mixed-precision loss scale (CUDA with `amp` only).
    #[serde(default)]
    pub loss_scale: LossScale,
    /// Where and how the run last trained (absent in run folders older than this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<Precision>,
    /// The file the backbone started from (`pretrained` resolved), none for random weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_weights: Option<PathBuf>,
    /// How many processes train it (data-parallel); a resume needs as many.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub world_size: usize,
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

impl RunState {
    /// A run about to take its first step.
    pub fn fresh(config: &TrainConfig, network: NetConfig) -> RunState {
        RunState {
            config: config.clone(),
            network,
            next_epoch: 0,
            weights: None,
            optimizer: None,
            best: None,
            history: Vec::new(),
            partial: None,
            loss_scale: LossScale::default(),
            device: None,
            precision: None,
            initial_weights: None,
            world_size: 1,
        }
    }
}

/// A device as `--device` names it.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(k) => format!("cuda:{k}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Whether a run saved as `saved` may continue with `config` on `device`: a change of
/// precision is refused (the loss scale and the numbers would change mid-run), a change of
/// device alone is allowed with a note.
pub fn check_resume_device(
    dir: &Path,
    saved: &RunState,
    config: &TrainConfig,
    device: Device,
) -> Result<Option<String>> {
    let precision = Precision::of(config.amp, device);
    let here = device_name(device);
    let Some(before) = saved.precision else {
        return Ok(Some(format!(
            "{} does not record the device it trained on (an older run folder); continuing in \
             {} on {here}",
            dir.display(),
            precision.words()
        )));
    };
    let was = saved.device.clone().unwrap_or_else(|| "?".into());
    if before != precision {
        let fix = match before {
            Precision::Float32 => format!(
                "resume with --device {was}, or set amp = false in the config to continue in \
                 float32 on {here}"
            ),
            Precision::MixedFloat16 => format!("resume on a GPU (--device {was})"),
        };
        return Err(EngineError::Precision {
            dir: dir.to_path_buf(),
            why: format!(
                "the run trained in {} on {was}; resuming on {here} would train in {}: {fix}",
                before.words(),
                precision.words()
            ),
        });
    }
    Ok((was != here).then(|| {
        format!(
            "{} trained on {was}; continuing on {here} in {} (results may differ in the last \
             digits from a run that stayed on one device)",
            dir.display(),
            precision.words()
        )
    }))
}

pub(crate) fn state_path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

/// Reads a run folder's state, if it has one.
pub fn read_state(dir: &Path) -> Result<Option<RunState>> {
    let path = state_path(dir);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|source| EngineError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| EngineError::State { path, source })
}

/// A run folder being trained into.
pub struct RunFolder {
    pub dir: PathBuf,
}

impl RunFolder {
    /// The folder, created if needed.
    pub fn create(dir: &Path) -> Result<RunFolder> {
        std::fs::create_dir_all(dir).map_err(|source| EngineError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(RunFolder {
            dir: dir.to_path_buf(),
        })
    }

    /// The state to continue from: the saved one, with its weights and optimiser state
    /// loaded, when `run.resume` (only `epochs` may differ from the saved config, so a
    /// finished run can be extended, `amp` where the precision stays the same, and
    /// `pretrained`, which only a fresh run reads); a fresh one, with `run.init` loaded into
    /// the backbone, when there is none. A folder holding a run is refused without `resume`.
    /// With the state comes what to tell the user about the resume (a change of device), if
    /// anything.
    pub fn start(
        &self,
        config: &TrainConfig,
        network: NetConfig,
        vs: &VarStore,
        sgd: &mut Sgd,
        run: &RunOptions<'_>,
    ) -> Result<(RunState, Option<String>)> {
        let device = run.device;
        let mut note = None;
        let mut state = match read_state(&self.dir)? {
            Some(old) if run.resume => {
                // The number of epochs may grow; amp may change as long as the precision does
                // not (checked next: a CPU run may go on in float32 on a GPU).
                let same = TrainConfig {
                    epochs: config.epochs,
                    amp: config.amp,
                    amp_max_floor_overflows: config.amp_max_floor_overflows,
                    pretrained: config.pretrained.clone(),
                    ..old.config.clone()
                };
                if same != *config {
                    return Err(EngineError::ConfigChanged {
                        dir: self.dir.clone(),
                        saved: self.dir.join("config.toml"),
                    });
                }
                note = check_resume_device(&self.dir, &old, config, device)?;
                if let (Some(wf), Some(of)) = (&old.weights, &old.optimizer) {
                    let w = weights::read(&self.dir.join(wf))?;
                    weights::load_into(vs, &w, &network)?;
                    let buffers = Tensor::read_safetensors(self.dir.join(of))?;
                    sgd.load_state(buffers)?;
                }
                // What the run started from stays on record.
                let config = TrainConfig {
                    pretrained: old.config.pretrained.clone(),
                    ..config.clone()
                };
                RunState { config, ..old }
            }
            Some(_) => {
                return Err(EngineError::RunExists {
                    dir: self.dir.clone(),
                })
            }
            None => {
                let mut fresh = RunState::fresh(config, network);
                if let Some(p) = run.init {
                    weights::load_imagenet(vs, &weights::read(p)?)?;
                    fresh.initial_weights = Some(p.to_path_buf());
                }
                fresh
            }
        };
        state.device = Some(device_name(device));
        state.precision = Some(Precision::of(config.amp, device));
        write_atomic(
            &self.dir.join("config.toml"),
            state.config.to_toml().as_bytes(),
        )?;
        Ok((state, note))
    }

    /// Saves the weights and optimiser state of `epoch` (with `partial`: of the steps done in
    /// it), then the state that points at them (the commit point), then removes the previous
    /// files.
    pub fn commit(
        &self,
        vs: &VarStore,
        sgd: &Sgd,
        state: &mut RunState,
        epoch: usize,
        partial: Option<Partial>,
    ) -> Result<()> {
        let (wname, oname, next_epoch) = match partial {
            Some(p) => (
                format!("epoch{epoch}.step{}.safetensors", p.steps),
                format!("epoch{epoch}.step{}.optim.safetensors", p.steps),
                epoch,
            ),
            None => (
                format!("epoch{epoch}.safetensors"),
                format!("epoch{epoch}.optim.safetensors"),
                epoch + 1,
            ),
        };
        weights::save(vs, &self.dir.join(&wname))?;
        weights::save_tensors(sgd.state(), &self.dir.join(&oname))?;
        let old = (state.weights.take(), state.optimizer.take());
        state.weights = Some(wname);
        state.optimizer = Some(oname);
        state.next_epoch = next_epoch;
        state.partial = partial;
        let json = serde_json::to_vec_pretty(&state).expect("state serialises");
        write_atomic(&state_path(&self.dir), &json)?;
        for f in [old.0, old.1].into_iter().flatten() {
            if Some(&f) != state.weights.as_ref() && Some(&f) != state.optimizer.as_ref() {
                let _ = std::fs::remove_file(self.dir.join(f));
            }
        }
        Ok(())
    }

    /// The final weights under a stable name.
    pub fn save_last(&self, vs: &VarStore) -> Result<()> {
        Ok(weights::save(vs, &self.dir.join("last.safetensors"))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrainConfig;
    use vireid_data::Dataset;
    use vireid_nn::{Depth, NetConfig};

    fn saved(device: Option<&str>, precision: Option<Precision>) -> RunState {
        let config = TrainConfig::preset(Dataset::Sysu);
        let network = NetConfig {
            depth: Depth::R50,
            layer4: true,
            classes: 395,
        };
        RunState {
            device: device.map(str::to_string),
            precision,
            ..RunState::fresh(&config, network)
        }
    }

    #[test]
    fn a_resume_that_would_change_precision_is_refused_with_the_way_out() {
        let dir = Path::new("runs/x");
        let amp = TrainConfig::preset(Dataset::Sysu);
        let cpu_run = saved(Some("cpu"), Some(Precision::Float32));
        // A CPU run resumed on a GPU with amp on would switch to float16 mid-run.
        let err = check_resume_device(dir, &cpu_run, &amp, Device::Cuda(0))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("float32 on cpu") && err.contains("cuda:0"),
            "{err}"
        );
        assert!(
            err.contains("--device cpu") && err.contains("amp = false"),
            "{err}"
        );
        // With amp off the GPU continues in float32: allowed, with a note.
        let fp32 = TrainConfig {
            amp: false,
            ..amp.clone()
        };
        let note = check_resume_device(dir, &cpu_run, &fp32, Device::Cuda(0)).unwrap();
        assert!(note.unwrap().contains("trained on cpu"));
        // A mixed-precision run cannot continue on the CPU.
        let gpu_run = saved(Some("cuda:0"), Some(Precision::MixedFloat16));
        let err = check_resume_device(dir, &gpu_run, &amp, Device::Cpu).unwrap_err();
        assert!(err.to_string().contains("--device cuda:0"), "{err}");
        // Another GPU: a note; the same device: nothing to say.
        assert!(check_resume_device(dir, &gpu_run, &amp, Device::Cuda(1))
            .unwrap()
            .is_some());
        assert!(check_resume_device(dir, &cpu_run, &amp, Device::Cpu)
            .unwrap()
            .is_none());
        // An older folder without the record: allowed, said.
        let old = saved(None, None);
        let note = check_resume_device(dir, &old, &amp, Device::Cpu)
            .unwrap()
            .unwrap();
        assert!(note.contains("does not record"), "{note}");
    }
}
