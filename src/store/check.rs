//! Preparing a decoded push for the store: labelling it with its grouping key, and the
//! push-time consistency check (SPEC sections 4 and 6).
//!
//! The check answers "would applying this push make the exposition inconsistent?" in time
//! proportional to the push, using the store's family index and key shapes instead of
//! re-gathering everything. It does not modify the store.

use std::collections::HashMap;

use crate::formats::expose;
use crate::formats::lines::has_series;
use crate::formats::model::{self, Label, Metric, MetricFamily, MetricType, Value};
use crate::formats::text::quote::quote_str;
use crate::store::key;
use crate::store::{ByName, Push, Store, PUSH_FAILURE_TIME, PUSH_TIME};

/// Labels every series with the grouping key and normalizes the push: the key labels
/// override the body's, `instance=""` is added when absent, labels and series are sorted,
/// a repeated family keeps its last occurrence, and the group's own timestamp gauges are not
/// pushable. Rejects timestamps and misplaced `quantile`/`le` labels.
pub fn sanitize(push: &mut Push) -> Result<(), String> {
    let last = ByName::new(&push.families, |f| &f.name);
    let keep: Vec<bool> = (push.families.iter())
        .map(|f| {
            f.name != PUSH_TIME
                && f.name != PUSH_FAILURE_TIME
                && last.get(&f.name).is_some_and(|l| std::ptr::eq(l, f))
        })
        .collect();
    let mut keep = keep.into_iter();
    push.families.retain(|_| keep.next() == Some(true));
    for f in &mut push.families {
        let reserved = match f.mtype.text_type() {
            MetricType::Summary => Some("quantile"),
            MetricType::Histogram => Some("le"),
            _ => None,
        };
        for m in &mut f.metrics {
            if m.timestamp_ms.is_some() {
                return Err("pushed metrics must not have timestamps".into());
            }
            label_series(m, &push.key.labels);
            if let Some(l) = m.labels.iter().find(|l| l.name.starts_with("__")) {
                return Err(format!(
                    "{} has a label with an invalid name: {}",
                    collected(&f.name, f.mtype, m),
                    l.name
                ));
            }
            if let Some(w) = m.labels.windows(2).find(|w| w[0].name == w[1].name) {
                return Err(format!(
                    "{} has two or more labels with the same name: {}",
                    collected(&f.name, f.mtype, m),
                    w[0].name
                ));
            }
            if let Some(r) = reserved.filter(|r| m.labels.iter().any(|l| l.name == *r)) {
                return Err(format!(
                    "{} metric {} must not have a {r:?} label",
                    f.mtype, f.name
                ));
            }
        }
        f.metrics.sort_by(|a, b| a.labels.cmp(&b.labels));
    }
    Ok(())
}

fn label_series(m: &mut Metric, key: &[Label]) {
    m.labels.retain(|l| !key.iter().any(|k| k.name == l.name));
    m.labels.extend(key.iter().cloned());
    if !m.labels.iter().any(|l| l.name == "instance") {
        m.labels.push(Label::new("instance", ""));
    }
    model::sort_by_name(&mut m.labels);
}

/// Metric names and types the gateway itself exposes, so pushes cannot contradict them.
pub type OwnTypes = fn(&str) -> Option<MetricType>;

/// Checks a sanitized push against itself and the store. `Err` carries the reason.
pub fn check(store: &Store, push: &Push, own: OwnTypes) -> Result<(), String> {
    let ctx = Context::new(store, push, own);
    for f in push.families.iter().filter(|f| !f.metrics.is_empty()) {
        ctx.check_type(f)?;
        ctx.check_suffixes(f)?;
        check_duplicates_within(f)?;
    }
    ctx.check_duplicates_across(&push.families)
}

struct Context<'a> {
    store: &'a Store,
    push: &'a Push,
    own: OwnTypes,
    key: String,
    pushed: ByName<'a, MetricFamily>,
}

