//! `vireid metrics` on .npy inputs of every numeric type, against the reference's answers
//! (vireid-eval's committed cases), and its errors.

mod common;
use common::{run_python, vireid};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../vireid-eval/tests/data");

/// Writes the named reference cases as .npy files with the given dtypes.
const WRITE_CASES: &str = r#"
import json, sys, numpy as np
data, out = sys.argv[1], sys.argv[2]
cases = {c["name"]: c for c in json.load(open(data + "/reference_cases.json"))}
for spec in sys.argv[3:]:
    name, ddt, idt, cdt = spec.split(":")
    c = cases[name]
    d = np.array([np.float32(v) for v in c["distmat"].split(" ")], dtype=np.float32).astype(ddt).reshape(c["shape"])
    np.save(f"{out}/{name}_dist.npy", d)
    np.save(f"{out}/{name}_qi.npy", np.array(c["query_ids"]).astype(idt))
    np.save(f"{out}/{name}_gi.npy", np.array(c["gallery_ids"]).astype(idt).reshape(-1, 1))
    if c["query_cams"] is not None:
        np.save(f"{out}/{name}_qc.npy", np.array(c["query_cams"]).astype(cdt))
        np.save(f"{out}/{name}_gc.npy", np.array(c["gallery_cams"]).astype(cdt))
    json.dump({"cmc": c["cmc"], "mAP": c["mAP"], "mINP": c["mINP"], "protocol": c["protocol"]}, open(f"{out}/{name}_want.json", "w"))
"#;

fn close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-6
}

#[test]
fn distance_matrices_of_any_type_give_the_reference_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let specs = [
        "sysu_random_1_f64:float64:int16:uint8",
        "sysu_protocol_pattern:float32:int64:int32",
        "llcm_samecams_2:float64:uint16:int8",
        "regdb_ties_3:float32:uint32:int64",
        "regdb_small_5:float64:float64:int64",
    ];
    let mut args = vec![DATA, d];
    args.extend(specs);
    run_python(WRITE_CASES, &args);
    for spec in specs {
        let name = spec.split(':').next().unwrap();
        let f = |s: &str| format!("{d}/{name}_{s}.npy");
        let want: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{d}/{name}_want.json")).unwrap(),
        )
        .unwrap();
        let protocol = want["protocol"].as_str().unwrap();
        let mut a = vec![
            "metrics".to_string(),
            "--distmat".into(),
            f("dist"),
            "--query-ids".into(),
            f("qi"),
            "--gallery-ids".into(),
            f("gi"),
            "--protocol".into(),
            protocol.into(),
            "--json".into(),
        ];
        if protocol != "regdb" {
            a.extend([
                "--query-cams".into(),
                f("qc"),
                "--gallery-cams".into(),
                f("gc"),
            ]);
        }
        let per_query = format!("{d}/{name}_per_query.csv");
        a.extend(["--per-query".into(), per_query.clone()]);
        let args: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = vireid(&args);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            close(&got["mAP"], &want["mAP"]) && close(&got["mINP"], &want["mINP"]),
            "{name}: {got} vs {want}"
        );
        let (g, w) = (
            got["cmc"].as_array().unwrap(),
            want["cmc"].as_array().unwrap(),
        );
        assert_eq!(g.len(), w.len(), "{name}");
        assert!(g.iter().zip(w).all(|(a, b)| close(a, b)), "{name}");
        // The per-query file: one line per query, its APs averaging to the mAP.
        let csv = std::fs::read_to_string(&per_query).unwrap();
        let aps: Vec<f64> = csv
            .lines()
            .skip(1)
            .filter(|l| !l.split(',').nth(4).unwrap().is_empty())
            .map(|l| l.split(',').nth(5).unwrap().parse().unwrap())
            .collect();
        let mean = aps.iter().sum::<f64>() / aps.len() as f64;
        assert!(
            (mean - want["mAP"].as_f64().unwrap()).abs() < 1e-5,
            "{name}: per-query APs"
        );
        // The table form.
        let table_args: Vec<&str> = args.iter().copied().filter(|a| *a != "--json").collect();
        let out = vireid(&table_args);
        let table = String::from_utf8(out.stdout).unwrap();
        assert!(
            table.contains("Rank-1") && table.contains("mINP"),
            "{table}"
        );
    }
}

