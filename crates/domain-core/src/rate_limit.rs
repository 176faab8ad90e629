//! Rate limits shared by every connection and every server instance: how often one key
//! (for example a user in a debate session) may act, decided by a [`RateLimiter`] over a
//! shared store — Redis in production, process memory in the embedded mode.
//!
//! The rule is the generic cell rate algorithm ([`gcra`]): each key keeps one number, its
//! theoretical arrival time (TAT), the instant at which its budget would be full again.
//! It behaves as a token bucket of `burst` tokens refilled at `per_second`, but needs one
//! read and one write per decision, which one Redis script can do atomically. All
//! arithmetic is in whole microseconds since the Unix epoch, so every adapter answers
//! exactly the same `retry_after` for the same calls.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::StoreError;

/// Longest interval or burst span honoured (ten years, in microseconds). Keeps every sum
/// of timestamps far from `i64` overflow and, in Redis's Lua (doubles), below 2^53 where
/// integers are still exact.
pub const MAX_SPAN_MICROS: i64 = 10 * 365 * 24 * 3600 * 1_000_000;

/// How fast a key may act: `burst` units at once after a pause, `per_second` sustained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Units per second in the long run. Zero, negative or NaN count as the slowest rate
    /// honoured (one unit per [`MAX_SPAN_MICROS`]) rather than as an error, so a bad
    /// setting refuses instead of letting everything through.
    pub per_second: f64,
    /// Units that may be taken at once after a long enough pause. Zero counts as one: a
    /// rate always lets its sustained flow through.
    pub burst: u32,
}

impl Rate {
    /// A rate of `per_second` with bursts of `burst`.
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self { per_second, burst }
    }

    /// Microseconds between two units at the sustained rate (GCRA's emission interval),
    /// between 1 and [`MAX_SPAN_MICROS`].
    pub fn interval_micros(&self) -> i64 {
        if self.per_second.is_nan() || self.per_second <= 0.0 {
            return MAX_SPAN_MICROS;
        }
        let micros = 1_000_000.0 / self.per_second;
        // `as` saturates (a tiny rate's +inf becomes i64::MAX, an infinite rate's 0.0
        // becomes 0), then the clamp; rounding keeps 3/s at 333 333 µs
        (micros.round() as i64).clamp(1, MAX_SPAN_MICROS)
    }

    /// How far ahead of now a key's TAT may run before it is refused: the burst times the
    /// interval, at most [`MAX_SPAN_MICROS`].
    pub fn tolerance_micros(&self) -> i64 {
        self.interval_micros()
            .saturating_mul(i64::from(self.burst.max(1)))
            .min(MAX_SPAN_MICROS)
    }
}

/// The answer to one [`RateLimiter::acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// The unit was taken.
    Allowed,
    /// Nothing was taken; the same call succeeds once `retry_after` has passed (if no
    /// other call takes the unit first).
    Limited {
        /// Exact wait, to the microsecond, before the next unit is available.
        retry_after: Duration,
    },
}

impl RateDecision {
    /// Whether the unit was taken.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed)
    }
}

/// One key's budget, shared by every caller of every instance that uses the same store.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Takes one unit of `key`'s budget at `now` (GCRA / token bucket semantics:
    /// `burst` at once after a pause, `per_second` sustained). A refused call takes
    /// nothing. `now` comes from the caller's clock, never the store's, so instances
    /// sharing a store share the budget and tests need not sleep.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be reached.
    async fn acquire(
        &self,
        key: &str,
        rate: Rate,
        now: DateTime<Utc>,
    ) -> Result<RateDecision, StoreError>;
}

/// The outcome of one [`gcra`] step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraStep {
    /// What to answer the caller.
    pub decision: RateDecision,
    /// The TAT to store when the unit was taken; `None` when refused (the stored TAT, if
    /// any, stays as it was).
    pub new_tat: Option<i64>,
}

/// One GCRA decision: `tat` is the key's stored theoretical arrival time (µs since the
/// epoch, `None` for a key never seen or forgotten), `now` the caller's instant (µs).
///
/// A TAT in the past is as good as none, so stores may forget such keys. When the clock
/// goes backwards the stored TAT is kept (never moved back), so a clock jump gives no
/// extra budget, and nothing overflows or panics.
pub fn gcra(tat: Option<i64>, now: i64, rate: Rate) -> GcraStep {
    let interval = rate.interval_micros();
    let tolerance = rate.tolerance_micros();
    let tat = tat.map_or(now, |t| t.max(now));
    let new_tat = tat.saturating_add(interval);
    let allow_at = new_tat.saturating_sub(tolerance);
    if now < allow_at {
        let wait = allow_at.saturating_sub(now);
        GcraStep {
            decision: RateDecision::Limited {
                retry_after: Duration::from_micros(u64::try_from(wait).unwrap_or(u64::MAX)),
            },
            new_tat: None,
        }
    } else {
        GcraStep {
            decision: RateDecision::Allowed,
            new_tat: Some(new_tat),
        }
    }
}

