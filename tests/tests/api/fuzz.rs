//! WebSocket frame fuzzing (docs/reliability.md): a few thousand generated frames —
//! malformed JSON, wrong types, unknown `type`s, binary frames, invalid UTF-8, deep
//! nesting, control characters, frames up to and past the 64 KiB limit — sent to a debate
//! room and to the notification feed, in both storage modes. Every frame gets its answer
//! (`pong`, `ack`, `auth.ok` or an `error` frame with a documented code, never
//! `internal`), the socket stays open and answers a `ping` afterwards; only frames the
//! protocol closes on by design (oversize: 1009; invalid UTF-8 text: 1002/1007) close it,
//! and then a new socket works.
//!
//! The frames come from a seeded PRNG: a failure prints the seed and the frame's index,
//! and `AGORA_FUZZ_SEED=<seed>` replays exactly that run.

use std::time::Duration;

use agora_tests::App;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::notifications::feed;
use crate::realtime::{Ws, connect_to, live_room, start};

crate::both_modes!(room_survives_fuzzed_frames, feed_survives_fuzzed_frames);

/// Frames per endpoint and mode.
const FRAMES: usize = 1200;
/// The frame size limit (docs/realtime.md).
const MAX_FRAME: usize = 64 * 1024;
/// Longest wait for one answer.
const WAIT: Duration = Duration::from_secs(10);
const DEFAULT_SEED: u64 = 0x00A6_07A5_EEDF_0225;

fn seed() -> u64 {
    std::env::var("AGORA_FUZZ_SEED")
        .ok()
        .and_then(|s| {
            s.strip_prefix("0x")
                .map_or_else(|| s.parse().ok(), |h| u64::from_str_radix(h, 16).ok())
        })
        .unwrap_or(DEFAULT_SEED)
}

/// SplitMix64: tiny, seeded, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// A string mixing ASCII, control characters, quotes and backslashes, and non-ASCII.
    fn text(&mut self, len: usize) -> String {
        const SPICE: &[char] = &[
            '\0',
            '\u{1}',
            '\u{7}',
            '\u{8}',
            '\t',
            '\n',
            '\r',
            '\u{1b}',
            '\u{7f}',
            '"',
            '\\',
            '/',
            '{',
            '}',
            '[',
            ']',
            '\u{a0}',
            '\u{200b}',
            '\u{202e}',
            '\u{feff}',
            'é',
            'ß',
            '中',
            '😀',
            '\u{10ffff}',
        ];
        (0..len)
            .map(|_| {
                if self.below(4) == 0 {
                    *self.pick(SPICE)
                } else {
                    char::from(b' ' + self.below(95) as u8)
                }
            })
            .collect()
    }

    /// [`Rng::text`] of 1 to `max` characters.
    fn some_text(&mut self, max: usize) -> String {
        let len = 1 + self.below(max);
        self.text(len)
    }

    /// A JSON value of any kind, nested up to `depth`.
    fn value(&mut self, depth: usize) -> Value {
        match self.below(if depth == 0 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => json!(self.next() as i64),
            3 => json!(f64::from(self.next() as u32) / 7.0),
            4 => json!(self.some_text(20)),
            5 => {
                let n = self.below(4);
                Value::Array((0..n).map(|_| self.value(depth - 1)).collect())
            }
            _ => {
                let mut m = serde_json::Map::new();
                let n = self.below(4);
                for _ in 0..n {
                    let key = self.some_text(8);
                    let value = self.value(depth - 1);
                    m.insert(key, value);
                }
                Value::Object(m)
            }
        }
    }
}

/// What a frame must be answered with.
#[derive(Debug)]
enum Expect {
    Pong,
    /// An `error` frame with one of these codes.
    Error(&'static [&'static str]),
    /// `ack`, or an `error` frame with one of these codes.
    AckOr(&'static [&'static str]),
    AuthOk,
}

/// Which socket the frames go to: they differ in what they accept.
#[derive(Clone, Copy, PartialEq)]
enum Endpoint {
    Room,
    Feed,
}

/// Codes a debater's well-formed `message.send` may be refused with.
const SEND_REFUSALS: &[&str] = &["invalid", "rate_limited", "forbidden", "conflict", "muted"];

fn object(kind: Value, extra: Value) -> String {
    let mut frame = json!({ "type": kind });
    if let (Some(f), Some(e)) = (frame.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            f.insert(k.clone(), v.clone());
        }
    }
    frame.to_string()
}

