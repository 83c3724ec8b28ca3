//! The PBX's state, shared by every session and call of one simulator: who it pretends to be
//! ([`Identity`]), accounts, globals, the dialplan, queues, application state, the live
//! channels ([`Channels`]) and counters, and the sessions `manager show connected` lists.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::accounts::Accounts;
use crate::wire::unix_now;

/// What the simulator pretends to be.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The AMI version in the banner (`Asterisk Call Manager/<this>`).
    pub ami_version: String,
    /// The Asterisk version (`core show version`, CoreSettings).
    pub asterisk_version: String,
    /// The build line of `core show version`.
    pub build: String,
    /// Answer Command in the old framing of Asterisk 13 and earlier (`Response: Follows`,
    /// the raw CLI text with bare LF, then `--END COMMAND--`).
    pub old_command_framing: bool,
}

impl Identity {
    /// Asterisk 13.38.3 (AMI 2.10.6): the old Command framing.
    pub fn asterisk_13() -> Identity {
        Identity {
            ami_version: "2.10.6".into(),
            asterisk_version: "13.38.3".into(),
            old_command_framing: true,
            ..Identity::default()
        }
    }
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            ami_version: "11.0.0".into(),
            asterisk_version: "22.10.1".into(),
            build: "built by amiwire-sim on a x86_64 running Linux".into(),
            old_command_framing: false,
        }
    }
}

/// State shared by every session of one simulator: accounts, global variables, the clock of
/// the "PBX", counters.
#[derive(Debug)]
pub struct Shared {
    /// Accounts (manager.conf).
    pub accounts: Accounts,
    /// Who we pretend to be.
    pub identity: Identity,
    /// Global dialplan variables (`[globals]`, Setvar without channel).
    pub globals: Mutex<HashMap<String, String>>,
    /// When the simulator started.
    pub started: Instant,
    /// Wall-clock start, for CoreStatus.
    pub started_wall: SystemTime,
    /// Delay before answering a failed login (Asterisk sleeps 1 s).
    pub failed_login_delay: Duration,
    /// How long an idle AMI-over-HTTP cookie session lives (`httptimeout`, Asterisk: 60 s).
    pub http_timeout: Duration,
    /// Issue this MD5 challenge instead of a random one.
    pub fixed_challenge: Option<String>,
    /// Categories of the configuration files ListCategories knows, by file name.
    pub categories: HashMap<String, Vec<String>>,
    /// The dialplan.
    pub dialplan: Arc<crate::dialplan::Dialplan>,
    /// Channel and call counters.
    pub counters: Arc<Counters>,
    /// Live channels.
    pub channels: Arc<Channels>,
    /// The queues of queues.conf and their members' states: QueueStatus, QueueSummary and
    /// GetConfig show them, calls raise their QueueMemberStatus events.
    pub queues: Arc<crate::queues::Queues>,
    /// The conferences of ConfBridge calls.
    pub apps: Arc<crate::apps::Apps>,
    /// Agents (agents.conf), for Agents and DeviceStateList.
    pub(crate) agents: Vec<Agent>,
    /// The one random source (`SimConfig::seed`).
    pub(crate) random: Arc<crate::wire::Random>,
    /// Connected sessions, for `manager show connected`.
    connected: Mutex<Vec<Connected>>,
    /// The id of the next session.
    next_session: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// Seconds since the epoch when the simulator started (the first part of Uniqueids).
    pub fn epoch(&self) -> u64 {
        self.started_wall
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
    }

    /// What a call may see of the PBX: the dialplan, channels, counters, queues and
    /// application state (not the accounts, globals or sessions).
    pub fn call_env(&self) -> CallEnv {
        CallEnv {
            dialplan: self.dialplan.clone(),
            counters: self.counters.clone(),
            channels: self.channels.clone(),
            queues: self.queues.clone(),
            apps: self.apps.clone(),
            epoch: self.epoch(),
            random: self.random.clone(),
        }
    }