/// `t` as whole microseconds since the Unix epoch, the unit [`gcra`] works in.
pub fn epoch_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_765_000_000_000_000;

    /// Runs `n` acquisitions at `now`, threading the TAT; returns the decisions.
    fn run(tat: &mut Option<i64>, now: i64, rate: Rate, n: usize) -> Vec<RateDecision> {
        (0..n)
            .map(|_| {
                let step = gcra(*tat, now, rate);
                if let Some(t) = step.new_tat {
                    *tat = Some(t);
                }
                step.decision
            })
            .collect()
    }

    fn limited(micros: u64) -> RateDecision {
        RateDecision::Limited {
            retry_after: Duration::from_micros(micros),
        }
    }

    #[test]
    fn a_first_call_is_allowed_and_sets_the_tat_one_interval_ahead() {
        let step = gcra(None, T0, Rate::new(2.0, 3));
        assert_eq!(step.decision, RateDecision::Allowed);
        assert_eq!(step.new_tat, Some(T0 + 500_000));
    }

    #[test]
    fn the_burst_passes_at_once_then_the_next_waits_exactly_one_interval() {
        let rate = Rate::new(2.0, 3);
        let mut tat = None;
        let got = run(&mut tat, T0, rate, 5);
        assert_eq!(
            got,
            vec![
                RateDecision::Allowed,
                RateDecision::Allowed,
                RateDecision::Allowed,
                limited(500_000),
                limited(500_000),
            ],
            "a refusal takes nothing, so the wait does not grow"
        );
        // one microsecond early: still refused, by exactly that microsecond
        assert_eq!(gcra(tat, T0 + 499_999, rate).decision, limited(1));
        assert!(gcra(tat, T0 + 500_000, rate).decision.is_allowed());
    }

    #[test]
    fn the_budget_refills_at_the_rate_and_never_beyond_the_burst() {
        let rate = Rate::new(4.0, 2);
        let mut tat = None;
        run(&mut tat, T0, rate, 2);
        // one second at 4/s would be 4 units, but the burst caps the budget at 2
        let later = T0 + 1_000_000;
        let got = run(&mut tat, later, rate, 3);
        assert_eq!(got[..2], [RateDecision::Allowed, RateDecision::Allowed]);
        assert_eq!(got[2], limited(250_000));
    }

    #[test]
    fn a_tat_in_the_past_is_the_same_as_none() {
        let rate = Rate::new(1.0, 2);
        assert_eq!(gcra(Some(T0 - 5_000_000), T0, rate), gcra(None, T0, rate));
    }

    #[test]
    fn a_rate_change_applies_to_the_stored_tat() {
        let mut tat = None;
        run(&mut tat, T0, Rate::new(1.0, 10), 10);
        // ten units spent at 1/s: the TAT is 10 s ahead
        assert_eq!(tat, Some(T0 + 10_000_000));
        // a tighter burst waits until the TAT is within the new tolerance
        assert_eq!(
            gcra(tat, T0, Rate::new(1.0, 2)).decision,
            limited(9_000_000)
        );
        // a looser one lets more through at once
        let looser = run(&mut tat, T0, Rate::new(1.0, 12), 3);
        assert_eq!(
            looser,
            vec![
                RateDecision::Allowed,
                RateDecision::Allowed,
                limited(1_000_000)
            ]
        );
    }

    #[test]
    fn a_clock_going_backwards_neither_panics_nor_gives_budget_back() {
        let rate = Rate::new(1.0, 1);
        let mut tat = None;
        run(&mut tat, T0, rate, 1);
        let stored = tat;
        // an hour back: refused, and the wait counts from the earlier "now"
        let step = gcra(stored, T0 - 3_600_000_000, rate);
        assert_eq!(step.decision, limited(3_601_000_000));
        assert_eq!(step.new_tat, None, "the stored TAT is not moved back");
        // the extremes of i64 do not overflow
        let _ = gcra(Some(i64::MAX), i64::MIN, rate);
        let _ = gcra(Some(i64::MIN), i64::MAX, rate);
        let _ = gcra(
            Some(i64::MAX),
            i64::MAX,
            Rate::new(f64::MIN_POSITIVE, u32::MAX),
        );
    }

    #[test]
    fn nonsense_rates_are_clamped_not_trusted() {
        for bad in [0.0, -1.0, f64::NAN, f64::NEG_INFINITY] {
            let rate = Rate::new(bad, 1);
            assert_eq!(rate.interval_micros(), MAX_SPAN_MICROS, "{bad}");
            let mut tat = None;
            let got = run(&mut tat, T0, rate, 2);
            assert!(got[0].is_allowed() && !got[1].is_allowed(), "{bad}");
        }
        assert_eq!(Rate::new(f64::INFINITY, 1).interval_micros(), 1);
        assert_eq!(Rate::new(1e-30, 1).interval_micros(), MAX_SPAN_MICROS);
        assert_eq!(Rate::new(1.0, u32::MAX).tolerance_micros(), MAX_SPAN_MICROS);
        assert_eq!(Rate::new(3.0, 1).interval_micros(), 333_333);
    }

    #[test]
    fn a_burst_of_zero_counts_as_one() {
        let rate = Rate::new(1.0, 0);
        let mut tat = None;
        assert_eq!(
            run(&mut tat, T0, rate, 2),
            vec![RateDecision::Allowed, limited(1_000_000)]
        );
    }
}
