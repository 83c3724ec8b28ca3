//! One AMI session's behaviour, without I/O: an action in, the bytes Asterisk would answer
//! (and what to do next) out. The server in [`crate::server`] moves the bytes.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amiwire::filter::FilterSet;
use amiwire::MessageRef;

use crate::accounts::Privileges;
pub use crate::actions::{parse_error_reply, Reply, Then};
pub use crate::pbx::{Identity, Shared};
use crate::wire::{civil, error, event_tv, plural, unix_now, Out};
pub use crate::wire::{originate_reply, SimEvent};

/// The actions the simulator implements: name, authority (Asterisk's classes for it) and
/// description, as a real Asterisk 22 lists them in ListCommands.
const ACTIONS: &[(&str, &str, &str)] = &[
    ("Agents", "agent", "Lists agents and their status."),
    ("BridgeList", "", "Get a list of bridges in the system."),
    ("Challenge", "", "Generate Challenge for MD5 Auth."),
    ("Command", "command", "Execute Asterisk CLI Command."),
    (
        "ConfbridgeList",
        "reporting",
        "List participants in a conference.",
    ),
    (
        "ConfbridgeListRooms",
        "reporting",
        "List active conferences.",
    ),
    (
        "CoreSettings",
        "system,reporting",
        "Show PBX core settings (version etc).",
    ),
    (
        "CoreShowChannelMap",
        "system,reporting",
        "List all channels connected to the specified channel.",
    ),
    (
        "CoreShowChannels",
        "system,reporting",
        "List currently active channels.",
    ),
    (
        "CoreStatus",
        "system,reporting",
        "Show PBX core status variables.",
    ),
    (
        "DeviceStateList",
        "call,reporting",
        "List the current known device states.",
    ),
    ("Events", "", "Control Event Flow."),
    (
        "ExtensionStateList",
        "call,reporting",
        "List the current known extension states.",
    ),
    (
        "Filter",
        "system",
        "Dynamically add filters for the current manager session.",
    ),
    ("GetConfig", "system,config", "Retrieve configuration."),
    (
        "Getvar",
        "call,reporting",
        "Gets a channel variable or function value.",
    ),
    ("Hangup", "system,call", "Hangup channel."),
    (
        "ListCategories",
        "config",
        "List categories in configuration file.",
    ),
    ("ListCommands", "", "List available manager commands."),
    (
        "LoggerRotate",
        "system,reporting",
        "Reload and rotate the Asterisk logger.",
    ),
    ("Login", "", "Login Manager."),
    ("Logoff", "", "Logoff Manager."),
    ("ModuleCheck", "system", "Check if module is loaded."),
    ("Originate", "originate", "Originate a call."),
    ("ParkedCalls", "call", "List parked calls."),
    ("Parkinglots", "call", "Get a list of parking lots"),
    ("Ping", "", "Keepalive command."),
    (
        "PresenceStateList",
        "call,reporting",
        "List the current known presence states.",
    ),
    (
        "QueuePause",
        "agent",
        "Makes a queue member temporarily unavailable.",
    ),
    ("QueueStatus", "", "Show queue status."),
    ("QueueSummary", "", "Show queue summary."),
    ("Redirect", "call", "Redirect (transfer) a call."),
    ("Reload", "system,config", "Send a reload event."),
    (
        "Setvar",
        "call",
        "Sets a channel variable or function value.",
    ),
    (
        "ShowDialPlan",
        "config,reporting",
        "Show dialplan contexts and extensions",
    ),
    ("Status", "system,call,reporting", "List channel status."),
    ("UserEvent", "user", "Send an arbitrary event."),
    ("WaitEvent", "", "Wait for an event to occur."),
];

/// One session's state.
#[derive(Debug)]
pub struct Session {
    shared: Arc<Shared>,
    user: Option<String>,
    read: Privileges,
    write: Privileges,
    mask: Privileges,
    filters: FilterSet,
    challenge: Option<String>,
    peer: std::net::SocketAddr,
    local: std::net::SocketAddr,
    http: bool,
    /// An event this session already wrote itself (its own SuccessfulAuth), to be skipped
    /// when it comes back through the event bus.
    own_event: Option<Arc<Vec<u8>>>,
    /// This session's id in the list of `manager show connected`.
    id: u64,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.shared.connected().retain(|c| c.id != self.id);
    }
}

impl Session {
    /// A new, unauthenticated session from `peer`, accepted on `local`.
    pub fn new(
        shared: Arc<Shared>,
        peer: std::net::SocketAddr,
        local: std::net::SocketAddr,
    ) -> Session {
        let id = shared.register(peer.ip());
        Session {
            id,
            shared,
            user: None,
            read: Privileges::default(),
            write: Privileges::default(),
            mask: Privileges::default(),
            filters: FilterSet::new(),
            challenge: None,
            peer,
            local,
            http: false,
            own_event: None,
        }
    }

