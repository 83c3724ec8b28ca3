//! Calls on Local channels: what an Originate starts. A small model of Asterisk's channels
//! that runs the dialplan of the called extension (Answer, Wait, Set, UserEvent, Hangup,
//! Dial to another Local channel, ConfBridge, Queue and AgentLogin; other applications are
//! stepped over) and raises the events a real Asterisk 22 raises for it, with the header
//! blocks and in the order of the recordings (08 for a Dial): Newchannel, Newexten, NewCallerid, NewConnectedLine,
//! LocalBridge, VarSet (with Dial's DIALSTATUS, DIALEDPEERNAME, … and BRIDGEPEER), Newstate,
//! DialBegin/DialEnd, Bridge{Create,Enter,Leave,Destroy}, UserEvent, SoftHangupRequest,
//! HangupRequest, Hangup, DeviceStateChange, QueueMemberStatus (for watched queue members),
//! OriginateResponse, and cdr_manager's Cdr and cel_manager's CEL events.
//!
//! Here a call starts and its ;2 side runs the dialplan ([`run`]); `events` raises the
//! events, `dial` runs a Dial, `apps` the applications that keep the caller, `one_side` what
//! the ;1 side runs, `hangup` how a pair ends, `cdr` the Cdr events and `substitute` `${…}`.

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

mod apps;
mod cdr;
mod dial;
mod events;
mod hangup;
mod one_side;
mod substitute;

use self::apps::*;
use self::cdr::*;
use self::dial::*;
use self::events::*;
use self::hangup::*;
use self::one_side::*;
use self::substitute::*;

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
            let step = self.step_to(&steps[i]);
            i += 1;
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

    /// The ;2 side comes to `step`: its arguments substituted, its priority and (unless a
    /// bridged Dial ended its CDR, whose last application stays Dial) its CDR's last
    /// application.
    fn step_to(&mut self, step: &crate::dialplan::Step) -> crate::dialplan::Step {
        let mut step = step.clone();
        step.args = substitute(
            &step.args,
            &self.two.name,
            &self.env.channels,
            &self.env.random,
        );
        self.two.priority = step.priority;
        if self.two.dialled.is_empty() {
            self.two.last_app = (step.app.clone(), step.args.clone());
        }
        step
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
