//! HTTP Digest authentication (MD5) as Asterisk does it for `/arawman`, `/amxml` and
//! `/amanager` (main/manager.c `auth_http_callback`, main/http.c `ast_http_auth`): the math
//! (one place, used by the client here and by the simulator's server side), the challenge
//! parser and the client state (nonce, `nc`, `stale`).
//!
//! Asterisk's challenge: `WWW-authenticate: Digest algorithm=MD5, realm="asterisk",
//! nonce="789fb16c", qop="auth", opaque="789fb16c"` (with `, stale=true` when the nonce is
//! older than 62 s, or `nc` did not grow, or an old nonce was used). The answer is
//! `MD5(HA1:nonce:nc:cnonce:auth:HA2)` with `qop`, `MD5(HA1:nonce:HA2)` without (RFC 2069),
//! where `HA1 = MD5(user:realm:secret)` and `HA2 = MD5(method:uri)`.
//!
//! ```
//! use amiwire::ajam::digest::{Challenge, DigestClient};
//! use amiwire::ajam::HttpMethod;
//! use amiwire::Secret;
//!
//! // Recording 11d-http-arawman-digest: the challenge and the first answer curl sent.
//! let c = Challenge::parse(r#"Digest algorithm=MD5, realm="asterisk", nonce="789fb16c", qop="auth", opaque="789fb16c""#)?;
//! let mut client = DigestClient::new("admin", Secret::new("amp111"));
//! client.on_challenge(c);
//! let auth = client.authorization(HttpMethod::Get, "/arawman?action=Ping&ActionID=digest-1", "8295a119e442bd68");
//! assert_eq!(auth.as_deref(), Some(
//!     "Digest username=\"admin\", realm=\"asterisk\", nonce=\"789fb16c\", \
//!      uri=\"/arawman?action=Ping&ActionID=digest-1\", qop=auth, nc=00000001, \
//!      cnonce=\"8295a119e442bd68\", response=\"ab0ca8512e3cc29d6cb44389f4196fe0\", \
//!      algorithm=MD5, opaque=\"789fb16c\""));
//! # Ok::<(), amiwire::ajam::DigestError>(())
//! ```

use std::fmt;

use md5::{Digest as _, Md5};

use super::HttpMethod;
use crate::Secret;

/// `MD5(parts joined by ':')` in lower-case hex.
pub fn md5_hex(parts: &[&[u8]]) -> String {
    let mut h = Md5::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `HA1 = MD5(username:realm:secret)` (Asterisk's `a1_hash` of the user).
pub fn ha1(username: &str, realm: &str, secret: &str) -> String {
    md5_hex(&[username.as_bytes(), realm.as_bytes(), secret.as_bytes()])
}

/// `HA2 = MD5(method:uri)`.
pub fn ha2(method: &str, uri: &str) -> String {
    md5_hex(&[method.as_bytes(), uri.as_bytes()])
}

/// The request digest: with `qop = Some((nc, cnonce))`, `MD5(ha1:nonce:nc:cnonce:auth:ha2)`
/// (RFC 2617, `qop=auth`); without, `MD5(ha1:nonce:ha2)` (RFC 2069). `nc` is written as sent
/// (8 hex digits).
pub fn response(ha1: &str, nonce: &str, qop: Option<(&str, &str)>, ha2: &str) -> String {
    match qop {
        Some((nc, cnonce)) => md5_hex(&[
            ha1.as_bytes(),
            nonce.as_bytes(),
            nc.as_bytes(),
            cnonce.as_bytes(),
            b"auth",
            ha2.as_bytes(),
        ]),
        None => md5_hex(&[ha1.as_bytes(), nonce.as_bytes(), ha2.as_bytes()]),
    }
}

/// Most parameters read from one header (a real one has about ten).
const MAX_PARAMS: usize = 64;

/// The `key=value` parameters of a `WWW-Authenticate` or `Authorization` value, after its
/// scheme word (`Digest`, any case) if there is one: keys lower-cased, values unquoted
/// (`\"` and `\\` inside quotes unescaped; commas inside quotes kept), in order. Garbage gives
/// fewer pairs, never a panic; at most 64 pairs are read.
pub fn parse_params(value: &str) -> Vec<(String, String)> {
    let mut s = value.trim_start();
    if let Some(first) = s.split([' ', '\t']).next() {
        if !first.contains('=') && !first.is_empty() {
            s = &s[first.len()..];
        }
    }
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() && out.len() < MAX_PARAMS {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b',') {
            i += 1;
        }
        let ks = i;
        while i < b.len() && !matches!(b[i], b'=' | b',') {
            i += 1;
        }
        let key = s[ks..i].trim().to_ascii_lowercase();
        if i >= b.len() || b[i] == b',' {
            // A bare token (no value): skip it.
            continue;
        }
        i += 1; // '='
        while i < b.len() && matches!(b[i], b' ' | b'\t') {
            i += 1;
        }
        let val = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = Vec::new();
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                v.push(b[i]);
                i += 1;
            }
            i += 1; // closing quote (or past the end)
            String::from_utf8_lossy(&v).into_owned()
        } else {
            let vs = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            s[vs..i].trim().to_owned()
        };
        if !key.is_empty() {
            out.push((key, val));
        }
    }
    out
}

