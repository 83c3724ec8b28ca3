//! AMI over HTTP, `/rawman` (plain text, as recording 11a shows) and `/mxml` (the same
//! messages as XML, recording 11b): every request carries one action as query or form
//! parameters; the session is kept by the `mansession_id` cookie; events are collected per
//! session and handed out by `WaitEvent`. `/manager` renders the same as an HTML page; the
//! Digest-authenticated `/arawman`, `/amxml` and `/amanager` (recording 11d) follow
//! main/manager.c `auth_http_callback`: a session per user and nonce, `nc` that must grow.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use amiwire::{Decoder, DecoderConfig, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};

use crate::form::url_decode_lossy;
use crate::pbx::Shared;
use crate::session::{Session, Then};
use crate::wire::SimEvent;

mod digest;
mod render;

pub(crate) use self::digest::Digest;
use self::digest::*;
use self::render::*;

/// Largest request head and body accepted.
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;
/// The most header lines of a request.
const MAX_HEADERS: usize = 128;

struct HttpSession {
    session: Session,
    /// Events since the login, for WaitEvent.
    rx: Option<broadcast::Receiver<SimEvent>>,
    last: Instant,
    /// Counts WaitEvents: the newest is the session's waiter, an older one gives up.
    waiter: u64,
}

type Sessions = Arc<Mutex<HashMap<u32, Arc<tokio::sync::Mutex<HttpSession>>>>>;

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

fn params(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode_lossy(k), url_decode_lossy(v))
        })
        .collect()
}

/// One HTTP request as the simulator reads it.
struct Request {
    method: String,
    /// The path and query.
    target: String,
    /// The `mansession_id` cookie.
    cookie: Option<u32>,
    authorization: Option<String>,
    body: Vec<u8>,
}

/// Reads one request with httparse: the head, then the body by Content-Length. `Err` with the status to
/// answer (none: the connection is just closed).
async fn read_request(stream: &mut TcpStream) -> Result<Request, Option<&'static str>> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 8192];
    let head_end = loop {
        let mut probe = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
        match httparse::Request::new(&mut probe).parse(&buf) {
            Ok(httparse::Status::Complete(n)) => break n,
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Some("431 Request Header Fields Too Large"))
            }
            Err(_) => return Err(Some("400 Bad Request")),
        }
        if buf.len() > MAX_HEAD {
            return Err(Some("431 Request Header Fields Too Large"));
        }
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return Err(None),
        }
    };
    let mut headers = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    // Complete above: the same bytes parse the same way.
    let _ = req.parse(&buf[..head_end]);
    let (method, target) = (req.method.unwrap_or(""), req.path.unwrap_or(""));
    let mut content_length = 0usize;
    let mut cookie = None;
    let mut authorization = None;
    for h in req.headers.iter() {
        let v = String::from_utf8_lossy(h.value);
        let v = v.trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            content_length = v.parse().unwrap_or(0);
        } else if h.name.eq_ignore_ascii_case("authorization") {
            authorization = Some(v.to_owned());
        } else if h.name.eq_ignore_ascii_case("cookie") {
            cookie = v
                .split(';')
                .filter_map(|c| c.trim().strip_prefix("mansession_id="))
                .map(|c| c.trim_matches('"'))
                .find_map(|c| u32::from_str_radix(c, 16).ok());
        }
    }
    if content_length > MAX_BODY {
        return Err(Some("413 Payload Too Large"));
    }
    let mut body = buf[head_end..].to_vec();
    while body.len() < content_length {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => body.extend_from_slice(&chunk[..n]),
            _ => return Err(None),
        }
    }
    body.truncate(content_length);
    Ok(Request {
        method: method.to_owned(),
        target: target.to_owned(),
        cookie,
        authorization,
        body,
    })
}

/// The answer format of a path, and whether it takes Digest authentication.
fn route(path: &str) -> Option<(Format, bool)> {
    Some(match path {
        "/rawman" => (Format::Raw, false),
        "/mxml" => (Format::Xml, false),
        "/arawman" => (Format::Raw, true),
        "/amxml" => (Format::Xml, true),
        "/manager" => (Format::Html, false),
        "/amanager" => (Format::Html, true),
        _ => return None,
    })
}

