"""The visit: what the kiosk knows about the visitor in front of it, and the rules of the flow.

No Flask here: the blueprint drives it and tests call it directly. Personal data lives only
in a `Visit`, in the server's memory, for the length of one visit; wiping the visit drops it.
Nothing personal goes into the browser's cookie (the session holds the visit's random id).
"""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.application import Source, new_application_id
from core.catalogue import Catalogue, FieldDef
from core.clock import today_in_japan
from core.forms import parse_application, prune_inapplicable
from core.navigator import Facts, Question, rechosen, starting_choice

if TYPE_CHECKING:  # the card reader is loaded only where it is used (kiosk.devices)
    from hardware.cards.model import CardData



@dataclass
class CardRead:
    """What was read from an ID card: the kind of card and its fields as JSON-form values."""

    kind: str                         # "mynumber" | "licence"
    fields: dict[str, Any]            # name, kana, address, birth_date (YYYY-MM-DD), sex
    gaiji: list[dict] = field(default_factory=list)   # characters the card gave as 〓 (hardware.cards.Gaiji)
    address_at_issue: str | None = None  # licence only: the address printed at issue, when a later one exists
    expiry: str | None = None         # licence only (the My Number card's is not on the AP read): YYYY-MM-DD

    @property
    def expired(self) -> bool:
        """Past its last valid day (Japan's date): the visitor and the clerk are told."""
        return bool(self.expiry) and self.expiry < today_in_japan().isoformat()

    @property
    def source(self) -> Source:
        return Source.LICENCE if self.kind == "licence" else Source.CARD

    @property
    def counterparty(self) -> str:
        return "driving_licence" if self.kind == "licence" else "mynumber_card"


@dataclass
class PrintStatus:
    state: str = "idle"               # idle | rendering | printing | done | failed
    error: str | None = None          # a printer / printing error code
    attempts: int = 0
    started: float | None = None      # monotonic time the current attempt began
    retryable: bool = True


@dataclass
class Visit:
    """One visitor's time at the kiosk, from the start screen to the reception number."""

    id: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    created: float = field(default_factory=time.monotonic)
    touched: float = field(default_factory=time.monotonic)
    screen: str = "start"             # the screen last shown (device events depend on it)
    path: str | None = None           # "card" | "qr"
    card_inserted: bool = False
    card: CardRead | None = None
    application_id: str | None = None  # chosen when data first comes in (logged under it)
    life_event: str | None = None
    guide: dict[str, bool] = field(default_factory=dict)   # 手続きナビ's answers
    guided: bool = False              # the procedures were pre-selected from the guide once
    procedures: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    asked: set[str] = field(default_factory=set)
    # Kana questions' answers as read from the kanji the visitor chose (kana → ヤマダ　タロウ),
    # shown in the kana question until it is answered.
    readings: dict[str, str] = field(default_factory=dict)
    error: str | None = None          # code of a problem to show on the current screen
    tries: int | None = None          # card PIN tries left, as last known
    card_kind: str | None = None      # kind of the card on the reader, before it is read
    application: Any = None           # core.application.Application once submitted
    exchanges: list[dict] = field(default_factory=list)   # exchange-log entries written (kiosk PC mode)
    pdf: bytes | None = None          # the rendered forms, kept for a retry after printer trouble
    print: PrintStatus = field(default_factory=PrintStatus)
    reception_number: str | None = None
    status_base: str | None = None    # the server as the kiosk reached it (the slip QR without a public_url)
    finished: bool = False            # printed: personal data dropped, only the number stays
    next_steps: list[str] = field(default_factory=list)   # procedure ids, for "where to go next"
    processing: bool = False          # a scanned code is being opened
    card_removed: bool = False        # taken off the reader while the forms were printing
    # The card-read person's own exchange log (core.exchange_view.detail dicts), fetched once a visit.
    own_log: list[dict] | None = None
    own_log_head: dict | None = None  # the chain head (seq, entry_hash) of the log it came from
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def touch(self) -> None:
        self.touched = time.monotonic()

    def idle_seconds(self, now: float | None = None) -> float:
        return (now or time.monotonic()) - self.touched

    @property
    def has_personal_data(self) -> bool:
        return bool(self.card or self.values or self.readings or self.application is not None or self.pdf)

    def json_form(self) -> dict[str, Any]:
        return {"procedures": list(self.procedures), **self.values}

    def finish(self) -> None:
        """Printed: keep the reception number and where to go; drop everything personal."""
        self.next_steps = list(self.procedures)
        self.card = None
        self.values = {}
        self.sources = {}
        self.readings = {}
        self.asked = set()
        self.application = None
        self.pdf = None
        self.exchanges = []
        self.own_log = None
        self.own_log_head = None
        self.finished = True
        self.screen = "done"


