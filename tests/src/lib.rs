//! API tests helpers
