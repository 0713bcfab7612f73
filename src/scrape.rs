//! Serving a scrape: a resumable cursor that writes the store's families, merged with the
//! gateway's own metrics, in name order, a bounded piece at a time.
//!
//! The reactor calls [`Scrape::fill`] only when the socket can take more, so a scrape of
//! millions of series never builds the whole response in memory. The cursor remembers names,
//! not positions, so pushes and deletes between two pieces are safe: each family and each
//! group appears at most once, as it is when its turn comes.

use std::ops::Bound::{Excluded, Unbounded};
use std::sync::Arc;

use crate::expose;
use crate::model::MetricType;
use crate::store::{Store, TIMESTAMPS};

/// One of the gateway's own families, rendered when the scrape starts.
pub struct OwnFamily {
    pub name: &'static str,
    pub help: &'static str,
    pub mtype: MetricType,
    pub text: Vec<u8>,
}

pub struct Scrape {
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
    pub fn new(mut own: Vec<OwnFamily>) -> Scrape {
        own.sort_by_key(|f| f.name);
        Scrape {
            own,
            next_own: 0,
            next_timestamp: 0,
            current: None,
            last: None,
        }
    }

    /// Appends roughly `want` bytes of exposition to `out`; `true` when the scrape is done.
    pub fn fill(&mut self, store: &Store, out: &mut Vec<u8>, want: usize) -> bool {
        let limit = out.len() + want;
        while out.len() < limit {
            if self.current.is_none() && !self.start_family(store, out) {
                return true;
            }
            self.write_members(store, out, limit);
        }
        false
    }

    /// Writes the header (and own samples) of the next family; `false` when there is none.
    fn start_family(&mut self, store: &Store, out: &mut Vec<u8>) -> bool {
        let stored = match &self.last {
            Some(last) => store
                .families
                .range::<str, _>((Excluded(last.as_ref()), Unbounded))
                .next(),
            None => store.families.iter().next(),
        };
        let timestamp = TIMESTAMPS
            .get(self.next_timestamp)
            .filter(|_| !store.groups.is_empty());
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
                expose::write_header(out, o.name, Some(o.help), o.mtype);
                out.extend_from_slice(&o.text);
                if with_stored {
                    self.start_members(name.clone(), o.mtype, false);
                }
            }
            Source::Timestamp => {
                let (_, help) = TIMESTAMPS[self.next_timestamp];
                self.next_timestamp += 1;
                expose::write_header(out, &name, Some(help), MetricType::Gauge);
                self.start_members(name.clone(), MetricType::Gauge, true);
            }
            Source::Stored => {
                let (_, family) = stored.expect("a candidate");
                expose::write_header(out, &name, family.help.as_deref(), family.mtype);
                self.start_members(name.clone(), family.mtype, false);
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
        if cur.timestamp {
            for (key, group) in store.groups_sorted(cur.after.as_deref()) {
                group.write_timestamp(out, &cur.name);
                if out.len() >= limit {
                    cur.after = Some(key.clone());
                    return;
                }
            }
            self.current = None;
            return;
        }
        let Some(family) = store.families.get(cur.name.as_ref()) else {
            self.current = None;
            return;
        };
        let members = match &cur.after {
            Some(a) => family
                .members
                .range::<str, _>((Excluded(a.as_ref()), Unbounded)),
            None => family.members.range::<str, _>((Unbounded, Unbounded)),
        };
        for (key, member) in members {
            // Only reachable with the consistency check off: series of another type would
            // make the family unparsable, so they stay hidden until the conflict is gone.
            if member.mtype == cur.mtype {
                out.extend_from_slice(&member.text);
            }
            if out.len() >= limit {
                cur.after = Some(key.clone());
                return;
            }
        }
        self.current = None;
    }
}
