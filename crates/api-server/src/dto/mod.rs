//! What clients see: the representations shared by the REST handlers (`http`) and the
//! socket frames (`realtime`), so neither imports the other.

pub mod debates;
pub mod notifications;
