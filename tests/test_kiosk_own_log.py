"""The kiosk's "who used my information": after a card read, the card's person sees and prints
their own exchange log, and nobody else's; a kiosk PC asks the office for it."""
from __future__ import annotations

import re

import pdfplumber
import pytest

from core import exchange_log as xlog
from core.keys import kiosk_device_token
from core.store.db import open_from_config, write
from kiosk.office import OWN_LOG_PER_MINUTE, device_token
from tests.kiosk_helpers import Kiosk, printed_visit

YAMADA = xlog.Person("山田\u3000太郎", "1980-05-17")


def db_of(kiosk: Kiosk):
    return open_from_config(kiosk.config)


def words(kiosk: Kiosk) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", kiosk.text))


def entries_shown(kiosk: Kiosk) -> str:
    """The words of the entries on the screen (not the step bar or the demo panel)."""
    found = re.search(r'<ol class="k-log-entries".*?</ol>', kiosk.text, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(0))) if found else ""


def disclosures(db) -> list[dict]:
    return [e for e in xlog.entries(db) if e["purpose"] == "disclosure"]


def test_after_a_card_read_the_person_sees_their_entries_newest_first(kiosk):
    app_id = printed_visit(kiosk)
    kiosk.start("ja")
    kiosk.read_card()
    page = kiosk.get("/kiosk/purpose").get_data(as_text=True)
    assert "自分の情報を使った記録を見る" in page and 'href="/kiosk/my-log"' in page
    r = kiosk.get("/kiosk/my-log")
    assert r.status_code == 200
    text = entries_shown(kiosk)
    numbers = re.findall(r'data-own-log-entry="(\d+)"', kiosk.text)
    assert numbers == sorted(numbers, reverse=True) and len(numbers) == 2      # newest first, a screen's worth
    # The showing itself is first (the resident seeing their own log is an exchange too), then this card read.
    assert text.index("本人への表示") < text.index("カード読取") and "ご本人がこの記録の表示を求めたため" in text
    assert "氏名" in text and "提供完了" in text and "架空市" in text
    db = db_of(kiosk)
    [shown] = disclosures(db)
    assert (shown["actor"], shown["counterparty"], shown["application_id"]) == ("kiosk:kiosk-1", "kiosk:kiosk-1", None)
    assert shown["subject_ref"] == xlog.subject_of(kiosk.config, YAMADA)
    # Older entries on the next screen: the first visit's print and card read, with its procedure.
    kiosk.get("/kiosk/my-log?page=2")
    text = entries_shown(kiosk)
    assert "住民票の写し" in text and "住民基本台帳に関する事務" in text and "申請書を印刷するため" in text
    assert "カード読取" in text and "必要な通数" in text
    assert "1980" not in text and "霞が関" not in text and "1234" not in text    # names of data, never values
    assert re.findall(r'data-own-log-entry="(\d+)"', kiosk.text)[0] < numbers[-1]
    assert app_id in {e["application_id"] for e in xlog.entries(db) if e["purpose"] == "card_read"}
    # Turning pages shows the same list: it is logged once a visit.
    kiosk.get("/kiosk/my-log?page=1")
    assert len(disclosures(db)) == 1


@pytest.mark.parametrize("page, shown", [("abc", "1"), ("0", "1"), ("999", "3"), ("２", "2"), ("-1", "1")])
def test_a_page_number_out_of_range_or_not_a_number_shows_a_real_page(kiosk, page, shown):
    db = db_of(kiosk)
    with write(db):
        for _ in range(4):
            xlog.append(db, kiosk.config, actor="clerk:sato", counterparty="madoguchi", purpose="clerk_view",
                        application_id=None, payload={}, person=YAMADA)
    kiosk.start("en")
    kiosk.read_card()
    r = kiosk.get(f"/kiosk/my-log?page={page}")
    assert r.status_code == 200 and f'data-own-log-page="{shown}"' in kiosk.text
    assert f"Page {shown} of 3" in words(kiosk)      # 4 clerk views, the card read, this showing


