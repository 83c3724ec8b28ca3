//! The connection state machine: login, correlation of actions with their responses, event
//! lists, Command output, async Originate results, timeouts and keepalive. No I/O, no clock.
//!
//! # Calling order
//!
//! A [`Connection`] is driven by the transport that owns the socket:
//!
//! 1. **Bytes in**: [`receive`](Connection::receive) what the socket read (it returns how many
//!    bytes it took; feed the rest after step 2), or [`receive_eof`](Connection::receive_eof)
//!    when the peer closed.
//! 2. **What happened**: call [`poll_output`](Connection::poll_output) until it returns `None`.
//! 3. **Bytes out**: [`poll_transmit`](Connection::poll_transmit) appends what must be written
//!    to a buffer of the caller's; write all of it.
//! 4. **Time**: [`poll_timeout`](Connection::poll_timeout) tells when to call
//!    [`handle_timeout`](Connection::handle_timeout) next; calling it early is a harmless no-op.
//!    Time never goes backwards.
//!
//! Actions are queued with [`send`](Connection::send) at any time (after it, do steps 3 and 4).
//! Actions sent before the login completes are held and written once it succeeds.
//!
//! # The session after a reconnect
//!
//! A transport keeps one `Connection` for the life of its client, whatever happens to the
//! socket. When the socket breaks, the connection reports [`Output::Closed`]; if
//! [`CloseReason::may_reconnect`] and the transport wants to, it opens a new socket and calls
//! [`reconnect`](Connection::reconnect). The core carries over everything that belongs to the
//! session and not to the socket: the event mask (the new Login asks for it), the server-side
//! filters (sent again right after the login, ahead of any user action) and, with
//! [`ConnectionConfig::resumable`], the actions never written (kept, within their deadlines,
//! through the gap, and accepted by [`send`](Connection::send) during it). Actions that were
//! written before the break fail with [`ActionError::Closed`]` { sent: true }` and are never
//! sent again: an Originate could ring a phone twice. So a transport keeps sockets, timers
//! and ActionId → waiter, and no protocol state of its own.
//!
//! ```
//! use std::time::Instant;
//! use amiwire::connection::{Connection, ConnectionConfig, Credentials, Output};
//! use amiwire::Action;
//!
//! let now = Instant::now();
//! let mut cfg = ConnectionConfig::new(Credentials::plain("admin", "amp111"));
//! cfg.action_ids = amiwire::ActionIdGenerator::with_prefix("t").unwrap();
//! let mut conn = Connection::new(cfg, now);
//! let ping = conn.send(Action::ping(), now).unwrap();
//!
//! // The server's side of recording 01-login-ping-logoff (a real Asterisk 22).
//! let n = conn.receive(b"Asterisk Call Manager/11.0.0\r\n");
//! assert_eq!(n, 30);
//! assert!(matches!(conn.poll_output(), Some(Output::Connected { .. })));
//! let mut wire = Vec::new();
//! let _ = conn.poll_transmit(&mut wire);
//! assert!(wire.starts_with(b"Action: Login\r\nActionID: t-2\r\nUsername: admin\r\n"));
//!
//! let _ = conn.receive(b"Response: Success\r\nActionID: t-2\r\nMessage: Authentication accepted\r\n\r\n");
//! assert!(matches!(conn.poll_output(), Some(Output::LoggedIn)));
//! wire.clear();
//! let _ = conn.poll_transmit(&mut wire);
//! assert_eq!(wire, b"Action: Ping\r\nActionID: t-1\r\n\r\n");
//!
//! let _ = conn.receive(b"Response: Success\r\nActionID: t-1\r\nPing: Pong\r\nTimestamp: 1795453647.946352\r\n\r\n");
//! match conn.poll_output() {
//!     Some(Output::Response(r)) => {
//!         assert_eq!(r.id, ping);
//!         assert!(r.is_success());
//!         assert_eq!(r.get_str("Ping"), Some("Pong"));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use crate::{
    Action, ActionId, ActionIdGenerator, DecodeError, Decoder, DecoderConfig, EncodeError, Frame,
    Message, MessageKind, MessageRef,
};

/// A secret (password) that never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How to authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Login` with `Secret` in clear text.
    Plain,
    /// `Challenge` (AuthType md5), then `Login` with `Key: md5(challenge + secret)`: the secret
    /// never crosses the wire.
    Md5,
}

/// Username, secret and method of a login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The manager.conf user.
    pub username: String,
    /// Its secret.
    pub secret: Secret,
    /// Plain or MD5 challenge.
    pub method: AuthMethod,
}

impl Credentials {
    /// Plain login.
    pub fn plain(username: impl Into<String>, secret: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            secret: Secret::new(secret),
            method: AuthMethod::Plain,
        }
    }

    /// MD5 challenge login.
    pub fn md5(username: impl Into<String>, secret: impl Into<String>) -> Credentials {
        Credentials {
            method: AuthMethod::Md5,
            ..Credentials::plain(username, secret)
        }
    }
}

/// The session's event mask: the `Events:` header of Login, and the `EventMask` of the Events
/// action. Asterisk ANDs it with the user's `read` classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventMask {
    /// Every class the user may read (`on`).
    On,
    /// No events (`off`).
    Off,
    /// These classes (`call,user`…).
    Classes(Vec<String>),
    /// A raw numeric mask.
    Raw(u32),
}

/// `EVENT_FLAG_CALL` in Asterisk's manager.h.
const EVENT_FLAG_CALL: u32 = 1 << 1;

impl EventMask {
    /// Reads a mask as Asterisk does (`strings_to_mask`): a true or false word, a number, or a
    /// comma list of classes.
    pub fn parse(text: &str) -> EventMask {
        let t = text.trim();
        let lower = t.to_ascii_lowercase();
        match lower.as_str() {
            "on" | "yes" | "true" | "y" | "t" | "1" => return EventMask::On,
            "off" | "no" | "false" | "n" | "f" | "0" | "" => return EventMask::Off,
            _ => {}
        }
        if let Ok(n) = t.parse::<u32>() {
            return EventMask::Raw(n);
        }
        EventMask::Classes(
            lower
                .split(',')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect(),
        )
    }

    /// The header value that asks for this mask.
    pub fn to_header_value(&self) -> String {
        match self {
            EventMask::On => "on".into(),
            EventMask::Off => "off".into(),
            EventMask::Classes(c) => c.join(","),
            EventMask::Raw(n) => n.to_string(),
        }
    }

    /// Whether events of the `call` class (OriginateResponse among them) can arrive.
    pub fn allows_call(&self) -> bool {
        match self {
            EventMask::On => true,
            EventMask::Off => false,
            EventMask::Raw(n) => n & EVENT_FLAG_CALL != 0,
            EventMask::Classes(c) => c.iter().any(|c| c == "call" || c == "all"),
        }
    }
}

