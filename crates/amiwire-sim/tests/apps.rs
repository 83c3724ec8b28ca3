//! The dialplan applications that keep a caller: ConfBridge (exten 500 of the built-in
//! dialplan), its events and the lists that show its conferences.
use amiwire::Message;
use amiwire_sim::server::{SimConfig, Simulator};
use support::{pairs, Client};

mod support;

fn events<'a>(ms: &'a [Message], name: &str) -> Vec<&'a Message> {
    ms.iter()
        .filter(|m| m.get_str("Event") == Some(name))
        .collect()
}

/// The names of the events whose name starts with one of `prefixes`, in order.
fn event_names<'a>(ms: &'a [Message], prefixes: &[&str]) -> Vec<&'a str> {
    ms.iter()
        .filter_map(|m| m.get_str("Event"))
        .filter(|e| prefixes.iter().any(|p| e.starts_with(p)))
        .collect()
}

async fn admin(sim: &Simulator, events: &str) -> Client {
    let mut c = Client::connect(sim.addr()).await;
    let m = c
        .ask(
            &format!(
                "Action: Login\r\nActionID: l\r\nUsername: admin\r\nSecret: amp111\r\nEvents: {events}\r\n\r\n"
            ),
            "l",
        )
        .await;
    assert_eq!(m.get_str("Response"), Some("Success"));
    c
}

