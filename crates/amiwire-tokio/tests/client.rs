//! The tokio client against amiwire's simulator: actions, lists, Command, Originate, login
//! failures, event subscriptions and their overflow policies, close.
mod support;

use std::time::Duration;

use amiwire::action::Originate;
use amiwire::filter::Filter;
use amiwire::Action;
use amiwire_sim::accounts::Privileges;
use amiwire_sim::server::SimConfig;
use amiwire_sim::session::SimEvent;
use amiwire_tokio::{ActionError, Client, ClientEvent, Error, EventMask, Overflow, Status};
use support::{admin, next, next_name, sim, watching};

#[tokio::test]
async fn ping_command_list_and_errors() {
    let sim = sim(SimConfig::default()).await;
    let client = Client::connect(admin(&sim)).await.unwrap();
    assert_eq!(
        client.status(),
        Status::Connected {
            banner: "Asterisk Call Manager/11.0.0".into()
        }
    );

    let pong = client.send(Action::ping()).await.unwrap();
    assert!(pong.is_success());
    assert_eq!(pong.get_str("Ping"), Some("Pong"));

    // Command output, as lines.
    let out = client
        .send(Action::command("dialplan show test"))
        .await
        .unwrap();
    let lines: Vec<String> = out
        .output()
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    assert!(lines.iter().any(|l| l.contains("'100' =>")), "{lines:?}");

    // An event list, collected whole: two 30 s calls are up.
    for _ in 0..2 {
        let r = client
            .send(
                Originate::to_exten("Local/600@test", "test", "s", 1)
                    .asynchronous(true)
                    .build(),
            )
            .await
            .unwrap();
        assert!(r.is_success(), "{r:?}");
    }
    let list = client.send(Action::core_show_channels()).await.unwrap();
    assert!(list.is_success());
    let complete = list.complete.as_ref().unwrap();
    assert_eq!(
        complete.get_str("ListItems"),
        Some(list.events.len().to_string().as_str())
    );
    assert_eq!(list.events.len(), 4, "two Local pairs");
    assert!(list
        .events
        .iter()
        .all(|e| e.get_str("Event") == Some("CoreShowChannel")));

    // An answer the server refuses is a Response, not an Err.
    let r = client.send(Action::new("NoSuchAction")).await.unwrap();
    assert!(!r.is_success());
    assert!(
        r.text().unwrap().starts_with("Invalid/unknown command"),
        "{r:?}"
    );

    // The failed async Originate: OriginateResponse says Failure.
    let r = client
        .send(
            Originate::to_exten("Local/100@nowhere", "test", "s", 1)
                .asynchronous(true)
                .build(),
        )
        .await
        .unwrap();
    assert!(!r.is_success());
    assert_eq!(
        r.originate.as_ref().and_then(|m| m.get_str("Response")),
        Some("Failure")
    );

    client.close().await;
    sim.stop().await;
}