    /// Logs the session in as `username` without a Login action (HTTP Digest authentication
    /// did it); `false` for an unknown user.
    pub fn authenticate(&mut self, username: &str) -> bool {
        let Some(account) = self.shared.accounts.get(username) else {
            return false;
        };
        self.read = account.read;
        self.write = account.write;
        self.mask = account.read;
        self.filters = account.filters.clone();
        self.user = Some(account.username.clone());
        self.registered_login();
        true
    }

    /// Shows the logged-in user in `manager show connected`.
    fn registered_login(&self) {
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

    /// Marks this session as an AMI-over-HTTP one (no FullyBooted after the login).
    pub fn set_http(&mut self) {
        self.http = true;
        self.shared.update_connected(self.id, |c| c.fd = -1);
    }

    /// The simulator's shared state.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The logged-in user.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Whether this session receives `event` (Asterisk's `should_send_event` plus the mask:
    /// the event's class must be within the session's mask, and the filters must pass it).
    pub fn wants(&self, event: &SimEvent, msg: &MessageRef<'_>) -> bool {
        self.may_want(event) && self.filters.matches(msg)
    }

    /// The part of [`wants`](Self::wants) that needs no parsing: logged in and the event's
    /// class within the mask.
    pub fn may_want(&self, event: &SimEvent) -> bool {
        self.user.is_some() && self.mask.contains(event.class)
    }

    /// Whether `event` is one this session already wrote itself (see [`Reply::events`]); it is
    /// skipped then, once.
    pub fn is_own_event(&mut self, event: &SimEvent) -> bool {
        match &self.own_event {
            Some(t) if Arc::ptr_eq(t, &event.text) => {
                self.own_event = None;
                true
            }
            _ => false,
        }
    }

    /// Whether the session has event filters (then [`wants`](Self::wants) needs the parsed
    /// event).
    pub fn has_filters(&self) -> bool {
        !self.filters.is_empty()
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

    /// Handles one action.
    pub fn handle(&mut self, m: &MessageRef<'_>) -> Reply {
        let id = m.get_str("ActionID");
        let action = m.get_str("Action").unwrap_or("");
        if action.is_empty() {
            return Reply::new(error(id, "Missing action in request"));
        }
        let a = action.to_ascii_lowercase();
        if self.user.is_none() && !matches!(a.as_str(), "login" | "logoff" | "challenge") {
            return Reply::new(error(id, "Permission denied"));
        }
        let Some(&(_, authority, _)) = ACTIONS.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(&a))
        else {
            return Reply::new(error(
                id,
                &format!(
                    "Invalid/unknown command: {action}. Use Action: ListCommands to show available commands."
                ),
            ));
        };
        // Asterisk's process_message: any one of the action's classes is enough.
        let authority = Privileges::parse(authority);
        if self.user.is_some() && !self.write.permits_action(authority) {
            return Reply::new(error(id, "Permission denied"));
        }
        match a.as_str() {
            "login" => self.login(m, id),
            "challenge" => self.challenge(m, id),
            "logoff" => Reply {
                then: Then::Close,
                ..Reply::new(
                    Out::response("Goodbye", id)
                        .h("Message", "Thanks for all the fish.")
                        .done(),
                )
            },
            "ping" => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                Reply::new(
                    Out::response("Success", id)
                        .h("Ping", "Pong")
                        .h(
                            "Timestamp",
                            format!("{}.{:06}", now.as_secs(), now.subsec_micros()),
                        )
                        .done(),
                )
            }
            "events" => self.events(m, id),
            "command" => self.command(m, id),
            "corestatus" => self.core_status(id),
            "coresettings" => self.core_settings(id),
            "getvar" => self.getvar(m, id),
            "setvar" => self.setvar(m, id),
            "userevent" => self.user_event(m, id),
            "originate" => self.originate(m, id),
            "hangup" => {
                let ok = m
                    .get_str("Channel")
                    .is_some_and(|c| self.shared.channels.hangup(c));
                Reply::new(if ok {
                    Out::response("Success", id)
                        .h("Message", "Channel Hungup")
                        .done()
                } else {
                    error(id, "No such channel")
                })
            }
            "coreshowchannels" => self.core_show_channels(id),
            "filter" => self.filter(m, id),
            "status" => self.status(m, id),
            "redirect" => self.redirect(m, id),
            "listcommands" => {
                let mut out = Out::response("Success", id);
                for (name, authority, text) in ACTIONS {
                    let privs = Privileges::parse(authority);
                    let privs = if privs.is_empty() {
                        "<none>".to_owned()
                    } else {
                        privs.to_string()
                    };
                    out = out.h(name, format!("{text}  (Priv: {privs})"));
                }
                Reply::new(out.done())
            }
            "listcategories" => self.list_categories(m, id),
            "getconfig" => crate::actions::info::getconfig(&self.shared, m, id),
            "modulecheck" => crate::actions::info::modulecheck(m, id),
            "reload" => crate::actions::info::reload(m, id),
            "coreshowchannelmap" => {
                crate::actions::lists::core_show_channel_map(&self.shared, m, id)
            }
            "devicestatelist" => crate::actions::lists::device_state_list(&self.shared, id),
            "extensionstatelist" => crate::actions::lists::extension_state_list(id),
            "presencestatelist" => crate::actions::lists::presence_state_list(id),
            "bridgelist" => crate::actions::lists::bridge_list(&self.shared, id),
            "parkinglots" => crate::actions::lists::parking_lots(id),
            "parkedcalls" => crate::actions::lists::parked_calls(m, id),
            "showdialplan" => crate::actions::lists::show_dialplan(&self.shared, m, id),
            "queuestatus" => crate::actions::lists::queue_status(&self.shared, m, id),
            "queuepause" => crate::actions::lists::queue_pause(&self.shared, m, id),
            "queuesummary" => crate::actions::lists::queue_summary(&self.shared, m, id),
            "agents" => crate::actions::lists::agents(&self.shared, id),
            "confbridgelistrooms" => crate::actions::lists::confbridge_list_rooms(&self.shared, id),
            "confbridgelist" => crate::actions::lists::confbridge_list(&self.shared, m, id),
            "loggerrotate" => Reply::new(
                Out::response("Success", id)
                    .h("Message", "Reloaded the logger and rotated log files")
                    .done(),
            ),
            "waitevent" => {
                // Over TCP, events are delivered as they happen; WaitEvent just completes.
                let mut bytes = Out::response("Success", id)
                    .h("Message", "Waiting for Event completed.")
                    .done();
                let mut ev = String::from("Event: WaitEventComplete\r\n");
                if let Some(id) = id {
                    let _ = write!(ev, "ActionID: {id}\r\n");
                }
                ev.push_str("\r\n");
                bytes.extend_from_slice(ev.as_bytes());
                Reply::new(bytes)
            }
            _ => Reply::new(error(id, "Invalid/unknown command")),
        }
    }

