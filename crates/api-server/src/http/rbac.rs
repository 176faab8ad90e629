//! `/api/rbac/…`: role templates, per-scope overrides, grants, the audit trail and an
//! explain-the-decision endpoint. The route's permission is checked in the target scope
//! first; the RBAC service then applies its finer rules (no escalation, no self-grants).

use std::collections::BTreeSet;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain_core::{Cursor, FieldError, PageLimit};
use domain_rbac::{
    AuditCursor, AuditFilter, AuditRecord, Effect, GrantFilter, Override, Permission,
    PermissionGrant, RoleAssignment, RoleTemplate, Scope,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::endpoint::Endpoint;
use super::guard::Authorize;
use super::problem::{ApiError, client_permission, client_scope};
use super::state::AccessState;

/// A role template.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct RoleDto {
    /// Name.
    pub name: String,
    /// Rank: roles can only be assigned by holders of a higher-ranked role.
    pub rank: u8,
    /// What it is for.
    pub description: String,
    /// Built-in roles cannot be deleted.
    pub built_in: bool,
    /// Roles it inherits from.
    pub inherits: Vec<String>,
    /// Permissions of the template itself.
    pub permissions: Vec<String>,
    /// Permissions including inherited ones (before overrides).
    pub effective_permissions: Vec<String>,
}

fn role_dto(t: &RoleTemplate, effective: Option<&BTreeSet<Permission>>) -> RoleDto {
    RoleDto {
        name: t.name.clone(),
        rank: t.rank,
        description: t.description.clone(),
        built_in: t.built_in,
        inherits: t.inherits.clone(),
        permissions: t.permissions.iter().map(ToString::to_string).collect(),
        effective_permissions: effective
            .map(|s| s.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
    }
}

/// Role templates.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct RoleList {
    /// Highest rank first.
    pub items: Vec<RoleDto>,
}

/// A new custom role.
#[derive(Deserialize, JsonSchema)]
pub struct CreateRoleRequest {
    /// 2–48 characters of a-z, 0-9 and `_`.
    #[schemars(schema_with = "super::schema::role_name")]
    pub name: String,
    /// Below your own highest role.
    #[schemars(range(max = 255))]
    pub rank: u8,
    /// What it is for (line breaks allowed, no other control character).
    #[serde(default)]
    #[schemars(regex(pattern = r"^[^\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    pub description: String,
    /// Roles to inherit from.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::role_names")]
    pub inherits: Vec<String>,
    /// `resource.action` permissions.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::permissions")]
    pub permissions: Vec<String>,
}

/// A role's own permissions.
#[derive(Deserialize, JsonSchema)]
pub struct SetPermissionsRequest {
    /// `resource.action` permissions; replaces the template's list.
    #[schemars(schema_with = "super::schema::permissions")]
    pub permissions: Vec<String>,
}

/// A per-scope override of a role template.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct OverrideDto {
    /// Id.
    pub id: Uuid,
    /// Role adjusted.
    pub role: String,
    /// Scope where it holds (and everything inside).
    pub scope: String,
    /// Permission concerned.
    pub permission: String,
    /// `allow` or `deny`; deny beats any allow from the template there.
    #[schemars(schema_with = "super::schema::effect")]
    pub effect: String,
}

impl From<Override> for OverrideDto {
    fn from(o: Override) -> Self {
        Self {
            id: o.id,
            role: o.role,
            scope: o.scope.to_string(),
            permission: o.permission.to_string(),
            effect: match o.effect {
                Effect::Allow => "allow",
                Effect::Deny => "deny",
            }
            .into(),
        }
    }
}

/// Overrides.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct OverrideList {
    /// The overrides.
    pub items: Vec<OverrideDto>,
}

/// A new override.
#[derive(Deserialize, JsonSchema)]
pub struct CreateOverrideRequest {
    /// Role to adjust (ranked below yours).
    #[schemars(schema_with = "super::schema::role_name")]
    pub role: String,
    /// Scope, e.g. `institution:{id}`.
    #[schemars(schema_with = "super::schema::scope")]
    pub scope: String,
    /// `resource.action`.
    #[schemars(schema_with = "super::schema::permission")]
    pub permission: String,
    /// `allow` or `deny`.
    #[schemars(schema_with = "super::schema::effect")]
    pub effect: String,
}

