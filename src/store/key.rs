//! Grouping keys: parsing `/<job>{/<name>/<value>}` from a push URL into the sorted label set
//! that names a group, and the canonical string the store indexes groups by.
//!
//! Owns the URL rules of SPEC section 3 (splitting, percent-decoding, `@base64`, label-name
//! validation). With UTF-8 names a label name may be any non-empty string, given as it is or
//! `U__` escaped (`U__a_2e_b` is `a.b`), as upstream's `--push.enable-utf8-names` has it.
//! Knows nothing about routes or the store.

use std::borrow::Cow;

use crate::formats::model::{self, Label};
use crate::formats::names::{self, Validation};
use crate::formats::text::quote::quote_str;

/// Separates names and values in [`GroupingKey::canonical`]. Names and values may contain any
/// character, so this one and [`ESC`] are escaped inside them: two different label sets never
/// share a canonical string.
const SEP: char = '\u{ff}';
const ESC: char = '\\';

/// Most labels a grouping key may have, `job` included. Real keys have a handful; the bound
/// keeps what one URL can make every series of its group carry (and the log's label count,
/// a `u16`) small.
pub const MAX_LABELS: usize = 128;

/// Longest grouping-key part of a push path, still percent-encoded, in bytes (414 past it):
/// common proxies refuse request lines past 8 KiB anyway, and every series of the group
/// carries these labels.
pub const MAX_PATH_BYTES: usize = 16 * 1024;

/// The label set naming a group: `job` plus the URL's label pairs, sorted by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupingKey {
    pub labels: Vec<Label>,
}

/// Why a push URL was rejected; `status` is 400 or 404.
#[derive(Debug, PartialEq, Eq)]
pub struct KeyError {
    pub status: u16,
    pub reason: String,
}

fn bad(reason: String) -> KeyError {
    KeyError {
        status: 400,
        reason,
    }
}

impl GroupingKey {
    /// Parses the part of a push path after `/metrics/job` (or `/metrics/job@base64`, then
    /// `job_base64` is set), still percent-encoded, e.g. `/myjob/instance/host1`; label names
    /// must be legacy names.
    pub fn from_path(rest: &str, job_base64: bool) -> Result<GroupingKey, KeyError> {
        GroupingKey::from_path_with(rest, job_base64, Validation::Legacy)
    }

