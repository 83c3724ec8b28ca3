//! AMI over HTTP ("AJAM"), sans I/O: the endpoints, the requests, the bodies, the cookie
//! session, HTTP Digest, the WaitEvent long poll, and a [`Bridge`] that lets an unchanged
//! [`Connection`](crate::Connection) run over HTTP.
//!
//! Asterisk serves AMI over its HTTP server (main/manager.c `generic_http_callback`,
//! `auth_http_callback`) at six URIs, under the HTTP server's prefix:
//!
//! | path        | body        | authentication                                    |
//! |-------------|-------------|---------------------------------------------------|
//! | `/rawman`   | text/plain (AMI framing) | `mansession_id` cookie, `Login` action |
//! | `/mxml`     | text/xml    | cookie                                               |
//! | `/manager`  | text/html   | cookie                                               |
//! | `/arawman`  | text/plain  | HTTP Digest (MD5, `qop=auth`)                        |
//! | `/amxml`    | text/xml    | Digest                                               |
//! | `/amanager` | text/html   | Digest                                               |
//!
//! Each request carries one action as GET query or POST form parameters; the response body
//! holds the action's answer (with its event list, if any). Events only come through the
//! `WaitEvent` action, a long poll.
//!
//! What each body format gives back (all three through [`decode_body`], into the same
//! [`Message`](crate::Message) type as TCP):
//!
//! - **rawman**: everything, byte for byte as over TCP (the answer, list items, Command
//!   output, WaitEvent's events); [`Bridge`] passes these bodies through untouched.
//! - **mxml**: every header and value; values exact (entities decoded), repeated headers
//!   restored. Names come back lower-cased, with `_` for what was not alphanumeric, since
//!   Asterisk's `xml_translate` writes them so; well-known names get their TCP spelling again
//!   ([`mxml`] lists them). AMI lookups ignore case, so `get("CallerIDNum")` works either way.
//! - **manager** (HTML): a best-effort reading of Asterisk's debugging page (names keep their
//!   case there); tested on Asterisk 22's page. Prefer rawman.
//!
//! The pieces: [`Endpoint`], [`encode_form`] / [`build_request`] ([`HttpRequest`] as data),
//! [`decode_body`], [`CookieSession`], [`digest`] ([`DigestClient`], and the math the
//! simulator's server side uses too), [`url`] (shared with the simulator and the CLI),
//! [`waitevent`], and the [`Bridge`] that puts them together for a
//! [`Connection`](crate::Connection).
//!
//! ```
//! use amiwire::ajam::{build_request, decode_body, BodyLimits, Endpoint, Flavour, HttpMethod};
//! use amiwire::Action;
//!
//! let ep: Endpoint = "/asterisk/rawman".parse()?;
//! assert_eq!(ep.flavour(), Flavour::Rawman);
//! let req = build_request(&ep, &Action::command("core show version"), HttpMethod::Get, "127.0.0.1:8088")?;
//! assert_eq!(req.target, "/asterisk/rawman?action=Command&Command=core+show+version");
//!
//! // The body of the answer, as recorded from Asterisk 22 (11a-http-rawman).
//! let body = b"Response: Success\r\nMessage: Command output follows\r\nOutput: Asterisk 22.10.1\r\n\r\n";
//! let msgs = decode_body(Flavour::Rawman, body, &BodyLimits::default())?;
//! assert_eq!(msgs[0].get_str("Output"), Some("Asterisk 22.10.1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::str::FromStr;

use crate::{Action, EncodeError};

mod body;
pub mod bridge;
pub mod cookie;
pub mod digest;
pub mod mxml;
pub mod url;
pub mod waitevent;

pub use body::{
    decode_body, decode_manager_html, decode_rawman, encode_messages, BodyError, BodyLimits,
};
pub use bridge::{Bridge, BridgeConfig, BridgeError, EofReason, RequestId, RequestKind};
pub use cookie::{is_session_expired, CookieSession, SetCookie, PRE_LOGIN_LIFETIME};
pub use digest::{Challenge, ChallengeOutcome, DigestClient, DigestError};
pub use mxml::decode_mxml;
pub use waitevent::{
    split_wait_event, wait_event_action, wait_event_timeout, WaitEventError, WAIT_EVENT_MARGIN,
};

/// The format of a response body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavour {
    /// `text/plain`: the AMI framing of TCP, without banner.
    Rawman,
    /// `text/xml`: `<ajax-response>` with one `<response><generic …/></response>` per message.
    Mxml,
    /// `text/html`: a debugging page (a table per message).
    Manager,
}

/// How an endpoint authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpAuth {
    /// A `mansession_id` cookie, logged in with the `Login` action.
    Cookie,
    /// HTTP Digest (MD5) on every request; the session is keyed by user and nonce.
    Digest,
}

