//! The queues of queues.conf, one model for every part of the simulator that shows them: the
//! QueueStatus and QueueSummary lists, GetConfig of queues.conf, and app_queue's
//! QueueMemberStatus events when a member's device state changes.
//!
//! As app_queue does, each member keeps the last device state seen for its state interface;
//! QueueStatus reports that status, and a QueueMemberStatus event is raised when it changes,
//! so the two always agree. Members are paused and unpaused by the QueuePause action.
//! Callers join with the Queue application and wait until they hang up (abandoned) or their
//! time runs out; the simulator rings no member, so no member is ever in a queue call
//! (`InCall: 0`) and no call is completed.

use std::sync::Mutex;

use crate::accounts::Privileges;
use crate::conf::ConfFile;
use crate::wire::SimEvent;

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

/// A member's state as app_queue keeps it (`Status`, `InCall`, `Paused`, `LastPause`,
/// `PausedReason` of QueueStatus's QueueMember and of QueueMemberStatus).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberState {
    /// The last device state seen for its state interface, as app_queue numbers them
    /// (1 not in use, 2 in use, 4 invalid, …).
    pub status: u8,
    /// In a queue call (never: the simulator rings no member).
    pub in_call: bool,
    /// Paused (QueuePause).
    pub paused: bool,
    /// When it was last paused or unpaused (Unix seconds; 0 never).
    pub last_pause: u64,
    /// The reason given when it was paused (empty when unpaused).
    pub paused_reason: String,
}

impl MemberState {
    fn idle() -> MemberState {
        MemberState {
            status: 1,
            in_call: false,
            paused: false,
            last_pause: 0,
            paused_reason: String::new(),
        }
    }

    /// Whether app_queue counts it as logged in (QueueSummary's `LoggedIn`): its device is
    /// neither unavailable nor invalid.
    pub fn logged_in(&self) -> bool {
        self.status != 5 && self.status != 4
    }

    /// Whether it could take a call (`member_status_available`: not in use or unknown) and
    /// is not paused.
    pub fn available(&self) -> bool {
        matches!(self.status, 0 | 1) && !self.paused
    }
}

/// A caller waiting in a queue (app_queue's `queue_ent`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Its channel's name.
    pub channel: String,
    /// Its channel's Uniqueid.
    pub uniqueid: String,
    /// Its caller ID number and name (`<unknown>` when not set).
    pub cid: (String, String),
    /// Its connected line number and name.
    pub connected: (String, String),
    /// When it joined.
    pub joined: std::time::Instant,
    /// Its position when it joined (1 first).
    pub original_position: usize,
}

/// How a caller left a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Left {
    /// Its position when it left.
    pub position: usize,
    /// The callers left after it.
    pub count: usize,
    /// Its position when it joined.
    pub original_position: usize,
    /// How long it waited (seconds).
    pub waited: u64,
}

/// What a QueuePause changed for one member: its QueueMemberPause event and the device
/// states (device, state) app_queue publishes for it.
pub type PauseChange = (SimEvent, Vec<(String, String)>);

/// A QueuePause that found no member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoSuchMember;

/// The queues of a simulator and their members' states.
#[derive(Debug)]
pub struct Queues {
    conf: String,
    queues: Vec<Queue>,
    /// Each member's state, by queue and member index.
    states: Mutex<Vec<Vec<MemberState>>>,
    /// Each queue's callers, in order, and its count of abandoned calls.
    callers: Mutex<Vec<(Vec<Caller>, u32)>>,
    login_time: u64,
}

