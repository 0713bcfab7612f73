//! `--web.systemd-socket`: serving on the listening sockets systemd passes (socket activation,
//! `sd_listen_fds(3)`): file descriptors 3 onwards, `LISTEN_FDS` of them, meant for the
//! process whose id is `LISTEN_PID`.

// Taking ownership of an inherited file descriptor has no safe form in std: this module and
// `signal` are the crate's only exceptions to `deny(unsafe_code)`.
#![allow(unsafe_code)]

use std::io;
use std::net::TcpListener;
use std::os::fd::{FromRawFd, IntoRawFd, RawFd};

/// The first descriptor systemd passes.
const FIRST_FD: RawFd = 3;

/// The listening sockets systemd passed to this process. The variables are removed, as
/// `sd_listen_fds` does, so nothing started later takes them for its own.
pub fn listeners() -> io::Result<Vec<TcpListener>> {
    let var = |name: &str| std::env::var(name).ok();
    let (pid, fds) = (var("LISTEN_PID"), var("LISTEN_FDS"));
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    if pid.as_deref().and_then(|p| p.parse::<u32>().ok()) != Some(std::process::id()) {
        return Err(bad(format!(
            "no sockets passed by systemd: LISTEN_PID is {pid:?}, not this process"
        )));
    }
    let count = fds
        .as_deref()
        .and_then(|n| n.parse::<RawFd>().ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            bad(format!(
                "no sockets passed by systemd: LISTEN_FDS is {fds:?}"
            ))
        })?;
    (FIRST_FD..FIRST_FD + count)
        .map(|fd| {
            // SAFETY: systemd hands these descriptors to this process (LISTEN_PID says so), and
            // they are taken before the process opens anything itself; each is owned from
            // here on.
            let listener = unsafe { TcpListener::from_raw_fd(fd) };
            // Whatever is not a bound TCP socket is refused rather than served, and left open:
            // it is not ours to close.
            match listener.local_addr() {
                Ok(_) => Ok(listener),
                Err(e) => {
                    let _ = listener.into_raw_fd();
                    Err(bad(format!(
                        "descriptor {fd} from systemd is no TCP socket: {e}"
                    )))
                }
            }
        })
        .collect()
}
