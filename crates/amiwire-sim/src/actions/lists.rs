//! The event-list actions of recording 06-event-lists (but CoreShowChannels and Status) and
//! QueuePause: CoreShowChannelMap, DeviceStateList, ExtensionStateList, PresenceStateList,
//! BridgeList, Parkinglots, ParkedCalls, ShowDialPlan, QueueStatus, QueueSummary, Agents,
//! ConfbridgeListRooms and ConfbridgeList.
//!
//! Layouts: the recording where it shows them (Asterisk 22.10.1), else the source named at
//! each function. Conferences, queue callers and logged-in agents are those of the calls up
//! (`crate::apps`, `crate::queues`); there are no parked calls.

use std::fmt::Write as _;

use amiwire::MessageRef;

use crate::actions::Reply;
use crate::pbx::Shared;
use crate::queues::Queue;
use crate::wire::{error, Out, SimEvent};

/// A parking lot as `Parkinglots` lists it: the recorded server's `default` lot, spaces
/// 7001-7010, 60 s (recording 06).
const PARKING_LOTS: &[(&str, u32, u32, u32)] = &[("default", 7001, 7010, 60)];

/// `astman_send_listack`: `Response: Success`, ActionID, `EventList: start`, the message.
fn listack(id: Option<&str>, message: &str) -> String {
    let mut t = String::from("Response: Success\r\n");
    if let Some(id) = id {
        let _ = write!(t, "ActionID: {id}\r\n");
    }
    let _ = write!(t, "EventList: start\r\nMessage: {message}\r\n\r\n");
    t
}

/// `astman_send_list_complete_start` + `_end`: the event, ActionID, `EventList: Complete`,
/// `ListItems`, then `extra` headers.
fn complete(t: &mut String, event: &str, id: Option<&str>, items: usize, extra: &[(&str, String)]) {
    let mut h = vec![
        ("EventList", "Complete".to_owned()),
        ("ListItems", items.to_string()),
    ];
    h.extend_from_slice(extra);
    item_id_first(t, event, id, &h);
}

/// An event with the ActionID right after `Event:` (most list items).
fn item_id_first(t: &mut String, event: &str, id: Option<&str>, headers: &[(&str, String)]) {
    list_event(t, event, id, headers, true);
}

/// An event with the ActionID last (app_queue's and app_agent_pool's items).
fn item_id_last(t: &mut String, event: &str, id: Option<&str>, headers: &[(&str, String)]) {
    list_event(t, event, id, headers, false);
}

/// `Event:`, the ActionID (if any) before the headers or after them, the headers.
fn list_event(
    t: &mut String,
    event: &str,
    id: Option<&str>,
    headers: &[(&str, String)],
    id_first: bool,
) {
    let _ = write!(t, "Event: {event}\r\n");
    let id = id.map(|id| ("ActionID", id.to_owned()));
    let (before, after) = if id_first { (id, None) } else { (None, id) };
    for (k, v) in before.iter().chain(headers).chain(after.iter()) {
        let _ = write!(t, "{k}: {v}\r\n");
    }
    t.push_str("\r\n");
}

/// A list with no items: the ack, then the complete event.
fn empty_list(id: Option<&str>, message: &str, done: &str) -> Reply {
    let mut t = listack(id, message);
    complete(&mut t, done, id, 0, &[]);
    Reply::new(t.into_bytes())
}

/// main/manager.c `action_coreshowchannelmap`: the channel must exist; a channel in no bridge
/// (every channel of the simulator, which keeps no bridges) has an empty map. The two error
/// texts end in a bare `\n` inside `Message:`, as Asterisk writes them.
pub(crate) fn core_show_channel_map(
    shared: &Shared,
    m: &MessageRef<'_>,
    id: Option<&str>,
) -> Reply {
    let Some(name) = m.get_str("Channel").filter(|c| !c.is_empty()) else {
        return Reply::new(error(id, "CoreShowChannelMap requires a channel.\n"));
    };
    if !shared.channels.list().iter().any(|(n, _)| n == name) {
        return Reply::new(error(id, "Could not get channel snapshot\n"));
    }
    empty_list(id, "Channel map will follow", "CoreShowChannelMapComplete")
}

