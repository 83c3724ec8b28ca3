//! A small C ABI over [`amiwire::Connection`] for the PHP binding (`bindings/php`, PHP FFI).
//!
//! Stand-in for the project's C ABI (`amiwire-ffi`, `include/amiwire.h`) which had not landed
//! when the PHP binding was written; only `bindings/php/src/Core.php` knows these functions,
//! so moving to `amiwire-ffi` changes that one file. It adds no protocol logic: every decision
//! is the core's. Its one job is to hand the core's outputs to PHP in as few FFI calls as
//! possible (one per output, a length-prefixed record in a buffer the connection owns).
//!
//! Conventions: every pointer is checked (NULL is an error, never a crash); byte strings come
//! as pointer + length (binary-safe, no NUL terminator needed); results are written into the
//! connection's buffer, read with [`amiwire_php_buf`] / [`amiwire_php_buf_len`] and valid until
//! the next call on that connection; no panic crosses the boundary (each entry point catches
//! it and answers [`AMIWIRE_PHP_PANIC`] or a neutral value). Time is monotonic milliseconds
//! chosen by the caller (any origin, never decreasing).
//!
//! Record format: integers are u32 little-endian; a string is its length (u32) then its bytes;
//! a message is its header count then name and value strings; `-1` as u32 (`0xFFFFFFFF`) as a
//! count means "absent".

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use amiwire::{
    Action, ActionError, CloseReason, Connection, ConnectionConfig, Credentials, EventMask,
    LocalError, MessageRef, Output, Refusal, Response,
};

/// Success.
pub const AMIWIRE_PHP_OK: i32 = 0;
/// A NULL pointer where one is required.
pub const AMIWIRE_PHP_NULL: i32 = 1;
/// The action does not encode (CR/LF, empty or bad key…); the buffer holds why.
pub const AMIWIRE_PHP_INVALID: i32 = 2;
/// The connection is closed.
pub const AMIWIRE_PHP_CLOSED: i32 = 3;
/// Too many pending actions, or the output queue is full.
pub const AMIWIRE_PHP_BUSY: i32 = 4;
/// An async Originate whose result cannot arrive (the event mask excludes `call`).
pub const AMIWIRE_PHP_ORIGINATE_UNAVAILABLE: i32 = 5;
/// An action with this ActionID is pending already.
pub const AMIWIRE_PHP_DUPLICATE_ID: i32 = 6;
/// A panic was caught (a bug in amiwire).
pub const AMIWIRE_PHP_PANIC: i32 = 99;

/// No output (kinds of [`amiwire_php_poll`] follow).
pub const AMIWIRE_PHP_OUT_NONE: i32 = 0;
/// The banner: `string banner`.
pub const AMIWIRE_PHP_OUT_CONNECTED: i32 = 1;
/// Logged in: no payload.
pub const AMIWIRE_PHP_OUT_LOGGED_IN: i32 = 2;
/// An event: `message`.
pub const AMIWIRE_PHP_OUT_EVENT: i32 = 3;
/// A result: `response` (`string id, string action, u32 success, string refusal, message, u32 n + n list items, completion or absent, OriginateResponse or absent, u32 n + n Command output lines`).
pub const AMIWIRE_PHP_OUT_RESPONSE: i32 = 4;
/// A failed action: `string id, string kind (timeout|closed|truncated|list_too_long), u32 sent,
/// u32 has_partial, [response]`.
pub const AMIWIRE_PHP_OUT_FAILED: i32 = 5;
/// A response for no pending action: `message`.
pub const AMIWIRE_PHP_OUT_UNMATCHED: i32 = 6;
/// A message broke a decoder limit and was dropped: `string text`.
pub const AMIWIRE_PHP_OUT_DECODE_ERROR: i32 = 7;
/// The connection ended: `string kind, string text, u32 may_reconnect`.
pub const AMIWIRE_PHP_OUT_CLOSED: i32 = 8;
/// An output of a kind this shim does not know (a newer core): skip it and poll again.
pub const AMIWIRE_PHP_OUT_OTHER: i32 = 9;

