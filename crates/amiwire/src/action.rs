//! Encoding actions: what a client sends to Asterisk.
//!
//! An [`Action`] is an ordered list of `Key: Value` header lines whose first line is
//! `Action: <name>`. It is built with a consuming, infallible builder, validated as it is
//! built, and encoded to the canonical wire form `Key: Value\r\n` … `\r\n`:
//!
//! ```
//! use amiwire::Action;
//!
//! let action = Action::new("Originate")
//!     .action_id("o-1")
//!     .header("Channel", "Local/100@test")
//!     .header("Application", "Wait")
//!     .header("Data", "1")
//!     .variable("V1", "one");
//! assert_eq!(
//!     action.to_bytes()?,
//!     b"Action: Originate\r\nActionID: o-1\r\nChannel: Local/100@test\r\n\
//!       Application: Wait\r\nData: 1\r\nVariable: V1=one\r\n\r\n"
//! );
//! # Ok::<(), amiwire::EncodeError>(())
//! ```
//!
//! Typed helpers build the common actions ([`Action::login`], [`Action::ping`],
//! [`Action::command`], [`Originate`], …); [`Action::new`] plus [`Action::header`] builds any
//! other.
//!
//! # Validation
//!
//! Every key and value is checked when it is added, so the headers of an `Action` hold only
//! bytes that Asterisk parses the way the caller meant; a refused one is recorded as the
//! action's error instead (see [One error model](#one-error-model)). This closes the header-injection hole
//! of hand-rolled clients (a "channel" of `100\r\nAction: Command\r\nCommand: …` smuggling a
//! second action):
//!
//! * **Keys** must be non-empty printable ASCII (space allowed inside), without a colon, CR,
//!   LF or any other control character, and without leading or trailing whitespace (Asterisk
//!   matches `Key:` with no blank before the colon, so `Key :` would never match).
//! * **Values** must not contain CR, LF, NUL or any other control character except TAB.
//!   Non-ASCII (UTF-8) text is allowed. A value may start with blanks, but note that Asterisk
//!   skips leading blanks when it reads a header (`ast_skip_blanks`), so they are lost; trailing
//!   blanks are kept. An empty value is allowed and is sent as `Key: `.
//! * **Line length.** Asterisk reads client input into a 1025-byte buffer and only
//!   recognises a line whose terminator fits in the first 1024 bytes (`get_input()` in
//!   `main/manager.c`). A line is therefore limited to [`MAX_LINE_LEN`] = 1024 bytes
//!   *including* its `\r\n`, that is 1022 bytes of `Key: Value`. Longer lines are refused with
//!   [`EncodeError::LineTooLong`] (Asterisk would answer `Failed to parse message: line too
//!   long`, and a 1023-byte line would even end the action early).
//! * **Header count.** Asterisk keeps at most [`MAX_HEADERS`] = 128 lines per action
//!   (`AST_MAX_MANHEADERS`), the `Action:` line included. Because every action sent through a
//!   connection carries an `ActionID`, one of the 128 lines is always reserved for it: without
//!   an `ActionID`, at most 127 lines can be added, so that [`Action::ensure_action_id`] can
//!   never push an action over the limit (one line more is refused with
//!   [`EncodeError::TooManyHeaders`]).
//! * The `Action` header can only be set by [`Action::new`]; adding a second one is an error.
//!   An `ActionID` header is always validated as an [`ActionId`] and kept as the second line
//!   (where real clients put it), whichever method sets it.
//!
//! Errors never contain a header *value*: they name the key and the reason only, so a bad
//! `Secret` cannot end up in a log through an error message. The `Debug` output of an
//! [`Action`] prints the values of `Secret` and `Key` headers as `<redacted>`.
//!
//! # One error model
//!
//! Building never fails and never panics; encoding does. Like `http::request::Builder`, an
//! action records the **first** problem met while it is built (an invalid name given to
//! [`Action::new`], a refused key, value, variable or ActionID, a line too long, one header too
//! many): the refused part is not added, every later builder call adds nothing, and the first
//! error is kept. It is reported by [`Action::error`] and [`Action::validate`], and
//! [`Action::encode`], [`Action::to_bytes`] and a connection's `send` fail with it, so an
//! action with an error can never put bytes on the wire, silently or not. The typed helpers
//! and [`Originate::build`] work the same way.
//!
//! ```
//! use amiwire::{Action, EncodeError};
//!
//! // A "channel" smuggling a second action is refused, and so is everything after it.
//! let action = Action::new("Hangup")
//!     .header("Channel", "100\r\nAction: Command")
//!     .header("Cause", "16");
//! let error = EncodeError::InvalidValue {
//!     key: "Channel".into(),
//!     reason: "contains a carriage return (CR)",
//! };
//! assert_eq!(action.error(), Some(&error));
//! assert_eq!(action.get("Cause"), None);
//! assert_eq!(action.validate(), Err(error.clone()));
//! assert_eq!(action.to_bytes(), Err(error));
//!
//! // A name that does not come from the source code: `new`, then `validate`.
//! assert!(Action::new("Core Show").validate().is_err());
//! ```
//!
//! # Channel variables
//!
//! [`Action::variable`] (and [`Originate::variable`]) emit one `Variable: name=value` header per
//! variable. Asterisk (1.6 and later) splits each `Variable` value on commas, honouring `"`
//! quotes and removing `\` escapes (`AST_STANDARD_APP_ARGS`), so the name and value are escaped
//! here: `\`, `,` and `"` are preceded by a backslash. What the caller passes is exactly what the
//! channel variable receives. Use [`Action::header`] with the key `Variable` to send a raw,
//! unescaped value.

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

