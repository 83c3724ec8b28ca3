//! Zero heap allocations per message in the decoder's steady state, measured with a counting
//! global allocator: after one warm-up pass over the bulk stream (buffers grown), a second
//! pass over the same 78,005 messages allocates nothing.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use amiwire::Decoder;
use amiwire_benches::{amiwire_decode, bulk_stream, BULK_MESSAGES};

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

#[test]
fn decoder_steady_state_allocates_nothing() {
    let data = bulk_stream();
    let mut dec = Decoder::new();
    // Warm-up: the buffer and the header table grow to their working size.
    assert_eq!(amiwire_decode(&data, &mut dec).messages, BULK_MESSAGES);
    let before = ALLOCS.load(Ordering::Relaxed);
    // Same decoder, a new stream of the same shape (the banner line is taken as a header-less
    // line here, so skip it).
    let body = &data[data.iter().position(|&b| b == b'\n').unwrap() + 1..];
    let counts = amiwire_decode(body, &mut dec);
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(counts.messages, BULK_MESSAGES);
    assert_eq!(
        after - before,
        0,
        "allocations during {} messages",
        counts.messages
    );
}