impl<'a> Context<'a> {
    fn new(store: &'a Store, push: &'a Push, own: OwnTypes) -> Context<'a> {
        Context {
            store,
            push,
            own,
            key: push.key.canonical(),
            pushed: ByName::new(&push.families, |f| &f.name),
        }
    }

    /// The type family `name` would have in the exposition after this push, if it existed.
    fn type_after(&self, name: &str) -> Option<MetricType> {
        if let Some(f) = self.pushed.get(name) {
            return (!f.metrics.is_empty()).then_some(f.mtype);
        }
        if let Some(t) = (self.own)(name) {
            return Some(t);
        }
        let family = self.store.family(name)?;
        let (ours, others) = family.members_of(&self.key);
        // A PUT drops the group's other families; a POST keeps them.
        (others || (ours && !self.push.replace)).then_some(family.mtype())
    }

    fn check_type(&self, f: &MetricFamily) -> Result<(), String> {
        if let Some(t) = (self.own)(&f.name).filter(|&t| t != f.mtype) {
            return Err(format!(
                "gathered metric family {} has type {} but should have {}",
                f.name,
                proto_type(f.mtype),
                proto_type(t)
            ));
        }
        let Some(family) = self.store.family(&f.name) else {
            return Ok(());
        };
        let (_, others) = family.members_of(&self.key);
        match f.metrics.first() {
            Some(m) if others && family.mtype() != f.mtype => Err(format!(
                "{} is not a {}",
                collected(&f.name, f.mtype, m),
                proto_type(family.mtype())
            )),
            _ => Ok(()),
        }
    }

    fn check_suffixes(&self, f: &MetricFamily) -> Result<(), String> {
        let own_suffixes: &[&str] = match f.mtype.text_type() {
            MetricType::Summary => &["_sum", "_count"],
            MetricType::Histogram => &["_sum", "_count", "_bucket"],
            _ => &[],
        };
        let mut other = String::new();
        for suffix in own_suffixes {
            other.clear();
            other.push_str(&f.name);
            other.push_str(suffix);
            if self.type_after(&other).is_some() {
                return Err(suffix_collision(&f.name, suffix, &other));
            }
        }
        for suffix in ["_sum", "_count", "_bucket"] {
            let Some(base) = f.name.strip_suffix(suffix) else {
                continue;
            };
            let aggregate = self.type_after(base).filter(|t| match t.text_type() {
                MetricType::Histogram => true,
                MetricType::Summary => suffix != "_bucket",
                _ => false,
            });
            if aggregate.is_some() {
                return Err(suffix_collision(base, suffix, &f.name));
            }
        }
        Ok(())
    }

    /// Another group's series can only equal a pushed one if that group's key labels are a
    /// subset of the series' labels with the same values. For each key shape in use whose
    /// names the series has, project the series onto it and look that group up directly.
    /// The shapes a set of label names contains come from the store's trie of shapes, once
    /// per distinct set (a push's series mostly share one), and a group's stored text is
    /// binary-searched for the series (it is kept in label-set order): no cost grows with the
    /// product of two sizes, nor with how many shapes or how large other groups are.
    fn check_duplicates_across(&self, families: &[MetricFamily]) -> Result<(), String> {
        let own_names = self.push.key.labels.iter().map(|l| l.name.as_str());
        // Most stores hold groups of one shape, the push's own.
        if self.store.shapes.only(own_names.clone()) {
            return Ok(());
        }
        let own_shape: Vec<&str> = own_names.collect();
        // For each distinct set of label names: the shapes in it other than the pushed
        // group's own (a group of its shape with another key cannot hold its series), as
        // positions in the set; `admitted` finds a set's entry in `fits`.
        let mut fits: Vec<Vec<Vec<usize>>> = Vec::new();
        let mut admitted: HashMap<Vec<&str>, usize> = HashMap::new();
        let mut names: Vec<&str> = Vec::new();
        let mut names_fit = None;
        let mut candidate = String::new();
        for f in families {
            for m in &f.metrics {
                let series_names = m.labels.iter().map(|l| l.name.as_str());
                let fit = match names_fit {
                    // A series mostly has the label names of the one before: no lookup then.
                    Some(fit) if series_names.clone().eq(names.iter().copied()) => fit,
                    _ => {
                        names.clear();
                        names.extend(series_names);
                        match admitted.get(&names) {
                            Some(&fit) => fit,
                            None => {
                                fits.push(self.other_shapes(&names, &own_shape));
                                admitted.insert(names.clone(), fits.len() - 1);
                                fits.len() - 1
                            }
                        }
                    }
                };
                names_fit = Some(fit);
                for shape in &fits[fit] {
                    candidate.clear();
                    for &i in shape {
                        key::push_canonical(&mut candidate, &m.labels[i]);
                    }
                    let Some((mtype, text)) = self.store.member_text(&f.name, &candidate) else {
                        continue;
                    };
                    let found = has_series(text, &f.name, mtype, &m.labels).map_err(|_| {
                        format!(
                            "the stored series of metric family {} cannot be read back",
                            f.name
                        )
                    })?;
                    if found {
                        return Err(collected_before(&f.name, f.mtype, m));
                    }
                }
            }
        }
        Ok(())
    }

    /// The shapes in use whose names are all in `names`, but `own`, as positions in `names`.
    fn other_shapes(&self, names: &[&str], own: &[&str]) -> Vec<Vec<usize>> {
        let mut shapes = Vec::new();
        self.store.shapes.subsets_of(names, |at| {
            if at.iter().map(|&i| names[i]).ne(own.iter().copied()) {
                shapes.push(at.to_vec());
            }
        });
        shapes
    }
}

