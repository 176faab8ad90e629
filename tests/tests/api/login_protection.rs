//! Login and registration protection (issue #11): an attacker's failed logins cannot lock
//! the owner out, and registration is limited per client address — played from many
//! addresses through `X-Forwarded-For` behind a trusted proxy.

use std::collections::BTreeMap;
use std::time::Instant;

use agora_tests::{App, assert_problem};
use serde_json::{Value, json};

const OWNER_PASSWORD: &str = "owner's own long passphrase";

/// POST from a client address (the server trusts `X-Forwarded-For` in these tests).
async fn post_from(app: &App, ip: &str, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.at(path))
        .header("x-forwarded-for", ip)
        .json(&body)
        .send()
        .await
        .expect("request")
}

async fn login_from(app: &App, ip: &str, login: &str, password: &str) -> reqwest::Response {
    post_from(
        app,
        ip,
        "/api/users/login/",
        json!({"login": login, "password": password}),
    )
    .await
}

/// `attempts` wrong passwords for `victim` from `ip`, one after the other; the count of
/// each status answered.
async fn attack(app: &App, ip: String, victim: &str, attempts: usize) -> BTreeMap<u16, usize> {
    let mut statuses = BTreeMap::new();
    for i in 0..attempts {
        let res = login_from(app, &ip, victim, &format!("guess number {i}")).await;
        *statuses.entry(res.status().as_u16()).or_default() += 1;
    }
    statuses
}

fn merge(into: &mut BTreeMap<u16, usize>, from: BTreeMap<u16, usize>) {
    for (status, n) in from {
        *into.entry(status).or_default() += n;
    }
}

/// The retry-after of a 429 problem answer, checked to be whole positive seconds.
async fn refused(res: reqwest::Response) -> u64 {
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0, "retry-after {retry}");
    assert_problem(res, 429).await;
    retry
}

async fn attacker_cannot_lock_out_the_owner(app: &App) {
    app.register("olga", "olga@example.org", OWNER_PASSWORD)
        .await;
    let owner_ip = "203.0.113.5";
    let lone = "198.51.100.1".to_owned();
    let botnet: Vec<String> = (1..=20).map(|i| format!("192.0.2.{i}")).collect();

    // 1 000 failures from one address
    let started = Instant::now();
    let one = attack(app, lone.clone(), "olga", 1000).await;
    println!(
        "1000 failed logins from one address in {:?}: {one:?}",
        started.elapsed()
    );
    assert_eq!(
        one.get(&401).copied(),
        Some(5),
        "five wrong answers, then locked: {one:?}"
    );
    assert_eq!(one.get(&429).copied(), Some(995), "{one:?}");

    // 1 000 more from 20 addresses, 50 each, the addresses at the same time
    let started = Instant::now();
    let mut many = BTreeMap::new();
    for statuses in
        futures_util::future::join_all(botnet.iter().map(|ip| attack(app, ip.clone(), "olga", 50)))
            .await
    {
        merge(&mut many, statuses);
    }
    println!(
        "1000 failed logins from 20 addresses in {:?}: {many:?}",
        started.elapsed()
    );
    assert_eq!(
        many.keys().copied().collect::<Vec<_>>(),
        [401, 429],
        "wrong or refused, nothing else: {many:?}"
    );
    assert!(many[&401] <= 100, "at most five wrong answers per address");

    // the owner, from their own address, signs in at once
    let started = Instant::now();
    let res = login_from(app, owner_ip, "olga", OWNER_PASSWORD).await;
    let took = started.elapsed();
    assert_eq!(
        res.status(),
        200,
        "the owner signs in: {}",
        res.text().await.unwrap_or_default()
    );
    println!("the owner signed in after 2000 failed attempts in {took:?}");
    // and by e-mail too, from a phone on another network
    let res = login_from(app, "2001:db8:55::1", "olga@example.org", OWNER_PASSWORD).await;
    assert_eq!(res.status(), 200);

    // every attacking address is refused, even with the right password
    for ip in std::iter::once(&lone).chain(&botnet) {
        refused(login_from(app, ip, "olga", OWNER_PASSWORD).await).await;
    }
}

