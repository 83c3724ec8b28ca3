"""End to end: events per second from amiwire-sim (`flood N`) through a Manager to an
`async for` consumer, amiwire.Manager next to panoramisk 1.4's Manager on the same feed.

    bindings/python/.venv/bin/python bindings/python/bench/e2e.py \\
        --panoramisk-python /path/to/bench-venv/bin/python [--events 30000] [--rounds 3]

panoramisk has no async iterator: its consumer is the idiomatic one, a register_event callback
putting into an asyncio.Queue read by `async for`-style `await queue.get()`. Each library is
timed from the `flood` command to the N-th event read by the consumer (Seq checked), best of
--rounds, each round in a fresh process against a fresh simulator. The simulator, like
Asterisk, disconnects a session that cannot absorb its events within 100 ms: panoramisk does
not keep up with 200,000 (it is disconnected), so the default feed is 30,000.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


class Sim:
    def __init__(self, binary: str) -> None:
        self.proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--control"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("amiwire-sim listening on "):
            raise RuntimeError(f"unexpected simulator output: {line!r}")
        host, port = line.rsplit(" ", 1)[1].strip().rsplit(":", 1)
        self.host, self.port = host, int(port)

    def command(self, cmd: str) -> None:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the simulator exited")
            if line.strip() == f"ok {cmd}":
                return

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
        finally:
            self.proc.wait(10)


async def run_amiwire(sim: Sim, n: int) -> float:
    import amiwire

    m = amiwire.Manager(sim.host, sim.port, "admin", "amp111", ping_interval=None,
                        events="user")
    await m.connect()
    stream = m.events("UserEvent", queue_size=n + 10)
    t0 = time.perf_counter()
    await asyncio.to_thread(sim.command, f"flood {n}")
    seen = 0
    async for ev in stream:
        seen += 1
        if seen == n:
            if ev["Seq"] != str(n):
                raise RuntimeError(f"out of order: {ev['Seq']}")
            break
    dt = time.perf_counter() - t0
    await m.close()
    return dt


async def run_panoramisk(sim: Sim, n: int) -> float:
    from panoramisk import Manager

    m = Manager(host=sim.host, port=sim.port, username="admin", secret="amp111", events="user",
                ping_delay=3600, ping_interval=3600)
    queue: asyncio.Queue = asyncio.Queue()
    m.register_event("UserEvent", lambda manager, event: queue.put_nowait(event))
    await m.connect()
    # panoramisk's connect() returns once the socket is up; wait for the login.
    while not m.authenticated:
        await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    await asyncio.to_thread(sim.command, f"flood {n}")
    seen = 0
    while True:
        ev = await queue.get()
        seen += 1
        if seen == n:
            if ev["Seq"] != str(n):
                raise RuntimeError(f"out of order: {ev['Seq']}")
            break
    dt = time.perf_counter() - t0
    m.close()
    return dt


def one(name: str, sim_path: str, n: int) -> float:
    fn = run_amiwire if name == "amiwire" else run_panoramisk
    sim = Sim(sim_path)
    try:
        return asyncio.run(asyncio.wait_for(fn(sim, n), 120))
    finally:
        sim.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=30_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sim", default=os.path.join(ROOT, "target", "release", "amiwire-sim"))
    ap.add_argument("--panoramisk-python", default=sys.executable,
                    help="the Python of the bench venv that has panoramisk 1.4")
    ap.add_argument("--only", choices=["amiwire", "panoramisk"])
    args = ap.parse_args()
    if args.only:
        # One library, one round per process: print seconds.
        print(one(args.only, args.sim, args.events))
        return
    results = {}
    for name, python in (("amiwire", sys.executable), ("panoramisk", args.panoramisk_python)):
        best = None
        for _ in range(args.rounds):
            out = subprocess.run([python, __file__, "--only", name, "--events", str(args.events),
                                  "--sim", args.sim], capture_output=True, text=True, timeout=180)
            if out.returncode != 0:
                raise SystemExit(f"{name} failed:\n{out.stdout}{out.stderr}")
            dt = float(out.stdout.strip().splitlines()[-1])
            best = dt if best is None else min(best, dt)
        results[name] = args.events / best
    print(f"{'library':<24} {'events/s':>12}   ({args.events} events, best of {args.rounds})")
    for name, rate in results.items():
        label = "amiwire.Manager" if name == "amiwire" else "panoramisk 1.4 Manager"
        print(f"{label:<24} {rate:>12,.0f}")
    print(f"ratio: {results['amiwire'] / results['panoramisk']:.1f}x")


if __name__ == "__main__":
    main()
