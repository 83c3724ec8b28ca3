//! The client over AMI over HTTP (AJAM): each of the six paths against the simulator's HTTP
//! side (Login, Ping, Command, an event list, async Originate, events through WaitEvent),
//! session expiry and re-login, refused logins, and scripted HTTP servers for what the
//! simulator does not do (a stale Digest nonce, a server that closes a keep-alive connection
//! between requests, one that stops answering).
mod support;

use std::time::Duration;

use amiwire::action::Originate;
use amiwire::ajam::HttpMethod;
use amiwire::filter::Filter;
use amiwire::Action;
use amiwire_sim::server::{SimConfig, Simulator};
use amiwire_tokio::{ActionError, Client, ClientConfig, ClientEvent, Error, EventMask, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use support::{fast_reconnect, next};

async fn http_sim(mut cfg: SimConfig) -> Simulator {
    cfg.failed_login_delay = Duration::from_millis(50);
    cfg.http_listen = Some(([127, 0, 0, 1], 0).into());
    Simulator::start(cfg).await.unwrap()
}

fn cfg_for(url: &str, user: &str, secret: &str) -> ClientConfig {
    let mut c = ClientConfig::from_url(url, user, secret).unwrap();
    c.connect_timeout = Duration::from_secs(5);
    c.connection.login_timeout = Duration::from_secs(5);
    c.connection.action_timeout = Duration::from_secs(10);
    c.http.as_mut().unwrap().wait_event_timeout = Duration::from_secs(5);
    c
}

/// admin/amp111 on the simulator's HTTP side, at `path`.
fn admin(sim: &Simulator, path: &str) -> ClientConfig {
    let url = format!("http://{}/{path}", sim.http_addr().unwrap());
    cfg_for(&url, "admin", "amp111")
}

fn lines(r: &amiwire::Response) -> Vec<String> {
    r.output()
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect()
}

/// Everything a client does, over one path (POST, the default).
async fn whole_session(path: &str) {
    whole_session_with(path, HttpMethod::Post).await;
}

async fn whole_session_with(path: &str, method: HttpMethod) {
    let sim = http_sim(SimConfig::default()).await;
    let mut cfg = admin(&sim, path);
    assert_eq!(cfg.http.as_ref().unwrap().method, HttpMethod::Post);
    cfg.http.as_mut().unwrap().method = method;
    let client = Client::connect(cfg).await.unwrap();
    assert!(
        matches!(client.status(), Status::Connected { .. }),
        "{path}"
    );
    let mut hangups = client.events(Filter::event("Hangup"));
    assert!(matches!(
        next(&mut hangups).await,
        Some(ClientEvent::Connected { .. })
    ));

    let pong = client.send(Action::ping()).await.unwrap();
    assert!(pong.is_success(), "{path}: {pong:?}");
    assert_eq!(pong.get_str("Ping"), Some("Pong"), "{path}");

    let version = client
        .send(Action::command("core show version"))
        .await
        .unwrap();
    let out = lines(&version);
    assert!(
        out.first().is_some_and(|l| l.starts_with("Asterisk 22.")),
        "{path}: {out:?}"
    );

    // An event list, whole: two 30 s calls are up, four Local channels.
    for _ in 0..2 {
        let r = client
            .send(
                Originate::to_exten("Local/600@test", "test", "s", 1)
                    .asynchronous(true)
                    .build(),
            )
            .await
            .unwrap();
        assert!(r.is_success(), "{path}: {r:?}");
    }
    let list = client.send(Action::core_show_channels()).await.unwrap();
    assert!(list.is_success(), "{path}: {list:?}");
    assert_eq!(list.events.len(), 4, "{path}: {:?}", list.events);
    assert!(list
        .events
        .iter()
        .all(|e| e.get_str("Event") == Some("CoreShowChannel")));
    let complete = list.complete.as_ref().unwrap();
    assert_eq!(complete.get_str("ListItems"), Some("4"), "{path}");

    // An async Originate, resolved by its OriginateResponse (a WaitEvent brought it).
    let call = client
        .send(
            Originate::to_exten("Local/110@test", "test", "s", 1)
                .asynchronous(true)
                .build(),
        )
        .await
        .unwrap();
    assert!(call.is_success(), "{path}: {call:?}");
    let o = call.originate.as_ref().expect("OriginateResponse");
    assert_eq!(o.get_str("Reason"), Some("4"), "{path}: answered");

    // Its Hangup comes through the WaitEvent polls.
    let hangup = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let m = hangups.next_event().await.expect("stream ended");
            if m.get_str("Channel")
                .is_some_and(|c| c.starts_with("Local/110@test-"))
            {
                return m;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{path}: no Hangup of the call"));
    assert_eq!(hangup.get_str("Event"), Some("Hangup"));

    client.close().await;
    sim.stop().await;
}

#[tokio::test]
async fn rawman() {
    whole_session("rawman").await;
}

#[tokio::test]
async fn rawman_with_get() {
    whole_session_with("rawman", HttpMethod::Get).await;
}

#[tokio::test]
async fn amxml_with_get() {
    whole_session_with("amxml", HttpMethod::Get).await;
}

#[tokio::test]
async fn mxml() {
    whole_session("mxml").await;
}

#[tokio::test]
async fn manager() {
    whole_session("manager").await;
}

#[tokio::test]
async fn arawman() {
    whole_session("arawman").await;
}

#[tokio::test]
async fn amxml() {
    whole_session("amxml").await;
}

#[tokio::test]
async fn amanager() {
    whole_session("amanager").await;
}

#[tokio::test]
async fn md5_login_on_a_cookie_path() {
    let sim = http_sim(SimConfig::default()).await;
    let url = format!("http://{}/rawman", sim.http_addr().unwrap());
    let mut cfg =
        ClientConfig::from_url_with_credentials(&url, amiwire::Credentials::md5("admin", "amp111"))
            .unwrap();
    cfg.connection.login_timeout = Duration::from_secs(5);
    let client = Client::connect(cfg).await.unwrap();
    let pong = client.send(Action::ping()).await.unwrap();
    assert_eq!(pong.get_str("Ping"), Some("Pong"));
    client.close().await;
    sim.stop().await;
}

#[tokio::test]
async fn refused_logins_are_clear_and_quick() {
    let sim = http_sim(SimConfig::default()).await;
    for path in ["rawman", "mxml", "arawman", "amxml"] {
        let url = format!("http://{}/{path}", sim.http_addr().unwrap());
        let t = std::time::Instant::now();
        let e = Client::connect(cfg_for(&url, "admin", "wrong-secret"))
            .await
            .unwrap_err();
        assert!(
            t.elapsed() < Duration::from_secs(4),
            "{path}: {:?}",
            t.elapsed()
        );
        match &e {
            Error::LoginFailed { username, message } => {
                assert_eq!(username, "admin");
                assert!(
                    message.contains("Authentication failed"),
                    "{path}: {message}"
                );
            }
            other => panic!("{path}: {other:?}"),
        }
        assert!(!e.to_string().contains("wrong-secret"));
    }
    sim.stop().await;
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let url = format!("http://127.0.0.1:{port}/rawman");
    let e = Client::connect(cfg_for(&url, "admin", "amp111"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Connect { .. }), "{e:?}");
}

/// The cookie session's life (Max-Age: the simulator's httptimeout of 1 s) passes while the
/// client is idle (events off, no keepalive): the session ends, and with reconnect on, the
/// client logs in again; subscribers see where the gap is; the next action works.
#[tokio::test]
async fn an_expired_session_logs_in_again() {
    let mut sc = SimConfig::default();
    sc.http_timeout = Duration::from_secs(1);
    let sim = http_sim(sc).await;
    let mut cfg = admin(&sim, "rawman");
    cfg.connection.events = Some(EventMask::Off);
    cfg.connection.keepalive = None;
    cfg.reconnect = Some(fast_reconnect());
    let client = Client::connect(cfg).await.unwrap();
    let mut markers = client.events(Filter::all());
    assert!(matches!(
        next(&mut markers).await,
        Some(ClientEvent::Connected { .. })
    ));
    match next(&mut markers).await {
        Some(ClientEvent::Disconnected { reason }) => {
            assert!(reason.to_string().contains("session expired"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        next(&mut markers).await,
        Some(ClientEvent::Reconnected { .. })
    ));
    let pong = client.send(Action::ping()).await.unwrap();
    assert_eq!(pong.get_str("Ping"), Some("Pong"));
    client.close().await;
    sim.stop().await;
}

/// The keepalive Ping keeps an idle cookie session alive (httptimeout 2 s, 3 s idle).
#[tokio::test]
async fn keepalive_keeps_the_session_alive() {
    let mut sc = SimConfig::default();
    sc.http_timeout = Duration::from_secs(2);
    let sim = http_sim(sc).await;
    let mut cfg = admin(&sim, "rawman");
    cfg.connection.events = Some(EventMask::Off);
    cfg.connection.keepalive = Some(Duration::from_millis(400));
    let client = Client::connect(cfg).await.unwrap();
    let mut markers = client.events(Filter::all());
    assert!(matches!(
        next(&mut markers).await,
        Some(ClientEvent::Connected { .. })
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pong = client.send(Action::ping()).await.unwrap();
    assert_eq!(pong.get_str("Ping"), Some("Pong"));
    assert!(client.is_connected());
    assert!(
        tokio::time::timeout(Duration::from_millis(50), markers.recv())
            .await
            .is_err(),
        "no Disconnected marker"
    );
    client.close().await;
    sim.stop().await;
}

/// An answer larger than `max_body` ends the session (bounded memory), with the reason.
#[tokio::test]
async fn an_answer_over_the_body_limit_ends_the_session() {
    let sim = http_sim(SimConfig::default()).await;
    let mut cfg = admin(&sim, "rawman");
    cfg.connection.events = Some(EventMask::Off);
    cfg.http.as_mut().unwrap().max_body = 1024;
    let client = Client::connect(cfg).await.unwrap();
    let mut markers = client.events(Filter::all());
    assert!(matches!(
        next(&mut markers).await,
        Some(ClientEvent::Connected { .. })
    ));
    let e = client
        .send(Action::command("core show help"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Action(ActionError::Closed { sent: true })),
        "{e:?}"
    );
    match next(&mut markers).await {
        Some(ClientEvent::Disconnected { reason }) => {
            assert!(
                reason.to_string().contains("larger than 1024 bytes"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    sim.stop().await;
}

/// A path the server does not serve (here a prefix it does not have): a clear error.
#[tokio::test]
async fn a_path_the_server_does_not_serve_is_reported() {
    let sim = http_sim(SimConfig::default()).await;
    let url = format!("http://{}/asterisk/rawman", sim.http_addr().unwrap());
    let e = Client::connect(cfg_for(&url, "admin", "amp111"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("status 404"), "{e}");
    sim.stop().await;
}

/// The server forgets the session without the client knowing (Asterisk restarted): the
/// next request is answered `Permission denied`; the client logs in again with the event
/// mask of the old session, and events flow again through WaitEvent.
#[tokio::test]
async fn a_session_the_server_forgot_logs_in_again() {
    let sim = http_sim(SimConfig::default()).await;
    let http = sim.http_addr().unwrap();
    let mut cfg = admin(&sim, "rawman");
    cfg.connection.events = Some(EventMask::parse("call"));
    cfg.connection.keepalive = Some(Duration::from_millis(300));
    cfg.reconnect = Some(fast_reconnect());
    let client = Client::connect(cfg).await.unwrap();
    let mut all = client.events(Filter::all());
    assert!(matches!(
        next(&mut all).await,
        Some(ClientEvent::Connected { .. })
    ));
    sim.stop().await;
    let mut sc = SimConfig::default();
    sc.http_listen = Some(http);
    let sim = Simulator::start(sc).await.unwrap();
    let mut saw_gap = false;
    let event = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let Some(item) = all.recv().await else {
                panic!("stream ended: {:?}", client.status());
            };
            match item {
                ClientEvent::Disconnected { .. } => saw_gap = true,
                ClientEvent::Reconnected { .. } => {
                    assert!(saw_gap);
                    let r = client
                        .send(
                            Originate::to_exten("Local/110@test", "test", "s", 1)
                                .asynchronous(true)
                                .build(),
                        )
                        .await
                        .unwrap();
                    assert!(r.is_success(), "{r:?}");
                }
                ClientEvent::Event(m) if m.get_str("Event") == Some("Hangup") => return m,
                _ => {}
            }
        }
    })
    .await
    .expect("no re-login and Hangup within 20 s");
    assert!(event
        .get_str("Channel")
        .unwrap()
        .starts_with("Local/110@test-"));
    client.close().await;
    sim.stop().await;
}

// ---- scripted HTTP servers --------------------------------------------------------------

/// One request's head (the body, if any, stays in `buf`).
async fn read_head(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            buf.drain(..end + 4);
            return Some(head);
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn query_param<'h>(head: &'h str, key: &str) -> Option<&'h str> {
    let target = head.split(' ').nth(1)?;
    let (_, q) = target.split_once('?')?;
    q.split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn auth_param(head: &str, key: &str) -> Option<String> {
    let line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))?;
    let pat = format!("{key}=");
    let i = line.find(&pat)? + pat.len();
    let v = line[i..].trim_start_matches('"');
    Some(v.split(['"', ',']).next()?.to_owned())
}

/// An AMI answer over HTTP; `close`: with `Connection: close`.
fn ok(body: &str, close: bool) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nServer: Asterisk/22.10.1\r\n{}Content-type: text/plain\r\n\
         Set-Cookie: mansession_id=\"0badcafe\"; Version=1; Max-Age=60\r\n\
         Pragma: SuppressEvents\r\nContent-Length: {}\r\n\r\n{body}",
        if close { "Connection: close\r\n" } else { "" },
        body.len()
    )
}

fn answer_to(head: &str) -> String {
    let id = query_param(head, "ActionID").unwrap_or("");
    match query_param(head, "action")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("login") => format!(
            "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n"
        ),
        Some("ping") => {
            format!("Response: Success\r\nActionID: {id}\r\nPing: Pong\r\nTimestamp: 1.0\r\n\r\n")
        }
        Some("logoff") => {
            format!(
                "Response: Goodbye\r\nActionID: {id}\r\nMessage: Thanks for all the fish.\r\n\r\n"
            )
        }
        _ => {
            format!("Response: Error\r\nActionID: {id}\r\nMessage: Invalid/unknown command\r\n\r\n")
        }
    }
}

/// Events off, short timeouts, no reconnect: one request at a time on the action link, GET
/// (the action in the query, which these servers read).
fn scripted_cfg(port: u16, path: &str) -> ClientConfig {
    let mut c = cfg_for(
        &format!("http://127.0.0.1:{port}/{path}"),
        "admin",
        "amp111",
    );
    c.http.as_mut().unwrap().method = HttpMethod::Get;
    c.connection.events = Some(EventMask::Off);
    c.connection.keepalive = None;
    c
}

/// By default the Login is a POST form: its Secret is in the body, never in the URL.
#[tokio::test]
async fn the_login_secret_is_never_in_a_url() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = Vec::new();
        let head = read_head(&mut s, &mut buf).await.unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().unwrap())
            })
            .expect("a Content-Length");
        let mut chunk = [0u8; 4096];
        while buf.len() < len {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the body was cut");
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8(buf[..len].to_vec()).unwrap();
        let answer = "Response: Error\r\nMessage: Authentication failed\r\n\r\n";
        s.write_all(ok(answer, true).as_bytes()).await.unwrap();
        (head, body)
    });
    let mut cfg = cfg_for(
        &format!("http://127.0.0.1:{port}/rawman"),
        "admin",
        "amp111",
    );
    cfg.connection.events = Some(EventMask::Off);
    let err = Client::connect(cfg).await.unwrap_err();
    assert!(matches!(err, Error::LoginFailed { .. }), "{err:?}");
    let (head, body) = server.await.unwrap();
    let request_line = head.lines().next().unwrap();
    assert!(
        request_line.starts_with("POST /rawman HTTP/1.1"),
        "{request_line}"
    );
    assert!(!head.contains("amp111"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/x-www-form-urlencoded"),
        "{head}"
    );
    let form: Vec<&str> = body.split('&').collect();
    assert!(form.contains(&"action=Login"), "{body}");
    assert!(form.contains(&"Secret=amp111"), "{body}");
}

