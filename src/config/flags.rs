//! Every flag, once: its name, how `--help` shows it, how its value is read into a [`Config`]
//! and how `GET /api/v1/status` and the status page report it. The help text, the parser and
//! the status API all read [`FLAGS`], so a flag is one entry here and its field in `Config`.
//!
//! The status API spells values as upstream's does (kingpin's `Value.String()`: `5m0s` for
//! durations, `true`/`false`, `""` when unset, repeated flags joined with `,`). It lists every
//! flag but `--help` and `--version`, upstream's and pushgate's own alike; flags of upstream
//! that pushgate does not accept (Debian's `web.local-assets`) are not listed.

use std::time::Duration;

use super::{normalize_prefix, parse_duration, Command, Config, FSYNCS, LOG_FORMATS, LOG_LEVELS};
use super::{DEFAULT_LISTEN_ADDRESS, MAX_BODY_BYTES, ROUTE_PREFIX};
use crate::order;

/// One command-line flag.
pub(super) struct Flag {
    name: &'static str,
    /// `h` (`-h`): the one flag with a short form.
    short: Option<&'static str>,
    arg: Arg,
    /// Broken into lines by hand, as the help shows them under one another.
    help: &'static str,
    /// pushgate's own, listed after upstream's under a heading of their own.
    own: bool,
}

enum Arg {
    /// Answered instead of running: only spelled whole, without a value or a `--no-` form.
    Command(fn() -> Command),
    /// `--flag`, `--no-flag`, `--flag=true|false|1|0`.
    Switch {
        set: fn(&mut Config, bool),
        get: fn(&Config) -> bool,
    },
    /// `--flag=VALUE` or `--flag VALUE`. `shown` follows the `=` in the help: the default, or
    /// what the value is (`FILE`) where the default is none. `set` answers why a value is
    /// refused.
    Value {
        shown: &'static str,
        set: fn(&mut Config, &str) -> Result<(), String>,
        show: fn(&Config) -> String,
    },
}

