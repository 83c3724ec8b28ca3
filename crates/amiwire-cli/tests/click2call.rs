//! `amiwire click2call`, run as a user would, against the simulator: calls, the probe
//! findings (slow clients per address, AMI down, locks after a reconnect, strict HTTP, one
//! lock per number, 504), the event stream and the page.
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use amiwire_sim::server::{SimConfig, Simulator};

/// `amiwire` logged in to the AMI server on `port` as `user` (through the environment, as a
/// script would).
fn ami(port: u16, user: &str, secret: &str) -> Command {
    let mut c = bin();
    c.env("AMI_PORT", port.to_string())
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
    click2call_on(sim.addr().port(), extra).await
}

/// `amiwire click2call` with its AMI server on `ami_port`.
async fn click2call_on(ami_port: u16, extra: &[&str]) -> (Killed, u16) {
    let (child, port, _) = click2call_as(ami_port, ("admin", "amp111"), extra).await;
    (child, port)
}

/// What a click2call process writes to its standard error, line by line.
type Log = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// `amiwire click2call` logged in as `user`; its log lines are kept in the `Log`.
async fn click2call_as(ami_port: u16, user: (&str, &str), extra: &[&str]) -> (Killed, u16, Log) {
    let log = Log::default();
    let kept = log.clone();
    let mut c = ami(ami_port, user.0, user.1);
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
        while err.read_line(&mut l).unwrap() > 0 && !l.contains(" listening on ") {
            kept.lock().unwrap().push(std::mem::take(&mut l));
        }
        // Keep draining stderr so the child never blocks on it.
        // (printed: shown when a test fails)
        std::thread::spawn(move || {
            for l in err.lines().map_while(Result::ok) {
                eprintln!("click2call: {l}");
                kept.lock().unwrap().push(l);
            }
        });
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
    (child, port, log)
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

/// Sends `request` as it is (from `source`, a loopback address, when given) and returns
/// everything the server answers until it closes (at most 20 s).
async fn raw_from(source: Option<[u8; 4]>, port: u16, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = connect_from(source, port).await;
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .expect("an answer in time")
        .unwrap();
    text(&out)
}

async fn raw(port: u16, request: &str) -> String {
    raw_from(None, port, request.as_bytes()).await
}

async fn connect_from(source: Option<[u8; 4]>, port: u16) -> tokio::net::TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(ip) = source {
        sock.bind((std::net::Ipv4Addr::from(ip), 0).into()).unwrap();
    }
    sock.connect((std::net::Ipv4Addr::LOCALHOST, port).into())
        .await
        .unwrap()
}

fn status_of(answer: &str) -> u16 {
    answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

/// A POST /call with a form body, as the probe sent it (`extra` header lines included).
fn post(extra: &str, body: &str) -> String {
    format!(
        "POST /call HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/x-www-form-urlencoded\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The body of a chunked answer, put together.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].strip_prefix("\r\n").unwrap_or(&tail[n..]);
    }
    out
}

/// The (event, data) pairs of an event stream.
fn events_of(stream: &str) -> Vec<(String, String)> {
    stream
        .split("\n\n")
        .filter_map(|block| {
            let mut event = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(v.to_owned());
                }
            }
            Some((event?, data.unwrap_or_default()))
        })
        .collect()
}

/// A TCP proxy between click2call and the simulator that the test can cut (every
/// connection closed, new ones closed at once) and restore, and that records what the
/// client sends.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    cut: Arc<tokio::sync::watch::Sender<u64>>,
    /// Cut the link right after forwarding an Originate.
    cut_on_originate: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<u8>>>,
}

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use support::bin;

