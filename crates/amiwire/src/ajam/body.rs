//! Response bodies of the three flavours into [`Message`]s, and messages back into AMI bytes.

use crate::{DecodeError, Decoder, DecoderConfig, Frame, Message};

use super::Flavour;

/// Limits on a response body. Every limit is always on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BodyLimits {
    /// Largest body accepted, in bytes (default 16 MiB). A longer body is an error before
    /// anything is allocated for it. `/mxml` and `/manager` messages are also held to it in
    /// their TCP form (a multi-line value repeats its name on every line).
    pub max_body: usize,
    /// Most messages in one body (default 1,000,000).
    pub max_messages: usize,
    /// Limits of the decoder for `/rawman` bodies and for each message of the other flavours
    /// (the banner switch is ignored: bodies have none).
    pub decoder: DecoderConfig,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            max_body: 16 * 1024 * 1024,
            max_messages: 1_000_000,
            decoder: DecoderConfig::without_banner(),
        }
    }
}

/// A body that cannot be read: always the server's (or a proxy's) fault. No variant holds
/// body text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is larger than [`BodyLimits::max_body`].
    #[error("response body larger than {limit} bytes")]
    TooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// The body holds more than [`BodyLimits::max_messages`] messages.
    #[error("response body with more than {limit} messages")]
    TooManyMessages {
        /// The limit in force.
        limit: usize,
    },
    /// A message of the body broke a decoder limit.
    #[error("response body: {0}")]
    Decode(#[from] DecodeError),
    /// The `/mxml` body is not the XML Asterisk writes.
    #[error("malformed /mxml body at byte {position}: {reason}")]
    Xml {
        /// Byte offset in the body.
        position: u64,
        /// What is wrong (never body text).
        reason: String,
    },
    /// The `/manager` body is not the HTML Asterisk writes.
    #[error("malformed /manager body: {0}")]
    Html(&'static str),
}

/// Decodes a body of `flavour` into its messages, in order.
pub fn decode_body(
    flavour: Flavour,
    body: &[u8],
    limits: &BodyLimits,
) -> Result<Vec<Message>, BodyError> {
    match flavour {
        Flavour::Rawman => decode_rawman(body, limits),
        Flavour::Mxml => super::decode_mxml(body, limits),
        Flavour::Manager => decode_manager_html(body, limits),
    }
}

/// Decodes a `/rawman` body: the AMI framing of TCP without banner, one or more messages (an
/// action's answer, its event list, or WaitEvent's events). A last message without its blank
/// line is taken as complete; an empty body gives no message (Asterisk sends one to a
/// WaitEvent that another WaitEvent replaced).
pub fn decode_rawman(body: &[u8], limits: &BodyLimits) -> Result<Vec<Message>, BodyError> {
    if body.len() > limits.max_body {
        return Err(BodyError::TooLarge {
            limit: limits.max_body,
        });
    }
    let mut cfg = limits.decoder.clone();
    cfg.expect_banner = false;
    let mut dec = Decoder::with_config(cfg);
    let mut out = Vec::new();
    let tail: &[u8] = if body.ends_with(b"\n\n") || body.ends_with(b"\n\r\n") || body.is_empty() {
        b""
    } else if body.ends_with(b"\n") {
        b"\r\n"
    } else {
        b"\r\n\r\n"
    };
    for mut input in [body, tail] {
        while !input.is_empty() {
            let n = dec.feed(input);
            input = &input[n..];
            drain(&mut dec, &mut out, limits.max_messages)?;
            if n == 0 {
                // Nothing taken and nothing decoded: cannot happen with max_buffered at least
                // max_message_len + 15, but never loop.
                return Err(BodyError::Decode(DecodeError::MessageTooLarge {
                    limit: limits.decoder.max_message_len,
                }));
            }
        }
    }
    drain(&mut dec, &mut out, limits.max_messages)?;
    dec.finish()?;
    Ok(out)
}

fn drain(dec: &mut Decoder, out: &mut Vec<Message>, max: usize) -> Result<(), BodyError> {
    while let Some(frame) = dec.decode()? {
        if let Frame::Message(m) = frame {
            if out.len() >= max {
                return Err(BodyError::TooManyMessages { limit: max });
            }
            out.push(m.to_owned());
        }
    }
    Ok(())
}

/// Builds messages from `(name, value)` pairs: each message is encoded in the AMI framing and
/// decoded back, so it is exactly what the TCP decoder would give. A value with line ends
/// becomes one header per line (as Command output is sent over TCP); CR, LF and `:` cannot
/// appear in names (they are replaced by `_`).
pub(crate) fn messages_from_pairs(
    msgs: &[Vec<(String, String)>],
    limits: &BodyLimits,
) -> Result<Vec<Message>, BodyError> {
    let mut wire = Vec::new();
    // Each line of a multi-line value gets the name again, so the TCP form can be far larger
    // than the body (a long name over many short lines): it is held to the message limit
    // and, in all, to the body limit, checked line by line.
    let too_large = |wire: &Vec<u8>, start: usize| {
        if wire.len() - start > limits.decoder.max_message_len {
            Err(BodyError::Decode(DecodeError::MessageTooLarge {
                limit: limits.decoder.max_message_len,
            }))
        } else if wire.len() > limits.max_body {
            Err(BodyError::TooLarge {
                limit: limits.max_body,
            })
        } else {
            Ok(())
        }
    };
    for m in msgs {
        if m.is_empty() {
            continue;
        }
        let start = wire.len();
        let follows = m
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Response"))
            .is_some_and(|(_, v)| v.trim().eq_ignore_ascii_case("Follows"));
        if follows {
            push_follows(&mut wire, m);
            too_large(&wire, start)?;
            continue;
        }
        for (k, v) in m {
            let bad = |c: char| c.is_control() || c == ':';
            let name: std::borrow::Cow<'_, str> = if k.is_empty() {
                "_".into()
            } else if k.contains(bad) {
                k.chars()
                    .map(|c| if bad(c) { '_' } else { c })
                    .collect::<String>()
                    .into()
            } else {
                k.as_str().into()
            };
            let mut lines = v.split(['\r', '\n']).filter(|l| !l.is_empty()).peekable();
            if lines.peek().is_none() {
                push_line(&mut wire, &name, "");
            }
            for line in lines {
                push_line(&mut wire, &name, line);
                too_large(&wire, start)?;
            }
        }
        wire.extend_from_slice(b"\r\n");
    }
    let limits = BodyLimits {
        max_body: usize::MAX,
        ..limits.clone()
    };
    decode_rawman(&wire, &limits)
}

