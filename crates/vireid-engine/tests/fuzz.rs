//! Fuzzing of the TOML training config, the one untrusted text file the engine reads: mutated
//! copies of the committed corpus (tests/fuzz-corpus/config.toml) and arbitrary text must give
//! a config or an error, never a panic. `PROPTEST_CASES=20000 cargo test --release -p
//! vireid-engine --test fuzz` is the long run.

#[path = "../../vireid-data/tests/common/mutate.rs"]
mod mutate;

use mutate::{apply, cases, edits, seed_file};
use proptest::prelude::*;
use vireid_data::Dataset;
use vireid_engine::config::TrainConfig;

fn seed(name: &str) -> Vec<u8> {
    seed_file(env!("CARGO_MANIFEST_DIR"), name)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(200)))]

    #[test]
    fn training_configs(e in edits()) {
        let text = String::from_utf8_lossy(&apply(&seed("config.toml"), &e)).into_owned();
        if let Ok(c) = TrainConfig::overlay(Dataset::Sysu, &text) {
            let _ = c.validate();
            let _ = c.lr_at(c.epochs);
        }
    }

    #[test]
    fn arbitrary_config_text(text in "\\PC{0,200}") {
        if let Ok(c) = TrainConfig::overlay(Dataset::Regdb, &text) {
            let _ = c.validate();
        }
    }
}

#[test]
fn the_corpus_reads() {
    // The seed itself is valid: the mutations are what may fail.
    let text = String::from_utf8(seed("config.toml")).unwrap();
    TrainConfig::overlay(Dataset::Sysu, &text)
        .unwrap()
        .validate()
        .unwrap();
}
