//! pushgate: a drop-in replacement for the Prometheus Pushgateway.
//!
//! Folders by layer. From the socket inward: `net` (the mio reactor, its connections and
//! transports) hands bytes to `http` (framing, the service seam, negotiation), whose requests
//! `web` serves (routes and handlers, the JSON API, the web UI, own metrics, the scrape
//! cursor). `web` changes the `store` (groups and the family index, grouping keys, the
//! consistency check) through its mutations, which `persist` logs and replays; `formats`
//! reads pushes into the metric model and writes what is stored and scraped. `config`,
//! `webconfig`, `log` and `version` are shared by all of them; `gateway` opens and starts
//! them in the order start-up needs.
#![deny(unsafe_code)]

mod civil;
pub mod config;
mod crc;
pub mod formats;
pub mod gateway;
pub mod http;
pub mod log;
pub mod net;
mod order;
pub mod persist;
pub mod store;
pub mod version;
pub mod web;
pub mod webconfig;

/// `tests/testdata/NAME`: a body written by a real encoder (the folder's README says which).
#[cfg(test)]
pub(crate) fn testdata(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/testdata/");
    std::fs::read(format!("{path}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The modules every layer may use.
    const SHARED: &[&str] = &["civil", "crc", "order"];

    /// What each top-level module may name as `crate::<module>` outside its tests: only what
    /// sits below it. A new dependency between layers is a decision, made here.
    const BELOW: &[(&str, &[&str])] = &[
        ("formats", &[]),
        ("config", &["formats"]),
        ("webconfig", &["config"]),
        ("log", &["config"]),
        ("version", &["webconfig"]),
        ("store", &["formats", "config"]),
        ("persist", &["store", "formats", "config", "log"]),
        ("http", &["formats"]),
        ("net", &["http", "webconfig", "config", "log"]),
        (
            "web",
            &[
                "net",
                "http",
                "persist",
                "store",
                "formats",
                "config",
                "webconfig",
                "log",
                "version",
            ],
        ),
        (
            "gateway",
            &[
                "web",
                "net",
                "persist",
                "store",
                "config",
                "webconfig",
                "log",
                "version",
            ],
        ),
    ];

    /// The modules `code` names as `crate::<module>`, comments aside.
    fn named(code: &str) -> Vec<&str> {
        code.lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .flat_map(|l| l.match_indices("crate::").map(move |(i, _)| &l[i + 7..]))
            .map(|rest| {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                &rest[..end]
            })
            .collect()
    }

    fn check(dir: &Path, top: Option<&str>, wrong: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            // A layer's folder holds its modules; a file beside it is its root.
            let layer = top.unwrap_or(&name);
            if path.is_dir() {
                check(&path, Some(layer), wrong);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || name == "tests" {
                continue;
            }
            if top.is_none() && (name == "lib" || name == "main" || SHARED.contains(&&*name)) {
                continue;
            }
            let code = std::fs::read_to_string(&path).unwrap();
            let code = code.split("#[cfg(test)]\nmod tests {").next().unwrap();
            let allowed = BELOW
                .iter()
                .find(|(l, _)| *l == layer)
                .unwrap_or_else(|| panic!("{layer} is not in the table of layers"))
                .1;
            for used in named(code) {
                if used != layer && !SHARED.contains(&used) && !allowed.contains(&used) {
                    wrong.push(format!("{} uses crate::{used}", path.display()));
                }
            }
        }
    }

    #[test]
    fn layers_use_only_the_layers_below() {
        let mut wrong = Vec::new();
        check(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            None,
            &mut wrong,
        );
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
