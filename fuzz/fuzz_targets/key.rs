//! Grouping keys from push URLs (`GroupingKey::from_path_with`). A key that parses names a
//! job, has sorted, distinct, valid label names within the limit, and its canonical form
//! (what the store indexes groups by) gives the same key back. With legacy names, the key
//! written as a URL path of base64 values parses back to the same key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushgate::formats::names::Validation;
use pushgate::store::key::{GroupingKey, MAX_LABELS, MAX_PATH_BYTES};
use pushgate_fuzz::validation;

/// base64url without padding; `=` alone is the empty value, as the URL scheme has it.
fn base64url(b: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if b.is_empty() {
        return "=".into();
    }
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &x| n << 8 | u32::from(x)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(rest) = std::str::from_utf8(rest) else {
        return;
    };
    let names = validation(flags);
    let job_base64 = flags & 2 != 0;
    let Ok(key) = GroupingKey::from_path_with(rest, job_base64, names) else {
        return;
    };
    assert!(key.labels.len() <= MAX_LABELS);
    assert!(
        key.labels.windows(2).all(|w| w[0].name < w[1].name),
        "{key:?}"
    );
    assert!(key
        .labels
        .iter()
        .all(|l| names.is_valid_label_name(&l.name) && !l.name.starts_with("__")));
    assert!(key
        .labels
        .iter()
        .any(|l| l.name == "job" && !l.value.is_empty()));
    assert_eq!(GroupingKey::from_canonical(&key.canonical()), key);
    if names == Validation::Legacy {
        let job = key
            .labels
            .iter()
            .find(|l| l.name == "job")
            .expect("checked");
        let mut path = format!("/{}", base64url(job.value.as_bytes()));
        for l in key.labels.iter().filter(|l| l.name != "job") {
            path.push_str(&format!(
                "/{}@base64/{}",
                l.name,
                base64url(l.value.as_bytes())
            ));
        }
        if path.len() > MAX_PATH_BYTES {
            return;
        }
        let again = GroupingKey::from_path_with(&path, true, names)
            .unwrap_or_else(|e| panic!("{path:?}: {}", e.reason));
        assert_eq!(again, key, "{path:?}");
    }
});
