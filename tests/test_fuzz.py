"""Hostile clients, generated: every route of every surface and every JSON API of the OpenAPI
document get inputs made by hypothesis (unicode digits, lone surrogates, huge numbers, control
characters, CR/LF, deep JSON, wrong types). No answer may be a 5xx or show a traceback, and no
log line may carry a personal value that was sent.

The number of generated inputs is printed and written to tests/output/fuzz-count.txt.
"""
from __future__ import annotations

import json
import logging
import os
import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.catalogue import get_catalogue
from core.config import load_config
from tests.helpers import OUTPUT, ROOT

# A personal value the fuzzer sends in many fields; it must never reach a log record.
PERSONAL = "機密　花子"
PERSONAL_PHONE = "09087654321"

# Digits `str.isdigit()` accepts and `int()` refuses, and digits `int()` accepts from other scripts.
ODD_DIGITS = sorted({c for c in map(chr, range(0x20, 0x20000))
                     if c.isdigit() and not c.isascii() and unicodedata.category(c) != "Cs"})[:400]
HOSTILE = [
    "᧚", "𐩀", "²", "٣", "١٩٨٥", "１９８５", "99999999999999999999", "9" * 5000, "-1", "0", "00", "+1", "1e9",
    "1_000", " 12 ", "\r\n", "a\r\nSet-Cookie: x=1", "\x00", "\x1b[31m", "\x7f", "\u202e", "\ufeff", "\u3000",
    "<script>alert(1)</script>", "{{7*7}}", "%s%n", "' OR 1=1 --", "../../etc/passwd", "9999-12-31", "0001-01-01",
    "10000-01-01", "2026-02-30", "remove:᧚", "remove:99999999999999999999", "remove:-1", "x" * 3000, "𠮷", "ｱｲｳ",
    "令和99年99月99日", "R1.5.1", "明治元年1月1日", "null", "[]", "{}", "true", "nan", "inf", "-inf", "1e999",
    PERSONAL, PERSONAL_PHONE,
]
text_chars = st.characters(blacklist_categories=("Cs",))
hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.sampled_from(ODD_DIGITS),
    st.text(st.sampled_from(ODD_DIGITS + list("0123456789０１２３-:")), min_size=1, max_size=8),
    st.text(text_chars, max_size=30),
    st.integers(min_value=-10**30, max_value=10**30).map(str),
)

PULL_KEY = "fuzz-pull-key-0123456789"
MOVE_AND_CERTIFICATE = ["juminido", "juminhyo"]
COUNT = {"forms": 0, "json": 0}
# Inputs per run (CI); MADOGUCHI_FUZZ_SCALE=10 runs ten times as many for a longer search.
SCALE = float(os.environ.get("MADOGUCHI_FUZZ_SCALE", "1"))
MIN_INPUTS = {"forms": int(1400 * SCALE), "json": int(600 * SCALE)}


def names_in_source() -> set[str]:
    """Every form and query name the surfaces read or render, found in their source."""
    names: set[str] = set()
    for surface in ("prereg", "kiosk", "counter", "web"):
        for path in (ROOT / surface).rglob("*"):
            if path.suffix not in (".py", ".html") or "translations" in path.parts:
                continue
            text = path.read_text("utf-8")
            names |= set(re.findall(r'name="([a-z_]+)"', text))
            names |= set(re.findall(r'request\.(?:form|args|values)\.(?:get|getlist)\("([a-z_]+)"', text))
    return names - {"viewport", "referrer", "csrf-token"}


def field_names() -> set[str]:
    """Every field of every procedure in the catalogue (the household's keys included)."""
    cat = get_catalogue()
    return {f.name for proc in cat.procedures for f in cat.fields_for([proc])} | {"relationship", "sex"}


FIELD_INPUTS = field_names() | {f"{n}__{p}" for n in field_names()
                                for p in ("era", "year", "month", "day", "town", "rest")}
FORM_NAMES = sorted(names_in_source() | FIELD_INPUTS | {f"m_{n}" for n in FIELD_INPUTS}   # m_: prereg's member page
                    | {f"birth_{p}" for p in ("era", "year", "month", "day")} | {"era", "year", "month", "day"})


