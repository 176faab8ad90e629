//! The PostgreSQL plumbing itself: migrations (and their exact reversal), schema
//! hygiene, connection errors and the test-database helper. The adapters' behaviour is
//! checked by the port contracts in `contract-tests`. That `src/schema.rs` equals what
//! the migrations create is `scripts/check-schema-drift.sh`'s job (`diesel print-schema`).
//!
//! Without a reachable server these tests return early after one `SKIPPED` line on
//! stderr; with `CI=true` they fail instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use adapter_postgres::testing::{TestDatabase, count_databases};
use adapter_postgres::{MIGRATIONS, connect, ping, run_migrations};
use diesel::QueryableByName;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::MigrationHarness;
use domain_core::StoreError;

#[derive(QueryableByName, Debug, PartialEq, Eq)]
struct Item {
    #[diesel(sql_type = Text)]
    item: String,
}

/// Everything the migrations can create in `public`, one line per object, sorted; the
/// migrations' own bookkeeping table left out.
const SCHEMA_SNAPSHOT: &str = r"
SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' '
       || is_nullable || ' ' || coalesce(column_default, '') AS item
  FROM information_schema.columns
 WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'
UNION ALL
SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' '
       || pg_get_constraintdef(oid)
  FROM pg_constraint
 WHERE connamespace = 'public'::regnamespace
   AND conrelid::regclass::text <> '__diesel_schema_migrations'
UNION ALL
SELECT 'index ' || indexdef FROM pg_indexes
 WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations'
UNION ALL
SELECT 'relation ' || relkind::text || ' ' || relname FROM pg_class
 WHERE relnamespace = 'public'::regnamespace
   AND relname NOT LIKE '__diesel_schema_migrations%'
UNION ALL
SELECT 'function ' || oid::regprocedure::text FROM pg_proc
 WHERE pronamespace = 'public'::regnamespace
UNION ALL
SELECT 'type ' || typname FROM pg_type
 WHERE typnamespace = 'public'::regnamespace AND typrelid = 0 AND typelem = 0
UNION ALL
SELECT 'extension ' || extname FROM pg_extension
ORDER BY 1
";

async fn snapshot(conn: &mut AsyncPgConnection) -> Vec<String> {
    let rows: Vec<Item> = diesel::sql_query(SCHEMA_SNAPSHOT).load(conn).await.unwrap();
    rows.into_iter().map(|r| r.item).collect()
}

/// Runs one step of the migration harness on the blocking pool (it blocks; see
/// `run_migrations`), handing the connection back.
async fn harness<F>(conn: AsyncPgConnection, step: F) -> AsyncPgConnection
where
    F: FnOnce(&mut AsyncMigrationHarness<AsyncPgConnection>) + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let mut h = AsyncMigrationHarness::new(conn);
        step(&mut h);
        h.into_inner()
    })
    .await
    .unwrap()
}

/// Each migration, applied on top of the previous ones, is exactly undone by its
/// `down.sql` and can be applied again (`diesel migration redo`, step by step).
#[tokio::test]
async fn each_down_sql_reverts_its_up_sql_exactly() {
    let Some(db) = TestDatabase::empty().await else {
        return;
    };
    let count = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .unwrap()
        .len();
    assert!(count >= 3);
    let mut conn = AsyncPgConnection::establish(db.url()).await.unwrap();
    let empty = snapshot(&mut conn).await;
    assert!(
        empty.iter().all(|i| i.starts_with("extension ")),
        "{empty:?}"
    );

    for _ in 0..count {
        let before = snapshot(&mut conn).await;
        conn = harness(conn, |h| {
            h.run_next_migration(MIGRATIONS).unwrap();
        })
        .await;
        let after = snapshot(&mut conn).await;
        assert_ne!(before, after, "a migration changes the schema");
        conn = harness(conn, |h| {
            h.revert_last_migration(MIGRATIONS).unwrap();
        })
        .await;
        assert_eq!(
            snapshot(&mut conn).await,
            before,
            "down.sql reverts up.sql exactly"
        );
        conn = harness(conn, |h| {
            h.run_next_migration(MIGRATIONS).unwrap();
        })
        .await;
        assert_eq!(snapshot(&mut conn).await, after, "and up.sql applies again");
    }
    conn = harness(conn, |h| {
        h.revert_all_migrations(MIGRATIONS).unwrap();
    })
    .await;
    assert_eq!(
        snapshot(&mut conn).await,
        empty,
        "all reverted: nothing left"
    );
    drop(conn);
    db.cleanup().await;
}

/// `run_migrations` applies everything once, then nothing; inside a current-thread
/// runtime (this test's), where the harness would panic if not moved off it.
#[tokio::test]
async fn run_migrations_applies_once() {
    let Some(db) = TestDatabase::empty().await else {
        return;
    };
    let count = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .unwrap()
        .len();
    assert_eq!(run_migrations(db.url()).await.unwrap(), count);
    assert_eq!(run_migrations(db.url()).await.unwrap(), 0);
    ping(db.pool()).await.unwrap();
    db.cleanup().await;
}

