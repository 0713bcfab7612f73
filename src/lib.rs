//! pushgate: a drop-in replacement for the Prometheus Pushgateway.
//!
//! The layers, from the socket inward: `server` (mio reactor) -> `http` (framing) ->
//! `app` (routing and handlers) -> `key`, `text`, `check`, `store`, `scrape`, `expose`, and
//! `persist` (the append-only log that makes the store durable). Operators get `api` (the JSON
//! API) and `ui` (the embedded web UI). `gateway` opens and starts them in the order start-up
//! needs; `config` reads the command line.
#![deny(unsafe_code)]

mod civil;
pub mod config;
mod crc;
pub mod formats;
pub mod gateway;
pub mod http;
pub mod log;
pub mod net;
mod order;
pub mod persist;
pub mod store;
pub mod version;
pub mod web;

/// `tests/testdata/NAME`: a body written by a real encoder (the folder's README says which).
#[cfg(test)]
pub(crate) fn testdata(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/testdata/");
    std::fs::read(format!("{path}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}
