//! The bridge: a sans-io state machine that plays the TCP socket for an unchanged
//! [`Connection`](crate::Connection), over AMI-over-HTTP.
//!
//! The [`Connection`](crate::Connection) keeps doing everything it does over TCP (login,
//! correlation, lists, timeouts, filters, reconnect state). The bridge sits where the socket
//! would be:
//!
//! ```text
//!                    poll_receive ──▶ Connection::receive        (banner, answers, events)
//!  ┌────────┐        is_eof       ──▶ Connection::receive_eof
//!  │ Bridge │ ◀── transmit        ◀── Connection::poll_transmit  (encoded actions)
//!  └────────┘ ──▶ poll_request    ──▶ your HTTP client           (one action at a time,
//!      ▲                                                          plus one WaitEvent)
//!      └──────── on_response / on_failure ◀── your HTTP client
//!                poll_timeout / handle_timeout (the session's expiry)
//! ```
//!
//! - **Banner.** A new bridge first yields `Asterisk Call Manager/<banner_version>\r\n`
//!   (default `11.0.0`, the AMI version Asterisk 16 to 22 announce over TCP; the recorded
//!   Asterisk 22.10.1 sends exactly that). HTTP has no banner, so the Connection gets this
//!   synthetic one; the server's real AMI version is in `CoreSettings` (`AMIversion`).
//! - **Actions.** Each action the Connection writes becomes one HTTP request, in order, one
//!   at a time ([`RequestKind::Action`]), with its ActionID (Asterisk echoes it over HTTP too).
//!   `/rawman` bodies go to the Connection as they are; `/mxml` and `/manager` bodies are
//!   decoded and re-encoded as AMI messages.
//! - **Events.** Once logged in, and while the session's event mask is not `off`, the bridge
//!   keeps one `WaitEvent` long poll in flight ([`RequestKind::WaitEvent`]: issue it on a
//!   second HTTP connection), with the timeout capped as Asterisk caps it
//!   ([`wait_event_timeout`](super::wait_event_timeout())); its ack and `WaitEventComplete`
//!   are dropped and its events passed on. The long poll pauses while more than
//!   [`BridgeConfig::max_inbound_bytes`] wait for the Connection. A `WaitEvent` the user
//!   sends while the long poll is on is answered with an error at once (Asterisk keeps one
//!   waiter per session: the two would keep ending each other).
//! - **Cookie endpoints** (`/rawman`, `/mxml`, `/manager`): the `mansession_id` cookie is kept
//!   and sent. The Login goes to Asterisk as it is (use POST, the default, so that the secret
//!   is not in a URL).
//! - **Digest endpoints** (`/arawman`…): a 401 is answered with the challenge (and the same
//!   request issued again; `stale=true` takes the new nonce and restarts `nc`). The
//!   credentials are [`BridgeConfig::digest_credentials`], or the Username and Secret of the
//!   Connection's plain Login. Asterisk authenticates each request by Digest and answers a
//!   `Login` action with `Already authenticated` whatever it holds, so the bridge sends the
//!   Login **without its Secret** (the secret never crosses the wire) and, if the Login asked
//!   for an event mask, an `Events` action after it (Asterisk ignores a Login's `Events` on
//!   an authenticated session). A wrong secret (a 401 without `stale` right after an answer)
//!   becomes `Response: Error` / `Message: Authentication failed` for the Login, then EOF:
//!   the Connection closes with [`CloseReason::LoginFailed`](crate::CloseReason::LoginFailed).
//!   An MD5-challenge Login ([`Credentials::md5`](crate::Credentials::md5)) cannot give the
//!   bridge a secret: set `digest_credentials`.
//! - **The end.** A network failure ([`on_failure`](Bridge::on_failure)), a cookie session
//!   that expired or was replaced (a new `mansession_id` in an answer), an HTTP status other
//!   than 200 (and 401 on Digest paths), a body that cannot be read, or a Logoff's Goodbye:
//!   the bridge reports EOF once the bytes before it are taken ([`is_eof`](Bridge::is_eof)),
//!   and says why ([`close_reason`](Bridge::close_reason)). No request is ever issued again
//!   for an action whose request was handed out: the Connection reports it lost
//!   ([`ActionError::Closed`](crate::ActionError::Closed)` { sent: true }`), as on TCP.
//!   Actions not yet issued are lost the same way (the Connection counts them as written).
//!   For the next session, call [`reset`](Bridge::reset), then
//!   [`Connection::reconnect`](crate::Connection::reconnect).
//!
//! A whole session, with the answers Asterisk 22 gave in recording 11a-http-rawman:
//!
//! ```
//! use std::time::Instant;
//! use amiwire::ajam::{Bridge, BridgeConfig, Endpoint, RequestKind};
//! use amiwire::{Action, ActionIdGenerator, Connection, ConnectionConfig, Credentials, Output};
//!
//! let now = Instant::now();
//! let mut cfg = ConnectionConfig::new(Credentials::plain("admin", "amp111"));
//! cfg.action_ids = ActionIdGenerator::with_prefix("t")?;
//! let mut conn = Connection::new(cfg, now);
//! let mut bcfg = BridgeConfig::new(Endpoint::parse("/rawman")?, "127.0.0.1:8088");
//! bcfg.events = false; // no WaitEvent long poll in this example
//! let mut bridge = Bridge::new(bcfg, now);
//! let ping = conn.send(Action::ping(), now)?;
//!
//! let cookie: &[(&str, &[u8])] = &[("Set-Cookie", b"mansession_id=\"8a100a0e\"; Version=1; Max-Age=60")];
//! let answers: [&[u8]; 2] = [
//!     b"Response: Success\r\nActionID: t-2\r\nMessage: Authentication accepted\r\n\r\n",
//!     b"Response: Success\r\nActionID: t-1\r\nPing: Pong\r\nTimestamp: 1795453707.378864\r\n\r\n",
//! ];
//! let (mut answers, mut seen, mut buf) = (answers.iter(), Vec::new(), Vec::new());
//! loop {
//!     buf.clear();
//!     let _ = bridge.poll_receive(&mut buf);
//!     let _ = conn.receive(&buf);
//!     while let Some(out) = conn.poll_output() {
//!         seen.push(format!("{out:?}"));
//!     }
//!     buf.clear();
//!     let _ = conn.poll_transmit(&mut buf);
//!     bridge.transmit(&buf, now)?;
//!     let Some((id, req)) = bridge.poll_request(now) else { break };
//!     assert_eq!(id.kind(), RequestKind::Action);
//!     assert_eq!(req.target, "/rawman"); // POST: the secret is in the body
//!     bridge.on_response(id, 200, cookie, answers.next().unwrap(), now)?;
//! }
//! assert!(seen[1].starts_with("LoggedIn"));
//! assert!(seen[2].contains("Pong"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::cookie::later;
use super::{
    decode_body, encode_messages, encode_pairs, request_from_form, split_wait_event,
    wait_event_timeout, BodyError, BodyLimits, Challenge, ChallengeOutcome, CookieSession,
    DigestClient, DigestError, Endpoint, Flavour, HttpAuth, HttpMethod, HttpRequest,
};
use crate::{Decoder, DecoderConfig, EventMask, Frame, MessageRef, Secret};