const FLAGS: &[Flag] = &[
    Flag {
        name: "help",
        short: Some("h"),
        arg: Arg::Command(|| Command::Help),
        help: "Show this help and exit.",
        own: false,
    },
    Flag {
        name: "version",
        short: None,
        arg: Arg::Command(|| Command::Version),
        help: "Show the version and exit.",
        own: false,
    },
    Flag {
        name: "web.listen-address",
        short: None,
        arg: Arg::Value {
            shown: DEFAULT_LISTEN_ADDRESS,
            set: |c, v| {
                c.listen_addresses.push(v.into());
                Ok(())
            },
            show: |c| c.listen_addresses.join(","),
        },
        help: "Address to listen on (repeatable).",
        own: false,
    },
    Flag {
        name: "web.telemetry-path",
        short: None,
        arg: Arg::Value {
            shown: "/metrics",
            set: |c, v| {
                if !v.starts_with('/') {
                    return Err("must start with /".into());
                }
                c.telemetry_path = v.into();
                Ok(())
            },
            show: |c| c.telemetry_path.clone(),
        },
        help: "Path under which to expose metrics.",
        own: false,
    },
    Flag {
        name: "web.external-url",
        short: None,
        arg: Arg::Value {
            shown: "URL",
            set: |c, v| {
                c.external_url = non_empty(v);
                Ok(())
            },
            show: |c| c.external_url.clone().unwrap_or_default(),
        },
        help: "The URL under which the gateway is externally reachable.",
        own: false,
    },
    Flag {
        name: ROUTE_PREFIX,
        short: None,
        arg: Arg::Value {
            shown: "PREFIX",
            set: |c, v| {
                c.route_prefix = normalize_prefix(v);
                Ok(())
            },
            show: |c| c.route_prefix.clone(),
        },
        help: "Prefix for all routes. Defaults to the path of\n\
               --web.external-url.",
        own: false,
    },
    Flag {
        name: "web.enable-lifecycle",
        short: None,
        arg: Arg::Switch {
            set: |c, on| c.enable_lifecycle = on,
            get: |c| c.enable_lifecycle,
        },
        help: "Enable shutdown via HTTP request (PUT/POST /-/quit).",
        own: false,
    },
    Flag {
        name: "web.enable-admin-api",
        short: None,
        arg: Arg::Switch {
            set: |c, on| c.enable_admin_api = on,
            get: |c| c.enable_admin_api,
        },
        help: "Enable API endpoints for admin control actions.",
        own: false,
    },
    Flag {
        name: "web.config.file",
        short: None,
        arg: Arg::Value {
            shown: "FILE",
            set: |c, v| {
                c.web_config_file = non_empty(v);
                Ok(())
            },
            show: |c| c.web_config_file.clone().unwrap_or_default(),
        },
        help: "Web configuration file (TLS, basic auth).",
        own: false,
    },
    Flag {
        name: "web.systemd-socket",
        short: None,
        arg: Arg::Switch {
            set: |c, on| c.systemd_socket = on,
            get: |c| c.systemd_socket,
        },
        help: "Serve on the listening sockets systemd passes (socket\n\
               activation) instead of --web.listen-address.",
        own: false,
    },
    Flag {
        name: "persistence.file",
        short: None,
        arg: Arg::Value {
            shown: "FILE",
            set: |c, v| {
                c.persistence_file = non_empty(v);
                Ok(())
            },
            show: |c| c.persistence_file.clone().unwrap_or_default(),
        },
        help: "File to persist metrics. If empty, metrics are only kept in\n\
               memory.",
        own: false,
    },
    Flag {
        name: "persistence.interval",
        short: None,
        arg: Arg::Value {
            shown: "5m",
            set: |c, v| {
                c.persistence_interval = duration(v)?;
                Ok(())
            },
            show: |c| go_duration(c.persistence_interval),
        },
        help: "Interval at which the persistence file is compacted (it\n\
               also is whenever it outgrows twice the live data by 16 MiB;\n\
               0 leaves only that).",
        own: false,
    },
    Flag {
        name: "push.disable-consistency-check",
        short: None,
        arg: Arg::Switch {
            set: |c, on| c.disable_consistency_check = on,
            get: |c| c.disable_consistency_check,
        },
        help: "Do not check consistency of pushed metrics. DANGEROUS.",
        own: false,
    },
    Flag {
        name: "push.enable-utf8-names",
        short: None,
        arg: Arg::Switch {
            set: |c, on| c.enable_utf8_names = on,
            get: |c| c.enable_utf8_names,
        },
        help: "Allow UTF-8 characters in metric and label names (quoted\n\
               in text bodies, U__ escaped in the URL path).",
        own: false,
    },
    Flag {
        name: "log.level",
        short: None,
        arg: Arg::Value {
            shown: "info",
            set: |c, v| {
                c.log_level = choose(LOG_LEVELS, v)?;
                Ok(())
            },
            show: |c| c.log_level.name().into(),
        },
        help: "Only log messages with the given severity or above: debug,\n\
               info, warn, error.",
        own: false,
    },
    Flag {
        name: "log.format",
        short: None,
        arg: Arg::Value {
            shown: "logfmt",
            set: |c, v| {
                c.log_format = choose(LOG_FORMATS, v)?;
                Ok(())
            },
            show: |c| name_of(LOG_FORMATS, c.log_format).into(),
        },
        help: "Output format of log messages: logfmt, json.",
        own: false,
    },
    Flag {
        name: "persistence.fsync",
        short: None,
        arg: Arg::Value {
            shown: "everysec",
            set: |c, v| {
                c.persistence_fsync = choose(FSYNCS, v)?;
                Ok(())
            },
            show: |c| name_of(FSYNCS, c.persistence_fsync).into(),
        },
        help: "When the persistence log is fsync'd: always (before\n\
               acknowledging, one fsync per batch of concurrent pushes),\n\
               everysec (at most about a second later), never (left to the\n\
               OS). Every acknowledged push is written to the log first, so\n\
               a crash of the process loses nothing under any policy.",
        own: true,
    },
    Flag {
        name: "persistence.recover-truncate",
        short: None,
        arg: Arg::Switch {
            set: |c, on| c.persistence_recover_truncate = on,
            get: |c| c.persistence_recover_truncate,
        },
        help: "If the persistence log is damaged, start with its intact part\n\
               and move the rest to FILE.corrupt instead of refusing to\n\
               start.",
        own: true,
    },
    Flag {
        name: "push.group-ttl",
        short: None,
        arg: Arg::Value {
            shown: "0s",
            set: |c, v| {
                c.group_ttl = duration(v)?;
                Ok(())
            },
            show: |c| go_duration(c.group_ttl),
        },
        help: "Delete a group this long after its last successful push (0 =\n\
               never, as upstream). A push may ask for its group's own time\n\
               to live with the header X-Pushgate-TTL (a duration; 0 =\n\
               never), a pushgate extension.",
        own: true,
    },
    Flag {
        name: "push.max-group-ttl",
        short: None,
        arg: Arg::Value {
            shown: "0s",
            set: |c, v| {
                c.max_group_ttl = duration(v)?;
                Ok(())
            },
            show: |c| go_duration(c.max_group_ttl),
        },
        help: "Longest time to live a push may ask for (0 = no bound); a\n\
               longer one, or 0, is refused with 400.",
        own: true,
    },
    Flag {
        name: "push.max-body-bytes",
        short: None,
        arg: Arg::Value {
            shown: "67108864",
            set: |c, v| {
                c.max_body_bytes = v
                    .parse()
                    .ok()
                    .filter(|&n| n <= MAX_BODY_BYTES)
                    .ok_or("not a byte count of at most 1 GiB (1073741824)")?;
                Ok(())
            },
            show: |c| c.max_body_bytes.to_string(),
        },
        help: "Largest accepted push body (also after decompression); 413\n\
               past it. At most 1 GiB. A push that would take more than 16\n\
               times this once labelled and rendered (at most 2 GiB) is\n\
               refused with 413 too.",
        own: true,
    },
    Flag {
        name: "push.max-groups",
        short: None,
        arg: Arg::Value {
            shown: "0",
            set: |c, v| {
                c.limits.groups = number(v)?;
                Ok(())
            },
            show: |c| c.limits.groups.to_string(),
        },
        help: "Most groups (0 = no limit); a push that would add one more\n\
               is refused with 429.",
        own: true,
    },
    Flag {
        name: "push.max-series",
        short: None,
        arg: Arg::Value {
            shown: "0",
            set: |c, v| {
                c.limits.series = number(v)?;
                Ok(())
            },
            show: |c| c.limits.series.to_string(),
        },
        help: "Most series (sample lines, as a scraper stores them) in the\n\
               whole store (0 = no limit); 429 past it.",
        own: true,
    },
    Flag {
        name: "push.max-series-per-push",
        short: None,
        arg: Arg::Value {
            shown: "0",
            set: |c, v| {
                c.limits.series_per_push = number(v)?;
                Ok(())
            },
            show: |c| c.limits.series_per_push.to_string(),
        },
        help: "Most series one push may hold (0 = no limit); 413 past it.",
        own: true,
    },
    Flag {
        name: "push.max-labels-per-series",
        short: None,
        arg: Arg::Value {
            shown: "0",
            set: |c, v| {
                c.limits.labels_per_series = number(v)?;
                Ok(())
            },
            show: |c| c.limits.labels_per_series.to_string(),
        },
        help: "Most labels a pushed series may have, grouping labels\n\
               included (0 = no limit); 400 past it.",
        own: true,
    },
    Flag {
        name: "push.max-label-value-length",
        short: None,
        arg: Arg::Value {
            shown: "0",
            set: |c, v| {
                c.limits.label_value_length = number(v)?;
                Ok(())
            },
            show: |c| c.limits.label_value_length.to_string(),
        },
        help: "Longest label value, in bytes (0 = no limit); 400 past it.",
        own: true,
    },
    Flag {
        name: "web.max-inflight-bytes",
        short: None,
        arg: Arg::Value {
            shown: "268435456",
            set: |c, v| {
                c.inflight_bytes = Some(v.parse().map_err(|_| "not a byte count")?);
                Ok(())
            },
            show: |c| c.max_inflight_bytes().to_string(),
        },
        help: "Most bytes that requests still being received, and\n\
               responses their clients have not yet taken, may hold\n\
               together (4 times --push.max-body-bytes unless given, and\n\
               never less than one largest request). Past it, connections\n\
               whose requests need more are read no further and streamed\n\
               responses wait; if one waits a second, those holding the\n\
               most are shed (503, or closed). Up to 16 KiB of request\n\
               and 128 KiB of response per connection is never held back.",
        own: true,
    },
    Flag {
        name: "web.max-connections",
        short: None,
        arg: Arg::Value {
            shown: "10000",
            set: |c, v| {
                c.max_connections = number(v)?;
                Ok(())
            },
            show: |c| c.max_connections.to_string(),
        },
        help: "Most open client connections. When all are open, the one\n\
               idle the longest is closed to admit a new one; if none is\n\
               idle, the new one is refused.",
        own: true,
    },
    Flag {
        name: "web.max-connections-per-ip",
        short: None,
        arg: Arg::Value {
            shown: "0",
            set: |c, v| {
                c.max_connections_per_ip = number(v)?;
                Ok(())
            },
            show: |c| c.max_connections_per_ip.to_string(),
        },
        help: "Most open connections from one IP address (0: no limit).",
        own: true,
    },
    Flag {
        name: "web.first-request-timeout",
        short: None,
        arg: Arg::Value {
            shown: "10s",
            set: |c, v| {
                c.first_request_timeout = duration(v)?;
                Ok(())
            },
            show: |c| go_duration(c.first_request_timeout),
        },
        help: "Time a new connection has to send the head of its first\n\
               request, TLS handshake included, before it is closed.",
        own: true,
    },
    Flag {
        name: "web.read-timeout",
        short: None,
        arg: Arg::Value {
            shown: "30s",
            set: |c, v| {
                c.read_timeout = duration(v)?;
                Ok(())
            },
            show: |c| go_duration(c.read_timeout),
        },
        help: "Time a client has to send a whole request.",
        own: true,
    },
    Flag {
        name: "web.idle-timeout",
        short: None,
        arg: Arg::Value {
            shown: "5m",
            set: |c, v| {
                c.idle_timeout = duration(v)?;
                Ok(())
            },
            show: |c| go_duration(c.idle_timeout),
        },
        help: "How long an idle keep-alive connection is kept.",
        own: true,
    },
];

