//! Black-box tests of single requests built to be expensive: URL paths with tens of thousands
//! of labels, pushes whose series collide (or nearly) with another group's, bodies that are
//! small on the wire but huge once labelled and rendered, and a POST of many families into a
//! group of many. Each must be answered at once, change nothing when refused, leave the server
//! up, and not keep other clients waiting.
//!
//! The time bounds below are stall detectors, far above what these requests take (a few
//! milliseconds in a release build) and far below what the quadratic code they guard against
//! took (seconds, more in this debug build); speed itself is measured in `benches/core.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{self, Process, Server, Target};

const STALL: Duration = Duration::from_secs(5);

fn start(args: &[&str]) -> Server {
    Server::start(Target::Pushgate, args)
}

/// Runs `hostile` while another client keeps asking `/-/healthy`; returns how long `hostile`
/// took and asserts every one of the other client's requests was answered 200.
fn while_others_ask<T>(s: &Server, hostile: impl FnOnce() -> T) -> (T, Duration) {
    let done = Arc::new(AtomicBool::new(false));
    let addr = s.addr;
    let other = {
        let done = done.clone();
        thread::spawn(move || {
            let mut answered = 0;
            // Bounded: stops when the hostile request is over, or after 2,000 requests.
            while !done.load(Ordering::SeqCst) && answered < 2000 {
                let r = util::request(addr, "GET", "/-/healthy", &[], b"").expect("healthy");
                assert_eq!(r.status, 200);
                answered += 1;
            }
            answered
        })
    };
    let started = Instant::now();
    let out = hostile();
    let took = started.elapsed();
    done.store(true, Ordering::SeqCst);
    other
        .join()
        .expect("the other client was served throughout");
    (out, took)
}

fn labels(n: usize) -> String {
    (0..n).map(|i| format!("/l{i}/v")).collect()
}

#[test]
fn a_path_with_70000_labels_is_refused_at_once() {
    let s = start(&[]);
    assert_eq!(
        s.request("PUT", "/metrics/job/j", &[], b"x 1\n").status,
        200
    );
    let before = s.get("/metrics").text();
    let path = format!("/metrics/job/j{}", labels(70_000));
    assert!(path.len() > 600_000);
    let path_70000_len = path.len();
    for method in ["DELETE", "PUT", "POST"] {
        let (r, took) = while_others_ask(&s, || s.request(method, &path, &[], b"x 2\n"));
        assert_eq!(r.status, 414, "{method}: {}", r.text());
        assert!(
            r.text().contains("at most 16384 are allowed"),
            "{}",
            r.text()
        );
        assert!(took < STALL, "{method} took {took:?}");
    }
    // Under the byte limit, too many labels is a 400 with the count.
    let path = format!("/metrics/job/j{}", labels(2000));
    let (r, took) = while_others_ask(&s, || s.request("PUT", &path, &[], b"x 2\n"));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "2001 labels in the URL path, at most 128 are allowed\n"
    );
    assert!(took < STALL, "took {took:?}");
    let after = s.get("/metrics").text();
    let without_own = |t: &str| {
        t.lines()
            .filter(|l| {
                !l.contains("pushgateway_") && !l.contains("process_") && !l.contains("go_")
            })
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(without_own(&before), without_own(&after), "nothing changed");
    // Each refusal is logged, with the path cut short.
    let logged = (0..50).any(|_| {
        thread::sleep(Duration::from_millis(100));
        s.stderr().matches("request rejected").count() >= 4
    });
    assert!(logged, "{}", s.stderr());
    assert!(s
        .stderr()
        .contains(&format!("... ({} bytes)", path_70000_len)));
    assert!(s.stderr().lines().all(|l| l.len() < 2048));
}

#[test]
fn the_most_labels_a_key_may_have_are_kept_across_a_restart() {
    let s = start(&[]);
    let path = format!("/metrics/job/j{}", labels(127));
    assert_eq!(s.request("PUT", &path, &[], b"x 1\n").status, 200);
    let s = s.restart();
    let scraped = s.get("/metrics").text();
    let line = scraped
        .lines()
        .find(|l| l.starts_with("x{"))
        .expect("the series survived the restart");
    assert!(
        line.contains("l0=\"v\"") && line.contains("l126=\"v\""),
        "{line}"
    );
    assert_eq!(line.matches("=\"v\"").count(), 127);
    assert_eq!(s.request("DELETE", &path, &[], b"").status, 202);
    assert!(!s.get("/metrics").text().contains("\nx{"));
}

