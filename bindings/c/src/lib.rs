//! # amiwire-ffi: the C ABI of amiwire's sans-io protocol core
//!
//! The caller owns the socket; amiwire owns the protocol. Conventions follow rustls-ffi:
//! opaque handles, `_free(NULL)` allowed, a status enum with fixed numbers, outputs written
//! only on success, every entry point inside a panic boundary, NULL and sizes checked.
//! The header `include/amiwire.h` is generated from this file by cbindgen 0.29.4.
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

use std::cell::{OnceCell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::time::{Duration, Instant};

use amiwire::{
    Action, ActionError, ActionIdGenerator, CallFile, CloseReason, Connection, ConnectionConfig,
    Credentials, DecodeError, Decoder, DecoderConfig, Destination, EventMask, Filter, Frame,
    LocalError, Message, MessageKind, MessageRef, Output, ProtocolError, Refusal, Response,
};

/// Version of this library, as text.
pub const AMIWIRE_VERSION: &str = "0.1.0";
/// Major version.
pub const AMIWIRE_VERSION_MAJOR: u32 = 0;
/// Minor version.
pub const AMIWIRE_VERSION_MINOR: u32 = 1;
/// Patch version.
pub const AMIWIRE_VERSION_PATCH: u32 = 0;
/// A timeout value meaning "no timeout" (for `send`), and the deadline written by
/// `amiwire_connection_poll_timeout` when no timer is armed.
pub const AMIWIRE_NO_TIMEOUT: u64 = u64::MAX;
/// A timeout value meaning "the connection's default action timeout" (for `send`).
pub const AMIWIRE_DEFAULT_TIMEOUT: u64 = 0;
/// Size of a buffer that holds any ActionID plus its terminating NUL.
pub const AMIWIRE_ACTION_ID_BUF_LEN: usize = 65;

/// Result of every fallible entry point, and reason codes of failed actions and closed
/// connections. The numbers are fixed and never reused. 1-99: the caller's fault;
/// 100-199: the peer's fault; 200-299: why an action has no result; 300-399: why a
/// connection closed; 900+: internal.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum amiwire_status {
    /// Success.
    AMIWIRE_OK = 0,
    /// A required pointer argument was NULL.
    AMIWIRE_NULL_PARAMETER = 1,
    /// The caller's buffer is too small; nothing was written except the needed size where
    /// the function documents it.
    AMIWIRE_INSUFFICIENT_SIZE = 2,
    /// A text argument is not valid UTF-8.
    AMIWIRE_INVALID_UTF8 = 3,
    /// An action (name, key, value, variable, ActionID) cannot be encoded: CR, LF or another
    /// control character, an empty or too long field, too many headers.
    AMIWIRE_INVALID_ACTION = 4,
    /// No such header, index, field or part.
    AMIWIRE_NOT_FOUND = 5,
    /// The accessor does not apply to this kind of output.
    AMIWIRE_WRONG_KIND = 6,
    /// An argument is out of its documented range.
    AMIWIRE_INVALID_ARGUMENT = 7,
    /// The connection is closed (or closing after a Logoff); nothing was queued.
    AMIWIRE_CLOSED = 8,
    /// Too many actions are already waiting for a result.
    AMIWIRE_TOO_MANY_PENDING = 9,
    /// The output queue is full: the transport is not writing.
    AMIWIRE_OUTPUT_FULL = 10,
    /// An action with this ActionID is already pending.
    AMIWIRE_DUPLICATE_ACTION_ID = 11,
    /// An async Originate whose result can never arrive (the event mask excludes `call`).
    AMIWIRE_ORIGINATE_RESULT_UNAVAILABLE = 12,
    /// A filter does not parse or its regex does not compile.
    AMIWIRE_INVALID_FILTER = 13,
    /// A call file does not parse or does not validate.
    AMIWIRE_INVALID_CALL_FILE = 14,
    /// A line longer than the decoder's limit; the message was dropped, decoding goes on.
    AMIWIRE_DECODE_LINE_TOO_LONG = 100,
    /// A message larger than the decoder's limit; dropped, decoding goes on.
    AMIWIRE_DECODE_MESSAGE_TOO_LARGE = 101,
    /// A message with too many header lines; dropped, decoding goes on.
    AMIWIRE_DECODE_TOO_MANY_HEADERS = 102,
    /// The stream ended inside a message.
    AMIWIRE_DECODE_TRUNCATED = 103,
    /// The first line is not an AMI banner.
    AMIWIRE_PROTOCOL_BAD_BANNER = 110,
    /// A message arrived before the banner.
    AMIWIRE_PROTOCOL_MISSING_BANNER = 111,
    /// The Challenge answer carried no challenge.
    AMIWIRE_PROTOCOL_NO_CHALLENGE = 112,
    /// Another protocol error.
    AMIWIRE_PROTOCOL_OTHER = 119,
    /// The action got no result in time (see `amiwire_output_sent`).
    AMIWIRE_ACTION_TIMED_OUT = 200,
    /// The connection ended before the action's result (see `amiwire_output_sent`).
    AMIWIRE_ACTION_CLOSED = 201,
    /// The connection ended inside the action's event list; the items received are there.
    AMIWIRE_ACTION_TRUNCATED = 202,
    /// The event list was longer than the configured maximum.
    AMIWIRE_ACTION_LIST_TOO_LONG = 203,
    /// Closed: we logged off and the server said Goodbye.
    AMIWIRE_CLOSE_LOGOFF = 300,
    /// Closed: the server closed the connection.
    AMIWIRE_CLOSE_PEER_CLOSED = 301,
    /// Closed: the server refused the login.
    AMIWIRE_CLOSE_LOGIN_FAILED = 302,
    /// Closed: the server closed the connection during the login.
    AMIWIRE_CLOSE_CLOSED_DURING_LOGIN = 303,
    /// Closed: the login cannot be encoded (CR/LF in the username or event mask).
    AMIWIRE_CLOSE_INVALID_LOGIN = 304,
    /// Closed: no banner or login answer in time.
    AMIWIRE_CLOSE_LOGIN_TIMEOUT = 305,
    /// Closed: a keepalive Ping went unanswered.
    AMIWIRE_CLOSE_KEEPALIVE_TIMEOUT = 306,
    /// Closed: `amiwire_connection_close` or `amiwire_connection_reconnect`.
    AMIWIRE_CLOSE_LOCAL = 307,
    /// Closed: the peer broke the protocol.
    AMIWIRE_CLOSE_PROTOCOL = 308,
    /// Closed for another reason.
    AMIWIRE_CLOSE_OTHER = 399,
    /// A bug: a panic was caught at the boundary. The handle may be in any state; free it.
    AMIWIRE_PANIC = 900,
    /// An error this version cannot name more precisely.
    AMIWIRE_UNKNOWN_ERROR = 901,
}

use amiwire_status::*;

impl amiwire_status {
    fn text(self) -> &'static str {
        match self {
            AMIWIRE_OK => "success",
            AMIWIRE_NULL_PARAMETER => "a required pointer argument was NULL",
            AMIWIRE_INSUFFICIENT_SIZE => "the buffer is too small",
            AMIWIRE_INVALID_UTF8 => "a text argument is not valid UTF-8",
            AMIWIRE_INVALID_ACTION => "the action cannot be encoded",
            AMIWIRE_NOT_FOUND => "not found",
            AMIWIRE_WRONG_KIND => "the accessor does not apply to this kind of output",
            AMIWIRE_INVALID_ARGUMENT => "an argument is out of range",
            AMIWIRE_CLOSED => "the connection is closed",
            AMIWIRE_TOO_MANY_PENDING => "too many actions pending",
            AMIWIRE_OUTPUT_FULL => "output queue full",
            AMIWIRE_DUPLICATE_ACTION_ID => "an action with this ActionID is already pending",
            AMIWIRE_ORIGINATE_RESULT_UNAVAILABLE => {
                "async Originate result cannot arrive: the event mask excludes the call class"
            }
            AMIWIRE_INVALID_FILTER => "invalid filter",
            AMIWIRE_INVALID_CALL_FILE => "invalid call file",
            AMIWIRE_DECODE_LINE_TOO_LONG => "line too long; message dropped",
            AMIWIRE_DECODE_MESSAGE_TOO_LARGE => "message too large; message dropped",
            AMIWIRE_DECODE_TOO_MANY_HEADERS => "too many header lines; message dropped",
            AMIWIRE_DECODE_TRUNCATED => "stream ended inside a message",
            AMIWIRE_PROTOCOL_BAD_BANNER => "not an AMI banner",
            AMIWIRE_PROTOCOL_MISSING_BANNER => "message before the AMI banner",
            AMIWIRE_PROTOCOL_NO_CHALLENGE => "Challenge response without a challenge",
            AMIWIRE_PROTOCOL_OTHER => "protocol error",
            AMIWIRE_ACTION_TIMED_OUT => "action timed out",
            AMIWIRE_ACTION_CLOSED => "connection closed before the action's result",
            AMIWIRE_ACTION_TRUNCATED => "event list truncated by the end of the connection",
            AMIWIRE_ACTION_LIST_TOO_LONG => "event list too long",
            AMIWIRE_CLOSE_LOGOFF => "logged off",
            AMIWIRE_CLOSE_PEER_CLOSED => "the server closed the connection",
            AMIWIRE_CLOSE_LOGIN_FAILED => "login refused",
            AMIWIRE_CLOSE_CLOSED_DURING_LOGIN => {
                "the server closed the connection during the login"
            }
            AMIWIRE_CLOSE_INVALID_LOGIN => "the login cannot be sent",
            AMIWIRE_CLOSE_LOGIN_TIMEOUT => "no login answer in time",
            AMIWIRE_CLOSE_KEEPALIVE_TIMEOUT => "keepalive Ping unanswered",
            AMIWIRE_CLOSE_LOCAL => "closed locally",
            AMIWIRE_CLOSE_PROTOCOL => "protocol error",
            AMIWIRE_CLOSE_OTHER => "closed",
            AMIWIRE_PANIC => "internal error (panic caught)",
            AMIWIRE_UNKNOWN_ERROR => "unknown error",
        }
    }
}

/// The kind of a message (from its first header).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum amiwire_message_kind {
    /// `Event:`.
    AMIWIRE_MESSAGE_EVENT = 1,
    /// `Response:`.
    AMIWIRE_MESSAGE_RESPONSE = 2,
    /// `Action:`.
    AMIWIRE_MESSAGE_ACTION = 3,
    /// Anything else.
    AMIWIRE_MESSAGE_OTHER = 4,
}

/// What `amiwire_decoder_decode` produced.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum amiwire_frame_kind {
    /// Nothing yet: feed more bytes.
    AMIWIRE_FRAME_NONE = 0,
    /// The banner line (read it with `amiwire_decoder_banner`).
    AMIWIRE_FRAME_BANNER = 1,
    /// A message.
    AMIWIRE_FRAME_MESSAGE = 2,
}

/// The kind of a connection output.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum amiwire_output_kind {
    /// The banner arrived (`amiwire_output_banner`).
    AMIWIRE_OUTPUT_CONNECTED = 1,
    /// The login succeeded.
    AMIWIRE_OUTPUT_LOGGED_IN = 2,
    /// An event (`amiwire_output_message`).
    AMIWIRE_OUTPUT_EVENT = 3,
    /// An action's result: the response message, list items, completion, OriginateResponse.
    AMIWIRE_OUTPUT_RESPONSE = 4,
    /// An action ended without a result (`amiwire_output_reason`, `amiwire_output_sent`).
    AMIWIRE_OUTPUT_FAILED = 5,
    /// A response for no pending action (`amiwire_output_message`).
    AMIWIRE_OUTPUT_UNMATCHED = 6,
    /// A message broke a decoder limit and was dropped (`amiwire_output_reason`).
    AMIWIRE_OUTPUT_DECODE_ERROR = 7,
    /// The connection ended (`amiwire_output_reason`); nothing follows.
    AMIWIRE_OUTPUT_CLOSED = 8,
}

