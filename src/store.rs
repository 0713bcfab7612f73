//! The in-memory metric store: groups, the family index, and applying pushes and deletes.
//!
//! Every group's families are kept pre-rendered in the text exposition format, indexed by
//! family name and then by group, so that a scrape is a walk over two sorted maps that
//! concatenates bytes, and a push touches only the families it names. The consistency check
//! lives in `check`; scraping in `scrape`. No I/O happens here.

pub mod check;
pub mod key;
pub(crate) mod limits;
mod shapes;

use std::borrow::Cow;
use std::collections::btree_map::{Entry, Range};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound::{Excluded, Unbounded};
use std::sync::Arc;

use crate::formats::expose;
use crate::formats::lines::has_quoted_names;
use crate::formats::model::{self, Label, MetricFamily, MetricType, Value};
use crate::formats::proto::encode;
use key::GroupingKey;
use shapes::Shapes;

pub const PUSH_TIME: &str = "push_time_seconds";
pub const PUSH_FAILURE_TIME: &str = "push_failure_time_seconds";
const PUSH_TIME_HELP: &str =
    "Last Unix time when changing this group in the Pushgateway succeeded.";
const PUSH_FAILURE_TIME_HELP: &str =
    "Last Unix time when changing this group in the Pushgateway failed.";

/// A float rendered once, so scrapes copy it instead of formatting it again.
#[derive(Clone, Copy)]
struct FloatText {
    len: u8,
    /// Go's shortest `%g` form of an f64 is at most 24 bytes (`-1.2345678901234567e-308`).
    bytes: [u8; 24],
}

impl FloatText {
    /// What a timestamp gauge shows until its event first happens.
    const ZERO: FloatText = {
        let mut bytes = [0; 24];
        bytes[0] = b'0';
        FloatText { len: 1, bytes }
    };

