//! HTTP basic authentication against the bcrypt hashes of `basic_auth_users` in
//! `--web.config.file` (built with the `basic-auth` feature).
//!
//! bcrypt is slow on purpose: one check at cost 10 (upstream's example) takes about 75 ms of
//! CPU, and it runs on the reactor thread, stalling every other connection meanwhile. So
//! verdicts are cached by the exact user name and password, as upstream does: a client sending
//! the same credentials again is answered in well under a microsecond. Only a new (or evicted)
//! user/password pair costs a bcrypt check, and those are rationed ([`CHECKS_PER_SECOND`]):
//! past the ration a request with unknown credentials is answered 429 at once, so a flood of
//! wrong passwords costs the server a bounded share of its time while clients with known
//! credentials go on as before.
//!
//! Owns the `Authorization` header's parsing and the verdict; answering 401 is `app`'s.

use std::collections::HashMap;
use std::time::Instant;

use crate::store::key::base64_decode;

/// Cached verdicts kept at most; past it a random one makes room, so no access pattern can
/// make the cache useless for everybody else.
const CACHE_ENTRIES: usize = 256;

/// bcrypt checks of credentials not in the cache allowed per second, on average; as many may
/// come at once. At cost 10 that bounds them to about a third of the reactor's time.
pub(super) const CHECKS_PER_SECOND: f64 = 4.0;

/// Why a request may not pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// No, malformed or wrong credentials (401); the reason, one line.
    Unauthorized(&'static str),
    /// Unknown credentials while the ration of checks is spent (429).
    Busy,
}

pub(super) struct BasicAuth {
    /// User name and bcrypt hash, never empty.
    users: Vec<(String, String)>,
    /// Verdicts by (user, password). The key is the password itself, not a digest of it, so no
    /// collision can let a wrong password reuse a right one's verdict. The hash is not part of
    /// the key because the users are fixed for the life of the process.
    verdicts: HashMap<(String, String), bool>,
    /// The ration: checks per second, and as many at once.
    per_second: f64,
    /// Checks that may run now, as of `refilled`.
    checks: f64,
    refilled: Instant,
}

impl BasicAuth {
    /// `None` when there are no users: then nobody needs to authenticate.
    pub(super) fn new(users: &[(String, String)]) -> Option<BasicAuth> {
        (!users.is_empty()).then(|| BasicAuth {
            users: users.to_vec(),
            verdicts: HashMap::new(),
            per_second: CHECKS_PER_SECOND,
            checks: CHECKS_PER_SECOND,
            refilled: Instant::now(),
        })
    }

    /// Whether `authorization` (the request's header) names a user with its password; the
    /// error is a one-line reason for the 401.
    pub(super) fn check(&mut self, authorization: Option<&str>) -> Result<(), Refusal> {
        let header = authorization.ok_or(Refusal::Unauthorized(
            "Unauthorized: basic auth credentials required",
        ))?;
        let (user, password) = credentials(header).ok_or(Refusal::Unauthorized(
            "Unauthorized: malformed basic auth credentials",
        ))?;
        let key = (user, password);
        let verdict = match self.verdicts.get(&key) {
            Some(&verdict) => verdict,
            None => {
                self.take_check()?;
                let verdict = self.verify(&key.0, &key.1);
                self.remember(key, verdict);
                verdict
            }
        };
        if verdict {
            Ok(())
        } else {
            Err(Refusal::Unauthorized(
                "Unauthorized: wrong user name or password",
            ))
        }
    }

    /// Takes one bcrypt check from the ration, refilled with the time passed.
    fn take_check(&mut self) -> Result<(), Refusal> {
        let now = Instant::now();
        let refill = now.duration_since(self.refilled).as_secs_f64() * self.per_second;
        self.checks = (self.checks + refill).min(self.per_second);
        self.refilled = now;
        if self.checks < 1.0 {
            return Err(Refusal::Busy);
        }
        self.checks -= 1.0;
        Ok(())
    }

    /// The bcrypt check, with the same cost for unknown users (checked against a known user's
    /// hash, then refused) so that timing does not tell which user names exist.
    fn verify(&self, user: &str, password: &str) -> bool {
        let index = self.user_index(user);
        let hash = &self.users[index.unwrap_or(0)].1;
        let matches = bcrypt::verify(password, hash).unwrap_or(false);
        index.is_some() && matches
    }

    /// Compares `user` with every configured name in constant time, so neither the position
    /// of a match nor how much of a name matched shows in the time taken.
    fn user_index(&self, user: &str) -> Option<usize> {
        let mut found = None;
        for (i, (name, _)) in self.users.iter().enumerate() {
            if constant_time_eq(name.as_bytes(), user.as_bytes()) {
                found = Some(i);
            }
        }
        found
    }

    fn remember(&mut self, key: (String, String), verdict: bool) {
        if self.verdicts.len() >= CACHE_ENTRIES {
            let victim = fastrand::usize(..self.verdicts.len());
            if let Some(old) = self.verdicts.keys().nth(victim).cloned() {
                self.verdicts.remove(&old);
            }
        }
        self.verdicts.insert(key, verdict);
    }
}

