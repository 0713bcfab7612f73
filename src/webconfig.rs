//! `--web.config.file`: the Prometheus web configuration file (TLS, basic auth, extra response
//! headers), in the format of the Prometheus exporter-toolkit.
//!
//! What the file says is described by [`WebConfig`]; [`load`] reads and checks it, as strictly
//! as upstream does (an unknown key is an error, not a typo silently ignored), so a file that
//! upstream refuses is refused here too. [`watch`] notices when it changes.
//!
//! Parsed but not acted on: `http_server_config.http2` (pushgate speaks HTTP/1.1 only).
//! Refused with a reason, rather than ignored, because ignoring them would weaken what the
//! operator asked for: the cipher suites and curves rustls lacks (see `ciphers`).
//!
//! The YAML subset includes literal block scalars so that `cert`, `key` and `client_ca` can
//! hold PEM text as upstream's examples write it.

mod ciphers;
pub mod watch;
mod yaml;

pub use ciphers::{CipherSuite, Curve};

use std::path::{Path, PathBuf};

use yaml::{Node, Value};

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WebConfig {
    /// `tls_server_config`: serve HTTPS.
    pub tls: Option<TlsConfig>,
    /// `basic_auth_users`: user name and bcrypt hash; empty means no authentication.
    pub basic_auth_users: Vec<(String, String)>,
    /// `http_server_config.headers`: added to every response.
    pub headers: Vec<(String, String)>,
    /// `rate_limit`: a global token bucket (see [`RateLimit`]); none when its interval is 0.
    pub rate_limit: Option<RateLimit>,
}

/// `rate_limit`: every request takes a token from one bucket for the whole server, which
/// holds `burst` tokens and gains one each `interval`; without a token a request is answered
/// 429. As upstream's, a `burst` of 0 refuses every request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub interval: std::time::Duration,
    pub burst: u32,
}

/// `tls_server_config`.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsConfig {
    /// The certificate chain (`cert_file` or `cert`), and its private key (`key_file` or
    /// `key`).
    pub cert: Pem,
    pub key: Pem,
    pub client_auth: ClientAuth,
    /// The CA certificates that client certificates are checked against (`client_ca_file` or
    /// `client_ca`).
    pub client_ca: Option<Pem>,
    /// `client_allowed_sans`: when given (even empty, as upstream has it), a client
    /// certificate must carry one of these subject alternative names. Checks nothing with
    /// `NoClientCert`, which asks for no certificate; see `tls/sans.rs`.
    pub client_allowed_sans: Option<Vec<String>>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    /// `cipher_suites`: the TLS 1.2 suites to offer, `None` for rustls's defaults. TLS 1.3's
    /// are not configurable, in Go as here.
    pub cipher_suites: Option<Vec<CipherSuite>>,
    /// `prefer_server_cipher_suites` (true unless set false, as upstream): the order of
    /// `cipher_suites` decides rather than the client's.
    pub prefer_server_cipher_suites: bool,
    /// `curve_preferences`: the key exchange groups to offer; empty for rustls's defaults.
    pub curve_preferences: Vec<Curve>,
}

/// PEM text: in a file that the web configuration names (`cert_file`), or in the
/// configuration itself (`cert`).
#[derive(Clone, Debug, PartialEq)]
pub enum Pem {
    /// Relative paths are relative to the directory of the web configuration file, as
    /// upstream has it.
    File(PathBuf),
    Inline(String),
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

/// The headers `http_server_config.headers` may set, each with the only values it may take
/// (none listed: any value). Kept as small as upstream's list so that the same file means the
/// same thing to every Prometheus server; anything else is refused.
const HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// What this build can serve, for [`WebConfig::check_build`].
#[derive(Clone, Copy, Debug)]
pub struct Build {
    pub tls: bool,
    pub basic_auth: bool,
}

impl Build {
    pub const THIS: Build = Build {
        tls: cfg!(feature = "tls"),
        basic_auth: cfg!(feature = "basic-auth"),
    };
}

impl WebConfig {
    /// Refuses a file asking for what `build` cannot do: serving plain HTTP, or serving
    /// without authentication, when the operator configured otherwise would be worse than not
    /// starting.
    pub fn check_build(&self, build: Build) -> Result<(), String> {
        if self.tls.is_some() && !build.tls {
            return Err("tls_server_config needs a pushgate built with `--features tls`".into());
        }
        if !self.basic_auth_users.is_empty() && !build.basic_auth {
            return Err(
                "basic_auth_users needs a pushgate built with `--features basic-auth`".into(),
            );
        }
        Ok(())
    }

