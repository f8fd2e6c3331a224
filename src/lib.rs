//! carbonq: a carbon-aware, event-sourced job orchestrator for AI batch work.
//!
//! The map of the crate:
//! - [`events`]: the stored schema (job events, envelope, codec, lifecycle state machine).
//! - [`store`]: the only code that knows Redis key names, Lua scripts and stream entries; an
//!   in-memory store with the same interface.
//! - [`projections`]: pure folds from events to read models, and the runner writing them to Redis.
//! - [`audit`]: `carbonq replay` and `carbonq inspect`.
//! - [`clock`]: injected time.

pub mod actors;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod events;
pub mod grid;
pub mod http;
pub mod ids;
pub mod planner;
pub mod policy;
pub mod projections;
pub mod service;
pub mod sim;
pub mod store;
pub mod telemetry;
