//! Schedules, told to who they concern: a new session to the members of its unit (and of
//! the units inside it), a moved session to its participants.

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use domain_core::DomainEvent;
use domain_debates::{DebateError, DebateEvent, DebateService};
use domain_notifications::NotificationKind;
use domain_org::{OrgError, OrgService, UnitRef};
use domain_rbac::Scope;
use uuid::Uuid;

use super::{EventSubscriber, KnownEvent, Notifier, RECIPIENT_PAGE, participants_of, quoted, when};

/// Tells of `debates.session_scheduled` and `debates.session_rescheduled`.
pub struct ScheduleNotifier {
    notifier: Notifier,
    debates: DebateService,
    org: OrgService,
}

impl ScheduleNotifier {
    /// Tells through `notifier`; participants come from `debates`, members from `org`.
    pub fn new(notifier: Notifier, debates: DebateService, org: OrgService) -> Self {
        Self {
            notifier,
            debates,
            org,
        }
    }
}

/// What the notice of either schedule event needs.
struct SchedulePayload<'a> {
    session_id: Uuid,
    scope: &'a str,
    title: &'a str,
    scheduled_start: DateTime<Utc>,
    scheduled_end: Option<DateTime<Utc>>,
    created_by: Option<Uuid>,
    /// Set on a reschedule only.
    previous_start: Option<DateTime<Utc>>,
}

impl<'a> SchedulePayload<'a> {
    /// The schedule `event` announces, if it is a schedule event.
    fn of(event: &'a DebateEvent) -> Option<Self> {
        match event {
            DebateEvent::SessionScheduled {
                session_id,
                scope,
                title,
                scheduled_start,
                scheduled_end,
                created_by,
                ..
            } => Some(Self {
                session_id: *session_id,
                scope,
                title,
                scheduled_start: *scheduled_start,
                scheduled_end: *scheduled_end,
                created_by: *created_by,
                previous_start: None,
            }),
            DebateEvent::SessionRescheduled {
                session_id,
                scope,
                title,
                scheduled_start,
                scheduled_end,
                previous_start,
                ..
            } => Some(Self {
                session_id: *session_id,
                scope,
                title,
                scheduled_start: *scheduled_start,
                scheduled_end: *scheduled_end,
                created_by: None,
                previous_start: Some(*previous_start),
            }),
            _ => None,
        }
    }
}

fn span(start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> String {
    match end {
        Some(end) => format!("{} to {}", when(start), when(end)),
        None => when(start),
    }
}

/// Pages through one listing of an organisation, `after` the last id of the page before.
macro_rules! every_page {
    ($list:expr, $id:expr) => {{
        let mut all = Vec::new();
        let mut after: Option<Uuid> = None;
        loop {
            let page = $list(after).await?;
            let full = page.len() == RECIPIENT_PAGE as usize;
            after = page.last().map($id);
            all.extend(page);
            if !full {
                break all;
            }
        }
    }};
}

impl ScheduleNotifier {
    /// The members of the unit `scope` names and of every unit inside it. A scope of no
    /// unit (`global`) has no members: a platform-wide session is not announced to every
    /// account.
    async fn members(&self, scope: &str) -> Result<BTreeSet<Uuid>, OrgError> {
        let org = &self.org;
        let units: Vec<UnitRef> = match Scope::from_str(scope) {
            Ok(Scope::Institution(id)) => {
                let mut units = vec![UnitRef::institution(id)];
                let campuses = every_page!(
                    |after| org.list_campuses(Some(id), after, RECIPIENT_PAGE),
                    |c: &domain_org::Campus| c.id
                );
                for campus in campuses {
                    units.push(UnitRef::campus(campus.id));
                    units.extend(self.departments(campus.id).await?);
                }
                units
            }
            Ok(Scope::Campus(id)) => {
                let mut units = vec![UnitRef::campus(id)];
                units.extend(self.departments(id).await?);
                units
            }
            Ok(Scope::Department(id)) => vec![UnitRef::department(id)],
            Ok(Scope::Global) | Err(_) => Vec::new(),
        };
        let mut users = BTreeSet::new();
        for unit in units {
            let members = every_page!(
                |after| org.list_members(unit, after, RECIPIENT_PAGE),
                |m: &domain_org::Member| m.user_id
            );
            users.extend(members.into_iter().map(|m| m.user_id));
        }
        Ok(users)
    }

    async fn departments(&self, campus: Uuid) -> Result<Vec<UnitRef>, OrgError> {
        let org = &self.org;
        let departments = every_page!(
            |after| org.list_departments(Some(campus), after, RECIPIENT_PAGE),
            |d: &domain_org::Department| d.id
        );
        Ok(departments
            .into_iter()
            .map(|d| UnitRef::department(d.id))
            .collect())
    }
}

#[async_trait::async_trait]
impl EventSubscriber for ScheduleNotifier {
    fn wants(&self, event: &KnownEvent) -> bool {
        matches!(event, KnownEvent::Debates(e) if SchedulePayload::of(e).is_some())
    }

    async fn handle(&self, envelope: &DomainEvent, event: &KnownEvent) -> Result<(), String> {
        let KnownEvent::Debates(event) = event else {
            return Ok(());
        };
        let Some(p) = SchedulePayload::of(event) else {
            return Ok(());
        };
        let link = format!("/api/debates/sessions/{}/", p.session_id);
        let title = quoted(p.title);
        let scheduled = matches!(event, DebateEvent::SessionScheduled { .. });
        let (kind, recipients, heading, body) = if scheduled {
            let members = match self.members(p.scope).await {
                Ok(members) => members,
                // A unit deleted since has nobody left to tell.
                Err(OrgError::NotFound(_)) => BTreeSet::new(),
                Err(e) => return Err(e.to_string()),
            };
            (
                NotificationKind::DebateScheduled,
                members,
                format!("New debate: “{title}”"),
                format!(
                    "Scheduled for {}.",
                    span(p.scheduled_start, p.scheduled_end)
                ),
            )
        } else {
            let participants = match participants_of(&self.debates, p.session_id).await {
                Ok(users) => users.into_iter().collect(),
                // Deleted since: nobody left to tell.
                Err(DebateError::NotFound(_)) => BTreeSet::new(),
                Err(e) => return Err(e.to_string()),
            };
            let was = p
                .previous_start
                .map_or_else(String::new, |t| format!(" (was {})", when(t)));
            (
                NotificationKind::SessionRescheduled,
                participants,
                format!("“{title}” was rescheduled"),
                format!("Now {}{was}.", span(p.scheduled_start, p.scheduled_end)),
            )
        };
        // Keyed by the event: a retried dispatch tells nobody twice.
        let key = envelope.id.to_string();
        for user in recipients.into_iter().filter(|u| Some(*u) != p.created_by) {
            self.notifier
                .tell(
                    user,
                    kind,
                    &heading,
                    &body,
                    Some(&link),
                    &key,
                    envelope.occurred_at,
                )
                .await?;
        }
        Ok(())
    }
}
