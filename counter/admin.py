"""Supervisors' figures and administrators' account management."""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from flask import abort, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core import satisfaction
from core import users as accounts
from core.catalogue import get_catalogue, text_in
from core.errors import NotFound
from core.site import current_site
from core.users import Role, UserError
from counter import casework, figures
from counter.auth import current_clerk, password_problem, requires, signin_throttle
from counter.blueprint import bp
from web import get_config, get_db

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


def _figures(start: date, end: date, per_day: bool = False) -> tuple[figures.Figures, satisfaction.Satisfaction]:
    return (figures.compute(get_db(), get_catalogue(), start, end, per_day=per_day),
            satisfaction.summary(get_db(), start, end))


@bp.get("/figures")
@requires(Role.SUPERVISOR)
def figures_page():
    start, end, errors = _period()
    result, ratings = _figures(start, end)
    cat = get_catalogue()
    field_labels = {name: cat.field(name).label_in(g.lang) if cat.known_field(name) else name
                    for name, _count in result.top_fields}
    site = current_site()
    office_names = {o.id: text_in(o.name, g.lang) for o in site.offices}
    counter = get_config().counter
    return render_template(
        "counter/figures.html", fig=result, errors=errors, field_labels=field_labels,
        max_visits=max([d.visits for d in result.rows] + [1]), ratings=ratings,
        chart=figures.stay_chart(result.daily), office_names=office_names, channels=figures.CHANNELS,
        targets=figures.targets(result, ratings.satisfied_share, counter.stay_baseline_minutes,
                                counter.returns_baseline_percent),
        csv_tables=CSV_TABLES), 400 if errors else 200


CSV_TABLES = ("days", "procedures", "offices", "ratings")


def _csv_days(w, fig: figures.Figures, ratings) -> None:
    w.writerow(["date", "visits", "applications", "forms", "confirmed", "corrections",
                "scan_to_confirm_median_min", "scan_to_confirm_p90_min", "visits_done", "visits_done_uncalled",
                "stay_median_min", "stay_p90_min", "wait_median_min", "wait_p90_min",
                "service_median_min", "service_p90_min"])
    for d in fig.days:
        stay = [v for k in ("total", "wait", "service") for v in (d.stays[k].median, d.stays[k].p90)]
        w.writerow([d.day.isoformat(), d.visits, d.applications, d.forms, d.confirmed, d.corrections,
                    *_blank([d.median_minutes, d.p90_minutes]), d.stays_done, d.stays_uncalled, *_blank(stay)])


def _csv_procedures(w, fig: figures.Figures, ratings) -> None:
    w.writerow(["procedure", "forms", "corrected_forms", "corrections", "corrections_per_form", "rejected",
                "reprinted_after_correction", "returned", "returned_share",
                *(f"{c}_forms" for c in figures.CHANNELS)])
    for p in fig.procedures:
        w.writerow([p.procedure, p.forms, p.corrected_forms, p.corrections, f"{p.corrections_per_form:.2f}",
                    p.rejected, p.reprinted, p.returned, _share(p.returns_share),
                    *(p.channels[c] for c in figures.CHANNELS)])


def _csv_offices(w, fig: figures.Figures, ratings) -> None:
    w.writerow(["office", "forms", *(f"{c}_forms" for c in figures.CHANNELS), "online_share"])
    for o in fig.office_figures:
        w.writerow([o.office, o.forms, *(o.channels[c] for c in figures.CHANNELS), _share(o.share("prereg"))])


def _csv_ratings(w, fig: figures.Figures, ratings) -> None:
    w.writerow(["rating", "ratings"])
    for score in satisfaction.SCORES:
        w.writerow([score, ratings.counts[score]])
    w.writerow(["satisfied_share", _share(ratings.satisfied_share)])


@bp.get("/figures.csv")
@requires(Role.SUPERVISOR)
def figures_csv():
    start, end, errors = _period()
    table = request.args.get("table", "")
    if errors or (table and table not in CSV_TABLES):
        abort(400)
    result, ratings = _figures(start, end, per_day=True)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    writers = {"days": _csv_days, "procedures": _csv_procedures, "offices": _csv_offices, "ratings": _csv_ratings}
    for i, name in enumerate([table] if table else CSV_TABLES):
        if i:
            w.writerow([])
        writers[name](w, result, ratings)
    # Excel on Japanese Windows opens UTF-8 CSV correctly only with a BOM.
    response = make_response("\ufeff" + out.getvalue())
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    name = f"madoguchi-figures{'-' + table if table else ''}-{start}-{end}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _blank(values) -> list[str]:
    """Whole minutes (the bins' exactness), blank when there is none."""
    return ["" if v is None else str(v) for v in values]


def _share(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"


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
