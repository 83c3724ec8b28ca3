//! The connection task: owns the socket and the sans-io [`Connection`], never stops reading.
//!
//! The task keeps sockets, timers and ActionId → waiter, nothing else: one `Connection` lives
//! as long as the client, and the next session after a break is started from the last one by
//! the core ([`Connection::reconnect`]: event mask, server-side filters, actions never written).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use amiwire::{Action, ActionId, CloseReason, Connection, Output, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::config::ClientConfig;
use crate::error::Error;
use crate::events::{ClientEvent, Subscriber};
use crate::transport::{self, Io};

/// The client's link to the server, as [`Client::status`](crate::Client::status) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Connecting and logging in for the first time.
    Connecting,
    /// Logged in.
    Connected {
        /// The server's banner.
        banner: String,
    },
    /// The connection broke; reconnecting.
    Reconnecting {
        /// Why it broke.
        reason: Disconnect,
    },
    /// Closed for good.
    Closed {
        /// Why.
        reason: Disconnect,
    },
}

/// Why the link to the server went down: the AMI session's own reason, or the transport's.
/// Decide on the variant ([`may_reconnect`](Disconnect::may_reconnect)); the `Display` text
/// is for people.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disconnect {
    /// The AMI session ended: the server closed the connection, refused the login, left a
    /// keepalive Ping unanswered, broke the protocol, or said Goodbye to a Logoff.
    Session(CloseReason),
    /// Reading from the socket failed.
    Read {
        /// The operating system's error kind.
        kind: io::ErrorKind,
        /// Its text.
        message: String,
    },
    /// Writing to the socket failed.
    Write {
        /// The operating system's error kind.
        kind: io::ErrorKind,
        /// Its text.
        message: String,
    },
    /// The server read nothing of what was written for this long
    /// ([`ClientConfig::write_timeout`]).
    WriteStalled {
        /// The timeout.
        after: Duration,
    },
    /// Reconnecting failed: the attempts ran out
    /// ([`Reconnect::max_attempts`](crate::Reconnect::max_attempts)). (A new login that the
    /// server refuses closes the client with that [`Session`](Self::Session) reason.)
    GaveUp {
        /// Why the connection broke first.
        first: Box<Disconnect>,
        /// The last attempt's error.
        last: String,
    },
    /// The client was closed ([`Client::close`](crate::Client::close), or every handle
    /// dropped).
    ClientClosed,
}

impl Disconnect {
    /// Whether a new connection may help: `false` when we ended the session or when the
    /// server refused the credentials (see [`CloseReason::may_reconnect`]).
    pub fn may_reconnect(&self) -> bool {
        match self {
            Disconnect::Session(r) => r.may_reconnect(),
            Disconnect::Read { .. }
            | Disconnect::Write { .. }
            | Disconnect::WriteStalled { .. } => true,
            Disconnect::GaveUp { .. } | Disconnect::ClientClosed => false,
        }
    }
}

impl fmt::Display for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Disconnect::Session(r) => r.fmt(f),
            Disconnect::Read { message, .. } => write!(f, "read error: {message}"),
            Disconnect::Write { message, .. } => write!(f, "write error: {message}"),
            Disconnect::WriteStalled { after } => {
                write!(f, "the server has not read for {after:?}")
            }
            Disconnect::GaveUp { first, last } => {
                write!(f, "gave up reconnecting ({first}): {last}")
            }
            Disconnect::ClientClosed => f.write_str("closed by the client"),
        }
    }
}

/// Subscribers and status, changed together so that a new subscriber's first marker and the
/// markers that follow it are consistent.
#[derive(Debug)]
pub(crate) struct Hub {
    pub(crate) subs: Vec<Arc<Subscriber>>,
    pub(crate) status: Status,
}

pub(crate) fn lock_hub(m: &Mutex<Hub>) -> MutexGuard<'_, Hub> {
    // Every update of the hub is a single assignment or push: a poisoned lock holds a
    // consistent value.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    fn broadcast(&mut self, item: &ClientEvent) {
        self.subs.retain(|s| !s.is_closed());
        for s in &self.subs {
            s.push(item.clone());
        }
    }
}

pub(crate) type Reply = oneshot::Sender<Result<Response, Error>>;

