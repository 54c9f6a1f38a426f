"""What the clerk screens show for codes and values: the labels of states, sources, roles,
channels and exchange purposes, Japan's times, values as a clerk reads them, the audit
trail's lines. Words for error codes are in the one table, web.messages."""
from datetime import date, datetime, timedelta

from flask import g
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup

from core.application import State
from core.catalogue import FieldDef, get_catalogue, text_in
from core.clock import in_japan, today_in_japan
from core.config import LANGUAGES
from core.japanese import format_postal_code, format_wareki


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
    "reprint": N_("Form printed again"),
    "clerk_view": N_("Viewed by a clerk"),
    "correction": N_("Value corrected by a clerk"),
    "confirm": N_("Confirmed by a clerk (identity checked)"),
    "reject": N_("Rejected by a clerk"),
    "forward": N_("Sent to the core system"),
    "log_print": N_("Exchange log printed for the person"),
}
# 本人確認書類 (core.services.casework.ID_DOCUMENT_KINDS)
ID_DOCUMENT_LABELS = {
    "mynumber_card": N_("My Number card"),
    "driving_licence": N_("Driver's licence"),
    "residence_card": N_("Residence card (在留カード)"),
    "passport": N_("Passport"),
    "other": N_("Other document"),
}


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


def full_datetime(dt: datetime | str | None) -> str:
    """Date and time in Japan, always with the date (the exchange log's entries)."""
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    return as_local(dt).strftime("%Y-%m-%d %H:%M") if dt else ""


def local_datetime(dt: datetime | str | None) -> str:
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    if dt is None:
        return ""
    local = as_local(dt)
    if local.date() == today_in_japan():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def whole_minutes(n: float | None) -> str:
    """Minutes counted whole (the figures' per-minute bins), written as minutes() writes them;
    each once per request (a year's figures repeat the same few hundred values)."""
    if n is None:
        return "—"
    cache = g.setdefault("_counter_whole_minutes", {})
    key = (g.get("lang"), int(n))
    text = cache.get(key)
    if text is None:
        text = cache[key] = minutes(timedelta(minutes=int(n)))
    return text


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
    if ev.kind == "guide":
        return _("Procedure guide answered")
    if ev.kind == "purged":
        return _("Personal data deleted: the retention period ended")
    if ev.kind == "identity_check" and isinstance(ev.new, dict):
        kinds = "、".join(label_of(ID_DOCUMENT_LABELS, d.get("kind")) for d in ev.new.get("documents") or []
                         if isinstance(d, dict))
        return _("Identity checked: %(documents)s", documents=kinds)
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