/// The kind of a `Response: Error`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum amiwire_refusal {
    /// Not an error response.
    AMIWIRE_REFUSAL_NONE = 0,
    /// `Permission denied`.
    AMIWIRE_REFUSAL_PERMISSION_DENIED = 1,
    /// `Invalid/unknown command`.
    AMIWIRE_REFUSAL_UNKNOWN_ACTION = 2,
    /// Any other error (read the `Message` header).
    AMIWIRE_REFUSAL_OTHER = 3,
}

/// A channel variable carried by a message. Every pointer borrows from the message and is
/// valid as long as the message; values are bytes, not NUL-terminated.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct amiwire_chan_variable {
    /// The channel of `ChanVariable(<channel>)`, or NULL when the header had no channel.
    pub channel: *const u8,
    /// Length of `channel`.
    pub channel_len: usize,
    /// The prefix before `ChanVariable` (`Dest`…), possibly empty.
    pub prefix: *const u8,
    /// Length of `prefix`.
    pub prefix_len: usize,
    /// The variable's name.
    pub name: *const u8,
    /// Length of `name`.
    pub name_len: usize,
    /// The variable's value.
    pub value: *const u8,
    /// Length of `value`.
    pub value_len: usize,
}

// ---------------------------------------------------------------------------------------------
// Boundary helpers
// ---------------------------------------------------------------------------------------------

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_error(text: impl Into<String>) {
    let text = text.into();
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = text);
}

type R = Result<(), amiwire_status>;

/// Runs `f` inside the panic boundary and turns its result into a status.
fn guard(f: impl FnOnce() -> R) -> amiwire_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => AMIWIRE_OK,
        Ok(Err(s)) => s,
        Err(_) => {
            set_error("internal error (panic caught)");
            AMIWIRE_PANIC
        }
    }
}

/// Runs a `void` body inside the panic boundary (a panic is swallowed).
fn guard_void(f: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(f));
}

unsafe fn bytes<'a>(p: *const u8, len: usize) -> Result<&'a [u8], amiwire_status> {
    if p.is_null() {
        return Err(AMIWIRE_NULL_PARAMETER);
    }
    if len > isize::MAX as usize {
        return Err(AMIWIRE_INVALID_ARGUMENT);
    }
    // SAFETY: the caller guarantees `p` points to `len` readable bytes (documented).
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

unsafe fn text<'a>(p: *const u8, len: usize) -> Result<&'a str, amiwire_status> {
    // SAFETY: forwarded contract.
    let b = unsafe { bytes(p, len)? };
    std::str::from_utf8(b).map_err(|_| {
        set_error("a text argument is not valid UTF-8");
        AMIWIRE_INVALID_UTF8
    })
}

unsafe fn opt_text<'a>(p: *const u8, len: usize) -> Result<Option<&'a str>, amiwire_status> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { text(p, len).map(Some) }
    }
}

unsafe fn get<'a, T>(p: *const T) -> Result<&'a T, amiwire_status> {
    // SAFETY: a non-NULL handle pointer comes from this library and is live (documented).
    unsafe { p.as_ref() }.ok_or(AMIWIRE_NULL_PARAMETER)
}

unsafe fn get_mut<'a, T>(p: *mut T) -> Result<&'a mut T, amiwire_status> {
    // SAFETY: as `get`, and the caller does not use the handle from two threads at once.
    unsafe { p.as_mut() }.ok_or(AMIWIRE_NULL_PARAMETER)
}

fn check_out<T>(p: *mut T) -> R {
    if p.is_null() {
        Err(AMIWIRE_NULL_PARAMETER)
    } else {
        Ok(())
    }
}

unsafe fn write<T>(p: *mut T, v: T) {
    // SAFETY: checked non-NULL by `check_out` before; points to writable memory (documented).
    unsafe { p.write(v) }
}

unsafe fn free_box<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: `p` came from `Box::into_raw` in this library and is freed once (documented).
        drop(unsafe { Box::from_raw(p) });
    }
}

/// Copies `src` plus a NUL into `buf`. When `buf_len` is too small, writes the needed size
/// (NUL included) to `*written` and returns INSUFFICIENT_SIZE; on success `*written` is the
/// length without the NUL.
unsafe fn copy_out(src: &[u8], buf: *mut u8, buf_len: usize, written: *mut usize) -> R {
    check_out(buf)?;
    check_out(written)?;
    if buf_len < src.len() + 1 {
        // SAFETY: checked non-NULL.
        unsafe { write(written, src.len() + 1) };
        return Err(AMIWIRE_INSUFFICIENT_SIZE);
    }
    // SAFETY: `buf` holds `buf_len` >= src.len() + 1 writable bytes (documented); the regions
    // cannot overlap (ours are Rust-owned).
    unsafe {
        ptr::copy_nonoverlapping(src.as_ptr(), buf, src.len());
        *buf.add(src.len()) = 0;
        write(written, src.len());
    }
    Ok(())
}

unsafe fn out_slice(s: &[u8], p: *mut *const u8, len: *mut usize) -> R {
    check_out(p)?;
    check_out(len)?;
    // SAFETY: checked non-NULL.
    unsafe {
        write(p, s.as_ptr());
        write(len, s.len());
    }
    Ok(())
}

fn encode_status(e: &amiwire::EncodeError) -> amiwire_status {
    set_error(e.to_string());
    AMIWIRE_INVALID_ACTION
}

fn local_status(e: &LocalError) -> amiwire_status {
    set_error(e.to_string());
    match e {
        LocalError::Closed => AMIWIRE_CLOSED,
        LocalError::TooManyPending { .. } => AMIWIRE_TOO_MANY_PENDING,
        LocalError::OutputFull { .. } => AMIWIRE_OUTPUT_FULL,
        LocalError::DuplicateActionId(_) => AMIWIRE_DUPLICATE_ACTION_ID,
        LocalError::OriginateResultUnavailable { .. } => AMIWIRE_ORIGINATE_RESULT_UNAVAILABLE,
        LocalError::Encode(_) => AMIWIRE_INVALID_ACTION,
        _ => AMIWIRE_UNKNOWN_ERROR,
    }
}

fn decode_status(e: &DecodeError) -> amiwire_status {
    match e {
        DecodeError::LineTooLong { .. } => AMIWIRE_DECODE_LINE_TOO_LONG,
        DecodeError::MessageTooLarge { .. } => AMIWIRE_DECODE_MESSAGE_TOO_LARGE,
        DecodeError::TooManyHeaders { .. } => AMIWIRE_DECODE_TOO_MANY_HEADERS,
        DecodeError::Truncated { .. } => AMIWIRE_DECODE_TRUNCATED,
        _ => AMIWIRE_UNKNOWN_ERROR,
    }
}

fn close_status(r: &CloseReason) -> amiwire_status {
    match r {
        CloseReason::Logoff => AMIWIRE_CLOSE_LOGOFF,
        CloseReason::PeerClosed => AMIWIRE_CLOSE_PEER_CLOSED,
        CloseReason::LoginFailed { .. } => AMIWIRE_CLOSE_LOGIN_FAILED,
        CloseReason::ClosedDuringLogin => AMIWIRE_CLOSE_CLOSED_DURING_LOGIN,
        CloseReason::InvalidLogin(_) => AMIWIRE_CLOSE_INVALID_LOGIN,
        CloseReason::LoginTimeout => AMIWIRE_CLOSE_LOGIN_TIMEOUT,
        CloseReason::KeepaliveTimeout => AMIWIRE_CLOSE_KEEPALIVE_TIMEOUT,
        CloseReason::Local => AMIWIRE_CLOSE_LOCAL,
        CloseReason::Protocol(_) => AMIWIRE_CLOSE_PROTOCOL,
        _ => AMIWIRE_CLOSE_OTHER,
    }
}

#[allow(dead_code)]
fn protocol_status(e: &ProtocolError) -> amiwire_status {
    match e {
        ProtocolError::BadBanner(_) => AMIWIRE_PROTOCOL_BAD_BANNER,
        ProtocolError::MissingBanner => AMIWIRE_PROTOCOL_MISSING_BANNER,
        ProtocolError::NoChallenge => AMIWIRE_PROTOCOL_NO_CHALLENGE,
        _ => AMIWIRE_PROTOCOL_OTHER,
    }
}

/// Writes the fixed English text of `status` (NUL-terminated) into `buf`. On
/// `AMIWIRE_INSUFFICIENT_SIZE`, `*written` receives the size needed (NUL included) and `buf`
/// is untouched; on success, `*written` is the text's length without the NUL. An unknown
/// number gives the text of `AMIWIRE_UNKNOWN_ERROR`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_status_text(
    status: u32,
    buf: *mut u8,
    buf_len: usize,
    written: *mut usize,
) -> amiwire_status {
    guard(|| {
        let s = ALL_STATUSES
            .iter()
            .find(|s| **s as u32 == status)
            .copied()
            .unwrap_or(AMIWIRE_UNKNOWN_ERROR);
        // SAFETY: forwarded contract.
        unsafe { copy_out(s.text().as_bytes(), buf, buf_len, written) }
    })
}

const ALL_STATUSES: &[amiwire_status] = &[
    AMIWIRE_OK,
    AMIWIRE_NULL_PARAMETER,
    AMIWIRE_INSUFFICIENT_SIZE,
    AMIWIRE_INVALID_UTF8,
    AMIWIRE_INVALID_ACTION,
    AMIWIRE_NOT_FOUND,
    AMIWIRE_WRONG_KIND,
    AMIWIRE_INVALID_ARGUMENT,
    AMIWIRE_CLOSED,
    AMIWIRE_TOO_MANY_PENDING,
    AMIWIRE_OUTPUT_FULL,
    AMIWIRE_DUPLICATE_ACTION_ID,
    AMIWIRE_ORIGINATE_RESULT_UNAVAILABLE,
    AMIWIRE_INVALID_FILTER,
    AMIWIRE_INVALID_CALL_FILE,
    AMIWIRE_DECODE_LINE_TOO_LONG,
    AMIWIRE_DECODE_MESSAGE_TOO_LARGE,
    AMIWIRE_DECODE_TOO_MANY_HEADERS,
    AMIWIRE_DECODE_TRUNCATED,
    AMIWIRE_PROTOCOL_BAD_BANNER,
    AMIWIRE_PROTOCOL_MISSING_BANNER,
    AMIWIRE_PROTOCOL_NO_CHALLENGE,
    AMIWIRE_PROTOCOL_OTHER,
    AMIWIRE_ACTION_TIMED_OUT,
    AMIWIRE_ACTION_CLOSED,
    AMIWIRE_ACTION_TRUNCATED,
    AMIWIRE_ACTION_LIST_TOO_LONG,
    AMIWIRE_CLOSE_LOGOFF,
    AMIWIRE_CLOSE_PEER_CLOSED,
    AMIWIRE_CLOSE_LOGIN_FAILED,
    AMIWIRE_CLOSE_CLOSED_DURING_LOGIN,
    AMIWIRE_CLOSE_INVALID_LOGIN,
    AMIWIRE_CLOSE_LOGIN_TIMEOUT,
    AMIWIRE_CLOSE_KEEPALIVE_TIMEOUT,
    AMIWIRE_CLOSE_LOCAL,
    AMIWIRE_CLOSE_PROTOCOL,
    AMIWIRE_CLOSE_OTHER,
    AMIWIRE_PANIC,
    AMIWIRE_UNKNOWN_ERROR,
];

/// Writes the detailed text of the last error on this thread (e.g. which header was
/// refused and why; never a header value, so never a secret) into `buf`, NUL-terminated.
/// Same size convention as `amiwire_status_text`. Empty when no error happened yet.
#[no_mangle]
pub unsafe extern "C" fn amiwire_last_error_text(
    buf: *mut u8,
    buf_len: usize,
    written: *mut usize,
) -> amiwire_status {
    guard(|| {
        let t = LAST_ERROR
            .try_with(|e| e.borrow().clone())
            .unwrap_or_default();
        // SAFETY: forwarded contract.
        unsafe { copy_out(t.as_bytes(), buf, buf_len, written) }
    })
}

