import secrets

import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st

from core.application import new_application_id
from core.tokens import MAX_TOKEN_LENGTH, TOKEN_LENGTH, TokenError, decode_token, encode_token, looks_like_token

QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def token_and_parts():
    app_id, key = new_application_id(), secrets.token_bytes(16)
    return encode_token(app_id, key), app_id, key


@given(st.binary(min_size=16, max_size=16))
def test_round_trip_for_any_key(key):
    app_id = new_application_id()
    token = encode_token(app_id, key)
    assert decode_token(token) == (app_id, key)
    assert len(token) == TOKEN_LENGTH <= MAX_TOKEN_LENGTH
    assert set(token) <= QR_ALPHANUMERIC and " " not in token


def test_the_qr_code_is_alphanumeric_and_small():
    token, _, _ = token_and_parts()
    for level, most in (("m", 3), ("q", 4), ("h", 5)):
        qr = segno.make(token, error=level, micro=False, boost_error=False)
        assert qr.mode == "alphanumeric" and qr.version <= most


def test_what_people_do_when_typing_a_token_is_forgiven():
    token, app_id, key = token_and_parts()
    typed = " ".join(token[i:i + 6] for i in range(0, len(token), 6)).lower() + "\n"
    assert decode_token(typed) == (app_id, key)
    misread = token[:6] + token[6:].replace("1", "I").replace("0", "O")
    assert decode_token(misread) == (app_id, key)


@pytest.mark.parametrize("text,code", [
    ("", "malformed"), ("hello", "malformed"), ("MDGF1:0123456789ABCDEF", "malformed"),
    ("MDGP1:TOOSHORT", "malformed"), (None, "malformed"), ("MDGP1:" + "Ü" * 48, "malformed"),
    ("x" * 10_000, "malformed"),
])
def test_garbage_is_malformed(text, code):
    with pytest.raises(TokenError) as e:
        decode_token(text)
    assert e.value.code == code


def test_an_unknown_version_is_named():
    token, _, _ = token_and_parts()
    with pytest.raises(TokenError) as e:
        decode_token("MDGP2:" + token[6:])
    assert e.value.code == "bad_version"
    assert looks_like_token("MDGP2:" + token[6:]) and not looks_like_token("MDGF1:X")


def test_every_single_character_change_is_caught():
    token, app_id, key = token_and_parts()
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    for i in range(6, len(token)):
        other = alphabet[(alphabet.index(token[i]) + 7) % 32]
        changed = token[:i] + other + token[i + 1:]
        with pytest.raises(TokenError) as e:
            decode_token(changed)
        assert e.value.code in ("bad_checksum", "malformed")


def test_error_messages_never_repeat_the_token():
    token, _, _ = token_and_parts()
    broken = token[:-1] + ("0" if token[-1] != "0" else "1")
    with pytest.raises(TokenError) as e:
        decode_token(broken)
    assert token[6:30] not in str(e.value)
