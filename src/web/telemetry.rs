//! The gateway's own metrics: build info, HTTP request counts, push durations and sizes, the
//! persistence log's numbers (`pushgate_persistence_*`, ours, not upstream's), and the usual
//! `process_*` gauges, rendered for each scrape.
//!
//! Names, types and help strings follow the upstream Pushgateway so dashboards keep working.
//! Only cheap counters are touched on the request path; everything else is computed when a
//! scrape asks for it.

use std::collections::BTreeMap;
use std::fs;

use crate::formats::expose;
use crate::formats::model::{Label, Metric, MetricType, Value};
use crate::persist::{self, FSYNC_BUCKETS};
use crate::version;
use crate::web::scrape::OwnFamily;

struct Own {
    name: &'static str,
    mtype: MetricType,
    help: &'static str,
}

const fn own(name: &'static str, mtype: MetricType, help: &'static str) -> Own {
    Own { name, mtype, help }
}

const BUILD_INFO: &str = "pushgateway_build_info";
const REQUESTS: &str = "pushgateway_http_requests_total";
const PUSH_DURATION: &str = "pushgateway_http_push_duration_seconds";
const PUSH_SIZE: &str = "pushgateway_http_push_size_bytes";
const GROUPS_EXPIRED: &str = "pushgate_groups_expired_total";
const LIMITED: &str = "pushgate_push_limit_rejections_total";
const RATE_LIMITED: &str = "pushgate_http_rate_limited_requests_total";
const LOG_FSYNC: &str = "pushgate_persistence_fsync_duration_seconds";
const LOG_COMPACTION_SECONDS: &str = "pushgate_persistence_last_compaction_duration_seconds";
const LOG_COMPACTION_TIME: &str = "pushgate_persistence_last_compaction_timestamp_seconds";
const LOG_SIZE: &str = "pushgate_persistence_log_size_bytes";
const LOG_RECORDS: &str = "pushgate_persistence_records_since_compaction";
const LOG_WRITABLE: &str = "pushgate_persistence_writable";
const LOG_ERRORS: &str = "pushgate_persistence_write_errors_total";

/// Sorted by name.
const OWN: &[Own] = &[
    own(
        "process_cpu_seconds_total",
        MetricType::Counter,
        "Total user and system CPU time spent in seconds.",
    ),
    own("process_max_fds", MetricType::Gauge, "Maximum number of open file descriptors."),
    own("process_open_fds", MetricType::Gauge, "Number of open file descriptors."),
    own("process_resident_memory_bytes", MetricType::Gauge, "Resident memory size in bytes."),
    own(
        "process_start_time_seconds",
        MetricType::Gauge,
        "Start time of the process since unix epoch in seconds.",
    ),
    own("process_virtual_memory_bytes", MetricType::Gauge, "Virtual memory size in bytes."),
    own(
        "process_virtual_memory_max_bytes",
        MetricType::Gauge,
        "Maximum amount of virtual memory available in bytes.",
    ),
    own(
        GROUPS_EXPIRED,
        MetricType::Counter,
        "Groups deleted because their time to live ran out.",
    ),
    own(
        RATE_LIMITED,
        MetricType::Counter,
        "Requests refused with 429 by rate_limit of the web configuration file.",
    ),
    own(
        LOG_FSYNC,
        MetricType::Histogram,
        "Time an fsync of the persistence log took.",
    ),
    own(
        LOG_COMPACTION_SECONDS,
        MetricType::Gauge,
        "How long the last compaction of the persistence log took.",
    ),
    own(
        LOG_COMPACTION_TIME,
        MetricType::Gauge,
        "Unix time the last compaction of the persistence log finished (0 = none yet).",
    ),
    own(LOG_SIZE, MetricType::Gauge, "Size of the persistence log."),
    own(
        LOG_RECORDS,
        MetricType::Gauge,
        "Records appended to the persistence log since it was last compacted or replayed.",
    ),
    own(
        LOG_WRITABLE,
        MetricType::Gauge,
        "1 while the persistence log takes changes, 0 after a failed write or fsync until it has been rewritten.",
    ),
    own(
        LOG_ERRORS,
        MetricType::Counter,
        "Failed writes and fsyncs of the persistence log, by operation.",
    ),
    own(
        LIMITED,
        MetricType::Counter,
        "Pushes refused for going past a --push.max-* limit, by the limit's flag.",
    ),
    own(
        BUILD_INFO,
        MetricType::Gauge,
        "A metric with a constant '1' value labeled by version, revision, branch, goversion from which pushgateway was built, and the goos and goarch for the build.",
    ),
    own(
        PUSH_DURATION,
        MetricType::Summary,
        "HTTP request duration for pushes to the Pushgateway.",
    ),
    own(PUSH_SIZE, MetricType::Summary, "HTTP request size for pushes to the Pushgateway."),
    own(
        REQUESTS,
        MetricType::Counter,
        "Total HTTP requests processed by the Pushgateway, excluding scrapes.",
    ),
];