const WRITE_FEATURES: &str = r#"
import json, sys, numpy as np
data, out, which = sys.argv[1], sys.argv[2], sys.argv[3]
c = [c for c in json.load(open(data + "/reference_trials.json")) if c["name"] == which][0]
def save(prefix, side):
    arr = lambda s: np.array([np.float32(v) for v in s.split(" ")], dtype=np.float32).reshape(-1, c["dim"])
    np.save(f"{out}/{prefix}_pool.npy", arr(side["pool"]))
    np.save(f"{out}/{prefix}_bn.npy", arr(side["bn"]).astype(np.float64))
    np.save(f"{out}/{prefix}_ids.npy", np.array(side["ids"], dtype=np.int32))
    np.save(f"{out}/{prefix}_cams.npy", np.array(side["cams"], dtype=np.int64))
if c.get("query"):
    save("query", c["query"])
for t in c["trials"]:
    save(f"trial{t['trial']}_gallery", t["gallery"])
    if t.get("query"):
        save(f"trial{t['trial']}_query", t["query"])
json.dump(c["expected"], open(f"{out}/want.json", "w"))
"#;

#[test]
fn feature_folders_give_the_reference_four_scores() {
    for (case, protocol, extra) in [
        ("sysu", "sysu", None),
        ("regdb_t2v", "regdb", Some("--thermal-to-visible")),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        run_python(WRITE_FEATURES, &[DATA, d, case]);
        let mut args = vec!["metrics", "--features", d, "--protocol", protocol, "--json"];
        args.extend(extra);
        let out = vireid(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let want: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{d}/want.json")).unwrap())
                .unwrap();
        let scores = got["scores"].as_array().unwrap();
        assert_eq!(scores.len(), 4);
        for (s, w) in scores.iter().zip(want.as_array().unwrap()) {
            assert!(
                close(&s["mean"]["mAP"], &w["mAP"]),
                "{case} {}: {} vs {}",
                s["score"],
                s["mean"]["mAP"],
                w["mAP"]
            );
            assert!(
                close(&s["mean"]["cmc"][0], &w["cmc"][0]),
                "{case} {}",
                s["score"]
            );
        }
        assert_eq!(got["trials"], serde_json::json!([0, 1, 2]));
        let table = String::from_utf8(
            vireid(&args[..args.len() - if extra.is_some() { 2 } else { 1 }]).stdout,
        )
        .unwrap();
        assert!(
            table.contains("fused") && table.contains("pool+bn"),
            "{table}"
        );
        // Re-ranking runs on the same folder.
        let mut rr = args.clone();
        rr.push("--rerank");
        let out = vireid(&rr);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["reranked"], true);
    }
}

#[test]
fn bad_inputs_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    run_python(
        r#"
import sys, numpy as np
d = sys.argv[1]
np.save(d + "/dist.npy", np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32))
nan = np.zeros((4, 5)); nan[2, 3] = np.nan
np.save(d + "/nan.npy", nan)
np.save(d + "/qi.npy", np.array([1, 2, 3, 4]))
np.save(d + "/qi3.npy", np.array([1, 2, 3]))
np.save(d + "/gi.npy", np.array([1, 2, 3, 4, 5], dtype=np.uint8))
np.save(d + "/frac.npy", np.array([1.5, 2, 3, 4]))
np.save(d + "/names.npy", np.array(["a", "b", "c", "d"]))
np.save(d + "/cube.npy", np.zeros((2, 2, 2)))
"#,
        &[d],
    );
    let p = |f: &str| format!("{d}/{f}.npy");
    let run = |dist: &str, qi: &str, extra: &[&str]| {
        let (dist, qi, gi) = (p(dist), p(qi), p("gi"));
        let mut a = vec![
            "metrics",
            "--distmat",
            &dist,
            "--query-ids",
            &qi,
            "--gallery-ids",
            &gi,
        ];
        if !extra.contains(&"--protocol") {
            a.extend(["--protocol", "regdb"]);
        }
        a.extend(extra);
        let out = vireid(&a);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!err.contains("panicked"), "{err}");
        err
    };
    assert!(run("dist", "qi3", &[]).contains("4 rows but there are 3 query ids"));
    assert!(run("nan", "qi", &[]).contains("row 2, column 3"));
    assert!(run("dist", "frac", &[]).contains("must be integers"));
    assert!(run("dist", "names", &[]).contains("integer array"));
    assert!(run("cube", "qi", &[]).contains("2-D"));
    assert!(run("missing", "qi", &[]).contains("missing.npy"));
    assert!(run("dist", "qi", &["--protocol", "sysu"]).contains("camera"));
    assert!(run("dist", "qi", &["--rerank"]).contains("--query-query"));
}
