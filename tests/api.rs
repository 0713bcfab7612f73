//! The operator's HTTP surface, black-box: the JSON API (`/api/v1/status`, `/api/v1/metrics`)
//! diffed field by field against the reference Pushgateway (gauge histograms included; native
//! histograms, which the reference lists only as upstream's older releases did, against their
//! buckets worked out by hand), the admin wipe, the lifecycle quit, and all of it under a
//! route prefix.
//!
//! Values that legitimately differ are normalized before comparing: times (kept as their
//! order within a group, so "which families a push set" still counts), build information, the
//! listen address and persistence file, flags only one side has, and the order of series
//! within a family (upstream keeps push order; pushgate sorts by label set, as in `/metrics`).

mod json;

use std::net::SocketAddr;
use std::time::Duration;

use crate::util::{
    self, free_port, route_prefix, serves_flag, Process, Response, Server, Target, TempDir,
};
use json::{first_difference, Json};

/// A gateway under test: started by the harness, or (the reference under a route prefix, whose
/// readiness the harness probes without the prefix) by hand.
struct Gateway {
    target: Target,
    addr: SocketAddr,
    // Field order matters: the process stops before its directory is removed.
    _server: Option<Server>,
    process: Option<Process>,
    _dir: Option<TempDir>,
}

impl Gateway {
    fn start(target: Target, args: &[&str]) -> Gateway {
        let prefix = route_prefix(args);
        if target == Target::Pushgate || prefix.is_empty() {
            let server = Server::start(target, args);
            return Gateway {
                target,
                addr: server.addr,
                _server: Some(server),
                process: None,
                _dir: None,
            };
        }
        let dir = TempDir::new("pushgate-api-ref");
        let persistence = dir.path().join("p");
        for _ in 0..5 {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let mut all = vec![
                format!("--web.listen-address={addr}"),
                format!("--persistence.file={}", persistence.display()),
            ];
            all.extend(args.iter().map(|a| a.to_string()));
            let mut process = Process::spawn(&target.program(), &all);
            if process.wait_http_ok(addr, &format!("{prefix}/-/ready"))
                && serves_flag(addr, &format!("{prefix}/api/v1/status"), &persistence)
            {
                return Gateway {
                    target,
                    addr,
                    _server: None,
                    process: Some(process),
                    _dir: Some(dir),
                };
            }
        }
        panic!("the reference did not come up with {args:?}");
    }

    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        util::request(self.addr, method, path, headers, body)
            .unwrap_or_else(|e| panic!("{:?}: {method} {path}: {e}", self.target))
    }

    fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(p) = &mut self.process {
            p.terminate();
        }
    }
}

/// Both gateways with the same arguments; `None` (skipped) when the reference is missing.
fn both(args: &[&str]) -> Option<(Gateway, Gateway)> {
    if !Target::Reference.available() {
        return None;
    }
    Some((
        Gateway::start(Target::Pushgate, args),
        Gateway::start(Target::Reference, args),
    ))
}

fn get_json(server: &Gateway, path: &str) -> Json {
    let resp = server.get(path);
    assert_eq!(
        resp.status,
        200,
        "{:?} GET {path}: {}",
        server.target,
        resp.text()
    );
    assert_eq!(resp.header("Content-Type"), Some("application/json"));
    Json::parse(&resp.text())
        .unwrap_or_else(|e| panic!("{:?} GET {path}: {e}\n{}", server.target, resp.text()))
}

fn send(server: &Gateway, method: &str, path: &str, body: &str) -> u16 {
    let resp = server.request(method, path, &[], body.as_bytes());
    if resp.status >= 400 {
        eprintln!(
            "{:?} {method} {path}: {} {}",
            server.target,
            resp.status,
            resp.text()
        );
    }
    resp.status
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, as Go marshals a UTC `time.Time`.
fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && digits(14..16)
        && digits(17..19)
        && s.ends_with('Z')
        && (b.len() == 20 || (b[19] == b'.' && digits(20..b.len() - 1)))
}

// ---- /api/v1/status ---------------------------------------------------------------------------

/// Flags the Debian reference has and pushgate does not take.
const REFERENCE_ONLY_FLAGS: &[&str] = &["web.local-assets", "web.systemd-socket"];
/// Flags whose values differ by construction.
const PER_PROCESS_FLAGS: &[&str] = &["web.listen-address", "persistence.file"];

