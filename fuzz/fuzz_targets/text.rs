//! Text format bodies (`text::parse_with`). A body that parses and that the gateway accepts
//! as a push must render (as the store renders a push) to text that parses back to the same
//! families, and that rendering must be a fixed point; the push must scrape to text and
//! protobuf that read back. (A body the gateway refuses need not round-trip: the text format
//! cannot tell an untyped `x_sum` from the `_sum` line of a summary `x`, which is why the
//! consistency check refuses such a pair.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushgate::formats::expose::{write_header, write_metric};
use pushgate::formats::model::MetricFamily;
use pushgate::formats::text::parse_with;
use pushgate_fuzz::{accepted, push_and_scrape, validation};

/// The families as the store renders them: a family without samples (a `# HELP` or `# TYPE`
/// line alone) is neither stored nor exposed, as client_golang drops such families too.
fn render(families: &[MetricFamily]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in families.iter().filter(|f| !f.metrics.is_empty()) {
        write_header(&mut out, &f.name, f.help.as_deref(), f.mtype);
        for m in &f.metrics {
            write_metric(&mut out, &f.name, m);
        }
    }
    out
}

/// What rendering keeps of a family apart from its numbers (which `render` compares as text,
/// where NaN equals itself): timestamps and an implied `+Inf` bucket are the text's to drop
/// and add, and families without samples are not rendered at all.
fn shape(families: &[MetricFamily]) -> Vec<(&str, Option<&str>, String, Vec<String>)> {
    families
        .iter()
        .filter(|f| !f.metrics.is_empty())
        .map(|f| {
            let labels = f
                .metrics
                .iter()
                .map(|m| format!("{:?}", m.labels))
                .collect();
            (
                f.name.as_str(),
                f.help.as_deref(),
                f.mtype.to_string(),
                labels,
            )
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let names = validation(flags);
    let Some(push) = parse_with(body, names).ok().and_then(accepted) else {
        return;
    };
    let families = &push.families;
    let rendered = render(families);
    let again = parse_with(&rendered, names).unwrap_or_else(|e| {
        panic!(
            "rendered text does not parse: {e}\n{}",
            String::from_utf8_lossy(&rendered)
        )
    });
    assert_eq!(shape(&again), shape(families), "families changed");
    assert_eq!(
        String::from_utf8_lossy(&render(&again)),
        String::from_utf8_lossy(&rendered),
        "rendering is not a fixed point"
    );
    push_and_scrape(push, names);
});
