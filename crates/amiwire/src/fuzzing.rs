//! Fuzz entry points. The fuzz targets in `fuzz/` are one-line calls to these functions, so
//! that a crash found by the fuzzer replays in `cargo test` (tests/fuzz_replay.rs). Each one
//! asserts invariants, not just the absence of a panic.

use crate::{Action, DecodeError, Decoder, DecoderConfig, Frame, Message};

pub use crate::callfile::fuzz_callfile;
pub use crate::filter::fuzz_filter;

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Banner(Vec<u8>),
    Msg(Message),
    Error,
    Truncated,
}

fn run(cfg: &DecoderConfig, data: &[u8], chunk: usize) -> Vec<Seen> {
    let mut dec = Decoder::with_config(cfg.clone());
    let mut seen = Vec::new();
    for mut piece in data.chunks(chunk.max(1)) {
        while !piece.is_empty() {
            let n = dec.feed(piece);
            assert!(n <= piece.len(), "feed took more than it was given");
            piece = &piece[n..];
            assert!(
                dec.buffered() <= dec.config().max_buffered,
                "buffer over its limit"
            );
            let mut progressed = n > 0;
            loop {
                match dec.decode() {
                    Ok(None) => break,
                    Ok(Some(Frame::Banner(b))) => seen.push(Seen::Banner(b.to_vec())),
                    Ok(Some(Frame::Message(m))) => {
                        check_message(cfg, &m);
                        seen.push(Seen::Msg(m.to_owned()));
                    }
                    Err(_) => seen.push(Seen::Error),
                }
                progressed = true;
            }
            assert!(progressed, "no progress on a full buffer");
        }
    }
    match dec.finish() {
        Ok(()) => {}
        Err(DecodeError::Truncated { .. }) => seen.push(Seen::Truncated),
        Err(e) => panic!("finish returned {e:?}"),
    }
    seen
}

fn check_message(cfg: &DecoderConfig, m: &crate::MessageRef<'_>) {
    assert!(!m.is_empty());
    assert!(m.as_bytes().len() <= cfg.max_message_len);
    assert!(m.len() <= cfg.max_headers);
    for h in m.iter() {
        assert!(h.name().len() + h.value().len() <= cfg.max_line_len);
        assert!(!h.value().contains(&b'\n'));
    }
    let _ = m.command_output().count();
    let _ = m.chan_variables().count();
    assert_eq!(m.to_owned().as_ref(), *m);
}

/// Decodes `data` whole and in chunks of a size taken from its first byte, with default or
/// tight limits: no panic, the same frames (and as many errors) under both splits, buffer
/// within its limit, every message within the limits.
pub fn fuzz_decoder(data: &[u8]) {
    let Some((&sel, data)) = data.split_first() else {
        return;
    };
    let mut cfg = if sel & 1 == 0 {
        DecoderConfig::default()
    } else {
        DecoderConfig::without_banner()
    };
    if sel & 2 != 0 {
        cfg.max_line_len = 24;
        cfg.max_headers = 4;
        cfg.max_message_len = 96;
        cfg.max_buffered = 128;
    }
    let chunk = usize::from(sel >> 2) + 1;
    let whole = run(&cfg, data, data.len());
    let split = run(&cfg, data, chunk);
    assert_eq!(whole, split, "chunks of {chunk} changed the frames");
}

/// An independent statement of what the builder must refuse: bad keys (empty, colon, control
/// characters, non-ASCII, blanks around it, `Action`/`ActionID` which have their own rules),
/// control characters in values, lines over 1022 bytes, more than 127 lines.
fn must_refuse(k: &str, v: &str, count: usize) -> bool {
    k.is_empty()
        || k.bytes()
            .any(|b| b == b':' || b.is_ascii_control() || !b.is_ascii())
        || k.trim() != k
        || k.eq_ignore_ascii_case("action")
        || k.eq_ignore_ascii_case("actionid")
        || v.chars().any(|c| c.is_control() && c != '\t')
        || k.len() + 2 + v.len() > 1022
        || count >= 127
}

/// An independent statement of what makes an action name unusable: empty, a byte outside
/// printable ASCII without space, or an `Action: <name>` line over 1022 bytes.
fn must_refuse_name(name: &str) -> bool {
    name.is_empty() || !name.bytes().all(|b| (0x21..=0x7e).contains(&b)) || 8 + name.len() > 1022
}