/// The library version as a static NUL-terminated string (never NULL, never freed).
#[no_mangle]
pub extern "C" fn amiwire_version() -> *const u8 {
    c"0.1.0".as_ptr().cast()
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

enum MsgInner {
    /// Borrowed from a decoder's or connection's buffer: valid until the next call on it.
    Borrowed(MessageRef<'static>),
    Owned(Message),
}

/// A message (event, response…). Either borrowed (from a decoder or a connection: valid until
/// the next call on that decoder or connection) or owned (from `amiwire_message_clone`: free it
/// with `amiwire_message_free`). Header names and values are bytes, not NUL-terminated,
/// borrowed from the message.
pub struct amiwire_message {
    inner: MsgInner,
    lines: OnceCell<Vec<(usize, usize)>>,
}

impl amiwire_message {
    fn borrowed(m: MessageRef<'_>) -> amiwire_message {
        // SAFETY: the lifetime is erased; every holder of a borrowed `amiwire_message` drops
        // or replaces it before the buffer it borrows is touched again (the next call on the
        // decoder or connection), which is the lifetime documented to C.
        let m: MessageRef<'static> = unsafe { std::mem::transmute(m) };
        amiwire_message {
            inner: MsgInner::Borrowed(m),
            lines: OnceCell::new(),
        }
    }

    fn owned(m: Message) -> amiwire_message {
        amiwire_message {
            inner: MsgInner::Owned(m),
            lines: OnceCell::new(),
        }
    }

    fn view(&self) -> MessageRef<'_> {
        match &self.inner {
            MsgInner::Borrowed(m) => *m,
            MsgInner::Owned(m) => m.as_ref(),
        }
    }

    fn lines(&self) -> &[(usize, usize)] {
        self.lines.get_or_init(|| {
            let v = self.view();
            let base = v.as_bytes().as_ptr() as usize;
            v.command_output()
                .map(|l| (l.as_ptr() as usize - base, l.len()))
                .collect()
        })
    }
}

/// Copies a message into a new owned one, which stays valid until `amiwire_message_free`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_message_clone(
    msg: *const amiwire_message,
    out: *mut *mut amiwire_message,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented handle contract.
        let m = unsafe { get(msg)? };
        check_out(out)?;
        let owned = Box::new(amiwire_message::owned(m.view().to_owned()));
        // SAFETY: checked.
        unsafe { write(out, Box::into_raw(owned)) };
        Ok(())
    })
}

/// Frees a message from `amiwire_message_clone`. NULL is allowed. Never pass a borrowed
/// message (from a decoder, a connection or an output).
#[no_mangle]
pub unsafe extern "C" fn amiwire_message_free(msg: *mut amiwire_message) {
    // SAFETY: documented ownership contract.
    guard_void(|| unsafe { free_box(msg) })
}

/// The message's kind.
#[no_mangle]
pub unsafe extern "C" fn amiwire_message_get_kind(
    msg: *const amiwire_message,
    out: *mut amiwire_message_kind,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented handle contract.
        let m = unsafe { get(msg)? };
        check_out(out)?;
        let k = match m.view().kind() {
            MessageKind::Event => amiwire_message_kind::AMIWIRE_MESSAGE_EVENT,
            MessageKind::Response => amiwire_message_kind::AMIWIRE_MESSAGE_RESPONSE,
            MessageKind::Action => amiwire_message_kind::AMIWIRE_MESSAGE_ACTION,
            _ => amiwire_message_kind::AMIWIRE_MESSAGE_OTHER,
        };
        // SAFETY: checked.
        unsafe { write(out, k) };
        Ok(())
    })
}

/// The message exactly as received (blank line included), borrowed from the message.
#[no_mangle]
pub unsafe extern "C" fn amiwire_message_bytes(
    msg: *const amiwire_message,
    out: *mut *const u8,
    out_len: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        unsafe { out_slice(get(msg)?.view().as_bytes(), out, out_len) }
    })
}

/// Number of header lines, in wire order.
#[no_mangle]
pub unsafe extern "C" fn amiwire_message_header_count(
    msg: *const amiwire_message,
    out: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented handle contract.
        let m = unsafe { get(msg)? };
        check_out(out)?;
        // SAFETY: checked.
        unsafe { write(out, m.view().len()) };
        Ok(())
    })
}

/// The `index`-th header line (0-based, wire order): name and value borrowed from the
/// message. `AMIWIRE_NOT_FOUND` past the end.
#[no_mangle]
pub unsafe extern "C" fn amiwire_message_header(
    msg: *const amiwire_message,
    index: usize,
    name: *mut *const u8,
    name_len: *mut usize,
    value: *mut *const u8,
    value_len: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented handle contract.
        let m = unsafe { get(msg)? };
        check_out(name)?;
        check_out(name_len)?;
        check_out(value)?;
        check_out(value_len)?;
        let h = m.view().header(index).ok_or(AMIWIRE_NOT_FOUND)?;
        // SAFETY: all checked non-NULL.
        unsafe {
            out_slice(h.name(), name, name_len)?;
            out_slice(h.value(), value, value_len)
        }
    })
}

/// The value of the first header called `key` (ASCII case-insensitive), borrowed from the
/// message. `AMIWIRE_NOT_FOUND` when absent.
#[no_mangle]
pub unsafe extern "C" fn amiwire_message_get(
    msg: *const amiwire_message,
    key: *const u8,
    key_len: usize,
    value: *mut *const u8,
    value_len: *mut usize,
) -> amiwire_status {
    // SAFETY: forwarded contracts.
    guard(|| unsafe { message_get_nth(msg, key, key_len, 0, value, value_len) })
}

/// The value of the `nth` (0-based) header called `key` (ASCII case-insensitive), in wire
/// order, borrowed from the message. `AMIWIRE_NOT_FOUND` when there are fewer.
#[no_mangle]
pub unsafe extern "C" fn amiwire_message_get_nth(
    msg: *const amiwire_message,
    key: *const u8,
    key_len: usize,
    nth: usize,
    value: *mut *const u8,
    value_len: *mut usize,
) -> amiwire_status {
    // SAFETY: forwarded contracts.
    guard(|| unsafe { message_get_nth(msg, key, key_len, nth, value, value_len) })
}

unsafe fn message_get_nth(
    msg: *const amiwire_message,
    key: *const u8,
    key_len: usize,
    nth: usize,
    value: *mut *const u8,
    value_len: *mut usize,
) -> R {
    // SAFETY: forwarded contracts.
    let m = unsafe { get(msg)? };
    // SAFETY: forwarded contract.
    let k = unsafe { text(key, key_len)? };
    check_out(value)?;
    check_out(value_len)?;
    let v = if nth == 0 {
        m.view().get(k)
    } else {
        m.view().get_all(k).nth(nth)
    };
    // SAFETY: checked.
    unsafe { out_slice(v.ok_or(AMIWIRE_NOT_FOUND)?, value, value_len) }
}

/// How many headers are called `key` (ASCII case-insensitive).
#[no_mangle]
pub unsafe extern "C" fn amiwire_message_get_count(
    msg: *const amiwire_message,
    key: *const u8,
    key_len: usize,
    out: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let m = unsafe { get(msg)? };
        // SAFETY: documented contract.
        let k = unsafe { text(key, key_len)? };
        check_out(out)?;
        // SAFETY: checked.
        unsafe { write(out, m.view().get_all(k).count()) };
        Ok(())
    })
}

/// Copies the first `key` value into `buf`, NUL-terminated. On `AMIWIRE_INSUFFICIENT_SIZE`
/// `*written` receives the size needed (NUL included); `AMIWIRE_NOT_FOUND` when absent.
#[no_mangle]
pub unsafe extern "C" fn amiwire_message_get_copy(
    msg: *const amiwire_message,
    key: *const u8,
    key_len: usize,
    buf: *mut u8,
    buf_len: usize,
    written: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let m = unsafe { get(msg)? };
        // SAFETY: documented contract.
        let k = unsafe { text(key, key_len)? };
        check_out(buf)?;
        check_out(written)?;
        let v = m.view().get(k).ok_or(AMIWIRE_NOT_FOUND)?;
        // SAFETY: forwarded contract.
        unsafe { copy_out(v, buf, buf_len, written) }
    })
}

/// The message's ActionID, borrowed. `AMIWIRE_NOT_FOUND` when it has none.
#[no_mangle]
pub unsafe extern "C" fn amiwire_message_action_id(
    msg: *const amiwire_message,
    value: *mut *const u8,
    value_len: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let m = unsafe { get(msg)? };
        let id = m.view().action_id().ok_or(AMIWIRE_NOT_FOUND)?;
        // SAFETY: forwarded contract.
        unsafe { out_slice(id, value, value_len) }
    })
}

/// Number of Command output lines (either framing: `Output:` headers or the old raw body).
#[no_mangle]
pub unsafe extern "C" fn amiwire_message_output_line_count(
    msg: *const amiwire_message,
    out: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let m = unsafe { get(msg)? };
        check_out(out)?;
        // SAFETY: checked.
        unsafe { write(out, m.lines().len()) };
        Ok(())
    })
}

/// The `index`-th Command output line (without line end), borrowed from the message.
#[no_mangle]
pub unsafe extern "C" fn amiwire_message_output_line(
    msg: *const amiwire_message,
    index: usize,
    line: *mut *const u8,
    line_len: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let m = unsafe { get(msg)? };
        check_out(line)?;
        check_out(line_len)?;
        let &(at, len) = m.lines().get(index).ok_or(AMIWIRE_NOT_FOUND)?;
        let b = &m.view().as_bytes()[at..at + len];
        // SAFETY: checked.
        unsafe { out_slice(b, line, line_len) }
    })
}

/// Number of channel variables (`ChanVariable…` headers).
#[no_mangle]
pub unsafe extern "C" fn amiwire_message_chan_variable_count(
    msg: *const amiwire_message,
    out: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let m = unsafe { get(msg)? };
        check_out(out)?;
        // SAFETY: checked.
        unsafe { write(out, m.view().chan_variables().count()) };
        Ok(())
    })
}

/// The `index`-th channel variable; its pointers borrow from the message.
#[no_mangle]
pub unsafe extern "C" fn amiwire_message_chan_variable(
    msg: *const amiwire_message,
    index: usize,
    out: *mut amiwire_chan_variable,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let m = unsafe { get(msg)? };
        check_out(out)?;
        let v = m
            .view()
            .chan_variables()
            .nth(index)
            .ok_or(AMIWIRE_NOT_FOUND)?;
        let cv = amiwire_chan_variable {
            channel: v.channel.map_or(ptr::null(), |c| c.as_ptr()),
            channel_len: v.channel.map_or(0, |c| c.len()),
            prefix: v.prefix.as_ptr(),
            prefix_len: v.prefix.len(),
            name: v.name.as_ptr(),
            name_len: v.name.len(),
            value: v.value.as_ptr(),
            value_len: v.value.len(),
        };
        // SAFETY: checked.
        unsafe { write(out, cv) };
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Decoder
// ---------------------------------------------------------------------------------------------

/// An incremental AMI decoder (bytes in any chunking, messages out). Not thread-safe: use one
/// handle from one thread at a time.
pub struct amiwire_decoder {
    // `current` borrows from `decoder`: it is declared first so that it is dropped first.
    current: Option<amiwire_message>,
    banner: Option<(usize, usize)>,
    decoder: Decoder,
}

/// Creates a decoder. `expect_banner`: the stream starts with `Asterisk Call Manager/…` (a
/// client's view of a TCP session). Free with `amiwire_decoder_free`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_decoder_new(
    expect_banner: bool,
    out: *mut *mut amiwire_decoder,
) -> amiwire_status {
    guard(|| {
        check_out(out)?;
        let cfg = if expect_banner {
            DecoderConfig::client()
        } else {
            DecoderConfig::without_banner()
        };
        let d = Box::new(amiwire_decoder {
            current: None,
            banner: None,
            decoder: Decoder::with_config(cfg),
        });
        // SAFETY: checked.
        unsafe { write(out, Box::into_raw(d)) };
        Ok(())
    })
}

