//! AMI over HTTP, `/rawman` (plain text, as recording 11a shows) and `/mxml` (the same
//! messages as XML, recording 11b): every request carries one action as query or form
//! parameters; the session is kept by the `mansession_id` cookie; events are collected per
//! session and handed out by `WaitEvent`. `/manager` (HTML) and the Digest-authenticated
//! `/arawman` family are not implemented yet.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use amiwire::{Decoder, DecoderConfig, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};

use crate::session::{Session, Shared, SimEvent, Then};

/// Sessions idle this long are forgotten (Asterisk's `httptimeout` default).
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest request head and body accepted.
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;

struct HttpSession {
    session: Session,
    /// Events since the login, for WaitEvent.
    rx: Option<broadcast::Receiver<SimEvent>>,
    last: Instant,
}

type Sessions = Arc<Mutex<HashMap<u32, Arc<tokio::sync::Mutex<HttpSession>>>>>;

/// HTTP Digest state: nonces handed out in 401 answers (the configured ones first, then
/// random ones) and the sessions of Digest-authenticated users.
#[derive(Default)]
pub(crate) struct Digest {
    queue: Mutex<std::collections::VecDeque<String>>,
    valid: Mutex<std::collections::HashSet<String>>,
    sessions: Mutex<HashMap<String, Arc<tokio::sync::Mutex<HttpSession>>>>,
}

impl Digest {
    pub(crate) fn new(nonces: Vec<String>) -> Digest {
        Digest {
            queue: Mutex::new(nonces.into()),
            ..Digest::default()
        }
    }

    fn next_nonce(&self) -> String {
        let n = self
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
            .unwrap_or_else(|| {
                use std::hash::BuildHasher;
                format!(
                    "{:08x}",
                    std::collections::hash_map::RandomState::new().hash_one(1u8) as u32
                )
            });
        self.valid
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(n.clone());
        n
    }
}

fn md5_hex(parts: &[&str]) -> String {
    use md5::{Digest as _, Md5};
    let mut h = Md5::new();
    h.update(parts.join(":").as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The fields of an `Authorization: Digest k=v, k="v"…` header.
fn digest_fields(v: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let Some(rest) = v.trim().strip_prefix("Digest") else {
        return out;
    };
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' {
            i += 1;
        }
        let key = rest[ks..i].trim().to_ascii_lowercase();
        i += 1;
        let val = if i < b.len() && b[i] == b'"' {
            let vs = i + 1;
            i = vs;
            while i < b.len() && b[i] != b'"' {
                i += 1;
            }
            let v = rest.get(vs..i).unwrap_or("").to_owned();
            i += 1;
            v
        } else {
            let vs = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            rest.get(vs..i).unwrap_or("").trim().to_owned()
        };
        if !key.is_empty() {
            out.insert(key, val);
        }
    }
    out
}

/// Checks an `Authorization: Digest` header (MD5, `qop=auth` or none) against the accounts;
/// the user's name if it is right.
fn check_digest(shared: &Shared, digest: &Digest, method: &str, auth: &str) -> Option<String> {
    let f = digest_fields(auth);
    let (user, nonce, uri, response) = (
        f.get("username")?,
        f.get("nonce")?,
        f.get("uri")?,
        f.get("response")?,
    );
    if !digest
        .valid
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(nonce)
    {
        return None;
    }
    let account = shared.accounts.get(user)?;
    let secret = account.secret.as_deref()?;
    let realm = f.get("realm").map(String::as_str).unwrap_or("asterisk");
    let ha1 = md5_hex(&[user, realm, secret]);
    let ha2 = md5_hex(&[method, uri]);
    let want = match f.get("qop") {
        Some(qop) => md5_hex(&[
            &ha1,
            nonce,
            f.get("nc").map(String::as_str).unwrap_or(""),
            f.get("cnonce").map(String::as_str).unwrap_or(""),
            qop,
            &ha2,
        ]),
        None => md5_hex(&[&ha1, nonce, &ha2]),
    };
    want.eq_ignore_ascii_case(response)
        .then(|| account.username.clone())
}

const UNAUTHORIZED: &str =
    "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\r\n<html><head>\r\n\
<title>401 Unauthorized</title>\r\n</head><body>\r\n<h1>Unauthorized</h1>\r\n<p></p>\r\n<hr />\r\n\
<address>Asterisk/22.10.1</address>\r\n</body></html>\r\n";

