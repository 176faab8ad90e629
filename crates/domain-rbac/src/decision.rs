//! The decision function: pure, deterministic, default deny. Time is passed in.
//!
//! A request is allowed only by (in this order) ownership of the resource, an active
//! direct permission grant whose scope covers the target, or an active role whose scope
//! covers the target and whose template (after overrides there) gives the permission.
//! Everybody implicitly holds `guest`, and every signed-in user `basic_user`, globally;
//! a user listed as a member of a unit holds `member` there.
//!
//! Private by default: the implicit global roles do not *read* inside an organisational
//! unit unless the resource was opened to the public. What happens inside an institution
//! is read by the people of its scope (members, grant holders), and nobody else.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::role::names::{BASIC_USER, GUEST, MEMBER};
use crate::{Action, Permission, Policy, RoleVerdict, Scope, ScopePath, Subject};

/// What is asked.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    /// Permission needed.
    pub permission: Permission,
    /// Scope of the resource, with its ancestors.
    pub target: &'a ScopePath,
    /// Creator of the resource, when the request is about one resource.
    pub owner: Option<Uuid>,
    /// The resource was opened to the public (an organisation unit's directory entry, a
    /// debate an institution published). Only then do the implicit global `guest` and
    /// `basic_user` roles read it inside a unit.
    pub public: bool,
}

impl<'a> AccessRequest<'a> {
    /// A request about something private to its scope (the default).
    pub fn new(permission: Permission, target: &'a ScopePath) -> Self {
        Self {
            permission,
            target,
            owner: None,
            public: false,
        }
    }

    /// The same request about a resource created by `owner`.
    #[must_use]
    pub fn owned_by(mut self, owner: Option<Uuid>) -> Self {
        self.owner = owner;
        self
    }

    /// The same request about a resource open to the public (or not).
    #[must_use]
    pub fn public(mut self, public: bool) -> Self {
        self.public = public;
        self
    }
}

/// Why a decision came out as it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The caller created the resource.
    Ownership,
    /// A direct permission grant.
    PermissionGrant {
        /// The grant.
        grant_id: Uuid,
        /// Its scope.
        scope: Scope,
    },
    /// A role assignment.
    Role {
        /// The role.
        role: String,
        /// Its scope.
        scope: Scope,
        /// The assignment (`None` for the implicit `guest`, `basic_user` and `member`).
        grant_id: Option<Uuid>,
    },
    /// A deny override removed the permission from the only role that would allow it.
    DeniedByOverride {
        /// The role.
        role: String,
        /// Scope of the override.
        scope: Scope,
    },
    /// No grant, rule or ownership allows it (default deny).
    NoGrant,
}

/// The outcome, with the grant or rule that decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Allowed or not.
    pub allowed: bool,
    /// What decided.
    pub reason: Reason,
}

impl Decision {
    fn allow(reason: Reason) -> Self {
        Self {
            allowed: true,
            reason,
        }
    }

    /// Human-readable explanation, e.g. `role teacher in institution:…`.
    pub fn explain(&self) -> String {
        match &self.reason {
            Reason::Ownership => "owner of the resource".into(),
            Reason::PermissionGrant { grant_id, scope } => {
                format!("permission grant {grant_id} in {scope}")
            }
            Reason::Role {
                role,
                scope,
                grant_id: Some(id),
            } => format!("role {role} in {scope} (grant {id})"),
            Reason::Role {
                role,
                scope,
                grant_id: None,
            } => format!("implicit role {role} in {scope}"),
            Reason::DeniedByOverride { role, scope } => {
                format!("denied by an override of role {role} in {scope}")
            }
            Reason::NoGrant => "no grant allows it (default deny)".into(),
        }
    }
}

/// Actions the creator of a resource may always perform on it.
const OWNER_ACTIONS: [Action; 6] = [
    Action::Read,
    Action::Update,
    Action::Delete,
    Action::Publish,
    Action::ManageMembers,
    Action::AttachManage,
];

/// Decides `request` for `subject` under `policy` at `now`.
///
/// Ownership counts only while the owner is still present in the target's scope
/// ([`Subject::present_in`]): a creator whose grant expired or was revoked, and who is not
/// a member there, loses the rights their ownership gave.
///
/// [`Subject::present_in`]: crate::Subject::present_in
pub fn decide(
    policy: &Policy,
    subject: &Subject,
    request: &AccessRequest<'_>,
    now: DateTime<Utc>,
) -> Decision {
    let AccessRequest {
        permission,
        target,
        owner,
        public,
    } = *request;

    if let (Some(user), Some(owner)) = (subject.user_id, owner)
        && user == owner
        && OWNER_ACTIONS.contains(&permission.action)
        && subject.present_in(target, now)
    {
        return Decision::allow(Reason::Ownership);
    }

    for g in &subject.permissions {
        if g.permission == permission && g.is_active(now) && target.is_within(&g.scope) {
            return Decision::allow(Reason::PermissionGrant {
                grant_id: g.id,
                scope: g.scope,
            });
        }
    }

    let mut denied: Option<Reason> = None;
    let mut check = |role: &str, scope: Scope, grant_id: Option<Uuid>| -> Option<Decision> {
        match policy.role_verdict(role, permission, target) {
            RoleVerdict::Allow => Some(Decision::allow(Reason::Role {
                role: role.to_owned(),
                scope,
                grant_id,
            })),
            RoleVerdict::DeniedIn(at) => {
                denied.get_or_insert(Reason::DeniedByOverride {
                    role: role.to_owned(),
                    scope: at,
                });
                None
            }
            RoleVerdict::NotGranted => None,
        }
    };

    for a in &subject.roles {
        if a.is_active(now)
            && target.is_within(&a.scope)
            && let Some(d) = check(&a.role, a.scope, Some(a.id))
        {
            return d;
        }
    }
    for m in &subject.memberships {
        if target.is_within(m)
            && let Some(d) = check(MEMBER, *m, None)
        {
            return d;
        }
    }
    // The roles everybody holds everywhere read only what is public, or global.
    let private_read =
        permission.action == Action::Read && target.target() != Scope::Global && !public;
    if !private_read {
        if subject.user_id.is_some()
            && let Some(d) = check(BASIC_USER, Scope::Global, None)
        {
            return d;
        }
        if let Some(d) = check(GUEST, Scope::Global, None) {
            return d;
        }
    }
    Decision {
        allowed: false,
        reason: denied.unwrap_or(Reason::NoGrant),
    }
}
