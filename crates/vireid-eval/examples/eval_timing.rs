//! Timing of one SYSU-sized evaluation's stages (a profiling aid).
//! usage: cargo run --release -p vireid-eval --example eval_timing
use ndarray::Array2;
use std::time::Instant;
use vireid_eval::{per_query, validate, Dataset, Labels};

fn main() {
    let (nq, ng) = (3803usize, 301usize);
    let mut state = 12345u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let d = Array2::from_shape_fn((nq, ng), |_| next() as f32);
    let qi: Vec<i64> = (0..nq as i64).map(|i| i % 96).collect();
    let qc: Vec<i64> = (0..nq as i64)
        .map(|i| if i % 2 == 0 { 3 } else { 6 })
        .collect();
    let gi: Vec<i64> = (0..ng as i64).map(|i| i % 96).collect();
    let gc: Vec<i64> = (0..ng as i64)
        .map(|i| [1, 2, 4, 5][(i % 4) as usize])
        .collect();
    let q = Labels {
        ids: &qi,
        cams: Some(&qc),
    };
    let g = Labels {
        ids: &gi,
        cams: Some(&gc),
    };
    for _ in 0..3 {
        let t = Instant::now();
        validate(&d.view(), q, g, Dataset::Sysu).unwrap();
        let v = t.elapsed();
        let t = Instant::now();
        let r = per_query(&d.view(), q, g, Dataset::Sysu);
        let p = t.elapsed();
        println!("validate {:?}, per_query {:?} ({} results)", v, p, r.len());
    }
}
