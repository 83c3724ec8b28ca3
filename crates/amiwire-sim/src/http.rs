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

/// Sessions idle this long are forgotten (Asterisk's `httptimeout` default).
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
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
}

type Sessions = Arc<Mutex<HashMap<u32, Arc<tokio::sync::Mutex<HttpSession>>>>>;

/// A Digest-authenticated session: Asterisk keys them by user and nonce (its `managerid`),
/// and keeps the last nonce count and the previous nonce (main/manager.c
/// `find_session_by_nonce`, `auth_http_callback`).
struct DigestSession {
    user: String,
    nonce: u64,
    oldnonce: u64,
    nc: u64,
    noncetime: Instant,
    last: Instant,
    hs: Arc<tokio::sync::Mutex<HttpSession>>,
}

/// Digest sessions kept at most (the oldest idle one goes first); Asterisk forgets them after
/// `httptimeout` idle, as here.
const MAX_DIGEST_SESSIONS: usize = 256;

/// HTTP Digest state: the nonces to hand out in 401 answers (the configured ones first, then
/// random ones) and the sessions of Digest-authenticated users.
#[derive(Default)]
pub(crate) struct Digest {
    queue: Mutex<std::collections::VecDeque<String>>,
    sessions: Mutex<Vec<DigestSession>>,
    /// The simulator's random source, for the nonces after those queued.
    random: Arc<crate::wire::Random>,
}

impl Digest {
    pub(crate) fn new(nonces: Vec<String>, random: Arc<crate::wire::Random>) -> Digest {
        Digest {
            queue: Mutex::new(nonces.into()),
            random,
            ..Digest::default()
        }
    }

    /// A new nonce (Asterisk: `ast_random()`).
    fn next_nonce(&self) -> u64 {
        let queued = self
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        match queued.and_then(|n| parse_hex(&n)) {
            Some(n) => n,
            // ast_random() is random(): 31 bits.
            None => self.random.next_u64() & 0x7fff_ffff,
        }
    }
}

