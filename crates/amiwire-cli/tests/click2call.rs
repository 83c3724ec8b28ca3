//! `amiwire click2call`, run as a user would, against the simulator.
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use amiwire_sim::server::{SimConfig, Simulator};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_amiwire"));
    for k in [
        "AMI_HOST",
        "AMI_PORT",
        "AMI_USERNAME",
        "AMI_SECRET",
        "AMI_TLS",
        "AMI_TLS_CA",
        "AMI_TLS_SERVER_NAME",
        "AMI_CONFIG",
        "AMI_TIMEOUT",
    ] {
        c.env_remove(k);
    }
    c.stdin(Stdio::null());
    c
}

/// `amiwire` logged in to `sim` as `user` (through the environment, as a script would).
fn ami(sim: &Simulator, user: &str, secret: &str) -> Command {
    let mut c = bin();
    c.env("AMI_PORT", sim.addr().port().to_string())
        .env("AMI_USERNAME", user)
        .env("AMI_SECRET", secret)
        .env("AMI_TIMEOUT", "10");
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn sim() -> Simulator {
    let mut cfg = SimConfig::default();
    cfg.failed_login_delay = Duration::from_millis(50);
    Simulator::start(cfg).await.unwrap()
}

/// One HTTP/1.1 request; the status and the body of the answer.
async fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = text(&out);
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

const TOKEN: &str = "0123456789abcdef-test";

/// A child process killed when the test ends, even by a failed assertion (it would hold the
/// test's output open).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `amiwire click2call` on a free port, once it says where it listens.
async fn click2call(sim: &Simulator, extra: &[&str]) -> (Killed, u16) {
    let mut c = ami(sim, "admin", "amp111");
    c.args([
        "click2call",
        "--listen",
        "127.0.0.1:0",
        "--channel",
        "Local/{agent}@test",
        "--context",
        "test",
        "--agent-pattern",
        "[0-9]{3}",
        "--callerid",
        "Callback <{number}>",
    ])
    .args(extra)
    .env("AMIWIRE_CLICK2CALL_TOKEN", TOKEN)
    .stderr(Stdio::piped());
    let mut child = Killed(c.spawn().unwrap());
    let mut err = BufReader::new(child.0.stderr.take().unwrap());
    let line = tokio::task::spawn_blocking(move || {
        let mut l = String::new();
        err.read_line(&mut l).unwrap();
        // Keep draining stderr so the child never blocks on it.
        std::thread::spawn(move || for _ in err.lines() {});
        l
    })
    .await
    .unwrap();
    let port = line
        .trim()
        .strip_prefix("amiwire click2call: listening on http://127.0.0.1:")
        .and_then(|r| r.strip_suffix("/call"))
        .unwrap_or_else(|| panic!("{line}"))
        .parse()
        .unwrap();
    (child, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn click2call_rings_the_agent_then_the_number_safely() {
    let sim = sim().await;
    let (_child, port) = click2call(&sim, &["--rate", "3"]).await;
    let t = Some(TOKEN);

    let (status, body) = http(port, "POST", "/call", t, "agent=110&number=100").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with(
            "{\"result\": \"answered\", \"reason\": \"4\", \"channel\": \"Local/110@test-"
        ),
        "{body}"
    );
    // The query string works too.
    let (status, body) = http(port, "POST", "/call?agent=111&number=300", t, "").await;
    assert_eq!(status, 502, "no such agent extension: {body}");
    assert!(body.starts_with("{\"result\": \"failed\""), "{body}");

    // Refused before anything reaches Asterisk.
    for (token, form, want) in [
        (None, "agent=110&number=100", 401),
        (Some("0123456789abcdef-tesT"), "agent=110&number=100", 401),
        (t, "agent=110&number=100%0d%0aApplication:%20System", 400),
        (t, "agent=110;2&number=100", 400),
        (t, "agent=110", 400),
        (t, "agent=110&number=%zz", 400),
    ] {
        let (status, body) = http(port, "POST", "/call", token, form).await;
        assert_eq!(status, want, "{form}: {body}");
    }
    assert_eq!(http(port, "GET", "/call", t, "").await.0, 405);
    assert_eq!(http(port, "GET", "/nope", t, "").await.0, 404);
    let (status, body) = http(port, "GET", "/health", None, "").await;
    assert_eq!((status, body.as_str()), (200, "{\"ami\": \"connected\"}"));

    // --rate 3: two calls were placed; the third passes, the fourth is refused.
    assert_eq!(
        http(port, "POST", "/call", t, "agent=100&number=110")
            .await
            .0,
        200
    );
    let (status, body) = http(port, "POST", "/call", t, "agent=200&number=102").await;
    assert_eq!(status, 429, "{body}");
    sim.stop().await;
}

/// A second request for a number whose call is still in progress is refused, not placed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn click2call_refuses_a_second_call_to_a_ringing_number() {
    let mut cfg = SimConfig::default();
    cfg.failed_login_delay = Duration::from_millis(50);
    cfg.faults.response_delay = Duration::from_millis(600);
    let sim = Simulator::start(cfg).await.unwrap();
    let (_child, port) = click2call(&sim, &[]).await;
    let first = tokio::spawn(http(
        port,
        "POST",
        "/call",
        Some(TOKEN),
        "agent=110&number=100",
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = http(port, "POST", "/call", Some(TOKEN), "agent=100&number=100").await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = http(port, "POST", "/call", Some(TOKEN), "agent=110&number=200").await;
    assert_eq!(status, 409, "the agent is busy too");
    let (status, body) = first.await.unwrap();
    assert_eq!(status, 200, "{body}");
    // Answered: the call is up, so the number is still busy...
    let (status, _) = http(port, "POST", "/call", Some(TOKEN), "agent=100&number=100").await;
    assert_eq!(status, 409);
    // ...until the agent's channel hangs up (Local/110 waits 0.5 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = http(port, "POST", "/call", Some(TOKEN), "agent=100&number=100").await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 409, "{body}");
        assert!(Instant::now() < deadline, "the number stayed busy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sim.stop().await;
}

#[test]
fn click2call_needs_a_token() {
    let o = bin()
        .args(["click2call", "--channel", "PJSIP/{agent}", "-u", "admin"])
        .env("AMI_SECRET", "x")
        .env("AMIWIRE_CLICK2CALL_TOKEN", "short")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("AMIWIRE_CLICK2CALL_TOKEN"));
}
