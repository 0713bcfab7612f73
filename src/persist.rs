//! The persistence log: every accepted mutation is appended to a file before it is
//! acknowledged, the file is replayed on start, and it is compacted now and then.
//!
//! The format on disk (integers little-endian):
//! 1. A 16-byte file header: the magic `PUSHGLOG`, the format version (u32, now 3) and the
//!    CRC-32C of those 12 bytes.
//! 2. Records, back to back, each made of
//!    a. the body length `n` (u32),
//!    b. the CRC-32C of the body (u32),
//!    c. the CRC-32C of a and b (u32), so a damaged length is not mistaken for a torn tail,
//!    d. the body: `n` bytes, the first of which is the record kind.
//! 3. Inside bodies, a string is a u32 length and that many bytes (UTF-8); a grouping key is a
//!    u16 label count and that many name and value strings, sorted by name.
//! 4. Kind 1, change (a successful PUT or POST): replace (u8, 1 for PUT), the push time (f64,
//!    Unix seconds), the group's time to live from then on (f64 seconds, 0 for never,
//!    negative for the `--push.group-ttl` default), the key, a u32 family count, then per
//!    family
//!    a. its name,
//!    b. its type (u8: 0 counter, 1 gauge, 2 summary, 3 histogram, 4 untyped, 5 gauge
//!    histogram; code 5 is newer than the format's version, so an older pushgate refuses
//!    a log that holds one as corrupt rather than misreading it),
//!    c. flags (u8) saying which optional fields follow: 1 help, 2 own push time, 4 native,
//!    d. with flag 1, its help string,
//!    e. with flag 2, when the family was pushed (f64), if not at the record's push time (a
//!    compaction merges families a group got at different times into one record),
//!    f. its rendered sample lines (a string; empty removes the family),
//!    g. with flag 4, its metrics as protobuf (a u32 length and bytes), kept when the text
//!    cannot express them (native histograms).
//! 5. Kind 2, push failure: the time (f64) and the key. Kind 3, delete: the key. Kind 4, wipe.
//! 6. Replay applies the records in order. A file that ends inside a record, or in zeros from
//!    a record's start on, ends in a write a crash interrupted: it is cut there, with a
//!    warning. Any other damage stops the start, naming the offset; with
//!    `--persistence.recover-truncate` the part before it is kept and the rest moved to
//!    `<log>.corrupt`. A file without the header is not ours and is never touched.
//! 7. Compaction writes the live state as kind 1 and 2 records to `<log>.compact.tmp`, then
//!    renames it over the log (see `compact`).
//! 8. Version 2 differs only in having no time to live in a change (every group had the
//!    default); version 1 also in the flags of 4c, which could only be 0 or 1 (a help byte).
//!    An older log is replayed, then rewritten in the current version before anything is
//!    appended.
//!
//! Durability: the records of one reactor turn are written with one write(2) at the end of
//! the turn, before any of its responses leave (as redis flushes its AOF buffer before
//! replying), so a crash of the process loses nothing acknowledged. `--persistence.fsync`
//! says when they reach the disk: `always` fsyncs right after that write, still before the
//! responses (a group commit); `everysec` at most about a second later, on a helper thread;
//! `never` leaves it to the kernel. Shutdown always fsyncs.
//!
//! When that write or fsync fails, the turn's responses become 503s (see
//! `Service::committed`), and the file no longer reliably holds what the store holds. The log
//! then refuses appends (pushes and `/-/ready` answer 503) and retries, with backoff, a
//! compaction: it rewrites the whole store into a fresh file, and once one succeeds the log
//! is whole again. The mutations answered 503 that way stay in memory and that rewrite makes
//! them durable: a 503 means "outcome unknown, retry", and a retried push sets the same
//! state.

mod compact;
mod disk;
mod mailbox;
mod open;
mod record;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::Fsync;
use crate::log::Logger;
use crate::store::{Mutation, Store};
use compact::{Compaction, Dual, Job, Report};
use disk::{Disk, Syncer};

