//! `vireid metrics --per-query`: one CSV row per query (trial, position, id, camera, first-hit
//! rank, AP, INP, matches), for looking at which queries fail.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;
use vireid_eval::QueryResult;

/// One block of per-query results: a trial's results and the labels of its queries.
pub struct PerQueryBlock<'a> {
    pub trial: Option<u32>,
    pub results: &'a [QueryResult],
    pub ids: &'a [i64],
    pub cams: Option<&'a [i64]>,
}

/// Writes the blocks to `out` (atomically).
pub fn write_per_query(out: &Path, blocks: &[PerQueryBlock]) -> Result<()> {
    vireid_data::atomic::write_atomic_with(out, |w| {
        writeln!(w, "trial,query,id,cam,first_hit_rank,ap,inp,matches")?;
        let opt = |v: Option<String>| v.unwrap_or_default();
        for b in blocks {
            for (i, r) in b.results.iter().enumerate() {
                writeln!(
                    w,
                    "{},{},{},{},{},{:.6},{:.6},{}",
                    opt(b.trial.map(|t| t.to_string())),
                    i,
                    b.ids[i],
                    opt(b.cams.map(|c| c[i].to_string())),
                    opt(r.first_hit.map(|h| h.to_string())),
                    r.ap,
                    r.inp,
                    r.matches
                )?;
            }
        }
        Ok(())
    })
    .with_context(|| format!("cannot write {}", out.display()))
}
