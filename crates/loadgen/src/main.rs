//! Load generator for the real-time debate rooms, over the multiplexed socket `/ws/`
//! (each socket subscribed to the room's topic `debate:{session_id}`; the default) or the
//! room socket `/ws/debate/{session_id}/` (`--socket room`).
//!
//! Sets up a live session over the REST API (super_admin → institution → moderator,
//! student senders seated pro/con, one audience account for the subscribers, a topic and
//! a session, started), opens N subscriber sockets (on `/ws/`: each subscribed, the
//! `subscribed` answer seen, before anything is sent), then S senders send `message.send`
//! frames at a total rate of R/s for D seconds, each body carrying its send time
//! (`t=<nanos since the tool started>`). Every subscriber records delivery latency
//! (receive − send on the same process clock) and the sequence numbers it saw. With
//! `--idle N` it instead opens N idle authenticated connections (on `/ws/`, each
//! subscribed to the room) and reports the server's resident-memory growth per connection.
//!
//! Every loop is bounded in count and time; only 127.0.0.1 is contacted; it stops by itself.
#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark tool: abort loudly

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use api_server::{BackgroundServer, Config};
use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

mod frames;

use frames::{ClientFrame, Seen, ServerFrame, debate_topic};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const ADMIN_USER: &str = "root";
const ADMIN_PASSWORD: &str = "loadgen operator passphrase";
const PASSWORD: &str = "a long loadgen passphrase";
/// Read buffer of each client socket (see `connect`).
const READ_BUFFER: usize = 8 * 1024;
/// The server's default send rate of a student (`AGORA_ROOM_SEND_RATES`, `student=5/10`):
/// 5 arguments a second per user and session — shared by all of that user's sockets and
/// REST calls on every instance — with bursts of 10.
const SERVER_SEND_LIMIT_PER_SEC: f64 = 5.0;
/// The share of the server's send rate a sender user offers at most: sends are evenly
/// spaced, but a sender that was held up sends its late messages at once, and a
/// window-based limiter on the server may count two of them in one second.
const SEND_LIMIT_SHARE: f64 = 0.8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    Memory,
    Postgres,
}

/// Which socket the tool opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Socket {
    /// `GET /ws/`, then `subscribe` to `debate:{session_id}`.
    Ws,
    /// `GET /ws/debate/{session_id}/` (one room per socket, frames without topics).
    Room,
}

/// Real-time room load: N subscribers, S senders at R messages/s; or idle connections.
#[derive(Parser, Debug)]
struct Args {
    /// An already running server (must be on 127.0.0.1). Default: start one in-process.
    #[arg(long)]
    url: Option<String>,
    /// Storage of the in-process server (postgres needs TEST_DATABASE_URL, TEST_REDIS_URL).
    #[arg(long, value_enum, default_value = "memory")]
    mode: Mode,
    /// The socket to measure: the multiplexed `/ws/` or the room socket `/ws/debate/{id}/`.
    #[arg(long, value_enum, default_value = "ws")]
    socket: Socket,
    /// Super-admin login on an existing server (--url).
    #[arg(long, default_value = ADMIN_USER)]
    admin_user: String,
    /// Super-admin password on an existing server (--url).
    #[arg(long, default_value = ADMIN_PASSWORD)]
    admin_password: String,
    /// Subscriber sockets in the room.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Senders: one user with one socket each (raised automatically so that no user
    /// offers more than 80 % of --send-limit).
    #[arg(long, default_value_t = 10)]
    senders: usize,
    /// The server's send rate per user and session for the senders' role (student:
    /// `AGORA_ROOM_SEND_RATES`, default 5/s).
    #[arg(long, default_value_t = SERVER_SEND_LIMIT_PER_SEC)]
    send_limit: f64,
    /// Total messages per second over all senders.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Instead of the message run: open this many idle authenticated connections (on
    /// `/ws/` each subscribed to the room) and report the server's memory per connection.
    #[arg(long)]
    idle: Option<usize>,
    /// PID of the server for --idle with --url (default: this process).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Handshakes in flight at once while opening sockets.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Server worker threads (in-process server).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Seconds to wait for the last deliveries after sending ends.
    #[arg(long, default_value_t = 10)]
    grace: u64,
}

/// Nanoseconds since the tool started: the one clock of senders and subscribers.
fn now_ns(t0: Instant) -> u64 {
    t0.elapsed().as_nanos() as u64
}

/// The wall clock (µs since the Unix epoch) when the tool started, to place the server's
/// `created_at` on the tool's clock (same machine, same clock).
// The tool is not domain code: it needs the wall clock to compare with the server's.
#[allow(clippy::disallowed_methods)]
fn wall_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// `created_at` (RFC 3339) as nanoseconds since the tool started.
fn since_t0_ns(created_at: &str, wall_t0_us: i64) -> Option<u64> {
    let at = chrono::DateTime::parse_from_rfc3339(created_at).ok()?;
    u64::try_from(at.timestamp_micros() - wall_t0_us)
        .ok()
        .map(|us| us * 1000)
}

fn micros(ns: u64) -> u32 {
    (ns / 1000).min(u64::from(u32::MAX)) as u32
}

struct Setup {
    base: String,
    session: String,
    senders: Vec<String>,
    subscriber: String,
    socket: Socket,
    /// The room's topic on `/ws/`; `None` on the room socket, whose frames have none.
    topic: Option<String>,
}

async fn id_of(res: reqwest::Response, what: &str) -> String {
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{what}: {status} {body}");
    body["id"].as_str().expect("id").to_owned()
}

