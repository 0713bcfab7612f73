//! Compaction: rewriting the log as the live state, on a helper thread, while the event loop
//! goes on appending.
//!
//! The steps, and who takes them:
//! 1. The loop notes the log length `S` and takes a snapshot of the store in pieces of
//!    [`CHUNK`] items per turn ([`Store::snapshot`]), sending each piece to the helper.
//! 2. The helper writes the snapshot as records to `<log>.compact.tmp`: every family member
//!    in push order (so the newest HELP still wins after replay), merged per group into one
//!    change record, then failure times and empty groups.
//! 3. It copies what the loop appended to the old log since `S` (never past the end of the
//!    last complete record, which the loop publishes), until little is left, and fsyncs.
//! 4. The loop copies the rest ([`Report::CaughtUp`]) and from then on appends every record
//!    to both files ([`Dual`]).
//! 5. The helper fsyncs the new file, renames it over the log and fsyncs the directory
//!    ([`Report::Installed`]); the loop switches to it.
//!
//! Why pieces taken at different times add up: every record *sets* what it touches (a whole
//! group, some of its families, a timestamp), so a record applied over a state that already
//! reflects it changes nothing, and whatever changed after `S` is set once more, in order, by
//! the records copied after the snapshot. A crash at any point leaves a complete log under
//! the log's name: the old one until the rename, the new one after. The temporary file is
//! removed on the next start.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use super::disk::Disk;
use super::mailbox::{self, Receiver, Sender, TryRecvError};
use super::record::{encode_change, encode_failure, file_header, FamilyRef};
use crate::store::key::GroupingKey;
use crate::store::{SnapshotCursor, SnapshotItem, SnapshotMember, Store};

/// Snapshot items taken per loop turn: well under a millisecond.
pub(super) const CHUNK: usize = 512;
/// The helper hands over to the loop once fewer bytes than this are left to copy.
const HANDOFF_SLACK: u64 = 256 * 1024;
/// Writes and copies go out in pieces of this size.
const IO_CHUNK: usize = 1 << 20;

/// Where a compaction writes before the rename.
pub(super) fn tmp_path(log: &Path) -> PathBuf {
    let mut s = log.as_os_str().to_owned();
    s.push(".compact.tmp");
    PathBuf::from(s)
}

/// What the helper needs to know.
pub(super) struct Job {
    pub path: PathBuf,
    /// The log being replaced; records appended from `from` on are copied over.
    pub old: Arc<File>,
    pub from: u64,
    /// End of the last complete record in `old`, kept current by the loop.
    pub committed: Arc<AtomicU64>,
    pub disk: Disk,
}

enum ToHelper {
    Chunk(Vec<SnapshotItem>),
    SnapshotDone,
    HandedOff,
    /// The loop's handle of the replaced log. Closing the last handle of an unlinked file
    /// frees its blocks, which takes a long while for a big log: the helper does it.
    Release(Arc<File>),
}

pub(super) enum Report {
    /// The new file holds the snapshot and the old log up to `copied`, durably; the loop
    /// copies the rest and appends to both files from now on.
    CaughtUp {
        file: Arc<File>,
        copied: u64,
    },
    /// The new file is the log now; if the directory fsync failed, the rename might not
    /// survive a power failure.
    Installed {
        dir_synced: io::Result<()>,
        snapshot_bytes: u64,
    },
    Failed(io::Error),
}

/// The new file while the loop appends to both.
pub(super) struct Dual {
    pub file: Arc<File>,
    pub len: u64,
}

/// The loop's side of a compaction in progress.
pub(super) struct Compaction {
    /// Set while the snapshot is being taken.
    cursor: Option<SnapshotCursor>,
    tx: Sender<ToHelper>,
    rx: Receiver<Report>,
    abort: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    pub started: Instant,
    pub dual: Option<Dual>,
}

impl Compaction {
    pub(super) fn start(job: Job, now: Instant) -> io::Result<Compaction> {
        let (tx, jobs) = mailbox::channel();
        let (reports, rx) = mailbox::channel();
        let abort = Arc::new(AtomicBool::new(false));
        let stop = abort.clone();
        let thread = thread::Builder::new()
            .name("pushgate-compact".into())
            .spawn(move || {
                let tmp = tmp_path(&job.path);
                let report = run(&job, &tmp, &jobs, &reports, &stop).unwrap_or_else(|e| {
                    let _ = fs::remove_file(&tmp);
                    Report::Failed(e)
                });
                let installed = matches!(report, Report::Installed { .. });
                if reports.send(report).is_ok() && installed {
                    if let Ok(ToHelper::Release(old)) = jobs.recv() {
                        drop(old);
                    }
                }
                // `job.old` goes here too, so the old log is closed on this thread.
            })?;
        Ok(Compaction {
            cursor: Some(SnapshotCursor::default()),
            tx,
            rx,
            abort,
            thread,
            started: now,
            dual: None,
        })
    }