/// The longest line Asterisk accepts from a client, in bytes, **including** the `\r\n`
/// terminator (so `Key: Value` itself may be at most 1022 bytes).
pub const MAX_LINE_LEN: usize = 1024;

/// The most header lines Asterisk keeps for one action (`AST_MAX_MANHEADERS`), the `Action:`
/// line included.
pub const MAX_HEADERS: usize = 128;

/// The longest [`ActionId`] accepted, in bytes. Some Asterisk list actions (ConfbridgeList,
/// MeetmeList) copy the ActionID into 80-byte buffers together with `ActionID: ` and CRLF.
pub const MAX_ACTION_ID_LEN: usize = 64;

/// The longest prefix accepted by [`ActionIdGenerator::with_prefix`]: the prefix, a `-` and a
/// 20-digit counter always fit in [`MAX_ACTION_ID_LEN`].
pub const MAX_ACTION_ID_PREFIX_LEN: usize = MAX_ACTION_ID_LEN - 1 - 20;

const ACTION_KEY: &str = "Action";
const ACTION_ID_KEY: &str = "ActionID";
const VARIABLE_KEY: &str = "Variable";
const REDACTED: &str = "<redacted>";

/// Why an action cannot be encoded: the first problem met while it was built, reported by
/// [`Action::error`], [`Action::validate`], [`Action::encode`] and [`Action::to_bytes`].
///
/// No variant ever contains a header value, so errors are safe to log even when the value was
/// a secret. Keys and names that are echoed are printed with `escape_debug` in `Display`, so a
/// CR or LF in them shows as `\r` or `\n`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The action name given to [`Action::new`] is not usable.
    #[error("invalid action name `{}`: {reason}", .name.escape_debug())]
    InvalidActionName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header key is empty or contains a forbidden character.
    #[error("invalid header name `{}`: {reason}", .key.escape_debug())]
    InvalidKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header value contains a forbidden character. The value itself is not kept.
    #[error("invalid value for header `{}`: {reason}", .key.escape_debug())]
    InvalidValue {
        /// The key whose value was refused.
        key: String,
        /// What is wrong with the value.
        reason: &'static str,
    },
    /// A channel variable name or value cannot be sent in a `Variable:` header. The value
    /// itself is not kept.
    #[error("invalid channel variable `{}`: {reason}", .name.escape_debug())]
    InvalidVariable {
        /// The variable name as given.
        name: String,
        /// What is wrong with the name or the value.
        reason: &'static str,
    },
    /// An ActionID is empty, too long or contains a character other than printable ASCII.
    /// The ActionID itself is not kept.
    #[error("invalid ActionID: {reason}")]
    InvalidActionId {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header line would be longer than Asterisk's input buffer.
    #[error(
        "the `{}` header line would be {len} bytes including CRLF; Asterisk accepts at most {limit}",
        .key.escape_debug()
    )]
    LineTooLong {
        /// The key of the line that is too long.
        key: String,
        /// Length of the line in bytes, `\r\n` included.
        len: usize,
        /// The limit, `\r\n` included ([`MAX_LINE_LEN`]).
        limit: usize,
    },
    /// Adding the header would exceed the number of lines Asterisk keeps per action.
    #[error(
        "too many header lines: Asterisk keeps at most {limit} per action \
         (the Action line and one line reserved for ActionID included)"
    )]
    TooManyHeaders {
        /// The limit ([`MAX_HEADERS`]).
        limit: usize,
    },
}

// ---------------------------------------------------------------------------------------------
// Character checks
// ---------------------------------------------------------------------------------------------

/// Problems shared by keys, values and names: CR, LF, NUL and other control characters.
/// `allow_tab` lets a horizontal tab through (values only).
fn control_problem(s: &str, allow_tab: bool) -> Option<&'static str> {
    let b = s.as_bytes();
    if memchr::memchr(b'\r', b).is_some() {
        return Some("contains a carriage return (CR)");
    }
    if memchr::memchr(b'\n', b).is_some() {
        return Some("contains a line feed (LF)");
    }
    if memchr::memchr(0, b).is_some() {
        return Some("contains a NUL byte");
    }
    if b.iter()
        .any(|&c| (c < 0x20 && !(allow_tab && c == b'\t')) || c == 0x7f)
    {
        return Some("contains a control character");
    }
    None
}

fn key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        return Some("is empty");
    }
    if let Some(p) = control_problem(key, false) {
        return Some(p);
    }
    if key.contains(':') {
        return Some("contains a colon");
    }
    if !key.is_ascii() {
        return Some("contains a non-ASCII character");
    }
    if key.starts_with(' ') || key.ends_with(' ') {
        return Some("has leading or trailing whitespace");
    }
    None
}

