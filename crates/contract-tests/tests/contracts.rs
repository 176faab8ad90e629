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
    use adapter_memory::MemorySubjectCache;
    use adapter_memory::{
        MemoryAttemptLimiter, MemoryGrantSource, MemoryLoginSessionRepository,
        MemoryRevocationList, MemoryUserRepository,
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
                &super::MemoryLoginSessionRepository::new(),
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

    macro_rules! subject_cache {
        ($contract:path) => {
            $contract(&super::MemorySubjectCache::new()).await
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
        purge_removes_only_ended_sessions,
    ], sessions);
    contracts!(revocation => [tokens_and_sessions, entries_expire_at_until, later_until_wins], revocation);
    contracts!(limiter => [
        counts_and_blocks,
        windows_start_at_first_failure,
        reset_forgets,
        concurrent_failures_all_count,
        locks_refuse_until_they_end,
    ], limiter);
    contracts!(grants => [add_is_idempotent, expiring_grants], grants);
    contracts!(subject_cache => [put_and_get, invalidate_drops_one_user, entries_expire], subject_cache);

    macro_rules! topic_bus {
        ($contract:path) => {
            $contract(&adapter_memory::MemoryTopicBus::default()).await
        };
    }
    contracts!(topic_bus => [delivers_per_topic_in_order, dropping_unsubscribes], topic_bus);

    macro_rules! presence {
        ($contract:path) => {
            $contract(&adapter_memory::MemoryPresence::new()).await
        };
    }
    contracts!(presence => [
        arrivals_and_departures,
        count_and_present,
        connections_expire_without_leave,
        refresh_extends_and_restores,
        rooms_are_independent,
        concurrent_enters_all_count,
    ], presence);

    macro_rules! rate_limit {
        ($contract:path) => {
            $contract(&adapter_memory::MemoryRateLimiter::new()).await
        };
    }
    contracts!(rate_limit => [
        burst_then_refusal_with_exact_retry_after,
        budget_refills_with_time,
        separate_keys_are_independent,
        concurrent_acquires_allow_exactly_the_burst,
        a_clock_behind_gives_no_extra_budget,
    ], rate_limit);
    macro_rules! rate_limit_shared {
        // clones share their store: two handles on one process's budgets
        ($contract:path) => {{
            let first = adapter_memory::MemoryRateLimiter::new();
            $contract(&first, &first.clone()).await
        }};
    }
    contracts!(rate_limit_shared => [two_limiters_share_one_budget], rate_limit_shared);
}

mod postgres_redis {
    use adapter_postgres::testing::TestDatabase;
    use adapter_postgres::{PgGrantSource, PgLoginSessionRepository, PgUserRepository};
    use adapter_redis::RedisSubjectCache;
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
                &super::PgLoginSessionRepository::new(pool),
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

