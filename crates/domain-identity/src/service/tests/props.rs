//! Property tests of the validated account fields and the password policy: they face
//! arbitrary client input, so they must never panic, and what they accept must be stable.

use proptest::prelude::*;

use crate::{Email, PasswordPolicy, Username};

fn check_username(raw: &str) -> Result<(), TestCaseError> {
    match Username::parse(raw) {
        Ok(name) => {
            let s = name.as_str();
            prop_assert_eq!(Username::parse(s), Ok(name.clone()), "re-parse of {:?}", s);
            prop_assert!((3..=32).contains(&s.len()), "length of {:?}", s);
            prop_assert!(
                s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')),
                "charset of {:?}",
                s
            );
            prop_assert!(s.starts_with(|c: char| c.is_ascii_alphanumeric()));
            prop_assert_eq!(s, raw.trim());
        }
        Err(e) => prop_assert_eq!(e.field, "username"),
    }
    Ok(())
}

fn check_email(raw: &str) -> Result<(), TestCaseError> {
    match Email::parse(raw) {
        Ok(email) => {
            let s = email.as_str();
            prop_assert_eq!(Email::parse(s), Ok(email.clone()), "re-parse of {:?}", s);
            prop_assert_eq!(s, s.to_lowercase());
            prop_assert!(s.len() <= 254);
            prop_assert!(!s.chars().any(char::is_whitespace));
            prop_assert_eq!(s.matches('@').count(), 1, "{:?}", s);
            let (local, domain) = s.split_once('@').unwrap_or_default();
            prop_assert!(!local.is_empty() && local.len() <= 64);
            prop_assert!(domain.contains('.'));
        }
        Err(e) => prop_assert_eq!(e.field, "email"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn username_parse_never_panics_and_accepted_values_are_stable(raw in any::<String>()) {
        check_username(&raw)?;
    }

    #[test]
    fn username_parse_of_near_valid_input(
        raw in "[ \t]{0,2}[A-Za-z0-9_.-][A-Za-z0-9_.@ -]{0,34}[ \t\n]{0,2}",
    ) {
        check_username(&raw)?;
    }

    #[test]
    fn valid_usernames_are_accepted(raw in "[A-Za-z0-9][A-Za-z0-9_.-]{2,31}") {
        prop_assert_eq!(Username::parse(&raw).map(|u| u.as_str().to_owned()), Ok(raw));
    }

    #[test]
    fn email_parse_never_panics_and_accepted_values_are_stable(raw in any::<String>()) {
        check_email(&raw)?;
    }

    #[test]
    fn email_parse_of_near_valid_input(
        raw in " ?[A-Za-z0-9._%+@-]{0,70}@[A-Za-z0-9-]{0,12}(\\.[A-Za-z0-9-]{0,8}){0,3} ?",
    ) {
        check_email(&raw)?;
    }

    #[test]
    fn email_parse_of_unicode_addresses(raw in "\\PC{1,12}@\\PC{1,12}\\.\\PC{1,6}") {
        check_email(&raw)?;
    }

    #[test]
    fn password_policy_never_panics(
        password in any::<String>(),
        username in any::<String>(),
        email in any::<String>(),
    ) {
        let policy = PasswordPolicy::default();
        match policy.check("password", &password, &username, &email) {
            Ok(()) => {
                let n = password.chars().count();
                prop_assert!((policy.min_chars..=policy.max_chars).contains(&n));
                let user = username.trim().to_lowercase();
                prop_assert!(user.is_empty() || !password.to_lowercase().contains(&user));
            }
            Err(e) => prop_assert_eq!(e.field, "password"),
        }
    }

    #[test]
    fn password_policy_refuses_short_and_long_passwords(
        short in "\\PC{0,9}",
        long in "\\PC{257,300}",
    ) {
        let policy = PasswordPolicy::default();
        prop_assert!(policy.check("pw", &short, "alice", "alice@example.org").is_err());
        prop_assert!(policy.check("pw", &long, "alice", "alice@example.org").is_err());
    }
}
