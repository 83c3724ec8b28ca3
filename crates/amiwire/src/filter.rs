//! Event filters, on both sides of the connection.
//!
//! * [`Filter`]: the one filter a client composes and evaluates, on a borrowed
//!   [`MessageRef`] without allocating (a regex allocates its match cache once per thread, on
//!   first use, and reuses it). Built in code (event name in a set, header exists / equals /
//!   contains / starts with / ends with / matches a regex, combined with and / or / not) or from
//!   manager.conf's `eventfilter` syntax, with Asterisk's semantics, and the two mixed freely.
//! * [`ManagerFilter`] and [`FilterSet`]: what the server is told, Asterisk's own event filters
//!   (the `eventfilter` lines of `manager.conf` and the `Filter` action), so that a client can
//!   parse them, install them ([`ManagerFilter::to_action`]), replay them after a reconnect,
//!   and evaluate them locally (each converts into a [`Filter`]).
//!
//! ```
//! use amiwire::filter::{Filter, FilterSet};
//! use amiwire::{Decoder, DecoderConfig, Frame};
//!
//! let mut dec = Decoder::with_config(DecoderConfig::without_banner());
//! dec.feed(b"Event: DialBegin\r\nPrivilege: call,all\r\nExten: 902\r\n\r\n");
//! let Some(Frame::Message(msg)) = dec.decode().unwrap() else { panic!() };
//!
//! // A CRM screen pop: dial events towards extension 902.
//! let pop = Filter::events(["DialBegin", "Hangup"]) & Filter::header_eq("Exten", "902");
//! assert!(pop.matches(&msg));
//!
//! // What Asterisk would deliver to a manager.conf user with these lines.
//! let mut set = FilterSet::new();
//! set.parse_eventfilter_line("eventfilter", "Event: Hangup").unwrap();
//! set.parse_eventfilter_line("eventfilter(action(include),name(DialBegin))", "").unwrap();
//! assert!(set.matches(&msg));
//!
//! // Both at once: the server's view, narrowed on the client.
//! let both = Filter::from(set) & Filter::header_eq("Privilege", "call,all");
//! assert!(both.matches(&msg));
//! assert!(!(both & !pop).matches(&msg));
//! ```
//!
//! # Asterisk's semantics (`main/manager.c`)
//!
//! * `should_send_event`: no filter lets everything through; only include filters: an event
//!   must match at least one; only exclude filters: an event passes unless it matches one; both:
//!   it must match an include filter and then no exclude filter. Filters apply to asynchronous
//!   events only: responses and the events of a list that an action writes itself are never
//!   filtered, so call [`FilterSet::matches`] on events only.
//! * `manager_add_filter`: a leading `!` on the pattern makes the filter an exclude filter and
//!   is removed, in both syntaxes; in the new syntax an explicit `action()` wins over it. A key
//!   without `(` is the legacy form: a POSIX extended regex (`regcomp(REG_EXTENDED|REG_NOSUB)`)
//!   run over the whole event text, which must not be empty. In the new form the options
//!   `action(include|exclude)`, `name(<Event>)`, `header(<Name>)` and
//!   `method(regex|exact|starts_with|ends_with|contains|none)` come in any order; a missing
//!   `method()` means `none`, which needs an empty pattern, and every other method needs a
//!   non-empty one; `method(none)` needs `name()` or `header()`.
//! * `filter_cmp_fn` / `match_eventdata`: `name()` is compared with the event's name
//!   (Asterisk compares `ast_str_hash` values, which is case-sensitive); without `header()` the
//!   method runs on the whole event text (`Event: ...\r\n...\r\n\r\n`, the terminating blank
//!   line included, exactly [`MessageRef::as_bytes`]); with `header(Name)` it runs on each line
//!   that begins with `Name:` (case-sensitive), one at a time, on the value after the colon with
//!   leading blanks (bytes below 33) skipped; lines whose value is then empty are skipped, even
//!   for `method(none)`. The filter matches if any line does.
//! * `action_filter`: the `Filter` action with `Operation: Add` builds the key
//!   `eventfilter(<MatchCriteria>)` (or `eventfilter` when `MatchCriteria` is absent or empty)
//!   and calls `manager_add_filter` with the `Filter:` value; a regex that does not compile gets
//!   `Filter did not compile.  Check the syntax of the filter given.`, every other error
//!   `Filter was formatted incorrectly.  Check the syntax of the filter given.`
//!   ([`FilterError::asterisk_message`]). The new syntax exists since Asterisk 18.26.0,
//!   20.11.0, 21.6.0, 22.1.0 and 23.0.0 ([`advanced_syntax_supported`]).
//!
//! # POSIX extended regexes and the `regex` crate
//!
//! Asterisk compiles patterns with glibc's `regcomp`; this module translates them for
//! [`regex::bytes::Regex`] (byte-oriented, so any byte matches `.` as in the C locale, and `.`
//! and `[^...]` also match a line end, as POSIX does without `REG_NEWLINE`; `^` and `$` anchor at
//! the ends of the text only):
//!
//! * inside a bracket expression a backslash is a literal, `]` first is a literal, and
//!   `[:class:]`, `[.c.]` and `[=c=]` (one character) work; `&&`, `--` and `~~` are literal text,
//!   not set operations;
//! * outside one, GNU's `\w \W \s \S \b \B \< \>` keep their meaning, `` \` `` and `\'` anchor
//!   at the start and end of the text, and a backslash before any other character makes it a
//!   literal (`\d` is the letter `d`, as in glibc); `{,n}` means `{0,n}`;
//! * back-references (`\1`…`\9`, a glibc extension) are not supported: such a filter fails with
//!   [`FilterError::InvalidRegex`];
//! * leftmost-first versus leftmost-longest matching makes no difference, since only whether a
//!   match exists is asked;
//! * Rust-only syntax (`(?i)`, `\pL`…) is accepted here but would be rejected or read
//!   differently by Asterisk; a bracket expression holding non-ASCII characters matches them as
//!   UTF-8 characters.
//!
//! The structured [`Filter::header_regex`] uses the `regex` crate's own syntax instead.

use std::borrow::Cow;
use std::fmt;
use std::ops::{BitAnd, BitOr, Not};
use std::str::FromStr;
use std::sync::OnceLock;

use memchr::memmem::Finder;
use regex::bytes::{Regex, RegexBuilder};

