//! The byte stream under a connection: a TCP socket, or (with the `tls` feature) TLS over it.
//!
//! Owns the TLS session of a connection and the rules that make it behave like a non-blocking
//! socket to `server/conn.rs`, so one connection state machine serves both. Does not own
//! buffering policy, timeouts or HTTP (see `server/conn.rs`), nor building the TLS
//! configuration (see `tls`).
//!
//! The contract `conn.rs` relies on, which plain TCP meets by nature:
//! - a `read` shorter than the buffer means the socket said `WouldBlock` (or the peer is done),
//!   so with edge-triggered readiness nothing is left behind: TLS keeps decrypting records into
//!   the buffer until it is full or the socket is drained, never leaving plaintext inside the
//!   TLS session unannounced;
//! - `write` takes bytes only when the records of earlier writes have reached the socket, so
//!   the TLS session holds at most one bounded batch; `flush` pushes that batch, and
//!   [`Transport::wants_write`] says whether any is left (handshake messages included);
//! - errors close the connection; an error of kind `InvalidData` is a TLS failure worth
//!   reporting to the service.
//!
//! A client that speaks plain HTTP to a TLS port is told so in plain HTTP (a 400, as Go
//! servers answer) rather than with an alert it cannot read.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

pub(super) struct Transport {
    sock: TcpStream,
    #[cfg(feature = "tls")]
    tls: Option<Box<rustls::ServerConnection>>,
    /// The first bytes of a TLS connection were looked at for plain HTTP.
    #[cfg(feature = "tls")]
    sniffed: bool,
}

impl Transport {
    pub(super) fn plain(sock: TcpStream) -> Transport {
        Transport {
            sock,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            sniffed: true,
        }
    }

    #[cfg(feature = "tls")]
    pub(super) fn tls(
        sock: TcpStream,
        cfg: &std::sync::Arc<rustls::ServerConfig>,
    ) -> io::Result<Transport> {
        let session =
            rustls::ServerConnection::new(std::sync::Arc::clone(cfg)).map_err(io::Error::other)?;
        Ok(Transport {
            sock,
            tls: Some(Box::new(session)),
            sniffed: false,
        })
    }

    /// Encrypted bytes (handshake messages, alerts, records of written data) are waiting for
    /// the socket.
    pub(super) fn wants_write(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.wants_write();
        }
        false
    }

    /// The TLS handshake is not finished: no request can have begun yet.
    pub(super) fn handshaking(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.is_handshaking();
        }
        false
    }

    /// Reads and drops raw bytes from the socket, below TLS: for a connection that only
    /// waits for the client to close.
    pub(super) fn discard(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read(buf)
    }

    /// Ends our side: a TLS peer first gets a `close_notify`, so it can tell our last response
    /// was not cut short.
    pub(super) fn shutdown_write(&mut self) {
        self.close_notify();
        let _ = self.sock.shutdown(Shutdown::Write);
    }

    /// Tells a TLS peer that we close on purpose. Best effort: called when nothing else is
    /// queued, so the few bytes of the alert fit the socket buffer, and a peer that is gone
    /// loses nothing by missing them.
    pub(super) fn close_notify(&mut self) {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            if !tls.is_handshaking() {
                tls.send_close_notify();
                let _ = send_records(tls, &mut self.sock);
            }
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            if !self.sniffed {
                let mut head = [0u8; 5];
                // Best effort: a client that sends fewer bytes at first is left to TLS.
                self.sniffed = self.sock.peek(&mut head)? > 0;
                if looks_like_http(&head) {
                    return Err(refuse_plain_http(&mut self.sock));
                }
            }
            return tls_read(tls, &mut self.sock, buf);
        }
        self.sock.read(buf)
    }
}

impl Write for Transport {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            send_records(tls, &mut self.sock)?;
            let n = tls.writer().write(data)?;
            return match send_records(tls, &mut self.sock) {
                Ok(()) => Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(n),
                Err(e) => Err(e),
            };
        }
        self.sock.write(data)
    }

    /// Writes queued TLS records until none are left (`Ok`) or the socket is full
    /// (`WouldBlock`).
    fn flush(&mut self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return send_records(tls, &mut self.sock);
        }
        Ok(())
    }
}

/// Writes queued TLS records; `WouldBlock` if the socket took only part of them.
#[cfg(feature = "tls")]
fn send_records(tls: &mut rustls::ServerConnection, sock: &mut TcpStream) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Fills `buf` with plaintext, reading and decrypting records until it is full or the socket
/// would block; see the module doc for why it does not stop earlier.
#[cfg(feature = "tls")]
fn tls_read(
    tls: &mut rustls::ServerConnection,
    sock: &mut TcpStream,
    buf: &mut [u8],
) -> io::Result<usize> {
    let mut n = 0;
    loop {
        while n < buf.len() {
            match tls.reader().read(&mut buf[n..]) {
                // `close_notify`: the client sends no more.
                Ok(0) => return Ok(n),
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // TCP closed without `close_notify`, as many clients do. A request cut short
                // by it is caught by HTTP framing, so this is an ordinary end of input.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(n),
                Err(e) => return Err(e),
            }
        }
        if n == buf.len() {
            return Ok(n);
        }
        match tls.read_tls(sock) {
            // End of input is recorded in the session and reported by the reader above.
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && n > 0 => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if let Err(e) = tls.process_new_packets() {
            // Let the client know why (an alert is queued), as far as the socket takes it.
            let _ = send_records(tls, sock);
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
    }
}

/// Answers plain HTTP on a TLS port (see the module doc); returns the error that closes the
/// connection.
#[cfg(feature = "tls")]
fn refuse_plain_http(sock: &mut TcpStream) -> io::Error {
    const ANSWER: &[u8] =
        b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";
    // Consume the request (what has arrived of it) so that closing does not reset the
    // connection under our answer.
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        if !matches!(sock.read(&mut sink), Ok(n) if n > 0) {
            break;
        }
    }
    let _ = sock.write(ANSWER);
    let _ = sock.shutdown(Shutdown::Write);
    io::Error::new(
        io::ErrorKind::InvalidData,
        "client sent an HTTP request to an HTTPS server",
    )
}

/// A TLS connection opens with a handshake record (byte 0x16); these are HTTP methods.
#[cfg(feature = "tls")]
fn looks_like_http(head: &[u8; 5]) -> bool {
    [
        b"GET /", b"HEAD ", b"POST ", b"PUT /", b"DELET", b"OPTIO", b"PATCH",
    ]
    .contains(&head)
}

/// Polling sees the socket: readiness of TLS is readiness of the TCP under it.
impl Source for Transport {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.sock.register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.sock.reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.sock.deregister(registry)
    }
}
