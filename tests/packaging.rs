//! Black-box tests of what ships: the static binary from `make static` run in an empty root
//! (no /etc, /proc, /tmp or shell, an unprivileged uid, a read-only root with only the data
//! directory writable), and the systemd unit as `systemd-analyze` reads it.
//!
//! `make test` passes the static binary in `PUSHGATE_STATIC_BIN`. The empty root needs mount
//! namespaces: as root the server drops to uid 65534 inside it; otherwise a user namespace
//! maps the caller's own uid to root there. Under CI every part must run.

use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::{in_ci, request, require_tool, Process, TempDir};

/// Who the server runs as in the empty root when the test runs as root.
const UNPRIVILEGED: u32 = 65534;
const READY: Duration = Duration::from_secs(10);

/// The static binary, or `None` (the test skips) outside `make test`.
fn static_binary() -> Option<PathBuf> {
    match std::env::var_os("PUSHGATE_STATIC_BIN") {
        Some(path) => Some(PathBuf::from(path)),
        None => {
            assert!(!in_ci(), "PUSHGATE_STATIC_BIN is not set; run `make test`");
            eprintln!("SKIPPED: PUSHGATE_STATIC_BIN is not set (`make test` builds and sets it)");
            None
        }
    }
}

fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn current_uid() -> u32 {
    let out = Command::new("id").arg("-u").output().expect("run id -u");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("id -u prints a number")
}

/// How to enter an empty root here: new namespaces, and the uid the server gets.
struct Sandbox {
    /// `unshare`'s options.
    prefix: Vec<String>,
    /// `chroot --userspec` when root drops to [`UNPRIVILEGED`]; empty in a user namespace,
    /// where root inside is the caller outside.
    userspec: String,
    /// The uid the server has, seen from outside.
    uid: u32,
}

/// Inside a new mount namespace: the root bound read-only onto itself, the data directory bound
/// writable over its mount point, then chroot (dropping to the uid) and exec the server, so
/// the server keeps the pid and gets our SIGTERM.
const SCRIPT: &str = r#"set -e
root=$1 data=$2 userspec=$3
shift 3
mount --bind "$root" "$root"
mount -o remount,bind,ro "$root"
mount --bind "$data" "$root/data"
exec chroot $userspec "$root" /pushgate "$@""#;

impl Sandbox {
    /// The way that works here, or `None` (the test skips) where namespaces cannot be had.
    fn find() -> Option<Sandbox> {
        if !require_tool("unshare") || !require_tool("chroot") {
            return None;
        }
        let uid = current_uid();
        let (prefix, userspec, inner_uid): (&[&str], String, u32) = if uid == 0 {
            (
                &["--mount", "--propagation", "private"],
                format!("--userspec={UNPRIVILEGED}:{UNPRIVILEGED}"),
                UNPRIVILEGED,
            )
        } else {
            (
                &[
                    "--user",
                    "--map-root-user",
                    "--mount",
                    "--propagation",
                    "private",
                ],
                String::new(),
                uid,
            )
        };
        let probe = Command::new("unshare").args(prefix).arg("true").status();
        if !probe.is_ok_and(|s| s.success()) {
            assert!(
                !in_ci(),
                "`unshare {}` fails under CI, which runs as root",
                prefix.join(" ")
            );
            eprintln!(
                "SKIPPED: `unshare {}` fails: this kernel or container allows no mount \
                 namespaces to uid {uid}",
                prefix.join(" ")
            );
            return None;
        }
        Some(Sandbox {
            prefix: prefix.iter().map(|s| s.to_string()).collect(),
            userspec,
            uid: inner_uid,
        })
    }

    /// Runs the server in `root` with `data` as its `/data`.
    fn spawn(&self, root: &Path, data: &Path, args: &[&str]) -> Process {
        let mut argv = self.prefix.clone();
        argv.extend(["sh", "-c", SCRIPT, "sh"].map(String::from));
        argv.extend([root, data].map(|p| p.display().to_string()));
        argv.push(self.userspec.clone());
        argv.extend(args.iter().map(|a| a.to_string()));
        Process::spawn(Path::new("unshare"), &argv)
    }

    /// [`Sandbox::spawn`], waiting until the server is ready.
    fn start(&self, root: &Path, data: &Path, args: &[&str]) -> (Process, std::net::SocketAddr) {
        let mut server = self.spawn(root, data, args);
        let addr = server.wait_listening(READY);
        assert!(
            server.wait_http_ok(addr, "/-/ready"),
            "not ready; stderr:\n{}",
            server.stderr()
        );
        (server, addr)
    }
}

/// The `Uid:` line of a process: real, effective, saved and filesystem uid.
fn uids(pid: u32) -> Vec<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .expect("a Uid: line");
    line.split_whitespace()
        .map(|n| n.parse().expect("uid"))
        .collect()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn scrape(addr: std::net::SocketAddr) -> String {
    let resp = request(addr, "GET", "/metrics", &[], b"").expect("scrape");
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.text()
}

