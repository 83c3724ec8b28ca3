//! The applications that keep the caller: Wait (holding), ConfBridge, Queue and AgentLogin; their
//! state is in [`crate::apps`] and [`crate::queues`].

use super::*;

/// How an application that keeps the caller (ConfBridge) stopped keeping it.
pub(super) enum Held {
    /// Its time ran out: the dialplan goes on.
    Done,
    /// The ;1 side's application or dialplan ended: the pair hangs up so.
    OneEnded(Ending),
    /// A Hangup or Redirect action (`killed`'s value).
    Killed(u8),
}

/// Keeps the ;2 side in an application until `until` (forever if `None`), a Hangup or
/// Redirect action, or the end of the ;1 side's application or dialplan, which runs
/// meanwhile.
pub(super) async fn hold(
    ev: &Raise<'_>,
    channels: &Channels,
    ctl: &CallCtl,
    one_side: &mut OneSide,
    one: &mut Chan,
    until: Option<tokio::time::Instant>,
) -> Held {
    loop {
        let one_ends = one_side
            .deadline()
            .filter(|at| until.is_none_or(|u| *at < u));
        let next = one_ends.or(until);
        tokio::select! {
            _ = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {
                if one_ends.is_none() {
                    return Held::Done;
                }
                if let Some(how) = one_side.expired(ev, one) {
                    return Held::OneEnded(how);
                }
                channels.put(one, &one_side.shown.0, &one_side.shown.1, ctl);
            }
            _ = ctl.kill.notified() => {
                return Held::Killed(ctl.killed.swap(0, Ordering::SeqCst));
            }
        }
    }
}

/// Where a Redirect sends the call: the context, extension and the steps from the priority
/// asked for (`None` if there is no such place).
pub(super) fn redirect_target(
    ctl: &CallCtl,
    dialplan: &Dialplan,
) -> Option<(String, String, Vec<crate::dialplan::Step>)> {
    let (c, e, p) = ctl
        .redirect
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()?;
    let ext = dialplan.lookup(&c, &e)?;
    let at = ext.steps().iter().position(|s| s.priority >= p)?;
    Some((c, e, ext.steps()[at..].to_vec()))
}

