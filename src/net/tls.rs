//! Building the TLS setup of the server from `tls_server_config` (feature `tls`).
//!
//! Owns reading the certificate, key and client CA (from their files or inline) and turning a
//! [`TlsConfig`] into a `rustls::ServerConfig` that
//! [`ServerConfig::tls`](crate::net::server::ServerConfig::tls) carries to the reactor. Does not own
//! parsing the web configuration file (see `webconfig`) nor TLS on connections (see
//! `server/transport.rs`).
//!
//! How upstream's settings map:
//! - `min_version`/`max_version`: the TLS versions offered, 1.2 and 1.3 being all there are.
//! - `client_auth_type`: `NoClientCert` asks for no certificate. `VerifyClientCertIfGiven` and
//!   `RequireAndVerifyClientCert` check a certificate against `client_ca_file` (or
//!   `client_ca`), which they therefore need (upstream would fall back to the system roots,
//!   which is never what a client certificate is issued by). `RequestClientCert` and
//!   `RequireAnyClientCert` accept any certificate, as upstream does, but the client must
//!   still prove it holds the key.
//! - `client_allowed_sans`: checked after the verifier of `client_auth_type` (see `sans`).
//! - `cipher_suites`: the TLS 1.2 suites offered, all of TLS 1.3's staying (Go does not let
//!   them be configured either); with `prefer_server_cipher_suites`, in the order given.
//! - `curve_preferences`: the key exchange groups offered, picked in the client's order.
//! - The files are read when the server starts and again when one of them changes (see
//!   `webconfig::watch`), not on every handshake as upstream does: that would be blocking
//!   disk reads on the reactor thread for every connection. New connections get the new
//!   configuration; open ones keep theirs.

use std::borrow::Cow;
use std::fmt::Display;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::SupportedCipherSuite;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use crate::webconfig::{CipherSuite, ClientAuth, Curve, Pem, TlsConfig, TlsVersion};

mod sans;

/// The rustls configuration for `tls`; errors name the file or setting at fault.
pub fn server_config(tls: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(provider(tls));
    if tls.min_version > tls.max_version {
        return Err(format!(
            "min_version {:?} is above max_version {:?}",
            tls.min_version, tls.max_version
        ));
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls13, &rustls::version::TLS13),
        (TlsVersion::Tls12, &rustls::version::TLS12),
    ]
    .into_iter()
    .filter(|(v, _)| (tls.min_version..=tls.max_version).contains(v))
    .map(|(_, version)| version)
    .collect();

    let certs = read_certs(&tls.cert, "cert")?;
    let key = read_pem(&tls.key, "key", PrivateKeyDer::from_pem_slice)?;

    let verifier = client_verifier(tls, &provider)?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS versions and cipher_suites: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "{} and {}: {e}",
                describe(&tls.cert, "cert"),
                describe(&tls.key, "key")
            )
        })?;
    // Without a list of its own the server follows the client, which knows best whether it
    // has AES hardware (Go's defaults weigh that too).
    config.ignore_client_order = tls.prefer_server_cipher_suites && tls.cipher_suites.is_some();
    Ok(Arc::new(config))
}

/// ring's cryptography, with `cipher_suites` and `curve_preferences` applied.
fn provider(tls: &TlsConfig) -> CryptoProvider {
    use rustls::crypto::ring::{cipher_suite as suite, kx_group};
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(suites) = &tls.cipher_suites {
        provider
            .cipher_suites
            .retain(|s| matches!(s, SupportedCipherSuite::Tls13(_)));
        provider
            .cipher_suites
            .extend(suites.iter().map(|s| match s {
                CipherSuite::EcdheEcdsaAes128Gcm => suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                CipherSuite::EcdheEcdsaAes256Gcm => suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                CipherSuite::EcdheEcdsaChacha20 => {
                    suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
                }
                CipherSuite::EcdheRsaAes128Gcm => suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                CipherSuite::EcdheRsaAes256Gcm => suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                CipherSuite::EcdheRsaChacha20 => suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            }));
    }
    if !tls.curve_preferences.is_empty() {
        provider.kx_groups = tls
            .curve_preferences
            .iter()
            .map(|curve| match curve {
                Curve::X25519 => kx_group::X25519,
                Curve::P256 => kx_group::SECP256R1,
                Curve::P384 => kx_group::SECP384R1,
            })
            .collect();
    }
    provider
}

fn client_verifier(
    tls: &TlsConfig,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let any = |mandatory| -> Arc<dyn ClientCertVerifier> {
        Arc::new(AnyClientCert {
            mandatory,
            algorithms: provider.signature_verification_algorithms,
        })
    };
    let verified = |optional: bool| {
        let Some(pem) = &tls.client_ca else {
            return Err(format!(
                "client_auth_type {:?} needs client_ca_file or client_ca",
                tls.client_auth
            ));
        };
        let failed = |e: &dyn Display| format!("{}: {e}", describe(pem, "client_ca"));
        let mut roots = RootCertStore::empty();
        for ca in read_certs(pem, "client_ca")? {
            roots.add(ca).map_err(|e| failed(&e))?;
        }
        let builder =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
        let builder = if optional {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        builder.build().map_err(|e| failed(&e))
    };
    let verifier = match tls.client_auth {
        ClientAuth::NoClientCert if tls.client_ca.is_some() => {
            return Err("client CA's have been configured without a Client Auth Policy".into())
        }
        // No certificate is asked for, so there are no names to check, as upstream has it.
        ClientAuth::NoClientCert => return Ok(WebPkiClientVerifier::no_client_auth()),
        ClientAuth::RequestClientCert => any(false),
        ClientAuth::RequireAnyClientCert => any(true),
        ClientAuth::VerifyClientCertIfGiven => verified(true)?,
        ClientAuth::RequireAndVerifyClientCert => verified(false)?,
    };
    Ok(match &tls.client_allowed_sans {
        Some(allowed) => Arc::new(sans::AllowedSans {
            inner: verifier,
            allowed: allowed.clone(),
        }),
        None => verifier,
    })
}

/// Reads PEM text of one or more certificates.
fn read_certs(pem: &Pem, setting: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = read_pem(pem, setting, |text| {
        CertificateDer::pem_slice_iter(text).collect::<Result<Vec<_>, _>>()
    })?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", describe(pem, setting)));
    }
    Ok(certs)
}

/// Reads PEM text from its file or the configuration; `setting` is the inline name.
fn read_pem<T>(
    pem: &Pem,
    setting: &str,
    parse: impl FnOnce(&[u8]) -> Result<T, rustls::pki_types::pem::Error>,
) -> Result<T, String> {
    let failed = |e: &dyn Display| format!("{}: {e}", describe(pem, setting));
    let text = match pem {
        Pem::File(path) => Cow::Owned(std::fs::read(path).map_err(|e| failed(&e))?),
        Pem::Inline(text) => Cow::Borrowed(text.as_bytes()),
    };
    parse(&text).map_err(|e| failed(&e))
}

/// Names a PEM setting in errors as the configuration file spells it: `cert_file <path>` or
/// `inline cert`.
fn describe(pem: &Pem, setting: &str) -> String {
    match pem {
        Pem::File(path) => format!("{setting}_file {}", path.display()),
        Pem::Inline(_) => format!("inline {setting}"),
    }
}

/// `RequestClientCert` / `RequireAnyClientCert`: any certificate will do, unchecked against a
/// CA, but its signature over the handshake must verify, so the client holds its key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
