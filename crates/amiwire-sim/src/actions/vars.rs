//! Getvar, Setvar (globals and channel variables) and UserEvent.
use amiwire::MessageRef;

use super::{Reply, SessionState};
use crate::accounts::Privileges;
use crate::wire::{error, Out, SimEvent};

impl SessionState {
    pub(super) fn getvar(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
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

    pub(super) fn setvar(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
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

    pub(super) fn user_event(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
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
