//! What follows a successful Login: the Login answer, FullyBooted, then SuccessfulAuth, before
//! the answer to any action pipelined after the Login (recordings 01 and 10-pipelined), and
//! SuccessfulAuth once for every other session reading `security`.
use std::time::Duration;

use amiwire::Message;
use amiwire_sim::server::{SimConfig, Simulator};
use support::{has_id, messages, Client};

mod support;

/// What each message is: the event name, or `Response:<ActionID>`.
fn kinds(ms: &[Message]) -> Vec<String> {
    ms.iter()
        .map(|m| match m.get_str("Event") {
            Some(e) => e.to_owned(),
            None => format!("Response:{}", m.get_str("ActionID").unwrap_or("")),
        })
        .collect()
}

/// Pings (ActionID q) a moment later and reads until its answer: whatever else the simulator
/// sent meanwhile is read too.
async fn ping_a_moment_later(c: &mut Client) {
    tokio::time::sleep(Duration::from_millis(30)).await;
    c.send(b"Action: Ping\r\nActionID: q\r\n\r\n").await;
    c.read_until(|m| has_id(m, "q")).await;
}

#[tokio::test]
async fn successful_auth_comes_before_the_answer_to_a_pipelined_events_off() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    // Many times, as a race would show only sometimes.
    for _ in 0..20 {
        let mut s = Client::connect(sim.addr()).await;
        s.send(
            b"Action: Login\r\nActionID: l\r\nUsername: admin\r\nSecret: amp111\r\n\r\n\
Action: Events\r\nActionID: e\r\nEventMask: off\r\n\r\nAction: Ping\r\nActionID: p\r\n\r\n",
        )
        .await;
        s.read_until(|m| has_id(m, "p")).await;
        // Nothing else comes (the session's own SuccessfulAuth is not delivered twice).
        ping_a_moment_later(&mut s).await;
        assert_eq!(
            kinds(&s.got),
            [
                "Response:l",
                "FullyBooted",
                "SuccessfulAuth",
                "Response:e",
                "Response:p",
                "Response:q"
            ]
        );
        let auth = &s.got[2];
        assert_eq!(auth.get_str("AccountID"), Some("admin"));
        assert_eq!(auth.get_str("Privilege"), Some("security,all"));
    }
    sim.stop().await;
}

#[tokio::test]
async fn successful_auth_once_with_events_on_and_for_other_sessions() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut watcher = Client::connect(sim.addr()).await;
    watcher
        .send(b"Action: Login\r\nActionID: w\r\nUsername: admin\r\nSecret: amp111\r\n\r\n")
        .await;
    watcher
        .read_until(|m| kinds(m).contains(&"SuccessfulAuth".to_owned()))
        .await;

    let mut s = Client::connect(sim.addr()).await;
    s.send(
        b"Action: Login\r\nActionID: l\r\nUsername: c2call\r\nSecret: FrUyHn6FSaX\r\n\r\n\
Action: Ping\r\nActionID: p\r\n\r\n",
    )
    .await;
    s.read_until(|m| has_id(m, "p")).await;
    // c2call does not read `security`: no SuccessfulAuth for it.
    assert_eq!(kinds(&s.got), ["Response:l", "FullyBooted", "Response:p"]);

    // The watcher sees c2call's SuccessfulAuth through the event bus; its own came once.
    watcher
        .read_until(|m| m.iter().any(|m| m.get_str("AccountID") == Some("c2call")))
        .await;
    ping_a_moment_later(&mut watcher).await;
    assert_eq!(
        kinds(&watcher.got),
        [
            "Response:w",
            "FullyBooted",
            "SuccessfulAuth",
            "SuccessfulAuth",
            "Response:q"
        ]
    );
    assert_eq!(watcher.got[2].get_str("AccountID"), Some("admin"));
    assert_eq!(watcher.got[3].get_str("AccountID"), Some("c2call"));
    sim.stop().await;
}

#[tokio::test]
async fn successful_auth_goes_through_the_users_eventfilters() {
    // The `filtered` user's eventfilters (asterisk-etc/manager.conf) decide about its own
    // SuccessfulAuth as about any event.
    let accounts = amiwire_sim::accounts::Accounts::default();
    let filtered = accounts.get("filtered").unwrap();
    let m = messages(
        b"Event: SuccessfulAuth\r\nPrivilege: security,all\r\nAccountID: filtered\r\n\r\n",
    )
    .remove(0);
    let passes = filtered.filters.matches(&m.as_ref());
    // Its includes are Hangup and UserEvent only.
    assert!(!passes);

    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut s = Client::connect(sim.addr()).await;
    s.send(
        b"Action: Login\r\nActionID: l\r\nUsername: filtered\r\nSecret: filtered\r\n\r\n\
Action: Ping\r\nActionID: p\r\n\r\n",
    )
    .await;
    s.read_until(|m| has_id(m, "p")).await;
    let k = kinds(&s.got);
    assert_eq!(k.contains(&"SuccessfulAuth".to_owned()), passes, "{k:?}");
    sim.stop().await;
}

/// `SimConfig::seed` makes the random source repeatable: two simulators with the same seed
/// issue the same MD5 challenge, and another seed gives another one.
#[tokio::test]
async fn a_seed_repeats_the_challenge() {
    async fn challenge(seed: u64) -> String {
        let mut cfg = SimConfig::default();
        cfg.seed = Some(seed);
        let sim = Simulator::start(cfg).await.unwrap();
        let mut c = Client::connect(sim.addr()).await;
        let m = c
            .ask(
                "Action: Challenge\r\nActionID: c\r\nAuthType: MD5\r\n\r\n",
                "c",
            )
            .await;
        sim.stop().await;
        m.get_str("Challenge").unwrap().to_owned()
    }
    let first = challenge(7).await;
    assert_eq!(challenge(7).await, first);
    assert_ne!(challenge(8).await, first);
}
