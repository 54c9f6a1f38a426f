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
  confirmation `incomplete` (field `confirm`) and `corrections_unchecked`
  (field `checked_corrections`).
None of these actions writes an exchange-log entry: no data leaves the office here (the
confirmed record goes to the outbox, whose worker logs its delivery).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlite_utils

from core import answers, outbox
from core.application import OPEN_STATES, Application, Source, State, changed_since_print, is_application_id
from core.catalogue import FieldDef, get_catalogue
from core.config import Config
from core.errors import FieldError, NotFound, TransitionError, ValidationError
from core.forms import normalise_value, parse_application
from core.store.applications import ApplicationStore, ConcurrentUpdate
from core.store.db import write

MAX_REASON = 500


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
    return _save(db, app)


def confirm(db: sqlite_utils.Database, config: Config, app: Application, *, actor: str, expected_version: int | None,
            corrections_checked: bool = False) -> Application:
    """Confirm a printed application and queue its record for the core system (the outbox
    row is written in the same transaction). Values corrected after the form was printed
    need the resident to have checked them (`corrections_checked`), or a new print."""
    if app.state is not State.PRINTED:
        raise TransitionError(f"only a printed application can be confirmed (it is {app.state})",
                              code="not_printed")
    _check_version(app, expected_version)
    errors = []
    if completeness_problems(app):
        errors.append(FieldError("confirm", "incomplete", "values are missing or wrong"))
    if changed_since_print(app, ApplicationStore(db).events(app.id)) and not corrections_checked:
        errors.append(FieldError("checked_corrections", "corrections_unchecked",
                                 "values were corrected after the print and not checked"))
    if errors:
        raise ValidationError(errors)
    try:
        outbox.confirm(db, app, actor=actor)
    except ConcurrentUpdate as e:
        raise Stale(str(e)) from e
    return app


def reject(db: sqlite_utils.Database, config: Config, app: Application, *, actor: str, reason: str,
           expected_version: int | None) -> Application:
    """Reject an application, with a reason."""
    if not app.can_move_to(State.REJECTED):
        raise TransitionError(f"application cannot go from {app.state} to rejected",
                              code=f"illegal_transition_{app.state}_to_rejected")
    reason, reason_error = checked_reason(reason)
    if reason_error:
        raise ValidationError([reason_error])
    _check_version(app, expected_version)
    app.transition(State.REJECTED, actor=actor, reason=reason)
    return _save(db, app)


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


def _save(db: sqlite_utils.Database, app: Application) -> Application:
    try:
        with write(db):
            ApplicationStore(db).save(app)
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
