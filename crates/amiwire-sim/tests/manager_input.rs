//! Requests read as Asterisk 22's main/manager.c reads them, each rule from the function
//! named: `get_input` (lines, their ends and their length), `do_message` (where a message
//! ends, how many lines it may have), `__astman_get_header` (how a key and its value are
//! found), `process_message` (the action's name) and `astman_send_response_full` (the
//! ActionID of the answer). The answers are compared as bytes.
use std::time::Duration;

use amiwire_sim::server::{SimConfig, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connects, logs in as admin with events off (unless `login` is false), sends `input`, and
/// returns the answers to it: the bytes after the Login answer, once `answers` messages have
/// come (a message ends at a blank line).
async fn answers(input: &[u8], answers: usize, login: bool) -> Vec<u8> {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut s = TcpStream::connect(sim.addr()).await.unwrap();
    let mut all = Vec::new();
    let banner = b"Asterisk Call Manager/11.0.0\r\n";
    let mut want = answers;
    if login {
        s.write_all(b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\nEvents: off\r\n\r\n")
            .await
            .unwrap();
        want += 1;
    }
    s.write_all(input).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while count(&all, banner.len()) < want {
        let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
            .await
            .expect("timed out")
            .unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&all));
        all.extend_from_slice(&buf[..n]);
    }
    sim.stop().await;
    let mut rest = &all[banner.len()..];
    if login {
        let end = memchr::memmem::find(rest, b"\r\n\r\n").unwrap();
        rest = &rest[end + 4..];
    }
    rest.to_vec()
}

