//! AMI over HTTP (AJAM): the byte stream the connection task reads and writes, played by the
//! core's [`Bridge`] and carried over HTTP by hyper.
//!
//! ```text
//!  driver ── Connection ──▶ pipe ──▶ pump: Bridge ──▶ actions link (one request at a time)
//!         ◀── AMI bytes ──── pipe ◀──        │    ──▶ events link (WaitEvent long poll)
//! ```
//!
//! [`connect`] makes the first HTTP connection (so a server that is down is reported as over
//! TCP), then spawns the pump and returns one end of a pipe as the "socket". The driver and
//! its `Connection` do not know the difference: the bridge hands the Connection a banner,
//! turns each action it writes into a request, and each answer (and the events of each
//! WaitEvent) back into AMI bytes. When the bridge ends the session (expired, refused, a
//! request lost), the pump closes the pipe, with the reason as the read error, and the
//! driver reconnects as after a broken socket.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use amiwire::ajam::{
    Bridge, BridgeConfig, EofReason, HttpAuth, HttpRequest, RequestId, RequestKind,
};
use amiwire::EventMask;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

use crate::config::{ClientConfig, HttpConfig};
use crate::driver::{now, sleep_until};
use crate::error::Error;
use crate::transport::{Dialer, Io};

mod link;

use link::{Answer, Link, LinkError};

/// Bytes the pipe holds each way.
const PIPE: usize = 64 * 1024;

/// Why the pump ended the stream, for the driver's read error.
type Reason = Arc<Mutex<Option<(io::ErrorKind, String)>>>;

/// Connects to the HTTP server and starts the pump; the returned stream is the session's
/// "socket".
pub(crate) async fn connect(
    cfg: &ClientConfig,
    http: &HttpConfig,
    dialer: Dialer,
) -> Result<Box<dyn Io>, Error> {
    let dialer = Arc::new(dialer);
    let first = dialer.dial().await?;
    let actions = match Link::with_stream(dialer.clone(), http.max_body, first).await {
        Ok(l) => l,
        Err(LinkError::Connect(e)) => return Err(e),
        Err(e) => {
            let (kind, message) = e.to_io();
            return Err(Error::Connect {
                addr: dialer.addr().to_owned(),
                source: io::Error::new(kind, message),
            });
        }
    };
    let events = Link::new(dialer.clone(), http.max_body);
    let mut bc = BridgeConfig::new(http.endpoint.clone(), cfg.addr());
    bc.method = http.method;
    bc.events = cfg.connection.events != Some(EventMask::Off);
    bc.wait_event_timeout = http.wait_event_timeout;
    bc.max_queued_requests = cfg.connection.max_pending.saturating_add(16);
    bc.body.max_body = http.max_body;
    bc.cnonce_seed = crate::driver::random_u64();
    if http.endpoint.auth() == HttpAuth::Digest {
        // Digest needs the secret itself, whatever the Login method (an MD5 Login never
        // carries it).
        if let Some(c) = &cfg.connection.login {
            bc.digest_credentials = Some((c.username.clone(), c.secret.clone()));
        }
    }
    let bridge = Bridge::new(bc, now());
    let (ours, theirs) = tokio::io::duplex(PIPE);
    let reason: Reason = Arc::default();
    let pump = Pump {
        bridge,
        actions: Some(actions),
        events: Some(events),
        reason: reason.clone(),
        action_timeout: http.request_timeout,
        poll_margin: http.request_timeout.min(Duration::from_secs(15)),
        wait_event_timeout: http.wait_event_timeout,
    };
    tokio::spawn(pump.run(ours));
    Ok(Box::new(HttpStream {
        inner: theirs,
        reason,
    }))
}

/// The driver's end of the pipe: at its end, the pump's reason (if it gave one) is the read
/// error.
struct HttpStream {
    inner: DuplexStream,
    reason: Reason,
}

impl AsyncRead for HttpStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() == before && buf.remaining() > 0 => {
                let reason = this.reason.lock().unwrap_or_else(|e| e.into_inner()).take();
                match reason {
                    Some((kind, message)) => Poll::Ready(Err(io::Error::new(kind, message))),
                    None => Poll::Ready(Ok(())),
                }
            }
            other => other,
        }
    }
}

impl AsyncWrite for HttpStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

type Exchange = Pin<Box<dyn std::future::Future<Output = Done> + Send>>;

/// A finished exchange: the link back, and what came of the request.
struct Done {
    link: Link,
    id: RequestId,
    result: Result<Answer, LinkError>,
}

fn exchange(mut link: Link, id: RequestId, req: HttpRequest, timeout: Duration) -> Exchange {
    Box::pin(async move {
        let result = link.exchange(&req, timeout).await;
        Done { link, id, result }
    })
}

