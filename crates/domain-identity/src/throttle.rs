//! The login and registration protection policy, as pure functions of counts and limits
//! (the counting itself is the [`AttemptLimiter`](crate::AttemptLimiter) port's job).
//!
//! The policy, documented for operators in `docs/security.md` ("Login and registration
//! protection"):
//!
//! - Failures are counted per **(account, client address)** pair, per account and per
//!   client address. Unknown usernames are counted exactly like existing accounts (by
//!   their normalised spelling), so the answers reveal nothing.
//! - A **pair** that fails [`LoginLimits::per_pair`] times in a window is locked — refused
//!   with a wait, even with the right password — for 60 s, doubling with each further
//!   lockout of that pair within a day, up to [`LoginLimits::lockout_max_secs`]. Nobody
//!   else is affected: not the owner elsewhere, not the other people behind the address.
//! - An **account under attack** (more than [`LoginLimits::slow_after`] failures in a
//!   window, from any clients) gets failed answers held back, longer and longer, up to
//!   [`LoginLimits::max_delay_ms`]; a right password is never held back. Beyond
//!   [`LoginLimits::account_ceiling`] failures in a window, clients that have already
//!   failed on that account are refused until the window ends; clients that have not
//!   (the owner at home) still sign in.
//! - A **client failing across many accounts** (credential stuffing: at least
//!   [`LoginLimits::per_client`] failures in a window) gets a per-account budget of one
//!   failure and held-back failed answers; the other people behind that address sign in
//!   to their own accounts as usual.
//! - **Registrations** are counted per client address: beyond
//!   [`RegistrationLimits::per_client`] in a window, refused until it ends.

use std::net::IpAddr;
use std::time::Duration;

/// Brute-force protection for logins (see the [module documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failed logins one client address may make against one account within a window
    /// before that pair is locked.
    pub per_pair: u32,
    /// Failed logins from one client address, across accounts, within a window from
    /// which it is treated as credential stuffing.
    pub per_client: u32,
    /// Window over which failures are counted, in seconds.
    pub window_secs: u64,
    /// Longest lockout of a pair, in seconds (the first is 60 s, or this if shorter).
    pub lockout_max_secs: u64,
    /// Failed logins of one account within a window beyond which its failed answers are
    /// held back.
    pub slow_after: u32,
    /// Failed logins of one account within a window from which clients that already
    /// failed on it are refused.
    pub account_ceiling: u32,
    /// Longest hold-back of a failed answer, in milliseconds (0: none).
    pub max_delay_ms: u64,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_pair: 5,
            per_client: 30,
            window_secs: 15 * 60,
            lockout_max_secs: 3600,
            slow_after: 10,
            account_ceiling: 20,
            max_delay_ms: 2000,
        }
    }
}

/// Registrations allowed per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationLimits {
    /// Registration attempts (with valid input) per client address within a window.
    pub per_client: u32,
    /// Window length in seconds.
    pub window_secs: u64,
}

impl Default for RegistrationLimits {
    /// 60 an hour: a class of thirty registering in one lesson behind one school address
    /// fits, with room for retries of taken names; a script gets one account a minute.
    fn default() -> Self {
        Self {
            per_client: 60,
            window_secs: 3600,
        }
    }
}

/// First lockout of a pair, in seconds.
pub const FIRST_LOCKOUT_SECS: u64 = 60;

/// How long lockouts of a pair are remembered for the doubling, in seconds (a day).
pub const STRIKE_MEMORY_SECS: u64 = 24 * 3600;

/// First hold-back of a failed answer, doubling with each further failure.
const FIRST_DELAY_MS: u64 = 100;

/// How long a pair is locked at its `strike`-th lockout (1 for the first):
/// 60 s doubling, at most `max_secs`.
pub fn lockout_secs(strike: u32, max_secs: u64) -> u64 {
    let doublings = strike.saturating_sub(1).min(32);
    FIRST_LOCKOUT_SECS
        .saturating_mul(1u64 << doublings)
        .min(max_secs)
        .max(1)
}

/// How long to hold back a failed answer when `failures` have been counted and the
/// first `free` were not held back: 100 ms for the first one beyond, doubling, at most
/// `max_ms`.
pub fn failure_delay(failures: u32, free: u32, max_ms: u64) -> Duration {
    if failures <= free {
        return Duration::ZERO;
    }
    let doublings = (failures - free - 1).min(32);
    Duration::from_millis(FIRST_DELAY_MS.saturating_mul(1u64 << doublings).min(max_ms))
}

