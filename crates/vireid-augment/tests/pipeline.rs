//! The augmentation pipeline: exact where the reference behaviour is deterministic, statistical (fixed
//! seeds, bounds from the distributions) where it is random, and never NaN.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use vireid_augment::{augment_batch, augment_one, image_rng, Preset, Scratch, SourceImage, Trace};

fn random_image(h: usize, w: usize, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..h * w * 3).map(|_| rng.random()).collect()
}

fn run(preset: &Preset, img: &[u8], h: usize, w: usize, rng: &mut ChaCha8Rng) -> (Vec<f32>, Trace) {
    let mut out = vec![0f32; preset.output_len()];
    let src = SourceImage {
        pixels: img,
        height: h,
        width: w,
    };
    let t = augment_one(preset, &src, rng, &mut out, &mut Scratch::default()).unwrap();
    (out, t)
}

/// Back to [0, 1] from normalised values.
fn unnormalise(p: &Preset, out: &[f32]) -> Vec<f32> {
    let plane = p.height * p.width;
    out.iter()
        .enumerate()
        .map(|(i, v)| v * p.std[i / plane] + p.mean[i / plane])
        .collect()
}

#[test]
fn same_seed_same_batch_whatever_the_threads() {
    let p = Preset::sysu().with_size(64, 32);
    let imgs: Vec<Vec<u8>> = (0..16).map(|s| random_image(64, 32, s)).collect();
    let srcs: Vec<SourceImage> = imgs
        .iter()
        .map(|i| SourceImage {
            pixels: i,
            height: 64,
            width: 32,
        })
        .collect();
    let mut a = vec![0f32; 16 * p.output_len()];
    let mut b = a.clone();
    let mut c = a.clone();
    augment_batch(&p, &srcs, 7, 0, &mut a).unwrap();
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| augment_batch(&p, &srcs, 7, 0, &mut b).unwrap());
    augment_batch(&p, &srcs, 8, 0, &mut c).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Image i of a batch equals augmenting it alone with its own stream.
    let (one, _) = run(&p, &imgs[5], 64, 32, &mut image_rng(7, 5));
    assert_eq!(&a[5 * p.output_len()..6 * p.output_len()], &one[..]);
}

#[test]
fn geometry_and_normalize_are_exact() {
    let p = Preset::sysu().plain().with_size(40, 20);
    let (h, w) = (40, 20);
    let img = random_image(h, w, 3);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut seen_flip = [false; 2];
    for _ in 0..50 {
        let (out, t) = run(&p, &img, h, w, &mut rng);
        seen_flip[t.flip as usize] = true;
        assert!(t.top <= 2 * p.pad && t.left <= 2 * p.pad);
        // The reference behaviour: pad 10 with zeros, crop at (top, left), flip, /255, normalise.
        let (ph, pw) = (h + 2 * p.pad, w + 2 * p.pad);
        let mut padded = vec![0u8; ph * pw * 3];
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    padded[((y + p.pad) * pw + x + p.pad) * 3 + c] = img[(y * w + x) * 3 + c];
                }
            }
        }
        for c in 0..3 {
            for y in 0..p.height {
                for x in 0..p.width {
                    let cx = if t.flip { p.width - 1 - x } else { x };
                    let v = padded[((t.top + y) * pw + t.left + cx) * 3 + c];
                    let want = (v as f32 / 255.0 - p.mean[c]) / p.std[c];
                    assert_eq!(out[(c * p.height + y) * p.width + x], want);
                }
            }
        }
    }
    assert_eq!(seen_flip, [true, true]);
}

#[test]
fn grayscale_is_pils_luma() {
    let p = Preset {
        grayscale_p: 1.0,
        ..Preset::regdb().plain()
    }
    .with_size(30, 16);
    let img = random_image(30, 16, 4);
    let (out, t) = run(&p, &img, 30, 16, &mut ChaCha8Rng::seed_from_u64(1));
    assert!(t.grayscale);
    let x = unnormalise(&p, &out);
    let plane = 30 * 16;
    for y in 0..30 {
        for xx in 0..16 {
            let cx = if t.flip { 15 - xx } else { xx };
            let (sy, sx) = ((t.top + y) as isize - 10, (t.left + cx) as isize - 10);
            let want = if (0..30).contains(&sy) && (0..16).contains(&sx) {
                let i = (sy as usize * 16 + sx as usize) * 3;
                // ITU-R 601-2 luma as PIL's convert("L") computes it in fixed point.
                let (r, g, b) = (img[i] as u32, img[i + 1] as u32, img[i + 2] as u32);
                ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16) as f32 / 255.0
            } else {
                0.0
            };
            for c in 0..3 {
                assert!((x[c * plane + y * 16 + xx] - want).abs() < 1e-6);
            }
        }
    }
}