/// Settings of a [`Connection`].
///
/// Every duration may be as large as you like: a deadline that would overflow the clock
/// means "never" (so `Duration::MAX` turns a timeout off).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectionConfig {
    /// Log in as this user on the banner; `None` to manage the login yourself.
    pub login: Option<Credentials>,
    /// The `Events:` header of the Login; `None` (the default) sends none, and Asterisk then
    /// delivers every class the user may read (as with `on`).
    pub events: Option<EventMask>,
    /// How long an action may wait for its result (default 30 s).
    pub action_timeout: Duration,
    /// How long the banner and login may take (default 10 s).
    pub login_timeout: Duration,
    /// Send a keepalive Ping at this interval once logged in (default: off). Its answer is not
    /// reported; a missing answer closes the connection with
    /// [`CloseReason::KeepaliveTimeout`]. While a synchronous Originate or a WaitEvent of
    /// the user's waits for its answer, the Ping waits another interval: Asterisk answers a
    /// session's actions one at a time, so a Ping behind one (a synchronous Originate rings
    /// up to its `Timeout`) would end a healthy session; that action's own timeout watches
    /// the link meanwhile.
    pub keepalive: Option<Duration>,
    /// How long a keepalive Ping may wait for its Pong before the connection is given up
    /// (default 10 s).
    pub pong_timeout: Duration,
    /// Most actions waiting for a result (default 1,024); more is an error.
    pub max_pending: usize,
    /// Most bytes queued for [`Connection::poll_transmit`] (default 1 MiB); more is an error.
    pub max_queued_bytes: usize,
    /// Most items collected for one event list (default 100,000); a longer list fails.
    pub max_list_items: usize,
    /// Limits of the decoder.
    pub decoder: DecoderConfig,
    /// Where ActionIDs come from (random prefix plus counter; inject one in tests).
    pub action_ids: ActionIdGenerator,
    /// Whether the session may be followed by another one ([`Connection::reconnect`]): when it
    /// ends, the actions never written are kept for the next session instead of failing with
    /// [`ActionError::Closed`]` { sent: false }` (default: off).
    pub resumable: bool,
}

impl ConnectionConfig {
    /// Defaults, logging in with `credentials`.
    pub fn new(credentials: Credentials) -> ConnectionConfig {
        ConnectionConfig {
            login: Some(credentials),
            ..ConnectionConfig::default()
        }
    }
}

impl Default for ConnectionConfig {
    /// Defaults without login.
    fn default() -> Self {
        ConnectionConfig {
            login: None,
            events: None,
            action_timeout: Duration::from_secs(30),
            login_timeout: Duration::from_secs(10),
            keepalive: None,
            pong_timeout: Duration::from_secs(10),
            max_pending: 1024,
            max_queued_bytes: 1024 * 1024,
            max_list_items: 100_000,
            decoder: DecoderConfig::default(),
            action_ids: ActionIdGenerator::new(),
            resumable: false,
        }
    }
}

/// The caller's misuse: the action was not queued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// The connection is closed (or closing after a Logoff).
    #[error("the connection is closed")]
    Closed,
    /// [`ConnectionConfig::max_pending`] actions are already waiting.
    #[error("{limit} actions already pending")]
    TooManyPending {
        /// The limit.
        limit: usize,
    },
    /// [`ConnectionConfig::max_queued_bytes`] would be exceeded: the transport is not writing.
    #[error("output queue full ({limit} bytes)")]
    OutputFull {
        /// The limit.
        limit: usize,
    },
    /// An action with this ActionID is already pending.
    #[error("ActionID {0} is already pending")]
    DuplicateActionId(ActionId),
    /// An async Originate whose OriginateResponse can never arrive: the session's event mask
    /// excludes the `call` class.
    #[error("async Originate result cannot arrive: the session's event mask ({mask}) excludes the call class; use Events: on or call, or a synchronous Originate")]
    OriginateResultUnavailable {
        /// The mask in force.
        mask: String,
    },
    /// The action does not encode.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// The peer's fault; it ends the connection and stays set ([`Connection::error`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The first line is not an AMI banner.
    #[error("not an AMI banner: {0:?}")]
    BadBanner(String),
    /// A message arrived before any banner.
    #[error("message before the AMI banner")]
    MissingBanner,
    /// The Challenge answer carried no challenge.
    #[error("Challenge response without a challenge")]
    NoChallenge,
}

/// Why the connection ended (the last output of a session).
///
/// Who is at fault, and so whether another attempt can help, is in the variant, never in a
/// text: see [`may_reconnect`](CloseReason::may_reconnect).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// We logged off and the server said Goodbye.
    Logoff,
    /// The server closed the connection.
    PeerClosed,
    /// The server refused the login or the MD5 challenge (`Authentication failed`…); it
    /// closes the connection after it.
    LoginFailed {
        /// The server's `Message:` text (`login refused` when it sent none).
        message: String,
    },
    /// The server closed the connection before the login completed (an Asterisk that is
    /// shutting down, a proxy, a limit on sessions).
    ClosedDuringLogin,
    /// The login was never sent: the username or the event mask cannot be encoded (a CR,
    /// LF or control character in it).
    InvalidLogin(EncodeError),
    /// No banner or login answer in time.
    LoginTimeout,
    /// A keepalive Ping got no answer in time.
    KeepaliveTimeout,
    /// [`Connection::close`] (or [`Connection::reconnect`] on a live connection) was called.
    Local,
    /// The peer broke the protocol.
    Protocol(ProtocolError),
}

impl CloseReason {
    /// Whether a new session (a reconnect) may succeed where this one ended: `false` when we
    /// ended it (Logoff, a local close) or when trying again cannot help (the server refused
    /// the credentials, the credentials cannot be encoded).
    pub fn may_reconnect(&self) -> bool {
        !matches!(
            self,
            CloseReason::Logoff
                | CloseReason::Local
                | CloseReason::LoginFailed { .. }
                | CloseReason::InvalidLogin(_)
        )
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Logoff => f.write_str("logged off"),
            CloseReason::PeerClosed => f.write_str("the server closed the connection"),
            CloseReason::LoginFailed { message } => write!(f, "login refused: {message}"),
            CloseReason::ClosedDuringLogin => {
                f.write_str("the server closed the connection during the login")
            }
            CloseReason::InvalidLogin(e) => write!(f, "the login cannot be sent: {e}"),
            CloseReason::LoginTimeout => f.write_str("no login answer in time"),
            CloseReason::KeepaliveTimeout => f.write_str("keepalive Ping unanswered"),
            CloseReason::Local => f.write_str("closed locally"),
            CloseReason::Protocol(e) => write!(f, "protocol error: {e}"),
        }
    }
}

