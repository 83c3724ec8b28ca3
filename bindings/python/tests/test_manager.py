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
    async with mgr(sim, events="call,user") as m:
        stream = m.events()
        # A server-side filter, replayed by the core after the reconnect.
        assert (await m.send_action(Action.filter("Event: UserEvent"))).ok
        await asyncio.to_thread(sim.command, "restart")
        items = []
        while not any(isinstance(i, Reconnected) for i in items):
            items.append(await stream.get(10))
        kinds = [type(i).__name__ for i in items]
        assert "Disconnected" in kinds and kinds.index("Disconnected") < kinds.index("Reconnected")
        disc = next(i for i in items if isinstance(i, Disconnected))
        assert disc.reason.may_reconnect
        assert m.connected
        assert m.connection.event_mask == "call,user"
        # Extension 300 raises call events (Newchannel, Hangup...) and UserEvent MyEvent: with
        # the filter replayed, only the UserEvent comes through.
        r = await m.send_action(Action.originate("Local/300@test", application="Wait", data="0.1",
                                                 asynchronous=False))
        assert r.ok
        ev = await stream.get(5)
        assert ev.name == "UserEvent" and ev["UserEvent"] == "MyEvent"
        await asyncio.sleep(1.5)
        rest = _drain(stream)
        assert rest == [] or all(e.name == "UserEvent" for e in rest), rest


async def test_written_originate_is_not_resent_after_a_break(sim):
    # The proxy swallows what is written while stalled: the Originate is written (so its
    # outcome is unknown to the client) but never reaches the server. Were it re-sent after
    # the reconnect, the new session would run it.
    proxy = await StallingProxy(sim.host, sim.port).start()
    m = Manager("127.0.0.1", proxy.port, "admin", "amp111", reconnect_backoff=(0.5, 1.0))
    try:
        await m.connect()
        calls = m.events(["OriginateResponse", "Newchannel"])
        proxy.stalled.set()
        task = asyncio.ensure_future(m.send_action(Action.originate("Local/100@test", application="Wait", data="1")))
        await asyncio.sleep(0.2)
        assert not task.done()
        await asyncio.to_thread(sim.command, "restart")
        proxy.stalled.clear()
        with pytest.raises(ActionLost) as e:
            await task
        assert e.value.sent is True
        assert "unknown" in str(e.value)
        for _ in range(50):
            if m.connected:
                break
            await asyncio.sleep(0.1)
        assert m.connected
        await asyncio.sleep(1.0)
        r = await m.send_action({"Action": "CoreShowChannels"})
        assert r.ok and r.events == []
        leftover = [i for i in _drain(calls) if not isinstance(i, (Disconnected, Reconnected))]
        assert leftover == []
    finally:
        await m.close()
        await proxy.close()


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
        self.tasks = set()

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
        for t in (asyncio.ensure_future(self._pipe(cr, sw)), asyncio.ensure_future(self._pipe(sr, cw))):
            self.tasks.add(t)
            t.add_done_callback(self.tasks.discard)

    async def close(self):
        self.server.close()
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()


async def test_dead_link_noticed_by_keepalive(sim):
    proxy = await StallingProxy(sim.host, sim.port).start()
    m = Manager("127.0.0.1", proxy.port, "admin", "amp111", ping_interval=0.2, ping_timeout=0.3,
                reconnect=False)
    try:
        await m.connect()
        stream = m.events()
        proxy.stalled.set()
        pending = asyncio.ensure_future(m.send_action({"Action": "Ping"}, timeout=30))
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
