"""Parsers side by side on the real bulk stream (30 MB, 78,005 messages of a real Asterisk 22).

Each parser takes the stream in 64 KiB reads, as from a socket, and makes one object per
message that gives access to every header:
  - amiwire.Decoder.feed (this package);
  - panoramisk 1.4: AMIProtocol.data_received's loop (decode, split on blank lines,
    Message.from_line), without the asyncio transport;
  - asterisk-ami 0.1.7: AMIClient._next_pack's loop (regex split of the buffer) and
    fire_recv_pack's Event.read / Response.read, without the socket.

    python -m venv /tmp/bench && /tmp/bench/bin/pip install panoramisk==1.4 asterisk-ami==0.1.7
    pip install ./bindings/python   # into the same venv
    /tmp/bench/bin/python bindings/python/bench/decode.py [--rounds 3]

The two other libraries are optional: a parser that is not installed is skipped.
"""

from __future__ import annotations

import argparse
import gzip
import pathlib
import re
import time

ROOT = pathlib.Path(__file__).resolve().parents[3]
BULK = ROOT / "crates" / "amiwire" / "tests" / "data" / "12a-bulk-events.server.bin.gz"
CHUNK = 65536


def chunks(data: bytes):
    for i in range(0, len(data), CHUNK):
        yield data[i : i + CHUNK]


def run_amiwire(data: bytes) -> int:
    import amiwire

    dec = amiwire.Decoder()
    n = 0
    for c in chunks(data):
        n += len(dec.feed(c))
    return n


def run_amiwire_items(data: bytes) -> int:
    """amiwire plus every header of every message made a str pair (what the others do eagerly)."""
    import amiwire

    dec = amiwire.Decoder()
    n = 0
    for c in chunks(data):
        for m in dec.feed(c):
            m.items()
            n += 1
    return n


def run_panoramisk(data: bytes) -> int:
    from panoramisk import utils
    from panoramisk.message import Message

    queue: list = []
    n = 0
    version = None
    sep = utils.EOL + utils.EOL
    for raw in chunks(data):
        text = raw.decode("ascii", "ignore")
        if version is None and text.startswith("Asterisk Call Manager/"):
            version = text.partition(utils.EOL)[0]
        if queue:
            text = queue.pop() + text
        lines = text.split(sep)
        queue.append(lines.pop(-1))
        for line in lines:
            line = line.strip()
            message = Message.from_line(line)
            if message is None:
                continue
            n += 1
    return n


def run_asterisk_ami(data: bytes) -> int:
    from asterisk.ami.client import AMIClient
    from asterisk.ami.event import Event
    from asterisk.ami.response import Response

    line_re = AMIClient.asterisk_line_regex
    pack_re = AMIClient.asterisk_pack_regex

    def packs(buf: bytes) -> tuple[int, bytes]:
        """fire_recv_pack on every complete pack of `buf`; the count and what is left."""
        n = 0
        while pack_re.search(buf):
            pack, buf = pack_re.split(buf, 1)
            text = pack.decode("utf-8", errors="replace")
            if Response.match(text):
                Response.read(text)
                n += 1
            elif Event.match(text):
                Event.read(text)
                n += 1
        return n, buf

    n = 0
    buf = b""
    it = chunks(data)
    for recv in it:  # the banner line first, as _next_pack does
        buf += recv
        if line_re.search(buf):
            _, buf = line_re.split(buf, 1)
            break
    for recv in it:
        got, buf = packs(buf)
        n += got
        buf += recv
    got, buf = packs(buf)
    return n + got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="runs of each parser; the best counts")
    args = ap.parse_args()
    data = gzip.decompress(BULK.read_bytes())
    mb = len(data) / 1e6
    rows = []
    for name, fn in (("amiwire", run_amiwire), ("amiwire + items()", run_amiwire_items), ("panoramisk 1.4", run_panoramisk), ("asterisk-ami 0.1.7", run_asterisk_ami)):
        try:
            best = None
            for _ in range(args.rounds):
                t = time.perf_counter()
                n = fn(data)
                dt = time.perf_counter() - t
                best = dt if best is None else min(best, dt)
            rows.append((name, n, best))
        except ImportError as e:
            print(f"{name}: skipped ({e})")
    base = next((r[2] for r in rows if r[0].startswith("panoramisk")), None)
    print(f"bulk stream: {mb:.1f} MB, {CHUNK // 1024} KiB reads, best of {args.rounds}")
    print(f"{'parser':<20} {'messages':>9} {'seconds':>8} {'MB/s':>8} {'msg/s':>10} {'x panoramisk':>13}")
    for name, n, dt in rows:
        ratio = f"{base / dt:.1f}" if base else "-"
        print(f"{name:<20} {n:>9} {dt:>8.3f} {mb / dt:>8.1f} {n / dt:>10.0f} {ratio:>13}")


if __name__ == "__main__":
    main()
