//! How fast a user may send arguments into a debate session, by role: the settings parsed
//! from `AGORA_ROOM_SEND_RATES` (enforced by `commands::PostArgument` through the shared
//! `RateLimiter`), and the in-process token bucket of a socket's frame budget.

use std::collections::HashMap;
use std::time::Instant;

/// The default of `AGORA_ROOM_SEND_RATES`: students argue at a debate's pace; the staff
/// who run debates (and may need to post a burst of instructions) get more room.
pub const DEFAULT_SEND_RATES: &str = "student=5/10,moderator=20/40,teacher=20/40,\
     campus_admin=20/40,institute_admin=20/40,super_admin=20/40,*=5/10";

/// A sustained rate (frames per second) and a burst (frames sent at once after a pause).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SendRate {
    /// Tokens added per second.
    pub per_second: f64,
    /// Bucket size.
    pub burst: u32,
}

impl std::fmt::Display for SendRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "at most {} per second (bursts of {})",
            self.per_second, self.burst
        )
    }
}

/// Send rates per role name, with a fallback (`*`) for roles without a setting.
#[derive(Debug, Clone, PartialEq)]
pub struct SendRates {
    by_role: HashMap<String, SendRate>,
    fallback: SendRate,
}

impl Default for SendRates {
    fn default() -> Self {
        match Self::parse(DEFAULT_SEND_RATES) {
            Ok(rates) => rates,
            // unreachable: the default is checked by a unit test
            Err(_) => Self {
                by_role: HashMap::new(),
                fallback: SendRate {
                    per_second: 5.0,
                    burst: 10,
                },
            },
        }
    }
}

impl SendRates {
    /// Parses `role=rate/burst,…,*=rate/burst` (rate per second, > 0 and ≤ 1000; burst
    /// 1–1000). Without a `*` entry, roles without a setting get 5/s, bursts of 10.
    ///
    /// # Errors
    /// What is wrong with which entry.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut by_role = HashMap::new();
        let mut fallback = SendRate {
            per_second: 5.0,
            burst: 10,
        };
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = |why: &str| format!("{entry:?}: {why} (expected role=rate/burst)");
            let (role, setting) = entry.split_once('=').ok_or_else(|| bad("no '='"))?;
            let (rate, burst) = setting.split_once('/').ok_or_else(|| bad("no '/'"))?;
            let per_second: f64 = rate
                .trim()
                .parse()
                .map_err(|_| bad("the rate is not a number"))?;
            if !(per_second > 0.0 && per_second <= 1000.0) {
                return Err(bad("the rate must be above 0 and at most 1000"));
            }
            let burst: u32 = burst
                .trim()
                .parse()
                .map_err(|_| bad("the burst is not a whole number"))?;
            if !(1..=1000).contains(&burst) {
                return Err(bad("the burst must be between 1 and 1000"));
            }
            let rate = SendRate { per_second, burst };
            match role.trim() {
                "*" => fallback = rate,
                "" => return Err(bad("no role name")),
                role => {
                    by_role.insert(role.to_owned(), rate);
                }
            }
        }
        Ok(Self { by_role, fallback })
    }

    /// The rate of the first role in `roles` (highest rank first) that has a setting, or
    /// the fallback.
    pub fn for_roles<S: AsRef<str>>(&self, roles: &[S]) -> SendRate {
        roles
            .iter()
            .find_map(|r| self.by_role.get(r.as_ref()).copied())
            .unwrap_or(self.fallback)
    }
}

/// A token bucket in this process: `burst` tokens, refilled at `per_second`; each frame
/// takes one. A socket's client-frame budget; arguments use the shared `RateLimiter`.
#[derive(Debug)]
pub struct TokenBucket {
    rate: SendRate,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: SendRate) -> Self {
        Self {
            rate,
            tokens: f64::from(rate.burst),
            at: Instant::now(),
        }
    }

    /// The rate this bucket enforces.
    pub fn rate(&self) -> SendRate {
        self.rate
    }

    /// Takes a token if there is one.
    pub fn take(&mut self) -> bool {
        self.take_at(Instant::now())
    }

    fn take_at(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.rate.per_second;
        self.tokens = (self.tokens + refill).min(f64::from(self.rate.burst));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_default_parses_and_differs_by_role() {
        let rates = SendRates::default();
        assert_eq!(SendRates::parse(DEFAULT_SEND_RATES), Ok(rates.clone()));
        assert_eq!(rates.for_roles(&["student", "basic_user"]).burst, 10);
        assert_eq!(rates.for_roles(&["teacher", "student"]).burst, 40);
        assert_eq!(rates.for_roles(&["basic_user", "guest"]).per_second, 5.0);
    }

    #[test]
    fn the_highest_ranked_role_with_a_setting_wins() {
        let rates = SendRates::parse("student=1/2, moderator=3/4, *=0.5/1").unwrap();
        let r = rates.for_roles(&["super_admin", "moderator", "student"]);
        assert_eq!((r.per_second, r.burst), (3.0, 4));
        let r = rates.for_roles(&["parent"]);
        assert_eq!((r.per_second, r.burst), (0.5, 1));
    }

    #[test]
    fn bad_settings_say_which_entry_is_wrong() {
        for bad in [
            "student",
            "student=5",
            "student=x/2",
            "student=0/2",
            "student=5/0",
            "student=5/1.5",
            "=5/2",
        ] {
            let e = SendRates::parse(bad).unwrap_err();
            assert!(e.contains("expected role=rate/burst"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let mut b = TokenBucket::new(SendRate {
            per_second: 2.0,
            burst: 3,
        });
        let t0 = b.at;
        for _ in 0..3 {
            assert!(b.take_at(t0));
        }
        assert!(!b.take_at(t0));
        // half a second at 2/s: one more token, and only one
        let t1 = t0 + Duration::from_millis(500);
        assert!(b.take_at(t1));
        assert!(!b.take_at(t1));
        // a long pause refills to the burst, not beyond
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(b.take_at(t2));
        }
        assert!(!b.take_at(t2));
    }
}
