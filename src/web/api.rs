//! The JSON API under `/api/v1`: `GET /status`, `GET /metrics`, `PUT /admin/wipe`, and the
//! CORS preflight, in upstream's shapes (its README, "Query API").
//!
//! Owns the routing inside `/api/v1`, the JSON documents and the query parameters pushgate
//! adds, and which groups a page holds (the web UI's HTML lists the first). Does not own
//! mutations: a wipe is only recognized here, and `app` logs and applies it like any other
//! change.
//!
//! `GET /api/v1/metrics` answers, as upstream, `{"status":"success","data":[group, ...]}` with
//! one object per group: `labels` (the grouping key), `last_push_successful`, `expires_at`
//! (a pushgate extension, only for a group with a time to live), and one entry per
//! family (the two timestamp gauges included): `time_stamp` (when the push that last set it
//! was made), `type`, `help` (absent when empty) and `metrics` (read from the stored sample
//! lines, see `samples`, or for histograms the lines cannot fully say, from their protobuf
//! form, see `native`). Object keys are sorted, as Go sorts map keys; groups come in
//! label-set order (upstream's order is random) and series in label-set order (upstream
//! keeps push order). The whole list is streamed a few groups at a time, so a large store
//! does not hold up the event loop.
//!
//! pushgate's extension, for clients (like the web UI) that cannot take 10,000 groups at once:
//! any of these query parameters selects a page of groups and adds a `page` object beside
//! `data` (`{"offset","limit","matched","total"}`: the page asked for, how many groups match,
//! how many there are). Without them the answer is upstream's, every group.
//! - `offset` (default 0), `limit` (default and most: 1,000): the slice of matching groups,
//!   ordered by job, then by label set. A page is written in one go, so it is bounded like
//!   the pieces of the streamed answer;
//! - `filter`: up to 16 whitespace-separated terms, each of which must occur in the group's
//!   labels written `name="value"` or in one of its family names (ASCII letters match either
//!   case);
//! - `failed=1`: only groups whose last push failed;
//! - `stale=<seconds>`: only groups without a successful push in that many seconds.

mod json;
mod native;
mod samples;

use std::borrow::Cow;
use std::sync::Arc;

use crate::formats::model::MetricType;
use crate::http::service::Response;
use crate::order;
use crate::store::key::percent_decode;
use crate::store::{Group, Store, PUSH_FAILURE_TIME, PUSH_TIME};

pub(crate) use json::rfc3339;

const CORS: [(&str, &str); 5] = [
    (
        "Access-Control-Allow-Headers",
        "Accept, Authorization, Content-Type, Origin",
    ),
    ("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"),
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "Date"),
    ("Cache-Control", "no-cache, no-store, must-revalidate"),
];