    macro_rules! subject_cache {
        ($contract:path) => {{
            let Some(redis) = super::TestRedis::create().await else {
                return;
            };
            let cache = super::RedisSubjectCache::new(redis.pool().clone(), redis.prefix());
            $contract(&cache).await;
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
        purge_removes_only_ended_sessions,
    ], sessions);
    contracts!(revocation => [tokens_and_sessions, entries_expire_at_until, later_until_wins], revocation);
    contracts!(limiter => [
        counts_and_blocks,
        windows_start_at_first_failure,
        reset_forgets,
        concurrent_failures_all_count,
        locks_refuse_until_they_end,
    ], limiter);
    contracts!(grants => [add_is_idempotent, expiring_grants], grants);
    contracts!(subject_cache => [put_and_get, invalidate_drops_one_user, entries_expire], subject_cache);

    macro_rules! topic_bus {
        ($contract:path) => {{
            let Some(redis) = super::TestRedis::create().await else {
                return;
            };
            let bus = adapter_redis::RedisTopicBus::new(
                redis.pool().clone(),
                redis.url(),
                redis.prefix(),
            )
            .unwrap();
            $contract(&bus).await;
            redis.cleanup().await;
        }};
    }
    contracts!(topic_bus => [delivers_per_topic_in_order, dropping_unsubscribes], topic_bus);

    macro_rules! presence {
        ($contract:path) => {{
            let Some(redis) = super::TestRedis::create().await else {
                return;
            };
            let store = adapter_redis::RedisPresence::new(redis.pool().clone(), redis.prefix());
            $contract(&store).await;
            redis.cleanup().await;
        }};
    }
    contracts!(presence => [
        arrivals_and_departures,
        count_and_present,
        connections_expire_without_leave,
        refresh_extends_and_restores,
        rooms_are_independent,
        concurrent_enters_all_count,
    ], presence);

    macro_rules! rate_limit {
        ($contract:path) => {{
            let Some(redis) = super::TestRedis::create().await else {
                return;
            };
            let limiter =
                adapter_redis::RedisRateLimiter::new(redis.pool().clone(), redis.prefix());
            $contract(&limiter).await;
            redis.cleanup().await;
        }};
    }
    contracts!(rate_limit => [
        burst_then_refusal_with_exact_retry_after,
        budget_refills_with_time,
        separate_keys_are_independent,
        concurrent_acquires_allow_exactly_the_burst,
        a_clock_behind_gives_no_extra_budget,
    ], rate_limit);
    macro_rules! rate_limit_shared {
        // two instances: each with a pool (connections) of its own on the same Redis
        ($contract:path) => {{
            let Some(redis) = super::TestRedis::create().await else {
                return;
            };
            let other_pool = adapter_redis::connect(redis.url()).await.unwrap();
            let first = adapter_redis::RedisRateLimiter::new(redis.pool().clone(), redis.prefix());
            let second = adapter_redis::RedisRateLimiter::new(other_pool, redis.prefix());
            $contract(&first, &second).await;
            redis.cleanup().await;
        }};
    }
    contracts!(rate_limit_shared => [two_limiters_share_one_budget], rate_limit_shared);
}

/// The organisation tree: [`domain_org::OrgRepository`] and the
/// [`domain_rbac::ScopeDirectory`] read from it, on the in-memory adapter.
mod org_memory {
    use std::sync::Arc;

    use adapter_memory::{MemoryOrgRepository, MemoryUserRepository};

    macro_rules! org_repository {
        ($contract:path) => {{
            let users = super::Arc::new(super::MemoryUserRepository::new());
            let repo = super::MemoryOrgRepository::new(users.clone());
            $contract(&repo, &*users).await
        }};
    }
    macro_rules! scope_directory {
        ($contract:path) => {{
            let users = super::Arc::new(super::MemoryUserRepository::new());
            let repo = super::MemoryOrgRepository::new(users.clone());
            $contract(&repo, &*users).await
        }};
    }

    contracts!(org_repository => [
        insert_and_find,
        names_are_unique_per_parent,
        keyset_paging,
        members,
        deletes_cascade,
        deletes_race_with_adds,
    ], org_repository);
    contracts!(scope_directory => [
        paths_of_each_level,
        missing_units_have_none,
        memberships_and_units_within,
    ], scope_directory);
}

/// The same contracts on the PostgreSQL adapter.
mod org_postgres {
    use adapter_postgres::testing::TestDatabase;
    use adapter_postgres::{PgOrgRepository, PgUserRepository};

    macro_rules! org_repository {
        ($contract:path) => {{
            let Some(db) = super::TestDatabase::create().await else {
                return;
            };
            let pool = db.pool().clone();
            $contract(
                &super::PgOrgRepository::new(pool.clone()),
                &super::PgUserRepository::new(pool),
            )
            .await;
            db.cleanup().await;
        }};
    }
    macro_rules! scope_directory {
        ($contract:path) => {{
            let Some(db) = super::TestDatabase::create().await else {
                return;
            };
            let repo = super::PgOrgRepository::new(db.pool().clone());
            $contract(&repo, &super::PgUserRepository::new(db.pool().clone())).await;
            db.cleanup().await;
        }};
    }