    /// Shared state with these accounts and globals.
    pub fn new(accounts: Accounts, globals: HashMap<String, String>) -> Shared {
        let started_wall = SystemTime::now();
        Shared {
            accounts,
            identity: Identity::default(),
            globals: Mutex::new(globals),
            started: Instant::now(),
            started_wall,
            failed_login_delay: Duration::from_secs(1),
            http_timeout: Duration::from_secs(60),
            fixed_challenge: None,
            categories: HashMap::new(),
            dialplan: Arc::new(crate::dialplan::Dialplan::default()),
            counters: Arc::new(Counters::default()),
            channels: Arc::new(Channels::default()),
            queues: Arc::new(crate::queues::Queues::new(
                crate::queues::DEFAULT_QUEUES_CONF,
                started_wall
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs(),
            )),
            apps: Arc::new(crate::apps::Apps::with_agents(
                default_agents().into_iter().map(|a| a.id).collect(),
            )),
            agents: default_agents(),
            random: Arc::default(),
            connected: Mutex::new(Vec::new()),
            next_session: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub(crate) fn connected(&self) -> std::sync::MutexGuard<'_, Vec<Connected>> {
        self.connected.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a session to the list of `manager show connected`; its id.
    pub(crate) fn register(&self, ip: std::net::IpAddr) -> u64 {
        let id = self
            .next_session
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut list = self.connected();
        // The lowest descriptor number from 10 up that no other TCP session has.
        let mut fd = 10;
        while list.iter().any(|c| c.fd == fd) {
            fd += 1;
        }
        list.push(Connected {
            id,
            username: String::new(),
            ip,
            start: unix_now(),
            fd,
            read: 0,
            write: 0,
        });
        id
    }

    pub(crate) fn update_connected(&self, id: u64, f: impl FnOnce(&mut Connected)) {
        if let Some(c) = self.connected().iter_mut().find(|c| c.id == id) {
            f(c);
        }
    }
}

/// What a call needs of its simulator.
#[derive(Debug, Clone)]
pub struct CallEnv {
    /// The dialplan it runs.
    pub dialplan: Arc<crate::dialplan::Dialplan>,
    /// Channel numbers and unique IDs.
    pub counters: Arc<Counters>,
    /// Where its live channels are listed.
    pub channels: Arc<Channels>,
    /// Queue members whose device state it may change.
    pub queues: Arc<crate::queues::Queues>,
    /// Conferences it may join.
    pub apps: Arc<crate::apps::Apps>,
    /// The first part of its Uniqueids (the simulator's start, in Unix seconds).
    pub epoch: u64,
    /// The simulator's random source (bridge ids, `${RAND()}`).
    pub(crate) random: Arc<crate::wire::Random>,
}

/// Counters shared by all calls of a simulator (channel numbers and unique IDs).
#[derive(Debug, Default)]
pub struct Counters {
    /// The number in the next Local channel name (`Local/100@test-0000001a;1`).
    pub channel: AtomicU64,
    pub(crate) unique: AtomicU64,
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
    /// The `BridgeUniqueid` of the bridge it is in (a conference's), empty if none.
    pub bridge: String,
}

/// `killed` value asking the call to continue at its redirect target.
pub(crate) const REDIRECTED: u8 = 3;

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

    /// Lists (or updates) channel `name` with its snapshot headers, running `app(data)`,
    /// controlled by `call`.
    pub(crate) fn insert(
        &self,
        name: &str,
        snapshot: Vec<(String, String)>,
        app: &str,
        data: &str,
        call: &CallCtl,
    ) {
        let (kill, killed, redirect) = (&call.kill, &call.killed, &call.redirect);
        let side = if name.ends_with(";2") { 2 } else { 1 };
        let mut map = self.lock();
        let (started, vars, bridge) = map
            .get(name)
            .map(|l| (l.started, l.vars.clone(), l.bridge.clone()))
            .unwrap_or_else(|| (std::time::Instant::now(), Default::default(), String::new()));
        map.insert(
            name.to_owned(),
            Live {
                snapshot,
                app: app.to_owned(),
                data: data.to_owned(),
                started,
                kill: kill.clone(),
                killed: killed.clone(),
                redirect: redirect.clone(),
                side,
                vars,
                bridge,
            },
        );
    }

    /// Notes the bridge a channel is in (empty: none), for CoreShowChannels and Status.
    pub(crate) fn set_bridge(&self, name: &str, bridge: &str) {
        if let Some(live) = self.lock().get_mut(name) {
            live.bridge = bridge.to_owned();
        }
    }

    /// Drops a channel from the list.
    pub(crate) fn remove(&self, name: &str) {
        self.lock().remove(name);
    }

    /// Whether a live channel but those named in `except` makes `device` (its name up to the
    /// last `-`): core_local's device state is INUSE while such a channel exists.
    pub(crate) fn device_in_use(&self, device: &str, except: &[&str]) -> bool {
        self.lock().keys().any(|name| {
            name.rsplit_once('-').is_some_and(|(d, _)| d == device)
                && !except.contains(&name.as_str())
        })
    }
}

/// What a call's task listens to: hang-up and redirect requests.
#[derive(Debug, Default)]
pub(crate) struct CallCtl {
    pub(crate) kill: Arc<tokio::sync::Notify>,
    pub(crate) killed: Arc<std::sync::atomic::AtomicU8>,
    pub(crate) redirect: Arc<std::sync::Mutex<Option<(String, String, u32)>>>,
}

/// An agent of agents.conf: the recorded server had agent 1001, "Test Agent" (recording 06;
/// its agents.conf is not in the corpus).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Agent {
    pub(crate) id: String,
    pub(crate) name: String,
}

/// The recorded server's agents.
pub(crate) fn default_agents() -> Vec<Agent> {
    vec![Agent {
        id: "1001".into(),
        name: "Test Agent".into(),
    }]
}

/// One AMI session as `manager show connected` lists it.
#[derive(Clone, Debug)]
pub(crate) struct Connected {
    pub(crate) id: u64,
    pub(crate) username: String,
    pub(crate) ip: std::net::IpAddr,
    /// Unix time of the connection.
    pub(crate) start: u64,
    /// A file descriptor number as Asterisk's would be (the first session gets 10, as in
    /// recording 04); -1 for an HTTP session (no stream between requests).
    pub(crate) fd: i32,
    pub(crate) read: u32,
    pub(crate) write: u32,
}
