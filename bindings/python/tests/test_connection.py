"""Connection in pure sans-io: recorded server bytes in, outputs and written bytes checked."""

from __future__ import annotations

import math
from typing import Any, List

import pytest

import amiwire
from amiwire import (
    Action,
    ActionLost,
    ActionTimeout,
    Closed,
    Completed,
    Connected,
    Connection,
    EventReceived,
    Failed,
    LoggedIn,
    NotConnected,
)
from _corpus import DATA


def drain(conn: Connection) -> List[Any]:
    out = []
    while True:
        o = conn.poll_output()
        if o is None:
            return out
        out.append(o)


def feed_all(conn: Connection, data: bytes, chunk: int = 64) -> List[Any]:
    outs: List[Any] = []
    for i in range(0, len(data), chunk):
        piece = data[i : i + chunk]
        while piece:
            n = conn.receive(piece)
            piece = piece[n:]
            outs.extend(drain(conn))
    return outs


# Chunks no larger than 64 bytes: the recorded server answered the Login after it was written,
# so the first read must not carry the banner and the login answer at once.
@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_recorded_login_ping_logoff(chunk: int) -> None:
    server = (DATA / "01-login-ping-logoff.admin.server.bin").read_bytes()
    client = (DATA / "01-login-ping-logoff.admin.client.bin").read_bytes()
    conn = Connection("admin", "amp111", action_id_prefix="login", now=0.0)
    ping = Action.ping()
    ping.action_id = "ping-2"
    assert conn.send(ping, 0.0) == "ping-2"  # held until the login succeeds
    written = b""
    seen: List[str] = []
    logoff = None
    for i in range(0, len(server), chunk):
        piece = server[i : i + chunk]
        while piece:
            n = conn.receive(piece)
            piece = piece[n:]
            for o in drain(conn):
                match o:
                    case Connected(banner):
                        seen.append(banner)
                    case LoggedIn():
                        seen.append("logged in")
                    case EventReceived(message):
                        seen.append("event " + message["Event"])
                    case Completed(response) if response.action_id == "ping-2":
                        assert response.ok and response.action == "Ping"
                        seen.append("ping: " + response["Ping"])
                    case Completed(response):
                        seen.append(f"{response.action}: {response.text}")
                    case other:
                        seen.append(repr(other))
            if "ping: Pong" in seen and logoff is None:
                lo = Action.logoff()
                lo.action_id = "logoff-3"
                logoff = conn.send(lo, 1.0)
            written += conn.poll_transmit()
    conn.receive_eof()
    outs = drain(conn)
    assert len(outs) == 1 and isinstance(outs[0], Closed)
    assert outs[0].reason.kind == "logoff"
    assert outs[0].reason.may_reconnect is False
    assert written == client
    assert seen == [
        "Asterisk Call Manager/11.0.0",
        "logged in",
        "event FullyBooted",
        "event SuccessfulAuth",
        "ping: Pong",
        "Logoff: Thanks for all the fish.",
    ]
    assert conn.is_closed and not conn.is_ready
    with pytest.raises(NotConnected):
        conn.send(Action.ping(), 2.0)


def test_bad_login_is_reported_without_the_secret() -> None:
    conn = Connection("admin", "wrong-secret-xyz", action_id_prefix="login", now=0.0)
    conn.receive(b"Asterisk Call Manager/11.0.0\r\n")
    assert [type(o) for o in drain(conn)] == [Connected]
    login = conn.poll_transmit()
    assert b"Secret: wrong-secret-xyz\r\n" in login
    aid = login.split(b"ActionID: ")[1].split(b"\r\n")[0]
    # what Asterisk 22 answered in recording 02-bad-login.wrong-secret
    conn.receive(b"Response: Error\r\nActionID: " + aid + b"\r\nMessage: Authentication failed\r\n\r\n")
    outs = drain(conn)
    conn.receive_eof()
    outs += drain(conn)
    closed = [o for o in outs if isinstance(o, Closed)]
    assert len(closed) == 1
    reason = closed[0].reason
    assert reason.kind == "login_failed"
    assert reason.may_reconnect is False
    assert "Authentication failed" in reason.message
    assert "wrong-secret-xyz" not in str(reason) + repr(reason) + reason.message
    assert "wrong-secret-xyz" not in repr(conn)


def ready(**kw: Any) -> Connection:
    conn = Connection("admin", "amp111", action_id_prefix="t", now=0.0, **kw)
    conn.receive(b"Asterisk Call Manager/11.0.0\r\n")
    drain(conn)
    login = conn.poll_transmit()
    aid = login.split(b"ActionID: ")[1].split(b"\r\n")[0]
    conn.receive(b"Response: Success\r\nActionID: " + aid + b"\r\nMessage: Authentication accepted\r\n\r\n")
    assert [type(o) for o in drain(conn)] == [LoggedIn]
    assert conn.is_ready
    return conn


