//! How an endpoint is declared: path, method, access, schemas, errors, and the handler —
//! everything the router and the OpenAPI document need, next to the handler. Each
//! feature declares its endpoints with [`Endpoint`]; [`super::routes`] gathers them.

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, Route, web};
use domain_rbac::Permission;
use schemars::JsonSchema;
use schemars::r#gen::SchemaGenerator;
use schemars::schema::Schema;

/// Produces the schema of a type, recording its definition in the generator.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// The schema of a type itself rather than a reference to it: query strings are described
/// field by field, as parameters.
fn inline_schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    T::json_schema(g)
}

/// Who may call an endpoint. Every endpoint must say; [`Access::Undeclared`] fails the
/// route-table test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Not declared yet (a bug: the route-table test rejects it).
    Undeclared,
    /// Anyone, signed in or not, with no permission check (health, docs, login).
    Public,
    /// Any signed-in caller, acting on their own account only (`/api/users/me/…`).
    Authenticated,
    /// Callers for whom the RBAC engine allows this permission in the resource's scope
    /// (anonymous callers act as `guest`). The handler supplies the scope; the permission
    /// comes from here, through the [`crate::http::guard::Authorize`] extractor.
    Permission(Permission),
}

impl Access {
    /// Text of the `x-access` extension in the OpenAPI document.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Undeclared => "undeclared",
            Self::Public => "public",
            Self::Authenticated => "authenticated",
            Self::Permission(_) => "permission",
        }
    }

    /// Whether a bearer token is required to call it at all.
    pub fn needs_token(self) -> bool {
        matches!(self, Self::Authenticated)
    }
}

/// A successful answer of an endpoint.
#[derive(Clone, Copy)]
pub struct Success {
    /// Status code.
    pub status: u16,
    /// What it means.
    pub description: &'static str,
    /// Media type of the body, if any.
    pub media_type: Option<&'static str>,
    /// Schema of a JSON body.
    pub schema: Option<SchemaFn>,
    /// Other media types the body may come in (content negotiation, `?format=`).
    pub other_media: &'static [&'static str],
    /// Other success statuses answered with the same body, e.g. 200 beside 201 when a
    /// request replaced something rather than created it.
    pub other_statuses: &'static [(u16, &'static str)],
}

/// One HTTP endpoint.
pub struct Endpoint {
    /// HTTP method.
    pub method: Method,
    /// Path as documented, with a trailing slash for API routes (the slash is optional
    /// when calling).
    pub path: &'static str,
    /// OpenAPI `operationId`.
    pub operation_id: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Longer description (Markdown).
    pub description: &'static str,
    /// OpenAPI tag.
    pub tag: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Schema of the JSON request body, if it takes one.
    pub request: Option<SchemaFn>,
    /// Schema of the query string (an object, one parameter per property), if it reads one.
    pub query: Option<SchemaFn>,
    /// Body fields the document lists as required although the type defaults them.
    pub required_in_body: &'static [&'static str],
    /// The success answer.
    pub success: Success,
    /// Error statuses specific to this endpoint (generic ones are added automatically).
    pub errors: &'static [u16],
    /// Left out of the OpenAPI document (the docs page and its assets).
    pub hidden: bool,
    route: Box<dyn Fn() -> Route + Send + Sync>,
}

impl Endpoint {
    /// Starts declaring an endpoint; finish with [`Endpoint::to`].
    pub fn new(method: Method, path: &'static str, operation_id: &'static str) -> Self {
        Self {
            route: Box::new(web::route),
            method,
            path,
            operation_id,
            summary: "",
            description: "",
            tag: "",
            access: Access::Undeclared,
            request: None,
            query: None,
            required_in_body: &[],
            success: Success {
                status: 200,
                description: "OK",
                media_type: None,
                schema: None,
                other_media: &[],
                other_statuses: &[],
            },
            errors: &[],
            hidden: false,
        }
    }

    /// Shorthand for a GET endpoint.
    pub fn get(path: &'static str, operation_id: &'static str) -> Self {
        Self::new(Method::GET, path, operation_id)
    }

    /// Shorthand for a POST endpoint.
    pub fn post(path: &'static str, operation_id: &'static str) -> Self {
        Self::new(Method::POST, path, operation_id)
    }

    /// Shorthand for a PUT endpoint.
    pub fn put(path: &'static str, operation_id: &'static str) -> Self {
        Self::new(Method::PUT, path, operation_id)
    }

    /// Shorthand for a DELETE endpoint.
    pub fn delete(path: &'static str, operation_id: &'static str) -> Self {
        Self::new(Method::DELETE, path, operation_id)
    }

    /// Sets summary and tag.
    pub fn summary(mut self, tag: &'static str, summary: &'static str) -> Self {
        self.tag = tag;
        self.summary = summary;
        self
    }

    /// Sets the long description.
    pub fn description(mut self, text: &'static str) -> Self {
        self.description = text;
        self
    }

