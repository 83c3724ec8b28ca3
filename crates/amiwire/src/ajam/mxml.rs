//! `/mxml` bodies (main/manager.c `xml_translate`) into [`Message`]s.
//!
//! Asterisk writes `<ajax-response>`, then for each AMI message
//! `<response type='object' id='unknown'><generic name='value' … /></response>` (the
//! element's name and `id` come from the `ajaxobjtype` / `ajaxdest` parameters), then
//! `</ajax-response>`. `xml_copy_escape` changes each header **name**: it lower-cases it,
//! writes `_` for every character that is not ASCII alphanumeric, and `_` before a leading
//! digit; a name seen again in the same message gets `-2`, `-3`… Values keep their case, with
//! `<`, `>`, `"`, `'` and `&` as entities. A line without a colon (the raw text of the old
//! `Response: Follows` Command answer) starts an `opaque_data` attribute holding the rest of
//! the message's lines, joined by `\n`.
//!
//! The way back, which is what [`decode_mxml`] does: a `-N` suffix (N ≥ 2) on a name whose
//! base was already seen in the message is dropped, so repeated headers (`Output`, `Variable`)
//! are repeated again, in order; names in the table below get the spelling Asterisk gives them
//! over TCP (`actionid` → `ActionID`, `cause_txt` → `Cause-txt`); other names stay as written (lower case, `_` for what
//! was not alphanumeric: the original cannot be known). AMI names are case-insensitive, so
//! `get("Uniqueid")` finds `uniqueid` anyway. `opaque_data` becomes `Output` lines.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::body::{messages_from_pairs, BodyError, BodyLimits};
use crate::Message;

/// Canonical spellings of the names an application looks up most (lower-case key → name).
const CANONICAL: &[(&str, &str)] = &[
    ("accountcode", "AccountCode"),
    ("actionid", "ActionID"),
    ("application", "Application"),
    ("appdata", "AppData"),
    ("bridgeid", "BridgeId"),
    ("calleridname", "CallerIDName"),
    ("calleridnum", "CallerIDNum"),
    ("bridgeuniqueid", "BridgeUniqueid"),
    ("cause", "Cause"),
    // Hangup events: xml_translate wrote `-` as `_`.
    ("cause_txt", "Cause-txt"),
    ("channel", "Channel"),
    ("channelstate", "ChannelState"),
    ("channelstatedesc", "ChannelStateDesc"),
    ("connectedlinename", "ConnectedLineName"),
    ("connectedlinenum", "ConnectedLineNum"),
    ("context", "Context"),
    ("destcalleridname", "DestCallerIDName"),
    ("destcalleridnum", "DestCallerIDNum"),
    ("destchannel", "DestChannel"),
    ("destuniqueid", "DestUniqueid"),
    ("dialstatus", "DialStatus"),
    ("dialstring", "DialString"),
    ("duration", "Duration"),
    ("event", "Event"),
    ("eventlist", "EventList"),
    ("exten", "Exten"),
    ("language", "Language"),
    ("linkedid", "Linkedid"),
    ("listitems", "ListItems"),
    ("message", "Message"),
    ("output", "Output"),
    ("ping", "Ping"),
    ("priority", "Priority"),
    ("privilege", "Privilege"),
    ("reason", "Reason"),
    ("response", "Response"),
    ("status", "Status"),
    ("timestamp", "Timestamp"),
    ("uniqueid", "Uniqueid"),
    ("value", "Value"),
    ("variable", "Variable"),
];

/// The name a header had over TCP, as far as it can be known from what `xml_translate` wrote.
fn canonical(name: &str) -> &str {
    CANONICAL
        .iter()
        .find(|(k, _)| *k == name)
        .map_or(name, |(_, v)| v)
}

/// Decodes a `/mxml` body into its messages, in order (see the [module documentation](self)
/// for how names are mapped back). Bounded: a body over [`BodyLimits::max_body`] is refused
/// before it is parsed, each message must fit the decoder's limits, and the messages in
/// their TCP form must fit `max_body` too (a multi-line value repeats its name on each line).
///
/// ```
/// let body = b"<ajax-response>\n<response type='object' id='unknown'><generic response='Success' \
/// actionid='p1' ping='Pong' /></response>\n</ajax-response>\n";
/// let msgs = amiwire::ajam::decode_mxml(body, &Default::default())?;
/// assert_eq!(msgs[0].as_bytes(), b"Response: Success\r\nActionID: p1\r\nPing: Pong\r\n\r\n");
/// # Ok::<(), amiwire::ajam::BodyError>(())
/// ```
pub fn decode_mxml(body: &[u8], limits: &BodyLimits) -> Result<Vec<Message>, BodyError> {
    if body.len() > limits.max_body {
        return Err(BodyError::TooLarge {
            limit: limits.max_body,
        });
    }
    let text = String::from_utf8_lossy(body);
    let mut reader = Reader::from_str(&text);
    reader.config_mut().check_end_names = true;
    let mut msgs: Vec<Vec<(String, String)>> = Vec::new();
    // Names of the open elements (depth is bounded by the body's length; Asterisk nests 3).
    let mut stack: Vec<String> = Vec::new();
    let xml_err = |reader: &Reader<&[u8]>, reason: String| BodyError::Xml {
        position: reader.error_position(),
        reason,
    };
    loop {
        let ev = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                return Err(BodyError::Xml {
                    position: reader.error_position(),
                    reason: xml_reason(&e),
                })
            }
        };
        match ev {
            Event::Start(e) => {
                if in_response(&stack) {
                    push_message(&mut msgs, &e, limits, &reader)?;
                }
                if stack.len() >= 64 {
                    return Err(xml_err(&reader, "elements nested too deep".into()));
                }
                stack.push(e.name().as_ref().to_owned());
            }
            Event::Empty(e) if in_response(&stack) => {
                push_message(&mut msgs, &e, limits, &reader)?;
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(BodyError::Xml {
            position: reader.buffer_position(),
            reason: format!("{} element(s) left open", stack.len()),
        });
    }
    messages_from_pairs(&msgs, limits)
}