/// Compact when the log has grown to this many times its size after the last compaction...
const GROWTH_FACTOR: u64 = 2;
/// ...and by at least this much.
const MIN_GROWTH: u64 = 16 << 20;
/// How long to wait before retrying a compaction that failed while the log was fine.
const COMPACTION_RETRY: Duration = Duration::from_secs(30);
/// Backoff between attempts to rewrite a broken log.
const REPAIR_FIRST: Duration = Duration::from_millis(250);
const REPAIR_MAX: Duration = Duration::from_secs(4);
const EVERYSEC: Duration = Duration::from_secs(1);
/// Upper bounds of the fsync latency histogram, in seconds.
pub const FSYNC_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

#[derive(Clone, Debug)]
pub struct Options {
    pub path: PathBuf,
    pub fsync: Fsync,
    /// Time between compactions; zero for none but those the log's growth calls for.
    pub interval: Duration,
    /// Start with the intact part of a damaged log, moving the rest aside.
    pub recover_truncate: bool,
}

/// The log could not take a mutation: answer 503 and leave the store as it is.
#[derive(Debug, PartialEq, Eq)]
pub struct Unavailable;

/// Numbers about the log, for the gateway's own metrics.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub log_bytes: u64,
    pub records_since_compaction: u64,
    /// Unix seconds; 0 before the first compaction.
    pub last_compaction_time: f64,
    pub last_compaction_seconds: f64,
    /// Per bucket of [`FSYNC_BUCKETS`] (not cumulative), then sum and count.
    pub fsync_buckets: [u64; FSYNC_BUCKETS.len()],
    pub fsync_sum: f64,
    pub fsync_count: u64,
    pub write_errors: u64,
    pub fsync_errors: u64,
    pub writable: bool,
}

impl Stats {
    fn observe_fsync(&mut self, took: Duration) {
        let s = took.as_secs_f64();
        if let Some(i) = FSYNC_BUCKETS.iter().position(|&b| s <= b) {
            self.fsync_buckets[i] += 1;
        }
        self.fsync_sum += s;
        self.fsync_count += 1;
    }
}

/// The log can no longer be trusted; a full rewrite is due.
struct Broken {
    /// When to try again; `None` for as soon as possible.
    retry_at: Option<Instant>,
    backoff: Duration,
}

pub struct Persist {
    opts: Options,
    log: Logger,
    disk: Disk,
    file: Arc<File>,
    /// Records of this turn, written at its end.
    pending: Vec<u8>,
    /// End of the last complete record, here and (for the compaction helper) shared.
    len: u64,
    shared_len: Arc<AtomicU64>,
    /// Records written since the last fsync was started.
    unsynced: bool,
    last_sync: Instant,
    syncer: Option<Syncer>,
    compaction: Option<Compaction>,
    /// The last compaction's thread, until it has exited: the next one reuses its file name.
    previous: Option<JoinHandle<()>>,
    next_compaction: Option<Instant>,
    /// No compaction starts before this (after a failed one).
    not_before: Instant,
    /// The log's length after the last compaction (or at start): growth is measured from it.
    base_len: u64,
    broken: Option<Broken>,
    stats: Stats,
    /// Held for the life of the process: two gateways appending to one log would corrupt it.
    _lock: File,
}

/// Takes the exclusive lock on `<log>.lock`, a file of its own because compaction replaces
/// the log itself (and a lock on the old inode would go with it).
fn lock(path: &std::path::Path) -> Result<File, String> {
    let lock_path = path.with_file_name(format!(
        "{}.lock",
        path.file_name()
            .map_or("log".into(), |n| n.to_string_lossy())
    ));
    if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create directory {}: {e}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open lock file {}: {e}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "{} is in use by another process (it holds {}); stop it or choose another \
             --persistence.file",
            path.display(),
            lock_path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(format!("cannot lock {}: {e}", lock_path.display()))
        }
    }
}

