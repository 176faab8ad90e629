//! Two server instances on one PostgreSQL + Redis: a logout on one takes effect on the
//! other at once, and tokens issued by one are accepted by the other.

use agora_tests::App;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_one_instance_revokes_on_the_other() {
    let Some(a) = App::postgres_redis().await else {
        return;
    };
    let b = a.another_instance();
    let b_url = b.url();

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

    b.stop().await;
    a.stop().await;
}
