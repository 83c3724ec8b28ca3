//! The TCP server: one task per connection, driving a [`crate::session::Session`].

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use amiwire::{Decoder, DecoderConfig, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::accounts::Accounts;
use crate::dialplan::Dialplan;
use crate::input::{Input, Reader};
use crate::pbx::{Identity, Shared};
use crate::session::{Session, Then};
use crate::wire::error;
use crate::wire::SimEvent;

/// Faults to inject, for testing how clients cope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Faults {
    /// Close each connection once this many bytes have been written to it (cutting a
    /// message or an event list wherever that falls).
    pub drop_after_bytes: Option<usize>,
    /// Never read from clients: actions are not answered, and a client that keeps writing
    /// finds the socket full (a stalled server).
    pub stall_reading: bool,
    /// Delay every answer by this much.
    pub response_delay: Duration,
    /// Write these bytes right after the banner (garbage on the wire).
    pub garbage_after_banner: Option<Vec<u8>>,
}

/// Settings of a [`Simulator`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SimConfig {
    /// Where to listen (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Accounts; the built-in set (the corpus's manager.conf) by default.
    pub accounts: Accounts,
    /// Dialplan; the built-in one (the corpus's extensions.conf) by default.
    pub dialplan: Dialplan,
    /// Who the simulator pretends to be.
    pub identity: Identity,
    /// Unauthenticated connections are closed after this (Asterisk: 30 s).
    pub auth_timeout: Duration,
    /// A failed login is answered after this (Asterisk: 1 s).
    pub failed_login_delay: Duration,
    /// A client that does not absorb a write within this is disconnected (Asterisk: 100 ms).
    pub write_timeout: Duration,
    /// Always issue this MD5 challenge (for replaying recorded sessions); random if `None`.
    pub challenge: Option<String>,
    /// The number of the first Local channel (`Local/…-<8 hex digits>;1`), so that a
    /// recorded session naming channels can be replayed.
    pub first_channel: u64,
    /// Faults to inject (none by default).
    pub faults: Faults,
    /// Also serve AMI over HTTP (`/rawman`, `/mxml`, and `/arawman`, `/amxml` with Digest
    /// authentication) here; off by default.
    pub http_listen: Option<SocketAddr>,
    /// The first nonces of HTTP Digest 401 answers (for replaying recorded sessions); random
    /// ones after them.
    pub digest_nonces: Vec<String>,
    /// manager.conf's `httptimeout`: an AMI-over-HTTP cookie session (`/rawman`, `/mxml`,
    /// `/manager`) or Digest session idle this long is forgotten, a cookie's `Max-Age`, and
    /// WaitEvent waits at most this less 10 s (Asterisk: 60 s, the default).
    pub http_timeout: Duration,
    /// The queues.conf text (the format of the corpus's `asterisk-etc/queues.conf`): its
    /// queues are listed by QueueStatus and QueueSummary, its members' device states raise
    /// QueueMemberStatus, and GetConfig returns it. The recorded server's by default
    /// ([`crate::queues::DEFAULT_QUEUES_CONF`]: queue `support`, member `Local/100@test`).
    /// Callers of the Queue application wait in them; their members are never rung.
    pub queues_conf: String,
    /// Seeds the simulator's one random source (MD5 challenges, Digest nonces, HTTP session
    /// cookies, bridge ids, `${RAND()}`), so that a run can be repeated; from the clock if
    /// `None`.
    pub seed: Option<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            accounts: Accounts::default(),
            dialplan: Dialplan::default(),
            identity: Identity::default(),
            auth_timeout: Duration::from_secs(30),
            failed_login_delay: Duration::from_secs(1),
            write_timeout: Duration::from_millis(100),
            challenge: None,
            first_channel: 0,
            faults: Faults::default(),
            http_listen: None,
            digest_nonces: Vec::new(),
            http_timeout: Duration::from_secs(60),
            queues_conf: crate::queues::DEFAULT_QUEUES_CONF.to_owned(),
            seed: None,
        }
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct Simulator {
    addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    events: broadcast::Sender<SimEvent>,
    shutdown: watch::Sender<bool>,
    kick: watch::Sender<u64>,
    task: JoinHandle<()>,
}