impl Persist {
    /// Opens or creates the log and replays it into `store`. The error is a complete message
    /// for the operator (damage, a foreign file, I/O trouble).
    pub fn open(opts: Options, store: &mut Store, log: Logger) -> Result<Persist, String> {
        let started = Instant::now();
        let lock = lock(&opts.path)?;
        let opened = open::open(&opts, store, &log)?;
        log.info(
            "replayed the persistence log",
            &[
                ("file", &opts.path.display()),
                ("records", &opened.records),
                ("groups", &store.group_count()),
                ("bytes", &opened.len),
                ("seconds", &started.elapsed().as_secs_f64()),
            ],
        );
        let disk = Disk::default();
        let syncer = match opts.fsync {
            Fsync::EverySec => Some(
                Syncer::start(disk.clone()).map_err(|e| format!("cannot start a thread: {e}"))?,
            ),
            Fsync::Always | Fsync::Never => None,
        };
        let now = Instant::now();
        Ok(Persist {
            next_compaction: (!opts.interval.is_zero()).then(|| now + opts.interval),
            opts,
            log,
            disk,
            file: Arc::new(opened.file),
            pending: Vec::new(),
            len: opened.len,
            shared_len: Arc::new(AtomicU64::new(opened.len)),
            unsynced: false,
            last_sync: now,
            syncer,
            compaction: None,
            previous: None,
            not_before: now,
            base_len: opened.len,
            broken: None,
            stats: Stats {
                records_since_compaction: opened.records,
                ..Stats::default()
            },
            _lock: lock,
        })
    }

    /// Queues a mutation for the log. Call before applying it to the store; on `Err` (the log
    /// is broken) answer 503 and do not apply it. The next [`Persist::turn`] writes it, before
    /// any response of this turn leaves.
    pub fn append(&mut self, mutation: &Mutation) -> Result<(), Unavailable> {
        if self.broken.is_some() {
            return Err(Unavailable);
        }
        record::encode(mutation, &mut self.pending);
        self.stats.records_since_compaction += 1;
        Ok(())
    }

    /// Once per reactor turn, before responses are written: writes the turn's records, the
    /// group commit under `always`, the periodic fsync under `everysec`, and compaction
    /// work. Returns `false` when this turn's records could not be written (or, under
    /// `always`, made durable): the turn's acknowledgements must not go out.
    pub fn turn(&mut self, now: Instant, store: &Store) -> bool {
        let committed = self.write_pending() && self.sync_turn(now);
        if let Some(c) = &mut self.compaction {
            c.feed(store);
        }
        while let Some(report) = self.compaction.as_mut().and_then(Compaction::poll) {
            self.on_report(report, now);
        }
        if self.compaction.is_none() && self.compaction_due(now) {
            self.start_compaction(now);
        }
        committed
    }

    /// Whether the next turn has work even without requests: a compaction's snapshot is
    /// taken one piece per turn.
    pub fn busy(&self) -> bool {
        self.compaction
            .as_ref()
            .is_some_and(Compaction::snapshotting)
    }

    /// Whether the log takes mutations (for `/-/ready`).
    pub fn ready(&self) -> bool {
        self.broken.is_none()
    }

    pub fn stats(&self) -> Stats {
        Stats {
            log_bytes: self.len,
            writable: self.broken.is_none(),
            ..self.stats.clone()
        }
    }

    /// Shutdown: lets a compaction that is being installed finish (an earlier one is dropped),
    /// then makes everything durable: an fsync, or a full rewrite if the log was broken.
    pub fn close(mut self, store: &Store) -> Result<(), String> {
        if let Some(mut c) = self.compaction.take() {
            if c.dual.is_some() {
                let report = c.wait();
                self.compaction = Some(c);
                self.on_report(report, Instant::now());
            } else {
                self.previous = Some(c.abort());
            }
        }
        if let Some(t) = self.previous.take() {
            let _ = t.join();
        }
        self.write_pending();
        if let Some((Err(e), _)) = self.syncer.take().and_then(Syncer::stop) {
            self.break_down("fsync", &e);
        }
        let path = self.opts.path.display();
        if self.broken.is_some() {
            compact::rewrite(&self.opts.path, store, &self.disk)
                .map_err(|e| format!("cannot rewrite the persistence log {path}: {e}"))?;
        } else {
            self.disk
                .sync(&self.file)
                .map_err(|e| format!("cannot fsync the persistence log {path}: {e}"))?;
        }
        Ok(())
    }

