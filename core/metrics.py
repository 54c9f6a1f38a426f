"""The process's counters for /metrics (Prometheus), kept by the services that do the work.

One registry per process, not prometheus_client's global one: a test's app and the bench's
see only madoguchi's own series. Labels are codes from small fixed sets (a result, a card
kind, a surface), never values a person gave: nothing personal can reach a scrape.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

PRINTS = Counter("madoguchi_prints", "Print jobs sent, by result (ok, or the printer's error code).",
                 ["result"], registry=REGISTRY)
CARD_READS = Counter("madoguchi_card_reads", "Card reads with a PIN, by card kind and result (ok or the error code).",
                     ["card", "result"], registry=REGISTRY)
REQUESTS = Counter("madoguchi_http_requests", "HTTP requests answered, by surface, method and status class.",
                   ["surface", "method", "status"], registry=REGISTRY)
LATENCY = Histogram("madoguchi_http_request_duration_seconds", "Time to answer an HTTP request, by surface.",
                    ["surface"], registry=REGISTRY,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
OUTBOX_DEPTH = Gauge("madoguchi_outbox_records", "Records in the outbox to the core system, by state.",
                     ["state"], registry=REGISTRY)
OUTBOX_OLDEST_AGE = Gauge("madoguchi_outbox_oldest_pending_age_seconds",
                          "Age of the oldest record still waiting for the core system (0 when none waits).",
                          registry=REGISTRY)
KIOSK_UPLOADS_WAITING = Gauge("madoguchi_kiosk_uploads_waiting",
                              "Applications a kiosk PC keeps until the office server has them.", registry=REGISTRY)


def status_class(status: int) -> str:
    """"2xx", "4xx"…: a bounded label, whatever status a route answers."""
    return f"{status // 100}xx" if 100 <= status < 600 else "other"


def count_print(result: str) -> None:
    PRINTS.labels(result=result).inc()


def count_card_read(card: str | None, result: str) -> None:
    CARD_READS.labels(card=card or "unknown", result=result).inc()