#[tokio::test]
async fn connect_errors_are_precise_and_keep_the_secret() {
    // Nobody listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = amiwire_tokio::ClientConfig::new("127.0.0.1", port, "admin", "amp111");
    cfg.connect_timeout = Duration::from_secs(5);
    let e = Client::connect(cfg).await.unwrap_err();
    assert!(matches!(e, Error::Connect { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with("cannot connect to 127.0.0.1:"),
        "{e}"
    );

    // Wrong secret.
    let sim = sim(SimConfig::default()).await;
    let mut cfg = admin(&sim);
    cfg.connection.login = Some(amiwire::Credentials::plain("admin", "s3cr3t-wrong"));
    let e = Client::connect(cfg.clone()).await.unwrap_err();
    match &e {
        Error::LoginFailed { username, message } => {
            assert_eq!(username, "admin");
            assert_eq!(message, "Authentication failed");
        }
        other => panic!("{other:?}"),
    }
    assert!(!e.to_string().contains("s3cr3t"));
    assert!(!format!("{e:?} {cfg:?}").contains("s3cr3t"));

    // The same with MD5: the secret never crosses the wire, and the failure is the same.
    cfg.connection.login = Some(amiwire::Credentials::md5("admin", "s3cr3t-wrong"));
    let e = Client::connect(cfg).await.unwrap_err();
    assert!(matches!(e, Error::LoginFailed { .. }), "{e:?}");

    // A good MD5 login.
    let mut cfg = admin(&sim);
    cfg.connection.login = Some(amiwire::Credentials::md5("admin", "amp111"));
    let c = Client::connect(cfg).await.unwrap();
    assert!(c.send(Action::ping()).await.unwrap().is_success());
    c.close().await;
    sim.stop().await;
}

#[tokio::test]
async fn subscribers_get_what_their_filters_pass() {
    let sim = sim(SimConfig::default()).await;
    let client = Client::connect(admin(&sim)).await.unwrap();
    let mut users = client.events(Filter::event("UserEvent") & Filter::header_eq("UserEvent", "B"));
    let mut all = client.events(Filter::all());
    assert!(matches!(
        next(&mut users).await,
        Some(ClientEvent::Connected { .. })
    ));
    assert!(matches!(
        next(&mut all).await,
        Some(ClientEvent::Connected { .. })
    ));

    for name in ["A", "B", "A", "B"] {
        let r = client
            .send(Action::user_event(name, &[("Seq", name)]))
            .await
            .unwrap();
        assert!(r.is_success());
    }
    for _ in 0..2 {
        let e = users.next_event().await.unwrap();
        assert_eq!(e.get_str("UserEvent"), Some("B"));
    }
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let e = all.next_event().await.unwrap();
        if e.get_str("Event") == Some("UserEvent") {
            seen.push(e.get_str("UserEvent").unwrap().to_owned());
        }
    }
    assert_eq!(seen, ["A", "B", "A", "B"]);
    assert_eq!(users.try_recv(), None);

    // A manager.conf-style filter set, evaluated on the client.
    let mut set = amiwire::filter::FilterSet::new();
    set.add_manager_conf_line("eventfilter = !Event: UserEvent")
        .unwrap();
    let mut no_users = client.events(set);
    let _ = next(&mut no_users).await; // Connected
    sim.raise(SimEvent::new(
        "UserEvent",
        Privileges::USER,
        &[("UserEvent", "C")],
    ));
    sim.raise(SimEvent::new(
        "Reload",
        Privileges::SYSTEM,
        &[("Module", "x")],
    ));
    assert_eq!(next_name(&mut no_users).await, "Reload");

    // The set composed with structured filters: no UserEvent (the set), no Reload.
    let mut mixed =
        client.events(Filter::manager("!Event: UserEvent").unwrap() & !Filter::event("Reload"));
    let _ = next(&mut mixed).await; // Connected
    for (name, privs) in [
        ("UserEvent", Privileges::USER),
        ("Reload", Privileges::SYSTEM),
        ("Shutdown", Privileges::SYSTEM),
    ] {
        sim.raise(SimEvent::new(name, privs, &[("UserEvent", "D")]));
    }
    assert_eq!(next_name(&mut mixed).await, "Shutdown");

    client.close().await;
    // Subscriptions end after a close, with a marker saying so.
    assert!(matches!(
        next(&mut users).await,
        Some(ClientEvent::Disconnected { .. })
    ));
    assert_eq!(next(&mut users).await, None);
    sim.stop().await;
}

async fn flood_into(overflow: Overflow) -> (Vec<ClientEvent>, usize) {
    let sim = sim(SimConfig::default()).await;
    let mut cfg = admin(&sim);
    cfg.subscriber_capacity = 10;
    cfg.overflow = overflow;
    let client = Client::connect(cfg).await.unwrap();
    let flood = Filter::event("VarSet");
    let mut slow = client.events(flood.clone());
    let mut fast = client.events_with(flood, 100_000, Overflow::Close);
    let ev = SimEvent::new(
        "VarSet",
        Privileges::DIALPLAN,
        &[("Variable", "X"), ("Value", "1")],
    );
    sim.flood(&ev, 1000).await;
    // The fast subscriber reads everything while the slow one does not read at all.
    let mut n = 0;
    while n < 1000 {
        match next(&mut fast).await {
            Some(ClientEvent::Event(_)) => n += 1,
            Some(ClientEvent::Lagged { .. }) => panic!("the fast subscriber lagged"),
            Some(_) => {}
            None => panic!("ended"),
        }
    }
    client.close().await;
    let mut got = Vec::new();
    while let Some(e) = next(&mut slow).await {
        got.push(e);
    }
    sim.stop().await;
    (got, n)
}

#[tokio::test]
async fn a_slow_subscriber_loses_its_oldest_events_and_is_told() {
    let (got, _) = flood_into(Overflow::DropOldest).await;
    let events = got
        .iter()
        .filter(|e| matches!(e, ClientEvent::Event(_)))
        .count();
    let dropped: u64 = got
        .iter()
        .map(|e| match e {
            ClientEvent::Lagged { dropped } => *dropped,
            _ => 0,
        })
        .sum();
    assert!(events <= 10, "{events}");
    assert_eq!(events as u64 + dropped, 1000, "{got:?}");
    assert!(matches!(got[0], ClientEvent::Lagged { .. }), "{:?}", got[0]);
}

#[tokio::test]
async fn a_slow_subscriber_with_close_policy_is_ended() {
    let (got, _) = flood_into(Overflow::Close).await;
    // Connected, then 9 events fill the 10 places, then the marker, then the end.
    assert!(matches!(got[0], ClientEvent::Connected { .. }));
    assert!(got[1..10]
        .iter()
        .all(|e| matches!(e, ClientEvent::Event(_))));
    assert_eq!(got[10], ClientEvent::Overflowed { capacity: 10 });
    assert_eq!(got.len(), 11);
}

#[tokio::test]
async fn actions_after_close_fail_and_unanswerable_originates_are_refused() {
    let sim = sim(SimConfig::default()).await;
    let mut cfg = admin(&sim);
    cfg.connection.events = Some(EventMask::Off);
    let client = Client::connect(cfg).await.unwrap();
    // With events off, an async Originate's result can never arrive: refused, never sent.
    let e = client
        .send(
            Originate::to_exten("Local/110@test", "test", "s", 1)
                .asynchronous(true)
                .build(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Local(amiwire::connection::LocalError::OriginateResultUnavailable { .. })
        ),
        "{e:?}"
    );
    assert!(!e.outcome_unknown());
    // Closing one handle closes the session for every clone.
    let other = client.clone();
    client.close().await;
    let e = other.send(Action::ping()).await.unwrap_err();
    assert!(matches!(e, Error::Closed), "{e:?}");
    assert!(matches!(other.status(), Status::Closed { .. }));
    sim.stop().await;
}

#[tokio::test]
async fn a_per_action_timeout_says_the_action_was_sent() {
    let mut cfg = SimConfig::default();
    cfg.faults.response_delay = Duration::from_millis(400);
    let sim = sim(cfg).await;
    let client = Client::connect(admin(&sim)).await.unwrap();
    let e = client
        .send_with_timeout(Action::ping(), Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Action(ActionError::TimedOut { sent: true })),
        "{e:?}"
    );
    assert!(e.outcome_unknown());
    // The late answer is dropped; the next action gets its own answer.
    let r = client.send(Action::ping()).await.unwrap();
    assert_eq!(r.get_str("Ping"), Some("Pong"));
    client.close().await;
    sim.stop().await;
}

