//! Command-line flags: upstream's names and defaults, parsed by hand into a [`Config`].
//!
//! Accepts `--flag=value` and `--flag value`, booleans as `--flag`/`--no-flag`/`--flag=true`.
//! Unknown flags and bad values are an error naming the flag. Owns nothing else: opening files
//! and sockets is `main`'s job.

use std::time::Duration;

use crate::formats::names::Validation;

pub const USAGE: &str = "\
usage: pushgate [<flags>]

A drop-in replacement for the Prometheus Pushgateway.

Flags:
  -h, --help                     Show this help and exit.
      --version                  Show the version and exit.
      --web.listen-address=:9091 Address to listen on (repeatable).
      --web.telemetry-path=/metrics
                                 Path under which to expose metrics.
      --web.external-url=URL     The URL under which the gateway is externally reachable.
      --web.route-prefix=PREFIX  Prefix for all routes. Defaults to the path of
                                 --web.external-url.
      --web.enable-lifecycle     Enable shutdown via HTTP request (PUT/POST /-/quit).
      --web.enable-admin-api     Enable API endpoints for admin control actions.
      --web.config.file=FILE     Web configuration file (TLS, basic auth).
      --web.systemd-socket       Serve on the listening sockets systemd passes (socket
                                 activation) instead of --web.listen-address.
      --persistence.file=FILE    File to persist metrics. If empty, metrics are only kept in
                                 memory.
      --persistence.interval=5m  Interval at which the persistence file is compacted (it
                                 also is whenever it outgrows twice the live data by 16 MiB;
                                 0 leaves only that).
      --push.disable-consistency-check
                                 Do not check consistency of pushed metrics. DANGEROUS.
      --push.enable-utf8-names   Allow UTF-8 characters in metric and label names (quoted
                                 in text bodies, U__ escaped in the URL path).
      --log.level=info           Only log messages with the given severity or above: debug,
                                 info, warn, error.
      --log.format=logfmt        Output format of log messages: logfmt, json.

pushgate's own flags (beyond upstream):
      --persistence.fsync=everysec
                                 When the persistence log is fsync'd: always (before
                                 acknowledging, one fsync per batch of concurrent pushes),
                                 everysec (at most about a second later), never (left to the
                                 OS). Every acknowledged push is written to the log first, so
                                 a crash of the process loses nothing under any policy.
      --persistence.recover-truncate
                                 If the persistence log is damaged, start with its intact part
                                 and move the rest to FILE.corrupt instead of refusing to
                                 start.
      --push.group-ttl=0s        Delete a group this long after its last successful push (0 =
                                 never, as upstream). A push may ask for its group's own time
                                 to live with the header X-Pushgate-TTL (a duration; 0 =
                                 never), a pushgate extension.
      --push.max-group-ttl=0s    Longest time to live a push may ask for (0 = no bound); a
                                 longer one, or 0, is refused with 400.
      --push.max-body-bytes=67108864
                                 Largest accepted push body (also after decompression); 413
                                 past it. At most 1 GiB. A push that would take more than 16
                                 times this once labelled and rendered (at most 2 GiB) is
                                 refused with 413 too.
      --push.max-groups=0        Most groups (0 = no limit); a push that would add one more
                                 is refused with 429.
      --push.max-series=0        Most series (sample lines, as a scraper stores them) in the
                                 whole store (0 = no limit); 429 past it.
      --push.max-series-per-push=0
                                 Most series one push may hold (0 = no limit); 413 past it.
      --push.max-labels-per-series=0
                                 Most labels a pushed series may have, grouping labels
                                 included (0 = no limit); 400 past it.
      --push.max-label-value-length=0
                                 Longest label value, in bytes (0 = no limit); 400 past it.
      --web.max-inflight-bytes=268435456
                                 Most bytes that requests still being received, and
                                 responses their clients have not yet taken, may hold
                                 together (4 times --push.max-body-bytes unless given, and
                                 never less than one largest request). Past it, connections
                                 whose requests need more are read no further and streamed
                                 responses wait; if one waits a second, those holding the
                                 most are shed (503, or closed). Up to 16 KiB of request
                                 and 128 KiB of response per connection is never held back.
      --web.max-connections=10000
                                 Most open client connections. When all are open, the one
                                 idle the longest is closed to admit a new one; if none is
                                 idle, the new one is refused.
      --web.max-connections-per-ip=0
                                 Most open connections from one IP address (0: no limit).
      --web.first-request-timeout=10s
                                 Time a new connection has to send the head of its first
                                 request, TLS handshake included, before it is closed.
      --web.read-timeout=30s     Time a client has to send a whole request.
      --web.idle-timeout=5m      How long an idle keep-alive connection is kept.
";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
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
    /// Every flag as given, for the status page.
    pub flags: Vec<(String, String)>,
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
                crate::web::api::go_duration(ttl),
                crate::web::api::go_duration(max)
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
            flags: Vec::new(),
        }
    }
}

