//! Tests of action encoding: exact bytes against what real clients sent to Asterisk 22
//! (the expected strings are copied from the capture corpus), header injection, Asterisk's
//! limits, ActionIDs and secrets.

use amiwire::action::{Originate, MAX_HEADERS, MAX_LINE_LEN};
use amiwire::{Action, ActionId, ActionIdGenerator, EncodeError};
use proptest::prelude::*;
use std::collections::HashSet;

fn bytes(a: &Action) -> String {
    String::from_utf8(a.to_bytes().unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Exact bytes of the typed helpers (from the corpus captures)
// ---------------------------------------------------------------------------------------------

#[test]
fn crate_doc_example() {
    let ping = Action::new("Ping").action_id("p1");
    assert_eq!(
        ping.to_bytes().unwrap(),
        b"Action: Ping\r\nActionID: p1\r\n\r\n"
    );
}

#[test]
fn login_ping_logoff() {
    // 01-login-ping-logoff.admin
    let login = Action::login("admin", "amp111").action_id("login-1");
    assert_eq!(
        bytes(&login),
        "Action: Login\r\nActionID: login-1\r\nUsername: admin\r\nSecret: amp111\r\n\r\n"
    );
    let ping = Action::ping().action_id("ping-2");
    assert_eq!(bytes(&ping), "Action: Ping\r\nActionID: ping-2\r\n\r\n");
    let logoff = Action::logoff().action_id("logoff-3");
    assert_eq!(
        bytes(&logoff),
        "Action: Logoff\r\nActionID: logoff-3\r\n\r\n"
    );
}

#[test]
fn login_with_events_off() {
    // 04-command
    let login = Action::login("admin", "amp111")
        .header("Events", "off")
        .action_id("login-20");
    assert_eq!(
        bytes(&login),
        "Action: Login\r\nActionID: login-20\r\nUsername: admin\r\nSecret: amp111\r\nEvents: off\r\n\r\n"
    );
}

#[test]
fn challenge_and_md5_login() {
    // 03-challenge-md5.good-key
    let challenge = Action::challenge().action_id("challenge-12");
    assert_eq!(
        bytes(&challenge),
        "Action: Challenge\r\nActionID: challenge-12\r\nAuthType: md5\r\n\r\n"
    );
    let login = Action::login_md5("admin", "d3c6f84cd08dad2fdfa486604be78a90")
        .action_id("login-13")
        .header("Events", "off");
    assert_eq!(
        bytes(&login),
        "Action: Login\r\nActionID: login-13\r\nAuthType: md5\r\nUsername: admin\r\n\
         Key: d3c6f84cd08dad2fdfa486604be78a90\r\nEvents: off\r\n\r\n"
    );
}

#[test]
fn command() {
    // 04-command
    let cmd = Action::command("core show version").action_id("command-21");
    assert_eq!(
        bytes(&cmd),
        "Action: Command\r\nActionID: command-21\r\nCommand: core show version\r\n\r\n"
    );
}

#[test]
fn getvar_setvar_waitevent_listcommands() {
    // 05-info-actions
    let a = Action::getvar("TESTGLOBAL", None).action_id("getvar-34");
    assert_eq!(
        bytes(&a),
        "Action: Getvar\r\nActionID: getvar-34\r\nVariable: TESTGLOBAL\r\n\r\n"
    );
    let a = Action::setvar("TESTGLOBAL", "set-by-ami", None).action_id("setvar-35");
    assert_eq!(
        bytes(&a),
        "Action: Setvar\r\nActionID: setvar-35\r\nVariable: TESTGLOBAL\r\nValue: set-by-ami\r\n\r\n"
    );
    let a = Action::getvar("GLOBAL(TESTGLOBAL)", None).action_id("getvar-39");
    assert_eq!(
        bytes(&a),
        "Action: Getvar\r\nActionID: getvar-39\r\nVariable: GLOBAL(TESTGLOBAL)\r\n\r\n"
    );
    let a = Action::getvar("FOO", Some("Local/nochan@test-00000000;1")).action_id("getvar-40");
    assert_eq!(
        bytes(&a),
        "Action: Getvar\r\nActionID: getvar-40\r\nVariable: FOO\r\n\
         Channel: Local/nochan@test-00000000;1\r\n\r\n"
    );
    let a = Action::setvar("X", "y", Some("SIP/a-1"));
    assert_eq!(
        bytes(&a),
        "Action: Setvar\r\nVariable: X\r\nValue: y\r\nChannel: SIP/a-1\r\n\r\n"
    );
    let a = Action::wait_event(Some(1)).action_id("waitevent-45");
    assert_eq!(
        bytes(&a),
        "Action: WaitEvent\r\nActionID: waitevent-45\r\nTimeout: 1\r\n\r\n"
    );
    assert_eq!(
        bytes(&Action::wait_event(None)),
        "Action: WaitEvent\r\n\r\n"
    );
    let a = Action::list_commands().action_id("listcommands-31");
    assert_eq!(
        bytes(&a),
        "Action: ListCommands\r\nActionID: listcommands-31\r\n\r\n"
    );
}

#[test]
fn event_lists() {
    // 06-event-lists
    let a = Action::core_show_channels().action_id("coreshowchannels-60");
    assert_eq!(
        bytes(&a),
        "Action: CoreShowChannels\r\nActionID: coreshowchannels-60\r\n\r\n"
    );
    let a = Action::status(None).action_id("status-61");
    assert_eq!(bytes(&a), "Action: Status\r\nActionID: status-61\r\n\r\n");
    let a = Action::status(Some("Local/400@test-0000000b;1"))
        .action_id("status-62")
        .header("Variables", "FOO,CALLERID(num)")
        .header("AllVariables", "true");
    assert_eq!(
        bytes(&a),
        "Action: Status\r\nActionID: status-62\r\nChannel: Local/400@test-0000000b;1\r\n\
         Variables: FOO,CALLERID(num)\r\nAllVariables: true\r\n\r\n"
    );
    let a = Action::queue_status(None).action_id("queuestatus-64");
    assert_eq!(
        bytes(&a),
        "Action: QueueStatus\r\nActionID: queuestatus-64\r\n\r\n"
    );
    let a = Action::queue_status(Some("support"));
    assert_eq!(bytes(&a), "Action: QueueStatus\r\nQueue: support\r\n\r\n");
    // A generic action.
    let a = Action::new("ConfbridgeList")
        .action_id("confbridgelist-72")
        .header("Conference", "1234");
    assert_eq!(
        bytes(&a),
        "Action: ConfbridgeList\r\nActionID: confbridgelist-72\r\nConference: 1234\r\n\r\n"
    );
}

#[test]
fn originate() {
    // 07-originate
    let a = Originate::to_application("Local/100@test", "Wait", "3")
        .asynchronous(true)
        .caller_id("AMI Test <1000>")
        .build()
        .action_id("orig-async-ok");
    assert_eq!(
        bytes(&a),
        "Action: Originate\r\nActionID: orig-async-ok\r\nChannel: Local/100@test\r\n\
         Application: Wait\r\nData: 3\r\nAsync: true\r\nCallerID: AMI Test <1000>\r\n\r\n"
    );

    let a = Originate::to_exten("Local/100@test", "test", "999", 1)
        .asynchronous(true)
        .build()
        .action_id("orig-async-badexten");
    assert_eq!(
        bytes(&a),
        "Action: Originate\r\nActionID: orig-async-badexten\r\nChannel: Local/100@test\r\n\
         Context: test\r\nExten: 999\r\nPriority: 1\r\nAsync: true\r\n\r\n"
    );

    let a = Originate::to_application("Local/100@test", "Wait", "1")
        .asynchronous(false)
        .build()
        .action_id("orig-sync-ok");
    assert_eq!(
        bytes(&a),
        "Action: Originate\r\nActionID: orig-sync-ok\r\nChannel: Local/100@test\r\n\
         Application: Wait\r\nData: 1\r\nAsync: false\r\n\r\n"
    );

    let a = Originate::to_application("Local/999@nosuchcontext", "Wait", "1")
        .build()
        .action_id("orig-sync-fail");
    assert_eq!(
        bytes(&a),
        "Action: Originate\r\nActionID: orig-sync-fail\r\nChannel: Local/999@nosuchcontext\r\n\
         Application: Wait\r\nData: 1\r\n\r\n"
    );

    let a = Originate::to_exten("Local/300@test", "test", "100", "1")
        .asynchronous(true)
        .variable("V1", "one")
        .variable("V2", "two")
        .channel_id("my-uniqueid-1")
        .other_channel_id("my-uniqueid-2")
        .build()
        .action_id("orig-async-vars");
    assert_eq!(
        bytes(&a),
        "Action: Originate\r\nActionID: orig-async-vars\r\nChannel: Local/300@test\r\n\
         Context: test\r\nExten: 100\r\nPriority: 1\r\nAsync: true\r\n\
         Variable: V1=one\r\nVariable: V2=two\r\n\
         ChannelId: my-uniqueid-1\r\nOtherChannelId: my-uniqueid-2\r\n\r\n"
    );
}

#[test]
fn originate_all_options() {
    let a = Originate::to_exten("PJSIP/100", "from-internal", "200", "start")
        .asynchronous(true)
        .caller_id("\"Front desk\" <100>")
        .timeout_ms(30_000)
        .account("acct-7")
        .early_media(true)
        .codecs("ulaw,alaw")
        .variable("CDR(userfield)", "a,b")
        .build();
    assert_eq!(
        bytes(&a),
        "Action: Originate\r\nChannel: PJSIP/100\r\nContext: from-internal\r\nExten: 200\r\n\
         Priority: start\r\nAsync: true\r\nCallerID: \"Front desk\" <100>\r\nTimeout: 30000\r\n\
         Account: acct-7\r\nEarlyMedia: true\r\nCodecs: ulaw,alaw\r\n\
         Variable: CDR(userfield)=a\\,b\r\n\r\n"
    );
    let a = Originate::to_application("Local/1@x", "Answer", "")
        .timeout_ms(u32::MAX)
        .build();
    assert_eq!(
        bytes(&a),
        "Action: Originate\r\nChannel: Local/1@x\r\nApplication: Answer\r\nTimeout: 2147483647\r\n\r\n"
    );
}

#[test]
fn user_event_events_redirect_hangup() {
    // 09a-userevent
    let a = Action::user_event("AmiTestEvent", &[("Header1", "value one"), ("Foo", "bar")])
        .action_id("userevent-89");
    assert_eq!(
        bytes(&a),
        "Action: UserEvent\r\nActionID: userevent-89\r\nUserEvent: AmiTestEvent\r\n\
         Header1: value one\r\nFoo: bar\r\n\r\n"
    );
    let a = Action::user_event("Empty", &[]).action_id("userevent-90");
    assert_eq!(
        bytes(&a),
        "Action: UserEvent\r\nActionID: userevent-90\r\nUserEvent: Empty\r\n\r\n"
    );
    // 09b-events-toggle
    let a = Action::events("off").action_id("events-93");
    assert_eq!(
        bytes(&a),
        "Action: Events\r\nActionID: events-93\r\nEventMask: off\r\n\r\n"
    );
    let a = Action::events("call,user").action_id("events-95");
    assert_eq!(
        bytes(&a),
        "Action: Events\r\nActionID: events-95\r\nEventMask: call,user\r\n\r\n"
    );
    // 09c-redirect-hangup
    let a =
        Action::redirect("Local/600@test-0000001a;2", "test", "700", 1).action_id("redirect-100");
    assert_eq!(
        bytes(&a),
        "Action: Redirect\r\nActionID: redirect-100\r\nChannel: Local/600@test-0000001a;2\r\n\
         Context: test\r\nExten: 700\r\nPriority: 1\r\n\r\n"
    );
    let a = Action::hangup("Local/600@test-0000001b;1", Some(16)).action_id("hangup-102");
    assert_eq!(
        bytes(&a),
        "Action: Hangup\r\nActionID: hangup-102\r\nChannel: Local/600@test-0000001b;1\r\n\
         Cause: 16\r\n\r\n"
    );
    let a = Action::hangup("Local/nosuch@test-00000000;1", None).action_id("hangup-103");
    assert_eq!(
        bytes(&a),
        "Action: Hangup\r\nActionID: hangup-103\r\nChannel: Local/nosuch@test-00000000;1\r\n\r\n"
    );
}

#[test]
fn other_helpers() {
    let a = Action::redirect_both("SIP/a-1", "ctx", "100", 1, "SIP/b-2", "ctx2", "200", 2);
    assert_eq!(
        bytes(&a),
        "Action: Redirect\r\nChannel: SIP/a-1\r\nContext: ctx\r\nExten: 100\r\nPriority: 1\r\n\
         ExtraChannel: SIP/b-2\r\nExtraContext: ctx2\r\nExtraExten: 200\r\nExtraPriority: 2\r\n\r\n"
    );
    let a = Action::filter_add("!Event: Newexten");
    assert_eq!(
        bytes(&a),
        "Action: Filter\r\nOperation: Add\r\nFilter: !Event: Newexten\r\n\r\n"
    );
    let a = Action::filter_add_criteria("action(exclude),name(Newchannel)", "");
    assert_eq!(
        bytes(&a),
        "Action: Filter\r\nOperation: Add\r\nMatchCriteria: action(exclude),name(Newchannel)\r\n\
         Filter: \r\n\r\n"
    );
    let a = Action::atxfer("SIP/a-1", "200", "internal");
    assert_eq!(
        bytes(&a),
        "Action: Atxfer\r\nChannel: SIP/a-1\r\nExten: 200\r\nContext: internal\r\n\r\n"
    );
    let a = Action::bridge("SIP/a-1", "SIP/b-2", true);
    assert_eq!(
        bytes(&a),
        "Action: Bridge\r\nChannel1: SIP/a-1\r\nChannel2: SIP/b-2\r\nTone: yes\r\n\r\n"
    );
    let a = Action::bridge("SIP/a-1", "SIP/b-2", false);
    assert!(bytes(&a).ends_with("Tone: no\r\n\r\n"));
}

// ---------------------------------------------------------------------------------------------
// Builder behaviour
// ---------------------------------------------------------------------------------------------

#[test]
fn accessors() {
    let a = Action::new("Originate")
        .header("Channel", "Local/1@x")
        .variable("A", "1")
        .variable("B", "2")
        .action_id("x-1");
    assert_eq!(a.name(), "Originate");
    assert_eq!(a.action_id_value(), Some("x-1"));
    assert_eq!(a.get("channel"), Some("Local/1@x"));
    assert_eq!(a.get("CHANNEL"), Some("Local/1@x"));
    assert_eq!(a.get("Nope"), None);
    assert_eq!(a.get("variable"), Some("A=1"));
    assert_eq!(a.get_all("Variable").collect::<Vec<_>>(), ["A=1", "B=2"]);
    assert_eq!(a.header_count(), 5);
    let hs: Vec<(&str, &str)> = a.headers().collect();
    assert_eq!(
        hs,
        [
            ("Action", "Originate"),
            ("ActionID", "x-1"),
            ("Channel", "Local/1@x"),
            ("Variable", "A=1"),
            ("Variable", "B=2"),
        ]
    );
    assert_eq!(a.encoded_len(), a.to_bytes().unwrap().len());
    let mut out = b"prefix".to_vec();
    a.encode(&mut out).unwrap();
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(&out[6..], &a.to_bytes().unwrap()[..]);
    assert!(a.validate().is_ok());
}

#[test]
fn action_id_is_replaced_and_kept_second() {
    let a = Action::new("Ping")
        .header("X", "1")
        .action_id("a")
        .action_id("b")
        .header("actionid", "c");
    assert_eq!(bytes(&a), "Action: Ping\r\nActionID: c\r\nX: 1\r\n\r\n");
    assert!(matches!(
        Action::new("Ping")
            .header("ActionID", "has space")
            .validate(),
        Err(EncodeError::InvalidActionId { .. })
    ));
}

#[test]
fn second_action_header_refused() {
    for key in ["Action", "action", "ACTION"] {
        assert!(matches!(
            Action::new("Ping").header(key, "Command").validate(),
            Err(EncodeError::InvalidKey { .. })
        ));
    }
}

#[test]
fn push_methods_leave_action_unchanged_on_error() {
    let mut a = Action::new("Ping");
    a.push_header("A", "1").push_variable("V", "x");
    assert_eq!(a.error(), None);
    let before = a.clone();
    assert!(a.push_header("B", "bad\r\n").validate().is_err());
    assert!(a.headers().eq(before.headers()));
    let mut b = before.clone();
    assert!(b.push_variable("B", "bad\n").validate().is_err());
    assert!(b.headers().eq(before.headers()));
}

#[test]
fn first_error_is_kept_and_later_calls_add_nothing() {
    let first = EncodeError::InvalidValue {
        key: "Channel".into(),
        reason: "contains a line feed (LF)",
    };
    // Consuming builder.
    let a = Action::new("Hangup")
        .header("Channel", "a\nb")
        .header("Cause", "16")
        .header("Bad:Key", "x")
        .variable("", "x")
        .action_id("has space");
    assert_eq!(a.error(), Some(&first));
    assert_eq!(a.validate(), Err(first.clone()));
    assert_eq!(a.to_bytes(), Err(first.clone()));
    assert_eq!(a.headers().collect::<Vec<_>>(), [("Action", "Hangup")]);
    assert_eq!(a.action_id_value(), None);
    // In place, the same.
    let mut b = Action::new("Hangup");
    b.push_header("Channel", "a\nb")
        .push_header("Cause", "16")
        .push_variable("", "x");
    assert_eq!(b, a);
    // A valid action has no error.
    let ok = Action::new("Hangup").header("Channel", "SIP/a-1");
    assert_eq!(ok.error(), None);
    assert_eq!(ok.validate(), Ok(()));
    // The typed helpers and Originate record the same way.
    assert_eq!(Action::hangup("a\nb", Some(16)).error(), Some(&first));
    assert_eq!(
        Originate::to_application("a\nb", "Wait", "1")
            .caller_id("x\ry")
            .build()
            .error(),
        Some(&first)
    );
    let filter = amiwire::filter::ManagerFilter::legacy("Event: Hangup").unwrap();
    assert_eq!(filter.to_action().error(), None);
}

#[test]
fn ids_on_an_action_with_an_error_do_not_panic() {
    let mut ids = ActionIdGenerator::with_prefix("t").unwrap();
    for mut a in [
        Action::new(""),
        Action::new("Bad\r\n"),
        Action::new("Ping").header("X", "\n"),
        Action::new("Ping").action_id(""),
    ] {
        let error = a.error().cloned().expect("an error");
        let id = a.ensure_action_id(&mut ids);
        assert_eq!(a.action_id_value(), Some(id.as_str()));
        assert_eq!(a.ensure_action_id(&mut ids), id);
        a.set_action_id(&ActionId::new("z").unwrap());
        assert_eq!(a.action_id_value(), Some("z"));
        // Still refused, with the same error.
        assert_eq!(a.to_bytes(), Err(error));
    }
    // A full action with an error: the reserved ActionID slot is still there.
    let mut full = Action::new("UserEvent");
    for i in 0..127 {
        full.push_header(format!("H{i}"), "v");
    }
    assert_eq!(
        full.error(),
        Some(&EncodeError::TooManyHeaders { limit: 128 })
    );
    full.ensure_action_id(&mut ids);
    assert_eq!(full.header_count(), 128);
}

#[test]
fn connection_send_refuses_an_action_with_an_error() {
    use amiwire::connection::{Connection, ConnectionConfig, Credentials, LocalError};
    use std::time::Instant;

    let now = Instant::now();
    let mut cfg = ConnectionConfig::new(Credentials::plain("admin", "amp111"));
    cfg.action_ids = ActionIdGenerator::with_prefix("t").unwrap();
    let mut conn = Connection::new(cfg, now);
    let mut wire = Vec::new();
    let _ = conn.receive(b"Asterisk Call Manager/11.0.0\r\n");
    while conn.poll_output().is_some() {}
    let _ = conn.poll_transmit(&mut wire);
    assert!(
        wire.starts_with(b"Action: Login\r\nActionID: t-1\r\n"),
        "{:?}",
        String::from_utf8_lossy(&wire)
    );
    let ok = b"Response: Success\r\nActionID: t-1\r\nMessage: Authentication accepted\r\n\r\n";
    assert_eq!(conn.receive(ok), ok.len());
    while conn.poll_output().is_some() {}

    let bad = Action::new("Originate").header("Channel", "100\r\nAction: Command");
    let expected = bad.error().cloned().expect("an error");
    match conn.send(bad, now) {
        Err(LocalError::Encode(e)) => assert_eq!(e, expected),
        other => panic!("expected LocalError::Encode, got {other:?}"),
    }
    // A bad name too.
    assert!(matches!(
        conn.send(Action::new("Core Show"), now),
        Err(LocalError::Encode(EncodeError::InvalidActionName { .. }))
    ));
    // Nothing of them was queued for the wire, while a good action is.
    wire.clear();
    assert_eq!(conn.poll_transmit(&mut wire), 0);
    let id = conn.send(Action::ping(), now).unwrap();
    assert_eq!(id, "t-2");
    let _ = conn.poll_transmit(&mut wire);
    assert_eq!(wire, b"Action: Ping\r\nActionID: t-2\r\n\r\n");
}

#[test]
fn ensure_action_id() {
    let mut ids = ActionIdGenerator::with_prefix("t").unwrap();
    let mut a = Action::ping();
    let id = a.ensure_action_id(&mut ids);
    assert_eq!(id, "t-1");
    assert_eq!(bytes(&a), "Action: Ping\r\nActionID: t-1\r\n\r\n");
    // Idempotent.
    assert_eq!(a.ensure_action_id(&mut ids), "t-1");
    // A caller-supplied ID is kept and the generator is not advanced.
    let mut b = Action::ping().action_id("mine");
    assert_eq!(b.ensure_action_id(&mut ids), "mine");
    let mut c = Action::logoff();
    assert_eq!(c.ensure_action_id(&mut ids), "t-2");
    // set_action_id
    let mut d = Action::ping();
    d.set_action_id(&ActionId::new("z").unwrap());
    assert_eq!(d.action_id_value(), Some("z"));
}

#[test]
fn poisoned_action_never_emits_bytes() {
    let bad = Action::new("Bad\r\nAction: Command");
    assert!(matches!(
        bad.validate(),
        Err(EncodeError::InvalidActionName { .. })
    ));
    assert!(matches!(
        bad.to_bytes(),
        Err(EncodeError::InvalidActionName { .. })
    ));
    assert_eq!(bad.encoded_len(), 0);
    let mut out = b"keep".to_vec();
    assert!(bad.encode(&mut out).is_err());
    assert_eq!(out, b"keep");
    assert!(Action::new("Bad\r\n").action_id("x").validate().is_err());
    assert!(Action::new("Bad\r\n").header("A", "b").validate().is_err());
    assert!(Action::new("Bad\r\n")
        .variable("A", "b")
        .validate()
        .is_err());
    for name in ["", "Ping Pong", " Ping", "Ping\n", "Pi\0ng", "Pïng"] {
        assert!(Action::new(name).validate().is_err(), "{name:?}");
        assert!(Action::new(name).to_bytes().is_err(), "{name:?}");
    }
    assert!(Action::new("Ping").validate().is_ok());
    let err = Action::new("Bad\r\nAction: Command")
        .validate()
        .unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("Bad\\r\\nAction: Command"), "{shown}");
    assert!(!shown.contains('\r') && !shown.contains('\n'));
}

// ---------------------------------------------------------------------------------------------
// Injection
// ---------------------------------------------------------------------------------------------

const PAYLOADS: &[&str] = &[
    "100\r\nAction: Command\r\nCommand: core stop now",
    "100\r\nAction: Command",
    "100\rAction: Command",
    "100\nAction: Command",
    "\r\n",
    "\r",
    "\n",
    "a\0b",
    "a\x1bb",
    "a\x7fb",
];

#[test]
fn injection_in_values_refused() {
    for p in PAYLOADS {
        assert!(
            matches!(
                Action::new("Originate").header("Channel", p).validate(),
                Err(EncodeError::InvalidValue { .. })
            ),
            "{p:?}"
        );
        assert!(Action::command(p).validate().is_err(), "{p:?}");
        assert!(Action::hangup(p, None).validate().is_err(), "{p:?}");
        assert!(
            Action::redirect("a", "b", p, 1).validate().is_err(),
            "{p:?}"
        );
        assert!(
            Action::redirect("a", "b", "c", p).validate().is_err(),
            "{p:?}"
        );
        assert!(Action::getvar("X", Some(p)).validate().is_err(), "{p:?}");
        assert!(Action::login("admin", p).validate().is_err(), "{p:?}");
        assert!(
            Action::user_event("E", &[("K", p)]).validate().is_err(),
            "{p:?}"
        );
        assert!(Action::status(Some(p)).validate().is_err(), "{p:?}");
        assert!(
            Originate::to_exten(*p, "c", "e", 1)
                .build()
                .validate()
                .is_err(),
            "{p:?}"
        );
        assert!(
            Originate::to_application("c", "Wait", *p)
                .build()
                .validate()
                .is_err(),
            "{p:?}"
        );
        assert!(
            Originate::to_application("c", "Wait", "1")
                .caller_id(*p)
                .build()
                .validate()
                .is_err(),
            "{p:?}"
        );
        assert!(
            matches!(
                Action::new("Originate").variable("V", p).validate(),
                Err(EncodeError::InvalidVariable { .. })
            ),
            "{p:?}"
        );
        assert!(
            Originate::to_application("c", "Wait", "1")
                .variable("V", *p)
                .build()
                .validate()
                .is_err(),
            "{p:?}"
        );
        assert!(
            Action::new("Ping").action_id(p).validate().is_err(),
            "{p:?}"
        );
        assert!(ActionId::new(p).is_err(), "{p:?}");
    }
}

#[test]
fn tab_and_unicode_values_allowed() {
    let a = Action::new("UserEvent").header("Text", "a\tb — ünïcödé");
    assert_eq!(
        bytes(&a),
        "Action: UserEvent\r\nText: a\tb — ünïcödé\r\n\r\n"
    );
    // Leading blanks are allowed (Asterisk skips them when it reads the header).
    let a = Action::new("UserEvent").header("Text", "  x ");
    assert_eq!(bytes(&a), "Action: UserEvent\r\nText:   x \r\n\r\n");
    // Empty values too.
    let a = Action::new("UserEvent").header("Text", "");
    assert_eq!(bytes(&a), "Action: UserEvent\r\nText: \r\n\r\n");
}

#[test]
fn bad_keys_refused() {
    let bad_keys = [
        "",
        "Chan:nel",
        "Channel:",
        ":",
        "Chan\r\nnel",
        "Chan\rnel",
        "Chan\nnel",
        "Chan\0nel",
        "Chan\tnel",
        " Channel",
        "Channel ",
        "Chännel",
        "X\r\nAction: Command",
    ];
    for k in bad_keys {
        assert!(
            matches!(
                Action::new("Ping").header(k, "v").validate(),
                Err(EncodeError::InvalidKey { .. })
            ),
            "{k:?}"
        );
        assert!(
            Action::user_event("E", &[(k, "v")]).validate().is_err(),
            "{k:?}"
        );
    }
    // A space inside a key is accepted.
    assert!(Action::new("UserEvent")
        .header("My Header", "v")
        .validate()
        .is_ok());
}

#[test]
fn bad_variables_refused() {
    for name in ["", "A=B", "A\r", "A\n", " A", "A ", "A\0"] {
        assert!(
            matches!(
                Action::new("Originate").variable(name, "v").validate(),
                Err(EncodeError::InvalidVariable { .. })
            ),
            "{name:?}"
        );
    }
    // '=' in the value is fine (Asterisk splits at the first one); commas, quotes and
    // backslashes are escaped.
    let a = Action::new("Originate")
        .variable("A", "x=y")
        .variable("B", "1,2")
        .variable("C", "say \"hi\"")
        .variable("D", "c:\\dir")
        .variable("CALLERID(num)", "");
    assert_eq!(
        bytes(&a),
        "Action: Originate\r\nVariable: A=x=y\r\nVariable: B=1\\,2\r\n\
         Variable: C=say \\\"hi\\\"\r\nVariable: D=c:\\\\dir\r\nVariable: CALLERID(num)=\r\n\r\n"
    );
    // A raw Variable header is not escaped.
    let a = Action::new("Originate").header("Variable", "A=1,B=2");
    assert_eq!(bytes(&a), "Action: Originate\r\nVariable: A=1,B=2\r\n\r\n");
}

// ---------------------------------------------------------------------------------------------
// Asterisk's limits
// ---------------------------------------------------------------------------------------------

#[test]
fn line_length_boundary() {
    assert_eq!(MAX_LINE_LEN, 1024);
    // "Data: " + value + "\r\n" = 1024 bytes: the longest line Asterisk reads.
    let ok = "x".repeat(1024 - "Data: ".len() - 2);
    let a = Action::new("UserEvent").header("Data", &ok);
    let wire = a.to_bytes().unwrap();
    let expected = format!("Action: UserEvent\r\nData: {ok}\r\n\r\n");
    assert_eq!(wire, expected.as_bytes());
    assert_eq!(format!("Data: {ok}\r\n").len(), 1024);
    // One byte more: 1025 bytes with CRLF.
    let too_long = "x".repeat(ok.len() + 1);
    assert_eq!(
        Action::new("UserEvent")
            .header("Data", &too_long)
            .validate()
            .unwrap_err(),
        EncodeError::LineTooLong {
            key: "Data".into(),
            len: 1025,
            limit: 1024
        }
    );
    // The escaped form of a variable is what counts.
    let v = ",".repeat(600); // 1200 bytes once escaped
    assert!(matches!(
        Action::new("Originate").variable("V", &v).validate(),
        Err(EncodeError::LineTooLong { .. })
    ));
    // The Action line too.
    assert!(Action::new("A".repeat(1024 - "Action: ".len() - 2))
        .validate()
        .is_ok());
    assert!(matches!(
        Action::new("A".repeat(1024 - "Action: ".len() - 1)).validate(),
        Err(EncodeError::LineTooLong { .. })
    ));
    // And typed helpers.
    assert!(matches!(
        Action::command(&"y".repeat(2000)).validate(),
        Err(EncodeError::LineTooLong { .. })
    ));
}

#[test]
fn header_count_boundary() {
    assert_eq!(MAX_HEADERS, 128);
    // With an ActionID: Action + ActionID + 126 headers = 128 lines.
    let mut a = Action::new("UserEvent").action_id("id");
    for i in 0..126 {
        a.push_header(format!("H{i}"), "v");
    }
    assert_eq!(a.header_count(), 128);
    let full = a.clone();
    assert_eq!(
        a.push_header("H126", "v").validate().unwrap_err(),
        EncodeError::TooManyHeaders { limit: 128 }
    );
    assert_eq!(a.header_count(), 128);
    let mut v = full.clone();
    assert!(v.push_variable("V", "1").validate().is_err());
    assert_eq!(v.header_count(), 128);
    // Replacing the ActionID does not need a new line.
    let a = full.action_id("other");
    assert_eq!(a.header_count(), 128);
    let wire = a.to_bytes().unwrap();
    assert_eq!(wire.split(|&b| b == b'\n').count(), 128 + 2);

    // Without an ActionID, one line stays reserved for it.
    let mut b = Action::new("UserEvent");
    for i in 0..126 {
        b.push_header(format!("H{i}"), "v");
    }
    assert_eq!(b.header_count(), 127);
    assert!(matches!(
        b.push_header("H126", "v").validate(),
        Err(EncodeError::TooManyHeaders { limit: 128 })
    ));
    let mut ids = ActionIdGenerator::with_prefix("t").unwrap();
    b.ensure_action_id(&mut ids);
    assert_eq!(b.header_count(), 128);

    // Originate with too many variables.
    let mut o = Originate::to_application("Local/1@x", "Wait", "1");
    for i in 0..200 {
        o = o.variable(format!("V{i}"), "x");
    }
    assert_eq!(
        o.build().validate().unwrap_err(),
        EncodeError::TooManyHeaders { limit: 128 }
    );
}

// ---------------------------------------------------------------------------------------------
// ActionId and generator
// ---------------------------------------------------------------------------------------------

#[test]
fn action_id_validation() {
    let max = "a".repeat(64);
    assert_eq!(ActionId::new(&max).unwrap().as_str(), max);
    assert!(Action::new("Ping").action_id(&max).validate().is_ok());
    let over = "a".repeat(65);
    assert!(matches!(
        ActionId::new(&over),
        Err(EncodeError::InvalidActionId { .. })
    ));
    assert!(Action::new("Ping").action_id(&over).validate().is_err());
    for bad in ["", "a b", "a\tb", "é", "a\u{7f}", " a", "a\r\n"] {
        assert!(ActionId::new(bad).is_err(), "{bad:?}");
        assert!(ActionId::try_from(bad).is_err(), "{bad:?}");
    }
    for good in ["p1", "!", "~", "login-1", "a:b", "x/y;z@w"] {
        assert!(ActionId::new(good).is_ok(), "{good:?}");
    }
    let id = ActionId::try_from("abc").unwrap();
    assert_eq!(id.as_bytes(), b"abc");
    assert_eq!(id.to_string(), "abc");
    assert_eq!(id, "abc");
    assert_eq!("abc", id);
    assert_eq!("abc".parse::<ActionId>().unwrap(), id);
    assert_eq!(ActionId::try_from(String::from("abc")).unwrap(), id);
    assert_eq!(String::from(id.clone()), "abc");
    let mut set = HashSet::new();
    set.insert(id);
    assert!(set.contains("abc"));
}

#[test]
fn generator_with_prefix() {
    let mut g = ActionIdGenerator::with_prefix("t").unwrap();
    assert_eq!(g.prefix(), "t");
    assert_eq!(g.next_id(), "t-1");
    assert_eq!(g.next_id(), "t-2");
    assert_eq!(g.next_id(), "t-3");
    for bad in ["", "a b", "x\r\n", &"p".repeat(44)] {
        assert!(ActionIdGenerator::with_prefix(bad).is_err(), "{bad:?}");
    }
    let longest = "p".repeat(43);
    let mut g = ActionIdGenerator::with_prefix(&longest).unwrap();
    assert!(g.next_id().as_str().len() <= 64);
}

#[test]
fn generator_uniqueness() {
    let mut a = ActionIdGenerator::new();
    let mut b = ActionIdGenerator::new();
    let c = ActionIdGenerator::default();
    assert_ne!(a.prefix(), b.prefix());
    assert_ne!(a.prefix(), c.prefix());
    assert_ne!(b.prefix(), c.prefix());
    assert!(a.prefix().starts_with("aw"));
    assert_eq!(a.prefix().len(), 18);
    let mut seen = HashSet::new();
    for _ in 0..10_000 {
        let id = a.next_id();
        assert!(id.as_str().len() <= 64);
        assert_eq!(ActionId::new(id.as_str()).unwrap(), id);
        assert!(seen.insert(id));
    }
    for _ in 0..100 {
        assert!(seen.insert(b.next_id()));
    }
    let first = ActionIdGenerator::new().next_id();
    assert!(first.as_str().ends_with("-1"));
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

const SECRET: &str = "Sup3rS3cretValue";

#[test]
fn secrets_absent_from_debug() {
    let login = Action::login("admin", SECRET);
    let dbg = format!("{login:?}");
    assert!(!dbg.contains(SECRET), "{dbg}");
    assert!(dbg.contains("<redacted>"));
    assert!(dbg.contains("admin"));
    let dbg = format!("{login:#?}");
    assert!(!dbg.contains(SECRET), "{dbg}");

    let md5 = Action::login_md5("admin", SECRET);
    assert!(!format!("{md5:?}").contains(SECRET));

    let generic = Action::new("Login")
        .header("secret", SECRET)
        .header("KEY", SECRET);
    assert!(!format!("{generic:?}").contains(SECRET));

    // The data itself is still there for the encoder.
    assert_eq!(login.get("Secret"), Some(SECRET));
    assert!(bytes(&login).contains(SECRET));
}

#[test]
fn secrets_absent_from_errors() {
    let long_secret = format!("{SECRET}{}", "s".repeat(1100));
    let errors: Vec<EncodeError> = vec![
        Action::login("admin", &format!("{SECRET}\r\nAction: Command"))
            .validate()
            .unwrap_err(),
        Action::login("admin", &format!("{SECRET}\n"))
            .validate()
            .unwrap_err(),
        Action::login("admin", &format!("{SECRET}\0"))
            .validate()
            .unwrap_err(),
        Action::login("admin", &long_secret).validate().unwrap_err(),
        Action::login_md5("admin", &format!("{SECRET}\r"))
            .validate()
            .unwrap_err(),
        Action::new("Login")
            .header("Secret", &long_secret)
            .validate()
            .unwrap_err(),
        Action::new("Originate")
            .variable("PASSWORD", format!("{SECRET}\n"))
            .validate()
            .unwrap_err(),
        Action::new("Ping")
            .action_id(format!("{SECRET} with space"))
            .validate()
            .unwrap_err(),
        ActionId::new(format!("{SECRET}{}", "x".repeat(80))).unwrap_err(),
    ];
    for e in &errors {
        let display = e.to_string();
        let debug = format!("{e:?}");
        assert!(!display.contains(SECRET), "{display}");
        assert!(!debug.contains(SECRET), "{debug}");
    }
    // The key is named.
    assert!(errors[0].to_string().contains("Secret"));
    assert!(errors[3].to_string().contains("Secret"));
    assert!(errors[6].to_string().contains("PASSWORD"));
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn key_strategy() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9_-]{0,19}".prop_filter("reserved keys", |k| {
        !k.eq_ignore_ascii_case("Action") && !k.eq_ignore_ascii_case("ActionID")
    })
}

