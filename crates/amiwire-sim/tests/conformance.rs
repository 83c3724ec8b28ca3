//! Conformance: the client side of each recording of a real Asterisk 22 (in
//! crates/amiwire/tests/data) replayed against the simulator, one action at a time as the
//! recorded client did; the simulator's answers compared with the recorded server side, header
//! by header, after normalising only what must differ (timestamps, uptimes, the challenge,
//! session IDs and ports).
use std::time::Duration;

use amiwire::Message;
use amiwire_sim::server::{SimConfig, Simulator};
use support::{actions, data, decode_all, pairs, replay_actions, Client};
use tokio::net::TcpStream;

mod support;

/// Headers whose values differ from run to run (or between Asterisk and the simulator for
/// reasons that do not matter to clients).
const VOLATILE: &[&str] = &[
    "Timestamp",
    "Challenge",
    "Uptime",
    "LastReload",
    "EventTV",
    "SessionTV",
    "SessionID",
    "RemoteAddress",
    "LocalAddress",
    "CoreStartupDate",
    "CoreStartupTime",
    "CoreReloadDate",
    "CoreReloadTime",
    "CoreProcessedCalls",
];

/// `Local/100@test-00000010;1` → `Local/100@test-<n>;1` (channel numbers depend on history).
fn channel_suffix(v: &str) -> String {
    match v.rsplit_once('-') {
        Some((head, tail))
            if tail.len() >= 10
                && tail[..8].bytes().all(|b| b.is_ascii_hexdigit())
                && tail.as_bytes()[8] == b';' =>
        {
            format!("{head}-<n>{}", &tail[8..])
        }
        _ => v.to_owned(),
    }
}

fn normalise(m: &Message) -> Vec<(String, String)> {
    pairs(m)
        .into_iter()
        .map(|(k, v)| {
            let is = |x: &str| k.eq_ignore_ascii_case(x);
            let v = if VOLATILE.iter().any(|x| is(x)) {
                "<volatile>".to_owned()
            } else if is("Uniqueid") && v.contains('.') {
                "<uniqueid>".to_owned()
            } else if is("Channel") {
                channel_suffix(&v)
            } else {
                v
            };
            (k, v)
        })
        .collect()
}

/// Replays `name`'s client side and returns everything the simulator sent, until it closed.
async fn replay(name: &str, challenge: Option<&str>) -> Vec<u8> {
    replay_from(name, challenge, 0).await
}

async fn replay_from(name: &str, challenge: Option<&str>, first_channel: u64) -> Vec<u8> {
    let mut cfg = SimConfig::default();
    cfg.first_channel = first_channel;
    cfg.challenge = challenge.map(str::to_owned);
    replay_with(name, cfg).await
}

async fn replay_with(name: &str, mut cfg: SimConfig) -> Vec<u8> {
    cfg.failed_login_delay = Duration::from_millis(20);
    let sim = Simulator::start(cfg).await.unwrap();
    let mut s = TcpStream::connect(sim.addr()).await.unwrap();
    // As the recorded client did: each action after the answer to the one before.
    let got = replay_actions(&mut s, &actions(&data(&format!("{name}.client.bin")))).await;
    sim.stop().await;
    got
}

async fn conforms(name: &str) {
    conforms_with(name, None).await;
}

async fn conforms_with(name: &str, challenge: Option<&str>) {
    let got = replay(name, challenge).await;
    let (want_banner, want) = decode_all(&data(&format!("{name}.server.bin")));
    let (got_banner, got) = decode_all(&got);
    assert_eq!(got_banner, want_banner, "{name}: banner");
    let want: Vec<_> = want.iter().map(normalise).collect();
    let got: Vec<_> = got.iter().map(normalise).collect();
    assert_eq!(got, want, "{name}");
}

#[tokio::test]
async fn login_ping_logoff_admin() {
    conforms("01-login-ping-logoff.admin").await;
}

#[tokio::test]
async fn login_ping_logoff_c2call() {
    conforms("01-login-ping-logoff.c2call").await;
}

#[tokio::test]
async fn bad_login_wrong_secret() {
    conforms("02-bad-login.wrong-secret").await;
}

