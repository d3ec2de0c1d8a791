//! Fuzzing of the readers of untrusted files on the network side: reference checkpoints
//! (torch.save zip and legacy pickle, read by pytorch-reader) and our safetensors (the training
//! config's fuzzing lives with the config, in vireid-engine). Mutated copies of the committed corpus (tests/fuzz-corpus) must give Ok
//! or an error, never a panic or an abort. `PROPTEST_CASES=20000 cargo test --release -p
//! vireid-nn --test fuzz` is the long run; failures found are kept in
//! tests/fuzz.proptest-regressions and replayed first.

#[path = "../../vireid-data/tests/common/mutate.rs"]
mod mutate;

use mutate::{apply, cases, edits, seed_file};
use proptest::prelude::*;
use std::path::Path;
use vireid_nn::weights;

fn seed(name: &str) -> Vec<u8> {
    seed_file(env!("CARGO_MANIFEST_DIR"), name)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(200)))]

    #[test]
    fn checkpoints(pick in 0usize..3, e in edits()) {
        let name = ["reference.t", "legacy.pth", "ours.safetensors"][pick];
        let bytes = apply(&seed(name), &e);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        if let Ok(w) = weights::read(&path) {
            let _ = w.net_config();
        }
    }
}

#[test]
fn the_corpus_reads() {
    // The seeds themselves are valid: the mutations are what may fail.
    for name in ["reference.t", "legacy.pth", "ours.safetensors"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus");
        weights::read(&dir.join(name)).unwrap();
    }
}