#[tokio::test]
async fn confbridge_callers_make_a_conference() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut ev = admin(&sim, "call").await;
    let mut c = admin(&sim, "off").await;
    let none = c
        .list("Action: ConfbridgeListRooms\r\nActionID: r0\r\n\r\n", "r0")
        .await;
    assert_eq!(none[0].get_str("Message"), Some("No active conferences."));

    ev.originate_wait("500", 20, "", "o1").await;
    ev.wait_events(0, "ConfbridgeJoin", 1).await;
    ev.originate_wait("500", 20, "", "o2").await;
    ev.wait_events(0, "ConfbridgeJoin", 2).await;

    // The events of the first join: bridge created, conference started, device in use,
    // the user enters and joins; the second user enters and joins.
    let names = event_names(&ev.got, &["Confbridge", "Bridge"]);
    assert_eq!(
        names,
        [
            "BridgeCreate",
            "ConfbridgeStart",
            "BridgeEnter",
            "ConfbridgeJoin",
            "BridgeEnter",
            "ConfbridgeJoin"
        ]
    );
    assert_eq!(
        events(&ev.got, "BridgeCreate")[0].get_str("BridgeNumChannels"),
        Some("0")
    );
    assert_eq!(
        events(&ev.got, "ConfbridgeStart")[0].get_str("BridgeNumChannels"),
        Some("1"),
        "the announcer"
    );
    let joins = events(&ev.got, "ConfbridgeJoin");
    let first = joins[0];
    assert_eq!(first.get_str("Conference"), Some("1234"));
    assert_eq!(first.get_str("BridgeType"), Some("base"));
    assert_eq!(first.get_str("BridgeTechnology"), Some("softmix"));
    assert_eq!(first.get_str("BridgeCreator"), Some("ConfBridge"));
    assert_eq!(first.get_str("BridgeName"), Some("1234"));
    assert_eq!(first.get_str("BridgeNumChannels"), Some("2"));
    assert_eq!(joins[1].get_str("BridgeNumChannels"), Some("3"));
    assert_eq!(first.get_str("Channel"), Some("Local/500@test-00000000;2"));
    assert_eq!(
        joins[1].get_str("Channel"),
        Some("Local/500@test-00000001;2")
    );
    let tail: Vec<_> = pairs(first).into_iter().rev().take(2).collect();
    assert_eq!(
        tail,
        [("Muted".into(), "No".into()), ("Admin".into(), "No".into())]
    );
    let bridge = first.get_str("BridgeUniqueid").unwrap().to_owned();
    assert_eq!(bridge.len(), 36);
    assert_eq!(joins[1].get_str("BridgeUniqueid"), Some(bridge.as_str()));
    assert!(ev
        .got
        .iter()
        .any(|m| m.get_str("Event") == Some("DeviceStateChange")
            && m.get_str("Device") == Some("confbridge:1234")
            && m.get_str("State") == Some("INUSE")));

    // The lists.
    let rooms = c
        .list("Action: ConfbridgeListRooms\r\nActionID: r\r\n\r\n", "r")
        .await;
    assert_eq!(rooms.len(), 3);
    assert_eq!(rooms[1].get_str("Parties"), Some("2"));
    let users = c
        .list(
            "Action: ConfbridgeList\r\nActionID: u\r\nConference: 1234\r\n\r\n",
            "u",
        )
        .await;
    let chans: Vec<_> = users[1..3]
        .iter()
        .map(|m| m.get_str("Channel").unwrap())
        .collect();
    assert_eq!(
        chans,
        ["Local/500@test-00000001;2", "Local/500@test-00000000;2"],
        "the last to join first"
    );
    assert_eq!(users[3].get_str("ListItems"), Some("2"));
    let nosuch = c
        .list(
            "Action: ConfbridgeList\r\nActionID: n\r\nConference: 99\r\n\r\n",
            "n",
        )
        .await;
    assert_eq!(
        nosuch[0].get_str("Message"),
        Some("No Conference by that name found.")
    );
    let bl = c
        .list("Action: BridgeList\r\nActionID: b\r\n\r\n", "b")
        .await;
    assert_eq!(bl.len(), 3);
    assert_eq!(bl[1].get_str("BridgeUniqueid"), Some(bridge.as_str()));
    assert_eq!(bl[1].get_str("BridgeNumChannels"), Some("3"));
    let ch = c
        .list("Action: CoreShowChannels\r\nActionID: c\r\n\r\n", "c")
        .await;
    for m in &ch[1..ch.len() - 1] {
        let want = if m.get_str("Channel").unwrap().ends_with(";2") {
            bridge.as_str()
        } else {
            ""
        };
        assert_eq!(m.get_str("BridgeId"), Some(want));
    }
    let ds = c
        .list("Action: DeviceStateList\r\nActionID: d\r\n\r\n", "d")
        .await;
    assert!(ds
        .iter()
        .any(|m| m.get_str("Device") == Some("confbridge:1234")
            && m.get_str("State") == Some("INUSE")));

    // One leaves (hung up): the conference goes on with the other; then it ends.
    let from = ev.got.len();
    let h = c
        .ask(
            "Action: Hangup\r\nActionID: h1\r\nChannel: Local/500@test-00000000;2\r\n\r\n",
            "h1",
        )
        .await;
    assert_eq!(h.get_str("Response"), Some("Success"));
    ev.wait_events(from, "ConfbridgeLeave", 1).await;
    let rooms = c
        .list("Action: ConfbridgeListRooms\r\nActionID: r2\r\n\r\n", "r2")
        .await;
    assert_eq!(rooms[1].get_str("Parties"), Some("1"));
    c.ask(
        "Action: Hangup\r\nActionID: h2\r\nChannel: Local/500@test-00000001;1\r\n\r\n",
        "h2",
    )
    .await;
    ev.wait_events(from, "BridgeDestroy", 1).await;
    let names = event_names(&ev.got[from..], &["Confbridge", "Bridge"]);
    assert_eq!(
        names,
        [
            "BridgeLeave",
            "ConfbridgeLeave",
            "BridgeLeave",
            "ConfbridgeLeave",
            "ConfbridgeEnd",
            "BridgeDestroy"
        ]
    );
    let none = c
        .list("Action: ConfbridgeListRooms\r\nActionID: r3\r\n\r\n", "r3")
        .await;
    assert_eq!(none[0].get_str("Message"), Some("No active conferences."));
    let bl = c
        .list("Action: BridgeList\r\nActionID: b2\r\n\r\n", "b2")
        .await;
    assert_eq!(bl.len(), 2, "no bridge left");
    let ds = c
        .list("Action: DeviceStateList\r\nActionID: d2\r\n\r\n", "d2")
        .await;
    assert!(ds
        .iter()
        .any(|m| m.get_str("Device") == Some("confbridge:1234")
            && m.get_str("State") == Some("NOT_INUSE")));
    sim.stop().await;
}