    contracts!(org_repository => [
        insert_and_find,
        names_are_unique_per_parent,
        keyset_paging,
        members,
        deletes_cascade,
        deletes_race_with_adds,
    ], org_repository);
    contracts!(scope_directory => [
        paths_of_each_level,
        missing_units_have_none,
        memberships_and_units_within,
    ], scope_directory);
}

/// RBAC storage: [`domain_rbac::RbacRepository`], and identity's
/// [`domain_identity::GrantSource`] over the same assignments, on the in-memory adapter
/// (one `MemoryRbacRepository` serves both ports, as `user_roles` does in PostgreSQL).
/// The outbox contracts give the repository an outbox on a queue they can read.
mod rbac_memory {
    use std::sync::Arc;

    use adapter_memory::{
        MemoryJobQueue, MemoryOutbox, MemoryRbacRepository, MemoryUserRepository,
    };

    macro_rules! rbac {
        ($contract:path) => {{
            let users = super::Arc::new(super::MemoryUserRepository::new());
            let repo = super::MemoryRbacRepository::new(users.clone());
            $contract(&repo, &*users).await
        }};
    }
    macro_rules! rbac_grants {
        ($contract:path) => {{
            let users = super::Arc::new(super::MemoryUserRepository::new());
            let repo = super::MemoryRbacRepository::new(users.clone());
            $contract(&repo, &repo, &*users).await
        }};
    }
    macro_rules! rbac_outbox {
        ($contract:path) => {{
            let users = super::Arc::new(super::MemoryUserRepository::new());
            let queue = super::Arc::new(super::MemoryJobQueue::new());
            let repo = super::MemoryRbacRepository::new(users.clone())
                .with_outbox(super::MemoryOutbox::new(queue.clone()));
            $contract(&repo, &*users, &*queue).await
        }};
    }

    contracts!(rbac => [
        seeding_inserts_only_missing_roles,
        roles_and_overrides_round_trip,
        subject_lists_assignments_and_grants,
        duplicates_and_unknown_users_are_refused,
        deletes_cascade_and_report_not_found,
        list_assignments_filters_and_pages,
        every_write_is_audited_once,
        audit_filters_and_paging,
        purge_expired_deletes_only_expired_grants,
    ], rbac);
    contracts!(rbac_grants => [one_store_of_assignments], rbac_grants);
    contracts!(rbac_outbox => [
        assignments_record_their_events,
        refused_assignments_record_no_event,
    ], rbac_outbox);
    macro_rules! rbac_startup {
        ($contract:path) => {{
            let users = super::Arc::new(super::MemoryUserRepository::new());
            let repo = super::Arc::new(super::MemoryRbacRepository::new(users.clone()));
            $contract(repo, users).await
        }};
    }
    contracts!(rbac_startup => [start_up_repairs_protected_roles], rbac_startup);

    /// Identity's grant contracts, with the RBAC repository as the `GrantSource`.
    mod as_grant_source {
        macro_rules! grants {
            ($contract:path) => {{
                let users = std::sync::Arc::new(adapter_memory::MemoryUserRepository::new());
                let repo = adapter_memory::MemoryRbacRepository::new(users.clone());
                $contract(&*users, &repo).await
            }};
        }

        contracts!(grants => [add_is_idempotent, expiring_grants], grants);
    }
}

/// The same contracts on the PostgreSQL adapters (`PgRbacRepository` and
/// `PgGrantSource` on one database; the outbox's jobs read through `PgJobQueue` on it).
mod rbac_postgres {
    use adapter_postgres::testing::TestDatabase;
    use adapter_postgres::{PgGrantSource, PgJobQueue, PgRbacRepository, PgUserRepository};

    macro_rules! rbac {
        ($contract:path) => {{
            let Some(db) = super::TestDatabase::create().await else {
                return;
            };
            let pool = db.pool().clone();
            $contract(
                &super::PgRbacRepository::new(pool.clone()),
                &super::PgUserRepository::new(pool),
            )
            .await;
            db.cleanup().await;
        }};
    }
    macro_rules! rbac_grants {
        ($contract:path) => {{
            let Some(db) = super::TestDatabase::create().await else {
                return;
            };
            let pool = db.pool().clone();
            $contract(
                &super::PgRbacRepository::new(pool.clone()),
                &super::PgGrantSource::new(pool.clone()),
                &super::PgUserRepository::new(pool),
            )
            .await;
            db.cleanup().await;
        }};
    }
    macro_rules! rbac_outbox {
        ($contract:path) => {{
            let Some(db) = super::TestDatabase::create().await else {
                return;
            };
            let pool = db.pool().clone();
            $contract(
                &super::PgRbacRepository::new(pool.clone()),
                &super::PgUserRepository::new(pool.clone()),
                &super::PgJobQueue::new(pool),
            )
            .await;
            db.cleanup().await;
        }};
    }

