"""Receiving a kiosk PC's upload: the application a kiosk apart from the office made and printed.

    receive_kiosk_upload(db, config, kiosk_id=, prefix=, body=) -> Received(application, created)

The caller (kiosk.office's API) has checked the device token, which gives the kiosk's id and its
reception prefix, and parsed the JSON body. The upload is stored once, as the kiosk sent it
(state `submitted` or `printed`), with the kiosk's own exchange-log entries re-told into the
office's chain, all in one transaction. A retry after a lost answer (the same kiosk, the same
application) is answered with the stored application (`created` False), moving it from
submitted to printed if the kiosk printed it since, and logging the exchanges it reports that the
office has not logged yet (a kiosk sends every exchange the office has not acknowledged; one
already logged is not logged twice). Refusals are coded errors, and nothing is written:
- `UploadRefused`: `not_an_upload`, `wrong_kiosk` (the body speaks for another kiosk),
  `bad_id`, `bad_state`, `bad_reception_number`, `foreign_reception_number` (not this kiosk's
  prefix; details `prefix`), `conflict` (an application with that id that is not this upload),
  `other_kiosks_application`;
- `ValidationError` (code `invalid`): the values, as core.forms checks them.
An upload's `status_key` (base64 of 16 bytes; optional) is the key of the status page the kiosk PC
printed on the slip's QR: a new application keeps it (core.progress), so the slip opens its page.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from core import exchange_log as xlog
from core import progress
from core.application import Application, Source, State, is_application_id
from core.catalogue import get_catalogue
from core.config import Config
from core.errors import MadoguchiError
from core.forms import parse_application
from core.navigator import recorded_guide
from core.site import current_site
from core.store.applications import ApplicationStore
from core.store.db import write
from core.tokens import KEY_BYTES

RECEPTION_RE = re.compile(r"^[A-Z]{1,3}-\d{3,6}$")
# The exchanges a kiosk PC reports with its upload (it logged them in its own chain).
REPORTED_PURPOSES = ("card_read", "prereg_fetch", "print")


class UploadRefused(MadoguchiError):
    code = "not_an_upload"


@dataclass(frozen=True)
class Received:
    application: Application
    created: bool  # False: the office had it already (a retry)


def receive_kiosk_upload(db: sqlite_utils.Database, config: Config, *, kiosk_id: str, prefix: str,
                         body: Any) -> Received:
    """Store an application kiosk `kiosk_id` (reception prefix `prefix`) made, once."""
    if not isinstance(body, dict) or not isinstance(body.get("application"), dict):
        raise UploadRefused("the body is not an upload")
    if body.get("kiosk_id") != kiosk_id:
        raise UploadRefused("the upload names another kiosk", code="wrong_kiosk")
    actor = f"kiosk:{kiosk_id}"
    app = _application_from_upload(body["application"], actor)
    if app.reception_number is not None and not app.reception_number.startswith(f"{prefix}-"):
        # Numbers stay unique only while each kiosk hands out its own letters.
        raise UploadRefused("the reception number is not this kiosk's", code="foreign_reception_number",
                            prefix=prefix)
    store = ApplicationStore(db)
    with write(db):
        existing = store.find(app.id)
        if existing is None:
            key = _status_key(body.get("status_key"))
            if key is not None:   # the key the kiosk PC printed on the slip opens the status page
                progress.remember_key(db, app.id, key)
            store.save(app)
            _log_reported(db, config, app, kiosk_id, body.get("exchanges"))
            return Received(app, created=True)
        if existing.channel != "kiosk":
            raise UploadRefused("another application has this id", code="conflict")
        if _made_by(store, existing) != actor:
            raise UploadRefused("another kiosk made this application", code="other_kiosks_application")
        # A retry after a lost answer: the same kiosk, the same application.
        if existing.data != app.data or existing.reception_number != app.reception_number:
            raise UploadRefused("the upload differs from the stored application", code="conflict")
        if existing.state == State.SUBMITTED and app.state == State.PRINTED:
            existing.transition(State.PRINTED, actor)
            store.save(existing)
        _log_reported(db, config, existing, kiosk_id, body.get("exchanges"))
        return Received(existing, created=False)


def _status_key(text: Any) -> bytes | None:
    """The status key of an upload (base64 of 16 bytes), or None."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    return key if len(key) == KEY_BYTES else None


