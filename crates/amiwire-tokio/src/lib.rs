//! # amiwire-tokio: an Asterisk Manager Interface client for tokio
//!
//! A thin transport over amiwire's sans-io [`Connection`](amiwire::Connection): one task owns
//! the socket (TCP, or TLS with rustls), logs in (plain or MD5 challenge), and never stops
//! reading it (over HTTP, the socket is played with HTTP requests). Actions are futures that
//! resolve with their whole result (an event list's items, Command output, an async
//! Originate's OriginateResponse); events go to any number of subscribers, each with its own
//! filter and bounded queue.
//!
//! ```text
//!  Client::send(action) ──▶ ┌──────────── task ────────────┐ ──▶ socket (TCP / TLS)
//!  Client::events(filter)   │ Connection (sans-io core)    │
//!     ◀── EventStream ◀──── │ subscribers: filter + queue  │ ◀── socket
//!                           └──────────────────────────────┘
//! ```
//!
//! Against amiwire's simulator (a real Asterisk would do the same): log in, watch the call
//! events of a click-to-call, and place it with an async Originate.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use amiwire::action::Originate;
//! use amiwire::filter::Filter;
//! use amiwire_tokio::{Client, ClientConfig};
//!
//! let sim = amiwire_sim::server::Simulator::start(Default::default()).await.unwrap();
//! let cfg = ClientConfig::new("127.0.0.1", sim.addr().port(), "admin", "amp111");
//! let client = Client::connect(cfg).await?;
//!
//! let mut hangups = client.events(Filter::event("Hangup"));
//! let call = Originate::to_exten("Local/110@test", "test", "s", 1)
//!     .asynchronous(true)
//!     .build();
//! let result = client.send(call).await?;
//! assert!(result.is_success()); // the call was placed: OriginateResponse said Success
//! let reason = result.originate.as_ref().and_then(|m| m.get_str("Reason"));
//! assert_eq!(reason, Some("4")); // answered
//!
//! let hangup = hangups.next_event().await.unwrap();
//! assert!(hangup.get_str("Channel").unwrap().starts_with("Local/110@test-"));
//!
//! client.close().await; // Logoff, Goodbye
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! ## Behaviour
//! - **Actions:** [`Client::send`] resolves with the [`Response`] (whatever the server
//!   answered, `Response: Error` included: see [`Response::is_success`]) or an [`Error`] that
//!   says whether the action was written ([`Error::outcome_unknown`]). Every action has a
//!   deadline ([`ConnectionConfig::action_timeout`](amiwire::ConnectionConfig::action_timeout), or [`Client::send_with_timeout`]).
//! - **Events:** [`Client::events`] subscribes with a client-side
//!   [`Filter`] (structured, manager.conf syntax, or both). Queues
//!   are bounded ([`ClientConfig::subscriber_capacity`]); a slow subscriber loses its oldest
//!   events and is told how many ([`ClientEvent::Lagged`]), or is ended
//!   ([`Overflow::Close`]), never silently. [`Client::add_server_filter`] asks the server to
//!   filter instead.
//! - **Reconnect** ([`ClientConfig::reconnect`]): exponential backoff with jitter, a new login,
//!   the event mask and server-side filters of the old session applied again, by the core
//!   ([`Connection::reconnect`](amiwire::Connection::reconnect)): the task keeps no protocol
//!   state of its own. Subscribers see [`ClientEvent::Disconnected`] (with a typed
//!   [`Disconnect`] reason) and [`ClientEvent::Reconnected`]. An action that was written
//!   before the connection broke fails with `sent: true` and is never sent again by the client;
//!   one that was never written waits for the next connection (within its deadline), unless it
//!   was sent with [`Client::send_now`], which refuses at once ([`Error::NotConnected`]) while
//!   no session is logged in, for actions that must not be carried out late. A new
//!   login the server refuses ends the client ([`Status::Closed`]).
//! - **Timeouts** everywhere a server can stall: connect, login, each action, keepalive Ping
//!   ([`ConnectionConfig::keepalive`](amiwire::ConnectionConfig::keepalive)), writes the server does not read.
//! - **Close:** [`Client::close`] logs off; dropping every `Client` handle does the same.
//! - Logs go to `tracing`; the secret never appears in them, nor in errors or `Debug`.
//!
//! ## AMI over HTTP (AJAM)
//!
//! [`ClientConfig::from_url`] talks to Asterisk's HTTP manager (`webenabled = yes` in
//! manager.conf, `enabled = yes` in http.conf) instead of the AMI port, with the same
//! [`Client`]: actions and their whole results, event streams, async Originate, reconnect
//! with its markers, timeouts. The core's [`Bridge`](amiwire::ajam::Bridge) plays the
//! socket for the same [`Connection`](amiwire::Connection): each action becomes one HTTP
//! request on a keep-alive connection (hyper), in order; events come from `WaitEvent` long
//! polls on a second connection (not made when the event mask is
//! [`EventMask::Off`]); the cookie session (or HTTP Digest) is kept by the bridge. A session
//! that ends (expired, forgotten by a restarted server, a request lost) ends like a broken
//! socket, with the reason, and [`ClientConfig::reconnect`] logs in again with the old
//! session's event mask and filters. Timeouts and limits: [`HttpConfig`].
//!
//! | path | answers | login |
//! | --- | --- | --- |
//! | `/rawman` | AMI text | Login action (plain or MD5), then the `mansession_id` cookie |
//! | `/mxml` | XML, decoded into the same messages | the same |
//! | `/manager` | HTML, decoded best-effort | the same |
//! | `/arawman`, `/amxml`, `/amanager` | as above | HTTP Digest on every request (stale nonces renewed) |
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use amiwire::filter::Filter;
//! use amiwire::Action;
//! use amiwire_tokio::{Client, ClientConfig, Reconnect};
//!
//! let mut cfg = ClientConfig::from_url("https://pbx.example.com:8089/arawman", "admin", "amp111")?;
//! cfg.reconnect = Some(Reconnect::default());
//! let client = Client::connect(cfg).await?;
//! let mut hangups = client.events(Filter::event("Hangup")); // fed by WaitEvent polls
//! let version = client.send(Action::command("core show version")).await?;
//! println!("{:?}", version.output());
//! while let Some(hangup) = hangups.next_event().await {
//!     println!("{:?} hung up", hangup.get_str("Channel"));
//! }
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod driver;
mod error;
mod events;
mod http;
mod transport;