/// A `Response: Follows` message (Asterisk 13 and older) in its TCP framing, so that the
/// decoder takes it as it would over TCP: the `Response`, `Privilege` and `ActionID` lines,
/// then the output (`Output` values as raw lines, other pairs as `name: value` text lines),
/// then `--END COMMAND--`.
fn push_follows(wire: &mut Vec<u8>, m: &[(String, String)]) {
    let clean = |s: &str| -> String { s.chars().filter(|c| *c != '\r').collect() };
    let mut rest = m.iter().peekable();
    while let Some((k, v)) = rest.peek() {
        let head = ["Response", "Privilege", "ActionID"]
            .iter()
            .any(|h| k.eq_ignore_ascii_case(h));
        if !head {
            break;
        }
        let name: String = k.chars().filter(|c| !c.is_control() && *c != ':').collect();
        let value: String = v.chars().filter(|c| !c.is_control()).collect();
        push_line(wire, &name, &value);
        rest.next();
    }
    let mut text = String::new();
    for (k, v) in rest {
        if k.eq_ignore_ascii_case("Output") {
            text.push_str(&clean(v));
        } else {
            text.push_str(&clean(k).replace('\n', " "));
            text.push_str(": ");
            text.push_str(&clean(v));
        }
        text.push('\n');
    }
    let text = text.trim_end_matches('\n');
    let text = text.strip_suffix("--END COMMAND--").unwrap_or(text);
    // No line of the output may be taken for the marker's line.
    wire.extend_from_slice(text.as_bytes());
    if !text.is_empty() && !text.ends_with('\n') {
        wire.push(b'\n');
    }
    wire.extend_from_slice(b"--END COMMAND--\r\n\r\n");
}