/// Where a flag's help starts on its line; a longer flag puts it on the next.
const HELP_COLUMN: usize = 33;

/// The `--help` text.
pub fn usage() -> String {
    let mut out = String::from(
        "usage: pushgate [<flags>]\n\n\
         A drop-in replacement for the Prometheus Pushgateway.\n\n\
         Flags:\n",
    );
    for flag in FLAGS.iter().filter(|f| !f.own) {
        flag.describe(&mut out);
    }
    out.push_str("\npushgate's own flags (beyond upstream):\n");
    for flag in FLAGS.iter().filter(|f| f.own) {
        flag.describe(&mut out);
    }
    out
}

/// `(name, value)` for every flag but the commands, sorted by name.
pub fn effective(cfg: &Config) -> Vec<(&'static str, String)> {
    let mut flags: Vec<_> = FLAGS
        .iter()
        .filter_map(|f| match f.arg {
            Arg::Command(_) => None,
            Arg::Switch { get, .. } => Some((f.name, get(cfg).to_string())),
            Arg::Value { show, .. } => Some((f.name, show(cfg))),
        })
        .collect();
    order::sort_by_key(&mut flags, |(name, _)| *name);
    flags
}

/// The command `arg` asks for, spelled whole (`-h`, `--help`, `--version`).
pub(super) fn command(arg: &str) -> Option<Command> {
    FLAGS.iter().find_map(|f| match f.arg {
        Arg::Command(command) => {
            let short = f.short.is_some() && arg.strip_prefix('-') == f.short;
            let long = arg.strip_prefix("--") == Some(f.name);
            (short || long).then(command)
        }
        _ => None,
    })
}