use crate::message::{Message, MessageRef};

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a filter could not be built.
///
/// [`asterisk_message`](FilterError::asterisk_message) gives the text Asterisk itself answers
/// to a `Filter` action that fails the same way.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// The regular expression does not compile (Asterisk: `Filter did not compile`).
    #[error("filter did not compile: invalid regular expression {pattern:?}: {message}")]
    InvalidRegex {
        /// The pattern as given (POSIX syntax for manager filters).
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// The `eventfilter(...)` key or the `MatchCriteria` text is not well formed (Asterisk:
    /// `Filter was formatted incorrectly`).
    #[error("filter was formatted incorrectly at byte {at}: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
        /// Byte offset of the problem in the text that was parsed (the key, the criteria or the
        /// `manager.conf` line, whichever was passed).
        at: usize,
    },
    /// The pattern does not suit the filter: empty where one is needed, present with
    /// `method(none)`, or with a character that neither `manager.conf` nor an AMI header can
    /// carry (Asterisk: `Filter was formatted incorrectly`).
    #[error("filter was formatted incorrectly: pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong.
        reason: String,
    },
    /// A `name()` or `header()` value given to [`ManagerFilterBuilder`] cannot be written in
    /// the `eventfilter` syntax.
    #[error("invalid {field}() value {value:?}: {reason}")]
    InvalidField {
        /// `"name"` or `"header"`.
        field: &'static str,
        /// The value as given.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl FilterError {
    /// The `Message:` Asterisk answers to a `Filter` action failing this way (it has only two).
    pub fn asterisk_message(&self) -> &'static str {
        match self {
            FilterError::InvalidRegex { .. } => {
                "Filter did not compile.  Check the syntax of the filter given."
            }
            _ => "Filter was formatted incorrectly.  Check the syntax of the filter given.",
        }
    }

    fn malformed(reason: impl Into<String>, at: usize) -> FilterError {
        FilterError::Malformed {
            reason: reason.into(),
            at,
        }
    }

    fn pattern(pattern: &str, reason: impl Into<String>) -> FilterError {
        FilterError::InvalidPattern {
            pattern: pattern.to_owned(),
            reason: reason.into(),
        }
    }

    /// Moves the offset of a `Malformed` error by `by` bytes.
    fn shifted(self, by: usize) -> FilterError {
        match self {
            FilterError::Malformed { reason, at } => FilterError::Malformed {
                reason,
                at: at + by,
            },
            other => other,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Filter
// ---------------------------------------------------------------------------------------------

/// A set of event names, compared ASCII case-insensitively.
///
/// Names are stored lowercase; a test costs one length comparison per name, and a byte
/// comparison only for names of the right length.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventSet {
    names: Box<[Box<[u8]>]>,
}

impl EventSet {
    /// A set of the given event names (duplicates are dropped).
    pub fn new<I, S>(names: I) -> EventSet
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut v: Vec<Box<[u8]>> = Vec::new();
        for n in names {
            let lower: Box<[u8]> = n.as_ref().as_bytes().to_ascii_lowercase().into();
            if !v.contains(&lower) {
                v.push(lower);
            }
        }
        EventSet { names: v.into() }
    }

    /// Whether `name` is in the set (ASCII case-insensitive).
    #[inline]
    pub fn contains(&self, name: &[u8]) -> bool {
        self.names
            .iter()
            .any(|n| n.len() == name.len() && n.eq_ignore_ascii_case(name))
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// `true` when the set has no name (then it matches nothing).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The names, lowercase.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.names.iter().map(|n| &n[..])
    }
}

/// What a header predicate asks of a value.
#[derive(Clone, Debug)]
enum ValueTest {
    Exists,
    Equals(Box<[u8]>),
    Contains(Box<Finder<'static>>),
    StartsWith(Box<[u8]>),
    EndsWith(Box<[u8]>),
    Regex(Regex),
}

impl ValueTest {
    #[inline]
    fn test(&self, v: &[u8]) -> bool {
        match self {
            ValueTest::Exists => true,
            ValueTest::Equals(x) => v == &x[..],
            ValueTest::Contains(f) => f.find(v).is_some(),
            ValueTest::StartsWith(x) => v.starts_with(x),
            ValueTest::EndsWith(x) => v.ends_with(x),
            ValueTest::Regex(r) => r.is_match(v),
        }
    }
}

#[derive(Clone, Debug)]
enum Node {
    Event(EventSet),
    Header {
        name: Box<[u8]>,
        test: ValueTest,
    },
    /// Asterisk's `should_send_event` over a set that is not empty.
    Manager(FilterSet),
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
}

impl Node {
    fn matches(&self, msg: &MessageRef<'_>) -> bool {
        match self {
            Node::Event(set) => msg.event().is_some_and(|e| set.contains(e)),
            Node::Header { name, test } => msg.iter().any(|h| {
                h.has_colon()
                    && h.name().len() == name.len()
                    && h.name().eq_ignore_ascii_case(name)
                    && test.test(h.value())
            }),
            Node::Manager(set) => set.matches(msg),
            Node::All(ns) => ns.iter().all(|n| n.matches(msg)),
            Node::Any(ns) => ns.iter().any(|n| n.matches(msg)),
            Node::Not(n) => !n.matches(msg),
        }
    }
}

/// A client-side event filter: which messages a subscription (or any loop over decoded
/// messages) keeps.
///
/// Built from constructors and composed with [`and`](Filter::and), [`or`](Filter::or),
/// [`negate`](Filter::negate), [`all_of`](Filter::all_of), [`any_of`](Filter::any_of) or the
/// `&`, `|` and `!` operators (evaluated left to right, stopping as soon as the answer is
/// known, so put the cheap test, the event name, first):
///
/// * the event name: [`event`](Filter::event), [`events`](Filter::events),
///   [`event_set`](Filter::event_set) (ASCII case-insensitive; a response is no event);
/// * a header: [`header_exists`](Filter::header_exists), [`header_eq`](Filter::header_eq),
///   [`header_contains`](Filter::header_contains),
///   [`header_starts_with`](Filter::header_starts_with),
///   [`header_ends_with`](Filter::header_ends_with), [`header_regex`](Filter::header_regex),
///   [`header_matches`](Filter::header_matches). They hold when **some** header line with that
///   name (ASCII case-insensitive; lines without a colon never match) has a value, as decoded
///   ([`crate::Header::value`]), that passes the test; values are compared as exact bytes;
/// * manager.conf filters, with Asterisk's semantics: [`manager`](Filter::manager) (a legacy
///   pattern), [`manager_conf`](Filter::manager_conf) (`eventfilter` lines), or any
///   [`FilterSet`] or [`ManagerFilter`] through [`From`]. Such a filter passes what Asterisk
///   would deliver to a session with exactly those filters (no filter: everything; include
///   filters: one must match; then no exclude filter may). Combining two of them with `&` or
///   `|` is boolean logic on their two answers, which is not what Asterisk does with the lines
///   of one user (its include filters are alternatives): put filters that belong together in
///   one [`FilterSet`], or pass their lines to [`manager_conf`](Filter::manager_conf) together;
/// * [`all`](Filter::all) and [`none`](Filter::none).
///
/// [`matches`](Filter::matches) never allocates. A test on the event name costs a few
/// comparisons; a header test walks the header index of the message (one length comparison per
/// header), never the message text, except what the value test itself reads.
///
/// ```
/// use amiwire::filter::{Filter, FilterSet};
/// use amiwire::{Decoder, DecoderConfig, Frame};
///
/// let mut dec = Decoder::with_config(DecoderConfig::without_banner());
/// dec.feed(b"Event: Hangup\r\nChannel: PJSIP/902-0001\r\nExten: 902\r\n\r\n");
/// let Some(Frame::Message(msg)) = dec.decode().unwrap() else { panic!() };
///
/// // Dial and Hangup events of extension 902, except for Local channels.
/// let pop = Filter::events(["DialBegin", "Hangup"])
///     & Filter::header_eq("Exten", "902")
///     & !Filter::header_starts_with("Channel", "Local/");
/// assert!(pop.matches(&msg));
///
/// // The same, partly in manager.conf's syntax.
/// let conf = Filter::manager_conf(
///     "eventfilter(name(Hangup),header(Exten),method(exact)) = 902
///      eventfilter(name(DialBegin),header(Exten),method(exact)) = 902
///      eventfilter = !Channel: Local/",
/// )?;
/// assert!(conf.matches(&msg));
///
/// // A manager.conf filter set is a filter too; an empty one lets everything through.
/// let f = Filter::event("Hangup") & Filter::from(FilterSet::new());
/// assert!(f.matches(&msg));
/// assert!(!(Filter::event("Hangup") & Filter::manager("!Exten: 902")?).matches(&msg));
/// # Ok::<(), amiwire::filter::FilterError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Filter(Node);

impl Default for Filter {
    /// [`Filter::all`]: every message passes.
    fn default() -> Filter {
        Filter::all()
    }
}

impl From<FilterSet> for Filter {
    /// The messages Asterisk would deliver to a session with these filters
    /// ([`FilterSet::matches`]); an empty set lets everything through.
    fn from(set: FilterSet) -> Filter {
        if set.is_empty() {
            Filter::all()
        } else {
            Filter(Node::Manager(set))
        }
    }
}

impl From<ManagerFilter> for Filter {
    /// The messages Asterisk would deliver to a session with this one filter: those it matches
    /// for an include filter, those it does not match for an exclude filter.
    fn from(f: ManagerFilter) -> Filter {
        Filter::from(FilterSet::from_iter([f]))
    }
}

impl Filter {
    /// Every message passes (an empty [`all_of`](Filter::all_of)).
    pub fn all() -> Filter {
        Filter(Node::All(Vec::new()))
    }

