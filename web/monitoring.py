"""What an operator watches: request ids, structured logs, /metrics and the checks of /healthz.

- Every request gets an id (a well-formed `X-Request-Id` from the proxy, or a new one), sent
  back in `X-Request-Id` and put on every log line written while it runs.
- `[monitoring].log_format = "json"` writes one JSON object per line (JST times); "text" the
  classic lines. An access line per request names the route's rule (`/prereg/s/<token>`),
  never the path or the query: a path may hold a key, a query a name.
- `/metrics` (Prometheus text) answers only the networks in `[monitoring].metrics_allowed_from`;
  anyone else gets 404, as if it did not exist.
- Surfaces add their checks to /healthz with `add_health_check` (the outbox, the printer, the
  reader); a failing check makes the answer "degraded", and only an unwritable database,
  without which nothing works, makes it 503.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask, Response, abort, g, has_request_context, request
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from core import metrics
from core.clock import JAPAN
from web.errors import route_rule

access_log = logging.getLogger("madoguchi.access")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")

HealthCheck = Callable[[], dict[str, Any]]   # -> {"ok": bool, ...figures, no personal data}


def request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


class RequestIdFilter(logging.Filter):
    """Puts the running request's id on each record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id()
        record.request_tag = f" (request {record.request_id})" if record.request_id else ""
        return True


def japan_time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, JAPAN).isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """The classic line, its time in JST whatever the machine's zone."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s%(request_tag)s")

    def formatTime(self, record, datefmt=None):  # noqa: N802 (logging's name)
        return japan_time(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (JST), level, logger, message, request id, and the
    record's own extra fields (`log.info("...", extra={"status": 200})`)."""

    STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id", "request_tag"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": japan_time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "request_id", None):
            entry["request_id"] = record.request_id
        entry.update({k: v for k, v in vars(record).items() if k not in self.STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(log_format: str, stream=None) -> logging.Handler:
    """The root handler `madoguchi serve` logs through (replacing any earlier one of ours)."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "madoguchi", False)]:
        root.removeHandler(old)
    handler.madoguchi = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def allowed_networks(config) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in config.monitoring.metrics_allowed_from]


def add_health_check(app: Flask, name: str, check: HealthCheck) -> None:
    app.extensions["madoguchi.health_checks"][name] = check


def health_checks(app: Flask) -> dict[str, dict[str, Any]]:
    """Each check's answer; one that raises is reported failed, with its kind of error only."""
    results = {}
    for name, check in app.extensions["madoguchi.health_checks"].items():
        try:
            results[name] = check()
        except Exception as e:
            logging.getLogger("madoguchi.health").warning("health check %s failed: %s", name, type(e).__name__)
            results[name] = {"ok": False, "error": type(e).__name__}
    return results


def add_metrics_hook(app: Flask, hook: Callable[[], None]) -> None:
    """A function run before each scrape, to set gauges read from the database."""
    app.extensions["madoguchi.metrics_hooks"].append(hook)


def init_app(app: Flask) -> None:
    config = app.config["MADOGUCHI"]
    networks = allowed_networks(config)
    write_access_log = config.monitoring.access_log
    app.extensions["madoguchi.health_checks"] = {}
    app.extensions["madoguchi.metrics_hooks"] = []
    surfaces = set(app.extensions["madoguchi.surfaces"])

    def surface_label() -> str:
        first = request.path.strip("/").split("/", 1)[0]
        return first if first in surfaces else "other"

    @app.before_request
    def start_request():
        sent = request.headers.get("X-Request-Id", "")
        g.request_id = sent if REQUEST_ID.fullmatch(sent) else secrets.token_hex(8)
        g.request_started = time.perf_counter()

    @app.after_request
    def finish_request(response: Response) -> Response:
        started = g.get("request_started")
        if started is None:    # a request that failed before start_request ran
            return response
        seconds = time.perf_counter() - started
        surface = surface_label()
        metrics.REQUESTS.labels(surface=surface, method=request.method if request.method in KNOWN_METHODS else "other",
                                status=metrics.status_class(response.status_code)).inc()
        metrics.LATENCY.labels(surface=surface).observe(seconds)
        response.headers["X-Request-Id"] = g.request_id
        if write_access_log and not (request.url_rule is not None and request.url_rule.endpoint == "static"):
            access_log.info("%s %s %s %.1f ms", request.method, route_rule(), response.status_code, seconds * 1000,
                            extra={"method": request.method, "route": route_rule(), "status": response.status_code,
                                   "duration_ms": round(seconds * 1000, 1), "surface": surface})
        return response

    @app.get("/metrics")
    def prometheus_metrics():
        try:
            client = ipaddress.ip_address(request.remote_addr or "")
        except ValueError:
            abort(404)
        if not any(client in network for network in networks):
            abort(404)
        for hook in app.extensions["madoguchi.metrics_hooks"]:
            try:
                hook()
            except Exception as e:  # a locked database must not hide the request counters
                logging.getLogger("madoguchi.health").warning("metrics hook failed: %s", type(e).__name__)
        return Response(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST)


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
