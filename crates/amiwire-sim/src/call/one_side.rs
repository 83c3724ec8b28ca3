//! What the ;1 side of an originated pair runs once answered: the Originate's application or the
//! dialplan at its Context/Exten.

use super::*;

/// What the ;1 side of an originated pair runs once it is answered: the Originate's
/// application, or (an Originate to Context/Exten) the dialplan there, as Asterisk's pbx runs
/// it on the originated channel (`ast_pbx_run` at the given context, extension and
/// priority), whether the ;2 side runs a Wait or a Dial meanwhile.
pub(super) struct OneSide {
    pub(super) target: Target,
    /// Started (the ;1 side is up and runs its application or dialplan).
    pub(super) started: bool,
    /// The dialplan steps still to run (Context/Exten).
    pub(super) steps: std::collections::VecDeque<crate::dialplan::Step>,
    /// When its current application (a Wait) ends; `None` while it has no end.
    pub(super) until: Option<tokio::time::Instant>,
    /// The application and data it runs, as CoreShowChannels shows them.
    pub(super) shown: (String, String),
}

impl OneSide {
    pub(super) fn new(target: &Target) -> OneSide {
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
    pub(super) fn start(
        &mut self,
        ev: &Raise<'_>,
        one: &mut Chan,
        dialplan: &Dialplan,
    ) -> Option<Ending> {
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
    pub(super) fn deadline(&self) -> Option<tokio::time::Instant> {
        self.until
    }

    /// Its Wait has ended: the application returns (`Ending::App`), or the dialplan goes on
    /// (`Some` if it ends).
    pub(super) fn expired(&mut self, ev: &Raise<'_>, one: &mut Chan) -> Option<Ending> {
        self.until = None;
        match self.target {
            Target::App { .. } => Some(Ending::App),
            Target::Exten { .. } => self.advance(ev, one),
        }
    }

    /// Runs dialplan steps up to the next Wait (`None`), a Hangup or the last step (`Some`).
    pub(super) fn advance(&mut self, ev: &Raise<'_>, one: &mut Chan) -> Option<Ending> {
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
pub(super) fn wait_time(app: &str, data: &str) -> Option<Duration> {
    if !app.eq_ignore_ascii_case("wait") {
        return None;
    }
    data.trim().parse::<f64>().ok().map(seconds)
}

/// A Wait's argument as a duration: 0 if it is not a number, at most a day.
pub(super) fn wait_arg(arg: Option<&String>) -> Duration {
    seconds(arg.and_then(|a| a.trim().parse().ok()).unwrap_or(0.0))
}

pub(super) fn seconds(secs: f64) -> Duration {
    if secs.is_nan() {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(secs.clamp(0.0, 86_400.0))
}
