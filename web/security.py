"""CSRF tokens for forms, security headers, and no caching of pages with personal data."""
from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, request, session

CSRF_FIELD = "csrf_token"
_EXEMPT = "_madoguchi_csrf_exempt"


def csrf_token() -> str:
    if "_csrf" not in session:
        session["_csrf"] = secrets.token_urlsafe(32)
    return session["_csrf"]


def csrf_exempt(view):
    """For JSON APIs authenticated by a key or token instead of a browser session."""
    setattr(view, _EXEMPT, True)
    return view


def init_app(app: Flask) -> None:
    behind_tls = app.config["MADOGUCHI"].server.behind_tls

    @app.before_request
    def check_csrf():
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return
        view = app.view_functions.get(request.endpoint)
        if view is None or getattr(view, _EXEMPT, False):
            return
        # The header first: reading the form of an upload larger than MAX_CONTENT_LENGTH is a 413
        # even where the view allows more (the layout editor's PDF import).
        sent = request.headers.get("X-CSRF-Token") or request.form.get(CSRF_FIELD) or ""
        expected = session.get("_csrf", "")
        # Bytes: compare_digest refuses str with non-ASCII characters (TypeError).
        if not expected or not hmac.compare_digest(sent.encode("utf-8", "replace"), expected.encode()):
            abort(400, description="csrf")

    @app.after_request
    def headers(response):
        h = response.headers
        h.setdefault("Content-Security-Policy",
                     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                     "connect-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; "
                     "form-action 'self'; object-src 'none'")
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "no-referrer")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Permissions-Policy", "geolocation=(), microphone=(), camera=(self)")
        if behind_tls:
            h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        # Pages may show personal data: never keep them in a browser or proxy cache.
        if response.mimetype in ("text/html", "application/json") and "Cache-Control" not in h:
            h["Cache-Control"] = "no-store"
            h["Pragma"] = "no-cache"
        return response

    app.jinja_env.globals["csrf_token"] = csrf_token
