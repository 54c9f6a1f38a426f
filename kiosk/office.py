"""A kiosk PC apart from the office server: its upload queue, and the office's API for it.

A kiosk PC (`[kiosk].office_server_url` set) keeps each finished application in its own database
(table `kiosk_uploads`) until the office server has confirmed it, so an office that is down
or unreachable loses nothing: the uploader retries with backoff, and the row is deleted once
delivered (the kiosk PC keeps no personal data longer than that).

The office server takes them at `POST /kiosk/api/v1/applications` with
`Authorization: Bearer <device token>`. Each kiosk has its own token, derived from the
office's secret ([keys].kiosk_device_token), the kiosk's id and its reception prefix, so one
kiosk cannot speak for another, nor hand out another's reception numbers, and the office needs
no list of tokens: `madoguchi kiosk token KIOSK_ID --prefix K` prints it. This module checks the
token and answers in HTTP; core.services.uploads checks and stores the upload.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import threading
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils
from flask import Blueprint, request
from sqlite_utils.migrations import Migrations

from core import metrics, progress
from core.application import Application, iso, utcnow
from core.clock import seconds_since
from core.errors import ConfigError, MadoguchiError, ValidationError
from core.exchange_view import detail
from core.keys import kiosk_device_token
from core.services.uploads import UploadRefused, receive_kiosk_upload, reported_exchanges
from core.store.db import open_from_config, write
from kiosk.reception import PREFIX_RE

log = logging.getLogger("madoguchi.kiosk.office")
migrations = Migrations("kiosk.office")

API_PATH = "/kiosk/api/v1/applications"
HELP_PATH = "/kiosk/api/v1/help"
RATING_PATH = "/kiosk/api/v1/ratings"
OWN_LOG_PATH = "/kiosk/api/v1/exchange-log"
# A person's log is asked for after a card read: a few a minute per kiosk is plenty; more is a
# kiosk PC (or its stolen token) trying names.
OWN_LOG_PER_MINUTE = 6
KIOSK_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
BACKOFF_INITIAL = 2.0
BACKOFF_MAX = 300.0
TIMEOUT_SECONDS = 10.0


@migrations()
def m001_kiosk_uploads(db: sqlite_utils.Database) -> None:
    db["kiosk_uploads"].create(
        {"application_id": str, "body": str, "attempts": int, "next_attempt_at": str, "last_error": str,
         "created_at": str},
        pk="application_id",
    )


# --- device tokens ------------------------------------------------------------------------

def device_token(secret: str, kiosk_id: str, prefix: str) -> str:
    """The token of one kiosk: its id, its reception prefix, and a MAC of both under the office's secret."""
    if not KIOSK_ID_RE.match(kiosk_id):
        raise MadoguchiError("a kiosk id is letters, digits, '-', '_' or '.', at most 40", code="bad_kiosk_id")
    if not PREFIX_RE.match(prefix):
        raise MadoguchiError("a reception prefix is 1 to 3 capital letters", code="bad_reception_prefix")
    mac = hmac.new(secret.encode(), f"madoguchi-kiosk:{kiosk_id}:{prefix}".encode(), hashlib.sha256).digest()
    return f"{kiosk_id}.{prefix}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def token_claims(token: str) -> tuple[str, str] | None:
    """The (kiosk id, reception prefix) a token claims, unchecked; None if it is not shaped like one."""
    rest, _, _mac = (token or "").rpartition(".")
    kiosk_id, _, prefix = rest.rpartition(".")
    if not (KIOSK_ID_RE.match(kiosk_id) and PREFIX_RE.match(prefix)):
        return None
    return kiosk_id, prefix


def kiosk_of_token(secret: str, token: str) -> tuple[str, str] | None:
    """The (kiosk id, reception prefix) a token belongs to, or None if it is not one of ours."""
    claims = token_claims(token)
    if claims is None or not hmac.compare_digest(device_token(secret, *claims), token):
        return None
    return claims


