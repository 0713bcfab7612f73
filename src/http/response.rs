//! Response writing: serializes a [`Response`] head (status line, `Date`, framing and
//! `Connection` headers) and a byte body into an output buffer, and frames streamed bodies as
//! chunks. Decides what the message framing is; does not own the output buffer, the
//! socket, or when a streamed body is produced.

use crate::formats::expose::write_u64;
use std::time::{SystemTime, UNIX_EPOCH};

use super::Error;
use crate::http::service::{Body, Response};

/// The interim response a client sending `Expect: 100-continue` waits for.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
/// Ends a chunked body (no trailers).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// What the response writer needs to know about the request being answered.
#[derive(Clone, Copy, Debug)]
pub struct Exchange {
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// A HEAD request: headers as for GET, no body.
    pub head: bool,
    /// Whether the connection may stay open afterwards (client's wish and server's).
    pub keep_alive: bool,
}

/// How a streamed body that follows the head is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFraming {
    /// HTTP/1.1: frame each piece with [`begin_chunk`] and [`end_chunk`] and end with
    /// [`LAST_CHUNK`].
    Chunked,
    /// HTTP/1.0 has no chunking: raw bytes, the end is marked by closing the connection.
    UntilClose,
}

/// The outcome of [`write_response`].
pub struct Written<S> {
    /// A body still to be produced, with its framing.
    pub stream: Option<(S, StreamFraming)>,
    /// Close the connection once this response is out.
    pub close: bool,
}

