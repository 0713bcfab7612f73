//! Why a request is refused, whatever layer found it: a grouping key, an encoding, a body, an
//! operator's limit, a check, or the persistence log. The lower layers keep their own errors
//! (some carry their status already); the statuses the others get are decided here, so a
//! handler only passes errors up and `app` answers them all in one place.

use crate::formats::compress;
use crate::formats::proto::DecodeError;
use crate::formats::text::ParseError;
use crate::store::key::KeyError;
use crate::store::limits::Refusal;

/// A request that is not served as asked.
#[derive(Debug)]
pub(super) enum RequestError {
    /// Refused for what the request holds; logged with who sent it.
    Refused { status: u16, reason: String },
    /// Past one of the operator's limits: logged, and counted by the limit's flag.
    OverLimit(Refusal),
    /// The persistence log cannot take the change, so nothing changed. The client did nothing
    /// wrong, so it is not logged as a rejection.
    Unavailable,
}

impl RequestError {
    /// Refused with `status` for `reason`.
    pub(super) fn refused(status: u16, reason: impl Into<String>) -> RequestError {
        RequestError::Refused {
            status,
            reason: reason.into(),
        }
    }

    /// A push the sanitizer or the consistency check refuses, worded as upstream words it.
    pub(super) fn invalid(reason: &str) -> RequestError {
        RequestError::refused(
            400,
            format!("pushed metrics are invalid or inconsistent with existing metrics: {reason}"),
        )
    }

    pub(super) fn status(&self) -> u16 {
        match self {
            RequestError::Refused { status, .. } => *status,
            RequestError::OverLimit(r) => r.status,
            RequestError::Unavailable => 503,
        }
    }

    /// The one line the answer's body holds.
    pub(super) fn reason(&self) -> &str {
        match self {
            RequestError::Refused { reason, .. } => reason,
            RequestError::OverLimit(r) => &r.reason,
            RequestError::Unavailable => {
                "the persistence log cannot be written at the moment; nothing was changed, retry \
                 later"
            }
        }
    }
}

impl From<KeyError> for RequestError {
    fn from(e: KeyError) -> RequestError {
        RequestError::refused(e.status, e.reason)
    }
}

impl From<compress::Error> for RequestError {
    fn from(e: compress::Error) -> RequestError {
        RequestError::refused(e.status(), e.to_string())
    }
}

impl From<ParseError> for RequestError {
    fn from(e: ParseError) -> RequestError {
        RequestError::refused(400, e.to_string())
    }
}

impl From<DecodeError> for RequestError {
    fn from(e: DecodeError) -> RequestError {
        RequestError::refused(400, e.to_string())
    }
}

impl From<Refusal> for RequestError {
    fn from(r: Refusal) -> RequestError {
        RequestError::OverLimit(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::compress::Encoding;

    fn answer(e: impl Into<RequestError>) -> (u16, String) {
        let e = e.into();
        (e.status(), e.reason().to_string())
    }

    #[test]
    fn key_errors_keep_their_status() {
        for status in [400, 404, 414] {
            let e = KeyError {
                status,
                reason: "bad key".to_string(),
            };
            assert_eq!(answer(e), (status, "bad key".to_string()));
        }
    }

    #[test]
    fn bodies_too_large_are_413_and_corrupt_ones_400() {
        let e = compress::Error::TooLarge { limit: 10 };
        assert_eq!(
            answer(e),
            (413, "decompressed body exceeds 10 bytes".to_string())
        );
        let e = compress::Error::Corrupt {
            encoding: Encoding::Snappy,
            reason: "short".to_string(),
        };
        assert_eq!(answer(e), (400, "invalid snappy body: short".to_string()));
    }

    #[test]
    fn undecodable_bodies_are_400() {
        let e = ParseError {
            line: 3,
            reason: "no value".to_string(),
        };
        assert_eq!(
            answer(e),
            (
                400,
                "text format parsing error in line 3: no value".to_string()
            )
        );
        let e = DecodeError {
            offset: 7,
            reason: "truncated".to_string(),
        };
        assert_eq!(
            answer(e),
            (
                400,
                "protobuf decoding error at byte 7: truncated".to_string()
            )
        );
    }

    #[test]
    fn limits_keep_their_status_and_flag() {
        let r = Refusal {
            status: 429,
            flag: "push.max-groups",
            reason: "too many".to_string(),
        };
        let e = RequestError::from(r);
        assert_eq!((e.status(), e.reason()), (429, "too many"));
        assert!(matches!(
            e,
            RequestError::OverLimit(Refusal {
                flag: "push.max-groups",
                ..
            })
        ));
    }

    #[test]
    fn invalid_pushes_are_400_with_upstreams_prefix() {
        let e = RequestError::invalid("type mismatch");
        assert_eq!(e.status(), 400);
        assert_eq!(
            e.reason(),
            "pushed metrics are invalid or inconsistent with existing metrics: type mismatch"
        );
    }

    #[test]
    fn a_refusing_log_is_503() {
        let e = RequestError::Unavailable;
        assert_eq!(e.status(), 503);
        assert!(e
            .reason()
            .starts_with("the persistence log cannot be written"));
    }
}