def check_kiosk_pc(config) -> None:
    """A kiosk PC's token must be the one made for its kiosk_id and reception_prefix (else every upload is refused)."""
    kiosk_id, prefix = config.kiosk.kiosk_id, config.kiosk.reception_prefix
    hint = f"set it to what `madoguchi kiosk token {kiosk_id} --prefix {prefix}` prints on the office server"
    claims = token_claims(config.keys.kiosk_device_token)
    if claims is None:
        raise ConfigError(f"keys.kiosk_device_token is not a kiosk's device token: {hint}",
                          key="keys.kiosk_device_token")
    if claims != (kiosk_id, prefix):
        # Nothing read off the token is echoed: it is a secret.
        raise ConfigError(f"keys.kiosk_device_token was made for another kiosk_id or reception_prefix: {hint}",
                          key="keys.kiosk_device_token")


# --- the kiosk PC's side ----------------------------------------------------------------------

class OfficeUnavailable(MadoguchiError):
    code = "office_unreachable"


def upload_body(config, app: Application, exchanges: list[dict]) -> dict[str, Any]:
    return {
        "kiosk_id": config.kiosk.kiosk_id,
        "application": {
            "id": app.id, "state": str(app.state), "procedures": list(app.procedures), "data": app.data,
            "sources": app.sources, "reception_number": app.reception_number, "created_at": iso(app.created_at),
            # A licence's current vs at-issue address, for the clerk (see counter.views.licence_addresses).
            "licence": next((e.new for e in app.pending_events if e.kind == "card_read"), None),
            # 手続きナビ's life event and answers, for the clerk's list of procedures and reasons.
            "guide": next((e.new for e in app.pending_events if e.kind == "guide"), None),
            # The office the kiosk PC stands in, for the figures per office.
            "office": next((e.new.get("office") for e in app.pending_events
                            if e.kind == "created" and isinstance(e.new, dict)), None),
        },
        "exchanges": reported_exchanges(exchanges),
    }


