//! The organisation tree in ordered maps, with the same rules as the PostgreSQL tables:
//! names unique per parent ignoring case, deletes cascading to everything below and to
//! the memberships of all of it, members only of existing units and users.
//!
//! Name clashes are found by scanning the siblings: the embedded mode holds small trees.

use std::collections::BTreeMap;
use std::ops::Bound::{Excluded, Included, Unbounded};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use domain_core::StoreError;
use domain_identity::{UserId, UserRepository};
use domain_org::{Campus, Department, Institution, Member, OrgRepository, UnitKind, UnitRef};
use domain_rbac::{Scope, ScopeDirectory, ScopePath};
use uuid::Uuid;

use crate::{lock, stored};

/// In-process [`OrgRepository`] and [`ScopeDirectory`].
pub struct MemoryOrgRepository {
    /// Where members and the users who add them must exist.
    users: Arc<dyn UserRepository>,
    state: Mutex<Tree>,
}

impl std::fmt::Debug for MemoryOrgRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryOrgRepository")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Tree {
    institutions: BTreeMap<Uuid, Institution>,
    campuses: BTreeMap<Uuid, Campus>,
    departments: BTreeMap<Uuid, Department>,
    /// Keyed like the `org_members` primary key, so one unit's members are a range
    /// ordered by user id.
    members: BTreeMap<(UnitKind, Uuid, Uuid), Member>,
}

impl MemoryOrgRepository {
    /// An empty tree whose members must be accounts of `users`.
    pub fn new(users: Arc<dyn UserRepository>) -> Self {
        Self {
            users,
            state: Mutex::new(Tree::default()),
        }
    }

    async fn user_exists(&self, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.users.by_id(UserId(id)).await?.is_some())
    }
}

