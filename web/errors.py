"""What every surface answers when a request fails: the project's own error page in the
user's language (JSON for APIs), 503 with Retry-After when the database cannot be written
now, and a log line naming the error type and the route, never values.

A surface may keep its own error template (ERROR_TEMPLATES); the others share
web/templates/error.html. Both get `status`, `csrf`, `retry_after`, `title` and `message`.
"""
from __future__ import annotations

import logging
import traceback

from flask import Flask, current_app, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from core.store.db import SchemaNotOwned, is_unwritable

log = logging.getLogger("madoguchi.web")

RETRY_AFTER_SECONDS = 5
ERROR_TEMPLATES = {"prereg": "prereg/error.html"}


def redacted_traceback(exc: BaseException) -> str:
    """Where it failed, without the exception's message or local values (they may hold
    personal data: a name that failed to parse, an address in a KeyError)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in reversed(frames[-8:]))
    return f"{type(exc).__module__}.{type(exc).__qualname__} at {where}"


def wants_json() -> bool:
    """APIs and the pages' own fetches get JSON; a browser gets a page."""
    if "/api/" in request.path or request.is_json:
        return True
    best = request.accept_mimetypes.best
    return best == "application/json"


def surface_of_request() -> str | None:
    first = request.path.strip("/").split("/", 1)[0]
    return first if first in current_app.extensions.get("madoguchi.surfaces", ()) else None


def route_rule() -> str:
    return str(request.url_rule) if request.url_rule is not None else "(no route)"


def error_response(status: int, code: str, english: str, *, retry_after: int | None = None,
                   title: str | None = None, message: str | None = None, csrf: bool = False):
    """The answer for an error: JSON `{"error": code, "message": english}` for APIs, else the
    surface's error page (translated there)."""
    if wants_json():
        body = {"error": code, "message": english}
        if retry_after:
            body["retry_after"] = retry_after
        resp = make_response(jsonify(body), status)
    else:
        surface = surface_of_request()
        template = ERROR_TEMPLATES.get(surface, "error.html")
        try:
            page = render_template(template, status=status, csrf=csrf, retry_after=retry_after,
                                   title=title, message=message, surface=surface)
        except Exception as e:  # the page itself failed (it may need the database): plain words
            log.error("error page failed in %s %s: %s", request.method, route_rule(), redacted_traceback(e))
            page = english
        resp = make_response(page, status)
    if retry_after:
        resp.headers["Retry-After"] = str(retry_after)
    return resp


def on_http_error(exc: HTTPException):
    status = exc.code or 500
    if status >= 500:
        log.error("HTTP %d in %s %s", status, request.method, route_rule())
    retry_after = None
    if status in (429, 503):
        sent = exc.response.headers.get("Retry-After") if exc.response is not None else None
        retry_after = int(sent) if sent and sent.isascii() and sent.isdigit() else RETRY_AFTER_SECONDS
    csrf = status == 400 and exc.description == "csrf"
    return error_response(status, exc.name.lower().replace(" ", "_"), exc.name, retry_after=retry_after, csrf=csrf)


def on_exception(exc: Exception):
    if isinstance(exc, HTTPException):
        return on_http_error(exc)
    not_migrated = isinstance(exc, SchemaNotOwned)    # a new version started before the owner migrated
    if not_migrated or is_unwritable(exc):
        if not_migrated:
            log.error("database not migrated for this version in %s %s: %s", request.method, route_rule(), exc)
        else:
            log.warning("database not writable (%s) in %s %s", type(exc).__name__, request.method, route_rule())
        return error_response(503, "database_unavailable", "the database cannot be written now; try again later",
                              retry_after=RETRY_AFTER_SECONDS)
    log.error("unhandled error in %s %s: %s", request.method, route_rule(), redacted_traceback(exc))
    return error_response(500, "internal", "internal error")


def init_app(app: Flask) -> None:
    app.register_error_handler(Exception, on_exception)