def test_nobody_else_sees_a_log(kiosk_app, kiosk):
    db = db_of(kiosk)
    with write(db):
        xlog.append(db, kiosk.config, actor="clerk:sato", counterparty="madoguchi", purpose="clerk_view",
                    application_id=None, payload={}, person=YAMADA)
    # A browser that is not the kiosk's: "not a kiosk", nothing shown, nothing logged.
    stranger = Kiosk(kiosk.app, paired=False)
    for r in (stranger.get("/kiosk/my-log?lang=en"), stranger.post("/kiosk/my-log/print")):
        assert r.status_code == 403 and "data-own-log" not in r.get_data(as_text=True)
    assert "This is not a kiosk" in stranger.get("/kiosk/my-log?lang=en").get_data(as_text=True)
    # The kiosk's browser, before any card was read, or with a name in the URL: refused in words.
    kiosk.start("en")
    r = kiosk.get("/kiosk/my-log?name=山田太郎&birth_date=1980-05-17")
    assert r.status_code == 403 and 'data-own-log-refused="own_log_needs_card"' in kiosk.text
    assert "only after your own card has been read" in words(kiosk) and "data-own-log-entry" not in kiosk.text
    assert kiosk.post("/kiosk/my-log/print").status_code == 403
    # A QR visit has no card: nothing either.
    kiosk.get("/kiosk/qr")
    assert kiosk.get("/kiosk/my-log").status_code == 403
    assert disclosures(db) == [] and not [e for e in xlog.entries(db) if e["purpose"] == "log_print"]
    # A card read in one visit is that visit's: another session of the same browser gets nothing.
    kiosk.start("en")
    kiosk.read_card()
    other = Kiosk(kiosk.app, paired=False)
    other.client.set_cookie(*_device_cookie(kiosk))
    other.start("en")
    assert other.get("/kiosk/my-log").status_code == 403 and "data-own-log-entry" not in other.text
    assert disclosures(db) == []
    assert kiosk.get("/kiosk/my-log").status_code == 200 and len(disclosures(db)) == 1


def _device_cookie(kiosk: Kiosk):
    from kiosk import pairing
    cookie = kiosk.client.get_cookie(pairing.COOKIE, path="/kiosk/")
    return pairing.COOKIE, cookie.value


