//! The organisation use cases: create, read, list, rename and delete units, and manage
//! their members.
//!
//! Authorisation is not decided here: the caller (api-server) asks the RBAC service
//! first, with the unit as the scope. Deleting a unit changes the scope tree, so the
//! caller should also announce it to the RBAC caches.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use domain_core::{Clock, StoreError};
use uuid::Uuid;

use crate::{Campus, Department, Institution, Member, OrgError, OrgRepository, UnitKind, UnitRef};

/// Longest name of an institution, campus or department, in characters.
pub const NAME_MAX_CHARS: usize = 200;

/// The organisation service. Cheap to clone; clones share the repository and clock.
#[derive(Clone)]
pub struct OrgService {
    repo: Arc<dyn OrgRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for OrgService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgService").finish_non_exhaustive()
    }
}

/// A unit name as typed: surrounding white space dropped, then 1 to
/// [`NAME_MAX_CHARS`] characters, none of them a control character.
fn valid_name(raw: &str) -> Result<String, OrgError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(OrgError::invalid("name", "must not be empty"));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(OrgError::invalid(
            "name",
            &format!("must be at most {NAME_MAX_CHARS} characters long"),
        ));
    }
    domain_core::text::single_line("name", name)
        .map_err(|e| OrgError::invalid("name", &e.message))?;
    Ok(name.to_owned())
}

/// Maps a storage error of a call about `what` (`"institution"`, …): not found becomes
/// [`OrgError::NotFound`], a duplicate name [`OrgError::Conflict`] with `taken` as the
/// message.
fn map_store(e: StoreError, what: &str, taken: &str) -> OrgError {
    match e {
        StoreError::NotFound => OrgError::not_found(what),
        StoreError::Duplicate(field) if field == "name" => OrgError::Conflict(taken.into()),
        StoreError::Duplicate(field) => OrgError::Conflict(format!("duplicate {field}")),
        other => OrgError::Store(other),
    }
}

const INSTITUTION_TAKEN: &str = "an institution with this name already exists";
const CAMPUS_TAKEN: &str = "the institution already has a campus with this name";
const DEPARTMENT_TAKEN: &str = "the campus already has a department with this name";
const MEMBER_TAKEN: &str = "the user is already a member";

impl OrgService {
    /// A service over `repo`, reading the time from `clock`.
    pub fn new(repo: Arc<dyn OrgRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { repo, clock }
    }