fn check_status(args: &[&str]) {
    let Some((ours, reference)) = both(args) else {
        return;
    };
    let prefix = route_prefix(args);
    let path = format!("{prefix}/api/v1/status");
    let (a, b) = (get_json(&ours, &path), get_json(&reference, &path));
    assert_eq!(a.keys(), ["status", "data"]);
    assert_eq!(a.get("status"), b.get("status"));
    let (da, db) = (a.get("data").unwrap(), b.get("data").unwrap());
    assert_eq!(da.keys(), db.keys(), "{}\n{}", a.render(), b.render());
    let build = |d: &Json| d.get("build_information").unwrap().keys().join(",");
    assert_eq!(build(da), build(db));
    for d in [da, db] {
        let t = d.get("start_time").and_then(Json::str).unwrap_or_default();
        assert!(is_rfc3339_utc(t), "start_time {t:?}");
    }
    let (fa, fb) = (da.get("flags").unwrap(), db.get("flags").unwrap());
    for name in fb.keys() {
        if REFERENCE_ONLY_FLAGS.contains(&name) {
            continue;
        }
        let ours = fa
            .get(name)
            .unwrap_or_else(|| panic!("flag {name} missing: {}", fa.render()));
        if !PER_PROCESS_FLAGS.contains(&name) {
            assert_eq!(ours, fb.get(name).unwrap(), "flag {name}");
        }
    }
    // Every value is a string, keys sorted as Go sorts map keys.
    let keys = fa.keys();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    assert!(matches!(fa, Json::Obj(m) if m.iter().all(|(_, v)| v.str().is_some())));
    let persistence = fa.get("persistence.file").and_then(Json::str).unwrap();
    assert!(persistence.ends_with("/p"), "{persistence}");
}

#[test]
fn status_matches_reference() {
    check_status(&[]);
}

#[test]
fn status_matches_reference_with_flags_and_prefix() {
    check_status(&[
        "--web.enable-admin-api",
        "--web.enable-lifecycle",
        "--persistence.interval=90s",
        "--web.external-url=http://gw.example:80/ext/",
        "--web.route-prefix=/gw/",
        "--log.level=debug",
    ]);
}

// ---- /api/v1/metrics --------------------------------------------------------------------------

const RICH: &str = "# HELP g A gauge with \"quotes\", a \\\\ and <html>.\n# TYPE g gauge\n\
    g{a=\"1\",esc=\"x\\\"y\\\\z\\n\"} 3.5\ng{a=\"2\"} 1e-07\n\
    # TYPE c counter\nc 12\n\
    # HELP h A histogram.\n# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"1\"} 3\n\
    h_bucket{le=\"+Inf\"} 4\nh_sum 2.5\nh_count 4\n\
    # TYPE s summary\ns{quantile=\"0.5\"} 1.5\ns{quantile=\"0.99\"} 3\ns_sum 100\ns_count 50\n\
    # TYPE sp summary\nsp{quantile=\"0.5\",x=\"1\"} NaN\nsp_sum 0\nsp_count 0\n\
    u 1e+21\nu2 NaN\nu3 -Inf\nu4 123456789\nu5 0.000123\n";

/// The same pushes to a gateway: every type, odd values, escapes, base64 keys, a POST that
/// updates part of a group, a rejected push, a group that only ever failed, an empty group.
fn seed(server: &Gateway, prefix: &str) {
    let p = |path: &str| format!("{prefix}{path}");
    assert_eq!(
        send(server, "PUT", &p("/metrics/job/rich/instance/i1"), RICH),
        200
    );
    assert_eq!(
        send(server, "PUT", &p("/metrics/job/partial"), "x 1\n"),
        200
    );
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(
        send(server, "POST", &p("/metrics/job/partial"), "y 2\n"),
        200
    );
    assert_eq!(
        send(
            server,
            "PUT",
            &p("/metrics/job@base64/c2xhc2gvam9i/path@base64/PHNjcmlwdD4="),
            "z 1\n"
        ),
        200
    );
    assert_eq!(
        send(server, "PUT", &p("/metrics/job/emptygroup/a/b"), ""),
        200
    );
    assert_eq!(
        send(
            server,
            "PUT",
            &p("/metrics/job/over"),
            "o{job=\"body\",instance=\"zz\"} 1\n"
        ),
        200
    );
    // `c` is a counter in the group `rich`.
    let conflict = "# TYPE c gauge\nc 1\n";
    assert_eq!(
        send(server, "POST", &p("/metrics/job/partial"), conflict),
        400
    );
    assert_eq!(
        send(server, "PUT", &p("/metrics/job/onlyfailed"), conflict),
        400
    );
}

