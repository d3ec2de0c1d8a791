//! Where this process sits in a job, read from the environment that `torchrun` and
//! `vireid train --nproc` set: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT
//! (PyTorch's names, so the same job scripts work), or else from `srun`'s SLURM_PROCID,
//! SLURM_NTASKS and SLURM_LOCALID with MASTER_ADDR and MASTER_PORT exported by the job script.

use crate::error::{DistError, Result};

/// One process's place in a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub rank: usize,
    pub world_size: usize,
    /// The rank among the processes of this machine: which GPU it drives.
    pub local_rank: usize,
    /// How many of the job's processes run on this machine, when the launcher says
    /// (LOCAL_WORLD_SIZE, SLURM_NTASKS_PER_NODE).
    pub local_world_size: Option<usize>,
    pub master_addr: String,
    pub master_port: u16,
}

/// The variable names one kind of launcher uses.
struct Names {
    rank: &'static str,
    world: &'static str,
    local_rank: &'static str,
    local_world: &'static str,
}

const TORCHRUN: Names = Names {
    rank: "RANK",
    world: "WORLD_SIZE",
    local_rank: "LOCAL_RANK",
    local_world: "LOCAL_WORLD_SIZE",
};

const SLURM: Names = Names {
    rank: "SLURM_PROCID",
    world: "SLURM_NTASKS",
    local_rank: "SLURM_LOCALID",
    local_world: "SLURM_NTASKS_PER_NODE",
};

