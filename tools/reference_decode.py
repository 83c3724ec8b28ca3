#!/usr/bin/env python3
"""Independent reference decoder for AMI server streams, used to produce the golden files.

Written separately from the Rust decoder (line based, no shared code) so that the golden
expectations are not just the Rust decoder's own output checked back in. Rules, as in
PROTOCOL.md: optional banner line (first line, no colon); header lines `Key: Value` (one space
after the colon dropped, CR before LF dropped, bare LF accepted); a blank line ends a message;
blank lines between messages are skipped; a line without a colon is kept as ["", line]; old
Command framing: after `Response: Follows`, lines that are not `Privilege:`/`ActionID:` start a
raw body that ends at `--END COMMAND--` (possibly glued to the last line).

usage: reference_decode.py FILE            -> JSON lines like `examples/decode.rs`
       reference_decode.py --summary FILE  -> one JSON object: message count, event counts
       reference_decode.py --http FILE     -> decode the text/plain bodies of HTTP responses
"""
import json
import re
import sys


def split_lines(data):
    """Yield (line_without_eol, complete) for every LF-terminated line."""
    pos = 0
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            return
        line = data[pos:nl]
        if line.endswith(b"\r"):
            line = line[:-1]
        yield pos, nl + 1, line
        pos = nl + 1


def decode(data, banner=True):
    out = []
    headers = []
    follows = False
    pos = 0
    first = banner
    while True:
        if follows and headers and pos < len(data):
            # are we at a body line?
            nl = data.find(b"\n", pos)
            if nl < 0:
                break
            line = data[pos:nl].rstrip(b"\r")
            low = line.lower()
            if line and not (low.startswith(b"privilege:") or low.startswith(b"actionid:")):
                m = data.find(b"--END COMMAND--", pos)
                if m < 0:
                    break
                body = data[pos:m]
                end = data.find(b"\n", m)
                if end < 0:
                    break
                b = body[:-1] if body.endswith(b"\n") else body
                b = b[:-1] if b.endswith(b"\r") else b
                lines = [] if not b else [l[:-1] if l.endswith(b"\r") else l for l in b.split(b"\n")]
                out.append({"headers": headers, "output": [l.decode("utf-8", "replace") for l in lines]})
                headers, follows, pos = [], False, end + 1
                continue
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
        line = data[pos:nl]
        if line.endswith(b"\r"):
            line = line[:-1]
        pos = nl + 1
        if first:
            first = False
            if line and b":" not in line:
                out.append({"banner": line.decode("utf-8", "replace")})
                continue
        if not line:
            if headers:
                out.append({"headers": headers})
                headers, follows = [], False
            continue
        i = line.find(b":")
        if i < 0:
            headers.append(["", line.decode("utf-8", "replace")])
            continue
        key, value = line[:i], line[i + 1:]
        if value.startswith(b" "):
            value = value[1:]
        if not headers or all(h[0].lower() != "response" for h in headers):
            if key.lower() == b"response" and value.lower() == b"follows":
                follows = True
        headers.append([key.decode("utf-8", "replace"), value.decode("utf-8", "replace")])
    return out


def http_bodies(data):
    """text/plain bodies of the HTTP responses in a recorded server stream."""
    pos = 0
    while pos < len(data):
        he = data.find(b"\r\n\r\n", pos)
        if he < 0:
            return
        head = data[pos:he].decode("latin-1")
        m = re.search(r"(?im)^content-length:\s*(\d+)", head)
        n = int(m.group(1)) if m else 0
        body = data[he + 4:he + 4 + n]
        if re.search(r"(?im)^content-type:\s*text/plain", head):
            yield body
        pos = he + 4 + n


def dump(frames):
    for f in frames:
        print(json.dumps(f, ensure_ascii=False))


def main(argv):
    if argv[0] == "--summary":
        import gzip
        path = argv[1]
        data = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
        frames = decode(data)
        events = {}
        nheaders = 0
        for f in frames:
            if "headers" in f:
                nheaders += len(f["headers"])
                ev = [v for k, v in f["headers"] if k.lower() == "event"]
                if ev:
                    events[ev[0]] = events.get(ev[0], 0) + 1
        msgs = sum(1 for f in frames if "headers" in f)
        print(json.dumps({"messages": msgs, "headers": nheaders, "events": dict(sorted(events.items()))}))
    elif argv[0] == "--http":
        frames = []
        for body in http_bodies(open(argv[1], "rb").read()):
            frames.extend(decode(body, banner=False))
        dump(frames)
    else:
        dump(decode(open(argv[0], "rb").read()))


if __name__ == "__main__":
    main(sys.argv[1:])
