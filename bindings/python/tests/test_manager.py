"""amiwire.Manager against amiwire-sim (the `sim` fixture of conftest.py: .host, .port,
.command(cmd) waiting for its `ok` line)."""

import asyncio

import pytest

import amiwire
from amiwire import (
    Action,
    ActionLost,
    ActionTimeout,
    Disconnected,
    Filter,
    InvalidAction,
    Lagged,
    LoginFailed,
    Manager,
    NotConnected,
    Reconnected,
)

pytestmark = pytest.mark.asyncio


def mgr(sim, **kw):
    kw.setdefault("username", "admin")
    kw.setdefault("secret", "amp111")
    kw.setdefault("reconnect_backoff", (0.05, 0.2))
    return Manager(sim.host, sim.port, **kw)


async def test_send_before_connect_is_a_clear_error(sim):
    m = mgr(sim)
    with pytest.raises(NotConnected, match="connect"):
        await m.send_action({"Action": "Ping"})


@pytest.mark.parametrize("auth", [None, "md5"])
async def test_login_and_ping(sim, auth):
    async with mgr(sim, auth_type=auth) as m:
        assert m.connected
        r = await m.send_action({"Action": "Ping"})
        assert r.ok
        assert r["Ping"] == "Pong"
        assert (await m.ping()) >= 0
    assert m.closed
    with pytest.raises(NotConnected):
        await m.send_action({"Action": "Ping"})


async def test_bad_secret_raises_login_failed_without_the_secret(sim):
    m = mgr(sim, secret="wrong-secret-xyz", reconnect=False)
    with pytest.raises(LoginFailed) as e:
        await m.connect()
    assert "wrong-secret-xyz" not in str(e.value)
    assert m.closed


async def test_list_command_and_refusal(sim):
    async with mgr(sim) as m:
        r = await m.send_action(Action.command("core show version"))
        assert r.ok and any("Asterisk" in line for line in r.output)
        r = await m.send_action({"Action": "CoreShowChannels"})
        assert r.ok and r.complete is not None
        assert r.complete.name == "CoreShowChannelsComplete"
        r = await m.send_action({"Action": "NoSuchAction"})
        assert not r.ok and r.refusal == "unknown_action"
        with pytest.raises(amiwire.ActionRefused) as e:
            await m.send_action({"Action": "NoSuchAction"}, check=True)
        assert e.value.response.refusal == "unknown_action"


async def test_async_originate_result_tied_to_the_request(sim):
    async with mgr(sim) as m:
        r = await m.send_action(Action.originate("Local/100@test", application="Wait", data="0.2"))
        assert r.ok
        assert r.originate is not None
        assert r.originate.name == "OriginateResponse"
        assert r.originate["Response"] == "Success"
        assert r.originate.action_id == r.action_id


async def test_bad_input_refused_before_anything_is_sent(sim):
    async with mgr(sim) as m:
        with pytest.raises(InvalidAction):
            await m.send_action({"Action": "Ping", "X": "a\r\nAction: Logoff"})
        with pytest.raises(TypeError):
            await m.send_action(42)
        # The session is unharmed.
        assert (await m.send_action({"Action": "Ping"})).ok
    with pytest.raises(ValueError):
        Manager("127.0.0.1", 0)
    with pytest.raises(ValueError):
        Manager(auth_type="sha1")
    with pytest.raises(ValueError):
        Manager(events="on\r\nAction: Logoff")


async def test_callbacks_and_filtered_iteration(sim):
    async with mgr(sim) as m:
        seen, async_seen = [], []

        @m.register_event("User*")
        def on_user(manager, event):
            assert manager is m
            seen.append(event["UserEvent"])

        async def on_any(manager, event):
            if event.name == "UserEvent":
                async_seen.append(event["UserEvent"])

        m.register_event("*", on_any)
        m.register_event("Hangup", lambda mg, ev: 1 / 0)  # logged, never breaks dispatch
        wanted = m.events(Filter.event("UserEvent") & Filter.header_eq("UserEvent", "Wanted"))
        for name in ("Other", "Wanted", "Other", "Wanted"):
            assert (await m.send_action(Action.user_event(name))).ok
        got = [await wanted.get(5), await wanted.get(5)]
        assert [e["UserEvent"] for e in got] == ["Wanted", "Wanted"]
        await asyncio.sleep(0.05)
        assert seen == ["Other", "Wanted", "Other", "Wanted"]
        assert async_seen == seen
        with pytest.raises(asyncio.TimeoutError):
            await wanted.get(0.1)


async def test_lagged_marker_then_resumes(sim):
    async with mgr(sim) as m:
        stream = m.events("UserEvent", queue_size=10)
        await asyncio.to_thread(sim.command, "flood 100")
        # Let the flood arrive while nobody reads the stream.
        await asyncio.sleep(0.5)
        items = []
        while not items or not isinstance(items[-1], Lagged):
            items.append(await stream.get(5))
        assert all(not isinstance(i, Lagged) for i in items[:-1])
        assert len(items) == 11
        assert [i["Seq"] for i in items[:10]] == [str(n) for n in range(1, 11)]
        assert items[-1] == Lagged(90)
        # It resumes: a new event comes through after the marker.
        assert (await m.send_action(Action.user_event("After"))).ok
        while True:
            item = await stream.get(5)
            if not isinstance(item, Lagged) and item.get("UserEvent") == "After":
                break


