"""A blocking AMI client for scripts: an :class:`amiwire.Manager` on its own event-loop thread.

>>> import amiwire
>>> with amiwire.connect("127.0.0.1", username="admin", secret="amp111") as ami:  # doctest: +SKIP
...     print(ami.send_action({"Action": "Ping"})["Ping"])
"""

from __future__ import annotations

import asyncio
import threading
import time
import collections.abc as _abc
from typing import Any, Optional, Union

from ._amiwire import Action, NotConnected, Response
from .manager import EventItem, Manager, _Sub

__all__ = ["SyncClient", "connect"]


class SyncClient:
    """Blocking ``send_action``, ``events`` and ``close`` over a :class:`Manager` running on a
    background thread. Events are collected from the moment the client is connected (up to
    ``queue_size``, then a ``Lagged`` marker)."""

    def __init__(self, manager: Manager, *, queue_size: Optional[int] = None) -> None:
        self._manager = manager
        self._loop = asyncio.new_event_loop()
        self._cond = threading.Condition()
        self._sub: Optional[_Sub] = None
        self._queue_size = queue_size or manager.queue_size
        self._thread = threading.Thread(target=self._loop.run_forever, name="amiwire", daemon=True)
        self._closed = False

    def _start(self) -> "SyncClient":
        self._thread.start()
        try:
            self._call(self._connect())
        except BaseException:
            self._stop_loop()
            raise
        return self

    async def _connect(self) -> None:
        await self._manager.connect()
        sub = self._manager._subscribe(None, self._queue_size)
        sub.wake = self._wake
        self._sub = sub

    def _wake(self) -> None:
        # Runs on the loop thread after each queued item.
        with self._cond:
            self._cond.notify_all()

    def _call(self, coro: Any, timeout: Optional[float] = None) -> Any:
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    @property
    def manager(self) -> Manager:
        """The underlying Manager (use it only from its loop thread)."""
        return self._manager

    def send_action(self, action: Union[Action, _abc.Mapping[str, Any]], timeout: Optional[float] = None,
                    *, check: bool = False, **headers: Any) -> Response:
        """Blocking :meth:`Manager.send_action`."""
        if self._closed:
            raise NotConnected("the client is closed")
        return self._call(self._manager.send_action(action, timeout, check=check, **headers))

    def send_command(self, command: str, timeout: Optional[float] = None) -> Response:
        """``Action: Command``; the CLI output is ``response.output``."""
        return self.send_action(Action.command(command), timeout)

    def events(self, timeout: Optional[float] = None) -> _abc.Iterator[EventItem]:
        """Events (and markers) as they come; the iteration ends after ``timeout`` seconds
        without one (``None``: wait forever) or when the client is closed."""
        sub = self._sub
        if sub is None:
            return
        while True:
            deadline = None if timeout is None else time.monotonic() + timeout
            with self._cond:
                while True:
                    # deque.popleft is atomic; the loop thread only appends.
                    try:
                        item = sub.queue.popleft()
                        break
                    except IndexError:
                        pass
                    if sub.lagged:
                        item = sub.take()
                        if item is not None:
                            break
                    if sub.closed or self._closed:
                        return
                    if deadline is None:
                        self._cond.wait()
                    else:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            return
                        self._cond.wait(left)
            yield item

    def close(self) -> None:
        """Log off and close; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._call(self._manager.close(), 10.0)
        finally:
            self._stop_loop()
            with self._cond:
                self._cond.notify_all()

    def _stop_loop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10.0)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> "SyncClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<amiwire.SyncClient {self._manager!r}>"


def connect(host: str = "127.0.0.1", port: int = 5038, username: Optional[str] = None,
            secret: Optional[str] = None, **kwargs: Any) -> SyncClient:
    """Connect and log in, blocking; the keyword arguments are :class:`Manager`'s. Returns a
    :class:`SyncClient` (also a context manager)."""
    queue_size = kwargs.pop("queue_size", None)
    manager = Manager(host, port, username, secret, **kwargs)
    return SyncClient(manager, queue_size=queue_size)._start()
