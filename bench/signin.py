"""Sign-in under a flood of wrong passwords: does the rest of the counter stay quick?

Starts `madoguchi serve --surface counter` on a free port with its own temporary database
(today's queue of VISITS applications, the real Argon2id costs), signs a clerk in, and times
today's queue page (GET /counter/) from that clerk:
1. alone;
2. while FLOODERS clients only ask for the sign-in page as fast as they can (for comparison:
   what any flood of requests costs);
3. while FLOODERS clients post wrong passwords for the clerk's account as fast as they can,
   all from one address (127.0.0.2), and the real clerk signs in meanwhile from 127.0.0.3;
4. while FLOODERS clients post wrong passwords for made-up names, each attempt from another
   address (127.0.1.1–127.0.4.254: a guesser spread over many machines).
Every client connects from a loopback address of its own (Linux routes all of 127/8 to lo).
Prints the queue page's median and p90 for each phase, what the flood was answered
(401 = a password was checked, 429 = held back, 503 = busy; neither checks a password) and
how long the real clerk took to get in.

    .venv/bin/python bench/signin.py [--seconds 15] [--flooders 8] [--visits 1000]
"""
from __future__ import annotations

import argparse
import collections
import http.client
import itertools
import multiprocessing
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.counter import build  # noqa: E402
from core import users  # noqa: E402
from core.config import load_config  # noqa: E402
from core.store.db import open_from_config  # noqa: E402
from tests.helpers import LiveServer, write_config  # noqa: E402

PASSWORD = "bench password 1"


class Browser:
    """One client: a session cookie, its CSRF token, connections from a chosen source address."""

    def __init__(self, url: str, address: str = "127.0.0.1"):
        parts = urlsplit(url)
        self.host, self.port, self.address = parts.hostname, parts.port, address
        self.conn = None
        self.cookie = ""
        self.csrf = ""

    def request(self, method: str, path: str, form: dict | None = None, address: str | None = None):
        if address and address != self.address:
            self.close()
            self.address = address
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30,
                                                   source_address=(self.address, 0))
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urlencode({"csrf_token": self.csrf, **form})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        text = r.read().decode("utf-8", "replace")
        cookie = r.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return r.status, text

    def open_sign_in(self):
        html = self.request("GET", "/counter/sign-in")[1]
        self.csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    def sign_in(self, username: str, password: str) -> int:
        return self.request("POST", "/counter/sign-in", {"username": username, "password": password})[0]

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def spread_addresses():
    """127.0.1.1 … 127.0.4.254, round and round."""
    return itertools.cycle(f"127.0.{c}.{d}" for c in range(1, 5) for d in range(1, 255))


def flood(url: str, clients: int, seconds: float, username: str | None, spread: bool,
          out: multiprocessing.Queue) -> None:
    """`clients` threads posting wrong passwords as fast as they get answers, for `seconds`
    (username "": only asking for the sign-in page); puts the answers by status on `out`. Run
    in a process of its own, so the flood's Python does not take the GIL from the client
    timing the queue page."""
    answers: collections.Counter = collections.Counter()
    lock = threading.Lock()
    addresses = spread_addresses()
    end = time.monotonic() + seconds

    def worker(n: int):
        b = Browser(url, "127.0.0.2")
        b.open_sign_in()
        mine: collections.Counter = collections.Counter()
        for i in itertools.count():
            if time.monotonic() > end:
                break
            with lock:
                address = next(addresses) if spread else None
            name = username or f"guess{n}x{i}"
            try:
                if username == "":
                    status = b.request("GET", "/counter/sign-in")[0]
                else:
                    status = b.request("POST", "/counter/sign-in", {"username": name, "password": f"wrong {i}"},
                                       address=address)[0]
            except (OSError, http.client.HTTPException):
                b.close()
                status = "error"
            mine[status] += 1
        b.close()
        with lock:
            answers.update(mine)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(dict(answers))


def time_queue(clerk: Browser, seconds: float) -> list[float]:
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        status, _ = clerk.request("GET", "/counter/")
        samples.append((time.perf_counter() - t) * 1000)
        assert status == 200, status
        time.sleep(0.05)
    return samples


def real_clerk_signs_in(url: str, address: str) -> tuple[float, int, list]:
    """Seconds until the clerk is in, and the answers on the way (a busy answer is tried again)."""
    b = Browser(url, address)
    b.open_sign_in()
    t = time.perf_counter()
    answers = []
    while True:
        status = b.sign_in("sato", PASSWORD)
        answers.append(status)
        if status == 302 or len(answers) >= 20:
            break
        time.sleep(0.5)
    b.close()
    return time.perf_counter() - t, status, answers


def figures(label: str, samples: list[float]) -> str:
    s = sorted(samples)
    p90 = s[max(0, int(len(s) * 0.9) - 1)]
    return f"{label:<58} median {statistics.median(s):7.1f} ms   p90 {p90:7.1f} ms   ({len(s)} pages)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--flooders", type=int, default=8)
    parser.add_argument("--visits", type=int, default=1000, help="applications in today's queue")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        values = {"storage": {"path": str(tmp / "madoguchi.db")}, "keys": {"dir": str(tmp / "keys")},
                  "site": {"folder": str(ROOT / "sites" / "demo")}}
        config_file = write_config(tmp / "config.toml", values)
        config = load_config(config_file, base_dir=tmp)
        db = open_from_config(config)
        build(db, config, args.visits, 1)
        users.add_user(db, "sato", PASSWORD, "clerk")
        db.conn.close()
        server = LiveServer(config_file, "counter")
        try:
            clerk = Browser(server.url)
            clerk.open_sign_in()
            assert clerk.sign_in("sato", PASSWORD) == 302
            time_queue(clerk, 1)  # warm up
            print(f"today's queue: {args.visits} applications; {args.flooders} flooding clients, "
                  f"{args.seconds:.0f} s a phase")
            print(figures("queue page, no flood", time_queue(clerk, args.seconds)))

            for label, username, spread in [
                ("queue page, for comparison: a flood of sign-in page views", "", False),
                ("queue page, flood on the clerk's account from one address", "sato", False),
                ("queue page, flood of made-up names from many addresses", None, True),
            ]:
                out = multiprocessing.Queue()
                flooder = multiprocessing.Process(target=flood, args=(server.url, args.flooders, args.seconds + 2,
                                                                      username, spread, out))
                flooder.start()
                time.sleep(1)
                samples = time_queue(clerk, args.seconds / 2)
                if username != "":
                    took, status, seen = real_clerk_signs_in(server.url, "127.0.0.3")
                samples += time_queue(clerk, args.seconds / 2)
                answers = collections.Counter(out.get())
                flooder.join()
                print(figures(label, samples))
                total = sum(answers.values())
                per_s = total / (args.seconds + 2)
                print(f"    flood answers: {dict(sorted(answers.items(), key=str))} "
                      f"({per_s:.0f} attempts/s, {answers[401] / (args.seconds + 2):.1f} passwords checked/s)")
                if username != "":
                    print(f"    the real clerk, from 127.0.0.3: {'signed in' if status == 302 else 'NOT signed in'}"
                          f" after {took:.2f} s (answers {seen})")
            time.sleep(1)
            print(figures("queue page, after the floods", time_queue(clerk, args.seconds / 2)))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