fn check_key(key: &str) -> Result<(), EncodeError> {
    match key_problem(key) {
        Some(reason) => Err(EncodeError::InvalidKey {
            key: key.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

fn check_value(key: &str, value: &str) -> Result<(), EncodeError> {
    match control_problem(value, true) {
        Some(reason) => Err(EncodeError::InvalidValue {
            key: key.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Length of `Key: Value\r\n`.
fn line_len(key: &str, value: &str) -> usize {
    key.len() + 2 + value.len() + 2
}

fn check_line(key: &str, value: &str) -> Result<(), EncodeError> {
    let len = line_len(key, value);
    if len > MAX_LINE_LEN {
        Err(EncodeError::LineTooLong {
            key: key.to_owned(),
            len,
            limit: MAX_LINE_LEN,
        })
    } else {
        Ok(())
    }
}

fn action_id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        Some("is empty")
    } else if id.len() > MAX_ACTION_ID_LEN {
        Some("is longer than 64 bytes")
    } else if !id.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        Some("may contain only printable ASCII characters without spaces (0x21..=0x7e)")
    } else {
        None
    }
}

fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is empty");
    }
    if let Some(p) = control_problem(name, false) {
        return Some(p);
    }
    if !name.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Some("may contain only printable ASCII characters without spaces");
    }
    None
}

fn variable_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("the name is empty");
    }
    if let Some(p) = control_problem(name, false) {
        return Some(match p {
            "contains a carriage return (CR)" => "the name contains a carriage return (CR)",
            "contains a line feed (LF)" => "the name contains a line feed (LF)",
            "contains a NUL byte" => "the name contains a NUL byte",
            _ => "the name contains a control character",
        });
    }
    if name.contains('=') {
        return Some("the name contains '='");
    }
    if name.starts_with(' ') || name.ends_with(' ') {
        return Some("the name has leading or trailing whitespace");
    }
    None
}

fn variable_value_problem(value: &str) -> Option<&'static str> {
    control_problem(value, true).map(|p| match p {
        "contains a carriage return (CR)" => "the value contains a carriage return (CR)",
        "contains a line feed (LF)" => "the value contains a line feed (LF)",
        "contains a NUL byte" => "the value contains a NUL byte",
        _ => "the value contains a control character",
    })
}

/// Appends `s` with `\`, `,` and `"` escaped for Asterisk's argument splitter.
fn push_escaped_variable_part(out: &mut String, s: &str) {
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
}

fn is_sensitive(key: &str) -> bool {
    key.eq_ignore_ascii_case("Secret") || key.eq_ignore_ascii_case("Key")
}

// ---------------------------------------------------------------------------------------------
// ActionId
// ---------------------------------------------------------------------------------------------

/// A validated ActionID: 1 to 64 bytes of printable ASCII without spaces (`0x21..=0x7e`).
///
/// The length limit keeps IDs intact in Asterisk list actions that copy them into 80-byte
/// buffers (ConfbridgeList, MeetmeList); the character set keeps them free of anything that
/// could break a header line or be trimmed by Asterisk.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionId(Box<str>);

impl ActionId {
    /// Validates `id` and wraps it.
    pub fn new(id: impl AsRef<str>) -> Result<ActionId, EncodeError> {
        let id = id.as_ref();
        match action_id_problem(id) {
            Some(reason) => Err(EncodeError::InvalidActionId { reason }),
            None => Ok(ActionId(id.into())),
        }
    }

    /// Wraps a string already known to be valid.
    fn from_valid(id: &str) -> ActionId {
        debug_assert!(action_id_problem(id).is_none());
        ActionId(id.into())
    }

    /// The ID as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ID as bytes, as it appears on the wire (and in a decoded response's `ActionID`).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Consumes the ID and returns its string.
    pub fn into_string(self) -> String {
        self.0.into_string()
    }
}

impl fmt::Display for ActionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ActionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<[u8]> for ActionId {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// `ActionId` hashes, compares and orders exactly like its string, so a map keyed by
/// `ActionId` can be searched with a `&str`.
impl Borrow<str> for ActionId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for ActionId {
    type Error = EncodeError;

    fn try_from(id: &str) -> Result<Self, Self::Error> {
        ActionId::new(id)
    }
}

impl TryFrom<String> for ActionId {
    type Error = EncodeError;

    fn try_from(id: String) -> Result<Self, Self::Error> {
        match action_id_problem(&id) {
            Some(reason) => Err(EncodeError::InvalidActionId { reason }),
            None => Ok(ActionId(id.into_boxed_str())),
        }
    }
}

impl FromStr for ActionId {
    type Err = EncodeError;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        ActionId::new(id)
    }
}

impl From<ActionId> for String {
    fn from(id: ActionId) -> String {
        id.into_string()
    }
}

impl PartialEq<str> for ActionId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for ActionId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<ActionId> for str {
    fn eq(&self, other: &ActionId) -> bool {
        self == &*other.0
    }
}

impl PartialEq<ActionId> for &str {
    fn eq(&self, other: &ActionId) -> bool {
        *self == &*other.0
    }
}

// ---------------------------------------------------------------------------------------------
// ActionIdGenerator
// ---------------------------------------------------------------------------------------------

/// Generates ActionIDs that are unique across processes yet short: `<prefix>-<counter>`.
///
/// [`ActionIdGenerator::new`] picks a random prefix of `aw` plus 16 hex digits (64 random bits
/// from the operating system, through the standard library's `RandomState`; no clock is read),
/// so two clients talking to the same Asterisk never produce the same ID. The counter starts
/// at 1. Every ID is at most 39 bytes long with a random prefix, and never longer than
/// [`MAX_ACTION_ID_LEN`].
///
/// ```
/// use amiwire::ActionIdGenerator;
///
/// let mut ids = ActionIdGenerator::with_prefix("t")?;
/// assert_eq!(ids.next_id().as_str(), "t-1");
/// assert_eq!(ids.next_id().as_str(), "t-2");
///
/// let mut random = ActionIdGenerator::new();
/// assert!(random.next_id().as_str().starts_with("aw"));
/// # Ok::<(), amiwire::EncodeError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionIdGenerator {
    prefix: String,
    next: u64,
}

