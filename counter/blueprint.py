"""URL map of the counter surface: the clerks' screens (sign-in, queue, detail, exchange log,
figures, accounts). Views live in counter/auth.py, views.py, exchange.py and admin.py."""
from datetime import date, datetime, timedelta

from flask import Blueprint, g
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup

from core.application import State
from core.catalogue import FieldDef, get_catalogue, text_in
from core.clock import in_japan, today_in_japan
from core.config import LANGUAGES
from core.japanese import format_postal_code, format_wareki
from web import add_service
from web.errors import error_response

bp = Blueprint("counter", __name__, template_folder="templates", static_folder="static")

def N_(msgid: str) -> str:
    """Marks a text for the catalogue; translated where it is shown (with `tr`)."""
    return msgid


# The clerk screens are for staff: every language but やさしい日本語 (which shows standard Japanese);
# what is printed for a resident (their exchange log) is in Japanese.
STAFF_FALLBACKS = {"ja-easy": "ja"}

STATE_LABELS = {
    State.DRAFT: N_("Draft"),
    State.SUBMITTED: N_("Not printed yet"),
    State.PRINTED: N_("Printed, waiting"),
    State.CONFIRMED: N_("Confirmed"),
    State.FORWARDED: N_("Sent to the core system"),
    State.REJECTED: N_("Rejected"),
    State.CANCELLED: N_("Cancelled"),
}
SOURCE_LABELS = {
    "card": N_("My Number card"),
    "licence": N_("Driver's licence"),
    "qr": N_("Pre-registration (QR)"),
    "typed": N_("Typed at the kiosk"),
    "clerk": N_("Corrected by a clerk"),
}
ROLE_LABELS = {"clerk": N_("Clerk"), "supervisor": N_("Supervisor"), "admin": N_("Administrator")}
CHANNEL_LABELS = {"kiosk": N_("Kiosk"), "prereg": N_("Pre-registration"), "counter": N_("At the counter"),
                  "demo": N_("Demo")}
WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
PURPOSE_LABELS = {
    "card_read": N_("Card read (to fill the form)"),
    "prereg_fetch": N_("Pre-registration received"),
    "print": N_("Form printed"),
    "clerk_view": N_("Viewed by a clerk"),
    "forward": N_("Sent to the core system"),
    "log_print": N_("Exchange log printed for the person"),
}


@bp.before_request
def counter_language():
    g.lang = STAFF_FALLBACKS.get(g.get("lang"), g.get("lang"))


def tr(msgid: str, **variables) -> str:
    """gettext, with each translation looked up once per request: the queue and the figures
    repeat the same few words hundreds of times."""
    cache = g.setdefault("_counter_translations", {})
    key = (str(get_locale()), msgid)  # force_locale (the resident's printout) must not hit the cache
    pattern = cache.get(key)
    if pattern is None:
        pattern = cache[key] = _(msgid)  # no variables: the translation itself, unformatted
    return pattern % variables if variables else pattern


def label_of(table: dict, key) -> str:
    """The translated label of a code (a state, a source…), or the code itself when unknown."""
    msgid = table.get(key) if key is not None else None
    return tr(msgid) if msgid else (key or "")


def staff_languages() -> list[tuple[str, str]]:
    from flask import current_app
    return [(c, LANGUAGES[c]["native"]) for c in current_app.config["MADOGUCHI"].languages.available
            if c not in STAFF_FALLBACKS]


def as_local(dt: datetime | None) -> datetime | None:
    return in_japan(dt) if dt else None


def local_time(dt: datetime | None) -> str:
    return as_local(dt).strftime("%H:%M") if dt else ""


def local_datetime(dt: datetime | str | None) -> str:
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    if dt is None:
        return ""
    local = as_local(dt)
    if local.date() == today_in_japan():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def minutes(td: timedelta | None) -> str:
    if td is None:
        return "—"
    total = int(td.total_seconds() // 60)
    if total < 60:
        return tr("%(n)d min", n=total)
    return tr("%(h)d h %(m)02d min", h=total // 60, m=total % 60)


def display_value(f: FieldDef | None, value, lang: str) -> str:
    """A stored value as a clerk reads it (labels for choices, 和暦 beside dates)."""
    if value is None or value == "":
        return ""
    if f is None:
        return str(value)
    if f.type == "choice":
        return f.choice_label(value, lang)
    if f.type == "checkbox":
        return _("Yes") if value else _("No")
    if f.type == "date":
        try:
            return f"{value}（{format_wareki(date.fromisoformat(value))}）"
        except ValueError:
            return str(value)
    if f.type == "postal_code":
        return format_postal_code(value)
    return str(value)


def relationship_label(value: str | None, lang: str) -> str:
    if not value:
        return ""
    return text_in(get_catalogue().relationships.get(value), lang) or value


def event_label(ev) -> str:
    """One line of the audit trail, without the values (the corrections table shows those)."""
    catalogue = get_catalogue()
    lang = g.get("lang", "ja")
    if ev.kind == "created":
        return _("Created")
    if ev.kind == "state":
        return _("State: %(old)s → %(new)s", old=label_of(STATE_LABELS, ev.old) if ev.old else "",
                 new=label_of(STATE_LABELS, ev.new))
    if ev.kind == "field":
        label = catalogue.field(ev.field).label_in(lang) if catalogue.known_field(ev.field or "") else ev.field
        return _("Value changed: %(field)s", field=label)
    if ev.kind == "printed":
        return _("Printed again") if ev.reason == "reprint" else label_of(PURPOSE_LABELS, "print")
    if ev.kind == "card_read":
        card = (ev.new or {}).get("card") if isinstance(ev.new, dict) else None
        return _("Card read: %(card)s", card=label_of(SOURCE_LABELS, "licence" if card in ("licence", "driving_licence")
                                                      else "card"))
    return ev.kind


def source_badge(source: str | None) -> Markup:
    if not source:
        return Markup("")
    label = label_of(SOURCE_LABELS, source)
    return Markup('<span class="source source-{}">{}</span>').format(source, label)


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
        "minutes": minutes,
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


# Views register themselves on `bp`.
from counter import admin, auth, exchange, views  # noqa: E402,F401


def init_app(app):
    """The core system's PULL API beside the clerk screens, and the forwarding worker
    (a service: it runs under `madoguchi serve`)."""
    from counter import forwarding, pull_api

    app.register_blueprint(pull_api.bp, url_prefix="/counter/api/v1")
    add_service(app, forwarding.start_service)
