//! Settings of a [`Client`](crate::Client).

use std::path::PathBuf;
use std::time::Duration;

use amiwire::connection::{Credentials, EventMask};
use amiwire::{ActionIdGenerator, DecoderConfig};

/// Where and how to connect, log in, and what to do when the connection breaks.
///
/// ```
/// use std::time::Duration;
/// use amiwire_tokio::{ClientConfig, EventMask, Reconnect};
///
/// let mut cfg = ClientConfig::new("pbx.example.com", 5038, "admin", "amp111");
/// cfg.md5 = true; // Challenge/Login with a key: the secret never crosses the wire
/// cfg.events = Some(EventMask::parse("call,user"));
/// cfg.reconnect = Some(Reconnect::default());
/// cfg.keepalive = Some(Duration::from_secs(20));
/// assert_eq!(cfg.addr(), "pbx.example.com:5038");
/// assert!(!format!("{cfg:?}").contains("amp111"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Host name or address of the Asterisk server.
    pub host: String,
    /// AMI port (5038; 5039 is the usual TLS port).
    pub port: u16,
    /// The manager.conf user.
    pub username: String,
    /// Its secret (never printed by `Debug`).
    pub secret: amiwire::connection::Secret,
    /// Log in with the MD5 challenge instead of the secret in clear text (default: false).
    pub md5: bool,
    /// Connect over TLS (`tls = yes` in manager.conf's `[general]`).
    pub tls: Option<TlsConfig>,
    /// The `Events:` mask of the Login: `None` sends none, and Asterisk then delivers every class
    /// the user may read. `Some(EventMask::Off)` for a connection used only for actions.
    pub events: Option<EventMask>,
    /// How long the TCP (and TLS) connection may take (default 10 s).
    pub connect_timeout: Duration,
    /// How long the banner and the login may take (default 10 s).
    pub login_timeout: Duration,
    /// How long an action may wait for its whole result, list or OriginateResponse included
    /// (default 30 s); [`Client::send_with_timeout`](crate::Client::send_with_timeout)
    /// overrides it per action.
    pub action_timeout: Duration,
    /// Send a Ping at this interval once logged in (default: off); a Ping unanswered within
    /// [`pong_timeout`](Self::pong_timeout) ends the connection.
    pub keepalive: Option<Duration>,
    /// See [`keepalive`](Self::keepalive) (default 10 s).
    pub pong_timeout: Duration,
    /// A write that makes no progress for this long ends the connection: the server is not
    /// reading (default 30 s).
    pub write_timeout: Duration,
    /// Reconnect after the connection breaks (default: off). The first connection is never
    /// retried: [`Client::connect`](crate::Client::connect) reports its failure.
    pub reconnect: Option<Reconnect>,
    /// Most events waiting in one subscriber's queue (default 10,000).
    pub subscriber_capacity: usize,
    /// What happens to a subscriber whose queue is full (default: drop its oldest events and
    /// say how many with [`ClientEvent::Lagged`](crate::ClientEvent::Lagged)).
    pub overflow: Overflow,
    /// Most actions waiting for a result, queued while reconnecting included (default 1,024).
    pub max_pending: usize,
    /// Most items collected for one event list (default 100,000).
    pub max_list_items: usize,
    /// Limits of the decoder.
    pub decoder: DecoderConfig,
    /// Where ActionIDs come from (a random prefix plus a counter by default).
    pub action_ids: ActionIdGenerator,
}

impl ClientConfig {
    /// Defaults for `username`/`secret` at `host:port`, plain TCP, plain login.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        username: impl Into<String>,
        secret: impl Into<String>,
    ) -> ClientConfig {
        ClientConfig {
            host: host.into(),
            port,
            username: username.into(),
            secret: amiwire::connection::Secret::new(secret),
            md5: false,
            tls: None,
            events: None,
            connect_timeout: Duration::from_secs(10),
            login_timeout: Duration::from_secs(10),
            action_timeout: Duration::from_secs(30),
            keepalive: None,
            pong_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            reconnect: None,
            subscriber_capacity: 10_000,
            overflow: Overflow::DropOldest,
            max_pending: 1024,
            max_list_items: 100_000,
            decoder: DecoderConfig::default(),
            action_ids: ActionIdGenerator::new(),
        }
    }

    /// `host:port`, as connected to.
    pub fn addr(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub(crate) fn credentials(&self) -> Credentials {
        let (u, s) = (self.username.clone(), self.secret.expose().to_owned());
        if self.md5 {
            Credentials::md5(u, s)
        } else {
            Credentials::plain(u, s)
        }
    }
}

/// TLS settings. The server's certificate is always verified, and so is its name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsConfig {
    /// The certificate authorities to trust.
    pub roots: Roots,
    /// The name the certificate must carry; the host connected to when `None`. Set it when
    /// connecting by IP address to a server whose certificate names its host name.
    pub server_name: Option<String>,
}

impl TlsConfig {
    /// Trust the system's certificate authorities.
    pub fn system() -> TlsConfig {
        TlsConfig::default()
    }

    /// Trust the certificate authorities in this PEM file (a private CA, a self-signed
    /// server certificate).
    pub fn ca_file(path: impl Into<PathBuf>) -> TlsConfig {
        TlsConfig {
            roots: Roots::PemFile(path.into()),
            server_name: None,
        }
    }

    /// Trust the certificate authorities in these PEM bytes.
    pub fn ca_pem(pem: impl Into<Vec<u8>>) -> TlsConfig {
        TlsConfig {
            roots: Roots::Pem(pem.into()),
            server_name: None,
        }
    }
}

/// The certificate authorities a TLS connection trusts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Roots {
    /// The operating system's store.
    #[default]
    System,
    /// The certificates of a PEM file.
    PemFile(PathBuf),
    /// The certificates of PEM text.
    Pem(Vec<u8>),
}

/// Reconnection with exponential backoff and jitter.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Reconnect {
    /// The first wait (default 250 ms).
    pub initial: Duration,
    /// The longest wait (default 30 s).
    pub max: Duration,
    /// Each failed attempt multiplies the wait by this (default 2).
    pub multiplier: f64,
    /// Each wait is shortened by a random fraction up to this (0 to 1, default 0.5), so that
    /// many clients do not reconnect in step.
    pub jitter: f64,
    /// Give up after this many failed attempts in a row (default: never).
    pub max_attempts: Option<u32>,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.5,
            max_attempts: None,
        }
    }
}

impl Reconnect {
    /// The wait before attempt `attempt` (0 for the first), given a random number in [0, 1).
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let base = self.initial.as_secs_f64()
            * self
                .multiplier
                .max(1.0)
                .powi(attempt.min(64).try_into().unwrap_or(64));
        let capped = base.min(self.max.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0) * random.clamp(0.0, 1.0);
        Duration::from_secs_f64((capped * (1.0 - jitter)).max(0.0))
    }
}

/// What happens to a subscriber whose queue is full. The socket is never left unread for a
/// slow subscriber (Asterisk disconnects a client that does not read for 100 ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// Drop the oldest queued events; the subscriber then receives
    /// [`ClientEvent::Lagged`](crate::ClientEvent::Lagged) with the number dropped.
    DropOldest,
    /// End the subscription: the subscriber receives what was queued, then
    /// [`ClientEvent::Overflowed`](crate::ClientEvent::Overflowed), then the end of the stream.
    Close,
}
