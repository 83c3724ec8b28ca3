"""Message: mapping-like, lossless, bytes and str views, invalid UTF-8 never raises."""

from __future__ import annotations

import pytest

import amiwire
from amiwire import Decoder, Message


def one(data: bytes) -> Message:
    (m,) = Decoder(expect_banner=False).feed(data)
    return m


def test_mapping_access() -> None:
    m = one(b"Event: Dial\r\nChannel: PJSIP/1\r\nchannel: second\r\nVariable: a=1\r\nVariable: b=2\r\n\r\n")
    assert m["CHANNEL"] == "PJSIP/1"
    assert m.get("nope") is None and m.get("nope", "d") == "d"
    with pytest.raises(KeyError):
        m["nope"]
    assert m.get_all("variable") == ["a=1", "b=2"]
    assert "event" in m and "x" not in m
    assert len(m) == 5
    assert list(m)[0] == ("Event", "Dial")
    assert m.to_dict()["Channel"] == "PJSIP/1"
    assert m.kind == "event" and m.name == "Dial"
    assert m.raw.startswith(b"Event: Dial\r\n") and bytes(m) == m.raw


def test_invalid_utf8_never_raises() -> None:
    m = one(b"Event: X\r\nName: caf\xe9 \xff\r\n\r\n")
    assert m["Name"] == "caf\ufffd \ufffd"
    assert m.get_bytes("Name") == b"caf\xe9 \xff"
    assert "\ufffd" in repr(m)
    assert list(m.items())[1] == ("Name", "caf\ufffd \ufffd")


def test_response_kinds_and_action_id() -> None:
    m = one(b"Response: Success\r\nActionID: 7\r\nPing: Pong\r\n\r\n")
    assert (m.kind, m.name, m.action_id) == ("response", "Success", "7")
    o = one(b"Event: OriginateResponse\r\nResponse: Success\r\n\r\n")
    assert o.kind == "event" and o.name == "OriginateResponse"
    assert one(b"Foo: bar\r\n\r\n").kind == "other"


def test_command_output_both_framings() -> None:
    new = one(b"Response: Success\r\nOutput: line 1\r\nOutput: line 2\r\n\r\n")
    assert new.output == ["line 1", "line 2"]
    old = one(b"Response: Follows\r\nPrivilege: Command\r\nline 1\nline 2\n--END COMMAND--\r\n\r\n")
    assert old.output == ["line 1", "line 2"]


def test_chan_variables() -> None:
    m = one(b"Event: X\r\nChanVariable(PJSIP/1): A=1\r\nDestChanVariable: B=2\r\n\r\n")
    assert m.chan_variables == [("PJSIP/1", "A", "1"), (None, "B", "2")]


def test_limits_skip_and_go_on() -> None:
    dec = Decoder(expect_banner=False, max_line_len=20)
    msgs = dec.feed(b"Event: A\r\nLong: " + b"x" * 50 + b"\r\n\r\nEvent: B\r\n\r\n")
    assert [m.name for m in msgs] == ["B"]
    errs = dec.take_errors()
    assert len(errs) == 1 and isinstance(errs[0], amiwire.DecodeError)
    assert isinstance(errs[0], amiwire.PeerError)
    assert "20" in str(errs[0])
    assert dec.take_errors() == []


def test_truncated_stream() -> None:
    dec = Decoder(expect_banner=False)
    assert dec.feed(b"Event: A\r\nX: y") == []
    with pytest.raises(amiwire.DecodeError):
        dec.finish()


def test_banner() -> None:
    dec = Decoder()
    msgs = dec.feed(b"Asterisk Call Manager/11.0.0\r\nEvent: A\r\n\r\n")
    assert dec.banner == "Asterisk Call Manager/11.0.0"
    assert [m.name for m in msgs] == ["A"]


def test_bulk_stream_counts() -> None:
    from _corpus import bulk_stream

    data = bulk_stream()
    dec = Decoder()
    n = headers = 0
    for i in range(0, len(data), 65536):
        for m in dec.feed(data[i : i + 65536]):
            n += 1
            headers += len(m)
    assert n == 78005
    assert dec.take_errors() == []
