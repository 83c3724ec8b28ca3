//! The calls of `amiwire click2call`: the agent and number locks, one task per call that
//! places it and follows it through AMI events, and the check after a reconnect that
//! releases the calls whose hang-up fell into the gap.
//!
//! A call's progress goes to whoever asked for it (a JSON answer or an event stream) over a
//! channel that never holds more than a handful of items, and the call task never waits on
//! it: a browser that stops reading costs nothing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amiwire::filter::Filter;
use amiwire::{Action, Message};
use amiwire_tokio::{Client, ClientEvent, Overflow};
use tokio::sync::{mpsc, Notify};

/// What happened to a call, in the order it happens. The last one a caller gets is
/// `Hungup`, `Failed` or `Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Progress {
    /// The agent's channel exists and is being called.
    Ringing { channel: String },
    /// The agent answered (OriginateResponse: Success); the number is being dialled.
    Answered {
        reason: String,
        channel: String,
        uniqueid: String,
    },
    /// The agent's channel hung up (the end of the call).
    Hungup { cause: String, cause_txt: String },
    /// The call was not placed, or the agent did not answer.
    Failed {
        /// `failed` (OriginateResponse: Failure) or `refused` (the Originate was refused).
        result: &'static str,
        reason: String,
        channel: String,
        message: String,
    },
    /// No result: `status` is the HTTP status that says why (503 AMI down, 504 unknown).
    Error { status: u16, message: String },
}

impl Progress {
    /// Whether nothing follows.
    pub(super) fn is_last(&self) -> bool {
        matches!(
            self,
            Progress::Hungup { .. } | Progress::Failed { .. } | Progress::Error { .. }
        )
    }
}

/// The words for an OriginateResponse `Reason` (Asterisk's `enum ast_control_frame_type`
/// values as app_originate and manager.c report them).
pub(super) fn reason_text(reason: &str) -> &'static str {
    match reason {
        "0" => "failed",
        "1" => "hung up",
        "3" => "no answer",
        "4" => "answered",
        "5" => "busy",
        "8" => "congested",
        _ => "unknown",
    }
}

/// The key a number is locked under, so that one line is one lock however it is written:
/// the visual separators (space, `-`, `.`, `(`, `)`) removed, then one leading `+`, then one
/// leading `national_prefix` (when given). With `--national-prefix 0`, `600`, `0600`, `+600`
/// and `+0600` are one number. The number dialled is the one given; only the lock uses this.
pub(super) fn number_key(number: &str, national_prefix: Option<&str>) -> String {
    let plain: String = number
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let s = plain.strip_prefix('+').unwrap_or(&plain);
    let s = match national_prefix {
        Some(p) if !p.is_empty() => s.strip_prefix(p).unwrap_or(s),
        _ => s,
    };
    if s.is_empty() {
        plain
    } else {
        s.to_owned()
    }
}

/// Numbers and agents with a call in progress, and the calls whose end is awaited.
#[derive(Debug, Default)]
pub(super) struct Calls {
    busy: Mutex<HashSet<String>>,
    /// Calls placed (answered, or with an unknown outcome) whose hang-up is awaited, by
    /// their agent channel's Uniqueid.
    tracked: Mutex<HashMap<String, Tracked>>,
}

#[derive(Debug)]
struct Tracked {
    since: Instant,
    gone: Arc<Notify>,
}

/// The agent and number locks of one call, released when it is dropped.
#[derive(Debug)]
pub(super) struct Lock {
    calls: Arc<Calls>,
    keys: [String; 2],
}

impl Drop for Lock {
    fn drop(&mut self) {
        let mut set = self.calls.busy.lock().unwrap_or_else(|e| e.into_inner());
        for k in &self.keys {
            set.remove(k);
        }
    }
}

/// Removes a call from the tracked ones when its task ends.
struct TrackGuard {
    calls: Arc<Calls>,
    uid: String,
}

impl Drop for TrackGuard {
    fn drop(&mut self) {
        self.calls
            .tracked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.uid);
    }
}

