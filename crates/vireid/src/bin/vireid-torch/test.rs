use crate::extract::set_threads;
use anyhow::{bail, Context, Result};
use ndarray::Array1;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use vireid::commands::print_json;
use vireid::commands::splits::ProtocolArgs;
use vireid::npy::write_atomic;
use vireid_data::image_io::Size;
use vireid_data::{splits, Dataset, Direction};
use vireid_eval::report::trial_table;
use vireid_eval::{Score, TrialReport};
use vireid_nn::evaluate::{
    image_count, score_trials, trial_features, ExtractionSettings, ProtocolImages, Side,
};
use vireid_nn::{parse_device, weights};

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
    /// cpu, cuda or cuda:K.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// libtorch intra-op threads (0: libtorch's default, one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Also write the features and labels in the layout `vireid metrics --features` reads.
    #[arg(long)]
    save_features: Option<PathBuf>,
    /// Print one JSON document on stdout (the report, the checkpoints, the timings).
    #[arg(long)]
    json: bool,
}

fn save_side(side: &Side, dir: &Path, prefix: &str) -> Result<()> {
    let f = |name: &str| dir.join(format!("{prefix}_{name}.npy"));
    write_atomic(&f("pool"), &side.pool)?;
    write_atomic(&f("bn"), &side.bn)?;
    write_atomic(&f("ids"), &Array1::from(side.ids.clone()))?;
    write_atomic(&f("cams"), &Array1::from(side.cams.clone()))
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
    set_threads(a.threads);
    let device = parse_device(&a.device)?;
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
    if dataset == Dataset::Regdb && !pattern && trials.len() > 1 {
        eprintln!(
            "warning: one checkpoint for {} RegDB trials: a RegDB model is trained on one trial's \
             split, so the other trials' test identities were in its training set and their \
             scores are optimistic. Pass a pattern with {{trial}} to use each trial's own model.",
            trials.len()
        );
    }
    // Trials grouped by checkpoint, in trial order: one group unless a {trial} pattern.
    let mut groups: Vec<(PathBuf, Vec<usize>)> = Vec::new();
    for (i, t) in split.trials.iter().enumerate() {
        let path = PathBuf::from(a.checkpoint.replace("{trial}", &t.trial.to_string()));
        match groups.iter_mut().find(|(p, _)| *p == path) {
            Some((_, members)) => members.push(i),
            None => groups.push((path, vec![i])),
        }
    }
    let shared_query = split.query.is_some() && groups.len() == 1;
    // What will be extracted, for one progress bar over the whole run.
    let total: usize = groups
        .iter()
        .map(|(_, members)| {
            let (q, g) = image_count(&split, members);
            q + g
        })
        .sum();
    let progress = vireid::progress::bar(total as u64, "features", a.json);
    let settings = ExtractionSettings {
        size: Size::new(a.height, a.width),
        flip: !a.no_flip,
        batch: a.batch,
        device,
    };
    let start = Instant::now();
    let mut shared: Option<Side> = None;
    let mut per_trial: Vec<(u32, Option<Side>, Side)> = Vec::new();
    let mut network = None;
    for (path, members) in &groups {
        let (_vs, net, _ignored) = weights::load_network(path, device)
            .with_context(|| format!("loading the checkpoint for trial(s) {members:?}"))?;
        if let Some(previous) = network {
            if previous != net.config {
                bail!(
                    "{}: a {:?} network, but the previous trials' was {previous:?}",
                    path.display(),
                    net.config
                );
            }
        }
        network = Some(net.config);
        let (q, trials) = trial_features(
            &net,
            ProtocolImages {
                root: &a.protocol.root,
                split: &split,
                direction,
            },
            members,
            &settings,
            shared_query,
            &mut |n| progress.inc(n as u64),
        )?;
        if q.is_some() {
            shared = q;
        }
        per_trial.extend(trials);
    }
    progress.finish_and_clear();
    let seconds_features = start.elapsed().as_secs_f64();
    let eval_start = Instant::now();
    let report = score_trials(
        dataset,
        direction,
        shared.as_ref(),
        &per_trial,
        a.alpha,
        a.rerank,
    )?;
    let seconds_evaluation = eval_start.elapsed().as_secs_f64();
    if let Some(dir) = &a.save_features {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        if let Some(q) = &shared {
            save_side(q, dir, "query")?;
        }
        for (t, q, g) in &per_trial {
            if let Some(q) = q {
                save_side(q, dir, &format!("trial{t}_query"))?;
            }
            save_side(g, dir, &format!("trial{t}_gallery"))?;
        }
    }
    let summary = Summary {
        dataset: dataset.to_string(),
        mode: format!("{:?}", protocol.mode).to_lowercase(),
        shot: format!("{:?}", protocol.shot).to_lowercase(),
        direction: match direction {
            Direction::InfraredToVisible => "infrared-to-visible",
            Direction::VisibleToInfrared => "visible-to-infrared",
        }
        .to_string(),
        flip: !a.no_flip,
        checkpoints: groups
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect(),
        network: network.expect("at least one trial"),
        images: total,
        seconds_features,
        images_per_second: total as f64 / seconds_features.max(1e-9),
        seconds_evaluation,
        report: &report,
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
    print!("{}", trial_table(&report));
    let fused = report.score(Score::Fused);
    println!(
        "headline (fused): Rank-1 {:.2}%  mAP {:.2}%  mINP {:.2}%",
        100.0 * fused.mean.cmc[0],
        100.0 * fused.mean.map,
        100.0 * fused.mean.minp
    );
    println!(
        "features of {total} images in {seconds_features:.1} s ({:.1} images/s); evaluation {seconds_evaluation:.2} s",
        summary.images_per_second
    );
    Ok(())
}