/// A role grant.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct GrantDto {
    /// Id (revoke with `DELETE /api/rbac/grants/{id}/`).
    pub id: Uuid,
    /// Holder.
    pub user_id: Uuid,
    /// Role.
    pub role: String,
    /// Scope.
    pub scope: String,
    /// End of a temporary grant.
    pub expires_at: Option<DateTime<Utc>>,
    /// Granted by.
    pub granted_by: Option<Uuid>,
    /// Granted at.
    pub granted_at: DateTime<Utc>,
}

impl From<RoleAssignment> for GrantDto {
    fn from(a: RoleAssignment) -> Self {
        Self {
            id: a.id,
            user_id: a.user_id,
            role: a.role,
            scope: a.scope.to_string(),
            expires_at: a.expires_at,
            granted_by: a.granted_by,
            granted_at: a.granted_at,
        }
    }
}

/// A page of grants.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct GrantPage {
    /// Ordered by id.
    pub items: Vec<GrantDto>,
    /// Cursor of the next page.
    pub next: Option<String>,
}

/// Grants a role.
#[derive(Deserialize, JsonSchema)]
pub struct CreateGrantRequest {
    /// Who receives it (not yourself).
    pub user_id: Uuid,
    /// Role, ranked below your own highest role in the scope.
    #[schemars(schema_with = "super::schema::role_name")]
    pub role: String,
    /// Scope, e.g. `institution:{id}`.
    #[schemars(schema_with = "super::schema::scope")]
    pub scope: String,
    /// Optional end: after it the grant allows nothing.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::date_time_or_null")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A direct permission grant.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct PermissionGrantDto {
    /// Id.
    pub id: Uuid,
    /// Holder.
    pub user_id: Uuid,
    /// Permission.
    pub permission: String,
    /// Scope.
    pub scope: String,
    /// End.
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<PermissionGrant> for PermissionGrantDto {
    fn from(g: PermissionGrant) -> Self {
        Self {
            id: g.id,
            user_id: g.user_id,
            permission: g.permission.to_string(),
            scope: g.scope.to_string(),
            expires_at: g.expires_at,
        }
    }
}

/// Grants one permission directly (usually temporarily).
#[derive(Deserialize, JsonSchema)]
pub struct CreatePermissionGrantRequest {
    /// Who receives it (not yourself).
    pub user_id: Uuid,
    /// `resource.action`; you must hold it in the scope yourself.
    #[schemars(schema_with = "super::schema::permission")]
    pub permission: String,
    /// Scope.
    #[schemars(schema_with = "super::schema::scope")]
    pub scope: String,
    /// Optional end.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::date_time_or_null")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// One audited change.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct AuditDto {
    /// Id.
    pub id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (`null`: the command line).
    pub actor: Option<Uuid>,
    /// What, e.g. `grant.create`.
    pub action: String,
    /// Subject of the change, e.g. `user:{id}`.
    pub target: String,
    /// Scope.
    pub scope: Option<String>,
    /// State before.
    pub before: Option<serde_json::Value>,
    /// State after.
    pub after: Option<serde_json::Value>,
    /// Request that made it.
    pub request_id: Option<String>,
}

impl From<AuditRecord> for AuditDto {
    fn from(r: AuditRecord) -> Self {
        Self {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            target: r.target,
            scope: r.scope.map(|s| s.to_string()),
            before: r.before,
            after: r.after,
            request_id: r.request_id,
        }
    }
}

/// A page of the audit trail.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditDto>,
    /// Cursor of the next (older) page.
    pub next: Option<String>,
}

/// Asks for a decision.
#[derive(Deserialize, JsonSchema)]
pub struct CheckRequest {
    /// The user to decide for (default: yourself; others need `role.read` in the scope).
    pub user_id: Option<Uuid>,
    /// `resource.action`.
    #[schemars(schema_with = "super::schema::permission")]
    pub permission: String,
    /// Scope.
    #[schemars(schema_with = "super::schema::scope")]
    pub scope: String,
}

/// A decision, with what decided it.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct CheckResponse {
    /// Allowed or not.
    pub allowed: bool,
    /// Human-readable: the grant, rule or override that decided.
    pub reason: String,
    /// Machine-readable detail of the reason.
    pub decided_by: serde_json::Value,
}

/// Filters and paging of the grant list.
#[derive(Deserialize, JsonSchema)]
struct GrantQuery {
    /// Grants of this user only.
    user_id: Option<Uuid>,
    /// Grants held exactly in this scope (default: every scope where you read roles).
    #[serde(default)]
    #[schemars(schema_with = "super::schema::scope_or_null")]
    scope: Option<String>,
    /// Cursor from the previous page's `next`.
    after: Option<String>,
    /// Page size, 1–100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
}

