//! Calls on Local channels: what an Originate starts. A small model of Asterisk's channels
//! that runs the dialplan of the called extension (Answer, Wait, Set, UserEvent, Hangup,
//! Dial to another Local channel, ConfBridge, Queue and AgentLogin; other applications are
//! stepped over) and raises the events a real Asterisk 22 raises for it, with the header
//! blocks and in the order of the recordings (08 for a Dial): Newchannel, Newexten, NewCallerid, NewConnectedLine,
//! LocalBridge, VarSet (with Dial's DIALSTATUS, DIALEDPEERNAME, … and BRIDGEPEER), Newstate,
//! DialBegin/DialEnd, Bridge{Create,Enter,Leave,Destroy}, UserEvent, SoftHangupRequest,
//! HangupRequest, Hangup, DeviceStateChange, QueueMemberStatus (for watched queue members),
//! OriginateResponse, and cdr_manager's Cdr and cel_manager's CEL events.
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{broadcast, oneshot};

use crate::accounts::Privileges;
use crate::apps::{agent_bridge_block, conference_bridge_block};
use crate::dialplan::{split_args, Dialplan};
use crate::pbx::{CallCtl, REDIRECTED};
pub use crate::pbx::{CallEnv, Channels, Counters, Live};
use crate::queues::Queues;
use crate::wire::{known, Random, SimEvent};

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

/// Lists a call's channel in [`Channels`] with its snapshot.
trait PutChan {
    fn put(&self, chan: &Chan, app: &str, data: &str, call: &CallCtl);
}

impl PutChan for Channels {
    fn put(&self, chan: &Chan, app: &str, data: &str, call: &CallCtl) {
        self.insert(&chan.name, chan.snapshot(""), app, data, call);
    }
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
    /// The caller's ANI (CEL `CallerIDani`): an Originate's CallerID number on its ;1 side.
    ani: String,
    /// The application and data in the channel's snapshot (CEL `Application`/`AppData`).
    app: (String, String),
    /// DIALSTATUS, once a Dial set it.
    dialstatus: String,
    /// CDR bookkeeping: the last application and its data, when the channel was created and
    /// answered, the channel it dialled, and whether it gets a Cdr of its own (the outgoing
    /// leg of a Dial shares its caller's).
    last_app: (String, String),
    started: std::time::SystemTime,
    answered: Option<std::time::SystemTime>,
    dialled: String,
    cdr: bool,
    /// Hung up without ever running (Cdr disposition FAILED rather than NO ANSWER).
    failed: bool,
    /// A ;1 side that runs dialplan of its own (an Originate to Context/Exten).
    runs_dialplan: bool,
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

    /// The device whose state the channel makes (`Local/100@test` for
    /// `Local/100@test-00000016;1`): the name up to its last `-`.
    fn device(&self) -> &str {
        self.name
            .rsplit_once('-')
            .map_or(self.name.as_str(), |(d, _)| d)
    }

    fn is_two(&self) -> bool {
        self.name.ends_with(";2")
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

/// The events of one call, raised on the simulator's bus.
struct Raise<'a> {
    bus: &'a broadcast::Sender<SimEvent>,
    channels: &'a Channels,
    queues: &'a Queues,
    /// The simulator's random source.
    random: &'a Random,
    /// QueueMemberStatus events not raised yet: app_queue handles device states on its own
    /// thread, so in the recordings they come a few events after the DeviceStateChange.
    held: Vec<SimEvent>,
}

impl Raise<'_> {
    fn raise(&self, e: SimEvent) {
        let _ = self.bus.send(e);
    }

    /// A channel event: the snapshot of `c`, then `extra`.
    fn chan(&self, name: &str, class: Privileges, c: &Chan, extra: &[(&str, &str)]) {
        let mut h = c.snapshot("");
        h.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self.raise(event(name, class, h));
    }

    fn newchannel(&self, c: &Chan) {
        self.chan("Newchannel", Privileges::CALL, c, &[]);
    }

    fn newstate(&self, c: &Chan) {
        self.chan("Newstate", Privileges::CALL, c, &[]);
    }

    fn newexten(&self, c: &Chan, extension: &str) {
        let (app, data) = (c.app.0.clone(), c.app.1.clone());
        self.chan(
            "Newexten",
            Privileges::DIALPLAN,
            c,
            &[
                ("Extension", extension),
                ("Application", &app),
                ("AppData", &data),
            ],
        );
    }

    fn varset(&self, c: &Chan, var: &str, value: &str) {
        self.chan(
            "VarSet",
            Privileges::DIALPLAN,
            c,
            &[("Variable", var), ("Value", value)],
        );
    }

    /// NewCallerid then NewConnectedLine, as a Dial or an Originate's CallerID raises them.
    fn caller_id(&self, c: &Chan) {
        self.chan(
            "NewCallerid",
            Privileges::CALL,
            c,
            &[("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")],
        );
        self.chan("NewConnectedLine", Privileges::CALL, c, &[]);
    }

    /// LocalBridge: the two sides of a Local pair, optimisable (as Asterisk 22's default).
    fn local_bridge(&self, one: &Chan, two: &Chan, context: &str, exten: &str) {
        let mut h = one.snapshot("LocalOne");
        h.extend(two.snapshot("LocalTwo"));
        h.push(("Context".into(), context.to_owned()));
        h.push(("Exten".into(), exten.to_owned()));
        h.push(("LocalOptimization".into(), "Yes".into()));
        self.raise(event("LocalBridge", Privileges::CALL, h));
    }

    /// A bridge event about channel `c`: the bridge's block with `n` channels in it, then
    /// `c`'s snapshot (BridgeEnter, BridgeLeave).
    fn bridge(&self, name: &str, id: &str, n: usize, c: &Chan) {
        let mut h = bridge_block(id, n);
        h.extend(c.snapshot(""));
        self.raise(event(name, Privileges::CALL, h));
    }

    /// The last channel (`c`) leaves the bridge, which is destroyed.
    fn bridge_end(&self, id: &str, c: &Chan) {
        self.bridge("BridgeLeave", id, 0, c);
        self.raise(event(
            "BridgeDestroy",
            Privileges::CALL,
            bridge_block(id, 0),
        ));
    }

    /// Hangup with `cause`: 16 (Normal Clearing), or 0 (Unknown) for a channel whose
    /// application just ended.
    fn hangup(&self, c: &Chan, cause: u8) {
        let text = if cause == 16 {
            "Normal Clearing"
        } else {
            "Unknown"
        };
        self.chan(
            "Hangup",
            Privileges::CALL,
            c,
            &[("Cause", &cause.to_string()), ("Cause-txt", text)],
        );
    }

    fn hangup_request(&self, name: &str, c: &Chan, cause: u8) {
        self.chan(name, Privileges::CALL, c, &[("Cause", &cause.to_string())]);
    }

    /// A CEL event (cel_manager's layout; class `call`, as cel_manager raises it).
    fn cel(&self, name: &str, c: &Chan, peer: &str, extra: &str) {
        let time = cdr_time(Some(std::time::SystemTime::now()));
        let h: Vec<(&str, &str)> = vec![
            ("EventName", name),
            ("AccountCode", ""),
            ("CallerIDnum", known(&c.cid.0)),
            ("CallerIDname", known(&c.cid.1)),
            ("CallerIDani", &c.ani),
            ("CallerIDrdnis", ""),
            ("CallerIDdnid", ""),
            ("Exten", &c.exten),
            ("Context", &c.context),
            ("Channel", &c.name),
            ("Application", &c.app.0),
            ("AppData", &c.app.1),
            ("EventTime", &time),
            ("AMAFlags", "DOCUMENTATION"),
            ("UniqueID", &c.uniqueid),
            ("LinkedID", &c.linkedid),
            ("Userfield", ""),
            ("Peer", peer),
            ("PeerAccount", ""),
            ("Extra", extra),
        ];
        self.raise(SimEvent::new("CEL", Privileges::CALL, &h));
    }