fn value_strategy() -> impl Strategy<Value = String> {
    // Printable ASCII, TAB and some non-ASCII text; no CR, LF or other control characters.
    "[ -~\t\u{a0}-\u{17f}\u{4e00}-\u{4e20}]{0,60}"
}

fn with_line_break() -> impl Strategy<Value = String> {
    (
        any::<String>(),
        prop_oneof![Just("\r"), Just("\n"), Just("\r\n")],
        any::<String>(),
    )
        .prop_map(|(a, brk, b)| format!("{a}{brk}{b}"))
}

proptest! {
    #[test]
    fn encoding_is_exact_concatenation(
        name in "[A-Za-z]{1,20}",
        headers in proptest::collection::vec((key_strategy(), value_strategy()), 0..30),
    ) {
        let mut action = Action::new(&name);
        for (k, v) in &headers {
            action.push_header(k, v);
        }
        prop_assert_eq!(action.error(), None);
        let mut expected = format!("Action: {name}\r\n");
        for (k, v) in &headers {
            expected.push_str(&format!("{k}: {v}\r\n"));
        }
        expected.push_str("\r\n");
        prop_assert_eq!(action.to_bytes().unwrap(), expected.as_bytes());
        prop_assert_eq!(action.encoded_len(), expected.len());
        prop_assert_eq!(action.header_count(), headers.len() + 1);
    }

    #[test]
    fn line_breaks_always_refused(s in with_line_break(), ok in "[A-Za-z]{1,10}") {
        prop_assert!(Action::new("X").header(&ok, &s).validate().is_err());
        prop_assert!(Action::new("X").header(&s, &ok).validate().is_err());
        prop_assert!(Action::new("X").variable(&s, &ok).validate().is_err());
        prop_assert!(Action::new("X").variable(&ok, &s).validate().is_err());
        prop_assert!(Action::new("X").action_id(&s).validate().is_err());
        prop_assert!(ActionId::new(&s).is_err());
        prop_assert!(Action::new(&s).validate().is_err());
        prop_assert!(Action::new(&s).to_bytes().is_err());
        prop_assert!(Action::command(&s).validate().is_err());
        prop_assert!(Action::login(&ok, &s).validate().is_err());
        prop_assert!(Originate::to_exten(s.clone(), "c", "e", 1).build().validate().is_err());
    }
}