/// 30,000 series for a group with the key label `k`, and the same number pushed to the group
/// without it, carrying `k`: every pushed series must be compared with the other group's.
#[test]
fn a_push_of_30000_series_near_another_groups_is_checked_at_once() {
    let s = start(&[]);
    let stored: String = (0..30_000).map(|i| format!("x{{s=\"{i}\"}} 1\n")).collect();
    assert_eq!(
        s.request("PUT", "/metrics/job/a/k/1", &[], stored.as_bytes())
            .status,
        200
    );
    // Distinct from every stored series (other values of `s`): accepted.
    let near: String = (30_000..60_000)
        .map(|i| format!("x{{k=\"1\",s=\"{i}\"}} 2\n"))
        .collect();
    let (r, took) = while_others_ask(&s, || {
        s.request("PUT", "/metrics/job/a", &[], near.as_bytes())
    });
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(took < STALL, "took {took:?}");
    // One series equal to a stored one, at the very end: refused, and nothing changes.
    let colliding = format!("{near}x{{k=\"1\",s=\"29999\"}} 3\n").replace(" 2\n", " 4\n");
    let (r, took) = while_others_ask(&s, || {
        s.request("PUT", "/metrics/job/a", &[], colliding.as_bytes())
    });
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.text(),
        "pushed metrics are invalid or inconsistent with existing metrics: collected metric \
         \"x\" { label:<name:\"instance\" value:\"\" > label:<name:\"job\" value:\"a\" > \
         label:<name:\"k\" value:\"1\" > label:<name:\"s\" value:\"29999\" > \
         untyped:<value:3 > } was collected before with the same name and label values\n"
    );
    assert!(took < STALL, "took {took:?}");
    let scraped = s.get("/metrics").text();
    assert!(scraped.contains("x{instance=\"\",job=\"a\",k=\"1\",s=\"59999\"} 2\n"));
    // Only `x` is looked at: pushgate's own counters (the other client's requests) may read 4.
    assert!(!scraped
        .lines()
        .any(|l| l.starts_with("x{") && l.ends_with("} 4")));
}

#[test]
fn a_post_of_many_families_into_a_group_of_many_is_applied_at_once() {
    let s = start(&[]);
    let families = |from: usize, v: u32| -> String {
        (from..from + 60_000)
            .map(|i| format!("# TYPE f{i} gauge\nf{i} {v}\n"))
            .collect()
    };
    assert_eq!(
        s.request("PUT", "/metrics/job/a", &[], families(0, 1).as_bytes())
            .status,
        200
    );
    let (r, took) = while_others_ask(&s, || {
        s.request(
            "POST",
            "/metrics/job/a",
            &[],
            families(30_000, 2).as_bytes(),
        )
    });
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(took < STALL, "took {took:?}");
    let scraped = s.get("/metrics").text();
    assert!(scraped.contains("f0{instance=\"\",job=\"a\"} 1\n"));
    assert!(scraped.contains("f29999{instance=\"\",job=\"a\"} 1\n"));
    assert!(scraped.contains("f30000{instance=\"\",job=\"a\"} 2\n"));
    assert!(scraped.contains("f89999{instance=\"\",job=\"a\"} 2\n"));
}