/// The flag named `name` that sets part of a [`Config`].
pub(super) fn setting(name: &str) -> Option<&'static Flag> {
    FLAGS
        .iter()
        .find(|f| f.name == name && !matches!(f.arg, Arg::Command(_)))
}

impl Flag {
    /// Whether the flag is a boolean, given without a value.
    pub(super) fn is_switch(&self) -> bool {
        matches!(self.arg, Arg::Switch { .. })
    }

    /// Sets `value`, or says why it cannot be.
    pub(super) fn set(&self, cfg: &mut Config, value: &str) -> Result<(), String> {
        match self.arg {
            Arg::Command(_) => unreachable!("commands are not settings"),
            Arg::Switch { set, .. } => {
                let on = match value {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err("expected true or false".into()),
                };
                set(cfg, on);
                Ok(())
            }
            Arg::Value { set, .. } => set(cfg, value),
        }
    }

    /// Appends the flag's lines of help to `out`.
    fn describe(&self, out: &mut String) {
        let start = out.len();
        match self.short {
            Some(short) => out.push_str(&format!("  -{short}, --{}", self.name)),
            None => out.push_str(&format!("      --{}", self.name)),
        }
        if let Arg::Value { shown, .. } = self.arg {
            out.push('=');
            out.push_str(shown);
        }
        let mut lines = self.help.lines();
        let width = out.len() - start;
        if width >= HELP_COLUMN {
            out.push('\n');
            out.push_str(&" ".repeat(HELP_COLUMN));
        } else {
            out.push_str(&" ".repeat(HELP_COLUMN - width));
        }
        out.push_str(lines.next().unwrap_or_default());
        out.push('\n');
        for line in lines {
            out.push_str(&" ".repeat(HELP_COLUMN));
            out.push_str(line);
            out.push('\n');
        }
    }
}

