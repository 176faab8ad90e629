//! Role templates and the default roles every deployment starts with.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::permission::{Action as A, Permission, ResourceType as R, perm};

/// A role: a named set of permissions, a rank for the no-escalation rule, and the roles
/// it inherits from (a role allows everything the roles below it allow).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleTemplate {
    /// Unique name, `snake_case`.
    pub name: String,
    /// Position in the hierarchy: a user may assign only roles ranked strictly below
    /// their own highest role in that scope.
    pub rank: u8,
    /// What the role is for.
    pub description: String,
    /// Built-in roles cannot be deleted.
    pub built_in: bool,
    /// Roles whose permissions this one inherits.
    pub inherits: Vec<String>,
    /// Permissions granted directly by the template.
    pub permissions: BTreeSet<Permission>,
}

/// Names of the built-in roles.
pub mod names {
    /// Platform operators: everything, everywhere.
    pub const SUPER_ADMIN: &str = "super_admin";
    /// Runs one institution.
    pub const INSTITUTE_ADMIN: &str = "institute_admin";
    /// Runs a campus.
    pub const CAMPUS_ADMIN: &str = "campus_admin";
    /// Teaching staff.
    pub const TEACHER: &str = "teacher";
    /// Administrative staff.
    pub const STAFF: &str = "staff";
    /// Debate moderator.
    pub const MODERATOR: &str = "moderator";
    /// Learners.
    pub const STUDENT: &str = "student";
    /// Parents.
    pub const PARENT: &str = "parent";
    /// A person listed as a member of an organisational unit (held implicitly in each
    /// unit the user is a member of): reads what is private to that unit.
    pub const MEMBER: &str = "member";
    /// Any signed-up account (held implicitly, globally, by every authenticated user).
    pub const BASIC_USER: &str = "basic_user";
    /// Not signed in (held implicitly by everybody).
    pub const GUEST: &str = "guest";
}

