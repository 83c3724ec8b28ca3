//! Conformance with recording 08-full-call-events: every event of one call, as a real
//! Asterisk 22 raised it. The recorded client logs in, originates `Local/200@test` (its ;1
//! side runs Wait(6), its ;2 side `Dial(Local/100@test,10)`, whose callee answers, waits 2 s
//! and hangs up) and logs off. The test replays the client side against the simulator and
//! compares the whole server side with the recording, message by message and header by
//! header, in order.
//!
//! Only what must differ is normalised:
//! - values that differ from run to run: time stamps (EventTV, SessionTV, CEL EventTime, Cdr
//!   StartTime/AnswerTime/EndTime: their digits), durations (Cdr Duration/BillableSeconds and
//!   the `*TIME_MS` VarSets: their digits), uptimes, the session ID and ports, and
//!   app_queue's LastPause/LoginTime (the recorded member had been paused in an earlier
//!   session);
//! - identifiers, each replaced by its order of first appearance, so that the relations
//!   between them are still checked: Uniqueids and Linkedids (`<epoch>.<n>`), the number in
//!   Local channel names (`Local/100@test-00000016;1`), and bridge IDs (a UUID in Asterisk,
//!   also inside CEL's Extra).
//!
//! Asterisk raises channel, CEL, CDR, device-state and queue events from different threads,
//! so their interleaving varies from call to call (recording 12a shows several orders for the
//! same dialplan). The simulator keeps the one order this recording shows, and the test holds
//! it to that order exactly.
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use amiwire::{Decoder, DecoderConfig, Frame, Message};
use amiwire_sim::server::{SimConfig, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NAME: &str = "08-full-call-events";

fn data(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../amiwire/tests/data")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Headers whose values differ from run to run.
const VOLATILE: &[&str] = &[
    "Uptime",
    "LastReload",
    "SessionID",
    "RemoteAddress",
    "LocalAddress",
    "LastPause",
    "LoginTime",
];

/// Headers that are times or durations: only their shape (digits) is compared.
const TIMES: &[&str] = &[
    "EventTV",
    "SessionTV",
    "EventTime",
    "StartTime",
    "AnswerTime",
    "EndTime",
    "Duration",
    "BillableSeconds",
];

/// Gives identifiers names by order of first appearance.
#[derive(Default)]
struct Ids {
    seen: HashMap<String, String>,
}

impl Ids {
    fn name(&mut self, kind: &str, id: &str) -> String {
        let n = self.seen.len();
        self.seen
            .entry(format!("{kind}:{id}"))
            .or_insert_with(|| format!("<{kind}{n}>"))
            .clone()
    }
}

fn digits(v: &str) -> String {
    v.chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect()
}

/// `1795453660.43`.
fn is_uniqueid(v: &str) -> bool {
    v.split_once('.').is_some_and(|(a, b)| {
        a.len() >= 9
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

/// Replaces the 8 hex digits of Local channel names (`…-00000016;1`) in `v`.
fn channel_numbers(v: &str, ids: &mut Ids) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(at) = rest.find('-') {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        let t = tail.as_bytes();
        if t.len() >= 10
            && t[1..9].iter().all(|b| b.is_ascii_hexdigit())
            && t[9] == b';'
            && head.contains("Local/")
        {
            out.push('-');
            out.push_str(&ids.name("chan", &tail[1..9]));
            rest = &tail[9..];
        } else {
            out.push('-');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The messages of a stream, normalised (see the module's documentation).
fn normalise(ms: &[Message]) -> Vec<Vec<(String, String)>> {
    let mut ids = Ids::default();
    let bridges: Vec<String> = ms
        .iter()
        .filter_map(|m| m.get_str("BridgeUniqueid").map(str::to_owned))
        .collect();
    ms.iter()
        .map(|m| {
            let var = m.get_str("Variable").unwrap_or("").to_owned();
            m.iter()
                .map(|h| {
                    let k = String::from_utf8_lossy(h.name()).into_owned();
                    let mut v = String::from_utf8_lossy(h.value()).into_owned();
                    if VOLATILE.iter().any(|x| h.is(x)) {
                        v = "<volatile>".into();
                    } else if TIMES.iter().any(|x| h.is(x))
                        || (h.is("Value") && var.ends_with("TIME_MS"))
                    {
                        v = digits(&v);
                    } else if is_uniqueid(&v) {
                        v = ids.name("id", &v);
                    } else {
                        for b in &bridges {
                            if v.contains(b.as_str()) {
                                let name = ids.name("bridge", b);
                                v = v.replace(b.as_str(), &name);
                            }
                        }
                        v = channel_numbers(&v, &mut ids);
                    }
                    (k, v)
                })
                .collect()
        })
        .collect()
}

fn decode_all(bytes: &[u8]) -> (Option<String>, Vec<Message>) {
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

/// The recorded client's actions.
fn actions(client: &[u8]) -> Vec<Message> {
    let mut d = Decoder::with_config(DecoderConfig::without_banner());
    assert_eq!(d.feed(client), client.len());
    let mut out = Vec::new();
    while let Some(Frame::Message(m)) = d.decode().unwrap() {
        out.push(m.to_owned());
    }
    out
}

/// Replays the client side: each action is sent once the simulator has sent as many
/// messages as the recorded server had before answering it (the recorded client waited 10 s
/// before logging off, long after the call had ended), then a moment more, so that anything
/// extra the simulator sends is caught. Returns what the simulator sent until it closed.
async fn replay(want: &[Message]) -> Vec<u8> {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut s = TcpStream::connect(sim.addr()).await.unwrap();
    let mut got = Vec::new();
    let mut dec = Decoder::new();
    let mut count = 0;
    let mut buf = vec![0u8; 65536];
    for action in actions(&data(&format!("{NAME}.client.bin"))) {
        let id = action.get_str("ActionID").unwrap();
        let before = want
            .iter()
            .position(|m| m.get_str("ActionID") == Some(id) && m.get_str("Event").is_none())
            .unwrap_or_else(|| panic!("no recorded answer to {id}"));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut quiet_since = None;
        loop {
            let wait = if count >= before {
                let since = *quiet_since.get_or_insert_with(tokio::time::Instant::now);
                since + Duration::from_millis(300)
            } else {
                deadline
            };
            match tokio::time::timeout_at(wait, s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => panic!("closed before {id}"),
                Ok(Ok(n)) => {
                    got.extend_from_slice(&buf[..n]);
                    let _ = dec.feed(&buf[..n]);
                    while let Some(f) = dec.decode().unwrap() {
                        if let Frame::Message(_) = f {
                            count += 1;
                        }
                    }
                }
                Err(_) => break,
            }
        }
        s.write_all(action.as_bytes()).await.unwrap();
    }
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    sim.stop().await;
    got
}

/// A readable line per message, for the failure report.
fn summary(ms: &[Vec<(String, String)>]) -> String {
    ms.iter()
        .enumerate()
        .map(|(i, m)| {
            let get = |k: &str| {
                m.iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| format!(" {k}={v}"))
                    .unwrap_or_default()
            };
            format!(
                "{i:3} {}{}{}{}{}\n",
                m.first()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .unwrap_or_default(),
                get("EventName"),
                get("Channel"),
                get("Variable"),
                get("Device")
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_call_events_as_recorded() {
    let (want_banner, want) = decode_all(&data(&format!("{NAME}.server.bin")));
    let got = replay(&want).await;
    let (got_banner, got) = decode_all(&got);
    assert_eq!(got_banner, want_banner, "banner");
    let want = normalise(&want);
    let got = normalise(&got);
    if got != want {
        // Every differing header of every message at the same position.
        let mut diffs = String::new();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            if g == w {
                continue;
            }
            diffs.push_str(&format!("message {i} ({:?}):\n", w.first()));
            for j in 0..g.len().max(w.len()) {
                if g.get(j) != w.get(j) {
                    diffs.push_str(&format!(
                        "    simulator {:?}\n    recording {:?}\n",
                        g.get(j),
                        w.get(j)
                    ));
                }
            }
        }
        panic!(
            "{NAME}: the streams differ\n--- simulator ---\n{}\n--- recording ---\n{}\n--- differences ---\n{diffs}",
            summary(&got),
            summary(&want),
        );
    }
}

/// The normalisation itself: identifiers are renamed by first appearance, so two streams
/// that differ only in them compare equal, and ones that mix them up do not.
#[test]
fn normalisation_keeps_the_relations_between_identifiers() {
    let (_, want) = decode_all(&data(&format!("{NAME}.server.bin")));
    let norm = normalise(&want);
    let text = format!("{norm:?}");
    assert!(!text.contains("1795453660."), "a Uniqueid left");
    assert!(!text.contains("-00000015;"), "a channel number left");
    assert!(!text.contains("dfe55017"), "a bridge ID left");
    // Swapping the Uniqueids of two channels in one event is seen.
    let mut raw = String::from_utf8(data(&format!("{NAME}.server.bin"))).unwrap();
    raw = raw.replacen("Uniqueid: 1795453660.44", "Uniqueid: 1795453660.45", 1);
    let (_, changed) = decode_all(raw.as_bytes());
    assert_ne!(normalise(&changed), norm);
}
