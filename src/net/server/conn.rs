//! One client connection: its buffers and its state machine.
//!
//! A connection is `Open` (reading a request head, awaiting its body, or writing responses,
//! as told by its parser, output queue and stream), `Closing` (no more requests; flush what
//! is queued), `Lingering` (write side shut, discarding input so the client reads our last
//! response instead of a reset) or `Closed`. Owns reading, framing and writing for one
//! socket, asking the memory budget before its input buffers grow and before more of a
//! streamed response is produced; does not own polling, the connection table, the clock or
//! the turn order (see `server`), the budget's bookkeeping (`server/budget.rs`), TLS (see
//! `server/transport.rs`), nor any HTTP syntax (see `http`).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::{Interest, Registry, Token};

use super::budget::{Budget, Claim, Grant};
use super::idle::IdleQueue;
use super::transport::Transport;
use super::ServerConfig;
use crate::http::service::{Request, Response, Service};
use crate::http::{
    self, begin_chunk, end_chunk, write_rejection, write_response, DateCache, Exchange,
    RequestParser, Status, StreamFraming, CONTINUE, LAST_CHUNK,
};

/// Read granularity, and what an idle keep-alive connection keeps allocated: a buffer grown
/// past it (a large request) is released once empty.
const READ_CHUNK: usize = 8 * 1024;
/// An output queue grown past this (a large response) is released once drained.
const RETAIN_OUT: usize = 256 * 1024;
/// Stop reading pipelined requests while this much output waits for the client.
const OUT_HIGH: usize = 256 * 1024;
/// Produce more of a streamed body when less than this is queued.
const FILL_LOW: usize = 64 * 1024;
/// How much to ask the service for per fill.
const FILL_WANT: usize = 64 * 1024;
/// Output a connection holds free of the memory budget: what is queued when a piece of a
/// streamed body is produced, and that piece. A text scrape never holds more (but for a
/// series larger than a piece); a protobuf family, built whole, may, and is charged.
const FREE_OUTPUT: usize = FILL_LOW + FILL_WANT;
/// Per turn and connection, so one fast client cannot starve the others. A turn's share of a
/// large scrape is produced as it is written, about 1 ms of OpenMetrics or protobuf for 256 KB:
/// what a push waits behind a scrape at most.
const READ_BUDGET: usize = 1024 * 1024;
const WRITE_BUDGET: usize = 256 * 1024;
/// Requests answered per turn and connection: a megabyte of pipelined small pushes is ten
/// thousand of them, tens of milliseconds that everyone else would wait.
const REQUESTS_PER_TURN: usize = 32;
/// How long a closing connection waits for the client to close its side.
const LINGER: Duration = Duration::from_millis(500);

/// State shared by all connections during one turn.
pub(super) struct Ctx {
    pub registry: Registry,
    pub cfg: ServerConfig,
    pub date: DateCache,
    pub now: Instant,
    /// Shutting down: answer with `Connection: close`, close connections once idle.
    pub draining: bool,
    /// Connections to pump (read and serve) and to flush; each at most once per list.
    pub ready: Vec<usize>,
    pub dirty: Vec<usize>,
    /// Bytes held by requests being received.
    pub budget: Budget,
    /// Connections in the order they went idle, to pick the one that makes room.
    pub idle: IdleQueue,
}

impl Ctx {
    pub(super) fn new(registry: Registry, cfg: ServerConfig, now: Instant) -> Ctx {
        Ctx {
            registry,
            budget: Budget::new(cfg.inflight_budget()),
            idle: IdleQueue::default(),
            cfg,
            date: DateCache::default(),
            now,
            draining: false,
            ready: Vec::new(),
            dirty: Vec::new(),
        }
    }

    fn mark_ready<T>(&mut self, c: &mut Conn<T>) {
        if !c.queued_ready {
            c.queued_ready = true;
            self.ready.push(c.token.0);
        }
    }

