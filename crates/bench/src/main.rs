//! HTTP benchmarks of the account endpoints on both storage modes.
//!
//! Starts a real server in this process (its own actix runtime and workers), then
//! measures, from a tokio client on loopback:
//! - login cost: sequential `POST /api/users/login/` (dominated by one argon2id verify);
//! - `GET /api/users/me/` with a bearer token: throughput and latency percentiles under
//!   a fixed number of concurrent clients (each request verifies the JWT and checks the
//!   revocation list, then reads the account and its grants).
//!
//! Results are printed as Markdown rows for docs/benchmarks.md.
#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark tool: abort loudly

use std::collections::HashMap;
use std::time::{Duration, Instant};

use adapter_postgres::testing::TestDatabase;
use adapter_redis::testing::TestRedis;
use api_server::{BackgroundServer, Config};
use clap::{Parser, ValueEnum};
use serde_json::json;

mod jobs;
mod rate;
mod rbac;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Suite {
    /// Login and GET /api/users/me/.
    Accounts,
    /// RBAC decision latency.
    Rbac,
    /// Job queue throughput and notification fan-out.
    Jobs,
    /// Throughput of the shared send-rate limiter (only when asked for).
    Rate,
    /// Both.
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    Memory,
    Postgres,
    Both,
}

/// Benchmark login cost and authenticated GET /api/users/me/.
#[derive(Parser, Debug)]
struct Args {
    /// What to measure.
    #[arg(long, value_enum, default_value = "all")]
    suite: Suite,
    /// Storage mode(s) to measure.
    #[arg(long, value_enum, default_value = "both")]
    mode: Mode,
    /// Sequential logins to time.
    #[arg(long, default_value_t = 30)]
    logins: usize,
    /// Total GET /api/users/me/ requests per run.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Server worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

struct Stats {
    median: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        median: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        max: *v.last().unwrap(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn run(label: &str, env: HashMap<String, String>, args: &Args) {
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("config");
    let server = BackgroundServer::spawn(config).expect("server");
    let base = server.url();
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .unwrap();

    let pw = "a benchmark passphrase";
    let res = client
        .post(format!("{base}/api/users/register/"))
        .json(&json!({"username": "perfuser", "email": "perf@example.org", "password": pw}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // login cost, sequential
    let mut login_times = Vec::with_capacity(args.logins);
    let mut access = String::new();
    for _ in 0..args.logins {
        let t = Instant::now();
        let res = client
            .post(format!("{base}/api/users/login/"))
            .json(&json!({"login": "perfuser", "password": pw}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        login_times.push(t.elapsed());
        access = body["access"].as_str().unwrap().to_owned();
    }
    let login = stats(login_times);

    // GET /me: warm-up, then the timed run
    let per_client = args.requests / args.concurrency;
    let url = format!("{base}/api/users/me/");
    for _ in 0..200 {
        assert_eq!(
            client
                .get(&url)
                .bearer_auth(&access)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (client, url, access) = (client.clone(), url.clone(), access.clone());
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                let t = Instant::now();
                let res = client.get(&url).bearer_auth(&access).send().await.unwrap();
                assert_eq!(res.status(), 200);
                let _ = res.bytes().await.unwrap();
                times.push(t.elapsed());
            }
            times
        }));
    }
    let mut all = Vec::with_capacity(args.requests);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let wall = started.elapsed();
    let n = all.len();
    let me = stats(all);
    println!(
        "| {label} | login (sequential, n={}) | median {} · p90 {} · max {} |",
        args.logins,
        ms(login.median),
        ms(login.p90),
        ms(login.max)
    );
    println!(
        "| {label} | GET /api/users/me/ ({} clients, n={n}) | {:.0} req/s · median {} · p90 {} · p99 {} |",
        args.concurrency,
        n as f64 / wall.as_secs_f64(),
        ms(me.median),
        ms(me.p90),
        ms(me.p99)
    );
    server.stop().await;
}

fn base_env(workers: usize) -> HashMap<String, String> {
    let mut env = HashMap::new();
    env.insert("AGORA_BIND".into(), "127.0.0.1:0".into());
    env.insert(
        "AGORA_JWT_SECRET".into(),
        "bench-only-key-q8Zr1VtYx3Lm9Pw2Ks7Df4Gh6Jn0BcXa5Ue".into(),
    );
    env.insert("AGORA_WORKERS".into(), workers.to_string());
    env.insert("AGORA_LOGIN_MAX_FAILURES".into(), "1000".into());
    // every simulated user signs up from 127.0.0.1
    env.insert("AGORA_REGISTER_MAX_PER_CLIENT".into(), "1000000".into());
    env.insert("RUST_LOG".into(), "warn".into());
    env
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if matches!(args.suite, Suite::Rate) {
        rate_suite(args.mode, args.concurrency).await;
        return;
    }
    if matches!(args.suite, Suite::Jobs | Suite::All) {
        jobs_suite(args.mode).await;
    }
    if matches!(args.suite, Suite::Jobs) {
        return;
    }
    if matches!(args.suite, Suite::Rbac | Suite::All) {
        rbac_suite(args.mode).await;
    }
    if matches!(args.suite, Suite::Rbac) {
        return;
    }
    println!("| mode | measurement | result |\n|---|---|---|");
    if matches!(args.mode, Mode::Memory | Mode::Both) {
        run("memory", base_env(args.workers), &args).await;
    }
    if matches!(args.mode, Mode::Postgres | Mode::Both) {
        let db = TestDatabase::create()
            .await
            .expect("PostgreSQL (TEST_DATABASE_URL) is needed for --mode postgres");
        let redis = TestRedis::create()
            .await
            .expect("Redis (TEST_REDIS_URL) is needed for --mode postgres");
        let mut env = base_env(args.workers);
        env.insert("DATABASE_URL".into(), db.url().to_owned());
        env.insert("REDIS_URL".into(), redis.url().to_owned());
        env.insert("AGORA_REDIS_PREFIX".into(), redis.prefix().to_owned());
        env.insert("AGORA_DB_POOL_SIZE".into(), "16".into());
        run("postgres+redis", env, &args).await;
        db.cleanup().await;
        redis.cleanup().await;
    }
}

/// Users to notify in the fan-out benchmark.
const FANOUT_USERS: usize = 2_000;
/// Jobs per throughput run.
const JOBS: u64 = 5_000;

async fn users(repo: &dyn domain_identity::UserRepository, n: usize) -> Vec<uuid::Uuid> {
    #[allow(clippy::disallowed_methods)] // set-up data, not a rule
    let now = chrono::Utc::now();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let user = domain_identity::NewUser {
            id: domain_identity::UserId::new_random(),
            username: domain_identity::Username::parse(&format!("reader{i}x{}", &tag[..8]))
                .unwrap(),
            email: domain_identity::Email::parse(&format!("reader{i}.{tag}@example.org")).unwrap(),
            password_hash: "$argon2id$unused".into(),
            created_at: now,
        };
        ids.push(repo.insert(user).await.unwrap().id.as_uuid());
    }
    ids
}

async fn jobs_suite(mode: Mode) {
    use std::sync::Arc;

    println!("| mode | measurement | result |\n|---|---|---|");
    if matches!(mode, Mode::Memory | Mode::Both) {
        let queue = Arc::new(adapter_memory::MemoryJobQueue::new());
        jobs::job_throughput("memory", queue, JOBS, 2, 8).await;
        let user_repo = Arc::new(adapter_memory::MemoryUserRepository::default());
        let ids = users(user_repo.as_ref(), FANOUT_USERS).await;
        let store = Arc::new(adapter_memory::MemoryNotificationStore::new(user_repo));
        let service = jobs::service(
            store.clone(),
            store,
            Arc::new(adapter_memory::MemoryUnreadCounter::new()),
        );
        jobs::notification_fanout("memory", service, &ids).await;
    }
    if matches!(mode, Mode::Postgres | Mode::Both) {
        let db = TestDatabase::create()
            .await
            .expect("PostgreSQL (TEST_DATABASE_URL) is needed for --mode postgres");
        let redis = TestRedis::create()
            .await
            .expect("Redis (TEST_REDIS_URL) is needed for --mode postgres");
        let queue = Arc::new(adapter_postgres::PgJobQueue::new(db.pool().clone()));
        jobs::job_throughput("postgres", queue, JOBS, 2, 8).await;
        let user_repo = adapter_postgres::PgUserRepository::new(db.pool().clone());
        let ids = users(&user_repo, FANOUT_USERS).await;
        let store = Arc::new(adapter_postgres::PgNotificationStore::new(
            db.pool().clone(),
        ));
        let counter = Arc::new(adapter_redis::RedisUnreadCounter::new(
            redis.pool().clone(),
            redis.prefix().to_owned(),
        ));
        let service = jobs::service(store.clone(), store, counter);
        jobs::notification_fanout("postgres+redis", service, &ids).await;
        db.cleanup().await;
        redis.cleanup().await;
    }
}

async fn rate_suite(mode: Mode, concurrency: usize) {
    use std::sync::Arc;

    println!("| mode | measurement | result |\n|---|---|---|");
    if matches!(mode, Mode::Memory | Mode::Both) {
        let limiter = Arc::new(adapter_memory::MemoryRateLimiter::new());
        rate::throughput("memory", limiter, concurrency).await;
    }
    if matches!(mode, Mode::Postgres | Mode::Both) {
        let redis = TestRedis::create()
            .await
            .expect("Redis (TEST_REDIS_URL) is needed for --mode postgres");
        let limiter = Arc::new(adapter_redis::RedisRateLimiter::new(
            redis.pool().clone(),
            redis.prefix(),
        ));
        rate::throughput("redis", limiter, concurrency).await;
        redis.cleanup().await;
    }
    println!();
}

async fn rbac_suite(mode: Mode) {
    use std::sync::Arc;

    use domain_org::{Institution, OrgRepository};
    use domain_rbac::{RbacRepository, RoleAssignment, Scope, default_roles};

    println!("| measurement | result |\n|---|---|");
    rbac::pure_decision();

    #[allow(clippy::disallowed_methods)] // set-up data, not a rule
    let now = chrono::Utc::now();
    let user_id = domain_identity::UserId::new_random();
    let new_user = domain_identity::NewUser {
        id: user_id,
        username: domain_identity::Username::parse("decider").unwrap(),
        email: domain_identity::Email::parse("decider@example.org").unwrap(),
        password_hash: "$argon2id$unused".into(),
        created_at: now,
    };
    let inst = Institution {
        id: uuid::Uuid::new_v4(),
        name: "Bench U".into(),
        created_by: None,
        created_at: now,
    };
    let grant = RoleAssignment {
        id: uuid::Uuid::new_v4(),
        user_id: user_id.as_uuid(),
        role: "institute_admin".into(),
        scope: Scope::Institution(inst.id),
        expires_at: None,
        granted_by: None,
        granted_at: now,
    };
    let audit = |action: &str| domain_rbac::AuditRecord {
        id: uuid::Uuid::new_v4(),
        at: now,
        actor: None,
        action: action.into(),
        target: "bench".into(),
        scope: None,
        before: None,
        after: None,
        request_id: None,
    };

    if matches!(mode, Mode::Memory | Mode::Both) {
        let users = Arc::new(adapter_memory::MemoryUserRepository::default());
        domain_identity::UserRepository::insert(users.as_ref(), new_user.clone())
            .await
            .unwrap();
        let repo = Arc::new(adapter_memory::MemoryRbacRepository::new(users.clone()));
        let org = Arc::new(adapter_memory::MemoryOrgRepository::new(users));
        org.insert_institution(inst.clone()).await.unwrap();
        repo.seed_roles(default_roles()).await.unwrap();
        repo.insert_assignment(grant.clone(), audit("grant.create"), &[])
            .await
            .unwrap();
        rbac::service_check(
            "memory",
            repo,
            org,
            Arc::new(adapter_memory::MemorySubjectCache::default()),
            Arc::new(adapter_memory::MemoryInvalidationBus::default()),
            user_id.as_uuid(),
            Scope::Institution(inst.id),
        )
        .await;
    }
    if matches!(mode, Mode::Postgres | Mode::Both) {
        let db = TestDatabase::create()
            .await
            .expect("PostgreSQL (TEST_DATABASE_URL)");
        let redis = TestRedis::create().await.expect("Redis (TEST_REDIS_URL)");
        let pool = db.pool().clone();
        domain_identity::UserRepository::insert(
            &adapter_postgres::PgUserRepository::new(pool.clone()),
            new_user,
        )
        .await
        .unwrap();
        let repo = Arc::new(adapter_postgres::PgRbacRepository::new(pool.clone()));
        let org = Arc::new(adapter_postgres::PgOrgRepository::new(pool));
        org.insert_institution(inst.clone()).await.unwrap();
        repo.seed_roles(default_roles()).await.unwrap();
        repo.insert_assignment(grant, audit("grant.create"), &[])
            .await
            .unwrap();
        rbac::service_check(
            "postgres+redis",
            repo,
            org,
            Arc::new(adapter_redis::RedisSubjectCache::new(
                redis.pool().clone(),
                redis.prefix(),
            )),
            Arc::new(adapter_redis::RedisInvalidationBus::new(
                redis.pool().clone(),
                redis.prefix(),
            )),
            user_id.as_uuid(),
            Scope::Institution(inst.id),
        )
        .await;
        db.cleanup().await;
        redis.cleanup().await;
    }
    println!();
}
