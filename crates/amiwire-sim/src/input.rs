//! Actions as main/manager.c reads them from a TCP session (Asterisk 22): `get_input` cuts
//! lines, `do_message` gathers them into messages, and the keys and values are then those
//! `__astman_get_header` finds.
//!
//! - `get_input`: a line ends at CRLF or at a bare LF; it is a C string, so a NUL ends it
//!   early. Lines are read into a 1024-byte buffer: when it is full without a line end, its
//!   bytes but the last are dropped and the message is marked too long.
//! - `do_message`: a blank line (or one that starts with NUL) ends the message, even one
//!   with no line at all, which `process_message` then answers "Missing action in request".
//!   A message keeps 128 lines (`AST_MAX_MANHEADERS`); with more it is answered "Too many
//!   lines in message or allocation failure", and a message marked too long "Failed to parse
//!   message: line too long" (`handle_parse_error`).
//! - `__astman_get_header`: a key matches in any case and must be followed by the colon at
//!   once; its value starts after the blanks (bytes below 33, `ast_skip_blanks`) that follow
//!   the colon, and keeps those at its end.
//!
//! Each message is handed on re-encoded so that the decoder's values are those Asterisk
//! sees (`Key: value`, the value without its leading blanks).

/// `sizeof(inbuf) - 1` in `get_input`.
const LINE_BUFFER: usize = 1024;
/// `AST_MAX_MANHEADERS`.
const MAX_LINES: usize = 128;

/// What a message read comes to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// A message: its lines re-encoded as `Key: value\r\n`…`\r\n` (empty for a message
    /// without a line).
    Message(Vec<u8>),
    /// A message with a line over the buffer; its lines as above (for its ActionID).
    LineTooLong(Vec<u8>),
    /// A message of more than 128 lines; its first 128 as above.
    TooManyLines(Vec<u8>),
}

/// A session's input, from bytes to messages.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    buf: Vec<u8>,
    lines: Vec<Vec<u8>>,
    too_long: bool,
    lost: bool,
}

impl Reader {
    /// Takes bytes read; the messages they complete.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> Vec<Input> {
        let mut out = Vec::new();
        loop {
            let room = LINE_BUFFER - self.buf.len();
            let take = room.min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            while let Some(line) = self.next_line() {
                if let Some(input) = self.line(line) {
                    out.push(input);
                }
            }
            if self.buf.len() >= LINE_BUFFER {
                // No line end and the buffer full: keep the last byte, in case it is the CR
                // of a CRLF.
                let last = self.buf[self.buf.len() - 1];
                self.buf.clear();
                self.buf.push(last);
                self.too_long = true;
                continue;
            }
            if bytes.is_empty() {
                return out;
            }
        }
    }

    /// `get_input`: the next line in the buffer, without its end and cut at a NUL.
    fn next_line(&mut self) -> Option<Vec<u8>> {
        let (x, used) = self.buf.iter().enumerate().find_map(|(x, &b)| match b {
            b'\r' if self.buf.get(x + 1) == Some(&b'\n') => Some((x, 2)),
            b'\n' => Some((x, 1)),
            _ => None,
        })?;
        let mut line: Vec<u8> = self.buf.drain(..x + used).take(x).collect();
        if let Some(nul) = line.iter().position(|&b| b == 0) {
            line.truncate(nul);
        }
        Some(line)
    }

    /// `do_message`: one line of the message, or its end.
    fn line(&mut self, line: Vec<u8>) -> Option<Input> {
        if !line.is_empty() {
            if self.lines.len() < MAX_LINES {
                self.lines.push(line);
            } else {
                self.lost = true;
            }
            return None;
        }
        let text = encode(&std::mem::take(&mut self.lines));
        if std::mem::take(&mut self.lost) {
            return Some(Input::TooManyLines(text));
        }
        if std::mem::take(&mut self.too_long) {
            return Some(Input::LineTooLong(text));
        }
        Some(Input::Message(text))
    }
}

/// The lines as the decoder should read them: `Key: value`, the value after the blanks that
/// follow the colon (a line without a colon as it is), then the blank line.
fn encode(lines: &[Vec<u8>]) -> Vec<u8> {
    if lines.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for l in lines {
        match l.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &l[colon + 1..];
                let skip = value.iter().take_while(|&&b| b < 33).count();
                out.extend_from_slice(&l[..colon]);
                out.extend_from_slice(b": ");
                out.extend_from_slice(&value[skip..]);
            }
            None => out.extend_from_slice(l),
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_messages_and_limits() {
        let mut r = Reader::default();
        assert_eq!(
            r.feed(b"Action:\t Ping\nX: a \0b\r\n\r\n\r\n"),
            [
                Input::Message(b"Action: Ping\r\nX: a \r\n\r\n".to_vec()),
                Input::Message(Vec::new()),
            ]
        );
        // A line that fills the buffer: the message is too long; the next one is read.
        let mut long = b"Action: Ping\r\nX: ".to_vec();
        long.extend(std::iter::repeat_n(b'x', 3000));
        long.extend_from_slice(b"\r\n\r\nAction: Ping\r\n\r\n");
        let got = r.feed(&long);
        assert!(matches!(got[0], Input::LineTooLong(_)), "{got:?}");
        assert_eq!(got[1], Input::Message(b"Action: Ping\r\n\r\n".to_vec()));
        // 1022 bytes and the CRLF fit.
        let mut fits = vec![b'y'; 1022];
        fits.extend_from_slice(b"\r\n\r\n");
        assert!(matches!(r.feed(&fits)[0], Input::Message(_)));
        let mut many = Vec::new();
        for _ in 0..129 {
            many.extend_from_slice(b"H: v\r\n");
        }
        many.extend_from_slice(b"\r\n");
        assert!(matches!(r.feed(&many)[0], Input::TooManyLines(_)));
    }
}