def test_timeout_after_sent_is_outcome_unknown() -> None:
    conn = ready(action_timeout=5.0)
    aid = conn.send(Action.ping(), 10.0)
    assert conn.poll_transmit().startswith(b"Action: Ping\r\n")
    assert conn.poll_timeout() == pytest.approx(15.0)
    conn.handle_timeout(14.0)
    assert drain(conn) == []
    conn.handle_timeout(15.0)
    (f,) = drain(conn)
    assert isinstance(f, Failed) and f.action_id == aid
    assert isinstance(f.error, ActionTimeout) and isinstance(f.error, amiwire.ActionFailed)
    assert f.error.sent is True and f.error.action_id == aid
    assert "outcome unknown" in str(f.error)


def test_event_list_response() -> None:
    conn = ready()
    aid = conn.send(Action.status(), 0.0)
    conn.poll_transmit()
    idb = aid.encode()
    conn.receive(
        b"Response: Success\r\nActionID: " + idb + b"\r\nEventList: start\r\nMessage: Channel status will follow\r\n\r\n"
        b"Event: Status\r\nActionID: " + idb + b"\r\nChannel: PJSIP/1\r\n\r\n"
        b"Event: Status\r\nActionID: " + idb + b"\r\nChannel: PJSIP/2\r\n\r\n"
        b"Event: StatusComplete\r\nActionID: " + idb + b"\r\nEventList: Complete\r\nListItems: 2\r\n\r\n"
        b"Event: Hangup\r\nChannel: PJSIP/9\r\n\r\n"
    )
    outs = drain(conn)
    assert isinstance(outs[0], Completed)
    r = outs[0].response
    assert r.ok and r.action_id == aid
    assert [m["Channel"] for m in r.events] == ["PJSIP/1", "PJSIP/2"]
    assert r.complete is not None and r.complete["ListItems"] == "2"
    assert r["Message"] == "Channel status will follow" and r.get("nope") is None
    assert isinstance(outs[1], EventReceived) and outs[1].message.name == "Hangup"


def test_peer_close_loses_sent_actions() -> None:
    conn = ready()
    aid = conn.send(Action.ping(), 0.0)
    conn.poll_transmit()
    conn.receive_eof()
    outs = drain(conn)
    (f,) = [o for o in outs if isinstance(o, Failed)]
    assert f.action_id == aid and isinstance(f.error, ActionLost) and f.error.sent is True
    (c,) = [o for o in outs if isinstance(o, Closed)]
    assert c.reason.kind == "peer_closed" and c.reason.may_reconnect


@pytest.mark.parametrize("now", [math.nan, -1.0, math.inf, 1e300, -1e300])
def test_clock_saturates_never_panics(now: float) -> None:
    conn = ready()
    try:
        conn.send(Action.ping(), now)
        conn.handle_timeout(now)
    except amiwire.UsageError:
        pass  # refusing a NaN is fine; a panic is not
    drain(conn)
    t = conn.poll_timeout()
    assert t is None or isinstance(t, float)


def test_exception_hierarchy() -> None:
    E = amiwire
    assert issubclass(E.UsageError, E.AmiError) and issubclass(E.PeerError, E.AmiError)
    assert issubclass(E.ActionFailed, E.AmiError)
    for cls in (E.InvalidAction, E.InvalidFilter, E.InvalidCallFile):
        assert issubclass(cls, E.UsageError) and issubclass(cls, ValueError)
    for cls in (E.NotConnected, E.TooManyPending, E.OutputFull, E.DuplicateActionId, E.OriginateResultUnavailable):
        assert issubclass(cls, E.UsageError)
    for cls in (E.ProtocolError, E.DecodeError, E.LoginFailed, E.ConnectionLost):
        assert issubclass(cls, E.PeerError)
    for cls in (E.ActionTimeout, E.ActionLost, E.ListTruncated, E.ListTooLong):
        assert issubclass(cls, E.ActionFailed)


def test_duplicate_action_id_and_too_many_pending() -> None:
    conn = ready(max_pending=1)
    a = Action.ping()
    a.action_id = "same"
    conn.send(a, 0.0)
    with pytest.raises((amiwire.DuplicateActionId, amiwire.TooManyPending)):
        conn.send(a, 0.0)
    with pytest.raises(amiwire.TooManyPending):
        conn.send(Action.ping(), 0.0)
