//! The shard key: what a load balancer in front of several gateways hashes, so that every
//! request about one group reaches the same gateway however the client spells the group.
//!
//! One group has many spellings in a URL: labels in any order, values plain, percent-escaped
//! or `@base64`, names `U__` escaped (with `--push.enable-utf8-names`), an empty label written
//! out or left off. A balancer hashing the path as written would send them to different
//! gateways, leaving two copies of the group. So the balancer asks any gateway first:
//! `<prefix>/-/shard-key<request path>` answers the key of the group that the request path
//! (route prefix included, as the client sent it) names, and the balancer hashes that (nginx
//! `auth_request`, an HAProxy Lua action, Envoy `ext_authz`: docs/scaling.md). Owns the key
//! and that answer; the route is `app`'s, the parsing of the path `key`'s.
//!
//! The key, written out:
//! 1. the group's labels whose value is not empty, in name order: an empty label is exposed
//!    as no label at all, so `{job="j"}` and `{instance="",job="j"}` share a key, land on one
//!    gateway and meet the check that refuses the second there;
//! 2. in the canonical form the store indexes groups by (`key::push_canonical`);
//! 3. its CRC-32C, as eight lowercase hex digits, in the response header
//!    `X-Pushgate-Shard-Key`: a key of any length fits a balancer's header buffer, and two
//!    groups sharing a digest merely share a gateway.
//!
//! The answer is 200 whatever the path: a path naming no group (a bad key, or no push path at
//! all) gets no header, so the balancer routes it somewhere and that gateway refuses it with
//! the reason, as a single gateway would. Any method is answered alike, as Envoy's
//! `ext_authz` asks with the client's method.

use crate::crc::crc32c;
use crate::http::service::Response;
use crate::store::key::{push_canonical, GroupingKey};

/// The path, after the route prefix, that the shard key is asked at.
pub(super) const PATH: &str = "/-/shard-key";

/// The response header carrying the key.
pub(super) const HEADER: &str = "X-Pushgate-Shard-Key";

/// The shard key of `key` (see the module doc).
pub(super) fn key(key: &GroupingKey) -> String {
    let mut canonical = String::new();
    for label in key.labels.iter().filter(|l| !l.value.is_empty()) {
        push_canonical(&mut canonical, label);
    }
    format!("{:08x}", crc32c(canonical.as_bytes()))
}

/// The answer to [`PATH`] for the group the asked path names, if it names one. The body
/// stays empty: nginx keeps its connection to the gateway open for the next question only
/// when the answer to its `auth_request` ends with the header.
pub(super) fn respond<S>(group: Option<GroupingKey>) -> Response<S> {
    match group {
        Some(group) => Response::empty(200).with_header(HEADER, key(&group)),
        None => Response::empty(200),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::names::Validation;

    fn key_of(rest: &str, job_base64: bool) -> String {
        key(&GroupingKey::from_path_with(rest, job_base64, Validation::Utf8).unwrap())
    }

    #[test]
    fn every_spelling_of_a_group_has_its_key() {
        let plain = key_of("/batch/instance/host-1/zone/eu", false);
        for (rest, job_base64) in [
            ("/batch/zone/eu/instance/host-1", false),
            ("/YmF0Y2g=/instance@base64/aG9zdC0x/zone/eu", true),
            ("/batch/U__instance/host-1/zone@base64/ZXU", false),
            ("/%62atch/instance/host%2D1/zone/eu", false),
            ("/batch/instance/host-1/zone/eu/empty@base64/=", false),
        ] {
            assert_eq!(key_of(rest, job_base64), plain, "{rest}");
        }
    }

    #[test]
    fn groups_apart_have_keys_apart() {
        let keys: Vec<String> = [
            "/batch/instance/host-1",
            "/batch/instance/host-2",
            "/batch",
            "/other/instance/host-1",
            "/batch/host/instance",
            "/batch/instance/host",
        ]
        .iter()
        .map(|rest| key_of(rest, false))
        .collect();
        for (i, a) in keys.iter().enumerate() {
            assert_eq!(a.len(), 8, "{a}");
            assert!(!keys[i + 1..].contains(a), "{a} repeated in {keys:?}");
        }
        // Exposed alike, keyed alike: the gateway's twin check then sees both.
        assert_eq!(
            key_of("/batch/instance@base64/=", false),
            key_of("/batch", false)
        );
    }

    #[test]
    fn answers() {
        let group = GroupingKey::from_path("/batch/instance/host-1", false).unwrap();
        let resp: Response<()> = respond(Some(group.clone()));
        assert_eq!(
            (resp.status, resp.headers),
            (200, vec![(HEADER, key(&group))])
        );
        let resp: Response<()> = respond(None);
        assert_eq!((resp.status, resp.headers), (200, vec![]));
    }
}