/// `Basic <base64 of user:password>`, the scheme name in any case.
fn credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(encoded.trim(), *b"+/").ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Equal lengths and bytes, taking the same time wherever the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Cost 4, the least bcrypt takes, keeps the tests fast.
    fn users() -> Vec<(String, String)> {
        ["alice:wonderland", "bob:builder"]
            .iter()
            .map(|pair| {
                let (user, password) = pair.split_once(':').unwrap();
                (user.to_string(), bcrypt::hash(password, 4).unwrap())
            })
            .collect()
    }

    fn basic(user_password: &str) -> String {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in user_password.as_bytes().chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b))
                << (8 * (3 - chunk.len()));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        format!("Basic {out}")
    }

    #[test]
    fn no_users_no_auth() {
        assert!(BasicAuth::new(&[]).is_none());
    }

    /// Without the ration, which [`the_ration_of_checks`] is about.
    fn unrationed(users: &[(String, String)]) -> BasicAuth {
        let mut auth = BasicAuth::new(users).unwrap();
        auth.per_second = f64::INFINITY;
        auth.checks = f64::INFINITY;
        auth
    }

    fn reason(r: Result<(), Refusal>) -> &'static str {
        match r {
            Err(Refusal::Unauthorized(reason)) => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn right_credentials_pass_and_wrong_ones_do_not() {
        let mut auth = unrationed(&users());
        for _ in 0..2 {
            // The second round is answered from the cache, with the same verdicts.
            assert_eq!(auth.check(Some(&basic("alice:wonderland"))), Ok(()));
            assert_eq!(auth.check(Some(&basic("bob:builder"))), Ok(()));
            assert_eq!(
                auth.check(Some(&basic("alice:wonderland").replace("Basic", "bAsIc"))),
                Ok(())
            );
            for wrong in [
                "alice:builder",
                "bob:wonderland",
                "alice:wonderland ",
                "alice:",
                "carol:wonderland",
                "Alice:wonderland",
                ":wonderland",
            ] {
                let e = reason(auth.check(Some(&basic(wrong))));
                assert!(e.contains("wrong user name or password"), "{wrong}: {e}");
            }
        }
        let e = reason(auth.check(None));
        assert!(e.contains("required"), "{e}");
        for malformed in [
            "Basic",
            "Basic !!!",
            "Bearer YWxpY2U6d29uZGVybGFuZA==",
            &basic("no colon"),
        ] {
            let e = reason(auth.check(Some(malformed)));
            assert!(e.contains("malformed"), "{malformed}: {e}");
        }
    }

    #[test]
    fn passwords_with_colons_and_the_cache_bound() {
        let users = vec![("u".to_string(), bcrypt::hash("p:a:ss", 4).unwrap())];
        let mut auth = unrationed(&users);
        assert_eq!(auth.check(Some(&basic("u:p:a:ss"))), Ok(()));
        for i in 0..CACHE_ENTRIES + 10 {
            assert!(auth.check(Some(&basic(&format!("u:{i}")))).is_err());
        }
        assert_eq!(auth.verdicts.len(), CACHE_ENTRIES);
        assert_eq!(auth.check(Some(&basic("u:p:a:ss"))), Ok(()));
    }

    #[test]
    fn the_ration_of_checks() {
        let mut auth = BasicAuth::new(&users()).unwrap();
        assert_eq!(auth.check(Some(&basic("alice:wonderland"))), Ok(()));
        // The rest of the burst goes to new wrong passwords; then new credentials wait...
        let mut refused = 0;
        for i in 0..CHECKS_PER_SECOND as usize + 2 {
            match auth.check(Some(&basic(&format!("alice:{i}")))) {
                Err(Refusal::Busy) => refused += 1,
                other => assert!(matches!(other, Err(Refusal::Unauthorized(_)))),
            }
        }
        assert!(refused >= 2, "{refused}");
        assert_eq!(auth.check(Some(&basic("bob:builder"))), Err(Refusal::Busy));
        // ...while known credentials pass at once, and the ration comes back with time.
        assert_eq!(auth.check(Some(&basic("alice:wonderland"))), Ok(()));
        auth.refilled -= std::time::Duration::from_secs(1);
        assert_eq!(auth.check(Some(&basic("bob:builder"))), Ok(()));
    }

    /// What a check costs at upstream's documented cost 10, with and without the cache.
    /// `cargo test --release --all-features -- --ignored --nocapture bcrypt_cost`
    #[test]
    #[ignore]
    fn bcrypt_cost() {
        let users = vec![("u".to_string(), bcrypt::hash("secret", 10).unwrap())];
        let mut auth = BasicAuth::new(&users).unwrap();
        let header = basic("u:secret");
        let start = Instant::now();
        assert_eq!(auth.check(Some(&header)), Ok(()));
        let uncached = start.elapsed();
        let rounds = 100_000;
        let start = Instant::now();
        for _ in 0..rounds {
            assert_eq!(auth.check(Some(&header)), Ok(()));
        }
        let cached = start.elapsed() / rounds;
        println!("bcrypt cost 10: uncached {uncached:?}, cached {cached:?}");
    }
}
