//! Built-in roles that cannot be wrecked.
//!
//! Three built-in roles have a reach no edit may change, because nobody could repair the
//! damage through the API afterwards or because everybody holds them:
//!
//! - **`super_admin`** holds every permission of the catalogue. Taking one away (from the
//!   template, or with a deny override) can lock the platform's operators out of what
//!   they need to undo it — a fuzzing run once left it without `role.read` and
//!   `audit.read`.
//! - **`guest`** is held implicitly by everybody, signed in or not: it may hold `read`
//!   permissions only, so an edit can never let anonymous callers change anything.
//! - **`basic_user`** is held implicitly by every signed-up account, which anyone can
//!   create: it may hold `read`, `create` and `realtime_send` only (taking part, never
//!   changing or administering what others made), and nothing but `read` on the
//!   organisation tree, roles, the audit trail and jobs.
//!
//! These are pure functions; [`crate::RbacService`] applies them to every template edit
//! and override, and repairs stored roles at start-up ([`repaired`]).

use std::collections::BTreeSet;

use crate::permission::{Action, ResourceType};
use crate::role::names::{BASIC_USER, GUEST, SUPER_ADMIN};
use crate::{Effect, Permission, RoleTemplate};

/// Why a change to a protected built-in role was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Protected {
    /// `super_admin` would lose a permission.
    #[error("super_admin always holds every permission; {0} cannot be taken from it")]
    SuperAdminKeepsEverything(Permission),
    /// `guest` would gain a permission that is not a read.
    #[error(
        "guest is held by everybody, signed in or not, and may only hold read permissions, not {0}"
    )]
    GuestReadsOnly(Permission),
    /// `basic_user` would gain a permission above its ceiling.
    #[error(
        "basic_user is held by every signed-up account and may only hold read, create and \
         realtime_send permissions (read only on institutions, campuses, departments, roles, \
         the audit trail and jobs), not {0}"
    )]
    BasicUserCeiling(Permission),
}

/// Resource types on which `basic_user` may only read: creating an institution makes its
/// creator its owner, and roles, the audit trail and jobs are administration.
const ADMINISTRATIVE: [ResourceType; 6] = [
    ResourceType::Institution,
    ResourceType::Campus,
    ResourceType::Department,
    ResourceType::Role,
    ResourceType::Audit,
    ResourceType::Job,
];

/// Whether the built-in `role` may hold `permission` at all (from its template or an
/// allow override). Every role but `guest` and `basic_user` may hold anything.
///
/// # Errors
/// [`Protected::GuestReadsOnly`], [`Protected::BasicUserCeiling`].
pub fn may_hold(role: &str, permission: Permission) -> Result<(), Protected> {
    let Permission { resource, action } = permission;
    match role {
        GUEST if action != Action::Read => Err(Protected::GuestReadsOnly(permission)),
        BASIC_USER => {
            let taking_part =
                matches!(action, Action::Read | Action::Create | Action::RealtimeSend);
            if action == Action::Read || (taking_part && !ADMINISTRATIVE.contains(&resource)) {
                Ok(())
            } else {
                Err(Protected::BasicUserCeiling(permission))
            }
        }
        _ => Ok(()),
    }
}

/// Checks a new permission list for `role`'s template: `super_admin` must keep every
/// permission, `guest` and `basic_user` stay within [`may_hold`].
///
/// # Errors
/// The first [`Protected`] rule the list breaks (catalogue order).
pub fn check_template(role: &str, permissions: &BTreeSet<Permission>) -> Result<(), Protected> {
    if role == SUPER_ADMIN
        && let Some(missing) = Permission::all().find(|p| !permissions.contains(p))
    {
        return Err(Protected::SuperAdminKeepsEverything(missing));
    }
    permissions
        .iter()
        .try_for_each(|permission| may_hold(role, *permission))
}

/// Checks a new override: no deny for `super_admin`, and an allow only for a permission
/// the role [`may_hold`].
///
/// # Errors
/// The [`Protected`] rule the override breaks.
pub fn check_override(role: &str, permission: Permission, effect: Effect) -> Result<(), Protected> {
    match effect {
        Effect::Deny if role == SUPER_ADMIN => {
            Err(Protected::SuperAdminKeepsEverything(permission))
        }
        Effect::Deny => Ok(()),
        Effect::Allow => may_hold(role, permission),
    }
}