    /// [`GroupingKey::from_path`] with label names as `names` allows them.
    pub fn from_path_with(
        rest: &str,
        job_base64: bool,
        names: Validation,
    ) -> Result<GroupingKey, KeyError> {
        if rest.len() > MAX_PATH_BYTES {
            return Err(KeyError {
                status: 414,
                reason: format!(
                    "grouping key in the URL path is {} bytes long, at most {MAX_PATH_BYTES} are allowed",
                    rest.len()
                ),
            });
        }
        let rest = match rest.strip_prefix('/') {
            Some(r) if !r.is_empty() => r,
            _ => {
                return Err(KeyError {
                    status: 404,
                    // No route has a path without a job: the router's own answer.
                    reason: "404 page not found".into(),
                });
            }
        };
        let mut parts: Vec<&str> = rest.split('/').collect();
        let job_raw = parts.remove(0);
        // A slash right after the job is an empty label string, as upstream has it; after a
        // label value it starts another pair, which is then incomplete.
        if parts == [""] {
            parts.clear();
        }
        // `a//b` would read as an empty value and a shifted pair, a grouping the client did
        // not mean (upstream redirects to the cleaned path and stores nothing).
        if parts[..parts.len().saturating_sub(1)].contains(&"") {
            return Err(bad(format!(
                "empty segment in label string {:?}; an empty label value is written as \
                 <name>@base64/=",
                format!("/{}", parts.join("/"))
            )));
        }
        if parts.len() % 2 == 1 {
            return Err(bad(format!(
                "odd number of components in label string {:?}",
                format!("/{}", parts.join("/"))
            )));
        }
        if parts.len() / 2 + 1 > MAX_LABELS {
            return Err(bad(format!(
                "{} labels in the URL path, at most {MAX_LABELS} are allowed",
                parts.len() / 2 + 1
            )));
        }
        let job = decode_value(job_raw, job_base64, Decoded::Job)?;
        if job.is_empty() {
            return Err(bad("job name is required".into()));
        }
        let mut labels = vec![Label::new("job", job)];
        for pair in parts.chunks(2) {
            let name = percent_decode(pair[0]).ok_or_else(|| {
                bad(format!(
                    "invalid percent-encoding in label name {:?}",
                    pair[0]
                ))
            })?;
            let (given, base64) = match name.strip_suffix("@base64") {
                Some(n) => (n, true),
                None => (name.as_str(), false),
            };
            let name = match names {
                Validation::Legacy => given.to_string(),
                Validation::Utf8 => names::unescape_values(given).into_owned(),
            };
            // Upstream checks the reserved prefix on the name as given only; an escaped
            // `__` name would be just as reserved once unescaped.
            if !names.is_valid_label_name(&name)
                || given.starts_with("__")
                || name.starts_with("__")
            {
                return Err(bad(format!("improper label name {given:?}")));
            }
            let value = decode_value(pair[1], base64, Decoded::Label(given))?;
            labels.push(Label::new(name, value));
        }
        // Sorted, a repeated name is next to itself: no pairwise comparisons.
        model::sort_by_name(&mut labels);
        if let Some(w) = labels.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(bad(format!(
                "repeated label name {:?} in the URL path",
                w[0].name
            )));
        }
        Ok(GroupingKey { labels })
    }

    /// The string the store indexes this group by: every name and value, in order, separated
    /// by a byte that cannot occur in them.
    pub fn canonical(&self) -> String {
        let mut s = String::new();
        for l in &self.labels {
            push_canonical(&mut s, l);
        }
        s
    }

    /// The label set back from [`GroupingKey::canonical`].
    pub fn from_canonical(s: &str) -> GroupingKey {
        GroupingKey {
            labels: canonical_pairs(s)
                .map(|(n, v)| Label::new(n.into_owned(), v.into_owned()))
                .collect(),
        }
    }
}

/// The `(name, value)` pairs of a canonical key string, in order; borrowed unless a name or
/// value had to be escaped.
pub fn canonical_pairs(s: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    let mut rest = s;
    let mut field = move || {
        let mut escaped = false;
        let mut end = None;
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                ESC => {
                    escaped = true;
                    chars.next();
                }
                SEP => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end?;
        let raw = &rest[..end];
        rest = &rest[end + SEP.len_utf8()..];
        Some(if escaped {
            let mut out = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                out.push(if c == ESC {
                    chars.next().unwrap_or(ESC)
                } else {
                    c
                });
            }
            Cow::Owned(out)
        } else {
            Cow::Borrowed(raw)
        })
    };
    std::iter::from_fn(move || Some((field()?, field()?)))
}

/// Appends one label to a canonical key string (labels must be appended in name order).
pub fn push_canonical(s: &mut String, l: &Label) {
    push_canonical_pair(s, &l.name, &l.value);
}

/// [`push_canonical`] for a label given as its name and value.
pub fn push_canonical_pair(s: &mut String, name: &str, value: &str) {
    push_escaped(s, name);
    s.push(SEP);
    push_escaped(s, value);
    s.push(SEP);
}

fn push_escaped(s: &mut String, v: &str) {
    if !v.contains([SEP, ESC]) {
        s.push_str(v);
        return;
    }
    for c in v.chars() {
        if c == SEP || c == ESC {
            s.push(ESC);
        }
        s.push(c);
    }
}

/// What a URL value is, for the errors about it.
#[derive(Clone, Copy)]
enum Decoded<'a> {
    Job,
    /// A label, by its name as given (before `@base64` and unescaping).
    Label(&'a str),
}

