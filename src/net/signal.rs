//! Process signals: SIGTERM and SIGINT request a graceful shutdown, SIGPIPE is ignored.
//!
//! Owns the handlers and the flag they set; the reactor (`server`) polls the flag once per
//! turn and does the actual shutdown. Nothing else happens in signal context.

// Installing handlers needs `sigaction`, which has no safe wrapper in std or our
// dependencies; this module is the crate's only exception to `deny(unsafe_code)`.
#![allow(unsafe_code)]

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

static SHUTDOWN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_terminate(_signal: libc::c_int) {
    // An atomic store is async-signal-safe; anything more belongs to the reactor.
    SHUTDOWN.store(true, Ordering::SeqCst);
}

/// Installs the handlers. Idempotent.
pub(crate) fn install() -> io::Result<()> {
    let handler: extern "C" fn(libc::c_int) = on_terminate;
    set_action(libc::SIGTERM, handler as libc::sighandler_t)?;
    set_action(libc::SIGINT, handler as libc::sighandler_t)?;
    // A peer closing early must surface as EPIPE on that one socket, not kill the process.
    set_action(libc::SIGPIPE, libc::SIG_IGN)
}

fn set_action(signal: libc::c_int, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: `sigaction` is a plain C struct for which all-zeroes is a valid value; the
    // handler only touches an atomic; the pointers passed are valid for the call.
    let rc = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        // SA_RESTART: other threads' blocking calls (the app's file I/O) are not disturbed;
        // epoll_wait is interrupted regardless, and the reactor wakes every tick anyway.
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, std::ptr::null_mut())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether SIGTERM or SIGINT arrived since the handlers were installed.
pub(crate) fn shutdown_requested() -> bool {
    SHUTDOWN.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current_action(signal: libc::c_int) -> libc::sighandler_t {
        // SAFETY: querying only (null new action); `old` is a valid out-pointer.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            assert_eq!(libc::sigaction(signal, std::ptr::null(), &mut old), 0);
            old.sa_sigaction
        }
    }

    // Inspects the installed actions instead of raising a signal: the flag is process-wide
    // and would stop any server running in another test of this binary.
    #[test]
    fn handlers_installed() {
        install().unwrap();
        install().unwrap();
        let handler: extern "C" fn(libc::c_int) = on_terminate;
        assert_eq!(current_action(libc::SIGTERM), handler as libc::sighandler_t);
        assert_eq!(current_action(libc::SIGINT), handler as libc::sighandler_t);
        assert_eq!(current_action(libc::SIGPIPE), libc::SIG_IGN);
        assert!(!shutdown_requested());
    }
}