/// The scope asked about.
#[derive(Deserialize, JsonSchema)]
struct ScopeQuery {
    /// Overrides exactly in this scope (default: every scope where you read roles).
    #[serde(default)]
    #[schemars(schema_with = "super::schema::scope_or_null")]
    scope: Option<String>,
}

/// Filters and paging of the audit trail.
#[derive(Deserialize, JsonSchema)]
struct AuditQuery {
    /// Changes by this user only.
    actor: Option<Uuid>,
    /// Changes of this subject only, e.g. `user:{id}`.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::plain_text_or_null")]
    target: Option<String>,
    /// Changes of this kind only, e.g. `grant.create`.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::plain_text_or_null")]
    action: Option<String>,
    /// Changes exactly in this scope (default: every scope where you read the trail).
    #[serde(default)]
    #[schemars(schema_with = "super::schema::scope_or_null")]
    scope: Option<String>,
    /// Changes at or after this instant only.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::date_time_or_null")]
    since: Option<DateTime<Utc>>,
    /// Changes before this instant only.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::date_time_or_null")]
    until: Option<DateTime<Utc>>,
    /// Cursor from the previous page's `next` (older records).
    before: Option<String>,
    /// Page size, 1–100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
}

async fn list_roles(
    state: web::Data<AccessState>,
    _auth: super::extract::Authenticated,
) -> Result<HttpResponse, ApiError> {
    let policy = state.rbac.policy();
    let mut items: Vec<RoleDto> = policy
        .roles()
        .map(|t| role_dto(t, policy.effective_permissions(&t.name)))
        .collect();
    items.sort_by(|a, b| b.rank.cmp(&a.rank).then(a.name.cmp(&b.name)));
    Ok(HttpResponse::Ok().json(RoleList { items }))
}

async fn get_role(
    state: web::Data<AccessState>,
    _auth: super::extract::Authenticated,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let policy = state.rbac.policy();
    let t = policy
        .role(&name)
        .ok_or_else(|| ApiError::NotFound(format!("role {name} not found")))?;
    Ok(HttpResponse::Ok().json(role_dto(t, policy.effective_permissions(&t.name))))
}

fn parse_permissions(field: &str, list: &[String]) -> Result<BTreeSet<Permission>, ApiError> {
    list.iter().map(|p| client_permission(field, p)).collect()
}

async fn create_role(
    state: web::Data<AccessState>,
    auth: Authorize,
    body: web::Json<CreateRoleRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::Global).await?;
    let body = body.into_inner();
    let template = RoleTemplate {
        permissions: parse_permissions("permissions", &body.permissions)?,
        name: body.name,
        rank: body.rank,
        description: body.description,
        built_in: false,
        inherits: body.inherits,
    };
    let created = state.rbac.create_role(&auth.actor(), template).await?;
    let policy = state.rbac.policy();
    Ok(HttpResponse::Created().json(role_dto(
        &created,
        policy.effective_permissions(&created.name),
    )))
}

async fn set_role_permissions(
    state: web::Data<AccessState>,
    auth: Authorize,
    name: web::Path<String>,
    body: web::Json<SetPermissionsRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::Global).await?;
    let perms = parse_permissions("permissions", &body.permissions)?;
    state
        .rbac
        .set_role_permissions(&auth.actor(), &name, perms)
        .await?;
    let policy = state.rbac.policy();
    let t = policy
        .role(&name)
        .ok_or_else(|| ApiError::NotFound(format!("role {name} not found")))?;
    Ok(HttpResponse::Ok().json(role_dto(t, policy.effective_permissions(&t.name))))
}

async fn reset_role(
    state: web::Data<AccessState>,
    auth: Authorize,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::Global).await?;
    let t = state.rbac.reset_role(&auth.actor(), &name).await?;
    let policy = state.rbac.policy();
    Ok(HttpResponse::Ok().json(role_dto(&t, policy.effective_permissions(&t.name))))
}

