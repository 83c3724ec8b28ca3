//! A client Connection against a scripted peer with a simulated clock: timeouts, keepalive,
//! lists cut by a close, overflow, outcomes of unsent and sent actions.
use std::time::{Duration, Instant};

use amiwire::action::Originate;
use amiwire::connection::{
    ActionError, CloseReason, Connection, ConnectionConfig, Credentials, EventMask, LocalError,
    Output,
};
use amiwire::{Action, ActionId, ActionIdGenerator, Decoder, DecoderConfig, Frame};

/// The scripted server: decodes what the client wrote, answers with what the test says.
struct Peer {
    dec: Decoder,
}

impl Peer {
    fn new() -> Peer {
        Peer {
            dec: Decoder::with_config(DecoderConfig::without_banner()),
        }
    }

    /// The actions the client wrote since the last call, as (Action, ActionID).
    fn read(&mut self, conn: &mut Connection) -> Vec<(String, String)> {
        let mut wire = Vec::new();
        let _ = conn.poll_transmit(&mut wire);
        assert_eq!(self.dec.feed(&wire), wire.len());
        let mut out = Vec::new();
        while let Some(Frame::Message(m)) = self.dec.decode().unwrap() {
            out.push((
                m.get_str("Action").unwrap().to_owned(),
                m.get_str("ActionID").unwrap_or("").to_owned(),
            ));
        }
        out
    }
}

/// Everything the connection reports, as text.
fn outputs(conn: &mut Connection) -> Vec<String> {
    let mut v = Vec::new();
    while let Some(o) = conn.poll_output() {
        v.push(match o {
            Output::Connected { banner } => format!("Connected {banner}"),
            Output::LoggedIn => "LoggedIn".into(),
            Output::Event(m) => format!("Event {}", m.get_str("Event").unwrap()),
            Output::Response(r) => format!(
                "Response {} {} items={} complete={}",
                r.id,
                r.get_str("Response").unwrap(),
                r.events.len(),
                r.complete.is_some()
            ),
            Output::Failed { id, error } => format!("Failed {id} {error:?}"),
            Output::Unmatched(m) => format!("Unmatched {:?}", m.get_str("ActionID")),
            Output::DecodeError(e) => format!("DecodeError {e}"),
            Output::Closed(r) => format!("Closed {r:?}"),
            other => format!("{other:?}"),
        });
    }
    v
}

fn feed(conn: &mut Connection, bytes: &[u8]) {
    assert_eq!(conn.receive(bytes), bytes.len());
}

fn config() -> ConnectionConfig {
    let mut cfg = ConnectionConfig::new(Credentials::plain("admin", "amp111"));
    cfg.action_ids = ActionIdGenerator::with_prefix("t").unwrap();
    cfg
}

/// A logged-in connection; the login took ActionID t-1.
fn logged_in(cfg: ConnectionConfig, t0: Instant) -> (Connection, Peer) {
    let mut conn = Connection::new(cfg, t0);
    let mut peer = Peer::new();
    feed(&mut conn, b"Asterisk Call Manager/11.0.0\r\n");
    assert_eq!(
        outputs(&mut conn),
        ["Connected Asterisk Call Manager/11.0.0"]
    );
    assert_eq!(peer.read(&mut conn), [("Login".into(), "t-1".into())]);
    feed(
        &mut conn,
        b"Response: Success\r\nActionID: t-1\r\nMessage: Authentication accepted\r\n\r\n",
    );
    assert_eq!(outputs(&mut conn), ["LoggedIn"]);
    (conn, peer)
}

#[test]
fn action_times_out_and_its_late_answer_is_dropped() {
    let t0 = Instant::now();
    let (mut conn, mut peer) = logged_in(config(), t0);
    let id = conn
        .send_with_timeout(Action::ping(), Duration::from_secs(2), t0)
        .unwrap();
    assert_eq!(peer.read(&mut conn), [("Ping".into(), "t-2".into())]);
    assert_eq!(conn.poll_timeout(), Some(t0 + Duration::from_secs(2)));
    conn.handle_timeout(t0 + Duration::from_secs(1));
    assert!(outputs(&mut conn).is_empty(), "nothing before the deadline");
    conn.handle_timeout(t0 + Duration::from_secs(2));
    assert_eq!(
        outputs(&mut conn),
        [format!("Failed {id} TimedOut {{ sent: true }}")]
    );
    // The late answer is recognised and dropped, and in-order matching stays aligned.
    let next = conn
        .send(Action::ping(), t0 + Duration::from_secs(3))
        .unwrap();
    let _ = peer.read(&mut conn);
    feed(
        &mut conn,
        b"Response: Success\r\nPing: Pong\r\n\r\nResponse: Success\r\nPing: Pong\r\n\r\n",
    );
    assert_eq!(
        outputs(&mut conn),
        [format!("Response {next} Success items=0 complete=false")]
    );
}

