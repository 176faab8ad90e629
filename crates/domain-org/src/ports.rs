//! The port of the organisation domain: durable storage of the tree and its members.
//!
//! Each method documents its error contract; adapters translate driver errors into
//! [`StoreError`] accordingly. Every method may also fail with
//! [`StoreError::Unavailable`] (the store cannot be reached) or
//! [`StoreError::Unexpected`].
//!
//! Names are unique per parent ignoring case (every institution among institutions, a
//! campus within its institution, a department within its campus); the same name under
//! another parent is fine. Lists are keyset-paged: ordered by id (members: by user id),
//! starting strictly after `after`, at most `limit` items.

use async_trait::async_trait;
use domain_core::StoreError;
use uuid::Uuid;

use crate::{Campus, Department, Institution, Member, UnitRef};

/// Durable store of institutions, campuses, departments and their members.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OrgRepository: Send + Sync {
    /// Stores a new institution as given.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] with `"name"` when another institution has the same name
    /// ignoring case, or `"id"` when the id is taken.
    async fn insert_institution(&self, institution: Institution) -> Result<(), StoreError>;

    /// The institution with this id, if any.
    async fn institution(&self, id: Uuid) -> Result<Option<Institution>, StoreError>;

    /// Institutions ordered by id, after `after`, at most `limit`.
    async fn list_institutions(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Institution>, StoreError>;

    /// Renames an institution (changing only the case of its name is allowed).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such institution;
    /// [`StoreError::Duplicate`] with `"name"` when another institution has the name.
    async fn rename_institution(&self, id: Uuid, name: &str) -> Result<(), StoreError>;

    /// Deletes an institution with its campuses, their departments, and the memberships
    /// of all of them, atomically.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such institution.
    async fn delete_institution(&self, id: Uuid) -> Result<(), StoreError>;

    /// Stores a new campus as given.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when its institution does not exist;
    /// [`StoreError::Duplicate`] with `"name"` when a campus of the same institution has
    /// the same name ignoring case, or `"id"` when the id is taken.
    async fn insert_campus(&self, campus: Campus) -> Result<(), StoreError>;

    /// The campus with this id, if any.
    async fn campus(&self, id: Uuid) -> Result<Option<Campus>, StoreError>;

    /// Campuses (only those of `institution` if given) ordered by id, after `after`, at
    /// most `limit`. An unknown institution has no campuses.
    async fn list_campuses(
        &self,
        institution: Option<Uuid>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Campus>, StoreError>;

    /// Renames a campus.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such campus;
    /// [`StoreError::Duplicate`] with `"name"` when another campus of its institution has
    /// the name.
    async fn rename_campus(&self, id: Uuid, name: &str) -> Result<(), StoreError>;

    /// Deletes a campus with its departments and the memberships of all of them,
    /// atomically.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such campus.
    async fn delete_campus(&self, id: Uuid) -> Result<(), StoreError>;

    /// Stores a new department as given; its `institution_id` must be its campus's.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the campus does not exist or does not belong to
    /// `institution_id`; [`StoreError::Duplicate`] with `"name"` when a department of the
    /// same campus has the same name ignoring case, or `"id"` when the id is taken.
    async fn insert_department(&self, department: Department) -> Result<(), StoreError>;

    /// The department with this id, if any.
    async fn department(&self, id: Uuid) -> Result<Option<Department>, StoreError>;

    /// Departments (only those of `campus` if given) ordered by id, after `after`, at
    /// most `limit`. An unknown campus has no departments.
    async fn list_departments(
        &self,
        campus: Option<Uuid>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Department>, StoreError>;

    /// Renames a department.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such department;
    /// [`StoreError::Duplicate`] with `"name"` when another department of its campus has
    /// the name.
    async fn rename_department(&self, id: Uuid, name: &str) -> Result<(), StoreError>;

    /// Deletes a department and its memberships, atomically.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such department.
    async fn delete_department(&self, id: Uuid) -> Result<(), StoreError>;

    /// Makes a user a member of a unit.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] with `"member"` when the user already is one;
    /// [`StoreError::NotFound`] when the unit, the user or the `added_by` user does not
    /// exist.
    async fn add_member(&self, member: Member) -> Result<(), StoreError>;

    /// Ends a user's membership of a unit.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the user is not a member of the unit (or the unit
    /// does not exist).
    async fn remove_member(&self, unit: UnitRef, user_id: Uuid) -> Result<(), StoreError>;

    /// Members of the unit ordered by user id, after the user id `after`, at most
    /// `limit`. An unknown unit has no members.
    async fn list_members(
        &self,
        unit: UnitRef,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Member>, StoreError>;
}
