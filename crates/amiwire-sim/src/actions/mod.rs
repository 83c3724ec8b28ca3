//! The actions: one row of [`ACTIONS`] each (name, privilege, description, handler) and one
//! function each, in the module of its kind. A handler gets the session's state
//! ([`SessionState`]), the action and its ActionID, and returns the [`Reply`].
//!
//! - [`login`]: Login, Challenge, Logoff, Events, Filter (the session's own state);
//! - [`basic`]: Ping, CoreStatus, CoreSettings, ListCommands, ListCategories, LoggerRotate,
//!   WaitEvent;
//! - [`vars`]: Getvar, Setvar, UserEvent;
//! - [`channels`]: Originate, Hangup, Redirect, CoreShowChannels, Status;
//! - [`command`]: Command (the CLI);
//! - [`lists`]: the event lists of recording 06 and QueuePause;
//! - [`info`]: GetConfig, ModuleCheck, Reload.

use std::sync::Arc;
use std::time::Duration;

use amiwire::filter::FilterSet;
use amiwire::MessageRef;

use crate::accounts::Privileges;
use crate::pbx::Shared;
use crate::wire::{error, SimEvent};

pub(crate) mod basic;
pub(crate) mod channels;
pub(crate) mod command;
pub(crate) mod info;
pub(crate) mod lists;
pub(crate) mod login;
pub(crate) mod vars;

/// What an action may read and change of its session.
#[derive(Debug)]
pub(crate) struct SessionState {
    pub(crate) shared: Arc<Shared>,
    pub(crate) user: Option<String>,
    pub(crate) read: Privileges,
    pub(crate) write: Privileges,
    pub(crate) mask: Privileges,
    pub(crate) filters: FilterSet,
    pub(crate) challenge: Option<String>,
    pub(crate) peer: std::net::SocketAddr,
    pub(crate) local: std::net::SocketAddr,
    pub(crate) http: bool,
    /// An event this session already wrote itself (its own SuccessfulAuth), to be skipped
    /// when it comes back through the event bus.
    pub(crate) own_event: Option<Arc<Vec<u8>>>,
    /// This session's id in the list of `manager show connected`.
    pub(crate) id: u64,
}

impl SessionState {
    /// Shows the logged-in user in `manager show connected`.
    pub(crate) fn registered_login(&self) {
        let (user, read, write) = (
            self.user.clone().unwrap_or_default(),
            self.read.bits(),
            self.write.bits(),
        );
        self.shared.update_connected(self.id, |c| {
            c.username = user;
            c.read = read;
            c.write = write;
        });
    }

    /// Whether this session's filters pass `event` (parsed from its text).
    fn filters_pass(&self, event: &SimEvent) -> bool {
        if self.filters.is_empty() {
            return true;
        }
        let mut d = amiwire::Decoder::with_config(amiwire::DecoderConfig::without_banner());
        let _ = d.feed(&event.text);
        match d.decode() {
            Ok(Some(amiwire::Frame::Message(m))) => self.filters.matches(&m),
            _ => false,
        }
    }
}