#[tokio::test]
async fn queue_pause_action() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut ev = admin(&sim, "agent,call").await;
    let mut c = admin(&sim, "off").await;
    let e = c
        .ask(
            "Action: QueuePause\r\nActionID: p0\r\nInterface: Local/100@test\r\n\r\n",
            "p0",
        )
        .await;
    assert_eq!(
        e.get_str("Message"),
        Some("Need 'Interface' and 'Paused' parameters.")
    );
    let e = c
        .ask(
            "Action: QueuePause\r\nActionID: p1\r\nInterface: SIP/9\r\nPaused: true\r\n\r\n",
            "p1",
        )
        .await;
    assert_eq!(e.get_str("Message"), Some("Interface not found"));
    let e = c
        .ask(
            "Action: QueuePause\r\nActionID: p2\r\nInterface: Local/100@test\r\nPaused: true\r\nQueue: nosuch\r\n\r\n",
            "p2",
        )
        .await;
    assert_eq!(e.get_str("Message"), Some("Interface not found"));
    let from = ev.got.len();
    let ok = c
        .ask(
            "Action: QueuePause\r\nActionID: p3\r\nInterface: Local/100@test\r\nPaused: true\r\nQueue: support\r\nReason: capture\r\n\r\n",
            "p3",
        )
        .await;
    assert_eq!(ok.get_str("Response"), Some("Success"));
    assert_eq!(ok.get_str("Message"), Some("Interface paused successfully"));
    ev.wait_events(from, "DeviceStateChange", 2).await;
    let p = events(&ev.got[from..], "QueueMemberPause")[0];
    assert_eq!(p.get_str("Paused"), Some("1"));
    assert_eq!(p.get_str("PausedReason"), Some("capture"));
    assert_ne!(p.get_str("LastPause"), Some("0"));
    let devs: Vec<_> = events(&ev.got[from..], "DeviceStateChange")
        .iter()
        .map(|m| (m.get_str("Device").unwrap(), m.get_str("State").unwrap()))
        .collect();
    assert_eq!(
        devs,
        [
            ("Queue:support_pause_Local/100@test", "INUSE"),
            ("Queue:support_avail", "INUSE")
        ]
    );
    let st = c
        .list("Action: QueueStatus\r\nActionID: s\r\n\r\n", "s")
        .await;
    let member = st
        .iter()
        .find(|m| m.get_str("Event") == Some("QueueMember"))
        .unwrap();
    assert_eq!(member.get_str("Paused"), Some("1"));
    assert_eq!(member.get_str("PausedReason"), Some("capture"));
    assert_eq!(member.get_str("LastPause"), p.get_str("LastPause"));
    let sum = c
        .list("Action: QueueSummary\r\nActionID: q\r\n\r\n", "q")
        .await;
    assert_eq!(sum[1].get_str("LoggedIn"), Some("1"));
    assert_eq!(sum[1].get_str("Available"), Some("0"));
    // Unpaused (in every queue: no Queue header).
    let ok = c
        .ask(
            "Action: QueuePause\r\nActionID: p4\r\nInterface: Local/100@test\r\nPaused: no\r\n\r\n",
            "p4",
        )
        .await;
    assert_eq!(
        ok.get_str("Message"),
        Some("Interface unpaused successfully")
    );
    let sum = c
        .list("Action: QueueSummary\r\nActionID: q2\r\n\r\n", "q2")
        .await;
    assert_eq!(sum[1].get_str("Available"), Some("1"));
    let ds = c
        .list("Action: DeviceStateList\r\nActionID: d\r\n\r\n", "d")
        .await;
    let devs: Vec<_> = ds
        .iter()
        .filter_map(|m| Some((m.get_str("Device")?, m.get_str("State")?)))
        .collect();
    assert!(devs.contains(&("Queue:support_pause_Local/100@test", "NOT_INUSE")));
    assert!(devs.contains(&("Queue:support_avail", "NOT_INUSE")));
    sim.stop().await;
}

