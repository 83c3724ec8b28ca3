//! The AJAM bridge wired to a real `Connection`, answered with the HTTP responses Asterisk 22
//! gave in recordings 11a (/rawman), 11b (/mxml) and 11d (Digest). Where a recording has no
//! answer for a step (a Login over /arawman, a stale nonce), the test says what it made up
//! and from which source line of main/manager.c or main/http.c.

use std::time::{Duration, Instant};

use amiwire::ajam::digest::{ha1, ha2, response};
use amiwire::ajam::{
    Bridge, BridgeConfig, BridgeError, DigestError, Endpoint, EofReason, HttpMethod, HttpRequest,
    RequestId, RequestKind,
};
use amiwire::{
    Action, ActionError, ActionIdGenerator, CloseReason, Connection, ConnectionConfig, Credentials,
    Output,
};

const RAWMAN_S: &[u8] = include_bytes!("data/11a-http-rawman.server.bin");
const MXML_S: &[u8] = include_bytes!("data/11b-http-mxml.server.bin");
const DIGEST_S: &[u8] = include_bytes!("data/11d-http-arawman-digest.server.bin");

/// A recorded response: status, headers, body.
struct Resp {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| std::str::from_utf8(v).unwrap())
    }
}

fn responses(mut s: &[u8]) -> Vec<Resp> {
    let mut out = Vec::new();
    while !s.is_empty() {
        let end = s.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = std::str::from_utf8(&s[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, Vec<u8>)> = lines
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap();
                (k.to_owned(), v.trim().as_bytes().to_vec())
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
            .map_or(0, |(_, v)| std::str::from_utf8(v).unwrap().parse().unwrap());
        out.push(Resp {
            status,
            headers,
            body: s[end + 4..end + 4 + len].to_vec(),
        });
        s = &s[end + 4 + len..];
    }
    out
}

fn made_up(status: u16, headers: &[(&str, &str)], body: &str) -> Resp {
    Resp {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

/// A Connection and a Bridge, moved along like a transport would.
struct Harness {
    conn: Connection,
    bridge: Bridge,
    now: Instant,
    seen: Vec<String>,
    requests: Vec<(RequestId, HttpRequest)>,
}

impl Harness {
    fn new(endpoint: &str, secret: &str, events: bool) -> Harness {
        Harness::with("admin", endpoint, secret, events, |_| {})
    }

    /// [`new`](Self::new) for `user`, with the bridge's settings changed by `set`.
    fn with(
        user: &str,
        endpoint: &str,
        secret: &str,
        events: bool,
        set: impl FnOnce(&mut BridgeConfig),
    ) -> Harness {
        let now = Instant::now();
        let mut cfg = ConnectionConfig::new(Credentials::plain(user, secret));
        cfg.action_ids = ActionIdGenerator::with_prefix("t").unwrap();
        let mut bcfg = BridgeConfig::new(Endpoint::parse(endpoint).unwrap(), "127.0.0.1:8088");
        bcfg.events = events;
        bcfg.method = HttpMethod::Get;
        bcfg.cnonce_seed = 7;
        set(&mut bcfg);
        Harness {
            conn: Connection::new(cfg, now),
            bridge: Bridge::new(bcfg, now),
            now,
            seen: Vec::new(),
            requests: Vec::new(),
        }
    }

    /// Moves bytes both ways until nothing moves; collects outputs and new requests.
    fn pump(&mut self) {
        let mut buf = Vec::new();
        for _ in 0..100 {
            let mut moved = false;
            buf.clear();
            if self.bridge.poll_receive(&mut buf) > 0 {
                moved = true;
                let mut rest = &buf[..];
                while !rest.is_empty() {
                    let n = self.conn.receive(rest);
                    rest = &rest[n..];
                    self.drain();
                }
            }
            if self.bridge.is_eof() && !self.conn.is_closed() {
                self.conn.receive_eof();
                moved = true;
            }
            self.drain();
            buf.clear();
            if self.conn.poll_transmit(&mut buf) > 0 {
                moved = true;
                let _ = self.bridge.transmit(&buf, self.now);
            }
            while let Some(r) = self.bridge.poll_request(self.now) {
                moved = true;
                self.requests.push(r);
            }
            if !moved {
                return;
            }
        }
        panic!("the bridge and the connection never settle");
    }

    fn drain(&mut self) {
        while let Some(out) = self.conn.poll_output() {
            self.seen.push(match out {
                Output::Connected { banner } => format!("connected {banner}"),
                Output::LoggedIn => "logged in".into(),
                Output::Event(e) => format!("event {}", e.get_str("Event").unwrap_or("?")),
                Output::Response(r) => format!(
                    "response {} {} {}",
                    r.action,
                    r.message.get_str("Response").unwrap_or("?"),
                    r.text().unwrap_or("")
                ),
                Output::Failed { id, error } => format!("failed {id} {error:?}"),
                Output::Unmatched(m) => format!("unmatched {m:?}"),
                Output::DecodeError(e) => format!("decode error {e}"),
                Output::Closed(r) => format!("closed {r:?}"),
                other => format!("{other:?}"),
            });
        }
    }

    /// Answers the oldest unanswered request of `kind`.
    fn answer(&mut self, kind: RequestKind, r: &Resp) -> HttpRequest {
        let i = self
            .requests
            .iter()
            .position(|(id, _)| id.kind() == kind)
            .unwrap_or_else(|| panic!("no {kind:?} request in flight; seen {:?}", self.seen));
        let (id, req) = self.requests.remove(i);
        let headers: Vec<(&str, &[u8])> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        self.bridge
            .on_response(id, r.status, &headers, &r.body, self.now)
            .unwrap();
        self.pump();
        req
    }

    fn take_seen(&mut self) -> Vec<String> {
        std::mem::take(&mut self.seen)
    }
}

fn query(req: &HttpRequest) -> &str {
    req.target.split_once('?').map_or("", |(_, q)| q)
}

#[test]
fn rawman_session_from_the_recording() {
    let r = responses(RAWMAN_S);
    let mut h = Harness::new("/rawman", "amp111", true);
    let ping = h
        .conn
        .send(Action::ping().action_id("http-ping-1"), h.now)
        .unwrap();
    h.pump();
    let login = h.answer(RequestKind::Action, &r[0]);
    assert_eq!(
        query(&login),
        "action=Login&ActionID=t-1&Username=admin&Secret=amp111"
    );
    assert_eq!(login.header("Cookie"), None);
    // Logged in: the held Ping goes out with the cookie, and the long poll starts.
    let wait = h
        .requests
        .iter()
        .find(|(id, _)| id.kind() == RequestKind::WaitEvent)
        .map(|(_, r)| r.clone())
        .unwrap();
    assert_eq!(query(&wait), "action=WaitEvent&Timeout=30");
    assert_eq!(h.bridge.long_poll_timeout(), Some(Duration::from_secs(30)));
    assert_eq!(wait.header("Cookie"), Some("mansession_id=\"8a100a0e\""));
    let p = h.answer(RequestKind::Action, &r[1]);
    assert_eq!(query(&p), "action=Ping&ActionID=http-ping-1");
    assert_eq!(p.header("Cookie"), Some("mansession_id=\"8a100a0e\""));
    assert_eq!(
        h.take_seen(),
        [
            "connected Asterisk Call Manager/11.0.0",
            "logged in",
            "response Ping Success ",
        ]
    );
    let _ = ping;
    // A list (the response and its Complete event in one body).
    h.conn
        .send(Action::core_show_channels().action_id("http-csc"), h.now)
        .unwrap();
    h.pump();
    h.answer(RequestKind::Action, &r[2]);
    assert_eq!(
        h.take_seen(),
        ["response CoreShowChannels Success Channels will follow"]
    );
    // Command output (the recorded answer has no ActionID: matched by order).
    h.conn
        .send(Action::command("core show version"), h.now)
        .unwrap();
    h.pump();
    h.answer(RequestKind::Action, &r[3]);
    let seen = h.take_seen();
    assert_eq!(seen, ["response Command Success Command output follows"]);
    // The long poll's answer: its events, without the ack and WaitEventComplete.
    h.answer(RequestKind::WaitEvent, &r[4]);
    let seen = h.take_seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|s| s == "event SuccessfulAuth"));
    // …and the next one is in flight at once.
    assert!(h
        .requests
        .iter()
        .any(|(id, _)| id.kind() == RequestKind::WaitEvent));
    h.answer(RequestKind::WaitEvent, &r[5]);
    let seen = h.take_seen();
    assert!(seen.iter().all(|s| s.starts_with("event ")), "{seen:?}");
    assert!(seen.contains(&"event Newchannel".to_owned()));
    assert!(seen.contains(&"event Hangup".to_owned()));
    // Logoff: the Goodbye, then the end.
    h.conn.logoff(h.now).unwrap();
    h.pump();
    h.answer(RequestKind::Action, &r[7]);
    let seen = h.take_seen();
    assert_eq!(seen.last().unwrap(), "closed Logoff", "{seen:?}");
    assert_eq!(h.bridge.close_reason(), Some(&EofReason::LoggedOff));
}

#[test]
fn mxml_session_gives_the_same_answers() {
    let r = responses(MXML_S);
    let mut h = Harness::new("/mxml", "amp111", false);
    h.conn
        .send(Action::ping().action_id("http-ping-1"), h.now)
        .unwrap();
    h.conn
        .send(Action::core_show_channels().action_id("http-csc"), h.now)
        .unwrap();
    h.conn
        .send(Action::getvar("TESTGLOBAL", None), h.now)
        .unwrap();
    h.pump();
    h.answer(RequestKind::Action, &r[0]);
    h.answer(RequestKind::Action, &r[1]);
    h.answer(RequestKind::Action, &r[2]);
    h.answer(RequestKind::Action, &r[6]);
    assert_eq!(
        h.take_seen(),
        [
            "connected Asterisk Call Manager/11.0.0",
            "logged in",
            "response Ping Success ",
            "response CoreShowChannels Success Channels will follow",
            "response Getvar Success ",
        ]
    );
    assert!(h.requests.is_empty(), "events off: no long poll");
}

#[test]
fn expired_session_ends_as_eof_and_the_next_session_logs_in_again() {
    let r = responses(RAWMAN_S);
    let mut h = Harness::new("/rawman", "amp111", false);
    h.pump();
    h.answer(RequestKind::Action, &r[0]);
    let ping = h.conn.send(Action::ping(), h.now).unwrap();
    h.pump();
    // The recorded answer to the old cookie: a new session id and Permission denied.
    h.answer(RequestKind::Action, &r[8]);
    let seen = h.take_seen();
    assert_eq!(
        seen[seen.len() - 2..],
        ["response Ping Error Permission denied", "closed PeerClosed"]
    );
    assert_eq!(h.bridge.close_reason(), Some(&EofReason::SessionExpired));
    let _ = ping;
    // The transport's reconnect: a new banner, a new Login without the old cookie.
    h.bridge.reset(h.now);
    h.conn.reconnect(h.now).unwrap();
    h.pump();
    let login = h.answer(RequestKind::Action, &r[0]);
    assert!(query(&login).starts_with("action=Login&"));
    assert_eq!(login.header("Cookie"), None);
    assert_eq!(
        h.take_seen(),
        ["connected Asterisk Call Manager/11.0.0", "logged in"]
    );
}

#[test]
fn idle_session_expires_at_httptimeout() {
    let r = responses(RAWMAN_S);
    let mut h = Harness::new("/rawman", "amp111", false);
    h.pump();
    h.answer(RequestKind::Action, &r[0]);
    let t = h.bridge.poll_timeout().unwrap();
    assert_eq!(t, h.now + Duration::from_secs(60));
    h.bridge.handle_timeout(t - Duration::from_millis(1));
    h.pump();
    assert!(!h.conn.is_closed());
    h.now = t;
    h.bridge.handle_timeout(t);
    h.pump();
    assert_eq!(h.take_seen().last().unwrap(), "closed PeerClosed");
}

#[test]
fn network_failure_reports_the_written_action_lost() {
    let r = responses(RAWMAN_S);
    let mut h = Harness::new("/rawman", "amp111", false);
    h.pump();
    h.answer(RequestKind::Action, &r[0]);
    let orig = h
        .conn
        .send(
            Action::new("Originate").header("Channel", "Local/100@test"),
            h.now,
        )
        .unwrap();
    h.pump();
    let (id, _) = h.requests.remove(0);
    h.bridge.on_failure(id, h.now);
    h.pump();
    let seen = h.take_seen();
    assert_eq!(
        seen[seen.len() - 2..],
        [
            format!("failed {orig} {:?}", ActionError::Closed { sent: true }),
            "closed PeerClosed".to_owned()
        ]
    );
    assert!(h.requests.is_empty(), "never issued again");
    assert_eq!(
        h.bridge.on_response(id, 200, &[], b"", h.now),
        Err(BridgeError::UnknownRequest)
    );
}

#[test]
fn wrong_password_on_rawman_is_a_refused_login() {
    let r = responses(RAWMAN_S);
    let mut h = Harness::new("/rawman", "wrong", false);
    h.pump();
    h.answer(RequestKind::Action, &r[9]);
    let seen = h.take_seen();
    assert_eq!(
        seen.last().unwrap(),
        &format!(
            "closed {:?}",
            CloseReason::LoginFailed {
                message: "Authentication failed".into()
            }
        )
    );
}

#[test]
fn digest_login_retries_the_challenge_and_never_sends_the_secret() {
    let r = responses(DIGEST_S);
    let mut h = Harness::new("/arawman", "amp111", false);
    h.conn
        .send(Action::ping().action_id("digest-1"), h.now)
        .unwrap();
    h.pump();
    // The recorded challenge (nonce 789fb16c).
    let first = h.answer(RequestKind::Action, &r[0]);
    assert_eq!(query(&first), "action=Login&ActionID=t-1");
    assert_eq!(first.header("Authorization"), None);
    // The same Login again, with the Digest answer. Asterisk answers a Login on a Digest
    // session with "Already authenticated" (manager.c action_login); not recorded.
    let ok = made_up(
        200,
        &[("Content-type", "text/plain")],
        "Response: Success\r\nActionID: t-1\r\nMessage: Already authenticated\r\n\r\n",
    );
    let second = h.answer(RequestKind::Action, &ok);
    assert_eq!(query(&second), "action=Login&ActionID=t-1");
    let auth = second.header("Authorization").unwrap();
    assert!(auth.contains("nonce=\"789fb16c\""), "{auth}");
    assert!(auth.contains("nc=00000001"), "{auth}");
    assert!(
        auth.contains("uri=\"/arawman?action=Login&ActionID=t-1\""),
        "{auth}"
    );
    assert!(!second.target.contains("amp111") && !auth.contains("amp111"));
    // The held Ping, with the recorded answer; nc counts up.
    let ping = h.answer(RequestKind::Action, &r[1]);
    assert!(ping
        .header("Authorization")
        .unwrap()
        .contains("nc=00000002"));
    assert_eq!(
        h.take_seen(),
        [
            "connected Asterisk Call Manager/11.0.0",
            "logged in",
            "response Ping Success ",
        ]
    );
    // A stale nonce (main/http.c ast_http_auth with stale=1; not recorded): the same request
    // again with the new nonce and nc back at 1, and no failure.
    h.conn.send(Action::new("CoreStatus"), h.now).unwrap();
    h.pump();
    let stale = made_up(
        401,
        &[(
            "WWW-authenticate",
            "Digest algorithm=MD5, realm=\"asterisk\", nonce=\"0badcafe\", qop=\"auth\", opaque=\"0badcafe\", stale=true",
        )],
        "",
    );
    let before = h.answer(RequestKind::Action, &stale);
    assert!(before
        .header("Authorization")
        .unwrap()
        .contains("nc=00000003"));
    let again = h.answer(RequestKind::Action, &r[2]);
    assert_eq!(again.target, before.target);
    let auth = again.header("Authorization").unwrap();
    assert!(
        auth.contains("nonce=\"0badcafe\"") && auth.contains("nc=00000001"),
        "{auth}"
    );
    assert_eq!(h.take_seen(), ["response CoreStatus Success "]);
}

#[test]
fn digest_wrong_secret_is_a_refused_login_not_a_hang() {
    let r = responses(DIGEST_S);
    let mut h = Harness::new("/arawman", "wrong", true);
    h.pump();
    h.answer(RequestKind::Action, &r[0]);
    // The recorded answer to the wrong secret: a new challenge, not stale.
    assert!(r[6].header("WWW-authenticate").is_some());
    assert_eq!(r[6].status, 401);
    h.answer(RequestKind::Action, &r[6]);
    let seen = h.take_seen();
    assert_eq!(
        seen.last().unwrap(),
        &format!(
            "closed {:?}",
            CloseReason::LoginFailed {
                message: "Authentication failed".into()
            }
        )
    );
    assert_eq!(h.bridge.close_reason(), Some(&EofReason::LoginFailed));
    assert!(h.requests.is_empty());
}

#[test]
fn digest_long_poll_runs_with_the_digest_answer() {
    let r = responses(DIGEST_S);
    let mut h = Harness::new("/arawman", "amp111", true);
    h.pump();
    h.answer(RequestKind::Action, &r[0]);
    let ok = made_up(
        200,
        &[],
        "Response: Success\r\nActionID: t-1\r\nMessage: Already authenticated\r\n\r\n",
    );
    h.answer(RequestKind::Action, &ok);
    assert_eq!(
        h.take_seen(),
        ["connected Asterisk Call Manager/11.0.0", "logged in"]
    );
    // The recorded WaitEvent answer (Timeout=2, no events).
    let we = h.answer(RequestKind::WaitEvent, &r[5]);
    assert_eq!(query(&we), "action=WaitEvent&Timeout=30");
    assert!(we.header("Authorization").unwrap().contains("nc=00000002"));
    assert!(h.take_seen().is_empty());
}

#[test]
fn full_queue_refuses_the_action_with_an_error_answer() {
    let now = Instant::now();
    let mut cfg = ConnectionConfig::default();
    cfg.action_ids = ActionIdGenerator::with_prefix("q").unwrap();
    let mut conn = Connection::new(cfg, now);
    let mut bcfg = BridgeConfig::new(Endpoint::parse("/rawman").unwrap(), "h");
    bcfg.max_queued_requests = 1;
    bcfg.events = false;
    let mut bridge = Bridge::new(bcfg, now);
    let mut buf = Vec::new();
    let _ = bridge.poll_receive(&mut buf);
    let _ = conn.receive(&buf);
    while conn.poll_output().is_some() {}
    conn.send(Action::ping(), now).unwrap();
    conn.send(Action::ping(), now).unwrap();
    buf.clear();
    let _ = conn.poll_transmit(&mut buf);
    assert_eq!(
        bridge.transmit(&buf, now),
        Err(BridgeError::QueueFull { limit: 1 })
    );
    buf.clear();
    let _ = bridge.poll_receive(&mut buf);
    assert_eq!(
        buf,
        b"Response: Error\r\nActionID: q-2\r\nMessage: HTTP request queue full\r\n\r\n"
    );
}

#[test]
fn a_users_waitevent_is_refused_while_the_long_poll_runs() {
    let r = responses(RAWMAN_S);
    let mut h = Harness::new("/rawman", "amp111", true);
    h.pump();
    h.answer(RequestKind::Action, &r[0]);
    h.take_seen();
    h.conn.send(Action::wait_event(Some(5)), h.now).unwrap();
    h.pump();
    let seen = h.take_seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].starts_with("response WaitEvent Error WaitEvent is run by the HTTP bridge"));
    assert!(h
        .requests
        .iter()
        .all(|(id, _)| id.kind() == RequestKind::WaitEvent));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Status, headers, body.
    type Answer = (u16, Vec<(String, Vec<u8>)>, Vec<u8>);

    fn any_response() -> impl Strategy<Value = Answer> {
        let status = prop_oneof![
            Just(200u16),
            Just(401),
            Just(403),
            Just(404),
            Just(500),
            any::<u16>()
        ];
        let header = prop_oneof![
            Just((
                "Set-Cookie".to_owned(),
                b"mansession_id=\"1\"; Max-Age=60".to_vec()
            )),
            Just((
                "Set-Cookie".to_owned(),
                b"mansession_id=\"2\"; Max-Age=1".to_vec()
            )),
            Just((
                "WWW-Authenticate".to_owned(),
                b"Digest realm=\"asterisk\", nonce=\"1\", qop=\"auth\"".to_vec()
            )),
            Just((
                "WWW-Authenticate".to_owned(),
                b"Digest realm=\"asterisk\", nonce=\"2\", qop=\"auth\", stale=true".to_vec()
            )),
            (
                "[A-Za-z-]{1,12}",
                proptest::collection::vec(any::<u8>(), 0..40)
            ),
        ];
        let body = prop_oneof![
            Just(b"Response: Success\r\nMessage: Authentication accepted\r\n\r\n".to_vec()),
            Just(b"Response: Error\r\nMessage: Permission denied\r\n\r\n".to_vec()),
            Just(b"Response: Success\r\nMessage: Waiting for Event completed.\r\n\r\nEvent: X\r\n\r\nEvent: WaitEventComplete\r\n\r\n".to_vec()),
            Just(b"<ajax-response><response><generic response='Success' /></response></ajax-response>".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..200),
        ];
        (status, proptest::collection::vec(header, 0..4), body)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the server answers, in any order, the bridge and the Connection never
        /// panic, never loop, and end or keep going; nothing is issued after EOF.
        #[test]
        fn never_panics_on_any_answer(
            ep in prop_oneof![Just("/rawman"), Just("/mxml"), Just("/manager"), Just("/arawman"), Just("/amxml")],
            answers in proptest::collection::vec(any_response(), 1..12),
        ) {
            let mut h = Harness::new(ep, "amp111", true);
            h.conn.send(Action::ping(), h.now).unwrap();
            h.pump();
            for (status, headers, body) in answers {
                let Some(&(id, _)) = h.requests.first() else { break };
                h.requests.remove(0);
                let hs: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
                let _ = h.bridge.on_response(id, status, &hs, &body, h.now);
                h.pump();
                if h.bridge.is_eof() {
                    prop_assert!(h.bridge.poll_request(h.now).is_none());
                }
            }
        }
    }
}