/// Credential stuffing from a school's one address: the stuffer is slowed and loses each
/// account it fails on; a pupil behind the same address signs in to their own.
async fn stuffing_behind_a_shared_address_spares_the_neighbours(app: &App) {
    let school = "198.51.100.20";
    app.register("pupil", "pupil@example.org", OWNER_PASSWORD)
        .await;
    // 30 failures, then 4 more as a stuffer (held back 0.1 to 0.8 s)
    for i in 0..34 {
        let res = login_from(app, school, &format!("stranger{i}"), "leaked password").await;
        assert_eq!(res.status(), 401, "attempt {i}");
    }
    // a second try on one of those names is refused for that name only
    refused(login_from(app, school, "stranger33", "another leaked one").await).await;
    let res = login_from(app, school, "pupil", OWNER_PASSWORD).await;
    assert_eq!(res.status(), 200, "the pupil signs in from the school");
}

/// Twenty guesses sent at once from one address get no more than the pair's five tries:
/// each claims its try before the (slow) password check.
async fn concurrent_guesses_from_one_address_get_five_tries(app: &App) {
    app.register("tess", "tess@example.org", OWNER_PASSWORD)
        .await;
    let answers = futures_util::future::join_all(
        (0..20).map(|_| login_from(app, "198.51.100.40", "tess", "a wrong guess")),
    )
    .await;
    let mut statuses = BTreeMap::new();
    for res in answers {
        *statuses.entry(res.status().as_u16()).or_insert(0usize) += 1;
    }
    println!("20 concurrent wrong logins from one address: {statuses:?}");
    assert_eq!(
        statuses.get(&401),
        Some(&5),
        "five were checked: {statuses:?}"
    );
    assert_eq!(statuses.get(&429), Some(&15), "{statuses:?}");
    // the owner, elsewhere
    app.login("tess", OWNER_PASSWORD).await;
}

async fn registration_is_limited_per_address(app: &App) {
    let class = "198.51.100.30";
    for i in 0..5 {
        let res = post_from(
            app,
            class,
            "/api/users/register/",
            json!({"username": format!("bot{i}"), "email": format!("bot{i}@example.org"),
                   "password": OWNER_PASSWORD}),
        )
        .await;
        assert_eq!(res.status(), 201, "registration {i}");
    }
    let res = post_from(
        app,
        class,
        "/api/users/register/",
        json!({"username": "bot5", "email": "bot5@example.org", "password": OWNER_PASSWORD}),
    )
    .await;
    let retry = refused(res).await;
    assert!(retry <= 3600, "within the window: {retry}");
    let res = post_from(
        app,
        "198.51.100.31",
        "/api/users/register/",
        json!({"username": "bot5", "email": "bot5@example.org", "password": OWNER_PASSWORD}),
    )
    .await;
    assert_eq!(
        res.status(),
        201,
        "another address still registers, and the name was free: the refusal created nothing"
    );
}

const SETTINGS: &[(&str, &str)] = &[
    ("AGORA_TRUST_PROXY", "true"),
    ("AGORA_REGISTER_MAX_PER_CLIENT", "5"),
];

macro_rules! both_modes_with_settings {
    ($($story:ident),* $(,)?) => {
        $(
            mod $story {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn memory() {
                    let app = agora_tests::App::memory_with(super::SETTINGS).await;
                    super::$story(&app).await;
                    app.stop().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_redis() {
                    let Some(app) = agora_tests::App::postgres_redis_with(super::SETTINGS).await
                    else {
                        return;
                    };
                    super::$story(&app).await;
                    app.stop().await;
                }
            }
        )*
    };
}

both_modes_with_settings!(
    attacker_cannot_lock_out_the_owner,
    stuffing_behind_a_shared_address_spares_the_neighbours,
    concurrent_guesses_from_one_address_get_five_tries,
    registration_is_limited_per_address,
);
