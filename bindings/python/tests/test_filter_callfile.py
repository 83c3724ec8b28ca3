"""Filters and call files through Python."""

from __future__ import annotations

import pytest

import amiwire
from amiwire import CallFile, Decoder, Filter, InvalidCallFile, InvalidFilter


def msg(data: bytes) -> amiwire.Message:
    (m,) = Decoder(expect_banner=False).feed(data)
    return m


DIAL = msg(b"Event: DialBegin\r\nPrivilege: call,all\r\nExten: 902\r\n\r\n")
HANG = msg(b"Event: Hangup\r\nExten: 100\r\n\r\n")


def test_structured_and_composed() -> None:
    f = Filter.events(["DialBegin", "Hangup"]) & Filter.header_eq("Exten", "902")
    assert f.matches(DIAL) and not f.matches(HANG)
    assert (~f).matches(HANG)
    assert (Filter.event("hangup") | Filter.none()).matches(HANG)
    assert Filter.all().matches(DIAL) and not Filter.none().matches(DIAL)
    assert Filter.header_exists("Privilege").matches(DIAL)
    assert Filter.contains("Privilege", "call").matches(DIAL)
    assert Filter.starts_with("Exten", "9").matches(DIAL)
    assert Filter.ends_with("Exten", "00").matches(HANG)
    assert Filter.header_regex("Exten", "^9[0-9]+$").matches(DIAL)


def test_glob() -> None:
    assert Filter.glob("Dial*").matches(DIAL)
    assert Filter.glob("dial*").matches(DIAL)
    assert not Filter.glob("Dial*").matches(HANG)
    assert Filter.glob("*").matches(HANG)
    assert Filter.glob("H?ngup").matches(HANG)


def test_manager_syntax() -> None:
    assert Filter.manager("Event: Dial.*").matches(DIAL)
    assert not Filter.manager("!Exten: 902").matches(DIAL)
    f = Filter.manager_conf("eventfilter = Event: Hangup\neventfilter(action(include),name(DialBegin)) =\n")
    assert f.matches(DIAL) and f.matches(HANG)


@pytest.mark.parametrize("build", [lambda: Filter.header_regex("X", "("), lambda: Filter.manager("("), lambda: Filter.manager_conf("nonsense")])
def test_bad_filters_raise(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidFilter) as e:
        build()
    assert isinstance(e.value, ValueError) and str(e.value)


def test_callfile_roundtrip_and_injection() -> None:
    text = "Channel: PJSIP/alice\nContext: wakeup\nExtension: s\nPriority: 1\n"
    cf = CallFile.parse(text)
    assert str(cf) == text
    cf.validate()
    with pytest.raises(InvalidCallFile):
        CallFile.parse("Channel: PJSIP/alice\nContext wakeup\n")
    with pytest.raises(InvalidCallFile):
        CallFile.parse("Channel: PJSIP/alice\nApplication: System\nData: x\nContext: a\nExtension: s\n")
