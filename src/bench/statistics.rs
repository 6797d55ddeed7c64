//! Summary statistics of timing samples, apart from the code that measures them.

use serde::Serialize;

/// Median (the figure convflops quotes), extremes, mean and relative standard deviation of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Statistics {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// Sample standard deviation divided by the mean (0 for a single sample).
    pub rel_stddev: f64,
    pub samples: usize,
}

impl Statistics {
    /// `None` for an empty slice or one containing a non-finite value.
    pub fn of(values: &[f64]) -> Option<Statistics> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        let mean = sorted.iter().sum::<f64>() / n as f64;
        let variance = if n > 1 {
            sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        let rel_stddev = if mean > 0.0 { variance.sqrt() / mean } else { 0.0 };
        Some(Statistics {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            mean,
            rel_stddev,
            samples: n,
        })
    }

    /// Every value divided by `divisor` (per-dispatch time from a batch of `divisor` dispatches).
    pub fn scaled(&self, divisor: f64) -> Statistics {
        Statistics {
            median: self.median / divisor,
            min: self.min / divisor,
            max: self.max / divisor,
            mean: self.mean / divisor,
            ..*self
        }
    }
}

/// Relative standard deviation above which a measurement is flagged as noisy.
pub const NOISY_REL_STDDEV: f64 = 0.10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_and_even_medians() {
        let s = Statistics::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.mean, s.samples), (2.0, 1.0, 3.0, 2.0, 3));
        assert!((s.rel_stddev - 0.5).abs() < 1e-12);
        let e = Statistics::of(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(e.median, 2.5);
    }

    #[test]
    fn single_sample_and_bad_input() {
        let s = Statistics::of(&[0.25]).unwrap();
        assert_eq!((s.median, s.rel_stddev, s.samples), (0.25, 0.0, 1));
        assert!(Statistics::of(&[]).is_none());
        assert!(Statistics::of(&[1.0, f64::NAN]).is_none());
    }

    #[test]
    fn scaling_keeps_the_spread() {
        let s = Statistics::of(&[2.0, 4.0, 6.0]).unwrap().scaled(2.0);
        assert_eq!((s.median, s.min, s.max, s.mean), (2.0, 1.0, 3.0, 2.0));
        assert!((s.rel_stddev - 0.5).abs() < 1e-12);
    }
}
