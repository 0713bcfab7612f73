use std::collections::BTreeMap;

use super::*;
use crate::formats::expose;
use crate::formats::text;
use crate::testdata;

/// A protobuf writer for building test messages field by field, hostile ones included.
#[derive(Clone, Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn new() -> Enc {
        Enc::default()
    }

    fn raw(mut self, bytes: &[u8]) -> Enc {
        self.0.extend_from_slice(bytes);
        self
    }

    fn varint(mut self, mut v: u64) -> Enc {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
        self
    }

    fn tag(self, num: u32, wire: u8) -> Enc {
        self.varint(u64::from(num) << 3 | u64::from(wire))
    }

    fn uint(self, num: u32, v: u64) -> Enc {
        self.tag(num, 0).varint(v)
    }

    fn sint(self, num: u32, v: i64) -> Enc {
        self.uint(num, ((v << 1) ^ (v >> 63)) as u64)
    }

    fn double(self, num: u32, v: f64) -> Enc {
        self.tag(num, 1).raw(&v.to_le_bytes())
    }

    fn bytes(self, num: u32, b: &[u8]) -> Enc {
        self.tag(num, 2).varint(b.len() as u64).raw(b)
    }

    fn msg(self, num: u32, m: Enc) -> Enc {
        self.bytes(num, &m.0)
    }
}

/// Length-prefixes each message into one body.
fn body(messages: &[Enc]) -> Vec<u8> {
    let mut out = Enc::new();
    for m in messages {
        out = out.varint(m.0.len() as u64).raw(&m.0);
    }
    out.0
}

fn family(name: &str, mtype: u64) -> Enc {
    Enc::new().bytes(1, name.as_bytes()).uint(3, mtype)
}

fn counter(value: f64) -> Enc {
    Enc::new().msg(3, Enc::new().double(1, value))
}

fn label(name: &str, value: &str) -> Enc {
    Enc::new()
        .bytes(1, name.as_bytes())
        .bytes(2, value.as_bytes())
}

/// Every family's header and sample lines, keyed by name, as the store would render them.
fn rendered(families: &[MetricFamily]) -> BTreeMap<String, String> {
    families
        .iter()
        .map(|f| {
            let mut out = Vec::new();
            expose::write_header(&mut out, &f.name, f.help.as_deref(), f.mtype);
            expose::write_metrics(&mut out, &f.name, &f.metrics);
            (f.name.clone(), String::from_utf8(out).unwrap())
        })
        .collect()
}

