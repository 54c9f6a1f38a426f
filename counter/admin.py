"""Supervisors' figures and administrators' account management."""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from flask import abort, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core import satisfaction
from core import users as accounts
from core.catalogue import get_catalogue
from core.errors import NotFound
from core.users import Role, UserError
from counter import casework, figures
from counter.auth import current_clerk, password_problem, requires, signin_throttle
from counter.blueprint import bp
from web import get_db

MAX_DAYS = 366


def _period() -> tuple[date, date, dict]:
    errors = {}
    end = casework.today()
    start = end - timedelta(days=29)
    for arg in ("to", "from"):
        if request.args.get(arg):
            day = casework.day_from(request.args[arg])
            if day is None:
                errors["from"] = _("Enter dates as YYYY-MM-DD.")
            elif arg == "to":
                end = day
            else:
                start = day
    if start > end:
        errors["from"] = _("The first day must not be after the last day.")
        start = end
    if (end - start).days >= MAX_DAYS:
        errors["from"] = _("Choose at most %(n)d days.", n=MAX_DAYS)
        start = end - timedelta(days=MAX_DAYS - 1)
    return start, end, errors


@bp.get("/figures")
@requires(Role.SUPERVISOR)
def figures_page():
    start, end, errors = _period()
    result = figures.compute(get_db(), get_catalogue(), start, end)
    cat = get_catalogue()
    field_labels = {name: cat.field(name).label_in(g.lang) if cat.known_field(name) else name
                    for name, _count in result.top_fields}
    return render_template("counter/figures.html", fig=result, errors=errors, field_labels=field_labels,
                           max_visits=max([d.visits for d in result.days] + [1]),
                           ratings=satisfaction.summary(get_db(), start, end)), 400 if errors else 200


@bp.get("/figures.csv")
@requires(Role.SUPERVISOR)
def figures_csv():
    start, end, errors = _period()
    if errors:
        abort(400)
    result = figures.compute(get_db(), get_catalogue(), start, end)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["date", "visits", "forms", "confirmed", "corrections", "scan_to_confirm_median_min",
                "scan_to_confirm_p90_min"])
    for d in result.days:
        w.writerow([d.day.isoformat(), d.visits, d.forms, d.confirmed, d.corrections,
                    _round(d.median_minutes), _round(d.p90_minutes)])
    w.writerow([])
    w.writerow(["procedure", "forms", "corrected_forms", "corrections", "corrections_per_form"])
    for p in result.procedures:
        w.writerow([p.procedure, p.forms, p.corrected_forms, p.corrections, f"{p.corrections_per_form:.2f}"])
    ratings = satisfaction.summary(get_db(), start, end, comments=0)
    w.writerow([])
    w.writerow(["rating", "ratings"])
    for score in satisfaction.SCORES:
        w.writerow([score, ratings.counts[score]])
    w.writerow(["satisfied_share", "" if ratings.satisfied_share is None else f"{ratings.satisfied_share:.3f}"])
    # Excel on Japanese Windows opens UTF-8 CSV correctly only with a BOM.
    response = make_response("\ufeff" + out.getvalue())
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="madoguchi-figures-{start}-{end}.csv"'
    return response


def _round(v):
    return "" if v is None else f"{v:.1f}"


# --- accounts ------------------------------------------------------------------------------

def _users_page(errors: dict, form: dict, status: int = 200):
    users = accounts.list_users(get_db())
    throttle = signin_throttle()
    held_back = {u.username: throttle.held_back_until(u.username) for u in users}
    return render_template("counter/users.html", users=users, roles=list(Role), errors=errors, form=form,
                           held_back=held_back), status


@bp.get("/users")
@requires(Role.ADMIN)
def users_page():
    return _users_page({}, {})


@bp.post("/users")
@requires(Role.ADMIN)
def users_add():
    form = {k: request.form.get(k, "").strip() for k in ("username", "display_name", "role")}
    password = request.form.get("password", "")
    errors = {}
    try:
        accounts.add_user(get_db(), form["username"], password, form["role"] or "clerk", form["display_name"])
    except UserError as e:
        if e.code in ("bad_username", "username_taken"):
            errors["username"] = (_("That user name is taken.") if e.code == "username_taken" else
                                  _("Use 2 to 32 lower-case letters, digits, '.', '_' or '-'."))
        elif e.code == "bad_role":
            errors["role"] = _("Choose a role.")
        else:
            errors["password"] = password_problem(e)
    if errors:
        return _users_page(errors, form, 400)
    flash(_("Account %(name)s added.", name=form["username"].lower()), "success")
    return redirect(url_for("counter.users_page"))


@bp.post("/users/<username>")
@requires(Role.ADMIN)
def users_change(username):
    db = get_db()
    action = request.form.get("action")
    try:
        accounts.get_user(db, username)
    except NotFound:
        abort(404)
    if username == current_clerk().username and action in ("disable", "role"):
        flash(_("You cannot disable your own account or change your own role."), "error")
        return redirect(url_for("counter.users_page"))
    if action == "disable":
        accounts.set_disabled(db, username, True)
        flash(_("Account %(name)s disabled; its sessions have ended.", name=username), "success")
    elif action == "enable":
        accounts.set_disabled(db, username, False)
        flash(_("Account %(name)s enabled.", name=username), "success")
    elif action == "unlock":
        signin_throttle().clear(username)
        flash(_("Account %(name)s unlocked.", name=username), "success")
    elif action == "role" and request.form.get("role") in [str(r) for r in Role]:
        accounts.set_role(db, username, request.form["role"])
        flash(_("Role of %(name)s changed.", name=username), "success")
    elif action == "password":
        try:
            accounts.set_password(db, username, request.form.get("password", ""))
        except UserError as e:
            flash(password_problem(e), "error")
            return redirect(url_for("counter.users_page"))
        signin_throttle().clear(username)
        flash(_("Password of %(name)s set; the account was signed out everywhere.", name=username), "success")
    else:
        abort(400)
    return redirect(url_for("counter.users_page"))
