//! amiwire-sim: an AMI server that behaves like a real Asterisk 22, for tests: accounts and
//! dialplan in Asterisk's file formats, plain and MD5 login, the common actions and event
//! lists, calls on Local channels with their whole event stream (held to recordings of a real
//! Asterisk), AMI over HTTP, and fault injection. The crate's README lists what matches which
//! recording.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use amiwire_sim::server::{SimConfig, Simulator};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let sim = Simulator::start(SimConfig::default()).await.unwrap();
//! let mut s = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
//! s.write_all(b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\nEvents: off\r\n\r\n").await.unwrap();
//! let mut got = Vec::new();
//! let mut buf = [0u8; 1024];
//! while !got.ends_with(b"Authentication accepted\r\n\r\n") {
//!     let n = s.read(&mut buf).await.unwrap();
//!     assert!(n > 0);
//!     got.extend_from_slice(&buf[..n]);
//! }
//! assert!(got.starts_with(b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n"));
//! sim.stop().await;
//! # });
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// The layers, from the bottom up, are listed in the README (and at each module).
pub mod accounts;
mod actions;
pub mod apps;
pub mod call;
mod cli;
pub mod conf;
pub mod dialplan;
pub mod form;
mod http;
mod input;
pub mod options;
mod pbx;
pub mod queues;
pub mod server;
pub mod session;
mod wire;
