//! PostgreSQL adapters for Agora's ports: diesel + diesel-async over a bb8 pool, with the
//! schema migrations (`migrations/` at the workspace root) compiled into the binary.
//!
//! Driver errors are translated into the ports' [`StoreError`] contract here: unique
//! violations become [`StoreError::Duplicate`] naming the field, an unreachable server
//! or an exhausted pool [`StoreError::Unavailable`], anything else
//! [`StoreError::Unexpected`].

mod analytics;
mod debates;
mod error;
mod grants;
mod jobs;
mod moderation;
mod notifications;
mod org;
mod rbac;
/// Table definitions exactly as `diesel print-schema` prints them (see `diesel.toml` at
/// the workspace root); regenerate rather than edit. `make schema-drift` (part of
/// `make test`) fails when they differ from what the migrations create.
pub mod schema;
mod sessions;
#[cfg(feature = "testing")]
pub mod testing;
mod users;
mod votes;
mod wakeup;

pub use debates::PgDebateRepository;
pub use error::{REPLY_TO_EARLIER_CHECK, UNIQUE_FIELDS, recognised_constraints};
pub use grants::PgGrantSource;
pub use jobs::{CLAIM, PgJobQueue, enqueue_in, record_events};
pub use notifications::PgNotificationStore;
pub use org::PgOrgRepository;
pub use rbac::PgRbacRepository;
pub use sessions::PgLoginSessionRepository;
pub use users::PgUserRepository;
pub use wakeup::{JOBS_CHANNEL, listen_for_jobs};

use std::time::Duration;

use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::{AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use domain_core::StoreError;

use crate::error::{db_error, pool_error};

/// A pool of PostgreSQL connections, shared by every adapter of this crate.
pub type PgPool = Pool<AsyncPgConnection>;

/// The schema migrations, embedded at compile time.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// How long opening one unpooled connection (startup, migrations) may take before
/// [`StoreError::Unavailable`].
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a request waits for a pooled connection, by default, before getting
/// [`StoreError::Unavailable`] (a 503): a dead or saturated database then fails requests
/// within a second instead of holding each one for seconds. `AGORA_DB_ACQUIRE_TIMEOUT_MS`
/// changes it ([`connect_with`]).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

/// Builds a pool of at most `max_size` connections to `url`, with a first connection made
/// right away, so a wrong URL or a stopped server shows at startup with its real cause
/// (a pool would retry until [`CHECKOUT_TIMEOUT`] and then only report a timeout).
///
/// # Errors
/// [`StoreError::Unavailable`] when the server cannot be reached or refuses the login.
pub async fn connect(url: &str, max_size: u32) -> Result<PgPool, StoreError> {
    connect_with(url, max_size, ACQUIRE_TIMEOUT).await
}

/// [`connect`] with the time a caller may wait for a pooled connection.
///
/// # Errors
/// [`StoreError::Unavailable`] when the server cannot be reached or refuses the login.
pub async fn connect_with(
    url: &str,
    max_size: u32,
    acquire_timeout: Duration,
) -> Result<PgPool, StoreError> {
    let first = establish(url).await?;
    let pool = lazy_pool(url, max_size, acquire_timeout);
    // Refused only if the pool were already full, which a new pool is not.
    let _ = pool.add(first);
    Ok(pool)
}

/// A pool that connects only when asked for a connection; a caller waits at most
/// `acquire_timeout` for one, whether the database is slow, saturated or gone.
pub fn lazy_pool(url: &str, max_size: u32, acquire_timeout: Duration) -> PgPool {
    Pool::builder()
        .max_size(max_size.max(1))
        .connection_timeout(acquire_timeout)
        .build_unchecked(AsyncDieselConnectionManager::<AsyncPgConnection>::new(url))
}

/// Applies the migrations not yet applied to the database at `url`; returns how many ran.
///
/// Works inside a current-thread runtime (`#[tokio::test]`, `#[actix_web::main]`): the
/// migration harness blocks, so it runs on tokio's blocking pool.
///
/// # Errors
/// [`StoreError::Unavailable`] when the server cannot be reached;
/// [`StoreError::Unexpected`] when a migration fails.
pub async fn run_migrations(url: &str) -> Result<usize, StoreError> {
    let conn = establish(url).await?;
    tokio::task::spawn_blocking(move || {
        AsyncMigrationHarness::new(conn)
            .run_pending_migrations(MIGRATIONS)
            .map(|applied| applied.len())
    })
    .await
    .map_err(StoreError::unexpected)?
    .map_err(StoreError::Unexpected)
}

/// Runs `SELECT 1` on a pooled connection; for readiness checks.
///
/// # Errors
/// [`StoreError::Unavailable`] when no connection can be had.
pub async fn ping(pool: &PgPool) -> Result<(), StoreError> {
    let mut conn = pool.get().await.map_err(pool_error)?;
    diesel::sql_query("SELECT 1")
        .execute(&mut conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// One unpooled connection, for migrations and maintenance. Bounded by
/// [`CHECKOUT_TIMEOUT`], since connecting to an address that drops packets would
/// otherwise wait for the operating system's TCP timeout (minutes).
async fn establish(url: &str) -> Result<AsyncPgConnection, StoreError> {
    match tokio::time::timeout(CHECKOUT_TIMEOUT, AsyncPgConnection::establish(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(StoreError::Unavailable(format!("postgres: {e}"))),
        Err(_) => Err(StoreError::Unavailable(format!(
            "postgres: no connection within {CHECKOUT_TIMEOUT:?}"
        ))),
    }
}
