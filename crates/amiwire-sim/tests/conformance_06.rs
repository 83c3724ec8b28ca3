//! Conformance with recording 06-event-lists: its client side replayed against the simulator,
//! the answers compared with the recorded ones (after normalising what must differ).
//!
//! The recorded server had 14 Local channels up: three calls to 600, a caller waiting in
//! queue `support` (whose only member the capture had paused, reason `capture`), agent 1001
//! logged in via AgentLogin on 800 and two callers in ConfBridge 1234.
//! `lists_with_the_recorded_calls_up` places the same calls on the simulator (same order, same
//! Originates, channel numbers from `SimConfig::first_channel` so that the channels get the
//! recorded names) and compares every list that shows them, normalising only:
//! - Uniqueid and Linkedid values: each is replaced by the name of the channel that has that
//!   Uniqueid in the same stream's CoreShowChannels (the simulator's Uniqueids start from its
//!   own clock), so that which channel links to which is still compared;
//! - bridge ids (`BridgeId`, `BridgeID`, `BridgeUniqueid`): replaced by the bridge's type from
//!   the same stream's BridgeList (Asterisk's are random UUIDs);
//! - times and durations (`Duration`, `Seconds`, `Wait`, `LongestHoldTime`, `AnsweredTime`,
//!   `LoggedInTime`, `LastPause`, `LoginTime`): they depend on when the calls were placed
//!   and the server started;
//! - the order of the items of CoreShowChannels, Status, DeviceStateList and BridgeList,
//!   sorted by channel, device or bridge type: Asterisk lists them in the order of its hash
//!   containers.
//!
//! The queue's `Abandoned: 1` is reproduced by a caller who hung up before the recorded calls
//! were placed (the recorded server had taken such a call before).
//!
//! `lists_without_calls_as_recorded` compares the lists that do not depend on the calls with
//! no call up, byte for byte after decoding; `queue_agent_device_and_bridge_lists_in_asterisks_layout`
//! checks those that do with no call up.
use amiwire::Message;
use amiwire_sim::dialplan::Dialplan;
use amiwire_sim::server::{SimConfig, Simulator};
use support::{actions, by_id, data, has_id, pairs, replay_actions, Client};
use tokio::net::TcpStream;

mod support;

const NAME: &str = "06-event-lists";

fn names(m: &Message) -> Vec<String> {
    m.iter()
        .map(|h| String::from_utf8_lossy(h.name()).into_owned())
        .collect()
}

fn pick<'a>(ms: &'a [Message], id: &str) -> Vec<&'a Message> {
    ms.iter()
        .filter(|m| m.get_str("ActionID") == Some(id))
        .collect()
}

/// The recorded client's actions, each with its bytes.
fn recorded_actions() -> Vec<Vec<u8>> {
    actions(&data(&format!("{NAME}.client.bin")))
}

fn decode_all(bytes: &[u8]) -> Vec<Message> {
    support::decode_all(bytes).1
}

/// Sends `actions` one at a time, as the recorded client did, and returns what came back.
async fn replay(addr: std::net::SocketAddr, actions: &[Vec<u8>]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    replay_actions(&mut s, actions).await
}

/// The recorded calls placed on a simulator whose channels are numbered from 7: a queue caller
/// who hangs up (7, the abandoned call), 600 three times (8, 9, a), the queue caller (b), the
/// agent (c) and two conference callers (d, e), after the member is paused. Waits until each
/// is where it was recorded.
async fn recorded_calls_up() -> Simulator {
    let mut cfg = SimConfig::default();
    cfg.first_channel = 7;
    let sim = Simulator::start(cfg).await.unwrap();
    let mut c = Client::connect(sim.addr()).await;
    c.ask(
        "Action: Login\r\nActionID: l\r\nUsername: admin\r\nSecret: amp111\r\nEvents: call,agent\r\n\r\n",
        "l",
    )
    .await;
    let p = c
        .ask(
            "Action: QueuePause\r\nActionID: p\r\nInterface: Local/100@test\r\nPaused: true\r\nQueue: support\r\nReason: capture\r\n\r\n",
            "p",
        )
        .await;
    assert_eq!(p.get_str("Response"), Some("Success"));
    let caller = "CallerID: Queue Caller <555>\r\n";
    c.originate_wait("400", 20, caller, "gone").await;
    c.wait_events(0, "QueueCallerJoin", 1).await;
    c.ask(
        "Action: Hangup\r\nActionID: h\r\nChannel: Local/400@test-00000007;1\r\n\r\n",
        "h",
    )
    .await;
    c.wait_events(0, "QueueCallerLeave", 1).await;
    for id in ["600a", "600b", "600c"] {
        c.originate_wait("600", 30, "", id).await;
    }
    c.originate_wait("400", 20, caller, "queue").await;
    c.wait_events(0, "QueueCallerJoin", 2).await;
    c.originate_wait("800", 20, "CallerID: Agent <1001>\r\n", "agent")
        .await;
    c.wait_events(0, "AgentLogin", 1).await;
    c.originate_wait("500", 20, "", "conf1").await;
    c.wait_events(0, "ConfbridgeJoin", 1).await;
    c.originate_wait("500", 20, "", "conf2").await;
    c.wait_events(0, "ConfbridgeJoin", 2).await;
    sim
}