/// Frees a decoder (NULL allowed). Messages borrowed from it become invalid.
#[no_mangle]
pub unsafe extern "C" fn amiwire_decoder_free(dec: *mut amiwire_decoder) {
    // SAFETY: documented ownership contract.
    guard_void(|| unsafe { free_box(dec) })
}

/// Appends received bytes; `*taken` is how many were taken (all unless the buffer is full:
/// then decode and feed the rest). Invalidates the last decoded message.
#[no_mangle]
pub unsafe extern "C" fn amiwire_decoder_feed(
    dec: *mut amiwire_decoder,
    data: *const u8,
    len: usize,
    taken: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let d = unsafe { get_mut(dec)? };
        // SAFETY: documented contract.
        let data = unsafe { bytes(data, len)? };
        check_out(taken)?;
        d.current = None;
        d.banner = None;
        let n = d.decoder.feed(data);
        // SAFETY: checked.
        unsafe { write(taken, n) };
        Ok(())
    })
}

/// Decodes the next frame. On `AMIWIRE_OK`, `*kind` says what came: for
/// `AMIWIRE_FRAME_MESSAGE`, `*msg` is the message, borrowed from the decoder and valid until
/// the next call on it (feed, decode, finish, free); otherwise `*msg` is set to NULL. A
/// `AMIWIRE_DECODE_*` status means a message broke a limit and was dropped: keep decoding.
#[no_mangle]
pub unsafe extern "C" fn amiwire_decoder_decode(
    dec: *mut amiwire_decoder,
    kind: *mut amiwire_frame_kind,
    msg: *mut *const amiwire_message,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let d = unsafe { get_mut(dec)? };
        check_out(kind)?;
        check_out(msg)?;
        d.current = None;
        d.banner = None;
        let (k, m) = match d.decoder.decode() {
            Err(e) => {
                set_error(e.to_string());
                return Err(decode_status(&e));
            }
            Ok(None) => (amiwire_frame_kind::AMIWIRE_FRAME_NONE, ptr::null()),
            Ok(Some(Frame::Banner(b))) => {
                d.banner = Some((b.as_ptr() as usize, b.len()));
                (amiwire_frame_kind::AMIWIRE_FRAME_BANNER, ptr::null())
            }
            Ok(Some(Frame::Message(m))) => {
                let cur = d.current.insert(amiwire_message::borrowed(m));
                (
                    amiwire_frame_kind::AMIWIRE_FRAME_MESSAGE,
                    cur as *const amiwire_message,
                )
            }
        };
        // SAFETY: checked.
        unsafe {
            write(kind, k);
            write(msg, m);
        }
        Ok(())
    })
}

/// The banner line of the last `AMIWIRE_FRAME_BANNER` (without line end), borrowed from the
/// decoder until its next call. `AMIWIRE_NOT_FOUND` when the last frame was not the banner.
#[no_mangle]
pub unsafe extern "C" fn amiwire_decoder_banner(
    dec: *const amiwire_decoder,
    out: *mut *const u8,
    out_len: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let d = unsafe { get(dec)? };
        let (p, len) = d.banner.ok_or(AMIWIRE_NOT_FOUND)?;
        check_out(out)?;
        check_out(out_len)?;
        // SAFETY: checked; the pointer stays valid until the next call on the decoder.
        unsafe {
            write(out, p as *const u8);
            write(out_len, len);
        }
        Ok(())
    })
}

/// The stream has ended: `AMIWIRE_DECODE_TRUNCATED` if it ended inside a message. The decoder
/// is then reset for a new stream.
#[no_mangle]
pub unsafe extern "C" fn amiwire_decoder_finish(dec: *mut amiwire_decoder) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let d = unsafe { get_mut(dec)? };
        d.current = None;
        d.banner = None;
        d.decoder.finish().map_err(|e| {
            set_error(e.to_string());
            decode_status(&e)
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------------

/// An action being built. Owned by the caller (free with `amiwire_action_free`); sending it
/// copies it, so it may be sent again or freed right after.
pub struct amiwire_action(Action);

fn new_action(a: Action, out: *mut *mut amiwire_action) -> R {
    check_out(out)?;
    if let Some(e) = a.error() {
        return Err(encode_status(e));
    }
    // SAFETY: checked.
    unsafe { write(out, Box::into_raw(Box::new(amiwire_action(a)))) };
    Ok(())
}

/// Frees an action (NULL allowed).
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_free(action: *mut amiwire_action) {
    // SAFETY: documented ownership contract.
    guard_void(|| unsafe { free_box(action) })
}

/// Starts an action named `name` (UTF-8, `name_len` bytes). `AMIWIRE_INVALID_ACTION` for an
/// empty name or one with spaces or control characters.
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_new(
    name: *const u8,
    name_len: usize,
    out: *mut *mut amiwire_action,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contract.
        let n = unsafe { text(name, name_len)? };
        new_action(Action::new(n), out)
    })
}

fn edit(a: &mut amiwire_action, f: impl FnOnce(&mut Action)) -> R {
    let mut trial = a.0.clone();
    f(&mut trial);
    if let Some(e) = trial.error() {
        return Err(encode_status(e));
    }
    a.0 = trial;
    Ok(())
}

/// Appends the header `key: value`. A refused key or value (`AMIWIRE_INVALID_ACTION`: CR, LF,
/// control characters, too long, too many headers) leaves the action unchanged.
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_add_header(
    action: *mut amiwire_action,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let a = unsafe { get_mut(action)? };
        // SAFETY: documented contracts.
        let (k, v) = unsafe { (text(key, key_len)?, text(value, value_len)?) };
        edit(a, |a| {
            a.push_header(k, v);
        })
    })
}

/// Appends a channel variable (`Variable: name=value`). Refused like a header.
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_add_variable(
    action: *mut amiwire_action,
    name: *const u8,
    name_len: usize,
    value: *const u8,
    value_len: usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let a = unsafe { get_mut(action)? };
        // SAFETY: documented contracts.
        let (k, v) = unsafe { (text(name, name_len)?, text(value, value_len)?) };
        edit(a, |a| {
            a.push_variable(k, v);
        })
    })
}

/// Sets the ActionID (1 to 64 bytes of printable ASCII without spaces). Without one, sending
/// generates one.
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_set_action_id(
    action: *mut amiwire_action,
    id: *const u8,
    id_len: usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let a = unsafe { get_mut(action)? };
        // SAFETY: documented contract.
        let id = unsafe { text(id, id_len)? };
        edit(a, |a| *a = a.clone().action_id(id))
    })
}

/// Writes the action's wire form (`Action: …\r\n…\r\n\r\n`) into `buf` (not NUL-terminated).
/// On `AMIWIRE_INSUFFICIENT_SIZE`, `*written` receives the size needed.
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_encode(
    action: *const amiwire_action,
    buf: *mut u8,
    buf_len: usize,
    written: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let a = unsafe { get(action)? };
        check_out(buf)?;
        check_out(written)?;
        let b = a.0.to_bytes().map_err(|e| encode_status(&e))?;
        if buf_len < b.len() {
            // SAFETY: checked.
            unsafe { write(written, b.len()) };
            return Err(AMIWIRE_INSUFFICIENT_SIZE);
        }
        // SAFETY: `buf` holds `buf_len` >= b.len() writable bytes (documented).
        unsafe {
            ptr::copy_nonoverlapping(b.as_ptr(), buf, b.len());
            write(written, b.len());
        }
        Ok(())
    })
}

/// `Challenge` (AuthType MD5).
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_challenge(out: *mut *mut amiwire_action) -> amiwire_status {
    guard(|| new_action(Action::challenge(), out))
}

/// `Ping`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_ping(out: *mut *mut amiwire_action) -> amiwire_status {
    guard(|| new_action(Action::ping(), out))
}

/// `Logoff`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_logoff(out: *mut *mut amiwire_action) -> amiwire_status {
    guard(|| new_action(Action::logoff(), out))
}

/// `CoreShowChannels` (an event list).
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_core_show_channels(
    out: *mut *mut amiwire_action,
) -> amiwire_status {
    guard(|| new_action(Action::core_show_channels(), out))
}

/// `Login` with a plain secret (the secret is never in any error text).
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_login(
    username: *const u8,
    username_len: usize,
    secret: *const u8,
    secret_len: usize,
    out: *mut *mut amiwire_action,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let (u, s) = unsafe { (text(username, username_len)?, text(secret, secret_len)?) };
        new_action(Action::login(u, s), out)
    })
}

/// `Login` with `AuthType: MD5` and `Key: key_hex` (md5 of challenge + secret, in hex).
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_login_md5(
    username: *const u8,
    username_len: usize,
    key_hex: *const u8,
    key_hex_len: usize,
    out: *mut *mut amiwire_action,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let (u, k) = unsafe { (text(username, username_len)?, text(key_hex, key_hex_len)?) };
        new_action(Action::login_md5(u, k), out)
    })
}

/// `Command` running the CLI command `cli` (its output: `amiwire_message_output_line`).
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_command(
    cli: *const u8,
    cli_len: usize,
    out: *mut *mut amiwire_action,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contract.
        let cli = unsafe { text(cli, cli_len)? };
        new_action(Action::command(cli), out)
    })
}

/// `Events` with `EventMask: mask` (`on`, `off`, `call,system`…).
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_events(
    mask: *const u8,
    mask_len: usize,
    out: *mut *mut amiwire_action,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contract.
        let mask = unsafe { text(mask, mask_len)? };
        new_action(Action::events(mask), out)
    })
}

/// `Filter` (Operation Add) in the legacy syntax (`Event: Dial.*`, `!Event: Newexten`).
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_filter(
    filter: *const u8,
    filter_len: usize,
    out: *mut *mut amiwire_action,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contract.
        let filter = unsafe { text(filter, filter_len)? };
        new_action(Action::filter_add(filter), out)
    })
}

/// `Filter` (Operation Add) with `MatchCriteria` (Asterisk 21+ syntax).
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_filter_criteria(
    criteria: *const u8,
    criteria_len: usize,
    filter: *const u8,
    filter_len: usize,
    out: *mut *mut amiwire_action,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let (c, f) = unsafe { (text(criteria, criteria_len)?, text(filter, filter_len)?) };
        new_action(Action::filter_add_criteria(c, f), out)
    })
}

/// `Getvar` of `variable`, on `channel` (NULL for a global variable).
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_getvar(
    variable: *const u8,
    variable_len: usize,
    channel: *const u8,
    channel_len: usize,
    out: *mut *mut amiwire_action,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let (v, c) = unsafe {
            (
                text(variable, variable_len)?,
                opt_text(channel, channel_len)?,
            )
        };
        new_action(Action::getvar(v, c), out)
    })
}

/// `Setvar` of `variable` to `value`, on `channel` (NULL for a global variable).
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_setvar(
    variable: *const u8,
    variable_len: usize,
    value: *const u8,
    value_len: usize,
    channel: *const u8,
    channel_len: usize,
    out: *mut *mut amiwire_action,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let (var, val, c) = unsafe {
            (
                text(variable, variable_len)?,
                text(value, value_len)?,
                opt_text(channel, channel_len)?,
            )
        };
        new_action(Action::setvar(var, val, c), out)
    })
}

/// `UserEvent` named `name`; add its headers with `amiwire_action_add_header`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_user_event(
    name: *const u8,
    name_len: usize,
    out: *mut *mut amiwire_action,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contract.
        let n = unsafe { text(name, name_len)? };
        new_action(Action::user_event(n, &[]), out)
    })
}

/// `Hangup` of `channel`; `cause` (a Q.850 cause) is sent only when `has_cause`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_hangup(
    channel: *const u8,
    channel_len: usize,
    has_cause: bool,
    cause: u32,
    out: *mut *mut amiwire_action,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contract.
        let c = unsafe { text(channel, channel_len)? };
        new_action(Action::hangup(c, has_cause.then_some(cause)), out)
    })
}