impl Calls {
    /// Locks `agent` and the number key, or `None` when either is busy; `admit` decides
    /// last (rate limit, link up) while the lock is held, and its error is returned as is.
    pub(super) fn lock<E>(
        self: &Arc<Self>,
        agent: &str,
        number_key: &str,
        admit: impl FnOnce() -> Result<(), E>,
    ) -> Result<Option<Lock>, E> {
        let keys = [format!("agent:{agent}"), format!("number:{number_key}")];
        let mut set = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if keys.iter().any(|k| set.contains(k)) {
            return Ok(None);
        }
        admit()?;
        for k in &keys {
            set.insert(k.clone());
        }
        Ok(Some(Lock {
            calls: self.clone(),
            keys,
        }))
    }

    fn track(self: &Arc<Self>, uid: &str) -> (TrackGuard, Arc<Notify>) {
        let gone = Arc::new(Notify::new());
        self.tracked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                uid.to_owned(),
                Tracked {
                    since: Instant::now(),
                    gone: gone.clone(),
                },
            );
        (
            TrackGuard {
                calls: self.clone(),
                uid: uid.to_owned(),
            },
            gone,
        )
    }

    /// Tells every call tracked since before `before` whose channel is not in `live` that
    /// it is over.
    fn release_missing(&self, live: &HashSet<String>, before: Instant) -> usize {
        let tracked = self.tracked.lock().unwrap_or_else(|e| e.into_inner());
        let mut n = 0;
        for (uid, t) in tracked.iter() {
            if t.since < before && !live.contains(uid) {
                t.gone.notify_one();
                n += 1;
            }
        }
        n
    }
}

/// What a call task needs.
pub(super) struct CallJob {
    pub(super) client: Client,
    pub(super) calls: Arc<Calls>,
    pub(super) lock: Lock,
    pub(super) action: Action,
    /// The Uniqueid the agent's channel gets (the Originate's `ChannelId`).
    pub(super) uid: String,
    /// How long to wait for the OriginateResponse.
    pub(super) wait: Duration,
    /// How long an answered call keeps its locks at most.
    pub(super) max_call: Duration,
    /// Asks the monitor for a channel check.
    pub(super) check: mpsc::Sender<()>,
}

/// A new Uniqueid for an agent channel: unique across calls and across runs of the process.
pub(super) fn new_uid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    });
    format!(
        "c2c-{start:x}-{:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn get(m: &Message, k: &str) -> String {
    m.get_str(k).unwrap_or("").to_owned()
}

/// What an event of the call says.
enum Seen {
    Ringing(String),
    Hangup(String, String),
    Other,
}

fn seen(m: &Message, uid: &str) -> Seen {
    let name = m.get_str("Event").unwrap_or("");
    let own = m.get_str("Uniqueid") == Some(uid);
    match name {
        "Hangup" if own => Seen::Hangup(get(m, "Cause"), get(m, "Cause-txt")),
        "Newchannel" if own => Seen::Ringing(get(m, "Channel")),
        "Newstate" if own && matches!(m.get_str("ChannelState"), Some("4" | "5")) => {
            Seen::Ringing(get(m, "Channel"))
        }
        "DialBegin" if m.get_str("DestUniqueid") == Some(uid) => {
            Seen::Ringing(get(m, "DestChannel"))
        }
        _ => Seen::Other,
    }
}

