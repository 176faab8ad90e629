//! Scopes: where a grant holds. `global ⊃ institution ⊃ campus ⊃ department`; a grant
//! holds in its scope and everything inside it, never above or beside it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// A scope, written `global`, `institution:{id}`, `campus:{id}` or `department:{id}` in
/// the API, token claims and the audit log alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The whole platform.
    Global,
    /// One institution.
    Institution(Uuid),
    /// One campus of an institution.
    Campus(Uuid),
    /// One department of a campus.
    Department(Uuid),
}

/// Why a scope string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid scope {0:?}: expected global, institution:<uuid>, campus:<uuid> or department:<uuid>"
)]
pub struct ScopeParseError(pub String);

impl Scope {
    /// Depth in the hierarchy: global 0, institution 1, campus 2, department 3.
    pub fn depth(&self) -> u8 {
        match self {
            Self::Global => 0,
            Self::Institution(_) => 1,
            Self::Campus(_) => 2,
            Self::Department(_) => 3,
        }
    }

    /// The kind as written before the colon.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::Institution(_) => "institution",
            Self::Campus(_) => "campus",
            Self::Department(_) => "department",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Global => f.write_str("global"),
            Self::Institution(id) => write!(f, "institution:{id}"),
            Self::Campus(id) => write!(f, "campus:{id}"),
            Self::Department(id) => write!(f, "department:{id}"),
        }
    }
}

impl FromStr for Scope {
    type Err = ScopeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ScopeParseError(s.to_owned());
        if s == "global" {
            return Ok(Self::Global);
        }
        let (kind, id) = s.split_once(':').ok_or_else(bad)?;
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        match kind {
            "institution" => Ok(Self::Institution(id)),
            "campus" => Ok(Self::Campus(id)),
            "department" => Ok(Self::Department(id)),
            _ => Err(bad()),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A scope with all of its ancestors, most specific first and ending with `global`, e.g.
/// `[department:d, campus:c, institution:i, global]`. Built from the organisation tree by
/// a [`crate::ScopeDirectory`]; decisions only test membership in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopePath(Vec<Scope>);

impl ScopePath {
    /// The path of the global scope.
    pub fn global() -> Self {
        Self(vec![Scope::Global])
    }

    /// Builds a path from a scope and its ancestors (most specific first). `global` is
    /// appended if missing; the depths must strictly decrease.
    ///
    /// # Errors
    /// Returns the chain back when it is not a proper ancestor chain.
    pub fn new(mut chain: Vec<Scope>) -> Result<Self, Vec<Scope>> {
        if chain.last() != Some(&Scope::Global) {
            chain.push(Scope::Global);
        }
        let ordered = chain.windows(2).all(|w| w[0].depth() > w[1].depth());
        if ordered { Ok(Self(chain)) } else { Err(chain) }
    }

    /// The scope itself.
    pub fn target(&self) -> Scope {
        self.0.first().copied().unwrap_or(Scope::Global)
    }

    /// Whether a grant held in `scope` covers this path's target (it is the target or one
    /// of its ancestors).
    pub fn is_within(&self, scope: &Scope) -> bool {
        self.0.contains(scope)
    }

    /// The scopes from the most specific to `global`.
    pub fn scopes(&self) -> &[Scope] {
        &self.0
    }

    /// The institution on the path, if any.
    pub fn institution(&self) -> Option<Scope> {
        self.0
            .iter()
            .copied()
            .find(|s| matches!(s, Scope::Institution(_)))
    }
}

/// The scopes in which a caller holds one permission, as
/// [`crate::RbacService::scopes_with`] answers it, for lists to filter by. Units are
/// listed one by one (a subtree as its root and every unit inside it), because that is
/// what both stores can match with an indexed `scope = ANY(…)`; `global` stands for the
/// items kept in the global scope itself (and for audit records without a scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeSet {
    /// Every scope but these: the caller holds the permission globally, and deny
    /// overrides remove these units (whole subtrees) from it.
    AllBut(Vec<Scope>),
    /// Only these scopes; empty when the caller holds the permission nowhere.
    Only(Vec<Scope>),
}

impl ScopeSet {
    /// Every scope, nothing removed.
    pub fn all() -> Self {
        Self::AllBut(Vec::new())
    }

    /// No scope at all.
    pub fn nowhere() -> Self {
        Self::Only(Vec::new())
    }

    /// Whether something kept in `scope` is in the set.
    pub fn contains(&self, scope: &Scope) -> bool {
        match self {
            Self::AllBut(out) => !out.contains(scope),
            Self::Only(list) => list.contains(scope),
        }
    }

    /// Whether nothing at all is in the set.
    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Only(list) if list.is_empty())
    }

    /// The scopes in text form, as stores keep them: `(true, list)` for "only these",
    /// `(false, list)` for "all but these".
    pub fn as_text(&self) -> (bool, Vec<String>) {
        match self {
            Self::AllBut(out) => (false, out.iter().map(ToString::to_string).collect()),
            Self::Only(list) => (true, list.iter().map(ToString::to_string).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip() {
        let id = Uuid::new_v4();
        for s in [
            Scope::Global,
            Scope::Institution(id),
            Scope::Campus(id),
            Scope::Department(id),
        ] {
            assert_eq!(s.to_string().parse::<Scope>().unwrap(), s);
        }
        for bad in [
            "",
            "Global",
            "institution",
            "institution:",
            "institution:x",
            "school:0c5b2444-70a0-4932-980c-b4dc0d3f09ae",
        ] {
            assert!(bad.parse::<Scope>().is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_must_descend() {
        let (i, c) = (Uuid::new_v4(), Uuid::new_v4());
        let p = ScopePath::new(vec![Scope::Campus(c), Scope::Institution(i)]).unwrap();
        assert_eq!(p.scopes().len(), 3);
        assert!(p.is_within(&Scope::Global) && p.is_within(&Scope::Institution(i)));
        assert!(!p.is_within(&Scope::Institution(Uuid::new_v4())));
        assert!(ScopePath::new(vec![Scope::Institution(i), Scope::Campus(c)]).is_err());
    }
}
