//! Account data and the validated types it is made of ("parse, don't validate").

use chrono::{DateTime, Utc};
use domain_core::{FieldError, define_id};
use serde::{Deserialize, Serialize};

define_id!(
    /// Identifies a user account.
    UserId
);

/// A username: 3–32 characters of ASCII letters, digits, `_`, `.` and `-`, starting with a
/// letter or digit. Unique case-insensitively, so `Alice` and `alice` cannot both exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// Validates a username as typed by a user (surrounding spaces are dropped).
    ///
    /// # Errors
    /// A [`FieldError`] on `username` explaining the rule that failed.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        let err = |m: &str| FieldError::new("username", m);
        if s.chars().count() < 3 || s.chars().count() > 32 {
            return Err(err("must be 3 to 32 characters long"));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(err("may contain only letters, digits, '_', '.' and '-'"));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(err("must start with a letter or a digit"));
        }
        Ok(Self(s.to_owned()))
    }

    /// Rebuilds a username read back from storage, where it was validated on the way in.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    /// The username as chosen.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address, normalised to lower case so uniqueness is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Validates and normalises an address: one `@`, a non-empty local part of at most 64
    /// characters, a dotted domain, no spaces, 254 characters at most.
    ///
    /// # Errors
    /// A [`FieldError`] on `email`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim().to_lowercase();
        let bad = || FieldError::new("email", "must be a valid e-mail address");
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        let domain_ok = domain.contains('.')
            && !domain.contains('@')
            && domain
                .split('.')
                .all(|label| !label.is_empty() && !label.starts_with('-'));
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(bad());
        }
        Ok(Self(s))
    }

    /// Rebuilds an address read back from storage.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id.
    pub id: UserId,
    /// Chosen username.
    pub username: Username,
    /// Normalised e-mail address.
    pub email: Email,
    /// PHC string of the argon2id hash; never leaves the server.
    pub password_hash: String,
    /// Disabled accounts cannot log in and have no live sessions.
    pub is_active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change to the account.
    pub updated_at: DateTime<Utc>,
}

/// What a repository needs to create an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Id chosen by the service.
    pub id: UserId,
    /// Validated username.
    pub username: Username,
    /// Validated, normalised e-mail.
    pub email: Email,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A role held in a scope, in the compact form carried by access tokens:
/// `{"role": "institute_admin", "scope": "institution:123"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RoleGrant {
    /// Role name, for example `super_admin`.
    pub role: String,
    /// Scope, for example `global` or `institution:<id>`.
    pub scope: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("  alice_1 ").unwrap().as_str(), "alice_1");
        assert!(Username::parse("al").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("a b c").is_err());
        assert!(
            Username::parse("alice@x").is_err(),
            "'@' would make login ambiguous"
        );
        assert!(Username::parse("_alice").is_err());
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse(" Alice@Example.ORG ").unwrap().as_str(),
            "alice@example.org"
        );
        for bad in [
            "",
            "alice",
            "@x.org",
            "a@b",
            "a@@b.org",
            "a b@c.org",
            "a@.org",
            "a@b..org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
