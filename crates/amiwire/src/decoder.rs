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
    /// 64 KiB; always raised to at least `max_message_len` + 15, so that a message at the limit
    /// fits with the start of an `--END COMMAND--` marker after it (see [`Decoder`] on the old
    /// Command framing).
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
        /// The message broke the size limit: skip to the marker's line end, keep nothing.
        dropping: bool,
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
/// # The old Command framing (Asterisk 13 and older)
///
/// Before Asterisk 14, `action_command` in `main/manager.c` (1.4, 1.8, 11, 12 and 13 alike)
/// writes `Response: Follows\r\nPrivilege: Command\r\n`, then `ActionID: <id>\r\n` if the
/// action had one, then the CLI output as the command printed it (bare LF line ends), then
/// `--END COMMAND--\r\n\r\n`, appended directly (so output without a final newline has the
/// marker glued to its last line). There is no blank line between the headers and the output,
/// and several commands (`core show settings`, `sip show settings`, `manager show settings`)
/// start their output with an empty line. So in a message with `Response: Follows`:
///
/// - the header block is `Response`, `Privilege` and `ActionID` lines; the first other
///   non-blank line starts the output;
/// - a blank line that is a bare LF, after a header that ended with CRLF, starts the output
///   (manager.c writes headers with CRLF, the CLI writes LF);
/// - a CRLF blank line starts the output only if the next line begins with `--END COMMAND--`
///   (an empty output written as one blank line, as some libraries' fixtures have it); the
///   decoder waits for more bytes while what has come after the blank line is a prefix of the
///   marker;
/// - any other blank line ends the message, as in every other message.
///
/// The output runs to the marker and the message to the end of the marker's line;
/// [`MessageRef::follows_body`] is the output, [`MessageRef::command_output`] its lines.
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
    /// Where the last returned message starts (it ends at `start`) and its old Command body,
    /// for [`current`](Decoder::current); valid while `current_valid`.
    last_start: usize,
    last_body: Option<(u32, u32)>,
    current_valid: bool,
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
        cfg.max_buffered = cfg
            .max_buffered
            .max(cfg.max_message_len.saturating_add(END_COMMAND.len()));
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
            last_start: 0,
            last_body: None,
            current_valid: false,
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
        self.current_valid = false;
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
        if let State::Body {
            body_start, marker, ..
        } = &mut self.state
        {
            *body_start = body_start.saturating_sub(s);
            if let Some(m) = marker {
                *m = m.saturating_sub(s);
            }
        }
    }

    /// The message returned by the last call to [`decode`](Self::decode), again (until the next
    /// call to `decode` or `feed`). Lets a caller look at a message, release the borrow, update
    /// its own state, and then hand the same message on without copying it.
    pub fn current(&self) -> Option<crate::MessageRef<'_>> {
        if !self.current_valid {
            return None;
        }
        Some(MessageRef {
            bytes: &self.buf[self.last_start..self.start],
            spans: &self.spans,
            index: self.index,
            body: self.last_body,
        })
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
    pub fn decode(&mut self) -> Result<Option<Frame<'_>>, DecodeError> {
        self.current_valid = false;
        if self.returned {
            self.returned = false;
            self.spans.clear();
            self.index = KeyIndex::default();
            self.follows = false;
        }
        loop {
            if let State::Body { body_start, .. } = self.state {
                match self.body_step()? {
                    BodyStep::NeedMore => return Ok(None),
                    BodyStep::Dropped => continue,
                    BodyStep::Done { end, marker } => {
                        self.state = State::Headers;
                        if end - self.start > self.cfg.max_message_len {
                            return Err(self.fail_at_end(
                                end,
                                DecodeError::MessageTooLarge {
                                    limit: self.cfg.max_message_len,
                                },
                            ));
                        }
                        let body = (
                            (body_start - self.start) as u32,
                            (marker - self.start) as u32,
                        );
                        return Ok(Some(self.finish_message(end, Some(body))));
                    }
                }
            }
            if matches!(self.state, State::Headers) && self.scan == self.line {
                if let Some(end) = self.fast_headers() {
                    return Ok(Some(self.finish_message(end, None)));
                }
            }
            // The common case, a header line read from its start: one pass finds the colon
            // and the line end. A line resumed after a partial read only looks for its end.
            let headers = matches!(self.state, State::Headers);
            let (nl, mut colon) = if headers && self.scan == self.line {
                match find_colon_or_lf(&self.buf, self.line) {
                    Some(p) if self.buf[p] == b'\n' => (p, None),
                    Some(c) => match find_lf(&self.buf, c + 1) {
                        Some(nl) => (nl, Some(c)),
                        None => {
                            self.scan = self.buf.len();
                            return self.check_partial().map(|()| None);
                        }
                    },
                    None => {
                        self.scan = self.buf.len();
                        return self.check_partial().map(|()| None);
                    }
                }
            } else {
                match find_lf(&self.buf, self.scan) {
                    Some(nl) => {
                        let colon = if headers {
                            find_colon_or_lf(&self.buf[..nl], self.line)
                        } else {
                            None
                        };
                        (nl, colon)
                    }
                    None => {
                        self.scan = self.buf.len();
                        return self.check_partial().map(|()| None);
                    }
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
                    self.state = if line_end == line_start && !dirty {
                        State::Headers
                    } else {
                        State::Discard { dirty: false }
                    };
                    continue;
                }
                State::Banner => {
                    self.state = State::Headers;
                    if line_end - line_start > self.cfg.max_line_len {
                        return Err(self.fail(DecodeError::LineTooLong {
                            limit: self.cfg.max_line_len,
                        }));
                    }
                    let line = &self.buf[line_start..line_end];
                    match memchr(b':', line) {
                        None if !line.is_empty() => {
                            self.start = nl + 1;
                            return Ok(Some(Frame::Banner(&self.buf[line_start..line_end])));
                        }
                        // No banner: the first line is a header, read as any other (the
                        // banner path above looked for the line end only).
                        c => colon = c.map(|c| line_start + c),
                    }
                }
                State::Headers | State::Body { .. } => {}
            }
            if line_end == line_start {
                if self.spans.is_empty() {
                    // A stray blank line between messages (Asterisk sends some).
                    self.start = nl + 1;
                    continue;
                }
                if nl + 1 - self.start > self.cfg.max_message_len {
                    return Err(self.fail_at_end(
                        nl + 1,
                        DecodeError::MessageTooLarge {
                            limit: self.cfg.max_message_len,
                        },
                    ));
                }
                if self.follows {
                    match self.follows_blank_line(line_start, nl) {
                        FollowsBlank::Body => {
                            // Old Command framing: the blank line is the output's first line.
                            self.start_body(line_start);
                            continue;
                        }
                        FollowsBlank::NeedMore => {
                            // Read the blank line again once more bytes have come.
                            self.line = line_start;
                            self.scan = line_start;
                            return Ok(None);
                        }
                        FollowsBlank::End => {}
                    }
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
                self.start_body(line_start);
                continue;
            }
            self.push_header(line_start, line_end, colon);
        }
    }

    /// The hot path: reads complete header lines from `self.line` while nothing unusual
    /// happens, and returns the end of the message when its blank line is reached. Anything
    /// else (a partial line, a limit, old Command framing) stops it before that line, with
    /// the state consistent, for the general path of [`decode`](Self::decode) to handle.
    #[inline]
    fn fast_headers(&mut self) -> Option<usize> {
        let Decoder {
            cfg,
            buf,
            start,
            line,
            scan,
            spans,
            index,
            follows,
            ..
        } = self;
        let buf = &buf[..];
        let mut msg = *start;
        let mut ls = *line;
        let result = loop {
            if *follows {
                break None;
            }
            let Some((colon, nl)) = scan_line(buf, ls) else {
                break None;
            };
            let mut le = nl;
            if le > ls && buf[le - 1] == b'\r' {
                le -= 1;
            }
            if le == ls {
                if spans.is_empty() {
                    msg = nl + 1;
                    ls = nl + 1;
                    continue;
                }
                if nl + 1 - msg > cfg.max_message_len {
                    break None;
                }
                ls = nl + 1;
                break Some(nl + 1);
            }
            // The message size is checked at its blank line (above): until then the header
            // count bounds what is recorded, and the buffer limit what is held.
            if le - ls > cfg.max_line_len || spans.len() >= cfg.max_headers {
                break None;
            }
            let span = header_span(buf, msg, ls, le, colon, spans.len() as u32, index, follows);
            spans.push(span);
            ls = nl + 1;
        };
        if result.is_none() {
            *line = ls;
            *scan = ls;
        }
        *start = msg;
        result
    }

    /// The raw output of an old-style Command answer starts at `at`: look for its marker.
    fn start_body(&mut self, at: usize) {
        self.state = State::Body {
            body_start: at,
            marker: None,
            dropping: false,
        };
        self.scan = at;
    }

    /// Records one header line `[ls, le)` of the current message, whose first colon (if any
    /// before `le`) is at `colon`.
    #[inline]
    fn push_header(&mut self, ls: usize, le: usize, colon: Option<usize>) {
        let span = header_span(
            &self.buf,
            self.start,
            ls,
            le,
            colon.filter(|&c| c < le),
            self.spans.len() as u32,
            &mut self.index,
            &mut self.follows,
        );
        self.spans.push(span);
    }

    /// What the blank line `[line_start, nl]` of a `Response: Follows` message's header block
    /// is: the first line of the Command output (a bare LF after CRLF headers, or any blank
    /// line followed by the `--END COMMAND--` marker), or the end of the message. Waits while
    /// the bytes after it are a prefix of the marker.
    fn follows_blank_line(&self, line_start: usize, nl: usize) -> FollowsBlank {
        let buf = &self.buf;
        if nl == line_start {
            // A bare LF: CLI output, which Asterisk writes with LF line ends, if the header
            // before it ended with CRLF, as manager.c writes its headers. (`line_start >= 2`
            // always holds here, a header line being before it.)
            return if line_start >= 2 && buf[line_start - 2] == b'\r' {
                FollowsBlank::Body
            } else {
                FollowsBlank::End
            };
        }
        let next = &buf[nl + 1..];
        let n = next.len().min(END_COMMAND.len());
        if next[..n] != END_COMMAND[..n] {
            FollowsBlank::End
        } else if n < END_COMMAND.len() {
            FollowsBlank::NeedMore
        } else {
            FollowsBlank::Body
        }
    }

    /// Ends the current message at `end` (exclusive) and returns it.
    fn finish_message(&mut self, end: usize, body: Option<(u32, u32)>) -> Frame<'_> {
        let start = self.start;
        self.start = end;
        self.line = end;
        self.scan = end;
        self.returned = true;
        self.current_valid = true;
        self.last_start = start;
        self.last_body = body;
        Frame::Message(MessageRef {
            bytes: &self.buf[start..end],
            spans: &self.spans,
            index: self.index,
            body,
        })
    }

    /// Looks for the end of an old-style Command body: the marker, then the end of its line.
    fn body_step(&mut self) -> Result<BodyStep, DecodeError> {
        let State::Body {
            body_start,
            marker,
            dropping,
        } = self.state
        else {
            return Ok(BodyStep::NeedMore);
        };
        let len = self.buf.len();
        let overlap = END_COMMAND.len() - 1;
        let m = match marker {
            Some(m) => m,
            None => {
                let floor = if dropping { self.start } else { body_start };
                let from = self.scan.saturating_sub(overlap).max(floor);
                match self.end_command.find(&self.buf[from..]) {
                    Some(i) => {
                        let m = from + i;
                        self.state = State::Body {
                            body_start,
                            marker: Some(m),
                            dropping,
                        };
                        self.scan = m + END_COMMAND.len();
                        m
                    }
                    None => {
                        self.scan = len;
                        if dropping {
                            // Keep only what could be the start of a split marker.
                            self.start = len.saturating_sub(overlap).max(self.start);
                            self.line = self.start;
                        } else if len - self.start > self.cfg.max_message_len {
                            self.reset_message();
                            self.state = State::Body {
                                body_start,
                                marker: None,
                                dropping: true,
                            };
                            self.start = len.saturating_sub(overlap).max(self.start);
                            self.line = self.start;
                            return Err(DecodeError::MessageTooLarge {
                                limit: self.cfg.max_message_len,
                            });
                        }
                        return Ok(BodyStep::NeedMore);
                    }
                }
            }
        };
        match memchr(b'\n', &self.buf[self.scan..]) {
            Some(i) => {
                let end = self.scan + i + 1;
                if dropping {
                    self.start = end;
                    self.line = end;
                    self.scan = end;
                    self.state = State::Headers;
                    return Ok(BodyStep::Dropped);
                }
                Ok(BodyStep::Done { end, marker: m })
            }
            None => {
                self.scan = len;
                if dropping {
                    self.start = m.max(self.start);
                    self.line = self.start;
                } else if len - self.start > self.cfg.max_message_len {
                    self.reset_message();
                    self.state = State::Body {
                        body_start,
                        marker: Some(m),
                        dropping: true,
                    };
                    self.start = m;
                    self.line = m;
                    return Err(DecodeError::MessageTooLarge {
                        limit: self.cfg.max_message_len,
                    });
                }
                Ok(BodyStep::NeedMore)
            }
        }
    }

    /// With no complete line left, checks that the partial line and message are within limits.
    fn check_partial(&mut self) -> Result<(), DecodeError> {
        let len = self.buf.len();
        if let State::Discard { dirty } = self.state {
            // Drop what is buffered of the line being discarded, but for a final CR: a line
            // is blank only if it is empty or a lone CR, and any byte dropped before it
            // makes it non-blank.
            let keep = usize::from(len > self.line && self.buf[len - 1] == b'\r');
            let drop_to = len - keep;
            self.state = State::Discard {
                dirty: dirty || drop_to > self.line,
            };
            self.start = drop_to;
            self.line = drop_to;
            return Ok(());
        }
        // A line may end in a CR whose LF has not arrived yet: allow one byte for it, so that
        // the verdict does not depend on where the stream was split.
        if len - self.line > self.cfg.max_line_len + 1 {
            return Err(self.fail(DecodeError::LineTooLong {
                limit: self.cfg.max_line_len,
            }));
        }
        if len - self.start > self.cfg.max_message_len {
            return Err(self.fail(DecodeError::MessageTooLarge {
                limit: self.cfg.max_message_len,
            }));
        }
        Ok(())
    }

    /// Drops the current message and discards input up to the next blank line, starting with
    /// the current line (complete lines already seen are dropped at once).
    fn fail(&mut self, err: DecodeError) -> DecodeError {
        self.start = self.line;
        self.scan = self.line;
        self.state = State::Discard { dirty: false };
        self.reset_message();
        err
    }

    /// Drops the current message, which ends at `end`: nothing is left to discard.
    fn fail_at_end(&mut self, end: usize, err: DecodeError) -> DecodeError {
        self.start = end;
        self.line = end;
        self.scan = end;
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

/// What a blank line in the header block of a `Response: Follows` message is.
enum FollowsBlank {
    /// The first line of the Command output.
    Body,
    /// The end of the message.
    End,
    /// Not known before more bytes arrive.
    NeedMore,
}

/// What [`Decoder::body_step`] found.
enum BodyStep {
    NeedMore,
    /// A body that broke the size limit has been skipped to its end.
    Dropped,
    Done {
        end: usize,
        marker: usize,
    },
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;
const LFS: u64 = ONES * b'\n' as u64;
const COLONS: u64 = ONES * b':' as u64;

/// The high bit of each zero byte of `v`; the lowest set bit is exact (bits above a zero byte
/// may be false positives, so only `trailing_zeros` is used).
#[inline(always)]
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGHS
}

#[inline(always)]
fn word_at(buf: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&buf[i..i + 8]);
    u64::from_le_bytes(w)
}

