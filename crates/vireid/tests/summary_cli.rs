//! Many seeds summarised: `vireid demo --seeds A,B --compare` (much shortened) writes each
//! seed's demo and a summary over them whose means, spreads and paired interval equal those
//! recomputed here from each seed's own test report; `vireid summary` on the same run folders
//! gives the same figures from their test records, falls back to the periodic evaluation when
//! a record is missing or stale, and refuses what it cannot summarise by name.

mod common;
use common::{fused_mean, s, vireid};

use serde_json::Value;

const TINY: &str = "height = 48\nwidth = 24\nids_per_batch = 3\nimages_per_id = 2\n";

/// The fused score's (Rank-1, mAP, mINP) of a test report, in percent.
fn fused(report: &Value) -> [f64; 3] {
    let m = fused_mean(report);
    [
        100.0 * m["cmc"][0].as_f64().unwrap(),
        100.0 * m["mAP"].as_f64().unwrap(),
        100.0 * m["mINP"].as_f64().unwrap(),
    ]
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
    (m, var.sqrt())
}

fn close(a: &Value, b: f64) {
    let a = a.as_f64().unwrap_or_else(|| panic!("not a number: {a}"));
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

#[test]
fn seeds_are_summarised_and_summary_reads_run_folders() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("tiny.toml");
    std::fs::write(&config, TINY).unwrap();
    let out = d.path().join("demo");
    let run = vireid(&[
        "demo",
        "--out",
        s(&out),
        "--ids",
        "12",
        "--epochs",
        "1",
        "--trials",
        "2",
        "--config",
        s(&config),
        "--compare",
        "--seeds",
        "3,5",
        "--json",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let doc: Value = serde_json::from_slice(&run.stdout).unwrap();
    let per_seed = doc["per_seed"].as_array().unwrap();
    assert_eq!(per_seed.len(), 2);
    // [seed][run] -> fused scores, from each seed's own 2-trial test report.
    let mut scores = Vec::new();
    for (r, seed) in per_seed.iter().zip([3u64, 5]) {
        assert_eq!(r["config"]["seed"], seed);
        let runs = r["runs"].as_array().unwrap();
        assert_eq!(runs[0]["name"], "rle");
        assert_eq!(runs[1]["name"], "baseline");
        scores.push([fused(&runs[0]["report"]), fused(&runs[1]["report"])]);
        let dir = out.join(format!("seed-{seed}"));
        assert!(dir.join("report/index.html").is_file());
        for name in ["rle", "baseline"] {
            let record: Value = serde_json::from_str(
                &std::fs::read_to_string(dir.join(name).join("test.json")).unwrap(),
            )
            .unwrap();
            assert_eq!(record["epochs"], 1);
            assert_eq!(record["trials"], 2);
            assert_eq!(record["checkpoint"], "last.safetensors");
        }
    }
    // Two different worlds: the seeds are not one run twice.
    assert_ne!(scores[0], scores[1]);
    let summary = &doc["summary"];
    let kinds = summary["kinds"].as_array().unwrap();
    assert_eq!(kinds.len(), 2);
    for (k, kind) in kinds.iter().enumerate() {
        assert_eq!(kind["kind"], ["rle", "baseline"][k]);
        assert_eq!(kind["seeds"], serde_json::json!([3, 5]));
        for score in 0..3 {
            let (m, sd) = mean_sd(&[scores[0][k][score], scores[1][k][score]]);
            close(&kind["scores"][score]["mean"], m);
            close(&kind["scores"][score]["sd"], sd);
        }
    }
    let cmp = &summary["comparison"];
    assert_eq!(cmp["first"], "rle");
    assert_eq!(cmp["second"], "baseline");
    for score in 0..3 {
        let diffs = [
            scores[0][0][score] - scores[0][1][score],
            scores[1][0][score] - scores[1][1][score],
        ];
        let (m, sd) = mean_sd(&diffs);
        let d = &cmp["differences"][score];
        close(&d["mean"], m);
        // Two seeds: one degree of freedom, t = 12.706.
        let half = 12.706_204_736 * sd / 2f64.sqrt();
        let ci = d["ci95"].as_array().unwrap();
        assert!((ci[0].as_f64().unwrap() - (m - half)).abs() < 1e-6);
        assert!((ci[1].as_f64().unwrap() - (m + half)).abs() < 1e-6);
    }
    let report = out.join("report");
    for f in ["index.html", "summary.txt", "summary.json", "summary.png"] {
        assert!(report.join(f).is_file(), "missing report/{f}");
    }
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("src=\"summary.png\""));
    for seed in [3, 5] {
        let link = format!("../seed-{seed}/report/index.html");
        assert!(
            html.contains(&format!("href=\"{link}\"")),
            "no link to {link}"
        );
        assert!(report.join(&link).is_file());
    }
    let png = image::open(report.join("summary.png")).unwrap();
    assert!(png.width() > 1000 && png.height() > 200);

    // `vireid summary` of the demo's folder finds the four run folders and their test records.
    let again = vireid(&["summary", s(&out), "--compare", "--json"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let from_folders: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(from_folders["summary"]["kinds"], summary["kinds"]);
    assert_eq!(from_folders["summary"]["comparison"], summary["comparison"]);
    for r in from_folders["runs"].as_array().unwrap() {
        assert_eq!(r["scores_from"]["test"]["trials"], 2, "{r}");
    }

    // A stale record (another epoch) and a missing one: the periodic evaluation is used.
    let stale = out.join("seed-3/rle/test.json");
    let mut record: Value =
        serde_json::from_str(&std::fs::read_to_string(&stale).unwrap()).unwrap();
    record["epochs"] = 7.into();
    std::fs::write(&stale, record.to_string()).unwrap();
    std::fs::remove_file(out.join("seed-5/baseline/test.json")).unwrap();
    let text = vireid(&[
        "summary",
        s(&out.join("seed-3/rle")),
        s(&out.join("seed-5")),
        "--plot",
        s(&d.path().join("plot.png")),
    ]);
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert_eq!(
        stdout
            .matches("periodic evaluation after epoch 1, 1 trial(s)")
            .count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("test, 2 trials"), "{stdout}");
    assert!(image::open(d.path().join("plot.png")).is_ok());

    // What cannot be summarised is refused by name.
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let refused = vireid(&["summary", s(&empty)]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("empty") && err.contains("no run folder"),
        "{err}"
    );
    let one_kind = vireid(&[
        "summary",
        s(&out.join("seed-3/rle")),
        s(&out.join("seed-5/rle")),
        "--compare",
    ]);
    assert!(!one_kind.status.success());
    let err = String::from_utf8_lossy(&one_kind.stderr);
    assert!(
        err.contains("exactly two kinds") && err.contains("found 1"),
        "{err}"
    );
    std::fs::write(out.join("seed-5/rle/test.json"), "{\"not\": 1}").unwrap();
    let broken = vireid(&["summary", s(&out.join("seed-5/rle"))]);
    assert!(!broken.status.success());
    let err = String::from_utf8_lossy(&broken.stderr);
    assert!(
        err.contains("test.json") && err.contains("not a vireid test record"),
        "{err}"
    );
}