/// Appends the response head and, for [`Body::Bytes`], the body to `out`. A streamed body is
/// handed back to the caller to be drained as the socket accepts data.
pub fn write_response<S>(
    out: &mut Vec<u8>,
    date: &str,
    ex: Exchange,
    resp: Response<S>,
) -> Written<S> {
    let status = if (100..1000).contains(&resp.status) {
        resp.status
    } else {
        500
    };
    // RFC 9112 §6.3: these never carry a body, whatever the application put in it.
    let may_have_body = status >= 200 && status != 204 && status != 304;
    let send_body = may_have_body && !ex.head;
    let mut close = resp.close || !ex.keep_alive;

    out.extend_from_slice(if ex.minor == 0 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    write_u64(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &resp.headers {
        // Framing is ours to decide; a stray CR/LF would let a value forge headers.
        if is_framing_header(name) || value.bytes().any(|b| b == b'\r' || b == b'\n') {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let (body, stream) = match resp.body {
        Body::Bytes(bytes) => {
            if may_have_body {
                // Also for HEAD: the length a GET would get (RFC 9110 §9.3.2).
                out.extend_from_slice(b"Content-Length: ");
                write_u64(out, bytes.len() as u64);
                out.extend_from_slice(b"\r\n");
            }
            (if send_body { bytes } else { Vec::new() }, None)
        }
        Body::Stream(s) if send_body && ex.minor >= 1 => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            (Vec::new(), Some((s, StreamFraming::Chunked)))
        }
        Body::Stream(s) if send_body => {
            close = true;
            (Vec::new(), Some((s, StreamFraming::UntilClose)))
        }
        // HEAD or a bodiless status: the stream is never produced.
        Body::Stream(_) => (Vec::new(), None),
    };
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if ex.minor == 0 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    Written { stream, close }
}

/// Appends the answer to a request the HTTP layer refused by itself; the connection closes
/// after it, as the rest of the input cannot be trusted.
pub fn write_rejection(out: &mut Vec<u8>, date: &str, e: Error) {
    if let Some(answer) = e.bare_answer() {
        // No Date and no length: the close ends the body, as in upstream's answer.
        for part in [
            "HTTP/1.1 ",
            answer,
            "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n",
            answer,
        ] {
            out.extend_from_slice(part.as_bytes());
        }
        return;
    }
    let mut resp = Response::<()>::error(e.status(), e.reason());
    if e == Error::Overloaded {
        resp = resp.with_header("Retry-After", "1");
    }
    resp.close = true;
    let ex = Exchange {
        minor: 1,
        head: false,
        keep_alive: false,
    };
    write_response(out, date, ex, resp);
}

fn is_framing_header(name: &str) -> bool {
    ["content-length", "transfer-encoding", "connection", "date"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

/// The head [`begin_chunk`] reserves: the size in eight hex digits (leading zeros are allowed,
/// RFC 9112 §7.1) and CRLF.
const CHUNK_HEAD: &[u8] = b"00000000\r\n";

/// Starts a chunk whose data is then appended to `out` in place, so a streamed body is not
/// copied once more to be framed; returns where it starts, for [`end_chunk`].
pub fn begin_chunk(out: &mut Vec<u8>) -> usize {
    out.extend_from_slice(CHUNK_HEAD);
    out.len() - CHUNK_HEAD.len()
}

/// Ends the chunk begun at `at`: writes the size of what was appended since. With nothing
/// appended the chunk is taken back, as an empty chunk would end the body.
pub fn end_chunk(out: &mut Vec<u8>, at: usize) {
    let len = out.len() - at - CHUNK_HEAD.len();
    if len == 0 {
        out.truncate(at);
        return;
    }
    assert!(len <= u32::MAX as usize, "a chunk of {len} bytes");
    for (i, digit) in out[at..at + 8].iter_mut().enumerate() {
        *digit = b"0123456789abcdef"[(len >> (28 - 4 * i)) & 15];
    }
    out.extend_from_slice(b"\r\n");
}

/// The standard reason phrase, or "" (allowed by RFC 9112 §4) for codes without one here.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "",
    }
}

/// The `Date` header value, formatted at most once per second.
#[derive(Debug)]
pub struct DateCache {
    second: u64,
    text: String,
}

impl Default for DateCache {
    fn default() -> DateCache {
        let mut d = DateCache {
            second: u64::MAX,
            text: String::new(),
        };
        d.update(SystemTime::now());
        d
    }
}

impl DateCache {
    pub fn update(&mut self, now: SystemTime) {
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            self.text = httpdate::fmt_http_date(now);
        }
    }

    pub fn get(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "Thu, 01 Jan 1970 00:00:00 GMT";

    fn ex(minor: u8, head: bool, keep_alive: bool) -> Exchange {
        Exchange {
            minor,
            head,
            keep_alive,
        }
    }

    fn bytes(status: u16, body: &str) -> Response<&'static str> {
        Response {
            status,
            headers: vec![("Content-Type", "text/plain".into())],
            body: Body::Bytes(body.as_bytes().to_vec()),
            close: false,
        }
    }

    fn stream(status: u16) -> Response<&'static str> {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Stream("s"),
            close: false,
        }
    }

    /// name, request, response, expected bytes, stream framing, close
    type Case = (
        &'static str,
        Exchange,
        Response<&'static str>,
        String,
        Option<StreamFraming>,
        bool,
    );

    #[test]
    fn table() {
        let d = format!("Date: {DATE}\r\n");
        let ct = "Content-Type: text/plain\r\n";
        let mut closing = bytes(200, "x");
        closing.close = true;
        let mut forged = bytes(200, "ab");
        forged.headers = vec![
            ("Content-Length", "99".into()),
            ("X-Evil", "a\r\nSet-Cookie: x".into()),
            ("X-Ok", "1".into()),
        ];
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("get", ex(1, false, true), bytes(200, "hi"),
             format!("HTTP/1.1 200 OK\r\n{d}{ct}Content-Length: 2\r\n\r\nhi"), None, false),
            ("head keeps length", ex(1, true, true), bytes(200, "hi"),
             format!("HTTP/1.1 200 OK\r\n{d}{ct}Content-Length: 2\r\n\r\n"), None, false),
            ("client close", ex(1, false, false), bytes(404, ""),
             format!("HTTP/1.1 404 Not Found\r\n{d}{ct}Content-Length: 0\r\nConnection: close\r\n\r\n"), None, true),
            ("app close", ex(1, false, true), closing,
             format!("HTTP/1.1 200 OK\r\n{d}{ct}Content-Length: 1\r\nConnection: close\r\n\r\nx"), None, true),
            ("http10 keep-alive", ex(0, false, true), bytes(200, "x"),
             format!("HTTP/1.0 200 OK\r\n{d}{ct}Content-Length: 1\r\nConnection: keep-alive\r\n\r\nx"), None, false),
            ("204 no body", ex(1, false, true), bytes(204, "ignored"),
             format!("HTTP/1.1 204 No Content\r\n{d}{ct}\r\n"), None, false),
            ("304 no body", ex(1, false, true), bytes(304, "ignored"),
             format!("HTTP/1.1 304 Not Modified\r\n{d}{ct}\r\n"), None, false),
            ("unknown status", ex(1, false, true), bytes(599, ""),
             format!("HTTP/1.1 599 \r\n{d}{ct}Content-Length: 0\r\n\r\n"), None, false),
            ("bogus status", ex(1, false, true), bytes(42, ""),
             format!("HTTP/1.1 500 Internal Server Error\r\n{d}{ct}Content-Length: 0\r\n\r\n"), None, false),
            ("framing headers dropped", ex(1, false, true), forged,
             format!("HTTP/1.1 200 OK\r\n{d}X-Ok: 1\r\nContent-Length: 2\r\n\r\nab"), None, false),
            ("stream chunked", ex(1, false, true), stream(200),
             format!("HTTP/1.1 200 OK\r\n{d}Transfer-Encoding: chunked\r\n\r\n"), Some(StreamFraming::Chunked), false),
            ("stream http10", ex(0, false, true), stream(200),
             format!("HTTP/1.0 200 OK\r\n{d}Connection: close\r\n\r\n"), Some(StreamFraming::UntilClose), true),
            ("stream head", ex(1, true, true), stream(200),
             format!("HTTP/1.1 200 OK\r\n{d}\r\n"), None, false),
        ];
        for (name, exchange, resp, want, want_stream, want_close) in cases {
            let mut out = b"prefix".to_vec();
            let w = write_response(&mut out, DATE, exchange, resp);
            assert_eq!(String::from_utf8_lossy(&out[6..]), want, "case {name:?}");
            assert_eq!(w.stream.map(|(_, f)| f), want_stream, "case {name:?}");
            assert_eq!(w.close, want_close, "case {name:?}");
        }
    }

    #[test]
    fn rejections() {
        let mut out = Vec::new();
        write_rejection(&mut out, DATE, Error::MissingHost);
        let host = "HTTP/1.1 400 Bad Request: missing required Host header\r\n\
                    Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n\
                    400 Bad Request: missing required Host header";
        assert_eq!(String::from_utf8_lossy(&out), host);
        out.clear();
        write_rejection(&mut out, DATE, Error::Truncated);
        let truncated = format!(
            "HTTP/1.1 400 Bad Request\r\nDate: {DATE}\r\n\
             Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n\
             Content-Length: 15\r\nConnection: close\r\n\r\nunexpected EOF\n"
        );
        assert_eq!(String::from_utf8_lossy(&out), truncated);
    }

    #[test]
    fn chunks() {
        let mut out = b"head".to_vec();
        for data in [&b""[..], b"hello", &[b'x'; 300]] {
            let at = begin_chunk(&mut out);
            out.extend_from_slice(data);
            end_chunk(&mut out, at);
        }
        out.extend_from_slice(LAST_CHUNK);
        let want = [
            b"head00000005\r\nhello\r\n0000012c\r\n".as_slice(),
            &[b'x'; 300],
            b"\r\n0\r\n\r\n",
        ]
        .concat();
        assert_eq!(out, want);
    }

    #[test]
    fn date_cached_per_second() {
        let mut d = DateCache::default();
        d.update(UNIX_EPOCH);
        assert_eq!(d.get(), DATE);
        d.update(UNIX_EPOCH + std::time::Duration::from_millis(999));
        assert_eq!(d.get(), DATE);
        d.update(UNIX_EPOCH + std::time::Duration::from_secs(86400));
        assert_eq!(d.get(), "Fri, 02 Jan 1970 00:00:00 GMT");
    }
}