/// The type of one of the gateway's own metric names, if `name` is one.
pub fn own_type(name: &str) -> Option<MetricType> {
    // Called for every pushed family: most names share no prefix with ours, so skip the scan.
    if !name.starts_with("p") {
        return None;
    }
    OWN.iter().find(|o| o.name == name).map(|o| o.mtype)
}

/// How many recent observations a push summary keeps to compute its quantiles.
const WINDOW: usize = 1024;
const QUANTILES: [f64; 3] = [0.1, 0.5, 0.9];

/// A summary over a window of recent observations, with all-time sum and count.
#[derive(Default)]
struct Summary {
    recent: Vec<f64>,
    next: usize,
    sum: f64,
    count: u64,
}

impl Summary {
    fn observe(&mut self, v: f64) {
        if self.recent.len() < WINDOW {
            self.recent.push(v);
        } else {
            self.recent[self.next] = v;
        }
        self.next = (self.next + 1) % WINDOW;
        self.sum += v;
        self.count += 1;
    }

    fn write(&self, out: &mut Vec<u8>, name: &str, labels: &[Label]) {
        let mut sorted = self.recent.clone();
        // Every scrape sorts each window: the standard sort, not `order`'s indirect one.
        sorted.sort_unstable_by(f64::total_cmp);
        let quantiles = QUANTILES
            .iter()
            .map(|&q| {
                let v = if sorted.is_empty() {
                    f64::NAN
                } else {
                    sorted[((q * sorted.len() as f64) as usize).min(sorted.len() - 1)]
                };
                (q, v)
            })
            .collect();
        expose::write_metric(
            out,
            name,
            &crate::formats::model::Metric {
                labels: labels.to_vec(),
                value: crate::formats::model::Value::Summary {
                    quantiles,
                    sum: self.sum,
                    count: self.count,
                },
                timestamp_ms: None,
            },
        );
    }
}

/// Counters the handlers update, and the scrape-time rendering of all own metrics.
pub struct Telemetry {
    /// `(handler, code, method)` -> count.
    requests: BTreeMap<(&'static str, u16, &'static str), u64>,
    push_duration: BTreeMap<&'static str, Summary>,
    push_size: BTreeMap<&'static str, Summary>,
    start_time: f64,
    /// Groups deleted because their time to live ran out.
    pub groups_expired: u64,
    /// Pushes refused by a limit, by its flag.
    limited: BTreeMap<&'static str, u64>,
    /// Requests refused by `rate_limit`.
    pub rate_limited: u64,
}

impl Telemetry {
    pub fn new(start_time: f64) -> Telemetry {
        Telemetry {
            requests: BTreeMap::new(),
            push_duration: BTreeMap::new(),
            push_size: BTreeMap::new(),
            start_time,
            groups_expired: 0,
            limited: BTreeMap::new(),
            rate_limited: 0,
        }
    }

    /// Counts a push refused by the limit `flag` sets.
    pub fn limited(&mut self, flag: &'static str) {
        *self.limited.entry(flag).or_default() += 1;
    }

    /// Counts a request (scrapes are not counted, as upstream).
    pub fn count(&mut self, handler: &'static str, code: u16, method: &'static str) {
        *self.requests.entry((handler, code, method)).or_default() += 1;
    }

    pub fn observe_push(&mut self, method: &'static str, seconds: f64, bytes: usize) {
        self.push_duration
            .entry(method)
            .or_default()
            .observe(seconds);
        self.push_size
            .entry(method)
            .or_default()
            .observe(bytes as f64);
    }

    /// Renders every own family; the persistence ones only when there is a log.
    pub fn render(&self, log: Option<&persist::Stats>) -> Vec<OwnFamily> {
        let process = ProcessStats::read();
        OWN.iter()
            .map(|o| {
                let mut text = Vec::new();
                match o.name {
                    BUILD_INFO => {
                        let labels = [
                            Label::new("branch", version::BRANCH),
                            Label::new("goarch", std::env::consts::ARCH),
                            Label::new("goos", std::env::consts::OS),
                            Label::new("goversion", version::RUSTC_VERSION),
                            Label::new("revision", version::REVISION),
                            Label::new("version", version::VERSION),
                        ];
                        simple(&mut text, o.name, &labels, 1.0);
                    }
                    REQUESTS => {
                        for (&(handler, code, method), &n) in &self.requests {
                            let labels = [
                                Label::new("code", code.to_string()),
                                Label::new("handler", handler),
                                Label::new("method", method.to_ascii_lowercase()),
                            ];
                            simple(&mut text, o.name, &labels, n as f64);
                        }
                    }
                    PUSH_DURATION | PUSH_SIZE => {
                        let summaries = if o.name == PUSH_DURATION {
                            &self.push_duration
                        } else {
                            &self.push_size
                        };
                        for (&method, s) in summaries {
                            s.write(
                                &mut text,
                                o.name,
                                &[Label::new("method", method.to_ascii_lowercase())],
                            );
                        }
                    }
                    "process_start_time_seconds" => simple(&mut text, o.name, &[], self.start_time),
                    GROUPS_EXPIRED => simple(&mut text, o.name, &[], self.groups_expired as f64),
                    RATE_LIMITED => simple(&mut text, o.name, &[], self.rate_limited as f64),
                    LIMITED => {
                        for (&flag, &n) in &self.limited {
                            simple(&mut text, o.name, &[Label::new("limit", flag)], n as f64);
                        }
                    }
                    name if name.starts_with("pushgate_persistence_") => {
                        if let Some(log) = log {
                            write_log_stats(&mut text, name, log);
                        }
                    }
                    name => {
                        if let Some(v) = process.get(name) {
                            simple(&mut text, o.name, &[], v);
                        }
                    }
                }
                OwnFamily {
                    name: o.name,
                    help: o.help,
                    mtype: o.mtype,
                    text,
                }
            })
            .filter(|f| !f.text.is_empty())
            .collect()
    }
}