/// An AMI-over-HTTP endpoint: the HTTP server's prefix, the body format and the
/// authentication.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    prefix: String,
    flavour: Flavour,
    auth: HttpAuth,
}

/// A path that is not an AMI-over-HTTP endpoint (the caller's mistake).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The last path segment is none of rawman, mxml, manager, arawman, amxml, amanager.
    #[error("not an AMI-over-HTTP endpoint: `{}` (want rawman, mxml, manager, arawman, amxml or amanager)", .0.escape_debug())]
    UnknownEndpoint(String),
    /// The path holds a query, a fragment, a space, a control or non-ASCII character.
    #[error("invalid endpoint path `{}`: {reason}", .path.escape_debug())]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A byte of a path as RFC 3986 allows it unescaped (`pchar` without `%`, and `/`): nothing
/// that would need escaping in a request target or break a Digest `uri="…"` open.
fn path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&b)
}

impl Endpoint {
    /// The endpoint of a URL path: its last segment names it (ASCII case-insensitive, as
    /// Asterisk matches URIs), what comes before is the prefix (`/asterisk/rawman`). A missing
    /// leading `/` is added; a trailing `/` is ignored.
    pub fn parse(path: &str) -> Result<Endpoint, EndpointError> {
        let invalid = |reason| EndpointError::InvalidPath {
            path: path.to_owned(),
            reason,
        };
        if let Some(c) = path.bytes().find(|&b| !path_byte(b)) {
            return Err(invalid(match c {
                b'?' => "a query is not part of the endpoint",
                b'#' => "a fragment is not part of the endpoint",
                b'%' => "escapes are not allowed",
                _ => "only letters, digits, '/' and -._~!$&'()*+,;=:@ are allowed",
            }));
        }
        let trimmed = path.trim_end_matches('/');
        let (prefix, last) = match trimmed.rfind('/') {
            Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
            None => ("", trimmed),
        };
        let (flavour, auth) = match last.to_ascii_lowercase().as_str() {
            "rawman" => (Flavour::Rawman, HttpAuth::Cookie),
            "mxml" => (Flavour::Mxml, HttpAuth::Cookie),
            "manager" => (Flavour::Manager, HttpAuth::Cookie),
            "arawman" => (Flavour::Rawman, HttpAuth::Digest),
            "amxml" => (Flavour::Mxml, HttpAuth::Digest),
            "amanager" => (Flavour::Manager, HttpAuth::Digest),
            _ => return Err(EndpointError::UnknownEndpoint(path.to_owned())),
        };
        Endpoint::new(prefix, flavour, auth)
    }

    /// The endpoint for `flavour` and `auth` under `prefix` (`""`, `"/asterisk"`,
    /// `"asterisk/"`: normalised to `/asterisk`).
    pub fn new(prefix: &str, flavour: Flavour, auth: HttpAuth) -> Result<Endpoint, EndpointError> {
        if !prefix.bytes().all(path_byte) {
            return Err(EndpointError::InvalidPath {
                path: prefix.to_owned(),
                reason: "the prefix may hold letters, digits, '/' and -._~!$&'()*+,;=:@ only",
            });
        }
        let p = prefix.trim_matches('/');
        let prefix = if p.is_empty() {
            String::new()
        } else {
            format!("/{p}")
        };
        Ok(Endpoint {
            prefix,
            flavour,
            auth,
        })
    }

    /// The body format.
    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// The authentication.
    pub fn auth(&self) -> HttpAuth {
        self.auth
    }

    /// The prefix: `""` or `/asterisk` (no trailing `/`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The last path segment: `rawman`, `amxml`…
    pub fn name(&self) -> &'static str {
        match (self.auth, self.flavour) {
            (HttpAuth::Cookie, Flavour::Rawman) => "rawman",
            (HttpAuth::Cookie, Flavour::Mxml) => "mxml",
            (HttpAuth::Cookie, Flavour::Manager) => "manager",
            (HttpAuth::Digest, Flavour::Rawman) => "arawman",
            (HttpAuth::Digest, Flavour::Mxml) => "amxml",
            (HttpAuth::Digest, Flavour::Manager) => "amanager",
        }
    }

    /// The whole path: `/asterisk/arawman`.
    pub fn path(&self) -> String {
        format!("{}/{}", self.prefix, self.name())
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Endpoint, EndpointError> {
        Endpoint::parse(s)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.prefix, self.name())
    }
}

/// The HTTP method of a request (Asterisk also takes HEAD, which is of no use to a client).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// Parameters in the query string.
    Get,
    /// Parameters in an `application/x-www-form-urlencoded` body.
    Post,
}