    fn new(v: f64) -> FloatText {
        let mut out = Vec::with_capacity(24);
        expose::write_float(&mut out, v);
        let mut bytes = [0; 24];
        bytes[..out.len()].copy_from_slice(&out);
        FloatText {
            len: out.len() as u8,
            bytes,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for FloatText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

/// One group: the labels of its grouping key and when it was last changed. Its two timestamp
/// gauges are not stored as families: they are rendered from here when scraped, which halves
/// the memory a small group needs.
#[derive(Debug)]
pub struct Group {
    /// The canonical key (the same allocation as the store's map key). The labels are read
    /// from it rather than kept a second time: they are most of a small group's memory.
    canonical: Arc<str>,
    /// Unix seconds of the last successful push (0 = never).
    push_time: f64,
    /// Unix seconds of the last rejected push (0 = never).
    failure_time: f64,
    /// Names of the pushed families this group holds (timestamp gauges not included).
    families: Vec<Arc<str>>,
    /// Unix seconds when the group came to be: the time a timestamp gauge reports as set
    /// until its own event first happens, as upstream does.
    created: f64,
    /// The time to live its last successful push asked for (seconds; 0 = never expires), or
    /// `None` for the store's default.
    ttl: Option<f64>,
    /// When it expires, in Unix milliseconds (0 = never): its entry in [`Store::expiry`].
    deadline: u64,
    /// `{...}` with the key labels and `instance=""` when the key has none.
    series: Box<[u8]>,
    /// Whether `series` has quoted (UTF-8) label names, which a scrape may have to escape.
    quoted: bool,
    push_text: FloatText,
    failure_text: FloatText,
}

impl Group {
    /// Unix seconds of the last successful push (0 = never).
    pub fn push_time(&self) -> f64 {
        self.push_time
    }

    /// Unix seconds of the last rejected push (0 = never).
    pub fn failure_time(&self) -> f64 {
        self.failure_time
    }

    /// Names of the pushed families it holds (timestamp gauges not included), in push order.
    pub fn families(&self) -> &[Arc<str>] {
        &self.families
    }

    /// Whether its labels have quoted (UTF-8) names, which a scrape may have to escape.
    pub fn quoted(&self) -> bool {
        self.quoted
    }

    /// The grouping key's labels, sorted by name.
    pub fn labels(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
        crate::store::key::canonical_pairs(&self.canonical)
    }

    /// The value of one key label.
    pub fn label(&self, name: &str) -> Option<Cow<'_, str>> {
        self.labels().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn key(&self) -> GroupingKey {
        GroupingKey::from_canonical(&self.canonical)
    }

    /// Appends the sample line of timestamp gauge `name` (`PUSH_TIME` or `PUSH_FAILURE_TIME`).
    pub(crate) fn write_timestamp(&self, out: &mut Vec<u8>, name: &str) {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&self.series);
        out.push(b' ');
        out.extend_from_slice(self.timestamp_text(name));
        out.push(b'\n');
    }

    /// The value of timestamp gauge `name` as the text format writes it.
    pub(crate) fn timestamp_text(&self, name: &str) -> &[u8] {
        if name == PUSH_TIME {
            self.push_text.as_bytes()
        } else {
            self.failure_text.as_bytes()
        }
    }

    /// The labels its timestamp gauges show: `{...}`, the key's and `instance=""` when the
    /// key has none.
    pub(crate) fn series(&self) -> &[u8] {
        &self.series
    }

    /// The value of timestamp gauge `name` (0 until its event first happens).
    pub(crate) fn timestamp(&self, name: &str) -> f64 {
        if name == PUSH_TIME {
            self.push_time
        } else {
            self.failure_time
        }
    }

    /// When the group expires (Unix seconds), if it does.
    pub fn expires_at(&self) -> Option<f64> {
        (self.deadline != 0).then(|| self.deadline as f64 / 1e3)
    }

    /// When timestamp gauge `name` was last set (upstream's per-family time in the JSON API).
    fn timestamp_set_at(&self, name: &str) -> f64 {
        let t = self.timestamp(name);
        if t > 0.0 {
            t
        } else {
            self.created
        }
    }
}

/// The two timestamp gauges every group has, in name order, with their HELP.
pub(crate) const TIMESTAMPS: [(&str, &str); 2] = [
    (PUSH_FAILURE_TIME, PUSH_FAILURE_TIME_HELP),
    (PUSH_TIME, PUSH_TIME_HELP),
];

/// One family's contribution from one group.
#[derive(Debug)]
pub struct Member {
    mtype: MetricType,
    help: Option<Arc<str>>,
    /// Store-wide push sequence number: the newest member decides the family's HELP and TYPE.
    seq: u64,
    /// Unix seconds of the push that last set this member (upstream's per-family `time_stamp`
    /// in the JSON API).
    time: f64,
    /// The family's sample lines for this group, sorted by label set.
    text: Arc<[u8]>,
    /// The family's metrics as protobuf, kept only when the text cannot express them (native
    /// histograms).
    native: Option<Arc<[u8]>>,
    /// Whether the text has quoted (UTF-8) names, which a scrape may have to escape: known
    /// here, a scrape need not look for them.
    quoted: bool,
}

impl Member {
    pub fn mtype(&self) -> MetricType {
        self.mtype
    }

    /// The sample lines, sorted by label set.
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// The metrics as protobuf `Metric` fields, kept only when the text cannot express them.
    pub fn native(&self) -> Option<&[u8]> {
        self.native.as_deref()
    }

    /// Whether the text has quoted (UTF-8) names.
    pub fn quoted(&self) -> bool {
        self.quoted
    }
}

/// A read-only view of one family's contribution from one group.
#[derive(Debug)]
pub struct MemberView<'a> {
    pub mtype: MetricType,
    /// The HELP this group pushed.
    pub help: Option<&'a str>,
    /// The sample lines, sorted by label set.
    pub text: std::borrow::Cow<'a, [u8]>,
    /// The metrics as protobuf `Metric` fields, in the same order, kept only when the text
    /// cannot express them (native histograms, float counts).
    pub native: Option<&'a [u8]>,
    /// Unix seconds of the push that last set it.
    pub time: f64,
}

/// Every group's contribution to one family name.
#[derive(Debug)]
pub struct Family {
    /// The same allocation as the family map's key, so a push naming the family finds it
    /// with one lookup.
    name: Arc<str>,
    /// The type and help of the newest member (with the consistency check on, all members
    /// share one type), unless `stale`: see [`Family::shown`].
    mtype: MetricType,
    help: Option<Arc<str>>,
    /// The newest member's push sequence number.
    newest: u64,
    /// The newest member left (a batch job's group deleted after its push, typically). Its
    /// successor is found when a scrape needs it, which walks every member anyway, rather
    /// than by a scan of every group's member on each such delete, or an index by push order
    /// that would cost every member memory.
    stale: bool,
    /// Keyed by the group's canonical key, so a scrape lists groups in a stable order.
    members: BTreeMap<Arc<str>, Member>,
}

impl Family {
    /// The type of the newest push that set a member (all members' with the consistency
    /// check on).
    pub fn mtype(&self) -> MetricType {
        self.mtype
    }

    /// Whether group `key` (canonical) has a member, and whether any other group has one.
    pub fn members_of(&self, key: &str) -> (bool, bool) {
        let ours = self.members.contains_key(key);
        (ours, self.members.len() > usize::from(ours))
    }

    /// The type and help a scrape shows: the newest member's.
    pub fn shown(&self) -> (MetricType, Option<&str>) {
        let newest = self
            .stale
            .then(|| self.members.values().max_by_key(|m| m.seq))
            .flatten();
        match newest {
            Some(m) => (m.mtype, m.help.as_deref()),
            None => (self.mtype, self.help.as_deref()),
        }
    }
}

/// What a push asks for, once decoded; see `check` for what happens before it is rendered.
pub struct Push {
    pub key: GroupingKey,
    pub families: Vec<MetricFamily>,
    /// PUT (replace the group) rather than POST (replace the named families).
    pub replace: bool,
    /// Unix seconds.
    pub now: f64,
}

impl Push {
    /// An upper bound of the text [`Push::render`] would make of this push once its series
    /// carry the grouping key's labels (and `instance`), weighed before they do. (The protobuf
    /// form a native histogram also keeps holds each series' labels once, and buckets from
    /// the body, whose size is capped already.)
    pub fn rendered_len_bound(&self) -> usize {
        let key = self
            .key
            .labels
            .iter()
            .map(|l| expose::label_len_bound(&l.name, &l.value))
            .fold(
                expose::label_len_bound("instance", ""),
                usize::saturating_add,
            );
        self.families
            .iter()
            .flat_map(|f| {
                f.metrics
                    .iter()
                    .map(move |m| expose::metric_len_bound(&f.name, m, key))
            })
            .fold(0, usize::saturating_add)
    }

