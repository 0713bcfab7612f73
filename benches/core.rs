//! In-process benchmarks of the hot paths, without sockets: parsing a text push, checking and
//! applying small pushes into a store of 10,000 groups, and rendering a scrape of 250,000
//! series in each format, plain and gzip'd. Run with `cargo bench --bench core`.

mod common;

use common::measure;

use std::hint::black_box;
use std::time::Duration;

use pushgate::formats::text;
use pushgate::http::negotiate::{Choice, Format};
use pushgate::store::check;
use pushgate::store::key::GroupingKey;
use pushgate::store::{Push, Store};
use pushgate::web::app::EXPIRED_PER_TURN;
use pushgate::web::scrape::Scrape;
use pushgate::web::telemetry::own_type;

fn small_body(i: usize) -> String {
    format!(
        "# TYPE batch_ok gauge\nbatch_ok {i}\n# TYPE batch_records_total counter\n\
         batch_records_total{{kind=\"a\"}} {i}\nbatch_records_total{{kind=\"b\"}} 2\n\
         # TYPE batch_seconds gauge\nbatch_seconds{{step=\"x\"}} 1.5\nbatch_seconds{{step=\"y\"}} 2.5\n"
    )
}

fn key(i: usize) -> GroupingKey {
    GroupingKey::from_path(&format!("/bench/instance/i{i}"), false).expect("valid key")
}

/// A PUT of `body` to group `i`, parsed and labelled.
fn sanitized(i: usize, body: &[u8]) -> Push {
    let mut push = Push {
        key: key(i),
        families: text::parse(body).expect("valid body"),
        replace: true,
        now: 1.7e9,
    };
    check::sanitize(&mut push).expect("sanitized");
    push
}

fn push_into(store: &mut Store, i: usize, body: &[u8]) {
    let push = sanitized(i, body);
    check::check(store, &push, own_type).expect("consistent");
    store.apply(&push.render());
}

fn main() {
    if !common::benchmarking() {
        return;
    }
    let budget = Duration::from_secs(2);

    let node = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/testdata/node-exporter.prom"
    ))
    .unwrap_or_else(|_| small_body(1).repeat(200).into_bytes());
    let (n, t) = measure(budget, || {
        black_box(text::parse(black_box(&node)).expect("parses"));
    });
    let mbps = (n as f64 * node.len() as f64) / t.as_secs_f64() / 1e6;
    println!(
        "text parse (node-exporter, {} B): {mbps:.1} MB/s",
        node.len()
    );

    let small = small_body(7).into_bytes();
    let (n, t) = measure(budget, || {
        black_box(text::parse(black_box(&small)).expect("parses"));
    });
    println!(
        "text parse (small push, {} B): {:.0} bodies/s",
        small.len(),
        n as f64 / t.as_secs_f64()
    );

    let mut store = Store::new();
    for i in 0..10_000 {
        push_into(&mut store, i, &small);
    }
    // The push path phase by phase, each measured up to and including that phase.
    let rate = |f: &mut dyn FnMut()| {
        let (n, t) = measure(budget / 2, f);
        t.as_secs_f64() * 1e9 / n as f64
    };
    let mut i = 0;
    let parse = rate(&mut || {
        black_box(text::parse(&small).expect("parses"));
    });
    let sanitize = rate(&mut || {
        i += 1;
        black_box(sanitized(i % 10_000, &small));
    });
    let checked = rate(&mut || {
        i += 1;
        let push = sanitized(i % 10_000, &small);
        check::check(&store, &push, own_type).expect("consistent");
        black_box(push.render());
    });
    println!(
        "push phases (ns, cumulative): parse {parse:.0}, +key+sanitize {sanitize:.0}, +check+render {checked:.0}"
    );
    let (n, t) = measure(budget, || {
        push_into(&mut store, i % 10_000, &small);
        i += 1;
    });
    println!(
        "parse+check+apply small push into 10,000 groups: {:.0} pushes/s",
        n as f64 / t.as_secs_f64()
    );

    // A mass expiry: 100,000 groups whose time to live ran out at once, taken as the
    // reactor takes them, a few hundred a turn (finding and deleting them; the log's records
    // come on top). One turn's work is what a push arriving meanwhile waits for at most.
    let mut expiring = Store::with_default_ttl(60.0);
    for i in 0..100_000 {
        let mut p = sanitized(i, &small);
        p.now = 1000.0;
        expiring.apply(&p.render());
    }
    let (mut turns, mut worst) = (0, Duration::ZERO);
    let all = std::time::Instant::now();
    while expiring.any_due(2000.0) {
        let turn = std::time::Instant::now();
        for key in expiring.due(2000.0, EXPIRED_PER_TURN) {
            expiring.delete(&key);
        }
        worst = worst.max(turn.elapsed());
        turns += 1;
    }
    println!(
        "mass expiry of 100,000 groups: {turns} turns of {EXPIRED_PER_TURN}, {:.0} ms in all, the longest turn {:.2} ms",
        all.elapsed().as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3
    );

    // 250,000 series: 50,000 groups of 5 series (the push_time/failure gauges add 2 each).
    let mut big = Store::new();
    let body = small_body(3).into_bytes();
    for i in 0..(250_000 / 7) {
        push_into(&mut big, i, &body);
    }
    let mut out = Vec::with_capacity(32 << 20);
    for (name, format) in [
        ("text", Format::Text(false)),
        ("OpenMetrics", Format::OpenMetrics(true)),
        ("protobuf", Format::Protobuf),
    ] {
        for gzip in [false, true] {
            let (n, t) = measure(budget, || {
                out.clear();
                let mut scrape = Scrape::new(
                    Choice {
                        format,
                        escaping: None,
                        gzip,
                    },
                    Vec::new(),
                );
                while !scrape.fill(&big, &mut out, 64 << 10) {}
                black_box(&out);
            });
            let per = t / n as u32;
            println!(
                "scrape of 250,000 series as {name}{}: {:.2} ms each, {} bytes",
                if gzip { ", gzip'd" } else { "" },
                per.as_secs_f64() * 1e3,
                out.len(),
            );
        }
    }
}
