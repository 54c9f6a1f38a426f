"""Receiving a kiosk PC's upload as a domain service (core.services.uploads): what it stores and
logs, that a retry is the same application, and that each refusal has its code and writes nothing."""
import pytest

from core import exchange_log as xlog
from core.application import Application, Source, State
from core.errors import ValidationError
from core.services.uploads import UploadRefused, receive_kiosk_upload
from core.store.applications import ApplicationStore
from tests.test_kiosk_office import UPLOAD_FORM, upload

APP_ID = "0123456789ABCDEF"


def receive(db, config, body, kiosk_id="kiosk-7", prefix="K"):
    return receive_kiosk_upload(db, config, kiosk_id=kiosk_id, prefix=prefix, body=body)


def written(db):
    """Everything a refused upload must leave as it was."""
    return (ApplicationStore(db).count(), db["application_events"].count, db["exchange_log"].count)


def test_an_upload_is_stored_as_sent_with_the_kiosks_exchanges(db, config):
    received = receive(db, config, upload())
    assert received.created
    app = ApplicationStore(db).get(APP_ID)
    assert (app.state, app.channel, app.reception_number) == (State.PRINTED, "kiosk", "K-004")
    assert received.application.id == APP_ID and received.application.state == State.PRINTED
    assert {e.actor for e in ApplicationStore(db).events(APP_ID)} == {"kiosk:kiosk-7"}
    entries = list(xlog.entries(db, application_id=APP_ID))
    assert [(e["purpose"], e["counterparty"]) for e in entries] == [("card_read", "mynumber_card"),
                                                                     ("print", "printer:pdf-folder")]
    assert all(e["subject_ref"] for e in entries)


def test_a_retry_is_the_same_application_and_may_move_it_to_printed(db, config):
    first = receive(db, config, upload(state="submitted"))
    assert first.created and first.application.state == State.SUBMITTED
    logged = db["exchange_log"].count
    again = receive(db, config, upload())
    assert not again.created and again.application.state == State.PRINTED
    assert ApplicationStore(db).get(APP_ID).state == State.PRINTED
    assert ApplicationStore(db).count() == 1 and db["exchange_log"].count == logged
    assert not receive(db, config, upload()).created


def test_a_retry_logs_the_exchanges_the_office_has_not_logged_yet_and_no_other_twice(db, config):
    card_read, printed, _other = upload()["exchanges"]
    first = upload(state="submitted")
    first["exchanges"] = [card_read]
    receive(db, config, first)
    retry = upload()
    retry["exchanges"] = [card_read, printed, printed]
    receive(db, config, retry)
    receive(db, config, retry)
    entries = list(xlog.entries(db, application_id=APP_ID))
    assert [(e["purpose"], e["counterparty"]) for e in entries] == [("card_read", "mynumber_card"),
                                                                     ("print", "printer:pdf-folder")]
    assert xlog.verify(db).ok


@pytest.mark.parametrize(("body", "kiosk_id", "prefix", "code"), [
    ("not a dict", "kiosk-7", "K", "not_an_upload"),
    ({"kiosk_id": "kiosk-7", "application": "x"}, "kiosk-7", "K", "not_an_upload"),
    (upload(data="x"), "kiosk-7", "K", "not_an_upload"),
    (upload(kiosk_id="kiosk-8"), "kiosk-7", "K", "wrong_kiosk"),
    (upload(app_id="nope"), "kiosk-7", "K", "bad_id"),
    (upload(state="confirmed"), "kiosk-7", "K", "bad_state"),
    (upload(reception_number="<b>"), "kiosk-7", "K", "bad_reception_number"),
    (upload(kiosk_id="kiosk-8", reception_number="K-005"), "kiosk-8", "L", "foreign_reception_number"),
])
def test_a_malformed_or_foreign_upload_is_refused(db, config, body, kiosk_id, prefix, code):
    with pytest.raises(UploadRefused) as e:
        receive(db, config, body, kiosk_id, prefix)
    assert e.value.code == code
    if code == "foreign_reception_number":
        assert e.value.details == {"prefix": "L"}
    assert written(db) == (0, 0, 0)


def test_wrong_values_are_refused_with_their_fields(db, config):
    with pytest.raises(ValidationError) as e:
        receive(db, config, upload(data={**upload()["application"]["data"], "birth_date": "1980-02-30"}))
    assert e.value.code == "invalid" and [er.field for er in e.value.errors] == ["birth_date"]
    assert written(db) == (0, 0, 0)


def test_an_application_with_the_id_that_is_not_this_upload_is_a_conflict(db, config):
    receive(db, config, upload())
    before = written(db)
    for changed in (upload(reception_number="K-009"),
                    upload(data={**upload()["application"]["data"], "juminhyo_copies": 3})):
        with pytest.raises(UploadRefused) as e:
            receive(db, config, changed)
        assert e.value.code == "conflict"
    with pytest.raises(UploadRefused) as e:
        receive(db, config, upload(kiosk_id="kiosk-8", reception_number="L-001"), "kiosk-8", "L")
    assert e.value.code == "other_kiosks_application"
    assert written(db) == before
    assert ApplicationStore(db).get(APP_ID).reception_number == "K-004"


def test_an_application_made_elsewhere_is_not_taken_over(db, config):
    data = {k: v for k, v in UPLOAD_FORM.items() if k != "procedures"}
    ApplicationStore(db).save(Application.create(["juminhyo"], data, Source.TYPED, actor="clerk:sato",
                                                 channel="counter", application_id=APP_ID))
    before = written(db)
    with pytest.raises(UploadRefused) as e:
        receive(db, config, upload())
    assert e.value.code == "conflict" and written(db) == before


@pytest.mark.parametrize("guide, expected", [
    ({"life_event": "moving_in", "answers": {"has_dog": True, "wants_seal": False}},
     {"life_event": "moving_in", "answers": {"has_dog": True, "wants_seal": False}}),
    ({"life_event": "moving_in", "answers": {"has_dog": "yes", "no_such": True}},   # only real answers are kept
     {"life_event": "moving_in", "answers": {}}),
    ({"life_event": "holiday", "answers": {}}, None),
    (["not", "a", "table"], None),
])
def test_the_guides_answers_come_with_an_upload_checked(db, config, guide, expected):
    body = upload()
    body["application"]["guide"] = guide
    receive(db, config, body)
    notes = [e.new for e in ApplicationStore(db).events(APP_ID) if e.kind == "guide"]
    assert notes == ([expected] if expected else [])


@pytest.mark.parametrize("sent, kept", [("minami", "minami"), ("nowhere", None), (["minami"], None), (None, None)])
def test_an_upload_keeps_the_office_the_kiosk_pc_stands_in_when_the_site_has_it(db, config, sent, kept):
    receive(db, config, upload(office=sent))
    created = next(e for e in ApplicationStore(db).events(APP_ID) if e.kind == "created")
    assert created.new.get("office") == kept


def test_a_kiosk_pcs_upload_body_names_its_office(config):
    from kiosk.office import upload_body
    app = Application.create(["juminhyo"], {"name": "山田\u3000太郎"}, Source.CARD, actor="kiosk:kiosk-7",
                             channel="kiosk", office="minami")
    assert upload_body(config, app, [])["application"]["office"] == "minami"