/// Places the call and follows it to its end; the locks are held until then.
pub(super) async fn run_call(job: CallJob, tx: mpsc::Sender<Progress>) {
    let CallJob {
        client,
        calls,
        lock,
        action,
        uid,
        wait,
        max_call,
        check,
    } = job;
    // Never waits: at most four items ever go to a channel of eight.
    let say = |p: Progress| {
        let _ = tx.try_send(p);
    };
    // Subscribed before the call, so that no event of it is missed.
    let filter = Filter::header_eq("Uniqueid", &uid).or(Filter::header_eq("DestUniqueid", &uid));
    let mut events = client.events_with(filter, 256, Overflow::DropOldest);
    let mut rang = false;
    let mut hangup: Option<(String, String)> = None;
    let mut open = true;
    let send = client.send_now(action, wait);
    tokio::pin!(send);
    let mut note = |item: Option<ClientEvent>, open: &mut bool| match item {
        Some(ClientEvent::Event(m)) => match seen(&m, &uid) {
            Seen::Ringing(channel) if !rang && hangup.is_none() => {
                rang = true;
                say(Progress::Ringing { channel });
            }
            Seen::Hangup(c, t) => hangup = Some((c, t)),
            _ => {}
        },
        Some(_) => {}
        None => *open = false,
    };
    let result = loop {
        tokio::select! {
            biased;
            item = events.recv(), if open => note(item, &mut open),
            r = &mut send => break r,
        }
    };
    // The events raised before the result, still queued.
    while let Some(item) = events.try_recv() {
        note(Some(item), &mut open);
    }
    let response = match result {
        Ok(r) => r,
        Err(e) if e.outcome_unknown() => {
            // The Originate was written: the call may be up. The locks stay until its fate
            // is known, so that a retry cannot dial twice.
            say(Progress::Error {
                status: 504,
                message: "no result from Asterisk (the call may have been placed)".into(),
            });
            if hangup.is_none() {
                let (_guard, gone) = calls.track(&uid);
                let _ = check.try_send(());
                follow(&mut events, &uid, &gone, &check, max_call).await;
            }
            drop(lock);
            return;
        }
        Err(e) => {
            drop(lock);
            say(Progress::Error {
                status: 503,
                message: format!("Asterisk unavailable: {e}"),
            });
            return;
        }
    };
    let Some(o) = response.originate.as_ref() else {
        drop(lock);
        say(Progress::Failed {
            result: "refused",
            reason: String::new(),
            channel: String::new(),
            message: response.text().unwrap_or("").to_owned(),
        });
        return;
    };
    if !response.is_success() {
        drop(lock);
        say(Progress::Failed {
            result: "failed",
            reason: get(o, "Reason"),
            channel: get(o, "Channel"),
            message: o.get_str("Message").unwrap_or("").to_owned(),
        });
        return;
    }
    say(Progress::Answered {
        reason: get(o, "Reason"),
        channel: get(o, "Channel"),
        uniqueid: get(o, "Uniqueid"),
    });
    let end = match hangup {
        Some((cause, cause_txt)) => Some(Progress::Hungup { cause, cause_txt }),
        None => {
            let (_guard, gone) = calls.track(&uid);
            follow(&mut events, &uid, &gone, &check, max_call).await
        }
    };
    drop(lock);
    say(end.unwrap_or(Progress::Error {
        status: 504,
        message: "no hang-up seen within --max-call".into(),
    }));
}

/// Waits for the end of a call that was placed: its Hangup, or the channel check finding it
/// gone (`Hungup` with an empty cause), or `max_call` (`None`). Events lost to a slow queue
/// (`Lagged`) may have held the Hangup: a channel check is asked for.
async fn follow(
    events: &mut amiwire_tokio::EventStream,
    uid: &str,
    gone: &Notify,
    check: &mpsc::Sender<()>,
    max_call: Duration,
) -> Option<Progress> {
    let ended = async {
        let mut open = true;
        loop {
            tokio::select! {
                item = events.recv(), if open => match item {
                    Some(ClientEvent::Event(m)) => {
                        if let Seen::Hangup(cause, cause_txt) = seen(&m, uid) {
                            return Progress::Hungup { cause, cause_txt };
                        }
                    }
                    Some(ClientEvent::Lagged { .. }) => {
                        let _ = check.try_send(());
                    }
                    Some(_) => {}
                    None => open = false,
                },
                _ = gone.notified() => {
                    return Progress::Hungup {
                        cause: String::new(),
                        cause_txt: "the hang-up was lost while the AMI link was down".into(),
                    };
                }
            }
        }
    };
    tokio::time::timeout(max_call, ended).await.ok()
}

/// The Uniqueids of the live channels: CoreShowChannels (the AMI user needs `write` =
/// `reporting` or `system`), or Status when that is refused (`call` is enough). `Err` says
/// why neither could be had.
pub(super) async fn live_channels(client: &Client) -> Result<HashSet<String>, String> {
    let mut refused = Vec::new();
    for action in [Action::core_show_channels(), Action::status(None)] {
        let name = action.name().to_owned();
        match client.send_now(action, Duration::from_secs(10)).await {
            Ok(r) if r.is_success() => {
                return Ok(r
                    .events
                    .iter()
                    .filter_map(|m| m.get_str("Uniqueid").map(str::to_owned))
                    .collect());
            }
            Ok(r) => refused.push(format!("{name}: {}", r.text().unwrap_or("refused"))),
            Err(e) => return Err(format!("{name}: {e}")),
        }
    }
    Err(refused.join("; "))
}

