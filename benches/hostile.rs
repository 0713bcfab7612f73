//! What requests built to be expensive cost, in-process: each is a whole request's work on
//! the event loop, during which no one else is served. Sizes are the ones that took seconds
//! before their costs were made linear (see `tests/hostile.rs` for the behaviour). Run with
//! `cargo bench --bench hostile`.

mod common;

use common::measure;

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use pushgate::formats::compress::{self, Encoding, Gzip};
use pushgate::formats::text;
use pushgate::store::check;
use pushgate::store::key::GroupingKey;
use pushgate::store::{Push, Store};
use pushgate::web::telemetry::own_type;

fn push(path: &str, replace: bool, body: &str) -> Push {
    let mut p = Push {
        key: GroupingKey::from_path(path, false).expect("valid key"),
        families: text::parse(body.as_bytes()).expect("valid body"),
        replace,
        now: 1.7e9,
    };
    check::sanitize(&mut p).expect("sanitized");
    p
}

fn apply(store: &mut Store, path: &str, replace: bool, body: &str) {
    let p = push(path, replace, body);
    check::check(store, &p, own_type).expect("consistent");
    store.apply(&p.render());
}

/// Milliseconds per call of `f`, over about a second.
fn ms(mut f: impl FnMut()) -> f64 {
    let (n, t) = measure(Duration::from_secs(1), &mut f);
    t.as_secs_f64() * 1e3 / n as f64
}

fn main() {
    if !common::benchmarking() {
        return;
    }

    let labels = |n: usize| (1..n).map(|i| format!("/l{i}/v")).collect::<String>();
    let most = format!("/j{}", labels(128));
    let t = ms(|| {
        black_box(GroupingKey::from_path(&most, false).expect("valid"));
    });
    println!("grouping key of 128 labels: {:.1} us", t * 1e3);
    let refused = format!("/j{}", labels(2700));
    let t = ms(|| {
        black_box(GroupingKey::from_path(&refused, false).is_err());
    });
    println!(
        "grouping key of 2,700 labels ({} B), refused: {:.1} us",
        refused.len(),
        t * 1e3
    );

    // A group of 30,000 series with key label k, and a push of 30,000 other series carrying
    // k=1 to the group without it: each is looked for in the other group.
    let mut store = Store::new();
    let stored: String = (0..30_000).map(|i| format!("x{{s=\"{i}\"}} 1\n")).collect();
    apply(&mut store, "/a/k/1", true, &stored);
    let near: String = (30_000..60_000)
        .map(|i| format!("x{{k=\"1\",s=\"{i}\"}} 2\n"))
        .collect();
    let p = push("/a", true, &near);
    let t = ms(|| check::check(&store, &p, own_type).expect("consistent"));
    println!("check of 30,000 series against another group of 30,000: {t:.1} ms");

    // One series against a group of 300,000.
    let stored: String = (0..300_000)
        .map(|i| format!("y{{s=\"{i}\"}} 1\n"))
        .collect();
    apply(&mut store, "/b/k/1", true, &stored);
    let p = push("/b", true, "y{k=\"1\",s=\"x\"} 1\n");
    let t = ms(|| check::check(&store, &p, own_type).expect("consistent"));
    println!(
        "check of 1 series against another group of 300,000: {:.1} us",
        t * 1e3
    );

    // 50,000 shapes in use, and a push of 1,000 series whose label names all differ.
    let mut shapes = Store::new();
    for i in 0..50_000 {
        shapes.record_failure(
            &GroupingKey::from_path(&format!("/c/n{i}/v"), false).expect("valid"),
            1.0,
        );
    }
    let varied: String = (0..1000).map(|i| format!("z{{m{i}=\"v\"}} 1\n")).collect();
    let p = push("/c", true, &varied);
    let t = ms(|| check::check(&shapes, &p, own_type).expect("consistent"));
    println!("check of 1,000 series of distinct label names among 50,000 key shapes: {t:.2} ms");

    // A POST of 20,000 families into a group of 20,000, half of them the same.
    let families = |from: usize| -> String {
        (from..from + 20_000)
            .map(|i| format!("# TYPE f{i} gauge\nf{i} 1\n"))
            .collect()
    };
    let mut many = Store::new();
    apply(&mut many, "/d", true, &families(0));
    let change = push("/d", false, &families(10_000)).render();
    let t = ms(|| many.apply(&change));
    println!("apply of a POST of 20,000 families into a group of 20,000: {t:.1} ms");

    // The newest member of a family 100,000 groups share leaves: a push then a delete.
    let mut shared = Store::new();
    for i in 0..100_000 {
        apply(&mut shared, &format!("/e/i/{i}"), true, "w 1\n");
    }
    let key = GroupingKey::from_path("/e/i/new", false).expect("valid");
    let change = push("/e/i/new", true, "w 2\n").render();
    let t = ms(|| {
        shared.apply(&change);
        assert!(shared.delete(&key));
    });
    println!(
        "push and delete of a group in a family of 100,000 groups: {:.1} us",
        t * 1e3
    );

    // 16,000 gzip members of a 1 KB comment line each.
    let line = [b"#".as_slice(), &[b' '; 1000], b"\n"].concat();
    let mut members = Vec::new();
    for _ in 0..16_000 {
        Gzip::default().write(&line, &mut members, true);
    }
    let t = ms(|| {
        black_box(compress::decompress(Encoding::Gzip, &members, 64 << 20).expect("inflates"));
    });
    println!(
        "gunzip of 16,000 members ({} B to 16 MB): {t:.1} ms",
        members.len()
    );

    // A snappy stream of 60 MiB.
    let plain = line.repeat(60 << 10);
    let mut framed = snap::write::FrameEncoder::new(Vec::new());
    framed.write_all(&plain).expect("encodes");
    let framed = framed.into_inner().expect("flushed");
    let t = ms(|| {
        black_box(compress::decompress(Encoding::Snappy, &framed, 64 << 20).expect("decodes"));
    });
    println!(
        "unsnappy of {} MB ({} B framed): {t:.1} ms ({:.0} MB/s)",
        plain.len() >> 20,
        framed.len(),
        plain.len() as f64 / t / 1e3
    );
}