    /// Renders the (sanitized, checked) families into their exposition text.
    pub fn render(self) -> Change {
        let families = self
            .families
            .into_iter()
            .map(|f| {
                // Room for a few series up front: growing from empty took most of the
                // allocations of a small push. The store keeps its own exact copy.
                let mut text = Vec::with_capacity(256);
                expose::write_metrics(&mut text, &f.name, &f.metrics);
                let lossy = f.metrics.iter().any(|m| {
                    matches!(
                        m.value,
                        Value::Histogram {
                            native: Some(_),
                            ..
                        }
                    )
                });
                let native = lossy.then(|| {
                    let mut out = Vec::new();
                    for m in &f.metrics {
                        let labels = m.labels.iter().map(|l| (l.name.as_str(), l.value.as_str()));
                        encode::write_metric(&mut out, labels, f.mtype, &m.value);
                    }
                    out
                });
                RenderedFamily {
                    name: f.name,
                    mtype: f.mtype,
                    help: f.help,
                    text,
                    native,
                    time: None,
                }
            })
            .collect();
        Change {
            key: self.key,
            replace: self.replace,
            now: self.now,
            ttl: None,
            families,
        }
    }
}

/// A family as the store keeps it: sample lines already rendered.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedFamily {
    pub name: String,
    pub mtype: MetricType,
    pub help: Option<String>,
    /// The sample lines; empty means the family is removed from the group.
    pub text: Vec<u8>,
    /// The family's metrics as protobuf, kept only when the text cannot express them (native
    /// histograms).
    pub native: Option<Vec<u8>>,
    /// Unix seconds of the push that set the family, when not the change's own time: a
    /// compacted log merges families a group got at different times into one change.
    pub time: Option<f64>,
}

/// A successful push, ready to apply (and to log).
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub key: GroupingKey,
    /// PUT (replace the group) rather than POST (replace the named families).
    pub replace: bool,
    /// Unix seconds.
    pub now: f64,
    /// The group's time to live from now on (see the `ttl` of [`Group`]).
    pub ttl: Option<f64>,
    pub families: Vec<RenderedFamily>,
}

/// One change to the store, as it is applied, logged and replayed.
#[derive(Clone, Debug, PartialEq)]
pub enum Mutation {
    /// A successful push (PUT or POST), already rendered.
    Change(Change),
    /// A rejected push: the group gets its failure time.
    Failure {
        key: GroupingKey,
        now: f64,
    },
    Delete(GroupingKey),
    Wipe,
}

/// One piece of a store snapshot: a group's timestamps, or one family's contribution from one
/// group. It shares the store's strings and texts, so taking it copies no sample data.
#[derive(Debug)]
pub enum SnapshotItem {
    Group {
        /// The group's canonical key.
        group: Arc<str>,
        push_time: f64,
        failure_time: f64,
        ttl: Option<f64>,
    },
    Member(SnapshotMember),
}

/// One family's contribution from one group, as a snapshot holds it.
#[derive(Debug)]
pub struct SnapshotMember {
    /// The group's canonical key.
    pub group: Arc<str>,
    pub family: Arc<str>,
    pub mtype: MetricType,
    pub help: Option<Arc<str>>,
    pub text: Arc<[u8]>,
    pub native: Option<Arc<[u8]>>,
    /// Unix seconds of the push that set it.
    pub time: f64,
    /// Replaying members in this order reproduces which one decides a family's HELP.
    pub seq: u64,
}

/// How far a snapshot taken in pieces has come: the current family (in name order) and the
/// last group taken from it (in key order).
#[derive(Debug, Default)]
pub struct SnapshotCursor {
    /// Groups come first, then families.
    groups_done: bool,
    family: Option<Arc<str>>,
    group: Option<Arc<str>>,
}

#[derive(Default)]
pub struct Store {
    /// Sorted by canonical key: scrapes list the timestamp gauges in that order.
    groups: BTreeMap<Arc<str>, Group>,
    families: BTreeMap<Arc<str>, Family>,
    /// For each set of key label names in use, how many groups have it. Lets the check find
    /// the few groups whose series could collide with a pushed series without a scan.
    shapes: Shapes,
    /// Groups that expire, by deadline (Unix milliseconds) and canonical key: expiry takes
    /// the first few, never scanning the store.
    expiry: BTreeSet<(u64, Arc<str>)>,
    /// `--push.group-ttl` in seconds (0 = groups never expire unless a push asks).
    default_ttl: f64,
    /// Sample lines held, what a scraper stores as series (`--push.max-series`).
    series: u64,
    seq: u64,
    scratch: Scratch,
}

