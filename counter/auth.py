"""Signing clerks in and out; every counter page but the sign-in page needs a live session.

The signed Flask cookie carries only a random session token; `core.users` checks it on each
request, so expiry, sign-out and disabling an account hold on the server.
"""
from __future__ import annotations

import functools
import logging
from urllib.parse import unquote

from flask import abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from core import users as accounts
from core.signin_throttle import Throttle
from core.users import AuthError, Role, UserError
from counter.blueprint import bp
from web import get_config, get_db

log = logging.getLogger("madoguchi.counter")
SESSION_KEY = "clerk_session"
# The waiting area's display shows reception numbers and windows only: it needs no sign-in.
PUBLIC_ENDPOINTS = {"counter.index", "counter.sign_in", "counter.static", "counter.display", "counter.display_calls",
                    "counter.display_speech"}


def current_clerk() -> accounts.User | None:
    s = g.get("clerk_session")
    return s.user if s else None


def requires(role: Role):
    """Only clerks of this role or above (clerk < supervisor < admin) may use the view."""
    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kw):
            clerk = current_clerk()
            if clerk is None:
                return redirect(url_for("counter.sign_in"))
            if not clerk.can(role):
                abort(403)
            return view(*args, **kw)
        inner.required_role = role
        return inner
    return wrap


@bp.before_request
def load_clerk():
    token = session.get(SESSION_KEY)
    g.clerk_session = accounts.session_for(get_db(), token) if token else None
    if g.clerk_session is not None or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if token:
        session.pop(SESSION_KEY, None)
        flash(_("Your session has ended. Please sign in again."), "info")
    nxt = request.full_path if request.method == "GET" else None
    return redirect(url_for("counter.sign_in", next=nxt) if nxt else url_for("counter.sign_in"))


@bp.app_context_processor
def clerk_helpers():
    return {"clerk": current_clerk(), "Role": Role}


def counter_path(target: str | None) -> str | None:
    """`target` when it is a path on the counter, else None: no other site (`//host`, `\\host`,
    a scheme), no way out by `..`, nothing a header cannot carry (CR, LF, other controls)."""
    home = url_for("counter.index")
    if not target or not target.startswith(home) or not all("!" <= c <= "~" and c != "\\" for c in target):
        return None
    path = unquote(target.split("?", 1)[0])
    if any(segment in (".", "..") for segment in path.split("/")) or "\\" in path:
        return None
    return target.rstrip("?")


def signin_throttle() -> Throttle:
    return Throttle.for_config(get_db(), get_config())


def client_address() -> str:
    return request.remote_addr or "unknown"


def refusal(e: AuthError) -> str:
    """What a refused sign-in (or password check) tells the clerk."""
    if e.code == "throttled":
        seconds = e.details["retry_after"]
        wait = _("%(n)d s", n=seconds) if seconds < 120 else _("%(n)d min", n=-(-seconds // 60))
        return _("Too many failed sign-ins. Try again in %(wait)s.", wait=wait)
    if e.code == "busy":
        return _("Many sign-ins are being checked at this moment. Try again in a few seconds.")
    if e.code == "disabled":
        return _("This account is disabled. Ask an administrator.")
    return _("The user name or password is not right.")


REFUSAL_STATUS = {"throttled": 429, "busy": 503}


def refusal_headers(e: AuthError) -> dict:
    if e.code == "throttled":
        return {"Retry-After": str(e.details["retry_after"])}
    return {"Retry-After": "2"} if e.code == "busy" else {}


def sign_in_page(status: int = 200, headers: dict | None = None, **kw):
    kw.setdefault("errors", {})
    # First run: say how to make the first account instead of leaving everyone at a locked door.
    kw["no_accounts"] = not accounts.has_users(get_db())
    nxt = counter_path(request.values.get("next")) or ""
    return render_template("counter/sign_in.html", next=nxt, **kw), status, headers or {}


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    home = url_for("counter.index")
    if request.method == "GET":
        if g.clerk_session:
            return redirect(counter_path(request.args.get("next")) or home)
        return sign_in_page()
    config = get_config()
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    errors = {}
    if not username:
        errors["username"] = _("Enter your user name")
    if not password:
        errors["password"] = _("Enter your password")
    if errors:
        return sign_in_page(400, errors=errors, username=username)
    db = get_db()
    try:
        user = accounts.authenticate(db, username, password, throttle=signin_throttle(), address=client_address())
    except AuthError as e:
        if e.code not in REFUSAL_STATUS:  # a flood's refusals are counted nowhere, and not logged one by one
            # The name only when it is an account: one that is none may be a password typed in the wrong box.
            log.warning("sign-in refused for %s from %s: %s",
                        repr(username) if accounts.is_account(db, username) else "a name that is no account",
                        client_address(), e.code)
        return sign_in_page(REFUSAL_STATUS.get(e.code, 401), refusal_headers(e), errors={"password": refusal(e)},
                            username=username)
    token = accounts.start_session(db, user, config.counter.session_minutes)
    # A fresh cookie on sign-in: nothing from before (CSRF token included) carries over.
    session.clear()
    session[SESSION_KEY] = token
    log.info("%s signed in", user.username)
    return redirect(counter_path(request.form.get("next")) or home)


@bp.post("/sign-out")
def sign_out():
    accounts.end_session(get_db(), session.get(SESSION_KEY))
    session.clear()
    flash(_("You have signed out."), "success")
    return redirect(url_for("counter.sign_in"))


@bp.route("/password", methods=["GET", "POST"])
@requires(Role.CLERK)
def change_password():
    clerk = current_clerk()
    if request.method == "GET":
        return render_template("counter/password.html", errors={})
    db = get_db()
    errors = {}
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    again = request.form.get("new_password_again", "")
    try:
        accounts.authenticate(db, clerk.username, current, throttle=signin_throttle(), address=client_address())
    except AuthError as e:
        errors["current_password"] = (refusal(e) if e.code in REFUSAL_STATUS else
                                      _("Your current password is not right."))
    if not errors:
        if new != again:
            errors["new_password_again"] = _("The two new passwords are not the same.")
        else:
            try:
                accounts.check_password_policy(new, clerk.username)
            except UserError as e:
                errors["new_password"] = password_problem(e)
    if errors:
        return render_template("counter/password.html", errors=errors), 400
    accounts.set_password(db, clerk.username, new)  # ends every session, this one included
    token = accounts.start_session(db, accounts.get_user(db, clerk.username),
                                   current_app.config["MADOGUCHI"].counter.session_minutes)
    session.clear()
    session[SESSION_KEY] = token
    flash(_("Your password has been changed. You were signed out everywhere else."), "success")
    return redirect(url_for("counter.index"))


def password_problem(e: UserError) -> str:
    if e.code == "password_too_short":
        return _("Use at least %(n)d characters.", n=e.details.get("min_length", accounts.MIN_PASSWORD_LENGTH))
    if e.code == "password_contains_username":
        return _("Do not use your user name in the password.")
    return _("Use a less simple password (more different characters).")