/// A keep-alive connection the server closes after each answer (without saying so): the
/// next request goes on a new connection, and nothing is lost or sent twice.
#[tokio::test]
async fn a_keepalive_connection_closed_between_requests_is_replaced() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        // First connection: two requests kept alive, then closed after the second answer.
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = Vec::new();
        for _ in 0..2 {
            let head = read_head(&mut s, &mut buf).await.unwrap();
            s.write_all(ok(&answer_to(&head), false).as_bytes())
                .await
                .unwrap();
            seen.push(query_param(&head, "action").unwrap().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(s);
        // Every later request on a connection of its own.
        while let Ok(Ok((mut s, _))) =
            tokio::time::timeout(Duration::from_secs(3), l.accept()).await
        {
            let mut buf = Vec::new();
            if let Some(head) = read_head(&mut s, &mut buf).await {
                seen.push(query_param(&head, "action").unwrap().to_owned());
                s.write_all(ok(&answer_to(&head), true).as_bytes())
                    .await
                    .unwrap();
            }
        }
        seen
    });
    let client = Client::connect(scripted_cfg(port, "rawman")).await.unwrap();
    let pong = client.send(Action::ping()).await.unwrap();
    assert_eq!(pong.get_str("Ping"), Some("Pong"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..3 {
        let pong = client.send(Action::ping()).await.unwrap();
        assert_eq!(pong.get_str("Ping"), Some("Pong"));
    }
    client.close().await;
    let seen = server.await.unwrap();
    assert_eq!(
        seen.iter()
            .map(|s| s.to_ascii_lowercase())
            .collect::<Vec<_>>(),
        ["login", "ping", "ping", "ping", "ping", "logoff"]
    );
}

/// A server that accepts and never answers: the login times out.
#[tokio::test]
async fn a_server_that_never_answers_times_the_login_out() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let _server = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (s, _) = l.accept().await.unwrap();
            held.push(s);
        }
    });
    let mut cfg = scripted_cfg(port, "rawman");
    cfg.connection.login_timeout = Duration::from_millis(500);
    let t = std::time::Instant::now();
    let e = Client::connect(cfg).await.unwrap_err();
    assert!(matches!(e, Error::LoginTimeout(_)), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(3));
}