#[tokio::test]
async fn queue_caller_waits_and_abandons() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut ev = admin(&sim, "agent,call").await;
    let mut c = admin(&sim, "off").await;
    ev.originate_wait("400", 20, "CallerID: Queue Caller <555>\r\n", "o")
        .await;
    ev.wait_events(0, "QueueCallerJoin", 1).await;
    let join = events(&ev.got, "QueueCallerJoin")[0];
    let tail: Vec<_> = pairs(join).into_iter().skip(16).collect();
    assert_eq!(
        tail,
        [("Queue", "support"), ("Position", "1"), ("Count", "1")]
            .map(|(k, v)| (k.into(), v.into()))
    );
    assert_eq!(join.get_str("Channel"), Some("Local/400@test-00000000;2"));
    assert_eq!(join.get_str("CallerIDNum"), Some("555"));
    let st = c
        .list("Action: QueueStatus\r\nActionID: s\r\n\r\n", "s")
        .await;
    let params = &st[1];
    assert_eq!(params.get_str("Calls"), Some("1"));
    let entry = st
        .iter()
        .find(|m| m.get_str("Event") == Some("QueueEntry"))
        .unwrap();
    assert_eq!(entry.get_str("Channel"), Some("Local/400@test-00000000;2"));
    assert_eq!(entry.get_str("CallerIDName"), Some("Queue Caller"));
    assert_eq!(entry.get_str("Position"), Some("1"));
    assert_eq!(st.last().unwrap().get_str("ListItems"), Some("3"));
    let sum = c
        .list("Action: QueueSummary\r\nActionID: q\r\n\r\n", "q")
        .await;
    assert_eq!(sum[1].get_str("Callers"), Some("1"));
    let ds = c
        .list("Action: DeviceStateList\r\nActionID: d\r\n\r\n", "d")
        .await;
    assert!(ds
        .iter()
        .any(|m| m.get_str("Device") == Some("Queue:support")
            && m.get_str("State") == Some("RINGING")));
    let ch = c
        .list("Action: CoreShowChannels\r\nActionID: c\r\n\r\n", "c")
        .await;
    let two = ch
        .iter()
        .find(|m| m.get_str("Channel") == Some("Local/400@test-00000000;2"))
        .unwrap();
    assert_eq!(two.get_str("Application"), Some("Queue"));
    assert_eq!(two.get_str("ApplicationData"), Some("support,r,,,20"));

    // The caller hangs up: abandoned.
    let from = ev.got.len();
    c.ask(
        "Action: Hangup\r\nActionID: h\r\nChannel: Local/400@test-00000000;1\r\n\r\n",
        "h",
    )
    .await;
    ev.wait_events(from, "QueueCallerLeave", 1).await;
    let names = event_names(&ev.got[from..], &["QueueCaller"]);
    assert_eq!(names, ["QueueCallerAbandon", "QueueCallerLeave"]);
    let ab = events(&ev.got[from..], "QueueCallerAbandon")[0];
    assert_eq!(ab.get_str("OriginalPosition"), Some("1"));
    let leave = events(&ev.got[from..], "QueueCallerLeave")[0];
    assert_eq!(leave.get_str("Count"), Some("0"));
    let st = c
        .list("Action: QueueStatus\r\nActionID: s2\r\n\r\n", "s2")
        .await;
    assert_eq!(st[1].get_str("Calls"), Some("0"));
    assert_eq!(st[1].get_str("Abandoned"), Some("1"));
    assert!(!st.iter().any(|m| m.get_str("Event") == Some("QueueEntry")));
    sim.stop().await;
}

#[tokio::test]
async fn queue_timeout_goes_on_in_the_dialplan() {
    let mut cfg = SimConfig::default();
    cfg.dialplan = amiwire_sim::dialplan::Dialplan::parse(
        "[test]\nexten => 400,1,Answer()\n same => n,Queue(support,r,,,1)\n same => n,Hangup()\n",
    )
    .unwrap();
    let sim = Simulator::start(cfg).await.unwrap();
    let mut ev = admin(&sim, "agent,call,dialplan").await;
    let mut c = admin(&sim, "off").await;
    ev.originate_wait("400", 20, "", "o").await;
    ev.wait_events(0, "Hangup", 2).await;
    let names = event_names(&ev.got, &["QueueCaller"]);
    assert_eq!(
        names,
        ["QueueCallerJoin", "QueueCallerLeave"],
        "not abandoned"
    );
    assert!(ev.got.iter().any(|m| m.get_str("Event") == Some("VarSet")
        && m.get_str("Variable") == Some("QUEUESTATUS")
        && m.get_str("Value") == Some("TIMEOUT")));
    // The dialplan went on to its Hangup.
    assert!(ev
        .got
        .iter()
        .any(|m| m.get_str("Event") == Some("Newexten")
            && m.get_str("Application") == Some("Hangup")));
    let st = c
        .list("Action: QueueStatus\r\nActionID: s\r\n\r\n", "s")
        .await;
    assert_eq!(st[1].get_str("Abandoned"), Some("0"));
    assert_eq!(st[1].get_str("Calls"), Some("0"));
    sim.stop().await;
}