    /// The current instant at the precision every store keeps (microseconds), so what a
    /// create returns equals what a later read returns.
    fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(6)
    }

    /// Whether the unit exists.
    async fn exists(&self, unit: UnitRef) -> Result<bool, OrgError> {
        Ok(match unit.kind {
            UnitKind::Institution => self.repo.institution(unit.id).await?.is_some(),
            UnitKind::Campus => self.repo.campus(unit.id).await?.is_some(),
            UnitKind::Department => self.repo.department(unit.id).await?.is_some(),
        })
    }

    /// `page`, unless it is empty because the unit it lists does not exist.
    async fn page_of<T>(&self, page: Vec<T>, parent: Option<UnitRef>) -> Result<Vec<T>, OrgError> {
        match parent {
            Some(unit) if page.is_empty() && !self.exists(unit).await? => {
                Err(OrgError::not_found(unit.kind.as_str()))
            }
            _ => Ok(page),
        }
    }

    // ---- institutions ------------------------------------------------------------------

    /// Creates an institution on behalf of `actor` (`None`: the command line).
    ///
    /// # Errors
    /// [`OrgError::Invalid`] for a bad name; [`OrgError::Conflict`] when an institution
    /// has the name already (ignoring case); [`OrgError::Store`].
    pub async fn create_institution(
        &self,
        actor: Option<Uuid>,
        name: &str,
    ) -> Result<Institution, OrgError> {
        let institution = Institution {
            id: Uuid::new_v4(),
            name: valid_name(name)?,
            created_by: actor,
            created_at: self.now(),
        };
        self.repo
            .insert_institution(institution.clone())
            .await
            .map_err(|e| map_store(e, "institution", INSTITUTION_TAKEN))?;
        Ok(institution)
    }

    /// One institution.
    ///
    /// # Errors
    /// [`OrgError::NotFound`] (`"institution"`); [`OrgError::Store`].
    pub async fn institution(&self, id: Uuid) -> Result<Institution, OrgError> {
        self.repo
            .institution(id)
            .await?
            .ok_or_else(|| OrgError::not_found("institution"))
    }

    /// Institutions ordered by id, after `after`, at most `limit` (clamp it before, e.g.
    /// with `domain_core::PageLimit`).
    ///
    /// # Errors
    /// [`OrgError::Store`].
    pub async fn list_institutions(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Institution>, OrgError> {
        Ok(self.repo.list_institutions(after, limit).await?)
    }

    /// Renames an institution and returns it as it now is.
    ///
    /// # Errors
    /// [`OrgError::Invalid`]; [`OrgError::NotFound`] (`"institution"`);
    /// [`OrgError::Conflict`] when another institution has the name; [`OrgError::Store`].
    pub async fn rename_institution(&self, id: Uuid, name: &str) -> Result<Institution, OrgError> {
        let name = valid_name(name)?;
        self.repo
            .rename_institution(id, &name)
            .await
            .map_err(|e| map_store(e, "institution", INSTITUTION_TAKEN))?;
        self.institution(id).await
    }

    /// Deletes an institution with its campuses, departments and all their memberships.
    ///
    /// # Errors
    /// [`OrgError::NotFound`] (`"institution"`); [`OrgError::Store`].
    pub async fn delete_institution(&self, id: Uuid) -> Result<(), OrgError> {
        self.repo
            .delete_institution(id)
            .await
            .map_err(|e| map_store(e, "institution", INSTITUTION_TAKEN))
    }

    // ---- campuses ----------------------------------------------------------------------

    /// Creates a campus of an institution on behalf of `actor`.
    ///
    /// # Errors
    /// [`OrgError::Invalid`]; [`OrgError::NotFound`] (`"institution"`);
    /// [`OrgError::Conflict`] when the institution has a campus of that name;
    /// [`OrgError::Store`].
    pub async fn create_campus(
        &self,
        actor: Option<Uuid>,
        institution_id: Uuid,
        name: &str,
    ) -> Result<Campus, OrgError> {
        let campus = Campus {
            id: Uuid::new_v4(),
            institution_id,
            name: valid_name(name)?,
            created_by: actor,
            created_at: self.now(),
        };
        self.repo
            .insert_campus(campus.clone())
            .await
            .map_err(|e| map_store(e, "institution", CAMPUS_TAKEN))?;
        Ok(campus)
    }

    /// One campus.
    ///
    /// # Errors
    /// [`OrgError::NotFound`] (`"campus"`); [`OrgError::Store`].
    pub async fn campus(&self, id: Uuid) -> Result<Campus, OrgError> {
        self.repo
            .campus(id)
            .await?
            .ok_or_else(|| OrgError::not_found("campus"))
    }

    /// Campuses (of `institution` if given) ordered by id, after `after`, at most
    /// `limit`.
    ///
    /// # Errors
    /// [`OrgError::NotFound`] (`"institution"`) when `institution` does not exist;
    /// [`OrgError::Store`].
    pub async fn list_campuses(
        &self,
        institution: Option<Uuid>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Campus>, OrgError> {
        let page = self.repo.list_campuses(institution, after, limit).await?;
        self.page_of(page, institution.map(UnitRef::institution))
            .await
    }

    /// Renames a campus and returns it as it now is.
    ///
    /// # Errors
    /// [`OrgError::Invalid`]; [`OrgError::NotFound`] (`"campus"`); [`OrgError::Conflict`]
    /// when another campus of its institution has the name; [`OrgError::Store`].
    pub async fn rename_campus(&self, id: Uuid, name: &str) -> Result<Campus, OrgError> {
        let name = valid_name(name)?;
        self.repo
            .rename_campus(id, &name)
            .await
            .map_err(|e| map_store(e, "campus", CAMPUS_TAKEN))?;
        self.campus(id).await
    }

    /// Deletes a campus with its departments and all their memberships.
    ///
    /// # Errors
    /// [`OrgError::NotFound`] (`"campus"`); [`OrgError::Store`].
    pub async fn delete_campus(&self, id: Uuid) -> Result<(), OrgError> {
        self.repo
            .delete_campus(id)
            .await
            .map_err(|e| map_store(e, "campus", CAMPUS_TAKEN))
    }

    // ---- departments -------------------------------------------------------------------

    /// Creates a department of a campus on behalf of `actor`.
    ///
    /// # Errors
    /// [`OrgError::Invalid`]; [`OrgError::NotFound`] (`"campus"`); [`OrgError::Conflict`]
    /// when the campus has a department of that name; [`OrgError::Store`].
    pub async fn create_department(
        &self,
        actor: Option<Uuid>,
        campus_id: Uuid,
        name: &str,
    ) -> Result<Department, OrgError> {
        let name = valid_name(name)?;
        let campus = self.campus(campus_id).await?;
        let department = Department {
            id: Uuid::new_v4(),
            campus_id,
            institution_id: campus.institution_id,
            name,
            created_by: actor,
            created_at: self.now(),
        };
        self.repo
            .insert_department(department.clone())
            .await
            // NotFound here: the campus was deleted since it was read.
            .map_err(|e| map_store(e, "campus", DEPARTMENT_TAKEN))?;
        Ok(department)
    }

    /// One department.
    ///
    /// # Errors
    /// [`OrgError::NotFound`] (`"department"`); [`OrgError::Store`].
    pub async fn department(&self, id: Uuid) -> Result<Department, OrgError> {
        self.repo
            .department(id)
            .await?
            .ok_or_else(|| OrgError::not_found("department"))
    }

    /// Departments (of `campus` if given) ordered by id, after `after`, at most `limit`.
    ///
    /// # Errors
    /// [`OrgError::NotFound`] (`"campus"`) when `campus` does not exist;
    /// [`OrgError::Store`].
    pub async fn list_departments(
        &self,
        campus: Option<Uuid>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Department>, OrgError> {
        let page = self.repo.list_departments(campus, after, limit).await?;
        self.page_of(page, campus.map(UnitRef::campus)).await
    }

    /// Renames a department and returns it as it now is.
    ///
    /// # Errors
    /// [`OrgError::Invalid`]; [`OrgError::NotFound`] (`"department"`);
    /// [`OrgError::Conflict`] when another department of its campus has the name;
    /// [`OrgError::Store`].
    pub async fn rename_department(&self, id: Uuid, name: &str) -> Result<Department, OrgError> {
        let name = valid_name(name)?;
        self.repo
            .rename_department(id, &name)
            .await
            .map_err(|e| map_store(e, "department", DEPARTMENT_TAKEN))?;
        self.department(id).await
    }

    /// Deletes a department and its memberships.
    ///
    /// # Errors
    /// [`OrgError::NotFound`] (`"department"`); [`OrgError::Store`].
    pub async fn delete_department(&self, id: Uuid) -> Result<(), OrgError> {
        self.repo
            .delete_department(id)
            .await
            .map_err(|e| map_store(e, "department", DEPARTMENT_TAKEN))
    }

    // ---- members -----------------------------------------------------------------------

    /// Makes `user_id` a member of `unit`, on behalf of `actor`.
    ///
    /// # Errors
    /// [`OrgError::NotFound`] naming the unit's kind when the unit does not exist, or
    /// `"user"` when the user (or the actor's account) does not; [`OrgError::Conflict`]
    /// when the user is a member already; [`OrgError::Store`].
    pub async fn add_member(
        &self,
        actor: Option<Uuid>,
        unit: UnitRef,
        user_id: Uuid,
    ) -> Result<Member, OrgError> {
        let member = Member {
            unit,
            user_id,
            added_by: actor,
            added_at: self.now(),
        };
        match self.repo.add_member(member.clone()).await {
            Ok(()) => Ok(member),
            // The store does not say which record is missing; only then is it worth
            // asking.
            Err(StoreError::NotFound) if !self.exists(unit).await? => {
                Err(OrgError::not_found(unit.kind.as_str()))
            }
            Err(e) => Err(map_store(e, "user", MEMBER_TAKEN)),
        }
    }

    /// Ends `user_id`'s membership of `unit`.
    ///
    /// # Errors
    /// [`OrgError::NotFound`] (`"member"`) when the user is not a member of the unit;
    /// [`OrgError::Store`].
    pub async fn remove_member(&self, unit: UnitRef, user_id: Uuid) -> Result<(), OrgError> {
        self.repo
            .remove_member(unit, user_id)
            .await
            .map_err(|e| map_store(e, "member", MEMBER_TAKEN))
    }

    /// Members of `unit` ordered by user id, after the user id `after`, at most `limit`.
    ///
    /// # Errors
    /// [`OrgError::NotFound`] naming the unit's kind when the unit does not exist;
    /// [`OrgError::Store`].
    pub async fn list_members(
        &self,
        unit: UnitRef,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Member>, OrgError> {
        let page = self.repo.list_members(unit, after, limit).await?;
        self.page_of(page, Some(unit)).await
    }
}

#[cfg(test)]
mod tests;
