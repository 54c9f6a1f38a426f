"""Opening a pre-registration as a domain service (core.services.prereg): what it returns and
logs, that a pre-registration becomes one application only, and that each refusal has its code
and logs nothing."""
from datetime import timedelta

import pytest

from core import exchange_log as xlog
from core import sealed
from core.application import Application, Source, new_application_id, utcnow
from core.errors import MadoguchiError
from core.keys import subject_key
from core.services.prereg import PreregInUse, open_preregistration
from core.store.applications import ApplicationStore
from core.tokens import ALPHABET, KIND, PREFIX, encode_token
from tests.test_sealed import FORM

ACTOR = "kiosk:kiosk-1"


def logged(db):
    return db["exchange_log"].count


def made_into_an_application(db, app_id):
    data = {k: v for k, v in FORM.items() if k != "procedures"}
    ApplicationStore(db).save(Application.create(["juminhyo"], data, Source.QR, actor="clerk:sato",
                                                 channel="counter", application_id=app_id))


def test_it_opens_the_form_and_logs_the_fetch_about_the_person(config, db):
    receipt = sealed.submit(config, db, FORM, lang="en")
    opened = open_preregistration(db, config, receipt.token, actor=ACTOR)
    assert (opened.app_id, opened.form, opened.lang, opened.existing_application) == (receipt.app_id, FORM, "en", None)
    [entry] = list(xlog.entries(db))
    assert (entry["actor"], entry["counterparty"], entry["purpose"], entry["application_id"]) == (
        ACTOR, "prereg", "prereg_fetch", receipt.app_id)
    assert entry["subject_ref"] == xlog.subject_ref(subject_key(config), FORM["name"], FORM["birth_date"])
    assert opened.logged is not None and opened.logged["payload_sha256"] == entry["payload_sha256"]
    assert ApplicationStore(db).count() == 0  # the surface makes the application


def test_a_used_pre_registration_is_refused_or_opened_as_its_application(config, db):
    receipt = sealed.submit(config, db, FORM)
    made_into_an_application(db, receipt.app_id)
    with pytest.raises(PreregInUse) as e:
        open_preregistration(db, config, receipt.token, actor=ACTOR)
    assert e.value.code == "already_used" and e.value.details == {"app_id": receipt.app_id}
    opened = open_preregistration(db, config, receipt.token, actor="clerk:sato", open_existing=True)
    assert opened.existing_application is not None and opened.existing_application.id == receipt.app_id
    assert opened.form is None and opened.logged is None
    # The counter opens the application without fetching: an expired or purged one still opens.
    sealed.withdraw(db, receipt.token)
    assert open_preregistration(db, config, receipt.token, actor="clerk:sato",
                                open_existing=True).existing_application is not None
    assert logged(db) == 0


def token_refusals(config, db):
    receipt = sealed.submit(config, db, FORM)
    old = sealed.store(db, FORM, days=30, now=utcnow() - timedelta(days=31))
    body = receipt.token[len(PREFIX):]
    last = body[-1]
    return {
        "malformed": "not a token",
        "bad_version": f"{KIND}9:{body}",
        "bad_checksum": PREFIX + body[:-1] + next(c for c in ALPHABET if c != last),
        "unknown_id": encode_token(new_application_id(), b"k" * 16),
        "wrong_key": encode_token(receipt.app_id, b"\x00" * 16),
        "expired": old.token,
    }


@pytest.mark.parametrize("code", ["malformed", "bad_version", "bad_checksum", "unknown_id", "wrong_key", "expired"])
@pytest.mark.parametrize("open_existing", [False, True])
def test_a_token_that_does_not_open_is_refused_with_its_code(config, db, code, open_existing):
    token = token_refusals(config, db)[code]
    with pytest.raises(MadoguchiError) as e:
        open_preregistration(db, config, token, actor=ACTOR, open_existing=open_existing)
    assert e.value.code == code
    assert logged(db) == 0


def test_an_unreachable_prereg_server_is_refused_with_its_code(config, db):
    receipt = sealed.submit(config, db, FORM)
    down = config.replace({"prereg": {"server_url": "http://127.0.0.1:9"}})
    with pytest.raises(sealed.PreregUnavailable) as e:
        open_preregistration(db, down, receipt.token, actor=ACTOR)
    assert e.value.code == "prereg_unreachable" and logged(db) == 0
