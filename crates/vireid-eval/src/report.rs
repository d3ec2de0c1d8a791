//! The table a person reads at the end of an evaluation.

use crate::metrics::Metrics;
use crate::trials::TrialReport;

const RANKS: [usize; 4] = [1, 5, 10, 20];

/// Header and one row per named metrics, in percent like the reference prints them.
pub fn table(rows: &[(String, &Metrics)]) -> String {
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(5);
    let mut out = format!(
        "{:<width$}  {:>7}  {:>7}  {:>7}  {:>7}  {:>7}  {:>7}\n",
        "score", "Rank-1", "Rank-5", "Rank-10", "Rank-20", "mAP", "mINP"
    );
    out.push_str(&"-".repeat(width + 54));
    out.push('\n');
    for (name, m) in rows {
        out.push_str(&format!("{name:<width$}"));
        for r in RANKS {
            if r <= m.cmc.len() {
                out.push_str(&format!("  {:>6.2}%", 100.0 * m.rank(r)));
            } else {
                out.push_str(&format!("  {:>7}", "-"));
            }
        }
        out.push_str(&format!(
            "  {:>6.2}%  {:>6.2}%\n",
            100.0 * m.map,
            100.0 * m.minp
        ));
    }
    out
}

/// The four scores' means over the trials.
pub fn trial_table(report: &TrialReport) -> String {
    let rows: Vec<(String, &Metrics)> = report
        .scores
        .iter()
        .map(|s| (s.label.clone(), &s.mean))
        .collect();
    format!(
        "{} protocol, mean of {} trial(s){}\n{}",
        report.protocol.name(),
        report.trials.len(),
        if report.reranked { ", re-ranked" } else { "" },
        table(&rows)
    )
}