impl Launch {
    /// The launch the environment describes; `None` for a single process (no WORLD_SIZE, or
    /// WORLD_SIZE=1 without a RANK). A partial or malformed environment is an error naming
    /// the variable.
    pub fn from_env() -> Result<Option<Launch>> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`Launch::from_env`], reading variables through `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Launch>> {
        let Some(world) = get("WORLD_SIZE") else {
            if get("RANK").is_some() {
                return Err(DistError::PartialEnv {
                    var: "RANK",
                    missing: "WORLD_SIZE",
                });
            }
            return Self::from_slurm(&get);
        };
        let world_size: usize = number("WORLD_SIZE", &world, "a positive whole number")?;
        if world_size == 0 {
            return Err(DistError::Env {
                var: "WORLD_SIZE",
                value: world,
                expected: "a positive whole number",
            });
        }
        if world_size == 1 && get("RANK").is_none() {
            return Ok(None);
        }
        let need = |name: &'static str| {
            get(name).ok_or(DistError::PartialEnv {
                var: "WORLD_SIZE",
                missing: name,
            })
        };
        let (rank, addr, port) = (need("RANK")?, need("MASTER_ADDR")?, need("MASTER_PORT")?);
        Self::assemble(&TORCHRUN, &get, world_size, &rank, addr, &port).map(Some)
    }

    /// A task of `srun` (SLURM_PROCID of SLURM_NTASKS, SLURM_LOCALID on its machine) whose
    /// job script exported MASTER_ADDR and MASTER_PORT. Without those two, or with one task,
    /// it is not taken for a distributed launch (an allocation's shell has SLURM variables
    /// too).
    fn from_slurm(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Launch>> {
        let (Some(tasks), Some(id), Some(addr), Some(port)) = (
            get(SLURM.world),
            get(SLURM.rank),
            get("MASTER_ADDR"),
            get("MASTER_PORT"),
        ) else {
            return Ok(None);
        };
        let world_size: usize = number(SLURM.world, &tasks, "a positive whole number")?;
        if world_size < 2 {
            return Ok(None);
        }
        Self::assemble(&SLURM, get, world_size, &id, addr, &port).map(Some)
    }

    /// The rest of a launch of `world_size` once the launcher's rank and master are known:
    /// the rank checked against the size, the port, and the optional local rank and size.
    fn assemble(
        names: &Names,
        get: &impl Fn(&str) -> Option<String>,
        world_size: usize,
        rank: &str,
        master_addr: String,
        port: &str,
    ) -> Result<Launch> {
        let rank: usize = number(names.rank, rank, "a whole number")?;
        if rank >= world_size {
            return Err(DistError::RankRange {
                rank,
                world: world_size,
            });
        }
        let master_port: u16 = number("MASTER_PORT", port, "a port number (1-65535)")?;
        if master_port == 0 {
            return Err(DistError::Env {
                var: "MASTER_PORT",
                value: port.to_string(),
                expected: "a port number (1-65535)",
            });
        }
        let optional = |name: &'static str| -> Result<Option<usize>> {
            get(name)
                .map(|v| number(name, &v, "a whole number"))
                .transpose()
        };
        Ok(Launch {
            rank,
            world_size,
            // torchrun always sets it; a hand-made launch of one process per machine may not.
            local_rank: optional(names.local_rank)?.unwrap_or(0),
            local_world_size: optional(names.local_world)?,
            master_addr,
            master_port,
        })
    }

    /// The variables a child process of a one-machine job of `world_size` gets.
    pub fn child_env(rank: usize, world_size: usize, port: u16) -> Vec<(&'static str, String)> {
        vec![
            ("RANK", rank.to_string()),
            ("WORLD_SIZE", world_size.to_string()),
            ("LOCAL_RANK", rank.to_string()),
            ("LOCAL_WORLD_SIZE", world_size.to_string()),
            ("MASTER_ADDR", "127.0.0.1".to_string()),
            ("MASTER_PORT", port.to_string()),
        ]
    }
}

fn number<T: std::str::FromStr>(
    var: &'static str,
    value: &str,
    expected: &'static str,
) -> Result<T> {
    value.trim().parse().map_err(|_| DistError::Env {
        var,
        value: value.to_string(),
        expected,
    })
}

/// A port on 127.0.0.1 that was free a moment ago, for a one-machine job's rendezvous.
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Starts a one-machine job: `world` copies of `program args`, each with its rank's launch
/// environment (a free port on 127.0.0.1) and `env`.
pub fn spawn_local(
    program: &std::path::Path,
    args: &[std::ffi::OsString],
    world: usize,
    env: &[(&str, &str)],
    configure: impl Fn(&mut std::process::Command),
) -> std::io::Result<Vec<std::process::Child>> {
    let port = free_port()?;
    (0..world)
        .map(|rank| {
            let mut cmd = std::process::Command::new(program);
            cmd.args(args)
                .envs(Launch::child_env(rank, world, port))
                .envs(env.iter().copied());
            configure(&mut cmd);
            cmd.spawn()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn launch(vars: &[(&str, &str)]) -> Result<Option<Launch>> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Launch::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn torchrun_environment_is_read() {
        let got = launch(&[
            ("RANK", "3"),
            ("WORLD_SIZE", "8"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "node0"),
            ("MASTER_PORT", "29500"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            got,
            Launch {
                rank: 3,
                world_size: 8,
                local_rank: 1,
                local_world_size: None,
                master_addr: "node0".into(),
                master_port: 29500
            }
        );
    }

    #[test]
    fn no_environment_is_one_process() {
        assert_eq!(launch(&[]).unwrap(), None);
        assert_eq!(launch(&[("WORLD_SIZE", "1")]).unwrap(), None);
    }

    #[test]
    fn bad_environments_name_the_variable() {
        let text = |vars: &[(&str, &str)]| launch(vars).unwrap_err().to_string();
        assert!(text(&[("RANK", "0")]).contains("WORLD_SIZE"));
        assert!(text(&[("WORLD_SIZE", "two")]).contains("WORLD_SIZE=\"two\""));
        assert!(text(&[("WORLD_SIZE", "2"), ("RANK", "0")]).contains("MASTER_ADDR"));
        let full = |rank: &str, port: &str| {
            text(&[
                ("WORLD_SIZE", "2"),
                ("RANK", rank),
                ("MASTER_ADDR", "h"),
                ("MASTER_PORT", port),
            ])
        };
        assert!(full("2", "1").contains("not below WORLD_SIZE 2"));
        assert!(full("0", "70000").contains("MASTER_PORT"));
        assert!(full("0", "0").contains("MASTER_PORT"));
    }

    #[test]
    fn srun_tasks_are_ranks_when_the_master_is_exported() {
        let slurm = [
            ("SLURM_NTASKS", "16"),
            ("SLURM_PROCID", "9"),
            ("SLURM_LOCALID", "1"),
        ];
        // An allocation's shell, or a script that did not export the master: one process.
        assert_eq!(launch(&slurm).unwrap(), None);
        let mut full = slurm.to_vec();
        full.extend([("MASTER_ADDR", "node0"), ("MASTER_PORT", "29500")]);
        let got = launch(&full).unwrap().unwrap();
        assert_eq!((got.rank, got.world_size, got.local_rank), (9, 16, 1));
        let mut port0 = full.clone();
        port0.retain(|(k, _)| *k != "MASTER_PORT");
        port0.push(("MASTER_PORT", "0"));
        assert!(launch(&port0)
            .unwrap_err()
            .to_string()
            .contains("MASTER_PORT"));
        // torchrun's variables win over SLURM's.
        full.extend([("WORLD_SIZE", "2"), ("RANK", "1")]);
        assert_eq!(launch(&full).unwrap().unwrap().world_size, 2);
        let one = [
            ("SLURM_NTASKS", "1"),
            ("SLURM_PROCID", "0"),
            ("MASTER_ADDR", "node0"),
            ("MASTER_PORT", "29500"),
        ];
        assert_eq!(launch(&one).unwrap(), None);
    }

    #[test]
    fn child_environment_reads_back() {
        let env = Launch::child_env(1, 2, 4242);
        let got = launch(
            &env.iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (got.rank, got.world_size, got.local_rank, got.master_port),
            (1, 2, 1, 4242)
        );
    }
}
