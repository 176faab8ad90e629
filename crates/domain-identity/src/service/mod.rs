//! The identity use cases: register, log in, refresh, authenticate, log out, change
//! password, list and end sessions, disable accounts.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use domain_core::{Clock, DomainEvent, EventPublisher, FieldError, StoreError, TypedEvent};
use tokio::sync::OnceCell;

use crate::session::RefreshToken;
use crate::throttle::{self, LoginKeys};
use crate::{
    AttemptLimiter, ClientInfo, Email, GrantSource, IdentityError, IdentityEvent, LoginSession,
    LoginSessionRepository, NewLoginSession, NewUser, Pacer, PasswordHasher, PasswordPolicy,
    RevocationList, RoleGrant, RotateOutcome, SessionId, TokenCodec, User, UserId, UserRepository,
    Username,
};

pub use crate::throttle::{LoginLimits, RegistrationLimits};

/// Tunables of the identity service.
#[derive(Debug, Clone, Copy)]
pub struct AuthConfig {
    /// Absolute lifetime of a login session (and so of its refresh tokens), in seconds.
    pub refresh_ttl_secs: i64,
    /// Brute-force limits.
    pub login: LoginLimits,
    /// Registrations per client address.
    pub registration: RegistrationLimits,
    /// Password rules.
    pub policy: PasswordPolicy,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            refresh_ttl_secs: 14 * 24 * 3600,
            login: LoginLimits::default(),
            registration: RegistrationLimits::default(),
            policy: PasswordPolicy::default(),
        }
    }
}

/// Tokens handed to a client after login or refresh.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// JWT access token.
    pub access: String,
    /// Opaque single-use refresh token.
    pub refresh: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The session these tokens belong to.
    pub session_id: SessionId,
}

/// The authenticated caller of a request, from a verified, unrevoked access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub user_id: UserId,
    /// Username at token issue.
    pub username: String,
    /// The login session.
    pub session_id: SessionId,
    /// The token's id.
    pub jti: uuid::Uuid,
    /// The token's expiry.
    pub expires_at: DateTime<Utc>,
    /// Role grants carried by the token.
    pub roles: Vec<RoleGrant>,
}

/// Whether a caller authenticated earlier still counts as signed in (see
/// [`AuthService::recheck`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// The token is unexpired and neither it nor its session was revoked.
    SignedIn,
    /// The token's expiry has passed.
    Expired,
    /// The token or its login session was revoked (logout, a password change, an
    /// administrator disabling the account).
    Revoked,
}

/// The identity service. Cheap to clone; holds its ports behind `Arc`s.
#[derive(Clone)]
pub struct AuthService {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn LoginSessionRepository>,
    revocations: Arc<dyn RevocationList>,
    limiter: Arc<dyn AttemptLimiter>,
    pacer: Arc<dyn Pacer>,
    grants: Arc<dyn GrantSource>,
    hasher: Arc<dyn PasswordHasher>,
    events: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    codec: TokenCodec,
    config: AuthConfig,
    /// A hash verified when the account does not exist, so that "unknown user" costs the
    /// same time as "wrong password".
    decoy_hash: Arc<OnceCell<String>>,
}

/// The ports an [`AuthService`] is built from.
pub struct AuthPorts {
    /// Accounts.
    pub users: Arc<dyn UserRepository>,
    /// Sessions and refresh tokens.
    pub sessions: Arc<dyn LoginSessionRepository>,
    /// Revoked access tokens.
    pub revocations: Arc<dyn RevocationList>,
    /// Failed-attempt counters.
    pub limiter: Arc<dyn AttemptLimiter>,
    /// Holds back failed logins of accounts and clients under attack.
    pub pacer: Arc<dyn Pacer>,
    /// Role grants.
    pub grants: Arc<dyn GrantSource>,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Domain events.
    pub events: Arc<dyn EventPublisher>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

impl AuthService {
    /// Builds the service.
    pub fn new(ports: AuthPorts, codec: TokenCodec, config: AuthConfig) -> Self {
        Self {
            users: ports.users,
            sessions: ports.sessions,
            revocations: ports.revocations,
            limiter: ports.limiter,
            pacer: ports.pacer,
            grants: ports.grants,
            hasher: ports.hasher,
            events: ports.events,
            clock: ports.clock,
            codec,
            config,
            decoy_hash: Arc::new(OnceCell::new()),
        }
    }