def test_the_log_goes_with_the_visit(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.get("/kiosk/my-log")
    assert kiosk.visit().own_log
    kiosk.remove()
    kiosk.hub.on_card_event({"type": "removed"})
    assert kiosk.visit() is None
    r = kiosk.get("/kiosk/my-log")
    assert r.status_code == 302 and "notice=card_removed" in r.location


def test_printing_the_log_prints_the_persons_page_in_japanese_and_logs_it(kiosk, tmp_path, output_dir):
    printed_visit(kiosk)
    db = db_of(kiosk)
    db.execute("UPDATE exchange_log SET at = '2026-01-01T15:30:00+00:00' WHERE seq = 1")   # the card read, in UTC
    kiosk.start("en")
    kiosk.read_card()
    kiosk.get("/kiosk/my-log")
    folder = tmp_path / "var" / "printed"
    before = set(folder.glob("*.pdf"))
    r = kiosk.post("/kiosk/my-log/print")
    assert r.status_code == 200 and "data-own-log-printed" in kiosk.text
    [pdf] = set(folder.glob("*.pdf")) - before
    (output_dir / "kiosk-own-log.pdf").write_bytes(pdf.read_bytes())
    with pdfplumber.open(pdf) as doc:
        page = doc.pages[0]
        assert round(page.width) > round(page.height)           # A4 landscape: the columns fit
        text = page.extract_text()
        table = [[(c or "").replace("\n", "") for c in row] for row in page.extract_tables()[-1]]
        page.to_image(resolution=80).save(output_dir / "kiosk-own-log.png")
    assert "山田 太郎 様" in text.replace("\u3000", " ") and "昭和55年5月17日" in text
    assert table[0] == ["管理番号", "状況", "日時", "機関", "事務", "事務手続", "やりとりされた情報の名称", "内容"]
    kinds = [row[7] for row in table[1:]]
    assert kinds[0].startswith("本人への表示") and any(k.startswith("印刷") for k in kinds)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d ?\d\d:\d\d", row[2]) for row in table[1:]), table
    assert table[-1][2] == "2026-01-0200:30"                  # Japan's time (pdfplumber drops the space)
    last = list(xlog.entries(db))[-1]
    assert (last["purpose"], last["counterparty"], last["result"]) == ("log_print", "printer:pdf-folder", "ok")
    assert last["subject_ref"] == xlog.subject_of(kiosk.config, YAMADA)


def test_a_printer_failure_is_said_and_logged_as_for_a_form(kiosk, monkeypatch):
    from hardware.printer import PrinterError

    class OutOfPaper:
        name = "front"

        def print_pdf(self, pdf, title):
            assert "山田" not in title
            raise PrinterError("job 9 cancelled", "out_of_paper", queue="front", job_id=9)
    kiosk.start("en")
    kiosk.read_card()
    monkeypatch.setattr(kiosk.hub.devices, "printer", OutOfPaper)
    r = kiosk.post("/kiosk/my-log/print")
    assert r.status_code == 503 and 'data-own-log-print-error="out_of_paper"' in kiosk.text
    assert "out of paper" in words(kiosk) and "data-own-log-entry" in kiosk.text
    last = list(xlog.entries(db_of(kiosk)))[-1]
    assert (last["purpose"], last["counterparty"], last["result"]) == ("log_print", "printer:front",
                                                                       "error:out_of_paper")


# --- a kiosk PC: the office answers ---------------------------------------------------------------

def own_log_body(kiosk_id="kiosk-7", **changes):
    return {"kiosk_id": kiosk_id, "name": "山田\u3000太郎", "birth_date": "1980-05-17", **changes}


@pytest.fixture
def office(app):
    from core.application import Application, Source, State
    from core.store.applications import ApplicationStore
    from tests.test_kiosk_office import UPLOAD_FORM

    config = app.config["MADOGUCHI"]
    db = open_from_config(config)
    data = {k: v for k, v in UPLOAD_FORM.items() if k != "procedures"}
    stored = Application.create(["juminhyo"], data, Source.TYPED, actor="kiosk:kiosk-1", channel="kiosk")
    stored.transition(State.SUBMITTED, "kiosk:kiosk-1")
    with write(db):
        ApplicationStore(db).save(stored)
        xlog.append(db, config, actor="kiosk:kiosk-1", counterparty="printer:pdf-folder", purpose="print",
                    application_id=stored.id, payload=b"%PDF", person=YAMADA, fields=sorted(data))
    token = device_token(kiosk_device_token(config), "kiosk-7", "K")
    return app.test_client(), {"Authorization": f"Bearer {token}"}, db


def test_the_office_answers_a_kiosks_request_with_the_persons_entries_and_logs_it(office):
    client, auth, db = office
    r = client.post("/kiosk/api/v1/exchange-log", json=own_log_body(), headers=auth)
    assert r.status_code == 200
    entries = r.get_json()["entries"]
    assert [e["purpose"] for e in entries] == ["print", "disclosure"]
    assert entries[0]["procedures"] == ["juminhyo"] and "name" in entries[0]["fields"]
    assert all(set(e) == {"seq", "at", "actor", "counterparty", "purpose", "result", "fields", "application_id",
                          "procedures"} for e in entries)            # no subject, no hashes, no values
    assert "山田" not in r.get_data(as_text=True)
    [shown] = disclosures(db)
    assert shown["actor"] == "kiosk:kiosk-7" and shown["seq"] == entries[-1]["seq"]
    assert r.get_json()["head"] == {"seq": shown["seq"], "entry_hash": shown["entry_hash"]}   # for the paper


def test_the_office_logs_a_log_a_kiosk_pc_printed(office):
    client, auth, db = office
    url = "/kiosk/api/v1/exchange-log/printed"
    printed = {"counterparty": "printer:front", "at": "2026-11-02T01:03:00+00:00", "payload_sha256": "ab" * 32,
               "result": "ok"}
    assert client.post(url, json=own_log_body(exchange=printed)).status_code == 401
    for bad in ({**printed, "counterparty": "resident"}, {**printed, "payload_sha256": "x"},
                {**printed, "result": "done; DROP TABLE"}, {**printed, "at": 5}, "printed", None):
        r = client.post(url, json=own_log_body(exchange=bad), headers=auth)
        assert r.status_code == 400 and r.get_json()["error"] == "bad_exchange", bad
    assert client.post(url, json=own_log_body(kiosk_id="kiosk-8", exchange=printed), headers=auth).status_code == 403
    client.application.extensions.pop("kiosk.own_log_limiter")     # those used the minute's allowance
    assert client.post(url, json=own_log_body(exchange=printed), headers=auth).status_code == 204
    last = list(xlog.entries(db))[-1]
    assert (last["purpose"], last["actor"], last["counterparty"], last["result"]) == (
        "log_print", "kiosk:kiosk-7", "printer:front", "ok")
    assert last["subject_ref"] == xlog.subject_of(app_config(client), YAMADA) and last["application_id"] is None


def app_config(client):
    return client.application.config["MADOGUCHI"]


def test_the_office_refuses_what_it_should(office, app):
    client, auth, db = office
    url = "/kiosk/api/v1/exchange-log"
    assert client.post(url, json=own_log_body()).status_code == 401
    forged = {"Authorization": "Bearer kiosk-7.K.forged"}
    assert client.post(url, json=own_log_body(), headers=forged).status_code == 401
    r = client.post(url, json=own_log_body(kiosk_id="kiosk-8"), headers=auth)   # speaking for another kiosk
    assert r.status_code == 403 and r.get_json()["error"] == "wrong_kiosk"
    for bad in (own_log_body(name=""), own_log_body(birth_date="1980-13-01"), own_log_body(birth_date=19800517),
                own_log_body(name=["山田"]), own_log_body(birth_date="昭和55年5月17日")):
        r = client.post(url, json=bad, headers=auth)
        assert r.status_code == 400 and r.get_json()["error"] == "bad_person"
    assert client.post(url, data="not json", headers={**auth, "Content-Type": "application/json"}).status_code == 400
    assert client.get(url, headers=auth).status_code == 405
    assert disclosures(db) == []


def test_the_office_answers_a_few_a_minute_per_kiosk(office, app):
    client, auth, db = office
    url = "/kiosk/api/v1/exchange-log"
    codes = [client.post(url, json=own_log_body(), headers=auth).status_code for _ in range(OWN_LOG_PER_MINUTE + 2)]
    assert codes[:OWN_LOG_PER_MINUTE] == [200] * OWN_LOG_PER_MINUTE and codes[-1] == 429
    r = client.post(url, json=own_log_body(), headers=auth)
    assert int(r.headers["Retry-After"]) >= 1
    # Another kiosk has its own allowance.
    other = {"Authorization": f"Bearer {device_token(kiosk_device_token(app.config['MADOGUCHI']), 'kiosk-8', 'L')}"}
    assert client.post(url, json=own_log_body(kiosk_id="kiosk-8"), headers=other).status_code == 200
    assert len(disclosures(db)) == OWN_LOG_PER_MINUTE + 1


@pytest.fixture
def kiosk_pc(kiosk_app, config):
    """A kiosk PC (kiosk-7, letters K) whose office is at a port nothing listens on."""
    token = device_token(kiosk_device_token(config), "kiosk-7", "K")
    return Kiosk(kiosk_app(devices={"emulator_persona": ""}, keys={"kiosk_device_token": token},
                           kiosk={"office_server_url": "http://127.0.0.1:9", "kiosk_id": "kiosk-7",
                                  "reception_prefix": "K"}))


def test_a_kiosk_pc_says_so_when_the_office_is_down(kiosk_pc):
    kiosk_pc.start("en")
    kiosk_pc.read_card()
    r = kiosk_pc.get("/kiosk/my-log")
    assert r.status_code == 503 and "cannot be reached just now" in words(kiosk_pc) and "ask at the counter" in \
        words(kiosk_pc)
    assert kiosk_pc.post("/kiosk/my-log/print").status_code == 503
    assert kiosk_pc.visit().card is not None          # the visit goes on


def test_a_kiosk_pc_shows_what_the_office_answers(kiosk_pc, office, monkeypatch):
    client, _auth, db = office
    sent = []

    class Answer:
        def __init__(self, r):
            self.status_code, self._r = r.status_code, r

        def json(self):
            return self._r.get_json()

    def post(url, json=None, headers=None, timeout=None):
        sent.append((url, json))
        return Answer(client.post(url.removeprefix("http://127.0.0.1:9"), json=json, headers=headers))
    monkeypatch.setattr("requests.post", post)
    # The office's keys are this test's config; the kiosk PC's token is made from them.
    kiosk_pc.start("ja")
    kiosk_pc.read_card()
    r = kiosk_pc.get("/kiosk/my-log")
    assert r.status_code == 200, words(kiosk_pc)
    text = entries_shown(kiosk_pc)
    kiosk_pc.get("/kiosk/my-log?page=2")
    text += entries_shown(kiosk_pc)
    assert "住民票の写し" in text and "本人への表示" in text
    [(url, body)] = sent
    assert url == "http://127.0.0.1:9/kiosk/api/v1/exchange-log" and "山田" not in url
    assert body == own_log_body()
    [shown] = disclosures(db)
    assert shown["actor"] == "kiosk:kiosk-7"
    # Printed on the kiosk PC's printer: the office's log, where the person looks next, has it too.
    assert kiosk_pc.post("/kiosk/my-log/print").status_code == 200
    url, body = sent[-1]
    assert url == "http://127.0.0.1:9/kiosk/api/v1/exchange-log/printed" and body["exchange"]["result"] == "ok"
    told = [e for e in xlog.entries(db) if e["purpose"] == "log_print" and e["actor"] == "kiosk:kiosk-7"]
    assert told and told[-1]["counterparty"] == "printer:pdf-folder"