    /// No message passes (an empty [`any_of`](Filter::any_of)).
    pub fn none() -> Filter {
        Filter(Node::Any(Vec::new()))
    }

    /// The message is an event called `name` (ASCII case-insensitive).
    pub fn event(name: &str) -> Filter {
        Filter(Node::Event(EventSet::new([name])))
    }

    /// The message is an event whose name is one of `names` (ASCII case-insensitive; no name:
    /// nothing passes).
    pub fn events<I, S>(names: I) -> Filter
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Filter(Node::Event(EventSet::new(names)))
    }

    /// The message is an event whose name is in `set`.
    pub fn event_set(set: EventSet) -> Filter {
        Filter(Node::Event(set))
    }

    fn header(name: &str, test: ValueTest) -> Filter {
        Filter(Node::Header {
            name: name.as_bytes().into(),
            test,
        })
    }

    /// The message has a header called `name`, whatever its value.
    pub fn header_exists(name: &str) -> Filter {
        Filter::header(name, ValueTest::Exists)
    }

    /// A header called `name` has exactly the value `value`.
    pub fn header_eq(name: &str, value: impl AsRef<[u8]>) -> Filter {
        Filter::header(name, ValueTest::Equals(value.as_ref().into()))
    }

    /// A header called `name` has a value containing `needle`.
    pub fn header_contains(name: &str, needle: impl AsRef<[u8]>) -> Filter {
        Filter::header(
            name,
            ValueTest::Contains(Box::new(Finder::new(needle.as_ref()).into_owned())),
        )
    }

    /// A header called `name` has a value starting with `prefix`.
    pub fn header_starts_with(name: &str, prefix: impl AsRef<[u8]>) -> Filter {
        Filter::header(name, ValueTest::StartsWith(prefix.as_ref().into()))
    }

    /// A header called `name` has a value ending with `suffix`.
    pub fn header_ends_with(name: &str, suffix: impl AsRef<[u8]>) -> Filter {
        Filter::header(name, ValueTest::EndsWith(suffix.as_ref().into()))
    }

    /// A header called `name` has a value in which `regex` (the `regex` crate's syntax, not
    /// POSIX; unanchored unless it says `^`/`$`) finds a match.
    pub fn header_regex(name: &str, regex: &str) -> Result<Filter, FilterError> {
        let re = Regex::new(regex).map_err(|e| FilterError::InvalidRegex {
            pattern: regex.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Filter::header_matches(name, re))
    }

    /// A header called `name` has a value in which the compiled `regex` finds a match.
    pub fn header_matches(name: &str, regex: Regex) -> Filter {
        Filter::header(name, ValueTest::Regex(regex))
    }

    /// A manager filter in the legacy syntax, as Asterisk applies it alone: `pattern` is what
    /// follows `eventfilter =` in manager.conf, or the `Filter:` value of a `Filter` action
    /// without `MatchCriteria`: a POSIX extended regex over the whole event text
    /// (`Event: Dial.*`), or with a leading `!` an exclude filter (`!Event: Newexten`).
    /// [`ManagerFilter::legacy`], then [`From`].
    pub fn manager(pattern: &str) -> Result<Filter, FilterError> {
        Ok(ManagerFilter::legacy(pattern)?.into())
    }

    /// The `eventfilter` lines of manager.conf, in either syntax, one a line
    /// (`eventfilter = !Event: Newexten`, `eventfilter(action(include),name(Hangup)) =`), as
    /// Asterisk applies them together to one user: one [`FilterSet`]. Blank lines and `;`
    /// comments are skipped; any other line is an error (so that a bare pattern is never read
    /// as no filter at all: use [`manager`](Filter::manager) for one). `Malformed` offsets are
    /// relative to `text`. No `eventfilter` line lets everything through.
    pub fn manager_conf(text: &str) -> Result<Filter, FilterError> {
        let mut set = FilterSet::new();
        let mut start = 0;
        for line in text.split('\n') {
            let at = start;
            start += line.len() + 1;
            match set.add_manager_conf_line(line) {
                Ok(true) => {}
                Ok(false) => {
                    let body = strip_conf_comment(line);
                    let t = strip_blanks(&body);
                    if !t.is_empty() {
                        let lead = body.len()
                            - body
                                .trim_start_matches(|c: char| c.is_ascii() && is_blank(c as u8))
                                .len();
                        return Err(FilterError::malformed("not an eventfilter line", at + lead));
                    }
                }
                Err(e) => return Err(e.shifted(at)),
            }
        }
        Ok(set.into())
    }

    /// Every filter passes (true when there is none).
    pub fn all_of(filters: impl IntoIterator<Item = Filter>) -> Filter {
        Filter(Node::All(filters.into_iter().map(|f| f.0).collect()))
    }

    /// At least one filter passes (false when there is none).
    pub fn any_of(filters: impl IntoIterator<Item = Filter>) -> Filter {
        Filter(Node::Any(filters.into_iter().map(|f| f.0).collect()))
    }

    /// Both pass (the `&` operator); `self` is evaluated first. `other` can be anything that
    /// converts to a filter, a [`FilterSet`] for one.
    pub fn and(self, other: impl Into<Filter>) -> Filter {
        match (self.0, other.into().0) {
            (Node::All(mut v), Node::All(w)) => {
                v.extend(w);
                Filter(Node::All(v))
            }
            (Node::All(mut v), o) => {
                v.push(o);
                Filter(Node::All(v))
            }
            (s, Node::All(mut w)) => {
                w.insert(0, s);
                Filter(Node::All(w))
            }
            (s, o) => Filter(Node::All(vec![s, o])),
        }
    }

    /// Either passes (the `|` operator); `self` is evaluated first.
    pub fn or(self, other: impl Into<Filter>) -> Filter {
        match (self.0, other.into().0) {
            (Node::Any(mut v), Node::Any(w)) => {
                v.extend(w);
                Filter(Node::Any(v))
            }
            (Node::Any(mut v), o) => {
                v.push(o);
                Filter(Node::Any(v))
            }
            (s, Node::Any(mut w)) => {
                w.insert(0, s);
                Filter(Node::Any(w))
            }
            (s, o) => Filter(Node::Any(vec![s, o])),
        }
    }

    /// The opposite (the `!` operator): what this filter keeps out passes.
    pub fn negate(self) -> Filter {
        match self.0 {
            Node::Not(n) => Filter(*n),
            n => Filter(Node::Not(Box::new(n))),
        }
    }

    /// Whether the message passes. Does not allocate.
    #[inline]
    pub fn matches(&self, msg: &MessageRef<'_>) -> bool {
        self.0.matches(msg)
    }
}

impl<F: Into<Filter>> BitAnd<F> for Filter {
    type Output = Filter;
    /// [`Filter::and`].
    fn bitand(self, rhs: F) -> Filter {
        self.and(rhs)
    }
}

impl<F: Into<Filter>> BitOr<F> for Filter {
    type Output = Filter;
    /// [`Filter::or`].
    fn bitor(self, rhs: F) -> Filter {
        self.or(rhs)
    }
}

impl Not for Filter {
    type Output = Filter;
    /// [`Filter::negate`].
    fn not(self) -> Filter {
        self.negate()
    }
}

// ---------------------------------------------------------------------------------------------
// manager.conf filters
// ---------------------------------------------------------------------------------------------

/// Whether a manager filter lets matching events in or keeps them out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FilterAction {
    /// `action(include)`, or a legacy pattern without `!`: matching events are delivered.
    Include,
    /// `action(exclude)`, or a pattern with a leading `!`: matching events are dropped.
    Exclude,
}