const BOOLEANS: &[&str] = &[
    "web.enable-lifecycle",
    "web.systemd-socket",
    "web.enable-admin-api",
    "push.disable-consistency-check",
    "push.enable-utf8-names",
    "persistence.recover-truncate",
];

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut cfg = Config::default();
    let mut route_prefix: Option<String> = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--version" => return Ok(Command::Version),
            _ => {}
        }
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None if BOOLEANS.contains(&flag) => (flag.to_string(), "true".into()),
            None => match flag.strip_prefix("no-").filter(|n| BOOLEANS.contains(n)) {
                Some(n) => (n.to_string(), "false".into()),
                None => {
                    let v = args
                        .next()
                        .ok_or_else(|| format!("flag --{flag} needs a value"))?;
                    (flag.to_string(), v)
                }
            },
        };
        let bad = |what: &str| format!("invalid value {value:?} for flag --{name}: {what}");
        let boolean = || match value.as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(bad("expected true or false")),
        };
        let count = || value.parse::<usize>().map_err(|_| bad("not a number"));
        match name.as_str() {
            "web.listen-address" => cfg.listen_addresses.push(value.clone()),
            "web.telemetry-path" => {
                if !value.starts_with('/') {
                    return Err(bad("must start with /"));
                }
                cfg.telemetry_path = value.clone();
            }
            "web.external-url" => cfg.external_url = Some(value.clone()).filter(|v| !v.is_empty()),
            "web.route-prefix" => route_prefix = Some(value.clone()),
            "web.enable-lifecycle" => cfg.enable_lifecycle = boolean()?,
            "web.enable-admin-api" => cfg.enable_admin_api = boolean()?,
            "web.config.file" => {
                cfg.web_config_file = Some(value.clone()).filter(|v| !v.is_empty())
            }
            "persistence.file" => {
                cfg.persistence_file = Some(value.clone()).filter(|v| !v.is_empty())
            }
            "persistence.interval" => {
                cfg.persistence_interval =
                    parse_duration(&value).ok_or_else(|| bad("not a duration"))?
            }
            "persistence.fsync" => {
                cfg.persistence_fsync = match value.as_str() {
                    "always" => Fsync::Always,
                    "everysec" => Fsync::EverySec,
                    "never" => Fsync::Never,
                    _ => return Err(bad("expected always, everysec or never")),
                }
            }
            "persistence.recover-truncate" => cfg.persistence_recover_truncate = boolean()?,
            "push.disable-consistency-check" => cfg.disable_consistency_check = boolean()?,
            "push.enable-utf8-names" => cfg.enable_utf8_names = boolean()?,
            "push.max-body-bytes" => {
                cfg.max_body_bytes = value
                    .parse()
                    .ok()
                    .filter(|&n| n <= MAX_BODY_BYTES)
                    .ok_or_else(|| bad("not a byte count of at most 1 GiB (1073741824)"))?
            }
            "web.max-connections" => {
                cfg.max_connections = value.parse().map_err(|_| bad("not a number"))?
            }
            "web.max-connections-per-ip" => {
                cfg.max_connections_per_ip = value.parse().map_err(|_| bad("not a number"))?
            }
            "web.max-inflight-bytes" => {
                cfg.inflight_bytes = Some(value.parse().map_err(|_| bad("not a byte count"))?)
            }
            "web.first-request-timeout" => {
                cfg.first_request_timeout =
                    parse_duration(&value).ok_or_else(|| bad("not a duration"))?
            }
            "web.read-timeout" => {
                cfg.read_timeout = parse_duration(&value).ok_or_else(|| bad("not a duration"))?
            }
            "web.systemd-socket" => cfg.systemd_socket = boolean()?,
            "push.max-groups" => cfg.limits.groups = count()?,
            "push.max-series" => cfg.limits.series = count()?,
            "push.max-series-per-push" => cfg.limits.series_per_push = count()?,
            "push.max-labels-per-series" => cfg.limits.labels_per_series = count()?,
            "push.max-label-value-length" => cfg.limits.label_value_length = count()?,
            "push.group-ttl" => {
                cfg.group_ttl = parse_duration(&value).ok_or_else(|| bad("not a duration"))?
            }
            "push.max-group-ttl" => {
                cfg.max_group_ttl = parse_duration(&value).ok_or_else(|| bad("not a duration"))?
            }
            "web.idle-timeout" => {
                cfg.idle_timeout = parse_duration(&value).ok_or_else(|| bad("not a duration"))?
            }
            "log.level" => {
                cfg.log_level = match value.as_str() {
                    "debug" => LogLevel::Debug,
                    "info" => LogLevel::Info,
                    "warn" => LogLevel::Warn,
                    "error" => LogLevel::Error,
                    _ => return Err(bad("expected debug, info, warn or error")),
                }
            }
            "log.format" => {
                cfg.log_format = match value.as_str() {
                    "logfmt" => LogFormat::Logfmt,
                    "json" => LogFormat::Json,
                    _ => return Err(bad("expected logfmt or json")),
                }
            }
            _ => return Err(format!("unknown flag --{name}")),
        }
        cfg.flags.push((name, value));
    }
    if cfg.listen_addresses.is_empty() {
        cfg.listen_addresses.push(":9091".into());
    }
    if let Err(e) = Some(cfg.group_ttl)
        .filter(|t| !t.is_zero())
        .map_or(Ok(Duration::ZERO), |t| cfg.allowed_ttl(t))
    {
        return Err(format!("invalid value for flag --push.group-ttl: {e}"));
    }
    let prefix = match (route_prefix, &cfg.external_url) {
        (Some(p), _) => p,
        (None, Some(url)) => url_path(url).ok_or_else(|| {
            format!("invalid value {url:?} for flag --web.external-url: not an absolute URL")
        })?,
        (None, None) => String::new(),
    };
    cfg.route_prefix = normalize_prefix(&prefix);
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