# --- the app and its clients ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fuzz(tmp_path_factory, module_storage_overrides):
    from argon2 import PasswordHasher

    from core import users
    from hardware.cards import direct
    from tests.conftest import test_overrides
    from tests.fixtures_counter import CERTIFICATE, CLERKS, PASSWORD, kiosk_application
    from web import create_app, get_db

    direct.forget_all()
    tmp = tmp_path_factory.mktemp("fuzz")
    config = load_config(ROOT / "config.toml", overrides=test_overrides(tmp, module_storage_overrides),
                         base_dir=tmp)
    config = config.replace({"prereg": {"submissions_per_minute": 100000},
                             "backend": {"mode": "pull"}, "keys": {"pull_api_key": PULL_KEY}})
    app = create_app(config)
    app.config["TESTING"] = True
    hasher, users._hasher = users._hasher, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with app.app_context():
        db = get_db()
        for name, role in CLERKS.items():
            users.add_user(db, name, PASSWORD, role, display_name=name.title())
        application = kiosk_application(db, CERTIFICATE)
    env = FuzzEnv(app, application.id)
    OPENAPI.update(env.prereg.get("/prereg/api/v1/openapi.json").get_json())
    yield env
    users._hasher = hasher
    direct.forget_all()


class FuzzEnv:
    def __init__(self, app, app_id: str):
        from tests.kiosk_helpers import Kiosk
        self.app, self.app_id = app, app_id
        # The kiosk's own browser: whatever the kiosk requires of its browser (a device credential)
        # belongs in tests.kiosk_helpers.Kiosk, so the fuzzer reaches the visit's pages as it does.
        self.kiosk = Kiosk(app)
        self.prereg = app.test_client()
        self.counter = app.test_client()
        self.start_prereg()
        self.sign_in()

    def start_prereg(self):
        """A resident in the wizard with a move (household, dates) and a certificate chosen."""
        from tests.prereg_helpers import Walker, answer_guide
        w = Walker(self.prereg, "en")
        w.get("/prereg/event")
        w.post({"event": "moving_in"})
        answer_guide(w)
        w.post({"procedures": MOVE_AND_CERTIFICATE})

    def sign_in(self):
        from tests.fixtures_counter import sign_in
        sign_in(self.counter, "tanaka")

    def csrf(self, client) -> str:
        with client.session_transaction() as s:
            return s.setdefault("_csrf", "fuzz-csrf")

    def client_for(self, path: str):
        if path.startswith("/kiosk/") and not path.startswith("/kiosk/api/"):
            self.ensure_visit()
            return self.kiosk.client
        if path.startswith("/counter/"):
            return self.counter
        return self.prereg

    def ensure_visit(self):
        """A visit at the confirm stage of a move with household and a certificate, so the
        question pages, household and print routes are reachable."""
        v = self.kiosk.visit()
        if v is not None and not v.finished:
            return
        self.kiosk.post("/kiosk/end")
        self.kiosk.start("en")
        self.kiosk.read_card()
        self.kiosk.choose("moving_in", MOVE_AND_CERTIFICATE)


def path_for(rule, env: FuzzEnv, draw) -> tuple[str, list[str]]:
    """A URL for the rule, and the input names that page reads (its question's inputs first)."""
    values = {}
    for arg, conv in rule._converters.items():
        kind = type(conv).__name__
        if kind == "IntegerConverter":
            values[arg] = draw(st.integers(min_value=0, max_value=3))
        elif arg == "app_id":
            values[arg] = draw(st.sampled_from([env.app_id, "0123456789ABCDEF", "ZZZZ"]))
        elif arg == "name":
            asked = sorted(f.name for f in get_catalogue().fields_for(MOVE_AND_CERTIFICATE))
            values[arg] = draw(st.sampled_from(asked + ["household", "nope", "inkan_shomei_copies"]))
        else:
            values[arg] = draw(st.sampled_from(["x", "1", "kiosk-1", "sato", "nobody"]))
    with env.app.test_request_context():
        from flask import url_for
        path = url_for(rule.endpoint, **values)
    name = str(values.get("name", ""))
    relevant = [n for n in FORM_NAMES if name and name in n] + list(GENERIC_INPUTS)
    return path, relevant


# What the kiosk's and the counter's question pages read whatever the question.
GENERIC_INPUTS = ("value", "era", "year", "month", "day", "action", "reason", "version", "member", "name", "kana",
                  "sex", "relationship", "birth_date", "birth_era", "birth_year", "birth_month", "birth_day", "code")


SKIP_ENDPOINTS = {"static", "counter.sign_out", "kiosk.event_stream", "counter.change_password"}


def routes(app) -> list:
    return sorted((r for r in app.url_map.iter_rules()
                   if r.endpoint not in SKIP_ENDPOINTS and not r.endpoint.endswith(".static")),
                  key=lambda r: r.rule)


# --- checks ------------------------------------------------------------------------------------------

def check(response, what: str):
    body = response.get_data(as_text=True)
    assert response.status_code < 500, f"{what}: {response.status_code} {body[:300]}"
    assert "Traceback" not in body, what