/// |observed - expected| within `k` standard errors.
fn within(observed: f64, expected: f64, sd: f64, n: usize, k: f64) -> bool {
    (observed - expected).abs() <= k * sd / (n as f64).sqrt()
}

#[test]
fn each_transform_fires_with_probability_one_half() {
    let p = Preset::regdb().with_size(24, 12);
    let img = random_image(24, 12, 5);
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let n = 20_000;
    let mut counts = [0usize; 5];
    for _ in 0..n {
        let (_, t) = run(&p, &img, 24, 12, &mut rng);
        counts[0] += t.grayscale as usize;
        counts[1] += t.flip as usize;
        counts[2] += t.mrle.is_some() as usize;
        counts[3] += t.rrle.is_some() as usize;
        counts[4] += t.erased.is_some() as usize;
    }
    for (i, c) in counts.iter().enumerate() {
        // Erasing fires with p = 0.5 times the chance that one of 100 attempts fits (1 here).
        assert!(
            within(*c as f64 / n as f64, 0.5, 0.5, n, 4.5),
            "transform {i}: {c} of {n}"
        );
    }
}

#[test]
fn mrle_weights_follow_normalised_beta_draws() {
    let p = Preset {
        mrle: Some(vireid_augment::Mrle { p: 1.0, beta: 0.3 }),
        ..Preset::sysu().plain()
    }
    .with_size(24, 12);
    let img = random_image(24, 12, 6);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let n = 40_000;
    let mut ws = Vec::with_capacity(n);
    for _ in 0..n {
        let (out, t) = run(&p, &img, 24, 12, &mut rng);
        let w = t.mrle.expect("p = 1");
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-5 && w.iter().all(|&v| v >= 0.0));
        ws.push(w[0] as f64);
        // All three channels carry the same grey before normalisation.
        let x = unnormalise(&p, &out);
        let plane = 24 * 12;
        assert!((x[7] - x[plane + 7]).abs() < 1e-5 && (x[7] - x[2 * plane + 7]).abs() < 1e-5);
    }
    // Expected moments of w1 = B1 / (B1 + B2 + B3), B ~ Beta(0.3, 0.3) iid, estimated from an
    // independent sampler: Beta as the Gamma ratio X / (X + Y).
    let gamma = rand_distr::Gamma::new(0.3, 1.0).unwrap();
    let mut r2 = ChaCha8Rng::seed_from_u64(77);
    let mut draw = || {
        use rand_distr::Distribution;
        let (x, y) = (gamma.sample(&mut r2), gamma.sample(&mut r2));
        x / (x + y)
    };
    let m = 400_000;
    let sim: Vec<f64> = (0..m)
        .map(|_| {
            let (a, b, c) = (draw(), draw(), draw());
            a / (a + b + c)
        })
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let var = |v: &[f64]| {
        let mu = mean(v);
        v.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / v.len() as f64
    };
    let (sim_mean, sim_var) = (mean(&sim), var(&sim));
    assert!(
        (sim_mean - 1.0 / 3.0).abs() < 0.003,
        "simulation mean {sim_mean}"
    );
    assert!(
        within(mean(&ws), 1.0 / 3.0, sim_var.sqrt(), n, 4.5),
        "mean {}",
        mean(&ws)
    );
    // Variance: standard error of a sample variance, sqrt((mu4 - var^2) / n), mu4 <= var.
    let se = (sim_var / n as f64).sqrt();
    assert!(
        (var(&ws) - sim_var).abs() < 4.5 * se,
        "variance {} vs {}",
        var(&ws),
        sim_var
    );
}

/// Recomputes the accumulated scale mask from a trace.
fn mask_min(p: &Preset, steps: &[vireid_augment::RrleStep]) -> f32 {
    let mut mask = vec![1f32; 3 * p.height * p.width];
    for s in steps {
        for c in 0..3 {
            for y in s.region.top..s.region.top + s.region.h {
                for x in s.region.left..s.region.left + s.region.w {
                    mask[(c * p.height + y) * p.width + x] *= s.factor[c];
                }
            }
        }
    }
    mask.into_iter().fold(f32::INFINITY, f32::min)
}