#[test]
fn real_encoder_bodies_match_their_text_twins() {
    let pb = decode(&testdata("client-golang.pb")).unwrap();
    let txt = text::parse(&testdata("client-golang.prom")).unwrap();
    assert_eq!(rendered(&pb), rendered(&txt));

    // node_exporter's two bodies were scraped moments apart: the same series, other values.
    let shape = |families: &[MetricFamily]| -> Vec<_> {
        let mut v: Vec<_> = families
            .iter()
            .map(|f| {
                let series: Vec<_> = f.metrics.iter().map(|m| m.labels.clone()).collect();
                (f.name.clone(), f.mtype, f.help.clone(), series)
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let pb = decode(&testdata("node-exporter.pb")).unwrap();
    let txt = text::parse(&testdata("node-exporter.prom")).unwrap();
    assert_eq!(pb.len(), 283);
    assert_eq!(shape(&pb), shape(&txt));
}

#[test]
fn native_histogram_fields() {
    let families = decode(&testdata("client-golang.pb")).unwrap();
    let size = families
        .iter()
        .find(|f| f.name == "batch_size_bytes")
        .unwrap();
    let Value::Histogram {
        buckets,
        count,
        native: Some(n),
        ..
    } = &size.metrics[0].value
    else {
        panic!("not native: {size:?}");
    };
    assert!(buckets.is_empty());
    assert_eq!(*count, 9);
    assert_eq!((n.schema, n.zero_count, n.count_float), (0, 1, 0.0));
    assert_eq!(n.zero_threshold, 2.938735877055719e-39);
    let spans = |v: &[(i32, u32)]| -> Vec<Span> {
        v.iter()
            .map(|&(offset, length)| Span { offset, length })
            .collect()
    };
    assert_eq!(n.negative.spans, spans(&[(11, 1)]));
    assert_eq!(n.negative.deltas, [1]);
    assert_eq!(
        n.positive.spans,
        spans(&[(-3, 1), (4, 1), (3, 1), (3, 3), (3, 1)])
    );
    assert_eq!(n.positive.deltas, [1, 0, 1, -1, -1, 1, 0]);
    assert!(n.negative.counts.is_empty() && n.positive.counts.is_empty());

    let latency = families
        .iter()
        .find(|f| f.name == "batch_latency_seconds")
        .unwrap();
    let Value::Histogram {
        buckets,
        native: Some(_),
        ..
    } = &latency.metrics[0].value
    else {
        panic!("not native: {latency:?}");
    };
    assert_eq!(buckets.len(), 3);
}

#[test]
fn float_histogram_renders_float_counts() {
    let h = Enc::new()
        .double(4, 3.5)
        .double(2, 2.0)
        .msg(3, Enc::new().double(2, 1.0).double(4, 2.5))
        .msg(3, Enc::new().double(2, 2.0).uint(1, 3))
        .sint(5, 0)
        .double(8, 0.5)
        .msg(12, Enc::new().sint(1, 0).uint(2, 2))
        .tag(14, 2)
        .varint(16)
        .raw(&1.5f64.to_le_bytes())
        .raw(&0.5f64.to_le_bytes());
    let f = &decode(&body(&[family("fh", 4).msg(4, Enc::new().msg(7, h))])).unwrap()[0];
    let Value::Histogram {
        native: Some(n), ..
    } = &f.metrics[0].value
    else {
        panic!("{f:?}");
    };
    assert_eq!(n.bucket_floats, [2.5, 0.0]);
    assert_eq!(n.positive.counts, [1.5, 0.5]);
    assert_eq!(
        rendered(std::slice::from_ref(f))["fh"],
        "# TYPE fh histogram\n\
         fh_bucket{le=\"1\"} 2.5\n\
         fh_bucket{le=\"2\"} 3\n\
         fh_bucket{le=\"+Inf\"} 3.5\n\
         fh_sum 2\n\
         fh_count 3.5\n"
    );
}

#[test]
fn every_type_and_defaults() {
    let b = body(&[
        // No type: a counter.
        Enc::new()
            .bytes(1, b"c")
            .bytes(2, b"help\ntext")
            .msg(4, counter(1.5).msg(1, label("a", "x\"y"))),
        family("g", 1).msg(4, Enc::new().msg(2, Enc::new().double(1, -2.0))),
        family("s", 2).msg(
            4,
            Enc::new().msg(
                4,
                Enc::new()
                    .uint(1, 7)
                    .double(2, 1.25)
                    .msg(3, Enc::new().double(1, 0.5).double(2, 3.0)),
            ),
        ),
        family("u", 3).msg(4, Enc::new().msg(5, Enc::new())),
        family("h", 4).msg(
            4,
            Enc::new().msg(
                7,
                Enc::new()
                    .uint(1, 3)
                    .double(2, 2.0)
                    .msg(3, Enc::new().double(2, 1.0).uint(1, 1)),
            ),
        ),
        // A gauge histogram keeps its type, and its text shows it as a histogram.
        family("gh", 5).msg(4, Enc::new().msg(7, Enc::new().uint(1, 1))),
    ]);
    let families = decode(&b).unwrap();
    let types: Vec<_> = families.iter().map(|f| f.mtype).collect();
    use MetricType::*;
    assert_eq!(
        types,
        [Counter, Gauge, Summary, Untyped, Histogram, GaugeHistogram]
    );
    assert_eq!(families[0].help.as_deref(), Some("help\ntext"));
    assert_eq!(families[0].metrics[0].labels, [Label::new("a", "x\"y")]);
    assert_eq!(families[1].help, None);
    assert_eq!(families[3].metrics[0].value, Value::Simple(0.0));
    let all: String = rendered(&families).into_values().collect();
    assert_eq!(
        all,
        "# HELP c help\\ntext\n# TYPE c counter\nc{a=\"x\\\"y\"} 1.5\n\
         # TYPE g gauge\ng -2\n\
         # TYPE gh histogram\ngh_bucket{le=\"+Inf\"} 1\ngh_sum 0\ngh_count 1\n\
         # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 3\nh_sum 2\nh_count 3\n\
         # TYPE s summary\ns{quantile=\"0.5\"} 3\ns_sum 1.25\ns_count 7\n\
         # TYPE u untyped\nu 0\n"
    );
}

#[test]
fn proto2_merging_and_packing() {
    // A scalar seen twice keeps the last value; a message seen twice merges, its repeated
    // fields appending; the other types' value messages are ignored; timestamps are kept.
    let m = Enc::new()
        .msg(2, Enc::new().double(1, 9.0))
        .msg(3, Enc::new().double(1, 1.0))
        .msg(3, Enc::new())
        .uint(6, 1234)
        .msg(3, Enc::new().double(1, 2.0));
    let f = &decode(&body(&[family("x", 1).bytes(1, b"c").uint(3, 0).msg(4, m)])).unwrap()[0];
    assert_eq!(f.name, "c");
    assert_eq!(f.metrics[0].value, Value::Simple(2.0));
    assert_eq!(f.metrics[0].timestamp_ms, Some(1234));

    let native = |h: Enc| {
        let f = decode(&body(&[family("h", 4).msg(4, Enc::new().msg(7, h))])).unwrap();
        match &f[0].metrics[0].value {
            Value::Histogram { native, .. } => native.clone().unwrap(),
            v => panic!("{v:?}"),
        }
    };
    let span = Enc::new().uint(2, 3);
    let unpacked = native(
        Enc::new()
            .msg(12, span.clone())
            .sint(13, 2)
            .sint(13, -1)
            .sint(13, i64::MIN),
    );
    let packed = native(
        Enc::new()
            .msg(12, span.clone())
            .msg(13, Enc::new().varint(4).varint(1))
            .sint(13, i64::MIN),
    );
    assert_eq!(unpacked.positive.deltas, [2, -1, i64::MIN]);
    assert_eq!(unpacked, packed);
}

#[test]
fn unknown_fields_of_every_wire_type_are_skipped() {
    let junk = Enc::new()
        .uint(100, u64::MAX)
        .double(101, 1.0)
        .tag(102, 5)
        .raw(&[1, 2, 3, 4])
        .bytes(103, b"\xff\xfe anything")
        .tag(104, 3)
        .uint(1, 1)
        .tag(105, 3)
        .bytes(2, b"x")
        .tag(105, 4)
        .tag(104, 4);
    let b = body(&[family("x", 1).raw(&junk.0).bytes(5, b"seconds").msg(
        4,
        Enc::new()
            .raw(&junk.0)
            .msg(1, label("a", "b").raw(&junk.0))
            .msg(2, Enc::new().raw(&junk.0).double(1, 4.0)),
    )]);
    let f = &decode(&b).unwrap()[0];
    assert_eq!(f.metrics[0].labels, [Label::new("a", "b")]);
    assert_eq!(f.metrics[0].value, Value::Simple(4.0));
}

#[test]
fn exemplars_and_created_timestamps_are_tolerated() {
    let exemplar = Enc::new()
        .msg(1, label("trace_id", "abc"))
        .double(2, 1.0)
        .msg(3, Enc::new().uint(1, 1_700_000_000));
    let created = Enc::new().uint(1, 1_700_000_000).uint(2, 5);
    let b = body(&[
        family("c", 0).msg(
            4,
            Enc::new().msg(
                3,
                Enc::new()
                    .double(1, 1.0)
                    .msg(2, exemplar.clone())
                    .msg(3, created.clone()),
            ),
        ),
        family("h", 4).msg(
            4,
            Enc::new().msg(
                7,
                Enc::new()
                    .msg(
                        3,
                        Enc::new()
                            .double(2, 1.0)
                            .uint(1, 1)
                            .msg(3, exemplar.clone()),
                    )
                    .msg(15, created)
                    .msg(16, exemplar),
            ),
        ),
    ]);
    let families = decode(&b).unwrap();
    assert_eq!(families[0].metrics[0].value, Value::Simple(1.0));
    assert!(matches!(
        &families[1].metrics[0].value,
        Value::Histogram { buckets, native: None, .. } if buckets == &[(1.0, 1)]
    ));
}

#[test]
fn empty_and_repeated_families() {
    assert_eq!(decode(b"").unwrap(), []);
    let families = decode(&body(&[
        family("x", 1),
        family("x", 0).msg(4, counter(1.0)),
    ]))
    .unwrap();
    assert_eq!(families.len(), 2);
    assert!(families[0].metrics.is_empty());
}

#[test]
fn hostile_and_malformed_bodies() {
    let ok = family("x", 0).msg(4, counter(1.0));
    let with_metric = |m: Enc| body(&[family("x", 0).msg(4, m)]);
    let with_histogram = |h: Enc| body(&[family("h", 4).msg(4, Enc::new().msg(7, h))]);
    let mut nested = Enc::new();
    for _ in 0..=wire::MAX_GROUP_DEPTH {
        nested = nested.tag(9, 3);
    }
    for _ in 0..=wire::MAX_GROUP_DEPTH {
        nested = nested.tag(9, 4);
    }
    let table: Vec<(&str, Vec<u8>, usize, &str)> = vec![
        ("truncated length varint", vec![0x80], 0, "truncated varint"),
        (
            "varint past 64 bits",
            vec![0xff; 10],
            0,
            "varint overflows 64 bits",
        ),
        (
            "huge length prefix",
            Enc::new().varint(u64::MAX).raw(b"abc").0,
            10,
            "MetricFamily message of 18446744073709551615 bytes runs past the end (3 bytes left)",
        ),
        (
            "message past the end",
            {
                let mut b = body(std::slice::from_ref(&ok));
                b.pop();
                b
            },
            1,
            "runs past the end",
        ),
        (
            "field past its message",
            body(&[family("x", 0).tag(4, 2).varint(50).raw(&[0; 4])]),
            6,
            "MetricFamily field 4 of 50 bytes runs past the end of its message (4 bytes left)",
        ),
        (
            "truncated double",
            with_metric(Enc::new().msg(3, Enc::new().tag(1, 1).raw(&[0; 7]))),
            11,
            "truncated 8-byte number",
        ),
        (
            "truncated tag",
            body(&[family("x", 0).raw(&[0x80])]),
            6,
            "truncated varint",
        ),
        (
            "wrong wire type",
            body(&[Enc::new().uint(1, 5)]),
            1,
            "MetricFamily field 1 has wire type varint, expected length-delimited",
        ),
        (
            "wrong wire type of an ignored value message",
            with_metric(counter(1.0).uint(2, 1)),
            19,
            "Metric field 2 has wire type varint",
        ),
        (
            "wrong wire type of a value",
            with_metric(Enc::new().msg(3, Enc::new().uint(1, 1))),
            10,
            "counter field 1 has wire type varint, expected 64-bit",
        ),
        (
            "invalid wire type",
            body(&[ok.clone().tag(7, 6)]),
            19,
            "MetricFamily field 7: invalid wire type 6",
        ),
        (
            "field number 0",
            body(&[ok.clone().raw(&[0x02, 0x00])]),
            19,
            "invalid field number 0",
        ),
        (
            "stray end of group",
            body(&[ok.clone().tag(9, 4)]),
            19,
            "end of group 9 that was not started",
        ),
        (
            "unclosed group",
            body(&[ok.clone().tag(9, 3).uint(1, 1)]),
            19,
            "group 9 is not closed",
        ),
        (
            "mismatched end of group",
            body(&[ok.clone().tag(9, 3).tag(8, 4)]),
            20,
            "end of group 8 inside group 9",
        ),
        (
            "groups nested too deep",
            body(&[ok.clone().raw(&nested.0)]),
            20 + wire::MAX_GROUP_DEPTH,
            "groups nested more than 64 deep",
        ),
        (
            "packed doubles misaligned",
            with_histogram(Enc::new().bytes(14, &[0; 12])),
            10,
            "Histogram field 14: packed doubles of 12 bytes",
        ),
        (
            "no name",
            body(&[Enc::new().msg(4, counter(1.0))]),
            0,
            "metric family without a name",
        ),
        ("empty message", vec![0], 0, "metric family without a name"),
        (
            "bad name",
            body(&[family("a-b", 0)]),
            1,
            "invalid metric name \"a-b\"",
        ),
        (
            "name not UTF-8",
            body(&[Enc::new().bytes(1, b"a\xff")]),
            1,
            "invalid metric name \"a\u{fffd}\"",
        ),
        (
            "unknown type",
            body(&[family("x", 6)]),
            4,
            "metric family x has unknown type 6",
        ),
        (
            "negative type",
            body(&[family("x", u64::MAX)]),
            4,
            "metric family x has unknown type -1",
        ),
        (
            "bad label name",
            with_metric(counter(1.0).msg(1, label("a.b", "v"))),
            21,
            "invalid label name \"a.b\" for metric \"x\"",
        ),
        (
            "label without a name",
            with_metric(counter(1.0).msg(1, Enc::new().bytes(2, b"v"))),
            21,
            "invalid label name \"\" for metric \"x\"",
        ),
        (
            "reserved label name",
            with_metric(counter(1.0).msg(1, label("__name__", "y"))),
            21,
            "label name \"__name__\" is reserved",
        ),
        (
            "label value not UTF-8",
            with_metric(counter(1.0).msg(1, Enc::new().bytes(1, b"a").bytes(2, b"\xc3"))),
            21,
            "value of label a for metric \"x\" is not UTF-8",
        ),
        (
            "value of another type only",
            with_metric(Enc::new().msg(2, Enc::new().double(1, 1.0))),
            8,
            "metric of counter x without a counter value",
        ),
        (
            "spans without deltas",
            with_histogram(Enc::new().msg(12, Enc::new().uint(2, 2)).sint(13, 1)),
            8,
            "histogram h: positive spans cover 2 buckets, but 1 bucket counts are given",
        ),
        (
            "deltas without spans",
            with_histogram(Enc::new().sint(10, 1)),
            8,
            "histogram h: negative spans cover 0 buckets, but 1 bucket counts are given",
        ),
        (
            "deltas and counts",
            with_histogram(
                Enc::new()
                    .msg(12, Enc::new().uint(2, 1))
                    .sint(13, 1)
                    .double(14, 1.0),
            ),
            8,
            "histogram h: both positive deltas and positive counts",
        ),
    ];
    let mut wrong = String::new();
    for (what, body, offset, reason) in table {
        match decode(&body) {
            Ok(f) => wrong += &format!("{what}: decoded {f:?}\n"),
            Err(e) if !e.reason.contains(reason) || e.offset != offset => {
                wrong += &format!("{what}: got {e}, want at byte {offset}: {reason}\n")
            }
            Err(e) => assert!(!e.to_string().contains('\n'), "{what}: {e}"),
        }
    }
    assert!(wrong.is_empty(), "{wrong}");
}

#[test]
fn no_op_span_is_an_empty_native_histogram() {
    let h = Enc::new()
        .uint(1, 0)
        .sint(5, 3)
        .msg(12, Enc::new().sint(1, 0).uint(2, 0));
    let f = decode(&body(&[family("h", 4).msg(4, Enc::new().msg(7, h))])).unwrap();
    let Value::Histogram {
        native: Some(n), ..
    } = &f[0].metrics[0].value
    else {
        panic!("{f:?}");
    };
    assert_eq!(n.schema, 3);
    assert_eq!(n.positive.spans, [Span::default()]);
    assert_eq!(
        rendered(&f)["h"],
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n"
    );
}

/// Cut, flipped, duplicated and spliced versions of real bodies: decoding never panics, and
/// whatever decodes renders.
#[test]
fn mutations_never_panic() {
    let seeds = [testdata("client-golang.pb"), testdata("node-exporter.pb")];
    let mut rng = fastrand::Rng::with_seed(0x5eed_4b1d);
    let try_one = |b: &[u8]| {
        if let Ok(families) = decode(b) {
            rendered(&families);
        }
    };
    // Every truncation of the small body.
    for cut in 0..seeds[0].len() {
        try_one(&seeds[0][..cut]);
    }
    for _ in 0..20_000 {
        let seed = &seeds[rng.usize(..seeds.len())];
        let mut b = seed[..rng.usize(..=seed.len().min(4096))].to_vec();
        for _ in 0..rng.usize(1..8) {
            if b.is_empty() {
                break;
            }
            let i = rng.usize(..b.len());
            match rng.u8(..5) {
                0 => b[i] ^= 1 << rng.u8(..8),
                1 => b[i] = rng.u8(..),
                2 => b.insert(i, [0x80, 0xff, 0x00, 0x0a][rng.usize(..4)]),
                3 => {
                    b.remove(i);
                }
                _ => {
                    let j = rng.usize(i..b.len());
                    let chunk = b[i..j].to_vec();
                    b.splice(j..j, chunk);
                }
            }
        }
        try_one(&b);
    }
}

#[test]
fn utf8_names() {
    let b = body(&[family("my.metric", 1).msg(
        4,
        Enc::new()
            .msg(1, label("a.b", "v"))
            .msg(1, label("ü", "w"))
            .msg(2, Enc::new().double(1, 1.0)),
    )]);
    assert!(decode(&b)
        .unwrap_err()
        .reason
        .contains("invalid metric name"));
    let f = &decode_with(&b, Validation::Utf8).unwrap()[0];
    assert_eq!(f.name, "my.metric");
    assert_eq!(
        f.metrics[0].labels,
        [Label::new("a.b", "v"), Label::new("ü", "w")]
    );
    // Still refused with UTF-8 names: no name, a name that is not UTF-8, `__name__`.
    for (what, b, reason) in [
        ("empty name", body(&[family("", 1)]), "without a name"),
        (
            "name not UTF-8",
            body(&[Enc::new().bytes(1, b"a\xff")]),
            "invalid metric name",
        ),
        (
            "label without a name",
            body(&[family("x", 0).msg(4, counter(1.0).msg(1, label("", "v")))]),
            "invalid label name \"\"",
        ),
        (
            "label name not UTF-8",
            body(&[family("x", 0).msg(4, counter(1.0).msg(1, Enc::new().bytes(1, b"\xc3")))]),
            "invalid label name",
        ),
        (
            "reserved label name",
            body(&[family("x", 0).msg(4, counter(1.0).msg(1, label("__name__", "y")))]),
            "is reserved",
        ),
    ] {
        let e = decode_with(&b, Validation::Utf8).unwrap_err();
        assert!(e.reason.contains(reason), "{what}: {e}");
    }
}
