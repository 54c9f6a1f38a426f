"""A person's exchange log as マイナポータル's detail screen shows it (no Flask here).

Each entry becomes a `Row`: 管理番号 (`number`), 状況 (`status`), 日時 (`at`, Japan's time),
機関 (`agency`: who did it), 事務 (`affairs`), 事務手続 (`procedures`), やりとりされた情報の名称
(`information`: the fields' labels), and what was done (`kind`) and why (`purpose`).

The input is a list of plain dicts, as `core.exchange_log` gives them or as another server sent
them as JSON (`detail`): no database is needed. The output holds codes and the catalogue's and
site's texts in the asked language; the words for the codes are `web.exchange_words`, which every
surface's pages and the printed log use. Never a value: only the names of what was exchanged.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.catalogue import Catalogue, text_in
from core.clock import in_japan
from core.site import NO_SITE, Site

# What was done (the kind), by purpose; a purpose not here is "other".
KINDS = {
    "card_read": "card_read", "prereg_fetch": "receive", "print": "print", "reprint": "print",
    "clerk_view": "view", "correction": "correct", "confirm": "confirm", "reject": "reject",
    "forward": "send", "log_print": "hand_over", "disclosure": "show",
}
# Who did it (機関), by purpose; the others go by the actor (a clerk: the section; a kiosk).
AGENCIES = {
    "card_read": "card_reader", "prereg_fetch": "prereg_server", "print": "printer", "reprint": "printer",
    "forward": "core_system", "disclosure": "kiosk",
}
# The keys `detail` keeps: what the rows need, nothing that names the person (no subject_ref).
DETAIL_KEYS = ("seq", "at", "actor", "counterparty", "purpose", "result", "fields", "application_id", "procedures")


@dataclass(frozen=True)
class Agency:
    """Who did it: `kind` is section | kiosk | printer | core_system | card_reader |
    prereg_server | system; `city` the municipality's name, `section` a section's (kind section)."""
    kind: str
    city: str = ""
    section: str = ""


@dataclass(frozen=True)
class Row:
    number: str                    # 管理番号: the entry's place in the office's log, ten digits
    status: str                    # 状況: done | failed | refused
    at: datetime                   # 日時, in Japan's time
    agency: Agency                 # 機関
    affairs: tuple[str, ...]       # 事務 (the catalogue's; empty: the city's counter services)
    procedures: tuple[str, ...]    # 事務手続: the application's procedures, by name
    information: tuple[str, ...]   # やりとりされた情報の名称: field labels (empty: the whole form, or none)
    kind: str                      # what was done: a KINDS value or "other"
    purpose: str                   # why: the entry's purpose (a print after a print is "reprint")
    application_id: str | None

    @property
    def at_text(self) -> str:
        return self.at.strftime("%Y-%m-%d %H:%M")


def status_of(result: str | None) -> str:
    if result == "ok":
        return "done"
    if (result or "").startswith("rejected"):
        return "refused"
    return "failed"


def field_names(value: Any) -> list[str]:
    """The `fields` of an entry: a JSON list (as stored) or a list (as sent), names only."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [n for n in value if isinstance(n, str)] if isinstance(value, list) else []


def purposes(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """Each entry's purpose (oldest first), a print after a successful print of the same
    application being a `reprint`."""
    printed: set[str] = set()
    out = []
    for e in entries:
        purpose, app_id = str(e.get("purpose") or ""), e.get("application_id")
        if purpose == "print" and app_id:
            if app_id in printed:
                purpose = "reprint"
            elif e.get("result") == "ok":
                printed.add(app_id)
        out.append(purpose)
    return out


def detail(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An entry as one server hands it to another (JSON): what `rows` reads, no hashes, no subject."""
    out = {k: entry.get(k) for k in DETAIL_KEYS}
    out["fields"] = field_names(entry.get("fields"))
    out["procedures"] = [p for p in entry.get("procedures") or [] if isinstance(p, str)]
    return out


def rows(entries: Iterable[Mapping[str, Any]], catalogue: Catalogue, lang: str = "ja",
         site: Site = NO_SITE, newest_first: bool = True) -> list[Row]:
    """The rows of `entries` (oldest first, as the log gives them), newest first by default.
    Each entry may carry `procedures` (its application's procedure ids) for 事務 and 事務手続."""
    city = text_in(site.name, lang) or ""
    entries = list(entries)
    out = []
    for e, purpose in zip(entries, purposes(entries), strict=True):
        app_id = e.get("application_id") or None
        procs = [catalogue.get(p) for p in e.get("procedures") or [] if p in catalogue.procedures]
        out.append(Row(
            number=f"{int(e.get('seq') or 0):010d}",
            status=status_of(e.get("result")),
            at=in_japan(datetime.fromisoformat(str(e["at"]))),
            agency=_agency(purpose, str(e.get("actor") or ""), procs, city, site, lang),
            affairs=tuple(dict.fromkeys(a for a in (text_in(p.affair, lang) for p in procs) if a)),
            procedures=tuple(p.name(lang) for p in procs),
            information=tuple(dict.fromkeys(
                catalogue.field(n).label_in(lang) if catalogue.known_field(n) else n
                for n in field_names(e.get("fields")))),
            kind=KINDS.get(purpose, "other"),
            purpose=purpose,
            application_id=app_id,
        ))
    return out[::-1] if newest_first else out


def _agency(purpose: str, actor: str, procs: list, city: str, site: Site, lang: str) -> Agency:
    kind = AGENCIES.get(purpose)
    if kind is None:
        kind = {"clerk": "section", "kiosk": "kiosk"}.get(actor.partition(":")[0], "system")
    section = ""
    if kind == "section" and procs:
        # The section that takes the procedure's forms (the site's offices), else the procedure's own.
        sections = site.sections_for(procs[0].id)
        section = text_in(sections[0].name, lang) if sections else text_in(procs[0].section, lang)
    return Agency(kind, city, section or "")
