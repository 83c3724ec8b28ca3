//! How an originated pair ends: the hang-up sequences of recordings 07, 08, 09a-c.

use super::*;

/// How a Hangup action (`killed` = the side it named) ends the pair.
pub(super) fn action_ending(killed: u8) -> Ending {
    if killed == 2 {
        Ending::ActionTwo
    } else {
        Ending::ActionOne
    }
}

/// What ends an originated pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ending {
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
pub(super) fn end(
    ev: &mut Raise<'_>,
    channels: &Channels,
    one: &mut Chan,
    two: &mut Chan,
    how: Ending,
) {
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
pub(super) fn cel_view(c: &Chan) -> Chan {
    let mut c = c.clone();
    if c.is_two() {
        c.app = (String::new(), String::new());
    }
    c
}

/// The hang-up sequence of a Local pair: `first` hung up (by the Hangup application if
/// `builtin`), then the other side; recording 09a's order. `outer` for an originated pair,
/// whose last channel to go gets CEL LINKEDID_END. Which side of the pair is destroyed last
/// is a race in Asterisk: the other side (`first_last` false) in recordings 08 and 09a,
/// `first` in 09c's redirected call; the simulator follows them.
pub(super) fn hangup_pair(
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
