"""The prereg JSON APIs (described in prereg/openapi.json, served at /prereg/api/v1/openapi.json).

- POST   /applications              a JSON form → 201 {id, token, expires_at, qr_png_url} | 422
- GET    /applications/<id>/qr.png  the QR code, for the holder of the token (Authorization: Bearer <token>)
- DELETE /applications/<id>         withdraw, for the holder of the token
- GET    /sealed/<id>               the office side's PULL API: the ciphertext (Authorization: Bearer <office API key>)
- POST   /progress                  the office pushes a state change (core.progress; the office API key)
- GET    /ratings                   the office collects the done page's ratings (core.satisfaction; the office API key)
- POST   /ratings/collected         … and acknowledges them {"ids": [...]}: they are deleted here
- POST   /postal-code               postal code → prefecture, city, town (the wizard's JavaScript uses it)

Tokens and personal data travel only in headers and bodies, never in URLs, so no access
log of a proxy in front of the server can hold them.
"""
from __future__ import annotations

import hmac
import json
import math
from pathlib import Path

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for

from core import progress, satisfaction, sealed
from core.catalogue import get_catalogue
from core.errors import ValidationError
from core.forms import parse_application
from core.japanese import lookup_postal_code
from core.keys import office_api_key
from core.tokens import TokenError, decode_token
from prereg import qr
from web import get_config, get_db, json_body
from web.messages import field_error, message
from web.ratelimit import TokenBucket
from web.security import csrf_exempt

api = Blueprint("api", __name__)
OPENAPI = Path(__file__).resolve().parent / "openapi.json"
TOKEN_STATUS = {"malformed": 400, "bad_version": 400, "bad_checksum": 400, "unknown_id": 404,
                "wrong_key": 403, "expired": 410}


def limiter() -> TokenBucket:
    ext = current_app.extensions
    if "prereg.limiter" not in ext:
        ext["prereg.limiter"] = TokenBucket(get_config().prereg.submissions_per_minute)
    return ext["prereg.limiter"]


def retry_after() -> int:
    """0 when the client may submit now; else the seconds to wait (one token taken if allowed)."""
    wait = limiter().take(request.remote_addr or "unknown")
    return max(1, math.ceil(wait)) if wait else 0


def label_for(path: str) -> str:
    """The field's label in the user's language, for a JSON-form path like household[1].kana."""
    name = path.rsplit(".", 1)[-1].split("[", 1)[0]
    cat = get_catalogue()
    if name == "relationship":
        from flask_babel import gettext as _
        return _("Relationship to the head of household")
    if cat.known_field(name):
        return cat.field(name).label_in(g.get("lang", "ja"))
    return name or "application"


def validation_errors_json(e: ValidationError) -> list[dict]:
    cat = get_catalogue()
    out = []
    for fe in e.errors:
        name = fe.field.rsplit(".", 1)[-1].split("[", 1)[0]
        ftype = cat.field(name).type if cat.known_field(name) else "text"
        out.append({"field": fe.field, "code": fe.code,
                    "message": field_error(fe.code, label_for(fe.field), ftype, fe.params),
                    **({"params": fe.params} if fe.params else {})})
    return out


def submit_form(obj, guide: dict | None = None) -> sealed.Sealed:
    """Validate and seal a JSON form (with 手続きナビ's answers, from the wizard); raises
    ValidationError. Shared by the wizard and the API."""
    config = get_config()
    procs, values = parse_application(obj, get_catalogue(), complete=True,
                                      max_length=config.prereg.max_field_length)
    return sealed.submit(config, get_db(), {"procedures": procs, **values}, lang=g.get("lang"), guide=guide)


@api.post("/applications")
@csrf_exempt
def create_application():
    wait = retry_after()
    if wait:
        resp = jsonify({"error": "rate_limited", "message": "too many submissions; try again later",
                        "retry_after": wait})
        resp.headers["Retry-After"] = str(wait)
        return resp, 429
    obj = json_body()
    if obj is None:
        return jsonify({"error": "bad_json", "message": "the body must be a JSON object (application/json)"}), 400
    try:
        receipt = submit_form(obj)
    except ValidationError as e:
        return jsonify({"error": "invalid", "errors": validation_errors_json(e)}), 422
    return jsonify({
        "id": receipt.app_id, "token": receipt.token, "expires_at": receipt.expires_at.isoformat(timespec="seconds"),
        "qr_png_url": url_for("prereg.api.qr_png", app_id=receipt.app_id, _external=True),
    }), 201


