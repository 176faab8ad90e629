//! Scoped role-based access control for Agora.
//!
//! Principles: default deny; allow only through an active role assignment, a direct
//! permission grant or ownership; a deny override in a scope beats any allow from that
//! role's template there; grants hold in their scope and everything inside it, never
//! above or beside it; no one can hand out a role at or above their own.
//!
//! [`decide`] is a pure function of the policy, the caller's grants, the request and the
//! time; [`RbacService`] adds caching, the admin operations and the audit trail on top.

pub mod audit;
pub mod decision;
pub mod error;
pub mod escalation;
pub mod grants;
pub mod permission;
pub mod policy;
pub mod ports;
pub mod protect;
pub mod rbac_event;
pub mod role;
pub mod scope;
pub mod service;

#[cfg(test)]
mod doc_matrix;
#[cfg(test)]
mod proptests;

pub use audit::{AuditCursor, AuditFilter, AuditRecord};
pub use decision::{AccessRequest, Decision, Reason, decide};
pub use error::RbacError;
pub use escalation::{AssignRefusal, highest_rank, is_super_admin, may_assign};
pub use grants::{PermissionGrant, RoleAssignment, Subject};
pub use permission::{Action, Permission, ResourceType, perm};
pub use policy::{Effect, Override, Policy, RoleVerdict};
pub use ports::{
    GrantFilter, Invalidation, InvalidationBus, RbacRepository, ScopeDirectory, SubjectCache,
};
pub use protect::Protected;
pub use rbac_event::RbacEvent;
pub use role::{RoleTemplate, default_roles, names, valid_role_name};
pub use scope::{Scope, ScopeParseError, ScopePath, ScopeSet};
pub use service::{Actor, RbacService, Reach};
