//! The core's AJAM bridge and an unchanged `Connection`, over real HTTP against the
//! simulator's HTTP side: a tiny tokio driver (one TCP connection per request, as the
//! recordings have it), cookie and Digest endpoints, the WaitEvent long poll, wrong secrets.
use std::time::{Duration, Instant};

use amiwire::ajam::{Bridge, BridgeConfig, Endpoint, HttpRequest, RequestId};
use amiwire::{Action, CloseReason, Connection, ConnectionConfig, Credentials, Output};
use amiwire_sim::server::{SimConfig, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

type Answer = Result<(u16, Vec<(String, Vec<u8>)>, Vec<u8>), ()>;

async fn http(addr: std::net::SocketAddr, req: HttpRequest) -> Answer {
    let mut s = TcpStream::connect(addr).await.map_err(|_| ())?;
    let mut head = Vec::new();
    req.write_head(&mut head);
    // The recorder's "Connection: close" (one request per connection).
    head.truncate(head.len() - 2);
    head.extend_from_slice(b"Connection: close\r\n\r\n");
    s.write_all(&head).await.map_err(|_| ())?;
    s.write_all(&req.body).await.map_err(|_| ())?;
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut got))
        .await
        .map_err(|_| ())?
        .map_err(|_| ())?;
    let end = memchr::memmem::find(&got, b"\r\n\r\n").ok_or(())?;
    let text = String::from_utf8_lossy(&got[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or(())?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().as_bytes().to_vec()))
        .collect();
    Ok((status, headers, got[end + 4..].to_vec()))
}

/// Drives the pair until `done` says so (or 15 s pass); returns what the Connection said.
async fn drive(
    addr: std::net::SocketAddr,
    conn: &mut Connection,
    bridge: &mut Bridge,
    mut script: impl FnMut(&mut Connection, &[String]) -> bool,
) -> Vec<String> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(RequestId, Answer)>();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut buf = Vec::new();
    loop {
        let now = Instant::now();
        buf.clear();
        let _ = bridge.poll_receive(&mut buf);
        let mut rest = &buf[..];
        loop {
            let n = conn.receive(rest);
            rest = &rest[n..];
            while let Some(out) = conn.poll_output() {
                seen.push(match out {
                    Output::Connected { .. } => "connected".to_owned(),
                    Output::LoggedIn => "logged in".to_owned(),
                    Output::Event(e) => format!("event {}", e.get_str("Event").unwrap_or("?")),
                    Output::Response(r) => format!(
                        "response {} {}",
                        r.action,
                        r.message.get_str("Response").unwrap_or("?")
                    ),
                    Output::Closed(r) => format!("closed {r:?}"),
                    other => format!("{other:?}"),
                });
            }
            if rest.is_empty() {
                break;
            }
        }
        if bridge.is_eof() && !conn.is_closed() {
            conn.receive_eof();
            continue;
        }
        if script(conn, &seen) || conn.is_closed() {
            return seen;
        }
        buf.clear();
        let _ = conn.poll_transmit(&mut buf);
        let _ = bridge.transmit(&buf, now);
        while let Some((id, req)) = bridge.poll_request(now) {
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = tx.send((id, http(addr, req).await));
            });
        }
        tokio::select! {
            Some((id, answer)) = rx.recv() => {
                let now = Instant::now();
                match answer {
                    Ok((status, headers, body)) => {
                        let h: Vec<(&str, &[u8])> =
                            headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
                        let _ = bridge.on_response(id, status, &h, &body, now);
                    }
                    Err(()) => bridge.on_failure(id, now),
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                conn.handle_timeout(Instant::now());
                bridge.handle_timeout(Instant::now());
            }
            _ = tokio::time::sleep_until(deadline) => panic!("stuck; seen {seen:?}"),
        }
    }
}

async fn sim() -> Simulator {
    let mut cfg = SimConfig::default();
    cfg.http_listen = Some(([127, 0, 0, 1], 0).into());
    cfg.failed_login_delay = Duration::from_millis(20);
    Simulator::start(cfg).await.unwrap()
}

fn pair(endpoint: &str, secret: &str, events: bool) -> (Connection, Bridge) {
    let now = Instant::now();
    let conn = Connection::new(
        ConnectionConfig::new(Credentials::plain("admin", secret)),
        now,
    );
    let mut b = BridgeConfig::new(Endpoint::parse(endpoint).unwrap(), "127.0.0.1");
    b.events = events;
    b.wait_event_timeout = Duration::from_secs(5);
    b.cnonce_seed = 42;
    (conn, Bridge::new(b, now))
}

