//! `application/x-www-form-urlencoded` values, as the simulator's HTTP side and the
//! `amiwire click2call` server read them: `+` is a space, `%XX` the byte of two hex digits.
//!
//! The decoder lives in the core ([`amiwire::ajam::url`]), shared with the HTTP client; it is
//! re-exported here so that existing users keep their paths.

pub use amiwire::ajam::url::{url_decode_lossy, url_decode_strict};

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