async fn delete_role(
    state: web::Data<AccessState>,
    auth: Authorize,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::Global).await?;
    state.rbac.delete_role(&auth.actor(), &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_overrides(
    state: web::Data<AccessState>,
    auth: Authorize,
    q: web::Query<ScopeQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = listed_scope(&state, &auth, q.scope.as_deref()).await?;
    // Without a scope, the service keeps those of the scopes where the caller reads roles.
    let items = state.rbac.list_overrides(&auth.actor(), scope).await?;
    Ok(HttpResponse::Ok().json(OverrideList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

async fn create_override(
    state: web::Data<AccessState>,
    auth: Authorize,
    body: web::Json<CreateOverrideRequest>,
) -> Result<HttpResponse, ApiError> {
    let scope = client_scope("scope", &body.scope)?;
    let permission = client_permission("permission", &body.permission)?;
    let effect = match body.effect.as_str() {
        "allow" => Effect::Allow,
        "deny" => Effect::Deny,
        _ => {
            return Err(ApiError::Validation(vec![FieldError::new(
                "effect",
                "must be allow or deny",
            )]));
        }
    };
    auth.require(scope).await?;
    let o = state
        .rbac
        .add_override(&auth.actor(), &body.role, scope, permission, effect)
        .await?;
    Ok(HttpResponse::Created().json(OverrideDto::from(o)))
}

async fn delete_override(
    state: web::Data<AccessState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    // the scope is the override's own; the service checks it after loading
    state
        .rbac
        .remove_override(&auth.actor(), id.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_grants(
    state: web::Data<AccessState>,
    auth: Authorize,
    q: web::Query<GrantQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = listed_scope(&state, &auth, q.scope.as_deref()).await?;
    let limit = PageLimit::new(q.limit);
    let after = super::paging::uuid_after(q.after.as_deref())?;
    // Without a scope, the service keeps your own grants, or those of the scopes where you
    // read roles.
    let filter = GrantFilter {
        user_id: q.user_id,
        scope,
        readable: None,
    };
    let items = state
        .rbac
        .list_grants(&auth.actor(), filter, after, limit.get())
        .await?;
    let next = super::paging::next_cursor(items.last().map(|g| g.id), items.len(), limit);
    Ok(HttpResponse::Ok().json(GrantPage {
        items: items.into_iter().map(Into::into).collect(),
        next,
    }))
}

async fn create_grant(
    state: web::Data<AccessState>,
    auth: Authorize,
    body: web::Json<CreateGrantRequest>,
) -> Result<HttpResponse, ApiError> {
    let scope = client_scope("scope", &body.scope)?;
    auth.require(scope).await?;
    let a = state
        .rbac
        .assign_role(
            &auth.actor(),
            body.user_id,
            &body.role,
            scope,
            body.expires_at,
        )
        .await?;
    Ok(HttpResponse::Created().json(GrantDto::from(a)))
}

async fn delete_grant(
    state: web::Data<AccessState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    // the service loads the grant and applies the assignment rule in its scope
    state
        .rbac
        .revoke_role(&auth.actor(), id.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn create_permission_grant(
    state: web::Data<AccessState>,
    auth: Authorize,
    body: web::Json<CreatePermissionGrantRequest>,
) -> Result<HttpResponse, ApiError> {
    let scope = client_scope("scope", &body.scope)?;
    let permission = client_permission("permission", &body.permission)?;
    auth.require(scope).await?;
    let g = state
        .rbac
        .grant_permission(
            &auth.actor(),
            body.user_id,
            permission,
            scope,
            body.expires_at,
        )
        .await?;
    Ok(HttpResponse::Created().json(PermissionGrantDto::from(g)))
}

async fn delete_permission_grant(
    state: web::Data<AccessState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .rbac
        .revoke_permission(&auth.actor(), id.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The `scope` a list is narrowed to: parsed (422 naming `scope`) and required of the
/// caller (403 outside their reach). Without one the list shows what the caller may read;
/// for a guest that is usually nothing, and then they are asked to sign in (401) rather
/// than shown an empty page.
async fn listed_scope(
    state: &AccessState,
    auth: &Authorize,
    scope: Option<&str>,
) -> Result<Option<Scope>, ApiError> {
    let scope = scope.map(|s| client_scope("scope", s)).transpose()?;
    match scope {
        Some(scope) => {
            auth.require(scope).await?;
        }
        None if auth.user_id().is_none() => {
            super::visible::permitted_scopes(&state.rbac, auth).await?;
        }
        None => {}
    }
    Ok(scope)
}

fn audit_cursor(text: Option<&str>) -> Result<Option<AuditCursor>, ApiError> {
    text.map(|c| {
        let key = Cursor::decode(c).ok_or_else(|| ApiError::BadRequest("invalid cursor".into()))?;
        let (at, id) = key
            .split_once('|')
            .ok_or_else(|| ApiError::BadRequest("invalid cursor".into()))?;
        let at = DateTime::parse_from_rfc3339(at)
            .map_err(|_| ApiError::BadRequest("invalid cursor".into()))?;
        let id = Uuid::parse_str(id).map_err(|_| ApiError::BadRequest("invalid cursor".into()))?;
        Ok(AuditCursor {
            at: at.with_timezone(&Utc),
            id,
        })
    })
    .transpose()
}

async fn audit(
    state: web::Data<AccessState>,
    auth: Authorize,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let scope = listed_scope(&state, &auth, q.scope.as_deref()).await?;
    let limit = PageLimit::new(q.limit);
    let before = audit_cursor(q.before.as_deref())?;
    // Without a scope, the service keeps the records of the scopes where you read them.
    let filter = AuditFilter {
        actor: q.actor,
        target: q.target,
        action: q.action,
        scope,
        since: q.since,
        until: q.until,
        readable: None,
    };
    let items = state
        .rbac
        .audit_log(&auth.actor(), filter, before, limit.get())
        .await?;
    let last = items.last().map(|r| {
        format!(
            "{}|{}",
            r.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            r.id
        )
    });
    let next = super::paging::next_cursor(last, items.len(), limit);
    Ok(HttpResponse::Ok().json(AuditPage {
        items: items.into_iter().map(Into::into).collect(),
        next,
    }))
}

async fn check(
    state: web::Data<AccessState>,
    auth: Authorize,
    body: web::Json<CheckRequest>,
) -> Result<HttpResponse, ApiError> {
    let scope = client_scope("scope", &body.scope)?;
    let permission = client_permission("permission", &body.permission)?;
    let subject = body.user_id.or(auth.user_id());
    if subject != auth.user_id() {
        auth.require(scope).await?; // explaining someone else's rights needs role.read there
    }
    let d = state.rbac.check(subject, permission, scope, None).await?;
    Ok(HttpResponse::Ok().json(CheckResponse {
        allowed: d.allowed,
        reason: d.explain(),
        decided_by: serde_json::to_value(&d.reason).unwrap_or_default(),
    }))
}

pub(crate) fn endpoints() -> Vec<Endpoint> {
    let tag = "rbac";
    vec![
        Endpoint::get("/api/rbac/roles/", "listRoles")
            .summary(tag, "Role templates with their effective permissions")
            .authenticated()
            .returns::<RoleList>(200, "Every role, highest rank first")
            .to(list_roles),
        Endpoint::post("/api/rbac/roles/", "createRole")
            .summary(tag, "Create a custom role")
            .permission("role.create")
            .body::<CreateRoleRequest>()
            .returns::<RoleDto>(201, "Created")
            .errors(&[409, 422])
            .to(create_role),
        Endpoint::get("/api/rbac/roles/{name}/", "getRole")
            .summary(tag, "One role template")
            .authenticated()
            .returns::<RoleDto>(200, "The role")
            .to(get_role),
        Endpoint::new(actix_web::http::Method::PUT, "/api/rbac/roles/{name}/permissions/", "setRolePermissions")
            .summary(tag, "Replace a role template's permissions")
            .description("`super_admin` always keeps every permission; `guest` may hold only `read` permissions and `basic_user` only `read`, `create` and `realtime_send` (read only on institutions, campuses, departments, roles, the audit trail and jobs): anything else is refused with 409 `/problems/protected-role`.")
            .permission("role.update")
            .body::<SetPermissionsRequest>()
            .returns::<RoleDto>(200, "Updated")
            .errors(&[404, 409, 422])
            .to(set_role_permissions),
        Endpoint::post("/api/rbac/roles/{name}/reset/", "resetRole")
            .summary(tag, "Reset a built-in role template to its default permissions")
            .description("Same rights as editing it (`role.update` globally, a role ranked below yours, nothing regained that you lack). Audited as `role.reset`; overrides of the role are left alone. 409 for a custom role, which has no defaults.")
            .permission("role.update")
            .returns::<RoleDto>(200, "The role, reset")
            .errors(&[404, 409])
            .to(reset_role),
        Endpoint::delete("/api/rbac/roles/{name}/", "deleteRole")
            .summary(tag, "Delete a custom role (built-in roles cannot be deleted)")
            .permission("role.delete")
            .returns_raw(204, "Deleted", None)
            .errors(&[409])
            .to(delete_role),
        Endpoint::get("/api/rbac/overrides/", "listOverrides")
            .summary(tag, "Per-scope overrides of role templates (`?scope=`)")
            .description("Without `scope`: the overrides of every scope where you hold `role.read` (your grants' scopes and the units inside, less any subtree an override denies you), an empty list when there is none; a guest who may read none gets 401. `scope` narrows it to exactly that scope, which needs `role.read` there (403 otherwise).")
            .permission("role.read")
            .query::<ScopeQuery>()
            .returns::<OverrideList>(200, "Overrides")
            .errors(&[404, 422])
            .to(list_overrides),
        Endpoint::post("/api/rbac/overrides/", "createOverride")
            .summary(tag, "Allow or deny one permission for one role inside one scope")
            .description("`super_admin` cannot be denied anything, and `guest`/`basic_user` cannot be allowed more than their template may hold (409 `/problems/protected-role`).")
            .permission("role.update")
            .body::<CreateOverrideRequest>()
            .returns::<OverrideDto>(201, "Created")
            .errors(&[404, 409, 422])
            .to(create_override),
        Endpoint::delete("/api/rbac/overrides/{id}/", "deleteOverride")
            .summary(tag, "Remove an override")
            .permission("role.update")
            .returns_raw(204, "Removed", None)
            .to(delete_override),
        Endpoint::get("/api/rbac/grants/", "listGrants")
            .summary(tag, "Role grants by user (`?user_id=`) or scope (`?scope=`)")
            .description("Without `scope`: your own grants with `user_id` set to you; otherwise the grants held in every scope where you hold `role.read` (your grants' scopes and the units inside, less any subtree an override denies you), an empty page when there is none; a guest who may read none gets 401. `scope` narrows it to grants held exactly there, which needs `role.read` there (403 otherwise). Keyset-paged: pass `next` as `after`.")
            .permission("role.read")
            .query::<GrantQuery>()
            .returns::<GrantPage>(200, "A page of grants")
            .errors(&[404, 422])
            .to(list_grants),
        Endpoint::post("/api/rbac/grants/", "createGrant")
            .summary(tag, "Grant a role in a scope, optionally until a time")
            .description("Only roles ranked strictly below your own highest role in that scope; never to yourself.")
            .permission("role.role_assign")
            .body::<CreateGrantRequest>()
            .returns::<GrantDto>(201, "Granted")
            .errors(&[404, 409, 422])
            .to(create_grant),
        Endpoint::delete("/api/rbac/grants/{id}/", "deleteGrant")
            .summary(tag, "Revoke a role grant")
            .description("Takes effect on every instance within a second, even for unexpired access tokens.")
            .permission("role.role_assign")
            .returns_raw(204, "Revoked", None)
            .to(delete_grant),
        Endpoint::post("/api/rbac/permission-grants/", "createPermissionGrant")
            .summary(tag, "Grant one permission directly, usually until a time")
            .permission("role.role_assign")
            .body::<CreatePermissionGrantRequest>()
            .returns::<PermissionGrantDto>(201, "Granted")
            .errors(&[404, 422])
            .to(create_permission_grant),
        Endpoint::delete("/api/rbac/permission-grants/{id}/", "deletePermissionGrant")
            .summary(tag, "Revoke a direct permission grant")
            .description("Same rule as granting it: `role.role_assign` in its scope and the permission itself there; never your own.")
            .permission("role.role_assign")
            .returns_raw(204, "Revoked", None)
            .to(delete_permission_grant),
        Endpoint::get("/api/rbac/audit/", "listAudit")
            .summary(tag, "The audit trail, newest first")
            .description("Filters: `actor`, `target`, `action`, `scope`, `since`, `until`; paging: `before`, `limit`. Without `scope`: the records of every scope where you hold `audit.read` (your grants' scopes and the units inside, less any subtree an override denies you; a record without a scope counts as global), an empty page when there is none; a guest who may read none gets 401. `scope` narrows it to exactly that scope, which needs `audit.read` there (403 otherwise). The trail cannot be edited or deleted.")
            .permission("audit.read")
            .query::<AuditQuery>()
            .returns::<AuditPage>(200, "A page of audit records")
            .errors(&[404, 422])
            .to(audit),
        Endpoint::post("/api/rbac/check/", "checkPermission")
            .summary(tag, "Decide and explain: may this user do this in this scope?")
            .description("Checking yourself needs nothing; checking another user needs `role.read` in the scope.")
            .permission("role.read")
            .body::<CheckRequest>()
            .returns::<CheckResponse>(200, "The decision and what decided it")
            .errors(&[404, 422])
            .to(check),
    ]
}
