//! # amiwire: the Asterisk Manager Interface, sans I/O
//!
//! This crate is the protocol core of amiwire. It decodes what an Asterisk server sends,
//! encodes what a client sends, correlates actions with their answers (event lists, Command
//! output, async Originate results), filters events and builds call files. It contains no
//! networking code, no threads, and never reads a clock: bytes and time go in, events and bytes
//! come out. Transports (tokio, C, Python…) own the socket and the timers.
//!
//! ```text
//!  socket ──receive()──▶ ┌────────────┐ ──poll_output()──▶ Connected, LoggedIn, Event(MessageRef),
//!                        │ Connection │                    Response(list items, Command output,
//!  socket ◀─poll_transmit│  Decoder   │                    OriginateResponse), Failed, Closed
//!                        └────────────┘ ◀──send(Action)── your code
//!      handle_timeout(now) ▲       │ poll_timeout()
//! ```
//!
//! A whole session, checked byte for byte against a recording of a real Asterisk 22
//! (`tests/data/01-login-ping-logoff.admin.*`): log in, send a Ping, log off.
//!
//! ```
//! use std::time::Instant;
//! use amiwire::{Action, ActionIdGenerator, CloseReason, Connection, ConnectionConfig, Credentials, Output};
//!
//! let server = include_bytes!("../tests/data/01-login-ping-logoff.admin.server.bin");
//! let client = include_bytes!("../tests/data/01-login-ping-logoff.admin.client.bin");
//!
//! let now = Instant::now();
//! let mut cfg = ConnectionConfig::new(Credentials::plain("admin", "amp111"));
//! cfg.action_ids = ActionIdGenerator::with_prefix("login")?; // the recorded login-1
//! let mut conn = Connection::new(cfg, now);
//! // Sent before the banner: held until the login succeeds.
//! let ping = conn.send(Action::ping().action_id("ping-2"), now)?;
//!
//! let (mut written, mut seen, mut logoff) = (Vec::new(), Vec::new(), None);
//! for mut chunk in server.chunks(64) {
//!     // as a socket would deliver it
//!     while !chunk.is_empty() {
//!         let n = conn.receive(chunk);
//!         chunk = &chunk[n..];
//!         while let Some(out) = conn.poll_output() {
//!             seen.push(match out {
//!                 Output::Connected { banner } => banner,
//!                 Output::LoggedIn => "logged in".into(),
//!                 Output::Event(e) => format!("event {}", e.get_str("Event").unwrap()),
//!                 Output::Response(r) if r.id == ping => format!("ping: {}", r.get_str("Ping").unwrap()),
//!                 Output::Response(r) => format!("{}: {}", r.action, r.text().unwrap()),
//!                 other => format!("{other:?}"),
//!             });
//!         }
//!         if seen.iter().any(|s| s == "ping: Pong") && logoff.is_none() {
//!             logoff = Some(conn.send(Action::logoff().action_id("logoff-3"), now)?);
//!         }
//!         let _ = conn.poll_transmit(&mut written);
//!     }
//! }
//! conn.receive_eof(); // the server closes after Goodbye
//! while let Some(out) = conn.poll_output() {
//!     assert!(matches!(out, Output::Closed(CloseReason::Logoff)));
//! }
//! assert_eq!(written, client); // exactly what the recorded client sent
//! assert_eq!(seen, [
//!     "Asterisk Call Manager/11.0.0",
//!     "logged in",
//!     "event FullyBooted",
//!     "event SuccessfulAuth",
//!     "ping: Pong",
//!     "Logoff: Thanks for all the fish.",
//! ]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The layers below the [`Connection`] are usable on their own: the [`Decoder`] (zero-copy,
//! lossless [`MessageRef`]s from any chunking of a stream), [`Action`] (validated, injection-proof
//! encoding), [`filter`] (structured and manager.conf event filters) and [`callfile`].
//!
//! ```
//! use amiwire::{Action, Decoder, Frame, MessageKind};
//!
//! let ping = Action::new("Ping").action_id("p1");
//! assert_eq!(ping.to_bytes().unwrap(), b"Action: Ping\r\nActionID: p1\r\n\r\n");
//!
//! let mut dec = Decoder::new();
//! let wire = b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: p1\r\nPing: Pong\r\n\r\n";
//! let mut frames = Vec::new();
//! for chunk in wire.chunks(7) {
//!     assert_eq!(dec.feed(chunk), chunk.len());
//!     while let Some(frame) = dec.decode().unwrap() {
//!         match frame {
//!             Frame::Banner(b) => frames.push(String::from_utf8_lossy(b).into_owned()),
//!             Frame::Message(m) => {
//!                 assert_eq!(m.kind(), MessageKind::Response);
//!                 assert_eq!(m.action_id(), Some(&b"p1"[..]));
//!                 frames.push(m.get_str("Ping").unwrap().to_owned());
//!             }
//!         }
//!     }
//! }
//! assert_eq!(frames, ["Asterisk Call Manager/11.0.0", "Pong"]);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod action;
pub mod ajam;
pub mod callfile;
pub mod connection;
mod decoder;
pub mod filter;
#[doc(hidden)]
pub mod fuzzing;
pub mod jsonl;
mod message;

// Everything a user names is here, at the root: one `use amiwire::{…}` line does.
pub use action::{Action, ActionId, ActionIdGenerator, EncodeError, Originate};
pub use callfile::{CallFile, CallFileError, Destination};
pub use connection::{
    ActionError, AuthMethod, CloseReason, Connection, ConnectionConfig, Credentials, EventMask,
    LocalError, Output, ProtocolError, Refusal, Response, Secret,
};
pub use decoder::{DecodeError, Decoder, DecoderConfig, Frame};
pub use filter::{Filter, FilterError, FilterSet, ManagerFilter};
pub use message::{ChanVariable, CommandOutput, Header, Headers, Message, MessageKind, MessageRef};
