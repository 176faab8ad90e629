//! No privilege escalation: who may hand out (or take back) which role where.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::decision::{AccessRequest, decide};
use crate::permission::{Action, ResourceType, perm};
use crate::role::names::SUPER_ADMIN;
use crate::{Policy, Scope, ScopePath, Subject};

/// Why an assignment was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AssignRefusal {
    /// Nobody can change their own grants.
    #[error("nobody can change their own grants")]
    OwnGrant,
    /// No such role.
    #[error("unknown role {0}")]
    UnknownRole(String),
    /// The actor lacks `role.role_assign` in the scope.
    #[error("role.role_assign is required in this scope")]
    NotPermitted,
    /// The role is not strictly below the actor's highest role covering the scope.
    #[error("only roles ranked below your own can be assigned here")]
    RoleTooHigh,
}

/// The highest rank among `subject`'s active roles whose scope covers `target`.
pub fn highest_rank(
    policy: &Policy,
    subject: &Subject,
    target: &ScopePath,
    now: DateTime<Utc>,
) -> u8 {
    subject
        .roles
        .iter()
        .filter(|a| a.is_active(now) && target.is_within(&a.scope))
        .map(|a| policy.rank(&a.role))
        .max()
        .unwrap_or(0)
}

/// Whether `subject` holds `super_admin` in the global scope at `now`.
pub fn is_super_admin(subject: &Subject, now: DateTime<Utc>) -> bool {
    subject
        .roles
        .iter()
        .any(|a| a.role == SUPER_ADMIN && a.scope == Scope::Global && a.is_active(now))
}

/// Checks that `actor` may assign (or revoke) `role` for `target_user` at `target`:
/// never their own grants; super_admin anything; others need `role.role_assign` there and
/// may only hand out roles ranked strictly below their own highest role covering `target`.
///
/// # Errors
/// The [`AssignRefusal`] that applies.
pub fn may_assign(
    policy: &Policy,
    actor: &Subject,
    target_user: Uuid,
    role: &str,
    target: &ScopePath,
    now: DateTime<Utc>,
) -> Result<(), AssignRefusal> {
    if actor.user_id == Some(target_user) {
        return Err(AssignRefusal::OwnGrant);
    }
    let Some(template) = policy.role(role) else {
        return Err(AssignRefusal::UnknownRole(role.to_owned()));
    };
    if is_super_admin(actor, now) {
        return Ok(());
    }
    let request = AccessRequest::new(perm(ResourceType::Role, Action::RoleAssign), target);
    if !decide(policy, actor, &request, now).allowed {
        return Err(AssignRefusal::NotPermitted);
    }
    if template.rank >= highest_rank(policy, actor, target, now) {
        return Err(AssignRefusal::RoleTooHigh);
    }
    Ok(())
}
