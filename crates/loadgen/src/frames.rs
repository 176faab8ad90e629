//! The frames the load tool sends and reads: on the multiplexed socket `/ws/` (every
//! frame names its `topic`, e.g. `debate:{session_id}`) and on the room socket
//! `/ws/debate/{id}/` (the same frames without a topic).
//!
//! Server frames are read on the hot path (1000 subscribers × 100 frames/s), so they
//! borrow from the received text where they can and ignore the fields the tool does not
//! look at (`author_id`, `side`, `presence` counts, …).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// The topic of a debate session's room on `/ws/`.
pub fn debate_topic(session_id: &str) -> String {
    format!("debate:{session_id}")
}

/// A frame the tool sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClientFrame {
    /// `/ws/` only: start receiving `topic` (after `since`, when given).
    #[serde(rename = "subscribe")]
    Subscribe {
        topic: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<i64>,
    },
    /// An argument. `topic` is required on `/ws/` and absent on the room socket (which
    /// has exactly one room).
    #[serde(rename = "message.send")]
    Send {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
        body: String,
        client_id: String,
    },
}

impl ClientFrame {
    /// The frame as the text sent on the socket.
    pub fn to_text(&self) -> String {
        // a derived Serialize of strings and integers cannot fail
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A frame from the server, reduced to what the tool checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFrame<'a> {
    #[serde(rename = "type", borrow)]
    pub ty: Cow<'a, str>,
    /// Which subscription the frame belongs to (`/ws/`; absent on the room socket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Cow<'a, str>>,
    /// `message.created`: the stored argument.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub message: Option<Msg<'a>>,
    /// `ack` and the `error` answering a `message.send`: the sender's `client_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Cow<'a, str>>,
    /// `ack`: the stored argument's sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// `error`: `rate_limited`, `busy`, `forbidden`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Cow<'a, str>>,
    /// `error`: the reason, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Cow<'a, str>>,
}

/// The `message` of a `message.created` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Msg<'a> {
    pub seq: i64,
    #[serde(borrow)]
    pub body: Cow<'a, str>,
    /// When the server stored it (its clock, RFC 3339).
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Cow<'a, str>>,
}

/// What a received frame means to a subscriber of one room.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen<'f, 'a> {
    /// An argument of the room.
    Created(&'f Msg<'a>),
    /// An argument frame addressed to another topic (or, on `/ws/`, to none): never
    /// counted as a delivery.
    WrongTopic,
    /// The server dropped the room's subscription (an `error` naming the topic, not
    /// answering a send): nothing more will come for it.
    Dropped(&'f str),
    /// Anything else (presence, acks, pong, other topics' frames).
    Other,
}