impl FilterAction {
    /// `"include"` or `"exclude"`, as written in `action()`.
    pub fn as_str(self) -> &'static str {
        match self {
            FilterAction::Include => "include",
            FilterAction::Exclude => "exclude",
        }
    }
}

impl fmt::Display for FilterAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `method()` of a manager filter: how the pattern is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchMethod {
    /// POSIX extended regex, unanchored (the legacy filters' method).
    Regex,
    /// The whole text (or header value) equals the pattern.
    Exact,
    /// The text starts with the pattern.
    StartsWith,
    /// The text ends with the pattern.
    EndsWith,
    /// The text contains the pattern.
    Contains,
    /// No comparison: `name()` / `header()` alone decide (the pattern must be empty). The
    /// default when `method()` is absent.
    None,
}

impl MatchMethod {
    /// The name used in `method()`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchMethod::Regex => "regex",
            MatchMethod::Exact => "exact",
            MatchMethod::StartsWith => "starts_with",
            MatchMethod::EndsWith => "ends_with",
            MatchMethod::Contains => "contains",
            MatchMethod::None => "none",
        }
    }
}

impl fmt::Display for MatchMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MatchMethod {
    type Err = FilterError;

    /// Parses a `method()` value; case-sensitive, as in Asterisk.
    fn from_str(s: &str) -> Result<MatchMethod, FilterError> {
        Ok(match s {
            "regex" => MatchMethod::Regex,
            "exact" => MatchMethod::Exact,
            "starts_with" => MatchMethod::StartsWith,
            "ends_with" => MatchMethod::EndsWith,
            "contains" => MatchMethod::Contains,
            "none" => MatchMethod::None,
            _ => {
                return Err(FilterError::malformed(
                    format!(
                        "unknown method '{s}' (expected regex, exact, starts_with, ends_with, \
                         contains or none)"
                    ),
                    0,
                ))
            }
        })
    }
}

/// Whether an Asterisk release understands the new `eventfilter(action,name,header,method)`
/// syntax (and `MatchCriteria:` in the `Filter` action): 18.26.0, 20.11.0, 21.6.0, 22.1.0,
/// 23.0.0 and later of each branch (never 19). Legacy filters work on every release.
pub fn advanced_syntax_supported(major: u32, minor: u32) -> bool {
    match major {
        18 => minor >= 26,
        20 => minor >= 11,
        21 => minor >= 6,
        22 => minor >= 1,
        m => m >= 23,
    }
}

#[derive(Clone, Debug)]
enum Matcher {
    Regex(Regex),
    Contains(Box<Finder<'static>>),
    /// Exact, starts_with, ends_with: compared with the pattern's bytes.
    Literal,
    Always,
}

/// One Asterisk event filter: an `eventfilter` line of `manager.conf`, or a `Filter` action.
///
/// Built by parsing ([`legacy`](ManagerFilter::legacy), [`parse`](ManagerFilter::parse),
/// [`parse_eventfilter_line`](ManagerFilter::parse_eventfilter_line),
/// [`parse_manager_conf_line`](ManagerFilter::parse_manager_conf_line)) or in code
/// ([`include`](ManagerFilter::include) / [`exclude`](ManagerFilter::exclude)). Two filters are
/// equal when they filter the same way: the syntax they were written in is not kept, and
/// rendering picks the legacy form whenever it can express the filter, since every Asterisk
/// release understands it.
///
/// Accepted input is a subset of what Asterisk accepts, with the same meaning: Asterisk also
/// takes some sloppy forms (option names are compared by prefix, a missing final `)` or junk
/// between `eventfilter` and `(` goes unnoticed, a repeated option silently replaces the
/// earlier one); here the first two are errors and the last one is kept (last wins). Option
/// values cannot hold blanks, `,`, `(`, `)`, `=` or `;`, and `header()` cannot hold `:` except
/// at its end (where it is dropped, as Asterisk appends one anyway).
#[derive(Clone)]
pub struct ManagerFilter {
    action: FilterAction,
    name: Option<Box<str>>,
    header: Option<Box<str>>,
    method: MatchMethod,
    pattern: Box<str>,
    matcher: Matcher,
}

impl PartialEq for ManagerFilter {
    fn eq(&self, other: &Self) -> bool {
        self.action == other.action
            && self.name == other.name
            && self.header == other.header
            && self.method == other.method
            && self.pattern == other.pattern
    }
}

impl Eq for ManagerFilter {}

impl std::hash::Hash for ManagerFilter {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.action.hash(state);
        self.name.hash(state);
        self.header.hash(state);
        self.method.hash(state);
        self.pattern.hash(state);
    }
}

impl fmt::Debug for ManagerFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagerFilter")
            .field("action", &self.action)
            .field("name", &self.name)
            .field("header", &self.header)
            .field("method", &self.method)
            .field("pattern", &self.pattern)
            .finish()
    }
}

impl fmt::Display for ManagerFilter {
    /// The `manager.conf` line ([`to_manager_conf_line`](ManagerFilter::to_manager_conf_line)).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_manager_conf_line())
    }
}

/// The options of a new-syntax filter, as parsed.
#[derive(Default)]
struct Criteria<'a> {
    action: Option<FilterAction>,
    name: Option<&'a str>,
    header: Option<&'a str>,
    method: Option<MatchMethod>,
}

/// ASCII blanks as Asterisk's `ast_skip_blanks` / `ast_strip` see them: every byte below 33.
#[inline]
fn is_blank(b: u8) -> bool {
    b < 33
}

fn strip_blanks(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_blank(c as u8))
}

/// A byte allowed in an option value: not blank, not DEL, not one of the separators of the
/// syntax (Asterisk splits at blanks, `,` and `)`), nor `=` / `;` (which `manager.conf` would
/// take for the assignment or a comment).
#[inline]
fn is_value_byte(b: u8) -> bool {
    !is_blank(b) && b != 0x7f && !matches!(b, b',' | b'(' | b')' | b'=' | b';')
}

fn parse_criteria(s: &str) -> Result<Criteria<'_>, FilterError> {
    let b = s.as_bytes();
    let len = b.len();
    let mut i = 0;
    let mut c = Criteria::default();
    let mut count = 0usize;
    let skip_ws = |i: &mut usize| {
        while *i < len && matches!(b[*i], b' ' | b'\t') {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i == len {
            return Err(FilterError::malformed(
                if count == 0 {
                    "no action(), name(), header() or method() option"
                } else {
                    "expected an option after ','"
                },
                i,
            ));
        }
        let kw_start = i;
        while i < len && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let kw = &s[kw_start..i];
        if !matches!(kw, "action" | "name" | "header" | "method") {
            return Err(FilterError::malformed(
                if kw.is_empty() {
                    "expected an option: action(), name(), header() or method()".to_owned()
                } else {
                    format!("unknown option '{kw}' (expected action, name, header or method)")
                },
                kw_start,
            ));
        }
        if b.get(i) != Some(&b'(') {
            return Err(FilterError::malformed(
                format!("expected '(' after '{kw}'"),
                i,
            ));
        }
        i += 1;
        let v_start = i;
        while i < len && is_value_byte(b[i]) {
            i += 1;
        }
        if b.get(i) != Some(&b')') {
            let reason = match s[i..].chars().next() {
                None => format!("missing ')' after the {kw}() value"),
                Some(ch) => format!("invalid character {ch:?} in the {kw}() value"),
            };
            return Err(FilterError::malformed(reason, i));
        }
        let v = &s[v_start..i];
        if v.is_empty() {
            return Err(FilterError::malformed(
                format!("empty {kw}() value"),
                v_start,
            ));
        }
        match kw {
            "action" => {
                c.action = Some(match v {
                    "include" => FilterAction::Include,
                    "exclude" => FilterAction::Exclude,
                    _ => {
                        return Err(FilterError::malformed(
                            format!("unknown action '{v}' (expected include or exclude)"),
                            v_start,
                        ))
                    }
                })
            }
            "method" => {
                c.method = Some(v.parse().map_err(|e: FilterError| e.shifted(v_start))?);
            }
            "header" => {
                let h = v.strip_suffix(':').unwrap_or(v);
                if h.is_empty() {
                    return Err(FilterError::malformed("empty header() value", v_start));
                }
                if let Some(p) = h.find(':') {
                    return Err(FilterError::malformed(
                        "a header() name cannot contain ':'",
                        v_start + p,
                    ));
                }
                c.header = Some(h);
            }
            _ => c.name = Some(v),
        }
        count += 1;
        i += 1;
        skip_ws(&mut i);
        if i == len {
            return Ok(c);
        }
        if b[i] != b',' {
            return Err(FilterError::malformed("expected ',' between options", i));
        }
        i += 1;
    }
}

