//! Accounts and authentication for Agora.
//!
//! Business rules only: validated account fields ([`Username`], [`Email`]), the password
//! policy, sessions whose refresh tokens rotate on every use (re-use of a rotated token
//! revokes the whole session), short-lived JWT access tokens, and the ports that storage
//! and cache adapters implement. [`AuthService`] ties them together.

pub mod error;
pub mod identity_event;
pub mod model;
pub mod password;
pub mod ports;
pub mod service;
pub mod session;
pub mod throttle;
pub mod tokens;

pub use error::IdentityError;
pub use identity_event::IdentityEvent;
pub use model::{Email, NewUser, RoleGrant, User, UserId, Username};
pub use password::{Argon2Hasher, PasswordHasher, PasswordPolicy};
pub use ports::{
    AttemptLimiter, GrantSource, LoginSessionRepository, Pacer, RevocationList, UserRepository,
};
pub use service::{
    AuthConfig, AuthPorts, AuthService, LoginLimits, Principal, RegistrationLimits, Standing,
    TokenPair,
};
pub use session::{
    ClientInfo, LoginSession, NewLoginSession, RefreshTokenHash, RotateOutcome, SessionId,
};
pub use tokens::{AccessClaims, TokenCodec, TokenSettings};
