use super::*;
use crate::formats::model::MetricType;
use crate::formats::names::Validation;
use crate::formats::text;
use crate::store::key::GroupingKey;
use crate::store::Push;

type Resp = Response<MetricsStream>;

pub(crate) fn push(store: &mut Store, path: &str, replace: bool, body: &str, now: f64) {
    push_with(store, path, replace, body, now, Validation::Legacy);
}

pub(crate) fn push_with(
    store: &mut Store,
    path: &str,
    replace: bool,
    body: &str,
    now: f64,
    names: Validation,
) {
    let mut p = Push {
        key: GroupingKey::from_path_with(path, false, names).unwrap(),
        families: text::parse_with(body.as_bytes(), names).unwrap(),
        replace,
        now,
    };
    crate::store::check::sanitize(&mut p).unwrap();
    store.apply(&p.render());
}

fn body(resp: Resp, store: &Store) -> String {
    match resp.body {
        crate::http::service::Body::Bytes(b) => String::from_utf8(b).unwrap(),
        crate::http::service::Body::Stream(mut stream) => {
            let mut out = Vec::new();
            // Tiny pieces: every group resumes from the cursor.
            while !stream.fill(store, &mut out, 1) {}
            String::from_utf8(out).unwrap()
        }
    }
}

fn metrics_at(store: &Store, target: &str) -> String {
    let resp: Resp = metrics(store, target, 1000.0, |s| s);
    assert_eq!(resp.status, 200);
    body(resp, store)
}

#[test]
fn group_shape_matches_upstream() {
    let mut s = Store::new();
    push(
        &mut s,
        "/j/instance/i",
        true,
        "# HELP g A <gauge>.\n# TYPE g gauge\ng{a=\"1\"} 3.5\n\
         # TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 4\nh_sum 2.5\nh_count 4\n\
         # TYPE s summary\ns{quantile=\"0.5\"} 1.5\ns_sum 100\ns_count 50\n",
        100.0,
    );
    push(
        &mut s,
        "/j/instance/i",
        false,
        "# TYPE c counter\nc 12\n",
        200.5,
    );
    let got = metrics_at(&s, "/api/v1/metrics");
    let t100 = r#""time_stamp":"1970-01-01T00:01:40Z""#;
    let t200 = r#""time_stamp":"1970-01-01T00:03:20.5Z""#;
    let labels = r#""labels":{"instance":"i","job":"j"}"#;
    let want = format!(
        concat!(
            r#"{{"status":"success","data":[{{"#,
            r#""c":{{{t200},"type":"COUNTER","metrics":[{{{labels},"value":"12"}}]}},"#,
            r#""g":{{{t100},"type":"GAUGE","help":"A \u003cgauge\u003e.","metrics":[{{"labels":{{"a":"1","instance":"i","job":"j"}},"value":"3.5"}}]}},"#,
            r#""h":{{{t100},"type":"HISTOGRAM","metrics":[{{"buckets":{{"+Inf":"4","1":"3"}},"count":"4",{labels},"sum":"2.5"}}]}},"#,
            r#"{labels},"last_push_successful":true,"#,
            r#""push_failure_time_seconds":{{{t100},"type":"GAUGE","help":"Last Unix time when changing this group in the Pushgateway failed.","metrics":[{{{labels},"value":"0"}}]}},"#,
            r#""push_time_seconds":{{{t200},"type":"GAUGE","help":"Last Unix time when changing this group in the Pushgateway succeeded.","metrics":[{{{labels},"value":"200.5"}}]}},"#,
            r#""s":{{{t100},"type":"SUMMARY","metrics":[{{"count":"50",{labels},"quantiles":{{"0.5":"1.5"}},"sum":"100"}}]}}"#,
            r#"}}]}}"#
        ),
        t100 = t100,
        t200 = t200,
        labels = labels
    );
    assert_eq!(got, want);
}

