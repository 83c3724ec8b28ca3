//! AMI over HTTP against the recordings of a real Asterisk 22 (11a /rawman, 11b /mxml, 11d
//! Digest on /arawman, /amxml, /amanager): requests rebuilt byte for byte, bodies decoded,
//! the cookie session followed, the recorded Digest answers recomputed.

use std::time::{Duration, Instant};

use amiwire::ajam::digest::{Challenge, ChallengeOutcome, DigestClient};
use amiwire::ajam::url::parse_form;
use amiwire::ajam::{
    build_request, decode_body, encode_form, is_session_expired, split_wait_event, BodyLimits,
    CookieSession, Endpoint, Flavour, HttpMethod,
};
use amiwire::{Action, Message, Secret};

const RAWMAN_C: &[u8] = include_bytes!("data/11a-http-rawman.client.bin");
const RAWMAN_S: &[u8] = include_bytes!("data/11a-http-rawman.server.bin");
const MXML_C: &[u8] = include_bytes!("data/11b-http-mxml.client.bin");
const MXML_S: &[u8] = include_bytes!("data/11b-http-mxml.server.bin");
const DIGEST_C: &[u8] = include_bytes!("data/11d-http-arawman-digest.client.bin");
const DIGEST_S: &[u8] = include_bytes!("data/11d-http-arawman-digest.server.bin");

/// One recorded HTTP message: start line, headers, body.
#[derive(Debug)]
struct Http {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Http {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn status(&self) -> u16 {
        self.start.split(' ').nth(1).unwrap().parse().unwrap()
    }

    fn target(&self) -> &str {
        self.start.split(' ').nth(1).unwrap()
    }

