"""児童手当 asks whether each child lives apart (別居監護): the member pages of every surface ask
it only when a chosen procedure does, it is kept through a clerk's correction, and the form
prints 同居 or 別居 in the child's row."""
from __future__ import annotations

import io

import pdfplumber
import pytest

from core.application import Application, Source
from core.catalogue import get_catalogue
from core.errors import ValidationError
from core.forms import parse_application
from core.store.applications import ApplicationStore
from core.store.db import write
from printing import render_form
from tests.fixtures_counter import CERTIFICATE, post, text_of
from tests.test_printing import layout_raw, text_in

CHILD = {"name__family": "山田", "name__given": "一郎", "kana__family": "ヤマダ", "kana__given": "イチロウ",
         "birth_era": "western", "birth_year": "2008", "birth_month": "4", "birth_day": "2", "sex": "male",
         "relationship": "child"}


def test_only_a_procedure_that_asks_it_gets_the_question(kiosk):
    assert [f.name for f in get_catalogue().member_questions(["jido_teate"])] == ["lives_apart"]
    assert get_catalogue().member_questions(["juminido", "kokuho_shutoku"]) == []
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("moving_in", ["juminido"])
    kiosk.get("/kiosk/ask/household/member")
    assert 'name="lives_apart"' not in kiosk.text


def test_the_kiosk_asks_each_child_and_keeps_the_answer(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("moving_in", ["juminido", "jido_teate"])
    kiosk.get("/kiosk/ask/household/member")
    assert 'name="lives_apart"' in kiosk.text and "live at a different address" in kiosk.text
    r = kiosk.post("/kiosk/ask/household/member", {**CHILD, "lives_apart": "perhaps"})
    assert r.status_code == 400 and kiosk.visit().values.get("household") in (None, [])
    assert kiosk.post("/kiosk/ask/household/member", {**CHILD, "lives_apart": "yes"}).status_code == 302
    assert kiosk.visit().values["household"][0]["lives_apart"] is True
    kiosk.get("/kiosk/ask/household/member/0")
    assert 'name="lives_apart" value="yes" checked' in kiosk.text


def test_prereg_asks_it_on_the_member_page(walker):
    from tests.prereg_helpers import date_parts
    from tests.test_prereg_flow import start
    start(walker, "moving_in", ("juminido", "jido_teate"))
    page = walker.get("/prereg/household/0")
    assert 'name="m_lives_apart"' in page and "あなたと別の住所に住んでいますか" in page
    walker.post({"m_name__family": "山田", "m_name__given": "一郎", "m_kana__family": "ヤマダ",
                 "m_kana__given": "イチロウ", **date_parts("m_birth_date", 2008, 4, 2), "m_sex": "male",
                 "m_relationship": "child", "m_lives_apart": "no"})
    assert walker.at() == "/prereg/q/household", walker.page[:2000]
    assert "山田\u3000一郎" in walker.page and "別居" not in walker.page


def test_a_clerks_correction_keeps_it_and_the_form_prints_it(clerk_client, db):
    cat = get_catalogue()
    wanted = {f.name for f in cat.fields_for(["jido_teate"])}
    form = {k: v for k, v in {**CERTIFICATE, "procedures": ["jido_teate"]}.items()
            if k == "procedures" or k in wanted}
    form["household"] = [{"name": "山田\u3000一郎", "birth_date": "2008-04-02", "sex": "male", "relationship": "child",
                          "lives_apart": True},
                         {"name": "山田\u3000二郎", "birth_date": "2012-04-02", "sex": "male", "relationship": "child",
                          "lives_apart": False}]
    procedures, values = parse_application(form, cat, complete=False)
    app = Application.create(procedures, values, Source.TYPED, actor="kiosk:kiosk-1", channel="kiosk")
    with write(db):
        ApplicationStore(db).save(app)
    url = f"/counter/applications/{app.id}/household?member=0&lang=en"
    page = clerk_client.get(url).get_data(as_text=True)
    assert 'name="lives_apart" value="yes" checked' in page
    r = post(clerk_client, url, {"member": "0", "name__family": "山田", "name__given": "一朗",
                                 "birth_date": "2008-04-02", "sex": "male", "relationship": "child",
                                 "lives_apart": "yes", "reason": "typo", "version": app.version})
    assert r.status_code == 302, text_of(r)
    stored = ApplicationStore(db).get(app.id).data["household"]
    assert stored[0]["lives_apart"] is True and stored[0]["name"] == "山田\u3000一朗"
    table = next(f for f in layout_raw("jido_teate")["fields"] if f["type"] == "household")
    column = next(c for c in table["columns"] if c["key"] == "lives_apart")
    x = table["x"] + sum(c["w"] for c in table["columns"][:table["columns"].index(column)])
    body = table["y"] + table["header_h"]
    with pdfplumber.open(io.BytesIO(render_form("jido_teate", {"household": stored}))) as pdf:
        words = [text_in(pdf.pages[0], x, body + i * table["row_h"], column["w"], table["row_h"]) for i in range(3)]
    assert words == ["別居", "同居", ""]


def test_the_answer_is_yes_or_no():
    with pytest.raises(ValidationError) as e:
        parse_application({"procedures": ["jido_teate"], "household": [
            {"name": "山田\u3000一郎", "birth_date": "2008-04-02", "lives_apart": "sometimes"}]}, get_catalogue(),
            complete=False)
    assert [err.field for err in e.value.errors] == ["household[0].lives_apart"]