/// One generated frame, what it must get, and a description for failure messages.
fn generate(rng: &mut Rng, at: Endpoint, token: &str) -> (Message, Expect, String) {
    let room = at == Endpoint::Room;
    let not_sendable: &'static [&'static str] = if room {
        &["malformed"]
    } else {
        &["unknown_type"]
    };
    let (text, expect) = match rng.below(16) {
        0 => (r#"{"type":"ping"}"#.to_owned(), Expect::Pong),
        // a prefix of a valid frame is never valid JSON
        1 => {
            let whole = object(
                json!("message.send"),
                json!({"body": rng.text(30), "client_id": "c"}),
            );
            let cut = whole
                .char_indices()
                .map(|(i, _)| i)
                .filter(|&i| i > 0)
                .nth(rng.below(whole.chars().count() - 1))
                .unwrap_or(1);
            (whole[..cut].to_owned(), Expect::Error(&["malformed"]))
        }
        // JSON, but not an object
        2 => {
            let v = match rng.below(5) {
                0 => json!(rng.next() as i64),
                1 => json!(rng.text(10)),
                2 => json!([rng.value(2), rng.value(2)]),
                3 => Value::Null,
                _ => json!(true),
            };
            (v.to_string(), Expect::Error(&["malformed"]))
        }
        // an object without a usable type
        3 => {
            let kind = match rng.below(5) {
                0 => json!(rng.next() as i64),
                1 => Value::Null,
                2 => json!(["ping"]),
                3 => json!({"ping": true}),
                _ => json!(false),
            };
            let text = if rng.below(3) == 0 {
                json!({"kind": "ping", "data": rng.value(3)}).to_string()
            } else {
                object(kind, json!({}))
            };
            (text, Expect::Error(&["malformed"]))
        }
        // an unknown type, control characters included
        4 => {
            let mut kind = rng.some_text(24);
            if ["ping", "auth", "message.send"].contains(&kind.as_str()) {
                kind.push('!');
            }
            (
                object(json!(kind), json!({"body": rng.value(2)})),
                Expect::Error(&["unknown_type"]),
            )
        }
        // known types with a NUL or a space around them are other types
        5 => {
            let kind = format!(
                "{}{}",
                rng.pick(&["ping", "auth", "message.send"]),
                rng.pick(&["\u{0}", " ", "\n", "\u{200b}"])
            );
            (
                object(json!(kind), json!({})),
                Expect::Error(&["unknown_type"]),
            )
        }
        // message.send with missing or mistyped fields
        6 => {
            let extra = match rng.below(4) {
                0 => json!({"body": rng.next() as i64, "client_id": "c"}),
                1 => {
                    json!({"body": "x", "client_id": rng.pick(&[json!(7), Value::Null, json!(["c"]), json!({"c": 1})]).clone()})
                }
                2 => json!({"body": "x", "client_id": "c", "reply_to": rng.text(5)}),
                _ => json!({"client_id": "c"}),
            };
            (
                object(json!("message.send"), extra),
                Expect::Error(not_sendable),
            )
        }
        // well-formed arguments: bodies with control characters, unicode, empty, long
        7 | 8 => {
            // at most 6000 characters: even all escaped, within the frame limit
            let len = *rng.pick(&[0, 1, 20, 200, 3000, 6000]);
            let body = rng.text(len);
            let mut extra = json!({"body": body, "client_id": format!("f{}", rng.below(1000))});
            if rng.below(3) == 0 {
                extra["reply_to"] = json!(rng.below(5) as i64 - 1);
            }
            if rng.below(4) == 0 {
                extra["unexpected"] = rng.value(2);
            }
            let expect = if room {
                Expect::AckOr(SEND_REFUSALS)
            } else {
                Expect::Error(&["unknown_type"])
            };
            (object(json!("message.send"), extra), expect)
        }
        // auth with junk tokens, or none
        9 => match rng.below(4) {
            0 => (
                object(json!("auth"), json!({"token": rng.some_text(300)})),
                Expect::Error(&["unauthorized"]),
            ),
            1 => (
                object(json!("auth"), json!({"token": rng.value(1)})),
                Expect::Error(&["malformed", "unauthorized"]),
            ),
            2 => (
                object(json!("auth"), json!({})),
                Expect::Error(&["malformed"]),
            ),
            _ => (
                object(json!("auth"), json!({"token": token})),
                Expect::AuthOk,
            ),
        },
        // deep nesting: past serde's recursion limit it is not JSON
        10 => {
            let depth = if rng.below(3) == 0 {
                1 + rng.below(50)
            } else {
                200 + rng.below(20_000)
            };
            let (open, close) = if rng.below(2) == 0 {
                ("[", "]")
            } else {
                ("{\"a\":", "}")
            };
            // within the frame limit
            let depth = depth.min((MAX_FRAME - 64) / (open.len() + close.len()));
            let nested = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            let expect = if depth <= 50 {
                Expect::Pong
            } else {
                Expect::Error(&["malformed"])
            };
            (format!(r#"{{"type":"ping","x":{nested}}}"#), expect)
        }
        // raw control characters inside a JSON string are not JSON
        11 => {
            let c = char::from(rng.below(32) as u8);
            (
                format!("{{\"type\":\"pi{c}ng\"}}"),
                Expect::Error(&["malformed"]),
            )
        }
        // random text
        12 => {
            let t = rng.some_text(200);
            let expect = match serde_json::from_str::<Value>(&t) {
                Ok(v) if v.get("type").and_then(Value::as_str) == Some("ping") => Expect::Pong,
                Ok(v) if v.get("type").is_some_and(Value::is_string) => {
                    Expect::Error(&["unknown_type", "malformed", "unauthorized"])
                }
                _ => Expect::Error(&["malformed"]),
            };
            (t, expect)
        }
        // a big but legal frame: a ping padded up to the limit
        13 => {
            let pad = rng.below(MAX_FRAME - 40);
            let t = format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(pad));
            (t, Expect::Pong)
        }
        // binary frames: random bytes (mostly invalid UTF-8), or valid JSON sent as binary
        _ => {
            let data = if rng.below(3) == 0 {
                br#"{"type":"ping"}"#.to_vec()
            } else {
                let len = rng.below(2000);
                rng.bytes(len)
            };
            let what = format!("binary frame of {} bytes", data.len());
            return (Message::binary(data), Expect::Error(&["malformed"]), what);
        }
    };
    let what = if text.len() > 160 {
        format!(
            "{}… ({} bytes)",
            text.chars().take(120).collect::<String>(),
            text.len()
        )
    } else {
        format!("{text:?}")
    };
    (Message::text(text), expect, what)
}

/// Frames that only tell the client about the room or the feed: not answers.
fn is_announcement(kind: &str) -> bool {
    matches!(
        kind,
        "message.created"
            | "presence"
            | "session.status"
            | "participant.joined"
            | "participant.left"
            | "notification.created"
            | "vote.tally"
    )
}

/// The next answer on `ws` (announcements skipped); panics on close or timeout.
async fn answer(ws: &mut Ws, context: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no answer within {WAIT:?} to {context}"))
            .unwrap_or_else(|| panic!("socket ended after {context}"))
            .unwrap_or_else(|e| panic!("socket failed after {context}: {e}"));
        match msg {
            Message::Text(t) => {
                let f: Value = serde_json::from_str(t.as_str())
                    .unwrap_or_else(|e| panic!("the server sent non-JSON ({e}) after {context}"));
                if !is_announcement(f["type"].as_str().unwrap_or_default()) {
                    return f;
                }
            }
            Message::Close(c) => panic!("closed ({c:?}) after {context}"),
            _ => {}
        }
    }
}

