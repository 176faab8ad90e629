//! Throw-away databases for tests (feature `testing`).
//!
//! Migrating a database costs far more than copying one, so the migrations run once into
//! a template database named after a hash of the migration files, and every test gets
//! its own `CREATE DATABASE … TEMPLATE` copy. Tests can then run in parallel without
//! seeing each other's rows or anything an earlier run left behind. A template built
//! from other migrations (an older checkout) is simply not used; it is left in place.
//!
//! The server comes from `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); that database is only used for
//! maintenance, its user must be allowed to create databases.

use std::io::Write;
use std::sync::Once;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain_core::StoreError;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::db_error;
use crate::{PgPool, connect_with, establish, run_migrations};

/// Tests burst concurrent work at a small pool on a busy machine: they wait longer for a
/// connection than a production request ([`crate::ACQUIRE_TIMEOUT`]).
const TEST_ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Default server for tests: the local PostgreSQL of development and CI machines.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Advisory-lock key guarding template creation across test processes: an arbitrary
/// constant, the same for every process.
const TEMPLATE_LOCK: i64 = 0x0061_676f_7261_7470; // "agoratp"

/// Connections per test database pool; enough for the concurrency contracts.
const POOL_SIZE: u32 = 8;

/// The server URL tests use: `TEST_DATABASE_URL` or [`DEFAULT_URL`].
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// A database of its own for one test, dropped when this value is dropped (or by
/// [`TestDatabase::cleanup`]).
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
    pool: Option<PgPool>,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .finish()
    }
}

impl TestDatabase {
    /// A fresh, fully migrated database; or `None` when PostgreSQL is not reachable and
    /// the run may skip the tests that need it (one line saying so goes to stderr), so a
    /// test starts with `let Some(db) = TestDatabase::create().await else { return };`.
    ///
    /// # Panics
    /// When PostgreSQL is unreachable and the environment says `CI=true` (CI must run
    /// every suite), or when the server is reachable but the database cannot be made.
    pub async fn create() -> Option<Self> {
        or_skip(Self::try_create().await)
    }

    /// A fresh, fully migrated database, copied from the template (built first if
    /// needed).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached; other variants
    /// when the template or the copy cannot be made.
    pub async fn try_create() -> Result<Self, StoreError> {
        let admin_url = server_url();
        let mut admin = establish(&admin_url).await?;
        let template = ensure_template(&mut admin, &admin_url).await?;
        Self::copy_of(&mut admin, admin_url, &template).await
    }

    /// A fresh database with no migrations applied, for tests of the migrations
    /// themselves; `None` as for [`TestDatabase::create`].
    ///
    /// # Panics
    /// As [`TestDatabase::create`].
    pub async fn empty() -> Option<Self> {
        let made = async {
            let admin_url = server_url();
            let mut admin = establish(&admin_url).await?;
            Self::copy_of(&mut admin, admin_url, "template0").await
        };
        or_skip(made.await)
    }

    async fn copy_of(
        admin: &mut AsyncPgConnection,
        admin_url: String,
        template: &str,
    ) -> Result<Self, StoreError> {
        let name = format!("agora_test_{}", Uuid::new_v4().simple());
        create_database(admin, &name, template).await?;
        let url = with_database(&admin_url, &name);
        let mut db = Self {
            name,
            url,
            admin_url,
            pool: None,
        };
        // From here on, dropping `db` drops the database if anything below fails.
        db.pool = Some(connect_with(&db.url, POOL_SIZE, TEST_ACQUIRE_TIMEOUT).await?);
        Ok(db)
    }

    /// The database's connection URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A pool of connections to the database.
    #[allow(clippy::expect_used)] // the pool is set from construction until cleanup
    pub fn pool(&self) -> &PgPool {
        self.pool.as_ref().expect("pool is present until cleanup")
    }

    /// Drops the database now, on the caller's runtime.
    pub async fn cleanup(mut self) {
        self.pool = None;
        if let Err(e) = drop_database(&self.admin_url, &self.name).await {
            warn(&format!("could not drop test database {}: {e}", self.name));
        }
        // Done; Drop has nothing left to do.
        self.name.clear();
    }
}

impl Drop for TestDatabase {
    /// Drops the database if [`TestDatabase::cleanup`] was not called (a failing test
    /// unwinds through here). `Drop` cannot await and may run inside a runtime that
    /// must not be blocked on, so the work happens on its own thread with its own small
    /// runtime; joining it makes sure the database is gone before the test ends.
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        self.pool = None;
        let (admin_url, name) = (self.admin_url.clone(), std::mem::take(&mut self.name));
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(StoreError::unexpected)?;
            rt.block_on(drop_database(&admin_url, &name))
                .map_err(|e| StoreError::Unavailable(format!("dropping {name}: {e}")))
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn(&format!("could not drop a test database: {e}")),
            Err(_) => warn("could not drop a test database: cleanup thread panicked"),
        }
    }
}

/// The database, or `None` if the server is unreachable and tests may skip.
fn or_skip(made: Result<TestDatabase, StoreError>) -> Option<TestDatabase> {
    match made {
        Ok(db) => Some(db),
        Err(StoreError::Unavailable(why)) => {
            skip_or_panic(&why);
            None
        }
        Err(e) => panic!("could not create a test database: {e}"),
    }
}

