//! Hand-written transcripts for what no server here produces: the old Command framing, legacy
//! lists, Asterisk's own malformed frames, non-UTF-8 values, limits; plus split invariance and
//! bounded memory under arbitrary input.
use amiwire::{DecodeError, Decoder, DecoderConfig, Frame, Message, MessageKind};
use proptest::prelude::*;

/// What one decode run saw: owned messages, banners and errors, in order.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Banner(Vec<u8>),
    Msg(Message),
    Err(DecodeError),
}

fn decode_with(cfg: DecoderConfig, chunks: &[&[u8]]) -> Vec<Seen> {
    let mut dec = Decoder::with_config(cfg.clone());
    let mut seen = Vec::new();
    for chunk in chunks {
        let mut chunk = *chunk;
        while !chunk.is_empty() {
            let n = dec.feed(chunk);
            chunk = &chunk[n..];
            assert!(dec.buffered() <= cfg.max_buffered.max(cfg.max_message_len + 1));
            loop {
                match dec.decode() {
                    Ok(None) => break,
                    Ok(Some(Frame::Banner(b))) => seen.push(Seen::Banner(b.to_vec())),
                    Ok(Some(Frame::Message(m))) => seen.push(Seen::Msg(m.to_owned())),
                    Err(e) => seen.push(Seen::Err(e)),
                }
            }
        }
    }
    if let Err(e) = dec.finish() {
        seen.push(Seen::Err(e));
    }
    seen
}

/// Decodes whole and one byte at a time; both must agree.
fn decode(cfg: DecoderConfig, wire: &[u8]) -> Vec<Seen> {
    let whole = decode_with(cfg.clone(), &[wire]);
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(whole, decode_with(cfg, &bytes), "split changed the result");
    whole
}

