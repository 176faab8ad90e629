//! `/api/org/…`: institutions, campuses and departments — the scopes of role grants —
//! with their members. Each route is guarded in the unit's own scope; creation in the
//! parent's scope.
//!
//! The three kinds share their handlers: the `K` const parameter selects the kind, so the
//! rules stay in one place.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain_core::PageLimit;
use domain_org::{Campus, Department, Institution, Member, UnitKind, UnitRef};
use domain_rbac::Scope;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::endpoint::Endpoint;
use super::guard::Authorize;
use super::problem::ApiError;
use super::state::OrgState;

const INSTITUTION: u8 = 0;
const CAMPUS: u8 = 1;
const DEPARTMENT: u8 = 2;

/// An institution, campus or department.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct OrgUnitDto {
    /// Id.
    pub id: Uuid,
    /// `institution`, `campus` or `department`.
    #[schemars(schema_with = "super::schema::unit_kind")]
    pub kind: String,
    /// Name, unique among its siblings.
    pub name: String,
    /// The RBAC scope this unit is, e.g. `campus:{id}`.
    #[schemars(schema_with = "super::schema::scope")]
    pub scope: String,
    /// Institution it belongs to (campuses and departments).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schemars(with = "Uuid")]
    pub institution_id: Option<Uuid>,
    /// Campus it belongs to (departments).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schemars(with = "Uuid")]
    pub campus_id: Option<Uuid>,
    /// Creator.
    pub created_by: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<Institution> for OrgUnitDto {
    fn from(i: Institution) -> Self {
        Self {
            id: i.id,
            kind: "institution".into(),
            scope: Scope::Institution(i.id).to_string(),
            name: i.name,
            institution_id: None,
            campus_id: None,
            created_by: i.created_by,
            created_at: i.created_at,
        }
    }
}

impl From<Campus> for OrgUnitDto {
    fn from(c: Campus) -> Self {
        Self {
            id: c.id,
            kind: "campus".into(),
            scope: Scope::Campus(c.id).to_string(),
            name: c.name,
            institution_id: Some(c.institution_id),
            campus_id: None,
            created_by: c.created_by,
            created_at: c.created_at,
        }
    }
}

impl From<Department> for OrgUnitDto {
    fn from(d: Department) -> Self {
        Self {
            id: d.id,
            kind: "department".into(),
            scope: Scope::Department(d.id).to_string(),
            name: d.name,
            institution_id: Some(d.institution_id),
            campus_id: Some(d.campus_id),
            created_by: d.created_by,
            created_at: d.created_at,
        }
    }
}

/// A page of units.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct OrgUnitPage {
    /// Ordered by id.
    pub items: Vec<OrgUnitDto>,
    /// Cursor of the next page (`?after=`), if any.
    pub next: Option<String>,
}

/// Creates an institution.
#[derive(Deserialize, JsonSchema)]
pub struct CreateInstitution {
    /// 1–200 characters, unique case-insensitively.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::title")]
    pub name: String,
}

/// Creates a campus in an institution.
#[derive(Deserialize, JsonSchema)]
pub struct CreateCampus {
    /// The institution.
    pub institution_id: Uuid,
    /// 1–200 characters, unique in the institution.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::title")]
    pub name: String,
}

/// Creates a department in a campus.
#[derive(Deserialize, JsonSchema)]
pub struct CreateDepartment {
    /// The campus.
    pub campus_id: Uuid,
    /// 1–200 characters, unique in the campus.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::title")]
    pub name: String,
}

/// Renames a unit.
#[derive(Deserialize, JsonSchema)]
pub struct RenameUnit {
    /// The new name.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::title")]
    pub name: String,
}

/// Adds a member.
#[derive(Deserialize, JsonSchema)]
pub struct AddMember {
    /// The user to add.
    pub user_id: Uuid,
}

/// A member of a unit.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct MemberDto {
    /// The user.
    pub user_id: Uuid,
    /// Who added them.
    pub added_by: Option<Uuid>,
    /// When.
    pub added_at: DateTime<Utc>,
}

impl From<Member> for MemberDto {
    fn from(m: Member) -> Self {
        Self {
            user_id: m.user_id,
            added_by: m.added_by,
            added_at: m.added_at,
        }
    }
}

/// A page of members.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct MemberPage {
    /// Ordered by user id.
    pub items: Vec<MemberDto>,
    /// Cursor of the next page, if any.
    pub next: Option<String>,
}