/// Runs until the client is closed: after each reconnect (and when a call asks, after an
/// unknown outcome or lost events), lists the live channels and releases the tracked calls
/// whose channel is gone. A first listing at the start tells the operator early when the AMI
/// user may not list channels.
pub(super) async fn monitor(client: Client, calls: Arc<Calls>, mut asks: mpsc::Receiver<()>) {
    let mut marks = client.events_with(Filter::none(), 16, Overflow::DropOldest);
    if let Err(e) = live_channels(&client).await {
        eprintln!(
            "amiwire click2call: warning: cannot list channels ({e}); after an AMI reconnect, calls stay busy until their hang-up or --max-call (grant the AMI user write = reporting or call)"
        );
    }
    loop {
        let since = tokio::select! {
            item = marks.recv() => match item {
                Some(ClientEvent::Reconnected { .. }) => Instant::now(),
                Some(_) => continue,
                None => return,
            },
            ask = asks.recv() => match ask {
                Some(()) => Instant::now(),
                None => return,
            },
        };
        if !client.is_connected() {
            continue; // the next Reconnected brings a check
        }
        match live_channels(&client).await {
            Ok(live) => {
                let n = calls.release_missing(&live, since);
                if n > 0 {
                    eprintln!(
                        "amiwire click2call: {n} call(s) ended while their hang-up was not seen: released"
                    );
                }
            }
            Err(e) => eprintln!(
                "amiwire click2call: cannot list channels ({e}); calls stay busy until their hang-up or --max-call"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_number_however_it_is_written() {
        let k = |n: &str| number_key(n, Some("0"));
        assert_eq!(k("600"), "600");
        assert_eq!(k("0600"), "600");
        assert_eq!(k("+600"), "600");
        assert_eq!(k("+0600"), "600");
        assert_eq!(k("06 12-34.56 (78)"), "612345678");
        // Only one prefix is removed.
        assert_eq!(k("00600"), "0600");
        // Without a national prefix, 0600 is another number.
        assert_eq!(number_key("0600", None), "0600");
        assert_eq!(number_key("+600", None), "600");
        // Nothing left: the number itself.
        assert_eq!(k("0"), "0");
        assert_eq!(k("+"), "+");
    }

    #[test]
    fn locks_are_per_agent_and_per_number_and_released_on_drop() {
        let calls = Arc::new(Calls::default());
        let ok = || Ok::<(), ()>(());
        let a = calls.lock("110", "600", ok).unwrap().unwrap();
        assert!(calls.lock("110", "601", ok).unwrap().is_none());
        assert!(calls.lock("111", "600", ok).unwrap().is_none());
        // A refusal by `admit` takes no lock.
        assert!(matches!(
            calls.lock("111", "601", || Err::<(), _>(429)),
            Err(429)
        ));
        let b = calls.lock("111", "601", ok).unwrap().unwrap();
        drop(a);
        assert!(calls.lock("110", "600", ok).unwrap().is_some());
        drop(b);
        assert!(calls.busy.lock().unwrap().is_empty());
    }

    #[test]
    fn a_check_releases_only_missing_calls_tracked_before_it() {
        let calls = Arc::new(Calls::default());
        let (_g1, gone1) = calls.track("a");
        let (_g2, _gone2) = calls.track("b");
        std::thread::sleep(Duration::from_millis(2));
        let before = Instant::now();
        let (_g3, _gone3) = calls.track("c");
        let live: HashSet<String> = ["b".to_owned()].into();
        assert_eq!(calls.release_missing(&live, before), 1, "a only");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(1), gone1.notified())
                .await
                .expect("told");
        });
        drop(_g1);
        assert_eq!(calls.tracked.lock().unwrap().len(), 2);
    }

    #[test]
    fn uids_are_unique() {
        let a = new_uid();
        let b = new_uid();
        assert_ne!(a, b);
        assert!(a.starts_with("c2c-") && a.len() < 64, "{a}");
    }
}