/// One AMI connection's protocol state and its output buffer (opaque to C).
pub struct AmiwirePhpConn {
    conn: Connection,
    base: Instant,
    base_ms: u64,
    buf: Vec<u8>,
}

impl AmiwirePhpConn {
    fn instant(&self, now_ms: u64) -> Instant {
        let d = Duration::from_millis(now_ms.saturating_sub(self.base_ms));
        self.base.checked_add(d).unwrap_or(self.base)
    }
}

fn guard<T>(default: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(default)
}

/// The bytes at `ptr`, `len` long; empty for a NULL pointer or a zero length.
///
/// # Safety
/// `ptr` must be NULL or valid for reads of `len` bytes for the returned lifetime.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the caller guarantees `ptr` is valid for `len` bytes; it is not NULL.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn put_u32(buf: &mut Vec<u8>, n: usize) {
    buf.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_str(buf: &mut Vec<u8>, s: &[u8]) {
    put_u32(buf, s.len());
    buf.extend_from_slice(s);
}

fn put_message(buf: &mut Vec<u8>, m: MessageRef<'_>) {
    let headers: Vec<_> = m.iter().filter(|h| h.has_colon()).collect();
    put_u32(buf, headers.len());
    for h in headers {
        put_str(buf, h.name());
        put_str(buf, h.value());
    }
}

fn put_opt_message(buf: &mut Vec<u8>, m: Option<&amiwire::Message>) {
    match m {
        Some(m) => put_message(buf, m.as_ref()),
        None => buf.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
}

/// `string id, string action, u32 success, string refusal ('' | permission_denied |
/// unknown_action | other), message, u32 n + n messages (list items), message-or-absent
/// (completion), message-or-absent (OriginateResponse), u32 n + n strings (Command output)`.
fn put_response(buf: &mut Vec<u8>, r: &Response) {
    put_str(buf, r.id.as_str().as_bytes());
    put_str(buf, r.action.as_bytes());
    put_u32(buf, usize::from(r.is_success()));
    let refusal: &[u8] = match r.refusal() {
        None => b"",
        Some(Refusal::PermissionDenied) => b"permission_denied",
        Some(Refusal::UnknownAction) => b"unknown_action",
        Some(_) => b"other",
    };
    put_str(buf, refusal);
    put_message(buf, r.message.as_ref());
    put_u32(buf, r.events.len());
    for e in &r.events {
        put_message(buf, e.as_ref());
    }
    put_opt_message(buf, r.complete.as_ref());
    put_opt_message(buf, r.originate.as_ref());
    let out = r.output();
    put_u32(buf, out.len());
    for line in out {
        put_str(buf, line);
    }
}

fn close_kind(r: &CloseReason) -> &'static str {
    match r {
        CloseReason::Logoff => "logoff",
        CloseReason::PeerClosed => "peer_closed",
        CloseReason::LoginFailed { .. } => "login_failed",
        CloseReason::ClosedDuringLogin => "closed_during_login",
        CloseReason::InvalidLogin(_) => "invalid_login",
        CloseReason::LoginTimeout => "login_timeout",
        CloseReason::KeepaliveTimeout => "keepalive_timeout",
        CloseReason::Local => "local",
        CloseReason::Protocol(_) => "protocol",
        _ => "other",
    }
}