class VisitStore:
    """Visits by id, in memory. A visit idle for longer than `idle_limit` seconds is wiped
    when anyone next looks (the server-side half of the idle timeout)."""

    def __init__(self, idle_limit: float, on_expire: Callable[[Visit], None] | None = None):
        self.idle_limit = idle_limit
        self.on_expire = on_expire
        self._visits: dict[str, Visit] = {}
        self._lock = threading.RLock()

    def new(self) -> Visit:
        v = Visit()
        with self._lock:
            self._visits[v.id] = v
        return v

    def get(self, visit_id: str | None) -> Visit | None:
        if not visit_id:
            return None
        self.sweep()
        with self._lock:
            return self._visits.get(visit_id)

    def all(self) -> list[Visit]:
        with self._lock:
            return list(self._visits.values())

    def drop(self, visit_id: str | None) -> Visit | None:
        with self._lock:
            return self._visits.pop(visit_id, None) if visit_id else None

    def sweep(self, now: float | None = None) -> list[Visit]:
        """Wipe visits idle too long. A print in progress keeps its visit alive."""
        now = now or time.monotonic()
        with self._lock:
            stale = [v for v in self._visits.values()
                     if v.idle_seconds(now) > self.idle_limit and v.print.state not in ("rendering", "printing")]
            for v in stale:
                del self._visits[v.id]
        for v in stale:
            if self.on_expire:
                self.on_expire(v)
        return stale

    def __len__(self) -> int:
        return len(self._visits)


# --- data coming in --------------------------------------------------------------------

def card_fields(card_data: CardData) -> tuple[str, dict[str, Any], list[dict]]:
    """(kind, fields, gaiji) from a `hardware.cards.CardData`, as JSON-form values."""
    fields = {
        "name": card_data.name,
        "kana": card_data.kana,
        "address": card_data.address,
        "birth_date": card_data.birth_date.isoformat(),
        # A licence has no sex field: nothing is filled in for it (the visitor is asked).
        "sex": None if card_data.card == "licence" else card_data.sex,
    }
    fields = {k: v for k, v in fields.items() if v not in (None, "")}
    return card_data.card, fields, [g.as_dict() for g in card_data.gaiji]


def apply_card(visit: Visit, kind: str, fields: dict[str, Any], gaiji: list[dict] | None = None) -> None:
    visit.card = CardRead(kind, dict(fields), list(gaiji or []))
    visit.path = "card"
    if visit.application_id is None:
        visit.application_id = new_application_id()


def card_offer(visit: Visit, f, catalogue: Catalogue) -> str | None:
    """The card's value a question offers (a procedure's `card_offers`: the 前住所 of a 転入 from the
    card's address), when the question has no answer yet."""
    if visit.card is None or f.name in visit.values:
        return None
    for pid in visit.procedures:
        source = catalogue.get(pid).card_offers.get(f.name) if pid in catalogue.procedures else None
        if source and visit.card.fields.get(source):
            return str(visit.card.fields[source])
    return None


def licence_addresses(card: CardRead | None) -> dict[str, Any] | None:
    """For the clerk: a licence's current address and the one at issue (the counter shows both),
    and its expiry (an expired licence is flagged)."""
    if card is None or card.kind != "licence":
        return None
    return {"card": "licence", "address": card.fields.get("address"), "address_at_issue": card.address_at_issue,
            "expiry": card.expiry, "expired": card.expired}


def apply_prereg(visit: Visit, application_id: str, json_form: dict[str, Any], catalogue: Catalogue) -> None:
    """Take a pre-registration as the visit's answers; every value is marked as from the QR."""
    procs, values = parse_application(json_form, catalogue, complete=False)
    visit.path = "qr"
    visit.application_id = application_id
    visit.procedures = procs
    visit.values = values
    visit.sources = {k: str(Source.QR) for k in values}
    # The resident saw every question on the phone; only a missing required answer is asked again.
    visit.asked = {f.name for f in catalogue.fields_for(procs)}


def choose_procedures(visit: Visit, procedures: list[str], catalogue: Catalogue,
                      life_event: str | None = None) -> None:
    """Set the procedures; apply the life event's presets and what the card can fill."""
    procs = [p for p in dict.fromkeys(procedures) if p in catalogue.procedures]
    visit.procedures = procs
    visit.life_event = life_event
    if life_event and life_event in catalogue.life_events:
        for name, value in catalogue.event(life_event).presets.items():
            if catalogue.known_field(name) and name not in visit.values:
                visit.values[name] = value
                visit.sources[name] = str(Source.TYPED)
                visit.asked.add(name)
    if visit.card:
        fills = card_fillable(catalogue, procs)
        for name, value in visit.card.fields.items():
            if name in fills and visit.sources.get(name) != str(Source.TYPED):
                visit.values[name] = value
                visit.sources[name] = str(visit.card.source)
                visit.asked.add(name)
    wanted = {f.name for f in catalogue.fields_for(procs)} if procs else set()
    for name in list(visit.values):
        if name not in wanted:
            visit.values.pop(name)
            visit.sources.pop(name, None)
    _prune(visit, catalogue)


