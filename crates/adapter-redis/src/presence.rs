//! Debate-room presence in Redis, shared by every instance: which connections are open on
//! a room, each until an expiry that its instance keeps pushing forward while it lives.
//!
//! Three keys per room, written together by Lua scripts so that no other instance ever
//! sees them disagree:
//!
//! - `{prefix}presence:{session_id}`, a sorted set: connection id → expiry (ms since the
//!   epoch). Expired connections are found with one range query on the score.
//! - `{prefix}presence:{session_id}:who`, a hash: connection id → `<user id>|<username>`.
//! - `{prefix}presence:{session_id}:users`, a hash: user id → number of recorded
//!   connections. It makes "does this user have another connection here" and "how many
//!   users are here" single lookups instead of a walk over every connection of the room.
//!
//! Every script given a `now` first removes the connections that have expired by then
//! (from all three keys), then acts. Each write leaves all three keys to expire at the
//! latest connection expiry plus [`GRACE_MS`], so a room whose instances all crashed
//! disappears from Redis on its own, and a room with nobody left is deleted at once.
//!
//! The scripts run with `EVALSHA`, so that the heartbeat of every connection does not
//! send a script's text: each is loaded once per process (`SCRIPT LOAD`), and sent whole
//! again only when Redis has lost it (a restart). The redis crate is built without its
//! `script` feature, which would do the same (`redis::Script`).

use std::collections::HashMap;
use std::sync::OnceLock;

use async_trait::async_trait;
use bb8_redis::redis::{self, ErrorKind, FromRedisValue, ServerErrorKind};
use chrono::{DateTime, Utc};
use domain_core::StoreError;
use domain_debates::{PresenceEntry, PresenceStore, PresentUser};
use uuid::Uuid;

use crate::RedisPool;
use crate::error::{pool_error, redis_error};

/// How long past the latest expiry a room's keys stay in Redis. Liveness is decided from
/// the stored expiries and the caller's `now`; the keys' own expiry only reclaims memory,
/// and the margin keeps them from vanishing early when Redis's clock runs ahead.
const GRACE_MS: i64 = 60_000;

/// Helpers shared by the scripts. `KEYS[1]`: the sorted set of expiries, `KEYS[2]`: the
/// `who` hash, `KEYS[3]`: the `users` hash (see the module documentation). A user id is
/// the first 36 characters of a `who` value (a hyphenated UUID), so usernames may
/// contain anything, `|` included.
macro_rules! prelude {
    () => {
        r"
local function user_of(who) return string.sub(who, 1, 36) end

-- Drops a connection from the two hashes (the caller drops it from the sorted set).
local function forget(conn)
  local who = redis.call('HGET', KEYS[2], conn)
  if who then
    redis.call('HDEL', KEYS[2], conn)
    local user = user_of(who)
    if redis.call('HINCRBY', KEYS[3], user, -1) <= 0 then
      redis.call('HDEL', KEYS[3], user)
    end
  end
end

-- Removes every connection expired at `now` (expiry <= now); returns how many.
local function prune(now)
  local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
  for _, conn in ipairs(gone) do forget(conn) end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) end
  return #gone
end

-- Records a connection (or moves its expiry), counting it for its user once.
local function record(conn, who, expires)
  local old = redis.call('HGET', KEYS[2], conn)
  if not old or user_of(old) ~= user_of(who) then
    forget(conn)
    redis.call('HINCRBY', KEYS[3], user_of(who), 1)
  end
  redis.call('HSET', KEYS[2], conn, who)
  redis.call('ZADD', KEYS[1], expires, conn)
end

-- The user's recorded connections other than `conn`.
local function others(user, conn)
  local n = tonumber(redis.call('HGET', KEYS[3], user)) or 0
  local who = redis.call('HGET', KEYS[2], conn)
  if who and user_of(who) == user then n = n - 1 end
  return n
end

-- Lets the keys expire `grace` ms after the latest connection does, or deletes them
-- when the room is empty.
local function settle(grace)
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  else
    local at = string.format('%.0f', tonumber(last[2]) + tonumber(grace))
    for i = 1, 3 do redis.call('PEXPIREAT', KEYS[i], at) end
  end
end
"
    };
}

