//! # amiwire: the Asterisk Manager Interface, sans I/O
//!
//! This crate is the protocol core of amiwire: it decodes what an Asterisk server sends,
//! encodes what a client sends, filters events and builds call files. It contains no
//! networking code, no threads, and never reads a clock: bytes go in, messages come out.
//!
//! ```text
//!   socket bytes ──feed()──▶ Decoder ──decode()──▶ Frame::Banner / Frame::Message(MessageRef)
//!                                                        │ zero copy, lossless
//!                                     Filter::matches() ◀┘
//!   Action::new("Ping") ──encode()──▶ bytes ──▶ socket
//! ```
//!
//! ```
//! use amiwire::{Action, Decoder, Frame, MessageKind};
//!
//! // What a client writes: canonical bytes, validated against header injection.
//! let ping = Action::new("Ping").action_id("p1").unwrap();
//! assert_eq!(ping.to_bytes(), b"Action: Ping\r\nActionID: p1\r\n\r\n");
//!
//! // What Asterisk answers, in whatever chunks the socket gives.
//! let mut dec = Decoder::new();
//! let wire = b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: p1\r\nPing: Pong\r\n\r\n";
//! let mut frames = Vec::new();
//! for chunk in wire.chunks(7) {
//!     let n = dec.feed(chunk);
//!     assert_eq!(n, chunk.len());
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
pub mod callfile;
pub mod connection;
mod decoder;
pub mod filter;
#[doc(hidden)]
pub mod fuzzing;
mod message;

pub use action::{Action, ActionId, ActionIdGenerator, EncodeError};
pub use connection::{Connection, ConnectionConfig, Output};
pub use decoder::{DecodeError, Decoder, DecoderConfig, Frame};
pub use message::{ChanVariable, CommandOutput, Header, Headers, Message, MessageKind, MessageRef};
