//! The page as the server sends it: `index.html` with its `{{name}}` placeholders filled in,
//! so that the groups page lists the first page of groups and the status page its tables
//! before (and without) any script. `curl /` shows every job of the first page, as upstream's
//! page does; once the script runs it lists pages of its own in place of this one.
//!
//! Cheap on purpose: the groups are the first page `GET /api/v1/metrics?offset=0&limit=50`
//! lists (`api::first_page`), and a family shows at most as many series as the script shows
//! before "Show more". Every pushed name, value and HELP text goes through [`escape`], so
//! none of it is parsed as markup.

use crate::formats::expose::write_label_value;
use crate::formats::lines::{each_series, parse_float};
use crate::formats::model::MetricType;
use crate::order;
use crate::store::{Group, Store, PUSH_FAILURE_TIME, PUSH_TIME};
use crate::web::api::rfc3339;

/// The script's default page size, so that the list it loads replaces one just as long.
const PAGE_SIZE: usize = 50;
/// Series a family shows (the script's `FAMILY_SERIES_SHOWN`).
const SERIES_SHOWN: usize = 100;
/// Seconds without a successful push after which a group is stale (the script's default).
const STALE_AFTER: f64 = 3600.0;

/// Which page `/` or `/status` is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum View {
    Groups,
    Status,
}

/// The status page's tables: what they show never changes, so they are rendered once.
pub(super) struct StatusTables {
    build: Vec<u8>,
    runtime: Vec<u8>,
    flags: Vec<u8>,
}

impl StatusTables {
    /// `flags` as `config::effective` lists them; `started` in Unix seconds.
    pub(super) fn new(flags: &[(&str, String)], started: f64) -> StatusTables {
        let mut build = Vec::new();
        for (name, value) in crate::version::info() {
            row(&mut build, name.as_bytes(), |out| value_or_dash(out, value));
        }
        let mut flag_rows = Vec::new();
        let mut telemetry = "/metrics";
        for (name, value) in flags {
            if *name == "web.telemetry-path" {
                telemetry = value;
            }
            row(&mut flag_rows, format!("--{name}").as_bytes(), |out| {
                value_or_dash(out, value)
            });
        }
        // Relative, like every link of the page, so it works under any route prefix.
        let telemetry = telemetry.trim_start_matches('/');
        let mut runtime = Vec::new();
        row(&mut runtime, b"started", |out| time(out, started, ""));
        row(&mut runtime, b"metrics", |out| link(out, telemetry));
        row(&mut runtime, b"JSON API", |out| {
            link(out, "api/v1/metrics");
            out.extend_from_slice(" · ".as_bytes());
            link(out, "api/v1/status");
        });
        StatusTables {
            build,
            runtime,
            flags: flag_rows,
        }
    }
}

/// Appends the page `view` shows: `template` with its placeholders filled in. `now` is Unix
/// seconds.
pub(super) fn render(
    out: &mut Vec<u8>,
    template: &str,
    view: View,
    status: &StatusTables,
    store: &Store,
    now: f64,
) {
    let total = store.group_count();
    let groups = match view {
        View::Groups => crate::web::api::first_page(store, PAGE_SIZE),
        View::Status => Vec::new(),
    };
    let hidden_unless = |out: &mut Vec<u8>, shown: bool| {
        if !shown {
            out.extend_from_slice(b" hidden");
        }
    };
    let mut rest = template;
    while let Some((before, after)) = rest.split_once("{{") {
        out.extend_from_slice(before.as_bytes());
        let (name, after) = after.split_once("}}").unwrap_or((after, ""));
        rest = after;
        match name {
            "title" if view == View::Status => {
                out.extend_from_slice("pushgate · status".as_bytes())
            }
            "title" => out.extend_from_slice(b"pushgate"),
            "nav-metrics" if view == View::Groups => out.extend_from_slice(br#" class="active""#),
            "nav-status" if view == View::Status => out.extend_from_slice(br#" class="active""#),
            "summary" => {
                let text = format!("{total} group{}", if total == 1 { "" } else { "s" });
                out.extend_from_slice(text.as_bytes());
            }
            "metrics-view" => hidden_unless(out, view == View::Groups),
            "status-view" => hidden_unless(out, view == View::Status),
            "pager" if view == View::Groups => pager(out, groups.len(), total),
            "groups" => {
                let mut body = Vec::new();
                for (canonical, group) in &groups {
                    group_item(out, &mut body, store, canonical, group, now);
                }
            }
            "empty-hidden" => hidden_unless(out, view == View::Groups && total == 0),
            "empty" if total == 0 => {
                out.extend_from_slice(b"No groups yet. Push some metrics to see them here.")
            }
            "build" if view == View::Status => out.extend_from_slice(&status.build),
            "runtime" if view == View::Status => out.extend_from_slice(&status.runtime),
            "flags" if view == View::Status => out.extend_from_slice(&status.flags),
            // What the page does not show stays empty.
            _ => {}
        }
    }
    out.extend_from_slice(rest.as_bytes());
}

/// Appends `s` as HTML text or a quoted attribute value.
fn escape(out: &mut Vec<u8>, s: &[u8]) {
    let mut plain = 0;
    for (i, &b) in s.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' => b"&quot;",
            b'\'' => b"&#39;",
            _ => continue,
        };
        out.extend_from_slice(&s[plain..i]);
        out.extend_from_slice(escaped);
        plain = i + 1;
    }
    out.extend_from_slice(&s[plain..]);
}

