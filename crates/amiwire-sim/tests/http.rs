//! AMI over HTTP (`/rawman`): the requests of recording 11a replayed against the simulator,
//! with the cookie the simulator hands out; every answer compared with the recorded one.
use std::time::Duration;

use amiwire::Message;
use amiwire_sim::server::{SimConfig, Simulator};
use support::{data, messages};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;

/// Splits a recorded HTTP stream into (head, body) pairs, bodies by Content-Length.
fn split_http(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(i) = memchr::memmem::find(&data[pos..], b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&data[pos..pos + i]).into_owned();
        let len = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            })
            .unwrap_or(0);
        let start = pos + i + 4;
        out.push((head, data[start..start + len].to_vec()));
        pos = start + len;
    }
    out
}

/// A message's headers, its `Timestamp` as `<t>`.
fn pairs(m: &Message) -> Vec<(String, String)> {
    support::pairs(m)
        .into_iter()
        .map(|(k, v)| {
            let v = if k.eq_ignore_ascii_case("Timestamp") {
                "<t>".to_owned()
            } else {
                v
            };
            (k, v)
        })
        .collect()
}

/// A recorded request head with its `Cookie` replaced by ours (when we have one).
fn with_cookie(head: &str, cookie: Option<&str>) -> String {
    match cookie {
        Some(c) => head
            .lines()
            .map(|l| {
                if l.starts_with("Cookie:") {
                    format!("Cookie: mansession_id=\"{c}\"")
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\r\n"),
        None => head.to_owned(),
    }
}

async fn request(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(b"\r\n\r\n").await.unwrap();
    s.write_all(body).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    split_http(&got).remove(0)
}

#[tokio::test]
async fn rawman_as_recorded() {
    let mut cfg = SimConfig::default();
    cfg.http_listen = Some(([127, 0, 0, 1], 0).into());
    cfg.failed_login_delay = Duration::from_millis(20);
    let sim = Simulator::start(cfg).await.unwrap();
    let http = sim.http_addr().unwrap();
    let requests = split_http(&data("11a-http-rawman.client.bin"));
    let answers = split_http(&data("11a-http-rawman.server.bin"));
    assert_eq!(requests.len(), answers.len());
    let mut cookie: Option<String> = None;
    for (i, ((head, body), (want_head, want_body))) in requests.iter().zip(&answers).enumerate() {
        // Our cookie instead of the recorded one (the stale-cookie request keeps using it).
        let head = with_cookie(head, cookie.as_deref());
        let (got_head, got_body) = request(http, &head, body).await;
        let status = |h: &str| h.lines().next().unwrap().to_owned();
        assert_eq!(status(&got_head), status(want_head), "request {i}");
        for h in [
            "Content-type: text/plain",
            "Pragma: SuppressEvents",
            "Connection: close",
        ] {
            assert!(
                got_head.contains(h),
                "request {i}: {h} missing in {got_head}"
            );
        }
        let set = got_head
            .lines()
            .find_map(|l| l.strip_prefix("Set-Cookie: mansession_id=\""))
            .unwrap();
        let (id, rest) = set.split_once('"').unwrap();
        assert_eq!(rest, "; Version=1; Max-Age=60");
        assert_eq!(id.len(), 8);
        if cookie.is_none() {
            cookie = Some(id.to_owned());
        }
        let line = head.lines().next().unwrap().to_owned();
        let (got, want) = (messages(&got_body), messages(want_body));
        if line.contains("WaitEvent") {
            // Events depend on what else happened on the recorded server; the frame must match.
            assert_eq!(pairs(&got[0]), pairs(&want[0]), "{line}");
            assert_eq!(
                pairs(got.last().unwrap()),
                pairs(want.last().unwrap()),
                "{line}"
            );
        } else if line.contains("Command") {
            assert_eq!(pairs(&got[0])[..2], pairs(&want[0])[..2], "{line}");
        } else {
            let got: Vec<_> = got.iter().map(pairs).collect();
            let want: Vec<_> = want.iter().map(pairs).collect();
            assert_eq!(got, want, "{line}");
        }
    }
    sim.stop().await;
}

#[tokio::test]
async fn header_injection_through_url_encoding_is_refused() {
    let mut cfg = SimConfig::default();
    cfg.http_listen = Some(([127, 0, 0, 1], 0).into());
    let sim = Simulator::start(cfg).await.unwrap();
    let http = sim.http_addr().unwrap();
    // %0d%0a inside a value must not become a second header.
    let (_, body) = request(
        http,
        "GET /rawman?action=Login&username=admin%0d%0aSecret:%20amp111&secret=x HTTP/1.1\r\nHost: x",
        b"",
    )
    .await;
    let m = messages(&body);
    assert_eq!(m[0].get_str("Message"), Some("Authentication failed"));
    sim.stop().await;
}

fn without_timestamp(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body).into_owned();
    match s.find("timestamp='") {
        Some(i) => {
            let end = s[i + 11..].find('\'').unwrap() + i + 11;
            format!("{}timestamp='<t>{}", &s[..i], &s[end..])
        }
        None => s,
    }
}

/// `<tr><td>Timestamp</td><td>…</td></tr>` with the value taken out.
fn html_without_timestamp(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body).into_owned();
    let key = "<tr><td>Timestamp</td><td>";
    match s.find(key) {
        Some(i) => {
            let from = i + key.len();
            let end = s[from..].find('<').unwrap() + from;
            format!("{}<t>{}", &s[..from], &s[end..])
        }
        None => s,
    }
}

#[tokio::test]
async fn mxml_as_recorded() {
    let mut cfg = SimConfig::default();
    cfg.http_listen = Some(([127, 0, 0, 1], 0).into());
    cfg.failed_login_delay = Duration::from_millis(20);
    let sim = Simulator::start(cfg).await.unwrap();
    let http = sim.http_addr().unwrap();
    let requests = split_http(&data("11b-http-mxml.client.bin"));
    let answers = split_http(&data("11b-http-mxml.server.bin"));
    assert_eq!(requests.len(), answers.len());
    let mut cookie: Option<String> = None;
    for ((head, body), (want_head, want_body)) in requests.iter().zip(&answers) {
        let head = with_cookie(head, cookie.as_deref());
        let (got_head, got_body) = request(http, &head, body).await;
        assert!(got_head.contains("Content-type: text/xml"));
        assert_eq!(got_head.lines().next(), want_head.lines().next(), "{head}");
        if cookie.is_none() {
            let set = got_head
                .lines()
                .find_map(|l| l.strip_prefix("Set-Cookie: mansession_id=\""))
                .unwrap();
            cookie = Some(set[..8].to_owned());
        }
        let line = head.lines().next().unwrap().to_owned();
        if line.contains("WaitEvent") || line.contains("Command") {
            let prefix =
                "<ajax-response>\n<response type='object' id='unknown'><generic response='Success'";
            assert!(
                String::from_utf8_lossy(&got_body).starts_with(prefix),
                "{line}"
            );
            assert!(
                got_body.ends_with(b" /></response>\n</ajax-response>\n"),
                "{line}"
            );
        } else {
            assert_eq!(
                without_timestamp(&got_body),
                without_timestamp(want_body),
                "{line}"
            );
        }
    }
    sim.stop().await;
}

#[tokio::test]
async fn digest_as_recorded() {
    let mut cfg = SimConfig::default();
    cfg.http_listen = Some(([127, 0, 0, 1], 0).into());
    // The nonces the recorded server handed out, so that the recorded Authorization headers
    // (computed by curl with the real secret) are right for the simulator too.
    cfg.digest_nonces = ["789fb16c", "190b1464", "1d82e4b5", "411eacff"]
        .map(String::from)
        .to_vec();
    let sim = Simulator::start(cfg).await.unwrap();
    let http = sim.http_addr().unwrap();
    let requests = split_http(&data("11d-http-arawman-digest.client.bin"));
    let answers = split_http(&data("11d-http-arawman-digest.server.bin"));
    assert_eq!(requests.len(), 11);
    assert_eq!(requests.len(), answers.len());
    for ((head, body), (want_head, want_body)) in requests.iter().zip(&answers) {
        let (got_head, got_body) = request(http, head, body).await;
        let line = head.lines().next().unwrap();
        assert_eq!(got_head.lines().next(), want_head.lines().next(), "{line}");
        let www = |h: &str| {
            h.lines()
                .find(|l| l.starts_with("WWW-authenticate:"))
                .map(str::to_owned)
        };
        assert_eq!(www(&got_head), www(want_head), "{line}");
        assert!(
            !got_head.contains("Set-Cookie"),
            "{line}: Digest sessions have no cookie"
        );
        let ctype = |h: &str| {
            h.lines()
                .find(|l| l.starts_with("Content-type:"))
                .map(str::to_owned)
        };
        assert_eq!(ctype(&got_head), ctype(want_head), "{line}");
        if want_head.starts_with("HTTP/1.1 401") {
            assert_eq!(got_body, *want_body, "{line}");
        } else if line.contains("amanager") {
            // The HTML page, byte for byte but for the Ping's time stamp.
            assert_eq!(
                html_without_timestamp(&got_body),
                html_without_timestamp(want_body),
                "{line}"
            );
        } else if line.contains("amxml") {
            assert_eq!(
                without_timestamp(&got_body),
                without_timestamp(want_body),
                "{line}"
            );
        } else if line.contains("Ping") || line.contains("Getvar") || line.contains("WaitEvent") {
            let got: Vec<_> = messages(&got_body).iter().map(pairs).collect();
            let want: Vec<_> = messages(want_body).iter().map(pairs).collect();
            assert_eq!(got, want, "{line}");
        } else {
            // CoreStatus and Command: the answer's kind; their values differ.
            assert_eq!(
                messages(&got_body)[0].get_str("Response"),
                messages(want_body)[0].get_str("Response"),
                "{line}"
            );
        }
    }
    sim.stop().await;
}

/// An `Authorization: Digest` header for `admin` (secret amp111), as curl computes it.
fn digest_header(method: &str, uri: &str, nonce: &str, nc: u32) -> String {
    digest_header_for("admin", "amp111", method, uri, nonce, nc)
}

fn digest_header_for(
    user: &str,
    secret: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc: u32,
) -> String {
    use md5::{Digest as _, Md5};
    let md5 = |s: String| -> String {
        let mut h = Md5::new();
        h.update(s.as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    };
    let ha1 = md5(format!("{user}:asterisk:{secret}"));
    let ha2 = md5(format!("{method}:{uri}"));
    let cnonce = "0a4f113b";
    let nc = format!("{nc:08x}");
    let response = md5(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    format!(
        "Authorization: Digest username=\"{user}\", realm=\"asterisk\", nonce=\"{nonce}\", uri=\"{uri}\", \
         qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{response}\", algorithm=MD5, opaque=\"{nonce}\""
    )
}

fn www_authenticate(head: &str) -> Option<String> {
    head.lines()
        .find_map(|l| l.strip_prefix("WWW-authenticate: "))
        .map(str::to_owned)
}

#[tokio::test]
async fn digest_nonce_count_must_grow() {
    let mut cfg = SimConfig::default();
    cfg.http_listen = Some(([127, 0, 0, 1], 0).into());
    cfg.digest_nonces = ["0000abcd", "1234beef", "00c0ffee"]
        .map(String::from)
        .to_vec();
    let sim = Simulator::start(cfg).await.unwrap();
    let http = sim.http_addr().unwrap();
    let uri = "/arawman?action=Ping&ActionID=n";
    let get =
        |auth: String| format!("GET {uri} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}");
    let ok = |head: &str, body: &[u8]| {
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert_eq!(messages(body)[0].get_str("Ping"), Some("Pong"));
    };
    // No Authorization: the first nonce.
    let (head, _) = request(http, "GET /arawman?action=Ping HTTP/1.1\r\nHost: x", b"").await;
    assert!(head.starts_with("HTTP/1.1 401 Unauthorized"));
    assert_eq!(
        www_authenticate(&head).as_deref(),
        Some("Digest algorithm=MD5, realm=\"asterisk\", nonce=\"0000abcd\", qop=\"auth\", opaque=\"0000abcd\"")
    );
    // nc 1 makes the session (Asterisk does not record that first count), 1 again and 2 pass.
    for nc in [1, 1, 2] {
        let (head, body) =
            request(http, &get(digest_header("GET", uri, "0000abcd", nc)), b"").await;
        ok(&head, &body);
    }
    // 2 again is a replay: a new nonce, stale=true.
    let (head, _) = request(http, &get(digest_header("GET", uri, "0000abcd", 2)), b"").await;
    assert!(head.starts_with("HTTP/1.1 401 Unauthorized"), "{head}");
    assert_eq!(
        www_authenticate(&head).as_deref(),
        Some("Digest algorithm=MD5, realm=\"asterisk\", nonce=\"1234beef\", qop=\"auth\", opaque=\"1234beef\", stale=true")
    );
    // The old nonce, even with a higher count: told the current one, stale=true.
    let (head, _) = request(http, &get(digest_header("GET", uri, "0000abcd", 9)), b"").await;
    assert!(
        www_authenticate(&head)
            .unwrap()
            .contains("nonce=\"1234beef\""),
        "{head}"
    );
    assert!(www_authenticate(&head).unwrap().ends_with(", stale=true"));
    // The new nonce from 1 on (the count was reset).
    for nc in [1, 2, 3] {
        let (head, body) =
            request(http, &get(digest_header("GET", uri, "1234beef", nc)), b"").await;
        ok(&head, &body);
    }
    // A wrong answer: a fresh nonce, not stale.
    let bad = digest_header("GET", uri, "1234beef", 4).replace("response=\"", "response=\"0");
    let (head, _) = request(http, &get(bad), b"").await;
    assert_eq!(
        www_authenticate(&head).as_deref(),
        Some("Digest algorithm=MD5, realm=\"asterisk\", nonce=\"00c0ffee\", qop=\"auth\", opaque=\"00c0ffee\"")
    );
    // A nonce that is no hex number.
    let (head, _) = request(http, &get(digest_header("GET", uri, "zz", 1)), b"").await;
    assert!(head.starts_with("HTTP/1.1 401 Unauthorized"));
    assert!(!www_authenticate(&head).unwrap().contains("stale"));
    sim.stop().await;
}

#[tokio::test]
async fn manager_html_page() {
    let mut cfg = SimConfig::default();
    cfg.http_listen = Some(([127, 0, 0, 1], 0).into());
    let sim = Simulator::start(cfg).await.unwrap();
    let http = sim.http_addr().unwrap();
    let (head, body) = request(
        http,
        "GET /manager?action=Login&username=admin&secret=amp111 HTTP/1.1\r\nHost: x",
        b"",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200 OK"));
    assert!(head.contains("\r\nContent-type: text/html\r\n"));
    assert!(head.contains("\r\nPragma: SuppressEvents\r\n"));
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: mansession_id=\""))
        .unwrap()[..8]
        .to_owned();
    // main/manager.c generic_http_callback with FORMAT_HTML, and xml_translate's rows.
    let want = "<title>Asterisk&trade; Manager Interface</title><body bgcolor=\"#ffffff\">\
<table align=center bgcolor=\"#f1f1f1\" width=\"500\">\r\n\
<tr><td colspan=\"2\" bgcolor=\"#f1f1ff\"><h1>Manager Tester</h1></td></tr>\r\n\
<tr><td colspan=\"2\" bgcolor=\"#f1f1ff\"><form action=\"manager\" method=\"post\">\n\
\tAction: <select name=\"action\">\n\
\t\t<option value=\"\">-----&gt;</option>\n\
\t\t<option value=\"login\">login</option>\n\
\t\t<option value=\"command\">Command</option>\n\
\t\t<option value=\"waitevent\">waitevent</option>\n\
\t\t<option value=\"listcommands\">listcommands</option>\n\
\t</select>\n\
\tor <input name=\"action\"><br/>\n\
\tCLI Command <input name=\"command\"><br>\n\
\tuser <input name=\"username\"> pass <input type=\"password\" name=\"secret\"><br>\n\
\t<input type=\"submit\">\n</form>\n</td></tr>\r\n\
<tr><td>Response</td><td>Success</td></tr>\n\
<tr><td>Message</td><td>Authentication accepted</td></tr>\n\
<tr><td colspan=\"2\"><hr></td></tr>\r\n\
</table></body>\r\n";
    assert_eq!(String::from_utf8_lossy(&body), want);
    // A Command with several Output lines: repeated names numbered, values escaped.
    let (_, body) = request(
        http,
        &format!(
            "GET /manager?action=Command&command=dialplan+show+nosuch HTTP/1.1\r\nHost: x\r\n\
             Cookie: mansession_id=\"{cookie}\""
        ),
        b"",
    )
    .await;
    let body = String::from_utf8_lossy(&body).into_owned();
    assert!(
        body.contains("<tr><td>Output</td><td>There is no existence of &apos;nosuch&apos; context</td></tr>\n"),
        "{body}"
    );
    let (_, body) = request(
        http,
        &format!(
            "GET /mxml?action=Command&command=core+show+help+manager+show HTTP/1.1\r\nHost: x\r\n\
             Cookie: mansession_id=\"{cookie}\""
        ),
        b"",
    )
    .await;
    let body = String::from_utf8_lossy(&body).into_owned();
    assert!(
        body.contains(" output='manager show commands          -- List manager interface commands' output-2='manager show connected "),
        "{body}"
    );
    sim.stop().await;
}

#[tokio::test]
async fn digest_user_refused_by_its_acl_gets_403() {
    let mut cfg = SimConfig::default();
    cfg.http_listen = Some(([127, 0, 0, 1], 0).into());
    cfg.accounts = amiwire_sim::accounts::Accounts::parse(
        "[far]\nsecret = far\ndeny = 0.0.0.0/0.0.0.0\npermit = 10.0.0.1/255.255.255.255\nread = all\nwrite = all\n",
    )
    .unwrap();
    let sim = Simulator::start(cfg).await.unwrap();
    let http = sim.http_addr().unwrap();
    let uri = "/arawman?action=Ping";
    let auth = digest_header_for("far", "far", "GET", uri, "0000abcd", 1);
    let (head, body) = request(
        http,
        &format!("GET {uri} HTTP/1.1\r\nHost: x\r\n{auth}"),
        b"",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 403 Permission denied"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("<h1>Permission denied</h1>"));
    sim.stop().await;
}

/// `SimConfig::http_timeout`: the cookie's Max-Age, the cap of WaitEvent, and an idle cookie
/// session forgotten (the next request with its cookie is a new, unauthenticated session).
#[tokio::test]
async fn http_timeout_is_configurable() {
    let mut cfg = SimConfig::default();
    cfg.http_listen = Some(([127, 0, 0, 1], 0).into());
    cfg.http_timeout = Duration::from_secs(11);
    let sim = Simulator::start(cfg).await.unwrap();
    let http = sim.http_addr().unwrap();
    let get = |q: &str, cookie: Option<&str>| {
        let mut head = format!("GET /rawman?{q} HTTP/1.1\r\nHost: x");
        if let Some(c) = cookie {
            head.push_str(&format!("\r\nCookie: mansession_id=\"{c}\""));
        }
        head
    };
    let (head, body) = request(
        http,
        &get("action=Login&username=admin&secret=amp111", None),
        b"",
    )
    .await;
    assert_eq!(
        messages(&body)[0].get_str("Message"),
        Some("Authentication accepted")
    );
    assert!(head.contains("; Version=1; Max-Age=11\r\n"), "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: mansession_id=\""))
        .unwrap()[..8]
        .to_owned();
    // WaitEvent waits at most 11 - 10 = 1 s, whatever it asks for.
    let t = std::time::Instant::now();
    let (_, body) = request(
        http,
        &get("action=WaitEvent&timeout=30", Some(&cookie)),
        b"",
    )
    .await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let got = messages(&body);
    assert_eq!(
        got.last().unwrap().get_str("Event"),
        Some("WaitEventComplete")
    );
    let (_, body) = request(http, &get("action=Ping", Some(&cookie)), b"").await;
    assert_eq!(messages(&body)[0].get_str("Ping"), Some("Pong"));
    sim.stop().await;

    // One second: the session is gone after a second idle.
    let mut cfg = SimConfig::default();
    cfg.http_listen = Some(([127, 0, 0, 1], 0).into());
    cfg.http_timeout = Duration::from_secs(1);
    let sim = Simulator::start(cfg).await.unwrap();
    let http = sim.http_addr().unwrap();
    let (head, _) = request(
        http,
        &get("action=Login&username=admin&secret=amp111", None),
        b"",
    )
    .await;
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: mansession_id=\""))
        .unwrap()[..8]
        .to_owned();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (head, body) = request(http, &get("action=Ping", Some(&cookie)), b"").await;
    let m = messages(&body);
    assert_eq!(m[0].get_str("Response"), Some("Error"), "{m:?}");
    assert_eq!(m[0].get_str("Message"), Some("Permission denied"), "{m:?}");
    assert!(
        !head.contains(&cookie),
        "a new session, with a new cookie: {head}"
    );
    sim.stop().await;
}

