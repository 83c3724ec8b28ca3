//! Settings of a [`Client`](crate::Client).

use std::path::PathBuf;
use std::time::Duration;

use amiwire::{ConnectionConfig, Credentials};

/// Where and how to connect, and what to do when the connection breaks; the AMI session's own
/// settings (credentials and login method, event mask, timeouts, limits) are the core's
/// [`ConnectionConfig`], in [`connection`](Self::connection).
///
/// ```
/// use std::time::Duration;
/// use amiwire::{Credentials, EventMask};
/// use amiwire_tokio::{ClientConfig, Reconnect};
///
/// // MD5 challenge login: the secret never crosses the wire.
/// let mut cfg = ClientConfig::with_credentials("pbx.example.com", 5038, Credentials::md5("admin", "amp111"));
/// cfg.connection.events = Some(EventMask::parse("call,user"));
/// cfg.connection.keepalive = Some(Duration::from_secs(20));
/// cfg.reconnect = Some(Reconnect::default());
/// assert_eq!(cfg.addr(), "pbx.example.com:5038");
/// assert_eq!(cfg.username(), "admin");
/// assert!(!format!("{cfg:?}").contains("amp111"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Host name or address of the Asterisk server.
    pub host: String,
    /// AMI port (5038; 5039 is the usual TLS port).
    pub port: u16,
    /// Connect over TLS (`tls = yes` in manager.conf's `[general]`).
    pub tls: Option<TlsConfig>,
    /// The AMI session: [`login`](ConnectionConfig::login) (user, secret, plain or MD5),
    /// [`events`](ConnectionConfig::events) (the Login's `Events:` mask; `None` sends none
    /// and Asterisk then delivers every class the user may read, `Some(EventMask::Off)` for a
    /// connection used only for actions), `login_timeout`, `action_timeout` (each action's
    /// whole result, list or OriginateResponse included; [`Client::send_with_timeout`]
    /// overrides it), `keepalive` and `pong_timeout`, `max_pending` (actions waiting for a
    /// result, those queued while reconnecting included), `max_queued_bytes`,
    /// `max_list_items`, the decoder's limits and the ActionID generator. Its
    /// [`resumable`](ConnectionConfig::resumable) is set by the client from
    /// [`reconnect`](Self::reconnect).
    ///
    /// [`Client::send_with_timeout`]: crate::Client::send_with_timeout
    pub connection: ConnectionConfig,
    /// How long the TCP (and TLS) connection may take (default 10 s).
    pub connect_timeout: Duration,
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
}

impl ClientConfig {
    /// Defaults for `username`/`secret` at `host:port`, plain TCP, plain login.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        username: impl Into<String>,
        secret: impl Into<String>,
    ) -> ClientConfig {
        ClientConfig::with_credentials(host, port, Credentials::plain(username, secret))
    }

    /// Defaults for these credentials (plain or [MD5](Credentials::md5)) at `host:port`, plain
    /// TCP.
    pub fn with_credentials(
        host: impl Into<String>,
        port: u16,
        credentials: Credentials,
    ) -> ClientConfig {
        ClientConfig {
            host: host.into(),
            port,
            tls: None,
            connection: ConnectionConfig::new(credentials),
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            reconnect: None,
            subscriber_capacity: 10_000,
            overflow: Overflow::DropOldest,
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

    /// The user the client logs in as (empty without [`login`](ConnectionConfig::login)).
    pub fn username(&self) -> &str {
        self.connection
            .login
            .as_ref()
            .map_or("", |c| c.username.as_str())
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
        // A NaN counts as 0 (no jitter), not as a wait of nothing.
        let unit = |x: f64| if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) };
        let jitter = unit(self.jitter) * unit(random);
        // Any setting (a huge `max`, a NaN) gives a wait, never a panic.
        Duration::try_from_secs_f64((capped * (1.0 - jitter)).max(0.0)).unwrap_or(self.max)
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