    /// [`WebConfig::headers`] as response headers (names from the allowed list are static).
    pub fn response_headers(&self) -> Vec<(&'static str, String)> {
        self.headers
            .iter()
            .filter_map(|(name, value)| {
                let (known, _) = HEADERS.iter().find(|(known, _)| known == name)?;
                Some((*known, value.clone()))
            })
            .collect()
    }
}

/// Reads and checks the file at `path`. Errors name the file and, for syntax and keys, the line.
pub fn load(path: &Path) -> Result<WebConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new(""));
    parse(&text, dir).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a file's text; relative paths in it are taken relative to `dir`.
pub fn parse(text: &str, dir: &Path) -> Result<WebConfig, String> {
    let root = yaml::parse(text)?;
    let mut cfg = WebConfig::default();
    for (key, node) in fields(&root, "the file")? {
        match key.as_str() {
            "tls_server_config" => cfg.tls = tls(node, dir)?,
            "http_server_config" => cfg.headers = http(node)?,
            "basic_auth_users" => cfg.basic_auth_users = users(node)?,
            "rate_limit" => cfg.rate_limit = rate_limit(node)?,
            _ => return Err(unknown(node, key, "the file")),
        }
    }
    Ok(cfg)
}

/// `rate_limit`: `interval` (a duration; 0 or absent: no limit) and `burst` (an integer).
fn rate_limit(node: &Node) -> Result<Option<RateLimit>, String> {
    let mut interval = std::time::Duration::ZERO;
    let mut burst = 0;
    for (key, value) in fields(node, "rate_limit")? {
        match key.as_str() {
            "interval" => {
                let text = string(value, key)?;
                interval = crate::config::parse_duration(&text).ok_or_else(|| {
                    format!(
                        "line {}: rate_limit.interval {text:?} is not a duration",
                        value.line
                    )
                })?;
            }
            "burst" => {
                let text = string(value, key)?;
                burst = text.parse().map_err(|_| {
                    format!(
                        "line {}: rate_limit.burst {text:?} is not a count",
                        value.line
                    )
                })?;
            }
            _ => return Err(unknown(value, key, "rate_limit")),
        }
    }
    Ok((!interval.is_zero()).then_some(RateLimit { interval, burst }))
}

/// The fields of a mapping; null (a key with nothing under it) is an empty mapping.
fn fields<'a>(node: &'a Node, what: &str) -> Result<&'a [(String, Node)], String> {
    match &node.value {
        Value::Map(fields) => Ok(fields),
        Value::Null => Ok(&[]),
        _ => Err(format!("line {}: {what} must be a mapping", node.line)),
    }
}

/// A string field; null is empty, as upstream's decoder has it.
fn string(node: &Node, key: &str) -> Result<String, String> {
    match &node.value {
        Value::Scalar { text, .. } => Ok(text.clone()),
        Value::Null => Ok(String::new()),
        _ => Err(format!("line {}: {key} must be a string", node.line)),
    }
}

/// A sequence's items; null is none given, which upstream's decoder tells from an empty
/// sequence.
fn sequence<'a>(node: &'a Node, key: &str) -> Result<Option<&'a [Node]>, String> {
    match &node.value {
        Value::Seq(items) => Ok(Some(items)),
        Value::Null => Ok(None),
        _ => Err(format!("line {}: {key} must be a list", node.line)),
    }
}

fn boolean(node: &Node, key: &str) -> Result<bool, String> {
    match &node.value {
        Value::Scalar {
            text,
            quoted: false,
        } => match text.as_str() {
            "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Ok(true),
            "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Ok(false),
            _ => Err(format!("line {}: {key} must be true or false", node.line)),
        },
        _ => Err(format!("line {}: {key} must be true or false", node.line)),
    }
}

