//! Command-line flags: upstream's names and defaults, parsed by hand into a [`Config`].
//!
//! Accepts `--flag=value` and `--flag value`, booleans as `--flag`/`--no-flag`/`--flag=true`.
//! Unknown flags and bad values are an error naming the flag. The flags themselves, with their
//! help and how the status page shows them, are the table in `flags`. Owns nothing else:
//! opening files and sockets is [`crate::gateway`]'s job.

mod flags;

use std::time::Duration;

use crate::formats::names::Validation;

pub use flags::{effective, go_duration, usage};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// As `--log.level` and the log's `level` field spell it.
    pub fn name(self) -> &'static str {
        flags::name_of(LOG_LEVELS, self)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// When the persistence log is fsync'd (`--persistence.fsync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// Once per reactor turn, before that turn's responses go out.
    Always,
    /// About once a second, off the event loop.
    EverySec,
    Never,
}

/// The values of `--log.level`, `--log.format` and `--persistence.fsync`, by name.
const LOG_LEVELS: &[(&str, LogLevel)] = &[
    ("debug", LogLevel::Debug),
    ("info", LogLevel::Info),
    ("warn", LogLevel::Warn),
    ("error", LogLevel::Error),
];
const LOG_FORMATS: &[(&str, LogFormat)] =
    &[("logfmt", LogFormat::Logfmt), ("json", LogFormat::Json)];
const FSYNCS: &[(&str, Fsync)] = &[
    ("always", Fsync::Always),
    ("everysec", Fsync::EverySec),
    ("never", Fsync::Never),
];

/// Where the gateway listens when no `--web.listen-address` is given.
const DEFAULT_LISTEN_ADDRESS: &str = ":9091";

/// Given, it wins over the path of `--web.external-url`.
const ROUTE_PREFIX: &str = "web.route-prefix";

#[derive(Clone, Debug)]
pub struct Config {
    pub listen_addresses: Vec<String>,
    pub telemetry_path: String,
    pub external_url: Option<String>,
    /// Normalized: empty for no prefix, else starting with `/` and without a trailing `/`.
    pub route_prefix: String,
    pub enable_lifecycle: bool,
    pub enable_admin_api: bool,
    pub web_config_file: Option<String>,
    pub persistence_file: Option<String>,
    pub persistence_interval: Duration,
    pub persistence_fsync: Fsync,
    pub persistence_recover_truncate: bool,
    pub disable_consistency_check: bool,
    pub enable_utf8_names: bool,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    pub max_body_bytes: usize,
    /// Limits a push must keep within (0 = none), by flag name.
    pub limits: Limits,
    /// `--web.systemd-socket`: serve on the sockets systemd passes, not on listen addresses.
    pub systemd_socket: bool,
    /// `--push.group-ttl` (zero: groups never expire unless a push asks).
    pub group_ttl: Duration,
    /// `--push.max-group-ttl` (zero: no bound).
    pub max_group_ttl: Duration,
    /// As given; see [`Config::max_inflight_bytes`].
    pub inflight_bytes: Option<usize>,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub first_request_timeout: Duration,
    pub read_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Config {
    /// Which metric and label names pushes may use.
    pub fn names(&self) -> Validation {
        if self.enable_utf8_names {
            Validation::Utf8
        } else {
            Validation::Legacy
        }
    }

    /// `ttl` if a group may have it: not past `--push.max-group-ttl`, where one is set (never
    /// expiring is past any bound).
    pub fn allowed_ttl(&self, ttl: Duration) -> Result<Duration, String> {
        let max = self.max_group_ttl;
        if max.is_zero() || (!ttl.is_zero() && ttl <= max) {
            Ok(ttl)
        } else {
            Err(format!(
                "a time to live of {} is past --push.max-group-ttl={}",
                go_duration(ttl),
                go_duration(max)
            ))
        }
    }

    /// Most bytes a push may take once rendered: series repeat their labels on every sample
    /// line and carry the grouping key's labels, so a small body can ask for far more memory
    /// than it is (a protobuf bucket is about 15 bytes, its text line as long as the labels).
    /// Kept under 2 GiB so a push always fits a log record.
    pub fn max_rendered_bytes(&self) -> usize {
        self.max_body_bytes
            .saturating_mul(RENDERED_PER_BODY_BYTE)
            .min(MAX_RENDERED_BYTES)
    }

    /// The budget of bytes held by requests being received: as given, else room for a few
    /// pushes of the largest size at once, which scales with a raised body limit.
    pub fn max_inflight_bytes(&self) -> usize {
        self.inflight_bytes
            .unwrap_or_else(|| self.max_body_bytes.saturating_mul(INFLIGHT_PER_BODY))
    }
}

/// What an operator may limit, off (0) by default so upstream's behaviour is kept.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits {
    pub groups: usize,
    pub series: usize,
    pub series_per_push: usize,
    pub labels_per_series: usize,
    pub label_value_length: usize,
}
/// How many pushes of the largest size the default budget of bytes in flight holds.
const INFLIGHT_PER_BODY: usize = 4;