    fn failed_login(&self, id: Option<&str>) -> Reply {
        Reply {
            delay: self.shared.failed_login_delay,
            then: Then::Close,
            ..Reply::new(error(id, "Authentication failed"))
        }
    }

    fn login(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        if self.user.is_some() {
            return Reply::new(
                Out::response("Success", id)
                    .h("Message", "Already authenticated")
                    .done(),
            );
        }
        let username = m.get_str("Username").unwrap_or("");
        let Some(account) = self.shared.accounts.get(username) else {
            return self.failed_login(id);
        };
        if !account.permits(self.peer.ip()) {
            return self.failed_login(id);
        }
        let ok = match m.get_str("AuthType") {
            Some(t) if t.eq_ignore_ascii_case("md5") => match (&self.challenge, m.get_str("Key")) {
                (Some(ch), Some(key)) => account.check_md5_key(ch, key),
                _ => false,
            },
            _ => m.get_str("Secret").is_some_and(|s| account.check_secret(s)),
        };
        if !ok {
            return self.failed_login(id);
        }
        let name = account.username.clone();
        self.read = account.read;
        self.write = account.write;
        // A new session gets every event its read rights allow; `Events:` narrows that.
        self.mask = m
            .get_str("Events")
            .and_then(|v| Privileges::event_mask_from_events_header(v, account.read))
            .unwrap_or(account.read);
        self.filters = account.filters.clone();
        self.user = Some(name.clone());
        self.registered_login();
        let mut reply = Reply::new(
            Out::response("Success", id)
                .h("Message", "Authentication accepted")
                .done(),
        );
        // Asterisk follows a login with FullyBooted (system class) for this session only.
        let uptime = self.shared.started.elapsed().as_secs();
        let booted = SimEvent::new(
            "FullyBooted",
            Privileges::SYSTEM,
            &[
                ("Uptime", &uptime.to_string()),
                ("LastReload", &uptime.to_string()),
                ("Status", "Fully Booted"),
            ],
        );
        if self.mask.contains(booted.class) && !self.http {
            reply.bytes.extend_from_slice(&booted.text);
        }
        // And a SuccessfulAuth security event, for every session reading `security`.
        let tv = event_tv(SystemTime::now());
        let addr = |a: std::net::SocketAddr| {
            let v = if a.is_ipv4() { "IPV4" } else { "IPV6" };
            format!("{v}/TCP/{}/{}", a.ip(), a.port())
        };
        let session_id = format!(
            "0x{:x}",
            Arc::as_ptr(&self.shared) as usize ^ self.peer.port() as usize
        );
        let auth = SimEvent::new(
            "SuccessfulAuth",
            Privileges::SECURITY,
            &[
                ("EventTV", &tv),
                ("Severity", "Informational"),
                ("Service", "AMI"),
                ("EventVersion", "1"),
                ("AccountID", &name),
                ("SessionID", &session_id),
                ("LocalAddress", &addr(self.local)),
                ("RemoteAddress", &addr(self.peer)),
                ("UsingPassword", "0"),
                ("SessionTV", &tv),
            ],
        );
        // Asterisk raises it through stasis (main/security_events.c, forwarded to the manager
        // topic) while authenticating, and the session flushes its queued events right after
        // the Login action (process_message → process_events): recordings 01 and 10 show it
        // right after the Login answer and FullyBooted, before the answer to an action
        // pipelined after the Login. So this session writes it itself, under the mask and
        // filters it has now, and skips it when it comes back through the event bus (HTTP
        // sessions collect it for WaitEvent instead, as recording 11a shows).
        if !self.http && self.mask.contains(auth.class) && self.filters_pass(&auth) {
            reply.bytes.extend_from_slice(&auth.text);
            self.own_event = Some(auth.text.clone());
        }
        reply.events.push(auth);
        reply
    }

