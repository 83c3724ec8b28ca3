//! Tests of action encoding: exact bytes against what real clients sent to Asterisk 22
//! (the expected strings are copied from the capture corpus), header injection, Asterisk's
//! limits, ActionIDs and secrets.

use amiwire::action::{Originate, MAX_HEADERS, MAX_LINE_LEN};
use amiwire::{Action, ActionId, ActionIdGenerator, EncodeError};
use proptest::prelude::*;
use std::collections::HashSet;

fn bytes(a: &Action) -> String {
    String::from_utf8(a.to_bytes()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Exact bytes of the typed helpers (from the corpus captures)
// ---------------------------------------------------------------------------------------------

#[test]
fn crate_doc_example() {
    let ping = Action::new("Ping").action_id("p1").unwrap();
    assert_eq!(ping.to_bytes(), b"Action: Ping\r\nActionID: p1\r\n\r\n");
}

#[test]
fn login_ping_logoff() {
    // 01-login-ping-logoff.admin
    let login = Action::login("admin", "amp111")
        .unwrap()
        .action_id("login-1")
        .unwrap();
    assert_eq!(
        bytes(&login),
        "Action: Login\r\nActionID: login-1\r\nUsername: admin\r\nSecret: amp111\r\n\r\n"
    );
    let ping = Action::ping().action_id("ping-2").unwrap();
    assert_eq!(bytes(&ping), "Action: Ping\r\nActionID: ping-2\r\n\r\n");
    let logoff = Action::logoff().action_id("logoff-3").unwrap();
    assert_eq!(
        bytes(&logoff),
        "Action: Logoff\r\nActionID: logoff-3\r\n\r\n"
    );
}

#[test]
fn login_with_events_off() {
    // 04-command
    let login = Action::login("admin", "amp111")
        .unwrap()
        .header("Events", "off")
        .unwrap()
        .action_id("login-20")
        .unwrap();
    assert_eq!(
        bytes(&login),
        "Action: Login\r\nActionID: login-20\r\nUsername: admin\r\nSecret: amp111\r\nEvents: off\r\n\r\n"
    );
}

#[test]
fn challenge_and_md5_login() {
    // 03-challenge-md5.good-key
    let challenge = Action::challenge().action_id("challenge-12").unwrap();
    assert_eq!(
        bytes(&challenge),
        "Action: Challenge\r\nActionID: challenge-12\r\nAuthType: md5\r\n\r\n"
    );
    let login = Action::login_md5("admin", "d3c6f84cd08dad2fdfa486604be78a90")
        .unwrap()
        .action_id("login-13")
        .unwrap()
        .header("Events", "off")
        .unwrap();
    assert_eq!(
        bytes(&login),
        "Action: Login\r\nActionID: login-13\r\nAuthType: md5\r\nUsername: admin\r\n\
         Key: d3c6f84cd08dad2fdfa486604be78a90\r\nEvents: off\r\n\r\n"
    );
}

#[test]
fn command() {
    // 04-command
    let cmd = Action::command("core show version")
        .unwrap()
        .action_id("command-21")
        .unwrap();
    assert_eq!(
        bytes(&cmd),
        "Action: Command\r\nActionID: command-21\r\nCommand: core show version\r\n\r\n"
    );
}

#[test]
fn getvar_setvar_waitevent_listcommands() {
    // 05-info-actions
    let a = Action::getvar("TESTGLOBAL", None)
        .unwrap()
        .action_id("getvar-34")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Getvar\r\nActionID: getvar-34\r\nVariable: TESTGLOBAL\r\n\r\n"
    );
    let a = Action::setvar("TESTGLOBAL", "set-by-ami", None)
        .unwrap()
        .action_id("setvar-35")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Setvar\r\nActionID: setvar-35\r\nVariable: TESTGLOBAL\r\nValue: set-by-ami\r\n\r\n"
    );
    let a = Action::getvar("GLOBAL(TESTGLOBAL)", None)
        .unwrap()
        .action_id("getvar-39")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Getvar\r\nActionID: getvar-39\r\nVariable: GLOBAL(TESTGLOBAL)\r\n\r\n"
    );
    let a = Action::getvar("FOO", Some("Local/nochan@test-00000000;1"))
        .unwrap()
        .action_id("getvar-40")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Getvar\r\nActionID: getvar-40\r\nVariable: FOO\r\n\
         Channel: Local/nochan@test-00000000;1\r\n\r\n"
    );
    let a = Action::setvar("X", "y", Some("SIP/a-1")).unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Setvar\r\nVariable: X\r\nValue: y\r\nChannel: SIP/a-1\r\n\r\n"
    );
    let a = Action::wait_event(Some(1))
        .action_id("waitevent-45")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: WaitEvent\r\nActionID: waitevent-45\r\nTimeout: 1\r\n\r\n"
    );
    assert_eq!(
        bytes(&Action::wait_event(None)),
        "Action: WaitEvent\r\n\r\n"
    );
    let a = Action::list_commands()
        .action_id("listcommands-31")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: ListCommands\r\nActionID: listcommands-31\r\n\r\n"
    );
}