/// How many times the body limit a push may take once rendered.
const RENDERED_PER_BODY_BYTE: usize = 16;
const MAX_RENDERED_BYTES: usize = 2 << 30;
/// The largest `--push.max-body-bytes`: with the rendered limit, every push fits a log record
/// (whose length is 32 bits).
const MAX_BODY_BYTES: usize = 1 << 30;

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Run(Box<Config>),
    Help,
    Version,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen_addresses: Vec::new(),
            telemetry_path: "/metrics".into(),
            external_url: None,
            route_prefix: String::new(),
            enable_lifecycle: false,
            enable_admin_api: false,
            web_config_file: None,
            persistence_file: None,
            persistence_interval: Duration::from_secs(300),
            persistence_fsync: Fsync::EverySec,
            persistence_recover_truncate: false,
            disable_consistency_check: false,
            enable_utf8_names: false,
            log_level: LogLevel::Info,
            log_format: LogFormat::Logfmt,
            max_body_bytes: 64 << 20,
            inflight_bytes: None,
            max_connections: 10_000,
            max_connections_per_ip: 0,
            first_request_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            limits: Limits::default(),
            systemd_socket: false,
            group_ttl: Duration::ZERO,
            max_group_ttl: Duration::ZERO,
        }
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut cfg = Config::default();
    let mut prefix_given = false;
    let switch = |name: &str| flags::setting(name).is_some_and(|f| f.is_switch());
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if let Some(command) = flags::command(&arg) {
            return Ok(command);
        }
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, v.to_string()),
            None if switch(flag) => (flag, "true".into()),
            None => match flag.strip_prefix("no-").filter(|n| switch(n)) {
                Some(n) => (n, "false".into()),
                None => {
                    let v = args
                        .next()
                        .ok_or_else(|| format!("flag --{flag} needs a value"))?;
                    (flag, v)
                }
            },
        };
        let setting = flags::setting(name).ok_or_else(|| format!("unknown flag --{name}"))?;
        setting
            .set(&mut cfg, &value)
            .map_err(|what| format!("invalid value {value:?} for flag --{name}: {what}"))?;
        prefix_given |= name == ROUTE_PREFIX;
    }
    if cfg.listen_addresses.is_empty() {
        cfg.listen_addresses.push(DEFAULT_LISTEN_ADDRESS.into());
    }
    if let Err(e) = Some(cfg.group_ttl)
        .filter(|t| !t.is_zero())
        .map_or(Ok(Duration::ZERO), |t| cfg.allowed_ttl(t))
    {
        return Err(format!("invalid value for flag --push.group-ttl: {e}"));
    }
    if let Some(url) = cfg.external_url.as_ref().filter(|_| !prefix_given) {
        let path = url_path(url).ok_or_else(|| {
            format!("invalid value {url:?} for flag --web.external-url: not an absolute URL")
        })?;
        cfg.route_prefix = normalize_prefix(&path);
    }
    Ok(Command::Run(Box::new(cfg)))
}