    /// Sends the next piece of the snapshot while it is being taken.
    pub(super) fn feed(&mut self, store: &Store) {
        let Some(cursor) = &mut self.cursor else {
            return;
        };
        let mut items = Vec::with_capacity(CHUNK);
        let done = store.snapshot(cursor, CHUNK, &mut items);
        // A helper that is gone says why through `poll`.
        let _ = self.tx.send(ToHelper::Chunk(items));
        if done {
            let _ = self.tx.send(ToHelper::SnapshotDone);
            self.cursor = None;
        }
    }

    /// Whether the snapshot is still being taken.
    pub(super) fn snapshotting(&self) -> bool {
        self.cursor.is_some()
    }

    pub(super) fn poll(&mut self) -> Option<Report> {
        match self.rx.try_recv() {
            Ok(r) => Some(r),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Closed) => Some(Report::Failed(io::Error::other(
                "the compaction thread exited",
            ))),
        }
    }

    /// Waits for the helper's next report (used at shutdown, when it is about to finish).
    pub(super) fn wait(&mut self) -> Report {
        self.rx
            .recv()
            .unwrap_or_else(|_| Report::Failed(io::Error::other("the compaction thread exited")))
    }

    /// The loop has copied the rest and writes to both files now.
    pub(super) fn hand_off(&mut self, dual: Dual) {
        self.dual = Some(dual);
        let _ = self.tx.send(ToHelper::HandedOff);
    }

    /// Stops the helper, which removes its file unless it already renamed it; returns the
    /// thread so the next compaction can wait for it to be gone.
    pub(super) fn abort(self) -> JoinHandle<()> {
        self.abort.store(true, Ordering::SeqCst);
        self.thread
    }

    /// The helper's thread, after its final report.
    pub(super) fn into_thread(self) -> JoinHandle<()> {
        self.thread
    }

    /// After [`Report::Installed`]: hands the replaced log to the helper to close, and
    /// returns its thread.
    pub(super) fn release(self, old: Arc<File>) -> JoinHandle<()> {
        let _ = self.tx.send(ToHelper::Release(old));
        self.thread
    }
}

fn aborted() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "compaction aborted")
}

/// The helper thread's work; on error the caller removes the temporary file.
fn run(
    job: &Job,
    tmp: &Path,
    jobs: &Receiver<ToHelper>,
    reports: &Sender<Report>,
    abort: &AtomicBool,
) -> io::Result<Report> {
    let mut items = Vec::new();
    loop {
        match jobs.recv() {
            Ok(ToHelper::Chunk(c)) => items.extend(c),
            Ok(ToHelper::SnapshotDone) => break,
            Ok(ToHelper::HandedOff | ToHelper::Release(_)) | Err(_) => return Err(aborted()),
        }
    }
    let _ = fs::remove_file(tmp);
    // Readable too: once installed it is the log, which the next compaction copies from.
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .open(tmp)?;
    let snapshot_bytes = write_snapshot(&file, items, &job.disk, abort)?;
    let mut copied = job.from;
    loop {
        let end = job.committed.load(Ordering::SeqCst);
        copy(&job.old, copied, end, &file, &job.disk, abort)?;
        let progress = end - copied;
        copied = end;
        if progress < HANDOFF_SLACK {
            break;
        }
    }
    job.disk.sync(&file)?;
    let file = Arc::new(file);
    reports
        .send(Report::CaughtUp {
            file: file.clone(),
            copied,
        })
        .map_err(|_| aborted())?;
    match jobs.recv() {
        Ok(ToHelper::HandedOff) => {}
        _ => return Err(aborted()),
    }
    // What the loop copied and appended since the first fsync.
    job.disk.sync(&file)?;
    if abort.load(Ordering::SeqCst) {
        return Err(aborted());
    }
    fs::rename(tmp, &job.path)?;
    Ok(Report::Installed {
        dir_synced: job.disk.sync_dir(&job.path),
        snapshot_bytes,
    })
}

/// Copies `old[from..to]` to the end of `new`.
fn copy(
    old: &File,
    from: u64,
    to: u64,
    new: &File,
    disk: &Disk,
    abort: &AtomicBool,
) -> io::Result<()> {
    let mut buf = vec![0u8; IO_CHUNK.min((to - from) as usize)];
    let mut at = from;
    while at < to {
        if abort.load(Ordering::SeqCst) {
            return Err(aborted());
        }
        let n = buf.len().min((to - at) as usize);
        old.read_exact_at(&mut buf[..n], at)?;
        disk.write_all(new, &buf[..n])?;
        at += n as u64;
    }
    Ok(())
}

struct GroupState {
    key: GroupingKey,
    push_time: f64,
    failure_time: f64,
    ttl: Option<f64>,
    has_members: bool,
}