/// Splits an `eventfilter` key into its criteria (`None` for the legacy form). Offsets in errors
/// are relative to `key`.
fn parse_key(key: &str) -> Result<Option<&str>, FilterError> {
    let lead = key.len()
        - key
            .trim_start_matches(|c: char| c.is_ascii() && is_blank(c as u8))
            .len();
    let k = strip_blanks(key);
    let Some(rest) = k.strip_prefix("eventfilter") else {
        return Err(FilterError::malformed(
            "not an eventfilter key (expected 'eventfilter' or 'eventfilter(...)')",
            lead,
        ));
    };
    let at = lead + "eventfilter".len();
    let trimmed = rest.trim_start_matches([' ', '\t']);
    let at = at + (rest.len() - trimmed.len());
    if trimmed.is_empty() {
        return Ok(None);
    }
    let Some(inner) = trimmed.strip_prefix('(') else {
        return Err(FilterError::malformed(
            "expected '(' or nothing after 'eventfilter'",
            at,
        ));
    };
    let Some(inner) = inner.strip_suffix(')') else {
        return Err(FilterError::malformed(
            "missing ')' at the end of the eventfilter key",
            lead + k.len(),
        ));
    };
    if strip_blanks(inner).is_empty() {
        return Err(FilterError::malformed(
            "no action(), name(), header() or method() option",
            at + 1,
        ));
    }
    Ok(Some(inner))
}

/// Checks that a pattern can be carried by `manager.conf` and by an AMI header.
fn check_transportable(pattern: &str) -> Result<(), FilterError> {
    if pattern.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(FilterError::pattern(
            pattern,
            "contains CR, LF or NUL, which no eventfilter line or AMI header can carry",
        ));
    }
    if pattern.bytes().last().is_some_and(is_blank) {
        return Err(FilterError::pattern(
            pattern,
            "ends with a blank, which manager.conf would strip",
        ));
    }
    Ok(())
}

fn check_field(field: &'static str, value: &str) -> Result<(), FilterError> {
    let bad = |reason| FilterError::InvalidField {
        field,
        value: value.to_owned(),
        reason,
    };
    if value.is_empty() {
        return Err(bad("empty"));
    }
    if !value.bytes().all(is_value_byte) {
        return Err(bad(
            "contains a blank or one of , ( ) = ; which the eventfilter syntax cannot hold",
        ));
    }
    if field == "header" && value.contains(':') {
        return Err(bad("a header name cannot contain ':'"));
    }
    Ok(())
}

/// Translates a POSIX extended regex (glibc flavour) into the `regex` crate's syntax; see the
/// module documentation for what changes.
fn translate_ere(p: &str) -> Result<String, String> {
    let chars: Vec<char> = p.chars().collect();
    let n = chars.len();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    while i < n {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&e) = chars.get(i + 1) else {
                    return Err("trailing backslash".to_owned());
                };
                match e {
                    '1'..='9' => {
                        return Err(format!(
                            "back-reference \\{e} is not supported (the regex crate has none)"
                        ))
                    }
                    'w' | 'W' | 's' | 'S' | 'b' | 'B' | '<' | '>' => {
                        out.push('\\');
                        out.push(e);
                    }
                    '`' => out.push_str(r"\A"),
                    '\'' => out.push_str(r"\z"),
                    e if e.is_ascii_punctuation() => {
                        out.push('\\');
                        out.push(e);
                    }
                    // Any other escaped character is itself (glibc: `\d` is `d`).
                    e => push_literal(&mut out, e),
                }
                i += 2;
            }
            '[' => {
                i = translate_bracket(&chars, i, &mut out)?;
            }
            '{' if chars.get(i + 1) == Some(&',') => {
                out.push_str("{0");
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Pushes `c` as a literal of the `regex` crate's syntax.
fn push_literal(out: &mut String, c: char) {
    if c.is_ascii_punctuation() || c == ' ' {
        out.push('\\');
    }
    out.push(c);
}

/// Translates the bracket expression starting at `chars[start] == '['`; returns the index
/// after its closing `]`.
fn translate_bracket(chars: &[char], start: usize, out: &mut String) -> Result<usize, String> {
    let n = chars.len();
    let mut i = start + 1;
    let mut cls = String::from("[");
    let mut non_ascii = false;
    if chars.get(i) == Some(&'^') {
        cls.push('^');
        i += 1;
    }
    let mut first = true;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err("unmatched [ or [^".to_owned());
        };
        if c == ']' && !first {
            cls.push(']');
            i += 1;
            break;
        }
        first = false;
        if c == '[' && matches!(chars.get(i + 1), Some(':' | '.' | '=')) {
            let delim = chars[i + 1];
            let mut j = i + 2;
            while j + 1 < n && !(chars[j] == delim && chars[j + 1] == ']') {
                j += 1;
            }
            if j + 1 >= n {
                return Err(format!("unterminated [{delim} in a bracket expression"));
            }
            let inner: String = chars[i + 2..j].iter().collect();
            if delim == ':' {
                cls.push_str("[:");
                cls.push_str(&inner);
                cls.push_str(":]");
            } else {
                let mut it = inner.chars();
                match (it.next(), it.next()) {
                    (Some(e), None) => {
                        non_ascii |= !e.is_ascii();
                        push_class_literal(&mut cls, e);
                    }
                    _ => {
                        return Err(format!(
                            "collating element [{delim}{inner}{delim}] is not supported"
                        ))
                    }
                }
            }
            i = j + 2;
            continue;
        }
        non_ascii |= !c.is_ascii();
        if c == '-' {
            cls.push('-');
        } else {
            push_class_literal(&mut cls, c);
        }
        i += 1;
    }
    if non_ascii {
        out.push_str("(?u:");
        out.push_str(&cls);
        out.push(')');
    } else {
        out.push_str(&cls);
    }
    Ok(i)
}

fn push_class_literal(cls: &mut String, c: char) {
    if matches!(c, '\\' | '[' | ']' | '&' | '~' | '^' | '-') {
        cls.push('\\');
    }
    cls.push(c);
}

/// Compiles a manager filter's POSIX regex.
fn compile_ere(pattern: &str) -> Result<Regex, FilterError> {
    let invalid = |message: String| FilterError::InvalidRegex {
        pattern: pattern.to_owned(),
        message,
    };
    let translated = translate_ere(pattern).map_err(invalid)?;
    RegexBuilder::new(&translated)
        .unicode(false)
        .dot_matches_new_line(true)
        .build()
        .map_err(|e| {
            let msg = e.to_string();
            let last = msg.lines().last().unwrap_or(&msg);
            invalid(last.trim_start_matches("error: ").to_owned())
        })
}

