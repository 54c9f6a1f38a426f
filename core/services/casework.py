"""What a clerk does to an application at the counter: correct a value, confirm, reject.

One function per action; each takes the application as its caller loaded it (once per action:
`load`, which raises NotFound), checks its state and the version the clerk saw, and makes the
change and its audit events in one transaction, saved only if nobody changed the stored record
since it was loaded. Refusals are coded errors, and nothing is changed:
- `Stale` (code `stale`): someone else changed the application since the clerk saw it;
- `TransitionError`: `application_closed` (correct), `not_printed` (confirm),
  `illegal_transition_<state>_to_rejected` (reject);
- `ValidationError` whose field errors carry the codes: the value's (core.forms),
  `unknown_field`, `required`, `same_value`, `reason_required`, `reason_too_long`; for a
  confirmation `incomplete` (field `confirm`), `corrections_unchecked`
  (field `checked_corrections`), `identity_unchecked` and `identity_documents_short`
  (field `identity`; params `needed`), and from `read_identity_check` `invalid_choice`
  (`id_document_N`), `invalid_date` (`id_expires_N`), `description_required` and
  `too_long` (`id_description_N`).
Each action writes its exchange-log entry in the same transaction (`correction` with the
field's name, `confirm`, `reject`), so the application's log tells what the clerk did; the
payload's hash is kept, never a value. The confirmed record goes to the outbox, whose worker
logs its delivery (`forward`).

本人確認 (the identity check before confirming) has its one home here: `IdentityCheck`, the
documents a procedure needs (`documents_needed`), and its record, which goes into the audit
trail (event `identity_check`) and the forwarded record (`identity_check`, madoguchi.record/3).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlite_utils

from core import answers, outbox, progress
from core import exchange_log as xlog
from core.application import OPEN_STATES, Application, Source, State, changed_since_print, is_application_id
from core.catalogue import Catalogue, FieldDef, get_catalogue
from core.clock import today_in_japan
from core.config import Config
from core.errors import FieldError, MadoguchiError, NotFound, TransitionError, ValidationError
from core.forms import normalise_value, parse_application
from core.japanese import parse_date
from core.store.applications import ApplicationStore, ConcurrentUpdate
from core.store.db import write

MAX_REASON = 500

# 本人確認書類: the documents a clerk may record; all but "other" carry a photo.
ID_DOCUMENT_KINDS = ("mynumber_card", "driving_licence", "residence_card", "passport", "other")
PHOTO_ID_KINDS = frozenset(ID_DOCUMENT_KINDS[:4])
MAX_ID_DOCUMENTS = 2
MAX_DESCRIPTION = 40


@dataclass(frozen=True)
class IdDocument:
    """One identity document the clerk checked: its kind, its expiry when it has one, and for
    "other" what it was (健康保険証…). Never its number."""
    kind: str
    expires_on: date | None = None
    description: str = ""

    def expired(self, today: date) -> bool:
        return self.expires_on is not None and self.expires_on < today

    def as_record(self, today: date) -> dict[str, Any]:
        return {"kind": self.kind, "expires_on": self.expires_on.isoformat() if self.expires_on else None,
                "expired": self.expired(today), "description": self.description or None}


@dataclass(frozen=True)
class IdentityCheck:
    documents: tuple[IdDocument, ...]

    def expired(self, today: date) -> list[IdDocument]:
        return [d for d in self.documents if d.expired(today)]

    def as_record(self, actor: str, today: date) -> dict[str, Any]:
        """What the audit event and the forwarded record keep (checked_on: the day in Japan)."""
        return {"documents": [d.as_record(today) for d in self.documents], "checked_by": actor,
                "checked_on": today.isoformat(), "expired": bool(self.expired(today))}


def documents_needed(app: Application, catalogue: Catalogue | None = None,
                     check: IdentityCheck | None = None) -> int:
    """How many documents the application's procedures need (`id_documents` in their files;
    `id_documents_with_photo` when the check has a photo ID)."""
    catalogue = catalogue or get_catalogue()
    has_photo = check is not None and any(d.kind in PHOTO_ID_KINDS for d in check.documents)
    needed = 1
    for pid in app.procedures:
        if pid in catalogue.procedures:
            p = catalogue.procedures[pid]
            needed = max(needed, p.id_documents_with_photo if has_photo else p.id_documents)
    return needed


def read_identity_check(form: Mapping[str, Any]) -> tuple[IdentityCheck | None, list[FieldError]]:
    """The clerk's 本人確認 form: `id_document_N` (a kind, or empty), `id_expires_N` (a date in
    西暦 or 和暦, optional) and `id_description_N` (what an "other" document was), N = 1, 2.
    None when no document was chosen."""
    documents, errors = [], []
    for n in range(1, MAX_ID_DOCUMENTS + 1):
        kind = str(form.get(f"id_document_{n}") or "").strip()
        if not kind:
            continue
        if kind not in ID_DOCUMENT_KINDS:
            errors.append(FieldError(f"id_document_{n}", "invalid_choice", "not a document kind"))
            continue
        raw_expiry = " ".join(str(form.get(f"id_expires_{n}") or "").split())
        expires_on = None
        if raw_expiry:
            try:
                expires_on = parse_date(raw_expiry[:40])
            except (ValueError, OverflowError, MadoguchiError):
                errors.append(FieldError(f"id_expires_{n}", "invalid_date", "not a date"))
        description = " ".join(str(form.get(f"id_description_{n}") or "").split())
        if kind == "other" and not description:
            errors.append(FieldError(f"id_description_{n}", "description_required", "say what the document was"))
        elif len(description) > MAX_DESCRIPTION:
            errors.append(FieldError(f"id_description_{n}", "too_long", "too long", max_length=MAX_DESCRIPTION))
        documents.append(IdDocument(kind, expires_on, description if kind == "other" else ""))
    if errors:
        return None, errors
    return (IdentityCheck(tuple(documents)) if documents else None), []


class Stale(ConcurrentUpdate):
    """The application changed since the clerk saw it (another clerk, or a kiosk)."""

    code = "stale"


def load(db: sqlite_utils.Database, app_id: str) -> Application:
    """The application an action is about (NotFound for an unknown or malformed id)."""
    app = ApplicationStore(db).find(app_id) if is_application_id(app_id) else None
    if app is None:
        raise NotFound("no such application")
    return app


def correct(db: sqlite_utils.Database, config: Config, app: Application, *, actor: str, field: str, value: Any,
            reason: str, expected_version: int | None) -> Application:
    """Change one value as a clerk, with a reason. `value` is what the clerk typed (text; a
    date also in 和暦, a checkbox "yes"/"no"; a name asked in parts also as a mapping of its
    `family` and `given` parts), or the value itself for the household list."""
    if app.state not in OPEN_STATES:
        raise TransitionError(f"fields cannot change in state {app.state}", code="application_closed")
    catalogue = get_catalogue()
    f = catalogue.field(field) if catalogue.known_field(field) else None
    errors: list[FieldError] = []
    if f is None and field not in app.data:
        errors.append(FieldError(field, "unknown_field", "not a known field"))
        new = None
    elif f is None:  # a value the catalogue no longer knows: kept as text
        new = str(value or "").strip() or None
    else:
        new = _parse_value(f, value, field, errors, app.data)
    if not errors and new is None and f is not None and f.required and f.applies(app.data):
        errors.append(FieldError(field, "required", "required"))
    current = app.data.get(field)
    if f is not None and f.type == "household":
        current = current or None  # no members, stored as [] or not at all
    if not errors and new == current:
        errors.append(FieldError(field, "same_value", "same value"))
    reason, reason_error = checked_reason(reason)
    if reason_error:
        errors.append(reason_error)
    if errors:
        raise ValidationError(errors)
    _check_version(app, expected_version)
    app.set_field(field, new, Source.CLERK, actor=actor, reason=reason)
    return _save(db, config, app, actor=actor, purpose="correction", fields=[field], payload={field: new})


def confirm(db: sqlite_utils.Database, config: Config, app: Application, *, actor: str, expected_version: int | None,
            identity: IdentityCheck | None, corrections_checked: bool = False) -> Application:
    """Confirm a printed application and queue its record for the core system (the outbox
    row is written in the same transaction). Values corrected after the form was printed
    need the resident to have checked them (`corrections_checked`), or a new print. The
    identity check (本人確認) is required, with as many documents as the procedures need; an
    expired document is accepted but flagged (`expired` in the record)."""
    if app.state is not State.PRINTED:
        raise TransitionError(f"only a printed application can be confirmed (it is {app.state})",
                              code="not_printed")
    _check_version(app, expected_version)
    errors = []
    if identity is None:
        errors.append(FieldError("identity", "identity_unchecked", "no identity document recorded"))
    elif len(identity.documents) < (needed := documents_needed(app, check=identity)):
        errors.append(FieldError("identity", "identity_documents_short", "more documents needed", needed=needed))
    if completeness_problems(app):
        errors.append(FieldError("confirm", "incomplete", "values are missing or wrong"))
    if changed_since_print(app, ApplicationStore(db).events(app.id)) and not corrections_checked:
        errors.append(FieldError("checked_corrections", "corrections_unchecked",
                                 "values were corrected after the print and not checked"))
    if errors:
        raise ValidationError(errors)
    assert identity is not None
    checked = identity.as_record(actor, today_in_japan())
    app.note(actor, "identity_check", new=checked)
    try:
        with write(db):
            outbox.confirm(db, app, actor=actor, identity_check=checked)
            xlog.append(db, config, actor=actor, counterparty="madoguchi", purpose="confirm",
                        application_id=app.id, payload=checked, person=xlog.Person.of(app.data))
    except ConcurrentUpdate as e:
        app.pending_events.clear()
        raise Stale(str(e)) from e
    return app


def reject(db: sqlite_utils.Database, config: Config, app: Application, *, actor: str, reason: str,
           expected_version: int | None, bring: list[str] | tuple[str, ...] = (),
           note: str | None = None) -> Application:
    """Reject an application, with a reason; `bring` (codes of the catalogue's things_to_bring)
    and `note` (the clerk's words for the resident, optional) go to the resident's status page.
    Refusals: `unknown_thing_to_bring` (field `bring`, params `thing`), `too_long` (field
    `note`), besides the reason's."""
    if not app.can_move_to(State.REJECTED):
        raise TransitionError(f"application cannot go from {app.state} to rejected",
                              code=f"illegal_transition_{app.state}_to_rejected")
    reason, reason_error = checked_reason(reason)
    errors = [reason_error] if reason_error else []
    known = get_catalogue().things_to_bring
    codes = list(dict.fromkeys(c for c in bring if isinstance(c, str)))
    errors += [FieldError("bring", "unknown_thing_to_bring", "not a thing to bring", thing=c[:40])
               for c in codes if c not in known]
    note = " ".join((note or "").split()) or None
    if note and len(note) > MAX_REASON:
        errors.append(FieldError("note", "too_long", "note too long", max_length=MAX_REASON))
    if errors:
        raise ValidationError(errors)
    _check_version(app, expected_version)
    app.transition(State.REJECTED, actor=actor, reason=reason)
    if codes or note:
        app.note(actor, progress.RESIDENT_NOTE, new={"bring": codes, "note": note})
    return _save(db, config, app, actor=actor, purpose="reject", fields=[], payload={"reason": reason})


def checked_reason(text: str | None) -> tuple[str, FieldError | None]:
    """A clerk's reason on one line, and its problem (missing or too long) if any."""
    reason = " ".join((text or "").split())
    if not reason:
        return reason, FieldError("reason", "reason_required", "reason required")
    if len(reason) > MAX_REASON:
        return reason, FieldError("reason", "reason_too_long", "reason too long", max_length=MAX_REASON)
    return reason, None


def completeness_problems(app: Application) -> list[FieldError]:
    """What keeps the application from being complete (the one form parser's errors)."""
    try:
        parse_application(app.to_json_form(), get_catalogue(), complete=True)
    except ValidationError as e:
        return e.errors
    return []


def _check_version(app: Application, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != app.version:
        raise Stale("changed since the clerk saw it")


def _save(db: sqlite_utils.Database, config: Config, app: Application, *, actor: str, purpose: str,
          fields: list[str], payload: Any) -> Application:
    """Save the change with its exchange-log entry (the fields' names, the payload's hash)."""
    try:
        with write(db):
            ApplicationStore(db).save(app)
            xlog.append(db, config, actor=actor, counterparty="madoguchi", purpose=purpose,
                        application_id=app.id, payload=payload, person=xlog.Person.of(app.data),
                        fields=fields)
    except ConcurrentUpdate as e:
        raise Stale(str(e)) from e
    return app


def _parse_value(f: FieldDef, raw: Any, path: str, errors: list[FieldError], values: dict[str, Any]) -> Any:
    """What the clerk typed → the stored value (None = empty), read as every surface reads it."""
    catalogue = get_catalogue()
    if f.type == "household":
        return normalise_value(f, raw, path, errors, catalogue) or None
    typed = ({p: str(raw.get(p) or "") for p in f.parts} if f.parts and isinstance(raw, Mapping)
             else {"value": str(raw or "")})
    ans = answers.read(f, typed, catalogue, path=path, required=False, values=values)
    errors.extend(ans.errors)
    return ans.value