fn push_line(wire: &mut Vec<u8>, name: &str, value: &str) {
    wire.extend_from_slice(name.as_bytes());
    wire.extend_from_slice(b": ");
    wire.extend_from_slice(value.as_bytes());
    wire.extend_from_slice(b"\r\n");
}

/// Appends the AMI wire form of `msgs` to `out`: each message's bytes as decoded (line ends
/// included), ended by a blank line if it did not end with one. What a
/// [`Connection`](crate::Connection) reads as if it came over TCP.
pub fn encode_messages(msgs: &[Message], out: &mut Vec<u8>) {
    for m in msgs {
        let b = m.as_bytes();
        out.extend_from_slice(b);
        if !(b.ends_with(b"\n\n") || b.ends_with(b"\n\r\n")) {
            if !b.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Decodes a `/manager` (HTML) body: each `<tr><td>Name</td><td>Value</td></tr>` row is a
/// header (names as Asterisk wrote them: the HTML rendering keeps their case), a
/// `<tr><td colspan="2"><hr></td></tr>` row ends a message, and the tester form's rows
/// (`<th>` cells, or a single `colspan` cell) are skipped. Entities are decoded; `<br>`
/// inside a value (the old Command text) splits it into lines.
///
/// This page is Asterisk's debugging aid and its markup has changed between versions; it is
/// read on a best-effort basis (tested on Asterisk 22's). Prefer `/rawman`.
pub fn decode_manager_html(body: &[u8], limits: &BodyLimits) -> Result<Vec<Message>, BodyError> {
    if body.len() > limits.max_body {
        return Err(BodyError::TooLarge {
            limit: limits.max_body,
        });
    }
    let text = String::from_utf8_lossy(body);
    let mut msgs: Vec<Vec<(String, String)>> = vec![Vec::new()];
    let mut rest: &str = &text;
    while let Some(i) = find_ci(rest, "<tr>") {
        rest = &rest[i + 4..];
        let end = find_ci(rest, "</tr>").ok_or(BodyError::Html("unterminated <tr> row"))?;
        let row = &rest[..end];
        rest = &rest[end + 5..];
        let row_l = row.trim_start();
        if find_ci(row_l, "<hr").is_some() && find_ci(row_l, "colspan").is_some() {
            if msgs.last().is_some_and(|m| !m.is_empty()) {
                if msgs.len() >= limits.max_messages {
                    return Err(BodyError::TooManyMessages {
                        limit: limits.max_messages,
                    });
                }
                msgs.push(Vec::new());
            }
            continue;
        }
        if !starts_with_ci(row_l, "<td>") {
            continue; // <th> tester rows, colspan rows
        }
        let cells = &row_l[4..];
        let Some(mid) = find_ci(cells, "</td><td>") else {
            // Opaque data of the old Command framing: one cell.
            continue;
        };
        let name = html_text(&cells[..mid]);
        let mut value = &cells[mid + 9..];
        if let Some(e) = rfind_ci(value, "</td>") {
            value = &value[..e];
        }
        let value = html_text(value);
        if let Some(m) = msgs.last_mut() {
            m.push((name, value));
        }
    }
    super::body::messages_from_pairs(&msgs, limits)
}

fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.len() > h.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

fn rfind_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.len() > h.len() {
        return None;
    }
    (0..=h.len() - n.len())
        .rev()
        .find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

fn starts_with_ci(s: &str, p: &str) -> bool {
    s.len() >= p.len() && s.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
}

/// Text of an HTML fragment: `<br>` is a line end, other tags are dropped, the five XML
/// entities, `&nbsp;`, `&trade;` and numeric references decoded (an unknown one is kept).
fn html_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest.find('>').map_or(rest.len(), |e| e + 1);
                let tag = &rest[..end];
                if starts_with_ci(tag, "<br") {
                    out.push('\n');
                }
                rest = &rest[end..];
            }
            '&' => {
                let (decoded, used) = entity(rest);
                match decoded {
                    Some(ch) => out.push(ch),
                    None => out.push_str(&rest[..used]),
                }
                rest = &rest[used..];
            }
            c => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out.trim_matches(['\r', '\n']).to_owned()
}

/// The character of the entity at the start of `s` (which starts with `&`) and the bytes it
/// spans; `None` and 1 for an unknown or unterminated one.
pub(crate) fn entity(s: &str) -> (Option<char>, usize) {
    let Some(semi) = s.get(..s.len().min(12)).and_then(|h| h.find(';')) else {
        return (None, 1);
    };
    let name = &s[1..semi];
    let ch = match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some('\u{a0}'),
        "trade" => Some('\u{2122}'),
        _ => {
            let num = if let Some(h) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                u32::from_str_radix(h, 16).ok()
            } else if let Some(d) = name.strip_prefix('#') {
                d.parse().ok()
            } else {
                None
            };
            num.and_then(char::from_u32)
        }
    };
    match ch {
        Some(c) => (Some(c), semi + 1),
        None => (None, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rawman_many_messages_and_a_missing_blank_line() {
        let l = BodyLimits::default();
        let m = decode_rawman(b"Response: Success\r\nA: 1\r\n\r\nEvent: X\r\nB: 2", &l).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].get_str("B"), Some("2"));
        assert!(decode_rawman(b"", &l).unwrap().is_empty());
        let small = BodyLimits {
            max_body: 4,
            ..BodyLimits::default()
        };
        assert_eq!(
            decode_rawman(b"Response: x\r\n\r\n", &small),
            Err(BodyError::TooLarge { limit: 4 })
        );
    }

    #[test]
    fn pairs_split_lines_and_sanitise_names() {
        let l = BodyLimits::default();
        let m = messages_from_pairs(
            &[vec![
                ("Response".into(), "Success".into()),
                ("Out:put\r\n".into(), "a\nb\r\nc".into()),
            ]],
            &l,
        )
        .unwrap();
        assert_eq!(m.len(), 1);
        let lines: Vec<_> = m[0]
            .iter()
            .map(|h| h.value_str().unwrap().to_owned())
            .collect();
        assert_eq!(lines, ["Success", "a", "b", "c"]);
        assert_eq!(m[0].iter().nth(1).unwrap().name(), b"Out_put__");
    }

    #[test]
    fn old_follows_answers_keep_the_tcp_framing() {
        let l = BodyLimits::default();
        let m = messages_from_pairs(
            &[vec![
                ("Response".into(), "Follows".into()),
                ("Privilege".into(), "Command".into()),
                ("ActionID".into(), "c1".into()),
                (
                    "Output".into(),
                    "line: one\nline two\n--END COMMAND--".into(),
                ),
            ]],
            &l,
        )
        .unwrap();
        assert_eq!(m.len(), 1);
        let out: Vec<&[u8]> = m[0].as_ref().command_output().collect();
        assert_eq!(out, [&b"line: one"[..], b"line two"]);
        assert_eq!(m[0].get_str("ActionID"), Some("c1"));
    }

    #[test]
    fn html_of_asterisk_22() {
        let body = "<table><tr><th colspan=\"2\">x</th></tr>\n<tr><td>Response</td><td>Success</td></tr>\n\
<tr><td>Ping</td><td>P&amp;ng</td></tr>\n<tr><td colspan=\"2\"><hr></td></tr>\n</table>";
        let m = decode_manager_html(body.as_bytes(), &BodyLimits::default()).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].get_str("Ping"), Some("P&ng"));
    }
}