#[tokio::test]
async fn every_endpoint_logs_in_pings_and_logs_off() {
    let sim = sim().await;
    let addr = sim.http_addr().unwrap();
    for ep in ["/rawman", "/mxml", "/arawman", "/amxml"] {
        let (mut conn, mut bridge) = pair(ep, "amp111", false);
        conn.send(Action::ping(), Instant::now()).unwrap();
        let mut logged_off = false;
        let seen = drive(addr, &mut conn, &mut bridge, |c, seen| {
            if !logged_off && seen.iter().any(|s| s == "response Ping Success") {
                logged_off = true;
                c.logoff(Instant::now()).unwrap();
            }
            false
        })
        .await;
        assert_eq!(
            seen,
            [
                "connected",
                "logged in",
                "response Ping Success",
                "response Logoff Goodbye",
                "closed Logoff"
            ],
            "{ep}"
        );
    }
    sim.stop().await;
}

#[tokio::test]
async fn wrong_secret_is_a_refused_login_on_every_endpoint() {
    let sim = sim().await;
    let addr = sim.http_addr().unwrap();
    for ep in ["/rawman", "/arawman"] {
        let (mut conn, mut bridge) = pair(ep, "nope", false);
        let seen = drive(addr, &mut conn, &mut bridge, |_, _| false).await;
        assert_eq!(
            seen.last().unwrap(),
            &format!(
                "closed {:?}",
                CloseReason::LoginFailed {
                    message: "Authentication failed".into()
                }
            ),
            "{ep}: {seen:?}"
        );
    }
    sim.stop().await;
}

#[tokio::test]
async fn events_arrive_through_the_long_poll() {
    let sim = sim().await;
    let addr = sim.http_addr().unwrap();
    for ep in ["/rawman", "/arawman"] {
        let (mut conn, mut bridge) = pair(ep, "amp111", true);
        let mut sent = false;
        let seen = drive(addr, &mut conn, &mut bridge, |c, seen| {
            if !sent && seen.iter().any(|s| s == "logged in") {
                sent = true;
                c.send(
                    Action::user_event("AjamTest", &[("Foo", "bar")]),
                    Instant::now(),
                )
                .unwrap();
            }
            seen.iter().any(|s| s == "event UserEvent")
        })
        .await;
        assert!(
            seen.contains(&"response UserEvent Success".to_owned()),
            "{ep}: {seen:?}"
        );
    }
    sim.stop().await;
}

/// As Asterisk's `action_waitevent_http`: the session's actions run while its WaitEvent
/// waits, and a newer WaitEvent replaces the older one, which answers with an empty body.
#[tokio::test]
async fn a_waitevent_does_not_block_its_session_and_a_newer_one_replaces_it() {
    use amiwire::ajam::{build_request, HttpMethod};
    let sim = sim().await;
    let addr = sim.http_addr().unwrap();
    let ep = Endpoint::parse("/rawman").unwrap();
    let req = |a: Action, cookie: Option<&str>| {
        let mut r = build_request(&ep, &a, HttpMethod::Get, "127.0.0.1").unwrap();
        if let Some(c) = cookie {
            r.set_header("Cookie", c).unwrap();
        }
        r
    };
    let (status, headers, _) = http(addr, req(Action::login("admin", "amp111"), None))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let set = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Set-Cookie"))
        .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
        .unwrap();
    let cookie = set.split(';').next().unwrap().to_owned();
    // The login's SuccessfulAuth first.
    let (_, _, body) = http(
        addr,
        req(amiwire::ajam::wait_event_action(0, None), Some(&cookie)),
    )
    .await
    .unwrap();
    assert!(memchr::memmem::find(&body, b"Event: SuccessfulAuth").is_some());
    let started = tokio::time::Instant::now();
    let first = tokio::spawn(http(
        addr,
        req(amiwire::ajam::wait_event_action(5, None), Some(&cookie)),
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, _, body) = http(addr, req(Action::ping(), Some(&cookie)))
        .await
        .unwrap();
    assert!(body.starts_with(b"Response: Success\r\nPing: Pong\r\n"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "Ping waited for the WaitEvent"
    );
    let second = tokio::spawn(http(
        addr,
        req(amiwire::ajam::wait_event_action(1, None), Some(&cookie)),
    ));
    let (status, _, body) = first.await.unwrap().unwrap();
    assert_eq!((status, body.as_slice()), (200, &b""[..]));
    assert!(started.elapsed() < Duration::from_secs(3));
    let (_, _, body) = second.await.unwrap().unwrap();
    assert!(
        body.ends_with(b"Event: WaitEventComplete\r\n\r\n"),
        "{body:?}"
    );
    sim.stop().await;
}
