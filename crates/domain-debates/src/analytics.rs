//! Daily activity of debates, per scope: how many sessions started and closed, how many
//! arguments were posted and ballots cast, and how many people took a seat — the
//! figures operators and institutions read to see whether debates are used.
//!
//! The figures are computed from the debate tables by a roll-up (the hourly
//! `analytics.rollup` job recomputes today and yesterday) and stored, so reading a year
//! of them never scans the messages. A roll-up replaces the day's stored rows, so
//! running it again, or twice at once, never counts anything twice.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use domain_core::{Clock, StoreError};
use serde::{Deserialize, Serialize};

use crate::service::invalid;
use crate::{DebateError, ScopeRestriction};

/// Longest range [`AnalyticsService::daily`] answers, in days (both ends included): a
/// leap year, so "this school year" always fits.
pub const DAILY_MAX_DAYS: i64 = 366;

/// Days [`AnalyticsService::daily`] covers when no range is given: today and the 29
/// days before it.
pub const DAILY_DEFAULT_DAYS: i64 = 30;

/// The activity of one scope on one UTC day. A scope with no activity that day has no
/// row (rather than a row of zeros).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyActivity {
    /// The day, in UTC.
    pub day: NaiveDate,
    /// The sessions' scope (text form, as on the session).
    pub scope: String,
    /// Sessions that went live that day.
    pub sessions_started: u64,
    /// Sessions closed that day, cancelled ones (closed before going live) included.
    pub sessions_closed: u64,
    /// Arguments stored that day, later removed ones included (they were posted).
    pub messages: u64,
    /// Ballots whose stored vote was cast that day; a changed vote counts once, on the
    /// day of its last change (the store keeps one vote per user and ballot).
    pub votes: u64,
    /// Distinct users who took a seat (any side, audience included) that day in a
    /// session of the scope.
    pub participants: u64,
}

/// Computes and stores the daily figures, and reads them back.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ActivityRollup: Send + Sync {
    /// Computes every scope's [`DailyActivity`] for the UTC day `day` from the stored
    /// sessions, messages, votes and seats, and stores them in place of that day's
    /// earlier rows, atomically (a reader sees the old rows or the new ones). Returns
    /// how many rows were written. Idempotent: the same data gives the same rows.
    async fn roll_up(&self, day: NaiveDate) -> Result<u64, StoreError>;

    /// Stored rows with `from <= day <= to`, only of `scope` when given and only of the
    /// `readable` scopes when given, ordered by day then scope.
    async fn daily(
        &self,
        scope: Option<String>,
        readable: Option<ScopeRestriction>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyActivity>, StoreError>;
}

/// The first instant of the UTC day `day`; the day is `[start(day), start(day + 1))`.
pub fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The analytics use cases. Cheap to clone; clones share the store and clock.
#[derive(Clone)]
pub struct AnalyticsService {
    repo: Arc<dyn ActivityRollup>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AnalyticsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyticsService").finish_non_exhaustive()
    }
}

impl AnalyticsService {
    /// A service over `repo`, reading "today" from `clock`.
    pub fn new(repo: Arc<dyn ActivityRollup>, clock: Arc<dyn Clock>) -> Self {
        Self { repo, clock }
    }

    /// Today, in UTC.
    pub fn today(&self) -> NaiveDate {
        self.clock.now().date_naive()
    }

    /// Recomputes yesterday and today. Yesterday too, because activity late in the day
    /// lands after the last hourly run of that day. Returns the rows written.
    ///
    /// # Errors
    /// [`DebateError::Store`].
    pub async fn roll_up_recent(&self) -> Result<u64, DebateError> {
        let today = self.today();
        let mut written = 0;
        if let Some(yesterday) = today.pred_opt() {
            written += self.repo.roll_up(yesterday).await?;
        }
        written += self.repo.roll_up(today).await?;
        Ok(written)
    }