impl Queues {
    /// The queues of this queues.conf text, every member not in use, logged in at
    /// `login_time` (Unix seconds).
    pub fn new(conf: &str, login_time: u64) -> Queues {
        let queues = parse_queues(conf);
        let states = queues
            .iter()
            .map(|q| vec![MemberState::idle(); q.members.len()])
            .collect();
        let callers = queues.iter().map(|_| (Vec::new(), 0)).collect();
        Queues {
            conf: conf.to_owned(),
            queues,
            states: Mutex::new(states),
            callers: Mutex::new(callers),
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
            .cloned()
            .unwrap_or_else(MemberState::idle)
    }

    /// The index of the queue named `name` (case-insensitive, as app_queue finds queues).
    pub fn index(&self, name: &str) -> Option<usize> {
        self.queues
            .iter()
            .position(|q| q.name.eq_ignore_ascii_case(name))
    }

    /// Whether some member of queue `queue` could take a call (app_queue's `Queue:<q>_avail`
    /// device is NOT_INUSE then, INUSE else).
    pub fn any_available(&self, queue: usize) -> bool {
        let states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        states
            .get(queue)
            .is_some_and(|q| q.iter().any(MemberState::available))
    }

    /// The callers waiting in queue `queue`, first first, and its count of abandoned calls.
    pub fn callers(&self, queue: usize) -> (Vec<Caller>, u32) {
        let callers = self.callers.lock().unwrap_or_else(|e| e.into_inner());
        callers.get(queue).cloned().unwrap_or_default()
    }

    /// A caller joins the end of queue `queue`: its position (the count of callers now);
    /// `None` for no such queue.
    pub fn join(&self, queue: usize, mut caller: Caller) -> Option<usize> {
        let mut callers = self.callers.lock().unwrap_or_else(|e| e.into_inner());
        let (list, _) = callers.get_mut(queue)?;
        list.retain(|c| c.channel != caller.channel);
        caller.original_position = list.len() + 1;
        list.push(caller);
        Some(list.len())
    }

    /// The caller on `channel` leaves queue `queue`, abandoned (it hung up) or not (its time
    /// ran out); `None` if it was not waiting there.
    pub fn leave(&self, queue: usize, channel: &str, abandoned: bool) -> Option<Left> {
        let mut callers = self.callers.lock().unwrap_or_else(|e| e.into_inner());
        let (list, n_abandoned) = callers.get_mut(queue)?;
        let at = list.iter().position(|c| c.channel == channel)?;
        let c = list.remove(at);
        if abandoned {
            *n_abandoned = n_abandoned.saturating_add(1);
        }
        Some(Left {
            position: at + 1,
            count: list.len(),
            original_position: c.original_position,
            waited: c.joined.elapsed().as_secs(),
        })
    }

    /// apps/app_queue.c `set_member_paused` (the QueuePause action): pauses or unpauses the
    /// members whose interface is `interface`, in queue `queue` or (`None`) in every queue,
    /// at `now` (Unix seconds) for `reason`. Returns, per member changed, its QueueMemberPause
    /// event and the device states app_queue publishes (`Queue:<q>_pause_<interface>`, INUSE
    /// when paused, then `Queue:<q>_avail`); `NoSuchMember` if none matched.
    pub fn pause(
        &self,
        queue: Option<&str>,
        interface: &str,
        paused: bool,
        reason: &str,
        now: u64,
    ) -> Result<Vec<PauseChange>, NoSuchMember> {
        let mut out = Vec::new();
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        for (q, qstates) in self.queues.iter().zip(states.iter_mut()) {
            if queue.is_some_and(|n| !q.name.eq_ignore_ascii_case(n)) {
                continue;
            }
            let mut matched = false;
            for (m, st) in q.members.iter().zip(qstates.iter_mut()) {
                if !m.interface.eq_ignore_ascii_case(interface) {
                    continue;
                }
                matched = true;
                st.paused = paused;
                st.last_pause = now;
                st.paused_reason = if paused {
                    reason.to_owned()
                } else {
                    String::new()
                };
                let event = SimEvent::new(
                    "QueueMemberPause",
                    Privileges::AGENT,
                    &pairs(&self.member_headers(q, m, st)),
                );
                out.push((event, Vec::new()));
            }
            if let Some((_, devices)) = out.last_mut().filter(|_| matched) {
                let pause_dev = format!("Queue:{}_pause_{interface}", q.name);
                let state = if paused { "INUSE" } else { "NOT_INUSE" };
                devices.push((pause_dev, state.to_owned()));
                let avail = qstates.iter().any(MemberState::available);
                let state = if avail { "NOT_INUSE" } else { "INUSE" };
                devices.push((format!("Queue:{}_avail", q.name), state.to_owned()));
            }
        }
        if out.is_empty() {
            return Err(NoSuchMember);
        }
        Ok(out)
    }

    /// The headers of a member's QueueMemberStatus and QueueMemberPause events (app_queue's
    /// `queue_member_blob_create`), in recordings 07 and 08's order.
    fn member_headers(&self, q: &Queue, m: &Member, st: &MemberState) -> Vec<(String, String)> {
        let flag = |b: bool| if b { "1" } else { "0" }.to_owned();
        vec![
            ("Queue".into(), q.name.clone()),
            ("MemberName".into(), m.name.clone()),
            ("Interface".into(), m.interface.clone()),
            ("StateInterface".into(), m.state_interface.clone()),
            ("Membership".into(), "static".into()),
            ("Penalty".into(), m.penalty.to_string()),
            ("CallsTaken".into(), "0".into()),
            ("LastCall".into(), "0".into()),
            ("LastPause".into(), st.last_pause.to_string()),
            ("LoginTime".into(), self.login_time.to_string()),
            ("InCall".into(), flag(st.in_call)),
            ("Status".into(), st.status.to_string()),
            ("Paused".into(), flag(st.paused)),
            ("PausedReason".into(), st.paused_reason.clone()),
            ("Ringinuse".into(), flag(q.ringinuse)),
            ("Wrapuptime".into(), "0".into()),
        ]
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
                let h = self.member_headers(q, m, st);
                out.push(SimEvent::new(
                    "QueueMemberStatus",
                    Privileges::AGENT,
                    &pairs(&h),
                ));
            }
        }
        out
    }
}

fn pairs(h: &[(String, String)]) -> Vec<(&str, &str)> {
    h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
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