# --- 手続きナビ (core.navigator) -----------------------------------------------------------

def guide_facts(visit: Visit) -> Facts:
    """What the guide knows: the card's (or typed) birth date, the household, the answers."""
    values = dict(visit.card.fields if visit.card else {}) | visit.values
    return Facts.from_values(values, visit.guide, id_card=visit.card.kind if visit.card else None)


def guide_answers(visit: Visit, catalogue: Catalogue) -> dict[str, bool]:
    """The visitor's answers, with "yes" where the kiosk knew without asking (the My Number card
    just read): what the guide's record keeps, so the clerk sees the same reasons."""
    if not visit.life_event or visit.life_event not in catalogue.life_events:
        return dict(visit.guide)
    return catalogue.navigator.with_known_answers(visit.life_event, guide_facts(visit)).answers


def guide_questions(visit: Visit, catalogue: Catalogue) -> list[Question]:
    if not visit.life_event or visit.life_event not in catalogue.life_events:
        return []
    offered = set(catalogue.event(visit.life_event).procedures)
    return catalogue.navigator.questions_for(visit.life_event, guide_facts(visit), offered)


def next_guide_question(visit: Visit, catalogue: Catalogue) -> Question | None:
    return next((q for q in guide_questions(visit, catalogue) if q.id not in visit.guide), None)


def guide_suggestions(visit: Visit, catalogue: Catalogue) -> dict[str, tuple[dict, ...]]:
    """procedure id → 手続きナビ's reasons for it."""
    if not visit.life_event or visit.life_event not in catalogue.life_events:
        return {}
    offered = set(catalogue.event(visit.life_event).procedures)
    found = catalogue.navigator.suggest(visit.life_event, guide_facts(visit), offered)
    return {s.procedure: s.reasons for s in found}


def answer_guide(visit: Visit, question_id: str, yes: bool, catalogue: Catalogue) -> None:
    """Record an answer; changed after the procedures were chosen, it changes only what it decides."""
    before = list(guide_suggestions(visit, catalogue))
    visit.guide[question_id] = yes
    if visit.guided and visit.life_event in catalogue.life_events:
        visit.procedures = rechosen(visit.procedures, before, list(guide_suggestions(visit, catalogue)),
                                    catalogue.event(visit.life_event or "").required)


def start_procedures(visit: Visit, catalogue: Catalogue) -> None:
    """The first time the procedures screen shows: the event's required procedures and the guide's."""
    if visit.guided or visit.life_event not in catalogue.life_events:
        return
    event = catalogue.event(visit.life_event or "")
    visit.procedures = [p for p in starting_choice(event.required, list(guide_suggestions(visit, catalogue)))
                        if p in catalogue.procedures]
    visit.guided = True


def card_fillable(catalogue: Catalogue, procedures: list[str]) -> set[str]:
    """Fields the ID card may fill: only where every chosen form that has the field says so.

    (The card shows the address registered before a move: 住民異動届 does not take it as the
    new address, so a visit with 転入 and 児童手当 does not either.)"""
    out = set()
    for name in catalogue.card_fills(procedures):
        users = [p for p in procedures if name in catalogue.get(p).person_fields]
        if all(name in catalogue.get(p).card_fills for p in users):
            out.add(name)
    return out


def _prune(visit: Visit, catalogue: Catalogue) -> None:
    if not visit.procedures:
        return
    kept = prune_inapplicable(visit.values, catalogue, visit.procedures)
    for name in set(visit.values) - set(kept):
        visit.values.pop(name)
        visit.sources.pop(name, None)


def applicable_fields(visit: Visit, catalogue: Catalogue) -> list[FieldDef]:
    return [f for f in catalogue.fields_for(visit.procedures) if f.applies(visit.values)]


def next_field(visit: Visit, catalogue: Catalogue) -> FieldDef | None:
    """The next question: the first field that applies and the visitor has not seen yet."""
    for f in applicable_fields(visit, catalogue):
        if f.name not in visit.values and (f.name not in visit.asked or f.required):
            return f
    return None


def missing_required(visit: Visit, catalogue: Catalogue) -> list[FieldDef]:
    return [f for f in applicable_fields(visit, catalogue) if f.required and f.name not in visit.values]


def set_answer(visit: Visit, f: FieldDef, value: Any, catalogue: Catalogue) -> None:
    """The visitor's answer (typed at the kiosk). None clears an optional field."""
    visit.asked.add(f.name)
    if value is None or value == "" or value == []:
        visit.values.pop(f.name, None)
        visit.sources.pop(f.name, None)
    elif visit.values.get(f.name) != value:
        visit.values[f.name] = value
        visit.sources[f.name] = str(Source.TYPED)
    _prune(visit, catalogue)


def validated_form(visit: Visit, catalogue: Catalogue) -> tuple[list[str], dict[str, Any]]:
    """The visit's JSON form, checked as complete (raises ValidationError)."""
    return parse_application(visit.json_form(), catalogue, complete=True)
