//! The limits an operator may set on what pushes add (`--push.max-*`, all off by default so
//! upstream's behaviour is kept). A push past one is refused with the limit's flag in its
//! reason and changes nothing: no failure time is recorded, since that could itself create a
//! group.

use crate::config::Limits;
use crate::store::key::GroupingKey;
use crate::store::{sample_lines, Change, Push, Store};

/// Why a push is past a limit.
#[derive(Debug, PartialEq)]
pub(crate) struct Refusal {
    pub status: u16,
    /// The flag that sets the limit, for the reason and the rejection counter.
    pub flag: &'static str,
    pub reason: String,
}

fn refuse(status: u16, flag: &'static str, what: String, limit: usize) -> Result<(), Refusal> {
    Err(Refusal {
        status,
        flag,
        reason: format!("{what}, more than --{flag}={limit} allows"),
    })
}

/// `--push.max-groups`: checked before anything else, as a refused push creates its group.
pub(crate) fn groups(limits: &Limits, store: &Store, key: &GroupingKey) -> Result<(), Refusal> {
    let max = limits.groups;
    if max == 0 || store.group(key).is_some() || store.group_count() < max {
        return Ok(());
    }
    let what = format!(
        "the gateway holds {} groups and this push would add one",
        store.group_count()
    );
    refuse(429, "push.max-groups", what, max)
}

/// `--push.max-labels-per-series` and `--push.max-label-value-length`, on a sanitized push
/// (its series carry the grouping labels).
pub(crate) fn labels(limits: &Limits, push: &Push) -> Result<(), Refusal> {
    let (most, longest) = (limits.labels_per_series, limits.label_value_length);
    if most == 0 && longest == 0 {
        return Ok(());
    }
    for f in &push.families {
        for m in &f.metrics {
            if most != 0 && m.labels.len() > most {
                let what = format!("a series of {} has {} labels", f.name, m.labels.len());
                return refuse(400, "push.max-labels-per-series", what, most);
            }
            let long = m.labels.iter().find(|l| l.value.len() > longest);
            if let Some(l) = long.filter(|_| longest != 0) {
                let what = format!(
                    "label {} of a series of {} is {} bytes long",
                    l.name,
                    f.name,
                    l.value.len()
                );
                return refuse(400, "push.max-label-value-length", what, longest);
            }
        }
    }
    Ok(())
}

/// `--push.max-series-per-push` and `--push.max-series`, on the rendered push: series are
/// counted as a scraper stores them, a sample line each.
pub(crate) fn series(limits: &Limits, store: &Store, change: &Change) -> Result<(), Refusal> {
    let (per_push, total) = (limits.series_per_push, limits.series);
    if per_push == 0 && total == 0 {
        return Ok(());
    }
    let pushed: u64 = change.families.iter().map(|f| sample_lines(&f.text)).sum();
    if per_push != 0 && pushed > per_push as u64 {
        return refuse(
            413,
            "push.max-series-per-push",
            format!("the push holds {pushed} series"),
            per_push,
        );
    }
    if total == 0 {
        return Ok(());
    }
    let replaced = if change.replace {
        store.group_series(&change.key, None)
    } else {
        change
            .families
            .iter()
            .map(|f| store.group_series(&change.key, Some(&f.name)))
            .sum()
    };
    let after = store.series_count() - replaced + pushed;
    if after > total as u64 {
        let what = format!("the gateway would hold {after} series after this push");
        return refuse(429, "push.max-series", what, total);
    }
    Ok(())
}