/// Makes the answers of two gateways comparable; see the module doc.
fn normalize(doc: &Json) -> Json {
    let Some(Json::Arr(groups)) = doc.get("data") else {
        panic!("no data array: {}", doc.render());
    };
    let mut groups: Vec<Json> = groups.iter().map(normalize_group).collect();
    groups.sort_by_key(|g| g.get("labels").map(Json::render));
    let mut members = match doc {
        Json::Obj(m) => m.clone(),
        _ => unreachable!(),
    };
    for (k, v) in &mut members {
        if k == "data" {
            *v = Json::Arr(std::mem::take(&mut groups));
        }
    }
    Json::Obj(members)
}

fn normalize_group(group: &Json) -> Json {
    let Json::Obj(members) = group else {
        panic!("group is not an object: {}", group.render());
    };
    // Times become their rank within the group.
    let mut times: Vec<String> = members
        .iter()
        .filter_map(|(_, v)| v.get("time_stamp").and_then(Json::str))
        .map(|t| {
            assert!(is_rfc3339_utc(t), "time_stamp {t:?}");
            // Same width for comparing: pad the fraction.
            let (whole, frac) = t
                .trim_end_matches('Z')
                .split_once('.')
                .unwrap_or((t.trim_end_matches('Z'), ""));
            format!("{whole}.{frac:0<9}")
        })
        .collect();
    times.sort();
    times.dedup();
    let rank = |t: &str| {
        let (whole, frac) = t
            .trim_end_matches('Z')
            .split_once('.')
            .unwrap_or((t.trim_end_matches('Z'), ""));
        let t = format!("{whole}.{frac:0<9}");
        Json::Str(format!("T{}", times.iter().position(|x| *x == t).unwrap()))
    };
    let members = members
        .iter()
        .map(|(name, v)| {
            let Json::Obj(fields) = v else {
                return (name.clone(), v.clone());
            };
            if name == "labels" {
                return (name.clone(), v.clone());
            }
            let fields = fields
                .iter()
                .map(|(k, f)| match (k.as_str(), f) {
                    ("time_stamp", Json::Str(t)) => (k.clone(), rank(t)),
                    ("metrics", Json::Arr(ms)) => {
                        let mut ms: Vec<Json> = ms
                            .iter()
                            .map(|m| normalize_timestamp_value(name, m))
                            .collect();
                        ms.sort_by_key(|m| m.get("labels").map(Json::render));
                        (k.clone(), Json::Arr(ms))
                    }
                    _ => (k.clone(), f.clone()),
                })
                .collect();
            (name.clone(), Json::Obj(fields))
        })
        .collect();
    Json::Obj(members)
}

/// The timestamp gauges' values are times: nonzero ones become `"<time>"`.
fn normalize_timestamp_value(family: &str, metric: &Json) -> Json {
    if family != "push_time_seconds" && family != "push_failure_time_seconds" {
        return metric.clone();
    }
    let Json::Obj(fields) = metric else {
        return metric.clone();
    };
    Json::Obj(
        fields
            .iter()
            .map(|(k, v)| match v {
                Json::Str(s) if k == "value" && s != "0" => {
                    assert!(s.parse::<f64>().is_ok_and(|t| t > 1e9), "{family} = {s}");
                    (k.clone(), Json::Str("<time>".into()))
                }
                _ => (k.clone(), v.clone()),
            })
            .collect(),
    )
}

fn check_metrics(args: &[&str]) {
    let Some((ours, reference)) = both(args) else {
        return;
    };
    let prefix = route_prefix(args);
    for server in [&ours, &reference] {
        seed(server, &prefix);
    }
    let path = format!("{prefix}/api/v1/metrics");
    let (a, b) = (get_json(&ours, &path), get_json(&reference, &path));
    let (na, nb) = (normalize(&a), normalize(&b));
    if let Some(diff) = first_difference(&na, &nb, "$") {
        panic!(
            "pushgate vs reference differ at {diff}\npushgate:  {}\nreference: {}",
            na.render(),
            nb.render()
        );
    }
    // The CORS headers upstream sends with every API answer.
    let (ra, rb) = (ours.get(&path), reference.get(&path));
    for name in [
        "Access-Control-Allow-Headers",
        "Access-Control-Allow-Methods",
        "Access-Control-Allow-Origin",
        "Access-Control-Expose-Headers",
        "Cache-Control",
    ] {
        assert_eq!(ra.header(name), rb.header(name), "{name}");
    }
}

