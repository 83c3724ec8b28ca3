//! The queues of queues.conf, one model for every part of the simulator that shows them: the
//! QueueStatus and QueueSummary lists, GetConfig of queues.conf, and app_queue's
//! QueueMemberStatus events when a member's device state changes.
//!
//! As app_queue does, each member keeps the last device state seen for its state interface;
//! QueueStatus reports that status, and a QueueMemberStatus event is raised when it changes,
//! so the two always agree. The simulator places no queue calls: no member is ever in a
//! queue call (`InCall: 0`) or paused, and the counters stay 0.

use std::sync::Mutex;

use crate::accounts::conf::ConfFile;
use crate::accounts::Privileges;
use crate::session::SimEvent;

/// The recorded server's queues.conf (`etc/queues.conf`, a copy of the corpus's
/// `asterisk-etc/queues.conf`): queue `support` with `member => Local/100@test,0,LocalHundred`.
pub const DEFAULT_QUEUES_CONF: &str = include_str!("../etc/queues.conf");

/// A queue member from a `member =>` line (`interface,penalty,membername,state_interface`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its name (`MemberName`; the interface when not given).
    pub name: String,
    /// Its interface (`Location`, `Interface`).
    pub interface: String,
    /// The device whose state app_queue watches for it (the interface when not given).
    pub state_interface: String,
    /// Its penalty.
    pub penalty: i32,
}

/// A queue of queues.conf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queue {
    /// Its name (the section's).
    pub name: String,
    /// `strategy`, lower case (`ringall` when not given).
    pub strategy: String,
    /// `maxlen`.
    pub maxlen: i32,
    /// `weight`.
    pub weight: i32,
    /// `servicelevel`.
    pub servicelevel: i32,
    /// `ringinuse` (yes when not given, as app_queue's default).
    pub ringinuse: bool,
    /// Its static members, in order.
    pub members: Vec<Member>,
}

/// The queues of a queues.conf text (every section but `general`); unreadable text gives none.
pub fn parse_queues(text: &str) -> Vec<Queue> {
    let Ok(file) = ConfFile::parse(text) else {
        return Vec::new();
    };
    let num = |v: Option<&str>| v.and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    file.sections()
        .filter(|s| !s.name.eq_ignore_ascii_case("general"))
        .map(|s| Queue {
            name: s.name.clone(),
            strategy: s.get("strategy").unwrap_or("ringall").to_ascii_lowercase(),
            maxlen: num(s.get("maxlen")),
            weight: num(s.get("weight")),
            servicelevel: num(s.get("servicelevel")),
            ringinuse: s.get("ringinuse").is_none_or(|v| {
                !["no", "false", "off", "0"].contains(&v.trim().to_ascii_lowercase().as_str())
            }),
            members: s
                .entries
                .iter()
                .filter(|e| e.name.eq_ignore_ascii_case("member"))
                .filter_map(|e| {
                    let f: Vec<&str> = e.value.split(',').map(str::trim).collect();
                    let interface = f.first().filter(|i| !i.is_empty())?.to_string();
                    let get = |i: usize| f.get(i).copied().filter(|v| !v.is_empty());
                    Some(Member {
                        name: get(2).unwrap_or(&interface).to_owned(),
                        state_interface: get(3).unwrap_or(&interface).to_owned(),
                        penalty: get(1).and_then(|p| p.parse().ok()).unwrap_or(0),
                        interface,
                    })
                })
                .collect(),
        })
        .collect()
}

/// A member's state as app_queue keeps it (`Status`, `InCall`, `Paused` of QueueStatus's
/// QueueMember and of QueueMemberStatus).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberState {
    /// The last device state seen for its state interface, as app_queue numbers them
    /// (1 not in use, 2 in use, 4 invalid, …).
    pub status: u8,
    /// In a queue call (never: the simulator places no queue calls).
    pub in_call: bool,
    /// Paused (never).
    pub paused: bool,
}

/// The queues of a simulator and their members' states.
#[derive(Debug)]
pub struct Queues {
    conf: String,
    queues: Vec<Queue>,
    /// Each member's state, by queue and member index.
    states: Mutex<Vec<Vec<MemberState>>>,
    login_time: u64,
}

