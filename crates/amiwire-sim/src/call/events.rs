//! The events of one call: the channel, bridge, CEL and device-state events a call raises through
//! [`Raise`].

use super::*;

impl Raise<'_> {
    pub(super) fn raise(&self, e: SimEvent) {
        let _ = self.bus.send(e);
    }

    /// A channel event: the snapshot of `c`, then `extra`.
    pub(super) fn chan(&self, name: &str, class: Privileges, c: &Chan, extra: &[(&str, &str)]) {
        let mut h = c.snapshot("");
        h.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self.raise(event(name, class, h));
    }

    pub(super) fn newchannel(&self, c: &Chan) {
        self.chan("Newchannel", Privileges::CALL, c, &[]);
    }

    pub(super) fn newstate(&self, c: &Chan) {
        self.chan("Newstate", Privileges::CALL, c, &[]);
    }

    pub(super) fn newexten(&self, c: &Chan, extension: &str) {
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

    pub(super) fn varset(&self, c: &Chan, var: &str, value: &str) {
        self.chan(
            "VarSet",
            Privileges::DIALPLAN,
            c,
            &[("Variable", var), ("Value", value)],
        );
    }

    /// NewCallerid then NewConnectedLine, as a Dial or an Originate's CallerID raises them.
    pub(super) fn caller_id(&self, c: &Chan) {
        self.chan(
            "NewCallerid",
            Privileges::CALL,
            c,
            &[("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")],
        );
        self.chan("NewConnectedLine", Privileges::CALL, c, &[]);
    }

    /// LocalBridge: the two sides of a Local pair, optimisable (as Asterisk 22's default).
    pub(super) fn local_bridge(&self, one: &Chan, two: &Chan, context: &str, exten: &str) {
        let mut h = one.snapshot("LocalOne");
        h.extend(two.snapshot("LocalTwo"));
        h.push(("Context".into(), context.to_owned()));
        h.push(("Exten".into(), exten.to_owned()));
        h.push(("LocalOptimization".into(), "Yes".into()));
        self.raise(event("LocalBridge", Privileges::CALL, h));
    }

    /// A bridge event about channel `c`: the bridge's block with `n` channels in it, then
    /// `c`'s snapshot (BridgeEnter, BridgeLeave).
    pub(super) fn bridge(&self, name: &str, id: &str, n: usize, c: &Chan) {
        let mut h = bridge_block(id, n);
        h.extend(c.snapshot(""));
        self.raise(event(name, Privileges::CALL, h));
    }

    /// The last channel (`c`) leaves the bridge, which is destroyed.
    pub(super) fn bridge_end(&self, id: &str, c: &Chan) {
        self.bridge("BridgeLeave", id, 0, c);
        self.raise(event(
            "BridgeDestroy",
            Privileges::CALL,
            bridge_block(id, 0),
        ));
    }

    /// Hangup with `cause`: 16 (Normal Clearing), or 0 (Unknown) for a channel whose
    /// application just ended.
    pub(super) fn hangup(&self, c: &Chan, cause: u8) {
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

    pub(super) fn hangup_request(&self, name: &str, c: &Chan, cause: u8) {
        self.chan(name, Privileges::CALL, c, &[("Cause", &cause.to_string())]);
    }

    /// A CEL event (cel_manager's layout; class `call`, as cel_manager raises it).
    pub(super) fn cel(&self, name: &str, c: &Chan, peer: &str, extra: &str) {
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
    pub(super) fn cel_gone(&self, c: &Chan, cause: u8, builtin: bool) {
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
    pub(super) fn devstate(&mut self, device: &str, state: &str) {
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
    pub(super) fn devstate_after(&mut self, device: &str, gone: &[&str]) {
        let state = if self.channels.device_in_use(device, gone) {
            "INUSE"
        } else {
            "NOT_INUSE"
        };
        self.devstate(device, state);
    }

    pub(super) fn flush(&mut self) {
        for e in std::mem::take(&mut self.held) {
            self.raise(e);
        }
    }
}

/// A basic bridge's header block (a Dial's).
pub(super) fn bridge_block(id: &str, n: usize) -> Vec<(String, String)> {
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
pub(super) fn new_bridge_id(random: &Random) -> String {
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
