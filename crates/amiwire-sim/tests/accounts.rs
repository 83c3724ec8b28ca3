//! Tests of `amiwire_sim::accounts`: the built-in manager.conf, privileges, ACLs, event
//! filters, the config syntax, errors with line numbers, and robustness on arbitrary input.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use amiwire::Message;
use amiwire_sim::accounts::conf::{ConfError, ConfFile};
use amiwire_sim::accounts::{
    Accounts, AccountsError, AclRule, AclSense, Privileges, DEFAULT_MANAGER_CONF,
};
use support::{arbitrary_texts, messages, XorShift};

mod support;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Decodes one message (an event built by hand).
fn event(text: &str) -> Message {
    messages(text.as_bytes()).remove(0)
}

fn recordings_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../amiwire/tests/data")
}

fn parse_err(text: &str) -> AccountsError {
    match Accounts::parse(text) {
        Ok(a) => panic!("parsed but should not: {a:?}"),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------------------------------
// The built-in account set
// ---------------------------------------------------------------------------------------------

#[test]
fn default_is_the_four_users_of_etc_manager_conf() {
    let acc = Accounts::default();
    assert_eq!(acc, Accounts::parse(DEFAULT_MANAGER_CONF).unwrap());
    let names: Vec<&str> = acc.iter().map(|a| a.username.as_str()).collect();
    assert_eq!(names, ["admin", "c2call", "limited", "filtered"]);
    assert_eq!(acc.len(), 4);
    assert!(!acc.is_empty());

    let admin = acc.get("admin").unwrap();
    assert_eq!(admin.secret.as_deref(), Some("amp111"));
    assert_eq!(admin.read, Privileges::ALL);
    assert_eq!(admin.write, Privileges::ALL);
    assert!(admin.acl.is_empty());
    assert!(admin.filters.is_empty());
    assert!(admin.setvars.is_empty() && admin.other.is_empty());
    assert_eq!(admin.writetimeout, Duration::from_millis(100));
    assert!(admin.displayconnects && admin.allowmultiplelogin);

    let c2call = acc.get("c2call").unwrap();
    assert_eq!(c2call.secret.as_deref(), Some("FrUyHn6FSaX"));
    let expected = Privileges::SYSTEM
        | Privileges::CALL
        | Privileges::LOG
        | Privileges::VERBOSE
        | Privileges::COMMAND
        | Privileges::AGENT
        | Privileges::USER
        | Privileges::CONFIG
        | Privileges::DTMF
        | Privileges::REPORTING
        | Privileges::CDR
        | Privileges::DIALPLAN
        | Privileges::ORIGINATE;
    assert_eq!(expected, Privileges(0x1fff));
    assert_eq!(c2call.read, expected);
    assert_eq!(c2call.write, expected);
    assert_eq!(
        c2call.acl,
        vec![
            AclRule {
                sense: AclSense::Deny,
                network: ip("0.0.0.0"),
                mask: ip("0.0.0.0"),
            },
            AclRule {
                sense: AclSense::Permit,
                network: ip("127.0.0.1"),
                mask: ip("255.255.255.255"),
            },
        ]
    );
    assert!(c2call.filters.is_empty());

    let limited = acc.get("limited").unwrap();
    assert_eq!(limited.secret.as_deref(), Some("limited"));
    assert_eq!(limited.read, Privileges::CALL);
    assert_eq!(limited.write, Privileges::ORIGINATE);
    assert!(!limited.write.contains(Privileges::COMMAND));
    assert!(limited.acl.is_empty() && limited.filters.is_empty());

    let filtered = acc.get("filtered").unwrap();
    assert_eq!(filtered.secret.as_deref(), Some("filtered"));
    assert_eq!(filtered.read, Privileges::ALL);
    assert_eq!(filtered.write, Privileges::ALL);
    assert_eq!(filtered.filters.includes().len(), 2);
    assert_eq!(filtered.filters.excludes().len(), 1);
    assert!(filtered.acl.is_empty());

    let g = acc.general();
    assert!(g.enabled && g.webenabled);
    assert_eq!(g.bindaddr, ip("127.0.0.1"));
    assert_eq!(g.port, 5038);
    assert!(!g.timestampevents);
    assert!(g.displayconnects && g.allowmultiplelogin);
    assert_eq!(g.authtimeout, Duration::from_secs(30));
    assert_eq!(g.httptimeout, Duration::from_secs(60));
    assert_eq!(g.authlimit, 50);
    assert_eq!(g.writetimeout, Duration::from_millis(100));
    assert!(!g.brokeneventsaction && !g.debug);
    assert!(g.other.is_empty());
}

#[test]
fn user_names_are_case_insensitive() {
    let acc = Accounts::default();
    assert_eq!(acc.get("ADMIN").unwrap().username, "admin");
    assert_eq!(acc.get("Filtered").unwrap().username, "filtered");
    assert!(acc.get("nobody").is_none());
    assert!(acc.get("").is_none());
}

#[test]
fn insert_and_remove() {
    let mut acc = Accounts::default();
    let mut u = amiwire_sim::accounts::Account::new("Admin", "other");
    u.read = Privileges::CALL;
    let old = acc.insert(u).unwrap();
    assert_eq!(old.secret.as_deref(), Some("amp111"));
    assert_eq!(acc.get("admin").unwrap().read, Privileges::CALL);
    assert!(acc
        .insert(amiwire_sim::accounts::Account::new("new", "s"))
        .is_none());
    assert_eq!(acc.len(), 5);
    assert!(acc.remove("NEW").is_some());
    assert!(acc.get_mut("limited").is_some());
    acc.general_mut().port = 6000;
    assert_eq!(acc.general().port, 6000);
}

// ---------------------------------------------------------------------------------------------
// ACLs
// ---------------------------------------------------------------------------------------------

#[test]
fn c2call_acl_last_match_wins() {
    let acc = Accounts::default();
    let c2call = acc.get("c2call").unwrap();
    assert!(c2call.permits(ip("127.0.0.1")));
    assert!(!c2call.permits(ip("10.1.2.3")));
    assert!(!c2call.permits(ip("127.0.0.2")));
    // IPv4 rules apply to IPv4-mapped IPv6 clients...
    assert!(c2call.permits(ip("::ffff:127.0.0.1")));
    assert!(!c2call.permits(ip("::ffff:10.1.2.3")));
    // ...but not to real IPv6 ones, which no rule matches: permitted, as in Asterisk.
    assert!(c2call.permits(ip("::1")));
    // No rule: everything is permitted.
    let admin = acc.get("admin").unwrap();
    assert!(admin.permits(ip("10.1.2.3")) && admin.permits(ip("2001:db8::1")));
}

#[test]
fn acl_order_matters() {
    // The permit first, the catch-all deny last: the deny wins for everybody.
    let acc = Accounts::parse(
        "[u]\nsecret=x\npermit = 127.0.0.1/255.255.255.255\ndeny = 0.0.0.0/0.0.0.0\n",
    )
    .unwrap();
    let u = acc.get("u").unwrap();
    assert!(!u.permits(ip("127.0.0.1")));
    assert!(!u.permits(ip("192.168.1.1")));
}

#[test]
fn acl_syntax() {
    let r = AclRule::parse(AclSense::Permit, "192.168.1.77/24").unwrap();
    assert_eq!(r[0].network, ip("192.168.1.0"));
    assert_eq!(r[0].mask, ip("255.255.255.0"));
    assert!(r[0].matches(ip("192.168.1.200")));
    assert!(!r[0].matches(ip("192.168.2.1")));
    assert_eq!(r[0].to_string(), "permit = 192.168.1.0/255.255.255.0");

    // A list, a bare address, '!' inversion, IPv6 with and without brackets and prefix.
    let r = AclRule::parse(
        AclSense::Deny,
        "10.0.0.1, !10.0.0.0/8, [2001:db8::]/32,::1,::ffff:1.2.3.4/24",
    )
    .unwrap();
    assert_eq!(r.len(), 5);
    assert_eq!(
        (r[0].sense, r[0].mask),
        (AclSense::Deny, ip("255.255.255.255"))
    );
    assert_eq!(r[1].sense, AclSense::Permit);
    assert_eq!(r[2].mask, ip("ffff:ffff::"));
    assert!(r[2].matches(ip("2001:db8:1::5")) && !r[2].matches(ip("2001:db9::1")));
    assert_eq!(r[3].mask, ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    // An IPv4-mapped rule becomes an IPv4 rule (so its prefix length is one of IPv4).
    assert_eq!(r[4].network, ip("1.2.3.0"));
    assert!(r[4].matches(ip("1.2.3.99")) && r[4].matches(ip("::ffff:1.2.3.5")));
    // /0 matches every address of its family only.
    let any6 = AclRule::parse(AclSense::Deny, "::/0").unwrap();
    assert!(any6[0].matches(ip("2001:db8::1")) && !any6[0].matches(ip("1.2.3.4")));
    // A prefix length read like sscanf("%d").
    assert_eq!(
        AclRule::parse(AclSense::Deny, "10.0.0.0/8x").unwrap()[0].mask,
        ip("255.0.0.0")
    );

    // Mixed '!' rules in a user: last match wins.
    let acc = Accounts::parse("[u]\ndeny=0.0.0.0/0\npermit=10.0.0.0/8,!10.9.0.0/16\n").unwrap();
    let u = acc.get("u").unwrap();
    assert!(u.permits(ip("10.1.1.1")));
    assert!(!u.permits(ip("10.9.1.1")));
    assert!(!u.permits(ip("11.0.0.1")));

    for bad in [
        "",
        "10.0.0.1/33",
        "::1/129",
        "10.0.0.1/-1",
        "10.0.0.1/abc",
        "host.example",
        "10.0.0.1:5038",
        "10.0.0.1/ffff::",
        "::1/255.0.0.0",
        "10.0.0.1/255.0.0",
        "10.0.0.1,",
        "::ffff:1.2.3.4/120",
    ] {
        assert!(
            AclRule::parse(AclSense::Permit, bad).is_err(),
            "{bad:?} should not parse"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Event filters
// ---------------------------------------------------------------------------------------------

#[test]
fn filtered_user_filters_match_as_asterisk() {
    let acc = Accounts::default();
    let f = &acc.get("filtered").unwrap().filters;
    let hangup = event(
        "Event: Hangup\r\nPrivilege: call,all\r\nChannel: Local/100@test-00000001;1\r\nCause: 16\r\n\r\n",
    );
    let newexten = event(
        "Event: Newexten\r\nPrivilege: dialplan,all\r\nChannel: Local/100@test-00000001;1\r\nExten: 100\r\n\r\n",
    );
    let userevent =
        event("Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: MyEvent\r\nFoo: bar\r\n\r\n");
    let newchannel = event(
        "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: Local/100@test-00000001;1\r\n\r\n",
    );
    assert!(f.matches(&hangup.as_ref()));
    assert!(!f.matches(&newexten.as_ref()));
    assert!(f.matches(&userevent.as_ref()));
    // Includes exist, and a Newchannel matches none of them.
    assert!(!f.matches(&newchannel.as_ref()));
    // A user without filters gets everything.
    let admin = &acc.get("admin").unwrap().filters;
    assert!(admin.matches(&newexten.as_ref()) && admin.matches(&newchannel.as_ref()));
}

#[test]
fn eventfilter_keys() {
    let text = "[u]\n\
        eventfilter = !Event: Newexten\n\
        eventfilter(action(exclude),name(VarSet)) =\n\
        eventfilter(action(include),header(Channel),method(starts_with)) => Local/\n\
        EventFilter = Event: Hangup\n";
    let acc = Accounts::parse(text).unwrap();
    let u = acc.get("u").unwrap();
    assert_eq!(
        (u.filters.includes().len(), u.filters.excludes().len()),
        (1, 2)
    );
    // The key is matched case-sensitively by Asterisk: EventFilter is an unknown key.
    assert_eq!(
        u.other,
        vec![("EventFilter".to_owned(), "Event: Hangup".to_owned())]
    );
    let local = event("Event: Newstate\r\nPrivilege: call,all\r\nChannel: Local/1@x-1;1\r\n\r\n");
    let varset =
        event("Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: Local/1@x-1;1\r\n\r\n");
    let other = event("Event: Newstate\r\nPrivilege: call,all\r\nChannel: PJSIP/a-1\r\n\r\n");
    assert!(u.filters.matches(&local.as_ref()));
    assert!(!u.filters.matches(&varset.as_ref()));
    assert!(!u.filters.matches(&other.as_ref()));
}

// ---------------------------------------------------------------------------------------------
// Privileges
// ---------------------------------------------------------------------------------------------

#[test]
fn flag_values_are_asterisks() {
    let expected: [(&str, u32); 21] = [
        ("system", 1),
        ("call", 2),
        ("log", 4),
        ("verbose", 8),
        ("command", 16),
        ("agent", 32),
        ("user", 64),
        ("config", 128),
        ("dtmf", 256),
        ("reporting", 512),
        ("cdr", 1024),
        ("dialplan", 2048),
        ("originate", 4096),
        ("agi", 8192),
        ("cc", 1 << 15),
        ("aoc", 1 << 16),
        ("test", 1 << 17),
        ("security", 1 << 18),
        ("message", 1 << 30),
        ("all", 0x7fff_ffff),
        ("none", 0),
    ];
    let table: Vec<(&str, u32)> = Privileges::names().map(|(n, p)| (n, p.bits())).collect();
    assert_eq!(table, expected);
    assert_eq!(Privileges::HOOKRESPONSE.bits(), 1 << 14);
    assert_eq!(Privileges::MESSAGE, Privileges(1 << 30));
    assert_eq!(Privileges::ALL.bits(), i32::MAX as u32);
    assert!(Privileges::ALL.contains(Privileges::HOOKRESPONSE | Privileges::MESSAGE));
}

#[test]
fn privilege_headers_of_the_recordings() {
    let mut seen = BTreeSet::new();
    let dir = recordings_dir();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".server.bin") {
            continue;
        }
        files += 1;
        let data = std::fs::read(&path).unwrap();
        for line in data.split(|&b| b == b'\n') {
            if let Some(v) = line.strip_prefix(b"Privilege: ") {
                let v = String::from_utf8_lossy(v).trim_end_matches('\r').to_owned();
                seen.insert(v);
            }
        }
    }
    assert!(files > 10, "no recordings found in {}", dir.display());
    let expected: BTreeSet<String> = [
        "Call",
        "agent,all",
        "call,all",
        "cdr,all",
        "dialplan,all",
        "security,all",
        "system,all",
        "user,all",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(seen, expected);
    for v in &seen {
        if v == "Call" {
            // Written verbatim by action_status for its list items, not by authority_to_str.
            continue;
        }
        // The event's class is the named class alone ("call,all" itself parses as ALL).
        assert_eq!(Privileges::parse(v), Privileges::ALL);
        let class = Privileges::parse(v.split(',').next().unwrap());
        assert_eq!(&class.to_string(), v);
    }
    assert_eq!(Privileges::CALL.to_string(), "call,all");
    assert_eq!(Privileges::SYSTEM.to_string(), "system,all");
    assert_eq!(Privileges::DIALPLAN.to_string(), "dialplan,all");
    assert_eq!(Privileges::CDR.to_string(), "cdr,all");
    assert_eq!(Privileges::SECURITY.to_string(), "security,all");
    assert_eq!(Privileges::USER.to_string(), "user,all");
    assert_eq!(Privileges::AGENT.to_string(), "agent,all");
    assert_eq!(
        (Privileges::SYSTEM | Privileges::CALL).to_string(),
        "system,call,all"
    );
    assert_eq!(Privileges::HOOKRESPONSE.to_string(), "all");
    assert_eq!(Privileges::NONE.to_string(), "<none>");
    assert_eq!(Privileges(u32::MAX).to_string(), "<none>");
    assert_eq!(
        Privileges::ALL.to_string(),
        "system,call,log,verbose,command,agent,user,config,dtmf,reporting,cdr,dialplan,\
         originate,agi,cc,aoc,test,security,message,all"
    );
    assert_eq!(Privileges::CALL.to_user_string(), "call");
    assert_eq!(
        (Privileges::SYSTEM | Privileges::CALL).to_user_string(),
        "system,call"
    );
    assert_eq!(Privileges::NONE.to_user_string(), "<none>");
    assert!(Privileges::ALL.to_user_string().ends_with(",message,all"));
}

#[test]
fn get_perm_semantics() {
    assert_eq!(
        Privileges::parse("system,call"),
        Privileges::SYSTEM | Privileges::CALL
    );
    assert_eq!(Privileges::parse("all"), Privileges::ALL);
    assert_eq!(Privileges::parse("none"), Privileges::NONE);
    assert_eq!(Privileges::parse(""), Privileges::NONE);
    assert_eq!(Privileges::parse("bogus,call"), Privileges::CALL);
    assert_eq!(Privileges::parse("call,bogus"), Privileges::CALL);
    // Case-sensitive, and blanks are not skipped.
    assert_eq!(Privileges::parse("System,CALL"), Privileges::NONE);
    assert_eq!(Privileges::parse("call, system"), Privileges::CALL);
    // Items before the last match every label they are a prefix of.
    assert_eq!(
        Privileges::parse("sys,call"),
        Privileges::SYSTEM | Privileges::CALL
    );
    assert_eq!(
        Privileges::parse("c,user"),
        Privileges::CALL
            | Privileges::COMMAND
            | Privileges::CONFIG
            | Privileges::CDR
            | Privileges::CC
            | Privileges::USER
    );
    // ...but the last one must be whole.
    assert_eq!(Privileges::parse("call,sys"), Privileges::CALL);
    // An empty item matches everything, "all" included.
    assert_eq!(Privileges::parse("call,,user"), Privileges::ALL);
    assert_eq!(Privileges::parse(",call"), Privileges::ALL);
    // A trailing comma ends the list.
    assert_eq!(Privileges::parse("call,"), Privileges::CALL);
    assert_eq!(Privileges::parse("call\0,system"), Privileges::CALL);
}

#[test]
fn event_masks() {
    let all = Privileges::ALL;
    let call = Privileges::CALL;
    let p = Privileges::parse_event_mask;
    assert_eq!(p(""), None);
    assert_eq!(p("on"), Some(all));
    assert_eq!(p("ON"), Some(all));
    assert_eq!(p("yes"), Some(all));
    assert_eq!(p("true"), Some(all));
    assert_eq!(p("off"), Some(Privileges::NONE));
    assert_eq!(p("No"), Some(Privileges::NONE));
    assert_eq!(p("f"), Some(Privileges::NONE));
    // Digits are a raw mask: "1" is system, not "on"; "0" is off.
    assert_eq!(p("1"), Some(Privileges::SYSTEM));
    assert_eq!(p("0"), Some(Privileges::NONE));
    assert_eq!(p("16"), Some(Privileges::COMMAND));
    assert_eq!(p("2147483647"), Some(all));
    assert_eq!(p("2147483648"), None);
    assert_eq!(p("4294967295"), None);
    assert_eq!(p("4294967298"), Some(Privileges(2)));
    assert_eq!(p("99999999999999999999999"), None);
    // A sign is not a digit: the text goes to get_perm.
    assert_eq!(p("-1"), Some(Privileges::NONE));
    assert_eq!(p("call,user"), Some(call | Privileges::USER));
    assert_eq!(p("bogus"), Some(Privileges::NONE));
    // Trailing blanks are kept by astman_get_header, so "on " is not "on".
    assert_eq!(p("on "), Some(Privileges::NONE));

    let e = Privileges::event_mask_from_events_header;
    assert_eq!(e("on", call), Some(call));
    assert_eq!(e("off", all), Some(Privileges::NONE));
    assert_eq!(e("system,call", call), Some(call));
    assert_eq!(e("system", call), Some(Privileges::NONE));
    assert_eq!(e("", call), None);
    assert_eq!(
        e("6", Privileges::SYSTEM | Privileges::LOG),
        Some(Privileges::LOG)
    );

    // Delivery: both read rights and mask must hold the event's class.
    let mask = e("call,user", all).unwrap();
    assert!(mask.allows_event(Privileges::CALL));
    assert!(!mask.allows_event(Privileges::DIALPLAN));
    assert!(mask.allows_event(Privileges::NONE));
}

#[test]
fn action_authority() {
    // process_message: any one class of the action's authority is enough.
    let status = Privileges::SYSTEM | Privileges::CALL | Privileges::REPORTING;
    assert!(Privileges::CALL.permits_action(status));
    assert!(!Privileges::ORIGINATE.permits_action(Privileges::COMMAND));
    assert!(Privileges::ORIGINATE.permits_action(Privileges::ORIGINATE));
    assert!(Privileges::NONE.permits_action(Privileges::NONE));
    assert!(!Privileges::NONE.permits_action(Privileges::CALL));
    let mut p = Privileges::CALL;
    p |= Privileges::USER;
    p &= Privileges::USER | Privileges::LOG;
    assert_eq!(p, Privileges::USER);
    assert!(p.intersects(Privileges::USER) && !p.is_empty());
}

#[test]
fn logins() {
    let acc = Accounts::default();
    let admin = acc.get("admin").unwrap();
    assert!(admin.check_secret("amp111"));
    assert!(!admin.check_secret("AMP111"));
    assert!(!admin.check_secret(""));
    // From recording 03-challenge-md5.good-key: Challenge 773159680, accepted key.
    let key = "d3c6f84cd08dad2fdfa486604be78a90";
    assert!(admin.check_md5_key("773159680", key));
    assert!(!admin.check_md5_key("773159680", &key.to_uppercase()));
    assert!(!admin.check_md5_key("773159681", key));
    assert!(!admin.check_md5_key("", key));
    assert!(!acc.get("limited").unwrap().check_md5_key("773159680", key));
    let nosecret = Accounts::parse("[u]\nread=all\n").unwrap();
    let u = nosecret.get("u").unwrap();
    assert_eq!(u.secret, None);
    assert!(!u.check_secret("") && !u.check_md5_key("1", "x"));
}

// ---------------------------------------------------------------------------------------------
// The config syntax
// ---------------------------------------------------------------------------------------------

#[test]
fn syntax_features() {
    let text = "\
; comment
  [general]   ; indented header, comment after it
port => 6038
bindaddr = [::1]:5038
enabled = Yes
timestampevents = on
writetimeout = 250
authtimeout = 5s
tlsenable = no
channelvars = FOO, BAR ,,
 ;-- a block
  [not-a-user]
  secret = x
 --;
[tmpl](!)
read = call
write = system
setvar = FROMTMPL=1

[alice](tmpl)
secret = a\\;b ; the \\; is kept
permit =   10.0.0.0/8   ;-- inline block --; , 192.168.0.0/16
setvar = A=1=2
setvar = B =x
writetimeout = 500
displayconnects = no
allowmultiplelogin = no
foo = bar
foo += baz
[alice](+)
read +=,user
[Bob]
secret = b
[bob]
permit = 1.2.3.4
";
    let acc = Accounts::parse(text).unwrap();
    let g = acc.general();
    assert_eq!(g.port, 6038);
    assert_eq!(g.bindaddr, ip("::1"));
    assert!(g.enabled && g.timestampevents);
    assert_eq!(g.writetimeout, Duration::from_millis(250));
    assert_eq!(g.authtimeout, Duration::from_secs(5));
    assert_eq!(g.channelvars, ["FOO", "BAR"]);
    assert_eq!(g.other, vec![("tlsenable".to_owned(), "no".to_owned())]);

    let names: Vec<&str> = acc.iter().map(|a| a.username.as_str()).collect();
    assert_eq!(names, ["alice", "Bob"]);
    let alice = acc.get("alice").unwrap();
    assert_eq!(alice.secret.as_deref(), Some("a;b"));
    assert_eq!(alice.read, Privileges::CALL | Privileges::USER);
    assert_eq!(alice.write, Privileges::SYSTEM);
    assert_eq!(alice.acl.len(), 2);
    assert!(alice.permits(ip("192.168.3.4")) && alice.permits(ip("10.1.1.1")));
    assert_eq!(
        alice.setvars,
        vec![
            ("FROMTMPL".to_owned(), "1".to_owned()),
            ("A".to_owned(), "1=2".to_owned()),
            ("B ".to_owned(), "x".to_owned()),
        ]
    );
    assert_eq!(alice.writetimeout, Duration::from_millis(500));
    assert!(!alice.displayconnects && !alice.allowmultiplelogin);
    assert_eq!(alice.other, vec![("foo".to_owned(), "bar baz".to_owned())]);

    // Two sections for one user (any case): the second sets its keys again and replaces the
    // ACL; the first section's values stay otherwise. General defaults apply.
    let bob = acc.get("BOB").unwrap();
    assert_eq!(bob.username, "Bob");
    assert_eq!(bob.secret.as_deref(), Some("b"));
    assert_eq!(bob.acl.len(), 1);
    assert_eq!(bob.writetimeout, Duration::from_millis(250));

    // The raw file.
    let f = ConfFile::parse(text).unwrap();
    assert_eq!(f.sections.len(), 5);
    assert!(f.sections[1].template);
    assert_eq!(f.sections().count(), 4);
    assert_eq!(f.section("GENERAL").unwrap().get("PORT"), Some("6038"));
    assert!(f.section("general").unwrap().entries[0].object);
    assert!(f.section("tmpl").is_none());
}

#[test]
fn later_general_sections_are_ignored_and_empty_files_parse() {
    let acc = Accounts::parse("[general]\nport=6000\n[general]\nport=7000\n").unwrap();
    assert_eq!(acc.general().port, 6000);
    assert!(acc.is_empty());
    for t in ["", "\n\n", "; only a comment\n", "   \r\n", ";-- x --;"] {
        let acc = Accounts::parse(t).unwrap();
        assert!(acc.is_empty());
        assert_eq!(acc.general(), &amiwire_sim::accounts::General::default());
    }
    // CRLF line ends.
    let acc = Accounts::parse("[u]\r\nsecret = s\r\nread = call\r\n").unwrap();
    assert_eq!(acc.get("u").unwrap().secret.as_deref(), Some("s"));
    assert_eq!(acc.get("u").unwrap().read, Privileges::CALL);
}

#[test]
fn conf_comment_blocks() {
    let f = ConfFile::parse("[a]\nx = 1 ;-- one\n;-- nested --;\nstill out --; y = 2\nz = 3\n")
        .unwrap();
    let e = &f.sections[0].entries;
    assert_eq!(e.len(), 3);
    assert_eq!((e[0].name.as_str(), e[0].value.as_str()), ("x", "1"));
    assert_eq!(
        (e[1].name.as_str(), e[1].value.as_str(), e[1].line),
        ("y", "2", 4)
    );
    assert_eq!(e[2].line, 5);
    // Text before and after a block on one line is joined.
    let f = ConfFile::parse("[a]\nx = 1;-- c --;2\n").unwrap();
    assert_eq!(f.sections[0].entries[0].value, "12");
    // ";---" opens no block: a plain comment.
    let f = ConfFile::parse("[a]\nx = 1 ;--- c\ny=2\n").unwrap();
    assert_eq!(f.sections[0].entries.len(), 2);
    // A leading backslash escapes the first character.
    let f = ConfFile::parse("[a]\n\\[k = v\n\\=e=f\n").unwrap();
    assert_eq!(f.sections[0].entries[0].name, "[k");
    assert_eq!(
        (
            f.sections[0].entries[1].name.as_str(),
            f.sections[0].entries[1].value.as_str()
        ),
        ("=e", "f")
    );
}

// ---------------------------------------------------------------------------------------------
// Errors, with their line numbers
// ---------------------------------------------------------------------------------------------

#[test]
fn syntax_errors_have_line_numbers() {
    type Case = (&'static str, usize, fn(&ConfError) -> bool);
    let cases: Vec<Case> = vec![
        ("[general]\nport=1\n[user\n", 3, |e| {
            matches!(e, ConfError::UnclosedSection { .. })
        }),
        ("\n[u](!\n", 2, |e| {
            matches!(e, ConfError::UnclosedOptions { .. })
        }),
        (
            "[u](base)\n",
            1,
            |e| matches!(e, ConfError::UnknownBase { base, .. } if base == "base"),
        ),
        ("[a]\n[u](+)\n", 2, |e| {
            matches!(e, ConfError::NothingToAppend { .. })
        }),
        ("; c\nsecret = x\n", 2, |e| {
            matches!(e, ConfError::OutsideSection { .. })
        }),
        ("[u]\n\n\\ x = 1\n", 3, |e| {
            matches!(e, ConfError::InvalidEscape { .. })
        }),
        ("[u]\nsecret x\n", 2, |e| {
            matches!(e, ConfError::MissingEquals { .. })
        }),
        ("[u]\n = x\n", 2, |e| {
            matches!(e, ConfError::MissingName { .. })
        }),
        (
            "[u]\n#include other.conf\n",
            2,
            |e| matches!(e, ConfError::UnsupportedDirective { directive, .. } if directive == "include"),
        ),
        ("[u]\n#exec /bin/true\n", 2, |e| {
            matches!(e, ConfError::UnsupportedDirective { .. })
        }),
        ("[u]\n\n#frobnicate\n", 3, |e| {
            matches!(e, ConfError::UnknownDirective { .. })
        }),
        ("[u]\nsecret = x\n;-- open\n\n", 3, |e| {
            matches!(e, ConfError::UnclosedComment { .. })
        }),
        ("[u]\nsecret = x--; oops\n", 2, |e| {
            matches!(e, ConfError::StrayCommentEnd { .. })
        }),
    ];
    for (text, line, check) in cases {
        let e = parse_err(text);
        assert_eq!(e.line(), line, "{text:?}: {e}");
        match &e {
            AccountsError::Syntax(c) => assert!(check(c), "{text:?}: {e:?}"),
            other => panic!("{text:?}: not a syntax error: {other:?}"),
        }
        assert!(e.to_string().starts_with(&format!("line {line}: ")), "{e}");
    }
    let deep = format!("[u]\n{}\n", ";--".repeat(129));
    assert!(matches!(
        parse_err(&deep),
        AccountsError::Syntax(ConfError::CommentTooDeep { line: 2 })
    ));
}

#[test]
fn value_errors_have_line_numbers() {
    let cases: Vec<(&str, usize, &str)> = vec![
        ("[general]\nport = 80\n", 2, "port"),
        ("[general]\nport = x\n", 2, "port"),
        ("[general]\nport = 70000\n", 2, "port"),
        ("[general]\nbindaddr = localhost\n", 2, "bindaddr"),
        ("[general]\n\nauthtimeout = 0\n", 3, "authtimeout"),
        ("[general]\nauthlimit = -5\n", 2, "authlimit"),
        ("[general]\nhttptimeout = never\n", 2, "httptimeout"),
        ("[general]\nwritetimeout = 50\n", 2, "writetimeout"),
        ("[u]\nsecret=x\nwritetimeout = 99\n", 3, "writetimeout"),
        ("[u]\nsetvar = NOEQUALS\n", 2, "setvar"),
    ];
    for (text, line, key) in cases {
        let e = parse_err(text);
        assert_eq!(e.line(), line, "{text:?}: {e}");
        match &e {
            AccountsError::InvalidValue { key: k, .. } => assert_eq!(k, key),
            other => panic!("{text:?}: {other:?}"),
        }
        assert!(e.to_string().starts_with(&format!("line {line}: ")), "{e}");
    }

    let e = parse_err("[u]\nsecret = x\npermit = 300.1.1.1\n");
    assert!(
        matches!(e, AccountsError::InvalidAcl { line: 3, .. }),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("line 3: "));

    let e = parse_err("[u]\n\neventfilter = \n");
    assert!(
        matches!(e, AccountsError::InvalidFilter { line: 3, .. }),
        "{e:?}"
    );
    let e = parse_err("[u]\neventfilter(action(include) = x\n");
    assert!(
        matches!(e, AccountsError::InvalidFilter { line: 2, .. }),
        "{e:?}"
    );
    let e = parse_err("[u]\neventfilter = Event: (unclosed\n");
    assert!(
        matches!(e, AccountsError::InvalidFilter { line: 2, .. }),
        "{e:?}"
    );

    let e = parse_err("[u]\nsecret = x\nacl = office\n");
    assert!(
        matches!(e, AccountsError::Unsupported { line: 3, .. }),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("line 3: "));
}

// ---------------------------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------------------------

fn exercise(text: &str) {
    if let Ok(acc) = Accounts::parse(text) {
        for a in acc.iter() {
            let _ = a.permits(ip("127.0.0.1"));
            let _ = a.permits(ip("::1"));
            let _ = a.read.to_string();
            let _ = a.write.to_user_string();
            let _ = a.check_md5_key("123", "abc");
        }
    }
    let _ = Privileges::parse(text);
    let _ = Privileges::parse_event_mask(text);
    let _ = AclRule::parse(AclSense::Permit, text);
}

#[test]
fn arbitrary_input_never_panics() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    // Raw bytes, then config-shaped text.
    let pieces = [
        "[",
        "]",
        "(",
        ")",
        "!",
        "+",
        ",",
        "=",
        "=>",
        "+=",
        ";",
        "\\;",
        ";--",
        "--;",
        "\\",
        "#",
        "\n",
        "\r\n",
        " ",
        "\t",
        "general",
        "u",
        "tmpl",
        "secret",
        "read",
        "write",
        "permit",
        "deny",
        "acl",
        "eventfilter",
        "eventfilter(action(include),name(Hangup))",
        "setvar",
        "writetimeout",
        "port",
        "bindaddr",
        "authtimeout",
        "all",
        "call",
        "system",
        "none",
        "127.0.0.1",
        "/",
        "255.255.255.0",
        "24",
        "::1",
        "[::]",
        "Event: Hangup",
        "x",
        "0",
        "100",
        "-1",
        "é",
        "\0",
    ];
    arbitrary_texts(&mut rng, &pieces, exercise);
}