#[tokio::test]
async fn agent_login_and_logoff() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut ev = admin(&sim, "agent,call").await;
    let mut c = admin(&sim, "off").await;
    let bl = c
        .list("Action: BridgeList\r\nActionID: b0\r\n\r\n", "b0")
        .await;
    assert_eq!(bl.len(), 2, "no holding bridge before the first login");
    ev.originate_wait("800", 20, "CallerID: Agent <1001>\r\n", "o")
        .await;
    ev.wait_events(0, "BridgeEnter", 1).await;
    let names = event_names(&ev.got, &["Agent", "Bridge"]);
    assert_eq!(names, ["AgentLogin", "BridgeCreate", "BridgeEnter"]);
    let login = events(&ev.got, "AgentLogin")[0];
    assert_eq!(login.get_str("Channel"), Some("Local/800@test-00000000;2"));
    assert_eq!(pairs(login).last().unwrap().1, "1001");
    let enter = events(&ev.got, "BridgeEnter")[0];
    assert_eq!(enter.get_str("BridgeType"), Some("agent_hold"));
    assert_eq!(enter.get_str("BridgeNumChannels"), Some("1"));
    let bridge = enter.get_str("BridgeUniqueid").unwrap().to_owned();

    let agents = c.list("Action: Agents\r\nActionID: a\r\n\r\n", "a").await;
    let a = pairs(&agents[1]);
    let keys: Vec<_> = a.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys[..7],
        [
            "Event",
            "Agent",
            "Name",
            "Status",
            "LoggedInTime",
            "Channel",
            "ChannelState"
        ]
    );
    assert_eq!(agents[1].get_str("Status"), Some("AGENT_IDLE"));
    assert_eq!(
        agents[1].get_str("Channel"),
        Some("Local/800@test-00000000;2")
    );
    assert_eq!(agents[1].get_str("CallerIDName"), Some("Agent"));
    assert_eq!(a.last().unwrap().0, "ActionID");
    let bl = c
        .list("Action: BridgeList\r\nActionID: b\r\n\r\n", "b")
        .await;
    assert_eq!(bl[1].get_str("BridgeUniqueid"), Some(bridge.as_str()));
    assert_eq!(bl[1].get_str("BridgeCreator"), Some("AgentPool"));
    assert_eq!(bl[1].get_str("BridgeNumChannels"), Some("1"));
    let st = c
        .list(
            "Action: Status\r\nActionID: s\r\nChannel: Local/800@test-00000000;2\r\n\r\n",
            "s",
        )
        .await;
    assert_eq!(st[1].get_str("BridgeID"), Some(bridge.as_str()));
    assert_eq!(st[1].get_str("Application"), Some("AgentLogin"));

    // A second login of the same agent fails: that call hangs up at once.
    let from = ev.got.len();
    ev.originate_wait("800", 20, "", "o2").await;
    ev.wait_events(from, "Hangup", 2).await;
    assert!(events(&ev.got[from..], "AgentLogin").is_empty());

    // Hung up: the agent logs off; the holding bridge stays, empty.
    let from = ev.got.len();
    c.ask(
        "Action: Hangup\r\nActionID: h\r\nChannel: Local/800@test-00000000;2\r\n\r\n",
        "h",
    )
    .await;
    ev.wait_events(from, "AgentLogoff", 1).await;
    let names = event_names(&ev.got[from..], &["Agent", "Bridge"]);
    assert_eq!(names, ["BridgeLeave", "AgentLogoff"]);
    let off = events(&ev.got[from..], "AgentLogoff")[0];
    assert_eq!(off.get_str("Agent"), Some("1001"));
    assert!(off.get_str("Logintime").is_some());
    let agents = c.list("Action: Agents\r\nActionID: a2\r\n\r\n", "a2").await;
    assert_eq!(agents[1].get_str("Status"), Some("AGENT_LOGGEDOFF"));
    let bl = c
        .list("Action: BridgeList\r\nActionID: b2\r\n\r\n", "b2")
        .await;
    assert_eq!(bl[1].get_str("BridgeNumChannels"), Some("0"));
    sim.stop().await;
}