/// res/res_manager_devicestate.c `action_devicestatelist`: the cached device states as
/// `DeviceStateChange` items: those the applications publish (`confbridge:<name>`, see
/// `crate::apps`), then each configured agent's `Agent:<id>`, `UNAVAILABLE` (as recording 06
/// lists it). Asterisk lists its cache in hash order; the simulator in the order the states
/// were first published. Local channels' device states are not cached (core_local), so they
/// are not listed, as in recording 06.
pub(crate) fn device_state_list(shared: &Shared, id: Option<&str>) -> Reply {
    let mut t = listack(id, "Device State Changes will follow");
    let mut items: Vec<(String, String)> = shared.apps.devices();
    items.extend(
        shared
            .agents
            .iter()
            .map(|a| (format!("Agent:{}", a.id), "UNAVAILABLE".to_owned())),
    );
    for (device, state) in &items {
        item_id_first(
            &mut t,
            "DeviceStateChange",
            id,
            &[("Device", device.clone()), ("State", state.clone())],
        );
    }
    complete(&mut t, "DeviceStateListComplete", id, items.len(), &[]);
    Reply::new(t.into_bytes())
}

/// `ExtensionStateList` with no hint states (recording 06: an empty list; dialplan hints are
/// not listed by the simulator).
pub(crate) fn extension_state_list(id: Option<&str>) -> Reply {
    empty_list(
        id,
        "Extension Statuses will follow",
        "ExtensionStateListComplete",
    )
}

/// `PresenceStateList` with no presence states (recording 06).
pub(crate) fn presence_state_list(id: Option<&str>) -> Reply {
    empty_list(
        id,
        "Presence State Changes will follow",
        "PresenceStateListComplete",
    )
}

/// main/manager_bridges.c `manager_bridges_list`: a `BridgeListItem` per bridge (ActionID
/// first, then the bridge block), recording 06's layout. The simulator lists app_agent_pool's
/// holding bridge (once an agent has logged in; its count is the agents logged in) and its
/// conference bridges; the basic bridges of its Dials are not listed.
pub(crate) fn bridge_list(shared: &Shared, id: Option<&str>) -> Reply {
    let mut t = listack(id, "Bridge listing will follow");
    let mut n = 0;
    if let Some(b) = shared.apps.agent_bridge() {
        let agents = shared.apps.logged_in().len();
        item_id_first(
            &mut t,
            "BridgeListItem",
            id,
            &crate::apps::agent_bridge_block(&b, agents),
        );
        n += 1;
    }
    for c in &shared.apps.conferences() {
        item_id_first(
            &mut t,
            "BridgeListItem",
            id,
            &crate::apps::conference_bridge_block(c),
        );
        n += 1;
    }
    complete(&mut t, "BridgeListComplete", id, n, &[]);
    Reply::new(t.into_bytes())
}

/// res/parking/parking_manager.c `manager_parking_lot_list`.
pub(crate) fn parking_lots(id: Option<&str>) -> Reply {
    let mut t = listack(id, "Parking lots will follow");
    for (name, start, stop, timeout) in PARKING_LOTS {
        item_id_first(
            &mut t,
            "Parkinglot",
            id,
            &[
                ("Name", (*name).into()),
                ("StartSpace", start.to_string()),
                ("StopSpace", stop.to_string()),
                ("Timeout", timeout.to_string()),
            ],
        );
    }
    complete(&mut t, "ParkinglotsComplete", id, PARKING_LOTS.len(), &[]);
    Reply::new(t.into_bytes())
}