/// A histogram with long labels and many buckets: each ~15-byte protobuf bucket becomes a
/// text line carrying every label.
fn wide_histogram(labels: usize, value_len: usize, buckets: usize) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut n: u64) {
        while n >= 0x80 {
            out.push(n as u8 | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }
    fn bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
        varint(out, field << 3 | 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }
    let mut metric = Vec::new();
    for i in 0..labels {
        let mut pair = Vec::new();
        bytes(&mut pair, 1, format!("l{i}").as_bytes());
        bytes(&mut pair, 2, "v".repeat(value_len).as_bytes());
        bytes(&mut metric, 1, &pair);
    }
    let mut hist = vec![8]; // sample_count
    varint(&mut hist, buckets as u64);
    for i in 0..buckets {
        let mut bucket = vec![8]; // cumulative_count
        varint(&mut bucket, i as u64);
        bucket.push(2 << 3 | 1); // upper_bound
        bucket.extend_from_slice(&(i as f64).to_le_bytes());
        bytes(&mut hist, 3, &bucket);
    }
    bytes(&mut metric, 7, &hist);
    let mut family = Vec::new();
    bytes(&mut family, 1, b"h");
    family.extend_from_slice(&[3 << 3, 4]); // type HISTOGRAM
    bytes(&mut family, 4, &metric);
    let mut body = Vec::new();
    varint(&mut body, family.len() as u64);
    body.extend_from_slice(&family);
    body
}

const DELIMITED: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

#[test]
fn a_small_body_that_renders_huge_is_refused_before_it_is_rendered() {
    // The limit on a rendered push is 16 times the body limit: 16 MB here.
    let s = start(&["--push.max-body-bytes=1000000"]);
    let fits = wide_histogram(2, 100, 1000);
    let r = s.request(
        "PUT",
        "/metrics/job/h",
        &[("Content-Type", DELIMITED)],
        &fits,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // 150 KB of protobuf that would be about 100 MB of text (and of log).
    let huge = wide_histogram(10, 1000, 10_000);
    assert!(huge.len() < 200_000);
    let (r, took) = while_others_ask(&s, || {
        s.request(
            "PUT",
            "/metrics/job/h",
            &[("Content-Type", DELIMITED)],
            &huge,
        )
    });
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(
        r.text()
            .contains("once its series are labelled and rendered, at most 16000000"),
        "{}",
        r.text()
    );
    assert!(took < STALL, "took {took:?}");
    // A long grouping key copied into many small series is weighed the same way.
    let key = format!("/metrics/job/h/k/{}", "v".repeat(16_000));
    let series: String = (0..2000).map(|i| format!("x{{s=\"{i}\"}} 1\n")).collect();
    let r = s.request("PUT", &key, &[], series.as_bytes());
    assert_eq!(r.status, 413, "{}", r.text());
    let scraped = s.get("/metrics").text();
    assert_eq!(
        scraped.matches("h_bucket{").count(),
        1001,
        "the first push stays"
    );
    assert!(!scraped.contains("x{"));
}

#[test]
fn a_gzip_body_of_many_members_is_inflated_at_once() {
    let s = start(&[]);
    // 16,000 members of a 1 KB comment line each, then one with the sample.
    let script = "import gzip, sys\n\
        line = b'#' + b' ' * 1000 + b'\\n'\n\
        body = b''.join(gzip.compress(line) for _ in range(16000)) + gzip.compress(b'x 1\\n')\n\
        sys.stdout.buffer.write(body)\n";
    let body = util::run(&util::python(), &["-c", script], b"");
    assert!(body.len() < 1_000_000, "{}", body.len());
    let (r, took) = while_others_ask(&s, || {
        s.request(
            "PUT",
            "/metrics/job/z",
            &[("Content-Encoding", "gzip")],
            &body,
        )
    });
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(took < STALL, "took {took:?}");
    assert!(s
        .get("/metrics")
        .text()
        .contains("x{instance=\"\",job=\"z\"} 1\n"));
}

#[test]
fn a_body_limit_past_one_gib_is_refused_at_start() {
    let args = [
        "--web.listen-address=127.0.0.1:0".to_string(),
        "--push.max-body-bytes=2000000000".to_string(),
    ];
    let mut p = Process::spawn(&Target::Pushgate.program(), &args);
    let status = p.wait_exit(Duration::from_secs(10));
    assert!(status.is_some_and(|s| !s.success()), "{status:?}");
    // Its stderr is collected by a thread that may still be reading the last of it.
    let said = (0..50).any(|_| {
        thread::sleep(Duration::from_millis(100));
        p.stderr().contains("at most 1 GiB")
    });
    assert!(said, "{}", p.stderr());
}
