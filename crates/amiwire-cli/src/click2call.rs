//! `amiwire click2call`: the classic callback web endpoint, done safely. `POST /call` with
//! `agent` and `number` rings the agent's phone and, once answered, connects it to the number.
//!
//! - **Authenticated:** a bearer token (`Authorization: Bearer …`), compared in constant time.
//! - **Validated:** `agent` and `number` must match their patterns (digits by default), so no
//!   line break or dialplan syntax reaches Asterisk.
//! - **Rate-limited:** a token bucket over all calls (`--rate` per minute).
//! - **One call at a time per number and per agent:** a second request while the first is
//!   ringing or connected (until the agent's channel hangs up, at most `--max-call`) gets 409.
//! - **Bounded:** requests over 8 KiB, slow clients (5 s to send a request) and more than 64
//!   open connections are refused.
//!
//! Answers are JSON: 200 `{"result": "answered", …}` once the agent answered, 502 when the call
//! failed, 504 when no result came in time, 4xx for the caller's mistakes.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amiwire::action::Originate;
use amiwire::filter::Filter;
use amiwire_sim::form::url_decode_strict as url_decode;
use amiwire_tokio::{Client, EventMask};
use regex::Regex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::render::json_str;
use crate::{parse_var, Click2CallArgs, Exit, Failure};

const MAX_REQUEST: usize = 8 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_CONNECTIONS: usize = 64;

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
    ring_timeout: u32,
    bucket: Mutex<Bucket>,
    /// Numbers and agents with a call in progress.
    busy: Arc<Mutex<HashSet<String>>>,
    /// The longest a call keeps its number and agent busy.
    max_call: Duration,
}

/// An HTTP answer.
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

fn reason_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
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

/// Removes its keys from the busy set when the call is over (or the request is dropped).
struct Busy {
    set: Arc<Mutex<HashSet<String>>>,
    keys: [String; 2],
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut set = self.set.lock().unwrap_or_else(|e| e.into_inner());
        for k in &self.keys {
            set.remove(k);
        }
    }
}

impl Service {
    async fn call(&self, agent: &str, number: &str) -> Reply {
        if !self.agent_re.is_match(agent) {
            return Reply::error(400, "invalid agent");
        }
        if !self.number_re.is_match(number) {
            return Reply::error(400, "invalid number");
        }
        let keys = [format!("agent:{agent}"), format!("number:{number}")];
        {
            let mut set = self.busy.lock().unwrap_or_else(|e| e.into_inner());
            if keys.iter().any(|k| set.contains(k)) {
                return Reply::error(409, "a call for this agent or number is in progress");
            }
            if !self
                .bucket
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(Instant::now())
            {
                return Reply::error(429, "too many calls; try again later");
            }
            for k in &keys {
                set.insert(k.clone());
            }
        }
        let busy = Busy {
            set: self.busy.clone(),
            keys,
        };
        // Subscribed before the call, so that a quick hang-up is not missed.
        let mut hangups = self.client.events_with(
            Filter::event("Hangup"),
            10_000,
            amiwire_tokio::Overflow::DropOldest,
        );
        let fill = |t: &str| t.replace("{agent}", agent).replace("{number}", number);
        let mut o = Originate::to_exten(fill(&self.channel), &self.context, number, self.priority)
            .asynchronous(true)
            .timeout_ms(self.ring_timeout.saturating_mul(1000));
        if let Some(c) = &self.callerid {
            o = o.caller_id(fill(c));
        }
        for (k, v) in &self.vars {
            o = o.variable(k, fill(v));
        }
        let action = o.build();
        if let Err(e) = action.validate() {
            return Reply::error(400, &e.to_string());
        }
        let wait = Duration::from_secs(u64::from(self.ring_timeout) + 10);
        let r = match self.client.send_with_timeout(action, wait).await {
            Ok(r) => r,
            Err(e) if e.outcome_unknown() => {
                return Reply::error(
                    504,
                    "no result from Asterisk (the call may have been placed)",
                )
            }
            Err(e) => return Reply::error(503, &format!("Asterisk unavailable: {e}")),
        };
        let mut body = String::new();
        let mut field = |k: &str, v: &str| {
            body.push_str(if body.is_empty() { "{" } else { ", " });
            json_str(k, &mut body);
            body.push_str(": ");
            json_str(v, &mut body);
        };
        let Some(o) = r.originate.as_ref() else {
            field("result", "refused");
            field("message", r.text().unwrap_or(""));
            body.push('}');
            return Reply { status: 502, body };
        };
        let answered = r.is_success();
        if let (true, Some(uid)) = (answered, o.get_str("Uniqueid")) {
            // The agent and the number stay busy until the agent's channel hangs up.
            let (uid, max) = (uid.to_owned(), self.max_call);
            tokio::spawn(async move {
                let ended = async {
                    while let Some(item) = hangups.recv().await {
                        match item {
                            amiwire_tokio::ClientEvent::Event(m)
                                if m.get_str("Uniqueid") == Some(uid.as_str()) =>
                            {
                                return;
                            }
                            // A gap: the hang-up may be lost; the time limit applies.
                            _ => {}
                        }
                    }
                    std::future::pending::<()>().await
                };
                let _ = tokio::time::timeout(max, ended).await;
                drop(busy);
            });
        }
        field("result", if answered { "answered" } else { "failed" });
        for k in ["Reason", "Channel", "Uniqueid"] {
            if let Some(v) = o.get_str(k) {
                field(&k.to_ascii_lowercase(), v);
            }
        }
        body.push('}');
        Reply {
            status: if answered { 200 } else { 502 },
            body,
        }
    }

