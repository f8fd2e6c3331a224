//! The one integration-test binary. Every test that touches Redis starts its own server.

mod support;

mod events_golden;
mod fuzz;
mod guardrail;
mod http;
mod http_edge;
mod journal;
mod projections;
mod replay_cli;
mod restart;
mod simulate;
mod store_contract;
mod virtual_day;
mod writer_lease;
