//! Asterisk call files (`.call`): build, parse and validate their text.
//!
//! A call file asks Asterisk's `pbx_spool` module to place one outgoing call: dial
//! [`Channel`](CallFile::channel) and, once it answers, send it either to a dialplan location
//! (`Context`/`Extension`/`Priority`) or straight into an application (`Application`/`Data`).
//! This module only deals with the text; it performs no I/O and never reads a clock.
//!
//! ```
//! use amiwire::callfile::{CallFile, Destination};
//!
//! let call = CallFile::to_extension("PJSIP/alice", "wakeup", "s", 1)
//!     .caller_id("Wakeup Call Service <5555555>")
//!     .max_retries(2)
//!     .retry_time(60)
//!     .wait_time(30)
//!     .variable("ROOM", "101");
//! let text = call.to_text().unwrap();
//! assert_eq!(
//!     text,
//!     "Channel: PJSIP/alice\n\
//!      Callerid: Wakeup Call Service <5555555>\n\
//!      MaxRetries: 2\n\
//!      RetryTime: 60\n\
//!      WaitTime: 30\n\
//!      Context: wakeup\n\
//!      Extension: s\n\
//!      Priority: 1\n\
//!      Set: ROOM=101\n"
//! );
//! // What was written reads back as the same value.
//! assert_eq!(CallFile::parse(&text).unwrap(), call);
//!
//! // Values that would smuggle in another key are refused.
//! let evil = CallFile::to_application("PJSIP/alice\nApplication: System", "Playback", "hello");
//! assert!(evil.to_text().is_err());
//! ```
//!
//! # Delivering a call file (for the layer that does I/O)
//!
//! `pbx_spool` watches the spool directory (`/var/spool/asterisk/outgoing` by default,
//! `astspooldir` in `asterisk.conf`). With inotify it reacts to `IN_MOVED_TO`, or to
//! `IN_CREATE` followed by `IN_CLOSE_WRITE`; without it, it rescans the directory every second.
//! Either way it may read a file that is still being written. So:
//!
//! 1. write the text of [`CallFile::to_text`] to a temporary file in a directory **on the same
//!    filesystem** as the spool directory (for example `/var/spool/asterisk/tmp`), and close it
//!    (`fsync` it if the call must survive a crash);
//! 2. optionally set its modification time: an mtime in the future **schedules** the call,
//!    `pbx_spool` leaves the file alone until then;
//! 3. `rename()` it into the spool directory under a unique name ending in `.call`. A rename
//!    within one filesystem is atomic, so Asterisk sees the whole file or nothing; a copy or a
//!    rename across filesystems is not.
//!
//! The file must be readable (and, for retries and archiving, writable) by the Asterisk user.
//! Between attempts Asterisk appends bookkeeping lines (`StartRetry`, `EndRetry`, …) and moves the
//! mtime `RetryTime` seconds ahead; with `Archive: yes` the finished file is moved to
//! `outgoing_done` with a final `Status: Completed|Expired|Failed` line. Those lines are kept, in
//! order, in [`CallFile::history`].
//!
//! # How the text is read
//!
//! [`CallFile::parse`] reads a file the way `apply_outgoing()` in Asterisk's
//! `pbx/pbx_spool.c` does (the rules below were checked against its 1.4 and 13 sources; the
//! line reader has not changed in later releases as far as we know), so that what this module
//! reports is what Asterisk will do:
//!
//! * lines end at `\n`; a `\r` before it is trailing white space and disappears, so CRLF and LF
//!   files read the same. Line numbers in errors are 1-based and count every line.
//! * `pbx_spool` reads with `fgets()` into a 256-byte buffer: a line longer than
//!   [`MAX_LINE_LEN`] bytes would be cut in two, the rest read as a line of its own. Such a
//!   line is an error ([`CallFileError::LineTooLong`]) here, comment lines included.
//! * comments: a `#` that starts the line or follows a space or tab ends the line (a `#`
//!   anywhere else is data, e.g. `Data: 1#2`). Then the first `;` ends the line unless a
//!   backslash precedes it, in which case the backslash is removed and the `;` is data
//!   (`Data: a\;b` gives `a;b`); the character right after such an escaped `;` is not examined,
//!   exactly like the C loop. Multi-line comments (`;-- --;`) are not supported, as in Asterisk.
//! * trailing bytes below 33 (spaces, tabs, control characters) are removed; a line that is
//!   then empty is skipped.
//! * the key is everything before the first `:`, compared case-insensitively but **not
//!   trimmed**; the value is the rest with leading bytes below 33 skipped.
//!
//! This parser is stricter than Asterisk where Asterisk would silently do something other than
//! what the file seems to say; each case is an error with its line number:
//!
//! | input | Asterisk | here |
//! |---|---|---|
//! | a line without `:` | logs "Syntax error", ignores it | [`CallFileError::MissingColon`] |
//! | ` Channel: …`, `Channel : …` | "Unknown keyword", ignores it | [`CallFileError::InvalidKey`] |
//! | `WaitTime: soon`, `Priority: 0`, `Priority: start` | warns, uses the default | [`CallFileError::InvalidNumber`] |
//! | `Archive: maybe` | reads it as "no" | [`CallFileError::InvalidBoolean`] |
//! | `Channel: SIP` (no `/`) | ignores it, then rejects the file | [`CallFileError::InvalidChannel`] |
//! | `Set: FOO` (no `=`) | warns, ignores it | [`CallFileError::InvalidVariable`] |
//! | the same key twice | the last one wins | [`CallFileError::DuplicateKey`] |
//! | a NUL byte | the rest of the line is invisible | [`CallFileError::NulByte`] |
//!
//! Numbers are plain decimal digits (Asterisk's `sscanf("%d")` would also take a sign and
//! trailing junk), at most `i32::MAX`. Priorities are numbers only: `pbx_spool` has no
//! priority labels. Booleans are the words Asterisk's `ast_true()` / `ast_false()` know
//! (`yes`/`no`, `true`/`false`, `y`/`n`, `t`/`f`, `1`/`0`, `on`/`off`, any case).
//! Keys that `pbx_spool` does not know are kept, in order, in [`CallFile::extra`] (Asterisk
//! ignores them with a warning), so a parse loses nothing that Asterisk uses.
//!
//! # Keys
//!
//! | key (any case) | field | Asterisk default |
//! |---|---|---|
//! | `Channel` (required, `Tech/Resource`) | [`channel`](CallFile::channel) | |
//! | `Context`, `Extension`, `Priority` | [`Destination::Extension`] | priority 1 |
//! | `Application`, `Data` | [`Destination::Application`] | empty data |
//! | `Callerid` | [`caller_id`](CallFile::caller_id) | |
//! | `MaxRetries` | [`max_retries`](CallFile::max_retries) | 0 |
//! | `RetryTime` (seconds) | [`retry_time`](CallFile::retry_time) | 300 |
//! | `WaitTime` (seconds) | [`wait_time`](CallFile::wait_time) | 45 |
//! | `Account` | [`account`](CallFile::account) | |
//! | `Codecs` | [`codecs`](CallFile::codecs) | slin |
//! | `Set` / `Setvar` (`name=value`, repeatable) | [`variables`](CallFile::variables) | |
//! | `AlwaysDelete` | [`always_delete`](CallFile::always_delete) | yes |
//! | `Archive` | [`archive`](CallFile::archive) | no |
//! | `early_media` | [`early_media`](CallFile::early_media) | no |
//! | `Retry`, `StartRetry`, `EndRetry`, `AbortRetry`, `DelayedRetry`, `Status` | [`history`](CallFile::history) | |
//!
//! A call file has exactly one destination: giving both an application and an extension (which
//! Asterisk resolves silently in favour of the application) is
//! [`CallFileError::BothDestinations`].

