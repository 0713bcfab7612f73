//! Log records: how one mutation is laid out on disk (see the format in `persist`), encoding
//! it, and reading records back with the checks that tell a torn tail from corruption.
//!
//! Owns bytes only: no file names, no policies. `Record::apply` is the single place where a
//! logged mutation meets the store, for the live path and for replay alike.

use std::io::{self, Read};

use crate::crc::crc32c;
use crate::key::GroupingKey;
use crate::model::{Label, MetricType};
use crate::store::{Change, RenderedFamily, Store};

pub const MAGIC: &[u8; 8] = b"PUSHGLOG";
pub const VERSION: u32 = 1;
pub const FILE_HEADER_LEN: usize = 16;
/// Length, body checksum, header checksum.
pub const RECORD_HEADER_LEN: usize = 12;

const KIND_CHANGE: u8 = 1;
const KIND_FAILURE: u8 = 2;
const KIND_DELETE: u8 = 3;
const KIND_WIPE: u8 = 4;

/// The 16 bytes every log starts with.
pub fn file_header() -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    let crc = crc32c(&h[..12]);
    h[12..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// One logged mutation.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// A successful push (PUT or POST), already rendered.
    Change(Change),
    /// A rejected push: the group gets its failure time.
    Failure {
        key: GroupingKey,
        now: f64,
    },
    Delete(GroupingKey),
    Wipe,
}

impl Record {
    /// Makes the mutation happen in the store, exactly as when it was first accepted.
    pub fn apply(self, store: &mut Store) {
        match self {
            Record::Change(change) => store.apply(change),
            Record::Failure { key, now } => store.record_failure(&key, now),
            Record::Delete(key) => {
                store.delete(&key);
            }
            Record::Wipe => store.wipe(),
        }
    }

    /// Appends the framed record to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Record::Change(c) => encode_change(
                out,
                &c.key,
                c.replace,
                c.now,
                c.families.iter().map(|f| FamilyRef {
                    name: &f.name,
                    mtype: f.mtype,
                    help: f.help.as_deref(),
                    text: &f.text,
                }),
            ),
            Record::Failure { key, now } => encode_failure(out, key, *now),
            Record::Delete(key) => {
                let start = begin(out, KIND_DELETE);
                put_key(out, key);
                finish(out, start);
            }
            Record::Wipe => {
                let start = begin(out, KIND_WIPE);
                finish(out, start);
            }
        }
    }
}

/// A family to encode, borrowed from wherever it lives (a push, or a store snapshot).
pub struct FamilyRef<'a> {
    pub name: &'a str,
    pub mtype: MetricType,
    pub help: Option<&'a str>,
    pub text: &'a [u8],
}

/// Appends a framed change record without first building an owned [`Change`].
pub fn encode_change<'a>(
    out: &mut Vec<u8>,
    key: &GroupingKey,
    replace: bool,
    now: f64,
    families: impl IntoIterator<Item = FamilyRef<'a>>,
) {
    let start = begin(out, KIND_CHANGE);
    out.push(replace as u8);
    out.extend_from_slice(&now.to_le_bytes());
    put_key(out, key);
    let count_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut count = 0u32;
    for f in families {
        put_str(out, f.name);
        out.push(type_code(f.mtype));
        match f.help {
            Some(h) => {
                out.push(1);
                put_str(out, h);
            }
            None => out.push(0),
        }
        put_bytes(out, f.text);
        count += 1;
    }
    out[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
    finish(out, start);
}

/// Appends a framed failure record.
pub fn encode_failure(out: &mut Vec<u8>, key: &GroupingKey, now: f64) {
    let start = begin(out, KIND_FAILURE);
    out.extend_from_slice(&now.to_le_bytes());
    put_key(out, key);
    finish(out, start);
}

/// Reserves the record header and writes the kind; returns where the record starts.
fn begin(out: &mut Vec<u8>, kind: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER_LEN]);
    out.push(kind);
    start
}

