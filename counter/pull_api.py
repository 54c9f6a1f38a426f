"""The core system's PULL API (`[backend].mode = "pull"`): it lists records since a cursor,
then acknowledges what it stored. An acknowledged record counts as delivered.

    GET  /counter/api/v1/records?since=<cursor>&limit=<n>
         → {"schema": "madoguchi.records/1", "records": [{"cursor", "idempotency_key", "record"}],
            "next_cursor": "<cursor>", "more": bool}
    POST /counter/api/v1/records/ack   {"idempotency_keys": ["…", …]}
         → {"acknowledged": [...], "already_acknowledged": [...], "unknown": [...]}

Both need `Authorization: Bearer <key>` with the key from `[keys].pull_api_key` or the
generated `pull_api.key` in the keys folder. Unacknowledged records are listed again by a
poll from an earlier cursor (`since=0` lists every one still waiting). See docs/forwarding.md.
"""
from __future__ import annotations

import hmac

from flask import Blueprint, abort, jsonify, request

from core import outbox
from core.japanese import parse_typed_number
from core.keys import read_or_create
from counter import forwarding
from web import get_config, get_db, json_body
from web.security import csrf_exempt

bp = Blueprint("counter_pull_api", __name__)

LIST_SCHEMA = "madoguchi.records/1"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_ACK = 1000


def pull_api_key(config) -> str:
    return config.keys.pull_api_key or read_or_create(config, "pull_api.key")


def _error(status: int, code: str, message: str, **headers):
    resp = jsonify({"error": code, "message": message})
    resp.status_code = status
    resp.headers.update(headers)
    return resp


@bp.before_request
def authenticate():
    config = get_config()
    if config.backend.mode != "pull":
        return _error(404, "pull_disabled", "records are not offered for pulling (backend.mode is not pull)")
    sent = request.headers.get("Authorization", "")
    scheme, _, token = sent.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(),
                                                              pull_api_key(config).encode()):
        return _error(401, "unauthorized", "a valid API key is required",
                      **{"WWW-Authenticate": 'Bearer realm="madoguchi-records"'})
    return None


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    value = parse_typed_number(raw, max_digits=19)
    if value is None:
        abort(_error(400, "bad_request", f"{name} must be an integer"))
    if not low <= value <= high:
        abort(_error(400, "bad_request", f"{name} must be between {low} and {high}"))
    return value


@bp.get("/records")
@csrf_exempt
def list_records():
    since = _int_arg("since", 0, 0, 2 ** 62)
    limit = _int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    db = get_db()
    rows = outbox.pending_after(db, since, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{"cursor": str(r["id"]), "idempotency_key": r["idempotency_key"], "record": forwarding.document(r)}
             for r in rows]
    return jsonify({"schema": LIST_SCHEMA, "records": items,
                    "next_cursor": items[-1]["cursor"] if items else str(since), "more": more})


@bp.post("/records/ack")
@csrf_exempt
def acknowledge():
    body = json_body()
    keys = body.get("idempotency_keys") if isinstance(body, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return _error(400, "bad_request", 'send {"idempotency_keys": ["…"]} as JSON')
    if len(keys) > MAX_ACK:
        return _error(400, "bad_request", f"at most {MAX_ACK} keys per acknowledgement")
    config, db = get_config(), get_db()
    counterparty = f"pull:{request.remote_addr or 'unknown'}"
    result = {"acknowledged": [], "already_acknowledged": [], "unknown": []}
    for key in dict.fromkeys(keys):  # each key once, in the order sent
        row = outbox.by_idempotency_key(db, key)
        if row is None:
            result["unknown"].append(key)
            continue
        if row["state"] == "delivered":
            result["already_acknowledged"].append(key)
        elif forwarding.record_delivery(db, config, row, counterparty, forwarding.document(row)):
            result["acknowledged"].append(key)
        else:
            result["already_acknowledged"].append(key)
    return jsonify(result)


__all__ = ["bp", "pull_api_key"]
