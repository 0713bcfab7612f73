//! The web UI: one HTML page (served at `/` and `/status`), its script and its style sheet,
//! embedded in the binary. No external assets.
//!
//! The page is a small vanilla-JS client of the JSON API: it asks `/api/v1/metrics` for one
//! page of groups at a time (pushgate's `offset`/`limit`/`filter` extension), so it stays
//! responsive with any number of groups, and builds the DOM with `textContent` only, so pushed
//! label values and HELP texts (untrusted) are never parsed as markup. A strict
//! Content-Security-Policy (no inline script, same-origin only) backs that up. Every URL the
//! page uses is relative, so it works under any `--web.route-prefix` or `--web.external-url`.
//!
//! Owns only the assets and their headers; the data comes from `api`, deletes go to the push
//! URL and wipes to the admin API like any client's.

use crate::service::{Body, Response};

const INDEX: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/style.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Answers `rel` (the path after the route prefix; `full` is the whole path) if it is a UI
/// page or asset: `(handler name, response)`.
pub fn route<S>(method: &str, rel: &str, full: &str) -> Option<(&'static str, Response<S>)> {
    let (handler, content_type, body) = match rel {
        // Relative links need the prefix to end in `/`: send `/gw` to `/gw/`.
        "" => return Some(("status", redirect_to_dir(full))),
        "/" | "/status" => ("status", "text/html; charset=utf-8", INDEX),
        "/static/pushgate.js" => ("static", "text/javascript; charset=utf-8", SCRIPT),
        "/static/pushgate.css" => ("static", "text/css; charset=utf-8", STYLE),
        _ => return None,
    };
    if method != "GET" && method != "HEAD" {
        return Some((handler, Response::method_not_allowed("GET, HEAD")));
    }
    let resp = Response {
        status: 200,
        headers: vec![
            ("Content-Type", content_type.to_string()),
            ("Cache-Control", "no-cache".to_string()),
            ("Content-Security-Policy", CSP.to_string()),
            ("X-Content-Type-Options", "nosniff".to_string()),
            ("X-Frame-Options", "DENY".to_string()),
            ("Referrer-Policy", "no-referrer".to_string()),
        ],
        body: Body::Bytes(body.as_bytes().to_vec()),
        close: false,
    };
    Some((handler, resp))
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
        let r: Response<()> = route("GET", "/", "/").unwrap().1;
        assert_eq!(r.status, 200);
        assert!(r
            .headers
            .iter()
            .any(|(n, v)| *n == "Content-Security-Policy" && v.contains("script-src 'self'")));
        let status = |m, rel| route::<()>(m, rel, rel).map(|(_, r)| r.status);
        assert_eq!(status("GET", "/status"), Some(200));
        assert_eq!(status("HEAD", "/static/pushgate.js"), Some(200));
        assert_eq!(status("POST", "/"), Some(405));
        assert_eq!(status("GET", "/static/other.js"), None);
        let r: Response<()> = route("GET", "", "/a/gw").unwrap().1;
        assert_eq!(r.status, 301);
        assert!(r.headers.contains(&("Location", "gw/".to_string())));
    }

    #[test]
    fn page_has_no_inline_script_or_external_asset() {
        assert!(
            !INDEX.contains("<script>"),
            "inline scripts are blocked by the CSP"
        );
        for text in [INDEX, SCRIPT, STYLE] {
            assert!(!text.contains("http://") && !text.contains("https://"));
            assert!(!text.contains("innerHTML") && !text.contains("insertAdjacentHTML"));
        }
        assert!(INDEX.contains("static/pushgate.js") && !INDEX.contains("\"/static"));
    }
}
