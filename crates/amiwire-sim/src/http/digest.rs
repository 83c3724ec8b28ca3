//! HTTP Digest authentication as main/manager.c `auth_http_callback` and main/http.c
//! `ast_http_auth` do it: nonces, the answer check, the sessions of users and nonces.

use super::*;

/// A Digest-authenticated session: Asterisk keys them by user and nonce (its `managerid`),
/// and keeps the last nonce count and the previous nonce (main/manager.c
/// `find_session_by_nonce`, `auth_http_callback`).
pub(super) struct DigestSession {
    pub(super) user: String,
    pub(super) nonce: u64,
    pub(super) oldnonce: u64,
    pub(super) nc: u64,
    pub(super) noncetime: Instant,
    pub(super) last: Instant,
    pub(super) hs: Arc<tokio::sync::Mutex<HttpSession>>,
}

/// Digest sessions kept at most (the oldest idle one goes first); Asterisk forgets them after
/// `httptimeout` idle, as here.
pub(super) const MAX_DIGEST_SESSIONS: usize = 256;

/// HTTP Digest state: the nonces to hand out in 401 answers (the configured ones first, then
/// random ones) and the sessions of Digest-authenticated users.
#[derive(Default)]
pub(crate) struct Digest {
    pub(super) queue: Mutex<std::collections::VecDeque<String>>,
    pub(super) sessions: Mutex<Vec<DigestSession>>,
    /// The simulator's random source, for the nonces after those queued.
    pub(super) random: Arc<crate::wire::Random>,
}

impl Digest {
    pub(crate) fn new(nonces: Vec<String>, random: Arc<crate::wire::Random>) -> Digest {
        Digest {
            queue: Mutex::new(nonces.into()),
            random,
            ..Digest::default()
        }
    }

    /// A new nonce (Asterisk: `ast_random()`).
    pub(super) fn next_nonce(&self) -> u64 {
        let queued = self
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        match queued.and_then(|n| parse_hex(&n)) {
            Some(n) => n,
            // ast_random() is random(): 31 bits.
            None => self.random.next_u64() & 0x7fff_ffff,
        }
    }
}

/// `sscanf("%30lx")`: blanks, an optional `0x`, then hex digits (at most 30 read; the value
/// saturates as strtoul's does).
pub(super) fn parse_hex(s: &str) -> Option<u64> {
    let t = s.trim_start();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .filter(|r| r.starts_with(|c: char| c.is_ascii_hexdigit()))
        .unwrap_or(t);
    let digits: String = t
        .chars()
        .take(30)
        .take_while(char::is_ascii_hexdigit)
        .collect();
    if digits.is_empty() {
        return None;
    }
    Some(u64::from_str_radix(&digits, 16).unwrap_or(u64::MAX))
}

/// The fields of an `Authorization: Digest k=v, k="v"…` header (the core's parser, keys
/// lower-cased; the last of a repeated key wins).
pub(super) fn digest_fields(v: &str) -> HashMap<String, String> {
    let t = v.trim_start();
    let is_digest = t.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("Digest"));
    if !is_digest {
        return HashMap::new();
    }
    amiwire::ajam::digest::parse_params(t).into_iter().collect()
}

/// What an `Authorization: Digest` header earns.
pub(super) enum DigestOutcome {
    /// The session to run the action in.
    Session(Arc<tokio::sync::Mutex<HttpSession>>),
    /// `401` with this nonce (`stale=true` when the session exists but wants a new nonce).
    Unauthorized { nonce: u64, stale: bool },
    /// `403`: the user's ACL refuses the address.
    Forbidden,
}

/// main/manager.c `auth_http_callback`: checks the Digest answer (MD5; with `qop`, RFC 2617
/// with `auth`, else RFC 2069) against the user's secret and the realm `asterisk`, then finds
/// the session of this user and nonce, or makes one. A known session wants `nc` above the
/// last one it accepted (a replay gets a new nonce, `stale=true`) and a nonce younger than
/// 62 s; a request with a session's previous nonce is told its current one (`stale=true`).
/// As in Asterisk, the first request of a new session does not record its `nc`, and a nonce
/// the server never issued is accepted if the answer is right.
pub(super) fn check_digest(
    shared: &Arc<Shared>,
    digest: &Digest,
    events: &broadcast::Sender<SimEvent>,
    method: &str,
    auth: Option<&str>,
    peer: SocketAddr,
    local: SocketAddr,
) -> DigestOutcome {
    let fresh = || DigestOutcome::Unauthorized {
        nonce: digest.next_nonce(),
        stale: false,
    };
    let Some(auth) = auth.filter(|a| !a.trim().is_empty()) else {
        return fresh();
    };
    let f = digest_fields(auth);
    let (Some(user), Some(nonce_text)) = (f.get("username"), f.get("nonce")) else {
        return fresh();
    };
    if !f.contains_key("uri") || !f.contains_key("response") {
        return fresh();
    }
    if f.contains_key("qop") && (!f.contains_key("nc") || !f.contains_key("cnonce")) {
        return fresh();
    }
    let Some(nonce) = parse_hex(nonce_text) else {
        return fresh();
    };
    let Some(account) = shared.accounts.get(user) else {
        return fresh();
    };
    if !account.permits(peer.ip()) {
        return DigestOutcome::Forbidden;
    }
    if !digest_answer_ok(&f, account, method, nonce) {
        return fresh();
    }
    let mut sessions = digest.sessions.lock().unwrap_or_else(|e| e.into_inner());
    sessions.retain(|s| s.last.elapsed() < shared.http_timeout);
    let now = Instant::now();
    let found = sessions.iter_mut().find_map(|s| {
        if !s.user.eq_ignore_ascii_case(user) {
            None
        } else if s.nonce == nonce {
            Some((s, false))
        } else if s.oldnonce == nonce {
            Some((s, true))
        } else {
            None
        }
    });
    match found {
        Some((s, true)) => DigestOutcome::Unauthorized {
            nonce: s.nonce,
            stale: true,
        },
        Some((s, false)) => next_request(s, digest, f.get("nc"), now),
        None => {
            let hs = new_digest_session(&mut sessions, shared, events, account, (peer, local), now);
            sessions.push(DigestSession {
                user: account.username.clone(),
                nonce,
                oldnonce: 0,
                nc: 0,
                noncetime: now,
                last: now,
                hs: hs.clone(),
            });
            DigestOutcome::Session(hs)
        }
    }
}

