"""URL map of the counter surface: the clerks' screens (sign-in, queue, detail, exchange log,
figures, accounts, form layouts). The handlers are in counter/auth.py, views.py, exchange.py, admin.py
and layout_editor.py; what the screens show for codes and values is in counter/labels.py."""
import logging

from flask import Blueprint, g
from flask_babel import gettext as _

from core.catalogue import get_catalogue
from core.retention import purge_interval_seconds, purge_on_schedule
from counter.labels import (
    CHANNEL_LABELS,
    ID_DOCUMENT_LABELS,
    PURPOSE_LABELS,
    ROLE_LABELS,
    STAFF_FALLBACKS,
    STATE_LABELS,
    WEEKDAYS,
    display_value,
    event_label,
    full_datetime,
    label_of,
    local_datetime,
    local_time,
    minutes,
    relationship_label,
    source_badge,
    staff_languages,
    tr,
    whole_minutes,
)
from web import add_health_check, add_metrics_hook, add_service, background_service, get_db
from web.errors import error_response
from web.periodic import periodic_service

bp = Blueprint("counter", __name__, template_folder="templates", static_folder="static")


@bp.before_request
def counter_language():
    g.lang = STAFF_FALLBACKS.get(g.get("lang"), g.get("lang"))


@bp.app_template_filter("counter_minutes")
def _minutes_filter(td):
    return minutes(td)


@bp.context_processor
def counter_helpers():
    lang = g.get("lang", "ja")
    catalogue = get_catalogue()
    return {
        "state_label": lambda s: label_of(STATE_LABELS, s),
        "source_badge": source_badge,
        "event_label": event_label,
        "role_label": lambda r: label_of(ROLE_LABELS, r),
        "channel_label": lambda c: label_of(CHANNEL_LABELS, c),
        "weekday": lambda d: tr(WEEKDAYS[d.weekday()]),
        "purpose_label": lambda p: label_of(PURPOSE_LABELS, p),
        "procedure_name": lambda pid: catalogue.procedures[pid].title(lang) if pid in catalogue.procedures else pid,
        "local_time": local_time,
        "local_datetime": local_datetime,
        "full_datetime": full_datetime,
        "id_document_label": lambda k: label_of(ID_DOCUMENT_LABELS, k),
        "minutes": minutes,
        "whole_minutes": whole_minutes,
        "display_value": lambda f, v: display_value(f, v, lang),
        "relationship_label": lambda v: relationship_label(v, lang),
        "counter_languages": [(c, n) for c, n in staff_languages()],
    }


@bp.errorhandler(403)
def forbidden(e):
    return error_response(403, "forbidden", "Forbidden", title=_("You cannot use this page"),
                          message=_("Your role does not allow this. Ask a supervisor."))


@bp.errorhandler(404)
def not_found(e):
    return error_response(404, "not_found", "Not Found", title=_("Page not found"),
                          message=_("There is no such page or application."))


# [retention].personal_data_days, applied every [retention].purge_interval_minutes (core.retention).
start_retention_timer = periodic_service("retention-purge", purge_interval_seconds, purge_on_schedule,
                                         logging.getLogger("madoguchi.retention"))

# Views register themselves on `bp`.
from counter import admin, auth, calling, exchange, layout_editor, views  # noqa: E402,F401


def init_app(app):
    """The core system's PULL API beside the clerk screens, and its services under `madoguchi serve`: the
    forwarding worker, the purge of finished applications' personal data, the worker pushing progress to the
    resident's status page, and the figures' summaries of ended days."""
    from counter import figures, forwarding, pull_api

    app.register_blueprint(pull_api.bp, url_prefix="/counter/api/v1")
    add_service(app, start_retention_timer)
    add_service(app, forwarding.start_service)
    config = app.config["MADOGUCHI"]
    add_health_check(app, "outbox", lambda: forwarding.health(get_db(), config))
    add_metrics_hook(app, lambda: forwarding.set_metrics(get_db()))
    add_service(app, start_progress_service)
    add_service(app, figures.start_service)
    if config.prereg.server_url:    # ratings given on a separate prereg server, for the figures
        add_service(app, collect_ratings)


def _collect_ratings(config) -> str | None:
    from core import satisfaction
    from core.sealed import PreregUnavailable
    from core.store.db import open_from_config
    db = open_from_config(config)
    try:
        n = satisfaction.collect_from_prereg(config, db)
    except PreregUnavailable as e:
        return f"ratings not collected from the prereg server: {e.code}"
    finally:
        db.conn.close()
    return f"collected {n} ratings from the prereg server" if n else None


# Every five minutes: the prereg server keeps a rating until the office has it.
collect_ratings = periodic_service("prereg-ratings", lambda config: 300.0, _collect_ratings,
                                   logging.getLogger("madoguchi.satisfaction"))


def start_progress_service(app):
    """`web.add_service` hook: push each state change to the resident's status page (core.progress)."""
    from core import progress

    config = app.config["MADOGUCHI"]
    return background_service("madoguchi-progress", lambda stop: progress.run(config, stop), join_seconds=15.0)