    /// Seconds an access token lives.
    pub fn access_ttl_secs(&self) -> i64 {
        self.codec.access_ttl_secs()
    }

    /// Creates an account.
    ///
    /// # Errors
    /// [`IdentityError::Validation`] listing every bad field; [`IdentityError::Taken`]
    /// when the username or e-mail is in use.
    pub async fn register(
        &self,
        username: &str,
        email: &str,
        password: &str,
    ) -> Result<User, IdentityError> {
        let (username, email) = self.validate_registration(username, email, password)?;
        self.create_account(username, email, password).await
    }

    /// The parsed username and e-mail, or every bad field of a registration at once.
    fn validate_registration(
        &self,
        username: &str,
        email: &str,
        password: &str,
    ) -> Result<(Username, Email), IdentityError> {
        let mut errors: Vec<FieldError> = Vec::new();
        let parsed_username = Username::parse(username).map_err(|e| errors.push(e)).ok();
        let parsed_email = Email::parse(email).map_err(|e| errors.push(e)).ok();
        if let Err(e) = self
            .config
            .policy
            .check("password", password, username, email)
        {
            errors.push(e);
        }
        let (Some(username), Some(email)) = (parsed_username, parsed_email) else {
            return Err(IdentityError::Validation(errors));
        };
        if !errors.is_empty() {
            return Err(IdentityError::Validation(errors));
        }
        Ok((username, email))
    }