/// Every foreign key has an index whose leading columns are the key's columns, so
/// cascading deletes and joins from the parent do not scan the child table.
#[tokio::test]
async fn every_foreign_key_has_an_index() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let mut conn = db.pool().get().await.unwrap();
    let unindexed: Vec<Item> = diesel::sql_query(
        r"
SELECT c.conrelid::regclass::text || '.' || c.conname AS item
  FROM pg_constraint c
 WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
   AND NOT EXISTS (
     SELECT 1 FROM pg_index i
      WHERE i.indrelid = c.conrelid
        AND (string_to_array(i.indkey::text, ' ')::int2[])[1:array_length(c.conkey, 1)]
            @> c.conkey
        AND array_length(c.conkey, 1) <= i.indnkeyatts)
 ORDER BY 1",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(unindexed, vec![], "foreign keys without an index");
    let fks: Vec<Item> = diesel::sql_query(
        "SELECT conname AS item FROM pg_constraint WHERE contype = 'f' ORDER BY 1",
    )
    .load(&mut conn)
    .await
    .unwrap();
    // identity 4, organisations 4, rbac 7, debates 7, moderation and voting 13,
    // notifications 2
    assert_eq!(fks.len(), 37, "the check saw the foreign keys: {fks:?}");
    drop(conn);
    db.cleanup().await;
}

/// Every constraint the adapters recognise by name exists in the migrated schema as the
/// kind they expect: a unique index (what PostgreSQL names in a unique violation, for a
/// primary key, a UNIQUE constraint or a unique expression index alike) for the
/// constraint→field table, a CHECK for the reply check. A migration renaming one would
/// otherwise turn a 409 naming the field into one naming the raw constraint, or a 404
/// into a 500.
#[tokio::test]
async fn every_recognised_constraint_exists_in_the_migrations() {
    use adapter_postgres::{REPLY_TO_EARLIER_CHECK, UNIQUE_FIELDS, recognised_constraints};
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let mut conn = db.pool().get().await.unwrap();
    let names = |rows: Vec<Item>| -> Vec<String> { rows.into_iter().map(|r| r.item).collect() };
    let unique_indexes = names(
        diesel::sql_query(
            r"
SELECT i.relname::text AS item
  FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
 WHERE x.indisunique AND i.relnamespace = 'public'::regnamespace
 ORDER BY 1",
        )
        .load(&mut conn)
        .await
        .unwrap(),
    );
    let checks = names(
        diesel::sql_query(
            r"
SELECT conname::text AS item FROM pg_constraint
 WHERE contype = 'c' AND connamespace = 'public'::regnamespace
 ORDER BY 1",
        )
        .load(&mut conn)
        .await
        .unwrap(),
    );
    let missing: Vec<&str> = UNIQUE_FIELDS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !unique_indexes.iter().any(|i| i == name))
        .collect();
    assert_eq!(
        missing,
        Vec::<&str>::new(),
        "constraint→field names with no unique index of that name in the migrations \
         (unique indexes there: {unique_indexes:?})"
    );
    assert!(
        checks.iter().any(|c| c == REPLY_TO_EARLIER_CHECK),
        "no CHECK named {REPLY_TO_EARLIER_CHECK} in the migrations: {checks:?}"
    );
    let unknown: Vec<&str> = recognised_constraints()
        .filter(|name| !unique_indexes.iter().chain(&checks).any(|n| n == name))
        .collect();
    assert_eq!(
        unknown,
        Vec::<&str>::new(),
        "recognised but not in the migrations"
    );
    drop(conn);
    db.cleanup().await;
}

/// A server that is not there gives `Unavailable`, promptly, from every entry point.
#[tokio::test]
async fn unreachable_server_is_unavailable() {
    let url = "postgres://postgres@127.0.0.1:1/nothing";
    let started = Instant::now();
    assert!(matches!(
        connect(url, 2).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        run_migrations(url).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// A test database exists while in use and is gone after `cleanup` or a drop.
#[tokio::test]
async fn test_databases_are_dropped() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let name = db.name().to_owned();
    assert_eq!(count_databases(&name).await.unwrap(), 1);
    db.cleanup().await;
    assert_eq!(count_databases(&name).await.unwrap(), 0, "cleanup drops it");

    let db = TestDatabase::create().await.unwrap();
    let name = db.name().to_owned();
    let _held = db.pool().get().await.unwrap(); // an open connection does not stop it
    drop(_held);
    drop(db);
    assert_eq!(count_databases(&name).await.unwrap(), 0, "drop drops it");
}

/// The RBAC audit trail is append-only in the database itself: UPDATE, DELETE and
/// TRUNCATE are refused whoever issues them, and the record stays.
#[tokio::test]
async fn rbac_audit_is_append_only() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let mut conn = db.pool().get().await.unwrap();
    diesel::sql_query(
        "INSERT INTO rbac_audit (id, at, action, target)
         VALUES (gen_random_uuid(), now(), 'grant.create', 'user:x')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    for statement in [
        "UPDATE rbac_audit SET action = 'grant.revoke'",
        "DELETE FROM rbac_audit",
        "TRUNCATE rbac_audit",
    ] {
        let refused = diesel::sql_query(statement).execute(&mut conn).await;
        let Err(diesel::result::Error::DatabaseError(_, info)) = refused else {
            panic!("{statement} was not refused: {refused:?}");
        };
        assert!(info.message().contains("append-only"), "{}", info.message());
    }
    let left: Vec<Item> = diesel::sql_query("SELECT action AS item FROM rbac_audit")
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        left,
        vec![Item {
            item: "grant.create".into()
        }]
    );
    drop(conn);
    db.cleanup().await;
}

/// The migration's permission catalogue is `Permission::all()` (the application tops it
/// up at startup, but a permission missing here would fail writes made before that).
#[tokio::test]
async fn permission_catalogue_matches_the_code() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let mut conn = db.pool().get().await.unwrap();
    let stored: Vec<Item> = diesel::sql_query("SELECT name AS item FROM permissions")
        .load(&mut conn)
        .await
        .unwrap();
    let stored: std::collections::BTreeSet<String> = stored.into_iter().map(|i| i.item).collect();
    let code: std::collections::BTreeSet<String> = domain_rbac::Permission::all()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(stored, code);
    drop(conn);
    db.cleanup().await;
}