async def test_flood_reaches_an_async_for_consumer_in_order(sim):
    async with mgr(sim) as m:
        stream = m.events("UserEvent", queue_size=100_000)
        await asyncio.to_thread(sim.command, "flood 5000")
        n = 0
        async for ev in stream:
            n += 1
            assert ev["Seq"] == str(n)
            if n == 5000:
                break


async def test_restart_reconnects_with_markers_mask_and_filters(sim):
    async with mgr(sim, events="user") as m:
        stream = m.events()
        # A server-side filter, replayed by the core after the reconnect.
        r = await m.send_action(Filter.manager("Event: UserEvent").to_action())
        assert r.ok
        await asyncio.to_thread(sim.command, "restart")
        items = []
        while not any(isinstance(i, Reconnected) for i in items):
            items.append(await stream.get(10))
        kinds = [type(i).__name__ for i in items]
        assert "Disconnected" in kinds and kinds.index("Disconnected") < kinds.index("Reconnected")
        assert m.connected
        # The mask (user) and the filter are in force in the new session: only UserEvents.
        await m.send_action(Action.user_event("AfterRestart"))
        ev = await stream.get(5)
        while isinstance(ev, (Lagged, Disconnected, Reconnected)) or ev.name != "UserEvent":
            assert ev.name in (None, "UserEvent") or isinstance(ev, (Lagged, Reconnected)), ev
            ev = await stream.get(5)
        assert ev["UserEvent"] == "AfterRestart"
        assert m.connection.event_mask in ("user", "on") or m.connection.event_mask


async def test_written_originate_is_not_resent_after_a_break(sim):
    async with mgr(sim) as m:
        calls = m.events("OriginateResponse")
        # Wait(1) keeps the Originate's result away until after the restart.
        task = asyncio.ensure_future(
            m.send_action(Action.originate("Local/600@test", application="Wait", data="1")))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(sim.command, "restart")
        with pytest.raises(ActionLost) as e:
            await task
        assert e.value.sent is True
        assert "unknown" in str(e.value)
        # After the reconnect, no OriginateResponse: the action was not sent again.
        for _ in range(50):
            if m.connected:
                break
            await asyncio.sleep(0.1)
        assert m.connected
        await asyncio.sleep(1.5)
        r = await m.send_action({"Action": "CoreShowChannels"})
        assert r.events == []
        leftover = [i for i in _drain(calls) if not isinstance(i, (Disconnected, Reconnected))]
        assert leftover == []


def _drain(stream):
    out = []
    while True:
        item = stream._sub.take()
        if item is None:
            return out
        out.append(item)


class StallingProxy:
    """A TCP proxy that stops forwarding (both ways) when told: a dead link."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.stalled = asyncio.Event()
        self.server = None

    async def start(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _pipe(self, r, w):
        try:
            while True:
                data = await r.read(65536)
                if not data:
                    break
                if self.stalled.is_set():
                    continue
                w.write(data)
                await w.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            w.close()

    async def _serve(self, cr, cw):
        sr, sw = await asyncio.open_connection(*self.target)
        await asyncio.gather(self._pipe(cr, sw), self._pipe(sr, cw))

    async def close(self):
        self.server.close()
        await self.server.wait_closed()


async def test_dead_link_noticed_by_keepalive(sim):
    proxy = await StallingProxy(sim.host, sim.port).start()
    m = Manager("127.0.0.1", proxy.port, "admin", "amp111", ping_interval=0.2, ping_timeout=0.3,
                reconnect=False)
    try:
        await m.connect()
        stream = m.events()
        pending = asyncio.ensure_future(m.send_action({"Action": "Ping"}, timeout=30))
        await asyncio.sleep(0.01)
        proxy.stalled.set()
        item = await stream.get(3)
        while not isinstance(item, Disconnected):
            item = await stream.get(3)
        assert item.reason.kind == "keepalive_timeout"
        with pytest.raises((ActionLost, NotConnected)):
            await pending
    finally:
        await m.close()
        await proxy.close()


async def test_action_timeout_says_outcome_unknown(sim):
    proxy = await StallingProxy(sim.host, sim.port).start()
    m = Manager("127.0.0.1", proxy.port, "admin", "amp111", ping_interval=None)
    try:
        await m.connect()
        proxy.stalled.set()
        with pytest.raises(ActionTimeout) as e:
            await m.send_action({"Action": "Ping"}, timeout=0.2)
        assert e.value.sent is True
        assert "unknown" in str(e.value)
    finally:
        await m.close(timeout=0.2)
        await proxy.close()


async def test_from_config(sim, tmp_path):
    ini = tmp_path / "ami.ini"
    ini.write_text(f"[asterisk]\nhost = {sim.host}\nport = {sim.port}\nusername = admin\n"
                   "secret = amp111\nping_interval = none\n")
    m = Manager.from_config(ini)
    assert m.port == sim.port and m.ping_interval is None
    async with m:
        assert (await m.send_action({"Action": "Ping"})).ok
    with pytest.raises(ValueError, match="unknown"):
        Manager.from_config({"hots": "x"})
