//! `amiwire click2call`: the classic callback web endpoint, done safely, on hyper. `POST /call`
//! with `agent` and `number` rings the agent's phone and, once answered, connects it to the
//! number; `GET /` serves a page that does the same and shows the call's progress live.
//!
//! - **Authenticated:** a bearer token (`Authorization: Bearer …`, the scheme in any case),
//!   compared in constant time.
//! - **Validated:** `agent` and `number` must match their patterns (digits by default), so no
//!   line break or dialplan syntax reaches Asterisk.
//! - **Rate-limited:** a token bucket over all calls (`--rate` per minute).
//! - **One call at a time per number and per agent:** a second request while the first is
//!   ringing or connected (until the agent's channel hangs up, at most `--max-call`) gets 409.
//!   Numbers are compared by their key ([`calls::number_key`]: one leading `+` and one
//!   `--national-prefix` removed), and a call whose outcome is unknown (504) keeps its locks
//!   until its fate is known. After an AMI reconnect the live channels are listed and the calls
//!   whose hang-up fell into the gap are released.
//! - **Fails fast:** while the AMI link is down, `POST /call` is answered 503 at once, and its
//!   Originate is never sent later ([`Client::send_now`]).
//! - **Bounded:** request heads and bodies of at most 8 KiB each (413), 5 s to send the head
//!   (then the connection is cut) and 5 s more for the body (408), 64 connections, of which at most 32 may still be
//!   sending their head and `--max-per-client` (8) come from one address (an IPv6 /64); a
//!   connection over a limit has its request read and answered 503.
//! - **Strict HTTP/1.1** (hyper): conflicting or signed `Content-Length` refused (400),
//!   `Expect: 100-continue` honoured (and not for a request refused before its body), `HEAD`
//!   answered without a body.
//!
//! Answers are JSON: 200 `{"result": "answered", …}` once the agent answered, 502 when the call
//! failed, 504 when no result came in time, 503 when AMI is down, 4xx for the caller's
//! mistakes. With `Accept: text/event-stream`, `POST /call` answers an event stream instead
//! (events `accepted`, `ringing`, `answered`, `hungup`, `failed`, `error`, each with a JSON
//! `data` line), which ends with the call; the page reads it with `fetch`.

mod calls;
mod limits;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use amiwire::action::Originate;
use amiwire::ajam::url::url_decode_strict as url_decode;
use amiwire_tokio::{Client, EventMask};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use regex::Regex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::render::json_str;
use crate::{parse_var, Click2CallArgs, Exit, Failure};
use calls::{CallJob, Calls, Progress};
use limits::{Limits, Ticket};

/// The most a request head (hyper's read buffer) or body may hold.
const MAX_REQUEST: usize = 8 * 1024;
/// The time a client has to send its request (head, then body).
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// An event stream sends a comment this often, so that idle proxies keep it open.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// The page, served at `/`.
const PAGE: &str = include_str!("page.html");

/// A token bucket: `rate` calls per minute, bursts up to `rate`.
struct Bucket {
    tokens: f64,
    rate: f64,
    last: Instant,
}

impl Bucket {
    fn take(&mut self, now: Instant) -> bool {
        let per_sec = self.rate / 60.0;
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * per_sec).min(self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Service {
    client: Client,
    token: Vec<u8>,
    channel: String,
    context: String,
    priority: u32,
    callerid: Option<String>,
    vars: Vec<(String, String)>,
    agent_re: Regex,
    number_re: Regex,
    national_prefix: Option<String>,
    ring_timeout: u32,
    bucket: Mutex<Bucket>,
    calls: Arc<Calls>,
    /// Asks the monitor for a channel check.
    check: mpsc::Sender<()>,
    /// The longest a call keeps its number and agent busy.
    max_call: Duration,
}

type HttpBody = BoxBody<Bytes, Infallible>;

/// An HTTP answer with a JSON body.
struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn error(status: u16, message: &str) -> Reply {
        let mut body = String::from("{\"error\": ");
        json_str(message, &mut body);
        body.push('}');
        Reply { status, body }
    }
}

/// A JSON object built field by field (string values).
#[derive(Default)]
struct Json(String);

impl Json {
    fn field(mut self, k: &str, v: &str) -> Json {
        self.0.push_str(if self.0.is_empty() { "{" } else { ", " });
        json_str(k, &mut self.0);
        self.0.push_str(": ");
        json_str(v, &mut self.0);
        self
    }

