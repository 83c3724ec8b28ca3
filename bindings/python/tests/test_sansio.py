"""The sans-io objects: golden recordings, bad input, round trips, a Connection over a socket."""

from __future__ import annotations

import gzip
import json
import math
import pathlib
import random
import socket
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import amiwire
from conftest import DATA

GOLDEN = sorted((DATA / "golden").glob("*.jsonl"))


def http_bodies(data: bytes) -> list[bytes]:
    """The text/plain bodies of the HTTP responses of a recorded /rawman server stream."""
    bodies, pos = [], 0
    while True:
        he = data.find(b"\r\n\r\n", pos)
        if he < 0:
            break
        head = data[pos:he].decode("latin-1").lower()
        length = 0
        for line in head.split("\r\n"):
            if line.startswith("content-length:"):
                length = int(line.split(":", 1)[1].strip() or 0)
        body = data[he + 4 : he + 4 + length]
        if any(l.startswith("content-type: text/plain") for l in head.split("\r\n")):
            bodies.append(body)
        pos = he + 4 + length
        if pos >= len(data):
            break
    return bodies


def render(dec: amiwire.Decoder, msgs: list[amiwire.Message], out: list) -> None:
    for m in msgs:
        item: dict = {"headers": [list(kv) for kv in m]}
        out.append(item)
    for e in dec.take_errors():
        out.append({"error": str(e)})


def decode(chunks, expect_banner: bool) -> list:
    dec = amiwire.Decoder(expect_banner=expect_banner)
    out: list = []
    banner_seen = False
    for c in chunks:
        msgs = dec.feed(c)
        if dec.banner is not None and not banner_seen:
            banner_seen = True
            out.append({"banner": dec.banner})
        render(dec, msgs, out)
    try:
        dec.finish()
    except amiwire.DecodeError as e:
        out.append({"error": str(e)})
    return out


def expected(path: pathlib.Path) -> list:
    rows = [json.loads(l) for l in path.read_text().splitlines()]
    for r in rows:
        r.pop("output", None)  # checked separately below
    return rows


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_recordings_decode_to_the_golden_files(path: pathlib.Path) -> None:
    stem = path.stem
    data = (DATA / f"{stem}.server.bin").read_bytes()
    http = stem.startswith("11")
    want = expected(path)
    if http:
        got: list = []
        for body in http_bodies(data):
            got.extend(decode([body], expect_banner=False))
    else:
        got = decode([data], expect_banner=True)
        # Any chunking gives the same messages: byte by byte and at random cuts.
        assert decode([data[i : i + 1] for i in range(len(data))], True) == want
        rng = random.Random(stem)
        cuts = sorted(rng.randrange(len(data) + 1) for _ in range(5))
        parts = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
        assert decode(parts, True) == want
    assert got == want


def test_old_command_output_is_lines() -> None:
    # Asterisk <= 13's framing of a Command answer (main/manager.c, action_command).
    wire = (
        b"Asterisk Call Manager/1.3\r\n"
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\n"
        b"Asterisk 13.38.3 built by x\nline two\n--END COMMAND--\r\n\r\n"
    )
    [m] = amiwire.Decoder().feed(wire)
    assert m.action_id == "7"
    assert m.output == ["Asterisk 13.38.3 built by x", "line two"]


def test_bulk_stream_decodes_every_message() -> None:
    data = gzip.decompress((DATA / "12a-bulk-events.server.bin.gz").read_bytes())
    dec = amiwire.Decoder()
    n = 0
    for i in range(0, len(data), 65536):
        n += len(dec.feed(data[i : i + 65536]))
    dec.finish()
    assert n == 78005
    assert dec.errors == []


def test_message_is_a_lossless_mapping() -> None:
    raw = (
        b"Event: VarSet\r\nPrivilege: dialplan,all\r\nchannel: PJSIP/1\r\n"
        b"Variable: A\r\nVariable: B\r\nValue: caf\xe9\r\nChanVariable(PJSIP/1): x=1\r\n\r\n"
    )
    m = amiwire.Message(raw)
    assert m.kind == "event" and m.name == "VarSet"
    assert m["CHANNEL"] == "PJSIP/1" and "Channel" in m and "Nope" not in m
    assert m.get("Nope") is None and m.get("Nope", "d") == "d"
    with pytest.raises(KeyError):
        m["Nope"]
    assert m.get_all("variable") == ["A", "B"]
    assert m["Value"] == "caf\ufffd"  # invalid UTF-8 never raises on the str view
    assert m.get_bytes("Value") == b"caf\xe9"
    assert list(m)[2] == ("channel", "PJSIP/1") and len(m) == 7
    assert m.chan_variables == [("PJSIP/1", "x", "1")]
    assert bytes(m) == raw and m.raw == raw
    assert m.to_dict()["Variable"] == "A"  # the first wins, as in Asterisk
    assert amiwire.Message(raw) == m


