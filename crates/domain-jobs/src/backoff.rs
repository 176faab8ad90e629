//! Exponential backoff with jitter between the attempts of a failing job.

use chrono::TimeDelta;

/// Delay before retry `n` (after the `n`-th failed attempt): `base · 2ⁿ⁻¹`, capped at
/// `max`, then scaled by a random factor in `[1 − jitter, 1 + jitter)` so jobs that
/// failed together (a dependency was down) do not all come back at the same instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay after the first failed attempt.
    pub base: TimeDelta,
    /// Largest delay before jitter.
    pub max: TimeDelta,
    /// Relative spread, between 0 (none) and 1.
    pub jitter: f64,
}

impl Default for Backoff {
    /// 10 s, doubling up to an hour, ±25 %.
    fn default() -> Self {
        Self {
            base: TimeDelta::seconds(10),
            max: TimeDelta::hours(1),
            jitter: 0.25,
        }
    }
}

impl Backoff {
    /// The delay after failed attempt `attempt` (1 for the first), given `random`, a
    /// uniformly drawn number in `[0, 1)`; pure, so tests pass the number in. Never
    /// negative.
    pub fn delay(&self, attempt: u32, random: f64) -> TimeDelta {
        let base = micros(self.base);
        let max = micros(self.max).max(0.0);
        // 2^62 microseconds is far beyond any sensible `max`; the cap keeps powi finite.
        let exponent = i32::try_from(attempt.saturating_sub(1).min(62)).unwrap_or(62);
        let capped = (base * 2f64.powi(exponent)).min(max).max(0.0);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let factor = 1.0 + jitter * (2.0 * random.clamp(0.0, 1.0) - 1.0);
        // `as` saturates on overflow, and the value is finite and non-negative here.
        TimeDelta::microseconds((capped * factor).floor() as i64)
    }
}

fn micros(d: TimeDelta) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64
}

/// A uniformly drawn number in `[0, 1)` from the operating system's generator; 0.5 (no
/// jitter) if it fails, which only costs the spread.
pub fn os_random() -> f64 {
    match getrandom::u64() {
        // The top 53 bits fill an f64 mantissa exactly.
        Ok(n) => (n >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: i64) -> TimeDelta {
        TimeDelta::milliseconds(n)
    }

    #[test]
    fn doubles_from_base_and_stops_at_max() {
        let b = Backoff {
            base: ms(100),
            max: ms(1000),
            jitter: 0.0,
        };
        let delays: Vec<_> = (1..=6).map(|n| b.delay(n, 0.9)).collect();
        assert_eq!(
            delays,
            vec![ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(b.delay(0, 0.5), ms(100));
        assert_eq!(b.delay(u32::MAX, 0.5), ms(1000));
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let b = Backoff {
            base: ms(1000),
            max: ms(60_000),
            jitter: 0.2,
        };
        assert_eq!(b.delay(1, 0.0), ms(800));
        assert_eq!(b.delay(1, 0.5), ms(1000));
        assert!(b.delay(1, 0.999_999) < ms(1200));
        for i in 0..100 {
            let d = b.delay(3, os_random());
            assert!(d >= ms(3200) && d < ms(4800), "draw {i}: {d}");
        }
    }

    #[test]
    fn os_random_is_in_the_unit_interval() {
        for _ in 0..1000 {
            let r = os_random();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