/// An event over the decoder's limits is dropped alone; a read larger than the decoder's
/// buffer is fed in pieces; the session goes on.
#[tokio::test]
async fn an_oversized_event_is_dropped_alone() {
    let sim = sim(SimConfig::default()).await;
    let mut cfg = admin(&sim);
    cfg.connection.decoder.max_message_len = 8 * 1024;
    cfg.connection.decoder.max_buffered = 16 * 1024;
    let client = Client::connect(cfg).await.unwrap();
    let mut users = client.events(Filter::event("UserEvent"));
    let big = "x".repeat(900);
    let headers: Vec<(String, String)> = (0..100).map(|i| (format!("H{i}"), big.clone())).collect();
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut huge = vec![("UserEvent", "huge")];
    huge.extend(refs);
    for _ in 0..3 {
        sim.raise(SimEvent::new("UserEvent", Privileges::USER, &huge));
    }
    sim.raise(SimEvent::new(
        "UserEvent",
        Privileges::USER,
        &[("UserEvent", "small")],
    ));
    let e = users.next_event().await.unwrap();
    assert_eq!(e.get_str("UserEvent"), Some("small"));
    let r = client.send(Action::ping()).await.unwrap();
    assert_eq!(r.get_str("Ping"), Some("Pong"));
    client.close().await;
    sim.stop().await;
}

