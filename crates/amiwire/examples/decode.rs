//! Decodes a recorded server→client AMI stream and prints one JSON object per frame.
//!
//! ```text
//! cargo run --release -p amiwire --example decode -- FILE [--count] [--chunk N]
//! ```
//!
//! `{"banner": "..."}` for the banner, `{"headers": [["Key", "Value"], ...]}` for every message
//! in wire order (values as UTF-8, invalid bytes replaced; a line without a colon is `["", line]`),
//! with `"output": ["line", ...]` added for old-style (`Response: Follows`) Command output, and
//! `{"error": "..."}` for a message that broke a limit. A `.gz` file is not unpacked: pass the
//! plain stream (`zcat f.gz > f`). `--count` prints only the number of messages; `--chunk N`
//! feeds the decoder N bytes at a time (default 4096, like a socket read).
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use amiwire::{Decoder, Frame};

#[path = "support/json.rs"]
mod json;
use json::{frame_json, json_str};

fn main() -> ExitCode {
    let mut path = None;
    let mut count_only = false;
    let mut chunk = 4096usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--count" => count_only = true,
            "--chunk" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n) if n > 0 => chunk = n,
                _ => return usage("--chunk needs a positive number"),
            },
            "-h" | "--help" => {
                println!("usage: decode FILE [--count] [--chunk N]");
                return ExitCode::SUCCESS;
            }
            _ if path.is_none() => path = Some(a),
            _ => return usage(&format!("unexpected argument {a:?}")),
        }
    }
    let Some(path) = path else {
        return usage("missing FILE");
    };
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("decode: cannot read {path}: {e}");
            return ExitCode::from(1);
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut dec = Decoder::new();
    let mut messages = 0u64;
    let mut errors = 0u64;
    let mut line = String::new();
    for mut piece in data.chunks(chunk) {
        while !piece.is_empty() {
            let n = dec.feed(piece);
            piece = &piece[n..];
            loop {
                match dec.decode() {
                    Ok(None) => break,
                    Ok(Some(frame)) => {
                        if let Frame::Message(_) = frame {
                            messages += 1;
                        }
                        if !count_only {
                            line.clear();
                            frame_json(&frame, &mut line);
                            let _ = writeln!(out, "{line}");
                        }
                    }
                    Err(e) => {
                        errors += 1;
                        if !count_only {
                            line.clear();
                            line.push_str("{\"error\": ");
                            json_str(&e.to_string(), &mut line);
                            line.push('}');
                            let _ = writeln!(out, "{line}");
                        }
                    }
                }
            }
        }
    }
    if let Err(e) = dec.finish() {
        errors += 1;
        if !count_only {
            let _ = writeln!(out, "{{\"error\": \"{e}\"}}");
        }
    }
    if count_only {
        let _ = writeln!(out, "{messages}");
    }
    if out.flush().is_err() {
        return ExitCode::from(1);
    }
    if errors > 0 {
        eprintln!("decode: {errors} message(s) broke a limit");
    }
    ExitCode::SUCCESS
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("decode: {msg}\nusage: decode FILE [--count] [--chunk N]");
    ExitCode::from(2)
}
