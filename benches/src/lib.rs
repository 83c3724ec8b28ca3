//! Shared code of the amiwire benchmarks: the corpora and one decode loop per implementation,
//! each returning what it found so that every bench can assert its result.
#![forbid(unsafe_code)]

use std::io::Read;
use std::path::PathBuf;

use amiwire::{Decoder, Frame};
use bytes::BytesMut;
use tokio_util::codec::Decoder as _;

/// Size of one simulated socket read.
pub const READ: usize = 4096;

/// Events in the bulk stream, as counted by the recorder.
pub const BULK_EVENTS: usize = 78_003;
/// Messages (events plus the login response and the last response) in the bulk stream.
pub const BULK_MESSAGES: usize = 78_005;

/// The directory holding the recordings (`crates/amiwire/tests/data`).
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/amiwire/tests/data")
}

/// The real bulk stream (30 MB, 78,003 events of 750 calls), unpacked.
pub fn bulk_stream() -> Vec<u8> {
    let f = std::fs::File::open(data_dir().join("12a-bulk-events.server.bin.gz"))
        .expect("bulk recording");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(f)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

/// A recording of the corpus by its file name.
pub fn recording(name: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(name)).expect("recording")
}

/// What a decode loop found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Messages decoded.
    pub messages: usize,
    /// Header lines located.
    pub headers: usize,
}

/// amiwire's decoder fed in `READ`-byte reads: every header located, every message's kind
/// known.
pub fn amiwire_decode(data: &[u8], dec: &mut Decoder) -> Counts {
    let mut c = Counts::default();
    for mut chunk in data.chunks(READ) {
        while !chunk.is_empty() {
            let n = dec.feed(chunk);
            chunk = &chunk[n..];
            while let Ok(Some(f)) = dec.decode() {
                if let Frame::Message(m) = f {
                    c.messages += 1;
                    c.headers += m.len();
                    std::hint::black_box(m.kind());
                }
            }
        }
    }
    c
}

/// A CRM screen-pop style filter: event name in a set and one header value.
pub fn screen_pop_filter() -> amiwire::filter::Filter {
    use amiwire::filter::Filter;
    Filter::events(["Hangup", "DialBegin"]) & Filter::header_eq("Context", "test")
}

/// Events of the bulk stream that pass [`screen_pop_filter`] (counted independently with a
/// plain split in Python).
pub const BULK_SCREEN_POP: usize = 3750;

/// [`amiwire_decode`] plus a filter evaluated on every message; returns the messages decoded
/// and how many passed.
pub fn amiwire_decode_filtered(
    data: &[u8],
    dec: &mut Decoder,
    filter: &amiwire::filter::Filter,
) -> (Counts, usize) {
    let mut c = Counts::default();
    let mut passed = 0;
    for mut chunk in data.chunks(READ) {
        while !chunk.is_empty() {
            let n = dec.feed(chunk);
            chunk = &chunk[n..];
            while let Ok(Some(f)) = dec.decode() {
                if let Frame::Message(m) = f {
                    c.messages += 1;
                    c.headers += m.len();
                    std::hint::black_box(m.kind());
                    passed += usize::from(filter.matches(&m));
                }
            }
        }
    }
    (c, passed)
}

/// asterisk-rs-ami 0.8's `AmiCodec` (a tokio-util codec) fed in `READ`-byte reads.
pub fn peer_decode(data: &[u8]) -> Counts {
    let mut codec = asterisk_rs_ami::AmiCodec::new();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut c = Counts::default();
    for chunk in data.chunks(READ) {
        buf.extend_from_slice(chunk);
        while let Ok(Some(m)) = codec.decode(&mut buf) {
            c.messages += 1;
            c.headers += m.headers.len() + m.channel_variables.len();
        }
    }
    c
}

/// The floor: `memchr::memmem` finding every `\r\n\r\n` (message ends only; no header located).
pub fn memmem_floor(data: &[u8]) -> Counts {
    let finder = memchr::memmem::Finder::new(b"\r\n\r\n");
    Counts {
        messages: finder.find_iter(data).count(),
        headers: 0,
    }
}

