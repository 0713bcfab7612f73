//! Metric and label names beyond the legacy character set: which names a push may use
//! ([`Validation`], set by `--push.enable-utf8-names`), the `U__` escape that lets such a name
//! travel in a URL path ([`unescape_values`]), and the escapings a scraper can ask for in its
//! `Accept` header's `escaping=` parameter ([`Escaping`], [`escape`]).
//!
//! The reference is prometheus/common's `model` package (`ValidationScheme`, `EscapeName`,
//! `UnescapeName`). How a name is spelled in the text format (bare or quoted) is `expose`'s
//! business; parsing quoted names is `text`'s.
//!
//! The value escaping (`values`), written out:
//! 1. A name that is a legacy metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) stays as it is.
//! 2. Any other name gets the prefix `U__`; then each `_` becomes `__`, each character of the
//!    legacy set stays, and every other character becomes `_`, its code point in lowercase hex
//!    without padding, `_` (`.` is `_2e_`, `😱` is `_1f631_`).
//! 3. Unescaping undoes 2 (hex digits in either case) and returns the name untouched when it
//!    does not start with `U__` or anything after the prefix is malformed: a lone `_`, a code
//!    of more than five hex digits, a non-hex digit, a surrogate or a code past U+10FFFF.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::formats::model::{is_valid_label_name, is_valid_metric_name};

/// Which metric and label names pushes may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Validation {
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*` for metrics, `[a-zA-Z_][a-zA-Z0-9_]*` for labels.
    #[default]
    Legacy,
    /// Any non-empty UTF-8 string (a `&str` is UTF-8 already).
    Utf8,
}

impl Validation {
    pub fn is_valid_metric_name(self, name: &str) -> bool {
        match self {
            Validation::Legacy => is_valid_metric_name(name),
            Validation::Utf8 => !name.is_empty(),
        }
    }

    pub fn is_valid_label_name(self, name: &str) -> bool {
        match self {
            Validation::Legacy => is_valid_label_name(name),
            Validation::Utf8 => !name.is_empty(),
        }
    }
}

/// How names outside the legacy character set are shown to a scraper, as its `Accept` header
/// asks with `escaping=<scheme>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Escaping {
    /// `allow-utf-8`: names as they are (the text format quotes them).
    AllowUtf8,
    /// `underscores`: every character outside the legacy set becomes `_`. The default: what
    /// upstream serves a scraper whose `Accept` names no scheme, or one it does not know.
    #[default]
    Underscores,
    /// `dots`: `.` becomes `_dot_`, `_` becomes `__`, any other character outside the legacy
    /// set becomes `__`.
    Dots,
    /// `values`: the `U__` encoding of the module doc.
    Values,
}

impl Escaping {
    /// The scheme an `escaping=` parameter names; `None` for an unknown one.
    pub fn from_param(value: &str) -> Option<Escaping> {
        Some(match value {
            "allow-utf-8" => Escaping::AllowUtf8,
            "underscores" => Escaping::Underscores,
            "dots" => Escaping::Dots,
            "values" => Escaping::Values,
            _ => return None,
        })
    }

    /// The parameter value naming this scheme, for a response's `Content-Type`.
    pub fn as_param(self) -> &'static str {
        match self {
            Escaping::AllowUtf8 => "allow-utf-8",
            Escaping::Underscores => "underscores",
            Escaping::Dots => "dots",
            Escaping::Values => "values",
        }
    }
}

