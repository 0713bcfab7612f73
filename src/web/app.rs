//! The application behind the HTTP layer: routing, the push/delete/scrape handlers, health
//! and lifecycle endpoints. The JSON API (`/api/v1`) and the web UI are `api`'s and `ui`'s;
//! this module only hands requests to them and applies the wipe they ask for.
//!
//! Implements [`Service`] for the reactor. Decoding, checking and storing are delegated to
//! `text`, `check` and `store`, durability to `persist`: every mutation goes to the log
//! before the store, and is answered 503 when the log cannot take it. Handlers pass refusals
//! up as `RequestError`s, which this module answers in one place; it also counts requests
//! and logs rejections.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::config::{parse_duration, Config};
use crate::formats::compress::{self, Encoding};
use crate::formats::expose;
use crate::formats::proto;
use crate::formats::text;
use crate::http::negotiate;
use crate::http::service::{Body, Request, Response, Service};
use crate::log::Logger;
use crate::persist::Persist;
use crate::store::check;
use crate::store::key::GroupingKey;
use crate::store::limits;
use crate::store::{Mutation, Push, Store};
use crate::web::api::{self, Api};
#[cfg(feature = "basic-auth")]
use crate::web::auth::{BasicAuth, Refusal};
use crate::web::error::RequestError;
use crate::web::ratelimit::Bucket;
use crate::web::scrape::Scrape;
use crate::web::shard;
use crate::web::telemetry::{own_type, Telemetry};
use crate::web::ui::Ui;
use crate::webconfig::watch::Watch;
use crate::webconfig::{Build, WebConfig};

pub struct App {
    cfg: Config,
    log: Logger,
    pub store: Store,
    telemetry: Telemetry,
    api: Api,
    ui: Ui,
    quit: bool,
    persist: Option<Persist>,
    /// Whether this turn's acknowledgements are durable as the fsync policy requires.
    committed: bool,
    /// `--web.config.file`'s headers, added to every response that lacks them.
    headers: Vec<(&'static str, String)>,
    #[cfg(feature = "basic-auth")]
    auth: Option<BasicAuth>,
    /// Looks for changes to `--web.config.file` and the certificates it names.
    web_watch: Option<Watch>,
    /// `rate_limit` of `--web.config.file`, as it was at start (upstream does not reload it).
    rate: Option<Bucket>,
    /// Whether the server was started with TLS: a changed file may renew certificates but not
    /// switch TLS on or off, which needs a restart.
    #[cfg(feature = "tls")]
    tls_on: bool,
    /// A TLS configuration the server should take for new connections.
    #[cfg(feature = "tls")]
    new_tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

/// Unix seconds now.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Methods as static strings for the request counters; anything unusual is `other`.
fn method_name(m: &str) -> &'static str {
    match m {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "POST" => "POST",
        "DELETE" => "DELETE",
        _ => "OTHER",
    }
}

/// A response body produced piece by piece: a scrape, or the JSON API's list of every group.
pub enum Streamed {
    Scrape(Scrape),
    Metrics(api::MetricsStream),
}

type Resp = Response<Streamed>;
/// A handler's response, or why it refused the request.
type Answer = Result<Resp, RequestError>;

impl App {
    /// `store` holds what `persist` (if any) replayed.
    pub fn new(cfg: Config, log: Logger, store: Store, persist: Option<Persist>) -> App {
        let started = unix_now();
        let mut app = App {
            api: Api::new(&cfg, started),
            ui: Ui::new(&cfg, started),
            cfg,
            log,
            store,
            telemetry: Telemetry::new(started),
            quit: false,
            persist,
            committed: true,
            headers: Vec::new(),
            #[cfg(feature = "basic-auth")]
            auth: None,
            web_watch: None,
            rate: None,
            #[cfg(feature = "tls")]
            tls_on: false,
            #[cfg(feature = "tls")]
            new_tls: None,
        };
        // Groups whose time ran out while the gateway was down go before anyone can see them.
        app.expire(started, usize::MAX);
        app
    }

    /// Applies `--web.config.file` to every request; the caller checked that this build can
    /// serve it ([`WebConfig::check_build`]).
    pub fn with_web_config(mut self, web: &WebConfig) -> App {
        self.apply_web_config(web);
        self.rate = web.rate_limit.map(|r| Bucket::new(r, Instant::now()));
        #[cfg(feature = "tls")]
        {
            self.tls_on = web.tls.is_some();
        }
        if let Some(file) = &self.cfg.web_config_file {
            self.web_watch = Some(Watch::new(file.as_ref(), web, Instant::now()));
        }
        self
    }