/// Mostly a valid key or value (`valid`), sometimes with one troublesome character inserted,
/// sometimes `ActionID` or `Action` (keys), sometimes a line over the limit, sometimes any
/// string at all: both branches of the property below are taken often.
fn mostly(valid: &'static str) -> impl Strategy<Value = String> {
    let bad_char = prop_oneof![
        Just('\r'),
        Just('\n'),
        Just('\0'),
        Just('\x1b'),
        Just('\x7f'),
        Just('\t'),
        Just(' '),
        Just(':'),
        any::<char>(),
    ];
    prop_oneof![
        6 => valid,
        2 => (valid, bad_char, any::<prop::sample::Index>()).prop_map(|(s, c, at)| {
            // Every byte index is a char boundary: the valid patterns are ASCII.
            let mut s = s;
            s.insert(at.index(s.len() + 1), c);
            s
        }),
        1 => prop_oneof![Just("ActionID".to_owned()), Just("actionid".to_owned()), Just("Action".to_owned())],
        1 => "x{1010,1030}",
        1 => any::<String>(),
    ]
}

/// An independent statement of a bad key: empty, blanks around it, a colon, a control or
/// non-ASCII character.
fn bad_key(k: &str) -> bool {
    k.is_empty()
        || k.trim() != k
        || k.bytes()
            .any(|b| b == b':' || b < 0x20 || b == 0x7f || !b.is_ascii())
}