impl ManagerFilter {
    /// Assembles and checks a filter as `manager_add_filter` does. `raw` is the pattern text as
    /// written (a leading `!` still on it); `criteria` is `None` for the legacy form.
    fn assemble(criteria: Option<Criteria<'_>>, raw: &str) -> Result<ManagerFilter, FilterError> {
        check_transportable(raw)?;
        let (bang, pattern) = match raw.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, raw),
        };
        let default_action = if bang {
            FilterAction::Exclude
        } else {
            FilterAction::Include
        };
        let (action, name, header, method) = match criteria {
            None => {
                if pattern.is_empty() {
                    return Err(FilterError::pattern(raw, "a legacy filter needs a pattern"));
                }
                (default_action, None, None, MatchMethod::Regex)
            }
            Some(c) => {
                let method = c.method.unwrap_or(MatchMethod::None);
                if pattern.is_empty() && method != MatchMethod::None {
                    return Err(FilterError::pattern(
                        raw,
                        format!("method({method}) needs a pattern"),
                    ));
                }
                if !pattern.is_empty() && method == MatchMethod::None {
                    return Err(FilterError::pattern(
                        raw,
                        "method(none), the default without method(), takes no pattern",
                    ));
                }
                if c.name.is_none() && c.header.is_none() && method == MatchMethod::None {
                    return Err(FilterError::pattern(
                        raw,
                        "without a pattern, name() or header() is needed",
                    ));
                }
                (c.action.unwrap_or(default_action), c.name, c.header, method)
            }
        };
        ManagerFilter::build_checked(action, name, header, method, pattern)
    }

    /// Builds the filter from checked parts and compiles its matcher.
    fn build_checked(
        action: FilterAction,
        name: Option<&str>,
        header: Option<&str>,
        method: MatchMethod,
        pattern: &str,
    ) -> Result<ManagerFilter, FilterError> {
        let matcher = match method {
            MatchMethod::Regex => Matcher::Regex(compile_ere(pattern)?),
            MatchMethod::Contains => {
                Matcher::Contains(Box::new(Finder::new(pattern.as_bytes()).into_owned()))
            }
            MatchMethod::Exact | MatchMethod::StartsWith | MatchMethod::EndsWith => {
                Matcher::Literal
            }
            MatchMethod::None => Matcher::Always,
        };
        Ok(ManagerFilter {
            action,
            name: name.map(Into::into),
            header: header.map(Into::into),
            method,
            pattern: pattern.into(),
            matcher,
        })
    }

    /// A legacy filter: the value of `eventfilter = <text>`, or the `Filter:` value of a
    /// `Filter` action without `MatchCriteria`. A POSIX extended regex over the whole event
    /// text; a leading `!` makes it an exclude filter.
    pub fn legacy(text: &str) -> Result<ManagerFilter, FilterError> {
        ManagerFilter::assemble(None, text)
    }

    /// A filter as the `Filter` action defines it: `criteria` is the `MatchCriteria:` value
    /// (`action(exclude),name(Newchannel),...`; empty for a legacy filter) and `pattern` the
    /// `Filter:` value. `Malformed` offsets are relative to `criteria`.
    pub fn parse(criteria: &str, pattern: &str) -> Result<ManagerFilter, FilterError> {
        if strip_blanks(criteria).is_empty() {
            return ManagerFilter::legacy(pattern);
        }
        let c = parse_criteria(criteria)?;
        ManagerFilter::assemble(Some(c), pattern)
    }

    /// A filter from a `manager.conf` line split at its `=`: `key` is `eventfilter` or
    /// `eventfilter(<criteria>)`, `value` the pattern. Both are stripped of surrounding blanks
    /// as Asterisk's config parser does. `Malformed` offsets are relative to `key`.
    pub fn parse_eventfilter_line(key: &str, value: &str) -> Result<ManagerFilter, FilterError> {
        let value = strip_blanks(value);
        match parse_key(key)? {
            None => ManagerFilter::legacy(value),
            Some(inner) => {
                let offset = inner.as_ptr() as usize - key.as_ptr() as usize;
                let c = parse_criteria(inner).map_err(|e| e.shifted(offset))?;
                ManagerFilter::assemble(Some(c), value)
            }
        }
    }

    /// A filter from a whole `manager.conf` line (`eventfilter(...) = pattern`): a `;` comment
    /// is dropped (`\;` is a literal `;`), the line is split at its first `=` (a `=>` counts as
    /// `=`), then read as [`parse_eventfilter_line`](Self::parse_eventfilter_line).
    /// `Malformed` offsets are relative to `line`.
    pub fn parse_manager_conf_line(line: &str) -> Result<ManagerFilter, FilterError> {
        let (key, value) = split_conf_line(line)?;
        ManagerFilter::parse_eventfilter_line(&key, &value)
    }

    /// Starts building an include filter in code.
    pub fn include() -> ManagerFilterBuilder {
        ManagerFilterBuilder::new(FilterAction::Include)
    }

    /// Starts building an exclude filter in code.
    pub fn exclude() -> ManagerFilterBuilder {
        ManagerFilterBuilder::new(FilterAction::Exclude)
    }

    /// Include or exclude.
    pub fn action(&self) -> FilterAction {
        self.action
    }

    /// `true` for an exclude filter.
    pub fn is_exclude(&self) -> bool {
        self.action == FilterAction::Exclude
    }

    /// The `name()` option: the only event name the filter applies to (case-sensitive).
    pub fn event_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The `header()` option, without its colon: the header whose values are tested instead of
    /// the whole event text (case-sensitive).
    pub fn header(&self) -> Option<&str> {
        self.header.as_deref()
    }

    /// The comparison.
    pub fn method(&self) -> MatchMethod {
        self.method
    }

    /// The pattern, without the `!` that may have marked an exclude filter.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Whether the legacy form (`eventfilter = [!]regex`) can express this filter: no `name()`,
    /// no `header()`, `method(regex)`, and a pattern that a leading `!` or blank would not
    /// change the meaning of.
    fn legacy_form(&self) -> bool {
        self.name.is_none()
            && self.header.is_none()
            && self.method == MatchMethod::Regex
            && (self.action == FilterAction::Exclude || !self.pattern_needs_bang())
    }

    /// A pattern starting with `!` or a blank must get a `!` in front when an `action()`
    /// decides, or the transports would eat its first character.
    fn pattern_needs_bang(&self) -> bool {
        self.pattern
            .bytes()
            .next()
            .is_some_and(|b| b == b'!' || is_blank(b))
    }

    /// Whether this filter needs the new syntax, hence Asterisk 18.26.0, 20.11.0, 21.6.0,
    /// 22.1.0, 23.0.0 or later ([`advanced_syntax_supported`]).
    pub fn needs_advanced_syntax(&self) -> bool {
        !self.legacy_form()
    }

    /// The criteria in the new syntax (`action(exclude),name(Newchannel),header(Channel),
    /// method(starts_with)`), as the `MatchCriteria:` value or inside `eventfilter(...)`;
    /// `None` when the legacy form expresses the filter. `method()` is left out when `none`.
    pub fn match_criteria(&self) -> Option<String> {
        if self.legacy_form() {
            return None;
        }
        let mut s = format!("action({})", self.action);
        if let Some(n) = &self.name {
            s.push_str(&format!(",name({n})"));
        }
        if let Some(h) = &self.header {
            s.push_str(&format!(",header({h})"));
        }
        if self.method != MatchMethod::None {
            s.push_str(&format!(",method({})", self.method));
        }
        Some(s)
    }

    /// The pattern as written after `=` or in the `Filter:` header: with a `!` in front for a
    /// legacy exclude filter, or, in the new syntax, when the pattern itself starts with `!` or
    /// a blank (Asterisk removes one leading `!` whatever `action()` says).
    pub fn filter_value(&self) -> String {
        let bang = if self.legacy_form() {
            self.action == FilterAction::Exclude
        } else {
            self.pattern_needs_bang()
        };
        if bang {
            format!("!{}", self.pattern)
        } else {
            self.pattern.to_string()
        }
    }

    /// The `Filter` action that adds this filter on the server (see
    /// [`to_action_headers`](Self::to_action_headers)); it has an
    /// [`error`](crate::Action::error) only if the pattern cannot travel in a header.
    pub fn to_action(&self) -> crate::Action {
        let mut action = crate::Action::new("Filter");
        for (k, v) in self.to_action_headers() {
            action.push_header(&k, &v);
        }
        action
    }

    /// The headers of the `Filter` action adding this filter on the server, in order:
    /// `Operation: Add`, then `MatchCriteria` (new syntax only), then `Filter` (sent even when
    /// empty, which Asterisk reads as no pattern). `Action: Filter` itself is not included. The
    /// action needs the `system` write permission.
    pub fn to_action_headers(&self) -> Vec<(String, String)> {
        let mut v = vec![("Operation".to_owned(), "Add".to_owned())];
        if let Some(c) = self.match_criteria() {
            v.push(("MatchCriteria".to_owned(), c));
        }
        v.push(("Filter".to_owned(), self.filter_value()));
        v
    }

    /// The `manager.conf` line for this filter (`eventfilter = !Event: Newexten`,
    /// `eventfilter(action(include),name(UserEvent)) =`), with `;` escaped as `\;`.
    /// [`parse_manager_conf_line`](Self::parse_manager_conf_line) reads it back to an equal
    /// filter.
    pub fn to_manager_conf_line(&self) -> String {
        let key = match self.match_criteria() {
            Some(c) => format!("eventfilter({c})"),
            None => "eventfilter".to_owned(),
        };
        let value = self.filter_value().replace(';', "\\;");
        if value.is_empty() {
            format!("{key} =")
        } else {
            format!("{key} = {value}")
        }
    }

    #[inline]
    fn match_data(&self, data: &[u8]) -> bool {
        match &self.matcher {
            Matcher::Regex(r) => r.is_match(data),
            Matcher::Contains(f) => f.find(data).is_some(),
            Matcher::Literal => {
                let p = self.pattern.as_bytes();
                match self.method {
                    MatchMethod::Exact => data == p,
                    MatchMethod::StartsWith => data.starts_with(p),
                    _ => data.ends_with(p),
                }
            }
            Matcher::Always => true,
        }
    }

    /// Whether the event matches this filter, as Asterisk's `filter_cmp_fn` decides (whether it
    /// is then delivered depends on the whole [`FilterSet`]). Does not allocate.
    pub fn matches(&self, msg: &MessageRef<'_>) -> bool {
        if let Some(name) = &self.name {
            if msg.event() != Some(name.as_bytes()) {
                return false;
            }
        }
        match &self.header {
            None => self.match_data(msg.as_bytes()),
            Some(h) => {
                let h = h.as_bytes();
                msg.iter().any(|hd| {
                    if !hd.has_colon() || hd.name() != h {
                        return false;
                    }
                    let v = hd.value();
                    let skip = v.iter().position(|&b| !is_blank(b)).unwrap_or(v.len());
                    let v = &v[skip..];
                    !v.is_empty() && self.match_data(v)
                })
            }
        }
    }
}