    fn apply_web_config(&mut self, web: &WebConfig) {
        self.headers = web.response_headers();
        #[cfg(feature = "basic-auth")]
        {
            self.auth = BasicAuth::new(&web.basic_auth_users);
        }
    }

    /// Applies a changed `--web.config.file` to the requests and connections that follow, or
    /// keeps the one in force when the new one cannot be served.
    fn reload_web_config(&mut self, loaded: Result<WebConfig, String>) {
        #[cfg(feature = "tls")]
        let loaded = loaded.and_then(|web| {
            self.new_tls = match (&web.tls, self.tls_on) {
                (Some(tls), true) => Some(crate::net::tls::server_config(tls)?),
                (None, false) => None,
                _ => return Err("switching TLS on or off needs a restart".to_string()),
            };
            Ok(web)
        });
        match loaded {
            Ok(web) => {
                self.apply_web_config(&web);
                self.log
                    .info("applied the changed web configuration file", &[]);
            }
            Err(e) => self.log.error(
                "not applying the changed web configuration file; the previous one stays",
                &[("err", &e)],
            ),
        }
    }

    /// After the server stopped: makes the log durable.
    pub fn close(self) -> Result<(), String> {
        match self.persist {
            Some(p) => p.close(&self.store),
            None => Ok(()),
        }
    }

    /// Logs a mutation, then applies it; nothing is applied when the log refuses.
    fn commit(&mut self, mutation: Mutation) -> Result<(), RequestError> {
        if let Some(p) = &mut self.persist {
            if p.append(&mutation).is_err() {
                return Err(RequestError::Unavailable);
            }
        }
        self.store.mutate(&mutation);
        Ok(())
    }

    /// Routes a request to its handler. Returns the handler name for the request counter
    /// (`None` for scrapes, which upstream does not count) with the handler's answer.
    fn route(&mut self, req: &Request<'_>) -> (Option<&'static str>, Answer) {
        let method = req.method;
        // Upstream words this refusal itself, and serves it at this path whatever the route
        // prefix; other methods it leaves to its router.
        if req.path() == "/-/quit" && method == "GET" {
            let resp = Response::text(405, "Only POST or PUT requests allowed.")
                .with_header("Allow", "PUT, POST");
            return (None, Ok(resp));
        }
        let Some(rel) = req.path().strip_prefix(self.cfg.route_prefix.as_str()) else {
            return (None, Ok(Response::not_found()));
        };
        if rel == self.cfg.telemetry_path {
            return match method {
                "GET" | "HEAD" => (None, Ok(self.scrape(req))),
                _ => (None, Ok(Response::method_not_allowed("GET, HEAD"))),
            };
        }
        if let Some((rest, job_base64)) = push_key_path(rel) {
            return match method {
                "PUT" | "POST" => (Some("push"), self.push(req, rest, job_base64)),
                "DELETE" => (Some("delete"), self.delete(rest, job_base64)),
                _ => (
                    Some("push"),
                    Ok(Response::method_not_allowed("PUT, POST, DELETE")),
                ),
            };
        }
        if let Some(asked) = rel.strip_prefix(shard::PATH) {
            if asked.is_empty() || asked.starts_with('/') {
                return (Some("shard-key"), Ok(self.shard_key(asked)));
            }
        }
        match (rel, method) {
            ("/-/healthy", "GET" | "HEAD") => (Some("healthy"), Ok(Response::text(200, "OK"))),
            ("/-/ready", "GET" | "HEAD") => (Some("ready"), Ok(self.ready())),
            ("/-/healthy" | "/-/ready", _) => (None, Ok(Response::method_not_allowed("GET, HEAD"))),
            ("/-/quit", "PUT" | "POST") => (Some("quit"), Ok(self.quit())),
            ("/-/quit", _) => (None, Ok(Response::method_not_allowed("PUT, POST"))),
            _ => {
                if let Some(rest) = rel.strip_prefix("/api/v1") {
                    if rest.is_empty() || rest.starts_with('/') {
                        return self.api(method, req.target, rest);
                    }
                }
                let gzip = negotiate::gzip(req.header("accept-encoding"));
                match self
                    .ui
                    .route(method, rel, req.path(), gzip, &self.store, unix_now())
                {
                    Some((handler, resp)) => (Some(handler), Ok(resp)),
                    None => (None, Ok(Response::not_found())),
                }
            }
        }
    }