def _made_by(store: ApplicationStore, app: Application) -> str | None:
    """The actor that made an application: its "created" event's ("kiosk:<id>" for a kiosk's)."""
    return next((e.actor for e in store.events(app.id) if e.kind == "created"), None)


def _application_from_upload(raw: dict[str, Any], actor: str) -> Application:
    app_id, state = raw.get("id"), raw.get("state")
    if not (isinstance(app_id, str) and is_application_id(app_id)):
        raise UploadRefused("bad application id", code="bad_id")
    if state not in (State.SUBMITTED, State.PRINTED):
        raise UploadRefused("only submitted or printed applications are uploaded", code="bad_state")
    number = raw.get("reception_number")
    if number is not None and not (isinstance(number, str) and RECEPTION_RE.match(number)):
        raise UploadRefused("bad reception number", code="bad_reception_number")
    data = raw.get("data")
    if not isinstance(data, dict):
        raise UploadRefused("no data")
    procs, values = parse_application({"procedures": raw.get("procedures"), **data}, get_catalogue())
    sources = raw.get("sources")
    sources = sources if isinstance(sources, dict) else {}
    allowed = {str(s) for s in Source if s is not Source.CLERK}
    sources = {k: v for k, v in sources.items() if k in values and isinstance(v, str) and v in allowed}
    office = raw.get("office")
    known = isinstance(office, str) and any(o.id == office for o in current_site().offices)
    app = Application.create(procs, values, Source.TYPED, actor=actor, channel="kiosk", sources=sources,
                             application_id=app_id, office=office if known else None)
    try:
        app.created_at = datetime.fromisoformat(raw.get("created_at") or "")
    except (TypeError, ValueError):
        pass
    app.reception_number = number
    licence = raw.get("licence")
    if isinstance(licence, dict) and licence.get("card") == "licence":
        app.note(actor, "card_read", new={k: licence.get(k) if isinstance(licence.get(k), str) else None
                                          for k in ("address", "address_at_issue")} | {"card": "licence"})
    record = recorded_guide(raw.get("guide"), get_catalogue())
    if record:
        app.note(actor, "guide", new=record)
    app.transition(State.SUBMITTED, actor)
    if state == State.PRINTED:
        app.transition(State.PRINTED, actor)
    return app


def reported_exchanges(exchanges: Any) -> list[dict[str, str]]:
    """The exchanges of an upload body worth re-telling, as the office keeps them, each once."""
    out: dict[tuple[str, ...], dict[str, str]] = {}
    for e in exchanges if isinstance(exchanges, list) else []:
        if not isinstance(e, dict) or e.get("purpose") not in REPORTED_PURPOSES:
            continue
        kept = {"purpose": e["purpose"], "counterparty": str(e.get("counterparty") or "")[:40],
                "at": str(e.get("at") or "")[:40], "payload_sha256": str(e.get("payload_sha256") or "")[:64],
                "result": str(e.get("result") or "ok")[:20]}
        out.setdefault(tuple(kept.values()), kept)
    return list(out.values())


def _log_reported(db: sqlite_utils.Database, config: Config, app: Application, kiosk_id: str,
                  exchanges: Any) -> None:
    """The kiosk's own exchange-log entries, re-told into the office's chain (those not yet told)."""
    actor = f"kiosk:{kiosk_id}"
    told = {(e["purpose"], e["counterparty"], e["result"], e["payload_sha256"])
            for e in xlog.entries(db, application_id=app.id) if e["actor"] == actor}
    for e in reported_exchanges(exchanges):
        payload = {"reported_by": kiosk_id, "at": e["at"], "payload_sha256": e["payload_sha256"]}
        if (e["purpose"], e["counterparty"], e["result"], xlog.payload_digest(payload)) in told:
            continue
        xlog.append(db, config, actor=actor, counterparty=e["counterparty"], purpose=e["purpose"],
                    application_id=app.id, person=xlog.Person.of(app.data), result=e["result"], payload=payload)
