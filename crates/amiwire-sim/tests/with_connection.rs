//! amiwire's own sans-io client (`amiwire::Connection`), driven over TCP by a few lines of
//! tokio, against the simulator: the two halves of the project agree.
use std::time::{Duration, Instant};

use amiwire::action::Originate;
use amiwire::connection::{CloseReason, Credentials, Output, Response};
use amiwire::{Action, ActionId, Connection, ConnectionConfig};
use amiwire_sim::server::{SimConfig, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A minimal transport: drives the Connection until `want` has a result for every id.
struct Driver {
    conn: Connection,
    sock: TcpStream,
    events: Vec<String>,
    closed: Option<CloseReason>,
}

impl Driver {
    async fn flush(&mut self) {
        let mut out = Vec::new();
        let _ = self.conn.poll_transmit(&mut out);
        if !out.is_empty() {
            self.sock.write_all(&out).await.unwrap();
        }
    }

    /// Runs until `done` says so, returning the completed responses seen meanwhile.
    async fn run(&mut self, mut done: impl FnMut(&[Response], &Driver) -> bool) -> Vec<Response> {
        let mut responses = Vec::new();
        let mut buf = vec![0u8; 65536];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            while let Some(o) = self.conn.poll_output() {
                match o {
                    Output::Event(e) => self
                        .events
                        .push(e.get_str("Event").unwrap_or("").to_owned()),
                    Output::Response(r) => responses.push(*r),
                    Output::Failed { id, error } => panic!("{id} failed: {error}"),
                    Output::Closed(r) => self.closed = Some(r),
                    _ => {}
                }
            }
            self.flush().await;
            if done(&responses, self) {
                return responses;
            }
            let n = tokio::time::timeout_at(deadline, self.sock.read(&mut buf))
                .await
                .expect("timed out")
                .unwrap();
            if n == 0 {
                self.conn.receive_eof();
                continue;
            }
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                let k = self.conn.receive(rest);
                rest = &rest[k..];
                if k == 0 {
                    break;
                }
            }
        }
    }
}

fn has(rs: &[Response], id: &ActionId) -> bool {
    rs.iter().any(|r| &r.id == id)
}

#[tokio::test]
async fn connection_against_the_simulator() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let sock = TcpStream::connect(sim.addr()).await.unwrap();
    let now = Instant::now();
    let conn = Connection::new(
        ConnectionConfig::new(Credentials::md5("admin", "amp111")),
        now,
    );
    let mut d = Driver {
        conn,
        sock,
        events: Vec::new(),
        closed: None,
    };
    // Held until the MD5 login succeeds.
    let ping = d.conn.send(Action::ping(), now).unwrap();
    let rs = d.run(|rs, _| has(rs, &ping)).await;
    assert!(rs[0].is_success());

    // An async Originate resolved by its own OriginateResponse, and a list taken meanwhile.
    let originate = Originate::to_application("Local/600@test", "Wait", "30")
        .asynchronous(true)
        .build();
    let call = d.conn.send(originate, now).unwrap();
    let rs = d.run(|rs, _| has(rs, &call)).await;
    let r = rs.iter().find(|r| r.id == call).unwrap();
    assert!(r.is_success());
    assert_eq!(r.originate.as_ref().unwrap().get_str("Reason"), Some("4"));

    let list = d.conn.send(Action::core_show_channels(), now).unwrap();
    let status = d.conn.send(Action::status(None), now).unwrap();
    let cmd = d
        .conn
        .send(Action::command("core show version"), now)
        .unwrap();
    let rs = d
        .run(|rs, _| has(rs, &list) && has(rs, &status) && has(rs, &cmd))
        .await;
    let l = rs.iter().find(|r| r.id == list).unwrap();
    assert_eq!(l.events.len(), 2);
    assert_eq!(l.complete.as_ref().unwrap().get_str("ListItems"), Some("2"));
    let s = rs.iter().find(|r| r.id == status).unwrap();
    assert_eq!(s.events.len(), 2);
    let c = rs.iter().find(|r| r.id == cmd).unwrap();
    let out = c.output();
    assert_eq!(out.len(), 1);
    assert!(out[0].starts_with(b"Asterisk 22.10.1"));

    // Hang the call up by name; its events arrive as plain events.
    let chan = l.events[0].get_str("Channel").unwrap().to_owned();
    let hang = d.conn.send(Action::hangup(&chan, Some(16)), now).unwrap();
    d.run(|rs, d| has(rs, &hang) && d.events.iter().filter(|e| *e == "Hangup").count() == 2)
        .await;
    assert!(d.events.contains(&"Newchannel".to_owned()));
    assert!(
        !d.events.contains(&"OriginateResponse".to_owned()),
        "ours was not an event"
    );

    // Logoff: Goodbye, the server closes, Closed(Logoff).
    let bye = d.conn.logoff(now).unwrap();
    d.run(|rs, d| has(rs, &bye) && d.closed.is_some()).await;
    assert_eq!(d.closed, Some(CloseReason::Logoff));
    sim.stop().await;
}
