//! The state of the dialplan applications that keep a caller: ConfBridge's conferences and
//! AgentLogin's agents, one model for every part of the simulator that shows them
//! (ConfbridgeListRooms, ConfbridgeList, Agents, BridgeList, DeviceStateList, the `BridgeId`
//! of CoreShowChannels and Status), and the device states the applications publish.
//!
//! Bounded: a conference exists while a call is in it, a call is in at most one, an agent is
//! one of the configured ones, and there is one agent holding bridge.

use std::sync::Mutex;
use std::time::SystemTime;

/// The most device states the simulator caches (conference names come from the dialplan and
/// may vary from call to call).
pub const MAX_DEVICES: usize = 1024;

/// A user of a conference: the channel that runs ConfBridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfUser {
    /// Its channel's name.
    pub channel: String,
    /// When its channel was answered (ConfbridgeList's `AnsweredTime`).
    pub answered: SystemTime,
}

/// A conference (`ConfBridge(<name>,…)`) and its softmix bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conference {
    /// Its name (`Conference`, the bridge's `BridgeName`).
    pub name: String,
    /// Its bridge's `BridgeUniqueid`.
    pub bridge_id: String,
    /// Its users, the last to join first (recording 06 lists the later caller first).
    pub users: Vec<ConfUser>,
}

impl Conference {
    /// The channels in its bridge: the users and app_confbridge's announcer channel
    /// (recording 06's BridgeList counts 3 channels for 2 parties). The simulator raises no
    /// events for the announcer channel itself, and lists it nowhere else.
    pub fn bridge_channels(&self) -> usize {
        self.users.len() + 1
    }
}

/// A logged-in agent (AgentLogin).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedIn {
    /// The agent's id (`1001`).
    pub agent: String,
    /// The channel that logged it in, which waits in the agent holding bridge.
    pub channel: String,
    /// When it logged in (Unix seconds; the Agents list's `LoggedInTime`).
    pub since: u64,
}

/// Why an agent could not log in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginError {
    /// No such agent is configured.
    NoSuchAgent,
    /// It is logged in already.
    AlreadyLoggedIn,
}

/// The applications' state of one simulator.
#[derive(Debug, Default)]
pub struct Apps {
    conferences: Mutex<Vec<Conference>>,
    /// The configured agents' ids, and those logged in.
    agent_ids: Vec<String>,
    logged_in: Mutex<Vec<LoggedIn>>,
    /// app_agent_pool's holding bridge: made at the first login, kept after (its id).
    agent_bridge: Mutex<Option<String>>,
    /// The cached device states the applications publish (`confbridge:<name>`,
    /// `Queue:<name>`…), in the order first published; at most [`MAX_DEVICES`], the oldest
    /// dropped first.
    devices: Mutex<Vec<(String, String)>>,
}

impl Apps {
    /// The state of a simulator whose agents.conf configures these agents.
    pub fn with_agents(agent_ids: Vec<String>) -> Apps {
        Apps {
            agent_ids,
            ..Apps::default()
        }
    }