/// The part of a client address failures are counted by: an IPv4 address as it is, an
/// IPv6 address by its /64 (one subscriber's network, whose addresses are free to pick),
/// anything else (a proxy's odd header) by its first 64 visible characters. Never
/// contains `|`, which separates it from the account in pair keys.
pub fn client_tag(ip: Option<&str>) -> String {
    let Some(raw) = ip.map(str::trim).filter(|s| !s.is_empty()) else {
        return "unknown".into();
    };
    match raw.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => {
            let visible: String = raw
                .chars()
                .filter(|c| c.is_ascii_graphic() && *c != '|')
                .take(64)
                .collect();
            format!("other:{visible}")
        }
    }
}

/// The limiter keys of one login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginKeys {
    /// Failures of the account, from every client.
    pub account: String,
    /// Failures of the client, on every account.
    pub client: String,
    /// Failures of this client on this account.
    pub pair: String,
    /// Lockouts of this pair (for the doubling).
    pub strikes: String,
}

impl LoginKeys {
    /// Keys for `account` (`user:<id>`, or `name:<normalised identifier>` for an unknown
    /// one) and the client [`client_tag`]. The client comes first in the pair keys and
    /// never contains `|`, so no identifier can forge another pair's key.
    pub fn new(account: &str, client: &str) -> Self {
        Self {
            account: format!("login:{account}"),
            client: format!("login:client:{client}"),
            pair: format!("login:pair:{client}|{account}"),
            strikes: format!("login:strikes:{client}|{account}"),
        }
    }
}

/// The registration counter of a client [`client_tag`].
pub fn registration_key(client: &str) -> String {
    format!("register:client:{client}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockouts_double_from_a_minute_up_to_the_cap() {
        let got: Vec<u64> = (1..=8).map(|s| lockout_secs(s, 3600)).collect();
        assert_eq!(got, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(
            lockout_secs(0, 3600),
            60,
            "a zero strike counts as the first"
        );
        assert_eq!(lockout_secs(u32::MAX, u64::MAX), 60 << 32, "no overflow");
        assert_eq!(lockout_secs(1, 10), 10, "a cap below a minute wins");
        assert_eq!(lockout_secs(3, 0), 1, "never zero: a lock must lock");
    }

    #[test]
    fn delays_start_after_the_free_failures_and_double_up_to_the_cap() {
        let got: Vec<u64> = (9..=17)
            .map(|f| failure_delay(f, 10, 2000).as_millis() as u64)
            .collect();
        assert_eq!(got, [0, 0, 100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(
            failure_delay(u32::MAX, 0, 2000),
            Duration::from_millis(2000)
        );
        assert_eq!(failure_delay(50, 10, 0), Duration::ZERO, "0 turns it off");
    }

    #[test]
    fn client_tags_group_an_ipv6_subscriber_and_nothing_else() {
        assert_eq!(client_tag(Some("203.0.113.7")), "203.0.113.7");
        assert_eq!(client_tag(Some(" 203.0.113.7 ")), "203.0.113.7");
        assert_eq!(
            client_tag(Some("2001:db8:1:2:aaaa::1")),
            client_tag(Some("2001:db8:1:2:bbbb::9")),
            "one /64"
        );
        assert_eq!(client_tag(Some("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        assert_ne!(
            client_tag(Some("2001:db8:1:2::1")),
            client_tag(Some("2001:db8:1:3::1"))
        );
        assert_eq!(client_tag(Some("::ffff:198.51.100.4")), "198.51.100.4");
        assert_eq!(client_tag(None), "unknown");
        assert_eq!(client_tag(Some("  ")), "unknown");
        let odd = client_tag(Some("not|an address\n"));
        assert_eq!(odd, "other:notanaddress");
        assert_eq!(
            client_tag(Some(&"x".repeat(500))).len(),
            "other:".len() + 64
        );
    }

    #[test]
    fn pair_keys_cannot_be_forged_through_the_identifier() {
        // the client part ends at the first `|`, which no client tag contains, so an
        // unknown name spelling "|user:1" still lands in its own client's pair
        let client = client_tag(Some("198.51.100.4"));
        let forged = LoginKeys::new("name:x|user:1", &client);
        let (head, account) = forged.pair.split_once('|').unwrap();
        assert_eq!(head, "login:pair:198.51.100.4");
        assert_eq!(account, "name:x|user:1");
        let keys = LoginKeys::new("user:42", "198.51.100.4");
        assert_eq!(keys.account, "login:user:42");
        assert_eq!(keys.client, "login:client:198.51.100.4");
        assert_eq!(keys.pair, "login:pair:198.51.100.4|user:42");
        assert_eq!(keys.strikes, "login:strikes:198.51.100.4|user:42");
    }
}
