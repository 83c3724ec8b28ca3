//! Calls on Local channels: what an Originate starts. A small model of Asterisk's channels
//! that runs the dialplan of the called extension (Answer, Wait, Set, UserEvent, Hangup; other
//! applications are stepped over) and raises the events a real Asterisk raises for it
//! (Newchannel, LocalBridge, Newexten, VarSet, Newstate, UserEvent, HangupRequest, Hangup,
//! OriginateResponse), with the header blocks of the recordings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, oneshot};

use crate::accounts::Privileges;
use crate::dialplan::{split_args, Dialplan};
use crate::session::SimEvent;

/// Where an originated call goes once answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `Application` / `Data`.
    App {
        /// Application name.
        app: String,
        /// Its data.
        data: String,
    },
    /// `Context` / `Exten` / `Priority`.
    Exten {
        /// Context.
        context: String,
        /// Extension.
        exten: String,
        /// Priority.
        priority: u32,
    },
}

/// A validated Originate.
#[derive(Clone, Debug)]
pub struct OriginateRequest {
    /// The action's ActionID (copied into OriginateResponse).
    pub action_id: Option<String>,
    /// The `Channel` header as sent.
    pub channel: String,
    /// Its Local extension and context, when it is `Local/<exten>@<context>`.
    pub local: Option<(String, String)>,
    /// Where the call goes.
    pub target: Target,
    /// Caller ID number and name.
    pub caller_id: (Option<String>, Option<String>),
    /// Channel variables.
    pub variables: Vec<(String, String)>,
    /// `ChannelId` (Uniqueid of the first channel), if given.
    pub channel_id: Option<String>,
    /// `OtherChannelId`, if given.
    pub other_channel_id: Option<String>,
    /// `Async: true`.
    pub asynchronous: bool,
    /// How long to wait for an answer.
    pub timeout: Duration,
}

/// Counters shared by all calls of a simulator (channel numbers and unique IDs).
#[derive(Debug, Default)]
pub struct Counters {
    /// The number in the next Local channel name (`Local/100@test-0000001a;1`).
    pub channel: AtomicU64,
    unique: AtomicU64,
    /// Calls started.
    pub processed: AtomicU64,
}

/// A live channel, as CoreShowChannels and Hangup see it.
#[derive(Debug, Clone)]
pub struct Live {
    /// The channel snapshot headers (Channel … Linkedid).
    pub snapshot: Vec<(String, String)>,
    /// The application it runs.
    pub app: String,
    /// Its data.
    pub data: String,
    /// When it was created.
    pub started: std::time::Instant,
    /// Rings the call's task to hang up; which side asked is in `killed`.
    kill: Arc<tokio::sync::Notify>,
    killed: Arc<std::sync::atomic::AtomicU8>,
    redirect: Arc<std::sync::Mutex<Option<(String, String, u32)>>>,
    side: u8,
    /// Channel variables set by Setvar.
    pub vars: std::collections::BTreeMap<String, String>,
}

/// `killed` value asking the call to continue at its redirect target.
const REDIRECTED: u8 = 3;

/// The live channels of a simulator, by name.
#[derive(Debug, Default)]
pub struct Channels {
    map: std::sync::Mutex<std::collections::BTreeMap<String, Live>>,
}

impl Channels {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, Live>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every live channel, in name order.
    pub fn list(&self) -> Vec<(String, Live)> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Hangs a channel up (the Hangup action); `false` if there is no such channel.
    pub fn hangup(&self, name: &str) -> bool {
        match self.lock().get(name) {
            Some(live) => {
                live.killed.store(live.side, Ordering::SeqCst);
                live.kill.notify_one();
                true
            }
            None => false,
        }
    }

    /// A channel variable (`None` when there is no such channel; empty when unset).
    pub fn get_var(&self, chan: &str, var: &str) -> Option<String> {
        self.lock()
            .get(chan)
            .map(|l| l.vars.get(var).cloned().unwrap_or_default())
    }

    /// Sets a channel variable and returns the channel's snapshot (for the VarSet event), or
    /// `None` when there is no such channel.
    pub fn set_var(&self, chan: &str, var: &str, value: &str) -> Option<Vec<(String, String)>> {
        let mut map = self.lock();
        let live = map.get_mut(chan)?;
        live.vars.insert(var.to_owned(), value.to_owned());
        Some(live.snapshot.clone())
    }