/// Buffers reused from one change to the next, so that finding a change's group (or
/// creating it) allocates no more than the group keeps.
#[derive(Default)]
struct Scratch {
    /// The change's canonical key.
    key: String,
    /// Its series labels.
    series: Vec<u8>,
}

impl Store {
    pub fn new() -> Store {
        Store::default()
    }

    /// A store whose groups expire `ttl` seconds after their last successful push (0 =
    /// never) unless a push asks otherwise.
    pub fn with_default_ttl(ttl: f64) -> Store {
        Store {
            default_ttl: ttl,
            ..Store::default()
        }
    }

    /// The keys of up to `max` groups whose deadline is at or before `now` (Unix seconds),
    /// soonest first: O(what is returned).
    pub fn due(&self, now: f64, max: usize) -> Vec<GroupingKey> {
        let now_ms = to_ms(now);
        self.expiry
            .iter()
            .take_while(|(deadline, _)| *deadline <= now_ms)
            .take(max)
            .map(|(_, key)| GroupingKey::from_canonical(key))
            .collect()
    }

    /// Whether a group is due at `now`.
    pub fn any_due(&self, now: f64) -> bool {
        self.expiry
            .first()
            .is_some_and(|(deadline, _)| *deadline <= to_ms(now))
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// The sample lines (series, as a scraper stores them) all groups hold.
    pub fn series_count(&self) -> u64 {
        self.series
    }

    /// The series that group `key` holds in family `name` (all its families for `None`):
    /// what a push would replace.
    pub fn group_series(&self, key: &GroupingKey, name: Option<&str>) -> u64 {
        let canonical = key.canonical();
        let Some(group) = self.groups.get(canonical.as_str()) else {
            return 0;
        };
        group
            .families
            .iter()
            .filter(|f| name.is_none_or(|n| n == f.as_ref()))
            .filter_map(|f| self.member(f, &canonical))
            .map(|m| sample_lines(&m.text))
            .sum()
    }

    pub fn group(&self, key: &GroupingKey) -> Option<&Group> {
        self.groups.get(key.canonical().as_str())
    }

    /// The existing group whose series would carry the same labels as `key`'s: every series
    /// gets `instance=""` when its key has no instance, so `{job="j"}` and
    /// `{instance="",job="j"}` are two keys of one label set, whose timestamps would be
    /// exposed twice.
    pub fn twin(&self, key: &GroupingKey) -> Option<&Group> {
        let mut labels = key.labels.clone();
        match labels.iter().position(|l| l.name == "instance") {
            Some(i) if labels[i].value.is_empty() => {
                labels.remove(i);
            }
            Some(_) => return None,
            None => {
                labels.push(Label::new("instance", ""));
                model::sort_by_name(&mut labels);
            }
        }
        self.group(&GroupingKey { labels })
    }

    /// Groups in canonical-key order, starting after `after`.
    pub fn groups_after(&self, after: Option<&str>) -> Range<'_, Arc<str>, Group> {
        range_after(&self.groups, after)
    }