#[tokio::test]
async fn bad_login_unknown_user() {
    conforms("02-bad-login.unknown-user").await;
}

#[tokio::test]
async fn challenge_md5_good_key() {
    // The recorded Key answers the recorded challenge: the simulator is told to issue it.
    conforms_with("03-challenge-md5.good-key", Some("773159680")).await;
}

#[tokio::test]
async fn challenge_md5_bad_key() {
    conforms("03-challenge-md5.bad-key").await;
}

#[tokio::test]
async fn challenge_md5_bad_authtype() {
    conforms("03-challenge-md5.bad-authtype").await;
}

#[tokio::test]
async fn md5_login_with_the_simulators_challenge() {
    use md5::{Digest, Md5};
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut c = Client::connect(sim.addr()).await;
    let answer = c
        .ask(
            "Action: Challenge\r\nActionID: c\r\nAuthType: md5\r\n\r\n",
            "c",
        )
        .await;
    let challenge = answer.get_str("Challenge").unwrap();
    let mut h = Md5::new();
    h.update(challenge.as_bytes());
    h.update(b"amp111");
    let key: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let msg = c
        .ask(
            &format!("Action: Login\r\nActionID: l\r\nAuthType: md5\r\nUsername: admin\r\nKey: {key}\r\nEvents: off\r\n\r\n"),
            "l",
        )
        .await;
    assert_eq!(msg.get_str("Message"), Some("Authentication accepted"));
    sim.stop().await;
}

/// For recordings whose other actions the simulator does not implement yet: replays the whole
/// client side and compares the answers to the listed ActionIDs only.
async fn conforms_for(name: &str, ids: &[&str]) {
    conforms_for_from(name, ids, 0).await;
}

async fn conforms_for_from(name: &str, ids: &[&str], first_channel: u64) {
    let got = replay_from(name, None, first_channel).await;
    let (_, want) = decode_all(&data(&format!("{name}.server.bin")));
    let (_, got) = decode_all(&got);
    for id in ids {
        let pick = |ms: &[Message]| -> Vec<Vec<(String, String)>> {
            ms.iter()
                .filter(|m| m.get_str("ActionID") == Some(*id))
                .map(normalise)
                .collect()
        };
        let w = pick(&want);
        assert!(!w.is_empty(), "{name}: no recorded answer to {id}");
        assert_eq!(pick(&got), w, "{name}: {id}");
    }
}

#[tokio::test]
async fn info_actions() {
    conforms_for(
        "05-info-actions",
        &[
            "login-30",
            "coresettings-32",
            "corestatus-33",
            "getvar-34",
            "setvar-35",
            "getvar-36",
            "setvar-37",
            "getvar-38",
            "getvar-39",
            "getvar-40",
            "setvar-41",
            "getconfig-42",
            "listcategories-43",
            "ping-44",
            "waitevent-45",
            "modulecheck-46",
            "loggerrotate-47",
            "reload-48",
            "logoff-49",
        ],
    )
    .await;
}

/// The whole of recording 04: every Command answer line for line, with the recorded build
/// line given to the simulator. Normalised in the Output lines: the uptimes, the number of
/// calls processed, and the Start and Elapsed columns of `manager show connected`.
#[tokio::test]
async fn command_answers() {
    let mut cfg = SimConfig::default();
    cfg.identity.build =
        "built by root @ vm on a x86_64 running Linux on 2026-11-23 16:54:39 UTC".into();
    let got = replay_with("04-command", cfg).await;
    let (want_banner, want) = decode_all(&data("04-command.server.bin"));
    let (got_banner, got) = decode_all(&got);
    assert_eq!(got_banner, want_banner);
    fn output(v: &str, id: Option<&str>) -> String {
        if v.starts_with("System uptime: ") || v.starts_with("Last reload: ") {
            return "<uptime>".into();
        }
        if let Some((n, rest)) = v.split_once(' ') {
            if n.bytes().all(|b| b.is_ascii_digit()) && rest.starts_with("call") {
                return format!(
                    "<n> {}",
                    rest.trim_start_matches("calls").trim_start_matches("call")
                );
            }
        }
        // A row of `manager show connected` (command-26): "  %-15.15s  %-55.55s  %-10d
        // %-10d  …", Start and Elapsed taken out.
        if id == Some("command-26") && v.len() > 98 && !v.starts_with("  Username") {
            return format!("{}<start>    {}<elapsed>  {}", &v[..76], "", &v[98..]);
        }
        v.to_owned()
    }
    let norm = |ms: &[Message]| -> Vec<Vec<(String, String)>> {
        ms.iter()
            .map(|m| {
                let id = m.get_str("ActionID");
                normalise(m)
                    .into_iter()
                    .map(|(k, v)| {
                        let v = if k == "Output" { output(&v, id) } else { v };
                        (k, v)
                    })
                    .collect()
            })
            .collect()
    };
    let (got, want) = (norm(&got), norm(&want));
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
}

