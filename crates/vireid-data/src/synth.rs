//! A synthetic cross-spectral re-ID dataset, written in the real on-disk layout of SYSU-MM01,
//! RegDB or LLCM.
//!
//! People are built from materials. A material has an RGB reflectance and its own infrared
//! response, a linear function of that reflectance with material-specific weights and offset,
//! so an infrared view is a different, per-material linear function of the same scene: exactly
//! the relation Random Linear Enhancement models. Identity lives in body shape, clothing
//! layout and which materials are worn; colour alone does not survive into the infrared view.
//! Pose and position jitter, camera colour casts and gains, background clutter and sensor
//! noise keep it from being trivial. Structure is irregular like the real data: people miss
//! some cameras, image counts vary, id numbers have gaps.

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::image_io::Size;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub dataset: Dataset,
    /// Number of identities (RegDB: rounded up to an even number for its half/half trials).
    pub ids: usize,
    pub seed: u64,
    /// Size of the stored images (the real data's are of several sizes; cameras here vary
    /// around this one).
    pub size: Size,
    /// Images per person and camera, drawn uniformly from this inclusive range (RegDB always
    /// has 10 per modality).
    pub images_per_camera: (usize, usize),
    /// Standard deviation of the sensor noise, in [0, 1] intensity units.
    pub noise: f32,
    /// People held out for the test (SYSU-MM01 and LLCM); `None`: the benchmark's proportion
    /// (see [`SynthConfig::test_people`]). RegDB splits its people half and half in every
    /// trial and refuses it.
    pub test_ids: Option<usize>,
    /// Replace a dataset that `vireid synth` wrote in the output folder before (a folder
    /// holding anything else is never replaced).
    pub replace: bool,
}

/// The file in a generated dataset's root that says vireid wrote it (and may replace it).
pub const MARKER: &str = "vireid-synth.json";
/// Largest image side: far above any re-ID crop, far below a memory problem.
const MAX_SIDE: u32 = 4096;
/// Smallest image side a body can be drawn at.
const MIN_SIDE: u32 = 16;

impl SynthConfig {
    pub fn new(dataset: Dataset) -> Self {
        Self {
            dataset,
            ids: match dataset {
                Dataset::Regdb => 40,
                _ => 48,
            },
            seed: 0,
            size: Size::new(128, 64),
            images_per_camera: (2, 12),
            noise: 0.03,
            test_ids: None,
            replace: false,
        }
    }

    /// Every setting checked before anything is written; the first problem, named.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(DataError::Protocol(why));
        if self.ids < 3 {
            return bad(format!(
                "a synthetic dataset needs at least 3 identities (train and test), got {}",
                self.ids
            ));
        }
        if let Some(test) = self.test_ids {
            if self.dataset == Dataset::Regdb {
                return bad(format!(
                    "RegDB splits its people half and half in every trial; {test} test \
                     identities cannot be chosen"
                ));
            }
            if test == 0 || test + 2 > self.ids {
                return bad(format!(
                    "{test} test identities out of {} leave no test or fewer than 2 training people",
                    self.ids
                ));
            }
        }
        let (lo, hi) = self.images_per_camera;
        if lo == 0 || lo > hi || hi > 1000 {
            return bad(format!(
                "images per camera must be a range 1 <= min <= max <= 1000, got {lo}..{hi}"
            ));
        }
        if !(self.noise.is_finite() && (0.0..=1.0).contains(&self.noise)) {
            return bad(format!(
                "the noise is a standard deviation in [0, 1], got {}",
                self.noise
            ));
        }
        for (what, v) in [("height", self.size.height), ("width", self.size.width)] {
            if !(MIN_SIDE..=MAX_SIDE).contains(&v) {
                return bad(format!(
                    "the image {what} must be {MIN_SIDE} to {MAX_SIDE} pixels, got {v}"
                ));
            }
        }
        Ok(())
    }

    /// How many people the test holds: `test_ids` when chosen, else the benchmark's
    /// proportion (SYSU-MM01 a third, LLCM two fifths, RegDB half in every trial).
    pub fn test_people(&self) -> usize {
        self.test_ids.unwrap_or(match self.dataset {
            Dataset::Sysu => (self.ids / 3).max(1),
            Dataset::Llcm => (self.ids * 2 / 5).max(1),
            Dataset::Regdb => people_count(self) / 2,
        })
    }
}