/// Why an action has no result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// No result within the deadline. A late answer is dropped.
    #[error("timed out ({})", if *sent { "sent: outcome unknown" } else { "never sent" })]
    TimedOut {
        /// Whether the action was handed to the transport (then its outcome is unknown).
        sent: bool,
    },
    /// The connection ended first.
    #[error("connection closed ({})", if *sent { "sent: outcome unknown" } else { "never sent" })]
    Closed {
        /// Whether the action was handed to the transport (then its outcome is unknown).
        sent: bool,
    },
    /// The connection ended inside the action's event list: what arrived is here, but the list
    /// is incomplete.
    #[error("event list truncated by the end of the connection after {} items", .0.events.len())]
    Truncated(Box<Response>),
    /// The event list was longer than [`ConnectionConfig::max_list_items`].
    #[error("event list longer than {limit} items")]
    ListTooLong {
        /// The limit.
        limit: usize,
    },
}

/// A completed action: the server's answer with everything that belongs to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The action's ActionID.
    pub id: ActionId,
    /// The action's name, as sent.
    pub action: String,
    /// The `Response:` message (`Success`, `Error`, `Goodbye`, `Follows`).
    pub message: Message,
    /// The items of an event list, in order (without the completion event).
    pub events: Vec<Message>,
    /// The event that completed the list (`…Complete` with `ListItems`), or the one event
    /// of an ack-plus-one action (WaitEvent, FAXSession…).
    pub complete: Option<Message>,
    /// For an async Originate, the OriginateResponse event with its final result.
    pub originate: Option<Message>,
}

impl Response {
    /// `Response: Success` (or `Follows`, the old Command framing), and for an async
    /// Originate, an OriginateResponse with `Response: Success` too.
    pub fn is_success(&self) -> bool {
        let ok = |m: &Message| {
            m.as_ref().response().is_some_and(|r| {
                r.eq_ignore_ascii_case(b"Success") || r.eq_ignore_ascii_case(b"Follows")
            })
        };
        ok(&self.message) && self.originate.as_ref().is_none_or(ok)
    }

    /// The value of a header of the response message.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.message.get(name)
    }

    /// The value of a header of the response message, as text.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.message.get_str(name)
    }

    /// The `Message:` text.
    pub fn text(&self) -> Option<&str> {
        self.get_str("Message")
    }

    /// Command output lines, whatever the framing.
    pub fn output(&self) -> Vec<&[u8]> {
        self.message.as_ref().command_output().collect()
    }

    /// Why the server refused the action, when it answered `Response: Error`; `None` for any
    /// other answer. Read from the texts `process_message` in `main/manager.c` writes (every
    /// Asterisk version), so that no caller has to compare them itself.
    pub fn refusal(&self) -> Option<Refusal> {
        const UNKNOWN_ACTION: &[u8] = b"Invalid/unknown command";
        let m = self.message.as_ref();
        if !m
            .response()
            .is_some_and(|r| r.eq_ignore_ascii_case(b"Error"))
        {
            return None;
        }
        let text = m.get("Message").unwrap_or_default();
        Some(if text.eq_ignore_ascii_case(b"Permission denied") {
            Refusal::PermissionDenied
        } else if text
            .get(..UNKNOWN_ACTION.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(UNKNOWN_ACTION))
        {
            Refusal::UnknownAction
        } else {
            Refusal::Other
        })
    }
}

/// The kind of a `Response: Error`; see [`Response::refusal`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// `Permission denied`: the user lacks the write class the action needs (or is not
    /// logged in).
    PermissionDenied,
    /// `Invalid/unknown command`: the server has no such action (a module not loaded, an
    /// older Asterisk).
    UnknownAction,
    /// Any other error: the action's own (`No such channel`, `Command blacklisted`…); see
    /// [`Response::text`].
    Other,
}

/// What happened on the connection; see [`Connection::poll_output`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Output<'a> {
    /// The banner arrived (`Asterisk Call Manager/11.0.0`).
    Connected {
        /// The banner line.
        banner: String,
    },
    /// The login succeeded; held actions are now written.
    LoggedIn,
    /// An asynchronous event (borrowed: copy it with `to_owned` to keep it).
    Event(MessageRef<'a>),
    /// An action completed with the server's answer (which may be `Response: Error`).
    Response(Box<Response>),
    /// An action ended without a result.
    Failed {
        /// The action.
        id: ActionId,
        /// Why.
        error: ActionError,
    },
    /// A response for no pending action (e.g. an answer arriving after its action timed out
    /// is not reported; this is for answers nobody asked for).
    Unmatched(MessageRef<'a>),
    /// A message broke a decoder limit and was dropped (the connection goes on).
    DecodeError(DecodeError),
    /// The connection ended; nothing follows.
    Closed(CloseReason),
}

/// Owned outputs waiting in the queue.
#[derive(Debug)]
enum Queued {
    Connected(String),
    LoggedIn,
    Response(Box<Response>),
    Failed(ActionId, ActionError),
    DecodeError(DecodeError),
    Closed(CloseReason),
}

impl From<Queued> for Output<'_> {
    fn from(q: Queued) -> Self {
        match q {
            Queued::Connected(banner) => Output::Connected { banner },
            Queued::LoggedIn => Output::LoggedIn,
            Queued::Response(r) => Output::Response(r),
            Queued::Failed(id, error) => Output::Failed { id, error },
            Queued::DecodeError(e) => Output::DecodeError(e),
            Queued::Closed(r) => Output::Closed(r),
        }
    }
}

