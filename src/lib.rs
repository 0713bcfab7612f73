//! pushgate: a drop-in replacement for the Prometheus Pushgateway.
//!
//! The layers, from the socket inward: `server` (mio reactor) -> `http` (framing) ->
//! `app` (routing and handlers) -> `key`, `text`, `check`, `store`, `scrape`, `expose`, and
//! `persist` (the append-only log that makes the store durable). Operators get `api` (the JSON
//! API) and `ui` (the embedded web UI).
#![deny(unsafe_code)]

pub mod api;
pub mod app;
#[cfg(feature = "basic-auth")]
pub mod auth;
pub mod check;
mod civil;
pub mod compress;
pub mod config;
mod crc;
pub mod expose;
pub mod http;
pub mod key;
pub mod limits;
mod lines;
pub mod log;
pub mod model;
pub mod names;
pub mod negotiate;
pub mod openmetrics;
mod order;
pub mod persist;
pub mod proto;
pub mod ratelimit;
pub mod scrape;
pub mod server;
pub mod service;
pub mod shapes;
pub mod shard;
mod signal;
pub mod store;
pub mod systemd;
pub mod telemetry;
pub mod text;
#[cfg(feature = "tls")]
pub mod tls;
pub mod ui;
pub mod version;
pub mod webconfig;

/// `tests/testdata/NAME`: a body written by a real encoder (the folder's README says which).
#[cfg(test)]
pub(crate) fn testdata(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/testdata/");
    std::fs::read(format!("{path}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}