/// What was written.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SynthReport {
    pub dataset: Dataset,
    pub root: PathBuf,
    pub ids: usize,
    pub train_ids: usize,
    pub test_ids: usize,
    pub visible_images: usize,
    pub infrared_images: usize,
}

#[derive(Debug, Clone, Copy)]
struct Material {
    rgb: [f32; 3],
    ir_weights: [f32; 3],
    ir_offset: f32,
    texture_amp: f32,
    texture_freq: f32,
}

/// The response every material's infrared weights scatter around.
const IR_BASE: [f32; 3] = [0.35, 0.4, 0.25];

impl Material {
    fn random(rng: &mut impl Rng) -> Self {
        Self {
            rgb: [
                rng.random_range(0.05..0.95),
                rng.random_range(0.05..0.95),
                rng.random_range(0.05..0.95),
            ],
            // A shared, luminance-like response plus a material's own deviation: infrared
            // brightness is related to the colours, as in real dyes and fabrics, but no one
            // linear map explains every material (the relation RLE models).
            ir_weights: [
                IR_BASE[0] + rng.random_range(-0.35..0.35),
                IR_BASE[1] + rng.random_range(-0.35..0.35),
                IR_BASE[2] + rng.random_range(-0.35..0.35),
            ],
            ir_offset: rng.random_range(0.0..0.3),
            texture_amp: rng.random_range(0.0..0.25),
            texture_freq: rng.random_range(0.1..0.6),
        }
    }

    /// Brightness in a grey picture (the luma weights of ITU-R 601).
    fn luma(&self) -> f32 {
        0.299 * self.rgb[0] + 0.587 * self.rgb[1] + 0.114 * self.rgb[2]
    }

    fn infrared(&self) -> f32 {
        let v: f32 = self
            .rgb
            .iter()
            .zip(self.ir_weights)
            .map(|(c, w)| c * w)
            .sum::<f32>()
            + self.ir_offset;
        v.clamp(0.02, 0.98)
    }
}

/// How a second material sits on a garment (coordinates in units of the person's height).
#[derive(Debug, Clone, Copy)]
enum Pattern {
    /// Horizontal stripes of this period.
    Stripes(f32),
    /// Vertical stripes of this period.
    Columns(f32),
    /// A band 0.06 high starting at this height.
    Band(f32),
    /// A square on the chest at this height.
    Patch(f32),
    /// Left and right differ (legs).
    Split,
}

impl Pattern {
    fn covers(self, x: f32, y: f32) -> bool {
        match self {
            Pattern::Stripes(period) => ((y / period) as i32) % 2 == 1,
            Pattern::Columns(period) => (((x + 1.0) / period) as i32) % 2 == 1,
            Pattern::Band(top) => (top..top + 0.06).contains(&y),
            Pattern::Patch(top) => (top..top + 0.07).contains(&y) && x.abs() < 0.035,
            Pattern::Split => x > 0.0,
        }
    }
}

/// A person: materials and body proportions, fixed across cameras and modalities.
#[derive(Debug, Clone)]
struct Person {
    skin: Material,
    hair: Material,
    upper: Material,
    /// A second material on the upper body and how it is laid out.
    upper2: Option<(Material, Pattern)>,
    /// A second material on the legs (a band at the knees, or one leg of each).
    lower2: Option<(Material, Pattern)>,
    long_hair: bool,
    lower: Material,
    shoes: Material,
    bag: Option<Material>,
    short_sleeves: bool,
    shorts: bool,
    shoulder: f32,
    leg_gap: f32,
    height: f32,
    head: f32,
}

