//! `client_allowed_sans`: a client certificate must carry one of the listed subject
//! alternative names.
//!
//! Owns reading the names out of a certificate and the verifier that checks them after the
//! client verifier of the `client_auth_type` has accepted the certificate (for the verifying
//! modes, after its chain to `client_ca` checked out). Matching is upstream's: each name is
//! written out as Go's `crypto/x509` reports it and compared for exact equality, case
//! included, with no wildcards:
//! - DNS names and e-mail addresses as they are in the certificate;
//! - IP addresses in Go's notation: IPv4 dotted (also for an IPv4-mapped IPv6 address), IPv6
//!   in the compressed form of RFC 5952 (`2001:db8::1`);
//! - URIs as written, but with the scheme in lower case, as Go's URL parser writes it.
//!
//! Other kinds of name (directory names, `otherName`) are skipped, as upstream skips them.
//! A certificate whose names Go would fail to parse (a DNS name, e-mail address or URI that
//! is not ASCII, an IP address of another length than 4 or 16 bytes) is refused, as upstream
//! refuses it.
//!
//! The certificate is read with a minimal DER walk (certificate, then `tbsCertificate`, then
//! its `[3]` extensions) rather than a full X.509 parser: only the subjectAltName extension is
//! needed, and whatever the walk cannot follow refuses the certificate.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, OtherError};
use rustls::{Error, SignatureScheme};

/// The client verifier of the `client_auth_type`, with `client_allowed_sans` checked after it.
#[derive(Debug)]
pub(super) struct AllowedSans {
    pub inner: Arc<dyn ClientCertVerifier>,
    pub allowed: Vec<String>,
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    /// Upstream's check fails a handshake without a certificate (Go calls it with an empty
    /// list, which it does not expect) even in the modes that otherwise let such a client in.
    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let names = names(end_entity).map_err(refused)?;
        if names.iter().any(|name| self.allowed.contains(name)) {
            Ok(verified)
        } else {
            Err(refused(format!(
                "none of its subject alternative names {names:?} is in client_allowed_sans"
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A refused client certificate, with why for the log.
fn refused(why: String) -> Error {
    let why = std::io::Error::other(format!("client certificate: {why}"));
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(why))))
}

/// The subjectAltName extension's object identifier, 2.5.29.17, as DER contents.
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// The subject alternative names of a DER certificate, each written out as upstream compares
/// it; none when it has no such extension.
pub(super) fn names(cert: &[u8]) -> Result<Vec<String>, String> {
    let malformed = || "malformed DER".to_string();
    let (certificate, _) = expect(cert, 0x30).ok_or_else(malformed)?;
    let (mut tbs, _) = expect(certificate, 0x30).ok_or_else(malformed)?;
    let mut general_names = None;
    while !tbs.is_empty() {
        let (tag, contents, rest) = tlv(tbs).ok_or_else(malformed)?;
        tbs = rest;
        // `[3] EXPLICIT Extensions`, the last field; the ones before it are not needed.
        if tag != 0xa3 {
            continue;
        }
        let (mut extensions, _) = expect(contents, 0x30).ok_or_else(malformed)?;
        while !extensions.is_empty() {
            let (extension, rest) = expect(extensions, 0x30).ok_or_else(malformed)?;
            extensions = rest;
            let (oid, mut fields) = expect(extension, 0x06).ok_or_else(malformed)?;
            if oid != SUBJECT_ALT_NAME {
                continue;
            }
            if general_names.is_some() {
                return Err("two subjectAltName extensions".into());
            }
            // `critical` is a BOOLEAN left out when false.
            if let Some((_, rest)) = expect(fields, 0x01) {
                fields = rest;
            }
            let (value, _) = expect(fields, 0x04).ok_or_else(malformed)?;
            let (names, _) = expect(value, 0x30).ok_or_else(malformed)?;
            general_names = Some(names);
        }
    }
    let mut names = Vec::new();
    let mut rest = general_names.unwrap_or_default();
    while !rest.is_empty() {
        let (tag, contents, after) = tlv(rest).ok_or_else(malformed)?;
        rest = after;
        // The context-specific tags of GeneralName's choices.
        let kind = match tag {
            0x81 => "e-mail address",
            0x82 => "DNS name",
            0x86 => "URI",
            0x87 => {
                names.push(ip(contents).ok_or_else(|| {
                    format!(
                        "subjectAltName has an IP address of {} bytes",
                        contents.len()
                    )
                })?);
                continue;
            }
            _ => continue,
        };
        let text = std::str::from_utf8(contents)
            .ok()
            .filter(|text| text.is_ascii())
            .ok_or_else(|| format!("subjectAltName has a {kind} that is not ASCII"))?;
        names.push(if tag == 0x86 {
            lowercase_scheme(text)
        } else {
            text.to_string()
        });
    }
    Ok(names)
}

/// One DER element: its tag, its contents and what follows it. Only the low tag numbers and
/// definite lengths that certificates use are understood.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0usize, |len, &b| len << 8 | usize::from(b));
        (len, rest)
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The contents of an element tagged `tag` at the start of `input`, and what follows it.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, contents, rest) = tlv(input)?;
    (found == tag).then_some((contents, rest))
}

