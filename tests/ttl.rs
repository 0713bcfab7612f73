//! Black-box tests of groups' time to live (`--push.group-ttl`, `--push.max-group-ttl` and a
//! push's `X-Pushgate-TTL`): expiry as a DELETE would do it, counted and logged; the header's
//! checks; deadlines that survive a restart, computed from the persisted push times; and the
//! web page's "expires in". The store's own tests drive expiry with explicit times; these wait
//! (boundedly) for a second or two of real time, or start on a log written in the past.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pushgate::config::{Fsync, LogFormat, LogLevel};
use pushgate::formats::text;
use pushgate::log::Logger;
use pushgate::persist::{Options, Persist};
use pushgate::store::check;
use pushgate::store::key::GroupingKey;
use pushgate::store::{Mutation, Push, Store};

use crate::util::{self, Server, Target};

fn start(args: &[&str]) -> Server {
    Server::start(Target::Pushgate, args)
}

fn push(s: &Server, job: &str, ttl: Option<&str>) -> util::Response {
    let headers: Vec<(&str, &str)> = ttl.map(|t| ("X-Pushgate-TTL", t)).into_iter().collect();
    s.request(
        "PUT",
        &format!("/metrics/job/{job}"),
        &headers,
        format!("m_{job} 1\n").as_bytes(),
    )
}

fn has_group(s: &Server, job: &str) -> bool {
    s.get("/metrics")
        .text()
        .contains(&format!("push_time_seconds{{instance=\"\",job=\"{job}\"}}"))
}

/// Waits (at most 10 s) until `job`'s group is gone.
fn wait_gone(s: &Server, job: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !has_group(s, job) {
            return true;
        }
        thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The `expires_at` of `job`'s group in the JSON API, if it has one.
fn expires_at(s: &Server, job: &str) -> Option<String> {
    // The API's filter picks the group (its labels written `job="..."`).
    let api = s
        .get(&format!("/api/v1/metrics?filter=job%3D%22{job}%22"))
        .text();
    assert!(api.contains("\"matched\":1,"), "{api}");
    let at = api.split("\"expires_at\":\"").nth(1)?;
    at.split('"').next().map(str::to_string)
}

#[test]
fn groups_expire_after_their_last_push() {
    let s = start(&["--push.group-ttl=1s"]);
    assert_eq!(push(&s, "short", None).status, 200);
    assert_eq!(push(&s, "long", Some("1h")).status, 200);
    assert_eq!(push(&s, "never", Some("0")).status, 200);
    assert!(expires_at(&s, "short").is_some());
    assert!(expires_at(&s, "long").is_some());
    assert_eq!(expires_at(&s, "never"), None);
    assert!(wait_gone(&s, "short"), "the default time to live ran out");
    assert!(has_group(&s, "long") && has_group(&s, "never"));
    let metrics = s.get("/metrics").text();
    assert!(
        metrics.contains("\npushgate_groups_expired_total 1\n"),
        "{metrics}"
    );
    assert!(!metrics.contains("m_short"));
    let logged = (0..50).any(|_| {
        thread::sleep(Duration::from_millis(100));
        s.stderr()
            .contains("expired groups past their time to live")
    });
    assert!(logged, "{}", s.stderr());
    // The web page tells when a group goes.
    let page = s.get("/").text();
    assert!(page.contains("expires in 59m"), "{page}");
}

#[test]
fn a_push_may_ask_only_for_what_is_allowed() {
    let s = start(&["--push.max-group-ttl=1h"]);
    for (ttl, reason) in [
        (
            "2h",
            "a time to live of 2h0m0s is past --push.max-group-ttl=1h0m0s",
        ),
        (
            "0",
            "a time to live of 0s is past --push.max-group-ttl=1h0m0s",
        ),
        (
            "soon",
            "X-Pushgate-TTL \"soon\" is not a duration such as 90s or 2h",
        ),
    ] {
        let r = push(&s, "j", Some(ttl));
        assert_eq!(r.status, 400, "{ttl}");
        assert_eq!(r.text(), format!("{reason}\n"));
    }
    assert!(!has_group(&s, "j"), "a refused push records nothing");
    assert_eq!(push(&s, "j", Some("30m")).status, 200);
    assert!(expires_at(&s, "j").is_some());
    // Without a default, a push without the header does not expire.
    assert_eq!(push(&s, "plain", None).status, 200);
    assert_eq!(expires_at(&s, "plain"), None);
}

/// Writes a persistence log as a gateway would have, holding one PUT of `m_<job> 1` per job,
/// each made at Unix time `at` with its time to live (seconds; `None` for the default).
fn write_log(path: &Path, pushes: &[(&str, Option<f64>)], at: f64) {
    let opts = Options {
        path: path.to_path_buf(),
        fsync: Fsync::Always,
        interval: Duration::ZERO,
        recover_truncate: false,
    };
    let mut store = Store::new();
    let log = Logger::new(LogLevel::Error, LogFormat::Logfmt);
    let mut p = Persist::open(opts, &mut store, log).expect("a new log");
    for &(job, ttl) in pushes {
        let mut push = Push {
            key: GroupingKey::from_path(&format!("/{job}"), false).expect("a key"),
            families: text::parse(format!("m_{job} 1\n").as_bytes()).expect("a body"),
            replace: true,
            now: at,
        };
        check::sanitize(&mut push).expect("a valid push");
        let mut change = push.render();
        change.ttl = ttl;
        let change = Mutation::Change(change);
        p.append(&change).expect("logged");
        store.mutate(&change);
    }
    p.close(&store).expect("closed");
}

#[test]
fn a_restart_expires_what_ran_out_meanwhile_and_keeps_the_rest() {
    // The log of a gateway stopped an hour ago: its deadlines count from the pushes' times.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let hour_ago = (now.as_secs() - 3600) as f64;
    let pushes = [
        ("soon", Some(60.0)),
        ("later", Some(7200.0)),
        ("never", None),
    ];
    let s = Server::start_on_log(Target::Pushgate, &[], |log| {
        write_log(log, &pushes, hour_ago)
    });
    // Gone before the first request: the deadline came from the persisted push time.
    assert!(!has_group(&s, "soon"));
    assert!(has_group(&s, "later") && has_group(&s, "never"));
    let later = expires_at(&s, "later").expect("has a deadline");
    assert_eq!(expires_at(&s, "never"), None);
    // Another restart keeps the same deadline: the expiry was logged as a delete.
    let s = s.restart();
    assert!(!has_group(&s, "soon") && has_group(&s, "never"));
    assert_eq!(expires_at(&s, "later"), Some(later));
}

#[test]
fn a_default_past_the_bound_is_refused_at_start() {
    let args = [
        "--web.listen-address=127.0.0.1:0".to_string(),
        "--push.group-ttl=2h".to_string(),
        "--push.max-group-ttl=1h".to_string(),
    ];
    let mut p = util::Process::spawn(&Target::Pushgate.program(), &args);
    let status = p.wait_exit(Duration::from_secs(10));
    assert!(status.is_some_and(|s| !s.success()), "{status:?}");
    let said = (0..50).any(|_| {
        thread::sleep(Duration::from_millis(100));
        p.stderr().contains("--push.group-ttl")
    });
    assert!(said, "{}", p.stderr());
}
