//! Password policy and hashing.
//!
//! The policy follows NIST SP 800-63B / OWASP guidance: a minimum length, a generous
//! maximum, no composition rules, and a refusal of passwords that are very common or that
//! contain the username. Hashing is argon2id with OWASP's recommended parameters
//! (m = 19 MiB, t = 2, p = 1).

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use domain_core::FieldError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::IdentityError;

/// The built-in list of passwords too common to accept, compared case-insensitively.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// Password rules applied on registration and on every change.
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    /// Fewest characters accepted.
    pub min_chars: usize,
    /// Most characters accepted; bounds the hashing work an attacker can ask for.
    pub max_chars: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_chars: 10,
            max_chars: 256,
        }
    }
}

impl PasswordPolicy {
    /// Checks `password` for an account with this `username` and `email`.
    ///
    /// # Errors
    /// A [`FieldError`] on `field` naming the first rule that failed.
    pub fn check(
        &self,
        field: &str,
        password: &str,
        username: &str,
        email: &str,
    ) -> Result<(), FieldError> {
        let err = |m: String| FieldError::new(field, m);
        let len = password.chars().count();
        if len < self.min_chars {
            return Err(err(format!(
                "must be at least {} characters long",
                self.min_chars
            )));
        }
        if len > self.max_chars {
            return Err(err(format!(
                "must be at most {} characters long",
                self.max_chars
            )));
        }
        // one line, like every secret typed into a form; a NUL could not be stored or sent
        domain_core::text::single_line(field, password)?;
        let lower = password.to_lowercase();
        let user = username.trim().to_lowercase();
        if !user.is_empty() && lower.contains(&user) {
            return Err(err("must not contain the username".into()));
        }
        let local = email.trim().to_lowercase();
        let local = local.split('@').next().unwrap_or_default();
        if local.len() >= 3 && lower.contains(local) {
            return Err(err("must not contain the e-mail address".into()));
        }
        if is_common(&lower) {
            return Err(err("is too common; choose a less guessable password".into()));
        }
        if password.chars().all(|c| password.starts_with(c)) {
            return Err(err("must not repeat a single character".into()));
        }
        Ok(())
    }
}

fn is_common(lower: &str) -> bool {
    static LIST: OnceLock<std::collections::HashSet<String>> = OnceLock::new();
    LIST.get_or_init(|| {
        COMMON_PASSWORDS
            .lines()
            .map(|l| l.trim().to_lowercase())
            .filter(|l| !l.is_empty())
            .collect()
    })
    .contains(lower)
}

/// Port for turning passwords into stored hashes and checking them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes `password` into a self-describing (PHC) string with a fresh salt.
    ///
    /// # Errors
    /// [`IdentityError::Internal`] if the hashing backend fails.
    async fn hash(&self, password: &str) -> Result<String, IdentityError>;

    /// Whether `password` matches `phc`. A malformed `phc` never matches.
    ///
    /// # Errors
    /// [`IdentityError::Internal`] if the hashing backend fails.
    async fn verify(&self, password: &str, phc: &str) -> Result<bool, IdentityError>;
}

