//! Opening the log at start-up: creating it, recognizing it, replaying it into the store,
//! cutting off a torn tail, and refusing (or, when asked, setting aside) anything damaged.
//!
//! Runs before the listener is bound, so nothing here competes with requests. Owns every
//! start-up message about the log: an operator reading one must learn what happened and
//! what to do.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::compact::{self, tmp_path};
use super::disk::Disk;
use super::record::{file_header, header_of, Next, Reader, FILE_HEADER_LEN, MAGIC, VERSION};
use super::Options;
use crate::log::Logger;
use crate::store::Store;

/// The log, ready for appending.
pub(super) struct Opened {
    pub file: File,
    pub len: u64,
    pub records: u64,
}

/// Opens (or creates) the log and replays it into `store`. The error is the whole message
/// for the operator.
pub(super) fn open(opts: &Options, store: &mut Store, log: &Logger) -> Result<Opened, String> {
    let path = &opts.path;
    let shown = path.display();
    let ctx = |what: &str, e: io::Error| format!("{what} {shown}: {e}");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| ctx("cannot create the directory of", e))?;
    }
    let tmp = tmp_path(path);
    match fs::remove_file(&tmp) {
        Ok(()) => log.info(
            "removed the leftover of an interrupted compaction",
            &[("file", &tmp.display())],
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(ctx("cannot remove the leftover compaction file of", e)),
    }
    let disk = Disk::default();
    let mut file = match OpenOptions::new().read(true).append(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .create_new(true)
                .open(path)
                .map_err(|e| ctx("cannot create", e))?;
            start_log(&file, &disk).map_err(|e| ctx("cannot initialize", e))?;
            disk.sync_dir(path)
                .map_err(|e| ctx("cannot fsync the directory of", e))?;
            log.info("created a new persistence log", &[("file", &shown)]);
            return Ok(Opened {
                file,
                len: FILE_HEADER_LEN as u64,
                records: 0,
            });
        }
        Err(e) => return Err(ctx("cannot open", e)),
    };
    let len = file.metadata().map_err(|e| ctx("cannot stat", e))?.len();
    let mut header = vec![0u8; FILE_HEADER_LEN.min(len as usize)];
    file.read_exact(&mut header)
        .map_err(|e| ctx("cannot read", e))?;
    if len < FILE_HEADER_LEN as u64 {
        if (1..=VERSION).any(|v| header_of(v).starts_with(&header)) {
            // A crash while the log was being created: there is nothing in it yet.
            file.set_len(0).map_err(|e| ctx("cannot reset", e))?;
            start_log(&file, &disk).map_err(|e| ctx("cannot initialize", e))?;
            return Ok(Opened {
                file,
                len: FILE_HEADER_LEN as u64,
                records: 0,
            });
        }
        return Err(foreign(path));
    }
    if &header[..8] != MAGIC {
        return Err(foreign(path));
    }
    let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    if header != header_of(version) {
        return Err(format!(
            "{shown}: the log header is damaged (checksum mismatch); refusing to start. \
             Move the file away to start with an empty gateway."
        ));
    }
    if !(1..=VERSION).contains(&version) {
        return Err(format!(
            "{shown} is a pushgate log of format version {version}, which this build \
             (format versions 1 to {VERSION}) cannot read; refusing to start so that it is \
             not overwritten"
        ));
    }
    let mut reader = Reader::new(
        BufReader::with_capacity(1 << 20, &file),
        version,
        FILE_HEADER_LEN as u64,
        len,
    );
    let mut records = 0u64;
    let end = loop {
        match reader.next().map_err(|e| ctx("cannot read", e))? {
            Next::Record => {
                store.mutate(reader.record());
                records += 1;
            }
            other => break other,
        }
    };
    let good = reader.offset();
    drop(reader);
    match end {
        Next::Record | Next::End => {}
        Next::Torn(why) => {
            log.warn(
                "the log ends in an incomplete record, as a crash leaves it; cutting it off \
                 (it was never acknowledged)",
                &[
                    ("file", &shown),
                    ("offset", &good),
                    ("bytes", &(len - good)),
                    ("reason", &why),
                ],
            );
            cut(&file, good, &disk).map_err(|e| ctx("cannot truncate", e))?;
        }
        Next::Corrupt(why) if opts.recover_truncate => {
            let aside = set_aside(&mut file, path, good, &disk)
                .map_err(|e| ctx("cannot move the damaged part aside of", e))?;
            log.warn(
                "the log is damaged; kept the intact part and moved the rest aside",
                &[
                    ("file", &shown),
                    ("offset", &good),
                    ("reason", &why),
                    ("moved_bytes", &(len - good)),
                    ("moved_to", &aside.display()),
                ],
            );
        }
        Next::Corrupt(why) => {
            return Err(format!(
                "{shown} is damaged at byte offset {good}: {why}. The {good} bytes before \
                 it ({records} records) are intact; the {} bytes from there on cannot be \
                 trusted. Nothing was changed and the gateway did not start. To start with \
                 the intact part, run once with --persistence.recover-truncate: the rest is \
                 then moved to a .corrupt file next to the log (never deleted).",
                len - good
            ));
        }
    }
    if version != VERSION {
        // Appending records of the current format to an older file would mix formats: the
        // file is rewritten first, as a compaction does (a crash leaves either whole file).
        compact::rewrite(path, store, &disk).map_err(|e| ctx("cannot upgrade", e))?;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(|e| ctx("cannot open", e))?;
        let len = file.metadata().map_err(|e| ctx("cannot stat", e))?.len();
        log.info(
            "rewrote the persistence log in the current format",
            &[
                ("file", &shown),
                ("from_version", &version),
                ("to_version", &VERSION),
            ],
        );
        return Ok(Opened { file, len, records });
    }
    Ok(Opened {
        file,
        len: good,
        records,
    })
}

fn foreign(path: &Path) -> String {
    format!(
        "{} exists but is not a pushgate log (it lacks the {:?} header; an upstream \
         Pushgateway snapshot looks like this). Refusing to start so that it is not \
         overwritten: move it away or choose another --persistence.file.",
        path.display(),
        String::from_utf8_lossy(MAGIC)
    )
}

fn start_log(file: &File, disk: &Disk) -> io::Result<()> {
    disk.write_all(file, &file_header())?;
    disk.sync(file)
}

fn cut(file: &File, len: u64, disk: &Disk) -> io::Result<()> {
    file.set_len(len)?;
    disk.sync(file)
}

/// Copies `file[from..]` to a new `<log>.corrupt` (or `.corrupt.N`), durably, then cuts the
/// log there. Returns the new file's name.
fn set_aside(file: &mut File, path: &Path, from: u64, disk: &Disk) -> io::Result<PathBuf> {
    let mut n = 0;
    let (aside_path, mut aside) = loop {
        let mut name = path.as_os_str().to_owned();
        name.push(".corrupt");
        if n > 0 {
            name.push(format!(".{n}"));
        }
        let candidate = PathBuf::from(name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(f) => break (candidate, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(e),
        }
    };
    file.seek(SeekFrom::Start(from))?;
    io::copy(file, &mut aside)?;
    aside.flush()?;
    disk.sync(&aside)?;
    disk.sync_dir(&aside_path)?;
    cut(file, from, disk)?;
    Ok(aside_path)
}