def test_message_repr_hides_secrets() -> None:
    m = amiwire.Message(b"Action: Login\r\nUsername: u\r\nSecret: hunter2\r\n\r\n")
    assert m.kind == "action"
    assert "hunter2" not in repr(m)


@pytest.mark.parametrize(
    "value",
    ["a\r\nAction: Hangup", "a\nb", "a\rb", "x\x00y", "%0d%0a\r\n"],
)
def test_header_injection_is_refused_before_anything_is_sent(value: str) -> None:
    conn = amiwire.Connection("admin", "amp111", now=0.0)
    for action in (
        amiwire.Action("Originate", Channel=value),
        amiwire.Action.from_mapping({"Action": "Ping", "X": value}),
        amiwire.Action.originate(value, context="test", exten="100"),
        amiwire.Action.command(value),
        amiwire.Action("Ping").add(value, "x") if "\n" in value or "\r" in value else amiwire.Action("Ping", Y=value),
    ):
        with pytest.raises(amiwire.InvalidAction):
            action.validate()
        with pytest.raises(amiwire.InvalidAction):
            bytes(action)
        with pytest.raises(amiwire.InvalidAction):
            conn.send(action, 0.0)
    assert conn.poll_transmit() == b""
    assert conn.pending == 0


def test_errors_name_no_secret() -> None:
    a = amiwire.Action.login("admin", "s3cr3t\r\n")
    with pytest.raises(amiwire.InvalidAction) as e:
        a.validate()
    assert "s3cr3t" not in str(e.value)
    assert "s3cr3t" not in repr(a)
    assert "s3cr3t" not in repr(amiwire.Connection("admin", "s3cr3t", now=0.0))


def test_exception_hierarchy_is_split_by_fault() -> None:
    assert issubclass(amiwire.InvalidAction, amiwire.UsageError)
    assert issubclass(amiwire.InvalidAction, ValueError)
    assert issubclass(amiwire.NotConnected, amiwire.UsageError)
    assert issubclass(amiwire.LoginFailed, amiwire.PeerError)
    assert issubclass(amiwire.ActionTimeout, amiwire.ActionFailed)
    for cls in (amiwire.UsageError, amiwire.PeerError, amiwire.ActionFailed):
        assert issubclass(cls, amiwire.AmiError)
    assert amiwire.ActionLost.__module__ == "amiwire"


def test_action_builder_forms() -> None:
    a = amiwire.Action("Originate", {"Channel": "Local/100@test"}, Variable=["a=1", "b=2"], Async=True, Timeout=30000)
    assert bytes(a) == (
        b"Action: Originate\r\nChannel: Local/100@test\r\nVariable: a=1\r\nVariable: b=2\r\n"
        b"Async: true\r\nTimeout: 30000\r\n\r\n"
    )
    b = amiwire.Action.from_mapping({"action": "Ping", "ActionID": "x1"})
    assert b.name == "Ping" and b.action_id == "x1"
    with pytest.raises(amiwire.InvalidAction):
        amiwire.Action.from_mapping({"Channel": "x"})
    with pytest.raises(TypeError):
        amiwire.Action("Ping", X=object())
    o = amiwire.Action.originate("Local/100@test", context="test", exten="100", priority=1, variables={"A": "1"})
    assert o.get("Async") == "true" and o.get("Variable") == "A=1"
    with pytest.raises(amiwire.InvalidArgument):
        amiwire.Action.originate("Local/100@test")


