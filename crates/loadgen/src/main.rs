//! Load generator for the real-time debate rooms (`/ws/debate/{session_id}/`).
//!
//! Sets up a live session over the REST API (super_admin → institution → moderator,
//! student senders seated pro/con, one audience account for the subscribers, a topic and
//! a session, started), opens N subscriber sockets, then S senders send `message.send`
//! frames at a total rate of R/s for D seconds, each body carrying its send time
//! (`t=<nanos since the tool started>`). Every subscriber records delivery latency
//! (receive − send on the same process clock) and the sequence numbers it saw. With
//! `--idle N` it instead opens N idle authenticated connections and reports the server's
//! resident-memory growth per connection.
//!
//! Every loop is bounded in count and time; only 127.0.0.1 is contacted; it stops by itself.
#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark tool: abort loudly

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use api_server::{BackgroundServer, Config};
use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const ADMIN_USER: &str = "root";
const ADMIN_PASSWORD: &str = "loadgen operator passphrase";
const PASSWORD: &str = "a long loadgen passphrase";
/// Read buffer of each client socket (see `connect`).
const READ_BUFFER: usize = 8 * 1024;
/// The server's per-connection send limit (docs/realtime.md): 5 message.send/s.
const SERVER_SEND_LIMIT_PER_SEC: f64 = 5.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    Memory,
    Postgres,
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
    /// Super-admin login on an existing server (--url).
    #[arg(long, default_value = ADMIN_USER)]
    admin_user: String,
    /// Super-admin password on an existing server (--url).
    #[arg(long, default_value = ADMIN_PASSWORD)]
    admin_password: String,
    /// Subscriber sockets in the room.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Sender sockets (raised automatically to stay under the server's 5/s per-connection limit).
    #[arg(long, default_value_t = 10)]
    senders: usize,
    /// Total messages per second over all senders.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Instead of the message run: open this many idle authenticated connections and
    /// report the server's memory per connection.
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
        session,
        senders: tokens,
        subscriber,
    }
}

async fn connect(s: &Setup, token: &str) -> Result<Ws, String> {
    let url = format!(
        "{}/ws/debate/{}/?token={token}",
        s.base.replacen("http://", "ws://", 1),
        s.session
    );
    // tungstenite zero-fills its whole read buffer (128 KiB by default) before every
    // read: at 100 000 frames a second that memset was half of the tool's CPU, which then
    // competed with the server it measures. Frames here are under 1 KiB.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let handshake = connect_async_with_config(url, Some(config), false);
    match tokio::time::timeout(Duration::from_secs(30), handshake).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(format!("handshake: {e}")),
        Err(_) => Err("handshake timeout".into()),
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

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    ty: &'a str,
    message: Option<Msg<'a>>,
    client_id: Option<&'a str>,
    seq: Option<i64>,
    code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Msg<'a> {
    seq: i64,
    #[serde(borrow)]
    body: &'a str,
    /// When the server stored it (its clock, RFC 3339).
    #[serde(borrow)]
    created_at: Option<&'a str>,
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
    end: String,
}

/// Reads one subscriber socket until it has seen `final_seq` (known once sending ends),
/// the hard deadline passes, or the socket closes.
async fn subscriber(
    mut ws: Ws,
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
                let Ok(f) = serde_json::from_str::<Frame>(t.as_str()) else {
                    continue;
                };
                if f.ty != "message.created" {
                    continue;
                }
                let Some(m) = f.message else { continue };
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
                        .zip(m.created_at)
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
    errors: BTreeMap<String, u64>,
    end: String,
}

