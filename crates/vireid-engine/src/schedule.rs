//! The reference's learning-rate schedule (docs/reference-behaviour.md, Optimisation), by 0-based
//! epoch.

/// lr of the heads at `epoch`: linear warm-up over 10 epochs, then steps at 20, 80 and 120.
/// The backbone runs at a tenth of it.
pub fn learning_rate(base: f64, epoch: usize) -> f64 {
    warmup_step(base, epoch, 10, &[20, 80, 120])
}

/// The same shape with other numbers: a linear warm-up over `warmup` epochs (epoch e runs at
/// (e + 1) / warmup of `base`), then a tenth at each epoch of `steps`.
pub fn warmup_step(base: f64, epoch: usize, warmup: usize, steps: &[usize]) -> f64 {
    if epoch < warmup {
        return base * (epoch + 1) as f64 / warmup as f64;
    }
    let passed = steps.iter().filter(|&&s| epoch >= s).count();
    // The reference multiplies by the literals 0.1, 0.01 and 0.001, not by repeated tenths.
    const TENTHS: [f64; 5] = [1.0, 0.1, 0.01, 0.001, 0.0001];
    base * TENTHS
        .get(passed)
        .copied()
        .unwrap_or_else(|| 10f64.powi(-(passed as i32)))
}

#[cfg(test)]
mod tests {
    use super::learning_rate;

    #[test]
    fn reference_schedule() {
        let lr = |e| learning_rate(0.1, e);
        assert!((lr(0) - 0.01).abs() < 1e-12);
        assert!((lr(9) - 0.1).abs() < 1e-12);
        assert_eq!(lr(10), 0.1);
        assert_eq!(lr(19), 0.1);
        assert!((lr(20) - 0.01).abs() < 1e-12);
        assert!((lr(79) - 0.01).abs() < 1e-12);
        assert!((lr(80) - 0.001).abs() < 1e-12);
        assert!((lr(120) - 0.0001).abs() < 1e-12);
        assert!((lr(150) - 0.0001).abs() < 1e-12);
        // Bit for bit what train.py computes.
        assert_eq!(lr(20), 0.1 * 0.1);
        assert_eq!(lr(80), 0.1 * 0.01);
        assert_eq!(lr(120), 0.1 * 0.001);
    }

    #[test]
    fn short_schedules() {
        use super::warmup_step;
        assert!((warmup_step(0.1, 0, 2, &[5]) - 0.05).abs() < 1e-12);
        assert_eq!(warmup_step(0.1, 2, 2, &[5]), 0.1);
        assert!((warmup_step(0.1, 5, 2, &[5]) - 0.01).abs() < 1e-12);
        assert_eq!(warmup_step(0.1, 0, 0, &[]), 0.1);
    }
}
