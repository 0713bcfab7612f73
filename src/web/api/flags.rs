//! Every flag's effective value, spelled as upstream's status API spells it (kingpin's
//! `Value.String()`: `5m0s` for durations, `true`/`false`, `""` when unset, repeated flags
//! joined with `,`), for `GET /api/v1/status` and the status page.
//!
//! Lists upstream's flags that pushgate accepts, then pushgate's own. Upstream's
//! `web.systemd-socket` (and Debian's `web.local-assets`) are not flags of ours, so they are not
//! listed.

use std::time::Duration;

use crate::config::{Config, Fsync, LogFormat, LogLevel};
use crate::order;

/// `(name, value)` for every flag, sorted by name.
pub fn effective(cfg: &Config) -> Vec<(&'static str, String)> {
    let b = |v: bool| v.to_string();
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut flags = vec![
        ("log.format", log_format(cfg.log_format).to_string()),
        ("log.level", log_level(cfg.log_level).to_string()),
        ("persistence.file", opt(&cfg.persistence_file)),
        (
            "persistence.interval",
            go_duration(cfg.persistence_interval),
        ),
        (
            "push.disable-consistency-check",
            b(cfg.disable_consistency_check),
        ),
        ("push.enable-utf8-names", b(cfg.enable_utf8_names)),
        ("web.config.file", opt(&cfg.web_config_file)),
        ("web.enable-admin-api", b(cfg.enable_admin_api)),
        ("web.enable-lifecycle", b(cfg.enable_lifecycle)),
        ("web.external-url", opt(&cfg.external_url)),
        ("web.listen-address", cfg.listen_addresses.join(",")),
        ("web.route-prefix", cfg.route_prefix.clone()),
        ("web.systemd-socket", b(cfg.systemd_socket)),
        ("web.telemetry-path", cfg.telemetry_path.clone()),
        // pushgate's own.
        (
            "persistence.fsync",
            fsync(cfg.persistence_fsync).to_string(),
        ),
        (
            "persistence.recover-truncate",
            b(cfg.persistence_recover_truncate),
        ),
        ("push.group-ttl", go_duration(cfg.group_ttl)),
        ("push.max-groups", cfg.limits.groups.to_string()),
        (
            "push.max-label-value-length",
            cfg.limits.label_value_length.to_string(),
        ),
        (
            "push.max-labels-per-series",
            cfg.limits.labels_per_series.to_string(),
        ),
        ("push.max-series", cfg.limits.series.to_string()),
        (
            "push.max-series-per-push",
            cfg.limits.series_per_push.to_string(),
        ),
        ("push.max-body-bytes", cfg.max_body_bytes.to_string()),
        ("push.max-group-ttl", go_duration(cfg.max_group_ttl)),
        (
            "web.first-request-timeout",
            go_duration(cfg.first_request_timeout),
        ),
        ("web.idle-timeout", go_duration(cfg.idle_timeout)),
        ("web.max-connections", cfg.max_connections.to_string()),
        (
            "web.max-connections-per-ip",
            cfg.max_connections_per_ip.to_string(),
        ),
        (
            "web.max-inflight-bytes",
            cfg.max_inflight_bytes().to_string(),
        ),
        ("web.read-timeout", go_duration(cfg.read_timeout)),
    ];
    order::sort_by_key(&mut flags, |(name, _)| *name);
    flags
}

fn log_level(l: LogLevel) -> &'static str {
    match l {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

fn log_format(f: LogFormat) -> &'static str {
    match f {
        LogFormat::Logfmt => "logfmt",
        LogFormat::Json => "json",
    }
}

fn fsync(f: Fsync) -> &'static str {
    match f {
        Fsync::Always => "always",
        Fsync::EverySec => "everysec",
        Fsync::Never => "never",
    }
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
        let cfg = match crate::config::parse(["--web.external-url=http://h/gw/".to_string()]) {
            Ok(crate::config::Command::Run(c)) => *c,
            _ => unreachable!(),
        };
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
}
