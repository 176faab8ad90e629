//! The OpenAPI 3 document, generated from the route table and the request/response
//! types' schemas, so it describes exactly what the router serves.

use actix_web::http::Method;
use okapi::openapi3::{
    Components, Info, MediaType, OpenApi, Operation, Parameter, ParameterValue, PathItem, RefOr,
    RequestBody, Response, Responses, SecurityRequirement, SecurityScheme, SecuritySchemeData, Tag,
};
use okapi::{Map, map};
use schemars::r#gen::SchemaSettings;
use schemars::schema::{Schema, SchemaObject};

use super::endpoint::{Access, Endpoint};
use super::problem::{PROBLEM_JSON, Problem};
use super::routes;

const DESCRIPTION: &str = "Agora is the backend of online debate platforms for schools and \
universities: accounts, live debate rooms, moderation, voting, notifications and a scoped \
role system.\n\n\
**Authentication.** `POST /api/users/login/` returns a short-lived JWT access token and a \
single-use refresh token. Send the access token as `Authorization: Bearer <token>`. \
Exchange the refresh token at `POST /api/users/token/refresh/`; each refresh token works \
once, and presenting a used one again revokes its whole session.\n\n\
**Errors.** Every 4xx/5xx answer is an RFC 9457 `application/problem+json` document; \
validation problems list each invalid field in `errors`. A query parameter an operation \
does not list is refused the same way (422), so a misspelt filter never returns an unfiltered list.\n\n\
**Paths.** A trailing slash is optional on every route.\n\n\
**Real time.** A live session's room is a WebSocket at `GET /ws/debate/{session_id}/` \
(not listed below): send the access token as a bearer header or `?token=`; reading needs \
`debate_session.read` in the session's scope, refusals are answered as problems before the \
upgrade. Frames are JSON objects with a `type`: the client sends `message.send {body, \
client_id, reply_to?}`, `ping` and `auth {token}` (a fresh access token of the same user, \
answered with `auth.ok {expires_at}`); the server sends `message.created {message}` (a \
`MessageDto`, in `seq` order, each once), `ack {client_id, seq}`, `error {code, detail}`, \
`pong` and `session.status {status}`. Reconnect with `?since={seq}` to receive every \
message after `seq` before the live stream. Limits: 64 KiB frames (close 1009), 5 messages/s \
with bursts of 10 (`rate_limited`), a client too slow to keep up is closed with 1013, server \
shutdown closes with 1001, and a socket whose token expired or was revoked (logout) is \
closed with 4401 at the next heartbeat. The full protocol is in `docs/realtime.md`.";