impl Proxy {
    async fn start(target: std::net::SocketAddr) -> Proxy {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(tokio::sync::watch::channel(0u64).0);
        let cut_on_originate = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let p = Proxy {
            port,
            up: up.clone(),
            cut: cut.clone(),
            cut_on_originate: cut_on_originate.clone(),
            log: log.clone(),
        };
        tokio::spawn(async move {
            while let Ok((client, _)) = l.accept().await {
                if !up.load(Ordering::SeqCst) {
                    continue; // closed at once
                }
                let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                    continue;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let (mut stop1, mut stop2) = (cut.subscribe(), cut.subscribe());
                let (log, up, cut, coo) = (
                    log.clone(),
                    up.clone(),
                    cut.clone(),
                    cut_on_originate.clone(),
                );
                // This connection's answers are dropped once it is being cut.
                let mute = Arc::new(AtomicBool::new(false));
                let mute2 = mute.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 8192];
                    loop {
                        tokio::select! {
                            r = cr.read(&mut buf) => {
                                let n = match r { Ok(0) | Err(_) => return, Ok(n) => n };
                                log.lock().unwrap().extend_from_slice(&buf[..n]);
                                let cutting = coo.load(Ordering::SeqCst)
                                    && text(&buf[..n]).contains("Action: Originate");
                                if cutting {
                                    // Nothing more reaches the client: its answer is lost.
                                    coo.store(false, Ordering::SeqCst);
                                    mute.store(true, Ordering::SeqCst);
                                    up.store(false, Ordering::SeqCst);
                                }
                                if sw.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                                if cutting {
                                    // Let the simulator read it before the cut.
                                    tokio::time::sleep(Duration::from_millis(100)).await;
                                    cut.send_modify(|n| *n += 1);
                                    return;
                                }
                            }
                            _ = stop1.changed() => return,
                        }
                    }
                });
                tokio::spawn(async move {
                    let mut buf = [0u8; 8192];
                    loop {
                        tokio::select! {
                            r = sr.read(&mut buf) => {
                                let n = match r { Ok(0) | Err(_) => return, Ok(n) => n };
                                if mute2.load(Ordering::SeqCst) {
                                    continue;
                                }
                                if cw.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                            _ = stop2.changed() => return,
                        }
                    }
                });
            }
        });
        p
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    fn sent(&self) -> String {
        text(&self.log.lock().unwrap())
    }
}

/// Polls GET /health until it answers `want` (at most 15 s).
async fn wait_health(port: u16, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _) = http(port, "GET", "/health", None, "").await;
        if status == want {
            return;
        }
        assert!(Instant::now() < deadline, "/health never answered {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The probe's first finding: one address dribbling a header byte a second on many
/// connections must not starve the others, and its own excess connections get a 503 they
/// can read (their request read first, so no reset eats the answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_of_one_address_do_not_starve_the_others() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sim = sim().await;
    let (_child, port) = click2call(&sim, &[]).await;
    const ATTACKER: [u8; 4] = [127, 0, 0, 2];
    let mut slow = Vec::new();
    for _ in 0..30 {
        slow.push(tokio::spawn(async move {
            let mut s = connect_from(Some(ATTACKER), port).await;
            let mut out = Vec::new();
            // A header byte a second, for as long as the server listens.
            let dribble = async {
                for b in b"GET /health HTTP/1.1\r\nHost: x\r\n".iter() {
                    if s.write_all(&[*b]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(8), dribble).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut out)).await;
            text(&out)
        }));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A whole request from the attacker's address while it holds its 8 connections: a 503
    // it can read.
    let answer = raw_from(
        Some(ATTACKER),
        port,
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&answer), 503, "{answer}");
    assert!(
        answer.contains("too many connections from your address"),
        "{answer}"
    );
    // Health probes from another address, every 100 ms for 3 s: all answered.
    let mut answered = 0;
    for _ in 0..30 {
        let probe = tokio::time::timeout(
            Duration::from_secs(2),
            http(port, "GET", "/health", None, ""),
        )
        .await;
        if matches!(probe, Ok((200, _))) {
            answered += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answered, 30, "health probes answered");
    let mut refused = 0;
    let mut cut = 0;
    for t in slow {
        let out = t.await.unwrap();
        if out.starts_with("HTTP/1.1 503") {
            assert!(out.contains("Retry-After: 1"), "{out}");
            refused += 1;
        } else {
            cut += 1;
        }
    }
    assert_eq!(
        (refused, cut),
        (22, 8),
        "8 held, then cut by the read timeout"
    );
    // Once the slow connections are gone, the address is served again.
    let answer = raw_from(
        Some(ATTACKER),
        port,
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    sim.stop().await;
}

/// While the AMI link is down, POST /call is answered 503 at once and its Originate is never
/// sent later; a call whose hang-up fell into the gap is released once the link is back (the
/// live channels are listed), not after --max-call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ami_down_is_503_at_once_and_a_lost_hangup_is_found_after_the_reconnect() {
    let sim = sim().await;
    let proxy = Proxy::start(sim.addr()).await;
    let (_child, port) = click2call_on(proxy.port, &[]).await;
    let t = Some(TOKEN);
    // Answered at once; the number's dialplan (300) hangs up after 1 s.
    let (status, body) = http(port, "POST", "/call", t, "agent=100&number=300").await;
    assert_eq!(status, 200, "{body}");
    let answered = Instant::now();
    proxy.down();
    wait_health(port, 503).await;

    let started = Instant::now();
    let (status, body) = http(port, "POST", "/call", t, "agent=101&number=555").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not connected to Asterisk"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(1), "at once");
    // Still busy: the call's hang-up is not known yet.
    assert_eq!(
        http(port, "POST", "/call", t, "agent=100&number=300")
            .await
            .0,
        409
    );

    // The call hangs up while the link is down.
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(answered.elapsed())).await;
    proxy.restore();
    wait_health(port, 200).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        let (status, _) = http(port, "POST", "/call", t, "agent=100&number=300").await;
        if status != 409 || Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        status, 200,
        "the agent and number were released after the reconnect"
    );
    let sent = proxy.sent();
    assert_eq!(sent.matches("Action: Originate").count(), 2, "{sent}");
    assert!(
        !sent.contains("Exten: 555"),
        "the refused call was never placed"
    );
    assert!(sent.contains("Action: CoreShowChannels"), "{sent}");
    sim.stop().await;
}