impl ActionIdGenerator {
    /// A generator with a fresh random prefix (`aw` followed by 16 lowercase hex digits).
    pub fn new() -> ActionIdGenerator {
        ActionIdGenerator {
            prefix: format!("aw{:016x}", random_u64()),
            next: 1,
        }
    }

    /// A generator with a fixed prefix, for deterministic tests or recognisable IDs:
    /// `with_prefix("t")` yields `t-1`, `t-2`, …
    ///
    /// The prefix must be 1 to [`MAX_ACTION_ID_PREFIX_LEN`] (43) bytes of printable ASCII
    /// without spaces.
    pub fn with_prefix(prefix: impl AsRef<str>) -> Result<ActionIdGenerator, EncodeError> {
        let prefix = prefix.as_ref();
        if let Some(reason) = action_id_problem(prefix) {
            return Err(EncodeError::InvalidActionId { reason });
        }
        if prefix.len() > MAX_ACTION_ID_PREFIX_LEN {
            return Err(EncodeError::InvalidActionId {
                reason: "generator prefix is longer than 43 bytes",
            });
        }
        Ok(ActionIdGenerator {
            prefix: prefix.to_owned(),
            next: 1,
        })
    }

    /// The prefix of every ID this generator produces.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The next ID. The counter is a `u64`; it would wrap around after 2^64 IDs.
    pub fn next_id(&mut self) -> ActionId {
        let n = self.next;
        self.next = self.next.wrapping_add(1);
        ActionId::from_valid(&format!("{}-{}", self.prefix, n))
    }
}

impl Default for ActionIdGenerator {
    /// Same as [`ActionIdGenerator::new`]: a random prefix.
    fn default() -> Self {
        ActionIdGenerator::new()
    }
}

/// 64 bits from the OS-seeded keys of `RandomState`, mixed with the process id and a
/// per-process counter so that successive calls differ even if the keys repeated.
fn random_u64() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

// ---------------------------------------------------------------------------------------------
// Action
// ---------------------------------------------------------------------------------------------

/// One AMI action: an ordered list of `Key: Value` headers whose first header is
/// `Action: <name>`, plus the first error met while building it, if any.
///
/// Every builder method is infallible and chainable; a refused name, key, value, variable or
/// ActionID is recorded instead of being added, and then reported by
/// [`error`](Action::error), [`validate`](Action::validate), [`encode`](Action::encode),
/// [`to_bytes`](Action::to_bytes) and by a connection's `send`. See the
/// [module documentation](self) for the validation rules, the limits and the error model.
/// `Debug` prints `Secret` and `Key` values as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
#[must_use]
pub struct Action {
    /// `headers[0]` is always `Action`; `headers[1]` is `ActionID` when one is set. Only
    /// validated lines are ever pushed (the name in `headers[0]` is kept even when invalid, so
    /// that errors and `Debug` can show what was meant).
    headers: Vec<(String, String)>,
    /// The first error met while building; once set, builder calls add nothing and encoding
    /// fails with it.
    error: Option<EncodeError>,
}

impl Action {
    /// Starts an action named `name` (the value of the `Action:` header).
    ///
    /// Never fails and never panics: if `name` is invalid (empty, or anything other than
    /// printable ASCII without spaces, or too long), the error
    /// ([`EncodeError::InvalidActionName`] or [`EncodeError::LineTooLong`]) is recorded, later
    /// builder calls add nothing, and the action refuses to encode. `Action::new(name)` followed
    /// by [`validate`](Action::validate) checks a name that does not come from the source code.
    pub fn new(name: impl AsRef<str>) -> Action {
        let name = name.as_ref();
        Action {
            headers: vec![(ACTION_KEY.to_owned(), name.to_owned())],
            error: Self::check_name(name).err(),
        }
    }

    fn check_name(name: &str) -> Result<(), EncodeError> {
        if let Some(reason) = name_problem(name) {
            return Err(EncodeError::InvalidActionName {
                name: name.to_owned(),
                reason,
            });
        }
        check_line(ACTION_KEY, name)
    }

    /// Builds an action from a literal name and literal headers known to be valid.
    fn fixed(name: &str, headers: &[(&str, &str)]) -> Action {
        let mut action = Action::new(name);
        for (k, v) in headers {
            action.headers.push(((*k).to_owned(), (*v).to_owned()));
        }
        debug_assert!(action.validate().is_ok());
        action
    }

    /// Runs `step` unless an error is already recorded, and records its error if it fails.
    fn record(&mut self, step: impl FnOnce(&mut Self) -> Result<(), EncodeError>) -> &mut Self {
        if self.error.is_none() {
            if let Err(e) = step(self) {
                self.error = Some(e);
            }
        }
        self
    }

    fn has_action_id(&self) -> bool {
        self.headers
            .get(1)
            .is_some_and(|(k, _)| k.as_str() == ACTION_ID_KEY)
    }

    /// Checks that one more (non-ActionID) line fits, keeping a slot for the ActionID.
    fn check_room(&self) -> Result<(), EncodeError> {
        let reserved = usize::from(!self.has_action_id());
        if self.headers.len() + reserved >= MAX_HEADERS {
            Err(EncodeError::TooManyHeaders { limit: MAX_HEADERS })
        } else {
            Ok(())
        }
    }

    /// Appends a line whose key and value have been validated, after the length and count
    /// checks.
    fn push_checked(&mut self, key: &str, value: String) -> Result<(), EncodeError> {
        check_line(key, &value)?;
        self.check_room()?;
        self.headers.push((key.to_owned(), value));
        Ok(())
    }

