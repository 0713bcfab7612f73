//! The black-box tests, one module per area (README, "Tests"), built as one binary that shares
//! the harness in `util`. Each test starts its own servers on ports of its own, so they run
//! side by side on the default test threads.

mod util;

mod api;
mod clients;
mod differential;
mod floods;
mod formats;
mod gateway;
mod hostile;
mod http_raw;
mod limits;
mod packaging;
mod persistence;
mod shards;
#[cfg(feature = "tls")]
mod tls;
mod ttl;
mod ui;
mod utf8;
mod webconfig;
mod wire;