/// The messages of a run that must have seen nothing else.
fn only_messages(seen: Vec<Seen>) -> Vec<Message> {
    seen.into_iter()
        .map(|s| match s {
            Seen::Msg(m) => m,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn messages(wire: &[u8]) -> Vec<Message> {
    only_messages(decode(DecoderConfig::without_banner(), wire))
}

fn pairs(m: &Message) -> Vec<(String, String)> {
    m.iter()
        .map(|h| {
            (
                String::from_utf8_lossy(h.name()).into_owned(),
                String::from_utf8_lossy(h.value()).into_owned(),
            )
        })
        .collect()
}

fn lines(m: &Message) -> Vec<String> {
    m.as_ref()
        .command_output()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect()
}

fn kv(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn old_command_framing_with_blank_and_colon_lines() {
    let wire = b"Response: Follows\r\nPrivilege: Command\r\nActionID: c1\r\n\
Asterisk 13.38.3 built by root\nSystem uptime: 2 hours\n\nlast line\n--END COMMAND--\r\n\r\n\
Response: Success\r\nActionID: c2\r\n\r\n";
    let ms = messages(wire);
    assert_eq!(ms.len(), 2);
    assert_eq!(
        pairs(&ms[0]),
        kv(&[
            ("Response", "Follows"),
            ("Privilege", "Command"),
            ("ActionID", "c1")
        ])
    );
    assert_eq!(
        lines(&ms[0]),
        [
            "Asterisk 13.38.3 built by root",
            "System uptime: 2 hours",
            "",
            "last line"
        ]
    );
    assert_eq!(ms[0].as_ref().action_id(), Some(&b"c1"[..]));
    assert_eq!(ms[1].get_str("ActionID"), Some("c2"));
}

#[test]
fn old_command_framing_marker_glued_to_last_line() {
    let wire = b"Response: Follows\r\nPrivilege: Command\r\nNo such command 'foo'\nsee help--END COMMAND--\r\n\r\n";
    let ms = messages(wire);
    assert_eq!(lines(&ms[0]), ["No such command 'foo'", "see help"]);
}

#[test]
fn old_command_framing_empty_output() {
    let wire = b"Response: Follows\r\nPrivilege: Command\r\n--END COMMAND--\r\n\r\n";
    let ms = messages(wire);
    assert_eq!(ms.len(), 1);
    assert_eq!(lines(&ms[0]), Vec::<String>::new());
    assert_eq!(ms[0].as_ref().follows_body(), Some(&b""[..]));
}

/// Decodes `wire` whole, one byte at a time, and cut in two and in three at every pair of
/// points; every way must agree.
fn decode_any_split(cfg: DecoderConfig, wire: &[u8]) -> Vec<Seen> {
    let whole = decode(cfg.clone(), wire);
    for i in 0..=wire.len() {
        let two = decode_with(cfg.clone(), &[&wire[..i], &wire[i..]]);
        assert_eq!(whole, two, "cut at {i}");
        for j in (i..=wire.len()).step_by(7) {
            let three = decode_with(cfg.clone(), &[&wire[..i], &wire[i..j], &wire[j..]]);
            assert_eq!(whole, three, "cut at {i} and {j}");
        }
    }
    whole
}

fn messages_any_split(wire: &[u8]) -> Vec<Message> {
    only_messages(decode_any_split(DecoderConfig::without_banner(), wire))
}

/// The start of `core show settings` as Asterisk 13 prints it (main/asterisk.c,
/// handle_show_settings: `"\nPBX Core settings\n"`, `"-----------------\n"`, then
/// `"  Version:                     %s\n"`…, ending with `"\n\n"`).
const CORE_SHOW_SETTINGS: &[u8] = b"\nPBX Core settings\n-----------------\n\
\x20 Version:                     13.38.3\n\
\x20 Build Options:               BUILD_NATIVE, OPTIONAL_API\n\
\x20 Maximum calls:               Not set\n\
\x20 Maximum open file handles:   Unlimited\n\
\x20 Root console verbosity:      0\n\
\x20 Current console verbosity:   3\n\
\x20 Debug level:                 0\n\
\x20 Maximum load average:        0.000000\n\
\x20 Minimum free memory:         0 MB\n\
\x20 Startup time:                10:14:02\n\
\x20 Last reload time:            10:14:02\n\
\x20 System:                      Linux/4.19.0 built by root on x86_64 2021-03-03 10:12:20 UTC\n\
\n* Subsystems\n  -------------\n\
\x20 Manager (AMI):               Enabled\n\
\x20 Web Manager (AMI/HTTP):      Disabled\n\
\n* Directories\n  -------------\n\
\x20 Configuration file:          /etc/asterisk/asterisk.conf\n\
\x20 AGI Scripts directory:       /var/lib/asterisk/agi-bin\n\n\n";

/// `sip show settings` (channels/chan_sip.c, sip_show_settings: `"\n\nGlobal Settings:\n"`,
/// `"----------------\n"`, `"  UDP Bindaddress:        %s\n"`…).
const SIP_SHOW_SETTINGS: &[u8] = b"\n\nGlobal Settings:\n----------------\n\
\x20 UDP Bindaddress:        0.0.0.0:5060\n\
\x20 TCP SIP Bindaddress:    Disabled\n\
\x20 TLS SIP Bindaddress:    Disabled\n\
\x20 Videosupport:           No\n\
\x20 Allow unknown access:   Yes\n";

/// `manager show settings` (main/manager.c, handle_manager_show_settings:
/// `"\nGlobal Settings:\n"`, `"----------------\n"`, then `"  %-25.25s  %-15.55s\n"` lines).
const MANAGER_SHOW_SETTINGS: &[u8] = b"\nGlobal Settings:\n----------------\n\
\x20 Manager (AMI):             Yes            \n\
\x20 Web Manager (AMI/HTTP):    No             \n\
\x20 TCP Bindaddress:           0.0.0.0:5038   \n\
\x20 HTTP Timeout (seconds):    60             \n\
\x20 Channel vars:                             \n\
\x20 Debug:                     No             \n";

/// An Asterisk 13 Command answer: action_command's headers, the output, the marker.
fn follows_answer(action_id: Option<&str>, output: &[u8]) -> Vec<u8> {
    let mut w = b"Response: Follows\r\nPrivilege: Command\r\n".to_vec();
    if let Some(id) = action_id {
        w.extend_from_slice(format!("ActionID: {id}\r\n").as_bytes());
    }
    w.extend_from_slice(output);
    w.extend_from_slice(b"--END COMMAND--\r\n\r\n");
    w
}

fn text_lines(output: &[u8]) -> Vec<String> {
    let text = String::from_utf8(output.to_vec()).unwrap();
    let text = text.strip_suffix('\n').unwrap_or(&text);
    text.split('\n').map(str::to_owned).collect()
}

#[test]
fn old_command_output_starting_with_an_empty_line() {
    let next = b"Response: Success\r\nActionID: 2\r\nPing: Pong\r\n\r\n";
    for output in [CORE_SHOW_SETTINGS, SIP_SHOW_SETTINGS, MANAGER_SHOW_SETTINGS] {
        for id in [Some("1"), None] {
            let mut wire = follows_answer(id, output);
            wire.extend_from_slice(next);
            let ms = messages_any_split(&wire);
            assert_eq!(ms.len(), 2, "{ms:?}");
            let mut headers = vec![("Response", "Follows"), ("Privilege", "Command")];
            headers.extend(id.map(|id| ("ActionID", id)));
            assert_eq!(pairs(&ms[0]), kv(&headers));
            assert_eq!(ms[0].as_ref().follows_body(), Some(output));
            assert_eq!(lines(&ms[0]), text_lines(output));
            assert_eq!(lines(&ms[0])[0], "", "the leading empty line is kept");
            assert_eq!(ms[0].as_ref().action_id(), id.map(str::as_bytes));
            assert_eq!(ms[1].get_str("Ping"), Some("Pong"));
        }
    }
}

#[test]
fn old_command_core_show_settings_lines() {
    let ms = messages_any_split(&follows_answer(Some("1"), CORE_SHOW_SETTINGS));
    assert_eq!(ms.len(), 1);
    let l = lines(&ms[0]);
    assert_eq!(l[..3], ["", "PBX Core settings", "-----------------"]);
    assert_eq!(l[3], "  Version:                     13.38.3");
    assert_eq!(
        l[l.len() - 3..],
        [
            "  AGI Scripts directory:       /var/lib/asterisk/agi-bin",
            "",
            ""
        ]
    );
    assert_eq!(ms[0].as_ref().len(), 3, "no output line taken as a header");
}

#[test]
fn old_command_empty_first_line_and_marker_glued() {
    let ms = messages_any_split(&follows_answer(Some("x"), b"\nlast line"));
    assert_eq!(lines(&ms[0]), ["", "last line"]);
    let ms = messages_any_split(&follows_answer(None, b"\n"));
    assert_eq!(lines(&ms[0]), [""]);
    assert_eq!(ms[0].as_ref().follows_body(), Some(&b"\n"[..]));
}

#[test]
fn old_command_empty_output_as_a_blank_line_before_the_marker() {
    let wire =
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: 1\r\n\r\n--END COMMAND--\r\n\r\n\
Event: Next\r\n\r\n";
    let ms = messages_any_split(wire);
    assert_eq!(ms.len(), 2, "{ms:?}");
    assert_eq!(ms[0].as_ref().len(), 3);
    assert_eq!(ms[0].as_ref().follows_body(), Some(&b"\r\n"[..]));
    assert_eq!(lines(&ms[0]), [""], "one empty output line");
    assert_eq!(ms[1].get_str("Event"), Some("Next"));
    // The same without ActionID.
    let ms = messages_any_split(
        b"Response: Follows\r\nPrivilege: Command\r\n\r\n--END COMMAND--\r\n\r\n",
    );
    assert_eq!(ms.len(), 1);
    assert_eq!(lines(&ms[0]), [""]);
}

#[test]
fn follows_headers_then_crlf_blank_line_still_end_the_message() {
    let wire = b"Response: Follows\r\nPrivilege: Command\r\nActionID: 1\r\n\r\n\
Response: Success\r\nActionID: 2\r\n\r\n\
Response: Follows\r\nPrivilege: Command\r\n\r\n--END COMMANDO\r\n\r\n\
Response: Follows\r\n\r\n-\r\n\r\n";
    let ms = messages_any_split(wire);
    let summary: Vec<_> = ms.iter().map(pairs).collect();
    assert_eq!(
        summary,
        [
            kv(&[
                ("Response", "Follows"),
                ("Privilege", "Command"),
                ("ActionID", "1")
            ]),
            kv(&[("Response", "Success"), ("ActionID", "2")]),
            kv(&[("Response", "Follows"), ("Privilege", "Command")]),
            kv(&[("", "--END COMMANDO")]),
            kv(&[("Response", "Follows")]),
            kv(&[("", "-")]),
        ]
    );
    assert!(ms.iter().all(|m| m.as_ref().follows_body().is_none()));
}

#[test]
fn follows_with_lf_headers_ends_at_a_bare_lf() {
    // Headers with bare LF line ends are not manager.c's: their bare LF blank line is the end.
    let ms = messages_any_split(b"Response: Follows\nPrivilege: Command\n\nEvent: X\n\n");
    assert_eq!(ms.len(), 2);
    assert_eq!(ms[0].as_ref().len(), 2);
    assert!(ms[0].as_ref().follows_body().is_none());
    assert_eq!(ms[1].get_str("Event"), Some("X"));
}

#[test]
fn follows_stream_ending_at_a_crlf_blank_line_is_truncated() {
    // Whether the output starts there is only known from the next bytes.
    let seen = decode(
        DecoderConfig::without_banner(),
        b"Response: Follows\r\nPrivilege: Command\r\n\r\n--END",
    );
    assert_eq!(seen, [Seen::Err(DecodeError::Truncated { bytes: 46 })]);
}

#[test]
fn follows_blank_line_at_the_size_limit_waits_for_the_marker_in_a_full_buffer() {
    let mut cfg = DecoderConfig::without_banner();
    cfg.max_message_len = 64;
    cfg.max_buffered = 0;
    // Raised so that a message at the limit and a marker's first 15 bytes fit.
    assert_eq!(Decoder::with_config(cfg.clone()).config().max_buffered, 79);
    cfg.max_buffered = 79;
    let head = b"Response: Follows\r\nPrivilege: Command\r\nActionID: 0123456789a\r\n\r\n";
    assert_eq!(head.len(), 64);
    let mut wire = head.to_vec();
    wire.extend_from_slice(b"--END COMMAND--\r\n\r\nEvent: Next\r\n\r\n");
    let seen = decode_any_split(cfg, &wire);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[0],
        Seen::Err(DecodeError::MessageTooLarge { limit: 64 })
    );
    match &seen[1] {
        Seen::Msg(m) => assert_eq!(m.get_str("Event"), Some("Next")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn new_command_framing_output_headers_keep_indentation() {
    let wire = b"Response: Success\r\nActionID: c3\r\nMessage: Command output follows\r\n\
Output: Channel   Location\r\nOutput:   indented\r\nOutput: \r\n\r\n\
Response: Error\r\nMessage: Command output follows\r\nOutput: No such command 'x'\r\n\r\n";
    let ms = messages(wire);
    assert_eq!(lines(&ms[0]), ["Channel   Location", "  indented", ""]);
    assert_eq!(lines(&ms[1]), ["No such command 'x'"]);
    assert_eq!(ms[1].as_ref().response(), Some(&b"Error"[..]));
}

#[test]
fn legacy_list_without_eventlist_header() {
    // Asterisk 11: Status answers, items, and StatusComplete without EventList.
    let wire = b"Response: Success\r\nActionID: s\r\nMessage: Channel status will follow\r\n\r\n\
Event: Status\r\nPrivilege: Call\r\nChannel: SIP/1-1\r\nActionID: s\r\n\r\n\
Event: StatusComplete\r\nActionID: s\r\nItems: 1\r\n\r\n";
    let ms = messages(wire);
    assert_eq!(ms.len(), 3);
    assert!(ms.iter().all(|m| m.as_ref().event_list().is_none()));
    assert!(ms[2].as_ref().is_event("statuscomplete"));
}

#[test]
fn malformed_frames_asterisk_sends() {
    // `\r\n\n` ending (CoreShowChannelMap before its fix), extra blank lines, a bare LF at the
    // end of a Message value, and a bare LF inside one.
    let wire = b"\r\n\r\nEvent: CoreShowChannelMapComplete\r\nActionID: m\r\n\n\
\r\nResponse: Error\r\nMessage: Invalid\n\r\n\r\n\
Response: Error\r\nMessage: first\nsecond part\r\n\r\n";
    let ms = messages(wire);
    assert_eq!(ms.len(), 3);
    assert_eq!(
        pairs(&ms[0]),
        kv(&[("Event", "CoreShowChannelMapComplete"), ("ActionID", "m")])
    );
    assert_eq!(
        pairs(&ms[1]),
        kv(&[("Response", "Error"), ("Message", "Invalid")])
    );
    let h: Vec<_> = ms[2].iter().collect();
    assert_eq!(h.len(), 3);
    assert!(!h[2].has_colon());
    assert_eq!(h[2].value(), b"second part");
    assert_eq!(h[2].name(), b"");
}

#[test]
fn sloppy_keys_and_values() {
    let wire = b"Event: X\r\nKey:value\r\nEmpty:\r\nEmpty2: \r\nTwo:  spaces\r\nno colon here\r\n:orphan\r\n\r\n";
    let ms = messages(wire);
    let m = ms[0].as_ref();
    assert_eq!(m.get("key"), Some(&b"value"[..]));
    assert_eq!(m.get("EMPTY"), Some(&b""[..]));
    assert_eq!(m.get("Empty2"), Some(&b""[..]));
    assert_eq!(m.get("Two"), Some(&b" spaces"[..]));
    assert_eq!(
        m.get(""),
        Some(&b"orphan"[..]),
        "a line starting with a colon has an empty key"
    );
    assert_eq!(m.len(), 7);
    assert!(!m.header(5).unwrap().has_colon());
}

#[test]
fn bare_lf_everywhere() {
    let ms = messages(b"Response: Success\nActionID: 1\n\nEvent: E\nA: b\n\n");
    assert_eq!(ms.len(), 2);
    assert_eq!(ms[1].get_str("A"), Some("b"));
}

#[test]
fn non_utf8_values_are_kept_as_bytes() {
    let ms = messages(b"Event: VarSet\r\nValue: caf\xe9 \xff\xfe\r\n\r\n");
    let m = ms[0].as_ref();
    assert_eq!(m.get("Value"), Some(&b"caf\xe9 \xff\xfe"[..]));
    assert_eq!(m.get_str("Value"), None);
    assert_eq!(m.get_str("Event"), Some("VarSet"));
}

#[test]
fn keys_case_insensitive_first_wins_duplicates_kept() {
    let ms = messages(
        b"Event: Status\r\nVariable: a=1\r\nvariable: b=2\r\nUniqueID: 1\r\nUniqueid: 2\r\n\r\n",
    );
    let m = ms[0].as_ref();
    assert_eq!(m.get("UNIQUEID"), Some(&b"1"[..]));
    let all: Vec<_> = m.get_all("Variable").collect();
    assert_eq!(all, [&b"a=1"[..], b"b=2"]);
    // Keys keep their case.
    assert_eq!(m.header(2).unwrap().name(), b"variable");
}

#[test]
fn kinds_are_known_event_first() {
    let ms = messages(
        b"Event: OriginateResponse\r\nPrivilege: call,all\r\nActionID: o1\r\nResponse: Success\r\n\r\n\
Response: Success\r\nEventList: start\r\n\r\nAction: Ping\r\n\r\nFoo: bar\r\n\r\nActionID: x\r\nAction: Login\r\n\r\n",
    );
    let kinds: Vec<_> = ms.iter().map(|m| m.kind()).collect();
    assert_eq!(
        kinds,
        [
            MessageKind::Event,
            MessageKind::Response,
            MessageKind::Action,
            MessageKind::Other,
            MessageKind::Action
        ]
    );
    assert_eq!(ms[0].as_ref().response(), Some(&b"Success"[..]));
    assert_eq!(ms[0].as_ref().action_id(), Some(&b"o1"[..]));
    assert_eq!(ms[1].as_ref().event_list(), Some(&b"start"[..]));
    assert_eq!(ms[4].as_ref().action(), Some(&b"Login"[..]));
}

#[test]
fn chan_variables_both_formats() {
    let ms = messages(
        b"Event: OriginateResponse\r\nChanVariable(Local/210@test-0000072b;1): FOO=bar=baz\r\n\
DestChanVariable: X=1\r\nChanVariable: Y=\r\nNotAVariable: Z=2\r\n\r\n",
    );
    let vars: Vec<_> = ms[0].as_ref().chan_variables().collect();
    assert_eq!(vars.len(), 3);
    assert_eq!(vars[0].channel, Some(&b"Local/210@test-0000072b;1"[..]));
    assert_eq!(
        (vars[0].name, vars[0].value),
        (&b"FOO"[..], &b"bar=baz"[..])
    );
    assert_eq!(vars[1].prefix, b"Dest");
    assert_eq!(vars[1].channel, None);
    assert_eq!((vars[2].name, vars[2].value), (&b"Y"[..], &b""[..]));
}

#[test]
fn banner_then_messages_and_no_banner_when_first_line_has_colon() {
    let seen = decode(
        DecoderConfig::default(),
        b"Asterisk Call Manager Proxy/2.0\r\nResponse: Success\r\n\r\n",
    );
    assert_eq!(
        seen[0],
        Seen::Banner(b"Asterisk Call Manager Proxy/2.0".to_vec())
    );
    assert!(matches!(seen[1], Seen::Msg(_)));
    let seen = decode(DecoderConfig::default(), b"Response: Success\r\n\r\n");
    assert_eq!(seen.len(), 1);
    assert!(matches!(seen[0], Seen::Msg(_)));
}

#[test]
fn first_line_is_a_header_when_no_banner_comes() {
    let wire = b"Event: HangupRequest\r\nChannel: PJSIP/201-00000001\r\nCause: 16\r\n\r\n";
    for cfg in [DecoderConfig::default(), DecoderConfig::without_banner()] {
        let seen = decode_any_split(cfg, wire);
        assert_eq!(seen.len(), 1, "{seen:?}");
        let Seen::Msg(m) = &seen[0] else {
            panic!("{seen:?}")
        };
        assert_eq!(
            pairs(m),
            kv(&[
                ("Event", "HangupRequest"),
                ("Channel", "PJSIP/201-00000001"),
                ("Cause", "16")
            ])
        );
        assert_eq!(m.kind(), MessageKind::Event);
        assert!(m.as_ref().is_event("HangupRequest"));
    }
}

#[test]
fn first_line_response_follows_without_banner() {
    let mut wire = follows_answer(Some("1"), b"\nGlobal Settings:\n");
    wire.extend_from_slice(b"Event: Next\r\n\r\n");
    for cfg in [DecoderConfig::default(), DecoderConfig::without_banner()] {
        let seen = decode_any_split(cfg, &wire);
        assert_eq!(seen.len(), 2, "{seen:?}");
        let Seen::Msg(m) = &seen[0] else {
            panic!("{seen:?}")
        };
        assert_eq!(m.as_ref().response(), Some(&b"Follows"[..]));
        assert_eq!(lines(m), ["", "Global Settings:"]);
    }
}

fn small() -> DecoderConfig {
    let mut cfg = DecoderConfig::without_banner();
    cfg.max_line_len = 16;
    cfg.max_headers = 3;
    cfg.max_message_len = 64;
    cfg.max_buffered = 80;
    cfg
}

#[test]
fn line_too_long_drops_that_message_only() {
    let wire = b"Event: A\r\nLong: 0123456789abcdef\r\nMore: x\r\n\r\nEvent: B\r\n\r\n";
    let seen = decode(small(), wire);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0], Seen::Err(DecodeError::LineTooLong { limit: 16 }));
    match &seen[1] {
        Seen::Msg(m) => assert_eq!(m.get_str("Event"), Some("B")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn too_many_headers_and_message_too_large() {
    let wire = b"Event: A\r\nB: 1\r\nC: 2\r\nD: 3\r\n\r\nEvent: B\r\n\r\n\
Event: C\r\nA: 0123456789\r\nB: 0123456789\r\nC: 0123456789\r\n\r\nEvent: D\r\n\r\n";
    let seen = decode(small(), wire);
    let summary: Vec<String> = seen
        .iter()
        .map(|s| match s {
            Seen::Msg(m) => m.get_str("Event").unwrap().to_owned(),
            Seen::Err(e) => format!("{e:?}"),
            Seen::Banner(_) => "banner".into(),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "TooManyHeaders { limit: 3 }",
            "B",
            "TooManyHeaders { limit: 3 }",
            "D"
        ]
    );
}

#[test]
fn oversized_old_command_output_is_skipped_to_its_marker() {
    let mut cfg = small();
    cfg.max_line_len = 64;
    let wire = b"Response: Follows\r\nPrivilege: Command\r\n\
aaaaaaaaaaaaaaaaaaaa\n\nbbbbbbbbbbbbbbbbbbbbbbbb\n\ncccccccccccccccccccc\n--END COMMAND--\r\n\r\nEvent: Next\r\n\r\n";
    let seen = decode(cfg, wire);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[0],
        Seen::Err(DecodeError::MessageTooLarge { limit: 64 })
    );
    match &seen[1] {
        Seen::Msg(m) => assert_eq!(m.get_str("Event"), Some("Next")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn endless_line_keeps_memory_bounded() {
    let cfg = small();
    let mut dec = Decoder::with_config(cfg.clone());
    let junk = [b'x'; 1000];
    let mut errors = 0;
    for _ in 0..100 {
        let mut rest = &junk[..];
        while !rest.is_empty() {
            let n = dec.feed(rest);
            rest = &rest[n..];
            assert!(dec.buffered() <= cfg.max_buffered);
            while let Some(r) = dec.decode().transpose() {
                assert!(r.is_err());
                errors += 1;
            }
        }
    }
    assert_eq!(errors, 1, "one error for the whole endless line");
    // The stream recovers at the next blank line.
    let tail = b"\r\n\r\nEvent: Ok\r\n\r\n";
    assert_eq!(dec.feed(tail), tail.len());
    match dec.decode() {
        Ok(Some(Frame::Message(m))) => assert_eq!(m.get_str("Event"), Some("Ok")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn feed_takes_no_more_than_the_buffer_limit() {
    let cfg = small();
    let mut dec = Decoder::with_config(cfg.clone());
    let input = b"Event: A\r\n\r\n".repeat(20);
    let n = dec.feed(&input);
    assert_eq!(n, cfg.max_buffered);
    assert_eq!(dec.feed(&input[n..]), 0);
    assert!(matches!(dec.decode(), Ok(Some(Frame::Message(_)))));
}

#[test]
fn finish_reports_a_cut_message() {
    let mut dec = Decoder::new();
    let _ = dec.feed(b"Asterisk Call Manager/11.0.0\r\nEvent: Cut\r\nFoo: b");
    assert!(matches!(dec.decode(), Ok(Some(Frame::Banner(_)))));
    assert!(dec.decode().unwrap().is_none());
    assert_eq!(dec.finish(), Err(DecodeError::Truncated { bytes: 18 }));
    // Stray line ends at the end are no cut message.
    let mut dec = Decoder::with_config(DecoderConfig::without_banner());
    let _ = dec.feed(b"Event: A\r\n\r\n\r\n");
    assert!(dec.decode().unwrap().is_some());
    assert!(dec.decode().unwrap().is_none());
    assert_eq!(dec.finish(), Ok(()));
}

fn shape(seen: &[Seen]) -> Vec<String> {
    // Error kinds may differ with the split (a line that is both too long and makes its
    // message too large); messages and the number of errors may not.
    seen.iter()
        .map(|s| match s {
            Seen::Err(DecodeError::Truncated { .. }) => "truncated".to_owned(),
            Seen::Err(_) => "error".to_owned(),
            other => format!("{other:?}"),
        })
        .collect()
}

fn ami_like() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"Event: X\r\n".to_vec()),
        Just(b"Response: Follows\r\n".to_vec()),
        Just(b"Privilege: Command\r\n".to_vec()),
        Just(b"--END COMMAND--".to_vec()),
        Just(b"Key: value\r\n".to_vec()),
        Just(b"ActionID: 1\r\n".to_vec()),
        Just(b"Response: Follows\r\nPrivilege: Command\r\n\n".to_vec()),
        Just(b"Response: Follows\r\nPrivilege: Command\r\nActionID: 1\r\n\r\n".to_vec()),
        Just(b"\r\n--END COMMAND--\r\n\r\n".to_vec()),
        Just(b"--END COMMAND-".to_vec()),
        Just(b"Asterisk Call Manager/11.0.0\r\n".to_vec()),
        Just(b":".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    proptest::collection::vec(piece, 0..30).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn any_split_gives_the_same_frames(
        wire in ami_like(),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
        tight in any::<bool>(),
    ) {
        let cfg = if tight { small() } else { DecoderConfig::default() };
        let whole = decode_with(cfg.clone(), &[&wire]);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        cuts.sort_unstable();
        let mut parts = Vec::new();
        let mut prev = 0;
        for c in cuts { parts.push(&wire[prev..c]); prev = c; }
        parts.push(&wire[prev..]);
        let split = decode_with(cfg.clone(), &parts);
        prop_assert_eq!(shape(&whole), shape(&split));
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        prop_assert_eq!(shape(&whole), shape(&decode_with(cfg, &bytes)));
    }

    #[test]
    fn messages_respect_the_limits(wire in ami_like()) {
        let cfg = small();
        // A message first, so that every case checks at least one (the loop cannot be empty).
        let wire = [&b"Event: A\r\nK: v\r\n\r\n"[..], &wire].concat();
        let mut checked = 0;
        for s in decode_with(cfg.clone(), &[&wire]) {
            if let Seen::Msg(m) = s {
                checked += 1;
                prop_assert!(m.as_bytes().len() <= cfg.max_message_len);
                prop_assert!(m.iter().count() <= cfg.max_headers);
                for h in m.iter() {
                    prop_assert!(h.name().len() + h.value().len() <= cfg.max_line_len + 2);
                }
            }
        }
        prop_assert!(checked >= 1);
    }
}

#[test]
fn regression_follows_line_too_long_then_cr_line() {
    let wire = b"Response: Follows\r\n\r\r\nEvent: X\r\n";
    let whole = decode_with(small(), &[wire]);
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(shape(&whole), shape(&decode_with(small(), &bytes)));
}