def test_filters() -> None:
    dial = amiwire.Message(b"Event: DialBegin\r\nChannel: PJSIP/902-1\r\n\r\n")
    hang = amiwire.Message(b"Event: Hangup\r\nChannel: Local/1@x\r\n\r\n")
    resp = amiwire.Message(b"Response: Success\r\n\r\n")
    assert amiwire.Filter.glob("dial*").matches(dial) and not amiwire.Filter.glob("Dial*").matches(hang)
    assert amiwire.Filter.glob("*").matches(hang) and not amiwire.Filter.glob("*").matches(resp)
    assert amiwire.Filter.glob("Hang[u]?").matches(hang)
    f = amiwire.Filter.manager("Event: Dial.*") & amiwire.Filter.contains("Channel", "902")
    assert f.matches(dial) and not f.matches(hang)
    assert (~f).matches(hang)
    assert (amiwire.Filter.event("Hangup") | f).matches(hang)
    assert amiwire.Filter.header_regex("Channel", "^Local/").matches(hang)
    assert amiwire.Filter.manager_conf("eventfilter = !Channel: Local/.*\n").matches(dial)
    with pytest.raises(amiwire.InvalidFilter):
        amiwire.Filter.header_regex("Channel", "(")


def test_call_files() -> None:
    cf = amiwire.CallFile("PJSIP/100", context="test", exten="200", priority=1, caller_id="Me <100>", variables={"A": "1"})
    text = str(cf)
    assert "Channel: PJSIP/100" in text and "Set: A=1" in text
    back = amiwire.CallFile.parse(text)
    assert str(back) == text
    with pytest.raises(amiwire.InvalidCallFile):
        amiwire.CallFile("PJSIP/1\r\nApplication: System", application="Playback", data="x").validate()


_key = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,15}", fullmatch=True).filter(
    lambda k: k.lower() not in ("action", "actionid")
)
_val = st.text(st.characters(min_codepoint=0x20, blacklist_characters="\x7f", blacklist_categories=("Cs", "Cc")), max_size=40).map(str.strip)


@settings(max_examples=200, deadline=None)
@given(name=st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,15}", fullmatch=True), headers=st.lists(st.tuples(_key, _val), max_size=8))
def test_round_trip_action_encode_decode(name: str, headers: list) -> None:
    a = amiwire.Action(name, headers)
    wire = bytes(a)
    [m] = amiwire.Decoder(expect_banner=False).feed(wire)
    assert m.kind == "action" and m.name == name
    assert list(m)[1:] == [(k, v) for k, v in headers]


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 2000), max_size=6))
def test_any_chunking_gives_the_same_messages(data: bytes, cuts: list) -> None:
    def run(parts):
        dec = amiwire.Decoder(expect_banner=False)
        out = []
        for p in parts:
            out += [m.raw for m in dec.feed(p)]
        return out

    cuts = sorted(c % (len(data) + 1) for c in cuts)
    parts = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    assert run(parts) == run([data])


def test_bad_times_and_durations_are_refused_not_panics() -> None:
    with pytest.raises(amiwire.InvalidArgument):
        amiwire.Connection("a", "b", action_timeout=-1.0, now=0.0)
    with pytest.raises(amiwire.InvalidArgument):
        amiwire.Connection("a", "b", auth="sha1", now=0.0)
    with pytest.raises(amiwire.InvalidArgument):
        amiwire.Connection("a", None, now=0.0)
    c = amiwire.Connection("a", "b", action_timeout=math.inf, now=100.0)
    c.handle_timeout(1e300)  # saturates
    c.handle_timeout(-5.0)  # before the base: the base
    with pytest.raises(amiwire.InvalidArgument):
        c.handle_timeout(math.nan)
    assert c.is_closed  # the login deadline passed at 1e300
    d = amiwire.Connection("a", "b", now=0.0)
    assert d.send(amiwire.Action.ping(), 1e18, timeout=1e30)


def _drive(conn: amiwire.Connection, sock: socket.socket, until, deadline: float = 10.0) -> list:
    """A minimal blocking transport: write, read, feed, collect outputs until `until(outputs)`."""
    outputs: list = []
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        data = conn.poll_transmit()
        if data:
            sock.sendall(data)
        while (o := conn.poll_output()) is not None:
            outputs.append(o)
        if until(outputs):
            return outputs
        t = conn.poll_timeout()
        wait = 0.2 if t is None else max(0.0, min(0.2, t - time.monotonic()))
        sock.settimeout(wait or 0.001)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            conn.handle_timeout(time.monotonic())
            continue
        if not chunk:
            conn.receive_eof()
        else:
            view = memoryview(chunk)
            while view:
                n = conn.receive(bytes(view))
                view = view[n:]
                while (o := conn.poll_output()) is not None:
                    outputs.append(o)
    raise AssertionError(f"not reached in time; outputs: {outputs}")