#[test]
fn event_lists() {
    // 06-event-lists
    let a = Action::core_show_channels()
        .action_id("coreshowchannels-60")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: CoreShowChannels\r\nActionID: coreshowchannels-60\r\n\r\n"
    );
    let a = Action::status(None)
        .unwrap()
        .action_id("status-61")
        .unwrap();
    assert_eq!(bytes(&a), "Action: Status\r\nActionID: status-61\r\n\r\n");
    let a = Action::status(Some("Local/400@test-0000000b;1"))
        .unwrap()
        .action_id("status-62")
        .unwrap()
        .header("Variables", "FOO,CALLERID(num)")
        .unwrap()
        .header("AllVariables", "true")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Status\r\nActionID: status-62\r\nChannel: Local/400@test-0000000b;1\r\n\
         Variables: FOO,CALLERID(num)\r\nAllVariables: true\r\n\r\n"
    );
    let a = Action::queue_status(None)
        .unwrap()
        .action_id("queuestatus-64")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: QueueStatus\r\nActionID: queuestatus-64\r\n\r\n"
    );
    let a = Action::queue_status(Some("support")).unwrap();
    assert_eq!(bytes(&a), "Action: QueueStatus\r\nQueue: support\r\n\r\n");
    // A generic action.
    let a = Action::new("ConfbridgeList")
        .action_id("confbridgelist-72")
        .unwrap()
        .header("Conference", "1234")
        .unwrap();
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
        .unwrap()
        .action_id("orig-async-ok")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Originate\r\nActionID: orig-async-ok\r\nChannel: Local/100@test\r\n\
         Application: Wait\r\nData: 3\r\nAsync: true\r\nCallerID: AMI Test <1000>\r\n\r\n"
    );

    let a = Originate::to_exten("Local/100@test", "test", "999", 1)
        .asynchronous(true)
        .build()
        .unwrap()
        .action_id("orig-async-badexten")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Originate\r\nActionID: orig-async-badexten\r\nChannel: Local/100@test\r\n\
         Context: test\r\nExten: 999\r\nPriority: 1\r\nAsync: true\r\n\r\n"
    );

    let a = Originate::to_application("Local/100@test", "Wait", "1")
        .asynchronous(false)
        .build()
        .unwrap()
        .action_id("orig-sync-ok")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Originate\r\nActionID: orig-sync-ok\r\nChannel: Local/100@test\r\n\
         Application: Wait\r\nData: 1\r\nAsync: false\r\n\r\n"
    );

    let a = Originate::to_application("Local/999@nosuchcontext", "Wait", "1")
        .build()
        .unwrap()
        .action_id("orig-sync-fail")
        .unwrap();
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
        .unwrap()
        .action_id("orig-async-vars")
        .unwrap();
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
        .build()
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Originate\r\nChannel: PJSIP/100\r\nContext: from-internal\r\nExten: 200\r\n\
         Priority: start\r\nAsync: true\r\nCallerID: \"Front desk\" <100>\r\nTimeout: 30000\r\n\
         Account: acct-7\r\nEarlyMedia: true\r\nCodecs: ulaw,alaw\r\n\
         Variable: CDR(userfield)=a\\,b\r\n\r\n"
    );
    let a = Originate::to_application("Local/1@x", "Answer", "")
        .timeout_ms(u32::MAX)
        .build()
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Originate\r\nChannel: Local/1@x\r\nApplication: Answer\r\nTimeout: 2147483647\r\n\r\n"
    );
}

