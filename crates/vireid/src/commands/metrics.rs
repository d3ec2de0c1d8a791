use super::print_json;
use crate::npy::{read_labels, read_matrix, Matrix};
use crate::per_query::{write_per_query, PerQueryBlock};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;
use vireid_eval::report::{table, trial_table};
use vireid_eval::{
    evaluate, evaluate_trials_with, reference_alpha, rerank, Dataset, Labels, RerankParams,
    TrialOptions,
};

/// Evaluate a distance matrix (smaller = closer) or, with --features, the reference's four
/// scores over every trial of a folder of features: CMC, mAP and mINP exactly as the
/// reference's eval_sysu / eval_llcm / eval_regdb compute them.
#[derive(clap::Args)]
pub struct Args {
    /// Distance matrix, queries x gallery, float32 or float64 .npy (smaller = closer).
    #[arg(
        long,
        required_unless_present = "features",
        conflicts_with = "features"
    )]
    distmat: Option<PathBuf>,
    /// Query person ids (.npy vector of any integer type).
    #[arg(long, requires = "distmat")]
    query_ids: Option<PathBuf>,
    /// Gallery person ids (.npy vector of any integer type).
    #[arg(long, requires = "distmat")]
    gallery_ids: Option<PathBuf>,
    /// Query camera ids (.npy); needed by the sysu and llcm protocols.
    #[arg(long)]
    query_cams: Option<PathBuf>,
    /// Gallery camera ids (.npy); needed by the sysu and llcm protocols.
    #[arg(long)]
    gallery_cams: Option<PathBuf>,
    /// A folder of features instead of a distance matrix: query_{pool,bn,ids,cams}.npy once,
    /// and trial<T>_gallery_{pool,bn,ids,cams}.npy per trial (RegDB: trial<T>_query_* too).
    #[arg(long)]
    features: Option<PathBuf>,
    /// Evaluation protocol: sysu (camera-3 queries skip camera-2 gallery; distinct-id CMC),
    /// llcm (skip same id and camera; distinct-id CMC) or regdb (standard CMC).
    #[arg(long, value_parser = super::dataset_parser())]
    protocol: Dataset,
    /// Highest CMC rank reported (lowered to the gallery size when the gallery is smaller).
    #[arg(long, default_value_t = 20, value_parser = super::at_least_one)]
    max_rank: usize,
    /// With --features: weight a of the fused score (1 - a) pool + a bn. Default: the
    /// reference's (sysu 0.2, llcm 0.1, regdb 0.1, regdb with --thermal-to-visible 0.0).
    /// Between 0 and 1.
    #[arg(long, value_parser = super::unit_interval)]
    alpha: Option<f32>,
    /// With --features and regdb: the queries are thermal (the reference's --tvsearch);
    /// only changes the default --alpha.
    #[arg(long)]
    thermal_to_visible: bool,
    /// Apply k-reciprocal re-ranking (Zhong et al., CVPR 2017). With --distmat it needs
    /// --query-query and --gallery-gallery distances.
    #[arg(long)]
    rerank: bool,
    /// Query-to-query distances (.npy), for --rerank with --distmat.
    #[arg(long)]
    query_query: Option<PathBuf>,
    /// Gallery-to-gallery distances (.npy), for --rerank with --distmat.
    #[arg(long)]
    gallery_gallery: Option<PathBuf>,
    /// Re-ranking: size of the k-reciprocal neighbourhood.
    #[arg(long, default_value_t = 20, value_parser = super::at_least_one)]
    k1: usize,
    /// Re-ranking: neighbours averaged in the local query expansion.
    #[arg(long, default_value_t = 6, value_parser = super::at_least_one)]
    k2: usize,
    /// Re-ranking: weight of the original distance against the Jaccard distance (0 to 1).
    #[arg(long, default_value_t = 0.3, value_parser = super::unit_interval)]
    lambda: f32,
    /// Write one CSV line per query (first-hit rank, AP, INP) for error analysis.
    #[arg(long)]
    per_query: Option<PathBuf>,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    if let Some(p) = &a.per_query {
        super::ensure_writable(p, "--per-query")?;
    }
    let params = a.rerank.then_some(RerankParams {
        k1: a.k1,
        k2: a.k2,
        lambda: a.lambda,
    });
    match &a.features {
        Some(dir) => run_features(&a, dir, params),
        None => run_distmat(&a, params),
    }
}

fn opt_labels(path: &Option<PathBuf>, what: &str) -> Result<Option<Vec<i64>>> {
    path.as_deref().map(|p| read_labels(p, what)).transpose()
}