def check_logs(caplog):
    for record in caplog.records:
        text = record.getMessage()
        assert PERSONAL not in text and PERSONAL.replace("\u3000", " ") not in text, text
        assert PERSONAL_PHONE not in text, text
        assert record.exc_info is None, f"a traceback was logged: {text}"


def record_count(kind: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / f"fuzz-count-{kind}.txt").write_text(f"{COUNT[kind]}\n")
    print(f"\nfuzz: {COUNT[kind]} generated {kind} inputs")


FUZZ = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))


# --- every route of every surface, with forms and query strings ------------------------------------

@settings(max_examples=MIN_INPUTS["forms"], **FUZZ)
@given(data=st.data())
def test_every_route_survives_hostile_forms_and_queries(fuzz, caplog, data):
    caplog.set_level(logging.INFO)
    rule = data.draw(st.sampled_from(routes(fuzz.app)))
    method = data.draw(st.sampled_from(sorted(rule.methods & {"GET", "POST", "DELETE"})))
    path, relevant = path_for(rule, fuzz, data.draw)
    names = st.one_of(st.sampled_from(relevant), st.sampled_from(FORM_NAMES))
    fields = data.draw(st.dictionaries(names, st.one_of(hostile_text, st.lists(hostile_text, max_size=3)), max_size=6))
    client = fuzz.client_for(path)
    headers = {}
    if data.draw(st.booleans()):
        headers["Last-Event-ID"] = data.draw(hostile_text).replace("\r", "").replace("\n", "")
    if method == "GET":
        r = client.get(path, query_string=fields, headers=headers)
    else:
        csrf = data.draw(st.one_of(st.just(fuzz.csrf(client)), st.just(fuzz.csrf(client)), hostile_text))
        r = client.open(path, method=method, data={"csrf_token": csrf, **fields}, headers=headers)
    COUNT["forms"] += 1
    check(r, f"{method} {path} {sorted(fields)}")
    check_logs(caplog)
    if path.startswith("/prereg/") and r.status_code == 302 and \
            r.location.rstrip("/").rsplit("/", 1)[-1] in ("prereg", "event", "procedures"):
        fuzz.start_prereg()   # the wizard was reset: back to the questions


def test_the_form_fuzzer_ran_enough_inputs_over_the_whole_url_map(fuzz):
    rules = {r.rule for r in routes(fuzz.app)}
    assert {"/prereg/q/<name>", "/kiosk/ask/<name>", "/counter/applications/<app_id>/fields/<name>",
            "/kiosk/api/v1/applications", "/counter/api/v1/records/ack"} <= rules
    record_count("forms")
    assert COUNT["forms"] >= MIN_INPUTS["forms"]


# --- the JSON APIs: the prereg OpenAPI document's request bodies, the kiosk office API, the pull ack --

OPENAPI: dict = {}   # the document as served (procedure ids filled in), loaded by the fuzz fixture


def resolve(schema: dict) -> dict:
    while "$ref" in schema:
        node = OPENAPI
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def hostile_json_value(depth: int = 0):
    """Any JSON value, leaves hostile (lone surrogates included: json.dumps escapes them)."""
    leaves = st.one_of(hostile_text, st.sampled_from(["\ud800", "a\udfffb", "\udc00" * 3]), st.integers(),
                       st.sampled_from([10**20, -2**63, 2**64, 0.5, 1e308]), st.booleans(), st.none())
    return st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(hostile_text, inner, max_size=3)),
                        max_leaves=8)


def from_schema(schema: dict, depth: int = 0):
    """Values shaped by an OpenAPI schema, each leaf either plausible or hostile."""
    schema = resolve(schema)
    wild = hostile_json_value()
    if depth > 4:
        return wild
    kind = schema.get("type")
    if schema.get("enum"):
        return st.one_of(st.sampled_from(schema["enum"]), wild)
    if kind == "object" or "properties" in schema:
        props = {k: from_schema(v, depth + 1) for k, v in schema.get("properties", {}).items()}
        shaped = st.fixed_dictionaries({}, optional=props) if props else st.dictionaries(hostile_text, wild, max_size=4)
        return st.one_of(shaped, shaped, wild)
    if kind == "array":
        return st.one_of(st.lists(from_schema(schema.get("items", {}), depth + 1), max_size=3), wild)
    if kind == "integer":
        return st.one_of(st.integers(min_value=-10**25, max_value=10**25), wild)
    if kind == "boolean":
        return st.one_of(st.booleans(), wild)
    example = schema.get("example")
    return st.one_of(hostile_text, st.just(example) if isinstance(example, str) else hostile_text, wild)


