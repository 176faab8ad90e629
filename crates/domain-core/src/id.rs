//! Typed identifiers: a `UserId` cannot be passed where a `SessionId` is expected.

/// Declares a `Copy` newtype over [`uuid::Uuid`] with serde, `Display` and `FromStr`.
#[macro_export]
macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub ::uuid::Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new_random() -> Self {
                Self(::uuid::Uuid::new_v4())
            }
            /// The underlying UUID.
            pub fn as_uuid(&self) -> ::uuid::Uuid {
                self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                ::uuid::Uuid::parse_str(s).map(Self)
            }
        }

        impl From<::uuid::Uuid> for $name {
            fn from(u: ::uuid::Uuid) -> Self {
                Self(u)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    define_id!(
        /// test id
        ThingId
    );

    #[test]
    fn round_trips_through_text() {
        let id = ThingId::new_random();
        let parsed: ThingId = id.to_string().parse().unwrap();
        assert_eq!(id, parsed);
        assert_eq!(ThingId::from(id.as_uuid()), id);
        assert!("not-a-uuid".parse::<ThingId>().is_err());
    }
}
