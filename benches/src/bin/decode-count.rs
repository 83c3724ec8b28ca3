//! One decode pass over the bulk stream (or FILE) with the chosen implementation, for
//! instruction counting: `valgrind --tool=callgrind target/release/decode-count amiwire`.
//! The input is read and unpacked before the pass; run with `none` to count that part alone
//! and subtract it.
use amiwire::Decoder;
use amiwire_benches::{
    amiwire_decode, amiwire_decode_filtered, bulk_stream, memmem_floor, peer_decode,
    screen_pop_filter,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "amiwire".into());
    let data = match args.next() {
        Some(path) => std::fs::read(path).expect("read FILE"),
        None => bulk_stream(),
    };
    let counts = match which.as_str() {
        "amiwire" => amiwire_decode(&data, &mut Decoder::new()),
        "amiwire-filter" => {
            let (c, passed) =
                amiwire_decode_filtered(&data, &mut Decoder::new(), &screen_pop_filter());
            println!("passed the filter: {passed}");
            c
        }
        "connection" => {
            let (events, other) = amiwire_benches::connection_events(&data);
            println!("connection: {events} events, {other} other outputs");
            Default::default()
        }
        "pings" => {
            let ok = amiwire_benches::ping_round_trips(10_000);
            println!("pings: {ok} round trips");
            Default::default()
        }
        "asterisk-rs-ami" => peer_decode(&data),
        "memmem" => memmem_floor(&data),
        "none" => Default::default(),
        "lines" => amiwire_benches::Counts {
            messages: memchr::memchr_iter(b'\n', &data).count(),
            headers: 0,
        },
        other => {
            eprintln!("unknown decoder {other:?}: amiwire | amiwire-filter | connection | pings | asterisk-rs-ami | memmem | none");
            std::process::exit(2);
        }
    };
    println!(
        "{which}: {} bytes, {} messages, {} headers",
        data.len(),
        counts.messages,
        counts.headers
    );
}
