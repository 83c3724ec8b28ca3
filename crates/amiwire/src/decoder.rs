//! The incremental decoder: bytes in whatever chunks the socket gives, messages out.

use memchr::memchr;
use memchr::memmem::Finder;

use crate::message::{KeyIndex, MessageRef, Span};

/// The marker that ends an old-style (`Response: Follows`) Command answer.
const END_COMMAND: &[u8] = b"--END COMMAND--";

/// Limits and options of a [`Decoder`]. Every limit is always on; the defaults are safe for an
/// untrusted peer and roomy for a real Asterisk (its longest line in our recordings is 203 bytes,
/// its largest message 107 lines).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecoderConfig {
    /// Whether the stream starts with a banner line (`Asterisk Call Manager/11.0.0`), as a TCP
    /// connection to Asterisk does. A first line with a colon is taken as a header anyway.
    /// Off for what a server decodes and for HTTP `/rawman` bodies.
    pub expect_banner: bool,
    /// Longest header line, in bytes, without its line end. Default 64 KiB.
    pub max_line_len: usize,
    /// Most header lines in one message. Default 4,096.
    pub max_headers: usize,
    /// Largest message, in bytes, line ends included. Default 1 MiB.
    pub max_message_len: usize,
    /// Most bytes held undecoded: [`Decoder::feed`] takes no more than this. Default 1 MiB +
    /// 64 KiB; always raised above `max_message_len` so that a message at the limit fits.
    pub max_buffered: usize,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            expect_banner: true,
            max_line_len: 64 * 1024,
            max_headers: 4096,
            max_message_len: 1024 * 1024,
            max_buffered: 1024 * 1024 + 64 * 1024,
        }
    }
}

impl DecoderConfig {
    /// The defaults, for a stream that starts with a banner (a client's view of a TCP session).
    pub fn client() -> Self {
        Self::default()
    }

    /// The defaults, for a stream without banner (a server reading actions, or an HTTP body).
    pub fn without_banner() -> Self {
        DecoderConfig {
            expect_banner: false,
            ..Self::default()
        }
    }
}

/// A message that broke a limit. The decoder has dropped it and goes on at the next blank line,
/// so one bad message never poisons the stream: keep calling [`Decoder::decode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A line longer than [`DecoderConfig::max_line_len`].
    #[error("line longer than {limit} bytes; message dropped")]
    LineTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// A message larger than [`DecoderConfig::max_message_len`].
    #[error("message larger than {limit} bytes; message dropped")]
    MessageTooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// A message with more than [`DecoderConfig::max_headers`] lines.
    #[error("message with more than {limit} header lines; message dropped")]
    TooManyHeaders {
        /// The limit in force.
        limit: usize,
    },
    /// The stream ended inside a message (returned by [`Decoder::finish`]).
    #[error("stream ended inside a message ({bytes} bytes of it received)")]
    Truncated {
        /// How many bytes of the cut message had arrived.
        bytes: usize,
    },
}