impl<'a> ServerFrame<'a> {
    /// Parses a text frame.
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Whether the frame concerns `topic` (`None`: the room socket, whose frames all
    /// concern its one room).
    pub fn is_for(&self, topic: Option<&str>) -> bool {
        match topic {
            // A room socket carries its own room only; its frames name it (servers since
            // the multiplexed socket) or not (older servers).
            None => true,
            Some(t) => self.topic.as_deref() == Some(t),
        }
    }

    /// What this frame means to a subscriber of `topic` (see [`Self::is_for`]).
    pub fn seen_by<'f>(&'f self, topic: Option<&str>) -> Seen<'f, 'a> {
        match self.ty.as_ref() {
            "message.created" => match &self.message {
                Some(m) if self.is_for(topic) => Seen::Created(m),
                Some(_) => Seen::WrongTopic,
                None => Seen::Other,
            },
            "error" if topic.is_some() && self.client_id.is_none() && self.is_for(topic) => {
                Seen::Dropped(self.code.as_deref().unwrap_or("?"))
            }
            _ => Seen::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const TOPIC: &str = "debate:5b3c8a4e-2f7d-4a3e-9c51-0d6f2e8b7a10";

    fn round_trip(f: &ServerFrame<'_>) {
        let text = serde_json::to_string(f).unwrap();
        assert_eq!(&ServerFrame::parse(&text).unwrap(), f, "{text}");
    }

    #[test]
    fn client_frames_are_written_as_the_protocol_says() {
        let sub = ClientFrame::Subscribe {
            topic: TOPIC.into(),
            since: None,
        };
        assert_eq!(
            serde_json::from_str::<Value>(&sub.to_text()).unwrap(),
            json!({"type": "subscribe", "topic": TOPIC})
        );
        let resume = ClientFrame::Subscribe {
            topic: TOPIC.into(),
            since: Some(41),
        };
        assert_eq!(
            serde_json::from_str::<Value>(&resume.to_text()).unwrap(),
            json!({"type": "subscribe", "topic": TOPIC, "since": 41})
        );
        let send = ClientFrame::Send {
            topic: Some(TOPIC.into()),
            body: "t=12 k=3".into(),
            client_id: "3".into(),
        };
        assert_eq!(
            serde_json::from_str::<Value>(&send.to_text()).unwrap(),
            json!({"type": "message.send", "topic": TOPIC, "body": "t=12 k=3", "client_id": "3"})
        );
        // the room socket's frame, unchanged: no topic key at all
        let room = ClientFrame::Send {
            topic: None,
            body: "x".into(),
            client_id: "9".into(),
        };
        assert_eq!(
            serde_json::from_str::<Value>(&room.to_text()).unwrap(),
            json!({"type": "message.send", "body": "x", "client_id": "9"})
        );
        for f in [sub, resume, send, room] {
            assert_eq!(
                serde_json::from_str::<ClientFrame>(&f.to_text()).unwrap(),
                f
            );
        }
    }

    #[test]
    fn server_frames_of_the_protocol_parse_and_round_trip() {
        let text = format!(r#"{{"type":"subscribed","topic":"{TOPIC}"}}"#);
        let f = ServerFrame::parse(&text).unwrap();
        assert_eq!(
            (f.ty.as_ref(), f.topic.as_deref()),
            ("subscribed", Some(TOPIC))
        );
        round_trip(&f);

        let text = format!(r#"{{"type":"ack","topic":"{TOPIC}","client_id":"17","seq":240}}"#);
        let f = ServerFrame::parse(&text).unwrap();
        assert_eq!(
            (f.ty.as_ref(), f.client_id.as_deref(), f.seq),
            ("ack", Some("17"), Some(240))
        );
        assert!(f.is_for(Some(TOPIC)));
        round_trip(&f);

        let text = format!(
            r#"{{"type":"error","topic":"{TOPIC}","code":"rate_limited","detail":"too many messages: at most 5 per second (bursts of 10)","client_id":"18"}}"#
        );
        let f = ServerFrame::parse(&text).unwrap();
        assert_eq!(
            (f.ty.as_ref(), f.code.as_deref(), f.client_id.as_deref()),
            ("error", Some("rate_limited"), Some("18"))
        );
        // an answer to a send is not the end of the subscription
        assert_eq!(f.seen_by(Some(TOPIC)), Seen::Other);
        round_trip(&f);

        // the fields the tool does not read are ignored, not refused
        let text = format!(
            r#"{{"type":"message.created","topic":"{TOPIC}","message":{{"seq":7,"author_id":"a","side":"pro","body":"t=99 k=6","reply_to":null,"created_at":"2026-12-07T20:00:00.123456Z"}}}}"#
        );
        let f = ServerFrame::parse(&text).unwrap();
        let Seen::Created(m) = f.seen_by(Some(TOPIC)) else {
            panic!("not a delivery: {f:?}")
        };
        assert_eq!(
            (m.seq, m.body.as_ref(), m.created_at.as_deref()),
            (7, "t=99 k=6", Some("2026-12-07T20:00:00.123456Z"))
        );
        round_trip(&f);

        let text = format!(r#"{{"type":"presence","topic":"{TOPIC}","count":3}}"#);
        let f = ServerFrame::parse(&text).unwrap();
        assert_eq!(f.seen_by(Some(TOPIC)), Seen::Other);
        round_trip(&f);
    }

    #[test]
    fn escaped_text_is_read_not_dropped() {
        // borrowing a string with escapes is impossible; the frame must still parse
        let f = ServerFrame::parse(
            r#"{"type":"message.created","message":{"seq":1,"body":"t=5 \"quoted\"\n"}}"#,
        )
        .unwrap();
        assert_eq!(f.message.unwrap().body, "t=5 \"quoted\"\n");
    }

    #[test]
    fn a_subscriber_counts_only_its_own_rooms_arguments() {
        let other = "debate:00000000-0000-0000-0000-000000000000";
        fn created(topic: Option<&str>) -> ServerFrame<'_> {
            ServerFrame {
                ty: "message.created".into(),
                topic: topic.map(Cow::Borrowed),
                message: Some(Msg {
                    seq: 1,
                    body: "t=1 k=0".into(),
                    created_at: None,
                }),
                client_id: None,
                seq: None,
                code: None,
                detail: None,
            }
        }
        assert!(matches!(
            created(Some(TOPIC)).seen_by(Some(TOPIC)),
            Seen::Created(_)
        ));
        assert_eq!(created(Some(other)).seen_by(Some(TOPIC)), Seen::WrongTopic);
        // on /ws/ every frame names its topic; one without is not this room's
        assert_eq!(created(None).seen_by(Some(TOPIC)), Seen::WrongTopic);
        // the room socket: no topics at all
        assert!(matches!(created(None).seen_by(None), Seen::Created(_)));
        for f in [created(Some(TOPIC)), created(None)] {
            round_trip(&f);
        }
    }

    #[test]
    fn an_error_naming_the_topic_drops_the_subscription() {
        let text = format!(
            r#"{{"type":"error","topic":"{TOPIC}","code":"forbidden","detail":"grant revoked"}}"#
        );
        let f = ServerFrame::parse(&text).unwrap();
        assert_eq!(f.seen_by(Some(TOPIC)), Seen::Dropped("forbidden"));
        // another topic's error is not this room's
        assert_eq!(f.seen_by(Some("debate:other")), Seen::Other);
    }

    #[test]
    fn a_frame_that_is_not_a_frame_is_an_error_not_a_panic() {
        for bad in ["", "{", "[]", r#"{"topic":"x"}"#, r#"{"type":3}"#] {
            assert!(ServerFrame::parse(bad).is_err(), "{bad}");
        }
        // a message.created whose message is mangled is refused as a whole
        assert!(ServerFrame::parse(r#"{"type":"message.created","message":{"seq":"x"}}"#).is_err());
    }
}
