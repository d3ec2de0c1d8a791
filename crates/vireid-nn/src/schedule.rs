//! The reference's learning-rate schedule (SPEC section 6), by 0-based epoch.

/// lr of the heads at `epoch`: linear warm-up over 10 epochs, then steps at 20, 80 and 120.
/// The backbone runs at a tenth of it.
pub fn learning_rate(base: f64, epoch: usize) -> f64 {
    match epoch {
        e if e < 10 => base * (e + 1) as f64 / 10.0,
        e if e < 20 => base,
        e if e < 80 => base * 0.1,
        e if e < 120 => base * 0.01,
        _ => base * 0.001,
    }
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
    }
}