/// What handles an action: the session's state, the action, its ActionID.
pub(crate) type Handler = fn(&mut SessionState, &MessageRef<'_>, Option<&str>) -> Reply;

/// One action the simulator implements.
pub(crate) struct Action {
    /// Its name, as ListCommands writes it (matched in any case).
    pub(crate) name: &'static str,
    /// Its authority: the classes of which the user's write rights need one (none: anyone).
    pub(crate) authority: &'static str,
    /// Asterisk's description (ListCommands).
    pub(crate) description: &'static str,
    /// What runs it.
    pub(crate) handler: Handler,
}

const fn row(
    name: &'static str,
    authority: &'static str,
    description: &'static str,
    handler: Handler,
) -> Action {
    Action {
        name,
        authority,
        description,
        handler,
    }
}

/// The actions the simulator implements: name, authority (Asterisk's classes for it),
/// description, as a real Asterisk 22 lists them in ListCommands (in its order), and handler.
pub(crate) const ACTIONS: &[Action] = &[
    row(
        "Agents",
        "agent",
        "Lists agents and their status.",
        |s, _, id| lists::agents(&s.shared, id),
    ),
    row(
        "BridgeList",
        "",
        "Get a list of bridges in the system.",
        |s, _, id| lists::bridge_list(&s.shared, id),
    ),
    row(
        "Challenge",
        "",
        "Generate Challenge for MD5 Auth.",
        SessionState::challenge,
    ),
    row(
        "Command",
        "command",
        "Execute Asterisk CLI Command.",
        SessionState::command,
    ),
    row(
        "ConfbridgeList",
        "reporting",
        "List participants in a conference.",
        |s, m, id| lists::confbridge_list(&s.shared, m, id),
    ),
    row(
        "ConfbridgeListRooms",
        "reporting",
        "List active conferences.",
        |s, _, id| lists::confbridge_list_rooms(&s.shared, id),
    ),
    row(
        "CoreSettings",
        "system,reporting",
        "Show PBX core settings (version etc).",
        SessionState::core_settings,
    ),
    row(
        "CoreShowChannelMap",
        "system,reporting",
        "List all channels connected to the specified channel.",
        |s, m, id| lists::core_show_channel_map(&s.shared, m, id),
    ),
    row(
        "CoreShowChannels",
        "system,reporting",
        "List currently active channels.",
        SessionState::core_show_channels,
    ),
    row(
        "CoreStatus",
        "system,reporting",
        "Show PBX core status variables.",
        SessionState::core_status,
    ),
    row(
        "DeviceStateList",
        "call,reporting",
        "List the current known device states.",
        |s, _, id| lists::device_state_list(&s.shared, id),
    ),
    row("Events", "", "Control Event Flow.", SessionState::events),
    row(
        "ExtensionStateList",
        "call,reporting",
        "List the current known extension states.",
        |_, _, id| lists::extension_state_list(id),
    ),
    row(
        "Filter",
        "system",
        "Dynamically add filters for the current manager session.",
        SessionState::filter,
    ),
    row(
        "GetConfig",
        "system,config",
        "Retrieve configuration.",
        |s, m, id| info::getconfig(&s.shared, m, id),
    ),
    row(
        "Getvar",
        "call,reporting",
        "Gets a channel variable or function value.",
        SessionState::getvar,
    ),
    row(
        "Hangup",
        "system,call",
        "Hangup channel.",
        SessionState::hangup,
    ),
    row(
        "ListCategories",
        "config",
        "List categories in configuration file.",
        SessionState::list_categories,
    ),
    row(
        "ListCommands",
        "",
        "List available manager commands.",
        SessionState::list_commands,
    ),
    row(
        "LoggerRotate",
        "system,reporting",
        "Reload and rotate the Asterisk logger.",
        SessionState::logger_rotate,
    ),
    row("Login", "", "Login Manager.", SessionState::login),
    row("Logoff", "", "Logoff Manager.", SessionState::logoff),
    row(
        "ModuleCheck",
        "system",
        "Check if module is loaded.",
        |_, m, id| info::modulecheck(m, id),
    ),
    row(
        "Originate",
        "originate",
        "Originate a call.",
        SessionState::originate,
    ),
    row("ParkedCalls", "call", "List parked calls.", |_, m, id| {
        lists::parked_calls(m, id)
    }),
    row(
        "Parkinglots",
        "call",
        "Get a list of parking lots",
        |_, _, id| lists::parking_lots(id),
    ),
    row("Ping", "", "Keepalive command.", SessionState::ping),
    row(
        "PresenceStateList",
        "call,reporting",
        "List the current known presence states.",
        |_, _, id| lists::presence_state_list(id),
    ),
    row(
        "QueuePause",
        "agent",
        "Makes a queue member temporarily unavailable.",
        |s, m, id| lists::queue_pause(&s.shared, m, id),
    ),
    row("QueueStatus", "", "Show queue status.", |s, m, id| {
        lists::queue_status(&s.shared, m, id)
    }),
    row("QueueSummary", "", "Show queue summary.", |s, m, id| {
        lists::queue_summary(&s.shared, m, id)
    }),
    row(
        "Redirect",
        "call",
        "Redirect (transfer) a call.",
        SessionState::redirect,
    ),
    row(
        "Reload",
        "system,config",
        "Send a reload event.",
        |_, m, id| info::reload(m, id),
    ),
    row(
        "Setvar",
        "call",
        "Sets a channel variable or function value.",
        SessionState::setvar,
    ),
    row(
        "ShowDialPlan",
        "config,reporting",
        "Show dialplan contexts and extensions",
        |s, m, id| lists::show_dialplan(&s.shared, m, id),
    ),
    row(
        "Status",
        "system,call,reporting",
        "List channel status.",
        SessionState::status,
    ),
    row(
        "UserEvent",
        "user",
        "Send an arbitrary event.",
        SessionState::user_event,
    ),
    row(
        "WaitEvent",
        "",
        "Wait for an event to occur.",
        SessionState::wait_event,
    ),
];

/// The action of that name, in any case.
pub(crate) fn find(name: &str) -> Option<&'static Action> {
    ACTIONS.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// What the server does after writing a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Then {
    /// Keep reading actions.
    Continue,
    /// Close the connection.
    Close,
}

/// The answer to one action.
#[derive(Clone, Debug)]
pub struct Reply {
    /// Wait this long before writing (a failed login).
    pub delay: Duration,
    /// The bytes to write.
    pub bytes: Vec<u8>,
    /// Events raised by the action, for every session (this one included, unless it wrote
    /// the event into `bytes` itself: [`crate::session::Session::is_own_event`]).
    pub events: Vec<SimEvent>,
    /// What next.
    pub then: Then,
    /// A call to start; for a synchronous Originate, `bytes` is empty and the answer is
    /// written once the call is answered or fails ([`crate::wire::originate_reply`]).
    pub originate: Option<crate::call::OriginateRequest>,
}

impl Reply {
    pub(crate) fn new(bytes: Vec<u8>) -> Reply {
        Reply {
            delay: Duration::ZERO,
            bytes,
            events: Vec::new(),
            then: Then::Continue,
            originate: None,
        }
    }
}

/// Asterisk's answer to a message it could not parse: a line over its 1024-byte buffer, or
/// more than 128 lines (`AST_MAX_MANHEADERS`).
pub fn parse_error_reply(e: amiwire::DecodeError) -> Reply {
    let text = match e {
        amiwire::DecodeError::TooManyHeaders { .. } => {
            "Too many lines in message or allocation failure"
        }
        _ => "Failed to parse message: line too long",
    };
    Reply::new(error(None, text))
}