/// The path of an absolute `http(s)://host[:port]/path` URL.
fn url_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    Some(match rest.find('/') {
        Some(i) => rest[i..].to_string(),
        None => String::new(),
    })
}

fn normalize_prefix(p: &str) -> String {
    let trimmed = p.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// Go's `time.ParseDuration` subset Prometheus flags use: `1h30m`, `90s`, `500ms`, `0`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    Some(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod golden;

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, String> {
        match parse(args.iter().map(|s| s.to_string()))? {
            Command::Run(c) => Ok(*c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_and_forms() {
        let c = run(&[]).unwrap();
        assert_eq!(c.listen_addresses, [":9091"]);
        assert_eq!(c.telemetry_path, "/metrics");
        assert_eq!(c.persistence_interval, Duration::from_secs(300));
        let c = run(&[
            "--web.listen-address=127.0.0.1:1",
            "--web.listen-address",
            "127.0.0.1:2",
            "--web.enable-admin-api",
            "--no-web.enable-lifecycle",
            "--push.disable-consistency-check=true",
            "--persistence.interval=1h30m",
            "--persistence.fsync=always",
            "--persistence.recover-truncate",
            "--web.external-url=http://example.com/gw/",
        ])
        .unwrap();
        assert_eq!(c.listen_addresses, ["127.0.0.1:1", "127.0.0.1:2"]);
        assert!(c.enable_admin_api && !c.enable_lifecycle && c.disable_consistency_check);
        assert_eq!(c.persistence_interval, Duration::from_secs(5400));
        assert_eq!(c.persistence_fsync, Fsync::Always);
        assert!(c.persistence_recover_truncate);
        assert_eq!(run(&[]).unwrap().persistence_fsync, Fsync::EverySec);
        assert_eq!(run(&[]).unwrap().names(), Validation::Legacy);
        let utf8 = run(&["--push.enable-utf8-names"]).unwrap();
        assert_eq!(utf8.names(), Validation::Utf8);
        assert_eq!(c.route_prefix, "/gw");
        assert_eq!(run(&["--web.route-prefix=/"]).unwrap().route_prefix, "");
        assert_eq!(
            run(&["--web.route-prefix=a/b/"]).unwrap().route_prefix,
            "/a/b"
        );
    }

    #[test]
    fn connection_and_memory_limits() {
        let c = run(&[]).unwrap();
        assert_eq!(c.max_inflight_bytes(), 256 << 20);
        assert_eq!(c.first_request_timeout, Duration::from_secs(10));
        assert_eq!(c.max_connections_per_ip, 0);
        // The default budget follows the body limit; a given one is kept as it is.
        let c = run(&["--push.max-body-bytes=1000"]).unwrap();
        assert_eq!(c.max_inflight_bytes(), 4000);
        let c = run(&[
            "--web.max-inflight-bytes=5000",
            "--web.first-request-timeout=3s",
            "--web.max-connections-per-ip=8",
        ])
        .unwrap();
        assert_eq!(c.max_inflight_bytes(), 5000);
        assert_eq!(c.first_request_timeout, Duration::from_secs(3));
        assert_eq!(c.max_connections_per_ip, 8);
    }

    #[test]
    fn errors_name_the_flag() {
        for (args, want) in [
            (&["--nope"][..], "--nope"),
            (&["--log.level=loud"], "--log.level"),
            (&["--persistence.interval=5x"], "--persistence.interval"),
            (&["--persistence.fsync=sometimes"], "--persistence.fsync"),
            (&["--web.max-inflight-bytes=1G"], "--web.max-inflight-bytes"),
            (
                &["--web.first-request-timeout=soon"],
                "--web.first-request-timeout",
            ),
            (&["--web.enable-lifecycle=maybe"], "--web.enable-lifecycle"),
            (&["--web.telemetry-path"], "--web.telemetry-path"),
            (&["stray"], "stray"),
        ] {
            let e = run(args).unwrap_err();
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration(""), None);
    }
}