#[test]
fn protobuf_histograms_are_listed_as_upstream_lists_them() {
    use crate::formats::model::{Label, Metric, MetricFamily, Value};
    let mut families = crate::formats::proto::decode(&crate::testdata("client-golang.pb")).unwrap();
    families.push(MetricFamily {
        name: "q".into(),
        help: None,
        mtype: MetricType::GaugeHistogram,
        metrics: vec![Metric {
            labels: vec![Label::new("a", "b")],
            value: Value::Histogram {
                buckets: vec![(2.0, 1)],
                sum: 6.0,
                count: 3,
                native: None,
            },
            timestamp_ms: None,
        }],
    });
    let mut p = Push {
        key: GroupingKey::from_path("/j", false).unwrap(),
        families,
        replace: true,
        now: 100.0,
    };
    crate::store::check::sanitize(&mut p).unwrap();
    let mut s = Store::new();
    s.apply(&p.render());
    let got = metrics_at(&s, "/api/v1/metrics");
    let labels = r#""labels":{"instance":"","job":"j"}"#;
    for want in [
        // Native only, schema 0: bucket i is (2^(i-1), 2^i]; client_golang's zero threshold.
        format!(
            concat!(
                r#""batch_size_bytes":{{"time_stamp":"1970-01-01T00:01:40Z","type":"HISTOGRAM","#,
                r#""help":"Native-only histogram.","metrics":[{{"buckets":["#,
                r#"[1,"-2048","-1024","1"],[3,"-2.938735877055719e-39","2.938735877055719e-39","1"],"#,
                r#"[0,"0.0625","0.125","1"],[0,"2","4","1"],[0,"32","64","2"],[0,"512","1024","1"],"#,
                r#"[0,"2048","4096","1"],[0,"32768","65536","1"]],"count":"9",{labels},"sum":"43803.1"}}]}}"#
            ),
            labels = labels
        ),
        // Native with classic buckets too: the native ones are listed.
        r#""metrics":[{"buckets":[[1,"-2","-1.8340080864093424","1"],[3,"-1e-09","1e-09","1"],"#
            .to_string(),
        // Classic: from the text, as before.
        format!(
            r#""metrics":[{{"buckets":{{"+Inf":"9","0.005":"4","0.1":"6","1":"7","10":"8"}},"count":"9",{labels},"sum":"43.8031"}}]"#
        ),
        // A gauge histogram is a value of 0 to upstream's API.
        r#""q":{"time_stamp":"1970-01-01T00:01:40Z","type":"GAUGE_HISTOGRAM","metrics":[{"labels":{"a":"b","instance":"","job":"j"},"value":"0"}]}"#.to_string(),
    ] {
        assert!(got.contains(&want), "{want}\nnot in\n{got}");
    }
}