impl HttpMethod {
    /// `"GET"` or `"POST"` (also what goes into the Digest HA2).
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        }
    }
}

/// An HTTP request to issue, as data: a transport writes it with its HTTP library, or writes
/// [`write_head`](HttpRequest::write_head) and [`body`](HttpRequest::body) itself.
///
/// `Debug` hides what is secret: the values of `secret` and `key` parameters, and the
/// `Cookie` and `Authorization` headers.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// GET or POST.
    pub method: HttpMethod,
    /// The request target: `/rawman?action=Ping&ActionID=x` (GET) or `/rawman` (POST).
    pub target: String,
    /// Header lines in order: `Host`, then `Cookie`, `Authorization` when there is one, then
    /// `Content-Type` and `Content-Length` for a POST. Names and values never hold CR or LF.
    pub headers: Vec<(String, String)>,
    /// The body: empty for a GET, the form for a POST.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The value of the first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Sets header `name` (replacing one of the same name, else appending it before
    /// `Content-Type`). Refuses a name or value with a CR, LF or other control character.
    pub fn set_header(&mut self, name: &str, value: &str) -> Result<(), RequestError> {
        let bad = |s: &str| s.bytes().any(|b| b.is_ascii_control() && b != b'\t');
        if name.is_empty() || bad(name) || name.contains(':') || name.contains(' ') || bad(value) {
            return Err(RequestError::InvalidHeader(name.escape_debug().to_string()));
        }
        if let Some(slot) = self
            .headers
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            slot.1 = value.to_owned();
        } else {
            let at = self
                .headers
                .iter()
                .position(|(k, _)| k.eq_ignore_ascii_case("Content-Type"))
                .unwrap_or(self.headers.len());
            self.headers.insert(at, (name.to_owned(), value.to_owned()));
        }
        Ok(())
    }

    /// Appends the request line and header lines (`GET /rawman?… HTTP/1.1\r\nHost: …\r\n…\r\n\r\n`)
    /// to `out`; the body is [`body`](HttpRequest::body).
    pub fn write_head(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for (k, v) in &self.headers {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let hidden =
                    k.eq_ignore_ascii_case("Cookie") || k.eq_ignore_ascii_case("Authorization");
                (k.as_str(), if hidden { "<redacted>" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("target", &redact_form(&self.target))
            .field("headers", &headers)
            .field("body", &redact_form(&String::from_utf8_lossy(&self.body)))
            .finish()
    }
}

/// A target or form with the values of `secret` and `key` parameters hidden.
fn redact_form(s: &str) -> String {
    let (head, query) = match s.split_once('?') {
        Some((h, q)) => (Some(h), q),
        None => (None, s),
    };
    let q: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("secret") || k.eq_ignore_ascii_case("key") => {
                format!("{k}=<redacted>")
            }
            _ => p.to_owned(),
        })
        .collect();
    match head {
        Some(h) => format!("{h}?{}", q.join("&")),
        None => q.join("&"),
    }
}

/// Why a request cannot be built (the caller's mistake).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The action does not encode (the same checks as over TCP: no CR, LF or control
    /// characters anywhere).
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The Host value is empty or holds a character not allowed in a host.
    #[error("invalid Host `{}`", .0.escape_debug())]
    InvalidHost(String),
    /// A header name or value holds a CR, LF or control character.
    #[error("invalid request header `{0}`")]
    InvalidHeader(String),
}

/// The form encoding of an action: `action=<Name>`, then each other header as
/// `<name>=<value>` with names as given, repeated headers (`Variable`) repeated, in order.
/// The key of the action name is written `action`, as in every Asterisk example and in the
/// recordings (Asterisk reads header names case-insensitively). Every byte outside the
/// unreserved set is escaped ([`url::encode_component`]), space as `+`.
///
/// The action is validated exactly as [`Action::encode`] validates it, so what cannot go over
/// TCP (a CR or LF in a value…) cannot go over HTTP either.
///
/// ```
/// use amiwire::Action;
/// let a = Action::new("Originate").header("Channel", "Local/100@test").variable("A", "1&2");
/// assert_eq!(
///     amiwire::ajam::encode_form(&a)?,
///     "action=Originate&Channel=Local%2F100%40test&Variable=A%3D1%262"
/// );
/// # Ok::<(), amiwire::EncodeError>(())
/// ```
pub fn encode_form(action: &Action) -> Result<String, EncodeError> {
    action.validate()?;
    Ok(encode_pairs(action.headers()))
}

/// Form-encodes `(name, value)` pairs whose first pair is the action name (written `action`).
pub(crate) fn encode_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push('&');
        }
        if i == 0 && k.eq_ignore_ascii_case("Action") {
            out.push_str("action");
        } else {
            url::encode_component(k, &mut out);
        }
        out.push('=');
        url::encode_component(v, &mut out);
    }
    out
}

