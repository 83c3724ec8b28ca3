//! Decoded frames as JSON lines: the output of `amiwire decode` and of the crate's `decode`
//! example, and the format of the golden files the tests compare with
//! (`tests/data/golden/*.jsonl`). One object per frame, keys in this order:
//!
//! - `{"banner": "..."}` for the banner line;
//! - `{"headers": [["Key", "Value"], ...]}` for a message, every header line in wire order
//!   (a line without a colon is `["", line]`), with `"output": ["line", ...]` added for the
//!   raw output of an old-style (`Response: Follows`) Command answer
//!   ([`MessageRef::command_output`]);
//! - `{"error": "..."}` for a message that broke a limit, or a stream cut inside a message.
//!
//! Bytes that are not UTF-8 are replaced with U+FFFD; strings are escaped as JSON requires
//! (`"`, `\`, control characters), and the output is otherwise as compact as shown (`", "`
//! between items, `": "` after a key).
//!
//! ```
//! use amiwire::{jsonl, DecoderConfig};
//!
//! let wire = b"Asterisk Call Manager/2.10.3\r\nEvent: FullyBooted\r\nStatus: Fully Booted\r\n\r\n";
//! let mut lines = Vec::new();
//! let counts = jsonl::decode_stream(wire, DecoderConfig::client(), 5, |line| {
//!     lines.push(line.to_owned());
//!     Ok::<(), ()>(())
//! })
//! .unwrap();
//! assert_eq!(lines, [
//!     r#"{"banner": "Asterisk Call Manager/2.10.3"}"#,
//!     r#"{"headers": [["Event", "FullyBooted"], ["Status", "Fully Booted"]]}"#,
//! ]);
//! assert_eq!((counts.messages, counts.errors), (1, 0));
//! ```

use std::fmt::Write as _;

use crate::{DecodeError, Decoder, DecoderConfig, Frame, MessageRef};

/// Appends the JSON object of one frame (a banner or a message) to `out`, without line end.
pub fn push_frame(frame: &Frame<'_>, out: &mut String) {
    match frame {
        Frame::Banner(b) => {
            out.push_str("{\"banner\": ");
            push_str(&String::from_utf8_lossy(b), out);
            out.push('}');
        }
        Frame::Message(m) => push_message(m, out),
    }
}

/// Appends the JSON object of one message to `out`: its headers, and its Command output if it
/// is an old-style Command answer.
pub fn push_message(m: &MessageRef<'_>, out: &mut String) {
    out.push_str("{\"headers\": [");
    for (i, h) in m.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('[');
        push_str(&String::from_utf8_lossy(h.name()), out);
        out.push_str(", ");
        push_str(&String::from_utf8_lossy(h.value()), out);
        out.push(']');
    }
    out.push(']');
    if m.follows_body().is_some() {
        out.push_str(", \"output\": [");
        for (i, l) in m.command_output().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            push_str(&String::from_utf8_lossy(l), out);
        }
        out.push(']');
    }
    out.push('}');
}

/// Appends `{"error": "<the error's message>"}` to `out`.
pub fn push_error(e: &DecodeError, out: &mut String) {
    out.push_str("{\"error\": ");
    push_str(&e.to_string(), out);
    out.push('}');
}

/// Appends `s` as a JSON string literal (quotes included) to `out`.
pub fn push_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// What [`decode_stream`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Messages decoded (banners not counted).
    pub messages: u64,
    /// Messages dropped for breaking a limit, plus one if the stream ended inside a message.
    pub errors: u64,
}

/// Decodes a whole recorded stream with a decoder configured by `config`, feeding it `chunk`
/// bytes at a time (as socket reads would; `0` is taken as `1`), and hands `emit` the JSON line
/// of every frame and error, without line end, in order. The lines do not depend on `chunk`.
/// Stops at the first error `emit` returns.
pub fn decode_stream<E>(
    data: &[u8],
    config: DecoderConfig,
    chunk: usize,
    mut emit: impl FnMut(&str) -> Result<(), E>,
) -> Result<Counts, E> {
    let mut dec = Decoder::with_config(config);
    let mut counts = Counts::default();
    let mut line = String::new();
    for mut piece in data.chunks(chunk.max(1)) {
        while !piece.is_empty() {
            let n = dec.feed(piece);
            piece = &piece[n..];
            loop {
                line.clear();
                match dec.decode() {
                    Ok(None) => break,
                    Ok(Some(frame)) => {
                        counts.messages += u64::from(matches!(frame, Frame::Message(_)));
                        push_frame(&frame, &mut line);
                    }
                    Err(e) => {
                        counts.errors += 1;
                        push_error(&e, &mut line);
                    }
                }
                emit(&line)?;
            }
        }
    }
    if let Err(e) = dec.finish() {
        counts.errors += 1;
        line.clear();
        push_error(&e, &mut line);
        emit(&line)?;
    }
    Ok(counts)
}
