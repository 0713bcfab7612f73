//! The log's way to the disk: writes and fsyncs (through one seam that tests use to make them
//! fail), the directory fsync that makes a rename durable, and the background fsync thread of
//! the `everysec` policy.
//!
//! Owns no policy: `persist` decides when to write and when to sync.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::mailbox::{self, Receiver, Sender, TryRecvError};

/// Every write and fsync of log files goes through here.
#[derive(Clone, Default)]
pub(crate) struct Disk {
    /// Lets tests make writes and fsyncs fail on demand.
    #[cfg(test)]
    pub(crate) faults: Arc<faults::Faults>,
}

impl Disk {
    pub(super) fn write_all(&self, file: &File, buf: &[u8]) -> io::Result<()> {
        #[cfg(test)]
        self.faults.check(faults::Op::Write)?;
        (&*file).write_all(buf)
    }

    /// Makes the file's data (and its length) durable.
    pub(super) fn sync(&self, file: &File) -> io::Result<()> {
        #[cfg(test)]
        self.faults.check(faults::Op::Sync)?;
        file.sync_data()
    }

    /// Makes a rename or creation inside `path`'s directory durable.
    pub(super) fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        self.sync(&File::open(dir)?)
    }
}

/// A thread that fsyncs on request, so a slow disk delays durability, never the event loop.
pub(crate) struct Syncer {
    requests: Option<Sender<Vec<Arc<File>>>>,
    results: Receiver<(io::Result<()>, Duration)>,
    busy: bool,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    pub(super) fn start(disk: Disk) -> io::Result<Syncer> {
        let (requests, jobs) = mailbox::channel::<Vec<Arc<File>>>();
        let (done, results) = mailbox::channel();
        let thread = thread::Builder::new()
            .name("pushgate-fsync".into())
            .spawn(move || {
                while let Ok(files) = jobs.recv() {
                    let t = Instant::now();
                    let r = files.iter().try_for_each(|f| disk.sync(f));
                    if done.send((r, t.elapsed())).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Syncer {
            requests: Some(requests),
            results,
            busy: false,
            thread: Some(thread),
        })
    }

    /// Whether an fsync is under way.
    pub(super) fn busy(&self) -> bool {
        self.busy
    }

    /// Starts an fsync of `files` (one at a time: call only when not busy).
    pub(super) fn request(&mut self, files: Vec<Arc<File>>) {
        if let Some(tx) = &self.requests {
            // A dead thread shows up in `poll` as an error.
            let _ = tx.send(files);
            self.busy = true;
        }
    }

    /// The outcome of the last request, once it is done.
    pub(super) fn poll(&mut self) -> Option<(io::Result<()>, Duration)> {
        match self.results.try_recv() {
            Ok(r) => {
                self.busy = false;
                Some(r)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Closed) if self.busy => {
                self.busy = false;
                Some((Err(io::Error::other("fsync thread died")), Duration::ZERO))
            }
            Err(TryRecvError::Closed) => None,
        }
    }

    /// Waits for the request in flight, then stops the thread.
    pub(super) fn stop(mut self) -> Option<(io::Result<()>, Duration)> {
        self.requests = None;
        let last = if self.busy {
            self.results.recv().ok()
        } else {
            None
        };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        last
    }
}

#[cfg(test)]
pub(crate) mod faults {
    use std::io;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Clone, Copy)]
    pub enum Op {
        Write,
        Sync,
    }

    /// Switches that make every write or fsync fail until turned off again.
    #[derive(Default)]
    pub struct Faults {
        pub write: AtomicBool,
        pub sync: AtomicBool,
    }

    impl Faults {
        pub fn check(&self, op: Op) -> io::Result<()> {
            let (flag, errno) = match op {
                Op::Write => (&self.write, libc::ENOSPC),
                Op::Sync => (&self.sync, libc::EIO),
            };
            if flag.load(Ordering::SeqCst) {
                Err(io::Error::from_raw_os_error(errno))
            } else {
                Ok(())
            }
        }
    }
}
