//! The HTTP interface: thin handlers that parse, call a domain service and map the result.

pub mod analytics;
pub mod asyncapi;
pub mod context;
pub mod debates;
pub mod docs_ui;
pub mod error_table;
pub mod extract;
pub mod fallback;
pub mod guard;
pub mod health;
pub mod input;
pub mod jobs;
pub mod metrics;
pub mod notifications;
pub mod openapi;
pub mod org;
pub mod paging;
pub mod problem;
pub mod rbac;
pub mod routes;
pub mod schema;
pub(crate) mod socket;
pub mod state;
pub mod users;
pub mod visible;
pub mod ws;
