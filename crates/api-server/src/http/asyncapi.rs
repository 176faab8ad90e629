//! `GET /api/asyncapi.json`: the socket protocol as an AsyncAPI 3 document, generated
//! from the frame types the server itself reads and writes
//! ([`crate::realtime::frames`]): each variant of [`ServerFrame`] and [`ClientFrame`] is
//! one message, its JSON Schema the message's payload. A frame added to the server is in
//! the document; nothing else is.

use actix_web::{HttpResponse, web};
use schemars::r#gen::SchemaSettings;
use schemars::schema::{RootSchema, Schema};
use serde_json::{Map, Value, json};

use super::endpoint::Endpoint;
use crate::realtime::connection::{
    CLIENT_TIMEOUT, FRAME_BURST, FRAMES_PER_SECOND, HEARTBEAT_EVERY, MAX_FRAME, MAX_SUBSCRIPTIONS,
    REMOVED_CLOSE_CODE, SIGNED_OUT_CLOSE_CODE,
};
use crate::realtime::frames::{ClientFrame, ServerFrame};
use crate::realtime::topic::KINDS;

/// Pre-rendered AsyncAPI document, shared by the handler.
#[derive(Clone)]
pub struct AsyncApiJson(pub std::sync::Arc<String>);

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/asyncapi.json", "asyncapiDocument")
            .summary(
                "documentation",
                "The AsyncAPI 3 document of the socket protocol (/ws/)",
            )
            .public()
            .returns_raw(200, "AsyncAPI 3.0 document", Some("application/json"))
            .to(serve),
    ]
}

async fn serve(doc: web::Data<AsyncApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.as_str().to_owned())
}

fn schema_of<T: schemars::JsonSchema>() -> RootSchema {
    SchemaSettings::draft07()
        .with(|s| {
            s.definitions_path = "#/components/schemas/".into();
            s.option_add_null_type = false;
        })
        .into_generator()
        .into_root_schema_for::<T>()
}