/// Writes the file header and the snapshot as records; returns the bytes written.
pub(super) fn write_snapshot(
    file: &File,
    items: Vec<SnapshotItem>,
    disk: &Disk,
    abort: &AtomicBool,
) -> io::Result<u64> {
    let mut groups = HashMap::new();
    let mut members = Vec::with_capacity(items.len());
    for item in items {
        match item {
            SnapshotItem::Group {
                group,
                push_time,
                failure_time,
                ttl,
            } => {
                let state = GroupState {
                    key: GroupingKey::from_canonical(&group),
                    push_time,
                    failure_time,
                    ttl,
                    has_members: false,
                };
                groups.insert(group, state);
            }
            SnapshotItem::Member(m) => members.push(m),
        }
    }
    members.sort_unstable_by_key(|m| m.seq);
    let mut out = Vec::with_capacity(IO_CHUNK + IO_CHUNK / 4);
    out.extend_from_slice(&file_header());
    let mut written = 0u64;
    let mut flush = |out: &mut Vec<u8>, last: bool| -> io::Result<()> {
        if out.len() >= IO_CHUNK || (last && !out.is_empty()) {
            if abort.load(Ordering::SeqCst) {
                return Err(aborted());
            }
            disk.write_all(file, out)?;
            written += out.len() as u64;
            out.clear();
        }
        Ok(())
    };
    // Runs of one group's members (one push, usually) become one record. A member whose
    // group was not seen was deleted while the snapshot was taken: a record copied after
    // the snapshot deletes it again, so it is left out.
    for run in members.chunk_by(|a, b| a.group == b.group) {
        let Some(g) = groups.get_mut(&run[0].group) else {
            continue;
        };
        g.has_members = true;
        let push_time = g.push_time;
        // A record's length has 32 bits, and one push always fits; a group grown past that by
        // many POSTs is written as several records, each adding some of its families, which
        // replay to the same group.
        for part in parts_within(run, RECORD_BUDGET) {
            let families = part.iter().map(|m| FamilyRef {
                name: &m.family,
                mtype: m.mtype,
                help: m.help.as_deref(),
                // A family the group got before its last push keeps its own time.
                time: (m.time != push_time).then_some(m.time),
                text: &m.text,
                native: m.native.as_deref(),
            });
            encode_change(&mut out, &g.key, false, (push_time, g.ttl), families);
            flush(&mut out, false)?;
        }
    }
    for g in groups.values() {
        if !g.has_members && (g.push_time != 0.0 || g.failure_time == 0.0) {
            encode_change(
                &mut out,
                &g.key,
                true,
                (g.push_time, g.ttl),
                std::iter::empty(),
            );
        }
        if g.failure_time != 0.0 {
            encode_failure(&mut out, &g.key, g.failure_time);
        }
        flush(&mut out, false)?;
    }
    flush(&mut out, true)?;
    Ok(written)
}

/// Most sample bytes one compacted record carries, well under the 4 GiB its length can say.
const RECORD_BUDGET: usize = 1 << 30;

/// `members` in consecutive parts of at most `budget` bytes of text and protobuf each, or of
/// one member where that alone is more.
fn parts_within(
    members: &[SnapshotMember],
    budget: usize,
) -> impl Iterator<Item = &[SnapshotMember]> {
    let size = |m: &SnapshotMember| m.text.len() + m.native.as_ref().map_or(0, |n| n.len());
    let mut rest = members;
    std::iter::from_fn(move || {
        let first = rest.first()?;
        let mut total = size(first);
        let mut end = 1;
        while let Some(m) = rest.get(end) {
            total += size(m);
            if total > budget {
                break;
            }
            end += 1;
        }
        let (part, after) = rest.split_at(end);
        rest = after;
        Some(part)
    })
}

/// Writes the whole store as a complete new log and installs it, all on the calling thread:
/// the last resort at shutdown when the log was broken, and the upgrade of an older format at
/// start.
pub(super) fn rewrite(path: &Path, store: &Store, disk: &Disk) -> io::Result<()> {
    let mut items = Vec::new();
    store.snapshot(&mut SnapshotCursor::default(), usize::MAX, &mut items);
    let tmp = tmp_path(path);
    let _ = fs::remove_file(&tmp);
    let install = || -> io::Result<()> {
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&tmp)?;
        write_snapshot(&file, items, disk, &AtomicBool::new(false))?;
        disk.sync(&file)?;
        fs::rename(&tmp, path)?;
        disk.sync_dir(path)
    };
    let result = install();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::model::MetricType;

    #[test]
    fn a_group_is_split_into_records_within_the_budget() {
        let member = |len: usize| SnapshotMember {
            group: Arc::from("g"),
            family: Arc::from("f"),
            mtype: MetricType::Gauge,
            help: None,
            text: vec![b'x'; len].into(),
            native: None,
            time: 0.0,
            seq: 0,
        };
        let run: Vec<SnapshotMember> = [4, 5, 1, 12, 3, 3, 3].map(member).into();
        let lens: Vec<Vec<usize>> = parts_within(&run, 10)
            .map(|p| p.iter().map(|m| m.text.len()).collect())
            .collect();
        assert_eq!(lens, [vec![4, 5, 1], vec![12], vec![3, 3, 3]]);
        assert_eq!(parts_within(&run, usize::MAX).count(), 1);
        assert_eq!(parts_within(&[], 10).count(), 0);
    }
}
