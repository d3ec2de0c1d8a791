//! `PyRandom` against CPython's own `random` module, for many seeds and sizes.

mod common;
use vireid_data::pyrandom::PyRandom;

const SCRIPT: &str = r#"
import json, random, sys
seeds = [0, 1, 2, 3, 9, 10, 42, 2**31 - 1, 2**32, 2**32 + 5, 2**40 + 123, 2**63 - 1, -7]
out = []
for s in seeds:
    r = random.Random(s)
    bits = [r.getrandbits(k) for k in list(range(1, 65)) + [32, 33, 63, 64]]
    r = random.Random(s)
    below = [r._randbelow(n) for n in [1, 2, 3, 5, 7, 10, 16, 17, 100, 301, 1000, 2**31 + 3, 2**32 - 1, 2**32, 2**32 + 1, 2**53 + 7]]
    r = random.Random(s)
    choices = [r.choice(list(range(n))) for n in [1, 2, 3, 4, 9, 10, 11, 12, 90, 300, 5000]]
    samples = []
    r = random.Random(s)
    for n, k in [(10, 10), (12, 10), (85, 10), (86, 10), (90, 10), (500, 10), (5, 3), (21, 5), (22, 5), (30, 6), (200, 40), (1000, 1), (7, 0)]:
        samples.append(r.sample(range(n), k))
    out.append({"seed": s, "bits": bits, "below": below, "choices": choices, "samples": samples})
print(json.dumps(out))
"#;

#[test]
fn equals_cpython_for_many_seeds_and_sizes() {
    let expected: serde_json::Value =
        serde_json::from_str(&common::run_python(SCRIPT, &[])).unwrap();
    let bit_ks: Vec<u32> = (1..=64).chain([32, 33, 63, 64]).collect();
    let belows: [u64; 16] = [
        1,
        2,
        3,
        5,
        7,
        10,
        16,
        17,
        100,
        301,
        1000,
        (1 << 31) + 3,
        (1 << 32) - 1,
        1 << 32,
        (1 << 32) + 1,
        (1 << 53) + 7,
    ];
    let choice_ns = [1usize, 2, 3, 4, 9, 10, 11, 12, 90, 300, 5000];
    let sample_nk = [
        (10usize, 10usize),
        (12, 10),
        (85, 10),
        (86, 10),
        (90, 10),
        (500, 10),
        (5, 3),
        (21, 5),
        (22, 5),
        (30, 6),
        (200, 40),
        (1000, 1),
        (7, 0),
    ];
    for case in expected.as_array().unwrap() {
        let seed = case["seed"].as_i64().unwrap();
        let mut r = PyRandom::new(seed);
        let bits: Vec<u64> = bit_ks.iter().map(|&k| r.getrandbits(k)).collect();
        let want: Vec<u64> = serde_json::from_value(case["bits"].clone()).unwrap();
        assert_eq!(bits, want, "getrandbits, seed {seed}");

        let mut r = PyRandom::new(seed);
        let below: Vec<u64> = belows.iter().map(|&n| r.randbelow(n)).collect();
        let want: Vec<u64> = serde_json::from_value(case["below"].clone()).unwrap();
        assert_eq!(below, want, "_randbelow, seed {seed}");

        let mut r = PyRandom::new(seed);
        let choices: Vec<usize> = choice_ns
            .iter()
            .map(|&n| *r.choice(&(0..n).collect::<Vec<_>>()).unwrap())
            .collect();
        let want: Vec<usize> = serde_json::from_value(case["choices"].clone()).unwrap();
        assert_eq!(choices, want, "choice, seed {seed}");

        let mut r = PyRandom::new(seed);
        let samples: Vec<Vec<usize>> = sample_nk
            .iter()
            .map(|&(n, k)| r.sample_indices(n, k).unwrap())
            .collect();
        let want: Vec<Vec<usize>> = serde_json::from_value(case["samples"].clone()).unwrap();
        assert_eq!(samples, want, "sample, seed {seed}");
    }
}

/// Long streams of gallery-style draws: trial seeds 0..50, hundreds of choices each.
#[test]
fn gallery_style_streams_equal_cpython() {
    let script = r#"
import json, random
out = []
for t in range(50):
    random.seed(t)
    sizes = [(i * 7919) % 37 + 1 for i in range(400)]
    out.append([random.choice(range(n)) for n in sizes] + random.sample(range(23), 10))
print(json.dumps(out))
"#;
    let expected: Vec<Vec<usize>> = serde_json::from_str(&common::run_python(script, &[])).unwrap();
    for (t, want) in expected.iter().enumerate() {
        let mut r = PyRandom::new(t as i64);
        let mut got: Vec<usize> = (0..400)
            .map(|i| {
                let n = (i * 7919) % 37 + 1;
                r.randbelow(n as u64) as usize
            })
            .collect();
        got.extend(r.sample_indices(23, 10).unwrap());
        assert_eq!(&got, want, "trial seed {t}");
    }
}