/// Splits a `manager.conf` line into key and value as Asterisk's config parser does (comment
/// dropped, split at the first `=`, a `>` right after it skipped). The key starts at offset 0
/// of the line.
fn split_conf_line(line: &str) -> Result<(String, String), FilterError> {
    let line = strip_conf_comment(line);
    let Some(eq) = line.find('=') else {
        return Err(FilterError::malformed("no '=' in the line", line.len()));
    };
    let value = &line[eq + 1..];
    let value = value.strip_prefix('>').unwrap_or(value);
    Ok((line[..eq].to_owned(), value.to_owned()))
}

/// Drops a `;` comment; `\;` becomes `;` (Asterisk's config parser).
fn strip_conf_comment(line: &str) -> Cow<'_, str> {
    if !line.contains(';') {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut prev_backslash = false;
    for c in line.chars() {
        if c == ';' {
            if prev_backslash {
                out.pop();
                out.push(';');
                prev_backslash = false;
                continue;
            }
            break;
        }
        prev_backslash = c == '\\';
        out.push(c);
    }
    Cow::Owned(out)
}

/// Builds a [`ManagerFilter`] in code; see [`ManagerFilter::include`].
///
/// ```
/// use amiwire::filter::ManagerFilter;
/// let f = ManagerFilter::exclude()
///     .header("Channel")
///     .starts_with("Local/")
///     .build()
///     .unwrap();
/// assert_eq!(
///     f.to_manager_conf_line(),
///     "eventfilter(action(exclude),header(Channel),method(starts_with)) = Local/"
/// );
/// ```
#[derive(Clone, Debug)]
pub struct ManagerFilterBuilder {
    action: FilterAction,
    name: Option<String>,
    header: Option<String>,
    method: MatchMethod,
    pattern: String,
}

impl ManagerFilterBuilder {
    fn new(action: FilterAction) -> ManagerFilterBuilder {
        ManagerFilterBuilder {
            action,
            name: None,
            header: None,
            method: MatchMethod::None,
            pattern: String::new(),
        }
    }

    /// Applies only to events called `name` (case-sensitive, as Asterisk compares).
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Tests the values of the `header` lines instead of the whole event text (case-sensitive;
    /// one trailing `:` is dropped).
    pub fn header(mut self, header: &str) -> Self {
        self.header = Some(header.strip_suffix(':').unwrap_or(header).to_owned());
        self
    }

    /// Sets the method and its pattern (empty for [`MatchMethod::None`]).
    pub fn method(mut self, method: MatchMethod, pattern: &str) -> Self {
        self.method = method;
        self.pattern = pattern.to_owned();
        self
    }

    /// `method(regex)`: a POSIX extended regex, unanchored.
    pub fn regex(self, pattern: &str) -> Self {
        self.method(MatchMethod::Regex, pattern)
    }

    /// `method(exact)`.
    pub fn exact(self, pattern: &str) -> Self {
        self.method(MatchMethod::Exact, pattern)
    }

    /// `method(starts_with)`.
    pub fn starts_with(self, pattern: &str) -> Self {
        self.method(MatchMethod::StartsWith, pattern)
    }

    /// `method(ends_with)`.
    pub fn ends_with(self, pattern: &str) -> Self {
        self.method(MatchMethod::EndsWith, pattern)
    }

    /// `method(contains)`.
    pub fn contains(self, pattern: &str) -> Self {
        self.method(MatchMethod::Contains, pattern)
    }

    /// Checks the filter as Asterisk would and compiles it.
    pub fn build(self) -> Result<ManagerFilter, FilterError> {
        if let Some(n) = &self.name {
            check_field("name", n)?;
        }
        if let Some(h) = &self.header {
            check_field("header", h)?;
        }
        check_transportable(&self.pattern)?;
        let p = &self.pattern;
        if p.is_empty() && self.method != MatchMethod::None {
            return Err(FilterError::pattern(
                p,
                format!("method({}) needs a pattern", self.method),
            ));
        }
        if !p.is_empty() && self.method == MatchMethod::None {
            return Err(FilterError::pattern(p, "method(none) takes no pattern"));
        }
        if self.method == MatchMethod::None && self.name.is_none() && self.header.is_none() {
            return Err(FilterError::pattern(
                p,
                "without a pattern, name() or header() is needed",
            ));
        }
        ManagerFilter::build_checked(
            self.action,
            self.name.as_deref(),
            self.header.as_deref(),
            self.method,
            p,
        )
    }
}

/// A session's event filters, as Asterisk keeps them: include filters and exclude filters.
///
/// ```
/// use amiwire::filter::FilterSet;
/// let mut set = FilterSet::new();
/// set.add_legacy("Event: Hangup").unwrap();
/// set.add_legacy("!Event: Newexten").unwrap();
/// set.add_criteria("action(include),name(UserEvent)", "").unwrap();
/// assert_eq!((set.includes().len(), set.excludes().len()), (2, 1));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterSet {
    include: Vec<ManagerFilter>,
    exclude: Vec<ManagerFilter>,
}

impl FilterSet {
    /// No filter: everything passes.
    pub fn new() -> FilterSet {
        FilterSet::default()
    }