    /// `/api/v1/...`; `rest` is the path after `/api/v1`.
    fn api(&mut self, method: &str, target: &str, rest: &str) -> (Option<&'static str>, Answer) {
        match self.api.route(method, rest) {
            api::Route::Done(handler, resp) => (handler, Ok(resp)),
            api::Route::Metrics => (
                Some("api/v1/metrics"),
                Ok(api::metrics(
                    &self.store,
                    target,
                    unix_now(),
                    Streamed::Metrics,
                )),
            ),
            // One record for the whole wipe; the store frees the old groups off the loop.
            api::Route::Wipe => (
                Some("wipe"),
                self.commit(Mutation::Wipe).map(|()| Response::empty(202)),
            ),
        }
    }

    /// The shard key of the group that `asked`, a request path as a client sends it (route
    /// prefix included), names.
    fn shard_key(&self, asked: &str) -> Resp {
        let parsed = asked
            .strip_prefix(self.cfg.route_prefix.as_str())
            .and_then(push_key_path)
            .and_then(|(rest, job_base64)| {
                GroupingKey::from_path_with(rest, job_base64, self.cfg.names()).ok()
            });
        shard::respond(parsed)
    }

    fn ready(&self) -> Resp {
        if self.persist.as_ref().is_some_and(|p| !p.ready()) {
            return Response::error(503, "the persistence log cannot be written");
        }
        Response::text(200, "OK")
    }

    fn quit(&mut self) -> Resp {
        if !self.cfg.enable_lifecycle {
            return Response::text(403, "Lifecycle API is not enabled.");
        }
        self.log
            .info("received an HTTP quit request, shutting down", &[]);
        self.quit = true;
        Response::text(200, "Requesting termination... Goodbye!")
    }

    fn scrape(&mut self, req: &Request<'_>) -> Resp {
        let choice =
            negotiate::Choice::from_headers(req.header("accept"), req.header("accept-encoding"));
        let own = self
            .telemetry
            .render(self.persist.as_ref().map(Persist::stats).as_ref());
        let mut headers = vec![
            ("Content-Type", choice.content_type()),
            ("Vary", "Accept, Accept-Encoding".to_string()),
        ];
        if choice.gzip {
            headers.push(("Content-Encoding", "gzip".to_string()));
        }
        Response {
            status: 200,
            headers,
            body: Body::Stream(Streamed::Scrape(Scrape::new(choice, own))),
            close: false,
        }
    }

    fn push(&mut self, req: &Request<'_>, rest: &str, job_base64: bool) -> Answer {
        let names = self.cfg.names();
        let key = GroupingKey::from_path_with(rest, job_base64, names)?;
        // Refused before anything is recorded: a failure time would itself be the second
        // pair of timestamps.
        if let Some(twin) = self.store.twin(&key) {
            let mut ours = Vec::new();
            expose::write_labels(&mut ours, &key.labels);
            let mut theirs = Vec::new();
            expose::write_labels(&mut theirs, &twin.key().labels);
            let reason = format!(
                "the grouping key {} exposes the same labels as the existing group {} (a \
                 group without an instance label shows instance=\"\"): push to that group, or \
                 delete it first",
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            );
            return Err(RequestError::refused(400, reason));
        }
        let ttl = req
            .header(TTL_HEADER)
            .map(|v| self.asked_ttl(v))
            .transpose()?;
        let encoding = Encoding::from_header(req.header("content-encoding"))
            .map_err(|reason| RequestError::refused(415, reason))?;
        let body = compress::decompress(encoding, req.body, self.cfg.max_body_bytes)?;
        let families = if req
            .header("content-type")
            .is_some_and(negotiate::is_delimited)
        {
            proto::decode_with(&body, names)?
        } else {
            text::parse_with(&body, names)?
        };
        let mut push = Push {
            key,
            families,
            replace: req.method == "PUT",
            now: unix_now(),
        };
        let rendered = push.rendered_len_bound();
        if rendered > self.cfg.max_rendered_bytes() {
            let reason = format!(
                "push would take up to {rendered} bytes once its series are labelled and \
                 rendered, at most {} are allowed: push fewer series, buckets or labels",
                self.cfg.max_rendered_bytes()
            );
            return Err(RequestError::refused(413, reason));
        }
        limits::groups(&self.cfg.limits, &self.store, &push.key)?;
        let sanitized = check::sanitize(&mut push);
        if sanitized.is_ok() {
            limits::labels(&self.cfg.limits, &push)?;
        }
        let checked = sanitized.and_then(|()| {
            if self.cfg.disable_consistency_check {
                Ok(())
            } else {
                check::check(&self.store, &push, own_type)
            }
        });
        if let Err(reason) = checked {
            self.commit(Mutation::Failure {
                key: push.key,
                now: push.now,
            })?;
            return Err(RequestError::invalid(&reason));
        }
        let mut change = push.render();
        change.ttl = ttl;
        limits::series(&self.cfg.limits, &self.store, &change)?;
        self.commit(Mutation::Change(change))?;
        let seconds = req.started.elapsed().as_secs_f64();
        self.telemetry
            .observe_push(method_name(req.method), seconds, req.body.len());
        if self.cfg.disable_consistency_check {
            Ok(Response::empty(202))
        } else {
            Ok(Response::empty(200))
        }
    }

