//! The bench harness: warm-up, then samples until both a minimum count and a minimum time are reached (with a
//! cap), then statistics. What is timed is a closure, so the harness knows nothing of GPUs.

pub mod statistics;

use std::time::{Duration, Instant};

pub use statistics::Statistics;

use crate::gpu::{GpuError, Timing};

/// Sampling settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchSettings {
    /// Warm-up runs: at least this many …
    pub warmup_runs: u32,
    /// … and at least this long.
    pub warmup_time: Duration,
    /// Samples: at least this many …
    pub min_samples: u32,
    /// … and at least this much total sampled time.
    pub min_time: Duration,
    /// Never more samples than this …
    pub max_samples: u32,
    /// … and stop sampling once this much wall time has passed (after `min_samples`).
    pub max_time: Duration,
    /// A sample batches dispatches until it takes about this long (GPU time), so short kernels are not dominated
    /// by submission overhead.
    pub target_sample_time: Duration,
    /// At most this many dispatches per sample.
    pub max_repetitions: u32,
}

impl Default for BenchSettings {
    fn default() -> Self {
        BenchSettings {
            warmup_runs: 3,
            warmup_time: Duration::from_millis(200),
            min_samples: 10,
            min_time: Duration::from_secs(1),
            max_samples: 1000,
            max_time: Duration::from_secs(20),
            target_sample_time: Duration::from_millis(5),
            max_repetitions: 256,
        }
    }
}

impl BenchSettings {
    /// Checks the user-settable fields; `min_time` comes in as seconds from the command line.
    pub fn new(warmup_runs: u32, min_samples: u32, min_time_s: f64) -> Result<BenchSettings, String> {
        if !min_time_s.is_finite() || !(0.0..=3600.0).contains(&min_time_s) {
            return Err(format!(
                "--min-time must be between 0 and 3600 seconds (got {min_time_s})"
            ));
        }
        if min_samples == 0 {
            return Err("--samples must be at least 1 (got 0)".into());
        }
        if min_samples > 100_000 {
            return Err(format!("--samples must be at most 100000 (got {min_samples})"));
        }
        let defaults = BenchSettings::default();
        let min_time = Duration::from_secs_f64(min_time_s);
        Ok(BenchSettings {
            warmup_runs,
            min_samples,
            min_time,
            max_samples: defaults.max_samples.max(min_samples),
            max_time: defaults.max_time.max(min_time * 3),
            ..defaults
        })
    }
}

/// A finished measurement of one kernel (or chain of kernels). Times are per dispatch: a sample's time divided by
/// the dispatches it batched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// GPU time from timestamps, when the adapter has them.
    pub gpu: Option<Statistics>,
    /// Wall time from submit to completion.
    pub wall: Statistics,
    /// Dispatches batched in one sample.
    pub repetitions: u32,
}

impl Measurement {
    /// The time FLOP/s are computed from: GPU timestamps where available, else wall time.
    pub fn best(&self) -> &Statistics {
        self.gpu.as_ref().unwrap_or(&self.wall)
    }

    /// The quoted time: the median of [`Measurement::best`], in seconds per dispatch.
    pub fn median_s(&self) -> f64 {
        self.best().median
    }

    /// `count` (e.g. FLOPs) divided by the quoted time: the achieved rate.
    pub fn rate(&self, count: u64) -> f64 {
        count as f64 / self.median_s()
    }
}