    /// Families in name order, starting after `after`.
    pub fn families_after(&self, after: Option<&str>) -> Range<'_, Arc<str>, Family> {
        range_after(&self.families, after)
    }

    /// Family `name`'s members in canonical-key order of their groups, starting after group
    /// `after`: a walk that resumes where it stopped, whatever changed in between.
    pub fn members_after(&self, name: &str, after: Option<&str>) -> Range<'_, Arc<str>, Member> {
        // A range of an empty map for a family that is not there: a plain range either way,
        // which a scrape steps through more cheaply than a flattened option of one.
        static NONE: BTreeMap<Arc<str>, Member> = BTreeMap::new();
        let members = self.families.get(name).map_or(&NONE, |f| &f.members);
        range_after(members, after)
    }

    /// One family's contribution from one group (`key` canonical), timestamp gauges included.
    pub fn member_view(&self, name: &str, key: &str) -> Option<MemberView<'_>> {
        if let Some(&(name, help)) = TIMESTAMPS.iter().find(|(n, _)| *n == name) {
            let group = self.groups.get(key)?;
            let mut text = Vec::new();
            group.write_timestamp(&mut text, name);
            return Some(MemberView {
                mtype: MetricType::Gauge,
                help: Some(help),
                text: text.into(),
                native: None,
                time: group.timestamp_set_at(name),
            });
        }
        let m = self.member(name, key)?;
        Some(MemberView {
            mtype: m.mtype,
            help: m.help.as_deref(),
            text: m.text.as_ref().into(),
            native: m.native.as_deref(),
            time: m.time,
        })
    }

    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.get(name)
    }

    fn member(&self, name: &str, key: &str) -> Option<&Member> {
        self.families.get(name)?.members.get(key)
    }

    /// The type and rendered sample lines of family `name` in the group with canonical key
    /// `key`.
    pub fn member_text(&self, name: &str, key: &str) -> Option<(MetricType, &[u8])> {
        let m = self.member(name, key)?;
        Some((m.mtype, &m.text))
    }

    /// Makes a mutation happen, exactly as when it was first accepted: the single place
    /// where an accepted request, or a record replayed from the log, meets the store.
    pub fn mutate(&mut self, mutation: &Mutation) {
        match mutation {
            Mutation::Change(change) => self.apply(change),
            Mutation::Failure { key, now } => self.record_failure(key, *now),
            Mutation::Delete(key) => {
                self.delete(key);
            }
            Mutation::Wipe => self.wipe(),
        }
    }

    /// Applies a change (a rendered push, or one replayed from the log), borrowed: the log's
    /// replay decodes every record into the buffers of the one before.
    pub fn apply(&mut self, change: &Change) {
        let Store {
            groups,
            families,
            shapes,
            expiry,
            default_ttl,
            series,
            seq,
            scratch,
        } = self;
        let group = ensure_group(groups, shapes, scratch, &change.key, change.now);
        let key = group.canonical.clone();
        let pushed = &change.families;
        // Each family the group holds is looked up among the pushed ones.
        let find = ByName::new(pushed, |f| &f.name);
        group.families.reserve(pushed.len());
        group.families.retain(|name| {
            match find.get(name) {
                // Pushed again: replaced in place by `insert_member`, which saves removing
                // it from the family's trees first.
                Some(f) if !f.text.is_empty() => false,
                None if !change.replace => true,
                // An empty family still replaces (removes) the old one, as upstream does.
                _ => {
                    remove_member(families, series, name, &key);
                    false
                }
            }
        });
        for family in pushed {
            if family.text.is_empty() {
                continue;
            }
            *seq += 1;
            let name = insert_member(families, series, &key, family, change.now, *seq);
            group.families.push(name);
        }
        group.push_time = change.now;
        group.push_text = FloatText::new(change.now);
        group.ttl = change.ttl;
        schedule(expiry, group, *default_ttl);
    }

    /// Records a rejected push: the group (created if needed) gets its failure time.
    pub fn record_failure(&mut self, key: &GroupingKey, now: f64) {
        let group = ensure_group(
            &mut self.groups,
            &mut self.shapes,
            &mut self.scratch,
            key,
            now,
        );
        group.failure_time = now;
        group.failure_text = FloatText::new(now);
        // A group that only ever failed lives from its creation; a failure never extends it.
        if group.push_time == 0.0 && group.deadline == 0 {
            schedule(&mut self.expiry, group, self.default_ttl);
        }
    }

    /// Removes a group; `false` when there was none.
    pub fn delete(&mut self, key: &GroupingKey) -> bool {
        let canonical = key.canonical();
        let Some((canonical, group)) = self.groups.remove_entry(canonical.as_str()) else {
            return false;
        };
        for name in &group.families {
            remove_member(&mut self.families, &mut self.series, name, &canonical);
        }
        self.expiry.remove(&(group.deadline, canonical.clone()));
        self.shapes
            .remove(key.labels.iter().map(|l| l.name.as_str()));
        true
    }

    /// Removes every group at once. The old contents are freed on a helper thread, so a wipe
    /// costs the caller O(1) however large the store was.
    pub fn wipe(&mut self) {
        let old = std::mem::replace(self, Store::with_default_ttl(self.default_ttl));
        if old.groups.len() > 1000 {
            // Freeing is the only work; if no thread can be had, it happens here instead.
            let _ = std::thread::Builder::new()
                .name("pushgate-wipe".into())
                .spawn(move || drop(old));
        }
    }

    /// Appends about `max` more items of a snapshot to `out`, resuming at `cursor`; `true` once
    /// everything was taken. The store may change between calls, so each item is as it was
    /// when taken: whoever needs one consistent state replays the changes made meanwhile on
    /// top (the persistence log's compaction does). Taking it in pieces keeps the event loop
    /// responsive however large the store is.
    pub fn snapshot(
        &self,
        cursor: &mut SnapshotCursor,
        max: usize,
        out: &mut Vec<SnapshotItem>,
    ) -> bool {
        let mut taken = 0;
        if !cursor.groups_done {
            for (group, g) in self.groups_after(cursor.group.as_deref()) {
                if taken == max {
                    return false;
                }
                taken += 1;
                cursor.group = Some(group.clone());
                out.push(SnapshotItem::Group {
                    group: group.clone(),
                    push_time: g.push_time,
                    failure_time: g.failure_time,
                    ttl: g.ttl,
                });
            }
            cursor.groups_done = true;
            cursor.group = None;
        }
        loop {
            let current = match &cursor.family {
                None => self.families_after(None).next(),
                Some(name) => self.families.get_key_value(name.as_ref()).or_else(|| {
                    // The family went away meanwhile: go on with the next one.
                    cursor.group = None;
                    self.families_after(Some(name)).next()
                }),
            };
            let Some((name, family)) = current else {
                return true;
            };
            cursor.family = Some(name.clone());
            for (group, m) in range_after(&family.members, cursor.group.as_deref()) {
                if taken == max {
                    return false;
                }
                taken += 1;
                cursor.group = Some(group.clone());
                out.push(SnapshotItem::Member(SnapshotMember {
                    group: group.clone(),
                    family: name.clone(),
                    mtype: m.mtype,
                    help: m.help.clone(),
                    text: m.text.clone(),
                    native: m.native.clone(),
                    time: m.time,
                    seq: m.seq,
                }));
            }
            match self.families_after(Some(name)).next() {
                Some((next, _)) => {
                    cursor.family = Some(next.clone());
                    cursor.group = None;
                }
                None => return true,
            }
        }
    }
}