#[test]
fn metrics_match_reference() {
    check_metrics(&[]);
}

#[test]
fn metrics_match_reference_under_a_prefix() {
    check_metrics(&["--web.route-prefix=/gw"]);
}

const PROTO: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// The JSON API's answer, normalized, after `body` (delimited protobuf) was pushed to `path`.
fn metrics_after_protobuf_push(server: &Gateway, path: &str, body: &[u8]) -> Json {
    let resp = server.request("PUT", path, &[("Content-Type", PROTO)], body);
    assert_eq!(resp.status, 200, "{:?}: {}", server.target, resp.text());
    normalize(&get_json(server, "/api/v1/metrics"))
}

#[test]
fn gauge_histograms_match_reference() {
    if !util::require_python_module("google.protobuf") {
        return;
    }
    let Some((ours, reference)) = both(&[]) else {
        return;
    };
    let body = util::proto_helper(
        &["encode"],
        br#"[{"name": "queue_size", "help": "Queued.", "type": "GAUGE_HISTOGRAM", "metric": [
            {"label": [{"name": "q", "value": "a"}],
             "histogram": {"sampleCount": "3", "sampleSum": 6,
                           "bucket": [{"upperBound": 2, "cumulativeCount": "1"}]}}]}]"#,
    );
    let path = "/metrics/job/gauge";
    let (a, b) = (
        metrics_after_protobuf_push(&ours, path, &body),
        metrics_after_protobuf_push(&reference, path, &body),
    );
    if let Some(diff) = first_difference(&a, &b, "$") {
        panic!(
            "pushgate vs reference differ at {diff}\npushgate:  {}\nreference: {}",
            a.render(),
            b.render()
        );
    }
    let family = a.get("data").and_then(|d| match d {
        Json::Arr(groups) => groups[0].get("queue_size"),
        _ => None,
    });
    assert_eq!(
        family.map(Json::render).as_deref(),
        Some(concat!(
            r#"{"time_stamp":"T0","type":"GAUGE_HISTOGRAM","help":"Queued.","#,
            r#""metrics":[{"labels":{"instance":"","job":"gauge","q":"a"},"value":"0"}]}"#
        ))
    );
}

