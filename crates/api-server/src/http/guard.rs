//! The one authorization guard, shared by HTTP routes and WebSocket handlers: both call
//! [`Guard::require`], which asks the RBAC engine. For HTTP, the [`Authorize`] extractor
//! binds it to the permission the route declared in the route table, so a handler picks
//! the scope (from the path or body) but never the permission.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use domain_identity::Principal;
use domain_rbac::{Actor, Decision, Permission, RbacService, Scope};
use uuid::Uuid;

use super::context::RequestId;
use super::problem::ApiError;

/// Decides requests through the RBAC engine.
#[derive(Clone)]
pub struct Guard {
    rbac: Arc<RbacService>,
}

impl Guard {
    /// A guard over this engine.
    pub fn new(rbac: Arc<RbacService>) -> Self {
        Self { rbac }
    }

    /// Allows or refuses `permission` in `scope` for `who` (anonymous = guest), on a
    /// resource created by `owner` if given. Anonymous callers that are refused get 401
    /// (signing in may help); signed-in callers get 403 naming the reason.
    ///
    /// # Errors
    /// [`ApiError::Unauthorized`], [`ApiError::Forbidden`], [`ApiError::NotFound`] for a
    /// scope that does not exist.
    pub async fn require(
        &self,
        who: Option<&Principal>,
        permission: Permission,
        scope: Scope,
        owner: Option<Uuid>,
    ) -> Result<Decision, ApiError> {
        self.require_resource(who, permission, scope, owner, false)
            .await
    }

    /// Like [`Guard::require`], for a resource that may have been opened to the public
    /// (`public`), which the implicit global roles may then read.
    ///
    /// # Errors
    /// As [`Guard::require`].
    pub async fn require_resource(
        &self,
        who: Option<&Principal>,
        permission: Permission,
        scope: Scope,
        owner: Option<Uuid>,
        public: bool,
    ) -> Result<Decision, ApiError> {
        let user = who.map(|p| p.user_id.as_uuid());
        let decision = self
            .rbac
            .check_resource(user, permission, scope, owner, public)
            .await?;
        if decision.allowed {
            return Ok(decision);
        }
        tracing::info!(%permission, %scope, reason = %decision.explain(), "access denied");
        if who.is_none() {
            Err(ApiError::Unauthorized(format!(
                "sign in: {permission} is needed in {scope}"
            )))
        } else {
            Err(ApiError::Forbidden(format!(
                "{permission} is needed in {scope}: {}",
                decision.explain()
            )))
        }
    }
}

/// Permissions declared by the route table, by method and route pattern (built by
/// [`super::routes::permissions`], so the guard does not depend on the route table that
/// depends on it).
#[derive(Clone, Default)]
pub struct RoutePermissions(Arc<HashMap<(Method, String), Permission>>);

impl RoutePermissions {
    /// The table of `(method, router path) → permission`.
    pub fn new(map: HashMap<(Method, String), Permission>) -> Self {
        Self(Arc::new(map))
    }
}

/// The caller (possibly anonymous) and the permission their route requires.
pub struct Authorize {
    /// The authenticated caller, or `None` (guest).
    pub principal: Option<Principal>,
    permission: Permission,
    guard: Guard,
    request_id: Option<String>,
}

impl Authorize {
    /// Requires the route's permission in `scope`.
    ///
    /// # Errors
    /// As [`Guard::require`].
    pub async fn require(&self, scope: Scope) -> Result<Decision, ApiError> {
        self.guard
            .require(self.principal.as_ref(), self.permission, scope, None)
            .await
    }

    /// Requires `permission`, besides the route's own, in `scope`: for an action that
    /// needs a second right, such as taking a debater's seat.
    ///
    /// # Errors
    /// As [`Guard::require`].
    pub async fn require_also(
        &self,
        permission: Permission,
        scope: Scope,
    ) -> Result<Decision, ApiError> {
        self.guard
            .require(self.principal.as_ref(), permission, scope, None)
            .await
    }

    /// Requires the route's permission in `scope`, with ownership of the resource
    /// counted (its creator may manage it).
    ///
    /// # Errors
    /// As [`Guard::require`].
    pub async fn require_on(
        &self,
        scope: Scope,
        owner: Option<Uuid>,
    ) -> Result<Decision, ApiError> {
        self.guard
            .require(self.principal.as_ref(), self.permission, scope, owner)
            .await
    }

    /// Requires the route's permission in `scope` on a resource that may have been opened
    /// to the public (`public`).
    ///
    /// # Errors
    /// As [`Guard::require`].
    pub async fn require_resource(
        &self,
        scope: Scope,
        owner: Option<Uuid>,
        public: bool,
    ) -> Result<Decision, ApiError> {
        self.guard
            .require_resource(
                self.principal.as_ref(),
                self.permission,
                scope,
                owner,
                public,
            )
            .await
    }

    /// Requires `read` (not the route's permission) on one resource, answering 404 naming
    /// `what` when refused: write routes call it first, so a caller who may not even see
    /// the resource learns nothing about it, and one who may see it but not change it gets
    /// the 403 of the route's own check afterwards.
    ///
    /// # Errors
    /// [`ApiError::NotFound`] when refused; storage errors.
    pub async fn require_readable(
        &self,
        read: Permission,
        what: &str,
        scope: Scope,
        owner: Option<Uuid>,
        public: bool,
    ) -> Result<(), ApiError> {
        match self
            .guard
            .require_resource(self.principal.as_ref(), read, scope, owner, public)
            .await
        {
            Ok(_) => Ok(()),
            Err(ApiError::Unauthorized(_) | ApiError::Forbidden(_)) => {
                Err(ApiError::NotFound(format!("{what} not found")))
            }
            Err(e) => Err(e),
        }
    }

    /// The route's permission, as declared in the route table.
    pub fn permission(&self) -> Permission {
        self.permission
    }

    /// The caller as an audit actor.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.user_id(),
            request_id: self.request_id.clone(),
        }
    }

    /// The caller's user id, if signed in.
    pub fn user_id(&self) -> Option<Uuid> {
        self.principal.as_ref().map(|p| p.user_id.as_uuid())
    }
}

impl FromRequest for Authorize {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let guard = req.app_data::<web::Data<Guard>>().cloned();
        let declared = req
            .app_data::<web::Data<RoutePermissions>>()
            .and_then(|table| {
                let pattern = req.match_pattern()?;
                table.0.get(&(req.method().clone(), pattern)).copied()
            });
        let has_token = req
            .headers()
            .contains_key(actix_web::http::header::AUTHORIZATION);
        let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
        let authenticated = has_token.then(|| super::extract::Authenticated::extract(req));
        Box::pin(async move {
            let guard = guard.ok_or_else(|| ApiError::internal("the guard is not registered"))?;
            let permission =
                declared.ok_or_else(|| ApiError::internal("route has no declared permission"))?;
            let principal = match authenticated {
                Some(fut) => Some(fut.await?.0),
                None => None,
            };
            Ok(Self {
                principal,
                permission,
                guard: Guard::clone(&guard),
                request_id,
            })
        })
    }
}