use std::fmt;
use std::str::FromStr;

use nom::bytes::complete::{take_till, take_while};
use nom::character::complete::{char, digit1, i64 as nom_i64, space1};
use nom::combinator::{all_consuming, map_res, rest};
use nom::sequence::{delimited, preceded, separated_pair};
use nom::{IResult, Parser};

/// The longest line, in bytes without its `\n` (a `\r` counts), that `pbx_spool` reads in one
/// piece: `apply_outgoing()` calls `fgets()` with a 256-byte buffer.
pub const MAX_LINE_LEN: usize = 255;

/// Seconds Asterisk waits for the channel to answer when `WaitTime` is absent.
pub const DEFAULT_WAIT_TIME: u32 = 45;

/// Seconds Asterisk waits between attempts when `RetryTime` is absent.
pub const DEFAULT_RETRY_TIME: u32 = 300;

/// Retries (after the first attempt) Asterisk makes when `MaxRetries` is absent.
pub const DEFAULT_MAX_RETRIES: u32 = 0;

/// The priority Asterisk starts at when `Priority` is absent.
pub const DEFAULT_PRIORITY: u32 = 1;

/// The largest number Asterisk reads into its C `int` fields.
const MAX_NUMBER: u32 = i32::MAX as u32;

/// Where the call goes once the channel answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    /// Start the dialplan at `context`, `extension`, `priority`.
    Extension {
        /// `Context:` (required, non-empty).
        context: String,
        /// `Extension:` (required, non-empty).
        extension: String,
        /// `Priority:`, a number from 1 to `i32::MAX` (1 when absent from the file).
        priority: u32,
    },
    /// Run one application with its argument string.
    Application {
        /// `Application:` (required, non-empty), e.g. `Playback`.
        application: String,
        /// `Data:`, the application's arguments (empty when absent from the file).
        data: String,
    },
}

/// The bookkeeping keys `pbx_spool` appends to a call file as it works through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpoolRecordKind {
    /// `Retry:`, an old form of `EndRetry` still counted as one attempt.
    Retry,
    /// `StartRetry: <pid> <retries> (<time>)`, written when an attempt starts.
    StartRetry,
    /// `EndRetry: <pid> <retries> (<time>)`, written when an attempt failed and another follows.
    EndRetry,
    /// `AbortRetry: <pid> <retries> (<time>)`, written when an attempt by another process was
    /// abandoned.
    AbortRetry,
    /// `DelayedRetry: <pid> <retries> (<time>)`, written when an attempt was postponed.
    DelayedRetry,
    /// `Status: Completed|Expired|Failed`, appended to archived files (`Archive: yes`).
    Status,
}

impl SpoolRecordKind {
    /// The key as Asterisk writes it (`"StartRetry"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SpoolRecordKind::Retry => "Retry",
            SpoolRecordKind::StartRetry => "StartRetry",
            SpoolRecordKind::EndRetry => "EndRetry",
            SpoolRecordKind::AbortRetry => "AbortRetry",
            SpoolRecordKind::DelayedRetry => "DelayedRetry",
            SpoolRecordKind::Status => "Status",
        }
    }

    /// Whether `pbx_spool` counts this line as one attempt made (`Retry`, `EndRetry`,
    /// `AbortRetry`).
    pub fn counts_as_attempt(self) -> bool {
        matches!(
            self,
            SpoolRecordKind::Retry | SpoolRecordKind::EndRetry | SpoolRecordKind::AbortRetry
        )
    }
}

impl fmt::Display for SpoolRecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One bookkeeping line written by Asterisk, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpoolRecord {
    /// Which key.
    pub kind: SpoolRecordKind,
    /// The value as read, e.g. `12345 1 (1700000000)` or `Completed`.
    pub value: String,
}