def token_from_header(app_id: str) -> str:
    """The token in `Authorization: Bearer …`, which must be for `app_id`."""
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        raise TokenError("no token", code="malformed")
    token = auth[len("Bearer "):].strip()
    token_id, _ = decode_token(token)
    if token_id != app_id:
        raise TokenError("the token is for another application", code="wrong_key")
    return token


def token_error_json(e: TokenError):
    return jsonify({"error": e.code, "message": message(e.code)}), TOKEN_STATUS.get(e.code, 400)


@api.get("/applications/<app_id>/qr.png")
def qr_png(app_id):
    try:
        token = token_from_header(app_id)
        sealed.verify_token(get_db(), token)
    except TokenError as e:
        return token_error_json(e)
    return png_response(token, download=request.args.get("download") == "1")


def public_base() -> str:
    """The prereg server as phones reach it: [prereg].public_url, else this request's host."""
    return get_config().prereg.public_url or request.host_url


def png_response(token: str, *, download: bool = False, scale: int = 10) -> Response:
    """The QR of a token, as the URL of its status page (a phone camera opens it; the kiosk
    takes the token out of it)."""
    resp = Response(qr.png(progress.status_url(public_base(), token), scale=scale), mimetype="image/png")
    resp.headers["Cache-Control"] = "no-store"
    if download:
        resp.headers["Content-Disposition"] = 'attachment; filename="madoguchi-qr.png"'
    return resp


@api.delete("/applications/<app_id>")
@csrf_exempt
def withdraw_application(app_id):
    try:
        token = token_from_header(app_id)
        sealed.withdraw(get_db(), token)
    except TokenError as e:
        return token_error_json(e)
    return "", 204


def office_key_refused():
    """The 401 answer unless the request carries the office API key (as `Authorization: Bearer`)."""
    auth = request.headers.get("Authorization", "")
    expected = office_api_key(get_config())
    sent = auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else ""
    if sent and hmac.compare_digest(sent.encode(), expected.encode()):
        return None
    resp = jsonify({"error": "unauthorized", "message": "an office API key is required"})
    resp.headers["WWW-Authenticate"] = 'Bearer realm="madoguchi-office"'
    return resp, 401


@api.get("/sealed/<app_id>")
def pull_sealed(app_id):
    """The office side fetches a ciphertext by id; it decrypts with the key from the QR."""
    refused = office_key_refused()
    if refused:
        return refused
    try:
        record = sealed.fetch(get_db(), app_id)
    except TokenError as e:
        return jsonify({"error": e.code, "message": str(e)}), TOKEN_STATUS.get(e.code, 404)
    return jsonify(sealed.record_to_json(record))


@api.post("/progress")
@csrf_exempt
def push_progress():
    """The office pushes a state change (core.progress): 201 kept, 200 kept already, 422 refused."""
    refused = office_key_refused()
    if refused:
        return refused
    try:
        kept = progress.accept(get_db(), json_body())
    except progress.PushRefused as e:
        return jsonify({"error": e.code, "field": e.details.get("field"), "message": str(e)}), 422
    return jsonify({"kept": kept}), 201 if kept else 200


@api.get("/ratings")
def collect_ratings():
    """The office collects the ratings given on this server's done page (no person, no visit)."""
    refused = office_key_refused()
    if refused:
        return refused
    return jsonify({"ratings": satisfaction.uncollected(get_db())})


@api.post("/ratings/collected")
@csrf_exempt
def ratings_collected():
    """The office kept these ratings: forget them here (ids the office sends back, at most a batch)."""
    refused = office_key_refused()
    if refused:
        return refused
    body = json_body()
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list):
        return jsonify({"error": "bad_ids", "message": "ids must be a list"}), 422
    return jsonify({"deleted": satisfaction.forget_collected(get_db(), ids)})


@api.post("/postal-code")
@csrf_exempt
def postal_code():
    """POST rather than GET: a postal code is a hint of where someone lives; keep it out of URLs."""
    obj = json_body() or {}
    code = obj.get("postal_code") if isinstance(obj, dict) else None
    found = lookup_postal_code(code) if isinstance(code, str) and len(code) <= 16 else None
    if not found:
        return jsonify({"found": False})  # 200: a lookup that finds nothing is not an error
    return jsonify({"found": True, "postal_code": found.postal_code, "prefecture": found.prefecture,
                    "city": found.city, "town": found.town, "address": found.text})


@api.get("/openapi.json")
def openapi():
    doc = json.loads(OPENAPI.read_text("utf-8"))
    doc["components"]["schemas"]["Application"]["properties"]["procedures"]["items"]["enum"] = \
        sorted(get_catalogue().procedures)
    resp = jsonify(doc)
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp
