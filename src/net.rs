//! The network layer: the mio reactor and its connections, the transports under them (plain
//! TCP, TLS), the sockets systemd passes, and the signals that stop the loop.

pub mod server;
pub(crate) mod signal;
pub mod systemd;
#[cfg(feature = "tls")]
pub mod tls;
