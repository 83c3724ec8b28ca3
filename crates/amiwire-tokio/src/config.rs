//! Settings of a [`Client`](crate::Client).

use std::path::PathBuf;
use std::time::Duration;

use amiwire::ajam::{Endpoint, EndpointError, HttpMethod};
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
    /// Connect over TLS (`tls = yes` in manager.conf's `[general]`; for AMI over HTTP, an
    /// `https` URL: `tlsenable = yes` in http.conf).
    pub tls: Option<TlsConfig>,
    /// Speak AMI over HTTP (AJAM) instead of the AMI port: set by
    /// [`from_url`](Self::from_url). `None`: the TCP AMI port.
    pub http: Option<HttpConfig>,
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
            http: None,
            connection: ConnectionConfig::new(credentials),
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            reconnect: None,
            subscriber_capacity: 10_000,
            overflow: Overflow::DropOldest,
        }
    }

    /// AMI over HTTP at `url` (`http://host:8088/rawman`, `https://host:8089/arawman`…), as
    /// `username` with a plain login (see [`HttpConfig`] for what each path does).
    ///
    /// ```
    /// use amiwire::ajam::{Flavour, HttpAuth};
    /// use amiwire_tokio::{ClientConfig, UrlError};
    ///
    /// let cfg = ClientConfig::from_url("http://pbx.example.com:8088/arawman", "admin", "amp111")?;
    /// assert_eq!(cfg.addr(), "pbx.example.com:8088");
    /// let http = cfg.http.as_ref().unwrap();
    /// assert_eq!((http.endpoint.flavour(), http.endpoint.auth()), (Flavour::Rawman, HttpAuth::Digest));
    ///
    /// // https: TLS with the system's certificate authorities; the default port is 8089.
    /// let cfg = ClientConfig::from_url("https://pbx.example.com/asterisk/mxml", "admin", "amp111")?;
    /// assert_eq!((cfg.port, cfg.tls.is_some()), (8089, true));
    ///
    /// // A user or password in the URL is refused (and never repeated in the error).
    /// let e = ClientConfig::from_url("http://admin:amp111@pbx/rawman", "admin", "amp111").unwrap_err();
    /// assert_eq!(e, UrlError::UserInfo);
    /// assert!(!e.to_string().contains("amp111"));
    /// # Ok::<(), UrlError>(())
    /// ```
    pub fn from_url(
        url: &str,
        username: impl Into<String>,
        secret: impl Into<String>,
    ) -> Result<ClientConfig, UrlError> {
        ClientConfig::from_url_with_credentials(url, Credentials::plain(username, secret))
    }

    /// [`from_url`](Self::from_url) with these credentials (an [MD5](Credentials::md5) login
    /// works on the cookie paths; the Digest paths use the secret for HTTP Digest whatever
    /// the method).
    pub fn from_url_with_credentials(
        url: &str,
        credentials: Credentials,
    ) -> Result<ClientConfig, UrlError> {
        let u = parse_url(url)?;
        let mut cfg = ClientConfig::with_credentials(u.host, u.port, credentials);
        if u.https {
            cfg.tls = Some(TlsConfig::system());
        }
        cfg.http = Some(HttpConfig::new(u.endpoint));
        // The cookie session ends after httptimeout (60 s) without a request: a Ping
        // keeps it alive when no WaitEvent poll does (events off).
        cfg.connection.keepalive = Some(Duration::from_secs(20));
        Ok(cfg)
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
    /// Give up after this many failed attempts in a row (default: never). A session that
    /// ends sooner than `max` after it started counts as a failed attempt (the waits keep
    /// growing); one that lasted at least `max` starts the count again.
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

/// AMI over HTTP (AJAM, main/manager.c `generic_http_callback` and `auth_http_callback`):
/// each action is one HTTP request, events come through `WaitEvent` long polls on a second
/// HTTP connection. Needs `webenabled = yes` in manager.conf and `enabled = yes` in
/// http.conf.
///
/// The path picks the flavour, with http.conf's `prefix` in front when one is set
/// (`/asterisk/rawman`):
///
/// | path | answers | authentication |
/// | --- | --- | --- |
/// | `/rawman` | AMI text, as on the AMI port | the Login action, then the `mansession_id` cookie |
/// | `/mxml` | XML (`<ajax-response>`), decoded into the same messages | the Login action, then the cookie |
/// | `/manager` | an HTML page, decoded best-effort | the Login action, then the cookie |
/// | `/arawman`, `/amxml`, `/amanager` | as above | HTTP Digest (MD5, `qop=auth`) on every request; the Login is answered by the server without checking a secret |
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpConfig {
    /// The path, and so the flavour and the authentication.
    pub endpoint: Endpoint,
    /// POST with the action as a form body (the default: the Login's Secret never stands in
    /// a URL, where proxies and access logs keep it), or GET with the action in the query
    /// (Asterisk's own examples; for a proxy that only lets GET through).
    pub method: HttpMethod,
    /// Each action's HTTP request, its whole answer included, within this (default 90 s).
    /// Keep it longer than the longest action timeout in use (a synchronous Originate);
    /// when it passes, the HTTP connection is given up and the session ends like a broken
    /// socket (a reconnect follows, if configured).
    pub request_timeout: Duration,
    /// How long one `WaitEvent` long poll may wait for events (default 30 s; Asterisk caps
    /// it at the session's remaining life less 10 s). Its request may take this plus
    /// [`request_timeout`](Self::request_timeout).
    pub wait_event_timeout: Duration,
    /// Largest HTTP answer body accepted (default 16 MiB); a larger one ends the session.
    pub max_body: usize,
}

impl HttpConfig {
    /// Defaults for this endpoint.
    pub fn new(endpoint: Endpoint) -> HttpConfig {
        HttpConfig {
            endpoint,
            method: HttpMethod::Post,
            request_timeout: Duration::from_secs(90),
            wait_event_timeout: Duration::from_secs(30),
            max_body: 16 * 1024 * 1024,
        }
    }
}

/// Why a URL was refused. Never repeats a user or password the URL carried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not `http://` or `https://`.
    #[error("the URL must start with http:// or https://")]
    Scheme,
    /// Nothing between `//` and the path.
    #[error("the URL names no host")]
    NoHost,
    /// The port is not a number from 1 to 65535.
    #[error("the URL's port is not a number from 1 to 65535")]
    Port,
    /// `user:password@` in the URL: credentials are given apart, so that they stay out of
    /// shell histories, process lists and logs.
    #[error("the URL must not carry a user name or password (give them as the credentials)")]
    UserInfo,
    /// A query (`?…`) or fragment (`#…`): the client writes the query itself.
    #[error("the URL must not have a query or fragment")]
    Query,
    /// A space, control or non-ASCII character.
    #[error("the URL has a space, control or non-ASCII character")]
    Character,
    /// The path is not one of the manager's (`/rawman`, `/mxml`, `/manager`, `/arawman`,
    /// `/amxml`, `/amanager`, with an optional prefix).
    #[error("{0} (the path must end in rawman, mxml, manager, arawman, amxml or amanager)")]
    Endpoint(#[from] EndpointError),
}

struct Url {
    https: bool,
    host: String,
    port: u16,
    endpoint: Endpoint,
}

fn parse_url(url: &str) -> Result<Url, UrlError> {
    if url.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
        return Err(UrlError::Character);
    }
    let (https, rest) = match url.split_once("://") {
        Some((s, rest)) if s.eq_ignore_ascii_case("http") => (false, rest),
        Some((s, rest)) if s.eq_ignore_ascii_case("https") => (true, rest),
        _ => return Err(UrlError::Scheme),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    // Before the query check: `user@host?x` is refused for its user, not its query.
    if authority.contains('@') {
        return Err(UrlError::UserInfo);
    }
    if rest.contains(['?', '#']) {
        return Err(UrlError::Query);
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or(UrlError::NoHost)?;
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':').ok_or(UrlError::Port)?)),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    let port = match port {
        None => {
            if https {
                8089
            } else {
                8088
            }
        }
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(UrlError::Port),
        },
    };
    let endpoint = Endpoint::parse(path)?;
    Ok(Url {
        https,
        host: host.to_owned(),
        port,
        endpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use amiwire::ajam::{Flavour, HttpAuth};

    fn ok(url: &str) -> (bool, String, u16, String) {
        let u = parse_url(url).unwrap();
        (u.https, u.host, u.port, u.endpoint.path())
    }

    #[test]
    fn urls() {
        assert_eq!(
            ok("http://127.0.0.1:8088/rawman"),
            (false, "127.0.0.1".into(), 8088, "/rawman".into())
        );
        assert_eq!(
            ok("HTTPS://pbx.example.com/asterisk/amxml"),
            (
                true,
                "pbx.example.com".into(),
                8089,
                "/asterisk/amxml".into()
            )
        );
        assert_eq!(
            ok("http://[::1]:80/manager"),
            (false, "::1".into(), 80, "/manager".into())
        );
        assert_eq!(
            ok("http://[fe80::1]/arawman"),
            (false, "fe80::1".into(), 8088, "/arawman".into())
        );
        let e = parse_url("http://h/amanager").unwrap().endpoint;
        assert_eq!(
            (e.flavour(), e.auth()),
            (Flavour::Manager, HttpAuth::Digest)
        );
    }

    #[test]
    fn bad_urls() {
        let err = |u: &str| parse_url(u).err().unwrap();
        assert_eq!(err("ftp://h/rawman"), UrlError::Scheme);
        assert_eq!(err("h:8088/rawman"), UrlError::Scheme);
        assert_eq!(err("http:/h/rawman"), UrlError::Scheme);
        assert_eq!(err("http:///rawman"), UrlError::NoHost);
        assert_eq!(err("http://:8088/rawman"), UrlError::NoHost);
        assert_eq!(err("http://[::1/rawman"), UrlError::NoHost);
        assert_eq!(err("http://h:0/rawman"), UrlError::Port);
        assert_eq!(err("http://h:65536/rawman"), UrlError::Port);
        assert_eq!(err("http://h:+80/rawman"), UrlError::Port);
        assert_eq!(err("http://h:/rawman"), UrlError::Port);
        assert_eq!(err("http://[::1]x/rawman"), UrlError::Port);
        assert_eq!(err("http://h/rawman?action=Ping"), UrlError::Query);
        assert_eq!(err("http://h/rawman#x"), UrlError::Query);
        assert_eq!(err("http://h/raw man"), UrlError::Character);
        assert_eq!(err("http://h/rawman\r\nX: y"), UrlError::Character);
        assert_eq!(err("http://h/r\u{e9}wman"), UrlError::Character);
        assert!(matches!(err("http://h/"), UrlError::Endpoint(_)));
        assert!(matches!(err("http://h"), UrlError::Endpoint(_)));
        assert!(matches!(
            err("http://h/static/index.html"),
            UrlError::Endpoint(_)
        ));
        // Credentials in the URL: refused, and not repeated.
        for u in [
            "http://admin:s3cret@h/rawman",
            "http://admin@h/rawman",
            "http://a:s3cret@h/x?y",
        ] {
            let e = err(u);
            assert_eq!(e, UrlError::UserInfo, "{u}");
            assert!(!e.to_string().contains("s3cret"));
        }
    }
}