    fn header_pairs(&self) -> Vec<(&str, &[u8])> {
        self.headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect()
    }
}

/// Splits a recorded stream of HTTP/1.1 messages (each with Content-Length, or none).
fn split_http(mut s: &[u8]) -> Vec<Http> {
    let mut out = Vec::new();
    while !s.is_empty() {
        let end = s.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = std::str::from_utf8(&s[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap().to_owned();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap();
                (k.to_owned(), v.trim().to_owned())
            })
            .collect();
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
            .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
        let body = s[end + 4..end + 4 + len].to_vec();
        s = &s[end + 4 + len..];
        out.push(Http {
            start,
            headers,
            body,
        });
    }
    out
}

/// The action a recorded request carries (names and order as sent).
fn action_of(req: &Http) -> (Action, String) {
    let form = match req.target().split_once('?') {
        Some((_, q)) => q.to_owned(),
        None => String::from_utf8(req.body.clone()).unwrap(),
    };
    let pairs = parse_form(&form);
    assert!(pairs[0].0.eq_ignore_ascii_case("action"));
    let mut a = Action::new(&pairs[0].1);
    for (k, v) in &pairs[1..] {
        a = a.header(k, v);
    }
    (a, form)
}

/// ActionID moved to the second place, where [`Action`] always puts it.
fn with_action_id_second(form: &str) -> String {
    let mut parts: Vec<&str> = form.split('&').collect();
    if let Some(i) = parts.iter().position(|p| p.starts_with("ActionID=")) {
        let id = parts.remove(i);
        parts.insert(1, id);
    }
    parts.join("&")
}

#[test]
fn every_recorded_request_is_rebuilt_byte_for_byte() {
    let mut checked = 0;
    let mut moved = 0;
    for (stream, path) in [
        (RAWMAN_C, "/rawman"),
        (MXML_C, "/mxml"),
        (DIGEST_C, "/arawman"),
    ] {
        for req in split_http(stream) {
            let method = if req.start.starts_with("POST") {
                HttpMethod::Post
            } else {
                HttpMethod::Get
            };
            let ep = Endpoint::parse(req.target().split('?').next().unwrap()).unwrap();
            assert!(ep.path() == path || path == "/arawman", "{}", ep.path());
            let (action, form) = action_of(&req);
            let built = build_request(&ep, &action, method, req.header("Host").unwrap()).unwrap();
            let encoded = encode_form(&action).unwrap();
            // The recorder wrote `…&Timeout=5&ActionID=http-we`: Action always puts the
            // ActionID second; everything else is byte-identical.
            let want = with_action_id_second(&form);
            if want != form {
                moved += 1;
            }
            assert_eq!(encoded, want);
            let mut head = Vec::new();
            built.write_head(&mut head);
            let head = String::from_utf8(head).unwrap();
            let recorded_line = if want == form {
                req.start.clone()
            } else {
                req.start.replace(&form, &want)
            };
            assert_eq!(head.lines().next().unwrap(), recorded_line);
            assert_eq!(built.header("Host"), req.header("Host"));
            if method == HttpMethod::Post {
                assert_eq!(built.body, req.body);
                assert_eq!(built.header("Content-Type"), req.header("Content-Type"));
                assert_eq!(built.header("Content-Length"), req.header("Content-Length"));
            }
            checked += 1;
        }
    }
    // 10 + 10 requests of 11a/11b, 11 of 11d; 2 WaitEvents recorded with ActionID last.
    assert_eq!(checked, 31);
    assert_eq!(moved, 2);
}

#[test]
fn cookie_session_follows_the_recorded_exchange() {
    for (c, s) in [(RAWMAN_C, RAWMAN_S), (MXML_C, MXML_S)] {
        let reqs = split_http(c);
        let resps = split_http(s);
        assert_eq!(reqs.len(), resps.len());
        let t0 = Instant::now();
        let mut session = CookieSession::new();
        for (i, (req, resp)) in reqs.iter().zip(&resps).enumerate() {
            let now = t0 + Duration::from_millis(i as u64);
            // Requests 1..=8 carry the cookie of the first answer; the last Login (wrong
            // password) was sent without cookie by the recorder.
            if (1..9).contains(&i) {
                assert_eq!(session.cookie_header().as_deref(), req.header("Cookie"));
            }
            session.on_response(&resp.header_pairs(), now);
            if i == 0 {
                assert_eq!(session.expires_at(), Some(now + Duration::from_secs(5)));
                session.set_logged_in(true, now);
            }
            // After the Logoff, the old cookie and then no cookie each got a new session (a
            // new id): not logged in, 5 s.
            let life = if i >= 8 { 5 } else { 60 };
            assert_eq!(
                session.expires_at(),
                Some(now + Duration::from_secs(life)),
                "{i}"
            );
            assert_eq!(session.is_logged_in(), i < 8);
        }
    }
}

fn bodies(s: &[u8], flavour: Flavour) -> Vec<Vec<Message>> {
    split_http(s)
        .iter()
        .map(|r| decode_body(flavour, &r.body, &BodyLimits::default()).unwrap())
        .collect()
}

/// Header names and values, with the values that differ between two runs blanked.
fn normalised(m: &Message) -> Vec<(String, String)> {
    m.iter()
        .map(|h| {
            let k = h.name_str().unwrap().to_ascii_lowercase();
            let v = h.value_str().unwrap();
            let volatile = [
                "timestamp",
                "eventtv",
                "sessiontv",
                "sessionid",
                "remoteaddress",
                "channel",
                "uniqueid",
                "linkedid",
                "destchannel",
                "destuniqueid",
                "destlinkedid",
                "bridgeuniqueid",
                "bridgecreator",
                "bridgename",
                "localoneuniqueid",
                "localtwouniqueid",
                "localonelinkedid",
                "localtwolinkedid",
                "localonechannel",
                "localtwochannel",
                "uptime",
                "lastreload",
                "duration",
                "billableseconds",
                "starttime",
                "answertime",
                "endtime",
                "dialstring",
                "appdata",
                "value",
                "extra",
                "linkedid",
            ];
            let v = if volatile.contains(&k.as_str()) {
                String::new()
            } else {
                v.to_owned()
            };
            (k, v)
        })
        .collect()
}

#[test]
fn rawman_bodies_decode_into_the_messages_asterisk_sent() {
    let b = bodies(RAWMAN_S, Flavour::Rawman);
    assert_eq!(b.len(), 10);
    assert_eq!(b[0][0].get_str("Message"), Some("Authentication accepted"));
    assert_eq!(b[1][0].get_str("ActionID"), Some("http-ping-1"));
    assert_eq!(b[1][0].get_str("Ping"), Some("Pong"));
    // CoreShowChannels: the response and its list's terminator.
    assert_eq!(b[2].len(), 2);
    assert_eq!(b[2][1].get_str("Event"), Some("CoreShowChannelsComplete"));
    assert_eq!(b[2][1].get_str("EventList"), Some("Complete"));
    assert!(b[3][0]
        .get_str("Output")
        .unwrap()
        .starts_with("Asterisk 22.10.1 built by root"));
    // WaitEvent: ack, events, WaitEventComplete.
    let ev = split_wait_event(b[4].clone()).unwrap();
    assert_eq!(ev.len(), b[4].len() - 2);
    assert!(ev.iter().all(|e| e.get_str("Event").is_some()));
    assert!(ev
        .iter()
        .all(|e| e.get_str("Event") != Some("WaitEventComplete")));
    assert_eq!(b[4][0].get_str("ActionID"), Some("http-we"));
    assert_eq!(b[4].last().unwrap().get_str("ActionID"), Some("http-we"));
    let ev2 = split_wait_event(b[5].clone()).unwrap();
    assert!(ev2.iter().any(|e| e.get_str("Event") == Some("Newchannel")));
    assert_eq!(b[6][0].get_str("Value"), Some("initial"));
    assert_eq!(b[7][0].get_str("Response"), Some("Goodbye"));
    // After Logoff, the old cookie: a new unauthenticated session.
    assert!(is_session_expired(&b[8][0].as_ref()));
    assert!(!is_session_expired(&b[9][0].as_ref()));
    assert_eq!(b[9][0].get_str("Message"), Some("Authentication failed"));
    // Every message is byte-identical to the body it came from.
    for (resp, msgs) in split_http(RAWMAN_S).iter().zip(&b) {
        let mut wire = Vec::new();
        amiwire::ajam::encode_messages(msgs, &mut wire);
        assert_eq!(wire, resp.body);
    }
}

#[test]
fn mxml_bodies_decode_into_the_same_messages_as_rawman() {
    let raw = bodies(RAWMAN_S, Flavour::Rawman);
    let xml = bodies(MXML_S, Flavour::Mxml);
    assert_eq!(raw.len(), xml.len());
    // The same answers, byte for byte, but for the timestamp (names get their TCP spelling).
    for i in [0, 1, 2, 3, 6, 7, 8, 9] {
        assert_eq!(raw[i].len(), xml[i].len(), "answer {i}");
        for (r, x) in raw[i].iter().zip(&xml[i]) {
            let strip = |m: &Message| {
                String::from_utf8(m.as_bytes().to_vec())
                    .unwrap()
                    .lines()
                    .filter(|l| !l.starts_with("Timestamp: "))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            assert_eq!(strip(r), strip(x), "answer {i}");
        }
    }
    // The WaitEvent answers: the same events (names compared without case: xml_translate
    // lower-cased them), but for what differs between the two runs.
    let ev_raw = split_wait_event(raw[5].clone()).unwrap();
    let ev_xml = split_wait_event(xml[5].clone()).unwrap();
    let names = |ev: &[Message]| -> Vec<String> {
        ev.iter()
            .map(|e| e.get_str("Event").unwrap().to_owned())
            .collect()
    };
    // The two runs raced differently: the same events, not in the same order.
    let sorted = |ev: &[Message]| {
        let mut v: Vec<Vec<(String, String)>> = ev.iter().map(normalised).collect();
        v.sort();
        v
    };
    let (mut a, mut b) = (names(&ev_raw), names(&ev_xml));
    a.sort();
    b.sort();
    assert_eq!(a, b);
    let header_names = |v: Vec<Vec<(String, String)>>| -> Vec<Vec<String>> {
        v.into_iter()
            .map(|m| m.into_iter().map(|(k, _)| k).collect())
            .collect()
    };
    let (mut ha, mut hb) = (header_names(sorted(&ev_raw)), header_names(sorted(&ev_xml)));
    ha.sort();
    hb.sort();
    assert_eq!(ha, hb);
    // Entities decoded: `<unknown>` caller ids.
    assert!(ev_xml
        .iter()
        .any(|e| e.get_str("CallerIDNum") == Some("<unknown>")));
}

#[test]
fn amxml_and_amanager_bodies() {
    let resps = split_http(DIGEST_S);
    let ok: Vec<&Http> = resps.iter().filter(|r| r.status() == 200).collect();
    let xml = ok
        .iter()
        .find(|r| r.header("Content-type") == Some("text/xml"))
        .unwrap();
    let html = ok
        .iter()
        .find(|r| r.header("Content-type") == Some("text/html"))
        .unwrap();
    let l = BodyLimits::default();
    let m = decode_body(Flavour::Mxml, &xml.body, &l).unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].get_str("Ping"), Some("Pong"));
    let h = decode_body(Flavour::Manager, &html.body, &l).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(
        h[0].as_bytes(),
        b"Response: Success\r\nPing: Pong\r\nTimestamp: 1795453724.465427\r\n\r\n"
    );
}