/// Native histograms as upstream's newest release lists them, which the reference (1.5.1)
/// cannot show: client_golang's native-only histogram, its buckets worked out by hand.
#[test]
fn native_histograms_list_their_buckets() {
    let server = Gateway::start(Target::Pushgate, &[]);
    let body = std::fs::read(util::testdata("client-golang.pb")).expect("testdata");
    let doc = metrics_after_protobuf_push(&server, "/metrics/job/cg", &body);
    let Some(Json::Arr(groups)) = doc.get("data") else {
        panic!("{}", doc.render());
    };
    let family = |name: &str| groups[0].get(name).unwrap_or_else(|| panic!("{name}"));
    // Schema 0: bucket i holds (2^(i-1), 2^i], negative ones [-2^i, -2^(i-1)); client_golang's
    // zero bucket is [-2^-128, 2^-128].
    assert_eq!(
        family("batch_size_bytes")
            .get("metrics")
            .map(Json::render)
            .as_deref(),
        Some(concat!(
            r#"[{"buckets":[[1,"-2048","-1024","1"],"#,
            r#"[3,"-2.938735877055719e-39","2.938735877055719e-39","1"],"#,
            r#"[0,"0.0625","0.125","1"],[0,"2","4","1"],[0,"32","64","2"],[0,"512","1024","1"],"#,
            r#"[0,"2048","4096","1"],[0,"32768","65536","1"]],"count":"9","#,
            r#""labels":{"instance":"","job":"cg"},"sum":"43803.1"}]"#
        ))
    );
    // Schema 3, with classic buckets too: the native ones are listed, eight to a power of two.
    let latency = family("batch_latency_seconds")
        .get("metrics")
        .map(Json::render);
    assert!(
        latency.as_deref().is_some_and(|m| m.starts_with(
            r#"[{"buckets":[[1,"-2","-1.8340080864093424","1"],[3,"-1e-09","1e-09","1"],"#
        ) && m
            .ends_with(r#"]],"count":"9","labels":{"instance":"","job":"cg"},"sum":"43.8031"}]"#)),
        "{latency:?}"
    );
}

#[test]
fn empty_store_is_an_empty_array() {
    let Some((ours, reference)) = both(&[]) else {
        return;
    };
    for s in [&ours, &reference] {
        assert_eq!(
            s.get("/api/v1/metrics").text(),
            r#"{"status":"success","data":[]}"#
        );
    }
}

#[test]
fn pages_of_groups_are_a_pushgate_extension() {
    let server = Gateway::start(Target::Pushgate, &[]);
    for i in 0..7 {
        assert_eq!(
            send(&server, "PUT", &format!("/metrics/job/j/i/{i}"), "m 1\n"),
            200
        );
    }
    let page = get_json(
        &server,
        "/api/v1/metrics?offset=2&limit=3&filter=job%3D%22j%22",
    );
    let Some(Json::Arr(groups)) = page.get("data") else {
        panic!("{}", page.render());
    };
    let labels: Vec<String> = groups
        .iter()
        .map(|g| g.get("labels").unwrap().render())
        .collect();
    assert_eq!(
        labels,
        [
            r#"{"i":"2","job":"j"}"#,
            r#"{"i":"3","job":"j"}"#,
            r#"{"i":"4","job":"j"}"#
        ]
    );
    assert_eq!(
        page.get("page").unwrap().render(),
        r#"{"offset":2,"limit":3,"matched":7,"total":7}"#
    );
    assert_eq!(server.get("/api/v1/metrics?limit=x").status, 400);
}

// ---- routes, methods, CORS --------------------------------------------------------------------

#[test]
fn api_routes_and_methods_match_reference() {
    for args in [&["--web.enable-admin-api"][..], &["--web.route-prefix=/gw"]] {
        let Some((ours, reference)) = both(args) else {
            return;
        };
        let prefix = route_prefix(args);
        for (method, path) in [
            ("GET", "/api/v1/status"),
            ("HEAD", "/api/v1/status"),
            ("POST", "/api/v1/status"),
            ("PUT", "/api/v1/metrics"),
            ("OPTIONS", "/api/v1/metrics"),
            ("OPTIONS", "/api/v1/anything"),
            ("GET", "/api/v1/nothing"),
            ("PUT", "/api/v1/admin/wipe"),
            ("GET", "/api/v1/admin/wipe"),
            ("DELETE", "/api/v1/admin/wipe"),
        ] {
            let path = format!("{prefix}{path}");
            let (a, b) = (
                ours.request(method, &path, &[], b""),
                reference.request(method, &path, &[], b""),
            );
            assert_eq!(a.status, b.status, "{args:?} {method} {path}");
            if a.status == 405 {
                assert!(a.header("Allow").is_some(), "{method} {path}: no Allow");
            }
            if method == "OPTIONS" {
                assert_eq!(
                    a.header("Access-Control-Allow-Methods"),
                    b.header("Access-Control-Allow-Methods")
                );
            }
        }
        if !prefix.is_empty() {
            // Nothing is served outside the prefix.
            assert_eq!(ours.get("/api/v1/status").status, 404);
            assert_eq!(reference.get("/api/v1/status").status, 404);
        }
    }
}

// ---- admin wipe -------------------------------------------------------------------------------

fn check_wipe(target: Target, args: &[&str]) {
    let server = Gateway::start(target, args);
    let prefix = route_prefix(args);
    for i in 0..3 {
        let path = format!("{prefix}/metrics/job/w/i/{i}");
        assert_eq!(send(&server, "PUT", &path, "m 1\n"), 200);
    }
    let wipe = format!("{prefix}/api/v1/admin/wipe");
    let resp = server.request("PUT", &wipe, &[], b"");
    assert_eq!(resp.status, 202, "{target:?}: {}", resp.text());
    // Upstream wipes asynchronously: give it a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = server.get(&format!("{prefix}/api/v1/metrics")).text();
        if text == r#"{"status":"success","data":[]}"# {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{target:?} not wiped: {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let scrape = server.get(&format!("{prefix}/metrics")).text();
    assert!(!scrape.contains("push_time_seconds{"), "{scrape}");
}

#[test]
fn wipe_with_admin_api() {
    check_wipe(Target::Pushgate, &["--web.enable-admin-api"]);
    check_wipe(
        Target::Pushgate,
        &["--web.enable-admin-api", "--web.route-prefix=/gw"],
    );
    if Target::Reference.available() {
        check_wipe(Target::Reference, &["--web.enable-admin-api"]);
    }
}

#[test]
fn wipe_without_admin_api_is_not_a_route() {
    let server = Gateway::start(Target::Pushgate, &[]);
    assert_eq!(send(&server, "PUT", "/metrics/job/keep", "m 1\n"), 200);
    assert_eq!(send(&server, "PUT", "/api/v1/admin/wipe", ""), 404);
    assert!(server.get("/api/v1/metrics").text().contains("keep"));
}

/// The wipe is logged: after a restart the wiped groups stay gone and later pushes stay.
#[test]
fn wipe_survives_a_restart() {
    let dir = TempDir::new("pushgate-api-wipe");
    let file = dir.path().join("log");
    let args = vec![
        "--web.listen-address=127.0.0.1:0".to_string(),
        format!("--persistence.file={}", file.display()),
        "--persistence.fsync=always".to_string(),
        "--web.enable-admin-api".to_string(),
    ];
    let program = Target::Pushgate.program();
    let mut first = Process::spawn(&program, &args);
    let addr = first.wait_listening(Duration::from_secs(10));
    let req = |method: &str, path: &str, body: &str| {
        util::request(addr, method, path, &[], body.as_bytes())
            .unwrap()
            .status
    };
    for i in 0..50 {
        assert_eq!(req("PUT", &format!("/metrics/job/old/i/{i}"), "m 1\n"), 200);
    }
    assert_eq!(req("PUT", "/api/v1/admin/wipe", ""), 202);
    assert_eq!(req("PUT", "/metrics/job/new", "m 2\n"), 200);
    assert!(
        first.terminate().is_some_and(|s| s.success()),
        "{}",
        first.stderr()
    );

    let mut second = Process::spawn(&program, &args);
    let addr = second.wait_listening(Duration::from_secs(10));
    let body = util::request(addr, "GET", "/api/v1/metrics", &[], b"")
        .unwrap()
        .text();
    let doc = Json::parse(&body).unwrap();
    let Some(Json::Arr(groups)) = doc.get("data") else {
        panic!("{body}");
    };
    let labels: Vec<String> = groups
        .iter()
        .map(|g| g.get("labels").unwrap().render())
        .collect();
    assert_eq!(labels, [r#"{"job":"new"}"#], "{}", second.stderr());
}

// ---- lifecycle --------------------------------------------------------------------------------

#[test]
fn quit_answers_then_exits() {
    for (method, extra) in [("PUT", None), ("POST", Some("--web.route-prefix=/gw"))] {
        let mut args = vec![
            "--web.listen-address=127.0.0.1:0".to_string(),
            "--web.enable-lifecycle".into(),
        ];
        args.extend(extra.map(String::from));
        let prefix = extra.map_or("", |_| "/gw");
        let mut process = Process::spawn(&Target::Pushgate.program(), &args);
        let addr = process.wait_listening(Duration::from_secs(10));
        let get = util::request(addr, "GET", &format!("{prefix}/-/quit"), &[], b"").unwrap();
        assert_eq!(get.status, 405);
        let resp = util::request(addr, method, &format!("{prefix}/-/quit"), &[], b"").unwrap();
        assert_eq!(resp.status, 200, "{method}");
        assert_eq!(resp.text(), "Requesting termination... Goodbye!");
        let status = process.wait_exit(Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "{method}: {status:?}\n{}",
            process.stderr()
        );
    }
}

#[test]
fn quit_matches_reference() {
    for args in [
        &["--web.enable-lifecycle"][..],
        &[],
        &["--web.route-prefix=/gw"],
    ] {
        let Some((ours, reference)) = both(args) else {
            return;
        };
        let prefix = route_prefix(args);
        let path = format!("{prefix}/-/quit");
        // GET first: a successful quit would stop the servers. Upstream answers a GET of
        // `/-/quit` outside its route prefix too.
        let requests = [
            ("GET", "/-/quit"),
            ("GET", &path),
            ("DELETE", &path),
            ("PUT", &path),
        ];
        for (method, path) in requests {
            let (a, b) = (
                ours.request(method, path, &[], b""),
                reference.request(method, path, &[], b""),
            );
            assert_eq!(a.status, b.status, "{args:?} {method} {path}");
            // Upstream's lifecycle answers end without a newline.
            assert_eq!(
                (a.text(), a.header("content-type")),
                (b.text(), b.header("content-type")),
                "{args:?} {method} {path}"
            );
        }
    }
}