/// A server that stops answering after the login: the action times out (its outcome
/// unknown: it was sent), then the HTTP request's own timeout ends the session, the client
/// says why, and (reconnect on) logs in again on a new connection.
#[tokio::test]
async fn a_server_that_stops_answering_times_the_action_out() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let _server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = Vec::new();
        let head = read_head(&mut s, &mut buf).await.unwrap();
        s.write_all(ok(&answer_to(&head), false).as_bytes())
            .await
            .unwrap();
        // Reads the next request, answers nothing, keeps the connection open.
        let _ = read_head(&mut s, &mut buf).await;
        let _held = s;
        // Later connections are answered.
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while let Some(head) = read_head(&mut s, &mut buf).await {
                    let _ = s.write_all(ok(&answer_to(&head), false).as_bytes()).await;
                }
            });
        }
    });
    let mut cfg = scripted_cfg(port, "rawman");
    cfg.http.as_mut().unwrap().request_timeout = Duration::from_millis(1500);
    cfg.reconnect = Some(fast_reconnect());
    let client = Client::connect(cfg).await.unwrap();
    let mut markers = client.events(Filter::all());
    assert!(matches!(
        next(&mut markers).await,
        Some(ClientEvent::Connected { .. })
    ));
    let t = std::time::Instant::now();
    let e = client
        .send_with_timeout(Action::ping(), Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Action(ActionError::TimedOut { sent: true })),
        "{e:?}"
    );
    assert!(e.outcome_unknown());
    assert!(t.elapsed() < Duration::from_secs(2));
    // The HTTP request's timeout then ends the session, with the reason.
    match next(&mut markers).await {
        Some(ClientEvent::Disconnected { reason }) => {
            let text = reason.to_string();
            assert!(text.contains("did not answer within"), "{text}");
            assert!(reason.may_reconnect());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        next(&mut markers).await,
        Some(ClientEvent::Reconnected { .. })
    ));
    let pong = client.send(Action::ping()).await.unwrap();
    assert_eq!(pong.get_str("Ping"), Some("Pong"));
    client.close().await;
}