/// One pass over the line starting at `from`: its first colon (if before the line end) and its
/// line end, eight bytes at a time; `None` if the line is not complete in `buf`.
#[inline(always)]
fn scan_line(buf: &[u8], from: usize) -> Option<(Option<usize>, usize)> {
    let mut i = from;
    let mut colon = None;
    let words = buf.get(from..)?.chunks_exact(8);
    for word in words {
        let w = u64::from_le_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]);
        let lf = zero_bytes(w ^ LFS);
        if colon.is_none() {
            let c = zero_bytes(w ^ COLONS);
            if c != 0 && c.trailing_zeros() < lf.trailing_zeros() {
                colon = Some(i + (c.trailing_zeros() / 8) as usize);
            }
        }
        if lf != 0 {
            return Some((colon, i + (lf.trailing_zeros() / 8) as usize));
        }
        i += 8;
    }
    while i < buf.len() {
        match buf[i] {
            b'\n' => return Some((colon, i)),
            b':' if colon.is_none() => colon = Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The first `:` or `\n` in `buf[from..]`, eight bytes at a time (keys are short, so this
/// beats a call into a vectorised search).
#[inline]
fn find_colon_or_lf(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 8 <= buf.len() {
        let w = word_at(buf, i);
        let m = zero_bytes(w ^ LFS) | zero_bytes(w ^ COLONS);
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    buf[i..]
        .iter()
        .position(|&b| b == b'\n' || b == b':')
        .map(|p| i + p)
}

/// The first `\n` in `buf[from..]`: eight bytes at a time for a typical value, then memchr.
#[inline]
fn find_lf(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    let short = (from + 256).min(buf.len());
    while i + 8 <= short {
        let m = zero_bytes(word_at(buf, i) ^ LFS);
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    memchr(b'\n', &buf[i..]).map(|p| i + p)
}

/// The span of header line `[ls, le)` (header number `idx`) of the message starting at `base`,
/// whose colon is at `colon`; notes the keys the index tracks, and `Response: Follows`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn header_span(
    buf: &[u8],
    base: usize,
    ls: usize,
    le: usize,
    colon: Option<usize>,
    idx: u32,
    index: &mut KeyIndex,
    follows: &mut bool,
) -> Span {
    match colon {
        Some(c) => {
            let mut vs = c + 1;
            if vs < le && buf[vs] == b' ' {
                vs += 1;
            }
            if index.note(&buf[ls..c], idx) && buf[vs..le].eq_ignore_ascii_case(b"Follows") {
                *follows = true;
            }
            Span {
                start: (ls - base) as u32,
                name_end: (c - base) as u32,
                value_start: (vs - base) as u32,
                end: (le - base) as u32,
            }
        }
        None => Span {
            start: (ls - base) as u32,
            name_end: (ls - base) as u32,
            value_start: (ls - base) as u32,
            end: (le - base) as u32,
        },
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
