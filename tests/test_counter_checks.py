"""Issue 14 at the counter: opening by reception number, the 本人確認 before confirming, the
exchange log's kinds, the person search with variant characters and kana, Japan's time on every
log, and the queue's reasons and waiting times."""
import io
import json
from datetime import date, timedelta

import jsonschema
import pdfplumber
import pytest

from core import exchange_log as xlog
from core.application import State, iso, utcnow
from core.catalogue import CatalogueError, get_catalogue
from core.errors import ValidationError
from core.name_search import fold_variants, is_kana_reading, name_key, parse_variants, variant_map
from core.services import casework as services
from core.store.applications import ApplicationStore
from core.store.db import write
from tests.fixtures_counter import CERTIFICATE, CHECKED_ID, MOVE_IN, kiosk_application, post, text_of

ROOT_DOCS = __import__("pathlib").Path(__file__).resolve().parents[1] / "docs"
INKAN = {"procedures": ["inkan_toroku"], "name": "山田\u3000太郎", "kana": "ヤマダ\u3000タロウ",
         "birth_date": "1985-04-01", "sex": "male", "postal_code": "1000001", "address": "東京都千代田区千代田１－１",
         "phone": "0312345678", "inkan_method": "same_day"}
HOSTILE = ["\ud800", "A-\x00001", "A-" + "9" * 5000, "Ａ－" + "１" * 50, "ZZZZ-001", "<script>", "A--1", "-001",
           "A-0", "𠮷-001", "\u202eA-001", "A-１٢3"]


def _created_at(db, app_id: str, when) -> None:
    db.execute("UPDATE applications SET created_at = ? WHERE id = ?", [iso(when), app_id])
    db.execute("UPDATE application_events SET at = ? WHERE application_id = ?", [iso(when), app_id])


def _form(client, url: str, fields: dict):
    """POST a form whose text may hold what a browser cannot send as UTF-8 (a lone surrogate
    goes as the bytes a hostile client would send)."""
    from urllib.parse import quote_from_bytes

    from tests.fixtures_counter import csrf_token
    fields = {"csrf_token": csrf_token(client), **fields}
    body = "&".join(f"{k}={quote_from_bytes(str(v).encode('utf-8', 'surrogatepass'))}" for k, v in fields.items())
    return client.post(url, data=body, content_type="application/x-www-form-urlencoded")


def _confirm(client, app, **form):
    return _form(client, f"/counter/applications/{app.id}/confirm?lang=en", {"version": app.version, **form})


# --- opening by reception number --------------------------------------------------------------

@pytest.mark.parametrize("typed", ["A-007", "a-7", "Ａ－００７", "A007", " A-7 ", "ａ７"])
def test_todays_reception_number_opens_its_application(clerk_client, db, typed):
    app = kiosk_application(db, reception="A-007")
    kiosk_application(db, CERTIFICATE, reception="A-008")
    r = post(clerk_client, "/counter/open", {"code": typed})
    assert r.status_code == 302 and r.location.endswith(f"/counter/applications/{app.id}")


def test_a_reception_number_of_another_day_or_none_is_not_found(clerk_client, db):
    old = kiosk_application(db, reception="A-001")
    _created_at(db, old.id, utcnow() - timedelta(days=1, hours=1))
    r = post(clerk_client, "/counter/open?lang=en", {"code": "A-001"})
    assert r.status_code == 404 and "No application today has the reception number A-001." in text_of(r)
    assert r.location is None


def test_a_reception_number_two_applications_share_lists_them(clerk_client, db):
    one, two = kiosk_application(db, reception="B-002"), kiosk_application(db, CERTIFICATE, reception="B-002")
    r = post(clerk_client, "/counter/open", {"code": "B-2"})
    assert r.status_code == 302 and "number=B-002" in r.location
    html = clerk_client.get(r.location).get_data(as_text=True)
    assert one.id in html and two.id in html


