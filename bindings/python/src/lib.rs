//! The compiled half of the `amiwire` Python package (`amiwire._amiwire`): amiwire's sans-io
//! AMI core (decoder, messages, actions, filters, call files and the connection state
//! machine) as Python objects. The pure-Python half (`amiwire.Manager`, `amiwire.connect`)
//! drives [`Connection`] over sockets; nothing of the protocol is written twice.
//!
//! ```python
//! import amiwire
//!
//! dec = amiwire.Decoder()
//! msgs = dec.feed(b"Asterisk Call Manager/11.0.0\r\nEvent: Dial\r\nChannel: PJSIP/1\r\n\r\n")
//! assert dec.banner == "Asterisk Call Manager/11.0.0"
//! assert msgs[0].kind == "event" and msgs[0]["channel"] == "PJSIP/1"
//! ```
//!
//! Time is `time.monotonic()` seconds as a float; durations are float seconds, `None` or
//! `math.inf` meaning never.

use std::time::{Duration, Instant};

use amiwire::{
    ActionError, CallFile as CoreCallFile, CallFileError, CloseReason as CoreCloseReason,
    Connection as CoreConnection, ConnectionConfig, Credentials, DecodeError as CoreDecodeError,
    Decoder as CoreDecoder, DecoderConfig, EncodeError, EventMask, Filter as CoreFilter,
    FilterError, Frame, LocalError, Message as CoreMessage, MessageKind, Originate, Output,
    Refusal, Response as CoreResponse,
};
use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyString, PyTuple, PyType};

// ---------------------------------------------------------------------------------------------
// Exceptions: one hierarchy, split by fault, made at import (multiple bases need `type()`).
// ---------------------------------------------------------------------------------------------

/// (name, bases by index into this table or Python builtins, doc)
const ERRORS: &[(&str, &[&str], &str)] = &[
    ("AmiError", &["Exception"], "Every error amiwire raises."),
    ("UsageError", &["AmiError"], "The caller's fault: nothing was sent."),
    ("InvalidArgument", &["UsageError", "ValueError"], "An argument out of range or of the wrong form."),
    ("InvalidAction", &["UsageError", "ValueError"], "The action cannot be encoded (CR/LF or a control character in a value, an empty key, a colon in a key, a line or header limit of Asterisk's); nothing was sent."),
    ("InvalidFilter", &["UsageError", "ValueError"], "A filter expression or regular expression that does not compile."),
    ("InvalidCallFile", &["UsageError", "ValueError"], "A call file that does not parse or validate."),
    ("NotConnected", &["UsageError"], "The connection is closed (or was never opened)."),
    ("TooManyPending", &["UsageError"], "Too many actions wait for their results (`max_pending`)."),
    ("OutputFull", &["UsageError"], "The output queue is full (`max_queued_bytes`): the transport is not writing."),
    ("DuplicateActionId", &["UsageError"], "An action with this ActionID is already pending."),
    ("OriginateResultUnavailable", &["UsageError"], "An async Originate whose OriginateResponse cannot arrive: the session's event mask excludes the call class."),
    ("PeerError", &["AmiError"], "The server's or the network's fault."),
    ("ProtocolError", &["PeerError"], "The server broke the protocol (no AMI banner, a Challenge answer without a challenge)."),
    ("DecodeError", &["PeerError"], "A message broke a decoder limit and was dropped (the stream goes on)."),
    ("LoginFailed", &["PeerError"], "The server refused the login; `.message` is its text (never the secret)."),
    ("ConnectionLost", &["PeerError"], "The connection ended; `.reason` is the CloseReason."),
    ("ActionFailed", &["AmiError"], "An action got no result; `.action_id`, and `.sent` (True: it reached the server, its outcome is unknown)."),
    ("ActionTimeout", &["ActionFailed"], "No result within the action's timeout."),
    ("ActionLost", &["ActionFailed"], "The connection ended before the result; an action that was sent is never sent again."),
    ("ListTruncated", &["ActionFailed"], "The connection ended inside the action's event list; `.partial` is what arrived."),
    ("ListTooLong", &["ActionFailed"], "The event list was longer than `max_list_items`."),
];

struct Errors(Vec<Py<PyType>>);

static ERROR_TYPES: PyOnceLock<Errors> = PyOnceLock::new();

fn make_errors(py: Python<'_>) -> PyResult<Errors> {
    let builtins = py.import("builtins")?;
    let type_ = builtins.getattr("type")?;
    let mut made: Vec<Py<PyType>> = Vec::with_capacity(ERRORS.len());
    for (name, bases, doc) in ERRORS {
        let mut b = Vec::new();
        for base in *bases {
            match ERRORS.iter().position(|(n, _, _)| n == base) {
                Some(i) => b.push(made[i].clone_ref(py).into_any()),
                None => b.push(builtins.getattr(*base)?.unbind()),
            }
        }
        let dict = PyDict::new(py);
        dict.set_item("__module__", "amiwire")?;
        dict.set_item("__doc__", *doc)?;
        let cls = type_.call1((*name, PyTuple::new(py, b)?, dict))?;
        made.push(cls.cast_into::<PyType>()?.unbind());
    }
    Ok(Errors(made))
}

fn error_type<'py>(py: Python<'py>, name: &str) -> Bound<'py, PyType> {
    let errors = ERROR_TYPES
        .get(py)
        .expect("the exception types are made when the module is imported");
    let i = ERRORS.iter().position(|(n, _, _)| *n == name).unwrap_or(0);
    errors.0[i].bind(py).clone()
}

/// An exception instance of `name` with `message` and attributes.
fn error_value<'py>(
    py: Python<'py>,
    name: &str,
    message: String,
    attrs: &[(&str, Py<PyAny>)],
) -> Bound<'py, PyAny> {
    let cls = error_type(py, name);
    let value = match cls.call1((message.clone(),)) {
        Ok(v) => v,
        Err(e) => return e.into_value(py).into_bound(py).into_any(),
    };
    for (k, v) in attrs {
        let _ = value.setattr(*k, v.bind(py));
    }
    value
}

fn error(py: Python<'_>, name: &str, message: impl Into<String>) -> PyErr {
    PyErr::from_value(error_value(py, name, message.into(), &[]))
}

fn encode_error(py: Python<'_>, e: &EncodeError) -> PyErr {
    error(py, "InvalidAction", e.to_string())
}

fn local_error(py: Python<'_>, e: &LocalError) -> PyErr {
    let name = match e {
        LocalError::Closed => "NotConnected",
        LocalError::TooManyPending { .. } => "TooManyPending",
        LocalError::OutputFull { .. } => "OutputFull",
        LocalError::DuplicateActionId(_) => "DuplicateActionId",
        LocalError::OriginateResultUnavailable { .. } => "OriginateResultUnavailable",
        LocalError::Encode(e) => return encode_error(py, e),
        _ => "UsageError",
    };
    error(py, name, e.to_string())
}

fn filter_error(py: Python<'_>, e: &FilterError) -> PyErr {
    error(py, "InvalidFilter", e.to_string())
}

fn callfile_error(py: Python<'_>, e: &CallFileError) -> PyErr {
    error(py, "InvalidCallFile", e.to_string())
}

fn decode_error_value<'py>(py: Python<'py>, e: &CoreDecodeError) -> Bound<'py, PyAny> {
    error_value(py, "DecodeError", e.to_string(), &[])
}

