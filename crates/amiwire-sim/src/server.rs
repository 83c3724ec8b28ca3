//! The TCP server: one task per connection, driving a [`Session`](crate::session::Session).

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
use crate::session::{Identity, Session, Shared, SimEvent, Then};

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
        }
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct Simulator {
    addr: SocketAddr,
    events: broadcast::Sender<SimEvent>,
    shutdown: watch::Sender<bool>,
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
        shared.fixed_challenge = config.challenge.clone();
        shared.dialplan = Arc::new(config.dialplan.clone());
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
        let (events, _) = broadcast::channel(4096);
        let (shutdown, _) = watch::channel(false);
        let conn = ConnCfg {
            auth_timeout: config.auth_timeout,
            write_timeout: config.write_timeout,
            banner: format!("Asterisk Call Manager/{}\r\n", config.identity.ami_version),
        };
        let task = tokio::spawn(accept_loop(
            listener,
            shared,
            events.clone(),
            shutdown.subscribe(),
            conn,
        ));
        Ok(Simulator {
            addr,
            events,
            shutdown,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Raises an event, delivered to every logged-in session whose mask and filters pass it.
    pub fn raise(&self, event: SimEvent) {
        let _ = self.events.send(event);
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
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    events: broadcast::Sender<SimEvent>,
    mut shutdown: watch::Receiver<bool>,
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

/// Writes `bytes` within the write timeout; `false` when the client did not absorb them.
async fn write(stream: &mut TcpStream, bytes: &[u8], timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, stream.write_all(bytes)).await,
        Ok(Ok(()))
    )
}

async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    events: broadcast::Sender<SimEvent>,
    mut shutdown: watch::Receiver<bool>,
    conn: ConnCfg,
) {
    let mut rx = events.subscribe();
    let local = stream.local_addr().unwrap_or(peer);
    let mut session = Session::new(shared, peer, local);
    if !write(&mut stream, conn.banner.as_bytes(), conn.write_timeout).await {
        return;
    }
    // Asterisk's input limits: a 1025-byte line buffer (1024 with the CRLF) and 128 lines.
    let mut dcfg = DecoderConfig::without_banner();
    dcfg.max_line_len = 1022;
    dcfg.max_headers = 128;
    dcfg.max_message_len = 128 * 1024;
    dcfg.max_buffered = 256 * 1024;
    let mut dec = Decoder::with_config(dcfg);
    let mut buf = vec![0u8; 8192];
    let auth_deadline = tokio::time::Instant::now() + conn.auth_timeout;
    loop {
        tokio::select! {
            r = stream.read(&mut buf) => {
                let n = match r {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let mut rest = &buf[..n];
                while !rest.is_empty() {
                    let k = dec.feed(rest);
                    rest = &rest[k..];
                    // One action at a time, each run to completion before the next is read,
                    // as Asterisk's session thread does.
                    loop {
                        let reply = match dec.decode() {
                            Ok(None) => break,
                            Ok(Some(Frame::Message(m))) => session.handle(&m),
                            Ok(Some(Frame::Banner(_))) => continue,
                            Err(e) => crate::session::parse_error_reply(e),
                        };
                        if !run_reply(reply, &mut stream, &session, &events, &conn).await {
                            return;
                        }
                    }
                }
            }
            ev = rx.recv() => {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if session.user().is_none() {
                    continue;
                }
                let mut d = Decoder::with_config(DecoderConfig::without_banner());
                let _ = d.feed(&ev.text);
                let wanted = match d.decode() {
                    Ok(Some(Frame::Message(m))) => session.wants(&ev, &m),
                    _ => false,
                };
                if wanted && !write(&mut stream, &ev.text, conn.write_timeout).await {
                    return;
                }
            }
            _ = tokio::time::sleep_until(auth_deadline), if session.user().is_none() => {
                let _ = stream.shutdown().await;
                return;
            }
            _ = shutdown.changed() => {
                let _ = stream.shutdown().await;
                return;
            }
        }
    }
}

/// Carries out one reply: waits, starts a call (and for a synchronous Originate waits for its
/// answer), writes, raises events. `false` when the connection is to end.
async fn run_reply(
    mut reply: crate::session::Reply,
    stream: &mut TcpStream,
    session: &Session,
    events: &broadcast::Sender<SimEvent>,
    conn: &ConnCfg,
) -> bool {
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    if let Some(req) = reply.originate.take() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sync = !req.asynchronous;
        let id = req.action_id.clone();
        let limit = req.timeout + Duration::from_secs(1);
        let shared = session.shared();
        tokio::spawn(crate::call::run(
            req,
            shared.dialplan.clone(),
            shared.counters.clone(),
            shared.channels.clone(),
            shared.epoch(),
            events.clone(),
            tx,
        ));
        if sync {
            // Asterisk blocks the session until the call is answered.
            let ok = matches!(tokio::time::timeout(limit, rx).await, Ok(Ok(true)));
            reply.bytes = crate::session::originate_reply(id.as_deref(), ok);
        }
    }
    if !write(stream, &reply.bytes, conn.write_timeout).await {
        return false;
    }
    for e in reply.events {
        let _ = events.send(e);
    }
    if reply.then == Then::Close {
        let _ = stream.shutdown().await;
        return false;
    }
    true
}