/// Whether `name` is a valid role name: 2–48 characters of `a-z`, `0-9` and `_`,
/// starting with a letter.
pub fn valid_role_name(name: &str) -> bool {
    (2..=48).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn template(
    name: &str,
    rank: u8,
    description: &str,
    inherits: &[&str],
    perms: Vec<Permission>,
) -> RoleTemplate {
    RoleTemplate {
        name: name.to_owned(),
        rank,
        description: description.to_owned(),
        built_in: true,
        inherits: inherits.iter().map(|s| (*s).to_owned()).collect(),
        permissions: perms.into_iter().collect(),
    }
}

fn each(resource: R, actions: &[A]) -> Vec<Permission> {
    actions.iter().map(|a| perm(resource, *a)).collect()
}

/// The default roles, seeded into every deployment. `docs/rbac.md` shows the resulting
/// matrix; a test keeps the two in step.
pub fn default_roles() -> Vec<RoleTemplate> {
    use names::*;
    let public_read: Vec<Permission> = [
        R::Institution,
        R::Campus,
        R::Department,
        R::Course,
        R::Post,
        R::Notice,
        R::Comment,
        R::DebateTopic,
        R::DebateSession,
        R::Message,
    ]
    .iter()
    .map(|r| perm(*r, A::Read))
    .collect();

    let basic = [
        each(R::Post, &[A::Create]),
        each(R::Comment, &[A::Create]),
        each(R::Notification, &[A::Read]),
        each(R::Enrollment, &[A::Create]),
    ]
    .concat();

    let parent = [each(R::Exam, &[A::Read]), each(R::Enrollment, &[A::Read])].concat();

    let student = [
        each(R::Message, &[A::Create, A::RealtimeSend]),
        each(R::Chat, &[A::Read, A::RealtimeSend]),
        each(R::DebateSession, &[A::RealtimeSend]),
        each(R::Post, &[A::RealtimeSend]),
    ]
    .concat();

    let moderator = [
        each(R::DebateTopic, &[A::Create, A::Update, A::Delete]),
        each(
            R::DebateSession,
            &[
                A::Create,
                A::Update,
                A::Delete,
                A::ManageMembers,
                A::RealtimeManage,
            ],
        ),
        each(R::Message, &[A::Delete, A::RealtimeManage]),
        each(R::Chat, &[A::RealtimeManage]),
    ]
    .concat();

    let staff = [
        each(R::Notice, &[A::Create, A::Update, A::Publish]),
        each(R::Enrollment, &[A::Read]),
        each(R::Course, &[A::Update]),
    ]
    .concat();

    let teacher = [
        each(R::Course, &[A::Create, A::Update, A::AttachManage]),
        each(
            R::Exam,
            &[
                A::Create,
                A::Read,
                A::Update,
                A::Delete,
                A::GradeManage,
                A::Publish,
            ],
        ),
        each(R::Notice, &[A::Create, A::Update, A::Publish]),
        each(R::Enrollment, &[A::Read, A::EnrollManage]),
    ]
    .concat();

    let campus_admin = [
        each(R::Campus, &[A::Update, A::ManageMembers]),
        each(
            R::Department,
            &[A::Create, A::Update, A::Delete, A::ManageMembers],
        ),
        each(R::Course, &[A::Delete]),
        each(R::Post, &[A::Update, A::Delete, A::RealtimeManage]),
        each(R::Comment, &[A::Update, A::Delete]),
        each(R::Notice, &[A::Delete]),
        each(R::Role, &[A::Read, A::RoleAssign]),
    ]
    .concat();

    let institute_admin = [
        each(R::Institution, &[A::Update, A::ManageMembers]),
        each(R::Campus, &[A::Create, A::Delete]),
        each(R::Enrollment, &[A::Update, A::Delete, A::EnrollManage]),
        each(R::Role, &[A::Update]),
        each(R::Audit, &[A::Read]),
        // Opening a debate to the public is the institution's decision.
        each(R::DebateTopic, &[A::Publish]),
    ]
    .concat();

    vec![
        template(
            SUPER_ADMIN,
            100,
            "Platform operators: everything, everywhere",
            &[INSTITUTE_ADMIN],
            Permission::all().collect(),
        ),
        template(
            INSTITUTE_ADMIN,
            80,
            "Runs one institution: full CRUD inside it, enrollments, role assignment",
            &[CAMPUS_ADMIN],
            institute_admin,
        ),
        template(
            CAMPUS_ADMIN,
            60,
            "Runs a campus: campus and departments, moderates posts in it",
            &[TEACHER, STAFF],
            campus_admin,
        ),
        template(
            TEACHER,
            40,
            "Teaching staff: courses, exams and grading, notices; runs debates",
            &[STUDENT, MODERATOR],
            teacher,
        ),
        template(
            STAFF,
            40,
            "Administrative staff: notices, enrollments (read), limited course edits",
            &[STUDENT],
            staff,
        ),
        template(
            MODERATOR,
            30,
            "Debate moderator: topics and sessions, mute/remove/warn",
            &[STUDENT],
            moderator,
        ),
        template(
            STUDENT,
            20,
            "Learners: join debates and chat, post and comment",
            &[BASIC_USER],
            student,
        ),
        template(
            PARENT,
            10,
            "Parents: read linked students' records",
            &[BASIC_USER],
            parent,
        ),
        template(
            MEMBER,
            7,
            "Listed member of a unit (implicit there): reads what is private to it",
            &[BASIC_USER],
            Vec::new(),
        ),
        template(
            BASIC_USER,
            5,
            "Any signed-up account: own posts and profile, enrollment requests",
            &[GUEST],
            basic,
        ),
        template(
            GUEST,
            0,
            "Not signed in: reads what is public",
            &[],
            public_read,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_well_formed() {
        let roles = default_roles();
        let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
        for r in &roles {
            assert!(valid_role_name(&r.name));
            for parent in &r.inherits {
                let below = roles.iter().find(|x| &x.name == parent).unwrap();
                assert!(below.rank < r.rank, "{} inherits higher {}", r.name, parent);
                assert!(names.contains(&parent.as_str()));
            }
        }
        assert!(!valid_role_name("Admin") && !valid_role_name("a") && !valid_role_name("1abc"));
    }
}
