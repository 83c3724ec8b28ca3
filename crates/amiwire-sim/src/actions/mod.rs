//! The actions: what one action answers, [`Reply`], and the actions that are not the
//! session's own (the event lists, the info actions).

use std::time::Duration;

use crate::wire::{error, SimEvent};

pub(crate) mod info;
pub(crate) mod lists;

/// What the server does after writing a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Then {
    /// Keep reading actions.
    Continue,
    /// Close the connection.
    Close,
}

/// The answer to one action.
#[derive(Clone, Debug)]
pub struct Reply {
    /// Wait this long before writing (a failed login).
    pub delay: Duration,
    /// The bytes to write.
    pub bytes: Vec<u8>,
    /// Events raised by the action, for every session (this one included, unless it wrote
    /// the event into `bytes` itself: [`Session::is_own_event`]).
    pub events: Vec<SimEvent>,
    /// What next.
    pub then: Then,
    /// A call to start; for a synchronous Originate, `bytes` is empty and the answer is
    /// written once the call is answered or fails ([`originate_reply`]).
    pub originate: Option<crate::call::OriginateRequest>,
}

impl Reply {
    pub(crate) fn new(bytes: Vec<u8>) -> Reply {
        Reply {
            delay: Duration::ZERO,
            bytes,
            events: Vec::new(),
            then: Then::Continue,
            originate: None,
        }
    }
}

/// Asterisk's answer to a message it could not parse: a line over its 1024-byte buffer, or
/// more than 128 lines (`AST_MAX_MANHEADERS`).
pub fn parse_error_reply(e: amiwire::DecodeError) -> Reply {
    let text = match e {
        amiwire::DecodeError::TooManyHeaders { .. } => {
            "Too many lines in message or allocation failure"
        }
        _ => "Failed to parse message: line too long",
    };
    Reply::new(error(None, text))
}