fn param<'a>(auth: &'a str, key: &str) -> &'a str {
    let at = auth.find(&format!("{key}=")).unwrap() + key.len() + 1;
    let rest = &auth[at..];
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    let end = rest.find(['"', ',']).unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn digest_answers_are_recomputed_exactly() {
    let reqs = split_http(DIGEST_C);
    let resps = split_http(DIGEST_S);
    assert_eq!(reqs.len(), resps.len());
    let mut client = DigestClient::new("admin", Secret::new("amp111"));
    let mut exact = 0;
    let mut failed = 0;
    for (req, resp) in reqs.iter().zip(&resps) {
        match req.header("Authorization") {
            None => {}
            Some(recorded) => {
                let cnonce = param(recorded, "cnonce");
                let ours = client
                    .authorization(HttpMethod::Get, req.target(), cnonce)
                    .unwrap();
                if param(recorded, "response") == param(&ours, "response") {
                    assert_eq!(ours, recorded);
                    exact += 1;
                } else {
                    // The recorder's wrong-secret request: everything but the answer agrees.
                    assert_eq!(param(recorded, "nc"), "00000006");
                    let without = |a: &str| a.replace(param(a, "response"), "");
                    assert_eq!(without(&ours), without(recorded));
                }
            }
        }
        if resp.status() == 401 {
            let ch = Challenge::parse(resp.header("WWW-authenticate").unwrap()).unwrap();
            assert!(!ch.stale);
            assert_eq!(ch.realm, "asterisk");
            if client.on_challenge(ch) == ChallengeOutcome::Failed {
                failed += 1;
            }
        } else {
            assert_eq!(resp.status(), 200);
            client.on_success();
        }
    }
    // 5 on /arawman (nc 1..5), 1 on /amxml, 1 on /amanager; the wrong secret is refused once.
    assert_eq!(exact, 7);
    assert_eq!(failed, 1);
}

