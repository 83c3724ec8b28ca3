//! Zero heap allocations per message in the decoder's steady state, measured with a counting
//! global allocator: after one warm-up pass over the bulk stream (buffers grown), a second
//! pass over the same 78,005 messages allocates nothing, and neither does a filter evaluated
//! on each of them.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use amiwire::filter::{Filter, FilterSet};
use amiwire::Decoder;
use amiwire_benches::{amiwire_decode, amiwire_decode_filtered, bulk_stream, BULK_MESSAGES};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The counter is global: one measurement at a time.
static MEASURING: Mutex<()> = Mutex::new(());

/// The bulk stream without its banner line (a second pass on a warm decoder would take it for a
/// header-less line).
fn body(data: &[u8]) -> &[u8] {
    &data[data.iter().position(|&b| b == b'\n').unwrap() + 1..]
}

#[test]
fn decoder_steady_state_allocates_nothing() {
    let _one = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let data = bulk_stream();
    let mut dec = Decoder::new();
    // Warm-up: the buffer and the header table grow to their working size.
    assert_eq!(amiwire_decode(&data, &mut dec).messages, BULK_MESSAGES);
    let before = ALLOCS.load(Ordering::Relaxed);
    // Same decoder, a new stream of the same shape (the banner line is taken as a header-less
    // line here, so skip it).
    let counts = amiwire_decode(body(&data), &mut dec);
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(counts.messages, BULK_MESSAGES);
    assert_eq!(
        after - before,
        0,
        "allocations during {} messages",
        counts.messages
    );
}

#[test]
fn filter_evaluation_allocates_nothing() {
    let _one = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let data = bulk_stream();
    // Every kind of node: event names, each header test, a regex, manager.conf filters in both
    // syntaxes (regex over the text, header methods), not / and / or.
    let mut set = FilterSet::new();
    set.add_legacy("Event: (Newexten|VarSet|Hangup)").unwrap();
    set.add_criteria("action(include),name(DialBegin)", "")
        .unwrap();
    set.add_criteria(
        "action(exclude),header(Channel),method(contains)",
        "@nowhere",
    )
    .unwrap();
    let filter = (Filter::events(["Newexten", "VarSet", "Hangup", "DialBegin"])
        & !Filter::header_starts_with("Channel", "PJSIP/nobody")
        & Filter::header_exists("Uniqueid")
        & (Filter::header_contains("Channel", "Local/")
            | Filter::header_ends_with("Context", "test")
            | Filter::header_eq("Exten", "902")
            | Filter::header_regex("Uniqueid", r"\.4[0-9]$").unwrap()))
        & Filter::from(set)
        & Filter::manager("!Event: VarSet").unwrap();
    let mut dec = Decoder::new();
    let (counts, passed) = amiwire_decode_filtered(&data, &mut dec, &filter);
    assert_eq!(counts.messages, BULK_MESSAGES);
    assert!(passed > 0 && passed < counts.messages, "{passed} passed");
    let before = ALLOCS.load(Ordering::Relaxed);
    let (counts, again) = amiwire_decode_filtered(body(&data), &mut dec, &filter);
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!((counts.messages, again), (BULK_MESSAGES, passed));
    assert_eq!(
        after - before,
        0,
        "allocations during {} messages",
        counts.messages
    );
}