fn decode_value(raw: &str, base64: bool, what: Decoded<'_>) -> Result<String, KeyError> {
    let text = percent_decode(raw).ok_or_else(|| {
        bad(match what {
            Decoded::Job => format!("invalid percent-encoding in job name {raw:?}"),
            Decoded::Label(name) => format!("invalid percent-encoding in label {name}={raw:?}"),
        })
    })?;
    if !base64 {
        return Ok(text);
    }
    // Worded as upstream words it: scripts grep for these.
    let bytes = base64_decode(&text, *b"-_").map_err(|e| {
        bad(match what {
            Decoded::Job => format!(
                "invalid base64 encoding in job name {}: illegal base64 data at input byte {}",
                quote_str(&e.decoded),
                e.at
            ),
            Decoded::Label(name) => format!(
                "invalid base64 encoding for label {name}={}: illegal base64 data at input byte {}",
                quote_str(text.as_bytes()),
                e.at
            ),
        })
    })?;
    String::from_utf8(bytes).map_err(|_| {
        bad(match what {
            Decoded::Job => "base64 value of the job name is not valid UTF-8".into(),
            Decoded::Label(name) => format!("base64 value for label {name} is not valid UTF-8"),
        })
    })
}

/// Decodes `%XX` escapes; `+` stays literal (this is a path, not a form). `None` on a broken
/// escape or a result that is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Base64 that could not be decoded: where, and what the quanta before it decoded to.
#[derive(Debug, PartialEq)]
pub(crate) struct Base64Error {
    pub(crate) at: usize,
    pub(crate) decoded: Vec<u8>,
}

/// RFC 4648 base64 whose 63rd and 64th digits are `last` (`-_` for the URL- and filename-safe
/// alphabet of §5, `+/` for §4's), decoded as Go's `RawURLEncoding.DecodeString` does after
/// trailing `=` are trimmed (what upstream does with URL values): CR and LF are skipped, a
/// quantum of one digit is an error, leftover bits are ignored; `=` alone is empty. An error
/// tells where, and keeps what the whole quanta before it decoded to, as Go's does.
pub(crate) fn base64_decode(s: &str, last: [u8; 2]) -> Result<Vec<u8>, Base64Error> {
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut quantum = [0u8; 4];
    let mut have = 0;
    for (i, &c) in s.iter().enumerate() {
        quantum[have] = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'\r' | b'\n' => continue,
            _ if c == last[0] => 62,
            _ if c == last[1] => 63,
            _ => {
                return Err(Base64Error {
                    at: i,
                    decoded: out,
                })
            }
        };
        have += 1;
        if have == 4 {
            push_quantum(&mut out, &quantum, 4);
            have = 0;
        }
    }
    match have {
        0 => Ok(out),
        1 => Err(Base64Error {
            at: s.len() - 1,
            decoded: out,
        }),
        n => {
            push_quantum(&mut out, &quantum, n);
            Ok(out)
        }
    }
}