async fn login(c: &reqwest::Client, base: &str, user: &str, pw: &str) -> String {
    let res = c
        .post(format!("{base}/api/users/login/"))
        .json(&json!({"login": user, "password": pw}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "login {user}: {status} {body}");
    body["access"].as_str().expect("access").to_owned()
}

/// Registers, grants `role` in `scope`, logs in; returns the access token.
async fn user(
    c: &reqwest::Client,
    base: &str,
    root: &str,
    name: &str,
    role: &str,
    scope: &str,
) -> String {
    let res = c
        .post(format!("{base}/api/users/register/"))
        .json(&json!({"username": name, "email": format!("{name}@example.org"), "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let id = id_of(res, &format!("register {name}")).await;
    let res = c
        .post(format!("{base}/api/rbac/grants/"))
        .bearer_auth(root)
        .json(&json!({"user_id": id, "role": role, "scope": scope}))
        .send()
        .await
        .unwrap();
    id_of(res, &format!("grant {role} to {name}")).await;
    login(c, base, name, PASSWORD).await
}

async fn setup(c: &reqwest::Client, base: &str, args: &Args, senders: usize) -> Setup {
    // unique account names per run, so --url can be reused against one server
    #[allow(clippy::disallowed_methods)]
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() % 1_000_000_000)
        .unwrap_or(0);
    let root = login(c, base, &args.admin_user, &args.admin_password).await;
    let res = c
        .post(format!("{base}/api/org/institutions/"))
        .bearer_auth(&root)
        .json(&json!({"name": format!("Loadgen {run}")}))
        .send()
        .await
        .unwrap();
    let inst = id_of(res, "institution").await;
    let scope = format!("institution:{inst}");
    let moderator = user(c, base, &root, &format!("lg{run}_mod"), "moderator", &scope).await;
    let res = c
        .post(format!("{base}/api/debates/topics/"))
        .bearer_auth(&moderator)
        .json(&json!({"title": "Load", "description": "loadgen", "scope": scope}))
        .send()
        .await
        .unwrap();
    let topic = id_of(res, "topic").await;
    let res = c
        .post(format!("{base}/api/debates/sessions/"))
        .bearer_auth(&moderator)
        .json(&json!({"topic_id": topic, "title": "Load round", "scheduled_start": "2030-01-01T10:00:00Z",
            "max_per_side": senders}))
        .send()
        .await
        .unwrap();
    let session = id_of(res, "session").await;
    let sbase = format!("{base}/api/debates/sessions/{session}");
    let mut tokens = Vec::with_capacity(senders);
    for i in 0..senders {
        let t = user(c, base, &root, &format!("lg{run}_s{i}"), "student", &scope).await;
        let side = if i % 2 == 0 { "pro" } else { "con" };
        let res = c
            .post(format!("{sbase}/join/"))
            .bearer_auth(&t)
            .json(&json!({"side": side}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "join {side}: {}", res.status());
        tokens.push(t);
    }
    let subscriber = user(c, base, &root, &format!("lg{run}_aud"), "student", &scope).await;
    let res = c
        .post(format!("{sbase}/join/"))
        .bearer_auth(&subscriber)
        .json(&json!({"side": "audience"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "join audience: {}", res.status());
    let res = c
        .post(format!("{sbase}/start/"))
        .bearer_auth(&moderator)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "start: {}", res.status());
    Setup {
        base: base.to_owned(),
        topic: (args.socket == Socket::Ws).then(|| debate_topic(&session)),
        session,
        senders: tokens,
        subscriber,
        socket: args.socket,
    }
}

/// Opens a socket on the room: the room socket, or `/ws/` subscribed to the room's topic
/// (returned only once the server answered `subscribed`, so that — as on the room socket,
/// whose starting point is fixed before the upgrade — every message sent afterwards must
/// reach it).
async fn connect(s: &Setup, token: &str) -> Result<Ws, String> {
    let ws_base = s.base.replacen("http://", "ws://", 1);
    let url = match s.socket {
        Socket::Ws => format!("{ws_base}/ws/?token={token}"),
        Socket::Room => format!("{ws_base}/ws/debate/{}/?token={token}", s.session),
    };
    // tungstenite zero-fills its whole read buffer (128 KiB by default) before every
    // read: at 100 000 frames a second that memset was half of the tool's CPU, which then
    // competed with the server it measures. Frames here are under 1 KiB.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let handshake = connect_async_with_config(url, Some(config), false);
    let ws = match tokio::time::timeout(Duration::from_secs(30), handshake).await {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => return Err(format!("handshake: {e}")),
        Err(_) => return Err("handshake timeout".into()),
    };
    match &s.topic {
        None => Ok(ws),
        Some(topic) => subscribe(ws, topic).await,
    }
}

/// Subscribes `ws` to `topic` and waits for the server's `subscribed` (or its `error`).
async fn subscribe(mut ws: Ws, topic: &str) -> Result<Ws, String> {
    let frame = ClientFrame::Subscribe {
        topic: topic.to_owned(),
        since: None,
    };
    let answer = async {
        ws.send(Message::text(frame.to_text()))
            .await
            .map_err(|e| format!("subscribe: {e}"))?;
        loop {
            match ws.next().await {
                None => return Err("subscribe: eof".to_owned()),
                Some(Err(e)) => return Err(format!("subscribe: {e}")),
                Some(Ok(Message::Close(c))) => {
                    return Err(format!(
                        "subscribe: close {:?}",
                        c.map(|c| u16::from(c.code))
                    ));
                }
                Some(Ok(Message::Text(t))) => {
                    let Ok(f) = ServerFrame::parse(t.as_str()) else {
                        return Err(format!("subscribe: unreadable frame {}", t.as_str()));
                    };
                    // an error naming no topic (a malformed frame, say) answers ours too
                    let untopical_error = f.ty == "error" && f.topic.is_none();
                    if !f.is_for(Some(topic)) && !untopical_error {
                        continue;
                    }
                    match f.ty.as_ref() {
                        "subscribed" => return Ok(()),
                        "error" => {
                            return Err(format!(
                                "subscribe: error {} ({})",
                                f.code.as_deref().unwrap_or("?"),
                                f.detail.as_deref().unwrap_or("")
                            ));
                        }
                        // an argument before `subscribed` would escape the accounting
                        "message.created" => {
                            return Err("subscribe: message.created before subscribed".into());
                        }
                        _ => {}
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(30), answer).await {
        Ok(Ok(())) => Ok(ws),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("subscribe: no answer in 30 s".into()),
    }
}

/// Opens `n` sockets with at most `conc` handshakes in flight.
async fn open_many(s: &Arc<Setup>, token: &str, n: usize, conc: usize) -> (Vec<Ws>, Vec<String>) {
    let sem = Arc::new(Semaphore::new(conc.max(1)));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (s, sem, token) = (s.clone(), sem.clone(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.unwrap();
            connect(&s, &token).await
        }));
    }
    let (mut ok, mut failed) = (Vec::with_capacity(n), Vec::new());
    for t in tasks {
        match t.await.unwrap() {
            Ok(ws) => ok.push(ws),
            Err(e) => failed.push(e),
        }
    }
    (ok, failed)
}

#[derive(Default)]
struct SubResult {
    latencies_us: Vec<u32>,
    /// Of each latency: send → stored (the server's `created_at`) …
    stored_us: Vec<u32>,
    /// … and stored → delivered.
    fanout_us: Vec<u32>,
    seqs: Vec<i64>,
    duplicates: u64,
    out_of_order: u64,
    /// `message.created` frames naming another topic (or none, on `/ws/`): not counted.
    wrong_topic: u64,
    /// Text frames that are not a readable server frame.
    unreadable: u64,
    end: String,
}

/// Reads one subscriber socket until it has seen `final_seq` (known once sending ends),
/// the hard deadline passes, or the socket closes.
async fn subscriber(
    mut ws: Ws,
    topic: Option<String>,
    t0: Instant,
    // `None`: this subscriber does not split its latencies (one in ten does, which is
    // plenty of samples and keeps the tool's own work per delivery low)
    wall_t0_us: Option<i64>,
    mut final_seq: watch::Receiver<Option<i64>>,
    hard_deadline: tokio::time::Instant,
    expected: usize,
) -> SubResult {
    let mut r = SubResult {
        latencies_us: Vec::with_capacity(expected),
        stored_us: Vec::with_capacity(expected),
        fanout_us: Vec::with_capacity(expected),
        seqs: Vec::with_capacity(expected),
        ..SubResult::default()
    };
    let mut last = 0i64;
    // by sequence number (they are 1..=N): cheaper than hashing 100 000 a second
    let mut seen: Vec<bool> = vec![false; expected + 2];
    let mut final_known: Option<i64> = None;
    // One timer and one wait for the end for the subscriber's whole life. Made afresh per
    // frame, they registered with (and left) the timer wheel and the watch's waiter list
    // — shared by all 1000 subscribers — 100 000 times a second, and the tool spent more
    // CPU on that than the server spent delivering.
    let deadline = tokio::time::sleep_until(hard_deadline);
    tokio::pin!(deadline);
    let ending = final_seq.wait_for(Option::is_some);
    tokio::pin!(ending);
    loop {
        if final_known.is_some_and(|f| last >= f) {
            r.end = "done".into();
            break;
        }
        let msg = tokio::select! {
            biased;
            () = &mut deadline => Err(()),
            end = &mut ending, if final_known.is_none() => {
                final_known = Some(end.ok().and_then(|v| *v).unwrap_or(0));
                continue;
            }
            m = ws.next() => Ok(m),
        };
        match msg {
            Err(_) => {
                r.end = "deadline".into();
                break;
            }
            Ok(None) => {
                r.end = "eof".into();
                break;
            }
            Ok(Some(Err(e))) => {
                r.end = format!("error: {e}");
                break;
            }
            Ok(Some(Ok(Message::Close(c)))) => {
                r.end = match c {
                    Some(c) => format!("close {}", u16::from(c.code)),
                    None => "close (no code)".into(),
                };
                break;
            }
            Ok(Some(Ok(Message::Text(t)))) => {
                let now = now_ns(t0);
                let Ok(f) = ServerFrame::parse(t.as_str()) else {
                    r.unreadable += 1;
                    continue;
                };
                let m = match f.seen_by(topic.as_deref()) {
                    Seen::Created(m) => m,
                    Seen::WrongTopic => {
                        r.wrong_topic += 1;
                        continue;
                    }
                    Seen::Dropped(code) => {
                        r.end = format!("subscription dropped: {code}");
                        break;
                    }
                    Seen::Other => continue,
                };
                let slot = usize::try_from(m.seq).unwrap_or(0);
                if slot >= seen.len() {
                    seen.resize(slot + 1, false);
                }
                if std::mem::replace(&mut seen[slot], true) {
                    r.duplicates += 1;
                    continue;
                }
                if m.seq < last {
                    r.out_of_order += 1;
                } else {
                    last = m.seq;
                }
                r.seqs.push(m.seq);
                if let Some(sent) = m
                    .body
                    .strip_prefix("t=")
                    .and_then(|b| b.split(' ').next())
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    let us = now.saturating_sub(sent) / 1000;
                    r.latencies_us.push(us.min(u64::from(u32::MAX)) as u32);
                    if let Some(stored) = wall_t0_us
                        .zip(m.created_at.as_deref())
                        .and_then(|(w, c)| since_t0_ns(c, w))
                    {
                        r.stored_us.push(micros(stored.saturating_sub(sent)));
                        r.fanout_us.push(micros(now.saturating_sub(stored)));
                    }
                }
            }
            Ok(Some(Ok(_))) => {}
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    r
}

#[derive(Default)]
struct SenderResult {
    sent: u64,
    acked: Vec<i64>,
    /// Refused sends (`error` frames with one of this sender's `client_id`s), by code:
    /// `rate_limited`, `busy`, …
    errors: BTreeMap<String, u64>,
    /// `error` frames answering no send (e.g. the room's subscription dropped), by code.
    other_errors: BTreeMap<String, u64>,
    /// Anomalies in the answers: a second answer to one `client_id`, an answer to a
    /// `client_id` this sender never used, an `ack` naming another topic.
    duplicate_answers: u64,
    unknown_answers: u64,
    wrong_topic: u64,
    end: String,
}

/// What the reader of a sender's socket gathered.
struct Answers {
    acked: Vec<i64>,
    errors: BTreeMap<String, u64>,
    other_errors: BTreeMap<String, u64>,
    duplicate_answers: u64,
    unknown_answers: u64,
    wrong_topic: u64,
    end: String,
}

/// Reads a sender's socket until every one of its `mine` sends is answered (an `ack`, or
/// an `error` carrying its `client_id`), the deadline passes, or the socket closes. The
/// room's own frames, which it must drain, are skipped.
async fn read_answers(
    mut stream: futures_util::stream::SplitStream<Ws>,
    topic: Option<String>,
    index: usize,
    senders: usize,
    mine: u64,
    hard_deadline: tokio::time::Instant,
) -> (Answers, futures_util::stream::SplitStream<Ws>) {
    let mut a = Answers {
        acked: Vec::new(),
        errors: BTreeMap::new(),
        other_errors: BTreeMap::new(),
        duplicate_answers: 0,
        unknown_answers: 0,
        wrong_topic: 0,
        end: String::from("deadline"),
    };
    let mut answered: HashSet<u64> = HashSet::with_capacity(mine as usize);
    while (answered.len() as u64) < mine {
        let t = match tokio::time::timeout_at(hard_deadline, stream.next()).await {
            Err(_) => break,
            Ok(None) => {
                a.end = "eof".into();
                break;
            }
            Ok(Some(Err(e))) => {
                a.end = format!("error: {e}");
                break;
            }
            Ok(Some(Ok(Message::Close(c)))) => {
                a.end = format!("close {:?}", c.map(|c| u16::from(c.code)));
                break;
            }
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(_))) => continue,
        };
        let Ok(f) = ServerFrame::parse(t.as_str()) else {
            continue;
        };
        let is_ack = match f.ty.as_ref() {
            "ack" => true,
            "error" => false,
            _ => continue,
        };
        let Some(client_id) = f.client_id.as_deref() else {
            if !is_ack {
                let code = f.code.as_deref().unwrap_or("?");
                let what = match f.topic.as_deref() {
                    Some(topic) => format!("{code} ({topic})"),
                    None => code.to_owned(),
                };
                *a.other_errors.entry(what).or_insert(0) += 1;
            }
            continue;
        };
        if !f.is_for(topic.as_deref()) {
            a.wrong_topic += 1;
            continue;
        }
        match client_id.parse::<u64>() {
            Ok(k) if k % senders as u64 == index as u64 => {
                if !answered.insert(k) {
                    a.duplicate_answers += 1;
                    continue;
                }
            }
            _ => {
                a.unknown_answers += 1;
                continue;
            }
        }
        if is_ack {
            a.acked.push(f.seq.unwrap_or(-1));
        } else {
            *a.errors
                .entry(f.code.as_deref().unwrap_or("?").to_owned())
                .or_insert(0) += 1;
        }
    }
    if (a.acked.len() as u64) >= mine {
        a.end = "done".into();
    } else if (answered.len() as u64) >= mine {
        a.end = "done, some refused".into();
    }
    (a, stream)
}

/// Sends the global messages `k ≡ index (mod senders)`, message k at `start + k/rate`,
/// and reads its own socket (acks, errors, and the room's frames, which it must drain).
#[allow(clippy::too_many_arguments)]
async fn sender(
    ws: Ws,
    topic: Option<String>,
    index: usize,
    senders: usize,
    total: u64,
    rate: f64,
    t0: Instant,
    start: tokio::time::Instant,
    hard_deadline: tokio::time::Instant,
) -> SenderResult {
    let (mut sink, stream) = ws.split();
    let mine = (index as u64..total).step_by(senders).count() as u64;
    let reader = tokio::spawn(read_answers(
        stream,
        topic.clone(),
        index,
        senders,
        mine,
        hard_deadline,
    ));
    let mut sent = 0u64;
    for k in (index as u64..total).step_by(senders) {
        let at = start + Duration::from_secs_f64(k as f64 / rate);
        if at > hard_deadline {
            break;
        }
        tokio::time::sleep_until(at).await;
        let frame = ClientFrame::Send {
            topic: topic.clone(),
            body: format!("t={} k={k}", now_ns(t0)),
            client_id: k.to_string(),
        };
        match tokio::time::timeout(
            Duration::from_secs(5),
            sink.send(Message::text(frame.to_text())),
        )
        .await
        {
            Ok(Ok(())) => sent += 1,
            _ => break,
        }
    }
    let (a, stream) = reader.await.unwrap();
    if let Ok(mut ws) = sink.reunite(stream) {
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    }
    SenderResult {
        sent,
        acked: a.acked,
        errors: a.errors,
        other_errors: a.other_errors,
        duplicate_answers: a.duplicate_answers,
        unknown_answers: a.unknown_answers,
        wrong_topic: a.wrong_topic,
        end: a.end,
    }
}

/// How many sender users offer `rate` messages a second in all, at least `requested`, so
/// that none offers more than [`SEND_LIMIT_SHARE`] of `limit` — the server's send rate per
/// user and session. Each sender is its own user with one socket, so a user's rate is
/// its socket's rate.
fn senders_needed(rate: f64, requested: usize, limit: f64) -> usize {
    let requested = requested.max(1);
    let most_per_user = limit * SEND_LIMIT_SHARE;
    if rate / requested as f64 <= most_per_user {
        requested
    } else {
        (rate / most_per_user).ceil() as usize
    }
}

fn pct(v: &[u32], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 - 1.0) * q).round() as usize] as f64 / 1000.0
}

async fn run_messages(args: &Args, s: Arc<Setup>, t0: Instant, wall_t0_us: i64) {
    let total = (args.rate * args.duration as f64).round() as u64;
    let opening = Instant::now();
    let (subs, failed) = open_many(
        &s,
        &s.subscriber,
        args.subscribers,
        args.connect_concurrency,
    )
    .await;
    println!(
        "opened {} subscriber sockets in {:.1} s ({} failed{})",
        subs.len(),
        opening.elapsed().as_secs_f64(),
        failed.len(),
        failed
            .first()
            .map(|e| format!(", first: {e}"))
            .unwrap_or_default()
    );
    let mut sender_socks = Vec::with_capacity(s.senders.len());
    for t in &s.senders {
        sender_socks.push(connect(&s, t).await.expect("sender socket"));
    }
    let start = tokio::time::Instant::now() + Duration::from_millis(500);
    let hard_deadline = start + Duration::from_secs(args.duration + args.grace);
    let (final_tx, final_rx) = watch::channel(None);
    let expected = total as usize;
    let sub_tasks: Vec<_> = subs
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            tokio::spawn(subscriber(
                ws,
                s.topic.clone(),
                t0,
                (i % 10 == 0).then_some(wall_t0_us),
                final_rx.clone(),
                hard_deadline,
                expected,
            ))
        })
        .collect();
    let n_senders = sender_socks.len();
    let send_tasks: Vec<_> = sender_socks
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            tokio::spawn(sender(
                ws,
                s.topic.clone(),
                i,
                n_senders,
                total,
                args.rate,
                t0,
                start,
                hard_deadline,
            ))
        })
        .collect();
    let mut sent = 0u64;
    let mut acked: Vec<i64> = Vec::with_capacity(expected);
    let mut send_errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut other_errors: BTreeMap<String, u64> = BTreeMap::new();
    let (mut dup_answers, mut unknown_answers, mut ack_wrong_topic) = (0u64, 0u64, 0u64);
    let mut sender_ends: BTreeMap<String, u64> = BTreeMap::new();
    for t in send_tasks {
        let r = t.await.unwrap();
        sent += r.sent;
        acked.extend(r.acked);
        for (k, v) in r.errors {
            *send_errors.entry(k).or_insert(0) += v;
        }
        for (k, v) in r.other_errors {
            *other_errors.entry(k).or_insert(0) += v;
        }
        dup_answers += r.duplicate_answers;
        unknown_answers += r.unknown_answers;
        ack_wrong_topic += r.wrong_topic;
        *sender_ends.entry(r.end).or_insert(0) += 1;
    }
    let send_wall = start.elapsed();
    acked.sort_unstable();
    let max_seq = acked.last().copied().unwrap_or(0);
    let _ = final_tx.send(Some(max_seq));
    let mut results = Vec::with_capacity(sub_tasks.len());
    for t in sub_tasks {
        results.push(t.await.unwrap());
    }
    let wall = start.elapsed();

    // analysis
    let acked_set: HashSet<i64> = acked.iter().copied().collect();
    // two sends acked with one seq would be a server bug the delivery counts cannot show
    let dup_acked_seqs = acked.len() - acked_set.len();
    let n_subs = results.len() as u64;
    let expected_deliveries = acked.len() as u64 * n_subs;
    let mut received = 0u64;
    let (mut lost, mut dups, mut ooo) = (0u64, 0u64, 0u64);
    let (mut wrong_topic, mut unreadable) = (0u64, 0u64);
    let mut subs_with_loss = 0u64;
    let mut ends: BTreeMap<String, u64> = BTreeMap::new();
    let mut lat: Vec<u32> = Vec::with_capacity(expected_deliveries as usize);
    let mut stored: Vec<u32> = Vec::with_capacity(expected_deliveries as usize);
    let mut fanout: Vec<u32> = Vec::with_capacity(expected_deliveries as usize);
    for r in &mut results {
        let got: HashSet<i64> = r.seqs.iter().copied().collect();
        let missing = acked_set.iter().filter(|q| !got.contains(q)).count() as u64;
        if missing > 0 {
            subs_with_loss += 1;
        }
        lost += missing;
        received += r.seqs.len() as u64;
        dups += r.duplicates;
        ooo += r.out_of_order;
        wrong_topic += r.wrong_topic;
        unreadable += r.unreadable;
        *ends.entry(std::mem::take(&mut r.end)).or_insert(0) += 1;
        lat.append(&mut r.latencies_us);
        stored.append(&mut r.stored_us);
        fanout.append(&mut r.fanout_us);
    }
    lat.sort_unstable();
    stored.sort_unstable();
    fanout.sort_unstable();
    println!("| measurement | result |\n|---|---|");
    let socket = match s.socket {
        Socket::Ws => "/ws/ (subscribed to debate:{id})",
        Socket::Room => "/ws/debate/{id}/",
    };
    println!(
        "| config | {} subscribers · {} senders · {} msg/s · {} s · socket {socket} |",
        n_subs, n_senders, args.rate, args.duration
    );
    let refused: u64 = send_errors.values().sum();
    let unanswered = sent.saturating_sub(acked.len() as u64 + refused);
    println!(
        "| messages | {} to send · {sent} sent in {:.1} s · {} acked (seq {}..{}) · refused {refused} {:?} · unanswered {unanswered} |",
        total,
        send_wall.as_secs_f64(),
        acked.len(),
        acked.first().copied().unwrap_or(0),
        max_seq,
        send_errors
    );
    let rate_limited = send_errors.get("rate_limited").copied().unwrap_or(0);
    println!(
        "| rate_limited | {rate_limited} (each sender user offers {:.2} msg/s against a limit of {}/s per user and session) |",
        args.rate / n_senders.max(1) as f64,
        args.send_limit
    );
    if rate_limited > 0 {
        eprintln!(
            "WARNING: {rate_limited} sends were refused with rate_limited: the server's send rate is not what --send-limit says, or senders were held up and caught up in a burst"
        );
    }
    println!(
        "| answer anomalies | duplicate answers {dup_answers} · answers to unknown client_ids {unknown_answers} · acks for another topic {ack_wrong_topic} · one seq acked twice {dup_acked_seqs} · errors answering no send {other_errors:?} |"
    );
    println!(
        "| deliveries | expected {expected_deliveries} · received {received} · lost {lost} (on {subs_with_loss} subscribers) · duplicates {dups} · out of order {ooo} · other topic {wrong_topic} · unreadable frames {unreadable} |"
    );
    println!(
        "| throughput | {:.0} deliveries/s over the sending window + drain ({:.1} s) |",
        received as f64 / wall.as_secs_f64(),
        wall.as_secs_f64()
    );
    println!(
        "| latency send→delivery | p50 {:.1} ms · p90 {:.1} ms · p99 {:.1} ms · max {:.1} ms (n={}) |",
        pct(&lat, 0.5),
        pct(&lat, 0.9),
        pct(&lat, 0.99),
        lat.last()
            .map(|m| f64::from(*m) / 1000.0)
            .unwrap_or(f64::NAN),
        lat.len()
    );
    for (name, v) in [
        ("of which send→stored", &stored),
        ("of which stored→delivery", &fanout),
    ] {
        println!(
            "| {name} | p50 {:.1} ms · p90 {:.1} ms · p99 {:.1} ms · max {:.1} ms |",
            pct(v, 0.5),
            pct(v, 0.9),
            pct(v, 0.99),
            v.last().map(|m| f64::from(*m) / 1000.0).unwrap_or(f64::NAN),
        );
    }
    println!("| subscriber ends | {ends:?} |");
    println!("| sender ends | {sender_ends:?} |");
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn run_idle(args: &Args, s: Arc<Setup>, n: usize) {
    let me = std::process::id();
    let server_pid = args.server_pid.unwrap_or(me);
    let in_process = server_pid == me;
    // warm up: one connection, so one-off allocations (room subscription) are not counted
    let warm = connect(&s, &s.subscriber).await.expect("warm-up socket");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (srv0, cli0) = (rss_kib(server_pid), rss_kib(me));
    let opening = Instant::now();
    let (socks, failed) = open_many(&s, &s.subscriber, n, args.connect_concurrency).await;
    let open_s = opening.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (srv1, cli1) = (rss_kib(server_pid), rss_kib(me));
    let ok = socks.len().max(1) as f64;
    println!("| measurement | result |\n|---|---|");
    let socket = match s.socket {
        Socket::Ws => "/ws/, each subscribed to debate:{id}",
        Socket::Room => "/ws/debate/{id}/",
    };
    println!(
        "| idle connections | {} open on {socket} ({} failed{}) in {open_s:.1} s |",
        socks.len(),
        failed.len(),
        failed
            .first()
            .map(|e| format!(", first: {e}"))
            .unwrap_or_default()
    );
    if in_process {
        println!(
            "| RSS of this process (server and clients together) | {srv0} KiB → {srv1} KiB: {:.1} KiB per connection (upper bound: includes the client side) |",
            (srv1 as f64 - srv0 as f64) / ok
        );
    } else {
        println!(
            "| server RSS (pid {server_pid}) | {srv0} KiB → {srv1} KiB: {:.1} KiB per connection |",
            (srv1 as f64 - srv0 as f64) / ok
        );
        println!(
            "| load tool RSS (client side, not included above) | {cli0} KiB → {cli1} KiB: {:.1} KiB per connection |",
            (cli1 as f64 - cli0 as f64) / ok
        );
    }
    // the server pings every 10 s; answer by reading for a moment, then close everything
    let closes = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = socks
        .into_iter()
        .map(|mut ws| {
            let closes = closes.clone();
            tokio::spawn(async move {
                if tokio::time::timeout(Duration::from_secs(5), ws.close(None))
                    .await
                    .is_ok()
                {
                    closes.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    drop(warm);
    println!("| closed cleanly | {} |", closes.load(Ordering::Relaxed));
}

fn server_env(args: &Args) -> HashMap<String, String> {
    let mut env = HashMap::new();
    env.insert("AGORA_BIND".into(), "127.0.0.1:0".into());
    env.insert(
        "AGORA_JWT_SECRET".into(),
        "loadgen-only-key-q8Zr1VtYx3Lm9Pw2Ks7Df4Gh6Jn0BcXa5Ue".into(),
    );
    env.insert("AGORA_WORKERS".into(), args.workers.to_string());
    env.insert("AGORA_LOGIN_MAX_FAILURES".into(), "100000".into());
    env.insert(
        "AGORA_LOGIN_MAX_FAILURES_PER_CLIENT".into(),
        "100000".into(),
    );
    env.insert("AGORA_ACCESS_TOKEN_TTL".into(), "3600".into());
    // every simulated user signs up from 127.0.0.1
    env.insert("AGORA_REGISTER_MAX_PER_CLIENT".into(), "1000000".into());
    env.insert("AGORA_SHUTDOWN_TIMEOUT".into(), "2".into());
    env.insert(
        "AGORA_BOOTSTRAP_ADMIN".into(),
        format!("{ADMIN_USER}:root@example.org"),
    );
    env.insert(
        "AGORA_BOOTSTRAP_ADMIN_PASSWORD".into(),
        ADMIN_PASSWORD.into(),
    );
    env.insert("RUST_LOG".into(), "warn".into());
    env
}

#[tokio::main]
async fn main() {
    let t0 = Instant::now();
    let wall_t0_us = wall_us();
    let args = Args::parse();
    if !(args.rate.is_finite() && args.rate > 0.0) {
        eprintln!("--rate must be a positive number of messages per second");
        std::process::exit(2);
    }
    if !(args.send_limit.is_finite() && args.send_limit > 0.0) {
        eprintln!("--send-limit must be a positive number of messages per second");
        std::process::exit(2);
    }
    let senders = if args.idle.is_some() {
        2
    } else {
        let n = senders_needed(args.rate, args.senders, args.send_limit);
        if n != args.senders.max(1) {
            eprintln!(
                "note: {:.2} msg/s per sender would be over {:.0} % of the server's {}/s per user and session; using {n} senders ({:.2} msg/s each)",
                args.rate / args.senders.max(1) as f64,
                SEND_LIMIT_SHARE * 100.0,
                args.send_limit,
                args.rate / n as f64
            );
        }
        n
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut guards: (
        Option<adapter_postgres::testing::TestDatabase>,
        Option<adapter_redis::testing::TestRedis>,
    ) = (None, None);
    let (server, base) = match &args.url {
        Some(u) => {
            let u = u.trim_end_matches('/').to_owned();
            assert!(
                u.starts_with("http://127.0.0.1:"),
                "--url must be http://127.0.0.1:<port>"
            );
            (None, u)
        }
        None => {
            let mut env = server_env(&args);
            if args.mode == Mode::Postgres {
                let db = adapter_postgres::testing::TestDatabase::create()
                    .await
                    .expect("PostgreSQL (TEST_DATABASE_URL) is needed for --mode postgres");
                let redis = adapter_redis::testing::TestRedis::create()
                    .await
                    .expect("Redis (TEST_REDIS_URL) is needed for --mode postgres");
                env.insert("DATABASE_URL".into(), db.url().to_owned());
                env.insert("REDIS_URL".into(), redis.url().to_owned());
                env.insert("AGORA_REDIS_PREFIX".into(), redis.prefix().to_owned());
                env.insert("AGORA_DB_POOL_SIZE".into(), "16".into());
                guards = (Some(db), Some(redis));
            }
            let config = Config::from_lookup(|k| env.get(k).cloned()).expect("config");
            let server = BackgroundServer::spawn(config).expect("server");
            let url = server.url();
            (Some(server), url)
        }
    };
    let s = Arc::new(setup(&client, &base, &args, senders).await);
    eprintln!(
        "setup done in {:.1} s (session {})",
        t0.elapsed().as_secs_f64(),
        s.session
    );
    match args.idle {
        Some(n) => run_idle(&args, s, n).await,
        None => run_messages(&args, s, t0, wall_t0_us).await,
    }
    if let Some(server) = server {
        server.stop().await;
    }
    if let Some(db) = guards.0 {
        db.cleanup().await;
    }
    if let Some(redis) = guards.1 {
        redis.cleanup().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;
    use tokio::sync::{Mutex, broadcast};

    /// A stand-in for the server's `/ws/` as the protocol describes it: `subscribe` →
    /// `subscribed` (plus a `presence` frame and another topic's argument, which must not be
    /// counted), `message.send` → `ack` then `message.created` to every subscriber — or
    /// `rate_limited` for every client_id that is a multiple of 7.
    async fn fake_ws_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (room, _) = broadcast::channel::<String>(1024);
        let seq = Arc::new(Mutex::new(0i64));
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (room, seq) = (room.clone(), seq.clone());
                tokio::spawn(async move {
                    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                        return;
                    };
                    let (mut tx, mut rx) = ws.split();
                    let mut feed: Option<broadcast::Receiver<String>> = None;
                    loop {
                        let text = tokio::select! {
                            m = rx.next() => match m {
                                Some(Ok(Message::Text(t))) => t.as_str().to_owned(),
                                Some(Ok(_)) => continue,
                                _ => return,
                            },
                            f = async { feed.as_mut().unwrap().recv().await }, if feed.is_some() => {
                                let Ok(f) = f else { return };
                                if tx.send(Message::text(f)).await.is_err() {
                                    return;
                                }
                                continue;
                            }
                        };
                        let v: Value = serde_json::from_str(&text).unwrap();
                        let topic = v["topic"].as_str().unwrap().to_owned();
                        let mut out = Vec::new();
                        match v["type"].as_str().unwrap() {
                            "subscribe" => {
                                feed = Some(room.subscribe());
                                out.push(json!({"type": "subscribed", "topic": topic}));
                                out.push(json!({"type": "presence", "topic": topic, "count": 1}));
                                out.push(
                                    json!({"type": "message.created", "topic": "debate:other",
                                    "message": {"seq": 1, "body": "t=0 k=0"}}),
                                );
                            }
                            "message.send" => {
                                let id = v["client_id"].as_str().unwrap();
                                if id.parse::<u64>().unwrap() % 7 == 0 {
                                    out.push(json!({"type": "error", "topic": topic, "code": "rate_limited",
                                        "detail": "too many", "client_id": id}));
                                } else {
                                    let mut seq = seq.lock().await;
                                    *seq += 1;
                                    out.push(json!({"type": "ack", "topic": topic, "client_id": id, "seq": *seq}));
                                    let created = json!({"type": "message.created", "topic": topic,
                                        "message": {"seq": *seq, "author_id": "a", "side": "pro",
                                            "body": v["body"], "reply_to": null,
                                            "created_at": "2026-12-07T20:00:00Z"}});
                                    let _ = room.send(created.to_string());
                                }
                            }
                            other => panic!("unexpected frame {other}"),
                        }
                        for f in out {
                            if tx.send(Message::text(f.to_string())).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_refused_subscription_fails_the_socket_at_once() {
        // first connection: the topic is refused; second: the frame is, without a topic
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let answers = [
                json!({"type": "error", "topic": "debate:x", "code": "forbidden", "detail": "no grant"}),
                json!({"type": "error", "code": "malformed", "detail": "not JSON"}),
            ];
            for answer in answers {
                let (tcp, _) = listener.accept().await.unwrap();
                let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                let _subscribe = ws.next().await;
                // a frame of another topic first: not the answer
                let other = json!({"type": "subscribed", "topic": "debate:y"});
                ws.send(Message::text(other.to_string())).await.unwrap();
                ws.send(Message::text(answer.to_string())).await.unwrap();
                // keep the socket open: the tool must not wait for a close or a timeout
                tokio::spawn(async move { while ws.next().await.is_some() {} });
            }
        });
        let s = Setup {
            base: format!("http://{addr}"),
            topic: Some("debate:x".into()),
            session: "x".into(),
            senders: Vec::new(),
            subscriber: "aud".into(),
            socket: Socket::Ws,
        };
        let t = Instant::now();
        let e = connect(&s, "aud").await.err().unwrap();
        assert!(e.contains("error forbidden"), "{e}");
        let e = connect(&s, "aud").await.err().unwrap();
        assert!(e.contains("error malformed"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn on_ws_every_argument_is_counted_once_and_refusals_are_reported() {
        let session = "5b3c8a4e-2f7d-4a3e-9c51-0d6f2e8b7a10".to_owned();
        let s = Arc::new(Setup {
            base: fake_ws_server().await,
            topic: Some(debate_topic(&session)),
            session,
            senders: vec!["s0".into(), "s1".into()],
            subscriber: "aud".into(),
            socket: Socket::Ws,
        });
        let (subs, failed) = open_many(&s, "aud", 3, 2).await;
        assert!(failed.is_empty(), "{failed:?}");
        let t0 = Instant::now();
        let start = tokio::time::Instant::now();
        let deadline = start + Duration::from_secs(10);
        let total = 30;
        let (final_tx, final_rx) = watch::channel(None);
        let sub_tasks: Vec<_> = subs
            .into_iter()
            .map(|ws| {
                tokio::spawn(subscriber(
                    ws,
                    s.topic.clone(),
                    t0,
                    None,
                    final_rx.clone(),
                    deadline,
                    total as usize,
                ))
            })
            .collect();
        let mut send_tasks = Vec::new();
        for (i, token) in s.senders.iter().enumerate() {
            let ws = connect(&s, token).await.unwrap();
            send_tasks.push(tokio::spawn(sender(
                ws,
                s.topic.clone(),
                i,
                2,
                total,
                200.0,
                t0,
                start,
                deadline,
            )));
        }
        let (mut acked, mut refused) = (Vec::new(), 0);
        for t in send_tasks {
            let r = t.await.unwrap();
            assert_eq!(r.end, "done, some refused");
            assert_eq!(
                (r.duplicate_answers, r.unknown_answers, r.wrong_topic),
                (0, 0, 0)
            );
            refused += r.errors.get("rate_limited").copied().unwrap_or(0);
            acked.extend(r.acked);
        }
        // client_ids 0, 7, 14, 21, 28 were refused and reported, the rest stored
        assert_eq!(refused, 5);
        acked.sort_unstable();
        assert_eq!(acked, (1..=25).collect::<Vec<_>>());
        final_tx.send(Some(25)).unwrap();
        for t in sub_tasks {
            let r = t.await.unwrap();
            assert_eq!(r.end, "done");
            assert_eq!(r.seqs, (1..=25).collect::<Vec<_>>());
            assert_eq!((r.duplicates, r.out_of_order, r.unreadable), (0, 0, 0));
            // the other topic's argument was seen and not counted
            assert_eq!(r.wrong_topic, 1);
            assert_eq!(r.latencies_us.len(), 25);
        }
    }

    #[test]
    fn no_sender_user_offers_more_than_its_share_of_the_send_rate() {
        // the benchmark: 100 msg/s against students' 5/s → 25 users at 4/s
        assert_eq!(senders_needed(100.0, 10, 5.0), 25);
        // 4.35/s each would pass a per-second window only while nothing is late
        assert_eq!(senders_needed(100.0, 23, 5.0), 25);
        // enough already: as asked
        assert_eq!(senders_needed(20.0, 10, 5.0), 10);
        assert_eq!(senders_needed(100.0, 40, 5.0), 40);
        assert_eq!(senders_needed(3.0, 0, 5.0), 1);
        // a higher limit (AGORA_ROOM_SEND_RATES) needs fewer users
        assert_eq!(senders_needed(100.0, 1, 20.0), 7);
        for (rate, asked, limit) in [(100.0, 1, 5.0), (7.5, 1, 1.0), (1000.0, 3, 5.0)] {
            let n = senders_needed(rate, asked, limit);
            assert!(
                rate / n as f64 <= limit * SEND_LIMIT_SHARE,
                "{rate} {asked} {limit}: {n}"
            );
        }
    }
}