/// ast_http_error(ser, 403, "Permission denied", "Permission denied"), in the page layout
/// of the recorded 401 answers.
const FORBIDDEN: &str = "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\r\n<html><head>\r\n\
     <title>403 Permission denied</title>\r\n</head><body>\r\n\
     <h1>Permission denied</h1>\r\n<p>Permission denied</p>\r\n<hr />\r\n\
     <address>Asterisk/22.10.1</address>\r\n</body></html>\r\n";

/// The session of a cookie, or a new one (whose cookie the answer sets). Sessions idle for
/// `shared.http_timeout` are forgotten first.
fn cookie_session(
    sessions: &Sessions,
    cookie: Option<u32>,
    shared: &Arc<Shared>,
    peer: SocketAddr,
    local: SocketAddr,
) -> (u32, Arc<tokio::sync::Mutex<HttpSession>>) {
    let mut map = sessions.lock().unwrap_or_else(|e| e.into_inner());
    map.retain(|_, s| {
        s.try_lock()
            .map(|s| s.last.elapsed() < shared.http_timeout)
            .unwrap_or(true)
    });
    if let Some(found) = cookie.and_then(|c| map.get(&c).map(|s| (c, s.clone()))) {
        return found;
    }
    let id = shared.random.next_u64() as u32;
    let mut session = Session::new(shared.clone(), peer, local);
    session.set_http();
    let hs = Arc::new(tokio::sync::Mutex::new(HttpSession {
        session,
        rx: None,
        waiter: 0,
        last: Instant::now(),
    }));
    map.insert(id, hs.clone());
    (id, hs)
}

/// The parameters as one AMI action (values with line breaks are refused: they would
/// smuggle headers in).
fn action_text(ps: &[(String, String)]) -> String {
    let mut text = String::new();
    for (k, v) in ps {
        if k.is_empty() || [k, v].iter().any(|s| s.contains(['\r', '\n'])) {
            continue;
        }
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text
}

/// The value of a parameter, in any case of its name.
fn param<'p>(ps: &'p [(String, String)], name: &str) -> Option<&'p str> {
    ps.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// WaitEvent over HTTP: the session's events since its login (or the last WaitEvent),
/// waiting up to its Timeout for the first, capped at `httptimeout - 10` s. As in Asterisk
/// (`action_waitevent_http`), the session is not locked while it waits (its actions run
/// meanwhile), it looks again at least once a second, and a newer WaitEvent on the same
/// session replaces it: the older one then answers with an empty body.
async fn wait_event(
    arc: &Arc<tokio::sync::Mutex<HttpSession>>,
    mut hs: tokio::sync::MutexGuard<'_, HttpSession>,
    ps: &[(String, String)],
    http_timeout: Duration,
) -> Vec<u8> {
    let action_id = param(ps, "actionid");
    let timeout = param(ps, "timeout")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(30)
        .min(http_timeout.as_secs().saturating_sub(10));
    let mut out = String::from("Response: Success\r\n");
    if let Some(id) = action_id {
        out.push_str(&format!("ActionID: {id}\r\n"));
    }
    out.push_str("Message: Waiting for Event completed.\r\n\r\n");
    let mut out = out.into_bytes();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    hs.waiter += 1;
    let me = hs.waiter;
    let mut rx = hs.rx.take();
    drop(hs);
    let mut first = None;
    loop {
        let until = deadline.min(tokio::time::Instant::now() + Duration::from_secs(1));
        match rx.as_mut() {
            Some(r) => match tokio::time::timeout_at(until, r.recv()).await {
                Ok(Ok(ev)) => first = Some(ev),
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(broadcast::error::RecvError::Closed)) => {
                    tokio::time::sleep_until(until).await
                }
                Err(_) => {}
            },
            None => tokio::time::sleep_until(until).await,
        }
        let mut hs = arc.lock().await;
        if hs.waiter != me {
            // Replaced: the newer waiter gets the receiver (and the events queued in it).
            if hs.rx.is_none() {
                hs.rx = rx;
            }
            return Vec::new();
        }
        if rx.is_none() {
            rx = hs.rx.take();
        }
        let mut got = false;
        if let Some(ev) = first.take() {
            if hs.session.may_want(&ev) {
                out.extend_from_slice(&ev.text);
                got = true;
            }
        }
        if got {
            if let Some(r) = rx.as_mut() {
                while let Ok(ev) = r.try_recv() {
                    if hs.session.may_want(&ev) {
                        out.extend_from_slice(&ev.text);
                    }
                }
            }
        }
        if got || tokio::time::Instant::now() >= deadline {
            hs.rx = rx;
            break;
        }
    }
    let mut done = String::from("Event: WaitEventComplete\r\n");
    if let Some(id) = action_id {
        done.push_str(&format!("ActionID: {id}\r\n"));
    }
    done.push_str("\r\n");
    out.extend_from_slice(done.as_bytes());
    out
}