/// A control byte other than TAB.
fn bad_value(v: &str) -> bool {
    v.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

#[test]
fn accepted_actions_have_no_stray_line_breaks() {
    use proptest::test_runner::{Config, TestRunner};
    use std::cell::Cell;

    let (accepted, refused) = (Cell::new(0u32), Cell::new(0u32));
    let mut runner = TestRunner::new(Config {
        cases: 1024,
        ..Config::default()
    });
    let strategy = (
        mostly("[A-Za-z][A-Za-z0-9 _-]{0,18}[A-Za-z0-9]"),
        mostly("[ -~]{0,40}"),
    );
    runner
        .run(&strategy, |(key, value)| {
            let a = Action::new("X").header(&key, &value);
            match a.to_bytes() {
                Ok(wire) => {
                    accepted.set(accepted.get() + 1);
                    // An accepted header produces exactly one line.
                    let crlf = wire.windows(2).filter(|w| w == b"\r\n").count();
                    prop_assert_eq!(crlf, 3);
                    prop_assert_eq!(wire.iter().filter(|&&b| b == b'\r').count(), 3);
                    prop_assert_eq!(wire.iter().filter(|&&b| b == b'\n').count(), 3);
                    prop_assert!(!wire.contains(&0));
                    prop_assert!(!bad_key(&key), "accepted key {key:?}");
                    prop_assert!(!bad_value(&value), "accepted value {value:?}");
                    prop_assert!(!key.eq_ignore_ascii_case("Action"));
                }
                Err(e) => {
                    refused.set(refused.get() + 1);
                    // What the error names really is in the input.
                    let named_problem_is_real = match &e {
                        EncodeError::InvalidKey { key: k, .. } => {
                            *k == key && (bad_key(&key) || key.eq_ignore_ascii_case("Action"))
                        }
                        EncodeError::InvalidValue { key: k, .. } => *k == key && bad_value(&value),
                        EncodeError::LineTooLong { key: k, len, limit } => {
                            *k == key
                                && *limit == MAX_LINE_LEN
                                && *len == key.len() + 2 + value.len() + 2
                                && *len > MAX_LINE_LEN
                        }
                        EncodeError::InvalidActionId { .. } => {
                            key.eq_ignore_ascii_case("ActionID") && ActionId::new(&value).is_err()
                        }
                        _ => false,
                    };
                    prop_assert!(named_problem_is_real, "{e:?} for {key:?}: {value:?}");
                    prop_assert_eq!(a.error(), Some(&e));
                }
            }
            Ok(())
        })
        .unwrap();
    // Neither branch is vacuous.
    assert!(accepted.get() >= 100, "only {} accepted", accepted.get());
    assert!(refused.get() >= 100, "only {} refused", refused.get());
}