/// Fills in the header of the record that starts at `start` and runs to the end of `out`.
fn finish(out: &mut [u8], start: usize) {
    let body_len = out.len() - start - RECORD_HEADER_LEN;
    let len = u32::try_from(body_len).expect("record under 4 GiB (bodies are capped far lower)");
    let body_crc = crc32c(&out[start + RECORD_HEADER_LEN..]);
    let head = &mut out[start..start + RECORD_HEADER_LEN];
    head[..4].copy_from_slice(&len.to_le_bytes());
    head[4..8].copy_from_slice(&body_crc.to_le_bytes());
    let head_crc = crc32c(&head[..8]);
    head[8..].copy_from_slice(&head_crc.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let len = u32::try_from(b.len()).expect("field under 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(b);
}

fn put_key(out: &mut Vec<u8>, key: &GroupingKey) {
    let n = u16::try_from(key.labels.len()).expect("URL paths hold far fewer labels");
    out.extend_from_slice(&n.to_le_bytes());
    for l in &key.labels {
        put_str(out, &l.name);
        put_str(out, &l.value);
    }
}

/// Stable on-disk codes, independent of the enum's declaration order.
fn type_code(t: MetricType) -> u8 {
    match t {
        MetricType::Counter => 0,
        MetricType::Gauge => 1,
        MetricType::Summary => 2,
        MetricType::Histogram => 3,
        MetricType::Untyped => 4,
    }
}

fn type_from_code(c: u8) -> Option<MetricType> {
    Some(match c {
        0 => MetricType::Counter,
        1 => MetricType::Gauge,
        2 => MetricType::Summary,
        3 => MetricType::Histogram,
        4 => MetricType::Untyped,
        _ => return None,
    })
}

/// Reads the fields of one record body.
struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn f64(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn string(&mut self) -> Option<String> {
        Some(std::str::from_utf8(self.bytes()?).ok()?.to_owned())
    }

    fn key(&mut self) -> Option<GroupingKey> {
        let n = self.u16()?;
        let mut labels = Vec::with_capacity(n as usize);
        for _ in 0..n {
            labels.push(Label {
                name: self.string()?,
                value: self.string()?,
            });
        }
        Some(GroupingKey { labels })
    }
}

/// Decodes a record body whose checksum already matched. `None` when it does not parse: an
/// unknown kind (a newer format) or a writer bug, either way not something to guess about.
fn decode(body: &[u8]) -> Option<Record> {
    let mut f = Fields { buf: body };
    let record = match f.u8()? {
        KIND_CHANGE => {
            let replace = match f.u8()? {
                0 => false,
                1 => true,
                _ => return None,
            };
            let now = f.f64()?;
            let key = f.key()?;
            let n = f.u32()?;
            let mut families = Vec::with_capacity(n.min(1 << 16) as usize);
            for _ in 0..n {
                let name = f.string()?;
                let mtype = type_from_code(f.u8()?)?;
                let help = match f.u8()? {
                    0 => None,
                    1 => Some(f.string()?),
                    _ => return None,
                };
                let text = f.bytes()?.to_vec();
                families.push(RenderedFamily {
                    name,
                    mtype,
                    help,
                    text,
                });
            }
            Record::Change(Change {
                key,
                replace,
                now,
                families,
            })
        }
        KIND_FAILURE => {
            let now = f.f64()?;
            Record::Failure { now, key: f.key()? }
        }
        KIND_DELETE => Record::Delete(f.key()?),
        KIND_WIPE => Record::Wipe,
        _ => return None,
    };
    f.buf.is_empty().then_some(record)
}

/// What the next position in a log holds.
#[derive(Debug)]
pub enum Next {
    Record(Record),
    /// The log ends cleanly here.
    End,
    /// The log ends inside a record, or in zeros a crash left behind: an append that never
    /// completed, so never acknowledged.
    Torn(&'static str),
    /// Damage with intact data after it (or an unreadable record): not a crash artefact.
    Corrupt(String),
}

/// Reads records one by one from just after the file header.
pub struct Reader<R> {
    r: R,
    /// Where the next record starts.
    offset: u64,
    len: u64,
    body: Vec<u8>,
}

impl<R: Read> Reader<R> {
    /// `r` is positioned at `offset`; the input holds `len` bytes in all.
    pub fn new(r: R, offset: u64, len: u64) -> Reader<R> {
        Reader {
            r,
            offset,
            len,
            body: Vec::new(),
        }
    }

    /// Where the next record (or the damage just reported) starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn next(&mut self) -> io::Result<Next> {
        let left = self.len - self.offset;
        if left == 0 {
            return Ok(Next::End);
        }
        if left < RECORD_HEADER_LEN as u64 {
            return Ok(Next::Torn("the log ends inside a record header"));
        }
        let mut head = [0u8; RECORD_HEADER_LEN];
        self.r.read_exact(&mut head)?;
        let word = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().expect("4 bytes"));
        if crc32c(&head[..8]) != word(8) {
            return self.zeros_or(&head, "record header checksum mismatch");
        }
        let body_len = word(0) as u64;
        if body_len > left - RECORD_HEADER_LEN as u64 {
            return Ok(Next::Torn("the log ends inside a record"));
        }
        self.body.resize(body_len as usize, 0);
        self.r.read_exact(&mut self.body)?;
        if crc32c(&self.body) != word(4) {
            return Ok(Next::Corrupt("record checksum mismatch".into()));
        }
        let Some(record) = decode(&self.body) else {
            let kind = self.body.first().copied().unwrap_or(0);
            return Ok(Next::Corrupt(format!(
                "record of kind {kind} with a valid checksum does not decode \
                 (written by a newer pushgate?)"
            )));
        };
        self.offset += RECORD_HEADER_LEN as u64 + body_len;
        Ok(Next::Record(record))
    }

    /// A bad header followed by nothing but zeros up to the end is what a crash leaves when
    /// the file size reached the disk before the data did; anything else is corruption.
    fn zeros_or(&mut self, head: &[u8], reason: &str) -> io::Result<Next> {
        let mut zero = head.iter().all(|&b| b == 0);
        let mut buf = [0u8; 64 * 1024];
        while zero {
            let n = self.r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            zero = buf[..n].iter().all(|&b| b == 0);
        }
        Ok(if zero {
            Next::Torn("the log ends in zeros")
        } else {
            Next::Corrupt(reason.into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str) -> GroupingKey {
        GroupingKey::from_path(path, false).unwrap()
    }

    fn sample_records() -> Vec<Record> {
        vec![
            Record::Change(Change {
                key: key("/j/instance/a"),
                replace: true,
                now: 1.5,
                families: vec![
                    RenderedFamily {
                        name: "x".into(),
                        mtype: MetricType::Gauge,
                        help: Some("X ü.".into()),
                        text: b"x{instance=\"a\",job=\"j\"} 1\n".to_vec(),
                    },
                    RenderedFamily {
                        name: "gone".into(),
                        mtype: MetricType::Counter,
                        help: None,
                        text: Vec::new(),
                    },
                ],
            }),
            Record::Failure {
                key: key("/j/instance/b"),
                now: 2.25,
            },
            Record::Delete(key("/j/instance/a")),
            Record::Wipe,
        ]
    }

    fn read_all(bytes: &[u8]) -> (Vec<Record>, Next, u64) {
        let mut r = Reader::new(bytes, 0, bytes.len() as u64);
        let mut out = Vec::new();
        loop {
            match r.next().unwrap() {
                Next::Record(rec) => out.push(rec),
                other => return (out, other, r.offset()),
            }
        }
    }

    #[test]
    fn records_round_trip() {
        let mut bytes = Vec::new();
        for rec in sample_records() {
            rec.encode(&mut bytes);
        }
        let (got, end, off) = read_all(&bytes);
        assert_eq!(got, sample_records());
        assert!(matches!(end, Next::End));
        assert_eq!(off, bytes.len() as u64);
    }

    #[test]
    fn a_cut_anywhere_is_torn_and_keeps_the_prefix() {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for rec in sample_records() {
            rec.encode(&mut bytes);
            ends.push(bytes.len());
        }
        for cut in 0..bytes.len() {
            let (got, end, off) = read_all(&bytes[..cut]);
            let complete = ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(got, sample_records()[..complete], "cut at {cut}");
            let expect_end = complete == 0 && cut == 0 || ends.contains(&cut);
            assert_eq!(
                matches!(end, Next::End),
                expect_end,
                "cut at {cut}: {end:?}"
            );
            assert!(
                matches!(end, Next::End | Next::Torn(_)),
                "cut at {cut}: {end:?}"
            );
            assert_eq!(off, ends[..complete].last().copied().unwrap_or(0) as u64);
        }
    }

    #[test]
    fn zeros_after_the_last_record_are_a_torn_tail() {
        let mut bytes = Vec::new();
        Record::Wipe.encode(&mut bytes);
        bytes.extend_from_slice(&[0; 100]);
        let (got, end, _) = read_all(&bytes);
        assert_eq!(got, [Record::Wipe]);
        assert!(matches!(end, Next::Torn(_)), "{end:?}");
    }

    #[test]
    fn any_flipped_byte_before_intact_data_is_corruption() {
        let mut bytes = Vec::new();
        for rec in sample_records() {
            rec.encode(&mut bytes);
        }
        let first_len = {
            let mut b = Vec::new();
            sample_records()[0].encode(&mut b);
            b.len()
        };
        for i in 0..first_len {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x40;
            let (got, end, off) = read_all(&damaged);
            assert!(got.is_empty() && off == 0, "flip at {i}");
            assert!(matches!(end, Next::Corrupt(_)), "flip at {i}: {end:?}");
        }
    }
}