/// Whether the Digest answer is right: MD5 of the user's secret in realm `asterisk` (with
/// `qop`, RFC 2617 with `auth`; else RFC 2069), compared as
/// `strncasecmp(response, expected, 32)`.
pub(super) fn digest_answer_ok(
    f: &HashMap<String, String>,
    account: &crate::accounts::Account,
    method: &str,
    nonce: u64,
) -> bool {
    let (Some(uri), Some(response)) = (f.get("uri"), f.get("response")) else {
        return false;
    };
    let qop = f.contains_key("qop");
    let (nc_text, cnonce) = (f.get("nc"), f.get("cnonce"));
    let Some(secret) = account.secret.as_deref() else {
        return false;
    };
    use amiwire::ajam::digest::{ha1, ha2, response as digest_response};
    let ha1 = ha1(&account.username, "asterisk", secret);
    let ha2 = ha2(method, uri);
    let nonce_hex = format!("{nonce:08x}");
    let want = if qop {
        digest_response(
            &ha1,
            &nonce_hex,
            Some((
                nc_text.map(String::as_str).unwrap_or(""),
                cnonce.map(String::as_str).unwrap_or(""),
            )),
            &ha2,
        )
    } else {
        digest_response(&ha1, &nonce_hex, None, &ha2)
    };
    response
        .get(..want.len())
        .is_some_and(|r| r.eq_ignore_ascii_case(&want))
}

/// A request of a known Digest session with its current nonce: `nc` must grow and the nonce
/// be younger than 62 s, else a new nonce (`stale=true`).
pub(super) fn next_request(
    s: &mut DigestSession,
    digest: &Digest,
    nc_text: Option<&String>,
    now: Instant,
) -> DigestOutcome {
    // Without qop there is no nc (Asterisk then reads an uninitialised variable); the
    // simulator does not count such requests.
    let nc = match nc_text {
        Some(t) => parse_hex(t).unwrap_or(0),
        None => s.nc.saturating_add(1),
    };
    if s.nc >= nc || now.duration_since(s.noncetime).as_secs() > 62 {
        s.nc = 0;
        s.oldnonce = s.nonce;
        s.nonce = digest.next_nonce();
        s.noncetime = now;
        return DigestOutcome::Unauthorized {
            nonce: s.nonce,
            stale: true,
        };
    }
    s.nc = nc;
    s.last = now;
    DigestOutcome::Session(s.hs.clone())
}

/// A new Digest session, logged in as the account (the least recently used one is
/// forgotten when there are `MAX_DIGEST_SESSIONS`).
pub(super) fn new_digest_session(
    sessions: &mut Vec<DigestSession>,
    shared: &Arc<Shared>,
    events: &broadcast::Sender<SimEvent>,
    account: &crate::accounts::Account,
    (peer, local): (SocketAddr, SocketAddr),
    now: Instant,
) -> Arc<tokio::sync::Mutex<HttpSession>> {
    if sessions.len() >= MAX_DIGEST_SESSIONS {
        if let Some(i) = sessions
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| s.last)
            .map(|(i, _)| i)
        {
            sessions.remove(i);
        }
    }
    let mut session = Session::new(shared.clone(), peer, local);
    session.set_http();
    session.authenticate(&account.username);
    Arc::new(tokio::sync::Mutex::new(HttpSession {
        session,
        rx: Some(events.subscribe()),
        last: now,
        waiter: 0,
    }))
}

pub(super) const UNAUTHORIZED: &str =
    "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\r\n<html><head>\r\n\
<title>401 Unauthorized</title>\r\n</head><body>\r\n<h1>Unauthorized</h1>\r\n<p></p>\r\n<hr />\r\n\
<address>Asterisk/22.10.1</address>\r\n</body></html>\r\n";

/// main/http.c `ast_http_auth`: the challenge (nonce and opaque alike, `%08lx`), with
/// `, stale=true` when asked.
pub(super) async fn unauthorized(stream: &mut TcpStream, nonce: u64, stale: bool) {
    let body = UNAUTHORIZED.as_bytes();
    let stale = if stale { ", stale=true" } else { "" };
    let head = format!(
        "HTTP/1.1 401 Unauthorized\r\nServer: Asterisk/22.10.1\r\nDate: {}\r\nConnection: close\r\n\
         Cache-Control: no-cache, no-store\r\nWWW-authenticate: Digest algorithm=MD5, realm=\"asterisk\", \
         nonce=\"{nonce:08x}\", qop=\"auth\", opaque=\"{nonce:08x}\"{stale}\r\nContent-type: text/html\r\n\
         Content-Length: {}\r\n\r\n",
        http_date(SystemTime::now()),
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}