/// The fields of a `StartRetry`/`EndRetry`/`AbortRetry`/`DelayedRetry` value, as
/// `pbx_spool` prints them: `"%ld %d (%ld)"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetryStamp {
    /// Process id of the Asterisk that wrote the line.
    pub pid: i64,
    /// Its retry counter at that moment.
    pub retries: i64,
    /// Unix time, in seconds.
    pub time: i64,
}

impl SpoolRecord {
    /// Reads `<pid> <retries> (<time>)`; `None` for a `Status` line or a value of another shape.
    pub fn stamp(&self) -> Option<RetryStamp> {
        if self.kind == SpoolRecordKind::Status {
            return None;
        }
        let parsed: IResult<&str, _> = all_consuming((
            nom_i64,
            preceded(space1, nom_i64),
            preceded(space1, delimited(char('('), nom_i64, char(')'))),
        ))
        .parse(self.value.as_str());
        parsed
            .ok()
            .map(|(_, (pid, retries, time))| RetryStamp { pid, retries, time })
    }
}

/// The outcome Asterisk records in an archived call file (`Status:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallStatus {
    /// The call was answered.
    Completed,
    /// Every attempt failed (`MaxRetries` exhausted).
    Expired,
    /// The file could not be read or was invalid.
    Failed,
}

/// A call file: what to dial, where to send the answered call, and how to retry.
///
/// Build one with [`CallFile::to_extension`] or [`CallFile::to_application`] and the chainable
/// setters, turn it into text with [`CallFile::to_text`], read one with [`CallFile::parse`].
/// `None` fields are not written, so Asterisk applies its defaults ([`DEFAULT_WAIT_TIME`], …).
/// For every value `cf` for which `cf.to_text()` succeeds,
/// `CallFile::parse(&cf.to_text()?)? == cf`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallFile {
    /// `Channel:` the channel to dial, `Tech/Resource` as for `Dial()` (one channel only),
    /// e.g. `PJSIP/alice` or `Local/100@from-internal`.
    pub channel: String,
    /// Where the answered call goes.
    pub destination: Destination,
    /// `Callerid:`, e.g. `"Wakeup" <5555555>`, split by Asterisk into name and number.
    pub caller_id: Option<String>,
    /// `MaxRetries:` retries after the first attempt (Asterisk default 0).
    pub max_retries: Option<u32>,
    /// `RetryTime:` seconds between attempts, at least 1 (Asterisk default 300).
    pub retry_time: Option<u32>,
    /// `WaitTime:` seconds to wait for an answer, at least 1 (Asterisk default 45).
    pub wait_time: Option<u32>,
    /// `Account:` the account code set on the channel.
    pub account: Option<String>,
    /// `Codecs:` a comma-separated codec list, e.g. `alaw, ulaw`, added to `slin`.
    pub codecs: Option<String>,
    /// `Set:` channel variables (or writable functions such as `CDR(userfield)`), in order.
    pub variables: Vec<(String, String)>,
    /// `AlwaysDelete:` delete the file after the last attempt even when its mtime was moved
    /// into the future (Asterisk default yes).
    pub always_delete: Option<bool>,
    /// `Archive:` move the finished file to `outgoing_done` with a `Status:` line instead of
    /// deleting it (Asterisk default no).
    pub archive: Option<bool>,
    /// `early_media:` connect the call to the dialplan on early media instead of on answer
    /// (extension destinations only; Asterisk default no).
    pub early_media: Option<bool>,
    /// Keys `pbx_spool` does not know, in file order (Asterisk ignores them with a warning).
    pub extra: Vec<(String, String)>,
    /// Bookkeeping lines written by Asterisk, in file order.
    pub history: Vec<SpoolRecord>,
}