async fn unauthorized(stream: &mut TcpStream, nonce: &str) {
    let body = UNAUTHORIZED.as_bytes();
    let head = format!(
        "HTTP/1.1 401 Unauthorized\r\nServer: Asterisk/22.10.1\r\nDate: {}\r\nConnection: close\r\n\
         Cache-Control: no-cache, no-store\r\nWWW-authenticate: Digest algorithm=MD5, realm=\"asterisk\", \
         nonce=\"{nonce}\", qop=\"auth\", opaque=\"{nonce}\"\r\nContent-type: text/html\r\n\
         Content-Length: {}\r\n\r\n",
        http_date(SystemTime::now()),
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}

pub(crate) async fn http_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    events: broadcast::Sender<SimEvent>,
    mut shutdown: watch::Receiver<bool>,
    digest: Arc<Digest>,
) {
    let sessions: Sessions = Arc::default();
    loop {
        tokio::select! {
            r = listener.accept() => {
                let Ok((stream, peer)) = r else { continue };
                tokio::spawn(serve(
                    stream,
                    peer,
                    shared.clone(),
                    events.clone(),
                    sessions.clone(),
                    digest.clone(),
                ));
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// `%XX` and `+` decoding of a form or query component.
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn params(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

/// `Mon, 23 Nov 2026 17:08:27 GMT`.
fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (date, time) = crate::session::civil_pub(secs);
    let (y, rest) = date.split_once('-').unwrap_or(("1970", "01-01"));
    let (m, d) = rest.split_once('-').unwrap_or(("01", "01"));
    let month = MONTHS[m.parse::<usize>().unwrap_or(1).clamp(1, 12) - 1];
    let wd = DAYS[((secs / 86_400) % 7) as usize];
    format!("{wd}, {d} {month} {y} {time} GMT")
}

/// How the answer is rendered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Raw,
    Xml,
}

/// `/mxml`: each message as `<response type='object' id='unknown'><generic key='value' …/>`,
/// keys lower-cased (characters other than letters and digits as `_`), values XML-escaped.
fn to_xml(body: &[u8]) -> Vec<u8> {
    fn esc(out: &mut String, s: &str, key: bool) {
        for c in s.chars() {
            match c {
                c if key && !c.is_ascii_alphanumeric() => out.push('_'),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&apos;"),
                '&' => out.push_str("&amp;"),
                c if key => out.push(c.to_ascii_lowercase()),
                c => out.push(c),
            }
        }
    }
    let mut out = String::from("<ajax-response>\n");
    let mut d = Decoder::with_config(DecoderConfig::without_banner());
    let _ = d.feed(body);
    while let Ok(Some(Frame::Message(m))) = d.decode() {
        out.push_str("<response type='object' id='unknown'><generic");
        for h in m.iter() {
            out.push(' ');
            esc(&mut out, &String::from_utf8_lossy(h.name()), true);
            out.push_str("='");
            esc(&mut out, &String::from_utf8_lossy(h.value()), false);
            out.push('\'');
        }
        out.push_str(" /></response>\n");
    }
    out.push_str("</ajax-response>\n");
    out.into_bytes()
}

async fn respond(stream: &mut TcpStream, status: &str, cookie: Option<u32>, body: &[u8]) {
    respond_as(stream, status, cookie, body, Format::Raw).await
}

async fn respond_as(
    stream: &mut TcpStream,
    status: &str,
    cookie: Option<u32>,
    body: &[u8],
    format: Format,
) {
    let xml;
    let (body, ctype) = match format {
        Format::Raw => (body, "text/plain"),
        Format::Xml => {
            xml = to_xml(body);
            (&xml[..], "text/xml")
        }
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nServer: Asterisk/22.10.1\r\nDate: {}\r\nConnection: close\r\n\
         Cache-Control: no-cache, no-store\r\nContent-type: {ctype}\r\n",
        http_date(SystemTime::now())
    );
    if let Some(id) = cookie {
        head.push_str(&format!(
            "Set-Cookie: mansession_id=\"{id:08x}\"; Version=1; Max-Age={}\r\nPragma: SuppressEvents\r\n",
            HTTP_TIMEOUT.as_secs()
        ));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}

async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    events: broadcast::Sender<SimEvent>,
    sessions: Sessions,
    digest: Arc<Digest>,
) {
    // The request head, then the body by Content-Length.
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 8192];
    let head_end = loop {
        if let Some(i) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                None,
                b"",
            )
            .await;
        }
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request = lines.next().unwrap_or("");
    let mut parts = request.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut content_length = 0usize;
    let mut cookie = None;
    let mut authorization = None;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            content_length = v.parse().unwrap_or(0);
        } else if k.eq_ignore_ascii_case("authorization") {
            authorization = Some(v.to_owned());
        } else if k.eq_ignore_ascii_case("cookie") {
            cookie = v
                .split(';')
                .filter_map(|c| c.trim().strip_prefix("mansession_id="))
                .map(|c| c.trim_matches('"'))
                .find_map(|c| u32::from_str_radix(c, 16).ok());
        }
    }
    if content_length > MAX_BODY {
        return respond(&mut stream, "413 Payload Too Large", None, b"").await;
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < content_length {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => body.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
    body.truncate(content_length);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (format, digest_auth) = match path {
        "/rawman" => (Format::Raw, false),
        "/mxml" => (Format::Xml, false),
        "/arawman" => (Format::Raw, true),
        "/amxml" => (Format::Xml, true),
        "/manager" => return respond(&mut stream, "501 Not Implemented", None, b"").await,
        "/amanager" => (Format::Raw, true),
        _ => return respond(&mut stream, "404 Not Found", None, b"").await,
    };
    // Digest: the user's own session, no cookie.
    let digest_user = if digest_auth {
        match authorization
            .as_deref()
            .and_then(|a| check_digest(&shared, &digest, method, a))
        {
            Some(u) => Some(u),
            None => return unauthorized(&mut stream, &digest.next_nonce()).await,
        }
    } else {
        None
    };
    let mut ps = params(query);
    if method.eq_ignore_ascii_case("POST") {
        ps.extend(params(&String::from_utf8_lossy(&body)));
    }

    // The session of the cookie (or of the Digest user), or a new one.
    let local = stream.local_addr().unwrap_or(peer);
    let (id, hs) = if let Some(user) = &digest_user {
        let mut map = digest.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let hs = map
            .entry(user.clone())
            .or_insert_with(|| {
                let mut session = Session::new(shared.clone(), peer, local);
                session.set_http();
                session.authenticate(user);
                Arc::new(tokio::sync::Mutex::new(HttpSession {
                    session,
                    rx: Some(events.subscribe()),
                    last: Instant::now(),
                }))
            })
            .clone();
        (0, hs)
    } else {
        let mut map = sessions.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| {
            s.try_lock()
                .map(|s| s.last.elapsed() < HTTP_TIMEOUT)
                .unwrap_or(true)
        });
        match cookie.and_then(|c| map.get(&c).map(|s| (c, s.clone()))) {
            Some(found) => found,
            None => {
                use std::hash::BuildHasher;
                let id = std::collections::hash_map::RandomState::new().hash_one(peer) as u32;
                let mut session = Session::new(shared.clone(), peer, local);
                session.set_http();
                let hs = Arc::new(tokio::sync::Mutex::new(HttpSession {
                    session,
                    rx: None,
                    last: Instant::now(),
                }));
                map.insert(id, hs.clone());
                (id, hs)
            }
        }
    };
    let cookie_out = digest_user.is_none().then_some(id);
    let mut hs = hs.lock().await;
    hs.last = Instant::now();

    // The parameters as one AMI action (values with line breaks are refused: they would
    // smuggle headers in).
    let mut text = String::new();
    for (k, v) in &ps {
        if k.is_empty() || [k, v].iter().any(|s| s.contains(['\r', '\n'])) {
            continue;
        }
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    let action = ps
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("action"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    let action_id = ps
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("actionid"))
        .map(|(_, v)| v.clone());

    if action == "waitevent" && hs.session.user().is_some() {
        let timeout = ps
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("timeout"))
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .unwrap_or(30)
            .min(HTTP_TIMEOUT.as_secs() - 10);
        let mut out = String::from("Response: Success\r\n");
        if let Some(id) = &action_id {
            out.push_str(&format!("ActionID: {id}\r\n"));
        }
        out.push_str("Message: Waiting for Event completed.\r\n\r\n");
        let mut out = out.into_bytes();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let HttpSession { session, rx, .. } = &mut *hs;
        if let Some(rx) = rx.as_mut() {
            let mut got = false;
            loop {
                let next = if got {
                    rx.try_recv().ok()
                } else {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Ok(ev)) => Some(ev),
                        Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                        _ => None,
                    }
                };
                let Some(ev) = next else { break };
                if session.may_want(&ev) {
                    out.extend_from_slice(&ev.text);
                    got = true;
                }
            }
        }
        let mut done = String::from("Event: WaitEventComplete\r\n");
        if let Some(id) = &action_id {
            done.push_str(&format!("ActionID: {id}\r\n"));
        }
        done.push_str("\r\n");
        out.extend_from_slice(done.as_bytes());
        return respond_as(&mut stream, "200 OK", cookie_out, &out, format).await;
    }

    let mut dec = Decoder::with_config(DecoderConfig::without_banner());
    let _ = dec.feed(text.as_bytes());
    let reply = match dec.decode() {
        Ok(Some(Frame::Message(m))) => hs.session.handle(&m),
        _ => return respond(&mut stream, "400 Bad Request", None, b"").await,
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    if hs.rx.is_none() && hs.session.user().is_some() {
        hs.rx = Some(events.subscribe());
    }
    for e in &reply.events {
        let _ = events.send(e.clone());
    }
    let mut bytes = reply.bytes.clone();
    if let Some(req) = reply.originate.clone() {
        if let Some(answer) = crate::call::originate(req, &shared, &events).await {
            bytes = answer;
        }
    }
    if reply.then == Then::Close && digest_user.is_none() {
        sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
    drop(hs);
    respond_as(&mut stream, "200 OK", cookie_out, &bytes, format).await;
}