    /// CEL HANGUP then CHAN_END. A ;2 side that ran the dialplan has no application left
    /// in its snapshot by then; `builtin` if it hung up by the Hangup application.
    fn cel_gone(&self, c: &Chan, cause: u8, builtin: bool) {
        let c = cel_view(c);
        let extra = format!(
            "{{\"hangupcause\":{cause},\"hangupsource\":\"{}\",\"dialstatus\":\"{}\"}}",
            if builtin { "dialplan/builtin" } else { "" },
            c.dialstatus
        );
        self.cel("HANGUP", &c, "", &extra);
        self.cel("CHAN_END", &c, "", "");
    }

    /// A DeviceStateChange; app_queue's QueueMemberStatus events are held for `flush`.
    fn devstate(&mut self, device: &str, state: &str) {
        self.raise(SimEvent::new(
            "DeviceStateChange",
            Privileges::CALL,
            &[("Device", device), ("State", state)],
        ));
        let queued = self.queues.device_changed(device, state);
        self.held.extend(queued);
    }

    /// The DeviceStateChange of a device some of whose channels (`gone`) hang up: still
    /// INUSE if another call keeps a channel on it (recording 07), else NOT_INUSE.
    fn devstate_after(&mut self, device: &str, gone: &[&str]) {
        let state = if self.channels.device_in_use(device, gone) {
            "INUSE"
        } else {
            "NOT_INUSE"
        };
        self.devstate(device, state);
    }

    fn flush(&mut self) {
        for e in std::mem::take(&mut self.held) {
            self.raise(e);
        }
    }
}

