"""The application (申請): its data, where each value came from, its states and its audit trail.

Pure domain code: changes happen in memory and are recorded as events; `core.store`
persists the record and its new events in one transaction.
"""
from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from core.errors import TransitionError


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    PRINTED = "printed"
    CONFIRMED = "confirmed"
    FORWARDED = "forwarded"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.DRAFT: frozenset({State.SUBMITTED, State.CANCELLED}),
    State.SUBMITTED: frozenset({State.PRINTED, State.REJECTED, State.CANCELLED}),
    State.PRINTED: frozenset({State.CONFIRMED, State.REJECTED, State.CANCELLED}),
    State.CONFIRMED: frozenset({State.FORWARDED}),
    State.FORWARDED: frozenset(),
    State.REJECTED: frozenset(),
    State.CANCELLED: frozenset(),
}


# Open: a clerk may still correct it. Closed: its values are final.
OPEN_STATES = (State.DRAFT, State.SUBMITTED, State.PRINTED)
CLOSED_STATES = (State.CONFIRMED, State.FORWARDED, State.REJECTED, State.CANCELLED)


class Source(StrEnum):
    """Where a value came from; shown to the clerk next to each value."""

    CARD = "card"          # My Number card, 券面事項入力補助AP
    LICENCE = "licence"    # IC driver's licence
    QR = "qr"              # pre-registration on the resident's phone
    TYPED = "typed"        # typed at the kiosk or by the clerk for the visitor
    CLERK = "clerk"        # corrected by a clerk (with a reason)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


# Crockford base32: no I, L, O, U, so ids survive being read aloud or typed from paper.
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_LENGTH = 16  # 80 random bits


def new_application_id() -> str:
    n = int.from_bytes(secrets.token_bytes(10), "big")
    return "".join(_ID_ALPHABET[(n >> (5 * i)) & 31] for i in reversed(range(ID_LENGTH)))


def is_application_id(text: str) -> bool:
    return isinstance(text, str) and len(text) == ID_LENGTH and all(c in _ID_ALPHABET for c in text)


# The QR printed on a form: a prefix, so a scanner can tell it from a pre-registration token.
# Bump the version digit if the format ever changes. Upper case only: QR alphanumeric mode.
FORM_CODE_PREFIX = "MDGF1:"


def form_code(application_id: str) -> str:
    return FORM_CODE_PREFIX + application_id


def parse_form_code(text: str) -> str | None:
    """The application id in a scanned form code (also typed by a USB scanner), or None."""
    text = (text or "").strip().upper()
    if text.startswith(FORM_CODE_PREFIX) and is_application_id(text[len(FORM_CODE_PREFIX):]):
        return text[len(FORM_CODE_PREFIX):]
    return None


@dataclass
class Event:
    """One entry of the audit trail: who did what when, old → new, and why."""

    application_id: str
    at: datetime
    actor: str
    kind: str                # created | state | field | printed | note
    field: str | None = None
    old: Any = None
    new: Any = None
    reason: str | None = None
    id: int | None = None    # set once stored


@dataclass
class Application:
    id: str
    procedures: list[str]
    data: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    state: State = State.DRAFT
    channel: str = "counter"
    reception_number: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    version: int = 0
    pending_events: list[Event] = field(default_factory=list, repr=False)

    @classmethod
    def create(cls, procedures: list[str], data: dict[str, Any], source: Source | str,
               actor: str, channel: str, sources: dict[str, str] | None = None,
               application_id: str | None = None, office: str | None = None) -> Application:
        """A new draft; `sources` may name a different origin per field (card vs typed).

        `application_id` keeps an id chosen earlier (the pre-registration's, or one already
        written in the exchange log when the card was read); by default a new one is made.
        `office` (an id of the site's offices.toml) is where it was made, kept in the `created`
        event for the figures per office."""
        if application_id is not None and not is_application_id(application_id):
            raise ValueError("not an application id")
        app = cls(id=application_id or new_application_id(), procedures=list(procedures), channel=channel)
        app.data = copy.deepcopy(data)
        app.sources = {k: str((sources or {}).get(k, source)) for k in data}
        made = {"procedures": app.procedures, "channel": channel}
        if office:
            made["office"] = office
        app._record(actor, "created", new=made)
        return app

    def _record(self, actor: str, kind: str, **kw) -> Event:
        now = utcnow()
        ev = Event(self.id, now, actor, kind, **kw)
        self.pending_events.append(ev)
        self.updated_at = now
        return ev

    def can_move_to(self, to: State) -> bool:
        return to in TRANSITIONS[self.state]

    def transition(self, to: State | str, actor: str, reason: str | None = None) -> Event:
        to = State(to)
        if not self.can_move_to(to):
            raise TransitionError(
                f"application cannot go from {self.state} to {to}",
                code=f"illegal_transition_{self.state}_to_{to}", from_state=str(self.state), to_state=str(to),
            )
        old, self.state = self.state, to
        return self._record(actor, "state", old=str(old), new=str(to), reason=reason)

    def set_field(self, name: str, value: Any, source: Source | str, actor: str,
                  reason: str | None = None) -> Event | None:
        """Change one value; records old → new. No event when nothing changes."""
        if self.state in CLOSED_STATES:
            raise TransitionError(f"fields cannot change in state {self.state}", code="application_closed")
        if Source(source) is Source.CLERK and not (reason and reason.strip()):
            raise TransitionError("a clerk's correction needs a reason", code="reason_required")
        old = self.data.get(name)
        if old == value:
            return None
        if value is None:
            self.data.pop(name, None)
            self.sources.pop(name, None)
        else:
            self.data[name] = copy.deepcopy(value)
            self.sources[name] = str(Source(source))
        return self._record(actor, "field", field=name, old=old, new=value, reason=reason)

    def note(self, actor: str, kind: str, reason: str | None = None, **kw) -> Event:
        """Record something that is not a change of data or state (e.g. printed again)."""
        return self._record(actor, kind, reason=reason, **kw)

    def to_json_form(self) -> dict[str, Any]:
        """The one JSON form of an application (see core.forms)."""
        return {"procedures": list(self.procedures), **copy.deepcopy(self.data)}


# --- what the audit trail says --------------------------------------------------------------

def is_print_event(ev: Event) -> bool:
    return ev.kind == "printed" or (ev.kind == "state" and ev.new == str(State.PRINTED))


def is_correction(ev: Event) -> bool:
    return ev.kind == "field" and (ev.actor or "").startswith("clerk:")


def values_as_printed(app: Application, events: list[Event]) -> dict[str, Any] | None:
    """The values on the last printed form: the current values with every field change
    made after the last print undone. None when the form was never printed."""
    last = max((i for i, ev in enumerate(events) if is_print_event(ev)), default=None)
    if last is None:
        return None
    data = copy.deepcopy(app.data)
    for ev in reversed(events[last + 1:]):
        if ev.kind != "field" or not ev.field:
            continue
        if ev.old is None:
            data.pop(ev.field, None)
        else:
            data[ev.field] = copy.deepcopy(ev.old)
    return data


def changed_since_print(app: Application, events: list[Event]) -> set[str] | None:
    printed = values_as_printed(app, events)
    if printed is None:
        return None
    return {k for k in set(printed) | set(app.data) if printed.get(k) != app.data.get(k)}