    fn challenge(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        match m.get_str("AuthType") {
            Some(t) if t.eq_ignore_ascii_case("md5") => {
                let fixed = self.shared.fixed_challenge.clone();
                let ch = self
                    .challenge
                    .get_or_insert_with(|| {
                        if let Some(f) = fixed {
                            return f;
                        }
                        use std::hash::BuildHasher;
                        let r = std::collections::hash_map::RandomState::new().hash_one(0u8);
                        (r % 1_000_000_000).to_string()
                    })
                    .clone();
                Reply::new(Out::response("Success", id).h("Challenge", ch).done())
            }
            _ => Reply::new(error(id, "Must specify AuthType")),
        }
    }

    fn events(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        let Some(mask) = m
            .get_str("EventMask")
            .and_then(|v| Privileges::event_mask_from_events_header(v, self.read))
        else {
            return Reply::new(error(id, "Invalid event mask"));
        };
        self.mask = mask;
        let on = if self.mask.is_empty() { "Off" } else { "On" };
        Reply::new(Out::response("Success", id).h("Events", on).done())
    }

    fn command(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        let Some(cmd) = m.get_str("Command") else {
            return Reply::new(error(id, "No command provided"));
        };
        let uptime = self.shared.started.elapsed().as_secs();
        // main/cli.c parse_args: words split at blanks; commands match case-insensitively.
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let lower = words.join(" ").to_ascii_lowercase();
        let (ok, lines): (bool, Vec<String>) = match lower.as_str() {
            "core show version" => (
                true,
                vec![format!(
                    "Asterisk {} {}",
                    self.shared.identity.asterisk_version, self.shared.identity.build
                )],
            ),
            "core show uptime" => (
                true,
                vec![
                    format!("System uptime: {}", plural(uptime, "second")),
                    format!("Last reload: {}", plural(uptime, "second")),
                ],
            ),
            "core show channels" => (
                true,
                {
                    let mut lines = vec![format!(
                        "{:<64} {:<32} {:<7} {:<30}",
                        "Channel", "Location", "State", "Application(Data)"
                    )];
                    lines.extend(self.cli_channel_rows());
                    lines
                }
                .into_iter()
                .chain([{
                    let n = self
                        .shared
                        .counters
                        .processed
                        .load(std::sync::atomic::Ordering::Relaxed);
                    format!("{} processed", plural(n, "call"))
                }])
                .collect(),
            ),
            "manager show connected" => {
                let list = self.shared.connected().clone();
                (true, crate::cli::manager_show_connected(&list, unix_now()))
            }
            c if c == "core show help" || c.starts_with("core show help ") => {
                (true, crate::cli::help(&words[3..]))
            }
            c if c == "dialplan show" || c.starts_with("dialplan show ") => {
                let wanted = words.get(2).copied().unwrap_or("");
                self.dialplan_show(wanted)
            }
            _ => {
                let first: Vec<&str> = words.iter().copied().take(2).collect();
                (
                    false,
                    vec![format!(
                        "No such command '{cmd}' (type 'core show help {}' for other possible commands)",
                        first.join(" ")
                    )],
                )
            }
        };
        if self.shared.identity.old_command_framing {
            // Asterisk 13 (manager.c action_command): Follows even for unknown commands, the
            // CLI's own text with bare LF, and the marker appended directly.
            let mut t = String::from("Response: Follows\r\nPrivilege: Command\r\n");
            if let Some(id) = id {
                let _ = write!(t, "ActionID: {id}\r\n");
            }
            for l in lines {
                t.push_str(&l);
                t.push('\n');
            }
            t.push_str("--END COMMAND--\r\n\r\n");
            return Reply::new(t.into_bytes());
        }
        let mut out = Out::response(if ok { "Success" } else { "Error" }, id)
            .h("Message", "Command output follows");
        for l in lines {
            out = out.h("Output", l);
        }
        Reply::new(out.done())
    }