/// A metric or label name as an exposition escaped with `scheme` shows it: borrowed and
/// unchanged for a legacy metric name (under every scheme, as upstream's exposition only
/// escapes the names that need it) and for [`Escaping::AllowUtf8`]; otherwise what upstream's
/// `EscapeName` makes of it.
///
/// Upstream judges label names by the metric-name rule here too, so a label name with `:` stays
/// as it is. Unlike `EscapeName` itself, [`Escaping::Dots`] leaves legacy names alone (it would
/// double their underscores), which is what upstream's exposition does as well.
pub fn escape(name: &str, scheme: Escaping) -> Cow<'_, str> {
    if scheme == Escaping::AllowUtf8 || name.is_empty() || is_valid_metric_name(name) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    if scheme == Escaping::Values {
        out.push_str("U__");
    }
    for (i, c) in name.char_indices() {
        let legacy =
            c.is_ascii_alphabetic() || c == '_' || c == ':' || (c.is_ascii_digit() && i > 0);
        match scheme {
            Escaping::Underscores => out.push(if legacy { c } else { '_' }),
            Escaping::Dots | Escaping::Values if c == '_' => out.push_str("__"),
            Escaping::Dots if c == '.' => out.push_str("_dot_"),
            Escaping::Dots if !legacy => out.push_str("__"),
            Escaping::Values if !legacy => {
                write!(out, "_{:x}_", u32::from(c)).expect("writing to a String cannot fail");
            }
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Undoes the `U__` value escaping (module doc, rule 3); anything that is not a well-formed
/// escape comes back unchanged, as upstream's `UnescapeName` does.
pub fn unescape_values(name: &str) -> Cow<'_, str> {
    let Some(escaped) = name.strip_prefix("U__") else {
        return Cow::Borrowed(name);
    };
    match decode_values(escaped) {
        Some(unescaped) => Cow::Owned(unescaped),
        None => Cow::Borrowed(name),
    }
}

fn decode_values(escaped: &str) -> Option<String> {
    let mut out = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        let mut code = 0u32;
        let mut digits = 0;
        loop {
            match chars.next()? {
                '_' if digits == 0 => {
                    out.push('_');
                    break;
                }
                '_' => {
                    out.push(char::from_u32(code)?);
                    break;
                }
                // At most five digits, as upstream: U+10000 and above need the sixth only
                // past U+FFFFF, and upstream refuses those too.
                _ if digits == 5 => return None,
                d => {
                    code = code * 16 + d.to_digit(16)?;
                    digits += 1;
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// prometheus/common's `TestEscapeName` scenarios: input, underscores, dots, values.
    const UPSTREAM: &[(&str, &str, &str, &str)] = &[
        ("", "", "", ""),
        (
            "mysystem.prod.west.cpu.load",
            "mysystem_prod_west_cpu_load",
            "mysystem_dot_prod_dot_west_dot_cpu_dot_load",
            "U__mysystem_2e_prod_2e_west_2e_cpu_2e_load",
        ),
        (
            "mysystem.prod.west.cpu.load_total",
            "mysystem_prod_west_cpu_load_total",
            "mysystem_dot_prod_dot_west_dot_cpu_dot_load__total",
            "U__mysystem_2e_prod_2e_west_2e_cpu_2e_load__total",
        ),
        (
            "http.status:sum",
            "http_status:sum",
            "http_dot_status:sum",
            "U__http_2e_status:sum",
        ),
        (
            "label with 😱",
            "label_with__",
            "label__with____",
            "U__label_20_with_20__1f631_",
        ),
        ("花火", "__", "____", "U___82b1__706b_"),
        (
            "label with \u{100}",
            "label_with__",
            "label__with____",
            "U__label_20_with_20__100_",
        ),
    ];

    #[test]
    fn escapes_as_upstream() {
        for &(name, underscores, dots, values) in UPSTREAM {
            assert_eq!(escape(name, Escaping::AllowUtf8), name);
            assert_eq!(escape(name, Escaping::Underscores), underscores, "{name}");
            assert_eq!(escape(name, Escaping::Dots), dots, "{name}");
            assert_eq!(escape(name, Escaping::Values), values, "{name}");
            assert_eq!(unescape_values(values), name, "{values}");
        }
        // A digit first is outside the legacy set; later it is not.
        assert_eq!(escape("1a.1", Escaping::Values), "U___31_a_2e_1");
        assert_eq!(unescape_values("U___31_a_2e_1"), "1a.1");
    }

    #[test]
    fn legacy_names_are_borrowed_unchanged() {
        for scheme in [
            Escaping::AllowUtf8,
            Escaping::Underscores,
            Escaping::Dots,
            Escaping::Values,
        ] {
            for name in ["no:escaping_required", "a", "_", "U__x_2e_y"] {
                assert!(matches!(escape(name, scheme), Cow::Borrowed(n) if n == name));
            }
        }
    }

    /// prometheus/common's `TestValueUnescapeErrors` scenarios: malformed escapes come back
    /// unchanged.
    #[test]
    fn unescapes_as_upstream() {
        for (input, want) in [
            ("", ""),
            ("no_prefix.at.all", "no_prefix.at.all"),
            ("U__no:unescapingrequired", "no:unescapingrequired"),
            ("U__capitals_2E_ok", "capitals.ok"),
            ("U__underscores__doubled__", "underscores_doubled_"),
            ("U__underscores_doubled_", "U__underscores_doubled_"),
            ("U__underscores__doubled_", "U__underscores__doubled_"),
            (
                "U__my__hack_2e_attempt_872348732fabdabbab_",
                "U__my__hack_2e_attempt_872348732fabdabbab_",
            ),
            ("U__my__hack_2e", "U__my__hack_2e"),
            ("U__bad__utf_2eg_", "U__bad__utf_2eg_"),
            ("U__bad__utf_D900_", "U__bad__utf_D900_"),
            ("U___10ffff_", "U___10ffff_"),
            ("U___fffff_", "\u{fffff}"),
            ("U__", ""),
        ] {
            assert_eq!(unescape_values(input), want, "{input}");
        }
    }

    #[test]
    fn params_and_validation() {
        for scheme in [
            Escaping::AllowUtf8,
            Escaping::Underscores,
            Escaping::Dots,
            Escaping::Values,
        ] {
            assert_eq!(Escaping::from_param(scheme.as_param()), Some(scheme));
        }
        assert_eq!(Escaping::from_param("Values"), None);
        assert_eq!(Escaping::default(), Escaping::Underscores);
        assert!(!Validation::Legacy.is_valid_metric_name("a.b"));
        assert!(Validation::Utf8.is_valid_metric_name("a.b"));
        assert!(!Validation::Utf8.is_valid_metric_name(""));
        assert!(!Validation::Legacy.is_valid_label_name("a:b"));
        assert!(Validation::Utf8.is_valid_label_name("a:b"));
        assert!(!Validation::Utf8.is_valid_label_name(""));
    }
}