#[tokio::test]
async fn limited_user_privileges() {
    conforms_for(
        "09d-limited-user",
        &[
            "login-105",
            "command-106",
            "ping-107",
            "corestatus-108",
            "getvar-109",
            "logoff-110",
        ],
    )
    .await;
}

#[tokio::test]
async fn list_commands_names_only_what_is_implemented_with_asterisks_texts() {
    let got = replay("05-info-actions", None).await;
    let (_, got) = decode_all(&got);
    let (_, want) = decode_all(&data("05-info-actions.server.bin"));
    let pick = |ms: &[Message]| {
        ms.iter()
            .find(|m| m.get_str("ActionID") == Some("listcommands-31"))
            .cloned()
            .unwrap()
    };
    let (got, want) = (pick(&got), pick(&want));
    let mut n = 0;
    for h in got.iter().skip(2) {
        let name = h.name_str().unwrap();
        assert_eq!(
            want.get(name),
            Some(h.value()),
            "{name}: not as Asterisk lists it"
        );
        n += 1;
    }
    assert_eq!(n, 38);
    // In Asterisk's order (its action list is kept sorted).
    let got_names: Vec<&str> = got.iter().skip(2).filter_map(|h| h.name_str()).collect();
    let want_names: Vec<&str> = want
        .iter()
        .filter_map(|h| h.name_str())
        .filter(|n| got_names.contains(n))
        .collect();
    assert_eq!(got_names, want_names);
}

#[tokio::test]
async fn originate_responses_and_results() {
    conforms_for(
        "07-originate",
        &[
            "login-84",
            "orig-async-ok",
            "orig-async-badctx",
            "orig-async-badexten",
            "orig-sync-ok",
            "orig-sync-fail",
            "orig-nochannel",
            "orig-async-vars",
            "logoff-85",
        ],
    )
    .await;
}

#[tokio::test]
async fn limited_user_originate() {
    conforms_for("09d-limited-user", &["limited-orig", "limited-orig-system"]).await;
}

#[tokio::test]
async fn hangup_action() {
    // The recorded session's two calls were Local channels 0x1a and 0x1b.
    conforms_for_from(
        "09c-redirect-hangup",
        &[
            "login-99",
            "redir-call",
            "hangup-call",
            "hangup-102",
            "hangup-103",
            "logoff-104",
        ],
        0x1a,
    )
    .await;
}

#[tokio::test]
async fn pipelined_session() {
    // p4 (core show uptime) and p6 (CoreShowChannels, taken while Asterisk was still setting
    // up p2's call) differ in content; the rest must match.
    conforms_for(
        "10-pipelined",
        &[
            "p1",
            "p2",
            "p3",
            "p5",
            "p7",
            "p8",
            "p9",
            "s1",
            "s2",
            "logoff-120",
        ],
    )
    .await;
}

#[tokio::test]
async fn user_event_action() {
    // The answers, and the two UserEvent events of the UserEvent actions (they carry the
    // action's ActionID).
    conforms_for(
        "09a-userevent",
        &[
            "login-88",
            "userevent-89",
            "userevent-90",
            "ue-300",
            "logoff-91",
        ],
    )
    .await;
}
