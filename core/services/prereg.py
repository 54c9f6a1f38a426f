"""Opening a resident's pre-registration at the office: the QR scanned at a kiosk or a counter.

    open_preregistration(db, config, token_text, actor=, open_existing=) -> OpenedPrereg

Decodes the token, fetches the sealed application (this database, or the prereg server's PULL
API) and decrypts it with the token's key (core.sealed owns the table and the crypto), and logs
the fetch in the exchange log (purpose `prereg_fetch`, counterparty `prereg`, about the person
the form names). A pre-registration is made into one application only, under its own id:
- `open_existing=True` (the counter): when that application exists it is returned as
  `existing_application`, and nothing is fetched or logged;
- otherwise (the kiosk) it is refused, after the fetch, with `PreregInUse` (code
  `already_used`, details `app_id`): its forms were printed already, here or elsewhere. (The
  counter gets it too if a kiosk made the application while it was being fetched.)
Other refusals are core.tokens' `TokenError` (malformed, bad_version, bad_checksum,
unknown_id, wrong_key, expired) and core.sealed's `PreregUnavailable` (prereg_unreachable,
prereg_unauthorized, prereg_bad_answer). Nothing is logged on a refusal. With the fetch, the
resident's status page is told 受付済 (core.progress, under the key derived from the token's).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from core import exchange_log as xlog
from core import progress, sealed
from core.application import Application, is_application_id
from core.config import Config
from core.errors import MadoguchiError
from core.store.applications import ApplicationStore
from core.store.db import write
from core.tokens import decode_token


class PreregInUse(MadoguchiError):
    """An application with the pre-registration's id exists already."""

    code = "already_used"


@dataclass(frozen=True)
class OpenedPrereg:
    app_id: str
    form: dict[str, Any] | None  # None when `existing_application` is returned instead
    lang: str | None = None
    existing_application: Application | None = None
    logged: dict[str, Any] | None = None  # the prereg_fetch entry
    guide: dict[str, Any] | None = None   # 手続きナビ's life event and answers, as the resident gave them


def open_preregistration(db: sqlite_utils.Database, config: Config, token_text: str, *, actor: str,
                         open_existing: bool = False) -> OpenedPrereg:
    """Open the pre-registration a scanned token names, as `actor` (e.g. "kiosk:kiosk-1")."""
    app_id, key = decode_token(token_text)
    store = ApplicationStore(db)
    if open_existing and is_application_id(app_id):
        existing = store.find(app_id)
        if existing is not None:
            return OpenedPrereg(app_id, None, existing_application=existing)
    app_id, envelope = sealed.open_prereg_envelope(config, token_text, db)
    if store.find(app_id) is not None:
        raise PreregInUse("this pre-registration has been used", app_id=app_id)
    with write(db):
        entry = xlog.append(db, config, actor=actor, counterparty="prereg", purpose="prereg_fetch",
                            application_id=app_id, payload=envelope.form, person=xlog.Person.of(envelope.form))
        # 受付済 on the resident's status page (a kiosk PC's office pushes it when the upload arrives)
        progress.prereg_received(db, app_id, key, push=not config.kiosk.office_server_url)
    return OpenedPrereg(app_id, envelope.form, envelope.lang, logged=entry, guide=envelope.guide)