/// The full client [`amiwire::Connection`] (no login, events only, filters off) over a
/// stream in `READ`-byte reads: returns (events, other outputs).
pub fn connection_events(data: &[u8]) -> (usize, usize) {
    use amiwire::connection::{Connection, ConnectionConfig, Output};
    let now = std::time::Instant::now();
    let mut conn = Connection::new(ConnectionConfig::default(), now);
    let (mut events, mut other) = (0, 0);
    for mut chunk in data.chunks(READ) {
        while !chunk.is_empty() {
            let n = conn.receive(chunk);
            chunk = &chunk[n..];
            while let Some(o) = conn.poll_output() {
                match o {
                    Output::Event(m) => {
                        std::hint::black_box(m.event());
                        events += 1;
                    }
                    _ => other += 1,
                }
            }
        }
    }
    (events, other)
}

/// `n` Ping actions pipelined through a logged-in client [`amiwire::Connection`] and a
/// scripted server (a decoder reading the actions and writing one Pong per Ping, in order).
/// Returns the number of successful responses the client reported.
pub fn ping_round_trips(n: usize) -> usize {
    use amiwire::connection::{Connection, ConnectionConfig, Output};
    use amiwire::{Action, DecoderConfig};
    let now = std::time::Instant::now();
    let mut cfg = ConnectionConfig::default();
    cfg.max_pending = n + 1;
    cfg.max_queued_bytes = n * 64 + 4096;
    let mut client = Connection::new(cfg, now);
    let _ = client.receive(b"Asterisk Call Manager/11.0.0\r\n");
    while client.poll_output().is_some() {}
    let mut server = Decoder::with_config(DecoderConfig::without_banner());
    for _ in 0..n {
        client.send(Action::ping(), now).expect("send");
    }
    let mut wire = Vec::new();
    let _ = client.poll_transmit(&mut wire);
    let mut answer = Vec::with_capacity(n * 80);
    let mut rest = &wire[..];
    while !rest.is_empty() {
        let k = server.feed(rest);
        rest = &rest[k..];
        while let Ok(Some(Frame::Message(m))) = server.decode() {
            answer.extend_from_slice(b"Response: Success\r\nActionID: ");
            answer.extend_from_slice(m.action_id().unwrap_or_default());
            answer.extend_from_slice(b"\r\nPing: Pong\r\nTimestamp: 1795453701.236728\r\n\r\n");
        }
    }
    let mut ok = 0;
    for mut chunk in answer.chunks(READ) {
        while !chunk.is_empty() {
            let k = client.receive(chunk);
            chunk = &chunk[k..];
            while let Some(o) = client.poll_output() {
                if let Output::Response(r) = o {
                    ok += usize::from(r.is_success());
                }
            }
        }
    }
    ok
}

/// The bulk recording's 78,003 events as two AMI-over-HTTP bodies: the `/rawman` body (the
/// messages' bytes, as a WaitEvent answer carries them) and the `/mxml` body Asterisk's
/// `xml_translate` would write for them (names lower-cased, other characters `_`, values
/// escaped, one `<response>` per message).
pub fn bulk_ajam_bodies() -> (Vec<u8>, Vec<u8>) {
    let data = bulk_stream();
    let mut dec = Decoder::new();
    let mut rawman = Vec::with_capacity(data.len());
    let mut mxml = Vec::with_capacity(data.len() * 2);
    mxml.extend_from_slice(b"<ajax-response>\n");
    let mut rest = &data[..];
    while !rest.is_empty() {
        let n = dec.feed(rest);
        rest = &rest[n..];
        while let Ok(Some(f)) = dec.decode() {
            let Frame::Message(m) = f else { continue };
            if m.get("Event").is_none() {
                continue;
            }
            rawman.extend_from_slice(m.as_bytes());
            mxml.extend_from_slice(b"<response type='object' id='unknown'><generic ");
            for h in m.iter() {
                for &b in h.name() {
                    mxml.push(if b.is_ascii_alphanumeric() {
                        b.to_ascii_lowercase()
                    } else {
                        b'_'
                    });
                }
                mxml.extend_from_slice(b"='");
                for &b in h.value() {
                    match b {
                        b'<' => mxml.extend_from_slice(b"&lt;"),
                        b'>' => mxml.extend_from_slice(b"&gt;"),
                        b'&' => mxml.extend_from_slice(b"&amp;"),
                        b'\'' => mxml.extend_from_slice(b"&apos;"),
                        b'"' => mxml.extend_from_slice(b"&quot;"),
                        _ => mxml.push(b),
                    }
                }
                mxml.extend_from_slice(b"' ");
            }
            mxml.extend_from_slice(b"/></response>\n");
        }
    }
    mxml.extend_from_slice(b"</ajax-response>\n");
    (rawman, mxml)
}
