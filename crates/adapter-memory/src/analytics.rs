//! [`ActivityRollup`] on the in-process debate store: a day's figures are counted from
//! the sessions, messages, votes and seat log under the debates' one lock, and replace
//! the day's stored rows in the same critical section, as PostgreSQL's transaction does.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use domain_core::StoreError;
use domain_debates::{ActivityRollup, DailyActivity, ScopeRestriction, day_start};
use uuid::Uuid;

use crate::debates::Debates;
use crate::{MemoryDebateRepository, lock};

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The row of `scope` in `rows`, started at zero.
fn row_of<'a>(
    rows: &'a mut BTreeMap<String, DailyActivity>,
    day: NaiveDate,
    scope: &str,
) -> &'a mut DailyActivity {
    rows.entry(scope.to_owned())
        .or_insert_with(|| DailyActivity {
            day,
            scope: scope.to_owned(),
            sessions_started: 0,
            sessions_closed: 0,
            messages: 0,
            votes: 0,
            participants: 0,
        })
}

impl Debates {
    /// Every scope's figures for `day` (only scopes with some activity).
    fn activity_of(&self, day: NaiveDate) -> BTreeMap<String, DailyActivity> {
        let start = day_start(day);
        let end = start + TimeDelta::days(1);
        let within = |t: DateTime<Utc>| start <= t && t < end;
        let scope_of = |session: &Uuid| self.sessions.get(session).map(|e| &e.session.scope);
        let mut rows: BTreeMap<String, DailyActivity> = BTreeMap::new();
        for entry in self.sessions.values() {
            let s = &entry.session;
            if s.started_at.is_some_and(within) {
                row_of(&mut rows, day, &s.scope).sessions_started += 1;
            }
            if s.closed_at.is_some_and(within) {
                row_of(&mut rows, day, &s.scope).sessions_closed += 1;
            }
        }
        for m in self.messages.values().filter(|m| within(m.created_at)) {
            if let Some(scope) = scope_of(&m.session_id) {
                row_of(&mut rows, day, scope).messages += 1;
            }
        }
        for v in self.votes.values().filter(|v| within(v.cast_at)) {
            if let Some(scope) = scope_of(&v.session_id) {
                row_of(&mut rows, day, scope).votes += 1;
            }
        }
        let mut seated: BTreeMap<&String, BTreeSet<Uuid>> = BTreeMap::new();
        for (session, user, _) in self.seat_log.iter().filter(|(_, _, at)| within(*at)) {
            if let Some(scope) = scope_of(session) {
                seated.entry(scope).or_default().insert(*user);
            }
        }
        for (scope, users) in seated {
            row_of(&mut rows, day, scope).participants = count(users.len());
        }
        rows
    }
}

#[async_trait]
impl ActivityRollup for MemoryDebateRepository {
    async fn roll_up(&self, day: NaiveDate) -> Result<u64, StoreError> {
        let mut d = lock(&self.state);
        let rows = d.activity_of(day);
        d.activity.retain(|(stored_day, _), _| *stored_day != day);
        let written = count(rows.len());
        for (scope, row) in rows {
            d.activity.insert((day, scope), row);
        }
        Ok(written)
    }

    async fn daily(
        &self,
        scope: Option<String>,
        readable: Option<ScopeRestriction>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyActivity>, StoreError> {
        if from > to {
            // `BTreeMap::range` panics on an inverted range; the answer is empty anyway
            return Ok(Vec::new());
        }
        let d = lock(&self.state);
        Ok(d.activity
            .range((from, String::new())..)
            .take_while(|((day, _), _)| *day <= to)
            .filter(|((_, s), _)| scope.as_ref().is_none_or(|wanted| s == wanted))
            .filter(|((_, s), _)| readable.as_ref().is_none_or(|r| r.allows(s)))
            .map(|(_, row)| row.clone())
            .collect())
    }
}