    /// The agents logged in, in the order they logged in.
    pub fn logged_in(&self) -> Vec<LoggedIn> {
        self.logged_in
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The agent holding bridge's id, once an agent has logged in.
    pub fn agent_bridge(&self) -> Option<String> {
        self.agent_bridge
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Agent `agent` logs in on `channel` at `since`: the holding bridge's id (made with
    /// `new_bridge_id` if there is none yet, then `true`) and the agents logged in now.
    pub fn agent_login(
        &self,
        agent: &str,
        channel: &str,
        since: u64,
        new_bridge_id: &str,
    ) -> Result<(String, bool, usize), LoginError> {
        if !self.agent_ids.iter().any(|a| a == agent) {
            return Err(LoginError::NoSuchAgent);
        }
        let mut logged = self.logged_in.lock().unwrap_or_else(|e| e.into_inner());
        if logged.iter().any(|l| l.agent == agent) {
            return Err(LoginError::AlreadyLoggedIn);
        }
        logged.push(LoggedIn {
            agent: agent.to_owned(),
            channel: channel.to_owned(),
            since,
        });
        let mut bridge = self.agent_bridge.lock().unwrap_or_else(|e| e.into_inner());
        let made = bridge.is_none();
        let id = bridge
            .get_or_insert_with(|| new_bridge_id.to_owned())
            .clone();
        Ok((id, made, logged.len()))
    }

    /// Agent `agent` logs off: when it had logged in and the agents still logged in; `None`
    /// if it was not logged in.
    pub fn agent_logoff(&self, agent: &str) -> Option<(u64, usize)> {
        let mut logged = self.logged_in.lock().unwrap_or_else(|e| e.into_inner());
        let at = logged.iter().position(|l| l.agent == agent)?;
        let l = logged.remove(at);
        Some((l.since, logged.len()))
    }

    /// Caches the state of an application's device (DeviceStateList lists it).
    pub fn set_device(&self, device: &str, state: &str) {
        let mut d = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        match d.iter_mut().find(|(n, _)| n == device) {
            Some(entry) => entry.1 = state.to_owned(),
            None => {
                if d.len() >= MAX_DEVICES {
                    d.remove(0);
                }
                d.push((device.to_owned(), state.to_owned()));
            }
        }
    }

    /// The cached device states, in the order first published.
    pub fn devices(&self) -> Vec<(String, String)> {
        self.devices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn confs(&self) -> std::sync::MutexGuard<'_, Vec<Conference>> {
        self.conferences.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The conferences up, in the order they started.
    pub fn conferences(&self) -> Vec<Conference> {
        self.confs().clone()
    }

    /// `user` joins conference `name`, started (with bridge `new_bridge_id`) if it is not up;
    /// the conference as it is now, and whether it was just started.
    pub fn join(&self, name: &str, user: ConfUser, new_bridge_id: &str) -> (Conference, bool) {
        let mut confs = self.confs();
        let at = match confs.iter().position(|c| c.name == name) {
            Some(at) => at,
            None => {
                confs.push(Conference {
                    name: name.to_owned(),
                    bridge_id: new_bridge_id.to_owned(),
                    users: Vec::new(),
                });
                confs.len() - 1
            }
        };
        let started = confs[at].users.is_empty();
        confs[at].users.retain(|u| u.channel != user.channel);
        confs[at].users.insert(0, user);
        (confs[at].clone(), started)
    }

    /// `channel` leaves conference `name`: the conference as it is now (without it), and
    /// whether it has ended (it was the last user). `None` if it was not in it.
    pub fn leave(&self, name: &str, channel: &str) -> Option<(Conference, bool)> {
        let mut confs = self.confs();
        let at = confs.iter().position(|c| c.name == name)?;
        let before = confs[at].users.len();
        confs[at].users.retain(|u| u.channel != channel);
        if confs[at].users.len() == before {
            return None;
        }
        if confs[at].users.is_empty() {
            return Some((confs.remove(at), true));
        }
        Some((confs[at].clone(), false))
    }
}

/// A conference's bridge block (`ast_manager_build_bridge_state_string`), as recording 06's
/// BridgeList shows it: type `base`, technology `softmix`, creator `ConfBridge`, named after
/// the conference.
pub(crate) fn conference_bridge_block(c: &Conference) -> Vec<(&'static str, String)> {
    vec![
        ("BridgeUniqueid", c.bridge_id.clone()),
        ("BridgeType", "base".into()),
        ("BridgeTechnology", "softmix".into()),
        ("BridgeCreator", "ConfBridge".into()),
        ("BridgeName", c.name.clone()),
        ("BridgeNumChannels", c.bridge_channels().to_string()),
        ("BridgeVideoSourceMode", "none".into()),
    ]
}

/// app_agent_pool's holding bridge's block, as recording 06's BridgeList shows it: type
/// `agent_hold`, technology `holding_bridge`, creator `AgentPool`, no name.
pub(crate) fn agent_bridge_block(id: &str, n: usize) -> Vec<(&'static str, String)> {
    vec![
        ("BridgeUniqueid", id.to_owned()),
        ("BridgeType", "agent_hold".into()),
        ("BridgeTechnology", "holding_bridge".into()),
        ("BridgeCreator", "AgentPool".into()),
        ("BridgeName", "<unknown>".into()),
        ("BridgeNumChannels", n.to_string()),
        ("BridgeVideoSourceMode", "none".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(c: &str) -> ConfUser {
        ConfUser {
            channel: c.into(),
            answered: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn conferences_start_fill_and_end() {
        let apps = Apps::default();
        let (c, started) = apps.join("1234", user("a"), "b1");
        assert!(started);
        assert_eq!((c.bridge_id.as_str(), c.bridge_channels()), ("b1", 2));
        let (c, started) = apps.join("1234", user("b"), "b2");
        assert!(!started);
        assert_eq!(c.bridge_id, "b1", "the conference keeps its bridge");
        let names: Vec<_> = c.users.iter().map(|u| u.channel.as_str()).collect();
        assert_eq!(names, ["b", "a"], "the last to join first");
        assert_eq!(apps.join("9", user("c"), "b3").0.users.len(), 1);
        assert_eq!(apps.conferences().len(), 2);
        assert!(apps.leave("1234", "nobody").is_none());
        assert!(apps.leave("nosuch", "a").is_none());
        let (c, ended) = apps.leave("1234", "a").unwrap();
        assert!(!ended);
        assert_eq!(c.users.len(), 1);
        let (c, ended) = apps.leave("1234", "b").unwrap();
        assert!(ended);
        assert!(c.users.is_empty());
        assert_eq!(apps.conferences().len(), 1);
    }

    #[test]
    fn agents_log_in_once_into_one_bridge() {
        let apps = Apps::with_agents(vec!["1001".into(), "1002".into()]);
        assert_eq!(apps.agent_bridge(), None);
        assert_eq!(
            apps.agent_login("9", "c", 1, "b"),
            Err(LoginError::NoSuchAgent)
        );
        assert_eq!(
            apps.agent_login("1001", "c1", 5, "b1"),
            Ok(("b1".into(), true, 1))
        );
        assert_eq!(
            apps.agent_login("1001", "c2", 6, "b2"),
            Err(LoginError::AlreadyLoggedIn)
        );
        assert_eq!(
            apps.agent_login("1002", "c2", 6, "b2"),
            Ok(("b1".into(), false, 2))
        );
        assert_eq!(apps.logged_in()[0].channel, "c1");
        assert_eq!(apps.agent_logoff("1001"), Some((5, 1)));
        assert_eq!(apps.agent_logoff("1001"), None);
        assert_eq!(apps.agent_logoff("1002"), Some((6, 0)));
        assert_eq!(apps.agent_bridge(), Some("b1".into()), "the bridge stays");
    }

    #[test]
    fn device_cache_keeps_first_order_and_last_state() {
        let apps = Apps::default();
        apps.set_device("confbridge:1", "INUSE");
        apps.set_device("confbridge:2", "INUSE");
        apps.set_device("confbridge:1", "NOT_INUSE");
        assert_eq!(
            apps.devices(),
            [
                ("confbridge:1".to_owned(), "NOT_INUSE".to_owned()),
                ("confbridge:2".to_owned(), "INUSE".to_owned())
            ]
        );
        for i in 0..MAX_DEVICES + 5 {
            apps.set_device(&format!("confbridge:x{i}"), "INUSE");
        }
        let d = apps.devices();
        assert_eq!(d.len(), MAX_DEVICES);
        assert_eq!(d[0].0, "confbridge:x5", "the oldest dropped first");
    }
}