    /// Open to anonymous callers.
    pub fn public(mut self) -> Self {
        self.access = Access::Public;
        self
    }

    /// Any signed-in caller, on their own account.
    pub fn authenticated(mut self) -> Self {
        self.access = Access::Authenticated;
        self
    }

    /// Guarded by `permission` (`resource.action`) in the resource's scope.
    ///
    /// # Panics
    /// At startup, on a permission string that is not in the catalogue (a programming
    /// error caught by the route-table test).
    #[allow(clippy::expect_used)]
    pub fn permission(mut self, permission: &str) -> Self {
        self.access =
            Access::Permission(permission.parse().expect("permission from the catalogue"));
        self
    }

    /// Takes a JSON body of type `T`.
    pub fn body<T: JsonSchema>(mut self) -> Self {
        self.request = Some(schema_of::<T>);
        self
    }

    /// Fields of the body that a request must carry, although the type defaults them
    /// (`#[serde(default)]`) so that a form missing several gets one 422 naming each,
    /// rather than a 400 about the first. schemars cannot mark a defaulted field required.
    pub fn required_in_body(mut self, fields: &'static [&'static str]) -> Self {
        self.required_in_body = fields;
        self
    }

    /// Reads the query string as a `T` (`web::Query<T>`); each field is a parameter.
    pub fn query<T: JsonSchema>(mut self) -> Self {
        self.query = Some(inline_schema_of::<T>);
        self
    }

    /// Answers `status` with a JSON body of type `T`.
    pub fn returns<T: JsonSchema>(mut self, status: u16, description: &'static str) -> Self {
        self.success = Success {
            status,
            description,
            media_type: Some("application/json"),
            schema: Some(schema_of::<T>),
            other_media: &[],
            other_statuses: &[],
        };
        self
    }

    /// The success body may also come as these media types.
    pub fn also_as(mut self, media: &'static [&'static str]) -> Self {
        self.success.other_media = media;
        self
    }

    /// These statuses are successes too, with the same body.
    pub fn also_returns(mut self, statuses: &'static [(u16, &'static str)]) -> Self {
        self.success.other_statuses = statuses;
        self
    }

    /// Answers `status` with a body of `media_type` that has no JSON schema (or none).
    pub fn returns_raw(
        mut self,
        status: u16,
        description: &'static str,
        media_type: Option<&'static str>,
    ) -> Self {
        self.success = Success {
            status,
            description,
            media_type,
            schema: None,
            other_media: &[],
            other_statuses: &[],
        };
        self
    }

    /// Error statuses this endpoint can answer besides the generic ones.
    pub fn errors(mut self, statuses: &'static [u16]) -> Self {
        self.errors = statuses;
        self
    }

    /// Keeps the endpoint out of the OpenAPI document.
    pub fn hidden(mut self) -> Self {
        self.hidden = true;
        self
    }

    /// The handler serving it.
    pub fn to<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args> + Send + Sync,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let method = self.method.clone();
        self.route = Box::new(move || web::method(method.clone()).to(handler.clone()));
        self
    }

    /// The path as actix matches it: requests are normalised to have no trailing slash.
    pub fn router_path(&self) -> &str {
        match self.path.trim_end_matches('/') {
            "" => "/",
            p => p,
        }
    }

    /// Names of the query parameters it reads: the properties of its declared query type,
    /// the same list the OpenAPI document shows.
    pub fn query_names(&self) -> Vec<String> {
        let Some(schema_fn) = self.query else {
            return Vec::new();
        };
        let mut generator = schemars::r#gen::SchemaSettings::openapi3().into_generator();
        schema_fn(&mut generator)
            .into_object()
            .object
            .map(|o| o.properties.into_keys().collect())
            .unwrap_or_default()
    }

    /// Names of the `{parameters}` in the path.
    pub fn path_params(&self) -> Vec<&'static str> {
        self.path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect()
    }

    /// Every error status this endpoint can answer, generic ones included.
    pub fn all_errors(&self) -> Vec<u16> {
        let mut out: Vec<u16> = self.errors.to_vec();
        if self.request.is_some() {
            out.extend([400, 413, 415]);
        }
        if self.query.is_some() {
            // a query string that does not deserialize (a word where a number goes)
            out.push(400);
        }
        match self.access {
            Access::Authenticated => out.push(401),
            Access::Permission(_) => out.extend([401, 403]),
            _ => {}
        }
        if !self.path_params().is_empty() {
            out.push(404);
        }
        // `input::screen` refuses control characters in any path, query or body
        out.push(422);
        // Everything but the liveness probe and the static document reaches storage, and
        // answers 503 while PostgreSQL or Redis is unreachable.
        if !matches!(self.path, "/healthz" | "/api/schema/") {
            out.push(503);
        }
        out.push(500);
        out.sort_unstable();
        out.dedup();
        out
    }

    pub(crate) fn make_route(&self) -> Route {
        (self.route)()
    }
}
