//! The application on top of HTTP: routing and handlers, why requests are refused, the JSON
//! API, the web UI, the web configuration file (authentication, TLS, headers, rate limit), the
//! gateway's own metrics and the scrape cursor.

pub mod api;
pub mod app;
#[cfg(feature = "basic-auth")]
pub mod auth;
pub mod error;
pub mod ratelimit;
pub mod scrape;
pub mod shard;
pub mod telemetry;
pub mod ui;
pub mod webconfig;
