//! Request framing: finds where a request head ends, parses it with `httparse`, decides how
//! the body is delimited and collects it. Works on whatever bytes have arrived so far: the
//! caller passes the unconsumed input, the parser reports how many bytes it consumed and
//! whether the request is complete. Reports what it holds and how much more input the request
//! can take, so the caller can budget memory. Does not own buffers of received bytes or any I/O.

use super::chunked::Dechunker;
use super::Error;

/// More header fields than this is answered with 431; also sizes `httparse`'s stack array.
const MAX_HEADERS: usize = 100;
/// Header strings are kept for the next request unless they take more than this: an idle
/// keep-alive connection must not keep the storage of one huge head.
const RETAIN_HEAD: usize = 8 * 1024;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Request line plus header fields, including line endings.
    pub max_header_bytes: usize,
    /// Decoded body size.
    pub max_body_bytes: usize,
}

/// Progress of the request being parsed; incomplete input is not an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Partial,
    Complete,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
}

/// Parses one request at a time; [`RequestParser::reset`] readies it for the next one.
/// Header strings are recycled between requests so a keep-alive connection does not
/// allocate per request once warmed up.
#[derive(Debug)]
pub struct RequestParser {
    limits: Limits,
    head_done: bool,
    /// Where the search for the end of the head resumes.
    scanned: usize,
    method: String,
    target: String,
    minor: u8,
    headers: Vec<(String, String)>,
    spare: Vec<(String, String)>,
    keep_alive: bool,
    expect_continue: bool,
    continue_sent: bool,
    framing: Framing,
    dechunker: Dechunker,
    body: Vec<u8>,
    /// Where a `Content-Length` body sits in the input of the call that completed it.
    body_at: usize,
    /// Bytes allocated for the strings of the parsed head (the recycled ones included).
    head_held: usize,
}

impl RequestParser {
    pub fn new(limits: Limits) -> RequestParser {
        RequestParser {
            limits,
            head_done: false,
            scanned: 0,
            method: String::new(),
            target: String::new(),
            minor: 1,
            headers: Vec::new(),
            spare: Vec::new(),
            keep_alive: true,
            expect_continue: false,
            continue_sent: false,
            framing: Framing::Length(0),
            dechunker: Dechunker::new(),
            body: Vec::new(),
            body_at: 0,
            head_held: 0,
        }
    }

    /// Parses as much of `input` (the not yet consumed bytes, starting where the previous call
    /// left off) as possible. Returns the status and how many bytes of `input` were consumed;
    /// the caller drops those bytes before the next call. After `Complete`, [`Self::body`]
    /// must be given the same `input`.
    pub fn parse(&mut self, input: &[u8]) -> Result<(Status, usize), Error> {
        let mut used = 0;
        if !self.head_done {
            // Empty lines before a request line are ignored (RFC 9112 §2.2), e.g. a stray
            // CRLF a client sent after a body.
            let skip = input
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            let head = &input[skip..];
            match find_head_end(head, self.scanned) {
                Some(end) if end <= self.limits.max_header_bytes => {
                    self.parse_head(&head[..end])?;
                    used = skip + end;
                }
                Some(_) => return Err(Error::HeadersTooLarge),
                None if head.len() > self.limits.max_header_bytes => {
                    return Err(Error::HeadersTooLarge)
                }
                None => {
                    // The last two bytes may begin the blank line; look at them again.
                    self.scanned = head.len().saturating_sub(2);
                    return Ok((Status::Partial, skip));
                }
            }
        }
        let rest = &input[used..];
        match self.framing {
            Framing::Length(n) if rest.len() >= n => {
                self.body_at = used;
                Ok((Status::Complete, used + n))
            }
            Framing::Length(_) => Ok((Status::Partial, used)),
            Framing::Chunked => {
                let (done, n) = self.dechunker.feed(rest, &mut self.body, &self.limits)?;
                let status = if done {
                    Status::Complete
                } else {
                    Status::Partial
                };
                Ok((status, used + n))
            }
        }
    }