/// What completes an action after its response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// The response alone.
    Response,
    /// An event list: items until `EventList: Complete` or this legacy completion event.
    List(Option<&'static str>),
    /// Exactly one event of this name.
    OneEvent(&'static str),
    /// The OriginateResponse event.
    Originate,
}

/// Legacy list completions (servers before AMI 2.7 sent no `EventList` header), and actions
/// answered by an ack plus one event. Keys are lower-case action names.
const LEGACY_LISTS: &[(&str, &str)] = &[
    ("agents", "AgentsComplete"),
    ("bridgelist", "BridgeListComplete"),
    ("confbridgelist", "ConfbridgeListComplete"),
    ("confbridgelistrooms", "ConfbridgeListRoomsComplete"),
    ("coreshowchannelmap", "CoreShowChannelMapComplete"),
    ("coreshowchannels", "CoreShowChannelsComplete"),
    ("dahdishowchannels", "DAHDIShowChannelsComplete"),
    ("devicestatelist", "DeviceStateListComplete"),
    ("extensionstatelist", "ExtensionStateListComplete"),
    ("iaxpeerlist", "PeerlistComplete"),
    ("iaxpeers", "PeerlistComplete"),
    ("meetmelist", "MeetmeListComplete"),
    ("meetmelistrooms", "MeetmeListRoomsComplete"),
    ("parkedcalls", "ParkedCallsComplete"),
    ("parkinglots", "ParkinglotsComplete"),
    ("pjsipshowendpoints", "EndpointListComplete"),
    ("presencestatelist", "PresenceStateListComplete"),
    ("queuestatus", "QueueStatusComplete"),
    ("queuesummary", "QueueSummaryComplete"),
    ("showdialplan", "ShowDialPlanComplete"),
    ("sippeers", "PeerlistComplete"),
    ("sipshowregistry", "RegistrationsComplete"),
    ("status", "StatusComplete"),
    ("voicemailuserslist", "VoicemailUserEntryComplete"),
];

const ONE_EVENT: &[(&str, &str)] = &[
    ("dbget", "DBGetResponse"),
    ("faxsession", "FAXSession"),
    ("faxstats", "FAXStats"),
    ("waitevent", "WaitEventComplete"),
];

fn table(t: &'static [(&'static str, &'static str)], action: &str) -> Option<&'static str> {
    t.iter()
        .find(|(a, _)| a.eq_ignore_ascii_case(action))
        .map(|&(_, e)| e)
}

/// Who queued an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    User,
    Challenge,
    Login,
    Keepalive,
    /// A server-side filter of the previous session, applied again after the login.
    Replay,
}

/// Session state an action changes when it succeeds.
#[derive(Clone, Debug)]
enum Track {
    None,
    Events(EventMask),
    Filter(Action),
    Logoff,
}

#[derive(Debug)]
struct Pending {
    action: String,
    role: Role,
    expect: Expect,
    sent: bool,
    /// `None`: never times out.
    deadline: Option<Instant>,
    track: Track,
    response: Option<Message>,
    events: Vec<Message>,
    originate: Option<Message>,
    overflow: bool,
    /// Timed out: resolved already; its late answer is dropped when it comes.
    abandoned: bool,
    /// An action Asterisk may take long to answer while it holds the session (a synchronous
    /// Originate, WaitEvent): the keepalive waits for it.
    holds_session: bool,
    seq: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    AwaitingBanner,
    LoggingIn,
    Ready,
    Closed,
}

/// One AMI session's protocol state; see the [module docs](self) for the calling order.
#[derive(Debug)]
pub struct Connection {
    decoder: Decoder,
    inner: Inner,
}

#[derive(Debug)]
struct Inner {
    login: Option<Credentials>,
    login_events: Option<EventMask>,
    action_timeout: Duration,
    login_timeout: Duration,
    resumable: bool,
    /// Ended for good: a Logoff was sent, or [`Connection::close`] was called on a closed
    /// connection. No session follows.
    ended: bool,
    keepalive: Option<Duration>,
    pong_timeout: Duration,
    max_pending: usize,
    max_queued_bytes: usize,
    max_list_items: usize,
    ids: ActionIdGenerator,

    state: State,
    error: Option<ProtocolError>,
    banner: Option<String>,
    out: Vec<u8>,
    /// ActionIDs whose bytes are in `out`, with their place in it (sent once `poll_transmit`
    /// hands them out).
    in_out: Vec<(ActionId, usize, usize)>,
    /// Actions waiting for the login, with their bytes.
    held: VecDeque<(ActionId, Vec<u8>)>,
    pending: HashMap<ActionId, Pending>,
    /// Sent actions awaiting their response, in order, for answers without an ActionID.
    order: VecDeque<ActionId>,
    timers: BinaryHeap<Reverse<(Instant, ActionId)>>,
    outputs: VecDeque<Queued>,
    login_deadline: Option<Instant>,
    next_ping: Option<Instant>,
    /// The keepalive Ping in flight and its Pong deadline.
    ping: Option<(ActionId, Option<Instant>)>,
    mask: EventMask,
    filters: Vec<Action>,
    /// Filters of the previous session, sent again once this one is logged in.
    replay: Vec<Action>,
    logoff_sent: bool,
    goodbye: bool,
    /// The peer closed; processed after the buffered messages.
    eof: bool,
    /// The latest time the caller passed in.
    now: Instant,
    /// Sequence number of the next action (to resolve them in send order on close).
    seq: u64,
    /// User actions in `pending` awaiting a result.
    user_count: usize,
    /// Timed-out actions kept in `pending` until their late answer.
    abandoned_count: usize,
}

impl Connection {
    /// A connection whose socket has just connected at `now`.
    pub fn new(config: ConnectionConfig, now: Instant) -> Connection {
        let ConnectionConfig {
            login,
            events,
            action_timeout,
            login_timeout,
            keepalive,
            pong_timeout,
            max_pending,
            max_queued_bytes,
            max_list_items,
            decoder,
            action_ids,
            resumable,
        } = config;
        Connection {
            decoder: Decoder::with_config(DecoderConfig {
                expect_banner: true,
                ..decoder
            }),
            inner: Inner {
                mask: match (&login, &events) {
                    (Some(_), Some(m)) => m.clone(),
                    _ => EventMask::On,
                },
                login,
                login_events: events,
                action_timeout,
                login_timeout,
                resumable,
                ended: false,
                keepalive,
                pong_timeout,
                max_pending,
                max_queued_bytes,
                max_list_items,
                ids: action_ids,
                state: State::AwaitingBanner,
                error: None,
                banner: None,
                out: Vec::new(),
                in_out: Vec::new(),
                held: VecDeque::new(),
                pending: HashMap::new(),
                order: VecDeque::new(),
                timers: BinaryHeap::new(),
                outputs: VecDeque::new(),
                login_deadline: now.checked_add(login_timeout),
                next_ping: None,
                ping: None,
                filters: Vec::new(),
                replay: Vec::new(),
                logoff_sent: false,
                goodbye: false,
                eof: false,
                now,
                seq: 0,
                user_count: 0,
                abandoned_count: 0,
            },
        }
    }

    // ----- (A) getters -----

    /// The banner, once received.
    pub fn banner(&self) -> Option<&str> {
        self.inner.banner.as_deref()
    }

    /// Whether the login has succeeded (or no login was configured and the banner arrived).
    pub fn is_ready(&self) -> bool {
        self.inner.state == State::Ready
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.inner.state == State::Closed
    }

    /// The protocol error that ended the connection, if one did; it stays set.
    pub fn error(&self) -> Option<&ProtocolError> {
        self.inner.error.as_ref()
    }

    /// The event mask in force: the login's, updated by every successful Events action. A
    /// transport replays it after reconnecting.
    pub fn event_mask(&self) -> &EventMask {
        &self.inner.mask
    }

    /// The `Filter` actions (Operation Add) that succeeded on this session, in order; they
    /// vanish with the session, so a transport replays them after reconnecting.
    pub fn server_filters(&self) -> &[Action] {
        &self.inner.filters
    }

    /// Actions waiting for a result (held for the login included).
    pub fn pending(&self) -> usize {
        self.inner.user_count
    }

    // ----- (B) input -----

    /// Takes bytes read from the socket and returns how many it took: all of them unless the
    /// decoder's buffer is full; then drain [`poll_output`](Self::poll_output) and feed the
    /// rest. Ignored (returns the full length) once closed.
    pub fn receive(&mut self, data: &[u8]) -> usize {
        if self.inner.state == State::Closed {
            return data.len();
        }
        self.decoder.feed(data)
    }

    /// The peer closed the connection. Once [`poll_output`](Self::poll_output) has reported
    /// every message received before it, every pending action resolves (truncated lists,
    /// unknown outcomes), then [`Output::Closed`].
    pub fn receive_eof(&mut self) {
        // Handled by `poll_output` once every buffered message has been decoded.
        self.inner.eof = true;
    }

    /// The end of the stream, once the buffered messages are decoded.
    fn finish_eof(&mut self) {
        if self.inner.state == State::Closed {
            return;
        }
        if let Err(e) = self.decoder.finish() {
            self.inner.outputs.push_back(Queued::DecodeError(e));
        }
        let reason = if self.inner.goodbye {
            CloseReason::Logoff
        } else if self.inner.state != State::Ready && self.inner.login.is_some() {
            CloseReason::ClosedDuringLogin
        } else {
            CloseReason::PeerClosed
        };
        self.inner.close(reason);
    }

    /// Advances time: expires actions, the login and keepalive deadlines, sends keepalive
    /// pings. Calling it before [`poll_timeout`](Self::poll_timeout) is due does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
    }

    // ----- (C) commands -----

    /// Queues an action and returns its ActionID (the action's own, or a generated one). Its
    /// result comes as [`Output::Response`] or [`Output::Failed`] within the default timeout.
    ///
    /// On a [resumable](ConnectionConfig::resumable) connection that has closed, the action
    /// waits for the next session ([`reconnect`](Self::reconnect)) within its deadline.
    pub fn send(&mut self, action: Action, now: Instant) -> Result<ActionId, LocalError> {
        self.inner.now = self.inner.now.max(now);
        let deadline = now.checked_add(self.inner.action_timeout);
        self.inner.send(action, deadline, Role::User)
    }

    /// [`send`](Self::send) with this action's own timeout (one too large for the clock,
    /// such as `Duration::MAX`, means no timeout).
    pub fn send_with_timeout(
        &mut self,
        action: Action,
        timeout: Duration,
        now: Instant,
    ) -> Result<ActionId, LocalError> {
        self.inner.now = self.inner.now.max(now);
        self.inner
            .send(action, now.checked_add(timeout), Role::User)
    }

    /// Sends Logoff; the connection closes with [`CloseReason::Logoff`] after the Goodbye and
    /// the server's close. No action can be sent after it, and no session follows it.
    pub fn logoff(&mut self, now: Instant) -> Result<ActionId, LocalError> {
        self.inner.now = self.inner.now.max(now);
        let deadline = now.checked_add(self.inner.action_timeout);
        self.inner.send(Action::logoff(), deadline, Role::User)
    }

    /// Ends the connection for good (the transport dropped the socket, or gives up
    /// reconnecting): every pending action resolves with [`ActionError::Closed`], then
    /// [`Output::Closed`]`(Local)`. On a connection that has already closed, the actions
    /// kept for a next session ([`ConnectionConfig::resumable`]) fail now.
    pub fn close(&mut self) {
        if self.inner.state != State::Closed {
            self.inner.close(CloseReason::Local);
        }
        self.inner.end();
    }

    /// Starts the next session on a new socket, from this one: the same settings and
    /// credentials, a new login at `now` that asks for the event mask in force
    /// ([`event_mask`](Self::event_mask)), the server-side filters of the last session
    /// ([`server_filters`](Self::server_filters)) sent again right after the login, and then
    /// the actions never written (kept when [`ConnectionConfig::resumable`] is on, or sent
    /// since the close), each within its own deadline. Actions that were written before the
    /// break have failed with [`ActionError::Closed`]` { sent: true }` (their outcome is
    /// unknown) and are never sent again.
    ///
    /// A connection that is still open is closed first ([`CloseReason::Local`]). Refused with
    /// [`LocalError::Closed`] after a Logoff or a [`close`](Self::close), which end the
    /// connection for good. Drain [`poll_output`](Self::poll_output) first: what the last
    /// session reported and was not yet read stays in front.
    pub fn reconnect(&mut self, now: Instant) -> Result<(), LocalError> {
        if self.inner.ended || self.inner.logoff_sent {
            return Err(LocalError::Closed);
        }
        if self.inner.state != State::Closed {
            self.inner.close(CloseReason::Local);
        }
        self.decoder = Decoder::with_config(self.decoder.config().clone());
        self.inner.restart(now);
        Ok(())
    }

    // ----- (D) output -----

    /// What happened, one item at a time, until `None`. Events are borrowed from the
    /// decoder's buffer (no copy); everything else is owned.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output<'_>> {
        loop {
            if let Some(q) = self.inner.outputs.pop_front() {
                return Some(q.into());
            }
            if self.inner.state == State::Closed {
                return None;
            }
            let step = match self.decoder.decode() {
                Ok(None) if self.inner.eof => {
                    self.finish_eof();
                    continue;
                }
                Ok(None) => return None,
                Err(e) => return Some(Output::DecodeError(e)),
                Ok(Some(Frame::Banner(b))) => {
                    let banner = String::from_utf8_lossy(b).into_owned();
                    self.inner.on_banner(banner);
                    Step::Continue
                }
                Ok(Some(Frame::Message(m))) => self.inner.on_message(m),
            };
            match step {
                Step::Continue => continue,
                Step::Event => {
                    return self.decoder.current().map(Output::Event);
                }
                Step::Unmatched => {
                    return self.decoder.current().map(Output::Unmatched);
                }
            }
        }
    }

    /// Appends the bytes to write to `buf` and returns how many. Actions handed out here count
    /// as sent: if the connection then ends without their answer, their outcome is unknown.
    #[must_use = "the bytes must be written to the socket"]
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> usize {
        let n = self.inner.out.len();
        buf.extend_from_slice(&self.inner.out);
        self.inner.out.clear();
        for (id, _, _) in self.inner.in_out.drain(..) {
            if let Some(p) = self.inner.pending.get_mut(&id) {
                p.sent = true;
            }
        }
        n
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let i = &self.inner;
        let timers = i.timers.peek().map(|Reverse((t, _))| *t);
        if i.state == State::Closed {
            // Actions kept for the next session still expire.
            return timers;
        }
        [
            i.login_deadline,
            timers,
            i.next_ping,
            i.ping.as_ref().and_then(|(_, t)| *t),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

enum Step {
    Continue,
    Event,
    Unmatched,
}

/// Adds the `Events:` header to a Login, if a mask is configured, and validates it.
fn with_events(login: Action, mask: Option<&EventMask>) -> Result<Action, EncodeError> {
    let login = match mask {
        Some(m) => login.header("Events", m.to_header_value()),
        None => login,
    };
    login.validate()?;
    Ok(login)
}

fn is_true(v: &[u8]) -> bool {
    ["yes", "true", "y", "t", "1", "on"]
        .iter()
        .any(|t| v.eq_ignore_ascii_case(t.as_bytes()))
}

impl Inner {
    fn send(
        &mut self,
        mut action: Action,
        deadline: Option<Instant>,
        role: Role,
    ) -> Result<ActionId, LocalError> {
        // A closed connection takes user actions only while a next session may come.
        let closed = self.state == State::Closed;
        if (closed && (role != Role::User || !self.resumable || self.ended))
            || (self.logoff_sent && role == Role::User)
        {
            return Err(LocalError::Closed);
        }
        action.validate()?;
        if role == Role::User && self.user_pending() >= self.max_pending {
            return Err(LocalError::TooManyPending {
                limit: self.max_pending,
            });
        }
        let name = action.name().to_owned();
        if closed && name.eq_ignore_ascii_case("logoff") {
            return Err(LocalError::Closed);
        }
        let async_originate = name.eq_ignore_ascii_case("originate")
            && action.get("Async").is_some_and(|v| is_true(v.as_bytes()));
        if async_originate && !self.mask.allows_call() {
            return Err(LocalError::OriginateResultUnavailable {
                mask: self.mask.to_header_value(),
            });
        }
        let id = match action.action_id_value() {
            Some(own) => {
                let id = ActionId::new(own)?;
                if self.pending.contains_key(&id) {
                    return Err(LocalError::DuplicateActionId(id));
                }
                id
            }
            None => {
                // A generated ID never collides with one the caller chose.
                let mut id = self.ids.next_id();
                while self.pending.contains_key(&id) {
                    id = self.ids.next_id();
                }
                action.set_action_id(&id);
                id
            }
        };
        let mut bytes = Vec::with_capacity(action.encoded_len());
        action.encode(&mut bytes)?;
        let queued = self.out.len() + self.held.iter().map(|(_, b)| b.len()).sum::<usize>();
        if role == Role::User && queued + bytes.len() > self.max_queued_bytes {
            return Err(LocalError::OutputFull {
                limit: self.max_queued_bytes,
            });
        }
        let track = if name.eq_ignore_ascii_case("events") {
            Track::Events(EventMask::parse(action.get("EventMask").unwrap_or("")))
        } else if name.eq_ignore_ascii_case("filter")
            && action
                .get("Operation")
                .is_none_or(|o| o.eq_ignore_ascii_case("add"))
        {
            Track::Filter(action.clone())
        } else if name.eq_ignore_ascii_case("logoff") {
            self.logoff_sent = true;
            Track::Logoff
        } else {
            Track::None
        };
        let expect = if async_originate {
            Expect::Originate
        } else {
            Expect::Response
        };
        // The actions Asterisk runs while holding the session for long: a synchronous
        // Originate rings up to its Timeout (manager.c action_originate), WaitEvent waits up
        // to its own (action_waitevent).
        let holds_session = (name.eq_ignore_ascii_case("originate") && !async_originate)
            || name.eq_ignore_ascii_case("waitevent");
        if self.state == State::Ready || role != Role::User {
            let start = self.out.len();
            self.out.extend_from_slice(&bytes);
            self.in_out.push((id.clone(), start, self.out.len()));
            // Answers come in the order actions are written (a held one joins in `ready`).
            self.order.push_back(id.clone());
        } else {
            self.held.push_back((id.clone(), bytes));
        }
        if let (Role::User, Some(deadline)) = (role, deadline) {
            self.timers.push(Reverse((deadline, id.clone())));
        }
        self.pending.insert(
            id.clone(),
            Pending {
                action: name,
                role,
                expect,
                sent: false,
                deadline,
                track,
                response: None,
                events: Vec::new(),
                originate: None,
                overflow: false,
                abandoned: false,
                holds_session,
                seq: self.seq,
            },
        );
        self.seq += 1;
        if role == Role::User {
            self.user_count += 1;
        }
        Ok(id)
    }

    fn user_pending(&self) -> usize {
        self.user_count
    }

    /// Keeps at most `max_pending` timed-out actions waiting for a late answer: beyond that
    /// (a server that stopped answering), the oldest is forgotten.
    fn cap_abandoned(&mut self) {
        while self.abandoned_count > self.max_pending {
            let oldest = self
                .order
                .iter()
                .find(|id| self.pending.get(*id).is_some_and(|p| p.abandoned))
                .cloned();
            let Some(id) = oldest else { break };
            self.pending.remove(&id);
            self.order.retain(|x| *x != id);
            self.abandoned_count -= 1;
        }
    }

    fn on_banner(&mut self, banner: String) {
        const KNOWN: [&str; 5] = [
            "Asterisk Call Manager/",
            "Asterisk Call Manager Proxy/",
            "Asterisk Manager Proxy/",
            "OpenPBX Call Manager/",
            "CallWeaver Call Manager/",
        ];
        if !KNOWN.iter().any(|k| banner.starts_with(k)) {
            self.fail(ProtocolError::BadBanner(banner));
            return;
        }
        self.banner = Some(banner.clone());
        self.outputs.push_back(Queued::Connected(banner));
        // Login steps expire with the login deadline, not a timer of their own.
        let deadline = self.login_deadline;
        match self.login.clone() {
            None => self.ready(),
            Some(c) => {
                self.state = State::LoggingIn;
                let action = match c.method {
                    AuthMethod::Plain => with_events(
                        Action::login(&c.username, c.secret.expose()),
                        self.login_events.as_ref(),
                    ),
                    AuthMethod::Md5 => Ok(Action::challenge()),
                };
                let role = match c.method {
                    AuthMethod::Plain => Role::Login,
                    AuthMethod::Md5 => Role::Challenge,
                };
                self.send_login(action, deadline, role);
            }
        }
    }

    fn ready(&mut self) {
        self.state = State::Ready;
        self.login_deadline = None;
        if let Some(k) = self.keepalive {
            self.next_ping = self.now.checked_add(k);
        }
        // The last session's filters first, so that no event the user asked to exclude
        // arrives after the user's first action.
        for f in std::mem::take(&mut self.replay) {
            let deadline = self.now.checked_add(self.action_timeout);
            // A filter that encoded once encodes again; IDs are fresh.
            let _ = self.send(f, deadline, Role::Replay);
        }
        while let Some((id, bytes)) = self.held.pop_front() {
            let start = self.out.len();
            self.out.extend_from_slice(&bytes);
            self.order.push_back(id.clone());
            self.in_out.push((id, start, self.out.len()));
        }
    }

    /// Starts the next session at `now` (see [`Connection::reconnect`]); the connection is
    /// closed.
    fn restart(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.state = State::AwaitingBanner;
        self.error = None;
        self.banner = None;
        self.login_deadline = now.checked_add(self.login_timeout);
        self.next_ping = None;
        self.ping = None;
        self.goodbye = false;
        self.eof = false;
        // Ask the new session for the mask in force, if one was ever chosen.
        if self.login_events.is_some() || self.mask != EventMask::On {
            self.login_events = Some(self.mask.clone());
        }
        self.replay = std::mem::take(&mut self.filters);
    }

    /// No session follows: the actions kept for one fail.
    fn end(&mut self) {
        self.ended = true;
        let held: Vec<ActionId> = self.held.drain(..).map(|(id, _)| id).collect();
        for id in held {
            if self.pending.remove(&id).is_some() {
                self.user_count -= 1;
                self.outputs
                    .push_back(Queued::Failed(id, ActionError::Closed { sent: false }));
            }
        }
        self.timers.clear();
    }

    fn on_message(&mut self, m: MessageRef<'_>) -> Step {
        if self.state == State::AwaitingBanner {
            self.fail(ProtocolError::MissingBanner);
            return Step::Continue;
        }
        match m.kind() {
            MessageKind::Event => self.on_event(m),
            MessageKind::Response => self.on_response(m),
            _ => Step::Unmatched,
        }
    }

    /// The pending action an answer belongs to: by ActionID, else the oldest one awaiting its
    /// response (Asterisk answers in order).
    fn match_response(&mut self, m: &MessageRef<'_>) -> Option<ActionId> {
        if let Some(raw) = m.action_id() {
            // Only an action that was written can be answered (a peer echoing an ID we hold
            // back must not complete it).
            let id = std::str::from_utf8(raw).ok()?;
            return self
                .pending
                .get_key_value(id)
                .filter(|(_, p)| p.sent && p.response.is_none())
                .map(|(k, _)| k.clone());
        }
        self.clean_order(None);
        self.order
            .iter()
            .find(|id| {
                self.pending
                    .get(*id)
                    .is_some_and(|p| p.sent && p.response.is_none())
            })
            .cloned()
    }

    /// Drops from the front of `order` the actions that no longer await an answer. Asterisk
    /// answers in order, so once the action of sequence `answered` is answered, an abandoned
    /// (timed-out) action sent before it will never be: it is forgotten.
    fn clean_order(&mut self, answered: Option<u64>) {
        while let Some(front) = self.order.front() {
            match self.pending.get(front) {
                Some(p) if p.response.is_none() && !p.abandoned => break,
                Some(p) if p.abandoned && p.response.is_none() => {
                    if answered.is_some_and(|s| p.seq < s) {
                        self.pending.remove(front);
                        self.abandoned_count -= 1;
                    } else {
                        break;
                    }
                }
                _ => {}
            }
            self.order.pop_front();
        }
    }

    fn on_response(&mut self, m: MessageRef<'_>) -> Step {
        let Some(id) = self.match_response(&m) else {
            return Step::Unmatched;
        };
        let seq = self.pending.get(&id).map(|p| p.seq);
        self.clean_order(seq);
        let Some(p) = self.pending.get_mut(&id) else {
            return Step::Unmatched;
        };
        if p.abandoned {
            self.pending.remove(&id);
            self.abandoned_count -= 1;
            return Step::Continue;
        }
        let success = m.response().is_some_and(|r| {
            r.eq_ignore_ascii_case(b"Success") || r.eq_ignore_ascii_case(b"Follows")
        });
        let goodbye = m
            .response()
            .is_some_and(|r| r.eq_ignore_ascii_case(b"Goodbye"));
        if success {
            if let Some(v) = m.event_list() {
                if v.eq_ignore_ascii_case(b"start") {
                    p.expect = Expect::List(table(LEGACY_LISTS, &p.action));
                }
            } else if p.expect == Expect::Response {
                if let Some(e) = table(LEGACY_LISTS, &p.action) {
                    p.expect = Expect::List(Some(e));
                } else if let Some(e) = table(ONE_EVENT, &p.action) {
                    p.expect = Expect::OneEvent(e);
                }
            }
        } else {
            p.expect = Expect::Response;
        }
        p.response = Some(m.to_owned());
        if goodbye {
            self.goodbye = true;
        }
        let done = match p.expect {
            Expect::Response => true,
            Expect::Originate => p.originate.is_some(),
            _ => false,
        };
        if done {
            self.complete(&id);
        }
        Step::Continue
    }

    fn on_event(&mut self, m: MessageRef<'_>) -> Step {
        let Some(raw) = m.action_id() else {
            return Step::Event;
        };
        let Ok(id) = std::str::from_utf8(raw) else {
            return Step::Event;
        };
        let Some(p) = self.pending.get_mut(id) else {
            return Step::Event;
        };
        let id = ActionId::new(id).ok();
        let Some(id) = id else { return Step::Event };
        match p.expect {
            Expect::Originate if m.is_event("OriginateResponse") => {
                p.originate = Some(m.to_owned());
                if p.response.is_some() {
                    self.complete(&id);
                }
                Step::Continue
            }
            Expect::List(legacy) if p.response.is_some() => {
                let end = m.event_list().is_some_and(|v| {
                    v.eq_ignore_ascii_case(b"Complete") || v.eq_ignore_ascii_case(b"Cancelled")
                }) || legacy.is_some_and(|e| m.is_event(e));
                if end {
                    let complete = m.to_owned();
                    self.complete_with(&id, Some(complete));
                } else if p.events.len() >= self.max_list_items {
                    p.overflow = true;
                } else {
                    p.events.push(m.to_owned());
                }
                Step::Continue
            }
            Expect::OneEvent(name) if p.response.is_some() && m.is_event(name) => {
                let complete = m.to_owned();
                self.complete_with(&id, Some(complete));
                Step::Continue
            }
            _ => Step::Event,
        }
    }

    fn complete(&mut self, id: &ActionId) {
        self.complete_with(id, None);
    }

    /// Drops timers of actions that are resolved, so that the next deadline is a real one.
    fn prune_timers(&mut self) {
        while let Some(Reverse((t, id))) = self.timers.peek() {
            let live = self
                .pending
                .get(id)
                .is_some_and(|p| !p.abandoned && p.deadline == Some(*t));
            if live {
                break;
            }
            self.timers.pop();
        }
    }

    fn complete_with(&mut self, id: &ActionId, complete: Option<Message>) {
        let Some(p) = self.pending.remove(id) else {
            return;
        };
        if p.role == Role::User {
            self.user_count -= 1;
        }
        self.prune_timers();
        let Some(message) = p.response else {
            return;
        };
        let success = message
            .as_ref()
            .response()
            .is_some_and(|r| r.eq_ignore_ascii_case(b"Success"));
        match p.role {
            Role::Challenge => return self.on_challenge(&message),
            Role::Login => {
                if success {
                    self.outputs.push_back(Queued::LoggedIn);
                    self.ready();
                } else {
                    let text = message
                        .get_str("Message")
                        .unwrap_or("login refused")
                        .to_owned();
                    self.close(CloseReason::LoginFailed { message: text });
                }
                return;
            }
            Role::Keepalive => {
                if self.ping.as_ref().is_some_and(|(pid, _)| pid == id) {
                    self.ping = None;
                }
                return;
            }
            Role::Replay => {
                // Kept for the sessions after this one if the server took it again; a
                // filter it now refuses (the user lost the system write class) is dropped.
                if let (true, Track::Filter(a)) = (success, p.track) {
                    self.filters.push(a);
                }
                return;
            }
            Role::User => {}
        }
        if success {
            match &p.track {
                Track::Events(mask) => self.mask = mask.clone(),
                Track::Filter(a) => self.filters.push(a.clone()),
                Track::None | Track::Logoff => {}
            }
        }
        if p.overflow {
            self.outputs.push_back(Queued::Failed(
                id.clone(),
                ActionError::ListTooLong {
                    limit: self.max_list_items,
                },
            ));
            return;
        }
        self.outputs.push_back(Queued::Response(Box::new(Response {
            id: id.clone(),
            action: p.action,
            message,
            events: p.events,
            complete,
            originate: p.originate,
        })));
    }

    fn on_challenge(&mut self, message: &Message) {
        let Some(c) = self.login.clone() else {
            return;
        };
        let success = message
            .as_ref()
            .response()
            .is_some_and(|r| r.eq_ignore_ascii_case(b"Success"));
        if !success {
            let text = message
                .get_str("Message")
                .unwrap_or("challenge refused")
                .to_owned();
            return self.close(CloseReason::LoginFailed { message: text });
        }
        let Some(challenge) = message.get("Challenge") else {
            return self.fail(ProtocolError::NoChallenge);
        };
        use md5::{Digest, Md5};
        let mut h = Md5::new();
        h.update(challenge);
        h.update(c.secret.expose().as_bytes());
        let key: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let action = with_events(
            Action::login_md5(&c.username, &key),
            self.login_events.as_ref(),
        );
        self.send_login(action, self.login_deadline, Role::Login);
    }

    /// Queues a login step; a login that cannot be encoded ends the connection.
    fn send_login(
        &mut self,
        action: Result<Action, EncodeError>,
        deadline: Option<Instant>,
        role: Role,
    ) {
        let result = action
            .map_err(LocalError::Encode)
            .and_then(|a| self.send(a, deadline, role));
        match result {
            Ok(_) => {}
            Err(LocalError::Encode(e)) => self.close(CloseReason::InvalidLogin(e)),
            // Login steps bypass the user limits and get fresh IDs: nothing else can fail
            // while the connection is open.
            Err(_) => self.close(CloseReason::Local),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        // Once closed, only the actions kept for a next session can expire.
        let closed = self.state == State::Closed;
        if !closed {
            if self.login_deadline.is_some_and(|d| d <= now) && self.state != State::Ready {
                return self.close(CloseReason::LoginTimeout);
            }
            if let Some((_, Some(deadline))) = &self.ping {
                if *deadline <= now {
                    return self.close(CloseReason::KeepaliveTimeout);
                }
            }
        }
        while let Some(Reverse((t, _))) = self.timers.peek() {
            if *t > now {
                break;
            }
            let Some(Reverse((t, id))) = self.timers.pop() else {
                break;
            };
            let Some(p) = self.pending.get_mut(&id) else {
                continue;
            };
            if p.abandoned || p.deadline != Some(t) {
                continue;
            }
            if p.role != Role::User {
                // Login steps have the login deadline; keepalive has the pong deadline.
                continue;
            }
            let sent = p.sent;
            if sent && p.response.is_none() {
                // Keep it in order so that its late answer is recognised and dropped; it no
                // longer counts as pending.
                p.abandoned = true;
                self.user_count -= 1;
                self.abandoned_count += 1;
                self.cap_abandoned();
            } else {
                self.pending.remove(&id);
                self.user_count -= 1;
                self.held.retain(|(h, _)| *h != id);
            }
            self.outputs
                .push_back(Queued::Failed(id, ActionError::TimedOut { sent }));
        }
        self.prune_timers();
        if closed {
            return;
        }
        if let Some(interval) = self.keepalive {
            if self.state == State::Ready && self.ping.is_none() {
                match self.next_ping {
                    None => self.next_ping = now.checked_add(interval),
                    Some(t) if t <= now && self.long_action_running() => {
                        // Asterisk runs a session's actions one at a time: a Ping now would
                        // wait behind a synchronous Originate ringing up to its Timeout (or a
                        // WaitEvent), and its Pong deadline would end a healthy session. That
                        // action's own deadline watches the link meanwhile. Behind any other
                        // action the Ping goes: a quick answer is due, and a dead link with an
                        // action pending is still found out in `pong_timeout`.
                        self.next_ping = now.checked_add(interval);
                    }
                    Some(t) if t <= now => {
                        let deadline = now.checked_add(self.pong_timeout);
                        if let Ok(id) = self.send(Action::ping(), deadline, Role::Keepalive) {
                            self.ping = Some((id, deadline));
                        }
                        self.next_ping = now.checked_add(interval);
                    }
                    Some(_) => {}
                }
            }
        }
    }

    /// A user's action that holds the session (a synchronous Originate, WaitEvent), written
    /// and not yet answered nor given up on.
    fn long_action_running(&self) -> bool {
        self.pending.values().any(|p| {
            p.holds_session
                && p.role == Role::User
                && p.sent
                && !p.abandoned
                && p.response.is_none()
        })
    }

    fn fail(&mut self, e: ProtocolError) {
        self.error = Some(e.clone());
        self.close(CloseReason::Protocol(e));
    }

    fn close(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.order.clear();
        // The user's actions never written, in the order they were queued: kept for the
        // next session, or failed below.
        let mut unsent: VecDeque<(ActionId, Vec<u8>)> = VecDeque::new();
        for (id, start, end) in self.in_out.drain(..) {
            if self
                .pending
                .get(&id)
                .is_some_and(|p| p.role == Role::User && !p.sent)
            {
                unsent.push_back((id, self.out[start..end].to_vec()));
            }
        }
        unsent.append(&mut self.held);
        let keep = self.resumable && !self.ended && !self.logoff_sent;
        let mut kept = std::collections::HashSet::new();
        if keep {
            kept.extend(unsent.iter().map(|(id, _)| id.clone()));
            self.held = unsent;
        }
        let mut ids: Vec<(u64, ActionId)> = self
            .pending
            .iter()
            .filter(|(id, _)| !kept.contains(*id))
            .map(|(id, p)| (p.seq, id.clone()))
            .collect();
        ids.sort();
        for (_, id) in ids {
            let Some(p) = self.pending.remove(&id) else {
                continue;
            };
            if p.abandoned || p.role != Role::User {
                continue;
            }
            let error = match p.response {
                Some(message)
                    if matches!(
                        p.expect,
                        Expect::List(_) | Expect::OneEvent(_) | Expect::Originate
                    ) =>
                {
                    ActionError::Truncated(Box::new(Response {
                        id: id.clone(),
                        action: p.action,
                        message,
                        events: p.events,
                        complete: None,
                        originate: p.originate,
                    }))
                }
                _ => ActionError::Closed { sent: p.sent },
            };
            self.outputs.push_back(Queued::Failed(id, error));
        }
        self.user_count = self.held.len();
        self.abandoned_count = 0;
        self.timers.clear();
        for (id, _) in &self.held {
            if let Some(d) = self.pending.get(id).and_then(|p| p.deadline) {
                self.timers.push(Reverse((d, id.clone())));
            }
        }
        self.out.clear();
        self.ping = None;
        self.next_ping = None;
        self.login_deadline = None;
        self.outputs.push_back(Queued::Closed(reason));
    }
}