/// `sscanf("%30lx")`: blanks, an optional `0x`, then hex digits (at most 30 read; the value
/// saturates as strtoul's does).
fn parse_hex(s: &str) -> Option<u64> {
    let t = s.trim_start();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .filter(|r| r.starts_with(|c: char| c.is_ascii_hexdigit()))
        .unwrap_or(t);
    let digits: String = t
        .chars()
        .take(30)
        .take_while(char::is_ascii_hexdigit)
        .collect();
    if digits.is_empty() {
        return None;
    }
    Some(u64::from_str_radix(&digits, 16).unwrap_or(u64::MAX))
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

/// What an `Authorization: Digest` header earns.
enum DigestOutcome {
    /// The session to run the action in.
    Session(Arc<tokio::sync::Mutex<HttpSession>>),
    /// `401` with this nonce (`stale=true` when the session exists but wants a new nonce).
    Unauthorized { nonce: u64, stale: bool },
    /// `403`: the user's ACL refuses the address.
    Forbidden,
}

/// main/manager.c `auth_http_callback`: checks the Digest answer (MD5; with `qop`, RFC 2617
/// with `auth`, else RFC 2069) against the user's secret and the realm `asterisk`, then finds
/// the session of this user and nonce, or makes one. A known session wants `nc` above the
/// last one it accepted (a replay gets a new nonce, `stale=true`) and a nonce younger than
/// 62 s; a request with a session's previous nonce is told its current one (`stale=true`).
/// As in Asterisk, the first request of a new session does not record its `nc`, and a nonce
/// the server never issued is accepted if the answer is right.
fn check_digest(
    shared: &Arc<Shared>,
    digest: &Digest,
    events: &broadcast::Sender<SimEvent>,
    method: &str,
    auth: Option<&str>,
    peer: SocketAddr,
    local: SocketAddr,
) -> DigestOutcome {
    let fresh = || DigestOutcome::Unauthorized {
        nonce: digest.next_nonce(),
        stale: false,
    };
    let Some(auth) = auth.filter(|a| !a.trim().is_empty()) else {
        return fresh();
    };
    let f = digest_fields(auth);
    let (Some(user), Some(nonce_text)) = (f.get("username"), f.get("nonce")) else {
        return fresh();
    };
    if !f.contains_key("uri") || !f.contains_key("response") {
        return fresh();
    }
    if f.contains_key("qop") && (!f.contains_key("nc") || !f.contains_key("cnonce")) {
        return fresh();
    }
    let Some(nonce) = parse_hex(nonce_text) else {
        return fresh();
    };
    let Some(account) = shared.accounts.get(user) else {
        return fresh();
    };
    if !account.permits(peer.ip()) {
        return DigestOutcome::Forbidden;
    }
    if !digest_answer_ok(&f, account, method, nonce) {
        return fresh();
    }
    let mut sessions = digest.sessions.lock().unwrap_or_else(|e| e.into_inner());
    sessions.retain(|s| s.last.elapsed() < HTTP_TIMEOUT);
    let now = Instant::now();
    let found = sessions.iter_mut().find_map(|s| {
        if !s.user.eq_ignore_ascii_case(user) {
            None
        } else if s.nonce == nonce {
            Some((s, false))
        } else if s.oldnonce == nonce {
            Some((s, true))
        } else {
            None
        }
    });
    match found {
        Some((s, true)) => DigestOutcome::Unauthorized {
            nonce: s.nonce,
            stale: true,
        },
        Some((s, false)) => next_request(s, digest, f.get("nc"), now),
        None => {
            let hs = new_digest_session(&mut sessions, shared, events, account, (peer, local), now);
            sessions.push(DigestSession {
                user: account.username.clone(),
                nonce,
                oldnonce: 0,
                nc: 0,
                noncetime: now,
                last: now,
                hs: hs.clone(),
            });
            DigestOutcome::Session(hs)
        }
    }
}

/// Whether the Digest answer is right: MD5 of the user's secret in realm `asterisk` (with
/// `qop`, RFC 2617 with `auth`; else RFC 2069), compared as
/// `strncasecmp(response, expected, 32)`.
fn digest_answer_ok(
    f: &HashMap<String, String>,
    account: &crate::accounts::Account,
    method: &str,
    nonce: u64,
) -> bool {
    let (Some(uri), Some(response)) = (f.get("uri"), f.get("response")) else {
        return false;
    };
    let qop = f.contains_key("qop");
    let (nc_text, cnonce) = (f.get("nc"), f.get("cnonce"));
    let Some(secret) = account.secret.as_deref() else {
        return false;
    };
    let ha1 = md5_hex(&[&account.username, "asterisk", secret]);
    let ha2 = md5_hex(&[method, uri]);
    let nonce_hex = format!("{nonce:08x}");
    let want = if qop {
        md5_hex(&[
            &ha1,
            &nonce_hex,
            nc_text.map(String::as_str).unwrap_or(""),
            cnonce.map(String::as_str).unwrap_or(""),
            "auth",
            &ha2,
        ])
    } else {
        md5_hex(&[&ha1, &nonce_hex, &ha2])
    };
    response
        .get(..want.len())
        .is_some_and(|r| r.eq_ignore_ascii_case(&want))
}

/// A request of a known Digest session with its current nonce: `nc` must grow and the nonce
/// be younger than 62 s, else a new nonce (`stale=true`).
fn next_request(
    s: &mut DigestSession,
    digest: &Digest,
    nc_text: Option<&String>,
    now: Instant,
) -> DigestOutcome {
    // Without qop there is no nc (Asterisk then reads an uninitialised variable); the
    // simulator does not count such requests.
    let nc = match nc_text {
        Some(t) => parse_hex(t).unwrap_or(0),
        None => s.nc.saturating_add(1),
    };
    if s.nc >= nc || now.duration_since(s.noncetime).as_secs() > 62 {
        s.nc = 0;
        s.oldnonce = s.nonce;
        s.nonce = digest.next_nonce();
        s.noncetime = now;
        return DigestOutcome::Unauthorized {
            nonce: s.nonce,
            stale: true,
        };
    }
    s.nc = nc;
    s.last = now;
    DigestOutcome::Session(s.hs.clone())
}

/// A new Digest session, logged in as the account (the least recently used one is
/// forgotten when there are `MAX_DIGEST_SESSIONS`).
fn new_digest_session(
    sessions: &mut Vec<DigestSession>,
    shared: &Arc<Shared>,
    events: &broadcast::Sender<SimEvent>,
    account: &crate::accounts::Account,
    (peer, local): (SocketAddr, SocketAddr),
    now: Instant,
) -> Arc<tokio::sync::Mutex<HttpSession>> {
    if sessions.len() >= MAX_DIGEST_SESSIONS {
        if let Some(i) = sessions
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| s.last)
            .map(|(i, _)| i)
        {
            sessions.remove(i);
        }
    }
    let mut session = Session::new(shared.clone(), peer, local);
    session.set_http();
    session.authenticate(&account.username);
    Arc::new(tokio::sync::Mutex::new(HttpSession {
        session,
        rx: Some(events.subscribe()),
        last: now,
    }))
}

const UNAUTHORIZED: &str =
    "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\r\n<html><head>\r\n\
<title>401 Unauthorized</title>\r\n</head><body>\r\n<h1>Unauthorized</h1>\r\n<p></p>\r\n<hr />\r\n\
<address>Asterisk/22.10.1</address>\r\n</body></html>\r\n";

