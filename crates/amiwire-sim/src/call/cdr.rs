//! cdr_manager's Cdr events.

use super::*;

/// `2026-11-23 17:07:40` (UTC).
pub(super) fn cdr_time(t: Option<std::time::SystemTime>) -> String {
    match t {
        Some(t) => {
            let secs = t
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let (d, h) = crate::wire::civil(secs);
            format!("{d} {h}")
        }
        None => String::new(),
    }
}

/// The Cdr event of a channel that has just hung up (cdr_manager's layout).
pub(super) fn cdr(c: &Chan) -> SimEvent {
    let now = std::time::SystemTime::now();
    let secs = |from: std::time::SystemTime| {
        now.duration_since(from)
            .unwrap_or_default()
            .as_secs()
            .to_string()
    };
    let caller = if c.cid.0 == "<unknown>" {
        String::new()
    } else {
        c.cid.0.clone()
    };
    // cdr.c always writes both parts (`"" <>` for a call without caller ID, recording 09b).
    let callerid = format!("\"{}\" <{caller}>", known(&c.cid.1));
    let headers: Vec<(String, String)> = vec![
        ("AccountCode".into(), String::new()),
        ("Source".into(), caller),
        ("Destination".into(), c.exten.clone()),
        ("DestinationContext".into(), c.context.clone()),
        ("CallerID".into(), callerid),
        ("Channel".into(), c.name.clone()),
        ("DestinationChannel".into(), c.dialled.clone()),
        ("LastApplication".into(), c.last_app.0.clone()),
        ("LastData".into(), c.last_app.1.clone()),
        ("StartTime".into(), cdr_time(Some(c.started))),
        ("AnswerTime".into(), cdr_time(c.answered)),
        ("EndTime".into(), cdr_time(Some(now))),
        ("Duration".into(), secs(c.started)),
        (
            "BillableSeconds".into(),
            c.answered.map(secs).unwrap_or_else(|| "0".into()),
        ),
        (
            "Disposition".into(),
            if c.answered.is_some() {
                "ANSWERED"
            } else if c.failed {
                "FAILED"
            } else {
                "NO ANSWER"
            }
            .into(),
        ),
        ("AMAFlags".into(), "DOCUMENTATION".into()),
        ("UniqueID".into(), c.uniqueid.clone()),
        ("UserField".into(), String::new()),
    ];
    event("Cdr", Privileges::CDR, headers)
}
