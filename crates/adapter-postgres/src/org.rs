//! The organisation tree in the `institutions`, `campuses`, `departments` and
//! `org_members` tables, and scope paths read from it.
//!
//! Campuses and departments go with their parent through `ON DELETE CASCADE`.
//! Memberships name their unit by kind and id, which no foreign key can follow, so:
//! a delete locks the unit and everything below it (`FOR UPDATE`), deletes their
//! memberships, then the unit, in one transaction; `add_member` locks the unit's row
//! (`FOR KEY SHARE`) before inserting. Whichever comes second waits for the first, and
//! then either finds the unit gone (`NotFound`) or sees the membership it must delete.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain_core::StoreError;
use domain_org::{Campus, Department, Institution, Member, OrgRepository, UnitKind, UnitRef};
use domain_rbac::{Scope, ScopeDirectory, ScopePath};
use uuid::Uuid;

use crate::PgPool;
use crate::error::{db_error, pool_error};
use crate::schema::{campuses, departments, institutions, org_members};

/// [`OrgRepository`] and [`ScopeDirectory`] over PostgreSQL.
#[derive(Clone)]
pub struct PgOrgRepository {
    pool: PgPool,
}

impl PgOrgRepository {
    /// An adapter using connections from `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// Maps a query error of this module: clashes name their field (`error::UNIQUE_FIELDS`), a
/// foreign-key violation (the parent, user or adder is missing) and a missing row that
/// had to be there ([`Error::NotFound`], also used to roll a transaction back) become
/// [`StoreError::NotFound`]; the rest as everywhere else.
fn org_error(e: Error) -> StoreError {
    match &e {
        Error::NotFound | Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            StoreError::NotFound
        }
        _ => db_error(e),
    }
}

/// A one-row write's result: [`StoreError::NotFound`] if no row matched.
fn one_row(changed: usize) -> Result<(), StoreError> {
    if changed == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = institutions, check_for_backend(diesel::pg::Pg))]