/// `Redirect` of `channel` to `context`, `exten`, `priority` (a number or a label).
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_redirect(
    channel: *const u8,
    channel_len: usize,
    context: *const u8,
    context_len: usize,
    exten: *const u8,
    exten_len: usize,
    priority: *const u8,
    priority_len: usize,
    out: *mut *mut amiwire_action,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let (ch, cx, ex, pr) = unsafe {
            (
                text(channel, channel_len)?,
                text(context, context_len)?,
                text(exten, exten_len)?,
                text(priority, priority_len)?,
            )
        };
        new_action(Action::redirect(ch, cx, ex, pr), out)
    })
}

/// `Status` of `channel` (NULL for every channel; an event list).
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_status(
    channel: *const u8,
    channel_len: usize,
    out: *mut *mut amiwire_action,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contract.
        let c = unsafe { opt_text(channel, channel_len)? };
        new_action(Action::status(c), out)
    })
}

/// `QueueStatus` of `queue` (NULL for every queue; an event list).
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_queue_status(
    queue: *const u8,
    queue_len: usize,
    out: *mut *mut amiwire_action,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contract.
        let q = unsafe { opt_text(queue, queue_len)? };
        new_action(Action::queue_status(q), out)
    })
}

/// `Originate` of `channel` to the dialplan at `context`, `exten`, `priority`; `async`
/// sends `Async: true` (the result then comes as the response's OriginateResponse). Add
/// `CallerID`, `Timeout`… with `amiwire_action_add_header` and variables with
/// `amiwire_action_add_variable`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_originate_exten(
    channel: *const u8,
    channel_len: usize,
    context: *const u8,
    context_len: usize,
    exten: *const u8,
    exten_len: usize,
    priority: *const u8,
    priority_len: usize,
    is_async: bool,
    out: *mut *mut amiwire_action,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let (ch, cx, ex, pr) = unsafe {
            (
                text(channel, channel_len)?,
                text(context, context_len)?,
                text(exten, exten_len)?,
                text(priority, priority_len)?,
            )
        };
        let o = amiwire::Originate::to_exten(ch, cx, ex, pr).asynchronous(is_async);
        new_action(o.build(), out)
    })
}

/// `Originate` of `channel` into `application` with `data` (may be empty).
#[no_mangle]
pub unsafe extern "C" fn amiwire_action_originate_application(
    channel: *const u8,
    channel_len: usize,
    application: *const u8,
    application_len: usize,
    data: *const u8,
    data_len: usize,
    is_async: bool,
    out: *mut *mut amiwire_action,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let (ch, app, d) = unsafe {
            (
                text(channel, channel_len)?,
                text(application, application_len)?,
                text(data, data_len)?,
            )
        };
        let o = amiwire::Originate::to_application(ch, app, d).asynchronous(is_async);
        new_action(o.build(), out)
    })
}

// ---------------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------------

/// Settings of a connection (copied by `amiwire_connection_new`; free with
/// `amiwire_config_free`). The secret it holds is never in any error text.
pub struct amiwire_config(ConnectionConfig);

/// New settings with the defaults: no login, 30 s action timeout, 10 s login timeout.
#[no_mangle]
pub unsafe extern "C" fn amiwire_config_new(out: *mut *mut amiwire_config) -> amiwire_status {
    guard(|| {
        check_out(out)?;
        let c = Box::new(amiwire_config(ConnectionConfig::default()));
        // SAFETY: checked.
        unsafe { write(out, Box::into_raw(c)) };
        Ok(())
    })
}

/// Frees settings (NULL allowed).
#[no_mangle]
pub unsafe extern "C" fn amiwire_config_free(cfg: *mut amiwire_config) {
    // SAFETY: documented ownership contract.
    guard_void(|| unsafe { free_box(cfg) })
}

/// Logs in as `username` with `secret` on the banner; `md5`: Challenge + MD5 key instead of
/// the plain secret.
#[no_mangle]
pub unsafe extern "C" fn amiwire_config_set_login(
    cfg: *mut amiwire_config,
    username: *const u8,
    username_len: usize,
    secret: *const u8,
    secret_len: usize,
    md5: bool,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { get_mut(cfg)? };
        // SAFETY: documented contracts.
        let (u, s) = unsafe { (text(username, username_len)?, text(secret, secret_len)?) };
        c.0.login = Some(if md5 {
            Credentials::md5(u, s)
        } else {
            Credentials::plain(u, s)
        });
        Ok(())
    })
}

/// The `Events:` header of the Login (`on`, `off`, `call,system`…).
#[no_mangle]
pub unsafe extern "C" fn amiwire_config_set_events(
    cfg: *mut amiwire_config,
    mask: *const u8,
    mask_len: usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { get_mut(cfg)? };
        // SAFETY: documented contract.
        let m = unsafe { text(mask, mask_len)? };
        c.0.events = Some(EventMask::parse(m));
        Ok(())
    })
}

fn ms(v: u64) -> Duration {
    if v == AMIWIRE_NO_TIMEOUT {
        Duration::MAX
    } else {
        Duration::from_millis(v)
    }
}

/// Timeouts in milliseconds: `action_ms` (each action's default), `login_ms` (banner and
/// login), `keepalive_ms` (Ping interval once logged in; 0 = no keepalive), `pong_ms` (how
/// long a keepalive Ping may wait). `AMIWIRE_NO_TIMEOUT` turns a timeout off.
/// `AMIWIRE_INVALID_ARGUMENT` for a 0 action, login or pong timeout.
#[no_mangle]
pub unsafe extern "C" fn amiwire_config_set_timeouts(
    cfg: *mut amiwire_config,
    action_ms: u64,
    login_ms: u64,
    keepalive_ms: u64,
    pong_ms: u64,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { get_mut(cfg)? };
        if action_ms == 0 || login_ms == 0 || pong_ms == 0 {
            return Err(AMIWIRE_INVALID_ARGUMENT);
        }
        c.0.action_timeout = ms(action_ms);
        c.0.login_timeout = ms(login_ms);
        c.0.keepalive = (keepalive_ms != 0).then(|| ms(keepalive_ms));
        c.0.pong_timeout = ms(pong_ms);
        Ok(())
    })
}

/// Whether a session may be followed by another (`amiwire_connection_reconnect`) with the
/// actions never written kept for it (default off).
#[no_mangle]
pub unsafe extern "C" fn amiwire_config_set_resumable(
    cfg: *mut amiwire_config,
    resumable: bool,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        unsafe { get_mut(cfg)? }.0.resumable = resumable;
        Ok(())
    })
}

/// The prefix of generated ActionIDs (1 to 43 printable ASCII bytes); default random.
#[no_mangle]
pub unsafe extern "C" fn amiwire_config_set_action_id_prefix(
    cfg: *mut amiwire_config,
    prefix: *const u8,
    prefix_len: usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { get_mut(cfg)? };
        // SAFETY: documented contract.
        let p = unsafe { text(prefix, prefix_len)? };
        c.0.action_ids = ActionIdGenerator::with_prefix(p).map_err(|e| encode_status(&e))?;
        Ok(())
    })
}

/// Limits: most pending actions, most bytes queued for transmission, most event-list items.
/// `AMIWIRE_INVALID_ARGUMENT` for a 0.
#[no_mangle]
pub unsafe extern "C" fn amiwire_config_set_limits(
    cfg: *mut amiwire_config,
    max_pending: usize,
    max_queued_bytes: usize,
    max_list_items: usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { get_mut(cfg)? };
        if max_pending == 0 || max_queued_bytes == 0 || max_list_items == 0 {
            return Err(AMIWIRE_INVALID_ARGUMENT);
        }
        c.0.max_pending = max_pending;
        c.0.max_queued_bytes = max_queued_bytes;
        c.0.max_list_items = max_list_items;
        Ok(())
    })
}

/// A duration as `amiwire_config_set_timeouts` takes it: `AMIWIRE_NO_TIMEOUT` for none.
fn ms_of(d: Duration) -> u64 {
    if d == Duration::MAX {
        AMIWIRE_NO_TIMEOUT
    } else {
        u64::try_from(d.as_millis())
            .unwrap_or(AMIWIRE_NO_TIMEOUT)
            .min(AMIWIRE_NO_TIMEOUT - 1)
    }
}

/// Reads the timeouts in force, in milliseconds, in the form `amiwire_config_set_timeouts`
/// takes (`AMIWIRE_NO_TIMEOUT` for a timeout turned off, `keepalive_ms` 0 for no keepalive),
/// so that a caller can change some and keep the defaults of the others.
#[no_mangle]
pub unsafe extern "C" fn amiwire_config_get_timeouts(
    cfg: *const amiwire_config,
    action_ms: *mut u64,
    login_ms: *mut u64,
    keepalive_ms: *mut u64,
    pong_ms: *mut u64,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { get(cfg)? };
        check_out(action_ms)?;
        check_out(login_ms)?;
        check_out(keepalive_ms)?;
        check_out(pong_ms)?;
        // SAFETY: all checked non-NULL.
        unsafe {
            write(action_ms, ms_of(c.0.action_timeout));
            write(login_ms, ms_of(c.0.login_timeout));
            write(keepalive_ms, c.0.keepalive.map_or(0, ms_of));
            write(pong_ms, ms_of(c.0.pong_timeout));
        }
        Ok(())
    })
}

/// Reads the limits in force, in the form `amiwire_config_set_limits` takes, so that a
/// caller can change some and keep the defaults of the others.
#[no_mangle]
pub unsafe extern "C" fn amiwire_config_get_limits(
    cfg: *const amiwire_config,
    max_pending: *mut usize,
    max_queued_bytes: *mut usize,
    max_list_items: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { get(cfg)? };
        check_out(max_pending)?;
        check_out(max_queued_bytes)?;
        check_out(max_list_items)?;
        // SAFETY: all checked non-NULL.
        unsafe {
            write(max_pending, c.0.max_pending);
            write(max_queued_bytes, c.0.max_queued_bytes);
            write(max_list_items, c.0.max_list_items);
        }
        Ok(())
    })
}

/// Maps the caller's monotonic milliseconds to `Instant`s: saturating both ways.
struct Clock {
    base: Instant,
    base_ms: u64,
}

impl Clock {
    fn instant(&self, now_ms: u64) -> Instant {
        let d = now_ms.saturating_sub(self.base_ms);
        // Far beyond any real deadline, and representable.
        let d = d.min(100 * 365 * 24 * 3600 * 1000);
        self.base
            .checked_add(Duration::from_millis(d))
            .unwrap_or(self.base)
    }

    fn ms(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.base).as_millis();
        self.base_ms
            .saturating_add(u64::try_from(d).unwrap_or(u64::MAX))
            .min(AMIWIRE_NO_TIMEOUT - 1)
    }
}

enum OutInner {
    Connected(String),
    LoggedIn,
    Event(amiwire_message),
    Unmatched(amiwire_message),
    Response {
        resp: Box<Response>,
        msgs: Box<RespMsgs>,
    },
    Failed {
        id: String,
        error: ActionError,
        msgs: Option<Box<RespMsgs>>,
    },
    DecodeError(DecodeError),
    Closed(CloseReason),
}

struct RespMsgs {
    message: amiwire_message,
    items: Vec<amiwire_message>,
    complete: Option<amiwire_message>,
    originate: Option<amiwire_message>,
}

impl RespMsgs {
    fn new(r: &Response) -> Box<RespMsgs> {
        Box::new(RespMsgs {
            message: amiwire_message::owned(r.message.clone()),
            items: r
                .events
                .iter()
                .cloned()
                .map(amiwire_message::owned)
                .collect(),
            complete: r.complete.clone().map(amiwire_message::owned),
            originate: r.originate.clone().map(amiwire_message::owned),
        })
    }
}

/// One output of `amiwire_connection_poll_output`, borrowed from the connection: valid until
/// the next call on the connection (any function taking the connection), and so are the
/// messages and bytes its accessors hand out. Copy a message with `amiwire_message_clone` to
/// keep it.
pub struct amiwire_output(OutInner);

