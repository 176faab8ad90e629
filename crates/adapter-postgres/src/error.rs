//! Translation of driver and pool errors into the ports' [`StoreError`] contract.

use diesel::result::{DatabaseErrorKind, Error};
use diesel_async::pooled_connection::bb8::RunError;
use domain_core::StoreError;

/// Maps a query error. Unique violations are recognised by constraint name, so the
/// caller learns which field clashed; the names are those given in the migrations.
pub(crate) fn db_error(e: Error) -> StoreError {
    match &e {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            StoreError::Duplicate(field_of(info.constraint_name()).into())
        }
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            info,
        ) => StoreError::Unavailable(format!("postgres: {}", info.message())),
        _ => StoreError::unexpected(e),
    }
}

/// Maps a failure to get a pooled connection: the server is down, unreachable or every
/// connection is busy past the checkout timeout — all worth retrying later.
pub(crate) fn pool_error(e: RunError) -> StoreError {
    StoreError::Unavailable(format!("postgres pool: {e}"))
}

/// The field a unique constraint protects.
fn field_of(constraint: Option<&str>) -> &str {
    match constraint {
        Some("users_username_lower_key") => "username",
        Some("users_email_key") => "email",
        Some(
            "users_pkey"
            | "login_sessions_pkey"
            | "user_roles_pkey"
            | "role_overrides_pkey"
            | "permission_grants_pkey",
        ) => "id",
        Some("refresh_tokens_pkey") => "token",
        Some("roles_pkey") => "role",
        Some("role_overrides_role_scope_permission_key") => "override",
        // The user already holds the role in that scope.
        Some("user_roles_user_id_role_scope_key") => "grant",
        Some("rbac_audit_pkey") => "audit",
        Some(other) => other,
        None => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_name_their_field() {
        assert_eq!(field_of(Some("users_username_lower_key")), "username");
        assert_eq!(field_of(Some("users_email_key")), "email");
        assert_eq!(field_of(Some("refresh_tokens_pkey")), "token");
        assert_eq!(field_of(Some("roles_pkey")), "role");
        assert_eq!(
            field_of(Some("role_overrides_role_scope_permission_key")),
            "override"
        );
        assert_eq!(field_of(Some("user_roles_user_id_role_scope_key")), "grant");
        assert_eq!(field_of(Some("something_else")), "something_else");
    }

    #[test]
    fn closed_connection_is_unavailable() {
        let e = Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection,
            Box::new("gone".to_string()),
        );
        assert!(matches!(db_error(e), StoreError::Unavailable(_)));
        assert!(matches!(
            db_error(Error::NotFound),
            StoreError::Unexpected(_)
        ));
    }
}
