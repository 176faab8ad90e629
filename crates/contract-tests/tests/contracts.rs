//! Every port contract of `contract-tests`, run against the in-memory adapters and
//! against the PostgreSQL/Redis adapters. One binary (linking dominates test build
//! time); each test gets a fresh store — a new memory adapter, a database copied from
//! the migrated template, a private Redis key prefix — so they run in parallel.
//!
//! Without PostgreSQL or Redis the `postgres_redis` tests return early after one
//! `SKIPPED` line on stderr; with `CI=true` they fail instead.

/// Declares one test per contract, in a module named after the port.
/// `$run` receives the contract's path and awaits it against fresh adapters.
macro_rules! contracts {
    ($port:ident => [$($contract:ident),+ $(,)?], $run:ident) => {
        mod $port {
            $(
                #[tokio::test]
                async fn $contract() {
                    $run!(contract_tests::$port::$contract);
                }
            )+
        }
    };
}

mod memory {
    use adapter_memory::{
        MemoryAttemptLimiter, MemoryGrantSource, MemoryRevocationList, MemorySessionRepository,
        MemoryUserRepository,
    };

    macro_rules! users {
        ($contract:path) => {
            $contract(&super::MemoryUserRepository::new()).await
        };
    }
    macro_rules! sessions {
        ($contract:path) => {
            $contract(
                &super::MemoryUserRepository::new(),
                &super::MemorySessionRepository::new(),
            )
            .await
        };
    }
    macro_rules! revocation {
        ($contract:path) => {
            $contract(&super::MemoryRevocationList::new()).await
        };
    }
    macro_rules! limiter {
        ($contract:path) => {
            $contract(&super::MemoryAttemptLimiter::new()).await
        };
    }
    macro_rules! grants {
        ($contract:path) => {
            $contract(
                &super::MemoryUserRepository::new(),
                &super::MemoryGrantSource::new(),
            )
            .await
        };
    }

    contracts!(users => [insert_and_find, usernames_and_emails_are_unique, updates], users);
    contracts!(sessions => [
        create_and_get,
        rotation_hands_on,
        reuse_revokes_the_session,
        invalid_tokens_change_nothing,
        list_active_newest_first,
        revoke_reports_whether_active,
        revoke_all_except_keep,
        concurrent_rotation_has_one_winner,
    ], sessions);
    contracts!(revocation => [tokens_and_sessions, entries_expire_at_until, later_until_wins], revocation);
    contracts!(limiter => [
        counts_and_blocks,
        windows_start_at_first_failure,
        reset_forgets,
        concurrent_failures_all_count,
    ], limiter);
    contracts!(grants => [add_is_idempotent, expiring_grants], grants);
}

mod postgres_redis {
    use adapter_postgres::testing::TestDatabase;
    use adapter_postgres::{PgGrantSource, PgSessionRepository, PgUserRepository};
    use adapter_redis::testing::TestRedis;
    use adapter_redis::{RedisAttemptLimiter, RedisRevocationList};

    macro_rules! users {
        ($contract:path) => {{
            let Some(db) = super::TestDatabase::create().await else {
                return;
            };
            $contract(&super::PgUserRepository::new(db.pool().clone())).await;
            db.cleanup().await;
        }};
    }
    macro_rules! sessions {
        ($contract:path) => {{
            let Some(db) = super::TestDatabase::create().await else {
                return;
            };
            let pool = db.pool().clone();
            $contract(
                &super::PgUserRepository::new(pool.clone()),
                &super::PgSessionRepository::new(pool),
            )
            .await;
            db.cleanup().await;
        }};
    }
    macro_rules! grants {
        ($contract:path) => {{
            let Some(db) = super::TestDatabase::create().await else {
                return;
            };
            let pool = db.pool().clone();
            $contract(
                &super::PgUserRepository::new(pool.clone()),
                &super::PgGrantSource::new(pool),
            )
            .await;
            db.cleanup().await;
        }};
    }
    macro_rules! revocation {
        ($contract:path) => {{
            let Some(redis) = super::TestRedis::create().await else {
                return;
            };
            let list = super::RedisRevocationList::new(redis.pool().clone(), redis.prefix());
            $contract(&list).await;
            redis.cleanup().await;
        }};
    }
    macro_rules! limiter {
        ($contract:path) => {{
            let Some(redis) = super::TestRedis::create().await else {
                return;
            };
            let limiter = super::RedisAttemptLimiter::new(redis.pool().clone(), redis.prefix());
            $contract(&limiter).await;
            redis.cleanup().await;
        }};
    }

    contracts!(users => [insert_and_find, usernames_and_emails_are_unique, updates], users);
    contracts!(sessions => [
        create_and_get,
        rotation_hands_on,
        reuse_revokes_the_session,
        invalid_tokens_change_nothing,
        list_active_newest_first,
        revoke_reports_whether_active,
        revoke_all_except_keep,
        concurrent_rotation_has_one_winner,
    ], sessions);
    contracts!(revocation => [tokens_and_sessions, entries_expire_at_until, later_until_wins], revocation);
    contracts!(limiter => [
        counts_and_blocks,
        windows_start_at_first_failure,
        reset_forgets,
        concurrent_failures_all_count,
    ], limiter);
    contracts!(grants => [add_is_idempotent, expiring_grants], grants);
}