/// A 504 (the Originate was written, then the link broke) keeps the agent and the number
/// busy until the call's fate is known: a retry cannot dial twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_504_keeps_the_lock_until_the_call_is_over() {
    let sim = sim().await;
    let proxy = Proxy::start(sim.addr()).await;
    let (_child, port) = click2call_on(proxy.port, &[]).await;
    let t = Some(TOKEN);
    proxy.cut_on_originate.store(true, Ordering::SeqCst);
    // Agent 100 answers; its dialplan hangs up after 2 s.
    let (status, body) = http(port, "POST", "/call", t, "agent=100&number=600").await;
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("may have been placed"), "{body}");
    proxy.restore();
    wait_health(port, 200).await;
    // The retry right away is refused, the same number with another agent too.
    for form in [
        "agent=100&number=600",
        "agent=101&number=600",
        "agent=100&number=601",
    ] {
        let (status, body) = http(port, "POST", "/call", t, form).await;
        assert_eq!(status, 409, "{form}: {body}");
    }
    // Once the call is over (its Hangup, or the channel check), the number is free.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = http(port, "POST", "/call", t, "agent=110&number=600").await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 409, "{body}");
        assert!(Instant::now() < deadline, "the lock was never released");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = proxy.sent();
    assert_eq!(sent.matches("Action: Originate").count(), 2, "{sent}");
    sim.stop().await;
}

/// The probe's HTTP findings, each against hyper now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_is_strict() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sim = sim().await;
    let (_child, port) = click2call(&sim, &[]).await;
    let head = |cl: &str| {
        format!(
            "POST /call HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {cl}\r\n\r\n"
        )
    };
    // Content-Length near 2^64: no panic, refused without reading. hyper answers 431 itself
    // for the two values it reserves (2^64-2 and 2^64-1); below, our own limit says 413.
    assert_eq!(
        status_of(&raw(port, &head("18446744073709551615")).await),
        431
    );
    assert_eq!(
        status_of(&raw(port, &head("18446744073709551613")).await),
        413
    );
    assert_eq!(status_of(&raw(port, &head("9000")).await), 413);
    // Over 2^64, signed, or two different lengths: 400.
    assert_eq!(
        status_of(&raw(port, &head("18446744073709551616")).await),
        400
    );
    assert_eq!(
        status_of(
            &raw(
                port,
                &post("Content-Length: +18\r\n", "agent=110&number=100")
            )
            .await
        ),
        400
    );
    let two = format!(
        "POST /call HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 20\r\nContent-Length: 21\r\n\r\nagent=110&number=100"
    );
    assert_eq!(status_of(&raw(port, &two).await), 400);
    let signed = format!(
        "POST /call HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: +20\r\n\r\nagent=110&number=100"
    );
    assert_eq!(status_of(&raw(port, &signed).await), 400);
    // A head over 8 KiB.
    let big = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(9000)
    );
    assert_eq!(status_of(&raw(port, &big).await), 431);

    // HEAD: the headers of GET, no body.
    for path in ["/health", "/"] {
        let answer = raw(port, &format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n")).await;
        assert_eq!(status_of(&answer), 200, "{answer}");
        let (headers, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(body.is_empty(), "{path}: {body:?}");
        assert!(
            headers.to_ascii_lowercase().contains("content-length: "),
            "{headers}"
        );
    }

    // The scheme in lower case is accepted (RFC 9110: case-insensitive).
    let lower = format!(
        "POST /call HTTP/1.1\r\nHost: x\r\nauthorization: bearer {TOKEN}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 20\r\n\r\nagent=110&number=100"
    );
    let answer = raw(port, &lower).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    tokio::time::sleep(Duration::from_millis(1500)).await; // the call hangs up

    // Expect: 100-continue: 100 first, then the body, then the answer.
    let mut s = connect_from(None, port).await;
    let body = "agent=110&number=100";
    let req = format!(
        "POST /call HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut first = vec![0u8; 25];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut first))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text(&first), "HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(body.as_bytes()).await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status_of(&text(&rest)), 200, "{}", text(&rest));
    // With a wrong token: 401 at once, no 100 Continue, the body never asked for.
    let req = "POST /call HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong-token-0123456\r\nContent-Length: 20\r\nExpect: 100-continue\r\n\r\n";
    let answer = raw(port, req).await;
    assert_eq!(status_of(&answer), 401, "{answer}");
    assert!(answer.contains("www-authenticate: Bearer"), "{answer}");
    // A slow body: 408.
    let mut s = connect_from(None, port).await;
    s.write_all(head("20").as_bytes()).await.unwrap();
    s.write_all(b"agent=").await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status_of(&text(&out)), 408, "{}", text(&out));
    sim.stop().await;
}

