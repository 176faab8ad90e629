//! Agora's server: HTTP handlers, wiring of adapters into domain services, configuration
//! and the command line. Handlers stay thin; rules live in the domain crates.

pub mod cli;
pub mod commands;
pub mod config;
pub mod dto;
pub mod http;
pub mod jobs;
pub mod reactions;
pub mod realtime;
pub mod send_rate;
pub mod server;
pub mod telemetry;
pub mod wiring;

pub use config::Config;
pub use server::{BackgroundServer, RunningServer, start, start_with_clock};
