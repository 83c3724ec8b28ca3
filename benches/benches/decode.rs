//! The decoder on the real recordings, side by side with asterisk-rs-ami's codec and the
//! memmem floor, and the same events as AMI-over-HTTP bodies. Each bench asserts what it
//! decoded.
use amiwire::Decoder;
use amiwire_benches::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bulk(c: &mut Criterion) {
    let data = bulk_stream();
    let mut g = c.benchmark_group("bulk-78003-events");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(20);
    let mut dec = Decoder::new();
    g.bench_function("amiwire", |b| {
        b.iter(|| {
            dec = Decoder::new();
            let n = amiwire_decode(&data, &mut dec);
            assert_eq!(n.messages, BULK_MESSAGES);
        })
    });
    let filter = screen_pop_filter();
    g.bench_function("amiwire+filter", |b| {
        b.iter(|| {
            let mut dec = Decoder::new();
            let (n, passed) = amiwire_decode_filtered(&data, &mut dec, &filter);
            assert_eq!((n.messages, passed), (BULK_MESSAGES, BULK_SCREEN_POP));
        })
    });
    g.bench_function("amiwire-connection", |b| {
        b.iter(|| {
            let (events, _) = connection_events(&data);
            assert_eq!(events, BULK_EVENTS);
        })
    });
    g.bench_function("asterisk-rs-ami", |b| {
        b.iter(|| {
            let n = peer_decode(&data);
            assert_eq!(n.messages, BULK_MESSAGES);
        })
    });
    g.bench_function("memmem-floor", |b| {
        b.iter(|| assert!(memmem_floor(&data).messages >= BULK_MESSAGES))
    });
    g.finish();
}

fn lists_and_command(c: &mut Criterion) {
    for (file, messages) in [
        ("06-event-lists.server.bin", 134),
        ("04-command.server.bin", 10),
    ] {
        let data = recording(file);
        let mut g = c.benchmark_group(file.trim_end_matches(".server.bin"));
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function("amiwire", |b| {
            b.iter(|| {
                let mut dec = Decoder::new();
                assert_eq!(amiwire_decode(&data, &mut dec).messages, messages)
            })
        });
        g.bench_function("asterisk-rs-ami", |b| {
            b.iter(|| assert_eq!(peer_decode(&data).messages, messages))
        });
        g.finish();
    }
}

fn pings(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipelined-pings");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("10000-round-trips", |b| {
        b.iter(|| assert_eq!(ping_round_trips(10_000), 10_000))
    });
    g.finish();
}

/// AMI over HTTP: the bulk recording's events as one `/rawman` and one `/mxml` body (a
/// WaitEvent answer's shape), decoded into messages by the core's `ajam::decode_body`.
fn ajam_bodies(c: &mut Criterion) {
    use amiwire::ajam::{decode_body, BodyLimits, Flavour};
    let (rawman, mxml) = bulk_ajam_bodies();
    let mut limits = BodyLimits::default();
    limits.max_body = usize::MAX;
    for (name, flavour, body) in [
        ("rawman", Flavour::Rawman, &rawman),
        ("mxml", Flavour::Mxml, &mxml),
    ] {
        let mut g = c.benchmark_group(format!("ajam-{name}-78003-events"));
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.sample_size(10);
        g.bench_function("decode_body", |b| {
            b.iter(|| {
                let msgs = decode_body(flavour, body, &limits).unwrap();
                assert_eq!(msgs.len(), BULK_EVENTS);
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bulk, lists_and_command, pings, ajam_bodies);
criterion_main!(benches);
