//! The lossless message model: ordered header lines, keys with their original case, duplicates
//! kept, values as bytes.
//!
//! [`MessageRef`] borrows from the [`Decoder`](crate::Decoder)'s buffer (zero copy);
//! [`Message`] owns its bytes and is what you store or send to another thread.

use std::fmt;
use std::str;
use std::sync::Arc;

/// Where one header line lies inside a message's bytes (offsets relative to the message start).
///
/// A line without a colon is kept with `value_start == start`: its whole text is the value and
/// its name is empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) name_end: u32,
    pub(crate) value_start: u32,
    pub(crate) end: u32,
}

impl Span {
    #[inline]
    pub(crate) fn has_colon(&self) -> bool {
        self.value_start != self.start
    }
}

/// What a message is, known as soon as it is decoded (no second pass over its headers).
///
/// A message is an [`Event`](MessageKind::Event) when it has an `Event` header (the
/// `OriginateResponse` event also carries `Response:`, so `Event` is checked first), else a
/// [`Response`](MessageKind::Response) when it has a `Response` header, else an
/// [`Action`](MessageKind::Action) when it has an `Action` header (what a server decodes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// An event (`Event: ...`), asynchronous or an item of an event list.
    Event,
    /// A response to an action (`Response: Success|Error|Goodbye|Follows`).
    Response,
    /// An action, as a client sends it (`Action: ...`).
    Action,
    /// None of `Event`, `Response` or `Action` is present.
    Other,
}

/// Positions of the headers the protocol layers look at on every message (first occurrence,
/// since Asterisk's own header lookup takes the first match).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyIndex {
    pub(crate) event: Option<u32>,
    pub(crate) response: Option<u32>,
    pub(crate) action: Option<u32>,
    pub(crate) action_id: Option<u32>,
    pub(crate) event_list: Option<u32>,
}

impl KeyIndex {
    /// Notes header `idx` whose name is `name`. Dispatches on the length first, so the common
    /// case (a key of another length) costs one comparison. Returns whether the header is the
    /// message's first `Response` (the only one whose value the decoder then looks at, for
    /// `Follows`), so that the common case tests nothing more.
    #[inline(always)]
    pub(crate) fn note(&mut self, name: &[u8], idx: u32) -> bool {
        // Every key of interest starts with a, e or r: one test rejects most keys.
        match name.first().map(|b| b | 0x20) {
            Some(b'a' | b'e' | b'r') => {}
            _ => return false,
        }
        let slot = match name.len() {
            5 if name.eq_ignore_ascii_case(b"event") => &mut self.event,
            6 if name.eq_ignore_ascii_case(b"action") => &mut self.action,
            8 if name.eq_ignore_ascii_case(b"response") => {
                if self.response.is_some() {
                    return false;
                }
                self.response = Some(idx);
                return true;
            }
            8 if name.eq_ignore_ascii_case(b"actionid") => &mut self.action_id,
            9 if name.eq_ignore_ascii_case(b"eventlist") => &mut self.event_list,
            _ => return false,
        };
        if slot.is_none() {
            *slot = Some(idx);
        }
        false
    }

    pub(crate) fn kind(&self) -> MessageKind {
        if self.event.is_some() {
            MessageKind::Event
        } else if self.response.is_some() {
            MessageKind::Response
        } else if self.action.is_some() {
            MessageKind::Action
        } else {
            MessageKind::Other
        }
    }
}

/// One header line of a message.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    name: &'a [u8],
    value: &'a [u8],
    colon: bool,
}

impl<'a> Header<'a> {
    /// The key as it was on the wire (case kept). Empty for a line without a colon.
    pub fn name(&self) -> &'a [u8] {
        self.name
    }

    /// The value: the bytes after the colon, less one space if there was one; Asterisk's values
    /// are not always UTF-8. For a line without a colon, the whole line.
    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    /// The key as text, if it is UTF-8 (keys always are on real servers).
    pub fn name_str(&self) -> Option<&'a str> {
        str::from_utf8(self.name).ok()
    }

    /// The value as text, if it is valid UTF-8.
    pub fn value_str(&self) -> Option<&'a str> {
        str::from_utf8(self.value).ok()
    }

    /// `false` for a line that had no colon: kept (Asterisk itself sends a few, e.g. a bare LF
    /// inside a `Message:` value), but it can never match a key.
    pub fn has_colon(&self) -> bool {
        self.colon
    }

    /// Whether this header's key is `name`, compared ASCII case-insensitively as Asterisk does.
    pub fn is(&self, name: &str) -> bool {
        self.colon && self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

impl fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.colon {
            write!(
                f,
                "{}: {}",
                String::from_utf8_lossy(self.name),
                String::from_utf8_lossy(self.value)
            )
        } else {
            write!(f, "{}", String::from_utf8_lossy(self.value))
        }
    }
}

/// A decoded message borrowed from the decoder's buffer: no copy, no allocation.
///
/// Valid until the next call to [`Decoder::decode`](crate::Decoder::decode) or
/// [`Decoder::feed`](crate::Decoder::feed); call [`to_owned`](MessageRef::to_owned) to keep it.
#[derive(Clone, Copy)]
pub struct MessageRef<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) spans: &'a [Span],
    pub(crate) index: KeyIndex,
    /// Raw text of an old-style (`Response: Follows`) Command output, relative to `bytes`.
    pub(crate) body: Option<(u32, u32)>,
}

