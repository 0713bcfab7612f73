//! `Accept` and `Accept-Encoding` headers (`negotiate`). Whatever a scraper sends, the
//! `Content-Type` answered must itself negotiate to the same format and escaping, so a
//! client that echoes it back gets what it got.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushgate::http::negotiate::{format, is_delimited, Choice};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    // The two headers, split at the first NUL; a header value holds none.
    let (accept, encoding) = s.split_once('\0').unwrap_or((s, ""));
    let choice = Choice::from_headers(Some(accept), Some(encoding));
    let answered = choice.content_type();
    assert_eq!(
        format(Some(&answered)),
        (choice.format, choice.escaping),
        "{answered:?}"
    );
    let _ = is_delimited(accept);
});