#[test]
fn failure_marks_group_and_keeps_push_time_stamp() {
    let mut s = Store::new();
    push(&mut s, "/j", true, "x 1\n", 100.0);
    s.record_failure(&GroupingKey::from_path("/j", false).unwrap(), 300.0);
    let got = metrics_at(&s, "/api/v1/metrics");
    assert!(got.contains(r#""last_push_successful":false"#), "{got}");
    assert!(got.contains(r#""push_time_seconds":{"time_stamp":"1970-01-01T00:01:40Z""#));
    assert!(got.contains(r#""push_failure_time_seconds":{"time_stamp":"1970-01-01T00:05:00Z""#));
}

#[test]
fn a_family_named_labels_wins_as_in_go() {
    let mut s = Store::new();
    push(&mut s, "/j", true, "labels 1\n", 1.0);
    let got = metrics_at(&s, "/api/v1/metrics");
    assert_eq!(got.matches(r#""labels":{"time_stamp""#).count(), 1, "{got}");
    assert_eq!(
        got.matches(r#"{"labels":{"instance":"","job":"j"}"#)
            .count(),
        3
    );
}

#[test]
fn pages_and_filters() {
    let mut s = Store::new();
    for i in 0..25 {
        push(&mut s, &format!("/batch/i/{i:02}"), true, "x 1\n", 990.0);
    }
    push(&mut s, "/other", true, "special_metric 1\n", 10.0);
    s.record_failure(
        &GroupingKey::from_path("/batch/i/07", false).unwrap(),
        995.0,
    );

    let upstream = metrics_at(&s, "/api/v1/metrics");
    assert!(!upstream.contains("\"page\""));
    assert_eq!(upstream.matches(r#""last_push_successful""#).count(), 26);

    let page = metrics_at(&s, "/api/v1/metrics?offset=10&limit=5");
    assert_eq!(page.matches(r#""last_push_successful""#).count(), 5);
    assert!(page.contains(r#"{"i":"10","job":"batch"}"#), "{page}");
    assert!(page.ends_with(r#""page":{"offset":10,"limit":5,"matched":26,"total":26}}"#));

    let f = metrics_at(&s, "/api/v1/metrics?filter=JOB%3D%22batch+i%3D%220&limit=3");
    assert!(f.ends_with(r#""matched":10,"total":26}}"#), "{f}");
    assert_eq!(f.matches(r#""last_push_successful""#).count(), 3);

    let by_family = metrics_at(&s, "/api/v1/metrics?filter=special");
    assert!(by_family.contains(r#""labels":{"job":"other"}"#));
    assert!(by_family.ends_with(r#""matched":1,"total":26}}"#));

    let failed = metrics_at(&s, "/api/v1/metrics?failed=1");
    assert!(failed.contains(r#"{"i":"07","job":"batch"}"#));
    assert!(failed.ends_with(r#""matched":1,"total":26}}"#), "{failed}");

    // now = 1000: only /other was not pushed within the last 60 seconds.
    let stale = metrics_at(&s, "/api/v1/metrics?stale=60");
    assert!(stale.ends_with(r#""matched":1,"total":26}}"#), "{stale}");

    let resp: Resp = metrics(&s, "/api/v1/metrics?limit=-1", 0.0, |s| s);
    assert_eq!(resp.status, 400);
    assert!(body(resp, &s).starts_with(r#"{"status":"error","errorType":"bad_data""#));
}

#[test]
fn pages_and_filters_are_bounded() {
    let mut s = Store::new();
    for i in 0..1200 {
        push(&mut s, &format!("/batch/i/{i:04}"), true, "x 1\n", 1.0);
    }
    for query in ["offset=0", "limit=5000"] {
        let page = metrics_at(&s, &format!("/api/v1/metrics?{query}"));
        assert_eq!(page.matches(r#""last_push_successful""#).count(), 1000);
        assert!(page.ends_with(r#""page":{"offset":0,"limit":1000,"matched":1200,"total":1200}}"#));
    }
    let terms = |n: usize| vec!["batch"; n].join("+");
    let sixteen = metrics_at(&s, &format!("/api/v1/metrics?limit=1&filter={}", terms(16)));
    assert!(
        sixteen.ends_with(r#""matched":1200,"total":1200}}"#),
        "{sixteen}"
    );
    let resp: Resp = metrics(
        &s,
        &format!("/api/v1/metrics?filter={}", terms(17)),
        0.0,
        |s| s,
    );
    assert_eq!(resp.status, 400);
    assert!(body(resp, &s).contains("has 17 terms, at most 16 are allowed"));
    // Terms match labels and family names, either case, but never across two family names.
    push(&mut s, "/other", true, "Ab 1\ncd 1\n", 1.0);
    let hit = |filter: &str| {
        let page = metrics_at(&s, &format!("/api/v1/metrics?filter={filter}"));
        page.contains(r#""labels":{"job":"other"}"#)
    };
    assert!(hit("aB+CD+%22OTHER%22"));
    assert!(!hit("bcd"));
}

#[test]
fn pages_keep_a_jobs_groups_together() {
    let mut s = Store::new();
    // By label set alone, `a="1"` would put job z's group first.
    push(&mut s, "/z/a/1", true, "m 1\n", 1.0);
    push(&mut s, "/y/instance/2", true, "m 1\n", 1.0);
    push(&mut s, "/y", true, "m 1\n", 1.0);
    let jobs: Vec<String> = (0..3)
        .map(|i| {
            let page = metrics_at(&s, &format!("/api/v1/metrics?offset={i}&limit=1"));
            let at = page.find(r#""labels":{"#).unwrap();
            page[at..].split('}').next().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        jobs,
        [
            r#""labels":{"instance":"2","job":"y""#,
            r#""labels":{"job":"y""#,
            r#""labels":{"a":"1","job":"z""#
        ]
    );
}

#[test]
fn routes() {
    let mut cfg = crate::config::Config::default();
    let api = Api::new(&cfg, 0.0);
    let done = |r: Route<()>| match r {
        Route::Done(_, resp) => resp.status,
        Route::Metrics => 1,
        Route::Wipe => 2,
    };
    assert_eq!(done(api.route("GET", "/status")), 200);
    assert_eq!(done(api.route("HEAD", "/status")), 405);
    assert_eq!(done(api.route("GET", "/metrics")), 1);
    assert_eq!(done(api.route("POST", "/metrics")), 405);
    assert_eq!(done(api.route("PUT", "/admin/wipe")), 404);
    assert_eq!(done(api.route("OPTIONS", "/anything")), 200);
    assert_eq!(done(api.route("GET", "/nope")), 404);
    cfg.enable_admin_api = true;
    let api = Api::new(&cfg, 0.0);
    assert_eq!(done(api.route("PUT", "/admin/wipe")), 2);
    assert_eq!(done(api.route("GET", "/admin/wipe")), 405);
    let status = String::from_utf8(api.status.clone()).unwrap();
    assert!(status.starts_with(r#"{"status":"success","data":{"build_information":{"branch":"#));
    assert!(status.contains(r#""web.enable-admin-api":"true""#));
    assert!(status.ends_with(r#","start_time":"1970-01-01T00:00:00Z"}}"#));
}

// ---- the reading of sample lines, checked against a full parse of them -----------------------

/// The straightforward way: parse the lines into values, then write those.
fn metrics_by_parsing(name: &str, mtype: MetricType, lines: &[u8]) -> String {
    use crate::formats::model::Value;
    let mut out = Vec::new();
    let mut text = Vec::new();
    crate::formats::expose::write_header(&mut text, name, None, mtype);
    text.extend_from_slice(lines);
    let metrics: Vec<_> = text::parse_with(&text, Validation::Utf8)
        .unwrap()
        .into_iter()
        .flat_map(|f| f.metrics)
        .collect();
    out.push(b'[');
    for (i, metric) in metrics.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let mut labels: Vec<(&str, &str)> = metric
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        labels.sort_unstable();
        let labels_json = |out: &mut Vec<u8>, first: bool| {
            json::key(out, first, "labels");
            json::string_map(out, labels.iter().copied());
        };
        let float = |v: f64| {
            let mut s = Vec::new();
            crate::formats::expose::write_float(&mut s, v);
            String::from_utf8(s).unwrap()
        };
        let map = |out: &mut Vec<u8>, pairs: Vec<(String, String)>| {
            let mut pairs = pairs;
            pairs.reverse();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            pairs.dedup_by(|a, b| a.0 == b.0);
            json::string_map(out, pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        };
        out.push(b'{');
        match &metric.value {
            Value::Simple(v) => {
                labels_json(&mut out, true);
                json::key(&mut out, false, "value");
                json::string(&mut out, &float(*v));
            }
            Value::Summary {
                quantiles,
                sum,
                count,
            } => {
                json::key(&mut out, true, "count");
                json::string(&mut out, &count.to_string());
                labels_json(&mut out, false);
                json::key(&mut out, false, "quantiles");
                map(
                    &mut out,
                    quantiles
                        .iter()
                        .map(|&(q, v)| (float(q), float(v)))
                        .collect(),
                );
                json::key(&mut out, false, "sum");
                json::string(&mut out, &float(*sum));
            }
            Value::Histogram {
                buckets,
                sum,
                count,
                ..
            } => {
                json::key(&mut out, true, "buckets");
                map(
                    &mut out,
                    buckets
                        .iter()
                        .map(|&(le, n)| (float(le), n.to_string()))
                        .collect(),
                );
                json::key(&mut out, false, "count");
                json::string(&mut out, &count.to_string());
                labels_json(&mut out, false);
                json::key(&mut out, false, "sum");
                json::string(&mut out, &float(*sum));
            }
        }
        out.push(b'}');
    }
    out.push(b']');
    String::from_utf8(out).unwrap()
}

#[test]
fn reading_lines_agrees_with_parsing_them() {
    let bodies = [
        "# TYPE g gauge\ng 1\ng{a=\"x\\\"y\\\\z\\n\",b=\"\"} -0.5\ng{a=\"\u{e9}}{,=\"} NaN\n",
        "# TYPE c counter\nc{z=\"1\",a=\"2\"} 1e+21\nc{z=\"2\"} 123456789\n",
        "u +Inf\nu{x=\"1\"} -Inf\nu{x=\"2\"} 1e-07\n",
        "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 4\n\
         h_sum 2.5\nh_count 4\nh_bucket{x=\"a\",le=\"5\"} 0\nh_sum{x=\"a\"} 0\nh_count{x=\"a\"} 7\n",
        "# TYPE h2 histogram\nh2_bucket{le=\"1\"} 1\nh2_sum 1\nh2_count 2\n",
        "# TYPE s summary\ns{quantile=\"0.5\"} 1.5\ns{quantile=\"0.99\"} 3\ns_sum 100\ns_count 50\n\
         s{x=\"q\\\"\",quantile=\"0.5\"} NaN\ns_sum{x=\"q\\\"\"} 0\ns_count{x=\"q\\\"\"} 0\n\
         s_sum{y=\"only\"} 3\ns_count{y=\"only\"} 1\n",
    ];
    let utf8_bodies = [
        "{\"g.g\"} 1\n{\"g.g\",\"a.b\"=\"x\",\"q\\\"=\\\\\"=\"y\"} 2\n",
        "# TYPE \"h.h\" histogram\n{\"h.h_bucket\",\"k=k\"=\"1\",le=\"1\"} 1\n{\"h.h_count\",\"k=k\"=\"1\"} 1\n",
        "# TYPE \"s\\ns\" summary\n{\"s\\ns\",quantile=\"0.5\"} 1\n{\"s\\ns_sum\"} 2\n{\"s\\ns_count\"} 3\n",
    ];
    let cases = bodies
        .iter()
        .map(|b| (*b, Validation::Legacy))
        .chain(utf8_bodies.iter().map(|b| (*b, Validation::Utf8)));
    for (body, names) in cases {
        let mut s = Store::new();
        push_with(&mut s, "/j/instance/i/U__x_2e_y/z", true, body, 1.0, names);
        let key = GroupingKey::from_path_with("/j/instance/i/U__x_2e_y/z", false, names).unwrap();
        let canonical = key.canonical();
        let group = s.group(&key).unwrap();
        assert!(!group.families().is_empty());
        for name in group.families() {
            let m = s.member_view(name, &canonical).unwrap();
            let mut direct = Vec::new();
            samples::write_metrics(&mut direct, name, m.mtype, &m.text);
            let direct = String::from_utf8(direct).unwrap();
            assert_ne!(direct, "[]", "{name}");
            assert_eq!(
                direct,
                metrics_by_parsing(name, m.mtype, &m.text),
                "{}",
                String::from_utf8_lossy(&m.text)
            );
        }
    }
}