/// Checks that `action`, which has an error, refuses to encode with exactly that error and
/// that a later builder call adds nothing and keeps it.
fn check_refusing(action: &Action) {
    let error = action.error().expect("an action with an error").clone();
    let mut out = b"x".to_vec();
    assert_eq!(action.encode(&mut out), Err(error.clone()));
    assert_eq!(
        out, b"x",
        "encode appended bytes for an action with an error"
    );
    assert_eq!(action.to_bytes(), Err(error.clone()));
    assert_eq!(action.validate(), Err(error.clone()));
    assert_eq!(action.encoded_len(), 0);
    let mut later = action.clone().header("Later", "ok").variable("v", "1");
    later.push_header("Later", "ok");
    assert_eq!(later, *action, "a call after the error changed the action");
}

/// Builds an action from `data` (NUL-separated key/value pairs): when the builder accepts it,
/// decoding its bytes gives back exactly its headers; when it refuses, the refusal is recorded
/// as the action's error, nothing is added or encoded, and the reason is one stated
/// independently here.
pub fn fuzz_roundtrip(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let name = parts.next().unwrap_or_default();
    let mut action = Action::new(name);
    assert_eq!(
        action.error().is_some(),
        must_refuse_name(name),
        "name {name:?}"
    );
    if action.error().is_some() {
        check_refusing(&action);
        return;
    }
    while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
        let before = action.clone();
        action.push_header(k, v);
        if let Some(e) = action.error() {
            assert!(
                must_refuse(k, v, before.header_count()),
                "refused a valid header {k:?}: {v:?} ({e})"
            );
            assert!(
                action.headers().eq(before.headers()),
                "a refused header changed the headers"
            );
            check_refusing(&action);
            // Go on from the action as it was, to reach deeper states.
            action = before;
        }
    }
    let bytes = action
        .to_bytes()
        .expect("an action without an error encodes");
    assert!(!bytes.is_empty());
    assert_eq!(bytes.len(), action.encoded_len());
    let mut dec = Decoder::with_config(DecoderConfig::without_banner());
    assert_eq!(dec.feed(&bytes), bytes.len());
    let msg = match dec.decode() {
        Ok(Some(Frame::Message(m))) => m.to_owned(),
        other => panic!("encoded action did not decode: {other:?}"),
    };
    assert!(matches!(dec.decode(), Ok(None)));
    let decoded: Vec<(&[u8], &[u8])> = msg.iter().map(|h| (h.name(), h.value())).collect();
    let built: Vec<(&[u8], &[u8])> = action
        .headers()
        .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
        .collect();
    assert_eq!(decoded, built);
    assert_eq!(msg.as_bytes(), &bytes[..]);
}