    contracts!(rbac => [
        seeding_inserts_only_missing_roles,
        roles_and_overrides_round_trip,
        subject_lists_assignments_and_grants,
        duplicates_and_unknown_users_are_refused,
        deletes_cascade_and_report_not_found,
        list_assignments_filters_and_pages,
        every_write_is_audited_once,
        audit_filters_and_paging,
        purge_expired_deletes_only_expired_grants,
    ], rbac);
    contracts!(rbac_grants => [one_store_of_assignments], rbac_grants);
    contracts!(rbac_outbox => [
        assignments_record_their_events,
        refused_assignments_record_no_event,
    ], rbac_outbox);
    macro_rules! rbac_startup {
        ($contract:path) => {{
            let Some(db) = super::TestDatabase::create().await else {
                return;
            };
            let pool = db.pool().clone();
            $contract(
                std::sync::Arc::new(super::PgRbacRepository::new(pool.clone())),
                std::sync::Arc::new(super::PgUserRepository::new(pool)),
            )
            .await;
            db.cleanup().await;
        }};
    }
    contracts!(rbac_startup => [start_up_repairs_protected_roles], rbac_startup);
}

/// Debates: [`domain_debates::DebateRepository`] on the in-memory adapter, with the
/// accounts it checks creators, participants and authors against.
mod debates_memory {
    use std::sync::Arc;

    use adapter_memory::{MemoryDebateRepository, MemoryUserRepository};

    macro_rules! debates {
        ($contract:path) => {{
            let users = super::Arc::new(super::MemoryUserRepository::new());
            let repo = super::MemoryDebateRepository::new(users.clone());
            $contract(&repo, &*users).await
        }};
    }

    contracts!(debates => [
        visibility_and_readable_lists,
        topics_round_trip,
        topics_by_scope_and_page,
        sessions_round_trip_and_filters,
        transitions,
        concurrent_transitions_have_one_winner,
        seats,
        side_limits,
        concurrent_joins_respect_the_limit,
        messages_are_numbered,
        concurrent_appends_are_gapless,
        message_windows,
        deletes_cascade,
        ever_seated_users_are_everyone_who_took_part,
    ], debates);
}

/// The same contracts on the PostgreSQL adapter.
mod debates_postgres {
    use adapter_postgres::testing::TestDatabase;
    use adapter_postgres::{PgDebateRepository, PgUserRepository};

    macro_rules! debates {
        ($contract:path) => {{
            let Some(db) = super::TestDatabase::create().await else {
                return;
            };
            let pool = db.pool().clone();
            $contract(
                &super::PgDebateRepository::new(pool.clone()),
                &super::PgUserRepository::new(pool),
            )
            .await;
            db.cleanup().await;
        }};
    }

    contracts!(debates => [
        visibility_and_readable_lists,
        topics_round_trip,
        topics_by_scope_and_page,
        sessions_round_trip_and_filters,
        transitions,
        concurrent_transitions_have_one_winner,
        seats,
        side_limits,
        concurrent_joins_respect_the_limit,
        messages_are_numbered,
        concurrent_appends_are_gapless,
        message_windows,
        deletes_cascade,
        ever_seated_users_are_everyone_who_took_part,
    ], debates);
}

/// Moderation and votes: [`domain_debates::ModerationRepository`] and
/// [`domain_debates::VoteRepository`], served by the debate store itself (an append sees
/// the mute, a join the removal, a vote the session's window), on the in-memory adapter.
mod moderation_votes_memory {
    use std::sync::Arc;

    use adapter_memory::{MemoryDebateRepository, MemoryUserRepository};

    macro_rules! with_debates {
        ($contract:path) => {{
            let users = super::Arc::new(super::MemoryUserRepository::new());
            let repo = super::MemoryDebateRepository::new(users.clone());
            $contract(&repo, &repo, &*users).await
        }};
    }

