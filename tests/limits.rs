//! Black-box tests of the limits an operator may set (`--push.max-*`): past one, a push is
//! refused with the limit's flag in its reason, nothing changes (not even a failure time), the
//! refusal is counted by flag, and everything pushed before is served as before. Without the
//! flags nothing is limited.

use crate::util::{self, Server, Target};

fn start(args: &[&str]) -> Server {
    Server::start(Target::Pushgate, args)
}

fn put(s: &Server, path: &str, body: &str) -> util::Response {
    s.request("PUT", path, &[], body.as_bytes())
}

fn post(s: &Server, path: &str, body: &str) -> util::Response {
    s.request("POST", path, &[], body.as_bytes())
}

/// The pushed part of the exposition: every line but the gateway's own families'.
fn pushed(s: &Server) -> Vec<String> {
    s.get("/metrics")
        .text()
        .lines()
        .filter(|l| {
            ![
                "pushgate",
                "process_",
                "go_",
                "# HELP pushgate",
                "# TYPE pushgate",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(str::to_string)
        .collect()
}

fn refused(r: &util::Response, status: u16, reason: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.text(), format!("{reason}\n"));
}

fn counted(s: &Server, flag: &str) -> bool {
    s.get("/metrics").text().contains(&format!(
        "pushgate_push_limit_rejections_total{{limit=\"{flag}\"}} 1\n"
    ))
}

#[test]
fn most_groups() {
    let s = start(&["--push.max-groups=2"]);
    assert_eq!(put(&s, "/metrics/job/a", "x 1\n").status, 200);
    assert_eq!(put(&s, "/metrics/job/b", "x 1\n").status, 200);
    let before = pushed(&s);
    // A failing push to a new group would create it too: refused the same way.
    for body in ["x 1\n", "x 1 123\n"] {
        refused(
            &put(&s, "/metrics/job/c", body),
            429,
            "the gateway holds 2 groups and this push would add one, more than \
             --push.max-groups=2 allows",
        );
    }
    assert_eq!(pushed(&s), before);
    assert!(s
        .get("/metrics")
        .text()
        .contains("pushgate_push_limit_rejections_total{limit=\"push.max-groups\"} 2\n"));
    // Existing groups take pushes; a deleted one makes room.
    assert_eq!(put(&s, "/metrics/job/a", "x 2\n").status, 200);
    assert_eq!(s.request("DELETE", "/metrics/job/b", &[], b"").status, 202);
    assert_eq!(put(&s, "/metrics/job/c", "x 1\n").status, 200);
}

#[test]
fn most_series_in_the_store_and_in_one_push() {
    let s = start(&["--push.max-series=5", "--push.max-series-per-push=4"]);
    assert_eq!(put(&s, "/metrics/job/a", "x 1\ny 1\nz 1\n").status, 200);
    let before = pushed(&s);
    refused(
        &put(
            &s,
            "/metrics/job/b",
            "x{i=\"1\"} 1\nx{i=\"2\"} 1\nx{i=\"3\"} 1\n",
        ),
        429,
        "the gateway would hold 6 series after this push, more than --push.max-series=5 allows",
    );
    assert!(counted(&s, "push.max-series"));
    // A histogram's bucket, sum and count lines are series too.
    refused(
        &put(
            &s,
            "/metrics/job/b",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\nw 1\n",
        ),
        413,
        "the push holds 5 series, more than --push.max-series-per-push=4 allows",
    );
    assert!(counted(&s, "push.max-series-per-push"));
    assert_eq!(pushed(&s), before);
    // What a push replaces makes room: a PUT of its whole group, a POST of its families.
    assert_eq!(
        put(&s, "/metrics/job/a", "x 1\ny 1\nz 1\nw 1\n").status,
        200
    );
    assert_eq!(
        post(&s, "/metrics/job/a", "x{i=\"1\"} 1\nx{i=\"2\"} 1\n").status,
        200
    );
    assert_eq!(put(&s, "/metrics/job/b", "v 1\n").status, 429);
    assert_eq!(s.request("DELETE", "/metrics/job/a", &[], b"").status, 202);
    assert_eq!(put(&s, "/metrics/job/b", "v 1\n").status, 200);
}

#[test]
fn most_labels_and_longest_value() {
    let s = start(&[
        "--push.max-labels-per-series=4",
        "--push.max-label-value-length=8",
    ]);
    // job and instance count: two labels of the body's own fit.
    assert_eq!(
        put(&s, "/metrics/job/j", "x{a=\"1\",b=\"2\"} 1\n").status,
        200
    );
    let before = pushed(&s);
    refused(
        &put(&s, "/metrics/job/j", "x{a=\"1\",b=\"2\",c=\"3\"} 1\n"),
        400,
        "a series of x has 5 labels, more than --push.max-labels-per-series=4 allows",
    );
    refused(
        &put(&s, "/metrics/job/j", "x{a=\"123456789\"} 1\n"),
        400,
        "label a of a series of x is 9 bytes long, more than \
         --push.max-label-value-length=8 allows",
    );
    // Grouping labels are label values too.
    assert_eq!(put(&s, "/metrics/job/a-long-job-name", "x 1\n").status, 400);
    assert_eq!(pushed(&s), before);
    assert!(counted(&s, "push.max-labels-per-series"));
    assert!(s.get("/metrics").text().contains(
        "pushgate_push_limit_rejections_total{limit=\"push.max-label-value-length\"} 2\n"
    ));
}

#[test]
fn no_limits_by_default() {
    let s = start(&[]);
    let many: String = (0..2000).map(|i| format!("x{{i=\"{i}\"}} 1\n")).collect();
    assert_eq!(put(&s, "/metrics/job/j", &many).status, 200);
    for i in 0..50 {
        assert_eq!(put(&s, &format!("/metrics/job/g{i}"), "x 1\n").status, 200);
    }
    assert!(!s
        .get("/metrics")
        .text()
        .contains("pushgate_push_limit_rejections_total{"));
}