    fn delete(&mut self, rest: &str, job_base64: bool) -> Answer {
        let key = GroupingKey::from_path_with(rest, job_base64, self.cfg.names())?;
        self.commit(Mutation::Delete(key))?;
        Ok(Response::empty(202))
    }

    /// Adds the configured headers; one a handler set itself (the UI's own
    /// Content-Security-Policy, say) stays, as a handler's header wins upstream too.
    fn with_headers(&self, mut resp: Resp) -> Resp {
        for (name, value) in &self.headers {
            if !resp.headers.iter().any(|(n, _)| n == name) {
                resp.headers.push((name, value.clone()));
            }
        }
        resp
    }

    /// The time to live (seconds) a push asks for with [`TTL_HEADER`].
    fn asked_ttl(&self, value: &str) -> Result<f64, RequestError> {
        let ttl = parse_duration(value.trim()).ok_or_else(|| {
            RequestError::refused(
                400,
                format!("X-Pushgate-TTL {value:?} is not a duration such as 90s or 2h"),
            )
        })?;
        let allowed = self
            .cfg
            .allowed_ttl(ttl)
            .map_err(|reason| RequestError::refused(400, reason))?;
        Ok(allowed.as_secs_f64())
    }

    /// Deletes up to `max` groups whose time to live has run out, as DELETE would; when the
    /// log refuses, the rest waits for a later turn.
    fn expire(&mut self, now: f64, max: usize) {
        let due = self.store.due(now, max);
        let mut expired = 0;
        for key in due {
            if self.commit(Mutation::Delete(key)).is_err() {
                break;
            }
            expired += 1;
        }
        if expired > 0 {
            self.telemetry.groups_expired += expired;
            self.log.info(
                "expired groups past their time to live",
                &[("groups", &expired)],
            );
        }
    }

    /// The answer to a request a handler refused: a 4xx is logged with who sent it, and one
    /// past an operator's limit is also counted by the limit's flag; a change the log could not
    /// take is no fault of the client's, so it is answered without a log line.
    fn refuse(&mut self, req: &Request<'_>, err: RequestError) -> Resp {
        let (status, reason) = (err.status(), err.reason());
        match &err {
            RequestError::Unavailable => return Response::error(status, reason),
            RequestError::OverLimit(r) => self.telemetry.limited(r.flag),
            RequestError::Refused { .. } => {}
        }
        self.log.warn(
            "request rejected",
            &[
                ("method", &req.method),
                ("path", &logged_path(req.path())),
                ("source", &req.remote),
                ("status", &status),
                ("err", &reason),
            ],
        );
        Response::error(status, reason)
    }
}

/// The grouping-key part of a push path (relative to the route prefix) and whether its job is
/// base64: `/metrics/job@base64/Yg/a/x` is `("/Yg/a/x", true)`. `None` for other paths.
fn push_key_path(rel: &str) -> Option<(&str, bool)> {
    [("/metrics/job@base64", true), ("/metrics/job", false)]
        .into_iter()
        .find_map(|(prefix, job_base64)| {
            let rest = rel.strip_prefix(prefix)?;
            (rest.is_empty() || rest.starts_with('/')).then_some((rest, job_base64))
        })
}

/// The request header a push names its group's time to live with (a pushgate extension).
pub const TTL_HEADER: &str = "x-pushgate-ttl";

/// Most groups one reactor turn expires: a mass expiry is spread over turns of a millisecond
/// or two (`benches/core.rs`), so requests keep being served meanwhile.
pub const EXPIRED_PER_TURN: usize = 500;

/// Most bytes of a request path a log line shows: a refused path may be up to the 1 MiB
/// header limit, which would make every such refusal a megabyte of log.
const LOGGED_PATH_BYTES: usize = 512;

/// `path`, cut after [`LOGGED_PATH_BYTES`] (at a character boundary) with its full length.
fn logged_path(path: &str) -> Cow<'_, str> {
    if path.len() <= LOGGED_PATH_BYTES {
        return Cow::Borrowed(path);
    }
    let mut end = LOGGED_PATH_BYTES;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}... ({} bytes)", &path[..end], path.len()))
}