fn non_empty(v: &str) -> Option<String> {
    Some(v.to_string()).filter(|v| !v.is_empty())
}

fn duration(v: &str) -> Result<Duration, String> {
    parse_duration(v).ok_or_else(|| "not a duration".into())
}

fn number(v: &str) -> Result<usize, String> {
    v.parse().map_err(|_| "not a number".into())
}

/// The choice named `v`, else the names there are: `expected a, b or c`.
fn choose<T: Copy>(choices: &[(&str, T)], v: &str) -> Result<T, String> {
    if let Some(&(_, choice)) = choices.iter().find(|(name, _)| *name == v) {
        return Ok(choice);
    }
    let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
    let (last, rest) = names.split_last().expect("a flag has choices");
    Err(format!("expected {} or {last}", rest.join(", ")))
}

/// The name of `choice` among `choices`.
pub(super) fn name_of<T: PartialEq>(choices: &[(&'static str, T)], choice: T) -> &'static str {
    choices
        .iter()
        .find(|(_, c)| *c == choice)
        .map(|(name, _)| *name)
        .expect("every choice is named")
}

/// Go's `time.Duration.String()`: `0s`, `500ms`, `1m30s`, `5m0s`, `1h30m0s`.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale) = match nanos {
            n if n < 1_000 => return format!("{n}ns"),
            n if n < 1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{}{unit}", fraction(nanos, scale));
    }
    let secs = d.as_secs();
    let (h, m) = (secs / 3600, secs / 60 % 60);
    let s = fraction(
        u128::from(secs % 60) * 1_000_000_000 + u128::from(d.subsec_nanos()),
        1_000_000_000,
    );
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

/// `n / scale` with the fraction's trailing zeros dropped: `1.5`, `30`.
fn fraction(n: u128, scale: u128) -> String {
    let (int, frac) = (n / scale, n % scale);
    if frac == 0 {
        return int.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Config {
        match crate::config::parse(args.iter().map(|s| s.to_string())) {
            Ok(Command::Run(c)) => *c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn durations_like_go() {
        for (d, want) in [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(300), "5m0s"),
            (Duration::from_secs(5400), "1h30m0s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(30), "30s"),
        ] {
            assert_eq!(go_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn defaults_as_upstream_spells_them() {
        let cfg = run(&["--web.external-url=http://h/gw/"]);
        let flags = effective(&cfg);
        let get = |n: &str| flags.iter().find(|(k, _)| *k == n).unwrap().1.as_str();
        assert_eq!(get("persistence.interval"), "5m0s");
        assert_eq!(get("web.route-prefix"), "/gw");
        assert_eq!(get("web.external-url"), "http://h/gw/");
        assert_eq!(get("web.listen-address"), ":9091");
        assert_eq!(get("persistence.file"), "");
        assert_eq!(get("web.enable-admin-api"), "false");
        assert_eq!(get("web.first-request-timeout"), "10s");
        assert_eq!(get("web.max-inflight-bytes"), "268435456");
        assert_eq!(get("web.max-connections-per-ip"), "0");
        assert!(flags.windows(2).all(|w| w[0].0 < w[1].0));
    }

    /// The help shows the defaults `Config::default` has: giving each one changes nothing.
    #[test]
    fn help_shows_the_defaults() {
        let defaults = effective(&run(&[]));
        for flag in FLAGS {
            let Arg::Value { shown, .. } = flag.arg else {
                continue;
            };
            if shown.bytes().all(|b| b.is_ascii_uppercase()) {
                continue;
            }
            let given = run(&[&format!("--{}={shown}", flag.name)]);
            assert_eq!(effective(&given), defaults, "--{}", flag.name);
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = FLAGS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        assert!(names.windows(2).all(|w| w[0] != w[1]), "{names:?}");
    }
}
