//! Translation of Redis and pool errors into the ports' [`StoreError`] contract.

use bb8_redis::bb8::RunError;
use bb8_redis::redis::RedisError;
use domain_core::StoreError;

/// Connection trouble (refused, dropped, timed out) is [`StoreError::Unavailable`]: worth
/// retrying later. Anything else — a script error, an unexpected reply — is a bug here.
pub(crate) fn redis_error(e: RedisError) -> StoreError {
    if e.is_io_error() || e.is_timeout() || e.is_connection_refusal() || e.is_connection_dropped() {
        StoreError::Unavailable(format!("redis: {e}"))
    } else {
        StoreError::unexpected(e)
    }
}

/// No pooled connection could be had: Redis is down or unreachable.
pub(crate) fn pool_error(e: RunError<RedisError>) -> StoreError {
    StoreError::Unavailable(format!("redis pool: {e}"))
}