/// An AMI client connection state machine (sans I/O): the caller reads and writes the socket
/// and the clock. Not thread-safe: use one handle from one thread at a time.
pub struct amiwire_connection {
    // `current` may borrow from `conn`'s decoder: declared first, dropped first.
    current: Option<amiwire_output>,
    conn: Connection,
    clock: Clock,
    tx: Vec<u8>,
    tx_at: usize,
}

/// Creates a connection at `now_ms` (monotonic milliseconds, e.g. CLOCK_MONOTONIC; the same
/// clock for every call). `cfg` is copied. Free with `amiwire_connection_free`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_connection_new(
    cfg: *const amiwire_config,
    now_ms: u64,
    out: *mut *mut amiwire_connection,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { get(cfg)? };
        check_out(out)?;
        let base = Instant::now();
        let conn = Box::new(amiwire_connection {
            current: None,
            conn: Connection::new(c.0.clone(), base),
            clock: Clock {
                base,
                base_ms: now_ms,
            },
            tx: Vec::new(),
            tx_at: 0,
        });
        // SAFETY: checked.
        unsafe { write(out, Box::into_raw(conn)) };
        Ok(())
    })
}

/// Frees a connection (NULL allowed); everything borrowed from it becomes invalid.
#[no_mangle]
pub unsafe extern "C" fn amiwire_connection_free(conn: *mut amiwire_connection) {
    // SAFETY: documented ownership contract.
    guard_void(|| unsafe { free_box(conn) })
}

unsafe fn conn_mut<'a>(
    conn: *mut amiwire_connection,
) -> Result<&'a mut amiwire_connection, amiwire_status> {
    // SAFETY: documented contracts.
    let c = unsafe { get_mut(conn)? };
    c.current = None;
    Ok(c)
}

/// Takes bytes read from the socket; `*taken` is how many were taken (all unless the
/// decoder's buffer is full: then drain `amiwire_connection_poll_output` and feed the rest).
#[no_mangle]
pub unsafe extern "C" fn amiwire_connection_receive(
    conn: *mut amiwire_connection,
    data: *const u8,
    len: usize,
    taken: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { conn_mut(conn)? };
        // SAFETY: documented contract.
        let d = unsafe { bytes(data, len)? };
        check_out(taken)?;
        let n = c.conn.receive(d);
        // SAFETY: checked.
        unsafe { write(taken, n) };
        Ok(())
    })
}

/// The peer closed the socket (read returned 0). Drain `poll_output` afterwards.
#[no_mangle]
pub unsafe extern "C" fn amiwire_connection_receive_eof(
    conn: *mut amiwire_connection,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        unsafe { conn_mut(conn)? }.conn.receive_eof();
        Ok(())
    })
}

/// Advances time to `now_ms`: expires actions and the login, sends keepalive Pings. Times
/// going backwards are treated as no time passing.
#[no_mangle]
pub unsafe extern "C" fn amiwire_connection_handle_timeout(
    conn: *mut amiwire_connection,
    now_ms: u64,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { conn_mut(conn)? };
        let t = c.clock.instant(now_ms);
        c.conn.handle_timeout(t);
        Ok(())
    })
}

/// When `amiwire_connection_handle_timeout` should be called next, in the caller's
/// milliseconds; `AMIWIRE_NO_TIMEOUT` when no timer is armed.
#[no_mangle]
pub unsafe extern "C" fn amiwire_connection_poll_timeout(
    conn: *mut amiwire_connection,
    deadline_ms: *mut u64,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { conn_mut(conn)? };
        check_out(deadline_ms)?;
        let d = c
            .conn
            .poll_timeout()
            .map_or(AMIWIRE_NO_TIMEOUT, |t| c.clock.ms(t));
        // SAFETY: checked.
        unsafe { write(deadline_ms, d) };
        Ok(())
    })
}

/// Queues `action` (copied: the caller still owns it) and writes its ActionID
/// (NUL-terminated) into `id_buf`, which must hold `AMIWIRE_ACTION_ID_BUF_LEN` bytes
/// (`AMIWIRE_INSUFFICIENT_SIZE` otherwise, nothing queued); `id_buf` may be NULL when the
/// ID is not wanted (then `id_buf_len` is ignored). `timeout_ms`: `AMIWIRE_DEFAULT_TIMEOUT`
/// (0) for the configured action timeout, `AMIWIRE_NO_TIMEOUT` for none, else milliseconds.
/// Fails with `AMIWIRE_CLOSED`, `AMIWIRE_TOO_MANY_PENDING`, `AMIWIRE_OUTPUT_FULL`,
/// `AMIWIRE_DUPLICATE_ACTION_ID`, `AMIWIRE_ORIGINATE_RESULT_UNAVAILABLE`,
/// `AMIWIRE_INVALID_ACTION`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_connection_send(
    conn: *mut amiwire_connection,
    action: *const amiwire_action,
    timeout_ms: u64,
    now_ms: u64,
    id_buf: *mut u8,
    id_buf_len: usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { conn_mut(conn)? };
        // SAFETY: documented contracts.
        let a = unsafe { get(action)? };
        if !id_buf.is_null() && id_buf_len < AMIWIRE_ACTION_ID_BUF_LEN {
            return Err(AMIWIRE_INSUFFICIENT_SIZE);
        }
        let now = c.clock.instant(now_ms);
        let r = if timeout_ms == AMIWIRE_DEFAULT_TIMEOUT {
            c.conn.send(a.0.clone(), now)
        } else {
            c.conn.send_with_timeout(a.0.clone(), ms(timeout_ms), now)
        };
        let id = r.map_err(|e| local_status(&e))?;
        if !id_buf.is_null() {
            let mut w = 0;
            // SAFETY: `id_buf` holds at least 65 bytes; an ActionID is at most 64.
            unsafe { copy_out(id.as_bytes(), id_buf, id_buf_len, &mut w)? };
        }
        Ok(())
    })
}

/// Sends Logoff: the connection closes with `AMIWIRE_CLOSE_LOGOFF` after the Goodbye.
#[no_mangle]
pub unsafe extern "C" fn amiwire_connection_logoff(
    conn: *mut amiwire_connection,
    now_ms: u64,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { conn_mut(conn)? };
        let now = c.clock.instant(now_ms);
        c.conn.logoff(now).map(|_| ()).map_err(|e| local_status(&e))
    })
}

/// Ends the connection for good: pending actions fail, then `AMIWIRE_OUTPUT_CLOSED`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_connection_close(conn: *mut amiwire_connection) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { conn_mut(conn)? };
        c.conn.close();
        c.tx.clear();
        c.tx_at = 0;
        Ok(())
    })
}

/// Starts the next session on a new socket (reconnect carry-over): same settings, a new
/// login at `now_ms` with the event mask in force, the last session's server filters sent
/// again, then the actions never written. Drain `poll_output` first. `AMIWIRE_CLOSED` after
/// a Logoff or a close. Bytes of the old session not yet taken by `poll_transmit` are dropped.
#[no_mangle]
pub unsafe extern "C" fn amiwire_connection_reconnect(
    conn: *mut amiwire_connection,
    now_ms: u64,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { conn_mut(conn)? };
        let now = c.clock.instant(now_ms);
        c.conn.reconnect(now).map_err(|e| local_status(&e))?;
        c.tx.clear();
        c.tx_at = 0;
        Ok(())
    })
}

/// The next output, or `*out = NULL` when there is none for now. The output is borrowed from
/// the connection: valid until the next call on the connection.
#[no_mangle]
pub unsafe extern "C" fn amiwire_connection_poll_output(
    conn: *mut amiwire_connection,
    out: *mut *const amiwire_output,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { conn_mut(conn)? };
        check_out(out)?;
        let o = match c.conn.poll_output() {
            None => None,
            Some(o) => Some(match o {
                Output::Connected { banner } => OutInner::Connected(banner),
                Output::LoggedIn => OutInner::LoggedIn,
                Output::Event(m) => OutInner::Event(amiwire_message::borrowed(m)),
                Output::Unmatched(m) => OutInner::Unmatched(amiwire_message::borrowed(m)),
                Output::Response(r) => {
                    let msgs = RespMsgs::new(&r);
                    OutInner::Response { resp: r, msgs }
                }
                Output::Failed { id, error } => {
                    let msgs = match &error {
                        ActionError::Truncated(r) => Some(RespMsgs::new(r)),
                        _ => None,
                    };
                    OutInner::Failed {
                        id: id.into_string(),
                        error,
                        msgs,
                    }
                }
                Output::DecodeError(e) => OutInner::DecodeError(e),
                Output::Closed(r) => OutInner::Closed(r),
                _ => return Err(AMIWIRE_UNKNOWN_ERROR),
            }),
        };
        let p = match o {
            None => ptr::null(),
            Some(o) => c.current.insert(amiwire_output(o)) as *const amiwire_output,
        };
        // SAFETY: checked.
        unsafe { write(out, p) };
        Ok(())
    })
}

/// Copies up to `buf_len` bytes to write to the socket into `buf`; `*written` is how many
/// (0 when there is nothing to write). Call until 0. Actions count as sent once their bytes
/// have left the connection through this call (even if not yet fully copied out).
#[no_mangle]
pub unsafe extern "C" fn amiwire_connection_poll_transmit(
    conn: *mut amiwire_connection,
    buf: *mut u8,
    buf_len: usize,
    written: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { conn_mut(conn)? };
        check_out(buf)?;
        check_out(written)?;
        if buf_len == 0 {
            return Err(AMIWIRE_INSUFFICIENT_SIZE);
        }
        if c.tx_at == c.tx.len() {
            c.tx.clear();
            c.tx_at = 0;
            let _ = c.conn.poll_transmit(&mut c.tx);
        }
        let n = (c.tx.len() - c.tx_at).min(buf_len);
        // SAFETY: `buf` holds `buf_len` >= n writable bytes (documented).
        unsafe {
            ptr::copy_nonoverlapping(c.tx.as_ptr().add(c.tx_at), buf, n);
            write(written, n);
        }
        c.tx_at += n;
        Ok(())
    })
}

/// Whether the login succeeded (the connection is ready for actions).
#[no_mangle]
pub unsafe extern "C" fn amiwire_connection_is_ready(
    conn: *mut amiwire_connection,
    out: *mut bool,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { conn_mut(conn)? };
        check_out(out)?;
        // SAFETY: checked.
        unsafe { write(out, c.conn.is_ready()) };
        Ok(())
    })
}

/// Whether the connection has ended.
#[no_mangle]
pub unsafe extern "C" fn amiwire_connection_is_closed(
    conn: *mut amiwire_connection,
    out: *mut bool,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { conn_mut(conn)? };
        check_out(out)?;
        // SAFETY: checked.
        unsafe { write(out, c.conn.is_closed()) };
        Ok(())
    })
}

/// Number of actions waiting for a result.
#[no_mangle]
pub unsafe extern "C" fn amiwire_connection_pending(
    conn: *mut amiwire_connection,
    out: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { conn_mut(conn)? };
        check_out(out)?;
        // SAFETY: checked.
        unsafe { write(out, c.conn.pending()) };
        Ok(())
    })
}

// ----- output accessors -----

/// The output's kind.
#[no_mangle]
pub unsafe extern "C" fn amiwire_output_get_kind(
    output: *const amiwire_output,
    out: *mut amiwire_output_kind,
) -> amiwire_status {
    use amiwire_output_kind::*;
    guard(|| {
        // SAFETY: documented contracts.
        let o = unsafe { get(output)? };
        check_out(out)?;
        let k = match &o.0 {
            OutInner::Connected(_) => AMIWIRE_OUTPUT_CONNECTED,
            OutInner::LoggedIn => AMIWIRE_OUTPUT_LOGGED_IN,
            OutInner::Event(_) => AMIWIRE_OUTPUT_EVENT,
            OutInner::Unmatched(_) => AMIWIRE_OUTPUT_UNMATCHED,
            OutInner::Response { .. } => AMIWIRE_OUTPUT_RESPONSE,
            OutInner::Failed { .. } => AMIWIRE_OUTPUT_FAILED,
            OutInner::DecodeError(_) => AMIWIRE_OUTPUT_DECODE_ERROR,
            OutInner::Closed(_) => AMIWIRE_OUTPUT_CLOSED,
        };
        // SAFETY: checked.
        unsafe { write(out, k) };
        Ok(())
    })
}