class OfficeClient:
    """The kiosk PC's queue of applications for the office server, and its uploader thread."""

    def __init__(self, config):
        self.config = config
        self.url = config.kiosk.office_server_url.rstrip("/") + API_PATH
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def enqueue(self, db: sqlite_utils.Database, app: Application, exchanges: list[dict]) -> None:
        """Keep the application until the office has it (joins the caller's transaction). An
        upload still waiting for the same application is replaced, keeping the exchanges it
        reported: every exchange goes until the office has acknowledged an upload holding it."""
        with write(db):
            waiting = db.execute("SELECT body FROM kiosk_uploads WHERE application_id = ?", [app.id]).fetchone()
            if waiting is not None:
                exchanges = [*json.loads(waiting[0]).get("exchanges", []), *exchanges]
            body_json = upload_body(self.config, app, exchanges)
            key = progress.key_for(db, app.id)
            if key is not None:   # the slip's QR was printed with it: the office keeps the same
                body_json["status_key"] = base64.b64encode(key).decode("ascii")
            body = json.dumps(body_json, ensure_ascii=False)
            db.execute(
                "INSERT INTO kiosk_uploads (application_id, body, attempts, next_attempt_at, last_error, created_at)"
                " VALUES (?, ?, 0, ?, NULL, ?) ON CONFLICT (application_id) DO UPDATE SET body = excluded.body,"
                " next_attempt_at = excluded.next_attempt_at",
                [app.id, body, iso(utcnow()), iso(utcnow())])

    def health(self, db: sqlite_utils.Database) -> dict:
        """/healthz's check on a kiosk PC: not ok when an application has waited for the office
        longer than [monitoring].outbox_max_age_minutes (the office is down, or refuses it)."""
        count, oldest = db.execute("SELECT count(*), MIN(created_at) FROM kiosk_uploads").fetchone()
        age = seconds_since(oldest)
        metrics.KIOSK_UPLOADS_WAITING.set(count)
        too_old = age is not None and age > self.config.monitoring.outbox_max_age_minutes * 60
        return {"ok": not too_old, "waiting": count, "oldest_waiting_age_seconds": None if age is None else round(age)}

    def pending(self, db: sqlite_utils.Database) -> list[dict]:
        return [{k: r[k] for k in ("application_id", "attempts", "next_attempt_at", "last_error", "created_at")}
                for r in db.query("SELECT * FROM kiosk_uploads ORDER BY created_at")]

    def send(self, body: dict) -> dict:
        import requests

        token = kiosk_device_token(self.config)
        try:
            r = requests.post(self.url, json=body, timeout=TIMEOUT_SECONDS,
                              headers={"Authorization": f"Bearer {token}"})
        except requests.RequestException as e:
            raise OfficeUnavailable(f"the office server could not be reached ({type(e).__name__})") from None
        if r.status_code in (200, 201):
            return r.json()
        code = {401: "office_unauthorized", 403: "office_unauthorized", 409: "office_conflict",
                422: "office_refused", 400: "office_refused"}.get(r.status_code, "office_unreachable")
        raise OfficeUnavailable(f"the office server answered {r.status_code}", code=code)

    def send_rating(self, score: str, comment: str) -> None:
        """A visitor's five-face rating, for the office's figures (nothing ties it to the visit)."""
        self._post(RATING_PATH, {"score": score, "comment": comment})

    def _post(self, path: str, body: dict) -> None:
        import requests

        try:
            r = requests.post(self.config.kiosk.office_server_url.rstrip("/") + path, json=body,
                              timeout=TIMEOUT_SECONDS,
                              headers={"Authorization": f"Bearer {kiosk_device_token(self.config)}"})
        except requests.RequestException as e:
            raise OfficeUnavailable(f"the office server could not be reached ({type(e).__name__})") from None
        if r.status_code not in (200, 201, 204):
            raise OfficeUnavailable(f"the office server answered {r.status_code}", code="office_unreachable")

    def own_log(self, name: str, birth_date: str) -> tuple[list[dict], dict]:
        """The exchange log of the person whose card the kiosk just read, from the office (which
        logs showing it): `core.exchange_view.detail` dicts, oldest first, and the office's chain
        head. Name and birth date go in the body, never in the URL. Raises OfficeUnavailable."""
        answer = self._post_json(OWN_LOG_PATH, {"name": name, "birth_date": birth_date})
        entries, head = answer.get("entries"), answer.get("head")
        if not (isinstance(entries, list) and all(isinstance(e, dict) for e in entries) and isinstance(head, dict)
                and isinstance(head.get("seq"), int) and isinstance(head.get("entry_hash"), str)):
            raise OfficeUnavailable("the office server's answer was not a log", code="office_unreachable")
        return [detail(e) for e in entries], {"seq": head["seq"], "entry_hash": head["entry_hash"]}

    def report_log_print(self, name: str, birth_date: str, entry: dict) -> None:
        """Tell the office that this kiosk printed a person's own log (its `log_print` entry).
        Raises OfficeUnavailable."""
        self._post_json(OWN_LOG_PATH + "/printed", {"name": name, "birth_date": birth_date, "exchange": {
            k: entry[k] for k in ("counterparty", "at", "payload_sha256", "result")}})

    def _post_json(self, path: str, body: dict) -> dict:
        """A call about a person (the body carries the kiosk's id); the office's JSON answer, if any."""
        import requests

        try:
            r = requests.post(self.config.kiosk.office_server_url.rstrip("/") + path, timeout=TIMEOUT_SECONDS,
                              json={"kiosk_id": self.config.kiosk.kiosk_id, **body},
                              headers={"Authorization": f"Bearer {kiosk_device_token(self.config)}"})
        except requests.RequestException as e:
            raise OfficeUnavailable(f"the office server could not be reached ({type(e).__name__})") from None
        if r.status_code not in (200, 204):
            raise OfficeUnavailable(f"the office server answered {r.status_code}", code="office_unreachable")
        if r.status_code == 204:
            return {}
        try:
            answer = r.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise OfficeUnavailable("the office server's answer was not JSON", code="office_unreachable")
        return answer

    def call_help(self, screen: str) -> None:
        """A visitor asks for staff: told to the office at once (the counter's queue shows it)."""
        self._post(HELP_PATH, {"screen": screen})

    def deliver_pending(self, db: sqlite_utils.Database, *, force: bool = False) -> tuple[int, int]:
        """Send every due upload; returns (delivered, still waiting)."""
        now = utcnow()
        rows = list(db.query("SELECT * FROM kiosk_uploads ORDER BY created_at"))
        delivered = 0
        for row in rows:
            if not force and datetime.fromisoformat(row["next_attempt_at"]) > now:
                continue
            try:
                self.send(json.loads(row["body"]))
            except OfficeUnavailable as e:
                attempts = row["attempts"] + 1
                delay = min(BACKOFF_MAX, BACKOFF_INITIAL * 2 ** (attempts - 1))
                with write(db):
                    db.execute("UPDATE kiosk_uploads SET attempts = ?, next_attempt_at = ?, last_error = ?"
                               " WHERE application_id = ?",
                               [attempts, iso(utcnow() + timedelta(seconds=delay)), e.code, row["application_id"]])
                log.warning("upload to the office failed (%s); retrying in %.0f s", e.code, delay)
                continue
            with write(db):
                # Only what the office acknowledged: an upload replaced while this one was on its
                # way (more exchanges, a print) stays for the next pass.
                cur = db.execute("DELETE FROM kiosk_uploads WHERE application_id = ? AND body = ?",
                                 [row["application_id"], row["body"]])
            delivered += cur.rowcount
        left = db.execute("SELECT count(*) FROM kiosk_uploads").fetchone()[0]
        return delivered, left

    def kick(self) -> None:
        self._wake.set()

    def start(self):
        """The uploader thread: on a kick, and every few seconds. Returns its stop function."""
        def run():
            while not self._stop.is_set():
                self._wake.wait(BACKOFF_INITIAL)
                self._wake.clear()
                if self._stop.is_set():
                    break
                try:
                    db = open_from_config(self.config)
                    try:
                        self.deliver_pending(db)
                    finally:
                        db.conn.close()
                except Exception as e:  # the type only: never a value from an application
                    log.error("the office uploader failed (%s); trying again", type(e).__name__)
        self._thread = threading.Thread(target=run, name="kiosk-office-upload", daemon=True)
        self._thread.start()

        def stop():
            self._stop.set()
            self._wake.set()
            self._thread.join(TIMEOUT_SECONDS + 2)
        return stop