/// What is wrong, without the body's text: quick-xml's messages quote element names and
/// entities, which could be anything the server sent.
fn xml_reason(e: &quick_xml::Error) -> String {
    use quick_xml::Error as E;
    match e {
        // Fixed texts ("tag not closed: `>` not found before end of input"…).
        E::Syntax(s) => s.to_string(),
        // Positions only.
        E::InvalidAttr(a) => a.to_string(),
        E::IllFormed(_) => {
            "ill-formed document (a missing, unmatched or mismatched end tag)".into()
        }
        E::Escape(_) => "an unknown entity or a bad character reference".into(),
        E::Encoding(_) => "not UTF-8".into(),
        _ => "not the XML Asterisk writes".into(),
    }
}

fn in_response(stack: &[String]) -> bool {
    stack
        .last()
        .is_some_and(|n| n.eq_ignore_ascii_case("response"))
}

fn push_message(
    msgs: &mut Vec<Vec<(String, String)>>,
    e: &BytesStart<'_>,
    limits: &BodyLimits,
    reader: &Reader<&[u8]>,
) -> Result<(), BodyError> {
    if msgs.len() >= limits.max_messages {
        return Err(BodyError::TooManyMessages {
            limit: limits.max_messages,
        });
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for attr in e.attributes().with_checks(false) {
        let attr = attr.map_err(|err| BodyError::Xml {
            position: reader.buffer_position(),
            reason: err.to_string(),
        })?;
        if pairs.len() >= limits.decoder.max_headers {
            return Err(BodyError::Decode(crate::DecodeError::TooManyHeaders {
                limit: limits.decoder.max_headers,
            }));
        }
        let raw = attr.key.as_ref().to_owned();
        // Entities only: XML attribute-value normalisation would turn the line ends of
        // `opaque_data` into spaces.
        let value = lossy_unescape(&attr.value);
        let base = match raw.rsplit_once('-') {
            Some((b, n))
                if n.parse::<u32>().is_ok_and(|n| n >= 2)
                    && !n.starts_with('0')
                    && seen.iter().any(|s| s == b) =>
            {
                b.to_owned()
            }
            _ => raw,
        };
        if !seen.contains(&base) {
            seen.push(base.clone());
        }
        if base == "opaque_data" {
            pairs.push(("Output".to_owned(), value));
        } else {
            pairs.push((canonical(&base).to_owned(), value));
        }
    }
    msgs.push(pairs);
    Ok(())
}

/// Entity decoding that never fails: what is not a known entity stays as written.
fn lossy_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let (ch, used) = super::body::entity(rest);
        match ch {
            Some(c) => out.push(c),
            None => out.push_str(&rest[..used]),
        }
        rest = &rest[used..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_entities_and_canonical_case() {
        let body =
            "<ajax-response>\n<response type='object' id='unknown'><generic response='Success' \
message='Command output follows' output='a &lt;b&gt; &amp; &apos;c&apos;' output-2='line2' \
x-2='not a repeat' _1st='digit' /></response>\n</ajax-response>\n";
        let m = decode_mxml(body.as_bytes(), &BodyLimits::default()).unwrap();
        assert_eq!(m.len(), 1);
        let h: Vec<(String, String)> = m[0]
            .iter()
            .map(|h| (h.name_str().unwrap().into(), h.value_str().unwrap().into()))
            .collect();
        let want = [
            ("Response", "Success"),
            ("Message", "Command output follows"),
            ("Output", "a <b> & 'c'"),
            ("Output", "line2"),
            ("x-2", "not a repeat"),
            ("_1st", "digit"),
        ];
        assert_eq!(h.len(), want.len());
        for ((k, v), (wk, wv)) in h.iter().zip(want) {
            assert_eq!((k.as_str(), v.as_str()), (wk, wv));
        }
    }

    /// The names a screen pop reads (DialBegin, DialEnd, Hangup, OriginateResponse) get their
    /// TCP spelling back; others stay as Asterisk wrote them.
    #[test]
    fn screen_pop_names_are_spelled_as_on_tcp() {
        let body = "<ajax-response>\n<response type='object' id='unknown'><generic \
event='DialEnd' destchannel='PJSIP/902-00000001' destuniqueid='1.2' dialstatus='ANSWER' \
destcalleridnum='902' cause='16' reason='4' forward='' /></response>\n</ajax-response>\n";
        let m = decode_mxml(body.as_bytes(), &BodyLimits::default()).unwrap();
        let names: Vec<&str> = m[0].iter().map(|h| h.name_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "Event",
                "DestChannel",
                "DestUniqueid",
                "DialStatus",
                "DestCallerIDNum",
                "Cause",
                "Reason",
                "forward"
            ]
        );
    }

    #[test]
    fn malformed_xml_is_an_error() {
        let l = BodyLimits::default();
        assert!(decode_mxml(
            b"<ajax-response><response><generic a='1' /></ajax-response>",
            &l
        )
        .is_err());
        assert!(decode_mxml(b"<ajax-response><response><generic a='1", &l).is_err());
        assert!(decode_mxml(b"", &l).unwrap().is_empty());
    }
}
