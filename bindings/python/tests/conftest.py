"""Shared fixtures: `sim` starts the amiwire-sim binary (port 0, --control) for one test."""

from __future__ import annotations

import os
import pathlib
import subprocess
import threading
from typing import Iterator, List

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
DATA = ROOT / "crates" / "amiwire" / "tests" / "data"


def sim_binary() -> pathlib.Path:
    """The simulator binary: $AMIWIRE_SIM, else the workspace's target/{debug,release}."""
    env = os.environ.get("AMIWIRE_SIM")
    if env:
        return pathlib.Path(env)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("debug", "release"):
        p = target / profile / "amiwire-sim"
        if p.exists():
            return p
    raise RuntimeError("amiwire-sim not built: run `cargo build -p amiwire-sim` (or set AMIWIRE_SIM)")


class Sim:
    """A running amiwire-sim: `.host`, `.port`, `.command("restart")`, `.stop()`."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(sim_binary()), "--listen", "127.0.0.1:0", "--control", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        prefix = "amiwire-sim listening on "
        if not first.startswith(prefix):
            self.proc.kill()
            raise RuntimeError(f"amiwire-sim did not start: {first!r}")
        host, port = first[len(prefix):].rsplit(":", 1)
        self.host = host
        self.port = int(port)
        self._lines: List[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self._lines.append(line.strip())
                self._cond.notify_all()

    def command(self, cmd: str, timeout: float = 30.0) -> None:
        """Sends a control command and waits for its `ok` line."""
        assert self.proc.stdin is not None
        want = "ok " + cmd.split()[0] if cmd.split()[0] != "flood" else "ok " + " ".join(cmd.split()[:2])
        with self._cond:
            self._lines.clear()
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        with self._cond:
            if not self._cond.wait_for(lambda: any(l.startswith(want) or l.startswith("error") for l in self._lines), timeout):
                raise TimeoutError(f"amiwire-sim did not answer {cmd!r}")
            for l in self._lines:
                if l.startswith("error"):
                    raise RuntimeError(l)

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def sim() -> Iterator[Sim]:
    s = Sim()
    try:
        yield s
    finally:
        s.stop()