    fn mark_dirty<T>(&mut self, c: &mut Conn<T>) {
        if !c.queued_dirty {
            c.queued_dirty = true;
            self.dirty.push(c.token.0);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Open,
    Closing,
    Lingering(Instant),
    Closed,
}

pub(super) struct Conn<T> {
    sock: Transport,
    token: Token,
    remote: SocketAddr,
    phase: Phase,
    /// Received bytes; `buf[start..end]` is not yet consumed by the parser.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    parser: RequestParser,
    /// Readiness not yet drained to WouldBlock (mio is edge-triggered).
    want_read: bool,
    /// The peer's FIN was reported: a short read no longer proves the socket is drained.
    peer_hup: bool,
    read_eof: bool,
    /// First byte of the request being received, for the read timeout.
    req_started: Option<Instant>,
    /// Requests answered during this turn.
    served: usize,
    /// Until the head of the first request is in: when the connection is closed without it.
    first_deadline: Option<Instant>,
    /// What the input buffers are charged against the memory budget.
    claim: Claim,
    /// Held while the connection is idle: its entry in the queue of idle connections.
    idle_mark: Option<u64>,
    /// Serialized responses; `out[out_pos..]` is not yet written.
    out: Vec<u8>,
    out_pos: usize,
    /// Where the responses queued during this turn begin in `out`, until it is flushed.
    turn_mark: Option<usize>,
    /// The body of the response being written, produced on demand.
    stream: Option<(T, StreamFraming)>,
    /// What the stream keeps between pieces (`Service::stream_held`), as of its last piece.
    stream_held: usize,
    write_interest: bool,
    last_active: Instant,
    /// Last write progress, or when output became pending: for the write-stall timeout.
    last_write: Instant,
    queued_ready: bool,
    queued_dirty: bool,
}

impl<T> Conn<T> {
    pub(super) fn new(sock: Transport, token: Token, remote: SocketAddr, ctx: &Ctx) -> Conn<T> {
        let limits = http::Limits {
            max_header_bytes: ctx.cfg.max_header_bytes,
            max_body_bytes: ctx.cfg.max_body_bytes,
        };
        Conn {
            sock,
            token,
            remote,
            phase: Phase::Open,
            buf: Vec::new(),
            start: 0,
            end: 0,
            parser: RequestParser::new(limits),
            want_read: false,
            peer_hup: false,
            read_eof: false,
            req_started: None,
            served: 0,
            first_deadline: Some(ctx.now + ctx.cfg.first_request_timeout),
            claim: Claim::default(),
            idle_mark: None,
            out: Vec::new(),
            out_pos: 0,
            turn_mark: None,
            stream: None,
            stream_held: 0,
            write_interest: false,
            last_active: ctx.now,
            last_write: ctx.now,
            queued_ready: false,
            queued_dirty: false,
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    pub(super) fn remote(&self) -> SocketAddr {
        self.remote
    }

    pub(super) fn claim(&self) -> &Claim {
        &self.claim
    }

    /// Gives up the slot: deregisters the socket (closed on drop) and the memory charged.
    pub(super) fn remove(mut self, ctx: &mut Ctx) {
        // Closing the descriptor would do it too; explicit keeps epoll free of surprises.
        let _ = ctx.registry.deregister(&mut self.sock);
        ctx.budget.release(&mut self.claim);
    }

    /// Records readiness reported by `poll` and queues the work it calls for.
    pub(super) fn on_event(&mut self, ctx: &mut Ctx, readable: bool, writable: bool, hup: bool) {
        self.peer_hup |= hup;
        if readable || hup {
            self.want_read = true;
            ctx.mark_ready(self);
        }
        if writable {
            ctx.mark_dirty(self);
        }
    }

    fn pending_out(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Output queued here, still to be produced, or (TLS) encrypted and not yet sent.
    fn has_output(&self) -> bool {
        self.pending_out() > 0 || self.stream.is_some() || self.sock.wants_write()
    }

    /// Whether new requests must wait: the previous response is still being produced, or
    /// the client is not reading what we already queued.
    fn blocked(&self) -> bool {
        self.phase != Phase::Open || self.stream.is_some() || self.pending_out() > OUT_HIGH
    }

    fn idle(&self) -> bool {
        self.start == self.end && !self.parser.in_progress() && !self.has_output()
    }

    /// Whether the connection may be closed to admit another: open, idle, and nothing arrived
    /// that it has not read yet.
    fn evictable(&self) -> bool {
        self.phase == Phase::Open && self.idle() && !self.want_read
    }

    /// Whether this is still the idle spell queued under `mark`.
    pub(super) fn idle_since(&self, mark: u64) -> bool {
        self.idle_mark == Some(mark) && self.evictable()
    }

    /// Keeps the connection's place in the idle queue: queued when it goes idle, forgotten
    /// once busy. Called at the end of every step that may change that.
    pub(super) fn note_idle(&mut self, ctx: &mut Ctx) {
        match (self.evictable(), self.idle_mark) {
            (true, None) => self.idle_mark = Some(ctx.idle.push(self.token.0)),
            (false, Some(_)) => self.idle_mark = None,
            _ => {}
        }
    }

    /// Wakes a connection that waited for memory: it tries to read again, or (queued for a
    /// flush by `pump`, as it has output) to produce more of its response.
    pub(super) fn wake(&mut self, ctx: &mut Ctx) {
        self.claim.woken();
        ctx.mark_ready(self);
    }

    /// Bytes held for this connection, as the budget counts them: for input, the read buffer
    /// and what the parser keeps; for output, what is queued and not yet written and what a
    /// stream keeps between pieces, past `FREE_OUTPUT`. `more` is output about to be made.
    fn held_with(&self, more: usize) -> usize {
        let output = self.pending_out() + self.stream_held + more;
        self.buf.len() + self.parser.held() + output.saturating_sub(FREE_OUTPUT)
    }

    fn held(&self) -> usize {
        self.held_with(0)
    }

    /// Brings the budget up to date with what the connection holds now.
    fn recharge(&mut self, ctx: &mut Ctx) {
        let held = self.held();
        ctx.budget.update(&mut self.claim, held);
    }

    /// Input side of a turn: reads what arrived and answers every complete request, queueing
    /// the responses. Nothing is written here: responses leave only after `Service::turn`.
    pub(super) fn pump<S: Service<Stream = T>>(&mut self, svc: &mut S, ctx: &mut Ctx) {
        self.queued_ready = false;
        match self.phase {
            Phase::Open => self.read_and_serve(svc, ctx),
            Phase::Lingering(_) => self.discard_input(ctx),
            Phase::Closing | Phase::Closed => {}
        }
        if self.has_output() {
            ctx.mark_dirty(self);
        } else {
            self.after_output(ctx, false);
        }
        self.recharge(ctx);
        self.note_idle(ctx);
    }

    fn read_and_serve<S: Service<Stream = T>>(&mut self, svc: &mut S, ctx: &mut Ctx) {
        let mut budget = READ_BUDGET;
        self.served = 0;
        loop {
            self.serve(svc, ctx);
            if self.served >= REQUESTS_PER_TURN && !self.blocked() {
                // The rest, buffered or not, waits for the next turn.
                ctx.mark_ready(self);
                return;
            }
            if self.blocked() || !self.want_read {
                break;
            }
            if budget == 0 {
                ctx.mark_ready(self);
                break;
            }
            if !self.make_room(ctx) {
                // Waits for memory, or for its next turn; the socket is not drained, so the
                // client is held back.
                break;
            }
            let space = self.buf.len() - self.end;
            match self.sock.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.read_eof = true;
                    self.want_read = false;
                }
                Ok(n) => {
                    self.end += n;
                    self.last_active = ctx.now;
                    budget = budget.saturating_sub(n);
                    // Edge-triggered: a short read drained the socket, and any later data
                    // brings a new event. Saves a WouldBlock read per request.
                    if n < space && !self.peer_hup {
                        self.want_read = false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.want_read = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if e.kind() == io::ErrorKind::InvalidData {
                        svc.tls_failed(self.remote, &e.to_string());
                    }
                    self.phase = Phase::Closed;
                    return;
                }
            }
        }
        if self.read_eof && !self.blocked() {
            if self.start < self.end || self.parser.in_progress() {
                // Nothing more of this request will arrive. The client may still read: tell
                // it, as upstream answers a push whose body ends early.
                self.reject(svc, ctx, http::Error::Truncated);
            } else {
                self.phase = Phase::Closing;
            }
        }
    }

    /// Makes room for the next read: compacts the read buffer, and grows it when it is full
    /// of one unfinished request, never past what that request can still take (the parser
    /// knows, bounded by the header and body limits). A chunked body's decoded copy is grown
    /// ahead of the data the read may bring. Growth is asked of the memory budget first;
    /// false means the connection must not read now: it waits to be woken, or for the next
    /// turn.
    fn make_room(&mut self, ctx: &mut Ctx) -> bool {
        let mut new_len = self.buf.len();
        if self.buf.len() - self.end < READ_CHUNK / 4 {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let len = self.buf.len();
            if len - self.end < READ_CHUNK / 4 {
                let most = self
                    .parser
                    .most_needed(self.end)
                    .map_or(usize::MAX, |n| self.end + n);
                // `most` exceeds what is buffered, or the request would be complete.
                new_len = (len * 2).max(READ_CHUNK).min(most).max(len);
            }
        }
        let body = self.parser.body_growth(new_len - self.start);
        let extra = new_len - self.buf.len() + body;
        if extra > 0 {
            let held = self.held();
            match ctx
                .budget
                .grow(&mut self.claim, self.token.0, held, extra, ctx.now)
            {
                Grant::Granted => {}
                Grant::NextTurn => {
                    ctx.mark_ready(self);
                    return false;
                }
                Grant::Refused => return false,
            }
            self.buf.resize(new_len, 0);
            self.parser.grow_body(body);
            self.recharge(ctx);
        }
        true
    }

    /// Frames and answers buffered requests, in order, until one is incomplete, the
    /// connection is blocked, or it has had its share of this turn.
    fn serve<S: Service<Stream = T>>(&mut self, svc: &mut S, ctx: &mut Ctx) {
        while !self.blocked() && self.served < REQUESTS_PER_TURN {
            let input = &self.buf[self.start..self.end];
            match self.parser.parse(input) {
                Err(e) => {
                    self.reject(svc, ctx, e);
                    return;
                }
                Ok((Status::Partial, used)) => {
                    self.start += used;
                    if self.parser.in_progress() {
                        self.first_deadline = None;
                    }
                    if self.parser.take_continue() {
                        self.note_output_start(ctx.now);
                        self.out.extend_from_slice(CONTINUE);
                    }
                    if self.start < self.end || self.parser.in_progress() {
                        self.req_started.get_or_insert(ctx.now);
                    }
                    break;
                }
                Ok((Status::Complete, used)) => {
                    let p = &self.parser;
                    let req = Request {
                        method: p.method(),
                        target: p.target(),
                        headers: p.headers(),
                        body: p.body(input),
                        remote: self.remote,
                        started: self.req_started.unwrap_or(ctx.now),
                    };
                    let ex = Exchange {
                        minor: p.minor_version(),
                        head: p.method() == "HEAD",
                        keep_alive: p.keep_alive() && !ctx.draining,
                    };
                    let resp = if p.asks_server_options() {
                        Response::empty(200)
                    } else {
                        svc.handle(&req)
                    };
                    self.note_output_start(ctx.now);
                    self.turn_mark.get_or_insert(self.out.len());
                    let w = write_response(&mut self.out, ctx.date.get(), ex, resp);
                    self.stream = w.stream;
                    if w.close {
                        self.phase = Phase::Closing;
                    }
                    self.start += used;
                    self.req_started = None;
                    self.first_deadline = None;
                    self.parser.reset();
                    self.served += 1;
                }
            }
        }
        if self.start == self.end {
            self.release_input();
        }
    }

    /// Forgets buffered input (all consumed, or not to be trusted), releasing a buffer that a
    /// large request grew: memory is charged while held, and an idle connection holds little.
    fn release_input(&mut self) {
        self.start = 0;
        self.end = 0;
        if self.buf.len() > READ_CHUNK {
            self.buf = Vec::new();
        }
    }

    /// The stall clock starts when output becomes pending, not at the last write long ago.
    fn note_output_start(&mut self, now: Instant) {
        if !self.has_output() {
            self.last_write = now;
        }
    }

    /// Answers a request the HTTP layer refused, then closes: after a framing error the
    /// rest of the input cannot be trusted.
    fn reject<S: Service<Stream = T>>(&mut self, svc: &mut S, ctx: &mut Ctx, e: http::Error) {
        svc.rejected(self.remote, e.status(), e.reason());
        self.note_output_start(ctx.now);
        write_rejection(&mut self.out, ctx.date.get(), e);
        self.abandon_input(ctx);
    }

    /// No more requests: drops what was received of them and the memory it took.
    fn abandon_input(&mut self, ctx: &mut Ctx) {
        self.phase = Phase::Closing;
        self.req_started = None;
        self.release_input();
        self.parser.reset();
        ctx.budget.release(&mut self.claim);
        self.recharge(ctx);
    }

    /// The service could not make this turn's mutations durable: the responses queued since
    /// the turn began (nothing of them is written yet) become one 503, and the connection
    /// closes after it, so none of those requests is acknowledged. Later pipelined requests
    /// are dropped unanswered, as a client must expect of a closing connection.
    pub(super) fn fail_turn(&mut self, ctx: &mut Ctx) {
        let Some(mark) = self.turn_mark.take() else {
            return;
        };
        debug_assert!(mark >= self.out_pos, "nothing is written before the turn");
        self.out.truncate(mark);
        self.stream = None;
        self.stream_held = 0;
        let mut resp =
            Response::<T>::error(503, "the change could not be made durable; retry later");
        resp.close = true;
        let ex = Exchange {
            minor: 1,
            head: false,
            keep_alive: false,
        };
        write_response(&mut self.out, ctx.date.get(), ex, resp);
        self.abandon_input(ctx);
    }

    /// Reads and drops whatever the client still sends after our last response.
    fn discard_input(&mut self, ctx: &mut Ctx) {
        if self.buf.len() < READ_CHUNK {
            self.buf.resize(READ_CHUNK, 0);
        }
        for _ in 0..READ_BUDGET / READ_CHUNK {
            match self.sock.discard(&mut self.buf) {
                Ok(0) => {
                    self.phase = Phase::Closed;
                    return;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.want_read = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.phase = Phase::Closed;
                    return;
                }
            }
        }
        ctx.mark_ready(self);
    }

    /// Output side of a turn: writes queued bytes until the socket is full, producing more of
    /// a streamed body whenever little is left queued and the memory budget allows.
    pub(super) fn flush<S: Service<Stream = T>>(&mut self, svc: &mut S, ctx: &mut Ctx) {
        self.write_out(svc, ctx);
        self.recharge(ctx);
    }

    fn write_out<S: Service<Stream = T>>(&mut self, svc: &mut S, ctx: &mut Ctx) {
        self.queued_dirty = false;
        self.turn_mark = None;
        if !matches!(self.phase, Phase::Open | Phase::Closing) {
            return;
        }
        let mut budget = WRITE_BUDGET;
        loop {
            if self.pending_out() < FILL_LOW && self.stream.is_some() {
                let (held, after) = (self.held(), self.held_with(FILL_WANT));
                let grant = ctx.budget.grow_output(
                    &mut self.claim,
                    self.token.0,
                    held,
                    after - held,
                    ctx.now,
                );
                match grant {
                    // The service produced nothing and is not done: try again next turn.
                    Grant::Granted if !self.fill(svc) => ctx.mark_dirty(self),
                    Grant::Granted => {}
                    Grant::NextTurn => ctx.mark_dirty(self),
                    // Woken once enough is freed (see `Conn::wake`).
                    Grant::Refused => {}
                }
            }
            if self.pending_out() == 0 {
                match self.sock.flush() {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.set_write_interest(ctx, true);
                        return;
                    }
                    Err(_) => {
                        self.phase = Phase::Closed;
                        return;
                    }
                }
            }
            match self.sock.write(&self.out[self.out_pos..]) {
                Ok(0) => {
                    self.phase = Phase::Closed;
                    return;
                }
                Ok(n) => {
                    self.out_pos += n;
                    self.last_write = ctx.now;
                    self.last_active = ctx.now;
                    if self.out_pos == self.out.len() {
                        self.out.clear();
                        self.out_pos = 0;
                    }
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        ctx.mark_dirty(self);
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.set_write_interest(ctx, true);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.phase = Phase::Closed;
                    return;
                }
            }
        }
        if self.stream.is_some() {
            return;
        }
        self.set_write_interest(ctx, false);
        if self.out.capacity() > RETAIN_OUT {
            self.out = Vec::new();
        }
        self.after_output(ctx, true);
        self.note_idle(ctx);
    }

    /// Appends the next piece of the streamed body to the output; false if it produced
    /// nothing without finishing.
    fn fill<S: Service<Stream = T>>(&mut self, svc: &mut S) -> bool {
        let Some((stream, framing)) = &mut self.stream else {
            return true;
        };
        if self.out_pos > 0 {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        let before = self.out.len();
        let done = match framing {
            StreamFraming::Chunked => {
                let chunk = begin_chunk(&mut self.out);
                let done = svc.fill(stream, &mut self.out, FILL_WANT);
                end_chunk(&mut self.out, chunk);
                if done {
                    self.out.extend_from_slice(LAST_CHUNK);
                }
                done
            }
            StreamFraming::UntilClose => svc.fill(stream, &mut self.out, FILL_WANT),
        };
        if done {
            self.stream = None;
        }
        self.stream_held = match &self.stream {
            Some((stream, _)) => svc.stream_held(stream),
            None => 0,
        };
        done || self.out.len() > before
    }

    fn set_write_interest(&mut self, ctx: &mut Ctx, on: bool) {
        if self.write_interest == on {
            return;
        }
        let interest = if on {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        match ctx
            .registry
            .reregister(&mut self.sock, self.token, interest)
        {
            Ok(()) => self.write_interest = on,
            Err(_) => self.phase = Phase::Closed,
        }
    }

    /// Everything queued is written: close, or go on with input that waited for this.
    /// `unblocked` is set after a flush, which may have been what held requests back.
    fn after_output(&mut self, ctx: &mut Ctx, unblocked: bool) {
        match self.phase {
            Phase::Closing if self.read_eof => self.phase = Phase::Closed,
            Phase::Closing => {
                self.sock.shutdown_write();
                self.phase = Phase::Lingering(ctx.now + LINGER);
                if self.want_read {
                    ctx.mark_ready(self);
                }
            }
            Phase::Open if ctx.draining && self.idle() => self.close_idle(),
            Phase::Open
                if unblocked && (self.want_read || self.start < self.end || self.read_eof) =>
            {
                ctx.mark_ready(self);
            }
            _ => {}
        }
    }

    /// Periodic check for first-request, idle, slow-request, slow-reader and linger deadlines.
    pub(super) fn check_timeouts<S: Service<Stream = T>>(&mut self, svc: &mut S, ctx: &mut Ctx) {
        let now = ctx.now;
        let expired =
            |since: Instant, limit: Duration| now.saturating_duration_since(since) > limit;
        if self.has_output() {
            // The client is not taking what we send (slow reader).
            if expired(self.last_write, ctx.cfg.write_timeout) {
                self.phase = Phase::Closed;
            }
            return;
        }
        match self.phase {
            Phase::Lingering(until) if now >= until => self.phase = Phase::Closed,
            Phase::Open => match (self.req_started, self.first_deadline) {
                // Slow request: headers or body trickling in.
                (Some(t), _) if expired(t, ctx.cfg.read_timeout) => {
                    self.reject(svc, ctx, http::Error::Timeout);
                    ctx.mark_dirty(self);
                }
                // A new connection holds a slot without using it. The TLS handshake is part
                // of the first request's time.
                (_, Some(deadline)) if now >= deadline => {
                    if self.sock.handshaking() {
                        svc.tls_failed(self.remote, "TLS handshake timeout");
                        self.phase = Phase::Closed;
                    } else if self.req_started.is_some() {
                        self.reject(svc, ctx, http::Error::Timeout);
                        ctx.mark_dirty(self);
                    } else {
                        // Asked nothing, so nothing to answer.
                        self.close_idle();
                    }
                }
                (None, _) if expired(self.last_active, ctx.cfg.idle_timeout) => self.close_idle(),
                _ => {}
            },
            _ => {}
        }
    }

    /// Drops the request being received to free memory for others' (see `server`): a 503
    /// after what is already queued, then close; or a close at once while a streamed
    /// response is under way, as nothing can follow it, or while what is charged is output
    /// the client does not take, which a 503 would only queue behind.
    pub(super) fn shed<S: Service<Stream = T>>(&mut self, svc: &mut S, ctx: &mut Ctx) {
        if self.stream.is_some() || self.pending_out() > FREE_OUTPUT {
            self.phase = Phase::Closed;
        } else {
            self.reject(svc, ctx, http::Error::Overloaded);
            ctx.mark_dirty(self);
        }
    }

    /// Shutdown began: an idle connection closes now, a busy one after its current work.
    pub(super) fn begin_drain(&mut self) {
        if self.phase == Phase::Open && self.idle() {
            self.close_idle();
        }
    }

    /// Closes a connection with nothing in progress, telling a TLS client it was on purpose.
    pub(super) fn close_idle(&mut self) {
        self.sock.close_notify();
        self.phase = Phase::Closed;
    }
}