impl Simulator {
    /// Binds and starts accepting connections (on the current tokio runtime).
    pub async fn start(config: SimConfig) -> io::Result<Simulator> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let globals: HashMap<String, String> = config
            .dialplan
            .globals()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut shared = Shared::new(config.accounts.clone(), globals);
        shared.identity = config.identity.clone();
        shared.failed_login_delay = config.failed_login_delay;
        shared.http_timeout = config.http_timeout;
        shared.fixed_challenge = config.challenge.clone();
        shared.random = Arc::new(crate::wire::Random::new(config.seed));
        shared.dialplan = Arc::new(config.dialplan.clone());
        shared.queues = Arc::new(crate::queues::Queues::new(
            &config.queues_conf,
            shared.epoch(),
        ));
        shared
            .counters
            .channel
            .store(config.first_channel, std::sync::atomic::Ordering::Relaxed);
        let mut ext = vec!["general".to_owned(), "globals".to_owned()];
        ext.extend(config.dialplan.contexts().iter().map(|c| c.name.clone()));
        shared.categories.insert("extensions.conf".into(), ext);
        let mut mgr = vec!["general".to_owned()];
        mgr.extend(config.accounts.iter().map(|a| a.username.clone()));
        shared.categories.insert("manager.conf".into(), mgr);
        let shared = Arc::new(shared);
        let (events, _) = broadcast::channel(65_536);
        let (shutdown, _) = watch::channel(false);
        let (kick, _) = watch::channel(0u64);
        let conn = ConnCfg {
            auth_timeout: config.auth_timeout,
            write_timeout: config.write_timeout,
            banner: format!("Asterisk Call Manager/{}\r\n", config.identity.ami_version),
            faults: config.faults.clone(),
        };
        let http_addr = match config.http_listen {
            Some(a) => {
                let l = TcpListener::bind(a).await?;
                let addr = l.local_addr()?;
                tokio::spawn(crate::http::http_loop(
                    l,
                    shared.clone(),
                    events.clone(),
                    shutdown.subscribe(),
                    Arc::new(crate::http::Digest::new(
                        config.digest_nonces.clone(),
                        shared.random.clone(),
                    )),
                ));
                Some(addr)
            }
            None => None,
        };
        let task = tokio::spawn(accept_loop(
            listener,
            shared.clone(),
            events.clone(),
            shutdown.subscribe(),
            kick.subscribe(),
            conn,
        ));
        Ok(Simulator {
            addr,
            http_addr,
            shared,
            events,
            shutdown,
            kick,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the AMI-over-HTTP listener, if one was asked for.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Raises an event, delivered to every logged-in session whose mask and filters pass it.
    pub fn raise(&self, event: SimEvent) {
        let _ = self.events.send(event);
    }

    /// Raises `event` `count` times, as fast as the slowest session takes them (the generator
    /// waits while the event queue is half full, so a session that keeps reading is never
    /// dropped); for event floods.
    pub async fn flood(&self, event: &SimEvent, count: usize) {
        self.flood_with(count, |_| event.clone()).await;
    }

    /// Raises `count` events made by `make(i)` for `i` in `0..count`, with the pacing of
    /// [`flood`](Simulator::flood) (events that differ, such as a sequence number).
    pub async fn flood_with(&self, count: usize, mut make: impl FnMut(usize) -> SimEvent) {
        for i in 0..count {
            let _ = self.events.send(make(i));
            if i % 1024 == 1023 {
                while self.events.len() > 32_768 {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                tokio::task::yield_now().await;
            }
        }
    }

    /// Places `count` calls to `Local/<exten>@<context>` (each answered by the dialplan and
    /// held by `Wait(hold)` on the caller side), `rate` per second, as an Originate would:
    /// the event load of a busy PBX. Returns when the last call is placed.
    pub async fn generate_calls(
        &self,
        exten: &str,
        context: &str,
        hold: Duration,
        rate: f64,
        count: usize,
    ) {
        use crate::call::{OriginateRequest, Target};
        let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
        let mut tick = tokio::time::interval(period);
        for _ in 0..count {
            tick.tick().await;
            let req = OriginateRequest {
                action_id: None,
                channel: format!("Local/{exten}@{context}"),
                local: Some((exten.to_owned(), context.to_owned())),
                target: Target::App {
                    app: "Wait".into(),
                    data: format!("{}", hold.as_secs_f64()),
                },
                caller_id: (None, None),
                variables: Vec::new(),
                channel_id: None,
                other_channel_id: None,
                asynchronous: true,
                timeout: Duration::from_secs(30),
            };
            let _ = crate::call::originate(req, self.shared.call_env(), &self.events).await;
        }
    }

    /// Simulates an Asterisk restart: every connected session gets a `Shutdown` event (if it
    /// reads `system` events) and is closed; new connections are accepted as before.
    pub fn restart(&self) {
        self.kick.send_modify(|n| *n += 1);
    }

    /// Stops accepting and closes every connection.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

#[derive(Clone, Debug)]
struct ConnCfg {
    auth_timeout: Duration,
    write_timeout: Duration,
    banner: String,
    faults: Faults,
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    events: broadcast::Sender<SimEvent>,
    mut shutdown: watch::Receiver<bool>,
    kick: watch::Receiver<u64>,
    conn: ConnCfg,
) {
    let mut tasks = Vec::new();
    loop {
        tokio::select! {
            r = listener.accept() => {
                let Ok((stream, peer)) = r else { continue };
                let _ = stream.set_nodelay(true);
                tasks.push(tokio::spawn(serve(
                    stream,
                    peer,
                    shared.clone(),
                    events.clone(),
                    shutdown.clone(),
                    {
                        let mut k = kick.clone();
                        k.borrow_and_update();
                        k
                    },
                    conn.clone(),
                )));
                tasks.retain(|t| !t.is_finished());
            }
            _ = shutdown.changed() => break,
        }
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// The writing half of a connection: write timeout, and the byte budget of
/// [`Faults::drop_after_bytes`].
struct Writer {
    stream: TcpStream,
    timeout: Duration,
    budget: Option<usize>,
}

impl Writer {
    /// Writes `bytes`; `false` when the connection is to end (the client did not absorb
    /// them in time, or the byte budget ran out).
    async fn write(&mut self, bytes: &[u8]) -> bool {
        let (bytes, last) = match self.budget {
            Some(b) if bytes.len() >= b => (&bytes[..b], true),
            _ => (bytes, false),
        };
        if let Some(b) = &mut self.budget {
            *b -= bytes.len();
        }
        let ok = matches!(
            tokio::time::timeout(self.timeout, self.stream.write_all(bytes)).await,
            Ok(Ok(()))
        );
        if last {
            let _ = self.stream.shutdown().await;
            return false;
        }
        ok
    }
}

async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    events: broadcast::Sender<SimEvent>,
    mut shutdown: watch::Receiver<bool>,
    mut kick: watch::Receiver<u64>,
    conn: ConnCfg,
) {
    let mut rx = events.subscribe();
    let local = stream.local_addr().unwrap_or(peer);
    let mut session = Session::new(shared, peer, local);
    let mut stream = Writer {
        stream,
        timeout: conn.write_timeout,
        budget: conn.faults.drop_after_bytes,
    };
    if !stream.write(conn.banner.as_bytes()).await {
        return;
    }
    if let Some(g) = &conn.faults.garbage_after_banner {
        if !stream.write(g).await {
            return;
        }
    }
    let mut reader = Reader::default();
    let mut buf = vec![0u8; 8192];
    let auth_deadline = tokio::time::Instant::now() + conn.auth_timeout;
    loop {
        tokio::select! {
            r = stream.stream.read(&mut buf), if !conn.faults.stall_reading => {
                let n = match r {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let input = (&buf[..n], &mut reader);
                if !run_input(input, &mut session, &mut stream, &events, &conn).await {
                    return;
                }
            }
            ev = rx.recv() => {
                let Some(out) = queued_events(ev, &mut rx, &mut session) else {
                    return;
                };
                if !out.is_empty() && !stream.write(&out).await {
                    return;
                }
            }
            _ = tokio::time::sleep_until(auth_deadline), if session.user().is_none() => {
                let _ = stream.stream.shutdown().await;
                return;
            }
            _ = shutdown.changed() => {
                let _ = stream.stream.shutdown().await;
                return;
            }
            _ = kick.changed() => {
                restarting(&session, &mut stream).await;
                return;
            }
        }
    }
}

/// Feeds bytes read to the session's [`Reader`] (main/manager.c's way of reading lines and
/// messages) and runs each action they complete, one at a time, each to completion before
/// the next is read, as Asterisk's session thread does. `false` when the connection is to
/// close.
async fn run_input(
    (bytes, reader): (&[u8], &mut Reader),
    session: &mut Session,
    stream: &mut Writer,
    events: &broadcast::Sender<SimEvent>,
    conn: &ConnCfg,
) -> bool {
    for input in reader.feed(bytes) {
        let reply = match input {
            Input::Message(text) => match decode(&text) {
                Some(m) => session.handle(&m.as_ref()),
                // No line at all (process_message finds no Action).
                None => crate::actions::Reply::new(error(None, "Missing action in request")),
            },
            Input::LineTooLong(text) => {
                parse_error(&text, "Failed to parse message: line too long")
            }
            Input::TooManyLines(text) => {
                parse_error(&text, "Too many lines in message or allocation failure")
            }
        };
        if !run_reply(reply, stream, session, events, conn).await {
            return false;
        }
    }
    true
}

/// A message the [`Reader`] re-encoded, decoded (`None` for one without a line).
fn decode(text: &[u8]) -> Option<amiwire::Message> {
    let mut dcfg = DecoderConfig::without_banner();
    dcfg.max_line_len = 64 * 1024;
    dcfg.max_headers = 1024;
    dcfg.max_message_len = 1024 * 1024;
    dcfg.max_buffered = 1024 * 1024;
    let mut dec = Decoder::with_config(dcfg);
    let _ = dec.feed(text);
    match dec.decode() {
        Ok(Some(Frame::Message(m))) => Some(m.to_owned()),
        _ => None,
    }
}

/// manager.c `handle_parse_error` (and do_message's lost lines): the error, with the
/// message's ActionID.
fn parse_error(text: &[u8], message: &str) -> crate::actions::Reply {
    let m = decode(text);
    let id = m.as_ref().and_then(|m| m.get_str("ActionID"));
    crate::actions::Reply::new(error(id, message))
}

/// This event and whatever else is already queued, for one write: those the session takes.
/// `None` if the session fell behind the event stream: Asterisk disconnects a client that
/// cannot absorb its events (writetimeout); so do we, rather than dropping events silently.
fn queued_events(
    ev: Result<SimEvent, broadcast::error::RecvError>,
    rx: &mut broadcast::Receiver<SimEvent>,
    session: &mut Session,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut next = Some(ev);
    while let Some(ev) = next.take() {
        let ev = ev.ok()?;
        if !session.is_own_event(&ev)
            && session.may_want(&ev)
            && (!session.has_filters() || filtered_in(session, &ev))
        {
            out.extend_from_slice(&ev.text);
        }
        if out.len() < 64 * 1024 {
            next = match rx.try_recv() {
                Ok(ev) => Some(Ok(ev)),
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    Some(Err(broadcast::error::RecvError::Lagged(n)))
                }
                Err(_) => None,
            };
        }
    }
    Some(out)
}

/// A restart: Asterisk sends Shutdown to sessions that may read system events, then the
/// connection closes.
async fn restarting(session: &Session, stream: &mut Writer) {
    let ev = SimEvent::new(
        "Shutdown",
        crate::accounts::Privileges::SYSTEM,
        &[("Shutdown", "Cleanly"), ("Restart", "True")],
    );
    // It is an ordinary manager event: the session's filters apply to it too.
    if session.may_want(&ev) && (!session.has_filters() || filtered_in(session, &ev)) {
        let _ = stream.write(&ev.text).await;
    }
    let _ = stream.stream.shutdown().await;
}

/// Carries out one reply: waits, starts a call (and for a synchronous Originate waits for its
/// answer), writes, raises events. `false` when the connection is to end.
async fn run_reply(
    mut reply: crate::actions::Reply,
    stream: &mut Writer,
    session: &Session,
    events: &broadcast::Sender<SimEvent>,
    conn: &ConnCfg,
) -> bool {
    let delay = reply.delay + conn.faults.response_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(req) = reply.originate.take() {
        if let Some(answer) = crate::call::originate(req, session.shared().call_env(), events).await
        {
            reply.bytes = answer;
        }
    }
    if !stream.write(&reply.bytes).await {
        return false;
    }
    for e in reply.events {
        let _ = events.send(e);
    }
    if reply.then == Then::Close {
        let _ = stream.stream.shutdown().await;
        return false;
    }
    true
}

/// Runs the session's event filters on an event (parsed from its text).
fn filtered_in(session: &Session, ev: &SimEvent) -> bool {
    let mut d = Decoder::with_config(DecoderConfig::without_banner());
    let _ = d.feed(&ev.text);
    match d.decode() {
        Ok(Some(Frame::Message(m))) => session.wants(ev, &m),
        _ => false,
    }
}
