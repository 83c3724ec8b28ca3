//! Events per second from the simulator to one client: a logged-in TCP client with events on
//! reads a flood of real VarSet events (the most common event of the recorded bulk stream)
//! and counts them. Asserts that every event arrived.
use std::time::{Duration, Instant};

use amiwire_sim::accounts::Privileges;
use amiwire_sim::server::{SimConfig, Simulator};
use amiwire_sim::session::SimEvent;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const EVENTS: usize = 100_000;

fn varset() -> SimEvent {
    SimEvent::new(
        "VarSet",
        Privileges::DIALPLAN,
        &[
            ("Channel", "Local/210@test-00000022;2"),
            ("ChannelState", "4"),
            ("ChannelStateDesc", "Ring"),
            ("CallerIDNum", "<unknown>"),
            ("CallerIDName", "<unknown>"),
            ("ConnectedLineNum", "<unknown>"),
            ("ConnectedLineName", "<unknown>"),
            ("Language", "en"),
            ("AccountCode", ""),
            ("Context", "test"),
            ("Exten", "210"),
            ("Priority", "1"),
            ("Uniqueid", "1795453685.70"),
            ("Linkedid", "1795453685.69"),
            ("Variable", "CALLNUM"),
            ("Value", "41785"),
        ],
    )
}

fn event_rate(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("sim-events-to-one-client");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("varset-100k", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let sim = Simulator::start(SimConfig::default()).await.unwrap();
                    let mut s = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
                    s.write_all(b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\n\r\n")
                        .await
                        .unwrap();
                    // Wait for the login to be done (its FullyBooted).
                    let mut buf = vec![0u8; 256 * 1024];
                    let mut seen = Vec::new();
                    while memchr::memmem::find(&seen, b"Fully Booted").is_none() {
                        let n = s.read(&mut buf).await.unwrap();
                        assert!(n > 0);
                        seen.extend_from_slice(&buf[..n]);
                    }
                    let ev = varset();
                    let start = Instant::now();
                    let reader = tokio::spawn(async move {
                        let finder = memchr::memmem::Finder::new(b"Event: VarSet\r\n");
                        let mut count = 0;
                        let mut tail = Vec::new();
                        while count < EVENTS {
                            let n = s.read(&mut buf).await.unwrap();
                            assert!(n > 0, "closed after {count} events");
                            tail.extend_from_slice(&buf[..n]);
                            count += finder.find_iter(&tail).count();
                            let keep = tail.len().saturating_sub(14);
                            tail.drain(..keep);
                        }
                        count
                    });
                    sim.flood(&ev, EVENTS).await;
                    let count = reader.await.unwrap();
                    total += start.elapsed();
                    assert_eq!(count, EVENTS);
                    sim.stop().await;
                }
                total
            })
        })
    });
    g.finish();
}

criterion_group!(benches, event_rate);
criterion_main!(benches);