/// The messages of `ms` answering `id`, normalised as the file's header says: uniqueids by
/// channel name and bridge ids by bridge type (both from the same stream's lists), times
/// blanked, and the items of the lists Asterisk keeps in hash order sorted.
fn normalised(ms: &[Message], id: &str) -> Vec<Vec<(String, String)>> {
    let mut uid: std::collections::HashMap<String, String> = Default::default();
    for m in pick(ms, "coreshowchannels-60") {
        if let (Some(u), Some(c)) = (m.get_str("Uniqueid"), m.get_str("Channel")) {
            uid.insert(u.to_owned(), format!("<uid of {c}>"));
        }
    }
    let mut bridge: std::collections::HashMap<String, String> = Default::default();
    for m in pick(ms, "bridgelist-74") {
        if let (Some(b), Some(t)) = (m.get_str("BridgeUniqueid"), m.get_str("BridgeType")) {
            bridge.insert(b.to_owned(), format!("<{t} bridge>"));
        }
    }
    let times = [
        "Duration",
        "Seconds",
        "Wait",
        "LongestHoldTime",
        "AnsweredTime",
        "LoggedInTime",
        "LastPause",
        "LoginTime",
    ];
    let mut out: Vec<Vec<(String, String)>> = pick(ms, id)
        .into_iter()
        .map(|m| {
            pairs(m)
                .into_iter()
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        "Uniqueid" | "Linkedid" => uid.get(&v).cloned().unwrap_or(v),
                        "BridgeId" | "BridgeID" | "BridgeUniqueid" if !v.is_empty() => {
                            bridge.get(&v).cloned().unwrap_or(v)
                        }
                        k if times.contains(&k) => "<time>".to_owned(),
                        _ => v,
                    };
                    (k, v)
                })
                .collect()
        })
        .collect();
    let key = |m: &Vec<(String, String)>| -> Option<String> {
        let ev = m
            .iter()
            .find(|(k, _)| k == "Event")
            .map(|(_, v)| v.as_str())?;
        let field = match ev {
            "CoreShowChannel" | "Status" => "Channel",
            "DeviceStateChange" => "Device",
            "BridgeListItem" => "BridgeType",
            _ => return None,
        };
        m.iter().find(|(k, _)| k == field).map(|(_, v)| v.clone())
    };
    // Only the items between the ack and the complete event move.
    if out.len() > 2 {
        let n = out.len();
        if out[1..n - 1].iter().all(|m| key(m).is_some()) {
            out[1..n - 1].sort_by_key(|m| key(m));
        }
    }
    out
}

#[tokio::test]
async fn lists_with_the_recorded_calls_up() {
    let sim = recorded_calls_up().await;
    let got = decode_all(&replay(sim.addr(), &recorded_actions()).await);
    sim.stop().await;
    let want = decode_all(&data(&format!("{NAME}.server.bin")));
    for id in [
        "coreshowchannels-60",
        "status-61",
        "status-62", // one channel, with Variables and AllVariables
        "coreshowchannelmap-63",
        "queuestatus-64",
        "queuesummary-65",
        "agents-67",
        "devicestatelist-68",
        "confbridgelistrooms-71",
        "confbridgelist-72",
        "confbridgelist-73", // an unknown conference while one is up
        "bridgelist-74",
        "coreshowchannels-78",
    ] {
        let w = normalised(&want, id);
        assert!(!w.is_empty(), "no recorded answer to {id}");
        assert_eq!(normalised(&got, id), w, "{id}");
    }
}

/// The whole session replayed once (default simulator: no calls up).
async fn session() -> (Vec<Message>, Vec<Message>) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let got = replay(sim.addr(), &recorded_actions()).await;
    sim.stop().await;
    let want = decode_all(&data(&format!("{NAME}.server.bin")));
    (decode_all(&got), want)
}

#[tokio::test]
async fn lists_without_calls_as_recorded() {
    let (got, want) = session().await;
    // Byte-equal after decoding: nothing normalised.
    for id in [
        "login-59",
        "queues-66", // Asterisk 22 has no Queues action: the unknown-action error
        "extensionstatelist-69",
        "presencestatelist-70",
        "parkinglots-75",
        "parkedcalls-76",
        "showdialplan-77", // 36 ListDialplan items of context test
        "sippeers-79",     // no chan_sip: unknown action
        "logoff-80",
    ] {
        let w: Vec<_> = pick(&want, id).into_iter().map(pairs).collect();
        assert!(!w.is_empty(), "no recorded answer to {id}");
        let g: Vec<_> = pick(&got, id).into_iter().map(pairs).collect();
        assert_eq!(g, w, "{id}");
    }
}