/// res/parking/parking_manager.c `manager_parking_status`: no parked calls; a `ParkingLot`
/// that does not exist is an error.
pub(crate) fn parked_calls(m: &MessageRef<'_>, id: Option<&str>) -> Reply {
    if let Some(lot) = m.get_str("ParkingLot").filter(|l| !l.is_empty()) {
        if !PARKING_LOTS.iter().any(|(n, ..)| *n == lot) {
            return Reply::new(error(id, "Requested parking lot could not be found."));
        }
    }
    let mut t = listack(id, "Parked calls will follow");
    complete(
        &mut t,
        "ParkedCallsComplete",
        id,
        0,
        &[("Total", "0".into())],
    );
    Reply::new(t.into_bytes())
}

/// main/pbx.c `manager_show_dialplan`: a `ListDialplan` item per priority (a hint first, as
/// `Priority: hint`) and per include, of every context or the one named, of every extension
/// or those matching `Extension`; then the counts. Errors: `Did not find context <c>`,
/// `Did not find extension <e>@<c>` (`… in any context` without a context).
pub(crate) fn show_dialplan(shared: &Shared, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
    let context = m.get_str("Context").filter(|c| !c.is_empty());
    let exten = m.get_str("Extension").filter(|e| !e.is_empty());
    let mut body = String::new();
    let (mut items, mut extens, mut prios, mut contexts) = (0usize, 0usize, 0usize, 0usize);
    let mut context_found = false;
    let mut exten_found = false;
    for ctx in shared.dialplan.contexts() {
        if context.is_some_and(|c| c != ctx.name) {
            continue;
        }
        context_found = true;
        let mut exts: Vec<_> = ctx
            .extensions()
            .iter()
            .filter(|e| exten.is_none_or(|x| e.matches(x)))
            .collect();
        exts.sort_by(|a, b| a.name.cmp(&b.name));
        let mut any = false;
        for e in exts {
            exten_found = true;
            any = true;
            extens += 1;
            let base = [("Context", ctx.name.clone()), ("Extension", e.name.clone())];
            if let Some(hint) = &e.hint {
                let mut h = base.to_vec();
                h.push(("Priority", "hint".into()));
                h.push(("Application", hint.clone()));
                h.push(("Registrar", "pbx_config".into()));
                item_id_first(&mut body, "ListDialplan", id, &h);
                items += 1;
                prios += 1;
            }
            for st in e.steps() {
                let mut h = base.to_vec();
                h.push(("Priority", st.priority.to_string()));
                h.push(("Application", st.app.clone()));
                h.push(("AppData", st.args.clone()));
                h.push(("Registrar", "pbx_config".into()));
                item_id_first(&mut body, "ListDialplan", id, &h);
                items += 1;
                prios += 1;
            }
        }
        if exten.is_none() {
            for inc in &ctx.includes {
                item_id_first(
                    &mut body,
                    "ListDialplan",
                    id,
                    &[
                        ("Context", ctx.name.clone()),
                        ("IncludeContext", inc.clone()),
                        ("Registrar", "pbx_config".into()),
                    ],
                );
                items += 1;
                any = true;
            }
        }
        if any {
            contexts += 1;
        }
    }
    if let Some(c) = context {
        if !context_found {
            return Reply::new(error(id, &format!("Did not find context {c}")));
        }
    }
    if let Some(x) = exten {
        if !exten_found {
            let text = match context {
                Some(c) => format!("Did not find extension {x}@{c}"),
                None => format!("Did not find extension {x} in any context"),
            };
            return Reply::new(error(id, &text));
        }
    }
    let mut t = listack(id, "DialPlan list will follow");
    t.push_str(&body);
    complete(
        &mut t,
        "ShowDialPlanComplete",
        id,
        items,
        &[
            ("ListExtensions", extens.to_string()),
            ("ListPriorities", prios.to_string()),
            ("ListContexts", contexts.to_string()),
        ],
    );
    Reply::new(t.into_bytes())
}