    fn number(mut self, k: &str, v: u16) -> Json {
        self.0.push_str(if self.0.is_empty() { "{" } else { ", " });
        json_str(k, &mut self.0);
        self.0.push_str(&format!(": {v}"));
        self
    }

    fn done(mut self) -> String {
        if self.0.is_empty() {
            self.0.push('{');
        }
        self.0.push('}');
        self.0
    }
}

/// The JSON answer for the last progress of a call.
fn final_reply(p: Progress) -> Reply {
    match p {
        Progress::Answered {
            reason,
            channel,
            uniqueid,
        } => Reply {
            status: 200,
            body: Json::default()
                .field("result", "answered")
                .field("reason", &reason)
                .field("channel", &channel)
                .field("uniqueid", &uniqueid)
                .done(),
        },
        Progress::Failed {
            result,
            reason,
            channel,
            message,
        } => {
            let mut j = Json::default().field("result", result);
            if !reason.is_empty() {
                j = j
                    .field("reason", &reason)
                    .field("reason_txt", calls::reason_text(&reason));
            }
            if !channel.is_empty() {
                j = j.field("channel", &channel);
            }
            if !message.is_empty() || result == "refused" {
                j = j.field("message", &message);
            }
            Reply {
                status: 502,
                body: j.done(),
            }
        }
        Progress::Error { status, message } => Reply::error(status, &message),
        // Not a last item for a JSON answer: the call task never ends with these alone.
        Progress::Ringing { .. } | Progress::Hungup { .. } => {
            Reply::error(504, "no result from Asterisk")
        }
    }
}

/// One server-sent event.
fn sse(event: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

fn progress_event(p: &Progress) -> Bytes {
    match p {
        Progress::Ringing { channel } => {
            sse("ringing", &Json::default().field("channel", channel).done())
        }
        Progress::Answered {
            reason, channel, ..
        } => sse(
            "answered",
            &Json::default()
                .field("reason", reason)
                .field("channel", channel)
                .done(),
        ),
        Progress::Hungup { cause, cause_txt } => sse(
            "hungup",
            &Json::default()
                .field("cause", cause)
                .field("cause_txt", cause_txt)
                .done(),
        ),
        Progress::Failed { .. } => sse("failed", &final_reply(p.clone()).body),
        Progress::Error { status, message } => sse(
            "error",
            &Json::default()
                .number("status", *status)
                .field("error", message)
                .done(),
        ),
    }
}

/// The body of an event stream: the call's progress as it comes, a comment every
/// [`KEEPALIVE`], and the end after the call's last event. It holds at most what the call's
/// channel holds (a few items): hyper asks for more only as the client reads.
struct EventBody {
    first: Option<Bytes>,
    rx: mpsc::Receiver<Progress>,
    tick: tokio::time::Interval,
    done: bool,
}

impl Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(b) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        if self.done {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(p)) => {
                self.done = p.is_last();
                return Poll::Ready(Some(Ok(Frame::data(progress_event(&p)))));
            }
            Poll::Ready(None) => {
                self.done = true;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        if self.tick.poll_tick(cx).is_ready() {
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
                b": keep-alive\n\n",
            )))));
        }
        Poll::Pending
    }
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, &x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(!x));
    }
    diff == 0
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case, as RFC
/// 9110 says); `None` without exactly one such header.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let v = values.next()?.as_bytes();
    if values.next().is_some() {
        return None;
    }
    let (scheme, rest) = v.split_at(v.iter().position(|&b| b == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// The `agent` and `number` of a form (first occurrence of each).
fn form(text: &str) -> Result<(Option<String>, Option<String>), Reply> {
    let (mut agent, mut number) = (None, None);
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = url_decode(v).ok_or_else(|| Reply::error(400, "bad URL encoding"))?;
        match k {
            "agent" if agent.is_none() => agent = Some(v),
            "number" if number.is_none() => number = Some(v),
            _ => {}
        }
    }
    Ok((agent, number))
}

/// Whether the client asks for an event stream.
fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("text/event-stream")
        })
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

