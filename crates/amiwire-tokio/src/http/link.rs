//! One keep-alive HTTP/1.1 connection (hyper) to the manager's HTTP server, one request at a
//! time, each within its timeout and with a bounded answer.
//!
//! A connection the server closed between two requests (as keep-alive allows, and as
//! Asterisk does after every answer it marks `Connection: close`) is replaced, and the
//! request goes on the new one, but only when hyper hands the request back unsent: a request
//! that may have reached the server is never sent twice.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use amiwire::ajam::HttpRequest;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::transport::{Dialer, Io};

/// Largest response head accepted (status line and headers).
const MAX_HEAD: usize = 64 * 1024;

/// A complete HTTP answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) body: Bytes,
}

impl Answer {
    /// The headers as the core's bridge takes them.
    pub(crate) fn header_refs(&self) -> Vec<(&str, &[u8])> {
        self.headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect()
    }
}

/// Why an exchange brought no answer.
#[derive(Debug)]
pub(crate) enum LinkError {
    /// The server could not be reached (refused, unreachable, timed out, TLS): the request
    /// was not sent.
    Connect(Error),
    /// The request could not be sent (not valid HTTP: a header value the core let through
    /// but HTTP refuses). The caller's fault; nothing was sent.
    Request(String),
    /// The request was sent, or may have been, and no complete answer came: the connection
    /// broke, the answer was malformed or too large, or it did not come in time.
    NoAnswer {
        /// The nearest I/O error kind.
        kind: io::ErrorKind,
        /// What happened, for people.
        message: String,
    },
}

impl LinkError {
    /// The I/O error this failure is reported as to the connection task.
    pub(crate) fn to_io(&self) -> (io::ErrorKind, String) {
        match self {
            LinkError::Connect(e) => {
                let kind = match e {
                    Error::Connect { source, .. } => source.kind(),
                    Error::ConnectTimeout { .. } => io::ErrorKind::TimedOut,
                    _ => io::ErrorKind::InvalidData,
                };
                (kind, format!("HTTP: {e}"))
            }
            LinkError::Request(m) => (io::ErrorKind::InvalidInput, format!("HTTP request: {m}")),
            LinkError::NoAnswer { kind, message } => (*kind, format!("HTTP: {message}")),
        }
    }
}

/// One HTTP connection, made again when needed.
pub(crate) struct Link {
    dialer: Arc<Dialer>,
    sender: Option<SendRequest<Full<Bytes>>>,
    task: Option<JoinHandle<()>>,
    max_body: usize,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.disconnect();
    }
}

impl Link {
    /// A link that connects on its first request.
    pub(crate) fn new(dialer: Arc<Dialer>, max_body: usize) -> Link {
        Link {
            dialer,
            sender: None,
            task: None,
            max_body,
        }
    }

    /// A link over a connection already made.
    pub(crate) async fn with_stream(
        dialer: Arc<Dialer>,
        max_body: usize,
        io: Box<dyn Io>,
    ) -> Result<Link, LinkError> {
        let mut link = Link::new(dialer, max_body);
        link.handshake(io).await?;
        Ok(link)
    }

    fn disconnect(&mut self) {
        self.sender = None;
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    async fn handshake(&mut self, io: Box<dyn Io>) -> Result<(), LinkError> {
        let (sender, conn) = http1::Builder::new()
            .max_buf_size(MAX_HEAD.max(8192))
            .max_headers(128)
            .handshake(TokioIo::new(io))
            .await
            .map_err(|e| LinkError::NoAnswer {
                kind: io::ErrorKind::Other,
                message: format!("{}: {e}", self.dialer.addr()),
            })?;
        self.disconnect();
        self.sender = Some(sender);
        self.task = Some(tokio::spawn(async move {
            // Ends when the server closes the connection, or when the link drops it.
            let _ = conn.await;
        }));
        Ok(())
    }

    async fn connect(&mut self) -> Result<(), LinkError> {
        let io = self.dialer.dial().await.map_err(LinkError::Connect)?;
        self.handshake(io).await
    }

    /// Sends `req` and reads its whole answer, all within `timeout` (connecting again first
    /// if the connection is gone, within the connect timeout on top).
    pub(crate) async fn exchange(
        &mut self,
        req: &HttpRequest,
        timeout: Duration,
    ) -> Result<Answer, LinkError> {
        let mut request = Some(to_hyper(req)?);
        // A connection we had before may have been closed by the server meanwhile: then
        // hyper gives the request back unsent, and it goes on a new connection, once.
        let mut fresh = false;
        loop {
            let ready = match &mut self.sender {
                Some(s) if !s.is_closed() => s.ready().await.is_ok(),
                _ => false,
            };
            if !ready {
                if fresh {
                    self.disconnect();
                    return Err(LinkError::NoAnswer {
                        kind: io::ErrorKind::ConnectionAborted,
                        message: format!("{} closed the connection at once", self.dialer.addr()),
                    });
                }
                self.connect().await?;
                fresh = true;
                continue;
            }
            let Some(sender) = self.sender.as_mut() else {
                continue;
            };
            let Some(r) = request.take() else {
                // Cannot happen: the request is taken once and put back only when unsent.
                return Err(LinkError::Request("no request".into()));
            };
            let max_body = self.max_body;
            let addr = self.dialer.addr().to_owned();
            let work = async {
                let resp = sender.try_send_request(r).await;
                let resp = match resp {
                    Ok(resp) => resp,
                    Err(mut e) => return Err((e.take_message(), e.into_error().to_string())),
                };
                let (parts, body) = resp.into_parts();
                let body = Limited::new(body, max_body).collect().await.map_err(|e| {
                    let m = if e.is::<http_body_util::LengthLimitError>() {
                        format!("the answer is larger than {max_body} bytes")
                    } else {
                        format!("reading the answer: {e}")
                    };
                    (None, m)
                })?;
                let headers = parts
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
                    .collect();
                Ok(Answer {
                    status: parts.status.as_u16(),
                    headers,
                    body: body.to_bytes(),
                })
            };
            return match tokio::time::timeout(timeout, work).await {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err((Some(unsent), _))) if !fresh => {
                    // Closed between requests: the request never left.
                    self.disconnect();
                    request = Some(unsent);
                    continue;
                }
                Ok(Err((_, message))) => {
                    self.disconnect();
                    Err(LinkError::NoAnswer {
                        kind: io::ErrorKind::ConnectionAborted,
                        message: format!("{addr}: {message}"),
                    })
                }
                Err(_) => {
                    // The connection is in an unknown state: never reuse it.
                    self.disconnect();
                    Err(LinkError::NoAnswer {
                        kind: io::ErrorKind::TimedOut,
                        message: format!("{addr} did not answer within {timeout:?}"),
                    })
                }
            };
        }
    }
}

