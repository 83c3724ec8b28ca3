//! The actions on the session itself: Login, Challenge, Logoff, Events, Filter.
use std::sync::Arc;
use std::time::SystemTime;

use amiwire::MessageRef;

use super::{Reply, SessionState, Then};
use crate::accounts::Privileges;
use crate::wire::{error, event_tv, Out, SimEvent};

impl SessionState {
    fn failed_login(&self, id: Option<&str>) -> Reply {
        Reply {
            delay: self.shared.failed_login_delay,
            then: Then::Close,
            ..Reply::new(error(id, "Authentication failed"))
        }
    }

    pub(super) fn login(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
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

    pub(super) fn challenge(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        match m.get_str("AuthType") {
            Some(t) if t.eq_ignore_ascii_case("md5") => {
                let fixed = self.shared.fixed_challenge.clone();
                let random = &self.shared.random;
                let ch = self
                    .challenge
                    .get_or_insert_with(|| {
                        if let Some(f) = fixed {
                            return f;
                        }
                        (random.next_u64() % 1_000_000_000).to_string()
                    })
                    .clone();
                Reply::new(Out::response("Success", id).h("Challenge", ch).done())
            }
            _ => Reply::new(error(id, "Must specify AuthType")),
        }
    }

    /// Logoff: Goodbye, then the connection is closed.
    pub(super) fn logoff(&mut self, _m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        Reply {
            then: Then::Close,
            ..Reply::new(
                Out::response("Goodbye", id)
                    .h("Message", "Thanks for all the fish.")
                    .done(),
            )
        }
    }

    pub(super) fn events(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
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

    /// manager.c `action_filter`: `Operation: Add` with `Filter` and an optional
    /// `MatchCriteria` (new syntax), added to this session's filters.
    pub(super) fn filter(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
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
}