/// Builds the document.
pub fn document() -> OpenApi {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let problem_schema = generator.subschema_for::<Problem>();
    let mut paths: Map<String, PathItem> = Map::new();
    let mut tags: Vec<String> = Vec::new();

    for e in routes::all().into_iter().filter(|e| !e.hidden) {
        if !tags.iter().any(|t| t == e.tag) {
            tags.push(e.tag.to_owned());
        }
        let op = operation(&e, &mut generator, &problem_schema);
        let item = paths.entry(e.path.to_owned()).or_default();
        match e.method {
            Method::GET => item.get = Some(op),
            Method::POST => item.post = Some(op),
            Method::PUT => item.put = Some(op),
            Method::PATCH => item.patch = Some(op),
            Method::DELETE => item.delete = Some(op),
            _ => {}
        }
    }

    let schemas = generator
        .take_definitions()
        .into_iter()
        .map(|(k, v)| (k, v.into_object()))
        .collect();
    OpenApi {
        openapi: OpenApi::default_version(),
        info: Info {
            title: "Agora API".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: Some(DESCRIPTION.into()),
            ..Default::default()
        },
        paths,
        components: Some(Components {
            schemas,
            security_schemes: map! {
                "bearer".to_owned() => RefOr::Object(SecurityScheme {
                    description: Some("JWT access token from POST /api/users/login/".into()),
                    data: SecuritySchemeData::Http { scheme: "bearer".into(), bearer_format: Some("JWT".into()) },
                    extensions: Map::new(),
                })
            },
            ..Default::default()
        }),
        tags: tags
            .into_iter()
            .map(|name| Tag {
                name,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn json(media: &str, schema: Schema) -> Map<String, MediaType> {
    map! { media.to_owned() => MediaType { schema: Some(schema.into_object()), ..Default::default() } }
}

fn operation(
    e: &Endpoint,
    g: &mut schemars::r#gen::SchemaGenerator,
    problem: &Schema,
) -> Operation {
    let mut responses: Map<String, RefOr<Response>> = Map::new();
    let mut content = match (e.success.media_type, e.success.schema) {
        (Some(media), Some(schema)) => json(media, schema(g)),
        (Some(media), None) => map! { media.to_owned() => MediaType::default() },
        _ => Map::new(),
    };
    for media in e.success.other_media {
        content.insert((*media).to_owned(), MediaType::default());
    }
    let statuses = std::iter::once((e.success.status, e.success.description))
        .chain(e.success.other_statuses.iter().copied());
    for (status, description) in statuses {
        responses.insert(
            status.to_string(),
            RefOr::Object(Response {
                description: description.into(),
                content: content.clone(),
                ..Default::default()
            }),
        );
    }
    for status in e.all_errors() {
        let reason = actix_web::http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        responses.insert(
            status.to_string(),
            RefOr::Object(Response {
                description: reason.into(),
                content: json(PROBLEM_JSON, problem.clone()),
                ..Default::default()
            }),
        );
    }
    let mut parameters: Vec<RefOr<Parameter>> = e
        .path_params()
        .into_iter()
        .map(|name| {
            RefOr::Object(Parameter {
                name: name.to_owned(),
                location: "path".into(),
                description: None,
                required: true,
                deprecated: false,
                allow_empty_value: false,
                value: ParameterValue::Schema {
                    style: None,
                    explode: None,
                    allow_reserved: false,
                    schema: path_param_schema(name, g),
                    example: None,
                    examples: None,
                },
                extensions: Map::new(),
            })
        })
        .collect();
    if let Some(query) = e.query {
        parameters.extend(query_parameters(query(g)));
    }
    let bearer: SecurityRequirement = map! { "bearer".to_owned() => vec![] };
    let security: Vec<SecurityRequirement> = match e.access {
        Access::Public | Access::Undeclared => vec![],
        Access::Authenticated => vec![bearer],
        // anonymous callers are evaluated as `guest`, so the token is optional
        Access::Permission(_) => vec![SecurityRequirement::new(), bearer],
    };
    let mut extensions = Map::new();
    extensions.insert(
        "x-access".to_owned(),
        serde_json::Value::from(e.access.as_str()),
    );
    let mut description = e.description.to_owned();
    if let Access::Permission(p) = e.access {
        extensions.insert(
            "x-permission".to_owned(),
            serde_json::Value::from(p.to_string()),
        );
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        description.push_str(&format!(
            "**Requires** `{p}` in the resource's scope (anonymous callers act as `guest`)."
        ));
    }
    Operation {
        tags: vec![e.tag.to_owned()],
        summary: Some(e.summary.to_owned()),
        description: (!description.is_empty()).then_some(description),
        operation_id: Some(e.operation_id.to_owned()),
        parameters,
        request_body: e.request.map(|schema| {
            let schema = schema(g);
            require_fields(g, &schema, e.required_in_body);
            close_object(g, &schema);
            RefOr::Object(RequestBody {
                content: json("application/json", schema),
                required: true,
                ..Default::default()
            })
        }),
        responses: Responses {
            responses,
            ..Default::default()
        },
        security: Some(security),
        extensions,
        ..Default::default()
    }
}

/// The schema of a path parameter, by its name (one meaning per name across the API).
fn path_param_schema(name: &str, g: &mut schemars::r#gen::SchemaGenerator) -> SchemaObject {
    match name {
        "name" => super::schema::role_name(g).into_object(),
        "kind" => super::schema::notification_kind(g).into_object(),
        "seq" => {
            let mut s = g.subschema_for::<i64>().into_object();
            s.number().minimum = Some(1.0);
            s
        }
        _ => g.subschema_for::<uuid::Uuid>().into_object(),
    }
}

/// Marks `fields` required in the definition `schema` refers to.
fn require_fields(g: &mut schemars::r#gen::SchemaGenerator, schema: &Schema, fields: &[&str]) {
    let Schema::Object(SchemaObject {
        reference: Some(reference),
        ..
    }) = schema
    else {
        return;
    };
    let name = reference.rsplit('/').next().unwrap_or_default();
    if let Some(Schema::Object(definition)) = g.definitions_mut().get_mut(name) {
        let object = definition.object();
        for field in fields {
            object.required.insert((*field).to_owned());
            // a default would tell clients they may leave it out
            if let Some(Schema::Object(property)) = object.properties.get_mut(*field)
                && let Some(m) = property.metadata.as_mut()
            {
                m.default = None;
            }
        }
    }
}

/// Declares that the body definition `schema` refers to (or each of its `oneOf` branches)
/// has no properties beyond those listed: the input screen refuses control characters in
/// any key or string of a body, so an unlisted property is not something a client may
/// send freely, and the document must not promise otherwise.
fn close_object(g: &mut schemars::r#gen::SchemaGenerator, schema: &Schema) {
    let Schema::Object(SchemaObject {
        reference: Some(reference),
        ..
    }) = schema
    else {
        return;
    };
    let name = reference.rsplit('/').next().unwrap_or_default();
    let Some(Schema::Object(definition)) = g.definitions_mut().get_mut(name) else {
        return;
    };
    let close = |o: &mut SchemaObject| {
        if let Some(object) = o.object.as_mut()
            && !object.properties.is_empty()
        {
            object.additional_properties = Some(Box::new(Schema::Bool(false)));
        }
    };
    close(definition);
    if let Some(branches) = definition
        .subschemas
        .as_mut()
        .and_then(|s| s.one_of.as_mut())
    {
        for branch in branches {
            if let Schema::Object(b) = branch {
                close(b);
            }
        }
    }
}

/// One `in: query` parameter per property of an object schema (a `web::Query<T>` type),
/// required when the type requires it, its doc comment as the description.
fn query_parameters(schema: Schema) -> Vec<RefOr<Parameter>> {
    let object = schema.into_object();
    let Some(validation) = object.object else {
        return Vec::new();
    };
    validation
        .properties
        .into_iter()
        .map(|(name, schema)| {
            let mut schema = schema.into_object();
            let description = schema.metadata.as_mut().and_then(|m| m.description.take());
            // `nullable` and a `null` default mean nothing in a query string: a parameter
            // is there or not.
            schema.extensions.remove("nullable");
            if let Some(m) = schema.metadata.as_mut()
                && m.default == Some(serde_json::Value::Null)
            {
                m.default = None;
            }
            RefOr::Object(Parameter {
                required: validation.required.contains(&name),
                name,
                location: "query".into(),
                description,
                deprecated: false,
                allow_empty_value: false,
                value: ParameterValue::Schema {
                    style: None,
                    explode: None,
                    allow_reserved: false,
                    schema,
                    example: None,
                    examples: None,
                },
                extensions: Map::new(),
            })
        })
        .collect()
}

/// The document as pretty JSON.
pub fn document_json() -> String {
    serde_json::to_string_pretty(&document()).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document and the router come from one list; this checks the projection: every
    /// visible endpoint is in the document with its method, and nothing else is.
    #[test]
    fn document_matches_route_table() {
        let doc = serde_json::to_value(document()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let mut documented = 0;
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                documented += 1;
                let found = routes::all().into_iter().any(|e| {
                    !e.hidden && e.path == path && e.method.as_str().eq_ignore_ascii_case(method)
                });
                assert!(found, "{method} {path} documented but not served");
                assert!(op["responses"].as_object().unwrap().contains_key("500"));
                assert!(op["x-access"].is_string(), "{method} {path} lacks x-access");
            }
        }
        let visible = routes::all().into_iter().filter(|e| !e.hidden).count();
        assert_eq!(documented, visible, "served but undocumented endpoints");
    }

    /// What a client (or a fuzzer) needs to send valid requests is in the document: the
    /// words a field accepts, the shape of scopes, which login fields go together, the
    /// query parameters, and which problem fields may be absent.
    #[test]
    fn document_states_the_rules() {
        let doc = serde_json::to_value(document()).unwrap();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["JoinRequest"]["properties"]["side"]["enum"],
            serde_json::json!(["pro", "con", "audience"])
        );
        assert!(
            schemas["CreateGrantRequest"]["properties"]["scope"]["pattern"]
                .as_str()
                .unwrap()
                .starts_with("^(global|(institution|campus|department):")
        );
        assert_eq!(
            schemas["LoginRequest"]["oneOf"].as_array().unwrap().len(),
            3
        );
        assert_eq!(schemas["VoteRequest"]["oneOf"].as_array().unwrap().len(), 2);
        let required = schemas["RegisterRequest"]["required"].as_array().unwrap();
        assert_eq!(
            required.len(),
            3,
            "username, email and password are required"
        );
        assert_eq!(
            schemas["RegisterRequest"]["properties"]["password"]["minLength"],
            10
        );
        let problem_required = schemas["Problem"]["required"].as_array().unwrap();
        assert!(
            !problem_required
                .iter()
                .any(|f| f == "errors" || f == "detail")
        );

        let list = &doc["paths"]["/api/debates/sessions/"]["get"];
        let params: Vec<&str> = list["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for name in ["topic", "status", "scope", "after", "limit"] {
            assert!(params.contains(&name), "{name} missing from {params:?}");
        }
        let vote = &doc["paths"]["/api/debates/sessions/{id}/votes/"]["post"]["responses"];
        assert!(vote["200"].is_object() && vote["201"].is_object());
        let transcript =
            &doc["paths"]["/api/debates/sessions/{id}/transcript/"]["get"]["responses"]["200"];
        assert!(transcript["content"]["text/markdown"].is_object());
    }
}