    contracts!(moderation => [
        mutes_replace_and_expire_by_the_clock,
        unmute_reports_an_active_mute,
        removal_bans_and_closes_the_seat,
        messages_are_removed_once,
        appends_need_a_live_session,
        actions_filter_and_page,
        expired_mutes_are_purged,
    ], with_debates);
    contracts!(votes => [
        votes_replace_within_the_window,
        concurrent_casts_by_one_user_store_one_vote,
        concurrent_casts_by_many_users_tally_exactly,
    ], with_debates);
}

/// The same contracts on the PostgreSQL adapter.
mod moderation_votes_postgres {
    use adapter_postgres::testing::TestDatabase;
    use adapter_postgres::{PgDebateRepository, PgUserRepository};

    macro_rules! with_debates {
        ($contract:path) => {{
            let Some(db) = super::TestDatabase::create().await else {
                return;
            };
            let pool = db.pool().clone();
            let repo = super::PgDebateRepository::new(pool.clone());
            $contract(&repo, &repo, &super::PgUserRepository::new(pool)).await;
            db.cleanup().await;
        }};
    }

    contracts!(moderation => [
        mutes_replace_and_expire_by_the_clock,
        unmute_reports_an_active_mute,
        removal_bans_and_closes_the_seat,
        messages_are_removed_once,
        appends_need_a_live_session,
        actions_filter_and_page,
        expired_mutes_are_purged,
    ], with_debates);
    contracts!(votes => [
        votes_replace_within_the_window,
        concurrent_casts_by_one_user_store_one_vote,
        concurrent_casts_by_many_users_tally_exactly,
    ], with_debates);
}

/// The daily activity roll-up: [`domain_debates::ActivityRollup`] served by the debate
/// store whose sessions, messages, votes and seats it counts, on the in-memory adapter.
mod analytics_memory {
    use std::sync::Arc;

    use adapter_memory::{MemoryDebateRepository, MemoryUserRepository};

    macro_rules! with_debates {
        ($contract:path) => {{
            let users = super::Arc::new(super::MemoryUserRepository::new());
            let repo = super::MemoryDebateRepository::new(users.clone());
            $contract(&repo, &repo, &repo, &*users).await
        }};
    }

    contracts!(analytics => [daily_figures_per_scope_replace_on_recompute], with_debates);
}

/// The same contract on the PostgreSQL adapter.
mod analytics_postgres {
    use adapter_postgres::testing::TestDatabase;
    use adapter_postgres::{PgDebateRepository, PgUserRepository};

    macro_rules! with_debates {
        ($contract:path) => {{
            let Some(db) = super::TestDatabase::create().await else {
                return;
            };
            let pool = db.pool().clone();
            let repo = super::PgDebateRepository::new(pool.clone());
            $contract(&repo, &repo, &repo, &super::PgUserRepository::new(pool)).await;
            db.cleanup().await;
        }};
    }

    contracts!(analytics => [daily_figures_per_scope_replace_on_recompute], with_debates);
}

/// The outbox of the debate and moderation stores: events recorded as jobs on the queue
/// sharing the store, in process memory.
mod debate_outbox_memory {
    use std::sync::Arc;

    use adapter_memory::{
        MemoryDebateRepository, MemoryJobQueue, MemoryOutbox, MemoryUserRepository,
    };

    macro_rules! debates {
        ($contract:path) => {{
            let users = super::Arc::new(super::MemoryUserRepository::new());
            let queue = super::Arc::new(super::MemoryJobQueue::new());
            let repo = super::MemoryDebateRepository::new(users.clone())
                .with_outbox(super::MemoryOutbox::new(queue.clone()));
            $contract(&repo, &*users, &*queue).await
        }};
    }
    macro_rules! with_moderation {
        ($contract:path) => {{
            let users = super::Arc::new(super::MemoryUserRepository::new());
            let queue = super::Arc::new(super::MemoryJobQueue::new());
            let repo = super::MemoryDebateRepository::new(users.clone())
                .with_outbox(super::MemoryOutbox::new(queue.clone()));
            $contract(&repo, &repo, &*users, &*queue).await
        }};
    }

