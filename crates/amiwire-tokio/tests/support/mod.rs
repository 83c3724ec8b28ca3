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
    c.login_timeout = Duration::from_secs(5);
    c.action_timeout = Duration::from_secs(10);
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