    fn parse_head(&mut self, head: &[u8]) -> Result<(), Error> {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut slots);
        match req.parse(head) {
            Ok(httparse::Status::Complete(_)) => {}
            Err(httparse::Error::TooManyHeaders) => return Err(Error::TooManyHeaders),
            Err(httparse::Error::Version) if names_http_version(head) => {
                return Err(Error::Version)
            }
            // `Partial` cannot happen on a whole head; treat it like any other garbage.
            Ok(httparse::Status::Partial) | Err(_) => return Err(Error::Malformed),
        }
        let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
            return Err(Error::Malformed);
        };
        // The asterisk-form asks about the server itself, which only OPTIONS can
        // (RFC 9112 §3.2.4).
        if target == "*" && method != "OPTIONS" {
            return Err(Error::Malformed);
        }
        self.method.clear();
        self.method.push_str(method);
        self.target.clear();
        match after_authority(target) {
            // Absolute-form (what clients send a proxy): served as its path and query.
            Some(rest) => {
                if !rest.starts_with('/') {
                    self.target.push('/');
                }
                self.target.push_str(rest);
            }
            None => self.target.push_str(target),
        }
        self.minor = minor;

        let mut length: Option<u64> = None;
        let (mut te, mut chunked, mut close, mut keep_alive) = (false, false, false, false);
        let (mut expect, mut bad_expect) = (false, false);
        let (mut hosts, mut bad_host) = (0, false);
        for h in req.headers.iter() {
            let value = h.value.trim_ascii();
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                let n = parse_decimal(value).ok_or(Error::BadContentLength)?;
                if length.is_some_and(|l| l != n) {
                    return Err(Error::BadContentLength);
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                // Exactly one coding, `chunked`: anything layered on it we could not decode.
                chunked = !te && value.eq_ignore_ascii_case(b"chunked");
                te = true;
            } else if name.eq_ignore_ascii_case("connection") {
                for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if name.eq_ignore_ascii_case("host") {
                hosts += 1;
                bad_host |= !value.iter().all(|&b| is_host_byte(b));
            } else if name.eq_ignore_ascii_case("expect") {
                if value.eq_ignore_ascii_case(b"100-continue") {
                    expect = true;
                } else {
                    bad_expect = true;
                }
            }
            self.push_header(name, value);
        }

        // RFC 9112 §3.2: exactly one valid Host, which HTTP/1.0 may leave out.
        if hosts > 1 {
            return Err(Error::ManyHosts);
        }
        if bad_host {
            return Err(Error::BadHost);
        }
        if hosts == 0 && minor == 1 {
            return Err(Error::MissingHost);
        }
        // HTTP/1.0 knows no Expect (RFC 9110 §10.1.1) and closes unless asked not to.
        if minor == 1 && bad_expect {
            return Err(Error::Expectation);
        }
        self.expect_continue = minor == 1 && expect;
        self.keep_alive = !close && (minor == 1 || keep_alive);
        self.framing = match (te, length) {
            (true, Some(_)) => return Err(Error::AmbiguousLength),
            (true, None) if !chunked => return Err(Error::TransferEncoding),
            (true, None) => {
                // A chunked HTTP/1.0 request has dubious framing: answer it, then close.
                self.keep_alive &= minor == 1;
                Framing::Chunked
            }
            (false, Some(n)) if n > self.limits.max_body_bytes as u64 => {
                return Err(Error::BodyTooLarge)
            }
            (false, n) => Framing::Length(n.unwrap_or(0) as usize),
        };
        self.head_done = true;
        self.head_held = self.head_storage();
        Ok(())
    }

    fn head_storage(&self) -> usize {
        let strings = |v: &[(String, String)]| {
            v.iter()
                .map(|(n, v)| n.capacity() + v.capacity())
                .sum::<usize>()
        };
        let slot = std::mem::size_of::<(String, String)>();
        self.method.capacity()
            + self.target.capacity()
            + strings(&self.headers)
            + strings(&self.spare)
            + (self.headers.capacity() + self.spare.capacity()) * slot
    }

    fn push_header(&mut self, name: &str, value: &[u8]) {
        let (mut n, mut v) = self.spare.pop().unwrap_or_default();
        n.clear();
        n.push_str(name);
        n.make_ascii_lowercase();
        v.clear();
        match std::str::from_utf8(value) {
            Ok(s) => v.push_str(s),
            Err(_) => v.push_str(&String::from_utf8_lossy(value)),
        }
        self.headers.push((n, v));
    }

    /// Forgets the finished request, keeping the header strings of a small head for the next
    /// one. A de-chunked body is released: chunked pushes are rare, and an idle connection
    /// should hold nothing the memory budget would have to count.
    pub fn reset(&mut self) {
        self.head_done = false;
        self.scanned = 0;
        self.spare.append(&mut self.headers);
        if self.head_held > RETAIN_HEAD {
            self.spare = Vec::new();
            self.target = String::new();
            self.head_held = 0;
        }
        self.keep_alive = true;
        self.expect_continue = false;
        self.continue_sent = false;
        self.framing = Framing::Length(0);
        self.dechunker = Dechunker::new();
        self.body = Vec::new();
    }

    /// Bytes the parser holds for the request: its head's strings and the de-chunked body.
    pub fn held(&self) -> usize {
        self.head_held + self.body.capacity()
    }

    /// At most how many more bytes of input, beyond the `buffered` unconsumed ones, the request
    /// can take before it completes or is refused, so a buffer need not grow past that; `None`
    /// for a chunked body, whose framing is consumed as it arrives.
    pub fn most_needed(&self, buffered: usize) -> Option<usize> {
        if !self.head_done {
            // One byte past the limit is enough to refuse the head.
            return Some((self.limits.max_header_bytes + 1).saturating_sub(buffered));
        }
        match self.framing {
            Framing::Length(n) => Some(n.saturating_sub(buffered)),
            Framing::Chunked => None,
        }
    }

    /// For a chunked body being received: how much the decoded body's capacity must grow so
    /// that `more` bytes of input decode into it without it growing by itself (0 if it need
    /// not). The caller then grants that with [`Self::grow_body`], so memory is taken only
    /// when the caller's budget allows.
    pub fn body_growth(&self, more: usize) -> usize {
        if !self.head_done || self.framing != Framing::Chunked {
            return 0;
        }
        let max = self.limits.max_body_bytes;
        let cap = self.body.capacity();
        let need = (self.body.len() + more).min(max);
        if need <= cap {
            return 0;
        }
        // Doubling, as `Vec` grows, so a body arriving in small reads is not copied often.
        need.max(cap.saturating_mul(2)).min(max) - cap
    }

    /// Grows the decoded body's capacity by `extra`; see [`Self::body_growth`].
    pub fn grow_body(&mut self, extra: usize) {
        let spare = self.body.capacity() - self.body.len();
        self.body.reserve_exact(spare + extra);
    }

    /// The head has been parsed and consumed; the body is still arriving.
    pub fn in_progress(&self) -> bool {
        self.head_done
    }

    /// True once per request whose client waits for `100 Continue` before sending the body.
    /// Ask only after a `Partial` result, so a request rejected early never gets one.
    pub fn take_continue(&mut self) -> bool {
        let send = self.head_done && self.expect_continue && !self.continue_sent;
        self.continue_sent |= send;
        send
    }

    /// `OPTIONS *`: a question about the server as a whole rather than any resource, which
    /// the HTTP layer answers itself (upstream's Go server does too, before any handler).
    pub fn asks_server_options(&self) -> bool {
        self.method == "OPTIONS" && self.target == "*"
    }

    pub fn method(&self) -> &str {
        &self.method
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub fn minor_version(&self) -> u8 {
        self.minor
    }

    /// Header fields in arrival order, names lower-cased.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Whether the client allows the connection to stay open after this request.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// The complete body; `input` is the slice given to the `parse` call that completed.
    pub fn body<'a>(&'a self, input: &'a [u8]) -> &'a [u8] {
        match self.framing {
            Framing::Length(n) => input.get(self.body_at..self.body_at + n).unwrap_or(&[]),
            Framing::Chunked => &self.body,
        }
    }
}