/// The exchange in `slot`, or never.
async fn running(slot: &mut Option<Exchange>) -> Done {
    match slot.as_mut() {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

struct Pump {
    bridge: Bridge,
    /// The links, when idle (each is inside its exchange while a request runs).
    actions: Option<Link>,
    events: Option<Link>,
    reason: Reason,
    /// Each action request's deadline.
    action_timeout: Duration,
    /// A WaitEvent request's deadline beyond its own Timeout.
    poll_margin: Duration,
    wait_event_timeout: Duration,
}

impl Pump {
    fn fail(&self, kind: io::ErrorKind, message: String) {
        let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        // The first failure is the cause; what follows is its consequence.
        r.get_or_insert((kind, message));
    }

    /// The bridge's reason to end the session, as the read error (a Logoff's end, or a
    /// refused login the Connection already reports, stay a plain end).
    fn bridge_reason(&self) {
        let message = match self.bridge.close_reason() {
            None | Some(EofReason::LoggedOff | EofReason::LoginFailed) => return,
            Some(EofReason::SessionExpired) => "the HTTP session expired".to_owned(),
            Some(EofReason::HttpStatus(code)) => format!("the HTTP server answered status {code}"),
            Some(EofReason::Body(e)) => format!("an HTTP answer could not be read: {e}"),
            Some(EofReason::Digest(e)) => format!("HTTP Digest: {e}"),
            Some(EofReason::TooManyChallenges) => {
                "HTTP Digest: the server keeps asking for credentials".to_owned()
            }
            Some(other) => format!("HTTP: {other:?}"),
        };
        let kind = match self.bridge.close_reason() {
            Some(EofReason::SessionExpired) => io::ErrorKind::ConnectionReset,
            _ => io::ErrorKind::InvalidData,
        };
        self.fail(kind, message);
    }

    async fn run(mut self, pipe: DuplexStream) {
        let (mut rd, mut wr) = tokio::io::split(pipe);
        let mut rbuf = vec![0u8; 16 * 1024];
        let mut inbound: Vec<u8> = Vec::new();
        let mut ipos = 0usize;
        let mut action: Option<Exchange> = None;
        let mut poll: Option<Exchange> = None;
        loop {
            let t = now();
            if ipos == inbound.len() {
                inbound.clear();
                ipos = 0;
                let _ = self.bridge.poll_receive(&mut inbound);
            }
            if ipos == inbound.len() && self.bridge.is_eof() {
                self.bridge_reason();
                break;
            }
            while let Some((id, req)) = self.bridge.poll_request(t) {
                self.start(id, req, &mut action, &mut poll);
            }
            let deadline = self.bridge.poll_timeout();
            tokio::select! {
                r = rd.read(&mut rbuf) => match r {
                    // The driver is done with this session.
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if let Err(e) = self.bridge.transmit(&rbuf[..n], now()) {
                            self.fail(io::ErrorKind::Other, format!("HTTP bridge: {e}"));
                            break;
                        }
                    }
                },
                w = wr.write(&inbound[ipos..]), if ipos < inbound.len() => match w {
                    Ok(0) | Err(_) => return,
                    Ok(n) => ipos += n,
                },
                d = running(&mut action), if action.is_some() => {
                    action = None;
                    self.done(d);
                },
                d = running(&mut poll), if poll.is_some() => {
                    poll = None;
                    self.done(d);
                },
                _ = sleep_until(deadline) => self.bridge.handle_timeout(now()),
            }
        }
        // The session is over: the driver reads what is left, then the end (with the
        // reason, if any).
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            if ipos < inbound.len() {
                let _ = wr.write_all(&inbound[ipos..]).await;
            }
            let _ = wr.shutdown().await;
        })
        .await;
    }

    fn start(
        &mut self,
        id: RequestId,
        req: HttpRequest,
        action: &mut Option<Exchange>,
        poll: &mut Option<Exchange>,
    ) {
        let wait = self
            .bridge
            .long_poll_timeout()
            .unwrap_or(self.wait_event_timeout);
        let (slot, link, timeout) = match id.kind() {
            RequestKind::Action => (action, &mut self.actions, self.action_timeout),
            RequestKind::WaitEvent => (
                poll,
                &mut self.events,
                wait.saturating_add(self.poll_margin),
            ),
        };
        match link.take() {
            Some(l) if slot.is_none() => *slot = Some(exchange(l, id, req, timeout)),
            other => {
                // The bridge keeps one request of each kind in flight: never here.
                *link = other;
                self.fail(
                    io::ErrorKind::Other,
                    "HTTP bridge: a second request of one kind".into(),
                );
                self.bridge.on_failure(id, now());
            }
        }
    }

    fn done(&mut self, d: Done) {
        let Done { link, id, result } = d;
        match id.kind() {
            RequestKind::Action => self.actions = Some(link),
            RequestKind::WaitEvent => self.events = Some(link),
        }
        let t: Instant = now();
        match result {
            Ok(answer) => {
                let headers = answer.header_refs();
                if let Err(e) =
                    self.bridge
                        .on_response(id, answer.status, &headers, &answer.body, t)
                {
                    tracing::debug!(error = %e, "HTTP answer not taken");
                }
            }
            Err(e) => {
                let (kind, message) = e.to_io();
                tracing::debug!(%message, "HTTP request failed");
                self.fail(kind, message);
                self.bridge.on_failure(id, t);
            }
        }
    }
}
