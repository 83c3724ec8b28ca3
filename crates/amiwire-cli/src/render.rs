//! How messages are printed: as AMI text for people, as JSON lines for scripts (the format of
//! `amiwire decode`, [`amiwire::jsonl`], shared with the core's decode example).

use std::fmt::Write as _;

use amiwire::connection::Response;
use amiwire::jsonl::push_message;
use amiwire::{Message, MessageRef};

pub(crate) use amiwire::jsonl::push_str as json_str;

/// `Key: Value` lines and a blank line, as on the wire (invalid UTF-8 replaced).
pub(crate) fn text(m: &MessageRef<'_>) -> String {
    let mut s = String::new();
    for h in m.iter() {
        let (k, v) = (
            String::from_utf8_lossy(h.name()),
            String::from_utf8_lossy(h.value()),
        );
        if h.has_colon() {
            let _ = writeln!(s, "{k}: {v}");
        } else {
            let _ = writeln!(s, "{v}");
        }
    }
    s
}

/// One JSON object: `{"headers": [["Key", "Value"], ...]}`.
pub(crate) fn json(m: &MessageRef<'_>) -> String {
    let mut s = String::new();
    push_message(m, &mut s);
    s
}

/// A whole action result as one JSON object: the response, the list items, the completion
/// event and the OriginateResponse.
pub(crate) fn response_json(r: &Response) -> String {
    let mut s = String::from("{\"response\": ");
    push_message(&r.message.as_ref(), &mut s);
    let list = |s: &mut String, name: &str, items: &[Message]| {
        let _ = write!(s, ", \"{name}\": [");
        for (i, m) in items.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            push_message(&m.as_ref(), s);
        }
        s.push(']');
    };
    if !r.events.is_empty() || r.complete.is_some() {
        list(&mut s, "events", &r.events);
    }
    if let Some(c) = &r.complete {
        s.push_str(", \"complete\": ");
        push_message(&c.as_ref(), &mut s);
    }
    if let Some(o) = &r.originate {
        s.push_str(", \"originate\": ");
        push_message(&o.as_ref(), &mut s);
    }
    s.push('}');
    s
}

/// A whole action result as text: the response, its list items and completion event, the
/// OriginateResponse, each as a block.
pub(crate) fn response_text(r: &Response) -> String {
    let mut s = text(&r.message.as_ref());
    for m in r.events.iter().chain(&r.complete).chain(&r.originate) {
        s.push('\n');
        s.push_str(&text(&m.as_ref()));
    }
    s
}