struct InstitutionRow {
    id: Uuid,
    name: String,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl From<InstitutionRow> for Institution {
    fn from(r: InstitutionRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

impl From<Institution> for InstitutionRow {
    fn from(i: Institution) -> Self {
        Self {
            id: i.id,
            name: i.name,
            created_by: i.created_by,
            created_at: i.created_at,
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = campuses, check_for_backend(diesel::pg::Pg))]
struct CampusRow {
    id: Uuid,
    institution_id: Uuid,
    name: String,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl From<CampusRow> for Campus {
    fn from(r: CampusRow) -> Self {
        Self {
            id: r.id,
            institution_id: r.institution_id,
            name: r.name,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

impl From<Campus> for CampusRow {
    fn from(c: Campus) -> Self {
        Self {
            id: c.id,
            institution_id: c.institution_id,
            name: c.name,
            created_by: c.created_by,
            created_at: c.created_at,
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = departments, check_for_backend(diesel::pg::Pg))]
struct DepartmentRow {
    id: Uuid,
    campus_id: Uuid,
    institution_id: Uuid,
    name: String,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl From<DepartmentRow> for Department {
    fn from(r: DepartmentRow) -> Self {
        Self {
            id: r.id,
            campus_id: r.campus_id,
            institution_id: r.institution_id,
            name: r.name,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

impl From<Department> for DepartmentRow {
    fn from(d: Department) -> Self {
        Self {
            id: d.id,
            campus_id: d.campus_id,
            institution_id: d.institution_id,
            name: d.name,
            created_by: d.created_by,
            created_at: d.created_at,
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = org_members, check_for_backend(diesel::pg::Pg))]
struct MemberRow {
    unit_kind: String,
    unit_id: Uuid,
    user_id: Uuid,
    added_by: Option<Uuid>,
    added_at: DateTime<Utc>,
}

impl TryFrom<MemberRow> for Member {
    type Error = StoreError;

    fn try_from(r: MemberRow) -> Result<Self, StoreError> {
        // The table's CHECK admits only the three kinds.
        let kind = UnitKind::parse(&r.unit_kind).ok_or_else(|| {
            StoreError::Unexpected(format!("unknown unit kind {:?}", r.unit_kind).into())
        })?;
        Ok(Self {
            unit: UnitRef {
                kind,
                id: r.unit_id,
            },
            user_id: r.user_id,
            added_by: r.added_by,
            added_at: r.added_at,
        })
    }
}

impl From<Member> for MemberRow {
    fn from(m: Member) -> Self {
        Self {
            unit_kind: m.unit.kind.as_str().to_owned(),
            unit_id: m.unit.id,
            user_id: m.user_id,
            added_by: m.added_by,
            added_at: m.added_at,
        }
    }
}

/// Deletes the memberships of the units listed per kind.
async fn delete_members(
    conn: &mut AsyncPgConnection,
    units: [(UnitKind, &[Uuid]); 3],
) -> Result<(), Error> {
    for (kind, ids) in units {
        if ids.is_empty() {
            continue;
        }
        diesel::delete(
            org_members::table
                .filter(org_members::unit_kind.eq(kind.as_str()))
                .filter(org_members::unit_id.eq_any(ids)),
        )
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Locks a unit's row `FOR KEY SHARE` (no delete can pass until the transaction ends);
/// [`Error::NotFound`] if there is no such unit.
async fn lock_unit(conn: &mut AsyncPgConnection, unit: UnitRef) -> Result<(), Error> {
    match unit.kind {
        UnitKind::Institution => {
            institutions::table
                .find(unit.id)
                .select(institutions::id)
                .for_key_share()
                .first::<Uuid>(conn)
                .await?
        }
        UnitKind::Campus => {
            campuses::table
                .find(unit.id)
                .select(campuses::id)
                .for_key_share()
                .first::<Uuid>(conn)
                .await?
        }
        UnitKind::Department => {
            departments::table
                .find(unit.id)
                .select(departments::id)
                .for_key_share()
                .first::<Uuid>(conn)
                .await?
        }
    };
    Ok(())
}

#[async_trait]
impl OrgRepository for PgOrgRepository {
    async fn insert_institution(&self, institution: Institution) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        diesel::insert_into(institutions::table)
            .values(InstitutionRow::from(institution))
            .execute(&mut conn)
            .await
            .map_err(org_error)?;
        Ok(())
    }

    async fn institution(&self, id: Uuid) -> Result<Option<Institution>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = institutions::table
            .find(id)
            .select(InstitutionRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(org_error)?;
        Ok(row.map(Institution::from))
    }

    async fn list_institutions(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Institution>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let mut query = institutions::table
            .select(InstitutionRow::as_select())
            .order(institutions::id)
            .limit(i64::from(limit))
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(institutions::id.gt(after));
        }
        let rows = query.load(&mut conn).await.map_err(org_error)?;
        Ok(rows.into_iter().map(Institution::from).collect())
    }

    async fn rename_institution(&self, id: Uuid, name: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let updated = diesel::update(institutions::table.find(id))
            .set(institutions::name.eq(name))
            .execute(&mut conn)
            .await
            .map_err(org_error)?;
        one_row(updated)
    }

    async fn delete_institution(&self, id: Uuid) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            // Top down, as every delete locks: no new campus can be added from here on.
            institutions::table
                .find(id)
                .select(institutions::id)
                .for_update()
                .first::<Uuid>(conn)
                .await?;
            let campus_ids: Vec<Uuid> = campuses::table
                .filter(campuses::institution_id.eq(id))
                .select(campuses::id)
                .for_update()
                .load(conn)
                .await?;
            let department_ids: Vec<Uuid> = departments::table
                .filter(departments::institution_id.eq(id))
                .select(departments::id)
                .for_update()
                .load(conn)
                .await?;
            delete_members(
                conn,
                [
                    (UnitKind::Institution, &[id]),
                    (UnitKind::Campus, &campus_ids),
                    (UnitKind::Department, &department_ids),
                ],
            )
            .await?;
            diesel::delete(institutions::table.find(id))
                .execute(conn)
                .await?;
            Ok::<_, Error>(())
        })
        .await
        .map_err(org_error)
    }

    async fn insert_campus(&self, campus: Campus) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        diesel::insert_into(campuses::table)
            .values(CampusRow::from(campus))
            .execute(&mut conn)
            .await
            .map_err(org_error)?;
        Ok(())
    }

    async fn campus(&self, id: Uuid) -> Result<Option<Campus>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = campuses::table
            .find(id)
            .select(CampusRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(org_error)?;
        Ok(row.map(Campus::from))
    }

    async fn list_campuses(
        &self,
        institution: Option<Uuid>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Campus>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let mut query = campuses::table
            .select(CampusRow::as_select())
            .order(campuses::id)
            .limit(i64::from(limit))
            .into_boxed();
        if let Some(institution) = institution {
            query = query.filter(campuses::institution_id.eq(institution));
        }
        if let Some(after) = after {
            query = query.filter(campuses::id.gt(after));
        }
        let rows = query.load(&mut conn).await.map_err(org_error)?;
        Ok(rows.into_iter().map(Campus::from).collect())
    }

    async fn rename_campus(&self, id: Uuid, name: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let updated = diesel::update(campuses::table.find(id))
            .set(campuses::name.eq(name))
            .execute(&mut conn)
            .await
            .map_err(org_error)?;
        one_row(updated)
    }

    async fn delete_campus(&self, id: Uuid) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            campuses::table
                .find(id)
                .select(campuses::id)
                .for_update()
                .first::<Uuid>(conn)
                .await?;
            let department_ids: Vec<Uuid> = departments::table
                .filter(departments::campus_id.eq(id))
                .select(departments::id)
                .for_update()
                .load(conn)
                .await?;
            delete_members(
                conn,
                [
                    (UnitKind::Institution, &[]),
                    (UnitKind::Campus, &[id]),
                    (UnitKind::Department, &department_ids),
                ],
            )
            .await?;
            diesel::delete(campuses::table.find(id))
                .execute(conn)
                .await?;
            Ok::<_, Error>(())
        })
        .await
        .map_err(org_error)
    }

    async fn insert_department(&self, department: Department) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        // The (campus_id, institution_id) foreign key refuses a campus that is missing
        // or belongs to another institution.
        diesel::insert_into(departments::table)
            .values(DepartmentRow::from(department))
            .execute(&mut conn)
            .await
            .map_err(org_error)?;
        Ok(())
    }

    async fn department(&self, id: Uuid) -> Result<Option<Department>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = departments::table
            .find(id)
            .select(DepartmentRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(org_error)?;
        Ok(row.map(Department::from))
    }

    async fn list_departments(
        &self,
        campus: Option<Uuid>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Department>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let mut query = departments::table
            .select(DepartmentRow::as_select())
            .order(departments::id)
            .limit(i64::from(limit))
            .into_boxed();
        if let Some(campus) = campus {
            query = query.filter(departments::campus_id.eq(campus));
        }
        if let Some(after) = after {
            query = query.filter(departments::id.gt(after));
        }
        let rows = query.load(&mut conn).await.map_err(org_error)?;
        Ok(rows.into_iter().map(Department::from).collect())
    }

    async fn rename_department(&self, id: Uuid, name: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let updated = diesel::update(departments::table.find(id))
            .set(departments::name.eq(name))
            .execute(&mut conn)
            .await
            .map_err(org_error)?;
        one_row(updated)
    }

    async fn delete_department(&self, id: Uuid) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            departments::table
                .find(id)
                .select(departments::id)
                .for_update()
                .first::<Uuid>(conn)
                .await?;
            delete_members(
                conn,
                [
                    (UnitKind::Institution, &[]),
                    (UnitKind::Campus, &[]),
                    (UnitKind::Department, &[id]),
                ],
            )
            .await?;
            diesel::delete(departments::table.find(id))
                .execute(conn)
                .await?;
            Ok::<_, Error>(())
        })
        .await
        .map_err(org_error)
    }

    async fn add_member(&self, member: Member) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let unit = member.unit;
        let row = MemberRow::from(member);
        conn.transaction(async |conn| {
            lock_unit(conn, unit).await?;
            // Foreign keys refuse an unknown user or adder; the primary key a second
            // membership.
            diesel::insert_into(org_members::table)
                .values(&row)
                .execute(conn)
                .await?;
            Ok::<_, Error>(())
        })
        .await
        .map_err(org_error)
    }

    async fn remove_member(&self, unit: UnitRef, user_id: Uuid) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let deleted =
            diesel::delete(org_members::table.find((unit.kind.as_str(), unit.id, user_id)))
                .execute(&mut conn)
                .await
                .map_err(org_error)?;
        one_row(deleted)
    }

    async fn list_members(
        &self,
        unit: UnitRef,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Member>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let mut query = org_members::table
            .filter(org_members::unit_kind.eq(unit.kind.as_str()))
            .filter(org_members::unit_id.eq(unit.id))
            .select(MemberRow::as_select())
            .order(org_members::user_id)
            .limit(i64::from(limit))
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(org_members::user_id.gt(after));
        }
        let rows = query.load(&mut conn).await.map_err(org_error)?;
        rows.into_iter().map(Member::try_from).collect()
    }
}

