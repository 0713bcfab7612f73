//! Several gateways behind one balancer, as docs/scaling.md sets them up: three pushgates
//! behind nginx running `docs/nginx-shards.conf` (the shard key asked of a gateway through
//! `auth_request`, hashed with `hash ... consistent`). 10,000 groups are pushed through nginx
//! in four spellings of their grouping keys (plain, `@base64`, `U__` names, percent escapes),
//! some pushed again or deleted in another spelling, and every group must be on exactly one
//! shard; a real Prometheus scraping the three counts every group; one shard is killed with
//! SIGKILL, its groups are refused (not moved) meanwhile, and it comes back from its
//! persistence log with nothing lost.
//!
//! nginx and Prometheus are needed: without them the test fails under CI (`CI` set) and is
//! skipped otherwise.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::thread;

use crate::util::{
    base64url, free_port, require_tool, tool_exists, Client, Exposition, Process, Prometheus,
    Server, Stopped, Target, TempDir, PORT_ATTEMPTS,
};

const SHARDS: usize = 3;
const GROUPS: usize = 10_000;
/// Groups pushed and then deleted in another spelling, on top of [`GROUPS`].
const DELETED: usize = 100;
/// Keep-alive connections pushing at once: enough to keep nginx and the shards busy, few
/// enough to leave the rest of the suite a share of two cores.
const PUSHERS: usize = 4;
/// Every shard runs with the same flags: the shard key of a `U__` name depends on them.
const SHARD_FLAGS: &[&str] = &["--push.enable-utf8-names"];

/// Group `n`'s push path, in one of four spellings of the same grouping key
/// `{instance="i-<n>",job="shards",zone="z<n mod 7>"}`.
fn path(n: usize, spelling: usize) -> String {
    let (instance, zone) = (format!("i-{n}"), format!("z{}", n % 7));
    match spelling % 4 {
        0 => format!("/metrics/job/shards/instance/{instance}/zone/{zone}"),
        1 => format!(
            "/metrics/job@base64/{}/zone/{zone}/instance@base64/{}",
            base64url("shards"),
            base64url(&instance)
        ),
        2 => format!("/metrics/job/shards/U__zone/{zone}/instance/{instance}"),
        _ => format!(
            "/metrics/job/%73hards/instance/{}/zone/{zone}",
            instance.replace('-', "%2D")
        ),
    }
}

/// One request on `client`, which must answer `want`.
fn expect(client: &mut Client, method: &str, path: &str, body: &str, want: u16) {
    let (status, answer) = client
        .request(method, path, body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    assert_eq!(
        status,
        want,
        "{method} {path}: {}",
        String::from_utf8_lossy(&answer)
    );
}

/// The `instance` of every group of job `shards` that exposes `metric`.
fn instances(expo: &Exposition, metric: &str) -> BTreeSet<String> {
    expo.samples
        .iter()
        .filter(|s| s.name == metric && s.labels.contains(&("job".into(), "shards".into())))
        .filter_map(|s| s.labels.iter().find(|(n, _)| n == "instance"))
        .map(|(_, v)| v.clone())
        .collect()
}

/// The nginx binary, also where Debian puts it outside a non-root `PATH`.
fn nginx_program() -> Option<&'static str> {
    let program = ["nginx", "/usr/sbin/nginx"]
        .into_iter()
        .find(|p| tool_exists(p))
        .unwrap_or("nginx");
    require_tool(program).then_some(program)
}

/// nginx on a loopback port, serving `docs/nginx-shards.conf` with `shards` in place of the
/// documented addresses; stopped on drop.
struct Nginx {
    addr: SocketAddr,
    // Field order matters: the process stops before its directory is removed.
    _process: Process,
    _dir: TempDir,
}

