//! Every fault knob of the simulator, seen from a client.
use std::time::{Duration, Instant};

use amiwire_sim::server::{Faults, SimConfig, Simulator};
use support::{event_names, read_all, Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;

const LOGIN: &[u8] =
    b"Action: Login\r\nActionID: l\r\nUsername: admin\r\nSecret: amp111\r\nEvents: off\r\n\r\n";

/// A connection logged in as admin with events on, once its login's FullyBooted has arrived.
async fn logged_in_with_events(addr: std::net::SocketAddr) -> TcpStream {
    let mut c = Client::connect(addr).await;
    c.send(b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\n\r\n")
        .await;
    c.read_until(|m| event_names(m).iter().any(|n| n == "FullyBooted"))
        .await;
    c.s
}

fn with(faults: Faults) -> SimConfig {
    let mut cfg = SimConfig::default();
    cfg.faults = faults;
    cfg
}

#[tokio::test]
async fn drop_after_bytes_cuts_a_message() {
    let mut f = Faults::default();
    f.drop_after_bytes = Some(50);
    let sim = Simulator::start(with(f)).await.unwrap();
    let mut s = TcpStream::connect(sim.addr()).await.unwrap();
    s.write_all(LOGIN).await.unwrap();
    let (got, closed) = read_all(&mut s, Duration::from_secs(5)).await;
    assert!(closed);
    assert_eq!(got.len(), 50);
    assert_eq!(
        &got[..],
        &b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: l\r\nMessage: Authentication accepted\r\n\r\n"[..50]
    );
    sim.stop().await;
}

#[tokio::test]
async fn stalled_server_answers_nothing() {
    let mut f = Faults::default();
    f.stall_reading = true;
    let sim = Simulator::start(with(f)).await.unwrap();
    let mut s = TcpStream::connect(sim.addr()).await.unwrap();
    s.write_all(LOGIN).await.unwrap();
    let (got, closed) = read_all(&mut s, Duration::from_millis(300)).await;
    assert!(!closed);
    assert_eq!(got, b"Asterisk Call Manager/11.0.0\r\n");
    sim.stop().await;
}

#[tokio::test]
async fn delayed_responses() {
    let mut f = Faults::default();
    f.response_delay = Duration::from_millis(300);
    let sim = Simulator::start(with(f)).await.unwrap();
    let mut s = TcpStream::connect(sim.addr()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"Asterisk Call Manager/11.0.0\r\n");
    let start = Instant::now();
    s.write_all(LOGIN).await.unwrap();
    let n = s.read(&mut buf).await.unwrap();
    assert!(n > 0);
    assert!(start.elapsed() >= Duration::from_millis(300));
    sim.stop().await;
}

#[tokio::test]
async fn garbage_after_the_banner() {
    let mut f = Faults::default();
    f.garbage_after_banner = Some(b"\x00\xffnot ami at all\r\n\r\n".to_vec());
    let sim = Simulator::start(with(f)).await.unwrap();
    let mut s = TcpStream::connect(sim.addr()).await.unwrap();
    s.write_all(LOGIN).await.unwrap();
    s.write_all(b"Action: Logoff\r\n\r\n").await.unwrap();
    let (got, closed) = read_all(&mut s, Duration::from_secs(5)).await;
    assert!(closed);
    assert!(got.starts_with(
        b"Asterisk Call Manager/11.0.0\r\n\x00\xffnot ami at all\r\n\r\nResponse: Success"
    ));
    sim.stop().await;
}

#[tokio::test]
async fn restart_sends_shutdown_closes_and_accepts_again() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut s = logged_in_with_events(sim.addr()).await;
    let mut buf = vec![0u8; 65536];
    sim.restart();
    let (rest, closed) = read_all(&mut s, Duration::from_secs(5)).await;
    assert!(closed);
    assert!(
        memchr::memmem::find(&rest, b"Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\nRestart: True\r\n\r\n").is_some(),
        "{}",
        String::from_utf8_lossy(&rest)
    );
    // And a new connection is served.
    let mut s = TcpStream::connect(sim.addr()).await.unwrap();
    let n = s.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"Asterisk Call Manager/11.0.0\r\n");
    s.write_all(LOGIN).await.unwrap();
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"Response: Success\r\nActionID: l\r\n"));
    sim.stop().await;
}

#[tokio::test]
async fn auth_timeout_closes_silently() {
    let mut cfg = SimConfig::default();
    cfg.auth_timeout = Duration::from_millis(200);
    let sim = Simulator::start(cfg).await.unwrap();
    let mut s = TcpStream::connect(sim.addr()).await.unwrap();
    // Recording 02b: the banner, then nothing until the close.
    let (got, closed) = read_all(&mut s, Duration::from_secs(5)).await;
    assert!(closed);
    assert_eq!(got, b"Asterisk Call Manager/11.0.0\r\n");
    sim.stop().await;
}

#[tokio::test]
async fn slow_reader_is_disconnected_not_silently_skipped() {
    use amiwire_sim::accounts::Privileges;
    use amiwire_sim::session::SimEvent;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut s = logged_in_with_events(sim.addr()).await;
    // Flood events while the client does not read: the server must give up on it (write
    // timeout) rather than buffer forever or drop events silently.
    let ev = SimEvent::new(
        "UserEvent",
        Privileges::USER,
        &[("UserEvent", "Flood"), ("Pad", &"x".repeat(1000))],
    );
    for _ in 0..20_000 {
        sim.raise(ev.clone());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rest, closed) = read_all(&mut s, Duration::from_secs(10)).await;
    assert!(closed, "still connected");
    let delivered = memchr::memmem::find_iter(&rest, b"UserEvent: Flood").count();
    assert!(delivered < 20_000, "{delivered}");
    sim.stop().await;
}