/// The `type` constant of one variant's schema.
fn type_of(variant: &Value) -> Option<String> {
    let t = variant.pointer("/properties/type")?;
    t.get("enum")
        .and_then(|e| e.get(0))
        .or_else(|| t.get("const"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// One message per variant of `T` (an internally tagged enum), named by its `type`; the
/// shared definitions go into `schemas`.
fn messages_of<T: schemars::JsonSchema>(
    messages: &mut Map<String, Value>,
    schemas: &mut Map<String, Value>,
) -> Vec<String> {
    let root = schema_of::<T>();
    for (name, def) in &root.definitions {
        schemas.insert(
            name.clone(),
            serde_json::to_value(def).unwrap_or(Value::Null),
        );
    }
    let variants: Vec<Schema> = root
        .schema
        .subschemas
        .as_ref()
        .and_then(|s| s.one_of.clone())
        .unwrap_or_default();
    let mut names = Vec::new();
    for variant in variants {
        let payload = serde_json::to_value(&variant).unwrap_or(Value::Null);
        let Some(name) = type_of(&payload) else {
            continue;
        };
        let summary = payload
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        messages.insert(
            name.clone(),
            json!({
                "name": name,
                "title": name,
                "summary": summary,
                "contentType": "application/json",
                "payload": payload,
            }),
        );
        names.push(name);
    }
    names
}

fn refs(names: &[String]) -> Vec<Value> {
    names
        .iter()
        .map(|n| json!({"$ref": format!("#/components/messages/{}", n.replace('/', "~1"))}))
        .collect()
}

fn channel_messages(names: &[String]) -> Value {
    let mut m = Map::new();
    for n in names {
        m.insert(
            n.clone(),
            json!({"$ref": format!("#/components/messages/{n}")}),
        );
    }
    Value::Object(m)
}

/// The document.
pub fn document() -> Value {
    let mut messages = Map::new();
    let mut schemas = Map::new();
    let server = messages_of::<ServerFrame>(&mut messages, &mut schemas);
    let client = messages_of::<ClientFrame>(&mut messages, &mut schemas);
    let all: Vec<String> = server.iter().chain(&client).cloned().collect();
    let topics: Vec<String> = KINDS
        .iter()
        .map(|(kind, what)| format!("- `{kind}`: {what}"))
        .collect();
    let description = format!(
        "One WebSocket per client: `GET /ws/?token=<access token>` (or a bearer header). \
         The client subscribes to topics with `subscribe {{topic, since?}}` and gets \
         `subscribed`; every frame about a topic names it in `topic`. Topic kinds:\n\n{}\n\n\
         Limits: {MAX_SUBSCRIPTIONS} subscriptions per connection; {FRAMES_PER_SECOND} client \
         frames per second (bursts of {FRAME_BURST}); frames up to {} KiB. The server pings \
         every {} s and drops a client silent for {} s. Close codes: {SIGNED_OUT_CLOSE_CODE} \
         signed out (renew with `auth`), {REMOVED_CLOSE_CODE} access ended (single-topic \
         sockets), 1013 too slow (reconnect and resume with `since`), 1001 server going \
         away. `/ws/debate/{{session_id}}/` and `/ws/notifications/` are the same protocol \
         bound to one topic. See docs/realtime.md.",
        topics.join("\n"),
        MAX_FRAME / 1024,
        HEARTBEAT_EVERY.as_secs(),
        CLIENT_TIMEOUT.as_secs(),
    );
    let token = json!({
        "type": "object",
        "properties": {"token": {"type": "string", "description": "The access token (or send it as a bearer header)."}},
    });
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Agora real-time API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": description,
        },
        "defaultContentType": "application/json",
        "servers": {
            "agora": {
                "host": "{host}",
                "protocol": "ws",
                "description": "This server (wss behind TLS).",
                "variables": {"host": {"default": "localhost:8080"}},
            }
        },
        "channels": {
            "socket": {
                "address": "/ws/",
                "title": "The multiplexed socket",
                "messages": channel_messages(&all),
                "bindings": {"ws": {"method": "GET", "query": token}},
            },
            "debateRoom": {
                "address": "/ws/debate/{session_id}/",
                "title": "A socket bound to debate:{session_id} (legacy)",
                "parameters": {"session_id": {"description": "The debate session."}},
                "messages": channel_messages(&all),
                "bindings": {"ws": {"method": "GET", "query": {
                    "type": "object",
                    "properties": {
                        "token": {"type": "string"},
                        "since": {"type": "integer", "minimum": 0, "description": "Resume after this seq."},
                    },
                }}},
            },
            "notificationFeed": {
                "address": "/ws/notifications/",
                "title": "A socket bound to user:{your id} (legacy)",
                "messages": channel_messages(&all),
                "bindings": {"ws": {"method": "GET", "query": token}},
            },
        },
        "operations": {
            "sendServerFrames": {
                "action": "send",
                "title": "Frames the server sends",
                "channel": {"$ref": "#/channels/socket"},
                "messages": server.iter().map(|n| json!({"$ref": format!("#/channels/socket/messages/{n}")})).collect::<Vec<_>>(),
            },
            "receiveClientFrames": {
                "action": "receive",
                "title": "Frames the server accepts",
                "channel": {"$ref": "#/channels/socket"},
                "messages": client.iter().map(|n| json!({"$ref": format!("#/channels/socket/messages/{n}")})).collect::<Vec<_>>(),
            },
        },
        "components": {
            "messages": messages,
            "schemas": schemas,
        },
        "x-server-frames": refs(&server),
        "x-client-frames": refs(&client),
    })
}

