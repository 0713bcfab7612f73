//! `rate_limit` of `--web.config.file`: one token bucket for the whole server, as upstream's
//! web toolkit has it. Time is passed in, so tests drive it without waiting.

use std::time::Instant;

use crate::webconfig::RateLimit;

pub(super) struct Bucket {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub(super) fn new(limit: RateLimit, now: Instant) -> Bucket {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            last: now,
        }
    }

    /// Takes a token if there is one: whether a request arriving `now` may be served.
    pub(super) fn allow(&mut self, now: Instant) -> bool {
        let gained =
            now.duration_since(self.last).as_secs_f64() / self.limit.interval.as_secs_f64();
        self.tokens = (self.tokens + gained).min(f64::from(self.limit.burst));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_one_an_interval() {
        let start = Instant::now();
        let limit = RateLimit {
            interval: Duration::from_millis(100),
            burst: 3,
        };
        let mut b = Bucket::new(limit, start);
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert!((0..3).all(|_| b.allow(at(0))));
        assert!(!b.allow(at(0)));
        assert!(!b.allow(at(50)));
        assert!(b.allow(at(100)));
        assert!(!b.allow(at(100)));
        // Idle time refills up to the burst, never past it.
        assert_eq!((0..10).filter(|_| b.allow(at(10_000))).count(), 3);
        // A burst of 0 never allows anything, as upstream's limiter.
        let mut none = Bucket::new(RateLimit { burst: 0, ..limit }, start);
        assert!(!none.allow(at(0)) && !none.allow(at(60_000)));
    }
}