/// Index just past the blank line ending a head (CRLF or bare LF line endings, as `httparse`
/// accepts both), searching from `from`.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(off) = buf.get(i..)?.iter().position(|&b| b == b'\n') {
        let nl = i + off;
        match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\n'), _) => return Some(nl + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

/// What follows the authority of an absolute-form target (`http://host:port/path?query`),
/// or `None` for a target of another form.
fn after_authority(target: &str) -> Option<&str> {
    let (scheme, rest) = target.split_once("://")?;
    let mut bytes = scheme.bytes();
    // RFC 3986 §3.1: a letter, then letters, digits, `+`, `-` and `.`.
    let is_scheme = bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !is_scheme {
        return None;
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    Some(&rest[end..])
}

/// Whether `b` may appear in a `Host` value: RFC 3986's host (a name with its unreserved
/// and sub-delimiter characters, percent escapes, or a bracketed IP literal) and `:port`.
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%:[]".contains(&b)
}

/// Whether a request line that `httparse` refused for its version names some `HTTP/x.y`:
/// then 505 is the honest answer, otherwise the line is just garbage (400).
fn names_http_version(head: &[u8]) -> bool {
    let line = head.split(|&b| b == b'\n').next().unwrap_or(head);
    line.trim_ascii_end()
        .splitn(3, |&b| b == b' ')
        .nth(2)
        .is_some_and(|v| v.starts_with(b"HTTP/") && !v.contains(&b' '))
}

fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        let d = u64::from(b.checked_sub(b'0').filter(|d| *d < 10)?);
        n.checked_mul(10)?.checked_add(d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_header_bytes: 1024,
        max_body_bytes: 64,
    };

    #[derive(Debug, PartialEq)]
    enum Want {
        /// Needs more input.
        Partial,
        /// method, target, body, keep-alive
        Req(&'static str, &'static str, &'static [u8], bool),
        Err(u16),
    }

    #[derive(Debug, PartialEq)]
    enum Got {
        Partial,
        Req(String, String, Vec<u8>, bool),
        Err(u16),
    }

    impl PartialEq<Want> for Got {
        fn eq(&self, w: &Want) -> bool {
            match (self, w) {
                (Got::Partial, Want::Partial) => true,
                (Got::Req(m, t, b, k), Want::Req(wm, wt, wb, wk)) => {
                    m == wm && t == wt && b == wb && k == wk
                }
                (Got::Err(a), Want::Err(b)) => a == b,
                _ => false,
            }
        }
    }

    /// Feeds `input` `step` bytes at a time, dropping consumed bytes like the server does.
    fn drive(input: &[u8], step: usize) -> Got {
        let mut p = RequestParser::new(LIMITS);
        let (mut start, mut avail) = (0, 0);
        loop {
            avail = (avail + step).min(input.len());
            let slice = &input[start..avail];
            match p.parse(slice) {
                Err(e) => return Got::Err(e.status()),
                Ok((Status::Complete, used)) => {
                    assert_eq!(start + used, input.len(), "request must use all input");
                    return Got::Req(
                        p.method().to_string(),
                        p.target().to_string(),
                        p.body(slice).to_vec(),
                        p.keep_alive(),
                    );
                }
                Ok((Status::Partial, used)) => start += used,
            }
            if avail == input.len() {
                return Got::Partial;
            }
        }
    }

    #[test]
    fn table() {
        let big_head = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
            "a".repeat(1100)
        );
        let many = format!(
            "GET / HTTP/1.1\r\nHost: h\r\n{}\r\n",
            "A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        let cases: Vec<(&str, &[u8], Want)> = vec![
            ("get", b"GET /x?a=1 HTTP/1.1\r\nHost: h\r\n\r\n", Want::Req("GET", "/x?a=1", b"", true)),
            ("bare lf", b"GET / HTTP/1.1\nHost: h\n\n", Want::Req("GET", "/", b"", true)),
            ("leading crlf", b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", Want::Req("GET", "/", b"", true)),
            ("no host", b"DELETE /m HTTP/1.1\r\n\r\n", Want::Err(400)),
            ("no host http10", b"DELETE /m HTTP/1.0\r\n\r\n", Want::Req("DELETE", "/m", b"", false)),
            ("empty host", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", Want::Req("GET", "/", b"", true)),
            ("host literal", b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", Want::Req("GET", "/", b"", true)),
            ("host twice", b"GET / HTTP/1.0\r\nHost: h\r\nhost: h\r\n\r\n", Want::Err(400)),
            ("host with space", b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n", Want::Err(400)),
            ("host with slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Want::Err(400)),
            ("host not ascii", b"GET / HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n", Want::Err(400)),
            ("absolute form", b"PUT http://h:9/m/j?a=b HTTP/1.1\r\nHost: h\r\n\r\n", Want::Req("PUT", "/m/j?a=b", b"", true)),
            ("absolute form no path", b"GET HTTPS://u@h?q HTTP/1.1\r\nHost: h\r\n\r\n", Want::Req("GET", "/?q", b"", true)),
            ("not a scheme", b"GET /a://b HTTP/1.1\r\nHost: h\r\n\r\n", Want::Req("GET", "/a://b", b"", true)),
            ("asterisk", b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", Want::Req("OPTIONS", "*", b"", true)),
            ("asterisk not options", b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", Want::Err(400)),
            ("partial line", b"GET / HT", Want::Partial),
            ("partial head", b"GET / HTTP/1.1\r\nHost: h\r\n", Want::Partial),
            ("length", b"PUT /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", Want::Req("PUT", "/a", b"hello", true)),
            ("length partial", b"PUT /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhel", Want::Partial),
            ("length zero", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", Want::Req("POST", "/", b"", true)),
            ("length twice same", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\nx", Want::Req("POST", "/", b"x", true)),
            ("length twice differs", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy", Want::Err(400)),
            ("length signed", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\nx", Want::Err(400)),
            ("length list", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\nx", Want::Err(400)),
            ("length empty", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n", Want::Err(400)),
            ("length overflow", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", Want::Err(400)),
            ("length too big", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65\r\n\r\n", Want::Err(413)),
            ("chunked", b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", Want::Req("POST", "/c", b"hello world", true)),
            ("chunked ext trailer", b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n5;a=b\r\nhello\r\nA ; x\r\n0123456789\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n", Want::Req("POST", "/c", b"hello0123456789", true)),
            ("chunked upper hex", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nB\r\nhello world\r\n0\r\n\r\n", Want::Req("POST", "/", b"hello world", true)),
            ("chunked partial", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", Want::Partial),
            ("chunked no final crlf", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", Want::Partial),
            ("chunked bad size", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", Want::Err(400)),
            ("chunked no size", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", Want::Err(400)),
            ("chunked missing crlf", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", Want::Err(400)),
            ("chunked huge size", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n", Want::Err(400)),
            ("chunked too big", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n", Want::Err(413)),
            ("chunked too big total", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n0123456789abcdef0123456789abcdef\r\n21\r\n", Want::Err(413)),
            ("te and cl", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Want::Err(400)),
            ("te gzip", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Want::Err(501)),
            ("te twice", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Want::Err(501)),
            ("close", b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", Want::Req("GET", "/", b"", false)),
            ("close in list", b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, Close\r\n\r\n", Want::Req("GET", "/", b"", false)),
            ("http10", b"GET / HTTP/1.0\r\n\r\n", Want::Req("GET", "/", b"", false)),
            ("http10 keep-alive", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", Want::Req("GET", "/", b"", true)),
            ("http10 chunked closes", b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Want::Req("POST", "/", b"", false)),
            ("http10 odd expect ignored", b"GET / HTTP/1.0\r\nExpect: x\r\n\r\n", Want::Req("GET", "/", b"", false)),
            ("expect other", b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", Want::Err(417)),
            ("garbage line", b"THIS IS NOT HTTP\r\n\r\n", Want::Err(400)),
            ("space in target", b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", Want::Err(400)),
            ("bad header name", b"GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", Want::Err(400)),
            ("http2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Want::Err(505)),
            ("http09", b"GET /\r\n\r\n", Want::Err(400)),
            ("binary", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n", Want::Err(400)),
            ("head too big", big_head.as_bytes(), Want::Err(431)),
            ("head too big partial", &big_head.as_bytes()[..1060], Want::Err(431)),
            ("too many headers", many.as_bytes(), Want::Err(431)),
        ];
        for (name, input, want) in &cases {
            for step in [input.len().max(1), 1, 7] {
                assert_eq!(drive(input, step), *want, "case {name:?}, step {step}");
            }
        }
    }

    /// Mutated requests fed in random pieces: any outcome but a panic or an out-of-range
    /// consumption is fine.
    #[test]
    fn mutated_input_never_panics() {
        let seeds: [&[u8]; 3] = [
            b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
            b"PUT /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n",
            b"GET /c HTTP/1.0\r\nExpect: 100-continue\r\n\r\nGET /d HTTP/1.1\r\nHost: h\r\n\r\n",
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let mut input = seeds[rng.usize(..seeds.len())].to_vec();
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(..input.len());
                match rng.u8(..3) {
                    0 => input[at] = rng.u8(..),
                    1 => input.insert(at, b"\r\n:; 0fF"[rng.usize(..8)]),
                    _ => drop(input.remove(at)),
                }
            }
            let mut p = RequestParser::new(LIMITS);
            let (mut start, mut avail) = (0, 0);
            while avail < input.len() {
                avail = (avail + rng.usize(1..16)).min(input.len());
                let slice = &input[start..avail];
                match p.parse(slice) {
                    Ok((status, used)) => {
                        assert!(used <= slice.len());
                        if status == Status::Complete {
                            assert!(p.body(slice).len() <= LIMITS.max_body_bytes);
                            p.reset();
                        }
                        start += used;
                    }
                    Err(_) => break,
                }
            }
        }
    }

    #[test]
    fn pipelined_requests_share_a_buffer() {
        let input = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab\
                      \r\nPUT /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nc\r\n0\r\n\r\nGET";
        let mut p = RequestParser::new(LIMITS);
        let mut start = 0;
        let mut seen = Vec::new();
        loop {
            let slice = &input[start..];
            let (status, used) = p.parse(slice).unwrap();
            start += used;
            if status == Status::Partial {
                break;
            }
            seen.push((p.target().to_string(), p.body(slice).to_vec()));
            p.reset();
        }
        let want: Vec<(String, Vec<u8>)> = vec![
            ("/1".into(), b"".to_vec()),
            ("/2".into(), b"ab".to_vec()),
            ("/3".into(), b"c".to_vec()),
        ];
        assert_eq!(seen, want);
        assert_eq!(&input[start..], b"GET");
    }

    #[test]
    fn headers_lower_cased_and_recycled() {
        let mut p = RequestParser::new(LIMITS);
        let input = b"GET / HTTP/1.1\r\nHost: h\r\nX-Mixed-Case:  v1 \r\nAccept: */*\r\n\r\n";
        assert_eq!(p.parse(input).unwrap(), (Status::Complete, input.len()));
        let want = [
            ("host".to_string(), "h".to_string()),
            ("x-mixed-case".to_string(), "v1".to_string()),
            ("accept".to_string(), "*/*".to_string()),
        ];
        assert_eq!(p.headers(), &want);
        p.reset();
        let input = b"GET / HTTP/1.1\r\nHost: h\r\nOnly: one\r\n\r\n";
        assert_eq!(p.parse(input).unwrap(), (Status::Complete, input.len()));
        let want = [
            ("host".to_string(), "h".to_string()),
            ("only".to_string(), "one".to_string()),
        ];
        assert_eq!(p.headers(), &want);
    }

    #[test]
    fn what_a_request_may_still_need() {
        let mut p = RequestParser::new(LIMITS);
        // A head is refused one byte past the limit, so a buffer need hold no more.
        assert_eq!(p.most_needed(100), Some(925));
        let head = b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 50\r\n\r\n";
        assert_eq!(p.parse(head).unwrap(), (Status::Partial, head.len()));
        assert_eq!(p.most_needed(20), Some(30));
        assert_eq!(
            p.body_growth(1000),
            0,
            "the body stays in the caller's buffer"
        );

        let mut p = RequestParser::new(LIMITS);
        let head = b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(p.parse(head).unwrap(), (Status::Partial, head.len()));
        assert_eq!(p.most_needed(0), None);
        assert_eq!(p.body_growth(10), 10);
        p.grow_body(10);
        assert_eq!(p.body_growth(10), 0);
        // Doubling, but never past the body limit.
        assert_eq!(p.body_growth(30), 20);
        assert_eq!(p.body_growth(1000), 54);
        p.grow_body(54);
        let held = p.held();
        let body = b"5\r\nhello\r\n0\r\n\r\n";
        assert_eq!(p.parse(body).unwrap(), (Status::Complete, body.len()));
        assert_eq!(p.held(), held, "decoded into what was granted");
        p.reset();
        assert!(p.held() < held, "the decoded body is released");
    }

    #[test]
    fn a_huge_head_is_not_kept_for_the_next_request() {
        let limits = Limits {
            max_header_bytes: 64 * 1024,
            max_body_bytes: 0,
        };
        let mut p = RequestParser::new(limits);
        let small = b"GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n";
        assert_eq!(p.parse(small).unwrap().0, Status::Complete);
        let kept = p.held();
        p.reset();
        assert_eq!(p.held(), kept, "small heads' strings are reused");
        let big = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
            "a".repeat(40_000)
        );
        assert_eq!(p.parse(big.as_bytes()).unwrap().0, Status::Complete);
        assert!(p.held() > 40_000);
        p.reset();
        assert!(p.held() < RETAIN_HEAD, "{}", p.held());
    }

    #[test]
    fn continue_only_while_body_awaited() {
        let mut p = RequestParser::new(LIMITS);
        let head =
            b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(p.parse(head).unwrap(), (Status::Partial, head.len()));
        assert!(p.take_continue());
        assert!(!p.take_continue(), "sent once");
        assert_eq!(p.parse(b"ok").unwrap(), (Status::Complete, 2));

        let mut p = RequestParser::new(LIMITS);
        let whole =
            b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(p.parse(whole).unwrap().0, Status::Complete);
        let mut p = RequestParser::new(LIMITS);
        let big =
            b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n";
        assert_eq!(p.parse(big), Err(Error::BodyTooLarge));
        assert!(!p.take_continue());
    }
}
