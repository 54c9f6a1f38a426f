from datetime import timedelta

import pytest

from core import exchange_log, sealed
from core.application import new_application_id, utcnow
from core.tokens import TokenError, decode_token, encode_token

FORM = {"procedures": ["juminhyo"], "name": "封筒\u3000秘密子", "kana": "フウトウ\u3000ヒミツコ",
        "birth_date": "1990-02-03", "sex": "female", "postal_code": "1000001",
        "address": "東京都千代田区千代田９－９", "juminhyo_scope": "self", "juminhyo_copies": 1}


def open_form(config, token, db=None):
    app_id, envelope = sealed.open_prereg_envelope(config, token, db)
    return app_id, envelope.form


def test_seal_and_open_in_the_same_database(config, db):
    receipt = sealed.submit(config, db, FORM, lang="en")
    assert receipt.expires_at - utcnow() > timedelta(days=29, hours=23)
    app_id, env = sealed.open_prereg_envelope(config, receipt.token, db)
    assert (app_id, env.form) == (receipt.app_id, FORM)
    assert env.lang == "en" and env.submitted_at


def test_only_ciphertext_and_expiry_are_stored(config, db):
    sealed.submit(config, db, FORM)
    row = db.execute("SELECT * FROM sealed_applications").fetchone()
    cols = [d[0] for d in db.execute("SELECT * FROM sealed_applications").description]
    assert cols == ["id", "format", "sealed", "expires_at", "tenant_id"]   # the tenant: which town, no one
    blob = row[2]
    for secret in ("封筒", "秘密子", "フウトウ", "千代田", "1990-02-03", "juminhyo"):
        assert secret.encode("utf-8") not in blob
    assert len(blob) % sealed.PAD_TO == 12 + 16  # padded plaintext + nonce + tag


def test_the_same_form_gives_different_keys_and_ciphertexts(config, db):
    a, b = sealed.submit(config, db, FORM), sealed.submit(config, db, FORM)
    assert a.app_id != b.app_id and decode_token(a.token)[1] != decode_token(b.token)[1]


def test_a_wrong_key_does_not_open(config, db):
    receipt = sealed.submit(config, db, FORM)
    forged = encode_token(receipt.app_id, b"\x00" * 16)
    with pytest.raises(TokenError) as e:
        open_form(config, forged, db)
    assert e.value.code == "wrong_key"


def test_a_ciphertext_moved_to_another_id_does_not_open(config, db):
    receipt = sealed.submit(config, db, FORM)
    _, key = decode_token(receipt.token)
    other = new_application_id()
    db.execute("UPDATE sealed_applications SET id = ? WHERE id = ?", [other, receipt.app_id])
    with pytest.raises(TokenError) as e:
        open_form(config, encode_token(other, key), db)
    assert e.value.code == "wrong_key"


def test_unknown_ids_and_expired_applications(config, db):
    with pytest.raises(TokenError) as e:
        open_form(config, encode_token(new_application_id(), b"k" * 16), db)
    assert e.value.code == "unknown_id"
    old = sealed.store(db, FORM, days=30, now=utcnow() - timedelta(days=31))
    with pytest.raises(TokenError) as e:
        open_form(config, old.token, db)
    assert e.value.code == "expired"
    fresh = sealed.submit(config, db, FORM)
    assert sealed.purge(db) == 1
    assert sealed.count(db) == 1
    with pytest.raises(TokenError) as e:
        open_form(config, old.token, db)
    assert e.value.code == "unknown_id"
    assert open_form(config, fresh.token, db)[0] == fresh.app_id


def test_withdraw_needs_the_key(config, db):
    receipt = sealed.submit(config, db, FORM)
    with pytest.raises(TokenError) as e:
        sealed.withdraw(db, encode_token(receipt.app_id, b"\x01" * 16))
    assert e.value.code == "wrong_key"
    assert sealed.count(db) == 1
    assert sealed.withdraw(db, receipt.token) == receipt.app_id
    assert sealed.count(db) == 0
    with pytest.raises(TokenError) as e:
        open_form(config, receipt.token, db)
    assert e.value.code == "unknown_id"


def test_opening_is_pure_and_has_no_logging_path(config, db):
    """The one way to open one with a prereg_fetch entry (about the person) is
    core.services.prereg.open_preregistration; sealed logs nothing, and takes no actor."""
    receipt = sealed.submit(config, db, FORM)
    assert open_form(config, receipt.token, db) == (receipt.app_id, FORM)
    with pytest.raises(TypeError):
        sealed.open_prereg_envelope(config, receipt.token, db, actor="kiosk:kiosk-1")
    assert not hasattr(sealed, "open_prereg")
    assert list(exchange_log.entries(db)) == []


def test_open_without_a_db_uses_the_configured_one(config, db):
    receipt = sealed.submit(config, db, FORM)
    assert open_form(config, receipt.token)[1] == FORM