#[tokio::test]
async fn queue_agent_device_and_bridge_lists_in_asterisks_layout() {
    let (got, want) = session().await;
    let event = |ms: &[Message], id: &str, ev: &str| -> Vec<Message> {
        pick(ms, id)
            .into_iter()
            .filter(|m| m.get_str("Event") == Some(ev))
            .cloned()
            .collect()
    };
    let ack = |ms: &[Message], id: &str| -> Vec<(String, String)> {
        pairs(
            pick(ms, id)
                .into_iter()
                .find(|m| m.get_str("Response").is_some() && m.get_str("Event").is_none())
                .unwrap(),
        )
    };
    // The acks are equal, and every item event has the recorded headers in the recorded
    // order.
    for (id, events) in [
        ("queuestatus-64", &["QueueParams", "QueueMember"][..]),
        ("queuesummary-65", &["QueueSummary"][..]),
    ] {
        assert_eq!(ack(&got, id), ack(&want, id), "{id}");
        for ev in events {
            let (g, w) = (event(&got, id, ev), event(&want, id, ev));
            assert_eq!(g.len(), w.len(), "{id} {ev}");
            for (g, w) in g.iter().zip(&w) {
                assert_eq!(names(g), names(w), "{id} {ev}");
                assert_eq!(g.get_str("Queue"), Some("support"));
            }
        }
    }
    // The queue's member as configured.
    let member = &event(&got, "queuestatus-64", "QueueMember")[0];
    let recorded = &event(&want, "queuestatus-64", "QueueMember")[0];
    for k in [
        "Name",
        "Location",
        "StateInterface",
        "Membership",
        "Penalty",
        "Status",
    ] {
        assert_eq!(member.get_str(k), recorded.get_str(k), "{k}");
    }
    assert_eq!(member.get_str("Paused"), Some("0")); // the capture had paused it
    let params = &event(&got, "queuestatus-64", "QueueParams")[0];
    assert_eq!(params.get_str("Strategy"), Some("ringall"));
    assert_eq!(params.get_str("Calls"), Some("0"));
    // The completes: equal but for the count (no QueueEntry here).
    let done = |ms: &[Message], id: &str, ev: &str| pairs(&event(ms, id, ev)[0]);
    let mut w = done(&want, "queuestatus-64", "QueueStatusComplete");
    w[3].1 = "2".into();
    assert_eq!(done(&got, "queuestatus-64", "QueueStatusComplete"), w);
    assert_eq!(
        done(&got, "queuesummary-65", "QueueSummaryComplete"),
        done(&want, "queuesummary-65", "QueueSummaryComplete")
    );

    // Agents: the framing as recorded; the agent logged off.
    assert_eq!(ack(&got, "agents-67"), ack(&want, "agents-67"));
    assert_eq!(
        done(&got, "agents-67", "AgentsComplete"),
        done(&want, "agents-67", "AgentsComplete")
    );
    let a = pairs(&event(&got, "agents-67", "Agents")[0]);
    assert_eq!(
        a,
        [
            ("Event", "Agents"),
            ("Agent", "1001"),
            ("Name", "Test Agent"),
            ("Status", "AGENT_LOGGEDOFF"),
            ("ActionID", "agents-67"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );

    // DeviceStateList: the ack, and the agent's item as recorded.
    assert_eq!(
        ack(&got, "devicestatelist-68"),
        ack(&want, "devicestatelist-68")
    );
    let agent_item = |ms: &[Message]| {
        event(ms, "devicestatelist-68", "DeviceStateChange")
            .into_iter()
            .find(|m| m.get_str("Device") == Some("Agent:1001"))
            .map(|m| pairs(&m))
    };
    assert_eq!(agent_item(&got), agent_item(&want));
    assert!(agent_item(&got).is_some());

    // BridgeList: the framing; no bridges.
    assert_eq!(ack(&got, "bridgelist-74"), ack(&want, "bridgelist-74"));
    let mut w = done(&want, "bridgelist-74", "BridgeListComplete");
    w[3].1 = "0".into();
    assert_eq!(done(&got, "bridgelist-74", "BridgeListComplete"), w);

    // ConfBridge with no conference up (app_confbridge.c).
    for id in [
        "confbridgelistrooms-71",
        "confbridgelist-72",
        "confbridgelist-73",
    ] {
        let g = pick(&got, id);
        assert_eq!(g.len(), 1, "{id}");
        assert_eq!(g[0].get_str("Response"), Some("Error"));
        assert_eq!(
            g[0].get_str("Message"),
            Some("No active conferences."),
            "{id}"
        );
    }
}

/// CoreShowChannelMap of the recorded queue caller's `;1` side, which was in no bridge: the
/// simulator is given a dialplan whose 400 holds the call with a plain Wait, and
/// numbers its channels so that the call gets the recorded name.
#[tokio::test]
async fn channel_map_of_an_unbridged_channel() {
    let mut cfg = SimConfig::default();
    cfg.dialplan =
        Dialplan::parse("[test]\nexten => 400,1,Answer()\n same => n,Wait(30)\n").unwrap();
    cfg.first_channel = 0xb;
    let sim = Simulator::start(cfg).await.unwrap();
    let mut c = Client::connect(sim.addr()).await;
    c.send(
        b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\nEvents: off\r\n\r\n\
Action: Originate\r\nActionID: o\r\nChannel: Local/400@test\r\nApplication: Wait\r\nData: 30\r\n\r\n",
    )
    .await;
    // The synchronous Originate answers once the call is answered.
    c.read_until(|m| has_id(m, "o")).await;
    assert_eq!(by_id(&c.got, "o").get_str("Response"), Some("Success"));
    let action: Vec<Vec<u8>> = recorded_actions()
        .into_iter()
        .filter(|a| {
            let a = String::from_utf8_lossy(a);
            a.contains("login-59") || a.contains("coreshowchannelmap-63")
        })
        .collect();
    assert_eq!(action.len(), 2);
    let got = decode_all(&replay(sim.addr(), &action).await);
    let want = decode_all(&data(&format!("{NAME}.server.bin")));
    let g: Vec<_> = pick(&got, "coreshowchannelmap-63")
        .into_iter()
        .map(pairs)
        .collect();
    let w: Vec<_> = pick(&want, "coreshowchannelmap-63")
        .into_iter()
        .map(pairs)
        .collect();
    assert_eq!(w.len(), 2);
    assert_eq!(g, w);
    sim.stop().await;
}

#[tokio::test]
async fn channel_map_errors_keep_asterisks_bare_lf() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let got = replay(
        sim.addr(),
        &[
            b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\nEvents: off\r\n\r\n".to_vec(),
            b"Action: CoreShowChannelMap\r\nActionID: a\r\n\r\n".to_vec(),
            b"Action: CoreShowChannelMap\r\nActionID: b\r\nChannel: Local/1@x-00000000;1\r\n\r\n"
                .to_vec(),
        ],
    )
    .await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains(
        "Response: Error\r\nActionID: a\r\nMessage: CoreShowChannelMap requires a channel.\n\r\n\r\n"
    ));
    assert!(text.contains(
        "Response: Error\r\nActionID: b\r\nMessage: Could not get channel snapshot\n\r\n\r\n"
    ));
    sim.stop().await;
}

