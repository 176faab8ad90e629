//! Request and response bodies of the account endpoints. They are HTTP types, separate
//! from the domain's: the domain never serialises itself for the wire.

use chrono::{DateTime, Utc};
use domain_identity::{LoginSession, RoleGrant, TokenPair, User};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Registration form. Missing fields count as empty, so every problem is reported at once.
#[derive(Deserialize, JsonSchema)]
pub struct RegisterRequest {
    /// 3–32 letters, digits, `_`, `.`, `-`, starting with a letter or digit; unique,
    /// case-insensitively.
    #[serde(default)]
    #[schemars(
        length(min = 3, max = 32),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    )]
    pub username: String,
    /// Unique, case-insensitively.
    #[serde(default)]
    #[schemars(
        length(max = 254),
        regex(
            pattern = r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_][A-Za-z0-9_-]*)+$"
        )
    )]
    pub email: String,
    /// 10–256 characters, not all the same character, not a common password, and
    /// containing neither the username nor the e-mail address's local part (these last
    /// rules depend on other fields or a list, so the schema cannot state them).
    #[serde(default)]
    #[schemars(
        length(min = 10, max = 256),
        regex(pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    pub password: String,
}

/// Login form: `username` or `email` (or `login`, either one), and the password.
#[derive(Deserialize)]
pub struct LoginRequest {
    /// The username.
    #[serde(default)]
    pub username: Option<String>,
    /// The e-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// A username or an e-mail address.
    #[serde(default)]
    pub login: Option<String>,
    /// The password.
    #[serde(default)]
    pub password: String,
}

impl JsonSchema for LoginRequest {
    fn schema_name() -> String {
        "LoginRequest".into()
    }

    /// Exactly one identifier and the password: `oneOf` three shapes, since a derived
    /// schema could only say "all optional" and a client could not tell what to send.
    fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        // something besides white space (it is trimmed), and no control character
        const IDENTIFIER: &str =
            r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";
        let schema = serde_json::json!({
            "description": "Login form: one of `username`, `email` or `login` (a username or \
                an e-mail address), and the password. When several are sent, `login` wins, \
                then `username`.",
            "type": "object",
            "properties": {
                "username": {"description": "The username.", "type": "string", "pattern": IDENTIFIER},
                "email": {"description": "The e-mail address.", "type": "string", "pattern": IDENTIFIER},
                "login": {"description": "A username or an e-mail address.", "type": "string", "pattern": IDENTIFIER},
                "password": {"description": "The password (no control character).", "type": "string", "minLength": 1, "pattern": r"^[^\x00-\x1f\x7f-\x9f]*$"}
            },
            "oneOf": [
                {"type": "object", "required": ["username", "password"]},
                {"type": "object", "required": ["email", "password"]},
                {"type": "object", "required": ["login", "password"]}
            ]
        });
        serde_json::from_value(schema).unwrap_or(schemars::schema::Schema::Bool(true))
    }
}

/// Tokens after login or refresh.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct TokenResponse {
    /// JWT access token for `Authorization: Bearer`.
    pub access: String,
    /// Single-use refresh token.
    pub refresh: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

impl From<TokenPair> for TokenResponse {
    fn from(p: TokenPair) -> Self {
        Self {
            access: p.access,
            refresh: p.refresh,
            token_type: "Bearer".into(),
            expires_in: p.expires_in,
        }
    }
}

/// Refresh form.
#[derive(Deserialize, JsonSchema)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"))]
    pub refresh: String,
}

/// Password change form.
#[derive(Deserialize, JsonSchema)]
pub struct ChangePasswordRequest {
    /// The password in use now.
    #[serde(default)]
    #[schemars(length(min = 1), regex(pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"))]
    pub current_password: String,
    /// The new password; same rules as at registration, and not the current one.
    #[serde(default)]
    #[schemars(
        length(min = 10, max = 256),
        regex(pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    pub new_password: String,
}

/// A user account as shown to its owner.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct UserDto {
    /// Id.
    pub id: Uuid,
    /// Username.
    pub username: String,
    /// E-mail, lower-cased.
    pub email: String,
    /// False when disabled.
    pub is_active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserDto {
    fn from(u: User) -> Self {
        Self {
            id: u.id.as_uuid(),
            username: u.username.as_str().to_owned(),
            email: u.email.as_str().to_owned(),
            is_active: u.is_active,
            created_at: u.created_at,
        }
    }
}

/// A role held in a scope.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct RoleGrantDto {
    /// Role name.
    pub role: String,
    /// Scope: `global`, `institution:{id}`, `campus:{id}` or `department:{id}`.
    pub scope: String,
}

impl From<RoleGrant> for RoleGrantDto {
    fn from(g: RoleGrant) -> Self {
        Self {
            role: g.role,
            scope: g.scope,
        }
    }
}

/// The caller's account and role grants.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct MeResponse {
    /// The account.
    pub user: UserDto,
    /// Roles held, with their scopes.
    pub roles: Vec<RoleGrantDto>,
}

/// One login session of the caller.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct SessionDto {
    /// Session id.
    pub id: Uuid,
    /// The client's `User-Agent` at login.
    pub user_agent: Option<String>,
    /// The client's address at login.
    pub ip: Option<String>,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Last token refresh.
    pub last_used_at: DateTime<Utc>,
    /// When the session ends at the latest.
    pub expires_at: DateTime<Utc>,
    /// Whether this is the session of the token used for this request.
    pub current: bool,
}

impl SessionDto {
    pub(crate) fn new(s: LoginSession, current: bool) -> Self {
        Self {
            id: s.id.as_uuid(),
            user_agent: s.client.user_agent,
            ip: s.client.ip,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            current,
        }
    }
}

/// The caller's active sessions.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct SessionList {
    /// Newest first.
    pub items: Vec<SessionDto>,
}
