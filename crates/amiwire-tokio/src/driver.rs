//! The connection task: owns the socket and the sans-io [`Connection`], never stops reading.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use amiwire::connection::{ActionError, CloseReason, EventMask, LocalError, Response};
use amiwire::{Action, ActionId, ActionIdGenerator, Connection, ConnectionConfig, Output};
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
        reason: String,
    },
    /// Closed for good.
    Closed {
        /// Why.
        reason: String,
    },
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
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}

/// An action waiting for a connection (while reconnecting), with its own deadline.
#[derive(Debug)]
struct Queued {
    action: Action,
    deadline: Instant,
    reply: Reply,
}

/// An action handed to the current [`Connection`]; the copy lets an action that was never
/// written go to the next connection instead of failing.
#[derive(Debug)]
struct Waiter {
    action: Action,
    deadline: Instant,
    reply: Reply,
}

/// How a session ended.
enum End {
    /// The connection broke (or never got through the login); maybe reconnect.
    Lost { reason: String, retry: bool },
    /// We closed it (Client::close, or every Client dropped).
    Shutdown,
}

pub(crate) struct Driver {
    cfg: ClientConfig,
    hub: Arc<Mutex<Hub>>,
    cmds: mpsc::Receiver<Command>,
    cmds_open: bool,
    ids: ActionIdGenerator,
    waiting: HashMap<ActionId, Waiter>,
    queued: VecDeque<Queued>,
    /// Actions that were never written when the connection broke: re-queued if we reconnect.
    unsent: Vec<Waiter>,
    mask: Option<EventMask>,
    filters: Vec<Action>,
    closing: Option<Vec<oneshot::Sender<()>>>,
    session: u64,
    scratch: Vec<usize>,
    /// A session has logged in (the client was handed out).
    ever_up: bool,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
        None => std::future::pending().await,
    }
}

fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now().elapsed().as_nanos() as u64);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

fn describe(reason: &CloseReason) -> String {
    match reason {
        CloseReason::Logoff => "logged off".into(),
        CloseReason::PeerClosed => "the server closed the connection".into(),
        CloseReason::LoginFailed { message } => format!("login failed: {message}"),
        CloseReason::LoginTimeout => "no login answer in time".into(),
        CloseReason::KeepaliveTimeout => "keepalive Ping unanswered".into(),
        CloseReason::Local => "closed locally".into(),
        CloseReason::Protocol(e) => format!("protocol error: {e}"),
        other => format!("{other:?}"),
    }
}

impl Driver {
    pub(crate) fn new(
        cfg: ClientConfig,
        hub: Arc<Mutex<Hub>>,
        cmds: mpsc::Receiver<Command>,
    ) -> Driver {
        Driver {
            ids: cfg.action_ids.clone(),
            mask: cfg.events.clone(),
            cfg,
            hub,
            cmds,
            cmds_open: true,
            waiting: HashMap::new(),
            queued: VecDeque::new(),
            unsent: Vec::new(),
            filters: Vec::new(),
            closing: None,
            session: 0,
            scratch: Vec::new(),
            ever_up: false,
        }
    }

    /// Runs until the client is closed. `first` learns how the first login went.
    pub(crate) async fn run(mut self, first: oneshot::Sender<Result<String, Error>>) {
        let mut first = Some(first);
        let mut attempt: u32 = 0;
        let final_reason = loop {
            let cfg = self.cfg.clone();
            let io = match self
                .offline(async move { transport::connect(&cfg).await })
                .await
            {
                None => break "closed".to_owned(),
                Some(Ok(io)) => io,
                Some(Err(e)) => {
                    if let Some(f) = first.take() {
                        let reason = e.to_string();
                        let _ = f.send(Err(e));
                        break reason;
                    }
                    tracing::warn!(error = %e, attempt, "reconnect failed");
                    match self.backoff(&mut attempt, &e.to_string()).await {
                        Some(()) => continue,
                        None => break format!("gave up reconnecting: {e}"),
                    }
                }
            };
            match self.session(io, &mut first).await {
                End::Shutdown => break "closed".to_owned(),
                End::Lost { reason, retry } => {
                    if let Some(f) = first.take() {
                        // The first session never logged in: the caller gets the error.
                        let _ = f.send(Err(Error::LoginFailed {
                            username: self.cfg.username.clone(),
                            message: reason.clone(),
                        }));
                    }
                    // A first session that never logged in ends the client: its caller got
                    // the error from `connect`.
                    if !self.ever_up || !retry || self.cfg.reconnect.is_none() {
                        self.fail_unsent();
                        break reason;
                    }
                    tracing::warn!(%reason, "disconnected; reconnecting");
                    {
                        let mut hub = lock_hub(&self.hub);
                        if matches!(hub.status, Status::Connected { .. }) {
                            attempt = 0;
                            hub.broadcast(&ClientEvent::Disconnected {
                                reason: reason.clone(),
                            });
                        }
                        hub.status = Status::Reconnecting {
                            reason: reason.clone(),
                        };
                    }
                    self.requeue_unsent();
                    match self.backoff(&mut attempt, &reason).await {
                        Some(()) => continue,
                        None => break format!("gave up reconnecting: {reason}"),
                    }
                }
            }
        };
        self.shutdown(final_reason);
    }

