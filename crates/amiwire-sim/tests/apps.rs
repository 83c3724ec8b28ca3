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
    let names: Vec<_> = ev
        .got
        .iter()
        .filter_map(|m| m.get_str("Event"))
        .filter(|e| e.starts_with("Confbridge") || e.starts_with("Bridge"))
        .collect();
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
    let names: Vec<_> = ev.got[from..]
        .iter()
        .filter_map(|m| m.get_str("Event"))
        .filter(|e| e.starts_with("Confbridge") || e.starts_with("Bridge"))
        .collect();
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
