//! Benchmarks of the persistence log: start-up replay, push throughput through the log under
//! each fsync policy, group commit with 64 concurrent pushers over loopback, and push latency
//! while a compaction of 1,000,000 series runs. Run with `cargo bench --bench persist`; the
//! files go to a scratch directory under `$TMPDIR` (the disk being measured).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pushgate::config::{Config, Fsync, LogFormat, LogLevel};
use pushgate::formats::text;
use pushgate::http::service::{Request, Service};
use pushgate::log::Logger;
use pushgate::net::server::{Server, ServerConfig};
use pushgate::persist::{Options, Persist};
use pushgate::store::check;
use pushgate::store::key::GroupingKey;
use pushgate::store::{Change, Mutation, Push, Store};
use pushgate::web::app::App;

/// Five series in three families, as a batch job would push them.
fn body(i: usize) -> String {
    format!(
        "# TYPE batch_ok gauge\nbatch_ok {i}\n# TYPE batch_records_total counter\n\
         batch_records_total{{kind=\"a\"}} {i}\nbatch_records_total{{kind=\"b\"}} 2\n\
         # TYPE batch_seconds gauge\nbatch_seconds{{step=\"x\"}} 1.5\nbatch_seconds{{step=\"y\"}} 2.5\n"
    )
}

fn quiet() -> Logger {
    Logger::new(LogLevel::Error, LogFormat::Logfmt)
}

fn options(path: &Path, fsync: Fsync, interval: Duration) -> Options {
    Options {
        path: path.to_path_buf(),
        fsync,
        interval,
        recover_truncate: false,
    }
}

/// The pushes of `groups` groups of five series, rendered.
fn changes(groups: usize) -> Vec<Change> {
    (0..groups)
        .map(|i| {
            let key = GroupingKey::from_path(&format!("/bench/instance/i{i}"), false);
            let mut push = Push {
                key: key.expect("key"),
                families: text::parse(body(i).as_bytes()).expect("parses"),
                replace: true,
                now: 1.7e9,
            };
            check::sanitize(&mut push).expect("sane");
            push.render()
        })
        .collect()
}

/// A log of `groups` groups of five series, as their pushes wrote it.
fn write_log(path: &Path, groups: usize) {
    let _ = std::fs::remove_file(path);
    let mut store = Store::new();
    let opts = options(path, Fsync::Never, Duration::ZERO);
    let mut p = Persist::open(opts, &mut store, quiet()).expect("opens");
    for change in changes(groups) {
        let r = Mutation::Change(change);
        p.append(&r).expect("queued");
        store.mutate(&r);
    }
    p.close(&store).expect("closed");
}

/// CPU time this thread has used: the machine may be shared, and wall time then says more
/// about the neighbours than about the code.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