    /// `dialplan show [context]`, in the CLI's layout (pbx_config's `show_dialplan_helper`).
    fn dialplan_show(&self, wanted: &str) -> (bool, Vec<String>) {
        let dp = &self.shared.dialplan;
        let mut lines = Vec::new();
        let (mut contexts, mut extens, mut prios) = (0, 0, 0);
        for ctx in dp.contexts() {
            if !wanted.is_empty() && ctx.name != wanted {
                continue;
            }
            contexts += 1;
            lines.push(format!(
                "[ Context '{}' created by 'pbx_config' ]",
                ctx.name
            ));
            let mut exts: Vec<_> = ctx.extensions().iter().collect();
            exts.sort_by(|a, b| a.name.cmp(&b.name));
            for e in exts {
                extens += 1;
                for (i, st) in e.steps().iter().enumerate() {
                    prios += 1;
                    let head = if i == 0 {
                        format!("'{}' =>", e.name)
                    } else {
                        String::new()
                    };
                    let app = format!("{}. {}({})", st.priority, st.app, st.args);
                    lines.push(format!(
                        "  {head:<17} {app:<45} [extensions.conf:{}]",
                        st.line
                    ));
                }
            }
        }
        if contexts == 0 {
            return (
                false,
                vec![format!("There is no existence of '{wanted}' context")],
            );
        }
        let plural = |n: usize, w: &str| {
            if n == 1 {
                format!("{n} {w}")
            } else {
                format!("{n} {w}s")
            }
        };
        lines.push(String::new());
        lines.push(format!(
            "-= {} ({}) in {}. =-",
            plural(extens, "extension"),
            plural(prios, "priority").replace("prioritys", "priorities"),
            plural(contexts, "context")
        ));
        (true, lines)
    }

    fn core_status(&self, id: Option<&str>) -> Reply {
        let start = self
            .shared
            .started_wall
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let (date, time) = civil(start);
        Reply::new(
            Out::response("Success", id)
                .h("CoreStartupDate", &date)
                .h("CoreStartupTime", &time)
                .h("CoreReloadDate", &date)
                .h("CoreReloadTime", &time)
                .h("CoreCurrentCalls", 0)
                .h(
                    "CoreProcessedCalls",
                    self.shared
                        .counters
                        .processed
                        .load(std::sync::atomic::Ordering::Relaxed),
                )
                .done(),
        )
    }

    /// main/cli.c `handle_chanlist` without options: a row per live channel
    /// (`%-64.64s %-32.32s %-7.7s %-30.30s`, location `exten@context:priority` and
    /// `app(data)` each cut to their column, `(None)` when unknown), then the counts. Active
    /// calls are the channels running the dialplan (a PBX thread in Asterisk), so not the
    /// outgoing legs of a Dial, which only sit in its bridge.
    fn cli_channel_rows(&self) -> Vec<String> {
        fn cut(s: &str, n: usize) -> &str {
            let mut end = s.len().min(n);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            &s[..end]
        }
        let chans = self.shared.channels.list();
        let mut rows = Vec::with_capacity(chans.len() + 2);
        let mut calls = 0usize;
        for (_, live) in &chans {
            let get = |k: &str| {
                live.snapshot
                    .iter()
                    .find(|(key, _)| key.as_str() == k)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("")
            };
            let (context, exten) = (get("Context"), get("Exten"));
            let loc = if context.is_empty() || exten.is_empty() {
                "(None)".to_owned()
            } else {
                format!("{exten}@{context}:{}", get("Priority"))
            };
            let app = if live.app.is_empty() {
                "(None)".to_owned()
            } else {
                format!("{}({})", live.app, live.data)
            };
            if !live.app.starts_with("AppDial") {
                calls += 1;
            }
            rows.push(format!(
                "{:<64} {:<32} {:<7} {:<30}",
                cut(get("Channel"), 64),
                cut(&loc, 32),
                cut(get("ChannelStateDesc"), 7),
                cut(&app, 30)
            ));
        }
        let ess = |n: usize| if n == 1 { "" } else { "s" };
        rows.push(format!(
            "{} active channel{}",
            chans.len(),
            ess(chans.len())
        ));
        rows.push(format!("{calls} active call{}", ess(calls)));
        rows
    }