#[test]
fn user_event_events_redirect_hangup() {
    // 09a-userevent
    let a = Action::user_event("AmiTestEvent", &[("Header1", "value one"), ("Foo", "bar")])
        .unwrap()
        .action_id("userevent-89")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: UserEvent\r\nActionID: userevent-89\r\nUserEvent: AmiTestEvent\r\n\
         Header1: value one\r\nFoo: bar\r\n\r\n"
    );
    let a = Action::user_event("Empty", &[])
        .unwrap()
        .action_id("userevent-90")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: UserEvent\r\nActionID: userevent-90\r\nUserEvent: Empty\r\n\r\n"
    );
    // 09b-events-toggle
    let a = Action::events("off")
        .unwrap()
        .action_id("events-93")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Events\r\nActionID: events-93\r\nEventMask: off\r\n\r\n"
    );
    let a = Action::events("call,user")
        .unwrap()
        .action_id("events-95")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Events\r\nActionID: events-95\r\nEventMask: call,user\r\n\r\n"
    );
    // 09c-redirect-hangup
    let a = Action::redirect("Local/600@test-0000001a;2", "test", "700", 1)
        .unwrap()
        .action_id("redirect-100")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Redirect\r\nActionID: redirect-100\r\nChannel: Local/600@test-0000001a;2\r\n\
         Context: test\r\nExten: 700\r\nPriority: 1\r\n\r\n"
    );
    let a = Action::hangup("Local/600@test-0000001b;1", Some(16))
        .unwrap()
        .action_id("hangup-102")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Hangup\r\nActionID: hangup-102\r\nChannel: Local/600@test-0000001b;1\r\n\
         Cause: 16\r\n\r\n"
    );
    let a = Action::hangup("Local/nosuch@test-00000000;1", None)
        .unwrap()
        .action_id("hangup-103")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Hangup\r\nActionID: hangup-103\r\nChannel: Local/nosuch@test-00000000;1\r\n\r\n"
    );
}

#[test]
fn other_helpers() {
    let a = Action::redirect_both("SIP/a-1", "ctx", "100", 1, "SIP/b-2", "ctx2", "200", 2).unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Redirect\r\nChannel: SIP/a-1\r\nContext: ctx\r\nExten: 100\r\nPriority: 1\r\n\
         ExtraChannel: SIP/b-2\r\nExtraContext: ctx2\r\nExtraExten: 200\r\nExtraPriority: 2\r\n\r\n"
    );
    let a = Action::filter_add("!Event: Newexten").unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Filter\r\nOperation: Add\r\nFilter: !Event: Newexten\r\n\r\n"
    );
    let a = Action::filter_add_criteria("action(exclude),name(Newchannel)", "").unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Filter\r\nOperation: Add\r\nMatchCriteria: action(exclude),name(Newchannel)\r\n\
         Filter: \r\n\r\n"
    );
    let a = Action::atxfer("SIP/a-1", "200", "internal").unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Atxfer\r\nChannel: SIP/a-1\r\nExten: 200\r\nContext: internal\r\n\r\n"
    );
    let a = Action::bridge("SIP/a-1", "SIP/b-2", true).unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Bridge\r\nChannel1: SIP/a-1\r\nChannel2: SIP/b-2\r\nTone: yes\r\n\r\n"
    );
    let a = Action::bridge("SIP/a-1", "SIP/b-2", false).unwrap();
    assert!(bytes(&a).ends_with("Tone: no\r\n\r\n"));
}

// ---------------------------------------------------------------------------------------------
// Builder behaviour
// ---------------------------------------------------------------------------------------------

#[test]
fn accessors() {
    let a = Action::new("Originate")
        .header("Channel", "Local/1@x")
        .unwrap()
        .variable("A", "1")
        .unwrap()
        .variable("B", "2")
        .unwrap()
        .action_id("x-1")
        .unwrap();
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
    assert_eq!(a.encoded_len(), a.to_bytes().len());
    let mut out = b"prefix".to_vec();
    a.encode(&mut out).unwrap();
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(&out[6..], &a.to_bytes()[..]);
    assert!(a.validate().is_ok());
}