    /// Waits before the next attempt; `None` when the client is closed meanwhile or the
    /// attempts are exhausted.
    async fn backoff(&mut self, attempt: &mut u32, reason: &str) -> Option<()> {
        let rc = self.cfg.reconnect.clone()?;
        if rc.max_attempts.is_some_and(|m| *attempt >= m) {
            tracing::warn!(%reason, attempts = *attempt, "giving up reconnecting");
            return None;
        }
        let delay = rc.delay(*attempt, random_unit());
        *attempt = attempt.saturating_add(1);
        self.offline(tokio::time::sleep(delay)).await
    }

    /// Runs `fut` while no connection is up: actions are queued (with their deadlines), a
    /// close request ends the wait (`None`).
    async fn offline<F: std::future::Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            if self.closing.is_some() || !self.cmds_open {
                return None;
            }
            self.expire_queued();
            let deadline = self.queued.iter().map(|q| q.deadline).min();
            tokio::select! {
                out = &mut fut => return Some(out),
                cmd = self.cmds.recv() => self.command(cmd, None),
                _ = sleep_until(deadline) => {}
            }
        }
    }

    fn expire_queued(&mut self) {
        let t = now();
        let mut i = 0;
        while i < self.queued.len() {
            if self.queued[i].deadline <= t || self.queued[i].reply.is_closed() {
                if let Some(q) = self.queued.remove(i) {
                    let _ = q
                        .reply
                        .send(Err(Error::Action(ActionError::TimedOut { sent: false })));
                }
            } else {
                i += 1;
            }
        }
    }

    fn pending(&self) -> usize {
        self.waiting.len() + self.queued.len() + self.unsent.len()
    }

    /// A command from a client; `conn` is the live connection, if any.
    fn command(&mut self, cmd: Option<Command>, conn: Option<&mut Connection>) {
        match cmd {
            None => {
                self.cmds_open = false;
                self.begin_close(conn);
            }
            Some(Command::Close { reply }) => {
                self.closing.get_or_insert_with(Vec::new).push(reply);
                self.begin_close(conn);
            }
            Some(Command::Send {
                mut action,
                timeout,
                reply,
            }) => {
                if self.closing.is_some() {
                    let _ = reply.send(Err(Error::Closed));
                    return;
                }
                let id = action.ensure_action_id(&mut self.ids);
                if self.waiting.contains_key(&id)
                    || self
                        .queued
                        .iter()
                        .any(|q| q.action.action_id_value() == Some(id.as_str()))
                {
                    let _ = reply.send(Err(Error::Local(LocalError::DuplicateActionId(id))));
                    return;
                }
                if self.pending() >= self.cfg.max_pending {
                    let _ = reply.send(Err(Error::Local(LocalError::TooManyPending {
                        limit: self.cfg.max_pending,
                    })));
                    return;
                }
                let deadline = now() + timeout.unwrap_or(self.cfg.action_timeout);
                match conn {
                    Some(conn) => self.hand_over(conn, action, deadline, reply),
                    None => self.queued.push_back(Queued {
                        action,
                        deadline,
                        reply,
                    }),
                }
            }
        }
    }

    fn hand_over(
        &mut self,
        conn: &mut Connection,
        action: Action,
        deadline: Instant,
        reply: Reply,
    ) {
        let t = now();
        if deadline <= t {
            let _ = reply.send(Err(Error::Action(ActionError::TimedOut { sent: false })));
            return;
        }
        match conn.send_with_timeout(action.clone(), deadline - t, t) {
            Ok(id) => {
                self.waiting.insert(
                    id,
                    Waiter {
                        action,
                        deadline,
                        reply,
                    },
                );
            }
            Err(e) => {
                let _ = reply.send(Err(Error::Local(e)));
            }
        }
    }

    fn begin_close(&mut self, conn: Option<&mut Connection>) {
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

    fn conn_config(&mut self) -> ConnectionConfig {
        self.session += 1;
        let mut c = ConnectionConfig::new(self.cfg.credentials());
        c.events = self.mask.clone();
        c.action_timeout = self.cfg.action_timeout;
        c.login_timeout = self.cfg.login_timeout;
        c.keepalive = self.cfg.keepalive;
        c.pong_timeout = self.cfg.pong_timeout;
        c.max_pending = self.cfg.max_pending.saturating_add(self.filters.len() + 4);
        c.max_list_items = self.cfg.max_list_items;
        c.decoder = self.cfg.decoder.clone();
        // The connection's own actions (login, keepalive, replayed filters) get IDs of their
        // own, distinct from the client's and from earlier sessions'.
        let prefix = format!("{}s{}", self.ids.prefix(), self.session);
        c.action_ids = ActionIdGenerator::with_prefix(&prefix)
            .or_else(|_| ActionIdGenerator::with_prefix(format!("s{}", self.session)))
            .unwrap_or_default();
        c
    }

    async fn session(
        &mut self,
        io: Box<dyn Io>,
        first: &mut Option<oneshot::Sender<Result<String, Error>>>,
    ) -> End {
        let t = now();
        let mut conn = Connection::new(self.conn_config(), t);
        for f in self.filters.clone() {
            if let Err(e) = conn.send(f, t) {
                tracing::warn!(error = %e, "cannot replay a server-side filter");
            }
        }
        for q in std::mem::take(&mut self.queued) {
            if q.reply.is_closed() {
                continue;
            }
            self.hand_over(&mut conn, q.action, q.deadline, q.reply);
        }
        let (mut rd, mut wr) = tokio::io::split(io);
        let mut rbuf = vec![0u8; 64 * 1024];
        let mut wbuf: Vec<u8> = Vec::with_capacity(16 * 1024);
        let mut wpos = 0usize;
        let mut write_since: Option<Instant> = None;
        let mut io_error: Option<String> = None;
        let mut close_deadline: Option<Instant> = None;
        // TLS holds written bytes in its session until flushed.
        let mut need_flush = false;
        // A close seen while feeding a read in pieces.
        let mut closed: Option<CloseReason> = None;
        loop {
            if let Some(reason) = closed.take().or_else(|| self.drain(&mut conn, first)) {
                let reason_text = io_error.take().unwrap_or_else(|| describe(&reason));
                self.mask = match (&self.mask, conn.event_mask()) {
                    (None, EventMask::On) => None,
                    (_, m) => Some(m.clone()),
                };
                self.filters = conn.server_filters().to_vec();
                // A polite close (TLS close_notify), but never wait on a peer that stalls.
                let _ = tokio::time::timeout(Duration::from_secs(1), wr.shutdown()).await;
                if self.closing.is_some() || !self.cmds_open {
                    return End::Shutdown;
                }
                let retry = match &reason {
                    // The server refused the credentials: trying again will not help.
                    CloseReason::LoginFailed { message } => {
                        message == "connection closed during login"
                    }
                    // The user's own Logoff action.
                    CloseReason::Logoff => false,
                    _ => true,
                };
                return End::Lost {
                    reason: reason_text,
                    retry,
                };
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
                close_deadline = Some(now() + self.cfg.action_timeout.min(Duration::from_secs(5)));
            }
            let deadline = [
                conn.poll_timeout(),
                write_since.map(|t| t + self.cfg.write_timeout),
                close_deadline,
            ]
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
                                    io_error = Some("the decoder made no progress".into());
                                    conn.close();
                                    break;
                                }
                            } else {
                                stuck = false;
                            }
                            if let Some(reason) = self.drain(&mut conn, first) {
                                // Closed while draining: the rest is moot.
                                closed = Some(reason);
                                break;
                            }
                        }
                    }
                    Err(e) => {
                        io_error = Some(format!("read error: {e}"));
                        conn.close();
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
                        io_error = Some("the connection is closed for writing".into());
                        conn.close();
                    }
                    Ok(Some(n)) => {
                        wpos += n;
                        need_flush = true;
                        write_since = if wpos < wbuf.len() { Some(now()) } else { None };
                    }
                    Ok(None) => need_flush = false,
                    Err(e) => {
                        io_error = Some(format!("write error: {e}"));
                        conn.close();
                    }
                },
                cmd = self.cmds.recv(), if self.cmds_open => self.command(cmd, Some(&mut conn)),
                _ = sleep_until(deadline) => {
                    let t = now();
                    if write_since.is_some_and(|s| t >= s + self.cfg.write_timeout) {
                        io_error = Some(format!(
                            "the server has not read for {:?}",
                            self.cfg.write_timeout
                        ));
                        conn.close();
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
    fn drain(
        &mut self,
        conn: &mut Connection,
        first: &mut Option<oneshot::Sender<Result<String, Error>>>,
    ) -> Option<CloseReason> {
        let mut hub: Option<MutexGuard<'_, Hub>> = None;
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
                    if let Some((&last, rest)) = self.scratch.split_last() {
                        let owned = m.to_owned();
                        for &i in rest {
                            hub.subs[i].push(ClientEvent::Event(owned.clone()));
                        }
                        hub.subs[last].push(ClientEvent::Event(owned));
                    }
                }
                Output::Response(r) => {
                    if let Some(w) = self.waiting.remove(&r.id) {
                        let _ = w.reply.send(Ok(*r));
                    }
                }
                Output::Failed { id, error } => {
                    if let Some(w) = self.waiting.remove(&id) {
                        if error == (ActionError::Closed { sent: false }) {
                            self.unsent.push(w);
                        } else {
                            let _ = w.reply.send(Err(Error::Action(error)));
                        }
                    }
                }
                Output::Connected { banner } => {
                    tracing::debug!(%banner, "connected");
                }
                Output::LoggedIn => {
                    self.ever_up = true;
                    let banner = conn.banner().unwrap_or_default().to_owned();
                    tracing::info!(%banner, user = %self.cfg.username, "logged in");
                    let hub = hub.get_or_insert_with(|| lock_hub(&self.hub));
                    if let Some(f) = first.take() {
                        let _ = f.send(Ok(banner.clone()));
                    } else {
                        hub.broadcast(&ClientEvent::Reconnected {
                            banner: banner.clone(),
                        });
                    }
                    hub.status = Status::Connected { banner };
                }
                Output::Unmatched(m) => {
                    tracing::debug!(response = ?m.get_str("Response"), "answer for no pending action");
                }
                Output::DecodeError(e) => {
                    tracing::warn!(error = %e, "message dropped");
                }
                Output::Closed(reason) => {
                    let err = match &reason {
                        CloseReason::LoginFailed { message } => Some(Error::LoginFailed {
                            username: self.cfg.username.clone(),
                            message: message.clone(),
                        }),
                        CloseReason::LoginTimeout => {
                            Some(Error::LoginTimeout(self.cfg.login_timeout))
                        }
                        CloseReason::Protocol(e) => Some(Error::Protocol(e.clone())),
                        _ => None,
                    };
                    if let Some(err) = err {
                        if let Some(f) = first.take() {
                            let _ = f.send(Err(err));
                        }
                    }
                    return Some(reason);
                }
                _ => {}
            }
        }
        None
    }

    /// Actions never written to a broken connection go to the next one, with what is left of
    /// their deadlines.
    fn requeue_unsent(&mut self) {
        for w in std::mem::take(&mut self.unsent) {
            self.queued.push_back(Queued {
                action: w.action,
                deadline: w.deadline,
                reply: w.reply,
            });
        }
    }

    fn fail_unsent(&mut self) {
        for w in std::mem::take(&mut self.unsent) {
            let _ = w
                .reply
                .send(Err(Error::Action(ActionError::Closed { sent: false })));
        }
    }

    fn shutdown(&mut self, reason: String) {
        tracing::info!(%reason, "client closed");
        self.fail_unsent();
        for q in std::mem::take(&mut self.queued) {
            let _ = q
                .reply
                .send(Err(Error::Action(ActionError::Closed { sent: false })));
        }
        for (_, w) in self.waiting.drain() {
            let _ = w
                .reply
                .send(Err(Error::Action(ActionError::Closed { sent: false })));
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