fn bad_arg(py: Python<'_>, message: impl Into<String>) -> PyErr {
    error(py, "InvalidArgument", message)
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn kind_name(k: MessageKind) -> &'static str {
    match k {
        MessageKind::Event => "event",
        MessageKind::Response => "response",
        MessageKind::Action => "action",
        MessageKind::Other => "other",
    }
}

/// Seconds as a duration: `None` and `inf` are "never" (`Duration::MAX`).
fn duration(py: Python<'_>, what: &str, secs: Option<f64>) -> PyResult<Duration> {
    match secs {
        None => Ok(Duration::MAX),
        Some(s) if s.is_nan() || s < 0.0 => Err(bad_arg(
            py,
            format!("{what} must be a number of seconds >= 0 or None, not {s}"),
        )),
        Some(s) => Ok(Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)),
    }
}

/// Maps `time.monotonic()` floats to `Instant`s from a base pair taken at creation. Times
/// before the base are the base; times too far ahead saturate.
#[derive(Clone, Copy, Debug)]
struct Clock {
    instant: Instant,
    secs: f64,
}

impl Clock {
    fn new(now: f64) -> Clock {
        Clock {
            instant: Instant::now(),
            secs: if now.is_finite() { now } else { 0.0 },
        }
    }

    fn at(&self, py: Python<'_>, t: f64) -> PyResult<Instant> {
        if t.is_nan() {
            return Err(bad_arg(py, "now must be a time.monotonic() value, not NaN"));
        }
        let d = t - self.secs;
        if d <= 0.0 {
            return Ok(self.instant);
        }
        let d = Duration::try_from_secs_f64(d).unwrap_or(Duration::from_secs(u32::MAX as u64));
        Ok(self
            .instant
            .checked_add(d)
            .or_else(|| {
                self.instant
                    .checked_add(Duration::from_secs(u32::MAX as u64))
            })
            .unwrap_or(self.instant))
    }

    fn secs(&self, i: Instant) -> f64 {
        self.secs + i.saturating_duration_since(self.instant).as_secs_f64()
    }
}

fn monotonic(py: Python<'_>) -> PyResult<f64> {
    py.import("time")?.call_method0("monotonic")?.extract()
}

/// A header value from Python: str, int, float or bool (`true`/`false`).
fn value_text(v: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = v.cast::<PyString>() {
        return s.extract::<String>();
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(if b.is_true() { "true" } else { "false" }.to_owned());
    }
    if v.is_instance_of::<pyo3::types::PyInt>() || v.is_instance_of::<pyo3::types::PyFloat>() {
        return v.str()?.extract::<String>();
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return match std::str::from_utf8(b.as_bytes()) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(PyValueError::new_err("header value bytes are not UTF-8")),
        };
    }
    Err(PyTypeError::new_err(format!(
        "a header value must be str, int, float, bool or a list of them, not {}",
        v.get_type().name()?
    )))
}

/// Adds `key: value` (a list or tuple value is one header line per item; None adds nothing).
fn add_value(action: &mut amiwire::Action, key: &str, v: &Bound<'_, PyAny>) -> PyResult<()> {
    if v.is_none() {
        return Ok(());
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        for item in v.try_iter()? {
            let item = item?;
            if !item.is_none() {
                action.push_header(key, value_text(&item)?);
            }
        }
        return Ok(());
    }
    action.push_header(key, value_text(v)?);
    Ok(())
}

/// Pairs from a mapping, or an iterable of `(key, value)`.
fn pairs<'py>(v: &Bound<'py, PyAny>) -> PyResult<Vec<(String, Bound<'py, PyAny>)>> {
    let mut out = Vec::new();
    if let Ok(d) = v.cast::<PyDict>() {
        for (k, v) in d.iter() {
            out.push((k.extract::<String>()?, v));
        }
        return Ok(out);
    }
    let items = if v.hasattr("items")? {
        v.call_method0("items")?
    } else {
        v.clone()
    };
    for item in items.try_iter()? {
        let (k, v): (String, Bound<'py, PyAny>) = item?.extract()?;
        out.push((k, v));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Message
// ---------------------------------------------------------------------------------------------

/// One AMI message (an event, a response, an action), lossless: header lines in wire order,
/// keys with their case, duplicates kept, values as bytes underneath.
///
/// `msg["Channel"]` looks a key up case-insensitively (the first line wins, as in Asterisk);
/// iterating gives `(key, value)` pairs in wire order. The str views decode invalid UTF-8 with
/// replacement characters and never raise; `get_bytes` and `raw` give the bytes.
#[pyclass(frozen, module = "amiwire", eq)]
#[derive(Clone, PartialEq)]
pub struct Message {
    inner: CoreMessage,
}

impl Message {
    fn new(inner: CoreMessage) -> Message {
        Message { inner }
    }

    fn pair_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for h in self.inner.iter() {
            list.append((text(h.name()), text(h.value())))?;
        }
        Ok(list)
    }
}

#[pymethods]
impl Message {
    /// Decodes the bytes of one message (`Key: Value` lines, optionally ended by a blank
    /// line); raises `DecodeError` when they do not make exactly one message.
    #[new]
    fn py_new(py: Python<'_>, data: &[u8]) -> PyResult<Message> {
        let mut dec = CoreDecoder::with_config(DecoderConfig::without_banner());
        let mut bytes = data.to_vec();
        if !bytes.ends_with(b"\r\n\r\n") && !bytes.ends_with(b"\n\n") {
            bytes.extend_from_slice(b"\r\n\r\n");
        }
        let mut found = None;
        let mut off = 0;
        while off < bytes.len() {
            let taken = dec.feed(&bytes[off..]);
            off += taken;
            loop {
                match dec.decode() {
                    Ok(Some(Frame::Message(m))) => {
                        if found.is_some() {
                            return Err(error(py, "DecodeError", "more than one message"));
                        }
                        found = Some(m.to_owned());
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => return Err(error(py, "DecodeError", e.to_string())),
                }
            }
            if taken == 0 {
                break;
            }
        }
        found
            .map(Message::new)
            .ok_or_else(|| error(py, "DecodeError", "no message in the bytes"))
    }

    fn __getitem__(&self, key: &str) -> PyResult<String> {
        self.inner
            .get(key)
            .map(text)
            .ok_or_else(|| PyKeyError::new_err(key.to_owned()))
    }

    /// The value of the first `key` line (case-insensitive), or `default`.
    #[pyo3(signature = (key, default=None))]
    fn get(&self, py: Python<'_>, key: &str, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        Ok(match self.inner.get(key) {
            Some(v) => PyString::new(py, &String::from_utf8_lossy(v))
                .into_any()
                .unbind(),
            None => default.unwrap_or_else(|| py.None()),
        })
    }

    /// The raw bytes of the first `key` value, or None.
    fn get_bytes<'py>(&self, py: Python<'py>, key: &str) -> Option<Bound<'py, PyBytes>> {
        self.inner.get(key).map(|v| PyBytes::new(py, v))
    }

    /// Every value of `key`, in wire order (`Variable`, `ChanVariable`…).
    fn get_all(&self, key: &str) -> Vec<String> {
        self.inner.as_ref().get_all(key).map(text).collect()
    }

    fn __contains__(&self, key: &str) -> bool {
        self.inner.get(key).is_some()
    }

    fn __len__(&self) -> usize {
        self.inner.as_ref().len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.pair_list(py)?.into_any().try_iter()?.into_any())
    }

    /// `(key, value)` pairs in wire order, duplicates included.
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.pair_list(py)
    }

    /// The keys in wire order, duplicates included.
    fn keys(&self) -> Vec<String> {
        self.inner.iter().map(|h| text(h.name())).collect()
    }

    /// A dict of the headers (the first line of each key wins).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let all: Vec<_> = self.inner.iter().collect();
        for h in all.into_iter().rev() {
            d.set_item(text(h.name()), text(h.value()))?;
        }
        Ok(d)
    }

    /// `"event"`, `"response"`, `"action"` or `"other"` (an `Event` header makes an event,
    /// even an OriginateResponse with its `Response:` line).
    #[getter]
    fn kind(&self) -> &'static str {
        kind_name(self.inner.kind())
    }

    /// The event name, else the `Response:` value, else the action name; None for none.
    #[getter]
    fn name(&self) -> Option<String> {
        let m = self.inner.as_ref();
        m.event()
            .or_else(|| m.response())
            .or_else(|| m.action())
            .map(text)
    }

    /// The `ActionID` value, or None.
    #[getter]
    fn action_id(&self) -> Option<String> {
        self.inner.as_ref().action_id().map(text)
    }

    /// Command output lines, in either framing (`Output:` lines, or the old `Response:
    /// Follows` body).
    #[getter]
    fn output(&self) -> Vec<String> {
        self.inner.as_ref().command_output().map(text).collect()
    }

    /// Channel variables as `(channel or None, name, value)`, from both
    /// `ChanVariable(<chan>): n=v` and `[Prefix]ChanVariable: n=v`.
    #[getter]
    fn chan_variables(&self) -> Vec<(Option<String>, String, String)> {
        self.inner
            .as_ref()
            .chan_variables()
            .map(|v| (v.channel.map(text), text(v.name), text(v.value)))
            .collect()
    }

    /// The message's bytes as they came (line ends included).
    #[getter]
    fn raw<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.as_bytes())
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.raw(py)
    }

    fn __repr__(&self) -> String {
        let mut s = String::from("Message(");
        for (i, h) in self.inner.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let v = if is_secret_key(h.name()) {
                "<redacted>".to_owned()
            } else {
                text(h.value())
            };
            s.push_str(&format!("{:?}: {:?}", text(h.name()), v));
        }
        s.push(')');
        s
    }
}