fn check(f: &Value, expect: &Expect, context: &str) {
    assert_ne!(
        f["code"], "internal",
        "an internal error for {context}: {f}"
    );
    let kind = f["type"].as_str().unwrap_or_default();
    let code = f["code"].as_str().unwrap_or_default();
    let ok = match expect {
        Expect::Pong => kind == "pong",
        Expect::AuthOk => kind == "auth.ok",
        Expect::Error(codes) => kind == "error" && codes.contains(&code),
        Expect::AckOr(codes) => kind == "ack" || (kind == "error" && codes.contains(&code)),
    };
    assert!(ok, "expected {expect:?}, got {f} for {context}");
    if kind == "error" {
        assert!(f["detail"].is_string(), "an error says why: {f}");
    }
}

/// Sends `frames` generated frames to `ws`, checking each answer, and a ping every 100.
async fn fuzz(
    ws: &mut Ws,
    at: Endpoint,
    token: &str,
    label: &str,
) -> ([usize; 4], std::collections::BTreeMap<String, usize>) {
    let seed = seed();
    let mut rng = Rng(seed ^ ((at as u64) << 32));
    // answered with: pong, ack, auth.ok, error
    let mut counts = [0usize; 4];
    let mut codes = std::collections::BTreeMap::new();
    for i in 0..FRAMES {
        let (frame, expect, what) = generate(&mut rng, at, token);
        let context = format!("{label} frame #{i} (AGORA_FUZZ_SEED={seed:#x}): {what}");
        timeout(WAIT, ws.send(frame))
            .await
            .unwrap_or_else(|_| panic!("send timed out: {context}"))
            .unwrap_or_else(|e| panic!("send failed: {context}: {e}"));
        let f = answer(ws, &context).await;
        check(&f, &expect, &context);
        let slot = match f["type"].as_str() {
            Some("pong") => 0,
            Some("ack") => 1,
            Some("auth.ok") => 2,
            _ => 3,
        };
        counts[slot] += 1;
        if let Some(code) = f["code"].as_str() {
            *codes.entry(code.to_owned()).or_insert(0) += 1;
        }
        if i % 100 == 99 {
            still_works(ws, &context).await;
        }
    }
    (counts, codes)
}

