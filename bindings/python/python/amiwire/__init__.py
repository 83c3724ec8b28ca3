"""amiwire: the Asterisk Manager Interface (AMI) on a Rust protocol core.

>>> import amiwire
>>> dec = amiwire.Decoder()
>>> [msg] = dec.feed(b"Asterisk Call Manager/11.0.0\\r\\nEvent: Dial\\r\\nChannel: PJSIP/1\\r\\n\\r\\n")
>>> dec.banner, msg.kind, msg["channel"]
('Asterisk Call Manager/11.0.0', 'event', 'PJSIP/1')
>>> bytes(amiwire.Action("Ping", ActionID="1"))
b'Action: Ping\\r\\nActionID: 1\\r\\n\\r\\n'

The sans-io objects (:class:`Decoder`, :class:`Message`, :class:`Action`, :class:`Filter`,
:class:`CallFile`, :class:`Connection` and its outputs) are compiled from amiwire's Rust core;
:class:`Manager` (asyncio) and :func:`connect` (blocking) drive a :class:`Connection` over a
socket. Every error is an :class:`AmiError`: :class:`UsageError` (the caller's fault, nothing
sent), :class:`PeerError` (the server's or the network's) or :class:`ActionFailed` (an action
without a result; ``.sent`` says whether its outcome is unknown).
"""

from ._amiwire import (
    Action,
    ActionFailed,
    ActionLost,
    ActionTimeout,
    AmiError,
    CallFile,
    Closed,
    CloseReason,
    Completed,
    Connected,
    Connection,
    ConnectionLost,
    DecodeError,
    DecodeFailed,
    Decoder,
    DuplicateActionId,
    EventReceived,
    Failed,
    Filter,
    InvalidAction,
    InvalidArgument,
    InvalidCallFile,
    InvalidFilter,
    ListTooLong,
    ListTruncated,
    LoggedIn,
    LoginFailed,
    Message,
    NotConnected,
    OriginateResultUnavailable,
    OutputFull,
    PeerError,
    ProtocolError,
    Response,
    TooManyPending,
    Unmatched,
    UsageError,
    __version__,
)
from .manager import ActionRefused, Disconnected, EventStream, Lagged, Manager, Reconnected
from .sync import SyncClient, connect

__all__ = [
    "Action",
    "ActionFailed",
    "ActionLost",
    "ActionTimeout",
    "AmiError",
    "CallFile",
    "Closed",
    "CloseReason",
    "Completed",
    "Connected",
    "Connection",
    "ConnectionLost",
    "DecodeError",
    "DecodeFailed",
    "Decoder",
    "DuplicateActionId",
    "EventReceived",
    "Failed",
    "Filter",
    "InvalidAction",
    "InvalidArgument",
    "InvalidCallFile",
    "InvalidFilter",
    "ListTooLong",
    "ListTruncated",
    "LoggedIn",
    "LoginFailed",
    "Message",
    "NotConnected",
    "OriginateResultUnavailable",
    "OutputFull",
    "PeerError",
    "ProtocolError",
    "Response",
    "TooManyPending",
    "Unmatched",
    "UsageError",
    "__version__",
    # asyncio and blocking clients (manager.py, sync.py)
    "ActionRefused",
    "Disconnected",
    "EventStream",
    "Lagged",
    "Manager",
    "Reconnected",
    "SyncClient",
    "connect",
]