/// The queues a QueueStatus or QueueSummary asks for (`Queue`, or all), each with its index.
fn queue_filter<'a>(
    shared: &'a Shared,
    m: &MessageRef<'_>,
) -> impl Iterator<Item = (usize, &'a Queue)> {
    let wanted = m
        .get_str("Queue")
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    shared
        .queues
        .queues()
        .iter()
        .enumerate()
        .filter(move |(_, q)| {
            wanted
                .as_deref()
                .is_none_or(|w| q.name.eq_ignore_ascii_case(w))
        })
}

fn flag(b: bool) -> String {
    if b { "1" } else { "0" }.into()
}

/// apps/app_queue.c `manager_queues_status`, in recording 06's layout: `QueueParams`, a
/// `QueueMember` per member and a `QueueEntry` per waiting caller. Each member's `Status`,
/// `InCall`, `Paused` and pause are app_queue's, as its QueueMemberStatus and
/// QueueMemberPause events report them (`crate::queues`). No call is ever completed (the
/// simulator rings no member), so hold and talk times and the service levels stay 0.
/// `Queue` and `Member` narrow the list.
pub(crate) fn queue_status(shared: &Shared, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
    let member_filter = m.get_str("Member").filter(|v| !v.is_empty());
    let login = shared.queues.login_time().to_string();
    let mut t = listack(id, "Queue status will follow");
    let mut n = 0;
    for (qi, q) in queue_filter(shared, m) {
        let (callers, abandoned) = shared.queues.callers(qi);
        item_id_last(
            &mut t,
            "QueueParams",
            id,
            &[
                ("Queue", q.name.clone()),
                ("Max", q.maxlen.to_string()),
                ("Strategy", q.strategy.clone()),
                ("Calls", callers.len().to_string()),
                ("Holdtime", "0".into()),
                ("TalkTime", "0".into()),
                ("Completed", "0".into()),
                ("Abandoned", abandoned.to_string()),
                ("ServiceLevel", q.servicelevel.to_string()),
                ("ServicelevelPerf", "0.0".into()),
                ("ServicelevelPerf2", "0.0".into()),
                ("Weight", q.weight.to_string()),
            ],
        );
        n += 1;
        for (mi, mem) in q.members.iter().enumerate() {
            if member_filter.is_some_and(|f| f != mem.name && f != mem.interface) {
                continue;
            }
            let state = shared.queues.state(qi, mi);
            item_id_last(
                &mut t,
                "QueueMember",
                id,
                &[
                    ("Queue", q.name.clone()),
                    ("Name", mem.name.clone()),
                    ("Location", mem.interface.clone()),
                    ("StateInterface", mem.state_interface.clone()),
                    ("Membership", "static".into()),
                    ("Penalty", mem.penalty.to_string()),
                    ("CallsTaken", "0".into()),
                    ("LastCall", "0".into()),
                    ("LastPause", state.last_pause.to_string()),
                    ("LoginTime", login.clone()),
                    ("InCall", flag(state.in_call)),
                    ("Status", state.status.to_string()),
                    ("Paused", flag(state.paused)),
                    ("PausedReason", state.paused_reason.clone()),
                    ("Wrapuptime", "0".into()),
                ],
            );
            n += 1;
        }
        // The caller ID parts of a QueueEntry: `unknown` when not set (S_COR in app_queue).
        let known = |v: &str| {
            if v == "<unknown>" {
                "unknown".to_owned()
            } else {
                v.to_owned()
            }
        };
        for (pos, c) in callers.iter().enumerate() {
            item_id_last(
                &mut t,
                "QueueEntry",
                id,
                &[
                    ("Queue", q.name.clone()),
                    ("Position", (pos + 1).to_string()),
                    ("Channel", c.channel.clone()),
                    ("Uniqueid", c.uniqueid.clone()),
                    ("CallerIDNum", known(&c.cid.0)),
                    ("CallerIDName", known(&c.cid.1)),
                    ("ConnectedLineNum", known(&c.connected.0)),
                    ("ConnectedLineName", known(&c.connected.1)),
                    ("Wait", c.joined.elapsed().as_secs().to_string()),
                    ("Priority", "0".into()),
                ],
            );
            n += 1;
        }
    }
    complete(&mut t, "QueueStatusComplete", id, n, &[]);
    Reply::new(t.into_bytes())
}