/// Digest: a `stale=true` 401 (the nonce is too old) gets the same request again with the
/// new nonce and the nonce count started over; the action succeeds.
#[tokio::test]
async fn a_stale_nonce_is_renewed() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let mut log = Vec::new();
        let mut stale_sent = false;
        while let Ok(Ok((mut s, _))) =
            tokio::time::timeout(Duration::from_secs(3), l.accept()).await
        {
            let mut buf = Vec::new();
            let Some(head) = read_head(&mut s, &mut buf).await else {
                continue;
            };
            let action = query_param(&head, "action")
                .unwrap_or("")
                .to_ascii_lowercase();
            let nonce = auth_param(&head, "nonce");
            let nc = auth_param(&head, "nc");
            log.push((action.clone(), nonce.clone(), nc));
            let challenge = |nonce: &str, stale: bool| {
                let body = "<html>401</html>";
                format!(
                    "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nWWW-authenticate: Digest \
                     algorithm=MD5, realm=\"asterisk\", nonce=\"{nonce}\", qop=\"auth\", \
                     opaque=\"{nonce}\"{}\r\nContent-type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
                    if stale { ", stale=true" } else { "" },
                    body.len()
                )
            };
            let reply = match nonce.as_deref() {
                None => challenge("0000aaaa", false),
                Some("0000aaaa") if action == "ping" && !stale_sent => {
                    stale_sent = true;
                    challenge("0000bbbb", true)
                }
                Some(_) => ok(&answer_to(&head), true).replace(
                    "Set-Cookie: mansession_id=\"0badcafe\"; Version=1; Max-Age=60\r\n",
                    "",
                ),
            };
            let _ = s.write_all(reply.as_bytes()).await;
        }
        log
    });
    let client = Client::connect(scripted_cfg(port, "arawman"))
        .await
        .unwrap();
    let pong = client.send(Action::ping()).await.unwrap();
    assert_eq!(pong.get_str("Ping"), Some("Pong"));
    client.close().await;
    let log = server.await.unwrap();
    let pings: Vec<_> = log.iter().filter(|(a, _, _)| a == "ping").collect();
    assert_eq!(pings.len(), 2, "{log:?}");
    assert_eq!(pings[0].1.as_deref(), Some("0000aaaa"));
    assert_eq!(pings[1].1.as_deref(), Some("0000bbbb"));
    assert_eq!(
        pings[1].2.as_deref(),
        Some("00000001"),
        "nc starts over: {log:?}"
    );
}