#[test]
fn an_empty_long_poll_answer_pauses_the_next_one_a_second() {
    let r = responses(RAWMAN_S);
    let mut h = Harness::new("/rawman", "amp111", true);
    h.pump();
    h.answer(RequestKind::Action, &r[0]);
    // Replaced by another waiter: 200 with an empty body (manager.c "Abandoning event request").
    let empty = made_up(200, &[], "");
    h.answer(RequestKind::WaitEvent, &empty);
    assert!(h.requests.is_empty());
    assert_eq!(
        h.bridge.poll_timeout(),
        Some(h.now + Duration::from_secs(1))
    );
    h.now += Duration::from_secs(1);
    h.bridge.handle_timeout(h.now);
    h.pump();
    assert_eq!(h.requests.len(), 1);
    assert_eq!(h.requests[0].0.kind(), RequestKind::WaitEvent);
    assert!(!h.conn.is_closed());
}

#[test]
fn digest_login_with_an_event_mask_sends_it_as_an_events_action() {
    let r = responses(DIGEST_S);
    let now = Instant::now();
    let mut cfg = ConnectionConfig::new(Credentials::plain("admin", "amp111"));
    cfg.action_ids = ActionIdGenerator::with_prefix("t").unwrap();
    cfg.events = Some(amiwire::EventMask::parse("call,user"));
    let mut bcfg = BridgeConfig::new(Endpoint::parse("/arawman").unwrap(), "127.0.0.1:8088");
    bcfg.events = false;
    let mut h = Harness {
        conn: Connection::new(cfg, now),
        bridge: Bridge::new(bcfg, now),
        now,
        seen: Vec::new(),
        requests: Vec::new(),
    };
    h.conn
        .send(Action::ping().action_id("digest-1"), h.now)
        .unwrap();
    h.pump();
    h.answer(RequestKind::Action, &r[0]);
    let ok = made_up(
        200,
        &[],
        "Response: Success\r\nActionID: t-1\r\nMessage: Already authenticated\r\n\r\n",
    );
    let login = h.answer(RequestKind::Action, &ok);
    assert_eq!(login.target, "/arawman");
    assert_eq!(login.body, b"action=Login&ActionID=t-1");
    // The mask, as Asterisk's Events action answers it (manager.c action_events); its
    // answer is the bridge's own and goes nowhere.
    let events_ok = made_up(200, &[], "Response: Success\r\nEvents: On\r\n\r\n");
    let events = h.answer(RequestKind::Action, &events_ok);
    assert_eq!(events.body, b"action=Events&EventMask=call%2Cuser");
    let ping = h.answer(RequestKind::Action, &r[1]);
    assert_eq!(ping.body, b"action=Ping&ActionID=digest-1");
    assert_eq!(
        h.take_seen(),
        [
            "connected Asterisk Call Manager/11.0.0",
            "logged in",
            "response Ping Success "
        ]
    );
}