/// Items found by name: by a scan while there are few (most pushes, and the log's replay,
/// where a map would cost more than it saves), by a map otherwise, so that looking up many
/// names among many items stays linear.
struct ByName<'a, T> {
    items: &'a [T],
    name: fn(&T) -> &str,
    index: Option<HashMap<&'a str, &'a T>>,
}

impl<'a, T> ByName<'a, T> {
    fn new(items: &'a [T], name: fn(&T) -> &str) -> Self {
        let index = (items.len() > 8).then(|| items.iter().map(|i| (name(i), i)).collect());
        ByName { items, name, index }
    }

    /// The last item called `name` (the map keeps the last of equal keys too).
    fn get(&self, name: &str) -> Option<&'a T> {
        match &self.index {
            Some(index) => index.get(name).copied(),
            None => self.items.iter().rev().find(|i| (self.name)(i) == name),
        }
    }
}

/// The group with `key`, created if there is none. One walk down the tree either way: making
/// the key's allocation up front costs less than a second walk would.
fn ensure_group<'a>(
    groups: &'a mut BTreeMap<Arc<str>, Group>,
    shapes: &mut Shapes,
    scratch: &mut Scratch,
    key: &GroupingKey,
    now: f64,
) -> &'a mut Group {
    scratch.key.clear();
    for l in &key.labels {
        crate::store::key::push_canonical(&mut scratch.key, l);
    }
    match groups.entry(Arc::from(scratch.key.as_str())) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => {
            shapes.add(key.labels.iter().map(|l| l.name.as_str()));
            // The key labels plus `instance=""` when the key has none, as for pushed series.
            let series = &mut scratch.series;
            series.clear();
            if key.labels.iter().any(|l| l.name == "instance") {
                expose::write_labels(series, &key.labels);
            } else {
                let mut labels = key.labels.clone();
                labels.push(Label::new("instance", ""));
                model::sort_by_name(&mut labels);
                expose::write_labels(series, &labels);
            }
            let canonical = e.key().clone();
            e.insert(Group {
                canonical,
                push_time: 0.0,
                failure_time: 0.0,
                families: Vec::new(),
                created: now,
                ttl: None,
                deadline: 0,
                quoted: has_quoted_names(series),
                series: Box::from(series.as_slice()),
                push_text: FloatText::ZERO,
                failure_text: FloatText::ZERO,
            })
        }
    }
}

/// The entries of `map` after key `after` (all without one), in key order.
fn range_after<'a, V>(
    map: &'a BTreeMap<Arc<str>, V>,
    after: Option<&str>,
) -> Range<'a, Arc<str>, V> {
    match after {
        Some(a) => map.range::<str, _>((Excluded(a), Unbounded)),
        None => map.range::<str, _>((Unbounded, Unbounded)),
    }
}