impl Person {
    fn random(rng: &mut impl Rng, palette: &[Material]) -> Self {
        let mut pick = || palette[rng.random_range(0..palette.len())];
        let (skin, hair, upper, lower, shoes, bag) =
            (pick(), pick(), pick(), pick(), pick(), pick());
        // Patterns are what survives grey and infrared: their second material differs in
        // brightness from the first in both views.
        let mut contrasting = |base: &Material| {
            let mut m = palette[rng.random_range(0..palette.len())];
            for _ in 0..32 {
                if (m.luma() - base.luma()).abs() > 0.25
                    && (m.infrared() - base.infrared()).abs() > 0.2
                {
                    break;
                }
                m = palette[rng.random_range(0..palette.len())];
            }
            m
        };
        let upper2 = contrasting(&upper);
        let lower2 = contrasting(&lower);
        let upper_pattern = match rng.random_range(0..5) {
            0 => None,
            1 => Some(Pattern::Stripes(rng.random_range(0.03..0.08))),
            2 => Some(Pattern::Columns(rng.random_range(0.03..0.06))),
            3 => Some(Pattern::Band(rng.random_range(0.2..0.42))),
            _ => Some(Pattern::Patch(rng.random_range(0.2..0.36))),
        };
        let lower_pattern = match rng.random_range(0..3) {
            0 => None,
            1 => Some(Pattern::Band(rng.random_range(0.68..0.82))),
            _ => Some(Pattern::Split),
        };
        Self {
            skin,
            hair,
            upper,
            upper2: upper_pattern.map(|p| (upper2, p)),
            lower2: lower_pattern.map(|p| (lower2, p)),
            long_hair: rng.random_bool(0.3),
            lower,
            shoes,
            bag: rng.random_bool(0.35).then_some(bag),
            short_sleeves: rng.random_bool(0.4),
            shorts: rng.random_bool(0.25),
            shoulder: rng.random_range(0.08..0.15),
            leg_gap: rng.random_range(0.03..0.06),
            height: rng.random_range(0.78..0.96),
            head: rng.random_range(0.045..0.07),
        }
    }
}

/// Per-image viewing conditions.
struct View {
    cx: f32,
    top: f32,
    scale: f32,
    arm_swing: f32,
    leg_spread: f32,
    light: [f32; 3],
    ir_gain: f32,
    ir_bias: f32,
    background: Material,
    clutter: Vec<([f32; 4], Material)>,
}

fn ellipse(x: f32, y: f32, cx: f32, cy: f32, rx: f32, ry: f32) -> bool {
    let dx = (x - cx) / rx;
    let dy = (y - cy) / ry;
    dx * dx + dy * dy <= 1.0
}

/// The material at a point of the person frame (x across, y down, both in units of the
/// person's height, x = 0 on the body axis), if the person covers it.
fn person_material(p: &Person, v: &View, x: f32, y: f32) -> Option<(Material, bool)> {
    if ellipse(x, y, 0.0, p.head + 0.01, p.head * 0.8, p.head) {
        let hair = y < p.head * 0.9;
        return Some((if hair { p.hair } else { p.skin }, false));
    }
    // Long hair falls beside the face onto the shoulders.
    if p.long_hair
        && (p.head..p.head * 2.0 + 0.1).contains(&y)
        && (p.head * 0.5..p.head * 1.05).contains(&x.abs())
    {
        return Some((p.hair, false));
    }
    let arm_x = p.shoulder + 0.025;
    for side in [-1.0f32, 1.0] {
        let ax = side * arm_x + side * v.arm_swing * (y - 0.16);
        if (0.16..0.48).contains(&y) && (x - ax).abs() < 0.028 {
            let sleeve = !p.short_sleeves || y < 0.26;
            return Some((if sleeve { p.upper } else { p.skin }, sleeve));
        }
    }
    if let Some(bag) = p.bag {
        if (0.30..0.52).contains(&y) && (x - (p.shoulder + 0.06)).abs() < 0.05 {
            return Some((bag, false));
        }
    }
    if (0.14..0.53).contains(&y) {
        let half = p.shoulder - (y - 0.14) * 0.08;
        if x.abs() < half {
            if let Some((second, pattern)) = p.upper2 {
                if pattern.covers(x, y) {
                    return Some((second, true));
                }
            }
            return Some((p.upper, true));
        }
    }
    if (0.53..0.95).contains(&y) {
        let spread = v.leg_spread * (y - 0.53);
        for side in [-1.0f32, 1.0] {
            if (x - side * (p.leg_gap + spread)).abs() < 0.04 {
                let cloth = !p.shorts || y < 0.7;
                if !cloth {
                    return Some((p.skin, false));
                }
                if let Some((second, pattern)) = p.lower2 {
                    if pattern.covers(x, y) {
                        return Some((second, true));
                    }
                }
                return Some((p.lower, true));
            }
        }
    }
    if (0.95..1.0).contains(&y) {
        for side in [-1.0f32, 1.0] {
            if (x - side * (p.leg_gap + v.leg_spread * 0.42)).abs() < 0.05 {
                return Some((p.shoes, false));
            }
        }
    }
    None
}