#[test]
fn action_id_is_replaced_and_kept_second() {
    let a = Action::new("Ping")
        .header("X", "1")
        .unwrap()
        .action_id("a")
        .unwrap()
        .action_id("b")
        .unwrap()
        .header("actionid", "c")
        .unwrap();
    assert_eq!(bytes(&a), "Action: Ping\r\nActionID: c\r\nX: 1\r\n\r\n");
    assert!(matches!(
        Action::new("Ping").header("ActionID", "has space"),
        Err(EncodeError::InvalidActionId { .. })
    ));
}

#[test]
fn second_action_header_refused() {
    for key in ["Action", "action", "ACTION"] {
        assert!(matches!(
            Action::new("Ping").header(key, "Command"),
            Err(EncodeError::InvalidKey { .. })
        ));
    }
}

#[test]
fn push_methods_leave_action_unchanged_on_error() {
    let mut a = Action::new("Ping");
    a.push_header("A", "1")
        .unwrap()
        .push_variable("V", "x")
        .unwrap();
    let before = a.clone();
    assert!(a.push_header("B", "bad\r\n").is_err());
    assert!(a.push_variable("B", "bad\n").is_err());
    assert_eq!(a, before);
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
    let mut b = Action::ping().action_id("mine").unwrap();
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
    assert!(bad.to_bytes().is_empty());
    assert_eq!(bad.encoded_len(), 0);
    let mut out = b"keep".to_vec();
    assert!(bad.encode(&mut out).is_err());
    assert_eq!(out, b"keep");
    assert!(Action::new("Bad\r\n").action_id("x").is_err());
    assert!(Action::new("Bad\r\n").header("A", "b").is_err());
    assert!(Action::new("Bad\r\n").variable("A", "b").is_err());
    for name in ["", "Ping Pong", " Ping", "Ping\n", "Pi\0ng", "Pïng"] {
        assert!(Action::try_new(name).is_err(), "{name:?}");
        assert!(Action::new(name).to_bytes().is_empty(), "{name:?}");
    }
    assert!(Action::try_new("Ping").is_ok());
    let err = Action::try_new("Bad\r\nAction: Command").unwrap_err();
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
                Action::new("Originate").header("Channel", p),
                Err(EncodeError::InvalidValue { .. })
            ),
            "{p:?}"
        );
        assert!(Action::command(p).is_err(), "{p:?}");
        assert!(Action::hangup(p, None).is_err(), "{p:?}");
        assert!(Action::redirect("a", "b", p, 1).is_err(), "{p:?}");
        assert!(Action::redirect("a", "b", "c", p).is_err(), "{p:?}");
        assert!(Action::getvar("X", Some(p)).is_err(), "{p:?}");
        assert!(Action::login("admin", p).is_err(), "{p:?}");
        assert!(Action::user_event("E", &[("K", p)]).is_err(), "{p:?}");
        assert!(Action::status(Some(p)).is_err(), "{p:?}");
        assert!(
            Originate::to_exten(*p, "c", "e", 1).build().is_err(),
            "{p:?}"
        );
        assert!(
            Originate::to_application("c", "Wait", *p).build().is_err(),
            "{p:?}"
        );
        assert!(
            Originate::to_application("c", "Wait", "1")
                .caller_id(*p)
                .build()
                .is_err(),
            "{p:?}"
        );
        assert!(
            matches!(
                Action::new("Originate").variable("V", p),
                Err(EncodeError::InvalidVariable { .. })
            ),
            "{p:?}"
        );
        assert!(
            Originate::to_application("c", "Wait", "1")
                .variable("V", *p)
                .build()
                .is_err(),
            "{p:?}"
        );
        assert!(Action::new("Ping").action_id(p).is_err(), "{p:?}");
        assert!(ActionId::new(p).is_err(), "{p:?}");
    }
}