fn is_secret_key(k: &[u8]) -> bool {
    k.eq_ignore_ascii_case(b"Secret") || k.eq_ignore_ascii_case(b"Key")
}

fn message_obj(py: Python<'_>, m: CoreMessage) -> PyResult<Py<Message>> {
    Py::new(py, Message::new(m))
}

// ---------------------------------------------------------------------------------------------
// Decoder
// ---------------------------------------------------------------------------------------------

/// An incremental AMI decoder: `feed` it bytes in chunks of any size, get the complete
/// messages. Any chunking gives the same messages. A message over a limit is dropped alone
/// and reported in `errors`; the stream goes on.
#[pyclass(module = "amiwire")]
pub struct Decoder {
    /// Boxed: the core's decoder is aligned beyond what Python's object layout guarantees.
    inner: Box<CoreDecoder>,
    banner: Option<String>,
    errors: Vec<Py<PyAny>>,
}

#[pymethods]
impl Decoder {
    /// `expect_banner`: the stream starts with `Asterisk Call Manager/…` (a TCP session); the
    /// limits are in bytes and lines (defaults: 64 KiB lines, 4,096 headers, 1 MiB messages).
    #[new]
    #[pyo3(signature = (*, expect_banner=true, max_line_len=None, max_headers=None, max_message_len=None))]
    fn new(
        expect_banner: bool,
        max_line_len: Option<usize>,
        max_headers: Option<usize>,
        max_message_len: Option<usize>,
    ) -> Decoder {
        let mut cfg = DecoderConfig::default();
        cfg.expect_banner = expect_banner;
        if let Some(v) = max_line_len {
            cfg.max_line_len = v;
        }
        if let Some(v) = max_headers {
            cfg.max_headers = v;
        }
        if let Some(v) = max_message_len {
            cfg.max_message_len = v;
            cfg.max_buffered = cfg.max_buffered.max(v.saturating_add(64 * 1024));
        }
        Decoder {
            inner: Box::new(CoreDecoder::with_config(cfg)),
            banner: None,
            errors: Vec::new(),
        }
    }

    /// Takes all of `data`; returns the messages it completed, in order.
    fn feed<'py>(&mut self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        let mut off = 0;
        let mut stalled = false;
        loop {
            let taken = self.inner.feed(&data[off..]);
            off += taken;
            loop {
                match self.inner.decode() {
                    Ok(Some(Frame::Message(m))) => {
                        list.append(Py::new(py, Message::new(m.to_owned()))?)?;
                    }
                    Ok(Some(Frame::Banner(b))) => self.banner = Some(text(b)),
                    Ok(None) => break,
                    Err(e) => self.errors.push(decode_error_value(py, &e).unbind()),
                }
            }
            if off >= data.len() {
                break;
            }
            if taken == 0 {
                if stalled {
                    // Cannot happen with the core's limits (a full buffer is a message over
                    // the limit, which is dropped); never loop forever.
                    return Err(error(py, "DecodeError", "the decoder takes no more input"));
                }
                stalled = true;
            } else {
                stalled = false;
            }
        }
        Ok(list)
    }

    /// Says the stream ended: raises `DecodeError` if it ended inside a message.
    fn finish(&mut self, py: Python<'_>) -> PyResult<()> {
        self.inner
            .finish()
            .map_err(|e| PyErr::from_value(decode_error_value(py, &e)))
    }

    /// The banner line (`Asterisk Call Manager/11.0.0`), once it arrived.
    #[getter]
    fn banner(&self) -> Option<String> {
        self.banner.clone()
    }

    /// Bytes held for a message not complete yet.
    #[getter]
    fn buffered(&self) -> usize {
        self.inner.buffered()
    }

    /// `DecodeError`s of the messages dropped so far (not cleared: see `take_errors`).
    #[getter]
    fn errors(&self, py: Python<'_>) -> Vec<Py<PyAny>> {
        self.errors.iter().map(|e| e.clone_ref(py)).collect()
    }

    /// The `DecodeError`s so far, clearing them.
    fn take_errors(&mut self) -> Vec<Py<PyAny>> {
        std::mem::take(&mut self.errors)
    }
}

// ---------------------------------------------------------------------------------------------
// Action
// ---------------------------------------------------------------------------------------------

/// An action to send. The builder never raises on a value: a value that cannot be sent (a CR
/// or LF, a control character, an empty key) is recorded, and `validate()`, `encode()` and
/// sending it raise `InvalidAction` (nothing reaches the wire).
///
/// `Action("Originate", {"Channel": "PJSIP/100"}, Variable=["a=1", "b=2"])`: a list value
/// is one header line per item; ints and floats are written as numbers, bools as
/// `true`/`false`, None adds nothing.
#[pyclass(module = "amiwire")]
#[derive(Clone)]
pub struct Action {
    inner: amiwire::Action,
}

fn action_obj(a: amiwire::Action) -> Action {
    Action { inner: a }
}