#[tokio::test]
async fn show_dialplan_errors_and_filters() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let got = decode_all(
        &replay(
            sim.addr(),
            &[
                b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\nEvents: off\r\n\r\n"
                    .to_vec(),
                b"Action: ShowDialPlan\r\nActionID: a\r\nContext: nosuch\r\n\r\n".to_vec(),
                b"Action: ShowDialPlan\r\nActionID: b\r\nContext: test\r\nExtension: 999\r\n\r\n"
                    .to_vec(),
                b"Action: ShowDialPlan\r\nActionID: c\r\nExtension: 999\r\n\r\n".to_vec(),
                b"Action: ShowDialPlan\r\nActionID: d\r\nContext: test\r\nExtension: 300\r\n\r\n"
                    .to_vec(),
                b"Action: ParkedCalls\r\nActionID: e\r\nParkingLot: nosuch\r\n\r\n".to_vec(),
            ],
        )
        .await,
    );
    let msg = |id: &str| {
        pick(&got, id)[0]
            .get_str("Message")
            .map(str::to_owned)
            .unwrap()
    };
    assert_eq!(msg("a"), "Did not find context nosuch");
    assert_eq!(msg("b"), "Did not find extension 999@test");
    assert_eq!(msg("c"), "Did not find extension 999 in any context");
    assert_eq!(msg("e"), "Requested parking lot could not be found.");
    let d = pick(&got, "d");
    assert_eq!(d.len(), 7, "ack, 5 priorities, complete");
    let done = d[6];
    assert_eq!(done.get_str("ListItems"), Some("5"));
    assert_eq!(done.get_str("ListExtensions"), Some("1"));
    assert_eq!(done.get_str("ListContexts"), Some("1"));
    assert_eq!(d[3].get_str("Application"), Some("UserEvent"));
    assert_eq!(d[3].get_str("AppData"), Some("MyEvent,Foo: bar,Other: baz"));
    sim.stop().await;
}