#[test]
fn rrle_regions_factors_and_stopping_rule() {
    let base = Preset::sysu();
    let rr = vireid_augment::Rrle {
        p: 1.0,
        ..base.rrle.unwrap()
    };
    let p = Preset {
        rrle: Some(rr),
        ..base.plain()
    }
    .with_size(96, 48);
    let img = random_image(96, 48, 8);
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    let (area, mut alphas, mut stopped) = ((96 * 48) as f64, Vec::new(), 0);
    for _ in 0..3000 {
        let (out, t) = run(&p, &img, 96, 48, &mut rng);
        assert!(out.iter().all(|v| v.is_finite()));
        let steps = t.rrle.expect("p = 1");
        for s in &steps {
            let r = s.region;
            let frac = (r.h * r.w) as f64 / area;
            // Rounding each side moves the area by less than one row and one column.
            let slack = (r.h + r.w + 1) as f64 / area;
            assert!(
                frac >= 0.02 - slack && frac <= 0.4 + slack,
                "area fraction {frac}"
            );
            let aspect = r.h as f64 / r.w as f64;
            assert!(
                (0.3 * 0.8..=(1.0 / 0.3) * 1.25).contains(&aspect),
                "aspect {aspect}"
            );
            assert!(r.top + r.h <= 96 && r.left + r.w <= 48 && r.h < 96 && r.w < 48);
            alphas.extend(s.alpha.iter().map(|&a| a as f64));
            for c in 0..3 {
                assert!(s.factor[c] > 0.0 && s.factor[c].is_finite());
            }
        }
        // The stopping rule, recomputed from the trace: stop at the first region that takes
        // some pixel's accumulated scale under 0.1.
        match t.rrle_min_scale {
            Some(min) => {
                stopped += 1;
                assert!(min < 0.1);
                assert!((mask_min(&p, &steps) - min).abs() < 1e-5);
                assert!(mask_min(&p, &steps[..steps.len() - 1]) >= 0.1);
            }
            None => {
                assert_eq!(t.rrle_attempts, 100);
                assert!(mask_min(&p, &steps) >= 0.1);
            }
        }
    }
    assert!(
        stopped > 2500,
        "the stopping rule should usually end the loop ({stopped})"
    );
    // Beta(0.4, 0.4): mean 1/2, variance 0.4^2 / (0.8^2 * 1.8).
    let n = alphas.len();
    let mean = alphas.iter().sum::<f64>() / n as f64;
    let var = alphas.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n as f64;
    let want_var: f64 = 0.16 / (0.64 * 1.8);
    assert!(
        within(mean, 0.5, want_var.sqrt(), n, 4.5),
        "alpha mean {mean}"
    );
    assert!(
        (var - want_var).abs() < 0.01,
        "alpha variance {var} vs {want_var}"
    );
}

#[test]
fn erasing_fills_one_rectangle_with_the_mean() {
    let base = Preset::sysu();
    let e = vireid_augment::Erasing {
        p: 1.0,
        ..base.erasing.unwrap()
    };
    let p = Preset {
        erasing: Some(e),
        ..base.plain()
    }
    .with_size(60, 30);
    let img = random_image(60, 30, 12);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut fracs = Vec::new();
    for _ in 0..2000 {
        let (out, t) = run(&p, &img, 60, 30, &mut rng);
        let r = t.erased.expect("p = 1 and small rectangles fit");
        fracs.push((r.h * r.w) as f64 / 1800.0);
        let x = unnormalise(&p, &out);
        for c in 0..3 {
            for y in r.top..r.top + r.h {
                for xx in r.left..r.left + r.w {
                    assert!((x[(c * 60 + y) * 30 + xx] - e.fill[c]).abs() < 1e-6);
                }
            }
        }
    }
    let mean = fracs.iter().sum::<f64>() / fracs.len() as f64;
    // Area fractions drawn from U(0.02, 0.4) and kept when both sides fit: the mean lies
    // below the untruncated 0.21, above the lower bound.
    assert!(mean > 0.05 && mean < 0.21, "mean erased fraction {mean}");
}