/// `ConfBridge(<name>,…)` on the ;2 side `two`: it joins the conference (started if it is
/// not up) and stays until it is hung up or redirected (the simulator's users never leave by
/// themselves), then leaves it (the conference ends with its last user).
///
/// No recording shows ConfBridge's events; their layouts are apps/confbridge/
/// confbridge_manager.c's (`Conference`, the bridge block, the channel's snapshot, `Admin`,
/// and `Muted` on a join) and their order app_confbridge.c's: the bridge is created and the
/// conference started (ConfbridgeStart) with its first user; each user enters the bridge
/// (BridgeEnter) then joins (ConfbridgeJoin); on leaving, BridgeLeave then ConfbridgeLeave,
/// and with the last user ConfbridgeEnd then BridgeDestroy. The conference's device
/// `confbridge:<name>` is INUSE while it is up, NOT_INUSE after. While the conference is up,
/// bridge counts include the announcer channel (`crate::apps::Conference::bridge_channels`),
/// whose own events are not raised; BridgeCreate counts 0, and the events of the last user's
/// leaving 0.
#[allow(clippy::too_many_arguments)]
pub(super) async fn confbridge(ev: &mut Raise<'_>, call: AppCall<'_>, name: &str) -> Held {
    let AppCall {
        apps,
        channels,
        ctl,
        one_side,
        one,
        two,
    } = call;
    let user = crate::apps::ConfUser {
        channel: two.name.clone(),
        answered: two.answered.unwrap_or_else(std::time::SystemTime::now),
    };
    let (conf, started) = apps.join(name, user, &new_bridge_id(ev.random));
    let block = |c: &crate::apps::Conference, n: usize| -> Vec<(String, String)> {
        conference_bridge_block(c)
            .into_iter()
            .map(|(k, v)| {
                let v = if k == "BridgeNumChannels" {
                    n.to_string()
                } else {
                    v
                };
                (k.to_owned(), v)
            })
            .collect()
    };
    let conf_event = |ev: &Raise<'_>,
                      kind: &str,
                      c: &crate::apps::Conference,
                      n: usize,
                      who: Option<&[(&str, &str)]>| {
        let mut h = vec![("Conference".to_owned(), c.name.clone())];
        h.extend(block(c, n));
        if let Some(extra) = who {
            h.extend(two.snapshot(""));
            h.extend(
                extra
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            );
        }
        ev.raise(event(kind, Privileges::CALL, h));
    };
    let device = format!("confbridge:{name}");
    let n = conf.bridge_channels();
    if started {
        // A bridge is created empty (recording 08's BridgeCreate); the announcer is in it
        // by the time the conference starts.
        ev.raise(event("BridgeCreate", Privileges::CALL, block(&conf, 0)));
        conf_event(ev, "ConfbridgeStart", &conf, n - 1, None);
        apps.set_device(&device, "INUSE");
        ev.devstate(&device, "INUSE");
    }
    let mut h = block(&conf, n);
    h.extend(two.snapshot(""));
    ev.raise(event("BridgeEnter", Privileges::CALL, h));
    conf_event(
        ev,
        "ConfbridgeJoin",
        &conf,
        n,
        Some(&[("Admin", "No"), ("Muted", "No")]),
    );
    ev.flush();
    channels.set_bridge(&two.name, &conf.bridge_id);
    let held = hold(ev, channels, ctl, one_side, one, None).await;
    channels.set_bridge(&two.name, "");
    if let Some((conf, ended)) = apps.leave(name, &two.name) {
        let n = if ended { 0 } else { conf.bridge_channels() };
        let mut h = block(&conf, n);
        h.extend(two.snapshot(""));
        ev.raise(event("BridgeLeave", Privileges::CALL, h));
        conf_event(ev, "ConfbridgeLeave", &conf, n, Some(&[("Admin", "No")]));
        if ended {
            conf_event(ev, "ConfbridgeEnd", &conf, 0, None);
            apps.set_device(&device, "NOT_INUSE");
            ev.devstate(&device, "NOT_INUSE");
            ev.raise(event("BridgeDestroy", Privileges::CALL, block(&conf, 0)));
        }
        ev.flush();
    }
    held
}

/// What the Queue and AgentLogin applications need of their call.
pub(super) struct AppCall<'c> {
    pub(super) apps: &'c crate::apps::Apps,
    pub(super) channels: &'c Channels,
    pub(super) ctl: &'c CallCtl,
    pub(super) one_side: &'c mut OneSide,
    pub(super) one: &'c mut Chan,
    pub(super) two: &'c Chan,
}