/// main/http.c `ast_http_auth`: the challenge (nonce and opaque alike, `%08lx`), with
/// `, stale=true` when asked.
async fn unauthorized(stream: &mut TcpStream, nonce: u64, stale: bool) {
    let body = UNAUTHORIZED.as_bytes();
    let stale = if stale { ", stale=true" } else { "" };
    let head = format!(
        "HTTP/1.1 401 Unauthorized\r\nServer: Asterisk/22.10.1\r\nDate: {}\r\nConnection: close\r\n\
         Cache-Control: no-cache, no-store\r\nWWW-authenticate: Digest algorithm=MD5, realm=\"asterisk\", \
         nonce=\"{nonce:08x}\", qop=\"auth\", opaque=\"{nonce:08x}\"{stale}\r\nContent-type: text/html\r\n\
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

fn params(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode_lossy(k), url_decode_lossy(v))
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
    let (date, time) = crate::wire::civil(secs);
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
    Html,
}

/// `mode & 1`: lower case; `mode & 2`: characters other than letters and digits as `_`, and a
/// leading digit after a `_` (main/manager.c `xml_copy_escape`).
fn xml_copy_escape(out: &mut String, s: &str, mode: u8) {
    for (i, c) in s.chars().enumerate() {
        if mode & 2 != 0 {
            if i == 0 && c.is_ascii_digit() {
                out.push('_');
                out.push(c);
                continue;
            } else if !c.is_ascii_alphanumeric() {
                out.push('_');
                continue;
            }
        }
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '&' => out.push_str("&amp;"),
            c if mode != 0 => out.push(c.to_ascii_lowercase()),
            c => out.push(c),
        }
    }
}

/// main/manager.c `xml_translate`, for `/mxml` and `/manager`: each message (block of
/// `Name: value` lines) becomes `<response type='object' id='<ajaxdest>'><<ajaxobjtype> name='value' …
/// /></response>` (names lower-cased, `unknown` and `generic` by default) or two-column table
/// rows closed by a `<hr>` row; a name repeated in a block gets `-2`, `-3`…; a line without a
/// colon starts `Opaque-data`, which takes every line up to the blank one.
fn translate(body: &[u8], format: Format, params: &[(String, String)]) -> String {
    let xml = format == Format::Xml;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.is_empty())
            .map(|(_, v)| v.as_str())
    };
    let dest = param("ajaxdest").unwrap_or("unknown");
    let objtype = param("ajaxobjtype").unwrap_or("generic");
    let text = String::from_utf8_lossy(body);
    // strsep at '\r' or '\n', a '\n' right after a separator skipped.
    let mut lines = Vec::new();
    let mut rest: &str = &text;
    while !rest.is_empty() {
        match rest.find(['\r', '\n']) {
            Some(i) => {
                lines.push(&rest[..i]);
                rest = &rest[i + 1..];
                rest = rest.strip_prefix('\n').unwrap_or(rest);
            }
            None => {
                lines.push(rest);
                rest = "";
            }
        }
    }
    let mut out = String::new();
    let mut in_data = false;
    let mut counts: Option<HashMap<String, usize>> = None;
    let n = lines.len();
    for (i, line) in lines.into_iter().enumerate() {
        let last = i + 1 == n;
        let val = line.trim_end_matches([' ', '\t']);
        if val.is_empty() {
            if in_data {
                out.push_str(if xml { "'" } else { "</td></tr>\n" });
                in_data = false;
            }
            if counts.take().is_some() {
                out.push_str(if xml {
                    " /></response>\n"
                } else {
                    "<tr><td colspan=\"2\"><hr></td></tr>\r\n"
                });
            }
            continue;
        }
        let counts = counts.get_or_insert_with(|| {
            if xml {
                out.push_str(&format!("<response type='object' id='{dest}'><{objtype}"));
            }
            HashMap::new()
        });
        if in_data {
            out.push_str(if xml { "\n" } else { "<br>\n" });
            xml_copy_escape(&mut out, val, 0);
            continue;
        }
        let (var, val) = match val.split_once(':') {
            Some((k, v)) => (
                k.trim_end_matches([' ', '\t']),
                v.trim_start_matches([' ', '\t']),
            ),
            None => {
                in_data = true;
                ("Opaque-data", val)
            }
        };
        out.push_str(if xml { " " } else { "<tr><td>" });
        let count = counts.entry(var.to_owned()).or_insert(0);
        *count += 1;
        xml_copy_escape(&mut out, var, if xml { 3 } else { 0 });
        if *count > 1 {
            out.push_str(&format!("-{count}"));
        }
        out.push_str(if xml { "='" } else { "</td><td>" });
        xml_copy_escape(&mut out, val, 0);
        if !in_data || last {
            out.push_str(if xml { "'" } else { "</td></tr>\n" });
        }
    }
    if counts.is_some() {
        out.push_str(if xml {
            " /></response>\n"
        } else {
            "<tr><td colspan=\"2\"><hr></td></tr>\r\n"
        });
    }
    out
}

