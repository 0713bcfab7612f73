//! The reactor: a single-threaded mio event loop serving HTTP/1.x to a [`Service`].
//!
//! Owns listening sockets, accepting, the connection table, timeouts, graceful shutdown and
//! the order of work within a turn: (1) read and frame input and let the service answer
//! every complete request, queueing responses; (2) call [`Service::turn`] once; (3) only
//! then write queued output. So no response to a mutation leaves before the service had its
//! turn to make it durable, and if that failed ([`Service::committed`]), the turn's
//! responses are replaced by a 503. Per-connection reading, writing and state live in
//! `server/conn.rs`; HTTP syntax lives in `http`; what requests mean lives in the service.
//!
//! Also owns what keeps hostile clients from starving others: when the connection table is
//! full, the connection idle the longest gives up its slot to a new one (`server/idle.rs`),
//! and when requests or responses have waited too long for memory under the budget of bytes
//! in flight (`server/budget.rs`), the connections holding the most are shed.

mod addr;
mod budget;
mod conn;
mod idle;
mod transport;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use mio::event::Event;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};

use crate::http::service::Service;
use crate::net::signal;
use crate::order;
use conn::{Conn, Ctx};
use transport::Transport;

/// Longest sleep in `poll`: timeouts and the shutdown flag are checked this often.
const TICK: Duration = Duration::from_millis(250);
/// Tokens from here on name listeners; below, slots of the connection table.
const LISTENER_BASE: usize = usize::MAX / 2;
/// How long a request may wait for memory before the largest holders are shed: long enough
/// for requests being answered to free some, short enough that a client waits little.
const SHED_AFTER: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Request line plus headers; larger heads get 431.
    pub max_header_bytes: usize,
    /// Request body; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Bytes all requests being received and responses not yet written may hold together,
    /// beyond a small allowance per connection: past it, buffers stop growing (the connection
    /// stops reading, or producing its streamed response) and, if that lasts, the largest
    /// holders are shed. Never less than one request of the largest size; see
    /// [`ServerConfig::inflight_budget`].
    pub max_inflight_bytes: usize,
    /// A keep-alive connection with no request in progress is closed after this.
    pub idle_timeout: Duration,
    /// A new connection must complete its TLS handshake and send its first request head
    /// within this, or it is closed (with 408 if a part of the head arrived).
    pub first_request_timeout: Duration,
    /// A request (head and body) must arrive within this from its first byte, or it gets 408.
    pub read_timeout: Duration,
    /// A connection whose client accepts none of the pending output for this long is closed.
    pub write_timeout: Duration,
    /// Open connections at most: when all are open, the one idle the longest is closed to
    /// admit a new one; if none is idle, the new one is closed at once.
    pub max_connections: usize,
    /// Open connections from one IP address at most (0: no limit); more are closed at once.
    pub max_connections_per_ip: usize,
    /// Bound on a graceful shutdown; connections still busy after it are dropped.
    pub shutdown_timeout: Duration,
    /// Install SIGTERM/SIGINT handlers (graceful shutdown) and ignore SIGPIPE. Off for servers
    /// embedded in tests.
    pub handle_signals: bool,
    /// Serve HTTPS on every listener; see [`crate::net::tls::server_config`].
    #[cfg(feature = "tls")]
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            max_header_bytes: 1 << 20,
            max_body_bytes: 64 << 20,
            max_inflight_bytes: 256 << 20,
            idle_timeout: Duration::from_secs(300),
            first_request_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            max_connections_per_ip: 0,
            shutdown_timeout: Duration::from_secs(5),
            handle_signals: true,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl ServerConfig {
    /// The budget of bytes in flight: as configured, but room for one request of the largest
    /// size, or that request could never be received.
    pub fn inflight_budget(&self) -> usize {
        self.max_inflight_bytes
            .max(self.max_body_bytes.saturating_add(self.max_header_bytes))
    }
}

pub struct Server {
    poll: Poll,
    listeners: Vec<TcpListener>,
    addrs: Vec<SocketAddr>,
    cfg: ServerConfig,
}