    fn dual_mut(&mut self) -> Option<&mut Dual> {
        self.compaction.as_mut().and_then(|c| c.dual.as_mut())
    }

    /// Writes the records queued during this turn, with one write(2) per file.
    fn write_pending(&mut self) -> bool {
        if self.pending.is_empty() {
            return true;
        }
        let mut result = self.disk.write_all(&self.file, &self.pending);
        if let (Ok(()), Some(dual)) = (&result, self.dual_mut()) {
            // While a compaction is being installed, its file must see every record too.
            let file = dual.file.clone();
            result = self.disk.write_all(&file, &self.pending);
            if result.is_ok() {
                self.dual_mut().expect("checked").len += self.pending.len() as u64;
            }
        }
        let written = self.pending.len() as u64;
        self.pending.clear();
        if self.pending.capacity() > 1 << 20 {
            // A huge push went through: do not keep its buffer for good.
            self.pending = Vec::new();
        }
        match result {
            Ok(()) => {
                self.len += written;
                self.shared_len.store(self.len, Ordering::SeqCst);
                self.unsynced = true;
                true
            }
            Err(e) => {
                self.stats.write_errors += 1;
                self.break_down("write", &e);
                false
            }
        }
    }

    fn sync_turn(&mut self, now: Instant) -> bool {
        match self.opts.fsync {
            Fsync::Always => {
                if !self.unsynced {
                    return true;
                }
                self.unsynced = false;
                let t = Instant::now();
                let mut result = self.disk.sync(&self.file);
                if let (Ok(()), Some(dual)) = (&result, self.dual_mut()) {
                    let file = dual.file.clone();
                    result = self.disk.sync(&file);
                }
                self.stats.observe_fsync(t.elapsed());
                if let Err(e) = result {
                    self.stats.fsync_errors += 1;
                    self.break_down("fsync", &e);
                    return false;
                }
                true
            }
            Fsync::EverySec => {
                let Some(syncer) = &mut self.syncer else {
                    return true;
                };
                if let Some((result, took)) = syncer.poll() {
                    self.stats.observe_fsync(took);
                    if let Err(e) = result {
                        self.stats.fsync_errors += 1;
                        self.break_down("fsync", &e);
                    }
                }
                let syncer = self.syncer.as_mut().expect("checked above");
                let due = now.saturating_duration_since(self.last_sync) >= EVERYSEC;
                if self.unsynced && due && !syncer.busy() && self.broken.is_none() {
                    let mut files = vec![self.file.clone()];
                    files.extend(
                        self.compaction
                            .as_ref()
                            .and_then(|c| c.dual.as_ref())
                            .map(|d| d.file.clone()),
                    );
                    syncer.request(files);
                    self.unsynced = false;
                    self.last_sync = now;
                }
                true
            }
            Fsync::Never => true,
        }
    }

    /// A write or fsync failed: refuse appends until a rewrite of the whole log succeeds.
    fn break_down(&mut self, op: &str, e: &std::io::Error) {
        if self.broken.is_none() {
            self.log.error(
                "cannot write the persistence log; answering 503 to changes until it has \
                 been rewritten",
                &[("file", &self.opts.path.display()), ("op", &op), ("err", e)],
            );
            self.broken = Some(Broken {
                retry_at: None,
                backoff: REPAIR_FIRST,
            });
        }
        // A compaction that copies from this file cannot trust it either.
        if let Some(c) = self.compaction.take() {
            self.previous = Some(c.abort());
        }
    }