/// What to do when the server is unreachable: panic in CI, where every suite must run;
/// elsewhere say once, loudly, that the PostgreSQL suites are skipped.
fn skip_or_panic(why: &str) {
    let url = server_url();
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("PostgreSQL required in CI: not reachable at {url} ({why}); set TEST_DATABASE_URL");
    }
    static NOTICE: Once = Once::new();
    NOTICE.call_once(|| {
        // Straight to stderr: the test harness captures `eprintln!`, and a skipped suite
        // must not go unnoticed.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: PostgreSQL not reachable at {url} — postgres suites not run ({why})"
        );
    });
}

fn warn(message: &str) {
    let _ = writeln!(std::io::stderr(), "warning: {message}");
}

#[derive(QueryableByName)]
struct IsTemplate {
    #[diesel(sql_type = Bool)]
    datistemplate: bool,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Makes sure the template for the current migrations exists; returns its name.
async fn ensure_template(
    admin: &mut AsyncPgConnection,
    admin_url: &str,
) -> Result<String, StoreError> {
    let name = format!("agora_template_{}", migrations_hash()?);
    // Fast path: most calls find it ready and take no lock.
    if template_state(admin, &name).await? == Some(true) {
        return Ok(name);
    }
    lock(admin, "pg_advisory_lock").await?;
    let built = build_template(admin, admin_url, &name).await;
    let unlocked = lock(admin, "pg_advisory_unlock").await;
    built?;
    unlocked?;
    Ok(name)
}

/// Builds the template unless another process finished it while we waited for the lock.
/// It is only marked as a template once fully migrated, so a database of that name that
/// is not marked is the leftover of a build that died, and is rebuilt.
async fn build_template(
    admin: &mut AsyncPgConnection,
    admin_url: &str,
    name: &str,
) -> Result<(), StoreError> {
    match template_state(admin, name).await? {
        Some(true) => return Ok(()),
        Some(false) => sql(admin, &format!("DROP DATABASE \"{name}\" WITH (FORCE)")).await?,
        None => {}
    }
    sql(
        admin,
        &format!("CREATE DATABASE \"{name}\" TEMPLATE template0"),
    )
    .await?;
    run_migrations(&with_database(admin_url, name)).await?;
    sql(
        admin,
        &format!("ALTER DATABASE \"{name}\" WITH IS_TEMPLATE true"),
    )
    .await
}

/// `Some(is_template)` if a database called `name` exists.
async fn template_state(
    admin: &mut AsyncPgConnection,
    name: &str,
) -> Result<Option<bool>, StoreError> {
    use diesel::OptionalExtension;
    let row: Option<IsTemplate> =
        diesel::sql_query("SELECT datistemplate FROM pg_database WHERE datname = $1")
            .bind::<Text, _>(name)
            .get_result(admin)
            .await
            .optional()
            .map_err(db_error)?;
    Ok(row.map(|r| r.datistemplate))
}

async fn lock(admin: &mut AsyncPgConnection, function: &str) -> Result<(), StoreError> {
    diesel::sql_query(format!("SELECT {function}($1)"))
        .bind::<BigInt, _>(TEMPLATE_LOCK)
        .execute(admin)
        .await
        .map_err(db_error)?;
    Ok(())
}

async fn sql(conn: &mut AsyncPgConnection, statement: &str) -> Result<(), StoreError> {
    diesel::sql_query(statement)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// `CREATE DATABASE name TEMPLATE template`, retried while the template still has a
/// session: the connection that migrated it closes asynchronously, and PostgreSQL
/// refuses to copy a database anyone is connected to.
async fn create_database(
    admin: &mut AsyncPgConnection,
    name: &str,
    template: &str,
) -> Result<(), StoreError> {
    let statement = format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"");
    let mut attempts = 0;
    loop {
        match diesel::sql_query(&statement).execute(admin).await {
            Ok(_) => return Ok(()),
            Err(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("is being accessed by other users") && attempts < 50 =>
            {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => return Err(db_error(e)),
        }
    }
}

async fn drop_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    let mut admin = establish(admin_url).await?;
    // FORCE: a pool clone kept by the test may still hold connections.
    sql(
        &mut admin,
        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    )
    .await
}

/// How many databases named like test databases exist; lets tests check their cleanup.
///
/// # Errors
/// [`StoreError::Unavailable`] when the server cannot be reached.
pub async fn count_databases(name_prefix: &str) -> Result<i64, StoreError> {
    let mut admin = establish(&server_url()).await?;
    let row: Count =
        diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE starts_with(datname, $1)")
            .bind::<Text, _>(name_prefix)
            .get_result(&mut admin)
            .await
            .map_err(db_error)?;
    Ok(row.n)
}

/// Short hash of every migration file (path and contents), read from the source tree:
/// the embedded migrations do not expose their SQL, and tests always run from a
/// checkout.
fn migrations_hash() -> Result<String, StoreError> {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"));
    let mut files = Vec::new();
    for dir in std::fs::read_dir(root).map_err(StoreError::unexpected)? {
        let dir = dir.map_err(StoreError::unexpected)?.path();
        if dir.is_dir() {
            for file in std::fs::read_dir(&dir).map_err(StoreError::unexpected)? {
                files.push(file.map_err(StoreError::unexpected)?.path());
            }
        }
    }
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        let relative = file.strip_prefix(root).unwrap_or(&file);
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(std::fs::read(&file).map_err(StoreError::unexpected)?);
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    Ok(digest.iter().take(6).map(|b| format!("{b:02x}")).collect())
}

/// `url` pointing at database `name` instead (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_swapped_in_urls() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
    }

    #[test]
    fn migrations_hash_is_stable_and_short() {
        let a = migrations_hash().unwrap();
        assert_eq!(a, migrations_hash().unwrap());
        assert_eq!(a.len(), 12);
    }
}