/// A new connection whose socket has just connected at `now_ms`, logging in as `user` with
/// `secret` (MD5 challenge when `md5` is non-zero). `events` (when `has_events` is non-zero) is
/// the Login `Events:` value. Durations in milliseconds; `keepalive_ms` 0 is off;
/// `resumable` non-zero keeps unwritten actions for [`amiwire_php_reconnect`]. Free with
/// [`amiwire_php_free`]. NULL on a NULL `user` or `secret`, or a panic.
///
/// # Safety
/// `user`, `secret` and `events` must each be NULL or valid for reads of their lengths.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn amiwire_php_new(
    user: *const u8,
    user_len: usize,
    secret: *const u8,
    secret_len: usize,
    md5: i32,
    events: *const u8,
    events_len: usize,
    has_events: i32,
    action_timeout_ms: u64,
    login_timeout_ms: u64,
    keepalive_ms: u64,
    max_list_items: u64,
    resumable: i32,
    now_ms: u64,
) -> *mut AmiwirePhpConn {
    guard(std::ptr::null_mut(), || {
        if user.is_null() || secret.is_null() {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller guarantees each pointer is NULL or valid for its length.
        let (user, secret, events) = unsafe {
            (
                text(bytes(user, user_len)),
                text(bytes(secret, secret_len)),
                text(bytes(events, events_len)),
            )
        };
        let creds = if md5 != 0 {
            Credentials::md5(user, secret)
        } else {
            Credentials::plain(user, secret)
        };
        let mut cfg = ConnectionConfig::new(creds);
        if has_events != 0 {
            cfg.events = Some(EventMask::parse(&events));
        }
        cfg.action_timeout = Duration::from_millis(action_timeout_ms);
        cfg.login_timeout = Duration::from_millis(login_timeout_ms);
        cfg.keepalive = (keepalive_ms > 0).then(|| Duration::from_millis(keepalive_ms));
        cfg.max_list_items = usize::try_from(max_list_items).unwrap_or(usize::MAX);
        cfg.resumable = resumable != 0;
        let base = Instant::now();
        Box::into_raw(Box::new(AmiwirePhpConn {
            conn: Connection::new(cfg, base),
            base,
            base_ms: now_ms,
            buf: Vec::new(),
        }))
    })
}

/// Frees a connection (NULL is allowed; freeing twice is not).
///
/// # Safety
/// `c` must be NULL or a pointer from [`amiwire_php_new`] not freed yet.
#[no_mangle]
pub unsafe extern "C" fn amiwire_php_free(c: *mut AmiwirePhpConn) {
    guard((), || {
        if !c.is_null() {
            // SAFETY: `c` came from Box::into_raw in amiwire_php_new and is freed once.
            drop(unsafe { Box::from_raw(c) });
        }
    })
}

/// Runs `f` on the connection behind `c`, or answers `null` for a NULL pointer and `panic`
/// for a caught panic.
///
/// # Safety
/// `c` must be NULL or a live pointer from [`amiwire_php_new`], not used concurrently.
unsafe fn with<T>(
    c: *mut AmiwirePhpConn,
    null: T,
    panic: T,
    f: impl FnOnce(&mut AmiwirePhpConn) -> T,
) -> T {
    if c.is_null() {
        return null;
    }
    // SAFETY: the caller guarantees `c` is live and not aliased during the call.
    let c = unsafe { &mut *c };
    catch_unwind(AssertUnwindSafe(|| f(c))).unwrap_or(panic)
}

/// The connection's buffer: the last result written by a call on it (NULL for a NULL `c`).
///
/// # Safety
/// `c` must be NULL or a live pointer from [`amiwire_php_new`].
#[no_mangle]
pub unsafe extern "C" fn amiwire_php_buf(c: *mut AmiwirePhpConn) -> *const u8 {
    // SAFETY: forwarded from the caller.
    unsafe { with(c, std::ptr::null(), std::ptr::null(), |c| c.buf.as_ptr()) }
}

/// The length of [`amiwire_php_buf`].
///
/// # Safety
/// `c` must be NULL or a live pointer from [`amiwire_php_new`].
#[no_mangle]
pub unsafe extern "C" fn amiwire_php_buf_len(c: *mut AmiwirePhpConn) -> usize {
    // SAFETY: forwarded from the caller.
    unsafe { with(c, 0, 0, |c| c.buf.len()) }
}

/// Feeds bytes read from the socket; returns how many were taken (drain
/// [`amiwire_php_poll`] and feed the rest when fewer).
///
/// # Safety
/// `c` as above; `data` NULL or valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn amiwire_php_receive(
    c: *mut AmiwirePhpConn,
    data: *const u8,
    len: usize,
) -> usize {
    // SAFETY: forwarded from the caller.
    unsafe { with(c, 0, 0, |c| c.conn.receive(bytes(data, len))) }
}