    /// The range a reader asked for, with the defaults filled in: `to` defaults to
    /// today, `from` to [`DAILY_DEFAULT_DAYS`] days up to `to`.
    ///
    /// # Errors
    /// [`DebateError::Invalid`] (`"from"`) when `from` is after `to` or the range is
    /// longer than [`DAILY_MAX_DAYS`].
    pub fn range(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<(NaiveDate, NaiveDate), DebateError> {
        let to = to.unwrap_or_else(|| self.today());
        let from = match from {
            Some(from) => from,
            None => to
                .checked_sub_signed(TimeDelta::days(DAILY_DEFAULT_DAYS - 1))
                .unwrap_or(NaiveDate::MIN),
        };
        check_range(from, to)?;
        Ok((from, to))
    }

    /// The stored figures from `from` to `to` (both included), of `scope` or of every
    /// scope, by day then scope. The caller restricts `scope`, or passes `readable`, to
    /// what the reader may see.
    ///
    /// # Errors
    /// [`DebateError::Invalid`] (`"from"`) when `from` is after `to` or the range is
    /// longer than [`DAILY_MAX_DAYS`]; [`DebateError::Store`].
    pub async fn daily(
        &self,
        scope: Option<String>,
        readable: Option<ScopeRestriction>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyActivity>, DebateError> {
        check_range(from, to)?;
        Ok(self.repo.daily(scope, readable, from, to).await?)
    }
}

/// A range is forwards and at most [`DAILY_MAX_DAYS`] long: a bound on what one read
/// can ask of the store.
fn check_range(from: NaiveDate, to: NaiveDate) -> Result<(), DebateError> {
    if from > to {
        return Err(invalid("from", "must not be after `to`"));
    }
    if (to - from).num_days() + 1 > DAILY_MAX_DAYS {
        return Err(invalid(
            "from",
            format!("the range may cover at most {DAILY_MAX_DAYS} days"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use domain_core::ManualClock;
    use mockall::predicate::eq;

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn service(repo: MockActivityRollup) -> AnalyticsService {
        // shortly after midnight: "yesterday" is a different month
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 0, 5, 0).unwrap();
        AnalyticsService::new(Arc::new(repo), Arc::new(ManualClock::new(now)))
    }

    #[tokio::test]
    async fn recent_means_yesterday_and_today_by_the_clock() {
        let mut repo = MockActivityRollup::new();
        repo.expect_roll_up()
            .with(eq(date(2026, 2, 28)))
            .times(1)
            .returning(|_| Ok(2));
        repo.expect_roll_up()
            .with(eq(date(2026, 3, 1)))
            .times(1)
            .returning(|_| Ok(1));
        assert_eq!(service(repo).roll_up_recent().await.unwrap(), 3);
    }

    #[tokio::test]
    async fn the_default_range_is_the_last_thirty_days() {
        let svc = service(MockActivityRollup::new());
        assert_eq!(
            svc.range(None, None).unwrap(),
            (date(2026, 1, 31), date(2026, 3, 1))
        );
        assert_eq!(
            svc.range(None, Some(date(2025, 12, 31))).unwrap(),
            (date(2025, 12, 2), date(2025, 12, 31))
        );
        assert_eq!(
            svc.range(Some(date(2026, 2, 27)), None).unwrap(),
            (date(2026, 2, 27), date(2026, 3, 1))
        );
    }

    #[tokio::test]
    async fn reads_ask_the_store_for_exactly_the_range() {
        let mut repo = MockActivityRollup::new();
        repo.expect_daily()
            .with(
                eq(Some("global".to_owned())),
                eq(None),
                eq(date(2026, 1, 31)),
                eq(date(2026, 3, 1)),
            )
            .times(1)
            .returning(|_, _, _, _| Ok(Vec::new()));
        let rows = service(repo)
            .daily(
                Some("global".into()),
                None,
                date(2026, 1, 31),
                date(2026, 3, 1),
            )
            .await
            .unwrap();
        assert!(rows.is_empty());
    }

    #[tokio::test]
    async fn ranges_are_checked_before_the_store_is_asked() {
        // strict mock: any store call would panic
        let svc = service(MockActivityRollup::new());
        let backwards = svc
            .daily(None, None, date(2026, 3, 2), date(2026, 3, 1))
            .await;
        assert!(
            matches!(backwards, Err(DebateError::Invalid { ref field, .. }) if field == "from")
        );
        let too_long = svc
            .daily(None, None, date(2025, 1, 1), date(2026, 1, 2))
            .await;
        assert!(matches!(too_long, Err(DebateError::Invalid { .. })));
        assert!(
            svc.range(Some(date(2025, 1, 1)), Some(date(2026, 1, 2)))
                .is_err()
        );
        // a future `from` with the default `to` (today) is backwards
        assert!(svc.range(Some(date(2026, 3, 2)), None).is_err());
    }

    #[tokio::test]
    async fn a_leap_year_fits() {
        let mut repo = MockActivityRollup::new();
        repo.expect_daily()
            .times(1)
            .returning(|_, _, _, _| Ok(Vec::new()));
        let svc = service(repo);
        svc.daily(None, None, date(2024, 1, 1), date(2024, 12, 31))
            .await
            .unwrap();
    }

    #[test]
    fn days_start_at_utc_midnight() {
        assert_eq!(
            day_start(date(2026, 3, 1)),
            Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
        );
    }
}