/// A basic bridge's header block (a Dial's).
fn bridge_block(id: &str, n: usize) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = vec![("BridgeUniqueid".into(), id.to_owned())];
    h.extend(
        [
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"),
            ("BridgeNumChannels", &n.to_string()),
            ("BridgeVideoSourceMode", "none"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    h
}

/// A new bridge's unique id, in the form of Asterisk's (a random UUID).
fn new_bridge_id(random: &Random) -> String {
    let (a, b) = (random.next_u64(), random.next_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// How an application that keeps the caller (ConfBridge) stopped keeping it.
enum Held {
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
async fn hold(
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
fn redirect_target(
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

/// Starts an originated call in `env` (the part of the PBX state calls see:
/// [`crate::pbx::Shared::call_env`]). For a synchronous Originate, waits until the call is
/// answered or fails (as Asterisk blocks the session meanwhile) and returns the answer to
/// write; `None` for an asynchronous one, already answered.
pub(crate) async fn originate(
    req: OriginateRequest,
    env: CallEnv,
    events: &broadcast::Sender<SimEvent>,
) -> Option<Vec<u8>> {
    let (tx, rx) = oneshot::channel();
    let sync = !req.asynchronous;
    let id = req.action_id.clone();
    let limit = req.timeout + Duration::from_secs(1);
    tokio::spawn(run(req, env, events.clone(), tx));
    if !sync {
        return None;
    }
    let ok = matches!(tokio::time::timeout(limit, rx).await, Ok(Ok(true)));
    Some(crate::wire::originate_reply(id.as_deref(), ok))
}

/// How a Dial ended.
enum DialEnd {
    /// Not answered (or no such extension): the dialplan goes on.
    Unanswered,
    /// The bridged callee hung up: the caller's channel hangs up too (Dial without `g`);
    /// everything has been raised.
    Done,
    /// The caller's pair is being hung up, as this ends it (a Hangup action, or its ;1
    /// side's application or dialplan ended); the callee's pair has gone.
    Ended(Ending),
}

/// Runs one originated call to its end. `answered` gets `true` once the called side answers
/// (a synchronous Originate answers the action then), `false` if it cannot be placed.
///
/// The events come in the order recording 08 shows for an answered Dial; Asterisk raises
/// channel, CEL, CDR and device-state events from different threads, so their interleaving
/// varies from call to call (recording 12a), and the simulator keeps one order that a real
/// server produced.
pub async fn run(
    req: OriginateRequest,
    env: CallEnv,
    bus: broadcast::Sender<SimEvent>,
    answered: oneshot::Sender<bool>,
) {
    let mut ev = Raise {
        bus: &bus,
        channels: &env.channels,
        queues: &env.queues,
        random: &env.random,
        held: Vec::new(),
    };
    // Only Local channels can be placed (to an existing extension, see below).
    let Some((exten, context)) = req.local.clone() else {
        if req.asynchronous {
            ev.raise(originate_response(&req, false, None));
        }
        let _ = answered.send(false);
        return;
    };
    env.counters.processed.fetch_add(1, Ordering::Relaxed);
    let (one, two) = new_pair(&req, &env, &exten, &context);
    let mut call = Call {
        req: &req,
        env: &env,
        ctl: CallCtl::default(),
        one_side: OneSide::new(&req.target),
        one,
        two,
        answered: Some(answered),
    };
    call.start(&mut ev, &exten);
    let Some(steps) = env
        .dialplan
        .lookup(&context, &exten)
        .map(|e| e.steps().to_vec())
    else {
        call.no_such_extension(&mut ev);
        return;
    };
    call.caller_id_and_variables(&mut ev, &context, &exten);
    // The Originate's own DialBegin (to the ;1 side), raised before the ;2 side's first
    // dialplan event.
    let dial_begin = {
        let mut h = call.one.snapshot("Dest");
        h.push(("DialString".into(), format!("{exten}@{context}")));
        event("DialBegin", Privileges::CALL, h)
    };
    call.run_steps(&mut ev, steps, exten, dial_begin).await;
}

/// The OriginateResponse event of `req`: placed on `chan`, or failed.
fn originate_response(req: &OriginateRequest, ok: bool, chan: Option<&Chan>) -> SimEvent {
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
}

/// The next Uniqueid (`<epoch>.<n>`).
fn next_unique(env: &CallEnv) -> String {
    format!(
        "{}.{}",
        env.epoch,
        env.counters.unique.fetch_add(1, Ordering::Relaxed)
    )
}

/// The Originate's Local channel pair, `Local/<exten>@<context>-<n>;1` and `;2`.
fn new_pair(req: &OriginateRequest, env: &CallEnv, exten: &str, context: &str) -> (Chan, Chan) {
    let n = env.counters.channel.fetch_add(1, Ordering::Relaxed);
    let base = format!("Local/{exten}@{context}-{n:08x}");
    let u1 = req.channel_id.clone().unwrap_or_else(|| next_unique(env));
    let u2 = req
        .other_channel_id
        .clone()
        .unwrap_or_else(|| next_unique(env));
    let unknown_cid = ("<unknown>".to_owned(), "<unknown>".to_owned());
    let one = Chan {
        name: format!("{base};1"),
        state: 0,
        cid: unknown_cid.clone(),
        connected: unknown_cid,
        context: context.to_owned(),
        exten: exten.to_owned(),
        priority: 1,
        uniqueid: u1.clone(),
        linkedid: u1,
        ani: String::new(),
        app: (String::new(), String::new()),
        dialstatus: String::new(),
        last_app: match &req.target {
            Target::App { app, data } => (app.clone(), data.clone()),
            Target::Exten { .. } => ("AppDial2".into(), "(Outgoing Line)".into()),
        },
        started: std::time::SystemTime::now(),
        answered: None,
        dialled: String::new(),
        cdr: true,
        failed: false,
        runs_dialplan: false,
    };
    let two = Chan {
        name: format!("{base};2"),
        state: 4,
        uniqueid: u2,
        ani: String::new(),
        ..one.clone()
    };
    (one, two)
}

/// What a step of the ;2 side's dialplan leaves the call to do.
enum Flow {
    /// Go on with the next step.
    Next,
    /// Stop running the dialplan; the pair ends so (as it was, if `None`).
    Stop(Option<Ending>),
    /// The pair ends so, now.
    End(Ending),
    /// Everything has been raised (the bridged callee hung up).
    Done,
    /// A Redirect: go on at this context, extension and steps.
    Redirect(String, String, Vec<crate::dialplan::Step>),
}

/// One originated call while it runs: its Local pair, the ;1 side's own application or
/// dialplan, and the Originate waiting for an answer.
struct Call<'e> {
    req: &'e OriginateRequest,
    env: &'e CallEnv,
    ctl: CallCtl,
    one_side: OneSide,
    one: Chan,
    two: Chan,
    /// Gets whether the call was answered (a synchronous Originate waits for it).
    answered: Option<oneshot::Sender<bool>>,
}

impl Call<'_> {
    /// Lists both channels and raises their creation.
    fn start(&mut self, ev: &mut Raise<'_>, exten: &str) {
        let channels = &self.env.channels;
        channels.put(
            &self.one,
            &self.one_side.shown.0,
            &self.one_side.shown.1,
            &self.ctl,
        );
        channels.put(&self.two, "", "", &self.ctl);
        ev.cel("CHAN_START", &self.one, "", "");
        ev.cel("CHAN_START", &self.two, "", "");
        ev.newchannel(&self.one);
        ev.newchannel(&self.two);
        // The ;1 side is the outgoing leg of the Originate's dial.
        self.one.app = ("AppDial2".into(), "(Outgoing Line)".into());
        ev.newexten(&self.one, exten);
    }

    /// No such extension: the ;2 side has nowhere to go and hangs up at once, then the ;1
    /// side (recording 07's Originates to Local/999@nosuchcontext).
    fn no_such_extension(mut self, ev: &mut Raise<'_>) {
        let (one, two) = (&mut self.one, &mut self.two);
        one.last_app = one.app.clone();
        two.last_app = (String::new(), String::new());
        one.failed = true;
        two.failed = true;
        let dev = one.device().to_owned();
        ev.raise(cdr(two));
        ev.cel_gone(two, 0, false);
        ev.hangup(two, 0);
        ev.devstate(&dev, "INVALID");
        if self.req.asynchronous {
            ev.raise(originate_response(self.req, false, None));
        }
        if let Some(tx) = self.answered.take() {
            let _ = tx.send(false);
        }
        ev.hangup(one, 0);
        ev.raise(cdr(one));
        ev.cel_gone(one, 0, false);
        ev.cel("LINKEDID_END", one, "", "");
        ev.devstate(&dev, "INVALID");
        ev.flush();
        self.env.channels.remove(&one.name);
        self.env.channels.remove(&two.name);
    }

    /// The Originate's caller ID and variables on both sides, then the LocalBridge.
    fn caller_id_and_variables(&mut self, ev: &mut Raise<'_>, context: &str, exten: &str) {
        let (req, one, two) = (self.req, &mut self.one, &mut self.two);
        if req.caller_id.0.is_some() || req.caller_id.1.is_some() {
            let cid = (unknown(&req.caller_id.0), unknown(&req.caller_id.1));
            one.cid = cid.clone();
            one.ani = req.caller_id.0.clone().unwrap_or_default();
            ev.chan(
                "NewCallerid",
                Privileges::CALL,
                one,
                &[("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")],
            );
            one.connected = cid.clone();
            ev.chan("NewConnectedLine", Privileges::CALL, one, &[]);
            two.cid = cid.clone();
            two.connected = cid;
            ev.caller_id(two);
        }
        // Originate's variables: Asterisk builds their list in reverse (ORDER_REVERSE) and
        // sets them so on the ;1 side, then core_local copies them to the ;2 side in the
        // opposite order (recording 07).
        for (k, v) in req.variables.iter().rev() {
            ev.varset(one, k, v);
        }
        for (k, v) in &req.variables {
            ev.varset(two, k, v);
        }
        ev.local_bridge(one, two, context, exten);
    }

    /// The called side (;2) runs the dialplan; the call is answered at its Answer().
    async fn run_steps(
        mut self,
        ev: &mut Raise<'_>,
        mut steps: Vec<crate::dialplan::Step>,
        mut exten: String,
        dial_begin: SimEvent,
    ) {
        let mut dial_begin = Some(dial_begin);
        let deadline = tokio::time::Instant::now() + self.req.timeout;
        // How the pair ends if the loop below runs out of dialplan.
        let mut how = Ending::Dialplan {
            builtin: false,
            redirected: false,
        };
        let mut redirected = false;
        let mut i = 0;
        while i < steps.len() {
            let mut step = steps[i].clone();
            i += 1;
            step.args = substitute(
                &step.args,
                &self.two.name,
                &self.env.channels,
                &self.env.random,
            );
            self.two.priority = step.priority;
            if self.two.dialled.is_empty() {
                // A bridged Dial ends the channel's CDR: its last application stays Dial.
                self.two.last_app = (step.app.clone(), step.args.clone());
            }
            let app = step.app.to_ascii_lowercase();
            let args = split_args(&step.args);
            // A Dial's callee channels exist (CEL CHAN_START) before the Dial's Newexten.
            let callee = if app == "dial" {
                self.callee(ev, &args)
            } else {
                None
            };
            if let Some(e) = dial_begin.take() {
                ev.raise(e);
            }
            self.two.app = (step.app.clone(), step.args.clone());
            ev.newexten(&self.two, &exten);
            self.env
                .channels
                .put(&self.two, &step.app, &step.args, &self.ctl);
            let flow = match app.as_str() {
                "answer" if self.two.state != 6 => self.answer(ev, &step),
                "wait" | "confbridge" | "queue" | "agentlogin" => {
                    self.keep(ev, &app, &args, deadline, redirected).await
                }
                "set" => {
                    if let Some((k, v)) = step.args.split_once('=') {
                        let _ = self.env.channels.set_var(&self.two.name, k, v);
                        ev.varset(&self.two, k, v);
                    }
                    Flow::Next
                }
                "userevent" => {
                    self.user_event(ev, &args);
                    Flow::Next
                }
                "hangup" => Flow::Stop(Some(Ending::Dialplan {
                    builtin: true,
                    redirected,
                })),
                "dial" => self.dial(ev, callee, &step).await,
                _ => Flow::Next,
            };
            match flow {
                Flow::Next => {}
                Flow::Stop(ending) => {
                    if let Some(ending) = ending {
                        how = ending;
                    }
                    break;
                }
                Flow::End(how) => return self.end(ev, how),
                Flow::Done => return,
                Flow::Redirect(c, e, new_steps) => {
                    self.two.context = c;
                    self.two.exten = e.clone();
                    exten = e;
                    steps = new_steps;
                    i = 0;
                    redirected = true;
                }
            }
        }
        if let Some(e) = dial_begin.take() {
            ev.raise(e);
        }
        if let Some(tx) = self.answered.take() {
            // Never answered: the originate failed.
            if self.req.asynchronous {
                ev.raise(originate_response(self.req, false, None));
            }
            let _ = tx.send(false);
        }
        self.end(ev, how);
    }

    /// Hangs the pair up.
    fn end(mut self, ev: &mut Raise<'_>, how: Ending) {
        end(ev, &self.env.channels, &mut self.one, &mut self.two, how);
    }

    /// The callee pair of `Dial(Local/<x>@<c>)`, created (CEL CHAN_START) when that
    /// extension exists: its extension, context, steps, both sides and channel number.
    fn callee(&self, ev: &mut Raise<'_>, args: &[String]) -> Option<Callee> {
        let dest = args.first().cloned().unwrap_or_default();
        let (x, c) = dest
            .strip_prefix("Local/")
            .and_then(|r| r.split_once('@'))
            .map(|(x, c)| (x.to_owned(), c.split('/').next().unwrap_or(c).to_owned()))?;
        let inner = self.env.dialplan.lookup(&c, &x)?.steps().to_vec();
        let n2 = self.env.counters.channel.fetch_add(1, Ordering::Relaxed);
        let a = Chan {
            name: format!("Local/{x}@{c}-{n2:08x};1"),
            state: 0,
            cid: ("<unknown>".into(), "<unknown>".into()),
            connected: ("<unknown>".into(), "<unknown>".into()),
            context: c.clone(),
            exten: x.clone(),
            priority: 1,
            uniqueid: next_unique(self.env),
            ani: String::new(),
            app: (String::new(), String::new()),
            dialstatus: String::new(),
            last_app: ("AppDial".into(), "(Outgoing Line)".into()),
            started: std::time::SystemTime::now(),
            answered: None,
            dialled: String::new(),
            cdr: false,
            failed: false,
            runs_dialplan: false,
            ..self.two.clone()
        };
        let b = Chan {
            name: format!("Local/{x}@{c}-{n2:08x};2"),
            state: 4,
            uniqueid: next_unique(self.env),
            cdr: true,
            ..a.clone()
        };
        ev.cel("CHAN_START", &a, "", "");
        ev.cel("CHAN_START", &b, "", "");
        Some((x, c, inner, a, b, n2))
    }

    /// Answer(): both sides up, the Originate answered, its DialEnd; then the ;1 side starts
    /// its own application or dialplan.
    fn answer(&mut self, ev: &mut Raise<'_>, step: &crate::dialplan::Step) -> Flow {
        let (one, two) = (&mut self.one, &mut self.two);
        two.state = 6;
        one.state = 6;
        let now = Some(std::time::SystemTime::now());
        two.answered = two.answered.or(now);
        one.answered = one.answered.or(now);
        ev.newstate(two);
        ev.cel("ANSWER", two, "", "");
        ev.cel("ANSWER", one, "", "");
        if let Some(tx) = self.answered.take() {
            if self.req.asynchronous {
                ev.raise(originate_response(self.req, true, Some(one)));
            }
            let _ = tx.send(true);
        }
        let dev = one.device().to_owned();
        ev.devstate(&dev, "INUSE");
        ev.newstate(one);
        ev.devstate(&dev, "INUSE");
        let mut h = one.snapshot("Dest");
        h.push(("DialStatus".into(), "ANSWER".into()));
        ev.raise(event("DialEnd", Privileges::CALL, h));
        ev.flush();
        let one_ended = self.one_side.start(ev, one, &self.env.dialplan);
        let channels = &self.env.channels;
        channels.put(
            one,
            &self.one_side.shown.0,
            &self.one_side.shown.1,
            &self.ctl,
        );
        channels.put(two, &step.app, &step.args, &self.ctl);
        match one_ended {
            Some(how) => Flow::End(how),
            None => Flow::Next,
        }
    }

    /// Applications that keep the caller until they end, it hangs up, or it is redirected
    /// (Wait, ConfBridge, Queue, AgentLogin); meanwhile the caller side runs its application
    /// or dialplan, and whichever ends first ends the pair.
    async fn keep(
        &mut self,
        ev: &mut Raise<'_>,
        app: &str,
        args: &[String],
        deadline: tokio::time::Instant,
        redirected: bool,
    ) -> Flow {
        let first = args.first().cloned().unwrap_or_default();
        let call = AppCall {
            apps: &self.env.apps,
            channels: &self.env.channels,
            ctl: &self.ctl,
            one_side: &mut self.one_side,
            one: &mut self.one,
            two: &self.two,
        };
        let held = match app {
            "wait" => {
                let two_ends = tokio::time::Instant::now() + wait_arg(args.first());
                if self.answered.is_some() && two_ends > deadline {
                    // Not answered in time: the Originate gives up on its ;1 side.
                    return Flow::Stop(Some(Ending::ActionOne));
                }
                let AppCall {
                    channels,
                    ctl,
                    one_side,
                    one,
                    ..
                } = call;
                Some(hold(ev, channels, ctl, one_side, one, Some(two_ends)).await)
            }
            "confbridge" => Some(confbridge(ev, call, &first).await),
            "queue" => {
                // Queue(queuename,options,URL,announceoverride,timeout,…).
                let timeout = args
                    .get(4)
                    .and_then(|t| t.trim().parse::<f64>().ok())
                    .filter(|t| *t > 0.0)
                    .map(seconds);
                Some(queue(ev, call, &first, timeout).await)
            }
            _ => agent_login(ev, call, &first).await,
        };
        let Some(held) = held else {
            // The application failed: the channel hangs up.
            return Flow::Stop(Some(Ending::Dialplan {
                builtin: false,
                redirected,
            }));
        };
        match held {
            Held::Done => Flow::Next,
            Held::OneEnded(how) => Flow::End(how),
            Held::Killed(REDIRECTED) => match redirect_target(&self.ctl, &self.env.dialplan) {
                Some((c, e, new_steps)) => Flow::Redirect(c, e, new_steps),
                None => Flow::Stop(None),
            },
            Held::Killed(why) => Flow::End(action_ending(why)),
        }
    }

    /// UserEvent(<name>,<key>: <value>,…) on the ;2 side.
    fn user_event(&self, ev: &mut Raise<'_>, args: &[String]) {
        let mut h = self.two.snapshot("");
        if let Some(name) = args.first() {
            h.push(("UserEvent".into(), name.clone()));
        }
        for a in args.iter().skip(1) {
            if let Some((k, v)) = a.split_once(':') {
                h.push((k.trim().to_owned(), v.trim_start().to_owned()));
            }
        }
        ev.raise(event("UserEvent", Privileges::USER, h));
    }

    /// Dial(Local/<x>@<c>,…): the callee pair (when there is one) runs its dialplan, and is
    /// bridged with the caller once it answers.
    async fn dial(
        &mut self,
        ev: &mut Raise<'_>,
        callee: Option<Callee>,
        step: &crate::dialplan::Step,
    ) -> Flow {
        let Some((x, c, inner_steps, a, b, n2)) = callee else {
            ev.varset(&self.two, "DIALSTATUS", "CHANUNAVAIL");
            self.two.dialstatus = "CHANUNAVAIL".into();
            return Flow::Next;
        };
        let req = self.req;
        let response = move |ok: bool, chan: Option<&Chan>| originate_response(req, ok, chan);
        let mut call = DialCall {
            one_side: &mut self.one_side,
            dialplan: &self.env.dialplan,
            one: &mut self.one,
            two: &mut self.two,
            a,
            b,
            dial_string: format!("{x}@{c}"),
            bridge_id: format!("{:08x}-0000-4000-8000-{:012x}", n2, n2),
            originate: &mut self.answered,
            asynchronous: req.asynchronous,
            response: &response,
        };
        match call
            .run(
                ev,
                &self.env.channels,
                &self.ctl,
                &inner_steps,
                step.args.clone(),
            )
            .await
        {
            DialEnd::Unanswered => Flow::Next,
            DialEnd::Done => Flow::Done,
            DialEnd::Ended(how) => Flow::End(how),
        }
    }
}

/// A Dial's callee: its extension, context and steps, its pair, its channel number.
type Callee = (String, String, Vec<crate::dialplan::Step>, Chan, Chan, u64);

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
async fn confbridge(ev: &mut Raise<'_>, call: AppCall<'_>, name: &str) -> Held {
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
struct AppCall<'c> {
    apps: &'c crate::apps::Apps,
    channels: &'c Channels,
    ctl: &'c CallCtl,
    one_side: &'c mut OneSide,
    one: &'c mut Chan,
    two: &'c Chan,
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
async fn queue(
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
async fn agent_login(ev: &mut Raise<'_>, call: AppCall<'_>, agent: &str) -> Option<Held> {
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

/// How a Hangup action (`killed` = the side it named) ends the pair.
fn action_ending(killed: u8) -> Ending {
    if killed == 2 {
        Ending::ActionTwo
    } else {
        Ending::ActionOne
    }
}

/// A Dial from the ;2 side of an originated pair (`two`) to another Local pair (`a`, `b`).
struct DialCall<'c, F: Fn(bool, Option<&Chan>) -> SimEvent> {
    /// What the ;1 side runs once answered.
    one_side: &'c mut OneSide,
    dialplan: &'c Dialplan,
    one: &'c mut Chan,
    two: &'c mut Chan,
    a: Chan,
    b: Chan,
    dial_string: String,
    bridge_id: String,
    /// The Originate still waiting for its answer.
    originate: &'c mut Option<oneshot::Sender<bool>>,
    asynchronous: bool,
    response: &'c F,
}

/// How far a Dial has got.
#[derive(Default)]
struct DialProgress {
    /// DialBegin raised.
    begun: bool,
    /// The callee answered and is bridged with the caller.
    bridged: bool,
    answered_at: Option<std::time::Instant>,
    /// The callee's dialplan ran Hangup.
    builtin: bool,
    /// The callee's side ended the Dial (not a Hangup action or the caller's ;1 side).
    by_callee: bool,
    /// How the caller's pair ends, if its ;1 side's application or dialplan ends first.
    one_ended: Option<Ending>,
}

impl<F: Fn(bool, Option<&Chan>) -> SimEvent> DialCall<'_, F> {
    async fn run(
        &mut self,
        ev: &mut Raise<'_>,
        channels: &Channels,
        ctl: &CallCtl,
        inner_steps: &[crate::dialplan::Step],
        dial_args: String,
    ) -> DialEnd {
        let dial_started = std::time::Instant::now();
        // A callee that answers at once is answered (CEL) while the Dial is still starting.
        let answers_first = inner_steps
            .first()
            .is_some_and(|s| s.app.eq_ignore_ascii_case("answer"));
        let x = self.start(ev, channels, ctl, inner_steps, answers_first);
        let mut p = DialProgress {
            by_callee: true,
            ..DialProgress::default()
        };
        for st in inner_steps {
            let mut st = st.clone();
            st.args = substitute(&st.args, &self.b.name, channels, ev.random);
            let st = &st;
            let b = &mut self.b;
            b.priority = st.priority;
            b.last_app = (st.app.clone(), st.args.clone());
            b.app = (st.app.clone(), st.args.clone());
            let app = st.app.to_ascii_lowercase();
            if !p.begun && app != "answer" {
                ev.raise(self.dial_begin());
                p.begun = true;
            }
            if app == "hangup" && p.bridged {
                // CEL sees the callee go before the manager's Newexten of Hangup.
                ev.cel_gone(&self.b, 16, true);
            }
            ev.newexten(&self.b, &x);
            channels.put(&self.b, &st.app, &st.args, ctl);
            let sargs = split_args(&st.args);
            match app.as_str() {
                "answer" if !p.bridged => {
                    self.callee_answers(ev, &mut p, answers_first);
                    self.bridge(ev, &mut p, channels, ctl, &dial_args);
                    if p.one_ended.is_some() {
                        p.by_callee = false;
                        break;
                    }
                }
                "wait" => {
                    let goes_on = self.callee_waits(ev, &mut p, channels, ctl, &sargs).await;
                    if !goes_on {
                        break;
                    }
                }
                "hangup" => {
                    p.builtin = true;
                    break;
                }
                _ => {}
            }
        }
        if !p.begun {
            ev.raise(self.dial_begin());
        }
        channels.remove(&self.a.name);
        channels.remove(&self.b.name);
        if !p.bridged || !p.by_callee {
            return self.callee_hangs_up(ev, &p, ctl);
        }
        self.callee_hung_up(ev, channels, &p, dial_started);
        DialEnd::Done
    }

    /// The Dial starts: its variables cleared, the callee pair listed and its caller IDs
    /// set, the LocalBridge. The callee's extension.
    fn start(
        &mut self,
        ev: &mut Raise<'_>,
        channels: &Channels,
        ctl: &CallCtl,
        inner_steps: &[crate::dialplan::Step],
        answers_first: bool,
    ) -> String {
        let two = &mut *self.two;
        let (a, b) = (&mut self.a, &mut self.b);
        ev.varset(two, "DIALSTATUS", "");
        ev.varset(two, "DIALEDPEERNUMBER", "");
        // The callee's caller ID: the dialled number and the caller's name on the outgoing
        // side (;1), the caller's ID on the other (;2), each connected to the other.
        let a_cid = (two.exten.clone(), two.cid.1.clone());
        let a_connected = two.cid.clone();
        if answers_first {
            let mut early = b.clone();
            early.cid = a_connected.clone();
            early.connected = a_cid.clone();
            early.app = (inner_steps[0].app.clone(), inner_steps[0].args.clone());
            ev.cel("ANSWER", &early, "", "");
        }
        for var in [
            "DIALEDPEERNAME",
            "ANSWEREDTIME",
            "ANSWEREDTIME_MS",
            "DIALEDTIME",
            "DIALEDTIME_MS",
            "RINGTIME",
            "RINGTIME_MS",
            "PROGRESSTIME",
            "PROGRESSTIME_MS",
        ] {
            ev.varset(two, var, "");
        }
        two.dialled = a.name.clone();
        channels.put(a, "AppDial", "(Outgoing Line)", ctl);
        channels.put(b, "", "", ctl);
        ev.newchannel(a);
        ev.newchannel(b);
        ev.varset(a, "DIALEDPEERNUMBER", &self.dial_string);
        a.exten = two.exten.clone();
        a.cid = a_cid;
        a.connected = a_connected;
        a.app = ("AppDial".into(), "(Outgoing Line)".into());
        ev.newexten(a, &a.exten.clone());
        ev.caller_id(a);
        ev.varset(b, "DIALEDPEERNUMBER", &self.dial_string);
        b.cid = a.connected.clone();
        b.connected = a.cid.clone();
        ev.caller_id(b);
        let (x, c) = self
            .dial_string
            .split_once('@')
            .map(|(x, c)| (x.to_owned(), c.to_owned()))
            .unwrap_or_default();
        ev.local_bridge(a, b, &c, &x);
        x
    }

    /// The Dial's DialBegin.
    fn dial_begin(&self) -> SimEvent {
        let mut h = self.two.snapshot("");
        h.extend(self.a.snapshot("Dest"));
        h.push(("DialString".into(), self.dial_string.clone()));
        event("DialBegin", Privileges::CALL, h)
    }

    /// The callee answers: both of its sides up, DIALSTATUS ANSWER, DialEnd, and the caller's
    /// sides up too if they were not.
    fn callee_answers(&mut self, ev: &mut Raise<'_>, p: &mut DialProgress, answers_first: bool) {
        let begin = (!p.begun).then(|| self.dial_begin());
        let (one, two) = (&mut *self.one, &mut *self.two);
        let (a, b) = (&mut self.a, &mut self.b);
        b.state = 6;
        ev.newstate(b);
        if !answers_first {
            ev.cel("ANSWER", b, "", "");
        }
        // Recording 08: the callee's device is still NOT_INUSE at its answer, INUSE once the
        // outgoing side is up. (12a's calls have INUSE both times: what core_local finds
        // when the device state is computed is a race; the simulator follows 08, the
        // recording it is held to exactly.)
        let dev_b = b.device().to_owned();
        ev.devstate(&dev_b, "NOT_INUSE");
        if let Some(begin) = begin {
            ev.raise(begin);
            p.begun = true;
        }
        a.state = 6;
        ev.newstate(a);
        ev.devstate(&dev_b, "INUSE");
        two.dialstatus = "ANSWER".into();
        ev.varset(two, "DIALSTATUS", "ANSWER");
        ev.varset(two, "DIALEDPEERNAME", &a.name.clone());
        ev.varset(two, "DIALEDPEERNUMBER", &self.dial_string);
        let a_at_answer = a.clone();
        a.exten = String::new();
        let mut h = two.snapshot("");
        h.extend(a.snapshot("Dest"));
        h.push(("DialStatus".into(), "ANSWER".into()));
        ev.raise(event("DialEnd", Privileges::CALL, h));
        ev.cel("ANSWER", &a_at_answer, "", "");
        let now = Some(std::time::SystemTime::now());
        p.answered_at = Some(std::time::Instant::now());
        for ch in [&mut *a, &mut *b, &mut *one, &mut *two] {
            ch.answered = ch.answered.or(now);
        }
        if one.state != 6 {
            ev.cel("ANSWER", one, "", "");
            one.state = 6;
            ev.newstate(one);
            let mut h = one.snapshot("Dest");
            h.push(("DialStatus".into(), "ANSWER".into()));
            ev.raise(event("DialEnd", Privileges::CALL, h));
            let dev = one.device().to_owned();
            ev.devstate(&dev, "INUSE");
        }
        let two_was_up = two.state == 6;
        if !two_was_up {
            two.state = 6;
            ev.newstate(two);
        }
        ev.flush();
        if !two_was_up {
            ev.cel("ANSWER", two, "", "");
        }
    }

    /// Once the callee answered: the Originate's ;1 side runs its application or dialplan,
    /// the Originate is answered, and caller and callee enter the Dial's bridge.
    fn bridge(
        &mut self,
        ev: &mut Raise<'_>,
        p: &mut DialProgress,
        channels: &Channels,
        ctl: &CallCtl,
        dial_args: &str,
    ) {
        let (one, two, a) = (&mut *self.one, &mut *self.two, &mut self.a);
        p.one_ended = self.one_side.start(ev, one, self.dialplan);
        if let Some(tx) = self.originate.take() {
            if self.asynchronous {
                ev.raise((self.response)(true, Some(one)));
            }
            let _ = tx.send(true);
        }
        channels.put(one, &self.one_side.shown.0, &self.one_side.shown.1, ctl);
        channels.put(two, "Dial", dial_args, ctl);
        channels.put(a, "AppDial", "(Outgoing Line)", ctl);
        let id = self.bridge_id.clone();
        ev.raise(event(
            "BridgeCreate",
            Privileges::CALL,
            bridge_block(&id, 0),
        ));
        ev.newexten(a, "");
        ev.bridge("BridgeEnter", &id, 1, a);
        let extra = format!("{{\"bridge_id\":\"{id}\",\"bridge_technology\":\"simple_bridge\"}}");
        ev.cel("BRIDGE_ENTER", a, "", &extra);
        ev.cel("BRIDGE_ENTER", two, &a.name, &extra);
        let dev = two.device().to_owned();
        ev.devstate(&dev, "INUSE");
        ev.bridge("BridgeEnter", &id, 2, two);
        ev.varset(a, "BRIDGEPEER", &two.name.clone());
        ev.varset(two, "BRIDGEPEER", &a.name.clone());
        p.bridged = true;
    }

    /// The callee's Wait; the caller's ;1 side runs its application or dialplan meanwhile.
    /// `false` if the Dial is over (the ;1 side ended, or a Hangup action).
    async fn callee_waits(
        &mut self,
        ev: &mut Raise<'_>,
        p: &mut DialProgress,
        channels: &Channels,
        ctl: &CallCtl,
        sargs: &[String],
    ) -> bool {
        let b_ends = tokio::time::Instant::now() + wait_arg(sargs.first());
        loop {
            let one_ends = self.one_side.deadline().filter(|at| *at < b_ends);
            tokio::select! {
                _ = tokio::time::sleep_until(one_ends.unwrap_or(b_ends)) => {
                    if one_ends.is_none() {
                        return true;
                    }
                    p.one_ended = self.one_side.expired(ev, self.one);
                    if p.one_ended.is_some() {
                        p.by_callee = false;
                        return false;
                    }
                    let shown = &self.one_side.shown;
                    channels.put(self.one, &shown.0, &shown.1, ctl);
                }
                _ = ctl.kill.notified() => {
                    p.by_callee = false;
                    return false;
                }
            }
        }
    }

    /// Unanswered, or the caller's pair is going: the callee pair hangs up.
    fn callee_hangs_up(&mut self, ev: &mut Raise<'_>, p: &DialProgress, ctl: &CallCtl) -> DialEnd {
        let (two, a, b) = (&mut *self.two, &mut self.a, &mut self.b);
        let id = &self.bridge_id;
        if p.bridged {
            ev.bridge("BridgeLeave", id, 1, a);
        }
        hangup_pair(ev, b, a, p.builtin && p.by_callee, false, false);
        if p.bridged {
            ev.bridge_end(id, two);
        } else {
            let status = "NOANSWER";
            two.dialstatus = status.into();
            ev.varset(two, "DIALSTATUS", status);
            let mut h = two.snapshot("");
            h.extend(a.snapshot("Dest"));
            h.push(("DialStatus".into(), status.into()));
            ev.raise(event("DialEnd", Privileges::CALL, h));
        }
        if p.by_callee {
            return DialEnd::Unanswered;
        }
        DialEnd::Ended(
            p.one_ended
                .unwrap_or_else(|| action_ending(ctl.killed.load(Ordering::SeqCst))),
        )
    }

    /// The callee (b) hung up: its pair goes, the bridge empties, and the caller's Dial
    /// returns -1, so the caller's pair hangs up too. Recording 08's order.
    fn callee_hung_up(
        &mut self,
        ev: &mut Raise<'_>,
        channels: &Channels,
        p: &DialProgress,
        dial_started: std::time::Instant,
    ) {
        let (one, two) = (&mut *self.one, &mut *self.two);
        let (a, b) = (&mut self.a, &mut self.b);
        let id = &self.bridge_id;
        let extra = format!("{{\"bridge_id\":\"{id}\",\"bridge_technology\":\"simple_bridge\"}}");
        ev.hangup_request("SoftHangupRequest", b, 16);
        ev.hangup_request("HangupRequest", a, 16);
        ev.hangup(b, 16);
        ev.varset(a, "BRIDGEPEER", "");
        ev.varset(two, "BRIDGEPEER", "");
        ev.bridge("BridgeLeave", id, 1, a);
        ev.hangup(a, 16);
        ev.raise(cdr(b));
        ev.cel("BRIDGE_EXIT", a, &two.name, &extra);
        ev.cel_gone(a, 16, false);
        let dev_b = b.device().to_owned();
        ev.devstate_after(&dev_b, &[]);
        ev.flush();
        ev.cel("BRIDGE_EXIT", two, "", &extra);
        ev.cel_gone(two, 16, false);
        ev.raise(cdr(two));
        ev.raise(cdr(one));
        ev.cel_gone(one, 16, false);
        ev.cel("LINKEDID_END", one, "", "");
        ev.bridge_end(id, two);
        let ms = |t: std::time::Instant| t.elapsed().as_millis();
        if let Some(at) = p.answered_at {
            ev.varset(two, "ANSWEREDTIME", &(ms(at) / 1000).to_string());
            ev.varset(two, "ANSWEREDTIME_MS", &ms(at).to_string());
        }
        ev.varset(two, "DIALEDTIME", &(ms(dial_started) / 1000).to_string());
        ev.varset(two, "DIALEDTIME_MS", &ms(dial_started).to_string());
        ev.varset(two, "DIALSTATUS", &two.dialstatus.clone());
        ev.hangup_request("SoftHangupRequest", two, 16);
        ev.varset(one, "CHANLOCALSTATUS", &two.dialstatus.clone());
        ev.hangup_request("HangupRequest", one, 16);
        ev.hangup(two, 16);
        if one.runs_dialplan {
            // Its PBX is told to stop, as in hangup_pair.
            ev.hangup_request("SoftHangupRequest", one, 16);
        }
        ev.hangup(one, 16);
        channels.remove(&one.name);
        channels.remove(&two.name);
        ev.devstate_after(&dev_b, &[]);
        let dev = one.device().to_owned();
        ev.devstate_after(&dev, &[]);
        ev.devstate_after(&dev, &[]);
        ev.flush();
    }
}

/// What ends an originated pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// The ;2 side's dialplan ended (by the Hangup application if `builtin`), after a
    /// Redirect if `redirected`.
    Dialplan { builtin: bool, redirected: bool },
    /// The ;1 side's application (the Originate's Wait) ended first (recording 09b).
    App,
    /// A Hangup action on the ;1 side (recording 09c).
    ActionOne,
    /// The ;1 side's dialplan (an Originate to Context/Exten) ended first, by the Hangup
    /// application if `builtin`: it hangs up, then the ;2 side, as `hangup_pair` has it.
    OneDialplan { builtin: bool },
    /// A Hangup action on the ;2 side.
    ActionTwo,
}

/// Hangs the originated pair up and forgets it.
fn end(ev: &mut Raise<'_>, channels: &Channels, one: &mut Chan, two: &mut Chan, how: Ending) {
    match how {
        Ending::Dialplan {
            builtin,
            redirected,
        } => hangup_pair(ev, two, one, builtin, true, redirected),
        Ending::OneDialplan { builtin } => hangup_pair(ev, one, two, builtin, true, false),
        Ending::App => {
            // The ;1 side's application returns: it hangs up with no cause, and the ;2 side
            // is told to.
            ev.hangup_request("HangupRequest", two, 0);
            ev.raise(cdr(one));
            ev.cel_gone(one, 0, false);
            ev.cel_gone(two, 0, false);
            ev.cel("LINKEDID_END", &cel_view(two), "", "");
            ev.hangup(one, 0);
            ev.hangup_request("SoftHangupRequest", two, 16);
            ev.hangup(two, 0);
            ev.raise(cdr(two));
            let dev = one.device().to_owned();
            let gone = [one.name.as_str(), two.name.as_str()];
            ev.devstate_after(&dev, &gone);
            ev.devstate_after(&dev, &gone);
            ev.flush();
        }
        Ending::ActionOne | Ending::ActionTwo => {
            let (first, second) = if how == Ending::ActionOne {
                (&*one, &*two)
            } else {
                (&*two, &*one)
            };
            ev.cel_gone(first, 16, false);
            for c in [first, second] {
                if c.cdr {
                    ev.raise(cdr(c));
                }
                if std::ptr::eq(c, first) {
                    ev.hangup_request("HangupRequest", second, 16);
                    ev.hangup(first, 16);
                }
            }
            ev.hangup_request("SoftHangupRequest", second, 16);
            ev.hangup(second, 16);
            let dev = one.device().to_owned();
            let gone = [one.name.as_str(), two.name.as_str()];
            ev.devstate_after(&dev, &gone);
            ev.cel_gone(second, 16, false);
            ev.cel("LINKEDID_END", &cel_view(second), "", "");
            ev.devstate_after(&dev, &gone);
            ev.flush();
        }
    }
    channels.remove(&one.name);
    channels.remove(&two.name);
}

/// A channel as CEL sees it once it has hung up: a ;2 side that ran the dialplan has no
/// application left in its snapshot.
fn cel_view(c: &Chan) -> Chan {
    let mut c = c.clone();
    if c.is_two() {
        c.app = (String::new(), String::new());
    }
    c
}

/// What the ;1 side of an originated pair runs once it is answered: the Originate's
/// application, or (an Originate to Context/Exten) the dialplan there, as Asterisk's pbx runs
/// it on the originated channel (`ast_pbx_run` at the given context, extension and
/// priority), whether the ;2 side runs a Wait or a Dial meanwhile.
struct OneSide {
    target: Target,
    /// Started (the ;1 side is up and runs its application or dialplan).
    started: bool,
    /// The dialplan steps still to run (Context/Exten).
    steps: std::collections::VecDeque<crate::dialplan::Step>,
    /// When its current application (a Wait) ends; `None` while it has no end.
    until: Option<tokio::time::Instant>,
    /// The application and data it runs, as CoreShowChannels shows them.
    shown: (String, String),
}

impl OneSide {
    fn new(target: &Target) -> OneSide {
        let shown = match target {
            Target::App { app, data } => (app.clone(), data.clone()),
            Target::Exten { .. } => ("AppDial2".to_owned(), "(Outgoing Line)".to_owned()),
        };
        OneSide {
            target: target.clone(),
            started: false,
            steps: Default::default(),
            until: None,
            shown,
        }
    }

    /// The ;1 side is answered: its application starts (a Wait's end is noted), or its
    /// dialplan runs up to its first Wait (Newexten, Set's VarSet). `Some` if that dialplan
    /// has already ended (a Hangup, or no step left). CEL still shows the ;1 side's AppDial2
    /// (recording 07); its Cdr shows the last step.
    fn start(&mut self, ev: &Raise<'_>, one: &mut Chan, dialplan: &Dialplan) -> Option<Ending> {
        if self.started {
            return None;
        }
        self.started = true;
        match self.target.clone() {
            Target::App { app, data } => {
                self.until = wait_time(&app, &data).map(|d| tokio::time::Instant::now() + d);
                None
            }
            Target::Exten {
                context,
                exten,
                priority,
            } => {
                let ext = dialplan.lookup(&context, &exten)?;
                self.steps = ext
                    .steps()
                    .iter()
                    .filter(|s| s.priority >= priority)
                    .cloned()
                    .collect();
                one.context = context;
                one.exten = exten;
                one.runs_dialplan = true;
                self.advance(ev, one)
            }
        }
    }

    /// When its current Wait ends, once started.
    fn deadline(&self) -> Option<tokio::time::Instant> {
        self.until
    }

    /// Its Wait has ended: the application returns (`Ending::App`), or the dialplan goes on
    /// (`Some` if it ends).
    fn expired(&mut self, ev: &Raise<'_>, one: &mut Chan) -> Option<Ending> {
        self.until = None;
        match self.target {
            Target::App { .. } => Some(Ending::App),
            Target::Exten { .. } => self.advance(ev, one),
        }
    }

    /// Runs dialplan steps up to the next Wait (`None`), a Hangup or the last step (`Some`).
    fn advance(&mut self, ev: &Raise<'_>, one: &mut Chan) -> Option<Ending> {
        while let Some(mut st) = self.steps.pop_front() {
            st.args = substitute(&st.args, &one.name, ev.channels, ev.random);
            one.priority = st.priority;
            one.last_app = (st.app.clone(), st.args.clone());
            self.shown = one.last_app.clone();
            let mut shown = one.clone();
            shown.app = one.last_app.clone();
            let exten = one.exten.clone();
            ev.newexten(&shown, &exten);
            match st.app.to_ascii_lowercase().as_str() {
                "wait" => {
                    let d = wait_arg(split_args(&st.args).first());
                    self.until = Some(tokio::time::Instant::now() + d);
                    return None;
                }
                "hangup" => return Some(Ending::OneDialplan { builtin: true }),
                "set" => {
                    if let Some((k, v)) = st.args.split_once('=') {
                        let _ = ev.channels.set_var(&one.name, k, v);
                        ev.varset(one, k, v);
                    }
                }
                _ => {}
            }
        }
        // The dialplan ran out: the pbx hangs the channel up.
        Some(Ending::OneDialplan { builtin: false })
    }
}

/// How long `Wait(data)` waits (`None` for other applications, or data that is not a
/// number).
fn wait_time(app: &str, data: &str) -> Option<Duration> {
    if !app.eq_ignore_ascii_case("wait") {
        return None;
    }
    data.trim().parse::<f64>().ok().map(seconds)
}

/// A Wait's argument as a duration: 0 if it is not a number, at most a day.
fn wait_arg(arg: Option<&String>) -> Duration {
    seconds(arg.and_then(|a| a.trim().parse().ok()).unwrap_or(0.0))
}

fn seconds(secs: f64) -> Duration {
    if secs.is_nan() {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(secs.clamp(0.0, 86_400.0))
}

/// The hang-up sequence of a Local pair: `first` hung up (by the Hangup application if
/// `builtin`), then the other side; recording 09a's order. `outer` for an originated pair,
/// whose last channel to go gets CEL LINKEDID_END. Which side of the pair is destroyed last
/// is a race in Asterisk: the other side (`first_last` false) in recordings 08 and 09a,
/// `first` in 09c's redirected call; the simulator follows them.
fn hangup_pair(
    ev: &mut Raise<'_>,
    first: &mut Chan,
    second: &mut Chan,
    builtin: bool,
    outer: bool,
    first_last: bool,
) {
    if first.is_two() && !first.dialstatus.is_empty() {
        // core_local: the ;1 side learns the ;2 side's DIALSTATUS.
        let status = first.dialstatus.clone();
        ev.varset(second, "CHANLOCALSTATUS", &status);
    }
    ev.hangup_request("SoftHangupRequest", first, 16);
    ev.hangup_request("HangupRequest", second, 16);
    // cdr_manager: one Cdr per channel (the ;2 side first, as recorded).
    let cdrs = |ev: &mut Raise<'_>, first: &Chan, second: &Chan| {
        let (one, two) = if first.is_two() {
            (second, first)
        } else {
            (first, second)
        };
        for c in [two, one] {
            if c.cdr {
                ev.raise(cdr(c));
            }
        }
    };
    let last = if first_last {
        ev.cel_gone(second, 16, false);
        ev.hangup(second, 16);
        ev.hangup(first, 16);
        cdrs(ev, first, second);
        ev.cel_gone(first, 16, builtin);
        &*first
    } else {
        ev.hangup(first, 16);
        ev.cel_gone(first, 16, builtin);
        cdrs(ev, first, second);
        if second.runs_dialplan || second.is_two() {
            // Its PBX is told to stop (recording 07's Originate to Context/Exten; a ;2 side
            // always runs one).
            ev.hangup_request("SoftHangupRequest", second, 16);
        }
        ev.hangup(second, 16);
        ev.cel_gone(second, 16, false);
        &*second
    };
    if outer {
        ev.cel("LINKEDID_END", &cel_view(last), "", "");
    }
    let dev = first.device().to_owned();
    let gone = [first.name.as_str(), second.name.as_str()];
    ev.devstate_after(&dev, &gone);
    ev.devstate_after(&dev, &gone);
    ev.flush();
}

/// `2026-11-23 17:07:40` (UTC).
fn cdr_time(t: Option<std::time::SystemTime>) -> String {
    match t {
        Some(t) => {
            let secs = t
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let (d, h) = crate::wire::civil(secs);
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
    // cdr.c always writes both parts (`"" <>` for a call without caller ID, recording 09b).
    let callerid = format!("\"{}\" <{caller}>", known(&c.cid.1));
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
            } else if c.failed {
                "FAILED"
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

/// `${…}` in application arguments, as the PBX substitutes them before running the
/// application: `${RAND(min,max)}` and the channel's own variables (Set, Setvar); anything
/// else becomes empty, as an unset variable does.
fn substitute(args: &str, chan: &str, channels: &Channels, random: &Random) -> String {
    let mut out = String::new();
    let mut rest = args;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let inner = &rest[at + 2..];
        // The matching `}` (functions may nest braces in their arguments).
        let mut depth = 1;
        let mut end = None;
        for (i, ch) in inner.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else {
            out.push_str(&rest[at..]);
            return out;
        };
        let expr = substitute(&inner[..end], chan, channels, random);
        out.push_str(&evaluate(&expr, chan, channels, random));
        rest = &inner[end + 1..];
    }
    out.push_str(rest);
    out
}

fn evaluate(expr: &str, chan: &str, channels: &Channels, random: &Random) -> String {
    if let Some(range) = expr.strip_prefix("RAND(").and_then(|r| r.strip_suffix(')')) {
        let (lo, hi) = range.split_once(',').unwrap_or((range, ""));
        // Asterisk's RAND: integers, min 0 and max RAND_MAX by default, swapped if reversed.
        let lo: i128 = lo.trim().parse::<i64>().map_or(0, i128::from);
        let hi: i128 = hi
            .trim()
            .parse::<i64>()
            .map_or(i128::from(i32::MAX), i128::from);
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let span = (hi - lo + 1) as u128;
        return (lo + (u128::from(random.next_u64()) % span) as i128).to_string();
    }
    channels.get_var(chan, expr).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_rand_and_channel_variables() {
        let channels = Channels::default();
        let random = Random::new(Some(1));
        for _ in 0..100 {
            let v = substitute("CALLNUM=${RAND(1,99999)}", "c", &channels, &random);
            let n: u64 = v.strip_prefix("CALLNUM=").unwrap().parse().unwrap();
            assert!((1..=99_999).contains(&n), "{v}");
        }
        assert_eq!(substitute("${RAND(7,7)}", "c", &channels, &random), "7");
        assert_eq!(substitute("${RAND(9,8)}", "c", &channels, &random).len(), 1);
        // The widest range, and input that is not a number, without panicking.
        let wide = "${RAND(-9223372036854775808,9223372036854775807)}";
        assert!(substitute(wide, "c", &channels, &random)
            .parse::<i64>()
            .is_ok());
        assert!(substitute("${RAND(x,y)}", "c", &channels, &random)
            .parse::<i64>()
            .is_ok());
        // Unset variables are empty; an unterminated `${` stays as written.
        assert_eq!(substitute("a${NOPE}b", "c", &channels, &random), "ab");
        assert_eq!(substitute("a${NOPE", "c", &channels, &random), "a${NOPE");
        assert_eq!(substitute("${${NOPE}}x", "c", &channels, &random), "x");
    }
}
