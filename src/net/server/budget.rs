//! The memory budget of requests being received and responses being sent
//! (`--web.max-inflight-bytes`).
//!
//! Owns the count of bytes connections hold for input (read buffers, parsed heads, de-chunked
//! bodies) and output (responses queued and not yet written, a streamed response's piece in
//! the making) and the list of connections waiting for some of it to be freed. Each
//! connection holds its first [`FREE_INPUT`] bytes free of charge, so a small request never
//! waits and is never shed, whatever others hold; only what lies beyond is charged, and a
//! buffer may grow, or a streamed response be produced further, only while the charges stay
//! within the budget. A connection refused growth stops reading (TCP then slows its client
//! down) or producing, and waits to be woken once enough is freed. Growth is
//! also paced: at most [`GROWTH_PER_TURN`] is granted per reactor turn, so a flood filling
//! the budget is read over several turns, with everyone else served in between. Does not own
//! the buffers (`server/conn.rs`) nor the choice of whom to shed when waiting goes on too long
//! (`server.rs`).

use std::time::Instant;

/// What every connection may hold without being charged: a small request (a few KiB of
/// push, or a chunked one with its decoded copy) plus the header strings an idle connection
/// keeps for reuse, or the answers to a few pipelined requests.
pub(super) const FREE_INPUT: usize = 16 * 1024;
/// Charged growth granted per turn: allocating and reading this much takes milliseconds.
const GROWTH_PER_TURN: usize = 16 << 20;

/// The answer to a connection asking to grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Grant {
    Granted,
    /// This turn has granted its share: ask again next turn.
    NextTurn,
    /// Over the budget: the connection waits to be woken.
    Refused,
}

/// One connection's standing with the budget.
#[derive(Debug, Default)]
pub(super) struct Claim {
    charged: usize,
    /// When a growth was first refused, until one is granted.
    waiting_since: Option<Instant>,
    /// On the waiting list.
    queued: bool,
}

impl Claim {
    pub(super) fn charged(&self) -> usize {
        self.charged
    }

    pub(super) fn waiting_since(&self) -> Option<Instant> {
        self.waiting_since
    }

    /// Taken off the waiting list: it will try again.
    pub(super) fn woken(&mut self) {
        self.queued = false;
    }
}

#[derive(Debug)]
pub(super) struct Budget {
    limit: usize,
    held: usize,
    /// Slots of connections refused a growth, to be woken when memory is freed.
    waiting: Vec<usize>,
    /// The smallest growth a waiting connection asked for: waking them for less is futile.
    need: usize,
    /// Charged growth granted during this turn.
    turn_growth: usize,
}

impl Budget {
    pub(super) fn new(limit: usize) -> Budget {
        Budget {
            limit,
            held: 0,
            waiting: Vec::new(),
            need: usize::MAX,
            turn_growth: 0,
        }
    }

    /// A reactor turn begins: growth may be granted again.
    pub(super) fn new_turn(&mut self) {
        self.turn_growth = 0;
    }

    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes charged to all connections.
    pub(super) fn held(&self) -> usize {
        self.held
    }

    /// Records that a connection now holds `bytes` (less after a release, or more by what
    /// nobody could refuse, such as a parsed head or a response built whole).
    pub(super) fn update(&mut self, claim: &mut Claim, bytes: usize) {
        let charge = bytes.saturating_sub(FREE_INPUT);
        self.held = self.held - claim.charged + charge;
        claim.charged = charge;
    }

    /// Asks for a connection holding `bytes` to hold `extra` more. Granted, the caller
    /// allocates and then calls [`Budget::update`]; refused, the connection is put on the
    /// waiting list under `slot` and must not read until woken.
    pub(super) fn grow(
        &mut self,
        claim: &mut Claim,
        slot: usize,
        bytes: usize,
        extra: usize,
        now: Instant,
    ) -> Grant {
        self.update(claim, bytes);
        let need = (bytes + extra).saturating_sub(FREE_INPUT) - claim.charged;
        if need > 0 && self.held + need <= self.limit && self.turn_growth >= GROWTH_PER_TURN {
            return Grant::NextTurn;
        }
        if need == 0 || self.held + need <= self.limit {
            self.turn_growth += need;
            claim.waiting_since = None;
            return Grant::Granted;
        }
        claim.waiting_since.get_or_insert(now);
        if !claim.queued {
            claim.queued = true;
            self.waiting.push(slot);
        }
        self.need = self.need.min(need);
        Grant::Refused
    }

    /// As [`Budget::grow`], for producing more of a streamed response; also granted when the
    /// connection is the only one charged, so that a response larger than the whole budget
    /// (a protobuf family of millions of series, built whole) is still served when nothing
    /// competes with it.
    pub(super) fn grow_output(
        &mut self,
        claim: &mut Claim,
        slot: usize,
        bytes: usize,
        extra: usize,
        now: Instant,
    ) -> Grant {
        self.update(claim, bytes);
        if self.held == claim.charged {
            claim.waiting_since = None;
            return Grant::Granted;
        }
        self.grow(claim, slot, bytes, extra, now)
    }

