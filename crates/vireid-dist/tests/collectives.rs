//! The c10d collectives between real processes: this test binary runs itself once per rank
//! (Gloo over 127.0.0.1, one thread each), as torchrun would start a job.

use std::process::Stdio;
use std::time::{Duration, Instant};
use tch::Tensor;
use vireid_dist::grads::{average, identical, share};
use vireid_dist::{spawn_local, Backend, Launch, ProcessGroup, ReduceOp};

const ROLE: &str = "VIREID_DIST_TEST_ROLE";

/// In a rank process: its group. In the test process: `None`, after running `test` once per
/// rank (of `world`) and checking each exit.
fn ranks(test: &str, world: usize) -> Option<ProcessGroup> {
    if std::env::var_os(ROLE).is_some() {
        tch::set_num_threads(1);
        let launch = Launch::from_env().unwrap().expect("the rank's environment");
        return Some(ProcessGroup::join(&launch, Backend::Gloo, Duration::from_secs(30)).unwrap());
    }
    let args = [test, "--exact", "--nocapture", "--test-threads=1"].map(Into::into);
    let exe = std::env::current_exe().unwrap();
    let children = spawn_local(&exe, &args, world, &[(ROLE, "rank")], |cmd| {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    })
    .unwrap();
    for (rank, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "rank {rank} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    None
}

#[test]
fn all_reduce_broadcast_gather_and_barrier() {
    let Some(group) = ranks("all_reduce_broadcast_gather_and_barrier", 3) else {
        return;
    };
    let r = group.rank() as f64;
    let t = Tensor::from_slice(&[r, 10.0 * r, -r]);
    group.all_reduce(&t, ReduceOp::Sum).unwrap();
    assert_eq!(Vec::<f64>::try_from(&t).unwrap(), vec![3.0, 30.0, -3.0]);
    let m = Tensor::from_slice(&[r as i64]);
    group.all_reduce(&m, ReduceOp::Max).unwrap();
    assert_eq!(m.int64_value(&[0]), 2);
    let b = Tensor::from_slice(&[r as f32 + 0.5; 4]);
    group.broadcast(&b, 1).unwrap();
    assert_eq!(Vec::<f32>::try_from(&b).unwrap(), vec![1.5; 4]);
    let gathered = group
        .all_gather(&Tensor::from_slice(&[r as i32, 7]))
        .unwrap();
    let got: Vec<Vec<i32>> = gathered.iter().map(|t| Vec::try_from(t).unwrap()).collect();
    assert_eq!(got, vec![vec![0, 7], vec![1, 7], vec![2, 7]]);
    group.barrier().unwrap();
}

#[test]
fn gradients_average_and_parameters_share_across_kinds() {
    let Some(group) = ranks("gradients_average_and_parameters_share_across_kinds", 2) else {
        return;
    };
    let r = group.rank() as f64;
    // Two gradients of different shapes and a third of another element type.
    let grads = [
        Tensor::from_slice(&[1.0f32 + r as f32, 3.0]).view([2, 1]),
        Tensor::from_slice(&[0.25f32 * r as f32; 6]).view([2, 3]),
        Tensor::from_slice(&[2.0f64 * r]),
    ];
    average(&group, &grads).unwrap();
    assert_eq!(
        Vec::<f32>::try_from(&grads[0].view([-1])).unwrap(),
        vec![1.5, 3.0]
    );
    assert_eq!(
        Vec::<f32>::try_from(&grads[1].view([-1])).unwrap(),
        vec![0.125; 6]
    );
    assert_eq!(grads[2].double_value(&[0]), 1.0);
    let params = [
        Tensor::from_slice(&[r as f32; 3]),
        Tensor::from_slice(&[10 + r as i64]),
    ];
    assert!(!identical(&group, &params).unwrap());
    share(&group, &params, 1).unwrap();
    assert_eq!(Vec::<f32>::try_from(&params[0]).unwrap(), vec![1.0; 3]);
    assert_eq!(params[1].int64_value(&[0]), 11);
    assert!(identical(&group, &params).unwrap());
}

/// A rank that dies makes the others' next collective fail with a clear error, soon, instead
/// of hanging until the 30 s timeout.
#[test]
fn a_dead_peer_fails_the_collective_not_hangs() {
    let Some(group) = ranks("a_dead_peer_fails_the_collective_not_hangs", 2) else {
        return;
    };
    let t = Tensor::from_slice(&[1.0f32]);
    group.all_reduce(&t, ReduceOp::Sum).unwrap();
    if group.rank() == 1 {
        // Gone without a word, as a killed process is.
        unsafe { libc_exit() };
    }
    let start = Instant::now();
    let err = group.all_reduce(&t, ReduceOp::Sum).unwrap_err().to_string();
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        err.contains("all-reduce across 2 processes failed on rank 0"),
        "{err}"
    );
}

unsafe fn libc_exit() -> ! {
    extern "C" {
        fn _exit(code: i32) -> !;
    }
    _exit(0)
}

/// The NCCL backend's constructors are looked up in libtorch_cuda when a group is made (the
/// `vireid` executable links without that library). On a machine with a GPU a group of one
/// is made through them; without one, the constructor itself runs and refuses in words: a
/// lookup that found nothing, or a pointer of the wrong type, would say or do otherwise.
#[test]
fn an_nccl_group_is_made_through_the_looked_up_constructors() {
    if !Backend::nccl_built() {
        return;
    }
    let launch = Launch {
        rank: 0,
        world_size: 1,
        local_rank: 0,
        local_world_size: Some(1),
        master_addr: "127.0.0.1".into(),
        master_port: vireid_dist::free_port().unwrap(),
    };
    let made = ProcessGroup::join(&launch, Backend::Nccl, Duration::from_secs(20));
    if tch::Cuda::is_available() {
        let group = made.unwrap();
        let t = Tensor::from_slice(&[2.0f32, -1.0]).to_device(tch::Device::Cuda(0));
        group.all_reduce(&t, ReduceOp::Sum).unwrap();
        assert_eq!(
            Vec::<f32>::try_from(&t.to_device(tch::Device::Cpu)).unwrap(),
            vec![2.0, -1.0]
        );
    } else {
        let err = made.map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("nccl") && err.contains("GPU"), "{err}");
        assert!(
            !err.contains("did not load") && !err.contains("has no _Z"),
            "{err}"
        );
    }
}