fn check_duplicates_within(f: &MetricFamily) -> Result<(), String> {
    match f.metrics.windows(2).find(|w| w[0].labels == w[1].labels) {
        Some(w) => Err(collected_before(&f.name, f.mtype, &w[1])),
        None => Ok(()),
    }
}

// The reasons below are worded as upstream's (whose check gathers everything and reports what
// the Prometheus client library finds), since users search logs and answers for them.

fn collected_before(name: &str, mtype: MetricType, m: &Metric) -> String {
    format!(
        "{} was collected before with the same name and label values",
        collected(name, mtype, m)
    )
}

/// `base` is a summary's or histogram's name, `other` its name with `suffix`.
fn suffix_collision(base: &str, suffix: &str, other: &str) -> String {
    let what = if suffix == "_bucket" {
        "histogram"
    } else {
        "histogram or summary"
    };
    format!(
        "collected {what} named {base:?} collides with previously collected metric named {other:?}"
    )
}

/// `collected metric "name" { ... }`, the metric in protobuf's compact text form.
fn collected(name: &str, mtype: MetricType, m: &Metric) -> String {
    let mut out = format!("collected metric {} {{ ", quote_str(name.as_bytes()));
    for l in &m.labels {
        out.push_str("label:<name:");
        push_proto_string(&mut out, &l.name);
        out.push_str(" value:");
        push_proto_string(&mut out, &l.value);
        out.push_str(" > ");
    }
    let float = |v: f64| -> String {
        if v.is_nan() {
            return "nan".into();
        }
        if v.is_infinite() {
            return if v > 0.0 { "inf" } else { "-inf" }.into();
        }
        let mut b = Vec::new();
        expose::write_float(&mut b, v);
        String::from_utf8_lossy(&b).into_owned()
    };
    match &m.value {
        Value::Simple(v) => {
            let kind = proto_type(mtype).to_ascii_lowercase();
            out.push_str(&format!("{kind}:<value:{} > ", float(*v)));
        }
        Value::Summary {
            quantiles,
            sum,
            count,
        } => {
            out.push_str(&format!(
                "summary:<sample_count:{count} sample_sum:{} ",
                float(*sum)
            ));
            for (q, v) in quantiles {
                out.push_str(&format!(
                    "quantile:<quantile:{} value:{} > ",
                    float(*q),
                    float(*v)
                ));
            }
            out.push_str("> ");
        }
        Value::Histogram {
            buckets,
            sum,
            count,
            ..
        } => {
            out.push_str(&format!(
                "histogram:<sample_count:{count} sample_sum:{} ",
                float(*sum)
            ));
            for (le, c) in buckets {
                out.push_str(&format!(
                    "bucket:<cumulative_count:{c} upper_bound:{} > ",
                    float(*le)
                ));
            }
            out.push_str("> ");
        }
    }
    out.push('}');
    out
}