/// argon2id hasher. Work runs on tokio's blocking pool so it never stalls the reactor,
/// at most one hash per core at a time: each takes 19 MiB and a core's worth of work, so
/// more at once only piles up threads and memory (a login burst of 32 held 32 × 19 MiB)
/// without finishing any sooner. Callers beyond that wait their turn, in order.
///
/// Each turn reuses one of at most that many 19 MiB work areas, allocated once: memory
/// stays flat through a burst instead of every blocking thread's allocator arena keeping
/// a freed area of its own (+3.8 GB after 1 000 logins 32 at a time, measured).
#[derive(Debug, Clone)]
pub struct Argon2Hasher {
    params: Params,
    turns: Arc<Semaphore>,
    areas: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl Argon2Hasher {
    /// OWASP's recommended argon2id parameters: 19 MiB memory, 2 iterations, 1 lane.
    ///
    /// # Errors
    /// Never in practice; the parameters are constants within argon2's bounds.
    pub fn owasp() -> Result<Self, IdentityError> {
        Self::with_params(19 * 1024, 2, 1)
    }

    /// Custom parameters (memory in KiB, iterations, lanes).
    ///
    /// # Errors
    /// [`IdentityError::Internal`] if argon2 rejects the parameters.
    pub fn with_params(m_cost: u32, t_cost: u32, p_cost: u32) -> Result<Self, IdentityError> {
        let params = Params::new(m_cost, t_cost, p_cost, None)
            .map_err(|e| IdentityError::Internal(format!("argon2 params: {e}")))?;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Ok(Self {
            params,
            turns: Arc::new(Semaphore::new(cores)),
            areas: Arc::new(Mutex::new(Vec::with_capacity(cores))),
        })
    }

    /// How many hashes may run at once (the number of cores).
    pub fn concurrency(&self) -> usize {
        self.turns.available_permits()
    }

    /// Waits for a turn to hash; the turn ends when the permit is dropped.
    async fn turn(&self) -> Result<OwnedSemaphorePermit, IdentityError> {
        self.turns
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| IdentityError::Internal(format!("hashing turns: {e}")))
    }
}

/// A work area for one hash: one of the pool's, or a new one when all are in use (only
/// while the pool fills up: there are never more turns than areas).
struct Area {
    blocks: Vec<Block>,
    pool: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl Area {
    fn take(pool: &Arc<Mutex<Vec<Vec<Block>>>>) -> Self {
        let blocks = pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        Self {
            blocks,
            pool: pool.clone(),
        }
    }

    /// The first `count` blocks, growing the area if it is smaller (a hash stored with
    /// larger parameters than today's).
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::new());
        }
        &mut self.blocks[..count]
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        let blocks = std::mem::take(&mut self.blocks);
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(blocks);
    }
}

