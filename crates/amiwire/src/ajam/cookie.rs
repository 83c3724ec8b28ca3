//! The `mansession_id` cookie session of `/rawman`, `/mxml` and `/manager`.
//!
//! Every answer sets `Set-Cookie: mansession_id="8a100a0e"; Version=1; Max-Age=60`
//! (main/manager.c `generic_http_callback`); the client sends `Cookie: mansession_id="…"`
//! back. The session lives `httptimeout` seconds (the `Max-Age`, 60 by default) after the
//! end of its last request once logged in, but only **5 s** before the login
//! ([`PRE_LOGIN_LIFETIME`], manager.c:8617: `sessiontimeout = now + (authenticated ?
//! httptimeout : 5)`), although the cookie's `Max-Age` always says `httptimeout`. Asterisk
//! then forgets it, and a request with the old cookie lands in a new, unauthenticated session:
//! the answer is `Response: Error` / `Message: Permission denied` ([`is_session_expired`]).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use amiwire::ajam::CookieSession;
//!
//! let t0 = Instant::now();
//! let mut s = CookieSession::new();
//! s.on_response(&[("Set-Cookie", &b"mansession_id=\"8a100a0e\"; Version=1; Max-Age=60"[..])], t0);
//! assert_eq!(s.cookie_header().as_deref(), Some("mansession_id=\"8a100a0e\""));
//! assert_eq!(s.expires_at(), Some(t0 + Duration::from_secs(5))); // not logged in yet
//! s.set_logged_in(true, t0);
//! assert_eq!(s.expires_at(), Some(t0 + Duration::from_secs(60)));
//! assert!(s.is_expired(t0 + Duration::from_secs(60)));
//! ```

use std::fmt;
use std::time::{Duration, Instant};

use crate::MessageRef;

/// How long Asterisk keeps a session that has not logged in yet, after each request.
pub const PRE_LOGIN_LIFETIME: Duration = Duration::from_secs(5);

/// Asterisk's default `httptimeout`, used until a `Max-Age` is seen.
const DEFAULT_HTTPTIMEOUT: Duration = Duration::from_secs(60);

/// Longest session id kept (Asterisk's are 8 hex digits).
const MAX_ID_LEN: usize = 256;

/// A parsed `Set-Cookie` header for `mansession_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetCookie {
    /// The session id, without quotes (`8a100a0e`).
    pub id: String,
    /// `Max-Age` in seconds, if given (Asterisk's `httptimeout`).
    pub max_age: Option<u64>,
}

impl SetCookie {
    /// Parses a `Set-Cookie` value; `None` if it is not a `mansession_id` cookie or its value
    /// is empty, too long, or holds characters a cookie value cannot hold (quotes, `;`,
    /// controls, spaces, non-ASCII) so that it can never inject into a `Cookie` header.
    pub fn parse(value: &str) -> Option<SetCookie> {
        let mut parts = value.split(';');
        let (name, val) = parts.next()?.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("mansession_id") {
            return None;
        }
        let v = val.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        if v.is_empty()
            || v.len() > MAX_ID_LEN
            || !v
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b';' | b',' | b'\\'))
        {
            return None;
        }
        let max_age = parts.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            if k.trim().eq_ignore_ascii_case("Max-Age") {
                v.trim().trim_matches('"').parse::<u64>().ok()
            } else {
                None
            }
        });
        Some(SetCookie {
            id: v.to_owned(),
            max_age,
        })
    }
}

/// `t + d`, for any `d` a server or a setting gives (a `Max-Age` of 2^63 s, `Duration::MAX`):
/// past what the clock can hold, a year, and past that `t` itself, never a panic.
pub(crate) fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(366 * 86_400)))
        .unwrap_or(t)
}

/// The client's side of a cookie session: the id, whether it is logged in, and when Asterisk
/// forgets it. No clock is read: each call gets `now`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CookieSession {
    id: Option<String>,
    httptimeout: Option<Duration>,
    logged_in: bool,
    last: Option<Instant>,
}

/// The id is the session's bearer token: shown as `<redacted>`.
impl fmt::Debug for CookieSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieSession")
            .field("id", &self.id.as_ref().map(|_| "<redacted>"))
            .field("httptimeout", &self.httptimeout)
            .field("logged_in", &self.logged_in)
            .field("last", &self.last)
            .finish()
    }
}

impl CookieSession {
    /// No session yet.
    pub fn new() -> CookieSession {
        CookieSession::default()
    }

