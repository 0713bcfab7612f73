//! Serving a scrape: a resumable cursor that writes the store's families, merged with the
//! gateway's own metrics, in name order, a bounded piece at a time, in the negotiated format.
//!
//! Everything is kept as text format 0.0.4, which a text scrape copies as it is; OpenMetrics
//! and protobuf are derived from it line by line (`openmetrics`, `proto::encode`), except
//! where a member also keeps a protobuf form because its text is lossy (native histograms).
//! A protobuf family is built whole before it goes out, as its length comes first.
//!
//! The reactor calls [`Scrape::fill`] only when the socket can take more, so a scrape of
//! millions of series never builds the whole response in memory. The cursor remembers names,
//! not positions, so pushes and deletes between two pieces are safe: each family and each
//! group appears at most once, as it is when its turn comes.

use std::sync::Arc;

use crate::formats::compress::Gzip;
use crate::formats::lines::escape_names;
use crate::formats::model::MetricType;
use crate::formats::names::{escape, Escaping};
use crate::formats::proto::encode;
use crate::formats::{expose, openmetrics};
use crate::http::negotiate::{Choice, Format};
use crate::order;
use crate::store::{Group, Store, TIMESTAMPS};

/// A protobuf family's buffer larger than this is freed once the family is out: its bytes
/// then wait in the connection's output until the client reads them, and need no second copy.
const RETAIN_FAMILY: usize = 1 << 20;

/// One of the gateway's own families, rendered when the scrape starts.
pub struct OwnFamily {
    pub name: &'static str,
    pub help: &'static str,
    pub mtype: MetricType,
    pub text: Vec<u8>,
}

pub struct Scrape {
    output: Output,
    /// Set when the response is gzip'd.
    gzip: Option<Box<Compressed>>,
    /// Sorted by name.
    own: Vec<OwnFamily>,
    next_own: usize,
    /// How many of the store's timestamp gauge families (`store::TIMESTAMPS`) are started.
    next_timestamp: usize,
    /// The family being written (its header is out) and the last group written in it.
    current: Option<Current>,
    /// The last family started, to resume after it.
    last: Option<Arc<str>>,
}

struct Current {
    name: Arc<str>,
    mtype: MetricType,
    after: Option<Arc<str>>,
    /// A timestamp gauge: its samples come from the groups, not from stored families.
    timestamp: bool,
}

/// Where the next family comes from.
enum Source {
    Own,
    Timestamp,
    Stored,
}

impl Scrape {
    pub fn new(choice: Choice, mut own: Vec<OwnFamily>) -> Scrape {
        order::sort_by_key(&mut own, |f| f.name);
        Scrape {
            output: Output::new(choice.format, choice.escaping.unwrap_or_default()),
            gzip: choice.gzip.then(Box::default),
            own,
            next_own: 0,
            next_timestamp: 0,
            current: None,
            last: None,
        }
    }

    /// Bytes kept between calls to [`Scrape::fill`]: a protobuf family being built, and a
    /// gzip'd scrape's piece before compression.
    pub fn held(&self) -> usize {
        let family = match &self.output.kind {
            Kind::Protobuf(family) => family.capacity(),
            _ => 0,
        };
        family + self.gzip.as_ref().map_or(0, |c| c.plain.capacity())
    }

    /// Appends roughly `want` bytes of exposition (before compression) to `out`; `true` when
    /// the scrape is done.
    pub fn fill(&mut self, store: &Store, out: &mut Vec<u8>, want: usize) -> bool {
        let Some(mut c) = self.gzip.take() else {
            return self.fill_plain(store, out, want);
        };
        let before = out.len();
        let done = loop {
            c.plain.clear();
            let done = self.fill_plain(store, &mut c.plain, want);
            c.gzip.write(&c.plain, out, done);
            // Compressed output lags behind its input: go on until some comes out, unless no
            // input came either (a large protobuf family still being built). Then the reactor
            // serves others and comes back, as for any piece that produced nothing.
            if done || out.len() > before || c.plain.is_empty() {
                break done;
            }
        };
        self.gzip = Some(c);
        done
    }

    fn fill_plain(&mut self, store: &Store, out: &mut Vec<u8>, want: usize) -> bool {
        // Counted with a protobuf family still being built, which may be over `want` already.
        let limit = self.output.written(out) + want;
        while self.output.written(out) < limit {
            if self.current.is_none() && !self.start_family(store, out) {
                self.output.finish(out);
                return true;
            }
            self.write_members(store, out, limit);
        }
        false
    }

