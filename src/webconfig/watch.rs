//! Noticing that `--web.config.file`, or a certificate file it names, changed. Upstream reads
//! them afresh for every request and handshake; pushgate looks at their modification times
//! and sizes once a second (a few `stat` calls on the reactor thread) and reads them again only
//! when one changed, so passwords and renewed certificates apply without a restart.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::{load, Build, Pem, WebConfig};

/// How often the files are looked at.
const INTERVAL: Duration = Duration::from_secs(1);

/// A file's modification time and size; `None` while it cannot be read.
type Stamp = Option<(SystemTime, u64)>;

pub struct Watch {
    path: PathBuf,
    /// The configuration file and the files the last good configuration names, with their
    /// stamps when last looked at.
    files: Vec<(PathBuf, Stamp)>,
    next: Instant,
}

impl Watch {
    /// Watches `path`, whose contents are `web`.
    pub fn new(path: &Path, web: &WebConfig, now: Instant) -> Watch {
        Watch {
            path: path.to_path_buf(),
            files: stamped(files_of(path, web)),
            next: now + INTERVAL,
        }
    }

    /// Once something changed: the file read and checked afresh (for this `build`), or why it
    /// cannot be applied. A broken file is reported once, not every second; the next change
    /// is read again.
    pub fn poll(&mut self, now: Instant, build: Build) -> Option<Result<WebConfig, String>> {
        if now < self.next {
            return None;
        }
        self.next = now + INTERVAL;
        if self
            .files
            .iter()
            .all(|(file, stamp)| stamp_of(file) == *stamp)
        {
            return None;
        }
        let loaded = load(&self.path).and_then(|web| web.check_build(build).map(|()| web));
        self.files = match &loaded {
            Ok(web) => stamped(files_of(&self.path, web)),
            Err(_) => stamped(self.files.drain(..).map(|(file, _)| file).collect()),
        };
        Some(loaded)
    }
}

/// The configuration file and the certificate files it names. PEM given inline changes with
/// the configuration file itself.
fn files_of(path: &Path, web: &WebConfig) -> Vec<PathBuf> {
    let mut files = vec![path.to_path_buf()];
    if let Some(tls) = &web.tls {
        for pem in [Some(&tls.cert), Some(&tls.key), tls.client_ca.as_ref()] {
            if let Some(Pem::File(file)) = pem {
                files.push(file.clone());
            }
        }
    }
    files
}

fn stamped(files: Vec<PathBuf>) -> Vec<(PathBuf, Stamp)> {
    files
        .into_iter()
        .map(|file| {
            let stamp = stamp_of(&file);
            (file, stamp)
        })
        .collect()
}

/// Follows symbolic links, so a certificate swapped by relinking (as Kubernetes mounts
/// secrets) counts as changed.
fn stamp_of(file: &Path) -> Stamp {
    let meta = std::fs::metadata(file).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_read_once_and_broken_files_reported_once() {
        let dir = std::env::temp_dir().join(format!("pushgate-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("web.yml");
        let good = "http_server_config:\n  headers:\n    X-Frame-Options: deny\n";
        std::fs::write(&path, good).unwrap();
        let build = Build {
            tls: false,
            basic_auth: false,
        };
        let start = Instant::now();
        let mut watch = Watch::new(&path, &load(&path).unwrap(), start);
        let mut at = start;
        let mut tick = |watch: &mut Watch| {
            at += INTERVAL;
            watch.poll(at, build)
        };
        assert!(tick(&mut watch).is_none(), "nothing changed");
        std::fs::write(&path, format!("{good}    X-XSS-Protection: '1'\n")).unwrap();
        let web = tick(&mut watch).expect("a change").unwrap();
        assert_eq!(web.headers.len(), 2);
        assert!(tick(&mut watch).is_none(), "read once");
        std::fs::write(&path, "junk\n").unwrap();
        assert!(tick(&mut watch).expect("a change").is_err());
        assert!(tick(&mut watch).is_none(), "reported once");
        // Too soon: not looked at.
        std::fs::write(&path, good).unwrap();
        assert!(watch.poll(start, build).is_none());
        assert!(tick(&mut watch).expect("a change").is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
