//! Helpers shared by the simulator's integration tests (`mod support;` in each): the
//! recordings of crates/amiwire/tests/data and their decoding, and client connections that
//! log in, send actions and read until what a test waits for has come.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use amiwire::{Decoder, DecoderConfig, Frame, Message};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a [`Client`] waits for what it reads before the test fails.
pub(crate) const LIMIT: Duration = Duration::from_secs(10);

/// A file of the recordings (`crates/amiwire/tests/data/<name>`).
pub(crate) fn data(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../amiwire/tests/data")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A server's stream decoded: its banner and every message (all of it must decode).
pub(crate) fn decode_all(bytes: &[u8]) -> (Option<String>, Vec<Message>) {
    let mut d = Decoder::new();
    assert_eq!(d.feed(bytes), bytes.len());
    let mut banner = None;
    let mut out = Vec::new();
    while let Some(f) = d.decode().unwrap() {
        match f {
            Frame::Banner(b) => banner = Some(String::from_utf8_lossy(b).into_owned()),
            Frame::Message(m) => out.push(m.to_owned()),
        }
    }
    (banner, out)
}

/// The messages of a text without banner (a recorded client's actions, an HTTP body).
pub(crate) fn messages(bytes: &[u8]) -> Vec<Message> {
    let mut d = Decoder::with_config(DecoderConfig::without_banner());
    assert_eq!(d.feed(bytes), bytes.len());
    let mut out = Vec::new();
    while let Some(Frame::Message(m)) = d.decode().unwrap() {
        out.push(m.to_owned());
    }
    out
}

/// A recorded client's actions, each with its bytes.
pub(crate) fn actions(client: &[u8]) -> Vec<Vec<u8>> {
    messages(client)
        .iter()
        .map(|m| m.as_bytes().to_vec())
        .collect()
}

/// A message's headers as (name, value) text, in order.
pub(crate) fn pairs(m: &Message) -> Vec<(String, String)> {
    m.iter()
        .map(|h| {
            (
                String::from_utf8_lossy(h.name()).into_owned(),
                String::from_utf8_lossy(h.value()).into_owned(),
            )
        })
        .collect()
}

/// The names of the events among `ms`, in order.
pub(crate) fn event_names(ms: &[Message]) -> Vec<String> {
    ms.iter()
        .filter_map(|m| m.get_str("Event").map(str::to_owned))
        .collect()
}

/// Whether `ms` has an event `name`.
pub(crate) fn has_event(ms: &[Message], name: &str) -> bool {
    ms.iter().any(|m| m.get_str("Event") == Some(name))
}

/// The first event `name` of `ms`.
pub(crate) fn first_event<'a>(ms: &'a [Message], name: &str) -> &'a Message {
    ms.iter()
        .find(|m| m.get_str("Event") == Some(name))
        .unwrap_or_else(|| panic!("no {name} event"))
}

/// Whether a message of `ms` carries ActionID `id`.
pub(crate) fn has_id(ms: &[Message], id: &str) -> bool {
    ms.iter().any(|m| m.get_str("ActionID") == Some(id))
}

/// The first message of `ms` with ActionID `id`.
pub(crate) fn by_id<'a>(ms: &'a [Message], id: &str) -> &'a Message {
    ms.iter()
        .find(|m| m.get_str("ActionID") == Some(id))
        .unwrap_or_else(|| panic!("no message with ActionID {id}"))
}

/// Reads until the peer closes (or `limit` passes); returns the bytes and whether it closed.
pub(crate) async fn read_all<R: AsyncRead + Unpin>(r: &mut R, limit: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, r.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, false),
        }
    }
}

