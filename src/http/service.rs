//! The seam between the HTTP layer and the application.
//!
//! The reactor (`server`) and the HTTP framing (`http`) know nothing about metrics: they hand a
//! complete [`Request`] to a [`Service`] and write back the [`Response`] it returns. Responses
//! too large to build at once carry a [`Body::Stream`] that the reactor drains through
//! [`Service::fill`] only as fast as the socket accepts bytes.

use std::net::SocketAddr;
use std::time::Instant;

/// A fully received request. `target` is the raw request target (path and query, still
/// percent-encoded); header names are lower-cased.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    pub target: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    pub remote: SocketAddr,
    /// When the first byte of this request arrived.
    pub started: Instant,
}

impl Request<'_> {
    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path part of the target, without the query string.
    pub fn path(&self) -> &str {
        match self.target.find('?') {
            Some(i) => &self.target[..i],
            None => self.target,
        }
    }
}

/// A response body: bytes already built, or a stream produced piece by piece.
pub enum Body<S> {
    Bytes(Vec<u8>),
    Stream(S),
}

pub struct Response<S> {
    pub status: u16,
    /// Extra headers; `Date`, `Content-Length`/`Transfer-Encoding` and `Connection` are added
    /// by the HTTP layer.
    pub headers: Vec<(&'static str, String)>,
    pub body: Body<S>,
    /// Close the connection after this response.
    pub close: bool,
}

impl<S> Response<S> {
    /// A `text/plain` response whose body is `body` exactly: upstream's own short answers
    /// (`OK`, the lifecycle ones) end without a newline.
    pub fn text(status: u16, body: impl Into<String>) -> Response<S> {
        Response {
            status,
            headers: vec![("Content-Type", "text/plain; charset=utf-8".to_string())],
            body: Body::Bytes(body.into().into_bytes()),
            close: false,
        }
    }

    /// A refusal with a one-line reason, shaped as upstream's Go answers its errors: the
    /// line ends in a newline, and `nosniff` keeps browsers from rendering it as anything
    /// but text.
    pub fn error(status: u16, reason: &str) -> Response<S> {
        Response::text(status, format!("{reason}\n"))
            .with_header("X-Content-Type-Options", "nosniff")
    }

    /// Upstream's answer to a path no route takes.
    pub fn not_found() -> Response<S> {
        Response::error(404, "404 page not found")
    }

    /// A 405 worded as upstream's router words it; `allow` lists the methods the path takes.
    pub fn method_not_allowed(allow: &'static str) -> Response<S> {
        Response::error(405, "Method Not Allowed").with_header("Allow", allow)
    }

    /// A response with no body.
    pub fn empty(status: u16) -> Response<S> {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
            close: false,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response<S> {
        self.headers.push((name, value.into()));
        self
    }
}

/// What the reactor asks of the application.
pub trait Service {
    /// State of a streamed response body.
    type Stream;

    /// Answers one request. Called on the reactor thread; must not block.
    fn handle(&mut self, req: &Request<'_>) -> Response<Self::Stream>;

    /// Appends the next part of a streamed body to `out` (roughly `want` bytes; more is fine,
    /// less only at the end). Returns `true` once the stream is finished.
    fn fill(&mut self, stream: &mut Self::Stream, out: &mut Vec<u8>, want: usize) -> bool;

    /// Bytes a streamed body keeps between calls to [`Service::fill`] beyond what it has
    /// appended to `out` (a protobuf family still being built): charged to the memory budget
    /// with the connection's queued output.
    fn stream_held(&self, stream: &Self::Stream) -> usize {
        let _ = stream;
        0
    }

    /// Called once per reactor turn after all ready events were handled, before responses
    /// are flushed (group commit of the persistence log goes here). Returns `false` when the
    /// service wants the server to shut down gracefully.
    fn turn(&mut self, now: Instant) -> bool;

    /// Asked right after [`Service::turn`]: whether the responses queued during this turn may
    /// go out. `false` means the turn's mutations could not be made durable (a failed group
    /// commit); the server then replaces those responses with a 503 and closes their
    /// connections, so no acknowledgement is sent for data that might be lost.
    fn committed(&mut self) -> bool {
        true
    }

    /// Whether the service has work for its next turn even if no request arrives (a
    /// compaction taking its snapshot of the store piece by piece): the reactor then polls
    /// without sleeping until the next tick.
    fn busy(&self) -> bool {
        false
    }

    /// Counts a request that the HTTP layer rejected itself (malformed, too large, timed out)
    /// so it shows up in the request metrics and the log.
    fn rejected(&mut self, remote: SocketAddr, status: u16, reason: &str);

    /// A TLS configuration to use for connections accepted from now on (the web configuration
    /// file or a certificate changed); asked after every turn.
    #[cfg(feature = "tls")]
    fn new_tls_config(&mut self) -> Option<std::sync::Arc<rustls::ServerConfig>> {
        None
    }

    /// A TLS connection failed before or outside any request (a failed or timed-out
    /// handshake, a bad record, plain HTTP sent to the TLS port) and was closed; worth a log
    /// line, as upstream writes one. Clients that simply go away are not reported.
    fn tls_failed(&mut self, remote: SocketAddr, reason: &str) {
        let _ = (remote, reason);
    }
}