/// The peer closed the socket.
///
/// # Safety
/// `c` must be NULL or a live pointer from [`amiwire_php_new`].
#[no_mangle]
pub unsafe extern "C" fn amiwire_php_receive_eof(c: *mut AmiwirePhpConn) {
    // SAFETY: forwarded from the caller.
    unsafe { with(c, (), (), |c| c.conn.receive_eof()) }
}

/// Advances time to `now_ms` (expired actions, login, keepalive).
///
/// # Safety
/// `c` must be NULL or a live pointer from [`amiwire_php_new`].
#[no_mangle]
pub unsafe extern "C" fn amiwire_php_handle_timeout(c: *mut AmiwirePhpConn, now_ms: u64) {
    // SAFETY: forwarded from the caller.
    unsafe {
        with(c, (), (), |c| {
            let now = c.instant(now_ms);
            c.conn.handle_timeout(now);
        })
    }
}

/// When to call [`amiwire_php_handle_timeout`] next, in the caller's milliseconds; -1 for
/// never.
///
/// # Safety
/// `c` must be NULL or a live pointer from [`amiwire_php_new`].
#[no_mangle]
pub unsafe extern "C" fn amiwire_php_timeout(c: *mut AmiwirePhpConn) -> i64 {
    // SAFETY: forwarded from the caller.
    unsafe {
        with(c, -1, -1, |c| match c.conn.poll_timeout() {
            None => -1,
            Some(t) => {
                let ms = t.saturating_duration_since(c.base).as_millis();
                i64::try_from(u128::from(c.base_ms).saturating_add(ms)).unwrap_or(i64::MAX)
            }
        })
    }
}

/// Moves the bytes to write into the buffer; returns their count. Actions handed out count as
/// sent.
///
/// # Safety
/// `c` must be NULL or a live pointer from [`amiwire_php_new`].
#[no_mangle]
pub unsafe extern "C" fn amiwire_php_transmit(c: *mut AmiwirePhpConn) -> usize {
    // SAFETY: forwarded from the caller.
    unsafe {
        with(c, 0, 0, |c| {
            c.buf.clear();
            c.conn.poll_transmit(&mut c.buf)
        })
    }
}

fn local_error(c: &mut AmiwirePhpConn, e: &LocalError) -> i32 {
    c.buf.clear();
    c.buf.extend_from_slice(e.to_string().as_bytes());
    match e {
        LocalError::Encode(_) => AMIWIRE_PHP_INVALID,
        LocalError::Closed => AMIWIRE_PHP_CLOSED,
        LocalError::TooManyPending { .. } | LocalError::OutputFull { .. } => AMIWIRE_PHP_BUSY,
        LocalError::OriginateResultUnavailable { .. } => AMIWIRE_PHP_ORIGINATE_UNAVAILABLE,
        LocalError::DuplicateActionId(_) => AMIWIRE_PHP_DUPLICATE_ID,
        _ => AMIWIRE_PHP_INVALID,
    }
}

