"""Companion of decode.py (same libraries, same parsing code) with one more row: amiwire plus
every header of every message made a Python str pair (what the other parsers do eagerly).

Decoding benchmark on the real bulk stream (crates/amiwire/tests/data/12a-bulk-events.server.bin.gz,
30 MB, 78,005 messages): amiwire.Decoder against panoramisk 1.4's and asterisk-ami 0.1.7's parsers,
each producing one object per message that gives access to every header, fed 64 KiB chunks.

Run with ``bash bindings/python/bench/run.sh`` (creates bench/.venv with the two libraries, which
are not dependencies of amiwire, and builds amiwire into it in release mode).
"""

from __future__ import annotations

import gzip
import re
import sys
import time
from collections import deque
from pathlib import Path
from typing import Callable, List, Tuple

DATA = Path(__file__).resolve().parents[3] / "crates" / "amiwire" / "tests" / "data"
CHUNK = 64 * 1024
EXPECTED = 78005


def chunks(data: bytes) -> List[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def run_amiwire(parts: List[bytes]) -> Tuple[int, int]:
    import amiwire

    dec = amiwire.Decoder()
    n = 0
    last = None
    for p in parts:
        msgs = dec.feed(p)
        n += len(msgs)
        if msgs:
            last = msgs[-1]
    assert last is not None and len(last) > 0
    return n, len(last)


def run_amiwire_items(parts: List[bytes]) -> Tuple[int, int]:
    """amiwire.Decoder, then every header of every message made a Python str pair (what the
    other two parsers do eagerly)."""
    import amiwire

    dec = amiwire.Decoder()
    n = h = 0
    for p in parts:
        for m in dec.feed(p):
            n += 1
            h += len(m.items())
    assert h > n
    return n, h


def run_panoramisk(parts: List[bytes]) -> Tuple[int, int]:
    """panoramisk.ami_protocol.AMIProtocol.data_received, minus the asyncio handler: decode,
    split on CRLFCRLF with a carried-over queue, strip, Message.from_line per message."""
    from panoramisk import utils
    from panoramisk.message import Message

    eol2 = utils.EOL + utils.EOL
    queue: deque = deque()
    n = 0
    last = None
    version = None
    for raw in parts:
        data = raw.decode("ascii", "ignore")
        if version is None and data.startswith("Asterisk Call Manager/"):
            version = data.partition(utils.EOL)[0]
        if queue:
            data = queue.popleft() + data
        lines = data.split(eol2)
        queue.append(lines.pop(-1))
        for line in lines:
            message = Message.from_line(line.strip())
            if message is None:
                continue
            n += 1
            last = message
    assert last is not None
    return n, len(last)


def run_asterisk_ami(parts: List[bytes]) -> Tuple[int, int]:
    """asterisk.ami.client.AMIClient._next_pack + fire_recv_pack: split the byte buffer with
    the library's regexes, decode each pack, Response.read / Event.read by Response.match /
    Event.match."""
    from asterisk.ami.client import AMIClient
    from asterisk.ami.event import Event
    from asterisk.ami.response import Response

    line_re = AMIClient.asterisk_line_regex
    pack_re = AMIClient.asterisk_pack_regex
    n = 0
    last = None
    data = b""
    it = iter(parts)
    banner_done = False
    for recv in it:
        data += recv
        if not banner_done:
            if line_re.search(data):
                _, data = line_re.split(data, 1)
                banner_done = True
            else:
                continue
        while pack_re.search(data):
            pack, data = pack_re.split(data, 1)
            text = pack.decode("utf-8", errors="replace")
            if Response.match(text):
                last = Response.read(text)
                n += 1
            elif Event.match(text):
                last = Event.read(text)
                n += 1
    assert last is not None
    return n, len(getattr(last, "keys", {}))


def measure(fn: Callable[[List[bytes]], Tuple[int, int]], parts: List[bytes], repeat: int) -> Tuple[float, int]:
    best = float("inf")
    n = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n, _ = fn(parts)
        best = min(best, time.perf_counter() - t0)
    return best, n


def main() -> None:
    data = gzip.decompress((DATA / "12a-bulk-events.server.bin.gz").read_bytes())
    parts = chunks(data)
    mb = len(data) / 1e6
    rows = []
    for name, fn, repeat in [
        ("amiwire.Decoder", run_amiwire, 5),
        ("amiwire + items()", run_amiwire_items, 3),
        ("panoramisk 1.4", run_panoramisk, 2),
        ("asterisk-ami 0.1.7", run_asterisk_ami, 2),
    ]:
        secs, n = measure(fn, parts, repeat)
        rows.append((name, secs, n))
    base = next(s for name, s, _ in rows if name.startswith("panoramisk"))
    print(f"bulk stream: {len(data):,} bytes, {CHUNK // 1024} KiB chunks, best of N runs, Python {sys.version.split()[0]}")
    print(f"{'parser':<22} {'MB/s':>8} {'messages/s':>12} {'messages':>9} {'x panoramisk':>13}")
    for name, secs, n in rows:
        print(f"{name:<22} {mb / secs:8.1f} {n / secs:12,.0f} {n:9,} {base / secs:13.1f}")
    am = rows[0]
    assert am[2] == EXPECTED, am


if __name__ == "__main__":
    main()
