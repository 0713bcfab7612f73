//! Parsing of the Prometheus text exposition format 0.0.4 into [`MetricFamily`] values.
//!
//! This module owns the syntax: comments, `# HELP`/`# TYPE`, samples, escapes, floats, and the
//! way summary and histogram lines are folded into one [`Metric`] per label set. Its reference is
//! the upstream Pushgateway, i.e. Go's `expfmt.TextParser` (prometheus/common before UTF-8 names):
//! what it accepts we accept, what it rejects we reject at the same line with the same reason.
//!
//! It does not own what happens next: whether the families are consistent with the store,
//! grouping-key labels, the "no timestamps in pushes" policy (a timestamp is parsed and kept so
//! the store can refuse it), dropping empty families, or sorting.
//!
//! Rules worth knowing, all taken from the Go parser:
//! 1. Every line, the last one included, ends in LF; a body cut short anywhere else is
//!    "unexpected end of input stream". Trailing blanks after the last LF are fine.
//! 2. Only space and tab separate tokens. CR is an ordinary byte, so CRLF bodies fail on the
//!    first value, TYPE or timestamp that ends in CR, while CR inside HELP, a comment or a label
//!    value is kept.
//! 3. A line belongs to the family of its exact name if that exists; otherwise `x_sum` and
//!    `x_count` belong to an earlier family `x` declared summary or histogram (and `x_bucket`
//!    to a histogram `x`), wherever `x` appeared; otherwise the line starts a new family.
//!    HELP and TYPE lines resolve names the same way.
//! 4. Summary and histogram lines with the same labels (ignoring order, `quantile`/`le`
//!    excluded) make one [`Metric`], adjacent or not. A `quantile`/`le` of NaN adds nothing.
//!
//! Deliberate differences from Go, where copying it would store garbage:
//! - `# TYPE x gauge_histogram` is an unknown type (Go accepts it, then loses the samples).
//! - `_count` and bucket counts convert to `u64` with Rust's saturating `as` (Go on amd64
//!   wraps -1 to 2^64-1 and sends NaN and overflow to 2^63).
//! - HELP text that is not UTF-8 keeps U+FFFD in place of the bad bytes.
//!
//! With UTF-8 names ([`Validation::Utf8`], `--push.enable-utf8-names`) the parser reads names
//! as Go's parser does with UTF-8 validation (prometheus/common's current `TextParser`):
//! 5. A metric or label name may be quoted: `"my.metric"`, `"label.with.dots"="v"`, also in
//!    HELP and TYPE lines. Inside the quotes any byte goes, `\\`, `\"` and `\n` are escapes,
//!    an unescaped LF is an error. Quotes may also close and reopen within a name
//!    (`a"b.c"` is `ab.c`), because Go toggles on every quote.
//! 6. A line may start with `{`, the metric name being the first item inside the braces:
//!    `{"my.metric",a="b"} 1`. Go also accepts the name after some labels, but then decides
//!    about `quantile` and `le` by the previous line's family; here the name must come first.
//! 7. Names must be non-empty and valid UTF-8 instead of legacy names. Without UTF-8 names the
//!    parser is the one before UTF-8 names, unchanged: no quotes, no braces-first lines.

use std::borrow::Cow;
use std::collections::hash_map::{Entry, HashMap};
use std::collections::HashSet;
use std::fmt;
use std::hash::BuildHasher;

mod lex;
pub(crate) mod quote;

use crate::formats::model::{Label, Metric, MetricFamily, MetricType, Value};
use crate::formats::names::Validation;
use crate::order;
use lex::{is_blank, name_string, parse_float};
use quote::{go_to_upper, quote_byte, quote_str};

/// Why a body was rejected, in the words of Go's `expfmt.ParseError`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "text format parsing error in line {}: {}",
            self.line, self.reason
        )
    }
}

impl std::error::Error for ParseError {}

/// Parses a whole text-format body with legacy names. Families come out in the order their
/// names were first seen (by a sample, HELP or TYPE line); families without samples are
/// included.
pub fn parse(body: &[u8]) -> Result<Vec<MetricFamily>, ParseError> {
    parse_with(body, Validation::Legacy)
}

/// [`parse`] with names as `names` allows them.
pub fn parse_with(body: &[u8], names: Validation) -> Result<Vec<MetricFamily>, ParseError> {
    let mut parser = Parser {
        utf8: names == Validation::Utf8,
        buf: body,
        text: std::str::from_utf8(body).ok(),
        pos: 0,
        line: 0,
        families: Vec::new(),
        by_name: HashMap::new(),
        last_family: usize::MAX,
        groups: HashMap::new(),
        last_group: (usize::MAX, 0),
        scratch: Vec::new(),
        label_names: Vec::new(),
        label_set: HashSet::new(),
        pairs: Vec::new(),
    };
    parser.run()?;
    Ok(parser
        .families
        .into_iter()
        .map(|f| MetricFamily {
            name: name_string(&f.name),
            help: f.help,
            mtype: f.mtype.unwrap_or(MetricType::Untyped),
            metrics: f.metrics,
        })
        .collect())
}

/// Below this many families a linear scan beats hashing (and allocating the map).
const LINEAR_FAMILIES: usize = 16;
/// Above this many labels on one line, duplicate names are found with a set, not a scan.
const LINEAR_LABELS: usize = 16;

/// A name as read: borrowed from the body, unless quotes or escapes had to be taken out.
type Name<'a> = Cow<'a, [u8]>;

struct Family<'a> {
    name: Name<'a>,
    help: Option<String>,
    /// `None` until a TYPE line or the first sample; Go tells "no TYPE yet" apart this way.
    mtype: Option<MetricType>,
    metrics: Vec<Metric>,
}

/// What a sample line contributes to a summary or histogram, decided by its name's suffix.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Plain,
    Count,
    Sum,
}

/// Which kind of name a token is: metric names may also hold `:`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameKind {
    Metric,
    Label,
}

struct Parser<'a> {
    /// Whether names may be quoted and hold any UTF-8 (rules 5-7).
    utf8: bool,
    buf: &'a [u8],
    /// The body as text when it is all UTF-8 (as it nearly always is), so label values are
    /// cut from it without checking each one again.
    text: Option<&'a str>,
    /// Index of the byte being looked at; `buf.len()` means end of input.
    pos: usize,
    line: usize,
    families: Vec<Family<'a>>,
    /// Filled only once there are more than `LINEAR_FAMILIES` families.
    by_name: HashMap<Name<'a>, usize>,
    /// The family the previous line resolved to: consecutive lines usually share it.
    last_family: usize,
    /// Summary/histogram grouping: (family, hash of the label set) -> index in its metrics.
    /// Only the first label set with a given hash is recorded; collisions fall back to a scan.
    groups: HashMap<(usize, u64), usize>,
    /// The (family, metric) the previous summary/histogram line went to: a series' lines
    /// usually follow each other.
    last_group: (usize, usize),
    /// Reused for label values and HELP texts that contain escapes.
    scratch: Vec<u8>,
    /// The label names of the current line, for the duplicate check; the set is used only
    /// for lines with many labels.
    label_names: Vec<Name<'a>>,
    label_set: HashSet<Name<'a>>,
    /// The current line's label pairs (but a summary's or histogram's bound), borrowed from
    /// the body where they need no unescaping: a summary's or histogram's line that repeats
    /// the series of the line before is then read without copying them.
    pairs: Vec<(Name<'a>, Cow<'a, str>)>,
}

