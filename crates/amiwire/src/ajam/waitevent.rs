//! The `WaitEvent` long poll: over HTTP, events reach a session only as the answer to
//! `Action: WaitEvent` (main/manager.c `action_waitevent_http`).
//!
//! What Asterisk does with it:
//! - the `Timeout` is capped at `sessiontimeout − now − 10 s` (at least 0), so the answer
//!   comes 10 s before the session would expire; a missing or negative `Timeout` means that
//!   cap. [`wait_event_timeout`] computes the same value on the client's side.
//! - it returns as soon as at least one event is queued (it checks once a second), or at the
//!   timeout, with `Response: Success` / `Message: Waiting for Event completed.`, the events,
//!   then `Event: WaitEventComplete` (with the ActionID, if any).
//! - **one waiter per session**: a second WaitEvent on the same session signals the first one,
//!   which sees that it is no longer the session's waiter and returns **an empty body** (no
//!   ack, no terminator, "Abandoning event request"); its events stay queued for the new one.
//!   So a client keeps one WaitEvent in flight and treats an empty answer as "replaced".
//! - a session that never asked for events gets `send_events = readperm` on its first
//!   WaitEvent.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use amiwire::ajam::{decode_rawman, split_wait_event, wait_event_timeout, BodyLimits};
//!
//! let now = Instant::now();
//! // A session that expires in 60 s gets at most 50 s.
//! assert_eq!(wait_event_timeout(now + Duration::from_secs(60), now, Duration::from_secs(300)), 50);
//!
//! let body = b"Response: Success\r\nActionID: we\r\nMessage: Waiting for Event completed.\r\n\r\n\
//! Event: Newchannel\r\nChannel: Local/100@test-00000001;1\r\n\r\n\
//! Event: WaitEventComplete\r\nActionID: we\r\n\r\n";
//! let events = split_wait_event(decode_rawman(body, &BodyLimits::default())?)?;
//! assert_eq!(events.len(), 1);
//! assert_eq!(events[0].get_str("Event"), Some("Newchannel"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::{Duration, Instant};

use crate::{Action, ActionId, Message, MessageKind};

/// How long before the session's expiry Asterisk ends a WaitEvent.
pub const WAIT_EVENT_MARGIN: Duration = Duration::from_secs(10);

/// The `Timeout` to send: `wanted`, capped as Asterisk caps it (`expires_at − now − 10 s`),
/// in whole seconds (rounded down), at least 0. With `0` Asterisk answers at once (with what
/// is queued), so a caller whose session is about to expire should refresh it first.
pub fn wait_event_timeout(expires_at: Instant, now: Instant, wanted: Duration) -> u32 {
    let left = expires_at
        .saturating_duration_since(now)
        .saturating_sub(WAIT_EVENT_MARGIN);
    let secs = left.min(wanted).as_secs();
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// `Action: WaitEvent` with `Timeout: <secs>` and the ActionID, if one is given.
pub fn wait_event_action(timeout_secs: u32, id: Option<&ActionId>) -> Action {
    let mut a = Action::new("WaitEvent");
    if let Some(id) = id {
        a.set_action_id(id);
    }
    a.header("Timeout", timeout_secs.to_string())
}

/// A WaitEvent answer that is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WaitEventError {
    /// The answer is an error (`Permission denied` when the session expired: see
    /// [`is_session_expired`](super::is_session_expired)); the message is here.
    #[error("WaitEvent refused: {}", .0.get_str("Message").unwrap_or("no message"))]
    Refused(Message),
    /// The first message is neither the ack nor an event.
    #[error("WaitEvent answer without its ack")]
    Unexpected,
}

/// The events of a decoded WaitEvent body, in order, without the ack (`Response: Success`,
/// `Message: Waiting for Event completed.`) and the `WaitEventComplete` terminator. An empty
/// body (the WaitEvent was replaced by a newer one) gives no events. A body whose first
/// message is an error response gives [`WaitEventError::Refused`].
pub fn split_wait_event(msgs: Vec<Message>) -> Result<Vec<Message>, WaitEventError> {
    let mut it = msgs.into_iter().peekable();
    match it.peek() {
        None => return Ok(Vec::new()),
        Some(first) if first.kind() == MessageKind::Response => {
            let ok = first
                .get("Response")
                .is_some_and(|r| r.eq_ignore_ascii_case(b"Success"));
            if !ok {
                return Err(WaitEventError::Refused(it.next().expect("peeked")));
            }
            it.next();
        }
        Some(first) if first.kind() == MessageKind::Event => {}
        Some(_) => return Err(WaitEventError::Unexpected),
    }
    Ok(it
        .filter(|m| !m.as_ref().is_event("WaitEventComplete"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ajam::{decode_rawman, BodyLimits};

    #[test]
    fn timeout_cap() {
        let t = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(wait_event_timeout(t + s(60), t, s(30)), 30);
        assert_eq!(wait_event_timeout(t + s(15), t, s(30)), 5);
        assert_eq!(wait_event_timeout(t + s(5), t, s(30)), 0);
        assert_eq!(wait_event_timeout(t, t + s(100), s(30)), 0);
        assert_eq!(
            wait_event_timeout(t + Duration::from_millis(20_999), t, s(30)),
            10
        );
    }

    #[test]
    fn refused_and_empty() {
        let l = BodyLimits::default();
        let m =
            decode_rawman(b"Response: Error\r\nMessage: Permission denied\r\n\r\n", &l).unwrap();
        assert!(matches!(
            split_wait_event(m),
            Err(WaitEventError::Refused(_))
        ));
        assert_eq!(split_wait_event(Vec::new()), Ok(Vec::new()));
        assert_eq!(
            wait_event_action(5, Some(&ActionId::new("we").unwrap()))
                .to_bytes()
                .unwrap(),
            b"Action: WaitEvent\r\nActionID: we\r\nTimeout: 5\r\n\r\n"
        );
    }
}
