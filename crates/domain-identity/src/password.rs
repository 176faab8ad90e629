//! Password policy and hashing.
//!
//! The policy follows NIST SP 800-63B / OWASP guidance: a minimum length, a generous
//! maximum, no composition rules, and a refusal of passwords that are very common or that
//! contain the username. Hashing is argon2id with OWASP's recommended parameters
//! (m = 19 MiB, t = 2, p = 1).

use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use domain_core::FieldError;

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

/// argon2id hasher. Work runs on tokio's blocking pool so it never stalls the reactor.
#[derive(Debug, Clone)]
pub struct Argon2Hasher {
    params: Params,
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
        Ok(Self { params })
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &str) -> Result<String, IdentityError> {
        use argon2::password_hash::PasswordHasher as _;
        let argon = self.argon();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            argon
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| IdentityError::Internal(format!("argon2 hash: {e}")))
        })
        .await
        .map_err(|e| IdentityError::Internal(format!("hashing task: {e}")))?
    }

    async fn verify(&self, password: &str, phc: &str) -> Result<bool, IdentityError> {
        use argon2::password_hash::PasswordVerifier as _;
        let argon = self.argon();
        let password = password.to_owned();
        let phc = phc.to_owned();
        tokio::task::spawn_blocking(move || match PasswordHash::new(&phc) {
            Ok(parsed) => argon.verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(_) => false,
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
