//! Shared by the client tests: a simulator and a client config for it.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use amiwire_sim::server::{SimConfig, Simulator};
use amiwire_tokio::{ClientConfig, ClientEvent, EventStream};

/// A simulator with a short failed-login delay.
pub async fn sim(mut cfg: SimConfig) -> Simulator {
    cfg.failed_login_delay = Duration::from_millis(50);
    Simulator::start(cfg).await.unwrap()
}

/// admin/amp111 on the simulator, with short timeouts.
pub fn admin(sim: &Simulator) -> ClientConfig {
    let mut c = ClientConfig::new("127.0.0.1", sim.addr().port(), "admin", "amp111");
    c.connect_timeout = Duration::from_secs(5);
    c.connection.login_timeout = Duration::from_secs(5);
    c.connection.action_timeout = Duration::from_secs(10);
    c
}

/// The next item of a stream, failing the test after 10 s.
pub async fn next(s: &mut EventStream) -> Option<ClientEvent> {
    tokio::time::timeout(Duration::from_secs(10), s.recv())
        .await
        .expect("no event within 10 s")
}

/// The next event's name, skipping markers.
pub async fn next_name(s: &mut EventStream) -> String {
    let m = tokio::time::timeout(Duration::from_secs(10), s.next_event())
        .await
        .expect("no event within 10 s")
        .expect("stream ended");
    m.get_str("Event").unwrap_or_default().to_owned()
}

/// Connects, subscribes to every event, and checks that the stream starts with `Connected`.
pub async fn watching(cfg: ClientConfig) -> (amiwire_tokio::Client, EventStream) {
    let client = amiwire_tokio::Client::connect(cfg).await.unwrap();
    let mut all = client.events(amiwire::filter::Filter::all());
    match next(&mut all).await {
        Some(ClientEvent::Connected { .. }) => {}
        other => panic!("the stream must start with Connected: {other:?}"),
    }
    (client, all)
}

/// Reconnects fast, for tests.
pub fn fast_reconnect() -> amiwire_tokio::Reconnect {
    let mut r = amiwire_tokio::Reconnect::default();
    r.initial = Duration::from_millis(20);
    r.max = Duration::from_millis(200);
    r
}

/// Reads one action (up to its blank line); `None` when the peer closed.
pub async fn read_action(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let action = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            buf.drain(..end + 4);
            return Some(action);
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The ActionID of an action's text.
pub fn action_id(action: &str) -> &str {
    action
        .lines()
        .find_map(|l| l.strip_prefix("ActionID: "))
        .unwrap_or("")
}

/// A scripted server's side of a login: the banner, the client's Login, and `answer`
/// (`Success` with "Authentication accepted", or `Error` with "Authentication failed").
pub async fn scripted_login(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>, accept: bool) {
    use tokio::io::AsyncWriteExt;
    s.write_all(b"Asterisk Call Manager/11.0.0\r\n")
        .await
        .unwrap();
    let login = read_action(s, buf).await.unwrap();
    assert!(login.starts_with("Action: Login\r\n"), "{login}");
    let (response, message) = if accept {
        ("Success", "Authentication accepted")
    } else {
        ("Error", "Authentication failed")
    };
    let answer = format!(
        "Response: {response}\r\nActionID: {}\r\nMessage: {message}\r\n\r\n",
        action_id(&login)
    );
    s.write_all(answer.as_bytes()).await.unwrap();
}

/// A scripted server on a free port for one client: it logs the client in, then runs
/// `session` with the socket and what it read past the Login. Returns the port and the task.
pub async fn scripted_session<F, Fut, T>(session: F) -> (u16, tokio::task::JoinHandle<T>)
where
    F: FnOnce(tokio::net::TcpStream, Vec<u8>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + Send,
    T: Send + 'static,
{
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = Vec::new();
        scripted_login(&mut s, &mut buf, true).await;
        session(s, buf).await
    });
    (port, task)
}

/// A TLS-terminating proxy in front of `backend`, with a fresh self-signed certificate for
/// `localhost`: its port, and the certificate's PEM (for `TlsConfig::ca_pem`).
pub async fn tls_proxy(backend: std::net::SocketAddr) -> (u16, String) {
    use std::sync::Arc;
    use tokio_rustls::rustls;
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![key.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_cfg));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut up = tokio::net::TcpStream::connect(backend).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (port, key.cert.pem())
}