/// What a request under `/api/v1` asks for.
pub(crate) enum Route<S> {
    /// Answered already; the handler name is for the request counter (none for answers
    /// upstream's router gives itself: 404 and 405).
    Done(Option<&'static str>, Response<S>),
    Metrics,
    /// `PUT /admin/wipe` with the admin API enabled: answer 202 once the wipe is logged.
    Wipe,
}

/// State of the API that lives as long as the server.
pub(crate) struct Api {
    admin: bool,
    /// The status document never changes: built once.
    status: Vec<u8>,
}

impl Api {
    /// `started` is the process start in Unix seconds.
    pub(crate) fn new(cfg: &crate::config::Config, started: f64) -> Api {
        let mut out = Vec::new();
        out.extend_from_slice(br#"{"status":"success","data":{"build_information":"#);
        json::string_map(&mut out, crate::version::info());
        out.extend_from_slice(br#","flags":"#);
        let flags = crate::config::effective(cfg);
        json::string_map(&mut out, flags.iter().map(|(k, v)| (*k, v.as_str())));
        out.extend_from_slice(br#","start_time":"#);
        json::time(&mut out, started);
        out.extend_from_slice(b"}}");
        Api {
            admin: cfg.enable_admin_api,
            status: out,
        }
    }

    /// Routes `rest`, the path after `/api/v1` (empty or starting with `/`).
    pub(crate) fn route<S>(&self, method: &str, rest: &str) -> Route<S> {
        if method == "OPTIONS" && rest.starts_with('/') {
            return Route::Done(Some("api/v1/options"), with_cors(Response::empty(200)));
        }
        let allow = match rest {
            "/status" if method == "GET" => {
                let resp = json_response(200, self.status.clone());
                return Route::Done(Some("api/v1/status"), resp);
            }
            "/metrics" if method == "GET" => return Route::Metrics,
            "/admin/wipe" if self.admin && method == "PUT" => return Route::Wipe,
            "/status" | "/metrics" => "GET, OPTIONS",
            "/admin/wipe" if self.admin => "OPTIONS, PUT",
            _ => return Route::Done(None, Response::not_found()),
        };
        Route::Done(None, Response::method_not_allowed(allow))
    }
}

fn with_cors<S>(mut resp: Response<S>) -> Response<S> {
    for (name, value) in CORS {
        resp.headers.push((name, value.to_string()));
    }
    resp
}

fn json_response<S>(status: u16, body: Vec<u8>) -> Response<S> {
    let mut resp = Response::empty(status);
    resp.headers
        .push(("Content-Type", "application/json".to_string()));
    resp.body = crate::http::service::Body::Bytes(body);
    with_cors(resp)
}

fn bad_data<S>(reason: &str) -> Response<S> {
    let mut out = Vec::new();
    out.extend_from_slice(br#"{"status":"error","errorType":"bad_data","error":"#);
    json::string(&mut out, reason);
    out.push(b'}');
    json_response(400, out)
}

/// Most groups one page holds.
const MAX_PAGE: usize = 1000;
/// Most terms a filter may have: each is looked for in every group.
const MAX_TERMS: usize = 16;

/// Which groups `GET /api/v1/metrics` lists; see the module doc.
#[derive(Debug, Default, PartialEq)]
struct Page {
    /// Whether any paging parameter was given (then the answer carries `page`).
    paged: bool,
    offset: usize,
    limit: usize,
    /// Lower-cased terms.
    terms: Vec<String>,
    failed: bool,
    stale: Option<f64>,
}

impl Page {
    fn from_query(query: &str) -> Result<Page, String> {
        let mut page = Page {
            limit: MAX_PAGE,
            ..Page::default()
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(&value.replace('+', " "))
                .ok_or_else(|| format!("bad percent-encoding in parameter {name:?}"))?;
            let number = || {
                value
                    .parse::<usize>()
                    .map_err(|_| format!("parameter {name:?} must be a non-negative integer"))
            };
            match name {
                "offset" => page.offset = number()?,
                "limit" => page.limit = number()?.min(MAX_PAGE),
                "filter" => {
                    page.terms = value
                        .split_whitespace()
                        .map(str::to_ascii_lowercase)
                        .collect();
                    if page.terms.len() > MAX_TERMS {
                        return Err(format!(
                            "parameter \"filter\" has {} terms, at most {MAX_TERMS} are allowed",
                            page.terms.len()
                        ));
                    }
                }
                "failed" => page.failed = !matches!(value.as_str(), "" | "0" | "false"),
                "stale" => {
                    page.stale = Some(
                        value
                            .parse::<f64>()
                            .ok()
                            .filter(|s| s.is_finite() && *s >= 0.0)
                            .ok_or("parameter \"stale\" must be a number of seconds")?,
                    )
                }
                // Unknown parameters are ignored, as upstream ignores every parameter.
                _ => continue,
            }
            page.paged = true;
        }
        Ok(page)
    }

    fn filtered(&self) -> bool {
        !self.terms.is_empty() || self.failed || self.stale.is_some()
    }

    /// `text` is scratch space, reused across calls.
    fn matches(&self, group: &Group, now: f64, text: &mut String) -> bool {
        if self.failed && group.push_time() >= group.failure_time() {
            return false;
        }
        if self.stale.is_some_and(|s| group.push_time() > now - s) {
            return false;
        }
        if self.terms.is_empty() {
            return true;
        }
        // Lower-cased once, then searched in linear time for each term. Terms hold no
        // whitespace, so none matches across the newlines between family names.
        text.clear();
        for (name, value) in group.labels() {
            text.push_str(&name);
            text.push_str("=\"");
            text.push_str(&value);
            text.push_str("\",");
        }
        for f in group.families() {
            text.push('\n');
            text.push_str(f);
        }
        text.make_ascii_lowercase();
        self.terms.iter().all(|t| text.contains(t.as_str()))
    }
}

/// `GET /api/v1/metrics`; `target` is the request target (its query selects a page), `now`
/// Unix seconds. Every group (no paging parameters) is streamed: `stream` wraps the
/// [`MetricsStream`] into the server's stream type.
pub(crate) fn metrics<S>(
    store: &Store,
    target: &str,
    now: f64,
    stream: impl FnOnce(MetricsStream) -> S,
) -> Response<S> {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let page = match Page::from_query(query) {
        Ok(p) => p,
        Err(reason) => return bad_data(&reason),
    };
    if !page.paged {
        let mut resp = json_response(200, Vec::new());
        resp.body = crate::http::service::Body::Stream(stream(MetricsStream::default()));
        return resp;
    }
    let (groups, matched) = select(store, &page, now);
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(br#"{"status":"success","data":["#);
    for (i, (k, g)) in groups.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_group(&mut out, store, k, g);
    }
    let text = format!(
        r#"],"page":{{"offset":{},"limit":{},"matched":{matched},"total":{}}}"#,
        page.offset,
        page.limit,
        store.group_count()
    );
    out.extend_from_slice(text.as_bytes());
    out.push(b'}');
    json_response(200, out)
}

/// The groups on `page` (canonical key and group) in page order, and how many groups match
/// its filter.
fn select<'a>(store: &'a Store, page: &Page, now: f64) -> (Vec<(&'a str, &'a Group)>, usize) {
    // Every group is looked at once (no lookups), and only the matches are re-sorted: by job,
    // then by label set, so a job's groups stay together.
    let mut scratch = String::new();
    let mut hits: Vec<(Cow<str>, &str, &Group)> = store
        .groups_after(None)
        .filter(|(_, g)| !page.filtered() || page.matches(g, now, &mut scratch))
        .map(|(k, g)| (job_of(g), k.as_ref(), g))
        .collect();
    let matched = hits.len();
    let end = matched.min(page.offset.saturating_add(page.limit));
    if page.offset >= end {
        return (Vec::new(), matched);
    }
    // Only the page itself needs to be in order.
    if end < matched {
        hits.select_nth_unstable_by(end, |a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    }
    let head = &mut hits[..end];
    if page.offset > 0 {
        head.select_nth_unstable_by(page.offset, |a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    }
    order::sort_by(&mut head[page.offset..], |a, b| {
        (&a.0, a.1).cmp(&(&b.0, b.1))
    });
    let groups = head[page.offset..]
        .iter()
        .map(|(_, k, g)| (*k, *g))
        .collect();
    (groups, matched)
}

/// The first `limit` groups (at most a page), as `GET /api/v1/metrics?offset=0&limit=<limit>`
/// lists them: canonical key and group, by job, then by label set.
pub(crate) fn first_page(store: &Store, limit: usize) -> Vec<(&str, &Group)> {
    let page = Page {
        limit: limit.min(MAX_PAGE),
        ..Page::default()
    };
    // Without a filter the time is not looked at.
    select(store, &page, 0.0).0
}

/// Every group, a few at a time as the socket takes them: rendering a large store at once
/// would hold up the event loop. Resumes after the last group written (by canonical key), so
/// changes between pieces are safe: each group appears at most once, as it is when its turn
/// comes.
#[derive(Default)]
pub struct MetricsStream {
    started: bool,
    after: Option<Arc<str>>,
}

impl MetricsStream {
    /// Appends about `want` bytes to `out`; `true` once the document is complete.
    pub fn fill(&mut self, store: &Store, out: &mut Vec<u8>, want: usize) -> bool {
        let start = out.len();
        if !self.started {
            self.started = true;
            out.extend_from_slice(br#"{"status":"success","data":["#);
        }
        for (canonical, group) in store.groups_after(self.after.as_deref()) {
            if out.len() - start >= want {
                return false;
            }
            if self.after.is_some() {
                out.push(b',');
            }
            write_group(out, store, canonical, group);
            self.after = Some(canonical.clone());
        }
        out.extend_from_slice(b"]}");
        true
    }
}

fn job_of(group: &Group) -> Cow<'_, str> {
    group.label("job").unwrap_or_default()
}

/// One entry of a group object: Go writes map keys sorted, so they are collected first.
enum Entry<'a> {
    Labels,
    LastPushSuccessful,
    ExpiresAt(f64),
    Family(&'a str),
}

fn write_group(out: &mut Vec<u8>, store: &Store, canonical: &str, group: &Group) {
    let mut entries: Vec<(&str, Entry)> = group
        .families()
        .iter()
        .map(|n| n.as_ref())
        .chain([PUSH_TIME, PUSH_FAILURE_TIME])
        .map(|n| (n, Entry::Family(n)))
        .collect();
    // Upstream sets these two first and lets a family of the same name overwrite them.
    // pushgate's `expires_at` (a group's time to live, which upstream has not) likewise.
    let expires = group
        .expires_at()
        .map(|t| ("expires_at", Entry::ExpiresAt(t)));
    for (name, entry) in [
        ("labels", Entry::Labels),
        ("last_push_successful", Entry::LastPushSuccessful),
    ]
    .into_iter()
    .chain(expires)
    {
        if !entries.iter().any(|(n, _)| *n == name) {
            entries.push((name, entry));
        }
    }
    order::sort_by_key(&mut entries, |(n, _)| *n);
    out.push(b'{');
    for (i, (name, entry)) in entries.iter().enumerate() {
        json::key(out, i == 0, name);
        match entry {
            Entry::Labels => {
                let labels: Vec<_> = group.labels().collect();
                json::string_map(out, labels.iter().map(|(n, v)| (n.as_ref(), v.as_ref())));
            }
            Entry::LastPushSuccessful => {
                let ok = group.push_time() >= group.failure_time();
                out.extend_from_slice(if ok { b"true" } else { b"false" });
            }
            Entry::ExpiresAt(t) => json::time(out, *t),
            Entry::Family(name) => write_family(out, store, name, canonical),
        }
    }
    out.push(b'}');
}

fn type_name(t: MetricType) -> &'static str {
    match t {
        MetricType::Counter => "COUNTER",
        MetricType::Gauge => "GAUGE",
        MetricType::Summary => "SUMMARY",
        MetricType::Histogram => "HISTOGRAM",
        MetricType::Untyped => "UNTYPED",
        MetricType::GaugeHistogram => "GAUGE_HISTOGRAM",
    }
}

fn write_family(out: &mut Vec<u8>, store: &Store, name: &str, canonical: &str) {
    let Some(m) = store.member_view(name, canonical) else {
        out.extend_from_slice(b"null");
        return;
    };
    out.extend_from_slice(br#"{"time_stamp":"#);
    json::time(out, m.time);
    out.extend_from_slice(br#","type":"#);
    json::string(out, type_name(m.mtype));
    if let Some(help) = m.help.filter(|h| !h.is_empty()) {
        out.extend_from_slice(br#","help":"#);
        json::string(out, help);
    }
    out.extend_from_slice(br#","metrics":"#);
    // The store keeps sample lines, and a protobuf form only of what they cannot say; reading
    // them back gives the structured values without keeping a second copy of every push.
    // (Upstream lists a gauge histogram as a plain value, which the lines give.)
    let stored = m.native.filter(|_| m.mtype == MetricType::Histogram);
    if stored.is_none_or(|s| native::write_metrics(out, name, s).is_err()) {
        samples::write_metrics(out, name, m.mtype, &m.text);
    }
    out.push(b'}');
}

#[cfg(test)]
pub(crate) mod tests;
