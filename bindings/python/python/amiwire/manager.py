"""The asyncio AMI client: sockets, timers and ActionID -> future over the Rust core.

Everything that is protocol (login, correlation, lists, Command output, async Originate
results, keepalive, timeouts, what a reconnect replays and what it keeps) happens in
:class:`amiwire.Connection`; this module moves bytes between it and an asyncio stream, runs
its timer, resolves futures and fans events out.
"""

from __future__ import annotations

import asyncio
import collections
import configparser
import logging
import os
import random
import ssl as _ssl
import time
import collections.abc as _abc
from typing import Any, Callable, Optional, Union

from ._amiwire import (
    Action,
    ActionFailed,
    AmiError,
    Closed,
    Completed,
    Connected,
    Connection,
    ConnectionLost,
    DecodeFailed,
    EventReceived,
    Failed,
    Filter,
    LoggedIn,
    LoginFailed,
    Message,
    NotConnected,
    Response,
    Unmatched,
)

__all__ = [
    "ActionRefused",
    "Disconnected",
    "EventStream",
    "Lagged",
    "Manager",
    "Reconnected",
]

log = logging.getLogger("amiwire")

_monotonic = time.monotonic


class ActionRefused(AmiError):
    """The server answered ``Response: Error`` (raised by ``send_action(..., check=True)``).

    ``.response`` is the complete :class:`Response` (``.refusal`` tells permission denied
    from an unknown action).
    """

    def __init__(self, response: Response) -> None:
        self.response = response
        text = response.get("Message") or "no message"
        super().__init__(f"{response.action or 'action'} refused by the server: {text}")


class Lagged:
    """Marker in an event stream: ``count`` events were dropped because its queue was full."""

    __slots__ = ("count",)
    __match_args__ = ("count",)

    def __init__(self, count: int) -> None:
        self.count = count

    def __repr__(self) -> str:
        return f"Lagged({self.count})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lagged) and other.count == self.count

    __hash__ = None  # type: ignore[assignment]


class Disconnected:
    """Marker in an event stream: the link went down (``reason`` is a ``CloseReason``);
    events may be missing until the following :class:`Reconnected`."""

    __slots__ = ("reason",)
    __match_args__ = ("reason",)

    def __init__(self, reason: Any) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Disconnected({self.reason!s})"


class Reconnected:
    """Marker in an event stream: logged in again after a :class:`Disconnected` (the core
    has replayed the event mask and the server-side filters)."""

    __slots__ = ("banner",)
    __match_args__ = ("banner",)

    def __init__(self, banner: Optional[str] = None) -> None:
        self.banner = banner

    def __repr__(self) -> str:
        return f"Reconnected({self.banner!r})"


EventItem = Union[Message, Lagged, Disconnected, Reconnected]


class _Sub:
    """One subscriber's bounded queue (shared by :class:`EventStream` and the sync client)."""

    __slots__ = ("filter", "maxsize", "queue", "lagged", "closed", "waiter", "wake")

    def __init__(self, flt: Optional[Filter], maxsize: int) -> None:
        self.filter = flt
        self.maxsize = maxsize
        self.queue: collections.deque = collections.deque()
        self.lagged = 0
        self.closed = False
        self.waiter: Optional[asyncio.Future] = None
        # Called after an item is queued when set (the sync client's condition variable).
        self.wake: Optional[Callable[[], None]] = None

    def push(self, msg: Message) -> None:
        q = self.queue
        if len(q) >= self.maxsize:
            self.lagged += 1
            return
        if self.lagged:
            q.append(Lagged(self.lagged))
            self.lagged = 0
        q.append(msg)
        self._notify()

    def mark(self, item: Any) -> None:
        # Markers are never dropped (at most a few per reconnect).
        if self.lagged:
            self.queue.append(Lagged(self.lagged))
            self.lagged = 0
        self.queue.append(item)
        self._notify()

    def end(self) -> None:
        self.closed = True
        self._notify()

    def _notify(self) -> None:
        w = self.waiter
        if w is not None:
            self.waiter = None
            if not w.done():
                w.set_result(None)
        if self.wake is not None:
            self.wake()

    def take(self) -> Any:
        """The next item, or ``None`` when there is none yet."""
        q = self.queue
        if q:
            return q.popleft()
        if self.lagged:
            n, self.lagged = self.lagged, 0
            return Lagged(n)
        return None


