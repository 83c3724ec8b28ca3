//! Dial to another Local channel: the callee pair, its answer, the bridge, and its end (recording
//! 08).

use super::*;

/// A Dial from the ;2 side of an originated pair (`two`) to another Local pair (`a`, `b`).
pub(super) struct DialCall<'c, F: Fn(bool, Option<&Chan>) -> SimEvent> {
    /// What the ;1 side runs once answered.
    pub(super) one_side: &'c mut OneSide,
    pub(super) dialplan: &'c Dialplan,
    pub(super) one: &'c mut Chan,
    pub(super) two: &'c mut Chan,
    pub(super) a: Chan,
    pub(super) b: Chan,
    pub(super) dial_string: String,
    pub(super) bridge_id: String,
    /// The Originate still waiting for its answer.
    pub(super) originate: &'c mut Option<oneshot::Sender<bool>>,
    pub(super) asynchronous: bool,
    pub(super) response: &'c F,
}

/// How far a Dial has got.
#[derive(Default)]
pub(super) struct DialProgress {
    /// DialBegin raised.
    pub(super) begun: bool,
    /// The callee answered and is bridged with the caller.
    pub(super) bridged: bool,
    pub(super) answered_at: Option<std::time::Instant>,
    /// The callee's dialplan ran Hangup.
    pub(super) builtin: bool,
    /// The callee's side ended the Dial (not a Hangup action or the caller's ;1 side).
    pub(super) by_callee: bool,
    /// How the caller's pair ends, if its ;1 side's application or dialplan ends first.
    pub(super) one_ended: Option<Ending>,
}

impl<F: Fn(bool, Option<&Chan>) -> SimEvent> DialCall<'_, F> {
    pub(super) async fn run(
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
    pub(super) fn start(
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
    pub(super) fn dial_begin(&self) -> SimEvent {
        let mut h = self.two.snapshot("");
        h.extend(self.a.snapshot("Dest"));
        h.push(("DialString".into(), self.dial_string.clone()));
        event("DialBegin", Privileges::CALL, h)
    }

    /// The callee answers: both of its sides up, DIALSTATUS ANSWER, DialEnd, and the caller's
    /// sides up too if they were not.
    pub(super) fn callee_answers(
        &mut self,
        ev: &mut Raise<'_>,
        p: &mut DialProgress,
        answers_first: bool,
    ) {
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
    pub(super) fn bridge(
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
    pub(super) async fn callee_waits(
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
    pub(super) fn callee_hangs_up(
        &mut self,
        ev: &mut Raise<'_>,
        p: &DialProgress,
        ctl: &CallCtl,
    ) -> DialEnd {
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
    pub(super) fn callee_hung_up(
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