/// `Queue(<name>,…,<timeout>)` on the ;2 side: it joins the queue (`crate::queues`) and waits
/// there until its timeout (then the dialplan goes on, `QUEUESTATUS` set to `TIMEOUT`), or it
/// is hung up (the call is abandoned) or redirected. The simulator rings no member, whether
/// paused or not. An unknown queue is stepped over.
///
/// No recording shows the Queue application's events; their layouts and order are
/// apps/app_queue.c's: QueueCallerJoin (the channel's snapshot, `Queue`, `Position`, `Count`)
/// and the queue's device `Queue:<name>` RINGING; on leaving, QueueCallerAbandon (`Queue`,
/// `Position`, `OriginalPosition`, `HoldTime`) if it hung up, then QueueCallerLeave (`Queue`,
/// `Count`, `Position`), and `Queue:<name>` NOT_INUSE once no caller is left. Recording 06
/// shows the device states (`Queue:support` RINGING with a caller waiting).
pub(super) async fn queue(
    ev: &mut Raise<'_>,
    call: AppCall<'_>,
    name: &str,
    timeout: Option<Duration>,
) -> Held {
    let AppCall {
        apps,
        channels,
        ctl,
        one_side,
        one,
        two,
    } = call;
    let queues = ev.queues;
    let Some(qi) = queues.index(name) else {
        return Held::Done;
    };
    let qname = queues.queues()[qi].name.clone();
    let caller = crate::queues::Caller {
        channel: two.name.clone(),
        uniqueid: two.uniqueid.clone(),
        cid: two.cid.clone(),
        connected: two.connected.clone(),
        joined: std::time::Instant::now(),
        original_position: 0,
    };
    let Some(position) = queues.join(qi, caller) else {
        return Held::Done;
    };
    let (pos, count) = (position.to_string(), position.to_string());
    ev.chan(
        "QueueCallerJoin",
        Privileges::AGENT,
        two,
        &[("Queue", &qname), ("Position", &pos), ("Count", &count)],
    );
    let device = format!("Queue:{qname}");
    apps.set_device(&device, "RINGING");
    ev.devstate(&device, "RINGING");
    ev.flush();
    let until = timeout.map(|t| tokio::time::Instant::now() + t);
    let held = hold(ev, channels, ctl, one_side, one, until).await;
    let abandoned = match held {
        Held::Done | Held::Killed(REDIRECTED) => false,
        Held::OneEnded(_) | Held::Killed(_) => true,
    };
    if let Some(left) = queues.leave(qi, &two.name, abandoned) {
        let (pos, count) = (left.position.to_string(), left.count.to_string());
        if abandoned {
            let (orig, waited) = (left.original_position.to_string(), left.waited.to_string());
            ev.chan(
                "QueueCallerAbandon",
                Privileges::AGENT,
                two,
                &[
                    ("Queue", &qname),
                    ("Position", &pos),
                    ("OriginalPosition", &orig),
                    ("HoldTime", &waited),
                ],
            );
        }
        ev.chan(
            "QueueCallerLeave",
            Privileges::AGENT,
            two,
            &[("Queue", &qname), ("Count", &count), ("Position", &pos)],
        );
        if left.count == 0 {
            apps.set_device(&device, "NOT_INUSE");
            ev.devstate(&device, "NOT_INUSE");
        }
        ev.flush();
    }
    if matches!(held, Held::Done) {
        ev.varset(two, "QUEUESTATUS", "TIMEOUT");
    }
    held
}

/// `AgentLogin(<agent>,…)` on the ;2 side: the agent logs in and the channel waits in
/// app_agent_pool's holding bridge until it is hung up or redirected; then the agent logs
/// off. `None` if the agent is not configured or is logged in already (the application
/// fails, and the channel hangs up).
///
/// No recording shows its events; layouts from main/stasis_channels.c (AgentLogin: the
/// channel's snapshot and `Agent`; AgentLogoff: the same and `Logintime`, the seconds it was
/// logged in), order from apps/app_agent_pool.c: AgentLogin, the holding bridge's
/// BridgeCreate at the first login ever (the bridge is then kept), BridgeEnter; on hanging
/// up, BridgeLeave then AgentLogoff. Recording 06 shows the bridge and the Agents list.
pub(super) async fn agent_login(
    ev: &mut Raise<'_>,
    call: AppCall<'_>,
    agent: &str,
) -> Option<Held> {
    let AppCall {
        apps,
        channels,
        ctl,
        one_side,
        one,
        two,
    } = call;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (bridge, made, n) = apps
        .agent_login(agent, &two.name, now, &new_bridge_id(ev.random))
        .ok()?;
    ev.chan("AgentLogin", Privileges::AGENT, two, &[("Agent", agent)]);
    let block = |n: usize| -> Vec<(String, String)> {
        agent_bridge_block(&bridge, n)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    };
    if made {
        ev.raise(event("BridgeCreate", Privileges::CALL, block(0)));
    }
    let mut h = block(n);
    h.extend(two.snapshot(""));
    ev.raise(event("BridgeEnter", Privileges::CALL, h));
    channels.set_bridge(&two.name, &bridge);
    let held = hold(ev, channels, ctl, one_side, one, None).await;
    channels.set_bridge(&two.name, "");
    if let Some((since, left)) = apps.agent_logoff(agent) {
        let mut h = block(left);
        h.extend(two.snapshot(""));
        ev.raise(event("BridgeLeave", Privileges::CALL, h));
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            .saturating_sub(since);
        ev.chan(
            "AgentLogoff",
            Privileges::AGENT,
            two,
            &[("Agent", agent), ("Logintime", &secs.to_string())],
        );
    }
    Some(held)
}