    /// The connection gave up what it held (answered, shed, closed): nothing charged, and no
    /// longer waiting.
    pub(super) fn release(&mut self, claim: &mut Claim) {
        self.update(claim, 0);
        claim.waiting_since = None;
    }

    /// Moves the waiting connections to `out` once enough is free for the smallest growth
    /// one of them asked for (each must call [`Claim::woken`]). Those that still do not fit
    /// wait again, so a small release does not make them all spin.
    pub(super) fn wake(&mut self, out: &mut Vec<usize>) {
        if !self.waiting.is_empty() && self.need <= self.limit.saturating_sub(self.held) {
            out.append(&mut self.waiting);
            self.need = usize::MAX;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: usize = 1024;

    #[test]
    fn small_holdings_are_free_and_never_refused() {
        let mut b = Budget::new(0);
        let mut c = Claim::default();
        let now = Instant::now();
        assert_eq!(b.grow(&mut c, 0, 0, FREE_INPUT, now), Grant::Granted);
        b.update(&mut c, FREE_INPUT);
        assert_eq!((b.held(), c.charged()), (0, 0));
        assert_eq!(b.grow(&mut c, 0, FREE_INPUT, 1, now), Grant::Refused);
        assert_eq!(c.waiting_since(), Some(now));
    }

    #[test]
    fn growth_past_the_limit_waits_until_enough_is_freed() {
        let mut b = Budget::new(100 * KIB);
        let (mut big, mut other) = (Claim::default(), Claim::default());
        let now = Instant::now();
        assert_eq!(
            b.grow(&mut big, 0, FREE_INPUT, 80 * KIB, now),
            Grant::Granted
        );
        b.update(&mut big, FREE_INPUT + 80 * KIB);
        assert_eq!(b.held(), 80 * KIB);
        // 40 KiB more for the other does not fit: it waits, once.
        for _ in 0..2 {
            let grant = b.grow(&mut other, 1, FREE_INPUT, 40 * KIB, now);
            assert_eq!(grant, Grant::Refused);
        }
        let mut woken = Vec::new();
        // Freeing 10 KiB is not enough for what it waits for.
        b.update(&mut big, FREE_INPUT + 70 * KIB);
        b.wake(&mut woken);
        assert!(woken.is_empty());
        b.update(&mut big, FREE_INPUT + 60 * KIB);
        b.wake(&mut woken);
        assert_eq!(woken, [1]);
        other.woken();
        assert_eq!(
            b.grow(&mut other, 1, FREE_INPUT, 40 * KIB, now),
            Grant::Granted
        );
        assert_eq!(other.waiting_since(), None);
        b.update(&mut other, FREE_INPUT + 40 * KIB);
        assert_eq!(b.held(), 100 * KIB);
        b.release(&mut big);
        b.release(&mut other);
        assert_eq!(b.held(), 0);
    }

    #[test]
    fn a_response_alone_may_pass_the_budget_but_not_among_others() {
        let mut b = Budget::new(100 * KIB);
        let (mut scrape, mut other) = (Claim::default(), Claim::default());
        let now = Instant::now();
        let grow = |b: &mut Budget, c: &mut Claim, slot, bytes| {
            b.grow_output(c, slot, bytes, 64 * KIB, now)
        };
        assert_eq!(grow(&mut b, &mut scrape, 0, 150 * KIB), Grant::Granted);
        b.update(&mut scrape, 216 * KIB);
        assert_eq!(b.held(), 200 * KIB);
        // Another holder: neither may go on until enough is freed.
        b.update(&mut other, FREE_INPUT + KIB);
        assert_eq!(grow(&mut b, &mut scrape, 0, 216 * KIB), Grant::Refused);
        assert_eq!(
            grow(&mut b, &mut other, 1, FREE_INPUT + KIB),
            Grant::Refused
        );
        assert_eq!(other.waiting_since(), Some(now));
        b.update(&mut scrape, FREE_INPUT);
        let mut woken = Vec::new();
        b.wake(&mut woken);
        assert_eq!(woken, [0, 1]);
        other.woken();
        assert_eq!(
            grow(&mut b, &mut other, 1, FREE_INPUT + KIB),
            Grant::Granted
        );
        assert_eq!(other.waiting_since(), None);
    }

    #[test]
    fn growth_is_paced_per_turn() {
        let mut b = Budget::new(1 << 30);
        let now = Instant::now();
        let mut claims: Vec<Claim> = (0..3).map(|_| Claim::default()).collect();
        let mut ask = |b: &mut Budget, i: usize| {
            b.grow(&mut claims[i], i, FREE_INPUT, GROWTH_PER_TURN / 2, now)
        };
        assert_eq!(ask(&mut b, 0), Grant::Granted);
        assert_eq!(ask(&mut b, 1), Grant::Granted);
        assert_eq!(ask(&mut b, 2), Grant::NextTurn);
        b.new_turn();
        assert_eq!(ask(&mut b, 2), Grant::Granted);
        // Growth within the free allowance is never paced.
        assert_eq!(
            b.grow(&mut Claim::default(), 3, 0, FREE_INPUT, now),
            Grant::Granted
        );
    }
}