impl Server {
    /// Listens on every address, as `server/addr.rs` reads them. Port 0 picks a free port; see
    /// [`Server::local_addrs`].
    pub fn bind(addrs: &[String], cfg: ServerConfig) -> io::Result<Server> {
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no listen address",
            ));
        }
        // Before the first listener exists, so a client that sees the port open can rely on
        // SIGTERM being a graceful shutdown.
        if cfg.handle_signals {
            signal::install()?;
        }
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let listeners = addrs
            .iter()
            .map(|text| {
                let with_context = |e: io::Error| io::Error::new(e.kind(), format!("{text}: {e}"));
                let addr = addr::parse(text, &hosts).map_err(with_context)?;
                std::net::TcpListener::bind(addr).map_err(with_context)
            })
            .collect::<io::Result<Vec<_>>>()?;
        Server::serve_on(listeners, cfg)
    }

    /// A server on listening sockets made elsewhere (by systemd, say); like [`Server::bind`]
    /// otherwise.
    pub fn on(listeners: Vec<std::net::TcpListener>, cfg: ServerConfig) -> io::Result<Server> {
        if cfg.handle_signals {
            signal::install()?;
        }
        Server::serve_on(listeners, cfg)
    }

    fn serve_on(listeners: Vec<std::net::TcpListener>, cfg: ServerConfig) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut registered = Vec::with_capacity(listeners.len());
        let mut bound = Vec::with_capacity(listeners.len());
        for (i, listener) in listeners.into_iter().enumerate() {
            listener.set_nonblocking(true)?;
            let mut listener = TcpListener::from_std(listener);
            poll.registry().register(
                &mut listener,
                Token(LISTENER_BASE + i),
                Interest::READABLE,
            )?;
            bound.push(listener.local_addr()?);
            registered.push(listener);
        }
        Ok(Server {
            poll,
            listeners: registered,
            addrs: bound,
            cfg,
        })
    }

    /// The bound addresses, in the order given to [`Server::bind`], with real port numbers.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Serves until the service's `turn` returns false or SIGTERM/SIGINT arrives (with
    /// `handle_signals`, installed by `bind`), then shuts down gracefully. Errors only if polling itself fails.
    pub fn run<S: Service>(&mut self, svc: &mut S) -> io::Result<()> {
        let mut reactor = self.reactor(Instant::now())?;
        loop {
            let wait = reactor.wait(svc, Instant::now());
            self.wait_events(&mut reactor.events, wait)?;
            if self.turn(&mut reactor, svc, Instant::now()) {
                return Ok(());
            }
        }
    }

    /// The state `run` keeps between turns, its first tick due a `TICK` after `now`.
    fn reactor<T>(&self, now: Instant) -> io::Result<Reactor<T>> {
        Ok(Reactor {
            table: Table {
                conns: Vec::new(),
                free: Vec::new(),
                live: 0,
                per_ip: HashMap::new(),
                ctx: Ctx::new(self.poll.registry().try_clone()?, self.cfg.clone(), now),
                batch: Vec::new(),
            },
            events: Events::with_capacity(1024),
            next_tick: now + TICK,
            accept_retry: false,
            deadline: None,
        })
    }

    /// Waits at most `timeout` for readiness events.
    fn wait_events(&mut self, events: &mut Events, timeout: Duration) -> io::Result<()> {
        match self.poll.poll(events, Some(timeout)) {
            Ok(()) => Ok(()),
            // A signal landed on this thread; its flag is looked at in the turn.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// One turn at `now` on the events last polled: every timer (timeouts, shedding, the
    /// shutdown bound) reads the time from `now` alone, so a test can set it. True once a
    /// shutdown has finished.
    fn turn<S: Service>(&mut self, r: &mut Reactor<S::Stream>, svc: &mut S, now: Instant) -> bool {
        let table = &mut r.table;
        table.ctx.now = now;
        table.ctx.date.update(SystemTime::now());

        for event in r.events.iter() {
            let token = event.token().0;
            match token.checked_sub(LISTENER_BASE) {
                Some(i) => {
                    if let Some(listener) = self.listeners.get(i) {
                        r.accept_retry |= table.accept(listener);
                    }
                }
                None => table.on_event(token, event),
            }
        }
        table.pump(svc);
        if now >= r.next_tick {
            r.next_tick = now + TICK;
            table.check_timeouts(svc);
            if std::mem::take(&mut r.accept_retry) {
                for listener in &self.listeners {
                    r.accept_retry |= table.accept(listener);
                }
            }
        }

        let keep_going = svc.turn(now);
        #[cfg(feature = "tls")]
        if let Some(tls) = svc.new_tls_config() {
            table.ctx.cfg.tls = Some(tls);
        }
        if !svc.committed() {
            table.fail_turn();
        }
        let signalled = self.cfg.handle_signals && signal::shutdown_requested();
        if r.deadline.is_none() && (!keep_going || signalled) {
            r.deadline = Some(now + self.cfg.shutdown_timeout);
            for mut listener in self.listeners.drain(..) {
                let _ = self.poll.registry().deregister(&mut listener);
            }
            table.begin_drain();
        }

        table.flush(svc);
        table.wake_waiting();
        r.deadline
            .is_some_and(|deadline| table.live == 0 || now >= deadline)
    }
}

/// What the reactor keeps from one turn to the next.
struct Reactor<T> {
    table: Table<T>,
    events: Events,
    /// When timeouts are next checked.
    next_tick: Instant,
    /// An accept failed (EMFILE, say): retried on the next tick.
    accept_retry: bool,
    /// Set when shutdown begins: connections still open then are dropped.
    deadline: Option<Instant>,
}

impl<T> Reactor<T> {
    /// How long `poll` may sleep at `now`: until the next tick, or not at all while work is
    /// queued or the service is busy.
    fn wait<S: Service<Stream = T>>(&self, svc: &S, now: Instant) -> Duration {
        let ctx = &self.table.ctx;
        if ctx.ready.is_empty() && ctx.dirty.is_empty() && !svc.busy() {
            self.next_tick.saturating_duration_since(now)
        } else {
            Duration::ZERO
        }
    }
}

/// The connection table, indexed by token.
struct Table<T> {
    conns: Vec<Option<Conn<T>>>,
    free: Vec<usize>,
    live: usize,
    /// Open connections by client address, kept with `max_connections_per_ip` only.
    per_ip: HashMap<IpAddr, usize>,
    ctx: Ctx,
    /// Reused list of tokens being worked on, so the hot path does not allocate.
    batch: Vec<usize>,
}

impl<T> Table<T> {
    /// Accepts until the backlog is empty. Returns true if accepting hit an error such as
    /// EMFILE: the connection stays queued and must be retried later, since an
    /// edge-triggered listener will not report it again.
    fn accept(&mut self, listener: &TcpListener) -> bool {
        loop {
            match listener.accept() {
                Ok((sock, remote)) => {
                    if !self.admit(remote.ip()) {
                        continue; // dropping `sock` closes it
                    }
                    let _ = sock.set_nodelay(true);
                    let Ok(mut transport) = self.transport(sock) else {
                        continue;
                    };
                    let slot = match self.free.pop() {
                        Some(slot) => slot,
                        None => {
                            self.conns.push(None);
                            self.conns.len() - 1
                        }
                    };
                    let token = Token(slot);
                    if self
                        .ctx
                        .registry
                        .register(&mut transport, token, Interest::READABLE)
                        .is_err()
                    {
                        self.free.push(slot);
                        continue;
                    }
                    let mut c = Conn::new(transport, token, remote, &self.ctx);
                    c.note_idle(&mut self.ctx);
                    self.conns[slot] = Some(c);
                    self.live += 1;
                    if self.ctx.cfg.max_connections_per_ip > 0 {
                        *self.per_ip.entry(remote.ip()).or_default() += 1;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(_) => return true,
            }
        }
    }

    /// Whether a new connection from `ip` may have a slot, closing the connection idle the
    /// longest to make room if the table is full: a slot held by a client that sends nothing
    /// is worth less than one a new client asks for.
    fn admit(&mut self, ip: IpAddr) -> bool {
        let cfg = &self.ctx.cfg;
        if self.ctx.draining
            || cfg.max_connections_per_ip > 0
                && self.per_ip.get(&ip).copied().unwrap_or(0) >= cfg.max_connections_per_ip
        {
            return false;
        }
        if self.live < cfg.max_connections {
            return true;
        }
        let conns = &self.conns;
        let oldest = self
            .ctx
            .idle
            .pop_oldest(|slot, mark| idle_since(conns, slot, mark));
        let Some(slot) = oldest else {
            return false;
        };
        if let Some(Some(c)) = self.conns.get_mut(slot) {
            c.close_idle();
        }
        self.settle(slot);
        true
    }

    fn transport(&self, sock: mio::net::TcpStream) -> io::Result<Transport> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.ctx.cfg.tls {
            return Transport::tls(sock, tls);
        }
        Ok(Transport::plain(sock))
    }

    fn on_event(&mut self, slot: usize, event: &Event) {
        if let Some(Some(c)) = self.conns.get_mut(slot) {
            let hup = event.is_read_closed() || event.is_error();
            let writable = event.is_writable() || event.is_write_closed() || event.is_error();
            c.on_event(&mut self.ctx, event.is_readable(), writable, hup);
        }
    }

    /// Removes a connection that reached `Closed`.
    fn settle(&mut self, slot: usize) {
        let Some(entry) = self.conns.get_mut(slot) else {
            return;
        };
        if !entry.as_ref().is_some_and(Conn::is_closed) {
            return;
        }
        if let Some(c) = entry.take() {
            let ip = c.remote().ip();
            if let Some(n) = self.per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    self.per_ip.remove(&ip);
                }
            }
            c.remove(&mut self.ctx);
        }
        self.free.push(slot);
        self.live -= 1;
    }

    /// Connections that waited for memory try again once enough was freed.
    fn wake_waiting(&mut self) {
        self.ctx.budget.wake(&mut self.batch);
        for i in 0..self.batch.len() {
            if let Some(Some(c)) = self.conns.get_mut(self.batch[i]) {
                c.wake(&mut self.ctx);
            }
        }
        self.batch.clear();
    }

    fn pump<S: Service<Stream = T>>(&mut self, svc: &mut S) {
        self.ctx.budget.new_turn();
        std::mem::swap(&mut self.batch, &mut self.ctx.ready);
        for i in 0..self.batch.len() {
            let slot = self.batch[i];
            if let Some(Some(c)) = self.conns.get_mut(slot) {
                c.pump(svc, &mut self.ctx);
            }
            self.settle(slot);
        }
        self.batch.clear();
    }

    fn flush<S: Service<Stream = T>>(&mut self, svc: &mut S) {
        std::mem::swap(&mut self.batch, &mut self.ctx.dirty);
        for i in 0..self.batch.len() {
            let slot = self.batch[i];
            if let Some(Some(c)) = self.conns.get_mut(slot) {
                c.flush(svc, &mut self.ctx);
            }
            self.settle(slot);
        }
        self.batch.clear();
    }

    /// Replaces the responses queued during this turn: they are all on connections that
    /// are about to be flushed.
    fn fail_turn(&mut self) {
        for i in 0..self.ctx.dirty.len() {
            let slot = self.ctx.dirty[i];
            if let Some(Some(c)) = self.conns.get_mut(slot) {
                c.fail_turn(&mut self.ctx);
            }
        }
    }

    fn check_timeouts<S: Service<Stream = T>>(&mut self, svc: &mut S) {
        let mut waiting_since: Option<Instant> = None;
        for slot in 0..self.conns.len() {
            if let Some(c) = &mut self.conns[slot] {
                c.check_timeouts(svc, &mut self.ctx);
                if let Some(t) = c.claim().waiting_since() {
                    waiting_since = Some(waiting_since.map_or(t, |w| w.min(t)));
                }
            }
            self.settle(slot);
        }
        let now = self.ctx.now;
        if waiting_since.is_some_and(|t| now.saturating_duration_since(t) >= SHED_AFTER) {
            self.shed(svc);
        }
        let conns = &self.conns;
        self.ctx
            .idle
            .compact(self.live, |slot, mark| idle_since(conns, slot, mark));
    }

    /// A request (or a streamed response) has waited for memory for a while, so those in
    /// flight are not finishing to make room (their clients stalled, or they all wait for
    /// each other): the connections holding the most are shed until a quarter of the budget
    /// is free. That lets the waiting ones go on, and keeps a small overshoot from shedding
    /// again on every tick.
    fn shed<S: Service<Stream = T>>(&mut self, svc: &mut S) {
        let target = self.ctx.budget.limit() - self.ctx.budget.limit() / 4;
        self.batch.clear();
        for (slot, c) in self.conns.iter().enumerate() {
            if c.as_ref().is_some_and(|c| c.claim().charged() > 0) {
                self.batch.push(slot);
            }
        }
        let conns = &self.conns;
        order::sort_by_key(&mut self.batch, |&slot| {
            std::cmp::Reverse(conns[slot].as_ref().map_or(0, |c| c.claim().charged()))
        });
        for i in 0..self.batch.len() {
            if self.ctx.budget.held() <= target {
                break;
            }
            let slot = self.batch[i];
            if let Some(Some(c)) = self.conns.get_mut(slot) {
                c.shed(svc, &mut self.ctx);
            }
            self.settle(slot);
        }
        self.batch.clear();
    }

    fn begin_drain(&mut self) {
        self.ctx.draining = true;
        for slot in 0..self.conns.len() {
            if let Some(c) = &mut self.conns[slot] {
                c.begin_drain();
            }
            self.settle(slot);
        }
    }
}

/// Whether the connection in `slot` is still in the idle spell queued under `mark`.
fn idle_since<T>(conns: &[Option<Conn<T>>], slot: usize, mark: u64) -> bool {
    matches!(conns.get(slot), Some(Some(c)) if c.idle_since(mark))
}

#[cfg(test)]
mod tests;