/// The counterpart of the `lower(name)` unique indexes.
fn same_name(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

fn name_taken<'a>(
    mut siblings: impl Iterator<Item = (Uuid, &'a str)>,
    id: Uuid,
    name: &str,
) -> bool {
    siblings.any(|(other, other_name)| other != id && same_name(other_name, name))
}

/// At most `limit` values after the key `after`, in key order.
fn page<T: Clone>(
    map: &BTreeMap<Uuid, T>,
    after: Option<Uuid>,
    limit: u32,
    keep: impl Fn(&T) -> bool,
) -> Vec<T> {
    let from = after.map_or(Unbounded, Excluded);
    map.range((from, Unbounded))
        .map(|(_, v)| v)
        .filter(|v| keep(v))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .cloned()
        .collect()
}

impl Tree {
    fn exists(&self, unit: UnitRef) -> bool {
        match unit.kind {
            UnitKind::Institution => self.institutions.contains_key(&unit.id),
            UnitKind::Campus => self.campuses.contains_key(&unit.id),
            UnitKind::Department => self.departments.contains_key(&unit.id),
        }
    }

    /// Drops the memberships of `unit`.
    fn drop_members(&mut self, unit: UnitRef) {
        self.members
            .retain(|(kind, id, _), _| !(*kind == unit.kind && *id == unit.id));
    }

    fn remove_department(&mut self, id: Uuid) {
        self.departments.remove(&id);
        self.drop_members(UnitRef::department(id));
    }

    fn remove_campus(&mut self, id: Uuid) {
        let departments: Vec<Uuid> = self
            .departments
            .values()
            .filter(|d| d.campus_id == id)
            .map(|d| d.id)
            .collect();
        for d in departments {
            self.remove_department(d);
        }
        self.campuses.remove(&id);
        self.drop_members(UnitRef::campus(id));
    }
}

#[async_trait]
impl OrgRepository for MemoryOrgRepository {
    async fn insert_institution(&self, institution: Institution) -> Result<(), StoreError> {
        let mut t = lock(&self.state);
        if t.institutions.contains_key(&institution.id) {
            return Err(StoreError::Duplicate("id".into()));
        }
        let siblings = t.institutions.values().map(|i| (i.id, i.name.as_str()));
        if name_taken(siblings, institution.id, &institution.name) {
            return Err(StoreError::Duplicate("name".into()));
        }
        let institution = Institution {
            created_at: stored(institution.created_at),
            ..institution
        };
        t.institutions.insert(institution.id, institution);
        Ok(())
    }

    async fn institution(&self, id: Uuid) -> Result<Option<Institution>, StoreError> {
        Ok(lock(&self.state).institutions.get(&id).cloned())
    }

    async fn list_institutions(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Institution>, StoreError> {
        Ok(page(&lock(&self.state).institutions, after, limit, |_| {
            true
        }))
    }

    async fn rename_institution(&self, id: Uuid, name: &str) -> Result<(), StoreError> {
        let mut t = lock(&self.state);
        if !t.institutions.contains_key(&id) {
            return Err(StoreError::NotFound);
        }
        let siblings = t.institutions.values().map(|i| (i.id, i.name.as_str()));
        if name_taken(siblings, id, name) {
            return Err(StoreError::Duplicate("name".into()));
        }
        if let Some(i) = t.institutions.get_mut(&id) {
            name.clone_into(&mut i.name);
        }
        Ok(())
    }

    async fn delete_institution(&self, id: Uuid) -> Result<(), StoreError> {
        let mut t = lock(&self.state);
        if t.institutions.remove(&id).is_none() {
            return Err(StoreError::NotFound);
        }
        let campuses: Vec<Uuid> = t
            .campuses
            .values()
            .filter(|c| c.institution_id == id)
            .map(|c| c.id)
            .collect();
        for c in campuses {
            t.remove_campus(c);
        }
        t.drop_members(UnitRef::institution(id));
        Ok(())
    }

    async fn insert_campus(&self, campus: Campus) -> Result<(), StoreError> {
        let mut t = lock(&self.state);
        // The order PostgreSQL checks in: primary key, unique name, then foreign key.
        if t.campuses.contains_key(&campus.id) {
            return Err(StoreError::Duplicate("id".into()));
        }
        let siblings = t
            .campuses
            .values()
            .filter(|c| c.institution_id == campus.institution_id)
            .map(|c| (c.id, c.name.as_str()));
        if name_taken(siblings, campus.id, &campus.name) {
            return Err(StoreError::Duplicate("name".into()));
        }
        if !t.institutions.contains_key(&campus.institution_id) {
            return Err(StoreError::NotFound);
        }
        let campus = Campus {
            created_at: stored(campus.created_at),
            ..campus
        };
        t.campuses.insert(campus.id, campus);
        Ok(())
    }

    async fn campus(&self, id: Uuid) -> Result<Option<Campus>, StoreError> {
        Ok(lock(&self.state).campuses.get(&id).cloned())
    }

    async fn list_campuses(
        &self,
        institution: Option<Uuid>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Campus>, StoreError> {
        Ok(page(&lock(&self.state).campuses, after, limit, |c| {
            institution.is_none_or(|i| c.institution_id == i)
        }))
    }

    async fn rename_campus(&self, id: Uuid, name: &str) -> Result<(), StoreError> {
        let mut t = lock(&self.state);
        let institution_id = t
            .campuses
            .get(&id)
            .ok_or(StoreError::NotFound)?
            .institution_id;
        let siblings = t
            .campuses
            .values()
            .filter(|c| c.institution_id == institution_id)
            .map(|c| (c.id, c.name.as_str()));
        if name_taken(siblings, id, name) {
            return Err(StoreError::Duplicate("name".into()));
        }
        if let Some(c) = t.campuses.get_mut(&id) {
            name.clone_into(&mut c.name);
        }
        Ok(())
    }

    async fn delete_campus(&self, id: Uuid) -> Result<(), StoreError> {
        let mut t = lock(&self.state);
        if !t.campuses.contains_key(&id) {
            return Err(StoreError::NotFound);
        }
        t.remove_campus(id);
        Ok(())
    }

    async fn insert_department(&self, department: Department) -> Result<(), StoreError> {
        let mut t = lock(&self.state);
        if t.departments.contains_key(&department.id) {
            return Err(StoreError::Duplicate("id".into()));
        }
        let siblings = t
            .departments
            .values()
            .filter(|d| d.campus_id == department.campus_id)
            .map(|d| (d.id, d.name.as_str()));
        if name_taken(siblings, department.id, &department.name) {
            return Err(StoreError::Duplicate("name".into()));
        }
        // The (campus_id, institution_id) foreign key.
        let parent_ok = t
            .campuses
            .get(&department.campus_id)
            .is_some_and(|c| c.institution_id == department.institution_id);
        if !parent_ok {
            return Err(StoreError::NotFound);
        }
        let department = Department {
            created_at: stored(department.created_at),
            ..department
        };
        t.departments.insert(department.id, department);
        Ok(())
    }

    async fn department(&self, id: Uuid) -> Result<Option<Department>, StoreError> {
        Ok(lock(&self.state).departments.get(&id).cloned())
    }

    async fn list_departments(
        &self,
        campus: Option<Uuid>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Department>, StoreError> {
        Ok(page(&lock(&self.state).departments, after, limit, |d| {
            campus.is_none_or(|c| d.campus_id == c)
        }))
    }

    async fn rename_department(&self, id: Uuid, name: &str) -> Result<(), StoreError> {
        let mut t = lock(&self.state);
        let campus_id = t
            .departments
            .get(&id)
            .ok_or(StoreError::NotFound)?
            .campus_id;
        let siblings = t
            .departments
            .values()
            .filter(|d| d.campus_id == campus_id)
            .map(|d| (d.id, d.name.as_str()));
        if name_taken(siblings, id, name) {
            return Err(StoreError::Duplicate("name".into()));
        }
        if let Some(d) = t.departments.get_mut(&id) {
            name.clone_into(&mut d.name);
        }
        Ok(())
    }

    async fn delete_department(&self, id: Uuid) -> Result<(), StoreError> {
        let mut t = lock(&self.state);
        if !t.departments.contains_key(&id) {
            return Err(StoreError::NotFound);
        }
        t.remove_department(id);
        Ok(())
    }

    async fn add_member(&self, member: Member) -> Result<(), StoreError> {
        // Accounts are looked up before the lock is taken (it is never held across an
        // await); they are never deleted, so the answer cannot go stale.
        let user_ok = self.user_exists(member.user_id).await?;
        let adder_ok = match member.added_by {
            Some(adder) => self.user_exists(adder).await?,
            None => true,
        };
        let mut t = lock(&self.state);
        // PostgreSQL's order: the unit's row lock, the primary key, the foreign keys.
        if !t.exists(member.unit) {
            return Err(StoreError::NotFound);
        }
        let key = (member.unit.kind, member.unit.id, member.user_id);
        if t.members.contains_key(&key) {
            return Err(StoreError::Duplicate("member".into()));
        }
        if !(user_ok && adder_ok) {
            return Err(StoreError::NotFound);
        }
        let member = Member {
            added_at: stored(member.added_at),
            ..member
        };
        t.members.insert(key, member);
        Ok(())
    }

    async fn remove_member(&self, unit: UnitRef, user_id: Uuid) -> Result<(), StoreError> {
        lock(&self.state)
            .members
            .remove(&(unit.kind, unit.id, user_id))
            .map(|_| ())
            .ok_or(StoreError::NotFound)
    }

    async fn list_members(
        &self,
        unit: UnitRef,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Member>, StoreError> {
        let t = lock(&self.state);
        let from = match after {
            Some(user) => Excluded((unit.kind, unit.id, user)),
            None => Included((unit.kind, unit.id, Uuid::nil())),
        };
        let members = t
            .members
            .range((from, Unbounded))
            .take_while(|((kind, id, _), _)| *kind == unit.kind && *id == unit.id)
            .map(|(_, m)| m.clone())
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        Ok(members)
    }
}

#[async_trait]
impl ScopeDirectory for MemoryOrgRepository {
    async fn path_of(&self, scope: Scope) -> Result<Option<ScopePath>, StoreError> {
        let t = lock(&self.state);
        let chain = match scope {
            Scope::Global => return Ok(Some(ScopePath::global())),
            Scope::Institution(id) => t
                .institutions
                .contains_key(&id)
                .then(|| vec![Scope::Institution(id)]),
            Scope::Campus(id) => t
                .campuses
                .get(&id)
                .map(|c| vec![Scope::Campus(id), Scope::Institution(c.institution_id)]),
            Scope::Department(id) => t.departments.get(&id).map(|d| {
                vec![
                    Scope::Department(id),
                    Scope::Campus(d.campus_id),
                    Scope::Institution(d.institution_id),
                ]
            }),
        };
        chain
            .map(|chain| {
                ScopePath::new(chain).map_err(|bad| {
                    StoreError::Unexpected(format!("not an ancestor chain: {bad:?}").into())
                })
            })
            .transpose()
    }

    async fn memberships(&self, user_id: Uuid) -> Result<Vec<Scope>, StoreError> {
        let t = lock(&self.state);
        let mut out: Vec<Scope> = t
            .members
            .values()
            .filter(|m| m.user_id == user_id)
            .map(|m| unit_scope(m.unit))
            .collect();
        out.sort_by_key(|s| (s.kind(), s.to_string()));
        Ok(out)
    }

    async fn within(&self, scope: Scope) -> Result<Vec<Scope>, StoreError> {
        let t = lock(&self.state);
        Ok(match scope {
            Scope::Global => vec![Scope::Global],
            Scope::Institution(id) if t.institutions.contains_key(&id) => std::iter::once(scope)
                .chain(
                    t.campuses
                        .values()
                        .filter(|c| c.institution_id == id)
                        .map(|c| Scope::Campus(c.id)),
                )
                .chain(
                    t.departments
                        .values()
                        .filter(|d| d.institution_id == id)
                        .map(|d| Scope::Department(d.id)),
                )
                .collect(),
            Scope::Campus(id) if t.campuses.contains_key(&id) => std::iter::once(scope)
                .chain(
                    t.departments
                        .values()
                        .filter(|d| d.campus_id == id)
                        .map(|d| Scope::Department(d.id)),
                )
                .collect(),
            Scope::Department(id) if t.departments.contains_key(&id) => vec![scope],
            _ => Vec::new(),
        })
    }
}

/// The RBAC scope of a unit.
fn unit_scope(unit: UnitRef) -> Scope {
    match unit.kind {
        UnitKind::Institution => Scope::Institution(unit.id),
        UnitKind::Campus => Scope::Campus(unit.id),
        UnitKind::Department => Scope::Department(unit.id),
    }
}