mod properties {
    use super::*;
    use amiwire::ajam::cookie::SetCookie;
    use amiwire::ajam::digest::parse_params;
    use amiwire::ajam::url::{encode_component, url_decode_strict};
    use proptest::prelude::*;

    fn header_name() -> impl Strategy<Value = String> {
        "[A-Za-z][A-Za-z0-9_-]{0,15}".prop_filter("not ActionID or Action", |k| {
            !k.eq_ignore_ascii_case("ActionID") && !k.eq_ignore_ascii_case("Action")
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// encode → Asterisk's decoding (split at `&` and `=`, `+` and `%XX`) gives back the
        /// action's headers exactly, whatever the values hold.
        #[test]
        fn form_round_trip(
            name in "[A-Za-z]{1,12}",
            headers in proptest::collection::vec((header_name(), "[^\r\n\u{0}-\u{1f}\u{7f}]{0,40}"), 0..8),
        ) {
            let mut a = Action::new(&name);
            for (k, v) in &headers {
                a = a.header(k, v);
            }
            prop_assume!(a.validate().is_ok());
            let form = encode_form(&a).unwrap();
            prop_assert!(form.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+%&=".contains(&b)));
            let pairs = parse_form(&form);
            let want: Vec<(String, String)> = a.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
            prop_assert_eq!(pairs.len(), want.len());
            prop_assert_eq!(&pairs[0], &("action".to_owned(), name.clone()));
            prop_assert_eq!(&pairs[1..], &want[1..]);
        }

        #[test]
        fn component_round_trip(s in any::<String>()) {
            let mut e = String::new();
            encode_component(&s, &mut e);
            prop_assert_eq!(url_decode_strict(&e), Some(s));
        }

        /// Values with CR or LF never reach the wire, over HTTP as over TCP.
        #[test]
        fn no_injection(v in "[a-z]{0,5}[\r\n][a-z]{0,5}") {
            let a = Action::new("Originate").header("Channel", &v);
            prop_assert!(encode_form(&a).is_err());
        }

        #[test]
        fn bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let l = BodyLimits::default();
            for f in [Flavour::Rawman, Flavour::Mxml, Flavour::Manager] {
                let _ = decode_body(f, &body, &l);
            }
        }

        #[test]
        fn xml_like_bodies_never_panic(body in "(<|>|'|\"|=|&|;|/| |[a-z]|response|generic|ajax-response|&lt;|&#x41;|-2){0,120}") {
            let l = BodyLimits::default();
            let _ = decode_body(Flavour::Mxml, body.as_bytes(), &l);
            let _ = decode_body(Flavour::Manager, body.as_bytes(), &l);
        }

        #[test]
        fn headers_never_panic(v in any::<String>(), w in "(Digest|digest| |,|=|\"|\\\\|[a-z]|nonce|realm|qop|stale|true|auth){0,60}") {
            for s in [&v, &w] {
                let _ = parse_params(s);
                if let Ok(c) = Challenge::parse(s) {
                    let mut d = DigestClient::new("u", Secret::new("s"));
                    d.on_challenge(c);
                    let a = d.authorization(HttpMethod::Get, "/arawman?action=Ping", "c").unwrap();
                    prop_assert!(!a.contains(['\r', '\n']));
                }
                let _ = SetCookie::parse(s);
                let mut cs = CookieSession::new();
                cs.on_response(&[("Set-Cookie", s.as_bytes())], Instant::now());
                if let Some(c) = cs.cookie_header() {
                    prop_assert!(!c.contains(['\r', '\n', ';']));
                }
            }
        }

        #[test]
        fn body_limit_holds(len in 0usize..200, limit in 0usize..200) {
            let body = vec![b'a'; len];
            let mut l = BodyLimits::default();
            l.max_body = limit;
            for f in [Flavour::Rawman, Flavour::Mxml, Flavour::Manager] {
                let r = decode_body(f, &body, &l);
                if len > limit {
                    prop_assert_eq!(r, Err(amiwire::ajam::BodyError::TooLarge { limit }));
                }
            }
        }
    }
}

/// A multi-line value gets its name again on each line in the TCP form: a long name over
/// many short lines must not turn a 48 KB body into hundreds of MB (it used to take 254 MB).
#[test]
fn a_long_name_over_many_lines_stays_bounded() {
    let n = 16_000;
    let name = "n".repeat(n);
    let lines = "a\n".repeat(n);
    let mxml = format!(
        "<ajax-response>\n<response type='object' id='unknown'><generic {name}='{lines}' /></response>\n</ajax-response>\n"
    );
    let html = format!("<tr><td>{name}</td><td>{}</td></tr>\r\n", "a<br>".repeat(n));
    // Messages allowed up to 1 GiB: the TCP form is still held to max_body (here 1 MiB).
    let mut roomy = BodyLimits::default();
    roomy.max_body = 1 << 20;
    roomy.decoder.max_message_len = 1 << 30;
    roomy.decoder.max_buffered = 1 << 30;
    for (flavour, body) in [(Flavour::Mxml, mxml), (Flavour::Manager, html)] {
        let e = decode_body(flavour, body.as_bytes(), &BodyLimits::default()).unwrap_err();
        assert!(
            matches!(
                e,
                amiwire::ajam::BodyError::Decode(amiwire::DecodeError::MessageTooLarge { .. })
            ),
            "{flavour:?}: {e}"
        );
        let e = decode_body(flavour, body.as_bytes(), &roomy).unwrap_err();
        assert!(
            matches!(e, amiwire::ajam::BodyError::TooLarge { limit } if limit == 1 << 20),
            "{flavour:?}: {e}"
        );
    }
    // Under the limits, the same shape decodes: every line is a header of its own.
    let ok = format!(
        "<ajax-response>\n<response type='object' id='unknown'><generic output='{}' /></response>\n</ajax-response>\n",
        "a\n".repeat(100)
    );
    let msgs = decode_body(Flavour::Mxml, ok.as_bytes(), &BodyLimits::default()).unwrap();
    assert_eq!(msgs[0].as_ref().get_all("Output").count(), 100);
}

/// A malformed `/mxml` body's error names what is wrong, never the body's text.
#[test]
fn xml_errors_hold_no_body_text() {
    for body in [
        "<ajax-response><response><mysecretpassword123></response></ajax-response>",
        "<ajax-response><response><mysecretpassword123>",
    ] {
        let e = decode_body(Flavour::Mxml, body.as_bytes(), &BodyLimits::default()).unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(!text.contains("mysecret"), "{text}");
    }
}

/// A prefix with what a request target cannot hold unescaped (a quote would also break the
/// Digest `uri="…"`) is refused when the endpoint is made.
#[test]
fn endpoint_prefixes_are_plain_path_characters() {
    for bad in [
        "/a\"b/arawman",
        "/a\\b/rawman",
        "/a<b>/mxml",
        "/a{b}/rawman",
        "/a|b/rawman",
    ] {
        assert!(Endpoint::parse(bad).is_err(), "{bad}");
    }
    for good in ["/asterisk/rawman", "/ami-1.0/arawman", "/~pbx/x_y/amxml"] {
        assert!(Endpoint::parse(good).is_ok(), "{good}");
    }
}