/// Settings of a [`Bridge`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BridgeConfig {
    /// The endpoint (`/rawman`, `/asterisk/arawman`…).
    pub endpoint: Endpoint,
    /// The `Host` header of every request.
    pub host: String,
    /// POST (form body, the default: no secret in a URL) or GET (query string).
    pub method: HttpMethod,
    /// Digest credentials; `None`: the Username and Secret of the Connection's plain Login.
    pub digest_credentials: Option<(String, Secret)>,
    /// Whether to run the WaitEvent long poll once logged in (default `true`). It also stops
    /// while the session's event mask is `off` (Login `Events: off`, or an Events action).
    pub events: bool,
    /// The long poll's wanted length (default 30 s), capped by the session's lifetime.
    pub wait_event_timeout: Duration,
    /// Asterisk's `httptimeout` for Digest sessions (their answers carry no `Max-Age`):
    /// default 60 s, Asterisk's default. Cookie sessions read the `Max-Age`.
    pub httptimeout: Duration,
    /// Most actions waiting for their HTTP request (default 256); more are answered with an
    /// error response and [`BridgeError::QueueFull`].
    pub max_queued_requests: usize,
    /// Most AMI bytes held for the Connection before the long poll pauses (default 16 MiB).
    pub max_inbound_bytes: usize,
    /// Limits on response bodies (and on the actions read from the Connection).
    pub body: BodyLimits,
    /// The version in the synthetic banner (default `11.0.0`).
    pub banner_version: String,
    /// Seed of the Digest cnonce sequence: pass randomness (the transport has a clock and an
    /// OS; the core has neither).
    pub cnonce_seed: u64,
}

