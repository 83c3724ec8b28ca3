//! The bridge: a sans-io state machine that plays the TCP socket for an unchanged
//! [`Connection`](crate::Connection) over AMI-over-HTTP. (Skeleton: the behaviour lands in a
//! later commit; see /tmp/ajam/CONTRACT.md.)

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{BodyLimits, Endpoint, HttpMethod, HttpRequest};
use crate::Secret;

/// Settings of a [`Bridge`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BridgeConfig {
    /// The endpoint (`/rawman`, `/asterisk/arawman`…).
    pub endpoint: Endpoint,
    /// The `Host` header of every request.
    pub host: String,
    /// GET (query string, the default) or POST (form body).
    pub method: HttpMethod,
    /// Digest credentials; `None`: taken from the Connection's plain `Login`.
    pub digest_credentials: Option<(String, Secret)>,
    /// Whether to run the WaitEvent long poll once logged in (default `true`).
    pub events: bool,
    /// The long poll's wanted length (default 30 s), capped by the session's lifetime.
    pub wait_event_timeout: Duration,
    /// Most actions waiting for their HTTP request (default 256).
    pub max_queued_requests: usize,
    /// Most AMI bytes held for the Connection (default 16 MiB).
    pub max_inbound_bytes: usize,
    /// Limits on response bodies.
    pub body: BodyLimits,
    /// The version in the synthetic banner (default `11.0.0`).
    pub banner_version: String,
    /// Seed of the Digest cnonce sequence (the transport passes randomness).
    pub cnonce_seed: u64,
}

impl BridgeConfig {
    /// Defaults for `endpoint` and `host`.
    pub fn new(endpoint: Endpoint, host: impl Into<String>) -> BridgeConfig {
        BridgeConfig {
            endpoint,
            host: host.into(),
            method: HttpMethod::Get,
            digest_credentials: None,
            events: true,
            wait_event_timeout: Duration::from_secs(30),
            max_queued_requests: 256,
            max_inbound_bytes: 16 * 1024 * 1024,
            body: BodyLimits::default(),
            banner_version: "11.0.0".to_owned(),
            cnonce_seed: 0,
        }
    }
}

/// What a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// An action of the Connection (issue these one at a time, on one HTTP connection).
    Action,
    /// The WaitEvent long poll (issue it on a second HTTP connection).
    WaitEvent,
}

/// Names an HTTP request handed out by [`Bridge::poll_request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestId {
    n: u64,
    kind: RequestKind,
}

impl RequestId {
    /// What the request is for.
    pub fn kind(&self) -> RequestKind {
        self.kind
    }
}

/// The transport's misuse of the bridge.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// [`BridgeConfig::max_queued_requests`] actions already wait for their request.
    #[error("{limit} actions already wait for their HTTP request")]
    QueueFull {
        /// The limit.
        limit: usize,
    },
    /// The bridge's "socket" is closed (EOF reported); [`Bridge::reset`] starts a new one.
    #[error("the HTTP session is closed")]
    Closed,
    /// No request with this id is in flight.
    #[error("no HTTP request in flight with this id")]
    UnknownRequest,
}

/// Plays the TCP socket of a [`Connection`](crate::Connection) over AMI-over-HTTP.
#[derive(Debug)]
pub struct Bridge {
    cfg: BridgeConfig,
    inbound: VecDeque<u8>,
    eof: bool,
}

impl Bridge {
    /// A bridge whose first inbound bytes are the synthetic banner.
    pub fn new(cfg: BridgeConfig, now: Instant) -> Bridge {
        let _ = now;
        let mut b = Bridge {
            cfg,
            inbound: VecDeque::new(),
            eof: false,
        };
        let banner = format!("Asterisk Call Manager/{}\r\n", b.cfg.banner_version);
        b.inbound.extend(banner.as_bytes());
        b
    }

    /// Appends the AMI bytes waiting for [`Connection::receive`](crate::Connection::receive)
    /// to `buf`; returns how many.
    pub fn poll_receive(&mut self, buf: &mut Vec<u8>) -> usize {
        let n = self.inbound.len();
        buf.extend(self.inbound.drain(..));
        n
    }

    /// Whether the "socket" is closed and every inbound byte was taken: then call
    /// [`Connection::receive_eof`](crate::Connection::receive_eof).
    pub fn is_eof(&self) -> bool {
        self.eof && self.inbound.is_empty()
    }

    /// Takes the bytes [`Connection::poll_transmit`](crate::Connection::poll_transmit) wrote.
    pub fn transmit(&mut self, bytes: &[u8], now: Instant) -> Result<(), BridgeError> {
        let _ = (bytes, now);
        Err(BridgeError::Closed)
    }

    /// The next HTTP request to issue.
    #[must_use]
    pub fn poll_request(&mut self, now: Instant) -> Option<(RequestId, HttpRequest)> {
        let _ = now;
        None
    }

    /// The answer to request `id`.
    pub fn on_response(
        &mut self,
        id: RequestId,
        status: u16,
        headers: &[(&str, &[u8])],
        body: &[u8],
        now: Instant,
    ) -> Result<(), BridgeError> {
        let _ = (id, status, headers, body, now);
        Err(BridgeError::UnknownRequest)
    }

    /// Request `id` failed at the HTTP or network level: the bridge reports EOF.
    pub fn on_failure(&mut self, id: RequestId, now: Instant) {
        let _ = (id, now);
        self.eof = true;
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Time passed: an expired session ends as EOF.
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
    }

    /// A new "socket" after [`Connection::reconnect`](crate::Connection::reconnect): fresh
    /// session state and a new banner.
    pub fn reset(&mut self, now: Instant) {
        *self = Bridge::new(self.cfg.clone(), now);
    }

    /// When the HTTP session expires unless used.
    pub fn session_expires_at(&self) -> Option<Instant> {
        None
    }
}