impl Service for App {
    type Stream = Streamed;

    fn handle(&mut self, req: &Request<'_>) -> Resp {
        // First of all, as upstream: a refused request costs nothing more, not even a bcrypt
        // check, and gets none of the configured headers.
        if let Some(bucket) = &mut self.rate {
            if !bucket.allow(Instant::now()) {
                self.telemetry.rate_limited += 1;
                return Response::error(429, "Too Many Requests");
            }
        }
        // Before routing, as upstream: every path needs credentials, and a refused request is
        // not counted as any handler's.
        #[cfg(feature = "basic-auth")]
        if let Some(Err(refusal)) = self
            .auth
            .as_mut()
            .map(|a| a.check(req.header("authorization")))
        {
            let resp = match refusal {
                Refusal::Unauthorized(reason) => {
                    Response::error(401, reason).with_header("WWW-Authenticate", "Basic")
                }
                Refusal::Busy => Response::error(
                    429,
                    "Too Many Requests: too many new credentials to check; retry shortly",
                )
                .with_header("Retry-After", "1"),
            };
            return self.with_headers(resp);
        }
        let (handler, answer) = self.route(req);
        let resp = answer.unwrap_or_else(|err| self.refuse(req, err));
        if let Some(handler) = handler {
            self.telemetry
                .count(handler, resp.status, method_name(req.method));
        }
        self.with_headers(resp)
    }

    fn fill(&mut self, stream: &mut Streamed, out: &mut Vec<u8>, want: usize) -> bool {
        match stream {
            Streamed::Scrape(s) => s.fill(&self.store, out, want),
            Streamed::Metrics(s) => s.fill(&self.store, out, want),
        }
    }

    fn stream_held(&self, stream: &Streamed) -> usize {
        match stream {
            Streamed::Scrape(s) => s.held(),
            Streamed::Metrics(_) => 0,
        }
    }

    fn turn(&mut self, now: Instant) -> bool {
        // Before the group commit below, which then covers the deletes too.
        self.expire(unix_now(), EXPIRED_PER_TURN);
        if let Some(loaded) = self
            .web_watch
            .as_mut()
            .and_then(|w| w.poll(now, Build::THIS))
        {
            self.reload_web_config(loaded);
        }
        if let Some(p) = &mut self.persist {
            self.committed = p.turn(now, &self.store);
        }
        !self.quit
    }

    fn committed(&mut self) -> bool {
        self.committed
    }

    fn busy(&self) -> bool {
        self.persist.as_ref().is_some_and(Persist::busy) || self.store.any_due(unix_now())
    }

    #[cfg(feature = "tls")]
    fn new_tls_config(&mut self) -> Option<std::sync::Arc<rustls::ServerConfig>> {
        self.new_tls.take()
    }

    fn tls_failed(&mut self, remote: SocketAddr, reason: &str) {
        self.log.warn(
            "TLS connection failed",
            &[("source", &remote), ("err", &reason)],
        );
    }

    fn rejected(&mut self, remote: SocketAddr, status: u16, reason: &str) {
        self.log.warn(
            "request rejected",
            &[("source", &remote), ("status", &status), ("err", &reason)],
        );
    }
}