    fn compaction_due(&mut self, now: Instant) -> bool {
        if let Some(t) = &self.previous {
            if !t.is_finished() {
                return false;
            }
            let _ = self.previous.take().map(JoinHandle::join);
        }
        if let Some(b) = &self.broken {
            return b.retry_at.is_none_or(|t| now >= t);
        }
        let grown = self.len >= self.base_len.saturating_mul(GROWTH_FACTOR)
            && self.len - self.base_len >= MIN_GROWTH;
        let timer = self.next_compaction.is_some_and(|t| now >= t);
        now >= self.not_before && (grown || timer)
    }

    fn start_compaction(&mut self, now: Instant) {
        let job = Job {
            path: self.opts.path.clone(),
            old: self.file.clone(),
            from: self.len,
            committed: self.shared_len.clone(),
            disk: self.disk.clone(),
        };
        match Compaction::start(job, now) {
            Ok(c) => self.compaction = Some(c),
            Err(e) => self.compaction_failed(now, &e),
        }
    }

    fn on_report(&mut self, report: Report, now: Instant) {
        match report {
            Report::CaughtUp { file, copied } => {
                // The rest of the old log, appended since the helper last looked.
                let mut tail = vec![0u8; (self.len - copied) as usize];
                let result = self
                    .file
                    .read_exact_at(&mut tail, copied)
                    .and_then(|()| self.disk.write_all(&file, &tail))
                    .and_then(|()| file.metadata());
                match result {
                    Ok(meta) => {
                        let dual = Dual {
                            file,
                            len: meta.len(),
                        };
                        self.compaction.as_mut().expect("reporting").hand_off(dual);
                    }
                    Err(e) => {
                        let c = self.compaction.take().expect("reporting");
                        self.previous = Some(c.abort());
                        self.compaction_failed(now, &e);
                    }
                }
            }
            Report::Installed {
                dir_synced,
                snapshot_bytes,
            } => {
                let mut c = self.compaction.take().expect("reporting");
                let dual = c.dual.take().expect("installed after the handoff");
                let seconds = now.saturating_duration_since(c.started).as_secs_f64();
                let old = std::mem::replace(&mut self.file, dual.file);
                self.previous = Some(c.release(old));
                self.len = dual.len;
                self.shared_len.store(self.len, Ordering::SeqCst);
                self.base_len = self.len;
                self.next_compaction =
                    (!self.opts.interval.is_zero()).then(|| now + self.opts.interval);
                self.stats.records_since_compaction = 0;
                self.stats.last_compaction_seconds = seconds;
                self.stats.last_compaction_time = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                self.log.debug(
                    "compacted the persistence log",
                    &[
                        ("bytes", &self.len),
                        ("snapshot_bytes", &snapshot_bytes),
                        ("seconds", &seconds),
                    ],
                );
                match dir_synced {
                    Err(e) => {
                        self.stats.fsync_errors += 1;
                        self.break_down("fsync", &e);
                    }
                    Ok(()) if self.broken.take().is_some() => {
                        self.log.info(
                            "the persistence log is writable again",
                            &[("file", &self.opts.path.display())],
                        );
                    }
                    Ok(()) => {}
                }
            }
            Report::Failed(e) => {
                let c = self.compaction.take().expect("reporting");
                self.previous = Some(c.into_thread());
                self.compaction_failed(now, &e);
            }
        }
    }

    fn compaction_failed(&mut self, now: Instant, e: &std::io::Error) {
        self.log.warn(
            "compacting the persistence log failed",
            &[("file", &self.opts.path.display()), ("err", e)],
        );
        match &mut self.broken {
            Some(b) => {
                b.retry_at = Some(now + b.backoff);
                b.backoff = (b.backoff * 2).min(REPAIR_MAX);
            }
            None => self.not_before = now + COMPACTION_RETRY,
        }
    }
}