/// Renders one view as `channels` bytes per pixel (3: RGB visible or grey-as-RGB infrared,
/// 1: single-channel infrared).
fn render(
    p: &Person,
    v: &View,
    infrared: bool,
    size: Size,
    noise: f32,
    rng: &mut impl Rng,
    channels: usize,
) -> Vec<u8> {
    let (h, w) = (size.height as usize, size.width as usize);
    let mut out = vec![0u8; h * w * channels];
    let person_px = v.scale * h as f32;
    for row in 0..h {
        for col in 0..w {
            let (fx, fy) = (col as f32 / w as f32, row as f32 / h as f32);
            let px = (col as f32 - v.cx * w as f32) / person_px;
            let py = (row as f32 - v.top * h as f32) / person_px;
            let mut mat = v.background;
            for (rect, m) in &v.clutter {
                if fx >= rect[0] && fx < rect[2] && fy >= rect[1] && fy < rect[3] {
                    mat = *m;
                }
            }
            let mut cloth = false;
            if let Some((m, c)) = person_material(p, v, px, py) {
                mat = m;
                cloth = c;
            }
            // Texture lives on the surface, so it is the same in both modalities.
            let coord = if cloth { py * 40.0 } else { (fx + fy) * 30.0 };
            let tex =
                1.0 + mat.texture_amp * (coord * mat.texture_freq * std::f32::consts::TAU).sin();
            let shade = 0.85 + 0.3 * fy;
            let mut n = || {
                let u: f32 = rng.random_range(-1.0..1.0) + rng.random_range(-1.0..1.0);
                u * noise
            };
            let px_out = &mut out[(row * w + col) * channels..][..channels];
            if infrared {
                let val = (mat.infrared() * tex * v.ir_gain + v.ir_bias + n()).clamp(0.0, 1.0);
                px_out.fill((val * 255.0).round() as u8);
            } else {
                for (c, o) in px_out.iter_mut().enumerate() {
                    let val = (mat.rgb[c] * tex * shade * v.light[c] + n()).clamp(0.0, 1.0);
                    *o = (val * 255.0).round() as u8;
                }
            }
        }
    }
    out
}

/// A camera: its folder (relative to the root), number, modality and conditions.
#[derive(Debug, Clone)]
struct Cam {
    dir: String,
    number: u32,
    infrared: bool,
    light: [f32; 3],
    ir_gain: f32,
    size: Size,
    background: Material,
}

/// One image to render.
#[derive(Debug, Clone)]
struct Job {
    path: PathBuf,
    person: usize,
    cam: usize,
    seed: u64,
}

struct Plan {
    cams: Vec<Cam>,
    jobs: Vec<Job>,
    text_files: Vec<(PathBuf, String)>,
    dirs: Vec<PathBuf>,
    train_ids: usize,
    test_ids: usize,
}