#[test]
fn actions_before_login_are_held_and_resolve_unsent_on_failure() {
    let t0 = Instant::now();
    let mut conn = Connection::new(config(), t0);
    let mut peer = Peer::new();
    let held = conn.send(Action::ping(), t0).unwrap();
    feed(&mut conn, b"Asterisk Call Manager/11.0.0\r\n");
    assert_eq!(
        outputs(&mut conn),
        ["Connected Asterisk Call Manager/11.0.0"]
    );
    // Only the login is written.
    assert_eq!(peer.read(&mut conn), [("Login".into(), "t-2".into())]);
    feed(
        &mut conn,
        b"Response: Error\r\nActionID: t-2\r\nMessage: Authentication failed\r\n\r\n",
    );
    assert_eq!(
        outputs(&mut conn),
        [
            format!("Failed {held} Closed {{ sent: false }}"),
            "Closed LoginFailed { message: \"Authentication failed\" }".to_owned(),
        ]
    );
    assert!(conn.is_closed());
    assert_eq!(conn.send(Action::ping(), t0), Err(LocalError::Closed));
}

#[test]
fn login_timeout() {
    let t0 = Instant::now();
    let mut conn = Connection::new(config(), t0);
    assert_eq!(conn.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    conn.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(outputs(&mut conn), ["Closed LoginTimeout"]);
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn keepalive_pings_and_gives_up_without_pong() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.keepalive = Some(Duration::from_secs(5));
    cfg.pong_timeout = Duration::from_secs(2);
    let (mut conn, mut peer) = logged_in(cfg, t0);
    assert_eq!(conn.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    conn.handle_timeout(t0 + Duration::from_secs(5));
    let sent = peer.read(&mut conn);
    assert_eq!(sent, [("Ping".into(), "t-2".into())]);
    // Pong: not reported, next ping scheduled.
    feed(
        &mut conn,
        b"Response: Success\r\nActionID: t-2\r\nPing: Pong\r\n\r\n",
    );
    assert!(outputs(&mut conn).is_empty());
    assert_eq!(conn.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    conn.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(peer.read(&mut conn), [("Ping".into(), "t-3".into())]);
    // No pong this time.
    conn.handle_timeout(t0 + Duration::from_secs(12));
    assert_eq!(outputs(&mut conn), ["Closed KeepaliveTimeout"]);
}

/// Asterisk answers a session's actions one at a time: a Ping behind a synchronous
/// Originate that rings for 12 s would miss its Pong deadline and end a healthy session.
#[test]
fn keepalive_waits_while_a_synchronous_originate_rings() {
    let t0 = Instant::now();
    let s = Duration::from_secs;
    let mut cfg = config();
    cfg.keepalive = Some(s(5));
    cfg.pong_timeout = s(2);
    let (mut conn, mut peer) = logged_in(cfg, t0);
    let orig = Originate::to_exten("PJSIP/110", "default", "600", 1).build();
    let id = conn.send(orig, t0).unwrap();
    assert_eq!(peer.read(&mut conn), [("Originate".into(), id.to_string())]);
    for k in [5, 10] {
        conn.handle_timeout(t0 + s(k));
        assert!(peer.read(&mut conn).is_empty(), "no Ping at {k} s");
    }
    conn.handle_timeout(t0 + s(12));
    assert!(outputs(&mut conn).is_empty(), "the session lives");
    feed(
        &mut conn,
        format!(
            "Response: Success\r\nActionID: {id}\r\nMessage: Originate successfully queued\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(outputs(&mut conn).len(), 1);
    // The link is idle again: the Ping goes when the interval is next up.
    conn.handle_timeout(t0 + s(15));
    assert_eq!(peer.read(&mut conn), [("Ping".into(), "t-3".into())]);

    // Behind any other action (a Status, answered at once by Asterisk) the Ping goes: a
    // dead link with an action pending is still found out in pong_timeout.
    feed(
        &mut conn,
        b"Response: Success\r\nActionID: t-3\r\nPing: Pong\r\n\r\n",
    );
    assert!(outputs(&mut conn).is_empty());
    let status = conn.send(Action::new("Status"), t0 + s(16)).unwrap();
    assert_eq!(
        peer.read(&mut conn),
        [("Status".into(), status.to_string())]
    );
    conn.handle_timeout(t0 + s(20));
    assert_eq!(peer.read(&mut conn), [("Ping".into(), "t-5".into())]);
    conn.handle_timeout(t0 + s(22));
    let out = outputs(&mut conn);
    assert_eq!(out.last().unwrap(), "Closed KeepaliveTimeout", "{out:?}");
}

#[test]
fn list_cut_by_close_is_truncated_never_complete() {
    let t0 = Instant::now();
    let (mut conn, mut peer) = logged_in(config(), t0);
    let list = conn.send(Action::core_show_channels(), t0).unwrap();
    let after = conn.send(Action::ping(), t0).unwrap();
    let _ = peer.read(&mut conn);
    feed(
        &mut conn,
        b"Response: Success\r\nActionID: t-2\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n\
Event: CoreShowChannel\r\nActionID: t-2\r\nChannel: Local/600@test-1;1\r\n\r\n\
Event: CoreShowChannel\r\nActionID: t-2\r\nChannel: Local/600@test-1;2\r\n\r\n",
    );
    assert!(outputs(&mut conn).is_empty());
    conn.receive_eof();
    let mut items = None;
    let mut rest = Vec::new();
    while let Some(o) = conn.poll_output() {
        match o {
            Output::Failed {
                id,
                error: ActionError::Truncated(r),
            } => {
                assert_eq!(id, list);
                items = Some(r.events.len());
                assert!(r.complete.is_none());
            }
            Output::Failed { id, error } => rest.push(format!("{id} {error:?}")),
            Output::Closed(r) => rest.push(format!("{r:?}")),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(items, Some(2));
    assert_eq!(
        rest,
        [
            format!("{after} Closed {{ sent: true }}"),
            "PeerClosed".into()
        ]
    );
}

#[test]
fn list_complete_with_legacy_completion_and_item_limit() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.max_list_items = 1;
    let (mut conn, mut peer) = logged_in(cfg, t0);
    // Asterisk 11 style: no EventList header; StatusComplete ends it.
    let status = conn.send(Action::status(None), t0).unwrap();
    let _ = peer.read(&mut conn);
    feed(
        &mut conn,
        b"Response: Success\r\nActionID: t-2\r\nMessage: Channel status will follow\r\n\r\n\
Event: Status\r\nActionID: t-2\r\nChannel: SIP/1\r\n\r\n\
Event: StatusComplete\r\nActionID: t-2\r\nItems: 1\r\n\r\n",
    );
    assert_eq!(
        outputs(&mut conn),
        [format!("Response {status} Success items=1 complete=true")]
    );
    let csc = conn.send(Action::core_show_channels(), t0).unwrap();
    let _ = peer.read(&mut conn);
    feed(
        &mut conn,
        b"Response: Success\r\nActionID: t-3\r\nEventList: start\r\n\r\n\
Event: CoreShowChannel\r\nActionID: t-3\r\n\r\nEvent: CoreShowChannel\r\nActionID: t-3\r\n\r\n\
Event: CoreShowChannelsComplete\r\nActionID: t-3\r\nEventList: Complete\r\nListItems: 2\r\n\r\n",
    );
    assert_eq!(
        outputs(&mut conn),
        [format!("Failed {csc} ListTooLong {{ limit: 1 }}")]
    );
}

#[test]
fn async_originate_resolved_by_its_originate_response_only() {
    let t0 = Instant::now();
    let (mut conn, mut peer) = logged_in(config(), t0);
    let o = Originate::to_exten("Local/100@test", "test", "100", 1)
        .asynchronous(true)
        .build();
    let id = conn.send(o, t0).unwrap();
    let _ = peer.read(&mut conn);
    feed(
        &mut conn,
        b"Response: Success\r\nActionID: t-2\r\nMessage: Originate successfully queued\r\n\r\n\
Event: OriginateResponse\r\nPrivilege: call,all\r\nActionID: someone-else\r\nResponse: Failure\r\n\r\n\
Event: Newchannel\r\nPrivilege: call,all\r\nChannel: Local/100@test-1;1\r\n\r\n",
    );
    assert_eq!(
        outputs(&mut conn),
        ["Event OriginateResponse", "Event Newchannel"]
    );
    feed(
        &mut conn,
        b"Event: OriginateResponse\r\nPrivilege: call,all\r\nActionID: t-2\r\nResponse: Success\r\nReason: 4\r\n\r\n",
    );
    match conn.poll_output() {
        Some(Output::Response(r)) => {
            assert_eq!(r.id, id);
            assert!(r.is_success());
            assert_eq!(r.originate.as_ref().unwrap().get_str("Reason"), Some("4"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn async_originate_refused_up_front_when_events_cannot_carry_its_result() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.events = Some(EventMask::parse("system,user"));
    let (mut conn, mut peer) = logged_in(cfg, t0);
    let o = || {
        Originate::to_application("Local/100@test", "Wait", "1")
            .asynchronous(true)
            .build()
    };
    assert!(matches!(
        conn.send(o(), t0),
        Err(LocalError::OriginateResultUnavailable { .. })
    ));
    // Turning call events on makes it possible.
    let ev = conn.send(Action::events("call"), t0).unwrap();
    let _ = peer.read(&mut conn);
    feed(
        &mut conn,
        b"Response: Success\r\nActionID: t-2\r\nEvents: On\r\n\r\n",
    );
    assert_eq!(
        outputs(&mut conn),
        [format!("Response {ev} Success items=0 complete=false")]
    );
    assert_eq!(conn.event_mask(), &EventMask::Classes(vec!["call".into()]));
    assert!(conn.send(o(), t0).is_ok());
}

#[test]
fn pending_and_output_limits_are_explicit_errors() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.max_pending = 2;
    let (mut conn, _peer) = logged_in(cfg, t0);
    conn.send(Action::ping(), t0).unwrap();
    conn.send(Action::ping(), t0).unwrap();
    assert_eq!(
        conn.send(Action::ping(), t0),
        Err(LocalError::TooManyPending { limit: 2 })
    );
    let mut cfg = config();
    cfg.max_queued_bytes = 64;
    let (mut conn, _peer) = logged_in(cfg, t0);
    conn.send(Action::ping(), t0).unwrap();
    assert_eq!(
        conn.send(Action::command("core show channels"), t0),
        Err(LocalError::OutputFull { limit: 64 })
    );
    // Duplicate ActionID.
    let a = Action::ping().action_id("same");
    conn.send(a.clone(), t0).ok();
    let mut cfg = config();
    cfg.max_queued_bytes = 1 << 20;
    let (mut conn, _peer) = logged_in(cfg, t0);
    conn.send(a.clone(), t0).unwrap();
    assert_eq!(
        conn.send(a, t0),
        Err(LocalError::DuplicateActionId(
            ActionId::new("same").unwrap()
        ))
    );
}

#[test]
fn filters_and_mask_are_session_state() {
    let t0 = Instant::now();
    let (mut conn, mut peer) = logged_in(config(), t0);
    conn.send(Action::filter_add("Event: Hangup"), t0).unwrap();
    conn.send(Action::filter_add("!Event: Bad("), t0).unwrap();
    let _ = peer.read(&mut conn);
    feed(
        &mut conn,
        b"Response: Success\r\nActionID: t-2\r\nMessage: Filter Added Successfully\r\n\r\n\
Response: Error\r\nActionID: t-3\r\nMessage: Filter did not compile.  Check the syntax of the filter given.\r\n\r\n",
    );
    assert_eq!(outputs(&mut conn).len(), 2);
    let filters: Vec<_> = conn
        .server_filters()
        .iter()
        .map(|a| a.get("Filter").unwrap().to_owned())
        .collect();
    assert_eq!(filters, ["Event: Hangup"]);
}

#[test]
fn logoff_then_goodbye_then_close() {
    let t0 = Instant::now();
    let (mut conn, mut peer) = logged_in(config(), t0);
    let id = conn.logoff(t0).unwrap();
    assert_eq!(conn.send(Action::ping(), t0), Err(LocalError::Closed));
    assert_eq!(peer.read(&mut conn), [("Logoff".into(), id.to_string())]);
    feed(
        &mut conn,
        format!("Response: Goodbye\r\nActionID: {id}\r\nMessage: Thanks for all the fish.\r\n\r\n")
            .as_bytes(),
    );
    conn.receive_eof();
    assert_eq!(
        outputs(&mut conn),
        [
            format!("Response {id} Goodbye items=0 complete=false"),
            "Closed Logoff".to_owned()
        ]
    );
}

#[test]
fn bad_banner_is_a_sticky_protocol_error() {
    let t0 = Instant::now();
    let mut conn = Connection::new(config(), t0);
    feed(&mut conn, b"SSH-2.0-OpenSSH_9.2\r\n");
    let out = outputs(&mut conn);
    assert_eq!(out.len(), 1);
    assert!(out[0].starts_with("Closed Protocol(BadBanner"), "{out:?}");
    assert!(conn.error().is_some());
    assert_eq!(conn.send(Action::ping(), t0), Err(LocalError::Closed));
    assert!(matches!(
        conn.error(),
        Some(amiwire::connection::ProtocolError::BadBanner(_))
    ));
    let _ = CloseReason::Local;
}

#[test]
fn md5_login() {
    let t0 = Instant::now();
    let mut cfg = ConnectionConfig::new(Credentials::md5("admin", "amp111"));
    cfg.action_ids = ActionIdGenerator::with_prefix("m").unwrap();
    cfg.events = Some(EventMask::Off);
    let mut conn = Connection::new(cfg, t0);
    let mut peer = Peer::new();
    feed(&mut conn, b"Asterisk Call Manager/11.0.0\r\n");
    assert_eq!(
        outputs(&mut conn),
        ["Connected Asterisk Call Manager/11.0.0"]
    );
    assert_eq!(peer.read(&mut conn), [("Challenge".into(), "m-1".into())]);
    feed(
        &mut conn,
        b"Response: Success\r\nActionID: m-1\r\nChallenge: 773159680\r\n\r\n",
    );
    assert!(outputs(&mut conn).is_empty());
    let mut wire = Vec::new();
    let _ = conn.poll_transmit(&mut wire);
    // The key recorded from a real client against a real Asterisk (03-challenge-md5).
    assert_eq!(
        String::from_utf8(wire).unwrap(),
        "Action: Login\r\nActionID: m-2\r\nAuthType: md5\r\nUsername: admin\r\n\
Key: d3c6f84cd08dad2fdfa486604be78a90\r\nEvents: off\r\n\r\n"
    );
    feed(
        &mut conn,
        b"Response: Success\r\nActionID: m-2\r\nMessage: Authentication accepted\r\n\r\n",
    );
    assert_eq!(outputs(&mut conn), ["LoggedIn"]);
    assert!(
        !format!("{conn:?}").contains("amp111"),
        "secret in Debug output"
    );
}

#[test]
fn timed_out_actions_free_their_slot_and_are_forgotten_when_a_later_one_is_answered() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.max_pending = 2;
    let (mut conn, mut peer) = logged_in(cfg, t0);
    let a = conn
        .send_with_timeout(Action::ping(), Duration::from_secs(1), t0)
        .unwrap();
    let b = conn
        .send_with_timeout(Action::ping(), Duration::from_secs(1), t0)
        .unwrap();
    let _ = peer.read(&mut conn);
    conn.handle_timeout(t0 + Duration::from_secs(1));
    assert_eq!(
        outputs(&mut conn),
        [
            format!("Failed {a} TimedOut {{ sent: true }}"),
            format!("Failed {b} TimedOut {{ sent: true }}")
        ]
    );
    assert_eq!(conn.pending(), 0);
    // Their slots are free again.
    let c = conn
        .send(Action::ping(), t0 + Duration::from_secs(2))
        .unwrap();
    let d = conn
        .send(Action::ping(), t0 + Duration::from_secs(2))
        .unwrap();
    let _ = peer.read(&mut conn);
    // The server never answers a and b; it answers c by ActionID: a and b are forgotten, and
    // d (answered without ActionID) is matched in order, not mistaken for a late answer.
    feed(
        &mut conn,
        format!("Response: Success\r\nActionID: {c}\r\nPing: Pong\r\n\r\nResponse: Success\r\nPing: Pong\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(
        outputs(&mut conn),
        [
            format!("Response {c} Success items=0 complete=false"),
            format!("Response {d} Success items=0 complete=false")
        ]
    );
    assert_eq!(conn.pending(), 0);
}

// ---------------------------------------------------------------------------------------------
// The session after a reconnect (ConnectionConfig::resumable, Connection::reconnect)
// ---------------------------------------------------------------------------------------------

/// What the client wrote since the last call, whole: each action's header lines.
fn written(peer: &mut Peer, conn: &mut Connection) -> Vec<Vec<(String, String)>> {
    let mut wire = Vec::new();
    let _ = conn.poll_transmit(&mut wire);
    assert_eq!(peer.dec.feed(&wire), wire.len());
    let mut out = Vec::new();
    while let Some(Frame::Message(m)) = peer.dec.decode().unwrap() {
        out.push(
            m.iter()
                .map(|h| (h.name_str().unwrap().into(), h.value_str().unwrap().into()))
                .collect(),
        );
    }
    out
}

fn resumable() -> ConnectionConfig {
    let mut cfg = config();
    cfg.resumable = true;
    cfg
}

/// Answers the login of a new session (whose ActionID is `id`).
fn accept_login(conn: &mut Connection, id: &str) {
    feed(
        conn,
        format!("Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n")
            .as_bytes(),
    );
}

/// A server-side filter added and accepted on the session.
fn add_filter(conn: &mut Connection, peer: &mut Peer, pattern: &str, t: Instant) {
    let f = conn.send(Action::filter_add(pattern), t).unwrap();
    let _ = peer.read(conn);
    feed(
        conn,
        format!("Response: Success\r\nActionID: {f}\r\nMessage: Filter Added Successfully\r\n\r\n")
            .as_bytes(),
    );
    let _ = outputs(conn);
}

/// The next session after a break: reconnect, banner, the new login accepted. Returns the
/// new session's peer.
fn next_session(conn: &mut Connection, t: Instant) -> Peer {
    conn.reconnect(t).unwrap();
    let mut peer = Peer::new();
    feed(conn, b"Asterisk Call Manager/11.0.0\r\n");
    let _ = outputs(conn);
    let login = peer.read(conn);
    assert_eq!(login[0].0, "Login");
    accept_login(conn, &login[0].1);
    assert_eq!(outputs(conn), ["LoggedIn"]);
    peer
}

#[test]
fn reconnect_carries_the_mask_the_filters_and_the_actions_never_written() {
    let t0 = Instant::now();
    let (mut conn, mut peer) = logged_in(resumable(), t0);
    // Session state changed by actions: the event mask and a server-side filter.
    let events = conn.send(Action::events("call,user"), t0).unwrap();
    let filter = conn.send(Action::filter_add("Event: Dial.*"), t0).unwrap();
    assert_eq!(peer.read(&mut conn).len(), 2);
    feed(
        &mut conn,
        format!(
            "Response: Success\r\nActionID: {events}\r\nEvents: On\r\n\r\n\
             Response: Success\r\nActionID: {filter}\r\nMessage: Filter Added Successfully\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(outputs(&mut conn).len(), 2);
    assert_eq!(conn.event_mask(), &EventMask::parse("call,user"));
    assert_eq!(conn.server_filters().len(), 1);

    // One action written (its outcome becomes unknown), one queued but never written.
    let written_id = conn.send(Action::ping(), t0).unwrap();
    assert_eq!(
        peer.read(&mut conn),
        [("Ping".into(), written_id.to_string())]
    );
    let unsent = conn
        .send(Action::new("CoreStatus").action_id("mine"), t0)
        .unwrap();
    conn.receive_eof();
    assert_eq!(
        outputs(&mut conn),
        [
            format!("Failed {written_id} Closed {{ sent: true }}"),
            "Closed PeerClosed".to_owned(),
        ],
        "the action never written does not fail"
    );
    assert_eq!(conn.pending(), 1);
    // While the transport reconnects, new actions wait too.
    let later = conn.send(Action::new("CoreSettings"), t0).unwrap();
    assert_eq!(conn.pending(), 2);

    let t1 = t0 + Duration::from_secs(5);
    conn.reconnect(t1).unwrap();
    assert!(!conn.is_closed());
    let mut peer = Peer::new();
    feed(&mut conn, b"Asterisk Call Manager/11.0.0\r\n");
    assert_eq!(
        outputs(&mut conn),
        ["Connected Asterisk Call Manager/11.0.0"]
    );
    // Only the login, with the mask in force.
    let login = written(&mut peer, &mut conn);
    assert_eq!(login.len(), 1, "{login:?}");
    let header = |a: &[(String, String)], k: &str| {
        a.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header(&login[0], "Action").as_deref(), Some("Login"));
    assert_eq!(header(&login[0], "Events").as_deref(), Some("call,user"));
    let login_id = header(&login[0], "ActionID").unwrap();
    accept_login(&mut conn, &login_id);
    assert_eq!(outputs(&mut conn), ["LoggedIn"]);
    // The filter replayed first, then the kept actions in the order they were sent.
    let after = written(&mut peer, &mut conn);
    let names: Vec<_> = after.iter().map(|a| header(a, "Action").unwrap()).collect();
    assert_eq!(names, ["Filter", "CoreStatus", "CoreSettings"]);
    assert_eq!(
        header(&after[0], "Filter").as_deref(),
        Some("Event: Dial.*")
    );
    assert_eq!(header(&after[1], "ActionID").as_deref(), Some("mine"));
    assert_eq!(header(&after[2], "ActionID"), Some(later.to_string()));
    assert!(!after
        .iter()
        .any(|a| header(a, "ActionID") == Some(written_id.to_string())));
    // The replayed filter's answer is the core's own: not reported, kept for the next session.
    let replay_id = header(&after[0], "ActionID").unwrap();
    assert_eq!(conn.server_filters().len(), 0);
    feed(
        &mut conn,
        format!(
            "Response: Success\r\nActionID: {replay_id}\r\nMessage: Filter Added Successfully\r\n\r\n\
             Response: Success\r\nActionID: mine\r\n\r\n\
             Response: Success\r\nActionID: {later}\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(
        outputs(&mut conn),
        [
            format!("Response {unsent} Success items=0 complete=false"),
            format!("Response {later} Success items=0 complete=false"),
        ]
    );
    assert_eq!(conn.server_filters().len(), 1);
    assert_eq!(conn.pending(), 0);
}

#[test]
fn a_replayed_filter_the_server_refuses_is_dropped() {
    let t0 = Instant::now();
    let (mut conn, mut peer) = logged_in(resumable(), t0);
    add_filter(&mut conn, &mut peer, "!Event: Newexten", t0);
    conn.receive_eof();
    assert_eq!(outputs(&mut conn), ["Closed PeerClosed"]);
    let mut peer = next_session(&mut conn, t0);
    let replay = peer.read(&mut conn);
    assert_eq!(replay[0].0, "Filter");
    feed(
        &mut conn,
        format!(
            "Response: Error\r\nActionID: {}\r\nMessage: Permission denied\r\n\r\n",
            replay[0].1
        )
        .as_bytes(),
    );
    assert!(outputs(&mut conn).is_empty());
    assert!(conn.server_filters().is_empty());
}

#[test]
fn actions_kept_for_the_next_session_expire_and_fail_on_close() {
    let t0 = Instant::now();
    let (mut conn, _peer) = logged_in(resumable(), t0);
    conn.receive_eof();
    assert_eq!(outputs(&mut conn), ["Closed PeerClosed"]);
    assert_eq!(conn.poll_timeout(), None);
    let short = conn
        .send_with_timeout(Action::ping(), Duration::from_secs(1), t0)
        .unwrap();
    let long = conn
        .send_with_timeout(Action::ping(), Duration::from_secs(60), t0)
        .unwrap();
    // A closed connection still has deadlines: those of the actions it keeps.
    assert_eq!(conn.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    conn.handle_timeout(t0 + Duration::from_secs(1));
    assert_eq!(
        outputs(&mut conn),
        [format!("Failed {short} TimedOut {{ sent: false }}")]
    );
    assert_eq!(conn.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    // Giving up: what was kept fails now, and no session can follow.
    conn.close();
    assert_eq!(
        outputs(&mut conn),
        [format!("Failed {long} Closed {{ sent: false }}")]
    );
    assert_eq!(conn.pending(), 0);
    assert_eq!(conn.reconnect(t0), Err(LocalError::Closed));
    assert_eq!(conn.send(Action::ping(), t0), Err(LocalError::Closed));
}

#[test]
fn without_resumable_the_actions_never_written_fail_at_the_close() {
    let t0 = Instant::now();
    let (mut conn, _peer) = logged_in(config(), t0);
    let unsent = conn.send(Action::ping(), t0).unwrap();
    conn.receive_eof();
    assert_eq!(
        outputs(&mut conn),
        [
            format!("Failed {unsent} Closed {{ sent: false }}"),
            "Closed PeerClosed".to_owned()
        ]
    );
    assert_eq!(conn.send(Action::ping(), t0), Err(LocalError::Closed));
    // Still, a next session can be started: with nothing carried but the settings.
    conn.reconnect(t0).unwrap();
    feed(&mut conn, b"Asterisk Call Manager/11.0.0\r\n");
    assert_eq!(
        outputs(&mut conn),
        ["Connected Asterisk Call Manager/11.0.0"]
    );
}

#[test]
fn no_session_follows_a_logoff() {
    let t0 = Instant::now();
    let (mut conn, mut peer) = logged_in(resumable(), t0);
    let bye = conn.logoff(t0).unwrap();
    let _ = peer.read(&mut conn);
    feed(
        &mut conn,
        format!(
            "Response: Goodbye\r\nActionID: {bye}\r\nMessage: Thanks for all the fish.\r\n\r\n"
        )
        .as_bytes(),
    );
    conn.receive_eof();
    let out = outputs(&mut conn);
    assert_eq!(out.last().unwrap(), "Closed Logoff");
    assert_eq!(conn.reconnect(t0), Err(LocalError::Closed));
}

#[test]
fn reconnect_on_a_live_connection_closes_it_first() {
    let t0 = Instant::now();
    let (mut conn, mut peer) = logged_in(resumable(), t0);
    let sent = conn.send(Action::ping(), t0).unwrap();
    let _ = peer.read(&mut conn);
    conn.reconnect(t0).unwrap();
    assert_eq!(
        outputs(&mut conn),
        [
            format!("Failed {sent} Closed {{ sent: true }}"),
            "Closed Local".to_owned()
        ]
    );
    assert!(!conn.is_closed());
}

#[test]
fn close_reasons_say_whether_a_reconnect_can_help() {
    assert!(CloseReason::PeerClosed.may_reconnect());
    assert!(CloseReason::ClosedDuringLogin.may_reconnect());
    assert!(CloseReason::KeepaliveTimeout.may_reconnect());
    assert!(CloseReason::LoginTimeout.may_reconnect());
    assert!(!CloseReason::Logoff.may_reconnect());
    assert!(!CloseReason::Local.may_reconnect());
    assert!(!CloseReason::LoginFailed {
        message: "Authentication failed".into()
    }
    .may_reconnect());
    assert_eq!(
        CloseReason::LoginFailed {
            message: "Authentication failed".into()
        }
        .to_string(),
        "login refused: Authentication failed"
    );
}

#[test]
fn a_login_that_cannot_be_encoded_is_typed() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.login = Some(Credentials::plain("admin\r\nAction: Command", "amp111"));
    let mut conn = Connection::new(cfg, t0);
    let mut peer = Peer::new();
    feed(&mut conn, b"Asterisk Call Manager/11.0.0\r\n");
    let out = outputs(&mut conn);
    assert_eq!(out[0], "Connected Asterisk Call Manager/11.0.0");
    assert!(out[1].starts_with("Closed InvalidLogin("), "{out:?}");
    assert!(!out[1].contains("amp111"));
    assert!(peer.read(&mut conn).is_empty(), "nothing written");
    assert!(
        !CloseReason::InvalidLogin(amiwire::EncodeError::TooManyHeaders { limit: 1 })
            .may_reconnect()
    );
}

#[test]
fn a_generated_id_never_takes_one_the_caller_chose() {
    let t0 = Instant::now();
    let mut conn = Connection::new(config(), t0);
    let mut peer = Peer::new();
    // The caller picks the ID the generator would give the login next.
    let mine = conn.send(Action::ping().action_id("t-1"), t0).unwrap();
    feed(&mut conn, b"Asterisk Call Manager/11.0.0\r\n");
    let _ = outputs(&mut conn);
    let login = peer.read(&mut conn);
    assert_eq!(login, [("Login".into(), "t-2".into())]);
    accept_login(&mut conn, "t-2");
    assert_eq!(outputs(&mut conn), ["LoggedIn"]);
    assert_eq!(peer.read(&mut conn), [("Ping".into(), mine.to_string())]);
}

#[test]
fn huge_timeouts_mean_never_and_do_not_panic() {
    let t0 = Instant::now();
    let mut cfg = resumable();
    cfg.login_timeout = Duration::MAX;
    cfg.action_timeout = Duration::MAX;
    cfg.keepalive = Some(Duration::MAX);
    cfg.pong_timeout = Duration::MAX;
    let (mut conn, mut peer) = logged_in(cfg, t0);
    let a = conn.send(Action::ping(), t0).unwrap();
    let b = conn
        .send_with_timeout(Action::ping(), Duration::MAX, t0)
        .unwrap();
    let _ = peer.read(&mut conn);
    assert_eq!(conn.poll_timeout(), None, "nothing ever expires");
    let far = t0 + Duration::from_secs(100 * 365 * 24 * 3600);
    conn.handle_timeout(far);
    assert!(outputs(&mut conn).is_empty());
    assert!(peer.read(&mut conn).is_empty(), "no keepalive Ping either");
    assert_eq!(conn.pending(), 2);
    conn.close();
    let out = outputs(&mut conn);
    assert!(out.contains(&format!("Failed {a} Closed {{ sent: true }}")));
    assert!(out.contains(&format!("Failed {b} Closed {{ sent: true }}")));
    // The same on a fresh connection before its banner, with every limit at zero.
    let mut cfg = config();
    cfg.login_timeout = Duration::MAX;
    cfg.max_pending = 0;
    cfg.max_queued_bytes = 0;
    cfg.max_list_items = 0;
    let mut conn = Connection::new(cfg, t0);
    assert_eq!(conn.poll_timeout(), None);
    assert!(matches!(
        conn.send(Action::ping(), t0),
        Err(LocalError::TooManyPending { limit: 0 })
    ));
    conn.handle_timeout(far);
    assert!(outputs(&mut conn).is_empty());
}

#[test]
fn after_a_reconnect_answers_without_actionid_match_in_the_order_written() {
    let t0 = Instant::now();
    let (mut conn, mut peer) = logged_in(resumable(), t0);
    add_filter(&mut conn, &mut peer, "Event: Dial.*", t0);
    let kept = conn.send(Action::ping(), t0).unwrap();
    conn.receive_eof();
    assert_eq!(outputs(&mut conn), ["Closed PeerClosed"]);
    let mut peer = next_session(&mut conn, t0);
    let names: Vec<String> = peer.read(&mut conn).into_iter().map(|(a, _)| a).collect();
    assert_eq!(names, ["Filter", "Ping"]);
    // A server that drops ActionIDs answers in order: the replay first, then the kept Ping.
    feed(
        &mut conn,
        b"Response: Error\r\nMessage: Permission denied\r\n\r\n\
          Response: Success\r\nPing: Pong\r\n\r\n",
    );
    assert_eq!(
        outputs(&mut conn),
        [format!("Response {kept} Success items=0 complete=false")]
    );
    assert!(
        conn.server_filters().is_empty(),
        "the refusal was the replay's"
    );
}
