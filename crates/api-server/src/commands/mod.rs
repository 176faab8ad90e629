//! The application's commands: one path per action, used by every entry point that can
//! start it (a REST handler, a socket frame). Each command checks the same permissions,
//! applies the same limits and calls the same domain service, so no entry point can
//! bypass a rule another one enforces.

pub mod post_argument;

pub use post_argument::{PostArgument, Refused};