/// 600, 0600, +600 and %2B600 are one number with --national-prefix 0; without it, 0600 is
/// another number (but +600 is still 600).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_lock_per_number_however_it_is_written() {
    let sim = sim().await;
    let (_c1, port) = click2call(&sim, &["--national-prefix", "0"]).await;
    let t = Some(TOKEN);
    // Agent 100 answers and hangs up after 2 s; the call keeps 600 busy until then.
    let (status, body) = http(port, "POST", "/call", t, "agent=100&number=600").await;
    assert_eq!(status, 200, "{body}");
    for (agent, number) in [
        ("101", "0600"),
        ("102", "%2B600"),
        ("103", "%2B0600"),
        ("104", "600"),
    ] {
        let (status, body) = http(
            port,
            "POST",
            "/call",
            t,
            &format!("agent={agent}&number={number}"),
        )
        .await;
        assert_eq!(status, 409, "{number}: {body}");
    }
    let (status, body) = http(port, "POST", "/call", t, "agent=105&number=0601").await;
    assert_ne!(status, 409, "another number: {body}");

    let (_c2, port2) = click2call(&sim, &[]).await;
    let (status, body) = http(port2, "POST", "/call", t, "agent=100&number=700").await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = http(port2, "POST", "/call", t, "agent=101&number=%2B700").await;
    assert_eq!(status, 409, "+700 is 700");
    let (status, _) = http(port2, "POST", "/call", t, "agent=102&number=0700").await;
    assert_ne!(
        status, 409,
        "without --national-prefix, 0700 is another number"
    );
    sim.stop().await;
}

/// POST /call with Accept: text/event-stream: the call's progress as server-sent events,
/// ending with its hang-up; errors before the call are plain JSON answers with their status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_follows_the_call_to_its_end() {
    let sim = sim().await;
    let (_child, port) = click2call(&sim, &[]).await;
    let answer = raw(
        port,
        &post("Accept: text/event-stream\r\n", "agent=110&number=100"),
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    let (headers, body) = answer.split_once("\r\n\r\n").unwrap();
    let headers = headers.to_ascii_lowercase();
    assert!(
        headers.contains("content-type: text/event-stream"),
        "{headers}"
    );
    assert!(headers.contains("transfer-encoding: chunked"), "{headers}");
    let events = events_of(&dechunk(body));
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        names,
        ["accepted", "ringing", "answered", "hungup"],
        "{events:?}"
    );
    assert_eq!(events[0].1, "{\"agent\": \"110\", \"number\": \"100\"}");
    assert!(
        events[1].1.starts_with("{\"channel\": \"Local/110@test-"),
        "{events:?}"
    );
    assert!(
        events[2]
            .1
            .starts_with("{\"reason\": \"4\", \"channel\": \"Local/110@test-"),
        "{events:?}"
    );
    assert_eq!(
        events[3].1,
        "{\"cause\": \"16\", \"cause_txt\": \"Normal Clearing\"}"
    );

    // A call that fails: `failed`, then the end.
    let answer = raw(
        port,
        &post("Accept: text/event-stream\r\n", "agent=111&number=100"),
    )
    .await;
    let events = events_of(&dechunk(answer.split_once("\r\n\r\n").unwrap().1));
    let last = events.last().unwrap();
    assert_eq!(last.0, "failed", "{events:?}");
    assert!(
        last.1
            .starts_with("{\"result\": \"failed\", \"reason\": \"0\""),
        "{events:?}"
    );

    // A client that never reads its stream does not hold the call up: the call ends and
    // frees its number as usual.
    {
        use tokio::io::AsyncWriteExt;
        let mut s = connect_from(None, port).await;
        s.write_all(post("Accept: text/event-stream\r\n", "agent=110&number=100").as_bytes())
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        tokio::time::sleep(Duration::from_millis(200)).await;
        loop {
            let (status, body) =
                http(port, "POST", "/call", Some(TOKEN), "agent=100&number=100").await;
            if status == 200 {
                break;
            }
            assert_eq!(status, 409, "{body}");
            assert!(Instant::now() < deadline, "the unread stream held the call");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        drop(s);
    }
    tokio::time::sleep(Duration::from_millis(2500)).await; // agent 100's call ends

    // Refused before the call: the status and a JSON error, not a stream.
    let wrong = "POST /call HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope-nope-nope-nope\r\nAccept: text/event-stream\r\nContent-Length: 20\r\n\r\nagent=110&number=100";
    let answer = raw(port, wrong).await;
    assert_eq!(status_of(&answer), 401, "{answer}");
    assert!(answer.contains("application/json"), "{answer}");
    let answer = raw(
        port,
        &post("Accept: text/event-stream\r\n", "agent=1&number=100"),
    )
    .await;
    assert_eq!(status_of(&answer), 400, "{answer}");
    assert!(
        answer.ends_with("{\"error\": \"invalid agent\"}"),
        "{answer}"
    );
    sim.stop().await;
}