impl BridgeConfig {
    /// Defaults for `endpoint` and `host`.
    pub fn new(endpoint: Endpoint, host: impl Into<String>) -> BridgeConfig {
        BridgeConfig {
            endpoint,
            host: host.into(),
            method: HttpMethod::Post,
            digest_credentials: None,
            events: true,
            wait_event_timeout: Duration::from_secs(30),
            httptimeout: Duration::from_secs(60),
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
    /// An action of the Connection (the bridge hands these out one at a time).
    Action,
    /// The WaitEvent long poll (issue it on a second HTTP connection: it lasts up to
    /// [`BridgeConfig::wait_event_timeout`]; give the HTTP client a timeout a few seconds
    /// longer).
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
    /// [`BridgeConfig::max_queued_requests`] actions already wait for their request: the
    /// action was answered with an error response (the Connection reports it refused).
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

/// Why the bridge reported EOF.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EofReason {
    /// The transport reported a failed request ([`Bridge::on_failure`]).
    NetworkFailure,
    /// The cookie session expired or Asterisk replaced it (a new `mansession_id`, or
    /// `Permission denied` to the long poll).
    SessionExpired,
    /// The Logoff's Goodbye was delivered.
    LoggedOff,
    /// The Digest credentials were refused, or none were known.
    LoginFailed,
    /// An HTTP status the bridge cannot handle (404: wrong prefix or `webenabled=no`; 403:
    /// the user's ACL; 5xx…).
    HttpStatus(u16),
    /// A body that cannot be read.
    Body(BodyError),
    /// A 401 whose challenge cannot be answered.
    Digest(DigestError),
    /// Digest challenges kept coming for the same request.
    TooManyChallenges,
    /// An action the Connection wrote could not be read or turned into a request (cannot
    /// happen with the Connection's own encoder).
    BadAction,
}

/// What the bridge does with an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Plain,
    Login,
    Logoff,
    /// Sent by the bridge itself (the event mask after a Digest login): its answer is dropped.
    Internal,
}

#[derive(Clone)]
struct QueuedAction {
    /// Header pairs, `Action` first, as the Connection wrote them.
    pairs: Vec<(String, String)>,
    action_id: Option<String>,
    role: Role,
}

impl std::fmt::Debug for QueuedAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pairs: Vec<(&str, &str)> = self
            .pairs
            .iter()
            .map(|(k, v)| {
                let hidden = k.eq_ignore_ascii_case("Secret") || k.eq_ignore_ascii_case("Key");
                (k.as_str(), if hidden { "<redacted>" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("QueuedAction")
            .field("pairs", &pairs)
            .field("role", &self.role)
            .finish()
    }
}

#[derive(Debug)]
struct InFlight {
    id: RequestId,
    action: QueuedAction,
    /// 401s answered for this action.
    challenges: u8,
}

/// Plays the TCP socket of a [`Connection`](crate::Connection) over AMI-over-HTTP; see the
/// [module documentation](self) for what it does and how to drive it.
#[derive(Debug)]
pub struct Bridge {
    cfg: BridgeConfig,
    inbound: Vec<u8>,
    eof: Option<EofReason>,
    decoder: Decoder,
    queue: VecDeque<QueuedAction>,
    /// The action request handed out and not yet answered.
    action: Option<InFlight>,
    /// An action to issue again (after a 401), ahead of the queue.
    retry: Option<InFlight>,
    wait: Option<RequestId>,
    /// A 401 answered the long poll: issue it again.
    wait_challenges: u8,
    /// The `Timeout` of the long poll in flight.
    wait_secs: u32,
    /// No long poll before this (after one that came back at once and empty).
    wait_not_before: Option<Instant>,
    next_id: u64,
    cookie: CookieSession,
    digest: Option<DigestClient>,
    cnonce: u64,
    logged_in: bool,
    /// The session's event mask is not `off`.
    events_on: bool,
    /// When the last answer arrived (Digest sessions: their lifetime runs from it).
    last_answer: Option<Instant>,
}

impl Bridge {
    /// A bridge whose first inbound bytes are the synthetic banner.
    pub fn new(cfg: BridgeConfig, now: Instant) -> Bridge {
        let _ = now;
        let digest = cfg
            .digest_credentials
            .as_ref()
            .map(|(u, s)| DigestClient::new(u.clone(), s.clone()));
        let mut decoder_cfg = DecoderConfig::without_banner();
        decoder_cfg.max_message_len = cfg.body.decoder.max_message_len;
        decoder_cfg.max_line_len = cfg.body.decoder.max_line_len;
        decoder_cfg.max_headers = cfg.body.decoder.max_headers;
        let mut b = Bridge {
            inbound: format!(
                "Asterisk Call Manager/{}\r\n",
                sanitize(&cfg.banner_version)
            )
            .into_bytes(),
            cnonce: cfg.cnonce_seed,
            cfg,
            eof: None,
            decoder: Decoder::with_config(decoder_cfg),
            queue: VecDeque::new(),
            action: None,
            retry: None,
            wait: None,
            wait_challenges: 0,
            wait_secs: 0,
            wait_not_before: None,
            next_id: 0,
            cookie: CookieSession::new(),
            digest,
            logged_in: false,
            events_on: true,
            last_answer: None,
        };
        b.events_on = b.cfg.events;
        b
    }

    /// Appends the AMI bytes waiting for [`Connection::receive`](crate::Connection::receive)
    /// to `buf`; returns how many. Feed all of them (call `receive` again with what it did
    /// not take).
    pub fn poll_receive(&mut self, buf: &mut Vec<u8>) -> usize {
        let n = self.inbound.len();
        buf.append(&mut self.inbound);
        n
    }

    /// Whether the "socket" is closed and every inbound byte was handed out: then call
    /// [`Connection::receive_eof`](crate::Connection::receive_eof).
    pub fn is_eof(&self) -> bool {
        self.eof.is_some() && self.inbound.is_empty()
    }

    /// Why the bridge reported (or is about to report) EOF.
    pub fn close_reason(&self) -> Option<&EofReason> {
        self.eof.as_ref()
    }

    /// The `Timeout` of the long poll in flight, if one is: Asterisk answers within it (give
    /// the HTTP request a deadline a few seconds longer).
    pub fn long_poll_timeout(&self) -> Option<Duration> {
        self.wait
            .map(|_| Duration::from_secs(u64::from(self.wait_secs)))
    }

    /// Whether the HTTP session is logged in.
    pub fn is_logged_in(&self) -> bool {
        self.logged_in
    }

    /// Takes the bytes [`Connection::poll_transmit`](crate::Connection::poll_transmit) wrote:
    /// each complete action is queued for its HTTP request. An action beyond
    /// [`BridgeConfig::max_queued_requests`] is answered at once with `Response: Error`
    /// (`Message: HTTP request queue full`), and the call returns
    /// [`BridgeError::QueueFull`] after taking every byte.
    pub fn transmit(&mut self, bytes: &[u8], now: Instant) -> Result<(), BridgeError> {
        let _ = now;
        if self.eof.is_some() {
            return Err(BridgeError::Closed);
        }
        let mut input = bytes;
        let mut result = Ok(());
        loop {
            let n = self.decoder.feed(input);
            input = &input[n..];
            loop {
                let frame = match self.decoder.decode() {
                    Ok(Some(Frame::Message(m))) => read_action(&m),
                    Ok(Some(Frame::Banner(_))) => continue,
                    Ok(None) => break,
                    Err(_) => None,
                };
                let Some(action) = frame else {
                    self.close(EofReason::BadAction);
                    return Err(BridgeError::Closed);
                };
                if self.queue.len() >= self.cfg.max_queued_requests {
                    self.answer_error(action.action_id.as_deref(), "HTTP request queue full");
                    result = Err(BridgeError::QueueFull {
                        limit: self.cfg.max_queued_requests,
                    });
                    continue;
                }
                self.admit(action);
            }
            if input.is_empty() {
                break;
            }
            if n == 0 {
                self.close(EofReason::BadAction);
                return Err(BridgeError::Closed);
            }
        }
        result
    }

    /// Queues an action read from the Connection, rewriting what HTTP wants rewritten.
    fn admit(&mut self, mut a: QueuedAction) {
        let name = a.pairs[0].1.to_ascii_lowercase();
        let header = |a: &QueuedAction, k: &str| {
            a.pairs
                .iter()
                .find(|(pk, _)| pk.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        match name.as_str() {
            "login" => {
                a.role = Role::Login;
                if let Some(ev) = header(&a, "Events") {
                    self.events_on = self.cfg.events && EventMask::parse(&ev) != EventMask::Off;
                }
                if self.cfg.endpoint.auth() == HttpAuth::Digest {
                    if self.digest.is_none() {
                        if let (Some(u), Some(s)) = (header(&a, "Username"), header(&a, "Secret")) {
                            self.digest = Some(DigestClient::new(u, Secret::new(s)));
                        }
                    }
                    let events = header(&a, "Events");
                    // The secret never crosses the wire; Asterisk ignores the rest.
                    a.pairs.retain(|(k, _)| {
                        ["Action", "ActionID"]
                            .iter()
                            .any(|h| k.eq_ignore_ascii_case(h))
                    });
                    self.queue.push_back(a);
                    if let Some(mask) = events {
                        self.queue.push_back(QueuedAction {
                            pairs: vec![
                                ("Action".into(), "Events".into()),
                                ("EventMask".into(), mask),
                            ],
                            action_id: None,
                            role: Role::Internal,
                        });
                    }
                    return;
                }
            }
            "logoff" => a.role = Role::Logoff,
            "waitevent" if self.cfg.events => {
                // Asterisk keeps one waiter per session: the user's WaitEvent and the
                // bridge's long poll would keep ending each other.
                let id = a.action_id.clone();
                self.answer_error(
                    id.as_deref(),
                    "WaitEvent is run by the HTTP bridge (BridgeConfig::events); events arrive as events",
                );
                return;
            }
            "events" => {
                if let Some(m) = header(&a, "EventMask") {
                    self.events_on = self.cfg.events && EventMask::parse(&m) != EventMask::Off;
                }
            }
            _ => {}
        }
        self.queue.push_back(a);
    }

    /// The next HTTP request to issue, if one is due: the long poll when it should run and is
    /// not in flight, else the next action when no action request is in flight. Add your
    /// client's own headers (User-Agent…) as you like; keep these.
    #[must_use]
    pub fn poll_request(&mut self, now: Instant) -> Option<(RequestId, HttpRequest)> {
        if self.eof.is_some() {
            return None;
        }
        if self.wait.is_none()
            && self.wants_long_poll()
            && self.wait_not_before.is_none_or(|t| now >= t)
        {
            let expires = self
                .expires_at()
                .unwrap_or_else(|| later(now, self.cfg.httptimeout));
            let secs = wait_event_timeout(expires, now, self.cfg.wait_event_timeout);
            let pairs = [
                ("Action", "WaitEvent".to_owned()),
                ("Timeout", secs.to_string()),
            ];
            let form = encode_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
            let id = self.new_id(RequestKind::WaitEvent);
            match self.request(form) {
                Some(req) => {
                    self.wait = Some(id);
                    self.wait_secs = secs;
                    self.wait_not_before = None;
                    return Some((id, req));
                }
                None => {
                    self.close(EofReason::BadAction);
                    return None;
                }
            }
        }
        if self.action.is_some() {
            return None;
        }
        let (action, challenges) = match self.retry.take() {
            Some(r) => (r.action, r.challenges),
            None => (self.queue.pop_front()?, 0),
        };
        let form = encode_pairs(action.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let Some(req) = self.request(form) else {
            self.close(EofReason::BadAction);
            return None;
        };
        let id = self.new_id(RequestKind::Action);
        self.action = Some(InFlight {
            id,
            action,
            challenges,
        });
        Some((id, req))
    }

    fn wants_long_poll(&self) -> bool {
        self.logged_in
            && self.cfg.events
            && self.events_on
            && self.inbound.len() < self.cfg.max_inbound_bytes
    }

    fn new_id(&mut self, kind: RequestKind) -> RequestId {
        self.next_id += 1;
        RequestId {
            n: self.next_id,
            kind,
        }
    }

    /// The request for a form, with the cookie or the Digest answer.
    fn request(&mut self, form: String) -> Option<HttpRequest> {
        let mut req =
            request_from_form(&self.cfg.endpoint, form, self.cfg.method, &self.cfg.host).ok()?;
        match self.cfg.endpoint.auth() {
            HttpAuth::Cookie => {
                if let Some(c) = self.cookie.cookie_header() {
                    req.set_header("Cookie", &c).ok()?;
                }
            }
            HttpAuth::Digest => {
                self.cnonce = self.cnonce.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let cnonce = format!("{:016x}", mix(self.cnonce));
                let method = self.cfg.method;
                let auth = match self.digest.as_mut() {
                    Some(d) if d.has_challenge() => d.authorization(method, &req.target, &cnonce),
                    _ => None,
                };
                if let Some(a) = auth {
                    req.set_header("Authorization", &a).ok()?;
                }
            }
        }
        Some(req)
    }

    /// The answer to request `id`: its status, headers (name, value pairs as received) and
    /// body. `Err(UnknownRequest)` for an id not in flight (a second answer, or one after
    /// [`reset`](Self::reset)), which is otherwise ignored.
    pub fn on_response(
        &mut self,
        id: RequestId,
        status: u16,
        headers: &[(&str, &[u8])],
        body: &[u8],
        now: Instant,
    ) -> Result<(), BridgeError> {
        let action = match id.kind {
            RequestKind::Action => match self.action.take() {
                Some(f) if f.id == id => Some(f),
                other => {
                    self.action = other;
                    return Err(BridgeError::UnknownRequest);
                }
            },
            RequestKind::WaitEvent => {
                if self.wait != Some(id) {
                    return Err(BridgeError::UnknownRequest);
                }
                self.wait = None;
                None
            }
        };
        if self.eof.is_some() {
            return Ok(());
        }
        if status == 401 && self.cfg.endpoint.auth() == HttpAuth::Digest {
            self.on_unauthorized(action, headers);
            return Ok(());
        }
        if status != 200 {
            if let Some(f) = &action {
                let text = format!("HTTP status {status} from the server");
                self.answer_for(&f.action, &text);
            }
            self.close(EofReason::HttpStatus(status));
            return Ok(());
        }
        if let Some(d) = self.digest.as_mut() {
            d.on_success();
        }
        self.last_answer = Some(now);
        // A new session id while logged in: Asterisk forgot ours and made a new one.
        let before = self.cookie.id().map(str::to_owned);
        self.cookie.on_response(headers, now);
        let replaced = self.logged_in
            && self.cfg.endpoint.auth() == HttpAuth::Cookie
            && before.is_some()
            && before.as_deref() != self.cookie.id();
        let flavour = self.cfg.endpoint.flavour();
        match action {
            None => self.on_wait_event(flavour, body, replaced, now),
            Some(f) => self.on_action_answer(f, flavour, body, replaced, now),
        }
        Ok(())
    }

    fn on_unauthorized(&mut self, action: Option<InFlight>, headers: &[(&str, &[u8])]) {
        let challenge = headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("WWW-Authenticate"))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .map(Challenge::parse)
            .find(|c| c.as_ref().is_ok())
            .unwrap_or(Err(DigestError::NotDigest));
        let fail = |b: &mut Bridge, reason: EofReason, text: &str| {
            if let Some(f) = &action {
                b.answer_for(&f.action, text);
            }
            b.close(reason);
        };
        let challenge = match challenge {
            Ok(c) => c,
            Err(e) => return fail(self, EofReason::Digest(e), "HTTP Digest challenge unusable"),
        };
        let Some(digest) = self.digest.as_mut() else {
            return fail(
                self,
                EofReason::LoginFailed,
                "HTTP Digest credentials unknown: log in with plain credentials or set BridgeConfig::digest_credentials",
            );
        };
        if let Err(e) = digest.check_username() {
            return fail(
                self,
                EofReason::Digest(e),
                "HTTP Digest cannot carry this user name (a quote or control character)",
            );
        }
        if digest.on_challenge(challenge) == ChallengeOutcome::Failed {
            return fail(self, EofReason::LoginFailed, "Authentication failed");
        }
        match action {
            Some(mut f) => {
                f.challenges += 1;
                if f.challenges > 3 {
                    self.answer_for(&f.action, "HTTP Digest: too many challenges");
                    return self.close(EofReason::TooManyChallenges);
                }
                self.retry = Some(f);
            }
            None => {
                self.wait_challenges += 1;
                if self.wait_challenges > 3 {
                    self.close(EofReason::TooManyChallenges);
                }
            }
        }
    }

    fn on_wait_event(&mut self, flavour: Flavour, body: &[u8], replaced: bool, now: Instant) {
        let msgs = match decode_body(flavour, body, &self.cfg.body) {
            Ok(m) => m,
            Err(e) => return self.close(EofReason::Body(e)),
        };
        match split_wait_event(msgs) {
            Ok(events) => {
                self.wait_challenges = 0;
                // Back at once with nothing (a session too short for a wait, or another
                // waiter on the session): wait a second before the next one, as Asterisk
                // looks once a second.
                if events.is_empty() && (self.wait_secs == 0 || body.is_empty()) {
                    self.wait_not_before = Some(now + Duration::from_secs(1));
                }
                encode_messages(&events, &mut self.inbound);
                if replaced {
                    self.close(EofReason::SessionExpired);
                }
            }
            Err(_) => self.close(EofReason::SessionExpired),
        }
    }

    fn on_action_answer(
        &mut self,
        f: InFlight,
        flavour: Flavour,
        body: &[u8],
        replaced: bool,
        now: Instant,
    ) {
        let msgs = match decode_body(flavour, body, &self.cfg.body) {
            Ok(m) => m,
            Err(e) => {
                self.answer_for(&f.action, "unreadable HTTP response body");
                return self.close(EofReason::Body(e));
            }
        };
        let first = msgs.first();
        let success = first.is_some_and(|m| {
            m.get("Response")
                .is_some_and(|r| r.eq_ignore_ascii_case(b"Success"))
        });
        // Not `Permission denied` alone: a user without the action's class gets it too.
        let expired = replaced;
        if f.action.role != Role::Internal {
            if flavour == Flavour::Rawman {
                self.inbound.extend_from_slice(body);
                if !(body.is_empty() || body.ends_with(b"\n\n") || body.ends_with(b"\n\r\n")) {
                    if !body.ends_with(b"\n") {
                        self.inbound.extend_from_slice(b"\r\n");
                    }
                    self.inbound.extend_from_slice(b"\r\n");
                }
            } else {
                encode_messages(&msgs, &mut self.inbound);
            }
            if msgs.is_empty() {
                self.answer_for(&f.action, "empty HTTP response body");
            }
        }
        match f.action.role {
            Role::Login if success => {
                self.logged_in = true;
                self.cookie.set_logged_in(true, now);
            }
            Role::Login => self.close(EofReason::LoginFailed),
            Role::Logoff => {
                self.cookie.clear();
                self.close(EofReason::LoggedOff);
            }
            _ => {}
        }
        if expired && self.eof.is_none() {
            self.close(EofReason::SessionExpired);
        }
    }

    /// Request `id` failed at the HTTP or network level (refused connection, reset, timeout,
    /// a response that is not HTTP): the bridge reports EOF. Unknown ids are ignored.
    pub fn on_failure(&mut self, id: RequestId, now: Instant) {
        let _ = now;
        let known = match id.kind {
            RequestKind::Action => self.action.as_ref().is_some_and(|f| f.id == id),
            RequestKind::WaitEvent => self.wait == Some(id),
        };
        if known {
            match id.kind {
                RequestKind::Action => self.action = None,
                RequestKind::WaitEvent => self.wait = None,
            }
            self.close(EofReason::NetworkFailure);
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) (and
    /// [`poll_request`](Self::poll_request)) next: the session's expiry while logged in with
    /// no request in flight (a long poll in flight keeps it alive), or the end of the
    /// one-second pause of the long poll.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.eof.is_some() || !self.logged_in {
            return None;
        }
        let pause = self
            .wait_not_before
            .filter(|_| self.wait.is_none() && self.wants_long_poll());
        let expiry = if self.action.is_some() || self.wait.is_some() {
            None
        } else {
            self.expires_at()
        };
        match (pause, expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time passed: a session that expired with no request in flight ends as EOF
    /// ([`EofReason::SessionExpired`]); the Connection then reconnects and logs in again.
    /// Keep an idle session alive with the Connection's keepalive (shorter than
    /// `httptimeout`), or with the long poll.
    pub fn handle_timeout(&mut self, now: Instant) {
        let idle = self.action.is_none() && self.wait.is_none();
        if self.eof.is_none()
            && self.logged_in
            && idle
            && self.expires_at().is_some_and(|t| now >= t)
        {
            self.close(EofReason::SessionExpired);
        }
    }

    /// A new "socket" after the Connection closed: fresh cookie and Digest state, a new
    /// banner; then call [`Connection::reconnect`](crate::Connection::reconnect). Answers to
    /// requests of the old session are refused ([`BridgeError::UnknownRequest`]).
    pub fn reset(&mut self, now: Instant) {
        let next_id = self.next_id;
        let cnonce = self.cnonce;
        *self = Bridge::new(self.cfg.clone(), now);
        self.next_id = next_id;
        self.cnonce = cnonce;
    }

    /// When the HTTP session expires unless used: the cookie session's expiry, or for Digest
    /// the last answer plus `httptimeout` (Asterisk then makes a new session on the next
    /// request, whose events in between are lost).
    pub fn session_expires_at(&self) -> Option<Instant> {
        self.expires_at()
    }

    fn expires_at(&self) -> Option<Instant> {
        match self.cfg.endpoint.auth() {
            HttpAuth::Cookie => self.cookie.expires_at(),
            HttpAuth::Digest => self
                .last_answer
                .map(|t| later(t, self.cfg.httptimeout.max(super::PRE_LOGIN_LIFETIME))),
        }
    }

    /// [`answer_error`](Self::answer_error) for a queued action, unless the bridge sent it
    /// itself (no one waits for that answer, and an answer without ActionID would be matched to
    /// the Connection's oldest action).
    fn answer_for(&mut self, a: &QueuedAction, text: &str) {
        if a.role != Role::Internal {
            let id = a.action_id.clone();
            self.answer_error(id.as_deref(), text);
        }
    }

    /// An error answer for an action, made up by the bridge (the Connection resolves the
    /// action with it).
    fn answer_error(&mut self, action_id: Option<&str>, text: &str) {
        self.inbound.extend_from_slice(b"Response: Error\r\n");
        if let Some(id) = action_id {
            self.inbound.extend_from_slice(b"ActionID: ");
            self.inbound.extend_from_slice(sanitize(id).as_bytes());
            self.inbound.extend_from_slice(b"\r\n");
        }
        self.inbound.extend_from_slice(b"Message: ");
        self.inbound.extend_from_slice(sanitize(text).as_bytes());
        self.inbound.extend_from_slice(b"\r\n\r\n");
    }

    fn close(&mut self, reason: EofReason) {
        if self.eof.is_none() {
            self.eof = Some(reason);
        }
        self.logged_in = false;
        self.queue.clear();
        self.retry = None;
    }
}

/// Control characters (CR, LF…) out.
fn sanitize(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// splitmix64's finaliser: turns the counter into well-spread cnonce bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The header pairs of an action the Connection wrote.
fn read_action(m: &MessageRef<'_>) -> Option<QueuedAction> {
    let mut pairs = Vec::with_capacity(m.len());
    for h in m.iter() {
        pairs.push((h.name_str()?.to_owned(), h.value_str()?.to_owned()));
    }
    if !pairs.first()?.0.eq_ignore_ascii_case("Action") {
        return None;
    }
    let action_id = m.get_str("ActionID").map(str::to_owned);
    Some(QueuedAction {
        pairs,
        action_id,
        role: Role::Plain,
    })
}
