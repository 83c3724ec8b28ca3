//! Replays the fuzz targets' logic in `cargo test`: on every recording (with several decoder
//! settings and chunk sizes), and on every saved input under tests/data/fuzz/<target>/: the
//! seeds that `fuzz/seed.sh` writes there (committed), and crashes and interesting cases found
//! by fuzzing. A missing or empty directory is an error, so no loop can replay nothing.
use std::fs;
use std::path::Path;

use amiwire::fuzzing;

/// Every saved input of `target`; panics if the directory is missing or holds no file.
fn saved(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(target);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: the saved inputs of the {target} fuzz target are missing \
             (bash fuzz/seed.sh writes the seeds; commit them)",
            dir.display()
        )
    });
    let mut out = Vec::new();
    for e in entries {
        let path = e.unwrap().path();
        if path.is_file() {
            out.push(fs::read(&path).unwrap());
        }
    }
    assert!(!out.is_empty(), "{}: no saved input", dir.display());
    out
}

/// Runs `f` on every saved input of `target` and checks that at least `min` were replayed.
fn replay(target: &str, min: usize, f: impl Fn(&[u8])) {
    let mut n = 0;
    for input in saved(target) {
        f(&input);
        n += 1;
    }
    assert!(
        n >= min,
        "{target}: replayed {n} saved inputs, expected at least {min}"
    );
}

#[test]
fn decoder_on_recordings_and_saved_inputs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut n = 0;
    for e in fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if !path.to_string_lossy().ends_with(".bin") {
            continue;
        }
        let data = fs::read(&path).unwrap();
        for sel in [0u8, 1, 2, 3, 4, 7, 30, 255] {
            let mut input = vec![sel];
            input.extend_from_slice(&data);
            fuzzing::fuzz_decoder(&input);
        }
        n += 1;
    }
    assert!(n >= 20);
    // A seed per server recording, plus the crashes found by fuzzing.
    replay("decoder", 20, fuzzing::fuzz_decoder);
}

#[test]
fn roundtrip_on_client_recordings_and_saved_inputs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for e in fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if !path.to_string_lossy().ends_with(".client.bin") {
            continue;
        }
        // Each action of the recording as NUL-separated name, key, value, key, value…
        let data = fs::read(&path).unwrap();
        for block in String::from_utf8_lossy(&data).split("\r\n\r\n") {
            let mut fields = Vec::new();
            for (i, line) in block.lines().enumerate() {
                let (k, v) = line.split_once(": ").unwrap_or((line, ""));
                if i == 0 {
                    fields.push(v.to_owned());
                } else {
                    fields.push(k.to_owned());
                    fields.push(v.to_owned());
                }
            }
            fuzzing::fuzz_roundtrip(fields.join("\0").as_bytes());
        }
    }
    replay("roundtrip", 20, fuzzing::fuzz_roundtrip);
    fuzzing::fuzz_roundtrip(b"Originate\0Channel\0Local/100@test\r\nAction: Command\0Data\0 x ");
}

#[test]
fn filter_and_callfile_saved_inputs() {
    replay("filter", 1, fuzzing::fuzz_filter);
    replay("callfile", 1, fuzzing::fuzz_callfile);
    fuzzing::fuzz_filter(b"!Event: Newexten");
    fuzzing::fuzz_callfile(b"Channel: Local/1@t\nContext: t\nExtension: 1\nPriority: 1\n");
}

#[test]
fn connection_saved_inputs_and_generated_sequences() {
    replay("connection", 1, fuzzing::fuzz_connection);
    // A few hundred deterministic pseudo-random sequences (xorshift), so the invariants run on
    // every test run, not only under the fuzzer.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..300 {
        let mut data = Vec::with_capacity(len * 2);
        for _ in 0..len * 2 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.push(x as u8);
        }
        fuzzing::fuzz_connection(&data);
    }
}

#[test]
fn ajam_on_http_recordings_and_saved_inputs() {
    // Each recorded HTTP response, with every selector (body format and limits).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut n = 0;
    for name in [
        "11a-http-rawman.server.bin",
        "11b-http-mxml.server.bin",
        "11d-http-arawman-digest.server.bin",
    ] {
        let data = fs::read(dir.join(name)).unwrap();
        let text = String::from_utf8_lossy(&data);
        for response in text.split("HTTP/1.1 ").filter(|r| !r.is_empty()) {
            for sel in 0u8..8 {
                let mut input = vec![sel];
                input.extend_from_slice(b"HTTP/1.1 ");
                input.extend_from_slice(response.as_bytes());
                fuzzing::fuzz_ajam(&input);
                n += 1;
            }
        }
    }
    assert!(n >= 8 * 30);
    replay("ajam", 5, fuzzing::fuzz_ajam);
    fuzzing::fuzz_ajam(b"\x01\r\n\r\n<ajax-response><response><generic a='1' a-2='&amp;' /></response></ajax-response>");
}