/// Paging and filters of list endpoints.
#[derive(Deserialize, JsonSchema)]
pub struct ListQuery {
    /// Cursor from the previous page's `next`.
    after: Option<String>,
    /// Page size, 1–100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
    /// Campuses of this institution only (campus lists).
    institution_id: Option<Uuid>,
    /// Departments of this campus only (department lists).
    campus_id: Option<Uuid>,
}

fn kind_of<const K: u8>() -> UnitKind {
    match K {
        INSTITUTION => UnitKind::Institution,
        CAMPUS => UnitKind::Campus,
        _ => UnitKind::Department,
    }
}

fn scope_of<const K: u8>(id: Uuid) -> Scope {
    match K {
        INSTITUTION => Scope::Institution(id),
        CAMPUS => Scope::Campus(id),
        _ => Scope::Department(id),
    }
}

/// Loads a unit (404 when missing) with its creator.
async fn load<const K: u8>(
    state: &OrgState,
    id: Uuid,
) -> Result<(OrgUnitDto, Option<Uuid>), ApiError> {
    let dto: OrgUnitDto = match K {
        INSTITUTION => state.org.institution(id).await?.into(),
        CAMPUS => state.org.campus(id).await?.into(),
        _ => state.org.department(id).await?.into(),
    };
    let owner = dto.created_by;
    Ok((dto, owner))
}

async fn get_unit<const K: u8>(
    state: web::Data<OrgState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (dto, owner) = load::<K>(&state, id).await?;
    // The organisation directory (names of institutions, campuses, departments) is public.
    auth.require_resource(scope_of::<K>(id), owner, true)
        .await?;
    Ok(HttpResponse::Ok().json(dto))
}

async fn list_units<const K: u8>(
    state: web::Data<OrgState>,
    auth: Authorize,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = PageLimit::new(q.limit);
    let after = super::paging::uuid_after(q.after.as_deref())?;
    let items: Vec<OrgUnitDto> = match K {
        INSTITUTION => {
            auth.require(Scope::Global).await?;
            state
                .org
                .list_institutions(after, limit.get())
                .await?
                .into_iter()
                .map(Into::into)
                .collect()
        }
        CAMPUS => {
            auth.require_resource(
                q.institution_id.map_or(Scope::Global, Scope::Institution),
                None,
                true,
            )
            .await?;
            state
                .org
                .list_campuses(q.institution_id, after, limit.get())
                .await?
                .into_iter()
                .map(Into::into)
                .collect()
        }
        _ => {
            auth.require_resource(q.campus_id.map_or(Scope::Global, Scope::Campus), None, true)
                .await?;
            state
                .org
                .list_departments(q.campus_id, after, limit.get())
                .await?
                .into_iter()
                .map(Into::into)
                .collect()
        }
    };
    let ids: Vec<Uuid> = items.iter().map(|u| u.id).collect();
    Ok(HttpResponse::Ok().json(OrgUnitPage {
        next: super::paging::next_cursor(ids.last(), ids.len(), limit),
        items,
    }))
}

async fn create_institution(
    state: web::Data<OrgState>,
    auth: Authorize,
    body: web::Json<CreateInstitution>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::Global).await?;
    let created = state
        .org
        .create_institution(auth.user_id(), &body.name)
        .await?;
    Ok(HttpResponse::Created().json(OrgUnitDto::from(created)))
}

async fn create_campus(
    state: web::Data<OrgState>,
    auth: Authorize,
    body: web::Json<CreateCampus>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::Institution(body.institution_id))
        .await?;
    let created = state
        .org
        .create_campus(auth.user_id(), body.institution_id, &body.name)
        .await?;
    Ok(HttpResponse::Created().json(OrgUnitDto::from(created)))
}

async fn create_department(
    state: web::Data<OrgState>,
    auth: Authorize,
    body: web::Json<CreateDepartment>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::Campus(body.campus_id)).await?;
    let created = state
        .org
        .create_department(auth.user_id(), body.campus_id, &body.name)
        .await?;
    Ok(HttpResponse::Created().json(OrgUnitDto::from(created)))
}

async fn rename_unit<const K: u8>(
    state: web::Data<OrgState>,
    auth: Authorize,
    id: web::Path<Uuid>,
    body: web::Json<RenameUnit>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (_, owner) = load::<K>(&state, id).await?;
    auth.require_on(scope_of::<K>(id), owner).await?;
    let dto: OrgUnitDto = match K {
        INSTITUTION => state.org.rename_institution(id, &body.name).await?.into(),
        CAMPUS => state.org.rename_campus(id, &body.name).await?.into(),
        _ => state.org.rename_department(id, &body.name).await?.into(),
    };
    Ok(HttpResponse::Ok().json(dto))
}

