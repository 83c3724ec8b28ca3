//! Ping, CoreStatus, CoreSettings, ListCommands, ListCategories, LoggerRotate, WaitEvent.
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use amiwire::MessageRef;

use super::{Reply, SessionState};
use crate::accounts::Privileges;
use crate::wire::{civil, error, Out};

impl SessionState {
    /// Ping: `Pong` and the time.
    pub(super) fn ping(&mut self, _m: &MessageRef<'_>, id: Option<&str>) -> Reply {
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

    pub(super) fn core_status(&mut self, _m: &MessageRef<'_>, id: Option<&str>) -> Reply {
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

    pub(super) fn core_settings(&mut self, _m: &MessageRef<'_>, id: Option<&str>) -> Reply {
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

    /// ListCommands: every action of [`ACTIONS`](super::ACTIONS), in its order.
    pub(super) fn list_commands(&mut self, _m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        let mut out = Out::response("Success", id);
        for a in super::ACTIONS {
            let privs = Privileges::parse(a.authority);
            let privs = if privs.is_empty() {
                "<none>".to_owned()
            } else {
                privs.to_string()
            };
            out = out.h(a.name, format!("{}  (Priv: {privs})", a.description));
        }
        Reply::new(out.done())
    }

    pub(super) fn list_categories(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
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

    /// LoggerRotate: nothing to rotate, Asterisk's answer.
    pub(super) fn logger_rotate(&mut self, _m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        Reply::new(
            Out::response("Success", id)
                .h("Message", "Reloaded the logger and rotated log files")
                .done(),
        )
    }

    /// WaitEvent: over TCP, events are delivered as they happen, so it just completes.
    pub(super) fn wait_event(&mut self, _m: &MessageRef<'_>, id: Option<&str>) -> Reply {
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
}