fn write_log_stats(out: &mut Vec<u8>, name: &str, log: &persist::Stats) {
    match name {
        LOG_FSYNC => {
            let mut total = 0;
            let buckets = FSYNC_BUCKETS
                .iter()
                .zip(log.fsync_buckets)
                .map(|(&le, n)| {
                    total += n;
                    (le, total)
                })
                .collect();
            let value = Value::Histogram {
                buckets,
                sum: log.fsync_sum,
                count: log.fsync_count,
                native: None,
            };
            let m = Metric {
                labels: Vec::new(),
                value,
                timestamp_ms: None,
            };
            expose::write_metric(out, name, &m);
        }
        LOG_ERRORS => {
            for (op, n) in [("fsync", log.fsync_errors), ("write", log.write_errors)] {
                simple(out, name, &[Label::new("op", op)], n as f64);
            }
        }
        _ => {
            let v = match name {
                LOG_COMPACTION_SECONDS => log.last_compaction_seconds,
                LOG_COMPACTION_TIME => log.last_compaction_time,
                LOG_SIZE => log.log_bytes as f64,
                LOG_RECORDS => log.records_since_compaction as f64,
                _ => f64::from(u8::from(log.writable)),
            };
            simple(out, name, &[], v);
        }
    }
}

fn simple(out: &mut Vec<u8>, name: &str, labels: &[Label], v: f64) {
    expose::write_metric(
        out,
        name,
        &crate::formats::model::Metric {
            labels: labels.to_vec(),
            value: crate::formats::model::Value::Simple(v),
            timestamp_ms: None,
        },
    );
}

/// What `/proc/self` says about this process, read at scrape time. Where there is no /proc (a
/// scratch container), or a file in it cannot be read, its gauges are left out of the scrape.
struct ProcessStats {
    values: Vec<(&'static str, f64)>,
}

impl ProcessStats {
    fn read() -> ProcessStats {
        let mut values = Vec::new();
        // Fields after the command name (which may contain spaces) in /proc/self/stat.
        if let Ok(stat) = fs::read_to_string("/proc/self/stat") {
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok());
                // utime and stime are fields 14 and 15 (1-based), in clock ticks of 1/100 s
                // on Linux; rest starts at field 3.
                if let (Some(u), Some(s)) = (num(11), num(12)) {
                    values.push(("process_cpu_seconds_total", (u + s) / 100.0));
                }
                if let Some(vsize) = num(20) {
                    values.push(("process_virtual_memory_bytes", vsize));
                }
                if let Some(rss) = num(21) {
                    values.push(("process_resident_memory_bytes", rss * 4096.0));
                }
            }
        }
        if let Ok(dir) = fs::read_dir("/proc/self/fd") {
            values.push(("process_open_fds", dir.count() as f64));
        }
        if let Ok(limits) = fs::read_to_string("/proc/self/limits") {
            for line in limits.lines() {
                let limit = |prefix: &str| {
                    line.strip_prefix(prefix)
                        .and_then(|r| r.split_whitespace().next())
                        // "unlimited" is reported as the largest value, as client_golang does.
                        .map(|v| v.parse::<f64>().unwrap_or(u64::MAX as f64))
                };
                if let Some(v) = limit("Max open files") {
                    values.push(("process_max_fds", v));
                }
                if let Some(v) = limit("Max address space") {
                    values.push(("process_virtual_memory_max_bytes", v));
                }
            }
        }
        ProcessStats { values }
    }

    fn get(&self, name: &str) -> Option<f64> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_type_knows_every_own_name() {
        // own_type skips names not starting with "p"; every own name must start with it.
        for o in OWN {
            assert_eq!(own_type(o.name), Some(o.mtype), "{}", o.name);
        }
        assert_eq!(own_type("batch_ok"), None);
        assert_eq!(own_type("process_nope"), None);
    }
}