use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use amiwire;
use amiwire::{Action, Filter, ManagerFilter};
pub use amiwire::{ActionError, CloseReason, Credentials, EventMask, Response};
use tokio::sync::{mpsc, oneshot};

pub use config::{ClientConfig, HttpConfig, Overflow, Reconnect, Roots, TlsConfig, UrlError};
pub use driver::{Disconnect, Status};
pub use error::Error;
pub use events::{ClientEvent, EventStream};

use driver::{lock_hub, Command, Driver, Hub};

/// A handle to one AMI session (and its successors after reconnects). Cheap to clone; the
/// session is logged off when the last handle is dropped or [`close`](Client::close)d.
#[derive(Debug, Clone)]
pub struct Client {
    cmds: mpsc::Sender<Command>,
    hub: Arc<Mutex<Hub>>,
    capacity: usize,
    overflow: Overflow,
}

impl Client {
    /// Connects, logs in, and returns once the login succeeded (the banner is in
    /// [`status`](Self::status)). Fails with the reason: [`Error::Connect`] (refused,
    /// unreachable), [`Error::ConnectTimeout`], [`Error::Tls`], [`Error::LoginFailed`],
    /// [`Error::LoginTimeout`]. The first connection is not retried, even with
    /// [`ClientConfig::reconnect`].
    ///
    /// Must be called within a tokio runtime (the connection runs in a spawned task).
    pub async fn connect(config: ClientConfig) -> Result<Client, Error> {
        let (tx, rx) = mpsc::channel(256);
        let hub = Arc::new(Mutex::new(Hub {
            subs: Vec::new(),
            status: Status::Connecting,
        }));
        let (first_tx, first_rx) = oneshot::channel();
        let client = Client {
            cmds: tx,
            hub: hub.clone(),
            capacity: config.subscriber_capacity,
            overflow: config.overflow,
        };
        tokio::spawn(Driver::new(config, hub, rx).run(first_tx));
        match first_rx.await {
            Ok(Ok(_banner)) => Ok(client),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Closed),
        }
    }

    /// Sends an action and waits for its whole result, within
    /// [`ConnectionConfig::action_timeout`](amiwire::ConnectionConfig::action_timeout).
    ///
    /// An action with an [`error`](Action::error) fails at once with
    /// `Error::Local(LocalError::Encode(..))`. An action without an ActionID gets a unique one.
    /// The result may be `Response: Error` (check [`Response::is_success`] and
    /// [`Response::text`]). Dropping the future does not
    /// withdraw an action already written; prefer [`send_with_timeout`](Self::send_with_timeout)
    /// to wrapping it in a timeout.
    pub async fn send(&self, action: Action) -> Result<Response, Error> {
        self.submit(action, None).await
    }

    /// [`send`](Self::send) with this action's own deadline (a long Command, a sync Originate).
    pub async fn send_with_timeout(
        &self,
        action: Action,
        timeout: Duration,
    ) -> Result<Response, Error> {
        self.submit(action, Some(timeout)).await
    }

    /// [`send_with_timeout`](Self::send_with_timeout), but only if a session is logged in
    /// now: while the client is reconnecting (or before the first login) the action fails at
    /// once with [`Error::NotConnected`] instead of waiting for the next session, so it is
    /// never written later. The check is made by the connection task when it takes the
    /// action; once taken, the action is handled as [`send`](Self::send) handles it. For
    /// actions that must not be carried out late (an Originate a web caller waits for).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use amiwire_tokio::{amiwire::Action, Client, ClientConfig, Error};
    ///
    /// let sim = amiwire_sim::server::Simulator::start(Default::default()).await.unwrap();
    /// let mut cfg = ClientConfig::new("127.0.0.1", sim.addr().port(), "admin", "amp111");
    /// cfg.reconnect = Some(Default::default());
    /// let client = Client::connect(cfg).await?;
    /// let pong = client.send_now(Action::ping(), Duration::from_secs(5)).await?;
    /// assert!(pong.is_success());
    ///
    /// sim.stop().await; // the link goes down; the client tries to reconnect
    /// while client.is_connected() {
    ///     tokio::time::sleep(Duration::from_millis(10)).await;
    /// }
    /// let refused = client.send_now(Action::ping(), Duration::from_secs(5)).await;
    /// assert!(matches!(refused, Err(Error::NotConnected)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn send_now(&self, action: Action, timeout: Duration) -> Result<Response, Error> {
        self.submit_with(action, Some(timeout), false).await
    }

    async fn submit(&self, action: Action, timeout: Option<Duration>) -> Result<Response, Error> {
        self.submit_with(action, timeout, true).await
    }

    async fn submit_with(
        &self,
        action: Action,
        timeout: Option<Duration>,
        queue: bool,
    ) -> Result<Response, Error> {
        // An action with an error fails here, before it waits for a connection.
        action
            .validate()
            .map_err(|e| Error::Local(amiwire::connection::LocalError::Encode(e)))?;
        let (reply, rx) = oneshot::channel();
        self.cmds
            .send(Command::Send {
                action,
                timeout,
                reply,
                queue,
            })
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Subscribes to the events that pass `filter`, evaluated here on the client: a [`Filter`]
    /// (structured, manager.conf syntax, or both composed; [`Filter::all`] for every event), a
    /// [`FilterSet`](amiwire::filter::FilterSet) or a [`ManagerFilter`] (Asterisk's
    /// include-then-exclude semantics). The stream starts with the link's state
    /// ([`ClientEvent::Connected`] or [`ClientEvent::Disconnected`]) and ends when the client
    /// is closed.
    pub fn events(&self, filter: impl Into<Filter>) -> EventStream {
        self.events_with(filter, self.capacity, self.overflow)
    }

    /// [`events`](Self::events) with this subscription's own queue capacity and overflow
    /// policy (instead of [`ClientConfig::subscriber_capacity`] and
    /// [`ClientConfig::overflow`]).
    pub fn events_with(
        &self,
        filter: impl Into<Filter>,
        capacity: usize,
        overflow: Overflow,
    ) -> EventStream {
        let sub = Arc::new(events::Subscriber::new(filter.into(), capacity, overflow));
        let mut hub = lock_hub(&self.hub);
        match &hub.status {
            Status::Connected { banner } => sub.push(ClientEvent::Connected {
                banner: banner.clone(),
            }),
            Status::Reconnecting { reason } => sub.push(ClientEvent::Disconnected {
                reason: reason.clone(),
            }),
            Status::Connecting => {}
            Status::Closed { .. } => sub.close(),
        }
        if !sub.is_closed() {
            hub.subs.push(sub.clone());
        }
        EventStream { sub }
    }

    /// Adds a server-side filter (the `Filter` action; the user needs `system` write): the
    /// server then sends this session only what passes its filters. Kept and applied again
    /// after a reconnect. An `Err` or a `Response: Error` means it was not added.
    pub async fn add_server_filter(&self, filter: &ManagerFilter) -> Result<Response, Error> {
        self.send(filter.to_action()).await
    }

    /// Changes the session's event mask (the `Events` action); kept and applied again after a
    /// reconnect.
    pub async fn set_event_mask(&self, mask: &EventMask) -> Result<Response, Error> {
        self.send(Action::events(&mask.to_header_value())).await
    }

    /// The link's state now.
    pub fn status(&self) -> Status {
        lock_hub(&self.hub).status.clone()
    }

    /// Whether a session is logged in now.
    pub fn is_connected(&self) -> bool {
        matches!(self.status(), Status::Connected { .. })
    }

    /// Logs off and waits until the session is over (at most a few seconds); pending actions
    /// resolve, subscriptions end. Other clones of this handle are closed too.
    pub async fn close(self) {
        let (reply, rx) = oneshot::channel();
        if self.cmds.send(Command::Close { reply }).await.is_ok() {
            let _ = rx.await;
        }
    }
}
