//! Connection accounting for `amiwire click2call`: how many connections one client address
//! may hold, how many may still be sending their request head, and the polite refusal (the
//! request is read, then answered 503, then the connection is drained before it is closed, so
//! that the answer is not lost to a TCP reset).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections served at once, all clients together.
pub(super) const MAX_CONNECTIONS: usize = 64;
/// Of those, how many may still be sending their request head: the others are kept for
/// requests that have sent theirs (a call waiting for Asterisk, an event stream).
pub(super) const MAX_UNREAD: usize = 32;
/// Refusals under way at once (each reads the request for at most `REFUSE_READ`).
const MAX_REFUSING: usize = 32;
const REFUSE_READ: Duration = Duration::from_secs(1);
const REFUSE_DRAIN: Duration = Duration::from_secs(1);

/// Who a limit counts: an IPv4 address, or the /64 network of an IPv6 address (one host
/// usually has a whole /64). An IPv4 address mapped into IPv6 counts as that IPv4 address.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Why a connection is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// This client address holds `--max-per-client` connections already.
    PerClient,
    /// The server is full (every connection slot, or every slot for unfinished heads).
    Full,
}

impl Refusal {
    fn message(self) -> &'static str {
        match self {
            Refusal::PerClient => "too many connections from your address; try again later",
            Refusal::Full => "the server is busy; try again later",
        }
    }
}

/// The connection slots.
#[derive(Debug)]
pub(super) struct Limits {
    per_client: usize,
    total: Arc<Semaphore>,
    unread: Arc<Semaphore>,
    refusing: Arc<Semaphore>,
    clients: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// A connection's place: given back when it is dropped.
#[derive(Debug)]
pub(super) struct Ticket {
    _total: OwnedSemaphorePermit,
    /// Held until the request head is in ([`Ticket::head_received`]).
    unread: Mutex<Option<OwnedSemaphorePermit>>,
    _client: ClientSlot,
}

#[derive(Debug)]
struct ClientSlot {
    key: IpAddr,
    clients: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut map = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

impl Ticket {
    /// The request head is in: the connection leaves the slots of unfinished heads.
    pub(super) fn head_received(&self) {
        self.unread.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

impl Limits {
    pub(super) fn new(per_client: usize) -> Limits {
        Limits {
            per_client: per_client.max(1),
            total: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            unread: Arc::new(Semaphore::new(MAX_UNREAD)),
            refusing: Arc::new(Semaphore::new(MAX_REFUSING)),
            clients: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A place for a new connection from `ip`, or why there is none.
    pub(super) fn admit(&self, ip: IpAddr) -> Result<Ticket, Refusal> {
        let key = client_key(ip);
        let mut map = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.get(&key).copied().unwrap_or(0);
        if n >= self.per_client {
            return Err(Refusal::PerClient);
        }
        let total = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Full)?;
        let unread = self
            .unread
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Full)?;
        map.insert(key, n + 1);
        Ok(Ticket {
            _total: total,
            unread: Mutex::new(Some(unread)),
            _client: ClientSlot {
                key,
                clients: self.clients.clone(),
            },
        })
    }

    /// Answers 503 on a connection that is not served: reads its request head (for at most
    /// a second), writes the answer, then drains what the client still sends (for at most a
    /// second) before closing, so that the answer is read rather than lost to a reset. When
    /// too many refusals are under way already, the connection is closed at once.
    pub(super) fn refuse(&self, stream: TcpStream, why: Refusal) {
        let Ok(permit) = self.refusing.clone().try_acquire_owned() else {
            return; // dropped: closed at once
        };
        tokio::spawn(async move {
            refuse(stream, why).await;
            drop(permit);
        });
    }
}

async fn refuse(mut stream: TcpStream, why: Refusal) {
    let mut buf = vec![0u8; 8 * 1024];
    let mut len = 0;
    let _ = tokio::time::timeout(REFUSE_READ, async {
        while len < buf.len() {
            match stream.read(&mut buf[len..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => len += n,
            }
            if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    let body = format!("{{\"error\": \"{}\"}}", why.message());
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nRetry-After: 1\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSE_READ, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    let _ = tokio::time::timeout(REFUSE_DRAIN, async {
        let mut sink = [0u8; 4096];
        let mut left = 64 * 1024usize;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_client_and_unfinished_heads_are_counted() {
        let limits = Limits::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t1 = limits.admit(a).unwrap();
        let t2 = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), Refusal::PerClient);
        // Another address is not affected.
        let t3 = limits.admit(b).unwrap();
        drop(t1);
        let t4 = limits.admit(a).unwrap();
        drop((t2, t3, t4));
        assert!(limits.clients.lock().unwrap().is_empty());

        // Unfinished heads take at most MAX_UNREAD places; a finished one gives its back.
        let limits = Limits::new(usize::MAX);
        let tickets: Vec<_> = (0..MAX_UNREAD).map(|_| limits.admit(a).unwrap()).collect();
        assert_eq!(limits.admit(b).unwrap_err(), Refusal::Full);
        tickets[0].head_received();
        let more = limits.admit(b).unwrap();
        drop(more);
        drop(tickets);
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let k = |s: &str| client_key(s.parse().unwrap());
        assert_eq!(k("2001:db8::1"), k("2001:db8::ffff:2"));
        assert_ne!(k("2001:db8::1"), k("2001:db8:0:1::1"));
        assert_eq!(k("::ffff:192.0.2.1"), k("192.0.2.1"));
    }
}