/// The form `generic_http_callback` puts at the top of `/manager` pages (`TEST_STRING`, a C
/// string whose continuation lines keep their leading tabs).
const MANAGER_FORM: &str = "<form action=\"manager\" method=\"post\">\n\
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
\t<input type=\"submit\">\n</form>\n";

/// The page around the translated answer: `generic_http_callback` (`/manager`, `/mxml`) or
/// `auth_http_callback` (`/amanager`, `/amxml`; the HTML as recording 11d shows it).
fn render(body: &[u8], format: Format, digest: bool, params: &[(String, String)]) -> Vec<u8> {
    let mut out = String::new();
    match format {
        Format::Raw => return body.to_vec(),
        Format::Xml => {
            out.push_str("<ajax-response>\n");
            out.push_str(&translate(body, format, params));
            out.push_str("</ajax-response>\n");
        }
        Format::Html if digest => {
            out.push_str(
                "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\r\n<html><head>\r\n\
                 <title>Asterisk&trade; Manager Interface</title>\r\n\
                 </head><body style=\"background-color: #ffffff;\">\r\n<form method=\"POST\">\r\n\
                 <table align=\"center\" style=\"background-color: #f1f1f1;\" width=\"500\">\r\n\
                 <tr><th colspan=\"2\" style=\"background-color: #f1f1ff;\"><h1>Manager Tester</h1></th></tr>\r\n\
                 <tr><th colspan=\"2\" style=\"background-color: #f1f1ff;\">Action: <input name=\"action\" /> \
                 Cmd: <input name=\"command\" /><br><input type=\"submit\" value=\"Send request\" /></th></tr>\r\n",
            );
            out.push_str(&translate(body, format, params));
            out.push_str("</table></form></body></html>\r\n");
        }
        Format::Html => {
            let row =
                |s: &str| format!("<tr><td colspan=\"2\" bgcolor=\"#f1f1ff\">{s}</td></tr>\r\n");
            out.push_str("<title>Asterisk&trade; Manager Interface</title>");
            out.push_str(
                "<body bgcolor=\"#ffffff\"><table align=center bgcolor=\"#f1f1f1\" width=\"500\">\r\n",
            );
            out.push_str(&row("<h1>Manager Tester</h1>"));
            out.push_str(&row(MANAGER_FORM));
            out.push_str(&translate(body, format, params));
            out.push_str("</table></body>\r\n");
        }
    }
    out.into_bytes()
}

async fn respond(stream: &mut TcpStream, status: &str, cookie: Option<u32>, body: &[u8]) {
    respond_as(stream, status, cookie, body, "text/plain").await
}

async fn respond_as(
    stream: &mut TcpStream,
    status: &str,
    cookie: Option<u32>,
    body: &[u8],
    ctype: &str,
) {
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

/// Writes an AMI answer rendered in `format`.
async fn answer(
    stream: &mut TcpStream,
    cookie: Option<u32>,
    body: &[u8],
    format: Format,
    digest: bool,
    params: &[(String, String)],
) {
    let ctype = match format {
        Format::Raw => "text/plain",
        Format::Xml => "text/xml",
        Format::Html => "text/html",
    };
    let page = render(body, format, digest, params);
    respond_as(stream, "200 OK", cookie, &page, ctype).await
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
/// `HTTP_TIMEOUT` are forgotten first.
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
            .map(|s| s.last.elapsed() < HTTP_TIMEOUT)
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
/// waiting up to its Timeout for the first, capped at `httptimeout - 10` s.
async fn wait_event(hs: &mut HttpSession, ps: &[(String, String)]) -> Vec<u8> {
    let action_id = param(ps, "actionid");
    let timeout = param(ps, "timeout")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(30)
        .min(HTTP_TIMEOUT.as_secs() - 10);
    let mut out = String::from("Response: Success\r\n");
    if let Some(id) = action_id {
        out.push_str(&format!("ActionID: {id}\r\n"));
    }
    out.push_str("Message: Waiting for Event completed.\r\n\r\n");
    let mut out = out.into_bytes();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let HttpSession { session, rx, .. } = hs;
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
    let cookie_out = digest_session.is_none().then_some(id);
    let mut hs = hs.lock().await;
    hs.last = Instant::now();
    let action = param(&ps, "action").map(str::to_ascii_lowercase);
    if action.as_deref() == Some("waitevent") && hs.session.user().is_some() {
        let out = wait_event(&mut hs, &ps).await;
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