fn make_cam(rng: &mut impl Rng, dir: String, number: u32, infrared: bool, base: Size) -> Cam {
    let factor = [1.0f32, 1.25, 0.875, 1.5][rng.random_range(0..4)];
    let size = Size::new(
        ((base.height as f32 * factor).round() as u32).max(8),
        ((base.width as f32 * factor).round() as u32).max(4),
    );
    Cam {
        dir,
        number,
        infrared,
        light: [
            rng.random_range(0.75..1.2),
            rng.random_range(0.75..1.2),
            rng.random_range(0.75..1.2),
        ],
        ir_gain: rng.random_range(0.8..1.2),
        size,
        background: Material::random(rng),
    }
}

/// Which cameras of `cams` a person appears in: each with probability `p`, at least one.
fn subset(rng: &mut impl Rng, cams: &[usize], p: f64) -> Vec<usize> {
    let mut chosen: Vec<usize> = cams
        .iter()
        .copied()
        .filter(|_| rng.random_bool(p))
        .collect();
    if chosen.is_empty() {
        chosen.push(cams[rng.random_range(0..cams.len())]);
    }
    chosen
}

/// Person numbers with gaps, as in the real id lists.
fn person_numbers(rng: &mut impl Rng, n: usize) -> Vec<u32> {
    let mut next = 0u32;
    (0..n)
        .map(|_| {
            next += if rng.random_bool(0.1) { 2 } else { 1 };
            next
        })
        .collect()
}