/// https: TLS (a private CA) in front of the simulator's HTTP side, Digest inside it.
#[tokio::test]
async fn https_with_a_private_ca() {
    let sim = http_sim(SimConfig::default()).await;
    let (port, cert_pem) = support::tls_proxy(sim.http_addr().unwrap()).await;
    let mut cfg = cfg_for(
        &format!("https://localhost:{port}/arawman"),
        "admin",
        "amp111",
    );
    assert!(cfg.tls.is_some());
    cfg.tls = Some(amiwire_tokio::TlsConfig::ca_pem(cert_pem));
    let client = Client::connect(cfg.clone()).await.unwrap();
    let r = client
        .send(Action::command("core show version"))
        .await
        .unwrap();
    assert!(lines(&r)[0].starts_with("Asterisk 22."), "{r:?}");
    client.close().await;

    // An unknown CA: a TLS error, as over TCP.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    cfg.tls = Some(amiwire_tokio::TlsConfig::ca_pem(other.cert.pem()));
    let e = Client::connect(cfg).await.unwrap_err();
    assert!(matches!(e, Error::Tls { .. }), "{e:?}");
    sim.stop().await;
}

/// A scripted `/rawman` server: `slow` actions are answered after `delay`, every WaitEvent
/// gets `wait_event` (an HTTP answer) when given; counts the logins.
fn scripted_server(
    l: TcpListener,
    slow: &'static str,
    delay: Duration,
    wait_event: Option<&'static str>,
) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let logins = std::sync::Arc::new(AtomicUsize::new(0));
    let count = logins.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while let Some(head) = read_head(&mut s, &mut buf).await {
                    let act = query_param(&head, "action")
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    if act == "login" {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    let answer = match wait_event {
                        Some(w) if act == "waitevent" => w.to_owned(),
                        _ if act == slow => {
                            tokio::time::sleep(delay).await;
                            let id = query_param(&head, "ActionID").unwrap_or("");
                            ok(
                                &format!(
                                    "Response: Success\r\nActionID: {id}\r\n\
                                     Message: Originate successfully queued\r\n\r\n"
                                ),
                                false,
                            )
                        }
                        _ => ok(&answer_to(&head), false),
                    };
                    if s.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    logins
}

/// Over HTTP the keepalive Ping waits behind the action in flight: a synchronous Originate
/// that rings longer than the Pong timeout must not end the session.
#[tokio::test]
async fn a_slow_action_outlives_the_keepalive() {
    use std::sync::atomic::Ordering;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let logins = scripted_server(l, "originate", Duration::from_secs(3), None);
    let mut cfg = scripted_cfg(port, "rawman");
    cfg.connection.keepalive = Some(Duration::from_millis(500));
    cfg.connection.pong_timeout = Duration::from_millis(500);
    let client = Client::connect(cfg).await.unwrap();
    let o = amiwire::action::Originate::to_exten("PJSIP/110", "default", "600", 1).build();
    let r = client.send(o).await.expect("the Originate's answer");
    assert_eq!(r.get_str("Response"), Some("Success"));
    // The session lived: the next action goes on it, without a second login.
    client.send(Action::ping()).await.unwrap();
    assert_eq!(logins.load(Ordering::SeqCst), 1);
}

/// A server that takes the login and fails the session right after (every WaitEvent a 500):
/// the logins slow down (the waits keep growing) instead of repeating every 200 ms.
#[tokio::test]
async fn sessions_that_end_at_once_slow_the_logins_down() {
    use std::sync::atomic::Ordering;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let logins = scripted_server(
        l,
        "",
        Duration::ZERO,
        Some("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"),
    );
    let mut cfg = scripted_cfg(port, "rawman");
    cfg.connection.events = None;
    let mut rc = amiwire_tokio::Reconnect::default();
    rc.initial = Duration::from_millis(200);
    rc.jitter = 0.0;
    cfg.reconnect = Some(rc);
    let client = Client::connect(cfg).await.unwrap();
    // Waits of 0.2, 0.4, 0.8, 1.6 s: the fifth login comes after 3 s. With the waits
    // starting over after each session, a login every 0.2 s (a dozen and more).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let n = logins.load(Ordering::SeqCst);
    assert!((2..=5).contains(&n), "{n} logins in 2.5 s");
    drop(client);
}
