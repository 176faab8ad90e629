//! Permissions are `resource.action`: a permission primitive applied to a resource type.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! names {
    ($(#[$m:meta])* $ty:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $ty { $($(#[$vm])* $variant),* }

        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            /// The name used in permission strings.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),* }
            }

            /// Parses a name.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($ty::$variant),)* _ => None }
            }
        }
    };
}

names!(
    /// Kinds of resource that permissions apply to.
    ResourceType {
        /// An institution.
        Institution => "institution",
        /// A campus.
        Campus => "campus",
        /// A department.
        Department => "department",
        /// A course.
        Course => "course",
        /// An enrollment in a course.
        Enrollment => "enrollment",
        /// An exam and its results.
        Exam => "exam",
        /// A social post.
        Post => "post",
        /// A notice.
        Notice => "notice",
        /// A comment.
        Comment => "comment",
        /// A debate topic.
        DebateTopic => "debate_topic",
        /// A debate session.
        DebateSession => "debate_session",
        /// A message (debate argument or chat line).
        Message => "message",
        /// A chat channel.
        Chat => "chat",
        /// A notification.
        Notification => "notification",
        /// A role template, override or grant.
        Role => "role",
        /// The audit trail.
        Audit => "audit",
        /// Background jobs of the platform (list, inspect, retry dead ones); they belong to
        /// no institution, so only a grant in the global scope reaches them.
        Job => "job",
    }
);

names!(
    /// Permission primitives.
    Action {
        /// Create.
        Create => "create",
        /// Read.
        Read => "read",
        /// Update.
        Update => "update",
        /// Delete.
        Delete => "delete",
        /// Add and remove members.
        ManageMembers => "manage_members",
        /// Publish.
        Publish => "publish",
        /// Approve or reject enrollments.
        EnrollManage => "enroll_manage",
        /// Grade.
        GradeManage => "grade_manage",
        /// Assign roles.
        RoleAssign => "role_assign",
        /// Send in real time (chat, debate).
        RealtimeSend => "realtime_send",
        /// Moderate real-time channels.
        RealtimeManage => "realtime_manage",
        /// Manage attachments.
        AttachManage => "attach_manage",
    }
);

/// A permission: `resource.action`, e.g. `debate_session.create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission {
    /// What it applies to.
    pub resource: ResourceType,
    /// What it allows.
    pub action: Action,
}

/// Shorthand constructor.
pub const fn perm(resource: ResourceType, action: Action) -> Permission {
    Permission { resource, action }
}

impl Permission {
    /// Every permission of the catalogue (resource types × actions).
    pub fn all() -> impl Iterator<Item = Permission> {
        ResourceType::ALL
            .iter()
            .flat_map(|r| Action::ALL.iter().map(move |a| perm(*r, *a)))
    }
}

/// Why a permission string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission {0:?}: expected <resource>.<action>")]
pub struct PermissionParseError(pub String);

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.resource.as_str(), self.action.as_str())
    }
}

impl FromStr for Permission {
    type Err = PermissionParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PermissionParseError(s.to_owned());
        let (r, a) = s.split_once('.').ok_or_else(bad)?;
        Ok(perm(
            ResourceType::parse(r).ok_or_else(bad)?,
            Action::parse(a).ok_or_else(bad)?,
        ))
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_round_trips() {
        let all: Vec<Permission> = Permission::all().collect();
        assert_eq!(all.len(), ResourceType::ALL.len() * Action::ALL.len());
        for p in all {
            assert_eq!(p.to_string().parse::<Permission>().unwrap(), p);
        }
        assert!("debate_session".parse::<Permission>().is_err());
        assert!("debate.session.read".parse::<Permission>().is_err());
        assert!("post.fly".parse::<Permission>().is_err());
    }
}