fn run_distmat(a: &Args, params: Option<RerankParams>) -> Result<()> {
    let protocol = a.protocol;
    let path = a.distmat.as_ref().expect("clap requires it");
    let (Some(qi_path), Some(gi_path)) = (&a.query_ids, &a.gallery_ids) else {
        bail!("--distmat needs --query-ids and --gallery-ids");
    };
    let dist = read_matrix(path, "the distance matrix")?;
    let qi = read_labels(qi_path, "query ids")?;
    let gi = read_labels(gi_path, "gallery ids")?;
    let qc = opt_labels(&a.query_cams, "query cameras")?;
    let gc = opt_labels(&a.gallery_cams, "gallery cameras")?;
    let q = Labels {
        ids: &qi,
        cams: qc.as_deref(),
    };
    let g = Labels {
        ids: &gi,
        cams: gc.as_deref(),
    };
    let start = Instant::now();
    let (metrics, per) = match (params, dist) {
        (Some(p), dist) => {
            let (Some(qq), Some(gg)) = (&a.query_query, &a.gallery_gallery) else {
                bail!(
                    "--rerank with --distmat needs --query-query and --gallery-gallery distances"
                );
            };
            let qg = dist.into_f32();
            vireid_eval::validate(&qg.view(), q, g, protocol)?;
            let qq = read_matrix(qq, "query-query distances")?.into_f32();
            let gg = read_matrix(gg, "gallery-gallery distances")?.into_f32();
            let d = rerank(&qg, &qq, &gg, &p)?;
            evaluate(&d.view(), q, g, protocol, a.max_rank)?
        }
        (None, Matrix::F32(d)) => evaluate(&d.view(), q, g, protocol, a.max_rank)?,
        (None, Matrix::F64(d)) => evaluate(&d.view(), q, g, protocol, a.max_rank)?,
    };
    let seconds = start.elapsed().as_secs_f64();
    if let Some(out) = &a.per_query {
        let block = PerQueryBlock {
            trial: None,
            results: &per,
            ids: &qi,
            cams: qc.as_deref(),
        };
        write_per_query(out, &[block])?;
    }
    if a.json {
        return print_json(&serde_json::json!({
            "cmc": metrics.cmc,
            "mAP": metrics.map,
            "mINP": metrics.minp,
            "valid_queries": metrics.valid_queries,
            "protocol": protocol,
            "reranked": params.is_some(),
            "seconds": seconds,
        }));
    }
    print!("{}", table(&[(path.display().to_string(), &metrics)]));
    println!(
        "{} of {} queries have a match; evaluated in {:.3} s",
        metrics.valid_queries,
        qi.len(),
        seconds
    );
    Ok(())
}

fn run_features(a: &Args, dir: &Path, params: Option<RerankParams>) -> Result<()> {
    let protocol = a.protocol;
    let (shared, sides) = crate::features_folder::read(dir, protocol)?;
    let trials: Vec<u32> = sides.iter().map(|(t, _, _)| *t).collect();
    let trial_inputs = vireid_eval::trial_inputs(&sides);
    let opts = TrialOptions {
        protocol,
        alpha: a
            .alpha
            .unwrap_or_else(|| reference_alpha(protocol, a.thermal_to_visible)),
        max_rank: a.max_rank,
        rerank: params,
        per_query: a.per_query.is_some(),
    };
    let start = Instant::now();
    let pb = crate::progress::bar(trials.len() as u64, "trials", a.json);
    let report = evaluate_trials_with(
        shared.as_ref().map(|s| (s.features(), s.labels())),
        &trial_inputs,
        &opts,
        &|_| pb.inc(1),
    );
    pb.finish_and_clear();
    let report = report?;
    let seconds = start.elapsed().as_secs_f64();
    if let Some(out) = &a.per_query {
        let fused = report.score(vireid_eval::Score::Fused);
        let blocks: Vec<PerQueryBlock> = sides
            .iter()
            .zip(&fused.per_query)
            .map(|((t, own, _), per)| {
                let q = own.as_ref().or(shared.as_ref()).expect("checked above");
                PerQueryBlock {
                    trial: Some(*t),
                    results: per,
                    ids: &q.ids,
                    cams: q.cams.as_deref(),
                }
            })
            .collect();
        write_per_query(out, &blocks)?;
    }
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["seconds"] = serde_json::json!(seconds);
        return print_json(&v);
    }
    print!("{}", trial_table(&report));
    println!(
        "evaluated {} trial(s) x 4 scores in {:.3} s ({:.3} s similarities against {} gallery \
         images, {:.3} s ranking and metrics)",
        trials.len(),
        seconds,
        report.seconds_similarity,
        report.similarity_columns,
        report.seconds_ranking
    );
    Ok(())
}