impl<'a> Parser<'a> {
    fn run(&mut self) -> Result<(), ParseError> {
        loop {
            self.line += 1;
            // End of input is only legitimate here, before anything but blanks on a line.
            let Some(first) = self.skip_blanks_or_end() else {
                return Ok(());
            };
            match first {
                b'\n' => self.pos += 1,
                b'#' => self.comment()?,
                _ => self.sample()?,
            }
        }
    }

    /// `#` lines: HELP and TYPE are read, anything else is skipped. On return `pos` is past
    /// the line's LF.
    fn comment(&mut self) -> Result<(), ParseError> {
        if self.next_skip_blanks()? == b'\n' {
            self.pos += 1;
            return Ok(());
        }
        let keyword = self.token_until_space()?;
        let is_help = keyword == b"HELP";
        if self.buf[self.pos] == b'\n' || !(is_help || keyword == b"TYPE") {
            self.rest_of_line()?;
            self.pos += 1;
            return Ok(());
        }
        self.skip_blanks()?;
        let name = self.name(NameKind::Metric)?;
        match self.buf[self.pos] {
            // `# HELP name` with nothing after it is not an error and declares nothing.
            b'\n' => {
                self.pos += 1;
                return Ok(());
            }
            b if !is_blank(b) => return Err(self.error("invalid metric name in comment")),
            _ => {}
        }
        // The family exists from here on, even if the rest of the line is empty.
        let (family, _) = self.family_of(name)?;
        if self.skip_blanks()? == b'\n' {
            self.pos += 1;
            return Ok(());
        }
        if is_help {
            self.help(family)
        } else {
            self.type_line(family)
        }
    }

