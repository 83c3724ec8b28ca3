//! Errors of the client.

use std::io;
use std::time::Duration;

use amiwire::{ActionError, LocalError, ProtocolError};

use crate::driver::Disconnect;

/// Why a connection or an action failed. The secret never appears in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The TCP connection could not be made (refused, unreachable, name not resolved…).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The TCP or TLS connection took longer than `connect_timeout`.
    #[error("connecting to {addr} timed out after {after:?}")]
    ConnectTimeout {
        /// `host:port`.
        addr: String,
        /// The timeout.
        after: Duration,
    },
    /// TLS could not be set up (bad CA file, invalid server name, handshake or certificate
    /// failure).
    #[error("TLS with {addr}: {message}")]
    Tls {
        /// `host:port`.
        addr: String,
        /// What went wrong.
        message: String,
    },
    /// The server refused the login (`Authentication failed`).
    #[error("login as {username} failed: {message}")]
    LoginFailed {
        /// The user.
        username: String,
        /// The server's words.
        message: String,
    },
    /// The first connection broke before its login completed (the server closed it, a
    /// read or write failed…).
    #[error("the connection broke before the login completed: {0}")]
    Disconnected(Disconnect),
    /// No banner or login answer within `login_timeout`.
    #[error("no login answer within {0:?}")]
    LoginTimeout(Duration),
    /// The server broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The action was refused before it was sent (too many pending, an async Originate whose
    /// result cannot arrive, a header that would inject a line…).
    #[error(transparent)]
    Local(#[from] LocalError),
    /// The action has no result: timed out, connection closed (saying whether it was sent, in
    /// which case its outcome is unknown), event list truncated or too long.
    #[error(transparent)]
    Action(#[from] ActionError),
    /// No session is logged in now (the client is reconnecting): the action was refused
    /// and not sent ([`Client::send_now`](crate::Client::send_now)).
    #[error("not connected to the server now (reconnecting); the action was not sent")]
    NotConnected,
    /// The client is closed (closed by [`Client::close`](crate::Client::close), or the
    /// connection broke with reconnection off or given up).
    #[error("the client is closed")]
    Closed,
}

impl Error {
    /// Whether the action may have been carried out by the server although no result came:
    /// it was written and then timed out or the connection broke. Such an action must not be
    /// retried blindly if it is not idempotent (an Originate places a second call).
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Error::Action(ActionError::TimedOut { sent } | ActionError::Closed { sent }) => *sent,
            Error::Action(ActionError::Truncated(_)) => true,
            _ => false,
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Connect { source, .. } => source.kind(),
            Error::ConnectTimeout { .. } | Error::LoginTimeout(_) => io::ErrorKind::TimedOut,
            Error::LoginFailed { .. } => io::ErrorKind::PermissionDenied,
            Error::Tls { .. } | Error::Protocol(_) => io::ErrorKind::InvalidData,
            Error::Local(_) => io::ErrorKind::InvalidInput,
            Error::Action(ActionError::TimedOut { .. }) => io::ErrorKind::TimedOut,
            Error::NotConnected => io::ErrorKind::NotConnected,
            Error::Action(_) | Error::Closed | Error::Disconnected(_) => {
                io::ErrorKind::ConnectionAborted
            }
        };
        io::Error::new(kind, e)
    }
}