/// Appends the `n - 1` bytes that the first `n` (2 to 4) digits of `q` hold.
fn push_quantum(out: &mut Vec<u8>, q: &[u8; 4], n: usize) {
    let v = q[..n]
        .iter()
        .fold(0u32, |acc, &d| (acc << 6) | u32::from(d))
        << (6 * (4 - n));
    out.extend_from_slice(&v.to_be_bytes()[1..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(rest: &str, b64: bool) -> Result<Vec<(String, String)>, (u16, String)> {
        GroupingKey::from_path(rest, b64)
            .map(|k| k.labels.into_iter().map(|l| (l.name, l.value)).collect())
            .map_err(|e| (e.status, e.reason))
    }

    fn ok(pairs: &[(&str, &str)]) -> Result<Vec<(String, String)>, (u16, String)> {
        Ok(pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect())
    }

    #[test]
    fn accepted_paths() {
        type Case<'a> = (&'a str, bool, &'a [(&'a str, &'a str)]);
        let table: &[Case] = &[
            ("/j", false, &[("job", "j")]),
            ("/j/", false, &[("job", "j")]),
            ("/j/b/x/a/y", false, &[("a", "y"), ("b", "x"), ("job", "j")]),
            ("/j/a/", false, &[("a", ""), ("job", "j")]),
            ("/j/path/a%2Fb+c", false, &[("job", "j"), ("path", "a/b+c")]),
            ("/Zm9vL2Jhcg", true, &[("job", "foo/bar")]),
            ("/Zm9vL2Jhcg==", true, &[("job", "foo/bar")]),
            ("/j/v@base64/=", false, &[("job", "j"), ("v", "")]),
            ("/j/v@base64/Pz8-", false, &[("job", "j"), ("v", "??>")]),
            ("/j/v@base64/Pz8_", false, &[("job", "j"), ("v", "???")]),
            // Leftover bits are ignored and line breaks skipped, as Go's decoder does.
            ("/j/v@base64/YR", false, &[("job", "j"), ("v", "a")]),
            ("/j/v@base64/YW%0AJj", false, &[("job", "j"), ("v", "abc")]),
        ];
        for &(rest, b64, want) in table {
            assert_eq!(key(rest, b64), ok(want), "{rest}");
        }
    }

    #[test]
    fn rejected_paths() {
        let table: &[(&str, bool, u16, &str)] = &[
            ("", false, 404, "404 page not found"),
            ("/", false, 404, "404 page not found"),
            ("//a/b", false, 400, "job name is required"),
            ("/=", true, 400, "job name is required"),
            ("/j/a", false, 400, "odd number"),
            ("/j/a/b/c", false, 400, "odd number"),
            (
                "/j/a/b//",
                false,
                400,
                "empty segment in label string \"/a/b//\"",
            ),
            (
                "/j/path//var/tmp",
                false,
                400,
                "empty segment in label string \"/path//var/tmp\"",
            ),
            ("/j//x/y", false, 400, "empty segment"),
            (
                "/j/a/1/",
                false,
                400,
                "odd number of components in label string \"/a/1/\"",
            ),
            ("/j/a%2Fb/c", false, 400, "improper label name"),
            ("/j/1a/b", false, 400, "improper label name"),
            ("/j/__a/b", false, 400, "improper label name"),
            ("/j/a-b/c", false, 400, "improper label name"),
            ("/j/job/x", false, 400, "repeated label name"),
            ("/j/a/x/a/y", false, 400, "repeated label name"),
            ("/j/a@base64/_w", false, 400, "not valid UTF-8"),
            ("/j/a/%zz", false, 400, "percent-encoding"),
            ("/j/a/%ff", false, 400, "percent-encoding"),
        ];
        for &(rest, b64, status, reason) in table {
            let (s, r) = key(rest, b64).unwrap_err();
            assert_eq!(s, status, "{rest}");
            assert!(r.contains(reason), "{rest}: {r}");
        }
    }

    #[test]
    fn base64_errors_say_what_upstream_says() {
        for (rest, b64, reason) in [
            ("/j/a@base64/!!", false, "invalid base64 encoding for label a=\"!!\": illegal base64 data at input byte 0"),
            ("/j/a@base64/A", false, "invalid base64 encoding for label a=\"A\": illegal base64 data at input byte 0"),
            ("/j/a@base64/YWJjZA=x", false, "invalid base64 encoding for label a=\"YWJjZA=x\": illegal base64 data at input byte 6"),
            ("/@@", true, "invalid base64 encoding in job name \"\": illegal base64 data at input byte 0"),
            ("/YWJj@", true, "invalid base64 encoding in job name \"abc\": illegal base64 data at input byte 4"),
            ("/YWJjZ", true, "invalid base64 encoding in job name \"abc\": illegal base64 data at input byte 4"),
        ] {
            assert_eq!(key(rest, b64), Err((400, reason.to_string())), "{rest}");
        }
    }

    #[test]
    fn keys_are_bounded() {
        let labels = |n: usize| (1..n).map(|i| format!("/l{i}/v")).collect::<String>();
        let most = format!("/j{}", labels(MAX_LABELS));
        assert_eq!(key(&most, false).unwrap().len(), MAX_LABELS);
        let (status, reason) = key(&format!("/j{}", labels(MAX_LABELS + 1)), false).unwrap_err();
        assert_eq!(status, 400);
        assert_eq!(
            reason,
            format!(
                "{} labels in the URL path, at most 128 are allowed",
                MAX_LABELS + 1
            )
        );
        let long = format!("/j/a/{}", "v".repeat(MAX_PATH_BYTES - 5));
        assert_eq!(long.len(), MAX_PATH_BYTES);
        assert!(key(&long, false).is_ok());
        let (status, reason) = key(&format!("{long}v"), false).unwrap_err();
        assert_eq!(status, 414);
        assert!(
            reason.contains("16385 bytes long, at most 16384"),
            "{reason}"
        );
        // A repeated name is found however far apart the two are.
        let repeated = format!("/j/dup/1{}/dup/2", labels(100));
        assert_eq!(
            key(&repeated, false),
            Err((400, "repeated label name \"dup\" in the URL path".into()))
        );
    }

    #[test]
    fn utf8_label_names() {
        let utf8 = |rest: &str| {
            GroupingKey::from_path_with(rest, false, Validation::Utf8)
                .map(|k| k.labels.into_iter().map(|l| (l.name, l.value)).collect())
                .map_err(|e| (e.status, e.reason))
        };
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)]);
        let accepted: &[Case] = &[
            ("/j/U__a_2e_b/v", &[("a.b", "v"), ("job", "j")]),
            ("/j/U__a_2E_b@base64/dg", &[("a.b", "v"), ("job", "j")]),
            ("/j/a.b/v", &[("a.b", "v"), ("job", "j")]),
            ("/j/%C3%BC/v", &[("job", "j"), ("ü", "v")]),
            ("/j/a%20b/v", &[("a b", "v"), ("job", "j")]),
            ("/j/1a/v", &[("1a", "v"), ("job", "j")]),
            ("/j/U__1a/v", &[("1a", "v"), ("job", "j")]),
            // Malformed escapes stay as they are, as upstream's UnescapeName leaves them.
            ("/j/U__a_2e/v", &[("U__a_2e", "v"), ("job", "j")]),
            ("/j/U__a__b/v", &[("a_b", "v"), ("job", "j")]),
        ];
        for &(rest, want) in accepted {
            assert_eq!(utf8(rest), ok(want), "{rest}");
        }
        for (rest, reason) in [
            ("/j/U__/v", "improper label name \"U__\""),
            ("/j//v", "empty segment in label string \"//v\"; an empty label value is written as <name>@base64/="),
            ("/j/__a/v", "improper label name \"__a\""),
            ("/j/U_____5f_a/v", "improper label name \"U_____5f_a\""),
            ("/j/U__job/v", "repeated label name \"job\" in the URL path"),
            (
                "/j/a.b/v/U__a_2e_b/w",
                "repeated label name \"a.b\" in the URL path",
            ),
        ] {
            assert_eq!(utf8(rest), Err((400, reason.to_string())), "{rest}");
        }
        // Without UTF-8 names, an escaped name is just a legacy name and a dot is refused.
        assert_eq!(
            key("/j/U__a_2e_b/v", false),
            ok(&[("U__a_2e_b", "v"), ("job", "j")])
        );
        assert!(key("/j/a.b/v", false).is_err());
    }

    #[test]
    fn canonical_round_trip_and_uniqueness() {
        let a = GroupingKey::from_path("/j/a/x/b/y", false).unwrap();
        let b = GroupingKey::from_path("/j/a/xb/y", false);
        assert!(b.is_err());
        let c = GroupingKey::from_path("/j/a/x%ffb", false);
        assert!(c.is_err(), "non-UTF-8 never reaches the canonical form");
        assert_eq!(GroupingKey::from_canonical(&a.canonical()), a);
        // Values holding the separator or the escape character still round-trip, and stay
        // apart from label sets they could otherwise be confused with.
        let tricky = GroupingKey::from_path("/j/v/a%C3%BFb%5C/w/%C3%BF", false).unwrap();
        assert_eq!(GroupingKey::from_canonical(&tricky.canonical()), tricky);
        let other = GroupingKey::from_path("/j/v/a/b%5C/w", false);
        assert!(other.is_err() || other.unwrap().canonical() != tricky.canonical());
        let d = GroupingKey::from_path("/j/a/", false).unwrap();
        assert_ne!(
            d.canonical(),
            GroupingKey::from_path("/j", false).unwrap().canonical()
        );
    }
}