fn join_ids(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

fn plan_sysu(cfg: &SynthConfig, rng: &mut ChaCha8Rng) -> Plan {
    let cams: Vec<Cam> = (1..=6)
        .map(|k| make_cam(rng, format!("cam{k}"), k, k == 3 || k == 6, cfg.size))
        .collect();
    let numbers = person_numbers(rng, cfg.ids);
    let mut order: Vec<usize> = (0..cfg.ids).collect();
    order.shuffle(rng);
    let n_test = cfg.test_people();
    let n_val = (cfg.ids / 12).max(1).min(cfg.ids - n_test);
    let mut test: Vec<u32> = order[..n_test].iter().map(|&i| numbers[i]).collect();
    let mut val: Vec<u32> = order[n_test..n_test + n_val]
        .iter()
        .map(|&i| numbers[i])
        .collect();
    let mut train: Vec<u32> = order[n_test + n_val..]
        .iter()
        .map(|&i| numbers[i])
        .collect();
    for v in [&mut test, &mut val, &mut train] {
        v.sort_unstable();
    }
    let mut jobs = Vec::new();
    for (person, &number) in numbers.iter().enumerate() {
        let mut chosen = subset(rng, &[0, 1, 3, 4], 0.75);
        chosen.extend(subset(rng, &[2, 5], 0.7));
        chosen.sort_unstable();
        for cam in chosen {
            let count = rng.random_range(cfg.images_per_camera.0..=cfg.images_per_camera.1);
            for k in 1..=count {
                jobs.push(Job {
                    path: PathBuf::from(format!("{}/{number:04}/{k:04}.jpg", cams[cam].dir)),
                    person,
                    cam,
                    seed: rng.random(),
                });
            }
        }
    }
    Plan {
        dirs: cams.iter().map(|c| PathBuf::from(&c.dir)).collect(),
        cams,
        jobs,
        text_files: vec![
            ("exp/train_id.txt".into(), join_ids(&train) + "\n"),
            ("exp/val_id.txt".into(), join_ids(&val) + "\n"),
            ("exp/test_id.txt".into(), join_ids(&test) + "\n"),
        ],
        train_ids: train.len() + val.len(),
        test_ids: test.len(),
    }
}

/// How many people a dataset gets: RegDB rounds up to an even number for its half/half
/// trial splits.
fn people_count(cfg: &SynthConfig) -> usize {
    match cfg.dataset {
        Dataset::Regdb => cfg.ids.max(2).div_ceil(2) * 2,
        _ => cfg.ids,
    }
}

fn plan_regdb(cfg: &SynthConfig, rng: &mut ChaCha8Rng) -> Plan {
    let n = people_count(cfg);
    let cams = vec![
        make_cam(rng, "Visible".into(), 1, false, cfg.size),
        make_cam(rng, "Thermal".into(), 2, true, cfg.size),
    ];
    let mut jobs = Vec::new();
    let mut files: Vec<[Vec<String>; 2]> = Vec::new();
    for person in 0..n {
        let mut person_files = [Vec::new(), Vec::new()];
        for (cam, prefix) in [(0usize, "v"), (1, "t")] {
            for k in 0..10 {
                let rel = format!("{}/{person:04}/{prefix}_{person:04}_{k}.bmp", cams[cam].dir);
                person_files[cam].push(rel.clone());
                jobs.push(Job {
                    path: rel.into(),
                    person,
                    cam,
                    seed: rng.random(),
                });
            }
        }
        files.push(person_files);
    }
    let mut text_files = Vec::new();
    for trial in 1..=10 {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(rng);
        let (mut train, mut test) = (order[..n / 2].to_vec(), order[n / 2..].to_vec());
        train.sort_unstable();
        test.sort_unstable();
        for (kind, people, relabel) in [("train", &train, true), ("test", &test, false)] {
            for (cam, modality) in [(0usize, "visible"), (1, "thermal")] {
                let mut text = String::new();
                for (rank, &person) in people.iter().enumerate() {
                    let label = if relabel { rank } else { person };
                    for f in &files[person][cam] {
                        text.push_str(&format!("{f} {label}\n"));
                    }
                }
                text_files.push((format!("idx/{kind}_{modality}_{trial}.txt").into(), text));
            }
        }
    }
    Plan {
        dirs: cams.iter().map(|c| PathBuf::from(&c.dir)).collect(),
        cams,
        jobs,
        text_files,
        train_ids: n / 2,
        test_ids: n / 2,
    }
}

fn plan_llcm(cfg: &SynthConfig, rng: &mut ChaCha8Rng) -> Plan {
    let mut cams = Vec::new();
    for k in 1..=9u32 {
        cams.push(make_cam(rng, format!("cam{k}"), k, false, cfg.size));
    }
    for k in [1u32, 2, 4, 5, 6, 7, 8, 9] {
        cams.push(make_cam(rng, format!("cam{k}"), k, true, cfg.size));
    }
    let vis: Vec<usize> = (0..9).collect();
    let nir: Vec<usize> = (9..17).collect();
    let numbers = person_numbers(rng, cfg.ids);
    let n_test = cfg.test_people();
    let mut order: Vec<usize> = (0..cfg.ids).collect();
    order.shuffle(rng);
    let mut test: Vec<usize> = order[..n_test].to_vec();
    let mut train: Vec<usize> = order[n_test..].to_vec();
    test.sort_unstable();
    train.sort_unstable();
    let mut jobs = Vec::new();
    let (mut train_vis, mut train_nir) = (String::new(), String::new());
    let mut add = |rng: &mut ChaCha8Rng, person: usize, split: &str, label: Option<usize>| {
        let number = numbers[person];
        let mut chosen = subset(rng, &vis, 0.35);
        chosen.extend(subset(rng, &nir, 0.35));
        for cam in chosen {
            let c = &cams[cam];
            let kind = if c.infrared { "nir" } else { "vis" };
            let count = rng.random_range(cfg.images_per_camera.0..=cfg.images_per_camera.1);
            for k in 0..count {
                let rel = format!(
                    "{split}_{kind}/{}/{number:04}/{number:04}_c{:02}_f{:05}_{kind}.jpg",
                    c.dir,
                    c.number,
                    k * 37 + 11
                );
                if let Some(label) = label {
                    let list = if c.infrared {
                        &mut train_nir
                    } else {
                        &mut train_vis
                    };
                    list.push_str(&format!("{rel} {label}\n"));
                }
                jobs.push(Job {
                    path: rel.into(),
                    person,
                    cam,
                    seed: rng.random(),
                });
            }
        }
    };
    for (label, &person) in train.iter().enumerate() {
        add(rng, person, "train", Some(label));
    }
    for &person in &test {
        add(rng, person, "test", None);
    }
    let mut dirs = Vec::new();
    for split in ["train", "test"] {
        for c in &cams {
            let kind = if c.infrared { "nir" } else { "vis" };
            dirs.push(PathBuf::from(format!("{split}_{kind}/{}", c.dir)));
        }
    }
    let test_numbers: Vec<u32> = test.iter().map(|&p| numbers[p]).collect();
    Plan {
        cams,
        jobs,
        text_files: vec![
            ("idx/train_vis.txt".into(), train_vis),
            ("idx/train_nir.txt".into(), train_nir),
            ("idx/test_id.txt".into(), join_ids(&test_numbers) + "\n"),
        ],
        dirs,
        train_ids: train.len(),
        test_ids: test.len(),
    }
}

/// Writes the dataset under `root`; `progress(finished, total)` is called as images are written.
pub fn generate(
    root: &Path,
    cfg: &SynthConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SynthReport> {
    cfg.validate()?;
    let replacing = check_destination(root, cfg.replace)?;
    // Written beside the destination and renamed into place when whole: a killed run leaves
    // only this folder, which the next run removes, and never a half-made dataset.
    let staging = staging_path(root);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| DataError::io(&staging, e))?;
    }
    let written = write_dataset(&staging, cfg, progress).and_then(|report| {
        let marker = serde_json::json!({
            "written_by": "vireid synth",
            "dataset": cfg.dataset,
            "ids": cfg.ids,
            "seed": cfg.seed,
            "size": cfg.size,
            "images_per_camera": cfg.images_per_camera,
            "noise": cfg.noise,
            "test_ids": report.test_ids,
        });
        let path = staging.join(MARKER);
        let text = serde_json::to_string_pretty(&marker).expect("the marker serialises");
        std::fs::write(&path, text).map_err(|e| DataError::io(&path, e))?;
        Ok(report)
    });
    let mut report = match written {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if replacing {
        std::fs::remove_dir_all(root).map_err(|e| DataError::io(root, e))?;
    } else if root.exists() {
        std::fs::remove_dir(root).map_err(|e| DataError::io(root, e))?;
    }
    std::fs::rename(&staging, root).map_err(|e| DataError::io(root, e))?;
    report.root = root.to_path_buf();
    Ok(report)
}

/// Whether `root` holds a dataset to replace; an error when it holds anything else (or a
/// generated dataset that may not be replaced). Missing and empty folders are fine.
fn check_destination(root: &Path, replace: bool) -> Result<bool> {
    if !root.exists() {
        return Ok(false);
    }
    let mut entries = std::fs::read_dir(root).map_err(|e| DataError::io(root, e))?;
    if entries.next().is_none() {
        return Ok(false);
    }
    if !root.join(MARKER).is_file() {
        return Err(DataError::Protocol(format!(
            "{} is not empty and holds no dataset written by vireid synth; choose an empty \
             or new folder",
            root.display()
        )));
    }
    if !replace {
        return Err(DataError::Protocol(format!(
            "{} already holds a synthetic dataset; pass --replace to write a new one in its \
             place, or choose another folder",
            root.display()
        )));
    }
    Ok(true)
}

/// The sibling folder a dataset is written into before it is renamed to `root`.
fn staging_path(root: &Path) -> PathBuf {
    let name = root
        .file_name()
        .map_or_else(|| "dataset".into(), |n| n.to_string_lossy().into_owned());
    let parent = root
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parent.join(format!(".{name}.synth-partial"))
}

fn write_dataset(
    root: &Path,
    cfg: &SynthConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SynthReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let palette: Vec<Material> = (0..24).map(|_| Material::random(&mut rng)).collect();
    // Background clutter has materials of its own, less textured than clothing: a person's
    // clothes, not the scenery, should be what tells people apart.
    let scenery: Vec<Material> = (0..12)
        .map(|_| {
            let mut m = Material::random(&mut rng);
            m.texture_amp *= 0.5;
            m
        })
        .collect();
    let people: Vec<Person> = (0..people_count(cfg))
        .map(|_| Person::random(&mut rng, &palette))
        .collect();
    let plan = match cfg.dataset {
        Dataset::Sysu => plan_sysu(cfg, &mut rng),
        Dataset::Regdb => plan_regdb(cfg, &mut rng),
        Dataset::Llcm => plan_llcm(cfg, &mut rng),
    };
    let mkdir = |d: &Path| std::fs::create_dir_all(d).map_err(|e| DataError::io(d, e));
    mkdir(root)?;
    for d in &plan.dirs {
        mkdir(&root.join(d))?;
    }
    for (rel, text) in &plan.text_files {
        let path = root.join(rel);
        mkdir(path.parent().expect("relative file has a folder"))?;
        std::fs::write(&path, text).map_err(|e| DataError::io(&path, e))?;
    }
    plan.jobs.par_iter().try_for_each(|job| {
        let mut rng = ChaCha8Rng::seed_from_u64(job.seed);
        let cam = &plan.cams[job.cam];
        let clutter = (0..rng.random_range(0..4))
            .map(|_| {
                let (x, y) = (
                    rng.random_range(-0.2..0.9f32),
                    rng.random_range(-0.2..0.9f32),
                );
                let (w, h) = (rng.random_range(0.1..0.5f32), rng.random_range(0.1..0.5f32));
                (
                    [x, y, x + w, y + h],
                    scenery[rng.random_range(0..scenery.len())],
                )
            })
            .collect();
        let brightness = rng.random_range(0.8..1.15f32);
        let view = View {
            cx: rng.random_range(0.42..0.58),
            top: rng.random_range(0.02..0.08),
            scale: people[job.person].height * rng.random_range(0.93..1.03),
            arm_swing: rng.random_range(-0.15..0.15),
            leg_spread: rng.random_range(-0.02..0.12),
            light: cam.light.map(|l| l * brightness),
            ir_gain: cam.ir_gain * rng.random_range(0.9..1.1),
            ir_bias: rng.random_range(-0.05..0.05),
            background: cam.background,
            clutter,
        };
        let single_channel = cam.infrared && cfg.dataset == Dataset::Regdb;
        let channels = if single_channel { 1 } else { 3 };
        let pixels = render(
            &people[job.person],
            &view,
            cam.infrared,
            cam.size,
            cfg.noise,
            &mut rng,
            channels,
        );
        let path = root.join(&job.path);
        mkdir(path.parent().expect("image has a folder"))?;
        let color = if single_channel {
            image::ExtendedColorType::L8
        } else {
            image::ExtendedColorType::Rgb8
        };
        let (w, h) = (cam.size.width, cam.size.height);
        let file = std::fs::File::create(&path).map_err(|e| DataError::io(&path, e))?;
        let mut writer = std::io::BufWriter::new(file);
        let encoded = if path.extension().is_some_and(|e| e == "bmp") {
            image::codecs::bmp::BmpEncoder::new(&mut writer).encode(&pixels, w, h, color)
        } else {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut writer, 92)
                .encode(&pixels, w, h, color)
        };
        encoded.map_err(|e| DataError::Image {
            path: path.clone(),
            message: e.to_string(),
        })?;
        progress(1, plan.jobs.len());
        Ok(())
    })?;
    let infrared_images = plan
        .jobs
        .iter()
        .filter(|j| plan.cams[j.cam].infrared)
        .count();
    Ok(SynthReport {
        dataset: cfg.dataset,
        root: root.to_path_buf(),
        ids: people.len(),
        train_ids: plan.train_ids,
        test_ids: plan.test_ids,
        visible_images: plan.jobs.len() - infrared_images,
        infrared_images,
    })
}