async fn still_works(ws: &mut Ws, context: &str) {
    ws.send(Message::text(r#"{"type":"ping"}"#)).await.unwrap();
    let f = answer(ws, &format!("a ping after {context}")).await;
    assert_eq!(f["type"], "pong", "after {context}: {f}");
}

/// The close code the server ends `ws` with, reading past other frames.
async fn close_code(ws: &mut Ws, context: &str) -> u16 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("not closed in time after {context}"))
        {
            Some(Ok(Message::Close(Some(c)))) => return c.code.into(),
            Some(Ok(Message::Close(None))) => panic!("closed without a code after {context}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("socket failed without a close frame after {context}: {e}"),
            None => panic!("socket ended without a close frame after {context}"),
        }
    }
}

/// Frames the protocol closes on by design: oversize (1009), and text that is not UTF-8
/// (1002 or 1007). Each on a fresh socket from `open`; a new socket works afterwards.
async fn closing_frames<F, Fut>(open: F, label: &str)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Ws>,
{
    let oversize: [(Message, &str); 3] = [
        (
            Message::text(format!(
                r#"{{"type":"ping","pad":"{}"}}"#,
                "x".repeat(MAX_FRAME)
            )),
            "a text frame just over 64 KiB",
        ),
        (
            Message::text("y".repeat(4 * MAX_FRAME)),
            "a 256 KiB text frame",
        ),
        (
            Message::binary(vec![0xff; MAX_FRAME + 1]),
            "a binary frame over 64 KiB",
        ),
    ];
    for (frame, what) in oversize {
        let mut ws = open().await;
        let context = format!("{label}: {what}");
        // the server may close while the frame is still being written
        let _ = ws.send(frame).await;
        assert_eq!(close_code(&mut ws, &context).await, 1009, "{context}");
    }
    // a text frame whose payload is not UTF-8
    let mut ws = open().await;
    let context = format!("{label}: a text frame that is not UTF-8");
    let bad = Frame::message(
        vec![b'{', 0xc3, 0x28, 0xff, b'}'],
        OpCode::Data(Data::Text),
        true,
    );
    let _ = ws.send(Message::Frame(bad)).await;
    let code = close_code(&mut ws, &context).await;
    assert!(
        [1002, 1007].contains(&code),
        "{context}: closed with {code}"
    );
    // the server is fine: a new socket answers
    let mut ws = open().await;
    still_works(&mut ws, &format!("{label}: the frames that close")).await;
}

async fn room_survives_fuzzed_frames(app: &App) {
    let room = live_room(app).await;
    // a teacher's send rate (20/s), so that more of the generated arguments are stored
    let root = app.admin_token().await;
    app.grant(&root, &room.pro_id, "teacher", &room.scope).await;
    start(app, &room).await;
    let url = app.url();
    let mut ws = connect_to(&url, &room.session, &room.pro, None).await;
    let (counts, codes) = fuzz(&mut ws, Endpoint::Room, &room.pro, "room").await;
    still_works(&mut ws, "the last room frame").await;
    println!(
        "fuzz room: {FRAMES} frames (seed {:#x}): {} pong, {} ack, {} auth.ok, {} error {codes:?}",
        seed(),
        counts[0],
        counts[1],
        counts[2],
        counts[3]
    );
    closing_frames(|| connect_to(&url, &room.session, &room.pro, None), "room").await;
    assert_eq!(app.get("/healthz").await.status(), 200);
}

async fn feed_survives_fuzzed_frames(app: &App) {
    let (_, token) = app.user("fuzz_feed").await;
    let url = app.url();
    let mut ws = feed(&url, &token).await;
    let (counts, codes) = fuzz(&mut ws, Endpoint::Feed, &token, "feed").await;
    still_works(&mut ws, "the last feed frame").await;
    println!(
        "fuzz feed: {FRAMES} frames (seed {:#x}): {} pong, {} ack, {} auth.ok, {} error {codes:?}",
        seed(),
        counts[0],
        counts[1],
        counts[2],
        counts[3]
    );
    closing_frames(|| feed(&url, &token), "feed").await;
    assert_eq!(app.get("/healthz").await.status(), 200);
}