impl Queues {
    /// The queues of this queues.conf text, every member not in use, logged in at
    /// `login_time` (Unix seconds).
    pub fn new(conf: &str, login_time: u64) -> Queues {
        let queues = parse_queues(conf);
        let idle = MemberState {
            status: 1,
            in_call: false,
            paused: false,
        };
        let states = queues.iter().map(|q| vec![idle; q.members.len()]).collect();
        Queues {
            conf: conf.to_owned(),
            queues,
            states: Mutex::new(states),
            login_time,
        }
    }

    /// The queues.conf text (GetConfig).
    pub fn conf(&self) -> &str {
        &self.conf
    }

    /// The queues, in the file's order.
    pub fn queues(&self) -> &[Queue] {
        &self.queues
    }

    /// When the members logged in (Unix seconds).
    pub fn login_time(&self) -> u64 {
        self.login_time
    }

    /// The state of member `member` of queue `queue` (indexes into [`Queues::queues`]); a
    /// member not in use for indexes out of range.
    pub fn state(&self, queue: usize, member: usize) -> MemberState {
        let states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        states
            .get(queue)
            .and_then(|q| q.get(member))
            .copied()
            .unwrap_or(MemberState {
                status: 1,
                in_call: false,
                paused: false,
            })
    }

    /// `device` changed to `state` (`INUSE`…): the QueueMemberStatus events of the members
    /// watching it whose status that changes (app_queue raises none when it stays the same).
    pub(crate) fn device_changed(&self, device: &str, state: &str) -> Vec<SimEvent> {
        let status: u8 = match state {
            "NOT_INUSE" => 1,
            "INUSE" => 2,
            "BUSY" => 3,
            "INVALID" => 4,
            "UNAVAILABLE" => 5,
            "RINGING" => 6,
            "RINGINUSE" => 7,
            "ONHOLD" => 8,
            _ => 0,
        };
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (q, qstates) in self.queues.iter().zip(states.iter_mut()) {
            for (m, st) in q.members.iter().zip(qstates.iter_mut()) {
                if m.state_interface != device || st.status == status {
                    continue;
                }
                st.status = status;
                let (login, penalty) = (self.login_time.to_string(), m.penalty.to_string());
                let status = status.to_string();
                let flag = |b: bool| if b { "1" } else { "0" };
                let h: Vec<(&str, &str)> = vec![
                    ("Queue", &q.name),
                    ("MemberName", &m.name),
                    ("Interface", &m.interface),
                    ("StateInterface", &m.state_interface),
                    ("Membership", "static"),
                    ("Penalty", &penalty),
                    ("CallsTaken", "0"),
                    ("LastCall", "0"),
                    ("LastPause", "0"),
                    ("LoginTime", &login),
                    ("InCall", flag(st.in_call)),
                    ("Status", &status),
                    ("Paused", flag(st.paused)),
                    ("PausedReason", ""),
                    ("Ringinuse", flag(q.ringinuse)),
                    ("Wrapuptime", "0"),
                ];
                out.push(SimEvent::new("QueueMemberStatus", Privileges::AGENT, &h));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_conf() {
        let q = parse_queues(DEFAULT_QUEUES_CONF);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].name, "support");
        assert_eq!(q[0].strategy, "ringall");
        assert!(q[0].ringinuse);
        assert_eq!(
            q[0].members,
            [Member {
                name: "LocalHundred".into(),
                interface: "Local/100@test".into(),
                state_interface: "Local/100@test".into(),
                penalty: 0,
            }]
        );
        assert!(parse_queues("[x\n").is_empty());
        let q = parse_queues("[q]\nringinuse = no\nmember => SIP/1\nmember => ,1\n");
        assert_eq!(q[0].members.len(), 1);
        assert_eq!(q[0].members[0].name, "SIP/1");
        assert!(!q[0].ringinuse);
    }

    #[test]
    fn member_status_follows_its_state_interface() {
        let conf = "[a]\nmember => Local/1@t,2,One,Local/9@t\n[b]\nmember => Local/9@t\n";
        let queues = Queues::new(conf, 7);
        assert_eq!(queues.state(0, 0).status, 1);
        // Its interface is not what is watched: no event, no change.
        assert!(queues.device_changed("Local/1@t", "INUSE").is_empty());
        let events = queues.device_changed("Local/9@t", "INUSE");
        assert_eq!(events.len(), 2);
        assert_eq!(
            (queues.state(0, 0).status, queues.state(1, 0).status),
            (2, 2)
        );
        // The same state again raises nothing.
        assert!(queues.device_changed("Local/9@t", "INUSE").is_empty());
        assert_eq!(queues.state(5, 5).status, 1);
    }
}
