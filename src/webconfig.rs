//! `--web.config.file`: the Prometheus web configuration file (TLS, basic auth, extra response
//! headers), in the format of the Prometheus exporter-toolkit.
//!
//! What the file says is described by [`WebConfig`]; [`load`] reads and checks it, as strictly
//! as upstream does (an unknown key is an error, not a typo silently ignored), so a file that
//! upstream refuses is refused here too. The file is read once, at start.
//!
//! Parsed but not acted on: `http_server_config.http2` (pushgate speaks HTTP/1.1 only) and
//! `tls_server_config.prefer_server_cipher_suites` (rustls always prefers its own order).
//! Refused with a reason, rather than ignored, because ignoring them would weaken what the
//! operator asked for: inline `cert`/`key`/`client_ca`, `cipher_suites`, `curve_preferences`
//! and `client_allowed_sans`.

pub mod watch;
mod yaml;

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

fn unsupported(node: &Node, key: &str, instead: &str) -> String {
    format!(
        "line {}: {key} is not supported by pushgate{instead}",
        node.line
    )
}

/// Relative to the configuration file's directory unless absolute or empty.
fn resolve(dir: &Path, file: String) -> PathBuf {
    if file.is_empty() {
        PathBuf::new()
    } else {
        dir.join(file)
    }
}

fn tls(node: &Node, dir: &Path) -> Result<Option<TlsConfig>, String> {
    let (mut cert, mut key, mut ca) = (String::new(), String::new(), String::new());
    let mut auth_text = String::new();
    let (mut min, mut max) = (TlsVersion::Tls12, TlsVersion::Tls13);
    let use_files = "; give it as a file";
    for (name, value) in fields(node, "tls_server_config")? {
        match name.as_str() {
            "cert_file" => cert = string(value, name)?,
            "key_file" => key = string(value, name)?,
            "client_ca_file" => ca = string(value, name)?,
            "client_auth_type" => auth_text = string(value, name)?,
            "min_version" => min = version(value, name)?,
            "max_version" => max = version(value, name)?,
            "prefer_server_cipher_suites" => {
                boolean(value, name)?;
            }
            "cert" | "key" | "client_ca" => {
                return Err(unsupported(value, &format!("inline {name}"), use_files))
            }
            "cipher_suites" | "curve_preferences" => {
                return Err(unsupported(
                    value,
                    name,
                    "; rustls chooses from its safe defaults",
                ))
            }
            "client_allowed_sans" => return Err(unsupported(value, name, "")),
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
    for (file, name) in [(&cert, "cert_file"), (&key, "key_file")] {
        if file.is_empty() {
            return Err(format!("line {line}: tls_server_config: missing {name}"));
        }
    }
    let verifies = matches!(
        client_auth,
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
    );
    if verifies && ca.is_empty() {
        return Err(format!(
            "line {line}: tls_server_config: client_auth_type {auth_text} needs client_ca_file"
        ));
    }
    // As upstream: a CA without a policy that uses it is a mistake to point out, not to serve.
    if !ca.is_empty() && client_auth == ClientAuth::NoClientCert {
        return Err(format!(
            "line {line}: tls_server_config: client_ca_file is set but client_auth_type is \
             NoClientCert, so no client certificate would be checked against it"
        ));
    }
    if min > max {
        return Err(format!(
            "line {line}: tls_server_config: min_version is above max_version"
        ));
    }
    Ok(Some(TlsConfig {
        cert_file: resolve(dir, cert),
        key_file: resolve(dir, key),
        client_auth,
        client_ca_file: Some(resolve(dir, ca)).filter(|p| !p.as_os_str().is_empty()),
        min_version: min,
        max_version: max,
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
