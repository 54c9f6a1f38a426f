"""A per-client token bucket (in memory: one server process serves a surface), for prereg's
submissions and the kiosk PCs' requests for a person's exchange log.

`[prereg].submissions_per_minute` tokens per client, refilled continuously; 0 = no limit
(the benchmark uses it). A small hand-written bucket rather than Flask-Limiter: one limit,
one storage, no dependency.
"""
from __future__ import annotations

import threading
import time


class TokenBucket:
    def __init__(self, per_minute: int, *, clock=time.monotonic, max_clients: int = 100_000):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @property
    def unlimited(self) -> bool:
        return self.capacity <= 0

    def take(self, client: str) -> float:
        """Take one token: 0.0 if allowed, else the seconds until one is available."""
        if self.unlimited:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self._buckets[client] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_clients:
                self._forget_full(now)
            return 0.0

    def _forget_full(self, now: float) -> None:
        # Clients whose bucket has refilled are indistinguishable from new ones.
        full_after = self.capacity / self.rate
        self._buckets = {c: v for c, v in self._buckets.items() if now - v[1] < full_after}
