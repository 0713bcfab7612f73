//! The web UI: one HTML page (served at `/` and `/status`), its script and its style sheet,
//! embedded in the binary. No external assets.
//!
//! The server fills the page in (`page`): `/` comes with the first page of groups, as upstream's
//! page lists its groups, and `/status` with its tables, so both read without script. The
//! script then takes the groups over as a small vanilla-JS client of the JSON API: it asks
//! `/api/v1/metrics` for one page of groups at a time (pushgate's `offset`/`limit`/`filter`
//! extension), so it stays responsive with any number of groups, and builds the DOM with
//! `textContent` only. Either way pushed label values and HELP texts (untrusted) are never
//! parsed as markup. A strict Content-Security-Policy (no inline script, same-origin only)
//! backs that up. Every URL the page uses is relative, so it works under any
//! `--web.route-prefix` or `--web.external-url`.
//!
//! Owns only the page, the assets and their headers; the data comes from `api` and the store,
//! deletes go to the push URL and wipes to the admin API like any client's.

mod page;

use crate::config::Config;
use crate::formats::compress::{decompress, Encoding};
use crate::http::service::{Body, Response};
use crate::store::Store;

use page::{StatusTables, View};

const INDEX: &str = include_str!("ui/index.html");
/// The script and style sheet, gzip'd by `build.rs`: sent as they are to a browser that takes
/// gzip, inflated for a client that does not.
const SCRIPT_GZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/app.js.gz"));
const STYLE_GZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/style.css.gz"));

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The UI's state that lives as long as the server.
pub(super) struct Ui {
    status: StatusTables,
}

impl Ui {
    /// `started` is the process start in Unix seconds.
    pub(super) fn new(cfg: &Config, started: f64) -> Ui {
        Ui {
            status: StatusTables::new(&crate::config::effective(cfg), started),
        }
    }

    /// Answers `rel` (the path after the route prefix; `full` is the whole path) if it is a UI
    /// page or asset: `(handler name, response)`. `gzip`: whether the client takes gzip.
    /// `now` is Unix seconds.
    pub(super) fn route<S>(
        &self,
        method: &str,
        rel: &str,
        full: &str,
        gzip: bool,
        store: &Store,
        now: f64,
    ) -> Option<(&'static str, Response<S>)> {
        let (handler, served) = match rel {
            // Relative links need the prefix to end in `/`: send `/gw` to `/gw/`.
            "" => return Some(("status", redirect_to_dir(full))),
            "/" => ("status", Served::Page(View::Groups)),
            "/status" => ("status", Served::Page(View::Status)),
            "/static/pushgate.js" => ("static", Served::Asset("text/javascript", SCRIPT_GZ)),
            "/static/pushgate.css" => ("static", Served::Asset("text/css", STYLE_GZ)),
            _ => return None,
        };
        if method != "GET" && method != "HEAD" {
            return Some((handler, Response::method_not_allowed("GET, HEAD")));
        }
        // Beyond the common headers, an asset's: it varies with `Accept-Encoding`.
        let (media_type, body, extra) = match served {
            Served::Asset(media_type, gz) if gzip => (
                media_type,
                gz.to_vec(),
                &[VARY, ("Content-Encoding", "gzip")][..],
            ),
            Served::Asset(media_type, gz) => (media_type, inflate(gz), &[VARY][..]),
            Served::Page(view) => {
                let mut out = Vec::with_capacity(16 * 1024);
                page::render(&mut out, INDEX, view, &self.status, store, now);
                ("text/html", out, &[][..])
            }
        };
        let mut resp = Response {
            status: 200,
            headers: vec![
                ("Content-Type", format!("{media_type}; charset=utf-8")),
                ("Cache-Control", "no-cache".to_string()),
                ("Content-Security-Policy", CSP.to_string()),
                ("X-Content-Type-Options", "nosniff".to_string()),
                ("X-Frame-Options", "DENY".to_string()),
                ("Referrer-Policy", "no-referrer".to_string()),
            ],
            body: Body::Bytes(body),
            close: false,
        };
        resp.headers
            .extend(extra.iter().map(|&(name, value)| (name, value.to_string())));
        Some((handler, resp))
    }
}

const VARY: (&str, &str) = ("Vary", "Accept-Encoding");

/// What a UI path answers with.
enum Served {
    Page(View),
    /// Media type and gzip'd text.
    Asset(&'static str, &'static [u8]),
}

/// An embedded asset as it was written.
fn inflate(gz: &[u8]) -> Vec<u8> {
    decompress(Encoding::Gzip, gz, usize::MAX)
        .expect("build.rs gzips the assets")
        .into_owned()
}

fn redirect_to_dir<S>(full: &str) -> Response<S> {
    let last = full.rsplit('/').next().unwrap_or_default();
    Response::text(301, "Moved Permanently\n").with_header("Location", format!("{last}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_assets_and_methods() {
        let ui = Ui::new(&Config::default(), 0.0);
        let store = Store::new();
        let route = |m, rel, full| {
            ui.route::<()>(m, rel, full, false, &store, 0.0)
                .map(|(_, r)| r)
        };
        let r = route("GET", "/", "/").unwrap();
        assert_eq!(r.status, 200);
        assert!(r
            .headers
            .iter()
            .any(|(n, v)| *n == "Content-Security-Policy" && v.contains("script-src 'self'")));
        assert!(r
            .headers
            .contains(&("Content-Type", "text/html; charset=utf-8".to_string())));
        let status = |m, rel| route(m, rel, rel).map(|r| r.status);
        assert_eq!(status("GET", "/status"), Some(200));
        assert_eq!(status("HEAD", "/static/pushgate.js"), Some(200));
        assert_eq!(status("POST", "/"), Some(405));
        assert_eq!(status("GET", "/static/other.js"), None);
        let r = route("GET", "", "/a/gw").unwrap();
        assert_eq!(r.status, 301);
        assert!(r.headers.contains(&("Location", "gw/".to_string())));
    }

    #[test]
    fn assets_go_out_gzip_d_or_as_written() {
        let ui = Ui::new(&Config::default(), 0.0);
        let store = Store::new();
        for (path, written) in [
            ("/static/pushgate.js", &include_bytes!("ui/app.js")[..]),
            ("/static/pushgate.css", include_bytes!("ui/style.css")),
        ] {
            for gzip in [false, true] {
                let (_, r) = ui
                    .route::<()>("GET", path, path, gzip, &store, 0.0)
                    .unwrap();
                let header = |name| {
                    r.headers
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, v)| v.as_str())
                };
                assert_eq!(header("Content-Encoding"), gzip.then_some("gzip"), "{path}");
                assert_eq!(header("Vary"), Some("Accept-Encoding"));
                let Body::Bytes(body) = r.body else {
                    panic!("{path}: not bytes")
                };
                let text = if gzip { inflate(&body) } else { body };
                assert_eq!(text, written, "{path}, gzip {gzip}");
            }
        }
    }

    #[test]
    fn page_has_no_inline_script_or_external_asset() {
        assert!(
            !INDEX.contains("<script>"),
            "inline scripts are blocked by the CSP"
        );
        let (script, style) = (inflate(SCRIPT_GZ), inflate(STYLE_GZ));
        for text in [INDEX.as_bytes(), &script, &style] {
            let text = std::str::from_utf8(text).unwrap();
            assert!(!text.contains("http://") && !text.contains("https://"));
            assert!(!text.contains("innerHTML") && !text.contains("insertAdjacentHTML"));
        }
        assert!(INDEX.contains("static/pushgate.js") && !INDEX.contains("\"/static"));
    }
}