#[test]
fn static_binary_serves_and_persists_in_an_empty_root() {
    let Some(binary) = static_binary() else {
        return;
    };
    let Some(sandbox) = Sandbox::find() else {
        return;
    };
    let dir = TempDir::new("pushgate-empty-root");
    // Only what the container image holds: the binary, the web configuration file that
    // docker-compose.yml mounts, and the data volume's mount point.
    let root = dir.path().join("root");
    fs::create_dir(&root).expect("mkdir root");
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod root");
    fs::copy(&binary, root.join("pushgate")).expect("copy the binary");
    fs::set_permissions(root.join("pushgate"), fs::Permissions::from_mode(0o555)).unwrap();
    fs::copy(repo_file("packaging/web.yml"), root.join("web.yml")).expect("copy web.yml");
    fs::create_dir(root.join("data")).expect("mkdir data mount point");
    let data = dir.path().join("data");
    fs::create_dir(&data).expect("mkdir data");
    if current_uid() == 0 {
        chown(&data, Some(UNPRIVILEGED), Some(UNPRIVILEGED)).expect("chown data");
    }
    fs::set_permissions(&data, fs::Permissions::from_mode(0o700)).unwrap();
    let before = names_in(&root);
    assert_eq!(before, ["data", "pushgate", "web.yml"]);

    let args = [
        "--web.listen-address=127.0.0.1:0",
        "--web.config.file=web.yml",
        "--persistence.file=/data/pushgate.log",
    ];
    let (mut server, addr) = sandbox.start(&root, &data, &args);
    let uid = uids(server.id());
    assert!(
        uid.iter().all(|&u| u == sandbox.uid && u != 0),
        "uids {uid:?}"
    );
    let body = b"# TYPE batch_ok gauge\nbatch_ok 42\n";
    let path = "/metrics/job/batch/instance/empty-root";
    let resp = request(addr, "PUT", path, &[], body).expect("push");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let text = scrape(addr);
    assert!(
        text.contains("batch_ok{instance=\"empty-root\",job=\"batch\"} 42\n"),
        "{text}"
    );
    // No /proc: the gauges read from it are left out, the rest is served.
    assert!(text.contains("\nprocess_start_time_seconds "), "{text}");
    assert!(!text.contains("process_cpu_seconds_total"), "{text}");
    assert!(!text.contains("process_open_fds"), "{text}");
    assert!(
        text.contains("\npushgate_persistence_writable 1\n"),
        "{text}"
    );
    let resp = request(addr, "GET", "/-/healthy", &[], b"").expect("healthy");
    assert_eq!(resp.status, 200);
    // The web configuration file was read: its headers are sent.
    assert_eq!(resp.header("X-Frame-Options"), Some("deny"));
    assert!(
        server.terminate().is_some_and(|s| s.success()),
        "did not stop cleanly:\n{}",
        server.stderr()
    );
    let stderr = server.stderr();
    assert!(!stderr.contains("level=error"), "{stderr}");
    assert!(!stderr.contains("level=warn"), "{stderr}");

    // It wrote its log and nothing else, and only where it may.
    assert_eq!(names_in(&root), before);
    assert_eq!(names_in(&data), ["pushgate.log", "pushgate.log.lock"]);
    let owner =
        std::os::unix::fs::MetadataExt::uid(&fs::metadata(data.join("pushgate.log")).unwrap());
    assert_eq!(owner, sandbox.uid);

    // The root is mounted read-only: a log anywhere but in /data cannot even be opened.
    let mut refused = sandbox.spawn(
        &root,
        &data,
        &[args[0], "--persistence.file=/elsewhere.log"],
    );
    let status = refused.wait_exit(READY).expect("exits");
    let stderr = refused.stderr();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("/elsewhere.log.lock: Read-only file system"),
        "{stderr}"
    );
    assert_eq!(names_in(&root), before);

    let (mut server, addr) = sandbox.start(&root, &data, &args);
    let text = scrape(addr);
    assert!(
        text.contains("batch_ok{instance=\"empty-root\",job=\"batch\"} 42\n"),
        "not replayed after a restart:\n{text}\nstderr:\n{}",
        server.stderr()
    );
    assert!(server.terminate().is_some_and(|s| s.success()));
}

/// The unit as `systemd-analyze` reads it, with ExecStart pointing at a binary that exists:
/// no warnings, and an exposure level systemd calls OK.
#[test]
fn systemd_unit_verifies_and_is_sandboxed() {
    if !require_tool("systemd-analyze") {
        return;
    }
    let dir = TempDir::new("pushgate-unit");
    let unit = fs::read_to_string(repo_file("packaging/pushgate.service")).expect("read unit");
    assert!(
        unit.contains("ExecStart=/usr/local/bin/pushgate "),
        "{unit}"
    );
    let unit = unit.replace("/usr/local/bin/pushgate", env!("CARGO_BIN_EXE_pushgate"));
    let path = dir.path().join("pushgate.service");
    fs::write(&path, unit).expect("write unit");

    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("run systemd-analyze verify");
    let said = String::from_utf8_lossy(&verify.stderr).into_owned()
        + &String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success() && said.trim().is_empty(), "{said}");

    // 1.1 of 10 today; systemd calls up to 2.0 "OK", and the test allows no worse.
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(&path)
        .output()
        .expect("run systemd-analyze security");
    assert!(
        security.status.success(),
        "{}",
        String::from_utf8_lossy(&security.stdout)
    );
}