    contracts!(debate_outbox => [debate_changes_record_their_events], debates);
    contracts!(moderation_outbox => [moderation_actions_record_their_events], with_moderation);
}

/// The same contracts on PostgreSQL: the events are `jobs` rows of the store's database,
/// written in the change's transaction.
mod debate_outbox_postgres {
    use adapter_postgres::testing::TestDatabase;
    use adapter_postgres::{PgDebateRepository, PgJobQueue, PgUserRepository};

    macro_rules! debates {
        ($contract:path) => {{
            let Some(db) = super::TestDatabase::create().await else {
                return;
            };
            let pool = db.pool().clone();
            $contract(
                &super::PgDebateRepository::new(pool.clone()),
                &super::PgUserRepository::new(pool.clone()),
                &super::PgJobQueue::new(pool),
            )
            .await;
            db.cleanup().await;
        }};
    }
    macro_rules! with_moderation {
        ($contract:path) => {{
            let Some(db) = super::TestDatabase::create().await else {
                return;
            };
            let pool = db.pool().clone();
            let repo = super::PgDebateRepository::new(pool.clone());
            $contract(
                &repo,
                &repo,
                &super::PgUserRepository::new(pool.clone()),
                &super::PgJobQueue::new(pool),
            )
            .await;
            db.cleanup().await;
        }};
    }

    contracts!(debate_outbox => [debate_changes_record_their_events], debates);
    contracts!(moderation_outbox => [moderation_actions_record_their_events], with_moderation);
}

/// [`domain_jobs::JobQueue`] and the [`domain_jobs::Worker`] runtime on it, in process
/// memory. The worker contracts take the queue shared (workers spawn tasks) and run on
/// a multi-threaded runtime, so the two workers really run in parallel.
mod jobs_memory {
    use std::sync::Arc;

    use adapter_memory::MemoryJobQueue;

    macro_rules! jobs {
        ($contract:path) => {
            $contract(&super::MemoryJobQueue::new()).await
        };
    }

    contracts!(jobs => [
        enqueue_claim_complete,
        not_claimed_before_run_at,
        dedupe_keys_store_one_job,
        expired_lease_is_claimed_again,
        extend_keeps_the_lease,
        failure_retries_at_retry_at,
        dead_jobs_wait_for_retry,
        counts_and_list_pages,
        purge_removes_old_done_jobs,
        concurrent_claims_take_each_job_once,
    ], jobs);

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_workers_run_every_job_once() {
        contract_tests::jobs::two_workers_run_every_job_once(Arc::new(MemoryJobQueue::new())).await;
    }

    #[tokio::test]
    async fn periodic_jobs_once_per_slot_across_workers() {
        contract_tests::jobs::periodic_jobs_once_per_slot_across_workers(Arc::new(
            MemoryJobQueue::new(),
        ))
        .await;
    }
    #[tokio::test]
    async fn enqueues_ring_the_wakeup() {
        let queue = MemoryJobQueue::new();
        let wake = queue.wakeups();
        contract_tests::jobs::enqueues_ring_the_wakeup(&queue, wake).await;
    }
}

/// The same job contracts on the PostgreSQL queue.
mod jobs_postgres {
    use std::sync::Arc;

    use adapter_postgres::PgJobQueue;
    use adapter_postgres::testing::TestDatabase;

    macro_rules! jobs {
        ($contract:path) => {{
            let Some(db) = super::TestDatabase::create().await else {
                return;
            };
            $contract(&super::PgJobQueue::new(db.pool().clone())).await;
            db.cleanup().await;
        }};
    }

    contracts!(jobs => [
        enqueue_claim_complete,
        not_claimed_before_run_at,
        dedupe_keys_store_one_job,
        expired_lease_is_claimed_again,
        extend_keeps_the_lease,
        failure_retries_at_retry_at,
        dead_jobs_wait_for_retry,
        counts_and_list_pages,
        purge_removes_old_done_jobs,
        concurrent_claims_take_each_job_once,
    ], jobs);

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_workers_run_every_job_once() {
        let Some(db) = TestDatabase::create().await else {
            return;
        };
        contract_tests::jobs::two_workers_run_every_job_once(Arc::new(PgJobQueue::new(
            db.pool().clone(),
        )))
        .await;
        db.cleanup().await;
    }