#[pymethods]
impl Action {
    #[new]
    #[pyo3(signature = (name, headers=None, /, **more))]
    fn new(
        name: &str,
        headers: Option<&Bound<'_, PyAny>>,
        more: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Action> {
        let mut a = amiwire::Action::new(name);
        if let Some(h) = headers {
            for (k, v) in pairs(h)? {
                add_value(&mut a, &k, &v)?;
            }
        }
        if let Some(m) = more {
            for (k, v) in m.iter() {
                add_value(&mut a, &k.extract::<String>()?, &v)?;
            }
        }
        Ok(Action { inner: a })
    }

    /// The panoramisk form: `{"Action": "Originate", "Channel": …, "Variable": [...]}`. The
    /// `Action` key (any case) names the action; the other keys are headers.
    #[staticmethod]
    fn from_mapping(py: Python<'_>, mapping: &Bound<'_, PyAny>) -> PyResult<Action> {
        let items = pairs(mapping)?;
        let Some((_, name)) = items.iter().find(|(k, _)| k.eq_ignore_ascii_case("Action")) else {
            return Err(error(py, "InvalidAction", "the mapping has no Action key"));
        };
        let mut a = amiwire::Action::new(value_text(name)?);
        for (k, v) in &items {
            if !k.eq_ignore_ascii_case("Action") {
                add_value(&mut a, k, v)?;
            }
        }
        Ok(Action { inner: a })
    }

    /// Adds a header line (a list value adds one line per item); returns the action.
    fn add<'py>(
        slf: Bound<'py, Self>,
        key: &str,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Self>> {
        add_value(&mut slf.borrow_mut().inner, key, value)?;
        Ok(slf)
    }

    /// The action's name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    /// The ActionID set on it, or None (a Connection sets one when it sends the action).
    #[getter]
    fn get_action_id(&self) -> Option<String> {
        self.inner.action_id_value().map(str::to_owned)
    }

    #[setter]
    fn set_action_id(&mut self, id: &str) {
        self.inner = std::mem::replace(&mut self.inner, amiwire::Action::new("")).action_id(id);
    }

    /// The value of the first `key` header, or None.
    fn get(&self, key: &str) -> Option<String> {
        self.inner.get(key).map(str::to_owned)
    }

    /// The headers as `(key, value)` pairs, `Action` first.
    #[getter]
    fn headers(&self) -> Vec<(String, String)> {
        self.inner
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// Raises `InvalidAction` if the action cannot be sent.
    fn validate(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.validate().map_err(|e| encode_error(py, &e))
    }

    /// The bytes on the wire (raises `InvalidAction`).
    fn encode<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let b = self.inner.to_bytes().map_err(|e| encode_error(py, &e))?;
        Ok(PyBytes::new(py, &b))
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.encode(py)
    }

    fn __repr__(&self) -> String {
        let mut s = format!("Action({:?}", self.inner.name());
        for (k, v) in self.inner.headers().skip(1) {
            let v = if is_secret_key(k.as_bytes()) {
                "<redacted>"
            } else {
                v
            };
            s.push_str(&format!(", {k}={v:?}"));
        }
        if let Some(e) = self.inner.error() {
            s.push_str(&format!(", error={:?}", e.to_string()));
        }
        s.push(')');
        s
    }

    /// `Login` with a plain secret; `events` is the `Events:` mask (`on`, `off`, `call,user`).
    #[staticmethod]
    #[pyo3(signature = (username, secret, events=None))]
    fn login(username: &str, secret: &str, events: Option<&str>) -> Action {
        let mut a = amiwire::Action::login(username, secret);
        if let Some(e) = events {
            a.push_header("Events", e);
        }
        action_obj(a)
    }

    /// `Challenge` (`AuthType: MD5`), the first step of an MD5 login.
    #[staticmethod]
    fn challenge() -> Action {
        action_obj(amiwire::Action::challenge())
    }

    /// `Ping`.
    #[staticmethod]
    fn ping() -> Action {
        action_obj(amiwire::Action::ping())
    }

    /// `Logoff`.
    #[staticmethod]
    fn logoff() -> Action {
        action_obj(amiwire::Action::logoff())
    }

    /// `Command` (a CLI command; its output is the response's `output`).
    #[staticmethod]
    fn command(command: &str) -> Action {
        action_obj(amiwire::Action::command(command))
    }

    /// `Events` with an `EventMask` (`on`, `off`, `call,user`…).
    #[staticmethod]
    fn events(mask: &str) -> Action {
        action_obj(amiwire::Action::events(mask))
    }

    /// `Filter` (a server-side eventfilter, Asterisk's syntax: `Event: Dial.*`, `!Channel:
    /// Local/.*`); `operation` is `Add` (the only one Asterisk knows).
    #[staticmethod]
    #[pyo3(signature = (pattern, operation="Add"))]
    fn filter(pattern: &str, operation: &str) -> Action {
        let a = amiwire::Action::filter_add(pattern);
        if operation.eq_ignore_ascii_case("Add") {
            action_obj(a)
        } else {
            action_obj(
                amiwire::Action::new("Filter")
                    .header("Operation", operation)
                    .header("Filter", pattern),
            )
        }
    }

    /// `Getvar` (a global variable without `channel`).
    #[staticmethod]
    #[pyo3(signature = (variable, channel=None))]
    fn getvar(variable: &str, channel: Option<&str>) -> Action {
        action_obj(amiwire::Action::getvar(variable, channel))
    }

    /// `Setvar` (a global variable without `channel`).
    #[staticmethod]
    #[pyo3(signature = (variable, value, channel=None))]
    fn setvar(variable: &str, value: &str, channel: Option<&str>) -> Action {
        action_obj(amiwire::Action::setvar(variable, value, channel))
    }

    /// `UserEvent` named `name` with extra headers.
    #[staticmethod]
    #[pyo3(signature = (name, headers=None))]
    fn user_event(name: &str, headers: Option<&Bound<'_, PyAny>>) -> PyResult<Action> {
        let mut a = amiwire::Action::user_event(name, &[]);
        if let Some(h) = headers {
            for (k, v) in pairs(h)? {
                add_value(&mut a, &k, &v)?;
            }
        }
        Ok(action_obj(a))
    }

    /// `CoreShowChannels` (an event list).
    #[staticmethod]
    fn core_show_channels() -> Action {
        action_obj(amiwire::Action::core_show_channels())
    }

    /// `Status` of one channel or of all (an event list).
    #[staticmethod]
    #[pyo3(signature = (channel=None))]
    fn status(channel: Option<&str>) -> Action {
        action_obj(amiwire::Action::status(channel))
    }

    /// `QueueStatus` of one queue or of all (an event list).
    #[staticmethod]
    #[pyo3(signature = (queue=None))]
    fn queue_status(queue: Option<&str>) -> Action {
        action_obj(amiwire::Action::queue_status(queue))
    }

    /// `Redirect` a channel to `context`, `exten`, `priority`.
    #[staticmethod]
    fn redirect(
        channel: &str,
        context: &str,
        exten: &str,
        priority: &Bound<'_, PyAny>,
    ) -> PyResult<Action> {
        let p = value_text(priority)?;
        Ok(action_obj(amiwire::Action::redirect(
            channel, context, exten, &p,
        )))
    }

    /// `Hangup` a channel, with an optional Q.850 cause.
    #[staticmethod]
    #[pyo3(signature = (channel, cause=None))]
    fn hangup(channel: &str, cause: Option<u32>) -> Action {
        action_obj(amiwire::Action::hangup(channel, cause))
    }

    /// `Originate`: call `channel`, then send it to `context`/`exten`/`priority` or run
    /// `application` with `data`. Asynchronous by default: the result is the
    /// OriginateResponse (a Connection ties it to the action). `timeout` is in seconds,
    /// `variables` a mapping (one `Variable:` line each).
    #[staticmethod]
    #[pyo3(signature = (channel, *, context=None, exten=None, priority=None, application=None, data=None, caller_id=None, timeout=None, variables=None, asynchronous=true, account=None, channel_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn originate(
        py: Python<'_>,
        channel: &str,
        context: Option<&str>,
        exten: Option<&str>,
        priority: Option<&Bound<'_, PyAny>>,
        application: Option<&str>,
        data: Option<&str>,
        caller_id: Option<&str>,
        timeout: Option<f64>,
        variables: Option<&Bound<'_, PyAny>>,
        asynchronous: bool,
        account: Option<&str>,
        channel_id: Option<&str>,
    ) -> PyResult<Action> {
        let mut o = match (application, exten) {
            (Some(app), None) => Originate::to_application(channel, app, data.unwrap_or("")),
            (None, Some(exten)) => {
                let p = match priority {
                    Some(p) => value_text(p)?,
                    None => "1".to_owned(),
                };
                Originate::to_exten(channel, context.unwrap_or("default"), exten, p)
            }
            _ => {
                return Err(bad_arg(
                    py,
                    "Originate needs either exten (with context and priority) or application",
                ))
            }
        };
        o = o.asynchronous(asynchronous);
        if let Some(c) = caller_id {
            o = o.caller_id(c);
        }
        if let Some(t) = timeout {
            let d = duration(py, "timeout", Some(t))?;
            o = o.timeout_ms(u32::try_from(d.as_millis()).unwrap_or(u32::MAX));
        }
        if let Some(v) = variables {
            for (k, v) in pairs(v)? {
                o = o.variable(k, value_text(&v)?);
            }
        }
        if let Some(a) = account {
            o = o.account(a);
        }
        if let Some(c) = channel_id {
            o = o.channel_id(c);
        }
        Ok(action_obj(o.build()))
    }
}

