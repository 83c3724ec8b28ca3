//! The client when things go wrong: server restarts (reconnect, replayed mask and filters,
//! actions never re-sent), connections cut mid-list and mid-message, a stalled server, a
//! silent server (keepalive), TLS.
mod support;

use std::time::Duration;

use amiwire::filter::{Filter, ManagerFilter};
use amiwire::Action;
use amiwire_sim::accounts::Privileges;
use amiwire_sim::server::SimConfig;
use amiwire_sim::session::SimEvent;
use amiwire_tokio::{
    ActionError, Client, ClientEvent, CloseReason, Disconnect, Error, EventMask, Reconnect, Status,
    TlsConfig,
};
use support::{
    action_id, admin, fast_reconnect, next, next_name, read_action, scripted_login,
    scripted_session, sim, watching,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn user_event(name: &str) -> SimEvent {
    SimEvent::new("UserEvent", Privileges::USER, &[("UserEvent", name)])
}

#[tokio::test]
async fn restart_reconnects_and_replays_filters() {
    let sim = sim(SimConfig::default()).await;
    let mut cfg = admin(&sim);
    cfg.reconnect = Some(fast_reconnect());
    let (client, mut all) = watching(cfg).await;

    // Server side: only UserEvents for this session.
    let f = ManagerFilter::include().name("UserEvent").build().unwrap();
    let r = client.add_server_filter(&f).await.unwrap();
    assert!(r.is_success(), "{r:?}");

    sim.restart();
    // The Shutdown event is not a UserEvent: the server-side filter holds it back.
    match next(&mut all).await {
        Some(ClientEvent::Disconnected { reason }) => {
            assert_eq!(reason, Disconnect::Session(CloseReason::PeerClosed));
            assert_eq!(reason.to_string(), "the server closed the connection")
        }
        other => panic!("{other:?}"),
    }
    match next(&mut all).await {
        Some(ClientEvent::Reconnected { banner }) => {
            assert_eq!(banner, "Asterisk Call Manager/11.0.0")
        }
        other => panic!("{other:?}"),
    }
    assert!(client.is_connected());
    // The filter was applied again on the new session: a Reload is held back by the server,
    // the UserEvent passes. (The replayed Filter is answered before this Ping.)
    assert!(client.send(Action::ping()).await.unwrap().is_success());
    sim.raise(SimEvent::new(
        "Reload",
        Privileges::SYSTEM,
        &[("Module", "x")],
    ));
    sim.raise(user_event("after"));
    // The login's own events (FullyBooted, SuccessfulAuth) come before the replayed Filter
    // takes effect, as on a real Asterisk; after them, only the UserEvent.
    let mut names = Vec::new();
    loop {
        let e = all.next_event().await.unwrap();
        let name = e.get_str("Event").unwrap().to_owned();
        if name == "UserEvent" {
            assert_eq!(e.get_str("UserEvent"), Some("after"));
            break;
        }
        names.push(name);
    }
    assert!(
        names
            .iter()
            .all(|n| n == "FullyBooted" || n == "SuccessfulAuth"),
        "{names:?}"
    );
    client.close().await;
    sim.stop().await;
}

#[tokio::test]
async fn restart_replays_the_event_mask() {
    let sim = sim(SimConfig::default()).await;
    let mut cfg = admin(&sim);
    cfg.reconnect = Some(fast_reconnect());
    let (client, mut all) = watching(cfg).await;
    let r = client
        .set_event_mask(&EventMask::parse("user"))
        .await
        .unwrap();
    assert!(r.is_success(), "{r:?}");
    sim.restart();
    // Asterisk's Shutdown is a system event, sent before the close; the mask holds it back.
    assert!(matches!(
        next(&mut all).await,
        Some(ClientEvent::Disconnected { .. })
    ));
    assert!(matches!(
        next(&mut all).await,
        Some(ClientEvent::Reconnected { .. })
    ));
    // The new session logged in with Events: user: a system event does not come, a user
    // event does.
    sim.raise(SimEvent::new(
        "Reload",
        Privileges::SYSTEM,
        &[("Module", "x")],
    ));
    sim.raise(user_event("u"));
    assert_eq!(next_name(&mut all).await, "UserEvent");
    client.close().await;
    sim.stop().await;
}

/// A scripted server: the first connection logs in, takes one action and dies without
/// answering; the next ones answer everything with Success. Returns every action the later
/// connections received.
#[tokio::test]
async fn an_action_written_before_a_disconnect_is_not_sent_again() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((mut s, _)) = l.accept().await {
            let seen = seen_tx.clone();
            let die = std::mem::replace(&mut first, false);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                scripted_login(&mut s, &mut buf, true).await;
                while let Some(a) = read_action(&mut s, &mut buf).await {
                    if die {
                        return; // the action was written; the server goes away
                    }
                    let _ = seen.send(a.clone());
                    let r = format!(
                        "Response: Success\r\nActionID: {}\r\nPing: Pong\r\n\r\n",
                        action_id(&a)
                    );
                    if s.write_all(r.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let mut cfg = amiwire_tokio::ClientConfig::new("127.0.0.1", port, "admin", "amp111");
    cfg.reconnect = Some(fast_reconnect());
    let (client, mut all) = watching(cfg).await;

    let call = amiwire::action::Originate::to_exten("Local/100@test", "test", "s", 1).build();
    let e = client.send(call).await.unwrap_err();
    assert!(
        matches!(e, Error::Action(ActionError::Closed { sent: true })),
        "{e:?}"
    );
    assert!(e.outcome_unknown());
    assert!(matches!(
        next(&mut all).await,
        Some(ClientEvent::Disconnected { .. })
    ));
    // Sent while reconnecting or after: answered by the new session.
    let r = client.send(Action::ping()).await.unwrap();
    assert_eq!(r.get_str("Ping"), Some("Pong"));
    assert!(matches!(
        next(&mut all).await,
        Some(ClientEvent::Reconnected { .. })
    ));
    client.close().await;
    // The new sessions saw the Ping and the Logoff, never the Originate.
    let mut later = Vec::new();
    while let Ok(a) = seen_rx.try_recv() {
        later.push(a.lines().next().unwrap_or("").to_owned());
    }
    assert_eq!(later, ["Action: Ping", "Action: Logoff"]);
}

#[tokio::test]
async fn without_reconnect_a_restart_closes_the_client() {
    let sim = sim(SimConfig::default()).await;
    let client = Client::connect(admin(&sim)).await.unwrap();
    let mut all = client.events(Filter::all());
    let _ = next(&mut all).await;
    sim.restart();
    // Shutdown (admin reads system), then the markers, then the end.
    assert_eq!(next_name(&mut all).await, "Shutdown");
    assert!(matches!(
        next(&mut all).await,
        Some(ClientEvent::Disconnected { .. })
    ));
    assert_eq!(next(&mut all).await, None);
    assert!(matches!(client.status(), Status::Closed { .. }));
    let e = client.send(Action::ping()).await.unwrap_err();
    assert!(matches!(e, Error::Closed), "{e:?}");
    sim.stop().await;
}

/// Wherever the server cuts the connection during a list, the list is never reported
/// complete with fewer items: it is whole, truncated, or its outcome is unknown.
#[tokio::test]
async fn a_list_cut_anywhere_is_never_complete() {
    // How long the whole exchange is, on a simulator without faults.
    let mut seen_truncated = false;
    for cut in (150..=1500).step_by(90) {
        let mut sc = SimConfig::default();
        sc.faults.drop_after_bytes = Some(cut);
        let sim = sim(sc).await;
        sim.generate_calls("600", "test", Duration::from_secs(30), 1000.0, 3)
            .await;
        let mut cfg = admin(&sim);
        cfg.connection.events = Some(EventMask::Off);
        let client = match Client::connect(cfg).await {
            Ok(c) => c,
            Err(e) => {
                // Cut during the login.
                assert!(matches!(e, Error::LoginFailed { .. }), "{cut}: {e:?}");
                sim.stop().await;
                continue;
            }
        };
        match client.send(Action::core_show_channels()).await {
            Ok(r) => {
                assert_eq!(r.events.len(), 6, "{cut}: only whole lists are Ok");
                assert_eq!(r.complete.unwrap().get_str("ListItems"), Some("6"));
            }
            Err(Error::Action(ActionError::Truncated(r))) => {
                assert!(r.events.len() < 6, "{cut}");
                seen_truncated = true;
            }
            Err(Error::Action(ActionError::Closed { sent: true })) => {}
            Err(e) => panic!("{cut}: {e:?}"),
        }
        sim.stop().await;
    }
    assert!(seen_truncated, "no cut fell inside the list");
}

#[tokio::test]
async fn a_stalled_server_times_the_login_out() {
    let mut sc = SimConfig::default();
    sc.faults.stall_reading = true;
    let sim = sim(sc).await;
    let mut cfg = admin(&sim);
    cfg.connection.login_timeout = Duration::from_millis(200);
    let e = Client::connect(cfg).await.unwrap_err();
    assert!(matches!(e, Error::LoginTimeout(_)), "{e:?}");
    sim.stop().await;
}

/// A scripted server that logs the client in and then never answers again.
#[tokio::test]
async fn keepalive_detects_a_silent_server() {
    let (port, server) = scripted_session(|mut s, mut sink| async move {
        // Read (and ignore) whatever comes: the Ping gets no Pong.
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut sink)).await;
        String::from_utf8_lossy(&sink).into_owned()
    })
    .await;
    let mut cfg = amiwire_tokio::ClientConfig::new("127.0.0.1", port, "admin", "amp111");
    cfg.connection.keepalive = Some(Duration::from_millis(100));
    cfg.connection.pong_timeout = Duration::from_millis(200);
    let (_client, mut all) = watching(cfg).await;
    match next(&mut all).await {
        Some(ClientEvent::Disconnected { reason }) => {
            assert_eq!(reason, Disconnect::Session(CloseReason::KeepaliveTimeout));
            assert_eq!(reason.to_string(), "keepalive Ping unanswered")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(next(&mut all).await, None);
    let sent = server.await.unwrap();
    assert!(sent.starts_with("Action: Ping\r\n"), "{sent:?}");
}

/// TLS: a terminating proxy with a self-signed certificate for `localhost` in front of the
/// simulator (AMI's TLS port works the same way).
#[tokio::test]
async fn tls_with_a_private_ca_and_name_checks() {
    let sim = sim(SimConfig::default()).await;
    let (port, cert_pem) = support::tls_proxy(sim.addr()).await;

    let mut cfg = amiwire_tokio::ClientConfig::new("localhost", port, "admin", "amp111");
    cfg.tls = Some(TlsConfig::ca_pem(cert_pem.clone()));
    let client = Client::connect(cfg.clone()).await.unwrap();
    let r = client.send(Action::ping()).await.unwrap();
    assert_eq!(r.get_str("Ping"), Some("Pong"));
    client.close().await;

    // By address, naming the certificate's host.
    let mut by_ip = cfg.clone();
    by_ip.host = "127.0.0.1".into();
    let mut t = TlsConfig::ca_pem(cert_pem.clone());
    t.server_name = Some("localhost".into());
    by_ip.tls = Some(t);
    Client::connect(by_ip).await.unwrap().close().await;

    // The wrong name is refused.
    let mut wrong = cfg.clone();
    let mut t = TlsConfig::ca_pem(cert_pem);
    t.server_name = Some("pbx.example.com".into());
    wrong.tls = Some(t);
    let e = Client::connect(wrong).await.unwrap_err();
    assert!(matches!(e, Error::Tls { .. }), "{e:?}");
    assert!(e.to_string().contains("certificate"), "{e}");

    // An unknown CA is refused.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let mut untrusted = cfg;
    untrusted.tls = Some(TlsConfig::ca_pem(other.cert.pem()));
    let e = Client::connect(untrusted).await.unwrap_err();
    assert!(matches!(e, Error::Tls { .. }), "{e:?}");

    // A CA file that does not parse.
    let mut bad = amiwire_tokio::ClientConfig::new("localhost", port, "admin", "amp111");
    bad.tls = Some(TlsConfig::ca_pem(b"not a certificate".to_vec()));
    let e = Client::connect(bad).await.unwrap_err();
    assert!(e.to_string().contains("no certificate"), "{e}");
    sim.stop().await;
}

#[test]
fn backoff_grows_is_capped_and_jittered() {
    let r = Reconnect::default();
    assert_eq!(r.delay(0, 0.0), Duration::from_millis(250));
    assert_eq!(r.delay(1, 0.0), Duration::from_millis(500));
    assert_eq!(r.delay(3, 0.0), Duration::from_secs(2));
    assert_eq!(r.delay(20, 0.0), Duration::from_secs(30));
    assert_eq!(r.delay(1000, 0.0), Duration::from_secs(30));
    // Jitter shortens by up to half.
    assert_eq!(r.delay(1, 1.0), Duration::from_millis(250));
    assert!(r.delay(1, 0.5) > Duration::from_millis(250));
}

/// A server that logs the client in and then stops reading: the client's writes stall and
/// the connection is given up after `write_timeout`, the actions failing with `sent: true`.
#[tokio::test]
async fn a_server_that_stops_reading_is_given_up() {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let (port, _server) = scripted_session(|s, _| async move {
        // Never read again; keep the socket open until the test ends.
        let _ = done_rx.await;
        drop(s);
    })
    .await;
    let mut cfg = amiwire_tokio::ClientConfig::new("127.0.0.1", port, "admin", "amp111");
    cfg.write_timeout = Duration::from_millis(300);
    let (client, mut all) = watching(cfg).await;
    let big = "y".repeat(1000);
    let headers: Vec<(String, &str)> = (0..100).map(|i| (format!("H{i}"), big.as_str())).collect();
    let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let c = client.clone();
        let a = Action::user_event("bulk", &refs);
        set.spawn(async move { c.send(a).await });
    }
    match next(&mut all).await {
        Some(ClientEvent::Disconnected { reason }) => {
            assert_eq!(
                reason,
                Disconnect::WriteStalled {
                    after: Duration::from_millis(300)
                }
            );
            assert_eq!(reason.to_string(), "the server has not read for 300ms")
        }
        other => panic!("{other:?}"),
    }
    let (mut unknown, mut refused) = (0, 0);
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Err(e) if e.outcome_unknown() => unknown += 1,
            Err(Error::Local(amiwire::connection::LocalError::OutputFull { .. }))
            | Err(Error::Action(ActionError::Closed { sent: false })) => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(unknown > 0, "{unknown} {refused}");
    assert_eq!(unknown + refused, 200);
    let _ = done_tx.send(());
}

/// After a reconnect the server refuses the credentials (the secret was changed): trying again
/// would not help, so the client closes and says why.
#[tokio::test]
async fn a_refused_relogin_ends_the_client() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut s, _)) = l.accept().await {
            n += 1;
            let accept = n == 1;
            tokio::spawn(async move {
                let mut buf = Vec::new();
                scripted_login(&mut s, &mut buf, accept).await;
                if accept {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                // Then the server closes (a restart, or after a failed login).
            });
        }
    });
    let mut cfg = amiwire_tokio::ClientConfig::new("127.0.0.1", port, "admin", "amp111");
    cfg.reconnect = Some(fast_reconnect());
    let (client, mut all) = watching(cfg).await;
    assert!(matches!(
        next(&mut all).await,
        Some(ClientEvent::Disconnected { .. })
    ));
    assert_eq!(next(&mut all).await, None);
    match client.status() {
        Status::Closed { reason } => {
            assert_eq!(
                reason,
                Disconnect::Session(CloseReason::LoginFailed {
                    message: "Authentication failed".into()
                })
            );
            assert_eq!(reason.to_string(), "login refused: Authentication failed");
        }
        other => panic!("{other:?}"),
    }
}

