//! Agora's server: HTTP handlers, wiring of adapters into domain services, configuration
//! and the command line. Handlers stay thin; rules live in the domain crates.

pub mod cli;
pub mod commands;
pub mod config;
pub mod dto;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod reactions;
pub mod realtime;
pub mod send_rate;
pub mod server;
pub mod startup;
pub mod telemetry;
pub mod wiring;
pub mod worker;

pub use config::Config;
pub use server::{BackgroundServer, RunningServer, start, start_with_clock};
