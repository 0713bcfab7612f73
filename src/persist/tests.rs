//! Tests of the log as a whole: replay, torn tails and damage, compaction under concurrent
//! changes, and disk faults (through the `Disk` seam), down to the HTTP answers.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::record::FILE_HEADER_LEN;
use super::*;
use crate::config::{Config, LogFormat, LogLevel};
use crate::formats::model::MetricType;
use crate::formats::text;
use crate::http::negotiate::Choice;
use crate::store::check;
use crate::store::key::GroupingKey;
use crate::store::{Mutation, Push};
use crate::web::scrape::Scrape;

fn quiet() -> Logger {
    Logger::new(LogLevel::Error, LogFormat::Logfmt)
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!(
        "pushgate-persist-{}-{n}-{name}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn options(path: &Path, fsync: Fsync) -> Options {
    Options {
        path: path.to_path_buf(),
        fsync,
        interval: Duration::from_secs(3600),
        recover_truncate: false,
    }
}

fn key(path: &str) -> GroupingKey {
    GroupingKey::from_path(path, false).unwrap()
}

fn change(path: &str, body: &str, replace: bool, now: f64) -> Mutation {
    let mut p = Push {
        key: key(path),
        families: text::parse(body.as_bytes()).unwrap(),
        replace,
        now,
    };
    check::sanitize(&mut p).unwrap();
    Mutation::Change(p.render())
}

/// A mix of every kind of record, with two groups disagreeing about a HELP string.
fn history(i: usize) -> Vec<Mutation> {
    let g = format!("/j/instance/{i}");
    vec![
        change(
            &g,
            &format!("# HELP x X{i}.\nx {i}\ny{{a=\"1\"}} 2\n"),
            true,
            1.0,
        ),
        change("/j/instance/other", "# HELP x X other.\nx 7\n", true, 2.0),
        change(&g, &format!("y{{a=\"2\"}} {i}\n"), false, 3.0),
        Mutation::Failure {
            key: key(&g),
            now: 4.0,
        },
        Mutation::Delete(key("/gone")),
        change("/gone", "z 1\n", true, 5.0),
        Mutation::Delete(key("/gone")),
    ]
}

fn scrape(store: &Store) -> String {
    let mut out = Vec::new();
    let mut s = Scrape::new(Choice::default(), Vec::new());
    while !s.fill(store, &mut out, 1 << 16) {}
    String::from_utf8(out).unwrap()
}

/// Appends and applies, as the application does.
fn commit(p: &mut Persist, store: &mut Store, r: Mutation) {
    p.append(&r).unwrap();
    store.mutate(&r);
}

/// Commits and ends the turn, so the record is in the file.
fn commit_now(p: &mut Persist, store: &mut Store, r: Mutation) {
    commit(p, store, r);
    assert!(p.turn(Instant::now(), store));
}

fn reopen(opts: Options) -> Result<(Persist, Store), String> {
    let mut store = Store::new();
    let p = Persist::open(opts, &mut store, quiet())?;
    Ok((p, store))
}

#[test]
fn replay_restores_the_store() {
    let dir = scratch("replay");
    let path = dir.join("sub/log");
    let (mut p, mut live) = reopen(options(&path, Fsync::Always)).unwrap();
    for i in 0..3 {
        for r in history(i) {
            commit(&mut p, &mut live, r);
        }
        assert!(p.turn(Instant::now(), &live));
    }
    commit(&mut p, &mut live, Mutation::Wipe);
    commit(&mut p, &mut live, change("/after", "w 1\n", true, 9.0));
    p.close(&live).unwrap();
    let (_, replayed) = reopen(options(&path, Fsync::Always)).unwrap();
    assert_eq!(scrape(&replayed), scrape(&live));
    assert!(scrape(&replayed).contains("w{instance=\"\",job=\"after\"} 1\n"));
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_log_cut_at_any_byte_of_its_last_records_keeps_the_complete_ones() {
    let dir = scratch("cut");
    let path = dir.join("log");
    let records: Vec<Mutation> = (0..2).flat_map(history).collect();
    let (mut p, mut store) = reopen(options(&path, Fsync::Never)).unwrap();
    let mut ends = vec![p.len];
    let mut states = vec![scrape(&store)];
    for r in records {
        commit_now(&mut p, &mut store, r);
        ends.push(p.len);
        states.push(scrape(&store));
    }
    p.close(&store).unwrap();
    let full = fs::read(&path).unwrap();
    // Every offset of the last four records, and a few whole-record boundaries before.
    for cut in ends[ends.len() - 5] as usize..=full.len() {
        fs::write(&path, &full[..cut]).unwrap();
        let (_, replayed) = reopen(options(&path, Fsync::Never)).unwrap();
        let complete = ends.iter().rposition(|&e| e as usize <= cut).unwrap();
        assert_eq!(scrape(&replayed), states[complete], "cut at {cut}");
        let kept = fs::metadata(&path).unwrap().len();
        assert_eq!(
            kept, ends[complete],
            "cut at {cut}: the torn tail is removed"
        );
    }
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn damage_refuses_to_start_unless_told_to_set_it_aside() {
    let dir = scratch("damage");
    let path = dir.join("log");
    let (mut p, mut store) = reopen(options(&path, Fsync::Never)).unwrap();
    let mut ends = vec![];
    let mut states = vec![];
    for r in history(1) {
        states.push(scrape(&store));
        ends.push(p.len);
        commit_now(&mut p, &mut store, r);
    }
    p.close(&store).unwrap();
    let mut bytes = fs::read(&path).unwrap();
    let at = ends[2] as usize;
    bytes[at + 20] ^= 0x01;
    fs::write(&path, &bytes).unwrap();

    let err = reopen(options(&path, Fsync::Never)).err().unwrap();
    assert!(err.contains(&format!("offset {at}")), "{err}");
    assert!(err.contains("--persistence.recover-truncate"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), bytes, "refusing changes nothing");

    let mut opts = options(&path, Fsync::Never);
    opts.recover_truncate = true;
    let (_, replayed) = reopen(opts.clone()).unwrap();
    assert_eq!(scrape(&replayed), states[2]);
    assert_eq!(fs::read(&path).unwrap(), &bytes[..at]);
    let aside = dir.join("log.corrupt");
    assert_eq!(fs::read(&aside).unwrap(), &bytes[at..]);

    // A second recovery never overwrites the first one's file.
    fs::write(&path, &bytes).unwrap();
    reopen(opts).unwrap();
    assert_eq!(fs::read(&aside).unwrap(), &bytes[at..]);
    assert_eq!(fs::read(dir.join("log.corrupt.1")).unwrap(), &bytes[at..]);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn foreign_files_are_refused_and_untouched_half_created_logs_are_reset() {
    let dir = scratch("foreign");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("log");
    for content in [
        &b"\x0e\xff\x81\x02\x01\x02\xff\x82\x00\x01\x10\x00gob"[..],
        b"x",
    ] {
        fs::write(&path, content).unwrap();
        let err = reopen(options(&path, Fsync::Never)).err().unwrap();
        assert!(err.contains("not a pushgate log"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), content);
    }
    // A crash while a gateway of format version 1 created the log leaves part of its header.
    for content in [
        &b""[..],
        &record::file_header()[..5],
        &record::header_of(1)[..10],
    ] {
        fs::write(&path, content).unwrap();
        reopen(options(&path, Fsync::Never)).unwrap();
        assert_eq!(fs::read(&path).unwrap(), record::file_header());
    }
    let tmp = compact::tmp_path(&path);
    fs::write(&tmp, b"half a compaction").unwrap();
    reopen(options(&path, Fsync::Never)).unwrap();
    assert!(!tmp.exists(), "leftovers of a compaction are removed");
    let _ = fs::remove_dir_all(dir);
}

/// Turns until `done`, with a bounded number of tries.
fn turn_until(p: &mut Persist, store: &Store, now: Instant, done: impl Fn(&Persist) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(p) {
        assert!(Instant::now() < deadline, "timed out");
        p.turn(now, store);
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn compaction_with_changes_in_between_keeps_everything_and_shrinks_the_log() {
    let dir = scratch("compact");
    let path = dir.join("log");
    let (mut p, mut live) = reopen(options(&path, Fsync::Always)).unwrap();
    // Past the interval: a compaction starts and takes its snapshot over several turns,
    // while every kind of change keeps arriving in between. Twice, since the second one
    // reads the log the first one wrote.
    let mut later = Instant::now();
    for round in 1..=2 {
        // Many overwrites of few groups: most of the log is dead.
        for n in 0..20 {
            for i in 0..(compact::CHUNK * 2 / 3) {
                let body = format!("# HELP m M{n}.\nm {n}\nn{{i=\"{i}\"}} 1\n");
                let r = change(&format!("/c/i/{i}"), &body, true, 1.0);
                commit(&mut p, &mut live, r);
            }
        }
        assert!(p.turn(later, &live));
        let before = p.len;
        later += Duration::from_secs(7200);
        let mut started = false;
        for i in 0.. {
            for r in history(i % 50) {
                commit(&mut p, &mut live, r);
            }
            let k = format!("/c/i/{}", i * 7 % 1000);
            commit(
                &mut p,
                &mut live,
                change(&k, &format!("m {i}\n"), false, 2.0),
            );
            if i % 100 == 99 {
                commit(&mut p, &mut live, Mutation::Delete(key(&k)));
            }
            assert!(p.turn(later, &live));
            started |= p.compaction.is_some();
            if started && p.compaction.is_none() {
                break;
            }
            assert!(i < 100_000, "compaction {round} did not finish");
        }
        let after = p.len;
        assert!(
            after < before / 5,
            "{round}: the log shrank: {before} -> {after}"
        );
    }
    commit(&mut p, &mut live, change("/late", "late 1\n", true, 3.0));
    p.close(&live).unwrap();
    let (_, replayed) = reopen(options(&path, Fsync::Always)).unwrap();
    assert_eq!(scrape(&replayed), scrape(&live));
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn compaction_keeps_keys_whatever_their_values_hold() {
    let dir = scratch("keys");
    let path = dir.join("log");
    let (mut p, mut live) = reopen(options(&path, Fsync::Never)).unwrap();
    // U+00FF is what the store's canonical key strings separate labels with.
    for path in ["/j/v/a%C3%BFb", "/j%C3%BF/v/%C3%BF", "/j/v/%00%0A%22"] {
        commit(&mut p, &mut live, change(path, "x 1\n", true, 1.0));
    }
    let later = Instant::now() + Duration::from_secs(7200);
    turn_until(&mut p, &live, later, |p| p.stats.last_compaction_time > 0.0);
    p.close(&live).unwrap();
    let (_, replayed) = reopen(options(&path, Fsync::Never)).unwrap();
    assert_eq!(scrape(&replayed), scrape(&live));
    assert!(scrape(&live).contains("x{instance=\"\",job=\"j\",v=\"aÿb\"} 1\n"));
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_log_grown_far_beyond_the_live_data_is_compacted_without_a_timer() {
    let dir = scratch("growth");
    let path = dir.join("log");
    let mut opts = options(&path, Fsync::Never);
    opts.interval = Duration::ZERO;
    let (mut p, mut live) = reopen(opts).unwrap();
    let body: String = (0..200).map(|i| format!("g{{i=\"{i}\"}} 1\n")).collect();
    let now = Instant::now() + Duration::from_secs(86_400);
    while p.compaction.is_none() {
        assert!(p.len < MIN_GROWTH + (1 << 20), "no compaction at {}", p.len);
        commit(&mut p, &mut live, change("/one", &body, true, 1.0));
        assert!(p.turn(now, &live));
    }
    assert!(p.len >= MIN_GROWTH, "compacted early, at {}", p.len);
    turn_until(&mut p, &live, now, |p| p.stats.last_compaction_time > 0.0);
    assert!(p.len < 1 << 20, "{}", p.len);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn write_and_fsync_failures_refuse_changes_until_a_rewrite_succeeds() {
    for (fsync, fault) in [
        (Fsync::Always, "write"),
        (Fsync::Always, "sync"),
        (Fsync::EverySec, "write"),
        (Fsync::EverySec, "sync"),
    ] {
        let dir = scratch("faults");
        let path = dir.join("log");
        let (mut p, mut live) = reopen(options(&path, fsync)).unwrap();
        commit(&mut p, &mut live, change("/a", "a 1\n", true, 1.0));
        assert!(p.turn(Instant::now(), &live));
        let faults = p.disk.faults.clone();
        let flag = if fault == "write" {
            &faults.write
        } else {
            &faults.sync
        };
        flag.store(true, Ordering::SeqCst);
        let now = Instant::now() + Duration::from_secs(2);
        // Queued and applied, but the turn cannot write it (or, under `always`, fsync it):
        // the turn says so, and its acknowledgements become 503s. An `everysec` fsync fails
        // later, on its own thread, after the acknowledgement, as that policy allows.
        commit(&mut p, &mut live, change("/b", "b 1\n", true, 1.0));
        let committed = p.turn(now, &live);
        let expected = fault == "sync" && fsync == Fsync::EverySec;
        assert_eq!(committed, expected, "{fsync:?} {fault}");
        turn_until(&mut p, &live, now, |p| !p.ready());
        assert!(!p.ready() && !p.stats().writable);
        assert_eq!(
            p.append(&change("/c", "c 1\n", true, 1.0)),
            Err(Unavailable)
        );
        // Rewrites are retried and fail while the disk does.
        for _ in 0..20 {
            p.turn(now, &live);
        }
        assert!(!p.ready());
        flag.store(false, Ordering::SeqCst);
        let later = now + Duration::from_secs(60);
        turn_until(&mut p, &live, later, Persist::ready);
        commit(&mut p, &mut live, change("/d", "d 1\n", true, 1.0));
        let stats = p.stats();
        assert!(stats.write_errors + stats.fsync_errors > 0);
        p.close(&live).unwrap();
        let (_, replayed) = reopen(options(&path, fsync)).unwrap();
        assert_eq!(scrape(&replayed), scrape(&live), "{fsync:?} {fault}");
        let _ = fs::remove_dir_all(dir);
    }
}

/// One request on a fresh connection; the status and whether the server closed it.
fn request(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    let status = head[9..12].parse().unwrap();
    (
        status,
        head.to_ascii_lowercase().contains("connection: close"),
    )
}

#[test]
fn a_failed_group_commit_turns_acknowledgements_into_503() {
    use crate::net::server::{Server, ServerConfig};
    use crate::web::app::App;

    let dir = scratch("server");
    let path = dir.join("log");
    let (p, store) = reopen(options(&path, Fsync::Always)).unwrap();
    let faults = p.disk.faults.clone();
    let cfg = Config {
        enable_lifecycle: true,
        ..Config::default()
    };
    let mut app = App::new(cfg, quiet(), store, Some(p));
    let server_cfg = ServerConfig {
        handle_signals: false,
        ..ServerConfig::default()
    };
    let mut server = Server::bind(&["127.0.0.1:0".to_string()], server_cfg).unwrap();
    let addr = server.local_addrs()[0];
    let thread = std::thread::spawn(move || {
        server.run(&mut app).unwrap();
        app
    });
    assert_eq!(
        request(addr, "PUT", "/metrics/job/a", "a 1\n"),
        (200, false)
    );
    faults.sync.store(true, Ordering::SeqCst);
    // Written, but not durable: never acknowledged.
    assert_eq!(request(addr, "PUT", "/metrics/job/b", "b 1\n"), (503, true));
    assert_eq!(request(addr, "GET", "/-/ready", "").0, 503);
    assert_eq!(request(addr, "PUT", "/metrics/job/c", "c 1\n").0, 503);
    assert_eq!(request(addr, "DELETE", "/metrics/job/a", "").0, 503);
    faults.sync.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    while request(addr, "GET", "/-/ready", "").0 != 200 {
        assert!(Instant::now() < deadline, "never recovered");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        request(addr, "PUT", "/metrics/job/d", "d 1\n"),
        (200, false)
    );
    assert_eq!(request(addr, "PUT", "/-/quit", "").0, 200);
    let app = thread.join().unwrap();
    let live = scrape(&app.store);
    app.close().unwrap();
    let (_, replayed) = reopen(options(&path, Fsync::Always)).unwrap();
    let replayed = scrape(&replayed);
    assert_eq!(replayed, live);
    // `c` was refused; `b` was answered 503 but is kept (its outcome was "unknown").
    assert!(replayed.contains("job=\"a\"") && replayed.contains("job=\"d\""));
    assert!(!replayed.contains("job=\"c\""));
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn header_is_what_the_format_says() {
    let h = record::file_header();
    assert_eq!(h.len(), FILE_HEADER_LEN);
    assert_eq!(&h[..8], b"PUSHGLOG");
    assert_eq!(&h[8..12], &3u32.to_le_bytes());
}

/// Every member's push time, protobuf and type, by family and group.
type MemberState = Vec<(String, String, f64, Option<Vec<u8>>, MetricType)>;

fn member_state(store: &Store) -> MemberState {
    let mut out = Vec::new();
    for (name, _) in store.families_after(None) {
        for (group, m) in store.members_after(name, None) {
            let time = store.member_view(name, group).unwrap().time;
            let native = m.native().map(<[u8]>::to_vec);
            out.push((name.to_string(), group.to_string(), time, native, m.mtype()));
        }
    }
    out
}

/// A POST of one family with protobuf attached, as a push of native histograms makes it.
fn native_change(path: &str, name: &str, native: &[u8], now: f64) -> Mutation {
    let Mutation::Change(mut c) = change(path, &format!("# TYPE {name} histogram\n{name}_count 1\n{name}_sum 1\n{name}_bucket{{le=\"+Inf\"}} 1\n"), false, now) else {
        unreachable!("a change")
    };
    c.families[0].native = Some(native.to_vec());
    Mutation::Change(c)
}

#[test]
fn push_times_and_protobuf_survive_replay_and_compaction() {
    let dir = scratch("member-times");
    let path = dir.join("log");
    let (mut p, mut live) = reopen(options(&path, Fsync::Never)).unwrap();
    commit(&mut p, &mut live, change("/a", "x 1\n", true, 100.0));
    commit(&mut p, &mut live, change("/b", "x 2\n", true, 150.0));
    commit(&mut p, &mut live, change("/a", "y 1\n", false, 200.0));
    commit(
        &mut p,
        &mut live,
        native_change("/a", "h", b"\x0a\x01h", 250.0),
    );
    commit(&mut p, &mut live, native_change("/b", "h", b"", 260.0));
    // A gauge histogram: only its type tells it from a histogram.
    let Mutation::Change(mut gauge) = native_change("/b", "q", b"\x0a\x01q", 270.0) else {
        unreachable!("a change")
    };
    gauge.families[0].mtype = MetricType::GaugeHistogram;
    commit(&mut p, &mut live, Mutation::Change(gauge));
    commit(&mut p, &mut live, change("/a", "z 1\n", false, 300.0));
    let expected = member_state(&live);
    let times: Vec<f64> = expected.iter().map(|m| m.2).collect();
    assert_eq!(
        times,
        [250.0, 260.0, 270.0, 100.0, 150.0, 200.0, 300.0],
        "{expected:?}"
    );
    assert_eq!(expected[0].3.as_deref(), Some(&b"\x0a\x01h"[..]));
    assert_eq!(expected[1].3.as_deref(), Some(&b""[..]));
    assert_eq!(expected[2].4, MetricType::GaugeHistogram);
    assert!(p.turn(Instant::now(), &live));
    p.close(&live).unwrap();

    let (mut p, replayed) = reopen(options(&path, Fsync::Never)).unwrap();
    assert_eq!(member_state(&replayed), expected, "replayed");
    // Compacted: group a's families, pushed at four times, become one record.
    let later = Instant::now() + Duration::from_secs(7200);
    turn_until(&mut p, &replayed, later, |p| {
        p.stats.last_compaction_time > 0.0
    });
    p.close(&replayed).unwrap();
    let (_, compacted) = reopen(options(&path, Fsync::Never)).unwrap();
    assert_eq!(member_state(&compacted), expected, "compacted");
    assert_eq!(scrape(&compacted), scrape(&live));
    let _ = fs::remove_dir_all(dir);
}

/// A log version 1 wrote: groups a (x at 100, y at 200) and b (x at 150, a failure at 300),
/// and group c pushed and deleted.
const V1_LOG: &[u8] = include_bytes!("testdata/v1.log");

#[test]
fn a_version_1_log_is_replayed_then_rewritten_in_the_current_format() {
    let dir = scratch("v1");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("log");
    fs::write(&path, V1_LOG).unwrap();
    let (p, replayed) = reopen(options(&path, Fsync::Never)).unwrap();
    let mut expected = Store::new();
    for r in [
        change(
            "/a/instance/1",
            "# HELP x X.\n# TYPE x counter\nx 1\n",
            true,
            100.0,
        ),
        change(
            "/a/instance/1",
            "# TYPE y gauge\ny{l=\"v\"} 2\n",
            false,
            200.0,
        ),
        change("/b", "# HELP x X.\nx 3\n", true, 150.0),
        Mutation::Failure {
            key: key("/b"),
            now: 300.0,
        },
    ] {
        expected.mutate(&r);
    }
    assert_eq!(scrape(&replayed), scrape(&expected));
    assert_eq!(member_state(&replayed), member_state(&expected));
    // Appends never go to a file of the old format.
    let bytes = fs::read(&path).unwrap();
    assert_eq!(bytes[..FILE_HEADER_LEN], record::file_header());
    assert_eq!(p.len, bytes.len() as u64);
    drop(p);
    let (_, again) = reopen(options(&path, Fsync::Never)).unwrap();
    assert_eq!(scrape(&again), scrape(&expected));
    assert_eq!(member_state(&again), member_state(&expected));
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_log_of_an_unknown_version_is_refused_and_untouched() {
    let dir = scratch("newer");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("log");
    let newer = record::header_of(record::VERSION + 1);
    fs::write(&path, newer).unwrap();
    let err = reopen(options(&path, Fsync::Never)).err().unwrap();
    assert!(
        err.contains(&format!("format version {}", record::VERSION + 1)),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), newer);
    let _ = fs::remove_dir_all(dir);
}