    fn core_show_channels(&self, id: Option<&str>) -> Reply {
        let mut bytes = Out::response("Success", id)
            .h("EventList", "start")
            .h("Message", "Channels will follow")
            .done();
        let chans = self.shared.channels.list();
        for (_, live) in &chans {
            let mut t = String::from("Event: CoreShowChannel\r\n");
            if let Some(id) = id {
                let _ = write!(t, "ActionID: {id}\r\n");
            }
            for (k, v) in &live.snapshot {
                let _ = write!(t, "{k}: {v}\r\n");
            }
            let d = live.started.elapsed().as_secs();
            let _ = write!(
                t,
                "Application: {}\r\nApplicationData: {}\r\nDuration: {:02}:{:02}:{:02}\r\nBridgeId: {}\r\n\r\n",
                live.app,
                live.data,
                d / 3600,
                d % 3600 / 60,
                d % 60,
                live.bridge
            );
            bytes.extend_from_slice(t.as_bytes());
        }
        let mut t = String::from("Event: CoreShowChannelsComplete\r\n");
        if let Some(id) = id {
            let _ = write!(t, "ActionID: {id}\r\n");
        }
        let _ = write!(
            t,
            "EventList: Complete\r\nListItems: {}\r\n\r\n",
            chans.len()
        );
        bytes.extend_from_slice(t.as_bytes());
        Reply::new(bytes)
    }

    /// manager.c `action_filter`: `Operation: Add` with `Filter` and an optional
    /// `MatchCriteria` (new syntax), added to this session's filters.
    fn filter(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        if !m
            .get_str("Operation")
            .is_some_and(|o| o.eq_ignore_ascii_case("add"))
        {
            return Reply::new(error(id, "Unknown operation"));
        }
        let pattern = m.get_str("Filter").unwrap_or("");
        let criteria = m.get_str("MatchCriteria").unwrap_or("");
        match amiwire::filter::ManagerFilter::parse(criteria, pattern) {
            Ok(f) => {
                self.filters.add(f);
                Reply::new(Out::response("Success", id).h("Message", "Success").done())
            }
            Err(e) => Reply::new(error(id, e.asterisk_message())),
        }
    }

    /// manager.c `action_status`: every channel, or the one named, as `Status` list items.
    fn status(&self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        let all = self.shared.channels.list();
        let chans: Vec<_> = match m.get_str("Channel").filter(|c| !c.is_empty()) {
            Some(name) => {
                let one: Vec<_> = all.into_iter().filter(|(n, _)| n == name).collect();
                if one.is_empty() {
                    return Reply::new(error(id, "No such channel"));
                }
                one
            }
            None => all,
        };
        let mut bytes = Out::response("Success", id)
            .h("EventList", "start")
            .h("Message", "Channel status will follow")
            .done();
        for (_, live) in &chans {
            let mut t = String::from("Event: Status\r\nPrivilege: Call\r\n");
            for (k, v) in &live.snapshot {
                let _ = write!(t, "{k}: {v}\r\n");
            }
            let (num, name) = (
                live.snapshot
                    .iter()
                    .find(|(k, _)| k == "ConnectedLineNum")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
                live.snapshot
                    .iter()
                    .find(|(k, _)| k == "ConnectedLineName")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
            );
            let _ = write!(
                t,
                "Type: Local\r\nDNID: \r\nEffectiveConnectedLineNum: {num}\r\nEffectiveConnectedLineName: {name}\r\n\
                 TimeToHangup: 0\r\nBridgeID: {}\r\nApplication: {}\r\nData: {}\r\n\
                 Nativeformats: (slin)\r\nReadformat: slin\r\nReadtrans: \r\nWriteformat: slin\r\nWritetrans: \r\n\
                 Callgroup: 0\r\nPickupgroup: 0\r\nSeconds: {}\r\n",
                live.bridge,
                live.app,
                live.data,
                live.started.elapsed().as_secs()
            );
            for (k, v) in status_variables(m, live) {
                let _ = write!(t, "Variable: {k}={v}\r\n");
            }
            if let Some(id) = id {
                let _ = write!(t, "ActionID: {id}\r\n");
            }
            t.push_str("\r\n");
            bytes.extend_from_slice(t.as_bytes());
        }
        let mut t = String::from("Event: StatusComplete\r\n");
        if let Some(id) = id {
            let _ = write!(t, "ActionID: {id}\r\n");
        }
        let n = chans.len();
        let _ = write!(
            t,
            "EventList: Complete\r\nListItems: {n}\r\nItems: {n}\r\n\r\n"
        );
        bytes.extend_from_slice(t.as_bytes());
        Reply::new(bytes)
    }