/// The banner of a CONNECTED output, borrowed.
#[no_mangle]
pub unsafe extern "C" fn amiwire_output_banner(
    output: *const amiwire_output,
    out: *mut *const u8,
    out_len: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        match &unsafe { get(output)? }.0 {
            // SAFETY: forwarded contract.
            OutInner::Connected(b) => unsafe { out_slice(b.as_bytes(), out, out_len) },
            _ => Err(AMIWIRE_WRONG_KIND),
        }
    })
}

/// The message of an EVENT or UNMATCHED output, or the `Response:` message of a RESPONSE (or
/// of a FAILED output with `AMIWIRE_ACTION_TRUNCATED`), borrowed like the output.
#[no_mangle]
pub unsafe extern "C" fn amiwire_output_message(
    output: *const amiwire_output,
    out: *mut *const amiwire_message,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let o = unsafe { get(output)? };
        check_out(out)?;
        let m = match &o.0 {
            OutInner::Event(m) | OutInner::Unmatched(m) => m,
            OutInner::Response { msgs, .. } => &msgs.message,
            OutInner::Failed {
                msgs: Some(msgs), ..
            } => &msgs.message,
            _ => return Err(AMIWIRE_WRONG_KIND),
        };
        // SAFETY: checked.
        unsafe { write(out, m as *const amiwire_message) };
        Ok(())
    })
}

fn resp_msgs(o: &amiwire_output) -> Result<&RespMsgs, amiwire_status> {
    match &o.0 {
        OutInner::Response { msgs, .. } => Ok(msgs),
        OutInner::Failed {
            msgs: Some(msgs), ..
        } => Ok(msgs),
        OutInner::Failed { .. } => Err(AMIWIRE_NOT_FOUND),
        _ => Err(AMIWIRE_WRONG_KIND),
    }
}

/// The ActionID of a RESPONSE or FAILED output, borrowed.
#[no_mangle]
pub unsafe extern "C" fn amiwire_output_action_id(
    output: *const amiwire_output,
    out: *mut *const u8,
    out_len: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let id = match &unsafe { get(output)? }.0 {
            OutInner::Response { resp, .. } => resp.id.as_bytes(),
            OutInner::Failed { id, .. } => id.as_bytes(),
            _ => return Err(AMIWIRE_WRONG_KIND),
        };
        // SAFETY: forwarded contract.
        unsafe { out_slice(id, out, out_len) }
    })
}

/// The response of a RESPONSE output, or the partial one of a truncated FAILED output.
fn response_of(o: &amiwire_output) -> Result<&Response, amiwire_status> {
    match &o.0 {
        OutInner::Response { resp, .. } => Ok(resp.as_ref()),
        OutInner::Failed {
            error: ActionError::Truncated(r),
            ..
        } => Ok(r),
        _ => Err(AMIWIRE_WRONG_KIND),
    }
}

/// Whether a RESPONSE succeeded (`Response: Success`/`Follows`, and for an async Originate an
/// OriginateResponse with `Response: Success` too); for a FAILED output with
/// `AMIWIRE_ACTION_TRUNCATED`, whether its partial response did.
#[no_mangle]
pub unsafe extern "C" fn amiwire_output_is_success(
    output: *const amiwire_output,
    out: *mut bool,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let o = unsafe { get(output)? };
        check_out(out)?;
        let resp = response_of(o)?;
        // SAFETY: checked.
        unsafe { write(out, resp.is_success()) };
        Ok(())
    })
}

/// Why the server refused a RESPONSE, or the partial response of a truncated FAILED output
/// (`AMIWIRE_REFUSAL_NONE` when it did not).
#[no_mangle]
pub unsafe extern "C" fn amiwire_output_refusal(
    output: *const amiwire_output,
    out: *mut amiwire_refusal,
) -> amiwire_status {
    use amiwire_refusal::*;
    guard(|| {
        // SAFETY: documented contracts.
        let o = unsafe { get(output)? };
        check_out(out)?;
        let resp = response_of(o)?;
        let r = match resp.refusal() {
            None => AMIWIRE_REFUSAL_NONE,
            Some(Refusal::PermissionDenied) => AMIWIRE_REFUSAL_PERMISSION_DENIED,
            Some(Refusal::UnknownAction) => AMIWIRE_REFUSAL_UNKNOWN_ACTION,
            Some(_) => AMIWIRE_REFUSAL_OTHER,
        };
        // SAFETY: checked.
        unsafe { write(out, r) };
        Ok(())
    })
}

/// Number of event-list items of a RESPONSE (or a truncated FAILED), completion excluded.
#[no_mangle]
pub unsafe extern "C" fn amiwire_output_item_count(
    output: *const amiwire_output,
    out: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let m = resp_msgs(unsafe { get(output)? })?;
        check_out(out)?;
        // SAFETY: checked.
        unsafe { write(out, m.items.len()) };
        Ok(())
    })
}

/// The `index`-th event-list item, borrowed like the output.
#[no_mangle]
pub unsafe extern "C" fn amiwire_output_item(
    output: *const amiwire_output,
    index: usize,
    out: *mut *const amiwire_message,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let m = resp_msgs(unsafe { get(output)? })?;
        check_out(out)?;
        let it = m.items.get(index).ok_or(AMIWIRE_NOT_FOUND)?;
        // SAFETY: checked.
        unsafe { write(out, it as *const amiwire_message) };
        Ok(())
    })
}

/// The event that completed the list (`…Complete`), `AMIWIRE_NOT_FOUND` when none.
#[no_mangle]
pub unsafe extern "C" fn amiwire_output_complete(
    output: *const amiwire_output,
    out: *mut *const amiwire_message,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let m = resp_msgs(unsafe { get(output)? })?;
        check_out(out)?;
        let c = m.complete.as_ref().ok_or(AMIWIRE_NOT_FOUND)?;
        // SAFETY: checked.
        unsafe { write(out, c as *const amiwire_message) };
        Ok(())
    })
}

/// The OriginateResponse event of an async Originate's RESPONSE, `AMIWIRE_NOT_FOUND` when
/// none.
#[no_mangle]
pub unsafe extern "C" fn amiwire_output_originate_response(
    output: *const amiwire_output,
    out: *mut *const amiwire_message,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let m = resp_msgs(unsafe { get(output)? })?;
        check_out(out)?;
        let c = m.originate.as_ref().ok_or(AMIWIRE_NOT_FOUND)?;
        // SAFETY: checked.
        unsafe { write(out, c as *const amiwire_message) };
        Ok(())
    })
}

/// The reason code of a FAILED (`AMIWIRE_ACTION_*`), CLOSED (`AMIWIRE_CLOSE_*`) or
/// DECODE_ERROR (`AMIWIRE_DECODE_*`) output.
#[no_mangle]
pub unsafe extern "C" fn amiwire_output_reason(
    output: *const amiwire_output,
    out: *mut amiwire_status,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let o = unsafe { get(output)? };
        check_out(out)?;
        let r = match &o.0 {
            OutInner::Failed { error, .. } => match error {
                ActionError::TimedOut { .. } => AMIWIRE_ACTION_TIMED_OUT,
                ActionError::Closed { .. } => AMIWIRE_ACTION_CLOSED,
                ActionError::Truncated(_) => AMIWIRE_ACTION_TRUNCATED,
                ActionError::ListTooLong { .. } => AMIWIRE_ACTION_LIST_TOO_LONG,
                _ => AMIWIRE_UNKNOWN_ERROR,
            },
            OutInner::Closed(r) => close_status(r),
            OutInner::DecodeError(e) => decode_status(e),
            _ => return Err(AMIWIRE_WRONG_KIND),
        };
        // SAFETY: checked.
        unsafe { write(out, r) };
        Ok(())
    })
}

/// For a FAILED output: whether the action had been handed to the transport (then its
/// outcome is unknown). Truncated lists were sent.
#[no_mangle]
pub unsafe extern "C" fn amiwire_output_sent(
    output: *const amiwire_output,
    out: *mut bool,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let o = unsafe { get(output)? };
        check_out(out)?;
        let OutInner::Failed { error, .. } = &o.0 else {
            return Err(AMIWIRE_WRONG_KIND);
        };
        let s = match error {
            ActionError::TimedOut { sent } | ActionError::Closed { sent } => *sent,
            _ => true,
        };
        // SAFETY: checked.
        unsafe { write(out, s) };
        Ok(())
    })
}

/// For a CLOSED output: whether a new session may succeed (false after a Logoff, a local
/// close, a refused or invalid login).
#[no_mangle]
pub unsafe extern "C" fn amiwire_output_may_reconnect(
    output: *const amiwire_output,
    out: *mut bool,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let o = unsafe { get(output)? };
        check_out(out)?;
        let OutInner::Closed(r) = &o.0 else {
            return Err(AMIWIRE_WRONG_KIND);
        };
        // SAFETY: checked.
        unsafe { write(out, r.may_reconnect()) };
        Ok(())
    })
}

/// A human-readable text of a FAILED, CLOSED (the server's message for a refused login) or
/// DECODE_ERROR output, NUL-terminated; never contains a secret. Size convention as
/// `amiwire_status_text`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_output_text(
    output: *const amiwire_output,
    buf: *mut u8,
    buf_len: usize,
    written: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let o = unsafe { get(output)? };
        let t = match &o.0 {
            OutInner::Failed { error, .. } => error.to_string(),
            OutInner::Closed(r) => r.to_string(),
            OutInner::DecodeError(e) => e.to_string(),
            _ => return Err(AMIWIRE_WRONG_KIND),
        };
        // SAFETY: forwarded contract.
        unsafe { copy_out(t.as_bytes(), buf, buf_len, written) }
    })
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

/// An event filter (client side). Owned by the caller; free with `amiwire_filter_free`.
pub struct amiwire_filter(Filter);

fn new_filter(f: Result<Filter, amiwire::FilterError>, out: *mut *mut amiwire_filter) -> R {
    check_out(out)?;
    let f = f.map_err(|e| {
        set_error(e.to_string());
        AMIWIRE_INVALID_FILTER
    })?;
    // SAFETY: checked.
    unsafe { write(out, Box::into_raw(Box::new(amiwire_filter(f)))) };
    Ok(())
}

/// Frees a filter (NULL allowed).
#[no_mangle]
pub unsafe extern "C" fn amiwire_filter_free(f: *mut amiwire_filter) {
    // SAFETY: documented ownership contract.
    guard_void(|| unsafe { free_box(f) })
}

/// A filter in the manager.conf legacy syntax, as Asterisk applies one alone: a POSIX regex
/// over the whole event text (`Event: Dial.*`), or with a leading `!` an exclude filter.
#[no_mangle]
pub unsafe extern "C" fn amiwire_filter_manager(
    pattern: *const u8,
    pattern_len: usize,
    out: *mut *mut amiwire_filter,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contract.
        let p = unsafe { text(pattern, pattern_len)? };
        new_filter(Filter::manager(p), out)
    })
}

/// The `eventfilter` lines of manager.conf (either syntax, one a line), applied together.
#[no_mangle]
pub unsafe extern "C" fn amiwire_filter_manager_conf(
    text_: *const u8,
    text_len: usize,
    out: *mut *mut amiwire_filter,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contract.
        let t = unsafe { text(text_, text_len)? };
        new_filter(Filter::manager_conf(t), out)
    })
}

/// Events called `name` (ASCII case-insensitive).
#[no_mangle]
pub unsafe extern "C" fn amiwire_filter_event(
    name: *const u8,
    name_len: usize,
    out: *mut *mut amiwire_filter,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contract.
        let n = unsafe { text(name, name_len)? };
        new_filter(Ok(Filter::event(n)), out)
    })
}