/// The sample lines of stored text: the series a scraper stores from it.
pub(crate) fn sample_lines(text: &[u8]) -> u64 {
    // Summed in bytes a chunk at a time, which the compiler turns into vector code; each sum
    // fits in its byte.
    text.chunks(255)
        .map(|chunk| u64::from(chunk.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n'))))
        .sum()
}

/// Unix seconds as whole milliseconds (deadlines are kept so, which orders them exactly).
fn to_ms(seconds: f64) -> u64 {
    (seconds * 1e3).max(0.0) as u64
}

/// Moves `group`'s entry in `expiry` to its deadline now: its time to live (its own, else
/// `default_ttl`) after its last successful push, or after its creation if it never had one.
fn schedule(expiry: &mut BTreeSet<(u64, Arc<str>)>, group: &mut Group, default_ttl: f64) {
    if group.deadline != 0 {
        expiry.remove(&(group.deadline, group.canonical.clone()));
    }
    let ttl = group.ttl.unwrap_or(default_ttl);
    let since = if group.push_time > 0.0 {
        group.push_time
    } else {
        group.created
    };
    group.deadline = if ttl > 0.0 {
        to_ms(since + ttl).max(1)
    } else {
        0
    };
    if group.deadline != 0 {
        expiry.insert((group.deadline, group.canonical.clone()));
    }
}

/// Sets group `key`'s member of `family`, as push number `seq` made at `now` (unless the
/// family says otherwise); returns the family's name as the store holds it.
fn insert_member(
    families: &mut BTreeMap<Arc<str>, Family>,
    series: &mut u64,
    key: &Arc<str>,
    family: &RenderedFamily,
    now: f64,
    seq: u64,
) -> Arc<str> {
    let member = |help: &Option<Arc<str>>| Member {
        mtype: family.mtype,
        help: help.clone(),
        seq,
        time: family.time.unwrap_or(now),
        text: Arc::from(family.text.as_slice()),
        native: family.native.as_deref().map(Arc::from),
        quoted: has_quoted_names(&family.text),
    };
    let help = family.help.as_deref();
    *series += sample_lines(&family.text);
    if let Some(f) = families.get_mut(family.name.as_str()) {
        // Every group of a job usually pushes the same HELP: share one copy per family.
        if help != f.help.as_deref() {
            f.help = help.map(Arc::from);
        }
        f.mtype = family.mtype;
        f.newest = seq;
        f.stale = false;
        if let Some(old) = f.members.insert(key.clone(), member(&f.help)) {
            *series -= sample_lines(&old.text);
        }
        return f.name.clone();
    }
    let name: Arc<str> = Arc::from(family.name.as_str());
    let help = help.map(Arc::from);
    let family = Family {
        name: name.clone(),
        mtype: family.mtype,
        members: BTreeMap::from([(key.clone(), member(&help))]),
        help,
        newest: seq,
        stale: false,
    };
    families.insert(name.clone(), family);
    name
}

fn remove_member(
    families: &mut BTreeMap<Arc<str>, Family>,
    series: &mut u64,
    name: &str,
    key: &str,
) {
    let Some(family) = families.get_mut(name) else {
        return;
    };
    let Some(removed) = family.members.remove(key) else {
        return;
    };
    *series -= sample_lines(&removed.text);
    if family.members.is_empty() {
        families.remove(name);
        return;
    }
    if removed.seq == family.newest {
        family.stale = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::negotiate::Choice;
    use crate::web::scrape::Scrape;
    use model::{Metric, Value};

    fn key(path: &str) -> GroupingKey {
        GroupingKey::from_path(path, false).unwrap()
    }

    #[test]
    fn sample_lines_counts_across_chunks() {
        let mut rng = fastrand::Rng::with_seed(5);
        for len in [0, 1, 254, 255, 256, 510, 511, 2000] {
            for density in [0, 1, 8, 100] {
                let text: Vec<u8> = (0..len)
                    .map(|_| {
                        if rng.u8(0..100) < density {
                            b'\n'
                        } else {
                            b'a'
                        }
                    })
                    .collect();
                let naive = text.iter().filter(|&&b| b == b'\n').count() as u64;
                assert_eq!(sample_lines(&text), naive, "{len} bytes, {density}% LF");
            }
        }
    }

    fn gauge(name: &str, help: Option<&str>, series: &[(&[(&str, &str)], f64)]) -> MetricFamily {
        MetricFamily {
            name: name.into(),
            help: help.map(Into::into),
            mtype: MetricType::Gauge,
            metrics: series
                .iter()
                .map(|(labels, v)| Metric {
                    labels: labels.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
                    value: Value::Simple(*v),
                    timestamp_ms: None,
                })
                .collect(),
        }
    }

    fn push(store: &mut Store, path: &str, replace: bool, families: Vec<MetricFamily>, now: f64) {
        let mut p = Push {
            key: key(path),
            families,
            replace,
            now,
        };
        crate::store::check::sanitize(&mut p).unwrap();
        store.apply(&p.render());
    }

    fn scrape(store: &Store) -> String {
        let mut out = Vec::new();
        let mut s = Scrape::new(Choice::default(), Vec::new());
        // A tiny piece size exercises resuming in the middle of families.
        while !s.fill(store, &mut out, 7) {}
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn groups_expire_by_their_time_to_live() {
        let mut s = Store::with_default_ttl(60.0);
        let change = |path: &str, now: f64, ttl: Option<f64>| {
            let mut p = Push {
                key: key(path),
                families: vec![gauge("x", None, &[(&[], 1.0)])],
                replace: true,
                now,
            };
            crate::store::check::sanitize(&mut p).unwrap();
            let mut c = p.render();
            c.ttl = ttl;
            c
        };
        s.apply(&change("/default", 1000.0, None));
        s.apply(&change("/short", 1000.0, Some(10.0)));
        s.apply(&change("/never", 1000.0, Some(0.0)));
        s.record_failure(&key("/failed"), 1005.0);
        let due = |s: &Store, now: f64| -> Vec<String> {
            s.due(now, usize::MAX)
                .into_iter()
                .map(|k| k.labels[0].value.clone())
                .collect()
        };
        assert_eq!(due(&s, 1009.9), Vec::<String>::new());
        assert!(!s.any_due(1009.9));
        assert_eq!(due(&s, 1010.0), ["short"]);
        assert_eq!(due(&s, 1065.0), ["short", "default", "failed"]);
        assert_eq!(s.due(1065.0, 2).len(), 2, "at most as many as asked");
        // A push moves the deadline and may change the time to live; a failure does not.
        s.apply(&change("/short", 1030.0, None));
        s.record_failure(&key("/default"), 1050.0);
        s.record_failure(&key("/failed"), 1060.0);
        assert_eq!(due(&s, 1065.0), ["default", "failed"]);
        assert_eq!(s.group(&key("/short")).unwrap().expires_at(), Some(1090.0));
        assert_eq!(s.group(&key("/never")).unwrap().expires_at(), None);
        assert!(s.delete(&key("/default")));
        assert_eq!(due(&s, 1_000_000.0), ["failed", "short"]);
        // A wipe keeps the default for the groups that follow.
        s.wipe();
        assert!(!s.any_due(f64::MAX));
        s.apply(&change("/after", 2000.0, None));
        assert_eq!(s.group(&key("/after")).unwrap().expires_at(), Some(2060.0));
    }

    #[test]
    fn a_post_of_many_families_replaces_just_those() {
        let mut s = Store::new();
        let many = |range: std::ops::Range<usize>, v: f64| -> Vec<MetricFamily> {
            range
                .map(|i| gauge(&format!("f{i:02}"), None, &[(&[], v)]))
                .collect()
        };
        push(&mut s, "/j", true, many(0..30, 1.0), 10.0);
        // Found through the map (more than a few pushed): replaced, removed when empty, kept.
        let mut post = many(10..25, 2.0);
        post[0].metrics.clear();
        push(&mut s, "/j", false, post, 20.0);
        let text = scrape(&s);
        assert!(!text.contains("f10{"), "an empty family removes it");
        for i in (0..10).chain(25..30) {
            assert!(text.contains(&format!("f{i:02}{{instance=\"\",job=\"j\"}} 1\n")));
        }
        for i in 11..25 {
            assert!(text.contains(&format!("f{i:02}{{instance=\"\",job=\"j\"}} 2\n")));
        }
        let group = s.group(&key("/j")).unwrap();
        assert_eq!(group.families.len(), 29);
    }

    #[test]
    fn put_post_delete_and_scrape_order() {
        let mut s = Store::new();
        push(
            &mut s,
            "/b",
            true,
            vec![
                gauge("x", Some("X."), &[(&[], 1.0)]),
                gauge("y", None, &[(&[], 2.0)]),
            ],
            10.0,
        );
        push(
            &mut s,
            "/a/i/1",
            true,
            vec![gauge("x", Some("X2."), &[(&[("job", "ignored")], 3.0)])],
            20.0,
        );
        assert_eq!(
            scrape(&s),
            "# HELP push_failure_time_seconds Last Unix time when changing this group in the Pushgateway failed.\n\
             # TYPE push_failure_time_seconds gauge\n\
             push_failure_time_seconds{i=\"1\",instance=\"\",job=\"a\"} 0\n\
             push_failure_time_seconds{instance=\"\",job=\"b\"} 0\n\
             # HELP push_time_seconds Last Unix time when changing this group in the Pushgateway succeeded.\n\
             # TYPE push_time_seconds gauge\n\
             push_time_seconds{i=\"1\",instance=\"\",job=\"a\"} 20\n\
             push_time_seconds{instance=\"\",job=\"b\"} 10\n\
             # HELP x X2.\n\
             # TYPE x gauge\n\
             x{i=\"1\",instance=\"\",job=\"a\"} 3\n\
             x{instance=\"\",job=\"b\"} 1\n\
             # TYPE y gauge\n\
             y{instance=\"\",job=\"b\"} 2\n"
        );
        // POST replaces only x in group b; y stays.
        push(
            &mut s,
            "/b",
            false,
            vec![gauge("x", Some("X."), &[(&[], 5.0)])],
            30.0,
        );
        let out = scrape(&s);
        assert!(
            out.contains("x{instance=\"\",job=\"b\"} 5\n")
                && out.contains("y{instance=\"\",job=\"b\"} 2\n")
        );
        assert!(out.contains("# HELP x X.\n"), "newest push decides HELP");
        // PUT with no families empties the group but keeps it.
        push(&mut s, "/b", true, vec![], 40.0);
        let out = scrape(&s);
        assert!(!out.contains("job=\"b\"} 5") && !out.contains("# TYPE y"));
        assert!(out.contains("push_time_seconds{instance=\"\",job=\"b\"} 40\n"));
        // Deleting the newest contributor of x falls back to the other's HELP.
        assert!(s.delete(&key("/a/i/1")));
        assert!(!s.delete(&key("/a/i/1")));
        let out = scrape(&s);
        assert!(!out.contains("# TYPE x"), "{out}");
        assert_eq!(s.group_count(), 1);
        assert_eq!(s.shapes.groups(["job"]), 1);
        assert_eq!(s.shapes.groups(["i", "job"]), 0);
    }

    #[test]
    fn failure_creates_group_with_zero_push_time() {
        let mut s = Store::new();
        s.record_failure(&key("/f"), 12.5);
        let g = s.group(&key("/f")).unwrap();
        assert_eq!((g.push_time, g.failure_time), (0.0, 12.5));
        assert!(scrape(&s).contains("push_failure_time_seconds{instance=\"\",job=\"f\"} 12.5\n"));
    }

    #[test]
    fn scrape_survives_changes_between_pieces() {
        let mut s = Store::new();
        for i in 0..50 {
            push(
                &mut s,
                &format!("/j/i/{i:02}"),
                true,
                vec![gauge("m", None, &[(&[], i as f64)])],
                1.0,
            );
        }
        let mut out = Vec::new();
        let mut sc = Scrape::new(Choice::default(), Vec::new());
        assert!(!sc.fill(&s, &mut out, 100));
        s.wipe();
        push(
            &mut s,
            "/z",
            true,
            vec![gauge("zz", None, &[(&[], 1.0)])],
            1.0,
        );
        while !sc.fill(&s, &mut out, 100) {}
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("zz{instance=\"\",job=\"z\"} 1\n"), "{text}");
    }
}