// ---------------------------------------------------------------------------------------------
// Filter
// ---------------------------------------------------------------------------------------------

/// Which events pass: compose with `&`, `|` and `~`; `f.matches(msg)` tests one message
/// (without allocating).
#[pyclass(frozen, module = "amiwire")]
#[derive(Clone)]
pub struct Filter {
    inner: CoreFilter,
}

fn filter_obj(f: CoreFilter) -> Filter {
    Filter { inner: f }
}

/// An fnmatch pattern as an anchored, case-insensitive regular expression.
fn glob_regex(pattern: &str) -> String {
    let mut re = String::from("(?i)^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            '[' => {
                let mut class = String::new();
                let mut closed = false;
                if chars.peek() == Some(&'!') {
                    chars.next();
                    class.push('^');
                }
                for c in chars.by_ref() {
                    if c == ']' && !(class.is_empty() || class == "^") {
                        closed = true;
                        break;
                    }
                    if c == '\\' || c == '[' || c == '&' || c == '~' {
                        class.push('\\');
                    }
                    class.push(c);
                }
                if closed {
                    re.push('[');
                    re.push_str(&class);
                    re.push(']');
                } else {
                    re.push_str("\\[");
                    for c in class.chars() {
                        push_escaped(&mut re, c);
                    }
                }
            }
            c => push_escaped(&mut re, c),
        }
    }
    re.push('$');
    re
}

fn push_escaped(re: &mut String, c: char) {
    if "\\.+*?()|[]{}^$#&-~".contains(c) {
        re.push('\\');
    }
    re.push(c);
}

#[pymethods]
impl Filter {
    /// Every message passes.
    #[staticmethod]
    fn all() -> Filter {
        filter_obj(CoreFilter::all())
    }

    /// No message passes.
    #[staticmethod]
    fn none() -> Filter {
        filter_obj(CoreFilter::none())
    }

    /// Events of this name (case-insensitive).
    #[staticmethod]
    fn event(name: &str) -> Filter {
        filter_obj(CoreFilter::event(name))
    }

    /// Events of any of these names.
    #[staticmethod]
    fn events(names: Vec<String>) -> Filter {
        filter_obj(CoreFilter::events(names))
    }

    /// Events whose name matches an fnmatch pattern, case-insensitively (`Dial*`, `*`,
    /// `Queue[MC]*`).
    #[staticmethod]
    fn glob(py: Python<'_>, pattern: &str) -> PyResult<Filter> {
        if pattern == "*" {
            return Ok(filter_obj(CoreFilter::header_exists("Event")));
        }
        CoreFilter::header_regex("Event", &glob_regex(pattern))
            .map(filter_obj)
            .map_err(|e| filter_error(py, &e))
    }

    /// Messages with this header.
    #[staticmethod]
    fn header_exists(name: &str) -> Filter {
        filter_obj(CoreFilter::header_exists(name))
    }

    /// Messages whose `name` header equals `value` (case-sensitive value).
    #[staticmethod]
    fn header_eq(name: &str, value: &str) -> Filter {
        filter_obj(CoreFilter::header_eq(name, value))
    }

    /// Messages whose `name` header contains `needle`.
    #[staticmethod]
    fn contains(name: &str, needle: &str) -> Filter {
        filter_obj(CoreFilter::header_contains(name, needle))
    }

    /// Messages whose `name` header starts with `prefix`.
    #[staticmethod]
    fn starts_with(name: &str, prefix: &str) -> Filter {
        filter_obj(CoreFilter::header_starts_with(name, prefix))
    }

    /// Messages whose `name` header ends with `suffix`.
    #[staticmethod]
    fn ends_with(name: &str, suffix: &str) -> Filter {
        filter_obj(CoreFilter::header_ends_with(name, suffix))
    }

    /// Messages whose `name` header matches a regular expression (Rust `regex` syntax, found
    /// anywhere in the value unless anchored).
    #[staticmethod]
    fn header_regex(py: Python<'_>, name: &str, pattern: &str) -> PyResult<Filter> {
        CoreFilter::header_regex(name, pattern)
            .map(filter_obj)
            .map_err(|e| filter_error(py, &e))
    }

    /// One Asterisk eventfilter expression, as manager.conf or the Filter action takes it
    /// (`Event: Dial.*`, `!Channel: Local/.*`, or the newer `action(name)` forms).
    #[staticmethod]
    fn manager(py: Python<'_>, pattern: &str) -> PyResult<Filter> {
        CoreFilter::manager(pattern)
            .map(filter_obj)
            .map_err(|e| filter_error(py, &e))
    }

    /// The `eventfilter` lines of a manager.conf user section, with Asterisk's rules for
    /// combining include and exclude filters.
    #[staticmethod]
    fn manager_conf(py: Python<'_>, text: &str) -> PyResult<Filter> {
        CoreFilter::manager_conf(text)
            .map(filter_obj)
            .map_err(|e| filter_error(py, &e))
    }

    /// Whether the message passes.
    fn matches(&self, message: &Message) -> bool {
        self.inner.matches(&message.inner.as_ref())
    }

    fn __and__(&self, other: &Filter) -> Filter {
        filter_obj(self.inner.clone().and(other.inner.clone()))
    }

    fn __or__(&self, other: &Filter) -> Filter {
        filter_obj(self.inner.clone().or(other.inner.clone()))
    }

    fn __invert__(&self) -> Filter {
        filter_obj(self.inner.clone().negate())
    }

    fn __repr__(&self) -> String {
        format!("Filter({:?})", self.inner)
    }
}

// ---------------------------------------------------------------------------------------------
// Call files
// ---------------------------------------------------------------------------------------------

/// An Asterisk call file (for the spool's `outgoing` directory): build one, `validate()` it,
/// `str()` it, or `CallFile.parse(text)` one.
#[pyclass(module = "amiwire")]
#[derive(Clone)]
pub struct CallFile {
    inner: CoreCallFile,
}