    fn help(&mut self, family: usize) -> Result<(), ParseError> {
        if self.families[family].help.is_some() {
            return Err(self.error(format!(
                "second HELP line for metric name {}",
                quote_str(&self.families[family].name)
            )));
        }
        let buf = self.buf;
        let rest = &buf[self.pos..];
        let end = rest.iter().position(|&b| b == b'\n');
        let line = &rest[..end.unwrap_or(rest.len())];
        let text = if line.contains(&b'\\') {
            self.unescape_help()?;
            &self.scratch[..]
        } else if end.is_some() {
            self.pos += line.len() + 1;
            line
        } else {
            self.pos = buf.len();
            return Err(self.eof());
        };
        // Go keeps HELP bytes as they are, invalid UTF-8 included; a String cannot, so such
        // bytes become U+FFFD rather than failing a push upstream accepts.
        let help = match std::str::from_utf8(text) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(text).into_owned(),
        };
        self.families[family].help = Some(help);
        Ok(())
    }

    /// HELP text with escapes, into `scratch`; leaves `pos` past the LF. Only `\\` and `\n`
    /// are escapes here (`\"` is not), and a bad one is reported even on an unterminated line.
    fn unescape_help(&mut self) -> Result<(), ParseError> {
        self.scratch.clear();
        loop {
            match self.current()? {
                b'\n' => break,
                b'\\' => {
                    self.pos += 1;
                    match self.current()? {
                        b'\\' => self.scratch.push(b'\\'),
                        b'n' => self.scratch.push(b'\n'),
                        other => return Err(self.invalid_escape(other)),
                    }
                }
                other => self.scratch.push(other),
            }
            self.pos += 1;
        }
        self.pos += 1;
        Ok(())
    }

    fn type_line(&mut self, family: usize) -> Result<(), ParseError> {
        if self.families[family].mtype.is_some() {
            return Err(self.error(format!(
                "second TYPE line for metric name {}, or TYPE reported after samples",
                quote_str(&self.families[family].name)
            )));
        }
        let line = self.rest_of_line()?;
        // The spellings encoders write are matched first, without the general case's copies.
        let mtype = match line {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"summary" => MetricType::Summary,
            b"histogram" => MetricType::Histogram,
            b"untyped" => MetricType::Untyped,
            _ => self.spelled_type(line)?,
        };
        self.families[family].mtype = Some(mtype);
        self.pos += 1;
        Ok(())
    }

    /// A TYPE line's word as Go reads it: with its escape-free line reader, which drops
    /// backslashes, and looked up case-insensitively; trailing blanks are part of the word.
    fn spelled_type(&self, line: &[u8]) -> Result<MetricType, ParseError> {
        let word: Vec<u8> = line.iter().copied().filter(|&b| b != b'\\').collect();
        match go_to_upper(&word).as_str() {
            "COUNTER" => Ok(MetricType::Counter),
            "GAUGE" => Ok(MetricType::Gauge),
            "SUMMARY" => Ok(MetricType::Summary),
            "HISTOGRAM" => Ok(MetricType::Histogram),
            "UNTYPED" => Ok(MetricType::Untyped),
            // Go also knows GAUGE_HISTOGRAM, but then drops every sample of such a family and
            // serves a broken exposition; refusing it here is the only sane reading.
            _ => Err(self.error(format!("unknown metric type {}", quote_str(&word)))),
        }
    }

    /// [`Parser::resolve_family`] for a name read from the body, which with UTF-8 names is
    /// checked first (legacy names are valid by construction).
    fn family_of(&mut self, name: Name<'a>) -> Result<(usize, Role), ParseError> {
        if self.utf8 && (name.is_empty() || std::str::from_utf8(&name).is_err()) {
            return Err(self.error(format!("invalid metric name {}", quote_str(&name))));
        }
        Ok(self.resolve_family(name))
    }

    /// The family a name belongs to (creating it if needed), and whether the line is the
    /// `_count` or `_sum` of a summary or histogram.
    fn resolve_family(&mut self, name: Name<'a>) -> (usize, Role) {
        if self
            .families
            .get(self.last_family)
            .is_some_and(|f| f.name == name)
        {
            return (self.last_family, Role::Plain);
        }
        let (index, role) = self.find_family(&name).unwrap_or_else(|| {
            let index = self.families.len();
            if index >= LINEAR_FAMILIES {
                if index == LINEAR_FAMILIES {
                    let names = self.families.iter().enumerate();
                    let names = names.map(|(i, f)| (f.name.clone(), i));
                    self.by_name.extend(names);
                }
                self.by_name.insert(name.clone(), index);
            }
            self.families.push(Family {
                name,
                help: None,
                mtype: None,
                metrics: Vec::new(),
            });
            (index, Role::Plain)
        });
        self.last_family = index;
        (index, role)
    }

    fn find_family(&self, name: &[u8]) -> Option<(usize, Role)> {
        if let Some(index) = self.lookup(name) {
            return Some((index, Role::Plain));
        }
        let (base, role) = if let Some(base) = strip(name, b"_count") {
            (base, Role::Count)
        } else if let Some(base) = strip(name, b"_sum") {
            (base, Role::Sum)
        } else if let Some(base) = strip(name, b"_bucket") {
            (base, Role::Plain)
        } else {
            return None;
        };
        let index = self.lookup(base)?;
        let attaches = match self.families[index].mtype {
            Some(MetricType::Histogram) => true,
            Some(MetricType::Summary) => role != Role::Plain,
            _ => false,
        };
        attaches.then_some((index, role))
    }

    fn lookup(&self, name: &[u8]) -> Option<usize> {
        if self.families.len() <= LINEAR_FAMILIES {
            self.families.iter().position(|f| *f.name == *name)
        } else {
            self.by_name.get(name).copied()
        }
    }

    /// A sample line. On return `pos` is past the line's LF.
    fn sample(&mut self) -> Result<(), ParseError> {
        let braced = self.utf8 && self.buf[self.pos] == b'{';
        let name = if braced {
            self.braced_name()?
        } else {
            self.name(NameKind::Metric)?
        };
        if name.is_empty() {
            return Err(self.error("invalid metric name"));
        }
        let (family, role) = self.family_of(name)?;
        let mtype = *self.families[family]
            .mtype
            .get_or_insert(MetricType::Untyped);
        self.pairs.clear();
        let bound = if braced {
            if self.buf[self.pos] == b',' {
                self.labels(family, mtype, true)?
            } else {
                self.next_skip_blanks()?;
                None
            }
        } else {
            let mut next = self.current()?;
            if is_blank(next) {
                next = self.skip_blanks()?;
            }
            if next == b'{' {
                self.labels(family, mtype, false)?
            } else {
                None
            }
        };

        let token = self.token_until_space()?;
        let value = parse_float(token).ok_or_else(|| {
            self.error(format!("expected float as value, got {}", quote_str(token)))
        })?;
        let timestamp_ms = if self.buf[self.pos] == b'\n' {
            None
        } else {
            Some(self.timestamp()?)
        };
        self.pos += 1;

        if !matches!(mtype, MetricType::Summary | MetricType::Histogram) {
            let labels = self.owned_pairs();
            self.families[family].metrics.push(Metric {
                labels,
                value: Value::Simple(value),
                timestamp_ms,
            });
            return Ok(());
        }
        let (last_family, last_index) = self.last_group;
        let index = if last_family == family
            && self.pairs_are(&self.families[family].metrics[last_index].labels)
        {
            last_index
        } else {
            let labels = self.owned_pairs();
            self.group(family, mtype, labels)
        };
        self.last_group = (family, index);
        let metric = &mut self.families[family].metrics[index];
        if timestamp_ms.is_some() {
            metric.timestamp_ms = timestamp_ms;
        }
        let bound = bound.filter(|b: &f64| !b.is_nan());
        // `as` saturates (and maps NaN to 0) where Go's uint64(float64) is platform-defined.
        match (&mut metric.value, role) {
            (Value::Summary { count, .. } | Value::Histogram { count, .. }, Role::Count) => {
                *count = value as u64;
            }
            (Value::Summary { sum, .. } | Value::Histogram { sum, .. }, Role::Sum) => *sum = value,
            (Value::Summary { quantiles, .. }, Role::Plain) => {
                quantiles.extend(bound.map(|q| (q, value)));
            }
            (Value::Histogram { buckets, .. }, Role::Plain) => {
                buckets.extend(bound.map(|le| (le, value as u64)));
            }
            (Value::Simple(_), _) => {}
        }
        Ok(())
    }

    /// The metric name opening a line's braces (rule 6), read as Go reads it: as a label
    /// name, so a bare `:` ends it. Empty if there is none; else leaves `pos` on the `,` or
    /// `}` after it.
    fn braced_name(&mut self) -> Result<Name<'a>, ParseError> {
        self.next_skip_blanks()?;
        let name = self.name(NameKind::Label)?;
        if name.is_empty() {
            return Ok(name);
        }
        let mut next = self.current()?;
        if is_blank(next) {
            next = self.skip_blanks()?;
        }
        match next {
            b',' | b'}' => Ok(name),
            b'=' => Err(self.error(format!(
                "the metric name must come first inside the braces, found label name {}",
                quote_str(&name)
            ))),
            other => Err(self.error(format!(
                "unexpected end of metric name {}",
                quote_byte(other)
            ))),
        }
    }

    /// `{name="value",...}` starting at the `{` (or, after a braced metric name, at the `,`
    /// that follows it); leaves `pos` on the first byte of the value. Returns the labels and,
    /// apart from them, the `quantile` of a summary line or the `le` of a histogram line.
    fn labels(
        &mut self,
        family: usize,
        mtype: MetricType,
        braced: bool,
    ) -> Result<Option<f64>, ParseError> {
        let bound_name: &[u8] = match mtype {
            MetricType::Summary => b"quantile",
            MetricType::Histogram => b"le",
            _ => b"",
        };
        let mut bound = None;
        self.label_names.clear();
        if !self.label_set.is_empty() {
            self.label_set.clear();
        }
        loop {
            // Steps over the `{` or `,`; so `{}` and a trailing comma are accepted.
            if self.next_skip_blanks()? == b'}' {
                self.next_skip_blanks()?;
                return Ok(bound);
            }
            let name = self.name(NameKind::Label)?;
            if name.is_empty() {
                return Err(self.error(format!(
                    "invalid label name for metric {}",
                    quote_str(&self.families[family].name)
                )));
            }
            if *name == *b"__name__" {
                return Err(self.error("label name \"__name__\" is reserved"));
            }
            let mut next = self.current()?;
            if is_blank(next) {
                next = self.skip_blanks()?;
            }
            if next != b'=' && braced {
                return Err(self.error(format!(
                    "multiple metric names for metric {}",
                    quote_str(&self.families[family].name)
                )));
            }
            if next != b'=' {
                return Err(self.error(format!(
                    "expected '=' after label name, found {}",
                    quote_byte(next)
                )));
            }
            if self.utf8 && std::str::from_utf8(&name).is_err() {
                return Err(self.error(format!("invalid label name {}", quote_str(&name))));
            }
            let is_bound = *name == *bound_name;
            if !is_bound && self.is_duplicate(name.clone()) {
                return Err(self.error(format!(
                    "duplicate label names for metric {}",
                    quote_str(&self.families[family].name)
                )));
            }
            let quote = self.next_skip_blanks()?;
            if quote != b'"' {
                return Err(self.error(format!(
                    "expected '\"' at start of label value, found {}",
                    quote_byte(quote)
                )));
            }
            let value = self.label_value()?;
            if is_bound {
                let parsed = parse_float(value.as_bytes()).ok_or_else(|| {
                    self.error(format!(
                        "expected float as value for '{}' label, got {}",
                        name_string(bound_name),
                        quote_str(value.as_bytes())
                    ))
                })?;
                // Repeating the label is not a duplicate in Go; the last one wins.
                bound = Some(parsed);
            }
            let separator = self.skip_blanks()?;
            if separator != b',' && separator != b'}' {
                return Err(self.error(format!(
                    "unexpected end of label value {}",
                    quote_str(value.as_bytes())
                )));
            }
            if !is_bound {
                self.pairs.push((name, value));
            }
            if separator == b'}' {
                self.next_skip_blanks()?;
                return Ok(bound);
            }
        }
    }

    /// The current line's label pairs, owned, with room for a few more: the store adds the
    /// grouping key's labels to every series.
    fn owned_pairs(&mut self) -> Vec<Label> {
        let mut labels = Vec::with_capacity(self.pairs.len() + 4);
        labels.extend(self.pairs.drain(..).map(|(name, value)| Label {
            name: name_string(&name),
            value: value.into_owned(),
        }));
        labels
    }

    /// Whether the current line's label pairs are `labels`, in the same order (as the lines
    /// of one series are written).
    fn pairs_are(&self, labels: &[Label]) -> bool {
        labels.len() == self.pairs.len()
            && (labels.iter().zip(&self.pairs))
                .all(|(l, (name, value))| l.name.as_bytes() == &name[..] && l.value == *value)
    }

    /// Whether this label name already appeared on the line; remembers it either way.
    fn is_duplicate(&mut self, name: Name<'a>) -> bool {
        let duplicate = if self.label_names.len() < LINEAR_LABELS {
            self.label_names.contains(&name)
        } else {
            // Many labels: a scan per label would make one long line quadratic.
            if self.label_set.is_empty() {
                self.label_set.extend(self.label_names.iter().cloned());
            }
            !self.label_set.insert(name.clone())
        };
        self.label_names.push(name);
        duplicate
    }

    /// The index of the summary/histogram metric with this label set, created if new.
    fn group(&mut self, family: usize, mtype: MetricType, labels: Vec<Label>) -> usize {
        let hasher = self.groups.hasher();
        // Summing per-label hashes makes the hash independent of label order.
        let hash = labels
            .iter()
            .fold(0u64, |acc, l| acc.wrapping_add(hasher.hash_one(l)));
        let metrics = &mut self.families[family].metrics;
        let slot = match self.groups.entry((family, hash)) {
            Entry::Occupied(e) => {
                let index = *e.get();
                if same_label_set(&metrics[index].labels, &labels) {
                    return index;
                }
                if let Some(index) = metrics
                    .iter()
                    .position(|m| same_label_set(&m.labels, &labels))
                {
                    return index;
                }
                None
            }
            Entry::Vacant(e) => Some(e),
        };
        let index = metrics.len();
        if let Some(slot) = slot {
            slot.insert(index);
        }
        let value = if mtype == MetricType::Summary {
            Value::Summary {
                quantiles: Vec::new(),
                sum: 0.0,
                count: 0,
            }
        } else {
            Value::Histogram {
                buckets: Vec::new(),
                sum: 0.0,
                count: 0,
                native: None,
            }
        };
        metrics.push(Metric {
            labels,
            value,
            timestamp_ms: None,
        });
        index
    }
}