impl<'a> MessageRef<'a> {
    #[inline]
    fn header_at(&self, span: &Span) -> Header<'a> {
        let b = self.bytes;
        Header {
            name: &b[span.start as usize..span.name_end as usize],
            value: &b[span.value_start as usize..span.end as usize],
            colon: span.has_colon(),
        }
    }

    #[inline]
    fn value_at(&self, idx: Option<u32>) -> Option<&'a [u8]> {
        let span = self.spans.get(idx? as usize)?;
        Some(&self.bytes[span.value_start as usize..span.end as usize])
    }

    /// What the message is.
    pub fn kind(&self) -> MessageKind {
        self.index.kind()
    }

    /// The message exactly as it was on the wire, terminating blank line included. Legacy
    /// manager.conf filters run their regex over this text.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Number of header lines (lines without a colon included).
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// `true` when the message has no header line (never the case for a decoded message).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The `i`-th header line in wire order.
    pub fn header(&self, i: usize) -> Option<Header<'a>> {
        self.spans.get(i).map(|s| self.header_at(s))
    }

    /// All header lines in wire order.
    pub fn iter(&self) -> Headers<'a> {
        Headers {
            msg: *self,
            inner: self.spans.iter(),
        }
    }

    /// The value of the first header called `name` (ASCII case-insensitive, as Asterisk matches
    /// keys; the first of two equal keys wins, as in Asterisk).
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        let name = name.as_bytes();
        self.spans
            .iter()
            .find(|s| {
                s.has_colon()
                    && (s.name_end - s.start) as usize == name.len()
                    && self.bytes[s.start as usize..s.name_end as usize].eq_ignore_ascii_case(name)
            })
            .map(|s| &self.bytes[s.value_start as usize..s.end as usize])
    }

    /// [`get`](Self::get) as text; `None` when absent or not UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(|v| str::from_utf8(v).ok())
    }

    /// The values of every header called `name`, in wire order.
    pub fn get_all<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + 'n
    where
        'a: 'n,
    {
        self.iter().filter(move |h| h.is(name)).map(|h| h.value)
    }

    /// The event name (`Event:` value), for events.
    pub fn event(&self) -> Option<&'a [u8]> {
        self.value_at(self.index.event)
    }

    /// The `Response:` value (`Success`, `Error`, `Goodbye`, `Follows`). Also set on the
    /// `OriginateResponse` event, which carries a `Response:` header.
    pub fn response(&self) -> Option<&'a [u8]> {
        self.value_at(self.index.response)
    }

    /// The `Action:` value (for actions, as a server sees them).
    pub fn action(&self) -> Option<&'a [u8]> {
        self.value_at(self.index.action)
    }

    /// The `ActionID:` value.
    pub fn action_id(&self) -> Option<&'a [u8]> {
        self.value_at(self.index.action_id)
    }

    /// The `EventList:` value (`start`, `Start`, `Complete`…).
    pub fn event_list(&self) -> Option<&'a [u8]> {
        self.value_at(self.index.event_list)
    }

    /// Whether this is an event called `name` (ASCII case-insensitive).
    pub fn is_event(&self, name: &str) -> bool {
        self.event()
            .is_some_and(|e| e.eq_ignore_ascii_case(name.as_bytes()))
    }

    /// The raw text of an old-style Command answer (`Response: Follows`, Asterisk 13 and older),
    /// without the `--END COMMAND--` marker.
    pub fn follows_body(&self) -> Option<&'a [u8]> {
        self.body.map(|(s, e)| &self.bytes[s as usize..e as usize])
    }

    /// Command output as lines, whatever the framing: the raw text of a `Response: Follows`
    /// answer split at line ends (a trailing newline does not make an empty last line, but a
    /// non-empty text is at least one line: `"\n"` is one empty line, `""` none), or else the
    /// values of the `Output:` headers.
    pub fn command_output(&self) -> CommandOutput<'a> {
        match self.follows_body() {
            Some(body) => {
                let text = body.strip_suffix(b"\n").unwrap_or(body);
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                CommandOutput::Raw {
                    rest: (!body.is_empty()).then_some(text),
                }
            }
            None => CommandOutput::Headers { inner: self.iter() },
        }
    }

    /// Channel variables attached to the message, in both formats Asterisk uses:
    /// `ChanVariable(<channel>): name=value` (events raised for several channels, e.g.
    /// OriginateResponse) and `[Prefix]ChanVariable: name=value` (channel snapshots, e.g.
    /// `DestChanVariable` on DialBegin).
    pub fn chan_variables(&self) -> impl Iterator<Item = ChanVariable<'a>> + 'a {
        self.iter().filter_map(ChanVariable::parse)
    }

    /// Copies the message into an owned [`Message`].
    pub fn to_owned(&self) -> Message {
        Message {
            bytes: self.bytes.into(),
            spans: self.spans.into(),
            index: self.index,
            body: self.body,
        }
    }
}