    /// Sets an ActionID known to be valid, replacing any previous one, as the second line.
    fn put_action_id(&mut self, id: &str) {
        if self.has_action_id() {
            self.headers[1].1 = id.to_owned();
        } else {
            self.headers
                .insert(1, (ACTION_ID_KEY.to_owned(), id.to_owned()));
        }
    }

    /// Appends the header `key: value` and returns the action (consuming builder).
    ///
    /// Duplicated keys are kept in order (Asterisk reads the first one for most headers).
    /// A key equal to `ActionID` (any case) is handled as [`action_id`](Action::action_id);
    /// a key equal to `Action` is refused. A `Variable` header added here is sent raw, without
    /// the escaping that [`variable`](Action::variable) applies.
    ///
    /// A refused key or value adds nothing and is recorded as the action's
    /// [`error`](Action::error) (unless an earlier error is already recorded, which is kept).
    pub fn header(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.push_header(key, value);
        self
    }

    /// Appends the header `key: value` in place; see [`header`](Action::header).
    ///
    /// A refused header leaves the headers unchanged and is recorded as the action's
    /// [`error`](Action::error).
    pub fn push_header(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> &mut Self {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.record(|a| a.try_push_header(key, value))
    }

    fn try_push_header(&mut self, key: &str, value: &str) -> Result<(), EncodeError> {
        check_key(key)?;
        if key.eq_ignore_ascii_case(ACTION_ID_KEY) {
            return self.try_action_id(value);
        }
        if key.eq_ignore_ascii_case(ACTION_KEY) {
            return Err(EncodeError::InvalidKey {
                key: key.to_owned(),
                reason: "the Action header is set by Action::new and cannot be repeated",
            });
        }
        check_value(key, value)?;
        self.push_checked(key, value.to_owned())
    }

    /// Appends `Variable: name=value` (one header per variable) and returns the action.
    ///
    /// The name must be non-empty, without `=`, CR, LF or other control characters and
    /// without leading or trailing blanks; the value must not contain CR, LF or control
    /// characters other than TAB. `\`, `,` and `"` in either are escaped with a backslash, as
    /// Asterisk's argument splitter expects, so the channel receives exactly `value`.
    /// A refused variable adds nothing and is recorded as the action's
    /// [`error`](Action::error).
    ///
    /// Asterisk applies the `Variable` headers of an action in reverse order; do not send the
    /// same name twice.
    pub fn variable(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.push_variable(name, value);
        self
    }

    /// Appends `Variable: name=value` in place; see [`variable`](Action::variable).
    ///
    /// A refused variable leaves the headers unchanged and is recorded as the action's
    /// [`error`](Action::error).
    pub fn push_variable(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> &mut Self {
        let (name, value) = (name.as_ref(), value.as_ref());
        self.record(|a| a.try_push_variable(name, value))
    }

    fn try_push_variable(&mut self, name: &str, value: &str) -> Result<(), EncodeError> {
        if let Some(reason) = variable_name_problem(name).or_else(|| variable_value_problem(value))
        {
            return Err(EncodeError::InvalidVariable {
                name: name.to_owned(),
                reason,
            });
        }
        let mut line = String::with_capacity(name.len() + 1 + value.len() + 4);
        push_escaped_variable_part(&mut line, name);
        line.push('=');
        push_escaped_variable_part(&mut line, value);
        self.push_checked(VARIABLE_KEY, line)
    }

    /// Sets the `ActionID` header, replacing any previous one, and returns the action.
    ///
    /// The ID is validated as an [`ActionId`] (1 to 64 bytes of printable ASCII without
    /// spaces). It is placed right after the `Action:` line, where real clients put it. An
    /// invalid ID is recorded as the action's [`error`](Action::error)
    /// ([`EncodeError::InvalidActionId`]).
    pub fn action_id(mut self, id: impl AsRef<str>) -> Self {
        let id = id.as_ref();
        self.record(|a| a.try_action_id(id));
        self
    }

    fn try_action_id(&mut self, id: &str) -> Result<(), EncodeError> {
        if let Some(reason) = action_id_problem(id) {
            return Err(EncodeError::InvalidActionId { reason });
        }
        self.put_action_id(id);
        Ok(())
    }

    /// Sets the `ActionID` header to an already validated ID, replacing any previous one.
    ///
    /// Infallible: a slot is always reserved for the ActionID line. On an action with an
    /// [`error`](Action::error) the ID is set too; the action still refuses to encode.
    pub fn set_action_id(&mut self, id: &ActionId) {
        self.put_action_id(id.as_str());
    }

    /// Returns the ActionID the caller set, or assigns a fresh one from `ids` and returns it.
    ///
    /// Never panics, also on an action with an [`error`](Action::error) (which still refuses
    /// to encode).
    pub fn ensure_action_id(&mut self, ids: &mut ActionIdGenerator) -> ActionId {
        if let Some(existing) = self.action_id_value() {
            return ActionId::from_valid(existing);
        }
        let id = ids.next_id();
        self.put_action_id(id.as_str());
        id
    }

    /// The action name (the value of the `Action:` header), as given to
    /// [`new`](Action::new) even if it was refused.
    pub fn name(&self) -> &str {
        &self.headers[0].1
    }

    /// The value of the `ActionID` header, if one is set.
    pub fn action_id_value(&self) -> Option<&str> {
        if self.has_action_id() {
            Some(&self.headers[1].1)
        } else {
            None
        }
    }

    /// The value of the first header named `key`, compared case-insensitively (as Asterisk
    /// does).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The values of every header named `key`, compared case-insensitively, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every header as `(key, value)`, in wire order, the `Action` header first. Headers that
    /// were refused are not among them.
    ///
    /// Unlike `Debug`, this shows secret values: it is the data of the action.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of header lines, the `Action` line included.
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// The first error met while building the action, if any.
    pub fn error(&self) -> Option<&EncodeError> {
        self.error.as_ref()
    }

    /// `Ok` if the action can be encoded; otherwise the first error met while building it.
    pub fn validate(&self) -> Result<(), EncodeError> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Number of bytes [`encode`](Action::encode) appends: 0 for an action with an
    /// [`error`](Action::error), since nothing is encoded then.
    pub fn encoded_len(&self) -> usize {
        if self.error.is_some() {
            return 0;
        }
        self.headers
            .iter()
            .map(|(k, v)| line_len(k, v))
            .sum::<usize>()
            + 2
    }

    /// Appends the canonical encoding `Key: Value\r\n` … `\r\n` to `out`.
    ///
    /// Fails with the first error met while building the action, appending nothing.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.validate()?;
        out.reserve(self.encoded_len());
        for (k, v) in &self.headers {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// The canonical encoding as a new vector, or the first error met while building the
    /// action.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out)?;
        Ok(out)
    }
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Headers<'a>(&'a [(String, String)]);
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list()
                    .entries(self.0.iter().map(|(k, v)| {
                        let v = if is_sensitive(k) {
                            REDACTED
                        } else {
                            v.as_str()
                        };
                        (k.as_str(), v)
                    }))
                    .finish()
            }
        }
        let mut d = f.debug_struct("Action");
        d.field("headers", &Headers(&self.headers));
        if let Some(e) = &self.error {
            d.field("error", e);
        }
        d.finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Typed helpers