    /// Stores a validated account and announces it.
    async fn create_account(
        &self,
        username: Username,
        email: Email,
        password: &str,
    ) -> Result<User, IdentityError> {
        let password_hash = self.hasher.hash(password).await?;
        let now = self.clock.now();
        let user = self
            .users
            .insert(NewUser {
                id: UserId::new_random(),
                username,
                email,
                password_hash,
                created_at: now,
            })
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(field) => IdentityError::Taken(field),
                other => other.into(),
            })?;
        self.emit(IdentityEvent::UserRegistered {
            user_id: user.id.as_uuid(),
            username: user.username.as_str().to_owned(),
        })
        .await;
        Ok(user)
    }

    /// Creates an account for a client: [`AuthService::register`], limited per client
    /// address. Every attempt with valid input counts, taken names included, so the
    /// limit also slows probing which names exist.
    ///
    /// # Errors
    /// [`IdentityError::RateLimited`] once the client has used its registrations for the
    /// window (checked before anything else); otherwise as [`AuthService::register`].
    pub async fn register_from(
        &self,
        username: &str,
        email: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<User, IdentityError> {
        let now = self.clock.now();
        let limits = self.config.registration;
        let key = throttle::registration_key(&throttle::client_tag(client.ip.as_deref()));
        if let Some(retry_after_secs) = self
            .limiter
            .blocked_for(&key, limits.per_client, now)
            .await?
        {
            return Err(IdentityError::RateLimited { retry_after_secs });
        }
        let (username, email) = self.validate_registration(username, email, password)?;
        // counted before creating, and checked again: concurrent requests cannot all slip
        // through the check above
        let count = self
            .limiter
            .record_failure(&key, limits.window_secs, now)
            .await?;
        if count > limits.per_client {
            let retry_after_secs = self
                .limiter
                .blocked_for(&key, limits.per_client, now)
                .await?
                .unwrap_or(limits.window_secs);
            return Err(IdentityError::RateLimited { retry_after_secs });
        }
        self.create_account(username, email, password).await
    }

    /// Creates the first administrator: a normal account that also holds `super_admin`
    /// in the `global` scope.
    ///
    /// # Errors
    /// As [`AuthService::register`].
    pub async fn create_admin(
        &self,
        username: &str,
        email: &str,
        password: &str,
    ) -> Result<User, IdentityError> {
        let user = self.register(username, email, password).await?;
        let grant = RoleGrant {
            role: "super_admin".into(),
            scope: "global".into(),
        };
        self.grants
            .add_grant(user.id, grant, self.clock.now())
            .await?;
        Ok(user)
    }

    /// Logs in with a username or e-mail and a password, under the protection policy of
    /// [`throttle`](crate::throttle): failures are counted per (account, client), per
    /// account and per client; a pair that failed too often is locked with a doubling
    /// wait; failed answers to an account or from a client under attack are held back
    /// (through the [`Pacer`]); a right password from a client that has not failed is
    /// never refused nor held back for someone else's failures.
    ///
    /// # Errors
    /// [`IdentityError::RateLimited`] while this client is locked out of this account
    /// (checked before the password, so a locked client learns nothing);
    /// [`IdentityError::InvalidCredentials`] for an unknown account or a wrong password
    /// alike; [`IdentityError::AccountDisabled`] for a disabled account;
    /// [`IdentityError::Validation`] when either holds a control character.
    pub async fn login(
        &self,
        identifier: &str,
        password: &str,
        client: ClientInfo,
    ) -> Result<TokenPair, IdentityError> {
        // Refused before any lookup: no account can hold a control character, and
        // PostgreSQL would fail on a NUL where memory mode simply finds nothing. The
        // identifier is trimmed like every lookup trims it.
        for (field, text) in [("username", identifier.trim()), ("password", password)] {
            domain_core::text::single_line(field, text)
                .map_err(|e| IdentityError::Validation(vec![e]))?;
        }
        let now = self.clock.now();
        let limits = self.config.login;
        let user = self.find_by_identifier(identifier).await?;
        // Count failures per account, whichever identifier (username or e-mail) was typed;
        // for unknown accounts, per normalised identifier so they behave the same. Separate
        // prefixes stop a login name that spells a user id from hitting that user's counter.
        let account = match &user {
            Some(u) => format!("user:{}", u.id),
            None => format!("name:{}", identifier.trim().to_lowercase()),
        };
        let keys = LoginKeys::new(&account, &throttle::client_tag(client.ip.as_deref()));

        let stuffing = self
            .limiter
            .blocked_for(&keys.client, limits.per_client, now)
            .await?
            .is_some();
        if let Some(retry_after_secs) = self.refusal(&keys, stuffing, now).await? {
            return Err(IdentityError::RateLimited { retry_after_secs });
        }
        // Claim one attempt of the pair's budget before the (slow) verification, so that
        // concurrent guesses cannot all pass the check above; a success clears it.
        let budget = if stuffing { 1 } else { limits.per_pair };
        let on_pair = self
            .limiter
            .record_failure(&keys.pair, limits.window_secs, now)
            .await?;
        if on_pair > budget {
            let retry_after_secs = self
                .limiter
                .blocked_for(&keys.pair, budget, now)
                .await?
                .unwrap_or(limits.window_secs);
            return Err(IdentityError::RateLimited { retry_after_secs });
        }

        // Always pay for one hash verification, so timing does not reveal whether the
        // account exists.
        let phc = match &user {
            Some(u) => u.password_hash.clone(),
            None => self.decoy_hash().await?.to_owned(),
        };
        let password_ok = self.hasher.verify(password, &phc).await?;
        let user = match user {
            Some(u) if password_ok => u,
            _ => {
                let delay = self
                    .count_login_failure(&keys, stuffing, on_pair, now)
                    .await?;
                if !delay.is_zero() {
                    self.pacer.pause(delay).await;
                }
                return Err(IdentityError::InvalidCredentials);
            }
        };
        if !user.is_active {
            return Err(IdentityError::AccountDisabled);
        }
        // The client proved it knows the password: its own record is cleared. The
        // account's count stays, as it measures what others are doing to it.
        self.limiter.reset(&keys.pair).await?;
        self.limiter.reset(&keys.strikes).await?;

        let refresh = RefreshToken::generate()?;
        let session = self
            .sessions
            .create(
                NewLoginSession {
                    id: SessionId::new_random(),
                    user_id: user.id,
                    client,
                    created_at: now,
                    expires_at: now + Duration::seconds(self.config.refresh_ttl_secs),
                },
                refresh.hash.clone(),
            )
            .await?;
        self.issue(&user, session.id, refresh.secret, now).await
    }

    /// The wait before this client may try this account again, if it is refused: its
    /// pair is locked or out of budget (one failure for a client that is stuffing
    /// credentials), or the account is past its ceiling and this client has failed on it
    /// (within the window, or with a lockout remembered for the doubling).
    async fn refusal(
        &self,
        keys: &LoginKeys,
        stuffing: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, IdentityError> {
        let limits = self.config.login;
        let budget = if stuffing { 1 } else { limits.per_pair };
        if let Some(wait) = self.limiter.blocked_for(&keys.pair, budget, now).await? {
            return Ok(Some(wait));
        }
        let Some(wait) = self
            .limiter
            .blocked_for(&keys.account, limits.account_ceiling, now)
            .await?
        else {
            return Ok(None);
        };
        let failed_here = self
            .limiter
            .blocked_for(&keys.pair, 1, now)
            .await?
            .is_some()
            || self
                .limiter
                .blocked_for(&keys.strikes, 1, now)
                .await?
                .is_some();
        Ok(failed_here.then_some(wait))
    }

    /// Counts a failed login on the account and the client (the pair's count, `on_pair`,
    /// was claimed before verifying), locks the pair once it is out of budget (for longer
    /// at each lockout), and returns how long to hold the answer back.
    async fn count_login_failure(
        &self,
        keys: &LoginKeys,
        stuffing: bool,
        on_pair: u32,
        now: DateTime<Utc>,
    ) -> Result<std::time::Duration, IdentityError> {
        let limits = self.config.login;
        let window = limits.window_secs;
        let on_account = self
            .limiter
            .record_failure(&keys.account, window, now)
            .await?;
        let from_client = self
            .limiter
            .record_failure(&keys.client, window, now)
            .await?;
        let budget = if stuffing || from_client >= limits.per_client {
            1
        } else {
            limits.per_pair
        };
        if on_pair >= budget {
            let strike = self
                .limiter
                .record_failure(&keys.strikes, throttle::STRIKE_MEMORY_SECS, now)
                .await?;
            let secs = throttle::lockout_secs(strike, limits.lockout_max_secs);
            // no key in the log: an unknown "username" may be a mistyped password
            tracing::info!(strike, secs, "login locked for one client and account");
            self.limiter.lock(&keys.pair, secs, now).await?;
        }
        let delay =
            throttle::failure_delay(on_account, limits.slow_after, limits.max_delay_ms).max(
                throttle::failure_delay(from_client, limits.per_client, limits.max_delay_ms),
            );
        Ok(delay)
    }

    /// Exchanges a refresh token for a new access token and a new refresh token.
    ///
    /// # Errors
    /// [`IdentityError::TokenReused`] when the token had already been used (its session
    /// is then revoked, with every access token it issued); [`IdentityError::InvalidToken`]
    /// for an unknown, expired or revoked token.
    pub async fn refresh(&self, presented: &str) -> Result<TokenPair, IdentityError> {
        let now = self.clock.now();
        let successor = RefreshToken::generate()?;
        let outcome = self
            .sessions
            .rotate(&RefreshToken::hash_of(presented), &successor.hash, now)
            .await?;
        match outcome {
            RotateOutcome::Rotated(session) => {
                let user = self.users.by_id(session.user_id).await?;
                match user {
                    Some(user) if user.is_active => {
                        self.issue(&user, session.id, successor.secret, now).await
                    }
                    _ => {
                        self.end_sessions(&[session.id], now).await?;
                        Err(IdentityError::InvalidToken)
                    }
                }
            }
            RotateOutcome::Reused(session) => {
                tracing::warn!(session = %session.id, user = %session.user_id,
                    "refresh token reused; session revoked");
                self.revocations
                    .revoke_session(session.id, self.session_token_horizon(now))
                    .await?;
                Err(IdentityError::TokenReused)
            }
            RotateOutcome::Invalid => Err(IdentityError::InvalidToken),
        }
    }

    /// Verifies an access token and checks it has not been revoked.
    ///
    /// # Errors
    /// [`IdentityError::InvalidToken`].
    pub async fn authenticate(&self, access: &str) -> Result<Principal, IdentityError> {
        let now = self.clock.now();
        let claims = self.codec.verify(access, now)?;
        if self
            .revocations
            .is_revoked(claims.jti, claims.sid, now)
            .await?
        {
            return Err(IdentityError::InvalidToken);
        }
        Ok(Principal {
            user_id: claims.sub,
            username: claims.username,
            session_id: claims.sid,
            jti: claims.jti,
            expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or(now),
            roles: claims.roles,
        })
    }

    /// Checks again a caller authenticated earlier — for long-lived connections, which
    /// authenticate once at their handshake and must not outlive a logout or their
    /// token's expiry.
    ///
    /// # Errors
    /// Storage errors of the revocation list.
    pub async fn recheck(&self, who: &Principal) -> Result<Standing, IdentityError> {
        let now = self.clock.now();
        if now >= who.expires_at {
            return Ok(Standing::Expired);
        }
        let revoked = self
            .revocations
            .is_revoked(who.jti, who.session_id, now)
            .await?;
        Ok(if revoked {
            Standing::Revoked
        } else {
            Standing::SignedIn
        })
    }

    /// Ends the caller's session: its refresh tokens and the presented access token stop
    /// working at once.
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn logout(&self, who: &Principal) -> Result<(), IdentityError> {
        let now = self.clock.now();
        self.revocations
            .revoke_token(who.jti, who.expires_at)
            .await?;
        self.end_sessions(&[who.session_id], now).await
    }

    /// The caller's account and current role grants.
    ///
    /// # Errors
    /// [`IdentityError::InvalidToken`] if the account is gone or disabled.
    pub async fn me(&self, who: &Principal) -> Result<(User, Vec<RoleGrant>), IdentityError> {
        let user = self.users.by_id(who.user_id).await?;
        let user = user
            .filter(|u| u.is_active)
            .ok_or(IdentityError::InvalidToken)?;
        let grants = self.grants.grants_of(user.id, self.clock.now()).await?;
        Ok((user, grants))
    }

    /// Changes the caller's password after checking the current one, and ends every
    /// other session of the account.
    ///
    /// # Errors
    /// [`IdentityError::Validation`] on `current_password` (wrong) or `new_password`
    /// (policy); [`IdentityError::RateLimited`] after repeated wrong current passwords.
    pub async fn change_password(
        &self,
        who: &Principal,
        current: &str,
        new: &str,
    ) -> Result<(), IdentityError> {
        let now = self.clock.now();
        let user = self
            .users
            .by_id(who.user_id)
            .await?
            .ok_or(IdentityError::InvalidToken)?;
        let limits = self.config.login;
        let key = format!("password-change:{}", user.id);
        if let Some(retry_after_secs) = self.limiter.blocked_for(&key, limits.per_pair, now).await?
        {
            return Err(IdentityError::RateLimited { retry_after_secs });
        }
        if !self.hasher.verify(current, &user.password_hash).await? {
            self.limiter
                .record_failure(&key, limits.window_secs, now)
                .await?;
            return Err(IdentityError::field("current_password", "is incorrect"));
        }
        if current == new {
            return Err(IdentityError::field(
                "new_password",
                "must differ from the current password",
            ));
        }
        self.config
            .policy
            .check(
                "new_password",
                new,
                user.username.as_str(),
                user.email.as_str(),
            )
            .map_err(|e| IdentityError::Validation(vec![e]))?;
        let phc = self.hasher.hash(new).await?;
        self.users.set_password_hash(user.id, &phc, now).await?;
        self.limiter.reset(&key).await?;
        let ended = self
            .sessions
            .revoke_all_for_user(user.id, Some(who.session_id), now)
            .await?;
        self.deny_sessions(&ended, now).await?;
        self.emit(IdentityEvent::PasswordChanged {
            user_id: user.id.as_uuid(),
            sessions_ended: ended.len(),
        })
        .await;
        Ok(())
    }

    /// An account by id (for showing authors' names), or `None`.
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn find_user(&self, id: UserId) -> Result<Option<User>, IdentityError> {
        Ok(self.users.by_id(id).await?)
    }

    /// The caller's active sessions, newest first.
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn sessions(&self, who: &Principal) -> Result<Vec<LoginSession>, IdentityError> {
        Ok(self
            .sessions
            .list_active(who.user_id, self.clock.now())
            .await?)
    }

    /// Ends one of the caller's sessions.
    ///
    /// # Errors
    /// [`IdentityError::NotFound`] if it is not an active session of the caller.
    pub async fn end_session(&self, who: &Principal, id: SessionId) -> Result<(), IdentityError> {
        let now = self.clock.now();
        match self.sessions.get(id).await? {
            Some(s) if s.user_id == who.user_id && s.is_active(now) => {
                self.end_sessions(&[id], now).await
            }
            _ => Err(IdentityError::NotFound),
        }
    }

    /// Disables or re-enables an account; disabling ends all of its sessions.
    ///
    /// # Errors
    /// [`IdentityError::NotFound`] for an unknown user.
    pub async fn set_active(&self, user: UserId, active: bool) -> Result<(), IdentityError> {
        let now = self.clock.now();
        self.users
            .set_active(user, active, now)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => IdentityError::NotFound,
                other => other.into(),
            })?;
        if !active {
            let ended = self.sessions.revoke_all_for_user(user, None, now).await?;
            self.deny_sessions(&ended, now).await?;
            self.emit(IdentityEvent::UserDisabled {
                user_id: user.as_uuid(),
                sessions_ended: ended.len(),
            })
            .await;
        }
        Ok(())
    }

    async fn find_by_identifier(&self, identifier: &str) -> Result<Option<User>, IdentityError> {
        let identifier = identifier.trim();
        if identifier.contains('@') {
            match Email::parse(identifier) {
                Ok(email) => Ok(self.users.by_email(&email).await?),
                Err(_) => Ok(None),
            }
        } else {
            Ok(self.users.by_username(identifier).await?)
        }
    }

    async fn issue(
        &self,
        user: &User,
        session: SessionId,
        refresh: String,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, IdentityError> {
        let roles = self.grants.grants_of(user.id, now).await?;
        let (access, _) = self
            .codec
            .issue(user.id, user.username.as_str(), session, roles, now)?;
        Ok(TokenPair {
            access,
            refresh,
            expires_in: self.codec.access_ttl_secs(),
            session_id: session,
        })
    }

    /// Revokes sessions in storage and refuses their outstanding access tokens.
    async fn end_sessions(
        &self,
        ids: &[SessionId],
        now: DateTime<Utc>,
    ) -> Result<(), IdentityError> {
        for id in ids {
            self.sessions.revoke(*id, now).await?;
        }
        self.deny_sessions(ids, now).await
    }

    async fn deny_sessions(
        &self,
        ids: &[SessionId],
        now: DateTime<Utc>,
    ) -> Result<(), IdentityError> {
        let until = self.session_token_horizon(now);
        for id in ids {
            self.revocations.revoke_session(*id, until).await?;
        }
        Ok(())
    }

    /// The latest moment an access token issued up to `now` can still be valid.
    fn session_token_horizon(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::seconds(self.codec.access_ttl_secs() + 5)
    }

    /// Computes the decoy hash now, so the first failed login is not slower than others.
    ///
    /// # Errors
    /// [`IdentityError::Internal`] if hashing fails.
    pub async fn warm_up(&self) -> Result<(), IdentityError> {
        self.decoy_hash().await.map(|_| ())
    }

    async fn decoy_hash(&self) -> Result<&str, IdentityError> {
        self.decoy_hash
            .get_or_try_init(|| self.hasher.hash("decoy password for timing equality"))
            .await
            .map(String::as_str)
    }

    /// Publishes an event after a committed change. A failure to publish is logged, not
    /// returned: the change itself has happened.
    async fn emit(&self, event: IdentityEvent) {
        let name = event.name();
        let event = DomainEvent::of(&event, self.clock.now());
        if let Err(e) = self.events.publish(event).await {
            tracing::warn!(error = %e, event = name, "could not publish domain event");
        }
    }
}

#[cfg(test)]
mod tests;