class EventStream:
    """``async for item in manager.events(...)``: events (:class:`Message`) and the markers
    :class:`Lagged`, :class:`Disconnected`, :class:`Reconnected`. Ends when the Manager is
    closed or :meth:`close` is called. Subscribed from the moment ``events()`` returns."""

    def __init__(self, manager: "Manager", sub: _Sub) -> None:
        self._manager = manager
        self._sub = sub

    def __aiter__(self) -> "EventStream":
        return self

    async def __anext__(self) -> EventItem:
        sub = self._sub
        while True:
            q = sub.queue
            if q:
                return q.popleft()
            item = sub.take()
            if item is not None:
                return item
            if sub.closed:
                raise StopAsyncIteration
            w = asyncio.get_running_loop().create_future()
            sub.waiter = w
            try:
                await w
            finally:
                if sub.waiter is w:
                    sub.waiter = None

    async def get(self, timeout: Optional[float] = None) -> EventItem:
        """The next item; ``asyncio.TimeoutError`` after ``timeout`` seconds,
        ``StopAsyncIteration`` once the stream has ended."""
        if timeout is None:
            return await self.__anext__()
        return await asyncio.wait_for(self.__anext__(), timeout)

    def close(self) -> None:
        """Unsubscribe (what is queued can still be read)."""
        self._sub.end()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> "EventStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # A stream nobody reads any more stops collecting events.
        self._sub.closed = True


def _to_filter(f: Any) -> Optional[Filter]:
    if f is None:
        return None
    if isinstance(f, Filter):
        return f
    if isinstance(f, str):
        return Filter.glob(f)
    if isinstance(f, (list, tuple, set, frozenset)):
        return Filter.events(list(f))
    raise TypeError(
        f"filter must be None, a Filter, a glob pattern or a list of event names, not {type(f).__name__}"
    )


def _positive(name: str, value: Optional[float], *, allow_none: bool = True) -> Optional[float]:
    if value is None:
        if allow_none:
            return None
        raise ValueError(f"{name} must be a number of seconds")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, not {type(value).__name__}")
    v = float(value)
    if not v > 0:  # also NaN
        raise ValueError(f"{name} must be > 0 seconds (got {value!r})")
    return v


