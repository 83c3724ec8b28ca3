//! The state of the dialplan applications that keep a caller: ConfBridge's conferences, one
//! model for every part of the simulator that shows them (ConfbridgeListRooms,
//! ConfbridgeList, BridgeList, DeviceStateList, the `BridgeId` of CoreShowChannels and
//! Status).
//!
//! Bounded: a conference exists while a call is in it, and a call is in at most one.

use std::sync::Mutex;
use std::time::SystemTime;

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

/// The applications' state of one simulator.
#[derive(Debug, Default)]
pub struct Apps {
    conferences: Mutex<Vec<Conference>>,
    /// The cached device states the applications publish (`confbridge:<name>`), in the
    /// order first published; bounded by the names of the conferences ever started.
    devices: Mutex<Vec<(String, String)>>,
}

impl Apps {
    /// Caches the state of an application's device (DeviceStateList lists it).
    pub fn set_device(&self, device: &str, state: &str) {
        let mut d = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        match d.iter_mut().find(|(n, _)| n == device) {
            Some(entry) => entry.1 = state.to_owned(),
            None => d.push((device.to_owned(), state.to_owned())),
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
    }
}