/// `ARGV`: now, expires, connection id, `who` value, grace. Answers 1 when the user had
/// no other live connection.
static ENTER: Script = Script::new(concat!(
    prelude!(),
    r"
prune(ARGV[1])
local arrived = others(user_of(ARGV[4]), ARGV[3]) <= 0
record(ARGV[3], ARGV[4], ARGV[2])
settle(ARGV[5])
if arrived then return 1 end
return 0
"
));

/// `ARGV`: expires, connection id, `who` value, grace. No `now`, so nothing is pruned.
static REFRESH: Script = Script::new(concat!(
    prelude!(),
    r"
record(ARGV[2], ARGV[3], ARGV[1])
settle(ARGV[4])
return 0
"
));

/// `ARGV`: now, connection id, user id, grace. Answers 1 when the user has no live
/// connection left.
static LEAVE: Script = Script::new(concat!(
    prelude!(),
    r"
prune(ARGV[1])
forget(ARGV[2])
redis.call('ZREM', KEYS[1], ARGV[2])
local left = others(ARGV[3], ARGV[2]) <= 0
settle(ARGV[4])
if left then return 1 end
return 0
"
));

/// `ARGV`: now, grace. Answers the number of users with a live connection.
static COUNT: Script = Script::new(concat!(
    prelude!(),
    r"
if prune(ARGV[1]) > 0 then settle(ARGV[2]) end
return redis.call('HLEN', KEYS[3])
"
));