async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    events: broadcast::Sender<SimEvent>,
    sessions: Sessions,
    digest: Arc<Digest>,
) {
    let req = match read_request(&mut stream).await {
        Ok(req) => req,
        Err(Some(status)) => return respond(&mut stream, status, None, b"").await,
        Err(None) => return,
    };
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let Some((format, digest_auth)) = route(path) else {
        return respond(&mut stream, "404 Not Found", None, b"").await;
    };
    // Digest: the session of the user and nonce, no cookie.
    let local = stream.local_addr().unwrap_or(peer);
    let digest_session = if digest_auth {
        let auth = req.authorization.as_deref();
        match check_digest(&shared, &digest, &events, &req.method, auth, peer, local) {
            DigestOutcome::Session(hs) => Some(hs),
            DigestOutcome::Unauthorized { nonce, stale } => {
                return unauthorized(&mut stream, nonce, stale).await
            }
            DigestOutcome::Forbidden => {
                let status = "403 Permission denied";
                let body = FORBIDDEN.as_bytes();
                return respond_as(&mut stream, status, None, body, "text/html").await;
            }
        }
    } else {
        None
    };
    let mut ps = params(query);
    if req.method.eq_ignore_ascii_case("POST") {
        ps.extend(params(&String::from_utf8_lossy(&req.body)));
    }
    // The session of the cookie (or of the Digest user and nonce), or a new one.
    let (id, hs) = match &digest_session {
        Some(hs) => (0, hs.clone()),
        None => cookie_session(&sessions, req.cookie, &shared, peer, local),
    };
    let cookie_out = digest_session
        .is_none()
        .then_some((id, shared.http_timeout));
    let arc = hs;
    let mut hs = arc.lock().await;
    hs.last = Instant::now();
    let action = param(&ps, "action").map(str::to_ascii_lowercase);
    if action.as_deref() == Some("waitevent") && hs.session.user().is_some() {
        let out = wait_event(&arc, hs, &ps, shared.http_timeout).await;
        return answer(&mut stream, cookie_out, &out, format, digest_auth, &ps).await;
    }
    let Some((bytes, close)) = run_action(&mut hs, &ps, &shared, &events).await else {
        return respond(&mut stream, "400 Bad Request", None, b"").await;
    };
    if close {
        // Logoff: Asterisk destroys the session (needdestroy).
        match &digest_session {
            Some(d) => digest
                .sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|s| !Arc::ptr_eq(&s.hs, d)),
            None => {
                sessions
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
            }
        }
    }
    drop(hs);
    answer(&mut stream, cookie_out, &bytes, format, digest_auth, &ps).await;
}

/// Runs the parameters as an action in the HTTP session: the answer, and whether the
/// session ends (Logoff); `None` if they make no action.
async fn run_action(
    hs: &mut HttpSession,
    ps: &[(String, String)],
    shared: &Shared,
    events: &broadcast::Sender<SimEvent>,
) -> Option<(Vec<u8>, bool)> {
    let text = action_text(ps);
    let mut dec = Decoder::with_config(DecoderConfig::without_banner());
    let _ = dec.feed(text.as_bytes());
    let reply = match dec.decode() {
        Ok(Some(Frame::Message(m))) => hs.session.handle(&m),
        _ => return None,
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
        if let Some(answer) = crate::call::originate(req, shared.call_env(), events).await {
            bytes = answer;
        }
    }
    Some((bytes, reply.then == Then::Close))
}