/// Sends the global messages `k ≡ index (mod senders)`, message k at `start + k/rate`,
/// and reads its own socket (acks, errors, and the room's frames, which it must drain).
#[allow(clippy::too_many_arguments)]
async fn sender(
    ws: Ws,
    index: usize,
    senders: usize,
    total: u64,
    rate: f64,
    t0: Instant,
    start: tokio::time::Instant,
    hard_deadline: tokio::time::Instant,
) -> SenderResult {
    let (mut sink, mut stream) = ws.split();
    let mine = (index as u64..total).step_by(senders).count() as u64;
    let reader = tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut errors = BTreeMap::new();
        let mut end = String::from("deadline");
        while (acked.len() as u64 + errors.values().sum::<u64>()) < mine {
            match tokio::time::timeout_at(hard_deadline, stream.next()).await {
                Err(_) => break,
                Ok(None) => {
                    end = "eof".into();
                    break;
                }
                Ok(Some(Err(e))) => {
                    end = format!("error: {e}");
                    break;
                }
                Ok(Some(Ok(Message::Close(c)))) => {
                    end = format!("close {:?}", c.map(|c| u16::from(c.code)));
                    break;
                }
                Ok(Some(Ok(Message::Text(t)))) => {
                    let Ok(f) = serde_json::from_str::<Frame>(t.as_str()) else {
                        continue;
                    };
                    match f.ty {
                        "ack" if f.client_id.is_some() => acked.push(f.seq.unwrap_or(-1)),
                        "error" => {
                            *errors
                                .entry(f.code.unwrap_or("?").to_owned())
                                .or_insert(0u64) += 1;
                        }
                        _ => {}
                    }
                }
                Ok(Some(Ok(_))) => {}
            }
        }
        if (acked.len() as u64) >= mine {
            end = "done".into();
        }
        (acked, errors, end, stream)
    });
    let mut sent = 0u64;
    for k in (index as u64..total).step_by(senders) {
        let at = start + Duration::from_secs_f64(k as f64 / rate);
        if at > hard_deadline {
            break;
        }
        tokio::time::sleep_until(at).await;
        let body = format!("t={} k={k}", now_ns(t0));
        let frame = json!({"type": "message.send", "body": body, "client_id": k.to_string()});
        match tokio::time::timeout(
            Duration::from_secs(5),
            sink.send(Message::text(frame.to_string())),
        )
        .await
        {
            Ok(Ok(())) => sent += 1,
            _ => break,
        }
    }
    let (acked, errors, end, stream) = reader.await.unwrap();
    if let Ok(mut ws) = sink.reunite(stream) {
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    }
    SenderResult {
        sent,
        acked,
        errors,
        end,
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
    let mut sender_ends: BTreeMap<String, u64> = BTreeMap::new();
    for t in send_tasks {
        let r = t.await.unwrap();
        sent += r.sent;
        acked.extend(r.acked);
        for (k, v) in r.errors {
            *send_errors.entry(k).or_insert(0) += v;
        }
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
    let acked_set: std::collections::HashSet<i64> = acked.iter().copied().collect();
    let n_subs = results.len() as u64;
    let expected_deliveries = acked.len() as u64 * n_subs;
    let mut received = 0u64;
    let (mut lost, mut dups, mut ooo) = (0u64, 0u64, 0u64);
    let mut subs_with_loss = 0u64;
    let mut ends: BTreeMap<String, u64> = BTreeMap::new();
    let mut lat: Vec<u32> = Vec::with_capacity(expected_deliveries as usize);
    let mut stored: Vec<u32> = Vec::with_capacity(expected_deliveries as usize);
    let mut fanout: Vec<u32> = Vec::with_capacity(expected_deliveries as usize);
    for r in &mut results {
        let got: std::collections::HashSet<i64> = r.seqs.iter().copied().collect();
        let missing = acked_set.iter().filter(|q| !got.contains(q)).count() as u64;
        if missing > 0 {
            subs_with_loss += 1;
        }
        lost += missing;
        received += r.seqs.len() as u64;
        dups += r.duplicates;
        ooo += r.out_of_order;
        *ends.entry(std::mem::take(&mut r.end)).or_insert(0) += 1;
        lat.append(&mut r.latencies_us);
        stored.append(&mut r.stored_us);
        fanout.append(&mut r.fanout_us);
    }
    lat.sort_unstable();
    stored.sort_unstable();
    fanout.sort_unstable();
    println!("| measurement | result |\n|---|---|");
    println!(
        "| config | {} subscribers · {} senders · {} msg/s · {} s |",
        n_subs, n_senders, args.rate, args.duration
    );
    println!(
        "| messages | {} to send · {sent} sent in {:.1} s · {} acked (seq {}..{}) · send errors {:?} |",
        total,
        send_wall.as_secs_f64(),
        acked.len(),
        acked.first().copied().unwrap_or(0),
        max_seq,
        send_errors
    );
    println!(
        "| deliveries | expected {expected_deliveries} · received {received} · lost {lost} (on {subs_with_loss} subscribers) · duplicates {dups} · out of order {ooo} |"
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
    println!(
        "| idle connections | {} open ({} failed{}) in {open_s:.1} s |",
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
    let mut senders = if args.idle.is_some() {
        2
    } else {
        args.senders.max(1)
    };
    let per_sender = args.rate / senders as f64;
    if args.idle.is_none() && per_sender > SERVER_SEND_LIMIT_PER_SEC * 0.9 {
        senders = (args.rate / (SERVER_SEND_LIMIT_PER_SEC * 0.8)).ceil() as usize;
        eprintln!(
            "note: {per_sender:.1} msg/s per sender exceeds the server's 5/s per-connection limit; using {senders} senders"
        );
    }
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
