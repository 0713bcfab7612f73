//! Which connection gives up its slot when the table is full: the one idle the longest.
//!
//! Owns the order in which connections went idle (nothing received and nothing to send: fresh
//! from accept, or between keep-alive requests). A connection is queued each time it goes
//! idle, under a mark that is never reused; the entry of one that got busy again, or closed,
//! is stale and skipped, as the table tells by the mark the connection holds. Does not own
//! the connections nor what idle means (`server/conn.rs`).

use std::collections::VecDeque;

#[derive(Debug, Default)]
pub(super) struct IdleQueue {
    /// `(slot, mark)`, oldest first.
    queue: VecDeque<(usize, u64)>,
    next_mark: u64,
}

impl IdleQueue {
    /// Queues the connection in `slot`, which just went idle; it keeps the returned mark
    /// while it stays so.
    pub(super) fn push(&mut self, slot: usize) -> u64 {
        self.next_mark += 1;
        self.queue.push_back((slot, self.next_mark));
        self.next_mark
    }

    /// The slot of the connection idle the longest, taken off the queue; `still_idle` tells
    /// live entries from stale ones, which are dropped on the way.
    pub(super) fn pop_oldest(
        &mut self,
        mut still_idle: impl FnMut(usize, u64) -> bool,
    ) -> Option<usize> {
        while let Some((slot, mark)) = self.queue.pop_front() {
            if still_idle(slot, mark) {
                return Some(slot);
            }
        }
        None
    }

    /// Drops stale entries once they outnumber the connections, so a queue that is seldom
    /// popped (every keep-alive request queues its connection anew) stays in proportion.
    pub(super) fn compact(&mut self, live: usize, mut still_idle: impl FnMut(usize, u64) -> bool) {
        if self.queue.len() > 2 * live + 64 {
            self.queue.retain(|&(slot, mark)| still_idle(slot, mark));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_live_entry_first() {
        let mut q = IdleQueue::default();
        let marks: Vec<u64> = (0..4).map(|slot| q.push(slot)).collect();
        // Slot 0 got busy, slot 1 went idle again later.
        let current = [None, Some(q.push(1)), Some(marks[2]), Some(marks[3])];
        let live = |slot: usize, mark: u64| current[slot] == Some(mark);
        assert_eq!(q.pop_oldest(live), Some(2));
        assert_eq!(q.pop_oldest(live), Some(3));
        assert_eq!(q.pop_oldest(live), Some(1));
        assert_eq!(q.pop_oldest(live), None);
    }

    #[test]
    fn stale_entries_are_dropped_in_bulk() {
        let mut q = IdleQueue::default();
        let mut mark = 0;
        for _ in 0..1000 {
            mark = q.push(7);
        }
        q.compact(1, |_, m| m == mark);
        assert_eq!(q.queue.len(), 1);
        assert_eq!(q.pop_oldest(|_, m| m == mark), Some(7));
    }
}
