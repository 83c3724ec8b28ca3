//! `application/x-www-form-urlencoded` values, as the simulator's HTTP side and the
//! `amiwire click2call` server read them: `+` is a space, `%XX` the byte of two hex digits.

/// Decodes a value; an escape that is not two hex digits stays as written (as the
/// simulator's HTTP side takes it), and bytes that are not UTF-8 become U+FFFD.
pub fn url_decode_lossy(s: &str) -> String {
    String::from_utf8_lossy(&decode(s, false).unwrap_or_default()).into_owned()
}

/// Decodes a value; `None` for an escape that is not two hex digits, or bytes that are not
/// UTF-8.
pub fn url_decode_strict(s: &str) -> Option<String> {
    String::from_utf8(decode(s, true)?).ok()
}

fn decode(s: &str, strict: bool) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let byte = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
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
        assert_eq!(url_decode_strict("a+b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(url_decode_strict("%zz"), None);
        assert_eq!(url_decode_strict("%ff"), None);
    }
}
