//! Data-parallel steps between real processes (Gloo over 127.0.0.1, one thread each): after
//! three steps, two ranks that each stepped on their own micro-batch hold weights equal to
//! one process that summed both micro-batches' gradients and averaged them, and both ranks
//! hold the very same bytes. This test binary runs itself once per rank.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use vireid_dist::{spawn_local, Backend, Launch, ProcessGroup};
use vireid_engine::data_parallel::DataParallel;
use vireid_engine::loss::part_losses;
use vireid_engine::sgd::{Sgd, SgdConfig};
use vireid_engine::step::train_step;
use vireid_nn::network::{part_net, NetConfig, PartNet};
use vireid_nn::Depth;

const ROLE: &str = "VIREID_DP_TEST_OUT";
const STEPS: i64 = 3;

fn setup() -> (VarStore, PartNet, Sgd) {
    tch::manual_seed(3);
    let vs = VarStore::new(Device::Cpu);
    let net = part_net(
        &vs.root(),
        NetConfig {
            depth: Depth::R18,
            layer4: true,
            classes: 6,
        },
    );
    let mut sgd = Sgd::new(&vs, SgdConfig::default());
    sgd.set_lr(0.05);
    (vs, net, sgd)
}

/// Rank `rank`'s batch at `step`: 2 people x 2 images per modality, people differing by rank.
fn micro_batch(step: i64, rank: i64) -> (Tensor, Tensor, Tensor) {
    tch::manual_seed(100 + 10 * step + rank);
    let v = Tensor::randn([4, 3, 96, 48], (Kind::Float, Device::Cpu));
    let t = Tensor::randn([4, 3, 96, 48], (Kind::Float, Device::Cpu));
    let (a, b) = (2 * rank, 2 * rank + 1);
    let labels = Tensor::from_slice(&[a, a, b, b, a, a, b, b]);
    (v, t, labels)
}

fn sorted(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut w: Vec<_> = vs.variables().into_iter().collect();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

/// In a rank: three data-parallel steps, the weights written to OUT/rankR.safetensors.
fn as_rank(out: &Path) {
    tch::set_num_threads(1);
    let launch = Launch::from_env().unwrap().unwrap();
    let group = ProcessGroup::join(&launch, Backend::Gloo, Duration::from_secs(60)).unwrap();
    let (vs, net, mut sgd) = setup();
    let dp = DataParallel::new(&group, &vs);
    for step in 0..STEPS {
        let (v, t, labels) = micro_batch(step, launch.rank as i64);
        train_step(&net, &mut sgd, Some(&dp), &v, &t, &labels).unwrap();
        assert!(dp.in_step().unwrap(), "ranks differ after step {step}");
    }
    vs.save(out.join(format!("rank{}.safetensors", launch.rank)))
        .unwrap();
}

/// One process: both micro-batches' gradients summed and halved, rank 0's running
/// statistics kept (as the ranks take rank 0's after each step).
fn accumulated() -> VarStore {
    tch::set_num_threads(1);
    let (vs, net, mut sgd) = setup();
    let buffers: Vec<Tensor> = sorted(&vs)
        .into_iter()
        .filter(|(_, t)| !t.requires_grad())
        .map(|(_, t)| t)
        .collect();
    for step in 0..STEPS {
        sgd.zero_grad();
        let mut kept = Vec::new();
        for rank in 0..2 {
            let (v, t, labels) = micro_batch(step, rank);
            let out = net.forward_train(&v, &t);
            let losses = part_losses(&out.pooled, &out.logits, &labels).unwrap();
            losses.total.backward();
            if rank == 0 {
                kept = buffers.iter().map(Tensor::copy).collect();
            }
        }
        tch::no_grad(|| {
            for (b, k) in buffers.iter().zip(&kept) {
                b.shallow_clone().copy_(k);
            }
            for g in sgd.gradients() {
                let _ = g.shallow_clone().g_div_scalar_(2.0);
            }
        });
        sgd.step();
    }
    vs
}

#[test]
fn two_ranks_match_one_process_accumulating_both_batches() {
    if let Some(out) = std::env::var_os(ROLE) {
        as_rank(Path::new(&out));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let test = "two_ranks_match_one_process_accumulating_both_batches";
    let args = [test, "--exact", "--nocapture", "--test-threads=1"].map(Into::into);
    let out = dir.path().to_str().unwrap();
    let ranks = spawn_local(&exe, &args, 2, &[(ROLE, out)], |cmd| {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    })
    .unwrap();
    let expected = accumulated();
    for (rank, child) in ranks.into_iter().enumerate() {
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "rank {rank}:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let read = |r: usize| {
        let mut w =
            Tensor::read_safetensors(dir.path().join(format!("rank{r}.safetensors"))).unwrap();
        w.sort_by(|a, b| a.0.cmp(&b.0));
        w
    };
    let (r0, r1) = (read(0), read(1));
    let want = sorted(&expected);
    assert_eq!(r0.len(), want.len());
    let mut moved = 0;
    for (((name, a), (_, b)), (_, w)) in r0.iter().zip(&r1).zip(&want) {
        assert!(a.equal(b), "{name}: the ranks' bytes differ");
        let diff = (a - w).abs().max().double_value(&[]);
        assert!(diff <= 1e-5, "{name}: differs from accumulation by {diff}");
        if w.requires_grad() {
            moved += 1;
        }
    }
    assert!(moved > 50, "only {moved} trained variables compared");
    // The steps did something: the weights are not the initial ones.
    let (init, _, _) = setup();
    let changed = sorted(&init)
        .iter()
        .zip(&want)
        .filter(|((_, a), (_, b))| !a.equal(b))
        .count();
    assert!(changed > 50, "only {changed} variables moved");
}
