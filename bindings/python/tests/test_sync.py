"""The blocking client (amiwire.connect) against amiwire-sim."""

import pytest

import amiwire
from amiwire import Action, LoginFailed, NotConnected


def test_sync_ping_command_events_close(sim):
    with amiwire.connect(sim.host, sim.port, username="admin", secret="amp111") as ami:
        r = ami.send_action({"Action": "Ping"})
        assert r.ok and r["Ping"] == "Pong"
        assert any("Asterisk" in line for line in ami.send_command("core show version").output)
        assert ami.send_action(Action.user_event("FromSync")).ok
        names = [e.get("UserEvent") for e in ami.events(timeout=0.5) if hasattr(e, "name")]
        assert "FromSync" in names
    with pytest.raises(NotConnected):
        ami.send_action({"Action": "Ping"})
    ami.close()  # idempotent


def test_sync_events_timeout_ends_iteration(sim):
    with amiwire.connect(sim.host, sim.port, username="admin", secret="amp111", events="off") as ami:
        assert list(ami.events(timeout=0.2)) == []


def test_sync_bad_login(sim):
    with pytest.raises(LoginFailed):
        amiwire.connect(sim.host, sim.port, username="admin", secret="nope", reconnect=False)