/// The core's request as hyper's: the header values are checked again by `http` (no CR, LF
/// or other control character can pass).
fn to_hyper(req: &HttpRequest) -> Result<hyper::Request<Full<Bytes>>, LinkError> {
    let bad = |e: &dyn std::fmt::Display| LinkError::Request(e.to_string());
    let mut b = hyper::Request::builder()
        .method(req.method.as_str())
        .uri(req.target.as_str());
    for (k, v) in &req.headers {
        let name = hyper::header::HeaderName::from_bytes(k.as_bytes()).map_err(|e| bad(&e))?;
        // Never logged: an Authorization header is a secret's digest, a cookie a session.
        let value = hyper::header::HeaderValue::from_str(v).map_err(|e| bad(&e))?;
        b = b.header(name, value);
    }
    b.body(Full::new(Bytes::from(req.body.clone())))
        .map_err(|e| bad(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use amiwire::ajam::HttpMethod;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    fn get(target: &str) -> HttpRequest {
        HttpRequest {
            method: HttpMethod::Get,
            target: target.into(),
            headers: vec![("Host".into(), "127.0.0.1".into())],
            body: Vec::new(),
        }
    }

    fn link(port: u16, max_body: usize) -> Link {
        let cfg = crate::ClientConfig::new("127.0.0.1", port, "u", "s");
        Link::new(Arc::new(Dialer::new(&cfg).unwrap()), max_body)
    }

    async fn head(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
        let mut chunk = [0u8; 1024];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let h = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
                buf.drain(..end + 4);
                return Some(h);
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn answer(body: &str) -> String {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    #[tokio::test]
    async fn keeps_alive_and_replaces_a_closed_connection_without_resending() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            // One connection for two requests, then closed quietly.
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = Vec::new();
            for _ in 0..2 {
                let h = head(&mut s, &mut buf).await.unwrap();
                seen.push((1, h.lines().next().unwrap().to_owned()));
                s.write_all(answer("ok").as_bytes()).await.unwrap();
            }
            drop(s);
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = Vec::new();
            let h = head(&mut s, &mut buf).await.unwrap();
            seen.push((2, h.lines().next().unwrap().to_owned()));
            s.write_all(answer("again").as_bytes()).await.unwrap();
            seen
        });
        let mut link = link(port, 1024);
        let t = Duration::from_secs(5);
        assert_eq!(&link.exchange(&get("/a"), t).await.unwrap().body[..], b"ok");
        assert_eq!(&link.exchange(&get("/b"), t).await.unwrap().body[..], b"ok");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let a = link.exchange(&get("/c"), t).await.unwrap();
        assert_eq!((a.status, &a.body[..]), (200, &b"again"[..]));
        let seen = server.await.unwrap();
        assert_eq!(
            seen,
            [
                (1, "GET /a HTTP/1.1".to_owned()),
                (1, "GET /b HTTP/1.1".to_owned()),
                (2, "GET /c HTTP/1.1".to_owned())
            ]
        );
    }

    #[tokio::test]
    async fn limits_timeouts_and_refusals() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    while let Some(h) = head(&mut s, &mut buf).await {
                        if h.starts_with("GET /big") {
                            let _ = s.write_all(answer(&"x".repeat(2000)).as_bytes()).await;
                        } else if h.starts_with("GET /silent") {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        } else if h.starts_with("GET /garbage") {
                            let _ = s.write_all(b"NOT HTTP AT ALL\r\n\r\n").await;
                        }
                    }
                });
            }
        });
        let mut link = link(port, 1024);
        let e = link
            .exchange(&get("/big"), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, LinkError::NoAnswer { message, .. } if message.contains("larger than 1024 bytes")),
            "{e:?}"
        );
        let e = link
            .exchange(&get("/silent"), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(
            matches!(
                &e,
                LinkError::NoAnswer {
                    kind: io::ErrorKind::TimedOut,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_io().1.contains("did not answer within"), "{e:?}");
        let e = link
            .exchange(&get("/garbage"), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(&e, LinkError::NoAnswer { .. }), "{e:?}");
        // A header value with a line break never reaches the wire.
        let mut bad = get("/x");
        bad.headers
            .push(("Cookie".into(), "a\r\nX-Injected: 1".into()));
        let e = link
            .exchange(&bad, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(e, LinkError::Request(_)), "{e:?}");

        let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed = free.local_addr().unwrap().port();
        drop(free);
        let e = self::link(closed, 1024)
            .exchange(&get("/x"), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(e, LinkError::Connect(Error::Connect { .. })),
            "{e:?}"
        );
    }
}