fn replay(dir: &Path, groups: usize) {
    let path = dir.join(format!("replay-{groups}"));
    write_log(&path, groups);
    let size = std::fs::metadata(&path).expect("exists").len();
    let (mut times, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let mut store = Store::new();
        let (t, c) = (Instant::now(), cpu_time());
        let p = Persist::open(
            options(&path, Fsync::Never, Duration::ZERO),
            &mut store,
            quiet(),
        );
        times.push(t.elapsed());
        cpu.push(cpu_time() - c);
        assert_eq!(store.group_count(), groups);
        drop(p);
    }
    // The floor: the same changes applied to a store straight from memory.
    let mut apply = Vec::new();
    for _ in 0..5 {
        let (pending, mut store) = (changes(groups), Store::new());
        let t = Instant::now();
        for c in pending {
            store.apply(&c);
        }
        apply.push(t.elapsed());
    }
    times.sort();
    cpu.sort();
    apply.sort();
    println!(
        "replay of {groups} groups / {} series ({:.1} MB): {:.1} ms (median of 5, best {:.1} ms; \
         CPU time median {:.1} ms; Store::apply of the same changes alone {:.1} ms)",
        groups * 5,
        size as f64 / 1e6,
        times[2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        cpu[2].as_secs_f64() * 1e3,
        apply[2].as_secs_f64() * 1e3,
    );
    let _ = std::fs::remove_file(&path);
}

/// An empty store and, with a policy, a new log at `path` (never compacted) feeding it.
fn fresh(path: &Path, fsync: Option<Fsync>) -> (Store, Option<Persist>) {
    let _ = std::fs::remove_file(path);
    let mut store = Store::new();
    let persist = fsync.map(|f| {
        Persist::open(options(path, f, Duration::ZERO), &mut store, quiet()).expect("opens")
    });
    (store, persist)
}

/// Pushes through the whole application (parse, check, log, apply), `per_turn` requests per
/// reactor turn, for about a second; returns pushes per second of this thread's CPU time
/// (what bounds the event loop; the `everysec` fsync runs on another thread).
fn in_process(dir: &Path, fsync: Option<Fsync>, per_turn: usize) -> f64 {
    let path = dir.join("throughput");
    let (store, persist) = fresh(&path, fsync);
    let mut app = App::new(Config::default(), quiet(), store, persist);
    let bodies: Vec<String> = (0..100).map(body).collect();
    let targets: Vec<String> = (0..10_000)
        .map(|i| format!("/metrics/job/bench/instance/i{i}"))
        .collect();
    let remote: SocketAddr = "127.0.0.1:1".parse().expect("address");
    let (start, cpu) = (Instant::now(), cpu_time());
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(1) {
        let now = Instant::now();
        for _ in 0..per_turn {
            let req = Request {
                method: "PUT",
                target: &targets[n % targets.len()],
                headers: &[],
                body: bodies[n % bodies.len()].as_bytes(),
                remote,
                started: now,
            };
            assert_eq!(app.handle(&req).status, 200);
            n += 1;
        }
        assert!(app.turn(now) && app.committed());
    }
    let rate = n as f64 / (cpu_time() - cpu).as_secs_f64();
    app.close().expect("closed");
    rate
}

/// One keep-alive connection; returns the status of a PUT.
struct Client(BufReader<TcpStream>);

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connects");
        s.set_nodelay(true).expect("nodelay");
        Client(BufReader::new(s))
    }

    fn put(&mut self, path: &str, body: &str) -> u16 {
        let req = format!(
            "PUT {path} HTTP/1.1\r\nHost: b\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.0.get_mut().write_all(req.as_bytes()).expect("sends");
        let mut line = String::new();
        self.0.read_line(&mut line).expect("status");
        let status = line[9..12].parse().expect("status code");
        let mut length = 0;
        loop {
            line.clear();
            self.0.read_line(&mut line).expect("header");
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                length = v.trim().parse().expect("length");
            }
        }
        let mut rest = vec![0; length];
        self.0.read_exact(&mut rest).expect("body");
        status
    }
}

/// A real server on loopback over `store` and `persist`; stop it with the returned flag.
fn serve(store: Store, persist: Option<Persist>) -> (SocketAddr, thread::JoinHandle<()>) {
    let cfg = Config {
        enable_lifecycle: true,
        ..Config::default()
    };
    let mut app = App::new(cfg, quiet(), store, persist);
    let server_cfg = ServerConfig {
        handle_signals: false,
        ..ServerConfig::default()
    };
    let mut server = Server::bind(&["127.0.0.1:0".to_string()], server_cfg).expect("binds");
    let addr = server.local_addrs()[0];
    let thread = thread::Builder::new()
        .name("server".into())
        .spawn(move || {
            server.run(&mut app).expect("serves");
            app.close().expect("closed");
        })
        .expect("spawns");
    (addr, thread)
}

fn quit(addr: SocketAddr, thread: thread::JoinHandle<()>) {
    Client::connect(addr).put("/-/quit", "");
    thread.join().expect("server thread");
}

/// `clients` pushers over loopback for about three seconds; returns pushes per second.
fn concurrent(dir: &Path, fsync: Option<Fsync>, clients: usize) -> f64 {
    let path = dir.join("concurrent");
    let (store, persist) = fresh(&path, fsync);
    let (addr, server) = serve(store, persist);
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut client = Client::connect(addr);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let path = format!("/metrics/job/bench/instance/c{c}");
                    assert_eq!(client.put(&path, &body(n as usize)), 200);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let t = Instant::now();
    thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let total: u64 = workers.into_iter().map(|w| w.join().expect("client")).sum();
    let rate = total as f64 / t.elapsed().as_secs_f64();
    quit(addr, server);
    rate
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len() - 1);
    sorted[i].as_secs_f64() * 1e3
}

