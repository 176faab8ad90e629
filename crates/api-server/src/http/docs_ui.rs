//! The OpenAPI document and the interactive docs page. Swagger UI's assets are compiled
//! into the binary, so the page works with no network beyond the server itself.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::endpoint::Endpoint;

const BUNDLE_JS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
const UI_CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");

/// The docs page. `validatorUrl: null` stops Swagger UI from calling its online validator.
const INDEX_HTML: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Agora API</title>
  <link rel="stylesheet" href="/api/docs/swagger-ui.css">
</head>
<body>
  <p style="font-family: sans-serif; margin: 1em 2em 0">
    REST: the OpenAPI document below (<a href="/api/schema/">/api/schema/</a>).
    Real time: one WebSocket, <code>/ws/</code>, described by its AsyncAPI 3 document,
    <a href="/api/asyncapi.json">/api/asyncapi.json</a>.
  </p>
  <div id="swagger-ui"></div>
  <script src="/api/docs/swagger-ui-bundle.js"></script>
  <script>
    window.onload = function () {
      window.ui = SwaggerUIBundle({
        url: "/api/schema/",
        dom_id: "#swagger-ui",
        validatorUrl: null,
        deepLinking: true,
        persistAuthorization: false
      });
    };
  </script>
</body>
</html>
"##;

/// Pre-rendered OpenAPI document, shared by the handler.
#[derive(Clone)]
pub struct OpenApiJson(pub std::sync::Arc<String>);

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/schema/", "openapiSchema")
            .summary("documentation", "The OpenAPI 3 document of this API")
            .public()
            .returns_raw(200, "OpenAPI 3.0 document", Some("application/json"))
            .to(schema),
        Endpoint::get("/api/docs/", "docsPage")
            .summary("documentation", "Interactive API docs")
            .public()
            .hidden()
            .to(index),
        Endpoint::get("/api/docs/swagger-ui-bundle.js", "docsBundle")
            .public()
            .hidden()
            .to(bundle),
        Endpoint::get("/api/docs/swagger-ui.css", "docsCss")
            .public()
            .hidden()
            .to(css),
    ]
}

async fn schema(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.as_str().to_owned())
}

async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'"))
        .body(INDEX_HTML)
}

fn asset(content_type: &'static str, bytes: &'static [u8]) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(bytes)
}

async fn bundle() -> HttpResponse {
    asset("text/javascript; charset=utf-8", BUNDLE_JS)
}

async fn css() -> HttpResponse {
    asset("text/css; charset=utf-8", UI_CSS)
}