    /// Sends a channel to `context`, `exten`, `priority` (the Redirect action); `false` if
    /// there is no such channel.
    pub fn redirect(&self, name: &str, context: &str, exten: &str, priority: u32) -> bool {
        match self.lock().get(name) {
            Some(live) => {
                *live.redirect.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((context.to_owned(), exten.to_owned(), priority));
                live.killed.store(REDIRECTED, Ordering::SeqCst);
                live.kill.notify_one();
                true
            }
            None => false,
        }
    }

    fn put(&self, chan: &Chan, app: &str, data: &str, call: &CallCtl) {
        let (kill, killed, redirect) = (&call.kill, &call.killed, &call.redirect);
        let side = if chan.name.ends_with(";2") { 2 } else { 1 };
        let mut map = self.lock();
        let (started, vars) = map
            .get(&chan.name)
            .map(|l| (l.started, l.vars.clone()))
            .unwrap_or_else(|| (std::time::Instant::now(), Default::default()));
        map.insert(
            chan.name.clone(),
            Live {
                snapshot: chan.snapshot(""),
                app: app.to_owned(),
                data: data.to_owned(),
                started,
                kill: kill.clone(),
                killed: killed.clone(),
                redirect: redirect.clone(),
                side,
                vars,
            },
        );
    }

    fn remove(&self, name: &str) {
        self.lock().remove(name);
    }
}

/// What a call's task listens to: hang-up and redirect requests.
#[derive(Debug, Default)]
struct CallCtl {
    kill: Arc<tokio::sync::Notify>,
    killed: Arc<std::sync::atomic::AtomicU8>,
    redirect: Arc<std::sync::Mutex<Option<(String, String, u32)>>>,
}

/// One side of a Local channel pair.
#[derive(Clone, Debug)]
struct Chan {
    name: String,
    state: u8,
    cid: (String, String),
    connected: (String, String),
    context: String,
    exten: String,
    priority: u32,
    uniqueid: String,
    linkedid: String,
    /// CDR bookkeeping: the last application and its data, when the channel was created and
    /// answered, the channel it dialled, and whether it gets a Cdr of its own (the outgoing
    /// leg of a Dial shares its caller's).
    last_app: (String, String),
    started: std::time::SystemTime,
    answered: Option<std::time::SystemTime>,
    dialled: String,
    cdr: bool,
}

fn state_desc(state: u8) -> &'static str {
    match state {
        0 => "Down",
        4 => "Ring",
        5 => "Ringing",
        6 => "Up",
        _ => "Unknown",
    }
}

impl Chan {
    /// The channel snapshot block every channel event carries, with `prefix` on each key.
    fn snapshot(&self, prefix: &str) -> Vec<(String, String)> {
        let k = |s: &str| format!("{prefix}{s}");
        vec![
            (k("Channel"), self.name.clone()),
            (k("ChannelState"), self.state.to_string()),
            (k("ChannelStateDesc"), state_desc(self.state).into()),
            (k("CallerIDNum"), self.cid.0.clone()),
            (k("CallerIDName"), self.cid.1.clone()),
            (k("ConnectedLineNum"), self.connected.0.clone()),
            (k("ConnectedLineName"), self.connected.1.clone()),
            (k("Language"), "en".into()),
            (k("AccountCode"), String::new()),
            (k("Context"), self.context.clone()),
            (k("Exten"), self.exten.clone()),
            (k("Priority"), self.priority.to_string()),
            (k("Uniqueid"), self.uniqueid.clone()),
            (k("Linkedid"), self.linkedid.clone()),
        ]
    }
}

fn event(name: &str, class: Privileges, headers: Vec<(String, String)>) -> SimEvent {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    SimEvent::new(name, class, &pairs)
}

fn unknown(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "<unknown>".into())
}

