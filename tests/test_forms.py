import pytest

from core.catalogue import get_catalogue
from core.errors import ValidationError
from core.forms import parse_application
from tests.helpers import MOVE_IN_EXTRAS

BASE = {"name": "山田　太郎", "kana": "やまだ たろう", "birth_date": "1985-04-01", "sex": "male",
        "postal_code": "100-0001", "address": "東京都千代田区千代田１－１", "phone": "03-1234-5678"}


def codes(exc):
    return {e.field: e.code for e in exc.value.errors}


def test_a_complete_certificate_request_is_accepted_and_normalised():
    procs, values = parse_application({"procedures": ["juminhyo"], **BASE, "juminhyo_scope": "self",
                                       "juminhyo_copies": 2, "juminhyo_purpose": "work"}, get_catalogue())
    assert procs == ["juminhyo"]
    assert values["kana"] == "ヤマダ\u3000タロウ"
    assert values["postal_code"] == "1000001"
    assert values["juminhyo_copies"] == 2


def test_unknown_keys_and_bad_values_get_one_message_each():
    with pytest.raises(ValidationError) as e:
        parse_application({"procedures": ["juminhyo"], **BASE, "birth_date": "1985-02-30", "sex": "m",
                           "favourite_colour": "blue", "move_type": "tennyu", "juminhyo_copies": 0,
                           "juminhyo_scope": "self", "kana": "Yamada"}, get_catalogue())
    assert codes(e) == {"birth_date": "bad_date", "sex": "bad_choice", "favourite_colour": "unknown_field",
                        "move_type": "not_for_procedures", "juminhyo_copies": "out_of_range", "kana": "not_kana"}


def test_messages_never_repeat_the_value():
    with pytest.raises(ValidationError) as e:
        parse_application({"procedures": ["juminhyo"], **BASE, "kana": "SECRETNAME"}, get_catalogue())
    assert "SECRETNAME" not in str(e.value)


def test_required_fields_are_checked_only_for_complete_applications():
    with pytest.raises(ValidationError) as e:
        parse_application({"procedures": ["juminhyo"], "name": "山田　太郎"}, get_catalogue())
    assert codes(e)["juminhyo_scope"] == "required" and codes(e)["birth_date"] == "required"
    procs, values = parse_application({"procedures": ["juminhyo"], "name": "山田　太郎"}, get_catalogue(),
                                      complete=False)
    assert values == {"name": "山田\u3000太郎"}


def test_conditional_fields_apply_only_when_their_condition_holds():
    cat = get_catalogue()
    move = {"procedures": ["juminido"], **BASE, "move_date": "2026-11-01", **MOVE_IN_EXTRAS}
    with pytest.raises(ValidationError) as e:
        parse_application({**move, "move_type": "tenshutsu", "previous_address": "北海道"}, cat)
    assert codes(e)["previous_address"] == "not_applicable"


def test_household_members_are_checked_one_by_one():
    with pytest.raises(ValidationError) as e:
        parse_application({"procedures": ["juminido"], **BASE, "move_type": "tennyu", "move_date": "2026-11-01",
                           "household": [{"name": "山田　花子", "birth_date": "1987-09-12", "relationship": "spouse"},
                                         {"name": "山田　一郎", "birth_date": "soon", "pet": "cat"}]},
                          get_catalogue(), complete=False)
    assert codes(e) == {"household[1].birth_date": "bad_date", "household[1].pet": "unknown_field"}


@pytest.mark.parametrize("obj, field, code", [
    ([], "", "not_object"),
    ({}, "procedures", "required"),
    ({"procedures": ["nosuch"]}, "procedures", "unknown_procedure"),
])
def test_malformed_documents(obj, field, code):
    with pytest.raises(ValidationError) as e:
        parse_application(obj, get_catalogue())
    assert codes(e) == {field: code}


def test_too_long_text_is_refused():
    with pytest.raises(ValidationError) as e:
        parse_application({"procedures": ["juminhyo"], **BASE, "address": "あ" * 201}, get_catalogue(), complete=False)
    assert codes(e) == {"address": "too_long"}
