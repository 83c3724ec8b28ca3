#!/usr/bin/env python3
"""The click2call page in headless Chromium, driven through chromedriver with the W3C
WebDriver protocol (standard library only: urllib and json).

Starts `amiwire sim` and `amiwire click2call` on free loopback ports, opens the page, places
a call (token, agent, number), waits for "answered" then "hung up" in the page, takes a
screenshot and reads it back (OCR with tesseract when it is installed; the PNG is always
checked to be a real, non-blank image of the window's size), then checks that a wrong token
shows a clear error. Every process it starts is ended when it exits, whatever happens.

    python3 tests/browser/drive.py --amiwire target/debug/amiwire --out target/browser
"""

import argparse
import atexit
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib

TOKEN = "browser-test-token-0123456789"
WIDTH, HEIGHT = 480, 860
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
PROCS = []
RESULTS = {"passed": 0, "failed": 0}


def cleanup():
    for p in reversed(PROCS):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except OSError:
                pass
    deadline = time.time() + 5
    for p in PROCS:
        try:
            p.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass


atexit.register(cleanup)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def start(args, log_path, env=None):
    """Starts a process in its own process group, its stderr and stdout to a log file."""
    log = open(log_path, "w")
    p = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    PROCS.append(p)
    return p


def wait_line(path, prefix, proc, timeout=30):
    """The first line of a log file that starts with `prefix`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[0]} exited: {open(path).read()}")
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.strip()
        time.sleep(0.05)
    raise SystemExit(f"no '{prefix}' in {path} within {timeout}s")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raise SystemExit(f"WebDriver {method} {url}: {e.code} {e.read()[:500]!r}")


class Browser:
    def __init__(self, driver, chromium, profile):
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": [
                            "--headless",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--disable-dev-shm-usage",
                            f"--window-size={WIDTH},{HEIGHT}",
                            f"--user-data-dir={profile}",
                        ],
                    },
                }
            }
        }
        r = call("POST", f"{driver}/session", caps, timeout=60)
        self.base = f"{driver}/session/{r['value']['sessionId']}"

    def go(self, url):
        call("POST", f"{self.base}/url", {"url": url})

    def find(self, css):
        r = call("POST", f"{self.base}/element", {"using": "css selector", "value": css})
        value = r.get("value") or {}
        if ELEMENT not in value:
            raise SystemExit(f"no element {css}: {r!r:.500}")
        return value[ELEMENT]

    def type(self, css, text):
        e = self.find(css)
        call("POST", f"{self.base}/element/{e}/clear", {})
        call("POST", f"{self.base}/element/{e}/value", {"text": text})

    def click(self, css):
        call("POST", f"{self.base}/element/{self.find(css)}/click", {})

    def text(self, css):
        return call("GET", f"{self.base}/element/{self.find(css)}/text")["value"]

    def script(self, js):
        return call("POST", f"{self.base}/execute/sync", {"script": js, "args": []})["value"]

    def screenshot(self, path):
        png = base64.b64decode(call("GET", f"{self.base}/screenshot")["value"])
        with open(path, "wb") as f:
            f.write(png)
        return png

    def quit(self):
        try:
            call("DELETE", self.base, timeout=10)
        except Exception:
            pass


def check(name, ok, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail and not ok else ""))
    return ok


def wait_for(what, probe, timeout=20):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    return last


def png_facts(png):
    """(width, height, distinct values in the first rows) of a PNG, or None."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    width, height = struct.unpack(">II", png[16:24])
    idat = b""
    pos = 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    try:
        raw = zlib.decompress(idat)
    except zlib.error:
        return None
    return width, height, len(set(raw))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amiwire", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)

    sim = start([a.amiwire, "sim", "--listen", "127.0.0.1:0"], f"{a.out}/sim.log")
    line = wait_line(f"{a.out}/sim.log", "amiwire: simulator listening on", sim)
    ami_port = line.split(" on ")[1].split()[0].rsplit(":", 1)[1]

    env = {k: v for k, v in os.environ.items() if not k.startswith("AMI_")}
    env.update(
        AMI_PORT=ami_port,
        AMI_USERNAME="admin",
        AMI_SECRET="amp111",
        AMIWIRE_CLICK2CALL_TOKEN=TOKEN,
    )
    c2c = start(
        [a.amiwire, "click2call", "--listen", "127.0.0.1:0", "--channel", "Local/{agent}@test",
         "--context", "test", "--callerid", "Callback <{number}>"],
        f"{a.out}/click2call.log",
        env,
    )
    line = wait_line(f"{a.out}/click2call.log", "amiwire click2call: listening on", c2c)
    base = line.split(" on ")[1].rsplit("/call", 1)[0] + "/"

    dport = free_port()
    driver = start([a.chromedriver, f"--port={dport}"], f"{a.out}/chromedriver.log")
    durl = f"http://127.0.0.1:{dport}"
    ready = wait_for("chromedriver", lambda: _status(durl), timeout=30)
    if not ready:
        raise SystemExit(f"chromedriver did not start: {open(a.out + '/chromedriver.log').read()}")

    profile = tempfile.mkdtemp(prefix="c2c-chromium-")
    atexit.register(shutil.rmtree, profile, True)
    b = Browser(durl, a.chromium, profile)
    atexit.register(b.quit)
    try:
        b.go(base)
        check("the page loads", b.text("h1") == "Click to call", b.text("h1"))
        b.type("#token", TOKEN)
        b.type("#agent", "110")
        b.type("#number", "100")
        b.click("#go")
        log = wait_for("hung up", lambda: (lambda t: t if "hung up" in t else None)(b.text("#log")))
        log = log or b.text("#log")
        steps = log.splitlines()
        check("the call's progress is shown live",
              steps[:3] == ["accepted", "ringing", "answered"] and steps[-1].startswith("hung up"),
              repr(log))
        status, detail = b.text("#status"), b.text("#detail")
        check("the end of the call and its cause", status == "Hung up" and "Normal Clearing (cause 16)" in detail,
              f"{status!r} {detail!r}")
        stored = b.script("return sessionStorage.getItem('c2c-token')")
        local = b.script("return localStorage.length")
        check("the token is kept in sessionStorage only", stored == TOKEN and local == 0, f"{stored!r} {local!r}")
        viewport = b.script("return [window.innerWidth * devicePixelRatio, window.innerHeight * devicePixelRatio]")
        png = b.screenshot(f"{a.out}/click2call.png")
        facts = png_facts(png)
        check("the screenshot is a real, non-blank image of the page's size",
              facts is not None and list(facts[:2]) == [round(v) for v in viewport] and facts[2] > 8,
              f"{facts!r}, viewport {viewport!r}")
        if shutil.which("tesseract"):
            ocr = subprocess.run(["tesseract", f"{a.out}/click2call.png", "stdout"],
                                 capture_output=True, text=True, timeout=60).stdout
            with open(f"{a.out}/click2call.ocr.txt", "w") as f:
                f.write(ocr)
            low = ocr.lower()
            check("OCR reads the outcome in the screenshot",
                  "hung up" in low or "normal clearing" in low, repr(ocr[:300]))
        else:
            print("skip OCR: tesseract is not installed")

        b.type("#token", "wrong-token-0000000000")
        b.click("#go")
        status = wait_for("401", lambda: (lambda t: t if t.startswith("Error") else None)(b.text("#status")))
        detail = b.text("#detail")
        check("a wrong token shows a clear error",
              status == "Error 401: Wrong token" and detail == "missing or wrong bearer token",
              f"{status!r} {detail!r}")
        b.screenshot(f"{a.out}/click2call-401.png")
    finally:
        b.quit()
    print(f"browser: {RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 0 if RESULTS["failed"] == 0 else 1


def _status(durl):
    try:
        with urllib.request.urlopen(f"{durl}/status", timeout=2) as r:
            return json.loads(r.read())["value"].get("ready")
    except Exception:
        return None


if __name__ == "__main__":
    sys.exit(main())