// ---------------------------------------------------------------------------------------------

/// Every helper returns an [`Action`]; an argument that cannot be sent (a CR or LF in a
/// channel name, say) is recorded as the action's [`error`](Action::error) and reported when the
/// action is validated, encoded or sent.
impl Action {
    /// `Login` with a plaintext secret: `Username`, `Secret`.
    ///
    /// Add `.header("Events", "off")` to log in with events off.
    pub fn login(username: &str, secret: &str) -> Action {
        Action::new("Login")
            .header("Username", username)
            .header("Secret", secret)
    }

    /// `Login` answering an MD5 challenge: `AuthType: md5`, `Username`, `Key` (the hex MD5 of
    /// the challenge followed by the secret, computed by the caller).
    pub fn login_md5(username: &str, key_hex: &str) -> Action {
        Action::fixed("Login", &[("AuthType", "md5")])
            .header("Username", username)
            .header("Key", key_hex)
    }

    /// `Challenge` with `AuthType: md5` (Asterisk compares the type case-insensitively).
    pub fn challenge() -> Action {
        Action::fixed("Challenge", &[("AuthType", "md5")])
    }

    /// `Logoff`.
    pub fn logoff() -> Action {
        Action::fixed("Logoff", &[])
    }

    /// `Ping` (allowed only after login).
    pub fn ping() -> Action {
        Action::fixed("Ping", &[])
    }

    /// `Events` with `EventMask: <mask>` (`on`, `off`, or a comma list such as `call,user`).
    pub fn events(mask: &str) -> Action {
        Action::new("Events").header("EventMask", mask)
    }

    /// `Filter` with `Operation: Add` and a legacy `Filter:` regex (a leading `!` excludes).
    ///
    /// Asterisk skips leading blanks of the filter.
    pub fn filter_add(filter: &str) -> Action {
        Action::fixed("Filter", &[("Operation", "Add")]).header("Filter", filter)
    }

    /// `Filter` with `Operation: Add` in the new syntax (Asterisk 18.26, 20.11, 21.6, 22.1,
    /// 23.0 and later): `MatchCriteria: <criteria>` (e.g. `action(exclude),name(Newchannel)`)
    /// and `Filter: <pattern>` (empty for `method(none)`).
    pub fn filter_add_criteria(match_criteria: &str, filter: &str) -> Action {
        Action::fixed("Filter", &[("Operation", "Add")])
            .header("MatchCriteria", match_criteria)
            .header("Filter", filter)
    }

    /// `Command` running the CLI command `cli`.
    pub fn command(cli: &str) -> Action {
        Action::new("Command").header("Command", cli)
    }

    /// `Getvar`: `Variable: <variable>` and, for a channel variable, `Channel`.
    ///
    /// The variable may be a function call such as `GLOBAL(FOO)`; it is sent as is.
    pub fn getvar(variable: &str, channel: Option<&str>) -> Action {
        let mut action = Action::new("Getvar").header("Variable", variable);
        if let Some(channel) = channel {
            action.push_header("Channel", channel);
        }
        action
    }

    /// `Setvar`: `Variable`, `Value` and, for a channel variable, `Channel`.
    pub fn setvar(variable: &str, value: &str, channel: Option<&str>) -> Action {
        let mut action = Action::new("Setvar")
            .header("Variable", variable)
            .header("Value", value);
        if let Some(channel) = channel {
            action.push_header("Channel", channel);
        }
        action
    }

    /// `UserEvent` named `name`, carrying `headers` in order.
    pub fn user_event(name: &str, headers: &[(&str, &str)]) -> Action {
        let mut action = Action::new("UserEvent").header("UserEvent", name);
        for (k, v) in headers {
            action.push_header(k, v);
        }
        action
    }

