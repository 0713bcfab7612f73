//! Push body decoding throughput, in process: the protobuf decoder on node_exporter's real
//! body (with the text parser on the same content for scale), and gzip and snappy
//! decompression in front of it. Run with `cargo bench --bench proto`; each line reports
//! input bytes and families per second.

mod common;

use common::measure;

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use pushgate::formats::compress::{self, Encoding};
use pushgate::formats::{proto, text};

fn report(what: &str, bytes: usize, families: usize, (n, elapsed): (u64, Duration)) {
    let secs = elapsed.as_secs_f64();
    println!(
        "{what:<34} {:>8.1} MB/s  {:>10.0} families/s  ({:.1} µs per body)",
        (bytes as u64 * n) as f64 / secs / 1e6,
        (families as u64 * n) as f64 / secs,
        secs / n as f64 * 1e6,
    );
}

fn testdata(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn main() {
    if !common::benchmarking() {
        return;
    }
    let budget = Duration::from_secs(2);
    let pb = testdata("node-exporter.pb");
    let prom = testdata("node-exporter.prom");
    let families = proto::decode(&pb).expect("valid protobuf").len();

    let r = measure(budget, || {
        black_box(proto::decode(black_box(&pb)).expect("valid"));
    });
    report("protobuf decode (node-exporter)", pb.len(), families, r);
    let r = measure(budget, || {
        black_box(text::parse(black_box(&prom)).expect("valid"));
    });
    report("text parse (same content)", prom.len(), families, r);

    // A body of many client_golang pushes: histograms, native ones included.
    let golang = testdata("client-golang.pb").repeat(200);
    let golang_families = proto::decode(&golang).expect("valid").len();
    let r = measure(budget, || {
        black_box(proto::decode(black_box(&golang)).expect("valid"));
    });
    report(
        "protobuf decode (client-golang x200)",
        golang.len(),
        golang_families,
        r,
    );

    let mut gz = Vec::new();
    {
        let deflated = miniz_oxide::deflate::compress_to_vec(&pb, 6);
        gz.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
        gz.extend_from_slice(&deflated);
        gz.extend_from_slice(&gzip_crc(&pb).to_le_bytes());
        gz.extend_from_slice(&(pb.len() as u32).to_le_bytes());
    }
    let mut sz = snap::write::FrameEncoder::new(Vec::new());
    sz.write_all(&pb).expect("in memory");
    let sz = sz.into_inner().expect("in memory");
    for (what, encoding, body) in [
        ("gunzip + decode", Encoding::Gzip, &gz),
        ("unsnappy + decode", Encoding::Snappy, &sz),
    ] {
        let r = measure(budget, || {
            let plain = compress::decompress(encoding, black_box(body), 64 << 20).expect("valid");
            black_box(proto::decode(&plain).expect("valid"));
        });
        // Rated by the decompressed size, to compare with the plain decode above.
        report(what, pb.len(), families, r);
    }
}

/// CRC-32 for the gzip trailer; bitwise, since it runs once.
fn gzip_crc(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                0xedb8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
