//! Event filters: structured filters and Asterisk's manager.conf / Filter action filters.

use amiwire::filter::{
    advanced_syntax_supported, fuzz_filter, EventSet, Filter, FilterAction, FilterError, FilterSet,
    ManagerFilter, MatchMethod,
};
use amiwire::{Decoder, DecoderConfig, Frame, Message};
use proptest::prelude::*;

// Real events recorded from Asterisk 22.10.1 (corpus 08-full-call-events and 09a-userevent).

const NEWCHANNEL: &[u8] = b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: Local/200@test-00000015;1\r\nChannelState: 0\r\nChannelStateDesc: Down\r\nCallerIDNum: <unknown>\r\nCallerIDName: <unknown>\r\nConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: test\r\nExten: 200\r\nPriority: 1\r\nUniqueid: 1795453660.43\r\nLinkedid: 1795453660.43\r\n\r\n";

const NEWEXTEN: &[u8] = b"Event: Newexten\r\nPrivilege: dialplan,all\r\nChannel: Local/200@test-00000015;1\r\nChannelState: 0\r\nChannelStateDesc: Down\r\nCallerIDNum: <unknown>\r\nCallerIDName: <unknown>\r\nConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: test\r\nExten: 200\r\nPriority: 1\r\nUniqueid: 1795453660.43\r\nLinkedid: 1795453660.43\r\nExtension: 200\r\nApplication: AppDial2\r\nAppData: (Outgoing Line)\r\n\r\n";

const NEWEXTEN_USEREVENT_APP: &[u8] = b"Event: Newexten\r\nPrivilege: dialplan,all\r\nChannel: Local/300@test-00000017;2\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: <unknown>\r\nCallerIDName: <unknown>\r\nConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: test\r\nExten: 300\r\nPriority: 3\r\nUniqueid: 1795453670.48\r\nLinkedid: 1795453670.47\r\nExtension: 300\r\nApplication: UserEvent\r\nAppData: MyEvent,Foo: bar,Other: baz\r\n\r\n";

const DIALBEGIN: &[u8] = b"Event: DialBegin\r\nPrivilege: call,all\r\nDestChannel: Local/200@test-00000015;1\r\nDestChannelState: 0\r\nDestChannelStateDesc: Down\r\nDestCallerIDNum: 2000\r\nDestCallerIDName: Full Call\r\nDestConnectedLineNum: 2000\r\nDestConnectedLineName: Full Call\r\nDestLanguage: en\r\nDestAccountCode: \r\nDestContext: test\r\nDestExten: 200\r\nDestPriority: 1\r\nDestUniqueid: 1795453660.43\r\nDestLinkedid: 1795453660.43\r\nDialString: 200@test\r\n\r\n";

const VARSET: &[u8] = b"Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: Local/200@test-00000015;2\r\nChannelState: 4\r\nChannelStateDesc: Ring\r\nCallerIDNum: 2000\r\nCallerIDName: Full Call\r\nConnectedLineNum: 2000\r\nConnectedLineName: Full Call\r\nLanguage: en\r\nAccountCode: \r\nContext: test\r\nExten: 200\r\nPriority: 1\r\nUniqueid: 1795453660.44\r\nLinkedid: 1795453660.43\r\nVariable: DIALSTATUS\r\nValue: \r\n\r\n";

const SOFTHANGUPREQUEST: &[u8] = b"Event: SoftHangupRequest\r\nPrivilege: call,all\r\nChannel: Local/100@test-00000016;2\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: 2000\r\nCallerIDName: Full Call\r\nConnectedLineNum: 200\r\nConnectedLineName: Full Call\r\nLanguage: en\r\nAccountCode: \r\nContext: test\r\nExten: 100\r\nPriority: 3\r\nUniqueid: 1795453660.46\r\nLinkedid: 1795453660.43\r\nCause: 16\r\n\r\n";

const HANGUPREQUEST: &[u8] = b"Event: HangupRequest\r\nPrivilege: call,all\r\nChannel: Local/100@test-00000016;1\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: 200\r\nCallerIDName: Full Call\r\nConnectedLineNum: 2000\r\nConnectedLineName: Full Call\r\nLanguage: en\r\nAccountCode: \r\nContext: test\r\nExten: \r\nPriority: 1\r\nUniqueid: 1795453660.45\r\nLinkedid: 1795453660.43\r\nCause: 16\r\n\r\n";

const HANGUP: &[u8] = b"Event: Hangup\r\nPrivilege: call,all\r\nChannel: Local/100@test-00000016;2\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: 2000\r\nCallerIDName: Full Call\r\nConnectedLineNum: 200\r\nConnectedLineName: Full Call\r\nLanguage: en\r\nAccountCode: \r\nContext: test\r\nExten: 100\r\nPriority: 3\r\nUniqueid: 1795453660.46\r\nLinkedid: 1795453660.43\r\nCause: 16\r\nCause-txt: Normal Clearing\r\n\r\n";

const USEREVENT_ACTION: &[u8] = b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: AmiTestEvent\r\nActionID: userevent-89\r\nHeader1: value one\r\nFoo: bar\r\n\r\n";

const USEREVENT_DIALPLAN: &[u8] = b"Event: UserEvent\r\nPrivilege: user,all\r\nChannel: Local/300@test-00000017;2\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: <unknown>\r\nCallerIDName: <unknown>\r\nConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: test\r\nExten: 300\r\nPriority: 3\r\nUniqueid: 1795453670.48\r\nLinkedid: 1795453670.47\r\nUserEvent: MyEvent\r\nFoo: bar\r\nOther: baz\r\n\r\n";

/// The `[filtered]` user of the corpus' asterisk-etc/manager.conf, verbatim.
const FILTERED_USER: &str = "[filtered]
secret = filtered
read = all
write = all
; legacy (regex over the whole event) include filter
eventfilter = Event: Hangup
; legacy exclude filter
eventfilter = !Event: Newexten
; advanced filter syntax (Asterisk 21.x/22.x and later): include UserEvent by name
eventfilter(action(include),name(UserEvent)) =
";

fn decode(wire: &[u8]) -> Vec<Message> {
    let mut d = Decoder::with_config(DecoderConfig::without_banner());
    let mut out = Vec::new();
    let mut input = wire;
    while !input.is_empty() {
        let n = d.feed(input);
        input = &input[n..];
        while let Some(frame) = d.decode().expect("within limits") {
            match frame {
                Frame::Message(m) => out.push(m.to_owned()),
                Frame::Banner(b) => panic!("unexpected banner {b:?}"),
            }
        }
        assert!(n > 0, "decoder took nothing");
    }
    out
}

fn msg(wire: &[u8]) -> Message {
    let mut v = decode(wire);
    assert_eq!(
        v.len(),
        1,
        "one message expected in {:?}",
        String::from_utf8_lossy(wire)
    );
    let m = v.pop().unwrap();
    assert_eq!(m.as_bytes(), wire, "as_bytes is the message as on the wire");
    m
}

fn conf(line: &str) -> ManagerFilter {
    ManagerFilter::parse_manager_conf_line(line)
        .unwrap_or_else(|e| panic!("{line:?} should parse: {e}"))
}