#[test]
fn no_nan_or_infinity_in_100k_augmentations() {
    let presets = [
        Preset::sysu().with_size(24, 12),
        Preset::regdb().with_size(24, 12),
    ];
    let images = [
        vec![0u8; 24 * 12 * 3],
        vec![255u8; 24 * 12 * 3],
        random_image(24, 12, 1),
        {
            // Dark except a few pixels: regions inside it have tiny maxima.
            let mut v = vec![0u8; 24 * 12 * 3];
            v[100] = 1;
            v
        },
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(100);
    let mut scratch = Scratch::default();
    let mut out = vec![0f32; presets[0].output_len()];
    for i in 0..100_000 {
        let p = &presets[i % 2];
        let img = &images[(i / 2) % images.len()];
        let src = SourceImage {
            pixels: img,
            height: 24,
            width: 12,
        };
        augment_one(p, &src, &mut rng, &mut out, &mut scratch).unwrap();
        assert!(out.iter().all(|v| v.is_finite()), "augmentation {i}");
    }
}

#[test]
fn bad_buffers_are_errors() {
    let p = Preset::sysu().with_size(24, 12);
    let img = vec![0u8; 10];
    let mut out = vec![0f32; p.output_len()];
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let src = SourceImage {
        pixels: &img,
        height: 24,
        width: 12,
    };
    assert!(
        augment_one(&p, &src, &mut rng, &mut out, &mut Scratch::default())
            .unwrap_err()
            .to_string()
            .contains("10 bytes")
    );
    let img = vec![0u8; 2 * 2 * 3];
    let src = SourceImage {
        pixels: &img,
        height: 2,
        width: 2,
    };
    assert!(
        augment_one(&p, &src, &mut rng, &mut out, &mut Scratch::default())
            .unwrap_err()
            .to_string()
            .contains("smaller than")
    );
    let mut short = vec![0f32; 5];
    let img = vec![0u8; 24 * 12 * 3];
    let src = SourceImage {
        pixels: &img,
        height: 24,
        width: 12,
    };
    assert!(augment_one(&p, &src, &mut rng, &mut short, &mut Scratch::default()).is_err());
}

/// The fused pipeline equals the transforms applied one by one, from the same stream: same
/// decisions, and the same pixels up to float rounding (RRLE and erasing work on normalised
/// values in the fused path).
#[test]
fn fused_pipeline_equals_the_transforms_one_by_one() {
    use vireid_augment::transforms::{compose, HwcImage};
    let presets = [
        Preset::sysu().with_size(64, 32),
        Preset::regdb().with_size(64, 32),
        Preset {
            channel_exchange: Some(vireid_augment::ChannelExchange { grey_p: 0.5 }),
            ..Preset::llcm()
        }
        .with_size(64, 32),
    ];
    for (k, p) in presets.iter().enumerate() {
        for seed in 0..300u64 {
            let pixels = if seed % 7 == 0 {
                vec![0u8; 64 * 32 * 3]
            } else {
                random_image(64, 32, seed)
            };
            let (fused, t1) = run(p, &pixels, 64, 32, &mut image_rng(seed, k as u64));
            let src = HwcImage {
                height: 64,
                width: 32,
                pixels,
            };
            let (units, t2) = compose(p, &src, &mut image_rng(seed, k as u64));
            assert_eq!(t1.grayscale, t2.grayscale);
            assert_eq!((t1.top, t1.left, t1.flip), (t2.top, t2.left, t2.flip));
            assert_eq!(t1.mrle, t2.mrle);
            assert_eq!(t1.erased, t2.erased);
            assert_eq!(t1.exchange, t2.exchange);
            assert_eq!(
                t1.rrle.as_ref().map(Vec::len),
                t2.rrle.as_ref().map(Vec::len),
                "preset {k} seed {seed}"
            );
            if let (Some(a), Some(b)) = (&t1.rrle, &t2.rrle) {
                for (x, y) in a.iter().zip(b) {
                    assert_eq!((x.region, x.alpha), (y.region, y.alpha));
                    for c in 0..3 {
                        assert!(
                            (x.factor[c] - y.factor[c]).abs() <= 1e-4 * y.factor[c].abs().max(1.0),
                            "factor {x:?} vs {y:?}"
                        );
                    }
                }
            }
            let worst = fused
                .iter()
                .zip(&units.data)
                .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
                .fold(0f32, f32::max);
            assert!(
                worst < 1e-4,
                "preset {k} seed {seed}: relative difference {worst}"
            );
        }
    }
}