# --- the office server's side ---------------------------------------------------------------

api_bp = Blueprint("kiosk_office_api", __name__)


def _csrf_exempt(view):
    from web.security import csrf_exempt
    return csrf_exempt(view)


def _problem(status: int, code: str, **extra):
    return {"error": code, **extra}, status


# HTTP status of each refusal of core.services.uploads (ValidationError: 422; other codes: 400).
REFUSAL_STATUS = {"wrong_kiosk": 403, "foreign_reception_number": 403, "other_kiosks_application": 403,
                  "conflict": 409}


@api_bp.post("/help")
@_csrf_exempt
def receive_help_call():
    """A kiosk PC's visitor asks for staff: the call joins the counter's queue."""
    from core import help_calls
    from web import get_config, get_db, json_body

    auth = request.headers.get("Authorization", "")
    owner = kiosk_of_token(kiosk_device_token(get_config()), auth[7:]) if auth.startswith("Bearer ") else None
    if owner is None:
        return _problem(401, "unauthorized")
    body = json_body()
    screen = body.get("screen", "") if isinstance(body, dict) else ""
    call = help_calls.call(get_db(), owner[0], screen if isinstance(screen, str) else "")
    return {"id": call["id"], "kiosk_id": call["kiosk_id"]}, 201


@api_bp.post("/ratings")
@_csrf_exempt
def receive_rating():
    """A kiosk PC's visitor rated the visit: kept for the office's figures, apart from any visit."""
    from core import satisfaction
    from web import get_config, get_db, json_body

    config = get_config()
    auth = request.headers.get("Authorization", "")
    if (kiosk_of_token(kiosk_device_token(config), auth[7:]) if auth.startswith("Bearer ") else None) is None:
        return _problem(401, "unauthorized")
    body = json_body()
    if not isinstance(body, dict):
        return _problem(400, "bad_score")
    try:
        satisfaction.rate(get_db(), channel="kiosk", score=body.get("score"), comment=body.get("comment", ""),
                          office=config.kiosk.office)
    except satisfaction.RatingRefused as e:
        return _problem(400, e.code)
    return "", 204


def own_log_limiter():
    from flask import current_app

    from web.ratelimit import TokenBucket  # the one token bucket (prereg's submissions use it too)
    return current_app.extensions.setdefault("kiosk.own_log_limiter", TokenBucket(OWN_LOG_PER_MINUTE))