// ---------------------------------------------------------------------------------------------
// The `filtered` user
// ---------------------------------------------------------------------------------------------

#[test]
fn filtered_user_from_manager_conf() {
    let mut set = FilterSet::new();
    let mut added = 0;
    for line in FILTERED_USER.lines() {
        if set.add_manager_conf_line(line).unwrap() {
            added += 1;
        }
    }
    assert_eq!(added, 3);
    assert_eq!(set.includes().len(), 2);
    assert_eq!(set.excludes().len(), 1);
    assert_eq!(set.excludes()[0].pattern(), "Event: Newexten");
    assert_eq!(set.includes()[1].event_name(), Some("UserEvent"));
    assert_eq!(set.includes()[1].method(), MatchMethod::None);

    let pass = |wire: &[u8]| set.matches(&msg(wire).as_ref());
    assert!(pass(HANGUP), "Hangup matches the legacy include");
    assert!(pass(USEREVENT_ACTION), "UserEvent matches name(UserEvent)");
    assert!(pass(USEREVENT_DIALPLAN));
    assert!(
        !pass(NEWEXTEN),
        "Newexten matches no include (and the exclude)"
    );
    assert!(!pass(NEWEXTEN_USEREVENT_APP));
    assert!(
        !pass(NEWCHANNEL),
        "includes exist, so unmatched events fail"
    );
    assert!(!pass(DIALBEGIN));
    assert!(!pass(VARSET));
    assert!(!pass(SOFTHANGUPREQUEST));
    // The legacy regex is unanchored: "Event: Hangup" is also in "Event: HangupRequest".
    assert!(pass(HANGUPREQUEST));
}

#[test]
fn filtered_user_lines_render_back() {
    let lines: Vec<ManagerFilter> = FILTERED_USER
        .lines()
        .filter(|l| l.starts_with("eventfilter"))
        .map(conf)
        .collect();
    let rendered: Vec<String> = lines.iter().map(|f| f.to_manager_conf_line()).collect();
    assert_eq!(
        rendered,
        [
            "eventfilter = Event: Hangup",
            "eventfilter = !Event: Newexten",
            "eventfilter(action(include),name(UserEvent)) =",
        ]
    );
    assert!(!lines[0].needs_advanced_syntax());
    assert!(!lines[1].needs_advanced_syntax());
    assert!(lines[2].needs_advanced_syntax());
}

// ---------------------------------------------------------------------------------------------
// Asterisk's own unit tests (main/manager.c, eventfilter_test_creation / _matching)
// ---------------------------------------------------------------------------------------------

const TEST_NEWCHANNEL: &[u8] = b"Event: Newchannel\r\nChannel: XXX\r\nSomeheader: YYY\r\n\r\n";
const TEST_VARSET: &[u8] = b"Event: VarSet\r\nChannel: ABC\r\nSomeheader: XXX\r\n\r\n";

#[test]
fn asterisk_parsing_table() {
    use FilterAction::{Exclude, Include};
    use MatchMethod as M;
    // (key, pattern, method, name, header, action, event, delivered)
    #[allow(clippy::type_complexity)]
    let ok: &[(
        &str,
        &str,
        MatchMethod,
        Option<&str>,
        Option<&str>,
        FilterAction,
        &[u8],
        bool,
    )] = &[
        (
            "eventfilter",
            "XXX",
            M::Regex,
            None,
            None,
            Include,
            TEST_NEWCHANNEL,
            true,
        ),
        (
            "eventfilter",
            "!XXX",
            M::Regex,
            None,
            None,
            Exclude,
            TEST_VARSET,
            false,
        ),
        (
            "eventfilter(name(VarSet),method(none))",
            "",
            M::None,
            Some("VarSet"),
            None,
            Include,
            TEST_VARSET,
            true,
        ),
        (
            "eventfilter(name(Newchannel),method(regex))",
            "X[XYZ]X",
            M::Regex,
            Some("Newchannel"),
            None,
            Include,
            TEST_NEWCHANNEL,
            true,
        ),
        (
            "eventfilter(name(Newchannel),method(regex))",
            "X[abc]X",
            M::Regex,
            Some("Newchannel"),
            None,
            Include,
            TEST_NEWCHANNEL,
            false,
        ),
        (
            "eventfilter(action(exclude),name(Newchannel),method(regex))",
            "X[XYZ]X",
            M::Regex,
            Some("Newchannel"),
            None,
            Exclude,
            TEST_NEWCHANNEL,
            false,
        ),
        (
            "eventfilter(action(exclude),name(Newchannel),method(regex))",
            "X[abc]X",
            M::Regex,
            Some("Newchannel"),
            None,
            Exclude,
            TEST_NEWCHANNEL,
            true,
        ),
        (
            "eventfilter(action(include),name(VarSet),header(Channel),method(starts_with))",
            "AB",
            M::StartsWith,
            Some("VarSet"),
            Some("Channel"),
            Include,
            TEST_VARSET,
            true,
        ),
        (
            "eventfilter(action(include),name(VarSet),header(Channel),method(ends_with))",
            "BC",
            M::EndsWith,
            Some("VarSet"),
            Some("Channel"),
            Include,
            TEST_VARSET,
            true,
        ),
        (
            "eventfilter(action(include),name(VarSet),header(Channel),method(exact))",
            "ABC",
            M::Exact,
            Some("VarSet"),
            Some("Channel"),
            Include,
            TEST_VARSET,
            true,
        ),
        (
            "eventfilter(action(include),name(VarSet),header(Channel),method(exact))",
            "XXX",
            M::Exact,
            Some("VarSet"),
            Some("Channel"),
            Include,
            TEST_VARSET,
            false,
        ),
        (
            "eventfilter(name(VarSet),header(Channel),method(exact))",
            "!ZZZ",
            M::Exact,
            Some("VarSet"),
            Some("Channel"),
            Exclude,
            TEST_VARSET,
            true,
        ),
        (
            "eventfilter(action(exclude),name(VarSet),header(Channel),method(exact))",
            "ZZZ",
            M::Exact,
            Some("VarSet"),
            Some("Channel"),
            Exclude,
            TEST_VARSET,
            true,
        ),
        // action() wins over '!', and the '!' is removed all the same.
        (
            "eventfilter(action(include),name(VarSet),header(Someheader),method(exact))",
            "!XXX",
            M::Exact,
            Some("VarSet"),
            Some("Someheader"),
            Include,
            TEST_VARSET,
            true,
        ),
    ];
    for &(key, pattern, method, name, header, action, event, delivered) in ok {
        let f = ManagerFilter::parse_eventfilter_line(key, pattern)
            .unwrap_or_else(|e| panic!("{key} = {pattern}: {e}"));
        assert_eq!(f.method(), method, "{key}");
        assert_eq!(f.event_name(), name, "{key}");
        assert_eq!(f.header(), header, "{key}");
        assert_eq!(f.action(), action, "{key}");
        assert_eq!(f.pattern(), pattern.strip_prefix('!').unwrap_or(pattern));
        let set: FilterSet = [f].into_iter().collect();
        assert_eq!(
            set.matches(&msg(event).as_ref()),
            delivered,
            "{key} = {pattern}"
        );
    }

    const FORMAT: &str = "Filter was formatted incorrectly.  Check the syntax of the filter given.";
    const COMPILE: &str = "Filter did not compile.  Check the syntax of the filter given.";
    let bad: &[(&str, &str, &str)] = &[
        ("eventfilter(action(include)", "", FORMAT),
        ("eventfilter(action(inlude)", "", FORMAT),
        ("eventfilter(nnnn(yyy)", "XXX", FORMAT),
        ("eventfilter(eader(VarSet)", "XXX", FORMAT),
        ("eventfilter(ethod(contains)", "XXX", FORMAT),
        (
            "eventfilter(nnnn(yyy),header(VarSet),method(contains)",
            "XXX",
            FORMAT,
        ),
        (
            "eventfilter(name(yyy),heder(VarSet),method(contains)",
            "XXX",
            FORMAT,
        ),
        (
            "eventfilter(name(yyy),header(VarSet),mehod(contains)",
            "XXX",
            FORMAT,
        ),
        (
            "eventfilter(name(yyy),header(VarSet),method(coains)",
            "XXX",
            FORMAT,
        ),
        ("eventfilter(method(yyy))", "XXX", FORMAT),
        ("eventfilter", "", FORMAT),
        ("eventfilter", "!", FORMAT),
        ("eventfilter()", "XXX", FORMAT),
        ("eventfilter", "XX[X", COMPILE),
        ("eventfilter(method(regex))", "XX[X", COMPILE),
    ];
    for &(key, pattern, message) in bad {
        let e = ManagerFilter::parse_eventfilter_line(key, pattern)
            .expect_err(&format!("{key} = {pattern} must fail"));
        assert_eq!(e.asterisk_message(), message, "{key} = {pattern}: {e}");
    }
}