/// GET / is the page: one HTML file, no external asset, a strict content security policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_with_its_policy() {
    let sim = sim().await;
    let (_child, port) = click2call(&sim, &[]).await;
    let answer = raw(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status_of(&answer), 200);
    let (headers, page) = answer.split_once("\r\n\r\n").unwrap();
    let headers = headers.to_ascii_lowercase();
    assert!(
        headers.contains("content-type: text/html; charset=utf-8"),
        "{headers}"
    );
    assert!(
        headers.contains("content-security-policy: default-src 'none'"),
        "{headers}"
    );
    assert!(page.starts_with("<!doctype html>"), "{page}");
    for needle in [
        "id=\"token\"",
        "id=\"agent\"",
        "id=\"number\"",
        "text/event-stream",
        "sessionStorage",
        "name=\"viewport\"",
    ] {
        assert!(page.contains(needle), "{needle}");
    }
    for external in ["src=\"http", "href=\"http", "localStorage", "innerHTML"] {
        assert!(!page.contains(external), "{external}");
    }
    assert_eq!(
        status_of(
            &raw(
                port,
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            )
            .await
        ),
        405
    );
    sim.stop().await;
}

/// The check after a reconnect lists channels with CoreShowChannels, or Status when the AMI
/// user may not run it; a user who may run neither is told at the start, and calls still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_channel_check_falls_back_to_status_and_warns_when_it_cannot_run() {
    let mut cfg = SimConfig::default();
    cfg.accounts = amiwire_sim::accounts::Accounts::parse(
        "[calls]\nsecret = calls\nread = call\nwrite = originate,call\n\n[limited]\nsecret = limited\nread = call\nwrite = originate\n",
    )
    .unwrap();
    let sim = Simulator::start(cfg).await.unwrap();
    let port = sim.addr().port();
    let warning = "warning: cannot list channels";

    let (_c1, p1, log1) = click2call_as(port, ("calls", "calls"), &[]).await;
    let (status, body) = http(p1, "POST", "/call", Some(TOKEN), "agent=110&number=100").await;
    assert_eq!(status, 200, "{body}");
    let (_c2, p2, log2) = click2call_as(port, ("limited", "limited"), &[]).await;
    let (status, body) = http(p2, "POST", "/call", Some(TOKEN), "agent=100&number=110").await;
    assert_eq!(status, 200, "{body}");

    let deadline = Instant::now() + Duration::from_secs(5);
    while !log2.lock().unwrap().iter().any(|l| l.contains(warning)) {
        assert!(
            Instant::now() < deadline,
            "no warning: {:?}",
            log2.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line = log2
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains(warning))
        .cloned()
        .unwrap();
    assert!(
        line.contains("CoreShowChannels: Permission denied"),
        "{line}"
    );
    assert!(line.contains("Status: Permission denied"), "{line}");
    assert!(
        !log1.lock().unwrap().iter().any(|l| l.contains(warning)),
        "Status is allowed with write = call: {:?}",
        log1.lock().unwrap()
    );
    sim.stop().await;
}
