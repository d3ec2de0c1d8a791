use crate::bars::Phases;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use vireid::commands::print_json;
use vireid::commands::splits::ProtocolArgs;
use vireid::features_folder::{self, trial_gallery, trial_query, SHARED_QUERY};
use vireid_data::image_io::Size;
use vireid_data::splits;
use vireid_engine::evaluate::{test_checkpoints, ExtractionSettings, ProtocolImages, TestRequest};
use vireid_eval::report::trial_table;
use vireid_eval::{Score, TrialReport};

/// The reference's test protocol on a checkpoint: features of the query and of each trial's
/// gallery (test transform: Lanczos resize, normalise; plus the mirrored image), the four
/// scores (pool, bn, pool+bn, fused) over the trials, and the headline table.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// A reference `.t` checkpoint or a vireid `.safetensors` one. For RegDB, whose models are
    /// trained per trial, a pattern with `{trial}` (`regdb_trial{trial}.t`) gives each trial
    /// its own; a single file is used for every trial with a warning (it has seen the other
    /// trials' test identities in training).
    #[arg(long)]
    checkpoint: String,
    /// Test image height (the reference's --img_h).
    #[arg(long, default_value_t = 384)]
    height: u32,
    /// Test image width (the reference's --img_w).
    #[arg(long, default_value_t = 192)]
    width: u32,
    /// Images per forward pass.
    #[arg(long, default_value_t = 64, value_parser = vireid::commands::at_least_one)]
    batch: usize,
    /// Leave out the mirrored image (the reference's test script adds its features; its
    /// periodic evaluation during training does not).
    #[arg(long)]
    no_flip: bool,
    /// Weight a of the fused score (1 - a) pool + a bn. Default: the reference's (SYSU-MM01
    /// 0.2, LLCM 0.1, RegDB v2t 0.1, RegDB t2v 0.0). Between 0 and 1.
    #[arg(long, value_parser = vireid::commands::unit_interval)]
    alpha: Option<f32>,
    /// k-reciprocal re-ranking (k1 = 20, k2 = 6, lambda = 0.3) of every score.
    #[arg(long)]
    rerank: bool,
    /// auto (the first GPU when libtorch sees one, else the CPU), cpu, cuda or cuda:K.
    #[arg(long, default_value = "auto")]
    device: String,
    /// libtorch intra-op threads (0: libtorch's default, one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Also write the features and labels in the layout `vireid metrics --features` reads.
    #[arg(long)]
    save_features: Option<PathBuf>,
    /// Deterministic mode: the same features, to the bit, on any x86-64 machine with AVX2
    /// (kernels pinned to AVX2, 2 threads).
    #[arg(long)]
    deterministic: bool,
    /// Print one JSON document on stdout (the report, the checkpoints, the timings).
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Summary<'a> {
    dataset: String,
    mode: String,
    shot: String,
    direction: String,
    flip: bool,
    checkpoints: Vec<String>,
    network: vireid_nn::NetConfig,
    images: usize,
    seconds_features: f64,
    images_per_second: f64,
    seconds_evaluation: f64,
    report: &'a TrialReport,
}

pub fn run(a: Args) -> Result<()> {
    crate::process::settle(a.deterministic, a.threads, a.json);
    let device = crate::process::device(&a.device, a.json)?;
    if let Some(d) = &a.save_features {
        vireid::commands::ensure_writable(d, "--save-features")?;
    }
    let (protocol, trials) = a.protocol.resolve()?;
    let dataset = protocol.dataset;
    let direction = protocol.direction;
    let split = splits(&a.protocol.root, &protocol, &trials)?;
    for w in &split.warnings {
        eprintln!("warning: {w}");
    }
    let pattern = a.checkpoint.contains("{trial}");
    // Datasets with per-trial training lists (RegDB) have one model per trial.
    if dataset.spec().training_trials.is_some() && !pattern && trials.len() > 1 {
        eprintln!(
            "warning: one checkpoint for {} RegDB trials: a RegDB model is trained on one trial's \
             split, so the other trials' test identities were in its training set and their \
             scores are optimistic. Pass a pattern with {{trial}} to use each trial's own model.",
            trials.len()
        );
    }
    let request = TestRequest {
        dataset,
        images: ProtocolImages {
            root: &a.protocol.root,
            split: &split,
            direction,
        },
        checkpoint: &a.checkpoint,
        settings: ExtractionSettings {
            size: Size::new(a.height, a.width),
            flip: !a.no_flip,
            batch: a.batch,
            device,
        },
        alpha: a.alpha,
        rerank: a.rerank,
    };
    let outcome = test_checkpoints(&request, &Phases { quiet: a.json })?;
    let (shared, per_trial, report) = (
        &outcome.evaluation.shared,
        &outcome.evaluation.per_trial,
        &outcome.evaluation.report,
    );
    if let Some(dir) = &a.save_features {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        if let Some(q) = shared {
            features_folder::write_side(dir, SHARED_QUERY, q)?;
        }
        for (t, q, g) in per_trial {
            if let Some(q) = q {
                features_folder::write_side(dir, &trial_query(*t), q)?;
            }
            features_folder::write_side(dir, &trial_gallery(*t), g)?;
        }
    }
    let summary = Summary {
        dataset: dataset.to_string(),
        mode: format!("{:?}", protocol.mode).to_lowercase(),
        shot: format!("{:?}", protocol.shot).to_lowercase(),
        direction: direction.words().to_string(),
        flip: !a.no_flip,
        checkpoints: outcome
            .checkpoints
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        network: outcome.network,
        images: outcome.images,
        seconds_features: outcome.seconds_features,
        images_per_second: outcome.images as f64 / outcome.seconds_features.max(1e-9),
        seconds_evaluation: outcome.seconds_evaluation,
        report,
    };
    if a.json {
        return print_json(&summary);
    }
    println!(
        "{} {} ({}-shot, {}), {} trial(s), flip {}",
        summary.dataset,
        summary.mode,
        summary.shot,
        summary.direction,
        trials.len(),
        if summary.flip { "on" } else { "off" }
    );
    print!("{}", trial_table(report));
    let fused = report.score(Score::Fused);
    println!(
        "headline (fused): Rank-1 {:.2}%  mAP {:.2}%  mINP {:.2}%",
        100.0 * fused.mean.cmc[0],
        100.0 * fused.mean.map,
        100.0 * fused.mean.minp
    );
    println!(
        "features of {} images in {:.1} s ({:.1} images/s); evaluation {:.2} s",
        summary.images,
        summary.seconds_features,
        summary.images_per_second,
        summary.seconds_evaluation
    );
    Ok(())
}