#[pymethods]
impl CallFile {
    /// A call file that calls `channel`, then goes to `context`/`exten`/`priority` or runs
    /// `application` with `data`.
    #[new]
    #[pyo3(signature = (channel, *, context=None, exten=None, priority=None, application=None, data=None, caller_id=None, max_retries=None, retry_time=None, wait_time=None, account=None, variables=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        channel: &str,
        context: Option<&str>,
        exten: Option<&str>,
        priority: Option<&Bound<'_, PyAny>>,
        application: Option<&str>,
        data: Option<&str>,
        caller_id: Option<&str>,
        max_retries: Option<u32>,
        retry_time: Option<u32>,
        wait_time: Option<u32>,
        account: Option<&str>,
        variables: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CallFile> {
        let mut c = match (application, exten) {
            (Some(app), None) => CoreCallFile::to_application(channel, app, data.unwrap_or("")),
            (None, Some(exten)) => {
                let p = match priority {
                    Some(p) => value_text(p)?
                        .parse::<u32>()
                        .map_err(|_| bad_arg(py, "a call file's priority is a number"))?,
                    None => 1,
                };
                CoreCallFile::to_extension(channel, context.unwrap_or("default"), exten, p)
            }
            _ => {
                return Err(bad_arg(
                    py,
                    "a call file needs either exten (with context and priority) or application",
                ))
            }
        };
        if let Some(v) = caller_id {
            c = c.caller_id(v);
        }
        if let Some(v) = max_retries {
            c = c.max_retries(v);
        }
        if let Some(v) = retry_time {
            c = c.retry_time(v);
        }
        if let Some(v) = wait_time {
            c = c.wait_time(v);
        }
        if let Some(v) = account {
            c = c.account(v);
        }
        if let Some(v) = variables {
            for (k, v) in pairs(v)? {
                c = c.variable(k, value_text(&v)?);
            }
        }
        Ok(CallFile { inner: c })
    }

    /// Reads a call file as Asterisk's pbx_spool does; raises `InvalidCallFile`.
    #[staticmethod]
    fn parse(py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<CallFile> {
        let r = if let Ok(b) = text.cast::<PyBytes>() {
            CoreCallFile::parse_bytes(b.as_bytes())
        } else {
            CoreCallFile::parse(&text.extract::<String>()?)
        };
        r.map(|inner| CallFile { inner })
            .map_err(|e| callfile_error(py, &e))
    }

    /// Raises `InvalidCallFile` if Asterisk would refuse or misread the file.
    fn validate(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.validate().map_err(|e| callfile_error(py, &e))
    }

    /// The file's text (raises `InvalidCallFile`).
    fn to_text(&self, py: Python<'_>) -> PyResult<String> {
        self.inner.to_text().map_err(|e| callfile_error(py, &e))
    }

    fn __str__(&self, py: Python<'_>) -> PyResult<String> {
        self.to_text(py)
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, self.to_text(py)?.as_bytes()))
    }

    /// How many attempts the spool records say were made.
    #[getter]
    fn retries(&self) -> usize {
        self.inner.retries()
    }

    fn __repr__(&self) -> String {
        format!("CallFile({:?})", self.inner)
    }
}

// ---------------------------------------------------------------------------------------------
// Results and outputs
// ---------------------------------------------------------------------------------------------

/// A completed action: the response with everything that belongs to it (an event list's
/// items, Command output, the OriginateResponse of an async Originate). Header lookups
/// (`resp["Message"]`, `resp.get(…)`) read the response message.
#[pyclass(frozen, module = "amiwire")]
pub struct Response {
    inner: CoreResponse,
}

#[pymethods]
impl Response {
    /// The action's ActionID.
    #[getter]
    fn action_id(&self) -> String {
        self.inner.id.as_str().to_owned()
    }

    /// The action's name, as sent.
    #[getter]
    fn action(&self) -> String {
        self.inner.action.clone()
    }

    /// The `Response:` message.
    #[getter]
    fn message(&self, py: Python<'_>) -> PyResult<Py<Message>> {
        message_obj(py, self.inner.message.clone())
    }

    /// `Response: Success` (or `Follows`), and for an async Originate a successful
    /// OriginateResponse too.
    #[getter]
    fn ok(&self) -> bool {
        self.inner.is_success()
    }

    /// The items of an event list, in order (without the completion event).
    #[getter]
    fn events(&self, py: Python<'_>) -> PyResult<Vec<Py<Message>>> {
        self.inner
            .events
            .iter()
            .map(|m| message_obj(py, m.clone()))
            .collect()
    }

    /// The event that completed the list (`…Complete`), or the one event of WaitEvent etc.
    #[getter]
    fn complete(&self, py: Python<'_>) -> PyResult<Option<Py<Message>>> {
        self.inner
            .complete
            .clone()
            .map(|m| message_obj(py, m))
            .transpose()
    }

    /// The OriginateResponse event of an async Originate.
    #[getter]
    fn originate(&self, py: Python<'_>) -> PyResult<Option<Py<Message>>> {
        self.inner
            .originate
            .clone()
            .map(|m| message_obj(py, m))
            .transpose()
    }

    /// Command output lines (either framing).
    #[getter]
    fn output(&self) -> Vec<String> {
        self.inner.output().into_iter().map(text).collect()
    }

    /// Why the server refused the action: `"permission_denied"`, `"unknown_action"`,
    /// `"other"`, or None when it did not answer `Response: Error`.
    #[getter]
    fn refusal(&self) -> Option<&'static str> {
        self.inner.refusal().map(|r| match r {
            Refusal::PermissionDenied => "permission_denied",
            Refusal::UnknownAction => "unknown_action",
            _ => "other",
        })
    }

    /// The `Message:` text, or None.
    #[getter]
    fn text(&self) -> Option<String> {
        self.inner.message.get("Message").map(text)
    }

    fn __getitem__(&self, key: &str) -> PyResult<String> {
        self.inner
            .message
            .get(key)
            .map(text)
            .ok_or_else(|| PyKeyError::new_err(key.to_owned()))
    }

    /// A header of the response message, or `default`.
    #[pyo3(signature = (key, default=None))]
    fn get(&self, py: Python<'_>, key: &str, default: Option<Py<PyAny>>) -> Py<PyAny> {
        match self.inner.message.get(key) {
            Some(v) => PyString::new(py, &String::from_utf8_lossy(v))
                .into_any()
                .unbind(),
            None => default.unwrap_or_else(|| py.None()),
        }
    }

    fn __contains__(&self, key: &str) -> bool {
        self.inner.message.get(key).is_some()
    }

    fn __repr__(&self) -> String {
        let mut s = format!(
            "Response(action={:?}, action_id={:?}, response={:?}",
            self.inner.action,
            self.inner.id.as_str(),
            self.inner.message.get_str("Response").unwrap_or("")
        );
        if let Some(t) = self.inner.message.get("Message") {
            s.push_str(&format!(", message={:?}", text(t)));
        }
        if !self.inner.events.is_empty() {
            s.push_str(&format!(", events={}", self.inner.events.len()));
        }
        if let Some(o) = &self.inner.originate {
            s.push_str(&format!(
                ", originate={:?}",
                o.get_str("Response").unwrap_or("")
            ));
        }
        s.push(')');
        s
    }
}

/// Why a session ended.
#[pyclass(frozen, module = "amiwire")]
pub struct CloseReason {
    inner: CoreCloseReason,
}

