//! JSON rendering of decoded frames, shared by the `decode` example and the golden tests
//! (one format, so the checked-in expectations are the tool's own output format).
#![allow(dead_code)]

use amiwire::{Frame, MessageRef};

/// Appends the JSON object for one frame.
pub(crate) fn frame_json(frame: &Frame<'_>, out: &mut String) {
    match frame {
        Frame::Banner(b) => {
            out.push_str("{\"banner\": ");
            json_str(&String::from_utf8_lossy(b), out);
            out.push('}');
        }
        Frame::Message(m) => message_json(m, out),
    }
}

/// Appends the JSON object for one message.
pub(crate) fn message_json(m: &MessageRef<'_>, out: &mut String) {
    out.push_str("{\"headers\": [");
    for (i, h) in m.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('[');
        json_str(&String::from_utf8_lossy(h.name()), out);
        out.push_str(", ");
        json_str(&String::from_utf8_lossy(h.value()), out);
        out.push(']');
    }
    out.push(']');
    if m.follows_body().is_some() {
        out.push_str(", \"output\": [");
        for (i, l) in m.command_output().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            json_str(&String::from_utf8_lossy(l), out);
        }
        out.push(']');
    }
    out.push('}');
}

/// Appends `s` as a JSON string.
pub(crate) fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