#[test]
fn tab_and_unicode_values_allowed() {
    let a = Action::new("UserEvent")
        .header("Text", "a\tb — ünïcödé")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: UserEvent\r\nText: a\tb — ünïcödé\r\n\r\n"
    );
    // Leading blanks are allowed (Asterisk skips them when it reads the header).
    let a = Action::new("UserEvent").header("Text", "  x ").unwrap();
    assert_eq!(bytes(&a), "Action: UserEvent\r\nText:   x \r\n\r\n");
    // Empty values too.
    let a = Action::new("UserEvent").header("Text", "").unwrap();
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
                Action::new("Ping").header(k, "v"),
                Err(EncodeError::InvalidKey { .. })
            ),
            "{k:?}"
        );
        assert!(Action::user_event("E", &[(k, "v")]).is_err(), "{k:?}");
    }
    // A space inside a key is accepted.
    assert!(Action::new("UserEvent").header("My Header", "v").is_ok());
}

#[test]
fn bad_variables_refused() {
    for name in ["", "A=B", "A\r", "A\n", " A", "A ", "A\0"] {
        assert!(
            matches!(
                Action::new("Originate").variable(name, "v"),
                Err(EncodeError::InvalidVariable { .. })
            ),
            "{name:?}"
        );
    }
    // '=' in the value is fine (Asterisk splits at the first one); commas, quotes and
    // backslashes are escaped.
    let a = Action::new("Originate")
        .variable("A", "x=y")
        .unwrap()
        .variable("B", "1,2")
        .unwrap()
        .variable("C", "say \"hi\"")
        .unwrap()
        .variable("D", "c:\\dir")
        .unwrap()
        .variable("CALLERID(num)", "")
        .unwrap();
    assert_eq!(
        bytes(&a),
        "Action: Originate\r\nVariable: A=x=y\r\nVariable: B=1\\,2\r\n\
         Variable: C=say \\\"hi\\\"\r\nVariable: D=c:\\\\dir\r\nVariable: CALLERID(num)=\r\n\r\n"
    );
    // A raw Variable header is not escaped.
    let a = Action::new("Originate")
        .header("Variable", "A=1,B=2")
        .unwrap();
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
    let a = Action::new("UserEvent").header("Data", &ok).unwrap();
    let wire = a.to_bytes();
    let expected = format!("Action: UserEvent\r\nData: {ok}\r\n\r\n");
    assert_eq!(wire, expected.as_bytes());
    assert_eq!(format!("Data: {ok}\r\n").len(), 1024);
    // One byte more: 1025 bytes with CRLF.
    let too_long = "x".repeat(ok.len() + 1);
    assert_eq!(
        Action::new("UserEvent")
            .header("Data", &too_long)
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
        Action::new("Originate").variable("V", &v),
        Err(EncodeError::LineTooLong { .. })
    ));
    // The Action line too.
    assert!(Action::try_new("A".repeat(1024 - "Action: ".len() - 2)).is_ok());
    assert!(matches!(
        Action::try_new("A".repeat(1024 - "Action: ".len() - 1)),
        Err(EncodeError::LineTooLong { .. })
    ));
    // And typed helpers.
    assert!(matches!(
        Action::command(&"y".repeat(2000)),
        Err(EncodeError::LineTooLong { .. })
    ));
}

