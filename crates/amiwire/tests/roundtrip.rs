//! Encode-then-decode round trips: what the encoder writes, the decoder reads back exactly.
use amiwire::action::Originate;
use amiwire::{Action, Decoder, DecoderConfig, EncodeError, Frame, MessageKind};
use proptest::prelude::*;

fn decode_one(bytes: &[u8]) -> amiwire::Message {
    let mut dec = Decoder::with_config(DecoderConfig::without_banner());
    assert_eq!(dec.feed(bytes), bytes.len());
    let m = match dec.decode() {
        Ok(Some(Frame::Message(m))) => m.to_owned(),
        other => panic!("{other:?}"),
    };
    assert!(matches!(dec.decode(), Ok(None)));
    assert_eq!(dec.finish(), Ok(()));
    m
}

#[test]
fn originate_round_trip() {
    let action = Originate::to_exten("Local/100@test", "test", "100", 1)
        .asynchronous(true)
        .caller_id("\"Alice\" <100>")
        .variable("A", "1,2")
        .variable("B", "x=y")
        .build()
        .action_id("o1");
    let m = decode_one(&action.to_bytes().unwrap());
    assert_eq!(m.kind(), MessageKind::Action);
    assert_eq!(m.as_ref().action(), Some(&b"Originate"[..]));
    assert_eq!(m.as_ref().action_id(), Some(&b"o1"[..]));
    let vars: Vec<_> = m.as_ref().get_all("Variable").collect();
    assert_eq!(vars, [&b"A=1\\,2"[..], b"B=x=y"]);
}

fn key() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9_-]{0,20}".prop_filter("reserved", |k| {
        !k.eq_ignore_ascii_case("action") && !k.eq_ignore_ascii_case("actionid")
    })
}

fn value() -> impl Strategy<Value = String> {
    // Any text without control characters (but TAB), spaces at either end included.
    proptest::collection::vec(
        prop_oneof![
            Just('\t'),
            Just(' '),
            Just(':'),
            any::<char>().prop_filter("ctl", |c| !c.is_control())
        ],
        0..60,
    )
    .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #[test]
    fn any_valid_action_decodes_to_its_headers(
        name in "[A-Za-z][A-Za-z0-9]{0,15}",
        headers in proptest::collection::vec((key(), value()), 0..20),
    ) {
        let mut action = Action::new(&name);
        for (k, v) in &headers {
            action = action.header(k, v);
        }
        let bytes = action.to_bytes().unwrap();
        let m = decode_one(&bytes);
        prop_assert_eq!(m.as_bytes(), &bytes[..]);
        let decoded: Vec<(String, String)> = m
            .iter()
            .map(|h| (h.name_str().unwrap().to_owned(), h.value_str().unwrap().to_owned()))
            .collect();
        let mut expected = vec![("Action".to_owned(), name.clone())];
        expected.extend(headers.iter().cloned());
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn values_with_line_breaks_are_refused(k in key(), a in value(), b in value(), brk in prop_oneof![Just("\r"), Just("\n"), Just("\r\n")]) {
        let v = format!("{a}{brk}{b}");
        let error = Action::new("Ping").header(&k, &v).validate().unwrap_err();
        prop_assert!(
            matches!(&error, EncodeError::InvalidValue { key, .. } if *key == k),
            "{error:?}"
        );
    }
}