def test_connection_over_a_real_socket(sim) -> None:
    conn = amiwire.Connection("admin", "amp111", auth="md5", now=time.monotonic())
    with socket.create_connection((sim.host, sim.port)) as sock:
        _drive(conn, sock, lambda out: any(isinstance(o, amiwire.LoggedIn) for o in out))
        assert conn.is_ready and conn.banner == "Asterisk Call Manager/11.0.0"
        ids = {
            "ping": conn.send(amiwire.Action.ping(), time.monotonic()),
            "cmd": conn.send(amiwire.Action.command("core show version"), time.monotonic()),
            "list": conn.send(amiwire.Action.queue_status(), time.monotonic()),
            "orig": conn.send(amiwire.Action.originate("Local/100@test", context="test", exten="100"), time.monotonic()),
            "bad": conn.send(amiwire.Action("NoSuchAction"), time.monotonic()),
        }
        out = _drive(conn, sock, lambda out: sum(isinstance(o, amiwire.Completed) for o in out) == len(ids))
        done = {o.response.action_id: o.response for o in out if isinstance(o, amiwire.Completed)}
        assert done[ids["ping"]].ok and done[ids["ping"]]["Ping"] == "Pong"
        assert done[ids["cmd"]].output[0].startswith("Asterisk 22")
        assert [e.name for e in done[ids["list"]].events][:1] == ["QueueParams"]
        orig = done[ids["orig"]]
        assert orig.originate is not None and orig.originate["Response"] == "Success"
        assert orig.originate.action_id == ids["orig"]
        assert not done[ids["bad"]].ok and done[ids["bad"]].refusal == "unknown_action"
        conn.logoff(time.monotonic())
        out = _drive(conn, sock, lambda out: any(isinstance(o, amiwire.Closed) for o in out))
        [closed] = [o for o in out if isinstance(o, amiwire.Closed)]
        assert closed.reason.kind == "logoff" and not closed.reason.may_reconnect
    with pytest.raises(amiwire.NotConnected):
        conn.send(amiwire.Action.ping(), time.monotonic())


def test_refused_login_names_no_secret(sim) -> None:
    conn = amiwire.Connection("admin", "wrong-secret", now=time.monotonic())
    with socket.create_connection((sim.host, sim.port)) as sock:
        held = conn.send(amiwire.Action.ping(), time.monotonic())
        out = _drive(conn, sock, lambda out: any(isinstance(o, amiwire.Closed) for o in out))
    [closed] = [o for o in out if isinstance(o, amiwire.Closed)]
    assert closed.reason.kind == "login_failed" and not closed.reason.may_reconnect
    assert "wrong-secret" not in closed.reason.message
    [failed] = [o for o in out if isinstance(o, amiwire.Failed)]
    assert failed.action_id == held and isinstance(failed.error, amiwire.ActionLost)
    assert failed.error.sent is False


def test_reconnect_keeps_unsent_actions_and_fails_sent_ones(sim) -> None:
    conn = amiwire.Connection("admin", "amp111", resumable=True, now=time.monotonic())
    with socket.create_connection((sim.host, sim.port)) as sock:
        _drive(conn, sock, lambda out: any(isinstance(o, amiwire.LoggedIn) for o in out))
        written = conn.send(amiwire.Action.ping(), time.monotonic())
        sock.sendall(conn.poll_transmit())
        conn.receive_eof()  # the link dies before the answer is read
        out = _drive(conn, sock, lambda out: any(isinstance(o, amiwire.Closed) for o in out))
        [failed] = [o for o in out if isinstance(o, amiwire.Failed)]
        assert failed.action_id == written and isinstance(failed.error, amiwire.ActionLost)
        assert failed.error.sent is True and "outcome unknown" in str(failed.error)
        [closed] = [o for o in out if isinstance(o, amiwire.Closed)]
        assert closed.reason.kind == "peer_closed" and closed.reason.may_reconnect
    sim.command("restart")
    kept = conn.send(amiwire.Action.ping(), time.monotonic())  # queued while closed
    conn.reconnect(time.monotonic())
    with socket.create_connection((sim.host, sim.port)) as sock:
        out = _drive(conn, sock, lambda out: any(isinstance(o, amiwire.Completed) for o in out))
    [done] = [o for o in out if isinstance(o, amiwire.Completed)]
    assert done.response.action_id == kept and done.response.ok
