//! `application/x-www-form-urlencoded` values, as the simulator's HTTP side reads them:
//! `+` is a space, `%XX` the byte of two hex digits.
//!
//! The decoder lives in the core ([`amiwire::ajam::url`]), shared with the HTTP client; it is
//! re-exported here so that existing users keep their paths.

pub use amiwire::ajam::url::{url_decode_lossy, url_decode_strict};