    #[tokio::test]
    async fn periodic_jobs_once_per_slot_across_workers() {
        let Some(db) = TestDatabase::create().await else {
            return;
        };
        contract_tests::jobs::periodic_jobs_once_per_slot_across_workers(Arc::new(
            PgJobQueue::new(db.pool().clone()),
        ))
        .await;
        db.cleanup().await;
    }
    /// Through `LISTEN agora_jobs` on a connection of its own, as a server does.
    #[tokio::test]
    async fn enqueues_ring_the_wakeup() {
        let Some(db) = TestDatabase::create().await else {
            return;
        };
        let wake = Arc::new(tokio::sync::Notify::new());
        let listener = tokio::spawn(adapter_postgres::listen_for_jobs(
            db.url().to_owned(),
            wake.clone(),
        ));
        // it rings once when it starts listening
        tokio::time::timeout(std::time::Duration::from_secs(10), wake.notified())
            .await
            .expect("listening");
        contract_tests::jobs::enqueues_ring_the_wakeup(&PgJobQueue::new(db.pool().clone()), wake)
            .await;
        listener.abort();
        db.cleanup().await;
    }
}

/// Notifications: [`domain_notifications::NotificationStore`] and
/// [`domain_notifications::PreferenceStore`] (one adapter serves both), with the accounts
/// they belong to, and the [`domain_notifications::UnreadCounter`], in process memory.
mod notifications_memory {
    use std::sync::Arc;

    use adapter_memory::{MemoryNotificationStore, MemoryUnreadCounter, MemoryUserRepository};

    macro_rules! notifications {
        ($contract:path) => {{
            let users = super::Arc::new(super::MemoryUserRepository::new());
            let store = super::MemoryNotificationStore::new(users.clone());
            $contract(&store, &*users).await
        }};
    }
    macro_rules! unread_counter {
        ($contract:path) => {
            $contract(&super::MemoryUnreadCounter::new()).await
        };
    }

    contracts!(notifications => [
        insert_is_idempotent_per_user_and_key,
        lists_newest_first_and_page,
        mark_read_is_per_user,
        read_all_counts,
        delete_reports_unread,
        unread_count_counts_unread,
        preferences_round_trip,
    ], notifications);
    contracts!(unread_counter => [
        set_incr_decr_forget,
        unknown_counts_stay_unknown,
        decr_floors_at_zero,
        users_are_independent,
        concurrent_updates_all_count,
    ], unread_counter);
}

/// The same contracts on PostgreSQL (`PgNotificationStore`) and Redis
/// (`RedisUnreadCounter`).
mod notifications_postgres_redis {
    use adapter_postgres::testing::TestDatabase;
    use adapter_postgres::{PgNotificationStore, PgUserRepository};
    use adapter_redis::RedisUnreadCounter;
    use adapter_redis::testing::TestRedis;

    macro_rules! notifications {
        ($contract:path) => {{
            let Some(db) = super::TestDatabase::create().await else {
                return;
            };
            let pool = db.pool().clone();
            $contract(
                &super::PgNotificationStore::new(pool.clone()),
                &super::PgUserRepository::new(pool),
            )
            .await;
            db.cleanup().await;
        }};
    }
    macro_rules! unread_counter {
        ($contract:path) => {{
            let Some(redis) = super::TestRedis::create().await else {
                return;
            };
            let counter = super::RedisUnreadCounter::new(redis.pool().clone(), redis.prefix());
            $contract(&counter).await;
            redis.cleanup().await;
        }};
    }

    contracts!(notifications => [
        insert_is_idempotent_per_user_and_key,
        lists_newest_first_and_page,
        mark_read_is_per_user,
        read_all_counts,
        delete_reports_unread,
        unread_count_counts_unread,
        preferences_round_trip,
    ], notifications);
    contracts!(unread_counter => [
        set_incr_decr_forget,
        unknown_counts_stay_unknown,
        decr_floors_at_zero,
        users_are_independent,
        concurrent_updates_all_count,
    ], unread_counter);
}
