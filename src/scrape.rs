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
use crate::store::Store;

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
    /// The family being written (its header is out) and the last group written in it.
    current: Option<(Arc<str>, MetricType, Option<Arc<str>>)>,
    /// The last family started, to resume after it.
    last: Option<Arc<str>>,
}

impl Scrape {
    pub fn new(mut own: Vec<OwnFamily>) -> Scrape {
        own.sort_by_key(|f| f.name);
        Scrape {
            own,
            next_own: 0,
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
        let own = self.own.get(self.next_own);
        let take_own = match (own, stored) {
            (None, None) => return false,
            (Some(o), Some((name, _))) => o.name <= name.as_ref(),
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        if take_own {
            let o = &self.own[self.next_own];
            self.next_own += 1;
            expose::write_header(out, o.name, Some(o.help), o.mtype);
            out.extend_from_slice(&o.text);
            let name: Arc<str> = Arc::from(o.name);
            if stored.is_some_and(|(n, _)| n.as_ref() == o.name) {
                self.current = Some((name.clone(), o.mtype, None));
            }
            self.last = Some(name);
        } else {
            let (name, family) = stored.expect("checked above");
            expose::write_header(out, name, family.help.as_deref(), family.mtype);
            self.current = Some((name.clone(), family.mtype, None));
            self.last = Some(name.clone());
        }
        true
    }

    fn write_members(&mut self, store: &Store, out: &mut Vec<u8>, limit: usize) {
        let Some((name, mtype, after)) = &mut self.current else {
            return;
        };
        let Some(family) = store.families.get(name.as_ref()) else {
            self.current = None;
            return;
        };
        let members = match after {
            Some(a) => family
                .members
                .range::<str, _>((Excluded(a.as_ref()), Unbounded)),
            None => family.members.range::<str, _>((Unbounded, Unbounded)),
        };
        for (key, member) in members {
            // Only reachable with the consistency check off: series of another type would
            // make the family unparsable, so they stay hidden until the conflict is gone.
            if member.mtype == *mtype {
                out.extend_from_slice(&member.text);
            }
            if out.len() >= limit {
                *after = Some(key.clone());
                return;
            }
        }
        self.current = None;
    }
}
