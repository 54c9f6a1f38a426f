"""The words for a person's exchange log (core.exchange_view's rows), on every surface's pages
and on the printed log: the kiosk's "who used my information", the counter's 開示 and prereg's
status page say the same things in the same seven languages."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from flask import g
from flask_babel import gettext as _
from flask_babel import lazy_gettext as N_

from core.exchange_view import Row

# マイナポータル's detail fields, in its order, then what was done and why.
HEADERS = (
    ("number", N_("Management number")),
    ("status", N_("Exchange status")),
    ("at", N_("Date and time")),
    ("agency", N_("Organisation")),
    ("affair", N_("Affair")),
    ("procedures", N_("Procedure concerned")),
    ("information", N_("Information exchanged")),
    ("kind", N_("Kind of exchange")),
    ("why", N_("Why")),
)
STATUS = {"done": N_("Provided"), "failed": N_("Error"), "refused": N_("Refused")}
KINDS = {
    "card_read": N_("Card read"), "receive": N_("Received"), "print": N_("Printed"), "view": N_("Viewed"),
    "correct": N_("Correction"), "confirm": N_("Checked"), "reject": N_("Turned down"), "send": N_("Sent"),
    "hand_over": N_("Handed over"), "show": N_("Shown to you"), "other": N_("Other"),
}
WHY = {
    "card_read": N_("To fill in your forms from your card"),
    "prereg_fetch": N_("To take in what you entered on your smartphone"),
    "print": N_("To print your application forms"),
    "reprint": N_("To print your application forms again"),
    "clerk_view": N_("A clerk checked your application"),
    "correction": N_("A clerk corrected your application"),
    "confirm": N_("A clerk accepted your application after checking your identity"),
    "reject": N_("A clerk turned down your application"),
    "forward": N_("To send your application to the city's core system"),
    "log_print": N_("To hand you this record"),
    "disclosure": N_("You asked to see this record"),
}
AGENCIES = {
    "kiosk": N_("Counter kiosk"), "printer": N_("Printer at the counter"), "core_system": N_("Core system"),
    "card_reader": N_("Card reader of the counter kiosk"), "prereg_server": N_("Pre-registration server"),
    "system": N_("Madoguchi system"), "section": N_("City office counter"),
}
NONE = "—"


def joined(items: Iterable[str]) -> str:
    """A list as the language writes one: 、 in Japanese and Chinese, commas otherwise."""
    lang = g.get("lang") or "ja"
    return ("、" if lang in ("ja", "ja-easy", "zh") else ", ").join(items)


def agency(row: Row) -> str:
    who = row.agency.section or str(AGENCIES.get(row.agency.kind, AGENCIES["system"]))
    return _("%(city)s %(who)s", city=row.agency.city, who=who) if row.agency.city else who


def affair(row: Row) -> str:
    if row.affairs:
        return joined(row.affairs)
    if row.kind in ("hand_over", "show"):
        return _("Disclosure of personal information to the person")
    return _("Counter services of the city")


def information(row: Row) -> str:
    if row.information:
        return joined(row.information)
    return _("What the forms hold") if row.procedures and row.kind in ("print", "receive", "card_read", "send") \
        else NONE


def texts(row: Row) -> dict[str, str]:
    """Every column of a row in the page's language (HEADERS' keys)."""
    return {
        "number": row.number,
        "status": str(STATUS.get(row.status, row.status)),
        "at": row.at_text,
        "agency": agency(row),
        "affair": affair(row),
        "procedures": joined(row.procedures) or NONE,
        "information": information(row),
        "kind": str(KINDS.get(row.kind, KINDS["other"])),
        "why": str(WHY.get(row.purpose, KINDS["other"])),
    }


def printed_log(entries: list[dict], *, name: str, birth_date: str, where, head: dict) -> bytes:
    """A person's log on paper (printing.log_pdf), in Japanese whatever the screen's language: the
    office's document, the same at the counter and at the kiosk. `entries` oldest first, as
    core.services.disclosure gives them; `where` (lazy words) is where it was issued; `head` is
    core.exchange_log.head."""
    from flask_babel import force_locale

    from core.application import utcnow
    from core.catalogue import get_catalogue
    from core.exchange_view import rows
    from core.site import current_site
    from printing import log_pdf

    previous = g.get("lang")
    with force_locale("ja"):
        g.lang = "ja"
        try:
            return log_pdf.render(log_page(rows(entries, get_catalogue(), "ja", current_site()), name=name,
                                           birth_date=birth_date, issued_at=utcnow(), where=str(where),
                                           head_seq=head["seq"], head_hash=head["entry_hash"]))
        finally:
            g.lang = previous


def log_page(rows: list[Row], *, name: str, birth_date: str, issued_at: datetime, where: str, head_seq: int,
             head_hash: str):
    """The page (printing.log_pdf.LogPage) of a person's rows, in the current language."""
    from printing import log_pdf

    return log_pdf.LogPage(
        title=_("Record of the use of your personal information (exchange log)"),
        person_lines=[(_("Name"), _("%(name)s (honorific)", name=name)),
                      (_("Date of birth"), log_pdf.japanese_date(date.fromisoformat(birth_date)))],
        issued_line=_("Issued on %(date)s at %(where)s.", date=log_pdf.japanese_datetime(issued_at), where=where),
        intro=_("This is every time your personal information was read, received, printed, viewed or sent "
                "by this office's no-writing counter system, newest first. If anything here surprises you, "
                "please ask at the counter."),
        headers=[str(label) for key, label in HEADERS if key != "why"],
        rows=[[t["number"], t["status"], t["at"], t["agency"], t["affair"], t["procedures"], t["information"],
               f"{t['kind']}（{t['why']}）"] for t in map(texts, rows)],
        empty_text=_("There are no records."),
        footer_note=_("The log is kept so that any change to it can be detected (each entry carries a hash of "
                      "the one before it). Entries shown: %(n)d. Latest entry of the whole log: no. %(seq)s, "
                      "check value %(hash)s.", n=len(rows), seq=head_seq, hash=head_hash[:16]),
        page_label=lambda n: _("Page %(n)d", n=n),
        widths=[12, 8, 10, 16, 17, 18, 20, 20],   # 管理番号 (ten digits) on one line
        landscape=True,
    )
