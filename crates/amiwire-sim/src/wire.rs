//! The bottom layer: what goes on the wire and the helpers every layer above shares. An
//! event as the simulator raises it ([`SimEvent`]), a response in Asterisk's header order
//! ([`Out`], [`error`]), the Originate answer, and the date formats of CoreStatus, Cdr and
//! the security events.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::accounts::Privileges;

/// An event as the simulator raises it: its class and its text without the trailing blank
/// line, ready to be written to every session whose mask and filters let it through.
#[derive(Clone, Debug)]
pub struct SimEvent {
    /// The event name.
    pub name: String,
    /// Its class (`EVENT_FLAG_*`).
    pub class: Privileges,
    /// `Event: …\r\nPrivilege: …\r\n…\r\n\r\n`.
    pub text: Arc<Vec<u8>>,
}

impl SimEvent {
    /// Builds an event: `Event`, `Privilege` (as Asterisk's `authority_to_str` writes it, e.g.
    /// `call,all`), then the headers.
    pub fn new(name: &str, class: Privileges, headers: &[(&str, &str)]) -> SimEvent {
        let mut t = String::new();
        let _ = write!(t, "Event: {name}\r\nPrivilege: {class}\r\n");
        for (k, v) in headers {
            let _ = write!(t, "{k}: {v}\r\n");
        }
        t.push_str("\r\n");
        SimEvent {
            name: name.to_owned(),
            class,
            text: Arc::new(t.into_bytes()),
        }
    }
}

/// Writes a response in Asterisk's header order: `Response`, `ActionID` (if the action had
/// one), then the rest.
pub(crate) struct Out {
    text: String,
}

impl Out {
    pub(crate) fn response(kind: &str, id: Option<&str>) -> Out {
        let mut text = format!("Response: {kind}\r\n");
        if let Some(id) = id {
            let _ = write!(text, "ActionID: {id}\r\n");
        }
        Out { text }
    }

    pub(crate) fn h(mut self, k: &str, v: impl std::fmt::Display) -> Out {
        let _ = write!(self.text, "{k}: {v}\r\n");
        self
    }

    pub(crate) fn done(mut self) -> Vec<u8> {
        self.text.push_str("\r\n");
        self.text.into_bytes()
    }
}

pub(crate) fn error(id: Option<&str>, message: &str) -> Vec<u8> {
    Out::response("Error", id).h("Message", message).done()
}

/// The answer to an Originate: queued (async, or sync and answered) or failed.
pub fn originate_reply(id: Option<&str>, ok: bool) -> Vec<u8> {
    if ok {
        Out::response("Success", id)
            .h("Message", "Originate successfully queued")
            .done()
    } else {
        error(id, "Originate failed")
    }
}

/// Seconds since the epoch, now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// A security event time stamp: `2026-11-23T17:07:30.181+0000`.
pub(crate) fn event_tv(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (date, time) = civil(d.as_secs());
    format!("{date}T{time}.{:03}+0000", d.subsec_millis())
}

/// `1 second`, `2 seconds`.
pub(crate) fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// UTC date and time of a Unix time, as CoreStatus prints them (`2026-11-23`, `17:07:01`).
pub(crate) fn civil(secs: u64) -> (String, String) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

/// A CallerID part as CEL writes it: empty when unknown.
pub(crate) fn known(v: &str) -> &str {
    if v == "<unknown>" {
        ""
    } else {
        v
    }
}

/// The simulator's one random source ([`crate::server::SimConfig::seed`]): MD5 challenges,
/// Digest nonces, HTTP session cookies, bridge ids and `${RAND()}` all draw from it.
/// splitmix64 over an atomic counter, so every task draws from it without a lock; a seeded
/// one gives the same numbers in the same order of draws.
#[derive(Debug)]
pub(crate) struct Random {
    state: std::sync::atomic::AtomicU64,
}

impl Random {
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

    /// Seeded with `seed`, or from the clock and the process's hash keys.
    pub(crate) fn new(seed: Option<u64>) -> Random {
        let seed = seed.unwrap_or_else(|| {
            use std::hash::BuildHasher;
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos() as u64;
            std::collections::hash_map::RandomState::new().hash_one(nanos)
        });
        Random {
            state: std::sync::atomic::AtomicU64::new(seed),
        }
    }

    /// The next number.
    pub(crate) fn next_u64(&self) -> u64 {
        let mut x = self
            .state
            .fetch_add(Self::GAMMA, std::sync::atomic::Ordering::Relaxed)
            .wrapping_add(Self::GAMMA);
        // splitmix64's finaliser.
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }
}

impl Default for Random {
    fn default() -> Random {
        Random::new(None)
    }
}

#[cfg(test)]
mod tests {
    use super::civil;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), ("1970-01-01".into(), "00:00:00".into()));
        // 2026-11-23 17:07:01 UTC, the corpus's CoreStartup.
        assert_eq!(
            civil(1_795_453_621),
            ("2026-11-23".into(), "17:07:01".into())
        );
    }
}
