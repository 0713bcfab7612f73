//! The few pieces of JSON the API writes, spelled the way Go's `encoding/json` and `fmt` spell
//! them, so responses match upstream byte for byte where values agree.
//!
//! - Strings escape `"`, `\`, control characters, and (HTML-safe, as Go does by default) `<`,
//!   `>`, `&`, U+2028 and U+2029, so a label value can never close a `<script>` or start markup
//!   wherever the JSON ends up.
//! - Floats are `fmt.Sprint(float64)`: the shortest `%g` form (`1e-07`, `1.5838723477166057e+09`,
//!   `+Inf`, `NaN`), which is also the exposition format's spelling, so they are copied from the
//!   store's rendered text (see `formats::lines`). Only what the text does not hold (native buckets) is
//!   spelled here, by [`float`].
//! - Times are RFC 3339 in UTC with the fraction trimmed of zeros, as Go marshals `time.Time`
//!   (the web UI's page writes them so too).

use crate::civil::civil_from_days;

/// Appends `s` as a JSON string, quotes included.
pub(super) fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let mut plain = 0;
    for (i, c) in s.char_indices() {
        let escaped: Option<&[u8]> = match c {
            '"' => Some(b"\\\""),
            '\\' => Some(b"\\\\"),
            '\n' => Some(b"\\n"),
            '\r' => Some(b"\\r"),
            '\t' => Some(b"\\t"),
            '<' => Some(b"\\u003c"),
            '>' => Some(b"\\u003e"),
            '&' => Some(b"\\u0026"),
            '\u{2028}' => Some(b"\\u2028"),
            '\u{2029}' => Some(b"\\u2029"),
            c if (c as u32) < 0x20 => Some(b""),
            _ => None,
        };
        let Some(escaped) = escaped else { continue };
        out.extend_from_slice(&s.as_bytes()[plain..i]);
        if escaped.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let b = c as u8;
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        } else {
            out.extend_from_slice(escaped);
        }
        plain = i + c.len_utf8();
    }
    out.extend_from_slice(&s.as_bytes()[plain..]);
    out.push(b'"');
}

/// Appends `v` (unquoted) as Go's `fmt.Sprint` spells it: the exposition format's spelling,
/// except that negative zero keeps its sign.
pub(super) fn float(out: &mut Vec<u8>, v: f64) {
    if v == 0.0 && v.is_sign_negative() {
        out.extend_from_slice(b"-0");
    } else {
        crate::formats::expose::write_float(out, v);
    }
}

/// Appends `"key":` (a comma before it unless `first`).
pub(super) fn key(out: &mut Vec<u8>, first: bool, k: &str) {
    if !first {
        out.push(b',');
    }
    string(out, k);
    out.push(b':');
}

/// Appends an object of string pairs, in the order given (callers sort, as Go sorts map keys).
pub(super) fn string_map<'a>(
    out: &mut Vec<u8>,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    out.push(b'{');
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        key(out, i == 0, k);
        string(out, v);
    }
    out.push(b'}');
}

/// Appends Unix seconds as a quoted RFC 3339 UTC time, e.g. `"2024-05-01T12:00:00.25Z"`.
pub(super) fn time(out: &mut Vec<u8>, unix: f64) {
    out.push(b'"');
    rfc3339(out, unix);
    out.push(b'"');
}

/// Appends Unix seconds as an RFC 3339 UTC time, e.g. `2024-05-01T12:00:00.25Z`.
/// Microsecond precision: an `f64` of today's Unix seconds holds no more.
pub(crate) fn rfc3339(out: &mut Vec<u8>, unix: f64) {
    let unix = if unix.is_finite() { unix } else { 0.0 };
    let mut micros = (unix * 1e6).round() as i64;
    let mut secs = micros.div_euclid(1_000_000);
    micros = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    secs = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let text = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    out.extend_from_slice(text.as_bytes());
    if micros > 0 {
        let frac = format!(".{micros:06}");
        out.extend_from_slice(frac.trim_end_matches('0').as_bytes());
    }
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_escape_like_go() {
        assert_eq!(s(|o| string(o, "plain")), r#""plain""#);
        assert_eq!(
            s(|o| string(o, "<script>\"a\\b\"&\n\t\u{1}\u{2028}é")),
            r#""\u003cscript\u003e\"a\\b\"\u0026\n\t\u0001\u2028é""#
        );
    }

    #[test]
    fn floats_as_go_prints_them() {
        for (v, want) in [
            (0.0, "0"),
            (-0.0, "-0"),
            (2.938735877055719e-39, "2.938735877055719e-39"),
            (1e6, "1e+06"),
            (-1024.0, "-1024"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "+Inf"),
        ] {
            assert_eq!(s(|o| float(o, v)), want);
        }
    }

    #[test]
    fn times() {
        assert_eq!(s(|o| time(o, 0.0)), r#""1970-01-01T00:00:00Z""#);
        assert_eq!(
            s(|o| time(o, 1_795_567_868.970_512)),
            r#""2026-11-25T00:51:08.970512Z""#
        );
        assert_eq!(
            s(|o| time(o, 951_782_400.25)),
            r#""2000-02-29T00:00:00.25Z""#
        );
        assert_eq!(s(|o| time(o, -1.0)), r#""1969-12-31T23:59:59Z""#);
    }
}
