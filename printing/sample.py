"""A sample application for previewing a layout: the hard cases a form must survive (rare
characters 𠮷 髙 﨑 and an ideographic variation sequence, a long address, a household of
eight that overflows onto a 別紙), and a plausible value for every other field."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from core.catalogue import Catalogue, FieldDef

VISIT = Path(__file__).resolve().parent / "samples" / "visit.json"
IVS_NAME = "葛\U000E0102飾"            # a variant glyph IPAmj明朝 has: the IVS is printed, not dropped
HARD_CASES: dict[str, Any] = {
    "name": "髙橋　𠮷子",
    "kana": "タカハシ　ヨシコ",
    "address": f"東京都{IVS_NAME}区柴又七丁目１２番３４号　サンライズ﨑山レジデンス東館１２０３号室（髙橋方）",
    "household": [
        {"name": n, "kana": k, "birth_date": b, "sex": s, "relationship": r} for n, k, b, s, r in (
            ("髙橋　太郎", "タカハシ　タロウ", "1983-09-12", "male", "head"),
            ("髙橋　﨑人", "タカハシ　サキト", "2015-06-30", "male", "child"),
            ("髙橋　𠮷乃", "タカハシ　ヨシノ", "2017-01-15", "female", "child"),
            (f"{IVS_NAME}　花子", "カツシカ　ハナコ", "1950-03-03", "female", "parent"),
            ("髙橋　一郎", "タカハシ　イチロウ", "1948-11-23", "male", "parent"),
            ("髙橋　次郎", "タカハシ　ジロウ", "2019-08-08", "male", "child"),
            ("髙橋　三奈", "タカハシ　ミナ", "2021-12-24", "female", "child"),
            ("﨑山　梅", "サキヤマ　ウメ", "1930-05-05", "female", "grandparent"),
        )],
}
PLAIN: dict[str, Any] = {"text": "見本", "kana": "ミホン", "address": HARD_CASES["address"], "phone": "03-1234-5678",
                         "postal_code": "1250052", "date": "2020-04-01", "number": 1, "checkbox": True}


def sample_application(procedure_id: str, catalogue: Catalogue) -> dict[str, Any]:
    """The JSON form of a visit for `procedure_id` with every field it prints filled."""
    data: dict[str, Any] = {**json.loads(VISIT.read_text("utf-8")), **HARD_CASES, "procedures": [procedure_id]}
    for f in catalogue.fields_for([procedure_id]):
        if data.get(f.name) in (None, ""):
            value = _plain(f)
            if value is not None:
                data[f.name] = value
    return data


def _plain(f: FieldDef) -> Any:
    if f.type == "choice":
        return f.choices[0] if f.choices else None
    if f.type == "number":
        return max(f.min or 1, 1) if f.max is None else min(max(f.min or 1, 1), f.max)
    if f.type == "date":
        return date(2020, 4, 1).isoformat()
    if f.type == "text" and f.pattern:
        return f.example   # a value of the shape the field asks (a 在留カード番号), or nothing
    if f.type == "text" and f.max_length:
        return PLAIN["text"][:f.max_length]
    return PLAIN.get(f.type)