/// Queues the action `name` with its headers: `headers` is `count` pairs, each a u32-LE
/// length and bytes for the key, then the same for the value. `timeout_ms` < 0 takes the
/// default. On [`AMIWIRE_PHP_OK`] the buffer holds the ActionID; otherwise why (no secret:
/// errors name the key, never a value).
///
/// # Safety
/// `c` as above; `name` and `headers` NULL or valid for their lengths.
#[no_mangle]
pub unsafe extern "C" fn amiwire_php_send(
    c: *mut AmiwirePhpConn,
    name: *const u8,
    name_len: usize,
    headers: *const u8,
    headers_len: usize,
    timeout_ms: i64,
    now_ms: u64,
) -> i32 {
    // SAFETY: forwarded from the caller; the byte views live for this call only.
    unsafe {
        with(c, AMIWIRE_PHP_NULL, AMIWIRE_PHP_PANIC, |c| {
            let name = text(bytes(name, name_len));
            let mut action = Action::new(&name);
            let mut rest = bytes(headers, headers_len);
            let mut take = || -> Option<String> {
                let n = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
                let s = rest.get(4..4 + n)?;
                rest = &rest[4 + n..];
                Some(text(s))
            };
            while let Some(k) = take() {
                let Some(v) = take() else {
                    c.buf.clear();
                    c.buf.extend_from_slice(b"malformed header list");
                    return AMIWIRE_PHP_INVALID;
                };
                if k.eq_ignore_ascii_case("ActionID") {
                    action = action.action_id(&v);
                } else {
                    action.push_header(&k, &v);
                }
            }
            if !rest.is_empty() {
                c.buf.clear();
                c.buf.extend_from_slice(b"malformed header list");
                return AMIWIRE_PHP_INVALID;
            }
            let now = c.instant(now_ms);
            let sent = if timeout_ms < 0 {
                c.conn.send(action, now)
            } else {
                c.conn.send_with_timeout(
                    action,
                    Duration::from_millis(timeout_ms.unsigned_abs()),
                    now,
                )
            };
            match sent {
                Ok(id) => {
                    c.buf.clear();
                    c.buf.extend_from_slice(id.as_str().as_bytes());
                    AMIWIRE_PHP_OK
                }
                Err(e) => local_error(c, &e),
            }
        })
    }
}

/// Sends Logoff; the buffer holds its ActionID on [`AMIWIRE_PHP_OK`].
///
/// # Safety
/// `c` must be NULL or a live pointer from [`amiwire_php_new`].
#[no_mangle]
pub unsafe extern "C" fn amiwire_php_logoff(c: *mut AmiwirePhpConn, now_ms: u64) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe {
        with(c, AMIWIRE_PHP_NULL, AMIWIRE_PHP_PANIC, |c| {
            let now = c.instant(now_ms);
            match c.conn.logoff(now) {
                Ok(id) => {
                    c.buf.clear();
                    c.buf.extend_from_slice(id.as_str().as_bytes());
                    AMIWIRE_PHP_OK
                }
                Err(e) => local_error(c, &e),
            }
        })
    }
}

/// Ends the connection for good (pending actions fail).
///
/// # Safety
/// `c` must be NULL or a live pointer from [`amiwire_php_new`].
#[no_mangle]
pub unsafe extern "C" fn amiwire_php_close(c: *mut AmiwirePhpConn) {
    // SAFETY: forwarded from the caller.
    unsafe { with(c, (), (), |c| c.conn.close()) }
}

/// Starts the next session on a new socket at `now_ms` (the core replays the event mask and
/// filters, and sends the actions never written).
///
/// # Safety
/// `c` must be NULL or a live pointer from [`amiwire_php_new`].
#[no_mangle]
pub unsafe extern "C" fn amiwire_php_reconnect(c: *mut AmiwirePhpConn, now_ms: u64) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe {
        with(c, AMIWIRE_PHP_NULL, AMIWIRE_PHP_PANIC, |c| {
            let now = c.instant(now_ms);
            match c.conn.reconnect(now) {
                Ok(()) => AMIWIRE_PHP_OK,
                Err(e) => local_error(c, &e),
            }
        })
    }
}

