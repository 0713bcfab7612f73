//! `--web.config.file`: the Prometheus web configuration file (TLS, basic auth, extra response
//! headers), in the format of the Prometheus exporter-toolkit.
//!
//! What the file says is described by [`WebConfig`].

use std::path::PathBuf;

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WebConfig {
    /// `tls_server_config`: serve HTTPS.
    pub tls: Option<TlsConfig>,
    /// `basic_auth_users`: user name and bcrypt hash; empty means no authentication.
    pub basic_auth_users: Vec<(String, String)>,
    /// `http_server_config.headers`: added to every response.
    pub headers: Vec<(String, String)>,
}

/// `tls_server_config`.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsConfig {
    /// PEM certificate chain, and its private key. Relative paths are relative to the
    /// directory of the web configuration file, as upstream has it.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_auth: ClientAuth,
    /// PEM CA certificates that client certificates are checked against.
    pub client_ca_file: Option<PathBuf>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
}

/// `client_auth_type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientAuth {
    #[default]
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

/// `min_version` / `max_version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}