/// Sends `actions` one at a time, as the recorded clients did: after each, reads its answer
/// and what follows until 150 ms pass without a byte. Returns what came back, up to the
/// server's close (no action is sent after it).
pub(crate) async fn replay_actions(s: &mut TcpStream, actions: &[Vec<u8>]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    for action in actions {
        let _ = s.write_all(action).await;
        loop {
            match tokio::time::timeout(Duration::from_millis(150), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return got,
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
    }
    got
}

/// A client connection and every message it has read.
pub(crate) struct Client {
    /// The connection.
    pub(crate) s: TcpStream,
    dec: Decoder,
    /// The messages read so far, in order.
    pub(crate) got: Vec<Message>,
}

impl Client {
    /// Connects to `addr`.
    pub(crate) async fn connect(addr: SocketAddr) -> Client {
        Client {
            s: TcpStream::connect(addr).await.unwrap(),
            dec: Decoder::new(),
            got: Vec::new(),
        }
    }

    /// Connects and logs in as `user` with events off; fails unless it is accepted.
    pub(crate) async fn login(addr: SocketAddr, user: &str, secret: &str) -> Client {
        let mut c = Client::connect(addr).await;
        let a = format!(
            "Action: Login\r\nActionID: l\r\nUsername: {user}\r\nSecret: {secret}\r\nEvents: off\r\n\r\n"
        );
        let m = c.ask(&a, "l").await;
        assert_eq!(m.get_str("Message"), Some("Authentication accepted"));
        c
    }

    /// Sends `text` as it is.
    pub(crate) async fn send(&mut self, text: impl AsRef<[u8]>) {
        self.s.write_all(text.as_ref()).await.unwrap();
    }

    /// Reads messages until `until` holds for all read so far; fails if the connection
    /// closes or [`LIMIT`] passes first.
    pub(crate) async fn read_until(&mut self, until: impl Fn(&[Message]) -> bool) {
        let mut buf = vec![0u8; 65536];
        let deadline = tokio::time::Instant::now() + LIMIT;
        while !until(&self.got) {
            let n = tokio::time::timeout_at(deadline, self.s.read(&mut buf))
                .await
                .expect("timed out waiting for messages")
                .unwrap();
            assert!(n > 0, "closed early");
            self.read_bytes(&buf[..n]);
        }
    }

    /// Reads messages until `quiet` passes without a byte, or the connection closes.
    pub(crate) async fn read_while_busy(&mut self, quiet: Duration) {
        let mut buf = vec![0u8; 65536];
        while let Ok(Ok(n)) = tokio::time::timeout(quiet, self.s.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            self.read_bytes(&buf[..n]);
        }
    }

    fn read_bytes(&mut self, bytes: &[u8]) {
        let _ = self.dec.feed(bytes);
        while let Some(f) = self.dec.decode().unwrap() {
            if let Frame::Message(m) = f {
                self.got.push(m.to_owned());
            }
        }
    }

    /// Sends `action` and returns the answer (not an event) with ActionID `id`.
    pub(crate) async fn ask(&mut self, action: &str, id: &str) -> Message {
        let from = self.got.len();
        self.send(action).await;
        let answer =
            |m: &Message| m.get_str("ActionID") == Some(id) && m.get_str("Event").is_none();
        self.read_until(|ms| ms[from..].iter().any(answer)).await;
        self.got[from..].iter().find(|m| answer(m)).unwrap().clone()
    }
}

/// Logs in as `user` (events on), sends `action`, and returns every message read until
/// `until` holds for them.
pub(crate) async fn session(
    addr: SocketAddr,
    user: &str,
    secret: &str,
    action: &str,
    until: impl Fn(&[Message]) -> bool,
) -> Vec<Message> {
    let mut c = Client::connect(addr).await;
    c.send(format!(
        "Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\n\r\n{action}"
    ))
    .await;
    c.read_until(until).await;
    c.got
}

/// A xorshift64 generator, for the tests that give parsers arbitrary input.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    /// The next number.
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number below `n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Arbitrary input for a parser, each text given to `exercise`: 3,000 strings of random
/// bytes (up to 200, as lossy UTF-8), then 20,000 texts of up to 40 of `pieces` (shaped like
/// the parser's input, to get past its syntax checks).
pub(crate) fn arbitrary_texts(rng: &mut XorShift, pieces: &[&str], exercise: impl Fn(&str)) {
    for _ in 0..3000 {
        let len = rng.below(200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        exercise(&String::from_utf8_lossy(&bytes));
    }
    for _ in 0..20000 {
        let n = rng.below(40);
        let mut text = String::new();
        for _ in 0..n {
            text.push_str(pieces[rng.below(pieces.len())]);
        }
        exercise(&text);
    }
}

impl Client {
    /// Sends an event-list action and returns its messages with ActionID `id`: the answer,
    /// and (when it is a `Success`) the items up to the `…Complete` event.
    pub(crate) async fn list(&mut self, action: &str, id: &str) -> Vec<Message> {
        let from = self.got.len();
        self.send(action).await;
        let mine = |m: &Message| m.get_str("ActionID") == Some(id);
        let done = |ms: &[Message]| {
            ms.iter().filter(|m| mine(m)).any(|m| {
                m.get_str("Response") == Some("Error") || m.get_str("EventList") == Some("Complete")
            })
        };
        self.read_until(|ms| done(&ms[from..])).await;
        self.got[from..]
            .iter()
            .filter(|m| mine(m))
            .cloned()
            .collect()
    }

    /// Originates `Local/<exten>@test` asynchronously with Application Wait(`wait`)
    /// (ActionID `id`) and waits for its `OriginateResponse` (the session needs call events
    /// on).
    pub(crate) async fn originate_wait(&mut self, exten: &str, wait: u32, extra: &str, id: &str) {
        let from = self.got.len();
        self.send(format!(
            "Action: Originate\r\nActionID: {id}\r\nChannel: Local/{exten}@test\r\n\
             Application: Wait\r\nData: {wait}\r\nAsync: true\r\n{extra}\r\n"
        ))
        .await;
        self.read_until(|ms| {
            ms[from..].iter().any(|m| {
                m.get_str("Event") == Some("OriginateResponse") && m.get_str("ActionID") == Some(id)
            })
        })
        .await;
        let r = self.got[from..]
            .iter()
            .find(|m| {
                m.get_str("Event") == Some("OriginateResponse") && m.get_str("ActionID") == Some(id)
            })
            .unwrap();
        assert_eq!(r.get_str("Response"), Some("Success"), "{id}");
    }

    /// Reads until `n` events named `event` have come since message `from`.
    pub(crate) async fn wait_events(&mut self, from: usize, event: &str, n: usize) {
        self.read_until(|ms| {
            ms[from..]
                .iter()
                .filter(|m| m.get_str("Event") == Some(event))
                .count()
                >= n
        })
        .await;
    }
}