fn unknown(node: &Node, key: &str, within: &str) -> String {
    format!("line {}: unknown key {key:?} in {within}", node.line)
}

/// A PEM setting as the file spells it, `<name>_file` and the inline `<name>`; empty strings
/// when not given.
#[derive(Default)]
struct PemSetting {
    file: String,
    inline: String,
}

impl PemSetting {
    fn is_empty(&self) -> bool {
        self.file.is_empty() && self.inline.is_empty()
    }

    /// Upstream documents the two as exclusive but reads the file when both are given; so
    /// does pushgate, so that such a file means the same to both. Relative paths are
    /// relative to `dir`, the configuration file's directory.
    fn into_pem(self, dir: &Path) -> Option<Pem> {
        if !self.file.is_empty() {
            Some(Pem::File(dir.join(self.file)))
        } else if !self.inline.is_empty() {
            Some(Pem::Inline(self.inline))
        } else {
            None
        }
    }
}

fn tls(node: &Node, dir: &Path) -> Result<Option<TlsConfig>, String> {
    let [mut cert, mut key, mut ca] = <[PemSetting; 3]>::default();
    let mut auth_text = String::new();
    let mut client_allowed_sans = None;
    let (mut cipher_suites, mut prefer_server_cipher_suites) = (None, true);
    let mut curve_preferences = Vec::new();
    let (mut min, mut max) = (TlsVersion::Tls12, TlsVersion::Tls13);
    for (name, value) in fields(node, "tls_server_config")? {
        match name.as_str() {
            "cert_file" => cert.file = string(value, name)?,
            "cert" => cert.inline = string(value, name)?,
            "key_file" => key.file = string(value, name)?,
            "key" => key.inline = string(value, name)?,
            "client_ca_file" => ca.file = string(value, name)?,
            "client_ca" => ca.inline = string(value, name)?,
            "client_auth_type" => auth_text = string(value, name)?,
            "min_version" => min = version(value, name)?,
            "max_version" => max = version(value, name)?,
            "cipher_suites" => cipher_suites = ciphers::cipher_suites(value, name)?,
            "prefer_server_cipher_suites" => prefer_server_cipher_suites = boolean(value, name)?,
            "curve_preferences" => curve_preferences = ciphers::curves(value, name)?,
            "client_allowed_sans" => {
                client_allowed_sans = sequence(value, name)?
                    .map(|items| items.iter().map(|item| string(item, name)).collect())
                    .transpose()?;
            }
            _ => return Err(unknown(value, name, "tls_server_config")),
        }
    }
    // As upstream: a section with none of these set means plain HTTP.
    if cert.is_empty() && key.is_empty() && ca.is_empty() && auth_text.is_empty() {
        return Ok(None);
    }
    let line = node.line;
    let client_auth = client_auth(&auth_text).ok_or_else(|| {
        format!(
            "line {line}: tls_server_config: unknown client_auth_type {auth_text:?}; expected \
             NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or \
             RequireAndVerifyClientCert"
        )
    })?;
    let missing =
        |name| format!("line {line}: tls_server_config: missing {name}_file (or an inline {name})");
    let cert = cert.into_pem(dir).ok_or_else(|| missing("cert"))?;
    let key = key.into_pem(dir).ok_or_else(|| missing("key"))?;
    let client_ca = ca.into_pem(dir);
    let verifies = matches!(
        client_auth,
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
    );
    if verifies && client_ca.is_none() {
        return Err(format!(
            "line {line}: tls_server_config: client_auth_type {auth_text} needs client_ca_file \
             (or an inline client_ca)"
        ));
    }
    // As upstream: a CA without a policy that uses it is a mistake to point out, not to serve.
    if let (Some(ca), ClientAuth::NoClientCert) = (&client_ca, client_auth) {
        let given = match ca {
            Pem::File(_) => "client_ca_file",
            Pem::Inline(_) => "client_ca",
        };
        return Err(format!(
            "line {line}: tls_server_config: {given} is set but client_auth_type is \
             NoClientCert, so no client certificate would be checked against it"
        ));
    }
    if min > max {
        return Err(format!(
            "line {line}: tls_server_config: min_version is above max_version"
        ));
    }
    // Upstream would start, and fail every handshake.
    if max == TlsVersion::Tls12 && cipher_suites.as_ref().is_some_and(Vec::is_empty) {
        return Err(format!(
            "line {line}: tls_server_config: cipher_suites names TLS 1.3 suites only, yet \
             max_version is TLS12, so no client could connect"
        ));
    }
    Ok(Some(TlsConfig {
        cert,
        key,
        client_auth,
        client_ca,
        client_allowed_sans,
        min_version: min,
        max_version: max,
        cipher_suites,
        prefer_server_cipher_suites,
        curve_preferences,
    }))
}