/// Applies a sequence of API calls and peer bytes, read from `data`, to a logged-in
/// [`Connection`](crate::Connection) whose settings come from `data` too (durations from zero
/// to `Duration::MAX`, limits down to zero, resumable or not): no panic from any argument;
/// every ActionID `send` returned resolves exactly once (a response or a failure), none
/// resolves twice or unasked, across reconnects too; nothing but the failures of kept actions
/// follows a `Closed` until the next session; after the end of the stream and a final close
/// everything is resolved and no timeout is left.
pub fn fuzz_connection(data: &[u8]) {
    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    use crate::connection::{Connection, ConnectionConfig, Credentials, Output};

    /// A duration chosen by one byte: zero, a few steps of 50 ms, or one too large for any
    /// clock.
    fn duration(b: u8) -> Duration {
        match b % 8 {
            0 => Duration::ZERO,
            7 => Duration::MAX,
            6 => Duration::from_secs(u64::MAX / 2),
            _ => Duration::from_millis(u64::from(b) * 50),
        }
    }
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);

    let t0 = Instant::now();
    let mut cfg = ConnectionConfig::new(Credentials::plain("admin", "amp111"));
    cfg.action_ids = crate::ActionIdGenerator::with_prefix("f").unwrap();
    cfg.max_pending = usize::from(byte(0) % 9);
    cfg.max_list_items = usize::from(byte(1) % 5);
    cfg.keepalive = (byte(2) & 1 == 1).then(|| duration(byte(2) >> 1));
    cfg.pong_timeout = duration(byte(3));
    cfg.action_timeout = duration(byte(4));
    cfg.login_timeout = duration(byte(5)).max(Duration::from_secs(1));
    cfg.max_queued_bytes = match byte(6) % 4 {
        0 => 0,
        1 => 64,
        2 => 1024,
        _ => usize::MAX,
    };
    cfg.resumable = byte(7) & 1 == 1;
    let data = data.get(8..).unwrap_or_default();
    let mut conn = Connection::new(cfg, t0);
    let mut now = t0;
    let mut sent: Vec<String> = Vec::new();
    let mut resolved: HashMap<String, usize> = HashMap::new();
    let mut wire = Vec::new();
    let mut closed = false;

    let drain =
        |conn: &mut Connection, resolved: &mut HashMap<String, usize>, closed: &mut bool| {
            while let Some(o) = conn.poll_output() {
                match o {
                    Output::Response(r) => {
                        assert!(!*closed, "response after Closed");
                        *resolved.entry(r.id.to_string()).or_default() += 1
                    }
                    // Kept actions may expire, or fail at a final close, after `Closed`.
                    Output::Failed { id, .. } => *resolved.entry(id.to_string()).or_default() += 1,
                    Output::Closed(_) => {
                        assert!(!*closed, "Closed twice");
                        *closed = true
                    }
                    other => assert!(!*closed, "{other:?} after Closed"),
                }
            }
        };

    let feed = |conn: &mut Connection,
                bytes: &[u8],
                resolved: &mut HashMap<String, usize>,
                closed: &mut bool| {
        let mut rest = bytes;
        let mut rounds = 0;
        while !rest.is_empty() && rounds < 1000 {
            let n = conn.receive(rest);
            rest = &rest[n..];
            drain(conn, resolved, closed);
            rounds += 1;
        }
        assert!(rest.is_empty(), "receive made no progress");
    };

    // Banner, then the answer to the Login just written (whatever its ActionID).
    let login = |conn: &mut Connection,
                 wire: &mut Vec<u8>,
                 resolved: &mut HashMap<String, usize>,
                 closed: &mut bool| {
        feed(conn, b"Asterisk Call Manager/11.0.0\r\n", resolved, closed);
        let from = wire.len();
        let _ = conn.poll_transmit(wire);
        let written = &wire[from..];
        let key = b"Action: Login\r\nActionID: ";
        let Some(at) = written.windows(key.len()).position(|w| w == key) else {
            return;
        };
        let id_start = at + key.len();
        let id_len = written[id_start..]
            .iter()
            .position(|&b| b == b'\r')
            .unwrap_or(0);
        let id = String::from_utf8_lossy(&written[id_start..id_start + id_len]).into_owned();
        let answer = format!(
            "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n"
        );
        feed(conn, answer.as_bytes(), resolved, closed);
    };
    login(&mut conn, &mut wire, &mut resolved, &mut closed);

    let mut i = 0;
    while i < data.len() {
        let op = data[i];
        let arg = data.get(i + 1).copied().unwrap_or(0);
        i += 2;
        let target = if sent.is_empty() {
            "none".to_owned()
        } else {
            sent[usize::from(arg) % sent.len()].clone()
        };
        match op % 14 {
            0 => {
                if let Ok(id) = conn.send(Action::ping(), now) {
                    sent.push(id.to_string());
                }
            }
            1 => {
                if let Ok(id) = conn.send(Action::core_show_channels(), now) {
                    sent.push(id.to_string());
                }
            }
            2 => {
                let o = crate::action::Originate::to_application("Local/1@t", "Wait", "1")
                    .asynchronous(true)
                    .build();
                if let Ok(id) = conn.send(o, now) {
                    sent.push(id.to_string());
                }
            }
            3 => {
                // Time never goes backwards; a jump past the clock's end is not taken.
                now = now.checked_add(duration(arg)).unwrap_or(now);
                conn.handle_timeout(now);
            }
            4 => {
                let _ = conn.poll_transmit(&mut wire);
            }
            5 => {
                let kind = if arg & 1 == 0 { "Success" } else { "Error" };
                let list = if arg & 2 != 0 {
                    "EventList: start\r\n"
                } else {
                    ""
                };
                let msg = format!("Response: {kind}\r\nActionID: {target}\r\n{list}\r\n");
                feed(&mut conn, msg.as_bytes(), &mut resolved, &mut closed);
            }
            6 => {
                let msg = format!("Event: CoreShowChannel\r\nActionID: {target}\r\n\r\n");
                feed(&mut conn, msg.as_bytes(), &mut resolved, &mut closed);
            }
            7 => {
                let msg = format!(
                    "Event: CoreShowChannelsComplete\r\nActionID: {target}\r\nEventList: Complete\r\n\r\n"
                );
                feed(&mut conn, msg.as_bytes(), &mut resolved, &mut closed);
            }
            8 => {
                let msg = format!(
                    "Event: OriginateResponse\r\nActionID: {target}\r\nResponse: Success\r\n\r\n"
                );
                feed(&mut conn, msg.as_bytes(), &mut resolved, &mut closed);
            }
            9 => {
                // Raw peer bytes.
                let n = usize::from(arg).min(data.len() - i.min(data.len()));
                let bytes = &data[i.min(data.len())..i.min(data.len()) + n];
                i += n;
                feed(&mut conn, bytes, &mut resolved, &mut closed);
            }
            10 => {
                let msg = b"Response: Success\r\nPing: Pong\r\n\r\n";
                feed(&mut conn, msg, &mut resolved, &mut closed);
            }
            11 => {
                if let Ok(id) = conn.send_with_timeout(Action::ping(), duration(arg), now) {
                    sent.push(id.to_string());
                }
            }
            12 => {
                // The socket breaks (or not), and the next session starts.
                if arg & 1 == 0 {
                    conn.receive_eof();
                    drain(&mut conn, &mut resolved, &mut closed);
                }
                if conn.reconnect(now).is_ok() {
                    drain(&mut conn, &mut resolved, &mut closed);
                    closed = false;
                    if arg & 2 == 0 {
                        login(&mut conn, &mut wire, &mut resolved, &mut closed);
                    }
                }
            }
            _ => {
                if arg & 1 == 0 {
                    conn.close();
                } else if let Ok(id) = conn.logoff(now) {
                    sent.push(id.to_string());
                }
            }
        }
        drain(&mut conn, &mut resolved, &mut closed);
    }
    conn.receive_eof();
    drain(&mut conn, &mut resolved, &mut closed);
    assert!(closed, "no Closed after the end of the stream");
    // What a resumable connection kept for a next session fails when no session follows.
    conn.close();
    drain(&mut conn, &mut resolved, &mut closed);
    assert_eq!(conn.poll_timeout(), None);
    assert_eq!(conn.pending(), 0);
    for id in &sent {
        assert_eq!(
            resolved.get(id),
            Some(&1),
            "{id} resolved {:?} times",
            resolved.get(id)
        );
    }
    for (id, n) in &resolved {
        assert!(sent.contains(id), "{id} resolved but never sent");
        assert_eq!(*n, 1);
    }
}