    /// One request on one connection (then the connection is closed).
    async fn handle(&self, stream: &mut TcpStream) -> Reply {
        let mut buf = Vec::with_capacity(1024);
        let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
        let mut chunk = [0u8; 2048];
        // Read the head, then the body announced by Content-Length.
        let (head_len, method, path, token_ok, content_len) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let mut len = 0usize;
                    let mut token_ok = false;
                    for h in req.headers.iter() {
                        if h.name.eq_ignore_ascii_case("content-length") {
                            match std::str::from_utf8(h.value)
                                .ok()
                                .and_then(|v| v.trim().parse().ok())
                            {
                                Some(l) => len = l,
                                None => return Reply::error(400, "bad Content-Length"),
                            }
                        } else if h.name.eq_ignore_ascii_case("authorization") {
                            if let Some(t) = h.value.strip_prefix(b"Bearer ") {
                                token_ok = same(t.trim_ascii(), &self.token);
                            }
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            return Reply::error(400, "chunked bodies are not accepted");
                        }
                    }
                    break (
                        n,
                        req.method.unwrap_or("").to_owned(),
                        req.path.unwrap_or("").to_owned(),
                        token_ok,
                        len,
                    );
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => return Reply::error(400, "malformed request"),
            }
            if buf.len() >= MAX_REQUEST {
                return Reply::error(413, "request too large");
            }
            match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Reply::error(400, "incomplete request"),
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => return Reply::error(408, "request not received in time"),
            }
        };
        if head_len + content_len > MAX_REQUEST {
            return Reply::error(413, "request too large");
        }
        while buf.len() < head_len + content_len {
            match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Reply::error(400, "incomplete body"),
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => return Reply::error(408, "request not received in time"),
            }
        }
        let (route, query) = path.split_once('?').unwrap_or((&path, ""));
        match (method.as_str(), route) {
            ("GET", "/health") => {
                return if self.client.is_connected() {
                    Reply {
                        status: 200,
                        body: "{\"ami\": \"connected\"}".into(),
                    }
                } else {
                    Reply::error(503, "not connected to Asterisk")
                };
            }
            ("POST", "/call") => {}
            (_, "/call") => return Reply::error(405, "use POST"),
            _ => return Reply::error(404, "no such path"),
        }
        if !token_ok {
            return Reply::error(401, "missing or wrong bearer token");
        }
        let body = match std::str::from_utf8(&buf[head_len..head_len + content_len]) {
            Ok(b) => b,
            Err(_) => return Reply::error(400, "the body is not UTF-8"),
        };
        let (a1, n1) = match form(body) {
            Ok(v) => v,
            Err(r) => return r,
        };
        let (a2, n2) = match form(query) {
            Ok(v) => v,
            Err(r) => return r,
        };
        match (a1.or(a2), n1.or(n2)) {
            (Some(agent), Some(number)) => self.call(&agent, &number).await,
            _ => Reply::error(400, "agent and number are required"),
        }
    }
}

async fn serve(svc: Arc<Service>, mut stream: TcpStream, peer: std::net::SocketAddr) {
    let started = Instant::now();
    let reply = svc.handle(&mut stream).await;
    eprintln!(
        "amiwire click2call: {peer} -> {} {} ({} ms)",
        reply.status,
        reply.body,
        started.elapsed().as_millis()
    );
    let text = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{}",
        reply.status,
        reason_text(reply.status),
        reply.body.len(),
        reply.body
    );
    let _ = tokio::time::timeout(READ_TIMEOUT, async {
        let _ = stream.write_all(text.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

pub(crate) async fn run(a: Click2CallArgs) -> Result<(), Failure> {
    let token = std::env::var("AMIWIRE_CLICK2CALL_TOKEN").unwrap_or_default();
    if token.len() < 16 {
        return Err(Failure::usage(
            "set AMIWIRE_CLICK2CALL_TOKEN to a secret of at least 16 characters: callers send it as 'Authorization: Bearer <token>'",
        ));
    }
    let compile = |name: &str, p: &str| {
        Regex::new(&format!("^(?:{p})$"))
            .map_err(|e| Failure::usage(format!("--{name}-pattern: {e}")))
    };
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
    // Only the call class is needed: OriginateResponse.
    let mut cfg = a.conn.client_config(Some(EventMask::parse("call")))?;
    cfg.reconnect = Some(amiwire_tokio::Reconnect::default());
    let client = Client::connect(cfg).await?;
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
        ring_timeout: a.ring_timeout,
        bucket: Mutex::new(Bucket {
            tokens: f64::from(a.rate),
            rate: f64::from(a.rate),
            last: Instant::now(),
        }),
        busy: Arc::new(Mutex::new(HashSet::new())),
        max_call: Duration::from_secs(a.max_call),
    });
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::io(e.to_string()))?;
    eprintln!("amiwire click2call: listening on http://{addr}/call");
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut stream, peer)) = accepted else { continue };
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    let _ = stream
                        .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .await;
                    continue;
                };
                let svc = svc.clone();
                tokio::spawn(async move {
                    serve(svc, stream, peer).await;
                    drop(permit);
                });
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
