//! Replaying the persistence log (`persist::Persist::open`, through the record reader and
//! decoder). Any file is either refused, untouched, or opened into a store; a store so
//! opened opens the same again from what the open left on disk, and once more after a
//! compaction has rewritten the log from it.
//!
//! The first input byte picks the file's format version (or none, for a file taken as it
//! is) and whether a damaged log is recovered by truncation. The rest is a sequence of
//! pieces: a tag byte, a 16-bit length, and that many bytes, which are either a record body
//! framed with valid checksums (so the fuzzer reaches the decoder instead of the checksums)
//! or bytes appended as they are (torn tails, damage).
#![no_main]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use pushgate::config::{Fsync, LogFormat, LogLevel};
use pushgate::log::Logger;
use pushgate::persist::{Options, Persist};
use pushgate::store::Store;
use pushgate_fuzz::store_state;

/// A directory of this process's own, on tmpfs when there is one: every iteration writes
/// and renames files.
fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("pushgate-fuzz-replay-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    })
}

fn header(version: u32) -> Vec<u8> {
    let mut h = b"PUSHGLOG".to_vec();
    h.extend_from_slice(&version.to_le_bytes());
    h.extend_from_slice(&crc32c::crc32c(&h).to_le_bytes());
    h
}

fn file(data: &[u8]) -> Option<(Vec<u8>, bool)> {
    let (&flags, mut rest) = data.split_first()?;
    let recover = flags & 4 != 0;
    let mut out = match flags & 3 {
        0 => return Some((rest.to_vec(), recover)),
        v => header(u32::from(v)),
    };
    while let Some((&[tag, lo, hi], after)) = rest.split_first_chunk::<3>() {
        let n = usize::from(u16::from_le_bytes([lo, hi])).min(after.len());
        let (piece, after) = after.split_at(n);
        rest = after;
        if tag & 1 == 0 {
            let len = (piece.len() as u32).to_le_bytes();
            let body_crc = crc32c::crc32c(piece).to_le_bytes();
            let mut head = [len, body_crc].concat();
            head.extend_from_slice(&crc32c::crc32c(&head).to_le_bytes());
            out.extend_from_slice(&head);
        }
        out.extend_from_slice(piece);
    }
    Some((out, recover))
}

fn open(
    path: &Path,
    recover_truncate: bool,
    interval: Duration,
) -> Result<(Persist, Store), String> {
    let opts = Options {
        path: path.to_path_buf(),
        fsync: Fsync::Never,
        interval,
        recover_truncate,
    };
    let mut store = Store::new();
    let log = Logger::new(LogLevel::Error, LogFormat::Logfmt);
    let p = Persist::open(opts, &mut store, log)?;
    Ok((p, store))
}

fuzz_target!(|data: &[u8]| {
    let Some((bytes, recover)) = file(data) else {
        return;
    };
    let dir = dir();
    for entry in fs::read_dir(dir).expect("the scratch directory") {
        let _ = fs::remove_file(entry.expect("an entry").path());
    }
    let path = dir.join("log");
    fs::write(&path, &bytes).expect("writing the log");
    let never = Duration::ZERO;
    let (p, first) = match open(&path, recover, never) {
        Ok(opened) => opened,
        Err(_) => {
            let after = fs::read(&path).expect("the refused log");
            assert!(after == bytes, "a refused log was changed");
            return;
        }
    };
    let state = store_state(&first);
    p.close(&first).expect("closing");

    // What the open left (a cut tail, damage set aside, an upgrade) opens the same.
    let (mut p, again) = open(&path, false, Duration::from_millis(1))
        .unwrap_or_else(|e| panic!("the opened log does not open again: {e}"));
    assert_eq!(store_state(&again), state, "opened again");

    // Compacted, as the running gateway does it: its timer is due at once.
    let later = Instant::now() + Duration::from_secs(1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while p.stats().last_compaction_time == 0.0 {
        assert!(Instant::now() < deadline, "compaction did not finish");
        assert!(p.turn(later, &again), "the log could not be written");
        std::thread::yield_now();
    }
    p.close(&again).expect("closing");
    let (_, compacted) = open(&path, false, never)
        .unwrap_or_else(|e| panic!("the compacted log does not open: {e}"));
    assert_eq!(store_state(&compacted), state, "compacted");
});
