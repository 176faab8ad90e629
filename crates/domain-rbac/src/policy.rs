//! The policy: role templates with inheritance expanded, and per-scope overrides.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Permission, RoleTemplate, Scope, ScopePath};

/// Whether an override adds or removes a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// The role gets the permission in the scope.
    Allow,
    /// The role loses the permission in the scope; beats any allow for that role there.
    Deny,
}

/// Adjusts one role template for one scope (typically an institution) and everything
/// inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// Id.
    pub id: Uuid,
    /// Role adjusted.
    pub role: String,
    /// Where the adjustment holds.
    pub scope: Scope,
    /// Permission concerned.
    pub permission: Permission,
    /// Allow or deny.
    pub effect: Effect,
}

/// What the policy says about one role and one permission at a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleVerdict {
    /// The role allows it (from its template, inheritance or an allow override).
    Allow,
    /// A deny override in this scope removes it.
    DeniedIn(Scope),
    /// The role does not give it.
    NotGranted,
}

/// Role templates (with inheritance expanded once, when the policy is built) and
/// overrides indexed for lookup. Immutable; rebuild on change.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    templates: HashMap<String, RoleTemplate>,
    effective: HashMap<String, BTreeSet<Permission>>,
    /// By role, then permission: looked up with a borrowed role name, so a decision
    /// allocates nothing.
    overrides: HashMap<String, HashMap<Permission, Vec<(Scope, Effect)>>>,
    version: u64,
}

impl Policy {
    /// Builds a policy. Inheritance cycles and unknown parents are ignored (a role never
    /// gains anything from them).
    pub fn new(templates: Vec<RoleTemplate>, overrides: Vec<Override>, version: u64) -> Self {
        let templates: HashMap<String, RoleTemplate> =
            templates.into_iter().map(|t| (t.name.clone(), t)).collect();
        let mut effective = HashMap::new();
        for name in templates.keys() {
            let mut seen = BTreeSet::new();
            let mut perms = BTreeSet::new();
            expand(&templates, name, &mut seen, &mut perms);
            effective.insert(name.clone(), perms);
        }
        let mut index: HashMap<String, HashMap<Permission, Vec<(Scope, Effect)>>> = HashMap::new();
        for o in overrides {
            index
                .entry(o.role)
                .or_default()
                .entry(o.permission)
                .or_default()
                .push((o.scope, o.effect));
        }
        Self {
            templates,
            effective,
            overrides: index,
            version,
        }
    }

    /// Version of the data this policy was built from (for cache invalidation).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The template of a role.
    pub fn role(&self, name: &str) -> Option<&RoleTemplate> {
        self.templates.get(name)
    }

    /// All templates.
    pub fn roles(&self) -> impl Iterator<Item = &RoleTemplate> {
        self.templates.values()
    }

    /// Permissions of a role including inherited ones, before overrides.
    pub fn effective_permissions(&self, role: &str) -> Option<&BTreeSet<Permission>> {
        self.effective.get(role)
    }

    /// Rank of a role (0 for unknown roles).
    pub fn rank(&self, role: &str) -> u8 {
        self.templates.get(role).map_or(0, |t| t.rank)
    }

    /// The overrides (allow or deny) of `permission`, as role and scope: the only places
    /// below a grant where the answer for it can change.
    pub fn overrides_of(&self, permission: Permission) -> Vec<(&str, Scope)> {
        self.overrides
            .iter()
            .filter_map(|(role, by_perm)| Some((role.as_str(), by_perm.get(&permission)?)))
            .flat_map(|(role, list)| list.iter().map(move |(scope, _)| (role, *scope)))
            .collect()
    }

    /// Whether `role` allows `permission` at `target`, overrides considered: a deny
    /// override in any scope on the target's path wins over template and allow overrides.
    pub fn role_verdict(
        &self,
        role: &str,
        permission: Permission,
        target: &ScopePath,
    ) -> RoleVerdict {
        let mut allow_override = false;
        if let Some(list) = self
            .overrides
            .get(role)
            .and_then(|by_perm| by_perm.get(&permission))
        {
            for (scope, effect) in list {
                if target.is_within(scope) {
                    match effect {
                        Effect::Deny => return RoleVerdict::DeniedIn(*scope),
                        Effect::Allow => allow_override = true,
                    }
                }
            }
        }
        let from_template = self
            .effective
            .get(role)
            .is_some_and(|p| p.contains(&permission));
        if from_template || allow_override {
            RoleVerdict::Allow
        } else {
            RoleVerdict::NotGranted
        }
    }
}

fn expand(
    templates: &HashMap<String, RoleTemplate>,
    name: &str,
    seen: &mut BTreeSet<String>,
    out: &mut BTreeSet<Permission>,
) {
    if !seen.insert(name.to_owned()) {
        return;
    }
    if let Some(t) = templates.get(name) {
        out.extend(t.permissions.iter().copied());
        for parent in &t.inherits {
            expand(templates, parent, seen, out);
        }
    }
}