    /// Writes the header (and own samples) of the next family; `false` when there is none.
    fn start_family(&mut self, store: &Store, out: &mut Vec<u8>) -> bool {
        let stored = store.families_after(self.last.as_deref()).next();
        let timestamp = TIMESTAMPS
            .get(self.next_timestamp)
            .filter(|_| store.group_count() > 0);
        let candidates = [
            (Source::Own, self.own.get(self.next_own).map(|o| o.name)),
            (Source::Timestamp, timestamp.map(|(n, _)| *n)),
            (Source::Stored, stored.map(|(n, _)| n.as_ref())),
        ];
        // Ties go to the earlier source: own metrics merge with a pushed family of their name.
        let Some((source, name)) = candidates
            .into_iter()
            .filter_map(|(s, n)| Some((s, n?)))
            .reduce(|a, b| if b.1 < a.1 { b } else { a })
        else {
            return false;
        };
        let name: Arc<str> = match stored {
            Some((n, _)) if n.as_ref() == name => n.clone(),
            _ => Arc::from(name),
        };
        let with_stored = stored.is_some_and(|(n, _)| *n == name);
        match source {
            Source::Own => {
                let o = &self.own[self.next_own];
                self.next_own += 1;
                self.output.header(out, o.name, Some(o.help), o.mtype);
                self.output.samples(out, o.mtype, &o.text, None, false);
                if with_stored {
                    self.start_members(name.clone(), o.mtype, false);
                } else {
                    self.output.end_family(out);
                }
            }
            Source::Timestamp => {
                let (_, help) = TIMESTAMPS[self.next_timestamp];
                self.next_timestamp += 1;
                self.output
                    .header(out, &name, Some(help), MetricType::Gauge);
                self.start_members(name.clone(), MetricType::Gauge, true);
            }
            Source::Stored => {
                let (_, family) = stored.expect("a candidate");
                let (mtype, help) = family.shown();
                self.output.header(out, &name, help, mtype);
                self.start_members(name.clone(), mtype, false);
            }
        }
        self.last = Some(name);
        true
    }

    fn start_members(&mut self, name: Arc<str>, mtype: MetricType, timestamp: bool) {
        self.current = Some(Current {
            name,
            mtype,
            after: None,
            timestamp,
        });
    }

    fn write_members(&mut self, store: &Store, out: &mut Vec<u8>, limit: usize) {
        let Some(cur) = &mut self.current else {
            return;
        };
        let output = &mut self.output;
        if cur.timestamp {
            let mut line = Vec::new();
            for (key, group) in store.groups_after(cur.after.as_deref()) {
                if output.as_stored(group.quoted()) {
                    group.write_timestamp(out, &cur.name);
                } else {
                    output.timestamp(out, group, &cur.name, &mut line);
                }
                if output.written(out) >= limit {
                    cur.after = Some(key.clone());
                    return;
                }
            }
        } else {
            for (key, member) in store.members_after(&cur.name, cur.after.as_deref()) {
                // Only reachable with the consistency check off: series of another type would
                // make the family unparsable, so they stay hidden until the conflict is gone.
                if member.mtype() == cur.mtype {
                    let (text, native) = (member.text(), member.native());
                    output.samples(out, cur.mtype, text, native, member.quoted());
                }
                if output.written(out) >= limit {
                    cur.after = Some(key.clone());
                    return;
                }
            }
        }
        self.current = None;
        self.output.end_family(out);
    }
}

/// A gzip'd scrape's compressor, and where a piece is written before it is compressed.
#[derive(Default)]
struct Compressed {
    gzip: Gzip,
    plain: Vec<u8>,
}

/// Writes families in the negotiated format, with names escaped as negotiated.
struct Output {
    kind: Kind,
    escaping: Escaping,
    /// Where a member's text goes when its names must be escaped first.
    escaped: Vec<u8>,
    /// The current family's name as stored, and as shown (escaped).
    stored: String,
    family: String,
}

enum Kind {
    Text,
    OpenMetrics,
    /// The message of the family being written.
    Protobuf(Vec<u8>),
}

impl Output {
    fn new(format: Format, escaping: Escaping) -> Output {
        let kind = match format {
            Format::Text(_) => Kind::Text,
            Format::OpenMetrics(_) => Kind::OpenMetrics,
            Format::Protobuf => Kind::Protobuf(Vec::new()),
        };
        Output {
            kind,
            escaping,
            escaped: Vec::new(),
            stored: String::new(),
            family: String::new(),
        }
    }

    /// How much is written, counting a protobuf family still being built.
    fn written(&self, out: &[u8]) -> usize {
        match &self.kind {
            Kind::Protobuf(family) => out.len() + family.len(),
            _ => out.len(),
        }
    }

    /// Whether samples go out as stored (text format, no names to escape in them): then
    /// they may be written straight to the output.
    fn as_stored(&self, quoted: bool) -> bool {
        matches!(self.kind, Kind::Text) && (!quoted || self.escaping == Escaping::AllowUtf8)
    }

    /// Starts family `name`, whose samples follow.
    fn header(&mut self, out: &mut Vec<u8>, name: &str, help: Option<&str>, mtype: MetricType) {
        self.stored.clear();
        self.stored.push_str(name);
        self.family.clear();
        self.family.push_str(&escape(name, self.escaping));
        let name = &self.family;
        match &mut self.kind {
            Kind::Text => expose::write_header(out, name, help, mtype),
            Kind::OpenMetrics => openmetrics::write_header(out, name, help, mtype),
            Kind::Protobuf(family) => {
                family.clear();
                encode::family_header(family, name, help, mtype);
            }
        }
    }