/// The permissions a stored built-in template must hold to obey the rules above, when
/// they differ from what it holds (data written before the rules existed, or a catalogue
/// that grew since `super_admin` was seeded); `None` when it is fine as it is. Custom
/// roles are never touched.
pub fn repaired(template: &RoleTemplate) -> Option<BTreeSet<Permission>> {
    if !template.built_in {
        return None;
    }
    let fixed: BTreeSet<Permission> = if template.name == SUPER_ADMIN {
        Permission::all().collect()
    } else {
        template
            .permissions
            .iter()
            .copied()
            .filter(|p| may_hold(&template.name, *p).is_ok())
            .collect()
    };
    (fixed != template.permissions).then_some(fixed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::default_roles;

    fn p(text: &str) -> Permission {
        text.parse().unwrap()
    }

    #[test]
    fn the_default_roles_obey_the_rules() {
        for role in default_roles() {
            assert_eq!(check_template(&role.name, &role.permissions), Ok(()));
            assert_eq!(repaired(&role), None, "{}", role.name);
        }
    }

    #[test]
    fn super_admin_keeps_every_permission() {
        let all: BTreeSet<Permission> = Permission::all().collect();
        assert_eq!(check_template(SUPER_ADMIN, &all), Ok(()));
        assert_eq!(
            check_template(SUPER_ADMIN, &BTreeSet::new()),
            Err(Protected::SuperAdminKeepsEverything(p(
                "institution.create"
            )))
        );
        let mut without = all.clone();
        without.remove(&p("job.update"));
        assert_eq!(
            check_template(SUPER_ADMIN, &without),
            Err(Protected::SuperAdminKeepsEverything(p("job.update")))
        );
        assert_eq!(
            check_override(SUPER_ADMIN, p("role.read"), Effect::Deny),
            Err(Protected::SuperAdminKeepsEverything(p("role.read")))
        );
        assert_eq!(
            check_override(SUPER_ADMIN, p("role.read"), Effect::Allow),
            Ok(())
        );
    }

    #[test]
    fn guest_reads_only() {
        for permission in Permission::all() {
            let read = permission.action == Action::Read;
            assert_eq!(may_hold(GUEST, permission).is_ok(), read, "{permission}");
            assert_eq!(
                check_override(GUEST, permission, Effect::Allow).is_ok(),
                read,
                "{permission}"
            );
            // taking something away from guest is always fine
            assert_eq!(check_override(GUEST, permission, Effect::Deny), Ok(()));
        }
        let wrecked: BTreeSet<Permission> = [p("debate_topic.read"), p("exam.delete")].into();
        assert_eq!(
            check_template(GUEST, &wrecked),
            Err(Protected::GuestReadsOnly(p("exam.delete")))
        );
    }

    #[test]
    fn basic_user_takes_part_but_administers_nothing() {
        for ok in [
            "post.create",
            "comment.create",
            "message.read",
            "debate_session.realtime_send",
            "role.read",
            "institution.read",
        ] {
            assert_eq!(may_hold(BASIC_USER, p(ok)), Ok(()), "{ok}");
        }
        for refused in [
            "post.update",
            "comment.delete",
            "exam.grade_manage",
            "role.role_assign",
            "institution.create",
            "campus.create",
            "role.create",
            "job.create",
            "audit.realtime_send",
            "debate_session.realtime_manage",
        ] {
            assert_eq!(
                may_hold(BASIC_USER, p(refused)),
                Err(Protected::BasicUserCeiling(p(refused))),
                "{refused}"
            );
        }
    }

    #[test]
    fn other_roles_may_hold_anything() {
        for role in ["teacher", "student", "librarian"] {
            assert!(Permission::all().all(|p| may_hold(role, p).is_ok()));
            assert_eq!(check_template(role, &BTreeSet::new()), Ok(()));
            assert_eq!(check_override(role, p("exam.delete"), Effect::Deny), Ok(()));
        }
    }

    #[test]
    fn repair_restores_the_rules_and_touches_nothing_else() {
        let mut roles = default_roles();
        let find = |roles: &mut Vec<RoleTemplate>, name: &str| {
            roles.iter().position(|r| r.name == name).unwrap()
        };
        // a super_admin seeded before the job resource type existed
        let i = find(&mut roles, SUPER_ADMIN);
        roles[i]
            .permissions
            .retain(|p| p.resource != ResourceType::Job);
        roles[i].permissions.remove(&p("role.read"));
        assert_eq!(
            repaired(&roles[i]),
            Some(Permission::all().collect::<BTreeSet<_>>())
        );
        // a wrecked guest loses its writes and keeps its reads (even fewer than default)
        let i = find(&mut roles, GUEST);
        roles[i].permissions = [p("exam.delete"), p("course.read")].into();
        assert_eq!(repaired(&roles[i]), Some([p("course.read")].into()));
        // a teacher edited by an operator is theirs to keep
        let i = find(&mut roles, "teacher");
        roles[i].permissions.clear();
        assert_eq!(repaired(&roles[i]), None);
        // a custom role named like nothing built in is never touched
        let custom = RoleTemplate {
            name: GUEST.into(),
            built_in: false,
            permissions: [p("exam.delete")].into(),
            ..roles[i].clone()
        };
        assert_eq!(repaired(&custom), None);
    }
}