/// Equal as sets; both sides are free of duplicate names, so equal length plus inclusion
/// suffices.
fn same_label_set(a: &[Label], b: &[Label]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() <= LINEAR_LABELS {
        return a.iter().all(|l| b.contains(l));
    }
    let mut a: Vec<&Label> = a.iter().collect();
    let mut b: Vec<&Label> = b.iter().collect();
    order::sort_by(&mut a, Ord::cmp);
    order::sort_by(&mut b, Ord::cmp);
    a == b
}

/// `name` without `suffix`, if it ends in it and something is left.
fn strip<'n>(name: &'n [u8], suffix: &[u8]) -> Option<&'n [u8]> {
    name.strip_suffix(suffix).filter(|base| !base.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;

    /// A compact, readable rendering for the tables: families joined by ` | `, metrics by `; `.
    fn render(families: &[MetricFamily]) -> String {
        let metric = |m: &Metric| {
            let labels: Vec<String> = m
                .labels
                .iter()
                .map(|l| format!("{}={:?}", l.name, l.value))
                .collect();
            let value = match &m.value {
                Value::Simple(v) => v.to_string(),
                Value::Summary {
                    quantiles,
                    sum,
                    count,
                } => {
                    let q: Vec<String> =
                        quantiles.iter().map(|(q, v)| format!("{q}:{v}")).collect();
                    format!("q[{}] sum={sum} count={count}", q.join(" "))
                }
                Value::Histogram {
                    buckets,
                    sum,
                    count,
                    ..
                } => {
                    let b: Vec<String> =
                        buckets.iter().map(|(le, c)| format!("{le}:{c}")).collect();
                    format!("b[{}] sum={sum} count={count}", b.join(" "))
                }
            };
            let ts = m.timestamp_ms.map(|t| format!(" @{t}")).unwrap_or_default();
            format!("{{{}}} {value}{ts}", labels.join(","))
        };
        let family = |f: &MetricFamily| {
            let help = f
                .help
                .as_ref()
                .map(|h| format!(" {h:?}"))
                .unwrap_or_default();
            let metrics: Vec<String> = f.metrics.iter().map(metric).collect();
            format!("{} {}{help}: {}", f.name, f.mtype, metrics.join("; "))
        };
        families.iter().map(family).collect::<Vec<_>>().join(" | ")
    }

    #[test]
    fn accepts() {
        let cases: &[(&[u8], &str)] = &[
            // Empty bodies, blank lines and comments; blanks may follow the last LF.
            (b"", ""),
            (b"   \t", ""),
            (b"\n\n  \n\t\n", ""),
            (
                b"# just a comment\n#\n#   \n# HELP\n# TYPE\n# HELP x\n# type x gauge\n",
                "",
            ),
            (b"x 1\n  ", "x untyped: {} 1"),
            // Plain types, HELP, labels kept in written order, timestamps kept.
            (
                b"# HELP x Some help.\n# TYPE x counter\nx{b=\"1\",a=\"2\"} 3\nx{a=\"3\"} 4\n",
                r#"x counter "Some help.": {b="1",a="2"} 3; {a="3"} 4"#,
            ),
            (
                b"# TYPE g gauge\ng -1.5 1700000000000\n",
                "g gauge: {} -1.5 @1700000000000",
            ),
            (b"x 1 -5\nx 1 +5\n", "x untyped: {} 1 @-5; {} 1 @5"),
            (
                b":x 1\nx:y:_z 2\n",
                ":x untyped: {} 1 | x:y:_z untyped: {} 2",
            ),
            // Whitespace: spaces and tabs anywhere between tokens, none needed around braces.
            (
                b" \t x \t { \t a \t = \t \"b\" \t , \t } \t 1 \t -5\n",
                r#"x untyped: {a="b"} 1 @-5"#,
            ),
            (
                b"x{} 1\nx{a=\"b\",} 2\nx{a=\"b\"}3\n",
                r#"x untyped: {} 1; {a="b"} 2; {a="b"} 3"#,
            ),
            (b"#TYPE x gauge\n#\tHELP x\t\th\n", r#"x gauge "h": "#),
            // Escapes: label values know \\ \" \n, HELP knows \\ \n (a quote is literal there).
            (
                b"x{a=\"\\\\ \\\" \\n\",b=\"\xc3\xa9\t\"} 1\n",
                r#"x untyped: {a="\\ \" \n",b="é\t"} 1"#,
            ),
            (
                br#"# HELP x a\\b\nc "q"
"#,
                r#"x untyped "a\\b\nc \"q\"": "#,
            ),
            (
                b"# HELP x   lead and trail  \n",
                r#"x untyped "lead and trail  ": "#,
            ),
            // CR is an ordinary byte where any byte goes (upstream keeps it too).
            (
                b"# HELP x a\rb\n# comment\r\nx{a=\"b\rc\"} 1\n",
                r#"x untyped "a\rb": {a="b\rc"} 1"#,
            ),
            // HELP invalid UTF-8: upstream keeps the bytes, a String gets U+FFFD.
            (b"# HELP x a\xffb\n", "x untyped \"a\u{fffd}b\": "),
            // A HELP/TYPE line with a name but no text declares the family and nothing else.
            (b"# HELP x \n# HELP x second\n", r#"x untyped "second": "#),
            (b"# TYPE x \n# TYPE x gauge\n", "x gauge: "),
            // TYPE words: any case (Go upper-cases them, even ſ), backslashes dropped.
            (b"# TYPE x CoUn\\ter\n", "x counter: "),
            (b"# TYPE x \xc5\xbfummary\n", "x summary: "),
            (b"# TYPE x h\xc4\xb1stogram\n", "x histogram: "),
            // HELP after samples is fine; families keep the order they were first named in.
            (b"x 1\n# HELP x late\n", r#"x untyped "late": {} 1"#),
            (
                b"# HELP b hb\na 1\nb 2\n",
                r#"b untyped "hb": {} 2 | a untyped: {} 1"#,
            ),
            // Floats as Go's ParseFloat takes them (no hex, no `_`, no signed NaN).
            (
                b"a +Inf\nb -Inf\nc Inf\nd -infinity\ne NaN\nf nAn\ng +1\nh -0\n",
                "a untyped: {} inf | b untyped: {} -inf | c untyped: {} inf | d untyped: {} -inf \
                 | e untyped: {} NaN | f untyped: {} NaN | g untyped: {} 1 | h untyped: {} -0",
            ),
            (
                b"a 1e3\nb 1E+3\nc 1.\nd .5\ne -.5\nf 1e-400\ng 00012\nh 1.e2\n",
                "a untyped: {} 1000 | b untyped: {} 1000 | c untyped: {} 1 | d untyped: {} 0.5 \
                 | e untyped: {} -0.5 | f untyped: {} 0 | g untyped: {} 12 | h untyped: {} 100",
            ),
            (b"a 1e0000000000000000000000001\n", "a untyped: {} 10"),
            // Labels the parser lets through for the store to judge.
            (b"x{__foo=\"y\"} 1\n", r#"x untyped: {__foo="y"} 1"#),
            // Summaries: grouped by label set, order of labels and adjacency irrelevant.
            (
                br#"# TYPE s summary
s{a="1",quantile="0.5"} 1
s_sum{a="2"} 5
s{a="2",quantile="0.9"} 2
s_count{a="1"} 3.9
s_sum{a="1"} 7
s{quantile="0.1",a="1"} 4
"#,
                r#"s summary: {a="1"} q[0.5:1 0.1:4] sum=7 count=3; {a="2"} q[0.9:2] sum=5 count=0"#,
            ),
            // quantile NaN adds nothing, a repeated quantile label wins, _sum/_count consume it,
            // a line without quantile still creates its group, `le` is an ordinary label here.
            (
                br#"# TYPE s summary
s{quantile="NaN"} 5
s{quantile="0.5",quantile="0.9"} 6
s_sum{quantile="0.5"} 1
s{a="1"} 1
s{le="1"} 2
s{quantile="inf"} 3
"#,
                r#"s summary: {} q[0.9:6 inf:3] sum=1 count=0; {a="1"} q[] sum=0 count=0; {le="1"} q[] sum=0 count=0"#,
            ),
            // _count becomes u64 with `as` (upstream on amd64: -1 -> 2^64-1, NaN -> 2^63).
            (
                b"# TYPE s summary\ns_count{a=\"1\"} 2.9\ns_count{a=\"2\"} -1\n\
                  s_count{a=\"3\"} 1e30\ns_count{a=\"4\"} NaN\n",
                "s summary: {a=\"1\"} q[] sum=0 count=2; {a=\"2\"} q[] sum=0 count=0; \
                 {a=\"3\"} q[] sum=0 count=18446744073709551615; {a=\"4\"} q[] sum=0 count=0",
            ),
            // _bucket never belongs to a summary.
            (
                b"# TYPE s summary\ns_bucket{le=\"1\"} 1\n",
                r#"s summary:  | s_bucket untyped: {le="1"} 1"#,
            ),
            // Histograms: the bare name with `le` is a bucket too; no `le`, or `le` NaN, adds
            // no bucket; `quantile` is an ordinary label; counts truncate.
            (
                br#"# TYPE h histogram
h_bucket{le="1"} 1
h_bucket{le="+Inf"} 2
h_count 2
h_sum 3
h{le="5"} 2.7
h_bucket{le="nan"} 4
h_bucket{quantile="0.5"} 1
h_bucket{b="1"} 1
"#,
                r#"h histogram: {} b[1:1 inf:2 5:2] sum=3 count=2; {quantile="0.5"} b[] sum=0 count=0; {b="1"} b[] sum=0 count=0"#,
            ),
            // Suffixed lines join a summary/histogram declared anywhere earlier, and HELP/TYPE
            // lines resolve the same way.
            (
                b"# TYPE s summary\ns_sum 1\nother 1\n# TYPE g gauge\ng 1\ns_count 2\n",
                "s summary: {} q[] sum=1 count=2 | other untyped: {} 1 | g gauge: {} 1",
            ),
            (
                b"# TYPE h histogram\n# TYPE y gauge\nh_sum 1\n",
                "h histogram: {} b[] sum=1 count=0 | y gauge: ",
            ),
            (
                b"# TYPE s summary\n# HELP s_sum sumhelp\ns_sum 1 7\ns_count 2\ns_sum 3 8\n",
                r#"s summary "sumhelp": {} q[] sum=3 count=2 @8"#,
            ),
            // ...but only to a summary/histogram, only an earlier one, and an exact name wins.
            (
                b"# TYPE x counter\nx_sum 1\n# TYPE h histogram\nh_total 1\n",
                "x counter:  | x_sum untyped: {} 1 | h histogram:  | h_total untyped: {} 1",
            ),
            (
                b"s_sum 1\n# TYPE s summary\ns_sum 2\n",
                "s_sum untyped: {} 1; {} 2 | s summary: ",
            ),
            (
                b"# TYPE x_count gauge\n# TYPE x summary\nx_count 1\n",
                "x_count gauge: {} 1 | x summary: ",
            ),
            (
                b"# TYPE _count summary\n_count 1\n",
                "_count summary: {} q[] sum=0 count=0",
            ),
        ];
        // Subnormals round like Go's (which prints this as 5e-324).
        assert_eq!(parse_float(b"4.9e-324"), Some(5e-324));
        // Short decimals take a shorter way to the same value.
        let mut spellings: Vec<String> = [
            "0.005",
            "-0",
            "-0.0",
            ".5",
            "5.",
            "-.5",
            "00.5",
            "1E5",
            "1e+05",
            "1e22",
            "1e-22",
            "1e23",
            "123456789012345",
            "1234567890123456",
            "9007199254740993",
            "2.5e-3",
        ]
        .map(String::from)
        .to_vec();
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..50_000 {
            let len = rng.u32(1..18);
            let digits = rng.u64(0..10u64.pow(len)).to_string();
            let point = rng.usize(0..=digits.len());
            let sign = if rng.bool() { "-" } else { "" };
            let exp = match rng.u8(0..3) {
                0 => String::new(),
                _ => format!("e{}", rng.i32(-30..30)),
            };
            spellings.push(format!(
                "{sign}{}.{}{exp}",
                &digits[..point],
                &digits[point..]
            ));
        }
        for s in spellings {
            let general: f64 = s.parse().unwrap();
            let got = parse_float(s.as_bytes()).map(f64::to_bits);
            assert_eq!(got, Some(general.to_bits()), "{s}");
        }
        for (input, expected) in cases {
            let input_str = String::from_utf8_lossy(input);
            match parse(input) {
                Ok(families) => assert_eq!(render(&families), *expected, "input {input_str:?}"),
                Err(e) => panic!("input {input_str:?} rejected: {e}"),
            }
        }
    }

    /// Unless noted, the exact answer of upstream pushgateway 1.5.1 (HTTP 400 with
    /// "text format parsing error in line N: reason") for the same body.
    #[test]
    fn rejects() {
        let eof = "unexpected end of input stream";
        let cases: &[(&[u8], usize, &str)] = &[
            // No final LF: wherever the body stops, unless only blanks follow the last LF.
            (b"x 1", 1, eof),
            (b"x", 1, eof),
            (b"x 1\n# c", 2, eof),
            (b"# c", 1, eof),
            (b"#", 1, eof),
            (b"# HELP x foo", 1, eof),
            (b"# TYPE x gauge", 1, eof),
            (b"x{a=\"b\"", 1, eof),
            (b"x{a=\"b\"} 1 2", 1, eof),
            (b"a 1\n\n# c\nb{", 4, eof),
            // ...but a syntax error earlier on that line wins.
            (
                b"x{a=1} 1",
                1,
                "expected '\"' at start of label value, found '1'",
            ),
            // Trailing blanks and anything after the timestamp.
            (b"x 1 \n", 1, "expected integer as timestamp, got \"\""),
            (b"x 1\t\n", 1, "expected integer as timestamp, got \"\""),
            (b"x 1 2 \n", 1, "spurious string after timestamp: \" \""),
            (b"x 1 2 3\n", 1, "spurious string after timestamp: \" 3\""),
            (b"x 1 2 \\\\\n", 1, "spurious string after timestamp: \" \""),
            (
                b"x 1 2\\\\\n",
                1,
                r#"expected integer as timestamp, got "2\\\\""#,
            ),
            (
                b"x 1 1.5\n",
                1,
                "expected integer as timestamp, got \"1.5\"",
            ),
            (
                b"x 1 99999999999999999999\n",
                1,
                "expected integer as timestamp, got \"99999999999999999999\"",
            ),
            // CR where Go wants a token to end.
            (b"x 1\r\n", 1, r#"expected float as value, got "1\r""#),
            (b"x\r 1\n", 1, r#"expected float as value, got "\r""#),
            (
                b"x 1 2\r\n",
                1,
                r#"expected integer as timestamp, got "2\r""#,
            ),
            (
                b"# TYPE x counter\r\nx 1\n",
                1,
                r#"unknown metric type "counter\r""#,
            ),
            (b"\r\n", 1, "invalid metric name"),
            // TYPE words.
            (
                b"# TYPE x gaugehistogram\n",
                1,
                "unknown metric type \"gaugehistogram\"",
            ),
            (
                b"# TYPE x counter \n",
                1,
                "unknown metric type \"counter \"",
            ),
            (
                b"# TYPE x hi\xef\xac\x86ogram\n",
                1,
                "unknown metric type \"hi\u{fb06}ogram\"",
            ),
            // Upstream accepts this one (its enum knows it) and then drops the samples.
            (
                b"# TYPE x gauge_histogram\n",
                1,
                "unknown metric type \"gauge_histogram\"",
            ),
            // Second HELP/TYPE, TYPE after samples, also through a _sum/_count name.
            (
                b"# TYPE x gauge\n# TYPE x gauge\n",
                2,
                "second TYPE line for metric name \"x\", or TYPE reported after samples",
            ),
            (
                b"x 1\n# TYPE x gauge\n",
                2,
                "second TYPE line for metric name \"x\", or TYPE reported after samples",
            ),
            (
                b"# TYPE s summary\n# TYPE s_count gauge\n",
                2,
                "second TYPE line for metric name \"s\", or TYPE reported after samples",
            ),
            (
                b"# HELP x a\n# HELP x b\n",
                2,
                "second HELP line for metric name \"x\"",
            ),
            (
                b"# TYPE s summary\n# HELP s a\n# HELP s_count b\n",
                3,
                "second HELP line for metric name \"s\"",
            ),
            // HELP escapes.
            (b"# HELP x a\\tb\n", 1, "invalid escape sequence '\\t'"),
            (b"# HELP x a\\\"b\n", 1, "invalid escape sequence '\\\"'"),
            (b"# HELP x a\\\n", 1, "invalid escape sequence '\\\n'"),
            // Names.
            (b"# HELP 9x a\n", 1, "invalid metric name in comment"),
            (b"# HELP x-y a\n", 1, "invalid metric name in comment"),
            (b"# TYPE x{ gauge\n", 1, "invalid metric name in comment"),
            (b"{a=\"b\"} 1\n", 1, "invalid metric name"),
            (b"9x 1\n", 1, "invalid metric name"),
            (b"x 1\n\x00\n", 2, "invalid metric name"),
            (b"x-y 1\n", 1, "expected float as value, got \"-y\""),
            (b"x{,} 1\n", 1, "invalid label name for metric \"x\""),
            (
                b"x{a=\"b\",,} 1\n",
                1,
                "invalid label name for metric \"x\"",
            ),
            (b"x{9a=\"1\"} 1\n", 1, "invalid label name for metric \"x\""),
            (
                b"x{__name__=\"y\"} 1\n",
                1,
                "label name \"__name__\" is reserved",
            ),
            (
                b"x{a:b=\"1\"} 1\n",
                1,
                "expected '=' after label name, found ':'",
            ),
            (
                b"x{a-b=\"1\"} 1\n",
                1,
                "expected '=' after label name, found '-'",
            ),
            (b"x{a\n", 1, "expected '=' after label name, found '\\n'"),
            (
                b"x{a\xe9=\"\"} 1\n",
                1,
                "expected '=' after label name, found '\u{e9}'",
            ),
            (
                b"x{a\x85=\"\"} 1\n",
                1,
                "expected '=' after label name, found '\\u0085'",
            ),
            (
                b"x{a\x01=\"\"} 1\n",
                1,
                "expected '=' after label name, found '\\x01'",
            ),
            (
                b"x{a'=\"\"} 1\n",
                1,
                "expected '=' after label name, found '\\''",
            ),
            (
                b"x{a\xa0=\"\"} 1\n",
                1,
                "expected '=' after label name, found '\\u00a0'",
            ),
            (
                b"x{a\xad=\"\"} 1\n",
                1,
                "expected '=' after label name, found '\\u00ad'",
            ),
            // Duplicate label names (the family's name is reported, not the line's).
            (
                b"x{a=\"1\",a=\"2\"} 1\n",
                1,
                "duplicate label names for metric \"x\"",
            ),
            (
                b"# TYPE s summary\ns_sum{a=\"1\",a=\"2\"} 1\n",
                2,
                "duplicate label names for metric \"s\"",
            ),
            // Label values.
            (
                b"x{a=\"1\" b=\"2\"} 1\n",
                1,
                "unexpected end of label value \"1\"",
            ),
            (b"x{a=\"b\"\n", 1, "unexpected end of label value \"b\""),
            (b"x{a=\"\\t\"} 1\n", 1, "invalid escape sequence '\\t'"),
            (b"x{a=\"\\x\"} 1\n", 1, "invalid escape sequence '\\x'"),
            (
                b"x{a=\"x\ny\"} 1\n",
                1,
                "label value \"x\" contains unescaped new-line",
            ),
            (
                b"x{a=\"\\\\x\ny\"} 1\n",
                1,
                r#"label value "\\x" contains unescaped new-line"#,
            ),
            (b"x{a=\"\xff\"} 1\n", 1, r#"invalid label value "\xff""#),
            (
                b"x{a=\"\\n\xc3\"} 1\n",
                1,
                r#"invalid label value "\n\xc3""#,
            ),
            // Values.
            (b"x{a=\"b\"} \n", 1, "expected float as value, got \"\""),
            (b"x\n", 1, "expected float as value, got \"\""),
            (b"x \n", 1, "expected float as value, got \"\""),
            (
                b"# TYPE s summary\ns{quantile=\"x\"} 1\n",
                2,
                "expected float as value for 'quantile' label, got \"x\"",
            ),
            (
                b"# TYPE h histogram\nh_bucket{le=\"a\"} 1\n",
                2,
                "expected float as value for 'le' label, got \"a\"",
            ),
        ];
        for (input, line, reason) in cases {
            let input_str = String::from_utf8_lossy(input);
            match parse(input) {
                Ok(f) => panic!("input {input_str:?} accepted: {}", render(&f)),
                Err(e) => {
                    assert_eq!(
                        (e.line, e.reason.as_str()),
                        (*line, *reason),
                        "input {input_str:?}"
                    )
                }
            }
        }
        // Values upstream refuses, each as "expected float as value, got ...".
        for bad in [
            "infin",
            "+NaN",
            "-nan",
            "1e",
            ".",
            "+.e1",
            "0x1",
            "0x1p3",
            "0X1P-2",
            "1_000",
            "1e400",
            "-1e400",
            "1.7976931348623159e308",
            "1e+",
            "+",
            "-",
            "0b1",
            "0o7",
            "1.5.",
            "infx",
            "1..5",
            "e5",
            "1e5.0",
            "nan1",
            "",
            "1,5",
        ] {
            let body = format!("v {bad}\n");
            let e = parse(body.as_bytes()).expect_err(bad);
            assert_eq!(e.reason, format!("expected float as value, got {bad:?}"));
        }
    }

    #[test]
    fn utf8_names_accepted() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"{\"my.metric\", label=\"x\"} 1\n",
                r#"my.metric untyped: {label="x"} 1"#,
            ),
            (
                b"my_metric{\"label.with.dots\"=\"v\"} 1\n",
                r#"my_metric untyped: {label.with.dots="v"} 1"#,
            ),
            (
                b"# HELP \"my.metric\" Some help.\n# TYPE \"my.metric\" gauge\n{\"my.metric\"} 1\n",
                r#"my.metric gauge "Some help.": {} 1"#,
            ),
            // Quoted names outside braces, blanks around the braced name, a trailing comma,
            // a bare name inside braces.
            (
                b"\"my.metric\" 1\n\"my.metric\"{a=\"b\"} 2\n",
                r#"my.metric untyped: {} 1; {a="b"} 2"#,
            ),
            (
                b"{ \"x y\" , a=\"b\" , } 1\n{x} 2\n",
                r#"x y untyped: {a="b"} 1 | x untyped: {} 2"#,
            ),
            // Escapes inside quotes, and Go's quote toggling: a bare name may go on quoted
            // (the closing quote ends it).
            (
                b"{\"a\\\"b\\\\c\\nd\"} 1\na\"b.c\"{d\"e\"=\"1\"} 2\n",
                "a\"b\\c\nd untyped: {} 1 | ab.c untyped: {de=\"1\"} 2",
            ),
            (
                "{\"ü\", \"ä:ö\"=\"1\"} 1\n".as_bytes(),
                r#"ü untyped: {ä:ö="1"} 1"#,
            ),
            // Summaries and histograms fold their lines by the quoted names' suffixes.
            (
                b"# TYPE \"s.x\" summary\n{\"s.x\",quantile=\"0.5\",a=\"1\"} 1\n\
                  {\"s.x_sum\",a=\"1\"} 2\n\"s.x_count\"{a=\"1\"} 3\n",
                r#"s.x summary: {a="1"} q[0.5:1] sum=2 count=3"#,
            ),
            (
                b"# TYPE \"h.x\" histogram\n\"h.x_bucket\"{le=\"1\"} 1\n{\"h.x_count\"} 3\n",
                "h.x histogram: {} b[1:1] sum=0 count=3",
            ),
        ];
        for (input, want) in cases {
            let input_str = String::from_utf8_lossy(input);
            let got = parse_with(input, Validation::Utf8)
                .unwrap_or_else(|e| panic!("input {input_str:?}: {e}"));
            assert_eq!(render(&got), *want, "input {input_str:?}");
        }
        // Legacy bodies read the same either way.
        for name in ["client-golang.prom", "node-exporter.prom"] {
            let body = testdata(name);
            assert_eq!(parse_with(&body, Validation::Utf8), parse(&body), "{name}");
        }
    }

    #[test]
    fn utf8_names_rejected() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b"{} 1\n", 1, "invalid metric name"),
            (b"{=\"1\"} 1\n", 1, "invalid metric name"),
            (
                b"{a=\"b\",\"x\"} 1\n",
                1,
                "the metric name must come first inside the braces, found label name \"a\"",
            ),
            (
                b"{\"x\", \"y\"} 1\n",
                1,
                "multiple metric names for metric \"x\"",
            ),
            (
                b"{\"x\", a-b=\"1\"} 1\n",
                1,
                "multiple metric names for metric \"x\"",
            ),
            (
                b"x{\"y\"} 1\n",
                1,
                "expected '=' after label name, found '}'",
            ),
            (b"{x:y} 1\n", 1, "unexpected end of metric name ':'"),
            (b"x 1\n\"\" 1\n", 2, "invalid metric name"),
            (b"# HELP \"\" x\n", 1, "invalid metric name \"\""),
            (b"# HELP \"x\"y z\n", 1, "invalid metric name in comment"),
            (b"\"a\xff\" 1\n", 1, "invalid metric name \"a\\xff\""),
            (b"{\"a\xff\"} 1\n", 1, "invalid metric name \"a\\xff\""),
            (
                b"x{\"a\xff\"=\"1\"} 1\n",
                1,
                "invalid label name \"a\\xff\"",
            ),
            (
                b"x{\"\"=\"1\"} 1\n",
                1,
                "invalid label name for metric \"x\"",
            ),
            (
                b"x{\"__name__\"=\"y\"} 1\n",
                1,
                "label name \"__name__\" is reserved",
            ),
            (
                b"\"a\nb\" 1\n",
                1,
                "metric name \"a\" contains unescaped new-line",
            ),
            (
                b"x{\"a\nb\"=\"1\"} 1\n",
                1,
                "label name \"a\" contains unescaped new-line",
            ),
            (b"\"a\\tb\" 1\n", 1, "invalid escape sequence '\\t'"),
            (b"\"abc", 1, "unexpected end of input stream"),
            (b"\"abc\"", 1, "unexpected end of input stream"),
            (
                b"x{\"a\"=\"1\",a=\"2\"} 1\n",
                1,
                "duplicate label names for metric \"x\"",
            ),
            (
                b"# TYPE \"x.y\" gauge\n# TYPE \"x.y\" gauge\n",
                2,
                "second TYPE line for metric name \"x.y\", or TYPE reported after samples",
            ),
        ];
        for (input, line, reason) in cases {
            let input_str = String::from_utf8_lossy(input);
            match parse_with(input, Validation::Utf8) {
                Ok(f) => panic!("input {input_str:?} accepted: {}", render(&f)),
                Err(e) => assert_eq!(
                    (e.line, e.reason.as_str()),
                    (*line, *reason),
                    "input {input_str:?}"
                ),
            }
        }
        // Without UTF-8 names, quotes and a leading brace are what they always were.
        for (input, reason) in [
            (&b"{\"my.metric\"} 1\n"[..], "invalid metric name"),
            (b"\"my.metric\" 1\n", "invalid metric name"),
            (
                b"x{\"a.b\"=\"1\"} 1\n",
                "invalid label name for metric \"x\"",
            ),
            (
                b"# HELP \"my.metric\" h\n",
                "invalid metric name in comment",
            ),
        ] {
            assert_eq!(parse(input).unwrap_err().reason, reason);
        }
    }

    /// What the exposition writes for any names, this parser reads back as they were.
    #[test]
    fn utf8_names_round_trip_through_the_exposition() {
        let names = [
            "my.metric",
            "ü",
            "a\"b\\c\nd",
            "1x",
            "x y",
            "ok_name",
            "a:b",
        ];
        let mut body = Vec::new();
        let mut want = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let (mtype, value) = match i % 3 {
                0 => (MetricType::Gauge, Value::Simple(i as f64)),
                1 => (
                    MetricType::Summary,
                    Value::Summary {
                        quantiles: vec![(0.5, 1.0)],
                        sum: 2.0,
                        count: 3,
                    },
                ),
                _ => (
                    MetricType::Histogram,
                    Value::Histogram {
                        buckets: vec![(1.0, 1), (f64::INFINITY, 3)],
                        sum: 2.0,
                        count: 3,
                        native: None,
                    },
                ),
            };
            let metric = Metric {
                labels: names
                    .iter()
                    .map(|l| Label::new(*l, format!("{l}!")))
                    .collect(),
                value,
                timestamp_ms: None,
            };
            crate::formats::expose::write_header(&mut body, name, Some("h\\elp"), mtype);
            crate::formats::expose::write_metric(&mut body, name, &metric);
            want.push(MetricFamily {
                name: name.to_string(),
                help: Some("h\\elp".into()),
                mtype,
                metrics: vec![metric],
            });
        }
        let got = parse_with(&body, Validation::Utf8)
            .unwrap_or_else(|e| panic!("{e} in {}", String::from_utf8_lossy(&body)));
        assert_eq!(got, want);
    }

    #[test]
    fn display_matches_go() {
        let e = parse(b"x 1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "text format parsing error in line 1: unexpected end of input stream"
        );
    }

    /// Many families (past the linear-scan limit) and many labels (past the linear duplicate
    /// check) behave the same as few.
    #[test]
    fn large_inputs() {
        let mut body = String::new();
        for i in 0..100 {
            body.push_str(&format!(
                "# TYPE h{i} histogram\nh{i}_bucket{{le=\"1\"}} {i}\n"
            ));
        }
        for i in 0..100 {
            body.push_str(&format!("h{i}_count {i}\nh{i}_sum 1\n"));
        }
        let families = parse(body.as_bytes()).unwrap();
        assert_eq!(families.len(), 100);
        for (i, f) in families.iter().enumerate() {
            assert_eq!(f.metrics.len(), 1);
            let count = i as u64;
            assert_eq!(
                f.metrics[0].value,
                Value::Histogram {
                    buckets: vec![(1.0, count)],
                    sum: 1.0,
                    count,
                    native: None,
                }
            );
        }

        let labels: Vec<String> = (0..50).map(|i| format!("l{i}=\"{i}\"")).collect();
        let mut line = format!("# TYPE s summary\ns{{{}}} 1\n", labels.join(","));
        let mut reversed = labels.clone();
        reversed.reverse();
        line.push_str(&format!("s_sum{{{}}} 2\n", reversed.join(",")));
        let families = parse(line.as_bytes()).unwrap();
        assert_eq!(families[0].metrics.len(), 1);
        assert_eq!(families[0].metrics[0].labels.len(), 50);

        let dup = format!("x{{{},l7=\"\"}} 1\n", labels.join(","));
        let e = parse(dup.as_bytes()).unwrap_err();
        assert_eq!(e.reason, "duplicate label names for metric \"x\"");
    }

    fn family<'f>(families: &'f [MetricFamily], name: &str) -> &'f MetricFamily {
        families.iter().find(|f| f.name == name).unwrap()
    }

    #[test]
    fn node_exporter() {
        let body = testdata("node-exporter.prom");
        let families = parse(&body).unwrap();
        assert_eq!(families.len(), 283);
        let metrics: usize = families.iter().map(|f| f.metrics.len()).sum();
        assert_eq!(metrics, 501); // 507 sample lines, 7 of them one summary
        assert!(families
            .iter()
            .all(|f| f.help.is_some() && !f.metrics.is_empty()));

        let gc = family(&families, "go_gc_duration_seconds");
        assert_eq!(gc.mtype, MetricType::Summary);
        let Value::Summary { quantiles, .. } = &gc.metrics[0].value else {
            panic!("not a summary");
        };
        let qs: Vec<f64> = quantiles.iter().map(|q| q.0).collect();
        assert_eq!(qs, [0.0, 0.25, 0.5, 0.75, 1.0]);

        let boot = family(&families, "node_boot_time_seconds");
        assert_eq!(boot.mtype, MetricType::Gauge);
        assert_eq!(boot.metrics[0].value, Value::Simple(1.79555945e9));

        let cpu = family(&families, "node_cpu_seconds_total");
        assert_eq!(cpu.mtype, MetricType::Counter);
        let idle = [Label::new("cpu", "0"), Label::new("mode", "idle")];
        let m = cpu.metrics.iter().find(|m| m.labels == idle).unwrap();
        assert_eq!(m.value, Value::Simple(3270.87));

        let uname = family(&families, "node_uname_info");
        assert_eq!(uname.metrics[0].labels.len(), 6);
        assert_eq!(
            uname.metrics[0].labels[5],
            Label::new("version", "#1 SMP PREEMPT_DYNAMIC @0")
        );
    }

    #[test]
    fn client_golang() {
        let body = testdata("client-golang.prom");
        let families = parse(&body).unwrap();
        let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "batch_duration_seconds",
                "batch_item_bytes",
                "batch_last_success_timestamp_seconds",
                "batch_latency_seconds",
                "batch_records_total",
                "batch_size_bytes",
                "batch_untyped_thing",
            ]
        );
        assert_eq!(
            render(&families[..2]),
            "batch_duration_seconds histogram \"Classic histogram.\": \
             {} b[0.005:4 0.1:6 1:7 10:8 inf:9] sum=43.8031 count=9 \
             | batch_item_bytes summary \"Summary.\": {} q[0.5:500 0.99:990] sum=50500 count=100"
        );
        assert_eq!(
            render(&families[4..5]),
            r#"batch_records_total counter "Records handled by the batch.\nSecond line with a \\ backslash.": {kind="failed",path="line\nbreak"} 3; {kind="ok",path="C:\\tmp \"quoted\""} 1027"#
        );
        assert_eq!(
            families[6].metrics[0].value,
            Value::Simple(-1.2e-5),
            "batch_untyped_thing"
        );
    }

    /// Mutated and truncated real bodies must never panic, and errors must point at a line
    /// that exists.
    #[test]
    fn mutations_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let check = |body: &[u8]| {
            for names in [Validation::Legacy, Validation::Utf8] {
                if let Err(e) = parse_with(body, names) {
                    let lines = body.iter().filter(|&&b| b == b'\n').count() + 1;
                    assert!(e.line >= 1 && e.line <= lines, "{e} for {body:?}");
                }
            }
        };
        let interesting = b"\n\"\\{},= \t#\r\xff\xc3_:eE+-.0123456789qle";
        for name in ["client-golang.prom", "node-exporter.prom"] {
            let body = testdata(name);
            if body.len() < 4096 {
                for cut in 0..=body.len() {
                    check(&body[..cut]);
                }
            }
            // Fewer rounds for the big file keep the test a few seconds at most in debug builds.
            let rounds = if body.len() < 4096 { 5000 } else { 500 };
            for _ in 0..rounds {
                let mut m = body.clone();
                for _ in 0..=next(4) {
                    if m.is_empty() {
                        break;
                    }
                    let at = next(m.len());
                    match next(4) {
                        0 => m[at] = interesting[next(interesting.len())],
                        1 => m.insert(at, interesting[next(interesting.len())]),
                        2 => {
                            m.remove(at);
                        }
                        _ => m.truncate(at.max(1)),
                    }
                }
                check(&m);
            }
        }
    }
}