#[pymethods]
impl CloseReason {
    /// `"logoff"`, `"peer_closed"`, `"login_failed"`, `"closed_during_login"`,
    /// `"invalid_login"`, `"login_timeout"`, `"keepalive_timeout"`, `"local"` or
    /// `"protocol"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.inner {
            CoreCloseReason::Logoff => "logoff",
            CoreCloseReason::PeerClosed => "peer_closed",
            CoreCloseReason::LoginFailed { .. } => "login_failed",
            CoreCloseReason::ClosedDuringLogin => "closed_during_login",
            CoreCloseReason::InvalidLogin(_) => "invalid_login",
            CoreCloseReason::LoginTimeout => "login_timeout",
            CoreCloseReason::KeepaliveTimeout => "keepalive_timeout",
            CoreCloseReason::Local => "local",
            _ => "protocol",
        }
    }

    /// A human text (for `login_failed`, the server's own text; never a secret).
    #[getter]
    fn message(&self) -> String {
        match &self.inner {
            CoreCloseReason::LoginFailed { message } => message.clone(),
            r => r.to_string(),
        }
    }

    /// Whether another session may succeed (False after a Logoff, a local close, a refused
    /// login).
    #[getter]
    fn may_reconnect(&self) -> bool {
        self.inner.may_reconnect()
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "CloseReason({:?}, {:?})",
            self.kind(),
            self.inner.to_string()
        )
    }
}

macro_rules! output_class {
    ($(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty),* }) => {
        $(#[$doc])*
        #[pyclass(frozen, module = "amiwire")]
        pub struct $name {
            $(
                #[pyo3(get)]
                $field: $ty,
            )*
        }

        #[pymethods]
        impl $name {
            #[classattr]
            fn __match_args__() -> Vec<&'static str> {
                vec![$(stringify!($field)),*]
            }

            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                let _ = py;
                let mut s = String::from(concat!(stringify!($name), "("));
                let mut _first = true;
                $(
                    if !_first { s.push_str(", "); }
                    _first = false;
                    let v = (&self.$field).into_pyobject(py)?;
                    s.push_str(&format!("{}={}", stringify!($field), v.repr()?));
                )*
                s.push(')');
                Ok(s)
            }
        }
    };
}

output_class!(
    /// The server's banner arrived.
    Connected { banner: String }
);
output_class!(
    /// The login succeeded; actions held for it are now written.
    LoggedIn {}
);
output_class!(
    /// An asynchronous event.
    EventReceived { message: Py<Message> }
);
output_class!(
    /// An action completed with the server's answer (which may be `Response: Error`).
    Completed { response: Py<Response> }
);
output_class!(
    /// An action ended without a result; `error` is an `ActionFailed` instance.
    Failed { action_id: String, error: Py<PyAny> }
);
output_class!(
    /// A response nobody asked for.
    Unmatched { message: Py<Message> }
);
output_class!(
    /// A message broke a decoder limit and was dropped; `error` is a `DecodeError`.
    DecodeFailed { error: Py<PyAny> }
);
output_class!(
    /// The session ended; nothing follows until a `reconnect`.
    Closed { reason: Py<CloseReason> }
);

fn action_failed(py: Python<'_>, id: &str, e: ActionError) -> PyResult<Py<PyAny>> {
    let sent_text = |sent: bool, what: &str| {
        if sent {
            format!("action {id} {what} after it was sent: outcome unknown (it may have been carried out; it is never sent again)")
        } else {
            format!("action {id} {what} before it was sent: it was not carried out")
        }
    };
    let id_obj = PyString::new(py, id).into_any().unbind();
    let t = true.into_pyobject(py)?.to_owned().into_any().unbind();
    let f = false.into_pyobject(py)?.to_owned().into_any().unbind();
    let b = |s: bool| if s { t.clone_ref(py) } else { f.clone_ref(py) };
    let v = match e {
        ActionError::TimedOut { sent } => error_value(
            py,
            "ActionTimeout",
            sent_text(sent, "timed out"),
            &[("action_id", id_obj), ("sent", b(sent))],
        ),
        ActionError::Closed { sent } => error_value(
            py,
            "ActionLost",
            sent_text(sent, "lost: the connection closed"),
            &[("action_id", id_obj), ("sent", b(sent))],
        ),
        ActionError::Truncated(r) => {
            let n = r.events.len();
            let partial = Py::new(py, Response { inner: *r })?.into_any();
            error_value(
                py,
                "ListTruncated",
                format!("the event list of action {id} was cut short by the end of the connection after {n} items"),
                &[("action_id", id_obj), ("sent", b(true)), ("partial", partial)],
            )
        }
        ActionError::ListTooLong { limit } => error_value(
            py,
            "ListTooLong",
            format!("the event list of action {id} is longer than {limit} items"),
            &[("action_id", id_obj), ("sent", b(true))],
        ),
        other => error_value(
            py,
            "ActionFailed",
            format!("action {id} failed: {other}"),
            &[("action_id", id_obj), ("sent", b(true))],
        ),
    };
    Ok(v.unbind())
}

// ---------------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------------

/// One AMI session's protocol state, without I/O: bytes in with `receive`/`receive_eof`,
/// time in with `handle_timeout`, actions in with `send`; out with `poll_output` (until
/// None), `poll_transmit` (bytes to write) and `poll_timeout` (when to call
/// `handle_timeout`). Logs in on the banner when given a username.
///
/// With `resumable`, a session that ends keeps the actions never written, and
/// `reconnect(now)` starts the next session on a new socket (a new login with the event mask
/// in force, the server-side filters replayed first); actions that were written fail with
/// `ActionLost(sent=True)` and are never sent again.
#[pyclass(module = "amiwire")]
pub struct Connection {
    /// Boxed: it holds a decoder, aligned beyond what Python's object layout guarantees.
    inner: Box<CoreConnection>,
    clock: Clock,
    out: Vec<u8>,
}

