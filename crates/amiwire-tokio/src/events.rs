//! Event subscriptions: bounded per-subscriber queues the connection task never waits on.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use amiwire::filter::Filter;
use amiwire::{Message, MessageRef};

use crate::config::Overflow;
use crate::driver::Disconnect;

/// What a subscription delivers: events, and where the connection broke and came back, so a
/// gap in the stream is never silent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// An event that passed the subscription's filter.
    Event(Message),
    /// The session is up (the first item of a subscription made while connected).
    Connected {
        /// The server's banner.
        banner: String,
    },
    /// The connection broke; events raised until [`Reconnected`](Self::Reconnected) are lost.
    Disconnected {
        /// Why (its `Display` says it in words).
        reason: Disconnect,
    },
    /// A new session is up, with the event mask and the server-side filters of the old one.
    Reconnected {
        /// The server's banner.
        banner: String,
    },
    /// This subscriber was too slow: this many of its oldest events were dropped
    /// ([`Overflow::DropOldest`]).
    Lagged {
        /// How many events were dropped.
        dropped: u64,
    },
    /// This subscriber was too slow and is ended ([`Overflow::Close`]); nothing follows.
    Overflowed {
        /// The queue's capacity.
        capacity: usize,
    },
}

#[derive(Debug, Default)]
struct QueueState {
    items: VecDeque<ClientEvent>,
    /// Events dropped since the last `Lagged` was handed out.
    dropped: u64,
    /// No more items will come (client gone, or overflow with `Overflow::Close`).
    closed: bool,
    waker: Option<Waker>,
}

/// One subscriber's queue, shared by the connection task (writer) and the stream (reader).
#[derive(Debug)]
pub(crate) struct Subscriber {
    filter: Filter,
    capacity: usize,
    policy: Overflow,
    state: Mutex<QueueState>,
    /// Mirrors `QueueState::closed`, so the connection task can prune without locking.
    closed: AtomicBool,
}

fn lock(m: &Mutex<QueueState>) -> MutexGuard<'_, QueueState> {
    // A panic while holding this lock cannot leave the queue inconsistent (every update is a
    // single push or pop), so a poisoned lock is used as it is.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Subscriber {
    pub(crate) fn new(filter: Filter, capacity: usize, policy: Overflow) -> Subscriber {
        Subscriber {
            filter,
            capacity: capacity.max(1),
            policy,
            state: Mutex::new(QueueState::default()),
            closed: AtomicBool::new(false),
        }
    }

    pub(crate) fn wants(&self, msg: &MessageRef<'_>) -> bool {
        self.filter.matches(msg)
    }

    /// Whether the subscription is over (the stream was dropped, or it overflowed).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Queues an item without ever waiting; markers (anything but events) are always kept.
    pub(crate) fn push(&self, item: ClientEvent) {
        let waker = {
            let mut st = lock(&self.state);
            if st.closed {
                return;
            }
            let is_event = matches!(item, ClientEvent::Event(_));
            if is_event && st.items.len() >= self.capacity {
                match self.policy {
                    Overflow::DropOldest => {
                        // Drop the oldest event (markers stay: they say where gaps are).
                        if let Some(i) = st
                            .items
                            .iter()
                            .position(|e| matches!(e, ClientEvent::Event(_)))
                        {
                            st.items.remove(i);
                            st.dropped += 1;
                        } else {
                            st.dropped += 1;
                            return;
                        }
                    }
                    Overflow::Close => {
                        st.items.push_back(ClientEvent::Overflowed {
                            capacity: self.capacity,
                        });
                        st.closed = true;
                        self.closed.store(true, Ordering::Release);
                        return wake(st.waker.take());
                    }
                }
            }
            st.items.push_back(item);
            st.waker.take()
        };
        wake(waker);
    }

    /// No more items: the stream ends once the queue is drained.
    pub(crate) fn close(&self) {
        let waker = {
            let mut st = lock(&self.state);
            st.closed = true;
            self.closed.store(true, Ordering::Release);
            st.waker.take()
        };
        wake(waker);
    }

    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<ClientEvent>> {
        let mut st = lock(&self.state);
        if st.dropped > 0 {
            let dropped = std::mem::take(&mut st.dropped);
            return Poll::Ready(Some(ClientEvent::Lagged { dropped }));
        }
        if let Some(item) = st.items.pop_front() {
            return Poll::Ready(Some(item));
        }
        if st.closed {
            return Poll::Ready(None);
        }
        match &st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn try_next(&self) -> Option<ClientEvent> {
        let mut st = lock(&self.state);
        if st.dropped > 0 {
            let dropped = std::mem::take(&mut st.dropped);
            return Some(ClientEvent::Lagged { dropped });
        }
        st.items.pop_front()
    }
}

fn wake(w: Option<Waker>) {
    if let Some(w) = w {
        w.wake();
    }
}

/// A subscription's events: a [`Stream`](futures_core::Stream), or [`recv`](Self::recv) them.
///
/// It ends (`None`) when the client is closed for good, or after
/// [`ClientEvent::Overflowed`]. Dropping it ends the subscription.
#[derive(Debug)]
pub struct EventStream {
    pub(crate) sub: Arc<Subscriber>,
}

impl EventStream {
    /// The next item, waiting for it; `None` once the subscription is over.
    pub async fn recv(&mut self) -> Option<ClientEvent> {
        std::future::poll_fn(|cx| self.sub.poll_next(cx)).await
    }

    /// The next item if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<ClientEvent> {
        self.sub.try_next()
    }

    /// The next [`ClientEvent::Event`], skipping markers; `None` once the subscription is
    /// over.
    pub async fn next_event(&mut self) -> Option<Message> {
        loop {
            match self.recv().await? {
                ClientEvent::Event(m) => return Some(m),
                _ => continue,
            }
        }
    }
}

impl futures_core::Stream for EventStream {
    type Item = ClientEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ClientEvent>> {
        self.sub.poll_next(cx)
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.sub.close();
    }
}