/// `ARGV`: now, grace. Answers the `who` values of the live connections, in ascending
/// order of expiry (ties: of connection id).
static PRESENT: Script = Script::new(concat!(
    prelude!(),
    r"
if prune(ARGV[1]) > 0 then settle(ARGV[2]) end
local out = {}
for _, conn in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local who = redis.call('HGET', KEYS[2], conn)
  if who then out[#out + 1] = who end
end
return out
"
));

/// A Lua script on a room's three keys (see [`prelude!`]).
struct Script {
    source: &'static str,
    /// Its SHA-1, as `SCRIPT LOAD` answered the first time it was needed.
    sha: OnceLock<String>,
}

impl Script {
    const fn new(source: &'static str) -> Self {
        Self {
            source,
            sha: OnceLock::new(),
        }
    }
}

/// [`PresenceStore`] in Redis; the key layout is in the module documentation.
#[derive(Clone)]
pub struct RedisPresence {
    pool: RedisPool,
    prefix: String,
}

impl RedisPresence {
    /// An adapter using connections from `pool` and keys starting with `prefix`.
    pub fn new(pool: RedisPool, prefix: impl Into<String>) -> Self {
        Self {
            pool,
            prefix: prefix.into(),
        }
    }

    /// Runs `script` on the room's three keys (the sorted set first) with `args` as
    /// `ARGV`.
    async fn run<T: FromRedisValue>(
        &self,
        script: &Script,
        session_id: Uuid,
        args: &[String],
    ) -> Result<T, StoreError> {
        let room = format!("{}presence:{session_id}", self.prefix);
        let keys = [room.clone(), format!("{room}:who"), format!("{room}:users")];
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        if script.sha.get().is_none() {
            let sha: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(script.source)
                .query_async(&mut *conn)
                .await
                .map_err(redis_error)?;
            // Another task may have loaded it meanwhile: same text, same SHA.
            let _ = script.sha.set(sha);
        }
        if let Some(sha) = script.sha.get() {
            let ran = redis::cmd("EVALSHA")
                .arg(sha)
                .arg(keys.len())
                .arg(&keys)
                .arg(args)
                .query_async(&mut *conn)
                .await;
            match ran {
                // Redis restarted (or its scripts were flushed): `EVAL` below runs the
                // script and caches it again for the next `EVALSHA`.
                Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {}
                ran => return ran.map_err(redis_error),
            }
        }
        redis::cmd("EVAL")
            .arg(script.source)
            .arg(keys.len())
            .arg(&keys)
            .arg(args)
            .query_async(&mut *conn)
            .await
            .map_err(redis_error)
    }
}

/// The `who` value of an entry: its user id, then its username.
fn who(entry: &PresenceEntry) -> String {
    format!("{}|{}", entry.user_id, entry.username)
}

#[async_trait]
impl PresenceStore for RedisPresence {
    async fn enter(
        &self,
        entry: &PresenceEntry,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let args = [
            now.timestamp_millis().to_string(),
            expires_at.timestamp_millis().to_string(),
            entry.connection_id.to_string(),
            who(entry),
            GRACE_MS.to_string(),
        ];
        let arrived: i64 = self.run(&ENTER, entry.session_id, &args).await?;
        Ok(arrived == 1)
    }

    async fn refresh(
        &self,
        entry: &PresenceEntry,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let args = [
            expires_at.timestamp_millis().to_string(),
            entry.connection_id.to_string(),
            who(entry),
            GRACE_MS.to_string(),
        ];
        let _: i64 = self.run(&REFRESH, entry.session_id, &args).await?;
        Ok(())
    }

    async fn leave(&self, entry: &PresenceEntry, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let args = [
            now.timestamp_millis().to_string(),
            entry.connection_id.to_string(),
            entry.user_id.to_string(),
            GRACE_MS.to_string(),
        ];
        let left: i64 = self.run(&LEAVE, entry.session_id, &args).await?;
        Ok(left == 1)
    }

    async fn present(
        &self,
        session_id: Uuid,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PresentUser>, StoreError> {
        let args = [now.timestamp_millis().to_string(), GRACE_MS.to_string()];
        let connections: Vec<String> = self.run(&PRESENT, session_id, &args).await?;
        Ok(tally(&connections, limit))
    }

    async fn count(&self, session_id: Uuid, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let args = [now.timestamp_millis().to_string(), GRACE_MS.to_string()];
        self.run(&COUNT, session_id, &args).await
    }
}

/// Users from the `who` values of a room's live connections, given in ascending order of
/// expiry: a user's username is taken from the connection expiring last. A value that
/// does not decode (written by another version) is skipped with a warning: the
/// connection it describes expires on its own.
fn tally(connections: &[String], limit: u32) -> Vec<PresentUser> {
    let mut users: HashMap<Uuid, PresentUser> = HashMap::new();
    for value in connections {
        let Some((user_id, username)) = value
            .split_once('|')
            .and_then(|(id, name)| Some((Uuid::parse_str(id).ok()?, name)))
        else {
            tracing::warn!(%value, "undecodable presence entry; skipped");
            continue;
        };
        let user = users.entry(user_id).or_insert_with(|| PresentUser {
            user_id,
            username: String::new(),
            connections: 0,
        });
        user.connections = user.connections.saturating_add(1);
        username.clone_into(&mut user.username);
    }
    let mut present: Vec<PresentUser> = users.into_values().collect();
    present.sort_unstable_by(|a, b| (&a.username, a.user_id).cmp(&(&b.username, b.user_id)));
    present.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    present
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_come_from_the_last_connection_and_may_contain_the_separator() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let rows = vec![
            format!("{a}|old"),
            format!("{b}|b|c"),
            "garbage".to_owned(),
            format!("{a}|new"),
        ];
        let users = tally(&rows, 10);
        assert_eq!(
            users,
            vec![
                PresentUser {
                    user_id: b,
                    username: "b|c".to_owned(),
                    connections: 1
                },
                PresentUser {
                    user_id: a,
                    username: "new".to_owned(),
                    connections: 2
                },
            ]
        );
        assert_eq!(tally(&rows, 1).len(), 1);
    }
}

#[cfg(test)]
mod redis_tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{DurationRound, TimeDelta};
    use domain_core::{Clock, SystemClock};

    use super::*;
    use crate::testing::{TestRedis, keys_with_prefix};

    async fn pttl(redis: &TestRedis, key: &str) -> i64 {
        let mut conn = redis.pool().get().await.unwrap();
        redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut *conn)
            .await
            .unwrap()
    }

    /// The three keys are named as documented, expire together a grace period after the
    /// latest connection, and are gone as soon as the room is empty, whether everybody
    /// left or their connections lapsed.
    #[tokio::test]
    async fn keys_follow_the_latest_connection_and_go_with_the_room() {
        let Some(redis) = TestRedis::create().await else {
            return;
        };
        let prefix = redis.prefix().to_owned();
        let store = RedisPresence::new(redis.pool().clone(), prefix.clone());
        let now = SystemClock
            .now()
            .duration_trunc(TimeDelta::seconds(1))
            .unwrap();
        let room = Uuid::new_v4();
        let entry = |name: &str| PresenceEntry {
            session_id: room,
            connection_id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            username: name.to_owned(),
        };
        let (a, b) = (entry("a"), entry("b"));
        store
            .enter(&a, now + TimeDelta::seconds(30), now)
            .await
            .unwrap();
        store
            .enter(&b, now + TimeDelta::seconds(50), now)
            .await
            .unwrap();

        let mut keys = keys_with_prefix(redis.pool(), &prefix).await.unwrap();
        keys.sort();
        let base = format!("{prefix}presence:{room}");
        assert_eq!(
            keys,
            vec![base.clone(), format!("{base}:users"), format!("{base}:who")]
        );
        // Relative to Redis's clock, which is close to the test's.
        let expected = 50_000 + GRACE_MS;
        for key in &keys {
            let ttl = pttl(&redis, key).await;
            assert!(
                (expected - 5_000..=expected).contains(&ttl),
                "{key} expires with the latest connection plus grace: {ttl} ms"
            );
        }

        store.leave(&b, now).await.unwrap();
        let ttl = pttl(&redis, &base).await;
        assert!(
            ttl <= 30_000 + GRACE_MS,
            "follows the latest remaining: {ttl} ms"
        );
        store.leave(&a, now).await.unwrap();
        assert!(
            keys_with_prefix(redis.pool(), &prefix)
                .await
                .unwrap()
                .is_empty(),
            "the last leave deletes the room"
        );

        store
            .enter(&a, now + TimeDelta::seconds(30), now)
            .await
            .unwrap();
        assert_eq!(
            store
                .count(room, now + TimeDelta::seconds(30))
                .await
                .unwrap(),
            0
        );
        assert!(
            keys_with_prefix(redis.pool(), &prefix)
                .await
                .unwrap()
                .is_empty(),
            "a room whose connections all lapsed is deleted when next read"
        );
        redis.cleanup().await;
    }

    /// After Redis forgets its scripts (a restart, `SCRIPT FLUSH`), the next call sends
    /// the script's text again instead of failing.
    #[tokio::test]
    async fn scripts_are_sent_again_when_redis_forgot_them() {
        let Some(redis) = TestRedis::create().await else {
            return;
        };
        let store = RedisPresence::new(redis.pool().clone(), redis.prefix());
        let now = SystemClock.now();
        let entry = PresenceEntry {
            session_id: Uuid::new_v4(),
            connection_id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            username: "a".to_owned(),
        };
        assert!(
            store
                .enter(&entry, now + TimeDelta::seconds(30), now)
                .await
                .unwrap()
        );
        {
            let mut conn = redis.pool().get().await.unwrap();
            let () = redis::cmd("SCRIPT")
                .arg("FLUSH")
                .query_async(&mut *conn)
                .await
                .unwrap();
        }
        assert_eq!(store.count(entry.session_id, now).await.unwrap(), 1);
        assert!(store.leave(&entry, now).await.unwrap());
        redis.cleanup().await;
    }
}