/// Whether `host` may be sent as a Host header value (`name`, `name:port`, `[v6]:port`).
fn host_ok(host: &str) -> bool {
    !host.is_empty()
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']' | b'%')
        })
}

/// The HTTP request for `action` at `endpoint`: for a GET, the target is the path, `?` and
/// [`encode_form`]; for a POST, the form is the body, with `Content-Type:
/// application/x-www-form-urlencoded` and `Content-Length`. The `Host` header is `host`.
/// `Cookie` and `Authorization` are added by the caller ([`CookieSession::cookie_header`],
/// [`DigestClient::authorization`], with [`HttpRequest::set_header`]) or by the [`Bridge`].
///
/// ```
/// use amiwire::ajam::{build_request, Endpoint, HttpMethod};
/// use amiwire::Action;
/// let ep = Endpoint::parse("/rawman")?;
/// let req = build_request(&ep, &Action::getvar("TESTGLOBAL", None), HttpMethod::Post, "127.0.0.1:8088")?;
/// assert_eq!(req.target, "/rawman");
/// assert_eq!(req.body, b"action=Getvar&Variable=TESTGLOBAL");
/// assert_eq!(req.header("Content-Length"), Some("33"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn build_request(
    endpoint: &Endpoint,
    action: &Action,
    method: HttpMethod,
    host: &str,
) -> Result<HttpRequest, RequestError> {
    let form = encode_form(action)?;
    request_from_form(endpoint, form, method, host)
}

pub(crate) fn request_from_form(
    endpoint: &Endpoint,
    form: String,
    method: HttpMethod,
    host: &str,
) -> Result<HttpRequest, RequestError> {
    if !host_ok(host) {
        return Err(RequestError::InvalidHost(host.to_owned()));
    }
    let path = endpoint.path();
    let mut headers = vec![("Host".to_owned(), host.to_owned())];
    Ok(match method {
        HttpMethod::Get => HttpRequest {
            method,
            target: format!("{path}?{form}"),
            headers,
            body: Vec::new(),
        },
        HttpMethod::Post => {
            headers.push((
                "Content-Type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ));
            headers.push(("Content-Length".to_owned(), form.len().to_string()));
            HttpRequest {
                method,
                target: path,
                headers,
                body: form.into_bytes(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("/asterisk/ARawman/").unwrap();
        assert_eq!((e.flavour(), e.auth()), (Flavour::Rawman, HttpAuth::Digest));
        assert_eq!(e.path(), "/asterisk/arawman");
        assert_eq!(Endpoint::parse("mxml").unwrap().path(), "/mxml");
        assert_eq!(
            Endpoint::parse("/amanager").unwrap().flavour(),
            Flavour::Manager
        );
        assert!(matches!(
            Endpoint::parse("/rawmanx"),
            Err(EndpointError::UnknownEndpoint(_))
        ));
        assert!(matches!(
            Endpoint::parse("/rawman?action=Ping"),
            Err(EndpointError::InvalidPath { .. })
        ));
        assert!(matches!(
            Endpoint::parse("/a b/rawman"),
            Err(EndpointError::InvalidPath { .. })
        ));
    }

    #[test]
    fn debug_hides_secrets() {
        let ep = Endpoint::parse("/rawman").unwrap();
        for m in [HttpMethod::Get, HttpMethod::Post] {
            let mut r = build_request(&ep, &Action::login("admin", "amp111"), m, "h").unwrap();
            r.set_header("Cookie", "mansession_id=\"8a100a0e\"")
                .unwrap();
            let d = format!("{r:?}");
            assert!(!d.contains("amp111") && !d.contains("8a100a0e"), "{d}");
            assert!(d.contains("Secret=<redacted>"), "{d}");
        }
    }

    #[test]
    fn set_header_refuses_injection() {
        let ep = Endpoint::parse("/rawman").unwrap();
        let mut r = build_request(&ep, &Action::ping(), HttpMethod::Get, "h").unwrap();
        assert!(r.set_header("Cookie", "a\r\nX: y").is_err());
        assert!(r.set_header("Co\nokie", "a").is_err());
        r.set_header("Cookie", "mansession_id=\"1\"").unwrap();
        let mut head = Vec::new();
        r.write_head(&mut head);
        assert_eq!(
            head,
            b"GET /rawman?action=Ping HTTP/1.1\r\nHost: h\r\nCookie: mansession_id=\"1\"\r\n\r\n"
        );
        assert!(build_request(&ep, &Action::ping(), HttpMethod::Get, "h\r\nX: y").is_err());
    }
}