/// A challenge that cannot be answered: the server's fault (or not Digest at all).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The header's scheme is not `Digest`.
    #[error("WWW-Authenticate is not a Digest challenge")]
    NotDigest,
    /// No `nonce`.
    #[error("Digest challenge without nonce")]
    MissingNonce,
    /// An algorithm other than MD5.
    #[error("unsupported Digest algorithm `{}`", .0.escape_debug())]
    UnsupportedAlgorithm(String),
    /// A qop list without `auth`.
    #[error("Digest challenge without qop=auth (qop=`{}`)", .0.escape_debug())]
    UnsupportedQop(String),
    /// A nonce, realm or opaque with a quote, backslash or control character: it could not be
    /// echoed safely.
    #[error("Digest challenge with a {0} that cannot be echoed")]
    BadValue(&'static str),
    /// The user name holds a quote or a control character, which Digest's quoted `username`
    /// cannot carry to Asterisk (`ast_parse_digest` ends the value at the first quote): the
    /// caller's fault; log in on a cookie path (`/rawman`) instead.
    #[error("the user name has a quote or control character, which HTTP Digest cannot carry")]
    Username,
}

/// A parsed `WWW-Authenticate: Digest …` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The realm (Asterisk: `systemname`, or `asterisk`).
    pub realm: String,
    /// The nonce (Asterisk: 8 hex digits).
    pub nonce: String,
    /// The opaque value, echoed back.
    pub opaque: Option<String>,
    /// Whether `qop` offers `auth` (else the RFC 2069 answer is used).
    pub qop_auth: bool,
    /// `stale=true`: the answer was right but the nonce is old; retry with this one.
    pub stale: bool,
    /// The algorithm named, if any (only MD5 is accepted).
    pub algorithm: Option<String>,
}

impl Challenge {
    /// Parses a `WWW-Authenticate` value (scheme and keys in any case, quoted or not, commas
    /// inside quotes). Never panics.
    pub fn parse(www_authenticate: &str) -> Result<Challenge, DigestError> {
        let v = www_authenticate.trim_start();
        let scheme = v.split([' ', '\t']).next().unwrap_or("");
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::NotDigest);
        }
        let params = parse_params(v);
        let get = |k: &str| {
            params
                .iter()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.as_str())
        };
        let nonce = get("nonce")
            .filter(|n| !n.is_empty())
            .ok_or(DigestError::MissingNonce)?;
        if let Some(a) = get("algorithm") {
            if !a.eq_ignore_ascii_case("MD5") {
                return Err(DigestError::UnsupportedAlgorithm(a.to_owned()));
            }
        }
        let qop_auth = match get("qop") {
            None => false,
            Some(q) => {
                if q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")) {
                    true
                } else {
                    return Err(DigestError::UnsupportedQop(q.to_owned()));
                }
            }
        };
        let echoable = |s: &str| {
            s.bytes()
                .all(|b| !b.is_ascii_control() && b != b'"' && b != b'\\')
        };
        let realm = get("realm").unwrap_or("").to_owned();
        let opaque = get("opaque").map(str::to_owned);
        if !echoable(nonce) {
            return Err(DigestError::BadValue("nonce"));
        }
        if !echoable(&realm) {
            return Err(DigestError::BadValue("realm"));
        }
        if opaque.as_deref().is_some_and(|o| !echoable(o)) {
            return Err(DigestError::BadValue("opaque"));
        }
        Ok(Challenge {
            realm,
            nonce: nonce.to_owned(),
            opaque,
            qop_auth,
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
            algorithm: get("algorithm").map(str::to_owned),
        })
    }
}