/// What a [`Client`](crate::Client) asks of the task.
#[derive(Debug)]
pub(crate) enum Command {
    Send {
        action: Action,
        timeout: Option<Duration>,
        reply: Reply,
        /// Whether the action may wait for the next session while the link is down
        /// (`false`: [`Client::send_now`](crate::Client::send_now), refused instead).
        queue: bool,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}

/// How a session ended.
enum End {
    /// The connection broke (or never got through the login); maybe reconnect.
    Lost(Disconnect),
    /// We closed it (Client::close, or every Client dropped).
    Shutdown,
}

pub(crate) struct Driver {
    cfg: ClientConfig,
    hub: Arc<Mutex<Hub>>,
    cmds: mpsc::Receiver<Command>,
    cmds_open: bool,
    waiting: HashMap<ActionId, Reply>,
    closing: Option<Vec<oneshot::Sender<()>>>,
    scratch: Vec<usize>,
    /// Why the link went down, while reconnecting (cleared by the next login).
    down: Option<Disconnect>,
}

type First = Option<oneshot::Sender<Result<String, Error>>>;

pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// `t + d`, or `None` ("never") when that is past what the clock can hold.
fn after(t: Instant, d: Duration) -> Option<Instant> {
    t.checked_add(d)
}

pub(crate) async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
        None => std::future::pending().await,
    }
}

/// 64 random bits, without a dependency: std's per-process random hash keys over the time.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

fn random_unit() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn gave_up(first: Disconnect, last: String) -> Disconnect {
    Disconnect::GaveUp {
        first: Box::new(first),
        last,
    }
}

impl Driver {
    pub(crate) fn new(
        mut cfg: ClientConfig,
        hub: Arc<Mutex<Hub>>,
        cmds: mpsc::Receiver<Command>,
    ) -> Driver {
        // Actions never written wait through a reconnect gap only if one can follow.
        cfg.connection.resumable = cfg.reconnect.is_some();
        Driver {
            cfg,
            hub,
            cmds,
            cmds_open: true,
            waiting: HashMap::new(),
            closing: None,
            scratch: Vec::new(),
            down: None,
        }
    }

    /// Runs until the client is closed. `first` learns how the first login went.
    pub(crate) async fn run(mut self, first: oneshot::Sender<Result<String, Error>>) {
        let mut first = Some(first);
        let mut attempt: u32 = 0;
        // The AMI session and its successors; created with the first socket.
        let mut conn: Option<Connection> = None;
        let final_reason = loop {
            let cfg = self.cfg.clone();
            let io = match self
                .offline(conn.as_mut(), async move { transport::connect(&cfg).await })
                .await
            {
                None => break Disconnect::ClientClosed,
                Some(Ok(io)) => io,
                Some(Err(e)) => {
                    if let Some(f) = first.take() {
                        let _ = f.send(Err(e));
                        // The caller of `connect` has the error; nobody reads the status.
                        break Disconnect::ClientClosed;
                    }
                    tracing::warn!(error = %e, attempt, "reconnect failed");
                    match self.backoff(conn.as_mut(), &mut attempt).await {
                        Some(()) => continue,
                        None => break self.give_up(e.to_string()),
                    }
                }
            };
            let t = now();
            let c = match &mut conn {
                Some(c) => {
                    if c.reconnect(t).is_err() {
                        break Disconnect::ClientClosed;
                    }
                    c
                }
                None => conn.insert(Connection::new(self.cfg.connection.clone(), t)),
            };
            let started = tokio::time::Instant::now();
            match self.session(c, io, &mut first).await {
                End::Shutdown => break Disconnect::ClientClosed,
                End::Lost(reason) => {
                    if let Some(f) = first.take() {
                        // The first session never logged in: the caller gets the error, and
                        // the client ends.
                        let _ = f.send(Err(first_error(&self.cfg, &reason)));
                        break reason;
                    }
                    if self.cfg.reconnect.is_none() || !reason.may_reconnect() {
                        // Reconnect off, or trying again cannot help (a new login refused).
                        self.down = None;
                        break reason;
                    }
                    tracing::warn!(%reason, "disconnected; reconnecting");
                    {
                        let mut hub = lock_hub(&self.hub);
                        if self.down.is_none() {
                            // The session was up: subscribers learn where the gap starts.
                            // The waits start again from the first only after a session
                            // that lasted: one that ends right after its login (a proxy
                            // that fails every WaitEvent) counts as a failed attempt, so
                            // that logins slow down instead of repeating forever.
                            if self
                                .cfg
                                .reconnect
                                .as_ref()
                                .is_some_and(|rc| started.elapsed() >= rc.max)
                            {
                                attempt = 0;
                            }
                            hub.broadcast(&ClientEvent::Disconnected {
                                reason: reason.clone(),
                            });
                            self.down = Some(reason.clone());
                        }
                        hub.status = Status::Reconnecting {
                            reason: self.down.clone().unwrap_or(reason.clone()),
                        };
                    }
                    match self.backoff(conn.as_mut(), &mut attempt).await {
                        Some(()) => continue,
                        None => break self.give_up(reason.to_string()),
                    }
                }
            }
        };
        self.shutdown(conn.as_mut(), final_reason);
    }