    /// Writes `group`'s sample of timestamp gauge `name` where it does not go out as stored:
    /// from its value where the format allows (`line` is scratch space for the other cases).
    fn timestamp(&mut self, out: &mut Vec<u8>, group: &Group, name: &str, line: &mut Vec<u8>) {
        let plain = !group.quoted() || self.escaping == Escaping::AllowUtf8;
        match &mut self.kind {
            Kind::OpenMetrics if plain => {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(group.series());
                out.push(b' ');
                openmetrics::write_float(out, group.timestamp_text(name));
                out.push(b'\n');
            }
            Kind::Protobuf(family) if plain => {
                encode::write_gauge_metric(family, group.series(), group.timestamp(name))
            }
            _ => {
                line.clear();
                group.write_timestamp(line, name);
                self.samples(out, MetricType::Gauge, line, None, group.quoted());
            }
        }
    }

    /// Writes one member's samples: `text` in the stored form, `native` its protobuf form
    /// when it keeps one; `quoted` when the text has quoted names.
    fn samples(
        &mut self,
        out: &mut Vec<u8>,
        mtype: MetricType,
        text: &[u8],
        native: Option<&[u8]>,
        quoted: bool,
    ) {
        if self.as_stored(quoted) {
            out.extend_from_slice(text);
            return;
        }
        let name = &self.family;
        let mut escaped = std::mem::take(&mut self.escaped);
        let (text, native) = if quoted && self.escaping != Escaping::AllowUtf8 {
            escaped.clear();
            escape_names(&mut escaped, &self.stored, text, self.escaping);
            // The protobuf form's names are not escaped: the classic view is what is left.
            (&escaped[..], None)
        } else {
            (text, native)
        };
        match &mut self.kind {
            Kind::Text => out.extend_from_slice(text),
            Kind::OpenMetrics => openmetrics::write_samples(out, name, mtype, text),
            Kind::Protobuf(family) => match native {
                Some(metrics) => family.extend_from_slice(metrics),
                None => encode::write_text_metrics(family, name, mtype, text),
            },
        }
        self.escaped = escaped;
    }

    fn end_family(&mut self, out: &mut Vec<u8>) {
        if let Kind::Protobuf(family) = &mut self.kind {
            encode::write_delimited(out, family);
            family.clear();
            if family.capacity() > RETAIN_FAMILY {
                *family = Vec::new();
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if let Kind::OpenMetrics = self.kind {
            out.extend_from_slice(openmetrics::EOF);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::compress::{decompress, Encoding};
    use crate::store::key::GroupingKey;
    use crate::store::Push;

    fn store() -> Store {
        let mut store = Store::new();
        for i in 0..50 {
            let body = format!(
                "# TYPE a_total counter\na_total{{x=\"{i}\"}} {i}\n# TYPE h histogram\n\
                 h_bucket{{le=\"1\"}} 1\nh_bucket{{le=\"+Inf\"}} 2\nh_sum 3\nh_count 2\n"
            );
            let mut push = Push {
                key: GroupingKey::from_path(&format!("/j/i/{i}"), false).unwrap(),
                families: crate::formats::text::parse(body.as_bytes()).unwrap(),
                replace: true,
                now: 1.0,
            };
            crate::store::check::sanitize(&mut push).unwrap();
            store.apply(&push.render());
        }
        store
    }

    /// The whole scrape, taken `piece` bytes at a time, decompressed when gzip'd.
    fn scrape(store: &Store, format: Format, gzip: bool, piece: usize) -> Vec<u8> {
        let own = vec![OwnFamily {
            name: "a_total",
            help: "Own.",
            mtype: MetricType::Counter,
            text: b"a_total{own=\"1\"} 1\n".to_vec(),
        }];
        let choice = Choice {
            format,
            escaping: None,
            gzip,
        };
        let mut s = Scrape::new(choice, own);
        let mut out = Vec::new();
        let mut calls = 0;
        while !s.fill(store, &mut out, piece) {
            calls += 1;
            assert!(calls < 100_000, "{format:?} gzip {gzip}: no end in sight");
        }
        match gzip {
            true => decompress(Encoding::Gzip, &out, usize::MAX)
                .unwrap()
                .into_owned(),
            false => out,
        }
    }

    #[test]
    fn every_format_comes_out_the_same_in_small_pieces() {
        let store = store();
        for format in [
            Format::Text(false),
            Format::OpenMetrics(true),
            Format::Protobuf,
        ] {
            let whole = scrape(&store, format, false, usize::MAX);
            assert!(whole.len() > 4000, "{format:?}");
            for (gzip, piece) in [
                (false, 1),
                (false, 7),
                (false, 300),
                (true, 7),
                (true, 1000),
            ] {
                let pieces = scrape(&store, format, gzip, piece);
                assert!(
                    pieces == whole,
                    "{format:?}, gzip {gzip}, pieces of {piece}"
                );
            }
        }
    }
}
