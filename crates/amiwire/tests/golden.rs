//! Golden transcripts: every recording of a real Asterisk 22 (tests/data, copied from the shared
//! corpus) decoded whole, one byte at a time and at proptest-chosen split points, compared with
//! the expected frames in tests/data/golden (produced by the independent reference decoder
//! tools/reference_decode.py, not by this crate).
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use amiwire::{jsonl, Decoder, DecoderConfig, Frame};
use proptest::prelude::*;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Decodes `chunks` in order and renders every frame (and error) as a JSON line.
fn decode_chunks<'a>(
    cfg: DecoderConfig,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<String> {
    let mut dec = Decoder::with_config(cfg);
    let mut out = Vec::new();
    for mut chunk in chunks {
        while !chunk.is_empty() {
            let n = dec.feed(chunk);
            chunk = &chunk[n..];
            loop {
                match dec.decode() {
                    Ok(None) => break,
                    Ok(Some(f)) => {
                        let mut s = String::new();
                        jsonl::push_frame(&f, &mut s);
                        out.push(s);
                    }
                    Err(e) => out.push(format!("{{\"error\": \"{e}\"}}")),
                }
            }
        }
    }
    if let Err(e) = dec.finish() {
        out.push(format!("{{\"error\": \"{e}\"}}"));
    }
    out
}

fn split_at<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort_unstable();
    let mut parts = Vec::new();
    let mut prev = 0;
    for c in cuts {
        parts.push(&data[prev..c]);
        prev = c;
    }
    parts.push(&data[prev..]);
    parts
}

/// The text/plain bodies of the HTTP responses in a recorded server stream (AMI over /rawman
/// uses the same framing, without banner).
fn http_bodies(data: &[u8]) -> Vec<&[u8]> {
    let mut bodies = Vec::new();
    let mut pos = 0;
    while let Some(he) = memchr_find(&data[pos..], b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&data[pos..pos + he]).to_ascii_lowercase();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let body_start = pos + he + 4;
        let body = &data[body_start..(body_start + len).min(data.len())];
        if head
            .lines()
            .any(|l| l.starts_with("content-type: text/plain"))
        {
            bodies.push(body);
        }
        pos = body_start + len;
        if pos >= data.len() {
            break;
        }
    }
    bodies
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

struct Case {
    name: String,
    data: Vec<u8>,
    http: bool,
    expected: Vec<String>,
}

fn cases() -> Vec<Case> {
    let dir = data_dir();
    let mut cases = Vec::new();
    for entry in fs::read_dir(dir.join("golden")).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".jsonl") else {
            continue;
        };
        let data = fs::read(dir.join(format!("{stem}.server.bin"))).unwrap();
        let expected = fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        cases.push(Case {
            name: stem.to_owned(),
            data,
            http: stem.starts_with("11"),
            expected,
        });
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(cases.len() >= 19, "golden files missing: {}", cases.len());
    cases
}

fn run(case: &Case, split: impl Fn(&[u8]) -> Vec<&[u8]>) -> Vec<String> {
    if case.http {
        let mut out = Vec::new();
        for body in http_bodies(&case.data) {
            out.extend(decode_chunks(DecoderConfig::without_banner(), split(body)));
        }
        out
    } else {
        decode_chunks(DecoderConfig::default(), split(&case.data))
    }
}

#[test]
fn recordings_whole() {
    for case in cases() {
        assert_eq!(run(&case, |d| vec![d]), case.expected, "{}", case.name);
    }
}

#[test]
fn recordings_byte_by_byte() {
    for case in cases() {
        let got = run(&case, |d| d.chunks(1).collect());
        assert_eq!(got, case.expected, "{}", case.name);
    }
}

#[test]
fn recordings_in_socket_sized_reads() {
    for case in cases() {
        for size in [2, 3, 7, 64, 4096] {
            let got = run(&case, |d| d.chunks(size).collect());
            assert_eq!(got, case.expected, "{} in {size}-byte chunks", case.name);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn recordings_at_random_splits(cuts in proptest::collection::vec(any::<usize>(), 0..40)) {
        for case in cases() {
            let got = run(&case, |d| split_at(d, &cuts));
            prop_assert_eq!(&got, &case.expected, "{}", case.name);
        }
    }
}

/// Message counts per recording, as the recorder itself counted them (meta.json).
#[test]
fn message_counts_match_the_recorder() {
    for (stem, count) in [
        ("01-login-ping-logoff.admin", 5),
        ("04-command", 10),
        ("06-event-lists", 134),
        ("07-originate", 152),
        ("10-pipelined", 51),
    ] {
        let data = fs::read(data_dir().join(format!("{stem}.server.bin"))).unwrap();
        let n = decode_chunks(DecoderConfig::default(), [&data[..]])
            .iter()
            .filter(|l| l.starts_with("{\"headers\""))
            .count();
        assert_eq!(n, count, "{stem}");
    }
}

/// The 30 MB bulk stream (78,003 events of 750 calls): message and header counts and events
/// per name, against the reference decoder's summary.
#[test]
fn bulk_stream_summary() {
    let mut gz = Vec::new();
    flate2::read::GzDecoder::new(
        fs::File::open(data_dir().join("12a-bulk-events.server.bin.gz")).unwrap(),
    )
    .read_to_end(&mut gz)
    .unwrap();
    let mut dec = Decoder::new();
    let mut messages = 0usize;
    let mut headers = 0usize;
    let mut events = std::collections::BTreeMap::<String, usize>::new();
    for mut chunk in gz.chunks(4096) {
        while !chunk.is_empty() {
            let n = dec.feed(chunk);
            chunk = &chunk[n..];
            while let Some(f) = dec.decode().unwrap() {
                if let Frame::Message(m) = f {
                    messages += 1;
                    headers += m.len();
                    if let Some(e) = m.event() {
                        *events
                            .entry(String::from_utf8_lossy(e).into_owned())
                            .or_default() += 1;
                    }
                }
            }
        }
    }
    dec.finish().unwrap();
    let mut summary = format!("{{\"messages\": {messages}, \"headers\": {headers}, \"events\": {{");
    for (i, (k, v)) in events.iter().enumerate() {
        if i > 0 {
            summary.push_str(", ");
        }
        summary.push_str(&format!("\"{k}\": {v}"));
    }
    summary.push_str("}}");
    let expected =
        fs::read_to_string(data_dir().join("golden/12a-bulk-events.summary.json")).unwrap();
    assert_eq!(summary, expected.trim());
    assert_eq!(events.values().sum::<usize>(), 78_003);
}

/// `jsonl::decode_stream`, what `amiwire decode` and the decode example print, gives the golden
/// lines whatever its read size.
#[test]
fn decode_stream_gives_the_golden_lines() {
    for case in cases().iter().filter(|c| !c.http) {
        for chunk in [0, 1, 5, 4096] {
            let mut lines = Vec::new();
            let counts = jsonl::decode_stream(&case.data, DecoderConfig::client(), chunk, |l| {
                lines.push(l.to_owned());
                Ok::<(), ()>(())
            })
            .unwrap();
            assert_eq!(lines, case.expected, "{} in {chunk}-byte reads", case.name);
            let messages = lines
                .iter()
                .filter(|l| l.starts_with("{\"headers\""))
                .count();
            assert_eq!(counts.messages, messages as u64, "{}", case.name);
            assert_eq!(counts.errors, 0, "{}", case.name);
        }
    }
}