/// Dropping the last `Client` handle logs off, as `close()` does.
#[tokio::test]
async fn dropping_the_last_handle_logs_off() {
    let (port, server) = scripted_session(|mut s, mut buf| async move {
        let next = read_action(&mut s, &mut buf).await.unwrap();
        let answer = format!(
            "Response: Goodbye\r\nActionID: {}\r\nMessage: Thanks for all the fish.\r\n\r\n",
            action_id(&next)
        );
        s.write_all(answer.as_bytes()).await.unwrap();
        next
    })
    .await;
    let cfg = amiwire_tokio::ClientConfig::new("127.0.0.1", port, "admin", "amp111");
    let client = Client::connect(cfg).await.unwrap();
    let mut events = client.events(Filter::all());
    drop(client);
    let sent = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    assert!(sent.starts_with("Action: Logoff\r\n"), "{sent}");
    // The subscription ends with the session.
    assert!(matches!(
        next(&mut events).await,
        Some(ClientEvent::Connected { .. })
    ));
    assert!(matches!(
        next(&mut events).await,
        Some(ClientEvent::Disconnected { .. })
    ));
    assert_eq!(next(&mut events).await, None);
}

/// `send_now` refuses at once while the client is reconnecting, and what it refused is never
/// written to a later session; `send` at the same moment waits for that session.
#[tokio::test]
async fn send_now_refuses_while_reconnecting_and_never_sends_later() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let (second_tx, second_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        // The first session is cut on its first action; the second one is accepted only
        // when the test says so.
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = Vec::new();
        scripted_login(&mut s, &mut buf, true).await;
        let _ = read_action(&mut s, &mut buf).await;
        drop(s);
        let _ = second_rx.await;
        while let Ok((mut s, _)) = l.accept().await {
            let seen = seen_tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                scripted_login(&mut s, &mut buf, true).await;
                while let Some(a) = read_action(&mut s, &mut buf).await {
                    let _ = seen.send(a.lines().next().unwrap_or("").to_owned());
                    let r = format!(
                        "Response: Success\r\nActionID: {}\r\nPing: Pong\r\n\r\n",
                        action_id(&a)
                    );
                    if s.write_all(r.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let mut cfg = amiwire_tokio::ClientConfig::new("127.0.0.1", port, "admin", "amp111");
    cfg.reconnect = Some(fast_reconnect());
    let (client, mut all) = watching(cfg).await;
    let e = client.send(Action::ping()).await.unwrap_err();
    assert!(e.outcome_unknown(), "{e:?}");
    assert!(matches!(
        next(&mut all).await,
        Some(ClientEvent::Disconnected { .. })
    ));
    assert!(!client.is_connected());

    let started = std::time::Instant::now();
    let call = amiwire::action::Originate::to_exten("Local/100@test", "test", "s", 1).build();
    let e = client
        .send_now(call, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotConnected), "{e:?}");
    assert!(!e.outcome_unknown());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once"
    );
    // A plain send waits for the next session.
    let queued = tokio::spawn({
        let c = client.clone();
        async move { c.send(Action::ping()).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!queued.is_finished());
    let _ = second_tx.send(());
    let r = queued.await.unwrap().unwrap();
    assert_eq!(r.get_str("Ping"), Some("Pong"));
    assert!(matches!(
        next(&mut all).await,
        Some(ClientEvent::Reconnected { .. })
    ));
    // Connected again: send_now goes through.
    let r = client
        .send_now(Action::ping(), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(r.is_success());
    client.close().await;
    let mut later = Vec::new();
    while let Ok(a) = seen_rx.try_recv() {
        later.push(a);
    }
    assert_eq!(later, ["Action: Ping", "Action: Ping", "Action: Logoff"]);
}