/// Messages (ended by a blank line) after the banner.
fn count(all: &[u8], from: usize) -> usize {
    all.get(from..)
        .map_or(0, |b| memchr::memmem::find_iter(b, b"\r\n\r\n").count())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `__astman_get_header`: the value starts after every blank (bytes below 33,
/// `ast_skip_blanks`) after the colon: none, one, several spaces or tabs.
#[tokio::test]
async fn blanks_after_the_colon_are_skipped() {
    let got = answers(
        b"Action:Ping\r\nActionID:a\r\n\r\n\
          Action:    Ping\r\nActionID:   b\r\n\r\n\
          Action:\tPing\r\nActionID: \t c\r\n\r\n",
        3,
        true,
    )
    .await;
    let t = text(&got);
    for id in ["a", "b", "c"] {
        assert!(
            t.contains(&format!(
                "Response: Success\r\nActionID: {id}\r\nPing: Pong\r\n"
            )),
            "{id}: {t}"
        );
    }
}

/// `__astman_get_header`: blanks at the end of a value are kept (only those after the colon
/// are skipped), so they come back in the ActionID.
#[tokio::test]
async fn blanks_at_the_end_of_a_value_are_kept() {
    let got = answers(b"Action: Ping\r\nActionID: x  \r\n\r\n", 1, true).await;
    assert!(text(&got).starts_with("Response: Success\r\nActionID: x  \r\n"));
}

/// `__astman_get_header` (`strncasecmp`) and `action_find` (`strcasecmp`): keys and action
/// names in any case.
#[tokio::test]
async fn keys_and_action_names_in_any_case() {
    let got = answers(
        b"action: ping\r\nactionid: a\r\n\r\nACTION: PING\r\nACTIONID: b\r\n\r\n",
        2,
        true,
    )
    .await;
    let t = text(&got);
    assert!(
        t.contains("Response: Success\r\nActionID: a\r\nPing: Pong"),
        "{t}"
    );
    assert!(
        t.contains("Response: Success\r\nActionID: b\r\nPing: Pong"),
        "{t}"
    );
}

/// `__astman_get_header`: the colon must follow the key at once; `Action : Ping` names no
/// action (`process_message`: "Missing action in request").
#[tokio::test]
async fn a_blank_before_the_colon_hides_the_key() {
    let got = answers(b"Action : Ping\r\nActionID: a\r\n\r\n", 1, true).await;
    assert_eq!(
        text(&got),
        "Response: Error\r\nActionID: a\r\nMessage: Missing action in request\r\n\r\n"
    );
}

/// `process_message`: a message without `Action:` (or with an empty one: the first
/// non-empty Action counts, `GET_HEADER_SKIP_EMPTY`) is answered with an error that carries
/// its ActionID.
#[tokio::test]
async fn a_message_without_an_action() {
    let got = answers(
        b"ActionID: a\r\nFoo: bar\r\n\r\nAction:\r\nActionID: b\r\n\r\n\
          Action:\r\nAction: Ping\r\nActionID: c\r\n\r\n",
        3,
        true,
    )
    .await;
    let t = text(&got);
    assert!(
        t.starts_with(
            "Response: Error\r\nActionID: a\r\nMessage: Missing action in request\r\n\r\n\
             Response: Error\r\nActionID: b\r\nMessage: Missing action in request\r\n\r\n\
             Response: Success\r\nActionID: c\r\nPing: Pong\r\n"
        ),
        "{t}"
    );
}

/// `do_message`: a blank line ends a message even when it has no line, and the empty message
/// is processed: "Missing action in request" (before and after login).
#[tokio::test]
async fn an_empty_message_is_an_error() {
    let want = "Response: Error\r\nMessage: Missing action in request\r\n\r\n";
    let got = answers(b"\r\n", 1, true).await;
    assert_eq!(text(&got), want);
    let got = answers(b"\r\n", 1, false).await;
    assert_eq!(text(&got), want);
}

/// `get_input`: a bare LF ends a line as CRLF does.
#[tokio::test]
async fn lf_only_lines() {
    let got = answers(b"Action: Ping\nActionID: lf\n\n", 1, true).await;
    assert!(text(&got).starts_with("Response: Success\r\nActionID: lf\r\nPing: Pong\r\n"));
}

/// `astman_get_header`: the first of two equal keys wins (`GET_HEADER_FIRST_MATCH`), the
/// ActionID of the answer too.
#[tokio::test]
async fn the_first_of_two_action_ids_wins() {
    let got = answers(
        b"Action: Ping\r\nActionID: one\r\nactionid: two\r\n\r\n",
        1,
        true,
    )
    .await;
    let t = text(&got);
    assert!(
        t.starts_with("Response: Success\r\nActionID: one\r\nPing: Pong\r\n"),
        "{t}"
    );
    assert!(!t.contains("two"), "{t}");
}

/// `get_input`: a line of up to 1022 bytes and its CRLF fits the 1024 bytes it reads into,
/// so a 1000-byte ActionID comes back whole.
#[tokio::test]
async fn a_long_action_id_comes_back_whole() {
    let id = "i".repeat(1022 - "ActionID: ".len());
    let input = format!("Action: Ping\r\nActionID: {id}\r\n\r\n");
    let got = answers(input.as_bytes(), 1, true).await;
    assert!(text(&got).starts_with(&format!(
        "Response: Success\r\nActionID: {id}\r\nPing: Pong"
    )));
}

/// `get_input` and `do_message`: a longer line is discarded, and the message it is in is
/// answered "Failed to parse message: line too long" when it ends; the next message is
/// read as usual.
#[tokio::test]
async fn a_line_over_1024_bytes() {
    let input = format!(
        "Action: Ping\r\nActionID: long\r\nX: {}\r\n\r\nAction: Ping\r\nActionID: next\r\n\r\n",
        "x".repeat(3000)
    );
    let got = answers(input.as_bytes(), 2, true).await;
    let t = text(&got);
    assert!(
        t.contains("Message: Failed to parse message: line too long\r\n"),
        "{t}"
    );
    assert!(
        t.contains("Response: Success\r\nActionID: next\r\nPing: Pong"),
        "{t}"
    );
}

/// `astman_send_response_full`: the ActionID is echoed as sent, bytes that are not UTF-8
/// included.
#[tokio::test]
async fn a_non_utf8_action_id_is_echoed_as_sent() {
    let got = answers(b"Action: Ping\r\nActionID: \xff\xfeid\r\n\r\n", 1, true).await;
    assert!(
        got.starts_with(b"Response: Success\r\nActionID: \xff\xfeid\r\nPing: Pong\r\n"),
        "{}",
        text(&got)
    );
}

/// `process_message`: before login, only Login, Logoff and Challenge (in any case); anything
/// else, a misspelt action too, is "Permission denied".
#[tokio::test]
async fn before_login_only_three_actions() {
    let got = answers(
        b"Action: Ping\r\nActionID: a\r\n\r\nAction: NoSuch\r\nActionID: b\r\n\r\n\
          action: CHALLENGE\r\nAuthType: md5\r\nActionID: c\r\n\r\n",
        3,
        false,
    )
    .await;
    let t = text(&got);
    assert!(
        t.starts_with(
            "Response: Error\r\nActionID: a\r\nMessage: Permission denied\r\n\r\n\
             Response: Error\r\nActionID: b\r\nMessage: Permission denied\r\n\r\n\
             Response: Success\r\nActionID: c\r\nChallenge: "
        ),
        "{t}"
    );
}