/// A row of a status table.
fn row(out: &mut Vec<u8>, name: &[u8], value: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(b"<tr><th>");
    escape(out, name);
    out.extend_from_slice(b"</th><td>");
    value(out);
    out.extend_from_slice(b"</td></tr>");
}

/// A value, or a dash for an empty one (an unset flag).
fn value_or_dash(out: &mut Vec<u8>, value: &str) {
    if value.is_empty() {
        out.extend_from_slice(r#"<span class="muted">—</span>"#.as_bytes());
    } else {
        escape(out, value.as_bytes());
    }
}

fn link(out: &mut Vec<u8>, href: &str) {
    out.extend_from_slice(br#"<a href=""#);
    escape(out, href.as_bytes());
    out.extend_from_slice(br#"">"#);
    escape(out, href.as_bytes());
    out.extend_from_slice(b"</a>");
}

/// A `<time>` of Unix seconds `unix`, shown to the second in UTC.
/// How long until a time `seconds` away, as the script words it (`14m`, `2h 5m`).
fn until(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

fn time(out: &mut Vec<u8>, unix: f64, class: &str) {
    out.extend_from_slice(b"<time");
    if !class.is_empty() {
        out.extend_from_slice(br#" class=""#);
        out.extend_from_slice(class.as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(br#" datetime=""#);
    rfc3339(out, unix);
    out.extend_from_slice(br#"">"#);
    rfc3339(out, unix.floor());
    out.extend_from_slice(b"</time>");
}

/// The pager's range: the script adds the buttons that leaf through the pages.
fn pager(out: &mut Vec<u8>, shown: usize, total: usize) {
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let text = format!(
        r#"<span class="range">{}–{shown} of {total} groups · page 1 of {pages}</span>"#,
        usize::from(shown > 0)
    );
    out.extend_from_slice(text.as_bytes());
}

/// A `name="value"` chip, the value quoted as the text format quotes it.
fn label_chip(out: &mut Vec<u8>, scratch: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(if name == "job" {
        br#"<span class="label job"><span class="ln">"#
    } else {
        br#"<span class="label"><span class="ln">"#
    });
    escape(out, name.as_bytes());
    out.extend_from_slice(br#"</span>=<span class="lv">""#);
    scratch.clear();
    write_label_value(scratch, value);
    escape(out, scratch);
    out.extend_from_slice(br#""</span></span>"#);
}

/// One group as an item of the list: a `<details>`, so it opens without script. `body` is
/// scratch space for the families, written before the head that counts them.
fn group_item(
    out: &mut Vec<u8>,
    body: &mut Vec<u8>,
    store: &Store,
    canonical: &str,
    group: &Group,
    now: f64,
) {
    let failed = group.push_time() < group.failure_time();
    let stale = group.push_time() == 0.0 || now - group.push_time() > STALE_AFTER;
    let key: Vec<_> = group.labels().collect();
    let mut scratch = Vec::new();

    body.clear();
    let mut names: Vec<&str> = group.families().iter().map(|n| n.as_ref()).collect();
    order::sort_by_key(&mut names, |n| *n);
    let mut series = 0;
    for name in &names {
        series += family(body, &mut scratch, store, canonical, name, &key);
    }
    for name in [PUSH_FAILURE_TIME, PUSH_TIME] {
        family(body, &mut scratch, store, canonical, name, &key);
    }

    out.extend_from_slice(br#"<li class="group"#);
    if failed {
        out.extend_from_slice(b" failed");
    }
    if stale {
        out.extend_from_slice(b" stale");
    }
    out.extend_from_slice(
        br#""><details><summary class="group-head"><span class="toggle" aria-hidden="true"></span><span class="group-main"><span class="labels">"#,
    );
    // `job` first, as the script shows it; the rest by name, as the key has them.
    let job = key.iter().filter(|(n, _)| n == "job");
    for (name, value) in job.chain(key.iter().filter(|(n, _)| n != "job")) {
        label_chip(out, &mut scratch, name, value);
    }
    out.extend_from_slice(br#"</span><span class="badges">"#);
    if failed {
        out.extend_from_slice(br#"<span class="badge bad">last push failed</span>"#);
    }
    if stale {
        out.extend_from_slice(br#"<span class="badge warn">stale</span>"#);
    }
    if let Some(at) = group.expires_at() {
        out.extend_from_slice(br#"<span class="badge expires">expires in "#);
        out.extend_from_slice(until(at - now).as_bytes());
        out.extend_from_slice(b"</span>");
    }
    out.extend_from_slice(br#"</span></span><span class="times"><span>pushed "#);
    if group.push_time() > 0.0 {
        time(out, group.push_time(), "");
    } else {
        out.extend_from_slice(br#"<span class="muted">never</span>"#);
    }
    out.extend_from_slice(b"</span>");
    if group.failure_time() > 0.0 {
        out.extend_from_slice(br#"<span class="failure">failed "#);
        time(out, group.failure_time(), "bad");
        out.extend_from_slice(b"</span>");
    }
    let counts = format!(
        r#"</span><span class="counts">{} famil{} · {series} series</span></summary><div class="group-body">"#,
        names.len(),
        if names.len() == 1 { "y" } else { "ies" },
    );
    out.extend_from_slice(counts.as_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(b"</div></details></li>");
}

/// Appends family `name` of the group with canonical key `canonical` (whose labels are `key`)
/// and returns how many series it has.
fn family(
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    store: &Store,
    canonical: &str,
    name: &str,
    key: &[(std::borrow::Cow<str>, std::borrow::Cow<str>)],
) -> usize {
    let Some(m) = store.member_view(name, canonical) else {
        return 0;
    };
    let timestamps = name == PUSH_TIME || name == PUSH_FAILURE_TIME;
    out.extend_from_slice(if timestamps {
        br#"<div class="family builtin"><div class="family-head"><span class="fname">"#
    } else {
        br#"<div class="family"><div class="family-head"><span class="fname">"#
    });
    escape(out, name.as_bytes());
    let t = m.mtype.as_str();
    let head = format!(r#"</span><span class="type t-{t}">{t}</span>"#);
    out.extend_from_slice(head.as_bytes());
    if let Some(help) = m.help.filter(|h| !h.is_empty()) {
        out.extend_from_slice(br#"<span class="help">"#);
        escape(out, help.as_bytes());
        out.extend_from_slice(b"</span>");
    }
    out.extend_from_slice(br#"<span class="ftime">set "#);
    time(out, m.time, "");
    out.extend_from_slice(br#"</span></div><table class="series"><tbody>"#);
    let mut count = 0;
    // As for the JSON API: the stored text reads back whole, and were it ever otherwise the
    // page lists what could be read.
    let _ = each_series(&m.text, name, m.mtype, |s| {
        count += 1;
        if count > SERIES_SHOWN {
            return;
        }
        out.extend_from_slice(br#"<tr><td class="slabels"><span class="labels">"#);
        let own = s.labels.iter().filter(|(n, v)| {
            // The key's labels are on the group's head; `instance=""` is what a series gets
            // when its group has no instance.
            let keyed = key.iter().any(|(k, _)| k == n);
            !(keyed || n == "instance" && v.is_empty())
        });
        let mut any = false;
        for (n, v) in own {
            any = true;
            label_chip(out, scratch, n, v);
        }
        if !any {
            out.extend_from_slice(br#"<span class="muted">(group labels only)</span>"#);
        }
        out.extend_from_slice(br#"</span></td><td class="value">"#);
        match m.mtype {
            MetricType::Summary | MetricType::Histogram => {
                out.extend_from_slice(br#"<span class="num">count "#);
                escape(out, s.value.as_bytes());
                out.extend_from_slice(" · sum ".as_bytes());
                escape(out, s.sum.as_bytes());
                out.extend_from_slice(br#"</span><span class="dist">"#);
                let prefix = match m.mtype {
                    MetricType::Histogram => "≤",
                    _ => "q",
                };
                order::sort_by(&mut s.bounds, |a, b| {
                    parse_float(&a.0).total_cmp(&parse_float(&b.0))
                });
                for (bound, value) in &s.bounds {
                    out.extend_from_slice(br#"<span class="q"><span class="k">"#);
                    out.extend_from_slice(prefix.as_bytes());
                    escape(out, bound.as_bytes());
                    out.extend_from_slice(b"</span> ");
                    escape(out, value.as_bytes());
                    out.extend_from_slice(b"</span>");
                }
                out.extend_from_slice(b"</span>");
            }
            _ => {
                let unix = parse_float(s.value);
                if timestamps && unix > 0.0 {
                    time(out, unix, "when");
                    out.push(b' ');
                }
                out.extend_from_slice(br#"<span class="num">"#);
                escape(out, s.value.as_bytes());
                out.extend_from_slice(b"</span>");
            }
        }
        out.extend_from_slice(b"</td></tr>");
    });
    out.extend_from_slice(b"</tbody></table>");
    if count > SERIES_SHOWN {
        let more = format!(
            r#"<p class="muted">and {} more series</p>"#,
            count - SERIES_SHOWN
        );
        out.extend_from_slice(more.as_bytes());
    }
    out.extend_from_slice(b"</div>");
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::names::Validation;
    use crate::store::key::GroupingKey;
    use crate::web::api::tests::{push, push_with};

    fn page(store: &Store, view: View, now: f64) -> String {
        let flags = [("web.telemetry-path", "/m<x>".to_string())];
        let status = StatusTables::new(&flags, 1000.25);
        let mut out = Vec::new();
        render(&mut out, crate::web::ui::INDEX, view, &status, store, now);
        String::from_utf8(out).unwrap()
    }

    /// Where `needle` is in `hay`, which must hold it.
    fn at(hay: &str, needle: &str) -> usize {
        hay.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in the page"))
    }

    #[test]
    fn escapes() {
        let mut out = Vec::new();
        escape(&mut out, "a<b>&\"c'é".as_bytes());
        assert_eq!(out, "a&lt;b&gt;&amp;&quot;c&#39;é".as_bytes());
    }

    #[test]
    fn pushed_text_is_never_markup() {
        let mut s = Store::new();
        push_with(
            &mut s,
            "/x<y>/evil/<script>alert(1)<\"&'",
            true,
            "# HELP \"f<i>\" <img src=x onerror=alert(2)>\n{\"f<i>\",\"l<b>\"=\"<v>\"} 1\n",
            10.0,
            Validation::Utf8,
        );
        let html = page(&s, View::Groups, 10.0);
        // The page's own script element is the only one, and nothing pushed made a tag.
        assert_eq!(html.matches("<script").count(), 1);
        for tag in ["<img", "<i>", "<b>", "<v>", "<y>"] {
            assert!(!html.contains(tag), "{tag} in the page");
        }
        at(&html, r#"<span class="lv">"x&lt;y&gt;"</span>"#);
        at(
            &html,
            r#"<span class="lv">"&lt;script&gt;alert(1)&lt;\&quot;&amp;&#39;"</span>"#,
        );
        at(&html, r#"<span class="fname">f&lt;i&gt;</span>"#);
        at(&html, r#"<span class="ln">l&lt;b&gt;</span>"#);
        at(
            &html,
            r#"<span class="help">&lt;img src=x onerror=alert(2)&gt;</span>"#,
        );
    }

    #[test]
    fn groups_page_is_the_apis_first_page() {
        let mut s = Store::new();
        // Pushed in reverse, and with an instance, so that neither push order nor canonical
        // key order is job order.
        for i in (0..PAGE_SIZE + 10).rev() {
            push(
                &mut s,
                &format!("/j{i:02}/a/{}", 99 - i),
                true,
                "m 1\n",
                10.0,
            );
        }
        let html = page(&s, View::Groups, 10.0);
        let mut last = 0;
        for i in 0..PAGE_SIZE {
            let pos = at(&html, &format!(r#"<span class="lv">"j{i:02}"</span>"#));
            assert!(pos > last, "j{i:02} out of order");
            last = pos;
        }
        assert!(!html.contains(&format!(r#""j{PAGE_SIZE}""#)));
        let api: Vec<_> = crate::web::api::first_page(&s, PAGE_SIZE)
            .iter()
            .map(|(_, g)| g.label("job").unwrap().into_owned())
            .collect();
        assert_eq!(api.len(), PAGE_SIZE);
        assert_eq!(api[0], "j00");
        at(&html, "1–50 of 60 groups · page 1 of 2");
        at(
            &html,
            r#"<span class="top-info" id="summary">60 groups</span>"#,
        );
        at(&html, r#"<section id="metrics-view">"#);
        at(&html, r#"<section id="status-view" hidden>"#);
        at(&html, r#"<a href="./" id="nav-metrics" class="active">"#);
        at(&html, r#"<p id="empty" class="empty" hidden></p>"#);
        // The status tables are the other page's.
        at(&html, r#"<table class="kv" id="flags"></table>"#);
    }

    #[test]
    fn families_series_and_badges() {
        let mut s = Store::new();
        let mut body = String::from(
            "# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"10\"} 3\n\
             h_bucket{le=\"2\"} 2\nh_bucket{le=\"+Inf\"} 4\nh_sum 7\nh_count 4\n\
             # TYPE many counter\n",
        );
        for i in 0..SERIES_SHOWN + 5 {
            body.push_str(&format!("many{{n=\"{i:03}\"}} {i}\n"));
        }
        push(&mut s, "/batch/instance/a", true, &body, 100.0);
        s.record_failure(
            &GroupingKey::from_path("/batch/instance/a", false).unwrap(),
            150.0,
        );
        let html = page(&s, View::Groups, 100.0 + STALE_AFTER + 1.0);
        at(&html, r#"<li class="group failed stale"><details>"#);
        at(&html, "last push failed");
        at(&html, "2 families · 106 series");
        // Buckets by bound, not by their spelling.
        let bounds: Vec<_> = ["≤0.5<", "≤2<", "≤10<", "≤+Inf<"]
            .iter()
            .map(|b| at(&html, b))
            .collect();
        assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
        at(&html, "count 4 · sum 7");
        at(&html, &format!(r#""{:03}""#, SERIES_SHOWN - 1));
        assert!(!html.contains(&format!(r#""{SERIES_SHOWN:03}""#)));
        at(&html, "and 5 more series");
        // The key's labels are on the head only; the timestamp gauges come last, with times.
        assert!(!html[at(&html, "group-body")..].contains(r#""batch""#));
        assert!(at(&html, ">many<") < at(&html, ">push_failure_time_seconds<"));
        at(
            &html,
            r#"<time class="when" datetime="1970-01-01T00:02:30Z">"#,
        );
        at(&html, r#"pushed <time datetime="1970-01-01T00:01:40Z">"#);
    }

    #[test]
    fn status_page_and_empty_store() {
        let mut s = Store::new();
        let html = page(&s, View::Groups, 10.0);
        at(&html, "<ol id=\"groups\" class=\"groups\"></ol>");
        at(&html, r#"<p id="empty" class="empty">No groups yet."#);
        at(&html, "0–0 of 0 groups · page 1 of 1");
        push(&mut s, "/j", true, "m 1\n", 10.0);
        let html = page(&s, View::Status, 10.0);
        at(&html, "<title>pushgate · status</title>");
        at(&html, r#"<section id="metrics-view" hidden>"#);
        at(&html, r#"<section id="status-view">"#);
        at(
            &html,
            r#"<span class="top-info" id="summary">1 group</span>"#,
        );
        // Groups belong to the other page.
        at(&html, "<ol id=\"groups\" class=\"groups\"></ol>");
        at(&html, r#"<p id="empty" class="empty" hidden></p>"#);
        at(
            &html,
            "<tr><th>--web.telemetry-path</th><td>/m&lt;x&gt;</td></tr>",
        );
        at(&html, r#"<a href="m&lt;x&gt;">"#);
        at(
            &html,
            r#"<time datetime="1970-01-01T00:16:40.25Z">1970-01-01T00:16:40Z</time>"#,
        );
        let version = format!(
            "<tr><th>version</th><td>{}</td></tr>",
            env!("CARGO_PKG_VERSION")
        );
        at(&html, &version);
        assert!(!html.contains("{{"));
    }
}
