//! A private corner of Redis for each test (feature `testing`): a pool and a unique key
//! prefix `test:<uuid>:`, whose keys are deleted afterwards. Tests can then run in
//! parallel on one Redis without seeing each other's keys.
//!
//! The server comes from `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`).

use std::io::Write;
use std::sync::Once;

use bb8_redis::redis;
use domain_core::StoreError;
use uuid::Uuid;

use crate::error::{pool_error, redis_error};
use crate::{RedisPool, connect_with};

/// Tests wait longer for a connection than a production request, on a busy machine.
const TEST_ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Default server for tests: the local Redis of development and CI machines.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// The server URL tests use: `TEST_REDIS_URL` or [`DEFAULT_URL`].
pub fn server_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// A pool and a key prefix of its own for one test; the prefix's keys are deleted when
/// this value is dropped (or by [`TestRedis::cleanup`]).
pub struct TestRedis {
    url: String,
    prefix: String,
    pool: Option<RedisPool>,
}

impl std::fmt::Debug for TestRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRedis")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl TestRedis {
    /// A fresh prefix; or `None` when Redis is not reachable and the run may skip the
    /// tests that need it (one line saying so goes to stderr), so a test starts with
    /// `let Some(redis) = TestRedis::create().await else { return };`.
    ///
    /// # Panics
    /// When Redis is unreachable and the environment says `CI=true` (CI must run every
    /// suite), or when `TEST_REDIS_URL` is malformed.
    pub async fn create() -> Option<Self> {
        match Self::try_create().await {
            Ok(redis) => Some(redis),
            Err(StoreError::Unavailable(why)) => {
                skip_or_panic(&why);
                None
            }
            Err(e) => panic!("could not set up Redis for a test: {e}"),
        }
    }

    /// A fresh prefix and a pool.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when Redis cannot be reached.
    pub async fn try_create() -> Result<Self, StoreError> {
        let url = server_url();
        let pool = connect_with(&url, TEST_ACQUIRE_TIMEOUT).await?;
        Ok(Self {
            url,
            prefix: format!("test:{}:", Uuid::new_v4().simple()),
            pool: Some(pool),
        })
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The prefix every key of this test must start with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A pool of connections to the server.
    #[allow(clippy::expect_used)] // the pool is set from construction until cleanup
    pub fn pool(&self) -> &RedisPool {
        self.pool.as_ref().expect("pool is present until cleanup")
    }

    /// Deletes the prefix's keys now, on the caller's runtime.
    pub async fn cleanup(mut self) {
        if let Some(pool) = self.pool.take()
            && let Err(e) = delete_prefixed(&pool, &self.prefix).await
        {
            warn(&format!("could not delete test keys {}*: {e}", self.prefix));
        }
    }
}

impl Drop for TestRedis {
    /// Deletes the keys if [`TestRedis::cleanup`] was not called (a failing test unwinds
    /// through here). `Drop` cannot await and may run inside a runtime that must not be
    /// blocked on, so the work happens on its own thread with its own small runtime,
    /// over a new connection (the pool's belong to the test's runtime).
    fn drop(&mut self) {
        if self.pool.take().is_none() {
            return;
        }
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        let deleted = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(StoreError::unexpected)?;
            rt.block_on(async {
                let pool = connect_with(&url, TEST_ACQUIRE_TIMEOUT).await?;
                delete_prefixed(&pool, &prefix).await
            })
        })
        .join();
        match deleted {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn(&format!("could not delete test keys: {e}")),
            Err(_) => warn("could not delete test keys: cleanup thread panicked"),
        }
    }
}

/// Deletes every key starting with `prefix`, walking the keyspace with `SCAN` (never
/// `KEYS`, which blocks the server).
///
/// # Errors
/// [`StoreError::Unavailable`] when Redis cannot be reached.
pub async fn delete_prefixed(pool: &RedisPool, prefix: &str) -> Result<(), StoreError> {
    let keys = keys_with_prefix(pool, prefix).await?;
    let mut conn = pool.get().await.map_err(pool_error)?;
    for batch in keys.chunks(500) {
        let _: i64 = redis::cmd("UNLINK")
            .arg(batch)
            .query_async(&mut *conn)
            .await
            .map_err(redis_error)?;
    }
    Ok(())
}

/// Every key starting with `prefix`; lets tests check what an adapter wrote.
///
/// # Errors
/// [`StoreError::Unavailable`] when Redis cannot be reached.
pub async fn keys_with_prefix(pool: &RedisPool, prefix: &str) -> Result<Vec<String>, StoreError> {
    let mut conn = pool.get().await.map_err(pool_error)?;
    // The prefixes made here contain no glob characters; escape them anyway.
    let pattern = format!("{}*", glob_escape(prefix));
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut *conn)
            .await
            .map_err(redis_error)?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What to do when the server is unreachable: panic in CI, where every suite must run;
/// elsewhere say once, loudly, that the Redis suites are skipped.
fn skip_or_panic(why: &str) {
    let url = server_url();
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("Redis required in CI: not reachable at {url} ({why}); set TEST_REDIS_URL");
    }
    static NOTICE: Once = Once::new();
    NOTICE.call_once(|| {
        // Straight to stderr: the test harness captures `eprintln!`, and a skipped suite
        // must not go unnoticed.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: Redis not reachable at {url} — redis suites not run ({why})"
        );
    });
}

fn warn(message: &str) {
    let _ = writeln!(std::io::stderr(), "warning: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(glob_escape("test:ab:"), "test:ab:");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