    /// `Hangup` of `channel`, with an optional Q.850 `Cause`.
    pub fn hangup(channel: &str, cause: Option<u32>) -> Action {
        let mut action = Action::new("Hangup").header("Channel", channel);
        if let Some(cause) = cause {
            action.push_header("Cause", cause.to_string());
        }
        action
    }

    /// `Redirect` of `channel` to `context`, `exten`, `priority` (a number or a label).
    pub fn redirect(
        channel: &str,
        context: &str,
        exten: &str,
        priority: impl fmt::Display,
    ) -> Action {
        Action::new("Redirect")
            .header("Channel", channel)
            .header("Context", context)
            .header("Exten", exten)
            .header("Priority", priority.to_string())
    }

    /// `Redirect` of two channels at once: `channel` to `context`/`exten`/`priority` and
    /// `extra_channel` to `extra_context`/`extra_exten`/`extra_priority` (`ExtraChannel`,
    /// `ExtraContext`, `ExtraExten`, `ExtraPriority`).
    #[allow(clippy::too_many_arguments)]
    pub fn redirect_both(
        channel: &str,
        context: &str,
        exten: &str,
        priority: impl fmt::Display,
        extra_channel: &str,
        extra_context: &str,
        extra_exten: &str,
        extra_priority: impl fmt::Display,
    ) -> Action {
        Action::redirect(channel, context, exten, priority)
            .header("ExtraChannel", extra_channel)
            .header("ExtraContext", extra_context)
            .header("ExtraExten", extra_exten)
            .header("ExtraPriority", extra_priority.to_string())
    }

    /// `CoreShowChannels` (an event list).
    pub fn core_show_channels() -> Action {
        Action::fixed("CoreShowChannels", &[])
    }

    /// `Status` of every channel, or of one `channel` (an event list).
    pub fn status(channel: Option<&str>) -> Action {
        let mut action = Action::new("Status");
        if let Some(channel) = channel {
            action.push_header("Channel", channel);
        }
        action
    }

    /// `QueueStatus` of every queue, or of one `queue` (an event list).
    pub fn queue_status(queue: Option<&str>) -> Action {
        let mut action = Action::new("QueueStatus");
        if let Some(queue) = queue {
            action.push_header("Queue", queue);
        }
        action
    }

    /// `ListCommands`.
    pub fn list_commands() -> Action {
        Action::fixed("ListCommands", &[])
    }

    /// `WaitEvent`, with an optional `Timeout` in seconds.
    pub fn wait_event(timeout_secs: Option<u32>) -> Action {
        let mut action = Action::new("WaitEvent");
        if let Some(t) = timeout_secs {
            action.headers.push(("Timeout".to_owned(), t.to_string()));
        }
        action
    }

    /// `Atxfer`: attended transfer of `channel` to `exten` in `context`.
    pub fn atxfer(channel: &str, exten: &str, context: &str) -> Action {
        Action::new("Atxfer")
            .header("Channel", channel)
            .header("Exten", exten)
            .header("Context", context)
    }

    /// `Bridge` of `channel1` and `channel2`; `tone` plays a courtesy tone to `channel2`
    /// (`Tone: yes` / `Tone: no`).
    pub fn bridge(channel1: &str, channel2: &str, tone: bool) -> Action {
        Action::new("Bridge")
            .header("Channel1", channel1)
            .header("Channel2", channel2)
            .header("Tone", if tone { "yes" } else { "no" })
    }
}

// ---------------------------------------------------------------------------------------------
// Originate
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum OriginateTarget {
    Exten {
        context: String,
        exten: String,
        priority: String,
    },
    Application {
        application: String,
        data: String,
    },
}

/// Builder of an `Originate` action.
///
/// Setters only record; [`build`](Originate::build) validates everything and returns the
/// [`Action`] (with the first refused field as its [`error`](Action::error), if any). Headers are emitted in this order: `Channel`, then `Context`/`Exten`/`Priority`
/// or `Application`/`Data`, `Async`, `CallerID`, `Timeout`, `Account`, `EarlyMedia`, `Codecs`,
/// one `Variable` per variable, `ChannelId`, `OtherChannelId`.
///
/// ```
/// use amiwire::action::Originate;
///
/// let action = Originate::to_application("Local/100@test", "Wait", "3")
///     .asynchronous(true)
///     .caller_id("AMI Test <1000>")
///     .build()
///     .action_id("orig-1");
/// assert_eq!(
///     action.to_bytes()?,
///     b"Action: Originate\r\nActionID: orig-1\r\nChannel: Local/100@test\r\n\
///       Application: Wait\r\nData: 3\r\nAsync: true\r\nCallerID: AMI Test <1000>\r\n\r\n"
/// );
/// # Ok::<(), amiwire::EncodeError>(())
/// ```
///
/// With `Async: true` Asterisk answers at once and reports the outcome later in an
/// `OriginateResponse` event carrying the same ActionID; without it, the AMI session is
/// blocked until the call is answered or fails.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Originate {
    channel: String,
    target: OriginateTarget,
    asynchronous: Option<bool>,
    caller_id: Option<String>,
    timeout_ms: Option<u32>,
    account: Option<String>,
    early_media: Option<bool>,
    codecs: Option<String>,
    variables: Vec<(String, String)>,
    channel_id: Option<String>,
    other_channel_id: Option<String>,
}

impl Originate {
    fn with_target(channel: impl Into<String>, target: OriginateTarget) -> Originate {
        Originate {
            channel: channel.into(),
            target,
            asynchronous: None,
            caller_id: None,
            timeout_ms: None,
            account: None,
            early_media: None,
            codecs: None,
            variables: Vec::new(),
            channel_id: None,
            other_channel_id: None,
        }
    }