/// An action of a session is answered while its WaitEvent waits (Asterisk does not hold the
/// session for the long poll), and the WaitEvent returns with the events the action raised.
#[tokio::test]
async fn actions_go_on_while_waitevent_waits() {
    let mut cfg = SimConfig::default();
    cfg.http_listen = Some(([127, 0, 0, 1], 0).into());
    let sim = Simulator::start(cfg).await.unwrap();
    let http = sim.http_addr().unwrap();
    let get = |q: &str, cookie: Option<&str>| {
        let mut head = format!("GET /rawman?{q} HTTP/1.1\r\nHost: x");
        if let Some(c) = cookie {
            head.push_str(&format!("\r\nCookie: mansession_id=\"{c}\""));
        }
        head
    };
    let (head, _) = request(
        http,
        &get("action=Login&username=admin&secret=amp111", None),
        b"",
    )
    .await;
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: mansession_id=\""))
        .unwrap()[..8]
        .to_owned();
    // The login's own events first.
    let _ = request(http, &get("action=WaitEvent&timeout=1", Some(&cookie)), b"").await;
    let c = cookie.clone();
    let poll = tokio::spawn(async move {
        request(http, &get("action=WaitEvent&timeout=20", Some(&c)), b"").await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = std::time::Instant::now();
    let (_, body) = request(
        http,
        &get("action=UserEvent&UserEvent=Hello", Some(&cookie)),
        b"",
    )
    .await;
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(messages(&body)[0].get_str("Response"), Some("Success"));
    let (_, body) = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("the WaitEvent returns with the event")
        .unwrap();
    let got = messages(&body);
    assert!(
        got.iter().any(|m| m.get_str("UserEvent") == Some("Hello")),
        "{got:?}"
    );
    sim.stop().await;
}