def openapi_operations() -> list[tuple[str, str, dict]]:
    ops = []
    for path, item in OPENAPI["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                ops.append((method.upper(), "/prereg/api/v1" + path, body))
    return ops


def example_with_hostile_leaf(example: dict):
    """The documented example with one value (or one household member's value) replaced."""
    keys = sorted(example)
    return st.tuples(st.sampled_from(keys + ["household"]), hostile_json_value()).map(
        lambda kv: {**example, kv[0]: kv[1]} if kv[0] != "household"
        else {**example, "procedures": ["juminido"], "household": [{"name": "山田　花子", "birth_date": "1987-09-12",
                                                                   "relationship": kv[1]}]})


RAW_BODIES = [b"[" * 1000 + b"]" * 1000, b'{"a":' * 1000 + b"1" + b"}" * 1000, b"1" + b"0" * 5000,
              b'{"name": "\\ud800"}', b"NaN", b'{"x": Infinity}', b"\xff\xfe", b"",
              b'{"procedures": ["juminhyo"], "birth_date": "\xe1\xa7\x9a"}', b"[" * 100000]


def other_json_apis(env) -> list[tuple[str, str, dict, dict]]:
    from core.keys import kiosk_device_token
    from kiosk.office import device_token
    config = env.app.config["MADOGUCHI"]
    kiosk_auth = {"Authorization": "Bearer " + device_token(kiosk_device_token(config), "kiosk-7", "K")}
    upload = {"kiosk_id": "kiosk-7", "application": {
        "id": "0123456789ABCDEF", "state": "printed", "procedures": ["juminhyo"],
        "data": {"name": "山田　太郎", "birth_date": "1980-05-17", "sex": "male", "juminhyo_scope": "self",
                 "juminhyo_copies": 1},
        "sources": {"name": "card"}, "reception_number": "K-004"},
        "exchanges": [{"purpose": "print", "counterparty": "printer", "at": "2026-11-02T01:03:00+00:00"}]}
    return [("POST", "/kiosk/api/v1/applications", kiosk_auth, upload),
            ("POST", "/kiosk/api/v1/exchange-log", kiosk_auth,
             {"kiosk_id": "kiosk-7", "name": "山田　太郎", "birth_date": "1980-05-17"}),
            ("POST", "/counter/api/v1/records/ack", {"Authorization": f"Bearer {PULL_KEY}"},
             {"idempotency_keys": ["x"]})]


def nested_replace(value, draw):
    """The same structure with one randomly chosen string, number or list/object swapped for a hostile value."""
    if isinstance(value, dict) and value:
        key = draw(st.sampled_from(sorted(value)))
        if draw(st.booleans()):
            return {**value, key: draw(hostile_json_value())}
        return {**value, key: nested_replace(value[key], draw)}
    if isinstance(value, list) and value:
        i = draw(st.integers(min_value=0, max_value=len(value) - 1))
        return value[:i] + [nested_replace(value[i], draw)] + value[i + 1:]
    return draw(hostile_json_value())


@settings(max_examples=MIN_INPUTS["json"], **FUZZ)
@given(data=st.data())
def test_every_json_api_survives_hostile_bodies(fuzz, caplog, data):
    caplog.set_level(logging.INFO)
    choices = [(m, p, {}, body) for m, p, body in openapi_operations()] + other_json_apis(fuzz)
    method, path, headers, spec = data.draw(st.sampled_from(choices))
    how = data.draw(st.sampled_from(["schema", "example", "raw"] if "schema" in spec else ["example", "raw"]))
    if how == "raw":
        raw = data.draw(st.sampled_from(RAW_BODIES))
    else:
        if how == "schema":
            body = data.draw(from_schema(spec["schema"]))
        elif "example" in spec and isinstance(spec["example"], dict) and "procedures" in spec["example"]:
            body = data.draw(example_with_hostile_leaf(spec["example"]))
        else:
            example = spec.get("example", spec) if isinstance(spec.get("example", spec), dict) else spec
            body = nested_replace(example, data.draw)
        raw = json.dumps(body).encode()
    r = fuzz.prereg.open(path, method=method, data=raw, content_type="application/json", headers=headers)
    COUNT["json"] += 1
    check(r, f"{method} {path} {raw[:120]!r}")
    if r.status_code >= 400:
        assert r.is_json and "error" in r.get_json(), f"{path}: {r.status_code} not a JSON error"
    check_logs(caplog)


def test_the_json_fuzzer_ran_enough_inputs_over_every_documented_body(fuzz):
    assert {p for _, p, _ in openapi_operations()} >= {"/prereg/api/v1/applications", "/prereg/api/v1/postal-code"}
    record_count("json")
    assert COUNT["json"] >= MIN_INPUTS["json"]