/// apps/app_queue.c `manager_queues_summary`, in recording 06's layout: members logged in
/// (their device neither unavailable nor invalid) and available (not in use and not paused),
/// by the same member states as QueueStatus; the callers waiting and the longest wait.
pub(crate) fn queue_summary(shared: &Shared, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
    let mut t = listack(id, "Queue summary will follow");
    let mut n = 0;
    for (qi, q) in queue_filter(shared, m) {
        let states: Vec<_> = (0..q.members.len())
            .map(|mi| shared.queues.state(qi, mi))
            .collect();
        let logged_in = states.iter().filter(|s| s.logged_in()).count();
        let available = states
            .iter()
            .filter(|s| s.logged_in() && s.available())
            .count();
        let (callers, _) = shared.queues.callers(qi);
        let longest = callers
            .iter()
            .map(|c| c.joined.elapsed().as_secs())
            .max()
            .unwrap_or(0);
        item_id_last(
            &mut t,
            "QueueSummary",
            id,
            &[
                ("Queue", q.name.clone()),
                ("LoggedIn", logged_in.to_string()),
                ("Available", available.to_string()),
                ("Callers", callers.len().to_string()),
                ("HoldTime", "0".into()),
                ("TalkTime", "0".into()),
                ("LongestHoldTime", longest.to_string()),
            ],
        );
        n += 1;
    }
    complete(&mut t, "QueueSummaryComplete", id, n, &[]);
    Reply::new(t.into_bytes())
}

/// apps/app_queue.c `manager_pause_queue_member`: `Interface` and `Paused` are required;
/// `Queue` narrows it to one queue, `Reason` is kept as the member's `PausedReason`. Raises
/// app_queue's QueueMemberPause events and its queue device states.
pub(crate) fn queue_pause(shared: &Shared, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
    let interface = m.get_str("Interface").unwrap_or("");
    let paused = m.get_str("Paused").unwrap_or("");
    if interface.is_empty() || paused.is_empty() {
        return Reply::new(error(id, "Need 'Interface' and 'Paused' parameters."));
    }
    // ast_true.
    let paused =
        ["yes", "true", "y", "t", "1", "on"].contains(&paused.to_ascii_lowercase().as_str());
    let queue = m.get_str("Queue").filter(|q| !q.is_empty());
    let reason = m.get_str("Reason").unwrap_or("");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let Ok(changed) = shared.queues.pause(queue, interface, paused, reason, now) else {
        return Reply::new(error(id, "Interface not found"));
    };
    let mut events = Vec::new();
    for (event, devices) in changed {
        events.push(event);
        for (device, state) in devices {
            shared.apps.set_device(&device, &state);
            events.push(SimEvent::new(
                "DeviceStateChange",
                crate::accounts::Privileges::CALL,
                &[("Device", &device), ("State", &state)],
            ));
        }
    }
    let text = if paused {
        "Interface paused successfully"
    } else {
        "Interface unpaused successfully"
    };
    Reply {
        events,
        ..Reply::new(Out::response("Success", id).h("Message", text).done())
    }
}

