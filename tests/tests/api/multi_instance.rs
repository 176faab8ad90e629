//! Two server processes on one PostgreSQL + Redis: a logout or a revoked role on one takes
//! effect on the other at once, and tokens issued by one are accepted by the other.

use agora_tests::App;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_one_instance_revokes_on_the_other() {
    let Some(a) = App::postgres_redis().await else {
        return;
    };
    let b = a.another_process().await;
    let b_url = b.url.clone();

    let access = a.signed_up("ivan").await;
    let me_on_b = |token: String| {
        let client = a.client.clone();
        let url = format!("{b_url}/api/users/me/");
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        me_on_b(access.clone()).await,
        200,
        "instance B accepts A's token"
    );
    assert_eq!(
        a.post_auth("/api/users/logout/", &access, json!({}))
            .await
            .status(),
        204
    );
    assert_eq!(
        me_on_b(access).await,
        401,
        "B refuses it right after logout on A"
    );

    drop(b);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_role_stops_working_on_the_other_instance_within_a_second() {
    let Some(a) = App::postgres_redis().await else {
        return;
    };
    let b = a.another_process().await;
    let root = a.admin_token().await;
    let res = a
        .post_auth(
            "/api/org/institutions/",
            &root,
            json!({"name": "Gamma Institute"}),
        )
        .await;
    let inst = res.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (uid, token) = a.user("judy").await;
    let grant = a
        .grant(
            &root,
            &uid,
            "institute_admin",
            &format!("institution:{inst}"),
        )
        .await;

    let rename_on_b = || {
        let client = a.client.clone();
        let url = format!("{}/api/org/institutions/{inst}/", b.url);
        let token = token.clone();
        async move {
            client
                .patch(url)
                .bearer_auth(token)
                .json(&json!({"name": "Gamma Institute"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        rename_on_b().await,
        200,
        "B honours the grant (and caches it)"
    );
    assert_eq!(rename_on_b().await, 200);
    assert_eq!(
        a.status(
            "DELETE",
            &format!("/api/rbac/grants/{grant}/"),
            Some(&root),
            None
        )
        .await,
        204
    );
    let revoked_at = std::time::Instant::now();
    let mut status = 200;
    while revoked_at.elapsed() < std::time::Duration::from_secs(1) {
        status = rename_on_b().await;
        if status == 403 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, 403, "B still allowed the revoked role after 1 s");
    drop(b);
    a.stop().await;
}

/// Asks `base` whether an anonymous caller may read debate topics (the guest template).
async fn guest_reads_topics_on(client: &reqwest::Client, base: &str) -> bool {
    let res = client
        .post(format!("{base}/api/rbac/check/"))
        .json(&json!({"permission": "debate_topic.read", "scope": "global"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<serde_json::Value>().await.unwrap()["allowed"]
        .as_bool()
        .unwrap()
}

/// Polls B for up to one second until the guest template says `expected`.
async fn within_a_second_on(client: &reqwest::Client, base: &str, expected: bool) -> bool {
    let since = std::time::Instant::now();
    loop {
        if guest_reads_topics_on(client, base).await == expected {
            return true;
        }
        if since.elapsed() >= std::time::Duration::from_secs(1) {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_reset_on_one_instance_is_in_force_on_the_other_within_a_second() {
    let Some(a) = App::postgres_redis().await else {
        return;
    };
    let b = a.another_process().await;
    let root = a.admin_token().await;
    assert!(guest_reads_topics_on(&a.client, &b.url).await);

    let guest: serde_json::Value = a
        .get_auth("/api/rbac/roles/guest/", &root)
        .await
        .json()
        .await
        .unwrap();
    let narrowed: Vec<&str> = guest["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .filter(|p| *p != "debate_topic.read")
        .collect();
    let res = a
        .client
        .put(a.at("/api/rbac/roles/guest/permissions/"))
        .bearer_auth(&root)
        .json(&json!({ "permissions": narrowed }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        within_a_second_on(&a.client, &b.url, false).await,
        "B still used the old guest template after 1 s"
    );

    let res = a
        .post_auth("/api/rbac/roles/guest/reset/", &root, json!({}))
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        within_a_second_on(&a.client, &b.url, true).await,
        "B did not see the reset within 1 s"
    );
    drop(b);
    a.stop().await;
}