#[pymethods]
impl Connection {
    #[new]
    #[pyo3(signature = (username=None, secret=None, *, auth=None, events=None, action_timeout=Some(30.0), login_timeout=Some(10.0), keepalive=None, pong_timeout=Some(10.0), max_pending=1024, max_queued_bytes=1<<20, max_list_items=100_000, resumable=false, action_id_prefix=None, now=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        username: Option<&str>,
        secret: Option<&str>,
        auth: Option<&str>,
        events: Option<&str>,
        action_timeout: Option<f64>,
        login_timeout: Option<f64>,
        keepalive: Option<f64>,
        pong_timeout: Option<f64>,
        max_pending: usize,
        max_queued_bytes: usize,
        max_list_items: usize,
        resumable: bool,
        action_id_prefix: Option<&str>,
        now: Option<f64>,
    ) -> PyResult<Connection> {
        let mut cfg = ConnectionConfig::default();
        cfg.login = match (username, secret) {
            (None, None) => None,
            (Some(u), Some(s)) => Some(match auth.map(str::to_ascii_lowercase).as_deref() {
                None | Some("plain") => Credentials::plain(u, s),
                Some("md5") => Credentials::md5(u, s),
                Some(other) => {
                    return Err(bad_arg(
                        py,
                        format!("auth must be None, 'plain' or 'md5', not {other:?}"),
                    ))
                }
            }),
            (Some(_), None) => return Err(bad_arg(py, "a username needs a secret")),
            (None, Some(_)) => return Err(bad_arg(py, "a secret needs a username")),
        };
        cfg.events = events.map(EventMask::parse);
        cfg.action_timeout = duration(py, "action_timeout", action_timeout)?;
        cfg.login_timeout = duration(py, "login_timeout", login_timeout)?;
        cfg.keepalive = match keepalive {
            None => None,
            Some(k) => Some(duration(py, "keepalive", Some(k))?),
        };
        cfg.pong_timeout = duration(py, "pong_timeout", pong_timeout)?;
        cfg.max_pending = max_pending;
        cfg.max_queued_bytes = max_queued_bytes;
        cfg.max_list_items = max_list_items;
        cfg.resumable = resumable;
        if let Some(p) = action_id_prefix {
            cfg.action_ids = amiwire::ActionIdGenerator::with_prefix(p)
                .map_err(|e| bad_arg(py, format!("action_id_prefix: {e}")))?;
        }
        let now = match now {
            Some(n) => n,
            None => monotonic(py)?,
        };
        let clock = Clock::new(now);
        Ok(Connection {
            inner: Box::new(CoreConnection::new(cfg, clock.instant)),
            clock,
            out: Vec::new(),
        })
    }

    /// Gives the connection bytes read from the socket; returns how many it took (call
    /// `poll_output` until None, then give it the rest).
    fn receive(&mut self, data: &[u8]) -> usize {
        self.inner.receive(data)
    }

    /// Says the socket reached its end.
    fn receive_eof(&mut self) {
        self.inner.receive_eof();
    }

    /// Lets time pass: actions past their deadline fail, the keepalive is sent.
    fn handle_timeout(&mut self, py: Python<'_>, now: f64) -> PyResult<()> {
        let t = self.clock.at(py, now)?;
        self.inner.handle_timeout(t);
        Ok(())
    }

    /// When `handle_timeout` should be called next (`time.monotonic()` seconds), or None.
    fn poll_timeout(&self) -> Option<f64> {
        self.inner.poll_timeout().map(|i| self.clock.secs(i))
    }

    /// Queues an action; returns its ActionID. `timeout` (seconds; None for the connection's
    /// `action_timeout`, `math.inf` for never) bounds the wait for its result. Raises a
    /// `UsageError` (nothing is sent): `InvalidAction`, `NotConnected`, `TooManyPending`…
    #[pyo3(signature = (action, now, timeout=None))]
    fn send(
        &mut self,
        py: Python<'_>,
        action: &Action,
        now: f64,
        timeout: Option<f64>,
    ) -> PyResult<String> {
        let t = self.clock.at(py, now)?;
        let a = action.inner.clone();
        let r = match timeout {
            None => self.inner.send(a, t),
            Some(s) => {
                let d = duration(py, "timeout", Some(s))?;
                self.inner.send_with_timeout(a, d, t)
            }
        };
        r.map(|id| id.into_string())
            .map_err(|e| local_error(py, &e))
    }

    /// Sends Logoff; the session then ends with reason `logoff` and no session follows.
    fn logoff(&mut self, py: Python<'_>, now: f64) -> PyResult<String> {
        let t = self.clock.at(py, now)?;
        self.inner
            .logoff(t)
            .map(|id| id.into_string())
            .map_err(|e| local_error(py, &e))
    }

    /// Ends the session at once (pending actions fail); on a closed connection, gives up
    /// the actions kept for a next session.
    fn close(&mut self) {
        self.inner.close();
    }

    /// Starts the next session (after `Closed`, on a new socket): a new login with the
    /// event mask in force, the filters replayed, the kept actions after them.
    fn reconnect(&mut self, py: Python<'_>, now: f64) -> PyResult<()> {
        let t = self.clock.at(py, now)?;
        self.inner.reconnect(t).map_err(|e| local_error(py, &e))
    }

    /// The next output (`Connected`, `LoggedIn`, `EventReceived`, `Completed`, `Failed`,
    /// `Unmatched`, `DecodeFailed`, `Closed`), or None.
    fn poll_output(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            let Some(out) = self.inner.poll_output() else {
                return Ok(None);
            };
            let obj = match out {
                Output::Connected { banner } => Py::new(py, Connected { banner })?.into_any(),
                Output::LoggedIn => Py::new(py, LoggedIn {})?.into_any(),
                Output::Event(m) => Py::new(
                    py,
                    EventReceived {
                        message: message_obj(py, m.to_owned())?,
                    },
                )?
                .into_any(),
                Output::Response(r) => Py::new(
                    py,
                    Completed {
                        response: Py::new(py, Response { inner: *r })?,
                    },
                )?
                .into_any(),
                Output::Failed { id, error } => {
                    let id = id.into_string();
                    let error = action_failed(py, &id, error)?;
                    Py::new(
                        py,
                        Failed {
                            action_id: id,
                            error,
                        },
                    )?
                    .into_any()
                }
                Output::Unmatched(m) => Py::new(
                    py,
                    Unmatched {
                        message: message_obj(py, m.to_owned())?,
                    },
                )?
                .into_any(),
                Output::DecodeError(e) => Py::new(
                    py,
                    DecodeFailed {
                        error: decode_error_value(py, &e).unbind(),
                    },
                )?
                .into_any(),
                Output::Closed(reason) => Py::new(
                    py,
                    Closed {
                        reason: Py::new(py, CloseReason { inner: reason })?,
                    },
                )?
                .into_any(),
                _ => continue,
            };
            return Ok(Some(obj));
        }
    }

    /// The bytes to write to the socket now (b"" when there are none).
    fn poll_transmit<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.out.clear();
        let _written = self.inner.poll_transmit(&mut self.out);
        PyBytes::new(py, &self.out)
    }

    /// The banner line, once it arrived.
    #[getter]
    fn banner(&self) -> Option<String> {
        self.inner.banner().map(str::to_owned)
    }

    /// Logged in and not closed.
    #[getter]
    fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }

    /// The session ended.
    #[getter]
    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Actions waiting for their results.
    #[getter]
    fn pending(&self) -> usize {
        self.inner.pending()
    }

    /// The event mask in force (`on`, `off`, `call,user`…).
    #[getter]
    fn event_mask(&self) -> String {
        self.inner.event_mask().to_header_value()
    }

    /// The protocol error that ended the session, if one did.
    #[getter]
    fn protocol_error(&self) -> Option<String> {
        self.inner.error().map(|e| e.to_string())
    }

    fn __repr__(&self) -> String {
        format!(
            "Connection(ready={}, closed={}, pending={})",
            self.inner.is_ready(),
            self.inner.is_closed(),
            self.inner.pending()
        )
    }
}

/// The compiled module.
#[pymodule]
fn _amiwire(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let errors = ERROR_TYPES.get_or_try_init(py, || make_errors(py))?;
    for ((name, _, _), cls) in ERRORS.iter().zip(&errors.0) {
        m.add(*name, cls.bind(py))?;
    }
    m.add_class::<Message>()?;
    m.add_class::<Decoder>()?;
    m.add_class::<Action>()?;
    m.add_class::<Filter>()?;
    m.add_class::<CallFile>()?;
    m.add_class::<Connection>()?;
    m.add_class::<Response>()?;
    m.add_class::<CloseReason>()?;
    m.add_class::<Connected>()?;
    m.add_class::<LoggedIn>()?;
    m.add_class::<EventReceived>()?;
    m.add_class::<Completed>()?;
    m.add_class::<Failed>()?;
    m.add_class::<Unmatched>()?;
    m.add_class::<DecodeFailed>()?;
    m.add_class::<Closed>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
