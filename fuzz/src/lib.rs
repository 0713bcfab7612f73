//! What the fuzz targets share: the push pipeline a decoded body goes through, and a
//! comparable picture of a store.
//!
//! The targets use the gateway's public API only, so what they prove holds for the code the
//! server runs, not for a copy of it.

use pushgate::formats::model::MetricFamily;
use pushgate::formats::names::{Escaping, Validation};
use pushgate::formats::proto;
use pushgate::formats::text;
use pushgate::http::negotiate::{Choice, Format};
use pushgate::store::check;
use pushgate::store::key::GroupingKey;
use pushgate::store::{Push, SnapshotCursor, SnapshotItem, Store};
use pushgate::web::scrape::Scrape;
use pushgate::web::telemetry::own_type;

/// A push may render to this much before the targets skip it: the gateway's own bound is in
/// gigabytes, which no fuzz iteration should spend.
const MAX_RENDERED: usize = 4 << 20;

/// The name validation an input asks for with its first byte's low bit.
pub fn validation(flags: u8) -> Validation {
    if flags & 1 == 0 {
        Validation::Legacy
    } else {
        Validation::Utf8
    }
}

/// `families` as the gateway would store them from a push to job `fuzz`: labelled,
/// sanitized and checked against an empty store. `None` when the gateway refuses them (or
/// they would take more than an iteration should spend).
pub fn accepted(families: Vec<MetricFamily>) -> Option<Push> {
    let mut push = Push {
        key: GroupingKey::from_path("/fuzz", false).expect("a valid key"),
        families,
        replace: true,
        now: 1.0,
    };
    if push.rendered_len_bound() > MAX_RENDERED || check::sanitize(&mut push).is_err() {
        return None;
    }
    check::check(&Store::new(), &push, own_type).ok()?;
    Some(push)
}

/// Applies an [`accepted`] push to a store and scrapes it in every format: what the gateway
/// accepts must come out as text and protobuf that read back under the same name rules, with
/// every family it pushed.
pub fn push_and_scrape(push: Push, names: Validation) {
    let mut store = Store::new();
    let pushed: Vec<String> = push
        .families
        .iter()
        .filter(|f| !f.metrics.is_empty())
        .map(|f| f.name.clone())
        .collect();
    store.apply(&push.render());
    // Names outside the legacy set are shown as they are, so they read back as pushed.
    let escaping = (names == Validation::Utf8).then_some(Escaping::AllowUtf8);
    for format in [
        Format::Text(false),
        Format::OpenMetrics(true),
        Format::Protobuf,
    ] {
        let choice = Choice {
            format,
            escaping,
            gzip: false,
        };
        let out = scrape(&store, choice);
        let read: Vec<String> = match format {
            Format::Text(_) => text::parse_with(&out, names)
                .unwrap_or_else(|e| panic!("the text scrape does not parse: {e}\n{}", show(&out)))
                .into_iter()
                .map(|f| f.name)
                .collect(),
            Format::Protobuf => proto::decode_with(&out, names)
                .unwrap_or_else(|e| panic!("the protobuf scrape does not decode: {e}"))
                .into_iter()
                .map(|f| f.name)
                .collect(),
            // No OpenMetrics parser here: the scrape must only not panic.
            Format::OpenMetrics(_) => continue,
        };
        for name in &pushed {
            assert!(
                read.contains(name),
                "{format:?} scrape lacks family {name:?}\n{}",
                show(&out)
            );
        }
    }
}

/// The whole scrape of `store` as `choice` asks for it, without the gateway's own metrics.
pub fn scrape(store: &Store, choice: Choice) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = Scrape::new(choice, Vec::new());
    while !s.fill(store, &mut out, 1 << 16) {}
    out
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Everything a store holds, in a form two stores can be compared by: every group with its
/// times (as bits, so NaN equals itself), then every family member in push order with its
/// sequence number replaced by its rank (a replayed or compacted store numbers pushes anew,
/// in the same order), and the text scrape.
pub fn store_state(store: &Store) -> Vec<String> {
    let mut items = Vec::new();
    assert!(store.snapshot(&mut SnapshotCursor::default(), usize::MAX, &mut items));
    let mut groups = Vec::new();
    let mut members = Vec::new();
    for item in items {
        match item {
            SnapshotItem::Group {
                group,
                push_time,
                failure_time,
                ttl,
            } => groups.push(format!(
                "group {group:?} pushed {:x} failed {:x} ttl {:?}",
                push_time.to_bits(),
                failure_time.to_bits(),
                ttl.map(f64::to_bits)
            )),
            SnapshotItem::Member(m) => members.push(m),
        }
    }
    members.sort_by_key(|m| m.seq);
    let mut state = groups;
    state.extend(members.iter().map(|m| {
        format!(
            "member {:?} of {:?}: {:?} help {:?} at {:x} text {:?} native {:?}",
            m.family,
            m.group,
            m.mtype,
            m.help,
            m.time.to_bits(),
            show(&m.text),
            m.native
        )
    }));
    state.push(show(&scrape(store, Choice::default())));
    state
}
