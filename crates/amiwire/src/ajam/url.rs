//! `application/x-www-form-urlencoded`, as Asterisk reads it (main/http.c,
//! `ast_http_parse_post_form` and `handle_uri` with `ast_uri_http_legacy`): pairs split at
//! `&`, name and value at the first `=`, `+` is a space and `%XX` the byte of two hex digits.
//!
//! Encoding is strict: every byte outside the unreserved set (`A-Z a-z 0-9 - . _ ~`) is
//! written `%XX` (upper-case hex), a space is `+`. So no `&`, `=`, `%`, CR, LF or `#` can
//! pass through unescaped, whatever the input.
//!
//! ```
//! use amiwire::ajam::url::{encode_component, parse_form, url_decode_strict};
//!
//! let mut q = String::new();
//! encode_component("core show version & more=1", &mut q);
//! assert_eq!(q, "core+show+version+%26+more%3D1");
//! assert_eq!(url_decode_strict(&q).as_deref(), Some("core show version & more=1"));
//! assert_eq!(
//!     parse_form("action=Getvar&Variable=TESTGLOBAL&flag"),
//!     [("action".into(), "Getvar".into()), ("Variable".into(), "TESTGLOBAL".into()), ("flag".into(), String::new())]
//! );
//! ```

/// Whether `b` is in RFC 3986's unreserved set, which is written as it is.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Appends `s` form-encoded to `out`: unreserved bytes as they are, space as `+`, every other
/// byte as `%XX`.
pub fn encode_component(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(s.len());
    for &b in s.as_bytes() {
        if unreserved(b) {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

/// Decodes a value; an escape that is not two hex digits stays as written (as Asterisk and the
/// simulator's HTTP side take it), and bytes that are not UTF-8 become U+FFFD.
pub fn url_decode_lossy(s: &str) -> String {
    String::from_utf8_lossy(&decode(s, false).unwrap_or_default()).into_owned()
}

/// Decodes a value; `None` for an escape that is not two hex digits, or bytes that are not
/// UTF-8.
pub fn url_decode_strict(s: &str) -> Option<String> {
    String::from_utf8(decode(s, true)?).ok()
}

/// Splits a query string or form body into decoded `(name, value)` pairs, in order, as
/// Asterisk does: at each `&`, then at the first `=` (no `=`: an empty value), both sides
/// decoded with [`url_decode_lossy`]. Empty pieces (`a=1&&b=2`) give a pair with an empty
/// name, as in Asterisk, where such a header is then ignored.
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .map(|piece| match piece.split_once('=') {
            Some((k, v)) => (url_decode_lossy(k), url_decode_lossy(v)),
            None => (url_decode_lossy(piece), String::new()),
        })
        .collect()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode(s: &str, strict: bool) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let byte = match (
                    b.get(i + 1).copied().and_then(hex),
                    b.get(i + 2).copied().and_then(hex),
                ) {
                    (Some(h), Some(l)) => Some(h << 4 | l),
                    _ => None,
                };
                match byte {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None if strict => return None,
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossy_keeps_bad_escapes_strict_refuses_them() {
        assert_eq!(url_decode_lossy("a+b%2Fc"), "a b/c");
        assert_eq!(url_decode_lossy("%zz%4"), "%zz%4");
        assert_eq!(url_decode_lossy("%ff"), "\u{fffd}");
        assert_eq!(url_decode_lossy("%+1"), "% 1");
        assert_eq!(url_decode_strict("a+b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(url_decode_strict("%zz"), None);
        assert_eq!(url_decode_strict("%ff"), None);
        assert_eq!(url_decode_strict("%+1"), None);
    }

    #[test]
    fn encoding_escapes_everything_but_unreserved() {
        let mut s = String::new();
        encode_component("a+b&c=d%e\r\n#é~._-", &mut s);
        assert_eq!(s, "a%2Bb%26c%3Dd%25e%0D%0A%23%C3%A9~._-");
        assert_eq!(
            url_decode_strict(&s).as_deref(),
            Some("a+b&c=d%e\r\n#é~._-")
        );
    }
}