    /// Reads the `Set-Cookie` headers of an answer (any case) and notes that the session was
    /// used at `now` (Asterisk restarts its lifetime at the end of each request). A new id
    /// replaces the old one (and then the session is a new one: not logged in).
    pub fn on_response(&mut self, headers: &[(&str, &[u8])], now: Instant) {
        for (k, v) in headers {
            if !k.eq_ignore_ascii_case("Set-Cookie") {
                continue;
            }
            let Some(c) = std::str::from_utf8(v).ok().and_then(SetCookie::parse) else {
                continue;
            };
            if self.id.as_deref() != Some(c.id.as_str()) {
                if self.id.is_some() {
                    self.logged_in = false;
                }
                self.id = Some(c.id);
            }
            if let Some(s) = c.max_age {
                self.httptimeout = Some(Duration::from_secs(s));
            }
        }
        if self.id.is_some() {
            self.last = Some(now);
        }
    }

    /// Notes the login's outcome (the answer to `Login` at `now`).
    pub fn set_logged_in(&mut self, yes: bool, now: Instant) {
        self.logged_in = yes;
        if self.id.is_some() {
            self.last = Some(now);
        }
    }

    /// Whether the session logged in.
    pub fn is_logged_in(&self) -> bool {
        self.logged_in
    }

    /// The session id, once the server gave one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The value of the `Cookie` header to send: `mansession_id="8a100a0e"`.
    pub fn cookie_header(&self) -> Option<String> {
        self.id.as_ref().map(|id| format!("mansession_id=\"{id}\""))
    }

    /// The session's lifetime now: `httptimeout` (the `Max-Age`, 60 s until one is seen)
    /// once logged in, else 5 s (or `httptimeout` if that is shorter, as in Asterisk).
    pub fn lifetime(&self) -> Duration {
        let http = self.httptimeout.unwrap_or(DEFAULT_HTTPTIMEOUT);
        if self.logged_in {
            http
        } else {
            http.min(PRE_LOGIN_LIFETIME)
        }
    }

    /// When Asterisk forgets the session unless another request is made: the last answer plus
    /// [`lifetime`](Self::lifetime). `None` before the first cookie.
    pub fn expires_at(&self) -> Option<Instant> {
        self.last.map(|t| later(t, self.lifetime()))
    }

    /// Whether the session is gone at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at().is_some_and(|t| now >= t)
    }

    /// The `Max-Age` last seen (Asterisk's `httptimeout`).
    pub fn httptimeout(&self) -> Option<Duration> {
        self.httptimeout
    }

    /// Forgets the session (after a Logoff, or to start over).
    pub fn clear(&mut self) {
        *self = CookieSession::default();
    }
}

/// Whether `msg` is what Asterisk answers to an action in a session that is not (or no longer)
/// logged in: `Response: Error` with `Message: Permission denied` (manager.c `process_message`:
/// any action but Login, Challenge and a few others, before authentication). Over HTTP with a
/// cookie this is how an expired session shows: the old cookie maps to no session, so the
/// request ran in a new one. A user who lacks the action's privilege gets the same text over
/// TCP and HTTP alike, so a caller tells them apart by the session's
/// [`expires_at`](CookieSession::expires_at) or by logging in again once.
pub fn is_session_expired(msg: &MessageRef<'_>) -> bool {
    msg.response()
        .is_some_and(|r| r.eq_ignore_ascii_case(b"Error"))
        && msg
            .get("Message")
            .is_some_and(|m| m.eq_ignore_ascii_case(b"Permission denied"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_cookie_parsing() {
        let c = SetCookie::parse("mansession_id=\"8a100a0e\"; Version=1; Max-Age=60").unwrap();
        assert_eq!(c.id, "8a100a0e");
        assert_eq!(c.max_age, Some(60));
        assert_eq!(SetCookie::parse("other=1; Max-Age=3"), None);
        assert_eq!(SetCookie::parse("mansession_id=\"a\r\nb\""), None);
        assert_eq!(SetCookie::parse("mansession_id=\"\""), None);
        assert_eq!(SetCookie::parse("MANSESSION_ID=abc").unwrap().max_age, None);
        assert_eq!(SetCookie::parse(""), None);
    }

    #[test]
    fn new_id_means_new_session() {
        let t = Instant::now();
        let mut s = CookieSession::new();
        s.on_response(&[("set-cookie", b"mansession_id=\"1\"; Max-Age=30")], t);
        s.set_logged_in(true, t);
        assert_eq!(s.expires_at(), Some(t + Duration::from_secs(30)));
        s.on_response(&[("Set-Cookie", b"mansession_id=\"2\"; Max-Age=30")], t);
        assert!(!s.is_logged_in());
        assert_eq!(s.expires_at(), Some(t + Duration::from_secs(5)));
    }
}