/// apps/app_agent_pool.c `action_agents`, in recording 06's layout: per agent `Agent`,
/// `Name`, `Status`; a logged-in agent (AgentLogin, `crate::apps`) is `AGENT_IDLE` (the
/// simulator gives agents no calls) with its `LoggedInTime` and its channel's snapshot, the
/// others `AGENT_LOGGEDOFF`; then the ActionID.
pub(crate) fn agents(shared: &Shared, id: Option<&str>) -> Reply {
    let mut t = listack(id, "Agents will follow");
    let logged = shared.apps.logged_in();
    let channels = shared.channels.list();
    for a in &shared.agents {
        let mut h: Vec<(&str, String)> = vec![("Agent", a.id.clone()), ("Name", a.name.clone())];
        let on = logged.iter().find(|l| l.agent == a.id).and_then(|l| {
            let (_, live) = channels.iter().find(|(c, _)| *c == l.channel)?;
            Some((l.since, live))
        });
        match on {
            Some((since, live)) => {
                h.push(("Status", "AGENT_IDLE".into()));
                h.push(("LoggedInTime", since.to_string()));
                h.extend(live.snapshot.iter().map(|(k, v)| (k.as_str(), v.clone())));
            }
            None => h.push(("Status", "AGENT_LOGGEDOFF".into())),
        }
        item_id_last(&mut t, "Agents", id, &h);
    }
    complete(&mut t, "AgentsComplete", id, shared.agents.len(), &[]);
    Reply::new(t.into_bytes())
}

fn yes_no(b: bool) -> String {
    if b { "Yes" } else { "No" }.into()
}

/// apps/app_confbridge.c `action_confbridgelistrooms`: a `ConfbridgeListRooms` item per
/// conference (recording 06's layout); with no conference up, `No active conferences.`.
/// No user is marked, and conferences are neither locked nor muted.
pub(crate) fn confbridge_list_rooms(shared: &Shared, id: Option<&str>) -> Reply {
    let confs = shared.apps.conferences();
    if confs.is_empty() {
        return Reply::new(error(id, "No active conferences."));
    }
    let mut t = listack(id, "Confbridge conferences will follow");
    for c in &confs {
        item_id_first(
            &mut t,
            "ConfbridgeListRooms",
            id,
            &[
                ("Conference", c.name.clone()),
                ("Parties", c.users.len().to_string()),
                ("Marked", "0".into()),
                ("Locked", yes_no(false)),
                ("Muted", yes_no(false)),
            ],
        );
    }
    complete(&mut t, "ConfbridgeListRoomsComplete", id, confs.len(), &[]);
    Reply::new(t.into_bytes())
}

/// apps/app_confbridge.c `action_confbridgelist`: a conference name is required; with no
/// conference up, `No active conferences.`; an unknown one, `No Conference by that name
/// found.`. Else a `ConfbridgeList` item per user (recording 06's layout: the flags, all
/// `No` for the simulator's users, `AnsweredTime` in seconds, the channel's snapshot).
pub(crate) fn confbridge_list(shared: &Shared, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
    let Some(name) = m.get_str("Conference").filter(|c| !c.is_empty()) else {
        return Reply::new(error(id, "No Conference name provided."));
    };
    let confs = shared.apps.conferences();
    if confs.is_empty() {
        return Reply::new(error(id, "No active conferences."));
    }
    let Some(conf) = confs.iter().find(|c| c.name == name) else {
        return Reply::new(error(id, "No Conference by that name found."));
    };
    let channels = shared.channels.list();
    let mut t = listack(id, "Confbridge user list will follow");
    let mut n = 0;
    for u in &conf.users {
        let Some((_, live)) = channels.iter().find(|(c, _)| *c == u.channel) else {
            continue;
        };
        let answered = std::time::SystemTime::now()
            .duration_since(u.answered)
            .unwrap_or_default()
            .as_secs();
        let mut h: Vec<(&str, String)> = vec![("Conference", conf.name.clone())];
        for k in [
            "Admin",
            "MarkedUser",
            "WaitMarked",
            "EndMarked",
            "EndMarkedAny",
            "Waiting",
            "Muted",
            "Talking",
        ] {
            h.push((k, yes_no(false)));
        }
        h.push(("AnsweredTime", answered.to_string()));
        h.extend(live.snapshot.iter().map(|(k, v)| (k.as_str(), v.clone())));
        item_id_first(&mut t, "ConfbridgeList", id, &h);
        n += 1;
    }
    complete(&mut t, "ConfbridgeListComplete", id, n, &[]);
    Reply::new(t.into_bytes())
}
