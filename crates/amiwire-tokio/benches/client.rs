//! End to end through TCP on loopback: events from the simulator through the client to a
//! subscriber, and action round trips (one at a time, and 64 in flight).
//!
//! `cargo bench -p amiwire-tokio --bench client`
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use amiwire::filter::Filter;
use amiwire::Action;
use amiwire_sim::accounts::Privileges;
use amiwire_sim::server::{SimConfig, Simulator};
use amiwire_sim::session::SimEvent;
use amiwire_tokio::{Client, ClientConfig, ClientEvent, Overflow};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const EVENTS: usize = 100_000;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (sim, client) = rt.block_on(async {
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let cfg = ClientConfig::new("127.0.0.1", sim.addr().port(), "admin", "amp111");
        let client = Client::connect(cfg).await.unwrap();
        (sim, client)
    });
    // A real-shaped event (recording 12a's VarSet), 330 bytes.
    let ev = SimEvent::new(
        "VarSet",
        Privileges::DIALPLAN,
        &[
            ("Channel", "Local/110@test-000000a1;2"),
            ("ChannelState", "6"),
            ("ChannelStateDesc", "Up"),
            ("CallerIDNum", "<unknown>"),
            ("CallerIDName", "<unknown>"),
            ("ConnectedLineNum", "<unknown>"),
            ("ConnectedLineName", "<unknown>"),
            ("Language", "en"),
            ("AccountCode", ""),
            ("Context", "test"),
            ("Exten", "110"),
            ("Priority", "2"),
            ("Uniqueid", "1795453647.1234"),
            ("Linkedid", "1795453647.1230"),
            ("Variable", "CALLNUM"),
            ("Value", "4242"),
        ],
    );

    let mut g = c.benchmark_group("client");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function("events sim->client->subscriber (100k)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut sub =
                        client.events_with(Filter::event("VarSet"), 1 << 20, Overflow::Close);
                    let start = Instant::now();
                    let reader = async {
                        let mut n = 0;
                        while n < EVENTS {
                            match sub.recv().await {
                                Some(ClientEvent::Event(_)) => n += 1,
                                Some(ClientEvent::Connected { .. }) => {}
                                other => panic!("{other:?}"),
                            }
                        }
                    };
                    tokio::join!(sim.flood(&ev, EVENTS), reader);
                    total += start.elapsed();
                }
                total
            })
        })
    });

    g.throughput(Throughput::Elements(1000));
    g.bench_function("ping round trips, one at a time (1000)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    for _ in 0..1000 {
                        let r = client.send(Action::ping()).await.unwrap();
                        assert!(r.is_success());
                    }
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("ping round trips, 64 in flight (1000)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut set = tokio::task::JoinSet::new();
                    for w in 0..64 {
                        let c = client.clone();
                        set.spawn(async move {
                            for _ in 0..(1000 / 64 + usize::from(w < 1000 % 64)) {
                                assert!(c.send(Action::ping()).await.unwrap().is_success());
                            }
                        });
                    }
                    while let Some(r) = set.join_next().await {
                        r.unwrap();
                    }
                }
                start.elapsed()
            })
        })
    });
    g.finish();
    rt.block_on(async {
        client.close().await;
        sim.stop().await;
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