class Manager:
    """An AMI client on asyncio over the Rust core.

    ``await manager.connect()`` opens the socket and logs in; ``await
    manager.send_action({'Action': 'Ping'})`` returns the complete :class:`Response` (list
    items in ``.events``, Command output in ``.output``, an async Originate's
    OriginateResponse in ``.originate``). Events go to callbacks registered with
    :meth:`register_event` (``callback(manager, message)``; coroutines are scheduled) and to
    every :meth:`events` stream.

    With ``reconnect`` (default), a broken link is reopened with exponential backoff
    (``reconnect_backoff=(first, max)`` seconds); the core logs in again with the same event
    mask and replays the server-side filters. Actions written before the break fail with
    ``ActionLost`` (``.sent`` True: outcome unknown) and are never sent again; actions sent
    during the gap wait for the next session within their timeouts. ``reconnect`` may be an
    int: the number of attempts before giving up.

    ``ping_interval`` (seconds, ``None`` = off) sends a keepalive Ping; no Pong within
    ``ping_timeout`` counts as a dead link.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5038,
        username: Optional[str] = None,
        secret: Optional[str] = None,
        *,
        auth_type: Optional[str] = None,
        ssl: Union[None, bool, _ssl.SSLContext] = None,
        events: Optional[str] = "on",
        ping_interval: Optional[float] = 20.0,
        ping_timeout: float = 10.0,
        action_timeout: Optional[float] = 30.0,
        connect_timeout: Optional[float] = 10.0,
        login_timeout: float = 10.0,
        reconnect: Union[bool, int] = True,
        reconnect_backoff: tuple = (0.5, 30.0),
        queue_size: int = 10_000,
        max_pending: int = 1024,
        loop: Optional[asyncio.AbstractEventLoop] = None,
    ) -> None:
        if not isinstance(host, str) or not host:
            raise ValueError("host must be a non-empty string")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"port must be an int in 1..65535 (got {port!r})")
        if (username is None) != (secret is None):
            raise ValueError("give both username and secret, or neither")
        if auth_type is not None:
            if not isinstance(auth_type, str) or auth_type.lower() not in ("plain", "md5"):
                raise ValueError(f"auth_type must be None, 'plain' or 'md5' (got {auth_type!r})")
            auth_type = auth_type.lower()
        if events is not None and not isinstance(events, str):
            raise TypeError("events must be None or a mask string ('on', 'off', 'call,user'...)")
        if isinstance(events, str) and ("\r" in events or "\n" in events):
            raise ValueError("events must not contain CR or LF")
        if isinstance(reconnect, bool):
            self._max_attempts: Optional[int] = None if reconnect else 0
        elif isinstance(reconnect, int) and reconnect >= 0:
            self._max_attempts = reconnect
        else:
            raise ValueError("reconnect must be True, False or a number of attempts >= 0")
        try:
            first, cap = reconnect_backoff
        except (TypeError, ValueError):
            raise ValueError("reconnect_backoff must be (first_delay, max_delay)") from None
        self._backoff = (_positive("reconnect_backoff[0]", first, allow_none=False),
                         _positive("reconnect_backoff[1]", cap, allow_none=False))
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
            raise ValueError("queue_size must be an int >= 1")
        if ssl is True:
            ssl = _ssl.create_default_context()
        elif ssl is False:
            ssl = None
        elif ssl is not None and not isinstance(ssl, _ssl.SSLContext):
            raise TypeError("ssl must be None, a bool or an ssl.SSLContext")
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.auth_type = auth_type or "plain"
        self.ssl = ssl
        self.events_mask = events
        self.ping_interval = _positive("ping_interval", ping_interval)
        self.ping_timeout = _positive("ping_timeout", ping_timeout, allow_none=False)
        self.action_timeout = _positive("action_timeout", action_timeout)
        self.connect_timeout = _positive("connect_timeout", connect_timeout)
        self.login_timeout = _positive("login_timeout", login_timeout, allow_none=False)
        self.queue_size = queue_size
        self.max_pending = max_pending
        self._loop = loop
        self._conn: Optional[Connection] = None
        self._closed = False
        self._closing = False
        self._waiting: dict = {}
        self._subs: list = []
        # pattern -> [callbacks]; _cb_list is the flat (filter, callbacks) list dispatch walks.
        self._callbacks: dict = {}
        self._cb_list: list = []
        self._tasks: set = set()
        self._writer: Optional[asyncio.StreamWriter] = None
        self._reader_task: Optional[asyncio.Task] = None
        self._runner: Optional[asyncio.Task] = None
        self._session_end: Optional[asyncio.Future] = None
        self._login: Optional[asyncio.Future] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_at: Optional[float] = None
        self._down: Any = None  # the reason, while reconnecting
        self._final_reason: Any = None
        self._banner: Optional[str] = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("connected" if self.connected else "not connected")
        return f"<amiwire.Manager {self.username or '-'}@{self.host}:{self.port} {state}>"

    # -- configuration -----------------------------------------------------------------

    _CONFIG_KEYS = {
        "host": str,
        "port": int,
        "username": str,
        "secret": str,
        "auth_type": str,
        "events": str,
        "ssl": bool,
        "ping_interval": float,
        "ping_timeout": float,
        "action_timeout": float,
        "connect_timeout": float,
        "login_timeout": float,
        "reconnect": "reconnect",
        "queue_size": int,
        "max_pending": int,
    }

    @classmethod
    def from_config(cls, config: Union[str, os.PathLike, _abc.Mapping[str, Any]],
                    section: str = "asterisk", **overrides: Any) -> "Manager":
        """A Manager from an ini file (section ``[asterisk]`` by default, as panoramisk) or a
        mapping, with keys ``host``, ``port``, ``username``, ``secret``, ``auth_type``,
        ``events``, ``ssl``, ``ping_interval``, ``ping_timeout``, ``action_timeout``,
        ``connect_timeout``, ``login_timeout``, ``reconnect``, ``queue_size``,
        ``max_pending``. ``none``/empty values of durations mean never. Unknown keys raise
        ``ValueError``."""
        if isinstance(config, _abc.Mapping):
            raw = dict(config)
        else:
            cp = configparser.ConfigParser(interpolation=None)
            with open(config, encoding="utf-8") as fd:
                cp.read_file(fd)
            if not cp.has_section(section):
                raise ValueError(f"{os.fspath(config)}: no [{section}] section")
            raw = dict(cp.items(section))
        raw.update(overrides)
        kwargs: dict = {}
        for key, value in raw.items():
            kind = cls._CONFIG_KEYS.get(key)
            if kind is None:
                raise ValueError(f"unknown Manager setting {key!r} (known: {', '.join(cls._CONFIG_KEYS)})")
            kwargs[key] = _convert(key, value, kind)
        return cls(**kwargs)

    # -- state -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Logged in right now."""
        c = self._conn
        return c is not None and not self._closed and self._down is None and c.is_ready

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def banner(self) -> Optional[str]:
        return self._banner

    @property
    def connection(self) -> Optional[Connection]:
        """The core's :class:`Connection` (for inspection: ``pending``, ``event_mask``)."""
        return self._conn

    # -- connect / close ---------------------------------------------------------------

    async def connect(self) -> "Manager":
        """Open the socket and log in; raises ``LoginFailed`` (bad credentials),
        ``ConnectionLost`` (the server closed the connection, no login answer in time...) or
        ``OSError`` / ``asyncio.TimeoutError`` (TCP). Returns the Manager."""
        if self._closed:
            raise NotConnected("this Manager is closed; create a new one")
        if self._runner is not None:
            raise NotConnected("connect() was already called")
        loop = asyncio.get_running_loop()
        self._loop = loop
        reader, writer = await self._open()
        kwargs: dict = dict(
            auth=self.auth_type,
            events=self.events_mask,
            action_timeout=self.action_timeout,
            login_timeout=self.login_timeout,
            keepalive=self.ping_interval,
            pong_timeout=self.ping_timeout,
            max_pending=self.max_pending,
            resumable=self._max_attempts != 0,
            now=_monotonic(),
        )
        self._conn = Connection(self.username, self._secret, **kwargs)
        self._login = loop.create_future()
        self._start_session(reader, writer)
        self._runner = loop.create_task(self._run())
        try:
            await asyncio.shield(self._login)
        except BaseException:
            await self._shutdown()
            raise
        return self

    async def _open(self) -> tuple:
        coro = asyncio.open_connection(self.host, self.port, ssl=self.ssl,
                                       server_hostname=self.host if self.ssl else None,
                                       limit=1 << 16)
        if self.connect_timeout is None:
            return await coro
        return await asyncio.wait_for(coro, self.connect_timeout)

    async def close(self, timeout: float = 5.0) -> None:
        """Log off (waiting up to ``timeout`` for the Goodbye), then close the socket. Actions
        still pending fail with ``ActionLost``; event streams end. Idempotent."""
        if self._closed or self._closing:
            if self._runner is not None and not self._runner.done():
                await asyncio.wait([self._runner])
            return
        self._closing = True
        conn = self._conn
        if conn is None:
            self._closed = True
            return
        end = self._session_end
        if conn.is_ready and end is not None and not end.done():
            try:
                conn.logoff(_monotonic())
            except AmiError:
                conn.close()
            self._pump()
            if not end.done():
                try:
                    await asyncio.wait_for(asyncio.shield(end), timeout)
                except asyncio.TimeoutError:
                    pass
        await self._shutdown()

    async def _shutdown(self) -> None:
        self._closing = True
        conn = self._conn
        if conn is not None and not conn.is_closed:
            conn.close()
        if conn is not None:
            self._drain()
        runner = self._runner
        if runner is not None and runner is not asyncio.current_task() and not runner.done():
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        await self._end_session()
        self._cancel_timer()
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(NotConnected("the Manager was closed"))
        self._waiting.clear()
        if self._down is None and self._banner is not None and not self._closed:
            reason = self._final_reason
            if reason is not None:
                for sub in self._subs:
                    sub.mark(Disconnected(reason))
        self._closed = True
        for sub in self._subs:
            sub.end()
        self._subs = []
        login = self._login
        if login is not None and not login.done():
            login.set_exception(NotConnected("the Manager was closed before the login completed"))

    async def __aenter__(self) -> "Manager":
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- actions -----------------------------------------------------------------------

    async def send_action(self, action: Union[Action, _abc.Mapping[str, Any]], timeout: Optional[float] = None,
                          *, check: bool = False, **headers: Any) -> Response:
        """Send an action and wait for its complete result.

        ``action`` is an :class:`Action` or a mapping ``{'Action': 'Ping', ...}`` (list values
        are repeated headers); extra keyword arguments are added as headers. ``timeout``
        (seconds) replaces the Manager's ``action_timeout`` for this action.

        Returns the :class:`Response`, also for ``Response: Error`` (``.ok`` False,
        ``.refusal``) unless ``check`` is true (then :class:`ActionRefused`). Raises
        ``NotConnected`` before :meth:`connect` or after :meth:`close`, ``InvalidAction``
        (nothing sent) for a malformed action, ``ActionTimeout`` / ``ActionLost`` (``.sent``
        tells whether the outcome is unknown) when no result came.
        """
        conn = self._conn
        if conn is None:
            raise NotConnected("the Manager is not connected: call `await manager.connect()` first")
        if self._closed or self._closing:
            raise NotConnected("the Manager is closed")
        if isinstance(action, Action):
            if headers:
                for k, v in headers.items():
                    action.add(k, v)
        elif isinstance(action, _abc.Mapping):
            if headers:
                action = {**action, **headers}
            action = Action.from_mapping(action)
        else:
            raise TypeError(f"action must be an amiwire.Action or a mapping, not {type(action).__name__}")
        if timeout is not None:
            timeout = _positive("timeout", timeout)
        # The core validates, queues (or keeps it through a reconnect gap) and times it out.
        aid = conn.send(action, _monotonic(), timeout)
        fut = self._loop.create_future()  # type: ignore[union-attr]
        self._waiting[aid] = fut
        self._pump()
        try:
            resp = await fut
        finally:
            self._waiting.pop(aid, None)
        if check and not resp.ok:
            raise ActionRefused(resp)
        return resp

    async def send_command(self, command: str, timeout: Optional[float] = None) -> Response:
        """``Action: Command``; the CLI output is ``response.output``."""
        return await self.send_action(Action.command(command), timeout)

    async def ping(self, timeout: Optional[float] = None) -> float:
        """Round trip of a Ping in seconds."""
        t = _monotonic()
        await self.send_action(Action.ping(), timeout, check=True)
        return _monotonic() - t

    # -- events ------------------------------------------------------------------------

    def register_event(self, pattern: str, callback: Optional[Callable] = None) -> Callable:
        """Call ``callback(manager, message)`` for every event whose name matches the fnmatch
        ``pattern`` (case-insensitive; ``'*'`` for all). Usable as a decorator. A coroutine
        result is scheduled as a task; exceptions are logged."""
        flt = Filter.glob(pattern)

        def register(cb: Callable) -> Callable:
            if not callable(cb):
                raise TypeError("callback must be callable")
            cbs = self._callbacks.get(pattern)
            if cbs is None:
                cbs = self._callbacks[pattern] = []
                self._cb_list.append((flt, cbs))
            cbs.append(cb)
            return cb

        if callback is None:
            return register
        return register(callback)

    def unregister_event(self, pattern: str, callback: Callable) -> None:
        """Undo :meth:`register_event` (``ValueError`` when not registered)."""
        cbs = self._callbacks.get(pattern)
        if not cbs or callback not in cbs:
            raise ValueError(f"{callback!r} is not registered for {pattern!r}")
        cbs.remove(callback)
        if not cbs:
            del self._callbacks[pattern]
            self._cb_list = [(f, c) for (f, c) in self._cb_list if c is not cbs]

    def events(self, filter: Any = None, queue_size: Optional[int] = None) -> EventStream:
        """A stream of the events ``filter`` accepts (a :class:`Filter`, a glob pattern on the
        event name, a list of names, or ``None`` for all), with at most ``queue_size`` queued
        (then a :class:`Lagged` marker). Subscribed now, so nothing is missed between this
        call and the first ``__anext__``."""
        if self._closed:
            raise NotConnected("the Manager is closed")
        size = self.queue_size if queue_size is None else queue_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError("queue_size must be an int >= 1")
        sub = _Sub(_to_filter(filter), size)
        self._subs.append(sub)
        return EventStream(self, sub)

    def _subscribe(self, filter: Any, queue_size: int) -> _Sub:
        sub = _Sub(_to_filter(filter), queue_size)
        self._subs.append(sub)
        return sub

    # -- the transport -----------------------------------------------------------------

    def _start_session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = self._loop
        self._writer = writer
        self._session_end = loop.create_future()  # type: ignore[union-attr]
        self._reader_task = loop.create_task(self._read_loop(reader))  # type: ignore[union-attr]
        self._pump()

    async def _end_session(self) -> None:
        t = self._reader_task
        self._reader_task = None
        if t is not None and t is not asyncio.current_task() and not t.done():
            t.cancel()
            await asyncio.gather(t, return_exceptions=True)
        w = self._writer
        self._writer = None
        if w is not None:
            w.close()
            try:
                await asyncio.wait_for(w.wait_closed(), 1.0)
            except (OSError, asyncio.TimeoutError):
                pass
            except asyncio.CancelledError:
                raise

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        conn = self._conn
        end = self._session_end
        receive = conn.receive  # type: ignore[union-attr]
        while not end.done():  # type: ignore[union-attr]
            try:
                data = await reader.read(65536)
            except (OSError, asyncio.IncompleteReadError) as e:
                log.warning("amiwire: read error: %s", e)
                data = b""
            if not data:
                conn.receive_eof()  # type: ignore[union-attr]
                self._pump()
                return
            stuck = 0
            while True:
                n = receive(data)
                self._drain()
                if n >= len(data) or end.done():  # type: ignore[union-attr]
                    break
                data = data[n:]
                if n == 0:
                    stuck += 1
                    if stuck > 1:
                        # Cannot happen with the decoder's limits; never spin on it.
                        log.error("amiwire: the decoder made no progress; closing")
                        conn.close()  # type: ignore[union-attr]
                        self._drain()
                        break
                else:
                    stuck = 0
            self._pump()

    def _pump(self) -> None:
        """Write what the connection has for the socket, drain its outputs, re-arm its timer."""
        conn = self._conn
        if conn is None:
            return
        w = self._writer
        if w is not None and not w.is_closing():
            # Bounded: once the socket's buffer is this full, the core's own queue holds the
            # rest (and refuses more with OutputFull).
            if w.transport.get_write_buffer_size() < (1 << 18):
                data = conn.poll_transmit()
                if data:
                    try:
                        w.write(data)
                    except (OSError, RuntimeError) as e:
                        log.warning("amiwire: write error: %s", e)
                        conn.receive_eof()
                    if w.transport.get_write_buffer_size() >= (1 << 18):
                        self._spawn(self._drain_writer(w))
        self._drain()
        self._arm_timer()

    async def _drain_writer(self, w: asyncio.StreamWriter) -> None:
        try:
            await w.drain()
        except (OSError, RuntimeError):
            return
        self._pump()

    def _arm_timer(self) -> None:
        conn = self._conn
        at = conn.poll_timeout() if conn is not None else None
        if at == self._timer_at:
            return
        self._cancel_timer()
        if at is None:
            return
        self._timer_at = at
        self._timer = self._loop.call_later(max(0.0, at - _monotonic()), self._on_timer)  # type: ignore[union-attr]

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        conn = self._conn
        if conn is None:
            return
        conn.handle_timeout(_monotonic())
        self._pump()

    def _drain(self) -> None:
        """Hand out what the connection produced."""
        conn = self._conn
        if conn is None:
            return
        poll = conn.poll_output
        subs = self._subs
        while True:
            out: Any = poll()
            if out is None:
                return
            t = type(out)
            if t is EventReceived:
                msg = out.message
                dead = False
                for sub in subs:
                    if sub.closed:
                        dead = True
                        continue
                    f = sub.filter
                    if f is None or f.matches(msg):
                        # sub.push inlined (the hot path of the fan-out).
                        q = sub.queue
                        if sub.lagged or len(q) >= sub.maxsize or sub.wake is not None:
                            sub.push(msg)
                        else:
                            q.append(msg)
                            w = sub.waiter
                            if w is not None:
                                sub.waiter = None
                                if not w.done():
                                    w.set_result(None)
                if dead:
                    self._subs = subs = [s for s in subs if not s.closed]
                for flt, cbs in self._cb_list:
                    if flt.matches(msg):
                        for cb in cbs:
                            self._call(cb, msg)
            elif t is Completed:
                resp = out.response
                fut = self._waiting.pop(resp.action_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(resp)
            elif t is Failed:
                fut = self._waiting.pop(out.action_id, None)
                if fut is not None and not fut.done():
                    fut.set_exception(out.error)
            elif t is LoggedIn:
                self._logged_in()
            elif t is Connected:
                self._banner = out.banner
                log.debug("amiwire: connected: %s", out.banner)
                if self.username is None:
                    self._logged_in()
            elif t is Closed:
                self._on_closed(out.reason)
            elif t is Unmatched:
                log.debug("amiwire: answer for no pending action: %r", out.message)
            elif t is DecodeFailed:
                log.warning("amiwire: message dropped: %s", out.error)

    def _call(self, cb: Callable, msg: Message) -> None:
        try:
            ret = cb(self, msg)
        except Exception:
            log.exception("amiwire: event callback %r failed", cb)
            return
        if ret is not None and (asyncio.iscoroutine(ret) or isinstance(ret, asyncio.Future)):
            self._spawn(ret)

    def _spawn(self, aw: _abc.Awaitable) -> None:
        task = asyncio.ensure_future(aw, loop=self._loop)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Future) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("amiwire: event callback task failed", exc_info=task.exception())

    def _logged_in(self) -> None:
        conn = self._conn
        self._banner = conn.banner if conn is not None else self._banner
        log.info("amiwire: logged in to %s:%s as %s", self.host, self.port, self.username)
        login = self._login
        if login is not None and not login.done():
            login.set_result(None)
            return
        if self._down is not None:
            self._down = None
            for sub in self._subs:
                sub.mark(Reconnected(self._banner))

    def _on_closed(self, reason: Any) -> None:
        self._final_reason = reason
        end = self._session_end
        if end is not None and not end.done():
            end.set_result(reason)
        login = self._login
        if login is not None and not login.done():
            if reason.kind == "login_failed":
                err: Exception = LoginFailed(reason.message)
                try:
                    err.message = reason.message  # type: ignore[attr-defined]
                except AttributeError:
                    pass
            else:
                err = _lost(reason)
            login.set_exception(err)

    async def _run(self) -> None:
        """Supervises sessions: waits for each to end, then reconnects or shuts down."""
        attempt = 0
        try:
            while True:
                reason = await self._session_end  # type: ignore[misc]
                await self._end_session()
                login = self._login
                if login is not None and not (login.done() and login.exception() is None):
                    # The first login never completed: connect() raises.
                    break
                if self._closing:
                    break
                if self._max_attempts == 0 or not reason.may_reconnect:
                    log.warning("amiwire: connection closed: %s", reason)
                    break
                if self._down is None:
                    log.warning("amiwire: disconnected (%s); reconnecting", reason)
                    attempt = 0
                    self._down = reason
                    for sub in self._subs:
                        sub.mark(Disconnected(reason))
                opened = None
                while opened is None:
                    if self._max_attempts is not None and attempt >= self._max_attempts:
                        log.error("amiwire: giving up after %d reconnect attempts", attempt)
                        return
                    first, cap = self._backoff
                    delay = min(cap, first * (2 ** min(attempt, 30)))
                    delay *= 0.5 + random.random() / 2
                    attempt += 1
                    await asyncio.sleep(delay)
                    # Actions kept by the core may time out during the gap.
                    self._pump()
                    try:
                        opened = await self._open()
                    except (OSError, asyncio.TimeoutError) as e:
                        log.warning("amiwire: reconnect attempt %d failed: %s", attempt, e)
                self._conn.reconnect(_monotonic())  # type: ignore[union-attr]
                self._start_session(*opened)
        finally:
            if not self._closing:
                # The link is gone for good (or connect() failed): fail what waits, end streams.
                self._spawn(self._shutdown())