    /// manager.c `action_redirect`: one channel, or two with `ExtraChannel`.
    fn redirect(&self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        let Some(name) = m.get_str("Channel").filter(|c| !c.is_empty()) else {
            return Reply::new(error(id, "Channel not specified"));
        };
        let context = m.get_str("Context").unwrap_or("");
        let exten = m.get_str("Exten").unwrap_or("");
        let priority = m
            .get_str("Priority")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(1);
        if self.shared.dialplan.lookup(context, exten).is_none() {
            return Reply::new(error(id, "Extension does not exist."));
        }
        let chans = &self.shared.channels;
        let extra = m.get_str("ExtraChannel").filter(|c| !c.is_empty());
        if !chans.list().iter().any(|(n, _)| n == name) {
            return Reply::new(error(id, &format!("Channel does not exist: {name}")));
        }
        if let Some(x) = extra {
            if !chans.list().iter().any(|(n, _)| n == x) {
                return Reply::new(error(id, &format!("ExtraChannel does not exist: {x}")));
            }
        }
        chans.redirect(name, context, exten, priority);
        let message = match extra {
            Some(x) => {
                let c = m.get_str("ExtraContext").unwrap_or(context);
                let e = m.get_str("ExtraExten").unwrap_or(exten);
                let p = m
                    .get_str("ExtraPriority")
                    .and_then(|p| p.trim().parse().ok())
                    .unwrap_or(priority);
                chans.redirect(x, c, e, p);
                "Dual Redirect successful"
            }
            None => "Redirect successful",
        };
        Reply::new(Out::response("Success", id).h("Message", message).done())
    }

    fn core_settings(&self, id: Option<&str>) -> Reply {
        let ident = &self.shared.identity;
        Reply::new(
            Out::response("Success", id)
                .h("AMIversion", &ident.ami_version)
                .h("AsteriskVersion", &ident.asterisk_version)
                .h("SystemName", "")
                .h("CoreMaxCalls", 0)
                .h("CoreMaxLoadAvg", "0.000000")
                .h("CoreRunUser", "")
                .h("CoreRunGroup", "")
                .h("CoreMaxFilehandles", 0)
                .h("CoreRealTimeEnabled", "No")
                .h("CoreCDRenabled", "Yes")
                .h("CoreHTTPenabled", "Yes")
                .h("SoundsSearchCustomDir", "No")
                .done(),
        )
    }

    fn list_categories(&self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        let Some(file) = m.get_str("Filename") else {
            return Reply::new(error(id, "Filename not specified"));
        };
        let Some(categories) = self.shared.categories.get(file) else {
            return Reply::new(error(id, "Config file not found"));
        };
        let mut out = Out::response("Success", id);
        for (i, c) in categories.iter().enumerate() {
            out = out.h(&format!("Category-{i:06}"), c);
        }
        Reply::new(out.done())
    }

