//! Black-box tests of persistence against the real binary on loopback: replay after a
//! restart, torn tails cut at every byte, damage refused or set aside, upstream's snapshot
//! left alone, `kill -9` while clients push at full speed, compaction under load, and a full
//! disk. Every wait is bounded and polls a condition.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::Client;

const WAIT: Duration = Duration::from_secs(15);

/// A fresh directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("pushgate-it-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running gateway and everything it wrote to stderr.
struct Gate {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

/// Starts the binary; `Err` with the exit status and stderr if it exits before listening.
fn start(args: &[&str]) -> Result<Gate, (ExitStatus, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .arg("--web.listen-address=127.0.0.1:0")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let pipe = child.stderr.take().unwrap();
    let sink = stderr.clone();
    // Drained to the end, so a chatty server never blocks on a full pipe.
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("msg=listening address=").nth(1) {
                let _ = tx.send(addr.trim().parse::<SocketAddr>().unwrap());
            }
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    match rx.recv_timeout(WAIT) {
        Ok(addr) => Ok(Gate {
            child,
            addr,
            stderr,
        }),
        Err(_) => {
            let status = wait_exit(&mut child);
            // The reader thread may still be copying the last lines.
            thread::sleep(Duration::from_millis(50));
            let log = stderr.lock().unwrap().clone();
            Err((status, log))
        }
    }
}

fn wait_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not exit");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

impl Gate {
    fn up(args: &[&str]) -> Gate {
        start(args).unwrap_or_else(|(status, log)| panic!("did not start ({status}):\n{log}"))
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn client(&self) -> Client {
        Client::new(self.addr)
    }

    fn scrape(&self) -> String {
        let (status, body) = self.client().request("GET", "/metrics", "").unwrap();
        assert_eq!(status, 200);
        String::from_utf8(body).unwrap()
    }

    /// SIGTERM, and the exit status once it stopped.
    fn term(mut self) -> ExitStatus {
        Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        wait_exit(&mut self.child)
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_arg(path: &Path) -> String {
    format!("--persistence.file={}", path.display())
}

#[test]
fn state_survives_a_restart_and_the_log_reports_metrics() {
    let dir = Scratch::new("restart");
    let log = dir.join("a/b/log");
    let arg = log_arg(&log);
    let gate = Gate::up(&[&arg]);
    let mut c = gate.client();
    assert_eq!(
        c.push("/metrics/job/j/instance/i", "# HELP x An x.\nx 1.5\n"),
        200
    );
    assert_eq!(c.request("DELETE", "/metrics/job/gone", "").unwrap().0, 202);
    // Inconsistent with group j: rejected, and the failure time is a logged change too.
    assert_eq!(c.push("/metrics/job/bad", "# TYPE x counter\nx 1\n"), 400);
    let before = gate.scrape();
    for name in [
        "pushgate_persistence_log_size_bytes ",
        "pushgate_persistence_records_since_compaction 3\n",
        "pushgate_persistence_writable 1\n",
        "pushgate_persistence_write_errors_total{op=\"write\"} 0\n",
        "pushgate_persistence_fsync_duration_seconds_count ",
    ] {
        assert!(before.contains(name), "{name} in\n{before}");
    }
    assert!(gate.term().success());
    let gate = Gate::up(&[&arg, "--persistence.fsync=always"]);
    let after = gate.scrape();
    for line in [
        "x{instance=\"i\",job=\"j\"} 1.5\n",
        "# HELP x An x.\n",
        "push_failure_time_seconds{instance=\"\",job=\"bad\"} ",
    ] {
        assert!(after.contains(line), "{line} in\n{after}");
    }
    assert!(gate
        .stderr()
        .contains("msg=\"replayed the persistence log\""));
}

/// The `time_stamp` the JSON API shows for family `name` (of the only group holding it).
fn time_stamp(gate: &Gate, name: &str) -> String {
    let (status, body) = gate.client().request("GET", "/api/v1/metrics", "").unwrap();
    assert_eq!(status, 200);
    let body = String::from_utf8(body).unwrap();
    let field = format!("\"{name}\":{{\"time_stamp\":\"");
    let at = body
        .find(&field)
        .unwrap_or_else(|| panic!("{field} in {body}"));
    body[at + field.len()..]
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

/// The value of one of the gateway's own unlabelled metrics.
fn own_metric(gate: &Gate, name: &str) -> String {
    let text = gate.scrape();
    let line = text
        .lines()
        .find(|l| l.strip_prefix(name).is_some_and(|v| v.starts_with(' ')))
        .unwrap_or_else(|| panic!("{name} in\n{text}"));
    line[name.len() + 1..].to_string()
}

#[test]
fn each_familys_push_time_survives_compaction_and_restart() {
    let dir = Scratch::new("push-times");
    let log = dir.join("log");
    let args = [log_arg(&log), "--persistence.interval=50ms".to_string()];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let gate = Gate::up(&args);
    let mut c = gate.client();
    assert_eq!(c.push("/metrics/job/a", "x 1\n"), 200);
    // The API shows microseconds: any pause tells the two pushes apart.
    thread::sleep(Duration::from_millis(20));
    assert_eq!(c.request("POST", "/metrics/job/a", "y 2\n").unwrap().0, 200);
    let before = (time_stamp(&gate, "x"), time_stamp(&gate, "y"));
    assert_ne!(before.0, before.1);
    // Two compactions end after the POST: the second one started after it, so the log now
    // holds group a as one record of both families.
    const DONE: &str = "pushgate_persistence_last_compaction_timestamp_seconds";
    let deadline = Instant::now() + WAIT;
    for _ in 0..2 {
        let last = own_metric(&gate, DONE);
        while own_metric(&gate, DONE) == last {
            assert!(Instant::now() < deadline, "no compaction");
            thread::sleep(Duration::from_millis(10));
        }
    }
    assert!(gate.term().success());
    let gate = Gate::up(&args);
    assert_eq!((time_stamp(&gate, "x"), time_stamp(&gate, "y")), before);
}

/// Pushes `n` groups one by one; returns the log's length before and after each.
fn pushes_with_boundaries(log: &Path, n: usize) -> Vec<u64> {
    let gate = Gate::up(&[&log_arg(log)]);
    let mut c = gate.client();
    let mut ends = vec![std::fs::metadata(log).unwrap().len()];
    for i in 0..n {
        let body = format!("# HELP t Group {i}.\nt{{k=\"{i}\"}} {i}\n");
        assert_eq!(c.push(&format!("/metrics/job/cut/n/{i}"), &body), 200);
        // The record is written before the answer: the file has it now.
        ends.push(std::fs::metadata(log).unwrap().len());
    }
    assert!(gate.term().success());
    ends
}

#[test]
fn a_log_cut_at_every_byte_of_its_last_records_keeps_the_complete_ones() {
    let dir = Scratch::new("cut");
    let log = dir.join("log");
    let ends = pushes_with_boundaries(&log, 4);
    let full = std::fs::read(&log).unwrap();
    let cuts: Vec<usize> = (ends[2] as usize..=full.len()).collect();
    // Each start is a process; a few run side by side on copies of the log.
    let next = AtomicUsize::new(0);
    thread::scope(|s| {
        for w in 0..4 {
            let (dir, full, ends, cuts, next) = (&dir, &full, &ends, &cuts, &next);
            s.spawn(move || {
                let copy = dir.join(&format!("copy{w}"));
                let arg = log_arg(&copy);
                while let Some(&cut) = cuts.get(next.fetch_add(1, Ordering::SeqCst)) {
                    std::fs::write(&copy, &full[..cut]).unwrap();
                    let gate = Gate::up(&[&arg]);
                    let text = gate.scrape();
                    let complete = ends.iter().rposition(|&e| e as usize <= cut).unwrap();
                    for i in 0..4 {
                        let line =
                            format!("t{{instance=\"\",job=\"cut\",k=\"{i}\",n=\"{i}\"}} {i}\n");
                        assert_eq!(text.contains(&line), i < complete, "cut {cut}, group {i}");
                    }
                    let torn = !ends.contains(&(cut as u64));
                    assert_eq!(
                        gate.stderr().contains("incomplete record"),
                        torn,
                        "cut {cut}"
                    );
                    assert!(gate.term().success());
                    let len = std::fs::metadata(&copy).unwrap().len();
                    assert_eq!(len, ends[complete], "cut {cut}: the torn tail is gone");
                }
            });
        }
    });
}

#[test]
fn damage_in_the_middle_refuses_to_start_and_the_flag_sets_it_aside() {
    let dir = Scratch::new("damage");
    let log = dir.join("log");
    let ends = pushes_with_boundaries(&log, 4);
    let mut bytes = std::fs::read(&log).unwrap();
    let at = ends[1];
    bytes[at as usize + 30] ^= 0x20;
    std::fs::write(&log, &bytes).unwrap();
    let arg = log_arg(&log);
    let (status, stderr) = start(&[&arg]).err().expect("refuses to start");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("damaged at byte offset {at}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("--persistence.recover-truncate"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&log).unwrap(), bytes, "nothing was changed");

    let gate = Gate::up(&[&arg, "--persistence.recover-truncate"]);
    let text = gate.scrape();
    assert!(
        text.contains("n=\"0\"} 0\n") && !text.contains("n=\"1\"}"),
        "{text}"
    );
    assert!(gate.stderr().contains("moved the rest aside"));
    assert!(gate.term().success());
    let aside = std::fs::read(dir.join("log.corrupt")).unwrap();
    assert_eq!(aside, &bytes[at as usize..]);
    assert_eq!(std::fs::read(&log).unwrap(), &bytes[..at as usize]);
}

#[test]
fn a_second_gateway_on_the_same_log_refuses_to_start() {
    let dir = Scratch::new("lock");
    let arg = log_arg(&dir.join("log"));
    let first = Gate::up(&[&arg]);
    let (status, stderr) = start(&[&arg]).err().expect("the second one refuses");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("in use by another process"), "{stderr}");
    assert!(first.term().success());
    // Once the first is gone, the log is free again.
    let again = Gate::up(&[&arg]);
    assert!(again.term().success());
}

/// Whether a test that needs `tool` may skip without it: only outside CI.
fn skip_without(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{tool} is required in CI");
        eprintln!("skipped: {tool} is not installed");
    }
    !found
}

#[test]
fn upstreams_snapshot_is_refused_and_left_untouched() {
    let reference = "prometheus-pushgateway";
    if skip_without(reference) {
        return;
    }
    let dir = Scratch::new("gob");
    let gob = dir.join("gob");
    // The reference cannot report a port it picked: find a free one and retry if taken.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut upstream = Command::new(reference)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--persistence.file={}", gob.display()))
        .arg("--persistence.interval=1s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        if Client::new(addr).push("/metrics/job/up", "u 1\n") == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the reference did not start");
        thread::sleep(Duration::from_millis(20));
    }
    Command::new("kill")
        .arg(upstream.id().to_string())
        .status()
        .unwrap();
    wait_exit(&mut upstream);
    let bytes = std::fs::read(&gob).expect("upstream wrote its snapshot on shutdown");
    assert!(!bytes.is_empty());
    let (status, stderr) = start(&[&log_arg(&gob)]).err().expect("refuses to start");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a pushgate log"), "{stderr}");
    assert_eq!(std::fs::read(&gob).unwrap(), bytes, "left untouched");
}

/// Clients pushing unique groups at full speed until the server goes away; returns every
/// acknowledged (client, n).
fn push_until_gone(gate: &Gate, clients: usize) -> Vec<(usize, u64)> {
    thread::scope(|s| {
        let workers: Vec<_> = (0..clients)
            .map(|c| {
                let mut client = gate.client();
                s.spawn(move || {
                    let mut acked = Vec::new();
                    for n in 0u64.. {
                        let path = format!("/metrics/job/crash/client/{c}/n/{n}");
                        match client.request("PUT", &path, &format!("v {n}\n")) {
                            Ok((200, _)) => acked.push((c, n)),
                            Ok((status, _)) => panic!("push answered {status}"),
                            Err(_) => break,
                        }
                    }
                    acked
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    })
}

/// The acknowledged pushes as `v` samples in a scrape: (client, n) -> value.
fn crash_samples(text: &str) -> HashMap<(usize, u64), f64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("v{client=\""))
        .map(|l| {
            let (c, rest) = l.split_once('"').unwrap();
            let n = rest
                .split("n=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let v = rest.rsplit(' ').next().unwrap();
            ((c.parse().unwrap(), n.parse().unwrap()), v.parse().unwrap())
        })
        .collect()
}

fn crash_test(fsync: &str) {
    let dir = Scratch::new(fsync);
    let log = dir.join("log");
    let args = [log_arg(&log), format!("--persistence.fsync={fsync}")];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let gate = Gate::up(&args);
    let acked = thread::scope(|s| {
        let pushing = s.spawn(|| push_until_gone(&gate, 8));
        // Kill in the middle of the stream: once the log has grown a fair bit.
        let deadline = Instant::now() + WAIT;
        while std::fs::metadata(&log).map_or(0, |m| m.len()) < 300_000 {
            assert!(Instant::now() < deadline, "pushes do not reach the log");
            thread::sleep(Duration::from_millis(2));
        }
        let pid = gate.child.id().to_string();
        let killed = Command::new("kill").args(["-9", &pid]).status().unwrap();
        assert!(killed.success());
        pushing.join().unwrap()
    });
    drop(gate);
    assert!(acked.len() > 1000, "only {} pushes", acked.len());
    let gate = Gate::up(&args);
    let stored = crash_samples(&gate.scrape());
    for (c, n) in &acked {
        let got = stored.get(&(*c, *n));
        assert_eq!(got, Some(&(*n as f64)), "acknowledged push {c}/{n} lost");
    }
}

#[test]
fn kill_9_loses_no_acknowledged_push_with_fsync_always() {
    crash_test("always");
}

/// `everysec` only promises a power failure loses at most about a second; a crash of the
/// process alone loses nothing, since every acknowledged record was written first.
#[test]
fn kill_9_loses_no_acknowledged_push_with_fsync_everysec() {
    crash_test("everysec");
}

#[test]
fn compaction_while_clients_push_loses_nothing_and_shrinks_the_log() {
    let dir = Scratch::new("compaction");
    let log = dir.join("log");
    let args = [log_arg(&log), "--persistence.interval=200ms".to_string()];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let gate = Gate::up(&args);
    let stop = AtomicBool::new(false);
    let (groups, series) = (50, 20);
    let last = thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|c| {
                let (mut client, stop) = (gate.client(), &stop);
                s.spawn(move || {
                    let mut last = HashMap::new();
                    for n in 0u64.. {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let g = n % groups;
                        let body: String = (0..series)
                            .map(|k| format!("w{{s=\"{k}\"}} {n}\n"))
                            .collect();
                        let path = format!("/metrics/job/compact/client/{c}/g/{g}");
                        assert_eq!(client.push(&path, &body), 200, "push {c}/{n}");
                        last.insert((c, g), n);
                    }
                    last
                })
            })
            .collect();
        // Until the log has visibly shrunk twice under the writers' feet.
        let (mut max, mut shrinks) = (0, 0);
        let deadline = Instant::now() + WAIT;
        while shrinks < 2 && Instant::now() < deadline {
            let size = std::fs::metadata(&log).map_or(0, |m| m.len());
            if size < max / 2 {
                shrinks += 1;
                max = size;
            }
            max = max.max(size);
            thread::sleep(Duration::from_millis(2));
        }
        stop.store(true, Ordering::SeqCst);
        let last: HashMap<(usize, u64), u64> = workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        assert_eq!(shrinks, 2, "the log did not shrink enough (max {max})");
        last
    });
    assert!(gate
        .scrape()
        .contains("pushgate_persistence_last_compaction_duration_seconds "));
    drop(gate);
    let gate = Gate::up(&args);
    let text = gate.scrape();
    for ((c, g), n) in last {
        let line =
            format!("w{{client=\"{c}\",g=\"{g}\",instance=\"\",job=\"compact\",s=\"7\"}} {n}\n");
        assert!(text.contains(&line), "{line} missing");
    }
}

/// A small tmpfs, where the sandbox lets us mount one; unmounted when dropped.
struct SmallFs(PathBuf);

impl SmallFs {
    fn mount(dir: PathBuf, size: &str) -> Option<SmallFs> {
        std::fs::create_dir_all(&dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallFs(dir))
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_answers_503_acknowledges_nothing_unwritten_and_recovers() {
    let dir = Scratch::new("full");
    let Some(fs) = SmallFs::mount(dir.join("fs"), "1m") else {
        // The in-process fault tests (persist::tests) cover this without a mount.
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let log = fs.0.join("log");
    let args = [log_arg(&log), "--persistence.fsync=always".to_string()];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let gate = Gate::up(&args);
    let mut c = gate.client();
    // Few groups, big pushes: the log grows, the live state stays small.
    let body = |n: usize| -> String { (0..100).map(|k| format!("f{{k=\"{k}\"}} {n}\n")).collect() };
    let mut acked = HashMap::new();
    for n in 0..40 {
        assert_eq!(
            c.push(&format!("/metrics/job/full/g/{}", n % 4), &body(n)),
            200
        );
        acked.insert(n % 4, n);
    }
    // Fill the disk.
    let filler = fs.0.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    while f.write_all(&[0u8; 4096]).is_ok() {}
    drop(f);
    let mut refused = None;
    for n in 40..200 {
        match c.push(&format!("/metrics/job/full/g/{}", n % 4), &body(n)) {
            200 => {
                acked.insert(n % 4, n);
            }
            503 => {
                refused = Some(n);
                break;
            }
            other => panic!("push answered {other}"),
        }
    }
    let refused = refused.expect("a push into a full disk is refused");
    assert_eq!(c.request("GET", "/-/ready", "").unwrap().0, 503);
    assert_eq!(c.push("/metrics/job/full/g/9", "x 1\n"), 503);
    let text = gate.scrape();
    assert!(text.contains("pushgate_persistence_writable 0\n"), "{text}");
    assert!(!text.contains("pushgate_persistence_write_errors_total{op=\"write\"} 0\n"));
    // Room again: the log is rewritten and takes changes once more.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + WAIT;
    while c.request("GET", "/-/ready", "").unwrap().0 != 200 {
        assert!(
            Instant::now() < deadline,
            "never recovered:\n{}",
            gate.stderr()
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.push("/metrics/job/full/g/4", &body(1000)), 200);
    acked.insert(4, 1000);
    assert!(gate.term().success());
    let gate = Gate::up(&args);
    let text = gate.scrape();
    let line =
        |g: usize, n: usize| format!("f{{g=\"{g}\",instance=\"\",job=\"full\",k=\"5\"}} {n}\n");
    for (g, n) in acked {
        // The push whose write failed was answered 503, "outcome unknown": it may have been
        // kept (the rewrite saves what memory holds) or not.
        let kept = g == refused % 4 && text.contains(&line(g, refused));
        assert!(kept || text.contains(&line(g, n)), "{} missing", line(g, n));
    }
    // Refused up front while the log was broken: never applied.
    assert!(!text.contains("g=\"9\""));
    drop(gate);
}
