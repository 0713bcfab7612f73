//! Delimited protobuf push bodies (`proto::decode_with`). A body that decodes must encode
//! (with the encoder scrapes use) to a body that decodes to the same families, and, when the
//! gateway accepts it as a push, it must scrape to text and protobuf that read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushgate::formats::model::MetricFamily;
use pushgate::formats::proto::decode_with;
use pushgate::formats::proto::encode::{family_header, write_delimited, write_metric};
use pushgate_fuzz::{accepted, push_and_scrape, validation};

fn encode(families: &[MetricFamily]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in families {
        let mut msg = Vec::new();
        family_header(&mut msg, &f.name, f.help.as_deref(), f.mtype);
        for m in &f.metrics {
            let labels = m.labels.iter().map(|l| (l.name.as_str(), l.value.as_str()));
            write_metric(&mut msg, labels, f.mtype, &m.value);
        }
        write_delimited(&mut out, &msg);
    }
    out
}

/// Families as text, so NaN compares equal to itself; without timestamps, which the encoder
/// does not write (a push that has them is refused).
fn comparable(families: &[MetricFamily]) -> String {
    let mut families = families.to_vec();
    for m in families.iter_mut().flat_map(|f| &mut f.metrics) {
        m.timestamp_ms = None;
    }
    format!("{families:#?}")
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let names = validation(flags);
    let Ok(families) = decode_with(body, names) else {
        return;
    };
    let encoded = encode(&families);
    let again = decode_with(&encoded, names)
        .unwrap_or_else(|e| panic!("the re-encoded body does not decode: {e}"));
    assert_eq!(comparable(&again), comparable(&families));
    if let Some(push) = accepted(families) {
        push_and_scrape(push, names);
    }
});