    /// Calls `channel` and, once it answers, sends it to `context`, `exten`, `priority`
    /// (a number or a label).
    pub fn to_exten(
        channel: impl Into<String>,
        context: impl Into<String>,
        exten: impl Into<String>,
        priority: impl fmt::Display,
    ) -> Originate {
        Originate::with_target(
            channel,
            OriginateTarget::Exten {
                context: context.into(),
                exten: exten.into(),
                priority: priority.to_string(),
            },
        )
    }

    /// Calls `channel` and, once it answers, runs the dialplan application `application`
    /// with `data` (the `Data` header is omitted when `data` is empty).
    pub fn to_application(
        channel: impl Into<String>,
        application: impl Into<String>,
        data: impl Into<String>,
    ) -> Originate {
        Originate::with_target(
            channel,
            OriginateTarget::Application {
                application: application.into(),
                data: data.into(),
            },
        )
    }

    /// `Async: true` or `Async: false`. Not sent unless set (Asterisk then waits
    /// synchronously).
    pub fn asynchronous(mut self, asynchronous: bool) -> Self {
        self.asynchronous = Some(asynchronous);
        self
    }

    /// `CallerID`, e.g. `Name <1000>`.
    pub fn caller_id(mut self, caller_id: impl Into<String>) -> Self {
        self.caller_id = Some(caller_id.into());
        self
    }

    /// `Timeout` in milliseconds to wait for the channel to answer (Asterisk's default is
    /// 30000). Values above `i32::MAX` are sent as `i32::MAX`, since Asterisk parses an `int`.
    pub fn timeout_ms(mut self, timeout_ms: u32) -> Self {
        self.timeout_ms = Some(timeout_ms);
        self
    }

    /// `Account` code for the CDR.
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// `EarlyMedia: true|false`: connect to the target on early media instead of answer.
    pub fn early_media(mut self, early_media: bool) -> Self {
        self.early_media = Some(early_media);
        self
    }

    /// `Codecs`, a comma-separated list such as `ulaw,alaw`.
    pub fn codecs(mut self, codecs: impl Into<String>) -> Self {
        self.codecs = Some(codecs.into());
        self
    }

    /// Adds a channel variable, sent as its own `Variable: name=value` header (escaped as
    /// described for [`Action::variable`]). May be called many times.
    pub fn variable(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.variables.push((name.into(), value.into()));
        self
    }

    /// `ChannelId`: the unique id to give the originated channel.
    pub fn channel_id(mut self, channel_id: impl Into<String>) -> Self {
        self.channel_id = Some(channel_id.into());
        self
    }

    /// `OtherChannelId`: the unique id to give the second channel (the `;2` half of a
    /// Local channel).
    pub fn other_channel_id(mut self, other_channel_id: impl Into<String>) -> Self {
        self.other_channel_id = Some(other_channel_id.into());
        self
    }

    /// Builds the action, validating every field: the first field that cannot be sent is
    /// recorded as the action's [`error`](Action::error).
    pub fn build(&self) -> Action {
        let mut a = Action::new("Originate");
        a.push_header("Channel", &self.channel);
        match &self.target {
            OriginateTarget::Exten {
                context,
                exten,
                priority,
            } => {
                a.push_header("Context", context);
                a.push_header("Exten", exten);
                a.push_header("Priority", priority);
            }
            OriginateTarget::Application { application, data } => {
                a.push_header("Application", application);
                if !data.is_empty() {
                    a.push_header("Data", data);
                }
            }
        }
        if let Some(b) = self.asynchronous {
            a.push_header("Async", bool_str(b));
        }
        if let Some(cid) = &self.caller_id {
            a.push_header("CallerID", cid);
        }
        if let Some(t) = self.timeout_ms {
            a.push_header("Timeout", t.min(i32::MAX as u32).to_string());
        }
        if let Some(account) = &self.account {
            a.push_header("Account", account);
        }
        if let Some(b) = self.early_media {
            a.push_header("EarlyMedia", bool_str(b));
        }
        if let Some(codecs) = &self.codecs {
            a.push_header("Codecs", codecs);
        }
        for (name, value) in &self.variables {
            a.push_variable(name, value);
        }
        if let Some(id) = &self.channel_id {
            a.push_header("ChannelId", id);
        }
        if let Some(id) = &self.other_channel_id {
            a.push_header("OtherChannelId", id);
        }
        a
    }
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_escaping() {
        let a = Action::new("Originate").variable("A", r#"x,y"z\w"#);
        assert_eq!(a.error(), None);
        assert_eq!(a.get("Variable"), Some(r#"A=x\,y\"z\\w"#));
    }

    #[test]
    fn slot_reserved_for_action_id() {
        let mut a = Action::new("X");
        for i in 0..126 {
            a.push_header(format!("H{i}"), "v");
        }
        assert_eq!(a.error(), None);
        assert_eq!(a.header_count(), 127);
        a.push_header("One", "more");
        assert_eq!(a.error(), Some(&EncodeError::TooManyHeaders { limit: 128 }));
        assert_eq!(a.header_count(), 127);
        // The ActionID slot is still there, even on an action with an error.
        let mut ids = ActionIdGenerator::with_prefix("t").unwrap();
        assert_eq!(a.ensure_action_id(&mut ids), "t-1");
        assert_eq!(a.header_count(), 128);
        assert!(a.to_bytes().is_err());
    }
}