/// Why a call file could not be parsed or written.
///
/// Errors about the text carry the 1-based `line`; [`InvalidValue`](CallFileError::InvalidValue)
/// and [`InvalidExtraKey`](CallFileError::InvalidExtraKey) come from [`CallFile::to_text`] /
/// [`CallFile::validate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallFileError {
    /// A line longer than [`MAX_LINE_LEN`] bytes, which `pbx_spool` would read as two lines.
    #[error(
        "line {line}: {len} bytes, longer than the {limit} bytes pbx_spool reads in one piece"
    )]
    LineTooLong {
        /// 1-based line number.
        line: usize,
        /// Length of the line in bytes, without its `\n`.
        len: usize,
        /// [`MAX_LINE_LEN`].
        limit: usize,
    },
    /// A NUL byte: `pbx_spool` would not see the rest of the line.
    #[error("line {line}: NUL byte")]
    NulByte {
        /// 1-based line number.
        line: usize,
    },
    /// The line (once comments are removed) is not UTF-8.
    #[error("line {line}: not valid UTF-8")]
    InvalidUtf8 {
        /// 1-based line number.
        line: usize,
    },
    /// A line that is neither blank, a comment, nor `Key: Value`.
    #[error("line {line}: no ':' between key and value")]
    MissingColon {
        /// 1-based line number.
        line: usize,
    },
    /// An empty key, or one with blanks in or around it (` Channel`, `Channel `): Asterisk does
    /// not trim keys and would ignore the line.
    #[error(
        "line {line}: invalid key {key:?} (keys are not trimmed; pbx_spool would ignore this line)"
    )]
    InvalidKey {
        /// 1-based line number.
        line: usize,
        /// The key as written.
        key: String,
    },
    /// A key that may appear once appears again (Asterisk would silently keep the last one).
    #[error("line {line}: {key} given a second time")]
    DuplicateKey {
        /// 1-based line number of the second occurrence.
        line: usize,
        /// The key as written.
        key: String,
    },
    /// `Context`, `Extension` or `Application` with an empty value.
    #[error("line {line}: {key} has an empty value")]
    EmptyValue {
        /// 1-based line number.
        line: usize,
        /// The key as written.
        key: String,
    },
    /// `MaxRetries`, `RetryTime`, `WaitTime` or `Priority` is not a decimal number in range
    /// (`RetryTime`, `WaitTime` and `Priority` must be at least 1; all at most `i32::MAX`).
    #[error("line {line}: {key} is not a valid number")]
    InvalidNumber {
        /// 1-based line number.
        line: usize,
        /// The key as written.
        key: String,
    },
    /// `AlwaysDelete`, `Archive` or `early_media` is not a yes/no word.
    #[error("line {line}: {key} is not yes/no/true/false/on/off/1/0")]
    InvalidBoolean {
        /// 1-based line number.
        line: usize,
        /// The key as written.
        key: String,
    },
    /// `Channel` is not `Tech/Resource` with both parts non-empty.
    #[error("line {line}: Channel must be Tech/Resource")]
    InvalidChannel {
        /// 1-based line number.
        line: usize,
    },
    /// `Set`/`Setvar` without `=`, or with an empty variable name.
    #[error("line {line}: {key} must be name=value")]
    InvalidVariable {
        /// 1-based line number.
        line: usize,
        /// The key as written.
        key: String,
    },
    /// The file has no `Channel`.
    #[error("no Channel")]
    MissingChannel,
    /// The file has neither `Context`/`Extension`/`Priority` nor `Application`/`Data`.
    #[error("no destination: need Context/Extension/Priority or Application/Data")]
    MissingDestination,
    /// The file has both an extension and an application destination.
    #[error("both Context/Extension/Priority and Application/Data given; only one is allowed")]
    BothDestinations,
    /// A destination key is present but a key it needs is not (`Context` without `Extension`,
    /// `Data` without `Application`, …).
    #[error("incomplete destination: {missing} is missing")]
    IncompleteDestination {
        /// The missing key: `"Extension"`, `"Context"` or `"Application"`.
        missing: &'static str,
    },
    /// A value [`CallFile::to_text`] refuses to write.
    #[error("invalid {key} value: {reason}")]
    InvalidValue {
        /// The key it would have been written under (`"Channel"`, `"Set"`, or an extra key).
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A key of [`CallFile::extra`] that [`CallFile::to_text`] refuses to write.
    #[error("invalid extra key {key:?}: {reason}")]
    InvalidExtraKey {
        /// The key.
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl CallFileError {
    /// The 1-based line the error is about, when there is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            CallFileError::LineTooLong { line, .. }
            | CallFileError::NulByte { line }
            | CallFileError::InvalidUtf8 { line }
            | CallFileError::MissingColon { line }
            | CallFileError::InvalidKey { line, .. }
            | CallFileError::DuplicateKey { line, .. }
            | CallFileError::EmptyValue { line, .. }
            | CallFileError::InvalidNumber { line, .. }
            | CallFileError::InvalidBoolean { line, .. }
            | CallFileError::InvalidChannel { line }
            | CallFileError::InvalidVariable { line, .. } => Some(*line),
            CallFileError::MissingChannel
            | CallFileError::MissingDestination
            | CallFileError::BothDestinations
            | CallFileError::IncompleteDestination { .. }
            | CallFileError::InvalidValue { .. }
            | CallFileError::InvalidExtraKey { .. } => None,
        }
    }

    /// Whether this error comes from validating a [`CallFile`] for writing
    /// ([`InvalidValue`](CallFileError::InvalidValue),
    /// [`InvalidExtraKey`](CallFileError::InvalidExtraKey)) rather than from reading text.
    pub fn is_validation(&self) -> bool {
        matches!(
            self,
            CallFileError::InvalidValue { .. } | CallFileError::InvalidExtraKey { .. }
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Keys

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Channel,
    CallerId,
    Application,
    Data,
    MaxRetries,
    Codecs,
    Context,
    Extension,
    Priority,
    RetryTime,
    WaitTime,
    Set,
    Account,
    AlwaysDelete,
    Archive,
    EarlyMedia,
    Record(SpoolRecordKind),
}

/// Every key `apply_outgoing()` compares against (with `strcasecmp`), plus `Status`.
const KEYS: &[(&str, Key)] = &[
    ("channel", Key::Channel),
    ("callerid", Key::CallerId),
    ("application", Key::Application),
    ("data", Key::Data),
    ("maxretries", Key::MaxRetries),
    ("codecs", Key::Codecs),
    ("context", Key::Context),
    ("extension", Key::Extension),
    ("priority", Key::Priority),
    ("retrytime", Key::RetryTime),
    ("waittime", Key::WaitTime),
    ("retry", Key::Record(SpoolRecordKind::Retry)),
    ("startretry", Key::Record(SpoolRecordKind::StartRetry)),
    ("endretry", Key::Record(SpoolRecordKind::EndRetry)),
    ("abortretry", Key::Record(SpoolRecordKind::AbortRetry)),
    ("delayedretry", Key::Record(SpoolRecordKind::DelayedRetry)),
    ("setvar", Key::Set),
    ("set", Key::Set),
    ("account", Key::Account),
    ("alwaysdelete", Key::AlwaysDelete),
    ("archive", Key::Archive),
    ("early_media", Key::EarlyMedia),
    ("status", Key::Record(SpoolRecordKind::Status)),
];

fn known_key(key: &str) -> Option<Key> {
    KEYS.iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(key))
        .map(|&(_, k)| k)
}

/// `ast_skip_blanks` / `ast_trim_blanks`: every byte below 33 is a blank.
fn is_blank_byte(b: u8) -> bool {
    b < 33
}

fn is_blank_char(c: char) -> bool {
    (c as u32) < 33
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Removes comments and trailing blanks from one raw line (without its `\n`), exactly as
/// `apply_outgoing()` does.
fn strip_line(raw: &[u8]) -> Vec<u8> {
    let mut buf = raw.to_vec();
    // `#` at the start of the line or after a space or tab starts a comment.
    let hash = buf
        .iter()
        .enumerate()
        .position(|(i, &b)| b == b'#' && (i == 0 || matches!(buf.get(i - 1), Some(b' ' | b'\t'))));
    if let Some(i) = hash {
        buf.truncate(i);
    }
    // The first `;` not preceded by a backslash starts a comment; `\;` becomes `;` and the
    // byte after it is skipped (the C loop resumes one past the shifted `;`).
    let mut from = 0;
    while let Some(off) = buf.get(from..).and_then(|s| memchr::memchr(b';', s)) {
        let j = from + off;
        if j > 0 && buf.get(j - 1) == Some(&b'\\') {
            buf.remove(j - 1);
            from = j + 1;
        } else {
            buf.truncate(j);
            break;
        }
    }
    while buf.last().is_some_and(|&b| is_blank_byte(b)) {
        buf.pop();
    }
    buf
}

/// `Key:` then blanks then the value; the key is not trimmed.
fn key_value(line: &str) -> IResult<&str, (&str, &str)> {
    separated_pair(
        take_till(|c| c == ':'),
        char(':'),
        preceded(take_while(is_blank_char), rest),
    )
    .parse(line)
}

/// A plain decimal number between `min` and `i32::MAX`.
fn parse_number(value: &str, min: u32) -> Option<u32> {
    let parsed: IResult<&str, u32> =
        all_consuming(map_res(digit1, |d: &str| d.parse::<u32>())).parse(value);
    match parsed {
        Ok((_, n)) if (min..=MAX_NUMBER).contains(&n) => Some(n),
        _ => None,
    }
}

/// The words of Asterisk's `ast_true()` and `ast_false()`.
fn parse_bool(value: &str) -> Option<bool> {
    const TRUE: [&str; 6] = ["yes", "true", "y", "t", "1", "on"];
    const FALSE: [&str; 6] = ["no", "false", "n", "f", "0", "off"];
    if TRUE.iter().any(|w| w.eq_ignore_ascii_case(value)) {
        Some(true)
    } else if FALSE.iter().any(|w| w.eq_ignore_ascii_case(value)) {
        Some(false)
    } else {
        None
    }
}

/// Whether `Tech/Resource` has both parts, which is all `pbx_spool` checks.
fn channel_has_parts(channel: &str) -> bool {
    matches!(channel.split_once('/'), Some((tech, dest)) if !tech.is_empty() && !dest.is_empty())
}

#[derive(Default)]
struct Draft {
    channel: Option<String>,
    caller_id: Option<String>,
    max_retries: Option<u32>,
    retry_time: Option<u32>,
    wait_time: Option<u32>,
    account: Option<String>,
    codecs: Option<String>,
    context: Option<String>,
    extension: Option<String>,
    priority: Option<u32>,
    application: Option<String>,
    data: Option<String>,
    variables: Vec<(String, String)>,
    always_delete: Option<bool>,
    archive: Option<bool>,
    early_media: Option<bool>,
    extra: Vec<(String, String)>,
    history: Vec<SpoolRecord>,
}

fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    line: usize,
    key: &str,
) -> Result<(), CallFileError> {
    if slot.is_some() {
        return Err(CallFileError::DuplicateKey {
            line,
            key: key.to_owned(),
        });
    }
    *slot = Some(value);
    Ok(())
}

impl Draft {
    fn apply(&mut self, line: usize, key: &str, value: &str) -> Result<(), CallFileError> {
        let Some(known) = known_key(key) else {
            if key.is_empty() || key.chars().any(is_blank_char) {
                return Err(CallFileError::InvalidKey {
                    line,
                    key: key.to_owned(),
                });
            }
            self.extra.push((key.to_owned(), value.to_owned()));
            return Ok(());
        };
        let number = |min: u32| {
            parse_number(value, min).ok_or_else(|| CallFileError::InvalidNumber {
                line,
                key: key.to_owned(),
            })
        };
        let boolean = || {
            parse_bool(value).ok_or_else(|| CallFileError::InvalidBoolean {
                line,
                key: key.to_owned(),
            })
        };
        let non_empty = || {
            if value.is_empty() {
                Err(CallFileError::EmptyValue {
                    line,
                    key: key.to_owned(),
                })
            } else {
                Ok(value.to_owned())
            }
        };
        match known {
            Key::Channel => {
                if !channel_has_parts(value) {
                    return Err(CallFileError::InvalidChannel { line });
                }
                set_once(&mut self.channel, value.to_owned(), line, key)
            }
            Key::CallerId => set_once(&mut self.caller_id, value.to_owned(), line, key),
            Key::Application => set_once(&mut self.application, non_empty()?, line, key),
            Key::Data => set_once(&mut self.data, value.to_owned(), line, key),
            Key::MaxRetries => set_once(&mut self.max_retries, number(0)?, line, key),
            Key::Codecs => set_once(&mut self.codecs, value.to_owned(), line, key),
            Key::Context => set_once(&mut self.context, non_empty()?, line, key),
            Key::Extension => set_once(&mut self.extension, non_empty()?, line, key),
            Key::Priority => set_once(&mut self.priority, number(1)?, line, key),
            Key::RetryTime => set_once(&mut self.retry_time, number(1)?, line, key),
            Key::WaitTime => set_once(&mut self.wait_time, number(1)?, line, key),
            Key::Set => match value.split_once('=') {
                Some((name, val)) if !name.is_empty() => {
                    self.variables.push((name.to_owned(), val.to_owned()));
                    Ok(())
                }
                _ => Err(CallFileError::InvalidVariable {
                    line,
                    key: key.to_owned(),
                }),
            },
            Key::Account => set_once(&mut self.account, value.to_owned(), line, key),
            Key::AlwaysDelete => set_once(&mut self.always_delete, boolean()?, line, key),
            Key::Archive => set_once(&mut self.archive, boolean()?, line, key),
            Key::EarlyMedia => set_once(&mut self.early_media, boolean()?, line, key),
            Key::Record(kind) => {
                self.history.push(SpoolRecord {
                    kind,
                    value: value.to_owned(),
                });
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<CallFile, CallFileError> {
        let channel = self.channel.ok_or(CallFileError::MissingChannel)?;
        let to_exten =
            self.context.is_some() || self.extension.is_some() || self.priority.is_some();
        let to_app = self.application.is_some() || self.data.is_some();
        let destination = match (to_exten, to_app) {
            (true, true) => return Err(CallFileError::BothDestinations),
            (false, false) => return Err(CallFileError::MissingDestination),
            (true, false) => {
                let extension = self.extension.ok_or(CallFileError::IncompleteDestination {
                    missing: "Extension",
                })?;
                let context = self
                    .context
                    .ok_or(CallFileError::IncompleteDestination { missing: "Context" })?;
                Destination::Extension {
                    context,
                    extension,
                    priority: self.priority.unwrap_or(DEFAULT_PRIORITY),
                }
            }
            (false, true) => Destination::Application {
                application: self
                    .application
                    .ok_or(CallFileError::IncompleteDestination {
                        missing: "Application",
                    })?,
                data: self.data.unwrap_or_default(),
            },
        };
        Ok(CallFile {
            channel,
            destination,
            caller_id: self.caller_id,
            max_retries: self.max_retries,
            retry_time: self.retry_time,
            wait_time: self.wait_time,
            account: self.account,
            codecs: self.codecs,
            variables: self.variables,
            always_delete: self.always_delete,
            archive: self.archive,
            early_media: self.early_media,
            extra: self.extra,
            history: self.history,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Reasons [`CallFile::to_text`] gives in [`CallFileError::InvalidValue`].
mod reason {
    pub(super) const LINE_BREAK: &str =
        "contains CR or LF, which would start a new line (another key)";
    pub(super) const NUL: &str = "contains a NUL byte";
    pub(super) const CONTROL: &str = "contains a control character";
    pub(super) const EDGE_BLANK: &str = "starts or ends with a blank, which pbx_spool strips";
    pub(super) const COMMENT: &str =
        "has a '#' at its start or after a blank, which pbx_spool reads as a comment";
    pub(super) const TOO_LONG: &str =
        "makes a line longer than 255 bytes, which pbx_spool would split in two";
    pub(super) const EMPTY: &str = "is empty";
    pub(super) const CHANNEL_FORM: &str =
        "must be Tech/Resource with a non-empty resource and no blanks";
    pub(super) const CHANNEL_TECH: &str =
        "technology must be letters, digits, '_' or '-' (e.g. PJSIP, SIP, IAX2, Local)";
    pub(super) const AT_LEAST_ONE: &str = "must be between 1 and 2147483647";
    pub(super) const AT_MOST: &str = "must be at most 2147483647";
    pub(super) const VAR_NAME: &str =
        "variable name must be non-empty, without '=', blanks or control characters";
    pub(super) const KEY_CHARS: &str =
        "must be non-empty, without ':', ';', blanks or control characters, and not start with '#'";
    pub(super) const KEY_KNOWN: &str =
        "is a key pbx_spool knows; use the typed field (or history) instead";
}

fn invalid(key: &str, reason: &'static str) -> CallFileError {
    CallFileError::InvalidValue {
        key: key.to_owned(),
        reason,
    }
}

/// Checks a value against what `apply_outgoing()` would change or misread.
fn check_value(key: &str, value: &str) -> Result<(), CallFileError> {
    if value.contains(['\r', '\n']) {
        return Err(invalid(key, reason::LINE_BREAK));
    }
    if value.contains('\0') {
        return Err(invalid(key, reason::NUL));
    }
    if value.chars().any(|c| c.is_ascii_control() && c != '\t') {
        return Err(invalid(key, reason::CONTROL));
    }
    let bytes = value.as_bytes();
    let edge_blank = |b: Option<&u8>| b.is_some_and(|&b| is_blank_byte(b));
    if edge_blank(bytes.first()) || edge_blank(bytes.last()) {
        return Err(invalid(key, reason::EDGE_BLANK));
    }
    // The value follows ": ", so a leading '#' follows a blank too.
    let comment = bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'#' && (i == 0 || matches!(bytes.get(i - 1), Some(b' ' | b'\t'))));
    if comment {
        return Err(invalid(key, reason::COMMENT));
    }
    Ok(())
}

fn check_number(key: &str, n: u32, min: u32) -> Result<(), CallFileError> {
    if n > MAX_NUMBER {
        Err(invalid(key, reason::AT_MOST))
    } else if n < min {
        Err(invalid(key, reason::AT_LEAST_ONE))
    } else {
        Ok(())
    }
}

fn check_channel(channel: &str) -> Result<(), CallFileError> {
    const KEY: &str = "Channel";
    check_value(KEY, channel)?;
    let Some((tech, dest)) = channel.split_once('/') else {
        return Err(invalid(KEY, reason::CHANNEL_FORM));
    };
    if dest.is_empty() || channel.contains([' ', '\t']) {
        return Err(invalid(KEY, reason::CHANNEL_FORM));
    }
    if tech.is_empty()
        || !tech
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(invalid(KEY, reason::CHANNEL_TECH));
    }
    Ok(())
}

fn check_var_name(name: &str) -> Result<(), CallFileError> {
    if name.is_empty() || name.contains('=') || name.bytes().any(|b| is_blank_byte(b) || b == 0x7f)
    {
        return Err(invalid("Set", reason::VAR_NAME));
    }
    Ok(())
}

fn check_extra_key(key: &str) -> Result<(), CallFileError> {
    let bad = |reason| CallFileError::InvalidExtraKey {
        key: key.to_owned(),
        reason,
    };
    if key.is_empty()
        || key.starts_with('#')
        || key.contains([':', ';'])
        || key.bytes().any(|b| is_blank_byte(b) || b == 0x7f)
    {
        return Err(bad(reason::KEY_CHARS));
    }
    if known_key(key).is_some() {
        return Err(bad(reason::KEY_KNOWN));
    }
    Ok(())
}

/// Accumulates canonical `Key: Value\n` lines, checking each one.
struct Writer {
    text: String,
}

impl Writer {
    /// Writes `key: value`, escaping `;` as `\;` (undone by the reader, see the module docs).
    fn line(&mut self, key: &str, value: &str) -> Result<(), CallFileError> {
        check_value(key, value)?;
        let semicolons = value.bytes().filter(|&b| b == b';').count();
        let len = key.len()
            + if value.is_empty() {
                1
            } else {
                2 + value.len() + semicolons
            };
        if len > MAX_LINE_LEN {
            return Err(invalid(key, reason::TOO_LONG));
        }
        self.text.push_str(key);
        self.text.push(':');
        if !value.is_empty() {
            self.text.push(' ');
            for c in value.chars() {
                if c == ';' {
                    self.text.push('\\');
                }
                self.text.push(c);
            }
        }
        self.text.push('\n');
        Ok(())
    }

    fn non_empty(&mut self, key: &str, value: &str) -> Result<(), CallFileError> {
        if value.is_empty() {
            return Err(invalid(key, reason::EMPTY));
        }
        self.line(key, value)
    }

    fn opt_str(&mut self, key: &str, value: Option<&String>) -> Result<(), CallFileError> {
        value.map_or(Ok(()), |v| self.line(key, v))
    }

    fn opt_number(&mut self, key: &str, value: Option<u32>, min: u32) -> Result<(), CallFileError> {
        let Some(n) = value else { return Ok(()) };
        check_number(key, n, min)?;
        self.line(key, &n.to_string())
    }

    fn opt_bool(&mut self, key: &str, value: Option<bool>) -> Result<(), CallFileError> {
        value.map_or(Ok(()), |b| self.line(key, if b { "yes" } else { "no" }))
    }
}

// ---------------------------------------------------------------------------------------------
// The public type

impl CallFile {
    fn with_destination(channel: String, destination: Destination) -> CallFile {
        CallFile {
            channel,
            destination,
            caller_id: None,
            max_retries: None,
            retry_time: None,
            wait_time: None,
            account: None,
            codecs: None,
            variables: Vec::new(),
            always_delete: None,
            archive: None,
            early_media: None,
            extra: Vec::new(),
            history: Vec::new(),
        }
    }

    /// A call that dials `channel` and, once answered, starts the dialplan at
    /// `context`, `extension`, `priority`.
    pub fn to_extension(
        channel: impl Into<String>,
        context: impl Into<String>,
        extension: impl Into<String>,
        priority: u32,
    ) -> CallFile {
        CallFile::with_destination(
            channel.into(),
            Destination::Extension {
                context: context.into(),
                extension: extension.into(),
                priority,
            },
        )
    }

    /// A call that dials `channel` and, once answered, runs `application` with `data` as its
    /// arguments (an empty `data` writes no `Data:` line).
    pub fn to_application(
        channel: impl Into<String>,
        application: impl Into<String>,
        data: impl Into<String>,
    ) -> CallFile {
        CallFile::with_destination(
            channel.into(),
            Destination::Application {
                application: application.into(),
                data: data.into(),
            },
        )
    }

    /// Sets `Callerid:`, e.g. `"Name" <1234>`.
    #[must_use]
    pub fn caller_id(mut self, caller_id: impl Into<String>) -> CallFile {
        self.caller_id = Some(caller_id.into());
        self
    }

    /// Sets `MaxRetries:` (retries after the first attempt).
    #[must_use]
    pub fn max_retries(mut self, retries: u32) -> CallFile {
        self.max_retries = Some(retries);
        self
    }

    /// Sets `RetryTime:` in seconds (at least 1).
    #[must_use]
    pub fn retry_time(mut self, seconds: u32) -> CallFile {
        self.retry_time = Some(seconds);
        self
    }

    /// Sets `WaitTime:` in seconds (at least 1).
    #[must_use]
    pub fn wait_time(mut self, seconds: u32) -> CallFile {
        self.wait_time = Some(seconds);
        self
    }

    /// Sets `Account:`.
    #[must_use]
    pub fn account(mut self, account: impl Into<String>) -> CallFile {
        self.account = Some(account.into());
        self
    }

    /// Sets `Codecs:`, e.g. `alaw, ulaw`.
    #[must_use]
    pub fn codecs(mut self, codecs: impl Into<String>) -> CallFile {
        self.codecs = Some(codecs.into());
        self
    }

    /// Adds a `Set: name=value` line (after those already added).
    #[must_use]
    pub fn variable(mut self, name: impl Into<String>, value: impl Into<String>) -> CallFile {
        self.variables.push((name.into(), value.into()));
        self
    }

    /// Sets `AlwaysDelete:`.
    #[must_use]
    pub fn always_delete(mut self, yes: bool) -> CallFile {
        self.always_delete = Some(yes);
        self
    }

    /// Sets `Archive:`.
    #[must_use]
    pub fn archive(mut self, yes: bool) -> CallFile {
        self.archive = Some(yes);
        self
    }

    /// Sets `early_media:`.
    #[must_use]
    pub fn early_media(mut self, yes: bool) -> CallFile {
        self.early_media = Some(yes);
        self
    }

    /// Adds a key this module has no field for (for example one a newer Asterisk knows).
    #[must_use]
    pub fn extra(mut self, key: impl Into<String>, value: impl Into<String>) -> CallFile {
        self.extra.push((key.into(), value.into()));
        self
    }

    /// Reads call file text; see the [module documentation](self) for the rules.
    pub fn parse(text: &str) -> Result<CallFile, CallFileError> {
        CallFile::parse_bytes(text.as_bytes())
    }

    /// Reads call file bytes; only the non-comment part of each line must be UTF-8.
    pub fn parse_bytes(input: &[u8]) -> Result<CallFile, CallFileError> {
        let mut draft = Draft::default();
        for (index, raw) in input.split(|&b| b == b'\n').enumerate() {
            let line = index + 1;
            if raw.len() > MAX_LINE_LEN {
                return Err(CallFileError::LineTooLong {
                    line,
                    len: raw.len(),
                    limit: MAX_LINE_LEN,
                });
            }
            if raw.contains(&0) {
                return Err(CallFileError::NulByte { line });
            }
            let stripped = strip_line(raw);
            if stripped.is_empty() {
                continue;
            }
            let text =
                std::str::from_utf8(&stripped).map_err(|_| CallFileError::InvalidUtf8 { line })?;
            let (_, (key, value)) =
                key_value(text).map_err(|_| CallFileError::MissingColon { line })?;
            draft.apply(line, key, value)?;
        }
        draft.finish()
    }

    /// Checks that [`to_text`](CallFile::to_text) would succeed.
    pub fn validate(&self) -> Result<(), CallFileError> {
        self.to_text().map(drop)
    }

    /// The canonical text: one `Key: Value\n` line per field, in a fixed order (channel,
    /// call settings, destination, variables, flags, extra keys, history), `;` escaped as `\;`.
    ///
    /// Refuses ([`CallFileError::InvalidValue`], [`CallFileError::InvalidExtraKey`]) anything
    /// `pbx_spool` would read differently: CR, LF, NUL or other control characters in a value
    /// (a line break would inject another key), blanks at either end of a value, a `#` that
    /// would start a comment, a line over [`MAX_LINE_LEN`] bytes, a channel that is not
    /// `Tech/Resource`, an empty context, extension or application, numbers out of range
    /// (`RetryTime`, `WaitTime`, `Priority` at least 1; all at most `i32::MAX`), variable names
    /// that are empty or contain `=` or blanks, and extra keys that are malformed or that
    /// `pbx_spool` knows.
    pub fn to_text(&self) -> Result<String, CallFileError> {
        let mut w = Writer {
            text: String::with_capacity(256),
        };
        check_channel(&self.channel)?;
        w.line("Channel", &self.channel)?;
        w.opt_str("Callerid", self.caller_id.as_ref())?;
        w.opt_number("MaxRetries", self.max_retries, 0)?;
        w.opt_number("RetryTime", self.retry_time, 1)?;
        w.opt_number("WaitTime", self.wait_time, 1)?;
        w.opt_str("Account", self.account.as_ref())?;
        w.opt_str("Codecs", self.codecs.as_ref())?;
        match &self.destination {
            Destination::Extension {
                context,
                extension,
                priority,
            } => {
                w.non_empty("Context", context)?;
                w.non_empty("Extension", extension)?;
                check_number("Priority", *priority, 1)?;
                w.line("Priority", &priority.to_string())?;
            }
            Destination::Application { application, data } => {
                w.non_empty("Application", application)?;
                if !data.is_empty() {
                    w.line("Data", data)?;
                }
            }
        }
        for (name, value) in &self.variables {
            check_var_name(name)?;
            w.line("Set", &format!("{name}={value}"))?;
        }
        w.opt_bool("AlwaysDelete", self.always_delete)?;
        w.opt_bool("Archive", self.archive)?;
        w.opt_bool("early_media", self.early_media)?;
        for (key, value) in &self.extra {
            check_extra_key(key)?;
            w.line(key, value)?;
        }
        for record in &self.history {
            w.line(record.kind.as_str(), &record.value)?;
        }
        Ok(w.text)
    }

    /// Attempts already recorded in [`history`](CallFile::history), counted as `pbx_spool`
    /// does (`Retry`, `EndRetry` and `AbortRetry` lines). Asterisk attempts the call again
    /// while this is at most `MaxRetries`.
    pub fn retries(&self) -> usize {
        self.history
            .iter()
            .filter(|r| r.kind.counts_as_attempt())
            .count()
    }

    /// The outcome from the last `Status:` line of an archived file, if any and known.
    pub fn status(&self) -> Option<CallStatus> {
        let record = self
            .history
            .iter()
            .rev()
            .find(|r| r.kind == SpoolRecordKind::Status)?;
        [
            ("Completed", CallStatus::Completed),
            ("Expired", CallStatus::Expired),
            ("Failed", CallStatus::Failed),
        ]
        .into_iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(&record.value))
        .map(|(_, status)| status)
    }
}

impl FromStr for CallFile {
    type Err = CallFileError;

    fn from_str(text: &str) -> Result<CallFile, CallFileError> {
        CallFile::parse(text)
    }
}

/// Fuzzing entry point: parses `data` and checks the module's invariants.
///
/// Parsing never panics. When it succeeds, [`CallFile::to_text`] either fails with a
/// validation error or produces text whose lines all fit in [`MAX_LINE_LEN`], which parses back
/// to the same value and renders to the same text again. Panics when an invariant is broken.
#[doc(hidden)]
pub fn fuzz_callfile(data: &[u8]) {
    let Ok(parsed) = CallFile::parse_bytes(data) else {
        return;
    };
    match parsed.to_text() {
        Ok(text) => {
            assert!(
                text.lines().all(|l| l.len() <= MAX_LINE_LEN),
                "canonical text has an overlong line: {text:?}"
            );
            let again = match CallFile::parse(&text) {
                Ok(cf) => cf,
                Err(e) => panic!("canonical text does not parse ({e}): {text:?}"),
            };
            assert_eq!(
                again, parsed,
                "round trip changed the value; text: {text:?}"
            );
            assert_eq!(again.to_text().as_deref(), Ok(text.as_str()));
        }
        Err(e) => assert!(
            e.is_validation(),
            "to_text failed with a non-validation error: {e:?}"
        ),
    }
}
