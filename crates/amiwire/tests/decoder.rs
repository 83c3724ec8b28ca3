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

fn messages(wire: &[u8]) -> Vec<Message> {
    decode(DecoderConfig::without_banner(), wire)
        .into_iter()
        .map(|s| match s {
            Seen::Msg(m) => m,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
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