async fn delete_unit<const K: u8>(
    state: web::Data<OrgState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (_, owner) = load::<K>(&state, id).await?;
    auth.require_on(scope_of::<K>(id), owner).await?;
    match K {
        INSTITUTION => state.org.delete_institution(id).await?,
        CAMPUS => state.org.delete_campus(id).await?,
        _ => state.org.delete_department(id).await?,
    }
    // cached scope paths under this unit are now stale on every instance
    state.rbac.changed_scopes().await;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_members<const K: u8>(
    state: web::Data<OrgState>,
    auth: Authorize,
    id: web::Path<Uuid>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (_, owner) = load::<K>(&state, id).await?;
    auth.require_on(scope_of::<K>(id), owner).await?;
    let limit = PageLimit::new(q.limit);
    let after = super::paging::uuid_after(q.after.as_deref())?;
    let unit = UnitRef {
        kind: kind_of::<K>(),
        id,
    };
    let members = state.org.list_members(unit, after, limit.get()).await?;
    let ids: Vec<Uuid> = members.iter().map(|m| m.user_id).collect();
    let next = super::paging::next_cursor(ids.last(), ids.len(), limit);
    Ok(HttpResponse::Ok().json(MemberPage {
        items: members.into_iter().map(Into::into).collect(),
        next,
    }))
}

async fn add_member<const K: u8>(
    state: web::Data<OrgState>,
    auth: Authorize,
    id: web::Path<Uuid>,
    body: web::Json<AddMember>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (_, owner) = load::<K>(&state, id).await?;
    auth.require_on(scope_of::<K>(id), owner).await?;
    let unit = UnitRef {
        kind: kind_of::<K>(),
        id,
    };
    let member = state
        .org
        .add_member(auth.user_id(), unit, body.user_id)
        .await?;
    // Membership is part of what a user may read: every instance re-reads it.
    state.rbac.forget_user(body.user_id).await;
    Ok(HttpResponse::Created().json(MemberDto::from(member)))
}

async fn remove_member<const K: u8>(
    state: web::Data<OrgState>,
    auth: Authorize,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, user_id) = path.into_inner();
    let (_, owner) = load::<K>(&state, id).await?;
    auth.require_on(scope_of::<K>(id), owner).await?;
    state
        .org
        .remove_member(
            UnitRef {
                kind: kind_of::<K>(),
                id,
            },
            user_id,
        )
        .await?;
    // Removing the last membership ends access on every instance within the
    // invalidation delay.
    state.rbac.forget_user(user_id).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Static names of one kind's routes.
struct Names {
    list: &'static str,
    item: &'static str,
    members: &'static str,
    member: &'static str,
    ops: [&'static str; 8],
    perms: [&'static str; 5], // create, read, update, delete, manage_members
    summaries: [&'static str; 8],
}

const INSTITUTIONS: Names = Names {
    list: "/api/org/institutions/",
    item: "/api/org/institutions/{id}/",
    members: "/api/org/institutions/{id}/members/",
    member: "/api/org/institutions/{id}/members/{user_id}/",
    ops: [
        "listInstitutions",
        "createInstitution",
        "getInstitution",
        "renameInstitution",
        "deleteInstitution",
        "listInstitutionMembers",
        "addInstitutionMember",
        "removeInstitutionMember",
    ],
    perms: [
        "institution.create",
        "institution.read",
        "institution.update",
        "institution.delete",
        "institution.manage_members",
    ],
    summaries: [
        "List institutions (cursor-paginated, ordered by id)",
        "Create a institution",
        "Read a institution",
        "Rename a institution",
        "Delete a institution with everything inside it",
        "List the members of a institution",
        "Add a member to a institution",
        "Remove a member from a institution",
    ],
};

const CAMPUSES: Names = Names {
    list: "/api/org/campuses/",
    item: "/api/org/campuses/{id}/",
    members: "/api/org/campuses/{id}/members/",
    member: "/api/org/campuses/{id}/members/{user_id}/",
    ops: [
        "listCampuses",
        "createCampus",
        "getCampus",
        "renameCampus",
        "deleteCampus",
        "listCampusMembers",
        "addCampusMember",
        "removeCampusMember",
    ],
    perms: [
        "campus.create",
        "campus.read",
        "campus.update",
        "campus.delete",
        "campus.manage_members",
    ],
    summaries: [
        "List campuses (cursor-paginated, ordered by id)",
        "Create a campus",
        "Read a campus",
        "Rename a campus",
        "Delete a campus with everything inside it",
        "List the members of a campus",
        "Add a member to a campus",
        "Remove a member from a campus",
    ],
};

const DEPARTMENTS: Names = Names {
    list: "/api/org/departments/",
    item: "/api/org/departments/{id}/",
    members: "/api/org/departments/{id}/members/",
    member: "/api/org/departments/{id}/members/{user_id}/",
    ops: [
        "listDepartments",
        "createDepartment",
        "getDepartment",
        "renameDepartment",
        "deleteDepartment",
        "listDepartmentMembers",
        "addDepartmentMember",
        "removeDepartmentMember",
    ],
    perms: [
        "department.create",
        "department.read",
        "department.update",
        "department.delete",
        "department.manage_members",
    ],
    summaries: [
        "List departments (cursor-paginated, ordered by id)",
        "Create a department",
        "Read a department",
        "Rename a department",
        "Delete a department with everything inside it",
        "List the members of a department",
        "Add a member to a department",
        "Remove a member from a department",
    ],
};

fn common<const K: u8>(n: &Names, create: Endpoint) -> Vec<Endpoint> {
    let tag = "organisations";
    vec![
        Endpoint::get(n.list, n.ops[0])
            .summary(tag, n.summaries[0])
            .permission(n.perms[1])
            .query::<ListQuery>()
            .returns::<OrgUnitPage>(200, "A page of units")
            // an `institution_id` or `campus_id` filter naming no unit
            .errors(if K == INSTITUTION { &[] } else { &[404] })
            .to(list_units::<K>),
        create
            .permission(n.perms[0])
            .returns::<OrgUnitDto>(201, "Created")
            .errors(&[404, 409, 422]),
        Endpoint::get(n.item, n.ops[2])
            .summary(tag, n.summaries[2])
            .permission(n.perms[1])
            .returns::<OrgUnitDto>(200, "The unit")
            .to(get_unit::<K>),
        Endpoint::new(actix_web::http::Method::PATCH, n.item, n.ops[3])
            .summary(tag, n.summaries[3])
            .permission(n.perms[2])
            .body::<RenameUnit>()
            .required_in_body(&["name"])
            .returns::<OrgUnitDto>(200, "Renamed")
            .errors(&[409, 422])
            .to(rename_unit::<K>),
        Endpoint::delete(n.item, n.ops[4])
            .summary(tag, n.summaries[4])
            .permission(n.perms[3])
            .returns_raw(204, "Deleted", None)
            .to(delete_unit::<K>),
        Endpoint::get(n.members, n.ops[5])
            .summary(tag, n.summaries[5])
            .permission(n.perms[4])
            .query::<ListQuery>()
            .returns::<MemberPage>(200, "A page of members")
            .to(list_members::<K>),
        Endpoint::post(n.members, n.ops[6])
            .summary(tag, n.summaries[6])
            .permission(n.perms[4])
            .body::<AddMember>()
            .returns::<MemberDto>(201, "Added")
            .errors(&[409])
            .to(add_member::<K>),
        Endpoint::delete(n.member, n.ops[7])
            .summary(tag, n.summaries[7])
            .permission(n.perms[4])
            .returns_raw(204, "Removed", None)
            .to(remove_member::<K>),
    ]
}

pub(crate) fn endpoints() -> Vec<Endpoint> {
    let mut v = common::<INSTITUTION>(
        &INSTITUTIONS,
        Endpoint::post(INSTITUTIONS.list, INSTITUTIONS.ops[1])
            .summary("organisations", INSTITUTIONS.summaries[1])
            .body::<CreateInstitution>()
            .required_in_body(&["name"])
            .to(create_institution),
    );
    v.extend(common::<CAMPUS>(
        &CAMPUSES,
        Endpoint::post(CAMPUSES.list, CAMPUSES.ops[1])
            .summary("organisations", CAMPUSES.summaries[1])
            .body::<CreateCampus>()
            .required_in_body(&["name"])
            .to(create_campus),
    ));
    v.extend(common::<DEPARTMENT>(
        &DEPARTMENTS,
        Endpoint::post(DEPARTMENTS.list, DEPARTMENTS.ops[1])
            .summary("organisations", DEPARTMENTS.summaries[1])
            .body::<CreateDepartment>()
            .required_in_body(&["name"])
            .to(create_department),
    ));
    v
}