#[async_trait]
impl ScopeDirectory for PgOrgRepository {
    async fn path_of(&self, scope: Scope) -> Result<Option<ScopePath>, StoreError> {
        let chain = match scope {
            Scope::Global => return Ok(Some(ScopePath::global())),
            Scope::Institution(id) => {
                let mut conn = self.pool.get().await.map_err(pool_error)?;
                institutions::table
                    .find(id)
                    .select(institutions::id)
                    .first::<Uuid>(&mut conn)
                    .await
                    .optional()
                    .map_err(org_error)?
                    .map(|i| vec![Scope::Institution(i)])
            }
            Scope::Campus(id) => {
                let mut conn = self.pool.get().await.map_err(pool_error)?;
                campuses::table
                    .find(id)
                    .select(campuses::institution_id)
                    .first::<Uuid>(&mut conn)
                    .await
                    .optional()
                    .map_err(org_error)?
                    .map(|i| vec![Scope::Campus(id), Scope::Institution(i)])
            }
            Scope::Department(id) => {
                let mut conn = self.pool.get().await.map_err(pool_error)?;
                departments::table
                    .find(id)
                    .select((departments::campus_id, departments::institution_id))
                    .first::<(Uuid, Uuid)>(&mut conn)
                    .await
                    .optional()
                    .map_err(org_error)?
                    .map(|(c, i)| {
                        vec![
                            Scope::Department(id),
                            Scope::Campus(c),
                            Scope::Institution(i),
                        ]
                    })
            }
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
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let rows: Vec<(String, Uuid)> = org_members::table
            .filter(org_members::user_id.eq(user_id))
            .select((org_members::unit_kind, org_members::unit_id))
            .order((org_members::unit_kind, org_members::unit_id))
            .load(&mut conn)
            .await
            .map_err(org_error)?;
        rows.into_iter()
            .map(|(kind, id)| unit_scope(&kind, id))
            .collect()
    }

    async fn within(&self, scope: Scope) -> Result<Vec<Scope>, StoreError> {
        if scope == Scope::Global {
            return Ok(vec![Scope::Global]);
        }
        if self.path_of(scope).await?.is_none() {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let (campus_ids, department_ids): (Vec<Uuid>, Vec<Uuid>) = match scope {
            Scope::Institution(id) => (
                campuses::table
                    .filter(campuses::institution_id.eq(id))
                    .select(campuses::id)
                    .order(campuses::id)
                    .load(&mut conn)
                    .await
                    .map_err(org_error)?,
                departments::table
                    .filter(departments::institution_id.eq(id))
                    .select(departments::id)
                    .order(departments::id)
                    .load(&mut conn)
                    .await
                    .map_err(org_error)?,
            ),
            Scope::Campus(id) => (
                Vec::new(),
                departments::table
                    .filter(departments::campus_id.eq(id))
                    .select(departments::id)
                    .order(departments::id)
                    .load(&mut conn)
                    .await
                    .map_err(org_error)?,
            ),
            _ => (Vec::new(), Vec::new()),
        };
        let mut out = Vec::with_capacity(1 + campus_ids.len() + department_ids.len());
        out.push(scope);
        out.extend(campus_ids.into_iter().map(Scope::Campus));
        out.extend(department_ids.into_iter().map(Scope::Department));
        Ok(out)
    }
}

/// The scope of a stored membership row.
fn unit_scope(kind: &str, id: Uuid) -> Result<Scope, StoreError> {
    match UnitKind::parse(kind) {
        Some(UnitKind::Institution) => Ok(Scope::Institution(id)),
        Some(UnitKind::Campus) => Ok(Scope::Campus(id)),
        Some(UnitKind::Department) => Ok(Scope::Department(id)),
        None => Err(StoreError::Unexpected(
            format!("unknown unit kind {kind:?}").into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_name_their_field() {
        let unique = |name: &'static str| {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, Box::new(Named(name)))
        };
        for (constraint, field) in [
            ("institutions_name_lower_key", "name"),
            ("campuses_institution_id_name_lower_key", "name"),
            ("departments_campus_id_name_lower_key", "name"),
            ("campuses_pkey", "id"),
            ("org_members_pkey", "member"),
        ] {
            assert!(
                matches!(org_error(unique(constraint)), StoreError::Duplicate(f) if f == field),
                "{constraint}"
            );
        }
        let fk = Error::DatabaseError(
            DatabaseErrorKind::ForeignKeyViolation,
            Box::new(Named("org_members_user_id_fkey")),
        );
        assert!(matches!(org_error(fk), StoreError::NotFound));
        assert!(matches!(org_error(Error::NotFound), StoreError::NotFound));
    }

    /// Error details naming a constraint, as the server reports it.
    struct Named(&'static str);

    impl diesel::result::DatabaseErrorInformation for Named {
        fn message(&self) -> &str {
            "violation"
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            Some(self.0)
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }
}
