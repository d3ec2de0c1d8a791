//! The identity sampler (docs/reference-behaviour.md, Sampler).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use vireid_data::sampler::IdentitySampler;

/// Irregular labels: person p has p % 5 + 1 visible and p % 3 + 1 thermal images, shuffled.
fn labels(people: i64) -> (Vec<i64>, Vec<i64>) {
    let mut vis = Vec::new();
    let mut th = Vec::new();
    for p in 0..people {
        vis.extend(std::iter::repeat_n(p, (p % 5 + 1) as usize));
        th.extend(std::iter::repeat_n(p, (p % 3 + 1) as usize));
    }
    // A fixed interleaving, so that positions are not grouped by person.
    vis.reverse();
    th.rotate_left(7);
    (vis, th)
}

#[test]
fn batches_hold_b_distinct_people_with_k_images_per_modality() {
    let (vis, th) = labels(40);
    let (b, k) = (6, 4);
    let s = IdentitySampler::new(&vis, &th, b, k).unwrap();
    // N = max(#visible, #thermal); floor(N / (B K)) + 1 batches.
    assert_eq!(s.batches_per_epoch(), vis.len().max(th.len()) / (b * k) + 1);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut picked: BTreeMap<i64, usize> = BTreeMap::new();
    for batch in s
        .epoch(&mut rng)
        .into_iter()
        .chain((0..300).map(|_| s.batch(&mut rng)))
    {
        assert_eq!(
            (batch.visible.len(), batch.thermal.len(), batch.labels.len()),
            (b * k, b * k, b * k)
        );
        let people: BTreeSet<i64> = batch.labels.iter().copied().collect();
        assert_eq!(people.len(), b, "B distinct people");
        for (chunk, person) in batch.labels.chunks(k).zip(0..) {
            assert!(
                chunk.iter().all(|&l| l == chunk[0]),
                "person {person}'s K images are together"
            );
            *picked.entry(chunk[0]).or_default() += 1;
        }
        for (i, &l) in batch.labels.iter().enumerate() {
            assert_eq!(
                vis[batch.visible[i]], l,
                "visible image of the right person"
            );
            assert_eq!(th[batch.thermal[i]], l, "thermal image of the right person");
        }
    }
    // People are drawn uniformly: each of 40 is picked about 6/40 of the batches.
    let batches = (s.batches_per_epoch() + 300) as f64;
    let expected = batches * b as f64 / 40.0;
    for (p, &n) in &picked {
        assert!(
            (n as f64 - expected).abs() < 5.0 * expected.sqrt(),
            "person {p}: {n} vs {expected}"
        );
    }
    assert_eq!(picked.len(), 40);
}

#[test]
fn same_seed_same_epoch() {
    let (vis, th) = labels(20);
    let s = IdentitySampler::new(&vis, &th, 4, 2).unwrap();
    let a = s.epoch(&mut ChaCha8Rng::seed_from_u64(1));
    let b = s.epoch(&mut ChaCha8Rng::seed_from_u64(1));
    let c = s.epoch(&mut ChaCha8Rng::seed_from_u64(2));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn impossible_training_sets_are_refused() {
    let (vis, th) = labels(10);
    let err =
        |v: &[i64], t: &[i64], b, k| IdentitySampler::new(v, t, b, k).unwrap_err().to_string();
    assert!(err(&vis, &th, 11, 4).contains("takes 11 distinct people but the training set has 10"));
    assert!(err(&vis, &[], 2, 2).contains("0 thermal images"));
    assert!(err(&vis, &th, 0, 4).contains("B = 0"));
    let mut th2 = th.clone();
    th2.retain(|&l| l != 3);
    let e = err(&vis, &th2, 2, 2);
    assert!(e.contains("3 (visible only)"), "{e}");
}