impl Nginx {
    fn start(program: &str, shards: &[SocketAddr]) -> Nginx {
        let documented = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/nginx-shards.conf");
        let documented = std::fs::read_to_string(&documented)
            .unwrap_or_else(|e| panic!("{}: {e}", documented.display()));
        let dir = TempDir::new("pushgate-nginx");
        let d = dir.path().display();
        // Everything nginx would otherwise write under /var goes to the temp dir, and it
        // stays in the foreground as one process (no user to switch to when run as root).
        let main = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log stderr warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n    access_log off;\n    client_body_temp_path {d}/body;\n    \
             proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    \
             uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n    \
             include {d}/pushgate.conf;\n}}\n"
        );
        let config = dir.path().join("nginx.conf");
        std::fs::write(&config, main).expect("write nginx.conf");
        for _ in 0..PORT_ATTEMPTS {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let mut site = replace(&documented, "listen 9091;", &format!("listen {addr};"), 1);
            for (i, shard) in shards.iter().enumerate() {
                // Each shard is listed in both upstreams.
                site = replace(
                    &site,
                    &format!("10.0.0.1{}:9091", i + 1),
                    &shard.to_string(),
                    2,
                );
            }
            std::fs::write(dir.path().join("pushgate.conf"), site).expect("write pushgate.conf");
            let args = [
                "-e".to_string(),
                "stderr".to_string(),
                "-p".to_string(),
                dir.path().display().to_string(),
                "-c".to_string(),
                config.display().to_string(),
            ];
            let mut process = Process::spawn(Path::new(program), &args);
            // False when nginx exits, such as when another process took the port meanwhile.
            if process.wait_http_ok(addr, "/-/healthy") {
                return Nginx {
                    addr,
                    _process: process,
                    _dir: dir,
                };
            }
        }
        panic!("nginx did not come up on {PORT_ATTEMPTS} free ports");
    }

    fn client(&self) -> Client {
        Client::new(self.addr)
    }
}

/// `text` with the `times` occurrences of `from` replaced: the documented file must still
/// say what the test replaces.
fn replace(text: &str, from: &str, to: &str, times: usize) -> String {
    assert_eq!(
        text.matches(from).count(),
        times,
        "docs/nginx-shards.conf should have {from:?} {times} time(s)"
    );
    text.replace(from, to)
}

/// Pushes every group through `nginx`, some twice, and [`DELETED`] more that are deleted again,
/// each time in another spelling than before.
fn push_all(nginx: &Nginx) {
    thread::scope(|s| {
        for first in 0..PUSHERS {
            let mut client = nginx.client();
            s.spawn(move || {
                for n in (first..GROUPS).step_by(PUSHERS) {
                    let body = format!("shards_pushed {n}\n");
                    expect(&mut client, "PUT", &path(n, n), &body, 200);
                    if n % 10 == 0 {
                        let again = path(n, n + 1);
                        expect(&mut client, "POST", &again, "shards_again 1\n", 200);
                    }
                }
                for n in (GROUPS + first..GROUPS + DELETED).step_by(PUSHERS) {
                    expect(&mut client, "PUT", &path(n, n), "shards_pushed 1\n", 200);
                    expect(&mut client, "DELETE", &path(n, n + 1), "", 202);
                }
            });
        }
    });
}

