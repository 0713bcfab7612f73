//! The application on top of HTTP: routing and handlers, why requests are refused, the JSON
//! API, the web UI, authentication and the rate limit, the gateway's own metrics and the
//! scrape cursor.

pub(crate) mod api;
pub mod app;
#[cfg(feature = "basic-auth")]
mod auth;
mod error;
mod ratelimit;
pub mod scrape;
mod shard;
pub mod telemetry;
mod ui;
