//! The organisation tree: institutions contain campuses, campuses contain departments.
//! Each of them is an organisational *unit* that can have members, and the scope of RBAC
//! grants written `institution:{id}`, `campus:{id}` or `department:{id}`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The three levels of the tree, from the top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitKind {
    /// A university, school or other top-level organisation.
    Institution,
    /// A site of an institution.
    Campus,
    /// A department of a campus.
    Department,
}

impl UnitKind {
    /// The kind as written in scopes and stored: `institution`, `campus`, `department`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Institution => "institution",
            Self::Campus => "campus",
            Self::Department => "department",
        }
    }

    /// The kind written `text` (as by [`UnitKind::as_str`]), if any.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "institution" => Some(Self::Institution),
            "campus" => Some(Self::Campus),
            "department" => Some(Self::Department),
            _ => None,
        }
    }
}

impl fmt::Display for UnitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One organisational unit, by kind and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UnitRef {
    /// Which level of the tree.
    pub kind: UnitKind,
    /// The institution's, campus's or department's id.
    pub id: Uuid,
}

impl UnitRef {
    /// The institution `id`.
    pub fn institution(id: Uuid) -> Self {
        Self {
            kind: UnitKind::Institution,
            id,
        }
    }

    /// The campus `id`.
    pub fn campus(id: Uuid) -> Self {
        Self {
            kind: UnitKind::Campus,
            id,
        }
    }

    /// The department `id`.
    pub fn department(id: Uuid) -> Self {
        Self {
            kind: UnitKind::Department,
            id,
        }
    }
}

/// Written as an RBAC scope: `institution:{id}`, `campus:{id}` or `department:{id}`.
impl fmt::Display for UnitRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.id)
    }
}

/// A top-level organisation. Names are unique among institutions, ignoring case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Institution {
    /// Stable id.
    pub id: Uuid,
    /// Display name (see [`crate::OrgService`] for the rules).
    pub name: String,
    /// The user who created it; `None` when made from the command line or when that
    /// account no longer exists.
    pub created_by: Option<Uuid>,
    /// Creation time, to the microsecond.
    pub created_at: DateTime<Utc>,
}

/// A site of an institution. Names are unique within the institution, ignoring case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Campus {
    /// Stable id.
    pub id: Uuid,
    /// The institution it belongs to; never changes.
    pub institution_id: Uuid,
    /// Display name.
    pub name: String,
    /// The user who created it, if known.
    pub created_by: Option<Uuid>,
    /// Creation time, to the microsecond.
    pub created_at: DateTime<Utc>,
}

/// A department of a campus. Names are unique within the campus, ignoring case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Department {
    /// Stable id.
    pub id: Uuid,
    /// The campus it belongs to; never changes.
    pub campus_id: Uuid,
    /// The institution of that campus (kept alongside, so a department's scope path is
    /// one read).
    pub institution_id: Uuid,
    /// Display name.
    pub name: String,
    /// The user who created it, if known.
    pub created_by: Option<Uuid>,
    /// Creation time, to the microsecond.
    pub created_at: DateTime<Utc>,
}

/// A user's membership of one unit. Membership is per unit: a member of a department is
/// not thereby listed as a member of its campus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The unit.
    pub unit: UnitRef,
    /// The member.
    pub user_id: Uuid,
    /// The user who added them; `None` when added from the command line or when that
    /// account no longer exists.
    pub added_by: Option<Uuid>,
    /// When they were added, to the microsecond.
    pub added_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_lowercase_everywhere() {
        for kind in [
            UnitKind::Institution,
            UnitKind::Campus,
            UnitKind::Department,
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<UnitKind>(&json).unwrap(), kind);
            assert_eq!(UnitKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(UnitKind::parse("Campus"), None);
    }

    #[test]
    fn unit_refs_read_as_scopes() {
        let id = Uuid::new_v4();
        assert_eq!(
            UnitRef::department(id).to_string(),
            format!("department:{id}")
        );
        let json = serde_json::to_value(UnitRef::campus(id)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "campus", "id": id.to_string()})
        );
    }
}