/// A type as protobuf names it.
fn proto_type(t: MetricType) -> &'static str {
    match t {
        MetricType::Counter => "COUNTER",
        MetricType::Gauge => "GAUGE",
        MetricType::Summary => "SUMMARY",
        MetricType::Histogram => "HISTOGRAM",
        MetricType::GaugeHistogram => "GAUGE_HISTOGRAM",
        MetricType::Untyped => "UNTYPED",
    }
}

/// A string in protobuf's text form: quoted, with C escapes and every other byte outside
/// printable ASCII in octal.
fn push_proto_string(out: &mut String, s: &str) {
    out.push('"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::names::Validation;
    use crate::formats::text;
    use crate::store::key::GroupingKey;
    use crate::web::telemetry::own_type;
    use std::sync::Arc;

    fn push(path: &str, replace: bool, body: &str) -> Push {
        push_with(path, replace, body, Validation::Legacy)
    }

    fn push_with(path: &str, replace: bool, body: &str, names: Validation) -> Push {
        Push {
            key: GroupingKey::from_path_with(path, false, names).unwrap(),
            families: text::parse_with(body.as_bytes(), names).unwrap(),
            replace,
            now: 1.0,
        }
    }

    /// Applies `body` to `store` after sanitizing and checking; the check's verdict.
    fn try_push(store: &mut Store, path: &str, replace: bool, body: &str) -> Result<(), String> {
        try_push_with(store, path, replace, body, Validation::Legacy)
    }

    fn try_push_with(
        store: &mut Store,
        path: &str,
        replace: bool,
        body: &str,
        names: Validation,
    ) -> Result<(), String> {
        let mut p = push_with(path, replace, body, names);
        sanitize(&mut p)?;
        check(store, &p, own_type)?;
        store.apply(&p.render());
        Ok(())
    }

    #[test]
    fn sanitize_labels_series() {
        let mut p = push(
            "/j/a/1",
            true,
            "x{job=\"other\",z=\"9\",a=\"0\"} 1\nx{instance=\"i\"} 2\n",
        );
        sanitize(&mut p).unwrap();
        let labels: Vec<Vec<(String, String)>> = p.families[0]
            .metrics
            .iter()
            .map(|m| {
                m.labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect()
            })
            .collect();
        let l = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            labels,
            [
                l(&[("a", "1"), ("instance", ""), ("job", "j"), ("z", "9")]),
                l(&[("a", "1"), ("instance", "i"), ("job", "j")]),
            ]
        );
        let mut p = push("/j", true, "x 1 1000\n");
        assert_eq!(
            sanitize(&mut p).unwrap_err(),
            "pushed metrics must not have timestamps"
        );
        let mut p = push("/j", true, "x{__foo=\"1\"} 1\n");
        assert!(sanitize(&mut p)
            .unwrap_err()
            .contains("has a label with an invalid name: __foo"));
        let mut p = push("/j", true, "push_time_seconds 5\nx 1\n");
        sanitize(&mut p).unwrap();
        assert_eq!(p.families.len(), 1);
    }

    #[test]
    fn consistency_table() {
        // (setup pushes, the push under test, expected error substring or None)
        type Case<'a> = (
            &'a [(&'a str, &'a str)],
            (&'a str, bool, &'a str),
            Option<&'a str>,
        );
        let table: &[Case] = &[
            (&[], ("/a", true, "x 1\nx 2\n"), Some("was collected before")),
            (&[], ("/a", true, "x{job=\"1\"} 1\nx{job=\"2\"} 2\n"), Some("was collected before")),
            (&[("/b", "# TYPE x gauge\nx 1\n")], ("/a", true, "# TYPE x counter\nx 1\n"), Some("} is not a GAUGE")),
            (&[("/a", "# TYPE x gauge\nx 1\n")], ("/a", true, "# TYPE x counter\nx 1\n"), None),
            (&[], ("/a", true, "# TYPE process_open_fds counter\nprocess_open_fds 1\n"), Some("gathered metric family process_open_fds has type COUNTER but should have GAUGE")),
            (&[], ("/a", true, "# TYPE process_open_fds gauge\nprocess_open_fds 1\n"), None),
            (&[("/b", "# TYPE s summary\ns_sum 1\n")], ("/a", true, "s_count 1\n"), Some("collides")),
            (&[("/b", "s_count 1\n")], ("/a", true, "# TYPE s summary\ns_sum 1\n"), Some("collides")),
            (&[("/b", "s_bucket 1\n")], ("/a", true, "# TYPE s summary\ns_sum 1\n"), None),
            (&[("/b", "h_bucket 1\n")], ("/a", true, "# TYPE h histogram\nh_sum 1\n"), Some("collides")),
            (&[], ("/a", true, "# TYPE h_count gauge\nh_count 1\n# TYPE h histogram\nh_sum 1\n"), Some("collides")),
            (&[], ("/a", true, "# TYPE pushgateway_http_push_size_bytes_sum gauge\npushgateway_http_push_size_bytes_sum 1\n"), Some("collides")),
            // Same group, PUT drops the old family; POST keeps it.
            (&[("/a", "s_count 1\n")], ("/a", true, "# TYPE s summary\ns_sum 1\n"), None),
            (&[("/a", "s_count 1\n")], ("/a", false, "# TYPE s summary\ns_sum 1\n"), Some("collides")),
            // A key that is a subset of another's: the series can collide.
            (&[("/a", "x{k=\"1\"} 1\n")], ("/a/k/1", true, "x 2\n"), Some("was collected before")),
            (&[("/a/k/1", "x 2\n")], ("/a", true, "x{k=\"1\"} 1\n"), Some("was collected before")),
            (&[("/a/k/1", "x 2\n")], ("/a", true, "x{k=\"2\"} 1\n"), None),
            (&[("/a/k/1", "x 2\n")], ("/a", true, "y{k=\"1\"} 1\n"), None),
            (&[("/a/k/1", "# TYPE s summary\ns{quantile=\"0.5\"} 2\n")], ("/a", true, "# TYPE s summary\ns{k=\"1\",quantile=\"0.9\"} 1\n"), Some("was collected before")),
            (&[("/b/k/1", "x 2\n")], ("/a", true, "x{k=\"1\"} 1\n"), None),
            // The text parser keeps `le` on a summary and `quantile` on a histogram as labels.
            (&[], ("/a", true, "# TYPE s summary\ns{le=\"1\",quantile=\"0.5\"} 1\n"), None),
            (&[], ("/a", true, "# TYPE h histogram\nh_bucket{quantile=\"1\",le=\"1\"} 1\n"), None),
        ];
        for (setup, (path, replace, body), want) in table {
            let mut store = Store::new();
            for (p, b) in *setup {
                try_push(&mut store, p, true, b).unwrap_or_else(|e| panic!("setup {p}: {e}"));
            }
            let got = try_push(&mut store, path, *replace, body);
            match (want, got) {
                (None, Ok(())) => {}
                (Some(w), Err(e)) if e.contains(w) => {}
                (w, g) => panic!("{path} {body:?}: want {w:?}, got {g:?}"),
            }
        }
    }

    /// Gauge histograms come only from protobuf pushes: here, from text histograms named `q`
    /// given that type (`gauge`: whether the push does that).
    fn try_push_gauge(
        store: &mut Store,
        path: &str,
        body: &str,
        gauge: bool,
    ) -> Result<(), String> {
        let mut p = push(path, true, body);
        for f in p.families.iter_mut().filter(|f| gauge && f.name == "q") {
            f.mtype = MetricType::GaugeHistogram;
        }
        sanitize(&mut p)?;
        check(store, &p, own_type)?;
        store.apply(&p.render());
        Ok(())
    }

    #[test]
    fn gauge_histograms_are_their_own_type_with_a_histograms_lines() {
        const Q: &str = "# TYPE q histogram\nq_bucket{le=\"+Inf\"} 1\nq_sum 1\nq_count 1\n";
        type Case<'a> = (
            &'a [(&'a str, &'a str, bool)],
            (&'a str, &'a str, bool),
            Option<&'a str>,
        );
        let table: &[Case] = &[
            (&[("/b", Q, true)], ("/a", Q, true), None),
            (
                &[("/b", Q, true)],
                ("/a", Q, false),
                Some("} is not a GAUGE_HISTOGRAM"),
            ),
            (
                &[("/b", Q, false)],
                ("/a", Q, true),
                Some("} is not a HISTOGRAM"),
            ),
            // The group's own old family is replaced, whatever its type.
            (&[("/a", Q, false)], ("/a", Q, true), None),
            (
                &[("/b", Q, true)],
                ("/a", "q_count 1\n", false),
                Some("collected histogram or summary named \"q\" collides with previously collected metric named \"q_count\""),
            ),
            (
                &[("/b", "q_bucket 1\n", false)],
                ("/a", Q, true),
                Some("collected histogram named \"q\" collides with previously collected metric named \"q_bucket\""),
            ),
            (
                &[("/b", Q, true)],
                ("/a", "q_bucket{x=\"1\"} 1\n", false),
                Some("collides"),
            ),
        ];
        for (setup, (path, body, gauge), want) in table {
            let mut store = Store::new();
            for (p, b, g) in *setup {
                try_push_gauge(&mut store, p, b, *g).unwrap_or_else(|e| panic!("setup {p}: {e}"));
            }
            match (want, try_push_gauge(&mut store, path, body, *gauge)) {
                (None, Ok(())) => {}
                (Some(w), Err(e)) if e.contains(w) => {}
                (w, g) => panic!("{path} {body:?} {gauge}: want {w:?}, got {g:?}"),
            }
        }
        // `le` is the buckets' label, as in a histogram.
        let mut p = push("/a", true, Q);
        p.families[0].mtype = MetricType::GaugeHistogram;
        p.families[0].metrics[0].labels.push(Label::new("le", "1"));
        assert_eq!(
            sanitize(&mut p).unwrap_err(),
            "gaugehistogram metric q must not have a \"le\" label"
        );
    }

    #[test]
    fn stored_text_that_cannot_be_read_is_an_error() {
        let mut store = Store::new();
        try_push(&mut store, "/a/k/1", true, "x 1\n").unwrap();
        let member = store
            .families
            .get_mut("x")
            .and_then(|f| f.members.values_mut().next())
            .unwrap();
        member.text = Arc::from(&b"x{instance=\"\",job=\"a\",k=\"1\"} 1"[..]);
        assert_eq!(
            try_push(&mut store, "/a", true, "x{k=\"1\"} 1\n"),
            Err("the stored series of metric family x cannot be read back".into())
        );
    }

    #[test]
    fn a_repeated_family_keeps_its_last_occurrence() {
        // Few families (found by scan) and many (found by map).
        for others in [1, 12] {
            let mut p = push("/j", true, "");
            let mut add = |name: &str, v: f64| {
                let mut f = text::parse(format!("{name} {v}\n").as_bytes()).unwrap();
                p.families.append(&mut f);
            };
            add("a", 1.0);
            add(PUSH_TIME, 5.0);
            for i in 0..others {
                add(&format!("o{i}"), 0.0);
            }
            add("a", 2.0);
            add("b", 3.0);
            sanitize(&mut p).unwrap();
            let kept: Vec<(&str, f64)> = (p.families.iter())
                .map(|f| match f.metrics[0].value {
                    Value::Simple(v) => (f.name.as_str(), v),
                    _ => unreachable!("gauges only"),
                })
                .filter(|(name, _)| !name.starts_with('o'))
                .collect();
            assert_eq!(kept, [("a", 2.0), ("b", 3.0)], "{others} others");
            assert_eq!(p.families.len(), others + 2);
        }
    }

    #[test]
    fn a_single_other_shape_is_still_searched() {
        let mut store = Store::new();
        try_push(&mut store, "/a/k/1", true, "x 1\n").unwrap();
        // Only one shape is in use, but not the pushed group's own.
        let refused = try_push(&mut store, "/a", true, "x{k=\"1\"} 1\n").unwrap_err();
        assert!(refused.contains("was collected before"), "{refused}");
        // A group of the same shape with another key holds no collision.
        try_push(&mut store, "/b/k/1", true, "x 1\n").unwrap();
        try_push(&mut store, "/c/k/1", true, "x 1\n").unwrap();
    }

    #[test]
    fn collisions_are_found_through_every_matching_shape() {
        let mut store = Store::new();
        for (path, body) in [
            ("/a/k/1", "x 1\n"),
            ("/a/k/2/m/3", "x 1\n"),
            ("/a/m/3", "y 1\n"),
            ("/a/z/9", "x 1\n"),
        ] {
            try_push(&mut store, path, true, body).unwrap();
        }
        // Many series sharing one set of label names, one of them colliding with the group
        // of the second shape, found among thousands of others.
        let mut body: String = (0..5000)
            .map(|i| format!("x{{k=\"2\",m=\"{i}\"}} 1\n"))
            .collect();
        assert_eq!(
            try_push(&mut store, "/a", true, &body),
            Err(
                "collected metric \"x\" { label:<name:\"instance\" value:\"\" > \
                 label:<name:\"job\" value:\"a\" > label:<name:\"k\" value:\"2\" > \
                 label:<name:\"m\" value:\"3\" > untyped:<value:1 > } was collected before \
                 with the same name and label values"
                    .into()
            )
        );
        body = (4..5000)
            .map(|i| format!("x{{k=\"2\",m=\"{i}\"}} 1\n"))
            .collect();
        body.push_str("y{k=\"1\"} 1\n");
        assert_eq!(try_push(&mut store, "/a", true, &body), Ok(()));
    }

    #[test]
    fn consistency_with_utf8_names() {
        type Case<'a> = (
            &'a [(&'a str, &'a str)],
            (&'a str, &'a str),
            Option<&'a str>,
        );
        let table: &[Case] = &[
            (
                &[],
                ("/a", "{\"x.y\"} 1\n\"x.y\" 2\n"),
                Some("was collected before"),
            ),
            (
                &[("/b", "# TYPE \"x.y\" gauge\n{\"x.y\"} 1\n")],
                ("/a", "# TYPE \"x.y\" counter\n{\"x.y\"} 1\n"),
                Some("} is not a GAUGE"),
            ),
            (
                &[("/b", "# TYPE \"s.x\" summary\n{\"s.x_sum\"} 1\n")],
                ("/a", "{\"s.x_count\"} 1\n"),
                Some("collides"),
            ),
            (
                &[("/b", "{\"h.x_bucket\"} 1\n")],
                ("/a", "# TYPE \"h.x\" histogram\n{\"h.x_sum\"} 1\n"),
                Some("collides"),
            ),
            // Another group's stored series are read back with their quoted names.
            (
                &[("/a", "{\"x.y\",\"k.k\"=\"1\"} 1\n")],
                ("/a/U__k_2e_k/1", "{\"x.y\"} 2\n"),
                Some("was collected before"),
            ),
            (
                &[("/a/k.k/1", "{\"x.y\"} 2\n")],
                ("/a", "{\"x.y\",\"k.k\"=\"1\"} 1\n"),
                Some("was collected before"),
            ),
            (
                &[("/a/k.k/1", "{\"x.y\"} 2\n")],
                ("/a", "{\"x.y\",\"k.k\"=\"2\"} 1\n"),
                None,
            ),
            (
                &[],
                ("/a", "x{\"__a\"=\"1\"} 1\n"),
                Some("invalid name: __a"),
            ),
        ];
        for (setup, (path, body), want) in table {
            let mut store = Store::new();
            for (p, b) in *setup {
                try_push_with(&mut store, p, true, b, Validation::Utf8)
                    .unwrap_or_else(|e| panic!("setup {p}: {e}"));
            }
            let got = try_push_with(&mut store, path, true, body, Validation::Utf8);
            match (want, got) {
                (None, Ok(())) => {}
                (Some(w), Err(e)) if e.contains(w) => {}
                (w, g) => panic!("{path} {body:?}: want {w:?}, got {g:?}"),
            }
        }
    }
}