/// Measures `run(repetitions)`, which must perform `repetitions` back-to-back dispatches in one submission and
/// return its timing. The repetition count is chosen from the warm-up so that a sample lasts about
/// `target_sample_time`.
pub fn measure(
    settings: &BenchSettings,
    mut run: impl FnMut(u32) -> Result<Timing, GpuError>,
) -> Result<Measurement, GpuError> {
    // Warm-up with one dispatch per run; its fastest run sets the batch size.
    let start = Instant::now();
    let mut fastest = f64::INFINITY;
    let mut runs = 0;
    while runs < settings.warmup_runs.max(1) || start.elapsed() < settings.warmup_time {
        let timing = run(1)?;
        fastest = fastest.min(timing.gpu_s.unwrap_or(timing.wall_s));
        runs += 1;
        if start.elapsed() > settings.max_time {
            break;
        }
    }
    let repetitions = if fastest > 0.0 {
        (settings.target_sample_time.as_secs_f64() / fastest)
            .ceil()
            .clamp(1.0, f64::from(settings.max_repetitions.max(1))) as u32
    } else {
        settings.max_repetitions.max(1)
    };

    let mut gpu = Vec::new();
    let mut wall = Vec::new();
    let mut sampled = 0.0;
    let start = Instant::now();
    loop {
        let timing = run(repetitions)?;
        wall.push(timing.wall_s);
        if let Some(g) = timing.gpu_s {
            gpu.push(g);
        }
        sampled += timing.gpu_s.unwrap_or(timing.wall_s);
        let count = wall.len() as u32;
        let enough = count >= settings.min_samples && sampled >= settings.min_time.as_secs_f64();
        let capped =
            count >= settings.max_samples || (count >= settings.min_samples && start.elapsed() >= settings.max_time);
        if enough || capped {
            break;
        }
    }
    let per_dispatch = f64::from(repetitions);
    let wall = Statistics::of(&wall).ok_or_else(|| GpuError::Readback("wall-clock samples were not finite".into()))?;
    let gpu = if gpu.len() == wall.samples {
        Statistics::of(&gpu).map(|s| s.scaled(per_dispatch))
    } else {
        None
    };
    Ok(Measurement {
        gpu,
        wall: wall.scaled(per_dispatch),
        repetitions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> BenchSettings {
        BenchSettings {
            warmup_runs: 2,
            warmup_time: Duration::ZERO,
            min_samples: 5,
            min_time: Duration::ZERO,
            max_samples: 50,
            max_time: Duration::from_secs(5),
            target_sample_time: Duration::from_millis(4),
            max_repetitions: 64,
        }
    }

    #[test]
    fn batches_short_kernels_and_divides_by_the_batch() {
        // A fake kernel that takes 1 ms of "GPU time" per dispatch.
        let mut calls = Vec::new();
        let m = measure(&quick(), |reps| {
            calls.push(reps);
            Ok(Timing {
                gpu_s: Some(1e-3 * f64::from(reps)),
                wall_s: 2e-3 * f64::from(reps),
            })
        })
        .unwrap();
        assert_eq!(m.repetitions, 4);
        assert_eq!(&calls[..2], &[1, 1]);
        assert!(calls[2..].iter().all(|&r| r == 4));
        let gpu = m.gpu.unwrap();
        assert!((gpu.median - 1e-3).abs() < 1e-12);
        assert!((m.wall.median - 2e-3).abs() < 1e-12);
        assert_eq!(gpu.samples, 5);
        assert_eq!(m.best(), &gpu);
    }

    #[test]
    fn falls_back_to_wall_time_and_respects_the_sample_cap() {
        let settings = BenchSettings {
            min_time: Duration::from_secs(3600),
            max_samples: 7,
            ..quick()
        };
        let m = measure(&settings, |reps| {
            Ok(Timing {
                gpu_s: None,
                wall_s: 1e-2 * f64::from(reps),
            })
        })
        .unwrap();
        assert!(m.gpu.is_none());
        assert_eq!(m.wall.samples, 7);
        assert_eq!(m.repetitions, 1);
        assert_eq!(m.best(), &m.wall);
    }

    #[test]
    fn errors_stop_the_measurement() {
        let result = measure(&quick(), |_| Err(GpuError::Readback("lost".into())));
        assert!(result.is_err());
    }

    #[test]
    fn settings_are_checked() {
        assert!(BenchSettings::new(3, 10, 1.0).is_ok());
        assert!(BenchSettings::new(3, 0, 1.0).unwrap_err().contains("--samples"));
        assert!(BenchSettings::new(3, 10, f64::NAN).unwrap_err().contains("--min-time"));
        assert!(BenchSettings::new(3, 10, -1.0).unwrap_err().contains("--min-time"));
    }
}
