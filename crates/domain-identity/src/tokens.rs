//! JWT access tokens: HS256 with the algorithm pinned, and issuer, audience, expiry,
//! not-before and `jti` all required and checked.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{IdentityError, RoleGrant, SessionId, UserId};

/// Key and claims settings shared by every instance of a deployment.
#[derive(Clone)]
pub struct TokenSettings {
    /// HMAC secret (at least 32 bytes in production).
    pub secret: Vec<u8>,
    /// `iss` claim.
    pub issuer: String,
    /// `aud` claim.
    pub audience: String,
    /// Lifetime of an access token, in seconds.
    pub access_ttl_secs: i64,
}

impl std::fmt::Debug for TokenSettings {
    // never print the secret
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSettings")
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_ttl_secs", &self.access_ttl_secs)
            .finish()
    }
}

/// Claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Subject: the user id.
    pub sub: UserId,
    /// Session the token belongs to; revoking the session kills the token.
    pub sid: SessionId,
    /// Token id, for the revocation list.
    pub jti: Uuid,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expiry.
    pub exp: i64,
    /// Username at issue time, for display.
    pub username: String,
    /// Role grants at issue time (informational: authorisation re-reads them).
    pub roles: Vec<RoleGrant>,
    /// Version of the user's permissions at issue time.
    pub pv: u64,
}

/// Encodes and verifies access tokens.
#[derive(Clone)]
pub struct TokenCodec {
    settings: TokenSettings,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCodec")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl TokenCodec {
    /// A codec for these settings.
    pub fn new(settings: TokenSettings) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "nbf", "sub", "iss", "aud"]);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        // exp and nbf stay required (above) but are checked in `verify` against the
        // injected clock only: jsonwebtoken would check them against the wall clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(&settings.secret),
            decoding: DecodingKey::from_secret(&settings.secret),
            validation,
            settings,
        }
    }

    /// Lifetime of the tokens this codec issues, in seconds.
    pub fn access_ttl_secs(&self) -> i64 {
        self.settings.access_ttl_secs
    }

    /// Issues a token for `user` in `session` at `now`.
    ///
    /// # Errors
    /// [`IdentityError::Internal`] if signing fails.
    pub fn issue(
        &self,
        user: UserId,
        username: &str,
        session: SessionId,
        roles: Vec<RoleGrant>,
        now: DateTime<Utc>,
    ) -> Result<(String, AccessClaims), IdentityError> {
        let iat = now.timestamp();
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub: user,
            sid: session,
            jti: Uuid::new_v4(),
            iat,
            nbf: iat,
            exp: iat + self.settings.access_ttl_secs,
            username: username.to_owned(),
            roles,
            pv: 0,
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| IdentityError::Internal(format!("jwt encode: {e}")))?;
        Ok((token, claims))
    }

    /// Verifies signature, algorithm, issuer, audience and time claims, checking time
    /// against `now` rather than the wall clock.
    ///
    /// # Errors
    /// [`IdentityError::InvalidToken`] for any defect.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, IdentityError> {
        // Time claims are checked here, against the injected clock, so that tests (and
        // rules) have one notion of "now"; jsonwebtoken's own (wall-clock) checks are off.
        let claims = decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| IdentityError::InvalidToken)?
            .claims;
        let t = now.timestamp();
        let leeway = i64::try_from(self.validation.leeway).unwrap_or(0);
        if claims.exp + leeway <= t || claims.nbf - leeway > t {
            return Err(IdentityError::InvalidToken);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain_core::{Clock, SystemClock};

    fn codec(secret: &str) -> TokenCodec {
        TokenCodec::new(TokenSettings {
            secret: secret.as_bytes().to_vec(),
            issuer: "agora".into(),
            audience: "agora-api".into(),
            access_ttl_secs: 300,
        })
    }

    #[test]
    fn round_trip_and_rejections() {
        let now = SystemClock.now();
        let c = codec("0123456789abcdef0123456789abcdef");
        let (tok, claims) = c
            .issue(
                UserId::new_random(),
                "alice",
                SessionId::new_random(),
                vec![],
                now,
            )
            .unwrap();
        assert_eq!(c.verify(&tok, now).unwrap(), claims);

        // wrong key
        assert!(
            codec("another-secret-another-secret-xx")
                .verify(&tok, now)
                .is_err()
        );
        // expired by the injected clock
        assert!(
            c.verify(&tok, now + chrono::Duration::seconds(400))
                .is_err()
        );
        // tampered payload
        let mut parts: Vec<&str> = tok.split('.').collect();
        let other = c
            .issue(
                UserId::new_random(),
                "mallory",
                SessionId::new_random(),
                vec![],
                now,
            )
            .unwrap()
            .0;
        let other_payload = other.split('.').nth(1).unwrap().to_owned();
        parts[1] = &other_payload;
        assert!(c.verify(&parts.join("."), now).is_err());
        // alg=none
        let header = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"alg":"none","typ":"JWT"}"#,
        );
        assert!(
            c.verify(
                &format!("{header}.{}.", tok.split('.').nth(1).unwrap()),
                now
            )
            .is_err()
        );
    }

    #[test]
    fn other_audience_is_rejected() {
        let now = SystemClock.now();
        let mut s = TokenSettings {
            secret: b"0123456789abcdef0123456789abcdef".to_vec(),
            issuer: "agora".into(),
            audience: "other".into(),
            access_ttl_secs: 300,
        };
        let foreign = TokenCodec::new(s.clone())
            .issue(
                UserId::new_random(),
                "a",
                SessionId::new_random(),
                vec![],
                now,
            )
            .unwrap()
            .0;
        s.audience = "agora-api".into();
        assert!(TokenCodec::new(s).verify(&foreign, now).is_err());
    }
}
