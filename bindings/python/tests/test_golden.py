"""The golden recordings of a real Asterisk 22 decoded through Python equal the golden files
(the JSON lines of crates/amiwire/tests/data/golden, made by an independent reference decoder)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _corpus import DATA, decode_lines, golden_cases, http_bodies

CASES = golden_cases()


def test_the_corpus_is_there() -> None:
    assert len(CASES) >= 19


def run(path: Path, split: Callable[[bytes], List[bytes]]) -> List[str]:
    stem = path.name[: -len(".jsonl")]
    data = (DATA / f"{stem}.server.bin").read_bytes()
    if stem.startswith("11"):
        out: List[str] = []
        for body in http_bodies(data):
            out.extend(decode_lines(split(body), expect_banner=False))
        return out
    return decode_lines(split(data))


def expected(path: Path) -> List[str]:
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
@pytest.mark.parametrize("size", [0, 1, 7, 4096, 65536])
def test_recording_equals_golden(path: Path, size: int) -> None:
    def split(d: bytes) -> List[bytes]:
        if size == 0:
            return [d]
        return [d[i : i + size] for i in range(0, len(d), size)]

    assert run(path, split) == expected(path)


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=1 << 20), max_size=30))
def test_recordings_at_random_splits(cuts: List[int]) -> None:
    for path in CASES:

        def split(d: bytes) -> List[bytes]:
            points = sorted(c % (len(d) + 1) for c in cuts)
            parts, prev = [], 0
            for c in points:
                parts.append(d[prev:c])
                prev = c
            parts.append(d[prev:])
            return parts

        assert run(path, split) == expected(path), path.stem
