//! Go's quoting, as the Go parser's error messages show names, values and bytes: `%q` of a
//! string or a byte, and `strings.ToUpper` for type names.

/// Go's `strings.ToUpper`: per code point, simple mappings only (so `ſ` becomes `S`, but a
/// ligature that would expand stays as it is), invalid UTF-8 becomes U+FFFD.
pub(super) fn go_to_upper(s: &[u8]) -> String {
    String::from_utf8_lossy(s)
        .chars()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

/// Go's `%q` of a byte: a single-quoted character literal of the code point with that number.
pub(super) fn quote_byte(b: u8) -> String {
    let c = char::from(b);
    let mut out = String::from("'");
    if c == '\'' {
        out.push_str("\\'");
    } else {
        push_go_escaped(&mut out, c);
    }
    out.push('\'');
    out
}

/// Go's `strconv.Quote` (`%q` of a string), including `\x` escapes for invalid UTF-8.
pub(crate) fn quote_str(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '"' {
                out.push_str("\\\"");
            } else {
                push_go_escaped(&mut out, c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

fn push_go_escaped(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if is_go_printable(c) => out.push(c),
        c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// An approximation of Go's `strconv.IsPrint` without Unicode category tables: exact for
/// ASCII and Latin-1, close enough elsewhere for an error message.
fn is_go_printable(c: char) -> bool {
    if c.is_ascii() {
        return c == ' ' || c.is_ascii_graphic();
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
            | '\u{e000}'..='\u{f8ff}'))
}