/// What to do after a 401.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeOutcome {
    /// Re-issue the request with a new `Authorization` (the first challenge, or `stale=true`).
    Retry,
    /// The credentials were refused: a 401 without `stale` answered an `Authorization` that
    /// used this nonce.
    Failed,
}

/// The client's Digest state: credentials, the current challenge and the nonce count.
#[derive(Clone)]
pub struct DigestClient {
    username: String,
    secret: Secret,
    challenge: Option<Challenge>,
    ha1: String,
    nc: u32,
    /// Whether an `Authorization` was sent with the current challenge and not yet accepted.
    tried: bool,
}

/// HA1 answers any challenge of the realm as the secret would: neither is shown.
impl fmt::Debug for DigestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestClient")
            .field("username", &self.username)
            .field("secret", &self.secret)
            .field("challenge", &self.challenge)
            .field("ha1", &"<redacted>")
            .field("nc", &self.nc)
            .field("tried", &self.tried)
            .finish()
    }
}

impl DigestClient {
    /// Whether the user name can go in a Digest `username="…"`: no quote, no control
    /// character (a backslash is sent escaped, as `ast_unescape_c` reads it).
    /// [`authorization`](Self::authorization) gives `None` otherwise.
    pub fn check_username(&self) -> Result<(), DigestError> {
        if self.username.chars().any(|c| c == '"' || c.is_control()) {
            Err(DigestError::Username)
        } else {
            Ok(())
        }
    }