/// An iPAddress name as Go's `net.IP` prints it.
fn ip(bytes: &[u8]) -> Option<String> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(Ipv4Addr::from(v4).to_string());
    }
    let v6 = Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?);
    Some(match v6.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => v6.to_string(),
    })
}

/// `uri` with its scheme (the letters, digits, `+`, `-` and `.` before the first `:`,
/// starting with a letter) in lower case.
fn lowercase_scheme(uri: &str) -> String {
    match uri.split_once(':') {
        Some((scheme, rest))
            if scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            format!("{}:{rest}", scheme.to_ascii_lowercase())
        }
        _ => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DER element, with the long length form where the contents need it.
    fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match contents.len() {
            len @ 0..=0x7f => out.push(len as u8),
            len @ 0x80..=0xff => out.extend([0x81, len as u8]),
            len => out.extend([0x82, (len >> 8) as u8, len as u8]),
        }
        out.extend_from_slice(contents);
        out
    }

    /// A certificate skeleton (version, serial, then the extensions) with `extensions`.
    fn cert(extensions: &[Vec<u8>]) -> Vec<u8> {
        let tbs = [
            der(0xa0, &der(0x02, &[2])),
            der(0x02, &[1, 2, 3]),
            der(0xa3, &der(0x30, &extensions.concat())),
        ]
        .concat();
        der(
            0x30,
            &[der(0x30, &tbs), der(0x30, &[]), der(0x03, &[0])].concat(),
        )
    }

    fn san(critical: bool, names: &[Vec<u8>]) -> Vec<u8> {
        let value = der(0x04, &der(0x30, &names.concat()));
        let critical = if critical { der(0x01, &[0xff]) } else { vec![] };
        der(
            0x30,
            &[der(0x06, SUBJECT_ALT_NAME), critical, value].concat(),
        )
    }

    fn other_extension() -> Vec<u8> {
        // Basic constraints, 2.5.29.19.
        der(
            0x30,
            &[der(0x06, &[0x55, 0x1d, 0x13]), der(0x04, &der(0x30, &[]))].concat(),
        )
    }

    #[test]
    fn names_are_written_as_go_writes_them() {
        let v6 = |s: &str| s.parse::<Ipv6Addr>().unwrap().octets().to_vec();
        let long_dns = format!("{}.example", "a".repeat(200));
        let list = [
            der(0x82, b"Host.Example.com"),
            der(0x81, b"ops@example.com"),
            der(0x86, b"SPIFFE://example.org/Ns/a%2Fb?q#f"),
            der(0x86, b"urn:uuid:6e8bc430"),
            der(0x86, b"not a scheme:x"),
            der(0x87, &[10, 0, 0, 1]),
            der(0x87, &v6("2001:db8:0:0:1:0:0:1")),
            der(0x87, &v6("::ffff:192.0.2.7")),
            der(0x87, &v6("::1")),
            der(0x87, &v6("fe80::1:2")),
            // otherName and directoryName are skipped.
            der(0xa0, &der(0x06, &[0x2b, 6])),
            der(0xa4, &der(0x30, &[])),
            der(0x82, long_dns.as_bytes()),
        ];
        let found = names(&cert(&[other_extension(), san(true, &list)])).unwrap();
        assert_eq!(
            found,
            [
                "Host.Example.com",
                "ops@example.com",
                "spiffe://example.org/Ns/a%2Fb?q#f",
                "urn:uuid:6e8bc430",
                "not a scheme:x",
                "10.0.0.1",
                "2001:db8::1:0:0:1",
                "192.0.2.7",
                "::1",
                "fe80::1:2",
                &long_dns,
            ]
        );
        let found = names(&cert(&[san(false, &[der(0x82, b"a")])])).unwrap();
        assert_eq!(found, ["a"]);
        assert!(names(&cert(&[other_extension()])).unwrap().is_empty());
        assert!(names(&cert(&[])).unwrap().is_empty());
    }

    #[test]
    fn certificates_go_would_not_parse_are_refused() {
        let two = san(false, &[der(0x82, b"a")]);
        for (bad, why) in [
            (cert(&[san(false, &[der(0x87, &[1, 2, 3])])]), "3 bytes"),
            (
                cert(&[san(false, &[der(0x82, "é".as_bytes())])]),
                "not ASCII",
            ),
            (cert(&[san(false, &[der(0x81, &[0xff])])]), "not ASCII"),
            (cert(&[two.clone(), two]), "two subjectAltName"),
            (b"\x30\x05\x30\x03".to_vec(), "malformed"),
            (vec![], "malformed"),
            (
                cert(&[san(false, &[vec![0x82, 0x85, 1, 1, 1, 1, 1]])]),
                "malformed",
            ),
        ] {
            let e = names(&bad).unwrap_err();
            assert!(e.contains(why), "{bad:x?}: {e}");
        }
    }
}
