//! The command line's outward face, as released: `--help`, the flags the status page and
//! `/api/v1/status` report, and every refusal's message. Operators and scripts read these, so
//! they change only on purpose.

use super::{parse, usage, Command, Config};

fn run(args: &[&str]) -> Config {
    match parse(args.iter().map(|s| s.to_string())) {
        Ok(Command::Run(c)) => *c,
        other => panic!("{args:?}: {other:?}"),
    }
}

/// `name=value` lines, as the status API lists them.
fn effective(args: &[&str]) -> String {
    let cfg = run(args);
    let flags = super::effective(&cfg);
    flags.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

#[test]
fn help() {
    assert_eq!(usage(), USAGE.strip_prefix('\n').unwrap());
}

#[test]
fn effective_defaults() {
    assert_eq!(effective(&[]), DEFAULTS.strip_prefix('\n').unwrap());
}

#[test]
fn effective_every_flag_given() {
    let args = [
        "--web.listen-address=127.0.0.1:1",
        "--web.listen-address",
        "[::1]:2",
        "--web.telemetry-path=/m",
        "--web.external-url=https://h:8/x/",
        "--web.route-prefix=/p/",
        "--web.enable-lifecycle",
        "--web.enable-admin-api",
        "--web.config.file=w.yml",
        "--web.systemd-socket",
        "--persistence.file=/var/p",
        "--persistence.interval=1h30m",
        "--persistence.fsync=never",
        "--persistence.recover-truncate",
        "--push.disable-consistency-check",
        "--push.enable-utf8-names",
        "--push.group-ttl=90s",
        "--push.max-group-ttl=2h",
        "--push.max-body-bytes=1000",
        "--push.max-groups=1",
        "--push.max-series=2",
        "--push.max-series-per-push=3",
        "--push.max-labels-per-series=4",
        "--push.max-label-value-length=5",
        "--web.max-connections=6",
        "--web.max-connections-per-ip=7",
        "--web.first-request-timeout=1500ms",
        "--web.read-timeout=1s",
        "--web.idle-timeout=1m",
        "--log.level=debug",
        "--log.format=json",
    ];
    assert_eq!(effective(&args), GIVEN.strip_prefix('\n').unwrap());
}

#[test]
fn effective_other_forms() {
    let args = [
        "--web.external-url=http://h",
        "--web.max-inflight-bytes",
        "5000",
        "--no-web.enable-lifecycle",
        "--web.enable-admin-api=false",
        "--push.disable-consistency-check=1",
        "--persistence.fsync=always",
        "--log.level=warn",
        "--web.read-timeout=500us",
    ];
    assert_eq!(effective(&args), OTHER.strip_prefix('\n').unwrap());
}

#[test]
fn refusals() {
    for (args, want) in [
        (&["--nope", "x"][..], "unknown flag --nope"),
        (&["--nope"], "flag --nope needs a value"),
        (&["--help=1"], "unknown flag --help"),
        (&["--no-help"], "flag --no-help needs a value"),
        (&["--no-web.telemetry-path"], "flag --no-web.telemetry-path needs a value"),
        (&["--no-web.telemetry-path", "x"], "unknown flag --no-web.telemetry-path"),
        (&["--version=2"], "unknown flag --version"),
        (&["-x"], "unexpected argument \"-x\""),
        (&["stray"], "unexpected argument \"stray\""),
        (&["--web.telemetry-path"], "flag --web.telemetry-path needs a value"),
        (&["--web.telemetry-path=m"], "invalid value \"m\" for flag --web.telemetry-path: must start with /"),
        (&["--web.enable-lifecycle=maybe"], "invalid value \"maybe\" for flag --web.enable-lifecycle: expected true or false"),
        (&["--no-web.enable-lifecycle=true"], "unknown flag --no-web.enable-lifecycle"),
        (&["--log.level=loud"], "invalid value \"loud\" for flag --log.level: expected debug, info, warn or error"),
        (&["--log.format=xml"], "invalid value \"xml\" for flag --log.format: expected logfmt or json"),
        (&["--persistence.interval=5x"], "invalid value \"5x\" for flag --persistence.interval: not a duration"),
        (&["--persistence.fsync=sometimes"], "invalid value \"sometimes\" for flag --persistence.fsync: expected always, everysec or never"),
        (&["--push.max-body-bytes=1073741825"], "invalid value \"1073741825\" for flag --push.max-body-bytes: not a byte count of at most 1 GiB (1073741824)"),
        (&["--push.max-body-bytes=x"], "invalid value \"x\" for flag --push.max-body-bytes: not a byte count of at most 1 GiB (1073741824)"),
        (&["--web.max-connections=-1"], "invalid value \"-1\" for flag --web.max-connections: not a number"),
        (&["--web.max-connections-per-ip=a"], "invalid value \"a\" for flag --web.max-connections-per-ip: not a number"),
        (&["--web.max-inflight-bytes=1G"], "invalid value \"1G\" for flag --web.max-inflight-bytes: not a byte count"),
        (&["--web.first-request-timeout=soon"], "invalid value \"soon\" for flag --web.first-request-timeout: not a duration"),
        (&["--web.read-timeout=1"], "invalid value \"1\" for flag --web.read-timeout: not a duration"),
        (&["--web.idle-timeout="], "invalid value \"\" for flag --web.idle-timeout: not a duration"),
        (&["--push.max-groups=x"], "invalid value \"x\" for flag --push.max-groups: not a number"),
        (&["--push.max-series=x"], "invalid value \"x\" for flag --push.max-series: not a number"),
        (&["--push.max-series-per-push=x"], "invalid value \"x\" for flag --push.max-series-per-push: not a number"),
        (&["--push.max-labels-per-series=x"], "invalid value \"x\" for flag --push.max-labels-per-series: not a number"),
        (&["--push.max-label-value-length=x"], "invalid value \"x\" for flag --push.max-label-value-length: not a number"),
        (&["--push.group-ttl=x"], "invalid value \"x\" for flag --push.group-ttl: not a duration"),
        (&["--push.max-group-ttl=x"], "invalid value \"x\" for flag --push.max-group-ttl: not a duration"),
        (&["--push.group-ttl=2h", "--push.max-group-ttl=1h"], "invalid value for flag --push.group-ttl: a time to live of 2h0m0s is past --push.max-group-ttl=1h0m0s"),
        (&["--web.external-url=ftp://x/"], "invalid value \"ftp://x/\" for flag --web.external-url: not an absolute URL"),
        (&["--web.systemd-socket=yes"], "invalid value \"yes\" for flag --web.systemd-socket: expected true or false"),
        (&["--persistence.recover-truncate=2"], "invalid value \"2\" for flag --persistence.recover-truncate: expected true or false"),
        (&["--push.enable-utf8-names=no"], "invalid value \"no\" for flag --push.enable-utf8-names: expected true or false"),
        (&["--push.disable-consistency-check=on"], "invalid value \"on\" for flag --push.disable-consistency-check: expected true or false"),
        (&["--web.enable-admin-api=x"], "invalid value \"x\" for flag --web.enable-admin-api: expected true or false"),
    ] {
        let got = parse(args.iter().map(|s| s.to_string())).unwrap_err();
        assert_eq!(got, want, "{args:?}");
    }
}

#[test]
fn commands() {
    for (args, help) in [
        (&["--help"][..], true),
        (&["-h"], true),
        (&["--version"], false),
        (&["--log.level=debug", "--help", "--nope"], true),
        (&["--version", "--help"], false),
    ] {
        match parse(args.iter().map(|s| s.to_string())) {
            Ok(Command::Help) => assert!(help, "{args:?}"),
            Ok(Command::Version) => assert!(!help, "{args:?}"),
            other => panic!("{args:?}: {other:?}"),
        }
    }
}

const USAGE: &str = r#"
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
"#;

const DEFAULTS: &str = r#"
log.format=logfmt
log.level=info
persistence.file=
persistence.fsync=everysec
persistence.interval=5m0s
persistence.recover-truncate=false
push.disable-consistency-check=false
push.enable-utf8-names=false
push.group-ttl=0s
push.max-body-bytes=67108864
push.max-group-ttl=0s
push.max-groups=0
push.max-label-value-length=0
push.max-labels-per-series=0
push.max-series=0
push.max-series-per-push=0
web.config.file=
web.enable-admin-api=false
web.enable-lifecycle=false
web.external-url=
web.first-request-timeout=10s
web.idle-timeout=5m0s
web.listen-address=:9091
web.max-connections=10000
web.max-connections-per-ip=0
web.max-inflight-bytes=268435456
web.read-timeout=30s
web.route-prefix=
web.systemd-socket=false
web.telemetry-path=/metrics
"#;

const GIVEN: &str = r#"
log.format=json
log.level=debug
persistence.file=/var/p
persistence.fsync=never
persistence.interval=1h30m0s
persistence.recover-truncate=true
push.disable-consistency-check=true
push.enable-utf8-names=true
push.group-ttl=1m30s
push.max-body-bytes=1000
push.max-group-ttl=2h0m0s
push.max-groups=1
push.max-label-value-length=5
push.max-labels-per-series=4
push.max-series=2
push.max-series-per-push=3
web.config.file=w.yml
web.enable-admin-api=true
web.enable-lifecycle=true
web.external-url=https://h:8/x/
web.first-request-timeout=1.5s
web.idle-timeout=1m0s
web.listen-address=127.0.0.1:1,[::1]:2
web.max-connections=6
web.max-connections-per-ip=7
web.max-inflight-bytes=4000
web.read-timeout=1s
web.route-prefix=/p
web.systemd-socket=true
web.telemetry-path=/m
"#;

const OTHER: &str = r#"
log.format=logfmt
log.level=warn
persistence.file=
persistence.fsync=always
persistence.interval=5m0s
persistence.recover-truncate=false
push.disable-consistency-check=true
push.enable-utf8-names=false
push.group-ttl=0s
push.max-body-bytes=67108864
push.max-group-ttl=0s
push.max-groups=0
push.max-label-value-length=0
push.max-labels-per-series=0
push.max-series=0
push.max-series-per-push=0
web.config.file=
web.enable-admin-api=false
web.enable-lifecycle=false
web.external-url=http://h
web.first-request-timeout=10s
web.idle-timeout=5m0s
web.listen-address=:9091
web.max-connections=10000
web.max-connections-per-ip=0
web.max-inflight-bytes=5000
web.read-timeout=500µs
web.route-prefix=
web.systemd-socket=false
web.telemetry-path=/metrics
"#;
