//! HTTP/1.x message framing over byte buffers: no sockets, no clocks, no application logic.
//!
//! Owns: turning received bytes into request heads and bodies ([`RequestParser`] in
//! `http/request.rs`, de-chunking in `http/chunked.rs`), turning a
//! [`crate::http::service::Response`] into bytes ([`write_response`], [`write_rejection`] and the
//! chunk helpers in `http/response.rs`), and the small [`Error`] type for requests the HTTP
//! layer rejects by itself. Does not own: connection state, buffering policy, timeouts or I/O
//! (see `server`), nor routing (see `service`).

mod chunked;
pub mod negotiate;
mod request;
mod response;
pub mod service;

pub use request::{Limits, RequestParser, Status};
pub use response::{
    begin_chunk, end_chunk, reason_phrase, write_rejection, write_response, DateCache, Exchange,
    StreamFraming, Written, CONTINUE, LAST_CHUNK,
};

/// A request the HTTP layer answers by itself, with a 4xx/5xx status and a one-line reason.
///
/// Kept apart from [`Status`]: incomplete input is never an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The request line or a header line is not valid HTTP/1.x.
    Malformed,
    /// A well-formed request line naming an HTTP version other than 1.0 or 1.1.
    Version,
    /// The request head is larger than [`Limits::max_header_bytes`].
    HeadersTooLarge,
    /// More header fields than the parser accepts.
    TooManyHeaders,
    /// `Content-Length` is not a decimal number, or several disagree.
    BadContentLength,
    /// Both `Content-Length` and `Transfer-Encoding`: a request-smuggling vector.
    AmbiguousLength,
    /// A transfer coding other than a single `chunked`.
    TransferEncoding,
    /// Broken chunk framing.
    BadChunk,
    /// The body is (or announces to be) larger than [`Limits::max_body_bytes`].
    BodyTooLarge,
    /// An `Expect` other than `100-continue`.
    Expectation,
    /// The request did not arrive within the server's read timeout.
    Timeout,
    /// The client ended its side of the connection in the middle of a request.
    Truncated,
    /// The request was dropped while being received, to keep the memory that requests in
    /// flight hold within the server's budget.
    Overloaded,
    /// An HTTP/1.1 request without `Host` (RFC 9112 §3.2).
    MissingHost,
    /// More than one `Host` field.
    ManyHosts,
    /// A `Host` value with bytes no host name, address or port can contain.
    BadHost,
}

impl Error {
    pub fn status(self) -> u16 {
        match self {
            Error::Malformed
            | Error::BadContentLength
            | Error::AmbiguousLength
            | Error::BadChunk
            | Error::Truncated
            | Error::MissingHost
            | Error::ManyHosts
            | Error::BadHost => 400,
            Error::Timeout => 408,
            Error::BodyTooLarge => 413,
            Error::Expectation => 417,
            Error::HeadersTooLarge | Error::TooManyHeaders => 431,
            Error::TransferEncoding => 501,
            Error::Overloaded => 503,
            Error::Version => 505,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Error::Malformed => "malformed request line or header",
            Error::Version => "HTTP version not supported",
            Error::HeadersTooLarge => "request header fields too large",
            Error::TooManyHeaders => "too many request header fields",
            Error::BadContentLength => "invalid Content-Length",
            Error::AmbiguousLength => "both Content-Length and Transfer-Encoding",
            Error::TransferEncoding => "unsupported Transfer-Encoding",
            Error::BadChunk => "malformed chunked body",
            Error::BodyTooLarge => "request body too large",
            Error::Expectation => "unsupported Expect",
            Error::Timeout => "request timeout",
            // Go's words for a body that ends early, which upstream answers to such a push.
            Error::Truncated => "unexpected EOF",
            Error::Overloaded => "too much request data in flight on the server; retry later",
            Error::MissingHost => "missing required Host header",
            Error::ManyHosts => "too many Host headers",
            Error::BadHost => "malformed Host header",
        }
    }

    /// The whole answer line of the refusals upstream's HTTP server (Go's) makes before any
    /// handler runs, for those pushgate makes alike: it goes out bare, as the status line
    /// and again as the body, so a client comparing bytes sees no difference.
    pub fn bare_answer(self) -> Option<&'static str> {
        match self {
            Error::MissingHost => Some("400 Bad Request: missing required Host header"),
            Error::BadHost => Some("400 Bad Request: malformed Host header"),
            Error::ManyHosts => Some("400 Bad Request"),
            _ => None,
        }
    }
}
