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

/// The unique constraints and unique indexes the adapters recognise, with the field a
/// clash on each names. One table for every module so that `tests/postgres.rs` can prove
/// each name exists in the migrated schema: a renamed constraint would otherwise surface
/// only as a duplicate naming the raw constraint instead of the field.
pub const UNIQUE_FIELDS: &[(&str, &str)] = &[
    ("users_username_lower_key", "username"),
    ("users_email_key", "email"),
    ("users_pkey", "id"),
    ("login_sessions_pkey", "id"),
    ("user_roles_pkey", "id"),
    ("role_overrides_pkey", "id"),
    ("permission_grants_pkey", "id"),
    ("refresh_tokens_pkey", "token"),
    ("roles_pkey", "role"),
    ("role_overrides_role_scope_permission_key", "override"),
    // The user already holds the role in that scope.
    ("user_roles_user_id_role_scope_key", "grant"),
    ("rbac_audit_pkey", "audit"),
    ("institutions_name_lower_key", "name"),
    ("campuses_institution_id_name_lower_key", "name"),
    ("departments_campus_id_name_lower_key", "name"),
    ("institutions_pkey", "id"),
    ("campuses_pkey", "id"),
    ("departments_pkey", "id"),
    ("org_members_pkey", "member"),
    ("debate_topics_pkey", "id"),
    ("debate_sessions_pkey", "id"),
    ("debate_participants_active_key", "seat"),
    ("debate_messages_pkey", "seq"),
    ("notifications_pkey", "id"),
];

/// The CHECK constraint of `debate_messages` refusing a reply to no earlier message: the
/// backstop of the one-statement append, so a violation means "not found", not a bug.
pub const REPLY_TO_EARLIER_CHECK: &str = "debate_messages_check";

/// Every constraint or index name the adapters match on, for the check against the
/// migrations.
pub fn recognised_constraints() -> impl Iterator<Item = &'static str> {
    UNIQUE_FIELDS
        .iter()
        .map(|(name, _)| *name)
        .chain([REPLY_TO_EARLIER_CHECK])
}

/// The field a unique constraint protects; an unknown one names itself.
fn field_of(constraint: Option<&str>) -> &str {
    match constraint {
        Some(name) => UNIQUE_FIELDS
            .iter()
            .find(|(known, _)| *known == name)
            .map_or(name, |(_, field)| field),
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