impl fmt::Debug for MessageRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_list();
        l.entries(self.iter());
        if let Some(body) = self.follows_body() {
            l.entry(&String::from_utf8_lossy(body));
        }
        l.finish()
    }
}

impl PartialEq for MessageRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter()) && self.follows_body() == other.follows_body()
    }
}

impl Eq for MessageRef<'_> {}

/// Iterator over a message's header lines, in wire order.
#[derive(Clone)]
pub struct Headers<'a> {
    msg: MessageRef<'a>,
    inner: std::slice::Iter<'a, Span>,
}

impl<'a> Iterator for Headers<'a> {
    type Item = Header<'a>;

    #[inline]
    fn next(&mut self) -> Option<Header<'a>> {
        let s = self.inner.next()?;
        Some(self.msg.header_at(s))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl ExactSizeIterator for Headers<'_> {}

/// Lines of Command output; see [`MessageRef::command_output`].
#[derive(Clone)]
pub enum CommandOutput<'a> {
    /// Old framing: raw text, lines ended by LF (a CR before it is dropped).
    Raw {
        /// Text not yet split.
        rest: Option<&'a [u8]>,
    },
    /// New framing: one `Output:` header per line.
    Headers {
        /// The message's headers.
        inner: Headers<'a>,
    },
}

impl<'a> Iterator for CommandOutput<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            CommandOutput::Raw { rest } => {
                let text = (*rest)?;
                let (line, next) = match memchr::memchr(b'\n', text) {
                    Some(i) => (&text[..i], Some(&text[i + 1..])),
                    None => (text, None),
                };
                *rest = next;
                Some(line.strip_suffix(b"\r").unwrap_or(line))
            }
            CommandOutput::Headers { inner } => inner.find(|h| h.is("Output")).map(|h| h.value),
        }
    }
}

/// A channel variable carried by a message; see [`MessageRef::chan_variables`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChanVariable<'a> {
    /// The channel named in `ChanVariable(<channel>)`, if the header had that form.
    pub channel: Option<&'a [u8]>,
    /// The prefix before `ChanVariable` (`Dest`, `LocalOne`…); empty if none.
    pub prefix: &'a [u8],
    /// The variable's name (before the first `=`).
    pub name: &'a [u8],
    /// The variable's value (after the first `=`), as sent. In the `[Prefix]ChanVariable` form
    /// Asterisk C-escapes it.
    pub value: &'a [u8],
}

impl<'a> ChanVariable<'a> {
    /// Reads one header as a channel variable, if it is one.
    pub fn parse(h: Header<'a>) -> Option<ChanVariable<'a>> {
        const KEY: &[u8] = b"chanvariable";
        let name = h.name();
        if !h.has_colon() || name.len() < KEY.len() {
            return None;
        }
        let (prefix, channel) = if name.last() == Some(&b')') {
            let open = memchr::memchr(b'(', name)?;
            let head = &name[..open];
            if head.len() < KEY.len() || !head[head.len() - KEY.len()..].eq_ignore_ascii_case(KEY) {
                return None;
            }
            (
                &head[..head.len() - KEY.len()],
                Some(&name[open + 1..name.len() - 1]),
            )
        } else if name[name.len() - KEY.len()..].eq_ignore_ascii_case(KEY) {
            (&name[..name.len() - KEY.len()], None)
        } else {
            return None;
        };
        let v = h.value();
        let (var, value) = match memchr::memchr(b'=', v) {
            Some(i) => (&v[..i], &v[i + 1..]),
            None => (v, &v[v.len()..]),
        };
        Some(ChanVariable {
            channel,
            prefix,
            name: var,
            value,
        })
    }
}

/// An owned message: one buffer with its bytes plus the positions of its headers.
///
/// Cheap to move and to clone: clones share one buffer (reference-counted), so an event handed
/// to several subscribers is allocated once. [`as_ref`](Message::as_ref) gives the borrowed
/// view with every accessor.
#[derive(Clone)]
pub struct Message {
    bytes: Arc<[u8]>,
    spans: Arc<[Span]>,
    index: KeyIndex,
    body: Option<(u32, u32)>,
}

impl Message {
    /// The borrowed view of this message, with every accessor of [`MessageRef`].
    pub fn as_ref(&self) -> MessageRef<'_> {
        MessageRef {
            bytes: &self.bytes,
            spans: &self.spans,
            index: self.index,
            body: self.body,
        }
    }

    /// What the message is.
    pub fn kind(&self) -> MessageKind {
        self.index.kind()
    }

    /// The value of the first header called `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.as_ref().get(name)
    }

    /// [`get`](Self::get) as text.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.as_ref().get_str(name)
    }

    /// All header lines in wire order.
    pub fn iter(&self) -> Headers<'_> {
        self.as_ref().iter()
    }

    /// The message's bytes as they were on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_ref().fmt(f)
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.as_ref() == other.as_ref()
    }
}

impl Eq for Message {}

impl<'a> From<MessageRef<'a>> for Message {
    fn from(m: MessageRef<'a>) -> Message {
        m.to_owned()
    }
}
