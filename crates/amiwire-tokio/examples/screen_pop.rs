//! A CRM screen pop: watch the calls ringing one phone, and print who calls.
//!
//! ```text
//! cargo run -p amiwire-tokio --example screen_pop                 # against a built-in simulator
//! AMI_HOST=pbx AMI_USERNAME=crm AMI_SECRET=… DEVICE=PJSIP/902 cargo run -p amiwire-tokio --example screen_pop
//! ```
//!
//! It filters twice: the server sends only DialBegin and DialEnd events (a `Filter` action,
//! kept across reconnects), and the client keeps those whose dialled channel is the phone's
//! (`DestChannel: PJSIP/902-…`; `DestExten` is the caller's extension, not the phone's).
use std::time::Duration;

use amiwire::action::Originate;
use amiwire::filter::{Filter, ManagerFilter};
use amiwire_tokio::{Client, ClientConfig, ClientEvent, Reconnect};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The simulator's phone is a Local channel: Local/100@test-00000001;1.
    let device = std::env::var("DEVICE").unwrap_or_else(|_| "Local/100@".into());
    // A real PBX from the environment, or the simulator with a demo call.
    let (sim, mut cfg) = match std::env::var("AMI_HOST") {
        Ok(host) => {
            let port = std::env::var("AMI_PORT").map_or(Ok(5038), |p| p.parse())?;
            let user = std::env::var("AMI_USERNAME")?;
            let secret = std::env::var("AMI_SECRET")?;
            (None, ClientConfig::new(host, port, user, secret))
        }
        Err(_) => {
            let sim = amiwire_sim::server::Simulator::start(Default::default()).await?;
            let cfg = ClientConfig::new("127.0.0.1", sim.addr().port(), "admin", "amp111");
            (Some(sim), cfg)
        }
    };
    cfg.reconnect = Some(Reconnect::default());
    cfg.connection.keepalive = Some(Duration::from_secs(20));
    let client = Client::connect(cfg).await?;

    for name in ["DialBegin", "DialEnd"] {
        let f = ManagerFilter::include().name(name).build()?;
        let r = client.add_server_filter(&f).await?;
        if !r.is_success() {
            eprintln!(
                "server-side filter refused ({:?}); filtering here only",
                r.text()
            );
        }
    }
    let mut pops = client.events(
        Filter::events(["DialBegin", "DialEnd"])
            & Filter::header_starts_with("DestChannel", &device),
    );
    println!("watching calls to {device}");

    if sim.is_some() {
        // Something to see: Local/200 dials Local/100.
        let call = Originate::to_application("Local/200@test", "Wait", "3")
            .caller_id("Alice <5551234>")
            .asynchronous(true)
            .build();
        let c = client.clone();
        tokio::spawn(async move { c.send(call).await });
    }

    let mut seen = 0;
    while let Some(item) = pops.recv().await {
        match item {
            ClientEvent::Event(e) => {
                let get = |k| e.get_str(k).unwrap_or("?");
                match get("Event") {
                    "DialBegin" => println!(
                        "ringing {}: call from {} <{}>",
                        get("DestChannel"),
                        get("CallerIDName"),
                        get("CallerIDNum")
                    ),
                    _ => println!("{}: {}", get("DestChannel"), get("DialStatus")),
                }
                seen += 1;
                if sim.is_some() && seen == 2 {
                    break; // the demo call was seen
                }
            }
            ClientEvent::Disconnected { reason } => eprintln!("disconnected: {reason}"),
            ClientEvent::Reconnected { .. } => eprintln!("reconnected"),
            ClientEvent::Lagged { dropped } => eprintln!("{dropped} events lost"),
            _ => {}
        }
    }
    client.close().await;
    Ok(())
}