/// Push latency over loopback while the log of `log` (replayed) is compacted, or, with
/// `compact` false, over two seconds without compaction, for comparison.
fn compaction_latency(log: &Path, clients: usize, fsync: Fsync, compact: bool) {
    let mut store = Store::new();
    let interval = if compact {
        Duration::from_secs(2)
    } else {
        Duration::ZERO
    };
    let persist = Persist::open(options(log, fsync, interval), &mut store, quiet()).expect("opens");
    // The compaction starts on the first turn after the interval; its snapshot is taken
    // before its temporary file exists.
    let due = Instant::now() + interval;
    let (addr, server) = serve(store, Some(persist));
    let mut tmp = log.as_os_str().to_owned();
    tmp.push(".compact.tmp");
    let tmp = PathBuf::from(tmp);
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut client = Client::connect(addr);
                let mut samples = Vec::new();
                for n in 0usize.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let path = format!("/metrics/job/bench/instance/i{}", (n * 7 + c) % 200_000);
                    let t = Instant::now();
                    assert_eq!(client.put(&path, &body(n)), 200);
                    samples.push((t, t.elapsed()));
                }
                samples
            })
        })
        .collect();
    let (began, ended) = if compact {
        // It is over once its temporary file is renamed.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !tmp.exists() {
            assert!(Instant::now() < deadline, "no compaction started");
            thread::sleep(Duration::from_micros(200));
        }
        let began = due;
        while tmp.exists() {
            assert!(Instant::now() < deadline, "the compaction did not finish");
            thread::sleep(Duration::from_micros(200));
        }
        (began, Instant::now())
    } else {
        thread::sleep(Duration::from_millis(500));
        let began = Instant::now();
        thread::sleep(Duration::from_secs(2));
        (began, Instant::now())
    };
    stop.store(true, Ordering::Relaxed);
    let mut during: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("client"))
        .filter(|(t, _)| *t >= began && *t <= ended)
        .map(|(_, d)| d)
        .collect();
    quit(addr, server);
    during.sort();
    let what = if compact {
        "during a compaction of"
    } else {
        "without compaction, over"
    };
    println!(
        "push latency {what} 1M series, fsync={fsync:?} ({:.2} s, {clients} clients, {} pushes): \
         p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        (ended - began).as_secs_f64(),
        during.len(),
        percentile(&during, 0.5),
        percentile(&during, 0.99),
        percentile(&during, 0.999),
        percentile(&during, 1.0),
    );
}

/// In-process push throughput under each policy, interleaved and best of five: the machine
/// may be shared.
fn throughput(dir: &Path) {
    let policies = [
        ("memory only", None),
        ("fsync=never", Some(Fsync::Never)),
        ("fsync=everysec", Some(Fsync::EverySec)),
        ("fsync=always", Some(Fsync::Always)),
    ];
    let mut best = [0f64; 4];
    for _ in 0..5 {
        for (b, (_, fsync)) in best.iter_mut().zip(policies) {
            *b = b.max(in_process(dir, fsync, 64));
        }
    }
    for (b, (name, _)) in best.iter().zip(policies) {
        println!(
            "in-process pushes (parse, check, log, apply; 64 per turn), {name}: {b:.0} per \
             CPU-second ({:+.1}% vs memory only)",
            (b / best[0] - 1.0) * 100.0
        );
    }
}

/// Whether section `name` runs: `cargo bench --bench persist -- replay compaction` runs only
/// those; no names, every section.
fn wanted(name: &str) -> bool {
    let names: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    names.is_empty() || names.iter().any(|n| n == name)
}

fn main() {
    if !common::benchmarking() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("pushgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");

    if wanted("replay") {
        replay(&dir, 10_000);
        replay(&dir, 200_000);
    }
    if wanted("throughput") {
        throughput(&dir);
    }
    if wanted("concurrent") {
        for (name, fsync) in [
            ("memory only", None),
            ("fsync=everysec", Some(Fsync::EverySec)),
            ("fsync=always", Some(Fsync::Always)),
        ] {
            let rate = concurrent(&dir, fsync, 64);
            println!("64 concurrent pushers over loopback, {name}: {rate:.0} pushes/s");
        }
    }
    if wanted("compaction") {
        let big = dir.join("compaction");
        write_log(&big, 200_000);
        for fsync in [Fsync::EverySec, Fsync::Always] {
            compaction_latency(&big, 4, fsync, false);
            compaction_latency(&big, 4, fsync, true);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
