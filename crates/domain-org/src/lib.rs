//! Organisations for Agora: institutions contain campuses, campuses contain departments.
//!
//! These units are the scopes of RBAC grants (`institution:{id}`, `campus:{id}`,
//! `department:{id}`) and have members. Business rules only: name rules, uniqueness per
//! parent, cascading deletes as a storage promise, and the [`OrgRepository`] port that
//! storage adapters implement. [`OrgService`] ties them together. Resolving a scope to
//! its ancestors for RBAC decisions is the RBAC domain's `ScopeDirectory` port, which the
//! storage adapters implement over the same tables.

pub mod error;
pub mod model;
pub mod ports;
pub mod service;

pub use error::OrgError;
pub use model::{Campus, Department, Institution, Member, UnitKind, UnitRef};
pub use ports::OrgRepository;
pub use service::{NAME_MAX_CHARS, OrgService};