#[test]
fn header_count_boundary() {
    assert_eq!(MAX_HEADERS, 128);
    // With an ActionID: Action + ActionID + 126 headers = 128 lines.
    let mut a = Action::new("UserEvent").action_id("id").unwrap();
    for i in 0..126 {
        a.push_header(format!("H{i}"), "v").unwrap();
    }
    assert_eq!(a.header_count(), 128);
    assert_eq!(
        a.push_header("H126", "v").unwrap_err(),
        EncodeError::TooManyHeaders { limit: 128 }
    );
    assert!(a.push_variable("V", "1").is_err());
    // Replacing the ActionID does not need a new line.
    a = a.action_id("other").unwrap();
    assert_eq!(a.header_count(), 128);
    let wire = a.to_bytes();
    assert_eq!(wire.split(|&b| b == b'\n').count(), 128 + 2);

    // Without an ActionID, one line stays reserved for it.
    let mut b = Action::new("UserEvent");
    for i in 0..126 {
        b.push_header(format!("H{i}"), "v").unwrap();
    }
    assert_eq!(b.header_count(), 127);
    assert!(matches!(
        b.push_header("H126", "v"),
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
        o.build().unwrap_err(),
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
    assert!(Action::new("Ping").action_id(&max).is_ok());
    let over = "a".repeat(65);
    assert!(matches!(
        ActionId::new(&over),
        Err(EncodeError::InvalidActionId { .. })
    ));
    assert!(Action::new("Ping").action_id(&over).is_err());
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
    let login = Action::login("admin", SECRET).unwrap();
    let dbg = format!("{login:?}");
    assert!(!dbg.contains(SECRET), "{dbg}");
    assert!(dbg.contains("<redacted>"));
    assert!(dbg.contains("admin"));
    let dbg = format!("{login:#?}");
    assert!(!dbg.contains(SECRET), "{dbg}");

    let md5 = Action::login_md5("admin", SECRET).unwrap();
    assert!(!format!("{md5:?}").contains(SECRET));

    let generic = Action::new("Login")
        .header("secret", SECRET)
        .unwrap()
        .header("KEY", SECRET)
        .unwrap();
    assert!(!format!("{generic:?}").contains(SECRET));

    // The data itself is still there for the encoder.
    assert_eq!(login.get("Secret"), Some(SECRET));
    assert!(bytes(&login).contains(SECRET));
}

#[test]
fn secrets_absent_from_errors() {
    let long_secret = format!("{SECRET}{}", "s".repeat(1100));
    let errors: Vec<EncodeError> = vec![
        Action::login("admin", &format!("{SECRET}\r\nAction: Command")).unwrap_err(),
        Action::login("admin", &format!("{SECRET}\n")).unwrap_err(),
        Action::login("admin", &format!("{SECRET}\0")).unwrap_err(),
        Action::login("admin", &long_secret).unwrap_err(),
        Action::login_md5("admin", &format!("{SECRET}\r")).unwrap_err(),
        Action::new("Login")
            .header("Secret", &long_secret)
            .unwrap_err(),
        Action::new("Originate")
            .variable("PASSWORD", format!("{SECRET}\n"))
            .unwrap_err(),
        Action::new("Ping")
            .action_id(format!("{SECRET} with space"))
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
        let mut action = Action::try_new(&name).unwrap();
        for (k, v) in &headers {
            action.push_header(k, v).unwrap();
        }
        let mut expected = format!("Action: {name}\r\n");
        for (k, v) in &headers {
            expected.push_str(&format!("{k}: {v}\r\n"));
        }
        expected.push_str("\r\n");
        prop_assert_eq!(action.to_bytes(), expected.as_bytes());
        prop_assert_eq!(action.encoded_len(), expected.len());
        prop_assert_eq!(action.header_count(), headers.len() + 1);
    }

    #[test]
    fn line_breaks_always_refused(s in with_line_break(), ok in "[A-Za-z]{1,10}") {
        prop_assert!(Action::new("X").header(&ok, &s).is_err());
        prop_assert!(Action::new("X").header(&s, &ok).is_err());
        prop_assert!(Action::new("X").variable(&s, &ok).is_err());
        prop_assert!(Action::new("X").variable(&ok, &s).is_err());
        prop_assert!(Action::new("X").action_id(&s).is_err());
        prop_assert!(ActionId::new(&s).is_err());
        prop_assert!(Action::try_new(&s).is_err());
        prop_assert!(Action::new(&s).to_bytes().is_empty());
        prop_assert!(Action::command(&s).is_err());
        prop_assert!(Action::login(&ok, &s).is_err());
        prop_assert!(Originate::to_exten(s.clone(), "c", "e", 1).build().is_err());
    }

    #[test]
    fn accepted_actions_have_no_stray_line_breaks(
        key in any::<String>(),
        value in any::<String>(),
    ) {
        // Whatever the input, an accepted header produces exactly one line.
        if let Ok(a) = Action::new("X").header(&key, &value) {
            let wire = a.to_bytes();
            let crlf = wire.windows(2).filter(|w| w == b"\r\n").count();
            prop_assert_eq!(crlf, 3);
            prop_assert_eq!(wire.iter().filter(|&&b| b == b'\r').count(), 3);
            prop_assert_eq!(wire.iter().filter(|&&b| b == b'\n').count(), 3);
            prop_assert!(!wire.contains(&0));
        }
    }
}
