//! One AMI session's behaviour, without I/O: an action in, the bytes Asterisk would answer
//! (and what to do next) out. The server in [`crate::server`] moves the bytes. The session
//! checks what manager.c `process_message` checks (an action is named, the session is
//! logged in, the user may run it), then runs the action's handler from
//! [`crate::actions`]'s table.

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
        let id = m.get_str("ActionID");
        let action = m.get_str("Action").unwrap_or("");
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
