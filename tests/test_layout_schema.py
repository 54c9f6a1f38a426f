"""The published JSON Schema of layout files (core/schemas/layout.schema.json): every built-in,
demo and test layout passes, it names exactly the keys printing/fields.py accepts, and it
refuses a misspelt key and a value of the wrong type."""
from __future__ import annotations

import copy
import json
import tomllib

import pytest
from jsonschema import Draft202012Validator

from printing.fields import COMMON, FIELD_TYPES
from printing.layout import DRAW_KEYS, LAYOUT_KEYS
from tests.helpers import ROOT

SCHEMA = json.loads((ROOT / "core" / "schemas" / "layout.schema.json").read_text("utf-8"))
LAYOUTS = (sorted((ROOT / "core" / "procedures" / "layouts").glob("*.toml"))
           + sorted((ROOT / "sites").glob("*/procedures/layouts/*.toml"))
           + sorted((ROOT / "tests" / "sites").glob("*/procedures/layouts/*.toml")))


def errors(data: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in Draft202012Validator(SCHEMA).iter_errors(data)]


def juminhyo() -> dict:
    return tomllib.loads((ROOT / "core" / "procedures" / "layouts" / "juminhyo.toml").read_text("utf-8"))


def test_the_schema_is_a_valid_draft_2020_12_schema():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("path", LAYOUTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_layout_is_valid(path):
    assert errors(tomllib.loads(path.read_text("utf-8"))) == []


def test_it_names_the_keys_the_renderer_takes():
    defs = SCHEMA["$defs"]
    assert set(SCHEMA["properties"]) == LAYOUT_KEYS
    assert set(defs["field"]["properties"]["type"]["enum"]) == set(FIELD_TYPES)
    for name, cls in FIELD_TYPES.items():
        assert set(defs[f"field_{name}"]["properties"]) == COMMON | cls.keys, name
    assert set(defs["draw"]["properties"]["kind"]["enum"]) == set(DRAW_KEYS)
    for kind, keys in DRAW_KEYS.items():
        assert set(defs[f"draw_{kind}"]["properties"]) == keys | {"kind"}, kind


def test_a_misspelt_key_is_refused_where_it_is():
    data = juminhyo()
    data["fields"][3]["sise"] = 12
    assert any(e.startswith("fields/3: Additional properties are not allowed ('sise'") for e in errors(data))
    data = juminhyo()
    data["orientaton"] = "landscape"
    assert any("'orientaton'" in e for e in errors(data))
    data = juminhyo()
    data["draw"][0]["colour"] = "red"
    assert any(e.startswith("draw/0: Additional properties") for e in errors(data))


def test_a_key_of_another_field_type_is_refused():
    data = juminhyo()
    qr = next(f for f in data["fields"] if f["type"] == "qr")
    qr["n"] = 3                                    # a cells key on a QR code
    assert any("'n' was unexpected" in e for e in errors(data))


@pytest.mark.parametrize("change, where", [
    (lambda d: d["fields"][1].__setitem__("x", "15mm"), "fields/1/x"),
    (lambda d: d.__setitem__("page", "A2"), "page"),
    (lambda d: d.__setitem__("page", [210]), "page"),
    (lambda d: d["fields"][1].__setitem__("font", "comic"), "fields/1/font"),
    (lambda d: d["fields"][1].__setitem__("type", "textbox"), "fields/1/type"),
    (lambda d: d["fields"][1].__setitem__("source", "@mayor"), "fields/1/source"),
    (lambda d: d.__setitem__("background_page", 0), "background_page"),
    (lambda d: d["draw"][0].__setitem__("wrap", "yes"), "draw/0/wrap"),
    (lambda d: d["fields"][1].pop("y"), "fields/1"),
])
def test_a_wrong_type_or_value_is_refused(change, where):
    data = copy.deepcopy(juminhyo())
    assert errors(data) == []
    change(data)
    assert any(e.startswith(f"{where}: ") for e in errors(data)), errors(data)


def test_a_choice_needs_its_box_or_where_each_option_is():
    data = juminhyo()
    choice = next(f for f in data["fields"] if f["type"] == "choice")
    for key in ("w", "h"):
        choice.pop(key, None)
    assert errors(data)
    choice["at"] = {"self": [100, 50, 10, 5]}
    assert errors(data) == []
    choice["at"] = {"self": [100, 50, 10]}
    assert errors(data)
