//! The channel actions: Originate, Hangup, Redirect, CoreShowChannels, Status.
use std::fmt::Write as _;
use std::time::Duration;

use amiwire::MessageRef;

use super::{Reply, SessionState};
use crate::accounts::Privileges;
use crate::wire::{error, originate_reply, Out};

impl SessionState {
    pub(super) fn originate(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
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

    /// manager.c `action_hangup`: the channel named.
    pub(super) fn hangup(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
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

    /// manager.c `action_redirect`: one channel, or two with `ExtraChannel`.
    pub(super) fn redirect(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
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

    pub(super) fn core_show_channels(&mut self, _m: &MessageRef<'_>, id: Option<&str>) -> Reply {
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

    /// manager.c `action_status`: every channel, or the one named, as `Status` list items.
    pub(super) fn status(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
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