/// The value of `key` in an `Authorization` header (quoted or not), as written.
fn auth_field<'a>(auth: &'a str, key: &str) -> &'a str {
    let pat = format!(" {key}=");
    let i = auth
        .find(&pat)
        .map(|i| i + pat.len())
        .unwrap_or_else(|| panic!("{key} in {auth}"));
    let v = &auth[i..];
    match v.strip_prefix('"') {
        // A quoted value ends at the first quote not escaped.
        Some(q) => {
            let mut end = 0;
            let b = q.as_bytes();
            while b[end] != b'"' {
                end += if b[end] == b'\\' { 2 } else { 1 };
            }
            &q[..end]
        }
        None => v.split(',').next().unwrap(),
    }
}

/// HA1 (MD5 of user:realm:secret) answers any challenge of the realm, and the cookie is the
/// session's bearer token: neither is in the bridge's `Debug`.
#[test]
fn debug_shows_neither_ha1_nor_the_session_cookie() {
    let r = responses(DIGEST_S);
    let mut h = Harness::new("/arawman", "amp111", false);
    h.pump();
    h.answer(RequestKind::Action, &r[0]);
    assert!(h.requests[0].1.header("Authorization").is_some());
    let debug = format!("{:?}", h.bridge);
    let secret_hash = ha1("admin", "asterisk", "amp111");
    assert!(!debug.contains(&secret_hash), "{debug}");
    assert!(!debug.contains("amp111"), "{debug}");

    let r = responses(RAWMAN_S);
    let cookie = r[0].header("Set-Cookie").unwrap();
    let id = cookie.split('"').nth(1).unwrap();
    let mut h = Harness::new("/rawman", "amp111", false);
    h.pump();
    h.answer(RequestKind::Action, &r[0]);
    let debug = format!("{:?}", h.bridge);
    assert!(!debug.contains(id), "{id} in {debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}

/// `ast_parse_digest` ends a quoted value at its first quote and then unescapes it: a user
/// name with a quote cannot be carried (a clear error, not "Authentication failed"), a
/// backslash goes escaped while the hash uses the name itself.
#[test]
fn digest_user_names_are_escaped_or_refused() {
    let r = responses(DIGEST_S);
    let mut h = Harness::with("ad\"min", "/arawman", "amp111", false, |_| {});
    h.pump();
    h.answer(RequestKind::Action, &r[0]);
    assert_eq!(
        h.bridge.close_reason(),
        Some(&EofReason::Digest(DigestError::Username))
    );
    assert!(h.requests.is_empty(), "nothing more is sent");
    assert!(
        h.take_seen().last().unwrap().starts_with("closed"),
        "the connection learns it"
    );

    let mut h = Harness::with("ad\\min", "/arawman", "amp111", false, |_| {});
    h.pump();
    h.answer(RequestKind::Action, &r[0]);
    let req = &h.requests[0].1;
    let auth = req.header("Authorization").unwrap();
    assert_eq!(auth_field(auth, "username"), "ad\\\\min", "{auth}");
    let nonce = auth_field(auth, "nonce");
    let nc = auth_field(auth, "nc");
    let cnonce = auth_field(auth, "cnonce");
    let expected = response(
        &ha1("ad\\min", "asterisk", "amp111"),
        nonce,
        Some((nc, cnonce)),
        &ha2("GET", &req.target),
    );
    assert_eq!(auth_field(auth, "response"), expected);
}

/// A `Max-Age` of 2^63 s, or an `httptimeout` of `Duration::MAX`: the lifetimes saturate,
/// nothing panics, and the session is not taken for expired.
#[test]
fn huge_lifetimes_never_panic() {
    let r = responses(RAWMAN_S);
    let mut h = Harness::new("/rawman", "amp111", true);
    h.pump();
    let mut first = made_up(
        200,
        &[
            ("Content-type", "text/plain"),
            (
                "Set-Cookie",
                "mansession_id=\"0badcafe\"; Version=1; Max-Age=9223372036854775807",
            ),
        ],
        "",
    );
    first.body = r[0].body.clone();
    h.answer(RequestKind::Action, &first);
    assert!(h.take_seen().contains(&"logged in".to_owned()));
    let later = h.now + Duration::from_secs(3600);
    let _ = h.bridge.poll_timeout();
    h.bridge.handle_timeout(later);
    assert!(!h.bridge.is_eof());
    assert!(h.bridge.session_expires_at().is_some_and(|t| t > later));
    // The long poll's Timeout comes from the same lifetime (this used to panic): the
    // wanted 30 s, as the session lives far longer.
    let poll = h
        .requests
        .iter()
        .find(|(id, _)| id.kind() == RequestKind::WaitEvent)
        .map(|(_, r)| r.target.clone())
        .expect("the long poll runs");
    assert!(poll.contains("Timeout=30"), "{poll}");

    let mut h = Harness::with("admin", "/arawman", "amp111", true, |b| {
        b.httptimeout = Duration::MAX;
    });
    h.pump();
    h.answer(RequestKind::Action, &responses(DIGEST_S)[0]);
    let ok = made_up(
        200,
        &[("Content-type", "text/plain")],
        "Response: Success\r\nActionID: t-1\r\nMessage: Already authenticated\r\n\r\n",
    );
    h.answer(RequestKind::Action, &ok);
    assert!(h.take_seen().contains(&"logged in".to_owned()));
    let _ = h.bridge.poll_timeout();
    h.bridge.handle_timeout(h.now + Duration::from_secs(3600));
    assert!(!h.bridge.is_eof());
}