/// One decoded unit of the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// The banner line, without its line end (`Asterisk Call Manager/11.0.0`).
    Banner(&'a [u8]),
    /// A message: a block of header lines ended by a blank line.
    Message(MessageRef<'a>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the first line, when a banner is expected.
    Banner,
    /// Reading header lines.
    Headers,
    /// Inside the raw text of a `Response: Follows` answer.
    Body {
        body_start: usize,
        /// Where `--END COMMAND--` starts, once found.
        marker: Option<usize>,
    },
    /// Dropping a message that broke a limit, up to the next blank line. `dirty` when the
    /// current line already had bytes that were dropped (so its end is no blank line).
    Discard { dirty: bool },
}

/// Incremental AMI decoder: [`feed`](Decoder::feed) it bytes, then call
/// [`decode`](Decoder::decode) until it returns `Ok(None)`.
///
/// Any chunking of a stream yields the same frames. Messages borrow from the decoder's buffer
/// (no copy, no allocation per message once the buffers have grown); keep one with
/// [`MessageRef::to_owned`].
///
/// ```
/// use amiwire::{Decoder, Frame};
///
/// let mut dec = Decoder::new();
/// let mut input: &[u8] = b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nPing: Pong\r\n\r\n";
/// let mut seen = Vec::new();
/// while !input.is_empty() {
///     let n = dec.feed(input);
///     input = &input[n..];
///     while let Some(frame) = dec.decode().transpose() {
///         match frame.expect("within limits") {
///             Frame::Banner(b) => seen.push(String::from_utf8_lossy(b).into_owned()),
///             Frame::Message(m) => seen.push(m.get_str("Ping").unwrap().to_owned()),
///         }
///     }
/// }
/// assert_eq!(seen, ["Asterisk Call Manager/11.0.0", "Pong"]);
/// ```
#[derive(Debug)]
pub struct Decoder {
    cfg: DecoderConfig,
    buf: Vec<u8>,
    /// Start of the message being decoded (everything before it is consumed).
    start: usize,
    /// Start of the current line.
    line: usize,
    /// Where the search for the next line end resumes.
    scan: usize,
    spans: Vec<Span>,
    index: KeyIndex,
    /// `Response: Follows` seen in the current message.
    follows: bool,
    /// The spans belong to a message already returned.
    returned: bool,
    state: State,
    end_command: Finder<'static>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with the default limits, expecting a banner.
    pub fn new() -> Self {
        Self::with_config(DecoderConfig::default())
    }

    /// A decoder with the given limits.
    pub fn with_config(mut cfg: DecoderConfig) -> Self {
        cfg.max_buffered = cfg.max_buffered.max(cfg.max_message_len.saturating_add(1));
        cfg.max_line_len = cfg.max_line_len.min(u32::MAX as usize / 2);
        cfg.max_message_len = cfg.max_message_len.min(u32::MAX as usize / 2);
        let state = if cfg.expect_banner {
            State::Banner
        } else {
            State::Headers
        };
        Decoder {
            cfg,
            buf: Vec::new(),
            start: 0,
            line: 0,
            scan: 0,
            spans: Vec::new(),
            index: KeyIndex::default(),
            follows: false,
            returned: false,
            state,
            end_command: Finder::new(END_COMMAND).into_owned(),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }

    /// Bytes received and not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends received bytes and returns how many were taken: all of them unless the buffer
    /// holds [`DecoderConfig::max_buffered`] bytes; then call [`decode`](Self::decode) (which
    /// always makes progress on a full buffer) and feed the rest.
    #[must_use = "bytes not taken must be fed again"]
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let room = self.cfg.max_buffered - self.buffered();
        let n = data.len().min(room);
        if n == 0 {
            return 0;
        }
        if self.start > 0
            && (self.start == self.buf.len() || self.buf.len() + n > self.buf.capacity())
        {
            self.compact();
        }
        self.buf.extend_from_slice(&data[..n]);
        n
    }

    /// Moves the undecoded bytes to the front of the buffer.
    fn compact(&mut self) {
        let s = self.start;
        self.buf.drain(..s);
        self.start = 0;
        self.line -= s;
        self.scan -= s;
        if let State::Body { body_start, marker } = &mut self.state {
            *body_start -= s;
            if let Some(m) = marker {
                *m -= s;
            }
        }
    }

    /// Tells the decoder that the stream has ended. An error when it ended inside a message
    /// (stray line ends do not count); the decoder is then reset for a new stream.
    pub fn finish(&mut self) -> Result<(), DecodeError> {
        let rest = &self.buf[self.start..];
        let partial = !self.returned && !self.spans.is_empty()
            || matches!(self.state, State::Body { .. })
            || rest.iter().any(|&b| b != b'\r' && b != b'\n');
        let bytes = rest.len();
        *self = Decoder::with_config(self.cfg.clone());
        if partial {
            Err(DecodeError::Truncated { bytes })
        } else {
            Ok(())
        }
    }

    /// Decodes the next frame from the bytes fed so far: `Ok(None)` when more bytes are needed,
    /// `Err` when a message broke a limit (it is dropped, and decoding goes on at the next call).
    #[allow(clippy::should_implement_trait)]
    pub fn decode(&mut self) -> Result<Option<Frame<'_>>, DecodeError> {
        if self.returned {
            self.returned = false;
            self.spans.clear();
            self.index = KeyIndex::default();
            self.follows = false;
        }
        loop {
            if let State::Body { body_start, marker } = self.state {
                match self.body_end(body_start, marker) {
                    Ok(Some(end)) => {
                        let body = (
                            (body_start - self.start) as u32,
                            (self.scan_marker(end) - self.start) as u32,
                        );
                        self.state = State::Headers;
                        return Ok(Some(self.finish_message(end, Some(body))));
                    }
                    Ok(None) => return Ok(None),
                    Err(e) => return Err(e),
                }
            }
            let nl = match memchr(b'\n', &self.buf[self.scan..]) {
                Some(i) => self.scan + i,
                None => {
                    self.scan = self.buf.len();
                    return self.check_partial();
                }
            };
            self.scan = nl + 1;
            let line_start = self.line;
            self.line = nl + 1;
            let mut line_end = nl;
            if line_end > line_start && self.buf[line_end - 1] == b'\r' {
                line_end -= 1;
            }
            match self.state {
                State::Discard { dirty } => {
                    self.start = nl + 1;
                    if line_end == line_start && !dirty {
                        self.state = State::Headers;
                    } else {
                        self.state = State::Discard { dirty: false };
                    }
                    continue;
                }
                State::Banner => {
                    self.state = State::Headers;
                    let line = &self.buf[line_start..line_end];
                    if !line.is_empty() && memchr(b':', line).is_none() {
                        self.start = nl + 1;
                        return Ok(Some(Frame::Banner(&self.buf[line_start..line_end])));
                    }
                }
                State::Headers => {}
                State::Body { .. } => unreachable!("handled above"),
            }
            if line_end == line_start {
                if self.spans.is_empty() {
                    // A stray blank line between messages (Asterisk sends some).
                    self.start = nl + 1;
                    continue;
                }
                if nl + 1 - self.start > self.cfg.max_message_len {
                    return Err(self.fail_at_blank(nl, DecodeError::MessageTooLarge {
                        limit: self.cfg.max_message_len,
                    }));
                }
                return Ok(Some(self.finish_message(nl + 1, None)));
            }
            if line_end - line_start > self.cfg.max_line_len {
                return Err(self.fail(DecodeError::LineTooLong {
                    limit: self.cfg.max_line_len,
                }));
            }
            if nl + 1 - self.start > self.cfg.max_message_len {
                return Err(self.fail(DecodeError::MessageTooLarge {
                    limit: self.cfg.max_message_len,
                }));
            }
            if self.spans.len() >= self.cfg.max_headers {
                return Err(self.fail(DecodeError::TooManyHeaders {
                    limit: self.cfg.max_headers,
                }));
            }
            if self.follows && !is_follows_header(&self.buf[line_start..line_end]) {
                // Old Command framing: raw output follows the headers, up to the marker.
                self.state = State::Body {
                    body_start: line_start,
                    marker: None,
                };
                self.scan = line_start;
                continue;
            }
            self.push_header(line_start, line_end);
        }
    }

    /// Records one header line `[ls, le)` of the current message.
    #[inline]
    fn push_header(&mut self, ls: usize, le: usize) {
        let line = &self.buf[ls..le];
        let base = self.start;
        let idx = self.spans.len() as u32;
        let span = match line.iter().position(|&b| b == b':') {
            Some(c) => {
                let name = &line[..c];
                let mut vs = c + 1;
                if line.get(vs) == Some(&b' ') {
                    vs += 1;
                }
                self.index.note(name, idx);
                if self.index.response == Some(idx) && line[vs..].eq_ignore_ascii_case(b"Follows")
                {
                    self.follows = true;
                }
                Span {
                    start: (ls - base) as u32,
                    name_end: (ls + c - base) as u32,
                    value_start: (ls + vs - base) as u32,
                    end: (le - base) as u32,
                }
            }
            None => Span {
                start: (ls - base) as u32,
                name_end: (ls - base) as u32,
                value_start: (ls - base) as u32,
                end: (le - base) as u32,
            },
        };
        self.spans.push(span);
    }

    /// Ends the current message at `end` (exclusive) and returns it.
    fn finish_message(&mut self, end: usize, body: Option<(u32, u32)>) -> Frame<'_> {
        let start = self.start;
        self.start = end;
        self.line = end;
        self.scan = end;
        self.returned = true;
        Frame::Message(MessageRef {
            bytes: &self.buf[start..end],
            spans: &self.spans,
            index: self.index,
            body,
        })
    }

    /// Where the `--END COMMAND--` marker of the current body starts.
    fn scan_marker(&self, _end: usize) -> usize {
        match self.state {
            State::Body {
                marker: Some(m), ..
            } => m,
            _ => unreachable!("only called with a marker found"),
        }
    }

    /// Looks for the end of an old-style Command body: the marker, then the end of its line.
    fn body_end(
        &mut self,
        body_start: usize,
        marker: Option<usize>,
    ) -> Result<Option<usize>, DecodeError> {
        let m = match marker {
            Some(m) => m,
            None => {
                let from = self
                    .scan
                    .saturating_sub(END_COMMAND.len() - 1)
                    .max(body_start);
                match self.end_command.find(&self.buf[from..]) {
                    Some(i) => {
                        let m = from + i;
                        self.state = State::Body {
                            body_start,
                            marker: Some(m),
                        };
                        self.scan = m + END_COMMAND.len();
                        m
                    }
                    None => {
                        self.scan = self.buf.len();
                        return self.check_partial().map(|_| None);
                    }
                }
            }
        };
        let _ = m;
        match memchr(b'\n', &self.buf[self.scan..]) {
            Some(i) => Ok(Some(self.scan + i + 1)),
            None => {
                self.scan = self.buf.len();
                self.check_partial().map(|_| None)
            }
        }
    }

    /// With no complete line left, checks that the partial line and message are within limits.
    fn check_partial(&mut self) -> Result<Option<Frame<'_>>, DecodeError> {
        let len = self.buf.len();
        if let State::Discard { dirty } = self.state {
            // Drop what is buffered of the line being discarded.
            let dropped = &self.buf[self.line..];
            let dirty = dirty || dropped.iter().any(|&b| b != b'\r');
            self.state = State::Discard { dirty };
            self.start = len;
            self.line = len;
            return Ok(None);
        }
        let in_body = matches!(self.state, State::Body { .. });
        if !in_body && len - self.line > self.cfg.max_line_len {
            return Err(self.fail(DecodeError::LineTooLong {
                limit: self.cfg.max_line_len,
            }));
        }
        if len - self.start > self.cfg.max_message_len {
            return Err(self.fail(DecodeError::MessageTooLarge {
                limit: self.cfg.max_message_len,
            }));
        }
        Ok(None)
    }

    /// Drops the current message and discards input up to the next blank line.
    fn fail(&mut self, err: DecodeError) -> DecodeError {
        // Bytes of the current (incomplete) line that will be dropped make it non-blank.
        let len = self.buf.len();
        let line_done = self.line > 0 && self.buf.get(self.line - 1) == Some(&b'\n');
        let partial = &self.buf[self.line.min(len)..];
        let dirty = !line_done || partial.iter().any(|&b| b != b'\r');
        let _ = dirty;
        // Everything up to the current line start is dropped; the partial line is re-scanned
        // in discard state (it may end with its line end already buffered).
        self.start = self.line;
        self.scan = self.line;
        self.state = State::Discard {
            dirty: matches!(self.state, State::Body { .. }),
        };
        self.reset_message();
        err
    }

    /// Like [`fail`](Self::fail), for a message found too large at its terminating blank line
    /// (at `nl`): nothing is left to discard.
    fn fail_at_blank(&mut self, nl: usize, err: DecodeError) -> DecodeError {
        self.start = nl + 1;
        self.line = nl + 1;
        self.scan = nl + 1;
        self.state = State::Headers;
        self.reset_message();
        err
    }

    fn reset_message(&mut self) {
        self.spans.clear();
        self.index = KeyIndex::default();
        self.follows = false;
        self.returned = false;
    }
}

/// Whether a line of an old-style Command answer is still a header (`Privilege:` or
/// `ActionID:`, which Asterisk 13 wrote before the raw output).
fn is_follows_header(line: &[u8]) -> bool {
    fn starts(line: &[u8], key: &[u8]) -> bool {
        line.len() >= key.len() && line[..key.len()].eq_ignore_ascii_case(key)
    }
    starts(line, b"privilege:") || starts(line, b"actionid:")
}