fn response(status: u16, content_type: &'static str, body: HttpBody) -> Response<HttpBody> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn json_response(reply: Reply) -> Response<HttpBody> {
    let mut r = response(
        reply.status,
        "application/json",
        Full::new(Bytes::from(reply.body)).boxed(),
    );
    match reply.status {
        401 => {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        429 | 503 => {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        _ => {}
    }
    r
}

fn page_response() -> Response<HttpBody> {
    let mut r = response(
        200,
        "text/html; charset=utf-8",
        Full::new(Bytes::from_static(PAGE.as_bytes())).boxed(),
    );
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

fn not_allowed(allow: &'static str) -> Response<HttpBody> {
    let mut r = json_response(Reply::error(405, &format!("use {allow}")));
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

impl Service {
    /// Checks and locks a call, then starts its task; the channel carries its progress.
    fn start_call(
        self: &Arc<Self>,
        agent: &str,
        number: &str,
    ) -> Result<mpsc::Receiver<Progress>, Reply> {
        if !self.agent_re.is_match(agent) {
            return Err(Reply::error(400, "invalid agent"));
        }
        if !self.number_re.is_match(number) {
            return Err(Reply::error(400, "invalid number"));
        }
        let key = calls::number_key(number, self.national_prefix.as_deref());
        let lock = self.calls.lock(agent, &key, || {
            if !self.client.is_connected() {
                return Err(Reply::error(
                    503,
                    "not connected to Asterisk; try again later",
                ));
            }
            if !self
                .bucket
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(Instant::now())
            {
                return Err(Reply::error(429, "too many calls; try again later"));
            }
            Ok(())
        })?;
        let Some(lock) = lock else {
            return Err(Reply::error(
                409,
                "a call for this agent or number is in progress",
            ));
        };
        let uid = calls::new_uid();
        let fill = |t: &str| t.replace("{agent}", agent).replace("{number}", number);
        let mut o = Originate::to_exten(fill(&self.channel), &self.context, number, self.priority)
            .asynchronous(true)
            .timeout_ms(self.ring_timeout.saturating_mul(1000))
            .channel_id(uid.clone());
        if let Some(c) = &self.callerid {
            o = o.caller_id(fill(c));
        }
        for (k, v) in &self.vars {
            o = o.variable(k, fill(v));
        }
        let action = o.build();
        if let Err(e) = action.validate() {
            return Err(Reply::error(400, &e.to_string()));
        }
        let (tx, rx) = mpsc::channel(8);
        let job = CallJob {
            client: self.client.clone(),
            calls: self.calls.clone(),
            lock,
            action,
            uid,
            wait: Duration::from_secs(u64::from(self.ring_timeout) + 10),
            max_call: self.max_call,
            check: self.check.clone(),
        };
        // Its own task: the call is followed to its end even if the caller goes away.
        tokio::spawn(calls::run_call(job, tx));
        Ok(rx)
    }

    /// One request.
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<HttpBody> {
        // HEAD gets GET's answer; hyper sends its headers without the body.
        let path = req.uri().path().to_owned();
        match (path.as_str(), req.method().clone()) {
            ("/", Method::GET | Method::HEAD) => return page_response(),
            ("/", _) => return not_allowed("GET, HEAD"),
            ("/health", Method::GET | Method::HEAD) => {
                return json_response(if self.client.is_connected() {
                    Reply {
                        status: 200,
                        body: "{\"ami\": \"connected\"}".into(),
                    }
                } else {
                    Reply::error(503, "not connected to Asterisk")
                });
            }
            ("/health", _) => return not_allowed("GET, HEAD"),
            ("/call", Method::POST) => {}
            ("/call", _) => return not_allowed("POST"),
            _ => return json_response(Reply::error(404, "no such path")),
        }
        match self.post_call(req).await {
            Ok(r) => r,
            Err(reply) => json_response(reply),
        }
    }

    async fn post_call(
        self: &Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<HttpBody>, Reply> {
        let (parts, body) = req.into_parts();
        if body.size_hint().lower() > MAX_REQUEST as u64 {
            return Err(Reply::error(413, "request too large"));
        }
        let authed = bearer(&parts.headers).is_some_and(|t| same(t, &self.token));
        if !authed && expects_continue(&parts.headers) {
            // Refused before the body is sent: no 100 Continue, no body to read.
            return Err(Reply::error(401, "missing or wrong bearer token"));
        }
        // Read the body (hyper answers 100 Continue now if it was asked for).
        let bytes =
            match tokio::time::timeout(READ_TIMEOUT, Limited::new(body, MAX_REQUEST).collect())
                .await
            {
                Err(_) => return Err(Reply::error(408, "request not received in time")),
                Ok(Err(e)) => {
                    return Err(if e.is::<http_body_util::LengthLimitError>() {
                        Reply::error(413, "request too large")
                    } else {
                        Reply::error(400, "incomplete body")
                    })
                }
                Ok(Ok(c)) => c.to_bytes(),
            };
        if !authed {
            return Err(Reply::error(401, "missing or wrong bearer token"));
        }
        let text =
            std::str::from_utf8(&bytes).map_err(|_| Reply::error(400, "the body is not UTF-8"))?;
        let (a1, n1) = form(text)?;
        let (a2, n2) = form(parts.uri.query().unwrap_or(""))?;
        let (Some(agent), Some(number)) = (a1.or(a2), n1.or(n2)) else {
            return Err(Reply::error(400, "agent and number are required"));
        };
        let mut rx = self.start_call(&agent, &number)?;
        if wants_stream(&parts.headers) {
            let accepted = sse(
                "accepted",
                &Json::default()
                    .field("agent", &agent)
                    .field("number", &number)
                    .done(),
            );
            let start = tokio::time::Instant::now() + KEEPALIVE;
            let mut tick = tokio::time::interval_at(start, KEEPALIVE);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let body = EventBody {
                first: Some(accepted),
                rx,
                tick,
                done: false,
            };
            return Ok(response(200, "text/event-stream", body.boxed()));
        }
        // A JSON answer: the first result (answered, failed, or no result).
        while let Some(p) = rx.recv().await {
            if !matches!(p, Progress::Ringing { .. }) {
                return Ok(json_response(final_reply(p)));
            }
        }
        Err(Reply::error(504, "no result from Asterisk"))
    }
}

/// Serves one connection: one request (keep-alive off), within the connection's time limit.
async fn serve(
    svc: Arc<Service>,
    stream: TcpStream,
    peer: SocketAddr,
    ticket: Ticket,
    life: Duration,
) {
    let ticket = Arc::new(ticket);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        ticket.head_received();
        let svc = svc.clone();
        async move {
            let started = Instant::now();
            let (method, path) = (req.method().clone(), req.uri().path().to_owned());
            let r = svc.handle(req).await;
            eprintln!(
                "amiwire click2call: {peer} {method} {path} -> {} ({} ms)",
                r.status().as_u16(),
                started.elapsed().as_millis()
            );
            Ok::<_, Infallible>(r)
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(READ_TIMEOUT)
        .keep_alive(false)
        .max_buf_size(MAX_REQUEST)
        .max_headers(32);
    let conn = http.serve_connection(TokioIo::new(stream), service);
    let _ = tokio::time::timeout(life, conn).await;
}

pub(crate) async fn run(a: Click2CallArgs) -> Result<(), Failure> {
    let token = std::env::var("AMIWIRE_CLICK2CALL_TOKEN").unwrap_or_default();
    if token.len() < 16 {
        return Err(Failure::usage(
            "set AMIWIRE_CLICK2CALL_TOKEN to a secret of at least 16 characters: callers send it as 'Authorization: Bearer <token>'",
        ));
    }
    if token.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(Failure::usage(
            "AMIWIRE_CLICK2CALL_TOKEN must be printable ASCII without spaces (it travels in an HTTP header)",
        ));
    }
    let compile = |name: &str, p: &str| {
        Regex::new(&format!("^(?:{p})$"))
            .map_err(|e| Failure::usage(format!("--{name}-pattern: {e}")))
    };
    if let Some(p) = &a.national_prefix {
        if p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Failure::usage(
                "--national-prefix: one to four digits (e.g. 0)",
            ));
        }
    }
    let mut vars = Vec::new();
    for v in &a.target.vars {
        let (k, val) = parse_var(v)?;
        vars.push((k.to_owned(), val.to_owned()));
    }
    if a.target.application.is_some() || a.target.exten.is_some() {
        return Err(Failure::usage(
            "click2call dials the requested number in --context: --exten and --application do not apply",
        ));
    }
    let listener = TcpListener::bind(a.listen)
        .await
        .map_err(|e| Failure::new(Exit::Connect, format!("cannot listen on {}: {e}", a.listen)))?;
    // Only the call class is needed: Newchannel, Newstate, DialBegin, Hangup,
    // OriginateResponse.
    let mut cfg = a.conn.client_config(Some(EventMask::parse("call")))?;
    let mut rc = amiwire_tokio::Reconnect::default();
    // A web endpoint wants its link back soon.
    rc.max = Duration::from_secs(5);
    cfg.reconnect = Some(rc);
    let client = Client::connect(cfg).await?;
    let calls = Arc::new(Calls::default());
    let (check, asks) = mpsc::channel(1);
    let monitor = calls::monitor(client.clone(), calls.clone(), asks);
    let max_call = Duration::from_secs(a.max_call);
    let svc = Arc::new(Service {
        client: client.clone(),
        token: token.into_bytes(),
        channel: a.channel,
        context: a.target.context,
        priority: a.target.priority,
        callerid: a.target.callerid,
        vars,
        agent_re: compile("agent", &a.agent_pattern)?,
        number_re: compile("number", &a.number_pattern)?,
        national_prefix: a.national_prefix,
        ring_timeout: a.ring_timeout,
        bucket: Mutex::new(Bucket {
            tokens: f64::from(a.rate),
            rate: f64::from(a.rate),
            last: Instant::now(),
        }),
        calls,
        check,
        max_call,
    });
    // The longest a connection lives: its request, the ring time and the call's.
    let life = (READ_TIMEOUT * 2)
        .saturating_add(Duration::from_secs(u64::from(a.ring_timeout) + 10))
        .saturating_add(max_call);
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::io(e.to_string()))?;
    eprintln!("amiwire click2call: listening on http://{addr}/call");
    tokio::spawn(monitor);
    let limits = Limits::new(a.max_per_client);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    // Out of file descriptors, most likely: do not spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                match limits.admit(peer.ip()) {
                    Ok(ticket) => {
                        tokio::spawn(serve(svc.clone(), stream, peer, ticket, life));
                    }
                    Err(why) => {
                        eprintln!("amiwire click2call: {peer} refused: {why:?}");
                        limits.refuse(stream, why);
                    }
                }
            }
            _ = &mut ctrl_c => break,
        }
    }
    client.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_and_comparison() {
        assert_eq!(url_decode("a+b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(url_decode("%0d%0a").as_deref(), Some("\r\n"));
        assert_eq!(url_decode("%zz"), None);
        assert_eq!(url_decode("%4"), None);
        assert_eq!(url_decode("%ff"), None);
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secret2"));
        assert!(!same(b"", b"x"));
    }

    #[test]
    fn bearer_scheme_in_any_case_exactly_once() {
        let h = |vals: &[&str]| {
            let mut m = HeaderMap::new();
            for v in vals {
                m.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            }
            m
        };
        assert_eq!(bearer(&h(&["Bearer abc"])), Some(&b"abc"[..]));
        assert_eq!(bearer(&h(&["bearer abc"])), Some(&b"abc"[..]));
        assert_eq!(bearer(&h(&["BEARER   abc "])), Some(&b"abc"[..]));
        assert_eq!(bearer(&h(&["Basic abc"])), None);
        assert_eq!(bearer(&h(&["Bearerabc"])), None);
        assert_eq!(bearer(&h(&["Bearer "])), None);
        assert_eq!(bearer(&h(&["Bearer abc", "Bearer abc"])), None);
        assert_eq!(bearer(&h(&[])), None);
    }

    #[test]
    fn event_streams_are_asked_for_by_accept() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(wants_stream(&h("text/event-stream")));
        assert!(wants_stream(&h(
            "application/json, Text/Event-Stream;q=0.9"
        )));
        assert!(!wants_stream(&h("application/json")));
        assert!(!wants_stream(&HeaderMap::new()));
    }

    #[test]
    fn progress_becomes_events_and_json() {
        let p = Progress::Hungup {
            cause: "16".into(),
            cause_txt: "Normal \"Clearing\"".into(),
        };
        assert_eq!(
            &progress_event(&p)[..],
            b"event: hungup\ndata: {\"cause\": \"16\", \"cause_txt\": \"Normal \\\"Clearing\\\"\"}\n\n"
        );
        let e = Progress::Error {
            status: 503,
            message: "down\nx".into(),
        };
        assert_eq!(
            &progress_event(&e)[..],
            b"event: error\ndata: {\"status\": 503, \"error\": \"down\\nx\"}\n\n"
        );
        let f = final_reply(Progress::Failed {
            result: "failed",
            reason: "5".into(),
            channel: "Local/1@x".into(),
            message: String::new(),
        });
        assert_eq!(f.status, 502);
        assert_eq!(
            f.body,
            "{\"result\": \"failed\", \"reason\": \"5\", \"reason_txt\": \"busy\", \"channel\": \"Local/1@x\"}"
        );
    }

    proptest::proptest! {
        /// Whatever a client sends as a form, parsing never panics, and percent-encoding any
        /// text gives it back.
        #[test]
        fn forms_never_panic_and_round_trip(raw in ".{0,200}", value in ".{0,40}") {
            let _ = form(&raw);
            let encoded: String = value
                .bytes()
                .map(|b| format!("%{b:02X}"))
                .collect();
            let (agent, number) = form(&format!("agent={encoded}&x=1&number=7"))
                .ok()
                .expect("valid encoding");
            proptest::prop_assert_eq!(agent.as_deref(), Some(value.as_str()));
            proptest::prop_assert_eq!(number.as_deref(), Some("7"));
        }
    }

    #[test]
    fn the_bucket_refills_over_time() {
        let t0 = Instant::now();
        let mut b = Bucket {
            tokens: 2.0,
            rate: 2.0,
            last: t0,
        };
        assert!(b.take(t0));
        assert!(b.take(t0));
        assert!(!b.take(t0));
        assert!(!b.take(t0 + Duration::from_secs(20)));
        assert!(b.take(t0 + Duration::from_secs(31)));
    }
}