def _lost(reason: Any) -> Exception:
    err = ConnectionLost(f"connection lost: {reason}")
    try:
        err.reason = reason  # type: ignore[attr-defined]
    except AttributeError:
        pass
    return err


def _convert(key: str, value: Any, kind: Any) -> Any:
    if value is None:
        return None
    if kind == "reconnect":
        if isinstance(value, (bool, int)):
            return value
        s = str(value).strip().lower()
        if s in ("yes", "true", "on", "1"):
            return True
        if s in ("no", "false", "off", "0"):
            return False
        try:
            return int(s)
        except ValueError:
            raise ValueError(f"{key}: expected yes/no or a number of attempts, got {value!r}") from None
    if not isinstance(value, str):
        return value
    s = value.strip()
    if kind is bool:
        low = s.lower()
        if low in ("yes", "true", "on", "1"):
            return True
        if low in ("no", "false", "off", "0", ""):
            return False
        raise ValueError(f"{key}: expected yes or no, got {value!r}")
    if kind is float:
        if s.lower() in ("", "none", "never", "off"):
            return None
        try:
            return float(s)
        except ValueError:
            raise ValueError(f"{key}: expected a number of seconds, got {value!r}") from None
    if kind is int:
        try:
            return int(s)
        except ValueError:
            raise ValueError(f"{key}: expected an integer, got {value!r}") from None
    return s
