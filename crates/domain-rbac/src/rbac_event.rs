//! The events of the RBAC domain, as one typed enum shared by the service that records
//! them (with the change, in the store's outbox) and the reactions that read them back
//! ([`domain_core::DomainEvent::decode`]).

use chrono::{DateTime, Utc};
use domain_core::TypedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::RoleAssignment;

/// Every event of the RBAC domain. The serialised form is tagged with the event's dotted
/// name (`"event": "rbac.role_granted"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum RbacEvent {
    /// A role was assigned; the aggregate is the user who received it.
    #[serde(rename = "rbac.role_granted")]
    RoleGranted {
        /// The assignment.
        assignment_id: Uuid,
        /// Who received the role.
        user_id: Uuid,
        /// The role's name.
        role: String,
        /// Where it holds, in its text form as in the API (`global`,
        /// `institution:<id>`, …).
        scope: String,
        /// Who granted it (`None`: the command line).
        granted_by: Option<Uuid>,
        /// When it stops holding (`None`: for good).
        expires_at: Option<DateTime<Utc>>,
    },
}

impl RbacEvent {
    /// The event announcing assignment `a`.
    pub fn role_granted(a: &RoleAssignment) -> Self {
        Self::RoleGranted {
            assignment_id: a.id,
            user_id: a.user_id,
            role: a.role.clone(),
            scope: a.scope.to_string(),
            granted_by: a.granted_by,
            expires_at: a.expires_at,
        }
    }
}

impl TypedEvent for RbacEvent {
    const VERSION: u32 = 1;
    const NAMES: &'static [&'static str] = &["rbac.role_granted"];

    fn name(&self) -> &'static str {
        match self {
            Self::RoleGranted { .. } => "rbac.role_granted",
        }
    }

    fn aggregate_id(&self) -> Uuid {
        match self {
            Self::RoleGranted { user_id, .. } => *user_id,
        }
    }
}
