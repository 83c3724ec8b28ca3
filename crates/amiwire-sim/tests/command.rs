//! Command: `manager show connected` follows the sessions as they come and go; `core show
//! help` topics.
use std::time::Duration;

use amiwire::Message;
use amiwire_sim::server::{SimConfig, Simulator};
use support::Client;
use tokio::net::TcpStream;

mod support;

fn outputs(m: &Message) -> Vec<String> {
    m.iter()
        .filter(|h| h.is("Output"))
        .map(|h| String::from_utf8_lossy(h.value()).into_owned())
        .collect()
}

const SHOW: &str = "Action: Command\r\nActionID: c\r\nCommand: manager show connected\r\n\r\n";

#[tokio::test]
async fn manager_show_connected_follows_the_sessions() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut admin = Client::login(sim.addr(), "admin", "amp111").await;
    let c2 = Client::login(sim.addr(), "c2call", "FrUyHn6FSaX").await;
    // A connection that has not logged in is listed with an empty name.
    let anon = TcpStream::connect(sim.addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let out = outputs(&admin.ask(SHOW, "c").await);
    assert_eq!(out.len(), 5, "{out:#?}");
    assert!(out[0].starts_with("  Username         IP Address"));
    let row = |i: usize| -> Vec<String> { out[i].split_whitespace().map(str::to_owned).collect() };
    assert_eq!(row(1)[0], "admin");
    assert_eq!(row(1)[1], "127.0.0.1");
    assert_eq!(row(1)[4], "10"); // FileDes
    assert_eq!(row(1)[6..], ["2147483647", "2147483647"]);
    assert_eq!(row(2)[0], "c2call");
    assert_eq!(row(2)[4], "11");
    // c2call's classes as a `%-10.10d` number: zero-padded to ten digits.
    let c2perms = amiwire_sim::accounts::Privileges::parse(
        "system,call,log,verbose,command,agent,user,config,dtmf,reporting,cdr,dialplan,originate",
    )
    .bits();
    assert_eq!(row(2)[6], format!("{c2perms:010}"));
    assert!(row(2)[6].starts_with('0'));
    assert_eq!(&out[3][..19], "                   ", "no user name");
    assert_eq!(row(3)[3], "12"); // no name: one column fewer when split
    assert_eq!(out[4], "3 users connected.");

    drop(c2);
    drop(anon);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let out = outputs(&admin.ask(SHOW, "c").await);
    assert_eq!(out.len(), 3, "{out:#?}");
    assert_eq!(out[2], "1 users connected.");
    sim.stop().await;
}

#[tokio::test]
async fn core_show_help_topics() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut s = Client::login(sim.addr(), "admin", "amp111").await;
    let help = |topic: &str| {
        format!("Action: Command\r\nActionID: h\r\nCommand: core show help {topic}\r\n\r\n")
    };
    let m = s.ask(&help("manager   SHOW"), "h").await;
    assert_eq!(m.get_str("Response"), Some("Success"));
    assert_eq!(
        outputs(&m),
        [
            "manager show commands          -- List manager interface commands",
            "manager show connected         -- List connected manager interface users"
        ]
    );
    let m = s.ask(&help("core show uptime"), "h").await;
    assert_eq!(
        outputs(&m),
        [
            "Usage: core show uptime [seconds]",
            "       Shows Asterisk uptime information.",
            "       The seconds word returns the uptime in seconds only."
        ]
    );
    let m = s.ask(&help("no such"), "h").await;
    assert_eq!(outputs(&m), ["No such command 'no such'."]);
    sim.stop().await;
}

/// `core show channels` lists the live channels in main/cli.c's layout, then the counts.
#[tokio::test]
async fn core_show_channels_lists_live_channels() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut admin = Client::login(sim.addr(), "admin", "amp111").await;
    const CHANNELS: &str = "Action: Command\r\nActionID: c\r\nCommand: core show channels\r\n\r\n";
    let out = outputs(&admin.ask(CHANNELS, "c").await);
    assert_eq!(out.len(), 4, "{out:?}");
    assert_eq!(&out[1..3], ["0 active channels", "0 active calls"]);
    // A 30 s call on extension 600: its Local pair runs Answer/Wait.
    let o = "Action: Originate\r\nActionID: o\r\nChannel: Local/600@test\r\nApplication: Wait\r\nData: 30\r\n\r\n";
    let r = admin.ask(o, "o").await;
    assert_eq!(r.get_str("Response"), Some("Success"), "{r:?}");
    let out = outputs(&admin.ask(CHANNELS, "c").await);
    assert_eq!(out.len(), 6, "{out:?}");
    for row in &out[..3] {
        assert_eq!(row.len(), 64 + 1 + 32 + 1 + 7 + 1 + 30, "{row:?}");
    }
    let rows = &out[1..3];
    assert!(
        rows.iter().all(|r| r.starts_with("Local/600@test-")),
        "{rows:?}"
    );
    assert!(rows.iter().any(|r| r.contains(" 600@test:")), "{rows:?}");
    assert_eq!(&out[3..5], ["2 active channels", "2 active calls"]);
    sim.stop().await;
}