    /// Adds a filter to the include or exclude list, as its action says.
    pub fn add(&mut self, f: ManagerFilter) -> &mut Self {
        match f.action {
            FilterAction::Include => self.include.push(f),
            FilterAction::Exclude => self.exclude.push(f),
        }
        self
    }

    /// Adds a legacy filter ([`ManagerFilter::legacy`]).
    pub fn add_legacy(&mut self, text: &str) -> Result<&mut Self, FilterError> {
        Ok(self.add(ManagerFilter::legacy(text)?))
    }

    /// Adds a filter given as the `Filter` action gives it ([`ManagerFilter::parse`]).
    pub fn add_criteria(
        &mut self,
        criteria: &str,
        pattern: &str,
    ) -> Result<&mut Self, FilterError> {
        Ok(self.add(ManagerFilter::parse(criteria, pattern)?))
    }

    /// Adds the filter of a `manager.conf` line split at its `=`
    /// ([`ManagerFilter::parse_eventfilter_line`]).
    pub fn parse_eventfilter_line(
        &mut self,
        key: &str,
        value: &str,
    ) -> Result<&mut Self, FilterError> {
        Ok(self.add(ManagerFilter::parse_eventfilter_line(key, value)?))
    }

    /// Reads one line of a `manager.conf` user section: adds its filter if it is an
    /// `eventfilter` line and returns `Ok(true)`; returns `Ok(false)` for any other line
    /// (blank, comment, section header, another key).
    pub fn add_manager_conf_line(&mut self, line: &str) -> Result<bool, FilterError> {
        let text = strip_conf_comment(line);
        let t = strip_blanks(&text);
        if !t.starts_with("eventfilter") {
            return Ok(false);
        }
        self.add(ManagerFilter::parse_manager_conf_line(line)?);
        Ok(true)
    }

    /// The include filters.
    pub fn includes(&self) -> &[ManagerFilter] {
        &self.include
    }

    /// The exclude filters.
    pub fn excludes(&self) -> &[ManagerFilter] {
        &self.exclude
    }

    /// Every filter: the include filters, then the exclude filters.
    pub fn iter(&self) -> impl Iterator<Item = &ManagerFilter> + '_ {
        self.include.iter().chain(self.exclude.iter())
    }

    /// Number of filters.
    pub fn len(&self) -> usize {
        self.include.len() + self.exclude.len()
    }

    /// `true` when there is no filter (everything passes).
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Removes every filter.
    pub fn clear(&mut self) {
        self.include.clear();
        self.exclude.clear();
    }

    /// Whether Asterisk would deliver this event (`should_send_event`): no filter, yes; include
    /// filters only, if one matches; exclude filters only, unless one matches; both, if an
    /// include filter matches and no exclude filter does. Asterisk filters asynchronous events
    /// only, so do not ask about responses. Does not allocate.
    pub fn matches(&self, msg: &MessageRef<'_>) -> bool {
        if !self.include.is_empty() && !self.include.iter().any(|f| f.matches(msg)) {
            return false;
        }
        !self.exclude.iter().any(|f| f.matches(msg))
    }

    /// The headers of one `Filter` action per filter ([`ManagerFilter::to_action_headers`]), to
    /// install or re-install the set on a session (filters added by action are lost when the
    /// session ends).
    pub fn to_action_headers(&self) -> Vec<Vec<(String, String)>> {
        self.iter().map(ManagerFilter::to_action_headers).collect()
    }
}

impl Extend<ManagerFilter> for FilterSet {
    fn extend<T: IntoIterator<Item = ManagerFilter>>(&mut self, iter: T) {
        for f in iter {
            self.add(f);
        }
    }
}

impl FromIterator<ManagerFilter> for FilterSet {
    fn from_iter<T: IntoIterator<Item = ManagerFilter>>(iter: T) -> FilterSet {
        let mut s = FilterSet::new();
        s.extend(iter);
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Fuzzing
// ---------------------------------------------------------------------------------------------

fn fuzz_messages() -> &'static [Message] {
    static MSGS: OnceLock<Vec<Message>> = OnceLock::new();
    MSGS.get_or_init(|| {
        let wire: &[u8] = b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: Local/200@test-00000015;1\r\nExten: 200\r\nAccountCode: \r\nUniqueid: 1795453660.43\r\n\r\n\
Event: Hangup\r\nPrivilege: call,all\r\nChannel: PJSIP/james-0001\r\nCause: 16\r\nCause-txt: Normal Clearing\r\n\r\n\
Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: MyEvent\r\nFoo: bar\r\nno colon line\r\nFoo:\r\n\r\n\
Response: Success\r\nActionID: 1\r\nMessage: Pong\r\n\r\n";
        let mut d = crate::Decoder::with_config(crate::DecoderConfig::without_banner());
        let mut out = Vec::new();
        let mut input = wire;
        while !input.is_empty() {
            let n = d.feed(input);
            input = &input[n..];
            while let Ok(Some(f)) = d.decode() {
                if let crate::Frame::Message(m) = f {
                    out.push(m.to_owned());
                }
            }
            if n == 0 {
                break;
            }
        }
        out
    })
}

fn fuzz_check_rule(r: &ManagerFilter) {
    let again = match r.match_criteria() {
        Some(c) => ManagerFilter::parse(&c, &r.filter_value()),
        None => ManagerFilter::legacy(&r.filter_value()),
    };
    assert_eq!(again.as_ref(), Ok(r), "criteria/Filter value round trip");
    let line = r.to_manager_conf_line();
    assert_eq!(
        ManagerFilter::parse_manager_conf_line(&line).as_ref(),
        Ok(r),
        "manager.conf line round trip: {line:?}"
    );
    let h = r.to_action_headers();
    let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(
        ManagerFilter::parse(
            get("MatchCriteria").unwrap_or(""),
            get("Filter").unwrap_or("")
        )
        .as_ref(),
        Ok(r),
        "action headers round trip"
    );
    for m in fuzz_messages() {
        let _ = r.matches(&m.as_ref());
    }
}

/// Fuzz entry point: parsing arbitrary text as a legacy filter, a criteria/pattern pair, a
/// `manager.conf` line or a structured regex never panics; a filter that parses renders and
/// re-parses to an equal filter in every form; matching never panics.
#[doc(hidden)]
pub fn fuzz_filter(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let text = &*text;
    if let Ok(r) = ManagerFilter::legacy(text) {
        fuzz_check_rule(&r);
    }
    let (crit, pat) = text.split_once('\n').unwrap_or((text, ""));
    if let Ok(r) = ManagerFilter::parse(crit, pat) {
        fuzz_check_rule(&r);
    }
    if let Ok(r) = ManagerFilter::parse_manager_conf_line(text) {
        fuzz_check_rule(&r);
    }
    if let Some((k, v)) = text.split_once('=') {
        if let Ok(r) = ManagerFilter::parse_eventfilter_line(k, v) {
            fuzz_check_rule(&r);
        }
    }
    let mut set = FilterSet::new();
    for line in text.lines() {
        let _ = set.add_manager_conf_line(line);
    }
    let p = Filter::header_regex("Channel", text).ok();
    let conf = Filter::manager_conf(text).ok();
    let as_filter = Filter::from(set.clone());
    let mixed = Filter::event("Hangup") & !Filter::from(set.clone());
    for m in fuzz_messages() {
        let m = m.as_ref();
        let server = set.matches(&m);
        assert_eq!(as_filter.matches(&m), server, "Filter::from(FilterSet)");
        assert_eq!(
            mixed.matches(&m),
            m.event() == Some(b"Hangup".as_slice()) && !server,
            "a FilterSet composed"
        );
        if let Some(conf) = &conf {
            // It parsed every line, so the loop above added the same filters.
            assert_eq!(conf.matches(&m), server, "Filter::manager_conf");
        }
        if let Some(p) = &p {
            let _ = p.matches(&m);
        }
    }
}
