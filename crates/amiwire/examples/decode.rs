//! Decodes a recorded server→client AMI stream and prints one JSON object per frame.
//!
//! ```text
//! cargo run --release -p amiwire --example decode -- FILE [--count] [--no-banner] [--chunk N]
//! ```
//!
//! The lines are those of [`amiwire::jsonl`] (the format of `amiwire decode` and of the golden
//! files): `{"banner": "..."}`, `{"headers": [["Key", "Value"], ...]}` with `"output"` for
//! old-style Command output, `{"error": "..."}`. A `.gz` file is not unpacked: pass the plain
//! stream (`zcat f.gz > f`). `--count` prints only the number of messages; `--no-banner`
//! decodes a stream that does not start with a banner (an HTTP body, what a server reads);
//! `--chunk N` feeds the decoder N bytes at a time (default 4096, like a socket read).
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use amiwire::{jsonl, DecoderConfig};

const USAGE: &str = "usage: decode FILE [--count] [--no-banner] [--chunk N]";

fn main() -> ExitCode {
    let mut path = None;
    let mut count_only = false;
    let mut config = DecoderConfig::client();
    let mut chunk = 4096usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--count" => count_only = true,
            "--no-banner" => config = DecoderConfig::without_banner(),
            "--chunk" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n) if n > 0 => chunk = n,
                _ => return usage("--chunk needs a positive number"),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
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
    let result = jsonl::decode_stream(&data, config, chunk, |line| {
        if count_only {
            Ok(())
        } else {
            writeln!(out, "{line}")
        }
    });
    let counts = match result {
        Ok(c) => c,
        Err(_) => return ExitCode::from(1),
    };
    if count_only && writeln!(out, "{}", counts.messages).is_err() {
        return ExitCode::from(1);
    }
    if out.flush().is_err() {
        return ExitCode::from(1);
    }
    if counts.errors > 0 {
        eprintln!("decode: {} message(s) broke a limit", counts.errors);
    }
    ExitCode::SUCCESS
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("decode: {msg}\n{USAGE}");
    ExitCode::from(2)
}
