//! The application on top of HTTP: routing and handlers, the JSON API, the web UI,
//! authentication and the rate limit, the gateway's own metrics and the scrape cursor.

pub mod api;
pub mod app;
#[cfg(feature = "basic-auth")]
pub mod auth;
pub mod ratelimit;
pub mod scrape;
pub mod shard;
pub mod telemetry;
pub mod ui;
