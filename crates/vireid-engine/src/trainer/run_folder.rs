//! The run folder: its state.json (everything a resume needs besides two tensor files), the
//! resume rules, and the commit that makes a killed run resumable at any moment: tensors
//! first under new names, then the state that points at them (atomically), then the old
//! files removed.

use super::records::{EpochRecord, EvalScores, Partial};
use crate::amp::LossScale;
use crate::config::TrainConfig;
use crate::error::{write_atomic, EngineError, Result};
use crate::sgd::Sgd;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::Tensor;
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
        }
    }
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
    /// loaded, when `resume` (only `epochs` may differ from the saved config, so a finished
    /// run can be extended); a fresh one, with `config.pretrained` loaded, when there is none.
    /// A folder holding a run is refused without `resume`.
    pub fn start(
        &self,
        config: &TrainConfig,
        network: NetConfig,
        vs: &VarStore,
        sgd: &mut Sgd,
        resume: bool,
    ) -> Result<RunState> {
        let state = match read_state(&self.dir)? {
            Some(old) if resume => {
                let same = TrainConfig {
                    epochs: config.epochs,
                    ..old.config.clone()
                };
                if same != *config {
                    return Err(EngineError::ConfigChanged {
                        dir: self.dir.clone(),
                        saved: self.dir.join("config.toml"),
                    });
                }
                if let (Some(wf), Some(of)) = (&old.weights, &old.optimizer) {
                    let w = weights::read(&self.dir.join(wf))?;
                    weights::load_into(vs, &w, &network)?;
                    let buffers = Tensor::read_safetensors(self.dir.join(of))?;
                    sgd.load_state(buffers)?;
                }
                RunState {
                    config: config.clone(),
                    ..old
                }
            }
            Some(_) => {
                return Err(EngineError::RunExists {
                    dir: self.dir.clone(),
                })
            }
            None => {
                if let Some(p) = &config.pretrained {
                    weights::load_imagenet(vs, &weights::read(p)?)?;
                }
                RunState::fresh(config, network)
            }
        };
        write_atomic(&self.dir.join("config.toml"), config.to_toml().as_bytes())?;
        Ok(state)
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