    /// The reason to close with when reconnecting stops with `last` as the last error.
    fn give_up(&mut self, last: String) -> Disconnect {
        match self.down.take() {
            Some(first) => gave_up(first, last),
            None => Disconnect::ClientClosed,
        }
    }

    /// Waits before the next attempt; `None` when the client is closed meanwhile or the
    /// attempts are exhausted.
    async fn backoff(&mut self, conn: Option<&mut Connection>, attempt: &mut u32) -> Option<()> {
        let rc = self.cfg.reconnect.clone()?;
        if rc.max_attempts.is_some_and(|m| *attempt >= m) {
            tracing::warn!(attempts = *attempt, "giving up reconnecting");
            return None;
        }
        let delay = rc.delay(*attempt, random_unit());
        *attempt = attempt.saturating_add(1);
        self.offline(conn, tokio::time::sleep(delay)).await
    }

    /// Runs `fut` while no socket is up: actions go to the connection (which keeps them for
    /// the next session, within their deadlines), a close request ends the wait (`None`).
    async fn offline<F: std::future::Future>(
        &mut self,
        mut conn: Option<&mut Connection>,
        fut: F,
    ) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            if self.closing.is_some() || !self.cmds_open {
                return None;
            }
            let deadline = conn.as_ref().and_then(|c| c.poll_timeout());
            tokio::select! {
                out = &mut fut => return Some(out),
                cmd = self.cmds.recv() => self.command(cmd, conn.as_deref_mut()),
                _ = sleep_until(deadline) => {
                    if let Some(c) = conn.as_deref_mut() {
                        c.handle_timeout(now());
                        self.drain(c, &mut None);
                    }
                }
            }
        }
    }

    /// A command from a client; `conn` is the connection, live or between sessions.
    fn command(&mut self, cmd: Option<Command>, conn: Option<&mut Connection>) {
        match cmd {
            None => {
                self.cmds_open = false;
                begin_close(conn);
            }
            Some(Command::Close { reply }) => {
                self.closing.get_or_insert_with(Vec::new).push(reply);
                begin_close(conn);
            }
            Some(Command::Send {
                action,
                timeout,
                reply,
                queue,
            }) => {
                let conn = match conn {
                    Some(conn) if self.closing.is_none() => conn,
                    _ => {
                        let _ = reply.send(Err(Error::Closed));
                        return;
                    }
                };
                if !queue && !conn.is_ready() {
                    // Between sessions (or before the login): refused, never written later.
                    let _ = reply.send(Err(Error::NotConnected));
                    return;
                }
                let timeout = timeout.unwrap_or(self.cfg.connection.action_timeout);
                // The core checks everything (duplicate IDs, limits, encoding) and keeps
                // the action through a reconnect gap if it cannot be written yet.
                match conn.send_with_timeout(action, timeout, now()) {
                    Ok(id) => {
                        self.waiting.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(Error::Local(e)));
                    }
                }
            }
        }
    }

    async fn session(&mut self, conn: &mut Connection, io: Box<dyn Io>, first: &mut First) -> End {
        let (mut rd, mut wr) = tokio::io::split(io);
        let mut rbuf = vec![0u8; 64 * 1024];
        let mut wbuf: Vec<u8> = Vec::with_capacity(16 * 1024);
        let mut wpos = 0usize;
        let mut write_since: Option<Instant> = None;
        // What broke the socket, when the transport saw it before the core.
        let mut io_error: Option<Disconnect> = None;
        let mut close_deadline: Option<Instant> = None;
        // TLS holds written bytes in its session until flushed.
        let mut need_flush = false;
        // A close seen while feeding a read in pieces.
        let mut closed: Option<CloseReason> = None;
        loop {
            if let Some(reason) = closed.take().or_else(|| self.drain(conn, first)) {
                // A polite close (TLS close_notify), but never wait on a peer that stalls.
                let _ = tokio::time::timeout(Duration::from_secs(1), wr.shutdown()).await;
                if self.closing.is_some() || !self.cmds_open {
                    return End::Shutdown;
                }
                return End::Lost(io_error.take().unwrap_or(Disconnect::Session(reason)));
            }
            if wpos == wbuf.len() {
                // Take more from the connection only once this is written: the connection's
                // own bounded queue then holds the rest (more is refused with OutputFull).
                wbuf.clear();
                wpos = 0;
                let _ = conn.poll_transmit(&mut wbuf);
            }
            if wpos < wbuf.len() || need_flush {
                write_since.get_or_insert_with(now);
            } else {
                write_since = None;
            }
            if (self.closing.is_some() || !self.cmds_open) && close_deadline.is_none() {
                close_deadline = after(
                    now(),
                    self.cfg
                        .connection
                        .action_timeout
                        .min(Duration::from_secs(5)),
                );
            }
            let write_deadline = write_since.and_then(|t| after(t, self.cfg.write_timeout));
            let deadline = [conn.poll_timeout(), write_deadline, close_deadline]
                .into_iter()
                .flatten()
                .min();
            tokio::select! {
                r = rd.read(&mut rbuf) => match r {
                    Ok(0) => conn.receive_eof(),
                    Ok(n) => {
                        let mut data = &rbuf[..n];
                        let mut stuck = false;
                        loop {
                            let k = conn.receive(data);
                            data = &data[k..];
                            if data.is_empty() {
                                break;
                            }
                            if k == 0 {
                                // The decoder took nothing even after being drained: cannot
                                // happen with its limits, but never spin on it.
                                if std::mem::replace(&mut stuck, true) {
                                    io_error = Some(Disconnect::Read {
                                        kind: io::ErrorKind::InvalidData,
                                        message: "the decoder made no progress".into(),
                                    });
                                    conn.close();
                                    break;
                                }
                            } else {
                                stuck = false;
                            }
                            if let Some(reason) = self.drain(conn, first) {
                                // Closed while draining: the rest is moot.
                                closed = Some(reason);
                                break;
                            }
                        }
                    }
                    Err(e) => {
                        io_error = Some(Disconnect::Read { kind: e.kind(), message: e.to_string() });
                        // The socket is gone, as at its end: `close` would end the
                        // connection for good, and no reconnect could follow.
                        conn.receive_eof();
                    }
                },
                // Write what is pending; once all is written, flush (TLS).
                w = async {
                    if wpos < wbuf.len() {
                        wr.write(&wbuf[wpos..]).await.map(Some)
                    } else {
                        wr.flush().await.map(|()| None)
                    }
                }, if wpos < wbuf.len() || need_flush => match w {
                    Ok(Some(0)) => {
                        io_error = Some(Disconnect::Write {
                            kind: io::ErrorKind::WriteZero,
                            message: "the connection is closed for writing".into(),
                        });
                        conn.receive_eof();
                    }
                    Ok(Some(n)) => {
                        wpos += n;
                        need_flush = true;
                        write_since = if wpos < wbuf.len() { Some(now()) } else { None };
                    }
                    Ok(None) => need_flush = false,
                    Err(e) => {
                        io_error = Some(Disconnect::Write { kind: e.kind(), message: e.to_string() });
                        conn.receive_eof();
                    }
                },
                cmd = self.cmds.recv(), if self.cmds_open => self.command(cmd, Some(&mut *conn)),
                _ = sleep_until(deadline) => {
                    let t = now();
                    if write_deadline.is_some_and(|d| t >= d) {
                        io_error = Some(Disconnect::WriteStalled { after: self.cfg.write_timeout });
                        conn.receive_eof();
                    } else if close_deadline.is_some_and(|d| t >= d) {
                        conn.close();
                    } else {
                        conn.handle_timeout(t);
                    }
                }
            }
        }
    }

    /// Hands out what the connection produced; returns the close reason once it closed.
    fn drain(&mut self, conn: &mut Connection, first: &mut First) -> Option<CloseReason> {
        let mut hub: Option<MutexGuard<'_, Hub>> = None;
        let mut up = false;
        while let Some(out) = conn.poll_output() {
            match out {
                Output::Event(m) => {
                    let hub = hub.get_or_insert_with(|| {
                        let mut h = lock_hub(&self.hub);
                        // Subscriptions whose streams were dropped go (once per batch).
                        h.subs.retain(|s| !s.is_closed());
                        h
                    });
                    self.scratch.clear();
                    for (i, s) in hub.subs.iter().enumerate() {
                        if s.wants(&m) {
                            self.scratch.push(i);
                        }
                    }
                    if !self.scratch.is_empty() {
                        // One copy, shared by every subscriber that wants it.
                        let owned = m.to_owned();
                        for &i in &self.scratch {
                            hub.subs[i].push(ClientEvent::Event(owned.clone()));
                        }
                    }
                }
                Output::Response(r) => {
                    if let Some(reply) = self.waiting.remove(&r.id) {
                        let _ = reply.send(Ok(*r));
                    }
                }
                Output::Failed { id, error } => {
                    if let Some(reply) = self.waiting.remove(&id) {
                        let _ = reply.send(Err(Error::Action(error)));
                    }
                }
                Output::Connected { banner } => {
                    tracing::debug!(%banner, "connected");
                    // Without a login configured, the banner is all there is to wait for.
                    up = self.cfg.connection.login.is_none();
                }
                Output::LoggedIn => up = true,
                Output::Unmatched(m) => {
                    tracing::debug!(response = ?m.get_str("Response"), "answer for no pending action");
                }
                Output::DecodeError(e) => {
                    tracing::warn!(error = %e, "message dropped");
                }
                Output::Closed(reason) => return Some(reason),
                _ => {}
            }
            if std::mem::take(&mut up) {
                let banner = conn.banner().unwrap_or_default().to_owned();
                tracing::info!(%banner, user = %self.cfg.username(), "logged in");
                let hub = hub.get_or_insert_with(|| lock_hub(&self.hub));
                if let Some(f) = first.take() {
                    let _ = f.send(Ok(banner.clone()));
                } else {
                    hub.broadcast(&ClientEvent::Reconnected {
                        banner: banner.clone(),
                    });
                }
                self.down = None;
                hub.status = Status::Connected { banner };
            }
        }
        None
    }

    fn shutdown(&mut self, conn: Option<&mut Connection>, reason: Disconnect) {
        tracing::info!(%reason, "client closed");
        if let Some(conn) = conn {
            // Whatever the connection still holds fails now.
            conn.close();
            self.drain(conn, &mut None);
        }
        for (_, reply) in self.waiting.drain() {
            let _ = reply.send(Err(Error::Action(amiwire::ActionError::Closed {
                sent: false,
            })));
        }
        {
            let mut hub = lock_hub(&self.hub);
            if matches!(hub.status, Status::Connected { .. }) {
                hub.broadcast(&ClientEvent::Disconnected {
                    reason: reason.clone(),
                });
            }
            hub.status = Status::Closed { reason };
            for s in hub.subs.drain(..) {
                s.close();
            }
        }
        self.cmds.close();
        while let Ok(cmd) = self.cmds.try_recv() {
            match cmd {
                Command::Send { reply, .. } => {
                    let _ = reply.send(Err(Error::Closed));
                }
                Command::Close { reply } => {
                    let _ = reply.send(());
                }
            }
        }
        for r in self.closing.take().unwrap_or_default() {
            let _ = r.send(());
        }
    }
}

fn begin_close(conn: Option<&mut Connection>) {
    if let Some(conn) = conn {
        if conn.is_ready() {
            if conn.logoff(now()).is_err() {
                conn.close();
            }
        } else {
            conn.close();
        }
    }
}

/// What `Client::connect` reports when the first session ends before its login.
fn first_error(cfg: &ClientConfig, reason: &Disconnect) -> Error {
    match reason {
        Disconnect::Session(CloseReason::LoginFailed { message }) => Error::LoginFailed {
            username: cfg.username().to_owned(),
            message: message.clone(),
        },
        Disconnect::Session(CloseReason::LoginTimeout) => {
            Error::LoginTimeout(cfg.connection.login_timeout)
        }
        Disconnect::Session(CloseReason::Protocol(e)) => Error::Protocol(e.clone()),
        Disconnect::Session(CloseReason::InvalidLogin(e)) => {
            Error::Local(amiwire::LocalError::Encode(e.clone()))
        }
        other => Error::Disconnected(other.clone()),
    }
}
