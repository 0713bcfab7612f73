//! `tls_server_config.cipher_suites` and `curve_preferences`: the names upstream takes (Go's
//! `crypto/tls` names), which of them pushgate can honour with rustls and ring, and why the
//! others are refused.
//!
//! Upstream takes the cipher suites Go lists as secure: six TLS 1.2 AEAD suites, which rustls
//! has too, four TLS 1.2 CBC suites, which rustls does not implement (refused: leaving them
//! out would turn away clients that upstream lets in), and the three TLS 1.3 suites, which Go
//! offers whatever the list says. Those are accepted and change nothing here either: all
//! three stay offered. Its curves are X25519, P-256, P-384 and P-521; ring has no P-521, so
//! that one is refused.
//!
//! The Go that builds upstream takes both lists as sets and picks by an order of its own;
//! upstream's documentation describes `cipher_suites` as ordered when
//! `prefer_server_cipher_suites` is set, and pushgate honours that order. rustls picks the
//! key exchange group by the client's order, so `curve_preferences` is a set here too.

use super::yaml::Node;
use super::{sequence, string};

/// A TLS 1.2 cipher suite that both upstream and rustls offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CipherSuite {
    EcdheEcdsaAes128Gcm,
    EcdheEcdsaAes256Gcm,
    EcdheEcdsaChacha20,
    EcdheRsaAes128Gcm,
    EcdheRsaAes256Gcm,
    EcdheRsaChacha20,
}

/// A key exchange group of `curve_preferences` that ring offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    X25519,
    P256,
    P384,
}

/// Go's names of the suites pushgate honours.
const SUITES: [(&str, CipherSuite); 6] = [
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::EcdheEcdsaAes128Gcm,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::EcdheEcdsaAes256Gcm,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::EcdheEcdsaChacha20,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::EcdheRsaAes128Gcm,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::EcdheRsaAes256Gcm,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::EcdheRsaChacha20,
    ),
];

/// TLS 1.3 suites: in the list, they leave TLS 1.3 as it is, in Go as here.
const TLS13_SUITES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Upstream takes these; rustls has no CBC suites.
const CBC_SUITES: [&str; 4] = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
];

const CURVES: [(&str, Curve); 3] = [
    ("X25519", Curve::X25519),
    ("CurveP256", Curve::P256),
    ("CurveP384", Curve::P384),
];

/// `cipher_suites`: the TLS 1.2 suites to offer, in the order given, duplicates dropped.
/// `None` (rustls's defaults) when the list is empty or missing, as upstream has it; an empty
/// list when it names TLS 1.3 suites only, which leaves TLS 1.2 no suite, as in Go.
pub(super) fn cipher_suites(node: &Node, key: &str) -> Result<Option<Vec<CipherSuite>>, String> {
    let items = sequence(node, key)?.unwrap_or_default();
    if items.is_empty() {
        return Ok(None);
    }
    let mut suites = Vec::new();
    for item in items {
        let name = string(item, key)?;
        if let Some(&(_, suite)) = SUITES.iter().find(|(known, _)| *known == name) {
            if !suites.contains(&suite) {
                suites.push(suite);
            }
        } else if CBC_SUITES.contains(&name.as_str()) {
            return Err(format!(
                "line {}: {key}: {name} is a CBC suite, which rustls (pushgate's TLS) does not \
                 implement; the TLS 1.2 suites it can offer are {}",
                item.line,
                names(&SUITES)
            ));
        } else if !TLS13_SUITES.contains(&name.as_str()) {
            return Err(format!(
                "line {}: {key}: unknown cipher suite {name:?}; expected one of {}, or a TLS \
                 1.3 suite ({}, which are always offered)",
                item.line,
                names(&SUITES),
                TLS13_SUITES.join(", ")
            ));
        }
    }
    Ok(Some(suites))
}

/// `curve_preferences`: the key exchange groups to offer, duplicates dropped; empty (rustls's
/// defaults) when missing or empty, as upstream has it.
pub(super) fn curves(node: &Node, key: &str) -> Result<Vec<Curve>, String> {
    let mut curves = Vec::new();
    for item in sequence(node, key)?.unwrap_or_default() {
        let name = string(item, key)?;
        match CURVES.iter().find(|(known, _)| *known == name) {
            Some(&(_, curve)) if !curves.contains(&curve) => curves.push(curve),
            Some(_) => {}
            None if name == "CurveP521" => {
                return Err(format!(
                    "line {}: {key}: CurveP521 is not offered by ring, the cryptography \
                     pushgate's TLS is built on; it offers {}",
                    item.line,
                    names(&CURVES)
                ))
            }
            None => {
                return Err(format!(
                    "line {}: {key}: unknown curve {name:?}; expected one of {}",
                    item.line,
                    names(&CURVES)
                ))
            }
        }
    }
    Ok(curves)
}

fn names<T>(table: &[(&str, T)]) -> String {
    let names: Vec<_> = table.iter().map(|(name, _)| *name).collect();
    names.join(", ")
}