#[test]
fn asterisk_matching_table() {
    let mut set = FilterSet::new();
    for (key, pattern) in [
        ("eventfilter(name(VarSet),method(none))", ""),
        ("eventfilter(name(Newchannel),method(regex))", "X[XYZ]X"),
        ("eventfilter(name(Newchannel),method(regex))", "X[abc]X"),
        (
            "eventfilter(name(Newchannel),header(Someheader),method(regex))",
            "ZZZ",
        ),
        (
            "eventfilter(action(exclude),name(Newchannel),method(regex))",
            "X[a]X",
        ),
        (
            "eventfilter(action(exclude),name(Newchannel),method(regex))",
            "X[Z]X",
        ),
        (
            "eventfilter(action(exclude),name(VarSet),header(Channel),method(regex))",
            "YYY",
        ),
    ] {
        set.parse_eventfilter_line(key, pattern).unwrap();
    }
    let events: &[(&[u8], bool)] = &[
        (
            b"Event: Newchannel\r\nChannel: XXX\r\nSomeheader: YYY\r\n\r\n",
            true,
        ),
        (
            b"Event: Newchannel\r\nChannel: XZX\r\nSomeheader: YYY\r\n\r\n",
            false,
        ),
        (
            b"Event: Newchannel\r\nChannel: XaX\r\nSomeheader: YYY\r\n\r\n",
            false,
        ),
        (
            b"Event: Newchannel\r\nChannel: XbX\r\nSomeheader: YYY\r\n\r\n",
            true,
        ),
        (
            b"Event: Newchannel\r\nChannel: XcX\r\nSomeheader: YYY\r\n\r\n",
            true,
        ),
        (
            b"Event: Newchannel\r\nChannel: YYY\r\nSomeheader: YYY\r\n\r\n",
            false,
        ),
        (
            b"Event: Newchannel\r\nChannel: YYY\r\nSomeheader: ZZZ\r\n\r\n",
            true,
        ),
        (
            b"Event: VarSet\r\nChannel: XXX\r\nSomeheader: YYY\r\n\r\n",
            true,
        ),
        (
            b"Event: VarSet\r\nChannel: YYY\r\nSomeheader: YYY\r\n\r\n",
            false,
        ),
    ];
    for &(wire, expected) in events {
        assert_eq!(
            set.matches(&msg(wire).as_ref()),
            expected,
            "{}",
            String::from_utf8_lossy(wire)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Methods of the new syntax on real events
// ---------------------------------------------------------------------------------------------

fn rule_matches(key: &str, pattern: &str, wire: &[u8]) -> bool {
    ManagerFilter::parse_eventfilter_line(key, pattern)
        .unwrap_or_else(|e| panic!("{key} = {pattern}: {e}"))
        .matches(&msg(wire).as_ref())
}

#[test]
fn each_method_on_a_header() {
    let k = |m: &str| format!("eventfilter(header(Channel),method({m}))");
    assert!(rule_matches(&k("starts_with"), "Local/", HANGUP));
    assert!(!rule_matches(&k("starts_with"), "PJSIP/", HANGUP));
    assert!(rule_matches(&k("ends_with"), ";2", HANGUP));
    assert!(!rule_matches(&k("ends_with"), ";1", HANGUP));
    assert!(rule_matches(&k("contains"), "@test-", HANGUP));
    assert!(!rule_matches(&k("contains"), "@prod-", HANGUP));
    assert!(rule_matches(
        &k("exact"),
        "Local/100@test-00000016;2",
        HANGUP
    ));
    assert!(!rule_matches(&k("exact"), "Local/100@test", HANGUP));
    assert!(rule_matches(
        &k("regex"),
        "^Local/[0-9]+@test-[0-9]{8}",
        HANGUP
    ));
    assert!(!rule_matches(&k("regex"), "^test", HANGUP));
    // The value is tested alone: "$" anchors at the end of the value.
    assert!(rule_matches(
        "eventfilter(header(Cause),method(regex))",
        "^16$",
        HANGUP
    ));

    // header() with method(none): a non-empty value is needed.
    assert!(rule_matches("eventfilter(header(Exten))", "", HANGUP));
    assert!(
        !rule_matches("eventfilter(header(Exten))", "", HANGUPREQUEST),
        "Exten is empty"
    );
    assert!(
        !rule_matches("eventfilter(header(Exten))", "", DIALBEGIN),
        "no Exten line"
    );
    // Empty values are skipped for every method.
    assert!(!rule_matches(
        "eventfilter(header(AccountCode),method(regex))",
        ".*",
        HANGUP
    ));

    // header() is case-sensitive and must be a whole name (DestChannel is not Channel).
    assert!(!rule_matches(
        "eventfilter(header(channel),method(contains))",
        "Local",
        HANGUP
    ));
    assert!(!rule_matches(&k("contains"), "Local", DIALBEGIN));
    assert!(rule_matches(
        "eventfilter(header(DestChannel:),method(contains))",
        "Local",
        DIALBEGIN
    ));

    // Any line of that name may match (UserEvent with two Foo lines, the second matching).
    let two = b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: X\r\nFoo: one\r\nFoo:   two\r\n\r\n";
    assert!(
        rule_matches("eventfilter(header(Foo),method(exact))", "two", two),
        "blanks skipped"
    );
    assert!(rule_matches(
        "eventfilter(header(Foo),method(exact))",
        "one",
        two
    ));
}

#[test]
fn each_method_on_the_whole_event() {
    assert!(rule_matches(
        "eventfilter(method(starts_with))",
        "Event: Hangup",
        HANGUP
    ));
    assert!(rule_matches(
        "eventfilter(method(starts_with))",
        "Event: Hangup",
        HANGUPREQUEST
    ));
    assert!(!rule_matches(
        "eventfilter(method(starts_with))",
        "Privilege",
        HANGUP
    ));
    assert!(rule_matches(
        "eventfilter(method(contains))",
        "Cause-txt: Normal",
        HANGUP
    ));
    assert!(!rule_matches(
        "eventfilter(method(contains))",
        "Cause-txt: Busy",
        HANGUP
    ));
    // The event text ends with the blank line, which no pattern can spell.
    assert!(!rule_matches(
        "eventfilter(method(ends_with))",
        "Normal Clearing",
        HANGUP
    ));
    assert!(!rule_matches(
        "eventfilter(method(exact))",
        "Event: Hangup",
        HANGUP
    ));
    // A POSIX regex's '.' crosses line ends; '$' is the end of the text.
    assert!(rule_matches(
        "eventfilter",
        "Event: Hangup.*Cause: 16",
        HANGUP
    ));
    assert!(!rule_matches("eventfilter", "Event: Hangup$", HANGUP));
    assert!(rule_matches(
        "eventfilter",
        "^Event: Hangup[[:space:]]+Privilege",
        HANGUP
    ));
}

#[test]
fn name_is_case_sensitive_and_exact() {
    assert!(rule_matches("eventfilter(name(Hangup))", "", HANGUP));
    assert!(!rule_matches("eventfilter(name(hangup))", "", HANGUP));
    assert!(!rule_matches(
        "eventfilter(name(Hangup))",
        "",
        HANGUPREQUEST
    ));
    assert!(rule_matches(
        "eventfilter(name(Hangup),method(contains))",
        "Normal",
        HANGUP
    ));
    assert!(!rule_matches(
        "eventfilter(name(Newchannel),method(contains))",
        "Normal",
        HANGUP
    ));
    // A response has no event name.
    assert!(!rule_matches(
        "eventfilter(name(Success))",
        "",
        b"Response: Success\r\nMessage: x\r\n\r\n"
    ));
}

#[test]
fn bang_and_action_defaults() {
    let f = ManagerFilter::parse_eventfilter_line("eventfilter(name(Newexten))", "!").unwrap();
    assert_eq!(
        f.action(),
        FilterAction::Exclude,
        "'!' alone excludes with method(none)"
    );
    assert_eq!(f.pattern(), "");
    let f = ManagerFilter::parse_eventfilter_line("eventfilter(name(Newexten))", "").unwrap();
    assert_eq!(
        f.action(),
        FilterAction::Include,
        "no action() and no '!' includes"
    );
    let f = ManagerFilter::parse("action(exclude),header(Channel),method(regex)", "!!x").unwrap();
    assert_eq!(f.pattern(), "!x", "only one '!' is removed");
    assert_eq!(f.filter_value(), "!!x");
    let f = ManagerFilter::legacy("!!x").unwrap();
    assert_eq!((f.action(), f.pattern()), (FilterAction::Exclude, "!x"));
    assert_eq!(f.to_manager_conf_line(), "eventfilter = !!x");
}

// ---------------------------------------------------------------------------------------------
// Include / exclude combinations
// ---------------------------------------------------------------------------------------------

#[test]
fn include_exclude_combinations() {
    let all = [HANGUP, NEWCHANNEL, NEWEXTEN, USEREVENT_ACTION, DIALBEGIN].map(msg);
    let pass =
        |set: &FilterSet| -> Vec<bool> { all.iter().map(|m| set.matches(&m.as_ref())).collect() };

    let mut set = FilterSet::new();
    assert!(set.is_empty());
    assert_eq!(pass(&set), [true; 5], "no filter: everything passes");

    set.add_legacy("!Event: Newexten").unwrap();
    assert_eq!(pass(&set), [true, true, false, true, true], "excludes only");

    set.add_criteria("action(exclude),name(DialBegin)", "")
        .unwrap();
    assert_eq!(pass(&set), [true, true, false, true, false], "two excludes");

    set.add_criteria("header(Channel),method(starts_with)", "Local/")
        .unwrap();
    // Hangup, Newchannel and Newexten have a Local/ Channel; Newexten is excluded.
    assert_eq!(pass(&set), [true, true, false, false, false], "both");

    let mut only = FilterSet::new();
    only.add_criteria("header(Channel),method(starts_with)", "Local/")
        .unwrap();
    assert_eq!(
        pass(&only),
        [true, true, true, false, false],
        "includes only"
    );
    only.add_legacy("Event: UserEvent").unwrap();
    assert_eq!(
        pass(&only),
        [true, true, true, true, false],
        "any include suffices"
    );

    assert_eq!(set.len(), 3);
    assert_eq!(set.iter().count(), 3);
    set.clear();
    assert!(set.is_empty());
}

// ---------------------------------------------------------------------------------------------
// manager.conf filters as Filters
// ---------------------------------------------------------------------------------------------

#[test]
fn manager_filters_are_filters() {
    let all = [HANGUP, NEWCHANNEL, NEWEXTEN, USEREVENT_ACTION, DIALBEGIN].map(msg);
    let pass = |f: &Filter| -> Vec<bool> { all.iter().map(|m| f.matches(&m.as_ref())).collect() };

    // The [filtered] user: Hangup and UserEvent included, Newexten excluded.
    let set: FilterSet = FILTERED_USER
        .lines()
        .filter(|l| l.starts_with("eventfilter"))
        .map(conf)
        .collect();
    let expected = [true, false, false, true, false];
    assert_eq!(pass(&Filter::from(set.clone())), expected);
    assert_eq!(
        pass(&Filter::manager_conf(FILTERED_USER.split_once("write = all\n").unwrap().1).unwrap()),
        expected,
        "the user's eventfilter lines, comments included"
    );
    assert_eq!(pass(&!Filter::from(set.clone())), expected.map(|b| !b));

    // Composed with structured filters, on either side.
    let hangup_only = Filter::event("Hangup") & Filter::from(set.clone());
    assert_eq!(pass(&hangup_only), [true, false, false, false, false]);
    let or = Filter::from(set.clone()) | Filter::event("DialBegin");
    assert_eq!(pass(&or), [true, false, false, true, true]);
    assert_eq!(
        pass(&Filter::event("Hangup").and(set.clone())),
        pass(&hangup_only)
    );
    assert_eq!(pass(&(Filter::event("Newexten") & set)), [false; 5]);

    // An empty set lets everything through, as in Asterisk, and so does a text with no filter.
    assert_eq!(pass(&Filter::from(FilterSet::new())), [true; 5]);
    assert_eq!(
        pass(&(Filter::event("Hangup") & FilterSet::new())),
        [true, false, false, false, false]
    );
    assert_eq!(pass(&Filter::manager_conf("").unwrap()), [true; 5]);
    assert_eq!(
        pass(&Filter::manager_conf("\n ; only a comment\r\n\n").unwrap()),
        [true; 5]
    );

    // One rule: an include rule passes what it matches, an exclude rule what it does not.
    let include = ManagerFilter::legacy("Event: Hangup").unwrap();
    assert_eq!(
        pass(&Filter::from(include)),
        [true, false, false, false, false]
    );
    let exclude = ManagerFilter::legacy("!Event: Hangup").unwrap();
    assert_eq!(
        pass(&Filter::from(exclude)),
        [false, true, true, true, true]
    );
    // A regex over the whole text: DialBegin's "DestChannel: Local/..." matches too.
    assert_eq!(
        pass(&Filter::manager("!Channel: Local/").unwrap()),
        [false, false, false, true, false]
    );
    assert_eq!(
        pass(&Filter::manager("Event: (Hangup|DialBegin)").unwrap()),
        [true, false, false, false, true]
    );
    // Two include lines of one user are alternatives; two Filters joined with & both apply.
    let two =
        Filter::manager_conf("eventfilter = Event: Hangup\r\neventfilter = Event: DialBegin\r\n")
            .unwrap();
    assert_eq!(pass(&two), [true, false, false, false, true]);
    let both =
        Filter::manager("Event: Hangup").unwrap() & Filter::manager("Event: DialBegin").unwrap();
    assert_eq!(pass(&both), [false; 5]);
    // Both syntaxes, with blanks around the lines.
    let mixed = Filter::manager_conf(
        "  eventfilter(action(exclude),name(Hangup)) =\n\teventfilter => !Event: Newexten ; no",
    )
    .unwrap();
    assert_eq!(pass(&mixed), [false, true, false, true, true]);
}

#[test]
fn manager_filter_text_errors() {
    // A bare pattern is not a manager.conf line: an error, not a filter that passes everything.
    assert_eq!(
        Filter::manager_conf("Event: Hangup").unwrap_err(),
        FilterError::Malformed {
            reason: "not an eventfilter line".into(),
            at: 0
        }
    );
    // Offsets count from the start of the text.
    let text = "eventfilter = Event: Hangup\n  [filtered]\n";
    match Filter::manager_conf(text).unwrap_err() {
        FilterError::Malformed { at, .. } => assert_eq!(&text[at..at + 10], "[filtered]"),
        e => panic!("{e:?}"),
    }
    let text = "eventfilter = x\neventfilter(name(X),colour(red)) =";
    let (at, reason) = malformed_at(Filter::manager_conf(text).map(|_| conf("eventfilter = x")));
    assert_eq!(&text[at..], "colour(red)) =", "{reason}");
    assert!(matches!(
        Filter::manager_conf("eventfilter = Event: (Hangup"),
        Err(FilterError::InvalidRegex { .. })
    ));
    assert!(matches!(
        Filter::manager("Event: (Hangup"),
        Err(FilterError::InvalidRegex { .. })
    ));
    assert!(matches!(
        Filter::manager(""),
        Err(FilterError::InvalidPattern { .. })
    ));
    assert!(matches!(
        Filter::manager("!"),
        Err(FilterError::InvalidPattern { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

fn malformed_at(r: Result<ManagerFilter, FilterError>) -> (usize, String) {
    match r {
        Err(FilterError::Malformed { at, reason }) => (at, reason),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn malformed_criteria_positions() {
    let (at, reason) = malformed_at(ManagerFilter::parse_eventfilter_line(
        "eventfilter(action(inlude),name(X))",
        "",
    ));
    assert_eq!(at, 19, "{reason}");
    assert!(reason.contains("inlude"), "{reason}");

    let (at, reason) = malformed_at(ManagerFilter::parse("name(X),colour(red)", ""));
    assert_eq!(at, 8, "{reason}");
    assert!(reason.contains("colour"), "{reason}");

    let (at, _) = malformed_at(ManagerFilter::parse("name(X),method(coains)", "x"));
    assert_eq!(at, 15);

    let (at, reason) = malformed_at(ManagerFilter::parse("name (X)", ""));
    assert_eq!(at, 4, "{reason}");

    let (at, reason) = malformed_at(ManagerFilter::parse("name(A B)", ""));
    assert_eq!(at, 6, "{reason}");

    let (at, reason) = malformed_at(ManagerFilter::parse("name(X) header(Y)", ""));
    assert_eq!(at, 8, "{reason}");

    let (at, reason) = malformed_at(ManagerFilter::parse("name(X),", ""));
    assert_eq!(at, 8, "{reason}");

    let (at, reason) = malformed_at(ManagerFilter::parse("name()", ""));
    assert_eq!(at, 5, "{reason}");

    let (at, reason) = malformed_at(ManagerFilter::parse("name(X", ""));
    assert_eq!(at, 6, "{reason}");

    let (at, reason) = malformed_at(ManagerFilter::parse("header(A:B)", ""));
    assert_eq!(at, 8, "{reason}");

    let (at, _) = malformed_at(ManagerFilter::parse_eventfilter_line(
        "  eventfilter(name(X)",
        "",
    ));
    assert_eq!(
        at, 20,
        "the last ')' closes name(), so the key's own ')' is missing"
    );
    let (at, _) = malformed_at(ManagerFilter::parse_eventfilter_line(
        "eventfilterX(name(X))",
        "",
    ));
    assert_eq!(at, 11);
    let (at, _) = malformed_at(ManagerFilter::parse_eventfilter_line("secret", "x"));
    assert_eq!(at, 0);
    let (at, _) = malformed_at(ManagerFilter::parse_manager_conf_line("eventfilter"));
    assert_eq!(at, 11);
    // Offsets within a conf line count from its start.
    let (at, _) = malformed_at(ManagerFilter::parse_manager_conf_line(
        "eventfilter(name(X),action(maybe)) = x",
    ));
    assert_eq!(at, 27);
}

#[test]
fn pattern_errors() {
    let pat = |r: Result<ManagerFilter, FilterError>| match r {
        Err(e @ FilterError::InvalidPattern { .. }) => e,
        other => panic!("expected InvalidPattern, got {other:?}"),
    };
    pat(ManagerFilter::legacy(""));
    pat(ManagerFilter::legacy("!"));
    pat(ManagerFilter::parse("name(X)", "pattern"));
    pat(ManagerFilter::parse("name(X),method(exact)", ""));
    pat(ManagerFilter::parse("action(include)", ""));
    pat(ManagerFilter::parse("method(none)", ""));
    pat(ManagerFilter::legacy("a\r\nAction: Logoff"));
    pat(ManagerFilter::legacy("trailing "));
    let e = pat(ManagerFilter::parse("action(exclude)", "x"));
    assert!(e.to_string().contains("formatted incorrectly"), "{e}");
    assert_eq!(
        e.asterisk_message(),
        "Filter was formatted incorrectly.  Check the syntax of the filter given."
    );
}

#[test]
fn regex_errors_and_posix_translation() {
    match ManagerFilter::legacy("XX[X") {
        Err(FilterError::InvalidRegex { pattern, message }) => {
            assert_eq!(pattern, "XX[X");
            assert!(!message.is_empty());
        }
        other => panic!("{other:?}"),
    }
    for bad in ["(a)\\1", "a{", "*a", "trailing\\", "[[.ab.]]"] {
        let e = ManagerFilter::legacy(bad).expect_err(bad);
        assert!(
            matches!(e, FilterError::InvalidRegex { .. }),
            "{bad}: {e:?}"
        );
        assert_eq!(
            e.asterisk_message(),
            "Filter did not compile.  Check the syntax of the filter given."
        );
    }
    let m = |p: &str, wire: &[u8]| {
        ManagerFilter::legacy(p)
            .unwrap()
            .matches(&msg(wire).as_ref())
    };
    let ev =
        b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: a\\b&c\r\nData: d1 [x]\r\n\r\n";
    assert!(
        m("UserEvent: a[\\]b", ev),
        "backslash is literal in brackets"
    );
    assert!(m("a\\\\b", ev));
    assert!(m("[&][c]", ev), "& is literal in brackets");
    assert!(m("[[:digit:]][[:space:]]\\[", ev));
    assert!(m("Data: \\d1", ev), "\\d is the letter d, as in glibc");
    assert!(!m("Data: d\\d", ev));
    assert!(
        m("[]x]x[]]", b"Event: UserEvent\r\nX: ]x]\r\n\r\n"),
        "] first in brackets is literal"
    );
    assert!(m("[^]a]x", ev), "[^]...] too");
    assert!(m("\\`Event", ev) && !m("\\`Data", ev));
    assert!(m("\\<Data\\>", ev));
    assert!(m("[[=x=]]", ev));
    assert!(m("x{,3}]", ev));
    assert!(m(
        "Caf[é]",
        "Event: UserEvent\r\nName: Café\r\n\r\n".as_bytes()
    ));
    assert!(
        m("Caf.", b"Event: UserEvent\r\nName: Caf\xe9\r\n\r\n"),
        "'.' matches any byte"
    );
}

// ---------------------------------------------------------------------------------------------
// Structured filters
// ---------------------------------------------------------------------------------------------

const DIAL_902: &[u8] = b"Event: DialBegin\r\nPrivilege: call,all\r\nChannel: PJSIP/trunk-00000001\r\nExten: 902\r\nDestChannel: PJSIP/902-00000002\r\nDialString: 902\r\n\r\n";
const HANGUP_902: &[u8] = b"Event: Hangup\r\nPrivilege: call,all\r\nChannel: PJSIP/902-00000002\r\nexten: 902\r\nCause: 16\r\n\r\n";

#[test]
fn crm_screen_pop_filter() {
    let f = Filter::events(["Dial", "DialBegin", "Hangup"]) & Filter::header_eq("Exten", "902");
    assert!(f.matches(&msg(DIAL_902).as_ref()));
    assert!(
        f.matches(&msg(HANGUP_902).as_ref()),
        "header names are case-insensitive"
    );
    assert!(!f.matches(&msg(HANGUP).as_ref()), "Exten 100");
    assert!(
        !f.matches(&msg(DIALBEGIN).as_ref()),
        "no Exten header (DestExten is another)"
    );
    assert!(
        !f.matches(&msg(NEWCHANNEL).as_ref()),
        "not in the event set"
    );
    let f = Filter::events(["dialbegin"]) & Filter::header_eq("Exten", "902");
    assert!(
        f.matches(&msg(DIAL_902).as_ref()),
        "event names are case-insensitive"
    );
    assert!(
        !Filter::events(["Dial"]).matches(&msg(DIAL_902).as_ref()),
        "whole names only"
    );
}

#[test]
fn structured_filters() {
    let hangup = msg(HANGUP);
    let h = hangup.as_ref();
    let resp = msg(b"Response: Success\r\nActionID: 1\r\nExten: 902\r\n\r\n");
    let r = resp.as_ref();

    assert!(Filter::all().matches(&h) && !Filter::none().matches(&h));
    assert!(Filter::all().matches(&r) && !Filter::none().matches(&r));
    assert!(Filter::event("HANGUP").matches(&h));
    assert!(
        !Filter::event("Hangup").matches(&r),
        "a response is no event"
    );
    assert!(!Filter::events(Vec::<&str>::new()).matches(&h), "no name");
    assert!(Filter::header_eq("exten", "902").matches(&r));
    assert!(Filter::header_exists("Cause-txt").matches(&h));
    assert!(!Filter::header_exists("Cause-Text").matches(&h));
    assert!(
        Filter::header_eq("AccountCode", "").matches(&h),
        "empty value"
    );
    assert!(!Filter::header_eq("Exten", "10").matches(&h), "exact bytes");
    assert!(Filter::header_contains("Channel", "@test-").matches(&h));
    assert!(!Filter::header_contains("Channel", "@test-;").matches(&h));
    assert!(Filter::header_starts_with("Channel", "Local/").matches(&h));
    assert!(!Filter::header_starts_with("Channel", "PJSIP/").matches(&h));
    assert!(Filter::header_ends_with("Channel", ";2").matches(&h));
    assert!(!Filter::header_ends_with("Channel", ";1").matches(&h));
    assert!(Filter::header_regex("Uniqueid", r"^\d+\.46$")
        .unwrap()
        .matches(&h));
    assert!(!Filter::header_regex("Uniqueid", r"^\d+\.47$")
        .unwrap()
        .matches(&h));
    assert!(matches!(
        Filter::header_regex("X", "("),
        Err(FilterError::InvalidRegex { .. })
    ));
    let re = regex::bytes::Regex::new("^Normal").unwrap();
    assert!(Filter::header_matches("Cause-txt", re.clone()).matches(&h));
    assert!(!Filter::header_matches("Channel", re).matches(&h));
    assert!(Filter::header_eq("Cause-txt", b"Normal Clearing".as_slice()).matches(&h));

    let local_hangup = Filter::event("Hangup") & Filter::header_starts_with("Channel", "Local/");
    assert!(local_hangup.matches(&h));
    assert!(!(!local_hangup.clone()).matches(&h));
    assert!((!!local_hangup.clone()).matches(&h));
    assert!(!local_hangup.clone().negate().matches(&h));
    assert!((Filter::event("Newchannel") | Filter::header_eq("Cause", "16")).matches(&h));
    assert!(!(Filter::event("Newchannel") | Filter::header_eq("Cause", "17")).matches(&h));
    assert!(Filter::all_of([Filter::event("Hangup"), Filter::header_exists("Cause")]).matches(&h));
    assert!(!Filter::all_of([Filter::event("Hangup"), Filter::header_exists("Nope")]).matches(&h));
    assert!(Filter::all_of(Vec::new()).matches(&h));
    assert!(Filter::any_of([Filter::none(), Filter::event("Hangup")]).matches(&h));
    assert!(!Filter::any_of(Vec::new()).matches(&h));

    // What the eight and_* builder methods did, with the combinators.
    let f = Filter::all()
        & Filter::header_contains("Channel", "Local/")
        & !Filter::header_starts_with("Channel", "PJSIP/")
        & Filter::header_regex("Cause", "^1[0-9]$").unwrap();
    assert!(f.matches(&h));
    assert!(Filter::default().matches(&r));
    assert!(Filter::event("Newchannel")
        .or(Filter::event("Hangup"))
        .matches(&h));
    assert!(!Filter::event("Newchannel")
        .or(Filter::event("Hangupx"))
        .matches(&h));
    assert!(!Filter::event("Hangup")
        .and(Filter::header_exists("Cause").negate())
        .matches(&h));
    assert!(Filter::event("Hangup")
        .and(Filter::header_exists("Cause"))
        .matches(&h));
    assert!(
        (Filter::event("Hangup") & Filter::header_ends_with("Cause-txt", "Clearing")).matches(&h)
    );
    // Flattened chains keep every operand, whichever side is a chain.
    let chain = |a: bool, b: bool, c: bool| {
        let t = |x: bool| if x { Filter::all() } else { Filter::none() };
        let and = (t(a) & Filter::event("Hangup")) & (t(b) & t(c));
        let or = (t(a) | Filter::event("Newchannel")) | (t(b) | t(c));
        (and.matches(&h), or.matches(&h))
    };
    for bits in 0..8 {
        let (a, b, c) = (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
        assert_eq!(chain(a, b, c), (a && b && c, a || b || c), "{a} {b} {c}");
    }

    let set = EventSet::new(["Dial", "DIAL", "Hangup"]);
    assert_eq!(set.len(), 2);
    assert!(set.contains(b"hangup") && !set.contains(b"hangupx"));
    assert_eq!(
        set.iter().collect::<Vec<_>>(),
        [b"dial".as_slice(), b"hangup"]
    );
    assert!(Filter::event_set(set).matches(&h));
    assert!(!Filter::event_set(EventSet::new(["Dial"])).matches(&h));
    assert!(EventSet::new(Vec::<String>::new()).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Filter action headers, builder, rendering
// ---------------------------------------------------------------------------------------------

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn filter_action_headers() {
    assert_eq!(
        ManagerFilter::legacy("Event: Hangup")
            .unwrap()
            .to_action_headers(),
        pairs(&[("Operation", "Add"), ("Filter", "Event: Hangup")])
    );
    assert_eq!(
        ManagerFilter::legacy("!Event: Newexten")
            .unwrap()
            .to_action_headers(),
        pairs(&[("Operation", "Add"), ("Filter", "!Event: Newexten")])
    );
    assert_eq!(
        conf("eventfilter(action(exclude),name(Newchannel),header(Channel),method(starts_with)) = Local/")
            .to_action_headers(),
        pairs(&[
            ("Operation", "Add"),
            ("MatchCriteria", "action(exclude),name(Newchannel),header(Channel),method(starts_with)"),
            ("Filter", "Local/"),
        ])
    );
    assert_eq!(
        conf("eventfilter(name(UserEvent)) =").to_action_headers(),
        pairs(&[
            ("Operation", "Add"),
            ("MatchCriteria", "action(include),name(UserEvent)"),
            ("Filter", ""),
        ])
    );
    // An include regex starting with '!' cannot be written in the legacy form.
    let f = ManagerFilter::include()
        .regex("!important")
        .build()
        .unwrap();
    assert!(f.needs_advanced_syntax());
    assert_eq!(
        f.to_action_headers(),
        pairs(&[
            ("Operation", "Add"),
            ("MatchCriteria", "action(include),method(regex)"),
            ("Filter", "!!important"),
        ])
    );
    // The new syntax with method(regex) only is the legacy filter.
    let f = ManagerFilter::parse("method(regex)", "Event: Hangup").unwrap();
    assert_eq!(f, ManagerFilter::legacy("Event: Hangup").unwrap());
    assert_eq!(f.match_criteria(), None);

    let set: FilterSet = FILTERED_USER
        .lines()
        .filter(|l| l.starts_with("eventfilter"))
        .map(conf)
        .collect();
    assert_eq!(set.to_action_headers().len(), 3);
}

#[test]
fn builder() {
    let f = ManagerFilter::exclude()
        .name("VarSet")
        .header("Variable:")
        .regex("^(__|_)?CALLERID")
        .build()
        .unwrap();
    assert_eq!(f.header(), Some("Variable"));
    assert_eq!(
        f.to_manager_conf_line(),
        "eventfilter(action(exclude),name(VarSet),header(Variable),method(regex)) = ^(__|_)?CALLERID"
    );
    assert_eq!(f.to_string(), f.to_manager_conf_line());
    assert!(f.is_exclude());
    for (m, p) in [
        (MatchMethod::Exact, "x"),
        (MatchMethod::StartsWith, "x"),
        (MatchMethod::EndsWith, "x"),
        (MatchMethod::Contains, "x"),
        (MatchMethod::None, ""),
    ] {
        let f = ManagerFilter::include()
            .name("Hangup")
            .method(m, p)
            .build()
            .unwrap();
        assert_eq!(f.method(), m);
        assert_eq!(conf(&f.to_manager_conf_line()), f);
        assert_eq!(m.as_str().parse::<MatchMethod>().unwrap(), m);
    }
    assert!(ManagerFilter::include().exact("x").build().is_ok());
    assert!(ManagerFilter::include()
        .starts_with("x")
        .ends_with("y")
        .contains("z")
        .build()
        .is_ok());
    assert!(matches!(
        ManagerFilter::include().name("Two words").build(),
        Err(FilterError::InvalidField { field: "name", .. })
    ));
    assert!(matches!(
        ManagerFilter::include().header("A:B").build(),
        Err(FilterError::InvalidField {
            field: "header",
            ..
        })
    ));
    assert!(
        ManagerFilter::include().build().is_err(),
        "nothing to match on"
    );
    assert!(ManagerFilter::include()
        .name("X")
        .exact("")
        .build()
        .is_err());
    assert!(
        "Exact".parse::<MatchMethod>().is_err(),
        "method names are case-sensitive"
    );
    assert_eq!(FilterAction::Exclude.to_string(), "exclude");
    assert_eq!(MatchMethod::StartsWith.to_string(), "starts_with");
}

#[test]
fn manager_conf_lines() {
    // Semicolons: comments, and escaped in patterns.
    let f = conf("eventfilter = Channel: Local/.*\\;2 ; only the ;2 side");
    assert_eq!(f.pattern(), "Channel: Local/.*;2");
    assert_eq!(
        f.to_manager_conf_line(),
        "eventfilter = Channel: Local/.*\\;2"
    );
    assert!(f.matches(&msg(HANGUP).as_ref()));
    // Blanks around key and value, '=>' and spaces between options.
    let f = conf("  eventfilter( action(exclude) , name(Newexten) )  =>  !  ");
    assert_eq!(f.action(), FilterAction::Exclude);
    assert_eq!(f.event_name(), Some("Newexten"));
    // Repeated options: the last one wins, as in Asterisk.
    let f = conf("eventfilter(action(exclude),action(include),name(Hangup)) =");
    assert_eq!(f.action(), FilterAction::Include);

    let mut set = FilterSet::new();
    assert!(!set.add_manager_conf_line("[filtered]").unwrap());
    assert!(!set.add_manager_conf_line("; eventfilter = x").unwrap());
    assert!(!set.add_manager_conf_line("").unwrap());
    assert!(!set.add_manager_conf_line("read = all").unwrap());
    assert!(set
        .add_manager_conf_line("eventfilter(nope(x)) = y")
        .is_err());
    assert!(set.is_empty());
}

#[test]
fn round_trips_of_tricky_patterns() {
    for (criteria, pattern) in [
        ("", "Event: Hangup"),
        ("", "!Event: Newexten"),
        ("", "!!x"),
        ("", "! leading blank"),
        ("", "semi;colon\\;"),
        ("", "a=b => c"),
        ("action(include),method(regex)", "! blank after bang"),
        ("action(include),method(regex)", "!!bang"),
        ("action(exclude),header(Channel),method(contains)", "!!"),
        ("name(Hangup),header(Cause),method(exact)", "16"),
        ("header(Channel:)", ""),
        ("name(Newexten)", "!"),
    ] {
        let f = ManagerFilter::parse(criteria, pattern)
            .unwrap_or_else(|e| panic!("{criteria} {pattern}: {e}"));
        let line = f.to_manager_conf_line();
        assert_eq!(conf(&line), f, "{line}");
        let again =
            ManagerFilter::parse(&f.match_criteria().unwrap_or_default(), &f.filter_value())
                .unwrap();
        assert_eq!(again, f);
        fuzz_filter(format!("{criteria}\n{pattern}").as_bytes());
    }
}

#[test]
fn version_gate() {
    assert!(!advanced_syntax_supported(16, 30));
    assert!(!advanced_syntax_supported(18, 25));
    assert!(advanced_syntax_supported(18, 26));
    assert!(!advanced_syntax_supported(19, 99));
    assert!(!advanced_syntax_supported(20, 10));
    assert!(advanced_syntax_supported(20, 11));
    assert!(!advanced_syntax_supported(21, 5));
    assert!(advanced_syntax_supported(21, 6));
    assert!(!advanced_syntax_supported(22, 0));
    assert!(advanced_syntax_supported(22, 1));
    assert!(advanced_syntax_supported(23, 0));
    assert!(advanced_syntax_supported(24, 0));
}

#[test]
fn fuzz_entry_point_smoke() {
    for input in [
        &b""[..],
        b"!",
        b"eventfilter(name(Hangup)) =",
        b"eventfilter(action(exclude),header(Channel),method(regex)) = ^Local/",
        b"action(include),name(X)\n",
        b"name(\xff)\nfoo",
        b"[[:alpha:]\\",
        b"eventfilter = [\\d]\\`\\'\\<\\>{,2}",
        b"header(Channel),method(ends_with)\n\x0b!x",
        b"eventfilter = x\neventfilter = !y\nread = all",
    ] {
        fuzz_filter(input);
    }
}

// ---------------------------------------------------------------------------------------------
// Property: render / parse round trip
// ---------------------------------------------------------------------------------------------

fn ident() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9_-]{0,15}"
}

fn arb_filter() -> impl Strategy<Value = ManagerFilter> {
    let literal = "[ -~]{0,10}[!-~]".prop_map(|s| s);
    let regex_pat = prop_oneof![
        Just("Event: Hangup".to_owned()),
        Just("^Local/[0-9]+@".to_owned()),
        Just("X[abc]X".to_owned()),
        Just("(PJ)?SIP/(james|jim|john)-".to_owned()),
        "[A-Za-z0-9 :/!;=.-]{0,12}[A-Za-z0-9]".prop_map(|s| s),
    ];
    (
        any::<bool>(),
        proptest::option::of(ident()),
        proptest::option::of(ident()),
        0..6u8,
        literal,
        regex_pat,
    )
        .prop_filter_map(
            "needs name or header",
            |(excl, name, header, m, lit, re)| {
                let b = if excl {
                    ManagerFilter::exclude()
                } else {
                    ManagerFilter::include()
                };
                let b = match name {
                    Some(n) => b.name(&n),
                    None => b,
                };
                let b = match header {
                    Some(h) => b.header(&h),
                    None => b,
                };
                let b = match m {
                    0 => b.regex(&re),
                    1 => b.exact(&lit),
                    2 => b.starts_with(&lit),
                    3 => b.ends_with(&lit),
                    4 => b.contains(&lit),
                    _ => b,
                };
                b.build().ok()
            },
        )
}

proptest! {
    #[test]
    fn render_parse_round_trip(f in arb_filter()) {
        let line = f.to_manager_conf_line();
        prop_assert_eq!(ManagerFilter::parse_manager_conf_line(&line).unwrap(), f.clone(), "{}", line);
        let (key, value) = line.split_once('=').unwrap();
        let value = value.replace("\\;", ";");
        prop_assert_eq!(ManagerFilter::parse_eventfilter_line(key, &value).unwrap(), f.clone());
        let h = f.to_action_headers();
        let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        prop_assert_eq!(&h[0], &("Operation".to_owned(), "Add".to_owned()));
        let again = ManagerFilter::parse(&get("MatchCriteria").unwrap_or_default(), &get("Filter").unwrap()).unwrap();
        prop_assert_eq!(&again, &f);
        prop_assert_eq!(get("MatchCriteria").is_some(), f.needs_advanced_syntax());
        for wire in [HANGUP, NEWEXTEN, USEREVENT_ACTION] {
            let m = msg(wire);
            prop_assert_eq!(again.matches(&m.as_ref()), f.matches(&m.as_ref()));
        }
    }

    #[test]
    fn fuzz_never_panics(data in proptest::collection::vec(any::<u8>(), 0..80)) {
        fuzz_filter(&data);
    }

    #[test]
    fn fuzz_never_panics_on_near_syntax(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("eventfilter"), Just("("), Just(")"), Just(","), Just("="), Just("!"),
                Just("action"), Just("name"), Just("header"), Just("method"), Just("include"),
                Just("exclude"), Just("regex"), Just("none"), Just("contains"), Just("Hangup"),
                Just("Channel"), Just(":"), Just(" "), Just(";"), Just("\\"), Just("["),
                Just("\n"), Just("Local/"), Just("]"), Just("*"), Just("{"), Just("}"), Just("^"),
                Just("$"), Just("."), Just("|"), Just("?"), Just("[:alpha:]"), Just("&&"),
                Just("\t"), Just("\x0b"), Just("é"), Just("=>"), Just("\\;"), Just("method(none)"),
                Just("header(Channel)"), Just("name(Hangup)"), Just("action(exclude)"),
            ],
            0..20,
        )
    ) {
        fuzz_filter(parts.concat().as_bytes());
    }
}

#[test]
fn filter_actions_on_the_wire() {
    let legacy = ManagerFilter::legacy("!Event: Newexten").unwrap();
    assert_eq!(
        legacy.to_action().to_bytes().unwrap(),
        b"Action: Filter\r\nOperation: Add\r\nFilter: !Event: Newexten\r\n\r\n"
    );
    let criteria = ManagerFilter::parse("action(include),name(UserEvent)", "").unwrap();
    let bytes = criteria.to_action().to_bytes().unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.starts_with(
            "Action: Filter\r\nOperation: Add\r\nMatchCriteria: action(include),name(UserEvent)"
        ),
        "{text}"
    );
}
