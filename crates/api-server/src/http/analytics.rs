//! `/api/analytics/daily/`: the daily activity of debates per scope (sessions started and
//! closed, arguments, votes, participants), as the hourly `analytics.rollup` job stored
//! it.
//!
//! The catalogue has no report permission, so reading needs `audit.read` — the
//! permission of reading what happened in a scope — in the requested scope (an
//! institute_admin for their institution and everything in it); every scope at once
//! needs it globally (platform operators).

use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use domain_debates::{DailyActivity, ScopeRestriction};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::endpoint::Endpoint;
use super::guard::Authorize;
use super::problem::ApiError;
use super::state::AnalyticsState;
use super::visible::permitted_scopes;

/// One scope's activity on one UTC day.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct DailyActivityDto {
    /// The day (UTC), `YYYY-MM-DD`.
    pub day: NaiveDate,
    /// The scope of the sessions counted.
    pub scope: String,
    /// Sessions that went live that day.
    pub sessions_started: u64,
    /// Sessions closed that day (cancelled ones included).
    pub sessions_closed: u64,
    /// Arguments posted that day.
    pub messages: u64,
    /// Votes cast that day (a changed vote counts on the day of its last change).
    pub votes: u64,
    /// Distinct users who took a seat that day.
    pub participants: u64,
}

impl From<DailyActivity> for DailyActivityDto {
    fn from(a: DailyActivity) -> Self {
        Self {
            day: a.day,
            scope: a.scope,
            sessions_started: a.sessions_started,
            sessions_closed: a.sessions_closed,
            messages: a.messages,
            votes: a.votes,
            participants: a.participants,
        }
    }
}

/// The figures of a range of days.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct DailyActivityReport {
    /// The scope asked for; `null`: every scope.
    pub scope: Option<String>,
    /// First day of the range (included).
    pub from: NaiveDate,
    /// Last day of the range (included).
    pub to: NaiveDate,
    /// By day, then scope; days and scopes without activity have no entry.
    pub items: Vec<DailyActivityDto>,
}

/// The scope and days asked for.
#[derive(Deserialize, JsonSchema)]
struct DailyQuery {
    /// Sessions of exactly this scope (default: every scope where you read the figures).
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::scope_or_null")]
    scope: Option<String>,
    /// First day, `YYYY-MM-DD` (default: 29 days before `to`).
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::date_or_null")]
    from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default: today).
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::date_or_null")]
    to: Option<String>,
}

/// A `YYYY-MM-DD` date from the query string; 422 naming the field otherwise.
fn date(field: &str, text: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    text.map(|t| {
        NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| {
            ApiError::Validation(vec![domain_core::FieldError::new(
                field,
                "must be a date as YYYY-MM-DD",
            )])
        })
    })
    .transpose()
}

async fn daily(
    state: web::Data<AnalyticsState>,
    auth: Authorize,
    q: web::Query<DailyQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let scope = q
        .scope
        .as_deref()
        .map(|s| crate::http::problem::client_scope("scope", s))
        .transpose()?;
    // Named, a scope must be readable (403 otherwise); unnamed, the report holds every
    // scope where the caller reads the figures, possibly none.
    let readable = match scope {
        Some(scope) => {
            auth.require(scope).await?;
            None
        }
        None => Some(
            match permitted_scopes(&state.rbac, &auth).await?.as_text() {
                (true, only) => ScopeRestriction::Only(only),
                (false, but) => ScopeRestriction::AllBut(but),
            },
        ),
    };
    let (from, to) = state.analytics.range(
        date("from", q.from.as_deref())?,
        date("to", q.to.as_deref())?,
    )?;
    let scope = scope.map(|s| s.to_string());
    let items = state
        .analytics
        .daily(scope.clone(), readable, from, to)
        .await?;
    Ok(HttpResponse::Ok().json(DailyActivityReport {
        scope,
        from,
        to,
        items: items.into_iter().map(Into::into).collect(),
    }))
}

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/analytics/daily/", "dailyDebateActivity")
            .summary("analytics", "Daily debate activity per scope")
            .description(
                "Sessions started and closed, arguments, votes and distinct participants per UTC \
                 day, for the sessions of exactly `scope` (e.g. `institution:{id}`). `from` and \
                 `to` are `YYYY-MM-DD`, both included; by default the last 30 days up to today; \
                 at most 366 days. Recomputed hourly for yesterday and today, so today's figures \
                 lag by up to an hour. Needs `audit.read` in `scope` (403 otherwise); without \
                 `scope`, the figures of every scope where the caller holds `audit.read` \
                 (their grants' scopes and the units inside, less any subtree an override \
                 denies them), no rows when there is none; a guest who may read none gets 401.",
            )
            .permission("audit.read")
            .query::<DailyQuery>()
            .returns::<DailyActivityReport>(200, "The figures, by day then scope")
            .errors(&[400, 404, 422])
            .to(daily),
    ]
}