/// The next output (an `AMIWIRE_PHP_OUT_*` kind, [`AMIWIRE_PHP_OUT_NONE`] when there is none),
/// its record in the buffer.
///
/// # Safety
/// `c` must be NULL or a live pointer from [`amiwire_php_new`].
#[no_mangle]
pub unsafe extern "C" fn amiwire_php_poll(c: *mut AmiwirePhpConn) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe {
        with(c, AMIWIRE_PHP_OUT_NONE, AMIWIRE_PHP_PANIC, |c| {
            let AmiwirePhpConn { conn, buf, .. } = c;
            buf.clear();
            let Some(out) = conn.poll_output() else {
                return AMIWIRE_PHP_OUT_NONE;
            };
            match out {
                Output::Connected { banner } => {
                    put_str(buf, banner.as_bytes());
                    AMIWIRE_PHP_OUT_CONNECTED
                }
                Output::LoggedIn => AMIWIRE_PHP_OUT_LOGGED_IN,
                Output::Event(m) => {
                    put_message(buf, m);
                    AMIWIRE_PHP_OUT_EVENT
                }
                Output::Response(r) => {
                    put_response(buf, &r);
                    AMIWIRE_PHP_OUT_RESPONSE
                }
                Output::Failed { id, error } => {
                    put_str(buf, id.as_str().as_bytes());
                    let (kind, sent, partial): (&[u8], bool, Option<&Response>) = match &error {
                        ActionError::TimedOut { sent } => (b"timeout", *sent, None),
                        ActionError::Closed { sent } => (b"closed", *sent, None),
                        ActionError::Truncated(r) => (b"truncated", true, Some(r)),
                        ActionError::ListTooLong { .. } => (b"list_too_long", true, None),
                        _ => (b"closed", true, None),
                    };
                    put_str(buf, kind);
                    put_u32(buf, usize::from(sent));
                    put_u32(buf, usize::from(partial.is_some()));
                    if let Some(r) = partial {
                        put_response(buf, r);
                    }
                    AMIWIRE_PHP_OUT_FAILED
                }
                Output::Unmatched(m) => {
                    put_message(buf, m);
                    AMIWIRE_PHP_OUT_UNMATCHED
                }
                Output::DecodeError(e) => {
                    put_str(buf, e.to_string().as_bytes());
                    AMIWIRE_PHP_OUT_DECODE_ERROR
                }
                Output::Closed(reason) => {
                    put_str(buf, close_kind(&reason).as_bytes());
                    let text = match &reason {
                        // The server's own words (never the secret: it never crosses back).
                        CloseReason::LoginFailed { message } => message.clone(),
                        other => other.to_string(),
                    };
                    put_str(buf, text.as_bytes());
                    put_u32(buf, usize::from(reason.may_reconnect()));
                    AMIWIRE_PHP_OUT_CLOSED
                }
                _ => AMIWIRE_PHP_OUT_OTHER,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(user: &str, secret: &str) -> *mut AmiwirePhpConn {
        // SAFETY: the pointers are valid for their lengths during the call.
        unsafe {
            amiwire_php_new(
                user.as_ptr(),
                user.len(),
                secret.as_ptr(),
                secret.len(),
                0,
                std::ptr::null(),
                0,
                0,
                1000,
                1000,
                0,
                10,
                0,
                5000,
            )
        }
    }

    fn buf(c: *mut AmiwirePhpConn) -> Vec<u8> {
        // SAFETY: `c` is live; the buffer is valid for its length until the next call.
        unsafe {
            let p = amiwire_php_buf(c);
            let n = amiwire_php_buf_len(c);
            if n == 0 {
                Vec::new()
            } else {
                std::slice::from_raw_parts(p, n).to_vec()
            }
        }
    }

    fn pack(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut v = Vec::new();
        for (k, val) in pairs {
            put_str(&mut v, k.as_bytes());
            put_str(&mut v, val.as_bytes());
        }
        v
    }

    fn send(c: *mut AmiwirePhpConn, name: &str, h: &[(&str, &str)], timeout: i64, now: u64) -> i32 {
        let p = pack(h);
        // SAFETY: `c` is live; the pointers are valid for their lengths.
        unsafe {
            amiwire_php_send(
                c,
                name.as_ptr(),
                name.len(),
                p.as_ptr(),
                p.len(),
                timeout,
                now,
            )
        }
    }

    #[test]
    fn null_pointers_are_errors_not_crashes() {
        // SAFETY: NULL is what is being tested; every function checks it.
        unsafe {
            assert!(amiwire_php_new(
                std::ptr::null(),
                0,
                std::ptr::null(),
                0,
                0,
                std::ptr::null(),
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0
            )
            .is_null());
            amiwire_php_free(std::ptr::null_mut());
            assert_eq!(amiwire_php_poll(std::ptr::null_mut()), AMIWIRE_PHP_OUT_NONE);
            assert_eq!(amiwire_php_timeout(std::ptr::null_mut()), -1);
            assert_eq!(
                amiwire_php_send(
                    std::ptr::null_mut(),
                    std::ptr::null(),
                    0,
                    std::ptr::null(),
                    0,
                    -1,
                    0
                ),
                AMIWIRE_PHP_NULL
            );
            assert!(amiwire_php_buf(std::ptr::null_mut()).is_null());
        }
    }

    #[test]
    fn crlf_is_refused_by_the_core_and_nothing_is_queued() {
        let c = new("admin", "amp111");
        assert_eq!(
            send(c, "Ping", &[("X", "a\r\nAction: Hangup")], -1, 5000),
            AMIWIRE_PHP_INVALID
        );
        assert!(!buf(c).is_empty());
        // A truncated header list is refused too.
        let p = [9u8, 0, 0, 0, b'x'];
        // SAFETY: `c` is live; `p` is valid for its length.
        let rc = unsafe { amiwire_php_send(c, b"Ping".as_ptr(), 4, p.as_ptr(), p.len(), -1, 5000) };
        assert_eq!(rc, AMIWIRE_PHP_INVALID, "a truncated header list");
        // SAFETY: `c` is live, then freed once.
        unsafe {
            assert_eq!(
                amiwire_php_transmit(c),
                0,
                "nothing before the banner and login"
            );
            amiwire_php_free(c);
        }
    }

    #[test]
    fn login_then_a_response_record_in_caller_milliseconds() {
        let c = new("admin", "amp111");
        assert_eq!(
            send(c, "Ping", &[("ActionID", "p-1")], 300, 5000),
            AMIWIRE_PHP_OK
        );
        assert_eq!(buf(c), b"p-1");
        let feed = |b: &[u8]| {
            // SAFETY: `c` is live; `b` is valid for its length.
            let n = unsafe { amiwire_php_receive(c, b.as_ptr(), b.len()) };
            assert_eq!(n, b.len());
        };
        feed(b"Asterisk Call Manager/11.0.0\r\n");
        // SAFETY: `c` is live.
        unsafe {
            assert_eq!(amiwire_php_poll(c), AMIWIRE_PHP_OUT_CONNECTED);
            assert_eq!(&buf(c)[4..], b"Asterisk Call Manager/11.0.0");
            assert_eq!(amiwire_php_poll(c), AMIWIRE_PHP_OUT_NONE);
            assert!(amiwire_php_transmit(c) > 0);
            let login = String::from_utf8(buf(c)).unwrap();
            assert!(login.starts_with("Action: Login\r\n"), "{login}");
            let id = login
                .lines()
                .find_map(|l| l.strip_prefix("ActionID: "))
                .unwrap()
                .to_owned();
            feed(format!("Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n").as_bytes());
            assert_eq!(amiwire_php_poll(c), AMIWIRE_PHP_OUT_LOGGED_IN);
            assert!(amiwire_php_transmit(c) > 0);
            assert!(String::from_utf8(buf(c)).unwrap().contains("ActionID: p-1"));
            // The Ping's deadline: 300 ms after 5000 in the caller's clock.
            let t = amiwire_php_timeout(c);
            assert!((5000..=5300).contains(&t), "{t}");
            feed(b"Response: Success\r\nActionID: p-1\r\nPing: Pong\r\n\r\n");
            assert_eq!(amiwire_php_poll(c), AMIWIRE_PHP_OUT_RESPONSE);
            let rec = buf(c);
            assert_eq!(&rec[..7], b"\x03\0\0\0p-1");
            assert!(rec.windows(4).any(|w| w == b"Pong"));
            // An unanswered action times out at its deadline, sent.
            assert_eq!(send(c, "Ping", &[], 100, 6000), AMIWIRE_PHP_OK);
            assert!(amiwire_php_transmit(c) > 0);
            amiwire_php_handle_timeout(c, 6100);
            assert_eq!(amiwire_php_poll(c), AMIWIRE_PHP_OUT_FAILED);
            let rec = buf(c);
            assert!(rec.windows(7).any(|w| w == b"timeout"));
            assert_eq!(
                &rec[rec.len() - 8..],
                &[1, 0, 0, 0, 0, 0, 0, 0],
                "sent, no partial"
            );
            amiwire_php_free(c);
        }
    }
}
