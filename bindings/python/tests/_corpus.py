"""Shared helpers: the recordings of crates/amiwire/tests/data and the golden JSON-lines format
of `amiwire::jsonl` (reproduced here from Python objects)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Iterable, List

import amiwire

DATA = Path(__file__).resolve().parents[3] / "crates" / "amiwire" / "tests" / "data"


def json_str(s: str) -> str:
    """A JSON string literal escaped exactly as `amiwire::jsonl::push_str` does."""
    out = ['"']
    for c in s:
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x20 or c == "\x7f":
            out.append("\\u%04x" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def message_line(msg: amiwire.Message) -> str:
    """The golden line of one message (`amiwire::jsonl::push_message`)."""
    pairs = ", ".join("[%s, %s]" % (json_str(k), json_str(v)) for k, v in msg.items())
    line = '{"headers": [%s]' % pairs
    if (msg.get("Response") or "").lower() == "follows":
        line += ', "output": [%s]' % ", ".join(json_str(l) for l in msg.output)
    return line + "}"


def decode_lines(chunks: Iterable[bytes], expect_banner: bool = True) -> List[str]:
    """Decodes `chunks` with `amiwire.Decoder` and renders every frame as a golden line."""
    dec = amiwire.Decoder(expect_banner=expect_banner)
    out: List[str] = []
    banner_done = False
    for chunk in chunks:
        msgs = dec.feed(chunk)
        if not banner_done and dec.banner is not None:
            out.append('{"banner": %s}' % json_str(dec.banner))
            banner_done = True
        out.extend(message_line(m) for m in msgs)
        out.extend('{"error": "%s"}' % e for e in dec.take_errors())
    try:
        dec.finish()
    except amiwire.DecodeError as e:
        out.append('{"error": "%s"}' % e)
    return out


def http_bodies(data: bytes) -> List[bytes]:
    """The text/plain bodies of the HTTP responses of a recorded /rawman stream."""
    bodies = []
    pos = 0
    while True:
        he = data.find(b"\r\n\r\n", pos)
        if he < 0:
            break
        head = data[pos:he].decode("latin-1").lower()
        m = re.search(r"^content-length:\s*(\d+)", head, re.M)
        length = int(m.group(1)) if m else 0
        start = he + 4
        body = data[start : start + length]
        if any(l.startswith("content-type: text/plain") for l in head.splitlines()):
            bodies.append(body)
        pos = start + length
        if pos >= len(data):
            break
    return bodies


def golden_cases() -> List[Path]:
    return sorted((DATA / "golden").glob("*.jsonl"))


def bulk_stream() -> bytes:
    return gzip.decompress((DATA / "12a-bulk-events.server.bin.gz").read_bytes())