/// AMI over HTTP: the first byte picks the body format (rawman, mxml, manager) and a tight or
/// default body limit; the rest is an HTTP response as recorded (head lines, a blank line,
/// the body; without blank line, all of it is the body). Invariants: no panic; the body limit
/// holds; each decoded message re-encodes into AMI bytes that decode back to the same
/// messages; every head line goes through the `WWW-Authenticate` and `Set-Cookie` parsers,
/// and an answer to a parsed challenge never holds a CR or LF.
pub fn fuzz_ajam(data: &[u8]) {
    use crate::ajam::{self, digest, BodyLimits, Flavour, HttpMethod};
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let flavour = [Flavour::Rawman, Flavour::Mxml, Flavour::Manager][usize::from(sel % 3)];
    let mut limits = BodyLimits::default();
    if sel & 4 != 0 {
        limits.max_body = 64;
        limits.max_messages = 3;
        limits.decoder.max_headers = 4;
        limits.decoder.max_line_len = 40;
        limits.decoder.max_message_len = 128;
    }
    let (head, body) = match rest.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (&rest[..i], &rest[i + 4..]),
        None => (&b""[..], rest),
    };
    for line in String::from_utf8_lossy(head).split("\r\n") {
        let value = line.split_once(':').map_or(line, |(_, v)| v.trim());
        let _ = digest::parse_params(value);
        if let Ok(c) = digest::Challenge::parse(value) {
            let mut client = digest::DigestClient::new("u", crate::Secret::new("s"));
            let _ = client.on_challenge(c);
            if let Some(a) = client.authorization(HttpMethod::Get, "/arawman?action=Ping", "c") {
                assert!(!a.contains(['\r', '\n']));
            }
        }
        if let Some(c) = ajam::SetCookie::parse(value) {
            assert!(!c.id.contains(['\r', '\n', '"', ';']));
        }
    }
    match ajam::decode_body(flavour, body, &limits) {
        Ok(msgs) => {
            assert!(body.len() <= limits.max_body);
            assert!(msgs.len() <= limits.max_messages);
            let mut wire = Vec::new();
            ajam::encode_messages(&msgs, &mut wire);
            let mut again_limits = limits.clone();
            again_limits.max_body = usize::MAX;
            let again =
                ajam::decode_rawman(&wire, &again_limits).expect("re-encoded messages decode");
            assert_eq!(again, msgs);
        }
        Err(ajam::BodyError::TooLarge { limit }) => assert!(body.len() > limit),
        Err(_) => {}
    }
}