/// Starts an originated call on the simulator's state. For a synchronous Originate, waits
/// until the call is answered or fails (as Asterisk blocks the session meanwhile) and returns
/// the answer to write; `None` for an asynchronous one, already answered.
pub(crate) async fn originate(
    req: OriginateRequest,
    shared: &crate::session::Shared,
    events: &broadcast::Sender<SimEvent>,
) -> Option<Vec<u8>> {
    let (tx, rx) = oneshot::channel();
    let sync = !req.asynchronous;
    let id = req.action_id.clone();
    let limit = req.timeout + Duration::from_secs(1);
    tokio::spawn(run(
        req,
        shared.dialplan.clone(),
        shared.counters.clone(),
        shared.channels.clone(),
        shared.epoch(),
        events.clone(),
        tx,
    ));
    if !sync {
        return None;
    }
    let ok = matches!(tokio::time::timeout(limit, rx).await, Ok(Ok(true)));
    Some(crate::session::originate_reply(id.as_deref(), ok))
}

/// Runs one originated call to its end. `answered` gets `true` once the called side answers
/// (a synchronous Originate answers the action then), `false` if it cannot be placed.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    req: OriginateRequest,
    dialplan: Arc<Dialplan>,
    counters: Arc<Counters>,
    channels: Arc<Channels>,
    epoch: u64,
    bus: broadcast::Sender<SimEvent>,
    answered: oneshot::Sender<bool>,
) {
    let raise = |e: SimEvent| {
        let _ = bus.send(e);
    };
    let originate_response = |ok: bool, chan: Option<&Chan>| {
        let mut h: Vec<(String, String)> = Vec::new();
        if let Some(id) = &req.action_id {
            h.push(("ActionID".into(), id.clone()));
        }
        h.push((
            "Response".into(),
            if ok { "Success" } else { "Failure" }.into(),
        ));
        h.push((
            "Channel".into(),
            chan.map(|c| c.name.clone())
                .unwrap_or_else(|| req.channel.clone()),
        ));
        match &req.target {
            Target::App { app, data } => {
                h.push(("Application".into(), app.clone()));
                h.push(("Data".into(), data.clone()));
            }
            Target::Exten { context, exten, .. } => {
                h.push(("Context".into(), context.clone()));
                h.push(("Exten".into(), exten.clone()));
            }
        }
        h.push(("Reason".into(), if ok { "4" } else { "0" }.into()));
        match chan {
            Some(c) => {
                h.push(("Uniqueid".into(), c.uniqueid.clone()));
                h.push(("CallerIDNum".into(), unknown(&req.caller_id.0)));
                h.push(("CallerIDName".into(), unknown(&req.caller_id.1)));
            }
            None => {
                for k in ["Uniqueid", "CallerIDNum", "CallerIDName"] {
                    h.push((k.into(), "<unknown>".into()));
                }
            }
        }
        event("OriginateResponse", Privileges::CALL, h)
    };

    // Only Local channels to an existing extension can be placed.
    let steps = req
        .local
        .as_ref()
        .and_then(|(exten, context)| dialplan.lookup(context, exten).map(|e| e.steps().to_vec()));
    let (Some((exten, context)), Some(steps)) = (req.local.clone(), steps) else {
        if req.asynchronous {
            raise(originate_response(false, None));
        }
        let _ = answered.send(false);
        return;
    };
    counters.processed.fetch_add(1, Ordering::Relaxed);
    let n = counters.channel.fetch_add(1, Ordering::Relaxed);
    let mut next_unique = || {
        format!(
            "{epoch}.{}",
            counters.unique.fetch_add(1, Ordering::Relaxed)
        )
    };
    let base = format!("Local/{exten}@{context}-{n:08x}");
    let u1 = req.channel_id.clone().unwrap_or_else(&mut next_unique);
    let u2 = req
        .other_channel_id
        .clone()
        .unwrap_or_else(&mut next_unique);
    let cid = (unknown(&req.caller_id.0), unknown(&req.caller_id.1));
    let mut one = Chan {
        name: format!("{base};1"),
        state: 0,
        cid: cid.clone(),
        connected: cid.clone(),
        context: context.clone(),
        exten: exten.clone(),
        priority: 1,
        uniqueid: u1.clone(),
        linkedid: u1.clone(),
        last_app: match &req.target {
            Target::App { app, data } => (app.clone(), data.clone()),
            Target::Exten { .. } => ("AppDial2".into(), "(Outgoing Line)".into()),
        },
        started: std::time::SystemTime::now(),
        answered: None,
        dialled: String::new(),
        cdr: true,
    };
    let mut two = Chan {
        name: format!("{base};2"),
        state: 4,
        uniqueid: u2,
        ..one.clone()
    };
    let ctl = CallCtl::default();
    let kill = ctl.kill.clone();
    let killed = ctl.killed.clone();
    let (app1, data1) = match &req.target {
        Target::App { app, data } => (app.clone(), data.clone()),
        Target::Exten { .. } => ("AppDial2".to_owned(), "(Outgoing Line)".to_owned()),
    };
    channels.put(&one, &app1, &data1, &ctl);
    channels.put(&two, "", "", &ctl);
    raise(event("Newchannel", Privileges::CALL, one.snapshot("")));
    raise(event("Newchannel", Privileges::CALL, two.snapshot("")));
    let mut bridge = one.snapshot("LocalOne");
    bridge.extend(two.snapshot("LocalTwo"));
    bridge.push(("Context".into(), context.clone()));
    bridge.push(("Exten".into(), exten.clone()));
    bridge.push(("LocalOptimization".into(), "No".into()));
    raise(event("LocalBridge", Privileges::CALL, bridge));
    for (k, v) in &req.variables {
        let mut h = one.snapshot("");
        h.push(("Variable".into(), k.clone()));
        h.push(("Value".into(), v.clone()));
        raise(event("VarSet", Privileges::DIALPLAN, h));
    }

    // The called side (;2) runs the dialplan; the call is answered at its Answer().
    let mut answered = Some(answered);
    let deadline = tokio::time::Instant::now() + req.timeout;
    let mut hung_up_by_two = false;
    let mut steps = steps;
    let mut exten = exten;
    let mut i = 0;
    while i < steps.len() {
        let step = steps[i].clone();
        i += 1;
        let step = &step;
        two.priority = step.priority;
        if two.dialled.is_empty() {
            // A bridged Dial ends the channel's CDR: its last application stays Dial.
            two.last_app = (step.app.clone(), step.args.clone());
        }
        let mut h = two.snapshot("");
        h.push(("Extension".into(), exten.clone()));
        h.push(("Application".into(), step.app.clone()));
        h.push(("AppData".into(), step.args.clone()));
        raise(event("Newexten", Privileges::DIALPLAN, h));
        channels.put(&two, &step.app, &step.args, &ctl);
        let args = split_args(&step.args);
        match step.app.to_ascii_lowercase().as_str() {
            "answer" => {
                two.state = 6;
                one.state = 6;
                let now = Some(std::time::SystemTime::now());
                two.answered = two.answered.or(now);
                one.answered = one.answered.or(now);
                raise(event("Newstate", Privileges::CALL, two.snapshot("")));
                raise(event("Newstate", Privileges::CALL, one.snapshot("")));
                channels.put(&one, &app1, &data1, &ctl);
                channels.put(&two, &step.app, &step.args, &ctl);
                if let Some(tx) = answered.take() {
                    if req.asynchronous {
                        raise(originate_response(true, Some(&one)));
                    }
                    let _ = tx.send(true);
                }
            }
            "wait" => {
                let secs: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(0.0);
                let wait = Duration::from_secs_f64(secs.clamp(0.0, 86_400.0));
                if answered.is_some() && tokio::time::Instant::now() + wait > deadline {
                    break;
                }
                if one.state == 6 {
                    // The caller side runs its application meanwhile; the shorter ends it.
                    if let Some(limit) = target_duration(&req.target) {
                        if limit < wait {
                            let by_two = tokio::select! {
                                _ = tokio::time::sleep(limit) => false,
                                _ = kill.notified() => killed.load(Ordering::SeqCst) == 2,
                            };
                            return end(&raise, &channels, &mut one, &mut two, by_two);
                        }
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = kill.notified() => {
                        let why = killed.swap(0, Ordering::SeqCst);
                        if why == REDIRECTED {
                            let target = ctl.redirect.lock().unwrap_or_else(|e| e.into_inner()).take();
                            let found = target.and_then(|(c, e, p)| {
                                let ext = dialplan.lookup(&c, &e)?;
                                let at = ext.steps().iter().position(|s| s.priority >= p)?;
                                Some((c, e, ext.steps()[at..].to_vec()))
                            });
                            match found {
                                Some((c, e, new_steps)) => {
                                    two.context = c;
                                    two.exten = e.clone();
                                    exten = e;
                                    steps = new_steps;
                                    i = 0;
                                    continue;
                                }
                                None => {
                                    hung_up_by_two = true;
                                    break;
                                }
                            }
                        }
                        return end(&raise, &channels, &mut one, &mut two, why == 2);
                    }
                }
            }
            "set" => {
                if let Some((k, v)) = step.args.split_once('=') {
                    let mut h = two.snapshot("");
                    h.push(("Variable".into(), k.to_owned()));
                    h.push(("Value".into(), v.to_owned()));
                    raise(event("VarSet", Privileges::DIALPLAN, h));
                }
            }
            "userevent" => {
                let mut h = two.snapshot("");
                if let Some(name) = args.first() {
                    h.push(("UserEvent".into(), name.clone()));
                }
                for a in args.iter().skip(1) {
                    if let Some((k, v)) = a.split_once(':') {
                        h.push((k.trim().to_owned(), v.trim_start().to_owned()));
                    }
                }
                raise(event("UserEvent", Privileges::USER, h));
            }
            "hangup" => {
                hung_up_by_two = true;
                break;
            }
            "dial" => {
                let dest = args.first().cloned().unwrap_or_default();
                let callee = dest
                    .strip_prefix("Local/")
                    .and_then(|r| r.split_once('@'))
                    .map(|(x, c)| (x.to_owned(), c.split('/').next().unwrap_or(c).to_owned()))
                    .and_then(|(x, c)| {
                        let steps = dialplan.lookup(&c, &x)?.steps().to_vec();
                        Some((x, c, steps))
                    });
                let Some((x, c, inner_steps)) = callee else {
                    let mut h = two.snapshot("");
                    h.push(("Variable".into(), "DIALSTATUS".into()));
                    h.push(("Value".into(), "CHANUNAVAIL".into()));
                    raise(event("VarSet", Privileges::DIALPLAN, h));
                    continue;
                };
                let n2 = counters.channel.fetch_add(1, Ordering::Relaxed);
                let unique = |counters: &Counters| {
                    format!(
                        "{epoch}.{}",
                        counters.unique.fetch_add(1, Ordering::Relaxed)
                    )
                };
                let mut a = Chan {
                    name: format!("Local/{x}@{c}-{n2:08x};1"),
                    state: 0,
                    context: c.clone(),
                    exten: String::new(),
                    priority: 1,
                    uniqueid: unique(&counters),
                    last_app: ("AppDial".into(), "(Outgoing Line)".into()),
                    started: std::time::SystemTime::now(),
                    answered: None,
                    dialled: String::new(),
                    cdr: false,
                    ..two.clone()
                };
                let mut b = Chan {
                    name: format!("Local/{x}@{c}-{n2:08x};2"),
                    state: 4,
                    exten: x.clone(),
                    uniqueid: unique(&counters),
                    cdr: true,
                    ..a.clone()
                };
                two.dialled = a.name.clone();
                channels.put(&a, "AppDial", "(Outgoing Line)", &ctl);
                channels.put(&b, "", "", &ctl);
                raise(event("Newchannel", Privileges::CALL, a.snapshot("")));
                raise(event("Newchannel", Privileges::CALL, b.snapshot("")));
                let mut lb = a.snapshot("LocalOne");
                lb.extend(b.snapshot("LocalTwo"));
                lb.push(("Context".into(), c.clone()));
                lb.push(("Exten".into(), x.clone()));
                lb.push(("LocalOptimization".into(), "No".into()));
                raise(event("LocalBridge", Privileges::CALL, lb));
                let mut h = two.snapshot("");
                h.extend(a.snapshot("Dest"));
                h.push(("DialString".into(), format!("{x}@{c}")));
                raise(event("DialBegin", Privileges::CALL, h));
                let bridge_id = format!("{:08x}-0000-4000-8000-{:012x}", n2, n2);
                let bridge = |n: usize| -> Vec<(String, String)> {
                    vec![
                        ("BridgeUniqueid".into(), bridge_id.clone()),
                        ("BridgeType".into(), "basic".into()),
                        ("BridgeTechnology".into(), "simple_bridge".into()),
                        ("BridgeCreator".into(), "<unknown>".into()),
                        ("BridgeName".into(), "<unknown>".into()),
                        ("BridgeNumChannels".into(), n.to_string()),
                        ("BridgeVideoSourceMode".into(), "none".into()),
                    ]
                };
                let mut bridged = false;
                let mut inner_by_callee = true;
                for st in &inner_steps {
                    b.priority = st.priority;
                    b.last_app = (st.app.clone(), st.args.clone());
                    let mut h = b.snapshot("");
                    h.push(("Extension".into(), x.clone()));
                    h.push(("Application".into(), st.app.clone()));
                    h.push(("AppData".into(), st.args.clone()));
                    raise(event("Newexten", Privileges::DIALPLAN, h));
                    channels.put(&b, &st.app, &st.args, &ctl);
                    let sargs = split_args(&st.args);
                    match st.app.to_ascii_lowercase().as_str() {
                        "answer" if !bridged => {
                            b.state = 6;
                            a.state = 6;
                            let now = Some(std::time::SystemTime::now());
                            for c in [&mut a, &mut b, &mut one, &mut two] {
                                c.answered = c.answered.or(now);
                            }
                            raise(event("Newstate", Privileges::CALL, b.snapshot("")));
                            raise(event("Newstate", Privileges::CALL, a.snapshot("")));
                            let mut h = two.snapshot("");
                            h.extend(a.snapshot("Dest"));
                            h.push(("DialStatus".into(), "ANSWER".into()));
                            raise(event("DialEnd", Privileges::CALL, h));
                            // The dialling side is answered with its callee.
                            one.state = 6;
                            two.state = 6;
                            raise(event("Newstate", Privileges::CALL, one.snapshot("")));
                            raise(event("Newstate", Privileges::CALL, two.snapshot("")));
                            if let Some(tx) = answered.take() {
                                if req.asynchronous {
                                    raise(originate_response(true, Some(&one)));
                                }
                                let _ = tx.send(true);
                            }
                            raise(event("BridgeCreate", Privileges::CALL, bridge(0)));
                            let mut h = bridge(1);
                            h.extend(a.snapshot(""));
                            raise(event("BridgeEnter", Privileges::CALL, h));
                            let mut h = bridge(2);
                            h.extend(two.snapshot(""));
                            raise(event("BridgeEnter", Privileges::CALL, h));
                            bridged = true;
                        }
                        "wait" => {
                            let secs: f64 =
                                sargs.first().and_then(|a| a.parse().ok()).unwrap_or(0.0);
                            let wait = Duration::from_secs_f64(secs.clamp(0.0, 86_400.0));
                            tokio::select! {
                                _ = tokio::time::sleep(wait) => {}
                                _ = kill.notified() => {
                                    inner_by_callee = false;
                                    break;
                                }
                            }
                        }
                        "hangup" => break,
                        _ => {}
                    }
                }
                // The callee hangs up (or the call is torn down): its pair goes, the bridge
                // empties, and the dialling side goes on with its dialplan.
                hangup(&raise, &mut a, &mut b, inner_by_callee);
                channels.remove(&a.name);
                channels.remove(&b.name);
                if bridged {
                    let mut h = bridge(1);
                    h.extend(a.snapshot(""));
                    raise(event("BridgeLeave", Privileges::CALL, h));
                    let mut h = bridge(0);
                    h.extend(two.snapshot(""));
                    raise(event("BridgeLeave", Privileges::CALL, h));
                    raise(event("BridgeDestroy", Privileges::CALL, bridge(0)));
                } else {
                    let mut h = two.snapshot("");
                    h.extend(a.snapshot("Dest"));
                    h.push(("DialStatus".into(), "NOANSWER".into()));
                    raise(event("DialEnd", Privileges::CALL, h));
                }
                if !inner_by_callee {
                    return end(&raise, &channels, &mut one, &mut two, false);
                }
            }
            _ => {}
        }
    }
    if let Some(tx) = answered.take() {
        // Never answered: the originate failed.
        if req.asynchronous {
            raise(originate_response(false, None));
        }
        let _ = tx.send(false);
    }
    end(&raise, &channels, &mut one, &mut two, hung_up_by_two);
}

/// Hangs the pair up and forgets it.
fn end(
    raise: &impl Fn(SimEvent),
    channels: &Channels,
    one: &mut Chan,
    two: &mut Chan,
    by_two: bool,
) {
    hangup(raise, one, two, by_two);
    channels.remove(&one.name);
    channels.remove(&two.name);
}

/// How long the caller side's application keeps the call (Wait(n)); `None` for others.
fn target_duration(target: &Target) -> Option<Duration> {
    match target {
        Target::App { app, data } if app.eq_ignore_ascii_case("wait") => data
            .trim()
            .parse::<f64>()
            .ok()
            .map(|s| Duration::from_secs_f64(s.clamp(0.0, 86_400.0))),
        _ => None,
    }
}

/// The hang-up sequence: the side that hung up first, then the other.
fn hangup(raise: &impl Fn(SimEvent), one: &mut Chan, two: &mut Chan, by_two: bool) {
    let (first, second) = if by_two { (two, one) } else { (one, two) };
    let mut h = first.snapshot("");
    h.push(("Cause".into(), "16".into()));
    raise(event("SoftHangupRequest", Privileges::CALL, h));
    let mut h = second.snapshot("");
    h.push(("Cause".into(), "16".into()));
    raise(event("HangupRequest", Privileges::CALL, h));
    for c in [&*first, &*second] {
        let mut h = c.snapshot("");
        h.push(("Cause".into(), "16".into()));
        h.push(("Cause-txt".into(), "Normal Clearing".into()));
        raise(event("Hangup", Privileges::CALL, h));
    }
    // cdr_manager: one Cdr per channel (the ;2 side first, as recorded).
    let (one, two) = if by_two {
        (second, first)
    } else {
        (first, second)
    };
    for c in [&*two, &*one] {
        if c.cdr {
            raise(cdr(c));
        }
    }
}

/// `2026-11-23 17:07:40` (UTC).
fn cdr_time(t: Option<std::time::SystemTime>) -> String {
    match t {
        Some(t) => {
            let secs = t
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let (d, h) = crate::session::civil_pub(secs);
            format!("{d} {h}")
        }
        None => String::new(),
    }
}

/// The Cdr event of a channel that has just hung up (cdr_manager's layout).
fn cdr(c: &Chan) -> SimEvent {
    let now = std::time::SystemTime::now();
    let secs = |from: std::time::SystemTime| {
        now.duration_since(from)
            .unwrap_or_default()
            .as_secs()
            .to_string()
    };
    let caller = if c.cid.0 == "<unknown>" {
        String::new()
    } else {
        c.cid.0.clone()
    };
    let callerid = match (c.cid.1.as_str(), caller.as_str()) {
        ("<unknown>", "") => String::new(),
        ("<unknown>", n) => format!("<{n}>"),
        (name, n) => format!("\"{name}\" <{n}>"),
    };
    let headers: Vec<(String, String)> = vec![
        ("AccountCode".into(), String::new()),
        ("Source".into(), caller),
        ("Destination".into(), c.exten.clone()),
        ("DestinationContext".into(), c.context.clone()),
        ("CallerID".into(), callerid),
        ("Channel".into(), c.name.clone()),
        ("DestinationChannel".into(), c.dialled.clone()),
        ("LastApplication".into(), c.last_app.0.clone()),
        ("LastData".into(), c.last_app.1.clone()),
        ("StartTime".into(), cdr_time(Some(c.started))),
        ("AnswerTime".into(), cdr_time(c.answered)),
        ("EndTime".into(), cdr_time(Some(now))),
        ("Duration".into(), secs(c.started)),
        (
            "BillableSeconds".into(),
            c.answered.map(secs).unwrap_or_else(|| "0".into()),
        ),
        (
            "Disposition".into(),
            if c.answered.is_some() {
                "ANSWERED"
            } else {
                "NO ANSWER"
            }
            .into(),
        ),
        ("AMAFlags".into(), "DOCUMENTATION".into()),
        ("UniqueID".into(), c.uniqueid.clone()),
        ("UserField".into(), String::new()),
    ];
    event("Cdr", Privileges::CDR, headers)
}
