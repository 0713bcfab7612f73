//! Request framing (`http::RequestParser`): heads, `Content-Length` and chunked bodies, on a
//! connection's bytes as they arrive. The same bytes must frame into the same requests (or
//! the same error) whether they arrive at once or in pieces of any size, and no body may
//! pass the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushgate::http::{Error, Limits, RequestParser, Status};

/// What the application would see of one request.
#[derive(Debug, PartialEq)]
struct Framed {
    method: String,
    target: String,
    minor: u8,
    headers: Vec<(String, String)>,
    keep_alive: bool,
    options: bool,
    body: Vec<u8>,
}

/// Feeds `input` in pieces of the sizes `pieces` gives, as a connection's reads arrive, and
/// frames requests as the server does: the unconsumed bytes are offered again with the next
/// read. Returns the requests and the error that ended the connection, if any.
fn frame(
    limits: Limits,
    input: &[u8],
    mut pieces: impl FnMut() -> usize,
) -> (Vec<Framed>, Option<Error>) {
    let mut parser = RequestParser::new(limits);
    let mut buf = Vec::new();
    let mut fed = 0;
    let mut requests = Vec::new();
    while fed < input.len() {
        let n = pieces().clamp(1, input.len() - fed);
        buf.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        loop {
            match parser.parse(&buf) {
                Err(e) => return (requests, Some(e)),
                Ok((Status::Partial, used)) => {
                    buf.drain(..used);
                    break;
                }
                Ok((Status::Complete, used)) => {
                    let body = parser.body(&buf).to_vec();
                    assert!(body.len() <= limits.max_body_bytes, "body past the limit");
                    requests.push(Framed {
                        method: parser.method().to_string(),
                        target: parser.target().to_string(),
                        minor: parser.minor_version(),
                        headers: parser.headers().to_vec(),
                        keep_alive: parser.keep_alive(),
                        options: parser.asks_server_options(),
                        body,
                    });
                    buf.drain(..used);
                    parser.reset();
                }
            }
        }
    }
    (requests, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((head, input)) = data.split_first_chunk::<3>() else {
        return;
    };
    // Small limits, so the fuzzer reaches them.
    let limits = Limits {
        max_header_bytes: 16 + usize::from(head[0]) * 4,
        max_body_bytes: usize::from(head[1]) * 2,
    };
    let whole = frame(limits, input, || usize::MAX);
    // Piece sizes from a small generator seeded by the input: 1 to 16 bytes a read.
    let mut state = u32::from(head[2]) | 0x100;
    let split = frame(limits, input, || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 16 + 1) as usize
    });
    assert_eq!(whole, split);
});
