//! One AMI session's behaviour, without I/O: an action in, the bytes Asterisk would answer
//! (and what to do next) out. The server in [`crate::server`] moves the bytes. The session
//! checks what manager.c `process_message` checks (an action is named, the session is
//! logged in, the user may run it), then runs the action's handler from
//! the action table (module `actions`).

use std::sync::Arc;

use amiwire::filter::FilterSet;
use amiwire::MessageRef;

use crate::accounts::Privileges;
use crate::actions::SessionState;
pub use crate::actions::{parse_error_reply, Reply, Then};
pub use crate::pbx::{Identity, Shared};
use crate::wire::error;
pub use crate::wire::{originate_reply, SimEvent};

/// One session's state.
#[derive(Debug)]
pub struct Session {
    st: SessionState,
}

impl Drop for Session {
    fn drop(&mut self) {
        let id = self.st.id;
        self.st.shared.connected().retain(|c| c.id != id);
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
            st: SessionState {
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
            },
        }
    }

    /// Logs the session in as `username` without a Login action (HTTP Digest authentication
    /// did it); `false` for an unknown user.
    pub fn authenticate(&mut self, username: &str) -> bool {
        let Some(account) = self.st.shared.accounts.get(username) else {
            return false;
        };
        self.st.read = account.read;
        self.st.write = account.write;
        self.st.mask = account.read;
        self.st.filters = account.filters.clone();
        self.st.user = Some(account.username.clone());
        self.st.registered_login();
        true
    }

    /// Marks this session as an AMI-over-HTTP one (no FullyBooted after the login).
    pub fn set_http(&mut self) {
        self.st.http = true;
        self.st.shared.update_connected(self.st.id, |c| c.fd = -1);
    }

    /// The simulator's shared state.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.st.shared
    }

    /// The logged-in user.
    pub fn user(&self) -> Option<&str> {
        self.st.user.as_deref()
    }

    /// Whether this session receives `event` (Asterisk's `should_send_event` plus the mask:
    /// the event's class must be within the session's mask, and the filters must pass it).
    pub fn wants(&self, event: &SimEvent, msg: &MessageRef<'_>) -> bool {
        self.may_want(event) && self.st.filters.matches(msg)
    }

    /// The part of [`wants`](Self::wants) that needs no parsing: logged in and the event's
    /// class within the mask.
    pub fn may_want(&self, event: &SimEvent) -> bool {
        self.st.user.is_some() && self.st.mask.contains(event.class)
    }

    /// Whether `event` is one this session already wrote itself (see [`Reply::events`]); it is
    /// skipped then, once.
    pub fn is_own_event(&mut self, event: &SimEvent) -> bool {
        match &self.st.own_event {
            Some(t) if Arc::ptr_eq(t, &event.text) => {
                self.st.own_event = None;
                true
            }
            _ => false,
        }
    }

    /// Whether the session has event filters (then [`wants`](Self::wants) needs the parsed
    /// event).
    pub fn has_filters(&self) -> bool {
        !self.st.filters.is_empty()
    }

    /// Handles one action.
    pub fn handle(&mut self, m: &MessageRef<'_>) -> Reply {
        match m.get("ActionID") {
            Some(raw) if std::str::from_utf8(raw).is_err() => self.handle_raw_id(m, raw),
            _ => self.dispatch(m),
        }
    }

    /// An action whose ActionID is not UTF-8: Asterisk echoes it as sent
    /// (`astman_send_response_full`), so the action runs with a stand-in that its answer
    /// and events then get back as the bytes sent.
    fn handle_raw_id(&mut self, m: &MessageRef<'_>, raw: &[u8]) -> Reply {
        let token = format!("\u{1}amiwire-sim-actionid-{}\u{1}", self.st.id);
        let mut text = Vec::new();
        for h in m.iter() {
            if !h.name().is_empty() {
                text.extend_from_slice(h.name());
                text.extend_from_slice(b": ");
            }
            if h.is("ActionID") && h.value() == raw {
                text.extend_from_slice(token.as_bytes());
            } else {
                text.extend_from_slice(h.value());
            }
            text.extend_from_slice(b"\r\n");
        }
        text.extend_from_slice(b"\r\n");
        let mut dec = amiwire::Decoder::with_config(amiwire::DecoderConfig::without_banner());
        let _ = dec.feed(&text);
        let mut reply = match dec.decode() {
            Ok(Some(amiwire::Frame::Message(stand_in))) => self.dispatch(&stand_in),
            _ => self.dispatch(m),
        };
        let put_back = |bytes: &[u8]| replace(bytes, token.as_bytes(), raw);
        reply.bytes = put_back(&reply.bytes);
        for e in &mut reply.events {
            e.text = Arc::new(put_back(&e.text));
        }
        if let Some(o) = &mut reply.originate {
            o.action_id = o
                .action_id
                .as_ref()
                .map(|id| id.replace(&token, &String::from_utf8_lossy(raw)));
        }
        reply
    }

    /// Runs one action: manager.c `process_message`'s checks, then its handler.
    fn dispatch(&mut self, m: &MessageRef<'_>) -> Reply {
        let id = m.get_str("ActionID");
        // process_message: the first Action that is not empty (GET_HEADER_SKIP_EMPTY).
        let action = m
            .get_all("Action")
            .find(|v| !v.is_empty())
            .and_then(|v| std::str::from_utf8(v).ok())
            .unwrap_or("");
        if action.is_empty() {
            return Reply::new(error(id, "Missing action in request"));
        }
        let a = action.to_ascii_lowercase();
        if self.st.user.is_none() && !matches!(a.as_str(), "login" | "logoff" | "challenge") {
            return Reply::new(error(id, "Permission denied"));
        }
        let Some(entry) = crate::actions::find(action) else {
            return Reply::new(error(
                id,
                &format!(
                    "Invalid/unknown command: {action}. Use Action: ListCommands to show available commands."
                ),
            ));
        };
        // Asterisk's process_message: any one of the action's classes is enough.
        let authority = Privileges::parse(entry.authority);
        if self.st.user.is_some() && !self.st.write.permits_action(authority) {
            return Reply::new(error(id, "Permission denied"));
        }
        (entry.handler)(&mut self.st, m, id)
    }
}

/// `bytes` with every `from` replaced by `to`.
fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(i) = memchr::memmem::find(rest, from) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(to);
        rest = &rest[i + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}