    /// A client for `username` and `secret` (a user of manager.conf).
    pub fn new(username: impl Into<String>, secret: Secret) -> DigestClient {
        DigestClient {
            username: username.into(),
            secret,
            challenge: None,
            ha1: String::new(),
            nc: 0,
            tried: false,
        }
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Takes the challenge of a 401. `stale=true` (or the first challenge, or one after an
    /// accepted answer) → [`Retry`](ChallengeOutcome::Retry): the new nonce is used, `nc`
    /// restarts at 1 (it goes on counting if the nonce is the one already in use). A 401 without `stale` right after an answer with the previous nonce
    /// means the answer was wrong → [`Failed`](ChallengeOutcome::Failed) (the new challenge is
    /// kept, so a later attempt can still use it).
    pub fn on_challenge(&mut self, c: Challenge) -> ChallengeOutcome {
        let failed = self.tried && !c.stale;
        if self
            .challenge
            .as_ref()
            .is_none_or(|old| old.realm != c.realm)
        {
            self.ha1 = ha1(&self.username, &c.realm, self.secret.expose());
        }
        // The nonce we already use (a stale answer to a request that carried an old one):
        // keep counting, Asterisk remembers the last nc of this nonce.
        let same = self
            .challenge
            .as_ref()
            .is_some_and(|old| old.nonce == c.nonce);
        self.challenge = Some(c);
        if !same {
            self.nc = 0;
        }
        self.tried = false;
        if failed {
            ChallengeOutcome::Failed
        } else {
            ChallengeOutcome::Retry
        }
    }

    /// The last answer was accepted (a 2xx): a later 401 without `stale` is again a first
    /// challenge, not a refusal.
    pub fn on_success(&mut self) {
        self.tried = false;
    }

    /// Whether a challenge is known (so requests can carry `Authorization` up front).
    pub fn has_challenge(&self) -> bool {
        self.challenge.is_some()
    }

    /// The current challenge.
    pub fn challenge(&self) -> Option<&Challenge> {
        self.challenge.as_ref()
    }

    /// The `Authorization` value for a request to `uri` (the request target, query included),
    /// with the next `nc`; `None` before any challenge. The fields come in curl's order (as
    /// recorded against Asterisk): `username, realm, nonce, uri, qop, nc, cnonce, response,
    /// algorithm, opaque`. `cnonce` must be printable ASCII without quotes (a quote or control
    /// character is dropped from it). A `uri`, realm, nonce or opaque with a quote, backslash or
    /// control character is refused (`None`), so the header can never be broken open; so is a
    /// user name that fails [`check_username`](Self::check_username).
    pub fn authorization(&mut self, method: HttpMethod, uri: &str, cnonce: &str) -> Option<String> {
        let c = self.challenge.as_ref()?;
        let bad = |s: &str| {
            s.bytes()
                .any(|b| b.is_ascii_control() || b == b'"' || b == b'\\')
        };
        // The challenge's fields are public: check them again before echoing them.
        if bad(uri) || bad(&c.realm) || bad(&c.nonce) || c.opaque.as_deref().is_some_and(bad) {
            return None;
        }
        self.check_username().ok()?;
        let user = self.username.replace('\\', "\\\\");
        let cnonce: String = cnonce
            .chars()
            .filter(|ch| ch.is_ascii_graphic() && *ch != '"' && *ch != '\\')
            .collect();
        let h2 = ha2(method.as_str(), uri);
        let mut out = format!(
            "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\"",
            c.realm, c.nonce
        );
        if c.qop_auth {
            self.nc = self.nc.wrapping_add(1);
            let nc = format!("{:08x}", self.nc);
            let r = response(&self.ha1, &c.nonce, Some((&nc, &cnonce)), &h2);
            out.push_str(&format!(
                ", qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{r}\""
            ));
        } else {
            let r = response(&self.ha1, &c.nonce, None, &h2);
            out.push_str(&format!(", response=\"{r}\""));
        }
        out.push_str(", algorithm=MD5");
        if let Some(o) = &c.opaque {
            out.push_str(&format!(", opaque=\"{o}\""));
        }
        self.tried = true;
        Some(out)
    }

    /// Forgets the challenge (a new session).
    pub fn reset(&mut self) {
        self.challenge = None;
        self.nc = 0;
        self.tried = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_with_commas_in_quotes_and_garbage() {
        let p = parse_params(
            r#"DIGEST Realm="a, b", NONCE=xyz , qop="auth,auth-int", stale=TRUE, junk, ="x", k="unterminated"#,
        );
        let get = |k: &str| p.iter().find(|(pk, _)| pk == k).map(|(_, v)| v.as_str());
        assert_eq!(get("realm"), Some("a, b"));
        assert_eq!(get("nonce"), Some("xyz"));
        assert_eq!(get("qop"), Some("auth,auth-int"));
        assert_eq!(get("stale"), Some("TRUE"));
        assert_eq!(get("k"), Some("unterminated"));
        for g in [
            "",
            "Digest",
            "Digest =",
            "Digest a=\"",
            "\"\"\"",
            "Digest ,,,,=,=",
            "a=b=c",
        ] {
            let _ = parse_params(g);
            let _ = Challenge::parse(g);
        }
    }

    #[test]
    fn stale_retries_and_a_plain_401_fails() {
        let ch = |n: &str, stale: bool| {
            Challenge::parse(&format!(
                "Digest realm=\"asterisk\", nonce=\"{n}\", qop=\"auth\"{}",
                if stale { ", stale=true" } else { "" }
            ))
            .unwrap()
        };
        let mut c = DigestClient::new("admin", Secret::new("amp111"));
        assert_eq!(c.on_challenge(ch("1", false)), ChallengeOutcome::Retry);
        let a = c
            .authorization(HttpMethod::Get, "/arawman?action=Ping", "c")
            .unwrap();
        assert!(a.contains("nc=00000001"));
        c.on_success();
        assert!(c
            .authorization(HttpMethod::Get, "/x", "c")
            .unwrap()
            .contains("nc=00000002"));
        assert_eq!(c.on_challenge(ch("2", true)), ChallengeOutcome::Retry);
        assert!(c
            .authorization(HttpMethod::Get, "/x", "c")
            .unwrap()
            .contains("nc=00000001"));
        assert_eq!(c.on_challenge(ch("3", false)), ChallengeOutcome::Failed);
        // Told the nonce in use again (a request with an older one): nc goes on.
        c.on_success();
        assert!(c
            .authorization(HttpMethod::Get, "/x", "c")
            .unwrap()
            .contains("nc=00000001"));
        c.on_success();
        assert_eq!(c.on_challenge(ch("3", true)), ChallengeOutcome::Retry);
        assert!(c
            .authorization(HttpMethod::Get, "/x", "c")
            .unwrap()
            .contains("nc=00000002"));
    }

    #[test]
    fn rfc2069_without_qop() {
        let mut c = DigestClient::new("u", Secret::new("s"));
        c.on_challenge(Challenge::parse("Digest realm=\"r\", nonce=\"n\"").unwrap());
        let a = c.authorization(HttpMethod::Post, "/amxml", "c").unwrap();
        let want = response(&ha1("u", "r", "s"), "n", None, &ha2("POST", "/amxml"));
        assert_eq!(
            a,
            format!("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/amxml\", response=\"{want}\", algorithm=MD5")
        );
    }
}
