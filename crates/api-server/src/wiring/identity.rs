//! Accounts and authentication: the JWT key, the password hasher, login limits, and the
//! first administrator.

use std::sync::Arc;

use domain_core::{Clock, NullEventPublisher};
use domain_identity::{
    Argon2Hasher, AuthConfig, AuthPorts, AuthService, LoginLimits, Pacer, PasswordPolicy,
    RegistrationLimits, TokenCodec, TokenSettings,
};

use super::shared::Shared;
use super::storage::Storage;
use crate::config::Config;
use crate::startup::StartupError;

/// Holds failed logins back on the runtime's timer: the task waits, no thread does.
struct TokioPacer;

#[async_trait::async_trait]
impl Pacer for TokioPacer {
    async fn pause(&self, delay: std::time::Duration) {
        tokio::time::sleep(delay).await;
    }
}

/// The JWT signing key: configured, or (development only) a random per-process one, the
/// only key used without the strength checks since the process made it itself.
fn signing_key(config: &Config) -> Result<Vec<u8>, StartupError> {
    // a configured key passed `weak_secret_reason` in `Config` (in every environment)
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.as_bytes().to_vec());
    }
    let mut key = vec![0u8; 48];
    getrandom::fill(&mut key).map_err(|e| StartupError::Other(format!("random source: {e}")))?;
    tracing::warn!(
        "AGORA_JWT_SECRET is not set: using a random key for this process. Tokens will not \
         survive a restart and other instances will not accept them; set AGORA_JWT_SECRET."
    );
    Ok(key)
}

/// The authentication service over `storage` and `shared`.
pub(super) fn auth_service(
    config: &Config,
    storage: &Storage,
    shared: &Shared,
    clock: Arc<dyn Clock>,
) -> Result<AuthService, StartupError> {
    let hasher = Argon2Hasher::owasp().map_err(|e| StartupError::Other(e.to_string()))?;
    let codec = TokenCodec::new(TokenSettings {
        secret: signing_key(config)?,
        issuer: config.jwt_issuer.clone(),
        audience: config.jwt_audience.clone(),
        access_ttl_secs: config.access_ttl_secs,
    });
    let auth_config = AuthConfig {
        refresh_ttl_secs: config.refresh_ttl_secs,
        login: LoginLimits {
            per_pair: config.login_max_failures,
            per_client: config.login_max_failures_per_client,
            window_secs: config.login_window_secs,
            lockout_max_secs: config.login_lockout_max_secs,
            slow_after: config.login_slow_after,
            account_ceiling: config.login_account_ceiling,
            max_delay_ms: config.login_max_delay_ms,
        },
        registration: RegistrationLimits {
            per_client: config.register_max_per_client,
            window_secs: config.register_window_secs,
        },
        policy: PasswordPolicy::default(),
    };
    let auth = AuthService::new(
        AuthPorts {
            users: storage.users.clone(),
            sessions: storage.login_sessions.clone(),
            revocations: shared.revocations.clone(),
            limiter: shared.limiter.clone(),
            pacer: Arc::new(TokioPacer),
            grants: storage.grants.clone(),
            hasher: Arc::new(hasher),
            events: Arc::new(NullEventPublisher),
            clock,
        },
        codec,
        auth_config,
    );
    Ok(auth)
}

/// Creates the configured first administrator unless the username exists already.
pub(super) async fn bootstrap_admin(
    auth: &AuthService,
    admin: &crate::config::BootstrapAdmin,
) -> Result<(), StartupError> {
    match auth
        .create_admin(&admin.username, &admin.email, &admin.password)
        .await
    {
        Ok(user) => {
            tracing::info!(username = %admin.username, user_id = %user.id, "bootstrap administrator created");
            Ok(())
        }
        Err(domain_identity::IdentityError::Taken(_)) => Ok(()),
        // configuration checks the same rules first; this names the field should they differ
        Err(domain_identity::IdentityError::Validation(fields)) => {
            let rules: Vec<String> = fields
                .iter()
                .map(|f| format!("{} {}", f.field, f.message))
                .collect();
            Err(StartupError::Other(format!(
                "AGORA_BOOTSTRAP_ADMIN: expected username:email with AGORA_BOOTSTRAP_ADMIN_PASSWORD \
                 following the account rules: {}",
                rules.join("; ")
            )))
        }
        Err(e) => Err(StartupError::Other(format!("AGORA_BOOTSTRAP_ADMIN: {e}"))),
    }
}