def test_the_queue_filter_and_the_log_lookup_read_reception_numbers_too(clerk_client, db):
    app = kiosk_application(db, reception="A-012")
    other = kiosk_application(db, CERTIFICATE, reception="A-013")
    html = clerk_client.get("/counter/?number=ａ-12").get_data(as_text=True)
    assert app.id in html and other.id not in html
    r = clerk_client.get("/counter/exchange-log?lang=en&application=A-12")
    assert r.status_code == 200 and 'data-kind="card_read"' in r.get_data(as_text=True)
    r = clerk_client.get("/counter/exchange-log?lang=en&application=A-99")
    assert r.status_code == 400 and "today's reception number" in text_of(r)


@pytest.mark.parametrize("typed", HOSTILE)
def test_hostile_codes_never_fail_the_open_route(clerk_client, db, typed):
    kiosk_application(db, reception="A-001")
    r = _form(clerk_client, "/counter/open", {"code": typed})
    assert r.status_code in (302, 400, 404)


def test_a_reception_number_opens_this_offices_application_first(clerk_client, db):
    """Numbers count per office: the main office's and the south branch's kiosks both gave A-021
    today. The main office's counter opens its own; the log look-up finds it too."""
    main = kiosk_application(db, reception="A-021", office="honcho")
    kiosk_application(db, CERTIFICATE, reception="A-021", office="minami")     # the newer one
    r = post(clerk_client, "/counter/open", {"code": "A-021"})
    assert r.status_code == 302 and r.location.endswith(f"/counter/applications/{main.id}")
    r = clerk_client.get("/counter/exchange-log?lang=en&application=A-21")
    assert r.status_code == 200 and main.id in r.get_data(as_text=True)


def test_another_offices_number_opens_when_this_office_has_none(clerk_client, db):
    """A visitor sent over from the branch with its slip: the main office has no A-022 today."""
    south = kiosk_application(db, CERTIFICATE, reception="A-022", office="minami")
    r = post(clerk_client, "/counter/open", {"code": "A-022"})
    assert r.status_code == 302 and r.location.endswith(f"/counter/applications/{south.id}")
    yesterday = kiosk_application(db, reception="A-023", office="honcho")
    _created_at(db, yesterday.id, utcnow() - timedelta(days=1, hours=1))
    assert post(clerk_client, "/counter/open", {"code": "A-023"}).status_code == 404

# --- 本人確認 before confirming --------------------------------------------------------------------

def test_confirming_needs_the_identity_check(clerk_client, db):
    app = kiosk_application(db, CERTIFICATE)
    r = _confirm(clerk_client, app)
    assert r.status_code == 400 and "Record which identity document you checked before confirming." in text_of(r)
    assert db["outbox"].count == 0 and ApplicationStore(db).get(app.id).state is State.PRINTED