def _person_request():
    """The checks of both exchange-log routes: the device token, the body's kiosk (the token's own),
    the kiosk's allowance, and a name and birth date. (kiosk id, body, name, birth date) or an answer."""
    from datetime import date

    from core.japanese import normalise_name
    from web import get_config, json_body

    auth = request.headers.get("Authorization", "")
    owner = kiosk_of_token(kiosk_device_token(get_config()), auth[7:]) if auth.startswith("Bearer ") else None
    if owner is None:
        return _problem(401, "unauthorized")
    kiosk_id = owner[0]
    body = json_body()
    if not isinstance(body, dict):
        return _problem(400, "bad_request")
    if body.get("kiosk_id") != kiosk_id:
        return _problem(403, "wrong_kiosk")
    wait = own_log_limiter().take(kiosk_id)
    if wait:
        return {"error": "rate_limited"}, 429, {"Retry-After": str(int(wait) + 1)}
    name, birth = body.get("name"), body.get("birth_date")
    name = normalise_name(name)[:60] if isinstance(name, str) else ""
    try:
        birth = date.fromisoformat(birth).isoformat() if isinstance(birth, str) and len(birth) == 10 else None
    except ValueError:
        birth = None
    if not name or birth is None:
        return _problem(400, "bad_person")
    return kiosk_id, body, name, birth


@api_bp.post("/exchange-log")
@_csrf_exempt
def answer_own_log():
    """The exchange log of the person whose card a kiosk PC just read: their entries as
    core.exchange_view.detail dicts, and showing them logged (purpose `disclosure`); `head` is the
    office's chain head for the printed page. The name and birth date come in the body (never the
    URL); a few a minute per kiosk."""
    from core import exchange_log as xlog
    from core.services.disclosure import disclose_own_log
    from web import get_config, get_db

    asked = _person_request()
    if not isinstance(asked[0], str):
        return asked
    kiosk_id, _body, name, birth = asked
    db = get_db()
    entries = disclose_own_log(db, get_config(), actor=f"kiosk:{kiosk_id}", name=name, birth_date=birth)
    head = xlog.head(db)
    return {"entries": entries, "head": {"seq": head["seq"], "entry_hash": head["entry_hash"]}}


@api_bp.post("/exchange-log/printed")
@_csrf_exempt
def receive_log_print():
    """A kiosk PC printed a person's own log for them: the office's log gets the `log_print` entry.
    Body: kiosk_id, name, birth_date, and `exchange` {counterparty "printer:<queue>", at, payload_sha256, result}."""
    from core.services.disclosure import log_reported_log_print
    from web import get_config, get_db

    asked = _person_request()
    if not isinstance(asked[0], str):
        return asked
    kiosk_id, body, name, birth = asked
    e = body.get("exchange")
    texts = {k: e.get(k) for k in ("counterparty", "at", "payload_sha256", "result")} if isinstance(e, dict) else {}
    if not (all(isinstance(v, str) for v in texts.values()) and len(texts) == 4
            and str(texts["counterparty"]).startswith("printer:") and len(str(texts["counterparty"])) <= 40
            and re.fullmatch(r"[0-9a-f]{64}", str(texts["payload_sha256"]))
            and re.fullmatch(r"ok|error:[a-z_]{1,30}", str(texts["result"])) and len(str(texts["at"])) <= 40):
        return _problem(400, "bad_exchange")
    log_reported_log_print(get_db(), get_config(), kiosk_id=kiosk_id, name=name, birth_date=birth, **texts)
    return "", 204


@api_bp.post("/applications")
@_csrf_exempt
def receive_application():
    """Store an application a kiosk PC made and printed (state `printed`), once."""
    from web import get_config, get_db, json_body

    config = get_config()
    auth = request.headers.get("Authorization", "")
    owner = kiosk_of_token(kiosk_device_token(config), auth[7:]) if auth.startswith("Bearer ") else None
    if owner is None:
        return _problem(401, "unauthorized")
    kiosk_id, prefix = owner
    try:
        received = receive_kiosk_upload(get_db(), config, kiosk_id=kiosk_id, prefix=prefix, body=json_body())
    except ValidationError as e:
        return _problem(422, "invalid", errors=[er.as_dict() for er in e.errors])
    except MadoguchiError as e:
        return _problem(REFUSAL_STATUS.get(e.code, 400), e.code, **(e.details if isinstance(e, UploadRefused) else {}))
    app = received.application
    return ({"id": app.id, "state": str(app.state), "reception_number": app.reception_number},
            201 if received.created else 200)