    fn originate(&self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        use crate::call::{OriginateRequest, Target};
        let Some(channel) = m.get_str("Channel").filter(|c| !c.is_empty()) else {
            return Reply::new(error(id, "Channel not specified"));
        };
        let target = match m.get_str("Application").filter(|a| !a.is_empty()) {
            Some(app) => {
                let data = m.get_str("Data").unwrap_or("").to_owned();
                // manager.c: without system write rights, apps and functions that reach the
                // shell are refused.
                let lower = format!("{} {}", app, data).to_ascii_lowercase();
                if !self.write.contains(Privileges::SYSTEM)
                    && ["system", "exec", "shell(", "eval("]
                        .iter()
                        .any(|w| lower.contains(w))
                {
                    return Reply::new(error(
                        id,
                        "Originate Access Forbidden: app or data blacklisted",
                    ));
                }
                Target::App {
                    app: app.to_owned(),
                    data,
                }
            }
            None => {
                let context = m.get_str("Context").unwrap_or("default").to_owned();
                let exten = m.get_str("Exten").unwrap_or("s").to_owned();
                if self.shared.dialplan.lookup(&context, &exten).is_none() {
                    return Reply::new(error(id, "Extension does not exist."));
                }
                let priority = m
                    .get_str("Priority")
                    .and_then(|p| p.trim().parse().ok())
                    .unwrap_or(1);
                Target::Exten {
                    context,
                    exten,
                    priority,
                }
            }
        };
        let local = channel
            .strip_prefix("Local/")
            .and_then(|r| r.split_once('@'))
            .map(|(e, c)| {
                let c = c.split('/').next().unwrap_or(c);
                (e.to_owned(), c.to_owned())
            });
        let caller_id = m
            .get_str("CallerID")
            .map(parse_caller_id)
            .unwrap_or((None, None));
        let variables = m
            .get_all("Variable")
            .filter_map(|v| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
            .collect();
        let asynchronous = m.get_str("Async").is_some_and(|v| {
            ["yes", "true", "y", "t", "1", "on"]
                .iter()
                .any(|t| v.eq_ignore_ascii_case(t))
        });
        let timeout = m
            .get_str("Timeout")
            .and_then(|t| t.trim().parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(30));
        let req = OriginateRequest {
            action_id: id.map(str::to_owned),
            channel: channel.to_owned(),
            local,
            target,
            caller_id,
            variables,
            channel_id: m.get_str("ChannelId").map(str::to_owned),
            other_channel_id: m.get_str("OtherChannelId").map(str::to_owned),
            asynchronous,
            timeout,
        };
        let bytes = if asynchronous {
            originate_reply(id, true)
        } else {
            Vec::new()
        };
        Reply {
            originate: Some(req),
            ..Reply::new(bytes)
        }
    }

    fn getvar(&self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        let Some(var) = m.get_str("Variable") else {
            return Reply::new(error(id, "No variable specified"));
        };
        if let Some(chan) = m.get_str("Channel").filter(|c| !c.is_empty()) {
            return Reply::new(match self.shared.channels.get_var(chan, var) {
                Some(value) => Out::response("Success", id)
                    .h("Variable", var)
                    .h("Value", value)
                    .done(),
                None => error(id, "No such channel"),
            });
        }
        let name = var
            .strip_prefix("GLOBAL(")
            .and_then(|v| v.strip_suffix(')'))
            .unwrap_or(var);
        let globals = self
            .shared
            .globals
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let value = globals.get(name).cloned().unwrap_or_default();
        Reply::new(
            Out::response("Success", id)
                .h("Variable", var)
                .h("Value", value)
                .done(),
        )
    }

    fn setvar(&self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        let Some(var) = m.get_str("Variable") else {
            return Reply::new(error(id, "No variable specified"));
        };
        let value = m.get_str("Value").unwrap_or("");
        if let Some(chan) = m.get_str("Channel").filter(|c| !c.is_empty()) {
            let Some(mut snapshot) = self.shared.channels.set_var(chan, var, value) else {
                return Reply::new(error(id, "No such channel"));
            };
            snapshot.push(("Variable".into(), var.to_owned()));
            snapshot.push(("Value".into(), value.to_owned()));
            let pairs: Vec<(&str, &str)> = snapshot
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            return Reply {
                events: vec![SimEvent::new("VarSet", Privileges::DIALPLAN, &pairs)],
                ..Reply::new(
                    Out::response("Success", id)
                        .h("Message", "Variable Set")
                        .done(),
                )
            };
        }
        self.shared
            .globals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(var.to_owned(), value.to_owned());
        Reply::new(
            Out::response("Success", id)
                .h("Message", "Variable Set")
                .done(),
        )
    }

    fn user_event(&self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        let Some(name) = m.get_str("UserEvent") else {
            return Reply::new(error(id, "Missing UserEvent"));
        };
        // UserEvent first, then every other header but Action, in order (ActionID included),
        // as recording 09a shows.
        let mut headers: Vec<(String, String)> = vec![("UserEvent".into(), name.to_owned())];
        for h in m.iter() {
            let (Some(k), Some(v)) = (h.name_str(), h.value_str()) else {
                continue;
            };
            if ["action", "userevent"]
                .iter()
                .any(|x| k.eq_ignore_ascii_case(x))
            {
                continue;
            }
            headers.push((k.to_owned(), v.to_owned()));
        }
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let event = SimEvent::new("UserEvent", Privileges::USER, &pairs);
        Reply {
            events: vec![event],
            ..Reply::new(
                Out::response("Success", id)
                    .h("Message", "Event Sent")
                    .done(),
            )
        }
    }
}

/// The `Variable:` lines of a Status item (manager.c `action_status`): each variable named in
/// `Variables` (comma-separated), `(null)` when unset, as Asterisk prints a missing value;
/// `CALLERID(num)` and `CALLERID(name)` read the channel's caller ID (recording 06). With
/// `AllVariables: true`, then every channel variable set on it.
fn status_variables(m: &MessageRef<'_>, live: &crate::call::Live) -> Vec<(String, String)> {
    let snap = |key: &str| {
        live.snapshot
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let mut out = Vec::new();
    let names = m.get_str("Variables").unwrap_or("");
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let value = match name {
            "CALLERID(num)" => snap("CallerIDNum"),
            "CALLERID(name)" => snap("CallerIDName"),
            _ => live.vars.get(name).cloned(),
        };
        out.push((name.to_owned(), value.unwrap_or_else(|| "(null)".into())));
    }
    let all = m.get_str("AllVariables").is_some_and(|v| {
        ["yes", "true", "y", "t", "1", "on"].contains(&v.to_ascii_lowercase().as_str())
    });
    if all {
        out.extend(live.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out
}

/// `"Name" <number>`, `Name <number>` or `number`.
fn parse_caller_id(v: &str) -> (Option<String>, Option<String>) {
    match v.rsplit_once('<') {
        Some((name, rest)) => {
            let num = rest.trim_end().trim_end_matches('>').trim().to_owned();
            let name = name.trim().trim_matches('"').trim().to_owned();
            (
                (!num.is_empty()).then_some(num),
                (!name.is_empty()).then_some(name),
            )
        }
        None => {
            let v = v.trim();
            (!v.is_empty())
                .then(|| v.to_owned())
                .map_or((None, None), |n| (Some(n), None))
        }
    }
}
