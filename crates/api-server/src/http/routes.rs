//! The route table: every endpoint is declared once, in its feature's module, with what
//! the OpenAPI document needs next to the handler that serves it ([`Endpoint`]). The
//! actix router, the document, the guard's permission table and the input screen's
//! parameter table are all generated from this list, so they cannot drift apart.

use actix_web::web;

use super::endpoint::{Access, Endpoint};

/// Every endpoint the server serves.
pub fn all() -> Vec<Endpoint> {
    let mut v = Vec::new();
    v.extend(super::health::endpoints());
    v.extend(super::users::endpoints());
    v.extend(super::org::endpoints());
    v.extend(super::rbac::endpoints());
    v.extend(super::jobs::endpoints());
    v.extend(super::analytics::endpoints());
    v.extend(super::debates::endpoints());
    v.extend(super::notifications::endpoints());
    v.extend(super::ws::endpoints());
    v.extend(super::docs_ui::endpoints());
    v.extend(super::asyncapi::endpoints());
    v
}

/// Registers every endpoint, grouping methods by path so that a wrong method on a known
/// path answers 405 with an `Allow` header rather than 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let endpoints = all();
    let mut paths: Vec<&str> = Vec::new();
    for e in &endpoints {
        if !paths.contains(&e.router_path()) {
            paths.push(e.router_path());
        }
    }
    for path in paths {
        let here: Vec<&Endpoint> = endpoints
            .iter()
            .filter(|e| e.router_path() == path)
            .collect();
        let allow: Vec<String> = here.iter().map(|e| e.method.to_string()).collect();
        let mut resource = web::resource(path.to_owned());
        for e in &here {
            resource = resource.route(e.make_route());
        }
        let allow = allow.join(", ");
        resource = resource.default_service(web::to(move || {
            let allow = allow.clone();
            async move { super::fallback::method_not_allowed(&allow) }
        }));
        cfg.service(resource);
    }
}

/// The permission each route declares, for the guard's `Authorize` extractor.
pub fn permissions() -> super::guard::RoutePermissions {
    super::guard::RoutePermissions::new(
        all()
            .into_iter()
            .filter_map(|e| match e.access {
                Access::Permission(p) => Some(((e.method.clone(), e.router_path().to_owned()), p)),
                _ => None,
            })
            .collect(),
    )
}

/// The query parameters each route declares, for the input screen.
pub fn queries() -> super::input::RouteQueries {
    super::input::RouteQueries::new(
        all()
            .into_iter()
            .map(|e| {
                (
                    (e.method.clone(), e.router_path().to_owned()),
                    e.query_names(),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_is_unique_and_declared_fully() {
        let all = all();
        let mut seen = std::collections::HashSet::new();
        for e in &all {
            assert!(
                seen.insert((e.method.clone(), e.router_path().to_owned())),
                "{} declared twice",
                e.path
            );
            assert!(
                !e.operation_id.is_empty() && (e.hidden || !e.summary.is_empty()),
                "{} lacks docs",
                e.path
            );
        }
        let ids: std::collections::HashSet<_> = all.iter().map(|e| e.operation_id).collect();
        assert_eq!(ids.len(), all.len(), "operation ids must be unique");
    }

    #[test]
    fn router_path_drops_trailing_slash() {
        let e = Endpoint::get("/api/users/me/", "x");
        assert_eq!(e.router_path(), "/api/users/me");
        assert_eq!(Endpoint::get("/", "y").router_path(), "/");
        assert_eq!(Endpoint::delete("/a/{id}/", "z").path_params(), vec!["id"]);
    }
}
