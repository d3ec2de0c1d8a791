//! Batch-by-batch extraction, whose next batch loads on another thread while the network runs:
//! loads come in order, once each, the features equal one pass over all images, and a load
//! that fails ends the extraction with its own error.

use std::sync::Mutex;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use vireid_nn::features::{extract_with, ExtractOptions, Geometry};
use vireid_nn::network::{part_net, NetConfig};
use vireid_nn::{Depth, Modality, NnError};

#[derive(Debug)]
enum LoadError {
    Nn(#[allow(dead_code)] NnError),
    Broken(usize),
}

impl From<NnError> for LoadError {
    fn from(e: NnError) -> Self {
        LoadError::Nn(e)
    }
}

#[test]
fn the_next_batch_loads_while_the_network_runs() {
    tch::manual_seed(9);
    let vs = VarStore::new(Device::Cpu);
    let config = NetConfig {
        depth: Depth::R18,
        layer4: true,
        classes: 4,
    };
    let net = part_net(&vs.root(), config);
    let geometry = Geometry {
        channels: 3,
        height: 96,
        width: 48,
    };
    let len = geometry.image_len();
    let n = 7;
    let all = Tensor::randn([n as i64, 3, 96, 48], (Kind::Float, Device::Cpu));
    let mut flat = vec![0f32; n * len];
    all.copy_data(&mut flat, n * len);
    let options = ExtractOptions {
        device: Device::Cpu,
        modality: Modality::Thermal,
        flip: false,
        batch: 3,
    };
    let calls = Mutex::new(Vec::new());
    let load = |first: usize, slots: &mut [f32]| -> Result<(), LoadError> {
        calls.lock().unwrap().push((first, slots.len() / len));
        slots.copy_from_slice(&flat[first * len..first * len + slots.len()]);
        Ok(())
    };
    let mut seen = Vec::new();
    let f = extract_with(&net, n, geometry, &options, load, |d| seen.push(d)).unwrap();
    assert_eq!(*calls.lock().unwrap(), [(0, 3), (3, 3), (6, 1)]);
    assert_eq!(seen, [3, 6, 7]);
    let (pool, bn) = tch::no_grad(|| net.forward_eval(&all, Modality::Thermal));
    for (ours, whole) in [(&f.pool, pool), (&f.bn, bn)] {
        let whole: Vec<f32> = Vec::try_from(whole.flatten(0, -1)).unwrap();
        let worst = ours
            .iter()
            .zip(&whole)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst < 1e-5, "{worst}");
    }
    // The third batch's load fails while the second batch is in the network.
    let failing = |first: usize, slots: &mut [f32]| -> Result<(), LoadError> {
        if first == 6 {
            return Err(LoadError::Broken(first));
        }
        slots.copy_from_slice(&flat[first * len..first * len + slots.len()]);
        Ok(())
    };
    let err = extract_with(&net, n, geometry, &options, failing, |_| {}).unwrap_err();
    assert!(matches!(err, LoadError::Broken(6)), "{err:?}");
}