fn client_auth(name: &str) -> Option<ClientAuth> {
    Some(match name {
        "" | "NoClientCert" => ClientAuth::NoClientCert,
        "RequestClientCert" => ClientAuth::RequestClientCert,
        // The older name upstream still accepts.
        "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
        _ => return None,
    })
}

fn version(node: &Node, key: &str) -> Result<TlsVersion, String> {
    match string(node, key)?.as_str() {
        "TLS12" => Ok(TlsVersion::Tls12),
        "TLS13" => Ok(TlsVersion::Tls13),
        old @ ("TLS10" | "TLS11") => Err(format!(
            "line {}: {key}: {old} is not offered by rustls, which pushgate's TLS is built on; \
             use TLS12 or TLS13",
            node.line
        )),
        other => Err(format!(
            "line {}: {key}: unknown TLS version {other:?}; expected TLS12 or TLS13",
            node.line
        )),
    }
}

fn http(node: &Node) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    for (name, value) in fields(node, "http_server_config")? {
        match name.as_str() {
            // Parsed for its syntax only: there is no HTTP/2 to turn off.
            "http2" => {
                boolean(value, name)?;
            }
            "headers" => headers = header_values(value)?,
            _ => return Err(unknown(value, name, "http_server_config")),
        }
    }
    Ok(headers)
}

fn header_values(node: &Node) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    for (name, value) in fields(node, "headers")? {
        let text = string(value, name)?;
        let Some((_, allowed)) = HEADERS.iter().find(|(known, _)| known == name) else {
            let known: Vec<_> = HEADERS.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "line {}: header {name:?} cannot be configured; these can: {}",
                value.line,
                known.join(", ")
            ));
        };
        if !allowed.is_empty() && !allowed.contains(&text.as_str()) {
            return Err(format!(
                "line {}: header {name}: {text:?} is not one of {}",
                value.line,
                allowed.join(", ")
            ));
        }
        // Blank means unset, as upstream documents.
        if !text.is_empty() {
            headers.push((name.clone(), text));
        }
    }
    Ok(headers)
}

fn users(node: &Node) -> Result<Vec<(String, String)>, String> {
    let mut users = Vec::new();
    for (user, value) in fields(node, "basic_auth_users")? {
        let hash = string(value, user)?;
        if !is_bcrypt(&hash) {
            return Err(format!(
                "line {}: basic_auth_users: the password of {user:?} is not a bcrypt hash \
                 (such as htpasswd -nbBC 10 '' PASSWORD | cut -d: -f2 prints)",
                value.line
            ));
        }
        users.push((user.clone(), hash));
    }
    Ok(users)
}

/// `$2<a|b|x|y>$<cost 04..31>$<53 characters of bcrypt's base64>`, checked at start so that a
/// malformed hash is found then rather than by the first request.
fn is_bcrypt(hash: &str) -> bool {
    let b = hash.as_bytes();
    let cost = hash.get(4..6).and_then(|c| c.parse::<u8>().ok());
    b.len() == 60
        && b.starts_with(b"$2")
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && cost.is_some_and(|c| (4..=31).contains(&c))
        && b[6] == b'$'
        && b[7..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'.' || c == b'/')
}

#[cfg(test)]
mod tests;
