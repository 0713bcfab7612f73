//! pushgate: a drop-in replacement for the Prometheus Pushgateway.
//!
//! Folders by layer. From the socket inward: `net` (the mio reactor, its connections and
//! transports) hands bytes to `http` (framing, the service seam, negotiation), whose requests
//! `web` serves (routes and handlers, the JSON API, the web UI, own metrics, the scrape
//! cursor). `web` changes the `store` (groups and the family index, grouping keys, the
//! consistency check) through its mutations, which `persist` logs and replays; `formats`
//! reads pushes into the metric model and writes what is stored and scraped. `config`,
//! `webconfig`, `log` and `version` are shared by all of them.
#![deny(unsafe_code)]

mod civil;
pub mod config;
mod crc;
pub mod formats;
pub mod http;
pub mod log;
pub mod net;
mod order;
pub mod persist;
pub mod store;
pub mod version;
pub mod web;
pub mod webconfig;

/// `tests/testdata/NAME`: a body written by a real encoder (the folder's README says which).
#[cfg(test)]
pub(crate) fn testdata(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/testdata/");
    std::fs::read(format!("{path}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}