/// Messages whose header `name` exists.
#[no_mangle]
pub unsafe extern "C" fn amiwire_filter_header_exists(
    name: *const u8,
    name_len: usize,
    out: *mut *mut amiwire_filter,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contract.
        let n = unsafe { text(name, name_len)? };
        new_filter(Ok(Filter::header_exists(n)), out)
    })
}

/// Messages whose header `name` equals `value` (bytes).
#[no_mangle]
pub unsafe extern "C" fn amiwire_filter_header_eq(
    name: *const u8,
    name_len: usize,
    value: *const u8,
    value_len: usize,
    out: *mut *mut amiwire_filter,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let (n, v) = unsafe { (text(name, name_len)?, bytes(value, value_len)?) };
        new_filter(Ok(Filter::header_eq(n, v)), out)
    })
}

/// Messages whose header `name` contains `needle` (bytes).
#[no_mangle]
pub unsafe extern "C" fn amiwire_filter_header_contains(
    name: *const u8,
    name_len: usize,
    needle: *const u8,
    needle_len: usize,
    out: *mut *mut amiwire_filter,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let (n, v) = unsafe { (text(name, name_len)?, bytes(needle, needle_len)?) };
        new_filter(Ok(Filter::header_contains(n, v)), out)
    })
}

/// Messages whose header `name` matches the regex `regex` (Rust regex syntax).
#[no_mangle]
pub unsafe extern "C" fn amiwire_filter_header_regex(
    name: *const u8,
    name_len: usize,
    regex: *const u8,
    regex_len: usize,
    out: *mut *mut amiwire_filter,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let (n, r) = unsafe { (text(name, name_len)?, text(regex, regex_len)?) };
        new_filter(Filter::header_regex(n, r), out)
    })
}

/// A new filter: both `a` and `b` pass (the operands are copied, not consumed).
#[no_mangle]
pub unsafe extern "C" fn amiwire_filter_and(
    a: *const amiwire_filter,
    b: *const amiwire_filter,
    out: *mut *mut amiwire_filter,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let (a, b) = unsafe { (get(a)?, get(b)?) };
        new_filter(Ok(a.0.clone().and(b.0.clone())), out)
    })
}

/// A new filter: `a` or `b` passes (copied operands).
#[no_mangle]
pub unsafe extern "C" fn amiwire_filter_or(
    a: *const amiwire_filter,
    b: *const amiwire_filter,
    out: *mut *mut amiwire_filter,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let (a, b) = unsafe { (get(a)?, get(b)?) };
        new_filter(Ok(a.0.clone().or(b.0.clone())), out)
    })
}

/// A new filter: `a` does not pass (copied operand).
#[no_mangle]
pub unsafe extern "C" fn amiwire_filter_not(
    a: *const amiwire_filter,
    out: *mut *mut amiwire_filter,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let a = unsafe { get(a)? };
        new_filter(Ok(a.0.clone().negate()), out)
    })
}

/// Whether `msg` passes the filter.
#[no_mangle]
pub unsafe extern "C" fn amiwire_filter_matches(
    f: *const amiwire_filter,
    msg: *const amiwire_message,
    out: *mut bool,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let (f, m) = unsafe { (get(f)?, get(msg)?) };
        check_out(out)?;
        // SAFETY: checked.
        unsafe { write(out, f.0.matches(&m.view())) };
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Call files
// ---------------------------------------------------------------------------------------------

/// An Asterisk call file. Owned by the caller; free with `amiwire_callfile_free`.
pub struct amiwire_callfile(CallFile);

fn cf_err(e: amiwire::CallFileError) -> amiwire_status {
    set_error(e.to_string());
    AMIWIRE_INVALID_CALL_FILE
}

fn new_cf(c: CallFile, out: *mut *mut amiwire_callfile) -> R {
    check_out(out)?;
    // SAFETY: checked.
    unsafe { write(out, Box::into_raw(Box::new(amiwire_callfile(c)))) };
    Ok(())
}

/// Frees a call file (NULL allowed).
#[no_mangle]
pub unsafe extern "C" fn amiwire_callfile_free(c: *mut amiwire_callfile) {
    // SAFETY: documented ownership contract.
    guard_void(|| unsafe { free_box(c) })
}

/// A call dialling `channel` that, once answered, starts the dialplan at `context`,
/// `extension`, `priority`. Values are checked by `amiwire_callfile_validate`/`_to_text`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_callfile_to_extension(
    channel: *const u8,
    channel_len: usize,
    context: *const u8,
    context_len: usize,
    extension: *const u8,
    extension_len: usize,
    priority: u32,
    out: *mut *mut amiwire_callfile,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let (ch, cx, ex) = unsafe {
            (
                text(channel, channel_len)?,
                text(context, context_len)?,
                text(extension, extension_len)?,
            )
        };
        new_cf(CallFile::to_extension(ch, cx, ex, priority), out)
    })
}

/// A call dialling `channel` that, once answered, runs `application` with `data`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_callfile_to_application(
    channel: *const u8,
    channel_len: usize,
    application: *const u8,
    application_len: usize,
    data: *const u8,
    data_len: usize,
    out: *mut *mut amiwire_callfile,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let (ch, app, d) = unsafe {
            (
                text(channel, channel_len)?,
                text(application, application_len)?,
                text(data, data_len)?,
            )
        };
        new_cf(CallFile::to_application(ch, app, d), out)
    })
}

/// Sets `Callerid:`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_callfile_set_caller_id(
    c: *mut amiwire_callfile,
    value: *const u8,
    value_len: usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { get_mut(c)? };
        // SAFETY: documented contract.
        let v = unsafe { text(value, value_len)? };
        c.0.caller_id = Some(v.to_owned());
        Ok(())
    })
}

/// Sets `MaxRetries:`, `RetryTime:` and `WaitTime:` (seconds).
#[no_mangle]
pub unsafe extern "C" fn amiwire_callfile_set_retries(
    c: *mut amiwire_callfile,
    max_retries: u32,
    retry_time: u32,
    wait_time: u32,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { get_mut(c)? };
        c.0.max_retries = Some(max_retries);
        c.0.retry_time = Some(retry_time);
        c.0.wait_time = Some(wait_time);
        Ok(())
    })
}

/// Adds a channel variable (`Set: name=value`).
#[no_mangle]
pub unsafe extern "C" fn amiwire_callfile_add_variable(
    c: *mut amiwire_callfile,
    name: *const u8,
    name_len: usize,
    value: *const u8,
    value_len: usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { get_mut(c)? };
        // SAFETY: documented contracts.
        let (n, v) = unsafe { (text(name, name_len)?, text(value, value_len)?) };
        c.0.variables.push((n.to_owned(), v.to_owned()));
        Ok(())
    })
}

/// Sets `Archive:`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_callfile_set_archive(
    c: *mut amiwire_callfile,
    archive: bool,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        unsafe { get_mut(c)? }.0.archive = Some(archive);
        Ok(())
    })
}

/// Checks every value (`AMIWIRE_INVALID_CALL_FILE`, details in `amiwire_last_error_text`).
#[no_mangle]
pub unsafe extern "C" fn amiwire_callfile_validate(c: *const amiwire_callfile) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        unsafe { get(c)? }.0.validate().map_err(cf_err)
    })
}

/// Writes the call file's text, NUL-terminated; size convention as `amiwire_status_text`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_callfile_to_text(
    c: *const amiwire_callfile,
    buf: *mut u8,
    buf_len: usize,
    written: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { get(c)? };
        check_out(buf)?;
        check_out(written)?;
        let t = c.0.to_text().map_err(cf_err)?;
        // SAFETY: forwarded contract.
        unsafe { copy_out(t.as_bytes(), buf, buf_len, written) }
    })
}

/// Parses a call file's text the way Asterisk's `pbx_spool` reads it (stricter where
/// Asterisk would silently do something else): `AMIWIRE_INVALID_CALL_FILE` with the line in
/// `amiwire_last_error_text`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_callfile_parse(
    text_: *const u8,
    text_len: usize,
    out: *mut *mut amiwire_callfile,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contract.
        let b = unsafe { bytes(text_, text_len)? };
        check_out(out)?;
        new_cf(CallFile::parse_bytes(b).map_err(cf_err)?, out)
    })
}

/// The call file's `Channel:`, borrowed from the call file until it is changed or freed.
#[no_mangle]
pub unsafe extern "C" fn amiwire_callfile_channel(
    c: *const amiwire_callfile,
    out: *mut *const u8,
    out_len: *mut usize,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        unsafe { out_slice(get(c)?.0.channel.as_bytes(), out, out_len) }
    })
}

/// Whether the destination is an application (else a dialplan extension); read its fields
/// from `amiwire_callfile_to_text`.
#[no_mangle]
pub unsafe extern "C" fn amiwire_callfile_is_application(
    c: *const amiwire_callfile,
    out: *mut bool,
) -> amiwire_status {
    guard(|| {
        // SAFETY: documented contracts.
        let c = unsafe { get(c)? };
        check_out(out)?;
        let a = matches!(c.0.destination, Destination::Application { .. });
        // SAFETY: checked.
        unsafe { write(out, a) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_saturates() {
        let c = Clock {
            base: Instant::now(),
            base_ms: 1000,
        };
        assert_eq!(c.instant(0), c.base);
        assert!(c.instant(u64::MAX) > c.base);
        assert_eq!(c.ms(c.instant(1500)), 1500);
        assert_eq!(c.ms(c.base), 1000);
    }

    #[test]
    fn a_panic_becomes_a_status() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let st = guard(|| panic!("boom"));
        std::panic::set_hook(prev);
        assert_eq!(st, AMIWIRE_PANIC);
        guard_void(|| panic!("boom"));
    }

    #[test]
    fn config_getters_round_trip_and_check_null() {
        let mut cfg = ptr::null_mut();
        let (mut a, mut l, mut k, mut p) = (0u64, 0u64, 1u64, 0u64);
        let (mut mp, mut mq, mut ml) = (0usize, 0usize, 0usize);
        // SAFETY: valid out-pointers; the config is freed once.
        unsafe {
            assert_eq!(amiwire_config_new(&mut cfg), AMIWIRE_OK);
            assert_eq!(
                amiwire_config_get_timeouts(cfg, &mut a, &mut l, &mut k, &mut p),
                AMIWIRE_OK
            );
            assert_eq!((a, l, k), (30_000, 10_000, 0));
            assert_eq!(
                amiwire_config_set_timeouts(cfg, 1500, AMIWIRE_NO_TIMEOUT, 700, p),
                AMIWIRE_OK
            );
            let p0 = p;
            assert_eq!(
                amiwire_config_get_timeouts(cfg, &mut a, &mut l, &mut k, &mut p),
                AMIWIRE_OK
            );
            assert_eq!((a, l, k, p), (1500, AMIWIRE_NO_TIMEOUT, 700, p0));
            assert_eq!(
                amiwire_config_get_limits(cfg, &mut mp, &mut mq, &mut ml),
                AMIWIRE_OK
            );
            assert_eq!(amiwire_config_set_limits(cfg, mp, mq, 7), AMIWIRE_OK);
            let (mp0, mq0) = (mp, mq);
            assert_eq!(
                amiwire_config_get_limits(cfg, &mut mp, &mut mq, &mut ml),
                AMIWIRE_OK
            );
            assert_eq!((mp, mq, ml), (mp0, mq0, 7));
            assert_eq!(
                amiwire_config_get_limits(cfg, ptr::null_mut(), &mut mq, &mut ml),
                AMIWIRE_NULL_PARAMETER
            );
            assert_eq!(
                amiwire_config_get_timeouts(ptr::null(), &mut a, &mut l, &mut k, &mut p),
                AMIWIRE_NULL_PARAMETER
            );
            amiwire_config_free(cfg);
        }
    }

    #[test]
    fn every_status_has_a_text() {
        for s in ALL_STATUSES {
            assert!(!s.text().is_empty());
        }
    }
}