/// The document as JSON text.
pub fn document_json() -> String {
    serde_json::to_string_pretty(&document()).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::realtime::frames::{CLIENT_TYPES, ErrorCode};

    /// One frame of every server type. The match is exhaustive: a variant added to
    /// `ServerFrame` does not compile until it has a sample here, and then the test
    /// checks it is in the document.
    fn server_samples() -> Vec<ServerFrame> {
        let t = || "debate:00000000-0000-0000-0000-000000000000".to_owned();
        let samples = vec![
            ServerFrame::Subscribed {
                topic: t(),
                resumable: true,
            },
            ServerFrame::Unsubscribed { topic: t() },
            ServerFrame::MessageRemoved { topic: t(), seq: 1 },
            ServerFrame::SessionStatus {
                topic: t(),
                status: "live".into(),
            },
            ServerFrame::ModerationMuted {
                topic: t(),
                target: None,
                until: None,
                reason: None,
            },
            ServerFrame::ModerationUnmuted {
                topic: t(),
                target: None,
            },
            ServerFrame::ModerationRemoved {
                topic: t(),
                target: None,
                reason: None,
            },
            ServerFrame::ModerationWarning {
                topic: t(),
                target: None,
                reason: None,
            },
            ServerFrame::Presence {
                topic: t(),
                count: 1,
                detail: None,
            },
            ServerFrame::Ack {
                topic: Some(t()),
                client_id: "c".into(),
                seq: 1,
            },
            ServerFrame::error(None, ErrorCode::Malformed, "x"),
            ServerFrame::Pong,
            ServerFrame::AuthOk {
                expires_at: DateTime::UNIX_EPOCH,
            },
        ];
        // Frames whose DTOs are long to build are named here; the match keeps the list
        // complete.
        for f in &samples {
            match f {
                ServerFrame::Subscribed { .. }
                | ServerFrame::Unsubscribed { .. }
                | ServerFrame::MessageCreated { .. }
                | ServerFrame::MessageRemoved { .. }
                | ServerFrame::SessionStatus { .. }
                | ServerFrame::ParticipantJoined { .. }
                | ServerFrame::ParticipantLeft { .. }
                | ServerFrame::ModerationMuted { .. }
                | ServerFrame::ModerationUnmuted { .. }
                | ServerFrame::ModerationRemoved { .. }
                | ServerFrame::ModerationWarning { .. }
                | ServerFrame::VoteTally { .. }
                | ServerFrame::Presence { .. }
                | ServerFrame::NotificationCreated { .. }
                | ServerFrame::Ack { .. }
                | ServerFrame::Error { .. }
                | ServerFrame::Pong
                | ServerFrame::AuthOk { .. } => {}
            }
        }
        samples
    }

    /// Every `type` the server can send, whether or not a sample was built above.
    const SERVER_TYPES: &[&str] = &[
        "subscribed",
        "unsubscribed",
        "message.created",
        "message.removed",
        "session.status",
        "participant.joined",
        "participant.left",
        "moderation.muted",
        "moderation.unmuted",
        "moderation.removed",
        "moderation.warning",
        "vote.tally",
        "presence",
        "notification.created",
        "ack",
        "error",
        "pong",
        "auth.ok",
    ];

    #[test]
    fn every_frame_the_server_sends_or_accepts_is_documented() {
        let doc = document();
        let messages = doc["components"]["messages"].as_object().unwrap();
        let sent: Vec<&str> = doc["operations"]["sendServerFrames"]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["$ref"].as_str()?.rsplit('/').next())
            .collect();
        for t in SERVER_TYPES {
            assert!(messages.contains_key(*t), "{t} missing");
            assert!(sent.contains(t), "{t} not in sendServerFrames");
        }
        assert_eq!(sent.len(), SERVER_TYPES.len(), "{sent:?}");
        for f in server_samples() {
            let v = serde_json::to_value(&f).unwrap();
            let t = v["type"].as_str().unwrap();
            assert!(SERVER_TYPES.contains(&t), "{t} not listed");
            // every property the frame carries is in its documented payload
            let props = messages[t]["payload"]["properties"].as_object().unwrap();
            for key in v.as_object().unwrap().keys() {
                assert!(props.contains_key(key), "{t}.{key} undocumented");
            }
        }
        let received: Vec<&str> = doc["operations"]["receiveClientFrames"]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["$ref"].as_str()?.rsplit('/').next())
            .collect();
        assert_eq!(received, CLIENT_TYPES);
    }

    #[test]
    fn references_resolve_inside_the_document() {
        let doc = document();
        let text = doc.to_string();
        for (i, _) in text.match_indices("\"$ref\":\"#/") {
            let rest = &text[i + 8..];
            let end = rest.find('"').unwrap();
            let pointer = &rest[1..end];
            assert!(
                doc.pointer(pointer).is_some(),
                "dangling reference #{pointer}"
            );
        }
        assert_eq!(doc["asyncapi"], "3.0.0");
    }
}