#[test]
fn every_group_on_one_shard_through_nginx_and_a_killed_shard_loses_nothing() {
    let Some(program) = nginx_program() else {
        return;
    };
    if !require_tool("prometheus") {
        return;
    }
    let mut shards: Vec<Server> = (0..SHARDS)
        .map(|_| Server::start(Target::Pushgate, SHARD_FLAGS))
        .collect();
    let addrs: Vec<SocketAddr> = shards.iter().map(|s| s.addr).collect();
    let nginx = Nginx::start(program, &addrs);
    push_all(&nginx);

    let scrapes: Vec<Exposition> = shards.iter().map(Server::scrape).collect();
    let held: Vec<BTreeSet<String>> = scrapes
        .iter()
        .map(|e| instances(e, "push_time_seconds"))
        .collect();
    let everywhere: BTreeSet<&String> = held.iter().flatten().collect();
    let wanted: BTreeSet<String> = (0..GROUPS).map(|n| format!("i-{n}")).collect();
    assert_eq!(
        everywhere,
        wanted.iter().collect(),
        "the shards should hold exactly the groups pushed and not deleted"
    );
    let on_two: Vec<&String> = held
        .iter()
        .enumerate()
        .flat_map(|(i, a)| held[i + 1..].iter().flat_map(move |b| a.intersection(b)))
        .take(5)
        .collect();
    assert!(
        on_two.is_empty(),
        "groups on two shards, such as {on_two:?}"
    );
    for (shard, groups) in held.iter().enumerate() {
        assert!(
            groups.len() > GROUPS / 10,
            "shard {shard} holds {} of {GROUPS} groups: the hash should spread them",
            groups.len()
        );
        // A group pushed again in another spelling was pushed again on its own shard.
        let again = instances(&scrapes[shard], "shards_again");
        assert!(
            again.is_subset(groups),
            "shard {shard} has pushes of groups it does not hold: {:?}",
            again.difference(groups).take(5).collect::<Vec<_>>()
        );
    }
    let again: usize = scrapes
        .iter()
        .map(|e| instances(e, "shards_again").len())
        .sum();
    assert_eq!(again, GROUPS / 10, "groups pushed again");

    let prometheus = Prometheus::start_scraping(&addrs, &[]);
    prometheus.wait_for(r#"count(push_time_seconds{job="shards"})"#, |a| {
        a.contains(&format!("\"{GROUPS}\"]"))
    });

    // Kill a shard as a crash would. Its groups are refused while it is down, not taken by
    // another shard; the other shards' groups are served as before.
    let victim = 1;
    let owned: usize = held[victim].iter().next().expect("a group")[2..]
        .parse()
        .expect("instance i-<n>");
    let other: usize = held[0].iter().next().expect("a group")[2..]
        .parse()
        .expect("instance i-<n>");
    let down: Stopped = shards.remove(victim).kill();
    prometheus.wait_for(&format!("up{{instance=\"{}\"}}", down.addr), |a| {
        a.contains("\"0\"]")
    });
    let mut client = nginx.client();
    expect(
        &mut client,
        "POST",
        &path(owned, 2),
        "shards_outage 1\n",
        502,
    );
    expect(
        &mut client,
        "POST",
        &path(other, 3),
        "shards_outage 1\n",
        200,
    );
    for shard in &shards {
        let outage = instances(&shard.scrape(), "shards_outage");
        assert!(
            !outage.contains(&format!("i-{owned}")),
            "a live shard took a group of the dead one"
        );
    }

    // Back from its log, on its address: exactly what it held before.
    shards.insert(victim, down.start());
    let after = shards[victim].scrape();
    assert!(
        after == scrapes[victim],
        "the restarted shard lost or changed groups:\n{}",
        scrapes[victim].diff(&after)
    );
    expect(&mut client, "POST", &path(owned, 3), "shards_back 1\n", 200);
    assert_eq!(
        instances(&shards[victim].scrape(), "shards_back"),
        BTreeSet::from([format!("i-{owned}")]),
        "the restarted shard owns its groups again"
    );
    // Counted once Prometheus has scraped the restarted shard (only it has `shards_back`).
    prometheus.wait_for(
        r#"count(push_time_seconds{job="shards"}) and on() shards_back"#,
        |a| a.contains(&format!("\"{GROUPS}\"]")),
    );
}

/// The key a balancer hashes, asked of one gateway: every spelling of a group has one, the
/// route prefix is honoured, and a path naming no group gets none but still a 200 (so the
/// balancer routes it and the gateway it picks refuses it with the reason).
#[test]
fn shard_key_is_one_for_every_spelling_of_a_group() {
    let mut args = vec!["--web.route-prefix=/gw"];
    args.extend_from_slice(SHARD_FLAGS);
    let gateway = Server::start(Target::Pushgate, &args);
    let key = |path: &str| {
        let resp = gateway.get(&format!("/gw/-/shard-key/gw{path}"));
        assert_eq!(resp.status, 200, "{path}: {}", resp.text());
        resp.header("X-Pushgate-Shard-Key").map(str::to_string)
    };
    let plain = key(&path(7, 0)).expect("a key");
    for spelling in 1..4 {
        assert_eq!(key(&path(7, spelling)).as_deref(), Some(&*plain));
    }
    assert!(key(&path(8, 0)).is_some_and(|other| other != plain));
    for no_group in ["/metrics/job/shards/odd", "/api/v1/status"] {
        assert_eq!(key(no_group), None, "{no_group}");
    }
    // Without the prefix the path is not one the gateway serves pushes at.
    let resp = gateway.get(&format!("/gw/-/shard-key{}", path(7, 0)));
    assert_eq!(resp.header("X-Pushgate-Shard-Key"), None);
}