def test_the_identity_check_goes_into_the_audit_trail_the_record_and_the_log(clerk_client, db):
    app = kiosk_application(db, CERTIFICATE)
    r = _confirm(clerk_client, app, id_document_1="driving_licence", id_expires_1="令和20年5月17日")
    assert r.status_code == 302
    [event] = [e for e in ApplicationStore(db).events(app.id) if e.kind == "identity_check"]
    doc = {"kind": "driving_licence", "expires_on": "2038-05-17", "expired": False, "description": None}
    assert event.new["documents"] == [doc] and event.new["checked_by"] == "clerk:sato" and not event.new["expired"]
    record = json.loads(next(db["outbox"].rows)["record"])
    assert record["schema"] == "madoguchi.record/3" and record["identity_check"] == event.new
    schema = json.loads((ROOT_DOCS / "record.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator(schema).validate({**record, "idempotency_key": f"{app.id}-v3"})
    [entry] = [e for e in xlog.entries(db, application_id=app.id) if e["purpose"] == "confirm"]
    assert entry["actor"] == "clerk:sato" and entry["payload_sha256"] == xlog.payload_digest(event.new)
    page = text_of(clerk_client.get(f"/counter/applications/{app.id}?lang=en"))
    assert "Identity check (本人確認)" in page and "Driver's licence" in page and "valid until 2038-05-17" in page
    assert "Expired" not in page


def test_an_expired_document_is_flagged_to_the_clerk_and_in_the_record(clerk_client, db):
    app = kiosk_application(db, CERTIFICATE)
    r = _confirm(clerk_client, app, id_document_1="residence_card", id_expires_1="2020-01-31")
    assert r.status_code == 302
    record = json.loads(next(db["outbox"].rows)["record"])
    assert record["identity_check"]["expired"] is True and record["identity_check"]["documents"][0]["expired"]
    html = clerk_client.get(f"/counter/applications/{app.id}?lang=en").get_data(as_text=True)
    assert "data-identity-recorded" in html and "tag-expired" in html


def test_a_card_read_at_the_kiosk_whose_expiry_passed_is_flagged_on_the_detail_page(clerk_client, db):
    lapsed = kiosk_application(db, CERTIFICATE, licence={"address": "東京都千代田区千代田１－１",
                                                         "expiry": "2024-03-31"})
    page = text_of(clerk_client.get(f"/counter/applications/{lapsed.id}?lang=en"))
    assert "The Driver's licence read at the kiosk expired on 2024-03-31." in page
    html = clerk_client.get(f"/counter/applications/{lapsed.id}").get_data(as_text=True)
    assert 'value="2024-03-31"' in html     # the form starts from the card's expiry
    valid_to = (date.today() + timedelta(days=400)).isoformat()
    valid = kiosk_application(db, CERTIFICATE, licence={"address": "東京都千代田区千代田１－１", "expiry": valid_to})
    assert "read at the kiosk expired" not in text_of(clerk_client.get(f"/counter/applications/{valid.id}?lang=en"))


def test_seal_registration_needs_two_documents_or_one_photo_id(clerk_client, db):
    app = kiosk_application(db, INKAN)
    assert get_catalogue().get("inkan_toroku").id_documents == 2
    page = text_of(clerk_client.get(f"/counter/applications/{app.id}?lang=en"))
    assert "These procedures need one photo ID, or two other documents." in page
    r = _confirm(clerk_client, app, id_document_1="other", id_description_1="健康保険証")
    assert r.status_code == 400 and "need 2 identity documents" in text_of(r) and db["outbox"].count == 0
    r = _confirm(clerk_client, app, id_document_1="other", id_description_1="健康保険証",
                 id_document_2="other", id_description_2="年金手帳")
    assert r.status_code == 302 and db["outbox"].count == 1
    record = json.loads(next(db["outbox"].rows)["record"])
    assert [d["description"] for d in record["identity_check"]["documents"]] == ["健康保険証", "年金手帳"]


def test_one_photo_id_is_enough_for_seal_registration(clerk_client, db):
    app = kiosk_application(db, INKAN)
    assert _confirm(clerk_client, app, id_document_1="passport").status_code == 302


@pytest.mark.parametrize("form, field, words", [
    ({"id_document_1": "hanko"}, "id_document_1", "Choose one of the documents in the list."),
    ({"id_document_1": "passport", "id_expires_1": "next year"}, "id_expires_1", "Enter the expiry date"),
    ({"id_document_1": "passport", "id_expires_1": "2030-13-45"}, "id_expires_1", "Enter the expiry date"),
    ({"id_document_1": "passport", "id_expires_1": "9" * 300}, "id_expires_1", "Enter the expiry date"),
    ({"id_document_1": "other"}, "id_description_1", "Say which document it was"),
    ({"id_document_1": "other", "id_description_1": "x" * 41}, "id_description_1", "Keep the description"),
    ({"id_document_1": "\ud800"}, "id_document_1", "Choose one of the documents"),
])
def test_a_wrong_identity_form_is_shown_again_with_its_problem(clerk_client, db, form, field, words):
    app = kiosk_application(db, CERTIFICATE)
    r = _confirm(clerk_client, app, **form)
    assert r.status_code == 400 and words in text_of(r)
    assert f'id="{field}-error"' in r.get_data(as_text=True)
    assert db["outbox"].count == 0 and ApplicationStore(db).get(app.id).state is State.PRINTED


def test_the_service_counts_documents_per_procedure(db, config):
    app = kiosk_application(db, INKAN)
    other = services.IdentityCheck((services.IdDocument("other", description="健康保険証"),))
    with pytest.raises(ValidationError) as e:
        services.confirm(db, config, services.load(db, app.id), actor="clerk:sato", expected_version=None,
                         identity=other)
    assert [(err.code, err.params) for err in e.value.errors] == [("identity_documents_short", {"needed": 2})]
    assert services.documents_needed(app) == 2
    assert services.read_identity_check({"id_document_1": "", "id_document_2": ""}) == (None, [])
    check, errors = services.read_identity_check({"id_document_1": "passport", "id_expires_1": "R12.4.1"})
    assert errors == [] and check.documents[0].expires_on == date(2030, 4, 1)


def test_a_procedure_asks_for_one_or_two_documents_only(tmp_path):
    from core.catalogue import _id_document_count
    assert _id_document_count({}, "id_documents", tmp_path, 1) == 1
    for bad in (0, 3, "2", True):
        with pytest.raises(CatalogueError):
            _id_document_count({"id_documents": bad}, "id_documents", tmp_path, 1)
    schema = json.loads((ROOT_DOCS.parent / "core" / "schemas" / "procedure.schema.json").read_text("utf-8"))
    assert schema["properties"]["id_documents"]["enum"] == [1, 2]


# --- the exchange log's kinds ---------------------------------------------------------------------

def test_the_log_tells_views_corrections_reprints_and_confirms_apart_naming_fields_not_values(clerk_client, db,
                                                                                               config):
    app = kiosk_application(db, CERTIFICATE)
    clerk_client.get(f"/counter/applications/{app.id}")
    post(clerk_client, f"/counter/applications/{app.id}/fields/phone",
         {"value": "090-5555-0123", "reason": "resident", "version": app.version})
    with write(db):   # a second print, as core.services.printing logs it
        xlog.append(db, config, actor="clerk:sato", counterparty="printer:pdf", purpose="print",
                    application_id=app.id, payload=b"%PDF-again")
    stored = ApplicationStore(db).get(app.id)
    assert _confirm(clerk_client, stored, checked_corrections="yes", **CHECKED_ID).status_code == 302
    r = clerk_client.get(f"/counter/exchange-log?lang=en&application={app.id}")
    html = r.get_data(as_text=True)
    kinds = [k.split('"')[0] for k in html.split('data-kind="')[1:]]
    assert kinds[:3] == ["card_read", "print", "clerk_view"]
    assert {"correction", "reprint", "confirm"} <= set(kinds)
    page = text_of(r)
    for words in ("Viewed by a clerk", "Value corrected by a clerk", "Form printed again",
                  "Confirmed by a clerk (identity checked)", "Phone number (daytime contact)"):
        assert words in page, words
    assert "5555" not in html        # names of fields, never their values
    view = next(e for e in xlog.entries(db, application_id=app.id) if e["purpose"] == "clerk_view")
    assert json.loads(view["fields"]) == sorted(app.data)
    today = utcnow().astimezone(__import__("core.clock", fromlist=["JAPAN"]).JAPAN).strftime("%Y-%m-%d")
    assert page.count(today) >= len(kinds)   # every entry with its date, in Japan


def test_rejecting_is_logged_as_a_rejection(clerk_client, db):
    app = kiosk_application(db)
    post(clerk_client, f"/counter/applications/{app.id}/reject", {"reason": "wrong office", "version": app.version})
    assert [e["purpose"] for e in xlog.entries(db, application_id=app.id)][-1] == "reject"
    assert "Rejected by a clerk" in text_of(clerk_client.get(f"/counter/exchange-log?lang=en&application={app.id}"))


def test_log_entries_with_field_names_keep_the_chain_and_old_entries_still_verify(db, config):
    with write(db):
        xlog.append(db, config, actor="system", counterparty="x", purpose="forward", application_id=None, payload=1)
        xlog.append(db, config, actor="clerk:a", counterparty="madoguchi", purpose="correction",
                    application_id=None, payload=2, fields=["phone"])
    assert xlog.verify(db).ok
    db.execute("UPDATE exchange_log SET fields = ? WHERE seq = 2", ['["address"]'])
    assert not xlog.verify(db).ok and xlog.verify(db).first_bad_seq == 2


# --- person search --------------------------------------------------------------------------------

TAKASAKI = dict(CERTIFICATE, name="髙﨑\u3000健一", kana="タカサキ\u3000ケンイチ", birth_date="1970-02-17")


@pytest.mark.parametrize("typed", ["高崎 健一", "髙﨑健一", "高﨑　健一", "たかさき けんいち", "ﾀｶｻｷ ｹﾝｲﾁ"])
def test_the_person_search_folds_variant_characters_and_reads_kana(clerk_client, db, typed):
    app = kiosk_application(db, TAKASAKI)
    clerk_client.get(f"/counter/applications/{app.id}")
    r = post(clerk_client, "/counter/exchange-log/person?lang=en", {"name": typed, "birth_date": "昭和45年2月17日"})
    assert r.status_code == 200 and app.id in r.get_data(as_text=True)
    assert "There are no records." not in text_of(r)


def test_the_search_goes_the_other_way_too_and_keeps_other_people_out(clerk_client, db):
    plain = kiosk_application(db, dict(TAKASAKI, name="高崎\u3000健一"))
    other = kiosk_application(db, dict(TAKASAKI, name="高橋\u3000健一", kana="タカハシ\u3000ケンイチ"))
    found = ApplicationStore(db).ids_naming_person("髙﨑 健一", "1970-02-17")
    assert found == [plain.id] and other.id not in found
    assert ApplicationStore(db).ids_naming_person("高崎 健一", "1970-02-18") == []


def test_the_printed_log_of_a_variant_name_lists_the_entries(clerk_client, db, config):
    app = kiosk_application(db, dict(TAKASAKI), reception="41")
    clerk_client.get(f"/counter/applications/{app.id}")
    r = post(clerk_client, "/counter/exchange-log/person/print", {"name": "高崎 健一", "birth_date": "1970-02-17"})
    assert r.headers["Content-Type"] == "application/pdf"
    with pdfplumber.open(io.BytesIO(r.data)) as pdf:
        text = pdf.pages[0].extract_text()
        kinds = [(row[-1] or "").replace("\n", "") for row in pdf.pages[0].extract_tables()[-1]]
    assert "記録はありません" not in text and "閲覧（職員が申請内容を確認しました）" in kinds
    assert "髙﨑" in text          # named as the application writes it
    last = list(xlog.entries(db))[-1]
    assert last["purpose"] == "log_print"
    assert last["subject_ref"] == xlog.subject_of(config, xlog.Person("髙﨑\u3000健一", "1970-02-17"))


def test_the_variant_table_is_unicodes_and_folds_both_ways():
    assert variant_map(), "Unihan_Variants.txt (Debian unicode-data) is missing"
    assert fold_variants("髙﨑") == fold_variants("高崎") and fold_variants("𠮷") == fold_variants("吉")
    assert fold_variants("高橋") != fold_variants("高崎")
    assert name_key("山田　太郎") == name_key("山田太郎") == name_key(" 山田 太郎 ")
    assert is_kana_reading("やまだ たろう") and not is_kana_reading("山田")
    table = parse_variants(["# comment", "U+9AD8\tkSemanticVariant\tU+9AD9<kFenn", "U+5409\tkSpoofingVariant\tU+20BB7",
                            "U+4E00\tkSimplifiedVariant\tU+58F9", "garbage"])
    assert table == {"髙": "高", "𠮷": "吉"}      # each class keyed by its smallest member


@pytest.mark.parametrize("name", ["\ud800", "\x00", "𠮷" * 500, "ー", "　", "<b>"])
def test_hostile_person_searches_never_fail(clerk_client, db, name):
    kiosk_application(db, TAKASAKI)
    r = _form(clerk_client, "/counter/exchange-log/person", {"name": name, "birth_date": "1970-02-17"})
    assert r.status_code in (200, 400)
    r = _form(clerk_client, "/counter/exchange-log/person/print", {"name": name, "birth_date": "1970-02-17"})
    assert r.status_code in (200, 400)


# --- Japan's time ---------------------------------------------------------------------------------

def test_every_log_shows_japans_time(clerk_client, db, config):
    app = kiosk_application(db, MOVE_IN)
    db.execute("UPDATE exchange_log SET at = '2026-01-01T15:30:00+00:00' WHERE application_id = ?", [app.id])
    db.execute("UPDATE application_events SET at = '2026-01-01T15:30:00+00:00' WHERE application_id = ?", [app.id])
    page = text_of(clerk_client.get(f"/counter/exchange-log?lang=en&application={app.id}"))
    assert "2026-01-02 00:30" in page and "15:30" not in page
    detail = text_of(clerk_client.get(f"/counter/applications/{app.id}?lang=en"))
    assert "2026-01-02 00:30" in detail and "15:30" not in detail
    r = post(clerk_client, "/counter/exchange-log/person/print", {"name": "山田 太郎", "birth_date": "1985-04-01"})
    with pdfplumber.open(io.BytesIO(r.data)) as pdf:
        table = [[(cell or "").replace("\n", "") for cell in row] for row in pdf.pages[0].extract_tables()[-1]]
    assert [row[2] for row in table[-2:]] == ["2026-01-0200:30"] * 2        # pdfplumber drops the space


# --- the queue ------------------------------------------------------------------------------------

def test_the_queue_says_why_an_application_was_not_printed(clerk_client, db, config):
    failed = kiosk_application(db, reception="A-003", state=State.SUBMITTED)
    never = kiosk_application(db, CERTIFICATE, reception="A-004", state=State.SUBMITTED)
    with write(db):
        xlog.append(db, config, actor="kiosk:kiosk-1", counterparty="printer:pdf", purpose="print",
                    application_id=failed.id, payload=b"%PDF", result="error:out_of_paper")
    html = clerk_client.get("/counter/?lang=en").get_data(as_text=True)
    row = html.split(f'data-application="{failed.id}"')[1].split("</tr>")[0]
    assert "The printer is out of paper." in row
    row = html.split(f'data-application="{never.id}"')[1].split("</tr>")[0]
    assert "No print has reached a printer yet." in row
    printed = html.split('data-application="')[1:]
    assert all("data-not-printed" not in r for r in printed if r.split('"')[0] not in (failed.id, never.id))


def test_the_wait_counts_from_arrival_even_when_the_counter_prints(clerk_client, db):
    app = kiosk_application(db, reception="A-005", state=State.SUBMITTED)
    _created_at(db, app.id, utcnow() - timedelta(minutes=35))
    stored = ApplicationStore(db).get(app.id)
    stored.transition(State.PRINTED, actor="clerk:sato")      # printed at the counter just now
    stored.note("clerk:sato", "printed", new={"queue": "pdf", "job_id": "2"})
    ApplicationStore(db).save(stored)
    page = text_of(clerk_client.get("/counter/?lang=en"))
    assert "waiting 35 min" in page


def test_the_printed_log_names_a_corrected_field_but_never_its_value(clerk_client, db):
    app = kiosk_application(db, CERTIFICATE)
    post(clerk_client, f"/counter/applications/{app.id}/fields/phone",
         {"value": "090-5555-0123", "reason": "resident", "version": app.version})
    r = post(clerk_client, "/counter/exchange-log/person/print",
             {"name": app.data["name"], "birth_date": app.data["birth_date"]})
    with pdfplumber.open(io.BytesIO(r.data)) as pdf:
        text = pdf.pages[0].extract_text()
        rows = [[(c or "").replace("\n", "") for c in row] for row in pdf.pages[0].extract_tables()[-1]]
    assert ["電話番号（日中の連絡先）", "訂正（職員が申請内容を訂正しました）"] in [row[6:] for row in rows]
    assert "5555" not in text