/// argon2id of `password` with a fresh salt, as a PHC string, computed in `area`.
fn hash_in(params: &Params, password: &[u8], area: &mut Area) -> Result<String, IdentityError> {
    let internal =
        |what: &str, e: &dyn std::fmt::Display| IdentityError::Internal(format!("{what}: {e}"));
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| internal("random source", &e))?;
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let out = buffer
        .get_mut(..params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN))
        .ok_or_else(|| IdentityError::Internal("argon2 output length".into()))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, &salt, out, area.blocks(params.block_count()))
        .map_err(|e| internal("argon2 hash", &e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| internal("argon2 params", &e))?,
        salt: Some(Salt::new(&salt).map_err(|e| internal("argon2 salt", &e))?),
        hash: Some(Output::new(out).map_err(|e| internal("argon2 output", &e))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `phc` (with the parameters stored in it),
/// computed in `area`. Anything malformed does not match.
fn verify_in(password: &[u8], phc: &str, area: &mut Area) -> bool {
    let Ok(stored) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(stored.algorithm.as_str()),
        Params::try_from(&stored),
    ) else {
        return false;
    };
    let version = match stored.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let Some(out) = buffer.get_mut(..expected.len()) else {
        return false;
    };
    let blocks = area.blocks(params.block_count());
    if Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt.as_ref(), out, blocks)
        .is_err()
    {
        return false;
    }
    // `Output`'s equality is constant-time
    Output::new(out).is_ok_and(|computed| computed == *expected)
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &str) -> Result<String, IdentityError> {
        let params = self.params.clone();
        let password = password.to_owned();
        let turn = self.turn().await?;
        let mut area = Area::take(&self.areas);
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            hash_in(&params, password.as_bytes(), &mut area)
        })
        .await
        .map_err(|e| IdentityError::Internal(format!("hashing task: {e}")))?
    }

    async fn verify(&self, password: &str, phc: &str) -> Result<bool, IdentityError> {
        let password = password.to_owned();
        let phc = phc.to_owned();
        let turn = self.turn().await?;
        let mut area = Area::take(&self.areas);
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            verify_in(password.as_bytes(), &phc, &mut area)
        })
        .await
        .map_err(|e| IdentityError::Internal(format!("hashing task: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pw: &str) -> Result<(), FieldError> {
        PasswordPolicy::default().check("password", pw, "alice", "alice@example.org")
    }

    #[test]
    fn policy_rules() {
        assert!(check("a sensible passphrase").is_ok());
        assert!(check("short").is_err());
        assert!(check(&"x".repeat(257)).is_err());
        assert!(
            check("xxAliCe-is-here")
                .unwrap_err()
                .message
                .contains("username")
        );
        assert!(check("Password123").unwrap_err().message.contains("common"));
        assert!(check("zzzzzzzzzzzz").is_err());
    }

    // A burst larger than the machine waits its turn and every hash still completes,
    // with every turn handed back (a leaked one would slowly stop all logins).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_takes_turns_and_gives_them_back() {
        let hasher = Argon2Hasher::with_params(64, 1, 1).unwrap();
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        assert_eq!(hasher.concurrency(), cores);
        let phc = hasher.hash("pw-burst").await.unwrap();
        let checks = (0..4 * cores + 3).map(|i| {
            let (hasher, phc) = (hasher.clone(), phc.clone());
            tokio::spawn(async move {
                hasher
                    .verify(if i % 2 == 0 { "pw-burst" } else { "nope" }, &phc)
                    .await
            })
        });
        let results: Vec<bool> = futures_join(checks).await;
        for (i, ok) in results.into_iter().enumerate() {
            assert_eq!(ok, i % 2 == 0, "check {i}");
        }
        assert_eq!(hasher.concurrency(), cores);
    }

    async fn futures_join(
        tasks: impl Iterator<Item = tokio::task::JoinHandle<Result<bool, IdentityError>>>,
    ) -> Vec<bool> {
        let mut out = Vec::new();
        for t in tasks.collect::<Vec<_>>() {
            out.push(t.await.unwrap().unwrap());
        }
        out
    }

    // Hashes stored before the pooled work areas (argon2's own hasher) still verify, and
    // new ones verify with argon2's own verifier: nobody's password stops working.
    #[tokio::test]
    async fn hashes_agree_with_argon2s_own_hasher() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let ours = Argon2Hasher::with_params(256, 2, 1).unwrap();
        let theirs = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(256, 2, 1, None).unwrap(),
        );
        let old = theirs.hash_password(b"s3cret-words").unwrap().to_string();
        assert!(ours.verify("s3cret-words", &old).await.unwrap());
        assert!(!ours.verify("s3cret-wordz", &old).await.unwrap());
        let new = ours.hash("s3cret-words").await.unwrap();
        let parsed = PasswordHash::new(&new).unwrap();
        assert!(theirs.verify_password(b"s3cret-words", &parsed).is_ok());
        assert!(theirs.verify_password(b"nope", &parsed).is_err());
        // stored with other parameters than today's: still checked with its own
        let bigger = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(512, 1, 1, None).unwrap(),
        )
        .hash_password(b"s3cret-words")
        .unwrap()
        .to_string();
        assert!(ours.verify("s3cret-words", &bigger).await.unwrap());
    }

    #[tokio::test]
    async fn argon2id_round_trip() {
        let h = Argon2Hasher::with_params(1024, 1, 1).unwrap();
        let phc = h.hash("correct horse").await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(h.verify("correct horse", &phc).await.unwrap());
        assert!(!h.verify("wrong horse", &phc).await.unwrap());
        assert!(!h.verify("x", "not a phc string").await.unwrap());
    }

    #[test]
    fn owasp_params() {
        let h = Argon2Hasher::owasp().unwrap();
        assert_eq!(
            (h.params.m_cost(), h.params.t_cost(), h.params.p_cost()),
            (19 * 1024, 2, 1)
        );
    }
}