#[tokio::test]
async fn reconnecting_gives_up_after_max_attempts() {
    let sim = sim(SimConfig::default()).await;
    let mut cfg = admin(&sim);
    let mut rc = amiwire_tokio::Reconnect::default();
    rc.initial = Duration::from_millis(10);
    rc.max_attempts = Some(3);
    cfg.reconnect = Some(rc);
    let (client, mut all) = watching(cfg).await;
    sim.stop().await; // closes every connection and the listener
    let mut markers = Vec::new();
    while let Some(item) = next(&mut all).await {
        if !matches!(item, ClientEvent::Event(_)) {
            markers.push(item);
        }
    }
    assert_eq!(markers.len(), 1, "{markers:?}");
    assert!(matches!(markers[0], ClientEvent::Disconnected { .. }));
    match client.status() {
        Status::Closed { reason } => match &reason {
            amiwire_tokio::Disconnect::GaveUp { first, last } => {
                assert_eq!(
                    **first,
                    amiwire_tokio::Disconnect::Session(amiwire::CloseReason::PeerClosed)
                );
                assert!(last.starts_with("cannot connect"), "{reason}");
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    let e = client.send(Action::ping()).await.unwrap_err();
    assert!(matches!(e, Error::Closed), "{e:?}");
}

/// Every duration may be as large as `Duration::MAX` (it means "never"), and limits come from
/// the core's `ConnectionConfig`: no setting panics the client.
#[tokio::test]
async fn huge_durations_mean_never_and_the_core_limits_apply() {
    let sim = sim(SimConfig::default()).await;
    let mut cfg = admin(&sim);
    cfg.connect_timeout = Duration::MAX;
    cfg.write_timeout = Duration::MAX;
    cfg.connection.login_timeout = Duration::MAX;
    cfg.connection.action_timeout = Duration::MAX;
    cfg.connection.keepalive = Some(Duration::MAX);
    cfg.connection.pong_timeout = Duration::MAX;
    let mut rc = amiwire_tokio::Reconnect::default();
    rc.initial = Duration::MAX;
    rc.max = Duration::MAX;
    rc.multiplier = f64::NAN;
    rc.jitter = f64::INFINITY;
    assert_eq!(rc.delay(u32::MAX, f64::NAN), Duration::MAX);
    cfg.reconnect = Some(rc);
    let client = Client::connect(cfg).await.unwrap();
    assert!(client.send(Action::ping()).await.unwrap().is_success());
    let r = client
        .send_with_timeout(Action::ping(), Duration::MAX)
        .await
        .unwrap();
    assert!(r.is_success());
    client.close().await;

    // The output queue's bound is the core's own, settable here.
    let mut cfg = admin(&sim);
    cfg.connection.max_queued_bytes = 16;
    let client = Client::connect(cfg).await.unwrap();
    match client.send(Action::ping()).await {
        Err(Error::Local(amiwire::LocalError::OutputFull { limit: 16 })) => {}
        other => panic!("{other:?}"),
    }
    client.close().await;
}
